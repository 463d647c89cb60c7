// Time as an argument (smoltcp's way): the control plane reads the time and sets its
// periodic timers only through a Clock, so its timers run on a fake clock in tests — a
// second of housekeeping in microseconds, and an event loop blocked on purpose.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Run f every ms milliseconds until cancelled. */
  every(ms: number, f: () => void): Timer;
  /** Run f once, ms milliseconds from now, unless cancelled. */
  after(ms: number, f: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  every(ms, f) {
    const t = setInterval(f, ms);
    return { cancel: () => clearInterval(t) };
  },
  after(ms, f) {
    const t = setTimeout(f, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that moves only when told. */
export class FakeClock implements Clock {
  private t = 0;
  private timers: { due: number; ms: number; f: () => void; live: boolean; once?: boolean }[] = [];

  now(): number {
    return this.t;
  }

  every(ms: number, f: () => void): Timer {
    const timer = { due: this.t + ms, ms, f, live: true };
    this.timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }

  after(ms: number, f: () => void): Timer {
    const timer = { due: this.t + ms, ms, f, live: true, once: true };
    this.timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }

  /** Timers still to fire (for tests that check nothing is left behind). */
  get pending(): number {
    this.timers = this.timers.filter((x) => x.live);
    return this.timers.length;
  }

  /** Move time forward by ms, running each timer at the moments it is due. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.live && x.due <= end).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.t = next.due;
      next.due += next.ms;
      if (next.once) next.live = false;
      next.f();
    }
    this.t = end;
  }

  /** Move time forward by ms with nothing running (an event loop blocked), then run each
   *  overdue timer once, late, as setInterval does after a stall. */
  stall(ms: number): void {
    this.t += ms;
    for (const x of this.timers.filter((y) => y.live && y.due <= this.t)) {
      x.due = this.t + x.ms;
      if (x.once) x.live = false;
      x.f();
    }
  }
}

/** A clock whose timers run when its owner polls it: the data-path thread's loop, which
 *  sleeps in epoll_wait until next() at the latest and calls run() whenever it wakes and
 *  between long pieces of work. VRRP's timers run on it there (host/vrrp/machines.ts). */
export class PolledClock implements Clock {
  private timers: { due: number; ms: number; f: () => void; live: boolean; once: boolean }[] = [];

  /** onError: a timer that threw (the loop goes on). */
  constructor(readonly now: () => number = () => performance.now(), private readonly onError: (e: unknown) => void = () => {}) {}

  every(ms: number, f: () => void): Timer {
    return this.add(ms, f, false);
  }

  after(ms: number, f: () => void): Timer {
    return this.add(ms, f, true);
  }

  private add(ms: number, f: () => void, once: boolean): Timer {
    const timer = { due: this.now() + ms, ms, f, live: true, once };
    this.timers.push(timer);
    return { cancel: () => { timer.live = false; } };
  }

  /** When the next timer is due (Infinity: none). */
  next(): number {
    let due = Infinity;
    for (const x of this.timers) if (x.live && x.due < due) due = x.due;
    return due;
  }

  /** Run every timer that is due, earliest first (those they set that are due too). */
  run(): void {
    for (let guard = 0; guard < 1000; guard++) {
      const now = this.now();
      let next: (typeof this.timers)[number] | undefined;
      for (const x of this.timers) if (x.live && x.due <= now && (!next || x.due < next.due)) next = x;
      if (!next) break;
      if (next.once) next.live = false;
      // A periodic timer after a stall fires once, late, then a period later (as setInterval).
      else next.due = next.due + next.ms > now ? next.due + next.ms : now + next.ms;
      try {
        next.f();
      } catch (e) {
        this.onError(e);
      }
    }
    if (this.timers.length > 64) this.timers = this.timers.filter((x) => x.live);
  }
}
