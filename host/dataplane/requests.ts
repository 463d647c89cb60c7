// What the control plane may ask of the engine, and the one function that answers it.
// The data-path thread runs serveRequest() between two batches; the in-thread adapter
// (unit tests, `wasmvs check`) runs the same function directly, so both behave alike.
// Every request is short: listings of the connection table come in bounded slices so
// that no single request holds the data path for long.

import { Engine, EngineError, ConnectionInfo } from "../engine/index.js";
import { Err } from "../engine/abi.js";
import { applyDifference } from "./reload.js";
import { ConfigError, DirectorConfig, vrrpSpecs } from "../config/rules.js";
import { IpvsadmError, ServiceKey } from "../config/ipvsadm.js";
import type { LoopStats } from "./loop.js";
import { vrrpPart, type VrrpMachines, type VrrpTracking } from "../vrrp/machines.js";
import type { VrrpView } from "../vrrp/format.js";
import { engineSnapshot, type EngineSnapshot } from "./snapshot.js";

export { engineSnapshot, type EngineSnapshot };

/** Most connections one slice of a listing carries (about 5 ms of the data path's time). */
export const CONNECTIONS_PER_SLICE = 2048;
/** Most table entries one slice scans, used or not. */
export const ENTRIES_PER_SLICE = 65536;

export type EngineRequest =
  | { op: "snapshot" }
  | { op: "apply"; prev: DirectorConfig; next: DirectorConfig }
  | { op: "connections"; from: number }
  | { op: "zero"; service?: ServiceKey }
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
  | { connections: ConnectionInfo[]; next: number }
  | { vrrp: VrrpView[] }
  | { done: true };

/** A refusal that crosses the thread boundary with what the caller needs to report it. */
export interface RequestFailure {
  error: string;
  kind: "config" | "ipvsadm" | "engine";
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
      return { snapshot: engineSnapshot(e, loop, ctx.vrrp) };
    case "apply": {
      // The services, then VRRP (both validated before: reload.ts), in one step between two
      // batches: no frame sees one half changed, and a refused apply changed neither.
      const changes = applyDifference(e, req.prev, req.next, ctx.poll);
      if (ctx.vrrp) {
        // Adverts still queued belong to the instances as they were (the table is rebuilt).
        for (const a of e.takeVrrpAdverts()) ctx.vrrp.onAdvert(a.instance, a.message, a.src);
        changes.push(...ctx.vrrp.reconfigure(req.next));
      } else if (vrrpPart(req.prev) !== vrrpPart(req.next)) {
        // No state machines here (an engine of the unit tests or the playground): the table as
        // applyConfig sets it (static_ipaddress held, instances backup).
        e.setVrrpInstances(vrrpSpecs(req.next));
      }
      return { changes };
    }
    case "connections": {
      const r = e.connectionsSlice(nowMs, req.from, ENTRIES_PER_SLICE, CONNECTIONS_PER_SLICE);
      return { connections: r.items, next: r.next };
    }
    case "zero": {
      if (req.service) {
        const idx = e.findService(req.service.protocol, req.service.address, req.service.port, req.service.fwmark);
        if (idx === undefined) throw new IpvsadmError("No such service", 255);
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

/** An error as it crosses the thread boundary. */
export function toFailure(e: unknown): RequestFailure {
  if (e instanceof ConfigError) {
    return { error: e.message, kind: "config", file: e.file, line: e.line, column: e.column, keyword: e.keyword, reason: e.reason };
  }
  if (e instanceof IpvsadmError) return { error: e.message, kind: "ipvsadm", status: e.status };
  return { error: e instanceof Error ? e.message : String(e), kind: "engine" };
}

/** The error a failure stood for, on the caller's side. */
export function fromFailure(f: RequestFailure): Error {
  if (f.kind === "config") return new ConfigError(f.file!, f.line!, f.column!, f.keyword!, f.reason!);
  if (f.kind === "ipvsadm") return new IpvsadmError(f.error, f.status ?? 255);
  return new Error(f.error);
}
