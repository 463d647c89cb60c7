// The control plane's periodic work, as a service with start and stop: a 100 ms heartbeat
// that measures how late its timers fire, the status file every second, and IPVS's rate
// estimator every two seconds. Timers and time come from a Clock, the engine from an
// adapter: tested on a fake clock with the in-thread engine.

import { writeFileSafelyInPieces } from "../io/safe-file.js";
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

/** The longest a piece of an estimator tick waits for a command being served (Estimator.commands):
 *  commands back to back (a script of -e) delay a tick's pieces by this much at most. */
const COMMAND_WAIT_MS = 20;

/** The main thread's time making the status file's text between two turns of the event loop. */
const STATUS_MS_PER_TURN = 0.5;

/** A list of the status file made and written an entry at a time: each(item) of each item. */
export interface LaterList<S = unknown> {
  items: Iterable<S>;
  each?: (item: S) => unknown;
}

/** Where a later list goes in the status object: a string JSON writes as no other value. */
const listMark = (n: number) => `\u0000wasmvs status list ${n}\u0000`;

/** JSON.stringify(status, null, 1), given to write a piece at a time, with the event loop served
 *  every STATUS_MS_PER_TURN: at 10,000 services the file's share (STATUS_SERVICES,
 *  STATUS_REAL_SERVERS) is 1.6 MB of text, 10-40 ms of the main thread in one piece every second
 *  (and as much again to make the services JSON-friendly), and a keepalived.conf's checked servers
 *  (control.health) 18 MB, ~180 ms; a command arriving meanwhile waited (issue 19's -e tail).
 *  lists: values of status that are listMark(n) strings (statusMarks) are lists[n], written
 *  entry by entry: the same bytes, an entry's text at the list's depth being its own with the
 *  depth's spaces after each line break (JSON text has no other line break). */
export async function statusPieces(status: unknown, lists: LaterList[], write: (piece: string) => Promise<void> | void): Promise<void> {
  const text = JSON.stringify(status, null, 1);
  // Each list's place in the text, in the text's order.
  const places = lists.map((list, n) => ({ list, mark: JSON.stringify(listMark(n)) })).map((x) => ({ ...x, at: text.indexOf(x.mark) }))
    .filter((x) => x.at >= 0).sort((a, b) => a.at - b.at);
  let from = 0;
  let turn = performance.now();
  for (const { list: { items, each }, mark, at } of places) {
    const lineStart = text.lastIndexOf("\n", at) + 1;
    let indent = 0;
    while (text[lineStart + indent] === " ") indent++;
    const outer = "\n" + " ".repeat(indent);
    const inner = outer + " ";
    let first = true;
    for (const item of items) {
      if (performance.now() - turn >= STATUS_MS_PER_TURN) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        turn = performance.now();
      }
      const x = (JSON.stringify(each ? each(item) : item, null, 1) ?? "null").replaceAll("\n", inner);
      await write(first ? text.slice(from, at) + "[" + inner + x : "," + inner + x);
      first = false;
    }
    await write(first ? text.slice(from, at) + "[]" : outer + "]");
    from = at + mark.length;
  }
  await write(text.slice(from));
}

/** status with its lists' places marked for statusPieces: its services (later's items, made by
 *  later's each, when given: status's own list is then empty) and control.health (each checked
 *  real server: 100,000 of a keepalived.conf of 10,000 services × 10). */
function statusMarks(status: unknown, later?: LaterList, health?: Iterable<unknown>): { status: unknown; lists: LaterList[] } {
  const lists: LaterList[] = [];
  if (typeof status !== "object" || status === null || Array.isArray(status)) return { status, lists };
  const top = { ...(status as Record<string, unknown>) };
  const services = later ?? (Array.isArray(top.services) ? { items: top.services as unknown[] } : undefined);
  if (services && "services" in top) {
    top.services = listMark(lists.length);
    lists.push(services);
  }
  const control = top.control;
  if (typeof control === "object" && control !== null && Array.isArray((control as { health?: unknown }).health)) {
    top.control = { ...(control as Record<string, unknown>), health: listMark(lists.length) };
    lists.push({ items: health ?? (control as { health: unknown[] }).health });
  }
  return { status: top, lists };
}

/** The status file's text (statusPieces) as one string. With later, status has no services yet
 *  (an empty list) and they are later.each(service) of later.items. */
export async function statusText<S>(status: unknown, later?: { services: S[]; each: (s: S) => unknown }): Promise<string> {
  const parts: string[] = [];
  const marked = statusMarks(status, later && { items: later.services, each: later.each as (s: unknown) => unknown });
  await statusPieces(marked.status, marked.lists, (piece) => { parts.push(piece); });
  return parts.join("");
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
  /** Each checked real server's health, for the status file (made as it is written). */
  checks?: () => Iterable<unknown>;
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
      const commandServed = () => this.estimator.commands.quiet((f) => this.clock.after(COMMAND_WAIT_MS, f));
      for await (const rows of this.engine.counterSlices()) {
        // A slice is estimated a part at a time, the event loop served in between; one whose
        // objects are new to the estimator (the first tick after a start or a large -R) makes
        // their keys a part at a time too. A command being served goes first (CommandsInFlight).
        await commandServed();
        for (let at = this.estimator.updateRows(rows, 0, NEW_SLOTS_PER_TURN, ESTIMATES_PER_TURN); at < rows.length;
          at = this.estimator.updateRows(rows, at, NEW_SLOTS_PER_TURN, ESTIMATES_PER_TURN)) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          await commandServed();
        }
        // (and before the next slice is asked of the data-path thread, where it would go first)
        await commandServed();
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
    // health: its place (each checked real server made as it is written, statusMarks).
    const control = { timer: this.lateness.view(), errors: this.o.health.errors, refused: this.o.health.refused, health: [], vrrp: snap.vrrp ?? [],
      journal: this.o.journal?.() };
    const each = this.o.serviceStatus;
    const status = this.o.statusOf(each ? { ...snap, services: [] } : snap, control);
    const marked = statusMarks(status, each && { items: snap.services, each: each as (s: unknown) => unknown }, this.o.checks?.() ?? []);
    // Exclusively created under a random name, then renamed: a link planted at a predictable
    // STATUS.tmp once made root write through it (host/io/safe-file.ts). Written as it is made.
    await writeFileSafelyInPieces(this.o.status, (write) => statusPieces(marked.status, marked.lists, write));
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
