// npm run bench:health: health checking at scale and its detection latency, on real sockets
// between two network namespaces the benchmark creates and removes (checker "c", servers
// "s", joined by a veth pair):
//   1. 2,000 TCP_CHECKs at delay_loop 1 s for WASMVS_HEALTH_SECONDS (20): the checker's CPU
//      (share of one core) and how late each check started against its schedule (drift).
//   2. Detection latency of TCP_CHECK — from the moment a server fails to the moment it is
//      taken out — for a server that refuses (its process killed) and one that hangs (its
//      link down: every packet lost), at 0.2 s (delay_loop, connect_timeout and
//      delay_before_retry 0.2, retry 1) and at keepalived's defaults (60, 5, 1, 1).
//      The defaults take up to ~71 s by design; WASMVS_HEALTH_QUICK=1 skips them.
// Prints the machine it ran on; results also go to bench/results/health-latest.json.

import { ipToWire } from "../host/engine/addr.js";
import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HealthService } from "../host/health/service.js";
import type { Clock, Timer } from "../host/io/clock.js";
import { systemClock } from "../host/io/clock.js";
import type { DirectorConfig, RealServerConfig } from "../host/config/rules.js";
import type { TcpChecker } from "../host/config/health.js";
import { ROOT } from "../host/sandbox/sandbox.js";
import { levelOf } from "../host/io/log.js";

const SECONDS = Number(process.env.WASMVS_HEALTH_SECONDS ?? 20);
const QUICK = process.env.WASMVS_HEALTH_QUICK === "1";
const CHECKS = 2000;
const PREFIX = `wvhb${process.pid % 10000}`;
const NS_C = `${PREFIX}c`;
const NS_S = process.env.WASMVS_HEALTH_NS_S ?? `${PREFIX}s`;
const C_ADDR = "10.99.0.1";
const S_ADDR = "10.99.0.2";
const BASE_PORT = 20000;

const sh = (argv: string[]) => {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr || r.error}`);
  return r.stdout;
};

/** A TCP server listening on ports [from, from+n) in namespace s; "ready" on stdout. */
function startServers(from: number, n: number): ChildProcess {
  const code = `const net=require("net");let k=0;for(let p=${from};p<${from + n};p++)net.createServer(s=>{s.on("error",()=>{});s.end()}).listen(p,"${S_ADDR}",()=>{if(++k===${n})console.log("ready")});`;
  const p = spawn("ip", ["netns", "exec", NS_S, process.execPath, "-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  return p;
}

const ready = (p: ChildProcess) => new Promise<void>((resolve, reject) => {
  p.stdout!.on("data", (d: Buffer) => { if (d.toString().includes("ready")) resolve(); });
  p.once("exit", (c) => reject(new Error(`server exited ${c}`)));
});

/** A clock that records how late each one-shot timer fired. */
function recordingClock(late: number[]): Clock {
  return {
    now: () => systemClock.now(),
    every: (ms, f) => systemClock.every(ms, f),
    after(ms: number, f: () => void): Timer {
      const due = performance.now() + ms;
      return systemClock.after(ms, () => { late.push(performance.now() - due); f(); });
    },
  };
}

function config(n: number, firstPort: number, t: { loop: number; timeout: number; dbr: number; retry: number; warmup: number }): DirectorConfig {
  const realServers: RealServerConfig[] = [];
  for (let k = 0; k < n; k++) {
    const checker: TcpChecker = {
      kind: "TCP_CHECK", where: { file: "bench", line: 1, column: 1 }, connectIp: S_ADDR, connectPort: firstPort + k, connectTimeoutMs: t.timeout,
      retry: t.retry, delayBeforeRetryMs: t.dbr, delayLoopMs: t.loop, warmupMs: t.warmup, alpha: false, logAllFailures: false,
    };
    realServers.push({ address: S_ADDR, daddr: ipToWire(S_ADDR), port: firstPort + k, method: "nat", weight: 1, line: 1, health: { checkers: [checker], inhibit: false, smtpAlert: false } });
  }
  return {
    file: "bench", interfaces: [], routes: [], neighbours: [],
    services: [{ protocol: "tcp", address: "10.0.0.100", vaddr: ipToWire("10.0.0.100"), port: 80, scheduler: "rr", line: 1, realServers,
      health: { quorum: 1, hysteresis: 0, omega: false, smtpAlert: false, where: { file: "bench", line: 1, column: 1 } } }],
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

async function scale(): Promise<Record<string, number>> {
  const srv = startServers(BASE_PORT, CHECKS);
  await ready(srv);
  const late: number[] = [];
  const hc = new HealthService({ clock: recordingClock(late), log: () => {}, refresh: async () => {} });
  hc.reconcile(config(CHECKS, BASE_PORT, { loop: 1000, timeout: 1000, dbr: 1000, retry: 1, warmup: 1000 }));
  // Past the warmup (first checks spread over 1-2 s), measure a steady state.
  await new Promise((r) => setTimeout(r, 2500));
  late.length = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const checks0 = hc.counts.checks;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const checks = hc.counts.checks - checks0;
  const failures = hc.counts.failures;
  await hc.stop();
  srv.kill();
  return {
    checks, checksPerSecond: Math.round((checks / wall) * 1000), failures, cpuPercentOfCore: Math.round(((cpu.user + cpu.system) / 1000 / wall) * 1000) / 10,
    driftP50Ms: Math.round(pct(late, 0.5) * 10) / 10, driftP99Ms: Math.round(pct(late, 0.99) * 10) / 10, driftMaxMs: Math.round(Math.max(...late) * 10) / 10,
  };
}

/** n servers on their own ports fail together (refuse: killed; hang: link down); how long
 *  until each is out, from the failure. */
async function detection(how: "refuse" | "hang", t: { loop: number; timeout: number; dbr: number; retry: number }, n: number, port: number): Promise<Record<string, number>> {
  const srv = startServers(port, n);
  await ready(srv);
  const downAt: number[] = [];
  let failedAt = 0;
  const hc = new HealthService({
    clock: systemClock, random: Math.random,
    log: (l) => { if (levelOf(l).text.startsWith("Removing real server")) downAt.push(performance.now() - failedAt); },
    refresh: async () => {},
  });
  hc.reconcile(config(n, port, { ...t, warmup: t.loop }));
  // Every checker has run at least once and found its server up.
  const start = performance.now();
  while (hc.counts.checks < n && performance.now() - start < t.loop * 3 + 5000) await new Promise((r) => setTimeout(r, 20));
  failedAt = performance.now();
  if (how === "refuse") srv.kill("SIGKILL");
  else sh(["ip", "-n", NS_S, "link", "set", "s0", "down"]);
  const limit = t.loop + (t.retry + 1) * t.timeout + t.retry * t.dbr + 5000;
  while (downAt.length < n && performance.now() - failedAt < limit) await new Promise((r) => setTimeout(r, 10));
  await hc.stop();
  srv.kill("SIGKILL");
  if (how === "hang") sh(["ip", "-n", NS_S, "link", "set", "s0", "up"]);
  const bound = t.loop + (t.retry + 1) * t.timeout + t.retry * t.dbr;
  return { servers: n, detected: downAt.length, p50Ms: Math.round(pct(downAt, 0.5)), maxMs: Math.round(Math.max(...downAt)), boundMs: bound };
}

async function inner(): Promise<void> {
  const results: Record<string, unknown> = {};
  results.scale = await scale();
  console.log(`2,000 TCP_CHECKs at 1 s for ${SECONDS} s: ${JSON.stringify(results.scale)}`);
  const fast = { loop: 200, timeout: 200, dbr: 200, retry: 1 };
  for (const how of ["refuse", "hang"] as const) {
    results[`fast-${how}`] = await detection(how, fast, 20, 30000);
    console.log(`TCP_CHECK at 0.2 s, server ${how === "refuse" ? "refusing (killed)" : "hanging (link down)"}: ${JSON.stringify(results[`fast-${how}`])}`);
  }
  if (!QUICK) {
    const defaults = { loop: 60000, timeout: 5000, dbr: 1000, retry: 1 };
    for (const how of ["refuse", "hang"] as const) {
      results[`defaults-${how}`] = await detection(how, defaults, 20, 31000);
      console.log(`TCP_CHECK at keepalived's defaults, server ${how === "refuse" ? "refusing" : "hanging"}: ${JSON.stringify(results[`defaults-${how}`])}`);
    }
  }
  process.stdout.write(`RESULTS ${JSON.stringify(results)}\n`);
}

async function outer(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces)");
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs health-check benchmark on ${machine}\n`);
  try {
    sh(["ip", "netns", "add", NS_C]);
    sh(["ip", "netns", "add", NS_S]);
    sh(["ip", "-n", NS_C, "link", "add", "c0", "type", "veth", "peer", "name", "s0", "netns", NS_S]);
    sh(["ip", "-n", NS_C, "addr", "add", `${C_ADDR}/24`, "dev", "c0"]);
    sh(["ip", "-n", NS_S, "addr", "add", `${S_ADDR}/24`, "dev", "s0"]);
    for (const [ns, dev] of [[NS_C, "c0"], [NS_S, "s0"]]) {
      sh(["ip", "-n", ns, "link", "set", dev, "up"]);
      sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    const me = fileURLToPath(import.meta.url);
    const r = spawnSync("ip", ["netns", "exec", NS_C, process.execPath, me, "--inner"], {
      encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: (SECONDS + 400) * 1000, env: { ...process.env, WASMVS_HEALTH_NS_S: NS_S },
    });
    const out = r.stdout ?? "";
    process.stdout.write(out.split("\n").filter((l) => !l.startsWith("RESULTS ")).join("\n"));
    const line = out.split("\n").find((l) => l.startsWith("RESULTS "));
    if (!line) throw new Error(`the benchmark did not finish (${r.status ?? r.signal})`);
    const dir = join(ROOT, "bench", "results");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "health-latest.json"), JSON.stringify({ date: new Date().toISOString(), machine, seconds: SECONDS, results: JSON.parse(line.slice(8)) }, null, 1) + "\n");
  } finally {
    spawnSync("ip", ["netns", "del", NS_C]);
    spawnSync("ip", ["netns", "del", NS_S]);
  }
}

if (process.argv.includes("--inner")) {
  inner().then(() => process.exit(0), (e) => { console.error(`benchmark: ${(e as Error).message}`); process.exit(1); });
} else {
  outer().catch((e) => { console.error(`benchmark: ${(e as Error).message}`); process.exit(1); });
}
