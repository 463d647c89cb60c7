// The live view of a running director: what the dashboard and `wasmvs top` show, in one
// JSON-friendly shape. The services and real servers are the ipvsadm listing's own view
// (tableView: the same numbers `wasmvs -L -n --stats --exact` prints, and the estimator's
// rates as --rate's), with what ipvsadm has no column for beside them: drops by reason,
// the connection table's occupancy, neighbour states, health and VRRP.

import type { EngineSnapshot } from "../dataplane/snapshot.js";
import type { Estimator } from "./estimator.js";
import type { TableView } from "../config/ipvsadm.js";
import { tableView } from "./table.js";
import { dropsOf } from "../engine/index.js";
import type { ServerHealthView } from "../health/service.js";

export interface LiveVrrp { name: string; state: string; vrid: number; priority: number; interface: string; addresses: string[]; master?: string; faults: string[] }

/** The live view's share of the table, asked for every second by each `top` and the dashboard:
 *  the first services (table order) up to these, whole; omitted says what else there is. */
export const LIVE_VIEW_LIMITS = { maxServices: 512, maxServers: 2048 };

export interface LiveView {
  /** Wall-clock milliseconds of the snapshot. */
  at: number;
  table: TableView;
  /** Frames dropped by reason since start (never zeroed: -Z zeroes the services' statistics only). */
  drops: Record<string, number>;
  counters: { rxFrames: number; txFrames: number; forwarded: number; connsCreated: number };
  connections: { count: number; capacity: number };
  /** Neighbour entries by state (REACHABLE, STALE, INCOMPLETE, ...). */
  neighbours: Record<string, number>;
  /** Checked real servers ("TCP 10.0.0.100:80" and "10.1.0.11:8080" as keys). */
  health: { service: string; server: string; alive: boolean; weight: number; reason: string; sinceChangeS?: number }[];
  vrrp: LiveVrrp[];
  /** Services and real servers the view leaves out (LIVE_VIEW_LIMITS): `wasmvs -L -n` lists them. */
  omitted?: { services: number; realServers: number };
}

export function liveView(snap: EngineSnapshot, estimator: Estimator | undefined, health: ServerHealthView[] = [], vrrp: LiveVrrp[] = [], at = Date.now()): LiveView {
  const c = snap.counters;
  const n = (k: string) => Number(c[k] ?? 0n);
  return {
    at,
    table: tableView(snap, estimator),
    drops: Object.fromEntries(Object.entries(dropsOf(c)).map(([k, v]) => [k, Number(v)])),
    counters: { rxFrames: n("rx_frames"), txFrames: n("tx_frames"), forwarded: n("forwarded"), connsCreated: n("conns_created") },
    connections: { count: snap.connectionCount, capacity: snap.connCapacity },
    neighbours: { ...snap.neighbours },
    health: health.map(({ service, server, alive, weight, reason, sinceChangeS }) => ({ service, server, alive, weight, reason, ...(sinceChangeS !== undefined ? { sinceChangeS } : {}) })),
    ...(snap.omitted && (snap.omitted.services || snap.omitted.realServers) ? { omitted: { ...snap.omitted } } : {}),
    vrrp: vrrp.map(({ name, state, vrid, priority, interface: ifname, addresses, master, faults }) => ({ name, state, vrid, priority, interface: ifname, addresses, ...(master ? { master } : {}), faults })),
  };
}
