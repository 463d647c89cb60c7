// The TypeScript face of the WebAssembly engine. It imports no Node module, so it runs
// in a browser or any other JavaScript runtime: give it the engine's bytes (or a
// compiled WebAssembly.Module) and it does the rest.
//
// Two kinds of calls:
//  - the data path: put frames in RX slots (rxBuffer/setRx or loadFrame), call
//    process(n, nowMs) once per batch, read the frames to send with txFrame(i). One call
//    across the JS/WASM boundary per batch, through the raw instance export.
//  - the control path: interfaces, routes, services, real servers, timeouts, statistics.
//    These validate and throw EngineError with a readable message; nothing changes on error.

import {
  Abi, Conn6Field, ConnField, ConnFlag, ConnState, Counter, DestField, DestFlag, Err, Fwd, Neigh6Field, NeighField, NeighState, Proto, Region, RxDesc, Sched,
  ServiceField, Stat, TxDesc, VrrpQueue,
} from "./abi.js";
import { formatIp, ip4Of, Ip6Words, IpAddr, isIp6, parseIp6, ipToWire, MacWords, macWords, markToWire, parseCidr, parseIp, parsePrefix, Prefix, portToWire, wireToIp, wireToMark, wireToPort, checkPort } from "./addr.js";
import type { instantiate as instantiateEngine } from "../../wasm/release.js";

export * from "./addr.js";
export { Counter, Fwd, Proto, Sched, ConnState, Err, Region } from "./abi.js";

export class EngineError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

export type Protocol = "tcp" | "udp";
const PROTO_NAME: Record<number, Protocol> = { [Proto.TCP]: "tcp", [Proto.UDP]: "udp" };
export type Method = "nat" | "dr" | "tun";
/** The engine's schedulers by name: the Sched enum's (assembly/abi.ts), by code, lower-cased;
 *  the one list every syntax, listing and error message reads. */
export type SchedulerName = Lowercase<Exclude<keyof typeof Sched, "COUNT">>;

export const SCHEDULERS: SchedulerName[] = Object.keys(Sched)
  .filter((k): k is Uppercase<SchedulerName> => Number.isNaN(Number(k)) && k !== "COUNT")
  .sort((a, b) => Sched[a] - Sched[b]) // SCHEDULERS[code] is the code's name
  .map((k) => k.toLowerCase() as SchedulerName);
export const DEFAULT_MAGLEV_SERVICES = 0;
const SCHED_CODE = Object.fromEntries(SCHEDULERS.map((name) => [name, Sched[name.toUpperCase() as Uppercase<SchedulerName>]])) as Record<SchedulerName, number>;
const METHOD_CODE: Record<Method, number> = { nat: Fwd.MASQ, dr: Fwd.DROUTE, tun: Fwd.TUNNEL };
const METHOD_NAME: Record<number, Method> = { [Fwd.MASQ]: "nat", [Fwd.DROUTE]: "dr", [Fwd.TUNNEL]: "tun" };
const PROTO_CODE: Record<Protocol, number> = { tcp: Proto.TCP, udp: Proto.UDP };

export interface EngineOptions {
  /** Frames per batch (RX slots). Default 256. */
  batch?: number;
  /** Bytes per frame slot, including 64 bytes of headroom; a multiple of 64. Default 2048. */
  slotSize?: number;
  /** Connection table capacity, fixed for the engine's life. Default 65536. */
  connCapacity?: number;
  /** Services the engine has room for (1 .. 65,536); DEFAULT_MAX_SERVICES by default. */
  maxServices?: number;
  /** Real-server records (1 .. 1,048,576; a removed server holds its record while it has
   *  connections); DEFAULT_MAX_REAL_SERVERS by default. */
  maxRealServers?: number;
  /** Bytes of the scheduler arena, from which a service of sh, dh, mh or maglev takes its
   *  table (schedulerBytes); DEFAULT_SCHEDULER_MEMORY by default. */
  schedulerMemory?: number;
  maxNeighbours?: number;
  /** Seed of the connection hash (fixed by default so runs are reproducible). */
  hashSeed?: number;
  /** Bytes of engine memory set aside for the embedder (Region.RESERVED). */
  reserveBytes?: number;
  /** Seed of the twos scheduler's draws (fixed by default: a replay chooses the same servers). */
  randomSeed?: number;
  /** Room for this many maglev tables added to schedulerMemory (each M entries of 4 bytes:
   *  256 KiB at M = 65,537). Default 0: maglev services take their tables from
   *  schedulerMemory like the other schedulers. */
  maglevServices?: number;
  /** mh's table size, one of the kernel's primes (ip_vs_mh.c: 251, 509, 1021, 2039, 4093,
   *  8191, 16381, 32749, 65521, 131071 for CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17); default 4093,
   *  the kernel's default. A service of mh takes one from the arena (4 bytes an entry). */
  mhTableSize?: number;
  /** maglev's M: a prime from 251 to 1048573; default 65537, the paper's and Katran's. */
  maglevTableSize?: number;
}

export interface InterfaceSpec {
  index: number;
  mac: string;
  /** "10.0.0.1/24", or undefined for an interface without an address. */
  address?: string;
  /** Its IPv6 address parsed (a global one, or a link-local one that replaces the one the
   *  engine makes from the MAC); undefined: the link-local one only. */
  net6?: Prefix;
  mtu?: number;
}

export interface ServiceSpec {
  protocol: Protocol;
  /** The VIP as written ("0.0.0.0" for a firewall-mark service). */
  address: string;
  /** The VIP parsed where it was read (parseIp; 0 for a firewall-mark service): what the
   *  engine takes (addr.ts, "values stored parsed"). */
  vaddr: IpAddr;
  port: number;
  scheduler: SchedulerName;
  /** ipvsadm -p TIMEOUT [-M NETMASK]: a client's connections go to one server while its
   *  template lives (timeout in seconds; netmask dotted, 255.255.255.255 by default; mask:
   *  the netmask parsed where it was read). */
  persistence?: Persistence;
  /** ipvsadm -f MARK: a firewall-mark service, matched by the mark of the packet (any
   *  protocol, address and port the mark rules cover); protocol, address and port unused. */
  fwmark?: number;
  /** ipvsadm -b: IPVS's scheduler flags, bit 0 flag-1 (sh-fallback), bit 1 flag-2 (sh-port),
   *  bit 2 flag-3; absent: none. */
  schedFlags?: number;
  /** ipvsadm -o: one-packet scheduling — each UDP datagram is scheduled on its own and no
   *  connection is kept (IPVS ignores it for TCP). */
  onePacket?: boolean;
}

export interface Persistence {
  timeout: number;
  netmask: string;
  mask: IpAddr;
}

/** A service in the operator's words, its parsed values optional: what the engine's own
 *  API takes from tests and embedders (parsed on the way in). The configuration's records
 *  are ServiceSpecs, parsed where they were read. */
export type ServiceText = Omit<ServiceSpec, "vaddr" | "persistence"> & { vaddr?: IpAddr; persistence?: { timeout: number; netmask: string; mask?: IpAddr } };
/** A real server in the operator's words, its address parsed or not (ServiceText's twin). */
export type RealServerText = Omit<RealServerSpec, "daddr"> & { daddr?: IpAddr };

/** A ServiceText's values parsed (the engine's text API: tests and embedders; the
 *  configuration's records come parsed). */
export function parsedService(s: ServiceText): ServiceSpec {
  if (s.vaddr !== undefined && (!s.persistence || s.persistence.mask !== undefined)) return s as ServiceSpec;
  const out = { ...s, vaddr: s.vaddr ?? (s.fwmark !== undefined ? 0 : parseIp(s.address)) } as ServiceSpec;
  if (s.persistence) out.persistence = { ...s.persistence, mask: s.persistence.mask ?? parseIp(s.persistence.netmask) };
  return out;
}

/** The persistence of netmask text (parsed here: the readers call this where they read it). */
export const persistence = (timeout: number, netmask = "255.255.255.255"): Persistence => ({ timeout, netmask, mask: netmask === "255.255.255.255" ? -1 : parseIp(netmask) });

/** The percent of the connection table a backup's synced-but-never-seen entries may hold
 *  (assembly/ha/sync.ts says why half). */
export const SYNC_TABLE_SHARE = 50;
/** A sync master resends its whole table in this period (joining backups, long-lived connections). */
export const SYNC_REFRESH_MS = 10_000;

/** A VRRP instance as the engine keeps it. */
export interface VrrpInstanceSpec {
  ifindex: number;
  vrid: number;
  version: 2 | 3;
  intervalCs: number;
  /** authentication PASS (v2): up to 8 characters. */
  authPass?: string;
  addresses: string[];
  /** addresses parsed where they were read (absent: parsed when the table is set). */
  addrs?: IpAddr[];
  /** virtual_ipaddress_excluded: held while master, not in the adverts. */
  excluded?: string[];
  excludedAddrs?: IpAddr[];
  /** Not VRRP: keepalived's static_ipaddress, held always (vrid, version, interval unused). */
  static?: boolean;
  /** keepalived's use_vmac: the addresses answered and announced from 00:00:5e:00:01:VRID;
   *  with vmacXmitBase the adverts still leave from the interface's MAC. */
  vmac?: boolean;
  vmacXmitBase?: boolean;
  /** VRRP version 3 over IPv6 (assembly/ha/vrrp6.ts): addresses IPv6, adverts to
   *  mcastGroup6 (default ff02::12) from the interface's link-local address. */
  ipv6?: boolean;
  mcastGroup6?: string;
  /** unicast_peer is set: the peers' IPv6 adverts are taken whatever their hop limit (keepalived). */
  unicast?: boolean;
}

/** An advert the engine validated and queued for the host. */
export interface VrrpAdvert {
  instance: number;
  src: string;
  message: Uint8Array;
}

/** A firewall-mark rule: what iptables -t mangle ... -j MARK --set-mark would mark. */
export interface MarkRule {
  mark: number;
  /** Any when absent. */
  protocol?: Protocol;
  /** ADDRESS or ADDRESS/PREFIX. */
  destination: string;
  /** destination parsed where it was read (absent: parsed when the rule is set). */
  dst?: Prefix;
  /** Inclusive ranges of destination ports; any when absent. */
  ports?: [number, number][];
}

export interface RealServerSpec {
  /** The server's address as written. */
  address: string;
  /** The address parsed where it was read (parseIp): what the engine takes. */
  daddr: IpAddr;
  port: number;
  method: Method;
  weight: number;
  uthreshold?: number;
  lthreshold?: number;
}

export interface Stats {
  conns: bigint;
  inpkts: bigint;
  outpkts: bigint;
  inbytes: bigint;
  outbytes: bigint;
}

/** A real server as the engine lists it (its text read back from the engine's words). */
export interface RealServerInfo extends Required<Omit<RealServerSpec, "daddr">> {
  index: number;
  active: number;
  inactive: number;
  /** Persistence templates naming this server (ipvsadm's PersistConn). */
  persistConns: number;
  overloaded: boolean;
  stats: Stats;
}

/** A service as the engine lists it (its text read back from the engine's words). */
export interface ServiceInfo extends Omit<ServiceText, "vaddr" | "persistence"> {
  persistence?: { timeout: number; netmask: string };
  index: number;
  stats: Stats;
  /** In IPVS list order: the most recently added first. */
  realServers: RealServerInfo[];
}

/** Where a listing of the service table in slices goes on (Engine.servicesSlice): a position
 *  (table index, or position in a given order) and how many of that service's real servers
 *  earlier slices carried. */
export interface ServiceCursor {
  service: number;
  server: number;
}

export interface ConnectionInfo {
  protocol: Protocol | "ip";
  client: string;
  clientPort: number;
  vip: string;
  vport: number;
  server: string;
  serverPort: number;
  method: Method;
  state: string;
  /** Milliseconds left before expiry, relative to the nowMs given. */
  expiresInMs: number;
  /** A persistence template (client port 0, state NONE in ipvsadm's listing); a
   *  firewall-mark service's template has protocol "ip" and the mark as its vip. */
  template?: boolean;
}

/** Timeouts in seconds, as ipvsadm --set and -L --timeout show them. */
export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** Raw exports of the engine module: typed from the declarations asc writes next to
 *  wasm/release.wasm when it compiles assembly/index.ts, so they cannot drift from it. */
export type EngineExports = Awaited<ReturnType<typeof instantiateEngine>>;

const ERR_TEXT: Record<number, string> = {
  [Err.NOT_INITIALISED]: "engine not initialised",
  [Err.BAD_ARGUMENT]: "invalid argument",
  [Err.NO_MEMORY]: "not enough memory for the requested sizes",
  [Err.EXISTS]: "already exists",
  [Err.NOT_FOUND]: "no such entry",
  [Err.FULL]: "table full",
  [Err.NOT_ON_LINK]: "real server is not on a directly connected network (direct routing needs one)",
  [Err.PORT_MISMATCH]: "direct routing and tunnelling cannot change the port: the real server port must equal the service port",
  [Err.NO_ROUTE]: "no route to the real server",
};

/** Bytes of an IPVS sync protocol v1 IPv4 connection entry (ip_vs_sync.c, struct ip_vs_sync_v4). */
export const SYNC_ENTRY_BYTES = 36;

/** Frame slot size when none is given: an Ethernet frame of MTU 1500 fits with room to spare. */
export const DEFAULT_SLOT_SIZE = 2048;
/** A slot for a 64 KB TCP segment (TAP offloads), its Ethernet header and the headroom (a multiple of 64). */
export const OFFLOAD_SLOT_SIZE = 66560;
/** Bytes an Ethernet frame adds to its IP packet at most: the header and one 802.1Q tag. */
const ETHERNET_OVERHEAD = 18;

/** The slot size for interfaces of up to maxMtu: the largest frame they carry behind the headroom, in 64-byte
 *  steps and never under the default; with TAP offloads, a 64 KB segment. */
export function slotSizeFor(maxMtu: number, offload = false): number {
  if (offload) return OFFLOAD_SLOT_SIZE;
  return Math.max(DEFAULT_SLOT_SIZE, Math.ceil((Abi.HEADROOM + maxMtu + ETHERNET_OVERHEAD) / 64) * 64);
}

/** Names of the drop counters, in Counter order (DROP_FRAME_TOO_SHORT -> "frame_too_short"). */
export const DROP_REASONS: string[] = [];
/** Every counter by name (lower case, DROP_ prefix kept). */
export const COUNTER_NAMES: string[] = [];
for (const [name, value] of Object.entries(Counter)) {
  if (typeof value !== "number" || name === "FIRST_DROP" || name === "LAST_DROP" || name === "COUNT") continue;
  COUNTER_NAMES[value] = name.toLowerCase();
  if (value >= Counter.FIRST_DROP && value <= Counter.LAST_DROP) DROP_REASONS[value - Counter.FIRST_DROP] = name.slice(5).toLowerCase();
}

/** The table sizes when none are given (IPVS has no fixed limits; these fit a small
 *  director: about 1 MiB for services and real servers; README "Table sizes and memory"). */
export const DEFAULT_CONN_CAPACITY = 65536;
export const DEFAULT_MAX_SERVICES = 1024;
/** The largest tables (assembly/abi.ts Abi.MAX_SERVICES, MAX_REAL_SERVERS). */
export const MAX_SERVICES = Abi.MAX_SERVICES as number;
export const MAX_REAL_SERVERS = Abi.MAX_REAL_SERVERS as number;
/** The scheduler arena by default: 16 MiB (64 maglev tables at M = 65,537, or 16,384
 *  services of sh or dh, or 1,024 of mh at 4093; pages no table used are never touched). */
export const DEFAULT_SCHEDULER_MEMORY = 16 * 1024 * 1024;
/** The largest arena: what a WebAssembly memory (4 GiB) leaves after the other tables. */
export const MAX_SCHEDULER_MEMORY = 4 * 1024 * 1024 * 1024 - 64 * 1024 * 1024;
/** ip_vs_mh.c's table sizes (CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17) and its default (12). */
export const MH_TABLE_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
export const DEFAULT_MH_TABLE_SIZE = 4093;
/** ServiceField.FLAGS bit of one-packet scheduling (svc/service.ts SVC_ONEPACKET). */
const SERVICE_ONE_PACKET = 2;
/** ServiceField.FLAGS: an IPv6 service (svc/service.ts SVC_V6). */
const SERVICE_V6 = 4;
/** Entries of a maglev table by default (the paper's and Katran's M, a prime). */
export const MAGLEV_M = 65537;
/** Whether n may be maglev's M: a prime from 251 to 1048573. */
export function isMaglevTableSize(n: number): boolean {
  if (!Number.isInteger(n) || n < 251 || n > 1048573 || n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
export const DEFAULT_MAX_REAL_SERVERS = 8192;
/** Engine memory per service and per real-server record, whatever their scheduler (records,
 *  statistics, hashes at most half full, free lists): assembly/index.ts init's layout. */
export const BYTES_PER_SERVICE = ServiceField.SIZE + Stat.SIZE + 4 * 2 + 4 * 2 + 8 * 2 + 4; // the IPv4 and the IPv6 service hashes, the VIP set
export const BYTES_PER_REAL_SERVER = DestField.SIZE + Stat.SIZE + 4 * 2 + 4;
/** Bytes one scheduler table takes from the arena (u32 entries, rounded to 64). */
export function schedulerTableBytes(scheduler: string, o: { mhTableSize?: number; maglevTableSize?: number } = {}): number {
  const entries = scheduler === "sh" || scheduler === "dh" ? Abi.SCHED_BUCKETS : scheduler === "mh" ? o.mhTableSize ?? DEFAULT_MH_TABLE_SIZE
    : scheduler === "maglev" ? o.maglevTableSize ?? MAGLEV_M : 0;
  return Math.ceil(entries * 4 / 64) * 64;
}

/** Drop counters by reason from a set of counters (counters()), only the non-zero ones unless all. */
export function dropsOf(counters: Record<string, bigint>, all = false): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const name of DROP_REASONS) {
    const v = counters[`drop_${name}`] ?? 0n;
    if (all || v !== 0n) out[name] = v;
  }
  return out;
}

const STATE_NAMES = ["NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK", "UDP"];

const mib = (bytes: number): string => String(Number((bytes / 1048576).toFixed(1)));
const kib = (bytes: number): string => String(Number((bytes / 1024).toFixed(1)));

/** Throws EngineError for a negative code; full says which table and its size. */
function check(code: number, what: string, full?: string): number {
  if (code < 0) throw new EngineError(`${what}: ${(code === -Err.FULL && full) || ERR_TEXT[-code] || `error ${-code}`}`, -code);
  return code;
}

/** A service's engine arguments, checked as the engine's addService checks them (ipvsadm's
 *  and IPVS's refusals, in their words) and in wire order. */
export interface ServiceArgs {
  protocol: number;
  /** The VIP (IPv4 wire word, or an IPv6 address's four words), or the mark (markToWire)
   *  of a firewall-mark service. */
  address: IpAddr;
  port: number;
  sched: number;
  persistence?: [timeout: number, netmask: number];
  schedFlags: number;
  onePacket: boolean;
}

export function serviceArgs(spec: ServiceSpec): ServiceArgs {
  checkPort(spec.port);
  const sched = SCHED_CODE[spec.scheduler];
  if (sched === undefined) throw new EngineError(`unknown scheduler "${spec.scheduler}" (supported: ${SCHEDULERS.join(", ")})`, Err.BAD_ARGUMENT);
  // IPVS: a port-zero service (all ports of the VIP) must be persistent.
  if (spec.fwmark === undefined && spec.port === 0 && !spec.persistence) throw new EngineError("Zero port specified for non-persistent service", Err.BAD_ARGUMENT);
  const persistence = spec.persistence && persistenceArgs(spec.persistence);
  const fw = spec.fwmark !== undefined;
  return { protocol: fw ? 0 : PROTO_CODE[spec.protocol], address: fw ? markToWire(spec.fwmark!) : typeof spec.vaddr === "number" ? spec.vaddr >>> 0 : spec.vaddr, port: fw ? 0 : portToWire(spec.port),
    sched, persistence, schedFlags: spec.schedFlags ?? 0, onePacket: spec.onePacket ?? false };
}

function persistenceArgs(p: Persistence): [number, number] {
  // ipvsadm: -p 1 to 31 days; any netmask (the kernel does not ask for a contiguous one).
  if (!Number.isInteger(p.timeout) || p.timeout < 1 || p.timeout > 2678400) throw new EngineError(`persistence timeout out of range (1-2678400): ${p.timeout}`, Err.BAD_ARGUMENT);
  return [p.timeout, ip4Of(p.mask)];
}

/** A real server's engine arguments (forwarding code, weight, thresholds), checked as the
 *  engine's addRealServer and editRealServer check them. */
export function destArgs(spec: RealServerText): [number, number, number, number] {
  const fwd = METHOD_CODE[spec.method];
  if (fwd === undefined) throw new EngineError(`unknown forwarding method "${spec.method}"`, Err.BAD_ARGUMENT);
  if (!Number.isInteger(spec.weight) || spec.weight < 0 || spec.weight > 65535) {
    throw new EngineError(`weight out of range (0-65535): ${spec.weight}`, Err.BAD_ARGUMENT);
  }
  const u = spec.uthreshold ?? 0;
  const l = spec.lthreshold ?? 0;
  const outOfRange = (v: number) => !Number.isInteger(v) || v < 0 || v > 0xffffffff;
  if (outOfRange(u)) throw new EngineError(`upper threshold out of range: ${u}`, Err.BAD_ARGUMENT);
  if (outOfRange(l)) throw new EngineError(`lower threshold out of range: ${l}`, Err.BAD_ARGUMENT);
  // ip_vs_add_dest, ip_vs_edit_dest: ERANGE, also when no upper threshold is set.
  if (l > u) throw new EngineError(`lower threshold ${l} is higher than upper threshold ${u}`, Err.BAD_ARGUMENT);
  return [fwd, spec.weight, u, l];
}

export class Engine {
  readonly exports: EngineExports;
  /** Which VRRP instances (setVrrpInstances order) are IPv6 ones. */
  private vrrpIpv6: boolean[] = [];
  readonly batch: number;
  readonly slotSize: number;
  readonly connCapacity: number;
  readonly maxServices: number;
  readonly maglevServices: number;
  readonly mhTableSize: number;
  readonly maglevTableSize: number;
  readonly maxRealServers: number;
  /** Bytes of the scheduler arena (schedulerMemory plus room for maglevServices tables). */
  readonly schedulerMemory: number;
  private u8!: Uint8Array;
  private dv!: DataView;
  private region: number[] = [];
  private processBatchRaw: (n: number, nowMs: number) => number;

  /** Instantiate the engine from its bytes or module and size its memory (once). */
  static async create(wasm: BufferSource | WebAssembly.Module, options: EngineOptions = {}): Promise<Engine> {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {
      env: {
        abort(_msg: number, _file: number, line: number, col: number) {
          throw new EngineError(`engine aborted at ${line}:${col}`, -1);
        },
      },
    });
    return new Engine(instance.exports as unknown as EngineExports, options);
  }

  constructor(exports: EngineExports, options: EngineOptions = {}) {
    this.exports = exports;
    if (exports.abiVersion() !== Abi.VERSION) {
      throw new EngineError(`engine ABI ${exports.abiVersion()} does not match host ABI ${Abi.VERSION}: rebuild with npm run build`, -1);
    }
    this.batch = options.batch ?? 256;
    this.slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE;
    this.connCapacity = options.connCapacity ?? DEFAULT_CONN_CAPACITY;
    this.maxServices = options.maxServices ?? DEFAULT_MAX_SERVICES;
    this.maxRealServers = options.maxRealServers ?? DEFAULT_MAX_REAL_SERVERS;
    this.maglevServices = options.maglevServices ?? 0;
    const schedMem = options.schedulerMemory ?? DEFAULT_SCHEDULER_MEMORY;
    if (!Number.isInteger(this.maxServices) || this.maxServices < 1 || this.maxServices > MAX_SERVICES) throw new EngineError(`max services ${this.maxServices} is not from 1 to ${MAX_SERVICES}`, Err.BAD_ARGUMENT);
    if (!Number.isInteger(this.maxRealServers) || this.maxRealServers < 1 || this.maxRealServers > MAX_REAL_SERVERS) throw new EngineError(`max real servers ${this.maxRealServers} is not from 1 to ${MAX_REAL_SERVERS}`, Err.BAD_ARGUMENT);
    if (!Number.isInteger(schedMem) || schedMem < 0 || schedMem > MAX_SCHEDULER_MEMORY) throw new EngineError(`scheduler memory ${schedMem} is not from 0 to ${MAX_SCHEDULER_MEMORY} bytes`, Err.BAD_ARGUMENT);
    this.mhTableSize = options.mhTableSize ?? DEFAULT_MH_TABLE_SIZE;
    this.maglevTableSize = options.maglevTableSize ?? MAGLEV_M;
    if (!isMaglevTableSize(this.maglevTableSize)) throw new EngineError(`maglev table size ${this.maglevTableSize} is not a prime from 251 to 1048573`, Err.BAD_ARGUMENT);
    if (!MH_TABLE_SIZES.includes(this.mhTableSize)) throw new EngineError(`mh table size ${this.mhTableSize} is not one of the kernel's (${MH_TABLE_SIZES.join(", ")})`, Err.BAD_ARGUMENT);
    check(exports.init(this.batch, this.slotSize, this.connCapacity, this.maxServices, this.maxRealServers,
      options.maxNeighbours ?? 4096, options.hashSeed ?? 0x5eed, options.reserveBytes ?? 0, this.maglevServices, this.mhTableSize, this.maglevTableSize, schedMem),
    "init", "the tables do not fit in a WebAssembly memory (4 GiB)");
    this.schedulerMemory = exports.schedulerMemorySize();
    exports.setRandomSeed((options.randomSeed ?? 0x2545f491) >>> 0);
    // Memory has its final size now: views made from here on stay valid.
    this.u8 = new Uint8Array(exports.memory.buffer);
    this.dv = new DataView(exports.memory.buffer);
    for (let r = 0; r < Region.COUNT; r++) this.region[r] = exports.regionOffset(r) >>> 0; // u32: memory may pass 2 GiB
    this.processBatchRaw = exports.processBatch;
  }

  /** Start of a memory region (for zero-copy I/O that writes slots directly). */
  regionOffset(r: Region): number {
    return this.region[r];
  }

  get memory(): WebAssembly.Memory {
    return this.exports.memory;
  }

  /** Bytes a frame may have in one slot. */
  get frameCapacity(): number {
    return this.slotSize - Abi.HEADROOM;
  }

  // ---- data path -------------------------------------------------------------------

  /** A view of RX slot i, to write a frame into. */
  rxBuffer(i: number): Uint8Array {
    const start = this.region[Region.RX_SLOTS] + i * this.slotSize + Abi.HEADROOM;
    return this.u8.subarray(start, start + this.frameCapacity);
  }

  /** Describe the frame in RX slot i. */
  setRx(i: number, len: number, ifindex: number): void {
    const d = this.region[Region.RX_DESC] + i * Abi.DESC_SIZE;
    this.dv.setUint32(d + RxDesc.IFINDEX, ifindex, true);
    this.dv.setUint32(d + RxDesc.LEN, len, true);
  }

  /** Copy a frame into RX slot i. A frame larger than a slot is marked with its real
   *  length (truncated copy) so the engine drops and counts it. */
  loadFrame(i: number, frame: Uint8Array, ifindex: number): void {
    const buf = this.rxBuffer(i);
    buf.set(frame.length <= buf.length ? frame : frame.subarray(0, buf.length));
    this.setRx(i, frame.length, ifindex);
  }

  /** Run the engine over RX slots 0..n-1. Returns the number of frames to transmit. */
  process(n: number, nowMs: number): number {
    return this.processBatchRaw(n, nowMs >>> 0);
  }

  /** Timers only; returns the number of frames to transmit. */
  tick(nowMs: number): number {
    return this.exports.tick(nowMs >>> 0);
  }

  /** TX frame i of the last call: a view into engine memory, valid until the next call. */
  txFrame(i: number): { ifindex: number; frame: Uint8Array } {
    const d = this.region[Region.TX_DESC] + i * Abi.DESC_SIZE;
    const ptr = this.dv.getUint32(d + TxDesc.PTR, true);
    const len = this.dv.getUint32(d + TxDesc.LEN, true);
    return { ifindex: this.dv.getUint32(d + TxDesc.IFINDEX, true), frame: this.u8.subarray(ptr, ptr + len) };
  }

  /** All TX frames of the last call, copied. */
  txFrames(count: number): { ifindex: number; frame: Uint8Array }[] {
    const out = [];
    for (let i = 0; i < count; i++) {
      const t = this.txFrame(i);
      out.push({ ifindex: t.ifindex, frame: t.frame.slice() });
    }
    return out;
  }

  sendGratuitousArp(ifindex: number, address: string, nowMs: number): number {
    return this.exports.sendGratuitousArp(ifindex, ipToWire(address), nowMs >>> 0);
  }

  // ---- VRRP (assembly/ha/vrrp.ts) -----------------------------------------------------

  /** Replace the VRRP instances (all backup until setVrrpMaster). */
  setVrrpInstances(instances: VrrpInstanceSpec[]): void {
    this.exports.vrrpReset();
    this.vrrpIpv6 = instances.map((v) => !!v.ipv6);
    const group = instances.find((v) => v.ipv6 && v.mcastGroup6)?.mcastGroup6 ?? "ff02::12";
    const gw = parseIp6(group);
    check(this.exports.vrrpGroup6(gw[0] >>> 0, gw[1] >>> 0, gw[2] >>> 0, gw[3] >>> 0), `vrrp_mcast_group6 ${group}`);
    const add = (i: number, text: string, parsed: IpAddr | undefined, advertised: number) => {
      const a = parsed ?? parseIp(text);
      const full = `too many VRRP addresses (${Abi.MAX_VRRP_ADDRESSES} IPv4, 64 IPv6)`;
      if (isIp6(a)) check(this.exports.vrrpAddress6(i, a[0] >>> 0, a[1] >>> 0, a[2] >>> 0, a[3] >>> 0, advertised), `VRRP address ${text}`, full);
      else check(this.exports.vrrpAddress(i, a, advertised), `VRRP address ${text}`, full);
    };
    instances.forEach((v) => {
      const auth = new Uint8Array(8);
      // latin1, as keepalived copies the password's bytes (no Buffer: this file runs in browsers too).
      if (v.authPass) for (let k = 0; k < Math.min(8, v.authPass.length); k++) auth[k] = v.authPass.charCodeAt(k) & 0xff;
      const dv = new DataView(auth.buffer);
      const vmac = (v.vmac ? (v.vmacXmitBase ? 3 : 1) : 0) | (v.static ? 4 : 0) | (v.ipv6 ? 8 : 0) | (v.unicast ? 16 : 0);
      const i = check(this.exports.vrrpInstance(v.ifindex, v.vrid, v.version, v.intervalCs, v.authPass ? 1 : 0, dv.getUint32(0, true), dv.getUint32(4, true), vmac),
        `VRRP instance ${v.vrid} on interface ${v.ifindex}`, `too many VRRP instances (${Abi.MAX_VRRP_INSTANCES})`);
      v.addresses.forEach((a, k) => add(i, a, v.addrs?.[k], 1));
      (v.excluded ?? []).forEach((a, k) => add(i, a, v.excludedAddrs?.[k], 0));
    });
  }

  /** Instance i (in setVrrpInstances order) is master: its addresses are this director's. */
  setVrrpMaster(i: number, master: boolean): void {
    check(this.exports.vrrpMaster(i, master ? 1 : 0), `VRRP instance ${i}`);
  }

  /** Build instance i's advert with this priority; returns the TX count. */
  sendVrrpAdvert(i: number, priority: number, nowMs: number, peer?: string): number {
    if (this.vrrpIpv6[i]) {
      const w = peer ? parseIp6(peer) : [0, 0, 0, 0];
      return this.exports.vrrpAdvert6(i, priority, w[0] >>> 0, w[1] >>> 0, w[2] >>> 0, w[3] >>> 0, nowMs >>> 0);
    }
    return this.exports.vrrpAdvert(i, priority, peer ? ipToWire(peer) : 0, nowMs >>> 0);
  }

  /** Announce an IPv6 address on ifindex with an unsolicited Neighbour Advertisement (to
   *  ff02::1, Override; router: the Router flag); returns the TX count. */
  sendUnsolicitedNa(ifindex: number, address: string, router: boolean, nowMs: number): number {
    const w = parseIp6(address);
    return this.exports.sendUnsolicitedNa(ifindex, w[0] >>> 0, w[1] >>> 0, w[2] >>> 0, w[3] >>> 0, router ? 1 : 0, nowMs >>> 0);
  }

  /** Connection sync (IPVS's sync daemon, protocol v1, done by the engine): send (master)
   *  and/or receive (backup) on the interface, with this sync ID (0: any) and message size;
   *  a master resends its whole table every refreshMs (default 10 s; 0: never); with peer,
   *  a master sends to that unicast address instead of 224.0.0.81. A backup takes multicast
   *  sync to 224.0.0.81 with TTL 1, and unicast sync only from `from` (the other director)
   *  or the VRRP master (setSyncMaster). */
  setSync(o: { send: boolean; receive: boolean; ifindex: number; syncid?: number; maxlen?: number; refreshMs?: number; peer?: string; from?: string }): void {
    check(this.exports.syncSetup((o.send ? 1 : 0) | (o.receive ? 2 : 0), o.ifindex, o.syncid ?? 0, o.maxlen ?? 1472, o.refreshMs ?? SYNC_REFRESH_MS,
      o.peer ? ipToWire(o.peer) : 0, o.from ? ipToWire(o.from) : 0), "connection sync");
  }

  /** The percent of the connection table entries made by sync and matched by no packet yet
   *  may hold (sync_table_share; default SYNC_TABLE_SHARE): past it, new synced entries are
   *  refused and counted (sync_conns_over_share). */
  setSyncTableShare(percent: number = SYNC_TABLE_SHARE): void {
    if (!Number.isInteger(percent) || percent < 1 || percent > 100) throw new EngineError(`sync table share out of range (1-100 %): ${percent}`, Err.BAD_ARGUMENT);
    check(this.exports.syncShare(percent), "sync table share");
  }

  /** The sync key (sync_auth_key_file; undefined: none): every message sent carries an
   *  HMAC-SHA256 trailer, and one received without the right one is dropped (sync_bad_mac).
   *  Off by default: kernel IPVS neither sends nor takes the trailer. At most 64 bytes (a
   *  longer key is hashed first, RFC 2104: readSyncKey does). Uses the RX slots: call it
   *  between batches. */
  setSyncAuthKey(key: Uint8Array | undefined): void {
    const k = key ?? new Uint8Array(0);
    if (k.length > 64) throw new EngineError(`sync key of ${k.length} bytes: at most 64 (hash a longer one first)`, Err.BAD_ARGUMENT);
    const buf = this.region[Region.RX_SLOTS];
    this.u8.set(k, buf);
    try {
      check(this.exports.syncKey(buf, k.length), "sync key");
    } finally {
      this.u8.fill(0, buf, buf + k.length);
    }
  }

  /** SHA-256 as the engine computes it (tests hold it against node:crypto). */
  sha256(data: Uint8Array): Uint8Array {
    const buf = this.region[Region.RX_SLOTS];
    this.u8.set(data, buf + 32);
    this.exports.sha256Of(buf + 32, data.length, buf);
    return this.u8.slice(buf, buf + 32);
  }

  /** The master of the VRRP instance sync follows, as this backup learned it from its adverts
   *  (undefined: none): the engine takes unicast sync from that address too. */
  setSyncMaster(addr: string | undefined): void {
    this.exports.syncMaster(addr ? ipToWire(addr) : 0);
  }

  /** Milliseconds the backup sync daemon has gone without accepting a message (since it
   *  started, before its first); undefined when not receiving. */
  syncIdleMs(): number | undefined {
    const ms = this.exports.syncIdle() >>> 0;
    return ms === 0xffffffff ? undefined : ms;
  }

  /** The whole table as IPVS sync entries (SYNC_ENTRY_BYTES each) with what remains of each
   *  timeout, templates first, for a process that takes over (host/dataplane/handoff.ts). The
   *  RX slots are its buffer: call it only between batches of a loop that has stopped. */
  exportTable(nowMs: number): { entries: Uint8Array; count: number } {
    const buf = this.region[Region.RX_SLOTS];
    const max = Math.floor((this.batch * this.slotSize) / SYNC_ENTRY_BYTES);
    const chunks: Uint8Array[] = [];
    let count = 0;
    for (const templates of [1, 0]) {
      for (let from = 0; from < this.connCapacity;) {
        from = this.exports.exportTable(from, templates, buf, max, nowMs >>> 0);
        const n = this.exports.exportCount();
        if (n) chunks.push(this.u8.slice(buf, buf + n * SYNC_ENTRY_BYTES));
        count += n;
        if (from === 0) break; // not initialised
      }
    }
    const entries = new Uint8Array(count * SYNC_ENTRY_BYTES);
    let at = 0;
    for (const c of chunks) { entries.set(c, at); at += c.length; }
    return { entries, count };
  }

  /** One slice of exportTable while the loop runs (the crash journal, host/dataplane/journal.ts):
   *  the templates or the connections among at most `slots` slots from `from` on, at most max
   *  of them (and what the RX slots hold). entries is a view of the RX slots, valid until the
   *  next call. Call it between batches; it runs no timer (sends and expires nothing). next:
   *  the slot to go on from; connCapacity (or 0) when done. */
  exportSlice(from: number, templates: boolean, nowMs: number, max = Infinity, slots = 0xffffffff): { next: number; entries: Uint8Array } {
    const buf = this.region[Region.RX_SLOTS];
    const most = Math.min(max, Math.floor((this.batch * this.slotSize) / SYNC_ENTRY_BYTES));
    const next = this.exports.exportSlots(from, templates ? 1 : 0, buf, most, Math.min(slots, 0xffffffff) >>> 0, nowMs >>> 0);
    return { next, entries: this.u8.subarray(buf, buf + this.exports.exportCount() * SYNC_ENTRY_BYTES) };
  }

  /** Entries from exportTable (another process's), elapsedMs after they were written: each
   *  timeout shortened by that. Call it before the loop starts (the RX slots are its buffer). */
  importTable(entries: Uint8Array, elapsedMs: number, nowMs: number): { applied: number; expired: number; unmatched: number } {
    const buf = this.region[Region.RX_SLOTS];
    const max = Math.floor((this.batch * this.slotSize) / SYNC_ENTRY_BYTES);
    const total = Math.floor(entries.length / SYNC_ENTRY_BYTES);
    const r = { applied: 0, expired: 0, unmatched: 0 };
    for (let k = 0; k < total; k += max) {
      const n = Math.min(max, total - k);
      this.u8.set(entries.subarray(k * SYNC_ENTRY_BYTES, (k + n) * SYNC_ENTRY_BYTES), buf);
      r.applied += this.exports.importTable(buf, n, Math.max(0, Math.min(elapsedMs, 0xffffffff)) >>> 0, nowMs >>> 0);
      r.expired += this.exports.importExpired();
      r.unmatched += this.exports.importUnmatched();
    }
    return r;
  }

  /** The adverts queued since the last call (each a copy of its VRRP message). */
  takeVrrpAdverts(): VrrpAdvert[] {
    const q = this.region[Region.VRRP_QUEUE];
    const n = this.dv.getUint32(q + VrrpQueue.COUNT, true);
    if (n === 0) return [];
    const out: VrrpAdvert[] = [];
    for (let k = 0; k < n; k++) {
      const e = q + VrrpQueue.FIRST + k * VrrpQueue.ENTRY_SIZE;
      const len = this.dv.getUint32(e + VrrpQueue.LEN, true);
      const instance = this.dv.getUint32(e + VrrpQueue.INSTANCE, true);
      const word = (o: number) => this.dv.getUint32(e + VrrpQueue.SRC6 + o, true);
      const src = this.vrrpIpv6[instance] ? formatIp([word(0), word(4), word(8), word(12)]) : wireToIp(this.dv.getUint32(e + VrrpQueue.SRC, true));
      out.push({ instance, src, message: this.u8.slice(e + VrrpQueue.DATA, e + VrrpQueue.DATA + len) });
    }
    this.dv.setUint32(q + VrrpQueue.COUNT, 0, true);
    return out;
  }

  // ---- counters ----------------------------------------------------------------------

  counter(c: Counter): bigint {
    return this.dv.getBigUint64(this.region[Region.COUNTERS] + c * 8, true);
  }

  /** Every counter by name. */
  counters(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    COUNTER_NAMES.forEach((name, i) => {
      if (name) out[name] = this.counter(i);
    });
    return out;
  }

  /** Drop counters by reason (only the non-zero ones unless all is set). */
  drops(all = false): Record<string, bigint> {
    return dropsOf(this.counters(), all);
  }

  // ---- interfaces, routes, neighbours --------------------------------------------------

  setInterface(spec: InterfaceSpec): void {
    const [lo, hi] = macWords(spec.mac);
    let addr = 0;
    let prefix = 0;
    if (spec.address) {
      const c = parseCidr(spec.address);
      addr = ipToWire(c.address);
      prefix = c.prefixLen;
    }
    const mtu = spec.mtu ?? 1500;
    if (mtu + ETHERNET_OVERHEAD > this.frameCapacity) throw new EngineError(`interface ${spec.index}: MTU ${mtu} does not fit a ${this.slotSize}-byte slot`, Err.BAD_ARGUMENT);
    check(this.exports.setInterface(spec.index, lo, hi, mtu, addr, prefix), `interface ${spec.index}`);
    if (spec.net6) this.setInterfaceIpv6(spec.index, spec.net6.addr as Ip6Words, spec.net6.len);
  }

  /** Give interface ifindex an IPv6 address (four words as Ip6Words) with its prefix length:
   *  a link-local one (fe80::/10) replaces the one the engine made from the MAC (modified
   *  EUI-64), others take one of its Abi.MAX_IPV6_ADDRESSES - 1 global slots. */
  setInterfaceIpv6(ifindex: number, address: Ip6Words, prefixLen: number): void {
    check(this.exports.setInterfaceIpv6(ifindex, address[0] >>> 0, address[1] >>> 0, address[2] >>> 0, address[3] >>> 0, prefixLen),
      `interface ${ifindex}: IPv6 address`, `interface ${ifindex} holds ${Abi.MAX_IPV6_ADDRESSES - 1} global IPv6 addresses already`);
  }

  /** Remove an IPv6 address from interface ifindex (the link-local one goes back to the one made from the MAC). */
  deleteInterfaceIpv6(ifindex: number, address: Ip6Words): void {
    check(this.exports.deleteInterfaceIpv6(ifindex, address[0] >>> 0, address[1] >>> 0, address[2] >>> 0, address[3] >>> 0), `interface ${ifindex}: IPv6 address`);
  }

  /** The IPv6 addresses of interface ifindex, link-local first. */
  interfaceIpv6(ifindex: number): { address: Ip6Words; prefixLen: number }[] {
    const out: { address: Ip6Words; prefixLen: number }[] = [];
    for (let k = 0; k < Abi.MAX_IPV6_ADDRESSES; k++) {
      const prefixLen = this.exports.interfaceIpv6PrefixLen(ifindex, k);
      if (prefixLen < 0) continue;
      const w = (i: number) => this.exports.interfaceIpv6Word(ifindex, k, i) >>> 0;
      out.push({ address: [w(0), w(1), w(2), w(3)], prefixLen });
    }
    return out;
  }

  /** A route to cidr via a gateway (or on-link when via is undefined) out of ifindex. */
  addRoute(cidr: string, via: string | undefined, ifindex: number): void {
    this.addRouteOf({ cidr, net: parsePrefix(cidr), ...(via ? { gateway: parseIp(via) } : {}), ifindex });
  }

  /** addRoute with its values parsed already (a configuration's route: RouteConfig.net, gateway). */
  addRouteOf(r: { cidr: string; net: Prefix; gateway?: IpAddr; ifindex: number }): void {
    check(this.exports.addRoute(ip4Of(r.net.addr), r.net.len, r.gateway !== undefined ? ip4Of(r.gateway) : 0, r.ifindex), `route ${r.cidr}`,
      `the route table is full (${Abi.MAX_ROUTES} routes)`);
  }

  deleteRoute(cidr: string): void {
    this.deleteRouteOf({ cidr, net: parsePrefix(cidr) });
  }

  deleteRouteOf(r: { cidr: string; net: Prefix }): void {
    check(this.exports.deleteRoute(ip4Of(r.net.addr), r.net.len), `route ${r.cidr}`);
  }

  setNeighbour(address: string, mac: string, ifindex: number): void {
    this.setNeighbourOf({ address, addr: parseIp(address), hw: macWords(mac), ifindex });
  }

  /** setNeighbour with its values parsed already (a configuration's neighbour: addr, hw). */
  setNeighbourOf(n: { address: string; addr: IpAddr; hw: MacWords; ifindex: number }): void {
    check(this.exports.setNeighbour(ip4Of(n.addr), n.hw[0], n.hw[1], n.ifindex), `neighbour ${n.address}`, "the neighbour table is full");
  }

  // ---- services and real servers ---------------------------------------------------------

  addService(spec: ServiceText): number {
    const a = serviceArgs(parsedService(spec));
    return this.addServiceWith(a, () => (spec.fwmark !== undefined ? `service fwmark ${spec.fwmark}` : `service ${spec.protocol} ${spec.address}:${spec.port}`));
  }

  /** addService with its arguments checked and in wire order already (serviceArgs): the
   *  start set's packed services (start.ts) come this way, without a string to parse. */
  addServiceWith(a: ServiceArgs, name: () => string): number {
    const v = a.address;
    const code = typeof v === "number" ? this.exports.addService(a.protocol, v, a.port, a.sched)
      : this.exports.addServiceV6(a.protocol, v[0] >>> 0, v[1] >>> 0, v[2] >>> 0, v[3] >>> 0, a.port, a.sched);
    const index = code < 0 ? check(code, name(), this.fullText(a.sched, true)) : code;
    if (a.persistence) check(this.exports.setPersistence(index, a.persistence[0], a.persistence[1]), `service ${index}`);
    if (a.schedFlags) check(this.exports.setSchedFlags(index, a.schedFlags), `service ${index} scheduler flags`);
    if (a.onePacket) check(this.exports.setOnePacket(index, 1), `service ${index} one-packet scheduling`);
    return index;
  }

  editService(index: number, scheduler: SchedulerName, persistence?: ServiceText["persistence"], schedFlags = 0, onePacket = false): void {
    const sched = SCHED_CODE[scheduler];
    if (sched === undefined) throw new EngineError(`unknown scheduler "${scheduler}"`, Err.BAD_ARGUMENT);
    this.editServiceWith(index, sched, persistence ? persistenceArgs({ ...persistence, mask: persistence.mask ?? parseIp(persistence.netmask) }) : undefined, schedFlags, onePacket);
  }

  /** editService with its arguments checked and in wire order already (a packed change set's:
   *  host/engine/changes.ts). */
  editServiceWith(index: number, sched: number, persistence: [timeout: number, netmask: number] | undefined, schedFlags: number, onePacket: boolean): void {
    if (SCHEDULERS[sched] === undefined) throw new EngineError(`unknown scheduler code ${sched}`, Err.BAD_ARGUMENT);
    const p = persistence ?? [0, 0xffffffff] as [number, number];
    // Refused before anything changes (the engine would refuse it too, after the rest).
    const r = this.region[Region.SERVICES] + index * ServiceField.SIZE;
    const inUse = index >= 0 && index < this.maxServices && this.u8[r + ServiceField.FLAGS] !== 0;
    // A table of another kind is taken before the old one is given back (sched/arena.ts).
    const kind = (k: number) => (k === Sched.SH || k === Sched.DH ? Sched.SH : k);
    if (inUse && kind(sched) !== kind(this.u8[r + ServiceField.SCHED]) && !this.exports.schedulerCanTake(sched)) {
      throw new EngineError(`service ${index}: ${this.fullText(sched)}`, Err.FULL);
    }
    check(this.exports.setPersistence(index, ...p), `service ${index}`);
    check(this.exports.setSchedFlags(index, schedFlags), `service ${index} scheduler flags`);
    check(this.exports.setOnePacket(index, onePacket ? 1 : 0), `service ${index} one-packet scheduling`);
    check(this.exports.editService(index, sched), `service ${index}`, this.fullText(sched));
  }

  /** Why a service of this scheduler would find no table in the scheduler arena. */
  schedulerFullText(scheduler: string): string {
    return this.fullText(SCHED_CODE[scheduler as SchedulerName] ?? Sched.RR);
  }

  /** Why a service was refused -Err.FULL: the service table (adding one), or the scheduler
   *  arena (a service that changes its scheduler takes no record: a full service table is not
   *  why, and schedulerFullText is asked once the service count was checked). */
  private fullText(sched: number, adding = false): string {
    if (adding && this.exports.servicesInUse() >= this.maxServices) return `the service table is full (${this.maxServices} services; the director's max_services)`;
    const other = sched !== Sched.MAGLEV ? `, one of ${SCHEDULERS[sched]} ${kib(this.exports.schedulerTableBytes(sched))} KiB` : "";
    return `scheduler memory full (${mib(this.schedulerMemory)} MiB; a maglev table takes ${kib(this.schedulerBytes("maglev"))} KiB${other}; the director's scheduler_memory)`;
  }

  // ---- table sizes (O(1): the change-set checks ask them before applying anything) ----------

  /** Services in use. */
  serviceCount(): number { return this.exports.servicesInUse(); }
  /** Services that may still be added. */
  freeServiceSlots(): number { return this.exports.serviceSlotsFree(); }
  /** Bytes of the scheduler arena not in use (never handed out, or given back: a table given
   *  back serves a table of its own size again, so schedulerCanTake is the exact question). */
  schedulerMemoryFree(): number { return this.exports.schedulerMemoryFree(); }
  /** Whether one more service of this scheduler would get its table now. */
  schedulerCanTake(scheduler: string): boolean {
    const k = SCHED_CODE[scheduler as SchedulerName];
    return k !== undefined && this.exports.schedulerCanTake(k) !== 0;
  }
  /** Bytes one service of this scheduler takes from the scheduler arena (0 for a scheduler
   *  without a per-service table: rr, wrr, lc, wlc, sed, nq, fo, ovf, twos, lblc, lblcr). */
  schedulerBytes(scheduler: string): number {
    const k = SCHED_CODE[scheduler as SchedulerName];
    return k === undefined ? 0 : this.exports.schedulerTableBytes(k);
  }
  /** Whether address is on a connected network of an interface (a DR server must be). */
  isOnLink(address: string): boolean { return this.exports.routeOnLink(ipToWire(address)) !== 0; }
  /** Whether a route (connected, or via a gateway) reaches address (a NAT or TUN server needs one). */
  hasRoute(address: string): boolean { return this.exports.routeExists(ipToWire(address)) !== 0; }
  /** Whether the engine answers ARP and echo for address (a service's VIP, a mark rule's address). */
  isVip(address: string): boolean { return this.exports.vipKnown(ipToWire(address)) !== 0; }

  /** A maglev service's lookup table: for each of its M entries (65,537 by default), the real server's
   *  "address:port" (or null). Two engines with the same servers return the same array. */
  maglevTable(index: number): (string | null)[] {
    const names = new Map<number, string>();
    const out: (string | null)[] = new Array(this.maglevTableSize);
    for (let i = 0; i < this.maglevTableSize; i++) {
      const d = this.exports.maglevTableEntry(index, i) >>> 0;
      if (d === 0xffffffff) { out[i] = null; continue; }
      let name = names.get(d);
      if (name === undefined) { const rs = this.realServer(d); name = `${rs.address}:${rs.port}`; names.set(d, name); }
      out[i] = name;
    }
    return out;
  }

  /** IPVS's expire_quiescent_template: templates to a server of weight 0 expire at their next use. */
  setExpireQuiescentTemplate(on: boolean): void {
    this.exports.setExpireQuiescent(on ? 1 : 0);
  }

  deleteService(index: number): void {
    check(this.exports.deleteService(index), `service ${index}`);
  }

  findService(protocol: Protocol, address: string, port: number, fwmark?: number): number | undefined {
    const a = fwmark !== undefined ? 0 : parseIp(address);
    const r = fwmark !== undefined ? this.exports.findService(0, markToWire(fwmark), 0)
      : typeof a === "number" ? this.exports.findService(PROTO_CODE[protocol], a, portToWire(port))
      : this.exports.findServiceV6(PROTO_CODE[protocol], a[0] >>> 0, a[1] >>> 0, a[2] >>> 0, a[3] >>> 0, portToWire(port));
    return r >= 0 ? r : undefined;
  }

  /** Replace the firewall-mark rules (all of them, between two batches). */
  setMarkRules(rules: MarkRule[]): void {
    this.exports.clearMarkRules();
    for (const m of rules) {
      const dst = m.dst ?? parsePrefix(m.destination);
      const net = ip4Of(dst.addr);
      const prefixLen = dst.len;
      // The mask in wire order: its host-order bits byte-swapped (markToWire swaps the same way).
      const mask = prefixLen === 0 ? 0 : markToWire((0xffffffff << (32 - prefixLen)) >>> 0);
      const i = check(this.exports.addMarkRule(markToWire(m.mark), net, mask >>> 0, m.protocol ? PROTO_CODE[m.protocol] : 0), `mark ${m.mark}`,
        `too many mark rules (${Abi.MAX_MARK_RULES})`);
      for (const [lo, hi] of m.ports ?? []) check(this.exports.addMarkPorts(i, lo, hi), `mark ${m.mark} ports ${lo}-${hi}`);
    }
  }

  addRealServer(service: number, spec: RealServerText): number {
    checkPort(spec.port);
    const [fwd, w, u, l] = destArgs(spec);
    const address: IpAddr = spec.daddr !== undefined ? (typeof spec.daddr === "number" ? spec.daddr >>> 0 : spec.daddr) : parseIp(spec.address);
    return this.addRealServerWith(service, address, portToWire(spec.port), fwd, w, u, l, () => `real server ${spec.address}:${spec.port}`);
  }

  /** addRealServer with its arguments checked and in wire order already (destArgs). */
  addRealServerWith(service: number, address: IpAddr, port: number, fwd: number, w: number, u: number, l: number, name: () => string): number {
    const code = typeof address === "number" ? this.exports.addDest(service, address, port, fwd, w, u, l)
      : this.exports.addDestV6(service, address[0] >>> 0, address[1] >>> 0, address[2] >>> 0, address[3] >>> 0, port, fwd, w, u, l);
    if (code >= 0) return code;
    const inService = service >= 0 && service < this.maxServices ? this.dv.getUint16(this.region[Region.SERVICES] + service * ServiceField.SIZE + ServiceField.DEST_COUNT, true) : 0;
    return check(code, name(), inService >= Abi.MAX_SERVICE_REAL_SERVERS
      ? `service ${service} has ${Abi.MAX_SERVICE_REAL_SERVERS} real servers, the most one service may have`
      : `the real-server table is full (${this.maxRealServers} real servers, counting removed ones that still have connections; the director's max_real_servers)`);
  }

  editRealServer(index: number, spec: RealServerText): void {
    const [fwd, w, u, l] = destArgs(spec);
    this.editRealServerWith(index, fwd, w, u, l, () => `real server ${spec.address}:${spec.port}`);
  }

  /** editRealServer with its arguments checked already (destArgs). */
  editRealServerWith(index: number, fwd: number, w: number, u: number, l: number, name: () => string): void {
    const code = this.exports.editDest(index, fwd, w, u, l);
    if (code < 0) check(code, name());
  }

  /** Connections (active and inactive) of real-server record d. */
  realServerConnections(d: number): number {
    const r = this.region[Region.DESTS] + d * DestField.SIZE;
    return this.dv.getUint32(r + DestField.ACTIVE, true) + this.dv.getUint32(r + DestField.INACTIVE, true);
  }

  deleteRealServer(index: number): void {
    check(this.exports.deleteDest(index), `real server ${index}`);
  }

  /** ipvsadm -Z: zero the statistics of one service and its real servers, or of all. */
  zeroStats(service?: number): void {
    check(this.exports.zeroStats(service ?? -1), `service ${service}`);
  }

  findRealServer(service: number, address: string, port: number): number | undefined {
    const a = parseIp(address);
    const r = typeof a === "number" ? this.exports.findDest(service, a, portToWire(port))
      : this.exports.findDestV6(service, a[0] >>> 0, a[1] >>> 0, a[2] >>> 0, a[3] >>> 0, portToWire(port));
    return r >= 0 ? r : undefined;
  }

  private stats(base: number): Stats {
    const g = (o: number) => this.dv.getBigUint64(base + o, true);
    return { conns: g(Stat.CONNS), inpkts: g(Stat.INPKTS), outpkts: g(Stat.OUTPKTS), inbytes: g(Stat.INBYTES), outbytes: g(Stat.OUTBYTES) };
  }

  realServer(d: number): RealServerInfo {
    const r = this.region[Region.DESTS] + d * DestField.SIZE;
    const flags = this.u8[r + DestField.FLAGS];
    return {
      index: d,
      address: flags & DestFlag.V6 ? formatIp(this.words6(r + DestField.ADDR6)) : wireToIp(this.dv.getUint32(r + DestField.ADDR, true)),
      port: wireToPort(this.dv.getUint16(r + DestField.PORT, true)),
      method: METHOD_NAME[this.u8[r + DestField.FWD]],
      weight: this.dv.getInt32(r + DestField.WEIGHT, true),
      uthreshold: this.dv.getUint32(r + DestField.UTHRESHOLD, true),
      lthreshold: this.dv.getUint32(r + DestField.LTHRESHOLD, true),
      active: this.dv.getUint32(r + DestField.ACTIVE, true),
      inactive: this.dv.getUint32(r + DestField.INACTIVE, true),
      persistConns: this.dv.getUint32(r + DestField.PERSIST_CONNS, true),
      overloaded: (flags & DestFlag.OVERLOAD) !== 0,
      stats: this.stats(this.region[Region.DEST_STATS] + d * Stat.SIZE),
    };
  }

  /** Every service with its real servers, in index order. */
  services(): ServiceInfo[] {
    const out: ServiceInfo[] = [];
    for (let s = 0; s < this.maxServices; s++) {
      const r = this.region[Region.SERVICES] + s * ServiceField.SIZE;
      if (this.u8[r + ServiceField.FLAGS] === 0) continue;
      const realServers: RealServerInfo[] = [];
      for (let d = this.dv.getUint32(r + ServiceField.DEST_HEAD, true); d !== 0xffffffff;) {
        realServers.push(this.realServer(d));
        d = this.dv.getUint32(this.region[Region.DESTS] + d * DestField.SIZE + DestField.NEXT, true);
      }
      out.push(this.serviceRecord(s, r, realServers));
    }
    return out;
  }

  // ---- the service table in slices (listings at 64k services: requests.ts "services") ----

  /**
   * Part of the service table, for a listing that must not hold the data path: the services
   * at positions from.service, from.service+1, ... (table indices, or positions in order when
   * given: a listing's sorted order), the first one's real servers from its from.server-th on
   * (in list order); stops after maxScan positions, maxServices services or maxServers real
   * servers, whichever comes first. A service whose servers do not all fit ends the slice and
   * next points into it (next.server > 0: the following slice starts with the rest of it);
   * next.service is the end (maxServices, or order.length) when done. Positions of order whose
   * service is gone (deleted between slices) are skipped.
   */
  servicesSlice(from: ServiceCursor, maxScan: number, maxServices: number, maxServers: number, order?: ArrayLike<number>, withServers = true):
    { items: ServiceInfo[]; next: ServiceCursor; servers: number } {
    const items: ServiceInfo[] = [];
    const end = order ? order.length : this.maxServices;
    const stop = Math.min(end, from.service + Math.max(1, maxScan));
    let servers = 0;
    let skip = from.server;
    for (let p = Math.max(0, from.service); p < stop; p++, skip = 0) {
      if (items.length >= maxServices || servers >= maxServers) return { items, next: { service: p, server: 0 }, servers };
      const s = order ? order[p] : p;
      if (s < 0 || s >= this.maxServices) continue;
      const r = this.region[Region.SERVICES] + s * ServiceField.SIZE;
      if (this.u8[r + ServiceField.FLAGS] === 0) continue;
      const realServers: RealServerInfo[] = [];
      // Without servers (a reader past its share of them: the metrics' per-server series): none walked.
      if (!withServers) {
        items.push(this.serviceRecord(s, r, realServers));
        continue;
      }
      let k = 0;
      let d = this.dv.getUint32(r + ServiceField.DEST_HEAD, true);
      // The servers an earlier slice carried: walked past (a chain step each), not read.
      for (; d !== 0xffffffff && k < skip; k++) d = this.nextDest(d);
      for (; d !== 0xffffffff && servers < maxServers; k++, servers++) {
        realServers.push(this.realServer(d));
        d = this.nextDest(d);
      }
      items.push(this.serviceRecord(s, r, realServers));
      if (d !== 0xffffffff) return { items, next: { service: p, server: k }, servers };
    }
    return { items, next: { service: stop, server: 0 }, servers };
  }

  /**
   * The sort keys of the services at table indices from, from+1, ... (maxScan of them, used or
   * not): ipvsadm's order (ipvs_cmp_services: firewall mark, protocol, address, port) as five
   * numbers a service [index, mark (0: none), protocol number (6, 17), address as an unsigned
   * integer in host order, port]. A listing sorts these (a few MB at 64k services) and then
   * reads the services in that order with servicesSlice.
   */
  serviceKeysSlice(from: number, maxScan: number): { keys: number[]; next: number } {
    const keys: number[] = [];
    const end = Math.min(this.maxServices, Math.max(0, from) + Math.max(1, maxScan));
    for (let s = Math.max(0, from); s < end; s++) {
      const r = this.region[Region.SERVICES] + s * ServiceField.SIZE;
      if (this.u8[r + ServiceField.FLAGS] === 0) continue;
      const proto = this.u8[r + ServiceField.PROTO];
      const wire = this.dv.getUint32(r + ServiceField.VADDR, true);
      // The address (or a mark's 0.0.0.N) as ipvsadm compares it: its four bytes big-endian.
      const host = ((wire & 255) * 16777216) + (((wire >>> 8) & 255) << 16) + (((wire >>> 16) & 255) << 8) + ((wire >>> 24) & 255);
      keys.push(s, proto === 0 ? wireToMark(wire) : 0, proto === Proto.UDP ? 17 : 6, host, wireToPort(this.dv.getUint16(r + ServiceField.VPORT, true)));
    }
    return { keys, next: end };
  }

  /** How many services and real servers the table holds (removed servers that linger with
   *  connections not counted): a pass over the flags of each table, no chain walked. */
  tableCounts(): { services: number; realServers: number } {
    let services = 0;
    let realServers = 0;
    for (let s = 0; s < this.maxServices; s++) if (this.u8[this.region[Region.SERVICES] + s * ServiceField.SIZE + ServiceField.FLAGS] !== 0) services++;
    const both = DestFlag.USED | DestFlag.AVAILABLE;
    for (let d = 0; d < this.maxRealServers; d++) if ((this.u8[this.region[Region.DESTS] + d * DestField.SIZE + DestField.FLAGS] & both) === both) realServers++;
    return { services, realServers };
  }

  private nextDest(d: number): number {
    return this.dv.getUint32(this.region[Region.DESTS] + d * DestField.SIZE + DestField.NEXT, true);
  }

  /** The four words of the IPv6 address at byte p of the engine's memory. */
  private words6(p: number): Ip6Words {
    return [this.dv.getUint32(p, true), this.dv.getUint32(p + 4, true), this.dv.getUint32(p + 8, true), this.dv.getUint32(p + 12, true)];
  }

  /** The IPv6 default gateway (a router's address on interface ifindex), or none (undefined):
   *  NAT replies to clients off the director's IPv6 prefixes go through it. */
  setGatewayV6(gateway: Ip6Words | undefined, ifindex = 0): void {
    const g = gateway ?? [0, 0, 0, 0];
    check(this.exports.setGatewayV6(g[0] >>> 0, g[1] >>> 0, g[2] >>> 0, g[3] >>> 0, gateway ? ifindex : -1), `IPv6 gateway ${gateway ? formatIp(gateway) : "none"}`);
  }

  /** IPv6 connections (conn/table6.ts), for listings and tests. */
  connectionsV6(): { protocol: "tcp" | "udp"; client: string; cport: number; vip: string; vport: number; server: string; dport: number; state: string; dest: number }[] {
    const out = [];
    const bound = this.exports.connectionV6Bound();
    for (let i = 0; i < bound; i++) {
      const e = this.exports.connectionV6At(i) >>> 0;
      if (e === 0) continue;
      out.push({
        protocol: this.u8[e + Conn6Field.PROTO] === Proto.UDP ? "udp" as const : "tcp" as const,
        client: formatIp(this.words6(e + Conn6Field.CADDR)), cport: wireToPort(this.dv.getUint16(e + Conn6Field.CPORT, true)),
        vip: formatIp(this.words6(e + Conn6Field.VADDR)), vport: wireToPort(this.dv.getUint16(e + Conn6Field.VPORT, true)),
        server: formatIp(this.words6(e + Conn6Field.DADDR)), dport: wireToPort(this.dv.getUint16(e + Conn6Field.DPORT, true)),
        state: STATE_NAMES[this.u8[e + Conn6Field.STATE]] ?? String(this.u8[e + Conn6Field.STATE]),
        dest: this.dv.getUint32(e + Conn6Field.DEST, true),
      });
    }
    return out;
  }

  /** The service record at r (table index s), with the real servers given. */
  private serviceRecord(s: number, r: number, realServers: RealServerInfo[]): ServiceInfo {
    const proto = this.u8[r + ServiceField.PROTO];
    return {
      index: s,
      ...(proto === 0 ? { fwmark: wireToMark(this.dv.getUint32(r + ServiceField.VADDR, true)) } : {}),
      protocol: proto === Proto.UDP ? "udp" : "tcp",
      address: this.u8[r + ServiceField.FLAGS] & SERVICE_V6 ? formatIp(this.words6(r + ServiceField.VADDR6)) : wireToIp(this.dv.getUint32(r + ServiceField.VADDR, true)),
      port: wireToPort(this.dv.getUint16(r + ServiceField.VPORT, true)),
      scheduler: SCHEDULERS[this.u8[r + ServiceField.SCHED]],
      ...(this.u8[r + ServiceField.SCHED_FLAGS] ? { schedFlags: this.u8[r + ServiceField.SCHED_FLAGS] } : {}),
      ...(this.u8[r + ServiceField.FLAGS] & SERVICE_ONE_PACKET ? { onePacket: true } : {}),
      ...this.persistenceOf(r),
      stats: this.stats(this.region[Region.SERVICE_STATS] + s * Stat.SIZE),
      realServers,
    };
  }

  private persistenceOf(r: number): { persistence?: ServiceInfo["persistence"] } {
    const timeout = this.dv.getUint32(r + ServiceField.PERSIST_TIMEOUT, true);
    if (timeout === 0) return {};
    return { persistence: { timeout, netmask: wireToIp(this.dv.getUint32(r + ServiceField.NETMASK, true)) } };
  }

  /** Entries of the neighbour (ARP) table by state (Linux's NUD states: a reachable entry
   *  past its 30 s is stale at its next use). */
  neighbourStates(): Record<string, number> {
    const out: Record<string, number> = { incomplete: 0, reachable: 0, stale: 0, delay: 0, probe: 0, static: 0, failed: 0 };
    const names: Record<number, string> = { [NeighState.INCOMPLETE]: "incomplete", [NeighState.REACHABLE]: "reachable", [NeighState.STALE]: "stale",
      [NeighState.DELAY]: "delay", [NeighState.PROBE]: "probe", [NeighState.STATIC]: "static", [NeighState.FAILED]: "failed" };
    for (let p = this.region[Region.NEIGHBOURS]; p + NeighField.SIZE <= this.region[Region.SCRATCH]; p += NeighField.SIZE) {
      const name = names[this.u8[p + NeighField.STATE]];
      if (name) out[name]++;
    }
    return out;
  }

  /** The IPv6 neighbour entry for an address (learnt from the solicitations the engine
   *  answers, kept up to date by advertisements), or undefined. */
  neighbourV6(address: Ip6Words): { mac: string; state: string; ifindex: number } | undefined {
    const p = this.exports.neighbourV6Find(address[0] >>> 0, address[1] >>> 0, address[2] >>> 0, address[3] >>> 0);
    if (p === 0) return undefined;
    const names: Record<number, string> = { [NeighState.INCOMPLETE]: "incomplete", [NeighState.REACHABLE]: "reachable", [NeighState.STALE]: "stale",
      [NeighState.DELAY]: "delay", [NeighState.PROBE]: "probe", [NeighState.STATIC]: "static", [NeighState.FAILED]: "failed" };
    const mac = Array.from(this.u8.subarray(p + Neigh6Field.MAC, p + Neigh6Field.MAC + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
    return { mac, state: names[this.u8[p + Neigh6Field.STATE]] ?? "none", ifindex: this.u8[p + Neigh6Field.IFINDEX] };
  }

  /** IPv6 neighbour entries in use (at most Abi.MAX_IPV6_NEIGHBOURS). */
  get neighbourV6Count(): number {
    return this.exports.neighbourV6Count();
  }

  // ---- connections and timeouts ------------------------------------------------------------

  get connectionCount(): number {
    return this.exports.connectionCount();
  }

  /** The live connections (a walk of the whole table: control path only). */
  connections(nowMs: number): ConnectionInfo[] {
    const all = this.connCapacity + this.exports.connectionV6Bound();
    return this.connectionsSlice(nowMs, 0, all, all).items;
  }

  /** Part of the table: the live connections among entries from, from+1, ... stopping after
   *  maxScan entries or maxItems connections; next is where the following slice starts
   *  (connCapacity at the end). Lets a listing proceed without holding the data path. */
  connectionsSlice(nowMs: number, from: number, maxScan: number, maxItems: number): { items: ConnectionInfo[]; next: number; end: number } {
    const items: ConnectionInfo[] = [];
    const base = this.region[Region.CONNS];
    // Entries connCapacity on are the IPv6 table's (its own region, up to connectionV6Bound()).
    const all = this.connCapacity + this.exports.connectionV6Bound();
    const end = Math.min(all, from + maxScan);
    let i = Math.max(0, from);
    for (; i < end && items.length < maxItems; i++) {
      if (i >= this.connCapacity) {
        const c = this.connectionV6Info(i - this.connCapacity, nowMs);
        if (c) items.push(c);
        continue;
      }
      const e = base + i * ConnField.SIZE;
      const flags = this.u8[e + ConnField.FLAGS];
      if ((flags & ConnFlag.USED) === 0) continue;
      const template = (flags & ConnFlag.TEMPLATE) !== 0;
      items.push({
        protocol: PROTO_NAME[this.u8[e + ConnField.PROTO] & ~ConnFlag.TEMPLATE_PROTO] ?? "ip",
        client: wireToIp(this.dv.getUint32(e + ConnField.CADDR, true)),
        clientPort: wireToPort(this.dv.getUint16(e + ConnField.CPORT, true)),
        vip: wireToIp(this.dv.getUint32(e + ConnField.VADDR, true)),
        vport: wireToPort(this.dv.getUint16(e + ConnField.VPORT, true)),
        server: wireToIp(this.dv.getUint32(e + ConnField.DADDR, true)),
        serverPort: wireToPort(this.dv.getUint16(e + ConnField.DPORT, true)),
        method: METHOD_NAME[(flags & ConnFlag.FWD_MASK) >> ConnFlag.FWD_SHIFT],
        state: STATE_NAMES[this.u8[e + ConnField.STATE]],
        expiresInMs: (this.dv.getUint32(e + ConnField.EXPIRES, true) - (nowMs >>> 0)) | 0,
        ...(template ? { template } : {}),
      });
    }
    return { items, next: i, end: all };
  }

  /** Entry k of the IPv6 connection table as a listing shows it (undefined: a free slot). */
  private connectionV6Info(k: number, nowMs: number): ConnectionInfo | undefined {
    const e = this.exports.connectionV6At(k) >>> 0;
    if (e === 0) return undefined;
    const flags = this.u8[e + Conn6Field.FLAGS];
    return {
      protocol: this.u8[e + Conn6Field.PROTO] === Proto.UDP ? "udp" : "tcp",
      client: formatIp(this.words6(e + Conn6Field.CADDR)),
      clientPort: wireToPort(this.dv.getUint16(e + Conn6Field.CPORT, true)),
      vip: formatIp(this.words6(e + Conn6Field.VADDR)),
      vport: wireToPort(this.dv.getUint16(e + Conn6Field.VPORT, true)),
      server: formatIp(this.words6(e + Conn6Field.DADDR)),
      serverPort: wireToPort(this.dv.getUint16(e + Conn6Field.DPORT, true)),
      method: METHOD_NAME[(flags & ConnFlag.FWD_MASK) >> ConnFlag.FWD_SHIFT],
      state: STATE_NAMES[this.u8[e + Conn6Field.STATE]],
      expiresInMs: (this.dv.getUint32(e + Conn6Field.EXPIRES, true) - (nowMs >>> 0)) | 0,
    };
  }

  /** Free slots of the real-server table: records neither in use nor held by a removed
   *  server's lingering connections. */
  freeRealServerSlots(): number {
    return this.exports.realServerSlotsFree();
  }

  /** Real servers removed from their service but still holding connections (IPVS's trash). */
  lingeringRealServers(): { service: number; address: string; port: number; connections: number }[] {
    const out: { service: number; address: string; port: number; connections: number }[] = [];
    for (let d = 0; d < this.maxRealServers; d++) {
      const r = this.region[Region.DESTS] + d * DestField.SIZE;
      const flags = this.u8[r + DestField.FLAGS];
      if ((flags & DestFlag.USED) === 0 || (flags & DestFlag.AVAILABLE) !== 0) continue;
      out.push({
        service: this.dv.getUint32(r + DestField.SERVICE, true), address: wireToIp(this.dv.getUint32(r + DestField.ADDR, true)),
        port: wireToPort(this.dv.getUint16(r + DestField.PORT, true)),
        connections: this.dv.getUint32(r + DestField.ACTIVE, true) + this.dv.getUint32(r + DestField.INACTIVE, true),
      });
    }
    return out;
  }

  /** ipvsadm --set: seconds, 0 leaves a value unchanged. */
  setTimeouts(t: Partial<Timeouts>): void {
    for (const [k, v] of Object.entries(t)) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 2147483)) {
        throw new EngineError(`timeout ${k} out of range (0-2147483 seconds): ${v}`, Err.BAD_ARGUMENT);
      }
    }
    this.exports.setTimeouts((t.tcp ?? 0) * 1000, (t.tcpfin ?? 0) * 1000, (t.udp ?? 0) * 1000);
  }

  timeouts(): Timeouts {
    const s = (st: ConnState) => Math.floor(this.exports.getStateTimeoutMs(st) / 1000);
    return { tcp: s(ConnState.ESTABLISHED), tcpfin: s(ConnState.FIN_WAIT), udp: s(ConnState.UDP) };
  }

  setStateTimeout(state: ConnState, ms: number): void {
    check(this.exports.setStateTimeoutMs(state, ms), `timeout of state ${STATE_NAMES[state]}`);
  }

  /** IPVS's sloppy_tcp: a TCP connection may start on any segment but a RST, not only a SYN
   *  (a director that sees flows mid-way, after a failover without sync or in a fleet). */
  setSloppyTcp(on: boolean): void {
    this.exports.setSloppyTcp(on ? 1 : 0);
  }

  /** IPVS's expire_nodest_conn: expire connections of removed servers on their next packet. */
  setExpireNodestConn(on: boolean): void {
    this.exports.setExpireNodest(on ? 1 : 0);
  }

  /** Answer traffic the director has nothing for as a Linux host would: a TCP reset for a
   *  segment with no service or connection, ICMP port unreachable for UDP with no service
   *  and for a service with no server left; rate-limited (1000/s, burst 50). On by default. */
  setRejectUnknown(on: boolean): void {
    this.exports.setRejectUnknown(on ? 1 : 0);
  }

  /** Vnet mode, for TAPs with offloads (IFF_VNET_HDR): each frame has its 10-byte
   *  virtio-net header just before it in its slot, and TCP/UDP checksums may be partial. */
  setVnetHeaders(on: boolean): void {
    this.exports.setVnetHeaders(on ? 1 : 0);
  }

  expireConnections(nowMs: number): void {
    this.exports.expireConnections(nowMs >>> 0);
  }

}
