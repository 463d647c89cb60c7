// Reloading the rules file into a running director, through the control plane's one way of
// changing it (ControlState) on the in-thread engine adapter, no TAP: what a reload removes
// goes the way IPVS's removals go, what the operator set with ipvsadm and the file did not
// change stays, and what only a restart can change is refused by name with nothing changed.

import { describe, it, expect } from "vitest";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { mismatches } from "../host/config/model.js";
import { applyConfig, DirectorConfig, parseRules, schedulerSizing } from "../host/config/rules.js";
import { formatList, formatTimeouts, parseArgs } from "../host/config/ipvsadm.js";
import { NUMERIC, tableView } from "../host/control/table.js";
import { loadConfig } from "../host/control/load.js";
import { DIRECTOR_IN, DIRECTOR_OUT, GATEWAY, GATEWAY_MAC, IN_MAC, OUT_MAC, RS, RS_MAC, RULES_HEAD, RULES_HEAD_LINES, VIP } from "./helpers/director.js";
import { eth, expectFrame, ipv4, tcp, ACK, RST, SYN, type Decoded } from "./helpers/packet.js";
import { tempFolder } from "./helpers/files.js";

const FILE = "director.rules";
const HEAD = RULES_HEAD;
const HEAD_LINES = RULES_HEAD_LINES;

/** A director running text (read as syntax says); setFile changes what the next reload reads. */
async function running(text: string, syntax: Syntax = RULES) {
  let fileText = text;
  const load = (): DirectorConfig => syntax.load(fileText);
  const cfg = load();
  const engine = await loadEngine({ batch: 64, connCapacity: cfg.connections ?? 4096, ...schedulerSizing(cfg) });
  applyConfig(engine, cfg);
  const now = 1000;
  const sent: { toClients: Decoded[] } = { toClients: [] };
  const adapter = new LocalEngine(engine, () => now);
  const state = new ControlState(adapter, cfg, load);
  return {
    engine, adapter, state,
    setFile: (t: string) => { fileText = t; },
    cmd: (line: string) => state.applyCommands([parseArgs(line.split(/\s+/))]),
    listing: async () => formatList(tableView(await adapter.snapshot()), NUMERIC),
    timeouts: async () => formatTimeouts(tableView(await adapter.snapshot())),
    drift: async () => mismatches(state.running, await adapter.snapshot()),
    /** A client's TCP segment to VIP:port through the engine: where it went (the real server's
     *  address, or null when nothing reached a server). */
    send: (client: { addr: string; port: number }, flags: number, port = 80, nowMs = now): string | null => {
      const frame = eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: client.addr, dst: VIP, proto: 6,
        payload: tcp({ src: client.addr, dst: VIP, sport: client.port, dport: port, flags }) }));
      engine.loadFrame(0, frame, 0);
      const out = engine.txFrames(engine.process(1, nowMs));
      sent.toClients = out.filter((t) => t.ifindex === 0).map((t) => expectFrame(t.frame));
      const toServers = out.filter((t) => t.ifindex === 1);
      return toServers.length ? expectFrame(toServers[0].frame).ip!.dst : null;
    },
    /** What the last send made the engine send back out of the outside interface. */
    get lastToClients(): Decoded[] {
      return sent.toClients;
    },
  };
}

const service = (port: number, servers: number[]) =>
  `-A -t ${VIP}:${port} -s rr\n` + servers.map((k) => `-a -t ${VIP}:${port} -r ${RS[k]}:${port} -m -w 1\n`).join("");

/** A configuration syntax: services (port, indexes of RS) written in it, and read back. */
interface Syntax {
  name: string;
  file(services: [port: number, servers: number[]][]): string;
  load(text: string): DirectorConfig;
}
const folder = tempFolder("wasmvs-reload-");
const RULES: Syntax = {
  name: "rules file", load: (text) => parseRules(text, FILE),
  file: (services) => HEAD + services.map(([port, servers]) => service(port, servers)).join(""),
};
const KEEPALIVED: Syntax = {
  name: "keepalived.conf", load: (text) => loadConfig(folder.write("keepalived.conf", text)),
  file: (services) => `director {
  interface outside {
    mac ${OUT_MAC}
    address ${DIRECTOR_OUT}/24
  }
  interface inside {
    mac ${IN_MAC}
    address ${DIRECTOR_IN}/24
  }
  default_gateway ${GATEWAY}
  neighbour ${GATEWAY} ${GATEWAY_MAC}
${RS.map((a, i) => `  neighbour ${a} ${RS_MAC[i]}\n`).join("")}}
` + services.map(([port, servers]) => `virtual_server ${VIP} ${port} {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n` +
    servers.map((k) => `  real_server ${RS[k]} ${port} {\n    weight 1\n  }\n`).join("") + "}\n").join(""),
};
const client = (n: number) => ({ addr: `192.0.2.${n}`, port: 40000 + n });

for (const syntax of [RULES, KEEPALIVED]) {
  describe(`${syntax.name}: a reload that removes a real server`, () => {
    it("takes it out of the listing; its connections stay, their packets dropped as IPVS drops them, until they expire or it comes back", async () => {
      const d = await running(syntax.file([[80, [0, 1]]]), syntax);
      const a = client(10);
      const served = d.send(a, SYN)!;
      const other = served === RS[0] ? RS[1] : RS[0];
      expect([RS[0], RS[1]]).toContain(served);
      const kept = served === RS[0] ? [1] : [0];

      d.setFile(syntax.file([[80, kept]]));
      expect(await d.state.reloadFile()).toEqual([`real server ${served}:80 removed from tcp ${VIP}:80`]);
      // -L -n: gone (ipvsadm does not list a server in IPVS's trash).
      const listing = await d.listing();
      expect(listing).not.toContain(served);
      expect(listing).toContain(`  -> ${other}:80`);
      expect(await d.drift()).toEqual([]);
      // The connection is still in the table, bound to the removed server (ip_vs_del_dest moves
      // the dest to the trash while connections hold it) ...
      expect((await d.adapter.connections()).map((c) => [c.client, c.clientPort, c.server])).toEqual([[a.addr, a.port, served]]);
      expect(d.engine.lingeringRealServers()).toMatchObject([{ address: served, port: 80, connections: 1 }]);
      // ... and its packets are dropped, not moved to another server (expire_nodest_conn off:
      // ip_vs_in returns NF_DROP for a connection whose dest is not available).
      const dropsBefore = d.engine.counters().drop_dest_unavailable;
      expect(d.send(a, ACK)).toBeNull();
      expect(d.engine.counters().drop_dest_unavailable).toBe(dropsBefore + 1n);
      // New clients go to the server left.
      expect(d.send(client(11), SYN)).toBe(other);

      // The server comes back in the file before the connection expired: the same record
      // (IPVS takes the dest back from the trash) and the connection's packets flow to it again.
      d.setFile(syntax.file([[80, [0, 1]]]));
      expect(await d.state.reloadFile()).toEqual([`real server ${served}:80 added to tcp ${VIP}:80 (nat, weight 1)`]);
      expect(d.send(a, ACK)).toBe(served);
      expect(d.engine.lingeringRealServers()).toEqual([]);
      expect(await d.drift()).toEqual([]);
    });

    it("frees its record once its last connection expires", async () => {
      const d = await running(syntax.file([[80, [0]]]), syntax);
      d.send(client(20), SYN, 80, 1000);
      d.setFile(syntax.file([[80, []]]));
      expect(await d.state.reloadFile()).toEqual([`real server ${RS[0]}:80 removed from tcp ${VIP}:80`]);
      expect(d.engine.lingeringRealServers()).toMatchObject([{ address: RS[0], connections: 1 }]);
      // SYN_RECV lives 60 s (IPVS tcp_timeouts).
      d.engine.tick(1000 + 59_999);
      expect(d.engine.lingeringRealServers()).toHaveLength(1);
      d.engine.tick(1000 + 60_000);
      expect(d.engine.connectionCount).toBe(0);
      expect(d.engine.lingeringRealServers()).toEqual([]);
      expect(await d.listing()).not.toContain(RS[0]);
    });
  });

  describe(`${syntax.name}: a reload that removes a service`, () => {
    it("takes it and its servers out of the listing; its connections' packets and new clients reach no server", async () => {
      const d = await running(syntax.file([[80, [0]], [81, [1]]]), syntax);
      const a = client(30);
      expect(d.send(a, SYN, 81)).toBe(RS[1]);

      d.setFile(syntax.file([[80, [0]]]));
      expect(await d.state.reloadFile()).toEqual([`service tcp ${VIP}:81 removed`]);
      const listing = await d.listing();
      expect(listing).not.toContain(`${VIP}:81`);
      expect(listing).not.toContain(RS[1]);
      expect(listing).toContain(`TCP  ${VIP}:80 rr`);
      expect((await d.adapter.snapshot()).services.map((s) => s.port)).toEqual([80]);
      expect(await d.drift()).toEqual([]);
      // Neither the old connection's next packet nor a new client reaches the removed service's server.
      // The connection's packet: dropped, its server gone with the service (ip_vs_del_service
      // unlinks its dests; the connection keeps its dest, no longer available).
      const before = d.engine.counters();
      expect(d.send(a, ACK, 81)).toBeNull();
      expect(d.engine.counters().drop_dest_unavailable).toBe(before.drop_dest_unavailable + 1n);
      // A new client: no service, so the VIP's host answers as Linux would with no listener: a reset.
      expect(d.send(client(31), SYN, 81)).toBeNull();
      expect(d.engine.counters().drop_no_service).toBe(before.drop_no_service + 1n);
      expect(d.lastToClients.map((f) => [f.ip!.src, f.ip!.dst, f.ip!.tcp!.sport, f.ip!.tcp!.flags & RST])).toEqual([[VIP, client(31).addr, 81, RST]]);
      // The service left standing is untouched.
      expect(d.send(client(32), SYN, 80)).toBe(RS[0]);
    });
  });
}

describe("a reload keeps ipvsadm --set while the file's timeouts do not change", () => {
  it("a file without --set: the operator's timeouts stay across a reload, an unchanged one or one that changes services", async () => {
    const d = await running(HEAD + service(80, [0]));
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 900 120 300\n");
    await d.cmd("--set 10 20 30");
    expect(await d.state.reloadFile()).toEqual([]);
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 10 20 30\n");
    d.setFile(HEAD + service(80, [0, 1]));
    await d.state.reloadFile();
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 10 20 30\n");
    expect(d.state.running.timeouts).toMatchObject({ tcp: 10, tcpfin: 20, udp: 30 });
    // And a connection made afterwards lives by them.
    d.send(client(40), SYN);
    d.send(client(40), ACK);
    expect((await d.adapter.connections()).find((c) => c.state === "ESTABLISHED")!.expiresInMs).toBe(10_000);
  });

  it("a file with --set: the operator's timeouts stay while the file's line is the same (moved or not); a changed line wins", async () => {
    const file = (set: string, above = "") => HEAD + above + service(80, [0]) + `--set ${set}\n`;
    const d = await running(file("100 50 40"));
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 100 50 40\n");
    await d.cmd("--set 10 0 30"); // 0: leave tcpfin as it is (ipvsadm)
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 10 50 30\n");
    expect(await d.state.reloadFile()).toEqual([]);
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 10 50 30\n");
    // The same --set on another line (a service added above it) is the same setting.
    d.setFile(file("100 50 40", service(81, [1])));
    await d.state.reloadFile();
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 10 50 30\n");
    // The file's --set changed: the file wins, as it does for a server it changes.
    d.setFile(file("200 50 40", service(81, [1])));
    await d.state.reloadFile();
    expect(await d.timeouts()).toBe("Timeout (tcp tcpfin udp): 200 50 40\n");
    expect(await d.drift()).toEqual([]);
  });
});

/**
 * What a running director cannot change: each is refused by a reload, with its keyword and
 * reason, and the reload changes nothing else (the same file also changes a server's weight,
 * which must not happen). One row per setting; `before` and `after` are lines of the file
 * (empty: not written). message: the exact error after "director.rules:" — `line` is the
 * line the refusal names.
 */
interface RestartRow {
  setting: string;
  before: string;
  after: string;
  message: (line: number) => string;
}
const RESTART: RestartRow[] = [
  { setting: "connections", before: "", after: "connections 8192",
    message: (line) => `${line}:1: 'connections': the connection table size changed: restart wasmvs to resize it` },
  { setting: "connections", before: "connections 8192", after: "connections 16384",
    message: (line) => `${line}:1: 'connections': the connection table size changed: restart wasmvs to resize it` },
  { setting: "mh_table_size", before: "", after: "mh_table_size 251",
    message: (line) => `${line}:1: 'mh_table_size': mh_table_size changed: restart wasmvs to change it` },
  { setting: "mh_table_size", before: "mh_table_size 251", after: "mh_table_size 509",
    message: (line) => `${line}:1: 'mh_table_size': mh_table_size changed: restart wasmvs to change it` },
  { setting: "maglev_services", before: "", after: "maglev_services 4",
    message: (line) => `${line}:1: 'maglev_services': maglev_services changed: restart wasmvs to change it` },
  { setting: "maglev_services", before: "maglev_services 4", after: "",
    message: () => "1:1: 'maglev_services': maglev_services changed: restart wasmvs to change it" },
  { setting: "maglev_table_size", before: "", after: "maglev_table_size 251",
    message: (line) => `${line}:1: 'maglev_table_size': maglev_table_size changed: restart wasmvs to change it` },
  { setting: "maglev_table_size", before: "maglev_table_size 251", after: "maglev_table_size 131071",
    message: (line) => `${line}:1: 'maglev_table_size': maglev_table_size changed: restart wasmvs to change it` },
  { setting: "metrics", before: "", after: "metrics 127.0.0.1:9100",
    message: (line) => `${line}:1: 'metrics': metrics off changed to 127.0.0.1:9100: restart wasmvs to move, start or stop it` },
  { setting: "metrics", before: "metrics 127.0.0.1:9100", after: "metrics 127.0.0.1:9101",
    message: (line) => `${line}:1: 'metrics': metrics 127.0.0.1:9100 changed to 127.0.0.1:9101: restart wasmvs to move, start or stop it` },
  { setting: "dashboard", before: "dashboard 127.0.0.1:8088", after: "",
    message: () => "1:1: 'dashboard': dashboard 127.0.0.1:8088 changed to off: restart wasmvs to move, start or stop it" },
  { setting: "interface (its MAC)", before: "", after: "",
    message: () => "2:11: '1': interface inside changed, was added or removed: restart wasmvs to change interfaces" },
  { setting: "max_services", before: "", after: "max_services 2048",
    message: (line) => `${line}:1: 'max_services': max_services changed: restart wasmvs to change it` },
  { setting: "max_real_servers", before: "max_real_servers 4096", after: "",
    message: () => "1:1: 'max_real_servers': max_real_servers changed: restart wasmvs to change it" },
  { setting: "scheduler_memory", before: "scheduler_memory 8M", after: "scheduler_memory 32M",
    message: (line) => `${line}:1: 'scheduler_memory': scheduler_memory changed: restart wasmvs to change it` },
];

describe("what only a restart changes: refused by a reload, by name, with nothing changed", () => {
  /** The file: the interfaces (the last row changes inside's MAC), the setting line, one service whose weight w is. */
  const file = (setting: string, w: number, insideMac = IN_MAC) =>
    HEAD.replace(`mac ${IN_MAC}`, `mac ${insideMac}`) + (setting ? `${setting}\n` : "") + `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r ${RS[0]}:80 -m -w ${w}\n`;

  for (const row of RESTART) {
    it(`${row.setting}: ${row.before || "(none)"} -> ${row.after || "(none)"}`, async () => {
      const d = await running(file(row.before, 1));
      const runningBefore = JSON.stringify(d.state.running);
      const listingBefore = await d.listing();
      d.setFile(file(row.after, 5, row.setting.startsWith("interface") ? "02:00:00:00:00:99" : IN_MAC));
      await expect(d.state.reloadFile()).rejects.toThrow(`${FILE}:${row.message(HEAD_LINES + 1)}`);
      // Nothing changed: not the weight the same file changed, not the running configuration.
      expect(await d.listing()).toBe(listingBefore);
      expect(JSON.stringify(d.state.running)).toBe(runningBefore);
      expect(await d.drift()).toEqual([]);
      // The file as it was reloads as no change; the weight alone goes through.
      d.setFile(file(row.before, 1));
      expect(await d.state.reloadFile()).toEqual([]);
      d.setFile(file(row.before, 5));
      expect(await d.state.reloadFile()).toEqual([`real server ${RS[0]}:80 of tcp ${VIP}:80 now nat, weight 5`]);
    });
  }

  // A setting written out at its default value is the same setting (reload.ts compares each
  // size as the engine was made with it).
  const DEFAULT_WRITTEN: { setting: string; knownBug?: boolean }[] = [
    { setting: "connections 65536" }, { setting: "mh_table_size 4093" },
    { setting: "maglev_table_size 65537" }, { setting: "maglev_services 0" },
    { setting: "max_services 1024" }, { setting: "max_real_servers 8192" }, { setting: "scheduler_memory 16M" },
  ];
  for (const { setting, knownBug } of DEFAULT_WRITTEN) {
    (knownBug ? it.fails : it)(`${setting} written out where it was not (its default) is no change${knownBug ? " — KNOWN BUG, refused today" : ""}`, async () => {
      const d = await running(file("", 1));
      d.setFile(file(setting, 1));
      expect(await d.state.reloadFile()).toEqual([]);
    });
  }
});
