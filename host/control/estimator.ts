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
  /** The tick that last updated it (forgetUnseen). */
  seen: number;
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
  /** The current tick (begin), stamped on each object it updates. */
  private tick = 0;

  /** A new estimation tick: the objects updated from here to forgetUnseen are the ones kept. */
  begin(): void {
    this.tick++;
  }

  /** One estimation tick for the object key with its current counters. */
  update(key: string, c: Counters): void {
    const s = this.states.get(key);
    if (!s) {
      this.states.set(key, { last: { ...c }, seen: this.tick, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
      return;
    }
    s.seen = this.tick;
    const l = s.last;
    if (c.conns === l.conns && c.inpkts === l.inpkts && c.outpkts === l.outpkts && c.inbytes === l.inbytes && c.outbytes === l.outbytes) {
      // Nothing moved (most of a large table, most ticks): each average decays towards a rate
      // of 0, as below, without the counters' 64-bit arithmetic or a copy of them.
      if (s.cps !== 0 || s.inpps !== 0 || s.outpps !== 0 || s.inbps !== 0 || s.outbps !== 0) {
        s.cps = avg(s.cps, 0);
        s.inpps = avg(s.inpps, 0);
        s.outpps = avg(s.outpps, 0);
        s.inbps = avg(s.inbps, 0);
        s.outbps = avg(s.outbps, 0);
      }
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
    this.states.set(key, { last: { ...c }, seen: this.tick, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
  }

  /** Forget the objects this tick did not update (gone from the table). A stamp, not a set of
   *  the tick's keys: at 100,000 real servers that set was a third of the tick's time. */
  forgetUnseen(): void {
    for (const [k, s] of this.states) if (s.seen !== this.tick) this.states.delete(k);
  }
}
