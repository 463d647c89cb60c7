// IPv6 packet builders and checks for the engine tests, written independently of the
// engine (plain RFC 1071 over big-endian words via packet.ts's inetChecksum; addresses
// parsed here from their text form, RFC 4291 2.2).

import { inetChecksum, mac } from "./packet.js";
import type { Ip6Words } from "../../host/engine/addr.js";

/** The 16 bytes of an IPv6 address in text (one "::" allowed; no embedded IPv4). */
export function ip6(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  if (all.length !== 8 || all.some((g) => !(g >= 0 && g <= 0xffff))) throw new Error(`not an IPv6 address: ${text}`);
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** The engine's four words of an address: each the little-endian read of four network-order bytes. */
export function ip6Words(text: string): Ip6Words {
  const b = Buffer.from(ip6(text));
  return [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)];
}

export function ip6Text(b: ArrayLike<number>, off = 0): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[off + i] << 8) | b[off + i + 1]).toString(16));
  return g.join(":");
}

/** fe80::/64 with the modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A):
 *  ff:fe in the middle, the universal/local bit flipped. */
export function linkLocalOf(macText: string): string {
  const m = mac(macText);
  const id = [m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]];
  const g = [0, 2, 4, 6].map((i) => ((id[i] << 8) | id[i + 1]).toString(16));
  return `fe80::${g.join(":")}`;
}

/** ff02::1:ffXX:XXXX, the solicited-node group of an address, and its MAC 33:33:ff:XX:XX:XX. */
export function solicitedNode(addr: string): string {
  const b = ip6(addr);
  return `ff02::1:ff${b[13].toString(16).padStart(2, "0")}:${((b[14] << 8) | b[15]).toString(16)}`;
}
export function multicastMac(group: string): string {
  const b = ip6(group);
  return ["33", "33", ...b.slice(12).map((x) => x.toString(16).padStart(2, "0"))].join(":");
}
export const ALL_NODES = "ff02::1";
export const ALL_NODES_MAC = "33:33:00:00:00:01";

export const NH = { HOP_BY_HOP: 0, TCP: 6, UDP: 17, ROUTING: 43, FRAGMENT: 44, ICMPV6: 58, NONE: 59, DEST_OPTS: 60 } as const;

export interface Ipv6Opts {
  src: string;
  dst: string;
  nextHeader: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  /** Overrides the payload length field (for lies). */
  payloadLength?: number;
  version?: number;
}

/** A 40-byte header and its payload. */
export function ipv6(o: Ipv6Opts, payload: number[]): number[] {
  const tc = o.trafficClass ?? 0;
  const fl = o.flowLabel ?? 0;
  const len = o.payloadLength ?? payload.length;
  return [((o.version ?? 6) << 4) | (tc >> 4), ((tc & 0xf) << 4) | (fl >> 16), (fl >> 8) & 0xff, fl & 0xff,
    len >> 8, len & 0xff, o.nextHeader, o.hopLimit ?? 64, ...ip6(o.src), ...ip6(o.dst), ...payload];
}

/** A hop-by-hop or destination options header: next header, length, options padded to 8n bytes with PadN/Pad1. */
export function optionsHeader(next: number, options: number[] = []): number[] {
  const body = [next, 0, ...options];
  const pad = (8 - (body.length % 8)) % 8;
  if (pad === 1) body.push(0);
  else if (pad > 1) body.push(1, pad - 2, ...new Array(pad - 2).fill(0));
  body[1] = body.length / 8 - 1;
  return body;
}

/** A routing header of a type with segments left and one address (type 0's layout). */
export function routingHeader(next: number, type: number, segmentsLeft: number, addresses: string[] = ["2001:db8::99"]): number[] {
  return [next, addresses.length * 2, type, segmentsLeft, 0, 0, 0, 0, ...addresses.flatMap(ip6)];
}

export function fragmentHeader(next: number, offset8: number, more: boolean, id = 0x12345678): number[] {
  const fo = (offset8 << 3) | (more ? 1 : 0);
  return [next, 0, fo >> 8, fo & 0xff, id >>> 24, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff];
}

/** The sum of the IPv6 pseudo-header (RFC 8200 8.1) as big-endian words. */
export function pseudoSum6(src: number[], dst: number[], nextHeader: number, len: number): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += ((src[i] << 8) | src[i + 1]) + ((dst[i] << 8) | dst[i + 1]);
  return s + (len >>> 16) + (len & 0xffff) + nextHeader;
}

/** An ICMPv6 message with its checksum for src -> dst (or a given one, to lie). */
export function icmpv6(src: string, dst: string, type: number, code: number, body: number[], checksum?: number): number[] {
  const m = [type, code, 0, 0, ...body];
  const c = checksum ?? inetChecksum(m, pseudoSum6(ip6(src), ip6(dst), NH.ICMPV6, m.length));
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** Neighbour Solicitation body (after type/code/checksum): reserved, target, options. */
export function nsBody(target: string, sourceLinkLayer?: string): number[] {
  return [0, 0, 0, 0, ...ip6(target), ...(sourceLinkLayer ? [1, 1, ...mac(sourceLinkLayer)] : [])];
}
/** Neighbour Advertisement body: R/S/O flags, target, options. */
export const NA_R = 0x80, NA_S = 0x40, NA_O = 0x20;
export function naBody(flags: number, target: string, targetLinkLayer?: string): number[] {
  return [flags, 0, 0, 0, ...ip6(target), ...(targetLinkLayer ? [2, 1, ...mac(targetLinkLayer)] : [])];
}
export function echoBody(id: number, seq: number, data: number[] = []): number[] {
  return [id >> 8, id & 0xff, seq >> 8, seq & 0xff, ...data];
}

/** Check an emitted IPv6 frame (untagged): version, payload length against the frame, the
 *  ICMPv6 checksum by the independent sum. Returns its fields for further assertions. */
export function decodeIcmpv6(frame: Uint8Array): { dstMac: string; srcMac: string; src: string; dst: string; hopLimit: number; type: number; code: number; body: Uint8Array } {
  const macOf = (o: number) => Array.from(frame.subarray(o, o + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
  if (((frame[12] << 8) | frame[13]) !== 0x86dd) throw new Error("not an IPv6 frame");
  const ip = frame.subarray(14);
  if (ip[0] >> 4 !== 6) throw new Error("IPv6 version is not 6");
  const len = (ip[4] << 8) | ip[5];
  if (40 + len !== ip.length) throw new Error(`payload length ${len} does not match the frame (${ip.length - 40} bytes)`);
  if (ip[6] !== NH.ICMPV6) throw new Error(`next header ${ip[6]}, not ICMPv6`);
  const m = ip.subarray(40);
  const sum = inetChecksum(m, pseudoSum6(Array.from(ip.subarray(8, 24)), Array.from(ip.subarray(24, 40)), NH.ICMPV6, m.length));
  if (sum !== 0) throw new Error(`ICMPv6 checksum does not add up (0x${sum.toString(16)})`);
  return { dstMac: macOf(0), srcMac: macOf(6), src: ip6Text(ip, 8), dst: ip6Text(ip, 24), hopLimit: ip[7], type: m[0], code: m[1], body: m.subarray(4) };
}

/** A TCP segment (20-byte header) for src -> dst with its checksum over the IPv6 pseudo-header. */
export function tcp6(o: { src: string; dst: string; sport: number; dport: number; flags: number; seq?: number; ack?: number; payload?: number[] }): number[] {
  const seq = o.seq ?? 1000, ack = o.ack ?? 0;
  const seg = [o.sport >> 8, o.sport & 0xff, o.dport >> 8, o.dport & 0xff,
    (seq >>> 24) & 0xff, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff,
    (ack >>> 24) & 0xff, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff,
    0x50, o.flags, 0xff, 0xff, 0, 0, 0, 0, ...(o.payload ?? [])];
  const c = inetChecksum(seg, pseudoSum6(ip6(o.src), ip6(o.dst), NH.TCP, seg.length));
  seg[16] = c >> 8;
  seg[17] = c & 0xff;
  return seg;
}

/** A UDP datagram for src -> dst with its (mandatory, RFC 8200 8.1) checksum. */
export function udp6(o: { src: string; dst: string; sport: number; dport: number; payload?: number[] }): number[] {
  const p = o.payload ?? [];
  const len = 8 + p.length;
  const seg = [o.sport >> 8, o.sport & 0xff, o.dport >> 8, o.dport & 0xff, len >> 8, len & 0xff, 0, 0, ...p];
  let c = inetChecksum(seg, pseudoSum6(ip6(o.src), ip6(o.dst), NH.UDP, seg.length));
  if (c === 0) c = 0xffff;
  seg[6] = c >> 8;
  seg[7] = c & 0xff;
  return seg;
}

/** Check an emitted IPv6 TCP or UDP frame: version, payload length against the frame, the
 *  transport checksum by the independent sum. Returns its fields. */
export function decodeL4v6(frame: Uint8Array): { dstMac: string; srcMac: string; src: string; dst: string; hopLimit: number; nextHeader: number; sport: number; dport: number } {
  const macOf = (o: number) => Array.from(frame.subarray(o, o + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
  if (((frame[12] << 8) | frame[13]) !== 0x86dd) throw new Error("not an IPv6 frame");
  const ip = frame.subarray(14);
  if (ip[0] >> 4 !== 6) throw new Error("IPv6 version is not 6");
  const len = (ip[4] << 8) | ip[5];
  if (40 + len !== ip.length) throw new Error(`payload length ${len} does not match the frame (${ip.length - 40} bytes)`);
  const nh = ip[6];
  if (nh !== NH.TCP && nh !== NH.UDP) throw new Error(`next header ${nh}, not TCP or UDP`);
  const m = ip.subarray(40);
  const sum = inetChecksum(m, pseudoSum6(Array.from(ip.subarray(8, 24)), Array.from(ip.subarray(24, 40)), nh, m.length));
  if (sum !== 0) throw new Error(`${nh === NH.TCP ? "TCP" : "UDP"} checksum does not add up (0x${sum.toString(16)})`);
  return { dstMac: macOf(0), srcMac: macOf(6), src: ip6Text(ip, 8), dst: ip6Text(ip, 24), hopLimit: ip[7], nextHeader: nh, sport: (m[0] << 8) | m[1], dport: (m[2] << 8) | m[3] };
}
