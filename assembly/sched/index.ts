// Scheduler dispatch: the service's scheduler picks a real server for a new
// connection, and is told when the service's list of servers or their weights change.

import { Sched } from "../abi";
import { maxServices, setSchedulerHook, svcSched, NONE } from "../svc/service";
import { scheduleRr } from "./rr";
import { scheduleWrr, wrrDestsChanged } from "./wrr";
import { scheduleLc } from "./lc";
import { scheduleWlc } from "./wlc";
import { scheduleSh, shAssign } from "./sh";
import { scheduleDh, dhAssign } from "./dh";
import { scheduleNq, scheduleSed } from "./sed";
import { scheduleFo, scheduleOvf } from "./fo";
import { scheduleTwos } from "./twos";
import { lblcForget, scheduleLblc } from "./lblc";
import { lblcrForget, scheduleLblcr } from "./lblcr";
import { mhAssign, scheduleMh } from "./mh";
import { maglevBuild, maglevCanClaim, maglevRelease, scheduleMaglev } from "./maglev";

function destsChanged(s: u32): void {
  let k = svcSched(s);
  if (k == Sched.WRR) wrrDestsChanged(s);
  else if (k == Sched.SH) shAssign(s);
  else if (k == Sched.DH) dhAssign(s);
  else if (k == Sched.MH) mhAssign(s);
  else if (k == Sched.MAGLEV) maglevBuild(s, maxServices);
}

function serviceReset(s: u32): void {
  lblcForget(s);
  lblcrForget(s);
  maglevRelease(s);
}

/** Whether service s can take scheduler k (maglev needs one of its tables). */
function canSchedule(s: u32, k: u32): bool {
  return k != Sched.MAGLEV || maglevCanClaim(s, maxServices);
}

export function schedulerInit(): void {
  setSchedulerHook(destsChanged, serviceReset, canSchedule);
}

/** A real server for a new connection from saddr:sport to daddr:dport (wire order), or NONE. */
export function schedule(s: u32, saddr: u32, daddr: u32, sportWire: u32, dportWire: u32, proto: u32): u32 {
  switch (svcSched(s)) {
    case Sched.RR: return scheduleRr(s);
    case Sched.WRR: return scheduleWrr(s);
    case Sched.LC: return scheduleLc(s);
    case Sched.WLC: return scheduleWlc(s);
    case Sched.SH: return scheduleSh(s, saddr, sportWire);
    case Sched.DH: return scheduleDh(s, daddr);
    case Sched.SED: return scheduleSed(s);
    case Sched.NQ: return scheduleNq(s);
    case Sched.FO: return scheduleFo(s);
    case Sched.OVF: return scheduleOvf(s);
    case Sched.TWOS: return scheduleTwos(s);
    case Sched.LBLC: return scheduleLblc(s, daddr);
    case Sched.LBLCR: return scheduleLblcr(s, daddr);
    case Sched.MH: return scheduleMh(s, saddr, sportWire);
    case Sched.MAGLEV: return scheduleMaglev(s, saddr, daddr, sportWire, dportWire, proto);
  }
  return NONE;
}
