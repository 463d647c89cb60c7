// Change sets: what the control plane changes in a running engine, as plain data that
// crosses to the data-path thread (structured clone) and is applied there between two
// batches. The control plane computes a set (host/dataplane/changeset.ts) and checks it
// against its model; applyChangeSet checks it again against the engine itself, read only
// (IPVS's ip_vs_add_dest refuses before it allocates, too), and only then changes
// anything: a set is applied whole or not at all. Its cost follows the set, not the table.
//
// This file imports only the engine: no configuration model, no control code.

import { Engine, EngineError, Err, Fwd, MarkRule, Method, Proto, Protocol, RealServerSpec, SCHEDULERS, SchedulerName, ServiceSpec, Timeouts, VrrpInstanceSpec,
  checkPort, destArgs, ip4Of, IpAddr, ipToWire, MacWords, markToWire, portToWire, Prefix, serviceArgs, wireToIp, wireToMark } from "./index.js";
import { Abi } from "./abi.js";

/** A service by its key (ipvsadm's -t/-u ADDRESS:PORT or -f MARK). */
export interface ServiceRef {
  protocol: Protocol;
  address: string;
  /** The address parsed where it was read (ServiceSpec.vaddr). */
  vaddr: IpAddr;
  port: number;
  fwmark?: number;
}

/** Where a change was written (file:line:column and the word there): a refusal names it. */
export interface ChangeOrigin {
  file: string;
  line: number;
  column: number;
  keyword: string;
}

/** One change of a service or a real server. Deletes and edits carry what was there, so
 *  that a set that fails part-way (not expected after the checks) can be undone. */
export type ChangeOp =
  | { op: "add-service"; service: ServiceSpec; at?: ChangeOrigin }
  | { op: "edit-service"; service: ServiceSpec; was: ServiceSpec; at?: ChangeOrigin }
  | { op: "delete-service"; service: ServiceSpec; servers: RealServerSpec[] }
  | { op: "add-server"; service: ServiceRef; server: RealServerSpec; at?: ChangeOrigin }
  | { op: "edit-server"; service: ServiceRef; server: RealServerSpec; was: RealServerSpec; at?: ChangeOrigin }
  | { op: "delete-server"; service: ServiceRef; server: RealServerSpec };

export interface RouteSpec {
  cidr: string;
  /** cidr parsed (RouteConfig.net). */
  net: Prefix;
  via?: string;
  /** via parsed (RouteConfig.gateway). */
  gateway?: IpAddr;
  ifindex: number;
}

export interface NeighbourSpec {
  address: string;
  addr: IpAddr;
  mac: string;
  hw: MacWords;
  ifindex: number;
}

/** The director-wide settings as the engine takes them. A set carries only those that
 *  changed (and what they were, for an undo). */
export interface DirectorParts {
  /** ipvsadm --set (null: none set; the engine keeps what it has). */
  timeouts: Partial<Timeouts> | null;
  rejectUnknown: boolean;
  expireQuiescentTemplate: boolean;
  expireNodestConn: boolean;
  sloppyTcp: boolean;
  /** null: the engine's default share. */
  syncTableShare: number | null;
  /** null: sync authentication off. */
  syncAuthKey: Uint8Array | null;
  marks: MarkRule[];
  routes: RouteSpec[];
  neighbours: NeighbourSpec[];
}

export interface ChangeSet {
  ops: ChangeOp[];
  /** The configuration file the set came from (a refusal not tied to an op is reported there). */
  file?: string;
  /** The director-wide parts that changed, and what they were. */
  director?: Partial<DirectorParts>;
  directorWas?: Partial<DirectorParts>;
  /** VRRP's part when it changed: the engine's VRRP table, and the configuration the
   *  state machines take (opaque here: host/vrrp/machines.ts reads it). Applied after the
   *  ops by whoever holds the state machines (host/dataplane/requests.ts). */
  vrrp?: { specs: VrrpInstanceSpec[]; config: unknown };
}

/** Why a change set was refused: every op at fault, where it was written. */
export interface Refusal {
  at?: ChangeOrigin;
  reason: string;
}

/** A change set the engine refused; nothing changed (undone: a mutation failed after the
 *  checks and what it had done was reverted — said in the reasons). */
export class ChangeRefused extends Error {
  constructor(readonly refusals: Refusal[]) {
    super(refusals.map((r) => (r.at ? `${r.at.file}:${r.at.line}:${r.at.column}: ` : "") + r.reason).join("\n"));
  }
}

/** An empty set (nothing to apply). */
export const emptyChangeSet = (): ChangeSet => ({ ops: [] });
export const isEmptyChangeSet = (s: ChangeSet): boolean => s.ops.length === 0 && !s.director && !s.vrrp;

/** Engine operations between two calls of poll (VRRP's timers on the data path: an
 *  apply of 4,000 servers takes about 70 ms, longer than an advert may be late). */
export const OPS_PER_POLL = 64;

export const serviceRefText = (s: ServiceRef): string => (s.fwmark !== undefined ? `fwmark ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`);
/** ipvsadm's key of a service as the control plane writes it (host/control/ipvsadm.ts serviceKey). */
const keyText = (s: ServiceRef): string => (s.fwmark !== undefined ? `fwm ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`);
const serverKey = (r: { address: string; port: number }) => `${r.address}:${r.port}`;

/** The engine's words for a refusal (as its own calls would throw them). */
const TEXT = {
  exists: "already exists",
  notFound: "no such entry",
  notOnLink: "real server is not on a directly connected network (direct routing needs one)",
  portMismatch: "direct routing and tunnelling cannot change the port: the real server port must equal the service port",
  noRoute: "no route to the real server",
};

function serviceProblem(spec: ServiceSpec): string | undefined {
  try {
    checkPort(spec.port);
  } catch (e) {
    return (e as Error).message;
  }
  if (!SCHEDULERS.includes(spec.scheduler)) return `unknown scheduler "${spec.scheduler}" (supported: ${SCHEDULERS.join(", ")})`;
  if (spec.fwmark === undefined && spec.port === 0 && !spec.persistence) return "Zero port specified for non-persistent service";
  const p = spec.persistence;
  if (p && (!Number.isInteger(p.timeout) || p.timeout < 1 || p.timeout > 2678400)) return `persistence timeout out of range (1-2678400): ${p.timeout}`;
  return undefined;
}

const METHODS: Method[] = ["nat", "dr", "tun"];
/** The engine's forwarding code of a method (destArgs' codes). */
const FWD_OF: Record<Method, number> = { nat: Fwd.MASQ, dr: Fwd.DROUTE, tun: Fwd.TUNNEL };

/** What the engine's addDest/editDest refuse of r's values in service s, in the engine's
 *  words (the routing it needs is the engine's to say: packedRefusals). */
function serverProblem(s: ServiceRef, r: RealServerSpec): string | undefined {
  try {
    checkPort(r.port);
  } catch (err) {
    return (err as Error).message;
  }
  if (!METHODS.includes(r.method)) return `unknown forwarding method "${r.method}"`;
  if (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 65535) return `weight out of range (0-65535): ${r.weight}`;
  const u = r.uthreshold ?? 0;
  const l = r.lthreshold ?? 0;
  if (!Number.isInteger(u) || u < 0 || u > 0xffffffff) return `upper threshold out of range: ${u}`;
  if (!Number.isInteger(l) || l < 0 || l > 0xffffffff) return `lower threshold out of range: ${l}`;
  if (l > u) return `lower threshold ${l} is higher than upper threshold ${u}`;
  if (r.method !== "nat" && s.fwmark === undefined && r.port !== s.port) return `real server ${r.address}:${r.port}: ${TEXT.portMismatch}`;
  return undefined;
}

const hostOrder = (x: number) => (((x & 0xff) << 24) | (((x >>> 8) & 0xff) << 16) | (((x >>> 16) & 0xff) << 8) | (x >>> 24)) >>> 0;

// ---- packed ops -------------------------------------------------------------------------
//
// What crosses to the data path and what the engine checks and applies: a change set's ops
// as rows of numbers in wire order (the start set's idea, host/engine/start.ts, for changes).
// Their values are checked once, where the set was made (packOps: the engine's own words for
// a value it refuses); the engine then checks only what it alone knows (exists or not, the
// routing, room), with numeric keys and no string parsed. A 100,000-op set is one typed array
// instead of 100,000 objects cloned across the thread boundary and read back.

/** Words of a row. */
const ROW = 16;
/** Row kinds. */
const ADD_SERVICE = 1, EDIT_SERVICE = 2, DELETE_SERVICE = 3, ADD_SERVER = 4, EDIT_SERVER = 5, DELETE_SERVER = 6, SERVER_OF_DELETED = 7;
/** Words of every row: kind, problem (index + 1 into problems: the op's values are refused),
 *  the set's own route that reaches the real server (0 none, 1 on-link, 2 via a gateway), the
 *  service's key: protocol code (0: a mark), address (or mark) and port in wire order. */
const KIND = 0, PROBLEM = 1, ROUTE = 2, PROTO = 3, ADDR = 4, PORT = 5;
/** A service row's values: scheduler code, persistence timeout (0: none) and netmask, flags,
 *  one-packet; an edit's were after them (WAS words on); a delete's real servers (SERVERS). */
const SCHED = 6, PTIMEOUT = 7, PMASK = 8, SFLAGS = 9, ONEPACKET = 10, WAS = 5, SERVERS = 11;
/** A real-server row's values: address and port in wire order, forwarding code, weight,
 *  thresholds; an edit's were after them (RWAS words on: forwarding code, weight, thresholds). */
const RADDR = 6, RPORT = 7, FWD = 8, WEIGHT = 9, UTH = 10, LTH = 11, RWAS = 4;
/** Scheduler code of a scheduler the engine does not have. */
const NO_SCHED = 0xffffffff;

/** A change set's ops, packed (packOps). */
export interface PackedOps {
  /** Ops packed (rows: each op's, a deleted service's real servers after it). */
  count: number;
  rows: Uint32Array;
  /** Why an op's values are refused (in the engine's words). */
  problems: string[];
}

/** ops packed for the engine, with the routes the set adds (they are added before its real
 *  servers: one of them may be what reaches a server). Throws where an op's address does not
 *  read (the engine's refusal of it, as before). */
export function packOps(ops: readonly ChangeOp[], routes: readonly RouteSpec[] = []): PackedOps {
  let rowCount = ops.length;
  for (const op of ops) if (op.op === "delete-service") rowCount += op.servers.length;
  const rows = new Uint32Array(rowCount * ROW);
  const problems: string[] = [];
  const routing = routes.map((r) => {
    const mask = r.net.len === 0 ? 0 : (0xffffffff << (32 - r.net.len)) >>> 0;
    return { net: (hostOrder(ip4Of(r.net.addr)) & mask) >>> 0, mask, prefix: r.net.len, onLink: r.via === undefined };
  });
  // The longest of the set's routes that reaches address (1: on-link, 2: via a gateway).
  const byRoute = (address: number) => {
    let best = 0;
    let bestLen = -1;
    const a = hostOrder(address);
    for (const r of routing) if (((a & r.mask) >>> 0) === r.net && r.prefix > bestLen) { best = r.onLink ? 1 : 2; bestLen = r.prefix; }
    return best;
  };
  // A planner's ops share their service's key object: read once.
  let lastRef: ServiceRef | undefined;
  let proto = 0, addr = 0, port = 0;
  const key = (o: number, s: ServiceRef) => {
    if (s !== lastRef) {
      const fw = s.fwmark !== undefined;
      proto = fw ? 0 : s.protocol === "udp" ? Proto.UDP : s.protocol === "tcp" ? Proto.TCP : 0;
      addr = fw ? markToWire(s.fwmark!) : ip4Of(s.vaddr);
      port = fw ? 0 : portToWire(s.port);
      lastRef = s;
    }
    rows[o + PROTO] = proto;
    rows[o + ADDR] = addr;
    rows[o + PORT] = port;
  };
  const problem = (o: number, why: string) => { problems.push(why); rows[o + PROBLEM] = problems.length; };
  const service = (o: number, spec: ServiceSpec) => {
    const a = serviceArgs(spec);
    rows[o + SCHED] = a.sched;
    rows[o + PTIMEOUT] = a.persistence?.[0] ?? 0;
    rows[o + PMASK] = a.persistence?.[1] ?? 0;
    rows[o + SFLAGS] = a.schedFlags;
    rows[o + ONEPACKET] = a.onePacket ? 1 : 0;
  };
  // checked: serverProblem passed r's values already (an add's or an edit's), so they are
  // written as they are, without destArgs' checks again and its array (100,000 of a large set).
  const server = (o: number, r: RealServerSpec, checked = false) => {
    rows[o + RADDR] = ip4Of(r.daddr);
    rows[o + RPORT] = portToWire(r.port);
    if (checked) {
      rows[o + FWD] = FWD_OF[r.method];
      rows[o + WEIGHT] = r.weight;
      rows[o + UTH] = r.uthreshold ?? 0;
      rows[o + LTH] = r.lthreshold ?? 0;
      return;
    }
    const [fwd, w, u, l] = destArgs(r);
    rows[o + FWD] = fwd;
    rows[o + WEIGHT] = w;
    rows[o + UTH] = u;
    rows[o + LTH] = l;
  };
  let o = 0;
  for (const op of ops) {
    switch (op.op) {
      case "add-service":
      case "edit-service": {
        rows[o + KIND] = op.op === "add-service" ? ADD_SERVICE : EDIT_SERVICE;
        const why = serviceProblem(op.service);
        if (why) { problem(o, why); break; }
        key(o, op.service);
        service(o, op.service);
        if (op.op === "edit-service") {
          const was = op.was;
          const sched = SCHEDULERS.indexOf(was.scheduler);
          rows[o + WAS + SCHED] = sched < 0 ? NO_SCHED : sched;
          rows[o + WAS + PTIMEOUT] = was.persistence ? was.persistence.timeout : 0;
          rows[o + WAS + PMASK] = was.persistence ? ip4Of(was.persistence.mask) : 0;
          rows[o + WAS + SFLAGS] = was.schedFlags ?? 0;
          rows[o + WAS + ONEPACKET] = was.onePacket ? 1 : 0;
        }
        break;
      }
      case "delete-service": {
        rows[o + KIND] = DELETE_SERVICE;
        key(o, op.service);
        service(o, op.service);
        rows[o + SERVERS] = op.servers.length;
        for (const r of op.servers) {
          o += ROW;
          rows[o + KIND] = SERVER_OF_DELETED;
          server(o, r);
        }
        break;
      }
      case "add-server":
      case "edit-server":
      case "delete-server": {
        rows[o + KIND] = op.op === "add-server" ? ADD_SERVER : op.op === "edit-server" ? EDIT_SERVER : DELETE_SERVER;
        key(o, op.service);
        if (op.op !== "delete-server") {
          const why = serverProblem(op.service, op.server);
          if (why) { problem(o, why); break; }
        }
        server(o, op.server, op.op !== "delete-server");
        if (routing.length) rows[o + ROUTE] = byRoute(rows[o + RADDR]);
        if (op.op === "edit-server") {
          const [fwd, w, u, l] = destArgs(op.was);
          rows[o + RWAS + FWD] = fwd;
          rows[o + RWAS + WEIGHT] = w;
          rows[o + RWAS + UTH] = u;
          rows[o + RWAS + LTH] = l;
        }
        break;
      }
    }
    o += ROW;
  }
  return { count: ops.length, rows, problems };
}

/** Why the engine refused a packed op (op: its index in the set; -1: the set's director part):
 *  put in words with the op where the set was made (explain). */
export interface PackedRefusal {
  op: number;
  why: number;
  /** The words, when the engine has them (a value refused, a table full of a scheduler). */
  text?: string;
  /** Figures of a table full (SERVERS_FULL: size, held, needed; SERVICES_FULL: size, would make). */
  figures?: number[];
}

/** PackedRefusal.why. */
export const WHY = { TEXT: 0, SERVICE_EXISTS: 1, SERVICE_NOT_FOUND: 2, SERVER_EXISTS: 3, SERVER_NOT_FOUND: 4, NOT_ON_LINK: 5, NO_ROUTE: 6,
  SERVERS_FULL: 7, SERVICES_FULL: 8, SCHEDULER_FULL: 9 } as const;

/** A packed set the engine refused; nothing changed. */
export class PackedRefused extends Error {
  constructor(readonly refusals: PackedRefusal[]) {
    super(`change set refused (${refusals.length})`);
  }
}

/** The refusals of a packed set, in words, where each op of ops was written. */
export function explain(refusals: readonly PackedRefusal[], ops: readonly ChangeOp[]): Refusal[] {
  return refusals.map((r) => {
    const op = r.op >= 0 ? ops[r.op] : undefined;
    const at = op && "at" in op ? op.at : undefined;
    const server = op && "server" in op ? op.server : undefined;
    const f = r.figures ?? [];
    let reason: string;
    switch (r.why) {
      case WHY.SERVICE_EXISTS: reason = `service ${serviceRefText(op!.service)}: ${TEXT.exists}`; break;
      case WHY.SERVICE_NOT_FOUND: reason = `service ${serviceRefText(op!.service)}: ${TEXT.notFound}`; break;
      case WHY.SERVER_EXISTS: reason = `real server ${serverKey(server!)}: ${TEXT.exists}`; break;
      case WHY.SERVER_NOT_FOUND: reason = `real server ${serverKey(server!)}: ${TEXT.notFound}`; break;
      case WHY.NOT_ON_LINK: reason = `real server ${server!.address}:${server!.port}: ${TEXT.notOnLink}`; break;
      case WHY.NO_ROUTE: reason = `real server ${server!.address}:${server!.port}: ${TEXT.noRoute}`; break;
      case WHY.SERVERS_FULL:
        reason = `the real-server table is full (${f[0]} real servers${f[1] ? `, ${f[1]} of them removed but still holding connections` : ""}): ` +
          `this change needs ${f[2]} more (first: ${serverKey(server!)} in ${keyText(op!.service)}); nothing was changed`;
        break;
      case WHY.SERVICES_FULL:
        reason = `service ${keyText(op!.service)}: the service table is full (${f[0]} services): this change would make ${f[1]}; nothing was changed`;
        break;
      case WHY.SCHEDULER_FULL: reason = `service ${serviceRefText(op!.service)}: ${r.text}`; break;
      default: reason = r.text ?? "refused";
    }
    return { at, reason };
  });
}

/** The name of a packed row's service, as the engine's refusals give it. */
function rowService(rows: Uint32Array, o: number): string {
  return rows[o + PROTO] === 0 ? `fwmark ${markOf(rows[o + ADDR])}` : `${rows[o + PROTO] === Proto.UDP ? "udp" : "tcp"} ${wireToIp(rows[o + ADDR])}:${portToWire(rows[o + PORT])}`;
}
const rowServer = (rows: Uint32Array, o: number) => `${wireToIp(rows[o + RADDR])}:${portToWire(rows[o + RPORT])}`;
const markOf = (wire: number) => hostOrder(wire);

/** The real servers of one service as a set's ops leave them (true: there, false: gone):
 *  a short list scanned (a service has a few: no key to hash), a map past SCAN of them. */
class ServerStates {
  /** Address, port and state (1 there, 0 gone) of each server, in one array (one allocation a
   *  service: a reload from an empty table makes 10,000 of these). */
  private readonly entries: number[] = [];
  private byKey?: Map<number, number>;
  private static readonly SCAN = 16;

  private find(addr: number, port: number): number {
    if (this.byKey) return this.byKey.get(addr * 65536 + port) ?? -1;
    const e = this.entries;
    for (let i = 0; i < e.length; i += 3) if (e[i] === addr && e[i + 1] === port) return i;
    return -1;
  }

  get(addr: number, port: number): boolean | undefined {
    const i = this.find(addr, port);
    return i < 0 ? undefined : this.entries[i + 2] === 1;
  }

  set(addr: number, port: number, there: boolean): void {
    const i = this.find(addr, port);
    if (i >= 0) { this.entries[i + 2] = there ? 1 : 0; return; }
    const e = this.entries;
    e.push(addr, port, there ? 1 : 0);
    if (this.byKey) this.byKey.set(addr * 65536 + port, e.length - 3);
    else if (e.length > ServerStates.SCAN * 3) {
      this.byKey = new Map();
      for (let k = 0; k < e.length; k += 3) this.byKey.set(e[k] * 65536 + e[k + 1], k);
    }
  }
}

/**
 * Everything the engine would refuse of a packed set, found without changing it: the
 * director part's values, each op against the engine as the ops before it leave it (exists or
 * not, DR on-link, a route), then the room all of it needs (services, real-server records — a
 * removed server with connections keeps its record, IPVS's trash — and scheduler memory).
 * Keys are numbers; the engine is asked with wire values.
 */
export function packedRefusals(e: Engine, p: PackedOps, director?: Partial<DirectorParts>, poll?: () => void): PackedRefusal[] {
  const out: PackedRefusal[] = [];
  const x = e.exports;
  const refuse = (op: number, why: number, text?: string, figures?: number[]) => out.push({ op, why, ...(text !== undefined ? { text } : {}), ...(figures ? { figures } : {}) });
  if (director?.timeouts) {
    for (const [k, v] of Object.entries(director.timeouts)) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 2147483)) refuse(-1, WHY.TEXT, `timeout ${k} out of range (0-2147483 seconds): ${v}`);
    }
  }
  if (director?.marks && director.marks.length > Abi.MAX_MARK_RULES) refuse(-1, WHY.TEXT, `too many mark rules (${Abi.MAX_MARK_RULES})`);
  const rows = p.rows;
  const bytesOf = (sched: number) => (sched < SCHEDULERS.length ? x.schedulerTableBytes(sched) : 0);
  const serviceKeyAt = (o: number) => (rows[o + ADDR] * 65536 + rows[o + PORT]) * 32 + (rows[o + PROTO] & 31);
  const serverKeyAt = (o: number) => rows[o + RADDR] * 65536 + rows[o + RPORT];
  const findAt = (o: number) => x.findService(rows[o + PROTO], rows[o + ADDR], rows[o + PORT]);
  // The services and servers as the ops before each one leave them (true: there, false: gone).
  const services = new Map<number, boolean>();
  const servers = new Map<number, ServerStates>();
  // The last service asked about (a planner's ops come service by service, an added service's
  // 10 servers after it): recognised by its row's words, so that its key (a double), its entry
  // in services and its servers' states are looked up once for all its rows, not once a row.
  // A service op forgets it (it may change what is there).
  let thereProto = -1, thereAddr = -1, therePort = -1;
  let lastThere = false;
  const serviceThere = (o: number) => {
    if (rows[o + PROTO] !== thereProto || rows[o + ADDR] !== thereAddr || rows[o + PORT] !== therePort) {
      lastThere = services.get(serviceKeyAt(o)) ?? findAt(o) >= 0;
      thereProto = rows[o + PROTO]; thereAddr = rows[o + ADDR]; therePort = rows[o + PORT];
    }
    return lastThere;
  };
  let rowProto = -1, rowAddr = -1, rowPort = -1;
  /** The service of the last server row: its key, whether this set added or removed it, its servers' states. */
  let rowKey = 0;
  let rowBySet = false;
  let rowStates: ServerStates | undefined;
  const serviceOfRow = (o: number) => {
    if (rows[o + PROTO] === rowProto && rows[o + ADDR] === rowAddr && rows[o + PORT] === rowPort) return;
    rowProto = rows[o + PROTO]; rowAddr = rows[o + ADDR]; rowPort = rows[o + PORT];
    rowKey = serviceKeyAt(o);
    rowBySet = services.has(rowKey);
    rowStates = servers.get(rowKey);
  };
  const forget = () => { thereProto = -1; rowProto = -1; };
  /** The states of the servers of row o's service (made at its first server). */
  const statesOf = (o: number) => {
    serviceOfRow(o);
    if (!rowStates) { rowStates = new ServerStates(); servers.set(rowKey, rowStates); }
    return rowStates;
  };
  const serverThere = (o: number) => {
    serviceOfRow(o);
    const known = rowStates?.get(rows[o + RADDR], rows[o + RPORT]);
    if (known !== undefined) return known;
    if (rowBySet) return false; // a service this set added (or removed) has none of the engine's
    const idx = findAt(o);
    return idx >= 0 && x.findDest(idx, rows[o + RADDR], rows[o + RPORT]) >= 0;
  };
  const connsOf = (s: number, o: number) => {
    const idx = findAt(s);
    const d = idx < 0 ? -1 : x.findDest(idx, rows[o + RADDR], rows[o + RPORT]);
    return d < 0 ? undefined : e.realServerConnections(d);
  };
  let servicesAdded = 0;
  let servicesRemoved = 0;
  let schedulerBytes = 0;
  let freedRecords = 0;
  let removedHeld = 0;
  // Servers this set removes while they hold connections: their records linger (IPVS's trash)
  // and an add of the same server later in the set takes its record back.
  const heldBySet = new Map<number, Set<number>>();
  // The add-server rows (and their ops) that need a record; the add-service ops; the ops that need a scheduler table.
  const needRows = new Int32Array(p.count);
  const needOps = new Int32Array(p.count);
  let needCount = 0;
  const addedOps: number[] = [];
  let tables = 0;
  let firstTable = -1;
  let firstTableRow = 0;
  let o = 0;
  for (let n = 0; n < p.count; n++, o += ROW) {
    if (poll && (n + 1) % OPS_PER_POLL === 0) poll();
    const kind = rows[o + KIND];
    const bad = rows[o + PROBLEM];
    switch (kind) {
      case ADD_SERVICE: {
        if (bad) { refuse(n, WHY.TEXT, p.problems[bad - 1]); break; }
        if (serviceThere(o)) { refuse(n, WHY.SERVICE_EXISTS); break; }
        services.set(serviceKeyAt(o), true);
        servicesAdded++;
        addedOps.push(n);
        const b = bytesOf(rows[o + SCHED]);
        schedulerBytes += b;
        if (b > 0 && tables++ === 0) { firstTable = n; firstTableRow = o; }
        break;
      }
      case EDIT_SERVICE: {
        if (bad) { refuse(n, WHY.TEXT, p.problems[bad - 1]); break; }
        if (!serviceThere(o)) { refuse(n, WHY.SERVICE_NOT_FOUND); break; }
        const b = bytesOf(rows[o + SCHED]);
        const was = bytesOf(rows[o + WAS + SCHED]);
        schedulerBytes += b - was;
        if (b > 0 && b !== was && tables++ === 0) { firstTable = n; firstTableRow = o; }
        break;
      }
      case DELETE_SERVICE: {
        const count = rows[o + SERVERS];
        if (serviceThere(o)) {
          const k = serviceKeyAt(o);
          const added = services.has(k);
          for (let i = 1; i <= count; i++) {
            const c = added ? 0 : connsOf(o, o + i * ROW);
            if (c === 0) freedRecords++;
            else if (c !== undefined) removedHeld++;
          }
          services.set(k, false);
          servicesRemoved++;
          schedulerBytes -= bytesOf(rows[o + SCHED]);
        }
        o += count * ROW;
        break;
      }
      case ADD_SERVER:
      case EDIT_SERVER: {
        if (!serviceThere(o)) { refuse(n, WHY.SERVICE_NOT_FOUND); break; }
        if (bad) { refuse(n, WHY.TEXT, p.problems[bad - 1]); break; }
        const a = rows[o + RADDR];
        const route = rows[o + ROUTE];
        if (rows[o + FWD] === Fwd.DROUTE) {
          if (x.routeOnLink(a) === 0 && route !== 1) { refuse(n, WHY.NOT_ON_LINK); break; }
        } else if (route === 0 && x.routeExists(a) === 0) { refuse(n, WHY.NO_ROUTE); break; }
        const there = serverThere(o);
        if (kind === ADD_SERVER && there) { refuse(n, WHY.SERVER_EXISTS); break; }
        if (kind === EDIT_SERVER && !there) { refuse(n, WHY.SERVER_NOT_FOUND); break; }
        if (kind === ADD_SERVER) {
          statesOf(o).set(rows[o + RADDR], rows[o + RPORT], true);
          needRows[needCount] = o;
          needOps[needCount++] = n;
        }
        break;
      }
      case DELETE_SERVER: {
        if (!serverThere(o)) break;
        const c = connsOf(o, o);
        const k = serviceKeyAt(o);
        if (c === 0) freedRecords++;
        else if (c !== undefined) {
          removedHeld++;
          let held = heldBySet.get(k);
          if (!held) { held = new Set(); heldBySet.set(k, held); }
          held.add(serverKeyAt(o));
        }
        statesOf(o).set(rows[o + RADDR], rows[o + RPORT], false);
        break;
      }
    }
    // A service op changes what is there: the last service is asked again after it.
    if (kind <= DELETE_SERVICE) forget();
  }
  if (out.length) return out;
  // Room for what is added (the engine's sizes; records freed by the removals count).
  if (needCount) {
    const free = e.freeRealServerSlots() + freedRecords;
    if (needCount > free) {
      // A server removed earlier with connections, added again, takes its record back.
      const lingering = new Set(e.lingeringRealServers().map((l) => `${l.service} ${ipToWire(l.address)} ${portToWire(l.port)}`));
      const needed: number[] = [];
      for (let i = 0; i < needCount; i++) {
        const r = needRows[i];
        if (heldBySet.get(serviceKeyAt(r))?.has(serverKeyAt(r))) continue;
        const idx = findAt(r);
        if (idx < 0 || !lingering.has(`${idx} ${rows[r + RADDR]} ${rows[r + RPORT]}`)) needed.push(i);
      }
      if (needed.length > free) {
        const held = lingering.size + removedHeld;
        const rest = needed.slice(Math.max(0, free));
        refuse(needOps[rest[0]], WHY.SERVERS_FULL, undefined, [e.maxRealServers, held, rest.length]);
      }
    }
  }
  if (servicesAdded > servicesRemoved) {
    const used = e.serviceCount();
    const room = e.maxServices - used + servicesRemoved;
    // Services are added in the set's order: the first that finds no room is named.
    if (servicesAdded > room) refuse(addedOps[Math.max(0, room)], WHY.SERVICES_FULL, undefined, [e.maxServices, used - servicesRemoved + servicesAdded]);
  }
  // The scheduler arena (sh, dh, mh and maglev tables; assembly/sched/arena.ts): its free bytes
  // count tables of every size, so one more table is asked of the engine exactly, and more than
  // one is held against the free bytes; a set that passes here and still finds no table is
  // undone whole by applyPacked.
  if (schedulerBytes > 0 && tables > 0) {
    const sched = rows[firstTableRow + SCHED];
    const fits = tables === 1 && servicesRemoved === 0 ? x.schedulerCanTake(sched) !== 0 : schedulerBytes <= e.schedulerMemoryFree();
    if (!fits) refuse(firstTable, WHY.SCHEDULER_FULL, e.schedulerFullText(SCHEDULERS[sched]));
  }
  return out;
}

/** Everything the engine would refuse of set (refusalsOf of the ops' objects: packed, then
 *  checked as the data path checks them). */
export function refusalsOf(e: Engine, set: ChangeSet, poll?: () => void): Refusal[] {
  return explain(packedRefusals(e, packOps(set.ops, set.director?.routes), set.director, poll), set.ops);
}

/**
 * Apply set to e, whole or not at all: its ops packed, then applyPacked. Refusals are a
 * ChangeRefused, each where its op was written.
 */
export function applyChangeSet(e: Engine, set: ChangeSet, poll?: () => void): void {
  const packed = packOps(set.ops, set.director?.routes);
  try {
    applyPacked(e, packed, set, poll);
  } catch (err) {
    if (err instanceof PackedRefused) throw new ChangeRefused(explain(err.refusals, set.ops));
    throw err;
  }
}

/**
 * Apply a packed set to e, whole or not at all: packedRefusals first (nothing changed when
 * it finds any: a PackedRefused), then the director-wide parts, then the ops in their order.
 * A mutation that still fails is undone, with everything done before it, and said so. poll()
 * runs every OPS_PER_POLL engine operations (the data path's VRRP timers during a long
 * apply). Synchronous: the data path calls it between two batches.
 */
export function applyPacked(e: Engine, p: PackedOps, set: Pick<ChangeSet, "director" | "directorWas">, poll?: () => void): void {
  const refusals = packedRefusals(e, p, set.director, poll);
  if (refusals.length) throw new PackedRefused(refusals);
  poll?.();
  const x = e.exports;
  const rows = p.rows;
  const undo: (() => void)[] = [];
  // What each op applied did, for an undo: its row and the record it made or changed.
  const doneRows = new Int32Array(p.count);
  const doneIndex = new Int32Array(p.count);
  let doneCount = 0;
  let current = -1;
  // The last service found (a planner's servers come after their service): its index.
  let lastProto = -1, lastAddr = -1, lastPort = -1, lastIndex = -1;
  const need = (o: number) => {
    if (rows[o + PROTO] === lastProto && rows[o + ADDR] === lastAddr && rows[o + PORT] === lastPort) return lastIndex;
    const idx = x.findService(rows[o + PROTO], rows[o + ADDR], rows[o + PORT]);
    if (idx < 0) throw new EngineError(`service ${rowService(rows, o)}: ${TEXT.notFound}`, Err.NOT_FOUND);
    lastProto = rows[o + PROTO]; lastAddr = rows[o + ADDR]; lastPort = rows[o + PORT]; lastIndex = idx;
    return idx;
  };
  const serviceArgsAt = (o: number, w = 0) => ({
    protocol: rows[o + PROTO], address: rows[o + ADDR], port: rows[o + PORT], sched: rows[o + w + SCHED],
    persistence: rows[o + w + PTIMEOUT] ? [rows[o + w + PTIMEOUT], rows[o + w + PMASK]] as [number, number] : undefined,
    schedFlags: rows[o + w + SFLAGS], onePacket: rows[o + w + ONEPACKET] !== 0,
  });
  // The row of the server being added, named only if the engine refuses it (one function for
  // all rows: 100,000 closures made for nothing was garbage of a large set).
  let namedRow = 0;
  const serverNamed = () => `real server ${rowServer(rows, namedRow)}`;
  const addServerAt = (idx: number, o: number) => {
    namedRow = o;
    return e.addRealServerWith(idx, rows[o + RADDR], rows[o + RPORT], rows[o + FWD], rows[o + WEIGHT], rows[o + UTH], rows[o + LTH], serverNamed);
  };
  try {
    if (set.director) applyDirector(e, set.director, set.directorWas ?? {}, undo);
    let o = 0;
    for (let n = 0; n < p.count; n++, o += ROW) {
      current = n;
      if (poll && (n + 1) % OPS_PER_POLL === 0) poll();
      let done = -1;
      if (rows[o + KIND] === DELETE_SERVICE) lastProto = -1;
      switch (rows[o + KIND]) {
        case ADD_SERVICE:
          done = e.addServiceWith(serviceArgsAt(o), () => `service ${rowService(rows, o)}`);
          break;
        case EDIT_SERVICE: {
          done = need(o);
          const a = serviceArgsAt(o);
          e.editServiceWith(done, a.sched, a.persistence, a.schedFlags, a.onePacket);
          break;
        }
        case DELETE_SERVICE: {
          const idx = x.findService(rows[o + PROTO], rows[o + ADDR], rows[o + PORT]);
          if (idx >= 0) { e.deleteService(idx); done = idx; }
          break;
        }
        case ADD_SERVER:
          done = addServerAt(need(o), o);
          break;
        case EDIT_SERVER: {
          const d = x.findDest(need(o), rows[o + RADDR], rows[o + RPORT]);
          if (d < 0) throw new EngineError(`real server ${rowServer(rows, o)}: ${TEXT.notFound}`, Err.NOT_FOUND);
          e.editRealServerWith(d, rows[o + FWD], rows[o + WEIGHT], rows[o + UTH], rows[o + LTH], () => `real server ${rowServer(rows, o)}`);
          done = d;
          break;
        }
        case DELETE_SERVER: {
          const idx = x.findService(rows[o + PROTO], rows[o + ADDR], rows[o + PORT]);
          const d = idx < 0 ? -1 : x.findDest(idx, rows[o + RADDR], rows[o + RPORT]);
          if (d >= 0) { e.deleteRealServer(d); done = idx; }
          break;
        }
      }
      if (done >= 0) { doneRows[doneCount] = o; doneIndex[doneCount++] = done; }
      if (rows[o + KIND] === DELETE_SERVICE) o += rows[o + SERVERS] * ROW;
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    let undone = true;
    const attempt = (f: () => void) => {
      try {
        f();
      } catch {
        undone = false;
      }
    };
    for (let i = doneCount - 1; i >= 0; i--) {
      const o = doneRows[i];
      const idx = doneIndex[i];
      attempt(() => {
        switch (rows[o + KIND]) {
          case ADD_SERVICE: e.deleteService(idx); break;
          case EDIT_SERVICE: {
            const a = serviceArgsAt(o, WAS);
            e.editServiceWith(idx, a.sched, a.persistence, a.schedFlags, a.onePacket);
            break;
          }
          case DELETE_SERVICE: {
            const back = e.addServiceWith(serviceArgsAt(o), () => `service ${rowService(rows, o)}`);
            for (let k = 1; k <= rows[o + SERVERS]; k++) addServerAt(back, o + k * ROW);
            break;
          }
          case ADD_SERVER: e.deleteRealServer(idx); break;
          case EDIT_SERVER:
            e.editRealServerWith(idx, rows[o + RWAS + FWD], rows[o + RWAS + WEIGHT], rows[o + RWAS + UTH], rows[o + RWAS + LTH], () => `real server ${rowServer(rows, o)}`);
            break;
          case DELETE_SERVER: addServerAt(idx, o); break;
        }
      });
    }
    for (const f of undo.reverse()) attempt(f);
    throw new PackedRefused([{ op: current, why: WHY.TEXT,
      text: `${reason} (${undone ? "what the change had done was undone; nothing was changed" : "the change stopped part-way and could not be undone whole"})` }]);
  }
}

function applyDirector(e: Engine, d: Partial<DirectorParts>, was: Partial<DirectorParts>, undo: (() => void)[]): void {
  if (d.timeouts) {
    const before = e.timeouts();
    e.setTimeouts(d.timeouts);
    undo.push(() => e.setTimeouts(before));
  }
  const flag = <K extends "rejectUnknown" | "expireQuiescentTemplate" | "expireNodestConn" | "sloppyTcp">(k: K, set: (on: boolean) => void) => {
    if (d[k] === undefined) return;
    set(d[k]!);
    undo.push(() => set(was[k] ?? false));
  };
  flag("rejectUnknown", (on) => e.setRejectUnknown(on));
  flag("expireQuiescentTemplate", (on) => e.setExpireQuiescentTemplate(on));
  flag("expireNodestConn", (on) => e.setExpireNodestConn(on));
  flag("sloppyTcp", (on) => e.setSloppyTcp(on));
  if (d.syncTableShare !== undefined) {
    e.setSyncTableShare(d.syncTableShare ?? undefined);
    undo.push(() => e.setSyncTableShare(was.syncTableShare ?? undefined));
  }
  if (d.syncAuthKey !== undefined) {
    e.setSyncAuthKey(d.syncAuthKey ?? undefined);
    undo.push(() => e.setSyncAuthKey(was.syncAuthKey ?? undefined));
  }
  if (d.marks) {
    e.setMarkRules(d.marks);
    undo.push(() => e.setMarkRules(was.marks ?? []));
  }
  if (d.routes) {
    const after = new Set(d.routes.map((r) => r.cidr));
    for (const r of was.routes ?? []) {
      if (after.has(r.cidr)) continue;
      e.deleteRouteOf(r);
      undo.push(() => e.addRouteOf(r));
    }
    const before = new Map((was.routes ?? []).map((r) => [r.cidr, r]));
    for (const r of d.routes) {
      const old = before.get(r.cidr);
      if (old && old.via === r.via && old.ifindex === r.ifindex) continue;
      // Re-adding a route replaces it in place.
      e.addRouteOf(r);
      undo.push(() => (old ? e.addRouteOf(old) : e.deleteRouteOf(r)));
    }
  }
  if (d.neighbours) {
    const before = new Map((was.neighbours ?? []).map((x) => [x.address, x]));
    for (const x of d.neighbours) {
      const old = before.get(x.address);
      if (old && old.mac === x.mac && old.ifindex === x.ifindex) continue;
      e.setNeighbourOf(x);
      if (old) undo.push(() => e.setNeighbourOf(old));
    }
  }
}

/** The schedulers whose names a set may carry (for callers that check input early). */
export const isSchedulerName = (s: string): s is SchedulerName => (SCHEDULERS as string[]).includes(s);
