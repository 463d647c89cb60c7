// npm run soak [-- --minutes N]: an hour (by default) of a director pair under mixed traffic and
// every disturbance it meets in service, in network namespaces this script creates and removes
// (host/sandbox): NAT to three real servers, two wasmvs directors with VRRP v3 at 0.1 s (a sync
// group moving the VIP and the servers' gateway together) and connection sync, TCP_CHECK health
// checks. Traffic, all bounded in rate: 8 keep-alive HTTP connections (a request each 100 ms),
// short HTTP connections (2 at a time, one each 100 ms), UDP (20 datagrams each 5 s, each from
// its own port), ping (2 a second). Disturbances, bounded in count: a reload with a changed
// weight every minute, a health flap (server 3 stopped until TCP_CHECK removes it, then started
// until it is added back) every two minutes, and every ten minutes (once in a shorter run) a
// failover: the master killed with SIGKILL, started again, taking the VIP back once it has the
// table. Director b is never killed: its samples span the whole run; a's span each of its lives.
//
// Sampled every 5 s from each director: RSS and open descriptors (/proc/PID), the control
// timer's lateness and every engine counter (its status file). The report: first-quarter vs
// last-quarter means of RSS and descriptors (after the first minute's warm-up) — flat lines —,
// every sample's counters adding up (rx_frames = drops + forwarded + consumed + queued), the
// requests that failed. Writes bench/results/soak.json; exits 1 on a leak, counters that do
// not add up, a director that died unasked, or traffic that stopped.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { Director, DIRECTOR_IN, pairDirectorBlock, ROOT, Sandbox, sandboxUnavailable, serverAddress, VIP } from "../host/sandbox/sandbox.js";

const USAGE = "usage: npm run soak -- [--minutes N (1-1440, default 60)]";
const SAMPLE_MS = 5000;
const CHUNK_S = 60;
/** Leak thresholds: last-quarter mean over first-quarter mean. */
const RSS_LEAK_MB = 24;
const RSS_LEAK_SHARE = 0.2;
const FD_LEAK = 4;

function parseMinutes(argv: string[]): number {
  let minutes = 60;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--minutes") {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1440) throw new Error(`--minutes: a whole number of minutes from 1 to 1440 expected, got "${v ?? ""}"`);
      minutes = Number(v);
    } else if (argv[i] === "--help" || argv[i] === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument "${argv[i]}"`);
  }
  return minutes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function config(who: "a" | "b", weight1: number): string {
  const check = "TCP_CHECK { connect_port 8080\n      connect_timeout 1\n      retry 1\n      delay_before_retry 0.5 }";
  const servers = (port: number) => [0, 1, 2].map((k) => `  real_server ${serverAddress(k)} ${port} {\n    weight ${k === 0 ? weight1 : 1}\n    ${check}\n  }`).join("\n");
  return `global_defs {
  lvs_sync_daemon outside VI_OUT id 5
}
${pairDirectorBlock(`k${who}`, who === "a" ? "2a" : "2b", who === "a" ? 5 : 6)}vrrp_sync_group G {
  group {
    VI_OUT
    VI_IN
  }
}
vrrp_instance VI_OUT {
  interface outside
  virtual_router_id 81
  priority ${who === "a" ? 150 : 100}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
  }
}
vrrp_instance VI_IN {
  interface inside
  virtual_router_id 82
  priority ${who === "a" ? 150 : 100}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${DIRECTOR_IN}
  }
}
virtual_server ${VIP} 80 {
  lb_algo wlc
  lb_kind NAT
  delay_loop 1
${servers(8080)}
}
virtual_server ${VIP} 53 {
  protocol UDP
  lb_algo rr
  lb_kind NAT
  delay_loop 1
${servers(53)}
}
`;
}

interface Sample {
  t: number;
  rssMB: number;
  fds: number;
  timer?: { periodMs: number; lastMs: number; maxMs: number; p99Ms: number };
  connections: number;
  counters: Record<string, number>;
  addsUp: boolean;
}

interface Life {
  name: string;
  who: "a" | "b";
  pid: number;
  d: Director;
  samples: Sample[];
  /** Ended by the soak (kill -9 or the final stop), not by itself. */
  endedOnPurpose: boolean;
}

/** rx_frames = sum(drop_*) + forwarded + consumed + queued: every frame in exactly one outcome. */
function addsUp(c: Record<string, number>): boolean {
  let n = (c.forwarded ?? 0) + (c.consumed ?? 0) + (c.queued ?? 0);
  for (const [k, v] of Object.entries(c)) if (k.startsWith("drop_")) n += v;
  return n === c.rx_frames;
}

function sample(life: Life, t0: number): void {
  let rssKB = 0;
  let fds = 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${life.pid}/status`, "utf8"));
    rssKB = m ? Number(m[1]) : 0;
    fds = readdirSync(`/proc/${life.pid}/fd`).length;
  } catch {
    return; // it has just gone: the next look at it says why
  }
  let st: ReturnType<Director["status"]>;
  try {
    st = life.d.status();
  } catch {
    return; // the file is being replaced
  }
  life.samples.push({ t: (Date.now() - t0) / 1000, rssMB: rssKB / 1024, fds, timer: st.control?.timer, connections: st.connections, counters: st.counters, addsUp: addsUp(st.counters) });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** First vs last quarter of the samples after the first minute (start-up and JIT warm-up). */
function trend(s: Sample[], key: "rssMB" | "fds"): { first: number; last: number; n: number } | undefined {
  const warm = s.filter((x) => x.t - s[0].t >= 60);
  if (warm.length < 8) return undefined;
  const q = Math.floor(warm.length / 4);
  return { first: mean(warm.slice(0, q).map((x) => x[key])), last: mean(warm.slice(-q).map((x) => x[key])), n: warm.length };
}

/** Run a command to its end without blocking the event loop (the samples go on meanwhile). */
function exec(argv: string[], env: Record<string, string> = {}, timeoutMs = 30000): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.stderr.on("data", (d) => { out += d; });
    const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (status) => { clearTimeout(t); resolve({ status, out }); });
  });
}

interface Tally { ok: number; failed: number; errors: string[] }
const tally = (): Tally => ({ ok: 0, failed: 0, errors: [] });

async function main(): Promise<number> {
  const minutes = parseMinutes(process.argv.slice(2));
  const why = sandboxUnavailable();
  if (why) throw new Error(`the soak ${why}`);
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs soak, ${minutes} min on ${machine}`);
  const durationMs = minutes * 60_000;
  const sb = await Sandbox.create({ mode: "nat", httpPorts: [8080], udpPorts: [53], backend: "tap" });
  const stopAll = () => { void sb.destroy().then(() => process.exit(130)); };
  process.once("SIGINT", stopAll);
  process.once("SIGTERM", stopAll);
  const lives: Life[] = [];
  const problems: string[] = [];
  const events: string[] = [];
  const traffic = { keepalive: tally(), short: tally(), udp: tally(), ping: tally() };
  const counts = { reloads: 0, reloadsRefused: 0, flaps: 0, failovers: 0 };
  const takeovers: number[] = [];
  const flapOutS: number[] = [];
  const flapBackS: number[] = [];
  let weight1 = 1;
  let lifeNo = 0;
  const t0 = Date.now();
  const elapsed = () => Date.now() - t0;
  const log = (line: string) => { const s = `[${(elapsed() / 1000).toFixed(0).padStart(5)} s] ${line}`; events.push(s); console.log(s); };

  const start = async (who: "a" | "b"): Promise<Life> => {
    const name = `soak-${who}${lifeNo++}`;
    const d = await sb.startDirector(config(who, weight1), join(sb.dir, `${name}.sock`), name);
    const life: Life = { name, who, pid: d.proc.pid!, d, samples: [], endedOnPurpose: false };
    lives.push(life);
    return life;
  };
  const masters = (name: string) => (sb.logOf(name).match(/: MASTER/g) ?? []).length;
  const alive = (l: Life) => l.d.proc.exitCode === null && l.d.proc.signalCode === null;

  let stopping = false;
  const pending: Promise<void>[] = [];
  try {
    sb.addCheckSource();
    await sb.startServers();
    let a = await start("a");
    await sb.waitFor("a master of both instances", () => masters(a.name) >= 2, 10000);
    const b = await start("b");
    await sb.waitFor("b receiving sync", () => /connection sync on outside: receiving/.test(sb.logOf(b.name)), 10000);
    log(`directors up: ${a.name} (pid ${a.pid}) master, ${b.name} (pid ${b.pid}) backup`);

    // Traffic, in chunks of a minute so that results arrive as the run goes.
    let chunk = 0;
    const background = (kind: keyof typeof traffic, argv: (name: string) => ChildArgs, parse: (out: string, t: Tally, when: string) => void, everyMs: number) => {
      const loop = async () => {
        while (!stopping && elapsed() < durationMs) {
          const name = `${kind}-${chunk++}`;
          const from = elapsed() / 1000;
          const p = argv(name);
          const proc = p.http ? sb.httpInBackground(`http://${VIP}/`, p.http, name) : sb.spawn(sb.client, p.argv!, name);
          await new Promise<void>((r) => proc.once("exit", () => r()));
          try {
            parse(sb.logOf(name), traffic[kind], `${from.toFixed(0)}-${(elapsed() / 1000).toFixed(0)} s`);
          } catch {
            traffic[kind].failed++;
            traffic[kind].errors.push(`${name}: no result (${sb.logOf(name).slice(-200).trim()})`);
          }
          if (everyMs) await sleep(everyMs);
        }
      };
      pending.push(loop());
    };
    type ChildArgs = { http?: Parameters<Sandbox["httpInBackground"]>[1]; argv?: string[] };
    const httpResult = (out: string, t: Tally, when: string) => {
      const r = JSON.parse(out.trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
      t.ok += r.bodies.filter((x) => x).length;
      t.failed += r.errors.length;
      // The requests of a chunk that failed (the first five), with the chunk's time span.
      t.errors.push(...r.errors.slice(0, 5).map((e) => `${when}: ${e}`));
    };
    const chunkMs = () => Math.max(1000, Math.min(CHUNK_S * 1000, durationMs - elapsed()));
    background("keepalive", () => ({ http: { requests: 8 * CHUNK_S * 10, concurrency: 8, keepalive: true, intervalMs: 100, timeoutMs: 3000, durationMs: chunkMs() } }), httpResult, 0);
    background("short", () => ({ http: { requests: CHUNK_S * 10, concurrency: 2, intervalMs: 200, timeoutMs: 3000, durationMs: chunkMs() } }), httpResult, 0);
    background("udp", () => ({ argv: [process.execPath, join(ROOT, "host", "sandbox", "tools", "client.mjs"), "udp", VIP, "53", "--count", "20", "--timeout", "2000"] }), (out, t) => {
      const r = JSON.parse(out.trim().split("\n").pop()!) as { replies: (string | null)[]; errors: string[] };
      t.ok += r.replies.filter((x) => x).length;
      t.failed += r.errors.length;
    }, 5000);
    background("ping", () => ({ argv: ["ping", "-n", "-q", "-c", "20", "-i", "0.5", "-W", "2", VIP] }), (out, t) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      if (!m) throw new Error("no ping summary");
      t.ok += Number(m[2]);
      t.failed += Number(m[1]) - Number(m[2]);
    }, 0);

    // Samples every 5 s from every director alive.
    const sampler = setInterval(() => {
      for (const l of lives) {
        if (alive(l)) sample(l, t0);
        else if (!l.endedOnPurpose && !problems.some((p) => p.includes(l.name))) {
          problems.push(`${l.name} exited unasked (${l.d.proc.exitCode ?? l.d.proc.signalCode}): ${sb.logOf(l.name).trim().split("\n").slice(-3).join(" | ")}`);
        }
      }
    }, SAMPLE_MS);

    // Disturbances, one at a time, each when due.
    const failoverEvery = minutes >= 20 ? 10 * 60_000 : durationMs / 2;
    let nextReload = 45_000, nextFlap = 75_000, nextFailover = minutes >= 20 ? 5 * 60_000 : durationMs / 2;
    while (elapsed() < durationMs - 20_000) {
      const t = elapsed();
      if (t >= nextFailover) {
        nextFailover += failoverEvery;
        const live = lives.filter(alive);
        const mark = sb.logOf(b.name).length;
        const killedAt = Date.now();
        a.endedOnPurpose = true;
        a.d.proc.kill("SIGKILL");
        await sb.waitFor("b master of both", () => (sb.logOf(b.name).slice(mark).match(/: MASTER/g) ?? []).length >= 2, 15000);
        const line = sb.logOf(b.name).slice(mark).split("\n").find((l) => /: MASTER/.test(l))!;
        takeovers.push(Date.parse(line.split(" ")[0]) - killedAt);
        counts.failovers++;
        log(`failover ${counts.failovers}: ${a.name} killed (-9), ${b.name} master after ${takeovers.at(-1)} ms (${live.length} directors were up)`);
        await sleep(15_000);
        a = await start("a");
        // a comes back as backup, gets the table by sync, and takes the VIP back after its preempt delay.
        await sb.waitFor("a master again", () => masters(a.name) >= 2, 60_000);
        log(`${a.name} (pid ${a.pid}) back and master again`);
      } else if (t >= nextFlap) {
        nextFlap += 120_000;
        const mark = lives.filter(alive).map((l) => [l, sb.logOf(l.name).length] as const);
        const stoppedAt = Date.now();
        await sb.stop("server3");
        const out = `Removing real server ${serverAddress(2)}:8080 from tcp ${VIP}:80`;
        await sb.waitFor("server 3 removed by TCP_CHECK", () => mark.every(([l, m]) => !alive(l) || sb.logOf(l.name).slice(m).includes(out)), 20_000);
        flapOutS.push((Date.now() - stoppedAt) / 1000);
        await sleep(5000);
        const backAt = Date.now();
        sb.spawn(sb.servers[2], [process.execPath, join(ROOT, "host", "sandbox", "tools", "server.mjs"), "server3", "--http", "8080", "--udp", "53"], "server3");
        const back = `Adding real server ${serverAddress(2)}:8080 to tcp ${VIP}:80`;
        await sb.waitFor("server 3 added back", () => mark.every(([l, m]) => !alive(l) || sb.logOf(l.name).slice(m).includes(back)), 20_000);
        flapBackS.push((Date.now() - backAt) / 1000);
        counts.flaps++;
        log(`health flap ${counts.flaps}: server 3 out after ${flapOutS.at(-1)!.toFixed(1)} s, back after ${flapBackS.at(-1)!.toFixed(1)} s`);
      } else if (t >= nextReload) {
        nextReload += 60_000;
        weight1 = weight1 === 1 ? 3 : 1;
        for (const l of lives.filter(alive)) {
          writeFileSync(l.d.configPath, config(l.who, weight1));
          const r = await exec([process.execPath, join(ROOT, "bin", "wasmvs.js"), "reload"], { WASMVS_SOCKET: l.d.socket });
          if (r.status === 0) counts.reloads++;
          else { counts.reloadsRefused++; problems.push(`wasmvs reload of ${l.name} failed (${r.status}): ${r.out.trim()}`); }
        }
        log(`reload: server 1 weight ${weight1} on ${lives.filter(alive).map((l) => l.name).join(", ")}`);
      } else await sleep(500);
    }
    while (elapsed() < durationMs) await sleep(500);
    stopping = true;
    await Promise.all(pending);
    clearInterval(sampler);
    for (const l of lives.filter(alive)) sample(l, t0);
    for (const l of lives.filter(alive)) { l.endedOnPurpose = true; await l.d.stop(); }
  } finally {
    stopping = true;
    await sb.destroy();
    process.off("SIGINT", stopAll);
    process.off("SIGTERM", stopAll);
  }

  // ---- the report ----------------------------------------------------------------------
  const lines: string[] = [];
  const out = (s: string) => { lines.push(s); };
  out(`soak: ${minutes} min, NAT, directors a and b (VRRP v3 0.1 s, sync group, connection sync), 3 real servers with TCP_CHECK`);
  for (const [k, t] of Object.entries(traffic)) {
    out(`traffic ${k}: ${t.ok} answered, ${t.failed} failed (${((100 * t.failed) / Math.max(1, t.ok + t.failed)).toFixed(2)}%)`);
  }
  out(`disturbances: ${counts.reloads} reloads (${counts.reloadsRefused} refused), ${counts.flaps} health flaps (removed after ${flapOutS.map((x) => x.toFixed(1)).join("/") || "-"} s, ` +
    `added after ${flapBackS.map((x) => x.toFixed(1)).join("/") || "-"} s), ${counts.failovers} failovers by kill -9 (takeover ${takeovers.join("/") || "-"} ms)`);
  const verdict: Record<string, unknown>[] = [];
  for (const l of lives) {
    const s = l.samples;
    if (!s.length) continue;
    const rss = trend(s, "rssMB");
    const fd = trend(s, "fds");
    const span = `${s[0].t.toFixed(0)}-${s.at(-1)!.t.toFixed(0)} s, ${s.length} samples`;
    const p99 = s.map((x) => x.timer?.p99Ms ?? 0);
    const max = s.map((x) => x.timer?.maxMs ?? 0);
    const bad = s.filter((x) => !x.addsUp).length;
    let flat = "too short to judge (under 8 samples after the first minute)";
    let leak = false;
    if (rss && fd) {
      const drss = rss.last - rss.first;
      const dfd = fd.last - fd.first;
      const rssLeak = drss > RSS_LEAK_MB && drss > RSS_LEAK_SHARE * rss.first;
      const fdLeak = dfd > FD_LEAK;
      leak = rssLeak || fdLeak;
      flat = `RSS ${rss.first.toFixed(1)} -> ${rss.last.toFixed(1)} MB (${drss >= 0 ? "+" : ""}${drss.toFixed(1)} MB, ${((100 * drss) / rss.first).toFixed(1)}%) ${rssLeak ? "GROWING" : "flat"}; ` +
        `fds ${fd.first.toFixed(1)} -> ${fd.last.toFixed(1)} ${fdLeak ? "GROWING" : "flat"} (first vs last quarter)`;
      if (rssLeak) problems.push(`${l.name}: RSS grew ${drss.toFixed(1)} MB (${rss.first.toFixed(1)} -> ${rss.last.toFixed(1)})`);
      if (fdLeak) problems.push(`${l.name}: open descriptors grew ${dfd.toFixed(1)} (${fd.first.toFixed(1)} -> ${fd.last.toFixed(1)})`);
    }
    if (bad) problems.push(`${l.name}: counters did not add up in ${bad} of ${s.length} samples`);
    out(`director ${l.name} (pid ${l.pid}, ${span}): ${flat}; control timer lateness p99 up to ${Math.max(...p99).toFixed(1)} ms, worst ${Math.max(...max).toFixed(1)} ms; ` +
      `counters add up in ${s.length - bad} of ${s.length} samples; last: rx_frames ${s.at(-1)!.counters.rx_frames}, forwarded ${s.at(-1)!.counters.forwarded}, connections ${s.at(-1)!.connections}`);
    verdict.push({ name: l.name, pid: l.pid, leak, samples: s });
  }
  const answered = traffic.keepalive.ok + traffic.short.ok;
  if (answered === 0) problems.push("no HTTP request was answered");
  for (const [k, t] of Object.entries(traffic)) if (t.failed > 0.05 * (t.ok + t.failed)) problems.push(`${k}: ${t.failed} of ${t.ok + t.failed} failed (over 5%)`);
  out(problems.length ? `FAILED: ${problems.join("; ")}` : "ok: flat lines, counters that add up, every director alive until stopped");
  console.log(`\n${lines.join("\n")}`);
  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  const file = join(folder, "soak.json");
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, minutes, traffic, counts, takeoversMs: takeovers, flapOutS, flapBackS, events,
    report: lines, problems, directors: verdict }, null, 1));
  console.log(`saved ${file}${existsSync(file) ? "" : " (not written)"}`);
  return problems.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`wasmvs soak: ${e instanceof Error ? e.message : e}\n${USAGE}`);
  process.exit(e instanceof Error && /^--minutes|^unknown argument/.test(e.message) ? 2 : 1);
});
