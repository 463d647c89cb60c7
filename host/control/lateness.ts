// How late a periodic control-plane timer fires: the measure of whether the control plane
// keeps its schedule (VRRP adverts and health checks will depend on it) while the data
// path is saturated. Driven by the caller's clock, so it is tested on a fake one.

/** Samples kept for the percentile: one minute of a 100 ms timer. */
const WINDOW = 600;

export class Lateness {
  private readonly samples = new Float64Array(WINDOW);
  private count = 0;
  private due: number;
  lastMs = 0;
  maxMs = 0;

  constructor(private readonly periodMs: number, startMs: number) {
    this.due = startMs + periodMs;
  }

  /** The timer fired at nowMs. */
  fired(nowMs: number): void {
    const late = Math.max(0, nowMs - this.due);
    this.lastMs = late;
    if (late > this.maxMs) this.maxMs = late;
    this.samples[this.count++ % WINDOW] = late;
    // The next firing is due a period after this one, as setInterval schedules it.
    this.due = nowMs + this.periodMs;
  }

  /** The 99th percentile over the last minute of samples. */
  p99Ms(): number {
    const n = Math.min(this.count, WINDOW);
    if (n === 0) return 0;
    const sorted = Array.from(this.samples.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor(n * 0.99))];
  }

  view(): { periodMs: number; lastMs: number; maxMs: number; p99Ms: number } {
    return { periodMs: this.periodMs, lastMs: this.lastMs, maxMs: this.maxMs, p99Ms: this.p99Ms() };
  }
}
