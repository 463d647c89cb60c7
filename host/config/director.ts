// The director's configuration as the model holds it, whatever syntax it was read from
// (host/config/rules.ts: the rules file; keepalived.ts: keepalived.conf; ipvsadm.ts: ipvsadm's
// commands): its interfaces, routes, neighbours, services and real servers, and the settings
// of the director block. Plain data: positions (Pos) say where each value was written.

import type { IpAddr, MacWords, MarkRule, Prefix, RealServerSpec, ServiceSpec, VrrpInstanceSpec } from "../engine/index.js";
import { macWords, parseIp, parsePrefix } from "../engine/addr.js";
import type { FifoConfig, HealthGlobals, ServerHealth, ServiceHealth } from "./health.js";
import type { SyncDaemonConfig, VrrpInstanceConfig, VrrpScriptConfig, VrrpSyncGroupConfig } from "./vrrp.js";

/** Where a value was written: its file, line, column and text (engine refusals are
 *  reported there, as the parsers report theirs). */
/** The table sizes fixed while wasmvs runs, by their rules-file keyword. */
export const SIZE_SETTINGS = ["connections", "mh_table_size", "maglev_services", "maglev_table_size", "max_services", "max_real_servers", "scheduler_memory"] as const;
export type SizeSetting = typeof SIZE_SETTINGS[number];

export interface Pos {
  file: string;
  line: number;
  column: number;
  text: string;
}


/** A record as JSON with its positions left out: what a reload compares (a line added above
 *  moves every position below it, and is no change). */
const POSITION_KEYS = new Set(["line", "where", "macWhere", "deviceWhere", "mtuWhere"]);
export const positionsAside = (x: unknown): string =>
  JSON.stringify(x, (k, v) => (POSITION_KEYS.has(k) ? undefined : v));
export const samePositionsAside = (a: unknown, b: unknown): boolean => positionsAside(a) === positionsAside(b);


/** Bounds on every configuration input, whatever its format. */
export const LIMITS = {
  /** Bytes of one file; files are read up to this and no further. (A keepalived.conf or a
   *  rules file of 65,536 services x 10 real servers, the largest service table, is about
   *  33 MB: bench/control-inputs.ts.) */
  fileBytes: 64 * 1024 * 1024,
  /** Bytes of a configuration with all its includes. */
  totalBytes: 128 * 1024 * 1024,
  /** Files one configuration may include, all levels together. */
  includedFiles: 256,
  /** Levels of include. */
  includeDepth: 8,
  /** Words, braces and strings of a configuration with its includes (65,536 services x 10
   *  real servers is about 5.9 million in either syntax; each costs the parser some 100-200
   *  bytes while it works: this bounds its memory to about 1.6 GB at worst). */
  tokens: 8_000_000,
  /** Blocks inside blocks (keepalived nests four deep). */
  blockDepth: 16,
  /** A keyword or value longer than this is refused without further thought. */
  wordChars: 1024,
};

export interface InterfaceConfig {
  index: number;
  name: string;
  mac: string;
  address?: string;
  /** Its IPv6 address as written, ADDRESS/PREFIX ("2001:db8::1/64"; a bare address /128), and
   *  that parsed (issue 20: kept on the record; the engine takes it as (ifindex, w0..w3, len)). */
  address6?: string;
  net6?: Prefix;
  mtu: number;
  /** The TAP device (`wasmvs run`); defaults to the name. Empty with `device`: no TAP. */
  tap: string;
  /** A bridge to put the TAP in (`wasmvs run`). */
  bridge?: string;
  /** An existing interface of this host to attach to by shared rings (AF_XDP) instead of a
   *  TAP (host/control/devices.ts): its MAC, first IPv4 address and MTU are the defaults of
   *  mac, address and mtu, filled in when the configuration is loaded (resolveDevices). */
  device?: string;
  /** The device's receive queues, read with it (one ring per queue); undefined without device. */
  rxQueues?: number;
  /** Which of mac, address and mtu were taken from the device (not written in the file). */
  fromDevice?: { mac?: boolean; address?: boolean; mtu?: boolean };
  line: number;
  /** The file of its line when not the configuration's own (a --director file). */
  file?: string;
  /** No `mac` was given: derived (derivedMac in settings.ts). */
  macDerived?: boolean;
  /** Its name (its MTU when one is given), where the engine's refusals are reported. */
  where?: Pos;
  macWhere?: Pos;
  /** The device's name as written (a device missing on this host is reported there). */
  deviceWhere?: Pos;
  /** The mtu as written, when it was (a larger one than the device's is reported there). */
  mtuWhere?: Pos;
}

export interface RouteConfig {
  cidr: string;
  /** cidr parsed where it was read (what the engine takes). */
  net: Prefix;
  via?: string;
  /** via parsed where it was read. */
  gateway?: IpAddr;
  dev?: string;
  line: number;
  file?: string;
  /** The interface (dev) or the gateway, where the engine's refusals are reported. */
  where?: Pos;
}

export interface NeighbourConfig {
  address: string;
  /** address parsed where it was read. */
  addr: IpAddr;
  mac: string;
  /** mac parsed where it was read. */
  hw: MacWords;
  dev?: string;
  line: number;
  file?: string;
  where?: Pos;
  macWhere?: Pos;
}

/** A route's values parsed from its text, read where the route is (parsePrefix, parseIp). */
export const routeParsed = (cidr: string, via: string | undefined): Pick<RouteConfig, "net" | "gateway"> =>
  (via !== undefined ? { net: parsePrefix(cidr), gateway: parseIp(via) } : { net: parsePrefix(cidr) });

/** A neighbour's values parsed from its text, read where the neighbour is. */
export const neighbourParsed = (address: string, mac: string): Pick<NeighbourConfig, "addr" | "hw"> => ({ addr: parseIp(address), hw: macWords(mac) });

/** The file a line of x is in: its own (a --director file's lines) or the configuration's. */
export const fileOf = (cfg: DirectorConfig, x: { file?: string }): string => x.file ?? cfg.file;

export interface RealServerConfig extends RealServerSpec {
  line: number;
  /** The server's address as written (engine refusals: not on-link, no route). */
  where?: Pos;
  /** keepalived.conf's checkers and health settings of this server (host/health). */
  health?: ServerHealth;
}

/** A service of the configuration: the engine's ServiceSpec, its real servers, its line. */
export interface ServiceConfig extends ServiceSpec {
  realServers: RealServerConfig[];
  line: number;
  /** The service's address (or mark) as written. */
  where?: Pos;
  /** keepalived.conf's quorum, sorry server and notifications of this virtual server (host/health). */
  health?: ServiceHealth;
}

export interface DirectorConfig {
  file: string;
  /** keepalived.conf's director block read from a file of its own (--director FILE). */
  directorFile?: string;
  /** Which syntax the file was in: errors name that syntax's keywords. */
  format?: "keepalived" | "rules";
  interfaces: InterfaceConfig[];
  routes: RouteConfig[];
  neighbours: NeighbourConfig[];
  services: ServiceConfig[];
  timeouts?: { tcp: number; tcpfin: number; udp: number; line: number };
  connections?: number;
  /** mh's table size (one of the kernel's primes; 4093 by default), fixed while wasmvs runs. */
  mhTableSize?: number;
  /** Room for this many maglev tables added to schedulerMemory, fixed while wasmvs runs. */
  maglevServices?: number;
  /** The engine's table sizes (max_services, max_real_servers, scheduler_memory in bytes),
   *  fixed while wasmvs runs; absent: the engine's defaults. */
  maxServices?: number;
  maxRealServers?: number;
  schedulerMemory?: number;
  /** maglev's M (65537 by default), fixed while wasmvs runs. */
  maglevTableSize?: number;
  /** Where each table-size setting was written (connections, mh_table_size, maglev_services,
   *  maglev_table_size, max_services, max_real_servers, scheduler_memory): a reload that
   *  changes one is refused there (they need a restart). */
  sizeWhere?: Partial<Record<SizeSetting, Pos>>;
  /** Answer traffic to the director's addresses that it has nothing for (TCP reset, ICMP
   *  port unreachable), as a Linux host would; on unless turned off. */
  rejectUnknown?: { on: boolean; line: number };
  /** IPVS's expire_quiescent_template: a persistence template to a server of weight 0
   *  expires at its next use (off: persistence to a quiesced server goes on, as IPVS's default). */
  expireQuiescentTemplate?: { on: boolean; line: number };
  /** IPVS's expire_nodest_conn: on, a connection to a removed (e.g. failed) real server
   *  ends at the client's next packet, which is scheduled afresh (UDP) or answered with a
   *  reset (TCP). Off unless turned on, as IPVS's default: the client's packets are dropped
   *  until the connection times out (or the server comes back). */
  expireNodestConn?: { on: boolean; line: number };
  /** IPVS's sloppy_tcp (off by default, as its sysctl): any TCP segment but a RST may open a
   *  connection, for a director that sees flows mid-way. */
  sloppyTcp?: { on: boolean; line: number };
  /** The percent of the connection table a backup's synced-but-never-seen entries may hold
   *  (default 50: assembly/ha/sync.ts). */
  syncTableShare?: { percent: number; line: number };
  /** sync_auth_key_file: the key of authenticated sync, read when the file was (hex). */
  syncAuth?: { path: string; keyHex: string; line: number };
  /** Firewall-mark rules (what iptables -t mangle ... -j MARK would set), for -f services. */
  marks?: (MarkRule & { line: number })[];
  /** TAP offloads (IFF_VNET_HDR, TSO and checksum offload) for `wasmvs run`. */
  offload?: { on: boolean; line: number; file?: string };
  /** The Prometheus endpoint of `wasmvs run` (off unless given; loopback by default). */
  metrics?: { host: string; port: number; line: number; file?: string };
  /** Where Prometheus scrapes from (`metrics_scraper ADDRESS[/PREFIX]`, repeatable): connections
   *  to the metrics endpoint that only these addresses may take (host/metrics/peers.ts). */
  metricsScrapers?: { cidr: string; line: number }[];
  /** `metrics_real_servers N`: real servers with per-server metrics series (the first services'
   *  whole; 10,000 by default: host/metrics/metrics.ts), every service's own series regardless. */
  metricsRealServers?: number;
  /** The live dashboard (`dashboard [ADDRESS:]PORT`; loopback when no address is given). */
  dashboard?: { host: string; port: number; line: number; file?: string };
  /** The control socket of `wasmvs run` (keepalived.conf's director block). */
  controlSocket?: string;
  /** What the file asked that was done differently (as ipvsadm does it), to be shown. */
  warnings?: string[];
  /** keepalived's vrrp_rt_priority: the data-path thread's SCHED_RR priority (1-99; default 10). */
  vrrpRtPriority?: { priority: number; line: number };
  /** A group whose members may use the control socket besides root. */
  controlGroup?: { name: string; gid: number; line: number };
  /** keepalived.conf's global_defs for health checking: script user, mail (host/health). */
  health?: HealthGlobals;
  /** keepalived.conf's vrrp_instance blocks (host/vrrp). */
  vrrp?: VrrpInstanceConfig[];
  /** keepalived's static_ipaddress: addresses the director always holds (answers ARP and ping for). */
  staticAddresses?: { address: string; addr: IpAddr; ifindex: number; line: number; where?: Pos }[];
  /** keepalived's notify_fifo / vrrp_notify_fifo: VRRP state changes as lines (host/vrrp/fifo.ts). */
  notifyFifos?: FifoConfig[];
  /** keepalived.conf's vrrp_script blocks that some instance tracks (and could be found). */
  vrrpScripts?: VrrpScriptConfig[];
  /** keepalived.conf's vrrp_sync_group blocks. */
  vrrpSyncGroups?: VrrpSyncGroupConfig[];
  /** keepalived.conf's lvs_sync_daemon: connection sync tied to a VRRP instance. */
  syncDaemon?: SyncDaemonConfig;
}

/** The sync key's bytes (undefined: none, authentication off). */
export const syncKeyBytes = (cfg: DirectorConfig): Uint8Array | undefined =>
  cfg.syncAuth ? Uint8Array.from(cfg.syncAuth.keyHex.match(/../g)!.map((h) => parseInt(h, 16))) : undefined;

/** The engine's VRRP table: the instances in order, then static_ipaddress as one held-always entry. */
export function vrrpSpecs(cfg: DirectorConfig): VrrpInstanceSpec[] {
  const out = (cfg.vrrp ?? []).map(vrrpSpec);
  const st = cfg.staticAddresses ?? [];
  if (st.length) out.push({ ifindex: st[0].ifindex, vrid: 0, version: 3, intervalCs: 0, addresses: st.map((x) => x.address), addrs: st.map((x) => x.addr), static: true });
  return out;
}

export function vrrpSpec(v: VrrpInstanceConfig): VrrpInstanceSpec {
  return { ifindex: v.ifindex, vrid: v.vrid, version: v.version, intervalCs: Math.round(v.advertIntMs / 10), authPass: v.authPass, addresses: v.addresses, addrs: v.addrs,
    excluded: v.excludedAddresses?.map((x) => x.address), excludedAddrs: v.excludedAddresses?.map((x) => x.addr), vmac: v.vmac, vmacXmitBase: v.vmacXmitBase,
    ...(v.ipv6 ? { ipv6: true, mcastGroup6: v.mcastGroup6, ...(v.unicastPeers?.length ? { unicast: true } : {}) } : {}) };
}
