// VRRP as a service of the director, main-thread side. The state machines, their sync
// groups and their timers run with the engine on the data-path thread (machines.ts: why);
// this side feeds them what keepalived tracks (track.ts: vrrp_scripts run as processes,
// interfaces' links and tracked files polled) as ops, and acts on their state changes:
// keepalived's notify scripts with keepalived's arguments (`notify_master` etc. as written,
// `notify SCRIPT` with "INSTANCE" NAME STATE PRIORITY, and the same for sync groups), a line
// on the notify FIFOs, mail, the log, virtual_routes (the master's), connection sync's role.
// Nothing here is on VRRP's clock: a stalled event loop delays a notify script, never an advert.

import type { Clock, Timer } from "../io/clock.js";
import type { SyncRoles } from "../config/vrrp.js";
import { positionsAside, samePositionsAside, type DirectorConfig } from "../config/rules.js";
import { ScriptRunner } from "../health/scripts.js";
import { Mailer } from "../health/mail.js";
import { HEALTH_DEFAULTS } from "../config/health.js";
import type { VrrpState } from "./state.js";
import type { VrrpView } from "./format.js";
import type { VrrpEvent, VrrpTracking } from "./machines.js";
import { faults, fileStatus, FILE_POLL_MS, LINK_POLL_MS, ScriptTracker, tapLinkUp, weightOf } from "./track.js";
import { trackedValue } from "../health/checkers/file.js";
import { fifoLine, NotifyFifos } from "../health/notify-fifo.js";
import { ERROR, NOTICE, WARNING } from "../io/log.js";

/** What the VRRP service asks of the engine, whose state machines run beside it (the engine
 *  adapter, host/dataplane/adapter.ts, is one). */
export interface VrrpEngine {
  /** Start the state machines, give them tracking's results, stop them (masters resign;
   *  resolves once the adverts left and after the STOP events), read their views, and f
   *  with their state changes. */
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

export interface VrrpServiceOptions {
  clock: Clock;
  engine: VrrpEngine;
  log: (line: string) => void;
  scripts?: ScriptRunner;
  /** Sets connection sync's roles (the director's SyncDaemons, so that -L --daemon shows
   *  them); default: the engine directly. */
  sync?: (o: SyncRoles) => Promise<void>;
  /** The director's notify FIFOs (shared with the checkers); default: its own from the configuration. */
  fifos?: NotifyFifos;
  /** An interface's link (by ifindex); default: the TAP device's state (SIOCGIFFLAGS). */
  linkUp?: (ifindex: number) => boolean;
}

export class VrrpService {
  private readonly mail?: Mailer;
  private readonly fifos: NotifyFifos;
  /** The FIFOs are this service's own (opened and closed here) unless the director shares them. */
  private readonly ownFifos: boolean;
  private readonly scripts: ScriptRunner;
  readonly trackers = new Map<string, ScriptTracker>();
  /** Each interface's last known link state. */
  private readonly links = new Map<number, boolean>();
  private linkTimer?: Timer;
  /** Each tracked file's last value. */
  private readonly files = new Map<string, number>();
  private fileTimer?: Timer;
  private readonly linkUp: (ifindex: number) => boolean;
  /** What the state machines were last told, so that only changes are sent. */
  private lastTracking = "";
  private stopped = false;

  constructor(private cfg: DirectorConfig, private readonly o: VrrpServiceOptions) {
    this.scripts = o.scripts ?? new ScriptRunner({ security: cfg.health?.enableScriptSecurity ?? false, user: cfg.health?.scriptUser, log: o.log });
    this.mail = Mailer.from(cfg.health, o.log);
    this.ownFifos = !o.fifos;
    this.fifos = o.fifos ?? new NotifyFifos(cfg.notifyFifos ?? [], o.log);
    this.linkUp = o.linkUp ?? ((ifindex) => {
      const i = cfg.interfaces.find((x) => x.index === ifindex);
      // A ring-attached interface's link is its device's (the host's own interface).
      return i ? tapLinkUp(i.device ?? i.tap) : false;
    });
    for (const sc of cfg.vrrpScripts ?? []) {
      this.trackers.set(sc.name, new ScriptTracker(sc, o.clock, this.scripts, () => this.retrack(), o.log));
    }
    o.engine.onVrrpEvents((events) => {
      for (const e of events) {
        if ("group" in e) this.groupChanged(e.group, e.state);
        else if ("master" in e) this.masterSeen(e.instance, e.master);
        else this.changed(e.name, e.state, e.why, e.priority);
      }
    });
  }

  start(): void {
    if (this.ownFifos) this.fifos.open();
    for (const i of this.trackedLinks()) this.links.set(i, this.linkUp(i));
    for (const v of this.cfg.vrrp ?? []) for (const f of v.trackFiles) this.files.set(f.path, trackedValue(f.path));
    this.retrack();
    this.track(this.o.engine.vrrpStart().catch((e) => this.o.log(`${ERROR}VRRP: not started: ${(e as Error).message}`)));
    for (const t of this.trackers.values()) t.start();
    if (this.links.size) this.pollLinks();
    if (this.files.size) this.pollFiles();
  }

  /** keepalived watches tracked files with inotify; this reads them every FILE_POLL_MS (as FILE_CHECK does). */
  private pollFiles(): void {
    this.fileTimer = this.o.clock.after(FILE_POLL_MS, () => {
      let changed = false;
      for (const [path, was] of this.files) {
        const v = trackedValue(path);
        if (v !== was) {
          this.files.set(path, v);
          changed = true;
          this.o.log(`${NOTICE}VRRP: tracked file ${path} reads ${v}`);
        }
      }
      if (changed) this.retrack();
      this.pollFiles();
    });
  }

  private trackedLinks(): Set<number> {
    return new Set((this.cfg.vrrp ?? []).flatMap((v) => v.trackInterfaces.map((t) => t.ifindex)));
  }

  private pollLinks(): void {
    this.linkTimer = this.o.clock.after(LINK_POLL_MS, () => {
      let changed = false;
      for (const [i, was] of this.links) {
        const up = this.linkUp(i);
        if (up !== was) {
          this.links.set(i, up);
          changed = true;
          const name = this.cfg.interfaces.find((x) => x.index === i)?.name ?? `if${i}`;
          this.o.log(`${NOTICE}VRRP: interface ${name} is ${up ? "up" : "down"}`);
        }
      }
      if (changed) this.retrack();
      this.pollLinks();
    });
  }

  /** Every instance's faults and effective priority from its trackers' states, sent to the
   *  state machines (which put a sync group in FAULT while any member has a fault of its own). */
  private retrack(): void {
    const list: VrrpTracking[] = (this.cfg.vrrp ?? []).map((v, instance) => {
      const ops: VrrpTracking["ops"] = [];
      let total = v.priority;
      for (const t of v.trackScripts) {
        const good = this.trackers.get(t.script)?.good;
        const key = `script ${t.script}`;
        ops.push(["hold", key, good === undefined && t.weight === 0]);
        if (good === undefined) continue;
        ops.push(["fault", key, faults(t, good)]);
        total += weightOf(t, good);
      }
      for (const t of v.trackFiles) {
        const st = fileStatus(t, this.files.get(t.path) ?? 0);
        ops.push(["fault", `file ${t.name}`, st === "FAULT"]);
        if (st !== "FAULT") total += st;
      }
      for (const t of v.trackInterfaces) {
        const up = this.links.get(t.ifindex) ?? true;
        ops.push(["fault", `interface ${t.interfaceName} ${t.reverse ? "up (tracked reversed)" : "down"}`, faults(t, up)]);
        total += weightOf(t, up);
      }
      return { instance, name: v.name, ops, priority: total };
    });
    const text = JSON.stringify(list);
    if (text === this.lastTracking || this.stopped) return;
    this.lastTracking = text;
    this.track(this.o.engine.vrrpTrack(list).catch((e) => this.o.log(`${ERROR}VRRP: tracking not applied: ${(e as Error).message}`)));
  }

  /**
   * A reload the engine took (its state machines already reconfigured: machines.ts): the
   * trackers follow — a vrrp_script that stays the same keeps running and its result, one
   * whose command stays keeps its result (keepalived's clear_diff_script), the others start
   * afresh; tracked interfaces and files are polled as next lists them — then every
   * instance's tracking is sent again (their order may have moved), the instances the reload
   * added start, and a master's changed virtual_routes are swapped (keepalived's
   * clear_diff_vrrp_vroutes).
   */
  reconfigure(next: DirectorConfig): void {
    const part = (c: DirectorConfig) => positionsAside([c.vrrp ?? [], c.vrrpScripts ?? [], c.vrrpSyncGroups ?? []]);
    if (this.stopped) return;
    const prev = this.cfg;
    if (!samePositionsAside(prev.syncDaemon, next.syncDaemon)) {
      this.resync(prev, next);
    }
    if (this.ownFifos) this.fifos.reconfigure(next.notifyFifos ?? []);
    if (part(next) === part(this.cfg)) { this.cfg = next; return; }
    this.cfg = next;
    const same = samePositionsAside;
    const old = new Map(this.trackers);
    this.trackers.clear();
    const fresh: ScriptTracker[] = [];
    for (const sc of next.vrrpScripts ?? []) {
      const was = old.get(sc.name);
      if (was && same(was.cfg, sc)) { this.trackers.set(sc.name, was); old.delete(sc.name); continue; }
      const t = new ScriptTracker(sc, this.o.clock, this.scripts, () => this.retrack(), this.o.log);
      if (was && same(was.cfg.script.argv, sc.script.argv) && was.cfg.user === sc.user) t.carry(was);
      this.trackers.set(sc.name, t);
      fresh.push(t);
    }
    for (const t of old.values()) t.stop();
    const links = this.trackedLinks();
    for (const i of links) if (!this.links.has(i)) this.links.set(i, this.linkUp(i));
    for (const i of [...this.links.keys()]) if (!links.has(i)) this.links.delete(i);
    if (this.links.size && !this.linkTimer) this.pollLinks();
    const files = new Set((next.vrrp ?? []).flatMap((v) => v.trackFiles.map((f) => f.path)));
    for (const f of files) if (!this.files.has(f)) this.files.set(f, trackedValue(f));
    for (const f of [...this.files.keys()]) if (!files.has(f)) this.files.delete(f);
    if (this.files.size && !this.fileTimer) this.pollFiles();
    this.lastTracking = "";
    this.retrack();
    this.track(this.o.engine.vrrpStart().catch((e) => this.o.log(`${ERROR}VRRP: not started: ${(e as Error).message}`)));
    for (const t of fresh) t.start();
    // A master's virtual_routes that the reload changed.
    const changedRoutes = (next.vrrp ?? []).filter((v) => {
      const p = prev.vrrp?.find((x) => x.name === v.name);
      return p && !same(p.virtualRoutes ?? [], v.virtualRoutes ?? []);
    });
    if (changedRoutes.length) {
      this.track(this.o.engine.vrrpViews().then(async (views) => {
        for (const v of changedRoutes) {
          if (views.find((x) => x.name === v.name)?.state !== "MASTER") continue;
          const was = prev.vrrp!.find((x) => x.name === v.name)!.virtualRoutes ?? [];
          const now = new Set((v.virtualRoutes ?? []).map((r) => r.cidr));
          await this.o.engine.routes({ remove: was.filter((r) => !now.has(r.cidr)).map((r) => r.cidr), add: v.virtualRoutes ?? [] });
        }
      }).catch((e) => this.o.log(`${ERROR}VRRP: virtual_routes not reloaded: ${(e as Error).message}`)));
    }
  }

  /** lvs_sync_daemon added, changed or removed by a reload: the daemons restarted with the
   *  role the instance has now, or stopped (keepalived's reload_vrrp_thread: ipvs_syncd_cmd
   *  STOPDAEMON when changed, then STARTDAEMON as master or backup by the instance's state). */
  private resync(prev: DirectorConfig, next: DirectorConfig): void {
    const sd = next.syncDaemon;
    const sync = this.o.sync ?? ((x) => this.o.engine.sync(x));
    this.track(this.o.engine.vrrpViews().then(async (views) => {
      if (!sd) {
        const was = prev.syncDaemon!;
        await sync({ send: false, receive: false, ifindex: was.ifindex, syncid: was.syncid, maxlen: was.maxlen });
        this.o.log(`connection sync on ${was.interfaceName}: stopped (lvs_sync_daemon removed)`);
        return;
      }
      const master = views.find((v) => v.name === sd.instance)?.state === "MASTER";
      await sync({ send: master, receive: !master, ifindex: sd.ifindex, syncid: sd.syncid, maxlen: sd.maxlen, peer: sd.peer, from: sd.peer });
      this.o.log(`connection sync on ${sd.interfaceName}: ${master ? "sending" : "receiving"} (sync ID ${sd.syncid}, lvs_sync_daemon ${prev.syncDaemon ? "changed" : "added"})`);
    }).catch((e) => this.o.log(`${ERROR}connection sync: ${(e as Error).message}`)));
  }

  /** Resign every master (priority 0), so that a backup takes over at once; resolves once
   *  the engine has sent the adverts. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.linkTimer?.cancel();
    this.fileTimer?.cancel();
    for (const t of this.trackers.values()) t.stop();
    // The STOP events arrive before the answer: their notify scripts and FIFO lines are queued first.
    await this.o.engine.vrrpStop().catch((e) => this.o.log(`${WARNING}VRRP: not stopped cleanly: ${(e as Error).message}`));
    await Promise.all(this.pending);
    if (this.ownFifos) this.fifos.close();
    this.mail?.close();
  }

  private pending = new Set<Promise<unknown>>();
  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Each instance as the state machines see it (asked of the data-path thread). */
  views(): Promise<VrrpView[]> {
    return this.o.engine.vrrpViews();
  }

  /** Instance i's backup hears its master at src (a new address): where connection sync's
   *  source filter (issue 16, sync authenticity) is told the current master. */
  private masterSeen(i: number, src: string): void {
    const now = this.o.clock.now();
    // At most once a second per instance: forged adverts from many sources must not flood the log.
    if (now - (this.masterLogged.get(i) ?? -Infinity) < 1000) return;
    this.masterLogged.set(i, now);
    this.o.log(`VRRP ${this.cfg.vrrp?.[i]?.name ?? `instance ${i}`}: the master is ${src}`);
  }
  private readonly masterLogged = new Map<number, number>();

  /** By name: an instance a reload removes reports its last state (FAULT, as keepalived's)
   *  before the service takes the new configuration, so its own notify scripts run; one it
   *  adds reports nothing before (it starts after: reconfigure()). */
  private changed(name: string, state: VrrpState, why: string, priority: number): void {
    const v = this.cfg.vrrp?.find((x) => x.name === name);
    if (!v) { this.o.log(`${NOTICE}VRRP ${name}: ${state}: ${why}`); return; }
    this.o.log(`${NOTICE}VRRP ${v.name} (VRID ${v.vrid} on ${v.interfaceName}): ${state}: ${why}`);
    // The instance's own notifications first, then the group's (once its members have moved).
    if (v.smtpAlert) this.mail?.send(`VRRP Instance ${v.name} - Entering ${state} state`, `=> VRRP Instance is now ${state}: ${why} <=`);
    const specific = state === "MASTER" ? v.notifyMaster : state === "BACKUP" ? v.notifyBackup : state === "FAULT" ? v.notifyFault :
      state === "STOP" ? v.notifyStop : undefined;
    if (specific) void this.run(specific, []);
    if (v.notify) void this.run(v.notify, ["INSTANCE", v.name, state, String(priority)]);
    this.fifo(fifoLine("INSTANCE", v.name, state, priority));
    // virtual_routes are the master's: added on becoming master, removed on leaving.
    if (v.virtualRoutes?.length) {
      const routes = state === "MASTER" ? { add: v.virtualRoutes } : { remove: v.virtualRoutes.map((r) => r.cidr) };
      this.track(this.o.engine.routes(routes).catch((e) => this.o.log(`${ERROR}VRRP ${v.name}: virtual_routes: ${(e as Error).message}`)));
    }
    // lvs_sync_daemon follows its instance: the master sends, a backup receives.
    const sd = this.cfg.syncDaemon;
    if (sd && sd.instance === v.name && state !== "STOP") {
      // In FAULT the director receives, as a backup: it keeps the table for when it is back.
      this.track((this.o.sync ?? ((x) => this.o.engine.sync(x)))({ send: state === "MASTER", receive: state !== "MASTER", ifindex: sd.ifindex, syncid: sd.syncid, maxlen: sd.maxlen, peer: sd.peer, from: sd.peer })
        .then(() => this.o.log(`${NOTICE}connection sync on ${sd.interfaceName}: ${state === "MASTER" ? "sending" : "receiving"} (sync ID ${sd.syncid})`))
        .catch((e) => this.o.log(`${ERROR}connection sync: ${(e as Error).message}`)));
    }
  }

  /** A sync group's state changed (its members have moved): its notifications. */
  private groupChanged(name: string, state: VrrpState): void {
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.name === name);
    if (!group) return;
    this.fifo(fifoLine("GROUP", group.name, state, 0));
    const gs = state === "MASTER" ? group.notifyMaster : state === "BACKUP" ? group.notifyBackup : group.notifyFault;
    if (gs) void this.run(gs, []);
    if (group.notify) void this.run(group.notify, ["GROUP", group.name, state, "0"]);
    if (group.smtpAlert) this.mail?.send(`VRRP Group ${group.name} - Entering ${state} state`, `=> All the group's instances are now ${state} <=`);
  }

  private fifo(line: string): void {
    this.fifos.write("vrrp", line);
  }

  private async run(script: { argv: string[]; where: { file: string; line: number; column: number } }, args: string[]): Promise<void> {
    const r = await this.scripts.run(script, HEALTH_DEFAULTS.notifyTimeoutMs, args);
    if (r.refused) this.o.log(`${WARNING}VRRP notify ${script.argv[0]}: not run: ${r.refused}`);
  }
}
