// The playground's clients and servers: the frames they would put on the wire (Ethernet,
// IPv4 and TCP, UDP, ICMP echo, ARP), with their checksums (RFC 1071 over the RFC 793/768
// pseudo-header), for the engine to take in as a director's TAP would hand them over.

import { ipToNumber, parseMac } from "../host/engine/addr.js";

function put16(a: number[], v: number): void { a.push((v >>> 8) & 0xff, v & 0xff); }
function put32(a: number[], v: number): void { a.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff); }
const addr = (text: string) => { const a: number[] = []; put32(a, ipToNumber(text)); return a; };

function sum(data: number[], initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < data.length; i += 2) s += (data[i] << 8) | data[i + 1];
  if (data.length & 1) s += data[data.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function pseudo(src: string, dst: string, proto: number, len: number): number {
  const p = [...addr(src), ...addr(dst), 0, proto];
  put16(p, len);
  let s = 0;
  for (let i = 0; i < p.length; i += 2) s += (p[i] << 8) | p[i + 1];
  return s;
}

let ipId = 0x4000;

export interface Ends { srcMac: string; dstMac: string; src: string; dst: string }

function ipv4(e: Ends, proto: number, payload: number[], df = false): Uint8Array {
  const h: number[] = [0x45, 0];
  put16(h, 20 + payload.length);
  put16(h, ipId = (ipId + 1) & 0xffff);
  put16(h, df ? 0x4000 : 0);
  h.push(64, proto, 0, 0, ...addr(e.src), ...addr(e.dst));
  const c = sum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return ethernet(e.dstMac, e.srcMac, 0x0800, [...h, ...payload]);
}

function ethernet(dst: string, src: string, type: number, payload: number[]): Uint8Array {
  const f = [...parseMac(dst), ...parseMac(src)];
  put16(f, type);
  f.push(...payload);
  while (f.length < 60) f.push(0);
  return Uint8Array.from(f);
}

export const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16;

export function tcpFrame(e: Ends, sport: number, dport: number, flags: number, seq: number, ack: number, data: number[] = [], df = true): Uint8Array {
  const s: number[] = [];
  put16(s, sport);
  put16(s, dport);
  put32(s, seq);
  put32(s, ack);
  s.push(0x50, flags);
  put16(s, 64240);
  s.push(0, 0, 0, 0, ...data);
  const c = sum(s, pseudo(e.src, e.dst, 6, s.length));
  s[16] = c >> 8;
  s[17] = c & 0xff;
  return ipv4(e, 6, s, df);
}

export function udpFrame(e: Ends, sport: number, dport: number, data: number[], df = false): Uint8Array {
  const s: number[] = [];
  put16(s, sport);
  put16(s, dport);
  put16(s, 8 + data.length);
  s.push(0, 0, ...data);
  const c = sum(s, pseudo(e.src, e.dst, 17, s.length)) || 0xffff;
  s[6] = c >> 8;
  s[7] = c & 0xff;
  return ipv4(e, 17, s, df);
}

export function echoRequest(e: Ends, id: number, seq: number): Uint8Array {
  const m = [8, 0, 0, 0];
  put16(m, id);
  put16(m, seq);
  m.push(...Array.from({ length: 32 }, (_, i) => 0x61 + (i % 23)));
  const c = sum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return ipv4(e, 1, m);
}

export function arpRequest(senderMac: string, sender: string, target: string): Uint8Array {
  const a = [0, 1, 8, 0, 6, 4, 0, 1, ...parseMac(senderMac), ...addr(sender), 0, 0, 0, 0, 0, 0, ...addr(target)];
  return ethernet("ff:ff:ff:ff:ff:ff", senderMac, 0x0806, a);
}
