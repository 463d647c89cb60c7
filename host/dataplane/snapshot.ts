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
}

export function engineSnapshot(e: Engine, loop: LoopStats, vrrp?: VrrpMachines): EngineSnapshot {
  return {
    services: e.services(), counters: e.counters(), connectionCount: e.connectionCount, connCapacity: e.connCapacity,
    timeouts: e.timeouts(), neighbours: e.neighbourStates(), loop: { ...loop }, vrrp: vrrp?.views() ?? [],
    syncIdleMs: e.syncIdleMs(),
  };
}
