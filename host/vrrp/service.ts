// VRRP as a service of the director: one state machine (state.ts) per vrrp_instance,
// timers on the control plane's clock, adverts in and out through the engine (the data
// path queues the ones it receives; the state machines ask it to send theirs), the
// instance's addresses owned by the engine only while master, gratuitous ARP bursts on
// becoming master, and keepalived's notify scripts with keepalived's arguments:
// `notify_master` etc. as written, and `notify SCRIPT` with "INSTANCE" NAME STATE PRIORITY.
// Tracked scripts, interfaces and files (track.ts) put instances in FAULT or move their
// priority; a sync group goes master only when every member would, and is in FAULT when any
// member is (vrrp_sync.c); virtual_routes come and go with master; each change is a line
// on the notify FIFOs.

import type { Clock, Timer } from "../control/clock.js";
import type { EngineAdapter, SyncRoles } from "../control/adapter.js";
import type { DirectorConfig } from "../control/rules.js";
import { ScriptRunner } from "../health/scripts.js";
import { Mailer } from "../health/mail.js";
import { HEALTH_DEFAULTS } from "../health/config.js";
import { parseAdvert, VrrpInstance, VrrpState } from "./state.js";
import { faults, fileStatus, FILE_POLL_MS, LINK_POLL_MS, ScriptTracker, tapLinkUp, weightOf } from "./track.js";
import { trackedValue } from "../health/checkers/file.js";
import { fifoLine, NotifyFifos } from "../control/notify-fifo.js";
import { SYNC_REFRESH_MS } from "../engine/index.js";

export interface VrrpServiceOptions {
  clock: Clock;
  engine: EngineAdapter;
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
  readonly instances: VrrpInstance[] = [];
  private moving = false;
  private readonly mail?: Mailer;
  /** Each sync group's state as last announced (notify scripts, FIFO lines, mail). */
  private readonly groupState = new Map<string, VrrpState>();
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
  /** The sync instance's master as last given to the engine. */
  private syncMaster?: string;

  constructor(private readonly cfg: DirectorConfig, private readonly o: VrrpServiceOptions) {
    this.scripts = o.scripts ?? new ScriptRunner({ security: cfg.health?.enableScriptSecurity ?? false, user: cfg.health?.scriptUser, log: o.log });
    this.mail = Mailer.from(cfg.health, o.log);
    this.ownFifos = !o.fifos;
    this.fifos = o.fifos ?? new NotifyFifos(cfg.notifyFifos ?? [], o.log);
    (cfg.vrrp ?? []).forEach((vcfg, i) => {
      // With connection sync, a returning master waits a full refresh of the table before it
      // preempts, so it never takes over with connections it has not seen (keepalived #237).
      const syncedGroup = (cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(cfg.syncDaemon?.instance ?? ""));
      const synced = cfg.syncDaemon?.instance === vcfg.name || !!syncedGroup?.members.includes(vcfg.name);
      const v = synced ? { ...vcfg, preemptDelayMs: Math.max(vcfg.preemptDelayMs, SYNC_REFRESH_MS + 1000) } : vcfg;
      const own = cfg.interfaces.find((x) => x.index === v.ifindex)?.address?.split("/")[0] ?? "0.0.0.0";
      const fail = (what: string) => (e: unknown) => o.log(`VRRP ${v.name}: ${what} failed: ${(e as Error).message}`);
      this.instances.push(new VrrpInstance(v, o.clock, {
        sendAdvert: (priority) => this.track(o.engine.vrrp(i, { advert: priority, peers: v.unicastPeers }).catch(fail("an advert"))),
        setMaster: (master) => this.track(o.engine.vrrp(i, { master }).catch(fail("taking or leaving the addresses"))),
        announce: () => {
          o.engine.announce([...v.addresses.map((address, k) => ({ ifindex: v.addressIfindex[k], address })), ...(v.excludedAddresses ?? [])])
            .catch(fail("gratuitous ARP"));
        },
        changed: (state, why) => this.changed(i, state, why),
        mayBecomeMaster: () => this.groupLets(i),
      }, own));
    });
    this.linkUp = o.linkUp ?? ((ifindex) => {
      const i = cfg.interfaces.find((x) => x.index === ifindex);
      return i ? tapLinkUp(i.tap) : false;
    });
    for (const sc of cfg.vrrpScripts ?? []) {
      this.trackers.set(sc.name, new ScriptTracker(sc, o.clock, this.scripts, () => this.retrack(), o.log));
    }
    o.engine.onVrrpAdverts((adverts) => {
      for (const a of adverts) this.instances[a.instance]?.onAdvert(parseAdvert(a.message, a.src));
      this.followSyncMaster();
    });
  }

  start(): void {
    if (this.ownFifos) this.fifos.open();
    for (const i of this.trackedLinks()) this.links.set(i, this.linkUp(i));
    for (const vi of this.instances) for (const f of vi.cfg.trackFiles) this.files.set(f.path, trackedValue(f.path));
    this.retrack();
    for (const vi of this.instances) vi.start();
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
          this.o.log(`VRRP: tracked file ${path} reads ${v}`);
        }
      }
      if (changed) this.retrack();
      this.pollFiles();
    });
  }

  private trackedLinks(): Set<number> {
    return new Set(this.instances.flatMap((vi) => vi.cfg.trackInterfaces.map((t) => t.ifindex)));
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
          this.o.log(`VRRP: interface ${name} is ${up ? "up" : "down"}`);
        }
      }
      if (changed) this.retrack();
      this.pollLinks();
    });
  }

  /** Every instance's faults and effective priority from its trackers' states, then the
   *  sync groups: a group is in FAULT while any member has a fault of its own. */
  private retrack(): void {
    for (const vi of this.instances) {
      let total = vi.cfg.priority;
      for (const t of vi.cfg.trackScripts) {
        const good = this.trackers.get(t.script)?.good;
        const key = `script ${t.script}`;
        vi.hold(key, good === undefined && t.weight === 0);
        if (good === undefined) continue;
        vi.setFault(key, faults(t, good));
        total += weightOf(t, good);
      }
      for (const t of vi.cfg.trackFiles) {
        const st = fileStatus(t, this.files.get(t.path) ?? 0);
        vi.setFault(`file ${t.name}`, st === "FAULT");
        if (st !== "FAULT") total += st;
      }
      for (const t of vi.cfg.trackInterfaces) {
        const up = this.links.get(t.ifindex) ?? true;
        vi.setFault(`interface ${t.interfaceName} ${t.reverse ? "up (tracked reversed)" : "down"}`, faults(t, up));
        total += weightOf(t, up);
      }
      vi.setPriority(total);
    }
    for (const g of this.cfg.vrrpSyncGroups ?? []) {
      const members = g.members.map((m) => this.instances[this.cfg.vrrp!.findIndex((x) => x.name === m)]).filter(Boolean);
      const down = members.filter((m) => m.ownFault()).map((m) => m.cfg.name);
      for (const m of members) m.setFault(`sync group ${g.name}`, down.length > 0 && !down.includes(m.cfg.name));
    }
  }

  /** Resign every master (priority 0), so that a backup takes over at once; resolves once
   *  the engine has sent the adverts. */
  async stop(): Promise<void> {
    this.linkTimer?.cancel();
    this.fileTimer?.cancel();
    for (const t of this.trackers.values()) t.stop();
    for (const vi of this.instances) vi.stop();
    await Promise.all(this.pending);
    if (this.ownFifos) this.fifos.close();
    this.mail?.close();
  }

  private pending = new Set<Promise<unknown>>();
  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  views(): ReturnType<VrrpInstance["view"]>[] {
    return this.instances.map((vi) => vi.view());
  }

  private changed(i: number, state: VrrpState, why: string): void {
    const v = this.cfg.vrrp![i];
    this.o.log(`VRRP ${v.name} (VRID ${v.vrid} on ${v.interfaceName}): ${state}: ${why}`);
    // The instance's own notifications first, then the group's (once its members have moved).
    if (v.smtpAlert) this.mail?.send(`VRRP Instance ${v.name} - Entering ${state} state`, `=> VRRP Instance is now ${state}: ${why} <=`);
    const specific = state === "MASTER" ? v.notifyMaster : state === "BACKUP" ? v.notifyBackup : state === "FAULT" ? v.notifyFault :
      state === "STOP" ? v.notifyStop : undefined;
    if (specific) void this.run(specific, []);
    if (v.notify) void this.run(v.notify, ["INSTANCE", v.name, state, String(this.instances[i].priority)]);
    this.fifo(fifoLine("INSTANCE", v.name, state, this.instances[i].priority));
    // virtual_routes are the master's: added on becoming master, removed on leaving.
    if (v.virtualRoutes?.length) {
      const routes = state === "MASTER" ? { add: v.virtualRoutes } : { remove: v.virtualRoutes.map((r) => r.cidr) };
      this.track(this.o.engine.routes(routes).catch((e) => this.o.log(`VRRP ${v.name}: virtual_routes: ${(e as Error).message}`)));
    }
    // lvs_sync_daemon follows its instance: the master sends, a backup receives.
    const sd = this.cfg.syncDaemon;
    if (sd && sd.instance === v.name && state !== "STOP") {
      // In FAULT the director receives, as a backup: it keeps the table for when it is back.
      this.track((this.o.sync ?? ((x) => this.o.engine.sync(x)))({ send: state === "MASTER", receive: state !== "MASTER", ifindex: sd.ifindex, syncid: sd.syncid, maxlen: sd.maxlen, peer: sd.peer, from: sd.peer })
        .then(() => this.o.log(`connection sync on ${sd.interfaceName}: ${state === "MASTER" ? "sending" : "receiving"} (sync ID ${sd.syncid})`))
        .catch((e) => this.o.log(`connection sync: ${(e as Error).message}`)));
    }
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
    this.fifo(fifoLine("GROUP", group.name, state, 0));
    const gs = state === "MASTER" ? group.notifyMaster : state === "BACKUP" ? group.notifyBackup : group.notifyFault;
    if (gs) void this.run(gs, []);
    if (group.notify) void this.run(group.notify, ["GROUP", group.name, state, "0"]);
    if (group.smtpAlert) this.mail?.send(`VRRP Group ${group.name} - Entering ${state} state`, `=> All the group's instances are now ${state} <=`);
  }

  /** lvs_sync_daemon's instance has a new master (from its adverts): the engine takes unicast
   *  sync from that address (ha/sync.ts). The one hook from VRRP into sync. */
  private followSyncMaster(): void {
    const sd = this.cfg.syncDaemon;
    if (!sd) return;
    const src = this.instances[(this.cfg.vrrp ?? []).findIndex((v) => v.name === sd.instance)]?.lastMaster?.src;
    if (src === this.syncMaster) return;
    this.syncMaster = src;
    this.track(this.o.engine.syncAcceptFrom(src).catch((e) => this.o.log(`connection sync: ${(e as Error).message}`)));
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

  private fifo(line: string): void {
    this.fifos.write("vrrp", line);
  }

  private async run(script: { argv: string[]; where: { file: string; line: number; column: number } }, args: string[]): Promise<void> {
    const r = await this.scripts.run(script, HEALTH_DEFAULTS.notifyTimeoutMs, args);
    if (r.refused) this.o.log(`VRRP notify ${script.argv[0]}: not run: ${r.refused}`);
  }
}
