// Connection sync between two engines (IPVS sync protocol v1, done in the engine): what
// the master sends — decoded here byte by byte by an independent reader, the UDP checksum
// verified — and what the backup makes of it: the same connections and templates in its
// table, so that a mid-stream segment reaching the backup after a failover goes to the same
// server instead of drawing a reset. Malformed messages change nothing and are counted.

import { describe, it, expect } from "vitest";
import { director, GATEWAY_MAC, OUT_MAC, VIP, RS, RS_MAC } from "./helpers/director.js";
import { arp, expectFrame, eth, ipv4, tcp, udp, ACK, SYN } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";
import { syncMessage } from "./helpers/syncmsg.js";

const C = { addr: "192.0.2.7", port: 40000 };
const syn = (c = C, dport = 80) => eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport, flags: SYN }) }));
const ack = (c = C) => eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: 80, flags: ACK }) }));

async function pair(persistent = false): Promise<{ master: Engine; backup: Engine }> {
  const make = async () => {
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", ...(persistent ? { persistence: { timeout: 300, netmask: "255.255.255.0" } } : {}) });
    for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
    return e;
  };
  const master = await make();
  const backup = await make();
  master.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 0 });
  backup.setSync({ send: false, receive: true, ifindex: 0, syncid: 9 });
  return { master, backup };
}

/** Frames out of one engine call on e. */
function feed(e: Engine, frame: Uint8Array, now = 1000): Uint8Array[] {
  e.loadFrame(0, frame, 0);
  return e.txFrames(e.process(1, now)).map((t) => t.frame);
}

/** An IPVS v1 sync message, read independently of the engine. */
function readSync(frame: Uint8Array) {
  const d = expectFrame(frame);
  expect(d.dstMac).toBe("01:00:5e:00:00:51");
  expect(d.ip).toMatchObject({ dst: "224.0.0.81", proto: 17, ttl: 1 });
  expect(d.ip!.udp).toMatchObject({ sport: 8848, dport: 8848 });
  const m = frame.subarray(14 + 20 + 8);
  const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const header = { reserved: m[0], syncid: m[1], size: dv.getUint16(2), count: m[4], version: m[5], spare: dv.getUint16(6) };
  const ip = (o: number) => Array.from(m.subarray(o, o + 4)).join(".");
  const entries = Array.from({ length: header.count }, (_, k) => {
    const o = 8 + 36 * k;
    return { type: m[o], protocol: m[o + 1], verSize: dv.getUint16(o + 2), flags: dv.getUint32(o + 4), state: dv.getUint16(o + 8), cport: dv.getUint16(o + 10),
      vport: dv.getUint16(o + 12), dport: dv.getUint16(o + 14), fwmark: dv.getUint32(o + 16), timeout: dv.getUint32(o + 20), caddr: ip(o + 24), vaddr: ip(o + 28), daddr: ip(o + 32) };
  });
  return { header, entries, length: m.length };
}

const isSync = (f: Uint8Array) => f[0] === 1 && f[1] === 0 && f[2] === 0x5e && f[5] === 0x51;

describe("connection sync, master side", () => {
  it("a new connection is sent at the end of the batch that made it: IPVS v1, 36-byte entry, DR flags, SYN_RECV, its 60 s", async () => {
    const { master } = await pair();
    const out = feed(master, syn());
    const fwd = out.filter((f) => !isSync(f));
    const sync = out.filter(isSync);
    expect(fwd.length).toBe(1);
    expect(sync.length).toBe(1);
    const server = RS[RS_MAC.indexOf(expectFrame(fwd[0]).dstMac)];
    const m = readSync(sync[0]);
    expect(m.header).toEqual({ reserved: 0, syncid: 9, size: 8 + 36, count: 1, version: 1, spare: 0 });
    expect(m.entries).toEqual([{ type: 0, protocol: 6, verSize: 36, flags: 3 | 0x80 | 0x100, state: 3, cport: 40000, vport: 80, dport: 80, fwmark: 0,
      timeout: 60, caddr: C.addr, vaddr: VIP, daddr: server }]);
    expect(master.counters()).toMatchObject({ sync_messages_sent: 1n, sync_conns_sent: 1n });
    // The client's ACK moves it to ESTABLISHED: synced again, with its timeout.
    const m2 = readSync(feed(master, ack(), 1001).filter(isSync)[0]);
    expect(m2.entries[0]).toMatchObject({ state: 1, flags: 3 | 0x80, timeout: 900 });
    // Packets that change nothing send nothing.
    expect(feed(master, ack(), 1002).filter(isSync)).toEqual([]);
  });
});

describe("connection sync, backup side", () => {
  it("the backup holds the master's connections: a mid-stream segment after a failover goes to the same server", async () => {
    const { master, backup } = await pair();
    const servers: string[] = [];
    for (let k = 0; k < 5; k++) {
      const c = { addr: C.addr, port: 40000 + k };
      const out = [...feed(master, syn(c)), ...feed(master, ack(c), 1001)];
      servers.push(RS[RS_MAC.indexOf(expectFrame(out.find((f) => !isSync(f))!).dstMac)]);
      for (const f of out.filter(isSync)) expect(feed(backup, f)).toEqual([]);
    }
    expect(backup.counters().sync_conns_received).toBe(10n);
    const conns = backup.connections(1001).sort((a, b) => a.clientPort - b.clientPort);
    expect(conns.map((c) => [c.clientPort, c.state, c.server, c.method])).toEqual(servers.map((s, k) => [40000 + k, "ESTABLISHED", s, "dr"]));
    expect(backup.services()[0].realServers.reduce((n, r) => n + r.active, 0)).toBe(5);
    // Failover: the client's next segment reaches the backup, which forwards it on.
    for (let k = 0; k < 5; k++) {
      const out = feed(backup, ack({ addr: C.addr, port: 40000 + k }), 2000);
      expect(out.map((f) => RS[RS_MAC.indexOf(expectFrame(f).dstMac)])).toEqual([servers[k]]);
    }
    expect(backup.counters().resets_sent).toBe(0n);
  });

  it("persistence templates are synced: a new connection of the same client goes to its server on the backup", async () => {
    const { master, backup } = await pair(true);
    const out = [...feed(master, syn())];
    const server = RS[RS_MAC.indexOf(expectFrame(out.find((f) => !isSync(f))!).dstMac)];
    const m = readSync(out.find(isSync)!);
    expect(m.entries.map((e) => [e.protocol, e.flags & 0x1000, e.cport, e.caddr, e.timeout])).toEqual([[6, 0x1000, 0, "192.0.2.0", 300], [6, 0, 40000, C.addr, 60]]);
    for (const f of out.filter(isSync)) feed(backup, f);
    expect(backup.connections(1000).filter((c) => c.template).map((c) => [c.client, c.server])).toEqual([["192.0.2.0", server]]);
    for (let k = 1; k < 6; k++) {
      const o = feed(backup, syn({ addr: `192.0.2.${20 + k}`, port: 41000 + k }), 2000).filter((f) => !isSync(f));
      expect(RS[RS_MAC.indexOf(expectFrame(o[0]).dstMac)]).toBe(server);
    }
  });

  it("a synced connection is tied to no template (as ip_vs_proc_conn): one of another server cannot keep the template forever", async () => {
    const { backup } = await pair(true);
    // One message: the client's /24 template names RS[1], its connection RS[2] (a forger's, or
    // a master whose template was replaced meanwhile). Template 60 s, connection 30 s.
    const msg = syncMessage([{ template: true, cport: 0, caddr: "192.0.2.0", vaddr: VIP, daddr: RS[1], timeout: 60 },
      { cport: 40000, caddr: C.addr, vaddr: VIP, daddr: RS[2], timeout: 30 }], 9);
    feed(backup, eth("01:00:5e:00:00:51", "02:00:00:00:00:0a", 0x0800, ipv4({ src: "10.0.0.5", dst: "224.0.0.81", proto: 17, ttl: 1,
      payload: udp({ src: "10.0.0.5", dst: "224.0.0.81", sport: 8848, dport: 8848, payload: new Uint8Array(msg) }) })));
    expect(backup.counters().sync_conns_received).toBe(2n);
    expect(backup.connections(1000).map((c) => [!!c.template, c.server]).sort()).toEqual([[false, RS[2]], [true, RS[1]]]);
    // Each goes at its own time, and nothing is left.
    backup.expireConnections(32_000);
    expect(backup.connections(32_000).map((c) => [!!c.template, c.server])).toEqual([[true, RS[1]]]);
    backup.expireConnections(62_000);
    expect(backup.connections(62_000)).toEqual([]);
    expect(backup.services()[0].realServers.every((r) => r.persistConns === 0 && r.active + r.inactive === 0)).toBe(true);
  });

  it("malformed messages change nothing and are counted; another sync ID is ignored", async () => {
    const { master, backup } = await pair();
    const good = feed(master, syn()).find(isSync)!;
    const msg = Array.from(good.subarray(42));
    const send = (payload: number[]) => feed(backup, eth("01:00:5e:00:00:51", "02:00:00:00:00:0a", 0x0800,
      ipv4({ src: "10.0.0.5", dst: "224.0.0.81", proto: 17, ttl: 1, payload: udp({ src: "10.0.0.5", dst: "224.0.0.81", sport: 8848, dport: 8848, payload: new Uint8Array(payload) }) })));
    const withByte = (i: number, v: number) => msg.map((b, k) => (k === i ? v : b));
    send(withByte(5, 2)); // version 2
    send(withByte(3, 45)); // size does not match
    send(withByte(4, 2)); // two entries announced, one there
    send(msg.slice(0, 40)); // cut short
    send([...withByte(11, 20).slice(0, 44)]); // an entry size of 20
    send(withByte(1, 7)); // another director group
    expect(backup.counters()).toMatchObject({ drop_sync_malformed: 5n, drop_sync_other_syncid: 1n, sync_conns_received: 0n });
    expect(backup.connections(1000)).toEqual([]);
    send(msg);
    expect(backup.connections(1000).length).toBe(1);
  });
});



describe("connection sync, the backup's silence (what the metrics call its lag)", () => {
  it("accepted messages are counted and end the silence, refused ones neither; a master measures none", async () => {
    const { master, backup } = await pair();
    const good = feed(master, syn()).find(isSync)!;
    expect(master.syncIdleMs()).toBeUndefined();
    backup.tick(5000);
    // Silent since it started receiving (the engine's clock stood at 0 then).
    expect(backup.syncIdleMs()).toBe(5000);
    feed(backup, good, 6000);
    backup.tick(9000);
    expect([backup.counters().sync_messages_received, backup.syncIdleMs()]).toEqual([1n, 3000]);
    const bad = good.slice();
    bad[14 + 20 + 8 + 5] = 2; // version 2: malformed, and its UDP checksum no longer adds up either way
    feed(backup, bad, 10000);
    expect([backup.counters().sync_messages_received, backup.syncIdleMs()]).toEqual([1n, 4000]);
    backup.setSync({ send: false, receive: false, ifindex: 0, syncid: 9 });
    expect(backup.syncIdleMs()).toBeUndefined();
  });
});

describe("connection sync, message size", () => {
  it("messages stay within the interface's MTU (IPVS's sync_maxlen limit): 1400 bytes of MTU, 38 entries a message", async () => {
    const e = await director();
    e.setInterface({ index: 0, mac: OUT_MAC, address: "10.0.0.1/24", mtu: 1400 });
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
    e.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 0 });
    // 100 new connections in two batches: full messages go out as they fill.
    const sizes: number[] = [];
    for (let b = 0; b < 2; b++) {
      const n = b === 0 ? 64 : 36;
      for (let k = 0; k < n; k++) e.loadFrame(k, syn({ addr: C.addr, port: 41000 + b * 64 + k }), 0);
      for (const t of e.txFrames(e.process(n, 1000 + b))) if (isSync(t.frame)) sizes.push(readSync(t.frame).header.count);
    }
    expect(Math.max(...sizes)).toBe(Math.floor((1400 - 28 - 8) / 36));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(100);
  });
});

describe("connection sync to a unicast peer", () => {
  it("the master sends to the peer's address and MAC (ARP first), TTL 64; the backup takes messages to its own address from its peer only", async () => {
    const { master, backup } = await pair();
    master.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 0, peer: "10.0.0.9" });
    const first = feed(master, syn()).map((f) => expectFrame(f));
    // The connection forwarded; the message waits for the peer's MAC: an ARP request goes out.
    expect(first.filter((d) => d.arp).map((d) => [d.arp!.op, d.arp!.tpa])).toEqual([[1, "10.0.0.9"]]);
    const released = feed(master, eth(OUT_MAC, "02:00:00:00:00:09", 0x0806, new Uint8Array(arp(2, "02:00:00:00:00:09", "10.0.0.9", OUT_MAC, "10.0.0.1"))), 1001);
    expect(released.length).toBe(1);
    const d = expectFrame(released[0]);
    expect(d.dstMac).toBe("02:00:00:00:00:09");
    expect(d.ip).toMatchObject({ src: "10.0.0.1", dst: "10.0.0.9", proto: 17, ttl: 64 });
    expect(d.ip!.udp).toMatchObject({ sport: 8848, dport: 8848 });
    // The backup (10.0.0.1 here too: the same director's plan) takes it when it is addressed to it.
    const payload = released[0].subarray(42);
    const toBackup = eth(OUT_MAC, "02:00:00:00:00:0a", 0x0800, ipv4({ src: "10.0.0.5", dst: "10.0.0.1", proto: 17, ttl: 64,
      payload: udp({ src: "10.0.0.5", dst: "10.0.0.1", sport: 8848, dport: 8848, payload: new Uint8Array(payload) }) }));
    // Not from a peer it was given: dropped, counted, nothing applied.
    expect(feed(backup, toBackup)).toEqual([]);
    expect(backup.counters()).toMatchObject({ drop_sync_bad_source: 1n, sync_conns_received: 0n });
    expect(backup.connections(1000)).toEqual([]);
    backup.setSync({ send: false, receive: true, ifindex: 0, syncid: 9, from: "10.0.0.5" });
    expect(feed(backup, toBackup)).toEqual([]);
    expect(backup.counters()).toMatchObject({ drop_sync_bad_source: 1n, sync_conns_received: 1n });
    expect(backup.connections(1000).length).toBe(1);
  });
});

describe("connection sync, version 0 (an old IPVS master)", () => {
  /** A v0 message as ip_vs_sync.c lays it out: 4-byte header, 24-byte entries (48 with sequence options). */
  function v0(syncid: number, entries: { proto: number; cport: number; server: string; flags: number; state: number; seq?: boolean }[]): number[] {
    const ip4 = (a: string) => a.split(".").map(Number);
    const be16 = (v: number) => [v >> 8, v & 255];
    const body = entries.flatMap((e) => [0, e.proto, ...be16(e.cport), ...be16(80), ...be16(80), ...ip4(C.addr), ...ip4(VIP), ...ip4(e.server),
      ...be16(e.flags | (e.seq ? 0x0600 : 0)), ...be16(e.state), ...(e.seq ? new Array(24).fill(7) : [])]);
    return [entries.length, syncid, ...be16(4 + body.length), ...body];
  }
  const send = (e: Engine, payload: number[]) => feed(e, eth("01:00:5e:00:00:51", "02:00:00:00:00:0a", 0x0800,
    ipv4({ src: "10.0.0.5", dst: "224.0.0.81", proto: 17, ttl: 1, payload: udp({ src: "10.0.0.5", dst: "224.0.0.81", sport: 8848, dport: 8848, payload: new Uint8Array(payload) }) })));

  it("read as IPVS reads it: connections with the backup's own state timeouts, entries with sequence options skipped over whole", async () => {
    const { backup } = await pair();
    // DR (3) ESTABLISHED; a second with sequence options, SYN_RECV; a template (taken as IPVS takes it).
    expect(send(backup, v0(9, [{ proto: 6, cport: 40001, server: RS[1], flags: 3, state: 1 }, { proto: 6, cport: 40002, server: RS[2], flags: 3, state: 3, seq: true },
      { proto: 6, cport: 0, server: RS[0], flags: 3 | 0x1000, state: 0 }]))).toEqual([]);
    expect(backup.counters()).toMatchObject({ sync_conns_received: 3n, sync_conns_unmatched: 0n, drop_sync_malformed: 0n });
    expect(backup.connections(1000).filter((c) => c.template).map((c) => [c.client, c.server, c.expiresInMs])).toEqual([[C.addr, RS[0], 300_000]]);
    const conns = backup.connections(1000).filter((c) => !c.template).sort((a, b) => a.clientPort - b.clientPort);
    expect(conns.map((c) => [c.clientPort, c.state, c.server, c.method, c.expiresInMs])).toEqual([[40001, "ESTABLISHED", RS[1], "dr", 900_000], [40002, "SYN_RECV", RS[2], "dr", 60_000]]);
    // A mid-stream segment of the synced connection goes to its server.
    expect(feed(backup, ack({ addr: C.addr, port: 40001 }), 2000).map((f) => RS[RS_MAC.indexOf(expectFrame(f).dstMac)])).toEqual([RS[1]]);
  });

  it("a v0 message cut short, with a count that does not add up, or of another sync ID changes nothing", async () => {
    const { backup } = await pair();
    const good = v0(9, [{ proto: 6, cport: 40001, server: RS[1], flags: 3, state: 1, seq: true }]);
    const cut = good.slice(0, 40);
    cut[3] = 40;
    send(backup, cut); // 48-byte entry in 36 bytes
    const more = good.slice();
    more[0] = 2; // two entries announced
    send(backup, more);
    const other = good.slice();
    other[1] = 8;
    send(backup, other);
    expect(backup.counters()).toMatchObject({ drop_sync_malformed: 2n, drop_sync_other_syncid: 1n, sync_conns_received: 0n });
    expect(backup.connections(1000)).toEqual([]);
    send(backup, good);
    expect(backup.connections(1000).length).toBe(1);
  });
});

describe("connection sync, the refresh", () => {
  it("a backup that joins late has every established connection and template within one refresh period", async () => {
    const { master } = await pair(true);
    master.setSync({ send: true, receive: false, ifindex: 0, syncid: 9, refreshMs: 1000 });
    for (let k = 0; k < 20; k++) {
      const c = { addr: `192.0.2.${10 + k}`, port: 40000 };
      feed(master, syn(c), 1000);
      feed(master, ack(c), 1001);
    }
    // The backup starts now: it saw none of it.
    const late = (await pair(true)).backup;
    let t = 1100;
    for (; t <= 2200; t += 100) {
      const out = master.txFrames(master.tick(t)).map((f) => f.frame).filter(isSync);
      for (const f of out) feed(late, f, t);
    }
    const conns = late.connections(t);
    expect(conns.filter((c) => !c.template).length).toBe(20);
    expect(conns.filter((c) => c.template).length).toBe(1); // one /24, one template
    expect(conns.filter((c) => !c.template).every((c) => c.state === "ESTABLISHED")).toBe(true);
  });
});
