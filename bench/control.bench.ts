// npm run bench:control [-- --sizes 1000,10000,65536] [--no-size-keywords] [--stages ...]:
// the control plane at Kubernetes sizes (issue 19), N services × 10 real servers for each N
// of --sizes, on a real director (`wasmvs run`) in the namespace sandbox of
// host/sandbox/sandbox.ts (NAT, three servers listening on ports 8080-8089; inputs from
// bench/control-inputs.ts). Stages, each per size; one that fails says why and the next runs:
//   load      an ipvsadm-rules file and a keepalived.conf: `wasmvs run` started with the file
//             (until its control socket answers with N services), and a reload from an empty
//             table to the file; ipvsadm-save lines through `wasmvs -R` (the command, node's
//             start included) into a director started empty. RSS of the director after each.
//   edit      `-e` weight changes at size N (--edits samples, 60 s at most), each timed from the
//             request on the control socket to its reply: the daemon answers once the data-path
//             thread has applied the change to the engine (ControlState.commit awaits the
//             engine adapter, which awaits the thread's acknowledgement).
//   reload    the rules file reloaded unchanged, with one server's weight changed, with 1,000's.
//   list      `wasmvs -L -n` and `-S -n` at size N, timed, while a client sends requests through
//             the director: the longest gap between two answered requests during each listing,
//             against the longest during 2 s without one.
//   flips     keepalived.conf where 1,000 real servers have a FILE_CHECK (delay_loop 1) on one
//             tracked file that flips between 0 and 1 every second: about 1,000 health flips a
//             second; requests answered through the director (to service 0, whose servers never
//             flip) in --flip-seconds seconds without flips and as many with them, the two kinds
//             alternating second by second (errors, longest gap), flips logged, the director's CPU
//             and the machine's busy share in each, and the time until the table shows the last flip.
//   engine    ns per packet in the engine's bench build (as npm run bench) with 1 service and
//             with N: 1,000 established NAT flows, and new connections (SYNs).
// Every loop is bounded in count and time. Results: bench/results/control-latest.json (and a
// dated copy), printed beside the anchors (kube-proxy's IPVS mode, wasmvs before issue 19).

import { ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { loadEngine } from "../host/engine/node.js";
import { Engine, Region } from "../host/engine/index.js";
import { request } from "../host/cli/ipvsadm.js";
import { ROOT, Sandbox, sandboxUnavailable, serverAddress, VIP } from "../host/sandbox/sandbox.js";
import {
  changeable, changedServer, changedWeights, InputOptions, keepalivedConf, realServerAddress, restoreLines, rulesFile, SERVER_PORTS, SERVERS_PER_SERVICE, serviceAddress,
} from "./control-inputs.js";
import type { instantiate as instantiateBench } from "../wasm/bench.js";
import { writeHeader } from "./frames.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const STAGES = ["load", "edit", "reload", "list", "flips", "engine"] as const;
type StageName = typeof STAGES[number];
const USAGE = `usage: npm run bench:control -- [--sizes N,N,...] [--no-size-keywords] [--stages ${STAGES.join(",")}] [--edits N] [--flip-seconds S] [--flipping N]
  --sizes            services (× ${SERVERS_PER_SERVICE} real servers each), default 1000,10000,65536
  --no-size-keywords leave max_services and max_real_servers out of the generated files (a wasmvs
                     without them holds 256 services: sizes up to 256 only)
  --stages           which stages to run (default all)
  --edits            -e samples per size (default 1000; at most 60 s)
  --flip-seconds     seconds of requests without flips and as many with them (default 5)
  --flipping         real servers with a flipping FILE_CHECK (default 1000: ~1,000 flips a second)`;

interface Options { sizes: number[]; sizeKeywords: boolean; stages: Set<StageName>; edits: number; flipSeconds: number; flipping: number }

function options(argv: string[]): Options {
  const o: Options = { sizes: [1000, 10000, 65536], sizeKeywords: true, stages: new Set(STAGES), edits: 1000, flipSeconds: 5, flipping: 1000 };
  const whole = (flag: string, v: string | undefined, min: number, max: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} ${v ?? ""}: expected a whole number from ${min} to ${max}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--sizes") o.sizes = (argv[++i] ?? "").split(",").map((s) => whole("--sizes", s, 2, 1 << 20));
    else if (a === "--no-size-keywords") o.sizeKeywords = false;
    else if (a === "--stages") {
      const want = (argv[++i] ?? "").split(",");
      for (const s of want) if (!(STAGES as readonly string[]).includes(s)) throw new Error(`--stages: unknown stage ${s} (expected ${STAGES.join(", ")})\n${USAGE}`);
      o.stages = new Set(want as StageName[]);
    } else if (a === "--edits") o.edits = whole(a, argv[++i], 1, 1_000_000);
    else if (a === "--flip-seconds") o.flipSeconds = whole(a, argv[++i], 1, 600);
    else if (a === "--flipping") o.flipping = whole(a, argv[++i], 1, 1_000_000);
    else if (a === "--help" || a === "-h") { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
}
const mib = (kb: number) => round(kb / 1024);
/** A process's resident memory (MiB) and CPU time so far (s), from /proc. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? mib(Number(m[1])) : NaN;
}
/** The machine's CPU time so far, busy and in all (s, every core), from /proc/stat. */
function machineCpu(): { busy: number; all: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const all = f.reduce((a, x) => a + x, 0);
  return { busy: (all - f[3] - f[4]) / 100, all: all / 100 }; // idle, iowait
}
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15) in USER_HZ
}

/** A stage's figures, or why it failed. */
type Result = Record<string, unknown>;

/** A wasmvs director of this benchmark: its process, control socket and log. */
interface Running { proc: ChildProcess; pid: number; socket: string; name: string; startMs: number }

class Bench {
  private starts = 0;
  constructor(readonly sb: Sandbox, readonly o: Options) {}

  file(name: string, text: string): string {
    const p = join(this.sb.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /** `wasmvs run` with file, in the director's namespace; resolves once its control socket
   *  answers (the file loaded, the data path running), or throws with the log's end. */
  async start(file: string, limitMs: number): Promise<Running> {
    const name = `director${this.starts++}`;
    const socket = join(this.sb.dir, `${name}.sock`);
    const t0 = now();
    // WASMVS_BENCH_PROFILE=DIR: the director's CPU profile (node --cpu-prof) written to DIR when it stops.
    const prof = process.env.WASMVS_BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-dir", process.env.WASMVS_BENCH_PROFILE] : [];
    // WASMVS_BENCH_NODE_FLAGS="--trace-gc ...": node flags for the director (a diagnosis; with
    // --trace-gc the edit stage counts the collections logged during its edits).
    const flags = (process.env.WASMVS_BENCH_NODE_FLAGS ?? "").split(" ").filter((f) => f);
    const proc = this.sb.spawn(this.sb.director, [process.execPath, ...prof, ...flags, CLI, "run", "--config", file, "--socket", socket, "--table-file", "none"], name);
    while (true) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the director exited: ${this.tail(name)}`);
      if (now() - t0 > limitMs) {
        proc.kill("SIGKILL");
        throw new Error(`the director did not answer within ${limitMs / 1000} s: ${this.tail(name)}`);
      }
      if (existsSync(socket)) {
        try {
          // A request whose answer is as small for every format: "health" lists each checked
          // real server (a keepalived.conf's 100,000 at 10k services, ~12 MB of JSON to make,
          // send and parse), which timed a listing into keepalived.conf's start only.
          if ((await request(socket, { op: "vrrp" })).ok) break;
        } catch { /* not listening yet */ }
      }
      await sleep(20);
    }
    return { proc, pid: proc.pid!, socket, name, startMs: round(now() - t0) };
  }

  async stop(d: Running): Promise<void> {
    if (d.proc.exitCode !== null || d.proc.signalCode !== null) return;
    d.proc.kill("SIGTERM");
    const end = now() + 20000;
    while (d.proc.exitCode === null && d.proc.signalCode === null && now() < end) await sleep(50);
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill("SIGKILL");
  }

  tail(name: string, lines = 3): string {
    return this.sb.logOf(name).trim().split("\n").slice(-lines).join(" | ").slice(0, 600);
  }

  /** One control request; throws with the director's words when refused. */
  async ask(d: Running, req: unknown): Promise<Record<string, unknown>> {
    const r = await request(d.socket, req) as Record<string, unknown>;
    if (!r.ok) throw new Error(String(r.error));
    return r;
  }

  /** The table's services and real servers, as `wasmvs -S -n` saves them (the command line,
   *  whatever the socket's listing protocol becomes), and how long it took. */
  async count(d: Running): Promise<{ services: number; realServers: number; saveMs: number }> {
    const file = join(this.sb.dir, "count.txt");
    const c = await this.cli(d, ["-S", "-n"], { stdoutFile: file, limitMs: 300_000 });
    if (c.status !== 0) throw new Error(`wasmvs -S -n: exit ${c.status}: ${c.stderr}`);
    const text = readFileSync(file, "utf8");
    return { services: (text.match(/^-A /gm) ?? []).length, realServers: (text.match(/^-a /gm) ?? []).length, saveMs: c.ms };
  }

  async expectSize(d: Running, n: number): Promise<void> {
    const c = await this.count(d);
    if (c.services !== n || c.realServers !== n * SERVERS_PER_SERVICE) {
      throw new Error(`the director holds ${c.services} services and ${c.realServers} real servers, not ${n} and ${n * SERVERS_PER_SERVICE}`);
    }
  }

  /** wasmvs's command line against d (from the host's namespace: the socket is a path), timed. */
  async cli(d: Running, args: string[], opts: { input?: string; stdoutFile?: string; limitMs?: number } = {}): Promise<{ ms: number; status: number | null; stderr: string; bytes?: number }> {
    const out = opts.stdoutFile ? openSync(opts.stdoutFile, "w") : "ignore";
    const t0 = now();
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, WASMVS_SOCKET: d.socket }, stdio: [opts.input === undefined ? "ignore" : "pipe", out, "pipe"] });
    if (typeof out === "number") closeSync(out);
    let stderr = "";
    p.stderr!.on("data", (b: Buffer) => { if (stderr.length < 2000) stderr += b; });
    if (opts.input !== undefined) p.stdin!.end(opts.input);
    const limit = setTimeout(() => p.kill("SIGKILL"), opts.limitMs ?? 300_000);
    const status = await new Promise<number | null>((r) => p.once("close", (c) => r(c)));
    clearTimeout(limit);
    const ms = round(now() - t0);
    return { ms, status, stderr: stderr.trim(), bytes: opts.stdoutFile ? statSync(opts.stdoutFile).size : undefined };
  }

  /** Requests from the sandbox's client to VIP:80, each on a new connection, in the background. */
  traffic(tag: string, seconds: number): ChildProcess {
    return this.sb.httpInBackground(`http://${VIP}/`, { requests: 10_000_000, concurrency: 4, times: true, durationMs: seconds * 1000, timeoutMs: 3000 }, tag);
  }

  async trafficResult(p: ChildProcess, tag: string): Promise<{ times: number[]; errors: string[]; answered: number }> {
    p.kill("SIGTERM");
    await this.sb.waitFor(`the client ${tag}`, () => p.exitCode !== null || p.signalCode !== null, 30000);
    const r = JSON.parse(this.sb.logOf(tag).trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[]; times: (number | null)[] };
    const times = r.times.filter((t): t is number => typeof t === "number").sort((a, b) => a - b);
    return { times, errors: r.errors, answered: times.length };
  }

  async firstRequest(): Promise<void> {
    const r = this.sb.http(`http://${VIP}/`, { requests: 3, timeoutMs: 3000 });
    if (r.errors.length) throw new Error(`requests through the director fail: ${r.errors[0]}`);
  }
}

/** The longest time without an answer in [from, to] (ms, wall clock as the client's times). */
function longestGap(times: number[], from: number, to: number): number {
  let last = from;
  let gap = 0;
  for (const t of times) {
    if (t < from) continue;
    if (t > to) break;
    gap = Math.max(gap, t - last);
    last = t;
  }
  return Math.max(gap, to - last);
}
const within = (times: number[], from: number, to: number) => times.filter((t) => t >= from && t <= to).length;

// --- the stages -----------------------------------------------------------------------

async function loadStage(b: Bench, n: number): Promise<Result> {
  const o: InputOptions = { sizeKeywords: b.o.sizeKeywords };
  const out: Result = {};
  const limit = 600_000;
  const formats = [
    { name: "rules", full: () => rulesFile(n, o), empty: () => rulesFile(0, { ...o, capacity: n }) },
    { name: "keepalived", full: () => keepalivedConf(n, o), empty: () => keepalivedConf(0, { ...o, capacity: n }) },
  ];
  for (const f of formats) {
    const r: Result = {};
    out[f.name] = r;
    const fullText = f.full();
    r.fileBytes = fullText.length;
    // Started with the whole file.
    try {
      const full = b.file(`${f.name}-${n}.conf`, fullText);
      const d = await b.start(full, limit);
      try {
        r.startMs = d.startMs;
        await b.expectSize(d, n);
        r.rssMiB = rssMiB(d.pid);
      } finally {
        await b.stop(d);
      }
    } catch (e) {
      r.startError = (e as Error).message;
    }
    // Started empty, then reloaded to the whole file.
    try {
      const path = b.file(`${f.name}-${n}-reload.conf`, f.empty());
      const d = await b.start(path, limit);
      try {
        r.emptyRssMiB = rssMiB(d.pid);
        writeFileSync(path, fullText);
        const t0 = now();
        await b.ask(d, { op: "reload" });
        r.reloadMs = round(now() - t0);
        await b.expectSize(d, n);
        r.reloadedRssMiB = rssMiB(d.pid);
      } finally {
        await b.stop(d);
      }
    } catch (e) {
      r.reloadError = (e as Error).message;
    }
    console.log(`  ${f.name}: ${JSON.stringify(r)}`);
  }
  // ipvsadm -R into a director started empty.
  const r: Result = {};
  out.restore = r;
  try {
    const d = await b.start(b.file(`restore-${n}.rules`, formats[0].empty()), limit);
    try {
      const input = restoreLines(n);
      r.inputBytes = input.length;
      r.commandFloorMs = (await b.cli(d, ["--version"])).ms;
      const c = await b.cli(d, ["-R"], { input, limitMs: limit });
      if (c.status !== 0) throw new Error(`wasmvs -R: exit ${c.status}: ${c.stderr}`);
      r.restoreMs = c.ms;
      await b.expectSize(d, n);
      r.rssMiB = rssMiB(d.pid);
    } finally {
      await b.stop(d);
    }
  } catch (e) {
    r.error = (e as Error).message;
  }
  console.log(`  restore (-R): ${JSON.stringify(r)}`);
  return out;
}

/** A director started with the rules file of n services, for edit, reload and list. */
async function onRulesDirector(b: Bench, n: number, f: (d: Running, path: string) => Promise<Result>): Promise<Result> {
  const o: InputOptions = { sizeKeywords: b.o.sizeKeywords };
  const path = b.file(`rules-${n}-live.conf`, rulesFile(n, o));
  const d = await b.start(path, 600_000);
  try {
    await b.expectSize(d, n);
    return await f(d, path);
  } finally {
    await b.stop(d);
  }
}

async function editStage(b: Bench, d: Running, n: number): Promise<Result> {
  const e = changedServer(changeable(n, 1) - 1);
  const [host, port] = e.server.split(":");
  const lat: number[] = [];
  const at: number[] = [];
  const logBefore = b.sb.logOf(d.name).length;
  const t0 = now();
  for (let k = 0; k < b.o.edits && now() - t0 < 60_000; k++) {
    const argv = ["-e", "-t", e.service, "-r", `${host}:${port}`, "-m", "-w", String(2 + (k & 1))];
    const s = now();
    await b.ask(d, { op: "apply", commands: [{ argv }] });
    lat.push(now() - s);
    at.push(s - t0);
  }
  if (process.env.WASMVS_BENCH_GC_LINES) console.log(`edits over ${round(now() - t0)} ms; slower than 3 ms (ms from the first: ms): ${lat.map((l, k) => [at[k], l]).filter(([, l]) => l > 3).map(([t, l]) => `${round(t)}: ${round(l, 2)}`).join(", ")}`);
  const logged = b.sb.logOf(d.name).slice(logBefore);
  const gc = gcDuring(logged);
  if (process.env.WASMVS_BENCH_GC_LINES) console.log(logged.split("\n").filter((l) => / ms: /.test(l)).join("\n"));
  // The same through the command line, node's start included (a few: each is a process).
  const viaCli: number[] = [];
  for (let k = 0; k < 5; k++) viaCli.push((await b.cli(d, ["-e", "-t", e.service, "-r", e.server, "-m", "-w", String(4 + (k & 1))])).ms);
  return {
    samples: lat.length, p50Ms: round(quantile(lat, 0.5), 2), p99Ms: round(quantile(lat, 0.99), 2), maxMs: round(Math.max(...lat), 2),
    commandLineMedianMs: round(quantile(viaCli, 0.5)), rssMiB: rssMiB(d.pid), ...gc,
  };
}

/** The collections node's --trace-gc logged in text (none without the flag): how many of each
 *  kind and their longest pause (ms), per thread ("[pid:0x...]": main thread or data path). */
function gcDuring(text: string): Result {
  const out: Record<string, { count: number; maxMs: number; totalMs: number }> = {};
  for (const m of text.matchAll(/\[\d+:(0x[0-9a-f]+)\][^\n]*?(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)[^\n]*?, ([\d.]+) \/ ([\d.]+) ms/g)) {
    const k = `${m[2]} ${m[1]}`;
    const e = (out[k] ??= { count: 0, maxMs: 0, totalMs: 0 });
    e.count++;
    e.maxMs = Math.max(e.maxMs, Number(m[3]));
    e.totalMs = round(e.totalMs + Number(m[3]), 2);
  }
  return Object.keys(out).length ? { gcDuringEdits: out } : {};
}

async function reloadStage(b: Bench, d: Running, path: string, n: number): Promise<Result> {
  const o: InputOptions = { sizeKeywords: b.o.sizeKeywords };
  const out: Result = {};
  const cases: [string, number, number][] = [["unchanged", 0, 1], ["oneServer", 1, 2], ["thousandServers", 1000, 3]];
  for (const [name, count, weight] of cases) {
    writeFileSync(path, rulesFile(n, o, count ? changedWeights(n, count, weight) : undefined));
    const t0 = now();
    const r = await b.ask(d, { op: "reload" });
    out[name] = { servers: changeable(n, count), ms: round(now() - t0), changes: (r.changes as string[]).length + ((r.more as number | undefined) ?? 0) };
  }
  out.rssMiB = rssMiB(d.pid);
  return out;
}

async function listStage(b: Bench, d: Running, n: number): Promise<Result> {
  await b.firstRequest();
  const tag = `list-${n}`;
  const client = b.traffic(tag, 600);
  const out: Result = {};
  const windows: { what: string; from: number; to: number }[] = [];
  try {
    await sleep(1500);
    const from = Date.now();
    await sleep(2000);
    windows.push({ what: "none", from, to: Date.now() });
    for (const [what, args] of [["list", ["-L", "-n"]], ["save", ["-S", "-n"]]] as const) {
      const from = Date.now();
      const c = await b.cli(d, [...args], { stdoutFile: join(b.sb.dir, `${what}-${n}.txt`), limitMs: 300_000 });
      windows.push({ what, from, to: Date.now() });
      out[what] = { ms: c.ms, status: c.status, bytes: c.bytes, ...(c.status ? { error: c.stderr } : {}) };
    }
    await sleep(500);
  } finally {
    const t = await b.trafficResult(client, tag);
    out.errors = t.errors.length;
    for (const w of windows) {
      const into = w.what === "none" ? out : out[w.what] as Result;
      const key = w.what === "none" ? "baseline" : "during";
      into[key] = { answered: within(t.times, w.from, w.to), seconds: round((w.to - w.from) / 1000, 2), longestGapMs: longestGap(t.times, w.from, w.to) };
    }
  }
  return out;
}

async function flipStage(b: Bench, n: number): Promise<Result> {
  const o: InputOptions = { sizeKeywords: b.o.sizeKeywords };
  const flipping = changeable(n, b.o.flipping);
  const trackFile = join(b.sb.dir, "flip");
  writeFileSync(trackFile, "0\n");
  const d = await b.start(b.file(`flips-${n}.conf`, keepalivedConf(n, o, { flipping, trackFile })), 600_000);
  const secs = b.o.flipSeconds;
  const out: Result = { flipping };
  try {
    await b.expectSize(d, n);
    await b.firstRequest();
    // The checkers' first reads (1 s, spread) happen before the measured windows.
    await sleep(2500);
    const tag = `flips-${n}`;
    const client = b.traffic(tag, secs * 2 + 60);
    // Quiet and flipping seconds alternate (the file written at the start of each flipping
    // second: every checker reads it once within that second), so that whatever else the
    // 2-core machine runs meanwhile falls on both alike: one quiet stretch, then one with
    // flips, compared a load that came and went with the flips.
    const quiet: { from: number; to: number }[] = [];
    const busy: { from: number; to: number }[] = [];
    const cpu = { quiet: 0, busy: 0 };
    const machine = { quiet: { busy: 0, all: 0 }, busy: { busy: 0, all: 0 } };
    let logFrom = 0;
    let logTo = 0;
    let value = 0;
    try {
      await sleep(1000);
      logFrom = b.sb.logOf(d.name).length;
      for (let k = 0; k < secs * 2; k++) {
        const flipping = k % 2 === 0;
        const c0 = cpuSeconds(d.pid);
        const m0 = machineCpu();
        const from = Date.now();
        if (flipping) {
          value ^= 1;
          writeFileSync(trackFile, `${value}\n`);
        }
        await sleep(1000);
        (flipping ? busy : quiet).push({ from, to: Date.now() });
        cpu[flipping ? "busy" : "quiet"] += cpuSeconds(d.pid) - c0;
        const m1 = machineCpu();
        const into = machine[flipping ? "busy" : "quiet"];
        into.busy += m1.busy - m0.busy;
        into.all += m1.all - m0.all;
      }
      logTo = b.sb.logOf(d.name).length;
    } finally {
      const t = await b.trafficResult(client, tag);
      out.errors = t.errors.length;
      const sum = (ws: { from: number; to: number }[]) => ({
        answered: ws.reduce((a, w) => a + within(t.times, w.from, w.to), 0),
        seconds: round(ws.reduce((a, w) => a + w.to - w.from, 0) / 1000, 2),
        longestGapMs: Math.max(0, ...ws.map((w) => longestGap(t.times, w.from, w.to))),
      });
      out.withoutFlips = sum(quiet);
      out.withFlips = sum(busy);
    }
    const log = b.sb.logOf(d.name).slice(logFrom, logTo);
    const flips = (log.match(/(Adding|Removing|Enabling|Disabling) real server/g) ?? []).length;
    out.flipsLogged = flips;
    out.flipsPerSecond = round(flips / secs);
    out.directorCpuShare = { withoutFlips: round(cpu.quiet / secs, 3), withFlips: round(cpu.busy / secs, 3) };
    // How busy the whole machine was (1: every core): the client, the servers and the director
    // share it with whatever else runs; near 1, requests answered measure the machine, not wasmvs.
    out.machineBusy = { withoutFlips: round(machine.quiet.busy / machine.quiet.all, 2), withFlips: round(machine.busy.busy / machine.busy.all, 2) };
    // Applied: all checked servers down; how long until the table says so (20 s at most).
    writeFileSync(trackFile, "1\n");
    const t0 = now();
    let left = -1;
    while (now() - t0 < 20_000) {
      left = (await b.count(d)).realServers - (n * SERVERS_PER_SERVICE - flipping);
      if (left === 0) break;
      await sleep(100);
    }
    out.allDownInTableMs = left === 0 ? round(now() - t0) : `not within 20 s (${left} still in)`;
    out.rssMiB = rssMiB(d.pid);
  } finally {
    await b.stop(d);
  }
  return out;
}

// --- the engine's per-packet cost at 1 and N services ----------------------------------

type BenchExports = Awaited<ReturnType<typeof instantiateBench>>;
const BATCH = 256;
const HDR = 54;
const STRIDE = 64;
const GW_MAC = [2, 0, 0, 0, 0, 0xfe];
const ENGINE_OUT_MAC = [2, 0, 0, 0, 0, 1];

/** An Ethernet/IPv4/TCP header (54 bytes, valid IPv4 checksum) at m[at], of a 64-byte frame. */
function tcpFrame(m: Uint8Array, at: number, src: number[], dst: number[], sport: number, dport: number, flags: number): void {
  writeHeader(m, at, ENGINE_OUT_MAC, GW_MAC, src, dst, sport, dport, flags, 64);
}

/** An engine (bench build) with n services × 10 real servers; service 0 is VIP:80. */
async function engineWith(n: number, flows: number): Promise<{ e: Engine; x: BenchExports; mem: Uint8Array; templates: number; payload: number }> {
  const sizes = { maxServices: Math.max(n, 1), maxRealServers: Math.max(n, 1) * SERVERS_PER_SERVICE };
  let e: Engine;
  try {
    e = await loadEngine({ batch: BATCH, connCapacity: 1 << 17, ...sizes, reserveBytes: 2 * flows * STRIDE + 8192 }, "bench");
  } catch (err) {
    throw new Error(`the engine refused tables of ${sizes.maxServices} services and ${sizes.maxRealServers} real servers: ${(err as Error).message}`);
  }
  e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.0.0.1/24" });
  e.setInterface({ index: 1, mac: "02:00:00:00:01:01", address: "10.1.0.1/24" });
  e.addRoute("0.0.0.0/0", "10.0.0.254", 0);
  e.setNeighbour("10.0.0.254", "02:00:00:00:00:fe", 0);
  for (let k = 0; k < 3; k++) e.setNeighbour(serverAddress(k), `02:aa:00:00:00:1${k + 1}`, 1);
  for (let i = 0; i < n; i++) {
    const [address, port] = serviceAddress(i).split(":");
    const svc = e.addService({ protocol: "tcp", address, port: Number(port), scheduler: "rr" });
    for (let k = 0; k < SERVERS_PER_SERVICE; k++) {
      const [ra, rp] = realServerAddress(k).split(":");
      e.addRealServer(svc, { address: ra, port: Number(rp), method: "nat", weight: 1 });
    }
  }
  const reserved = e.regionOffset(Region.RESERVED);
  return { e, x: e.exports as unknown as BenchExports, mem: new Uint8Array(e.memory.buffer), payload: reserved, templates: reserved + 4096 };
}

/** One engine's two measured loads: a pass of SYNs from new clients (the table emptied
 *  first: every SYN opens a connection) and a pass of ACKs on 1,024 established flows. */
async function packetLoads(n: number): Promise<{ syns: () => void; acks: () => void; synBatches: number; ackBatches: number; check: () => void }> {
  const flows = BATCH * 64;
  const live = 1024;
  const vip = VIP.split(".").map(Number);
  const client = (i: number) => [100 + (i >> 16), (i >> 8) & 255, i & 255, 1];
  const { e, x, mem, templates, payload } = await engineWith(n, flows);
  const synAt = templates;
  const ackAt = templates + flows * STRIDE;
  for (let i = 0; i < flows; i++) tcpFrame(mem, synAt + i * STRIDE, client(i), vip, 1024 + (i % 60000), 80, 0x02);
  let failures = 0;
  let next = 0;
  const syns = () => {
    e.exports.flushConnections();
    for (let k = 0; k < flows / BATCH; k++) {
      next = x.benchRefill(synAt, STRIDE, HDR, next, flows, BATCH, 64, payload, 0);
      if (e.process(BATCH, 1000) !== BATCH) failures++;
    }
  };
  // The established flows: the first `live` clients' SYNs, then their ACKs.
  e.exports.flushConnections();
  for (let i = 0; i < live; i++) tcpFrame(mem, ackAt + i * STRIDE, client(i), vip, 1024 + (i % 60000), 80, 0x10);
  let nextAck = 0;
  const acks = () => {
    for (let k = 0; k < 64; k++) {
      nextAck = x.benchRefill(ackAt, STRIDE, HDR, nextAck, live, BATCH, 64, payload, 0);
      if (e.process(BATCH, 1000) !== BATCH) failures++;
    }
  };
  const open = () => {
    e.exports.flushConnections();
    next = 0;
    for (let k = 0; k < live / BATCH; k++) {
      next = x.benchRefill(synAt, STRIDE, HDR, next, live, BATCH, 64, payload, 0);
      e.process(BATCH, 1000);
    }
    next = 0;
  };
  return {
    syns: () => { syns(); open(); }, acks, synBatches: flows / BATCH, ackBatches: 64,
    check: () => {
      if (failures) throw new Error(`${failures} batches not wholly forwarded at ${n} services (${JSON.stringify(e.drops())})`);
      if (e.connectionCount !== live) throw new Error(`${e.connectionCount} connections at ${n} services, not ${live}`);
    },
  };
}

/** ns per packet with 1 service and with n, the two engines measured in turn (41 runs of
 *  each load, interleaved, so that a noisy neighbour hits both alike); medians, and the
 *  spread between the quartiles. The SYN figure includes emptying the table once a pass
 *  (16,384 SYNs) and re-opening the 1,024 established flows. */
async function enginePerPacket(n: number): Promise<Result> {
  const engines = [await packetLoads(1), await packetLoads(n)];
  const samples = engines.map(() => ({ syn: [] as number[], ack: [] as number[] }));
  const time = (f: () => void, packets: number) => {
    const t0 = process.hrtime.bigint();
    f();
    return Number(process.hrtime.bigint() - t0) / packets;
  };
  for (const g of engines) { g.syns(); g.acks(); } // warm
  for (let r = 0; r < 41; r++) {
    engines.forEach((g, k) => {
      samples[k].syn.push(time(g.syns, g.synBatches * BATCH));
      samples[k].ack.push(time(g.acks, g.ackBatches * BATCH));
    });
  }
  engines.forEach((g) => g.check());
  // The minimum beside the median: on shared cores a run is only ever slowed by its neighbours.
  const fig = (xs: number[]) => ({ min: round(Math.min(...xs)), median: round(quantile(xs, 0.5)), q1: round(quantile(xs, 0.25)), q3: round(quantile(xs, 0.75)) });
  return {
    established: { one: fig(samples[0].ack), many: fig(samples[1].ack) },
    newConnection: { one: fig(samples[0].syn), many: fig(samples[1].syn) },
  };
}

// --- the run -----------------------------------------------------------------------------

const ANCHORS = [
  "kube-proxy, IPVS mode (kubernetes issues #133773, #73382, #84906, #55975, #53736, #57698): 2,000-4,000 services take 10-20 s per rule update; the first sync 20 minutes; 30,000 external IPs hours",
  "wasmvs before issue 19: 256 services and 4,096 real servers at most (1,000 × 10 refused at its 257th service; wasmvs check 6.2 s to list the 695 errors); 256 × 16 loaded in 0.95 s",
  "goals (issue 19): load 10k × 10 < 1 s, 64k × 10 < 10 s; -e at 10k p99 < 5 ms; reload changing one server of 10k < 100 ms; 1,000 flips/s with forwarding unaffected; ns/packet at 1 and 10k services equal within noise",
];

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs control-plane benchmark on ${machine}: ${o.sizes.join(", ")} services × ${SERVERS_PER_SERVICE} real servers; stages ${[...o.stages].join(", ")}` +
    `${o.sizeKeywords ? "" : " (no size settings in the files)"}\n`);
  const report: Record<string, unknown> = { date: new Date().toISOString(), machine, options: { ...o, stages: [...o.stages] }, anchors: ANCHORS, sizes: {} as Record<number, Result> };
  const sizes = report.sizes as Record<number, Result>;
  const needsSandbox = [...o.stages].some((s) => s !== "engine");
  const why = needsSandbox ? sandboxUnavailable() : undefined;
  if (why) throw new Error(`the control benchmark ${why}`);
  const sb = needsSandbox ? await Sandbox.create({ mode: "nat", httpPorts: SERVER_PORTS }) : undefined;
  const onSignal = () => { void (sb?.destroy() ?? Promise.resolve()).then(() => process.exit(130)); };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    if (sb) await sb.startServers();
    const b = sb && new Bench(sb, o);
    for (const n of o.sizes) {
      // The two cores are shared: the load average beside each size's figures, as bench:e2e gives it.
      const r: Result = { loadAverageBefore: loadavg().map((x) => round(x, 2)) };
      sizes[n] = r;
      console.log(`${n} services × ${SERVERS_PER_SERVICE} real servers`);
      const run = async (name: string, f: () => Promise<Result>) => {
        const t0 = now();
        try {
          r[name] = await f();
          if (name !== "load") console.log(`  ${name}: ${JSON.stringify(r[name])}`);
        } catch (e) {
          r[name] = { error: (e as Error).message };
          console.log(`  ${name}: FAILED: ${(e as Error).message}`);
        }
        console.log(`    (${name}: ${round((now() - t0) / 1000)} s)`);
      };
      if (b && o.stages.has("load")) await run("load", () => loadStage(b, n));
      if (b && (o.stages.has("edit") || o.stages.has("reload") || o.stages.has("list"))) {
        await run("live", () => onRulesDirector(b, n, async (d, path) => {
          const live: Result = {};
          for (const [name, f] of [["edit", () => editStage(b, d, n)], ["reload", () => reloadStage(b, d, path, n)], ["list", () => listStage(b, d, n)]] as const) {
            if (!o.stages.has(name)) continue;
            try {
              live[name] = await f();
            } catch (e) {
              live[name] = { error: (e as Error).message };
            }
          }
          return live;
        }));
      }
      if (b && o.stages.has("flips")) await run("flips", () => flipStage(b, n));
      if (o.stages.has("engine")) await run("engine", () => enginePerPacket(n));
      r.loadAverageAfter = loadavg().map((x) => round(x, 2));
    }
  } finally {
    await sb?.destroy();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  printSummary(o, sizes);
  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `control-${String(report.date).replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  writeFileSync(join(folder, "control-latest.json"), JSON.stringify(report, null, 2));
  console.log(`\nsaved ${file} and bench/results/control-latest.json`);
}

/** The figures against the goals, the anchors beside them. */
function printSummary(o: Options, sizes: Record<number, Result>): void {
  const get = (x: unknown, ...path: string[]): unknown => path.reduce((v: unknown, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined), x);
  const show = (v: unknown, unit = "") => (typeof v === "number" ? `${v}${unit}` : v === undefined ? "-" : "failed");
  console.log(`\nSummary (${SERVERS_PER_SERVICE} real servers per service; ms unless said)`);
  const rows: [string, (r: Result) => string][] = [
    ["rules file: start / reload from empty", (r) => `${show(get(r, "load", "rules", "startMs"))} / ${show(get(r, "load", "rules", "reloadMs"))}`],
    ["keepalived.conf: start / reload from empty", (r) => `${show(get(r, "load", "keepalived", "startMs"))} / ${show(get(r, "load", "keepalived", "reloadMs"))}`],
    ["wasmvs -R (node's start included)", (r) => `${show(get(r, "load", "restore", "restoreMs"))} (command floor ${show(get(r, "load", "restore", "commandFloorMs"))})`],
    ["RSS MiB (rules / keepalived / -R)", (r) => `${show(get(r, "load", "rules", "rssMiB"))} / ${show(get(r, "load", "keepalived", "rssMiB"))} / ${show(get(r, "load", "restore", "rssMiB"))}`],
    ["-e, request to engine p50 / p99 / max", (r) => `${show(get(r, "live", "edit", "p50Ms"))} / ${show(get(r, "live", "edit", "p99Ms"))} / ${show(get(r, "live", "edit", "maxMs"))}`],
    ["reload: unchanged / 1 server / 1,000 servers", (r) => `${show(get(r, "live", "reload", "unchanged", "ms"))} / ${show(get(r, "live", "reload", "oneServer", "ms"))} / ${show(get(r, "live", "reload", "thousandServers", "ms"))}`],
    ["-L -n / -S -n: time; longest gap (none: baseline)", (r) => `${show(get(r, "live", "list", "list", "ms"))} / ${show(get(r, "live", "list", "save", "ms"))}; gap ${show(get(r, "live", "list", "list", "during", "longestGapMs"))} / ${show(get(r, "live", "list", "save", "during", "longestGapMs"))} (none ${show(get(r, "live", "list", "baseline", "longestGapMs"))})`],
    ["flips/s; answered without / with; gap without / with", (r) => `${show(get(r, "flips", "flipsPerSecond"))}; ${show(get(r, "flips", "withoutFlips", "answered"))} / ${show(get(r, "flips", "withFlips", "answered"))}; ${show(get(r, "flips", "withoutFlips", "longestGapMs"))} / ${show(get(r, "flips", "withFlips", "longestGapMs"))}`],
    ["engine ns/packet, 1 vs N services: established; SYN (median, min)", (r) => ["established", "newConnection"].map((k) => `${show(get(r, "engine", k, "one", "median"))} (min ${show(get(r, "engine", k, "one", "min"))}) vs ${show(get(r, "engine", k, "many", "median"))} (min ${show(get(r, "engine", k, "many", "min"))})`).join("; ")],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  console.log(`${"".padEnd(w)}  ${o.sizes.map((n) => `${n} services`).join(" | ")}`);
  for (const [label, f] of rows) console.log(`${label.padEnd(w)}  ${o.sizes.map((n) => f(sizes[n] ?? {})).join(" | ")}`);
  const failures = o.sizes.flatMap((n) => failuresOf(sizes[n] ?? {}).map((s) => `  ${n}: ${s}`));
  if (failures.length) console.log(`\nFailed:\n${failures.join("\n")}`);
  console.log(`\nAnchors:\n${ANCHORS.map((a) => `  ${a}`).join("\n")}`);
}

function failuresOf(r: unknown, path: string[] = []): string[] {
  if (!r || typeof r !== "object") return [];
  return Object.entries(r as Record<string, unknown>).flatMap(([k, v]) =>
    /error$/i.test(k) && typeof v === "string" ? [`${[...path, k].join(".")}: ${v.slice(0, 300)}`] : failuresOf(v, [...path, k]));
}

main().catch((e) => {
  console.error(`bench:control: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
