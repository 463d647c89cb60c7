// The engine as the control plane sees it (Katran's BpfAdapter): ask for a snapshot,
// apply a change set, list connections, zero counters, announce addresses. The live
// director implements it with the data-path thread (host/dataplane/client.ts); tests and
// `wasmvs check` use LocalEngine, the same requests served in this thread.

import { ConnectionInfo, Engine, ServiceCursor, ServiceInfo } from "../engine/index.js";
import { ChangeRefused, ChangeSet, explain, isEmptyChangeSet, packOps, PackedRefused } from "../engine/changes.js";
import { EngineReply, EngineRequest, EngineSnapshot, RequestFailure, serveRequest, SERVICES_PER_SLICE, SliceLimits, toFailure } from "./requests.js";
import { LoopStats } from "./loop.js";
import { ConfigError, DirectorConfig } from "../config/rules.js";
import { restartErrors } from "./reload.js";
import { countsOf, modelRefusals, planDifference, refusalError } from "./changeset.js";
import { IpvsadmError, ServiceKey } from "../config/ipvsadm.js";
import type { Clock } from "../io/clock.js";
import { engineDevice, InThreadVrrp, VrrpEvent, VrrpTracking } from "../vrrp/machines.js";
import type { VrrpView } from "../vrrp/format.js";
import type { SyncRoles } from "../config/vrrp.js";
import type { VrrpEngine } from "../vrrp/service.js";

export type { SyncRoles };

/** Connection sync's settings as the control plane sets them (Engine.setSync). */
export interface SnapshotLimits {
  maxServices?: number;
  /** Real servers at most (whole services: the one that reaches it is there with all of its). */
  maxServers?: number;
  /** Past maxServers, the services go on without their real servers (the metrics' per-service
   *  series) instead of ending the snapshot. */
  thenWithoutServers?: boolean;
}

export interface EngineSizes {
  slotSize: number;
  maxServices: number;
  maxRealServers: number;
  connCapacity: number;
}

/** The engine as every service of the director sees it; VRRP's part (its state machines live with
 *  the engine, host/vrrp/machines.ts) as the VRRP service declares it. */
export interface EngineAdapter extends VrrpEngine {
  readonly sizes: EngineSizes;
  /** The engine's counters and sizes, and its services read in bounded slices (serviceSlices). */
  snapshot(): Promise<EngineSnapshot>;
  /** The services, whole (each with all its real servers), a slice at a time as the data path
   *  gives them: in table order, or sorted as ipvsadm lists them (ipvs_cmp_services). No request
   *  holds the data path for more than SERVICES_PER_SLICE services or SERVERS_PER_SLICE servers. */
  serviceSlices(sorted?: boolean, wantServers?: () => boolean, smaller?: SliceLimits): AsyncGenerator<ServiceInfo[]>;
  /** The counters of every service and real server, a slice of rows at a time (counters.ts):
   *  IPVS's estimator reads these every 2 s, and builds no object for them. */
  counterSlices(): AsyncGenerator<Float64Array>;
  /** A snapshot for a reader that runs often (status file, live view, metrics scrape): the first
   *  services in table order up to the limits; omitted counts what is not there. */
  boundedSnapshot(limits: SnapshotLimits): Promise<EngineSnapshot>;
  /** Apply a change set (host/engine/changes.ts), all or nothing: the engine checks it
   *  before it changes anything. Resolves with what VRRP's state machines changed;
   *  refusals are ConfigErrors where each op was written. */
  applySet(set: ChangeSet): Promise<string[]>;
  /** Apply what differs from prev to next (both whole configurations): the change set of
   *  the difference, checked against the model first. Resolves with what changed. */
  apply(prev: DirectorConfig, next: DirectorConfig): Promise<string[]>;
  /** The whole connection table, read in bounded slices. */
  connections(): Promise<ConnectionInfo[]>;
  /** The connection table a slice at a time (a listing streamed as it is read). */
  connectionSlices(): AsyncGenerator<ConnectionInfo[]>;
  /** The counters, sizes and timeouts of a snapshot, without its services (one short request). */
  summary(): Promise<EngineSnapshot>;
  zero(service?: ServiceKey): Promise<void>;
  /** Gratuitous ARP for each address on its interface. */
  announce(targets: { ifindex: number; address: string }[]): Promise<void>;
}

/** The slices of a bounded snapshot (status file, live view, metrics): a quarter of a listing's.
 *  The main thread takes each reply in one piece (structured clone: ~3 ms for a listing's slice
 *  of 1,024 real servers on a quiet machine, 16-60 ms under load), and a command waits for it. */
const BACKGROUND_SLICE: SliceLimits = { services: SERVICES_PER_SLICE / 4, servers: 256 };

/** Shared by both adapters: what is built from single requests. */
export abstract class RequestAdapter implements EngineAdapter {
  abstract readonly sizes: EngineSizes;
  protected abstract request(req: EngineRequest): Promise<EngineReply>;

  async snapshot(): Promise<EngineSnapshot> {
    const snap = await this.summary();
    const services: ServiceInfo[] = [];
    for await (const slice of this.serviceSlices()) for (const s of slice) services.push(s);
    return { ...snap, services };
  }

  async boundedSnapshot(limits: SnapshotLimits): Promise<EngineSnapshot> {
    const snap = await this.summary();
    const maxServices = limits.maxServices ?? Infinity;
    const maxServers = limits.maxServers ?? Infinity;
    const services: ServiceInfo[] = [];
    let servers = 0;
    const full = () => services.length >= maxServices || (!limits.thenWithoutServers && servers >= maxServers);
    for await (const slice of this.serviceSlices(false, () => servers < maxServers, BACKGROUND_SLICE)) {
      for (const s of slice) {
        if (full()) break;
        services.push(s);
        servers += s.realServers.length;
      }
      if (full()) break;
    }
    const omitted = { services: Math.max(0, (snap.serviceCount ?? services.length) - services.length), realServers: Math.max(0, (snap.realServerCount ?? servers) - servers) };
    return { ...snap, services, omitted };
  }

  /** wantServers (asked before each request): false once the reader has the real servers it
   *  wants; the services that follow come without theirs (a service under way is finished). */
  async *serviceSlices(sorted = false, wantServers: () => boolean = () => true, smaller?: SliceLimits): AsyncGenerator<ServiceInfo[]> {
    const order = sorted ? await this.sortedServices() : undefined;
    const end = order ? order.length : this.sizes.maxServices;
    // A service whose real servers go on in the next slice (one of more than SERVERS_PER_SLICE).
    let pending: ServiceInfo | undefined;
    for (let at: ServiceCursor = { service: 0, server: 0 }; at.service < end;) {
      // In sorted order a request carries its part of the order, and its cursor is relative to it.
      const part = order?.slice(at.service, at.service + SERVICES_PER_SLICE);
      const withServers = at.server > 0 || wantServers();
      const r = (await this.request({ op: "services", from: part ? { service: 0, server: at.server } : at, order: part, ...(withServers ? {} : { withServers }),
        ...(smaller ? { smaller } : {}) })) as
        { services: ServiceInfo[]; next: ServiceCursor };
      const items = r.services;
      let first = 0;
      if (pending && at.server > 0 && items[0]?.index === pending.index) {
        // The same record may hold another service by now (deleted and its record reused between
        // two requests): its servers are not the pending one's, and this part of them (from the
        // cursor on) is no service of its own; a service added after the listing passed it.
        if (sameServiceKey(items[0], pending)) for (const d of items[0].realServers) pending.realServers.push(d);
        first = 1;
      }
      const lastIsPartial = r.next.server > 0;
      const complete: ServiceInfo[] = [];
      // The pending service is complete unless this slice is still only more of it (or it was
      // deleted meanwhile: listed with the servers read before, as any listing of a changing table).
      if (pending && !(first === 1 && lastIsPartial && items.length === 1)) {
        complete.push(pending);
        pending = undefined;
      }
      for (let i = first; i < items.length; i++) {
        if (lastIsPartial && i === items.length - 1) pending = items[i];
        else complete.push(items[i]);
      }
      if (complete.length) yield complete;
      at = part ? { service: at.service + r.next.service, server: r.next.server } : r.next;
    }
    if (pending) yield [pending];
  }

  async *counterSlices(): AsyncGenerator<Float64Array> {
    for (let at: ServiceCursor = { service: 0, server: 0 }; at.service < this.sizes.maxServices;) {
      const r = (await this.request({ op: "counters", from: at })) as { rows: Float64Array; next: ServiceCursor };
      if (r.rows.length) yield r.rows;
      at = r.next;
    }
  }

  /** The table indices of the services in ipvsadm's order, from their keys read in slices. */
  private async sortedServices(): Promise<number[]> {
    const keys: number[] = [];
    for (let from = 0; from < this.sizes.maxServices;) {
      const r = (await this.request({ op: "serviceKeys", from })) as { keys: number[]; next: number };
      for (const k of r.keys) keys.push(k);
      from = r.next;
    }
    // Rows of five: index, mark, protocol, address, port (Engine.serviceKeysSlice).
    const rows = Array.from({ length: keys.length / 5 }, (_, i) => i * 5);
    rows.sort((a, b) => keys[a + 1] - keys[b + 1] || keys[a + 2] - keys[b + 2] || keys[a + 3] - keys[b + 3] || keys[a + 4] - keys[b + 4]);
    return rows.map((r) => keys[r]);
  }

  async applySet(set: ChangeSet): Promise<string[]> {
    if (isEmptyChangeSet(set)) return [];
    // The ops cross packed (one typed array, not an object each); refusals come back by op
    // and are put in words here, where each op was written.
    const packed = packOps(set.ops, set.director?.routes);
    try {
      return ((await this.request({ op: "apply", set: { ...set, ops: [] }, packed })) as { changes: string[] }).changes;
    } catch (e) {
      if (e instanceof PackedRefused) throw refusalError(explain(e.refusals, set.ops), set.file ?? "<change>");
      if (e instanceof ChangeRefused) throw refusalError(e.refusals, set.file ?? "<change>");
      throw e;
    }
  }

  async apply(prev: DirectorConfig, next: DirectorConfig): Promise<string[]> {
    const restart = restartErrors(prev, next);
    if (restart.length) throw ConfigError.all(restart);
    const plan = planDifference(prev, next);
    const refused = modelRefusals(next, plan.set, this.sizes, () => countsOf(prev));
    if (refused.length) throw ConfigError.all(refused);
    return [...plan.changes, ...await this.applySet(plan.set)];
  }

  async summary(): Promise<EngineSnapshot> {
    return ((await this.request({ op: "snapshot" })) as { snapshot: EngineSnapshot }).snapshot;
  }

  async connections(): Promise<ConnectionInfo[]> {
    const out: ConnectionInfo[] = [];
    for await (const slice of this.connectionSlices()) for (const c of slice) out.push(c);
    return out;
  }

  async *connectionSlices(): AsyncGenerator<ConnectionInfo[]> {
    // The IPv4 table's entries, then the IPv6 table's (end: where the latter stops now).
    for (let from = 0, end = this.sizes.connCapacity; from < end;) {
      const r = (await this.request({ op: "connections", from })) as { connections: ConnectionInfo[]; next: number; end: number };
      if (r.connections.length) yield r.connections;
      from = r.next;
      end = r.end;
    }
  }

  async zero(service?: ServiceKey): Promise<void> {
    await this.request({ op: "zero", service });
  }

  async announce(targets: { ifindex: number; address: string }[]): Promise<void> {
    await this.request({ op: "announce", targets });
  }

  async vrrpStart(): Promise<void> {
    await this.request({ op: "vrrpStart" });
  }

  async vrrpTrack(list: VrrpTracking[]): Promise<void> {
    await this.request({ op: "vrrpTrack", list });
  }

  async vrrpStop(): Promise<void> {
    await this.request({ op: "vrrpStop" });
  }

  async vrrpViews(): Promise<VrrpView[]> {
    return ((await this.request({ op: "vrrpViews" })) as { vrrp: VrrpView[] }).vrrp;
  }

  async sync(o: SyncRoles): Promise<void> {
    await this.request({ op: "sync", ...o });
  }


  async routes(o: { add?: { cidr: string; via?: string; ifindex: number }[]; remove?: string[] }): Promise<void> {
    await this.request({ op: "routes", ...o });
  }

  protected vrrpListeners: ((events: VrrpEvent[]) => void)[] = [];
  onVrrpEvents(f: (events: VrrpEvent[]) => void): void {
    this.vrrpListeners.push(f);
  }
}

/** The engine in this thread; frames a request emits go to sink (dropped by default).
 *  With vrrp, the configuration's VRRP state machines run here on that clock (unit tests). */
export class LocalEngine extends RequestAdapter {
  readonly sizes: EngineSizes;
  readonly loop: LoopStats = { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 };
  readonly vrrp?: InThreadVrrp;

  constructor(readonly engine: Engine, private readonly clock: () => number = () => 0, private readonly sink: (tx: number) => void = () => {},
    vrrp?: { config: DirectorConfig; clock: Clock; log?: (line: string) => void }) {
    super();
    this.sizes = engine;
    if (vrrp) {
      this.vrrp = new InThreadVrrp(vrrp.config, vrrp.clock, engineDevice(engine, vrrp.config, () => vrrp.clock.now(), sink), vrrp.log);
      this.vrrp.onVrrpEvents((e) => { for (const f of this.vrrpListeners) f(e); });
    }
  }

  protected async request(req: EngineRequest): Promise<EngineReply> {
    // Refusals as they would come from the data-path thread (the same error types).
    try {
      return serveRequest(this.engine, structuredClone(req), { nowMs: this.clock(), loop: this.loop, emit: this.sink, vrrp: this.vrrp?.machines });
    } catch (e) {
      throw fromFailure(toFailure(e));
    }
  }

  /** Hand the adverts the engine queued to the state machines (tests call it after feeding frames). */
  deliverAdverts(): void {
    for (const a of this.engine.takeVrrpAdverts()) this.vrrp?.machines.onAdvert(a.instance, a.message, a.src);
  }
}

/** The error a failure stood for, on the caller's side. */
export function fromFailure(f: RequestFailure): Error {
  if (f.kind === "refused") return f.packed ? new PackedRefused(f.packed) : new ChangeRefused(f.refusals ?? []);
  if (f.kind === "config") return new ConfigError(f.file!, f.line!, f.column!, f.keyword!, f.reason!);
  if (f.kind === "ipvsadm") return new IpvsadmError(f.error, f.status ?? 255);
  return new Error(f.error);
}

/** Whether a and b are the same service (ipvsadm's key: protocol, address and port, or mark). */
const sameServiceKey = (a: ServiceInfo, b: ServiceInfo): boolean =>
  a.protocol === b.protocol && a.address === b.address && a.port === b.port && a.fwmark === b.fwmark;
