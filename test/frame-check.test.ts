// The frame checker the engine's packet tests lean on (test/helpers/packet.ts expectFrame):
// it passes right frames and fails each broken checksum, so a test using it cannot pass
// on a frame with a wrong sum anywhere in it.

import { describe, it, expect } from "vitest";
import { eth, expectFrame, icmp, ipv4, tcp, udp, SYN } from "./helpers/packet.js";

const C = "10.0.0.2", VIP = "10.0.0.100", RS = "10.1.0.11", DIR = "10.1.0.1";
const M1 = "02:00:00:00:00:01", M2 = "02:00:00:00:00:02";
const segment = (o: { badChecksum?: boolean } = {}) => tcp({ src: C, dst: RS, sport: 40000, dport: 8080, flags: SYN, payload: [1, 2, 3], ...o });
const tcpFrame = () => eth(M1, M2, 0x0800, ipv4({ src: C, dst: RS, proto: 6, payload: segment() }));
const ipipFrame = (inner: number[]) => eth(M1, M2, 0x0800, ipv4({ src: DIR, dst: RS, proto: 4, payload: inner }));
/** An ICMP port unreachable quoting a UDP datagram: its IPv4 header and first 8 bytes, or all of it. */
const quotedError = (o: { badQuotedHeader?: boolean; whole?: boolean; badQuotedUdp?: boolean } = {}) => {
  const datagram = udp({ src: VIP, dst: C, sport: 53, dport: 5000, payload: [9, 9] });
  if (o.badQuotedUdp) datagram[7] ^= 0x40;
  const quoted = ipv4({ src: VIP, dst: C, proto: 17, payload: datagram, badChecksum: o.badQuotedHeader });
  return eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 1, payload: icmp(3, 3, [0, 0, 0, 0], o.whole ? quoted : quoted.slice(0, 28)) }));
};
/** Flip bits of the byte at off, as a wrong checksum would. */
const flip = (f: Uint8Array, off: number) => { const g = f.slice(); g[off] ^= 0x40; return g; };

describe("expectFrame", () => {
  it("passes right frames and returns them decoded: TCP, UDP, UDP sent with no checksum where allowed, IPIP, ICMP error with its quote", () => {
    expect(expectFrame(tcpFrame()).ip!.tcp).toEqual({ sport: 40000, dport: 8080, flags: SYN });
    expect(expectFrame(eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 17, payload: udp({ src: C, dst: VIP, sport: 5000, dport: 53, payload: [1] }) }))).ip!.udp!.dport).toBe(53);
    const none = eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 17, payload: udp({ src: C, dst: VIP, sport: 5000, dport: 53, payload: [1], noChecksum: true }) }));
    expect(expectFrame(none, { udpChecksumAbsent: true }).ip!.udp!.checksum).toBe(0);
    expect(expectFrame(ipipFrame(ipv4({ src: C, dst: VIP, proto: 6, payload: tcp({ src: C, dst: VIP, sport: 40000, dport: 80, flags: SYN }) }))).ip!.inner!.tcp!.dport).toBe(80);
    expect(expectFrame(quotedError()).ip!.icmp!.quoted!.udp!.sport).toBe(53);
    expect(expectFrame(quotedError({ whole: true })).ip!.icmp!.quoted!.udp!.sport).toBe(53);
    // Cut short, the quoted UDP checksum cannot be summed: not a problem.
    expect(expectFrame(quotedError({ badQuotedUdp: true })).ip!.icmp!.type).toBe(3);
    // Padded to Ethernet's 60 bytes: the IPv4 total length, not the frame, bounds the packet.
    expect(expectFrame(Uint8Array.from([...eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 17, payload: udp({ src: C, dst: VIP, sport: 1, dport: 2 }) })), 0, 0, 0, 0, 0, 0])).ip!.totalLen).toBe(28);
  });

  const broken: [string, () => Uint8Array, RegExp][] = [
    ["outer IPv4 header checksum", () => flip(tcpFrame(), 14 + 10), /outer IPv4 header checksum/],
    ["TCP checksum", () => eth(M1, M2, 0x0800, ipv4({ src: C, dst: RS, proto: 6, payload: segment({ badChecksum: true }) })), /outer TCP checksum/],
    ["TCP payload changed after the sum", () => flip(tcpFrame(), 14 + 20 + 20), /outer TCP checksum/],
    ["UDP checksum", () => flip(eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 17, payload: udp({ src: C, dst: VIP, sport: 5000, dport: 53, payload: [1] }) })), 14 + 20 + 6), /outer UDP checksum/],
    ["UDP checksum zero where one was due", () => eth(M1, M2, 0x0800, ipv4({ src: C, dst: VIP, proto: 17, payload: udp({ src: C, dst: VIP, sport: 5000, dport: 53, payload: [1], noChecksum: true }) })), /outer UDP checksum zero/],
    ["ICMP checksum", () => flip(quotedError(), 14 + 20 + 2), /outer ICMP checksum/],
    ["ICMP error's quoted IPv4 header checksum", () => quotedError({ badQuotedHeader: true }), /outer quoted IPv4 header checksum/],
    ["ICMP error's quoted UDP checksum, the whole datagram quoted", () => quotedError({ whole: true, badQuotedUdp: true }), /outer quoted UDP checksum \(the whole datagram is quoted\)/],
    ["IPIP inner IPv4 header checksum", () => ipipFrame(ipv4({ src: C, dst: VIP, proto: 6, payload: tcp({ src: C, dst: VIP, sport: 1, dport: 80, flags: SYN }), badChecksum: true })), /outer inner IPv4 header checksum/],
    ["IPIP inner TCP checksum", () => ipipFrame(ipv4({ src: C, dst: VIP, proto: 6, payload: tcp({ src: C, dst: VIP, sport: 1, dport: 80, flags: SYN, badChecksum: true }) })), /outer inner TCP checksum/],
    ["IPv4 total length beyond the frame", () => tcpFrame().slice(0, -2), /outer IPv4 total length 43 beyond the 41 bytes/],
  ];
  for (const [what, frame, message] of broken) {
    it(`fails a frame with a wrong ${what}`, () => {
      expect(() => expectFrame(frame())).toThrow(message);
    });
  }

  it("leaves a virtio-net partial transport checksum unchecked when told, never the IPv4 header's", () => {
    const partial = eth(M1, M2, 0x0800, ipv4({ src: C, dst: RS, proto: 6, payload: segment({ badChecksum: true }) }));
    expect(expectFrame(partial, { partialChecksum: true }).ip!.dst).toBe(RS);
    expect(() => expectFrame(flip(partial, 14 + 10), { partialChecksum: true })).toThrow(/outer IPv4 header checksum/);
  });
});
