// A frame as the playground shows it: every header field by name, layer by layer, so that a
// frame before the director and the frame after it can be laid side by side and the fields
// the director changed highlighted. Reading only (the engine does the rewriting); fields
// are read in network byte order as the RFCs define them (Ethernet, RFC 826 ARP, RFC 791
// IPv4 with RFC 2003 IP-in-IP, RFC 792 ICMP with RFC 1191's next-hop MTU, RFC 793 TCP,
// RFC 768 UDP).

import { formatMac } from "../host/engine/addr.js";

export interface Field {
  /** The header it belongs to: "Ethernet", "IPv4", "outer IPv4", "TCP", ... */
  layer: string;
  name: string;
  value: string;
}

const u16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
const ip = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const hex16 = (v: number) => `0x${v.toString(16).padStart(4, "0")}`;
const PROTO: Record<number, string> = { 1: "ICMP", 4: "IPIP", 6: "TCP", 17: "UDP", 112: "VRRP" };
const TCP_FLAGS = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];

/** Ones' complement sum check (RFC 1071): true when the header or segment sums to 0xffff. */
function sumsOk(b: Uint8Array, start: number, end: number, initial = 0): boolean {
  let s = initial;
  for (let i = start; i + 1 < end; i += 2) s += u16(b, i);
  if ((end - start) & 1) s += b[end - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

function pseudo(b: Uint8Array, ipOff: number, proto: number, len: number): number {
  return u16(b, ipOff + 12) + u16(b, ipOff + 14) + u16(b, ipOff + 16) + u16(b, ipOff + 18) + proto + len;
}

function ipv4(b: Uint8Array, o: number, layer: string, out: Field[]): void {
  if (b.length < o + 20) { out.push({ layer, name: "truncated", value: `${b.length - o} bytes` }); return; }
  const ihl = (b[o] & 15) * 4;
  const total = u16(b, o + 2);
  const frag = u16(b, o + 6);
  const proto = b[o + 9];
  const end = Math.min(b.length, o + total);
  out.push(
    { layer, name: "version / IHL", value: `${b[o] >> 4} / ${ihl}` },
    { layer, name: "TOS", value: String(b[o + 1]) },
    { layer, name: "total length", value: String(total) },
    { layer, name: "identification", value: hex16(u16(b, o + 4)) },
    { layer, name: "flags", value: [frag & 0x4000 ? "DF" : "", frag & 0x2000 ? "MF" : ""].filter(Boolean).join(" ") || "none" },
    { layer, name: "fragment offset", value: String((frag & 0x1fff) * 8) },
    { layer, name: "TTL", value: String(b[o + 8]) },
    { layer, name: "protocol", value: `${proto} (${PROTO[proto] ?? "?"})` },
    { layer, name: "checksum", value: `${hex16(u16(b, o + 10))} ${ihl >= 20 && sumsOk(b, o, o + ihl) ? "ok" : "BAD"}` },
    { layer, name: "source", value: ip(b, o + 12) },
    { layer, name: "destination", value: ip(b, o + 16) },
  );
  // An ICMP error quotes a header and 8 bytes: the header is shown, what follows is not whole.
  if ((frag & 0x1fff) !== 0 || ihl < 20 || layer === "quoted IPv4") return;
  const p = o + ihl;
  // IP-in-IP (TUN mode): the outer header is the director's, the inner one the client's
  // packet, so the inner one keeps the name "IPv4" and lines up with the frame before.
  if (proto === 4) ipv4(b, p, "IPv4", out);
  else if (proto === 6 && end >= p + 20) {
    const flags = b[p + 13];
    out.push(
      { layer: "TCP", name: "source port", value: String(u16(b, p)) },
      { layer: "TCP", name: "destination port", value: String(u16(b, p + 2)) },
      { layer: "TCP", name: "sequence", value: String(u32(b, p + 4)) },
      { layer: "TCP", name: "acknowledgment", value: String(u32(b, p + 8)) },
      { layer: "TCP", name: "flags", value: TCP_FLAGS.filter((_, k) => flags & (1 << k)).join(" ") || "none" },
      { layer: "TCP", name: "window", value: String(u16(b, p + 14)) },
      { layer: "TCP", name: "checksum", value: `${hex16(u16(b, p + 16))} ${sumsOk(b, p, end, pseudo(b, o, 6, end - p)) ? "ok" : "BAD"}` },
      { layer: "TCP", name: "payload", value: `${end - p - (b[p + 12] >> 4) * 4} bytes` },
    );
  } else if (proto === 17 && end >= p + 8) {
    const sum = u16(b, p + 6);
    out.push(
      { layer: "UDP", name: "source port", value: String(u16(b, p)) },
      { layer: "UDP", name: "destination port", value: String(u16(b, p + 2)) },
      { layer: "UDP", name: "length", value: String(u16(b, p + 4)) },
      { layer: "UDP", name: "checksum", value: sum === 0 ? "0x0000 (none)" : `${hex16(sum)} ${sumsOk(b, p, end, pseudo(b, o, 17, end - p)) ? "ok" : "BAD"}` },
    );
  } else if (proto === 1 && end >= p + 8) {
    const type = b[p], code = b[p + 1];
    const name = type === 0 ? "echo reply" : type === 8 ? "echo request" : type === 3 ? (code === 4 ? "fragmentation needed" : "unreachable") : type === 11 ? "time exceeded" : "";
    out.push(
      { layer: "ICMP", name: "type / code", value: `${type} / ${code}${name ? ` (${name})` : ""}` },
      { layer: "ICMP", name: "checksum", value: `${hex16(u16(b, p + 2))} ${sumsOk(b, p, end) ? "ok" : "BAD"}` },
    );
    if (type === 3 && code === 4) out.push({ layer: "ICMP", name: "next-hop MTU", value: String(u16(b, p + 6)) });
    if (type === 3 || type === 11) ipv4(b, p + 8, "quoted IPv4", out);
  }
}

export function frameFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  if (b.length < 14) return [{ layer: "Ethernet", name: "truncated", value: `${b.length} bytes` }];
  const type = u16(b, 12);
  out.push(
    { layer: "Ethernet", name: "destination", value: formatMac(b, 0) },
    { layer: "Ethernet", name: "source", value: formatMac(b, 6) },
    { layer: "Ethernet", name: "type", value: type === 0x0800 ? "0x0800 (IPv4)" : type === 0x0806 ? "0x0806 (ARP)" : hex16(type) },
  );
  if (type === 0x0800) ipv4(b, 14, b.length > 23 && b[23] === 4 ? "outer IPv4" : "IPv4", out);
  else if (type === 0x0806 && b.length >= 42) {
    const op = u16(b, 20);
    out.push(
      { layer: "ARP", name: "operation", value: op === 1 ? "1 (request)" : op === 2 ? "2 (reply)" : String(op) },
      { layer: "ARP", name: "sender MAC", value: formatMac(b, 22) },
      { layer: "ARP", name: "sender address", value: ip(b, 28) },
      { layer: "ARP", name: "target MAC", value: formatMac(b, 32) },
      { layer: "ARP", name: "target address", value: ip(b, 38) },
    );
  }
  return out;
}

/** The headers a frame carries, for a one-line summary: "TCP 192.0.2.1:20000 → 10.0.0.100:80 SYN". */
export function summary(b: Uint8Array): string {
  const f = frameFields(b);
  const get = (layer: string, name: string) => f.find((x) => x.layer === layer && x.name === name)?.value;
  const arp = get("ARP", "operation");
  if (arp) return `ARP ${arp.replace(/^\d+ \((.*)\)$/, "$1")} ${get("ARP", "sender address")} → ${get("ARP", "target address")}`;
  const outer = get("outer IPv4", "source") !== undefined;
  const src = get("IPv4", "source"), dst = get("IPv4", "destination");
  const tag = outer ? `IPIP ${get("outer IPv4", "source")} → ${get("outer IPv4", "destination")} carrying ` : "";
  for (const p of ["TCP", "UDP"]) {
    const sp = get(p, "source port");
    if (sp) return `${tag}${p} ${src}:${sp} → ${dst}:${get(p, "destination port")}${p === "TCP" ? ` ${get("TCP", "flags")}` : ""}`;
  }
  const icmp = get("ICMP", "type / code");
  if (icmp) return `${tag}ICMP ${icmp.replace(/^.*\((.*)\)$/, "$1")} ${src} → ${dst}`;
  return src ? `${tag}IPv4 ${src} → ${dst}` : `${b.length} bytes`;
}

/** Which fields of `after` differ from `before` (same layer and name), or are new. */
export function changedFields(before: Field[], after: Field[]): Set<number> {
  const was = new Map(before.map((f) => [`${f.layer}|${f.name}`, f.value]));
  const changed = new Set<number>();
  after.forEach((f, i) => { if (was.get(`${f.layer}|${f.name}`) !== f.value) changed.add(i); });
  return changed;
}
