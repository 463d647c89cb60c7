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

import type { Clock } from "../io/clock.js";
import { positionsAside, samePositionsAside, vrrpSpecs, type DirectorConfig } from "../config/director.js";
import type { Engine } from "../engine/index.js";
import { SYNC_REFRESH_MS } from "../engine/index.js";
import { parseAdvert, VrrpInstance, VrrpState } from "./state.js";
import type { VrrpView } from "./format.js";
import { ERROR } from "../io/log.js";
import type { VrrpInstanceConfig } from "../config/vrrp.js";
import { linkLocalOf } from "../config/vrrp.js";

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
  /** A reload: the engine's VRRP table becomes next's (instances in next's order, then
   *  static_ipaddress), master[i] saying which of next's instances own their addresses;
   *  gratuitous ARP for the static addresses next added. One step between two batches. */
  configure(next: DirectorConfig, master: boolean[]): void;
}

/** A change the main thread acts on (notify scripts, FIFOs, mail, logs, routes, sync). */
export type VrrpEvent =
  | { instance: number; name: string; state: VrrpState; why: string; priority: number }
  | { group: string; state: VrrpState }
  /** Instance i's backup now hears its master at this address (an advert's source). */
  | { instance: number; master: string };

/** What tracking (on the main thread) sets on instance i, in order: a weight-0 script
 *  that holds the start ("hold"), a reason for FAULT ("fault"), then the effective priority. */
export interface VrrpTracking {
  instance: number;
  /** The instance's name, which the state machines go by: a list sent while a reload is on
   *  its way to the data-path thread must not land on the instance that took its index. */
  name?: string;
  ops: ["hold" | "fault", string, boolean][];
  priority: number;
}

/** Instance i of cfg as the engine's device: adverts, ownership and gratuitous ARP are
 *  engine calls; tx frames they make go to flush at once. */
export function engineDevice(engine: Engine, cfg: DirectorConfig, nowMs: () => number, flush: (tx: number) => void): VrrpDevice {
  let vrrp = cfg.vrrp ?? [];
  let statics = cfg.staticAddresses ?? [];
  return {
    configure(next, master) {
      engine.setVrrpInstances(vrrpSpecs(next));
      master.forEach((m, i) => { if (m) engine.setVrrpMaster(i, true); });
      const had = new Set(statics.map((a) => a.address));
      vrrp = next.vrrp ?? [];
      statics = next.staticAddresses ?? [];
      for (const a of statics) if (!had.has(a.address)) flush(engine.sendGratuitousArp(a.ifindex, a.address, nowMs()));
    },
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
        // IPv6: an unsolicited neighbour advertisement (keepalived's vrrp_ndisc.c), with the
        // Router flag when the director forwards IPv6 (keepalived reads the interface's forwarding).
        if (t.address.includes(":")) flush(engine.sendUnsolicitedNa(t.ifindex, t.address, !!v.naRouter, nowMs()));
        else flush(engine.sendGratuitousArp(t.ifindex, t.address, nowMs()));
      }
    },
  };
}

/** What a reload keeps an instance by (keepalived's vrrp_exist): its interface, its VRID,
 *  its family (an IPv4 and an IPv6 instance may share both), unicast or multicast, use_vmac
 *  or not. Anything else may change in place. */
const identity = (v: VrrpInstanceConfig) => `${v.ifindex}/${v.vrid}/${v.ipv6 ? "6" : "4"}/${v.unicastPeers?.length ? "unicast" : "multicast"}/${v.vmac ? "vmac" : ""}`;

/** The VRRP part of a configuration, positions aside (a line added above is no change). */
export function vrrpPart(c: DirectorConfig): string {
  return positionsAside([c.vrrp ?? [], c.vrrpSyncGroups ?? [], c.staticAddresses ?? [], c.syncDaemon?.instance]);
}

/** What a reload changed in a kept instance, in the words of keepalived.conf. */
function whatChanged(a: VrrpInstanceConfig, b: VrrpInstanceConfig): string[] {
  const out: string[] = [];
  const same = samePositionsAside;
  if (a.name !== b.name) out.push(`was ${a.name}`);
  if (a.priority !== b.priority) out.push(`priority ${a.priority} -> ${b.priority}`);
  if (a.advertIntMs !== b.advertIntMs) out.push(`advert_int ${a.advertIntMs / 1000} -> ${b.advertIntMs / 1000} s`);
  if (a.version !== b.version) out.push(`version ${a.version} -> ${b.version}`);
  const all = (v: VrrpInstanceConfig) => [...v.addresses, ...(v.excludedAddresses ?? []).map((x) => x.address)];
  const added = all(b).filter((x) => !all(a).includes(x));
  const removed = all(a).filter((x) => !all(b).includes(x));
  if (added.length || removed.length) out.push([...added.map((x) => `+${x}`), ...removed.map((x) => `-${x}`)].join(" "));
  else if (!same(all(a), all(b)) || !same(a.addressIfindex, b.addressIfindex)) out.push("virtual_ipaddress");
  if (!same([a.trackScripts, a.trackFiles, a.trackInterfaces], [b.trackScripts, b.trackFiles, b.trackInterfaces])) out.push("tracking");
  if (!same([a.preempt, a.preemptDelayMs], [b.preempt, b.preemptDelayMs])) out.push(b.preempt ? `preempt_delay ${b.preemptDelayMs / 1000} s` : "nopreempt");
  if (!same([a.notify, a.notifyMaster, a.notifyBackup, a.notifyFault, a.notifyStop, a.smtpAlert], [b.notify, b.notifyMaster, b.notifyBackup, b.notifyFault, b.notifyStop, b.smtpAlert])) out.push("notify");
  const rest = (v: VrrpInstanceConfig) => {
    const { name, priority, advertIntMs, version, addresses, addrs, excludedAddresses, addressIfindex, trackScripts, trackFiles, trackInterfaces, preempt, preemptDelayMs,
      notify, notifyMaster, notifyBackup, notifyFault, notifyStop, smtpAlert, line, ...r } = v;
    return r;
  };
  if (!same(rest(a), rest(b))) out.push("other settings");
  return out;
}

export class VrrpMachines {
  instances: VrrpInstance[] = [];
  private moving = false;
  /** Each sync group's state as last announced. */
  private readonly groupState = new Map<string, VrrpState>();
  private stopped = false;
  private cfg: DirectorConfig;

  /** log: an engine call that failed (said once per call, the machine goes on). */
  constructor(cfg: DirectorConfig, private readonly clock: Clock, private readonly dev: VrrpDevice, private readonly emit: (e: VrrpEvent) => void,
    private readonly log: (line: string) => void = () => {}) {
    this.cfg = cfg;
    this.instances = (cfg.vrrp ?? []).map((v) => this.make(v));
  }

  /** With connection sync, a returning master waits a full refresh of the table before it
   *  preempts, so it never takes over with connections it has not seen (keepalived #237). */
  private settings(vcfg: VrrpInstanceConfig): VrrpInstanceConfig {
    const cfg = this.cfg;
    const syncedGroup = (cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(cfg.syncDaemon?.instance ?? ""));
    const synced = cfg.syncDaemon?.instance === vcfg.name || !!syncedGroup?.members.includes(vcfg.name);
    return synced ? { ...vcfg, preemptDelayMs: Math.max(vcfg.preemptDelayMs, SYNC_REFRESH_MS + 1000) } : vcfg;
  }

  /** An instance of this.cfg; its engine index is its place in this.instances (a reload moves it). */
  private make(vcfg: VrrpInstanceConfig): VrrpInstance {
    // The address its adverts leave from (a tie of priorities goes to the higher): IPv6, the interface's link-local.
    const own = vcfg.ipv6 ? linkLocalOf(this.cfg.interfaces, vcfg.ifindex) ?? "::"
      : this.cfg.interfaces.find((x) => x.index === vcfg.ifindex)?.address?.split("/")[0] ?? "0.0.0.0";
    const dev = this.dev;
    let vi: VrrpInstance;
    const at = () => this.instances.indexOf(vi);
    const guard = (what: string, f: () => void) => {
      try {
        f();
      } catch (e) {
        this.log(`${ERROR}VRRP ${vi.cfg.name}: ${what} failed: ${(e as Error).message}`);
      }
    };
    vi = new VrrpInstance(this.settings(vcfg), this.clock, {
      sendAdvert: (priority) => guard("an advert", () => dev.sendAdvert(at(), priority)),
      setMaster: (master) => guard("taking or leaving the addresses", () => dev.setMaster(at(), master)),
      announce: () => guard("gratuitous ARP", () => dev.announce(at())),
      changed: (state, why) => this.changed(vi, state, why),
      mayBecomeMaster: () => this.groupLets(vi),
      // A new master's address: connection sync's source filter learns it here, on this
      // thread, with no hop through the main thread; the event is for the log.
      masterSeen: (src) => {
        // (An IPv6 instance's master speaks from its link-local address; connection sync runs
        // over IPv4 from another address, which the master's adverts do not tell.)
        if (this.cfg.syncDaemon?.instance === vi.cfg.name && !vi.cfg.ipv6) guard("following the master for connection sync", () => dev.syncMaster(src));
        this.emit({ instance: at(), master: src });
      },
    }, own);
    return vi;
  }

  /** Start every instance not started yet (at start; after a reload, the ones it added,
   *  once the service has sent their tracking). */
  start(): void {
    if (this.stopped) return;
    for (const vi of this.instances) vi.start();
  }

  /**
   * A reload, between two batches: next's instances and sync groups, all at once. An instance
   * next keeps (identity()) keeps its state and takes next's settings (VrrpInstance.reconfigure);
   * one next drops leaves as keepalived's clear_diff_vrrp has it leave — a master resigns
   * (priority 0, so that a backup takes over after its Skew) and gives up its addresses — with
   * a FAULT event (keepalived's notify for a deleted instance); one next adds waits in INIT
   * for start(). A sync group whose members now disagree is left so until one of them moves
   * (keepalived's group is master only when all its members are); the others follow that
   * move. Returns what changed.
   */
  reconfigure(next: DirectorConfig): string[] {
    if (this.stopped || vrrpPart(next) === vrrpPart(this.cfg)) {
      this.cfg = next;
      return [];
    }
    const changes: string[] = [];
    const old = new Map(this.instances.map((vi) => [identity(vi.cfg), vi]));
    const kept = new Map<VrrpInstance, VrrpInstanceConfig>();
    for (const v of next.vrrp ?? []) {
      const vi = old.get(identity(v));
      if (vi && !kept.has(vi)) kept.set(vi, v);
    }
    // Removed first, with the old table (their adverts need their old engine index).
    for (const vi of this.instances) {
      if (kept.has(vi)) continue;
      vi.stop("removed by a reload", true);
      changes.push(`VRRP instance ${vi.cfg.name} removed`);
    }
    const prevCfg = this.cfg;
    const before = new Map([...kept].map(([vi]) => [vi, { addresses: new Set([...vi.cfg.addresses, ...(vi.cfg.excludedAddresses ?? []).map((x) => x.address)]), cfg: vi.cfg }]));
    this.cfg = next;
    this.instances = (next.vrrp ?? []).map((v) => [...kept].find(([, c]) => c === v)?.[0] ?? this.make(v));
    this.dev.configure(next, this.instances.map((vi) => vi.state === "MASTER"));
    // lvs_sync_daemon now follows another instance (or starts following one): a backup's
    // master is where unicast sync may come from (masterSeen tells only of a change).
    const si = next.syncDaemon && next.syncDaemon.instance !== prevCfg.syncDaemon?.instance ? this.byName(next.syncDaemon.instance) : undefined;
    if (si?.state === "BACKUP" && si.lastMaster) this.dev.syncMaster(si.lastMaster.src);
    for (const vi of this.instances) {
      const was = before.get(vi);
      if (!was) { changes.push(`VRRP instance ${vi.cfg.name} added`); continue; }
      const v = this.settings(kept.get(vi)!);
      const added = [...v.addresses, ...(v.excludedAddresses ?? []).map((x) => x.address)].some((a) => !was.addresses.has(a));
      if (samePositionsAside(was.cfg, v)) continue;
      vi.reconfigure(v, added && vi.state === "MASTER");
      changes.push(`VRRP instance ${v.name} reconfigured (${whatChanged(was.cfg, v).join(", ")}), still ${vi.state}`);
    }
    const statics = (c: DirectorConfig) => (c.staticAddresses ?? []).map((a) => a.address).join(" ");
    if (statics(prevCfg) !== statics(next)) changes.push(`static_ipaddress now ${statics(next) || "none"}`);
    const groups = new Set((next.vrrpSyncGroups ?? []).map((g) => g.name));
    const had = new Set((prevCfg.vrrpSyncGroups ?? []).map((g) => g.name));
    for (const g of groups) if (!had.has(g)) changes.push(`VRRP sync group ${g} added`);
    for (const g of had) if (!groups.has(g)) changes.push(`VRRP sync group ${g} removed`);
    for (const g of this.groupState.keys()) if (!groups.has(g)) this.groupState.delete(g);
    return changes;
  }

  /** An advert the engine queued for instance i (checked for length, TTL, checksum, VRID, version). */
  onAdvert(i: number, message: Uint8Array, src: string): void {
    this.instances[i]?.onAdvert(parseAdvert(message, src));
  }

  /** Tracking's results: each instance's holds, faults and priority (the whole list of its
   *  trackers: a reason not in it is gone), then the sync groups: a group is in FAULT while
   *  any member has a fault of its own. */
  track(list: VrrpTracking[]): void {
    if (this.stopped) return;
    for (const t of list) {
      const vi = t.name !== undefined ? this.byName(t.name) : this.instances[t.instance];
      if (!vi) continue;
      vi.retain(new Set(t.ops.map(([, key]) => key)));
      for (const [op, key, on] of t.ops) {
        if (op === "hold") vi.hold(key, on);
        else vi.setFault(key, on);
      }
      vi.setPriority(t.priority);
    }
    const groups = this.cfg.vrrpSyncGroups ?? [];
    // A member a reload took out of its group (or into another) drops the old group's fault.
    for (const vi of this.instances) {
      const g = groups.find((x) => x.members.includes(vi.cfg.name));
      vi.groupFaults(g ? `sync group ${g.name}` : undefined);
    }
    for (const g of groups) {
      const members = g.members.map((m) => this.byName(m)).filter((x): x is VrrpInstance => !!x);
      const down = members.filter((m) => m.ownFault()).map((m) => m.cfg.name);
      for (const m of members) m.setFault(`sync group ${g.name}`, down.length > 0 && !down.includes(m.cfg.name));
    }
  }

  private byName(name: string): VrrpInstance | undefined {
    return this.instances.find((x) => x.cfg.name === name);
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

  private changed(vi: VrrpInstance, state: VrrpState, why: string): void {
    const v = vi.cfg;
    this.emit({ instance: this.instances.indexOf(vi), name: v.name, state, why, priority: vi.priority });
    // A sync group moves together: the others follow this one (keepalived's vrrp_sync_group).
    // A member moved by the group (moving) leaves the group's part to the one that moved it.
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(v.name));
    if (!group || this.moving || state === "STOP" || state === "INIT") return;
    // A member a reload added to a running group starts as backup without taking the others
    // down with it (keepalived's reload would move a master group to backup for an advert
    // interval): its own timer decides, and it becomes master with the group (groupLets).
    if (why === "start" && this.groupState.has(group.name)) return;
    if (state !== "FAULT") {
      this.moving = true;
      try {
        for (const m of group.members) {
          const other = this.byName(m);
          if (other && other !== vi) other.follow(state, `sync group ${group.name}: ${v.name} is ${state}`);
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
  private groupLets(vi: VrrpInstance): boolean {
    const name = vi.cfg.name;
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(name));
    if (!group) return true;
    return group.members.every((m) => {
      if (m === name) return true;
      const other = this.byName(m);
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
