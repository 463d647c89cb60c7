// Source hashing (ip_vs_sh.c): 256 buckets filled in list order, each server taking
// as many consecutive buckets as its weight (one if its weight is 0); the client's
// address picks the bucket: (offset + (ntohs(port) + ntohl(addr)) * 2654435761) mod 256,
// port the client's with sh-port (else 0), offset 0 — or, with sh-fallback when that
// server cannot take the connection, 0, 1, ... added to the first bucket in turn, the
// kernel's deterministic walk round the table (ip_vs_sh_get_fallback).

import { Abi } from "../abi";
import { bswap16, bswap32 } from "../wire/bytes";
import { destAvailable, destNext, destOverloaded, destWeight, NONE, svcHead, svcSchedFlags, svcSchedTable } from "../svc/service";

/** IP_VS_SVC_F_SCHED_SH_FALLBACK, _SH_PORT as ServiceField.SCHED_FLAGS holds them. */
@inline const SH_FALLBACK: u32 = 1;
@inline const SH_PORT: u32 = 2;

@inline export function hashBucket(addrWire: u32): u32 {
  return (bswap32(addrWire) * 2654435761) & (<u32>Abi.SCHED_BUCKETS - 1);
}

/** ip_vs_sh_hashkey. */
@inline function shKey(addrWire: u32, portWire: u32, offset: u32): u32 {
  return (offset + (bswap16(portWire) + bswap32(addrWire)) * 2654435761) & (<u32>Abi.SCHED_BUCKETS - 1);
}

export function shAssign(s: u32): void {
  let t = svcSchedTable(s);
  let head = svcHead(s);
  let d = head;
  let n: i32 = 0;
  for (let i: u32 = 0; i < <u32>Abi.SCHED_BUCKETS; i++) {
    if (head == NONE) { store<u32>(t + (<usize>i << 2), NONE); continue; }
    if (d == NONE) d = head;
    store<u32>(t + (<usize>i << 2), d);
    if (++n >= destWeight(d)) { d = destNext(d); n = 0; }
  }
}

/** The server in a bucket if it can take the connection (AVAILABLE, weight > 0, not
 *  overloaded), else NONE: sh and dh do not fall back to another server. */
@inline export function bucketDest(s: u32, bucket: u32): u32 {
  let d = load<u32>(svcSchedTable(s) + (<usize>bucket << 2));
  if (d == NONE || !destAvailable(d) || destWeight(d) <= 0 || destOverloaded(d)) return NONE;
  return d;
}

export function scheduleSh(s: u32, saddr: u32, sportWire: u32): u32 {
  let flags = svcSchedFlags(s);
  let port = (flags & SH_PORT) != 0 ? sportWire : 0;
  let first = shKey(saddr, port, 0);
  let d = bucketDest(s, first);
  if (d != NONE || (flags & SH_FALLBACK) == 0) return d;
  // The bucket's server cannot take it: walk the table from there (an empty bucket ends it).
  if (load<u32>(svcSchedTable(s) + (<usize>first << 2)) == NONE) return NONE;
  for (let offset: u32 = 0; offset < <u32>Abi.SCHED_BUCKETS; offset++) {
    let b = shKey(saddr, port, (offset + first) & (<u32>Abi.SCHED_BUCKETS - 1));
    if (load<u32>(svcSchedTable(s) + (<usize>b << 2)) == NONE) return NONE;
    d = bucketDest(s, b);
    if (d != NONE) return d;
  }
  return NONE;
}
