// Applying a changed configuration to a running engine: the difference only.
// Unchanged services and real servers are not touched and keep their connections;
// weights, thresholds and methods change in place; removed real servers go the way
// IPVS's do (their connections' packets are dropped until they expire, or resume if
// the server comes back). The difference goes as a change set (changeset.ts), which the
// engine checks whole before it changes anything: if anything in it is refused, nothing
// changes in the running one. A scratch engine loaded with a whole file is left for
// where a whole file's effect is to be proven (`wasmvs check`, and a refused reload's
// full list of errors).

import { DEFAULT_CONN_CAPACITY, DEFAULT_MAGLEV_SERVICES, DEFAULT_MAX_REAL_SERVERS, DEFAULT_MAX_SERVICES, DEFAULT_MH_TABLE_SIZE, DEFAULT_SCHEDULER_MEMORY, Engine, EngineError, MAGLEV_M, MAX_REAL_SERVERS } from "../engine/index.js";
import { applyChangeSet, ChangeRefused } from "../engine/changes.js";
import { loadEngine } from "../engine/node.js";
import { ConfigError, configSlotSize, DirectorConfig, type SizeSetting, engineErrors, fileOf, InterfaceConfig, positionsAside, samePositionsAside, schedulerSizing } from "../config/rules.js";
import { keywordOf } from "../config/model.js";
import { countsOf, modelRefusals, planDifference, refusalError } from "./changeset.js";

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
  // Each size as the engine was made with it (a value written at its default is no change),
  // refused where the new file writes it (line 1 when it no longer does).
  const sizes: [SizeSetting, (c: DirectorConfig) => number | undefined, string][] = [
    ["connections", (c) => c.connections ?? DEFAULT_CONN_CAPACITY, "the connection table size changed: restart wasmvs to resize it"],
    ["mh_table_size", (c) => c.mhTableSize ?? DEFAULT_MH_TABLE_SIZE, "mh_table_size changed: restart wasmvs to change it"],
    ["maglev_services", (c) => c.maglevServices ?? DEFAULT_MAGLEV_SERVICES, "maglev_services changed: restart wasmvs to change it"],
    ["maglev_table_size", (c) => c.maglevTableSize ?? MAGLEV_M, "maglev_table_size changed: restart wasmvs to change it"],
    ["max_services", (c) => c.maxServices ?? DEFAULT_MAX_SERVICES, "max_services changed: restart wasmvs to change it"],
    ["max_real_servers", (c) => c.maxRealServers ?? DEFAULT_MAX_REAL_SERVERS, "max_real_servers changed: restart wasmvs to change it"],
    ["scheduler_memory", (c) => c.schedulerMemory ?? DEFAULT_SCHEDULER_MEMORY, "scheduler_memory changed: restart wasmvs to change it"],
  ];
  for (const [setting, value, why] of sizes) {
    if (value(a) === value(b)) continue;
    const at = b.sizeWhere?.[setting];
    return at ? new ConfigError(at.file, at.line, at.column, at.text, why) : refuse(1, b.format === "keepalived" && setting === "connections" ? "connection_table_size" : setting, why);
  }
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

/** What next changes that only a restart can (interfaces, table sizes, the endpoints), each
 *  at the keyword that changed. */
export function restartErrors(prev: DirectorConfig, next: DirectorConfig): ConfigError[] {
  const out: ConfigError[] = [];
  const refused = sameInterfaces(prev, next);
  if (refused) out.push(refused);
  // The metrics and dashboard endpoints are opened once, at start.
  const endpoint = (e?: { host: string; port: number }) => (e ? `${e.host}:${e.port}` : "off");
  for (const k of ["metrics", "dashboard"] as const) {
    if (endpoint(prev[k]) !== endpoint(next[k])) {
      out.push(new ConfigError(next[k] ? fileOf(next, next[k]!) : next.file, next[k]?.line ?? 1, 1, k, `${k} ${endpoint(prev[k])} changed to ${endpoint(next[k])}: restart wasmvs to move, start or stop it`));
    }
  }
  return out;
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
  const out: ConfigError[] = partial ? [] : restartErrors(prev, next);
  const refused = partial ? undefined : sameInterfaces(prev, next);
  // Room for all of next: which services and servers need a new record in live's tables,
  // and which of them does not fit, only the engine can tell (changes.ts: live holds removed servers
  // that still have connections; a scratch engine of live's size would fail on whichever
  // comes last in the file, not on the one added). The same number of maglev tables as the
  // live engine (sameInterfaces keeps it unchanged). Changed interfaces need a restart
  // (said above): their frames get a slot that fits, so that nothing else is called wrong.
  const servers = next.services.reduce((n, s) => n + s.realServers.length, 0);
  const scratch = await loadEngine({ batch: 1, ...schedulerSizing(next), slotSize: refused ? Math.max(sizes.slotSize, configSlotSize(next)) : sizes.slotSize, connCapacity: 16,
    maxServices: Math.min(65536, Math.max(sizes.maxServices, next.services.length)),
    maxRealServers: Math.min(MAX_REAL_SERVERS, Math.max(sizes.maxRealServers, servers)),
    maglevServices: next.maglevServices ?? DEFAULT_MAGLEV_SERVICES });
  out.push(...engineErrors(scratch, next, partial?.routingUnsure ?? false));
  return out;
}

/** Apply what differs from prev to live: its change set, checked against the model and
 *  then by the engine before anything changes (no scratch engine). */
export async function reload(live: Engine, prev: DirectorConfig, next: DirectorConfig): Promise<ReloadResult> {
  const restart = restartErrors(prev, next);
  if (restart.length) throw ConfigError.all(restart);
  const plan = planDifference(prev, next);
  const refused = modelRefusals(next, plan.set, live, () => countsOf(prev));
  if (refused.length) throw ConfigError.all(refused);
  try {
    applyChangeSet(live, plan.set);
  } catch (e) {
    if (e instanceof ChangeRefused) throw refusalError(e.refusals, next.file);
    throw e;
  }
  if (plan.set.vrrp) live.setVrrpInstances(plan.set.vrrp.specs);
  return { changes: plan.changes };
}
