// npm run bench: the engine's per-packet cost on established flows (NAT inbound, NAT
// outbound, DR, TUN; 1,000 and 1,000,000 live connections; 64- and 1500-byte frames),
// new connections per second for each scheduler, and memory per connection — with the
// same work written in C (bench/baseline.c, compiled here with the system's gcc) and
// measured in the same run, so the report shows the engine/C ratio.
//
// Frames are refilled into the RX slots from templates inside engine memory by one
// export per batch (benchRefill), as the TAP addon writes frames straight into slots;
// the C baseline refills its slots with memcpy the same way.

import b from "benny";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Engine, Region, SchedulerName, SCHEDULERS } from "../host/engine/index.js";
import { loadEngine } from "../host/engine/node.js";
import { Journal, JournalWriter } from "../host/dataplane/journal.js";

import type { instantiate as instantiateBench } from "../wasm/bench.js";
import { writeHeader } from "./frames.js";
const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/dist\/?$/, "");
const QUICK = process.env.WASMVS_BENCH_QUICK === "1";
const BIG = QUICK ? 100_000 : 1_000_000;
const BATCH = 256;
const HDR = 54;
const STRIDE = 64;
type Mode = "nat-in" | "nat-out" | "dr" | "tun";

/** The bench build's exports, typed from the declarations asc writes for it. */
type BenchExports = Awaited<ReturnType<typeof instantiateBench>>;

const OUT_MAC = [2, 0, 0, 0, 0, 1];
const IN_MAC = [2, 0, 0, 0, 1, 1];
const GW_MAC = [2, 0, 0, 0, 0, 0xfe];
const RS_MACS = [[2, 0xaa, 0, 0, 0, 0x11], [2, 0xaa, 0, 0, 0, 0x12], [2, 0xaa, 0, 0, 0, 0x13]];
const RS = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
const VIP = "10.0.0.100";

function clientAddr(i: number): number[] {
  return [100 + (i >> 16), (i >> 8) & 255, i & 255, 1];
}


function shuffled(n: number, seed: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  let s = seed >>> 0;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    const t = a[i]; a[i] = a[j]; a[j] = t;
  }
  return a;
}

interface Setup {
  e: Engine;
  x: BenchExports;
  mem: Uint8Array;
  templates: number; // base of the two template sets (64-byte and 1500-byte frames)
  payload: number;
  flows: number;
}

async function director(flows: number, extra: number, mtuIn = 1500): Promise<{ e: Engine; x: BenchExports; mem: Uint8Array; reserved: number }> {
  // The table at twice the live connections (a load factor of at most 1/2, as a
  // deployment would size it); memory per connection is reported for a full table.
  let cap = 1;
  while (cap < flows * 2) cap <<= 1;
  const e = await loadEngine({ batch: BATCH, connCapacity: Math.max(cap, 1024), reserveBytes: extra }, "bench");
  e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.0.0.1/24" });
  e.setInterface({ index: 1, mac: "02:00:00:00:01:01", address: "10.1.0.1/24", mtu: mtuIn });
  e.addRoute("0.0.0.0/0", "10.0.0.254", 0);
  e.setNeighbour("10.0.0.254", "02:00:00:00:00:fe", 0);
  RS.forEach((a, i) => e.setNeighbour(a, RS_MACS[i].map((x) => x.toString(16).padStart(2, "0")).join(":"), 1));
  return { e, x: e.exports as unknown as BenchExports, mem: new Uint8Array(e.memory.buffer), reserved: e.regionOffset(Region.RESERVED) };
}

/** An engine with `flows` established connections in mode, and the frame templates to drive them. */
async function establish(mode: Mode, flows: number): Promise<Setup> {
  const { e, x, mem, reserved } = await director(flows, flows * STRIDE * 2 + 4096, 1600);
  const method = mode === "dr" ? "dr" : mode === "tun" ? "tun" : "nat";
  const svc = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
  RS.forEach((a) => e.addRealServer(svc, { address: a, port: method === "nat" ? 8080 : 80, method, weight: 1 }));
  const payload = reserved;
  mem.fill(0x61, payload, payload + 2048);
  const templates = reserved + 4096;
  const order = shuffled(flows, 0x2545f491);
  // Client-side SYNs open the connections (recording which server each flow got)...
  for (let i = 0; i < flows; i++) {
    writeHeader(mem, templates + order[i] * STRIDE, OUT_MAC, GW_MAC, clientAddr(i), VIP.split(".").map(Number), 1024 + (i % 60000), 80, 0x02, 64);
  }
  const serverOf = new Uint8Array(flows);
  for (let done = 0; done < flows; done += BATCH) {
    const n = Math.min(BATCH, flows - done);
    x.benchRefill(templates, STRIDE, HDR, done, flows, n, 64, payload, 0);
    const tx = e.process(n, 1000);
    if (tx !== n) throw new Error(`setup: ${tx} of ${n} SYNs forwarded (${JSON.stringify(e.drops())})`);
    for (let k = 0; k < n; k++) {
      // NAT: the rewritten destination; TUN: the outer destination. Both end at byte 33.
      serverOf[done + k] = e.txFrame(k).frame[33] - 11;
    }
  }
  if (e.connectionCount !== flows) throw new Error(`setup: ${e.connectionCount} connections for ${flows} flows`);
  // ...then the measured frames: ACKs, 64 and 1500 bytes, in the same shuffled order.
  const byPos = new Uint32Array(flows);
  for (let i = 0; i < flows; i++) byPos[order[i]] = i;
  for (const [set, bytes] of [[0, 64], [1, 1500]] as const) {
    const base = templates + set * flows * STRIDE;
    for (let pos = 0; pos < flows; pos++) {
      const i = byPos[pos];
      const at = base + pos * STRIDE;
      if (mode === "nat-out") {
        const r = serverOf[pos];
        writeHeader(mem, at, IN_MAC, RS_MACS[r], RS[r].split(".").map(Number), clientAddr(i), 8080, 1024 + (i % 60000), 0x10, bytes);
      } else {
        writeHeader(mem, at, OUT_MAC, GW_MAC, clientAddr(i), VIP.split(".").map(Number), 1024 + (i % 60000), 80, 0x10, bytes);
      }
    }
  }
  return { e, x, mem, templates, payload, flows };
}

interface Row {
  mode: string;
  flows: number;
  bytes: number;
  engineNs: number;
  enginePps: number;
  cNs: number;
  cPps: number;
  ratio: number;
}

const BATCHES_PER_OP = 8;

/** ns per packet from benny's result: the median sample (seconds per operation), which a
 *  shared, noisy machine disturbs less than the mean. */
function nsPerPacket(r: { ops: number; details?: { median?: number } }): number {
  const secondsPerOp = r.details?.median ?? 1 / r.ops;
  return (secondsPerOp * 1e9) / (BATCH * BATCHES_PER_OP);
}

async function packetSuite(mode: Mode, flows: number, baseline: string, folder: string): Promise<Row[]> {
  const s = await establish(mode, flows);
  const ifindex = mode === "nat-out" ? 1 : 0;
  let next = 0;
  let failures = 0;
  // One benny operation = BATCHES_PER_OP batches, so the harness's own per-call cost
  // stays out of the per-packet figure.
  const runner = (set: number, bytes: number) => () => {
    for (let k = 0; k < BATCHES_PER_OP; k++) {
      next = s.x.benchRefill(s.templates + set * s.flows * STRIDE, STRIDE, HDR, next, s.flows, BATCH, bytes, s.payload, ifindex);
      if (s.e.process(BATCH, 1000) !== BATCH) failures++;
    }
  };
  const opts = { minSamples: 5, maxTime: QUICK ? 0.3 : 1.5 };
  const summary = await b.suite(
    `${mode}, ${flows} connections`,
    b.add("64-byte frames", runner(0, 64), opts),
    b.add("1500-byte frames", runner(1, 1500), opts),
    b.cycle(),
    b.save({ file: `${mode}-${flows}`, folder, format: "json", details: false }),
  );
  if (failures) throw new Error(`${mode}: ${failures} batches not fully forwarded (${JSON.stringify(s.e.drops())})`);
  return summary.results.map((r, k) => {
    const bytes = k === 0 ? 64 : 1500;
    const c = JSON.parse(execFileSync(baseline, [mode, String(flows), String(bytes)], { encoding: "utf8" }));
    const engineNs = nsPerPacket(r);
    return { mode, flows, bytes, engineNs, enginePps: 1e9 / engineNs, cNs: c.ns_per_packet, cPps: c.pps, ratio: c.ns_per_packet / engineNs };
  });
}

async function newConnections(folder: string): Promise<{ scheduler: string; connsPerSec: number }[]> {
  // A whole number of operations, so the templates wrap (and the table is emptied) between operations.
  const flows = BATCH * BATCHES_PER_OP * (QUICK ? 98 : 488);
  const { e, x, mem, reserved } = await director(flows * 2, flows * STRIDE + 4096);
  const payload = reserved;
  const templates = reserved + 4096;
  for (let i = 0; i < flows; i++) {
    writeHeader(mem, templates + i * STRIDE, OUT_MAC, GW_MAC, clientAddr(i), VIP.split(".").map(Number), 1024 + (i % 60000), 80, 0x02, 64);
  }
  // One service at a time; the table is emptied each time the templates wrap, so every
  // SYN opens a new connection (the flush is inside the measurement, amortised).
  const current = { svc: -1, sched: "", next: 0 };
  const cases = SCHEDULERS.map((sched: SchedulerName) => {
    const fn = () => {
      if (current.next === 0 || current.sched !== sched) {
        e.exports.flushConnections();
        if (current.svc >= 0) e.deleteService(current.svc);
        current.svc = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: sched });
        current.sched = sched;
        current.next = 0;
        for (let k = 0; k < 8; k++) e.addRealServer(current.svc, { address: `10.1.0.${20 + k}`, port: 8080, method: "nat", weight: 1 + (k % 3) });
      }
      for (let k = 0; k < BATCHES_PER_OP; k++) {
        current.next = x.benchRefill(templates, STRIDE, HDR, current.next, flows, BATCH, 64, payload, 0);
        e.process(BATCH, 1000);
      }
    };
    return b.add(`${sched}`, fn, { minSamples: 5, maxTime: QUICK ? 0.3 : 1.5 });
  });
  for (let k = 0; k < 8; k++) e.setNeighbour(`10.1.0.${20 + k}`, `02:aa:00:00:01:${(20 + k).toString(16)}`, 1);
  const summary = await b.suite("new connections (SYN, 8 servers)", ...cases, b.cycle(), b.save({ file: "new-connections", folder, format: "json", details: false }));
  if (e.drops().table_full) throw new Error("new connections: the table filled up");
  return summary.results.map((r) => ({ scheduler: r.name, connsPerSec: 1e9 / nsPerPacket(r) }));
}

async function memoryPerConnection(): Promise<number> {
  const capacity = 1 << 20;
  const e = await loadEngine({ connCapacity: capacity, batch: 16 });
  // Entries plus both hash tables: from the start of CONNS to the start of NEIGHBOURS.
  return (e.regionOffset(Region.NEIGHBOURS) - e.regionOffset(Region.CONNS)) / capacity;
}

/** The crash journal's cost (host/dataplane/journal.ts), for one whole pass: on the data
 *  path (the table encoded and copied out, a slice a turn: summed over the turns), and in
 *  all (with the main thread's writer, to the page cache). Per connection held and per
 *  pass (every JOURNAL_MS), never per packet. */
async function journalCost(flows: number, dir: string): Promise<{ flows: number; capacity: number; dataPathMs: number; maxTurnMs: number; totalMs: number; nsPerConn: number; bytes: number }> {
  const s = await establish("nat-in", flows);
  const path = join(dir, `journal-${flows}.table`);
  const writer = new JournalWriter(path, (l) => { throw new Error(l); });
  const j = new Journal(s.e, (m) => writer.take(m));
  const data: number[] = [];
  const total: number[] = [];
  let maxTurnMs = 0;
  for (let k = 0; k < (QUICK ? 5 : 15); k++) {
    const now = 2000 + k * 1000;
    s.e.tick(now);
    const t0 = process.hrtime.bigint();
    let onPath = 0n;
    const before = j.passes;
    // A turn of the loop each, the writer at work between them as on the main thread.
    while (j.passes === before) {
      const t = process.hrtime.bigint();
      j.step(now);
      const d = process.hrtime.bigint() - t;
      onPath += d;
      maxTurnMs = Math.max(maxTurnMs, Number(d) / 1e6);
      await new Promise((r) => setImmediate(r));
    }
    await writer.settled();
    data.push(Number(onPath) / 1e6);
    total.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
  const dataPathMs = median(data);
  return { flows, capacity: s.e.connCapacity, dataPathMs, maxTurnMs, totalMs: median(total), nsPerConn: (dataPathMs * 1e6) / flows, bytes: statSync(path).size };
}

async function main(): Promise<void> {
  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "wasmvs-bench-"));
  const baseline = join(tmp, "baseline");
  execFileSync("gcc", ["-O2", "-o", baseline, join(ROOT, "bench", "baseline.c")], { stdio: "inherit" });
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs engine benchmark on ${machine}${QUICK ? " (quick)" : ""}\n`);
  const rows: Row[] = [];
  const modes = (process.env.WASMVS_BENCH_MODES ?? "nat-in,nat-out,dr,tun").split(",") as Mode[];
  for (const mode of modes) {
    for (const flows of [1000, BIG]) rows.push(...(await packetSuite(mode, flows, baseline, folder)));
  }
  const conns = process.env.WASMVS_BENCH_MODES ? [] : await newConnections(folder);
  const perConn = await memoryPerConnection();
  const journal = process.env.WASMVS_BENCH_MODES ? [] : [await journalCost(1000, tmp), await journalCost(BIG, tmp)];
  const fmt = (n: number, w: number, d = 1) => n.toFixed(d).padStart(w);
  console.log(`\nEstablished flows (ns/packet and Mpps; C = bench/baseline.c, gcc -O2, same run)`);
  console.log(`mode      connections  frame   engine ns    Mpps     C ns    Mpps   engine/C speed`);
  for (const r of rows) {
    console.log(`${r.mode.padEnd(9)} ${String(r.flows).padStart(11)}  ${String(r.bytes).padStart(5)}B ${fmt(r.engineNs, 10)} ${fmt(r.enginePps / 1e6, 7, 2)} ${fmt(r.cNs, 8)} ${fmt(r.cPps / 1e6, 7, 2)}   ${fmt(r.ratio, 6, 2)}x`);
  }
  console.log(`\nNew connections per second (SYN to a service of 8 real servers)`);
  for (const c of conns) console.log(`  ${c.scheduler.padEnd(6)} ${fmt(c.connsPerSec / 1e6, 6, 2)} M/s`);
  console.log(`\nMemory per connection: ${perConn.toFixed(1)} bytes (40-byte entry + two hash-bucket heads, 2^20 capacity)`);
  console.log(`\nCrash journal (the whole table every 500 ms; median pass; the data path's share: its encoding, a slice of at most 4,096 entries and 65,536 slots a turn)`);
  for (const r of journal) {
    console.log(`  ${String(r.flows).padStart(9)} connections (table ${r.capacity}): data path ${fmt(r.dataPathMs, 7, 2)} ms a pass ` +
      `(${fmt(r.nsPerConn, 5)} ns a connection, longest turn ${fmt(r.maxTurnMs, 5, 2)} ms, ${fmt((r.dataPathMs / 500) * 100, 5, 2)}% of its time); ` +
      `with the writer ${fmt(r.totalMs, 7, 2)} ms; ${(r.bytes / 2 ** 20).toFixed(1)} MiB`);
  }
  const report = { date: new Date().toISOString(), machine, quick: QUICK, batch: BATCH, established: rows, newConnections: conns, bytesPerConnection: perConn, journal };
  const file = join(folder, `engine-${report.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  writeFileSync(join(folder, "engine-latest.json"), JSON.stringify(report, null, 2));
  console.log(`\nsaved ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
