// npm run bench:e2e: the namespace sandbox under load, bounded in time. For each path
// it measures small-packet UDP packets/s (iperf3, 64-byte datagrams), TCP bulk
// throughput (iperf3) and HTTP requests/s with latency (wrk against nginx):
//   direct      client -> one real server through the kernel router (no user-space hop)
//   tapfwd      a minimal C forwarder between the two TAPs, one read and one write per frame,
//               polling per frame and (--drain) draining each device per wakeup as wasmvs does
//   pktfwd      the same hop without TAP: AF_PACKET rings on two veths (po, pi, whose peers
//               xo, xi sit in the bridges), no syscall per frame
//   haproxy     HAProxy in TCP mode on the router, round robin over the three servers
//   wasmvs NAT, DR, TUN (TAP)     the director on its TAPs in the bridges, rr over the three servers
//   wasmvs NAT, DR, TUN (rings)   the same director on AF_XDP rings on po and pi: pktfwd's very hop
// and, for each path with a forwarding process, its CPU per request; then, through the
// director in each mode and on each backend, a sweep of response sizes (100 B to 1 MB) for its
// CPU per request (NAT carries the replies, DR and TUN do not), and the director's CPU use while idle.
// WASMVS_E2E_RUNS=5 repeats the paths the targets compare, interleaved, and reports medians.
// Results: bench/results/e2e-latest.json and a report with plots, e2e-report.html.
// Everything runs on this machine, in network namespaces the benchmark creates and removes.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { Director, Mode, ROOT, Sandbox, sandboxUnavailable, serverAddress, VIP, ROUTER_OUT, CLIENT, DIRECTOR_OUT, DIRECTOR_IN } from "../../host/sandbox/sandbox.js";
import { NAT_TAP, renderReport, summarize, targetLines, TAPFWD_DRAINING, type Metric, type PathResult, type SavedResults, type SizePoint } from "./report.js";

const SECONDS = Number(process.env.WASMVS_E2E_SECONDS ?? 4);
/** WASMVS_E2E_QUICK=1: only the paths the NAT targets are stated against (direct, the draining
 *  C TAP forwarder, the C ring forwarder, wasmvs NAT on TAP and on rings) and the idle director:
 *  for before/after comparisons. */
const QUICK = process.env.WASMVS_E2E_QUICK === "1";
/** WASMVS_E2E_RUNS=5: every path but the first run's extras (HAProxy, the forwarder that polls
 *  per frame, TAP offloads, the size sweeps, idle) measured that many times, interleaved — run 1
 *  of every path, then run 2, ... — so a slow minute on the shared cores hits all paths alike;
 *  the report gives each path's medians and their spread, and the targets on the medians. */
const RUNS = Math.max(1, Math.floor(Number(process.env.WASMVS_E2E_RUNS ?? 1)) || 1);
const HTTP_PORT = { nat: 8080, dr: 80, tun: 80 };

type Result = PathResult;
/** Response sizes of the sweep (NAT, DR and TUN): the director's CPU per request against them. */
const SIZES = [100, 10_000, 100_000, 1_000_000];
const SWEEP_SECONDS = Number(process.env.WASMVS_E2E_SWEEP_SECONDS ?? 3);
const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function need(cmd: string, pkg: string): void {
  if (spawnSync(cmd, ["--version"]).error && spawnSync(cmd, ["-v"]).error) throw new Error(`${cmd} is missing: apt-get install ${pkg}`);
}

function nginxConf(sb: Sandbox, k: number, port: number): string {
  const d = join(sb.dir, `nginx${k}`);
  mkdirSync(d, { recursive: true });
  const conf = join(d, "nginx.conf");
  // user root: the workers read the sweep's files from this run's private directory.
  writeFileSync(conf, `user root;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${d}/body; proxy_temp_path ${d}/proxy; fastcgi_temp_path ${d}/fcgi;
  uwsgi_temp_path ${d}/uwsgi; scgi_temp_path ${d}/scgi;
  keepalive_requests 1000000;
  sendfile on;
  server { listen ${port}; location / { return 200 "server${k + 1}\\n"; } location /size/ { alias ${d}/www/; } }
}
`);
  // The sweep's responses: files of each size.
  mkdirSync(join(d, "www"), { recursive: true });
  for (const n of SIZES) writeFileSync(join(d, "www", String(n)), Buffer.alloc(n, 0x61));
  return conf;
}

/** nginx and an iperf3 server on every real server. With the VIP on loopback (DR, TUN)
 *  iperf3 binds to it: its UDP replies must leave from the VIP, not the server's own
 *  address (the classic LVS-DR rule for UDP services). */
async function startServers(sb: Sandbox, port: number, bindVip: boolean): Promise<void> {
  sb.servers.forEach((ns, k) => {
    sb.spawn(ns, ["nginx", "-c", nginxConf(sb, k, port), "-g", "daemon off;"], `nginx${k + 1}`);
    sb.spawn(ns, ["iperf3", "-s", "-p", "5201", ...(bindVip ? ["-B", VIP] : [])], `iperf${k + 1}`);
  });
  await new Promise((r) => setTimeout(r, 500));
  for (let k = 0; k < sb.servers.length; k++) {
    await sb.waitFor(`nginx ${k + 1}`, () => sb.run(sb.servers[k], ["curl", "-s", "-m", "1", `http://127.0.0.1:${port}/`]).stdout.startsWith("server"));
  }
}

function wrk(sb: Sandbox, url: string, seconds = SECONDS, connections = 50): { rps: number; p50: number; p99: number } {
  const r = sb.run(sb.client, ["wrk", "-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--latency", url], (seconds + 20) * 1000);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(r.stdout);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === "us" ? 0.001 : m[2] === "s" ? 1000 : 1);
  };
  if (!Number.isFinite(rps)) throw new Error(`wrk: ${r.stdout}${r.stderr}`);
  // Errors answered fast would pass for throughput.
  const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout);
  if (bad) throw new Error(`wrk ${url}: ${bad[1]} responses were errors`);
  return { rps, p50: ms("50"), p99: ms("99") };
}

function iperf(sb: Sandbox, host: string, udp: boolean): number {
  const args = ["iperf3", "-c", host, "-p", "5201", "-t", String(SECONDS), "-J"];
  if (udp) args.push("-u", "-l", "64", "-b", "0");
  let r = sb.run(sb.client, args, (SECONDS + 20) * 1000);
  // The server may still be closing the previous test (a UDP flood ends with the client's last
  // datagrams in flight): it refuses a new one for a moment. A few tries, a second apart.
  for (let attempt = 0; attempt < 5 && /server is busy/.test(r.stdout); attempt++) {
    spawnSync("sleep", ["1"]);
    r = sb.run(sb.client, args, (SECONDS + 20) * 1000);
  }
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3: ${r.stdout.slice(0, 300)} ${r.stderr}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  if (udp) {
    const s = j.end.sum;
    return (s.packets - s.lost_packets) / s.seconds;
  }
  return j.end.sum_received.bits_per_second / 1e9;
}

/** wrk, and the CPU the forwarding process (pid) used per request meanwhile. */
function wrkWithCpu(sb: Sandbox, url: string, pid: number | undefined, seconds = SECONDS, connections = 50): { rps: number; p50: number; p99: number; cpuUsPerRequest?: number } {
  const t0 = pid ? cpuTicks(pid) : 0;
  const h = wrk(sb, url, seconds, connections);
  if (!pid) return h;
  const cpuSeconds = (cpuTicks(pid) - t0) / CLK_TCK;
  return { ...h, cpuUsPerRequest: (cpuSeconds * 1e6) / Math.max(1, h.rps * seconds) };
}

function measure(sb: Sandbox, path: string, host: string, port: number, forwarder?: number): Result {
  const tcpGbps = iperf(sb, host, false);
  const udpPps = iperf(sb, host, true);
  const h = wrkWithCpu(sb, `http://${host}:${port}/`, forwarder);
  return { path, udpPps, tcpGbps, httpRps: h.rps, httpP50Ms: h.p50, httpP99Ms: h.p99, ...(h.cpuUsPerRequest !== undefined ? { cpuUsPerRequest: h.cpuUsPerRequest } : {}) };
}

/** The response-size sweep through a running director: requests/s and its CPU per request. */
function sweep(sb: Sandbox, mode: Mode, label: string, d: Director): SizePoint[] {
  return SIZES.map((bytes) => {
    // Fewer connections for the large responses: enough to fill the path, not to queue.
    const h = wrkWithCpu(sb, `http://${VIP}:${HTTP_PORT[mode]}/size/${bytes}`, d.proc.pid!, SWEEP_SECONDS, bytes >= 100_000 ? 10 : 50);
    const point = { mode: label, bytes, rps: h.rps, cpuUsPerRequest: h.cpuUsPerRequest!, mbytesPerSecond: (h.rps * bytes) / 1e6 };
    console.log(`  ${String(bytes).padStart(8)}-byte responses: ${h.rps.toFixed(0).padStart(7)} req/s, ${point.mbytesPerSecond.toFixed(0).padStart(5)} MB/s, ${point.cpuUsPerRequest.toFixed(1).padStart(7)} µs of director CPU per request`);
    return point;
  });
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** veths xo and xi in the bridges bo and bi, their peers po and pi left bare in the director's
 *  namespace: where the C ring forwarder and wasmvs on rings attach, so both cross the very same
 *  hop. The bridge side does not take TCP segments (TSO/GSO off), so every frame fits a ring
 *  slot, as TUNSETOFFLOAD(0) does for a TAP. Returns po's and pi's MACs. */
function ringVeths(sb: Sandbox): { out: string; in: string } {
  for (const [veth, peer, br] of [["xo", "po", "bo"], ["xi", "pi", "bi"]]) {
    sb.must(sb.director, ["ip", "link", "add", veth, "type", "veth", "peer", "name", peer]);
    sb.must(sb.director, ["ethtool", "-K", veth, "tso", "off", "gso", "off"]);
    sb.must(sb.director, ["ip", "link", "set", veth, "master", br, "up"]);
    sb.must(sb.director, ["ip", "link", "set", peer, "up"]);
  }
  const mac = (dev: string) => (JSON.parse(sb.must(sb.director, ["ip", "-j", "link", "show", "dev", dev])) as { address: string }[])[0].address;
  return { out: mac("po"), in: mac("pi") };
}

/** wasmvs in mode on AF_XDP rings on po and pi, with the engine's addresses (10.0.0.1, 10.1.0.1)
 *  and po's and pi's MACs given explicitly. Nothing else in the director's namespace may answer
 *  for those addresses: the TAP director is gone (its TAPs with it) and the namespace holds no
 *  address of them, so ARP for them reaches the host, which does not answer, and the engine's
 *  copy, which does. The neighbours forget the TAP director's MACs first. */
async function ringsDirector(sb: Sandbox, mode: Mode): Promise<Director> {
  if (sb.run(sb.director, ["ip", "link", "show", "dev", "wvo"]).status === 0) throw new Error("the TAP director's wvo is still there");
  const own = sb.must(sb.director, ["ip", "-4", "-o", "addr", "show"]);
  for (const a of [DIRECTOR_OUT, DIRECTOR_IN]) if (own.includes(` ${a}/`)) throw new Error(`the director's namespace holds ${a} itself: ${own}`);
  const macs = ringVeths(sb);
  for (const ns of [sb.client, sb.router, ...sb.servers]) sb.must(ns, ["ip", "neigh", "flush", "all"]);
  const d = await director(sb, mode, { rings: macs });
  if (!/AF_XDP rings on device po/.test(sb.logOf("director"))) throw new Error(`the director did not attach to po: ${sb.logOf("director")}`);
  ringMacs = macs;
  return d;
}
let ringMacs: { out: string; in: string } | undefined;

/** After a rings path: the client reached the VIP at po's MAC (and in NAT the servers their
 *  gateway at pi's), so its traffic crossed the rings and nothing else answered for it. */
function checkRingsCarried(sb: Sandbox, mode: Mode): void {
  const seen = (ns: string, address: string) => /lladdr ([0-9a-f:]+)/.exec(sb.must(ns, ["ip", "neigh", "show", address]))?.[1];
  const vip = seen(sb.client, VIP);
  if (vip !== ringMacs?.out) throw new Error(`the client reached ${VIP} at ${vip ?? "no MAC"}, not po's ${ringMacs?.out}`);
  if (mode === "nat") {
    const gw = seen(sb.servers[0], DIRECTOR_IN);
    if (gw !== ringMacs?.in) throw new Error(`server 1 reached ${DIRECTOR_IN} at ${gw ?? "no MAC"}, not pi's ${ringMacs?.in}`);
  }
}

/** HTTP rr over the three servers; iperf3 on sh, so its TCP control connection and its
 *  UDP stream from the same client reach the same server. On TAPs (wvo, wvi in the bridges),
 *  or with rings on po and pi (ringsDirector). */
async function director(sb: Sandbox, mode: Mode, o: { offload?: boolean; rings?: { out: string; in: string } } = {}): Promise<Director> {
  let config = sb.config([
    { protocol: "tcp", port: HTTP_PORT[mode], scheduler: "rr" },
    { protocol: "tcp", port: 5201, scheduler: "sh" },
    { protocol: "udp", port: 5201, scheduler: "sh" },
  ]) + (o.offload ? "offload on\n" : "");
  if (o.rings) {
    config = config
      .replace(/^interface 0 .*$/m, `interface 0 name outside device po mac ${o.rings.out} address ${DIRECTOR_OUT}/24 mtu 1500`)
      .replace(/^interface 1 .*$/m, `interface 1 name inside device pi mac ${o.rings.in} address ${DIRECTOR_IN}/24 mtu 1500`);
  }
  return sb.startDirector(config);
}

async function withSandbox<T>(mode: Mode, f: (sb: Sandbox) => Promise<T>): Promise<T> {
  const sb = await Sandbox.create({ mode });
  try {
    return await f(sb);
  } finally {
    await sb.destroy();
  }
}

async function main(): Promise<void> {
  const why = sandboxUnavailable();
  if (why) throw new Error(`the end-to-end benchmark ${why}`);
  for (const [c, p] of [["wrk", "wrk"], ["iperf3", "iperf3"], ["nginx", "nginx-light"], ["haproxy", "haproxy"], ["gcc", "gcc"], ["ethtool", "ethtool"]]) need(c, p);
  const machine = `${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`wasmvs end-to-end benchmark on ${machine}, ${SECONDS} s per measurement` +
    (RUNS > 1 ? `, ${RUNS} interleaved runs of the paths the targets name` : "") + "\n");
  const tapfwd = join(ROOT, "build", "tapfwd");
  execFileSync("gcc", ["-O2", "-o", tapfwd, join(ROOT, "bench", "e2e", "tapfwd.c")], { stdio: "inherit" });
  const pktfwd = join(ROOT, "build", "pktfwd");
  execFileSync("gcc", ["-O2", "-o", pktfwd, join(ROOT, "bench", "e2e", "pktfwd.c")], { stdio: "inherit" });
  const runs = new Runs();
  const sizes: SizePoint[] = [];
  const idle: string[] = [];
  let lateness = "";
  const loads: string[] = [loadAverage()];

  for (let run = 0; run < RUNS; run++) {
    // The first run measures everything; the others only what the targets compare, in the same
    // order, so each path's runs are spread over the same stretch of time as the others'.
    const first = run === 0;
    if (RUNS > 1) console.log(`\n— run ${run + 1} of ${RUNS} (load average ${loads[loads.length - 1]}) —`);
    runs.startRun();
    // Direct, the C forwarders and HAProxy share a sandbox without wasmvs, the servers'
    // default route through the router (as for DR).
    await withSandbox("dr", async (sb) => {
      await startServers(sb, 8080, false);
      console.log("direct: client -> server 1 through the kernel router");
      runs.add(measure(sb, "direct (kernel)", serverAddress(0), 8080));
      if (first && !QUICK) await haproxy(sb, runs);
      // Client and server 1 see each other as on-link: their frames cross the forwarder.
      sb.must(sb.client, ["ip", "route", "add", `${serverAddress(0)}/32`, "dev", "eth0"]);
      sb.must(sb.servers[0], ["ip", "route", "add", `${CLIENT}/32`, "dev", "eth0"]);
      for (const drain of first && !QUICK ? [false, true] : [true]) {
        console.log(`tapfwd: the C forwarder between the two TAPs, one read and one write per frame${drain ? ", draining each wakeup" : ""}`);
        const name = drain ? "tapfwd-drain" : "tapfwd";
        const p = sb.spawn(sb.director, [tapfwd, ...(drain ? ["--drain"] : []), "wvo", "wvi"], name);
        await sb.waitFor(name, () => sb.logOf(name).includes("forwarding") || p.exitCode !== null);
        for (const [tap, br] of [["wvo", "bo"], ["wvi", "bi"]]) sb.must(sb.director, ["ip", "link", "set", tap, "master", br, "up"]);
        runs.add(measure(sb, drain ? "tapfwd (C, draining)" : "tapfwd (C, 1 read + 1 write)", serverAddress(0), 8080, p.pid));
        await sb.stop(name);
      }
      await pktfwdPath(sb, runs, pktfwd);
    });

    for (const mode of (QUICK ? ["nat"] : ["nat", "dr", "tun"]) as Mode[]) {
      await withSandbox(mode, async (sb) => {
        await startServers(sb, HTTP_PORT[mode], mode !== "nat");
        if (mode === "tun") await sb.startDecapsulators();
        const M = mode.toUpperCase();
        const d = await director(sb, mode);
        console.log(`wasmvs ${M} (TAP)`);
        runs.add(measure(sb, `wasmvs ${M} (TAP)`, VIP, HTTP_PORT[mode], d.proc.pid));
        if (first) {
          console.log(`wasmvs ${M} (TAP): director CPU per request as responses grow`);
          sizes.push(...sweep(sb, mode, M, d));
        }
        if (first && mode === "nat") {
          // The control plane's 100 ms heartbeat through the TCP, UDP-flood and HTTP loads just run.
          const timer = (await d.freshStatus()).control?.timer;
          if (timer) lateness = `p99 ${timer.p99Ms.toFixed(1)} ms, max ${timer.maxMs.toFixed(1)} ms late (100 ms timer, through TCP, a UDP flood and HTTP through NAT)`;
          idle.push(`TAP: ${await idleCpu(d)}`);
        }
        if (mode === "nat") await realTimePath(sb, d, `wasmvs ${M} (TAP, SCHED_RR)`, runs);
        reportDrops(d);
        await d.stop();
        if (first && mode !== "tun" && !QUICK) {
          // The same path with TAP offloads: 64 KB TCP segments and partial checksums.
          console.log(`wasmvs ${M} (TAP) with TAP offloads`);
          const o = await director(sb, mode, { offload: true });
          runs.add(measure(sb, `wasmvs ${M} (TAP) + offload`, VIP, HTTP_PORT[mode], o.proc.pid));
          await o.stop();
        }
        // The same director on AF_XDP rings, across the very hop pktfwd crosses.
        const r = await ringsDirector(sb, mode);
        console.log(`wasmvs ${M} (rings): AF_XDP on veths po/pi, their peers in the bridges`);
        runs.add(measure(sb, `wasmvs ${M} (rings)`, VIP, HTTP_PORT[mode], r.proc.pid));
        checkRingsCarried(sb, mode);
        if (first) {
          console.log(`wasmvs ${M} (rings): director CPU per request as responses grow`);
          sizes.push(...sweep(sb, mode, `${M} rings`, r));
          if (mode === "nat") idle.push(`rings: ${await idleCpu(r)}`);
        }
        if (mode === "nat") await realTimePath(sb, r, `wasmvs ${M} (rings, SCHED_RR)`, runs);
        reportDrops(r);
        await r.stop();
      });
    }
    loads.push(loadAverage());
  }
  report(runs, sizes, idle.join("; "), machine, lateness, loads);
}

/** The same running director measured again with its data-path thread made real-time (SCHED_RR 10),
 *  as it runs where a VRRP instance does (host/daemon/director.ts, wantsRealTime): on shared
 *  cores a real-time thread wakes for nearly every frame, ahead of the client and servers, so its
 *  batches stay small and it pays a wakeup and a send per frame or two; this path says what that
 *  costs in CPU per request and requests/s against the default scheduling the director has without VRRP. */
async function realTimePath(sb: Sandbox, d: Director, path: string, runs: Runs): Promise<void> {
  // The last one: a director started after another in the same namespace appends to its log.
  const tid = [...sb.logOf("director").matchAll(/data-path thread (\d+): /g)].pop()?.[1];
  if (!tid) throw new Error(`no data-path thread in the director's log: ${sb.logOf("director")}`);
  execFileSync("chrt", ["--rr", "-p", "10", tid]);
  if (!/SCHED_RR/.test(execFileSync("chrt", ["-p", tid], { encoding: "utf8" }))) throw new Error(`thread ${tid} is not SCHED_RR`);
  console.log(`${path}: the data-path thread (${tid}) made real-time (SCHED_RR 10), as with VRRP`);
  runs.add(measure(sb, path, VIP, HTTP_PORT.nat, d.proc.pid));
  // Back to the default for what follows on this director.
  execFileSync("chrt", ["--other", "-p", "0", tid]);
}

/** The load average (1, 5, 15 min): the machine's two cores are shared, and it says how much. */
function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** The director's CPU use while nothing moves, over ten seconds (a clock tick is 10 ms of CPU:
 *  too coarse over less). */
async function idleCpu(d: Director): Promise<string> {
  const t0 = cpuTicks(d.proc.pid!);
  await new Promise((r) => setTimeout(r, 10000));
  const ticks = cpuTicks(d.proc.pid!) - t0;
  return `${((ticks / CLK_TCK / 10) * 100).toFixed(2)}% of one core over 10 s idle (${ticks} ticks)`;
}

function reportDrops(d: Director): void {
  const st = d.status();
  const drops = Object.entries(st.counters).filter(([k, v]) => k.startsWith("drop_") && v > 0);
  if (drops.length) console.log(`  director drops: ${drops.map(([k, v]) => `${k.slice(5)} ${v}`).join(", ")}`);
}

/** Each measured path's results, one per run it was measured in (the target paths: every run). */
class Runs {
  readonly byPath = new Map<string, Result[]>();
  private run = -1;
  startRun(): void { this.run++; }
  add(r: Result): void {
    const list = this.byPath.get(r.path) ?? [];
    list[this.run] = r;
    this.byPath.set(r.path, list);
  }
}

async function haproxy(sb: Sandbox, runs: Runs): Promise<void> {
    console.log("haproxy: TCP mode on the router, round robin");
    writeFileSync(join(sb.dir, "haproxy.cfg"), `global
  maxconn 4000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen web
  bind ${ROUTER_OUT}:8081
  balance roundrobin
${[0, 1, 2].map((k) => `  server s${k + 1} ${serverAddress(k)}:8080`).join("\n")}
listen iperf
  bind ${ROUTER_OUT}:5201
  server s1 ${serverAddress(0)}:5201
`);
    const ha = sb.spawn(sb.router, ["haproxy", "-db", "-f", join(sb.dir, "haproxy.cfg")], "haproxy");
    await sb.waitFor("haproxy", () => sb.run(sb.client, ["curl", "-s", "-m", "1", `http://${ROUTER_OUT}:8081/`]).stdout.startsWith("server"));
    const h = wrkWithCpu(sb, `http://${ROUTER_OUT}:8081/`, ha.pid);
    const tcp = iperf(sb, ROUTER_OUT, false);
    runs.add({ path: "haproxy (TCP mode)", tcpGbps: tcp, httpRps: h.rps, httpP50Ms: h.p50, httpP99Ms: h.p99, cpuUsPerRequest: h.cpuUsPerRequest, note: "UDP: not proxied" });
    await sb.stop("haproxy");
}

async function pktfwdPath(sb: Sandbox, runs: Runs, pktfwd: string): Promise<void> {
  // The same hop without TAP: AF_PACKET rings on two veths, no syscall per frame.
  console.log("pktfwd: a C forwarder over AF_PACKET rings between two veths, no syscall per frame");
  ringVeths(sb);
  const pf = sb.spawn(sb.director, [pktfwd, "po", "pi"], "pktfwd");
  await sb.waitFor("pktfwd", () => sb.logOf("pktfwd").includes("forwarding") || pf.exitCode !== null);
  if (pf.exitCode !== null) throw new Error(`pktfwd: ${sb.logOf("pktfwd")}`);
  runs.add(measure(sb, "pktfwd (C, AF_PACKET rings)", serverAddress(0), 8080, pf.pid));
  await sb.stop("pktfwd");
}

function report(runs: Runs, sizes: SizePoint[], idle: string, machine: string, lateness: string, loads: string[]): void {
  const results = [...runs.byPath.values()].map(summarize);
  const direct = results[0];
  const fmt = (v: number | undefined, d = 0) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d));
  const ratio = (v: number | undefined, b: number | undefined) => (v && b ? `${(v / b).toFixed(2)}x` : "-");
  const find = (path: string) => results.find((r) => r.path === path);
  if (RUNS > 1) console.log(`\nmedians of ${RUNS} interleaved runs (the first run's extras: one run)`);
  console.log(`\npath                          UDP kpps  vs direct   TCP Gbit/s  vs direct   HTTP req/s  vs direct  p50 ms  p99 ms  µs CPU/req`);
  for (const r of results) {
    console.log(`${r.path.padEnd(29)} ${fmt((r.udpPps ?? NaN) / 1000, 1).padStart(8)} ${ratio(r.udpPps, direct.udpPps).padStart(10)} ` +
      `${fmt(r.tcpGbps, 2).padStart(12)} ${ratio(r.tcpGbps, direct.tcpGbps).padStart(10)} ${fmt(r.httpRps).padStart(12)} ` +
      `${ratio(r.httpRps, direct.httpRps).padStart(10)} ${fmt(r.httpP50Ms, 2).padStart(7)} ${fmt(r.httpP99Ms, 2).padStart(7)} ${fmt(r.cpuUsPerRequest, 1).padStart(11)}` +
      (r.note ? `  (${r.note})` : ""));
  }
  if (RUNS > 1) {
    console.log(`\nspread over the runs (min–max)  UDP kpps        HTTP req/s        p99 ms          µs CPU/req`);
    const span = (r: Result, m: Metric, d: number, scale = 1) => {
      const sp = r.spread?.[m];
      return sp ? `${(sp[0] / scale).toFixed(d)}–${(sp[1] / scale).toFixed(d)}` : "-";
    };
    for (const r of results.filter((x) => x.runs)) {
      console.log(`${r.path.padEnd(31)} ${span(r, "udpPps", 1, 1000).padEnd(15)} ${span(r, "httpRps", 0).padEnd(17)} ${span(r, "httpP99Ms", 2).padEnd(15)} ${span(r, "cpuUsPerRequest", 1)}`);
    }
  }
  const fwd = results.find((r) => r.path.startsWith("tapfwd (C, 1"));
  const drained = find(TAPFWD_DRAINING);
  const ha = results.find((r) => r.path.startsWith("haproxy"));
  const nat = find(NAT_TAP);
  console.log(`\nwasmvs NAT (TAP) vs the C forwarder: UDP ${ratio(nat?.udpPps, fwd?.udpPps)} (draining: ${ratio(nat?.udpPps, drained?.udpPps)}), ` +
    `HTTP ${ratio(nat?.httpRps, fwd?.httpRps)} (draining: ${ratio(nat?.httpRps, drained?.httpRps)}); HTTP vs HAProxy: ${ratio(nat?.httpRps, ha?.httpRps)}`);
  for (const mode of ["NAT", "DR", "TUN"]) {
    const tap = find(`wasmvs ${mode} (TAP)`), rings = find(`wasmvs ${mode} (rings)`);
    if (tap && rings) {
      console.log(`wasmvs ${mode} rings vs TAP: UDP ${ratio(rings.udpPps, tap.udpPps)}, TCP ${ratio(rings.tcpGbps, tap.tcpGbps)}, ` +
        `HTTP ${ratio(rings.httpRps, tap.httpRps)}, p99 ${ratio(rings.httpP99Ms, tap.httpP99Ms)}, CPU per request ${ratio(rings.cpuUsPerRequest, tap.cpuUsPerRequest)}`);
    }
  }
  const targets = targetLines(runs.byPath);
  console.log(`\ntargets (ratios of the medians${RUNS > 1 ? "" : "; one run: WASMVS_E2E_RUNS=5 for the median of five"}):`);
  for (const t of targets) console.log(`  ${t.text}`);
  const off = find("wasmvs NAT (TAP) + offload");
  console.log(`TCP bulk with TAP offloads vs without: NAT ${ratio(off?.tcpGbps, nat?.tcpGbps)}, ` +
    `DR ${ratio(find("wasmvs DR (TAP) + offload")?.tcpGbps, find("wasmvs DR (TAP)")?.tcpGbps)}`);
  console.log(`idle director CPU: ${idle}`);
  console.log(`control-plane timer under load: ${lateness}`);
  console.log(`load average (1, 5, 15 min) before the first run and after each: ${loads.join(" → ")}`);
  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  const cpu = results.filter((r) => r.cpuUsPerRequest !== undefined).map((r) => `${r.path} ${r.cpuUsPerRequest!.toFixed(1)}`);
  console.log(`forwarder CPU per HTTP request (µs): ${cpu.join(", ")}`);
  const growth = (m: string) => {
    const ps = sizes.filter((p) => p.mode === m);
    return ps.length ? `${m} ${(ps[ps.length - 1].cpuUsPerRequest / ps[0].cpuUsPerRequest).toFixed(1)}x` : "";
  };
  if (sizes.length) {
    const modes = [...new Set(sizes.map((p) => p.mode))];
    console.log(`director CPU per request, ${SIZES[SIZES.length - 1]}-byte vs ${SIZES[0]}-byte responses: ${modes.map(growth).filter(Boolean).join(", ")}`);
  }
  const saved: SavedResults = { date: new Date().toISOString(), machine, seconds: SECONDS, quick: QUICK, results, sizes, idle, lateness, runs: RUNS, targets, loads };
  writeFileSync(join(folder, "e2e-latest.json"), JSON.stringify(saved, null, 2));
  writeFileSync(join(folder, "e2e-report.html"), renderReport(saved));
  console.log(`saved ${join(folder, "e2e-latest.json")} and the report with plots, ${join(folder, "e2e-report.html")}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
