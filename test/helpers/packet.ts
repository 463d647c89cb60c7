// Packet builders and a decoder with its own checksum code, written independently of
// the engine's (plain RFC 1071 over big-endian words, no incremental tricks), so
// every frame the engine emits is checked by a second implementation.

export type Bytes = Uint8Array;

export function ip(text: string): number[] {
  return text.split(".").map(Number);
}
export function mac(text: string): number[] {
  return text.split(":").map((h) => parseInt(h, 16));
}
export function ipText(b: Bytes, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}
export function macText(b: Bytes, off: number): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}
export function be16(b: Bytes, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
function put16(b: number[], v: number): void {
  b.push((v >> 8) & 0xff, v & 0xff);
}

/** RFC 1071 over big-endian 16-bit words; returns the folded, complemented sum. */
export function inetChecksum(data: ArrayLike<number>, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (i + 1 < data.length ? data[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

function pseudoSum(src: number[], dst: number[], proto: number, len: number): number {
  return ((src[0] << 8) | src[1]) + ((src[2] << 8) | src[3]) + ((dst[0] << 8) | dst[1]) + ((dst[2] << 8) | dst[3]) + proto + len;
}

export interface Ipv4Opts {
  src: string;
  dst: string;
  proto: number;
  payload: number[];
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
  options?: number[];
  badChecksum?: boolean;
}

export function ipv4(o: Ipv4Opts): number[] {
  const opts = o.options ?? [];
  const ihl = 20 + opts.length;
  const h: number[] = [0x40 | (ihl / 4), o.tos ?? 0];
  put16(h, ihl + o.payload.length);
  put16(h, o.id ?? 0x1234);
  put16(h, (o.df ? 0x4000 : 0) | (o.mf ? 0x2000 : 0) | (o.fragOffset ?? 0));
  h.push(o.ttl ?? 64, o.proto, 0, 0, ...ip(o.src), ...ip(o.dst), ...opts);
  const c = inetChecksum(h) ^ (o.badChecksum ? 0x5a5a : 0);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return [...h, ...o.payload];
}

export const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;

export interface TcpOpts {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  payload?: number[];
  badChecksum?: boolean;
  /** Default 65535. */
  window?: number;
}

export function tcp(o: TcpOpts): number[] {
  const p = o.payload ?? [];
  const h: number[] = [];
  put16(h, o.sport);
  put16(h, o.dport);
  const seq = o.seq ?? 1000;
  const ack = o.ack ?? 0;
  h.push((seq >>> 24) & 0xff, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff);
  h.push((ack >>> 24) & 0xff, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff);
  h.push(0x50, o.flags);
  put16(h, o.window ?? 65535);
  h.push(0, 0, 0, 0);
  const seg = [...h, ...p];
  const c = inetChecksum(seg, pseudoSum(ip(o.src), ip(o.dst), 6, seg.length)) ^ (o.badChecksum ? 0x1111 : 0);
  seg[16] = c >> 8;
  seg[17] = c & 0xff;
  return seg;
}

export interface UdpOpts {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload?: number[];
  noChecksum?: boolean;
}

export function udp(o: UdpOpts): number[] {
  const p = o.payload ?? [];
  const h: number[] = [];
  put16(h, o.sport);
  put16(h, o.dport);
  put16(h, 8 + p.length);
  h.push(0, 0);
  const seg = [...h, ...p];
  if (!o.noChecksum) {
    let c = inetChecksum(seg, pseudoSum(ip(o.src), ip(o.dst), 17, seg.length));
    if (c === 0) c = 0xffff;
    seg[6] = c >> 8;
    seg[7] = c & 0xff;
  }
  return seg;
}

export function icmp(type: number, code: number, rest: number[], data: number[]): number[] {
  const m = [type, code, 0, 0, ...rest, ...data];
  const c = inetChecksum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

export function eth(dst: string, src: string, type: number, payload: number[], vlan?: number): Bytes {
  const h = [...mac(dst), ...mac(src)];
  if (vlan !== undefined) {
    put16(h, 0x8100);
    put16(h, vlan);
  }
  put16(h, type);
  return Uint8Array.from([...h, ...payload]);
}

export function arp(op: 1 | 2, sha: string, spa: string, tha: string, tpa: string): number[] {
  return [0, 1, 8, 0, 6, 4, 0, op, ...mac(sha), ...ip(spa), ...mac(tha), ...ip(tpa)];
}

// ---- decoding ---------------------------------------------------------------------

export interface Decoded {
  dstMac: string;
  srcMac: string;
  vlan?: number;
  type: number;
  ip?: DecodedIp;
  arp?: { op: number; sha: string; spa: string; tha: string; tpa: string };
  /** Every checksum problem found in the frame (empty when all are right). */
  checksumErrors: string[];
}

export interface DecodedIp {
  src: string;
  dst: string;
  proto: number;
  ttl: number;
  tos: number;
  id: number;
  df: boolean;
  ihl: number;
  totalLen: number;
  tcp?: { sport: number; dport: number; flags: number };
  vrrp?: { version: number; type: number; vrid: number; priority: number; count: number; authType?: number; intervalCs: number; addresses: string[]; auth?: number[] };
  udp?: { sport: number; dport: number; checksum: number };
  icmp?: { type: number; code: number; rest: number[]; quoted?: DecodedIp };
  inner?: DecodedIp;
}

function decodeIp(b: Bytes, off: number, avail: number, errors: string[], where: string, quoted: boolean): DecodedIp {
  const ihl = (b[off] & 0xf) * 4;
  const totalLen = be16(b, off + 2);
  const d: DecodedIp = {
    src: ipText(b, off + 12), dst: ipText(b, off + 16), proto: b[off + 9], ttl: b[off + 8], tos: b[off + 1],
    id: be16(b, off + 4), df: (b[off + 6] & 0x40) !== 0, ihl, totalLen,
  };
  if (inetChecksum(b.subarray(off, off + ihl)) !== 0) errors.push(`${where} IPv4 header checksum`);
  const l4 = off + ihl;
  const l4len = Math.min(totalLen, avail) - ihl;
  const full = !quoted && totalLen <= avail;
  const ps = (len: number) => pseudoSum(Array.from(b.subarray(off + 12, off + 16)), Array.from(b.subarray(off + 16, off + 20)), d.proto, len);
  if (d.proto === 6 && l4len >= 4) {
    d.tcp = { sport: be16(b, l4), dport: be16(b, l4 + 2), flags: l4len > 13 ? b[l4 + 13] : 0 };
    if (full && inetChecksum(b.subarray(l4, l4 + l4len), ps(l4len)) !== 0) errors.push(`${where} TCP checksum`);
  } else if (d.proto === 17 && l4len >= 8) {
    d.udp = { sport: be16(b, l4), dport: be16(b, l4 + 2), checksum: be16(b, l4 + 6) };
    if (full && d.udp.checksum !== 0 && inetChecksum(b.subarray(l4, l4 + l4len), ps(l4len)) !== 0) errors.push(`${where} UDP checksum`);
  } else if (d.proto === 1 && l4len >= 8) {
    d.icmp = { type: b[l4], code: b[l4 + 1], rest: Array.from(b.subarray(l4 + 4, l4 + 8)) };
    if (!quoted && inetChecksum(b.subarray(l4, l4 + l4len)) !== 0) errors.push(`${where} ICMP checksum`);
    if ([3, 4, 11].includes(d.icmp.type) && l4len >= 28) {
      d.icmp.quoted = decodeIp(b, l4 + 8, l4len - 8, errors, `${where} quoted`, true);
    }
  } else if (d.proto === 4 && l4len >= 20) {
    d.inner = decodeIp(b, l4, l4len, errors, `${where} inner`, quoted);
  } else if (d.proto === 112 && l4len >= 8) {
    // VRRP: v2 (RFC 3768) checksums the message alone, v3 (RFC 5798) with the pseudo-header.
    const version = b[l4] >> 4;
    const count = b[l4 + 3];
    const addresses = Array.from({ length: count }, (_, k) => ipText(b, l4 + 8 + 4 * k));
    d.vrrp = version === 2
      ? { version, type: b[l4] & 15, vrid: b[l4 + 1], priority: b[l4 + 2], count, authType: b[l4 + 4], intervalCs: b[l4 + 5] * 100, addresses,
        auth: Array.from(b.subarray(l4 + 8 + 4 * count, l4 + 16 + 4 * count)) }
      : { version, type: b[l4] & 15, vrid: b[l4 + 1], priority: b[l4 + 2], count, intervalCs: be16(b, l4 + 4) & 0xfff, addresses };
    if (inetChecksum(b.subarray(l4, l4 + l4len), version === 3 ? ps(l4len) : 0) !== 0) errors.push(`${where} VRRP checksum`);
  }
  return d;
}

/** Decode a frame and verify every checksum in it (IP, TCP, UDP, ICMP, quoted and inner headers). */
export function decode(frame: Bytes): Decoded {
  const errors: string[] = [];
  let off = 12;
  let vlan: number | undefined;
  if (be16(frame, 12) === 0x8100) {
    vlan = be16(frame, 14);
    off = 16;
  }
  const type = be16(frame, off);
  const d: Decoded = { dstMac: macText(frame, 0), srcMac: macText(frame, 6), vlan, type, checksumErrors: errors };
  const p = off + 2;
  if (type === 0x0800) d.ip = decodeIp(frame, p, frame.length - p, errors, "outer", false);
  if (type === 0x0806) {
    d.arp = { op: be16(frame, p + 6), sha: macText(frame, p + 8), spa: ipText(frame, p + 14), tha: macText(frame, p + 18), tpa: ipText(frame, p + 24) };
  }
  return d;
}

/** A VRRP advert (RFC 3768 v2 with auth data, RFC 5798 v3), checksum included unless given. */
export function vrrp(o: { version: 2 | 3; vrid: number; priority: number; addresses: string[]; intervalCs?: number; authType?: number; auth?: number[];
  src?: string; dst?: string; checksum?: number; type?: number; count?: number }): number[] {
  const n = o.addresses.length;
  const m = [((o.version << 4) | (o.type ?? 1)) & 255, o.vrid, o.priority, o.count ?? n];
  const interval = o.intervalCs ?? 100;
  if (o.version === 2) m.push(o.authType ?? 0, Math.floor(interval / 100));
  else m.push((interval >> 8) & 0x0f, interval & 255);
  m.push(0, 0);
  for (const a of o.addresses) m.push(...a.split(".").map(Number));
  if (o.version === 2) m.push(...(o.auth ?? [0, 0, 0, 0, 0, 0, 0, 0]));
  const c = o.checksum ?? (o.version === 2 ? inetChecksum(m)
    : inetChecksum(m, pseudoSum((o.src ?? "0.0.0.0").split(".").map(Number), (o.dst ?? "224.0.0.18").split(".").map(Number), 112, m.length)));
  m[6] = c >> 8;
  m[7] = c & 255;
  return m;
}

// ---- the frame checker ------------------------------------------------------------------

export interface FrameExpectations {
  /** The frame may carry a UDP checksum of zero. RFC 768 lets an IPv4 sender send none (zero);
   *  a forwarder keeps what it got, and a computed sum of zero goes on the wire as 0xffff — so
   *  zero is right only where the frame the engine took in had none. */
  udpChecksumAbsent?: boolean;
  /** The transport checksum field holds only the pseudo-header sum (a virtio-net partial
   *  checksum, VIRTIO_NET_HDR_F_NEEDS_CSUM): the device completes it, so it is not checked here. */
  partialChecksum?: boolean;
}

/** Every checksum problem in a frame, stricter than decode(): each IPv4 header (outer, IPIP inner,
 *  an ICMP error's quoted one); the TCP, UDP, ICMP and VRRP sums of every packet carried whole;
 *  a UDP zero only where allowed; an IPv4 total length the frame cannot hold (its sums unchecked).
 *  An ICMP error's quoted TCP/UDP sum is checked where the whole datagram is quoted (RFC 1812
 *  4.3.2.3 lets a router quote up to 576 bytes): wasmvs updates it with the addresses and ports it
 *  rewrites (as Linux's nf_nat does for the inner packet; ip_vs_nat_icmp leaves it). A quote cut
 *  short (RFC 792: the header and 8 bytes) cannot be summed. A UDP zero in a quote is the
 *  original sender's: allowed. */
export function frameProblems(frame: Bytes, want: FrameExpectations = {}): { decoded: Decoded; problems: string[] } {
  const decoded = decode(frame);
  const problems = decoded.checksumErrors.filter((p) => !(want.partialChecksum && /(outer|inner) (TCP|UDP) checksum$/.test(p)));
  const ipStart = decoded.vlan === undefined ? 14 : 18;
  const walk = (d: DecodedIp | undefined, where: string, avail: number) => {
    if (!d) return;
    if (d.totalLen > avail) problems.push(`${where} IPv4 total length ${d.totalLen} beyond the ${avail} bytes there`);
    if (d.udp && d.udp.checksum === 0 && !want.udpChecksumAbsent) problems.push(`${where} UDP checksum zero (none) where one was due`);
    walk(d.inner, `${where} inner`, d.totalLen - d.ihl);
  };
  walk(decoded.ip, "outer", frame.length - ipStart);
  if (decoded.ip) quotedTransport(frame, ipStart, frame.length - ipStart, "outer", problems);
  return { decoded, problems };
}

/** The quoted TCP/UDP checksum of an ICMP error in the IPv4 packet at off (or in an IPIP packet's
 *  inner one), where the whole quoted datagram is there to sum. */
function quotedTransport(b: Bytes, off: number, avail: number, where: string, problems: string[]): void {
  const ihl = (b[off] & 0xf) * 4;
  const l4 = off + ihl;
  const l4len = Math.min(be16(b, off + 2), avail) - ihl;
  if (b[off + 9] === 4 && l4len >= 20) return quotedTransport(b, l4, l4len, `${where} inner`, problems);
  if (b[off + 9] !== 1 || l4len < 28 || ![3, 4, 11].includes(b[l4])) return;
  const q = l4 + 8;
  const qihl = (b[q] & 0xf) * 4;
  const qtotal = be16(b, q + 2);
  const proto = b[q + 9];
  const headerLen = proto === 6 ? 20 : proto === 17 ? 8 : 0;
  if (headerLen === 0 || qihl < 20 || qtotal > l4len - 8 || qtotal < qihl + headerLen) return;
  const seg = b.subarray(q + qihl, q + qtotal);
  if (proto === 17 && be16(seg, 6) === 0) return;
  const ps = pseudoSum(Array.from(b.subarray(q + 12, q + 16)), Array.from(b.subarray(q + 16, q + 20)), proto, seg.length);
  if (inetChecksum(seg, ps) !== 0) problems.push(`${where} quoted ${proto === 6 ? "TCP" : "UDP"} checksum (the whole datagram is quoted)`);
}

/** Decode a frame the engine emitted and fail the test on any checksum problem in it
 *  (see frameProblems); returns the decoded frame for the test's own assertions. */
export function expectFrame(frame: Bytes, want: FrameExpectations = {}): Decoded {
  const { decoded, problems } = frameProblems(frame, want);
  if (problems.length > 0) {
    throw new Error(`checksum problems in frame: ${problems.join("; ")}\n  frame ${Buffer.from(frame).toString("hex")}`);
  }
  return decoded;
}
