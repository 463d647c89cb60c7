// What the control plane may ask of the engine, and the one function that answers it.
// The data-path thread runs serveRequest() between two batches; the in-thread adapter
// (unit tests, `wasmvs check`) runs the same function directly, so both behave alike.
// Every request is short: listings of the connection table and of the service table come in
// bounded slices so that no single request holds the data path for long (a snapshot is its
// counters from one request and its services from slices: RequestAdapter.snapshot).

// No control code runs here (nothing is imported from host/control): a change comes as a
// change set, checked and applied by host/engine/changes.ts.

import { Engine, EngineError, ConnectionInfo, ServiceCursor, ServiceInfo, Timeouts } from "../engine/index.js";
import { Err } from "../engine/abi.js";
import { applyChangeSet, applyPacked, ChangeRefused, ChangeSet, PackedOps, PackedRefusal, PackedRefused, Refusal, ServiceRef } from "../engine/changes.js";
import type { LoopStats } from "./loop.js";
import type { VrrpMachines, VrrpTracking } from "../vrrp/machines.js";
import type { VrrpView } from "../vrrp/format.js";
import { engineSnapshot, snapshotHead, type EngineSnapshot } from "./snapshot.js";
import { countersSlice } from "./counters.js";

export { engineSnapshot, type EngineSnapshot };

/** Most connections one slice of a listing carries (about 5 ms of the data path's time). */
export const CONNECTIONS_PER_SLICE = 2048;
/** Most table entries one slice scans, used or not. */
export const ENTRIES_PER_SLICE = 65536;
/** Most services one slice of the service table carries, and most real servers (a service with
 *  more is carried over several slices). Measured on the 2-core test machine (bench/listing.bench.ts):
 *  a slice of 512 services / 2,048 servers took 1.2 ms built and serialised, warm, but up to 72 ms
 *  the first time in a new thread (not yet compiled): halved, so that the worst is half that. */
export const SERVICES_PER_SLICE = 256;
export const SERVERS_PER_SLICE = 1024;
/** Most service-table entries one slice scans for services (used or not), and for sort keys. */
export const SERVICE_ENTRIES_PER_SLICE = 4096;

/** A slice smaller than a listing's (at most SERVICES_PER_SLICE, SERVERS_PER_SLICE): for readers
 *  in the background (the status file every second), whose replies the main thread then takes in
 *  smaller pieces between commands. */
export interface SliceLimits {
  services: number;
  servers: number;
}

export type EngineRequest =
  /** Everything but the services (those come in slices: "services"). */
  | { op: "snapshot" }
  /** A slice of the service table from a cursor, in table order or in the order given (a
   *  listing's sorted order: table indices, SERVICES_PER_SLICE at most; the cursor is then a
   *  position in it). */
  | { op: "services"; from: ServiceCursor; order?: number[]; withServers?: boolean; smaller?: SliceLimits }
  /** The counters of a slice of the service table, as numbers (the estimator's: counters.ts). */
  | { op: "counters"; from: ServiceCursor }
  /** ipvsadm's sort keys of the services from table index from on (Engine.serviceKeysSlice). */
  | { op: "serviceKeys"; from: number }
  /** A change set; its ops packed (packed: the set's ops are then left out, and a refusal comes
   *  back as PackedRefusals for the sender to put in words with them). */
  | { op: "apply"; set: ChangeSet; packed?: PackedOps }
  | { op: "connections"; from: number }
  | { op: "zero"; service?: Omit<ServiceRef, "vaddr"> }
  | { op: "announce"; targets: { ifindex: number; address: string }[] }
  /** VRRP's state machines (host/vrrp/machines.ts): start, tracking's results, stop, views. */
  | { op: "vrrpStart" }
  | { op: "vrrpTrack"; list: VrrpTracking[] }
  | { op: "vrrpStop" }
  | { op: "vrrpViews" }
  /** Connection sync's roles (the sync daemon's settings otherwise as configured). */
  | { op: "sync"; send: boolean; receive: boolean; ifindex: number; syncid: number; maxlen: number; peer?: string; from?: string }
  /** virtual_routes of an instance that became master (add) or stopped being it (remove). */
  | { op: "routes"; add?: { cidr: string; via?: string; ifindex: number }[]; remove?: string[] };

export type EngineReply =
  | { snapshot: EngineSnapshot }
  | { changes: string[] }
  | { connections: ConnectionInfo[]; next: number; end: number }
  | { services: ServiceInfo[]; next: ServiceCursor; servers: number }
  | { keys: number[]; next: number }
  | { rows: Float64Array; next: ServiceCursor }
  | { vrrp: VrrpView[] }
  | { done: true };

/** A refusal that crosses the thread boundary with what the caller needs to report it. */
export interface RequestFailure {
  error: string;
  kind: "config" | "ipvsadm" | "engine" | "refused";
  /** kind refused: a change set's refusals, where each op was written. */
  refusals?: Refusal[];
  /** kind refused, of a packed set: the refusals by op (put in words by the sender). */
  packed?: PackedRefusal[];
  status?: number;
  file?: string;
  line?: number;
  column?: number;
  keyword?: string;
  reason?: string;
}

/** What serving a request may use besides the engine. */
export interface ServeContext {
  nowMs: number;
  loop: LoopStats;
  /** Receives the number of TX frames a request produced (gratuitous ARP) for the caller to send. */
  emit: (tx: number) => void;
  /** The VRRP state machines, where they live with this engine. */
  vrrp?: VrrpMachines;
  /** Called between the pieces of a long request (an apply of thousands of servers), so
   *  that the data-path thread runs VRRP's due timers meanwhile. */
  poll?: () => void;
}

/**
 * Answer one request on engine e. Throws on refusal; an "apply" that throws has changed nothing.
 */
export function serveRequest(e: Engine, req: EngineRequest, ctx: ServeContext): EngineReply {
  const { nowMs, loop, emit } = ctx;
  switch (req.op) {
    case "snapshot":
      return { snapshot: snapshotHead(e, loop, ctx.vrrp) };
    case "services": {
      const order = req.order?.slice(0, SERVICES_PER_SLICE);
      const most = (x: number | undefined, max: number) => Math.max(1, Math.min(max, Math.floor(x ?? max) || max));
      const r = e.servicesSlice(req.from, order ? order.length : SERVICE_ENTRIES_PER_SLICE, most(req.smaller?.services, SERVICES_PER_SLICE),
        most(req.smaller?.servers, SERVERS_PER_SLICE), order, req.withServers ?? true);
      return { services: r.items, next: r.next, servers: r.servers };
    }
    case "counters":
      return countersSlice(e, req.from);
    case "serviceKeys": {
      const r = e.serviceKeysSlice(req.from, SERVICE_ENTRIES_PER_SLICE);
      return { keys: r.keys, next: r.next };
    }
    case "apply": {
      // The services, then VRRP, in one step between two batches: no frame sees one half
      // changed, and a refused set changed neither (applyChangeSet checks before it changes).
      if (req.packed) applyPacked(e, req.packed, req.set, ctx.poll);
      else applyChangeSet(e, req.set, ctx.poll);
      const changes: string[] = [];
      const vrrp = req.set.vrrp;
      if (vrrp && ctx.vrrp) {
        // Adverts still queued belong to the instances as they were (the table is rebuilt).
        for (const a of e.takeVrrpAdverts()) ctx.vrrp.onAdvert(a.instance, a.message, a.src);
        changes.push(...ctx.vrrp.reconfigure(vrrp.config as Parameters<VrrpMachines["reconfigure"]>[0]));
      } else if (vrrp) {
        // No state machines here (an engine of the unit tests or the playground): the table as
        // a fresh load sets it (static_ipaddress held, instances backup).
        e.setVrrpInstances(vrrp.specs);
      }
      return { changes };
    }
    case "connections": {
      const r = e.connectionsSlice(nowMs, req.from, ENTRIES_PER_SLICE, CONNECTIONS_PER_SLICE);
      return { connections: r.items, next: r.next, end: r.end };
    }
    case "zero": {
      if (req.service) {
        const idx = e.findService(req.service.protocol, req.service.address, req.service.port, req.service.fwmark);
        if (idx === undefined) throw new RequestRefused("No such service", 255);
        e.zeroStats(idx);
      } else e.zeroStats();
      return { done: true };
    }
    case "announce":
      for (const t of req.targets) emit(e.sendGratuitousArp(t.ifindex, t.address, nowMs));
      return { done: true };
    case "sync":
      e.setSync(req);
      return { done: true };
    case "routes":
      for (const cidr of req.remove ?? []) {
        try {
          e.deleteRoute(cidr);
        } catch (err) {
          if (!(err instanceof EngineError && err.code === Err.NOT_FOUND)) throw err;
        }
      }
      for (const r of req.add ?? []) e.addRoute(r.cidr, r.via, r.ifindex);
      return { done: true };
    case "vrrpStart":
      vrrpOf(ctx).start();
      return { done: true };
    case "vrrpTrack":
      vrrpOf(ctx).track(req.list);
      return { done: true };
    case "vrrpStop":
      vrrpOf(ctx).stop();
      return { done: true };
    case "vrrpViews":
      return { vrrp: ctx.vrrp?.views() ?? [] };
  }
}

function vrrpOf(ctx: ServeContext): VrrpMachines {
  if (!ctx.vrrp) throw new Error("no VRRP instances here");
  return ctx.vrrp;
}

/** A request refused as ipvsadm refuses it (its exit status). */
export class RequestRefused extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** An error as it crosses the thread boundary (read by its shape: the control plane's
 *  error types are not known here). */
export function toFailure(e: unknown): RequestFailure {
  if (e instanceof ChangeRefused) return { error: e.message, kind: "refused", refusals: e.refusals };
  if (e instanceof PackedRefused) return { error: e.message, kind: "refused", packed: e.refusals };
  const x = e as { message?: string; file?: unknown; line?: unknown; column?: unknown; keyword?: unknown; reason?: unknown; status?: unknown };
  if (e instanceof Error && typeof x.file === "string" && typeof x.line === "number" && typeof x.reason === "string") {
    return { error: e.message, kind: "config", file: x.file, line: x.line, column: x.column as number, keyword: x.keyword as string, reason: x.reason };
  }
  if (e instanceof Error && typeof x.status === "number") return { error: e.message, kind: "ipvsadm", status: x.status };
  return { error: e instanceof Error ? e.message : String(e), kind: "engine" };
}
