// IPVS's estimator fed with counter rows (host/dataplane/counters.ts, the director's tick since
// issue 19) against the same estimator fed with the services as listings read them (the tick
// before): on a table that churns (services and real servers deleted and added, records reused by
// other keys, -Z), every rate of every service and real server is the same after every tick.

import { describe, it, expect, beforeAll } from "vitest";
import { loadEngine } from "../host/engine/node.js";
import { Engine, Protocol } from "../host/engine/index.js";
import { Region, Stat } from "../host/engine/abi.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { countersSlice, SERVER_ROW, SERVICE_ROW } from "../host/dataplane/counters.js";
import { Estimator } from "../host/control/estimator.js";
import { estimate, zeroEstimates } from "../host/control/table.js";
import { serviceKey } from "../host/config/ipvsadm.js";
import { serverKey } from "../host/config/model.js";

/** A fixed-seed generator (mulberry32): the same churn every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every key the table holds now with both estimators' rates of it. */
async function ratesOf(a: LocalEngine, rowsEsts: Estimator[], refEst: Estimator): Promise<{ keys: number; moving: number; differ: string[] }> {
  const snap = await a.snapshot();
  const differ: string[] = [];
  let keys = 0;
  let moving = 0;
  for (const s of snap.services) {
    const k = serviceKey(s);
    for (const key of [k, ...s.realServers.map((r) => `${k} ${serverKey(r)}`)]) {
      keys++;
      const y = refEst.rates(key);
      if (y.inbps > 0) moving++;
      rowsEsts.forEach((rowsEst, n) => {
        const x = rowsEst.rates(key);
        if (JSON.stringify(x) !== JSON.stringify(y)) differ.push(`${key}: rows (estimator ${n}) ${JSON.stringify(x)} listing ${JSON.stringify(y)}`);
      });
    }
  }
  return { keys, moving, differ };
}

describe("the estimator's counter rows (counters.ts)", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 64, maxRealServers: 512 });
    // The real servers' network, directly connected.
    engine.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.1.0.1/16" });
  });

  it("give every service and real server once, in the listing's order, across slices that split a service", async () => {
    const e = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 16, maxRealServers: 64 });
    e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.1.0.1/16" });
    const big = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 80, scheduler: "rr" });
    for (let i = 0; i < 7; i++) e.addRealServer(big, { address: `10.1.0.${10 + i}`, port: 80, method: "nat", weight: 1 });
    const mark = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, fwmark: 7, scheduler: "wlc" });
    e.addRealServer(mark, { address: "10.1.0.40", port: 0, method: "dr", weight: 1 });
    e.addService({ protocol: "udp", address: "10.0.0.101", port: 53, scheduler: "rr" });
    const seen: string[] = [];
    // Three servers a slice at most: the big service comes in three slices.
    for (let at = { service: 0, server: 0 }, slices = 0; at.service < e.maxServices; slices++) {
      expect(slices).toBeLessThan(20);
      const { rows, next } = countersSlice(e, at, 16, 16, 3);
      for (let i = 0; i < rows.length;) {
        const servers = rows[i + 5];
        seen.push(`service ${rows[i]} from ${rows[i + 4]} servers ${servers}`);
        i += SERVICE_ROW;
        for (let k = 0; k < servers; k++, i += SERVER_ROW) seen.push(`  server ${rows[i]}`);
      }
      at = next;
    }
    const listed = e.services();
    const expected: string[] = [];
    for (const s of listed) {
      for (let from = 0; from === 0 || from < s.realServers.length; from += 3) {
        const part = s.realServers.slice(from, from + 3);
        expected.push(`service ${s.index} from ${from} servers ${part.length}`, ...part.map((r) => `  server ${r.index}`));
      }
    }
    expect(seen).toEqual(expected);
  });

  it("a record taken by another service with a server of the same address in the same record: a new estimate, as the key is new", async () => {
    // One service record and one server record: the second service and its server take them.
    const e = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 1, maxRealServers: 1 });
    e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.1.0.1/16" });
    const a = new LocalEngine(e);
    const rowsEst = new Estimator();
    const refEst = new Estimator();
    const tick = async () => {
      estimate(await a.snapshot(), refEst);
      rowsEst.begin();
      for await (const rows of a.counterSlices()) rowsEst.updateRows(rows);
      rowsEst.end();
    };
    const bytes = (n: bigint) => {
      const dv = new DataView(e.memory.buffer);
      dv.setBigUint64(e.regionOffset(Region.DEST_STATS) + Stat.INBYTES, n, true);
    };
    const first = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 80, scheduler: "rr" });
    const d = e.addRealServer(first, { address: "10.1.0.5", port: 80, method: "nat", weight: 1 });
    for (let t = 1; t <= 3; t++) {
      bytes(BigInt(t) * 1_000_000n);
      await tick();
    }
    expect(rowsEst.rates("tcp 10.0.0.100:80 10.1.0.5:80").inbps).toBeGreaterThan(0);
    e.deleteService(first);
    const second = e.addService({ protocol: "tcp", address: "10.0.0.101", port: 80, scheduler: "rr" });
    expect([second, e.addRealServer(second, { address: "10.1.0.5", port: 80, method: "nat", weight: 1 })]).toEqual([first, d]);
    bytes(500_000n);
    await tick();
    bytes(4_000_000n);
    await tick();
    const key = "tcp 10.0.0.101:80 10.1.0.5:80";
    expect(rowsEst.rates(key)).toEqual(refEst.rates(key));
    expect(rowsEst.rates(key).inbps).toBe(Math.floor((Math.floor((3_500_000 * 16) / 4) + 0xf) / 32));
    expect(rowsEst.rates("tcp 10.0.0.100:80 10.1.0.5:80")).toEqual({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  });

  it("estimate as the listing-fed estimator does, tick after tick, through churn and -Z", async () => {
    const e = engine;
    const rnd = random(19);
    const a = new LocalEngine(e);
    const rowsEst = new Estimator();
    // Fed in slices of three servers at most: services split across slices.
    const smallEst = new Estimator();
    // Fed a few new slots at a time (housekeeping's turns of the event loop after a start).
    const partsEst = new Estimator();
    // Fed a few services and servers at a time (housekeeping's turns of the event loop on every tick).
    const budgetEst = new Estimator();
    const refEst = new Estimator();
    const protocols: Protocol[] = ["tcp", "udp"];
    const addService = () => {
      // Few distinct keys, so that a deleted key comes back, often at another record.
      const n = Math.floor(rnd() * 40);
      const spec = n < 4 ? { protocol: "tcp" as Protocol, address: "0.0.0.0", port: 0, fwmark: n + 1, scheduler: "rr" as const } :
        { protocol: protocols[n & 1], address: `10.0.${n >> 4}.${100 + (n & 15)}`, port: 80 + (n % 3), scheduler: "wlc" as const };
      if (e.findService(spec.protocol, spec.address, spec.port, spec.fwmark) !== undefined) return;
      const s = e.addService(spec);
      const servers = Math.floor(rnd() * 6);
      for (let k = 0; k < servers; k++) addServer(s);
    };
    const addServer = (s: number) => {
      const address = `10.1.${s & 7}.${1 + Math.floor(rnd() * 20)}`;
      if (e.findRealServer(s, address, 8080) !== undefined) return;
      e.addRealServer(s, { address, port: 8080, method: "nat", weight: 1 + Math.floor(rnd() * 5) });
    };
    for (let k = 0; k < 30; k++) addService();
    // Counters that move (or not, for some ticks: the decay towards 0), as the engine's would.
    const bump = () => {
      const dv = new DataView(e.memory.buffer);
      for (const s of e.services()) {
        const bases = [e.regionOffset(Region.SERVICE_STATS) + s.index * Stat.SIZE, ...s.realServers.map((r) => e.regionOffset(Region.DEST_STATS) + r.index * Stat.SIZE)];
        for (const base of bases) {
          if (rnd() < 0.3) continue;
          for (let o = 0; o < Stat.SIZE; o += 8) dv.setBigUint64(base + o, dv.getBigUint64(base + o, true) + BigInt(Math.floor(rnd() * (o >= 24 ? 5e6 : 5e3))), true);
        }
      }
    };
    let compared = 0;
    let moving = 0;
    for (let tick = 0; tick < 60; tick++) {
      bump();
      // Churn between ticks: records freed and taken by other keys (or the same key elsewhere).
      const services = e.services();
      if (rnd() < 0.4 && services.length) e.deleteService(services[Math.floor(rnd() * services.length)].index);
      if (rnd() < 0.5) addService();
      const some = e.services();
      if (rnd() < 0.4 && some.length) {
        const s = some[Math.floor(rnd() * some.length)];
        if (s.realServers.length && rnd() < 0.5) e.deleteRealServer(s.realServers[Math.floor(rnd() * s.realServers.length)].index);
        else addServer(s.index);
      }
      if (rnd() < 0.1) {
        // -Z of one service (or of all), and both estimators start again from the zeroed counters.
        const all = rnd() < 0.3;
        const pick = some[Math.floor(rnd() * some.length)];
        if (all || !pick) e.zeroStats(); else e.zeroStats(pick.index);
        const snap = await a.snapshot();
        zeroEstimates(snap, rowsEst);
        zeroEstimates(snap, smallEst);
        zeroEstimates(snap, partsEst);
        zeroEstimates(snap, budgetEst);
        zeroEstimates(snap, refEst);
      }
      estimate(await a.snapshot(), refEst);
      rowsEst.begin();
      for await (const rows of a.counterSlices()) rowsEst.updateRows(rows);
      rowsEst.end();
      smallEst.begin();
      for (let at = { service: 0, server: 0 }; at.service < e.maxServices;) {
        const { rows, next } = countersSlice(e, at, 64, 64, 3);
        smallEst.updateRows(rows);
        at = next;
      }
      smallEst.end();
      partsEst.begin();
      for await (const rows of a.counterSlices()) {
        for (let at = 0, turns = 0; at < rows.length; turns++) {
          at = partsEst.updateRows(rows, at, 3);
          expect(turns).toBeLessThan(rows.length);
        }
      }
      partsEst.end();
      budgetEst.begin();
      for await (const rows of a.counterSlices()) {
        for (let at = 0, turns = 0; at < rows.length; turns++) {
          at = budgetEst.updateRows(rows, at, Infinity, 4);
          expect(turns).toBeLessThan(rows.length);
        }
      }
      budgetEst.end();
      const r = await ratesOf(a, [rowsEst, smallEst, partsEst, budgetEst], refEst);
      expect(r.differ).toEqual([]);
      compared += r.keys;
      moving += r.moving;
    }
    expect(compared).toBeGreaterThan(1000);
    // And most rates compared were not zero (the comparison compared something).
    expect(moving).toBeGreaterThan(compared / 2);
  });
  it("forget the objects a tick was not given, and only them (a tick that gives every one skips looking)", () => {
    const est = new Estimator();
    const at = (n: number) => ({ conns: BigInt(n), inpkts: BigInt(n), outpkts: BigInt(n), inbytes: BigInt(n * 100), outbytes: BigInt(n * 100) });
    const tick = (given: [string, number][], zeroedMidTick: [string, number][] = []) => {
      est.begin();
      for (const [k, n] of zeroedMidTick) est.zero(k, at(n));
      for (const [k, n] of given) est.update(k, at(n));
      est.end();
    };
    tick([["a", 0], ["b", 0]]);
    tick([["a", 100], ["b", 100]]);
    expect(est.rates("a").cps).toBeGreaterThan(0);
    expect(est.rates("b").cps).toBeGreaterThan(0);
    // b not given: forgotten. Given again later, it starts afresh (no rate from its old counters).
    tick([["a", 200]]);
    expect(est.rates("b").cps).toBe(0);
    tick([["a", 300], ["b", 10_000]]);
    expect(est.rates("b").cps).toBe(0);
    expect(est.rates("a").cps).toBeGreaterThan(0);
    // c zeroed during a tick (an -Z while a tick reads its slices) and not given: kept, as a state
    // of this tick; the next tick gives it counters and it has a rate from them.
    tick([["a", 400], ["b", 10_100]], [["c", 0]]);
    tick([["a", 500], ["b", 10_200], ["c", 100]]);
    expect(est.rates("c").cps).toBeGreaterThan(0);
  });
});
