// The engine as the control plane sees it (Katran's BpfAdapter): ask for a snapshot,
// apply a change set, list connections, zero counters, announce addresses. The live
// director implements it with the data-path thread (host/dataplane/client.ts); tests and
// `wasmvs check` use LocalEngine, the same requests served in this thread.

import { ConnectionInfo, Engine } from "../engine/index.js";
import { EngineReply, EngineRequest, EngineSnapshot, serveRequest } from "./requests.js";
import { LoopStats } from "./loop.js";
import { DirectorConfig } from "../config/rules.js";
import { validateOnScratch } from "./reload.js";
import { ServiceKey } from "../config/ipvsadm.js";
import type { Clock } from "../io/clock.js";
import { engineDevice, InThreadVrrp, VrrpEvent, VrrpTracking } from "../vrrp/machines.js";
import type { VrrpView } from "../vrrp/format.js";
import type { SyncRoles } from "../config/vrrp.js";

export type { SyncRoles };

/** Connection sync's settings as the control plane sets them (Engine.setSync). */
export interface EngineSizes {
  slotSize: number;
  maxServices: number;
  maxRealServers: number;
  connCapacity: number;
}

export interface EngineAdapter {
  readonly sizes: EngineSizes;
  snapshot(): Promise<EngineSnapshot>;
  /** Validate next on a scratch engine, then apply its difference from prev: all or nothing. */
  apply(prev: DirectorConfig, next: DirectorConfig): Promise<string[]>;
  /** The whole connection table, read in bounded slices. */
  connections(): Promise<ConnectionInfo[]>;
  zero(service?: ServiceKey): Promise<void>;
  /** Gratuitous ARP for each address on its interface. */
  announce(targets: { ifindex: number; address: string }[]): Promise<void>;
  /** VRRP's state machines live with the engine (host/vrrp/machines.ts): start them, give
   *  them tracking's results, stop them (masters resign; resolves once the adverts left and
   *  after the STOP events), read their views, and f with their state changes. */
  vrrpStart(): Promise<void>;
  vrrpTrack(list: VrrpTracking[]): Promise<void>;
  vrrpStop(): Promise<void>;
  vrrpViews(): Promise<VrrpView[]>;
  onVrrpEvents(f: (events: VrrpEvent[]) => void): void;
  /** Connection sync's roles; peer: where a master sends (unicast), from: whom a backup takes
   *  unicast sync from. */
  sync(o: SyncRoles): Promise<void>;
  /** Routes that come and go with a VRRP instance (virtual_routes); removing one absent is no error. */
  routes(o: { add?: { cidr: string; via?: string; ifindex: number }[]; remove?: string[] }): Promise<void>;
}

/** Shared by both adapters: what is built from single requests. */
export abstract class RequestAdapter implements EngineAdapter {
  abstract readonly sizes: EngineSizes;
  protected abstract request(req: EngineRequest): Promise<EngineReply>;

  async snapshot(): Promise<EngineSnapshot> {
    return ((await this.request({ op: "snapshot" })) as { snapshot: EngineSnapshot }).snapshot;
  }

  async apply(prev: DirectorConfig, next: DirectorConfig): Promise<string[]> {
    await validateOnScratch(this.sizes, prev, next);
    return ((await this.request({ op: "apply", prev, next })) as { changes: string[] }).changes;
  }

  async connections(): Promise<ConnectionInfo[]> {
    const out: ConnectionInfo[] = [];
    for (let from = 0; from < this.sizes.connCapacity;) {
      const r = (await this.request({ op: "connections", from })) as { connections: ConnectionInfo[]; next: number };
      for (const c of r.connections) out.push(c);
      from = r.next;
    }
    return out;
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
    return serveRequest(this.engine, req, { nowMs: this.clock(), loop: this.loop, emit: this.sink, vrrp: this.vrrp?.machines });
  }

  /** Hand the adverts the engine queued to the state machines (tests call it after feeding frames). */
  deliverAdverts(): void {
    for (const a of this.engine.takeVrrpAdverts()) this.vrrp?.machines.onAdvert(a.instance, a.message, a.src);
  }
}
