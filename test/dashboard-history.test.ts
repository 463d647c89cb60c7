// The dashboard's server-side history (host/dashboard/history.ts): rates from the counters'
// differences per estimator tick, an hour of points in a fixed ring, a bounded number of
// series per chart, slots freed by series gone for the whole window.

import { describe, expect, it } from "vitest";
import { History, HISTORY_POINTS, HISTORY_SERVERS, HISTORY_SERVICES } from "../host/dashboard/history.js";
import type { EngineSnapshot } from "../host/dataplane/requests.js";

/** A snapshot of services "TCP 10.0.0.<k>:80" with their connection and packet counters and
 *  one real server each with `active` connections. */
function snap(services: { k: number; conns: number; pkts?: number; active?: number }[]): EngineSnapshot {
  return {
    services: services.map(({ k, conns, pkts = 0, active = 0 }) => ({
      protocol: "tcp", address: `10.0.0.${k}`, port: 80, scheduler: "rr", index: k,
      stats: { conns: BigInt(conns), inpkts: BigInt(pkts), outpkts: BigInt(2 * pkts), inbytes: 0n, outbytes: 0n },
      realServers: [{ address: `10.1.0.${k}`, port: 8080, method: "nat", weight: 1, active, inactive: 0 }],
    })),
  } as unknown as EngineSnapshot;
}

describe("the dashboard's history", () => {
  it("one point per tick after the first: each service's new connections per second, packets in and out, active per server", () => {
    const h = new History();
    expect(h.view().at).toEqual([]);
    h.record(snap([{ k: 1, conns: 100, pkts: 1000, active: 3 }]), 10_000);
    expect(h.view().at).toEqual([]); // the base
    h.record(snap([{ k: 1, conns: 160, pkts: 1400, active: 5 }]), 12_000);
    // Zeroed (-Z): a rate of 0 for that tick, not a negative one.
    h.record(snap([{ k: 1, conns: 0, pkts: 0, active: 5 }, { k: 2, conns: 7 }]), 14_000);
    h.record(snap([{ k: 1, conns: 10, pkts: 100, active: 4 }, { k: 2, conns: 11 }]), 16_000);
    const v = h.view();
    expect(v).toMatchObject({ intervalMs: 2000, capacity: { points: 1800, services: 32, servers: 64 }, at: [12_000, 14_000, 16_000], from: 10_000, refused: 0 });
    expect(v.charts).toEqual({
      cps: { "TCP 10.0.0.1:80": [30, 0, 5], "TCP 10.0.0.2:80": [null, null, 2] },
      pps: { in: [200, 0, 50], out: [400, 0, 100] },
      active: { "10.1.0.1:8080": [5, 5, 4], "10.1.0.2:8080": [null, 0, 0] },
    });
  });

  it(`bounded: ${HISTORY_POINTS} points (one hour at 2 s), ${HISTORY_SERVICES} services and ${HISTORY_SERVERS} servers; a series gone for the hour frees its slot`, () => {
    expect(HISTORY_POINTS).toBe(1800);
    const h = new History();
    // 40 services: the first 32 are kept, the rest refused (and said so).
    const many = (t: number) => snap(Array.from({ length: 40 }, (_, k) => ({ k, conns: t * (k + 1), active: k })));
    for (let t = 0; t <= HISTORY_POINTS + 5; t++) h.record(many(t), 1_000_000 + 2000 * t);
    const v = h.view();
    expect(v.at.length).toBe(HISTORY_POINTS);
    expect(v.at[0]).toBe(1_000_000 + 2000 * 6);
    expect(v.from).toBe(1_000_000 + 2000 * 5);
    expect(v.at.at(-1)).toBe(1_000_000 + 2000 * (HISTORY_POINTS + 5));
    expect(Object.keys(v.charts.cps).length).toBe(HISTORY_SERVICES);
    expect(v.charts.cps["TCP 10.0.0.39:80"]).toBeUndefined();
    expect(v.charts.cps["TCP 10.0.0.31:80"].every((x) => x === 16)).toBe(true); // 32 connections every 2 s
    expect(Object.keys(v.charts.active).length).toBe(40);
    expect(v.refused).toBe(8);
    // The 40 services go, 8 new ones come: no slot frees until the old series leave the window.
    const next = (t: number) => snap(Array.from({ length: 8 }, (_, k) => ({ k: 100 + k, conns: t })));
    const start = HISTORY_POINTS + 6;
    h.record(next(0), 1_000_000 + 2000 * start); // new: a rate from the next tick on
    h.record(next(1), 1_000_000 + 2000 * (start + 1));
    expect(h.view().refused).toBe(8);
    for (let t = 2; t <= HISTORY_POINTS; t++) h.record(next(t), 1_000_000 + 2000 * (start + t));
    const w = h.view();
    expect(w.refused).toBe(0);
    expect(Object.keys(w.charts.cps).sort()).toEqual(Array.from({ length: 8 }, (_, k) => `TCP 10.0.0.${100 + k}:80`).sort());
    expect(w.at.length).toBe(HISTORY_POINTS);
  });
});
