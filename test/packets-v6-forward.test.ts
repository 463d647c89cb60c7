// IPv6 forwarding (issue 20, second round): a v6 NAT and a DR service, next hops resolved by
// Neighbour Solicitation with the packet parked until the advertisement, hop limit and Packet
// Too Big, the connection found again. Frames are built by test/helpers/packet6.ts and every
// emitted frame is compared byte for byte with one built independently; TCP, UDP and ICMPv6
// checksums are verified by their own sum (decodeL4v6, decodeIcmpv6).

import { describe, it, expect } from "vitest";
import { director, CLIENT_MAC, DIRECTOR_IN, GATEWAY_MAC, OUT_MAC, IN_MAC, RS_MAC, VIP } from "./helpers/director.js";
import { ipv4, tcp } from "./helpers/packet.js";
import { eth, ACK, SYN } from "./helpers/packet.js";
import {
  decodeIcmpv6, decodeL4v6, icmpv6, ip6, ip6Text, ip6Words, ipv6, multicastMac, naBody, NA_O, NA_S, NH, nsBody, solicitedNode, tcp6, udp6,
} from "./helpers/packet6.js";
import { Counter } from "../host/engine/abi.js";
import type { Engine } from "../host/engine/index.js";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { loadEngine } from "../host/engine/node.js";
import { applyStartSet, packServices } from "../host/engine/start.js";

const ME_OUT = "2001:db8::1";
const ME_IN = "2001:db8:1::1";
const VIP6 = "2001:db8::100";
const CLIENT6 = "2001:db8::c";
const RS6 = ["2001:db8:1::11", "2001:db8:1::12"];

async function engine(): Promise<Engine> {
  const e = await director();
  e.setInterfaceIpv6(0, ip6Words(ME_OUT), 64);
  e.setInterfaceIpv6(1, ip6Words(ME_IN), 64);
  return e;
}

/** One frame on ifindex at nowMs: the frames sent, and the one counter it ended in. */
function send(e: Engine, frame: Uint8Array, ifindex: number, nowMs = 1000): { out: { ifindex: number; frame: Uint8Array }[]; counter: string } {
  const before = e.counters();
  e.loadFrame(0, frame, ifindex);
  const out = e.txFrames(e.process(1, nowMs));
  const after = e.counters();
  const changed = Object.keys(after).filter((k) => (k.startsWith("drop_") || ["forwarded", "consumed", "queued"].includes(k)) && after[k] !== before[k]);
  expect(changed, "exactly one counter").toHaveLength(1);
  let ends = after.forwarded + after.consumed + after.queued;
  for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) ends += e.counter(i);
  expect(ends).toBe(after.rx_frames);
  return { out: out.map((o) => ({ ifindex: o.ifindex, frame: Uint8Array.from(o.frame) })), counter: changed[0] };
}

const hex = (b: ArrayLike<number>) => Buffer.from(b as Uint8Array).toString("hex");
/** An address as the decoders write it (every group, no "::"). */
const full = (a: string) => ip6Text(ip6(a));
const v6frame = (dstMac: string, srcMac: string, packet: number[]) => eth(dstMac, srcMac, 0x86dd, packet);

const syn = (sport = 40000, dport = 80, hop = 64) =>
  v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.TCP, hopLimit: hop }, tcp6({ src: CLIENT6, dst: VIP6, sport, dport, flags: SYN })));

/** The solicitation the director must send for target on the inside link (RFC 4861 7.2.2). */
function expectedNs(target: string): Uint8Array {
  const group = solicitedNode(target);
  return v6frame(multicastMac(group), IN_MAC, ipv6({ src: ME_IN, dst: group, nextHeader: NH.ICMPV6, hopLimit: 255 },
    icmpv6(ME_IN, group, 135, 0, nsBody(target, IN_MAC))));
}

/** A solicited advertisement from a server for itself. */
function naFrom(addr: string, mac: string): Uint8Array {
  return v6frame(IN_MAC, mac, ipv6({ src: addr, dst: ME_IN, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(addr, ME_IN, 136, 0, naBody(NA_S | NA_O, addr, mac))));
}

/** The client solicits the VIP (it must, before its first packet): the director answers for
 *  the VIP of a v6 service and learns the client's MAC. */
function clientSolicitsVip(e: Engine): void {
  const group = solicitedNode(VIP6);
  const r = send(e, v6frame(multicastMac(group), CLIENT_MAC, ipv6({ src: CLIENT6, dst: group, nextHeader: NH.ICMPV6, hopLimit: 255 },
    icmpv6(CLIENT6, group, 135, 0, nsBody(VIP6, CLIENT_MAC)))), 0);
  expect(r.counter).toBe("consumed");
  const na = decodeIcmpv6(r.out[0].frame);
  expect(na).toMatchObject({ dstMac: CLIENT_MAC, srcMac: OUT_MAC, src: full(VIP6), dst: full(CLIENT6), type: 136 });
}

describe("IPv6 NAT service", () => {
  it("parks the SYN while it solicits the real server, releases it at the advertisement with the destination rewritten and the checksum fixed", async () => {
    const e = await engine();
    const s = e.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS6[0], port: 8080, method: "nat", weight: 1 });
    expect(e.findService("tcp", VIP6, 80)).toBe(s);
    expect(e.services()[0]).toMatchObject({ address: VIP6, port: 80, realServers: [{ address: RS6[0], port: 8080, method: "nat" }] });
    clientSolicitsVip(e);

    const r = send(e, syn(), 0);
    expect(r.counter).toBe("queued");
    expect(r.out).toHaveLength(1);
    expect(r.out[0].ifindex).toBe(1);
    expect(hex(r.out[0].frame)).toBe(hex(expectedNs(RS6[0])));
    decodeIcmpv6(r.out[0].frame);
    expect(e.counters().neighbour_solicits_sent).toBe(1n);
    expect(e.neighbourV6(ip6Words(RS6[0]))?.state).toBe("incomplete");

    const na = send(e, naFrom(RS6[0], RS_MAC[0]), 1);
    expect(na.counter).toBe("consumed");
    expect(na.out).toHaveLength(1);
    expect(e.counters().queue_released).toBe(1n);
    const fwd = na.out[0];
    expect(fwd.ifindex).toBe(1);
    // What the server must receive: the client's SYN to the server's address and port, hop limit 63.
    const want = v6frame(RS_MAC[0], IN_MAC, ipv6({ src: CLIENT6, dst: RS6[0], nextHeader: NH.TCP, hopLimit: 63 },
      tcp6({ src: CLIENT6, dst: RS6[0], sport: 40000, dport: 8080, flags: SYN })));
    expect(hex(fwd.frame)).toBe(hex(want));
    expect(decodeL4v6(fwd.frame)).toMatchObject({ src: full(CLIENT6), dst: full(RS6[0]), hopLimit: 63, dport: 8080 });
    expect(e.neighbourV6(ip6Words(RS6[0]))?.state).toBe("reachable");

    // The server's SYN-ACK leaves from VIP:80 to the client (learnt from its solicitation).
    const reply = send(e, v6frame(IN_MAC, RS_MAC[0], ipv6({ src: RS6[0], dst: CLIENT6, nextHeader: NH.TCP },
      tcp6({ src: RS6[0], dst: CLIENT6, sport: 8080, dport: 40000, flags: SYN | ACK, seq: 5000, ack: 1001 }))), 1);
    expect(reply.counter).toBe("forwarded");
    const wantReply = v6frame(CLIENT_MAC, OUT_MAC, ipv6({ src: VIP6, dst: CLIENT6, nextHeader: NH.TCP, hopLimit: 63 },
      tcp6({ src: VIP6, dst: CLIENT6, sport: 80, dport: 40000, flags: SYN | ACK, seq: 5000, ack: 1001 })));
    expect(reply.out[0].ifindex).toBe(0);
    expect(hex(reply.out[0].frame)).toBe(hex(wantReply));
    decodeL4v6(reply.out[0].frame);

    // The client's ACK finds the connection again: no new one, straight to the server.
    const ack = send(e, v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.TCP },
      tcp6({ src: CLIENT6, dst: VIP6, sport: 40000, dport: 80, flags: ACK, seq: 1001, ack: 5001 }))), 0);
    expect(ack.counter).toBe("forwarded");
    expect(decodeL4v6(ack.out[0].frame)).toMatchObject({ dstMac: RS_MAC[0], dst: full(RS6[0]), dport: 8080 });
    expect(e.counters().conns_created).toBe(1n);
    const conns = e.connectionsV6();
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({ protocol: "tcp", client: CLIENT6, cport: 40000, vip: VIP6, vport: 80, server: RS6[0], dport: 8080, state: "ESTABLISHED" });
    expect(e.services()[0].realServers[0]).toMatchObject({ active: 1, inactive: 0 });
  });

  it("rewrites a UDP datagram both ways with the pseudo-header checksum fixed", async () => {
    const e = await engine();
    const s = e.addService({ protocol: "udp", address: VIP6, port: 53, scheduler: "wlc" });
    e.addRealServer(s, { address: RS6[0], port: 5353, method: "nat", weight: 1 });
    clientSolicitsVip(e);
    const q = send(e, v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.UDP }, udp6({ src: CLIENT6, dst: VIP6, sport: 5000, dport: 53, payload: [1, 2, 3, 4, 5] }))), 0);
    expect(q.counter).toBe("queued");
    const na = send(e, naFrom(RS6[0], RS_MAC[0]), 1);
    expect(hex(na.out[0].frame)).toBe(hex(v6frame(RS_MAC[0], IN_MAC, ipv6({ src: CLIENT6, dst: RS6[0], nextHeader: NH.UDP, hopLimit: 63 },
      udp6({ src: CLIENT6, dst: RS6[0], sport: 5000, dport: 5353, payload: [1, 2, 3, 4, 5] })))));
    const back = send(e, v6frame(IN_MAC, RS_MAC[0], ipv6({ src: RS6[0], dst: CLIENT6, nextHeader: NH.UDP }, udp6({ src: RS6[0], dst: CLIENT6, sport: 5353, dport: 5000, payload: [9, 8, 7] }))), 1);
    expect(back.counter).toBe("forwarded");
    expect(hex(back.out[0].frame)).toBe(hex(v6frame(CLIENT_MAC, OUT_MAC, ipv6({ src: VIP6, dst: CLIENT6, nextHeader: NH.UDP, hopLimit: 63 },
      udp6({ src: VIP6, dst: CLIENT6, sport: 53, dport: 5000, payload: [9, 8, 7] })))));
    expect(e.connectionsV6()[0]).toMatchObject({ protocol: "udp", state: "UDP" });
  });

  it("answers hop limit 1 with ICMPv6 time exceeded quoting the packet, and forwards nothing", async () => {
    const e = await engine();
    const s = e.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS6[0], port: 80, method: "nat", weight: 1 });
    const frame = syn(40001, 80, 1);
    const r = send(e, frame, 0);
    expect(r.counter).toBe("drop_ttl_exceeded");
    expect(r.out).toHaveLength(1);
    const quoted = Array.from(frame.subarray(14));
    const want = v6frame(CLIENT_MAC, OUT_MAC, ipv6({ src: ME_OUT, dst: CLIENT6, nextHeader: NH.ICMPV6, hopLimit: 64 },
      icmpv6(ME_OUT, CLIENT6, 3, 0, [0, 0, 0, 0, ...quoted])));
    expect(hex(r.out[0].frame)).toBe(hex(want));
    expect(decodeIcmpv6(r.out[0].frame)).toMatchObject({ type: 3, code: 0 });
    expect(e.counters().icmp_errors_sent).toBe(1n);
  });

  it("answers a packet over the inside MTU with Packet Too Big carrying that MTU (never below 1280), quoting at most 1280 bytes in all", async () => {
    const e = await engine();
    e.setInterface({ index: 1, mac: IN_MAC, address: `${DIRECTOR_IN}/24`, mtu: 1300 });
    e.setInterfaceIpv6(1, ip6Words(ME_IN), 64);
    const s = e.addService({ protocol: "udp", address: VIP6, port: 53, scheduler: "rr" });
    e.addRealServer(s, { address: RS6[0], port: 53, method: "nat", weight: 1 });
    const payload = new Array(1400).fill(0x5a);
    const frame = v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.UDP }, udp6({ src: CLIENT6, dst: VIP6, sport: 5000, dport: 53, payload })));
    const r = send(e, frame, 0);
    expect(r.counter).toBe("drop_needs_fragmentation");
    const quoted = Array.from(frame.subarray(14, 14 + 1280 - 48));
    const want = v6frame(CLIENT_MAC, OUT_MAC, ipv6({ src: ME_OUT, dst: CLIENT6, nextHeader: NH.ICMPV6, hopLimit: 64 },
      icmpv6(ME_OUT, CLIENT6, 2, 0, [0, 0, 0x05, 0x14, ...quoted])));
    expect(r.out[0].frame.length).toBe(14 + 1280);
    expect(hex(r.out[0].frame)).toBe(hex(want));
    decodeIcmpv6(r.out[0].frame);
  });

  it("solicits an unanswering server three times a second apart, then drops the parked packet (FAILED, as ARP)", async () => {
    const e = await engine();
    const s = e.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS6[1], port: 80, method: "nat", weight: 1 });
    expect(send(e, syn(), 0, 1000).counter).toBe("queued");
    const tick = (t: number) => e.txFrames(e.tick(t));
    expect(tick(1500)).toHaveLength(0);
    const second = tick(2001);
    expect(second).toHaveLength(1);
    expect(hex(second[0].frame)).toBe(hex(expectedNs(RS6[1])));
    expect(tick(3002)).toHaveLength(1);
    expect(e.counters().queue_dropped).toBe(0n);
    expect(tick(4003)).toHaveLength(0);
    expect(e.counters().queue_dropped).toBe(1n);
    expect(e.counters().neighbour_solicits_sent).toBe(3n);
    expect(e.neighbourV6(ip6Words(RS6[1]))?.state).toBe("failed");
  });
});

describe("IPv6 NAT to a client behind the IPv6 default gateway", () => {
  it("sends the reply to the gateway, resolved by a solicitation on the outside link", async () => {
    const e = await engine();
    const FAR = "2001:db8:77::5";
    const GW6 = "2001:db8::fe";
    e.setGatewayV6(ip6Words(GW6), 0);
    const s = e.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS6[0], port: 80, method: "nat", weight: 1 });
    const inbound = v6frame(OUT_MAC, GATEWAY_MAC, ipv6({ src: FAR, dst: VIP6, nextHeader: NH.TCP, hopLimit: 60 }, tcp6({ src: FAR, dst: VIP6, sport: 1234, dport: 80, flags: SYN })));
    expect(send(e, inbound, 0).counter).toBe("queued");
    expect(decodeL4v6(send(e, naFrom(RS6[0], RS_MAC[0]), 1).out[0].frame)).toMatchObject({ dst: full(RS6[0]), hopLimit: 59 });
    const reply = send(e, v6frame(IN_MAC, RS_MAC[0], ipv6({ src: RS6[0], dst: FAR, nextHeader: NH.TCP }, tcp6({ src: RS6[0], dst: FAR, sport: 80, dport: 1234, flags: SYN | ACK }))), 1);
    expect(reply.counter).toBe("queued");
    const group = solicitedNode(GW6);
    expect(hex(reply.out[0].frame)).toBe(hex(v6frame(multicastMac(group), OUT_MAC, ipv6({ src: ME_OUT, dst: group, nextHeader: NH.ICMPV6, hopLimit: 255 },
      icmpv6(ME_OUT, group, 135, 0, nsBody(GW6, OUT_MAC))))));
    const na = send(e, v6frame(OUT_MAC, GATEWAY_MAC, ipv6({ src: GW6, dst: ME_OUT, nextHeader: NH.ICMPV6, hopLimit: 255 },
      icmpv6(GW6, ME_OUT, 136, 0, naBody(NA_S | NA_O | 0x80, GW6, GATEWAY_MAC)))), 0);
    expect(hex(na.out[0].frame)).toBe(hex(v6frame(GATEWAY_MAC, OUT_MAC, ipv6({ src: VIP6, dst: FAR, nextHeader: NH.TCP, hopLimit: 63 },
      tcp6({ src: VIP6, dst: FAR, sport: 80, dport: 1234, flags: SYN | ACK })))));
    // Without the gateway, a reply to an off-link client has no route.
    e.setGatewayV6(undefined);
    const again = send(e, v6frame(IN_MAC, RS_MAC[0], ipv6({ src: RS6[0], dst: FAR, nextHeader: NH.TCP }, tcp6({ src: RS6[0], dst: FAR, sport: 80, dport: 1234, flags: ACK }))), 1);
    expect(again.counter).toBe("drop_no_route");
  });
});

describe("IPv6 DR service", () => {
  it("sends the client's packet unchanged but for the MACs and the hop limit to the server's MAC learnt by NDP", async () => {
    const e = await engine();
    const s = e.addService({ protocol: "tcp", address: VIP6, port: 443, scheduler: "sh" });
    e.addRealServer(s, { address: RS6[1], port: 443, method: "dr", weight: 1 });
    expect(send(e, syn(40002, 443), 0).counter).toBe("queued");
    const na = send(e, naFrom(RS6[1], RS_MAC[1]), 1);
    const want = v6frame(RS_MAC[1], IN_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.TCP, hopLimit: 63 },
      tcp6({ src: CLIENT6, dst: VIP6, sport: 40002, dport: 443, flags: SYN })));
    expect(hex(na.out[0].frame)).toBe(hex(want));
    decodeL4v6(na.out[0].frame);
    // The next segment goes straight out (REACHABLE), through the same connection.
    const next = send(e, v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: VIP6, nextHeader: NH.TCP },
      tcp6({ src: CLIENT6, dst: VIP6, sport: 40002, dport: 443, flags: ACK, seq: 1001, ack: 1 }))), 0);
    expect(next.counter).toBe("forwarded");
    expect(decodeL4v6(next.out[0].frame)).toMatchObject({ dstMac: RS_MAC[1], dst: full(VIP6), dport: 443, hopLimit: 63 });
    expect(e.connectionsV6()).toHaveLength(1);
    expect(e.connectionsV6()[0]).toMatchObject({ server: RS6[1], state: "ESTABLISHED" });
  });
});

describe("IPv6 services and real servers in the engine", () => {
  it("keeps v6 services apart from v4 ones that share the fold, refuses what IPVS refuses, answers NDP for a VIP while a service has it", async () => {
    const e = await engine();
    const s6 = e.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler: "rr" });
    // The IPv4 word equal to the v6 VIP's fold must find nothing.
    const w = ip6Words(VIP6);
    const fold = (w[0] ^ w[1] ^ w[2] ^ w[3]) >>> 0;
    expect(e.exports.findService(6, fold, 80 << 8)).toBeLessThan(0);
    expect(e.findService("tcp", VIP6, 80)).toBe(s6);
    // Link-local and multicast real servers (ip_vs_ctl.c dest checks), TUN (not yet), off-link.
    expect(() => e.addRealServer(s6, { address: "fe80::11", port: 80, method: "nat", weight: 1 })).toThrow();
    expect(() => e.addRealServer(s6, { address: "ff02::11", port: 80, method: "nat", weight: 1 })).toThrow();
    expect(() => e.addRealServer(s6, { address: RS6[0], port: 80, method: "tun", weight: 1 })).toThrow();
    expect(() => e.addRealServer(s6, { address: "2001:db8:9::1", port: 80, method: "dr", weight: 1 })).toThrow(/not on a directly connected|on-link|link/i);
    const d = e.addRealServer(s6, { address: RS6[0], port: 80, method: "nat", weight: 1 });
    expect(e.findRealServer(s6, RS6[0], 80)).toBe(d);
    clientSolicitsVip(e);
    // A second service on the VIP, then both gone: the VIP leaves the set with its last service,
    // and its solicited-node group is no longer joined.
    const s6b = e.addService({ protocol: "udp", address: VIP6, port: 53, scheduler: "rr" });
    e.deleteService(s6);
    expect(e.findService("tcp", VIP6, 80)).toBeUndefined();
    clientSolicitsVip(e);
    e.deleteService(s6b);
    const group = solicitedNode(VIP6);
    expect(send(e, v6frame(multicastMac(group), CLIENT_MAC, ipv6({ src: CLIENT6, dst: group, nextHeader: NH.ICMPV6, hopLimit: 255 },
      icmpv6(CLIENT6, group, 135, 0, nsBody(VIP6, CLIENT_MAC)))), 0).counter).toBe("drop_ipv6_multicast_not_for_us");
    expect(send(e, v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: CLIENT6, dst: ME_OUT, nextHeader: NH.ICMPV6, hopLimit: 255 },
      icmpv6(CLIENT6, ME_OUT, 135, 0, nsBody(VIP6, CLIENT_MAC)))), 0).counter).toBe("drop_ndp_target_not_ours");
  });
});

describe("IPv6 services from the configuration", () => {
  const rules = `interface 0 mac ${OUT_MAC} address 10.0.0.1/24 address ${ME_OUT}/64\n` +
    `interface 1 mac ${IN_MAC} address ${DIRECTOR_IN}/24 address ${ME_IN}/64\n` +
    `-A -t [${VIP6}]:80 -s wrr\n-a -t [${VIP6}]:80 -r [${RS6[0]}]:8080 -m -w 3\n-a -t [${VIP6}]:80 -r [${RS6[1]}]:8080 -m -w 1\n` +
    `-A -u [${VIP6}]:53 -s sh\n-a -u [${VIP6}]:53 -r [${RS6[1]}]:53 -g\n`;
  const listed = (e: Engine) => e.services().map((s) => `${s.protocol} ${s.address}:${s.port} ${s.scheduler} -> ${s.realServers.map((r) => `${r.address}:${r.port} ${r.method} ${r.weight}`).join(", ")}`);
  const want = [`tcp ${VIP6}:80 wrr -> ${RS6[1]}:8080 nat 1, ${RS6[0]}:8080 nat 3`, `udp ${VIP6}:53 sh -> ${RS6[1]}:53 dr 1`];

  it("a rules file's IPv6 services and real servers reach the engine (applyConfig)", async () => {
    const e = await loadEngine({ batch: 8, connCapacity: 1024 });
    applyConfig(e, parseRules(rules, "v6.rules"));
    expect(listed(e)).toEqual(want);
  });

  it("the start set packs them with their four words and loads them the same (packServices, applyStartSet)", async () => {
    const cfg = parseRules(rules, "v6.rules");
    const packed = packServices(cfg.services);
    expect([packed.services, packed.servers, packed.table.length]).toEqual([2, 3, 2 * 12 + 3 * 9]);
    const e = await loadEngine({ batch: 8, connCapacity: 1024 });
    applyStartSet(e, { interfaces: cfg.interfaces as never, routes: [], neighbours: [], rejectUnknown: false, expireQuiescentTemplate: false, marks: [], vrrp: [],
      expireNodestConn: false, sloppyTcp: false, services: packed } as never);
    expect(listed(e)).toEqual(want);
  });
});

describe("schedulers on IPv6 addresses (IPVS folds them: ip6[0]^ip6[1]^ip6[2]^ip6[3])", () => {
  // ip_vs_sh_hashkey, ip_vs_dh_hashkey and ip_vs_mh_hashkey hash the fold of an IPv6 address
  // where they hash an IPv4 one: a v6 client must land where the IPv4 client whose address is
  // that fold lands, on a service with the same servers in the same order and weights.
  for (const scheduler of ["sh", "mh", "dh"] as const) {
    it(`${scheduler}: 40 IPv6 clients land where the IPv4 client with their fold's address lands`, async () => {
      const e6 = await engine();
      const e4 = await director();
      const SERVERS6 = ["2001:db8:1::11", "2001:db8:1::12", "2001:db8:1::13"];
      const s6 = e6.addService({ protocol: "tcp", address: VIP6, port: 80, scheduler });
      const s4 = e4.addService({ protocol: "tcp", address: VIP, port: 80, scheduler });
      SERVERS6.forEach((a, k) => e6.addRealServer(s6, { address: a, port: 80, method: "nat", weight: k + 1 }));
      const v4OfWord = (w: number) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24].join(".");
      const fold = (w: readonly number[]) => (w[0] ^ w[1] ^ w[2] ^ w[3]) >>> 0;
      // mh permutes by the servers' addresses (their fold for IPv6): the twin's servers are the folds.
      const SERVERS4 = SERVERS6.map((a) => v4OfWord(fold(ip6Words(a))));
      SERVERS4.forEach((a, k) => e4.addRealServer(s4, { address: a, port: 80, method: "nat", weight: k + 1 }));
      for (let n = 0; n < 40; n++) {
        const client = `2001:db8:${((n * 7919 + 3) & 0xffff).toString(16)}::${((n * 104729 + 17) & 0xffff).toString(16)}:${(n * 31 + 1).toString(16)}`;
        // dh hashes the destination (the VIP's fold): the v4 twin asks for the fold of VIP6 as its VIP then.
        const c4 = v4OfWord(fold(ip6Words(client)));
        e6.loadFrame(0, v6frame(OUT_MAC, CLIENT_MAC, ipv6({ src: client, dst: VIP6, nextHeader: NH.TCP }, tcp6({ src: client, dst: VIP6, sport: 1000 + n, dport: 80, flags: SYN }))), 0);
        e6.process(1, 1000);
        e4.loadFrame(0, eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: c4, dst: VIP, proto: 6, payload: tcp({ src: c4, dst: VIP, sport: 1000 + n, dport: 80, flags: SYN }) })), 0);
        e4.process(1, 1000);
      }
      const pick6 = e6.connectionsV6().map((c) => SERVERS6.indexOf(c.server));
      const pick4 = e4.connections(1000).map((c) => SERVERS4.indexOf(c.server));
      expect(pick6).toHaveLength(40);
      if (scheduler === "dh") {
        // One destination: every v6 client goes to the one server dh picks for the VIP's fold.
        expect(new Set(pick6).size).toBe(1);
      } else {
        const byPort6 = new Map(e6.connectionsV6().map((c) => [c.cport, SERVERS6.indexOf(c.server)]));
        const byPort4 = new Map(e4.connections(1000).map((c) => [c.clientPort, SERVERS4.indexOf(c.server)]));
        expect([...byPort6.keys()].sort().map((p) => byPort6.get(p))).toEqual([...byPort4.keys()].sort().map((p) => byPort4.get(p)));
        expect(new Set(pick4).size).toBeGreaterThan(1);
      }
    });
  }
});
