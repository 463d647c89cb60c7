// npm run bench:e2e: the namespace sandbox under load, bounded in time. For each path
// it measures small-packet UDP packets/s (iperf3, 64-byte datagrams), TCP bulk
// throughput (iperf3) and HTTP requests/s with latency (wrk against nginx):
//   direct      client -> one real server through the kernel router (no user-space hop)
//   tapfwd      a minimal C forwarder between the two TAPs, one read and one write per frame,
//               polling per frame and (--drain) draining each device per wakeup as wasmvs does
//   pktfwd      the same hop without TAP: AF_PACKET rings on two veths, no syscall per frame
//   haproxy     HAProxy in TCP mode on the router, round robin over the three servers
//   wasmvs NAT, wasmvs DR, wasmvs TUN   the director, rr over the three servers
// and, for each path with a forwarding process, its CPU per request; then, through the
// director in each mode, a sweep of response sizes (100 B to 1 MB) for its CPU per request
// (NAT carries the replies, DR and TUN do not), and the director's CPU use while idle.
// Results: bench/results/e2e-latest.json and a report with plots, e2e-report.html.
// Everything runs on this machine, in network namespaces the benchmark creates and removes.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { Director, Mode, ROOT, Sandbox, sandboxUnavailable, serverAddress, VIP, ROUTER_OUT, CLIENT } from "../../host/sandbox/sandbox.js";
import { renderReport, type PathResult, type SavedResults, type SizePoint } from "./report.js";

const SECONDS = Number(process.env.WASMVS_E2E_SECONDS ?? 4);
/** WASMVS_E2E_QUICK=1: only the paths the NAT target is stated against (direct, the draining
 *  C forwarder, wasmvs NAT) and the idle director: for before/after comparisons. */
const QUICK = process.env.WASMVS_E2E_QUICK === "1";
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
  const r = sb.run(sb.client, args, (SECONDS + 20) * 1000);
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
function sweep(sb: Sandbox, mode: Mode, d: Director): SizePoint[] {
  return SIZES.map((bytes) => {
    // Fewer connections for the large responses: enough to fill the path, not to queue.
    const h = wrkWithCpu(sb, `http://${VIP}:${HTTP_PORT[mode]}/size/${bytes}`, d.proc.pid!, SWEEP_SECONDS, bytes >= 100_000 ? 10 : 50);
    const point = { mode: mode.toUpperCase(), bytes, rps: h.rps, cpuUsPerRequest: h.cpuUsPerRequest!, mbytesPerSecond: (h.rps * bytes) / 1e6 };
    console.log(`  ${String(bytes).padStart(8)}-byte responses: ${h.rps.toFixed(0).padStart(7)} req/s, ${point.mbytesPerSecond.toFixed(0).padStart(5)} MB/s, ${point.cpuUsPerRequest.toFixed(1).padStart(7)} µs of director CPU per request`);
    return point;
  });
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** HTTP rr over the three servers; iperf3 on sh, so its TCP control connection and its
 *  UDP stream from the same client reach the same server. */
async function director(sb: Sandbox, mode: Mode, offload = false): Promise<Director> {
  return sb.startDirector(sb.config([
    { protocol: "tcp", port: HTTP_PORT[mode], scheduler: "rr" },
    { protocol: "tcp", port: 5201, scheduler: "sh" },
    { protocol: "udp", port: 5201, scheduler: "sh" },
  ]) + (offload ? "offload on\n" : ""));
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
  console.log(`wasmvs end-to-end benchmark on ${machine}, ${SECONDS} s per measurement\n`);
  const tapfwd = join(ROOT, "build", "tapfwd");
  execFileSync("gcc", ["-O2", "-o", tapfwd, join(ROOT, "bench", "e2e", "tapfwd.c")], { stdio: "inherit" });
  const pktfwd = join(ROOT, "build", "pktfwd");
  execFileSync("gcc", ["-O2", "-o", pktfwd, join(ROOT, "bench", "e2e", "pktfwd.c")], { stdio: "inherit" });
  const results: Result[] = [];
  const sizes: SizePoint[] = [];
  let idle = "";
  let lateness = "";

  // Direct, the C forwarder and HAProxy share a sandbox without wasmvs, the servers'
  // default route through the router (as for DR).
  await withSandbox("dr", async (sb) => {
    await startServers(sb, 8080, false);
    console.log("direct: client -> server 1 through the kernel router");
    results.push(measure(sb, "direct (kernel)", serverAddress(0), 8080));
    if (!QUICK) await haproxy(sb, results);
    // Client and server 1 see each other as on-link: their frames cross the forwarder.
    sb.must(sb.client, ["ip", "route", "add", `${serverAddress(0)}/32`, "dev", "eth0"]);
    sb.must(sb.servers[0], ["ip", "route", "add", `${CLIENT}/32`, "dev", "eth0"]);
    for (const drain of QUICK ? [true] : [false, true]) {
      console.log(`tapfwd: the C forwarder between the two TAPs, one read and one write per frame${drain ? ", draining each wakeup" : ""}`);
      const name = drain ? "tapfwd-drain" : "tapfwd";
      const p = sb.spawn(sb.director, [tapfwd, ...(drain ? ["--drain"] : []), "wvo", "wvi"], name);
      await sb.waitFor(name, () => sb.logOf(name).includes("forwarding") || p.exitCode !== null);
      for (const [tap, br] of [["wvo", "bo"], ["wvi", "bi"]]) sb.must(sb.director, ["ip", "link", "set", tap, "master", br, "up"]);
      results.push(measure(sb, drain ? "tapfwd (C, draining)" : "tapfwd (C, 1 read + 1 write)", serverAddress(0), 8080, p.pid));
      await sb.stop(name);
    }
    if (!QUICK) await pktfwdPath(sb, results, pktfwd);
  });

  for (const mode of (QUICK ? ["nat"] : ["nat", "dr", "tun"]) as Mode[]) {
    await withSandbox(mode, async (sb) => {
      await startServers(sb, HTTP_PORT[mode], mode !== "nat");
      if (mode === "tun") await sb.startDecapsulators();
      const d = await director(sb, mode);
      console.log(`wasmvs ${mode.toUpperCase()}`);
      results.push(measure(sb, `wasmvs ${mode.toUpperCase()}`, VIP, HTTP_PORT[mode], d.proc.pid));
      console.log(`wasmvs ${mode.toUpperCase()}: director CPU per request as responses grow`);
      sizes.push(...sweep(sb, mode, d));
      if (mode === "nat") {
        // The control plane's 100 ms heartbeat through the TCP, UDP-flood and HTTP loads just run.
        const timer = (await d.freshStatus()).control?.timer;
        if (timer) lateness = `p99 ${timer.p99Ms.toFixed(1)} ms, max ${timer.maxMs.toFixed(1)} ms late (100 ms timer, through TCP, a UDP flood and HTTP through NAT)`;
        // Ten seconds: a clock tick is 10 ms of CPU, too coarse over less.
        const t0 = cpuTicks(d.proc.pid!);
        await new Promise((r) => setTimeout(r, 10000));
        const ticks = cpuTicks(d.proc.pid!) - t0;
        idle = `${((ticks / 100 / 10) * 100).toFixed(2)}% of one core over 10 s idle (${ticks} ticks)`;
      }
      const st = d.status();
      const drops = Object.entries(st.counters).filter(([k, v]) => k.startsWith("drop_") && v > 0);
      if (drops.length) console.log(`  director drops: ${drops.map(([k, v]) => `${k.slice(5)} ${v}`).join(", ")}`);
      if (mode !== "tun" && !QUICK) {
        // The same path with TAP offloads: 64 KB TCP segments and partial checksums.
        await d.stop();
        console.log(`wasmvs ${mode.toUpperCase()} with TAP offloads`);
        const o = await director(sb, mode, true);
        results.push(measure(sb, `wasmvs ${mode.toUpperCase()} + offload`, VIP, HTTP_PORT[mode], o.proc.pid));
      }
    });
  }
  report(results, sizes, idle, machine, lateness);
}

async function haproxy(sb: Sandbox, results: Result[]): Promise<void> {
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
    results.push({ path: "haproxy (TCP mode)", tcpGbps: tcp, httpRps: h.rps, httpP50Ms: h.p50, httpP99Ms: h.p99, cpuUsPerRequest: h.cpuUsPerRequest, note: "UDP: not proxied" });
    await sb.stop("haproxy");
}

async function pktfwdPath(sb: Sandbox, results: Result[], pktfwd: string): Promise<void> {
    // The same hop without TAP: veths in the bridges, AF_PACKET rings on their peers, no
    // syscall per frame. The bridge side does not take TCP segments (TSO/GSO off), so
    // every frame fits a ring slot, as TUNSETOFFLOAD(0) does for a TAP.
    console.log("pktfwd: a C forwarder over AF_PACKET rings between two veths, no syscall per frame");
    for (const [veth, peer, br] of [["xo", "po", "bo"], ["xi", "pi", "bi"]]) {
      sb.must(sb.director, ["ip", "link", "add", veth, "type", "veth", "peer", "name", peer]);
      sb.must(sb.director, ["ethtool", "-K", veth, "tso", "off", "gso", "off"]);
      sb.must(sb.director, ["ip", "link", "set", veth, "master", br, "up"]);
      sb.must(sb.director, ["ip", "link", "set", peer, "up"]);
    }
    const pf = sb.spawn(sb.director, [pktfwd, "po", "pi"], "pktfwd");
    await sb.waitFor("pktfwd", () => sb.logOf("pktfwd").includes("forwarding") || pf.exitCode !== null);
    if (pf.exitCode !== null) throw new Error(`pktfwd: ${sb.logOf("pktfwd")}`);
    results.push(measure(sb, "pktfwd (C, AF_PACKET rings)", serverAddress(0), 8080, pf.pid));
    await sb.stop("pktfwd");
}

function report(results: Result[], sizes: SizePoint[], idle: string, machine: string, lateness: string): void {
  const direct = results[0];
  const fmt = (v: number | undefined, d = 0) => (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(d));
  const ratio = (v: number | undefined, b: number | undefined) => (v && b ? `${(v / b).toFixed(2)}x` : "-");
  console.log(`\npath                          UDP kpps  vs direct   TCP Gbit/s  vs direct   HTTP req/s  vs direct  p50 ms  p99 ms`);
  for (const r of results) {
    console.log(`${r.path.padEnd(29)} ${fmt((r.udpPps ?? NaN) / 1000, 1).padStart(8)} ${ratio(r.udpPps, direct.udpPps).padStart(10)} ` +
      `${fmt(r.tcpGbps, 2).padStart(12)} ${ratio(r.tcpGbps, direct.tcpGbps).padStart(10)} ${fmt(r.httpRps).padStart(12)} ` +
      `${ratio(r.httpRps, direct.httpRps).padStart(10)} ${fmt(r.httpP50Ms, 2).padStart(7)} ${fmt(r.httpP99Ms, 2).padStart(7)}` +
      (r.note ? `  (${r.note})` : ""));
  }
  const fwd = results.find((r) => r.path.startsWith("tapfwd (C, 1"));
  const drained = results.find((r) => r.path.startsWith("tapfwd (C, draining"));
  const ha = results.find((r) => r.path.startsWith("haproxy"));
  const nat = results.find((r) => r.path === "wasmvs NAT");
  console.log(`\nwasmvs NAT vs the C forwarder: UDP ${ratio(nat?.udpPps, fwd?.udpPps)} (draining: ${ratio(nat?.udpPps, drained?.udpPps)}), ` +
    `HTTP ${ratio(nat?.httpRps, fwd?.httpRps)} (draining: ${ratio(nat?.httpRps, drained?.httpRps)}); HTTP vs HAProxy: ${ratio(nat?.httpRps, ha?.httpRps)}`);
  // The target of the data-path thread: requests/s >= 0.95x and p99 <= 1.25x the draining C forwarder.
  console.log(`wasmvs NAT vs the draining C forwarder: HTTP requests/s ${ratio(nat?.httpRps, drained?.httpRps)} (target >= 0.95x), ` +
    `p99 ${ratio(nat?.httpP99Ms, drained?.httpP99Ms)} (target <= 1.25x)`);
  const off = results.find((r) => r.path === "wasmvs NAT + offload");
  console.log(`TCP bulk with TAP offloads vs without: NAT ${ratio(off?.tcpGbps, results.find((r) => r.path === "wasmvs NAT")?.tcpGbps)}, ` +
    `DR ${ratio(results.find((r) => r.path === "wasmvs DR + offload")?.tcpGbps, results.find((r) => r.path === "wasmvs DR")?.tcpGbps)}`);
  console.log(`idle director CPU: ${idle}`);
  console.log(`control-plane timer under load: ${lateness}`);
  const folder = join(ROOT, "bench", "results");
  mkdirSync(folder, { recursive: true });
  const cpu = results.filter((r) => r.cpuUsPerRequest !== undefined).map((r) => `${r.path} ${r.cpuUsPerRequest!.toFixed(1)}`);
  console.log(`forwarder CPU per HTTP request (µs): ${cpu.join(", ")}`);
  const growth = (m: string) => {
    const ps = sizes.filter((p) => p.mode === m);
    return ps.length ? `${m} ${(ps[ps.length - 1].cpuUsPerRequest / ps[0].cpuUsPerRequest).toFixed(1)}x` : "";
  };
  if (sizes.length) console.log(`director CPU per request, ${SIZES[SIZES.length - 1]}-byte vs ${SIZES[0]}-byte responses: ${["NAT", "DR", "TUN"].map(growth).filter(Boolean).join(", ")}`);
  const saved: SavedResults = { date: new Date().toISOString(), machine, seconds: SECONDS, quick: QUICK, results, sizes, idle, lateness };
  writeFileSync(join(folder, "e2e-latest.json"), JSON.stringify(saved, null, 2));
  writeFileSync(join(folder, "e2e-report.html"), renderReport(saved));
  console.log(`saved ${join(folder, "e2e-latest.json")} and the report with plots, ${join(folder, "e2e-report.html")}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
