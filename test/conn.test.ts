// The connection table on a controlled clock: TCP states and their timeouts, the
// active/inactive counts, ipvsadm --set, lazy and amortised expiry, the table-full
// policy, quiescing and removing real servers while connections flow.

import { describe, it, expect } from "vitest";
import { director, RS, VIP, OUT_MAC, GATEWAY_MAC, IN_MAC, RS_MAC } from "./helpers/director.js";
import { eth, ipv4, tcp, udp, expectFrame, SYN, ACK, FIN, RST } from "./helpers/packet.js";
import type { Engine, Method } from "../host/engine/index.js";

let n = 0;
const client = () => {
  n++;
  return { addr: `192.0.${2 + ((n >> 8) & 63)}.${n & 255}`, port: 20000 + (n % 40000) };
};
type Client = { addr: string; port: number };
const toVip = (c: Client, flags: number) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: 80, flags }) }));
const fromRs = (i: number, c: Client, flags: number) =>
  eth(IN_MAC, RS_MAC[i], 0x0800, ipv4({ src: RS[i], dst: c.addr, proto: 6, payload: tcp({ src: RS[i], dst: c.addr, sport: 80, dport: c.port, flags }) }));

function send(e: Engine, frame: Uint8Array, ifindex: number, now: number): Uint8Array[] {
  e.loadFrame(0, frame, ifindex);
  return e.txFrames(e.process(1, now)).map((t) => t.frame);
}

async function oneServer(method: Method = "nat", capacity = 4096, servers = 1): Promise<{ e: Engine; svc: number }> {
  const e = await director({ connCapacity: capacity });
  const svc = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
  for (let i = 0; i < servers; i++) e.addRealServer(svc, { address: RS[i], port: 80, method, weight: 1 });
  return { e, svc };
}

const counts = (e: Engine, i = 0) => {
  const r = e.services()[0].realServers.find((x) => x.address === RS[i])!;
  return [r.active, r.inactive];
};

describe("TCP state machine (IPVS tcp_states)", () => {
  it("NAT: SYN_RECV inactive, ESTABLISHED active, FIN from both ends to TIME_WAIT", async () => {
    const { e } = await oneServer("nat");
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    expect(e.connections(1000)[0].state).toBe("SYN_RECV");
    expect(counts(e)).toEqual([0, 1]);
    send(e, fromRs(0, c, SYN | ACK), 1, 1001);
    send(e, toVip(c, ACK), 0, 1002);
    expect(e.connections(1002)[0].state).toBe("ESTABLISHED");
    expect(e.connections(1002)[0].expiresInMs).toBe(900000);
    expect(counts(e)).toEqual([1, 0]);
    send(e, toVip(c, FIN | ACK), 0, 1003);
    expect(e.connections(1003)[0].state).toBe("CLOSE_WAIT");
    expect(counts(e)).toEqual([0, 1]);
    send(e, fromRs(0, c, FIN | ACK), 1, 1004);
    expect(e.connections(1004)[0].state).toBe("TIME_WAIT");
    expect(e.connections(1004)[0].expiresInMs).toBe(120000);
  });

  it("DR uses the input-only table: a client FIN on ESTABLISHED gives FIN_WAIT", async () => {
    const { e } = await oneServer("dr");
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    send(e, toVip(c, ACK), 0, 1001);
    expect(e.connections(1001)[0].state).toBe("ESTABLISHED");
    send(e, toVip(c, FIN | ACK), 0, 1002);
    expect(e.connections(1002)[0].state).toBe("FIN_WAIT");
    send(e, toVip(c, RST), 0, 1003);
    expect(e.connections(1003)[0].state).toBe("CLOSE");
    expect(e.connections(1003)[0].expiresInMs).toBe(10000);
  });

  it("a connection expires after its state's timeout and its server's count drops", async () => {
    const { e } = await oneServer("nat");
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    e.tick(1000 + 59999);
    expect(e.connectionCount).toBe(1);
    e.tick(1000 + 60000);
    expect(e.connectionCount).toBe(0);
    expect(counts(e)).toEqual([0, 0]);
    expect(e.counters().conns_expired).toBe(1n);
  });

  it("ipvsadm --set changes the established, FIN_WAIT and UDP timeouts", async () => {
    const { e } = await oneServer("dr");
    e.setTimeouts({ tcp: 10, tcpfin: 5, udp: 7 });
    expect(e.timeouts()).toEqual({ tcp: 10, tcpfin: 5, udp: 7 });
    e.setTimeouts({ tcp: 0, tcpfin: 0, udp: 0 });
    expect(e.timeouts()).toEqual({ tcp: 10, tcpfin: 5, udp: 7 });
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    send(e, toVip(c, ACK), 0, 1000);
    expect(e.connections(1000)[0].expiresInMs).toBe(10000);
    send(e, toVip(c, FIN), 0, 1000);
    expect(e.connections(1000)[0].expiresInMs).toBe(5000);
    const u = e.addService({ protocol: "udp", address: VIP, port: 53, scheduler: "rr" });
    e.addRealServer(u, { address: RS[0], port: 53, method: "dr", weight: 1 });
    send(e, eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 17, payload: udp({ src: c.addr, dst: VIP, sport: 9, dport: 53 }) })), 0, 1000);
    const conn = e.connections(1000).find((x) => x.protocol === "udp")!;
    expect(conn.expiresInMs).toBe(7000);
    expect(conn.state).toBe("UDP");
    expect(e.services().find((s) => s.protocol === "udp")!.realServers[0].inactive).toBe(1);
    // The TCP connection, in FIN_WAIT on its shortened timeout, counts inactive on its own
    // service's server (IPVS: only ESTABLISHED is active), and the UDP one did not touch it.
    expect(e.connections(1000).find((x) => x.protocol === "tcp")).toMatchObject({ state: "FIN_WAIT", expiresInMs: 5000 });
    expect(e.services().find((s) => s.protocol === "tcp")!.realServers[0]).toMatchObject({ active: 0, inactive: 1 });
  });

  it("keeps a connection on its server for its whole life (NAT keep-alive)", async () => {
    const { e } = await oneServer("nat", 4096, 3);
    const c = client();
    const first = expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst;
    for (let k = 0; k < 20; k++) {
      expect(expectFrame(send(e, toVip(c, ACK), 0, 1001 + k)[0]).ip!.dst).toBe(first);
      client(); // other clients in between would move rr on
      send(e, toVip(client(), SYN), 0, 1001 + k);
    }
  });
});

describe("expiry is lazy and amortised", () => {
  it("one call sweeps a bounded slice (65536 entries), later calls finish the job", async () => {
    const { e } = await oneServer("dr", 131072);
    const batch = 50;
    for (let k = 0; k < 100000; k += batch) {
      for (let j = 0; j < batch; j++) e.loadFrame(j, toVip(client(), SYN), 0);
      e.process(batch, 1000);
    }
    expect(e.connectionCount).toBe(100000);
    // Long after every timeout: the first call sweeps at most 65536 entries.
    e.tick(1000 + 2 * 60000);
    const first = 100000 - e.connectionCount;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThanOrEqual(65536);
    // Time-proportional credit (1000 entries per ms): 10 ms later, 10000 entries more are looked at.
    const before = e.connectionCount;
    e.tick(1000 + 2 * 60000 + 10);
    expect(before - e.connectionCount).toBeGreaterThan(0);
    expect(before - e.connectionCount).toBeLessThanOrEqual(10000);
    e.tick(1000 + 3 * 60000);
    expect(e.connectionCount).toBe(0);
    expect(e.counters().conns_expired).toBe(100000n);
  });

  it("a lookup frees an expired connection at once and a new one is scheduled", async () => {
    const { e } = await oneServer("dr");
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    send(e, toVip(c, SYN), 0, 1000 + 60000);
    expect(e.counters().conns_expired).toBe(1n);
    expect(e.counters().conns_created).toBe(2n);
  });
});

describe("table full", () => {
  it("never evicts an established connection; refuses and counts the new one", async () => {
    const { e } = await oneServer("dr", 16);
    for (let k = 0; k < 16; k++) {
      const c = client();
      send(e, toVip(c, SYN), 0, 1000);
      send(e, toVip(c, ACK), 0, 1000);
    }
    expect(send(e, toVip(client(), SYN), 0, 2000)).toEqual([]);
    expect(e.drops().table_full).toBe(1n);
    expect(e.connections(2000).every((x) => x.state === "ESTABLISHED")).toBe(true);
    expect(e.connectionCount).toBe(16);
  });

  it("reclaims a half-open connection when nothing has expired", async () => {
    const { e } = await oneServer("dr", 16);
    for (let k = 0; k < 15; k++) {
      const c = client();
      send(e, toVip(c, SYN), 0, 1000);
      send(e, toVip(c, ACK), 0, 1000);
    }
    send(e, toVip(client(), SYN), 0, 1000); // half-open, SYN_RECV (60 s)
    // At 45 s nothing has expired (established: 900 s): the half-open one is reclaimed.
    expect(send(e, toVip(client(), SYN), 0, 45000)).toHaveLength(1);
    expect(e.counters().conns_reclaimed).toBe(1n);
    expect(e.drops().table_full).toBeUndefined();
    expect(e.connections(45000).filter((x) => x.state === "ESTABLISHED")).toHaveLength(15);
  });

  it("takes an entry whose time has passed before it touches a half-open one", async () => {
    const { e } = await oneServer("dr", 8);
    e.setTimeouts({ tcp: 5 });
    for (let k = 0; k < 4; k++) {
      const c = client();
      send(e, toVip(c, SYN), 0, 1000);
      send(e, toVip(c, ACK), 0, 1000); // ESTABLISHED, 5 s
    }
    for (let k = 0; k < 4; k++) send(e, toVip(client(), SYN), 0, 1000); // SYN_RECV, 60 s
    // No call in between, so no sweep ran: the table is full of 4 expired + 4 half-open.
    expect(send(e, toVip(client(), SYN), 0, 7000)).toHaveLength(1);
    expect(e.counters().conns_reclaimed).toBe(0n);
    expect(e.counters().conns_expired).toBeGreaterThanOrEqual(1n);
    expect(e.connections(7000).filter((x) => x.state === "SYN_RECV")).toHaveLength(5);
  });
});

/** Every frame given to the engine in exactly one outcome counter: a drop reason,
 *  forwarded, consumed or queued. */
function outcomesAddUp(e: Engine): void {
  const c = e.counters();
  let drops = 0n;
  for (const v of Object.values(e.drops())) drops += v;
  expect(drops + c.forwarded + c.consumed + c.queued).toBe(c.rx_frames);
}

describe("table full: every frame counted once", () => {
  // A table of 16 full of established connections (never evicted), then new connections
  // to a persistent and a plain service: each refused SYN is one table_full, nothing else.
  async function full(freeSlots = 0) {
    const e = await director({ connCapacity: 16 });
    const plain = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    const sticky = e.addService({ protocol: "tcp", address: VIP, port: 443, scheduler: "rr", persistence: { timeout: 300, netmask: "255.255.255.255" } });
    for (const s of [plain, sticky]) e.addRealServer(s, { address: RS[0], port: s === plain ? 80 : 443, method: "dr", weight: 1 });
    for (let k = 0; k < 16 - freeSlots; k++) {
      const c = client();
      send(e, toVip(c, SYN), 0, 1000);
      send(e, toVip(c, ACK), 0, 1000);
    }
    return e;
  }
  const to443 = (c: Client, flags: number) =>
    eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: 443, flags }) }));

  it("a persistent and a plain service, table full: one table_full per refused SYN, counters add up", async () => {
    const e = await full();
    expect(e.connectionCount).toBe(16);
    outcomesAddUp(e);
    const base = e.counters().rx_frames;
    for (let k = 0; k < 10; k++) {
      expect(send(e, to443(client(), SYN), 0, 2000 + k)).toEqual([]); // persistent: no room for the template
      expect(send(e, toVip(client(), SYN), 0, 2000 + k)).toEqual([]); // plain
    }
    expect(e.counters().rx_frames - base).toBe(20n);
    expect(e.drops().table_full).toBe(20n);
    expect(e.connectionCount).toBe(16);
    expect(e.connections(2100).some((x) => x.template)).toBe(false);
    outcomesAddUp(e);
  });

  it("one free slot: the template takes it, the connection is refused once; the next SYN too", async () => {
    const e = await full(1);
    const c = client();
    expect(send(e, to443(c, SYN), 0, 2000)).toEqual([]);
    expect(e.drops().table_full).toBe(1n);
    // The template stays (IPVS keeps it for its timeout) and sends the client's next try to its server.
    expect(e.connections(2000).filter((x) => x.template).map((x) => x.server)).toEqual([RS[0]]);
    expect(send(e, to443({ ...c, port: c.port + 1 }, SYN), 0, 2001)).toEqual([]);
    expect(e.drops().table_full).toBe(2n);
    outcomesAddUp(e);
  });

  it("a persistent firewall-mark service, table full: one table_full per refused SYN, none with one free slot either", async () => {
    const e = await full();
    // HTTP and HTTPS alternate (8080, 8443), as one persistent service under mark 1 (ipvsadm -A -f 1 -p).
    e.setMarkRules([{ mark: 1, protocol: "tcp", destination: `${VIP}/32`, ports: [[8080, 8080], [8443, 8443]] }]);
    const fw = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "rr", fwmark: 1, persistence: { timeout: 300, netmask: "255.255.255.255" } });
    e.addRealServer(fw, { address: RS[1], port: 0, method: "dr", weight: 1 });
    const toMark = (c: Client, port: number) =>
      eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: port, flags: SYN }) }));
    const base = e.counters().rx_frames;
    for (let k = 0; k < 10; k++) expect(send(e, toMark(client(), k & 1 ? 8443 : 8080), 0, 2000 + k)).toEqual([]);
    expect(e.counters().rx_frames - base).toBe(10n);
    expect(e.drops().table_full).toBe(10n);
    expect(e.connections(2100).some((x) => x.template)).toBe(false);
    outcomesAddUp(e);
  });

  it("with room, a persistent SYN makes its template and its connection and is forwarded once", async () => {
    const e = await full(2);
    expect(send(e, to443(client(), SYN), 0, 2000)).toHaveLength(1);
    expect(e.drops().table_full).toBeUndefined();
    expect(e.connectionCount).toBe(16);
    outcomesAddUp(e);
  });
});

describe("real servers changed while connections flow", () => {
  it("weight 0 quiesces: the existing connection keeps flowing, new ones go elsewhere", async () => {
    const { e, svc } = await oneServer("nat", 4096, 2);
    const c = client();
    const first = expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst;
    const i = RS.indexOf(first);
    e.editRealServer(e.findRealServer(svc, first, 80)!, { address: first, port: 80, method: "nat", weight: 0 });
    expect(expectFrame(send(e, toVip(c, ACK), 0, 1001)[0]).ip!.dst).toBe(first);
    for (let k = 0; k < 5; k++) expect(expectFrame(send(e, toVip(client(), SYN), 0, 1002)[0]).ip!.dst).not.toBe(first);
    expect(send(e, fromRs(i, c, ACK), 1, 1003)).toHaveLength(1);
  });

  it("a removed server's connections are dropped (IPVS default) and resume if it is added back", async () => {
    const { e, svc } = await oneServer("nat", 4096, 2);
    const c = client();
    const first = expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst;
    e.deleteRealServer(e.findRealServer(svc, first, 80)!);
    expect(send(e, toVip(c, ACK), 0, 1001)).toEqual([]);
    expect(e.drops().dest_unavailable).toBe(1n);
    expect(e.connectionCount).toBe(1);
    e.addRealServer(svc, { address: first, port: 80, method: "nat", weight: 1 });
    expect(expectFrame(send(e, toVip(c, ACK), 0, 1002)[0]).ip!.dst).toBe(first);
  });

  it("a removed server's replies still reach the client, rewritten, and are not counted (ip_vs_out checks no server; ip_vs_out_stats skips it)", async () => {
    const { e, svc } = await oneServer("nat", 4096, 2);
    const c = client();
    const first = expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst;
    const i = RS.indexOf(first);
    e.deleteRealServer(e.findRealServer(svc, first, 80)!);
    const before = e.counters().forwarded;
    // The server's SYN-ACK (and then its data and FIN) leave from the VIP as IPVS's ip_vs_out lets them.
    const out = send(e, fromRs(i, c, SYN | ACK), 1, 1001);
    expect(out).toHaveLength(1);
    const d = expectFrame(out[0]);
    expect([d.ip!.src, d.ip!.dst, d.ip!.tcp!.sport]).toEqual([VIP, c.addr, 80]);
    expect(e.counters().forwarded).toBe(before + 1n);
    // The client's side is dropped (ip_vs_in), nothing expired: expire_nodest_conn is off by default.
    expect(send(e, toVip(c, ACK), 0, 1002)).toEqual([]);
    expect(e.drops().dest_unavailable).toBe(1n);
    expect(e.connectionCount).toBe(1);
    expect(e.services()[0].stats.outpkts).toBe(0n);
  });

  it("with expire_nodest_conn the connection of a removed server is expired on its next packet", async () => {
    const { e, svc } = await oneServer("nat", 4096, 2);
    e.setExpireNodestConn(true);
    const c = client();
    const first = expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst;
    e.deleteRealServer(e.findRealServer(svc, first, 80)!);
    send(e, toVip(c, ACK), 0, 1001);
    expect(e.connectionCount).toBe(0);
  });

  it("editing one server leaves the connections of the others untouched", async () => {
    const { e, svc } = await oneServer("nat", 4096, 3);
    const conns = [client(), client(), client()].map((c) => ({ c, rs: expectFrame(send(e, toVip(c, SYN), 0, 1000)[0]).ip!.dst }));
    e.editRealServer(e.findRealServer(svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 7, uthreshold: 100 });
    e.addRealServer(svc, { address: "10.1.0.14", port: 80, method: "nat", weight: 1 });
    for (const { c, rs } of conns) expect(expectFrame(send(e, toVip(c, ACK), 0, 1001)[0]).ip!.dst).toBe(rs);
  });

  it("a removed service's connections stop; the rest are untouched", async () => {
    const { e, svc } = await oneServer("nat", 4096, 1);
    const other = e.addService({ protocol: "tcp", address: "10.0.0.101", port: 80, scheduler: "rr" });
    e.addRealServer(other, { address: RS[1], port: 80, method: "nat", weight: 1 });
    const c = client();
    send(e, toVip(c, SYN), 0, 1000);
    const d = client();
    const toOther = (f: number) => eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: d.addr, dst: "10.0.0.101", proto: 6, payload: tcp({ src: d.addr, dst: "10.0.0.101", sport: d.port, dport: 80, flags: f }) }));
    send(e, toOther(SYN), 0, 1000);
    e.deleteService(svc);
    expect(send(e, toVip(c, ACK), 0, 1001)).toEqual([]);
    expect(send(e, toOther(ACK), 0, 1001)).toHaveLength(1);
  });
});

describe("sloppy_tcp and one-packet scheduling (IPVS's sloppy_tcp sysctl, ipvsadm -o)", () => {
  it("without sloppy_tcp a segment of an unknown flow is refused with a RST; with it, an ACK opens an ESTABLISHED connection (tcp_states: NONE + ack), a RST never does", async () => {
    for (const method of ["nat", "dr"] as Method[]) {
      const { e } = await oneServer(method);
      const c = client();
      const strict = send(e, toVip(c, ACK), 0, 1000);
      expect(strict.length).toBe(1);
      expect(expectFrame(strict[0]).ip!.tcp!.flags & RST).toBe(RST); // to the client, from the VIP
      expect(expectFrame(strict[0]).ip!.dst).toBe(c.addr);
      expect(e.connectionCount).toBe(0);
      e.setSloppyTcp(true);
      const mid = send(e, toVip(c, ACK), 0, 1001);
      expect(mid.length).toBe(1);
      const d = expectFrame(mid[0]);
      expect(method === "nat" ? d.ip!.dst : d.dstMac).toBe(method === "nat" ? RS[0] : RS_MAC[0]);
      const [conn] = e.connections(1001);
      expect(conn.state).toBe("ESTABLISHED");
      expect(counts(e)).toEqual([1, 0]);
      // A RST alone still opens nothing.
      const c2 = client();
      expect(send(e, toVip(c2, RST), 0, 1002)).toEqual([]);
      expect(e.connectionCount).toBe(1);
      e.setSloppyTcp(false);
      expect(send(e, toVip(client(), ACK | FIN), 0, 1003).map((f) => expectFrame(f).ip!.tcp!.flags & RST)).toEqual([RST]);
    }
  });

  it("ops: each datagram of one client port is scheduled on its own (rr across servers), none stays in the table, each counts as a connection; TCP services ignore the flag", async () => {
    const e = await director();
    const svc = e.addService({ protocol: "udp", address: VIP, port: 53, scheduler: "rr", onePacket: true });
    for (let i = 0; i < 3; i++) e.addRealServer(svc, { address: RS[i], port: 53, method: "nat", weight: 1 });
    expect(e.services()[0].onePacket).toBe(true);
    const c = { addr: "192.0.2.9", port: 5353 };
    const dgram = () => eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 17, payload: udp({ src: c.addr, dst: VIP, sport: c.port, dport: 53, payload: [1, 2, 3] }) }));
    const to: string[] = [];
    for (let k = 0; k < 6; k++) {
      const out = send(e, dgram(), 0, 1000 + k);
      expect(out.length).toBe(1);
      const d = expectFrame(out[0]);
      to.push(d.ip!.dst);
      expect(e.connectionCount).toBe(0);
    }
    expect(new Set(to.slice(0, 3)).size).toBe(3);
    expect(to.slice(3)).toEqual(to.slice(0, 3));
    expect(e.services()[0].stats.conns).toBe(6n);
    expect(e.services()[0].realServers.map((r) => [r.active, r.inactive])).toEqual([[0, 0], [0, 0], [0, 0]]);
    // Off again: the flow sticks to one server.
    e.editService(svc, "rr", undefined, 0, false);
    expect(e.services()[0].onePacket).toBeUndefined();
    const a = expectFrame(send(e, dgram(), 0, 2000)[0]).ip!.dst;
    expect(expectFrame(send(e, dgram(), 0, 2001)[0]).ip!.dst).toBe(a);
    expect(e.connectionCount).toBe(1);
    // A TCP service with the flag keeps its connections, as IPVS (ONE_PACKET is for UDP only).
    const t = await director();
    const ts = t.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", onePacket: true });
    t.addRealServer(ts, { address: RS[0], port: 80, method: "nat", weight: 1 });
    send(t, toVip(client(), SYN), 0, 1000);
    expect(t.connectionCount).toBe(1);
  });
});
