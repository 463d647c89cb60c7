// The control plane's periodic work, as a service with start and stop: a 100 ms heartbeat
// that measures how late its timers fire, the status file every second, and IPVS's rate
// estimator every two seconds. Timers and time come from a Clock, the engine from an
// adapter: tested on a fake clock with the in-thread engine.

import { writeFileSafelyAsync } from "../io/safe-file.js";
import { Clock, Timer } from "../io/clock.js";
import { EngineAdapter } from "../dataplane/adapter.js";
import { Estimator, ESTIMATOR_INTERVAL_MS } from "./estimator.js";
import { Lateness } from "../io/lateness.js";
import { estimateServices } from "./table.js";
import type { ServiceInfo } from "../engine/index.js";
import type { EngineSnapshot } from "../dataplane/snapshot.js";
import type { ProcessHealth } from "../metrics/metrics.js";

export const HEARTBEAT_MS = 100;
export const STATUS_MS = 1000;
/** The status file's share of the table, written every second: the first services (table order)
 *  up to these, whole; the file says how many it leaves out (`wasmvs -L -n` lists them all). */
export const STATUS_SERVICES = 1024;
export const STATUS_REAL_SERVERS = 4096;

/** The estimator's new slots (a key each) made between two turns of the event loop: ~2.5 ms. */
const NEW_SLOTS_PER_TURN = 1024;

/** Services and servers estimated between two turns of the event loop: ~0.3 ms once the
 *  estimator's code is optimised, ~1 ms before (a counters slice of 10,240 in one piece held the
 *  main thread 2-5 ms on a director's second tick, an -e arriving meanwhile waited). */
const ESTIMATES_PER_TURN = 1024;

/** Services of the status file written as text between two turns of the event loop. */
const STATUS_SERVICES_PER_TURN = 16;

/** JSON.stringify(status, null, 1), its services a few at a time with the event loop served in
 *  between: at 10,000 services the file's share (STATUS_SERVICES, STATUS_REAL_SERVERS) is 1.6 MB
 *  of text, 10-40 ms of the main thread in one piece every second (and as much again to make the
 *  services JSON-friendly), which a command arriving meanwhile waited for (issue 19's -e tail).
 *  The same bytes: a service's text at the file's depth is its own with two more spaces after
 *  each line break (JSON text has no other line break). With later, status has no services yet
 *  (an empty list) and they are later.each(service) of later.services. */
export async function statusText<S>(status: unknown, later?: { services: S[]; each: (s: S) => unknown }): Promise<string> {
  const services: unknown[] = later ? later.services : (status as { services?: unknown })?.services as unknown[];
  if (!Array.isArray(services) || (!later && services.length <= STATUS_SERVICES_PER_TURN)) return JSON.stringify(status, null, 1);
  // The rest of the file with no service, then the services put where its empty list is.
  const head = JSON.stringify(later ? status : { ...(status as object), services: [] }, null, 1);
  const empty = '\n "services": []';
  const at = head.indexOf(empty);
  if (services.length === 0 || at < 0) return head;
  const parts: string[] = [];
  for (let i = 0; i < services.length; i++) {
    if (i > 0 && i % STATUS_SERVICES_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const s = later ? later.each(services[i] as S) : services[i];
    parts.push(JSON.stringify(s, null, 1).replaceAll("\n", "\n  "));
  }
  return head.slice(0, at) + '\n "services": [\n  ' + parts.join(",\n  ") + "\n ]" + head.slice(at + empty.length);
}

export interface HousekeepingOptions {
  /** Where to write the status file (none: no file). */
  status?: string;
  /** The status file's content from a snapshot and the control plane's own figures. */
  statusOf: (s: EngineSnapshot, control: unknown) => unknown;
  /** A service as statusOf gives it in its services (given: statusOf is asked without them, and
   *  they are made and written a few at a time, statusText). */
  serviceStatus?: (s: ServiceInfo) => unknown;
  health: ProcessHealth;
  /** An error a timer survived (logged and counted by the caller). */
  survived: (what: string, e: unknown) => void;
  /** Each checked real server's health, for the status file. */
  checks?: () => unknown[];
  /** The crash journal's figures, for the status file. */
  journal?: () => unknown;
  /** Each estimator tick's snapshot, after the estimate (the dashboard's history). */
  estimated?: (s: EngineSnapshot) => void;
}

export class Housekeeping {
  readonly lateness: Lateness;
  private timers: Timer[] = [];

  constructor(private readonly engine: EngineAdapter, private readonly clock: Clock, readonly estimator: Estimator,
    private readonly o: HousekeepingOptions) {
    this.lateness = new Lateness(HEARTBEAT_MS, clock.now());
  }

  async start(): Promise<void> {
    this.timers.push(this.clock.every(HEARTBEAT_MS, () => {
      this.lateness.fired(this.clock.now());
      this.o.health.lagMs = this.lateness.lastMs;
      this.o.health.lagMaxMs = this.lateness.maxMs;
    }));
    this.periodic(STATUS_MS, "status", () => this.writeStatus());
    let ticking = false;
    const tick = async () => {
      // One tick at a time (the first one, awaited below, and the timer's): begin() and end() pair up.
      if (ticking) return;
      ticking = true;
      try {
        await this.estimateOnce();
      } finally {
        ticking = false;
      }
    };
    this.periodic(ESTIMATOR_INTERVAL_MS, "estimator", tick);
    await tick();
    await this.writeStatus();
  }

  /** One estimator tick, each slice estimated as the data path gives it: between slices the
   *  main thread serves the control socket. IPVS moved its estimator to kthreads for the same
   *  reason (ip_vs_est.c, Linux 6.2). The slices are counters only (host/dataplane/counters.ts):
   *  at 10,000 services × 10 a tick of ServiceInfo slices cost the main thread 0.3-0.5 s of
   *  deserialising and garbage every 2 s, and a command arriving meanwhile waited (issue 19's
   *  -e p99). The dashboard's history wants the services themselves: with it, they are read. */
  private async estimateOnce(): Promise<void> {
    const summary = this.o.estimated ? await this.engine.summary() : undefined;
    const services: ServiceInfo[] = [];
    this.estimator.begin();
    if (summary) {
      for await (const slice of this.engine.serviceSlices()) {
        estimateServices(slice, this.estimator);
        for (const s of slice) services.push(s);
      }
    } else {
      for await (const rows of this.engine.counterSlices()) {
        // A slice is estimated a part at a time, the event loop served in between; one whose
        // objects are new to the estimator (the first tick after a start or a large -R) makes
        // their keys a part at a time too.
        for (let at = this.estimator.updateRows(rows, 0, NEW_SLOTS_PER_TURN, ESTIMATES_PER_TURN); at < rows.length;
          at = this.estimator.updateRows(rows, at, NEW_SLOTS_PER_TURN, ESTIMATES_PER_TURN)) {
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    }
    this.estimator.end();
    if (summary) this.o.estimated!({ ...summary, services });
  }

  /** Stop the timers and write the status a last time. */
  async stop(): Promise<void> {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    await this.writeStatus().catch((e) => this.o.survived("status", e));
  }

  async writeStatus(): Promise<void> {
    if (!this.o.status) return;
    const snap = await this.engine.boundedSnapshot({ maxServices: STATUS_SERVICES, maxServers: STATUS_REAL_SERVERS });
    // VRRP's instances (and their advert lateness) as the data-path thread's state machines see them.
    const control = { timer: this.lateness.view(), errors: this.o.health.errors, refused: this.o.health.refused, health: this.o.checks?.() ?? [], vrrp: snap.vrrp ?? [],
      journal: this.o.journal?.() };
    const each = this.o.serviceStatus;
    const status = this.o.statusOf(each ? { ...snap, services: [] } : snap, control);
    const text = await statusText(status, each && { services: snap.services, each });
    // Exclusively created under a random name, then renamed: a link planted at a predictable
    // STATUS.tmp once made root write through it (host/io/safe-file.ts).
    await writeFileSafelyAsync(this.o.status, text);
  }

  private readonly inflight = new Set<Promise<void>>();

  /** The periodic work under way, done (tests on a fake clock wait for the disk with it). */
  async settled(): Promise<void> {
    while (this.inflight.size) await Promise.all(this.inflight);
  }

  /** f every ms, never two at once whatever the disk does, its errors survived. */
  private periodic(ms: number, what: string, f: () => Promise<void>): void {
    let busy = false;
    this.timers.push(this.clock.every(ms, () => {
      if (busy) return;
      busy = true;
      const run = f().catch((e) => this.o.survived(what, e)).finally(() => { busy = false; this.inflight.delete(run); });
      this.inflight.add(run);
    }));
  }
}
