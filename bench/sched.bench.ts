// npm run bench:sched: consistent hashing as the Maglev paper measures it (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016, sections 3.4 and
// 5.3) — balance of the lookup table and of random flows, disruption when a server goes or
// comes, table build time and lookup cost — for wasmvs's maglev (M = 65,537) beside the
// kernel's mh (M = 4,093), sh (256 buckets) and plain modulo hashing. Every figure is
// measured in the engine (bench build) on this machine in this run; the paper's are quoted
// beside them. New connections per second for every scheduler are in `npm run bench`.

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Engine, Region, SchedulerName, MAGLEV_M } from "../host/engine/index.js";
import { loadEngine } from "../host/engine/node.js";
import type { instantiate as instantiateBench } from "../wasm/bench.js";

type BenchExports = Awaited<ReturnType<typeof instantiateBench>>;
const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/dist\/?$/, "");
const QUICK = process.env.WASMVS_BENCH_QUICK === "1";
const FLOWS = QUICK ? 200_000 : 1_000_000;
const VIP = "10.0.0.100";
const VIP_WIRE = wire(VIP);
const PORT_WIRE = ((80 & 0xff) << 8) | (80 >> 8);

function wire(a: string): number {
  const o = a.split(".").map(Number);
  return (o[0] | (o[1] << 8) | (o[2] << 16) | (o[3] << 24)) >>> 0;
}

/** Server i: 10.1.(i / 250).(i % 250 + 2), port 8080 — on the inside /16. */
const serverAddr = (i: number) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 2}`;

interface Rig { e: Engine; x: BenchExports; out: number; mem: () => Uint8Array }

async function rig(): Promise<Rig> {
  const e = await loadEngine({ batch: 16, connCapacity: 1024, maxRealServers: 4096, reserveBytes: FLOWS * 4 + 64 }, "bench");
  e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.0.0.1/24" });
  e.setInterface({ index: 1, mac: "02:00:00:00:01:01", address: "10.1.0.1/16" });
  const x = e.exports as unknown as BenchExports;
  return { e, x, out: e.regionOffset(Region.RESERVED), mem: () => new Uint8Array(e.exports.memory.buffer) };
}

function service(r: Rig, sched: SchedulerName, n: number, weight: (i: number) => number = () => 1): number {
  for (const s of r.e.services()) r.e.deleteService(s.index);
  const svc = r.e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: sched });
  for (let i = 0; i < n; i++) r.e.addRealServer(svc, { address: serverAddr(i), port: 8080, method: "nat", weight: weight(i) });
  return svc;
}

/** The server each of FLOWS random flows goes to (its 32-bit record index, 0xffffffff none:
 *  indexes reach 2^20 since issue 19). */
function choices(r: Rig, svc: number, seed = 0x2545f491): Uint32Array {
  r.x.benchSchedule(svc, FLOWS, seed, VIP_WIRE, PORT_WIRE, r.out);
  const m = r.mem();
  return new Uint32Array(m.buffer.slice(r.out, r.out + FLOWS * 4));
}

function names(r: Rig): Map<number, string> {
  const m = new Map<number, string>();
  for (const s of r.e.services()) for (const d of s.realServers) m.set(d.index, d.address);
  return m;
}

/** Share of flows whose server changed (by address, since indexes may be reused). */
function moved(a: Uint32Array, na: Map<number, string>, b: Uint32Array, nb: Map<number, string>): number {
  let k = 0;
  for (let i = 0; i < a.length; i++) if (na.get(a[i]) !== nb.get(b[i])) k++;
  return k / a.length;
}

function minMax(counts: number[]): { min: number; max: number } {
  return { min: Math.min(...counts), max: Math.max(...counts) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs scheduler benchmark on ${machine}${QUICK ? " (quick)" : ""}\n`);
  const r = await rig();
  const report: Record<string, unknown> = { date: new Date().toISOString(), machine, quick: QUICK, flows: FLOWS, M: MAGLEV_M };

  // ---- balance: 1,000 servers of weight 1.
  const N = 1000;
  let svc = service(r, "maglev", N);
  const entries = new Map<string, number>();
  for (const x of r.e.maglevTable(svc)) if (x) entries.set(x, (entries.get(x) ?? 0) + 1);
  const te = minMax([...entries.values()]);
  const idealE = MAGLEV_M / N;
  const flowCounts = new Map<number, number>();
  for (const d of choices(r, svc)) flowCounts.set(d, (flowCounts.get(d) ?? 0) + 1);
  const tf = minMax([...flowCounts.values()]);
  const idealF = FLOWS / N;
  const sd = Math.sqrt(idealF * (1 - 1 / N));
  console.log(`Balance: maglev, M = ${MAGLEV_M}, ${N} servers of equal weight`);
  console.log(`  table entries per server   min ${te.min}  max ${te.max}  ideal ${idealE.toFixed(2)}  -> min/ideal ${(te.min / idealE).toFixed(4)}, max/ideal ${(te.max / idealE).toFixed(4)}, max/min ${(te.max / te.min).toFixed(4)}`);
  console.log(`  ${FLOWS.toLocaleString("en")} random flows per server   min ${tf.min}  max ${tf.max}  ideal ${idealF.toFixed(0)}  -> min/ideal ${(tf.min / idealF).toFixed(3)}, max/ideal ${(tf.max / idealF).toFixed(3)}`);
  console.log(`    (random sampling alone spreads these: one standard deviation is ${(100 * sd / idealF).toFixed(1)}% of the ideal; the table's entries are the algorithm's balance)`);
  console.log(`  paper: Maglev hashing gives near-perfect balance (section 3.4); goal: within 1% of the ideal -> ${Math.max(1 - te.min / idealE, te.max / idealE - 1) <= 0.01 ? "met" : "NOT met"} for the table`);
  report.balance = { servers: N, entries: { ...te, ideal: idealE }, flows: { ...tf, ideal: idealF, samplingSdShare: sd / idealF } };

  // ---- disruption: remove one of N, add one to N.
  console.log(`\nDisruption: share of ${FLOWS.toLocaleString("en")} random flows that change server (goal: at most 1/N + 1%)`);
  console.log(`  scheduler                          N    remove 1   add 1     1/N`);
  const rows: { scheduler: string; servers: number; remove: number; add: number }[] = [];
  const disrupt = (sched: SchedulerName, n: number) => {
    const s0 = service(r, sched, n);
    const base = choices(r, s0);
    const baseNames = names(r);
    const gone = r.e.findRealServer(s0, serverAddr(Math.floor(n / 2)), 8080)!;
    r.e.deleteRealServer(gone);
    const removed = moved(base, baseNames, choices(r, s0), names(r));
    r.e.addRealServer(s0, { address: serverAddr(Math.floor(n / 2)), port: 8080, method: "nat", weight: 1 });
    r.e.addRealServer(s0, { address: serverAddr(n), port: 8080, method: "nat", weight: 1 });
    const added = moved(base, baseNames, choices(r, s0), names(r));
    rows.push({ scheduler: sched, servers: n, remove: removed, add: added });
    const label = { maglev: "maglev (M = 65,537)", mh: "mh (kernel, M = 4,093)", sh: "sh (256 buckets)" }[sched as string] ?? sched;
    console.log(`  ${label.padEnd(32)} ${String(n).padStart(5)}   ${(100 * removed).toFixed(2).padStart(6)}%  ${(100 * added).toFixed(2).padStart(6)}%  ${(100 / n).toFixed(2).padStart(5)}%`);
  };
  disrupt("maglev", 100);
  disrupt("maglev", 1000);
  disrupt("mh", 100);
  disrupt("sh", 100);
  // Modulo hashing (a table filled in turn, flow hash mod N): computed here, for contrast.
  {
    const n = 100;
    let rem = 0;
    let add = 0;
    let x = 0x2545f491;
    for (let i = 0; i < FLOWS; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      const h = x;
      const a = h % n;
      const b = h % (n - 1);
      // Removing server n/2 renumbers the ones after it.
      const bAddr = b >= n / 2 ? b + 1 : b;
      if (bAddr !== a) rem++;
      if (h % (n + 1) !== a) add++;
    }
    rows.push({ scheduler: "modulo", servers: n, remove: rem / FLOWS, add: add / FLOWS });
    console.log(`  ${"hash mod N (computed, contrast)".padEnd(32)} ${String(n).padStart(5)}   ${(100 * rem / FLOWS).toFixed(2).padStart(6)}%  ${(100 * add / FLOWS).toFixed(2).padStart(6)}%  ${(100 / n).toFixed(2).padStart(5)}%`);
  }
  console.log(`  paper: Maglev's table changes little when backends go (its evaluation of resilience to backend changes)`);
  report.disruption = rows;

  // ---- build time and lookup cost.
  console.log(`\nTable build time (median of ${QUICK ? 5 : 21}) and lookup cost in the engine`);
  const builds: Record<string, number> = {};
  // The last row is the worst shape for MaglevHashV2's rounds: one server of weight 65,535
  // among 3,999 of weight 1 (rounds × servers visits would be 2.6·10^11; minutes).
  const skewed = (i: number) => (i === 0 ? 65535 : 1);
  for (const [sched, n, weight] of [["maglev", 1000], ["maglev", 100], ["mh", 1000], ["maglev", 4000, skewed]] as [SchedulerName, number, ((i: number) => number)?][]) {
    svc = service(r, sched, n, weight);
    const ms: number[] = [];
    for (let k = 0; k < (QUICK ? 5 : 21); k++) {
      const t0 = performance.now();
      if (sched === "maglev") r.x.benchMaglevBuild(svc); else r.x.benchMhBuild(svc);
      ms.push(performance.now() - t0);
    }
    builds[`${sched}-${n}${weight ? "-skewed" : ""}`] = median(ms);
    const m = sched === "maglev" ? "M = 65,537" : "M = 4,093";
    const note = sched === "maglev" && n === 1000 ? "   (paper: 1.8 ms for M = 65,537 and 1,000 backends)" : weight ? "   (one of weight 65,535, the rest 1)" : "";
    console.log(`  ${sched.padEnd(7)} ${m.padEnd(11)} ${String(n).padStart(5)} servers: ${median(ms).toFixed(2).padStart(7)} ms${note}`);
  }
  const lookups: Record<string, number> = {};
  for (const sched of ["maglev", "mh", "sh", "wlc"] as SchedulerName[]) {
    svc = service(r, sched, 100);
    const n = QUICK ? 1_000_000 : 5_000_000;
    r.x.benchSchedule(svc, 100_000, 7, VIP_WIRE, PORT_WIRE, 0);
    const t0 = performance.now();
    r.x.benchSchedule(svc, n, 7, VIP_WIRE, PORT_WIRE, 0);
    const ns = ((performance.now() - t0) * 1e6) / n;
    lookups[sched] = ns;
    console.log(`  lookup ${sched.padEnd(7)} 100 servers: ${ns.toFixed(1).padStart(6)} ns per new flow (scheduling only, plus ~1 ns of flow generation)`);
  }
  report.buildMs = builds;
  report.lookupNs = lookups;

  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, "sched-latest.json"), JSON.stringify(report, null, 2));
  console.log(`\nsaved bench/results/sched-latest.json`);
}

main().catch((err) => {
  console.error(process.env.WASMVS_DEBUG ? err : err instanceof Error ? err.message : err);
  process.exit(1);
});
