// Round robin (ip_vs_rr.c): walk the list circularly from the server after the last
// one chosen, and take the first that is not overloaded and has a weight above 0.

import { destNext, destOverloaded, destWeight, NONE, svcHead, svcRec, SVC_SCHED_CURSOR } from "../svc/service";

export function scheduleRr(s: u32): u32 {
  let r = svcRec(s);
  let head = svcHead(s);
  if (head == NONE) return NONE;
  let last = load<u32>(r, SVC_SCHED_CURSOR);
  let d = last == NONE ? head : destNext(last);
  // One full turn at most, ending on 'last' itself.
  while (true) {
    if (d == NONE) {
      if (last == NONE) return NONE; // started at the head and went round
      d = head;
    }
    if (!destOverloaded(d) && destWeight(d) > 0) {
      store<u32>(r, d, SVC_SCHED_CURSOR);
      return d;
    }
    if (d == last) return NONE;
    d = destNext(d);
  }
}
