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

/** One object's estimate and the counters it was last given, as numbers, updated in place (a
 *  tick at 10,000 services × 10 updates 110,000 of these; copying the counters each time made
 *  most of its garbage). Counters stay far below 2^53. */
interface State {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
  /** The tick that last gave it counters (end() forgets the others). */
  tick: number;
}

/** The interval of IPVS's estimation timer. */
export const ESTIMATOR_INTERVAL_MS = 2000;

// x >> 2 on a signed 64-bit value: floor division by 4.
const avg = (e: number, rate: number) => e + Math.floor((rate - e) / 4);

const fresh = (c: Counters, tick: number): State => ({
  conns: Number(c.conns), inpkts: Number(c.inpkts), outpkts: Number(c.outpkts), inbytes: Number(c.inbytes), outbytes: Number(c.outbytes),
  cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0, tick,
});

export class Estimator {
  private states = new Map<string, State>();
  private ticks = 0;

  /** A tick begins: the objects given to update() until end() are those that remain. */
  begin(): void {
    this.ticks++;
  }

  /** The tick ends: the objects it was not given are gone (their estimates forgotten). */
  end(): void {
    for (const [k, s] of this.states) if (s.tick !== this.ticks) this.states.delete(k);
  }

  /** One estimation tick for the object key with its current counters. */
  update(key: string, c: Counters): void {
    const s = this.states.get(key);
    if (!s) {
      this.states.set(key, fresh(c, this.ticks));
      return;
    }
    const conns = Number(c.conns), inpkts = Number(c.inpkts), outpkts = Number(c.outpkts), inbytes = Number(c.inbytes), outbytes = Number(c.outbytes);
    s.tick = this.ticks;
    if (conns === s.conns && inpkts === s.inpkts && outpkts === s.outpkts && inbytes === s.inbytes && outbytes === s.outbytes) {
      // Nothing moved (most of a large table, most ticks): each average decays towards a rate
      // of 0, as below, and is left alone once there.
      if (s.cps !== 0 || s.inpps !== 0 || s.outpps !== 0 || s.inbps !== 0 || s.outbps !== 0) {
        s.cps = avg(s.cps, 0);
        s.inpps = avg(s.inpps, 0);
        s.outpps = avg(s.outpps, 0);
        s.inbps = avg(s.inbps, 0);
        s.outbps = avg(s.outbps, 0);
      }
      return;
    }
    s.cps = avg(s.cps, (conns - s.conns) * 512);
    s.inpps = avg(s.inpps, (inpkts - s.inpkts) * 512);
    s.outpps = avg(s.outpps, (outpkts - s.outpkts) * 512);
    s.inbps = avg(s.inbps, (inbytes - s.inbytes) * 16);
    s.outbps = avg(s.outbps, (outbytes - s.outbytes) * 16);
    s.conns = conns;
    s.inpkts = inpkts;
    s.outpkts = outpkts;
    s.inbytes = inbytes;
    s.outbytes = outbytes;
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
    this.states.set(key, fresh(c, this.states.get(key)?.tick ?? this.ticks));
  }
}
