// The engine as the control plane sees it (Katran's BpfAdapter): ask for a snapshot,
// apply a change set, list connections, zero counters, announce addresses. The live
// director implements it with the data-path thread (host/dataplane/client.ts); tests and
// `wasmvs check` use LocalEngine, the same requests served in this thread.

import { ConnectionInfo, Engine, VrrpAdvert } from "../engine/index.js";
import { EngineReply, EngineRequest, EngineSnapshot, serveRequest } from "../dataplane/requests.js";
import { LoopStats } from "../dataplane/loop.js";
import { DirectorConfig } from "./rules.js";
import { validateOnScratch } from "./reload.js";
import { ServiceKey } from "./ipvsadm.js";

/** Connection sync's settings as the control plane sets them (Engine.setSync). */
export interface SyncRoles {
  send: boolean;
  receive: boolean;
  ifindex: number;
  syncid: number;
  maxlen: number;
  peer?: string;
  from?: string;
}

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
  /** VRRP instance i: master or not, and/or send an advert with this priority. */
  /** advert: send one with this priority, to 224.0.0.18 or to each of peers (unicast_peer). */
  vrrp(instance: number, o: { master?: boolean; advert?: number; peers?: string[] }): Promise<void>;
  /** f with the adverts the engine receives for the host's VRRP instances. */
  onVrrpAdverts(f: (adverts: VrrpAdvert[]) => void): void;
  /** Connection sync's roles; peer: where a master sends (unicast), from: whom a backup takes
   *  unicast sync from. */
  sync(o: SyncRoles): Promise<void>;
  /** The master of the VRRP instance sync follows, as learned from its adverts (undefined:
   *  none): a backup takes unicast sync from it. The one hook VRRP has into sync. */
  syncAcceptFrom(address: string | undefined): Promise<void>;
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

  async vrrp(instance: number, o: { master?: boolean; advert?: number; peers?: string[] }): Promise<void> {
    await this.request({ op: "vrrp", instance, ...o });
  }

  async sync(o: SyncRoles): Promise<void> {
    await this.request({ op: "sync", ...o });
  }

  async syncAcceptFrom(address: string | undefined): Promise<void> {
    await this.request({ op: "syncMaster", address });
  }

  async routes(o: { add?: { cidr: string; via?: string; ifindex: number }[]; remove?: string[] }): Promise<void> {
    await this.request({ op: "routes", ...o });
  }

  protected advertListeners: ((adverts: VrrpAdvert[]) => void)[] = [];
  onVrrpAdverts(f: (adverts: VrrpAdvert[]) => void): void {
    this.advertListeners.push(f);
  }
}

/** The engine in this thread; frames a request emits go to sink (dropped by default). */
export class LocalEngine extends RequestAdapter {
  readonly sizes: EngineSizes;
  readonly loop: LoopStats = { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 };

  constructor(readonly engine: Engine, private readonly clock: () => number = () => 0, private readonly sink: (tx: number) => void = () => {}) {
    super();
    this.sizes = engine;
  }

  protected async request(req: EngineRequest): Promise<EngineReply> {
    return serveRequest(this.engine, req, this.clock(), this.loop, this.sink);
  }

  /** Hand the adverts the engine queued to the listeners (tests call it after feeding frames). */
  deliverAdverts(): void {
    const a = this.engine.takeVrrpAdverts();
    if (a.length) for (const f of this.advertListeners) f(a);
  }
}
