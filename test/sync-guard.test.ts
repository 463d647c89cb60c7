// What a backup takes connection sync from, and how much of its table sync may hold
// (issue 16, "Forged connection sync"): multicast to 224.0.0.81 with TTL 1 on the sync
// interface, unicast only from the configured peer or the VRRP master, UDP checksums
// verified; every refusal counted by its reason and nothing applied. Synced entries no
// packet has matched are bounded to a share of the table and are the first a new
// connection evicts, so a flood of sync never keeps new connections out; a SYN that meets
// one is scheduled afresh. Timeouts of any size are clamped to what a deadline holds.
// Messages are built here byte by byte (IPVS sync v1 layout), not by the engine.

import { describe, it, expect, afterAll } from "vitest";
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash, createHmac } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../host/io/clock.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { VrrpMachines } from "../host/vrrp/machines.js";
import { director, GATEWAY_MAC, OUT_MAC, VIP, RS, RS_MAC } from "./helpers/director.js";
import { expectFrame, eth, ipv4, tcp, udp, vrrp, ACK, SYN } from "./helpers/packet.js";
import { Counter, type Engine } from "../host/engine/index.js";
import { syncEntry, syncMessage } from "./helpers/syncmsg.js";

const PEER = "10.0.0.5";
const PEER_MAC = "02:00:00:00:00:0a";
const STRANGER = "10.0.0.66";
const OFF_LINK = "198.51.100.9";
const CLIENT = "192.0.2.7";
const MAX_TIMEOUT_MS = 0x7fffffff;

interface EntrySpec { cport: number; server?: string; state?: number; timeout?: number; caddr?: string; template?: boolean }
const entry = (e: EntrySpec) => syncEntry({ ...e, caddr: e.caddr ?? CLIENT, vaddr: VIP, daddr: e.server ?? RS[2] });
const message = (entries: EntrySpec[], syncid = 9) => syncMessage(entries.map((e) => ({ ...e, caddr: e.caddr ?? CLIENT, vaddr: VIP, daddr: e.server ?? RS[2] })), syncid);
/** A sync datagram as a frame: to the group (its MAC) or to the backup's address. */
function datagram(payload: number[], o: { src?: string; dst?: string; ttl?: number; smac?: string; badChecksum?: boolean; noChecksum?: boolean } = {}): Uint8Array {
  const src = o.src ?? PEER;
  const dst = o.dst ?? "224.0.0.81";
  const first = Number(dst.split(".")[0]);
  const dmac = first >= 224 && first <= 239 ? `01:00:5e:00:00:${(Number(dst.split(".")[3]) & 0x7f).toString(16).padStart(2, "0")}` : OUT_MAC;
  const u = udp({ src, dst, sport: 8848, dport: 8848, payload, noChecksum: o.noChecksum });
  if (o.badChecksum) u[6] ^= 0x01;
  return eth(dmac, o.smac ?? PEER_MAC, 0x0800, ipv4({ src, dst, proto: 17, ttl: o.ttl ?? 1, payload: u }));
}

async function backupEngine(from?: string): Promise<Engine> {
  const e = await director();
  const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
  for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
  e.setSync({ send: false, receive: true, ifindex: 0, syncid: 9, from });
  return e;
}

function feed(e: Engine, frame: Uint8Array, now = 1000): Uint8Array[] {
  e.loadFrame(0, frame, 0);
  return e.txFrames(e.process(1, now)).map((t) => t.frame);
}

const seg = (port: number, flags: number, addr = CLIENT) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: addr, dst: VIP, proto: 6, payload: tcp({ src: addr, dst: VIP, sport: port, dport: 80, flags }) }));
const serverOf = (f: Uint8Array) => RS[RS_MAC.indexOf(expectFrame(f).dstMac)];

/** Every frame ends in exactly one of the drop counters, forwarded, consumed or queued. */
function expectCountersAddUp(e: Engine): void {
  let ends = e.counter(Counter.FORWARDED) + e.counter(Counter.CONSUMED) + e.counter(Counter.QUEUED);
  for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) ends += e.counter(i);
  expect(ends).toBe(e.counter(Counter.RX_FRAMES));
}

describe("connection sync: what a backup takes, and from whom", () => {
  it("multicast to 224.0.0.81 with TTL 1 from the link is applied; TTL 2 or 255 (routed, or sent from off the link) is dropped", async () => {
    const b = await backupEngine();
    feed(b, datagram(message([{ cport: 40000 }]), { ttl: 2 }));
    feed(b, datagram(message([{ cport: 40001 }]), { ttl: 255 }));
    feed(b, datagram(message([{ cport: 40002 }]), { ttl: 64, src: OFF_LINK, smac: GATEWAY_MAC }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_ttl: 3n, sync_conns_received: 0n });
    expect(b.connections(1000)).toEqual([]);
    feed(b, datagram(message([{ cport: 40003 }]), { ttl: 1 }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_ttl: 3n, sync_conns_received: 1n, consumed: 1n });
    expect(b.connections(1000).map((c) => [c.clientPort, c.state, c.server])).toEqual([[40003, "ESTABLISHED", RS[2]]]);
    expectCountersAddUp(b);
  });

  it("unicast to the backup's address: from a stranger on the link or off it dropped; from the configured peer or the VRRP master applied", async () => {
    const b = await backupEngine();
    // No peer configured and no VRRP master known: unicast is taken from nobody.
    feed(b, datagram(message([{ cport: 40000 }]), { dst: "10.0.0.1", ttl: 64, src: PEER }));
    feed(b, datagram(message([{ cport: 40001 }]), { dst: "10.0.0.1", ttl: 64, src: STRANGER, smac: "02:00:00:00:00:66" }));
    feed(b, datagram(message([{ cport: 40002 }]), { dst: "10.0.0.1", ttl: 60, src: OFF_LINK, smac: GATEWAY_MAC }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_source: 3n, sync_conns_received: 0n });
    expect(b.connections(1000)).toEqual([]);
    // The configured peer (--mcast-group / group naming the other director).
    b.setSync({ send: false, receive: true, ifindex: 0, syncid: 9, from: PEER });
    feed(b, datagram(message([{ cport: 40010 }]), { dst: "10.0.0.1", ttl: 64, src: PEER }));
    feed(b, datagram(message([{ cport: 40011 }]), { dst: "10.0.0.1", ttl: 64, src: STRANGER }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_source: 4n, sync_conns_received: 1n });
    // The VRRP master the host learned from the adverts (syncAcceptFrom): taken while it is the master.
    b.setSync({ send: false, receive: true, ifindex: 0, syncid: 9 });
    b.setSyncMaster("10.0.0.7");
    feed(b, datagram(message([{ cport: 40020 }]), { dst: "10.0.0.1", ttl: 64, src: "10.0.0.7" }));
    feed(b, datagram(message([{ cport: 40021 }]), { dst: "10.0.0.1", ttl: 64, src: PEER }));
    b.setSyncMaster(undefined);
    feed(b, datagram(message([{ cport: 40022 }]), { dst: "10.0.0.1", ttl: 64, src: "10.0.0.7" }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_source: 6n, sync_conns_received: 2n });
    expect(b.connections(1000).map((c) => c.clientPort).sort()).toEqual([40010, 40020]);
    expectCountersAddUp(b);
  });

  it("another multicast group is dropped; a bad UDP checksum is dropped; none (0) is taken, as RFC 768 allows", async () => {
    const b = await backupEngine(PEER);
    feed(b, datagram(message([{ cport: 40000 }]), { dst: "224.0.0.82" }));
    feed(b, datagram(message([{ cport: 40001 }]), { dst: "239.1.2.3" }));
    feed(b, datagram(message([{ cport: 40002 }]), { badChecksum: true }));
    feed(b, datagram(message([{ cport: 40003 }]), { dst: "10.0.0.1", ttl: 64, badChecksum: true }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_group: 2n, drop_sync_bad_checksum: 2n, sync_conns_received: 0n });
    expect(b.connections(1000)).toEqual([]);
    feed(b, datagram(message([{ cport: 40004 }]), { noChecksum: true }));
    expect(b.counters()).toMatchObject({ drop_sync_bad_group: 2n, drop_sync_bad_checksum: 2n, sync_conns_received: 1n });
    expect(b.connections(1000).map((c) => c.clientPort)).toEqual([40004]);
    expectCountersAddUp(b);
  });

  it("a director that does not receive sync treats the same datagrams as any other (not for it)", async () => {
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 80, method: "dr", weight: 1 });
    feed(e, datagram(message([{ cport: 40000 }]), { ttl: 2 }));
    expect(e.counters()).toMatchObject({ drop_sync_bad_ttl: 0n, drop_not_for_us: 1n });
    expect(e.connections(1000)).toEqual([]);
  });
});

/** n synced ESTABLISHED entries (client ports from `first`) to RS[2], 40 a message. */
function flood(b: Engine, n: number, first = 10000, caddr = "203.0.113.9"): number {
  let messages = 0;
  for (let k = 0; k < n; k += 40) {
    const batch = Array.from({ length: Math.min(40, n - k) }, (_, j) => ({ cport: first + k + j, caddr, timeout: 2_000_000 }));
    feed(b, datagram(message(batch)));
    messages++;
  }
  return messages;
}

describe("connection sync: synced entries are bounded and evicted first", () => {
  it("a flood of 4,096 synced entries takes at most its share (half of 4,096 by default); the rest are refused and counted", async () => {
    const b = await backupEngine();
    expect(flood(b, 4096)).toBe(103);
    expect(b.counters()).toMatchObject({ sync_conns_received: 2048n, sync_conns_over_share: 2048n, sync_conns_table_full: 0n, drop_sync_malformed: 0n });
    expect(b.connections(1000).length).toBe(2048);
    // After a failover, 20 new connections all get in without evicting anything.
    for (let k = 0; k < 20; k++) expect(feed(b, seg(50000 + k, SYN), 2000).length).toBe(1);
    expect(b.counters()).toMatchObject({ drop_table_full: 0n, conns_evicted_synced: 0n });
    expectCountersAddUp(b);
  });

  it("with the share at 100 % a table full of synced entries still lets every new connection in: each evicts one no packet matched", async () => {
    const b = await backupEngine();
    b.setSyncTableShare(100);
    flood(b, 4096);
    expect(b.connections(1000).length).toBe(4096);
    // Full (of its share, here the whole table): more sync is refused, evicting nothing.
    flood(b, 40, 30000);
    expect(b.counters()).toMatchObject({ sync_conns_received: 4096n, sync_conns_over_share: 40n, conns_evicted_synced: 0n });
    // A synced connection whose client speaks (a packet matched it) is live: never evicted.
    const live = feed(b, seg(10000, ACK, "203.0.113.9"), 2000);
    expect(live.map(serverOf)).toEqual([RS[2]]);
    const servers: string[] = [];
    for (let k = 0; k < 20; k++) {
      const out = feed(b, seg(50000 + k, SYN), 2000);
      expect(out.length).toBe(1);
      servers.push(serverOf(out[0]));
    }
    expect(new Set(servers)).toEqual(new Set(RS));
    expect(b.counters()).toMatchObject({ drop_table_full: 0n, conns_evicted_synced: 20n, conns_reclaimed: 0n });
    expect(b.connections(2000).length).toBe(4096);
    expect(b.connections(2000).some((c) => c.clientPort === 10000 && c.client === "203.0.113.9")).toBe(true);
    expectCountersAddUp(b);
  });

  it("sync never takes a live connection's place: a table full of real connections refuses synced ones", async () => {
    const b = await backupEngine();
    b.setSyncTableShare(100);
    for (let k = 0; k < 4096; k++) {
      const c = `198.18.${k >> 8}.${k & 255}`;
      feed(b, seg(1000, SYN, c), 1000);
      feed(b, seg(1000, ACK, c), 1000);
    }
    expect(b.connections(1000).length).toBe(4096);
    flood(b, 80);
    expect(b.counters()).toMatchObject({ sync_conns_received: 0n, sync_conns_table_full: 80n, conns_evicted_synced: 0n, conns_reclaimed: 0n });
    expect(b.connections(1000).every((c) => c.client.startsWith("198.18."))).toBe(true);
  });

  it("a SYN that meets a synced entry no packet has matched is scheduled afresh: a planted entry steers no new connection", async () => {
    // The same SYNs on a backup with planted entries (all to RS[2]) and on one without: the same servers.
    const planted = await backupEngine();
    const clean = await backupEngine();
    feed(planted, datagram(message([0, 1, 2, 3, 4, 5].map((k) => ({ cport: 40000 + k, server: RS[2], timeout: 2_000_000 })))));
    expect(planted.connections(1000).length).toBe(6);
    const got = (e: Engine) => [0, 1, 2, 3, 4, 5].map((k) => serverOf(feed(e, seg(40000 + k, SYN), 2000)[0]));
    const a = got(planted);
    expect(a).toEqual(got(clean));
    expect(a.filter((s) => s === RS[2]).length).toBe(2);
    expect(planted.counters()).toMatchObject({ conns_reused: 6n });
    // A mid-stream segment of a synced connection still goes where the master sent it.
    feed(planted, datagram(message([{ cport: 41000, server: RS[1] }])));
    expect(feed(planted, seg(41000, ACK), 2000).map(serverOf)).toEqual([RS[1]]);
    // Once a packet has matched it, it is a live connection: a SYN on it is not rescheduled (IPVS's conn_reuse_mode).
    expect(feed(planted, seg(41000, SYN), 2001).map(serverOf)).toEqual([RS[1]]);
    expect(planted.counters().conns_reused).toBe(6n);
  });
});

describe("timeouts over 2^31 ms (24.8 days)", () => {
  it("a synced timeout of 3,000,000 s or 0xffffffff s is clamped to the longest a deadline holds, not wrapped to expire on arrival", async () => {
    const b = await backupEngine();
    feed(b, datagram(message([{ cport: 40000, timeout: 3_000_000 }, { cport: 40001, timeout: 0xffffffff }, { cport: 40002, timeout: 2_000_000 },
      { cport: 40003, timeout: 2_147_483 }, { cport: 40004, timeout: 2_147_484 }])));
    expect(b.counters()).toMatchObject({ sync_conns_received: 5n });
    const left = Object.fromEntries(b.connections(1000).map((c) => [c.clientPort, c.expiresInMs]));
    expect(left).toEqual({ 40000: MAX_TIMEOUT_MS, 40001: MAX_TIMEOUT_MS, 40002: 2_000_000_000, 40003: MAX_TIMEOUT_MS, 40004: MAX_TIMEOUT_MS });
    // Ten days on, all still there (the sweep ran through the table many times meanwhile).
    for (let t = 1; t <= 10; t++) b.tick(1000 + t * 86_400_000);
    expect(b.connections(1000 + 10 * 86_400_000).length).toBe(5);
    // And they do end: 25 days on, none is left.
    for (let t = 11; t <= 25; t++) b.tick(1000 + t * 86_400_000);
    b.tick(1000 + 25 * 86_400_000 + 1);
    expect(b.connections((1000 + 25 * 86_400_000 + 2) >>> 0).length).toBe(0);
  });

  it("a restart table entry of 3,000,000 s and 0xffffffff s is clamped too", async () => {
    const b = await backupEngine();
    const e = new Uint8Array([...entry({ cport: 40000, timeout: 3_000_000 }), ...entry({ cport: 40001, timeout: 0xffffffff })]);
    expect(b.importTable(e, 5000, 1000)).toEqual({ applied: 2, expired: 0, unmatched: 0 });
    expect(b.connections(1000).map((c) => c.expiresInMs)).toEqual([MAX_TIMEOUT_MS, MAX_TIMEOUT_MS]);
    // The process's own table is no sync from the wire: no share, not synced-never-seen (a SYN is not rescheduled).
    expect(b.counters()).toMatchObject({ sync_conns_over_share: 0n });
  });

  it("a persistence timeout of 31 days (ipvsadm's limit) is held as 24.8 days, not lost at once", async () => {
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", persistence: { timeout: 2_678_400, netmask: "255.255.255.255" } });
    for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
    const first = serverOf(feed(e, seg(40000, SYN), 1000)[0]);
    feed(e, seg(40000, ACK), 1000);
    const conns = e.connections(1000);
    expect(conns.find((c) => c.template)?.expiresInMs).toBe(MAX_TIMEOUT_MS);
    expect(conns.find((c) => !c.template)?.state).toBe("ESTABLISHED");
    // A day later the client's next connection still goes to the same server.
    expect(serverOf(feed(e, seg(40001, SYN), 1000 + 86_400_000)[0])).toBe(first);
  });
});

describe("the VRRP master's address reaches sync (the one hook from VRRP)", () => {
  const dir = mkdtempSync(join(tmpdir(), "wasmvs-syncguard-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a backup's instance that learns a master from its adverts tells the engine once per change; a director without lvs_sync_daemon never does", async () => {
    const run = async (sync: boolean) => {
      const path = join(dir, `k${sync ? 1 : 0}.conf`);
      writeFileSync(path, `${sync ? "global_defs {\n  lvs_sync_daemon eth0 VI_1\n}\n" : ""}director {
  interface eth0 { mac 02:00:00:00:00:01
    address 10.0.0.2/24 }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 61
  priority 100
  version 3
  advert_int 1
  virtual_ipaddress {
    10.0.0.100
  }
}
`);
      const cfg = parseKeepalived(path);
      const clock = new FakeClock();
      const told: string[] = [];
      // The state machines as the data-path thread runs them, on an engine that records.
      const machines = new VrrpMachines(cfg, clock, {
        sendAdvert: () => {}, setMaster: () => {}, announce: () => {}, syncMaster: (a) => { told.push(a); },
      }, () => {});
      machines.start();
      const advert = (src: string, priority: number) =>
        machines.onAdvert(0, new Uint8Array(vrrp({ version: 3, vrid: 61, priority, addresses: ["10.0.0.100"], src, dst: "224.0.0.18" })), src);
      advert("10.0.0.5", 150);
      advert("10.0.0.5", 150);
      advert("10.0.0.5", 150);
      // A new master (the old one gone, another with a higher priority).
      advert("10.0.0.7", 200);
      machines.stop();
      return told;
    };
    expect(await run(true)).toEqual(["10.0.0.5", "10.0.0.7"]);
    expect(await run(false)).toEqual([]);
  });
});

describe("authenticated sync (beyond IPVS, off by default): an HMAC-SHA256 trailer", () => {
  it("the engine's SHA-256 is node:crypto's, at every padding boundary", async () => {
    const e = await director();
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 1472]) {
      const data = Uint8Array.from({ length: n }, (_, k) => (k * 131 + n) & 255);
      expect(Buffer.from(e.sha256(data)).toString("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("a keyed master appends the HMAC of each message; a backup with the key takes it; no MAC, another key's, or a keyless backup: dropped", async () => {
    const key = Buffer.from("0123456789abcdef0123456789abcdef", "latin1");
    const master = await backupEngine();
    master.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 0 });
    master.setSyncAuthKey(key);
    const out = feed(master, seg(40000, SYN)).filter((f) => f[0] === 1 && f[5] === 0x51);
    expect(out.length).toBe(1);
    const d = expectFrame(out[0]);
    const payload = out[0].subarray(42);
    const size = (payload[2] << 8) | payload[3];
    expect(payload.length).toBe(size + 32);
    expect(Buffer.from(payload.subarray(size)).toString("hex")).toBe(createHmac("sha256", key).update(payload.subarray(0, size)).digest("hex"));
    const resend = (p: Uint8Array) => datagram(Array.from(p));
    // The backups: the same key, another key, none.
    const same = await backupEngine();
    same.setSyncAuthKey(key);
    feed(same, resend(payload));
    feed(same, resend(payload.subarray(0, size))); // without its MAC
    const forged = Uint8Array.from(payload);
    forged[size - 1] ^= 1; // the entry changed, the MAC kept
    feed(same, resend(forged));
    expect(same.counters()).toMatchObject({ sync_conns_received: 1n, drop_sync_bad_mac: 2n });
    expect(same.connections(1000).map((c) => c.clientPort)).toEqual([40000]);
    const other = await backupEngine();
    other.setSyncAuthKey(Buffer.from("another key, 16+ bytes long", "latin1"));
    feed(other, resend(payload));
    expect(other.counters()).toMatchObject({ sync_conns_received: 0n, drop_sync_bad_mac: 1n });
    const keyless = await backupEngine();
    feed(keyless, resend(payload));
    expect(keyless.counters()).toMatchObject({ sync_conns_received: 0n, drop_sync_malformed: 1n });
    expectCountersAddUp(same);
    expect(() => same.setSyncAuthKey(new Uint8Array(65))).toThrow(/at most 64/);
  });

  it("with a key, a full message holds one entry less (1472 bytes: 39, not 40), so that the MAC fits the MTU", async () => {
    const master = await backupEngine();
    master.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 0 });
    master.setSyncAuthKey(Buffer.alloc(32, 7));
    for (let k = 0; k < 40; k++) master.loadFrame(k, seg(41000 + k, SYN), 0);
    const sizes = master.txFrames(master.process(40, 1000)).filter((t) => t.frame[0] === 1 && t.frame[5] === 0x51).map((t) => t.frame.length - 42);
    expect(sizes).toEqual([8 + 39 * 36 + 32, 8 + 36 + 32]);
  });

  it("sync_auth_key_file: a file only this user can read, at least 16 bytes; a trailing newline is not part of the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-synckey-"));
    try {
      const put = (name: string, text: string, mode = 0o600) => { const p = join(dir, name); writeFileSync(p, text, { mode }); chmodSync(p, mode); return p; };
      const conf = (path: string) => { const p = join(dir, "k.conf"); writeFileSync(p, `director {\n  interface eth0 { mac 02:00:00:00:00:01\n    address 10.0.0.2/24 }\n  sync_auth_key_file ${path}\n}\n`); return p; };
      expect(parseKeepalived(conf(put("good", "0123456789abcdef0123456789abcdef\n"))).syncAuth?.keyHex).toBe(Buffer.from("0123456789abcdef0123456789abcdef").toString("hex"));
      expect(() => parseKeepalived(conf(put("open", "0123456789abcdef0123456789abcdef\n", 0o644)))).toThrow(/can be read or changed by other users \(mode 644; chmod 600\)/);
      expect(() => parseKeepalived(conf(put("short", "secret\n")))).toThrow(/holds 6 bytes: a key needs at least 16/);
      expect(() => parseKeepalived(conf(join(dir, "missing")))).toThrow(/no such file/);
      symlinkSync(join(dir, "good"), join(dir, "link"));
      expect(() => parseKeepalived(conf(join(dir, "link")))).toThrow(/a symbolic link \(refused\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
