// Weighted failover (ip_vs_fo.c): every connection to the server of the highest weight that
// is not overloaded (the first of equals in list order). Overflow (ip_vs_ovf.c): the same,
// but a server whose active connections exceed its weight is passed over for the next.

import { destActive, destNext, destOverloaded, destWeight, NONE, svcHead } from "../svc/service";

export function scheduleFo(s: u32): u32 {
  let best = NONE;
  let hw: i32 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    if (!destOverloaded(d) && destWeight(d) > hw) { best = d; hw = destWeight(d); }
  }
  return best;
}

export function scheduleOvf(s: u32): u32 {
  let best = NONE;
  let hw: i32 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    let w = destWeight(d);
    if (destOverloaded(d) || <i64>destActive(d) > <i64>w || w == 0) continue;
    if (best == NONE || w > hw) { best = d; hw = w; }
  }
  return best;
}
