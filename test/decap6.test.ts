// `wasmvs decap` and IPv6 (issue 20): the tunnel packets IPVS's TUN method sends over
// IPv6 — IPv6 in IPv6 (next header 41), IPv4 in IPv6 (next header 4) and IPv6 in IPv4
// (protocol 41) — unwrapped byte for byte with the checks of the IPIP path (outer header
// valid and to a tunnel address, no outer fragment, inner packet well-formed and the whole
// payload, RFC 6040's ECN rule), each drop under its named reason; IPIP itself unchanged.

import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { loadDecapsulator } from "../host/engine/node.js";
import { Decapsulator, DecapPort } from "../host/engine/decap.js";
import { Abi, Region, RxDesc, TxDesc } from "../host/engine/abi.js";
import { eth, inetChecksum, ipv4, udp } from "./helpers/packet.js";
import { fragmentHeader, ip6, ipv6, NH, optionsHeader, pseudoSum6 } from "./helpers/packet6.js";

const DIRECTOR_MAC = "02:00:00:00:01:01";
const SERVER_MAC = "02:00:00:00:02:11";
const SERVER4 = "10.1.0.11";
const SERVER6 = "2001:db8:1::11";
const DIRECTOR4 = "10.1.0.1";
const DIRECTOR6 = "2001:db8:1::1";
const CLIENT6 = "2001:db8::2";
const VIP6 = "2001:db8::100";
const CLIENT4 = "10.0.0.2";
const VIP4 = "10.0.0.100";
const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd;

/** A UDP datagram over IPv6 with its checksum (RFC 8200 8.1). */
function udp6(src: string, dst: string, sport: number, dport: number, payload: number[], trafficClass = 0): number[] {
  const seg = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 8 + payload.length, 0, 0, ...payload];
  const c = inetChecksum(seg, pseudoSum6(ip6(src), ip6(dst), NH.UDP, seg.length)) || 0xffff;
  seg[6] = c >> 8;
  seg[7] = c & 0xff;
  return ipv6({ src, dst, nextHeader: NH.UDP, trafficClass, hopLimit: 63 }, seg);
}
const inner6 = (tc = 0) => udp6(CLIENT6, VIP6, 40000, 53, [1, 2, 3, 4, 5], tc);
const inner4 = (tos = 0, badChecksum = false) =>
  ipv4({ src: CLIENT4, dst: VIP4, proto: 17, tos, ttl: 63, badChecksum, payload: udp({ src: CLIENT4, dst: VIP4, sport: 40000, dport: 53, payload: [9, 8, 7] }) });
/** An outer IPv6 header as ip_vs_tunnel_xmit_v6 writes it: director to server, the tunnel protocol right after. */
const outer6 = (nextHeader: number, inner: number[], o: { tc?: number; payloadLength?: number; version?: number; dst?: string } = {}) =>
  ipv6({ src: DIRECTOR6, dst: o.dst ?? SERVER6, nextHeader, hopLimit: 64, trafficClass: o.tc, payloadLength: o.payloadLength, version: o.version }, inner);
const outer4 = (proto: number, inner: number[], o: { tos?: number; mf?: boolean } = {}) =>
  ipv4({ src: DIRECTOR4, dst: SERVER4, proto, tos: o.tos, mf: o.mf, df: true, payload: inner });
const toServer = (type: number, packet: number[], vlan?: number) => eth(SERVER_MAC, DIRECTOR_MAC, type, packet, vlan);

describe("the decapsulator over IPv6", () => {
  let d: Decapsulator;
  beforeAll(async () => {
    d = await loadDecapsulator(8, 2048 + Abi.HEADROOM);
    d.addTunnelAddress(SERVER4);
    d.addTunnelAddress(SERVER6);
  });

  /** One frame in on port; the frames out (port, bytes) and how each counter moved. */
  function run(frame: Uint8Array, port = DecapPort.UPLINK): { out: { port: number; bytes: Uint8Array }[]; moved: Record<string, number> } {
    const before = d.counters();
    const mem = new Uint8Array(d.memory.buffer);
    const dv = new DataView(d.memory.buffer);
    const slots = d.regionOffset(Region.RX_SLOTS), desc = d.regionOffset(Region.RX_DESC), txDesc = d.regionOffset(Region.TX_DESC);
    mem.set(frame, slots + Abi.HEADROOM);
    dv.setUint32(desc + RxDesc.LEN, frame.length, true);
    dv.setUint32(desc + RxDesc.IFINDEX, port, true);
    const n = d.process(1, 1000);
    const out = [];
    for (let k = 0; k < n; k++) {
      const t = txDesc + k * Abi.DESC_SIZE;
      const ptr = dv.getUint32(t + TxDesc.PTR, true), len = dv.getUint32(t + TxDesc.LEN, true);
      out.push({ port: dv.getUint32(t + TxDesc.IFINDEX, true), bytes: mem.slice(ptr, ptr + len) });
    }
    const after = d.counters();
    const moved: Record<string, number> = {};
    for (const k of Object.keys(after)) if (after[k] !== before[k]) moved[k] = Number(after[k] - before[k]);
    return { out, moved };
  }
  const upOnly = (frame: Uint8Array, kind: string) => {
    const r = run(frame);
    expect(r.moved).toEqual({ rx_frames: 1, tx_frames: 1, decapsulated: 1, [kind]: 1 });
    expect(r.out.length).toBe(1);
    expect(r.out[0].port).toBe(DecapPort.STACK);
    return r.out[0].bytes;
  };
  const dropped = (frame: Uint8Array, reason: string) => {
    const r = run(frame);
    expect(r.out).toEqual([]);
    expect(r.moved).toEqual({ rx_frames: 1, [reason]: 1 });
  };

  it("IPv6 in IPv6 (next header 41): the inner packet goes up with the Ethernet header, byte for byte", () => {
    expect([...upOnly(toServer(ETH_IPV6, outer6(41, inner6())), "decapsulated_ip6ip6")]).toEqual([...toServer(ETH_IPV6, inner6())]);
  });

  it("IPv4 in IPv6 (next header 4): the frame becomes an IPv4 one (ethertype 0x0800)", () => {
    expect([...upOnly(toServer(ETH_IPV6, outer6(4, inner4())), "decapsulated_4in6")]).toEqual([...toServer(ETH_IPV4, inner4())]);
  });

  it("IPv6 in IPv4 (protocol 41): the frame becomes an IPv6 one (ethertype 0x86dd), also behind a VLAN tag", () => {
    expect([...upOnly(toServer(ETH_IPV4, outer4(41, inner6())), "decapsulated_6in4")]).toEqual([...toServer(ETH_IPV6, inner6())]);
    expect([...upOnly(toServer(ETH_IPV4, outer4(41, inner6()), 7), "decapsulated_6in4")]).toEqual([...toServer(ETH_IPV6, inner6(), 7)]);
  });

  it("IPIP as before (no per-family counter)", () => {
    const r = run(toServer(ETH_IPV4, outer4(4, inner4())));
    expect(r.moved).toEqual({ rx_frames: 1, tx_frames: 1, decapsulated: 1 });
    expect([...r.out[0].bytes]).toEqual([...toServer(ETH_IPV4, inner4())]);
  });

  it("an RFC 2473 destination options header (Tunnel Encapsulation Limit) before the tunnel protocol is stepped over", () => {
    const withLimit = ipv6({ src: DIRECTOR6, dst: SERVER6, nextHeader: NH.DEST_OPTS }, [...optionsHeader(41, [4, 1, 4]), ...inner6()]);
    expect([...upOnly(toServer(ETH_IPV6, withLimit), "decapsulated_ip6ip6")]).toEqual([...toServer(ETH_IPV6, inner6())]);
  });

  it("RFC 6040 4.2: outer CE marks an ECN-capable inner packet CE (Traffic Class, or TOS with its checksum); on a Not-ECT one it is a drop", () => {
    expect([...upOnly(toServer(ETH_IPV6, outer6(41, inner6(0x2a << 2 | 2), { tc: 3 })), "decapsulated_ip6ip6")])
      .toEqual([...toServer(ETH_IPV6, inner6(0x2a << 2 | 3))]);
    expect([...upOnly(toServer(ETH_IPV6, outer6(4, inner4(1), { tc: 3 })), "decapsulated_4in6")]).toEqual([...toServer(ETH_IPV4, inner4(3))]);
    expect([...upOnly(toServer(ETH_IPV4, outer4(41, inner6(2), { tos: 3 })), "decapsulated_6in4")]).toEqual([...toServer(ETH_IPV6, inner6(3))]);
    // Outer ECT(0) on a Not-ECT inner packet changes nothing.
    expect([...upOnly(toServer(ETH_IPV6, outer6(41, inner6(0xb8), { tc: 2 })), "decapsulated_ip6ip6")]).toEqual([...toServer(ETH_IPV6, inner6(0xb8))]);
    dropped(toServer(ETH_IPV6, outer6(41, inner6(0), { tc: 3 })), "drop_ecn");
    dropped(toServer(ETH_IPV6, outer6(4, inner4(0), { tc: 3 })), "drop_ecn");
    dropped(toServer(ETH_IPV4, outer4(41, inner6(0), { tos: 3 })), "drop_ecn");
  });

  it("drops by named reason: a bad outer header, an outer fragment, a malformed inner packet", () => {
    // The outer payload length claims more than the frame holds; an IPv4 header under the IPv6 ethertype.
    dropped(toServer(ETH_IPV6, outer6(41, inner6(), { payloadLength: inner6().length + 8 })), "drop_bad_outer");
    dropped(toServer(ETH_IPV6, outer6(41, inner6(), { version: 4 })), "drop_bad_outer");
    // A fragment header in front of the tunnel protocol; an IPv4 outer fragment of 6in4.
    dropped(toServer(ETH_IPV6, ipv6({ src: DIRECTOR6, dst: SERVER6, nextHeader: NH.FRAGMENT }, [...fragmentHeader(41, 0, true), ...inner6()])), "drop_outer_fragment");
    dropped(toServer(ETH_IPV4, outer4(41, inner6(), { mf: true })), "drop_outer_fragment");
    // Inner IPv6 whose payload length lies, or that is not IPv6; inner IPv4 with a bad checksum or shorter than the payload.
    const lying = inner6();
    lying[5] += 4;
    dropped(toServer(ETH_IPV6, outer6(41, lying)), "drop_bad_inner");
    dropped(toServer(ETH_IPV6, outer6(41, inner4())), "drop_bad_inner");
    dropped(toServer(ETH_IPV4, outer4(41, inner4())), "drop_bad_inner");
    dropped(toServer(ETH_IPV6, outer6(4, inner4(0, true))), "drop_bad_inner");
    dropped(toServer(ETH_IPV6, outer6(4, [...inner4(), 0, 0, 0, 0])), "drop_bad_inner");
    dropped(toServer(ETH_IPV6, outer6(4, inner6())), "drop_bad_inner");
  });

  it("passes unchanged what is not a tunnel packet to a tunnel address, both ways", () => {
    const elsewhere = toServer(ETH_IPV6, outer6(41, inner6(), { dst: "2001:db8:1::12" }));
    const plain = toServer(ETH_IPV6, inner6());
    const toUs = toServer(ETH_IPV6, udp6(DIRECTOR6, SERVER6, 1, 2, [0]));
    const fragmentOfUdp = toServer(ETH_IPV6, ipv6({ src: DIRECTOR6, dst: SERVER6, nextHeader: NH.FRAGMENT }, [...fragmentHeader(NH.UDP, 0, true), 0, 1, 0, 2, 0, 16, 0, 0]));
    for (const f of [elsewhere, plain, toUs, fragmentOfUdp]) {
      const r = run(f);
      expect(r.moved).toEqual({ rx_frames: 1, tx_frames: 1, passed_up: 1 });
      expect([...r.out[0].bytes]).toEqual([...f]);
    }
    const r = run(toServer(ETH_IPV6, outer6(41, inner6())), DecapPort.STACK);
    expect(r.moved).toEqual({ rx_frames: 1, tx_frames: 1, passed_down: 1 });
    expect(r.out[0].port).toBe(DecapPort.UPLINK);
  });

  it("takes IPv6 tunnel addresses as text, and refuses what is not an address", async () => {
    const e = await loadDecapsulator(8, 2048 + Abi.HEADROOM);
    expect(() => e.addTunnelAddress("2001:db8:1::zz")).toThrow();
    for (let k = 0; k < 16; k++) e.addTunnelAddress(`2001:db8:2::${k + 1}`);
    expect(() => e.addTunnelAddress("2001:db8:2::99")).toThrow("too many tunnel addresses (at most 16 of a family): 2001:db8:2::99");
    e.addTunnelAddress("10.1.0.99");
  });
});

describe("wasmvs decap --address", () => {
  it("reads an IPv6 tunnel address, and says why one is not (before any device is touched)", () => {
    const r = spawnSync(process.execPath, ["bin/wasmvs.js", "decap", "--uplink", "wvnone1", "--stack", "wvnone2", "--address", "10.1.0.11", "--address", "2001:db8:1::1:2:3:4:5:6"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--address: not an IPv6 address: "2001:db8:1::1:2:3:4:5:6" (9 groups and "::": at most 7 with "::")');
  });
});
