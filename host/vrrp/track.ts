// What VRRP instances track (keepalived/vrrp/vrrp_track.c, vrrp_scheduler.c): vrrp_script
// results with rise/fall, the link state of director interfaces, and tracked files' numbers.
// Each tracker reports its state; the service turns that into FAULT or an effective priority.

import { tapAddon } from "../io/tap.js";
import type { Clock, Timer } from "../io/clock.js";
import type { ScriptRunner } from "../health/scripts.js";
import type { TrackWeight, VrrpScriptConfig } from "../config/vrrp.js";
import { NOTICE } from "../io/log.js";

/** One vrrp_script, run every interval (never two runs at once), good or bad with
 *  keepalived's counter: `result` in 0..rise+fall-1, good when >= rise; it starts at
 *  rise-1 so that the first result decides (init_fail: at 0, bad until rise successes). */
export class ScriptTracker {
  /** undefined until the first result (keepalived's SCRIPT_INIT_STATE_INIT). */
  good?: boolean;
  private result: number;
  private timer?: Timer;
  private stopped = false;
  readonly stats = { runs: 0, failures: 0, timeouts: 0, lastExit: "" };

  constructor(readonly cfg: VrrpScriptConfig, private readonly clock: Clock, private readonly scripts: ScriptRunner,
    private readonly onChange: (good: boolean) => void, private readonly log: (line: string) => void) {
    this.result = cfg.initFail ? 0 : cfg.rise - 1;
    if (cfg.initFail) this.good = false;
  }

  start(): void {
    void this.runOnce();
  }

  /** A reload changed the script's settings but not its command: its last result stands
   *  (keepalived's clear_diff_script: "considered successful/unsuccessful on reload"), at the
   *  new rise/fall's end of the counter. */
  carry(from: ScriptTracker): void {
    if (from.good === undefined) return;
    this.good = from.good;
    this.result = from.good ? this.cfg.rise + this.cfg.fall - 1 : 0;
    Object.assign(this.stats, from.stats);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private async runOnce(): Promise<void> {
    if (this.stopped) return;
    const r = await this.scripts.run(this.cfg.script, this.cfg.timeoutMs, [], this.cfg.user);
    if (this.stopped) return;
    this.stats.runs++;
    const ok = !r.refused && !r.timedOut && r.code === 0;
    this.stats.lastExit = r.refused ? `not run: ${r.refused}` : r.timedOut ? `timed out after ${this.cfg.timeoutMs} ms` :
      r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
    if (!ok) this.stats.failures++;
    if (r.timedOut) this.stats.timeouts++;
    this.record(ok);
    this.timer = this.clock.after(this.cfg.intervalMs, () => void this.runOnce());
  }

  /** vrrp_script_child_thread's counter. */
  record(ok: boolean): void {
    const { rise, fall } = this.cfg;
    const top = rise + fall - 1;
    const was = this.good;
    if (ok) {
      if (this.result < rise - 1) this.result++;
      else this.result = top;
    } else if (this.result > rise) this.result--;
    else this.result = 0;
    const now = this.result >= rise;
    // The first result always counts (it leaves the init state); then only changes.
    if (was === undefined || now !== was) {
      this.good = now;
      this.log(`${NOTICE}VRRP script ${this.cfg.name}: ${now ? "succeeded" : `failed (${this.stats.lastExit})`}`);
      this.onChange(now);
    }
  }
}

/** A director interface's link: up when its TAP device is up and running (IFF_UP and
 *  IFF_RUNNING, as keepalived's interface tracking reads them by netlink; this asks every
 *  LINK_POLL_MS with SIOCGIFFLAGS, in the director's own namespace). */
export const LINK_POLL_MS = 100;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
export function tapLinkUp(device: string): boolean {
  const flags = tapAddon().linkFlags(device);
  return flags >= 0 && (flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) !== 0;
}

/** What a tracker adds to an instance's priority (process_script_update_priority in its
 *  steady state): a positive weight while good, a negative one while bad; reverse swaps. */
export function weightOf(t: TrackWeight, good: boolean): number {
  const g = t.reverse ? !good : good;
  return g ? Math.max(t.weight, 0) : Math.min(t.weight, 0);
}

/** Whether a weight-0 tracker puts the instance in FAULT. */
export function faults(t: TrackWeight, good: boolean): boolean {
  return t.weight === 0 && good === t.reverse;
}

/** Tracked files are read this often. */
export const FILE_POLL_MS = 1000;

/** A tracked file's effect on an instance (vrrp_track.c process_update_vrrp_track_file_status):
 *  weight 0: FAULT while the number is not 0 (reverse: while it is 0); otherwise number x weight
 *  (negated with reverse), FAULT at -254 or below, at most 253. */
export function fileStatus(t: TrackWeight, value: number): number | "FAULT" {
  if (t.weight === 0) return (value !== 0) !== t.reverse ? "FAULT" : 0;
  const v = value * t.weight * (t.reverse ? -1 : 1);
  return v <= -254 ? "FAULT" : Math.min(253, v);
}
