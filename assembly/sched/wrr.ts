// Weighted round robin (ip_vs_wrr.c): a current weight cw steps down by the gcd of the
// weights from the maximum; each pass over the list takes servers whose weight is at
// least cw. Weights 4,3,2 thus give IPVS's sequence, not a smoothed one.

import { destNext, destOverloaded, destWeight, NONE, svcHead, svcRec, SVC_SCHED_CURSOR, SVC_SCHED_CW, SVC_SCHED_DI, SVC_SCHED_MW } from "../svc/service";

function gcd(a: i32, b: i32): i32 {
  while (b != 0) { let t = a % b; a = b; b = t; }
  return a;
}

/** ip_vs_wrr_dest_changed (and init_svc when cw is 0). */
export function wrrDestsChanged(s: u32): void {
  let r = svcRec(s);
  let g: i32 = 0;
  let max: i32 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    let w = destWeight(d);
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > max) max = w;
  }
  let di = g != 0 ? g : 1;
  let mw = max - (di - 1);
  let cw = load<i32>(r, SVC_SCHED_CW);
  store<u32>(r, NONE, SVC_SCHED_CURSOR);
  store<i32>(r, di, SVC_SCHED_DI);
  store<i32>(r, mw, SVC_SCHED_MW);
  if (cw > mw || cw == 0) cw = mw;
  else if (di > 1) cw = (cw / di) * di + 1;
  store<i32>(r, cw, SVC_SCHED_CW);
}

@inline const NO_STOP: u32 = 0xfffffffe;

export function scheduleWrr(s: u32): u32 {
  let r = svcRec(s);
  let mw = load<i32>(r, SVC_SCHED_MW);
  let di = load<i32>(r, SVC_SCHED_DI);
  let cw = load<i32>(r, SVC_SCHED_CW);
  let dest = load<u32>(r, SVC_SCHED_CURSOR); // NONE stands for the list head
  if (mw == 0) return NONE;
  let last = dest;
  let stop = NO_STOP;
  let lastPass = false;
  let restarted = false;
  let found = NONE;
  while (true) {
    // list_for_each_entry_continue: from the entry after 'dest' up to the head.
    let d = dest == NONE ? svcHead(s) : destNext(dest);
    let over = false;
    while (d != NONE) {
      if (!destOverloaded(d) && destWeight(d) >= cw) { found = d; break; }
      if (d == stop) { over = true; break; }
      d = destNext(d);
    }
    if (found != NONE) break;
    if (over) { dest = d; break; }
    dest = NONE; // the walk ended on the head
    cw -= di;
    if (cw <= 0) {
      cw = mw;
      if (lastPass || last == NONE) break;
      restarted = true;
    }
    lastPass = cw <= di;
    if (lastPass && restarted && last != NONE) stop = last;
  }
  store<i32>(r, cw, SVC_SCHED_CW);
  store<u32>(r, found != NONE ? found : dest, SVC_SCHED_CURSOR);
  return found;
}
