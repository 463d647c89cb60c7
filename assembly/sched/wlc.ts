// Weighted least connections (ip_vs_wlc.c): the server with the smallest
// overhead / weight, compared by cross-multiplication as IPVS does:
// loh * weight(d) > doh * weight(least) selects d.

import { destNext, destOverloaded, destWeight, NONE, svcHead } from "../svc/service";
import { connOverhead } from "./lc";

export function scheduleWlc(s: u32): u32 {
  let least = NONE;
  let d = svcHead(s);
  for (; d != NONE; d = destNext(d)) {
    if (!destOverloaded(d) && destWeight(d) > 0) { least = d; break; }
  }
  if (least == NONE) return NONE;
  let loh = <i64>connOverhead(least);
  for (d = destNext(least); d != NONE; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let doh = <i64>connOverhead(d);
    if (loh * <i64>destWeight(d) > doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}
