// The health of checkers, real servers and virtual servers, as keepalived decides it —
// pure state machines, no sockets and no timers, so that every rule is tested on its own.
//
// Checker (keepalived/check/check_tcp.c tcp_epilog, used alike by every checker):
// a success resets the retry count and brings a down checker up; a failure of an up
// checker is retried after delay_before_retry until `retry` retries failed too, so a
// server goes down after retry+1 consecutive failures; a down checker is checked again
// after delay_loop. At start an up checker (no alpha) goes down at its first failure
// (keepalived starts retry_it at retry); with alpha it starts down and comes up at its
// first success.
//
// Real server (ipwrapper.c update_svr_checker_state): alive when none of its checkers
// failed; its weight is the configured one plus what its checkers add (misc_dynamic,
// FILE_CHECK weights).
//
// Virtual server (ipwrapper.c update_quorum_state): quorum is the sum of the weights of
// the alive real servers; it is lost when that sum is 0 or below quorum - hysteresis, and
// gained again at quorum + hysteresis. While quorum is lost the sorry server, if any,
// replaces the real servers.

import type { CheckerConfig } from "../config/health.js";
import type { Outcome } from "./checkers/outcome.js";

/** A probe's outcome (checkers/outcome.ts) and how long it took. */
export interface CheckResult extends Outcome {
  latencyMs: number;
}

export class CheckerState {
  isUp: boolean;
  hasRun = false;
  retryIt: number;
  /** What this checker adds to its server's weight. */
  curWeight = 0;
  last?: CheckResult & { at: number };
  lastChange?: number;

  constructor(readonly cfg: CheckerConfig) {
    this.isUp = !cfg.alpha;
    this.retryIt = cfg.retry;
  }

  /**
   * A check's result; returns when the next check is due (ms from now) and whether the
   * checker changed state. baseWeight is the server's configured weight (misc_dynamic
   * sets the server's weight to exit-2, as keepalived does by offsetting it).
   */
  record(r: CheckResult, now: number, baseWeight: number): { nextMs: number; changed: boolean; weightChanged: boolean } {
    const c = this.cfg;
    this.last = { ...r, at: now };
    let nextMs = c.delayLoopMs;
    let changed = false;
    let weightChanged = false;
    if (r.ok || ((this.isUp || !this.hasRun) && this.retryIt >= c.retry)) {
      this.retryIt = 0;
      if (r.ok && !this.isUp) changed = true;
      else if (!r.ok && this.isUp) changed = true;
      if (changed) {
        this.isUp = r.ok;
        this.lastChange = now;
      }
    } else if (this.isUp) {
      nextMs = c.delayBeforeRetryMs;
      this.retryIt++;
    } else if (c.kind === "HTTP_GET" || c.kind === "SSL_GET") {
      // fast_recovery: a down server is checked again after delay_before_retry, not delay_loop.
      if (c.fastRecovery) nextMs = c.delayBeforeRetryMs;
    }
    const w = r.weight !== undefined ? r.weight - baseWeight : r.add ?? 0;
    if (r.ok && w !== this.curWeight) {
      this.curWeight = w;
      weightChanged = true;
    } else if (!r.ok && this.curWeight !== 0 && changed) {
      this.curWeight = 0;
      weightChanged = true;
    }
    this.hasRun = true;
    // A tracked file is read at least every second (keepalived watches it with inotify).
    if (c.kind === "FILE_CHECK") nextMs = Math.min(c.delayLoopMs, 1000);
    return { nextMs, changed, weightChanged };
  }
}

/** A real server's state from its checkers: alive, and what they add to its weight. */
export function serverState(checkers: CheckerState[]): { alive: boolean; add: number } {
  let add = 0;
  let alive = true;
  for (const c of checkers) {
    if (!c.isUp) alive = false;
    add += c.curWeight;
  }
  return { alive, add };
}

/** The quorum state machine of one virtual server (ipwrapper.c update_quorum_state). */
export class QuorumState {
  up: boolean;

  /** At start, quorum is up when the live weight reaches quorum + hysteresis. */
  constructor(readonly quorum: number, readonly hysteresis: number, liveWeight: number) {
    this.up = liveWeight >= quorum + hysteresis;
  }

  /** The new live weight sum; returns "gained", "lost" or undefined (no change). */
  update(liveWeight: number): "gained" | "lost" | undefined {
    const threshold = this.quorum + (this.up ? -1 : 1) * this.hysteresis;
    if (!this.up && liveWeight >= threshold) {
      this.up = true;
      return "gained";
    }
    if (this.up && (liveWeight === 0 || liveWeight < threshold)) {
      this.up = false;
      return "lost";
    }
    return undefined;
  }
}
