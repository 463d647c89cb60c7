// Source hashing (ip_vs_sh.c): 256 buckets filled in list order, each server taking
// as many consecutive buckets as its weight (one if its weight is 0); the client's
// address picks the bucket: (ntohl(addr) * 2654435761) mod 256.

import { Abi } from "../abi";
import { bswap32 } from "../wire/bytes";
import { bucketTable, destAvailable, destNext, destOverloaded, destWeight, DEST_NONE_U16, NONE, svcHead } from "../svc/service";

@inline export function hashBucket(addrWire: u32): u32 {
  return (bswap32(addrWire) * 2654435761) & (<u32>Abi.SCHED_BUCKETS - 1);
}

export function shAssign(s: u32): void {
  let t = bucketTable(s);
  let head = svcHead(s);
  let d = head;
  let n: i32 = 0;
  for (let i: u32 = 0; i < <u32>Abi.SCHED_BUCKETS; i++) {
    if (head == NONE) { store<u16>(t + (<usize>i << 1), <u16>DEST_NONE_U16); continue; }
    if (d == NONE) d = head;
    store<u16>(t + (<usize>i << 1), <u16>d);
    if (++n >= destWeight(d)) { d = destNext(d); n = 0; }
  }
}

/** The server in a bucket if it can take the connection (AVAILABLE, weight > 0, not
 *  overloaded), else NONE: sh and dh do not fall back to another server. */
@inline export function bucketDest(s: u32, bucket: u32): u32 {
  let d = <u32>load<u16>(bucketTable(s) + (<usize>bucket << 1));
  if (d == DEST_NONE_U16 || !destAvailable(d) || destWeight(d) <= 0 || destOverloaded(d)) return NONE;
  return d;
}

export function scheduleSh(s: u32, saddr: u32): u32 {
  return bucketDest(s, hashBucket(saddr));
}
