// What a change changes, as a change set (host/engine/changes.ts): computed from two
// configurations for a reload (keyed maps: linear in the tables, and the set holds only
// what differs), or from the services an ipvsadm command or a health check touched (the
// cost of the touched services only). Checked here against the model before it goes to
// the engine: the routing a real server needs (the file's interfaces and routes, as a
// scratch engine loaded with the file would have them), and room by the engine's sizes.

import type { ChangeOp, ChangeOrigin, ChangeSet, DirectorParts, NeighbourSpec, Refusal, RouteSpec, ServiceRef } from "../engine/changes.js";
import { ip6NotInChangeSet, ip6ServerRefusal, ip6ServiceRefusal } from "../config/features.js";
import { hostPort } from "../config/ipvsadm.js";
import { ip4Of, type IpAddr, parsePrefix, type Prefix, type RealServerSpec, type ServiceSpec } from "../engine/index.js";
import { ConfigError, devIndex, DirectorConfig, fileOf, onLinkIndex, Pos, positionsAside, RealServerConfig, ServiceConfig, syncKeyBytes, vrrpSpecs } from "../config/rules.js";
import { alignedChanges, keyOf, keywordOf, serverKey, serviceIndex, serviceKey } from "../config/model.js";
import { vrrpPart } from "../vrrp/machines.js";

/** A change set and what it changes, in words (the log's and `wasmvs reload`'s): `words` says
 *  each change only when asked; `changes` is all of them. */
export interface Plan {
  set: ChangeSet;
  readonly changes: string[];
  words: Changes;
}

/** Something that lists changes in words: an array of them, or Changes. */
export interface ChangeWords {
  readonly length: number;
  slice(start?: number, end?: number): string[];
}

/**
 * Changes in words, each worded only when asked. A reload from an empty table to 10,000
 * services makes 110,000 changes; their words were 8 MB of strings kept until the reply,
 * while the log line and the reply name only the first ones (control/daemon.ts inBrief,
 * control/server.ts repliedChanges): an op is kept (the change set holds it anyway) and
 * worded by wordOf when its words are read.
 */
export class Changes implements ChangeWords {
  private readonly parts: ({ texts: readonly string[] } | { ops: readonly ChangeOp[]; from: number; to: number })[] = [];
  private count = 0;
  private worded?: string[];

  get length(): number {
    return this.count;
  }

  /** Changes already in words, after those here. */
  texts(list: readonly string[] | ChangeWords): this {
    if (list instanceof Changes) {
      for (const p of list.parts) this.parts.push(p);
      this.count += list.count;
    } else if (list.length) {
      this.parts.push({ texts: list instanceof Array ? list : list.slice() });
      this.count += list.length;
    }
    this.worded = undefined;
    return this;
  }

  /** ops[from, to), worded when read. */
  ops(ops: readonly ChangeOp[], from = 0, to = ops.length): this {
    if (to > from) {
      this.parts.push({ ops, from, to });
      this.count += to - from;
      this.worded = undefined;
    }
    return this;
  }

  /** The words of changes [start, end), as Array.prototype.slice takes them. */
  slice(start = 0, end = this.count): string[] {
    if (this.worded) return this.worded.slice(start, end);
    const norm = (x: number) => (x < 0 ? Math.max(0, this.count + x) : Math.min(x, this.count));
    const a = norm(start);
    const b = norm(end);
    const out: string[] = [];
    let at = 0;
    for (const p of this.parts) {
      if (at >= b) break;
      const n = "texts" in p ? p.texts.length : p.to - p.from;
      if (at + n > a) {
        const lo = Math.max(a - at, 0);
        const hi = Math.min(b - at, n);
        if ("texts" in p) for (let i = lo; i < hi; i++) out.push(p.texts[i]);
        else for (let i = lo; i < hi; i++) out.push(wordOf(p.ops[p.from + i]));
      }
      at += n;
    }
    if (a === 0 && b === this.count) {
      // All of them (a short list's log line, then its reply): worded once.
      this.worded = out;
      return out.slice();
    }
    return out;
  }

  /** Every change in words (made once). */
  all(): string[] {
    if (!this.worded) this.slice(); // words them all, and keeps them
    return this.worded!;
  }

  toJSON(): string[] {
    return this.all();
  }
}

/** What op changes, in words (the words each change had in the log and `wasmvs reload`). */
export function wordOf(op: ChangeOp): string {
  switch (op.op) {
    case "delete-service": return `service ${serviceKey(op.service)} removed`;
    case "delete-server": return `real server ${serverKey(op.server)} removed from ${serviceKey(op.service)}`;
    case "add-service": return `service ${serviceKey(op.service)} added (${op.service.scheduler})`;
    case "edit-service":
      return op.was.scheduler !== op.service.scheduler ? `service ${serviceKey(op.service)} scheduler ${op.was.scheduler} -> ${op.service.scheduler}`
        : `service ${serviceKey(op.service)} ${persistenceText(op.service)}`;
    case "add-server": return `real server ${serverKey(op.server)} added to ${serviceKey(op.service)} (${op.server.method}, weight ${op.server.weight})`;
    case "edit-server": return `real server ${serverKey(op.server)} of ${serviceKey(op.service)} now ${op.server.method}, weight ${op.server.weight}`;
  }
}

function serviceSpec(s: ServiceConfig): ServiceSpec {
  const spec: ServiceSpec = { protocol: s.protocol, address: s.address, vaddr: s.vaddr, port: s.port, scheduler: s.scheduler };
  if (s.fwmark !== undefined) spec.fwmark = s.fwmark;
  if (s.persistence) spec.persistence = { ...s.persistence };
  if (s.schedFlags) spec.schedFlags = s.schedFlags;
  if (s.onePacket) spec.onePacket = true;
  return spec;
}
const serverSpec = (r: RealServerConfig): RealServerSpec => ({
  address: r.address, daddr: r.daddr, port: r.port, method: r.method, weight: r.weight, uthreshold: r.uthreshold ?? 0, lthreshold: r.lthreshold ?? 0,
});
function serviceRef(s: ServiceConfig): ServiceRef {
  const ref: ServiceRef = { protocol: s.protocol, address: s.address, vaddr: s.vaddr, port: s.port };
  if (s.fwmark !== undefined) ref.fwmark = s.fwmark;
  return ref;
}

/** Where x was written, as its refusal names it: its value as written, or its line. */
function originOf(cfg: DirectorConfig, x: { line: number; where?: Pos; file?: string }, what: string): ChangeOrigin {
  return x.where ? { file: x.where.file, line: x.where.line, column: x.where.column, keyword: x.where.text }
    : { file: x.file ?? cfg.file, line: x.line, column: 1, keyword: keywordOf(cfg, what) };
}

/** An added real server's op. Where it was written is worded only when asked (a refusal names
 *  it): an added service's 10 servers made 10 origins that a change that goes through never reads
 *  (100,000 objects of a reload from an empty table). */
class AddServerOp {
  readonly op = "add-server" as const;
  readonly #cfg: DirectorConfig;
  readonly #record: RealServerConfig;
  constructor(readonly service: ServiceRef, readonly server: RealServerSpec, cfg: DirectorConfig, record: RealServerConfig) {
    this.#cfg = cfg;
    this.#record = record;
  }

  get at(): ChangeOrigin {
    return originOf(this.#cfg, this.#record, "-a");
  }
}

const samePersistence = (a: ServiceConfig, b: ServiceConfig) =>
  a.persistence?.timeout === b.persistence?.timeout && (a.persistence?.netmask ?? "") === (b.persistence?.netmask ?? "");
const persistenceText = (s: { persistence?: { timeout: number; netmask: string } }) => (s.persistence ? `persistent ${s.persistence.timeout} mask ${s.persistence.netmask}` : "not persistent");

/** The ops of services that changed: each as it was in the engine (undefined: not there)
 *  and as it is to be. Removals come first (their records are free for the additions). */
export class ServicePlan {
  readonly removals: ChangeOp[] = [];
  readonly serverRemovals: ChangeOp[] = [];
  readonly rest: ChangeOp[] = [];

  constructor(private readonly cfg: DirectorConfig) {}

  /** One service: was (in the engine) and now (to be), either absent. */
  service(was: ServiceConfig | undefined, now: ServiceConfig | undefined): void {
    if (was === now) return; // the same record: unchanged (configurations are not changed in place)
    if (!now) {
      if (!was) return;
      this.removals.push({ op: "delete-service", service: serviceSpec(was), servers: was.realServers.map(serverSpec) });
      return;
    }
    const ref = serviceRef(now);
    if (!was) {
      this.rest.push({ op: "add-service", service: serviceSpec(now), at: originOf(this.cfg, now, "-A") });
    } else if (was.scheduler !== now.scheduler || !samePersistence(was, now) || (was.schedFlags ?? 0) !== (now.schedFlags ?? 0) || !!was.onePacket !== !!now.onePacket) {
      this.rest.push({ op: "edit-service", service: serviceSpec(now), was: serviceSpec(was), at: originOf(this.cfg, now, "-E") });
    }
    if (!was) {
      // A service added: each of its servers is added (no server of the engine's to compare).
      for (const r of now.realServers) this.rest.push(new AddServerOp(ref, serverSpec(r), this.cfg, r));
      return;
    }
    const before = new Map(was.realServers.map((r) => [serverKey(r), r]));
    {
      const after = new Set(now.realServers.map(serverKey));
      for (const r of was.realServers) {
        if (after.has(serverKey(r))) continue;
        this.serverRemovals.push({ op: "delete-server", service: ref, server: serverSpec(r) });
      }
    }
    for (const r of now.realServers) {
      const rk = serverKey(r);
      const old = before.get(rk);
      if (!old) {
        this.rest.push({ op: "add-server", service: ref, server: serverSpec(r), at: originOf(this.cfg, r, "-a") });
      } else if (old.method !== r.method || old.weight !== r.weight || (old.uthreshold ?? 0) !== (r.uthreshold ?? 0) || (old.lthreshold ?? 0) !== (r.lthreshold ?? 0)) {
        this.rest.push({ op: "edit-server", service: ref, server: serverSpec(r), was: serverSpec(old), at: originOf(this.cfg, r, "-e") });
      }
    }
  }

  /** The plan, with the director's parts (between the removals and the rest, as they apply). */
  plan(director?: { parts: Partial<DirectorParts>; was: Partial<DirectorParts>; removedText: string[]; text: string[] }, vrrp?: ChangeSet["vrrp"]): Plan {
    const set: ChangeSet = { ops: this.removals.concat(this.serverRemovals, this.rest), file: this.cfg.file };
    if (director && Object.keys(director.parts).length) {
      set.director = director.parts;
      set.directorWas = director.was;
    }
    if (vrrp) set.vrrp = vrrp;
    const removed = this.removals.length + this.serverRemovals.length;
    const words = new Changes().texts(director?.removedText ?? []).ops(set.ops, 0, removed).texts(director?.text ?? []).ops(set.ops, removed);
    return { set, words, get changes() { return words.all(); } };
  }
}

/** The engine's routes of cfg's route lines (the interface each goes out of). Refused as a
 *  fresh engine's load refuses them: at the route, naming what is wrong. */
function routeSpecs(cfg: DirectorConfig): RouteSpec[] {
  return cfg.routes.map((r) => {
    const at = (reason: string) => (r.where ? new ConfigError(r.where.file, r.where.line, r.where.column, r.where.text, reason) : new ConfigError(fileOf(cfg, r), r.line, 1, "route", reason));
    let dev: number | undefined;
    try {
      dev = r.dev !== undefined ? devIndex(cfg, r.dev, r.line, fileOf(cfg, r)) : onLinkIndex(cfg, r.via!);
    } catch (e) {
      if (e instanceof ConfigError) throw at(e.reason);
      throw e;
    }
    if (dev === undefined) throw at(`gateway ${r.via} is not on any interface's subnet (add 'dev INTERFACE')`);
    return { cidr: r.cidr, net: r.net, ...(r.via !== undefined ? { via: r.via, gateway: r.gateway! } : {}), ifindex: dev };
  });
}

function neighbourSpecs(cfg: DirectorConfig): NeighbourSpec[] {
  return cfg.neighbours.map((n) => {
    const dev = n.dev !== undefined ? devIndex(cfg, n.dev, n.line, fileOf(cfg, n)) : onLinkIndex(cfg, n.address);
    if (dev === undefined) {
      const reason = `${n.address} is not on any interface's subnet (add 'dev INTERFACE')`;
      throw n.where ? new ConfigError(n.where.file, n.where.line, n.where.column, n.where.text, reason) : new ConfigError(fileOf(cfg, n), n.line, 1, "neighbour", reason);
    }
    return { address: n.address, addr: n.addr, mac: n.mac, hw: n.hw, ifindex: dev };
  });
}

/** The director-wide parts of cfg as the engine takes them. */
export function directorParts(cfg: DirectorConfig): DirectorParts {
  const key = syncKeyBytes(cfg);
  return {
    timeouts: cfg.timeouts ? { tcp: cfg.timeouts.tcp, tcpfin: cfg.timeouts.tcpfin, udp: cfg.timeouts.udp } : null,
    rejectUnknown: cfg.rejectUnknown?.on ?? true,
    expireQuiescentTemplate: cfg.expireQuiescentTemplate?.on ?? false,
    expireNodestConn: cfg.expireNodestConn?.on ?? false,
    sloppyTcp: cfg.sloppyTcp?.on ?? false,
    syncTableShare: cfg.syncTableShare?.percent ?? null,
    syncAuthKey: key ?? null,
    marks: (cfg.marks ?? []).map(({ line: _line, ...m }) => m),
    routes: routeSpecs(cfg),
    neighbours: neighbourSpecs(cfg),
  };
}

/** The director-wide parts that differ between prev and next (the timeouts only when next
 *  sets them: a file without --set leaves the engine's, as a fresh load does). */
function directorDifference(prev: DirectorConfig, next: DirectorConfig): { parts: Partial<DirectorParts>; was: Partial<DirectorParts>; removedText: string[]; text: string[] } {
  const a = directorParts(prev);
  const b = directorParts(next);
  const parts: Partial<DirectorParts> = {};
  const was: Partial<DirectorParts> = {};
  const removedText: string[] = [];
  const text: string[] = [];
  for (const k of Object.keys(b) as (keyof DirectorParts)[]) {
    if (k === "timeouts" && b.timeouts === null) continue;
    const same = k === "syncAuthKey" ? (a.syncAuthKey?.join(",") ?? "") === (b.syncAuthKey?.join(",") ?? "") : positionsAside(a[k]) === positionsAside(b[k]);
    if (same) continue;
    (parts as Record<string, unknown>)[k] = b[k];
    (was as Record<string, unknown>)[k] = a[k];
  }
  if (parts.routes) for (const r of a.routes) if (!b.routes.some((x) => x.cidr === r.cidr)) removedText.push(`route ${r.cidr} removed`);
  if (parts.marks) text.push(`mark rules replaced (${b.marks.length})`);
  return { parts, was, removedText, text };
}

/** VRRP's part of next for the engine and its state machines, when it differs from prev's. */
function vrrpDifference(prev: DirectorConfig, next: DirectorConfig): ChangeSet["vrrp"] {
  if (vrrpPart(prev) === vrrpPart(next)) return undefined;
  // The state machines read the instances, groups, static addresses, sync daemon and
  // interfaces; the services stay here.
  return { specs: vrrpSpecs(next), config: { ...next, services: [] } };
}

/** Everything that differs from prev (what the engine holds) to next (what it is to hold). */
export function planDifference(prev: DirectorConfig, next: DirectorConfig): Plan {
  const plan = new ServicePlan(next);
  // The same services in the same order (a reload that adds, removes and moves none): the
  // records that differ, found by pointer compares (a record unchanged is the same record).
  const aligned = alignedChanges(prev.services, next.services);
  if (aligned) for (const [was, now] of aligned) plan.service(was, now);
  else {
    // The lists' indexes by key (kept beside them: built once).
    const before = serviceIndex(prev.services);
    const after = serviceIndex(next.services);
    for (const s of prev.services) if (!after.has(keyOf(s))) plan.service(s, undefined);
    for (const s of next.services) {
      const i = before.get(keyOf(s));
      plan.service(i === undefined ? undefined : prev.services[i], s);
    }
  }
  return plan.plan(directorDifference(prev, next), vrrpDifference(prev, next));
}

/** The director-wide and VRRP parts only (an ipvsadm --set; the services come from ServicePlan). */
export function planDirector(plan: ServicePlan, prev: DirectorConfig, next: DirectorConfig): Plan {
  return plan.plan(prev.timeouts === next.timeouts ? undefined : directorDifference(prev, next), undefined);
}

type Verdict = "on-link" | "routed" | "none";

/** How cfg's interfaces and routes reach an address (longest prefix first; a route line
 *  replaces the connected route of the same prefix), as a fresh engine would. Kept by the route
 *  list, with the interface list and each interface's address it was made from: every command
 *  makes a new configuration object that shares both lists (made again for each, it was ~20 µs
 *  and 2 KB of an -e), and an interface's address is filled from its device after the parse. */
const routingTables = new WeakMap<DirectorConfig["routes"], {
  interfaces: DirectorConfig["interfaces"]; addresses: (string | undefined)[]; table: { net: number; mask: number; prefix: number; onLink: boolean }[];
}>();
function routingOf(cfg: DirectorConfig) {
  const known = routingTables.get(cfg.routes);
  if (known && known.interfaces === cfg.interfaces && known.addresses.length === cfg.interfaces.length) {
    let same = true;
    for (let i = 0; i < known.addresses.length && same; i++) same = known.addresses[i] === cfg.interfaces[i].address;
    if (same) return known.table;
  }
  const host = (x: number) => (((x & 0xff) << 24) | (((x >>> 8) & 0xff) << 16) | (((x >>> 16) & 0xff) << 8) | (x >>> 24)) >>> 0;
  const entry = (p: Prefix, onLink: boolean) => {
    const mask = p.len === 0 ? 0 : (0xffffffff << (32 - p.len)) >>> 0;
    return { net: (host(ip4Of(p.addr)) & mask) >>> 0, mask, prefix: p.len, onLink };
  };
  const byPrefix = new Map<string, ReturnType<typeof entry>>();
  for (const i of cfg.interfaces) if (i.address) { const e = entry(parsePrefix(i.address), true); byPrefix.set(`${e.net}/${e.prefix}`, e); }
  for (const r of cfg.routes) { const e = entry(r.net, r.via === undefined); byPrefix.set(`${e.net}/${e.prefix}`, e); }
  const table = [...byPrefix.values()].sort((x, y) => y.prefix - x.prefix);
  routingTables.set(cfg.routes, { interfaces: cfg.interfaces, addresses: cfg.interfaces.map((i) => i.address), table });
  return table;
}

function verdict(cfg: DirectorConfig, address: IpAddr): Verdict {
  const a = ((x: number) => (((x & 0xff) << 24) | (((x >>> 8) & 0xff) << 16) | (((x >>> 16) & 0xff) << 8) | (x >>> 24)) >>> 0)(ip4Of(address));
  for (const e of routingOf(cfg)) if (((a & e.mask) >>> 0) === e.net) return e.onLink ? "on-link" : "routed";
  return "none";
}

/**
 * What the model refuses of set before it goes to the engine: a real server its method
 * cannot reach by cfg's interfaces and routes (DR needs it on-link, NAT and TUN a route;
 * the words the engine uses), and room by the engine's sizes (the engine checks room again
 * with what only it knows: removed servers that still hold connections).
 */
export function modelRefusals(cfg: DirectorConfig, set: ChangeSet, sizes: { maxServices: number; maxRealServers: number },
  countsNow?: () => { services: number; servers: number }): ConfigError[] {
  const out: ConfigError[] = [];
  const refuse = (at: ChangeOrigin | undefined, reason: string) =>
    out.push(at ? new ConfigError(at.file, at.line, at.column, at.keyword, reason) : new ConfigError(cfg.file, 1, 1, "", reason));
  let addedServices = 0;
  let addedServers = 0;
  for (const op of set.ops) {
    // Until the engine forwards IPv6 (config/features.ts), an IPv6 service or server stops here, at its word.
    if (op.op === "add-service" || op.op === "edit-service") {
      const why = ip6ServiceRefusal(op.service, `service ${op.service.fwmark !== undefined ? `fwmark ${op.service.fwmark} (IPv6)` : hostPort(op.service.address, op.service.port)}`);
      if (why) { refuse(op.at, why); continue; }
    }
    if (op.op === "add-server" || op.op === "edit-server") {
      const why = ip6ServerRefusal(undefined, op.server.daddr, op.server.method, `real server ${hostPort(op.server.address, op.server.port)}`);
      if (why) { refuse(op.at, why); continue; }
    }
    // The change set's packing (host/engine/changes.ts) carries IPv4 words only so far: an
    // IPv6 service is set up when the director starts, and a reload or a command that would
    // add, change or remove one is refused at its word.
    if ((op.op === "add-service" || op.op === "edit-service" || op.op === "delete-service") && typeof op.service.vaddr !== "number" && op.service.fwmark === undefined) {
      refuse("at" in op ? op.at : undefined, ip6NotInChangeSet(`service ${hostPort(op.service.address, op.service.port)}`));
      continue;
    }
    if ((op.op === "add-server" || op.op === "edit-server" || op.op === "delete-server") && typeof op.server.daddr !== "number") {
      refuse("at" in op ? op.at : undefined, ip6NotInChangeSet(`real server ${hostPort(op.server.address, op.server.port)}`));
      continue;
    }
    if (op.op === "add-service") addedServices++;
    if (op.op === "delete-service") addedServices--;
    if (op.op === "delete-service") addedServers -= op.servers.length;
    if (op.op === "delete-server") addedServers--;
    if (op.op !== "add-server" && op.op !== "edit-server") continue;
    if (op.op === "add-server") addedServers++;
    const r = op.server;
    const v = verdict(cfg, r.daddr);
    if (r.method === "dr" && v !== "on-link") refuse(op.at, `real server ${r.address}:${r.port}: real server is not on a directly connected network (direct routing needs one)`);
    else if (r.method !== "dr" && v === "none") refuse(op.at, `real server ${r.address}:${r.port}: no route to the real server`);
  }
  // The counts only when something is added (a walk of the table otherwise not needed).
  if (out.length || !countsNow || (addedServices <= 0 && addedServers <= 0)) return out;
  const counts = countsNow();
  if (addedServices > 0 && counts.services + addedServices > sizes.maxServices) {
    const first = set.ops.filter((o) => o.op === "add-service")[Math.max(0, sizes.maxServices - counts.services)];
    if (first?.op === "add-service") {
      refuse(first.at, `service ${serviceKey(first.service)}: the service table is full (${sizes.maxServices} services): this change would make ${counts.services + addedServices}; nothing was changed`);
    }
  }
  if (addedServers > 0 && counts.servers + addedServers > sizes.maxRealServers) {
    const adds = set.ops.filter((o) => o.op === "add-server");
    const over = counts.servers + addedServers - sizes.maxRealServers;
    const first = adds[adds.length - over];
    if (first?.op === "add-server") {
      refuse(first.at, `the real-server table is full (${sizes.maxRealServers} real servers): this change needs ${over} more (first: ${serverKey(first.server)} in ${serviceKey(first.service)}); nothing was changed`);
    }
  }
  return out;
}

/** Services and real servers of cfg (for modelRefusals' room check). */
export function countsOf(cfg: DirectorConfig): { services: number; servers: number } {
  let servers = 0;
  for (const s of cfg.services) servers += s.realServers.length;
  return { services: cfg.services.length, servers };
}

/** A change set's refusals as one ConfigError (each where its op was written). */
export function refusalError(refusals: Refusal[], file: string): ConfigError {
  return ConfigError.all(refusals.map((r) => (r.at ? new ConfigError(r.at.file, r.at.line, r.at.column, r.at.keyword, r.reason) : new ConfigError(file, 1, 1, "", r.reason))));
}
