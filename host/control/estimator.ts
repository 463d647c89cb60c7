// Rates as IPVS's estimator computes them (net/netfilter/ipvs/ip_vs_est.c): every two
// seconds the change of each counter is scaled (connections and packets by 2^9 per
// 2 s, bytes by 2^4) and folded into a running average with weight 1/4; reading
// divides the scale back out with rounding. Driven by the caller's clock, so it runs
// on a fake clock in tests.

import type { Stats } from "../engine/index.js";
import { ipToNumber, wireToIp, wireToPort } from "../engine/addr.js";
import { Proto } from "../engine/abi.js";
import { serviceKey } from "../config/ipvsadm.js";
import { serverKey } from "../config/model.js";
import { SERVER_ROW, SERVICE_ROW, ServerRow, ServiceRow } from "../dataplane/counters.js";

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
  /** The tick that last gave it counters (end() forgets the others); GONE once forgotten. */
  tick: number;
}

const GONE = -1;

/** What a table index held when a counters tick last saw it (updateRows): the numbers that
 *  identify it there and its estimate, so that a tick finds the estimate by index, with no key
 *  string built, as long as the same service or server is there. */
interface Slot {
  proto: number;
  address: number;
  port: number;
  /** A server's service, as its slot was (a service replaced at that index: another key). */
  service?: Slot;
  key: string;
  /** The key's estimate (none yet: the key's first tick makes it). */
  state?: State;
}

/** The interval of IPVS's estimation timer. */
export const ESTIMATOR_INTERVAL_MS = 2000;

// x >> 2 on a signed 64-bit value: floor division by 4.
const avg = (e: number, rate: number) => e + Math.floor((rate - e) / 4);

const fresh = (c: Counters, tick: number): State => ({
  conns: Number(c.conns), inpkts: Number(c.inpkts), outpkts: Number(c.outpkts), inbytes: Number(c.inbytes), outbytes: Number(c.outbytes),
  cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0, tick,
});

/**
 * The control socket's commands being served, which the estimator's tick gives way to: between
 * its pieces the tick waits while a command is served (housekeeping.ts). A tick at 10,000
 * services × 10 is ~110 pieces of the main thread (0.3-1 ms each, hundreds of ms in all on a
 * loaded 2-vCPU machine), and an -e served meanwhile waited for a piece at each of its steps
 * (its request read, the data-path thread's reply) and for the counters slices the tick had
 * queued on the data-path thread before its change set: 3-8 ms instead of ~1. IPVS runs its
 * estimator in kthreads apart from the control path for the same reason (ip_vs_est.c, 6.2).
 * A wait is bounded (the caller's timer), so commands one after another never starve the
 * estimator: the counters of a tick are then read a few milliseconds later, as IPVS's own
 * kthreads read them with jitter.
 */
export class CommandsInFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  started(): void {
    this.count++;
  }

  done(): void {
    if (this.count === 0 || --this.count > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const f of waiters) f();
  }

  /** None being served: undefined (no wait). Else a promise that resolves once none is, or when
   *  after(f) calls f (a timer: the longest wait), whichever comes first. */
  quiet(after: (f: () => void) => { cancel(): void }): Promise<void> | undefined {
    if (this.count === 0) return undefined;
    return new Promise<void>((resolve) => {
      let timer: { cancel(): void } | undefined;
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        timer?.cancel();
        resolve();
      };
      this.waiters.push(finish);
      timer = after(finish);
    });
  }
}

export class Estimator {
  /** The commands the ticks give way to (the control socket marks them: server.ts). */
  readonly commands = new CommandsInFlight();
  private states = new Map<string, State>();
  private ticks = 0;
  /** By table index (arrays, not Maps: an index read from a Float64Array is a double, which a
   *  Map hashes as a boxed number; at 110,000 lookups a tick that was most of its cost). */
  private serviceSlots: (Slot | undefined)[] = [];
  private serverSlots: (Slot | undefined)[] = [];

  /** Estimates this tick has given counters so far (each once): when it is all of them at
   *  end(), nothing is gone and the estimates are not walked. */
  private given = 0;

  /** A tick begins: the objects given to update() until end() are those that remain. */
  begin(): void {
    this.ticks++;
    this.given = 0;
  }

  /** The tick ends: the objects it was not given are gone (their estimates forgotten). */
  end(): void {
    // Every estimate was given counters (most ticks): none is gone. Walking the 110,000 of a
    // 10,000 × 10 table to find that out held the main thread 10-25 ms every 2 s (an -e
    // arriving meanwhile waited: issue 19's p99). A state zero() made during the tick is not
    // counted: then the walk decides, as before.
    if (this.given === this.states.size) return;
    let forgotten = 0;
    for (const [k, s] of this.states) {
      if (s.tick === this.ticks) continue;
      s.tick = GONE;
      this.states.delete(k);
      forgotten++;
    }
    // The slots of what is gone (most ticks: nothing is).
    if (forgotten) {
      for (const slots of [this.serviceSlots, this.serverSlots]) {
        for (let i = 0; i < slots.length; i++) if (slots[i] && (!slots[i]!.state || slots[i]!.state!.tick === GONE)) slots[i] = undefined;
      }
    }
  }

  /** One estimation tick for the object key with its current counters. */
  update(key: string, c: Counters): void {
    this.step(key, Number(c.conns), Number(c.inpkts), Number(c.outpkts), Number(c.inbytes), Number(c.outbytes));
  }

  /** A tick's share as rows of counters (host/dataplane/counters.ts), the same as update() with
   *  each service's and server's key and counters, its estimate found by table index. From the
   *  service row at from, until the rows end or a service's rows have made newSlots new slots
   *  (a key string built and hashed for each: the first tick after a start or a large -R makes
   *  110,000 at 10,000 services × 10, ~2.5 µs each, ~20 ms a slice); returns where it stopped
   *  (rows.length: done), so that the caller serves the event loop in between. objects: as
   *  newSlots, for services and servers estimated (whole services: one with its servers). */
  updateRows(rows: Float64Array, from = 0, newSlots = Infinity, objects = Infinity): number {
    const made = this.slotsMade;
    let updated = 0;
    for (let i = from; i < rows.length;) {
      if (this.slotsMade - made >= newSlots || updated >= objects) return i;
      const service = this.slot(this.serviceSlots, rows, i + ServiceRow.INDEX, rows[i + ServiceRow.PROTO], rows[i + ServiceRow.ADDR], rows[i + ServiceRow.PORT]);
      // A service whose servers go on from an earlier slice: its counters were news there.
      if (rows[i + ServiceRow.FROM] === 0) this.stepRow(service, rows, i + ServiceRow.STATS);
      const servers = rows[i + ServiceRow.SERVERS];
      updated += 1 + servers;
      i += SERVICE_ROW;
      for (let k = 0; k < servers; k++, i += SERVER_ROW) {
        const server = this.slot(this.serverSlots, rows, i + ServerRow.INDEX, 0, rows[i + ServerRow.ADDR], rows[i + ServerRow.PORT], service);
        this.stepRow(server, rows, i + ServerRow.STATS);
      }
    }
    return rows.length;
  }

  /** Slots made so far (updateRows's budget). */
  private slotsMade = 0;

  /** The slot of the object at rows[at] (a table index) as identified by the rest; a new one
   *  (its key built, the key's estimate if it has one) when the index holds something else now. */
  private slot(slots: (Slot | undefined)[], rows: Float64Array, at: number, proto: number, address: number, port: number, service?: Slot): Slot {
    const index = rows[at] | 0;
    const x = slots[index];
    if (x && x.proto === proto && x.address === address && x.port === port && x.service === service && x.state?.tick !== GONE) return x;
    const key = service ? `${service.key} ${serverKey({ address: wireToIp(address), port: wireToPort(port) })}` :
      serviceKey(proto === 0 ? { protocol: "tcp", address: wireToIp(address), port: wireToPort(port), fwmark: ipToNumber(wireToIp(address)) } :
        { protocol: proto === Proto.UDP ? "udp" : "tcp", address: wireToIp(address), port: wireToPort(port) });
    const made: Slot = { proto, address, port, service, key, state: this.states.get(key) };
    this.slotsMade++;
    while (slots.length <= index) slots.push(undefined);
    slots[index] = made;
    return made;
  }

  /** update() of x with the counters at rows[at]. */
  private stepRow(x: Slot, rows: Float64Array, at: number): void {
    if (x.state) this.advance(x.state, rows[at], rows[at + 1], rows[at + 2], rows[at + 3], rows[at + 4]);
    else x.state = this.step(x.key, rows[at], rows[at + 1], rows[at + 2], rows[at + 3], rows[at + 4]);
  }

  /** update() with the counters as numbers: the key's state, new or advanced. */
  private step(key: string, conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): State {
    const s = this.states.get(key);
    if (!s) {
      const made = { conns, inpkts, outpkts, inbytes, outbytes, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0, tick: this.ticks };
      this.states.set(key, made);
      this.given++;
      return made;
    }
    this.advance(s, conns, inpkts, outpkts, inbytes, outbytes);
    return s;
  }

  /** One tick of the state with these counters (ip_vs_estimation_timer's per-object step). */
  private advance(s: State, conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): void {
    if (s.tick !== this.ticks) this.given++;
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
    // In place: a slot (updateRows) holds the state it found.
    const s = this.states.get(key);
    if (s) Object.assign(s, fresh(c, s.tick));
    else this.states.set(key, fresh(c, this.ticks));
  }
}
