// VRRP as a service of the director: one state machine (state.ts) per vrrp_instance,
// timers on the control plane's clock, adverts in and out through the engine (the data
// path queues the ones it receives; the state machines ask it to send theirs), the
// instance's addresses owned by the engine only while master, gratuitous ARP bursts on
// becoming master, and keepalived's notify scripts with keepalived's arguments:
// `notify_master` etc. as written, and `notify SCRIPT` with "INSTANCE" NAME STATE PRIORITY.

import type { Clock } from "../control/clock.js";
import type { EngineAdapter } from "../control/adapter.js";
import type { DirectorConfig } from "../control/rules.js";
import { ScriptRunner } from "../health/scripts.js";
import { Mailer } from "../health/mail.js";
import { HEALTH_DEFAULTS } from "../health/config.js";
import { parseAdvert, VrrpInstance, VrrpState } from "./state.js";
import { SYNC_REFRESH_MS } from "../engine/index.js";

export interface VrrpServiceOptions {
  clock: Clock;
  engine: EngineAdapter;
  log: (line: string) => void;
  scripts?: ScriptRunner;
}

export class VrrpService {
  readonly instances: VrrpInstance[] = [];
  private moving = false;
  private readonly mail?: Mailer;
  private readonly scripts: ScriptRunner;

  constructor(private readonly cfg: DirectorConfig, private readonly o: VrrpServiceOptions) {
    this.scripts = o.scripts ?? new ScriptRunner({ security: cfg.health?.enableScriptSecurity ?? false, user: cfg.health?.scriptUser, log: o.log });
    this.mail = Mailer.from(cfg.health, o.log);
    (cfg.vrrp ?? []).forEach((vcfg, i) => {
      // With connection sync, a returning master waits a full refresh of the table before it
      // preempts, so it never takes over with connections it has not seen (keepalived #237).
      const synced = cfg.syncDaemon?.instance === vcfg.name;
      const v = synced ? { ...vcfg, preemptDelayMs: Math.max(vcfg.preemptDelayMs, SYNC_REFRESH_MS + 1000) } : vcfg;
      const own = cfg.interfaces.find((x) => x.index === v.ifindex)?.address?.split("/")[0] ?? "0.0.0.0";
      const fail = (what: string) => (e: unknown) => o.log(`VRRP ${v.name}: ${what} failed: ${(e as Error).message}`);
      this.instances.push(new VrrpInstance(v, o.clock, {
        sendAdvert: (priority) => this.track(o.engine.vrrp(i, { advert: priority }).catch(fail("an advert"))),
        setMaster: (master) => this.track(o.engine.vrrp(i, { master }).catch(fail("taking or leaving the addresses"))),
        announce: () => {
          o.engine.announce(v.addresses.map((address, k) => ({ ifindex: v.addressIfindex[k], address }))).catch(fail("gratuitous ARP"));
        },
        changed: (state, why) => this.changed(i, state, why),
      }, own));
    });
    o.engine.onVrrpAdverts((adverts) => {
      for (const a of adverts) this.instances[a.instance]?.onAdvert(parseAdvert(a.message, a.src));
    });
  }

  start(): void {
    for (const vi of this.instances) vi.start();
  }

  /** Resign every master (priority 0), so that a backup takes over at once; resolves once
   *  the engine has sent the adverts. */
  async stop(): Promise<void> {
    for (const vi of this.instances) vi.stop();
    await Promise.all(this.pending);
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
    // A sync group moves together: the others follow this one (keepalived's vrrp_sync_group).
    const group = (this.cfg.vrrpSyncGroups ?? []).find((g) => g.members.includes(v.name));
    if (group && (state === "MASTER" || state === "BACKUP") && !this.moving) {
      this.moving = true;
      try {
        for (const m of group.members) {
          const k = this.cfg.vrrp!.findIndex((x) => x.name === m);
          if (k !== i) this.instances[k]?.follow(state, `sync group ${group.name}: ${v.name} is ${state}`);
        }
      } finally {
        this.moving = false;
      }
      const gs = state === "MASTER" ? group.notifyMaster : group.notifyBackup;
      if (gs) void this.run(gs, []);
      if (group.notify) void this.run(group.notify, ["GROUP", group.name, state, "0"]);
      if (group.smtpAlert) this.mail?.send(`VRRP Group ${group.name} - Entering ${state} state`, `=> All the group's instances are now ${state} <=`);
    }
    // lvs_sync_daemon follows its instance: the master sends, a backup receives.
    const sd = this.cfg.syncDaemon;
    if (sd && sd.instance === v.name && (state === "MASTER" || state === "BACKUP")) {
      this.track(this.o.engine.sync({ send: state === "MASTER", receive: state === "BACKUP", ifindex: sd.ifindex, syncid: sd.syncid, maxlen: sd.maxlen })
        .then(() => this.o.log(`connection sync on ${sd.interfaceName}: ${state === "MASTER" ? "sending" : "receiving"} (sync ID ${sd.syncid})`))
        .catch((e) => this.o.log(`connection sync: ${(e as Error).message}`)));
    }
    if (v.smtpAlert) this.mail?.send(`VRRP Instance ${v.name} - Entering ${state} state`, `=> VRRP Instance is now ${state}: ${why} <=`);
    const specific = state === "MASTER" ? v.notifyMaster : state === "BACKUP" ? v.notifyBackup : state === "STOP" ? v.notifyStop : undefined;
    if (specific) void this.run(specific, []);
    if (v.notify) void this.run(v.notify, ["INSTANCE", v.name, state, String(v.priority)]);
  }

  private async run(script: { argv: string[]; where: { file: string; line: number; column: number } }, args: string[]): Promise<void> {
    const r = await this.scripts.run(script, HEALTH_DEFAULTS.notifyTimeoutMs, args);
    if (r.refused) this.o.log(`VRRP notify ${script.argv[0]}: not run: ${r.refused}`);
  }
}
