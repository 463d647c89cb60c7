// The dashboard's memory: the last hour of what its charts show (new connections per second
// per service, packets per second through the director, active connections per real
// server), one point per estimator tick (2 s, IPVS's estimation interval), kept on the
// server so that a page opened now draws the past. Rates are the counters' differences over
// the tick, as the page computes them from successive views (not the estimator's smoothed
// average). Memory is fixed at construction: ring buffers of HISTORY_POINTS points for at
// most HISTORY_SERVICES services and HISTORY_SERVERS servers (their first appearance takes a
// slot; a slot whose series has been empty for the whole window is taken again; past that,
// new series are not kept and the reply says so). 1800 points x (1 + 32 + 2 + 64) series x 8
// bytes: 1.4 MB.

import type { EngineSnapshot } from "../dataplane/snapshot.js";
import { ESTIMATOR_INTERVAL_MS } from "../control/estimator.js";

/** One hour at the estimator's resolution. */
export const HISTORY_POINTS = 3600_000 / ESTIMATOR_INTERVAL_MS;
export const HISTORY_SERVICES = 32;
export const HISTORY_SERVERS = 64;

/** Named series in fixed slots of one ring (NaN: no value at that point). */
class Slots {
  private readonly index = new Map<string, number>();
  private readonly names: (string | undefined)[];
  readonly values: Float64Array;
  /** Series not kept at the latest point for want of a slot. */
  refused = 0;
  /** The point at which no slot could be freed: no second scan for it. */
  private fullAt = -1;

  constructor(private readonly points: number, readonly capacity: number) {
    this.names = Array(capacity).fill(undefined);
    this.values = new Float64Array(points * capacity).fill(NaN);
  }

  /** The slot of name, taken if need be at point pos (undefined: none free). */
  private slot(name: string, pos: number): number | undefined {
    const have = this.index.get(name);
    if (have !== undefined) return have;
    let k = this.names.indexOf(undefined);
    if (k < 0) {
      // A series with no value left in the window is gone: its slot is free again. One scan
      // per point at most, however many new series want one.
      k = this.fullAt === pos ? -1 : this.names.findIndex((_, j) => this.values.subarray(j * this.points, (j + 1) * this.points).every(Number.isNaN));
      if (k < 0) { this.fullAt = pos; this.refused++; return undefined; }
      this.index.delete(this.names[k]!);
    }
    this.names[k] = name;
    this.index.set(name, k);
    this.values.fill(NaN, k * this.points, (k + 1) * this.points);
    return k;
  }

  /** Point pos of every slot to NaN (a new point begins). */
  clear(pos: number): void {
    this.refused = 0;
    this.fullAt = -1;
    for (let j = 0; j < this.capacity; j++) this.values[j * this.points + pos] = NaN;
  }

  set(name: string, pos: number, v: number): void {
    const k = this.slot(name, pos);
    if (k !== undefined) this.values[k * this.points + pos] = v;
  }

  /** Each named series oldest first over the ring's order (null: no value). */
  series(order: number[]): Record<string, (number | null)[]> {
    const out: Record<string, (number | null)[]> = {};
    this.names.forEach((name, k) => {
      if (name === undefined) return;
      const v = order.map((p) => this.values[k * this.points + p]);
      if (v.some((x) => !Number.isNaN(x))) out[name] = v.map((x) => (Number.isNaN(x) ? null : Math.round(x * 1000) / 1000));
    });
    return out;
  }
}

export interface HistoryView {
  intervalMs: number;
  /** Points the ring holds at most, and series per chart. */
  capacity: { points: number; services: number; servers: number };
  /** Wall-clock milliseconds of each point, oldest first, and of the tick before the first
   *  (each point's rates are over the time since the one before it). */
  at: number[];
  from?: number;
  charts: { cps: Record<string, (number | null)[]>; pps: Record<string, (number | null)[]>; active: Record<string, (number | null)[]> };
  /** Series not kept for want of a slot (more services or servers than the bounds). */
  refused: number;
}

/** A service as the page names it. */
export const serviceLabel = (s: { fwmark?: number; protocol: string; address: string; port: number }) =>
  (s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${s.address}:${s.port}`);

export class History {
  private readonly at: Float64Array;
  private head = 0;
  private length = 0;
  private from?: number;
  private readonly cps: Slots;
  private readonly pps: Slots;
  private readonly active: Slots;
  private previous?: { at: number; conns: Map<string, bigint>; inpkts: bigint; outpkts: bigint };

  constructor(private readonly points = HISTORY_POINTS, services = HISTORY_SERVICES, servers = HISTORY_SERVERS) {
    this.at = new Float64Array(points);
    this.cps = new Slots(points, services);
    this.pps = new Slots(points, 2);
    this.active = new Slots(points, servers);
  }

  /** One estimator tick's snapshot, taken at wall-clock ms `at`. The first only sets the base. */
  record(snap: EngineSnapshot, at: number): void {
    const conns = new Map<string, bigint>();
    let inpkts = 0n, outpkts = 0n;
    for (const s of snap.services) {
      conns.set(serviceLabel(s), s.stats.conns);
      inpkts += s.stats.inpkts;
      outpkts += s.stats.outpkts;
    }
    const before = this.previous;
    this.previous = { at, conns, inpkts, outpkts };
    if (!before || at <= before.at) return;
    const dt = (at - before.at) / 1000;
    // A counter that went back (ipvsadm -Z) is a rate of 0 for that tick, as on the page.
    const rate = (now: bigint, then: bigint) => Math.max(0, Number(now - then)) / dt;
    const pos = (this.head + this.length) % this.points;
    if (this.length === 0) this.from = before.at;
    if (this.length < this.points) this.length++;
    else {
      this.from = this.at[this.head];
      this.head = (this.head + 1) % this.points;
    }
    this.at[pos] = at;
    for (const slots of [this.cps, this.pps, this.active]) slots.clear(pos);
    for (const [name, c] of conns) {
      const then = before.conns.get(name);
      if (then !== undefined) this.cps.set(name, pos, rate(c, then));
    }
    this.pps.set("in", pos, rate(inpkts, before.inpkts));
    this.pps.set("out", pos, rate(outpkts, before.outpkts));
    const active = new Map<string, number>();
    for (const s of snap.services) for (const r of s.realServers) active.set(`${r.address}:${r.port}`, (active.get(`${r.address}:${r.port}`) ?? 0) + r.active);
    for (const [name, n] of active) this.active.set(name, pos, n);
  }

  view(): HistoryView {
    const order = Array.from({ length: this.length }, (_, k) => (this.head + k) % this.points);
    return {
      intervalMs: ESTIMATOR_INTERVAL_MS,
      capacity: { points: this.points, services: this.cps.capacity, servers: this.active.capacity },
      at: order.map((p) => this.at[p]),
      ...(this.from !== undefined ? { from: this.from } : {}),
      charts: { cps: this.cps.series(order), pps: this.pps.series(order), active: this.active.series(order) },
      refused: this.cps.refused + this.active.refused,
    };
  }
}
