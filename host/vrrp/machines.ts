// The director's VRRP state machines (state.ts), their sync groups and their timers, where
// nothing else can delay them: on the data-path thread, beside the engine (issue 16). Its
// loop sleeps in epoll_wait only until the next VRRP timer, runs the timers whenever it wakes
// and between long pieces of work (a listing slice, an apply of thousands of servers: see
// thread.ts), and hands received adverts over straight from the engine; an advert is one
// engine call, written to the TAP at once. So a busy control plane (a scrape of 4,000
// servers, a root -R, a listing of 262k connections) cannot make a master late, and a
// master whose data path stops also stops advertising: the backup takes over from a
// director that no longer forwards, never from one that does.
//
// What stays on the main thread (service.ts): tracking (scripts, interfaces, files) sent
// here as ops, and what a state change sets off (notify scripts, FIFOs, mail, logs,
// virtual_routes, connection sync's role), sent there as events. A worker of VRRP's own
// would have kept its timers free of the data path's work too, but would need a message
// hop (and a liveness check of the data path) for every advert and every change of master.
//
// The same class runs in the main thread on a fake clock for the unit tests, and with the
// in-thread engine adapter (LocalEngine).

import type { Clock } from "../control/clock.js";
import type { DirectorConfig } from "../control/rules.js";
import type { Engine } from "../engine/index.js";
import { SYNC_REFRESH_MS } from "../engine/index.js";
import { parseAdvert, VrrpInstance, VrrpState } from "./state.js";
import type { VrrpView } from "./format.js";
import { ERROR } from "../io/log.js";

/** What the state machines ask of the engine. */
export interface VrrpDevice {
  /** An advert with this priority (to 224.0.0.18, or to each unicast_peer). */
  sendAdvert(i: number, priority: number): void;
  /** The engine owns instance i's addresses (answers and forwards for them) or not. */
  setMaster(i: number, master: boolean): void;
  /** Gratuitous ARP for every address of instance i. */
  announce(i: number): void;
  /** Connection sync's instance hears its master at address: a backup takes unicast sync
   *  from there (assembly/ha/sync.ts), and from nowhere else unless a peer is configured. */
  syncMaster(address: string): void;
}

/** A change the main thread acts on (notify scripts, FIFOs, mail, logs, routes, sync). */
export type VrrpEvent =
  | { instance: number; state: VrrpState; why: string; priority: number }
  | { group: string; state: VrrpState }
  /** Instance i's backup now hears its master at this address (an advert's source). */
  | { instance: number; master: string };

/** What tracking (on the main thread) sets on instance i, in order: a weight-0 script
 *  that holds the start ("hold"), a reason for FAULT ("fault"), then the effective priority. */
export interface VrrpTracking {
  instance: number;
  ops: ["hold" | "fault", string, boolean][];
  priority: number;
}

/** Instance i of cfg as the engine's device: adverts, ownership and gratuitous ARP are
 *  engine calls; tx frames they make go to flush at once. */
export function engineDevice(engine: Engine, cfg: DirectorConfig, nowMs: () => number, flush: (tx: number) => void): VrrpDevice {
  const vrrp = cfg.vrrp ?? [];
  return {
    sendAdvert(i, priority) {
      const peers = vrrp[i].unicastPeers;
      if (peers?.length) for (const p of peers) flush(engine.sendVrrpAdvert(i, priority, nowMs(), p));
      else flush(engine.sendVrrpAdvert(i, priority, nowMs()));
    },
    setMaster(i, master) {
      engine.setVrrpMaster(i, master);
    },
    syncMaster(address) {
      engine.setSyncMaster(address);
    },
    announce(i) {
      const v = vrrp[i];
      for (const t of [...v.addresses.map((address, k) => ({ ifindex: v.addressIfindex[k], address })), ...(v.excludedAddresses ?? [])]) {
        flush(engine.sendGratuitousArp(t.ifindex, t.address, nowMs()));
      }
    },
  };
}

export class VrrpMachines {
  readonly instances: VrrpInstance[] = [];
  private moving = false;
  /** Each sync group's state as last announced. */
  private readonly groupState = new Map<string, VrrpState>();
  private stopped = false;

  /** log: an engine call that failed (said once per call, the machine goes on). */
  constructor(private readonly cfg: DirectorConfig, clock: Clock, dev: VrrpDevice, private readonly emit: (e: VrrpEvent) => void,
    log: (line: string) => void = () => {}) {
    (cfg.vrrp ?? []).forEach((vcfg, i) => {
      // With connection sync, a returning master waits a full refresh of the table before it
      // preempts, so it never takes over with connections it has not seen (keepalived #237).
      const syncedGroup = (cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(cfg.syncDaemon?.instance ?? ""));
      const synced = cfg.syncDaemon?.instance === vcfg.name || !!syncedGroup?.members.includes(vcfg.name);
      const v = synced ? { ...vcfg, preemptDelayMs: Math.max(vcfg.preemptDelayMs, SYNC_REFRESH_MS + 1000) } : vcfg;
      const own = cfg.interfaces.find((x) => x.index === v.ifindex)?.address?.split("/")[0] ?? "0.0.0.0";
      const guard = (what: string, f: () => void) => {
        try {
          f();
        } catch (e) {
          log(`${ERROR}VRRP ${v.name}: ${what} failed: ${(e as Error).message}`);
        }
      };
      this.instances.push(new VrrpInstance(v, clock, {
        sendAdvert: (priority) => guard("an advert", () => dev.sendAdvert(i, priority)),
        setMaster: (master) => guard("taking or leaving the addresses", () => dev.setMaster(i, master)),
        announce: () => guard("gratuitous ARP", () => dev.announce(i)),
        changed: (state, why) => this.changed(i, state, why),
        mayBecomeMaster: () => this.groupLets(i),
        // A new master's address: connection sync's source filter learns it here, on this
        // thread, with no hop through the main thread; the event is for the log.
        masterSeen: (src) => {
          if (cfg.syncDaemon?.instance === v.name) guard("following the master for connection sync", () => dev.syncMaster(src));
          this.emit({ instance: i, master: src });
        },
      }, own));
    });
  }

  start(): void {
    for (const vi of this.instances) vi.start();
  }

  /** An advert the engine queued for instance i (checked for length, TTL, checksum, VRID, version). */
  onAdvert(i: number, message: Uint8Array, src: string): void {
    this.instances[i]?.onAdvert(parseAdvert(message, src));
  }

  /** Tracking's results: each instance's holds, faults and priority, then the sync groups:
   *  a group is in FAULT while any member has a fault of its own. */
  track(list: VrrpTracking[]): void {
    if (this.stopped) return;
    for (const t of list) {
      const vi = this.instances[t.instance];
      if (!vi) continue;
      for (const [op, key, on] of t.ops) {
        if (op === "hold") vi.hold(key, on);
        else vi.setFault(key, on);
      }
      vi.setPriority(t.priority);
    }
    for (const g of this.cfg.vrrpSyncGroups ?? []) {
      const members = g.members.map((m) => this.instances[this.cfg.vrrp!.findIndex((x) => x.name === m)]).filter(Boolean);
      const down = members.filter((m) => m.ownFault()).map((m) => m.cfg.name);
      for (const m of members) m.setFault(`sync group ${g.name}`, down.length > 0 && !down.includes(m.cfg.name));
    }
  }

  /** Resign every master (priority 0, sent before this returns) and stop. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const vi of this.instances) vi.stop();
  }

  views(): VrrpView[] {
    return this.instances.map((vi) => vi.view());
  }

  private changed(i: number, state: VrrpState, why: string): void {
    const v = this.cfg.vrrp![i];
    this.emit({ instance: i, state, why, priority: this.instances[i].priority });
    // A sync group moves together: the others follow this one (keepalived's vrrp_sync_group).
    // A member moved by the group (moving) leaves the group's part to the one that moved it.
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(v.name));
    if (!group || this.moving || state === "STOP" || state === "INIT") return;
    if (state !== "FAULT") {
      this.moving = true;
      try {
        for (const m of group.members) {
          const k = this.cfg.vrrp!.findIndex((x) => x.name === m);
          if (k !== i) this.instances[k]?.follow(state, `sync group ${group.name}: ${v.name} is ${state}`);
        }
      } finally {
        this.moving = false;
      }
    }
    if (this.groupState.get(group.name) === state) return;
    this.groupState.set(group.name, state);
    this.emit({ group: group.name, state });
  }

  /** keepalived's vrrp_sync_can_goto_master: an instance of a sync group becomes master only
   *  when the group is master already or every other member would be too. */
  private groupLets(i: number): boolean {
    const name = this.cfg.vrrp![i].name;
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(name));
    if (!group) return true;
    return group.members.every((m) => {
      if (m === name) return true;
      const other = this.instances[this.cfg.vrrp!.findIndex((x) => x.name === m)];
      return !other || other.state === "MASTER" || other.wantMaster;
    });
  }
}

/** The machines in this thread behind the adapter's VRRP calls (LocalEngine, unit tests):
 *  requests served at once, events handed to the listeners as they happen. */
export class InThreadVrrp {
  readonly machines: VrrpMachines;
  private readonly listeners: ((events: VrrpEvent[]) => void)[] = [];

  constructor(cfg: DirectorConfig, clock: Clock, dev: VrrpDevice, log?: (line: string) => void) {
    this.machines = new VrrpMachines(cfg, clock, dev, (e) => { for (const f of this.listeners) f([e]); }, log);
  }

  async vrrpStart(): Promise<void> {
    this.machines.start();
  }

  async vrrpTrack(list: VrrpTracking[]): Promise<void> {
    this.machines.track(list);
  }

  async vrrpStop(): Promise<void> {
    this.machines.stop();
  }

  async vrrpViews(): Promise<VrrpView[]> {
    return this.machines.views();
  }

  onVrrpEvents(f: (events: VrrpEvent[]) => void): void {
    this.listeners.push(f);
  }
}
