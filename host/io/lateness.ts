// How late a periodic timer fires: the measure of whether the control plane keeps its
// schedule while the data path is saturated (its 100 ms heartbeat), and of whether VRRP
// keeps its own (each advert against its schedule, measured on the data-path thread that
// sends it). Driven by the caller's clock, so it is tested on a fake one.

/** Samples kept for the percentile: one minute of a 100 ms timer. */
const WINDOW = 600;

/** Upper bounds (ms) of the histogram's buckets; 20 ms is issue 16's bound for adverts. */
export const LATENESS_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

export interface LatenessView {
  periodMs: number;
  lastMs: number;
  maxMs: number;
  /** Over the last WINDOW samples. */
  p99Ms: number;
  /** Since start: how many, their sum, and how many were at most each LATENESS_BUCKETS_MS
   *  bound (cumulative, as a Prometheus histogram's buckets). */
  count: number;
  sumMs: number;
  buckets: number[];
}

export class Lateness {
  private readonly samples = new Float64Array(WINDOW);
  private count = 0;
  private sumMs = 0;
  private readonly buckets = new Array<number>(LATENESS_BUCKETS_MS.length).fill(0);
  private due: number;
  lastMs = 0;
  maxMs = 0;

  constructor(private periodMs: number, startMs: number) {
    this.due = startMs + periodMs;
  }

  /** The period changed (a reload changed VRRP's advert interval). */
  period(ms: number): void {
    this.periodMs = ms;
  }

  /** The timer fired at nowMs. */
  fired(nowMs: number): void {
    this.record(nowMs - this.due);
    // The next firing is due a period after this one, as setInterval schedules it.
    this.due = nowMs + this.periodMs;
  }

  /** One firing, lateMs after it was due (the caller keeps the schedule). */
  record(lateMs: number): void {
    const late = Math.max(0, lateMs);
    this.lastMs = late;
    if (late > this.maxMs) this.maxMs = late;
    this.samples[this.count++ % WINDOW] = late;
    this.sumMs += late;
    for (let k = LATENESS_BUCKETS_MS.length - 1; k >= 0 && late <= LATENESS_BUCKETS_MS[k]; k--) this.buckets[k]++;
  }

  /** The 99th percentile over the last minute of samples. */
  p99Ms(): number {
    const n = Math.min(this.count, WINDOW);
    if (n === 0) return 0;
    const sorted = Array.from(this.samples.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor(n * 0.99))];
  }

  view(): LatenessView {
    return { periodMs: this.periodMs, lastMs: this.lastMs, maxMs: this.maxMs, p99Ms: this.p99Ms(), count: this.count, sumMs: this.sumMs,
      buckets: [...this.buckets] };
  }
}
