// Packets the engine answers or refuses on its own (issue 8): resets and port
// unreachables for traffic it has nothing for (rate-limited, can be turned off), IPVS's
// conn_reuse_mode, the egress MTU on the NAT and DR paths, and source-routed packets.
// Every emitted frame has all its checksums verified.

import { describe, it, expect } from "vitest";
import { director, service, run, CLIENT, VIP, RS, OUT_MAC, IN_MAC, DIRECTOR_IN } from "./helpers/director.js";
import { ACK, FIN, RST, SYN, expectFrame, eth, ipv4, tcp, udp } from "./helpers/packet.js";

const CLIENT_MAC = "02:cc:00:00:00:02";
const fromClient = (p: number[]) => ({ frame: eth(OUT_MAC, CLIENT_MAC, 0x0800, p), ifindex: 0 });
const clientTcp = (flags: number, sport = 40000, dport = 80, o: { seq?: number; ack?: number; payload?: number[]; df?: boolean; src?: string } = {}) =>
  fromClient(ipv4({ src: o.src ?? CLIENT, dst: VIP, proto: 6, df: o.df, payload: tcp({ src: o.src ?? CLIENT, dst: VIP, sport, dport, flags, seq: o.seq, ack: o.ack, payload: o.payload }) }));
const checked = (frames: { ifindex: number; frame: Uint8Array }[]) => frames.map((f) => {
  const d = expectFrame(f.frame);
  return { ifindex: f.ifindex, ...d };
});

describe("traffic the director has nothing for is answered as a Linux host would", () => {
  it("resets are limited to a burst of 50, then 1 per millisecond", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    const burst = Array.from({ length: 60 }, (_, k) => clientTcp(SYN, 30000 + k, 81));
    const out = checked(run(e, burst, 5000));
    expect(out.length).toBe(50);
    expect(out.every((o) => o.ip!.tcp!.flags === (RST | ACK) && o.ip!.src === VIP && o.ip!.dst === CLIENT)).toBe(true);
    expect(e.counters().resets_sent).toBe(50n);
    expect(e.drops().no_service).toBe(60n);
    // 10 ms later: 10 more tokens.
    expect(run(e, burst.slice(0, 20), 5010).length).toBe(10);
  });

  it("a reset or port unreachable with no route back is not counted as sent (was: resets_sent 1, 0 frames out)", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    e.deleteRoute("0.0.0.0/0");
    const far = "198.51.100.7"; // on no interface's subnet, and no default route now
    expect(run(e, [clientTcp(SYN, 40000, 81, { src: far })])).toEqual([]);
    expect(run(e, [fromClient(ipv4({ src: far, dst: VIP, proto: 17, payload: udp({ src: far, dst: VIP, sport: 5000, dport: 53, payload: [1] }) }))])).toEqual([]);
    expect(e.counters().resets_sent).toBe(0n);
    expect(e.counters().icmp_errors_sent).toBe(0n);
    expect(e.drops().no_service).toBe(2n);
  });

  it("never answers a reset, or a multicast or broadcast source", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    expect(run(e, [clientTcp(RST, 40000, 81), clientTcp(RST | ACK, 40001, 80)])).toEqual([]);
    expect(run(e, [clientTcp(SYN, 40002, 81, { src: "224.0.0.5" }), clientTcp(ACK, 40003, 80, { src: "255.255.255.255" })])).toEqual([]);
    expect(e.counters().resets_sent).toBe(0n);
  });

  it("a FIN or data without a connection: RST|ACK acknowledging what the segment occupied", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    const [o] = checked(run(e, [clientTcp(FIN, 40000, 81, { seq: 100, payload: [1, 2, 3] })]));
    expect(o.ip!.tcp).toMatchObject({ sport: 81, dport: 40000, flags: RST | ACK });
    const raw = o.ip!.totalLen; // 40 bytes: a bare header
    expect(raw).toBe(40);
  });

  it("reject_unknown off: dropped and counted, nothing sent", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    e.setRejectUnknown(false);
    const u = fromClient(ipv4({ src: CLIENT, dst: VIP, proto: 17, payload: udp({ src: CLIENT, dst: VIP, sport: 5000, dport: 54 }) }));
    expect(run(e, [clientTcp(SYN, 40000, 81), clientTcp(ACK, 40001, 80), u])).toEqual([]);
    expect(e.drops()).toMatchObject({ no_service: 2n, no_connection: 1n });
    e.setRejectUnknown(true);
    expect(checked(run(e, [u]))[0].ip!.icmp).toMatchObject({ type: 3, code: 3 });
  });
});

describe("IPVS's conn_reuse_mode: a new SYN on an old connection", () => {
  const toServer = (out: { ifindex: number; frame: Uint8Array }[]) => out.filter((o) => o.ifindex === 1).map((o) => expectFrame(o.frame).ip!.dst);

  it("in TIME_WAIT: scheduled afresh; while established: a retransmitted SYN stays with its server", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}, {}, {}]);
    const first = toServer(run(e, [clientTcp(SYN, 40000)], 1000))[0];
    // A retransmitted SYN on the live connection goes where the first went.
    expect(toServer(run(e, [clientTcp(SYN, 40000)], 1001))).toEqual([first]);
    expect(e.counters().conns_reused).toBe(0n);
    // Client closes: FIN, then its last ACK — TIME_WAIT on the director's side of it.
    run(e, [clientTcp(ACK, 40000)], 1002);
    run(e, [clientTcp(FIN | ACK, 40000)], 1003);
    const st = e.connections(1004)[0].state;
    expect(["TIME_WAIT", "CLOSE", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK"]).toContain(st);
    run(e, [clientTcp(RST, 40000)], 1004); // CLOSE for certain
    const again = toServer(run(e, [clientTcp(SYN, 40000, 80, { seq: 777 })], 1005));
    expect(again.length).toBe(1);
    expect(e.counters().conns_reused).toBe(1n);
    expect(again[0]).not.toBe(first); // rr moved on: it was scheduled, not reused
  });

  it("to a removed or quiesced server: scheduled afresh (was: 3 of 381 connections failed under live -d)", async () => {
    const e = await director();
    const svc = service(e, "tcp", 80, "rr", [{}, {}]);
    const first = toServer(run(e, [clientTcp(SYN, 41000)], 1000))[0];
    const d = e.findRealServer(svc, first, 80)!;
    e.editRealServer(d, { address: first, port: 80, method: "nat", weight: 0 });
    const quiesced = toServer(run(e, [clientTcp(SYN, 41000)], 1001));
    expect(quiesced.length).toBe(1);
    expect(quiesced[0]).not.toBe(first);
    expect(e.counters().conns_reused).toBe(1n);
    // Removed: the SYN on that connection goes to a server that is still there.
    const second = quiesced[0];
    e.deleteRealServer(e.findRealServer(svc, second, 80)!);
    e.editRealServer(d, { address: first, port: 80, method: "nat", weight: 1 });
    const removed = toServer(run(e, [clientTcp(SYN, 41000)], 1002));
    expect(removed).toEqual([first]);
    expect(e.counters().conns_reused).toBe(2n);
    expect(e.drops().dest_unavailable ?? 0n).toBe(0n);
  });
});

describe("the egress MTU on the NAT and DR paths", () => {
  async function bigInside() {
    // The outside takes jumbo frames, the servers' segment only 1500 bytes.
    const e = await director({ slotSize: 9216 });
    e.setInterface({ index: 0, mac: OUT_MAC, address: "10.0.0.1/24", mtu: 9000 });
    service(e, "tcp", 80, "rr", [{}]);
    run(e, [clientTcp(SYN, 42000)], 1000); // the connection
    return e;
  }

  it("with DF: ICMP fragmentation needed with the egress MTU, quoting the packet as sent (to the VIP)", async () => {
    const e = await bigInside();
    const out = checked(run(e, [clientTcp(ACK, 42000, 80, { payload: new Array(3000).fill(7), df: true })], 1001));
    expect(out.length).toBe(1);
    expect(out[0].ifindex).toBe(0);
    expect(out[0].ip).toMatchObject({ src: VIP, dst: CLIENT });
    expect(out[0].ip!.icmp).toMatchObject({ type: 3, code: 4, rest: [0, 0, 0x05, 0xdc] });
    expect(out[0].ip!.icmp!.quoted).toMatchObject({ src: CLIENT, dst: VIP });
    expect(e.drops().needs_fragmentation).toBe(1n);
  });

  it("without DF: dropped and counted (wasmvs does not fragment); a packet that fits passes", async () => {
    const e = await bigInside();
    expect(run(e, [clientTcp(ACK, 42000, 80, { payload: new Array(3000).fill(7) })], 1001)).toEqual([]);
    expect(e.drops().too_big_no_df).toBe(1n);
    const ok = checked(run(e, [clientTcp(ACK, 42000, 80, { payload: new Array(1460).fill(7), df: true })], 1002));
    expect(ok.map((o) => o.ifindex)).toEqual([1]);
  });

  it("replies too big for the outside: fragmentation needed to the server, from the director's inside address", async () => {
    const e = await director({ slotSize: 9216 });
    e.setInterface({ index: 1, mac: IN_MAC, address: `${DIRECTOR_IN}/24`, mtu: 9000 });
    service(e, "tcp", 80, "rr", [{ port: 8080 }]);
    run(e, [clientTcp(SYN, 43000)], 1000);
    const reply = { frame: eth(IN_MAC, "02:aa:00:00:00:11", 0x0800, ipv4({ src: RS[0], dst: CLIENT, proto: 6, df: true,
      payload: tcp({ src: RS[0], dst: CLIENT, sport: 8080, dport: 43000, flags: ACK, payload: new Array(4000).fill(1) }) })), ifindex: 1 };
    const [o] = checked(run(e, [reply], 1001));
    expect(o.ifindex).toBe(1);
    expect(o.ip).toMatchObject({ src: DIRECTOR_IN, dst: RS[0] });
    expect(o.ip!.icmp).toMatchObject({ type: 3, code: 4, rest: [0, 0, 0x05, 0xdc] });
  });
});

describe("IP options", () => {
  it("source routes are refused; record route and other options pass", async () => {
    const e = await director();
    service(e, "tcp", 80, "rr", [{}]);
    const withOptions = (options: number[], sport: number) =>
      fromClient(ipv4({ src: CLIENT, dst: VIP, proto: 6, options, payload: tcp({ src: CLIENT, dst: VIP, sport, dport: 80, flags: SYN }) }));
    expect(run(e, [withOptions([131, 7, 4, 10, 0, 0, 9, 0], 1), withOptions([1, 1, 137, 7, 4, 10, 0, 0, 9, 0, 0, 0], 2)])).toEqual([]);
    expect(e.drops().ip_source_routed).toBe(2n);
    // Record route (7) with room for one address, then end of options: forwarded.
    const rr = checked(run(e, [withOptions([7, 7, 4, 0, 0, 0, 0, 0], 3)]));
    expect(rr.map((o) => o.ifindex)).toEqual([1]);
    // A malformed option length ends the walk without reading past the header.
    expect(checked(run(e, [withOptions([68, 0, 0, 0], 4)])).length).toBe(1);
  });
});
