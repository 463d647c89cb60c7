// The IPv6 connection table: IPVS's one table holds both families (ip_vs_conn.c hashes
// af with the addresses); here IPv6 connections have a region of their own, so an IPv4
// entry stays 40 bytes and the IPv4 lookups (and their cache footprint) are unchanged.
//
// Entries (Conn6Field, 80 bytes) hold the three addresses in wire order; two chained
// hashes as the IPv4 table: in by (proto, client address and port, VIP), out (NAT only)
// by (proto, server address and port, client port). Capacity Abi.MAX_IPV6_CONNECTIONS in
// the layout init makes (conn6Capacity: a quarter of the IPv4 table's, 1,024 to 262,144);
// a full table refuses new connections (DROP_TABLE_FULL).
// Timeouts and TCP states are the IPv4 table's (conn/tcpstate.ts); expiry runs as a
// sweep proportional to the time passed, as connSweep.

import { Conn6Field, ConnFlag, Counter } from "../abi";
import { count, expired, now } from "../engine/state";
import { ipv6AddrCopy, ipv6AddrEquals } from "../wire/ipv6";
import { destUnbind } from "../svc/service";

@inline const SIZE: usize = Conn6Field.SIZE;
let CAP: u32 = 0;
let BUCKETS: u32 = 0;
let entries: usize = 0;
let inHash: usize = 0;
let outHash: usize = 0;

/** The IPv6 table's capacity for an IPv4 table of connCap entries (a power of two). */
export function conn6Capacity(connCap: u32): u32 {
  let c: u32 = 1024;
  while (c < (connCap >>> 2) && c < 262144) c <<= 1;
  return c;
}
/** Bytes conn6Layout takes for capacity cap. */
export function conn6Bytes(cap: u32): u64 { return <u64>cap * <u64>SIZE + <u64>cap * 8; }
export function conn6Layout(base: usize, cap: u32): void {
  CAP = cap; BUCKETS = cap;
  entries = base;
  inHash = base + <usize>cap * SIZE;
  outHash = inHash + <usize>cap * 4;
}
/** Free entries chained through NEXT_IN (index + 1); entries from fresh on were never used. */
let freeHead: u32 = 0;
let fresh: u32 = 0;
/** IPv6 connections in the table. */
export let conn6Count: u32 = 0;

@inline export function conn6Entry(i: u32): usize { return entries + <usize>i * SIZE; }
@inline export function conn6Index(e: usize): u32 { return <u32>((e - entries) / SIZE); }

@inline function mix(h: u32): u32 {
  h ^= h >>> 16; h *= 0x85ebca6b; h ^= h >>> 13; h *= 0xc2b2ae35; h ^= h >>> 16;
  return h;
}
@inline function addrHash(a: usize): u32 {
  return load<u32>(a) ^ load<u32>(a, 4) * 0x9e3779b1 ^ load<u32>(a, 8) * 0x85ebca77 ^ load<u32>(a, 12) * 0xc2b2ae3d;
}
@inline function inBucket6(proto: u32, caddr: usize, cport: u32, vaddr: usize): u32 {
  return mix(addrHash(caddr) ^ addrHash(vaddr) * 31 ^ (cport | (proto << 16))) & (BUCKETS - 1);
}
@inline function outBucket6(proto: u32, daddr: usize, dport: u32, cport: u32): u32 {
  return mix(addrHash(daddr) ^ (dport | (cport << 16)) * 0x27d4eb2f ^ proto) & (BUCKETS - 1);
}

/** The connection of a client packet (proto, caddr:cport -> vaddr:vport), or 0. */
export function conn6LookupIn(proto: u32, caddr: usize, cport: u32, vaddr: usize, vport: u32): usize {
  let v = load<u32>(inHash + (<usize>inBucket6(proto, caddr, cport, vaddr) << 2));
  while (v != 0) {
    let e = conn6Entry(v - 1);
    if (<u32>load<u16>(e, Conn6Field.CPORT) == cport && <u32>load<u16>(e, Conn6Field.VPORT) == vport &&
        <u32>load<u8>(e, Conn6Field.PROTO) == proto && ipv6AddrEquals(e + Conn6Field.CADDR, caddr) &&
        ipv6AddrEquals(e + Conn6Field.VADDR, vaddr)) return e;
    v = load<u32>(e, Conn6Field.NEXT_IN);
  }
  return 0;
}

/** The NAT connection of a server's reply (proto, daddr:dport -> caddr:cport), or 0. */
export function conn6LookupOut(proto: u32, daddr: usize, dport: u32, caddr: usize, cport: u32): usize {
  let v = load<u32>(outHash + (<usize>outBucket6(proto, daddr, dport, cport) << 2));
  while (v != 0) {
    let e = conn6Entry(v - 1);
    if (<u32>load<u16>(e, Conn6Field.DPORT) == dport && <u32>load<u16>(e, Conn6Field.CPORT) == cport &&
        <u32>load<u8>(e, Conn6Field.PROTO) == proto && ipv6AddrEquals(e + Conn6Field.DADDR, daddr) &&
        ipv6AddrEquals(e + Conn6Field.CADDR, caddr)) return e;
    v = load<u32>(e, Conn6Field.NEXT_OUT);
  }
  return 0;
}

/** A new connection (ports in wire order, as the packet holds them), or 0 if the table is
 *  full (counted). flags: ConnFlag bits; timeoutMs its first timeout. */
export function conn6Create(proto: u32, caddr: usize, cport: u32, vaddr: usize, vport: u32, daddr: usize, dport: u32,
                            dest: u32, flags: u32, state: u32, timeoutMs: u32): usize {
  let i: u32;
  if (freeHead != 0) { i = freeHead - 1; freeHead = load<u32>(conn6Entry(i), Conn6Field.NEXT_IN); }
  else if (fresh < CAP) i = fresh++;
  else { count(Counter.DROP_TABLE_FULL); return 0; }
  let e = conn6Entry(i);
  ipv6AddrCopy(e + Conn6Field.CADDR, caddr);
  ipv6AddrCopy(e + Conn6Field.VADDR, vaddr);
  ipv6AddrCopy(e + Conn6Field.DADDR, daddr);
  store<u16>(e, <u16>cport, Conn6Field.CPORT);
  store<u16>(e, <u16>vport, Conn6Field.VPORT);
  store<u16>(e, <u16>dport, Conn6Field.DPORT);
  store<u8>(e, <u8>proto, Conn6Field.PROTO);
  store<u8>(e, <u8>state, Conn6Field.STATE);
  store<u32>(e, flags | ConnFlag.USED, Conn6Field.FLAGS);
  store<u32>(e, dest, Conn6Field.DEST);
  store<u32>(e, now + timeoutMs, Conn6Field.EXPIRES);
  let b = inHash + (<usize>inBucket6(proto, caddr, cport, vaddr) << 2);
  store<u32>(e, load<u32>(b), Conn6Field.NEXT_IN);
  store<u32>(b, i + 1);
  store<u32>(e, 0, Conn6Field.NEXT_OUT);
  if ((flags & ConnFlag.HASHED_OUT) != 0) {
    let o = outHash + (<usize>outBucket6(proto, daddr, dport, cport) << 2);
    store<u32>(e, load<u32>(o), Conn6Field.NEXT_OUT);
    store<u32>(o, i + 1);
  }
  conn6Count++;
  count(Counter.CONNS_CREATED);
  return e;
}

function unlink(bucket: usize, v: u32, nextField: usize): void {
  let at = bucket;
  while (true) {
    let cur = load<u32>(at);
    if (cur == 0) return;
    if (cur == v) { store<u32>(at, load<u32>(conn6Entry(cur - 1) + nextField)); return; }
    at = conn6Entry(cur - 1) + nextField;
  }
}

/** Remove entry e (counted under reason), uncounting it from its server. */
export function conn6Remove(e: usize, reason: i32): void {
  let flags = load<u32>(e, Conn6Field.FLAGS);
  if ((flags & ConnFlag.USED) == 0) return;
  let i = conn6Index(e);
  let proto = <u32>load<u8>(e, Conn6Field.PROTO);
  let cport = <u32>load<u16>(e, Conn6Field.CPORT);
  unlink(inHash + (<usize>inBucket6(proto, e + Conn6Field.CADDR, cport, e + Conn6Field.VADDR) << 2), i + 1, Conn6Field.NEXT_IN);
  if ((flags & ConnFlag.HASHED_OUT) != 0) {
    unlink(outHash + (<usize>outBucket6(proto, e + Conn6Field.DADDR, <u32>load<u16>(e, Conn6Field.DPORT), cport) << 2), i + 1, Conn6Field.NEXT_OUT);
  }
  destUnbind(load<u32>(e, Conn6Field.DEST), (flags & ConnFlag.INACTIVE) != 0);
  store<u32>(e, 0, Conn6Field.FLAGS);
  store<u32>(e, freeHead, Conn6Field.NEXT_IN);
  freeHead = i + 1;
  conn6Count--;
  count(reason);
}

let sweepCursor: u32 = 0;
let lastSweep: u32 = 0;

/** Expire a slice of the table in proportion to the time since the last call. */
export function conn6Sweep(): void {
  if (conn6Count == 0) { lastSweep = now; return; }
  let elapsed = now - lastSweep;
  lastSweep = now;
  if (<i32>elapsed <= 0) return;
  // The whole table every 4 s at most.
  let perMs = CAP >>> 12;
  let n64 = <u64>elapsed * <u64>(perMs != 0 ? perMs : 1);
  let n = n64 > <u64>fresh ? fresh : <u32>n64;
  let at = sweepCursor;
  for (let k: u32 = 0; k < n; k++) {
    if (at >= fresh) at = 0;
    let e = conn6Entry(at);
    if ((load<u32>(e, Conn6Field.FLAGS) & ConnFlag.USED) != 0 && expired(load<u32>(e, Conn6Field.EXPIRES), now)) conn6Remove(e, Counter.CONNS_EXPIRED);
    at++;
  }
  sweepCursor = at;
}

/** Remove every entry (flush, reinitialisation). */
export function conn6Flush(): void {
  for (let i: u32 = 0; i < fresh; i++) {
    let e = conn6Entry(i);
    if ((load<u32>(e, Conn6Field.FLAGS) & ConnFlag.USED) != 0) conn6Remove(e, Counter.CONNS_EXPIRED);
  }
}

/** Forget every entry without touching the servers (init: the service tables are new). */
export function conn6Reset(): void {
  memory.fill(inHash, 0, <usize>BUCKETS * 4);
  memory.fill(outHash, 0, <usize>BUCKETS * 4);
  freeHead = 0; fresh = 0; conn6Count = 0; sweepCursor = 0; lastSweep = now;
}

/** Entry i of the table if it holds a connection, else 0 (listing; i < fresh). */
export function conn6At(i: u32): usize {
  if (i >= fresh) return 0;
  let e = conn6Entry(i);
  return (load<u32>(e, Conn6Field.FLAGS) & ConnFlag.USED) != 0 ? e : 0;
}
/** Entries ever used (a bound for listing). */
export function conn6Fresh(): u32 { return fresh; }
