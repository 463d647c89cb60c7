// Rates as IPVS's estimator computes them (net/netfilter/ipvs/ip_vs_est.c): every two
// seconds the change of each counter is scaled (connections and packets by 2^9 per
// 2 s, bytes by 2^4) and folded into a running average with weight 1/4; reading
// divides the scale back out with rounding. Driven by the caller's clock, so it runs
// on a fake clock in tests.

import type { Stats } from "../engine/index.js";

/** The counters it estimates from: the engine's statistics of a service or real server. */
type Counters = Stats;

export interface Rates {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

interface State {
  last: Counters;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

/** The interval of IPVS's estimation timer. */
export const ESTIMATOR_INTERVAL_MS = 2000;

// x >> 2 on a signed 64-bit value: floor division by 4.
const avg = (e: number, rate: number) => e + Math.floor((rate - e) / 4);

export class Estimator {
  private states = new Map<string, State>();

  /** One estimation tick for the object key with its current counters. */
  update(key: string, c: Counters): void {
    const s = this.states.get(key);
    if (!s) {
      this.states.set(key, { last: { ...c }, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
      return;
    }
    const d = (a: bigint, b: bigint) => Number(a - b);
    s.cps = avg(s.cps, d(c.conns, s.last.conns) * 512);
    s.inpps = avg(s.inpps, d(c.inpkts, s.last.inpkts) * 512);
    s.outpps = avg(s.outpps, d(c.outpkts, s.last.outpkts) * 512);
    s.inbps = avg(s.inbps, d(c.inbytes, s.last.inbytes) * 16);
    s.outbps = avg(s.outbps, d(c.outbytes, s.last.outbytes) * 16);
    s.last = { ...c };
  }

  /** ip_vs_read_estimator: the rates per second. */
  rates(key: string): Rates {
    const s = this.states.get(key);
    if (!s) return { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
    const pkt = (x: number) => Math.max(0, Math.floor((x + 0x1ff) / 1024));
    const byt = (x: number) => Math.max(0, Math.floor((x + 0xf) / 32));
    return { cps: pkt(s.cps), inpps: pkt(s.inpps), outpps: pkt(s.outpps), inbps: byt(s.inbps), outbps: byt(s.outbps) };
  }

  /** ipvsadm -Z zeroes the estimates too (ip_vs_zero_estimator). */
  zero(key: string, c: Counters): void {
    this.states.set(key, { last: { ...c }, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  }

  /** Forget objects that are gone. */
  retain(keys: Set<string>): void {
    for (const k of this.states.keys()) if (!keys.has(k)) this.states.delete(k);
  }
}
