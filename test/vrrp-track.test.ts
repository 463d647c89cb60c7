// VRRP tracking on a fake clock (keepalived/vrrp/vrrp_track.c, vrrp_scheduler.c): vrrp_script
// rise/fall, weight 0 -> FAULT (a master resigns with priority 0, notify_fault runs, it comes back
// as backup), weights moving the priority the adverts carry, the primary interface tracked by
// default, track_interface weights, and a sync group in FAULT together. Scripts and links are
// stand-ins the test controls; the state machines (in this thread, as InThreadVrrp serves them:
// on the director they run on the data-path thread), timers and keepalived.conf are the real ones.

import { describe, it, expect, afterAll } from "vitest";
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../host/io/clock.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import type { EngineAdapter } from "../host/dataplane/adapter.js";
import type { ScriptRunner } from "../host/health/scripts.js";
import type { Script } from "../host/config/health.js";
import { VrrpService } from "../host/vrrp/service.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { applyConfig } from "../host/config/rules.js";
import { loadEngine } from "../host/engine/node.js";
import { expectFrame, type Decoded, eth, icmp, ipv4 } from "./helpers/packet.js";
import { ScriptTracker } from "../host/vrrp/track.js";
import { InThreadVrrp } from "../host/vrrp/machines.js";
import { WARNING } from "../host/io/log.js";
import { textOnly } from "./helpers/parsed.js";

const dir = mkdtempSync(join(tmpdir(), "wasmvs-track-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DIRECTOR = `director {
  interface eth0 { mac 02:00:00:00:00:01
    address 10.0.0.2/24 }
  interface eth1 { mac 02:00:00:00:01:01
    address 10.0.1.2/24 }
}
`;

/** A director with VRRP from text, its scripts' results and links set by the test. */
function director(text: string, strict = false) {
  const path = join(dir, `k${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(path, DIRECTOR + text);
  const cfg = parseKeepalived(path, undefined, strict);
  const clock = new FakeClock();
  const exits = new Map<string, number>();
  const links = new Map<number, boolean>([[0, true], [1, true]]);
  const ran: string[] = [];
  const adverts: string[] = [];
  const masters = new Map<number, boolean>();
  const log: string[] = [];
  // A script's "name" is its first argument (/bin/true NAME): the test decides its exit.
  const scripts = {
    run: async (s: Script, _timeout: number, extra: string[] = []) => {
      ran.push([...s.argv.slice(1), ...extra].join(" "));
      return { code: exits.get(s.argv[1]) ?? 0, timedOut: false, output: "" };
    },
  } as unknown as ScriptRunner;
  // The state machines with an engine device that records what they ask of it.
  const vrrp = new InThreadVrrp(cfg, clock, {
    sendAdvert: (i, p) => { adverts.push(`${cfg.vrrp![i].name} ${p}`); },
    setMaster: (i, m) => { masters.set(i, m); },
    announce: () => {},
  });
  const engine = Object.assign(vrrp, { sync: async () => {}, routes: async () => {} }) as unknown as EngineAdapter;
  const service = new VrrpService(cfg, { clock, engine, log: (l) => log.push(l), scripts, linkUp: (i) => links.get(i) ?? false });
  const settle = async () => { for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r)); };
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) { clock.advance(10); await settle(); }
  };
  const state = (name: string) => vrrp.machines.instances.find((v) => v.cfg.name === name)!;
  return { cfg, clock, exits, links, ran, adverts, masters, log, service, run, settle, state };
}

describe("vrrp_script: keepalived's rise/fall counter", () => {
  it("the first result decides; then rise successes to go good, fall failures to go bad; init_fail starts bad", () => {
    const seen: boolean[] = [];
    const cfg = { name: "s", script: { argv: ["/bin/true"], where: { file: "f", line: 1, column: 1 } }, intervalMs: 1000, timeoutMs: 1000,
      weight: 0, reverse: false, rise: 2, fall: 3, initFail: false, line: 1 };
    const t = new ScriptTracker(cfg, new FakeClock(), {} as ScriptRunner, (g) => seen.push(g), () => {});
    t.record(false);
    expect(seen).toEqual([false]);
    t.record(true);
    expect(seen).toEqual([false]); // one success of two
    t.record(true);
    expect(seen).toEqual([false, true]);
    t.record(false);
    t.record(false);
    expect(seen).toEqual([false, true]); // two failures of three
    t.record(true); // back to the top: the failures are forgotten
    t.record(false);
    t.record(false);
    expect(seen).toEqual([false, true]);
    t.record(false);
    expect(seen).toEqual([false, true, false]);
    const f = new ScriptTracker({ ...cfg, initFail: true }, new FakeClock(), {} as ScriptRunner, (g) => seen.push(g), () => {});
    expect(f.good).toBe(false);
    f.record(true);
    expect(f.good).toBe(false);
    f.record(true);
    expect(f.good).toBe(true);
  });
});

describe("VRRP tracking", () => {
  it("a weight-0 script holds the start until its first result, then FAULT on failure (the master resigns, notify_fault) and back as backup", async () => {
    const d = director(`vrrp_script chk_zero {
  script "/bin/true zero"
  interval 1
}
vrrp_script chk_minus {
  script "/bin/true minus"
  interval 1
  weight -30
}
vrrp_instance VI_1 {
  interface eth0
  state MASTER
  virtual_router_id 1
  priority 100
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
  track_script {
    chk_zero
    chk_minus
  }
  notify_fault "/bin/true fault"
  notify "/bin/true notify"
}
`);
    const vi = d.state("VI_1");
    d.exits.set("zero", 1);
    d.service.start();
    expect(vi.state).toBe("INIT"); // waiting for chk_zero's first result
    await d.settle();
    expect(vi.state).toBe("FAULT");
    expect(d.ran).toContain("fault");
    expect(d.ran).toContain("notify INSTANCE VI_1 FAULT 100");
    d.exits.set("zero", 0);
    await d.run(1500);
    expect(d.log.some((l) => /VI_1 .*: BACKUP: script chk_zero recovered/.test(l))).toBe(true);
    expect(vi.state).toBe("MASTER");
    expect(d.adverts.at(-1)).toBe("VI_1 100");
    // A weighted script moves the priority the adverts carry, not the state.
    d.exits.set("minus", 1);
    await d.run(1100);
    expect(vi.state).toBe("MASTER");
    expect(vi.priority).toBe(70);
    expect(d.adverts.at(-1)).toBe("VI_1 70");
    // chk_zero fails: FAULT; the master resigns with priority 0 and gives its addresses up.
    d.exits.set("zero", 1);
    await d.run(1100);
    expect(vi.state).toBe("FAULT");
    expect(d.adverts.at(-1)).toBe("VI_1 0");
    expect(d.masters.get(0)).toBe(false);
    expect(vi.view().faults).toEqual(["script chk_zero"]);
    const sent = d.adverts.length;
    await d.run(1000);
    expect(d.adverts.length).toBe(sent); // nothing sent in FAULT
    d.exits.set("zero", 0);
    d.exits.set("minus", 0);
    await d.run(1500);
    expect(d.log.filter((l) => /VI_1 .*: BACKUP: script chk_zero recovered/.test(l)).length).toBe(2);
    expect(vi.state).toBe("MASTER");
    expect(vi.priority).toBe(100);
    expect(d.adverts.at(-1)).toBe("VI_1 100");
  });

  it("the primary interface is tracked (weight 0) unless dont_track_primary; track_interface weights move the priority", async () => {
    const d = director(`vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  priority 100
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
  track_interface {
    eth1 weight -20
  }
}
vrrp_instance VI_2 {
  interface eth0
  dont_track_primary
  virtual_router_id 2
  priority 100
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.101
  }
}
`);
    d.service.start();
    await d.run(500);
    expect(d.state("VI_1").state).toBe("MASTER");
    d.links.set(1, false);
    await d.run(200);
    expect(d.state("VI_1").priority).toBe(80);
    expect(d.state("VI_1").state).toBe("MASTER");
    d.links.set(0, false);
    await d.run(200);
    expect(d.state("VI_1").state).toBe("FAULT");
    expect(d.state("VI_1").view().faults).toEqual(["interface eth0 down"]);
    expect(d.state("VI_2").state).toBe("MASTER"); // dont_track_primary
    expect(d.log.some((l) => l.includes("interface eth0 is down"))).toBe(true);
    d.links.set(0, true);
    d.links.set(1, true);
    await d.run(200);
    expect(d.state("VI_1").state).toBe("BACKUP");
    expect(d.state("VI_1").priority).toBe(100);
  });

  it("a sync group: one member's FAULT puts every member in FAULT (notify_fault of the group once), and they come back together", async () => {
    const d = director(`vrrp_script chk {
  script "/bin/true chk"
  interval 0.5
  fall 2
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  notify_fault "/bin/true group-fault"
  notify "/bin/true group"
}
vrrp_instance VI_1 {
  interface eth0
  state MASTER
  virtual_router_id 1
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
}
vrrp_instance VI_2 {
  interface eth1
  state MASTER
  virtual_router_id 2
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.1.100
  }
  track_script {
    chk
  }
}
`);
    d.service.start();
    await d.run(600);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    d.exits.set("chk", 1);
    await d.run(600);
    expect(d.state("VI_2").state).toBe("MASTER"); // fall 2: one failure is not enough
    await d.run(500);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["FAULT", "FAULT"]);
    expect(d.state("VI_1").view().faults).toEqual(["sync group G"]);
    expect(d.adverts.filter((a) => a.endsWith(" 0")).sort()).toEqual(["VI_1 0", "VI_2 0"]);
    expect(d.ran.filter((r) => r === "group-fault").length).toBe(1);
    expect(d.ran).toContain("group GROUP G FAULT 0");
    d.exits.set("chk", 0);
    await d.run(600);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["BACKUP", "BACKUP"]);
    await d.run(600);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["MASTER", "MASTER"]);
  });

  it("vrrp_notify_fifo: keepalived's lines for each instance and group change; a file planted at the path is not written", async () => {
    const fifo = join(dir, "vrrp.fifo");
    const planted = join(dir, "planted");
    writeFileSync(planted, "");
    const d = director(`global_defs {
  vrrp_notify_fifo ${fifo}
  notify_fifo ${planted}
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  interface eth0
  state MASTER
  virtual_router_id 1
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
}
vrrp_instance VI_2 {
  interface eth1
  state MASTER
  virtual_router_id 2
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.1.100
  }
}
`);
    d.service.start();
    // A reader, as an operator's script would be (a FIFO keeps its data while someone has it open).
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    await d.run(300);
    d.links.set(1, false);
    await d.run(200);
    await d.service.stop();
    const buf = Buffer.alloc(4096);
    const text = buf.subarray(0, readSync(fd, buf)).toString();
    closeSync(fd);
    expect(text.split("\n").filter(Boolean)).toEqual([
      'INSTANCE "VI_1" BACKUP 150', 'GROUP "G" BACKUP 0', 'INSTANCE "VI_2" BACKUP 150',
      // VI_1's timer ran out first; it waited for VI_2's (keepalived's vrrp_sync_can_goto_master), which took the group.
      'INSTANCE "VI_2" MASTER 150', 'INSTANCE "VI_1" MASTER 150', 'GROUP "G" MASTER 0', 'INSTANCE "VI_2" FAULT 150', 'GROUP "G" FAULT 0', 'INSTANCE "VI_1" FAULT 150', 'INSTANCE "VI_1" STOP 150', 'INSTANCE "VI_2" STOP 150']);
    expect(readFileSync(planted, "utf8")).toBe("");
    expect(d.log).toContain(`${WARNING}notify FIFO ${planted} is not a FIFO this user owns: not used`);
  });

  it("virtual_routes are the engine's while the instance is master: a reply through them leaves (ARP for the gateway); as backup it has no route", async () => {
    const path = join(dir, "routes.conf");
    writeFileSync(path, `${DIRECTOR}vrrp_instance VI_1 {
  interface eth0
  state MASTER
  virtual_router_id 1
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
  virtual_routes {
    10.9.0.0/24 via 10.0.0.254
    src 10.0.1.2 10.8.0.0/16 dev eth1
  }
}
static_routes {
  10.7.0.0/16 via 10.0.1.254 scope link
}
`);
    const cfg = parseKeepalived(path);
    expect(textOnly(cfg.routes)).toEqual([{ cidr: "10.7.0.0/16", via: "10.0.1.254", dev: "eth1", line: 22, where: expect.objectContaining({ line: 22, text: "10.7.0.0/16" }) }]);
    expect(textOnly(cfg.vrrp![0].virtualRoutes)).toEqual([{ cidr: "10.9.0.0/24", via: "10.0.0.254", ifindex: 0, line: 17 }, { cidr: "10.8.0.0/16", ifindex: 1, line: 18, via: undefined }]);
    const engine = await loadEngine({ batch: 16, connCapacity: 64 });
    applyConfig(engine, cfg);
    const clock = new FakeClock();
    const out: Decoded[] = [];
    const local = new LocalEngine(engine, () => clock.now(), (tx) => { for (const f of engine.txFrames(tx)) out.push(expectFrame(f.frame)); }, { config: cfg, clock });
    const service = new VrrpService(cfg, { clock, engine: local, log: () => {}, linkUp: () => true, scripts: {} as ScriptRunner });
    // A ping from a network only the virtual route reaches.
    const ping = () => {
      out.length = 0;
      engine.loadFrame(0, eth("02:00:00:00:00:01", "02:00:00:00:00:fe", 0x0800, ipv4({ src: "10.9.0.5", dst: "10.0.0.2", proto: 1,
        payload: new Uint8Array(icmp(8, 0, [0, 1, 0, 1], [1, 2, 3, 4])) })), 0);
      for (const f of engine.txFrames(engine.process(1, clock.now()))) out.push(expectFrame(f.frame));
      return out.map((d) => (d.arp ? `arp who-has ${d.arp.tpa}` : d.ip ? `ip ${d.ip.dst}` : "?"));
    };
    service.start();
    await new Promise((r) => setImmediate(r));
    expect(ping()).toEqual([]); // backup: no route to 10.9.0.5
    clock.advance(500);
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    expect(local.vrrp!.machines.instances[0].state).toBe("MASTER");
    expect(ping()).toEqual(["arp who-has 10.0.0.254"]); // the reply waits for the gateway's address
    await service.stop();
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
    expect(ping()).toEqual([]);
  });

  it("a sync group goes master only when every member would: one member that still hears a master holds the others back", async () => {
    const d = director(`vrrp_sync_group G {
  group {
    VI_OUT
    VI_IN
  }
}
vrrp_instance VI_OUT {
  interface eth0
  virtual_router_id 1
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
}
vrrp_instance VI_IN {
  interface eth1
  virtual_router_id 2
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.1.100
  }
}
`);
    const out = d.state("VI_OUT");
    const inside = d.state("VI_IN");
    d.service.start();
    // A master of priority 200 is heard on the outside only (its inside adverts are lost).
    const advert = (p: number) => ({ src: "10.0.0.9", version: 3, vrid: 1, priority: p, intervalCs: 10, authType: 0, auth: new Uint8Array(0), addresses: ["10.0.0.100"] });
    for (let t = 0; t < 20; t++) {
      out.onAdvert(advert(200));
      await d.run(100);
    }
    expect(inside.wantMaster).toBe(true);
    expect([out.state, inside.state]).toEqual(["BACKUP", "BACKUP"]); // not master with half the group
    // The outside master goes silent: now both would, and the group goes master together.
    await d.run(500);
    expect([out.state, inside.state]).toEqual(["MASTER", "MASTER"]);
  });

  it("track_file: the file's number times the weight moves the priority; -254 or below, or weight 0 and not 0, is FAULT", async () => {
    const load = join(dir, "load");
    const stop = join(dir, "stop");
    writeFileSync(load, "0\n");
    writeFileSync(stop, "0\n");
    const d = director(`track_file load {
  file ${load}
  weight 10
}
vrrp_track_file stop {
  file ${stop}
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  priority 100
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
  track_file {
    load
    stop weight 0
  }
}
`);
    const vi = d.state("VI_1");
    expect(vi.cfg.trackFiles).toEqual([{ name: "load", path: load, weight: 10, reverse: false }, { name: "stop", path: stop, weight: 0, reverse: false }]);
    d.service.start();
    await d.run(500);
    expect([vi.state, vi.priority]).toEqual(["MASTER", 100]);
    writeFileSync(load, "-3\n");
    await d.run(1100);
    expect([vi.state, vi.priority]).toEqual(["MASTER", 70]);
    expect(d.adverts.at(-1)).toBe("VI_1 70");
    writeFileSync(load, "-30\n"); // -300: fault
    await d.run(1100);
    expect(vi.state).toBe("FAULT");
    expect(vi.view().faults).toEqual(["file load"]);
    writeFileSync(load, "0x2\n"); // strtol's hex: +20
    writeFileSync(stop, "1\n");
    await d.run(1100);
    expect(vi.view().faults).toEqual(["file stop"]);
    writeFileSync(stop, "0\n");
    await d.run(1100);
    expect(d.log.some((l) => /VI_1 .*: BACKUP: file stop recovered/.test(l))).toBe(true);
    expect([vi.state, vi.priority]).toEqual(["MASTER", 120]);
    expect(d.adverts.at(-1)).toBe("VI_1 120");
    await d.service.stop();
  });

  it("a sync group's own track_script is every member's, with weight 0 (the group's FAULT) unless sync_group_tracking_weight", async () => {
    const group = (extra: string) => director(`vrrp_script chk {
  script "/bin/true chk"
  interval 0.5
  weight -50
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  track_script {
    chk
  }
${extra}}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.0.100
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 2
  version 3
  advert_int 0.1
  virtual_ipaddress {
    10.0.1.100
  }
}
`);
    const d = group("");
    expect(d.cfg.vrrp!.map((v) => v.trackScripts)).toEqual([[{ script: "chk", weight: 0, reverse: false }], [{ script: "chk", weight: 0, reverse: false }]]);
    d.service.start();
    await d.run(600);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    d.exits.set("chk", 1);
    await d.run(600);
    expect([d.state("VI_1").state, d.state("VI_2").state]).toEqual(["FAULT", "FAULT"]);
    expect(d.state("VI_1").view().faults).toEqual(["script chk"]);
    await d.service.stop();
    expect(group("  sync_group_tracking_weight\n").cfg.vrrp![1].trackScripts).toEqual([{ script: "chk", weight: -50, reverse: false }]);
  });

  it("keepalived.conf: unknown script names and interfaces, bad weights are refused with their position", () => {
    // --strict: a track_script naming no vrrp_script is one (keepalived ignores it with a warning, as wasmvs by default).
    const bad = (text: string) => {
      try {
        director(text, true);
        return "loaded";
      } catch (e) {
        return (e as Error).message.replace(/^.*?\.conf:/, "");
      }
    };
    const inst = (body: string) => `vrrp_script chk {\n  script "/bin/true"\n}\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.100\n  }\n${body}}\n`;
    expect(bad(inst("  track_script {\n    chk_typo\n  }\n"))).toMatch(/^17:5: 'chk_typo': no vrrp_script named chk_typo \(vrrp_scripts: chk\)$/);
    expect(bad(inst("  track_interface {\n    eth7\n  }\n"))).toMatch(/^17:5: 'eth7': no interface eth7 in the director block/);
    expect(bad(inst("  track_script {\n    chk weight 254\n  }\n"))).toMatch(/^17:16: '254': weight must be/);
    expect(bad(inst("  track_interface {\n    eth1 weight 5 sideways\n  }\n"))).toMatch(/^17:19: 'sideways': expected reverse/);
    expect(bad(inst("  unicast_src_ip 10.0.0.99\n"))).toMatch(/^16:18: '10.0.0.99': adverts leave from eth0's address 10.0.0.2: wasmvs has one address per interface/);
    expect(bad(inst("  unicast_peer {\n    10.0.0.9 min_ttl 3\n  }\n"))).toMatch(/^17:14: 'min_ttl': min_ttl: peer options \(min_ttl, max_ttl\) are not supported by wasmvs yet/);
    expect(bad(inst("  unicast_src_ip 10.0.0.2\n  unicast_peer {\n    10.0.0.9\n    10.0.0.8\n  }\n"))).toBe("loaded");
    expect(bad(inst("  virtual_routes {\n    10.9.0.0/24 via 10.0.0.254 table 100\n  }\n"))).toMatch(/^17:32: 'table': table is not supported by wasmvs yet/);
    expect(bad(inst("  virtual_routes {\n    blackhole 10.9.0.1/32\n  }\n"))).toMatch(/^17:5: 'blackhole': blackhole is not supported by wasmvs yet/);
    expect(bad(inst("  virtual_routes {\n    10.9.0.0/24 via 192.168.100.254\n  }\n"))).toMatch(/^17:21: '192.168.100.254': gateway 192.168.100.254 is not on any interface's subnet/);
    expect(bad(inst("  virtual_routes {\n    src 10.0.0.77 10.9.0.0/24 dev eth0\n  }\n"))).toMatch(/^17:9: '10.0.0.77': src 10.0.0.77 is not an address of this director/);
  });
});
