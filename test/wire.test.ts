// Per header: deconstruct a hand-made packet, construct one into a 0xa5-filled buffer,
// round trip, and the RFC edge cases — against the engine's own wire/ code.
import { describe, it, expect } from "vitest";
import { loadWire } from "./helpers/wiretest.js";
import { arp, eth, icmp, inetChecksum, ipv4, tcp, udp, ip, mac, SYN, ACK } from "./helpers/packet.js";
import { ipToWire, portToWire } from "../host/engine/index.js";
import { Counter } from "../host/engine/abi.js";

const { w, put, get, mem } = loadWire();
const wire = (a: string) => ipToWire(a);

describe("checksum (RFC 1071, RFC 1624)", () => {
  it("sums the RFC 1071 section 3 example", () => {
    // Bytes 00 01 f2 03 f4 f5 f6 f7: sum 0xddf2, checksum ~0xddf2 = 0x220d.
    const p = put([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    const c = w.checksum(p, 8);
    expect(((c & 0xff) << 8) | (c >> 8)).toBe(0x220d);
  });
  it("handles odd lengths by padding with a zero byte", () => {
    const data = [1, 2, 3, 4, 5];
    const c = w.checksum(put(data), 5);
    expect(((c & 0xff) << 8) | (c >> 8)).toBe(inetChecksum(data));
  });
  it("RFC 1624 eqn. 3 gives 0x0000 and never -0 when the sum is 0xffff (section 3 example)", () => {
    // HC = 0xdd2f, m = 0x5555 -> m' = 0x3285: RFC 1624 section 4 example gives 0x0000.
    const sw = (x: number) => ((x & 0xff) << 8) | (x >> 8);
    expect(sw(w.update16(sw(0xdd2f), sw(0x5555), sw(0x3285)))).toBe(0x0000);
  });
  it("applies the UDP zero rule (RFC 768)", () => {
    expect(w.udpZeroRule(0)).toBe(0xffff);
    expect(w.udpZeroRule(0x1234)).toBe(0x1234);
  });
});

describe("ethernet", () => {
  const f = eth("02:00:00:00:00:01", "02:cc:00:00:00:02", 0x0800, [0x45]);
  it("deconstructs an untagged frame", () => {
    const p = put(f);
    expect(w.ethCheck(p, f.length)).toBe(14);
    expect(w.ethType(p, 14)).toBe(0x0008);
  });
  it("deconstructs an 802.1Q-tagged frame: type after the tag", () => {
    const t = eth("02:00:00:00:00:01", "02:cc:00:00:00:02", 0x0806, [0], 0x0064);
    const p = put(t);
    expect(w.ethCheck(p, t.length)).toBe(18);
    expect(w.ethType(p, 18)).toBe(0x0608);
  });
  it("refuses frames shorter than their header", () => {
    expect(w.ethCheck(put(f), 13)).toBe(0);
    const t = eth("02:00:00:00:00:01", "02:cc:00:00:00:02", 0x0806, [], 0x0064);
    expect(w.ethCheck(put(t), 17)).toBe(0);
  });
});

describe("arp (RFC 826)", () => {
  const req = arp(1, "02:cc:00:00:00:02", "10.0.0.2", "00:00:00:00:00:00", "10.0.0.1");
  it("accepts an Ethernet/IPv4 request and refuses other hardware or lengths", () => {
    expect(w.arpCheck(put(req), 28)).toBe(1);
    expect(w.arpCheck(put(req), 27)).toBe(0);
    expect(w.arpCheck(put([0, 6, ...req.slice(2)]), 28)).toBe(0);
    expect(w.arpCheck(put([...req.slice(0, 4), 6, 16, ...req.slice(6)]), 28)).toBe(0);
    expect(w.arpCheck(put([...req.slice(0, 6), 0, 3, ...req.slice(8)]), 28)).toBe(0);
  });
  it("constructs a reply into a 0xa5-filled buffer, byte for byte", () => {
    const macs = put([...mac("02:00:00:00:00:01"), ...mac("02:cc:00:00:00:02")], 8192);
    const p = put([], 0);
    w.arpEmit(p, 0x0200, macs, wire("10.0.0.1"), macs + 6, wire("10.0.0.2"));
    expect(get(p, 28)).toEqual(arp(2, "02:00:00:00:00:01", "10.0.0.1", "02:cc:00:00:00:02", "10.0.0.2"));
    expect(mem[p + 28]).toBe(0xa5);
  });
});

describe("ipv4 (RFC 791)", () => {
  const pkt = ipv4({ src: "10.0.0.2", dst: "10.0.0.100", proto: 17, ttl: 9, payload: [1, 2, 3, 4] });
  it("accepts a good header and names each defect", () => {
    expect(w.ipv4Check(put(pkt), pkt.length)).toBe(0);
    expect(w.ipv4Check(put(pkt), 19)).toBe(Counter.DROP_IP_TRUNCATED);
    expect(w.ipv4Check(put([0x65, ...pkt.slice(1)]), pkt.length)).toBe(Counter.DROP_IP_BAD_VERSION); // version 6
    expect(w.ipv4Check(put([0x44, ...pkt.slice(1)]), pkt.length)).toBe(Counter.DROP_IP_BAD_IHL); // IHL 4
    expect(w.ipv4Check(put([0x4f, ...pkt.slice(1)]), pkt.length)).toBe(Counter.DROP_IP_BAD_IHL); // IHL 60 > length
    const longer = [...pkt];
    longer[3] += 10;
    expect(w.ipv4Check(put(longer), pkt.length)).toBe(Counter.DROP_IP_BAD_LENGTH); // total length beyond the frame
    const bad = ipv4({ src: "10.0.0.2", dst: "10.0.0.100", proto: 17, payload: [], badChecksum: true });
    expect(w.ipv4Check(put(bad), bad.length)).toBe(Counter.DROP_IP_BAD_CHECKSUM);
  });
  it("accepts options (IHL > 5) and checks them in the checksum", () => {
    const o = ipv4({ src: "10.0.0.2", dst: "10.0.0.100", proto: 17, payload: [9], options: [0x94, 0x04, 0, 0] });
    expect(w.ipv4Check(put(o), o.length)).toBe(0);
  });
  it("tells fragments: MF or an offset", () => {
    expect(w.ipv4IsFragment(put(pkt))).toBe(0);
    expect(w.ipv4IsFragment(put(ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, payload: [], mf: true })))).toBe(1);
    expect(w.ipv4IsFragment(put(ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, payload: [], fragOffset: 3 })))).toBe(1);
    expect(w.ipv4IsFragment(put(ipv4({ src: "1.1.1.1", dst: "2.2.2.2", proto: 17, payload: [], df: true })))).toBe(0);
  });
  it("constructs a header into a 0xa5-filled buffer, byte for byte", () => {
    const p = put([]);
    w.ipv4Emit(p, 0, 24, 0x1234, 0, 9, 17, wire("10.0.0.2"), wire("10.0.0.100"));
    expect(get(p, 20)).toEqual(pkt.slice(0, 20));
    expect(mem[p + 20]).toBe(0xa5);
  });
  it("rewrites addresses and TTL keeping the header checksum right (round trip)", () => {
    const p = put(pkt);
    w.ipv4SetDst(p, wire("10.1.0.11"));
    w.ipv4SetSrc(p, wire("192.0.2.1"));
    w.ipv4DecTtl(p);
    expect(get(p, pkt.length)).toEqual(ipv4({ src: "192.0.2.1", dst: "10.1.0.11", proto: 17, ttl: 8, payload: [1, 2, 3, 4] }));
  });
});

describe("tcp and udp", () => {
  const seg = tcp({ src: "10.0.0.2", dst: "10.0.0.100", sport: 40000, dport: 80, flags: SYN | ACK, payload: [1, 2, 3] });
  it("checks the TCP data offset", () => {
    expect(w.tcpCheck(put(seg), seg.length)).toBe(1);
    expect(w.tcpCheck(put(seg), 19)).toBe(0);
    const small = [...seg];
    small[12] = 0x40; // data offset 4 words
    expect(w.tcpCheck(put(small), seg.length)).toBe(0);
    const big = [...seg];
    big[12] = 0xf0; // 60 bytes > segment
    expect(w.tcpCheck(put(big), seg.length)).toBe(0);
  });
  it("computes the TCP checksum with the pseudo-header", () => {
    const zeroed = [...seg];
    zeroed[16] = zeroed[17] = 0;
    const c = w.l4Checksum(wire("10.0.0.2"), wire("10.0.0.100"), 6, put(zeroed), seg.length);
    expect([c & 0xff, c >> 8]).toEqual([seg[16], seg[17]]);
  });
  it("rewrites the destination (NAT) equal to a full recomputation", () => {
    const p = put(seg);
    w.l4SetDst(p, 6, wire("10.0.0.100"), wire("10.1.0.11"), portToWire(8080));
    expect(get(p, seg.length)).toEqual(tcp({ src: "10.0.0.2", dst: "10.1.0.11", sport: 40000, dport: 8080, flags: SYN | ACK, payload: [1, 2, 3] }));
  });
  it("UDP on the NAT path: a computed zero goes out as 0xffff, and no checksum (0) stays none", () => {
    // Find the new port for which the rewritten datagram's checksum computes to zero.
    const src = "10.0.0.2", dst = "10.0.0.100", ndst = "10.1.0.11";
    let hit = -1;
    for (let nport = 0; nport < 65536 && hit < 0; nport++) {
      if (udp({ src, dst: ndst, sport: 5000, dport: nport, payload: [1, 2] }).slice(6, 8).every((b) => b === 0xff)) hit = nport;
    }
    expect(hit).toBeGreaterThanOrEqual(0);
    const p = put(udp({ src, dst, sport: 5000, dport: 53, payload: [1, 2] }));
    w.l4SetDst(p, 17, wire(dst), wire(ndst), portToWire(hit));
    expect(get(p + 6, 2)).toEqual([0xff, 0xff]);
    const none = put(udp({ src, dst, sport: 5000, dport: 53, payload: [1, 2], noChecksum: true }));
    w.l4SetDst(none, 17, wire(dst), wire(ndst), portToWire(5353));
    expect(get(none + 6, 2)).toEqual([0, 0]);
    expect(get(none + 2, 2)).toEqual([0x14, 0xe9]); // the port did change
  });
  it("checks the UDP length field", () => {
    const d = udp({ src: "10.0.0.2", dst: "10.0.0.100", sport: 5000, dport: 53, payload: [7, 7] });
    expect(w.udpCheck(put(d), d.length)).toBe(1);
    expect(w.udpCheck(put(d), 9)).toBe(0);
    expect(w.udpCheck(put([...d.slice(0, 4), 0, 7, ...d.slice(6)]), d.length)).toBe(0); // length 7 < 8
  });
  it("leaves a zero UDP checksum alone (RFC 768: no checksum)", () => {
    const d = udp({ src: "10.0.0.2", dst: "10.0.0.100", sport: 5000, dport: 53, payload: [7], noChecksum: true });
    const p = put(d);
    w.l4SetSrc(p, 17, wire("10.0.0.2"), wire("10.9.9.9"), portToWire(6000));
    expect(get(p + 6, 2)).toEqual([0, 0]);
    expect(get(p, 2)).toEqual([0x17, 0x70]);
  });
});

describe("icmp (RFC 792)", () => {
  it("verifies the checksum over the whole message", () => {
    const m = icmp(8, 0, [0, 1, 0, 2], [1, 2, 3]);
    expect(w.icmpCheck(put(m), m.length)).toBe(1);
    m[9] ^= 1;
    expect(w.icmpCheck(put(m), m.length)).toBe(0);
    expect(w.icmpCheck(put(m), 7)).toBe(0);
  });
});

describe("ipip (RFC 2003, RFC 6040)", () => {
  it("encapsulates in place: outer header in front, TTL and DF copied", () => {
    const inner = ipv4({ src: "10.0.0.2", dst: "10.0.0.100", proto: 6, ttl: 33, df: true, tos: 0x10, payload: [1, 2, 3, 4, 5, 6, 7, 8] });
    const p = put([...new Array(20).fill(0xa5), ...inner]);
    w.ipipEncapsulate(p, 7, wire("10.1.0.1"), wire("10.1.0.11"));
    expect(get(p, 20)).toEqual(ipv4({ src: "10.1.0.1", dst: "10.1.0.11", proto: 4, ttl: 33, df: true, tos: 0x10, id: 7, payload: inner }).slice(0, 20));
    expect(get(p + 20, inner.length)).toEqual(inner);
  });
  it("maps ECN as RFC 6040 normal mode", () => {
    expect(w.ipipOuterTos(0xb8 | 3)).toBe(0xb8 | 2); // CE is not copied: ECT(0)
    expect(w.ipipOuterTos(0xb8 | 1)).toBe(0xb8 | 1);
    expect(w.ipipOuterTos(0)).toBe(0);
    expect(w.ipipDecapsulatedTos(3, 2)).toBe(3); // outer CE marks an ECT inner packet CE
    expect(w.ipipDecapsulatedTos(3, 0)).toBe(-1); // CE on Not-ECT: drop
    expect(w.ipipDecapsulatedTos(2, 1)).toBe(1);
  });
});

describe("incremental updates against full recomputation (RFC 1624)", () => {
  it("agrees on 5000 random TCP/UDP rewrites with a fixed seed", () => {
    let seed = 0x12345678;
    const rnd = () => {
      seed ^= seed << 13; seed >>>= 0;
      seed ^= seed >>> 17;
      seed ^= seed << 5; seed >>>= 0;
      return seed;
    };
    const rip = () => `${rnd() & 255}.${rnd() & 255}.${rnd() & 255}.${rnd() & 255}`;
    for (let n = 0; n < 5000; n++) {
      const src = rip(), dst = rip(), ndst = rip();
      const payload = Array.from({ length: rnd() % 64 }, () => rnd() & 255);
      const sport = rnd() & 0xffff, dport = rnd() & 0xffff, nport = rnd() & 0xffff;
      const isTcp = (rnd() & 1) === 0;
      const seg = isTcp ? tcp({ src, dst, sport, dport, flags: ACK, payload }) : udp({ src, dst, sport, dport, payload });
      const p = put(seg);
      w.l4SetDst(p, isTcp ? 6 : 17, wire(dst), wire(ndst), portToWire(nport));
      const expected = isTcp ? tcp({ src, dst: ndst, sport, dport: nport, flags: ACK, payload }) : udp({ src, dst: ndst, sport, dport: nport, payload });
      const got = get(p, seg.length);
      const off = isTcp ? 16 : 6;
      // TCP: both encodings of zero are the same ones'-complement value. UDP: exact, as a
      // computed zero must go out as 0xffff (RFC 768; 0 would mean "no checksum").
      const norm = (a: number[]) => { const v = (a[off] << 8) | a[off + 1]; return isTcp && v === 0xffff ? 0 : v; };
      expect(norm(got)).toBe(norm(expected));
      expect(got.slice(0, off)).toEqual(expected.slice(0, off));
      const hdr = ipv4({ src, dst, proto: 17, ttl: 2 + (rnd() & 127), payload: [] });
      const hp = put(hdr);
      w.ipv4SetDst(hp, wire(ndst));
      w.ipv4DecTtl(hp);
      expect(inetChecksum(get(hp, 20))).toBe(0);
    }
  });
});

describe("incremental updates against full recomputation, all-zero cases included (gVisor-style)", () => {
  // Each check: the engine's update in place, and the same message built from scratch by
  // test/helpers/packet.ts (a full sum): the same bytes, checksum included. Fields are zero
  // half the time, so that sums of +0 and -0 both come up.
  let seed = 0x2545f491;
  const rnd = () => {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed;
  };
  const maybe = (v: number) => (rnd() & 1 ? 0 : v);

  it("an echo request turned into its reply: 20,000 random ones, the all-zero one among them, give 0xffff there", () => {
    const zero = icmp(8, 0, [0, 0, 0, 0], []);
    const p0 = put(zero);
    w.icmpSetType(p0, zero.length, 0);
    expect(get(p0, zero.length)).toEqual([0, 0, 0xff, 0xff, 0, 0, 0, 0]);
    let zeros = 0;
    for (let n = 0; n < 20_000; n++) {
      const rest = [maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255)];
      const data = Array.from({ length: rnd() & 1 ? 0 : rnd() % 24 }, () => maybe(rnd() & 255));
      const req = icmp(8, 0, rest, data);
      const p = put(req);
      w.icmpSetType(p, req.length, 0);
      const want = icmp(0, 0, rest, data);
      if (want[2] === 0xff && want[3] === 0xff) zeros++;
      expect(get(p, req.length)).toEqual(want);
    }
    expect(zeros).toBeGreaterThan(100); // the all-zero reply came up, not only in the case above
  });

  it("TCP and UDP NAT rewrites on sparse segments: the same checksum as a full recomputation, to the bit", () => {
    // The pseudo-header's protocol is never zero, so eqn. 3's 0x0000 is always the right one here.
    const rip = () => [maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255)].join(".");
    for (let n = 0; n < 20_000; n++) {
      const src = rip(), dst = rip(), ndst = rip();
      const sport = maybe(rnd() & 0xffff), dport = maybe(rnd() & 0xffff), nport = maybe(rnd() & 0xffff);
      const payload = Array.from({ length: rnd() & 1 ? 0 : rnd() % 16 }, () => maybe(rnd() & 255));
      const isTcp = (rnd() & 1) === 0;
      const flags = maybe(ACK), seq = maybe(rnd()), window = maybe(rnd() & 0xffff);
      const make = (d: string, dp: number) => isTcp ? tcp({ src, dst: d, sport, dport: dp, flags, seq, window, payload })
        : udp({ src, dst: d, sport, dport: dp, payload });
      const seg = make(dst, dport);
      const p = put(seg);
      w.l4SetDst(p, isTcp ? 6 : 17, wire(dst), wire(ndst), portToWire(nport), false);
      expect(get(p, seg.length)).toEqual(make(ndst, nport));
    }
  });

  it("IPv4 address and TTL rewrites on sparse headers: the same checksum as a full recomputation", () => {
    const rip = () => [maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255), maybe(rnd() & 255)].join(".");
    for (let n = 0; n < 20_000; n++) {
      const o = { src: rip(), dst: rip(), proto: maybe(rnd() & 255), tos: maybe(rnd() & 255), id: maybe(rnd() & 0xffff), ttl: 1 + (rnd() % 255), payload: [] };
      const ndst = rip(), nsrc = rip();
      const p = put(ipv4(o));
      w.ipv4SetDst(p, wire(ndst));
      w.ipv4SetSrc(p, wire(nsrc));
      w.ipv4DecTtl(p);
      expect(get(p, 20)).toEqual(ipv4({ ...o, src: nsrc, dst: ndst, ttl: o.ttl - 1 }));
    }
  });
});

describe("the ABI's counters", () => {
  it("are numbered once each, drops contiguous from FIRST_DROP to LAST_DROP, COUNT after the last", () => {
    const entries = Object.entries(Counter).filter(([k, v]) => typeof v === "number" && !["FIRST_DROP", "LAST_DROP", "COUNT"].includes(k)) as [string, number][];
    const values = entries.map(([, v]) => v).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: Counter.COUNT }, (_, i) => i));
    expect(entries.filter(([k]) => k.startsWith("DROP_")).map(([, v]) => v).sort((a, b) => a - b))
      .toEqual(Array.from({ length: Counter.LAST_DROP - Counter.FIRST_DROP + 1 }, (_, i) => Counter.FIRST_DROP + i));
  });
});
