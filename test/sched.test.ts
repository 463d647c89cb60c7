// Schedulers against a plain reference model of IPVS's algorithms (ip_vs_rr.c,
// ip_vs_wrr.c, ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sh.c, ip_vs_dh.c, ip_vs_sed.c, ip_vs_nq.c,
// ip_vs_fo.c, ip_vs_ovf.c), written here without
// any of the engine's code: the engine must pick the same server for every new
// connection, also across weight changes, quiescing (weight 0) and thresholds.

import { describe, it, expect } from "vitest";
import { director, RS, VIP, OUT_MAC, GATEWAY_MAC } from "./helpers/director.js";
import { eth, ipv4, tcp, expectFrame, SYN, ACK, RST } from "./helpers/packet.js";
import type { Engine, SchedulerName } from "../host/engine/index.js";
import { hsiphash32, mhKey, mhTable, MH_K1, MH_SIZE } from "./helpers/mh-model.js";

interface ModelDest {
  addr: string;
  weight: number;
  /** IPVS's last_weight: the weight at the add, then the last non-zero one. */
  lastWeight: number;
  active: number;
  inactive: number;
  uth: number;
  lth: number;
  overloaded: boolean;
}

/** IPVS's schedulers over a list where new servers go first (list_add). */
class Model {
  list: ModelDest[] = [];
  rrLast = -1; // index into list, -1 = head
  wrr = { cl: -1, cw: 0, mw: 0, di: 1 };
  buckets: (ModelDest | null)[] = [];
  /** lblc's memory: destination address -> server. */
  lblc = new Map<string, ModelDest>();
  /** mh's table size (the engine's option mhTableSize). */
  mhSize = MH_SIZE;
  /** lblcr's memory: destination address -> set of servers (its head first) and when it last changed. */
  lblcr = new Map<string, { set: ModelDest[]; lastmod: number }>();
  /** The clock (ms), for lblcr's set expiry. */
  now = 1000;
  /** Scheduler flags: 1 sh-fallback, 2 sh-port. */
  flags = 0;
  /** twos's draws: the engine's xorshift32 from its default seed, [0, n) by the high half of x * n. */
  rnd = 0x2545f491;
  below(n: number): number {
    let x = this.rnd;
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    this.rnd = x;
    return Number((BigInt(x) * BigInt(n)) >> 32n);
  }
  constructor(readonly sched: SchedulerName) {}

  add(addr: string, weight: number, uth = 0, lth = 0): void {
    this.list.unshift({ addr, weight, lastWeight: weight, active: 0, inactive: 0, uth, lth, overloaded: false });
    if (this.rrLast >= 0) this.rrLast++;
    this.changed();
  }
  /** ip_vs_del_dest: off the list; rr's cursor, if it was there, goes back to the one
   *  before (ip_vs_rr_del_dest), and every scheduler learns of the change. */
  remove(addr: string): void {
    const i = this.list.findIndex((x) => x.addr === addr);
    this.list.splice(i, 1);
    if (this.rrLast === i) this.rrLast = i - 1;
    else if (this.rrLast > i) this.rrLast--;
    this.changed();
  }
  setWeight(addr: string, weight: number): void {
    const d = this.list.find((x) => x.addr === addr)!;
    d.weight = weight;
    if (weight !== 0) d.lastWeight = weight;
    // __ip_vs_update_dest: the same upper threshold keeps the overload mark (none has none).
    if (d.uth === 0) d.overloaded = false;
    this.changed();
  }
  /** mh's lookup table (ip_vs_mh.c), rebuilt on every change. */
  mh: (ModelDest | null)[] = [];
  private changed(): void {
    if (this.sched === "mh") this.mh = mhTable(this.list, 80, this.mhSize);
    const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
    let g = 0;
    let max = 0;
    for (const d of this.list) {
      if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
      max = Math.max(max, d.weight);
    }
    const w = this.wrr;
    w.cl = -1;
    w.di = g || 1;
    w.mw = max - (w.di - 1);
    if (w.cw > w.mw || w.cw === 0) w.cw = w.mw;
    else if (w.di > 1) w.cw = Math.floor(w.cw / w.di) * w.di + 1;
    // sh: weight-replicated buckets; dh: one bucket per server in turn.
    this.buckets = [];
    let i = 0;
    let n = 0;
    for (let b = 0; b < 256; b++) {
      if (this.list.length === 0) { this.buckets.push(null); continue; }
      const d = this.list[i % this.list.length];
      this.buckets.push(d);
      if (this.sched === "dh" || ++n >= d.weight) { i++; n = 0; }
    }
  }
  private usable(d: ModelDest): boolean {
    return !d.overloaded && d.weight > 0;
  }
  private static hash(addr: string): number {
    const [a, b, c, d] = addr.split(".").map(Number);
    const v = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
    return Number((BigInt(v) * 2654435761n) & 255n);
  }
  schedule(saddr: string, daddr: string, sport = 0): ModelDest | null {
    const L = this.list;
    switch (this.sched) {
      case "rr": {
        for (let k = 1; k <= L.length; k++) {
          const i = (this.rrLast + k) % L.length;
          if (this.rrLast === -1 && k > L.length) break;
          if (this.usable(L[i])) { this.rrLast = i; return L[i]; }
        }
        return null;
      }
      case "wrr": {
        const w = this.wrr;
        if (w.mw === 0) return null;
        // Walk positions after cl; -1 is the head. Same control flow as ip_vs_wrr_schedule.
        let dest = w.cl;
        const last = dest;
        let stop = -2;
        let lastPass = false;
        let restarted = false;
        for (;;) {
          for (let i = dest + 1; i < L.length; i++) {
            if (!L[i].overloaded && L[i].weight >= w.cw) { w.cl = i; return L[i]; }
            if (i === stop) { w.cl = i; return null; }
          }
          dest = -1;
          w.cw -= w.di;
          if (w.cw <= 0) {
            w.cw = w.mw;
            if (lastPass || last === -1) { w.cl = -1; return null; }
            restarted = true;
          }
          lastPass = w.cw <= w.di;
          if (lastPass && restarted && last !== -1) stop = last;
        }
      }
      case "lc": {
        let least: ModelDest | null = null;
        for (const d of L) {
          if (!this.usable(d)) continue;
          const oh = d.active * 256 + d.inactive;
          if (!least || oh < least.active * 256 + least.inactive) least = d;
        }
        return least;
      }
      case "wlc": {
        const first = L.findIndex((d) => this.usable(d));
        if (first < 0) return null;
        let least = L[first];
        for (const d of L.slice(first + 1)) {
          if (d.overloaded) continue;
          const loh = least.active * 256 + least.inactive;
          const doh = d.active * 256 + d.inactive;
          if (loh * d.weight > doh * least.weight) least = d;
        }
        return least;
      }
      case "sh": {
        // ip_vs_sh_hashkey: (offset + (port + addr) * 2654435761) & 255; ip_vs_sh_get_fallback.
        const [a, b, c, dd] = saddr.split(".").map(Number);
        const addr = BigInt(((a << 24) | (b << 16) | (c << 8) | dd) >>> 0);
        const port = BigInt(this.flags & 2 ? sport : 0);
        const key = (offset: number) => Number((BigInt(offset) + (port + addr) * 2654435761n) & 255n);
        const first = key(0);
        const d = this.buckets[first];
        if (!d) return null;
        if (this.usable(d) || !(this.flags & 1)) return this.usable(d) ? d : null;
        for (let off = 0; off < 256; off++) {
          const x = this.buckets[key((off + first) % 256)];
          if (!x) return null;
          if (this.usable(x)) return x;
        }
        return null;
      }
      case "dh": {
        const d = this.buckets[Model.hash(daddr)];
        return d && this.usable(d) ? d : null;
      }
      case "sed": {
        // (active + 1) / weight, by cross-multiplication; the first usable one starts.
        const first = L.findIndex((d) => this.usable(d));
        if (first < 0) return null;
        let least = L[first];
        for (const d of L.slice(first + 1)) {
          if (d.overloaded) continue;
          if ((least.active + 1) * d.weight > (d.active + 1) * least.weight) least = d;
        }
        return least;
      }
      case "nq": {
        let least: ModelDest | null = null;
        for (const d of L) {
          if (!this.usable(d)) continue;
          if (d.active === 0) return d;
          if (!least || (least.active + 1) * d.weight > (d.active + 1) * least.weight) least = d;
        }
        return least;
      }
      case "mh": {
        const port = this.flags & 2 ? sport : 0;
        const size = this.mh.length;
        const ihash = mhKey(saddr, port, MH_K1, 0) % size;
        const d = this.mh[ihash];
        if (!d) return null;
        if (this.usable(d)) return d;
        if (!(this.flags & 1)) return null;
        for (let off = 0; off < size; off++) {
          const x = this.mh[mhKey(saddr, port, MH_K1, (off + ihash) % size) % size];
          if (!x) return null;
          if (this.usable(x)) return x;
        }
        return null;
      }
      case "lblcr": {
        // ip_vs_lblcr.c: ip_vs_dest_set_min / _max over the set, lblc's is_overloaded, wlc over the service.
        const overloaded = (d: ModelDest) => d.active > d.weight && L.some((x) => x.active * 2 < x.weight);
        const oh = (d: ModelDest) => d.active * 256 + d.inactive;
        const wlc = () => {
          const first = L.findIndex((d) => this.usable(d));
          if (first < 0) return null;
          let least = L[first];
          for (const d of L.slice(first + 1)) if (!d.overloaded && oh(least) * d.weight > oh(d) * least.weight) least = d;
          return least;
        };
        const setMin = (set: ModelDest[]) => {
          const first = set.findIndex((d) => !d.overloaded && d.weight > 0);
          if (first < 0) return null;
          let least = set[first];
          for (const d of set.slice(first + 1)) if (!d.overloaded && oh(least) * d.weight > oh(d) * least.weight) least = d;
          return least;
        };
        const setMax = (set: ModelDest[]) => {
          let most = set.findIndex((d) => d.weight > 0);
          if (most < 0) return -1;
          for (let i = most + 1; i < set.length; i++) {
            const d = set[i];
            if (oh(set[most]) * d.weight < oh(d) * set[most].weight && d.weight > 0) most = i;
          }
          return most;
        };
        const en = this.lblcr.get(daddr);
        if (en) {
          en.set = en.set.filter((d) => L.includes(d));
          const min = setMin(en.set);
          if (en.set.length > 1 && this.now - en.lastmod > 86400000) {
            const i = setMax(en.set);
            if (i >= 0) { en.set.splice(i, 1); en.lastmod = this.now; }
          }
          if (min && !overloaded(min)) return min;
          const d = wlc();
          if (!d) return null;
          if (!en.set.includes(d)) { en.set.unshift(d); en.lastmod = this.now; }
          return d;
        }
        const d = wlc();
        if (d) this.lblcr.set(daddr, { set: [d], lastmod: this.now });
        return d;
      }
      case "lblc": {
        const overloaded = (d: ModelDest) => d.active > d.weight && L.some((x) => x.active * 2 < x.weight);
        const known = this.lblc.get(daddr);
        if (known && L.includes(known) && known.weight > 0 && !overloaded(known)) return known;
        const first = L.findIndex((d) => this.usable(d));
        if (first < 0) return null;
        let least = L[first];
        for (const d of L.slice(first + 1)) {
          if (d.overloaded) continue;
          if ((least.active * 256 + least.inactive) * d.weight > (d.active * 256 + d.inactive) * least.weight) least = d;
        }
        this.lblc.set(daddr, least);
        return least;
      }
      case "twos": {
        const live = L.filter((d) => !d.overloaded && d.weight > 0);
        if (!live.length) return null;
        const total = live.reduce((a, d) => a + d.weight, 0) + 1;
        let r1 = this.below(total);
        let r2 = this.below(total);
        let c1 = live[live.length - 1];
        let c2: ModelDest | null = null;
        let w1 = -1;
        let w2 = -1;
        for (const d of live) {
          r1 -= d.weight;
          r2 -= d.weight;
          if (r1 <= 0 && w1 === -1) { c1 = d; w1 = d.weight; }
          if (r2 <= 0 && w2 === -1) { c2 = d; w2 = d.weight; }
          if (w1 !== -1 && w2 !== -1) break;
        }
        const oh = (d: ModelDest) => d.active * 256 + d.inactive;
        return c2 && w2 * oh(c1) > w1 * oh(c2) ? c2 : c1;
      }
      case "fo": {
        let best: ModelDest | null = null;
        for (const d of L) if (!d.overloaded && d.weight > (best?.weight ?? 0)) best = d;
        return best;
      }
      case "ovf": {
        let best: ModelDest | null = null;
        for (const d of L) {
          if (d.overloaded || d.active > d.weight || d.weight === 0) continue;
          if (!best || d.weight > best.weight) best = d;
        }
        return best;
      }
    }
    return null;
  }
  /** A new connection (SYN_RECV: inactive) on d; sets OVERLOAD at the upper threshold. */
  bind(d: ModelDest): void {
    d.inactive++;
    if (d.uth && d.active + d.inactive >= d.uth) d.overloaded = true;
  }
}

let clientSeq = 0;
function nextClient(): { addr: string; port: number } {
  clientSeq++;
  return { addr: `192.0.${2 + ((clientSeq >> 8) & 63)}.${clientSeq & 255}`, port: 10000 + (clientSeq % 50000) };
}

function syn(c: { addr: string; port: number }, flags = SYN): Uint8Array {
  return eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: 80, flags }) }));
}

/** Open a connection from a new client; returns the real server it went to, or null. */
function connect(e: Engine, now = 1000): { server: string | null; client: { addr: string; port: number } } {
  const c = nextClient();
  e.loadFrame(0, syn(c), 0);
  const n = e.process(1, now);
  // The SYN to a real server leaves on the inside; with no server left, the client gets
  // ICMP port unreachable on the outside (ip_vs_leave).
  const toServer = e.txFrames(n).find((f) => f.ifindex === 1);
  return { server: toServer ? expectFrame(toServer.frame).ip!.dst : null, client: c };
}

async function setup(sched: SchedulerName, weights: number[], thresholds: [number, number][] = [], schedFlags = 0, mhTableSize = MH_SIZE): Promise<{ e: Engine; m: Model; svc: number }> {
  const e = await director({ mhTableSize });
  const m = new Model(sched);
  m.mhSize = mhTableSize;
  m.flags = schedFlags;
  const svc = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: sched, schedFlags });
  weights.forEach((w, i) => {
    const [u, l] = thresholds[i] ?? [0, 0];
    e.addRealServer(svc, { address: RS[i], port: 80, method: "nat", weight: w, uthreshold: u, lthreshold: l });
    m.add(RS[i], w, u, l);
  });
  return { e, m, svc };
}

function compare(e: Engine, m: Model, count: number, establish = false, now = 1000): string[] {
  const seq: string[] = [];
  m.now = now;
  for (let k = 0; k < count; k++) {
    const got = connect(e, now);
    const want = m.schedule(got.client.addr, VIP, got.client.port);
    if (want) m.bind(want);
    expect(got.server, `connection ${k}`).toBe(want ? want.addr : null);
    seq.push(got.server ?? "-");
    // The client's ACK: SYN_RECV (inactive) becomes ESTABLISHED (active), in both.
    if (establish && want) {
      e.loadFrame(0, syn(got.client, ACK), 0);
      e.process(1, now);
      want.inactive--;
      want.active++;
    }
  }
  return seq;
}

describe("schedulers match IPVS's algorithms", () => {
  it("rr walks the list from the most recently added server", async () => {
    const { e, m } = await setup("rr", [1, 1, 1]);
    const seq = compare(e, m, 9);
    expect(seq.slice(0, 3)).toEqual([RS[2], RS[1], RS[0]]);
  });

  it("wrr with weights 4,3,2 gives IPVS's sequence, in weight proportion", async () => {
    const { e, m } = await setup("wrr", [4, 3, 2]);
    const seq = compare(e, m, 27);
    // Servers added one by one: after the first (weight 4) the gcd is 4, so cw = mw = 1,
    // and ip_vs_wrr_dest_changed keeps cw = 1 for the next adds. The first pass is
    // therefore the cw = 1 pass (every server), then cw restarts at 4.
    expect(seq.slice(0, 12)).toEqual([RS[2], RS[1], RS[0], RS[0], RS[1], RS[0], RS[2], RS[1], RS[0], RS[2], RS[1], RS[0]]);
    const counts = RS.map((r) => seq.filter((s) => s === r).length);
    expect(counts).toEqual([12, 9, 6]);
  });

  it("wrr with a common divisor steps by the gcd (weights 6,4,2)", async () => {
    const { e, m } = await setup("wrr", [6, 4, 2]);
    compare(e, m, 24);
  });

  it("wrr follows a weight change and quiesces a server at weight 0 mid-stream", async () => {
    const { e, m, svc } = await setup("wrr", [4, 3, 2]);
    compare(e, m, 5);
    e.editRealServer(e.findRealServer(svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[1], 0);
    const seq = compare(e, m, 12);
    expect(seq).not.toContain(RS[1]);
    e.editRealServer(e.findRealServer(svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 5 });
    m.setWeight(RS[1], 5);
    compare(e, m, 12);
  });

  it("rr skips a quiesced server and takes it back", async () => {
    const { e, m, svc } = await setup("rr", [1, 1, 1]);
    compare(e, m, 4);
    e.editRealServer(e.findRealServer(svc, RS[0], 80)!, { address: RS[0], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[0], 0);
    expect(compare(e, m, 6)).not.toContain(RS[0]);
    e.editRealServer(e.findRealServer(svc, RS[0], 80)!, { address: RS[0], port: 80, method: "nat", weight: 1 });
    m.setWeight(RS[0], 1);
    expect(compare(e, m, 6)).toContain(RS[0]);
  });

  it("lc picks the fewest connections (active*256 + inactive)", async () => {
    const { e, m } = await setup("lc", [1, 1, 1]);
    compare(e, m, 10);
  });

  it("wlc weighs the overhead by weight (weights 1,2,5)", async () => {
    const { e, m } = await setup("wlc", [1, 2, 5]);
    const seq = compare(e, m, 40);
    expect(seq.filter((s) => s === RS[2]).length).toBe(25);
  });

  it("wlc counts established connections 256 times (active) against SYN_RECV (inactive)", async () => {
    const { e, m } = await setup("wlc", [1, 1]);
    // One established connection on the first server scheduled.
    const first = connect(e);
    const d = m.schedule(first.client.addr, VIP)!;
    m.bind(d);
    expect(first.server).toBe(d.addr);
    e.loadFrame(0, syn(first.client, ACK), 0);
    e.process(1, 1001);
    d.inactive--;
    d.active++;
    expect(e.services()[0].realServers.find((r) => r.address === d.addr)!.active).toBe(1);
    compare(e, m, 20);
  });

  it("sh maps each client address to a fixed server, buckets replicated by weight", async () => {
    const { e, m } = await setup("sh", [1, 3, 2]);
    const seq = compare(e, m, 60);
    expect(new Set(seq).size).toBe(3);
  });

  it("dh hashes the destination: every connection to one VIP goes to the server its bucket names, whoever the client", async () => {
    const { e, m } = await setup("dh", [1, 1, 1]);
    const seq = compare(e, m, 10);
    expect(new Set(seq).size).toBe(1);
    // Four more VIPs with the same three servers: their buckets (ip_vs_dh_hashkey, one per
    // server in turn) name every server, so a scheduler that ignored the destination, or
    // hashed the client, would fail here where one VIP alone cannot tell.
    const vips = ["10.0.0.101", "10.0.0.102", "10.0.0.103", "10.0.0.104"];
    for (const vip of vips) {
      const s = e.addService({ protocol: "tcp", address: vip, port: 80, scheduler: "dh" });
      for (const a of RS.slice(0, 3)) e.addRealServer(s, { address: a, port: 80, method: "nat", weight: 1 });
    }
    const serverOf = new Map<string, Set<string>>([[VIP, new Set(seq)], ...vips.map((v) => [v, new Set<string>()] as [string, Set<string>])]);
    for (const vip of vips) {
      for (let k = 0; k < 6; k++) {
        const c = nextClient();
        e.loadFrame(0, eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: vip, proto: 6, payload: tcp({ src: c.addr, dst: vip, sport: c.port, dport: 80, flags: SYN }) })), 0);
        const toServer = e.txFrames(e.process(1, 1000)).find((f) => f.ifindex === 1);
        const server = toServer ? expectFrame(toServer.frame).ip!.dst : "-";
        expect(server, `${vip} from ${c.addr}`).toBe(m.schedule(c.addr, vip)!.addr);
        serverOf.get(vip)!.add(server);
      }
    }
    expect([...serverOf.values()].map((x) => x.size)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set([...serverOf.values()].flatMap((x) => [...x]))).toEqual(new Set(RS.slice(0, 3)));
  });

  it("sh does not fall back when the client's server is quiesced", async () => {
    const { e, m, svc } = await setup("sh", [1, 1, 1]);
    compare(e, m, 10);
    e.editRealServer(e.findRealServer(svc, RS[2], 80)!, { address: RS[2], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[2], 0);
    const seq = compare(e, m, 30);
    expect(seq).toContain("-");
    expect(e.drops().no_dest).toBeGreaterThan(0n);
  });

  it("an upper threshold overloads a server and the lower one is not reached while connections stay", async () => {
    const { e, m } = await setup("rr", [1, 1], [[2, 1], [0, 0]]);
    const seq = compare(e, m, 8);
    expect(seq.filter((s) => s === RS[0]).length).toBe(2);
    expect(e.services()[0].realServers.find((r) => r.address === RS[0])!.overloaded).toBe(true);
  });

  it("a lower threshold above the upper one is refused, as ip_vs_add_dest and ip_vs_edit_dest do (ERANGE)", async () => {
    const { e, svc } = await setup("rr", [1], [[10, 5]]);
    const spec = { address: RS[1], port: 80, method: "nat" as const, weight: 1 };
    expect(() => e.addRealServer(svc, { ...spec, uthreshold: 5, lthreshold: 10 })).toThrow("lower threshold 10 is higher than upper threshold 5");
    expect(() => e.addRealServer(svc, { ...spec, lthreshold: 1 })).toThrow("lower threshold 1 is higher than upper threshold 0");
    expect(() => e.editRealServer(e.findRealServer(svc, RS[0], 80)!, { ...spec, address: RS[0], uthreshold: 4, lthreshold: 5 })).toThrow("higher than upper");
    expect(e.services()[0].realServers.map((r) => [r.address, r.uthreshold, r.lthreshold])).toEqual([[RS[0], 10, 5]]);
  });

  it("without a lower threshold, the overload mark clears below 3/4 of the upper one (ip_vs_dest_totalconns * 4 < u * 3)", async () => {
    const { e } = await setup("rr", [1, 1], [[4, 0], [0, 0]]);
    const mine: { addr: string; port: number }[] = [];
    for (let k = 0; k < 8; k++) {
      const c = connect(e);
      if (c.server === RS[0]) mine.push(c.client);
    }
    const overloaded = () => e.services()[0].realServers.find((r) => r.address === RS[0])!.overloaded;
    expect(mine.length).toBe(4);
    expect(overloaded()).toBe(true);
    // The client resets one connection; once it expires, 3 remain: 12 is not below 12, still overloaded.
    let t = 2000;
    const closeOne = () => {
      // IPVS keeps SYN_RECV on a client RST; established first, the RST closes it.
      const c = mine.pop()!;
      e.loadFrame(0, syn(c, ACK), 0);
      e.process(1, t);
      e.loadFrame(0, syn(c, RST), 0);
      e.process(1, t);
      t += 11000; // past the CLOSE timeout (10 s), well within SYN_RECV's (60 s)
      e.expireConnections(t);
    };
    closeOne();
    expect(e.services()[0].realServers.find((r) => r.address === RS[0])!.active + e.services()[0].realServers.find((r) => r.address === RS[0])!.inactive).toBe(3);
    expect(overloaded()).toBe(true);
    closeOne();
    expect(overloaded()).toBe(false); // 2 * 4 < 12
  });

  it("sed: the smallest (active + 1) / weight; inactive connections do not count (weights 1,2,5)", async () => {
    const { e, m } = await setup("sed", [1, 2, 5]);
    const seq = compare(e, m, 40, true);
    // (C + 1) / W evens out at 5 : 10 : 25 of 40.
    expect(RS.map((r) => seq.filter((x) => x === r).length)).toEqual([5, 10, 25]);
    compare(e, m, 20); // SYN_RECV only: inactive, not counted — the same server until one is established
  });

  it("nq: an idle server at once (the first in list order), then sed's choice; follows weight changes", async () => {
    const { e, m, svc } = await setup("nq", [1, 2, 5]);
    const seq = compare(e, m, 3, true);
    expect(new Set(seq).size).toBe(3); // every idle server once first
    compare(e, m, 30, true);
    e.editRealServer(e.findRealServer(svc, RS[2], 80)!, { address: RS[2], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[2], 0);
    expect(compare(e, m, 10, true)).not.toContain(RS[2]);
  });

  it("fo: everything to the highest weight (the first of equals); the next when it is quiesced or overloaded", async () => {
    const { e, m, svc } = await setup("fo", [2, 3, 3], [[0, 0], [0, 0], [4, 2]]);
    // RS[2] was added last, so it is first in list order among the two of weight 3; at 4 connections it is overloaded.
    expect(compare(e, m, 8, true)).toEqual([RS[2], RS[2], RS[2], RS[2], RS[1], RS[1], RS[1], RS[1]]);
    e.editRealServer(e.findRealServer(svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[1], 0);
    expect(compare(e, m, 3, true)).toEqual([RS[0], RS[0], RS[0]]);
  });

  it("ovf: the highest weight until its active connections exceed its weight, then the next (weights 2,3,1)", async () => {
    const { e, m } = await setup("ovf", [2, 3, 1]);
    const seq = compare(e, m, 9, true);
    expect(seq).toEqual([RS[1], RS[1], RS[1], RS[1], RS[0], RS[0], RS[0], RS[2], RS[2]]);
    expect(compare(e, m, 2, true)).toEqual(["-", "-"]); // every server past its weight: no destination
  });

  it("twos: two weighted random draws, the lighter of the two (overhead / weight) taken; the same draws as the model's", async () => {
    const { e, m, svc } = await setup("twos", [1, 2, 5]);
    const seq = compare(e, m, 200, true);
    const share = RS.map((r) => seq.filter((x) => x === r).length);
    expect(share[2]).toBeGreaterThan(share[1]);
    expect(share[1]).toBeGreaterThan(share[0]);
    e.editRealServer(e.findRealServer(svc, RS[2], 80)!, { address: RS[2], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[2], 0);
    expect(compare(e, m, 30, true)).not.toContain(RS[2]);
  });

  it("the model's hsiphash is the kernel's: lib/siphash_kunit.c's 64-bit vector for the 4 bytes 00 01 02 03", () => {
    expect(hsiphash32(0x03020100, 0x0706050403020100n, 0x0f0e0d0c0b0a0908n)).toBe(0x88d38328);
  });

  it("mh: Maglev lookup as ip_vs_mh builds it (hsiphash with the kernel's keys, turns from last_weight / gcd); mh-port and mh-fallback", async () => {
    const { e, m } = await setup("mh", [1, 2, 3]);
    const seq = compare(e, m, 300);
    expect(new Set(seq).size).toBe(3);
    const p = await setup("mh", [1, 1, 1], [], 2);
    compare(p.e, p.m, 100);
    const f = await setup("mh", [1, 1, 1], [], 1);
    compare(f.e, f.m, 20);
    f.e.editRealServer(f.e.findRealServer(f.svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 0 });
    f.m.setWeight(RS[1], 0);
    const after = compare(f.e, f.m, 50);
    expect(after).not.toContain("-");
    expect(after).not.toContain(RS[1]);
  });

  it("mh's table sizes: the kernel's primes 251 .. 131071 (CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17), weights through the size's turn bits; another size is refused", async () => {
    for (const size of [251, 1021, 65521, 131071]) {
      const { e, m } = await setup("mh", [1, 5, 300], [], 0, size);
      expect(m.mh.length).toBe(size);
      compare(e, m, 60);
    }
    await expect(director({ mhTableSize: 4096 })).rejects.toThrow("mh table size 4096 is not one of the kernel's (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)");
  });

  it("mh without fallback: a quiesced server's clients get no destination, and nobody else's client moves (the table keeps its last weight)", async () => {
    const { e, m, svc } = await setup("mh", [1, 1, 1]);
    const before = compare(e, m, 60);
    e.editRealServer(e.findRealServer(svc, RS[0], 80)!, { address: RS[0], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[0], 0);
    compare(e, m, 60);
    expect(m.mh.filter((d) => d?.addr === RS[0]).length).toBeGreaterThan(1000); // still in the table
    expect(before).toContain(RS[0]);
  });

  it("lblc: a destination stays on its server until that one is busier than its weight while another is under half", async () => {
    const { e, m, svc } = await setup("lblc", [2, 3, 1]);
    const seq = compare(e, m, 12, true);
    expect(seq.slice(0, 2)).toEqual([RS[2], RS[2]]); // the first usable server (the last added) keeps the VIP...
    expect(new Set(seq).size).toBeGreaterThan(1); // ...until it is overloaded in lblc's sense
    e.editRealServer(e.findRealServer(svc, RS[0], 80)!, { address: RS[0], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[0], 0);
    expect(compare(e, m, 10, true)).not.toContain(RS[0]);
  });

  it("lblcr: a destination's set grows by wlc's choice when its least loaded member is overloaded, and sheds its most loaded member once unchanged for 24 h", async () => {
    const { e, m, svc } = await setup("lblcr", [2, 3, 1]);
    const seq = compare(e, m, 16, true);
    expect(seq.slice(0, 2)).toEqual([RS[2], RS[2]]);
    const set = () => m.lblcr.get(VIP)!.set.map((d) => d.addr);
    expect(set().length).toBe(3); // every server joined, one by one
    // Everything expires; 12 h later the set is used (nothing changes), 24 h after its last change it sheds one.
    const H = 3600 * 1000;
    e.exports.expireConnections(1000 + 12 * H);
    for (const d of m.list) { d.active = 0; d.inactive = 0; }
    compare(e, m, 1, false, 1000 + 12 * H);
    expect(set().length).toBe(3);
    e.exports.expireConnections(1000 + 25 * H);
    for (const d of m.list) { d.active = 0; d.inactive = 0; }
    compare(e, m, 2, false, 1000 + 25 * H);
    expect(set().length).toBe(2);
    // A quiesced member takes no more.
    e.editRealServer(e.findRealServer(svc, RS[1], 80)!, { address: RS[1], port: 80, method: "nat", weight: 0 });
    m.setWeight(RS[1], 0);
    expect(compare(e, m, 12, true, 1000 + 25 * H)).not.toContain(RS[1]);
  });

  it("lblc and lblcr forget a destination at the full check that comes every 30 min once it has been unused for 24 h (the engine's tick), and not before", async () => {
    const H = 3600 * 1000;
    const M = 60 * 1000;
    for (const sched of ["lblc", "lblcr"] as SchedulerName[]) {
      for (const collected of [false, true]) {
        const { e, svc } = await setup(sched, [1, 5]);
        e.tick(0);
        const w = (i: number, weight: number) => e.editRealServer(e.findRealServer(svc, RS[i], 80)!, { address: RS[i], port: 80, method: "nat", weight });
        // RS[1] quiesced: the VIP is remembered on RS[0]; back at weight 5, the memory still wins.
        w(1, 0);
        expect(connect(e, 1000).server).toBe(RS[0]);
        w(1, 5);
        expect(connect(e, 2000).server).toBe(RS[0]);
        // The engine's timer every minute; the memory is unused from t = 2 s.
        const until = collected ? 2000 + 24 * H + 31 * M : 2000 + 24 * H - M;
        for (let t = M; t <= until; t += M) e.tick(t);
        // Once collected, wlc's choice (the heavier RS[1]); before the full check, still RS[0].
        expect(connect(e, 2000 + 24 * H + 32 * M).server, `${sched} ${collected ? "after" : "before"} the full check`).toBe(collected ? RS[1] : RS[0]);
      }
    }
  });

  it("sh-port: the client's port joins the hash (one client spreads over the servers); sh-fallback: past a quiesced server to the next bucket's", async () => {
    const { e, m } = await setup("sh", [1, 1, 1], [], 2);
    const seq = compare(e, m, 30);
    expect(new Set(seq).size).toBe(3);
    const f = await setup("sh", [1, 1, 1], [], 1);
    compare(f.e, f.m, 10);
    f.e.editRealServer(f.e.findRealServer(f.svc, RS[2], 80)!, { address: RS[2], port: 80, method: "nat", weight: 0 });
    f.m.setWeight(RS[2], 0);
    const after = compare(f.e, f.m, 30);
    expect(after).not.toContain("-"); // every client placed, none on the quiesced server
    expect(after).not.toContain(RS[2]);
    expect(f.e.drops().no_dest ?? 0n).toBe(0n);
  });

  it("every scheduler over a random sequence of servers added, removed, reweighted, quiesced and overloaded, connection by connection as the model", async () => {
    const scheds: SchedulerName[] = ["rr", "wrr", "lc", "wlc", "sh", "dh", "sed", "nq", "fo", "ovf", "twos", "lblc", "lblcr", "mh"];
    for (const sched of scheds) {
      for (const flags of sched === "sh" || sched === "mh" ? [0, 1, 3] : [0]) {
        const { e, m, svc } = await setup(sched, [2, 1, 3], [], flags);
        let x = 0x1234567 ^ (flags * 7919) ^ sched.length;
        const rnd = (n: number) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
        // Fresh addresses for added servers (a removed server is never added back: IPVS would
        // revive it with its connections, which the model does not keep).
        let next = 20;
        for (let step = 0; step < 40; step++) {
          const op = rnd(10);
          const live = m.list.map((d) => d.addr);
          if (op === 0 && live.length < 8) {
            const addr = `10.1.0.${next++}`;
            const w = 1 + rnd(4);
            const uth = rnd(3) === 0 ? 2 + rnd(4) : 0;
            e.setNeighbour(addr, "02:aa:00:00:02:01", 1);
            e.addRealServer(svc, { address: addr, port: 80, method: "nat", weight: w, uthreshold: uth });
            m.add(addr, w, uth);
          } else if (op === 1 && live.length > 1) {
            const addr = live[rnd(live.length)];
            e.deleteRealServer(e.findRealServer(svc, addr, 80)!);
            m.remove(addr);
          } else if (op === 2 && live.length) {
            const addr = live[rnd(live.length)];
            const w = rnd(4) === 0 ? 0 : 1 + rnd(5);
            const md = m.list.find((d) => d.addr === addr)!;
            e.editRealServer(e.findRealServer(svc, addr, 80)!, { address: addr, port: 80, method: "nat", weight: w, uthreshold: md.uth, lthreshold: md.lth });
            m.setWeight(addr, w);
          } else {
            compare(e, m, 1 + rnd(4), rnd(2) === 0);
          }
        }
        compare(e, m, 10, true);
      }
    }
  });

  it("a service whose servers are all quiesced drops, counts, and tells the client the port is unreachable", async () => {
    const { e } = await setup("wlc", [0, 0]);
    const c = nextClient();
    e.loadFrame(0, syn(c), 0);
    const out = e.txFrames(e.process(1, 1000));
    expect(e.drops().no_dest).toBe(1n);
    expect(out.length).toBe(1);
    const d = expectFrame(out[0].frame);
    expect(out[0].ifindex).toBe(0);
    expect(d.ip).toMatchObject({ src: VIP, dst: c.addr });
    expect(d.ip!.icmp).toMatchObject({ type: 3, code: 3 });
  });
});
