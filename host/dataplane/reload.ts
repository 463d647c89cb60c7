// Applying a changed configuration to a running engine: the difference only.
// Unchanged services and real servers are not touched and keep their connections;
// weights, thresholds and methods change in place; removed real servers go the way
// IPVS's do (their connections' packets are dropped until they expire, or resume if
// the server comes back). The new configuration is first applied in full to a scratch
// engine: if anything in it is refused, nothing changes in the running one.

import { DEFAULT_CONN_CAPACITY, DEFAULT_MAGLEV_SERVICES, DEFAULT_MH_TABLE_SIZE, Engine, EngineError } from "../engine/index.js";
import { loadEngine } from "../engine/node.js";
import { applyConfig, ConfigError, configSlotSize, devIndex, DirectorConfig, engineErrors, fileOf, InterfaceConfig, onLinkIndex, positionsAside, samePositionsAside, schedulerSizing, ServiceConfig, syncKeyBytes } from "../config/rules.js";
import { keywordOf, serverKey, serviceKey } from "../config/model.js";

const key = serviceKey;
const rkey = serverKey;

export interface ReloadResult {
  changes: string[];
}


/** What a reload cannot change in a running director, refused at the keyword that changed. */
function sameInterfaces(a: DirectorConfig, b: DirectorConfig): ConfigError | undefined {
  const refuse = (line: number | undefined, keyword: string, why: string) => new ConfigError(b.file, line ?? 1, 1, keyword, why);
  const n = Math.max(a.interfaces.length, b.interfaces.length);
  for (let k = 0; k < n; k++) {
    if (samePositionsAside(a.interfaces[k], b.interfaces[k])) continue;
    const at = b.interfaces[k] ?? b.interfaces[b.interfaces.length - 1];
    const why = deviceChanged(a.interfaces[k], b.interfaces[k]) ??
      `interface ${a.interfaces[k]?.name ?? b.interfaces[k]?.name} changed, was added or removed: restart wasmvs to change interfaces`;
    // At the interface's name where it was read (its file: a --director file's).
    if (at?.where) return new ConfigError(at.where.file, at.where.line, at.where.column, at.where.text, why);
    return refuse(at?.line, keywordOf(b, "interface"), why);
  }
  if ((a.connections ?? DEFAULT_CONN_CAPACITY) !== (b.connections ?? DEFAULT_CONN_CAPACITY)) return refuse(1, "connections", "the connection table size changed: restart wasmvs to resize it");
  if ((a.mhTableSize ?? DEFAULT_MH_TABLE_SIZE) !== (b.mhTableSize ?? DEFAULT_MH_TABLE_SIZE)) return refuse(1, "mh_table_size", "mh_table_size changed: restart wasmvs to change it");
  if (a.maglevServices !== b.maglevServices) return refuse(1, "maglev_services", "maglev_services changed: restart wasmvs to change it");
  if (a.maglevTableSize !== b.maglevTableSize) return refuse(1, "maglev_table_size", "maglev_table_size changed: restart wasmvs to change it");
  // VRRP, lvs_sync_daemon and the notify FIFOs reload in place (host/vrrp/machines.ts reconfigure).
  return undefined;
}

/** The same file, but the device under an interface changed since it was read (a new address,
 *  MTU or queue count; resolveDevices reads it at each reload): said so, not "changed". */
function deviceChanged(was: InterfaceConfig | undefined, now: InterfaceConfig | undefined): string | undefined {
  if (!was || !now || was.device === undefined || was.device !== now.device) return undefined;
  // What the file said, the device's values aside.
  const written = (i: InterfaceConfig) => positionsAside({ ...i, mac: i.fromDevice?.mac ? "" : i.mac, address: i.fromDevice?.address ? "" : i.address,
    mtu: i.fromDevice?.mtu ? 0 : i.mtu, rxQueues: 0 });
  if (written(was) !== written(now)) return undefined;
  const moved = ([["mac", was.mac, now.mac], ["address", was.address, now.address], ["mtu", was.mtu, now.mtu], ["receive queue count", was.rxQueues, now.rxQueues]] as const)
    .filter(([, x, y]) => x !== y).map(([what, x, y]) => `${what} is now ${y ?? "none"} (was ${x ?? "none"})`);
  return `device ${now.device} of interface ${now.name} changed since wasmvs read it: its ${moved.join(", ")}: restart wasmvs to take it`;
}

/** Check next in full on a scratch engine of live's sizes: everything the engine
 *  refuses (a DR server not on-link, no route, too many services) is refused here,
 *  before the running engine is touched. */
export async function validateOnScratch(sizes: { slotSize: number; maxServices: number; maxRealServers: number }, prev: DirectorConfig,
  next: DirectorConfig): Promise<void> {
  const errors = await scratchErrors(sizes, prev, next);
  if (errors.length) throw ConfigError.all(errors);
}

/** Every reason validateOnScratch has to refuse next, all of them. partial: next is what a
 *  file with errors gave (load.ts): only the engine's checks run on it, as `wasmvs check`
 *  runs them (what needs a restart is compared once the file reads whole: a part refused
 *  would look removed), and with routingUnsure its routing verdicts are left out. */
export async function scratchErrors(sizes: { slotSize: number; maxServices: number; maxRealServers: number }, prev: DirectorConfig,
  next: DirectorConfig, partial?: { routingUnsure: boolean }): Promise<ConfigError[]> {
  const out: ConfigError[] = [];
  const refused = partial ? undefined : sameInterfaces(prev, next);
  if (refused) out.push(refused);
  // The metrics and dashboard endpoints are opened once, at start.
  const endpoint = (e?: { host: string; port: number }) => (e ? `${e.host}:${e.port}` : "off");
  for (const k of ["metrics", "dashboard"] as const) {
    if (partial) break;
    if (endpoint(prev[k]) !== endpoint(next[k])) {
      out.push(new ConfigError(next[k] ? fileOf(next, next[k]!) : next.file, next[k]?.line ?? 1, 1, k, `${k} ${endpoint(prev[k])} changed to ${endpoint(next[k])}: restart wasmvs to move, start or stop it`));
    }
  }
  // Room for all of next: which services and servers need a new record in live's tables,
  // and which of them does not fit, only checkCapacity can tell (live holds removed servers
  // that still have connections; a scratch engine of live's size would fail on whichever
  // comes last in the file, not on the one added). The same number of maglev tables as the
  // live engine (sameInterfaces keeps it unchanged). Changed interfaces need a restart
  // (said above): their frames get a slot that fits, so that nothing else is called wrong.
  const servers = next.services.reduce((n, s) => n + s.realServers.length, 0);
  const scratch = await loadEngine({ batch: 1, slotSize: refused ? Math.max(sizes.slotSize, configSlotSize(next)) : sizes.slotSize, connCapacity: 16,
    maxServices: Math.min(65536, Math.max(sizes.maxServices, next.services.length)),
    maxRealServers: Math.min(65535, Math.max(sizes.maxRealServers, servers)),
    maglevServices: Math.min(DEFAULT_MAGLEV_SERVICES, sizes.maxServices), ...schedulerSizing(next) });
  out.push(...engineErrors(scratch, next, partial?.routingUnsure ?? false));
  return out;
}

/** Check next in full on a scratch engine, then apply what differs from prev to live. */
export async function reload(live: Engine, prev: DirectorConfig, next: DirectorConfig): Promise<ReloadResult> {
  await validateOnScratch(live, prev, next);
  return { changes: applyDifference(live, prev, next) };
}

/**
 * Room the change needs in live's tables, checked before anything is touched: a real
 * server removed while it still has connections keeps its record (IPVS's trash) until
 * they end, so the scratch engine, which has none, cannot tell.
 */
function checkCapacity(live: Engine, prev: DirectorConfig, next: DirectorConfig, poll?: () => void): void {
  const oldServices = new Map(prev.services.map((s) => [key(s), s]));
  const newServices = new Map(next.services.map((s) => [key(s), s]));
  const lingering = live.lingeringRealServers();
  poll?.();
  const lingeringKeys = new Set(lingering.map((l) => `${l.service} ${rkey(l)}`));
  // Connections per live real server, from one walk of the tables (this runs between two
  // batches of the data path: no per-server scans).
  const conns = new Map<string, number>();
  for (const s of live.services()) for (const r of s.realServers) conns.set(`${key(s)} ${rkey(r)}`, r.active + r.inactive);
  poll?.();
  const serversOf = (s: ServiceConfig | undefined) => new Set((s?.realServers ?? []).map(rkey));
  let freed = 0;
  let kept = 0; // removed now, but held by their connections
  let needed: { r: ServiceConfig["realServers"][number]; what: string }[] = [];
  for (const [k, s] of oldServices) {
    const after = serversOf(newServices.get(k));
    for (const r of s.realServers) {
      if (after.has(rkey(r))) continue;
      if ((conns.get(`${k} ${rkey(r)}`) ?? 0) === 0) freed++;
      else kept++;
    }
  }
  for (const [k, s] of newServices) {
    const before = serversOf(oldServices.get(k));
    const idx = live.findService(s.protocol, s.address, s.port, s.fwmark);
    for (const r of s.realServers) {
      if (before.has(rkey(r))) continue;
      if (idx !== undefined && lingeringKeys.has(`${idx} ${rkey(r)}`)) continue; // its record comes back
      needed.push({ r, what: `${rkey(r)} in ${k}` });
    }
  }
  const free = live.freeRealServerSlots() + freed;
  if (needed.length > free) {
    const held = lingering.length + kept;
    needed = needed.slice(free);
    const at = needed[0].r.where;
    throw new ConfigError(at?.file ?? next.file, needed[0].r.line, at?.column ?? 1, at?.text ?? keywordOf(next, "-a"),
      `the real-server table is full (${live.maxRealServers} real servers${held ? `, ${held} of them removed but still holding connections` : ""}): ` +
      `this change needs ${needed.length} more (first: ${needed[0].what}); nothing was changed`);
  }
  const used = live.services().length;
  const removed = [...oldServices.keys()].filter((k) => !newServices.has(k)).length;
  const added = [...newServices.values()].filter((s) => !oldServices.has(key(s)));
  const room = live.maxServices - used + removed;
  if (added.length > room) {
    // Services are added in the file's order: the first that finds no room is named.
    const first = added[Math.max(0, room)];
    throw new ConfigError(first.where?.file ?? next.file, first.line, first.where?.column ?? 1, first.where?.text ?? keywordOf(next, "-A"),
      `service ${key(first)}: the service table is full (${live.maxServices} services): this change would make ${used - removed + added.length}; nothing was changed`);
  }
}

/** Engine operations of an apply between two calls of its poll. */
const OPS_PER_POLL = 64;

/** Apply what differs from prev to live (next already validated): all of it, or nothing
 *  when live lacks the room. Synchronous: the data path runs it between two batches, and
 *  poll() every OPS_PER_POLL changes (VRRP's timers: an -R of 4,000 servers takes about
 *  70 ms here, longer than an advert may be late). */
export function applyDifference(live: Engine, prev: DirectorConfig, next: DirectorConfig, poll?: () => void): string[] {
  checkCapacity(live, prev, next, poll);
  poll?.();
  const changes: string[] = [];
  let ops = 0;
  const step = () => { if (poll && ++ops % OPS_PER_POLL === 0) poll(); };
  const at = (line: number, what: string, f: () => void) => {
    step();
    try {
      f();
    } catch (e) {
      // Not expected after validation and the capacity check; say so if it happens.
      if (e instanceof EngineError) throw new ConfigError(next.file, line, 1, keywordOf(next, what), `${e.message} (reload stopped part-way)`);
      throw e;
    }
  };
  // Routes and neighbours: remove what went, (re)add the rest.
  for (const r of prev.routes) if (!next.routes.some((n) => n.cidr === r.cidr)) { live.deleteRoute(r.cidr); changes.push(`route ${r.cidr} removed`); }
  const oldServices = new Map(prev.services.map((s) => [key(s), s]));
  const newServices = new Map(next.services.map((s) => [key(s), s]));
  for (const [k] of oldServices) {
    if (newServices.has(k)) continue;
    const s = oldServices.get(k)!;
    const idx = live.findService(s.protocol, s.address, s.port, s.fwmark);
    if (idx !== undefined) live.deleteService(idx);
    step();
    changes.push(`service ${k} removed`);
  }
  // Real servers that went, everywhere first, so that their records are free for the adds.
  for (const [k, s] of newServices) {
    const old = oldServices.get(k);
    const idx = live.findService(s.protocol, s.address, s.port, s.fwmark);
    if (!old || idx === undefined) continue;
    const kept = new Set(s.realServers.map(rkey));
    for (const r of old.realServers) {
      if (kept.has(rkey(r))) continue;
      const d = live.findRealServer(idx, r.address, r.port);
      if (d !== undefined) live.deleteRealServer(d);
      step();
      changes.push(`real server ${rkey(r)} removed from ${k}`);
    }
  }
  // The routes, neighbours and timeouts of next, applied as a fresh engine would.
  applyDirectorParts(live, next);
  const marks = (c: DirectorConfig) => JSON.stringify((c.marks ?? []).map(({ line, ...m }) => m));
  if (marks(prev) !== marks(next)) changes.push(`mark rules replaced (${next.marks?.length ?? 0})`);
  for (const [k, s] of newServices) {
    const old = oldServices.get(k);
    let idx = live.findService(s.protocol, s.address, s.port, s.fwmark);
    if (idx === undefined) {
      at(s.line, "-A", () => { idx = live.addService(s); });
      changes.push(`service ${k} added (${s.scheduler})`);
    } else if (old && (old.scheduler !== s.scheduler || !samePersistence(old, s) || (old.schedFlags ?? 0) !== (s.schedFlags ?? 0) || !!old.onePacket !== !!s.onePacket)) {
      at(s.line, "-E", () => live.editService(idx!, s.scheduler, s.persistence, s.schedFlags, s.onePacket));
      changes.push(old.scheduler !== s.scheduler ? `service ${k} scheduler ${old.scheduler} -> ${s.scheduler}` : `service ${k} ${persistenceText(s)}`);
    }
    syncRealServers(live, idx!, old, s, changes, at, step);
  }
  return changes;
}

const samePersistence = (a: ServiceConfig, b: ServiceConfig) =>
  a.persistence?.timeout === b.persistence?.timeout && (a.persistence?.netmask ?? "") === (b.persistence?.netmask ?? "");
const persistenceText = (s: ServiceConfig) => (s.persistence ? `persistent ${s.persistence.timeout} mask ${s.persistence.netmask}` : "not persistent");

function applyDirectorParts(live: Engine, next: DirectorConfig): void {
  if (next.timeouts) live.setTimeouts(next.timeouts);
  live.setRejectUnknown(next.rejectUnknown?.on ?? true);
  live.setExpireQuiescentTemplate(next.expireQuiescentTemplate?.on ?? false);
  live.setMarkRules(next.marks ?? []);
  live.setExpireNodestConn(next.expireNodestConn?.on ?? false);
  live.setSloppyTcp(next.sloppyTcp?.on ?? false);
  live.setSyncTableShare(next.syncTableShare?.percent);
  live.setSyncAuthKey(syncKeyBytes(next));
  // Re-adding a route or a static neighbour replaces it in place.
  for (const r of next.routes) live.addRoute(r.cidr, r.via, r.dev !== undefined ? devIndex(next, r.dev, r.line, fileOf(next, r)) : onLinkIndex(next, r.via!)!);
  for (const n of next.neighbours) live.setNeighbour(n.address, n.mac, n.dev !== undefined ? devIndex(next, n.dev, n.line, fileOf(next, n)) : onLinkIndex(next, n.address)!);
}

function syncRealServers(live: Engine, svc: number, old: ServiceConfig | undefined, s: ServiceConfig, changes: string[],
  at: (line: number, what: string, f: () => void) => void, step: () => void): void {
  const before = new Map((old?.realServers ?? []).map((r) => [rkey(r), r]));
  const after = new Map(s.realServers.map((r) => [rkey(r), r]));
  for (const [k, r] of after) {
    step();
    const prev = before.get(k);
    const d = live.findRealServer(svc, r.address, r.port);
    if (d === undefined) {
      at(r.line, "-a", () => live.addRealServer(svc, r));
      changes.push(`real server ${k} added to ${key(s)} (${r.method}, weight ${r.weight})`);
    } else if (!prev || prev.method !== r.method || prev.weight !== r.weight || prev.uthreshold !== r.uthreshold || prev.lthreshold !== r.lthreshold) {
      at(r.line, "-e", () => live.editRealServer(d, r));
      changes.push(`real server ${k} of ${key(s)} now ${r.method}, weight ${r.weight}`);
    }
  }
}
