// Forged connection sync (issue 16), in namespaces: two wasmvs directors, VRRP v3 at 0.1 s,
// lvs_sync_daemon following the instance with keepalived's default sync ID (the VRID, which
// every advert shows), connection tables of 4,096, DR to three servers. While 50 keep-alive
// connections run through the master, an attacker forges sync messages to the backup:
// - from off the link (a host behind the router), unicast to the backup's address;
// - from the link, unicast to the backup's address and multicast with TTL 64;
// - from the link, multicast with TTL 1: what IPVS itself takes (224.0.0.81 is link-local),
//   so it gets in — up to the synced share of the table.
// Each forgery carries the issue's attack: ESTABLISHED entries with 23-day timeouts for a
// client's ports to the server the attacker chose, and 105 datagrams of entries to fill the
// table. Then kill -9 of the master. Expected: the first three dropped and counted by reason,
// nothing of them in the backup's table; the fourth bounded to half the table; after the
// failover no long-lived connection broken, every new connection answered, and the client's
// connections from the planted ports spread over the servers as the scheduler chooses.

import { afterAll, beforeAll, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLIENT, Director, ROUTER_IN, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { syncMessage, SyncEntrySpec } from "../helpers/syncmsg.js";
import { e2eDescribe } from "./e2e.js";

const VRID = 61;
const BACKUP = "10.0.0.6";
const ATTACKER = "10.0.0.66";
const FAR_ATTACKER = "10.1.0.66";
/** Client ports outside Linux's ephemeral range, so no other connection of the test takes them. */
const PLANTED_PORTS = Array.from({ length: 12 }, (_, k) => 20000 + k);

/** Sends the messages in FILE to DST:8848 from SRC with IP TTL TTL, 5 ms apart; prints the count. */
const SENDER = `
const dgram = require("node:dgram"), fs = require("node:fs");
const [file, dst, ttl, src] = process.argv.slice(1);
const msgs = JSON.parse(fs.readFileSync(file, "utf8"));
const s = dgram.createSocket("udp4");
s.bind(0, src, async () => {
  if (dst.startsWith("224.")) { s.setMulticastInterface(src); s.setMulticastTTL(Number(ttl)); s.setMulticastLoopback(false); } else s.setTTL(Number(ttl));
  for (const m of msgs) {
    await new Promise((r, j) => s.send(Buffer.from(m), 8848, dst, (e) => (e ? j(e) : r())));
    await new Promise((r) => setTimeout(r, 5));
  }
  s.close();
  console.log("sent " + msgs.length);
});`;

/** HTTP/1.0 requests from fixed local ports, one after another; prints the answers. */
const FROM_PORTS = `
const net = require("node:net");
const ports = JSON.parse(process.argv[1]);
(async () => {
  const out = [];
  for (const p of ports) {
    out.push(await new Promise((res) => {
      let d = "";
      const s = net.connect({ host: "${VIP}", port: 80, localAddress: "${CLIENT}", localPort: p });
      const t = setTimeout(() => { s.destroy(); res("timeout"); }, 3000);
      s.on("connect", () => s.write("GET / HTTP/1.0\\r\\nConnection: close\\r\\n\\r\\n"));
      s.on("data", (c) => { d += c; });
      s.on("end", () => { clearTimeout(t); res((d.match(/server\\d/) ?? ["no body"])[0]); });
      s.on("error", (e) => { clearTimeout(t); res("error " + e.code); });
    }));
  }
  console.log(JSON.stringify(out));
})();`;

e2eDescribe("forged connection sync", () => {
  let sb: Sandbox;
  const directors: Director[] = [];

  const config = (who: "a" | "b", priority: number, keyFile?: string) => `global_defs {
  lvs_sync_daemon outside VI_1
}
${sb.pairDirector(`x${who}`, who === "a" ? "0e" : "0f", who === "a" ? 5 : 6, `  connection_table_size 4096${keyFile ? `\n  sync_auth_key_file ${keyFile}` : ""}`)}vrrp_instance VI_1 {
  interface outside
  virtual_router_id ${VRID}
  priority ${priority}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
  }
}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
${[0, 1, 2].map((k) => `  real_server ${serverAddress(k)} 80 { weight 1 }`).join("\n")}
}
`;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr", httpPorts: [80] });
    await sb.startServers();
  });
  afterAll(async () => {
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  let onLink = "";
  let far = "";

  /** The directors (with a sync key or not), the traffic, the forgeries, kill -9 of the master: what got through. */
  async function attack(tag: string, keyFile?: string): Promise<void> {
    if (!onLink) {
      onLink = sb.addHost("atk", "bo", `${ATTACKER}/24`);
      far = sb.addHost("far", "bi", `${FAR_ATTACKER}/24`);
      sb.must(far, ["ip", "route", "add", "default", "via", ROUTER_IN]);
    }
    const a = await sb.startDirector(config("a", 150, keyFile), join(sb.dir, `${tag}a.sock`), `${tag}a`);
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf(`${tag}a`)), 5000);
    const b = await sb.startDirector(config("b", 100, keyFile), join(sb.dir, `${tag}b.sock`), `${tag}b`);
    directors.push(b);
    await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf(`${tag}b`)), 5000);
    await sb.waitFor("b to receive sync", () => new RegExp(`connection sync on outside: receiving \\(sync ID ${VRID}\\)`).test(sb.logOf(`${tag}b`)), 5000);

    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 50 * 200, concurrency: 50, keepalive: true, intervalMs: 20, timeoutMs: 3000 }, `${tag}-long`);
    await sb.waitFor("the connections to be synced", () => {
      try {
        return (b.status().connections ?? 0) >= 50;
      } catch {
        return false;
      }
    }, 10000);

    // The forgeries: the planted entries first (the client's ports, all to server 3, 2,000,000 s),
    // then 105 messages of 40 entries for other clients: 4,212 entries, more than the table holds.
    const planted: SyncEntrySpec[] = PLANTED_PORTS.map((cport) => ({ cport, caddr: CLIENT, vaddr: VIP, daddr: serverAddress(2), timeout: 2_000_000 }));
    const fill = (k: number): SyncEntrySpec[] => Array.from({ length: 40 }, (_, j) => ({ cport: 1024 + j, caddr: `198.51.${100 + (k >> 8)}.${k & 255}`, vaddr: VIP,
      daddr: serverAddress(2), timeout: 2_000_000 }));
    const msgs = [syncMessage(planted, VRID), ...Array.from({ length: 105 }, (_, k) => syncMessage(fill(k), VRID))];
    const file = join(sb.dir, `${tag}-forged.json`);
    writeFileSync(file, JSON.stringify(msgs));
    const send = (ns: string, dst: string, ttl: number, src: string) => expect(sb.must(ns, [process.execPath, "-e", SENDER, file, dst, String(ttl), src]).trim()).toBe(`sent ${msgs.length}`);
    const before = b.status().counters;
    send(far, BACKUP, 64, FAR_ATTACKER);
    send(onLink, BACKUP, 64, ATTACKER);
    send(onLink, "224.0.0.81", 64, ATTACKER);
    const dropped = await b.freshStatus().then(() => b.freshStatus());
    const delta = (k: string) => (dropped.counters[k] ?? 0) - (before[k] ?? 0);
    console.log(`forged sync to the backup: ${delta("drop_sync_bad_source")} dropped for their source (unicast, off and on the link), ` +
      `${delta("drop_sync_bad_ttl")} for their TTL (multicast, TTL 64); ${delta("sync_conns_received")} entries applied meanwhile (the master's)`);
    expect(delta("drop_sync_bad_source")).toBe(2 * msgs.length);
    expect(delta("drop_sync_bad_ttl")).toBe(msgs.length);
    const listing = () => b.ipvsadm(["-L", "-n", "-c"]).stdout.split("\n");
    let table = listing();
    expect(table.filter((l) => l.includes("198.51.")).length).toBe(0);
    expect(table.filter((l) => PLANTED_PORTS.some((p) => l.includes(`${CLIENT}:${p} `))).length).toBe(0);

    // What IPVS takes too: multicast with TTL 1 from the link. Bounded to half of 4,096; with a key, refused.
    send(onLink, "224.0.0.81", 1, ATTACKER);
    const after = await b.freshStatus().then(() => b.freshStatus());
    table = listing();
    const forgedIn = table.filter((l) => l.includes("198.51.") || PLANTED_PORTS.some((p) => l.includes(`${CLIENT}:${p} `))).length;
    const overShare = (after.counters.sync_conns_over_share ?? 0) - (before.sync_conns_over_share ?? 0);
    const badMac = (after.counters.drop_sync_bad_mac ?? 0) - (before.drop_sync_bad_mac ?? 0);
    console.log(`forged sync with TTL 1 from the link${keyFile ? ", sync key set" : ""}: ${forgedIn} of ${12 + 105 * 40} entries taken, ${overShare} refused over the share, ` +
      `${badMac} messages dropped for their MAC; table ${after.connections} of 4096`);
    if (keyFile) {
      expect(badMac).toBe(msgs.length);
      expect(forgedIn).toBe(0);
    } else {
      expect(forgedIn).toBeLessThanOrEqual(2048);
      expect(overShare).toBeGreaterThanOrEqual(12 + 105 * 40 - 2048);
      expect(after.connections).toBeLessThanOrEqual(2048 + 50 + 10);
    }

    await new Promise((r) => setTimeout(r, 1000));
    a.proc.kill("SIGKILL");
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf(`${tag}b`)), 5000);
    // New connections: 20 of them, and 12 from the ports whose entries were planted.
    const fresh = sb.http(`http://${VIP}/`, { requests: 20, intervalMs: 20, timeoutMs: 3000 });
    const fromPorts = JSON.parse(sb.must(sb.client, [process.execPath, "-e", FROM_PORTS, JSON.stringify(PLANTED_PORTS)]).trim()) as string[];
    long.kill("SIGTERM");
    await sb.waitFor("the long-lived client", () => long.exitCode !== null, 30000);
    const lr = JSON.parse(sb.logOf(`${tag}-long`).trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    const s3 = fromPorts.filter((x) => x === "server3").length;
    console.log(`after kill -9 of the master: long-lived connections broken ${lr.errors.length} of 50 (${lr.bodies.filter((x) => x).length} requests answered); ` +
      `new connections failed ${fresh.errors.length} of 20; from the 12 planted ports: ${JSON.stringify(fromPorts)} (${s3} to the attacker's server 3)`);
    expect(lr.errors).toEqual([]);
    expect(fresh.errors).toEqual([]);
    expect(fresh.bodies.length).toBe(20);
    expect(fromPorts.every((x) => /^server[123]$/.test(x))).toBe(true);
    expect(new Set(fromPorts).size).toBe(3);
    expect(s3).toBeLessThan(12);
    const final = (await b.freshStatus()).counters;
    expect(final.drop_table_full ?? 0).toBe(0);
    // The planted entries that got in (no key) made way for the SYNs from their ports.
    if (!keyFile) expect((final.conns_reused ?? 0) - (after.counters.conns_reused ?? 0)).toBeGreaterThanOrEqual(12);
    await b.stop();
  }

  it("off-link, non-peer and TTL>1 forgeries are dropped and counted; TTL-1 ones hold at most half the table; after kill -9 of the master nothing breaks and nothing is steered", async () => {
    await attack("x");
  });

  it("with sync_auth_key_file on both directors even the TTL-1 forgeries from the link are dropped (sync_bad_mac), and the keyed sync carries every connection over", async () => {
    const key = join(sb.dir, "sync.key");
    writeFileSync(key, "5f0c6bd7a1e94f28b3d1c07e9a6f4e21\n", { mode: 0o600 });
    await attack("k", key);
  });
});
