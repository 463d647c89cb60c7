// Change sets: what the control plane changes in a running engine, as plain data that
// crosses to the data-path thread (structured clone) and is applied there between two
// batches. The control plane computes a set (host/dataplane/changeset.ts) and checks it
// against its model; applyChangeSet checks it again against the engine itself, read only
// (IPVS's ip_vs_add_dest refuses before it allocates, too), and only then changes
// anything: a set is applied whole or not at all. Its cost follows the set, not the table.
//
// This file imports only the engine: no configuration model, no control code.

import { Engine, EngineError, Err, MarkRule, Method, Protocol, RealServerSpec, SCHEDULERS, SchedulerName, ServiceSpec, Timeouts, VrrpInstanceSpec,
  checkPort, ipToWire, parseCidr } from "./index.js";
import { Abi } from "./abi.js";

/** A service by its key (ipvsadm's -t/-u ADDRESS:PORT or -f MARK). */
export interface ServiceRef {
  protocol: Protocol;
  address: string;
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
  via?: string;
  ifindex: number;
}

export interface NeighbourSpec {
  address: string;
  mac: string;
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
const refKey = (s: ServiceRef) => (s.fwmark !== undefined ? `f${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`);
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

/** What the engine's addDest/editDest refuse of r in service s, in the engine's words;
 *  routing: the set's own routes (added first) besides the engine's. */
function serverProblem(e: Engine, s: ServiceRef, r: RealServerSpec, routing: RouteSpec[]): string | undefined {
  const name = `real server ${r.address}:${r.port}`;
  try {
    checkPort(r.port);
  } catch (err) {
    return (err as Error).message;
  }
  if (!METHODS.includes(r.method)) return `unknown forwarding method "${r.method}"`;
  if (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 65535) return `weight out of range (0-65535): ${r.weight}`;
  const u = r.uthreshold ?? 0;
  const l = r.lthreshold ?? 0;
  for (const [n, v] of [["upper threshold", u], ["lower threshold", l]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) return `${n} out of range: ${v}`;
  }
  if (l > u) return `lower threshold ${l} is higher than upper threshold ${u}`;
  if (r.method !== "nat" && s.fwmark === undefined && r.port !== s.port) return `${name}: ${TEXT.portMismatch}`;
  // The set's routes are added before its servers: one of them may be what reaches r.
  const byRoute = longestMatch(routing, r.address);
  if (r.method === "dr") {
    if (!e.isOnLink(r.address) && !(byRoute && byRoute.via === undefined)) return `${name}: ${TEXT.notOnLink}`;
  } else if (!byRoute && !e.hasRoute(r.address)) return `${name}: ${TEXT.noRoute}`;
  return undefined;
}

function longestMatch(routes: RouteSpec[], address: string): RouteSpec | undefined {
  if (routes.length === 0) return undefined;
  const a = hostOrder(ipToWire(address));
  let best: RouteSpec | undefined;
  let bestLen = -1;
  for (const r of routes) {
    const c = parseCidr(r.cidr);
    const mask = c.prefixLen === 0 ? 0 : (0xffffffff << (32 - c.prefixLen)) >>> 0;
    if (((a & mask) >>> 0) === ((hostOrder(ipToWire(c.address)) & mask) >>> 0) && c.prefixLen > bestLen) { best = r; bestLen = c.prefixLen; }
  }
  return best;
}

const hostOrder = (x: number) => (((x & 0xff) << 24) | (((x >>> 8) & 0xff) << 16) | (((x >>> 16) & 0xff) << 8) | (x >>> 24)) >>> 0;

/**
 * Everything the engine would refuse of set, found without changing it: each op against
 * the engine as the ops before it leave it (exists or not, the port rule, DR on-link, a
 * route), then the room all of it needs (services, real-server records — a removed
 * server with connections keeps its record, IPVS's trash — and scheduler memory).
 */
export function refusalsOf(e: Engine, set: ChangeSet, poll?: () => void): Refusal[] {
  const out: Refusal[] = [];
  const refuse = (at: ChangeOrigin | undefined, reason: string) => out.push({ at, reason });
  const d = set.director;
  if (d?.timeouts) {
    for (const [k, v] of Object.entries(d.timeouts)) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 2147483)) refuse(undefined, `timeout ${k} out of range (0-2147483 seconds): ${v}`);
    }
  }
  if (d?.marks && d.marks.length > Abi.MAX_MARK_RULES) refuse(undefined, `too many mark rules (${Abi.MAX_MARK_RULES})`);
  const routing = d?.routes ?? [];
  // The services and servers as the ops before each one leave them (true: there, false: gone).
  const services = new Map<string, { there: boolean; spec?: ServiceSpec }>();
  const servers = new Map<string, boolean>();
  const serviceThere = (s: ServiceRef) => services.get(refKey(s))?.there ?? e.findService(s.protocol, s.address, s.port, s.fwmark) !== undefined;
  const serverThere = (s: ServiceRef, r: RealServerSpec) => {
    const known = servers.get(`${refKey(s)} ${serverKey(r)}`);
    if (known !== undefined) return known;
    if (services.has(refKey(s))) return false; // a service this set added (or removed) has none of the engine's
    const idx = e.findService(s.protocol, s.address, s.port, s.fwmark);
    return idx !== undefined && e.findRealServer(idx, r.address, r.port) !== undefined;
  };
  let servicesAdded = 0;
  let servicesRemoved = 0;
  let schedulerBytes = 0;
  let freedRecords = 0;
  let removedHeld = 0;
  // Servers this set removes while they hold connections: their records linger (IPVS's trash)
  // and an add of the same server later in the set takes its record back.
  const heldBySet = new Set<string>();
  const needRecords: { op: Extract<ChangeOp, { op: "add-server" }> }[] = [];
  const connsOf = (s: ServiceRef, r: RealServerSpec) => {
    const idx = e.findService(s.protocol, s.address, s.port, s.fwmark);
    const dest = idx === undefined ? undefined : e.findRealServer(idx, r.address, r.port);
    if (dest === undefined) return undefined;
    const info = e.realServer(dest);
    return info.active + info.inactive;
  };
  let n = 0;
  for (const op of set.ops) {
    if (poll && ++n % OPS_PER_POLL === 0) poll();
    switch (op.op) {
      case "add-service": {
        const why = serviceProblem(op.service);
        if (why) { refuse(op.at, why); break; }
        if (serviceThere(op.service)) { refuse(op.at, `service ${serviceRefText(op.service)}: ${TEXT.exists}`); break; }
        services.set(refKey(op.service), { there: true, spec: op.service });
        servicesAdded++;
        schedulerBytes += e.schedulerBytes(op.service.scheduler);
        break;
      }
      case "edit-service": {
        const why = serviceProblem(op.service);
        if (why) { refuse(op.at, why); break; }
        if (!serviceThere(op.service)) { refuse(op.at, `service ${serviceRefText(op.service)}: ${TEXT.notFound}`); break; }
        schedulerBytes += e.schedulerBytes(op.service.scheduler) - e.schedulerBytes(op.was.scheduler);
        break;
      }
      case "delete-service": {
        if (!serviceThere(op.service)) break; // already gone: nothing to do
        for (const r of op.servers) {
          const c = services.has(refKey(op.service)) ? 0 : connsOf(op.service, r);
          if (c === 0) freedRecords++;
          else if (c !== undefined) removedHeld++;
        }
        services.set(refKey(op.service), { there: false });
        servicesRemoved++;
        schedulerBytes -= e.schedulerBytes(op.service.scheduler);
        break;
      }
      case "add-server":
      case "edit-server": {
        if (!serviceThere(op.service)) { refuse(op.at, `service ${serviceRefText(op.service)}: ${TEXT.notFound}`); break; }
        const why = serverProblem(e, op.service, op.server, routing);
        if (why) { refuse(op.at, why); break; }
        const there = serverThere(op.service, op.server);
        if (op.op === "add-server" && there) { refuse(op.at, `real server ${serverKey(op.server)}: ${TEXT.exists}`); break; }
        if (op.op === "edit-server" && !there) { refuse(op.at, `real server ${serverKey(op.server)}: ${TEXT.notFound}`); break; }
        if (op.op === "add-server") {
          servers.set(`${refKey(op.service)} ${serverKey(op.server)}`, true);
          needRecords.push({ op });
        }
        break;
      }
      case "delete-server": {
        if (!serverThere(op.service, op.server)) break;
        const c = connsOf(op.service, op.server);
        if (c === 0) freedRecords++;
        else if (c !== undefined) { removedHeld++; heldBySet.add(`${refKey(op.service)} ${serverKey(op.server)}`); }
        servers.set(`${refKey(op.service)} ${serverKey(op.server)}`, false);
        break;
      }
    }
  }
  if (out.length) return out;
  // Room for what is added (the engine's sizes; records freed by the removals count).
  if (needRecords.length) {
    let free = e.freeRealServerSlots() + freedRecords;
    let needed = needRecords;
    if (needed.length > free) {
      // A server removed earlier with connections, added again, takes its record back.
      const lingering = new Set(e.lingeringRealServers().map((l) => `${l.service} ${l.address}:${l.port}`));
      needed = needed.filter(({ op }) => {
        if (heldBySet.has(`${refKey(op.service)} ${serverKey(op.server)}`)) return false;
        const idx = e.findService(op.service.protocol, op.service.address, op.service.port, op.service.fwmark);
        return idx === undefined || !lingering.has(`${idx} ${serverKey(op.server)}`);
      });
      if (needed.length > free) {
        const held = lingering.size + removedHeld;
        needed = needed.slice(Math.max(0, free));
        const first = needed[0].op;
        refuse(first.at, `the real-server table is full (${e.maxRealServers} real servers${held ? `, ${held} of them removed but still holding connections` : ""}): ` +
          `this change needs ${needed.length} more (first: ${serverKey(first.server)} in ${keyText(first.service)}); nothing was changed`);
      }
      free = 0;
    }
  }
  if (servicesAdded > servicesRemoved) {
    const used = e.serviceCount();
    const room = e.maxServices - used + servicesRemoved;
    if (servicesAdded > room) {
      // Services are added in the set's order: the first that finds no room is named.
      const added = set.ops.filter((o): o is Extract<ChangeOp, { op: "add-service" }> => o.op === "add-service");
      const first = added[Math.max(0, room)];
      refuse(first.at, `service ${keyText(first.service)}: the service table is full (${e.maxServices} services): ` +
        `this change would make ${used - servicesRemoved + servicesAdded}; nothing was changed`);
    }
  }
  // The scheduler arena (sh, dh, mh and maglev tables; assembly/sched/arena.ts): its free bytes
  // count tables of every size, so one more table is asked of the engine exactly, and more than
  // one is held against the free bytes; a set that passes here and still finds no table is
  // undone whole by applyChangeSet.
  const tables = set.ops.filter((o): o is Extract<ChangeOp, { op: "add-service" | "edit-service" }> =>
    (o.op === "add-service" && e.schedulerBytes(o.service.scheduler) > 0) ||
    (o.op === "edit-service" && e.schedulerBytes(o.service.scheduler) > 0 && e.schedulerBytes(o.service.scheduler) !== e.schedulerBytes(o.was.scheduler)));
  if (schedulerBytes > 0 && tables.length > 0) {
    const fits = tables.length === 1 && servicesRemoved === 0 ? e.schedulerCanTake(tables[0].service.scheduler) : schedulerBytes <= e.schedulerMemoryFree();
    if (!fits) refuse(tables[0].at, `service ${serviceRefText(tables[0].service)}: ${e.schedulerFullText(tables[0].service.scheduler)}`);
  }
  return out;
}

/**
 * Apply set to e, whole or not at all: refusalsOf first (nothing changed when it finds
 * any), then the director-wide parts, then the ops in their order. A mutation that still
 * fails is undone, with everything done before it, and said so. poll() runs every
 * OPS_PER_POLL engine operations (the data path's VRRP timers during a long apply).
 * Synchronous: the data path calls it between two batches.
 */
export function applyChangeSet(e: Engine, set: ChangeSet, poll?: () => void): void {
  const refusals = refusalsOf(e, set, poll);
  if (refusals.length) throw new ChangeRefused(refusals);
  poll?.();
  const undo: (() => void)[] = [];
  let n = 0;
  let current: ChangeOp | undefined;
  try {
    if (set.director) applyDirector(e, set.director, set.directorWas ?? {}, undo);
    for (const op of set.ops) {
      current = op;
      if (poll && ++n % OPS_PER_POLL === 0) poll();
      applyOp(e, op, undo);
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    let undone = true;
    for (const f of undo.reverse()) {
      try {
        f();
      } catch {
        undone = false;
      }
    }
    const at = current && "at" in current ? current.at : undefined;
    throw new ChangeRefused([{ at, reason: `${reason} (${undone ? "what the change had done was undone; nothing was changed" : "the change stopped part-way and could not be undone whole"})` }]);
  }
}

function applyOp(e: Engine, op: ChangeOp, undo: (() => void)[]): void {
  const find = (s: ServiceRef) => e.findService(s.protocol, s.address, s.port, s.fwmark);
  switch (op.op) {
    case "add-service": {
      const idx = e.addService(op.service);
      undo.push(() => e.deleteService(idx));
      return;
    }
    case "edit-service": {
      const idx = need(find(op.service), op.service);
      e.editService(idx, op.service.scheduler, op.service.persistence, op.service.schedFlags, op.service.onePacket);
      undo.push(() => e.editService(idx, op.was.scheduler, op.was.persistence, op.was.schedFlags, op.was.onePacket));
      return;
    }
    case "delete-service": {
      const idx = find(op.service);
      if (idx === undefined) return;
      e.deleteService(idx);
      undo.push(() => {
        const back = e.addService(op.service);
        for (const r of op.servers) e.addRealServer(back, r);
      });
      return;
    }
    case "add-server": {
      const idx = need(find(op.service), op.service);
      const d = e.addRealServer(idx, op.server);
      undo.push(() => e.deleteRealServer(d));
      return;
    }
    case "edit-server": {
      const idx = need(find(op.service), op.service);
      const d = e.findRealServer(idx, op.server.address, op.server.port);
      if (d === undefined) throw new EngineError(`real server ${serverKey(op.server)}: ${TEXT.notFound}`, Err.NOT_FOUND);
      e.editRealServer(d, op.server);
      undo.push(() => e.editRealServer(d, op.was));
      return;
    }
    case "delete-server": {
      const idx = find(op.service);
      const d = idx === undefined ? undefined : e.findRealServer(idx, op.server.address, op.server.port);
      if (d === undefined) return;
      e.deleteRealServer(d);
      undo.push(() => { e.addRealServer(idx!, op.server); });
      return;
    }
  }
}

function need(idx: number | undefined, s: ServiceRef): number {
  if (idx === undefined) throw new EngineError(`service ${serviceRefText(s)}: ${TEXT.notFound}`, Err.NOT_FOUND);
  return idx;
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
      e.deleteRoute(r.cidr);
      undo.push(() => e.addRoute(r.cidr, r.via, r.ifindex));
    }
    const before = new Map((was.routes ?? []).map((r) => [r.cidr, r]));
    for (const r of d.routes) {
      const old = before.get(r.cidr);
      if (old && old.via === r.via && old.ifindex === r.ifindex) continue;
      // Re-adding a route replaces it in place.
      e.addRoute(r.cidr, r.via, r.ifindex);
      undo.push(() => (old ? e.addRoute(old.cidr, old.via, old.ifindex) : e.deleteRoute(r.cidr)));
    }
  }
  if (d.neighbours) {
    const before = new Map((was.neighbours ?? []).map((x) => [x.address, x]));
    for (const x of d.neighbours) {
      const old = before.get(x.address);
      if (old && old.mac === x.mac && old.ifindex === x.ifindex) continue;
      e.setNeighbour(x.address, x.mac, x.ifindex);
      if (old) undo.push(() => e.setNeighbour(old.address, old.mac, old.ifindex));
    }
  }
}

/** The schedulers whose names a set may carry (for callers that check input early). */
export const isSchedulerName = (s: string): s is SchedulerName => (SCHEDULERS as string[]).includes(s);
