// What the engine holds at one moment, as the control plane sees it: the services and their
// real servers with statistics, counters, the connection table's occupancy, neighbours, the
// loop's figures and VRRP's views. Taken on the data-path thread between two batches (the
// "snapshot" request, host/dataplane/requests.ts) and read by the listings, metrics, the
// dashboard and housekeeping.

import type { Engine, ServiceInfo, Timeouts } from "../engine/index.js";
import type { LoopStats } from "./loop.js";
import type { VrrpMachines } from "../vrrp/machines.js";
import type { VrrpView } from "../vrrp/format.js";

export interface EngineSnapshot {
  services: ServiceInfo[];
  counters: Record<string, bigint>;
  connectionCount: number;
  connCapacity: number;
  timeouts: Timeouts;
  neighbours: Record<string, number>;
  loop: LoopStats;
  /** The VRRP instances as their state machines (on the data-path thread) see them. */
  vrrp: VrrpView[];
  /** Milliseconds the backup sync daemon has gone without a message (absent: not receiving). */
  syncIdleMs?: number;
  /** How many services and real servers the table holds (Engine.tableCounts). */
  serviceCount?: number;
  realServerCount?: number;
  /** A bounded snapshot's services and real servers not in it (RequestAdapter.boundedSnapshot). */
  omitted?: { services: number; realServers: number };
}

/** The whole snapshot in one go, for an engine that forwards nothing meanwhile (`wasmvs check`,
 *  replay); a running director's is made of slices (RequestAdapter.snapshot). */
export function engineSnapshot(e: Engine, loop: LoopStats, vrrp?: VrrpMachines): EngineSnapshot {
  return { ...snapshotHead(e, loop, vrrp), services: e.services() };
}

/** A snapshot without its services: counters and sizes, bounded whatever the table holds. */
export function snapshotHead(e: Engine, loop: LoopStats, vrrp?: VrrpMachines): EngineSnapshot {
  const c = e.tableCounts();
  return {
    services: [], counters: e.counters(), connectionCount: e.connectionCount, connCapacity: e.connCapacity,
    timeouts: e.timeouts(), neighbours: e.neighbourStates(), loop: { ...loop }, vrrp: vrrp?.views() ?? [],
    syncIdleMs: e.syncIdleMs(), serviceCount: c.services, realServerCount: c.realServers,
  };
}
