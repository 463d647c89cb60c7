// ipvsadm's command line and output, for wasmvs: parsing argv the way ipvsadm 1.31 does
// (short options in clusters like -Ln, long options, the command/option legality
// table), and printing -L, --stats, --rate, --thresholds, --persistent-conn, -c,
// --timeout and -S in its exact formats (printf widths, K/M/G/T suffixes, --exact).
// Pure functions: the control client sends what they produce to the daemon.

import type { ConnectionInfo, IpAddr, Persistence, RealServerInfo, ServiceSpec, Stats } from "../engine/index.js";
import { AddressError, formatIp, type Ip6Words, ipToWire, isLinkLocal6, isUnicast6, parseIp, parseIp6, prefixMask6 } from "../engine/addr.js";
import { persistence as persistenceOf, SCHEDULERS } from "../engine/index.js";
import { Missing, notSupported, schedulerProblem } from "./features.js";
import { IPVSADM_NOT_YET, SYNC_GROUP_NOT_YET } from "./not-yet.js";
import { InputError, type InputErrorCode, type IpvsRefusal } from "./errors.js";

export type Command =
  | "add-service" | "edit-service" | "delete-service" | "flush" | "list" | "add-server" | "delete-server"
  | "edit-server" | "set" | "restore" | "save" | "zero" | "help" | "version" | "start-daemon" | "stop-daemon";

/** The sync daemon of --start-daemon / --stop-daemon (ipvsadm's ipvs_daemon_t). */
export interface DaemonArgs {
  state: "master" | "backup";
  /** --mcast-interface: ipvsadm's default is eth0. */
  ifname: string;
  syncid: number;
  /** --sync-maxlen: the largest message, UDP payload bytes (IPVS: 1472 for a 1500-byte MTU). */
  maxlen?: number;
  /** --mcast-group with a unicast address: the other director (a master sends there; a
   *  backup takes unicast sync from there, and from nobody else but the VRRP master). */
  peer?: string;
}

/** What names a service (the engine's ServiceSpec without its scheduler). */
/** A service as ipvsadm names it: -t/-u ADDRESS:PORT, or -f MARK (then fwmark is set
 *  and protocol, address and port are tcp, 0.0.0.0 and 0). */
export type ServiceKey = Pick<ServiceSpec, "protocol" | "address" | "port" | "fwmark">;
/** A service's key as a command gives it, its address parsed (vaddr: 0 for a mark). */
export type ServiceAddr = ServiceKey & Pick<ServiceSpec, "vaddr">;

/** The one key of a service (model, engine lookups, health, estimator): "tcp 10.0.0.100:80" or "fwm 1". */
export const serviceKey = (s: ServiceKey) => (s.fwmark !== undefined ? (s.address === "::" ? `fwm ${s.fwmark} v6` : `fwm ${s.fwmark}`) : `${s.protocol} ${s.address}:${s.port}`);
export const sameService = (a: ServiceKey, b: ServiceKey) => serviceKey(a) === serviceKey(b);

export interface Parsed {
  command: Command;
  /** Where the command came from (a line of -R input or of a rules file), for errors. */
  line?: number;
  /** What was done differently from what was asked, as ipvsadm does it silently. */
  warnings?: string[];
  service?: ServiceAddr;
  scheduler?: string;
  server?: AddrPort;
  method?: "nat" | "dr" | "tun";
  weight?: number;
  uthreshold?: number;
  lthreshold?: number;
  timeouts?: { tcp: number; tcpfin: number; udp: number };
  /** -M as given, until it joins persistence. */
  netmask?: string;
  /** -p [TIMEOUT] (300 s by default) and -M NETMASK. */
  persistence?: Persistence;
  /** -b: IPVS's scheduler flags (bit 0 flag-1, bit 1 flag-2, bit 2 flag-3). */
  schedFlags?: number;
  /** -b as given, checked against the scheduler once every option is read. */
  schedFlagNames?: string[];
  /** -o/--ops: one-packet scheduling (IPVS applies it to UDP datagrams only). */
  onePacket?: boolean;
  daemon?: DaemonArgs;
  format: Format;
}

export interface Format {
  numeric: boolean;
  connections: boolean;
  timeout: boolean;
  stats: boolean;
  rate: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  nosort: boolean;
  exact: boolean;
  /** wasmvs's own view: each checked real server's health (not an ipvsadm option). */
  health: boolean;
  /** -L --daemon: the sync daemons. */
  daemon: boolean;
  /** wasmvs's own view: the VRRP instances (not an ipvsadm option). */
  vrrp: boolean;
}

/** An error ipvsadm would report: message and exit status (reason: the message without
 *  ipvsadm's own prefix, as a rules file reports it at the word's position). */
export class IpvsadmError extends InputError {
  /** The index in argv of the word at fault, when one is. */
  arg?: number;

  constructor(message: string, readonly status: number, readonly showTryHelp = false, reason = message, code: InputErrorCode = "invalid") {
    super(reason, message, code);
  }

  /** IPVS's refusal of a change to the table, in ipvsadm's words (exit status 255). */
  static ipvs(code: IpvsRefusal): IpvsadmError {
    return new IpvsadmError(IPVS_SAYS[code], 255, false, undefined, code);
  }
}

/** How ipvsadm words the kernel's refusals (ipvs_strerror of libipvs). */
const IPVS_SAYS: Record<IpvsRefusal, string> = {
  "service-exists": "Service already exists",
  "no-service": "No such service",
  "service-undefined": "Service not defined",
  "no-destination": "No such destination",
  "destination-exists": "Destination already exists",
};

/** What ipvsadm's own option parser (popt) says: `ipvsadm: ` and the reason. */
const poptSays = (reason: string, arg: number | undefined): IpvsadmError => {
  const e = new IpvsadmError(`ipvsadm: ${reason}`, 2, true, reason);
  e.arg = arg;
  return e;
};

const MAX_TIMEOUT = 86400 * 31;

interface OptSpec {
  long: string;
  short?: string;
  /** "optional": popt's POPT_ARGFLAG_OPTIONAL (-p [timeout]): the next word if it is a number. */
  arg: boolean | "optional";
  apply: (p: Parsed, v: string | undefined, st: ParseState) => void;
}

interface ParseState {
  commands: Command[];
  options: Set<string>;
  rest: string[];
}

/** ipvsadm's set_command: one command per line. */
function setCommand(st: ParseState, c: Command): void {
  if (st.commands.length) throw new IpvsadmError("multiple commands specified", 2, true, undefined, "repeated");
  st.commands.push(c);
}

/** What scanAddrPort read last: the address in wire order, the port (-1: none written) and
 *  where the address ends (one record, reused: a file of a million servers makes no garbage). */
export const scanned = { wire: 0, port: -1, addressEnd: 0 };

/** ADDRESS[:PORT] in its common form, read by hand from text[from, to) (an ipvsadm -R or rules
 *  file of 64k services reads a million of them): four octets of 1-3 digits without a leading 0,
 *  each at most 255, and a port of 1-5 digits at most 65535. False for anything else, which the
 *  careful path (parseAddrPort) reads, or refuses in its own words: whatever this accepts, it
 *  accepts alike. What it read is in `scanned`. */
export function scanAddrPort(text: string, from: number, to: number): boolean {
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let wire = 0;
  let i = from;
  for (; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return false;
      octet = octet * 10 + (c - 48);
      if (++digits > 3) return false;
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) return false;
      // As ipToWire: the octets' bytes in network order, read as a little-endian u32.
      wire |= octet << (8 * dots++);
      octet = 0;
      digits = 0;
    } else break;
  }
  if (dots !== 3 || digits === 0 || octet > 255) return false;
  scanned.wire = (wire | (octet << 24)) >>> 0;
  scanned.addressEnd = i;
  if (i === to) {
    scanned.port = -1;
    return true;
  }
  if (text.charCodeAt(i) !== 58 || to - i - 1 < 1 || to - i - 1 > 5) return false;
  const port = digitRun(text, i + 1, to);
  if (port < 0 || port > 65535) return false;
  scanned.port = port;
  return true;
}

/**
 * One string for each address and each ADDRESS:PORT a file writes again and again (a rules file
 * of 64k services names its real servers once per service: each record points at one copy, not
 * at a string of its own, ~30 bytes a server). A direct-mapped table of fixed size, made for one
 * parse: its memory is bounded and dropped with the parse; a miss makes the copy a record would
 * have made anyway. Only texts that scanAddrPort read are kept here, keyed by what they say:
 * the address's wire value, and for ADDRESS[:PORT] its port and length (a port may be written
 * with leading zeros; an address in the common form may not), which fix the text.
 */
export class TextNames {
  private static readonly BITS = 12;
  private readonly wires = new Int32Array(1 << TextNames.BITS);
  /** 0: an empty slot. */
  private readonly kinds = new Int32Array(1 << TextNames.BITS);
  private readonly texts: string[] = new Array<string>(1 << TextNames.BITS).fill("");

  /** The address scanAddrPort just read in text (from where it started). */
  address(text: string, from: number): string {
    return this.lookup(text, from, scanned.addressEnd, scanned.wire, 1);
  }

  /** The ADDRESS[:PORT] scanAddrPort just read as text[from, to). */
  addressPort(text: string, from: number, to: number): string {
    return this.lookup(text, from, to, scanned.wire, ((scanned.port + 2) << 5) | (to - from));
  }

  private lookup(text: string, from: number, to: number, wire: number, kind: number): string {
    const h = Math.imul(wire ^ Math.imul(kind, 0x9e3779b1), 0x85ebca6b) >>> (32 - TextNames.BITS);
    if (this.kinds[h] === kind && this.wires[h] === (wire | 0)) return this.texts[h];
    const t = text.slice(from, to);
    this.wires[h] = wire;
    this.kinds[h] = kind;
    this.texts[h] = t;
    return t;
  }
}

/** ADDRESS[:PORT] as read: the address as written, parsed (daddr: parseIp's value), and the
 *  port when one was written. */
export interface AddrPort {
  address: string;
  daddr: IpAddr;
  port?: number;
}

/** ADDRESS[:PORT] in its common form (scanAddrPort), undefined for anything else; names: where
 *  the address's string is taken from. */
function plainAddrPort(text: string, names?: TextNames): AddrPort | undefined {
  if (!scanAddrPort(text, 0, text.length)) return undefined;
  const port = scanned.port < 0 ? undefined : scanned.port;
  const daddr = scanned.wire | 0;
  const address = names ? names.address(text, 0) : scanned.addressEnd === text.length ? text : text.slice(0, scanned.addressEnd);
  return { address, daddr, port };
}

/** A real server's ADDRESS[:PORT] in its common form (plainAddrPort), as -r takes it. */
export const plainServer = (text: string) => plainAddrPort(text);

/** ADDRESS[:PORT] as ipvsadm reads it; what names the address in the error. */
function parseAddrPort(text: string, what: string): AddrPort {
  const plain = plainAddrPort(text);
  if (plain) return plain;
  if (text.charCodeAt(0) === 91 || text.indexOf(":") !== text.lastIndexOf(":")) return parseAddrPort6(text, what);
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) throw new IpvsadmError(`illegal ${what} address[:port] specified`, 2);
  let daddr: IpAddr;
  try {
    daddr = parseIp(m[1]);
  } catch (e) {
    throw new IpvsadmError(e instanceof AddressError && e.ambiguous ? e.message : `illegal ${what} address[:port] specified`, 2);
  }
  return { address: m[1], daddr, port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** IPv6 ADDRESS[:PORT] as ipvsadm's parse_service reads it: "[2001:db8::1]:80" (a "]" then
 *  ":" and the port), or the address alone unbracketed ("2001:db8::1": its last group is never
 *  a port). The address is kept as formatIp writes it (RFC 5952, as ipvsadm's inet_ntop lists
 *  it), so one service has one key however its address was written. */
function parseAddrPort6(text: string, what: string): AddrPort {
  const illegal = (why?: string) => new IpvsadmError(`illegal ${what} address[:port] specified${why ? ` (${why})` : ""}`, 2);
  let addressText = text;
  let portText: string | undefined;
  if (text.charCodeAt(0) === 91) {
    const close = text.indexOf("]");
    if (close < 0 || text.charCodeAt(close + 1) !== 58) throw illegal("an IPv6 address with a port is written [ADDRESS]:PORT");
    addressText = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw illegal();
  }
  let daddr: IpAddr;
  try {
    daddr = parseIp6(addressText);
  } catch (e) {
    throw illegal(e instanceof AddressError ? e.message : undefined);
  }
  return { address: formatIp(daddr), daddr, port: portText === undefined ? undefined : Number(portText) };
}

function parseServiceAddr(text: string, protocol: "tcp" | "udp"): ServiceAddr {
  const a = parseAddrPort(text, "virtual server");
  if (a.port === undefined) {
    // ipvsadm reads an unbracketed IPv6 address whole (2001:db8::1:80 is an address): no port.
    throw new IpvsadmError(`illegal virtual server address[:port] specified${typeof a.daddr !== "number" ? " (an IPv6 address with a port is written [ADDRESS]:PORT)" : ""}`, 2);
  }
  return { protocol, address: a.address, vaddr: a.daddr, port: a.port };
}

/** A whole number of 1-6 digits within [min, max], read by hand; -1 for anything else (the
 *  careful path, num, says why). */
function plainNum(text: string, min: number, max: number): number {
  const n = text.length;
  if (n === 0 || n > 6) return -1;
  const v = digitRun(text, 0, n);
  return v >= min && v <= max ? v : -1;
}

/** The value of the decimal digits text[from, to), read by hand; -1 when that is empty or holds
 *  anything but digits (callers bound its length, so the value stays exact). */
export function digitRun(text: string, from: number, to: number): number {
  if (from >= to) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

function num(text: string | undefined, min: number, max: number, what: string): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new IpvsadmError(`illegal ${what} specified`, 2);
  return Number(text);
}

const OPTIONS: OptSpec[] = [
  { long: "add-service", short: "A", arg: false, apply: (_p, _v, st) => setCommand(st, "add-service") },
  { long: "edit-service", short: "E", arg: false, apply: (_p, _v, st) => setCommand(st, "edit-service") },
  { long: "delete-service", short: "D", arg: false, apply: (_p, _v, st) => setCommand(st, "delete-service") },
  { long: "clear", short: "C", arg: false, apply: (_p, _v, st) => setCommand(st, "flush") },
  { long: "list", short: "L", arg: false, apply: (_p, _v, st) => setCommand(st, "list") },
  { long: "list", short: "l", arg: false, apply: (_p, _v, st) => setCommand(st, "list") },
  { long: "zero", short: "Z", arg: false, apply: (_p, _v, st) => setCommand(st, "zero") },
  { long: "add-server", short: "a", arg: false, apply: (_p, _v, st) => setCommand(st, "add-server") },
  { long: "edit-server", short: "e", arg: false, apply: (_p, _v, st) => setCommand(st, "edit-server") },
  { long: "delete-server", short: "d", arg: false, apply: (_p, _v, st) => setCommand(st, "delete-server") },
  { long: "set", arg: false, apply: (_p, _v, st) => setCommand(st, "set") },
  { long: "help", short: "h", arg: false, apply: (_p, _v, st) => setCommand(st, "help") },
  { long: "version", short: "v", arg: false, apply: (_p, _v, st) => setCommand(st, "version") },
  { long: "restore", short: "R", arg: false, apply: (_p, _v, st) => setCommand(st, "restore") },
  { long: "save", short: "S", arg: false, apply: (_p, _v, st) => setCommand(st, "save") },
  { long: "tcp-service", short: "t", arg: true, apply: (p, v, st) => { option(st, "service"); p.service = parseServiceAddr(v!, "tcp"); } },
  { long: "udp-service", short: "u", arg: true, apply: (p, v, st) => { option(st, "service"); p.service = parseServiceAddr(v!, "udp"); } },
  { long: "fwmark-service", short: "f", arg: true, apply: (p, v, st) => {
    option(st, "service");
    p.service = { protocol: "tcp", address: "0.0.0.0", vaddr: 0, port: 0, fwmark: num(v, 1, 0xffffffff, "fwmark") };
  } },
  { long: "ipv6", short: "6", arg: false, apply: (p) => {
    // ipvsadm: -6 makes the firewall-mark service read so far an IPv6 one (its -M then a prefix length).
    if (p.service?.fwmark === undefined) throw new IpvsadmError("-6 used before -f", 2);
    p.service = { ...p.service, address: "::", vaddr: IP6_ANY };
  } },
  { long: "scheduler", short: "s", arg: true, apply: (p, v, st) => { option(st, "scheduler"); p.scheduler = v; } },
  { long: "real-server", short: "r", arg: true, apply: (p, v, st) => {
    option(st, "real-server");
    p.server = parseAddrPort(v!, "real server");
  } },
  { long: "masquerading", short: "m", arg: false, apply: (p, _v, st) => { option(st, "forwarding-method"); p.method = "nat"; } },
  { long: "ipip", short: "i", arg: false, apply: (p, _v, st) => { option(st, "forwarding-method"); p.method = "tun"; } },
  { long: "gatewaying", short: "g", arg: false, apply: (p, _v, st) => { option(st, "forwarding-method"); p.method = "dr"; } },
  { long: "tun-type", arg: true, apply: (_p, v) => {
    if (v !== "ipip") throw new IpvsadmError(`tunnel type ${v} is not supported by wasmvs yet (only ipip)`, 2);
  } },
  { long: "weight", short: "w", arg: true, apply: (p, v, st) => { option(st, "weight"); p.weight = num(v, 0, 65535, "weight"); } },
  { long: "u-threshold", short: "x", arg: true, apply: (p, v, st) => { option(st, "u-threshold"); p.uthreshold = num(v, 0, 2147483647, "u_threshold"); } },
  { long: "l-threshold", short: "y", arg: true, apply: (p, v, st) => { option(st, "l-threshold"); p.lthreshold = num(v, 0, 2147483647, "l_threshold"); } },
  { long: "numeric", short: "n", arg: false, apply: (p, _v, st) => { option(st, "numeric"); p.format.numeric = true; } },
  { long: "connection", short: "c", arg: false, apply: (p, _v, st) => { option(st, "connection"); p.format.connections = true; } },
  { long: "timeout", arg: false, apply: (p, _v, st) => { option(st, "timeout"); p.format.timeout = true; } },
  { long: "stats", arg: false, apply: (p, _v, st) => { option(st, "stats"); p.format.stats = true; } },
  { long: "rate", arg: false, apply: (p, _v, st) => { option(st, "rate"); p.format.rate = true; } },
  { long: "thresholds", arg: false, apply: (p, _v, st) => { option(st, "thresholds"); p.format.thresholds = true; } },
  { long: "persistent-conn", arg: false, apply: (p, _v, st) => { option(st, "persistent-conn"); p.format.persistentConn = true; } },
  { long: "nosort", arg: false, apply: (p, _v, st) => { option(st, "nosort"); p.format.nosort = true; } },
  { long: "sort", arg: false, apply: () => {} },
  { long: "exact", short: "X", arg: false, apply: (p, _v, st) => { option(st, "exact"); p.format.exact = true; } },
  { long: "health", arg: false, apply: (p, _v, st) => { option(st, "health"); p.format.health = true; } },
  { long: "sched-flags", short: "b", arg: true, apply: (p, v, st) => {
    option(st, "sched-flags");
    p.schedFlagNames = v!.split(",");
  } },
  { long: "ops", short: "o", arg: false, apply: (p, _v, st) => { option(st, "ops"); p.onePacket = true; } },
  { long: "start-daemon", arg: true, apply: (p, v, st) => { setCommand(st, "start-daemon"); daemonOf(p).state = daemonState(v!, "start-daemon"); } },
  { long: "stop-daemon", arg: true, apply: (p, v, st) => { setCommand(st, "stop-daemon"); daemonOf(p).state = daemonState(v!, "stop-daemon"); } },
  { long: "daemon", arg: false, apply: (p, _v, st) => { option(st, "daemon"); p.format.daemon = true; } },
  { long: "vrrp", arg: false, apply: (p, _v, st) => { option(st, "vrrp"); p.format.vrrp = true; } },
  { long: "mcast-interface", arg: true, apply: (p, v, st) => {
    option(st, "mcast-interface");
    // IP_VS_IFNAME_MAXLEN is 16 with the NUL.
    if (v!.length > 15) throw new IpvsadmError("too long mcast-interface name", 2);
    daemonOf(p).ifname = v!;
  } },
  { long: "syncid", arg: true, apply: (p, v, st) => { option(st, "syncid"); daemonOf(p).syncid = num(v, 0, 255, "syncid"); } },
  { long: "sync-maxlen", arg: true, apply: (p, v, st) => {
    option(st, "sync-maxlen");
    // IPVS keeps a message within one frame of the interface: at most 1472 bytes on a 1500-byte MTU.
    daemonOf(p).maxlen = num(v, 44, 1472, "sync-maxlen");
  } },
  // The sync group, port and TTL: IPVS's defaults are all wasmvs speaks.
  { long: "mcast-group", arg: true, apply: (p, v, st) => {
    option(st, "mcast-group");
    const a = parseAddrPort(v!, "mcast-group");
    if (a.port !== undefined) throw new IpvsadmError("illegal mcast-group specified", 2);
    // (IPVS can sync over an IPv6 group or peer; wasmvs's sync speaks IPv4 for now.)
    if (typeof a.daddr !== "number") throw new IpvsadmError(`mcast-group ${v}: connection sync over IPv6 is not supported by wasmvs yet`, 2);
    const first = Number(a.address.split(".")[0]);
    if (first >= 224 && first <= 239 && a.address !== "224.0.0.81") {
      throw new IpvsadmError(`mcast-group ${v}: ${SYNC_GROUP_NOT_YET}`, 2);
    }
    if (a.address !== "224.0.0.81") daemonOf(p).peer = a.address;
  } },
  { long: "mcast-port", arg: true, apply: (_p, v, st) => {
    option(st, "mcast-port");
    if (v !== "8848") throw new IpvsadmError(`mcast-port ${v}: only IPVS's sync port 8848 is supported by wasmvs yet`, 2);
  } },
  { long: "mcast-ttl", arg: true, apply: (_p, v, st) => {
    option(st, "mcast-ttl");
    if (v !== "1") throw new IpvsadmError(`mcast-ttl ${v}: only TTL 1 (the segment) is supported by wasmvs yet`, 2);
  } },
  { long: "persistent", short: "p", arg: "optional", apply: (p, v, st) => {
    option(st, "persistent");
    // ipvsadm: 1 to (2^31-1)/HZ seconds; 300 when no timeout is given.
    p.persistence = persistenceOf(v === undefined ? DEFAULT_PERSISTENCE : num(v, 1, 2678400, "timeout"), p.persistence?.netmask);
  } },
  { long: "netmask", short: "M", arg: true, apply: (p, v, st) => {
    option(st, "netmask");
    // An IPv4 service's mask is read now (its error where ipvsadm gives it); an IPv6 service's
    // is a prefix length, read once the service's family is known (prefix6).
    if (!(p.service && typeof p.service.vaddr !== "number")) parseNetmask(v!);
    p.netmask = v!;
  } },
];

/** The options by long and by short name (a parse looks each word up: no walk of the list). */
const BY_LONG = new Map<string, OptSpec>();
const BY_SHORT = new Map<string, OptSpec>();
for (const o of OPTIONS) {
  if (!BY_LONG.has(o.long)) BY_LONG.set(o.long, o);
  if (o.short !== undefined && !BY_SHORT.has(o.short)) BY_SHORT.set(o.short, o);
}

/** ipvsadm's default multicast interface (DEF_MCAST_IFN). */
export const DEFAULT_MCAST_IFN = "eth0";
const daemonOf = (p: Parsed): DaemonArgs => (p.daemon ??= { state: "master", ifname: DEFAULT_MCAST_IFN, syncid: 0 });
function daemonState(v: string, what: string): "master" | "backup" {
  if (v !== "master" && v !== "backup") throw new IpvsadmError(`illegal ${what} parameter specified`, 2);
  return v;
}

/** -b's words as ipvsadm's parse_sched_flags reads them: flag-1..3 for any scheduler,
 *  sh-fallback/sh-port (flag-1/flag-2) for sh only, mh-fallback/mh-port for mh only. */
export function schedFlagBits(names: string[], scheduler: string): number {
  let bits = 0;
  for (const n of names) {
    const generic = /^flag-([123])$/.exec(n);
    if (generic) { bits |= 1 << (Number(generic[1]) - 1); continue; }
    const named = /^(sh|mh)-(fallback|port)$/.exec(n);
    if (!named) throw new IpvsadmError(`invalid scheduler flag \`${n}'`, 2);
    if (named[1] !== scheduler) throw new IpvsadmError(`incompatible scheduler flag \`${n}'`, 2);
    bits |= named[2] === "fallback" ? 1 : 2;
  }
  return bits;
}

/** The flags as ipvsadm 1.31's print_sched_flags prints them: sh and mh name their first
 *  two and print nothing else (a flag-3 of sh shows as "()" in the listing, as ipvsadm's
 *  does); any other scheduler prints flag-1..3. */
export function schedFlagNames(bits: number, scheduler: string): string[] {
  if (scheduler === "sh" || scheduler === "mh") {
    return [[1, `${scheduler}-fallback`], [2, `${scheduler}-port`]].filter(([b]) => bits & (b as number)).map(([, n]) => n as string);
  }
  return [[1, "flag-1"], [2, "flag-2"], [4, "flag-3"]].filter(([b]) => bits & (b as number)).map(([, n]) => n as string);
}

/** ADDRESS:PORT as ipvsadm writes it: an IPv6 address in brackets ([2001:db8::1]:80,
 *  addrport_to_anyname). */
export const hostPort = (address: string, port: number | string): string => (address.indexOf(":") >= 0 ? `[${address}]:${port}` : `${address}:${port}`);

/** What IPVS refuses of a real server for its service (ip_vs_ctl.c), in ipvsadm's words
 *  ("Invalid argument", the kernel's EINVAL) with IPVS's reason; undefined when it takes it.
 *  - Another address family than the service's only with tunnelling (ip_vs_genl_set_cmd:
 *    "Which connection types do we support? IP_VS_CONN_F_TUNNEL"), and never while the sync
 *    daemon runs ("The synchronization protocol is incompatible with mixed family services").
 *  - An IPv6 server must be unicast and not link-local (ip_vs_add_dest's ipv6_addr_type check;
 *    the kernel's exception, an address of the director itself, is not one a director names). */
export function serverRefusal(vaddr: IpAddr, daddr: IpAddr, method: "nat" | "dr" | "tun", syncRunning: boolean): string | undefined {
  const service6 = typeof vaddr !== "number";
  const server6 = typeof daddr !== "number";
  // (A firewall-mark service is IPv4 unless -6: its vaddr, 0 or ::, says which.)
  if (service6 !== server6) {
    const what = `an IPv${service6 ? 6 : 4} service with an IPv${server6 ? 6 : 4} real server`;
    if (syncRunning) return `Invalid argument: ${what}: the synchronization protocol is incompatible with mixed family services (IPVS refuses them while the sync daemon runs)`;
    if (method !== "tun") return `Invalid argument: ${what}: IPVS forwards mixed address families only by tunnelling (-i)`;
  }
  if (server6) {
    const a = daddr as Ip6Words;
    if (isLinkLocal6(a)) return `Invalid argument: real server ${formatIp(a)} is link-local: IPVS takes an IPv6 real server only if it is unicast and not link-local`;
    if (!isUnicast6(a)) return `Invalid argument: real server ${formatIp(a)} is not unicast: IPVS takes an IPv6 real server only if it is unicast and not link-local`;
  }
  return undefined;
}

/** ipvsadm's default persistence timeout (IP_VS_TEMPLATE_TIMEOUT / HZ). */
export const DEFAULT_PERSISTENCE = 300;

/** An IPv6 service's -M: a prefix length of 1-128, as ipvsadm reads it for an IPv6 service
 *  (IPVS's persistence granularity for IPv6 is a prefix length, ip_vs_ctl.c). */
function prefix6(text: string): number {
  if (!/^\d{1,3}$/.test(text) || Number(text) < 1 || Number(text) > 128) throw new IpvsadmError("illegal ipv6 netmask specified", 2, false, undefined, "netmask");
  return Number(text);
}

/** An IPv6 service's persistence: netmask the prefix length as ipvsadm lists it ("64"), mask its words. */
export const persistence6 = (timeout: number, prefixLen: number): Persistence => ({ timeout, netmask: String(prefixLen), mask: prefixMask6(prefixLen) });

/** :: as words: an IPv6 firewall-mark service's address (ipvsadm -f MARK -6). */
export const IP6_ANY: IpAddr = [0, 0, 0, 0];

/** A persistence netmask: dotted (255.255.255.0), or a prefix length (24). Like ipvsadm
 *  and the kernel, a mask need not be contiguous. */
export function parseNetmask(text: string): string {
  if (/^\d{1,2}$/.test(text) && Number(text) <= 32) {
    const bits = Number(text);
    const n = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  }
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(text) && text.split(".").every((o) => Number(o) <= 255)) return text.split(".").map(Number).join(".");
  throw new IpvsadmError("illegal virtual server persistent mask specified", 2, false, undefined, "netmask");
}

/** ipvsadm's set_option: each option at most once (-m -g, -t A -t B, -s rr -s wrr are refused). */
function option(st: ParseState, name: string): void {
  if (st.options.has(name)) throw new IpvsadmError(`multiple '${optName(name)}' options specified`, 2, false, undefined, "repeated");
  st.options.add(name);
}

// ipvsadm's table of legal combinations: '+' compulsory, 'x' illegal, '1' one of, ' ' optional.
const COLUMNS = ["numeric", "connection", "service", "scheduler", "real-server", "forwarding-method", "weight", "u-threshold",
  "l-threshold", "timeout", "stats", "rate", "thresholds", "persistent-conn", "nosort", "exact", "health", "persistent", "netmask",
  "mcast-interface", "daemon", "syncid", "sync-maxlen", "mcast-group", "mcast-port", "mcast-ttl", "vrrp", "sched-flags", "ops"];
const TABLE: Partial<Record<Command, string>> = {
  //                 n  c  svc s  r  fw w  x  y  tot st rt thr pc srt ex hl p M mc dm sid len grp prt ttl vr b o
  "add-service": /**/ "xx+ xxxxxxxxxxxxx  xxxxxxxx  ",
  "edit-service": /* */ "xx+ xxxxxxxxxxxxx  xxxxxxxx  ",
  "delete-service": "xx+xxxxxxxxxxxxxxxxxxxxxxxxxx",
  flush: /*        */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  list: /*         */ " 11xxxxxx1      1xxx1xxxxx1xx",
  "add-server": /* */ "xx+x+    xxxxxxxxxxxxxxxxxxxx",
  "delete-server": "xx+x+xxxxxxxxxxxxxxxxxxxxxxxx",
  "edit-server": /**/ "xx+x+    xxxxxxxxxxxxxxxxxxxx",
  set: /*          */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  restore: /*      */ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  save: /*         */ " xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
  zero: /*         */ "xx xxxxxxxxxxxxxxxxxxxxxxxxxx",
  "start-daemon": /*  */ "xxxxxxxxxxxxxxxxxxx x     xxx",
  "stop-daemon": /*   */ "xxxxxxxxxxxxxxxxxxxxx xxxxxxx",
};

function optCheck(cmd: Command, options: Set<string>): void {
  const row = TABLE[cmd];
  if (!row) return;
  let exclusive: string | undefined;
  for (let i = 0; i < COLUMNS.length; i++) {
    const name = COLUMNS[i];
    const has = options.has(name);
    const rule = row[i];
    if (rule === "+" && !has) throw new IpvsadmError(`You need to supply the '${optName(name)}' option for the '${cmd}' command`, 2);
    if (rule === "x" && has) throw new IpvsadmError(`Illegal '${optName(name)}' option with the '${cmd}' command`, 2);
    if (rule === "1" && has) {
      if (exclusive) throw new IpvsadmError(`The '${optName(exclusive)}' and '${optName(name)}' options cannot be used together with the '${cmd}' command`, 2);
      exclusive = name;
    }
  }
}

const optName = (n: string) => (n === "service" ? "service-address" : n);

/** An option of a feature wasmvs does not have yet, at argv[arg]. */
function notYet(option: string, feature: Missing, arg: number): IpvsadmError {
  const e = new IpvsadmError(`ipvsadm: option ${option}: ${notSupported(feature)}`, 2, false, notSupported(feature));
  e.arg = arg;
  return e;
}

/** Run an option's apply; its errors name the word at fault (value, or option for a repeat). */
function applyAt(f: () => void, valueArg: number, optionArg: number): void {
  try {
    f();
  } catch (e) {
    if (e instanceof IpvsadmError && e.arg === undefined) e.arg = e.code === "repeated" ? optionArg : valueArg;
    throw e;
  }
}

const noFormat = (): Format => ({ numeric: false, connections: false, timeout: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, health: false, daemon: false, vrrp: false });

/** The format of a change command (-A, -a, ...: no listing option), one for all of parseCommon's:
 *  a batch of 100,000 commands holds one, not 100,000 (nothing changes a change's format). */
const CHANGE_FORMAT: Format = Object.freeze(noFormat());

/** The schedulers a service may name (schedulerProblem says nothing of them), each to its one
 *  string (a service keeps that, not a copy of the word it was read from). */
const SUPPORTED_SCHEDULERS = new Map<string, string>(SCHEDULERS.map((x) => [x, x]));

/**
 * The lines ipvsadm-save writes, and the commands scripts send most, read without the general
 * parser's machinery: `-A|-E -t|-u ADDRESS:PORT -s SCHEDULER [-p TIMEOUT]` and
 * `-a|-e -t|-u ADDRESS:PORT -r ADDRESS[:PORT] -m|-g|-i -w WEIGHT`, each word plain (a number or
 * address in its common form, a scheduler wasmvs has). The same Parsed as parseCarefully's, field
 * for field and in the same order; undefined for anything else, warnings and refusals included,
 * which parseCarefully reads (and words) as it always did. names: where addresses' strings are
 * taken from (a file's parse: TextNames).
 */
export function parseCommon(argv: readonly string[], names?: TextNames): Parsed | undefined {
  const n = argv.length;
  if (n < 5) return undefined;
  const protocol = argv[1] === "-t" ? "tcp" : argv[1] === "-u" ? "udp" : undefined;
  if (protocol === undefined) return undefined;
  const vip = plainAddrPort(argv[2], names);
  if (!vip || vip.port === undefined) return undefined;
  const service: ServiceAddr = { protocol, address: vip.address, vaddr: vip.daddr, port: vip.port };
  const head = argv[0];
  if (head === "-A" || head === "-E") {
    const scheduler = argv[3] === "-s" ? SUPPORTED_SCHEDULERS.get(argv[4]) : undefined;
    if (scheduler === undefined) return undefined;
    let persistence: Parsed["persistence"];
    if (n === 7 && argv[5] === "-p") {
      const timeout = plainNum(argv[6], 1, 2678400);
      if (timeout < 0) return undefined;
      persistence = persistenceOf(timeout);
    } else if (n !== 5) return undefined;
    // ipvsadm: a service needs a port unless it is persistent (the careful path words it).
    if (vip.port === 0 && !persistence) return undefined;
    const p: Parsed = { command: head === "-A" ? "add-service" : "edit-service", format: CHANGE_FORMAT, service, scheduler };
    if (persistence) p.persistence = persistence;
    return p;
  }
  if (head !== "-a" && head !== "-e") return undefined;
  if (n !== 8 || argv[3] !== "-r" || argv[6] !== "-w") return undefined;
  const rip = plainAddrPort(argv[4], names);
  const method = argv[5] === "-m" ? "nat" : argv[5] === "-g" ? "dr" : argv[5] === "-i" ? "tun" : undefined;
  const weight = plainNum(argv[7], 0, 65535);
  if (!rip || method === undefined || weight < 0) return undefined;
  if (rip.port === undefined) rip.port = vip.port;
  if (method === "nat" && rip.port === 0 && vip.port !== 0) return undefined;
  const p: Parsed = { command: head === "-a" ? "add-server" : "edit-server", format: CHANGE_FORMAT, service, server: rip, method, weight };
  if (method !== "nat" && rip.port !== vip.port) {
    // As parseCarefully: ipvsadm gives DR and TUN servers the service port (wasmvs warns).
    p.warnings = [`${method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: ` +
      `real server ${rip.address}:${rip.port} gets the service port ${vip.port}, as ipvsadm does`];
    rip.port = vip.port;
  }
  return p;
}

/** What scanSaveLine read last (one record, reused: an -R of 64k services reads 700,000 lines). */
export const saveLine = {
  /** 1: `-A`, 2: `-a`. */
  kind: 0,
  protocol: "tcp" as "tcp" | "udp",
  /** The service's ADDRESS:PORT: where its address starts in the text, its wire value and port. */
  vipFrom: 0, vipWire: 0, vipPort: 0,
  /** -A: the scheduler (its one string) and -p's timeout (0: not persistent). */
  scheduler: "", persistence: 0,
  /** -a: where the server's address starts, its wire value and port (the service's when none is
   *  written), its method and weight. */
  ripFrom: 0, ripWire: 0, ripPort: 0, method: "nat" as "nat" | "dr" | "tun", weight: 0,
};

/**
 * One line text[start, end) read at once when it is `-A -t|-u ADDRESS:PORT -s SCHEDULER [-p TIMEOUT]`
 * or `-a -t|-u ADDRESS:PORT -r ADDRESS[:PORT] -m|-g|-i -w WEIGHT` exactly as ipvsadm-save writes
 * it (one space between words, nothing after): 1 or 2 (what it read is in `saveLine`), else 0.
 * What it takes is a part of what parseCommon takes, read alike and without a warning (a DR or
 * TUN server written with another port gets 0: the general path warns); nothing is allocated but
 * a scheduler's word. An ipvsadm -R of ipvsadm-save's output is checked (client) and built
 * (director) from its text this way, every other line by parseArgs.
 */
export function scanSaveLine(text: string, start: number, end: number): number {
  // "-A -t " / "-a -u " ...
  if (end - start < 15 || text.charCodeAt(start) !== 45 || text.charCodeAt(start + 2) !== 32 || text.charCodeAt(start + 3) !== 45 ||
    text.charCodeAt(start + 5) !== 32) return 0;
  const head = text.charCodeAt(start + 1);
  const kind = head === 65 ? 1 : head === 97 ? 2 : 0; // A a
  const p = text.charCodeAt(start + 4);
  const protocol = p === 116 ? "tcp" : p === 117 ? "udp" : undefined; // t u
  if (kind === 0 || protocol === undefined) return 0;
  const vipFrom = start + 6;
  const vipEnd = text.indexOf(" ", vipFrom);
  if (vipEnd < 0 || vipEnd >= end || !scanAddrPort(text, vipFrom, vipEnd) || scanned.port < 0) return 0;
  const out = saveLine;
  const vipPort = scanned.port;
  out.vipWire = scanned.wire;
  if (kind === 1) {
    // "-s SCHEDULER" then nothing or " -p TIMEOUT".
    if (text.charCodeAt(vipEnd + 1) !== 45 || text.charCodeAt(vipEnd + 2) !== 115 || text.charCodeAt(vipEnd + 3) !== 32) return 0;
    const schedFrom = vipEnd + 4;
    let schedEnd = text.indexOf(" ", schedFrom);
    if (schedEnd < 0 || schedEnd > end) schedEnd = end;
    const scheduler = SUPPORTED_SCHEDULERS.get(text.slice(schedFrom, schedEnd));
    if (scheduler === undefined) return 0;
    let persistence = 0;
    if (schedEnd < end) {
      if (end - schedEnd < 5 || end - schedEnd > 10 || text.charCodeAt(schedEnd + 1) !== 45 || text.charCodeAt(schedEnd + 2) !== 112 ||
        text.charCodeAt(schedEnd + 3) !== 32) return 0;
      persistence = digitRun(text, schedEnd + 4, end);
      if (persistence < 1 || persistence > 2678400) return 0;
    }
    // ipvsadm: a service needs a port unless it is persistent (the general path words it).
    if (vipPort === 0 && persistence === 0) return 0;
    out.scheduler = scheduler;
    out.persistence = persistence;
  } else {
    // "-r ADDRESS[:PORT] -m -w WEIGHT" (WEIGHT of 1 to 6 digits).
    if (text.charCodeAt(vipEnd + 1) !== 45 || text.charCodeAt(vipEnd + 2) !== 114 || text.charCodeAt(vipEnd + 3) !== 32) return 0;
    const ripFrom = vipEnd + 4;
    const sp = text.indexOf(" ", ripFrom);
    if (sp < 0 || end - sp < 8 || end - sp > 13 || text.charCodeAt(sp + 1) !== 45 || text.charCodeAt(sp + 3) !== 32 ||
      text.charCodeAt(sp + 4) !== 45 || text.charCodeAt(sp + 5) !== 119 || text.charCodeAt(sp + 6) !== 32) return 0;
    const m = text.charCodeAt(sp + 2);
    const method = m === 109 ? "nat" : m === 103 ? "dr" : m === 105 ? "tun" : undefined;
    const weight = digitRun(text, sp + 7, end);
    if (method === undefined || weight < 0 || weight > 65535 || !scanAddrPort(text, ripFrom, sp)) return 0;
    const port = scanned.port < 0 ? vipPort : scanned.port;
    if (method === "nat" && port === 0 && vipPort !== 0) return 0;
    // DR and TUN keep the service's port: ipvsadm changes a port written otherwise, and the
    // general path warns.
    if (method !== "nat" && port !== vipPort) return 0;
    out.ripFrom = ripFrom;
    out.ripWire = scanned.wire;
    out.ripPort = port;
    out.method = method;
    out.weight = weight;
  }
  out.kind = kind;
  out.protocol = protocol;
  out.vipFrom = vipFrom;
  out.vipPort = vipPort;
  return kind;
}

/** The words of a line as an -R reads them: at spaces and tabs when it is plain (printable ASCII),
 *  else as line.trim().split(/\s+/) splits it (any white space). */
export function wordsOf(line: string): string[] {
  const words: string[] = [];
  const n = line.length;
  for (let i = 0; i < n;) {
    let c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      i++;
      continue;
    }
    if (c < 32 || c > 126) return line.trim().split(/\s+/).filter(Boolean);
    const start = i;
    for (; i < n; i++) {
      c = line.charCodeAt(i);
      if (c === 32 || c === 9) break;
      if (c < 32 || c > 126) return line.trim().split(/\s+/).filter(Boolean);
    }
    words.push(line.slice(start, i));
  }
  return words;
}

/** Parse ipvsadm's argv (without the program name). */
export function parseArgs(argv: string[]): Parsed {
  return parseCommon(argv) ?? parseCarefully(argv);
}

/** parseArgs for every form ipvsadm takes (what parseCommon's results are checked against). */
export function parseCarefully(argv: string[]): Parsed {
  const p: Parsed = {
    command: "list",
    format: noFormat(),
  };
  const st: ParseState = { commands: [], options: new Set(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if (Object.hasOwn(IPVSADM_NOT_YET, name)) throw notYet(`--${name}`, IPVSADM_NOT_YET[name], i);
      const spec = BY_LONG.get(name);
      if (!spec) throw poptSays(`unrecognized option '${a}'`, i);
      let v = inline;
      const at = i;
      if (spec.arg === "optional") {
        if (v === undefined && i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) v = argv[++i];
      } else if (spec.arg && v === undefined) {
        if (i + 1 >= argv.length) throw poptSays(`option '${a}' requires an argument`, i);
        v = argv[++i];
      }
      applyAt(() => spec.apply(p, v, st), inline === undefined && spec.arg ? i : at, at);
    } else if (a.startsWith("-") && a.length > 1) {
      for (let k = 1; k < a.length; k++) {
        const c = a[k];
        if (Object.hasOwn(IPVSADM_NOT_YET, c)) throw notYet(`-${c}`, IPVSADM_NOT_YET[c], i);
        const spec = BY_SHORT.get(c);
        if (!spec) throw poptSays(`invalid option -- '${c}'`, i);
        let v: string | undefined;
        const at = i;
        if (spec.arg === "optional") {
          if (k + 1 < a.length) v = a.slice(k + 1);
          else if (i + 1 < argv.length && /^\d+$/.test(argv[i + 1])) v = argv[++i];
          applyAt(() => spec.apply(p, v, st), i, at);
          break;
        }
        if (spec.arg) {
          if (k + 1 < a.length) v = a.slice(k + 1);
          else if (i + 1 < argv.length) v = argv[++i];
          else throw poptSays(`option requires an argument -- '${c}'`, i);
          applyAt(() => spec.apply(p, v, st), i, at);
          break;
        }
        applyAt(() => spec.apply(p, v, st), at, at);
      }
    } else {
      st.rest.push(a);
    }
  }
  p.command = st.commands[0] ?? "list";
  if (p.command === "set") {
    if (st.rest.length !== 3) throw new IpvsadmError("--set requires 3 timeout values: tcp tcpfin udp", 2);
    const t = st.rest.map((x, k) => num(x, 0, MAX_TIMEOUT, ["tcp timeout", "tcpfin timeout", "udp timeout"][k]));
    p.timeouts = { tcp: t[0], tcpfin: t[1], udp: t[2] };
  } else if (st.rest.length) {
    throw poptSays(`unexpected argument ${st.rest[0]}`, undefined);
  }
  if (p.command === "help" || p.command === "version") return p;
  optCheck(p.command, st.options);
  const problem = p.scheduler === undefined ? undefined : schedulerProblem(p.scheduler);
  if (problem) {
    // ipvsadm's own message for a name IPVS does not know; for IPVS's others, wasmvs's.
    const e = problem.known ? new IpvsadmError(problem.reason.replace(/^s/, "S"), 1) : new IpvsadmError("Scheduler or persistence engine not found", 255);
    e.arg = argv.lastIndexOf(p.scheduler!);
    throw e;
  }
  if (p.server && p.server.port === undefined && p.service) p.server.port = p.service.port;
  if (p.schedFlagNames) p.schedFlags = schedFlagBits(p.schedFlagNames, p.scheduler ?? "wlc");
  // ipvsadm: -o for a UDP service or a firewall-mark one only.
  if (p.onePacket && p.service && p.service.fwmark === undefined && p.service.protocol !== "udp") {
    throw new IpvsadmError("One-Packet Scheduling is only for UDP virtual services", 2);
  }
  if (p.netmask !== undefined) {
    if (!p.persistence) throw new IpvsadmError("the netmask (-M) only applies to a persistent service (-p)", 2);
    p.persistence = p.service && typeof p.service.vaddr !== "number"
      ? persistence6(p.persistence.timeout, prefix6(p.netmask))
      : persistenceOf(p.persistence.timeout, parseNetmask(p.netmask));
  } else if (p.persistence && p.service && typeof p.service.vaddr !== "number") {
    p.persistence = persistence6(p.persistence.timeout, 128);
  }
  // ipvsadm: a service needs a port unless it is persistent.
  if ((p.command === "add-service" || p.command === "edit-service") && p.service?.port === 0 && p.service.fwmark === undefined && !p.persistence) {
    throw new IpvsadmError("Zero port specified for non-persistent service", 2);
  }
  if ((p.command === "add-server" || p.command === "edit-server") && p.server && p.service) {
    const method = p.method ?? "dr";
    // A port-zero service's servers keep the port the client asked for (port 0 here).
    if (method === "nat" && p.server.port === 0 && p.service.port !== 0) throw new IpvsadmError("Zero port specified for a masqueraded real server", 2);
    if (method !== "nat" && p.server.port !== p.service.port && p.service.fwmark === undefined) {
      // ipvsadm: for DR and TUN the real server port is the service port (it says nothing; wasmvs warns).
      (p.warnings ??= []).push(`${method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: ` +
        `real server ${hostPort(p.server.address, p.server.port!)} gets the service port ${p.service.port}, as ipvsadm does`);
      p.server.port = p.service.port;
    }
  }
  return p;
}

// ---- output --------------------------------------------------------------------------

/** Statistics as the engine keeps them, or as numbers after a trip through JSON. */
export type StatsView = { [K in keyof Stats]: number | bigint };
export interface RatesView {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}
/** A real server as the listings show it: the engine's view, with rates, counters as numbers. */
export interface DestView extends Pick<RealServerInfo, "address" | "port" | "method" | "weight" | "uthreshold" | "lthreshold" | "active" | "inactive" | "persistConns"> {
  stats: StatsView;
  rates: RatesView;
}
/** A service as the listings show it. */
export interface ServiceView extends ServiceKey {
  scheduler: string;
  schedFlags?: number;
  persistence?: { timeout: number; netmask: string };
  onePacket?: boolean;
  stats: StatsView;
  rates: RatesView;
  realServers: DestView[];
}
/** A connection as -c lists it: the engine's view, the forwarding method aside. */
export type ConnView = Omit<ConnectionInfo, "method">;
export interface TableView {
  size: number;
  services: ServiceView[];
  timeouts: { tcp: number; tcpfin: number; udp: number };
}

const pad = (s: string, w: number) => s.padEnd(w);
const lpad = (s: string, w: number) => s.padStart(w);
/** The Forward column's words. */
export const FWD = { nat: "Masq", dr: "Route", tun: "Tunnel" } as const;
const SWITCH = { nat: "-m", dr: "-g", tun: "-i" } as const;
const ipNum = (a: string) => a.split(".").reduce((x, o) => x * 256 + Number(o), 0);
/** An address's family by its text (a listing's addresses are text): 6 when it has a ":". */
const isV6Text = (a: string) => a.indexOf(":") >= 0;
/** ipvs_cmp_services / ipvs_cmp_dests's address order: IPv4 before IPv6 (AF_INET < AF_INET6),
 *  then by value, an IPv6 address word by word in network order. */
function cmpAddress(a: string, b: string): number {
  const a6 = isV6Text(a), b6 = isV6Text(b);
  if (!a6 && !b6) return ipNum(a) - ipNum(b);
  if (a6 !== b6) return a6 ? 1 : -1;
  const x = parseIp6(a), y = parseIp6(b);
  const be = (w: number) => (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) | (w >>> 24)) >>> 0;
  for (let k = 0; k < 4; k++) if (x[k] !== y[k]) return be(x[k]) - be(y[k]);
  return 0;
}

/** print_largenum: 9 columns, K/M/G/T above 10^8, or exact numbers with --exact. */
export function largenum(v: number | bigint, exact: boolean): string {
  const i = BigInt(v);
  if (exact) {
    const s = i.toString();
    return lpad(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000n) return lpad(i.toString(), 9);
  if (i < 1000000000n) return lpad((i / 1000n).toString(), 8) + "K";
  if (i < 100000000000n) return lpad((i / 1000000n).toString(), 8) + "M";
  if (i < 100000000000000n) return lpad((i / 1000000000n).toString(), 8) + "G";
  return lpad((i / 1000000000000n).toString(), 8) + "T";
}

function title(f: Format): string {
  if (f.stats) return `${pad("Prot LocalAddress:Port", 33)} ${["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"].map((x) => lpad(x, 8)).join(" ")}\n  -> RemoteAddress:Port\n`;
  if (f.rate) return `${pad("Prot LocalAddress:Port", 33)} ${["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"].map((x) => lpad(x, 8)).join(" ")}\n  -> RemoteAddress:Port\n`;
  if (f.thresholds) return `${pad("Prot LocalAddress:Port", 33)} ${["Uthreshold", "Lthreshold", "ActiveConn", "InActConn"].map((x) => pad(x, 10)).join(" ")}\n  -> RemoteAddress:Port\n`;
  if (f.persistentConn) return `${pad("Prot LocalAddress:Port", 33)} ${pad("Weight", 9)} ${pad("PersistConn", 11)} ${pad("ActiveConn", 10)} ${pad("InActConn", 10)}\n  -> RemoteAddress:Port\n`;
  return "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";
}

/** ipvs_cmp_services / ipvs_cmp_dests order: firewall mark (address services first), protocol, address, port. */
export function sortServices(s: ServiceView[]): ServiceView[] {
  const proto = (p: string) => (p === "tcp" ? 6 : 17);
  // (ipvs_cmp_services puts the family after the mark: an IPv6 service after the IPv4 ones.)
  const fam = (s: ServiceView) => (isV6Text(s.address) ? 1 : 0);
  return [...s].sort((a, b) => (a.fwmark ?? 0) - (b.fwmark ?? 0) || fam(a) - fam(b) || proto(a.protocol) - proto(b.protocol) || cmpAddress(a.address, b.address) || a.port - b.port);
}
function sortDests(d: DestView[]): DestView[] {
  return [...d].sort((a, b) => cmpAddress(a.address, b.address) || a.port - b.port);
}

/** ipvsadm's persistence part of a service line: " persistent T mask M" or " -p T -M M". */
function persistenceText(s: ServiceView, rule: boolean): string {
  if (!s.persistence) return "";
  // An IPv6 service's mask is a prefix length, printed unless 128 (print_service_entry's " mask %i").
  const mask = s.persistence.netmask !== (isV6Text(s.address) ? "128" : "255.255.255.255") ? (rule ? ` -M ${s.persistence.netmask}` : ` mask ${s.persistence.netmask}`) : "";
  return (rule ? ` -p ${s.persistence.timeout}` : ` persistent ${s.persistence.timeout}`) + mask;
}

/** -t ADDRESS:PORT, -u ADDRESS:PORT or -f MARK, as -S writes a service. */
const ruleName = (s: ServiceKey) => (s.fwmark !== undefined ? `-f ${s.fwmark}${isV6Text(s.address) ? " -6" : ""}` : `${s.protocol === "tcp" ? "-t" : "-u"} ${hostPort(s.address, s.port)}`);

function serviceLine(s: ServiceView, f: Format, rule: boolean): string {
  const flags = s.schedFlags ? schedFlagNames(s.schedFlags, s.scheduler).join(",") : undefined;
  // ipvsadm 1.31's print_service_entry: -p, -M, --pe, -o, then -b; listed, the flags in
  // parentheses after the scheduler and "ops" last.
  if (rule) return `-A ${ruleName(s)} -s ${s.scheduler}${persistenceText(s, true)}${s.onePacket ? " -o" : ""}${flags !== undefined ? ` -b ${flags}` : ""}\n`;
  // ipvsadm 1.31 cuts an IPv4 service's name at 33 characters, never an IPv6 one's.
  const v6 = isV6Text(s.address);
  const full = s.fwmark !== undefined ? `FWM  ${s.fwmark}${v6 ? " IPv6" : ""}` : `${s.protocol.toUpperCase()}  ${hostPort(s.address, s.port)}`;
  const name = v6 ? full : full.slice(0, 33);
  if (f.stats) return pad(name, 33) + [s.stats.conns, s.stats.inpkts, s.stats.outpkts, s.stats.inbytes, s.stats.outbytes].map((v) => largenum(v, f.exact)).join("") + "\n";
  if (f.rate) return pad(name, 33) + [s.rates.cps, s.rates.inpps, s.rates.outpps, s.rates.inbps, s.rates.outbps].map((v) => largenum(v, f.exact)).join("") + "\n";
  return `${name} ${s.scheduler}${flags !== undefined ? ` (${flags})` : ""}${persistenceText(s, false)}${s.onePacket ? " ops" : ""}\n`;
}

function destLine(s: ServiceView, d: DestView, f: Format, rule: boolean): string {
  const dname = hostPort(d.address, d.port);
  if (rule) {
    const base = `-a ${ruleName(s)} -r ${dname} ${SWITCH[d.method]} -w ${d.weight}`;
    return d.method === "tun" ? `${base} --tun-type ipip\n` : `${base}\n`;
  }
  // Cut at 28 characters under an IPv4 service (print_service_entry tests the service's family).
  const n = isV6Text(s.address) ? dname : dname.slice(0, 28);
  if (f.stats) return `  -> ${pad(n, 28)}` + [d.stats.conns, d.stats.inpkts, d.stats.outpkts, d.stats.inbytes, d.stats.outbytes].map((v) => largenum(v, f.exact)).join("") + "\n";
  if (f.rate) return `  -> ${pad(n, 28)} ${lpad(String(d.rates.cps), 8)} ${lpad(String(d.rates.inpps), 8)} ${lpad(String(d.rates.outpps), 8)}` + largenum(d.rates.inbps, f.exact) + largenum(d.rates.outbps, f.exact) + "\n";
  if (f.thresholds) return `  -> ${pad(n, 28)} ${[d.uthreshold, d.lthreshold, d.active, d.inactive].map((v) => pad(String(v), 10)).join(" ")}\n`;
  if (f.persistentConn) return `  -> ${pad(n, 28)} ${pad(String(d.weight), 9)} ${pad(String(d.persistConns), 11)} ${pad(String(d.active), 10)} ${pad(String(d.inactive), 10)}\n`;
  return `  -> ${pad(n, 28)} ${pad(FWD[d.method], 7)} ${pad(String(d.weight), 6)} ${pad(String(d.active), 10)} ${pad(String(d.inactive), 10)}\n`;
}

/** -L (and --stats, --rate, --thresholds, --persistent-conn), all services or one. */
export function formatList(t: TableView, f: Format, only?: ServiceKey): string {
  let out = formatListHead(t.size, f);
  const services = f.nosort ? t.services : sortServices(t.services);
  for (const s of services) {
    if (only && !sameService(s, only)) continue;
    out += formatListService(s, f);
  }
  return out;
}

/** The lines -L prints before the services (a listing streamed a service at a time starts with them). */
export function formatListHead(size: number, f: Format): string {
  return `IP Virtual Server version 1.2.1 (size=${size})\n` + title(f);
}

/** One service's lines of -L, its real servers sorted unless --nosort. */
export function formatListService(s: ServiceView, f: Format): string {
  let out = serviceLine(s, f, false);
  for (const d of f.nosort ? s.realServers : sortDests(s.realServers)) out += destLine(s, d, f, false);
  return out;
}

/** -S: the rules that rebuild the table with -R. */
export function formatSave(t: TableView, f: Format): string {
  let out = "";
  for (const s of f.nosort ? t.services : sortServices(t.services)) out += formatSaveService(s, f);
  return out;
}

/** One service's rules of -S. */
export function formatSaveService(s: ServiceView, f: Format): string {
  let out = serviceLine(s, f, true);
  for (const d of f.nosort ? s.realServers : sortDests(s.realServers)) out += destLine(s, d, f, true);
  return out;
}

/** --timeout */
export function formatTimeouts(t: TableView): string {
  return `Timeout (tcp tcpfin udp): ${t.timeouts.tcp} ${t.timeouts.tcpfin} ${t.timeouts.udp}\n`;
}

/** -c: the connection table as /proc/net/ip_vs_conn gives it to ipvsadm. */
export function formatConnections(conns: ConnView[]): string {
  return CONNECTIONS_HEAD + formatConnectionLines(conns);
}

/** -c's title lines (a listing streamed a slice at a time starts with them). */
export const CONNECTIONS_HEAD = `IPVS connection entries\npro expire ${pad("state", 11)} ${pad("source", 18)} ${pad("virtual", 18)} destination\n`;

/** -c's lines of the connections given. */
export function formatConnectionLines(conns: ConnView[]): string {
  let out = "";
  for (const c of conns) {
    const secs = Math.max(0, Math.floor(c.expiresInMs / 1000));
    const expire = `${String(Math.floor(secs / 60)).padStart(2, "0")}:${String(secs % 60).padStart(2, "0")}`;
    out += `${pad(c.protocol.toUpperCase(), 3)} ${pad(expire, 6)} ${pad(c.state, 11)} ${pad(hostPort(c.client, c.clientPort), 18)} ` +
      `${pad(hostPort(c.vip, c.vport), 18)} ${hostPort(c.server, c.serverPort)}\n`;
  }
  return out;
}

export const VERSION_TEXT = "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1) -- wasmvs\n";

export const HELP_TEXT = `ipvsadm v1.31 2019/12/24 (wasmvs)
Usage:
  wasmvs -A|E virtual-service [-s scheduler]
  wasmvs -D virtual-service
  wasmvs -C
  wasmvs -R
  wasmvs -S [-n]
  wasmvs -a|e virtual-service -r server-address [options]
  wasmvs -d virtual-service -r server-address
  wasmvs -L|l [virtual-service] [options]
  wasmvs -Z [virtual-service]
  wasmvs --set tcp tcpfin udp
  wasmvs --start-daemon {master|backup} [daemon-options]
  wasmvs --stop-daemon {master|backup}
  wasmvs -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero (marks: the
                                      director's mark rules, README "Firewall marks")
  --ipv6         -6                   fwmark entry uses IPv6

Options:
  --scheduler    -s scheduler         one of ${SCHEDULERS.join("|")},
                                      the default scheduler is wlc.
  --persistent   -p [timeout]         persistent service (default timeout 300 s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type     type                 one of ipip
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact        -X                   expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --numeric      -n                   numeric output of addresses and ports
  --ops          -o                   one-packet scheduling
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --health                            (wasmvs) each checked real server's health: state, weight,
                                      time since its last change, each checker's last result
  --daemon                            output of daemon information
  --vrrp                              (wasmvs) each VRRP instance: state, priority, master,
                                      adverts, faults

Daemon Options:
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
                                      (a director interface's name or its TAP)
  --mcast-group address               IPv4 multicast group (default=224.0.0.81, the only
                                      group), or a unicast address: the other director
                                      (a master sends there, a backup takes sync from it)
  --mcast-port port                   UDP port (default=8848, the only one)
  --mcast-ttl ttl                     Multicast TTL (default=1, the only one)

Not supported by wasmvs yet (refused with a message):
forwarding of IPv6 services and servers (their rules are read and checked), --pe,
another sync group, port or TTL, tunnel types other than ipip, schedulers other than
${SCHEDULERS.join(", ")}.
Addresses are always printed numerically (as with -n).
`;
