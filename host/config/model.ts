// The running configuration and how it changes: ipvsadm commands applied to it, a reload
// merged into it, and a check that the engine holds exactly what it says.
//
// A reload is a three-way merge (base: the file as last loaded; ours: the running
// configuration, which ipvsadm commands and, later, health checks change; theirs: the
// file as it is now). What the file changed wins; what it did not change stays as the
// control plane left it — so a reload never brings back the weight a checker or an
// operator set, nor a server one removed, unless the file itself changed that server.

import { hostPort, IpvsadmError, Parsed, serverRefusal, serviceKey, type ServiceKey } from "./ipvsadm.js";
import { ip6ServerRefusal, ip6ServiceRefusal } from "./features.js";
import type { DirectorConfig, Pos, RealServerConfig, ServiceConfig } from "./director.js";
import type { ServiceInfo } from "../engine/index.js";
import { formatIp, IpAddr, ipToNumber, isLoopback6, isMulticast6, isUnspecified6, numberToIp, parseCidr } from "../engine/addr.js";

export { serviceKey };
/** A real server's key and name in messages: ADDRESS:PORT, an IPv6 address bracketed as ipvsadm writes it. */
export const serverKey = (r: { address: string; port: number }) => hostPort(r.address, r.port);

/** A deep copy (configurations are plain data). */
export function cloneConfig(c: DirectorConfig): DirectorConfig {
  return structuredClone(c);
}

/** ipvsadm semantics on the configuration model; throws IpvsadmError as ipvsadm reports. */
export function applyCommand(cfg: DirectorConfig, p: Parsed): DirectorConfig {
  return applyCommandInPlace(cloneConfig(cfg), p, cfg);
}

/** The same on next itself (a rules file builds its configuration this way, line by line). */
export function applyCommandInPlace(next: DirectorConfig, p: Parsed, cfg: DirectorConfig = next): DirectorConfig {
  const table = new ServiceTable(next, false);
  table.apply(p, cfg);
  table.done();
  return next;
}

/** Each service's key, computed once per record (records are not changed in place; a key
 *  is read several times per service by a reload: the merge, the change set, the indexes). */
const keys = new WeakMap<ServiceConfig, string>();
export function keyOf(s: ServiceConfig): string {
  let k = keys.get(s);
  if (k === undefined) {
    k = serviceKey(s);
    keys.set(s, k);
  }
  return k;
}

/** Where each service of a list is, by key: kept beside the list (built once, then kept up
 *  to date by ServiceTable), so that a command finds its service without a walk. */
const positions = new WeakMap<ServiceConfig[], { pos: Map<string, number>; length: number }>();

/** The index of services: built again when the list changed length behind its back (a
 *  list changed by other code than ServiceTable), and each hit is checked. */
function positionsOf(services: ServiceConfig[]): Map<string, number> {
  const known = positions.get(services);
  if (known && known.length === services.length) return known.pos;
  const pos = new Map(services.map((s, i) => [keyOf(s), i]));
  positions.set(services, { pos, length: services.length });
  return pos;
}

/** The position of the service keyed k in services (indexed: no walk). */
export function servicePosition(services: ServiceConfig[], k: string): number | undefined {
  let i = positionsOf(services).get(k);
  if (i !== undefined && (services[i] === undefined || keyOf(services[i]) !== k)) {
    positions.delete(services);
    i = positionsOf(services).get(k);
  }
  return i;
}

/**
 * The services of a configuration as ipvsadm commands change them, found by key. With
 * copyOnWrite, cfg.services is a fresh array (a shallow copy of the running one) and a
 * service is copied the first time a command changes it, so that the running
 * configuration is never touched and a batch costs what it touches, not the table; the
 * services touched are in touched, with what they were before the batch (undefined: added).
 */
export class ServiceTable {
  /** Key -> the service before the batch (undefined: there was none). */
  readonly touched = new Map<string, ServiceConfig | undefined>();
  /** A service was removed (positions after it moved). */
  removed = false;
  /** A service was added (a new VIP). */
  added = false;
  private pos: Map<string, number>;
  private owned = new Set<ServiceConfig>();
  private readonly source: ServiceConfig[];

  /** from: the list cfg.services was copied from (its index is taken over). */
  constructor(readonly cfg: DirectorConfig, private readonly copyOnWrite: boolean, from?: ServiceConfig[]) {
    this.source = from ?? cfg.services;
    this.pos = positionsOf(this.source);
    // The index moves to the new list (the old one builds another if it is asked again).
    if (this.source !== cfg.services) positions.delete(this.source);
  }

  /** Register the index with the list (call when the batch is over). */
  done(): void {
    positions.set(this.cfg.services, { pos: this.pos, length: this.cfg.services.length });
    // The same services: the same VIPs.
    const vips = vipSets.get(this.source);
    if (vips && !this.added && !this.removed) vipSets.set(this.cfg.services, vips);
  }

  get(k: string): ServiceConfig | undefined {
    const i = this.pos.get(k);
    return i === undefined ? undefined : this.cfg.services[i];
  }

  /** The service keyed k, to be changed (a copy of its own under copy-on-write). */
  private own(k: string): ServiceConfig | undefined {
    const i = this.pos.get(k);
    if (i === undefined) return undefined;
    const s = this.cfg.services[i];
    if (!this.copyOnWrite) return s;
    if (!this.touched.has(k)) this.touched.set(k, s);
    if (this.owned.has(s)) return s;
    const mine: ServiceConfig = { ...s, realServers: s.realServers.slice() };
    this.owned.add(mine);
    this.cfg.services[i] = mine;
    return mine;
  }

  /** The last command's service and its key: an -R or a file names a service on each of its
   *  servers' lines, one after the other (the key is made and hashed once for them). */
  private lastService?: ServiceKey;
  private lastKey = "";

  private keyFor(s: ServiceKey): string {
    const last = this.lastService;
    if (last && last.address === s.address && last.port === s.port && last.protocol === s.protocol && last.fwmark === s.fwmark) return this.lastKey;
    this.lastService = s;
    this.lastKey = serviceKey(s);
    return this.lastKey;
  }

  /** A service parsed before (a rules file's unchanged block, rules.ts), added as it is and not
   *  owned: a later line that changes it changes a copy, so the record stays as it was parsed. */
  adopt(s: ServiceConfig): void {
    const k = keyOf(s);
    if (this.copyOnWrite && !this.touched.has(k)) this.touched.set(k, undefined);
    this.pos.set(k, this.cfg.services.length);
    this.cfg.services.push(s);
    this.added = true;
    vipSets.delete(this.cfg.services);
  }

  /** From now on s is changed only as a copy (a rules file's block, once read, is kept as it was
   *  read for the next parse: rules.ts). */
  disown(s: ServiceConfig): void {
    this.owned.delete(s);
  }

  /** A new service keyed k (its serviceKey), as -A adds it (rules.ts's fast path: no service
   *  has that key). */
  insert(s: ServiceConfig, k: string): void {
    this.add(s, k);
  }

  private add(s: ServiceConfig, k = serviceKey(s)): void {
    keys.set(s, k);
    if (this.copyOnWrite) {
      if (!this.touched.has(k)) this.touched.set(k, undefined);
      this.owned.add(s);
    }
    this.pos.set(k, this.cfg.services.length);
    this.cfg.services.push(s);
    this.added = true;
    vipSets.delete(this.cfg.services);
  }

  private remove(k: string): void {
    const i = this.pos.get(k)!;
    if (!this.touched.has(k)) this.touched.set(k, this.cfg.services[i]);
    this.cfg.services.splice(i, 1);
    vipSets.delete(this.cfg.services);
    this.pos.delete(k);
    for (const [key, at] of this.pos) if (at > i) this.pos.set(key, at - 1);
    this.removed = true;
  }

  private clear(): void {
    for (const s of this.cfg.services) {
      const k = serviceKey(s);
      if (!this.touched.has(k)) this.touched.set(k, s);
    }
    this.cfg.services.length = 0;
    vipSets.delete(this.cfg.services);
    this.pos.clear();
    this.removed = true;
  }

  /** One command (ipvsadm's semantics); throws IpvsadmError as ipvsadm reports.
   *  cfg: the configuration before (--set keeps what it does not give). */
  apply(p: Parsed, before: DirectorConfig = this.cfg): void {
    const next = this.cfg;
    const line = p.line ?? 0;
    const k = p.service ? this.keyFor(p.service) : "";
    switch (p.command) {
      case "add-service": {
        if (this.get(k)) throw IpvsadmError.ipvs("service-exists");
        refuseIp6Service(p.service!);
        this.add({ ...p.service!, scheduler: (p.scheduler ?? "wlc") as ServiceConfig["scheduler"], realServers: [], line,
          ...(p.persistence ? { persistence: p.persistence } : {}), ...(p.schedFlags ? { schedFlags: p.schedFlags } : {}),
          ...(p.onePacket ? { onePacket: true } : {}) });
        break;
      }
      case "edit-service": {
        if (!this.get(k)) throw IpvsadmError.ipvs("no-service");
        refuseIp6Service(p.service!);
        const s = this.own(k)!;
        s.scheduler = (p.scheduler ?? "wlc") as ServiceConfig["scheduler"];
        // -E sets the whole service, as ipvsadm: without -p it is no longer persistent.
        if (p.persistence) s.persistence = p.persistence;
        else delete s.persistence;
        if (p.schedFlags) s.schedFlags = p.schedFlags;
        else delete s.schedFlags;
        if (p.onePacket) s.onePacket = true;
        else delete s.onePacket;
        break;
      }
      case "delete-service": {
        if (!this.get(k)) throw IpvsadmError.ipvs("no-service");
        this.remove(k);
        break;
      }
      case "flush":
        this.clear();
        break;
      case "add-server":
      case "edit-server":
      case "delete-server": {
        const found = this.get(k);
        if (!found) throw IpvsadmError.ipvs("service-undefined");
        const port = p.server!.port ?? found.port;
        const address = p.server!.address;
        const servers = found.realServers;
        let i = 0;
        while (i < servers.length && (servers[i].address !== address || servers[i].port !== port)) i++;
        if (i === servers.length) i = -1;
        if (p.command === "delete-server" && i < 0) throw IpvsadmError.ipvs("no-destination");
        if (p.command === "add-server" && i >= 0) throw IpvsadmError.ipvs("destination-exists");
        if (p.command === "edit-server" && i < 0) throw IpvsadmError.ipvs("no-destination");
        if (p.command !== "delete-server") refuseServer(found, p, !!next.syncDaemon);
        const s = this.own(k)!;
        if (p.command === "delete-server") {
          s.realServers.splice(i, 1);
          break;
        }
        // ipvsadm fills what is not given with its defaults, for -e as for -a.
        const r: RealServerConfig = {
          address: p.server!.address, daddr: p.server!.daddr, port, method: p.method ?? "dr", weight: p.weight ?? 1,
          uthreshold: p.uthreshold ?? 0, lthreshold: p.lthreshold ?? 0, line,
        };
        // An edit changes what ipvsadm says; the server's checkers (keepalived.conf) stay.
        if (i >= 0) s.realServers[i] = s.realServers[i].health ? { ...r, health: s.realServers[i].health } : r;
        else s.realServers.push(r);
        break;
      }
      case "set": {
        const old = before.timeouts;
        const t = p.timeouts!;
        next.timeouts = { tcp: t.tcp || old?.tcp || 0, tcpfin: t.tcpfin || old?.tcpfin || 0, udp: t.udp || old?.udp || 0, line };
        break;
      }
      default:
        throw new IpvsadmError(`'${p.command}' is not a change`, 2);
    }
  }
}

/** IPVS's reason for refusing a mixed-family service while the sync daemon runs (ip_vs_ctl.c). */
export const MIXED_WITH_SYNC = "the synchronization protocol is incompatible with mixed family services (IPVS refuses them while connection sync runs)";

/** An IPv6 service, until the engine forwards IPv6 (features.ts). */
function refuseIp6Service(svc: ServiceConfig | NonNullable<Parsed["service"]>): void {
  const why = ip6ServiceRefusal(svc, `service ${svc.fwmark !== undefined ? `fwmark ${svc.fwmark} (IPv6)` : hostPort(svc.address, svc.port)}`);
  if (why) throw new IpvsadmError(why, 255);
}

/** What IPVS refuses of a real server for its service (serverRefusal), then an IPv6 one until
 *  the engine forwards IPv6; a rules file points at the server's word (code server-refused). */
function refuseServer(svc: ServiceConfig, p: Parsed, syncRunning: boolean): void {
  const server = p.server!;
  const why = serverRefusal(svc.vaddr, server.daddr, p.method ?? "dr", syncRunning) ??
    ip6ServerRefusal(svc.vaddr, server.daddr, p.method ?? "dr", `real server ${hostPort(server.address, server.port ?? svc.port)}`);
  if (why) throw new IpvsadmError(why, 255, false, why, "server-refused");
}

/** Equal apart from line numbers (and nested real servers, compared separately). */
function sameRecord<T extends object>(a: T | undefined, b: T | undefined, skip: string[] = []): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const strip = (x: object) => JSON.stringify(Object.entries(x).filter(([k]) => k !== "line" && k !== "where" && !skip.includes(k)).sort(([x], [y]) => (x < y ? -1 : 1)));
  return strip(a) === strip(b);
}

/** Three-way merge of keyed lists: what theirs changed against base wins, the rest is ours. */
function mergeKeyed<T extends object>(base: T[], ours: T[], theirs: T[], key: (x: T) => string,
  merge: (b: T | undefined, o: T | undefined, t: T) => T | undefined): T[] {
  const b = new Map(base.map((x) => [key(x), x]));
  const o = new Map(ours.map((x) => [key(x), x]));
  const t = new Map(theirs.map((x) => [key(x), x]));
  const out: T[] = [];
  // The file's order first, then what only the control plane added.
  for (const [k, tv] of t) {
    const m = merge(b.get(k), o.get(k), tv);
    if (m) out.push(m);
  }
  for (const [k, ov] of o) if (!t.has(k) && !b.has(k)) out.push(ov);
  return out;
}

/** The fields a real server of a file has besides its position (sameServer compares them
 *  one by one; a server with anything else, its checkers, is compared whole). */
// (A RealServerConfig is RealServerSpec, its position and its checkers: without checkers, the fields compared.)
const plainServer = (r: RealServerConfig) => r.health === undefined;

/** sameRecord for real servers, without serialising the common ones (a reload of 100,000). */
function sameServer(a: RealServerConfig, b: RealServerConfig): boolean {
  if (a === b) return true;
  if (!plainServer(a) || !plainServer(b)) return sameRecord(a, b);
  return a.address === b.address && a.port === b.port && a.method === b.method && a.weight === b.weight &&
    a.uthreshold === b.uthreshold && a.lthreshold === b.lthreshold;
}

function mergeServer(b: RealServerConfig | undefined, o: RealServerConfig | undefined, t: RealServerConfig): RealServerConfig | undefined {
  // Unchanged in the file: as the control plane left it (at its place in the file now).
  if (b && sameServer(b, t)) return o ? { ...o, line: t.line, ...(t.where ? { where: t.where } : {}) } : undefined;
  return t;
}

const samePos = (x: { line: number; where?: Pos }, y: { line: number; where?: Pos }) => x.line === y.line &&
  (x.where === y.where || (!!x.where && !!y.where && x.where.file === y.where.file && x.where.line === y.where.line && x.where.column === y.where.column && x.where.text === y.where.text));

// (A ServiceConfig is ServiceSpec, its servers, its position and its health settings.)
const plainService = (s: ServiceConfig) => s.health === undefined;

/** sameRecord(a, b, ["realServers"]) for services, without serialising the common ones. */
function sameServiceScalars(a: ServiceConfig, b: ServiceConfig): boolean {
  if (a === b) return true;
  if (!plainService(a) || !plainService(b)) return sameRecord(a, b, ["realServers"]);
  return a.protocol === b.protocol && a.address === b.address && a.port === b.port && a.fwmark === b.fwmark && a.scheduler === b.scheduler &&
    a.persistence?.timeout === b.persistence?.timeout && a.persistence?.netmask === b.persistence?.netmask && a.schedFlags === b.schedFlags && a.onePacket === b.onePacket;
}

/** Whether merging b, o, t gives o itself: the file did not touch the service, not even
 *  its positions, and ours is what the merge would make of it (the common case of a reload:
 *  the service is kept as it is, and the change set sees it unchanged without looking in). */
function mergeKeepsOurs(b: ServiceConfig, o: ServiceConfig, t: ServiceConfig): boolean {
  const n = t.realServers.length;
  // The file's record unchanged (the same record: the parser kept it) needs no look inside.
  if (b !== t) {
    if (!samePos(b, t) || !samePos(o, t) || !sameServiceScalars(b, t) || b.realServers.length !== n) return false;
    for (let i = 0; i < n; i++) {
      const x = b.realServers[i];
      const y = t.realServers[i];
      if (x.address !== y.address || x.port !== y.port || !samePos(x, y) || !sameServer(x, y)) return false;
    }
  } else if (!samePos(o, t)) return false;
  // Ours as the merge orders it: the file's servers it has, in the file's order and at the
  // file's positions, then those only the control plane added. Commonly all of them, in order.
  if (o.realServers.length === n) {
    let i = 0;
    for (; i < n; i++) {
      const x = o.realServers[i];
      const y = t.realServers[i];
      if (x.address !== y.address || x.port !== y.port || !samePos(x, y)) break;
    }
    if (i === n) return true;
  }
  const mine = new Map(o.realServers.map((r, i) => [serverKey(r), i]));
  let at = 0;
  for (const y of t.realServers) {
    const i = mine.get(serverKey(y));
    if (i === undefined) continue;
    if (i !== at || !samePos(o.realServers[i], y)) return false;
    at++;
  }
  const inFile = new Set(t.realServers.map(serverKey));
  for (; at < o.realServers.length; at++) if (inFile.has(serverKey(o.realServers[at]))) return false;
  return true;
}

/** Records of the running configuration that a merge kept as they were against a file's record
 *  (mergeKeepsOurs held): merged against the same file record again (the file did not change
 *  it: the parser gave the same record), the merge keeps them again, with no look inside. */
const keptAgainst = new WeakMap<ServiceConfig, ServiceConfig>();

/** Whether no two of servers have one key (serverKey), compared field by field for a short list. */
function distinctServers(servers: RealServerConfig[]): boolean {
  const n = servers.length;
  if (n > 16) return false;
  for (let i = 1; i < n; i++) {
    const x = servers[i];
    for (let j = 0; j < i; j++) if (servers[j].port === x.port && servers[j].address === x.address) return false;
  }
  return true;
}

function mergeService(b: ServiceConfig | undefined, o: ServiceConfig | undefined, t: ServiceConfig): ServiceConfig | undefined {
  // New in the file and not running (every service of a reload from an empty table): the merge
  // below makes a copy of t of the same value where no two of its servers have one key (its
  // servers merged by key keep the first's place and the last's record); t itself, as
  // configurations are not changed in place (a command copies what it changes).
  if (!b && !o && distinctServers(t.realServers)) return t;
  if (b === t) {
    // Not in the file's change: as the control plane left it (removed, or kept as it is).
    if (!o) return undefined;
    if (o === t || keptAgainst.get(o) === t) return o;
  }
  if (b && o && mergeKeepsOurs(b, o, t)) {
    keptAgainst.set(o, t);
    return o;
  }
  const sameScalars = b !== undefined && sameServiceScalars(b, t);
  if (b && !o && sameScalars && mergeKeyed(b.realServers, [], t.realServers, serverKey, mergeServer).length === 0) {
    return undefined; // removed by the control plane, unchanged in the file
  }
  const scalars = b && o && sameScalars ? o : t;
  return { ...scalars, line: t.line, ...(t.where ? { where: t.where } : {}), realServers: mergeKeyed(b?.realServers ?? [], o?.realServers ?? [], t.realServers, serverKey, mergeServer) };
}

/** The running configuration after a reload from newFile (oldFile: the file as last loaded). */
export function mergeReload(running: DirectorConfig, oldFile: DirectorConfig, newFile: DirectorConfig): DirectorConfig {
  // No copies: a configuration is not changed in place once made (commands copy what they
  // touch: ServiceTable), so the merge shares the records it keeps. The services are found
  // by the lists' indexes (kept beside them: the parse and the commands made them).
  // Commonly the three lists hold the same services in the same order: a service is looked up
  // by key (the lists' indexes) only where they do not.
  const out: DirectorConfig = { ...newFile };
  const merged: ServiceConfig[] = [];
  const pos = new Map<string, number>();
  /** The service keyed k of list, looked for at i first. */
  const find = (list: ServiceConfig[], i: number, k: string, t: ServiceConfig) => {
    const x = list[i];
    if (x === t || (x !== undefined && keyOf(x) === k)) return x;
    const at = servicePosition(list, k);
    return at === undefined ? undefined : list[at];
  };
  // The file's order first, then what only the control plane added.
  const theirs = newFile.services;
  const ours = running.services;
  const base = oldFile.services;
  let found = 0;
  /** Every service so far is the file's, at the file's position (merged[i] has theirs[i]'s key). */
  let aligned = true;
  for (let i = 0; i < theirs.length; i++) {
    const tv = theirs[i];
    // The same record in all three (the file did not change it and nor did a command): kept,
    // found by two pointer compares (mergeService's first case), no key made or looked up.
    if (ours[i] === tv && base[i] === tv) {
      found++;
      if (aligned) merged.push(tv);
      else { pos.set(keyOf(tv), merged.length); merged.push(tv); }
      continue;
    }
    const k = keyOf(tv);
    const ov = find(ours, i, k, tv);
    if (ov) found++;
    const m = mergeService(find(base, i, k, tv), ov, tv);
    if (aligned && (!m || merged.length !== i)) {
      // Off the file's positions from here: the keys before go into the merged list's own index.
      aligned = false;
      for (let j = 0; j < merged.length; j++) pos.set(keyOf(merged[j]), j);
    }
    if (m) { if (!aligned) pos.set(k, merged.length); merged.push(m); }
  }
  // (Keys are unique in a list: the parsers and ipvsadm refuse a second service of a key.)
  if (found < ours.length) {
    const b = positionsOf(base);
    const t = positionsOf(theirs);
    for (const ov of ours) {
      const k = keyOf(ov);
      if (!t.has(k) && !b.has(k)) {
        if (aligned) {
          aligned = false;
          for (let j = 0; j < merged.length; j++) pos.set(keyOf(merged[j]), j);
        }
        pos.set(k, merged.length);
        merged.push(ov);
      }
    }
  }
  if (aligned) {
    // The merged list holds the file's keys at the file's positions: the file's index is its
    // index (moved, as ServiceTable moves one: the file's list builds another if asked again).
    positions.set(merged, { pos: positionsOf(theirs), length: merged.length });
    positions.delete(theirs);
  } else positions.set(merged, { pos, length: merged.length });
  out.services = merged;
  if (sameRecord(oldFile.timeouts, newFile.timeouts)) out.timeouts = running.timeouts;
  return out;
}

/** The services of after at the positions of before where the two lists hold the same keys in
 *  the same order (the common case of a reload: a walk of pointer compares), as pairs (was,
 *  now) of the records that differ; undefined where they do not (a service added, removed or
 *  moved). */
export function alignedChanges(before: ServiceConfig[], after: ServiceConfig[]): [was: ServiceConfig, now: ServiceConfig, at: number][] | undefined {
  if (before.length !== after.length) return undefined;
  const pairs: [ServiceConfig, ServiceConfig, number][] = [];
  for (let i = 0; i < after.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a === b) continue;
    if (keyOf(a) !== keyOf(b)) return undefined;
    pairs.push([a, b, i]);
  }
  return pairs;
}

/** What differs between two lists of services by record: the keys of the services added,
 *  removed or changed (another record of the same key), and whether the services in both
 *  kept their order. */
export function serviceChanges(before: ServiceConfig[], after: ServiceConfig[]): { keys: string[]; inOrder: boolean } {
  const aligned = alignedChanges(before, after);
  if (aligned) return { keys: aligned.map(([, now]) => keyOf(now)), inOrder: true };
  const keys: string[] = [];
  const was = positionsOf(before);
  const now = positionsOf(after);
  for (const a of before) if (!now.has(keyOf(a))) keys.push(keyOf(a));
  let last = -1;
  let inOrder = true;
  for (const b of after) {
    const k = keyOf(b);
    const i = was.get(k);
    if (i === undefined) { keys.push(k); continue; }
    if (i < last) inOrder = false;
    last = i;
    if (before[i] !== b) keys.push(k);
  }
  return { keys, inOrder };
}

/** The index of a list of services by key (built once, kept beside the list). */
export function serviceIndex(services: ServiceConfig[]): ReadonlyMap<string, number> {
  return positionsOf(services);
}

/** Where the engine and the configuration disagree (empty when they agree). */
export function mismatches(cfg: DirectorConfig, snap: { services: readonly ServiceInfo[] }): string[] {
  const out: string[] = [];
  const live = new Map(snap.services.map((s) => [serviceKey(s), s]));
  for (const s of cfg.services) {
    const l = live.get(serviceKey(s));
    if (!l) { out.push(`service ${serviceKey(s)} is configured but not in the engine`); continue; }
    live.delete(serviceKey(s));
    if (l.scheduler !== s.scheduler) out.push(`service ${serviceKey(s)}: scheduler ${l.scheduler} in the engine, ${s.scheduler} configured`);
    if (!!l.onePacket !== !!s.onePacket) out.push(`service ${serviceKey(s)}: one-packet scheduling ${l.onePacket ? "on" : "off"} in the engine, ${s.onePacket ? "on" : "off"} configured`);
    if ((l.schedFlags ?? 0) !== (s.schedFlags ?? 0)) out.push(`service ${serviceKey(s)}: scheduler flags ${l.schedFlags ?? 0} in the engine, ${s.schedFlags ?? 0} configured`);
    const servers = new Map(l.realServers.map((r) => [serverKey(r), r]));
    for (const r of s.realServers) {
      const e = servers.get(serverKey(r));
      if (!e) { out.push(`real server ${serverKey(r)} of ${serviceKey(s)} is configured but not in the engine`); continue; }
      servers.delete(serverKey(r));
      for (const f of ["method", "weight", "uthreshold", "lthreshold"] as const) {
        if ((e[f] ?? 0) !== (r[f] ?? 0)) out.push(`real server ${serverKey(r)} of ${serviceKey(s)}: ${f} ${e[f]} in the engine, ${r[f]} configured`);
      }
    }
    for (const k of servers.keys()) out.push(`real server ${k} of ${serviceKey(s)} is in the engine but not configured`);
  }
  for (const k of live.keys()) out.push(`service ${k} is in the engine but not configured`);
  return out;
}

/** keepalived.conf's keyword for an ipvsadm command or a director setting. */
const KEEPALIVED_WORDS: Record<string, string> = {
  "-A": "virtual_server", "-a": "real_server", "-E": "lb_algo", "-e": "real_server", "--set": "lvs_timeouts",
};

/** The word the file's own syntax uses for what (an ipvsadm command, or a director setting
 *  named alike in both), for error messages. */
export function keywordOf(cfg: DirectorConfig, what: string): string {
  return (cfg.format === "keepalived" && KEEPALIVED_WORDS[what]) || what;
}

/** A problem checkModel found: where and why. */
export interface ModelProblem {
  /** When not the configuration's own file (a --director file's line). */
  file?: string;
  line: number;
  keyword: string;
  reason: string;
  /** The value at fault as written, when known (else the line, at column 1). */
  where?: Pos;
}

/** The VIPs of a list of services (kept beside it: a command that adds or removes no
 *  service keeps them, ServiceTable.done). */
const vipSets = new WeakMap<ServiceConfig[], Set<string>>();

const isMulticastMac = (mac: string) => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

/** Why addr cannot be a VIP or a real server, or undefined. IPVS refuses a real server
 *  that is not unicast (ip_vs_new_dest: inet_addr_type must be RTN_UNICAST or RTN_LOCAL;
 *  0.0.0.0, 255.255.255.255 and a subnet's broadcast address are RTN_BROADCAST, class D
 *  RTN_MULTICAST); it checks no VIP, but such a VIP can never take a connection: Linux
 *  answers no ARP for it, drops packets to 127/8 from the wire as martians, and
 *  224.0.0.18 is VRRP's own group. Subnets of /31 and /32 have no network or broadcast
 *  address (RFC 3021). */
function notUnicast(addr: string, parsed: IpAddr, subnets: { net: number; mask: number; prefix: number; text: string; name: string }[]): string | undefined {
  if (addr === "0.0.0.0" || addr === "255.255.255.255") return `${addr} is ${addr === "0.0.0.0" ? "the unspecified address" : "the limited broadcast address"}`;
  if (typeof parsed !== "number") {
    // IPv6 (RFC 4291 2.4): no broadcast; the unspecified address, multicast and loopback are not a host's.
    const a = parsed;
    if (isUnspecified6(a)) return `${addr} is the unspecified address`;
    if (isMulticast6(a)) return `${addr} is a multicast address (ff00::/8)`;
    if (isLoopback6(a)) return `${addr} is the loopback address (::1), which Linux never accepts from the wire`;
    return undefined;
  }
  // The value parsed where it was read (wire order) in host order, as ipToNumber(addr) gives it.
  const w = parsed >>> 0;
  const n = (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) | (w >>> 24)) >>> 0;
  if (n >>> 28 === 0xe) return `${addr} is a multicast address (224.0.0.0/4)${addr === "224.0.0.18" ? ", VRRP's group" : ""}`;
  if (n >>> 24 === 127) return `${addr} is a loopback address (127.0.0.0/8), which Linux never accepts from the wire`;
  for (const sn of subnets) {
    if (sn.prefix >= 31 || ((n & sn.mask) >>> 0) !== sn.net) continue;
    if (n === sn.net) return `${addr} is the network address of ${sn.text} (interface ${sn.name})`;
    if (n === ((sn.net | ~sn.mask) >>> 0)) return `${addr} is the broadcast address of ${sn.text} (interface ${sn.name})`;
  }
  return undefined;
}

/** IPVS's ip_vs_add_dest and ip_vs_edit_dest refuse l_threshold > u_threshold (ERANGE),
 *  also when no upper threshold is set. In the input's own words. */
function thresholdProblem(cfg: DirectorConfig, r: { uthreshold?: number; lthreshold?: number }): string | undefined {
  const u = r.uthreshold ?? 0;
  const l = r.lthreshold ?? 0;
  if (l <= u) return undefined;
  const [lw, uw] = cfg.format === "keepalived" ? ["lthreshold", "uthreshold"] : ["lower threshold (-y)", "upper threshold (-x)"];
  return `${lw} ${l} is higher than ${uw} ${u}` +
    (u === 0 ? ` (none set): without an upper threshold the lower one must be 0` : "") +
    `; IPVS refuses it ("lower threshold is higher than upper threshold")`;
}

/** What checkModel reads of a configuration besides its services: the same for all of them.
 *  key: all of it in a few words (a service checked under the same key gives the same). */
interface ModelContext {
  key: string;
  cfg: DirectorConfig;
  words: { svc: string; rs: string };
  own: Map<string, string>;
  subnets: { net: number; mask: number; prefix: number; text: string; name: string }[];
}

/** The context of the last check (the same object while its key is the same: a service's
 *  problems kept are found valid by a pointer compare). */
let lastContext: ModelContext | undefined;

function contextOf(cfg: DirectorConfig): ModelContext {
  const addressed = cfg.interfaces.filter((i) => i.address);
  const own = new Map(addressed.map((i) => [i.address!.split("/")[0], i.name]));
  // An interface's IPv6 address is the director's own too (as RFC 5952 writes it: one text per address).
  for (const i of cfg.interfaces) if (i.net6) own.set(formatIp(i.net6.addr), i.name);
  const subnets = addressed.map((i) => {
    const { address, prefixLen } = parseCidr(i.address!);
    const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
    const net = (ipToNumber(address) & mask) >>> 0;
    return { net, mask, prefix: prefixLen, text: `${numberToIp(net)}/${prefixLen}`, name: i.name };
  });
  const key = `${cfg.format ?? ""}${cfg.syncDaemon ? " sync" : ""}\n${addressed.map((i) => `${i.name} ${i.address}`).join("\n")}` +
    cfg.interfaces.map((i) => (i.address6 ? `\n${i.name} ${i.address6}` : "")).join("");
  if (lastContext?.key === key) return lastContext;
  lastContext = { key, cfg, words: { svc: keywordOf(cfg, "-A"), rs: keywordOf(cfg, "-a") }, own, subnets };
  return lastContext;
}

/** One service's problems; isVip: whether an address is a VIP of the director (another
 *  service's, or its own). */
function serviceProblems(s: ServiceConfig, c: ModelContext, isVip: (address: string) => boolean): ModelProblem[] {
  const out: ModelProblem[] = [];
  const { words, own, subnets } = c;
  let vipWhy: string | undefined;
  if (s.fwmark !== undefined) { /* matched by its mark: no address of its own */ }
  else if (s.address === "0.0.0.0" || s.address === "255.255.255.255") out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `a virtual address cannot be ${s.address}` });
  else if ((vipWhy = notUnicast(s.address, s.vaddr, subnets))) out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `${vipWhy}: a virtual address must be a unicast address` });
  else if (own.has(s.address)) out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `${s.address} is the director's own address (interface ${own.get(s.address)}): a VIP must be an address of its own` });
  const server = (address: string, parsed: IpAddr, line: number, keyword: string, where: Pos | undefined) => {
    let cast: string | undefined;
    const why = address === "0.0.0.0" || address === "255.255.255.255" ? `a real server cannot be ${address}`
      : (cast = notUnicast(address, parsed, subnets)) ? `real server ${address}: ${cast}: a real server must be a unicast address (IPVS: "address not unicast")`
      : isVip(address) ? `real server ${address} is a virtual address of this director`
        : own.has(address) ? `real server ${address} is the director's own address (interface ${own.get(address)})` : undefined;
    if (why) out.push({ line, keyword, where, reason: why });
  };
  for (const r of s.realServers) server(r.address, r.daddr, r.line, words.rs, r.where);
  // IPVS: no mixed-family service while connection sync runs (lvs_sync_daemon here; ipvsadm's
  // commands are refused as they come, ServiceTable.apply).
  if (c.cfg.syncDaemon) {
    for (const r of s.realServers) {
      if ((typeof r.daddr !== "number") !== (typeof s.vaddr !== "number")) {
        out.push({ line: r.line, keyword: words.rs, where: r.where, reason: `real server ${r.address}: ${MIXED_WITH_SYNC}` });
      }
    }
  }
  // The sorry server stands in for the real servers: the same rules apply to it.
  const sorry = s.health?.sorry;
  if (sorry) server(sorry.address, sorry.daddr, sorry.line, "sorry_server", sorry.where);
  for (const r of s.realServers) {
    const why = thresholdProblem(c.cfg, r);
    if (why) out.push({ line: r.line, keyword: words.rs, where: r.where, reason: `real server ${r.address}:${r.port}: ${why}` });
  }
  return out;
}

const NO_PROBLEMS: readonly ModelProblem[] = Object.freeze([]);

/** Each service's own problems (all but a real server that is some service's VIP), by record:
 *  a record is not changed in place once checked (a configuration is not changed in place
 *  once made; the rules parser builds its records in place before they are checked), so a
 *  configuration that shares most services with one checked before (a reload: the parsers
 *  keep the records of what did not change) checks only the others. Kept while the context is
 *  the same. (Found without reading the record: at 10,000 services, reading a field of each
 *  is milliseconds of cache misses.) */
const ownProblems = new WeakMap<ServiceConfig, { context: ModelContext; problems: readonly ModelProblem[] }>();

function ownProblemsOf(s: ServiceConfig, c: ModelContext): readonly ModelProblem[] {
  const known = ownProblems.get(s);
  if (known?.context === c) return known.problems;
  const found = serviceProblems(s, c, () => false);
  const problems = found.length ? found : NO_PROBLEMS;
  ownProblems.set(s, { context: c, problems });
  return problems;
}

/**
 * The addresses of a list of services, counted: VIPs (of services not matched by mark) and
 * real servers (the sorry servers with them), and the addresses that are both (a real server
 * that is a VIP: checkModel's one check across services). Kept for the list checked last and
 * carried to the next by the records that differ (a reload's: what changed), so that the check
 * across services costs the change, not the table.
 */
class AddressIndex {
  private listed: ServiceConfig[] = [];
  readonly vips = new Map<string, number>();
  private readonly servers = new Map<string, number>();
  /** Addresses that are a VIP and some service's real server. */
  readonly both = new Set<string>();

  /** The index of services (what differs from the list indexed last is counted in or out). */
  follow(services: ServiceConfig[]): this {
    const before = this.listed;
    if (before.length === 0) {
      // Nothing counted (a start): every service once, without the differences' map.
      this.rebuild(services);
      this.listed = services.slice();
      return this;
    }
    const net = new Map<ServiceConfig, number>();
    const n = Math.max(before.length, services.length);
    for (let i = 0; i < n; i++) {
      const a = before[i];
      const b = services[i];
      if (a === b) continue;
      if (a) net.set(a, (net.get(a) ?? 0) - 1);
      if (b) net.set(b, (net.get(b) ?? 0) + 1);
    }
    let sound = true;
    for (const [s, times] of net) if (times && !this.count(s, times)) sound = false;
    if (!sound) this.rebuild(services); // a record changed in place after it was counted
    this.listed = services.slice();
    return this;
  }

  private rebuild(services: ServiceConfig[]): void {
    this.vips.clear();
    this.servers.clear();
    this.both.clear();
    for (const s of services) this.count(s, 1);
  }

  /** s counted times more (or fewer); false where a count would go below 0. */
  private count(s: ServiceConfig, times: number): boolean {
    let sound = true;
    const { vips, servers, both } = this;
    const bump = (m: Map<string, number>, address: string) => {
      const n = (m.get(address) ?? 0) + times;
      if (n > 0) m.set(address, n);
      else {
        if (n < 0) sound = false;
        m.delete(address);
      }
    };
    const relate = (address: string) => {
      if (vips.has(address) && servers.has(address)) both.add(address);
      else both.delete(address);
    };
    if (s.fwmark === undefined) {
      bump(vips, s.address);
      relate(s.address);
    }
    for (const r of s.realServers) {
      bump(servers, r.address);
      if (vips.has(r.address)) relate(r.address);
    }
    const sorry = s.health?.sorry;
    if (sorry) {
      bump(servers, sorry.address);
      if (vips.has(sorry.address)) relate(sorry.address);
    }
    return sound;
  }
}

const addressIndex = new AddressIndex();

/** Whether one of s's real servers (or its sorry server) has an address of addresses. */
function serves(s: ServiceConfig, addresses: Set<string>): boolean {
  for (const r of s.realServers) if (addresses.has(r.address)) return true;
  return s.health?.sorry !== undefined && addresses.has(s.health.sorry.address);
}

/**
 * What no input may set up, whichever syntax it came in (checked once, here): a VIP or a
 * real server that is not a unicast address (0.0.0.0, 255.255.255.255, multicast,
 * loopback, a director subnet's network or broadcast address); a VIP that is the
 * director's own address; a real server that is a VIP or the director's own address; a
 * lower threshold above the upper; a broadcast or multicast MAC.
 *
 * Its cost follows what changed since the last check: a service's own problems are kept by
 * record (ownProblems), and a real server that is a VIP is found by the addresses' counts
 * (AddressIndex); only a service with a real server at such an address is checked whole again.
 */
export function checkModel(cfg: DirectorConfig, only?: Iterable<string>): ModelProblem[] {
  const out: ModelProblem[] = [];
  const c = contextOf(cfg);
  if (only) {
    // The services given (those a command touched: the rest was checked when it was made,
    // and the interfaces and neighbours do not change by command).
    // The VIPs: kept beside the list (a command that adds or removes no service keeps them),
    // or the counted addresses carried to this list (the first command after a reload: its
    // list shares most records with the one checked last, so no walk of the table).
    let vips = vipSets.get(cfg.services);
    if (!vips) {
      vips = new Set(addressIndex.follow(cfg.services).vips.keys());
      vipSets.set(cfg.services, vips);
    }
    const services = [...only].map((k) => servicePosition(cfg.services, k)).filter((i) => i !== undefined).map((i) => cfg.services[i!]);
    for (const s of services) out.push(...serviceProblems(s, c, (a) => vips.has(a)));
    return out;
  }
  for (const i of cfg.interfaces) {
    if (isMulticastMac(i.mac)) out.push({ file: i.file, line: i.line, keyword: i.mac, where: i.macWhere, reason: `interface ${i.name}: ${i.mac} is a ${i.mac === "ff:ff:ff:ff:ff:ff" ? "broadcast" : "multicast"} MAC address, not one an interface can have` });
  }
  for (const n of cfg.neighbours) {
    if (isMulticastMac(n.mac)) out.push({ file: n.file, line: n.line, keyword: n.mac, where: n.macWhere, reason: `neighbour ${n.address}: ${n.mac} is a broadcast or multicast MAC address` });
  }
  const index = addressIndex.follow(cfg.services);
  const isVip = (a: string) => index.vips.has(a);
  for (const s of cfg.services) {
    if (index.both.size && serves(s, index.both)) out.push(...serviceProblems(s, c, isVip));
    else {
      const own = ownProblemsOf(s, c);
      if (own.length) out.push(...own);
    }
  }
  return out;
}
