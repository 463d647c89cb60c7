// Applying a changed configuration to a running engine: the difference only.
// Unchanged services and real servers are not touched and keep their connections;
// weights, thresholds and methods change in place; removed real servers go the way
// IPVS's do (their connections' packets are dropped until they expire, or resume if
// the server comes back). The new configuration is first applied in full to a scratch
// engine: if anything in it is refused, nothing changes in the running one.

import { Engine, EngineError } from "../engine/index.js";
import { loadEngine } from "../engine/node.js";
import { applyConfig, ConfigError, devIndex, DirectorConfig, onLinkIndex, ServiceConfig } from "./rules.js";

const key = (s: { protocol: string; address: string; port: number }) => `${s.protocol} ${s.address}:${s.port}`;
const rkey = (r: { address: string; port: number }) => `${r.address}:${r.port}`;

export interface ReloadResult {
  changes: string[];
}

function sameInterfaces(a: DirectorConfig, b: DirectorConfig): string | undefined {
  const show = (c: DirectorConfig) => JSON.stringify(c.interfaces.map(({ line, ...rest }) => rest));
  if (show(a) !== show(b)) return "interfaces changed: restart wasmvs to change interfaces";
  if ((a.connections ?? 65536) !== (b.connections ?? 65536)) return "the connection table size changed: restart wasmvs to resize it";
  return undefined;
}

/** Check next in full on a scratch engine, then apply what differs from prev to live. */
export async function reload(live: Engine, prev: DirectorConfig, next: DirectorConfig): Promise<ReloadResult> {
  const why = sameInterfaces(prev, next);
  if (why) throw new ConfigError(next.file, 1, 1, "interface", why);
  const scratch = await loadEngine({ batch: 1, slotSize: live.slotSize, connCapacity: 16, maxServices: live.maxServices, maxRealServers: live.maxRealServers });
  applyConfig(scratch, next);
  const changes: string[] = [];
  const at = (line: number, what: string, f: () => void) => {
    try {
      f();
    } catch (e) {
      if (e instanceof EngineError) throw new ConfigError(next.file, line, 1, what, `${e.message} (reload stopped part-way)`);
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
    const idx = live.findService(s.protocol, s.address, s.port);
    if (idx !== undefined) live.deleteService(idx);
    changes.push(`service ${k} removed`);
  }
  // The routes, neighbours and timeouts of next, applied as a fresh engine would.
  applyDirectorParts(live, next);
  for (const [k, s] of newServices) {
    const old = oldServices.get(k);
    let idx = live.findService(s.protocol, s.address, s.port);
    if (idx === undefined) {
      at(s.line, "-A", () => { idx = live.addService(s); });
      changes.push(`service ${k} added (${s.scheduler})`);
    } else if (old && old.scheduler !== s.scheduler) {
      at(s.line, "-E", () => live.editService(idx!, s.scheduler));
      changes.push(`service ${k} scheduler ${old.scheduler} -> ${s.scheduler}`);
    }
    syncRealServers(live, idx!, old, s, changes, at);
  }
  return { changes };
}

function applyDirectorParts(live: Engine, next: DirectorConfig): void {
  if (next.timeouts) live.setTimeouts(next.timeouts);
  // Re-adding a route or a static neighbour replaces it in place.
  for (const r of next.routes) live.addRoute(r.cidr, r.via, r.dev !== undefined ? devIndex(next, r.dev, r.line) : onLinkIndex(next, r.via!)!);
  for (const n of next.neighbours) live.setNeighbour(n.address, n.mac, n.dev !== undefined ? devIndex(next, n.dev, n.line) : onLinkIndex(next, n.address)!);
}

function syncRealServers(live: Engine, svc: number, old: ServiceConfig | undefined, s: ServiceConfig, changes: string[],
  at: (line: number, what: string, f: () => void) => void): void {
  const before = new Map((old?.realServers ?? []).map((r) => [rkey(r), r]));
  const after = new Map(s.realServers.map((r) => [rkey(r), r]));
  for (const [k, r] of before) {
    if (after.has(k)) continue;
    const d = live.findRealServer(svc, r.address, r.port);
    if (d !== undefined) live.deleteRealServer(d);
    changes.push(`real server ${k} removed from ${key(s)}`);
  }
  for (const [k, r] of after) {
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
