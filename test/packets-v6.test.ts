// IPv6 on the link (issue 20, first round): the engine answers Neighbour Solicitations
// and echo requests for its own IPv6 addresses and drops everything else IPv6 by a named
// reason. Frames are built by test/helpers/packet6.ts; replies are compared byte for byte
// with frames built independently, and every ICMPv6 checksum is verified by its own sum.

import { describe, it, expect } from "vitest";
import { director, CLIENT_MAC, OUT_MAC, IN_MAC } from "./helpers/director.js";
import { eth } from "./helpers/packet.js";
import {
  ALL_NODES, ALL_NODES_MAC, decodeIcmpv6, echoBody, fragmentHeader, icmpv6, ip6, ip6Text, ip6Words, ipv6, linkLocalOf, multicastMac, naBody, NA_O, NA_R, NA_S, NH,
  nsBody, optionsHeader, routingHeader, solicitedNode,
} from "./helpers/packet6.js";
import { Counter } from "../host/engine/abi.js";
import type { Engine } from "../host/engine/index.js";
import { loadWire } from "./helpers/wiretest.js";
import { inetChecksum } from "./helpers/packet.js";
import { pseudoSum6 } from "./helpers/packet6.js";

const ME = "2001:db8::1";
const CLIENT6 = "2001:db8::c";
const CLIENT_LL = "fe80::c";
const ME_LL = linkLocalOf(OUT_MAC);
const OTHER_MAC = "02:cc:00:00:00:99";

async function engine(): Promise<Engine> {
  const e = await director();
  e.setInterfaceIpv6(0, ip6Words(ME), 64);
  return e;
}

/** One frame on ifindex: the frames the engine sent and the one counter (drop, forwarded,
 *  consumed, queued) the frame ended in; checks RX = sum of those. */
function send(e: Engine, frame: Uint8Array, ifindex = 0): { out: { ifindex: number; frame: Uint8Array }[]; counter: string } {
  const before = e.counters();
  e.loadFrame(0, frame, ifindex);
  const out = e.txFrames(e.process(1, 1000));
  const after = e.counters();
  const changed = Object.keys(after).filter((k) => (k.startsWith("drop_") || ["forwarded", "consumed", "queued"].includes(k)) && after[k] !== before[k]);
  expect(changed, "exactly one counter").toHaveLength(1);
  expect(after[changed[0]] - before[changed[0]]).toBe(1n);
  let ends = after.forwarded + after.consumed + after.queued;
  for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) ends += e.counter(i);
  expect(ends).toBe(after.rx_frames);
  return { out, counter: changed[0] };
}

const hex = (b: ArrayLike<number>) => Buffer.from(b as Uint8Array).toString("hex");

/** A frame from the client to us on the outside link. */
function fromClient(ipPacket: number[], dstMac = OUT_MAC, srcMac = CLIENT_MAC): Uint8Array {
  return eth(dstMac, srcMac, 0x86dd, ipPacket);
}
const ns = (o: { src?: string; dst?: string; target?: string; sll?: string; hop?: number; code?: number; body?: number[] }) => {
  const src = o.src ?? CLIENT6;
  const dst = o.dst ?? ME;
  return ipv6({ src, dst, nextHeader: NH.ICMPV6, hopLimit: o.hop ?? 255 }, icmpv6(src, dst, 135, o.code ?? 0, o.body ?? nsBody(o.target ?? ME, o.sll)));
};
const na = (o: { src?: string; dst?: string; target: string; flags: number; tll?: string; hop?: number }) => {
  const src = o.src ?? CLIENT6;
  const dst = o.dst ?? ALL_NODES;
  return ipv6({ src, dst, nextHeader: NH.ICMPV6, hopLimit: o.hop ?? 255 }, icmpv6(src, dst, 136, 0, naBody(o.flags, o.target, o.tll)));
};
const echo = (src: string, dst: string, ext: (icmp: number[]) => { nh: number; bytes: number[] } = (m) => ({ nh: NH.ICMPV6, bytes: m }), o: { hop?: number; tc?: number } = {}) => {
  const m = icmpv6(src, dst, 128, 0, echoBody(0x1234, 7, [1, 2, 3, 4, 5, 6, 7, 8]));
  const { nh, bytes } = ext(m);
  return ipv6({ src, dst, nextHeader: nh, hopLimit: o.hop ?? 64, trafficClass: o.tc }, bytes);
};
/** The advertisement the engine owes: from target to dst, hop limit 255, with our MAC in a target link-layer option. */
const expectedNa = (dstMac: string, dst: string, target: string, flags: number, srcMac = OUT_MAC) =>
  hex(eth(dstMac, srcMac, 0x86dd, ipv6({ src: target, dst, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(target, dst, 136, 0, naBody(flags, target, srcMac)))));

describe("IPv6 addresses of an interface", () => {
  it("a link-local address from the MAC by modified EUI-64 (Linux addr_gen_mode eui64), then the configured global one", async () => {
    const e = await engine();
    // 02:00:00:00:00:01 -> interface identifier 00:00:00:ff:fe:00:00:01 (U/L bit flipped).
    expect(ip6Text(ip6(ME_LL))).toBe("fe80:0:0:0:0:ff:fe00:1");
    expect(e.interfaceIpv6(0).map((a) => [ip6Text(Buffer.from(Uint32Array.from(a.address).buffer)), a.prefixLen]))
      .toEqual([["fe80:0:0:0:0:ff:fe00:1", 64], ["2001:db8:0:0:0:0:0:1", 64]]);
    expect(e.interfaceIpv6(1).map((a) => ip6Text(Buffer.from(Uint32Array.from(a.address).buffer)))).toEqual(["fe80:0:0:0:0:ff:fe00:101"]);
  });

  it("three global addresses per interface; a fourth is refused; multicast, ::, ::1 and /129 are refused; a configured link-local replaces the EUI-64 one until deleted", async () => {
    const e = await engine();
    e.setInterfaceIpv6(0, ip6Words("2001:db8:1::1"), 64);
    e.setInterfaceIpv6(0, ip6Words("2001:db8:2::1"), 48);
    e.setInterfaceIpv6(0, ip6Words("2001:db8:2::1"), 64); // the same address again: updated in place
    expect(() => e.setInterfaceIpv6(0, ip6Words("2001:db8:3::1"), 64)).toThrow(/holds 3 global IPv6 addresses already/);
    for (const bad of ["ff02::1", "::", "::1"]) expect(() => e.setInterfaceIpv6(1, ip6Words(bad), 64), bad).toThrow(/interface 1: IPv6 address/);
    expect(() => e.setInterfaceIpv6(1, ip6Words("2001:db8::2"), 129)).toThrow(/interface 1: IPv6 address/);
    expect(() => e.setInterfaceIpv6(7, ip6Words("2001:db8::2"), 64)).toThrow(/interface 7: IPv6 address/);
    expect(e.interfaceIpv6(0).map((a) => a.prefixLen)).toEqual([64, 64, 64, 64]);
    e.setInterfaceIpv6(0, ip6Words("fe80::1"), 64);
    expect(send(e, fromClient(ns({ src: CLIENT_LL, dst: "fe80::1", target: "fe80::1", sll: CLIENT_MAC }))).counter).toBe("consumed");
    expect(send(e, fromClient(ns({ src: CLIENT_LL, dst: ME_LL, target: ME_LL, sll: CLIENT_MAC }))).counter).toBe("drop_not_for_us");
    e.deleteInterfaceIpv6(0, ip6Words("fe80::1"));
    e.deleteInterfaceIpv6(0, ip6Words("2001:db8:1::1"));
    expect(() => e.deleteInterfaceIpv6(0, ip6Words("2001:db8:1::1"))).toThrow(/not found|NOT_FOUND|no such/i);
    expect(send(e, fromClient(ns({ src: CLIENT_LL, dst: ME_LL, target: ME_LL, sll: CLIENT_MAC }))).counter).toBe("consumed");
  });
});

describe("Neighbour Discovery (RFC 4861)", () => {
  it("a unicast solicitation with a source link-layer option: an advertisement to that MAC, Solicited and Override set, Router clear", async () => {
    const e = await engine();
    const r = send(e, fromClient(ns({ sll: "02:cc:00:00:00:77" })));
    expect(r.counter).toBe("consumed");
    expect(r.out.map((o) => [o.ifindex, hex(o.frame)])).toEqual([[0, expectedNa("02:cc:00:00:00:77", CLIENT6, ME, NA_S | NA_O)]]);
    const d = decodeIcmpv6(r.out[0].frame);
    expect([d.type, d.code, d.hopLimit, d.body[0] & NA_R]).toEqual([136, 0, 255, 0]);
    expect(e.counters().neighbour_adverts_sent).toBe(1n);
  });

  it("a solicitation to the solicited-node group (33:33:ff:00:00:01, ff02::1:ff00:1): the same advertisement, unicast back", async () => {
    const e = await engine();
    const group = solicitedNode(ME);
    expect([group, multicastMac(group)]).toEqual(["ff02::1:ff00:1", "33:33:ff:00:00:01"]);
    const r = send(e, fromClient(ns({ dst: group, sll: CLIENT_MAC }), multicastMac(group)));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedNa(CLIENT_MAC, CLIENT6, ME, NA_S | NA_O)]);
    decodeIcmpv6(r.out[0].frame);
  });

  it("a unicast solicitation without a link-layer option (reachability probe): answered to the frame's source MAC", async () => {
    const e = await engine();
    const r = send(e, fromClient(ns({}), OUT_MAC, OTHER_MAC));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedNa(OTHER_MAC, CLIENT6, ME, NA_S | NA_O)]);
  });

  it("duplicate address detection (from ::, to the solicited-node group): defended to all-nodes without the Solicited flag (7.2.4)", async () => {
    const e = await engine();
    const group = solicitedNode(ME);
    const r = send(e, fromClient(ns({ src: "::", dst: group }), multicastMac(group)));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedNa(ALL_NODES_MAC, ALL_NODES, ME, NA_O)]);
    const d = decodeIcmpv6(r.out[0].frame);
    expect([d.dst, d.dstMac]).toEqual(["ff02:0:0:0:0:0:0:1", ALL_NODES_MAC]);
  });

  it("the link-local address, solicited from a link-local client by its group, on a VLAN-tagged frame too", async () => {
    const e = await engine();
    const group = solicitedNode(ME_LL);
    const r = send(e, fromClient(ns({ src: CLIENT_LL, dst: group, target: ME_LL, sll: CLIENT_MAC }), multicastMac(group)));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedNa(CLIENT_MAC, CLIENT_LL, ME_LL, NA_S | NA_O)]);
    const tagged = eth(multicastMac(group), CLIENT_MAC, 0x86dd, ns({ src: CLIENT_LL, dst: group, target: ME_LL, sll: CLIENT_MAC }), 42);
    const t = send(e, tagged);
    expect(t.counter).toBe("consumed");
    const want = Buffer.from(expectedNa(CLIENT_MAC, CLIENT_LL, ME_LL, NA_S | NA_O), "hex");
    expect(hex(t.out[0].frame)).toBe(hex([...want.subarray(0, 12), 0x81, 0x00, 0, 42, ...want.subarray(12)]));
  });

  it("the inside interface answers for its own link-local address only", async () => {
    const e = await engine();
    const inLl = linkLocalOf(IN_MAC);
    const r = send(e, fromClient(ns({ src: CLIENT_LL, dst: inLl, target: inLl, sll: CLIENT_MAC }), IN_MAC), 1);
    expect(r.out.map((o) => [o.ifindex, hex(o.frame)])).toEqual([[1, expectedNa(CLIENT_MAC, CLIENT_LL, inLl, NA_S | NA_O, IN_MAC)]]);
    // ndisc_recv_ns: the target must be on the interface the solicitation came in on.
    expect(send(e, fromClient(ns({ target: ME, dst: inLl, src: CLIENT_LL }), IN_MAC), 1).counter).toBe("drop_ndp_target_not_ours");
  });

  it("advertisements: for an address of ours (a forged claim) and unsolicited ones are counted and change nothing", async () => {
    const e = await engine();
    expect(send(e, fromClient(na({ target: ME, flags: NA_O, tll: OTHER_MAC }), ALL_NODES_MAC)).counter).toBe("drop_ndp_na_for_our_address");
    expect(send(e, fromClient(na({ target: CLIENT6, flags: NA_O, tll: CLIENT_MAC }), ALL_NODES_MAC)).counter).toBe("drop_ndp_na_unsolicited");
    expect(send(e, fromClient(na({ target: CLIENT6, flags: NA_S | NA_O, tll: CLIENT_MAC, dst: ME }))).counter).toBe("drop_ndp_na_unsolicited");
    // Still ours: the next solicitation is answered with our MAC.
    expect(send(e, fromClient(ns({ sll: CLIENT_MAC }))).out.map((o) => hex(o.frame))).toEqual([expectedNa(CLIENT_MAC, CLIENT6, ME, NA_S | NA_O)]);
  });
});

describe("ICMPv6 echo (RFC 4443 4.2)", () => {
  const expectedEcho = (from: string, to: string, tc = 0) =>
    hex(eth(CLIENT_MAC, OUT_MAC, 0x86dd, ipv6({ src: from, dst: to, nextHeader: NH.ICMPV6, hopLimit: 64, trafficClass: tc },
      icmpv6(from, to, 129, 0, echoBody(0x1234, 7, [1, 2, 3, 4, 5, 6, 7, 8])))));

  it("to the global address: a reply from it, hop limit 64, traffic class kept, byte for byte", async () => {
    const e = await engine();
    const r = send(e, fromClient(echo(CLIENT6, ME, undefined, { hop: 3, tc: 0xb8 })));
    expect(r.counter).toBe("consumed");
    expect(r.out.map((o) => [o.ifindex, hex(o.frame)])).toEqual([[0, expectedEcho(ME, CLIENT6, 0xb8)]]);
    expect(decodeIcmpv6(r.out[0].frame).type).toBe(129);
  });

  it("to the link-local address", async () => {
    const e = await engine();
    const r = send(e, fromClient(echo(CLIENT_LL, ME_LL)));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedEcho(ME_LL, CLIENT_LL)]);
  });

  it("behind hop-by-hop and destination options (PadN, Router Alert, an option to skip): accepted; the reply carries no extension header", async () => {
    const e = await engine();
    const chain = (m: number[]) => ({ nh: NH.HOP_BY_HOP, bytes: [...optionsHeader(NH.DEST_OPTS, [5, 2, 0, 0]), ...optionsHeader(NH.ICMPV6, [0x1e, 2, 0xaa, 0xbb]), ...m] });
    const r = send(e, fromClient(echo(CLIENT6, ME, chain)));
    expect(r.out.map((o) => hex(o.frame))).toEqual([expectedEcho(ME, CLIENT6)]);
  });

  it("behind a routing header with no segments left (type 4) and an atomic fragment (RFC 6946): accepted", async () => {
    const e = await engine();
    const rh = (m: number[]) => ({ nh: NH.ROUTING, bytes: [...routingHeader(NH.ICMPV6, 4, 0), ...m] });
    expect(send(e, fromClient(echo(CLIENT6, ME, rh))).out.map((o) => hex(o.frame))).toEqual([expectedEcho(ME, CLIENT6)]);
    const atomic = (m: number[]) => ({ nh: NH.FRAGMENT, bytes: [...fragmentHeader(NH.ICMPV6, 0, false), ...m] });
    expect(send(e, fromClient(echo(CLIENT6, ME, atomic))).out.map((o) => hex(o.frame))).toEqual([expectedEcho(ME, CLIENT6)]);
  });

  it("seven destination options headers in a row (within the bound of 8): accepted", async () => {
    const e = await engine();
    const seven = (m: number[]) => ({ nh: NH.DEST_OPTS, bytes: [...Array.from({ length: 7 }, (_, i) => optionsHeader(i === 6 ? NH.ICMPV6 : NH.DEST_OPTS)).flat(), ...m] });
    expect(send(e, fromClient(echo(CLIENT6, ME, seven))).counter).toBe("consumed");
  });
});

describe("every IPv6 drop reason", () => {
  const nsTo = (body: number[], o: { src?: string; dst?: string; hop?: number; code?: number } = {}) => ns({ ...o, body });
  const withExt = (nh: number, ext: number[]) => echo(CLIENT6, ME, (m) => ({ nh, bytes: [...ext, ...m] }));
  const deep = (n: number) => withExt(NH.DEST_OPTS, Array.from({ length: n }, (_, i) => optionsHeader(i === n - 1 ? NH.ICMPV6 : NH.DEST_OPTS)).flat());
  const cases: [string, string, () => Uint8Array][] = [
    ["a 39-byte IPv6 header", "drop_ipv6_truncated", () => fromClient(echo(CLIENT6, ME).slice(0, 39))],
    ["version 4 under ethertype 0x86dd", "drop_ipv6_bad_version", () => { const p = echo(CLIENT6, ME); p[0] = 0x40; return fromClient(p); }],
    ["a payload length 1 byte past the frame", "drop_ipv6_bad_length", () => { const p = echo(CLIENT6, ME); p[5] += 1; return fromClient(p); }],
    ["a multicast source", "drop_ipv6_bad_address", () => fromClient(echo("ff02::1", ME))],
    ["the loopback source", "drop_ipv6_bad_address", () => fromClient(echo("::1", ME))],
    ["the loopback destination", "drop_ipv6_bad_address", () => fromClient(echo(CLIENT6, "::1"))],
    ["hop-by-hop options after destination options (RFC 8200 4.1)", "drop_ipv6_ext_malformed", () => fromClient(withExt(NH.DEST_OPTS, [...optionsHeader(NH.HOP_BY_HOP), ...optionsHeader(NH.ICMPV6)]))],
    ["an extension header whose length runs past the payload", "drop_ipv6_ext_malformed", () => { const h = optionsHeader(NH.ICMPV6); h[1] = 40; return fromClient(withExt(NH.DEST_OPTS, h)); }],
    ["an extension header cut short by the payload length", "drop_ipv6_ext_malformed", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.DEST_OPTS }, [NH.ICMPV6, 0, 1, 2]))],
    ["an option running past its header", "drop_ipv6_ext_malformed", () => fromClient(withExt(NH.DEST_OPTS, [NH.ICMPV6, 0, 1, 9, 0, 0, 0, 0]))],
    ["nine destination options headers (bound 8)", "drop_ipv6_ext_chain_too_long", () => fromClient(deep(9))],
    ["a 100-deep chain", "drop_ipv6_ext_chain_too_long", () => fromClient(deep(100))],
    ["a type 0 routing header with segments left (RFC 5095)", "drop_ipv6_routing_type0", () => fromClient(withExt(NH.ROUTING, routingHeader(NH.ICMPV6, 0, 1)))],
    ["a type 0 routing header without segments left", "drop_ipv6_routing_type0", () => fromClient(withExt(NH.ROUTING, routingHeader(NH.ICMPV6, 0, 0)))],
    ["a type 2 routing header with a segment left", "drop_ipv6_source_routed", () => fromClient(withExt(NH.ROUTING, routingHeader(NH.ICMPV6, 2, 1)))],
    ["a first fragment (M set)", "drop_ipv6_fragment", () => fromClient(withExt(NH.FRAGMENT, fragmentHeader(NH.ICMPV6, 0, true)))],
    ["a later fragment", "drop_ipv6_fragment", () => fromClient(withExt(NH.FRAGMENT, fragmentHeader(NH.ICMPV6, 185, false)))],
    ["a destination option of type 0x80 (discard if unknown)", "drop_ipv6_unknown_option", () => fromClient(withExt(NH.DEST_OPTS, optionsHeader(NH.ICMPV6, [0x80, 2, 0, 0])))],
    ["a jumbo payload option (0xc2) in hop-by-hop", "drop_ipv6_unknown_option", () => fromClient(withExt(NH.HOP_BY_HOP, optionsHeader(NH.ICMPV6, [0xc2, 4, 0, 1, 0, 0])))],
    ["mDNS to 33:33:00:00:00:fb", "drop_ipv6_multicast_not_for_us", () => fromClient(ipv6({ src: CLIENT_LL, dst: "ff02::fb", nextHeader: NH.UDP }, [0x14, 0xe9, 0x14, 0xe9, 0, 8, 0, 0]), "33:33:00:00:00:fb")],
    ["a solicitation to another address's group", "drop_ipv6_multicast_not_for_us", () => fromClient(ns({ dst: solicitedNode("2001:db8::99"), target: "2001:db8::99" }), multicastMac(solicitedNode("2001:db8::99")))],
    ["all-routers (ff02::2) inside an all-nodes frame", "drop_ipv6_multicast_not_for_us", () => fromClient(ns({ dst: "ff02::2" }), ALL_NODES_MAC)],
    ["IPv6 to the broadcast MAC", "drop_ipv6_multicast_not_for_us", () => fromClient(echo(CLIENT6, ME), "ff:ff:ff:ff:ff:ff")],
    ["a unicast address not ours", "drop_not_for_us", () => fromClient(echo(CLIENT6, "2001:db8::99"))],
    ["TCP to our address (no IPv6 services yet)", "drop_no_service", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.TCP }, new Array(20).fill(0)))],
    ["no next header (59) to our address", "drop_unsupported_protocol", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.NONE }, []))],
    ["ICMPv6 of 4 bytes", "drop_icmpv6_malformed", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.ICMPV6 }, icmpv6(CLIENT6, ME, 128, 0, [])))],
    ["an echo request with a bad checksum", "drop_icmpv6_bad_checksum", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.ICMPV6 }, icmpv6(CLIENT6, ME, 128, 0, echoBody(1, 1), 0x1234)))],
    ["an echo reply to us", "drop_icmpv6_unhandled", () => fromClient(ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.ICMPV6 }, icmpv6(CLIENT6, ME, 129, 0, echoBody(1, 1))))],
    ["an MLD query to all-nodes behind a Router Alert", "drop_icmpv6_unhandled", () => fromClient(ipv6({ src: CLIENT_LL, dst: ALL_NODES, nextHeader: NH.HOP_BY_HOP, hopLimit: 1 },
      [...optionsHeader(NH.ICMPV6, [5, 2, 0, 0]), ...icmpv6(CLIENT_LL, ALL_NODES, 130, 0, [0, 0, 0, 0, ...new Array(16).fill(0)])]), ALL_NODES_MAC)],
    ["an echo request to all-nodes", "drop_icmpv6_unhandled", () => fromClient(echo(CLIENT6, ALL_NODES), ALL_NODES_MAC)],
    ["a solicitation with hop limit 64 (from off the link)", "drop_ndp_bad_hop_limit", () => fromClient(ns({ hop: 64, sll: CLIENT_MAC }))],
    ["an advertisement with hop limit 254", "drop_ndp_bad_hop_limit", () => fromClient(na({ target: CLIENT6, flags: NA_O, hop: 254 }), ALL_NODES_MAC)],
    ["a solicitation with code 1", "drop_ndp_bad_code", () => fromClient(ns({ code: 1 }))],
    ["a solicitation of 20 bytes", "drop_ndp_malformed", () => fromClient(nsTo(nsBody(ME).slice(0, 16)))],
    ["a solicitation for a multicast target", "drop_ndp_malformed", () => fromClient(ns({ target: "ff02::1" }))],
    ["an option of length 0", "drop_ndp_bad_option", () => fromClient(nsTo([...nsBody(ME), 1, 0, 0, 0, 0, 0, 0, 0]))],
    ["an option running past the message", "drop_ndp_bad_option", () => fromClient(nsTo([...nsBody(ME), 1, 2, 0, 0, 0, 0, 0, 0]))],
    ["a DAD probe with a source link-layer option (7.1.1)", "drop_ndp_bad_unspecified_source", () => fromClient(ns({ src: "::", dst: solicitedNode(ME), sll: CLIENT_MAC }), multicastMac(solicitedNode(ME)))],
    ["a DAD probe to a unicast address (7.1.1)", "drop_ndp_bad_unspecified_source", () => fromClient(ns({ src: "::" }))],
    ["an advertisement to all-nodes with the Solicited flag (7.1.2)", "drop_ndp_solicited_to_multicast", () => fromClient(na({ target: CLIENT6, flags: NA_S | NA_O }), ALL_NODES_MAC)],
    ["a solicitation for an address not ours", "drop_ndp_target_not_ours", () => fromClient(ns({ target: "2001:db8::99", sll: CLIENT_MAC }))],
    ["an advertisement for an address of ours", "drop_ndp_na_for_our_address", () => fromClient(na({ target: ME, flags: NA_O, tll: OTHER_MAC }), ALL_NODES_MAC)],
    ["an advertisement nobody asked for", "drop_ndp_na_unsolicited", () => fromClient(na({ target: CLIENT6, flags: NA_O, tll: CLIENT_MAC }), ALL_NODES_MAC)],
  ];

  for (const [what, counter, build] of cases) {
    it(`${what}: ${counter}, nothing sent`, async () => {
      const e = await engine();
      const r = send(e, build());
      expect(r.counter).toBe(counter);
      expect(r.out).toEqual([]);
    });
  }

  it("covers every IPv6, ICMPv6 and NDP drop reason", () => {
    const named = Object.keys(Counter).filter((k) => /^DROP_(IPV6|ICMPV6|NDP)_/.test(k)).map((k) => k.toLowerCase()).sort();
    expect([...new Set(cases.map((c) => c[1]).filter((c) => /^drop_(ipv6|icmpv6|ndp)_/.test(c)))].sort()).toEqual(named);
  });

  it("an IPv6 frame that is not ours at the Ethernet layer stays drop_other_host", async () => {
    const e = await engine();
    expect(send(e, fromClient(echo(CLIENT6, ME), "02:00:00:00:00:99")).counter).toBe("drop_other_host");
  });
});

describe("the IPv6 neighbour table (RFC 4861 7.2.3, 7.2.5)", () => {
  const C = ip6Words(CLIENT6);

  it("a solicitation with a source link-layer option makes the solicitor's entry STALE with that MAC; the same MAC again keeps its state, a new one is taken", async () => {
    const e = await engine();
    expect(e.neighbourV6(C)).toBeUndefined();
    send(e, fromClient(ns({ sll: CLIENT_MAC })));
    expect(e.neighbourV6(C)).toEqual({ mac: CLIENT_MAC, state: "stale", ifindex: 0 });
    send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: NA_S | NA_O, tll: CLIENT_MAC })));
    expect(e.neighbourV6(C)?.state).toBe("reachable");
    send(e, fromClient(ns({ sll: CLIENT_MAC })));
    expect(e.neighbourV6(C)?.state).toBe("reachable");
    send(e, fromClient(ns({ sll: OTHER_MAC })));
    expect(e.neighbourV6(C)).toEqual({ mac: OTHER_MAC, state: "stale", ifindex: 0 });
    expect(e.neighbourV6Count).toBe(1);
  });

  it("advertisements: Solicited confirms (reachable); Override takes a new MAC; without Override a new MAC is refused and a reachable entry turns stale", async () => {
    const e = await engine();
    send(e, fromClient(ns({ sll: CLIENT_MAC })));
    expect(send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: NA_S, tll: OTHER_MAC }))).counter).toBe("consumed");
    expect(e.neighbourV6(C)).toEqual({ mac: CLIENT_MAC, state: "stale", ifindex: 0 });
    send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: NA_S })));
    expect(e.neighbourV6(C)).toEqual({ mac: CLIENT_MAC, state: "reachable", ifindex: 0 });
    send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: 0, tll: OTHER_MAC })));
    expect(e.neighbourV6(C)).toEqual({ mac: CLIENT_MAC, state: "stale", ifindex: 0 });
    send(e, fromClient(na({ target: CLIENT6, flags: NA_O, tll: OTHER_MAC }), ALL_NODES_MAC));
    expect(e.neighbourV6(C)).toEqual({ mac: OTHER_MAC, state: "stale", ifindex: 0 });
    send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: NA_S | NA_O, tll: CLIENT_MAC })));
    expect(e.neighbourV6(C)).toEqual({ mac: CLIENT_MAC, state: "reachable", ifindex: 0 });
  });

  it("a reachable entry reads stale after 30 s without confirmation (REACHABLE_MS, as the IPv4 table)", async () => {
    const e = await engine();
    send(e, fromClient(ns({ sll: CLIENT_MAC })));
    send(e, fromClient(na({ target: CLIENT6, dst: ME, flags: NA_S | NA_O })));
    expect(e.neighbourV6(C)?.state).toBe("reachable");
    e.tick(1000 + 30_001);
    expect(e.neighbourV6(C)?.state).toBe("stale");
  });

  it("unsolicited and forged advertisements plant nothing (Linux ignores them for unknown neighbours); DAD probes learn nothing", async () => {
    const e = await engine();
    for (let i = 0; i < 1000; i++) {
      const target = `2001:db8::${(0x1000 + i).toString(16)}`;
      expect(send(e, fromClient(na({ target, flags: NA_O, tll: OTHER_MAC }), ALL_NODES_MAC)).counter).toBe("drop_ndp_na_unsolicited");
    }
    send(e, fromClient(ns({ src: "::", dst: solicitedNode(ME) }), multicastMac(solicitedNode(ME))));
    expect(e.neighbourV6Count).toBe(0);
  });

  it("a flood of solicitations from 3,000 sources: every one answered, the table bounded at its 256 entries", async () => {
    const e = await engine();
    for (let i = 0; i < 3000; i++) {
      const src = `2001:db8::${(i >> 8).toString(16)}:${(i & 255).toString(16)}:${i.toString(16)}`;
      const r = send(e, fromClient(ns({ src, sll: CLIENT_MAC })));
      expect(r.out).toHaveLength(1);
    }
    expect(e.neighbourV6Count).toBeGreaterThan(200);
    expect(e.neighbourV6Count).toBeLessThanOrEqual(256);
    expect(e.counters().neighbour_adverts_sent).toBe(3000n);
  });
});

describe("wire/ipv6.ts, wire/ndp.ts and the IPv6 pseudo-header sum, on their own (wasm/wiretest.wasm)", () => {
  it("the pseudo-header checksum agrees with an independent sum: odd and even lengths, and an upper-layer length past 65,535 (its high word counts)", () => {
    const { w, put } = loadWire();
    let seed = 0x2545f491;
    const rnd = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) & 255; };
    for (const len of [0, 1, 7, 8, 63, 64, 1279, 70001]) {
      const msg = Array.from({ length: len }, rnd);
      const src = Array.from({ length: 16 }, rnd);
      const dst = Array.from({ length: 16 }, rnd);
      const m = put(msg, 0);
      const s = put(src, 100_000);
      const d = put(dst, 100_016);
      // The engine's value is as store<u16> writes it: the wire's big-endian value byte-swapped.
      const c = w.l4Checksum6(s, d, 58, m, len);
      expect(((c >> 8) | (c << 8)) & 0xffff, `length ${len}`).toBe(inetChecksum(msg, pseudoSum6(src, dst, 58, len)));
    }
  });

  it("the gate: the upper layer after hop-by-hop and destination options, its offset, and the header emitted back", () => {
    const { w, put, get } = loadWire();
    const pkt = ipv6({ src: CLIENT6, dst: ME, nextHeader: NH.HOP_BY_HOP }, [...optionsHeader(NH.DEST_OPTS, [5, 2, 0, 0]), ...optionsHeader(NH.ICMPV6), 128, 0, 0, 0, 0, 0, 0, 0]);
    const p = put(pkt);
    expect([w.ipv6Check(p, pkt.length), w.ipv6UpperProto(), w.ipv6UpperOffset()]).toEqual([0, 58, 56]);
    expect(w.ipv6Check(p, pkt.length - 1)).toBe(Counter.DROP_IPV6_BAD_LENGTH);
    const out = put([], 2048);
    w.ipv6Emit(out, pkt.length - 40, NH.HOP_BY_HOP, 64, p + 8, p + 24);
    expect(get(out, 40)).toEqual(pkt.slice(0, 40));
  });

  it("an advertisement emitted into a 0xa5-filled buffer, then read back by ndpCheck (target link-layer option found)", () => {
    const { w, put, get } = loadWire();
    const na = put([], 0);
    const target = put(ip6(ME), 8192);
    const mac = put([2, 0, 0, 0, 0, 1], 16384);
    w.naEmit(na, NA_S | NA_O, target, mac);
    const body = naBody(NA_S | NA_O, ME, OUT_MAC);
    expect(get(na, 32)).toEqual([136, 0, 0, 0, ...body]); // the checksum zeroed, for the caller to fill
    expect(w.ndpCheck(na, 32, 255)).toBe(0);
    expect(w.ndpCheck(na, 32, 254)).toBe(Counter.DROP_NDP_BAD_HOP_LIMIT);
    expect(w.ndpCheck(na, 31, 255)).toBe(Counter.DROP_NDP_BAD_OPTION);
  });
});
