// A sandbox of network namespaces on this machine, for the end-to-end tests, the demo
// and the end-to-end benchmark: real Linux hosts around a wasmvs director.
//
//   client 10.0.0.2 ─┐                        ┌─ server 1 10.1.0.11
//   router 10.0.0.254┤ bridge bo ─ TAP wvo    │  server 2 10.1.0.12
//                    │   [ director: wasmvs ] ├─ server 3 10.1.0.13
//   (router 10.1.0.254 on the inside too)     │
//                      bridge bi ─ TAP wvi ───┘
//
// The director's namespace holds the two bridges; wasmvs attaches a TAP to each
// (WASMVS_BACKEND=tap, the default). With WASMVS_BACKEND=xdp the bridges are the physical
// network instead: a switch namespace holds them, and the director host has two NICs of
// its own, veths xo and xi whose peers are ports of bo and bi, carrying the host's
// addresses 10.0.0.1 and 10.1.0.1 and MACs; wasmvs attaches its AF_XDP rings to them
// (`device xo`) and shares the host's addresses and MACs, as an IPVS director does:
//
//   client, router ── bridge bo ── xo [ director host: wasmvs on xo, xi ] xi ── bridge bi ── servers, router
//                     (switch namespace)                                        (switch namespace)
//
// The router joins both segments (for DR and TUN the servers answer clients through it,
// never through the director). In NAT mode the servers' default route is the director
// (10.1.0.1). In DR and TUN mode the servers hold the VIP on loopback and do not answer
// ARP for it; in TUN mode each server's stack sits behind `wasmvs decap`.
//
// With ipv6: true an IPv6 plan runs beside the IPv4 one (opt-in; without it nothing
// changes): the client 2001:db8::2/64 and the router 2001:db8::fe on the outside, the
// servers 2001:db8:1::11-13/64 and the router 2001:db8:1::fe inside, the director's
// interfaces 2001:db8::1 and 2001:db8:1::1, the v6 VIP 2001:db8::100. Every address is
// added `nodad` (no 1 s duplicate-address wait; nothing else on these links claims them).
// NAT servers route IPv6 via the director; DR and TUN servers via the router, holding the
// v6 VIP on lo as a /128. IPv6 has no arp_ignore: Linux answers a Neighbor Solicitation
// only for an address on the interface it arrived on (ndisc_recv_ns looks the target up
// with ipv6_get_ifaddr(..., dev, strict)), so the VIP on lo is never advertised on eth0
// (the e2e test checks that a neighbour on the segment cannot resolve it). The director's
// v6 addresses: on TAP the config helpers give the engine `address` lines for them; on
// the xdp backend the host's NICs xo and xi hold them (its XDP program leaves IPv6 to the
// host's stack, so the kernel answers for them, as it does for the host's IPv4 ARP).
//
// Everything lives in namespaces whose names start with a unique prefix; destroy()
// kills what runs in them and deletes them, devices included.

import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { xdpReadiness } from "../control/devices.js";

export type Mode = "nat" | "dr" | "tun";
/** How wasmvs reaches the wire: its own TAP in a bridge, or AF_XDP rings on the host's NICs. */
export type Backend = "tap" | "xdp";

/** The backend the end-to-end tests run against: WASMVS_BACKEND (tap when unset). */
export function backendFromEnvironment(): Backend {
  const b = process.env.WASMVS_BACKEND ?? "tap";
  if (b !== "tap" && b !== "xdp") throw new Error(`WASMVS_BACKEND=${b}: expected tap or xdp`);
  return b;
}

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
/** The IPv6 plan (SandboxOptions.ipv6). */
export const VIP6 = "2001:db8::100";
export const CLIENT6 = "2001:db8::2";
export const DIRECTOR_OUT6 = "2001:db8::1";
export const DIRECTOR_IN6 = "2001:db8:1::1";
export const ROUTER_OUT6 = "2001:db8::fe";
export const ROUTER_IN6 = "2001:db8:1::fe";
/** The director host's IPv6 address on the servers' segment, for health checks (addCheckSource6). */
export const CHECK_SOURCE6 = "2001:db8:1::2";
export const serverAddress6 = (k: number) => `2001:db8:1::${11 + k}`;

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
  /** TAP in bridges, or the host's own NICs (xdp); WASMVS_BACKEND when not given. */
  backend?: Backend;
  /** xdp only: no switch and no router; the director's NICs xo and xi are the peers of the
   *  client's eth0 and of the one server's eth0 (a director cabled straight to its hosts). */
  direct?: boolean;
  /** The IPv6 plan beside the IPv4 one (see the top of this file); off by default. */
  ipv6?: boolean;
}

/** One service of Sandbox.config() / keepalivedConfig(). */
export interface SandboxService {
  protocol: "tcp" | "udp";
  port: number;
  scheduler: string;
  serverPort?: number;
  weights?: number[];
  /** The VIP's family: 6 is VIP6 (the IPv6 plan); 4 unless given. */
  family?: 4 | 6;
  /** The servers' family when it differs (TUN only: 4in6, 6in4); the VIP's unless given. */
  serverFamily?: 4 | 6;
}

/** An address as ipvsadm writes it before :PORT ([addr] for IPv6). */
const hostPort = (a: string) => (a.includes(":") ? `[${a}]` : a);

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
  if (backendFromEnvironment() === "xdp") {
    const xdp = xdpReadiness();
    if (!xdp.ready) return `WASMVS_BACKEND=xdp needs the AF_XDP backend: ${xdp.say}`;
  }
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

/** The client's own source ports for HTTP loads of up to CLIENT_PORTS.loadLimit requests,
 *  below the kernel's ephemeral range (which the client namespace keeps at 32768-60999).
 *  Why not the kernel's: Linux picks a connect()'s port from a counter it keeps per
 *  (source, destination, port) hash, global to the machine, not per namespace, so every
 *  sandbox running at once (same addresses) advances the same counter by about 9 a
 *  connection, and it wraps the 28k range after some 3,000 connections all told. A port
 *  reused that way meets this director's entry of a DR or TUN connection still in
 *  FIN_WAIT (two minutes, and kept across restarts), and the SYN goes to that entry's
 *  server, as IPVS with conn_reuse_mode=1 does: the exact rr tallies the tests expect
 *  then come out 1/3/2 one run in many. Counted per sandbox, a port comes back only
 *  after 22,768 of its own connections. */
const CLIENT_PORTS = { first: 10000, last: 32767, loadLimit: 10000 };

function httpClientArgs(url: string, o: HttpLoad, firstPort: number | undefined): string[] {
  const args = [process.execPath, join(TOOLS, "client.mjs"), "http", url, "--requests", String(o.requests), "--concurrency", String(o.concurrency ?? 1)];
  if (firstPort !== undefined) args.push("--first-port", String(firstPort));
  if (o.keepalive) args.push("--keepalive");
  if (o.intervalMs) args.push("--interval", String(o.intervalMs));
  if (o.post) args.push("--post", String(o.post));
  if (o.timeoutMs) args.push("--timeout", String(o.timeoutMs));
  if (o.times) args.push("--times");
  if (o.durationMs) args.push("--duration", String(o.durationMs));
  if (o.source) args.push("--source", o.source);
  return args;
}

/** The TAP form of the director block of one of two or more directors on a sandbox's
 *  segments (VRRP, failover; Sandbox.pairDirector gives the form of the sandbox's backend): TAPs TAP+"o" and TAP+"i" in the two bridges, MACs 02:00:00:00:MM:01 and :02,
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
  readonly backend: Backend;
  readonly director: string;
  /** The namespace holding the bridges bo and bi: the director's (tap) or the switch's (xdp). */
  readonly switchNs: string;
  /** The director's interfaces as the rules name them: TAPs wvo and wvi, or NICs xo and xi. */
  readonly outsideDevice: string;
  readonly insideDevice: string;
  /** The largest MTU the jumbo-frame tests give every link: 9000 on TAP; on the host's NICs
   *  (veths) 3506, the most a veth takes with an XDP program of its own attached (a page, less
   *  XDP's headroom and the skb_shared_info, less the Ethernet header: above it the kernel
   *  refuses the attach with ERANGE), below the 3822 an AF_XDP frame would hold. */
  readonly jumboMtu: number;
  /** Both ends of every veth of the sandbox, for changing the whole network's MTU. */
  readonly links: [string, string][] = [];
  readonly client: string;
  readonly router: string;
  readonly servers: string[];
  private procs: ChildProcess[] = [];
  private nextClientPort = CLIENT_PORTS.first;
  private named = new Map<string, ChildProcess>();
  private namespaces: string[] = [];
  /** The director host's NICs made so far (xdp), by name. */
  private nics = new Set<string>();
  private destroyed = false;

  private constructor(readonly o: Required<Omit<SandboxOptions, "log" | "prefix">> & { log: (l: string) => void }, prefix: string) {
    this.prefix = prefix;
    this.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    this.backend = o.backend;
    this.director = `${prefix}d`;
    this.switchNs = o.backend === "xdp" ? `${prefix}s` : this.director;
    [this.outsideDevice, this.insideDevice] = o.backend === "xdp" ? ["xo", "xi"] : ["wvo", "wvi"];
    this.jumboMtu = o.backend === "xdp" ? 3506 : 9000;
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
      backend: options.backend ?? backendFromEnvironment(),
      direct: options.direct ?? false,
      ipv6: options.ipv6 ?? false,
    }, prefix);
    if (s.o.ipv6 && s.o.direct) throw new Error("the IPv6 plan needs the router: not with a direct sandbox");
    if (s.o.direct && (s.o.backend !== "xdp" || s.o.servers !== 1)) throw new Error("a direct sandbox is xdp with one server");
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
  private veth(a: string, an: string, bridge: string | undefined, b: string, bn: string): void {
    this.host(["ip", "-n", a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b]);
    this.links.push([a, an], [b, bn]);
    this.must(a, ["ip", "link", "set", an, ...(bridge ? ["master", bridge] : []), "up"]);
    this.must(b, ["ip", "link", "set", bn, "up"]);
  }

  /** A NIC of the director host (xdp): veth name in the director's namespace, its peer of
   *  the same name a port of bridge (or, with no bridge, peerNs's eth0), with the MAC and
   *  the host's address given. Made once; later calls with the same name return at once. */
  private nic(name: string, bridge: "bo" | "bi" | undefined, mac: string, address: string, peerNs = this.switchNs): void {
    if (this.nics.has(name)) return;
    this.veth(peerNs, bridge ? name : "eth0", bridge, this.director, name);
    this.must(this.director, ["ip", "link", "set", name, "address", mac]);
    this.must(this.director, ["ip", "addr", "add", address, "dev", name]);
    this.nics.add(name);
  }

  /** The director host's NICs xo and xi with the addresses and MACs of the sandbox's director. */
  private directorNics(): void {
    if (this.backend !== "xdp" || this.o.direct) return;
    const first = !this.nics.has("xo");
    this.nic("xo", "bo", OUT_MAC, `${DIRECTOR_OUT}/24`);
    this.nic("xi", "bi", IN_MAC, `${DIRECTOR_IN}/24`);
    // The IPv6 plan on the host's NICs: the XDP program leaves IPv6 to the host's own
    // stack, so the director host's kernel holds and answers the director's v6 addresses.
    if (first && this.o.ipv6) {
      this.enableIpv6(this.director, ["xo", "xi"]);
      this.addr6(this.director, `${DIRECTOR_OUT6}/64`, "xo");
      this.addr6(this.director, `${DIRECTOR_IN6}/64`, "xi");
    }
  }

  /** Where frames to and from the director's interface dev (a TAP, or a NIC of the host) can
   *  be watched or cut on the switch: the bridge port that carries them, named as dev. A TAP
   *  is its own port; a NIC's peer is. (Frames an AF_XDP socket sends or takes are not seen
   *  by a capture on the NIC itself: they bypass the stack's packet taps.) */
  bridgePort(dev: string): { ns: string; dev: string } {
    return { ns: this.switchNs, dev };
  }

  private build(): void {
    const { mode } = this.o;
    if (this.o.direct) return this.buildDirect();
    for (const ns of [this.director, this.client, this.router, ...this.servers]) this.addNs(ns);
    if (this.backend === "xdp") {
      this.addNs(this.switchNs);
      this.hostOnNics();
    }
    for (const br of ["bo", "bi"]) {
      this.must(this.switchNs, ["ip", "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
      this.must(this.switchNs, ["ip", "link", "set", br, "up"]);
    }
    this.veth(this.switchNs, "c1", "bo", this.client, "eth0");
    this.must(this.client, ["ip", "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
    this.must(this.client, ["sysctl", "-qw", `net.ipv4.ip_local_port_range=${CLIENT_PORTS.last + 1} 60999`]);
    this.must(this.client, ["ip", "route", "add", "default", "via", ROUTER_OUT]);
    this.veth(this.switchNs, "go", "bo", this.router, "eo");
    this.veth(this.switchNs, "gi", "bi", this.router, "ei");
    this.must(this.router, ["ip", "addr", "add", `${ROUTER_OUT}/24`, "dev", "eo"]);
    this.must(this.router, ["ip", "addr", "add", `${ROUTER_IN}/24`, "dev", "ei"]);
    this.must(this.router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    this.servers.forEach((ns, k) => {
      this.veth(this.switchNs, `r${k + 1}`, "bi", ns, "eth0");
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
    if (this.o.ipv6) this.buildIpv6();
    this.o.log(`sandbox ${this.prefix}: client ${CLIENT}, router, director, ${this.servers.length} servers (${mode.toUpperCase()}, ${this.backend}${this.o.ipv6 ? ", IPv6" : ""})`);
  }

  /** IPv6 on in namespace ns for the devices given (addNs turned it off everywhere): no
   *  DAD and no router advertisements taken, so addresses work at once and routes are the
   *  plan's only. */
  private enableIpv6(ns: string, devs: string[]): void {
    const conf = (d: string) => [`net.ipv6.conf.${d}.disable_ipv6=0`, `net.ipv6.conf.${d}.accept_dad=0`, `net.ipv6.conf.${d}.accept_ra=0`];
    this.must(ns, ["sysctl", "-qw", ...conf("all"), ...conf("default"), ...devs.flatMap(conf)]);
  }

  private addr6(ns: string, address: string, dev: string): void {
    this.must(ns, ["ip", "-6", "addr", "add", address, "dev", dev, "nodad"]);
  }

  /** The IPv6 plan (SandboxOptions.ipv6) on the hosts build() made. */
  private buildIpv6(): void {
    const { mode } = this.o;
    this.enableIpv6(this.client, ["lo", "eth0"]);
    this.addr6(this.client, `${CLIENT6}/64`, "eth0");
    this.must(this.client, ["ip", "-6", "route", "add", "default", "via", ROUTER_OUT6]);
    this.enableIpv6(this.router, ["lo", "eo", "ei"]);
    this.addr6(this.router, `${ROUTER_OUT6}/64`, "eo");
    this.addr6(this.router, `${ROUTER_IN6}/64`, "ei");
    this.must(this.router, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    this.servers.forEach((ns, k) => {
      const dev = mode === "tun" ? "dst" : "eth0";
      this.enableIpv6(ns, ["lo", dev]);
      this.addr6(ns, `${serverAddress6(k)}/64`, dev);
      this.must(ns, ["ip", "-6", "route", "add", "default", "via", mode === "nat" ? DIRECTOR_IN6 : ROUTER_IN6]);
      // The VIP on lo only: Linux answers NS on eth0 for eth0's own addresses alone (top of file).
      if (mode !== "nat") this.addr6(ns, `${VIP6}/128`, "lo");
    });
  }

  /** The director host's own IPv6 address on the servers' segment (the IPv6 twin of
   *  addCheckSource; TAP backend: on the inside bridge). */
  addCheckSource6(): string {
    if (!this.o.ipv6) throw new Error("addCheckSource6 needs the IPv6 plan (Sandbox.create({ ipv6: true }))");
    const dev = this.backend === "tap" ? "bi" : this.insideDevice;
    if (this.backend !== "tap") this.directorNics();
    this.enableIpv6(this.director, [dev]);
    this.addr6(this.director, `${CHECK_SOURCE6}/64`, dev);
    return CHECK_SOURCE6;
  }

  /** The director host's kernel beside wasmvs on its NICs (xdp): a multi-homed host answers
   *  ARP only on the NIC that holds the address asked for (arp_ignore=1, the usual LVS
   *  director setting; with the default 0 each NIC would answer for the other's address, and
   *  for the other director's in the VRRP tests), and it routes nothing itself: the engine
   *  forwards (ip_forward=0, so a frame the XDP program passes up is never forwarded twice). */
  private hostOnNics(): void {
    this.must(this.director, ["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.ip_forward=0"]);
  }

  /** xdp, no switch: director ─ xo ══ eth0 client; director ─ xi ══ eth0 server (NAT). */
  private buildDirect(): void {
    for (const ns of [this.director, this.client, ...this.servers]) this.addNs(ns);
    this.hostOnNics();
    this.nic("xo", undefined, OUT_MAC, `${DIRECTOR_OUT}/24`, this.client);
    this.nic("xi", undefined, IN_MAC, `${DIRECTOR_IN}/24`, this.servers[0]);
    this.must(this.client, ["ip", "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
    this.must(this.client, ["sysctl", "-qw", `net.ipv4.ip_local_port_range=${CLIENT_PORTS.last + 1} 60999`]);
    this.must(this.servers[0], ["ip", "addr", "add", `${serverAddress(0)}/24`, "dev", "eth0"]);
    this.must(this.servers[0], ["ip", "route", "add", "default", "via", DIRECTOR_IN]);
    this.o.log(`sandbox ${this.prefix}: client ${CLIENT} and ${serverAddress(0)} cabled straight to the director's NICs`);
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
      if (this.o.ipv6) args.push("--host", "::");
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
    this.veth(this.switchNs, `h${name}`.slice(0, 15), bridge, ns, "eth0");
    this.must(ns, ["ip", "addr", "add", address, "dev", "eth0"]);
    return ns;
  }

  /** The director host's own address on the servers' segment, which health checks leave
   *  from, as keepalived's do from the director's kernel. On TAP it is the host's only
   *  address there (on the inside bridge). On xdp the host already holds 10.1.0.1 on xi, the
   *  address wasmvs shares, and the checks leave from that one (the primary); CHECK_SOURCE
   *  is added beside it on xi so that what the tests bind to it (a metrics listener) is the
   *  host's, reached through the XDP program's pass to the stack (a local address). */
  addCheckSource(): string {
    if (this.backend === "tap") {
      this.must(this.director, ["ip", "addr", "add", `${CHECK_SOURCE}/24`, "dev", "bi"]);
    } else {
      this.directorNics();
      this.must(this.director, ["ip", "addr", "add", `${CHECK_SOURCE}/24`, "dev", this.insideDevice]);
    }
    return CHECK_SOURCE;
  }

  /** The director block of one of two or more directors on the sandbox's segments (VRRP,
   *  failover), in the sandbox's backend: on TAP pairDirectorBlock's; on xdp the director
   *  host gets NICs TAP+"o" and TAP+"i" of its own (veths into bo and bi, made on the first
   *  call) with the MACs 02:00:00:00:MM:01/02 and addresses 10.0.0.HOST/24, 10.1.0.HOST/24
   *  that the TAP form gives the engine, and the block names them as devices. */
  pairDirector(tap: string, macByte: string, host: number, extra = ""): string {
    if (this.backend === "tap") return pairDirectorBlock(tap, macByte, host, extra);
    this.nic(`${tap}o`, "bo", `02:00:00:00:${macByte}:01`, `10.0.0.${host}/24`);
    this.nic(`${tap}i`, "bi", `02:00:00:00:${macByte}:02`, `10.1.0.${host}/24`);
    return `director {
  interface outside {
    device ${tap}o
  }
  interface inside {
    device ${tap}i
  }
  default_gateway ${ROUTER_OUT}${extra ? `\n${extra}` : ""}
}
`;
  }

  async startDecapsulators(): Promise<void> {
    this.servers.forEach((ns, k) => {
      // With the IPv6 plan the server's v6 address is a tunnel address too (ip6ip6, 4in6).
      const v6 = this.o.ipv6 ? ["--address", serverAddress6(k)] : [];
      this.spawn(ns, [process.execPath, CLI, "decap", "--uplink", "dup", "--stack", "dst", "--address", serverAddress(k), ...v6], `decap${k + 1}`);
    });
    for (let k = 0; k < this.servers.length; k++) await this.waitFor(`decapsulator ${k + 1}`, () => this.logOf(`decap${k + 1}`).includes("decapsulating"));
  }

  /** The director's configuration for this sandbox: one service per port given. With the
   *  IPv6 plan a service may be IPv6 (family 6: the v6 VIP and servers' v6 addresses, as
   *  ipvsadm writes them, [addr]:port); serverFamily gives TUN's mixed families (a v4
   *  service to v6 servers, 4in6, or the reverse, 6in4). */
  config(services: SandboxService[]): string {
    const flag = { nat: "-m", dr: "-g", tun: "-i" }[this.o.mode];
    this.directorNics();
    const lines = [
      ...(this.backend === "tap" ? [
        `interface 0 name outside tap wvo bridge bo mac ${OUT_MAC} address ${DIRECTOR_OUT}/24${this.o.ipv6 ? ` address ${DIRECTOR_OUT6}/64` : ""} mtu 1500`,
        `interface 1 name inside tap wvi bridge bi mac ${IN_MAC} address ${DIRECTOR_IN}/24${this.o.ipv6 ? ` address ${DIRECTOR_IN6}/64` : ""} mtu 1500`,
      ] : [
        // MAC, address and MTU are the NICs' own.
        `interface 0 name outside device ${this.outsideDevice}`,
        `interface 1 name inside device ${this.insideDevice}`,
      ]),
      `route default via ${ROUTER_OUT}`,
      "connections 262144",
    ];
    for (const s of services) {
      const p = s.protocol === "tcp" ? "-t" : "-u";
      const { vip, server } = this.families(s);
      const vs = `${hostPort(vip)}:${s.port}`;
      lines.push(`-A ${p} ${vs} -s ${s.scheduler}`);
      this.servers.forEach((_, k) => {
        lines.push(`-a ${p} ${vs} -r ${hostPort(server(k))}:${s.serverPort ?? s.port} ${flag} -w ${s.weights?.[k] ?? 1}`);
      });
    }
    return lines.join("\n") + "\n";
  }

  /** The same director as keepalived.conf (with wasmvs's director block). */
  keepalivedConfig(services: SandboxService[], extra = ""): string {
    const kind = { nat: "NAT", dr: "DR", tun: "TUN" }[this.o.mode];
    const v6 = (a: string) => (this.o.ipv6 ? [`    address ${a}/64`] : []);
    this.directorNics();
    const lines = [
      "director {",
      ...(this.backend === "tap" ? [
        "  interface outside {", "    tap wvo", "    bridge bo", `    mac ${OUT_MAC}`, `    address ${DIRECTOR_OUT}/24`, ...v6(DIRECTOR_OUT6), "  }",
        "  interface inside {", "    tap wvi", "    bridge bi", `    mac ${IN_MAC}`, `    address ${DIRECTOR_IN}/24`, ...v6(DIRECTOR_IN6), "  }",
      ] : [
        "  interface outside {", `    device ${this.outsideDevice}`, "  }",
        "  interface inside {", `    device ${this.insideDevice}`, "  }",
      ]),
      `  default_gateway ${ROUTER_OUT}`, "  connection_table_size 262144", extra, "}",
    ];
    for (const s of services) {
      const { vip, server } = this.families(s);
      lines.push(`virtual_server ${vip} ${s.port} {`, `  protocol ${s.protocol.toUpperCase()}`, `  lb_algo ${s.scheduler}`, `  lb_kind ${kind}`);
      this.servers.forEach((_, k) => {
        if (s.weights && s.weights[k] === undefined) return;
        lines.push(`  real_server ${server(k)} ${s.serverPort ?? s.port} {`, `    weight ${s.weights?.[k] ?? 1}`, "  }");
      });
      lines.push("}");
    }
    return lines.join("\n") + "\n";
  }

  /** A service's VIP and its servers' addresses by family (IPv6 only with the IPv6 plan). */
  private families(s: SandboxService): { vip: string; server: (k: number) => string } {
    const family = s.family ?? 4;
    const serverFamily = s.serverFamily ?? family;
    if ((family === 6 || serverFamily === 6) && !this.o.ipv6) throw new Error("an IPv6 service or server needs the IPv6 plan (Sandbox.create({ ipv6: true }))");
    if (family !== serverFamily && this.o.mode !== "tun") throw new Error("mixed families are for TUN only (as IPVS: ip_vs_ctl.c)");
    return { vip: family === 6 ? VIP6 : VIP, server: serverFamily === 6 ? serverAddress6 : serverAddress };
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
    const r = this.run(this.client, httpClientArgs(url, o, this.clientPorts(o)), 120000);
    if (r.status !== 0) throw new Error(`client failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Start a long HTTP client in the background (its JSON result arrives on its log). */
  httpInBackground(url: string, o: HttpLoad, name: string): ChildProcess {
    return this.spawn(this.client, httpClientArgs(url, o, this.clientPorts(o)), name);
  }

  /** The first of o.requests source ports of this sandbox's own (see CLIENT_PORTS); a
   *  load bounded by time or larger than loadLimit takes the kernel's ephemeral ports. */
  private clientPorts(o: HttpLoad): number | undefined {
    if (o.durationMs !== undefined || o.requests > CLIENT_PORTS.loadLimit) return undefined;
    if (this.nextClientPort + o.requests - 1 > CLIENT_PORTS.last) this.nextClientPort = CLIENT_PORTS.first;
    const first = this.nextClientPort;
    this.nextClientPort += o.requests;
    return first;
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
