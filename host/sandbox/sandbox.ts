// A sandbox of network namespaces on this machine, for the end-to-end tests, the demo
// and the end-to-end benchmark: real Linux hosts around a wasmvs director.
//
//   client 10.0.0.2 ─┐                        ┌─ server 1 10.1.0.11
//   router 10.0.0.254┤ bridge bo ─ TAP wvo    │  server 2 10.1.0.12
//                    │   [ director: wasmvs ] ├─ server 3 10.1.0.13
//   (router 10.1.0.254 on the inside too)     │
//                      bridge bi ─ TAP wvi ───┘
//
// The director's namespace holds the two bridges; wasmvs attaches a TAP to each. The
// router joins both segments (for DR and TUN the servers answer clients through it,
// never through the director). In NAT mode the servers' default route is the director
// (10.1.0.1). In DR and TUN mode the servers hold the VIP on loopback and do not answer
// ARP for it; in TUN mode each server's stack sits behind `wasmvs decap`.
//
// Everything lives in namespaces whose names start with a unique prefix; destroy()
// kills what runs in them and deletes them, devices included.

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type Mode = "nat" | "dr" | "tun";

export const VIP = "10.0.0.100";
export const CLIENT = "10.0.0.2";
export const DIRECTOR_OUT = "10.0.0.1";
export const DIRECTOR_IN = "10.1.0.1";
export const ROUTER_OUT = "10.0.0.254";
export const ROUTER_IN = "10.1.0.254";
/** The director host's address on the servers' segment, for health checks (addCheckSource). */
export const CHECK_SOURCE = "10.1.0.2";
export const OUT_MAC = "02:00:00:00:00:01";
export const IN_MAC = "02:00:00:00:01:01";
export const serverAddress = (k: number) => `10.1.0.${11 + k}`;
export const serverName = (k: number) => `server${k + 1}`;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dir !== "/") dir = dirname(dir);
  return dir;
}
export const ROOT = packageRoot();
const TOOLS = join(ROOT, "host", "sandbox", "tools");
const CLI = join(ROOT, "bin", "wasmvs.js");

export interface SandboxOptions {
  mode: Mode;
  servers?: number;
  /** Ports the servers answer HTTP on. */
  httpPorts?: number[];
  udpPorts?: number[];
  prefix?: string;
  log?: (line: string) => void;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Why the sandbox cannot be built here, or undefined if it can. */
export function sandboxUnavailable(): string | undefined {
  if (process.getuid && process.getuid() !== 0) return "needs root (network namespaces, bridges, TAP devices)";
  const ip = spawnSync("ip", ["-V"], { encoding: "utf8" });
  if (ip.error) return "needs the ip command (iproute2)";
  if (!existsSync("/dev/net/tun")) return "needs /dev/net/tun (the tun module)";
  if (!existsSync(join(ROOT, "build", "Release", "wasmvs_tap.node"))) return "needs the TAP addon (npm install builds it)";
  return undefined;
}

/** What the client tool does: requests, in parallel or one after another, on new or kept connections. */
export interface HttpLoad {
  requests: number;
  concurrency?: number;
  keepalive?: boolean;
  intervalMs?: number;
  timeoutMs?: number;
  post?: number;
  /** Report when each request was answered (Date.now()). */
  times?: boolean;
  /** Stop starting requests after this long. */
  durationMs?: number;
  /** The client address to send from (one the client namespace holds). */
  source?: string;
}

function httpClientArgs(url: string, o: HttpLoad): string[] {
  const args = [process.execPath, join(TOOLS, "client.mjs"), "http", url, "--requests", String(o.requests), "--concurrency", String(o.concurrency ?? 1)];
  if (o.keepalive) args.push("--keepalive");
  if (o.intervalMs) args.push("--interval", String(o.intervalMs));
  if (o.post) args.push("--post", String(o.post));
  if (o.timeoutMs) args.push("--timeout", String(o.timeoutMs));
  if (o.times) args.push("--times");
  if (o.durationMs) args.push("--duration", String(o.durationMs));
  if (o.source) args.push("--source", o.source);
  return args;
}

/** The director block of one of two or more directors on a sandbox's segments (VRRP,
 *  failover): TAPs TAP+"o" and TAP+"i" in the two bridges, MACs 02:00:00:00:MM:01 and :02,
 *  addresses 10.0.0.HOST/24 and 10.1.0.HOST/24, the router as default gateway, and extra
 *  lines of the block after it. */
export function pairDirectorBlock(tap: string, macByte: string, host: number, extra = ""): string {
  return `director {
  interface outside {
    tap ${tap}o
    bridge bo
    mac 02:00:00:00:${macByte}:01
    address 10.0.0.${host}/24
  }
  interface inside {
    tap ${tap}i
    bridge bi
    mac 02:00:00:00:${macByte}:02
    address 10.1.0.${host}/24
  }
  default_gateway ${ROUTER_OUT}${extra ? `\n${extra}` : ""}
}
`;
}

export class Sandbox {
  readonly prefix: string;
  readonly dir: string;
  readonly director: string;
  readonly client: string;
  readonly router: string;
  readonly servers: string[];
  private procs: ChildProcess[] = [];
  private named = new Map<string, ChildProcess>();
  private namespaces: string[] = [];
  private destroyed = false;

  private constructor(readonly o: Required<Omit<SandboxOptions, "log" | "prefix">> & { log: (l: string) => void }, prefix: string) {
    this.prefix = prefix;
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    this.director = `${prefix}d`;
    this.client = `${prefix}c`;
    this.router = `${prefix}g`;
    this.servers = Array.from({ length: o.servers }, (_, k) => `${prefix}r${k + 1}`);
  }

  static async create(options: SandboxOptions): Promise<Sandbox> {
    const prefix = options.prefix ?? `wv${process.pid % 10000}${Math.random().toString(36).slice(2, 5)}`;
    const s = new Sandbox({
      mode: options.mode,
      servers: options.servers ?? 3,
      httpPorts: options.httpPorts ?? [options.mode === "nat" ? 8080 : 80],
      udpPorts: options.udpPorts ?? [],
      log: options.log ?? (() => {}),
    }, prefix);
    try {
      s.build();
    } catch (e) {
      await s.destroy();
      throw e;
    }
    return s;
  }

  /** Run a command in a namespace and wait for it. */
  run(ns: string, argv: string[], timeoutMs = 60000): RunResult {
    const r = spawnSync("ip", ["netns", "exec", ns, ...argv], { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
  }

  /** Run a command in a namespace; throw with its output if it fails. */
  must(ns: string, argv: string[]): string {
    const r = this.run(ns, argv);
    if (r.status !== 0) throw new Error(`in ${ns}: ${argv.join(" ")}: exit ${r.status}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  private host(argv: string[]): void {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr?.trim() || r.error}`);
  }

  private addNs(ns: string): void {
    this.host(["ip", "netns", "add", ns]);
    this.namespaces.push(ns);
    this.must(ns, ["ip", "link", "set", "lo", "up"]);
    this.must(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]);
    // Where the kernel has br_netfilter, a new namespace passes bridged frames through
    // iptables; nothing here filters bridged traffic, so the bridges skip that work (as
    // on a director without Docker-style bridge filtering; README: Wiring it on a director).
    if (existsSync("/proc/sys/net/bridge/bridge-nf-call-iptables")) {
      this.must(ns, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-arptables=0"]);
    }
  }

  /** A veth pair from namespace a (name an, in bridge) to namespace b (name bn). */
  private veth(a: string, an: string, bridge: string, b: string, bn: string): void {
    this.host(["ip", "-n", a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b]);
    this.must(a, ["ip", "link", "set", an, "master", bridge, "up"]);
    this.must(b, ["ip", "link", "set", bn, "up"]);
  }

  private build(): void {
    const { mode } = this.o;
    for (const ns of [this.director, this.client, this.router, ...this.servers]) this.addNs(ns);
    for (const br of ["bo", "bi"]) {
      this.must(this.director, ["ip", "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
      this.must(this.director, ["ip", "link", "set", br, "up"]);
    }
    this.veth(this.director, "c1", "bo", this.client, "eth0");
    this.must(this.client, ["ip", "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
    this.must(this.client, ["ip", "route", "add", "default", "via", ROUTER_OUT]);
    this.veth(this.director, "go", "bo", this.router, "eo");
    this.veth(this.director, "gi", "bi", this.router, "ei");
    this.must(this.router, ["ip", "addr", "add", `${ROUTER_OUT}/24`, "dev", "eo"]);
    this.must(this.router, ["ip", "addr", "add", `${ROUTER_IN}/24`, "dev", "ei"]);
    this.must(this.router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    this.servers.forEach((ns, k) => {
      this.veth(this.director, `r${k + 1}`, "bi", ns, "eth0");
      let dev = "eth0";
      if (mode === "tun") {
        // The stack behind the decapsulator: eth0 and the decapsulator's uplink TAP
        // share a bridge; the server's address lives on the stack TAP.
        this.must(ns, ["ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
        this.must(ns, ["ip", "link", "set", "br0", "up"]);
        this.must(ns, ["ip", "link", "set", "eth0", "master", "br0"]);
        this.must(ns, ["ip", "tuntap", "add", "dev", "dup", "mode", "tap"]);
        this.must(ns, ["ip", "link", "set", "dup", "master", "br0", "up"]);
        this.must(ns, ["ip", "tuntap", "add", "dev", "dst", "mode", "tap"]);
        this.must(ns, ["ip", "link", "set", "dst", "up"]);
        dev = "dst";
      }
      this.must(ns, ["ip", "addr", "add", `${serverAddress(k)}/24`, "dev", dev]);
      this.must(ns, ["ip", "route", "add", "default", "via", mode === "nat" ? DIRECTOR_IN : ROUTER_IN]);
      if (mode !== "nat") {
        // The VIP on loopback, never announced: the LVS-DR/TUN real-server setup.
        this.must(ns, ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
          "net.ipv4.conf.all.rp_filter=0", `net.ipv4.conf.${dev}.rp_filter=0`, "net.ipv4.conf.lo.rp_filter=0"]);
        this.must(ns, ["ip", "addr", "add", `${VIP}/32`, "dev", "lo"]);
      }
    });
    this.o.log(`sandbox ${this.prefix}: client ${CLIENT}, router, director, ${this.servers.length} servers (${mode.toUpperCase()})`);
  }

  /** Start a long-running command in a namespace; its output goes to a log file. */
  spawn(ns: string, argv: string[], name: string): ChildProcess {
    const logPath = join(this.dir, `${name}.log`);
    const fd = openSync(logPath, "a");
    const p = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["ignore", fd, fd], detached: false });
    closeSync(fd);
    this.procs.push(p);
    this.named.set(name, p);
    return p;
  }

  /** Stop a process started with spawn() and wait for it. */
  async stop(name: string): Promise<void> {
    const p = this.named.get(name);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    await this.waitFor(`${name} to stop`, () => p.exitCode !== null || p.signalCode !== null, 10000);
  }

  logOf(name: string): string {
    const p = join(this.dir, `${name}.log`);
    return existsSync(p) ? readFileSync(p, "utf8") : "";
  }

  async waitFor(what: string, test: () => boolean, timeoutMs = 15000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!test()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async startServers(): Promise<void> {
    this.servers.forEach((ns, k) => {
      const args = [process.execPath, join(TOOLS, "server.mjs"), serverName(k)];
      for (const p of this.o.httpPorts) args.push("--http", String(p));
      for (const p of this.o.udpPorts) args.push("--udp", String(p));
      this.spawn(ns, args, serverName(k));
    });
    for (let k = 0; k < this.servers.length; k++) await this.waitFor(`${serverName(k)} to listen`, () => this.logOf(serverName(k)).includes("ready"));
  }

  /** Start one more server process in server k's namespace (server.mjs with args, answering
   *  with body), logging to name; resolves when it listens. */
  async startServerProcess(k: number, name: string, args: string[], body = name): Promise<void> {
    this.spawn(this.servers[k], [process.execPath, join(TOOLS, "server.mjs"), body, ...args], name);
    await this.waitFor(`${name} to listen`, () => this.logOf(name).includes("ready"));
  }

  /** One more host on a segment (bo: the clients', bi: the servers'): a namespace of this
   *  sandbox with eth0 in that bridge and the address given; returns its name. */
  addHost(name: string, bridge: "bo" | "bi", address: string): string {
    const ns = `${this.prefix}${name}`;
    this.addNs(ns);
    this.veth(this.director, `h${name}`.slice(0, 15), bridge, ns, "eth0");
    this.must(ns, ["ip", "addr", "add", address, "dev", "eth0"]);
    return ns;
  }

  /** The director host's own address on the servers' segment (the inside bridge), which
   *  health checks leave from, as keepalived's do from the director's kernel. */
  addCheckSource(): string {
    this.must(this.director, ["ip", "addr", "add", `${CHECK_SOURCE}/24`, "dev", "bi"]);
    return CHECK_SOURCE;
  }

  async startDecapsulators(): Promise<void> {
    this.servers.forEach((ns, k) => {
      this.spawn(ns, [process.execPath, CLI, "decap", "--uplink", "dup", "--stack", "dst", "--address", serverAddress(k)], `decap${k + 1}`);
    });
    for (let k = 0; k < this.servers.length; k++) await this.waitFor(`decapsulator ${k + 1}`, () => this.logOf(`decap${k + 1}`).includes("decapsulating"));
  }

  /** The director's configuration for this sandbox: one service per port given. */
  config(services: { protocol: "tcp" | "udp"; port: number; scheduler: string; serverPort?: number; weights?: number[] }[]): string {
    const flag = { nat: "-m", dr: "-g", tun: "-i" }[this.o.mode];
    const lines = [
      `interface 0 name outside tap wvo bridge bo mac ${OUT_MAC} address ${DIRECTOR_OUT}/24 mtu 1500`,
      `interface 1 name inside tap wvi bridge bi mac ${IN_MAC} address ${DIRECTOR_IN}/24 mtu 1500`,
      `route default via ${ROUTER_OUT}`,
      "connections 262144",
    ];
    for (const s of services) {
      const p = s.protocol === "tcp" ? "-t" : "-u";
      lines.push(`-A ${p} ${VIP}:${s.port} -s ${s.scheduler}`);
      this.servers.forEach((_, k) => {
        lines.push(`-a ${p} ${VIP}:${s.port} -r ${serverAddress(k)}:${s.serverPort ?? s.port} ${flag} -w ${s.weights?.[k] ?? 1}`);
      });
    }
    return lines.join("\n") + "\n";
  }

  /** The same director as keepalived.conf (with wasmvs's director block). */
  keepalivedConfig(services: { protocol: "tcp" | "udp"; port: number; scheduler: string; serverPort?: number; weights?: number[] }[], extra = ""): string {
    const kind = { nat: "NAT", dr: "DR", tun: "TUN" }[this.o.mode];
    const lines = [
      "director {",
      "  interface outside {", "    tap wvo", "    bridge bo", `    mac ${OUT_MAC}`, `    address ${DIRECTOR_OUT}/24`, "  }",
      "  interface inside {", "    tap wvi", "    bridge bi", `    mac ${IN_MAC}`, `    address ${DIRECTOR_IN}/24`, "  }",
      `  default_gateway ${ROUTER_OUT}`, "  connection_table_size 262144", extra, "}",
    ];
    for (const s of services) {
      lines.push(`virtual_server ${VIP} ${s.port} {`, `  protocol ${s.protocol.toUpperCase()}`, `  lb_algo ${s.scheduler}`, `  lb_kind ${kind}`);
      this.servers.forEach((_, k) => {
        if (s.weights && s.weights[k] === undefined) return;
        lines.push(`  real_server ${serverAddress(k)} ${s.serverPort ?? s.port} {`, `    weight ${s.weights?.[k] ?? 1}`, "  }");
      });
      lines.push("}");
    }
    return lines.join("\n") + "\n";
  }

  /** Start wasmvs in the director's namespace with configText; resolves when it runs.
   *  socket: the control socket's path, or "default" for the namespace's own default. */
  async startDirector(configText: string, socket = join(this.dir, "control.sock"), name = "director", extraArgs: string[] = []): Promise<Director> {
    // A second director (VRRP tests) runs in the same namespace with files of its own.
    const config = join(this.dir, name === "director" ? "director.rules" : `${name}.conf`);
    writeFileSync(config, configText);
    const status = join(this.dir, name === "director" ? "status.json" : `${name}-status.json`);
    rmSync(status, { force: true });
    // WASMVS_DIRECTOR_NODE_FLAGS: node flags for the director (e.g. --trace-gc, --cpu-prof) when investigating.
    const argv = [process.execPath, ...(process.env.WASMVS_DIRECTOR_NODE_FLAGS ?? "").split(" ").filter(Boolean), CLI, "run", "--config", config, "--status", status, ...(socket === "default" ? [] : ["--socket", socket]), ...extraArgs];
    const proc = this.spawn(this.director, argv, name);
    await this.waitFor(`${name} to start`, () => (existsSync(status) && (socket === "default" || existsSync(socket))) || proc.exitCode !== null);
    if (proc.exitCode !== null) throw new Error(`${name} exited: ${this.logOf(name)}`);
    return new Director(this, proc, config, status, socket, name);
  }

  /** HTTP requests from the client; returns what it saw. */
  http(url: string, o: HttpLoad): { bodies: string[]; errors: string[]; ports: number[] } {
    const r = this.run(this.client, httpClientArgs(url, o), 120000);
    if (r.status !== 0) throw new Error(`client failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Start a long HTTP client in the background (its JSON result arrives on its log). */
  httpInBackground(url: string, o: HttpLoad, name: string): ChildProcess {
    return this.spawn(this.client, httpClientArgs(url, o), name);
  }

  udp(host: string, port: number, count: number): { replies: string[]; errors: string[] } {
    const r = this.run(this.client, [process.execPath, join(TOOLS, "client.mjs"), "udp", host, String(port), "--count", String(count), "--timeout", "5000"]);
    if (r.status !== 0) throw new Error(`udp client failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGTERM");
    const end = Date.now() + 3000;
    while (this.procs.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    for (const ns of this.namespaces) {
      // Anything still running inside (a grandchild of ip netns exec) goes too.
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout?.split(/\s+/).filter(Boolean) ?? [];
      for (const pid of pids) try { process.kill(Number(pid), "SIGKILL"); } catch { /* gone */ }
      spawnSync("ip", ["netns", "del", ns]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class Director {
  constructor(private readonly sb: Sandbox, readonly proc: ChildProcess, readonly configPath: string, readonly statusPath: string,
    readonly socket: string, readonly name = "director") {}

  /** Run the wasmvs command line (ipvsadm's options) against this director. */
  ipvsadm(args: string[], input?: string): RunResult {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", input, env: { ...process.env, WASMVS_SOCKET: this.socket }, timeout: 30000 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** The status the director wrote last (services, statistics, counters). */
  status(): DirectorStatus {
    return JSON.parse(readFileSync(this.statusPath, "utf8"));
  }

  /** A fresh status: waits for the next write. */
  async freshStatus(): Promise<DirectorStatus> {
    const before = this.status().time;
    await this.sb.waitFor("a status update", () => this.status().time !== before, 5000);
    return this.status();
  }

  /** Write a new configuration and send SIGHUP; resolves when the director has answered. */
  async reload(configText: string): Promise<string> {
    writeFileSync(this.configPath, configText);
    const before = this.sb.logOf(this.name).length;
    this.proc.kill("SIGHUP");
    await this.sb.waitFor("the reload", () => /reload(ed|\s+refused)/.test(this.sb.logOf(this.name).slice(before)), 10000);
    return this.sb.logOf(this.name).slice(before);
  }

  async stop(): Promise<string> {
    this.proc.kill("SIGTERM");
    await this.sb.waitFor(`${this.name} to stop`, () => this.proc.exitCode !== null || this.proc.signalCode !== null, 10000);
    return this.sb.logOf(this.name);
  }
}

export interface DirectorStatus {
  time: string;
  connections: number;
  /** The control plane: how late its 100 ms heartbeat fires, errors survived, requests refused. */
  control?: { timer: { periodMs: number; lastMs: number; maxMs: number; p99Ms: number }; errors: number; refused: number };
  counters: Record<string, number>;
  services: {
    protocol: string; address: string; port: number; scheduler: string;
    stats: { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number };
    realServers: { address: string; port: number; weight: number; active: number; inactive: number; stats: { conns: number; inpkts: number; outpkts: number } }[];
  }[];
}
