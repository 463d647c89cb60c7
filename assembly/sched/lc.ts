// Least connections (ip_vs_lc.c): the server with the smallest overhead, where
// overhead = active * 256 + inactive (ip_vs_dest_conn_overhead). Ties go to the
// first in list order.

import { destActive, destInactive, destNext, destOverloaded, destWeight, NONE, svcHead } from "../svc/service";

@inline export function connOverhead(d: u32): u32 {
  return (destActive(d) << 8) + destInactive(d);
}

export function scheduleLc(s: u32): u32 {
  let least = NONE;
  let loh: u32 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    if (destOverloaded(d) || destWeight(d) == 0) continue;
    let doh = connOverhead(d);
    if (least == NONE || doh < loh) { least = d; loh = doh; }
  }
  return least;
}
