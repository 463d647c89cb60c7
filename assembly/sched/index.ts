// Scheduler dispatch: the service's scheduler picks a real server for a new
// connection, and is told when the service's list of servers or their weights change.

import { Sched, ServiceField } from "../abi";
import { setSchedulerHook, svcRec, svcSched, NONE } from "../svc/service";
import { scheduleRr } from "./rr";
import { scheduleWrr, wrrDestsChanged } from "./wrr";
import { scheduleLc } from "./lc";
import { scheduleWlc } from "./wlc";
import { scheduleSh, shAssign } from "./sh";
import { scheduleDh, dhAssign } from "./dh";
import { scheduleNq, scheduleSed } from "./sed";
import { scheduleFo, scheduleOvf } from "./fo";
import { scheduleTwos } from "./twos";
import { lblcCollect, lblcForget, scheduleLblc } from "./lblc";
import { lblcrCollect, lblcrForget, scheduleLblcr } from "./lblcr";
import { mhAssign, scheduleMh } from "./mh";
import { maglevChanged, scheduleMaglev } from "./maglev";

/** sh, dh and mh fill their table again before its next use, not at every change (the
 *  table is a function of the servers as they are then, so it is the same table): loading
 *  a service of n servers costs one fill, not n. maglev does the same (maglevChanged). */
function destsChanged(s: u32): void {
  let k = svcSched(s);
  if (k == Sched.WRR) wrrDestsChanged(s);
  else if (k == Sched.SH || k == Sched.DH || k == Sched.MH) store<u32>(svcRec(s), 1, ServiceField.SCHED_TABLE_DIRTY);
  else if (k == Sched.MAGLEV) maglevChanged(s);
}

/** Fill service s's sh, dh or mh table if a change left it stale. */
@inline function ensureFilled(s: u32, k: u32): void {
  let r = svcRec(s);
  if (load<u32>(r, ServiceField.SCHED_TABLE_DIRTY) == 0) return;
  store<u32>(r, 0, ServiceField.SCHED_TABLE_DIRTY);
  if (k == Sched.SH) shAssign(s);
  else if (k == Sched.DH) dhAssign(s);
  else mhAssign(s);
}

/** Service s left scheduler k: lblc's and lblcr's memory of it goes (a walk of their
 *  table, so only for a service that had one of them). */
function schedulerLeft(s: u32, k: u32): void {
  if (k == Sched.LBLC) lblcForget(s);
  else if (k == Sched.LBLCR) lblcrForget(s);
}

/** CHECK_EXPIRE_INTERVAL and COUNT_FOR_FULL_EXPIRATION of ip_vs_lblc.c / ip_vs_lblcr.c. */
const CHECK_EXPIRE_INTERVAL_MS: u32 = 60 * 1000;
const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
let lastCheck: u32 = 0;
let checks: u32 = 0;
let checking = false;

/** The schedulers' timer, from the engine's tick: lblc's and lblcr's periodic check. */
export function schedulerTick(now: u32): void {
  if (!checking) { checking = true; lastCheck = now; return; }
  if (<i32>(now - lastCheck) < <i32>CHECK_EXPIRE_INTERVAL_MS) return;
  lastCheck = now;
  if (++checks % COUNT_FOR_FULL_EXPIRATION != 0) return;
  lblcCollect();
  lblcrCollect();
}

export function schedulerInit(): void {
  checking = false;
  checks = 0;
  setSchedulerHook(destsChanged, schedulerLeft);
}

/** A real server for a new connection from saddr:sport to daddr:dport (wire order), or NONE. */
export function schedule(s: u32, saddr: u32, daddr: u32, sportWire: u32, dportWire: u32, proto: u32): u32 {
  switch (svcSched(s)) {
    case Sched.RR: return scheduleRr(s);
    case Sched.WRR: return scheduleWrr(s);
    case Sched.LC: return scheduleLc(s);
    case Sched.WLC: return scheduleWlc(s);
    case Sched.SH: ensureFilled(s, Sched.SH); return scheduleSh(s, saddr, sportWire);
    case Sched.DH: ensureFilled(s, Sched.DH); return scheduleDh(s, daddr);
    case Sched.SED: return scheduleSed(s);
    case Sched.NQ: return scheduleNq(s);
    case Sched.FO: return scheduleFo(s);
    case Sched.OVF: return scheduleOvf(s);
    case Sched.TWOS: return scheduleTwos(s);
    case Sched.LBLC: return scheduleLblc(s, daddr);
    case Sched.LBLCR: return scheduleLblcr(s, daddr);
    case Sched.MH: ensureFilled(s, Sched.MH); return scheduleMh(s, saddr, sportWire);
    case Sched.MAGLEV: return scheduleMaglev(s, saddr, daddr, sportWire, dportWire, proto);
  }
  return NONE;
}
