// Shortest expected delay (ip_vs_sed.c): the server with the smallest (active + 1) / weight,
// compared by cross-multiplication as IPVS does; inactive connections do not count. The
// first usable server in list order starts the search; later ones replace it only when
// strictly better.

import { destActive, destNext, destOverloaded, destWeight, NONE, svcHead } from "../svc/service";

@inline function expected(d: u32): i64 { return <i64>destActive(d) + 1; }

export function scheduleSed(s: u32): u32 {
  let least = NONE;
  let d = svcHead(s);
  for (; d != NONE; d = destNext(d)) {
    if (!destOverloaded(d) && destWeight(d) > 0) { least = d; break; }
  }
  if (least == NONE) return NONE;
  let loh = expected(least);
  for (d = destNext(least); d != NONE; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let doh = expected(d);
    if (loh * <i64>destWeight(d) > doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}

/** Never queue (ip_vs_nq.c): an idle server (no active connection) at once, the first in
 *  list order; otherwise shortest expected delay as sed. */
export function scheduleNq(s: u32): u32 {
  let least = NONE;
  let loh: i64 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    if (destOverloaded(d) || destWeight(d) == 0) continue;
    let doh = expected(d);
    if (destActive(d) == 0) return d;
    if (least == NONE || loh * <i64>destWeight(d) > doh * <i64>destWeight(least)) { least = d; loh = doh; }
  }
  return least;
}
