// Destination hashing (ip_vs_dh.c): 256 buckets filled round-robin in list order —
// IPVS's dh does not replicate buckets by weight, the weight only decides whether a
// server may be chosen — and the packet's destination address picks the bucket.

import { Abi } from "../abi";
import { destNext, NONE, svcHead, svcSchedTable } from "../svc/service";
import { bucketDest, hashBucket } from "./sh";

export function dhAssign(s: u32): void {
  let t = svcSchedTable(s);
  let head = svcHead(s);
  let d = head;
  for (let i: u32 = 0; i < <u32>Abi.SCHED_BUCKETS; i++) {
    if (head == NONE) { store<u32>(t + (<usize>i << 2), NONE); continue; }
    if (d == NONE) d = head;
    store<u32>(t + (<usize>i << 2), d);
    d = destNext(d);
  }
}

export function scheduleDh(s: u32, daddr: u32): u32 {
  return bucketDest(s, hashBucket(daddr));
}
