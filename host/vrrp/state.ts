// One VRRP instance's state machine (RFC 3768 section 6.4, RFC 5798 section 6.4) with
// keepalived's choices (keepalived/vrrp/vrrp.c, vrrp_scheduler.c; ../shared/HA-FACTS.md):
//
//   start      priority 255 (the address owner): master at once; `state MASTER`: master
//              after one advert interval if no master speaks; else backup, master after
//              Master_Down_Interval = down_timer_adverts (3) x Master_Adver_Interval + Skew,
//              Skew = (256 - priority) / 256 s (v2) or (256 - priority) x Master_Adver_Interval / 256 (v3).
//   backup     an advert of priority 0 (the master resigns): master after Skew; one of a
//              priority >= ours, or any with nopreempt (or within preempt_delay): the
//              master is alive, restart the timer (v3 learns its interval); a lower one with
//              preempt: ignored, so the timer runs out and this one takes over.
//   master     adverts every advert interval; an advert of a higher priority, or an equal one
//              from a higher address: backup; of priority 0: answer at once; a lower one:
//              answer at once (keepalived), so the other backs off.
//   stop       a master sends priority 0 (resigns) so the backup takes over after Skew.
//   fault      a tracked script or interface of weight 0 fails (or a sync group member is in
//              FAULT): a master resigns (priority 0), no adverts, adverts heard are ignored;
//              when every fault has cleared: backup, as at start (vrrp_track.c down_instance,
//              try_up_instance). Weighted trackers change the effective priority instead
//              (clamped to 1..254, never for the owner), which the adverts and Skew use.
//   init       until every weight-0 script has its first result, the instance does not start.
//
// keepalived 2.2.7 drops an advert whose authentication, v2 interval or address list does
// not match its own (vrrp_check_packet); so does this, counting each reason.

import type { Clock, Timer } from "../io/clock.js";
import { Lateness, LatenessView } from "../io/lateness.js";
import type { VrrpInstanceConfig } from "../config/vrrp.js";
import { formatIp, parseIp } from "../engine/addr.js";

export type VrrpState = "INIT" | "BACKUP" | "MASTER" | "FAULT" | "STOP";

export interface Advert {
  src: string;
  version: number;
  vrid: number;
  priority: number;
  /** v2: the interval (whole seconds) in centiseconds; v3: max advert interval in centiseconds. */
  intervalCs: number;
  authType: number;
  auth: Uint8Array;
  addresses: string[];
}

/** A VRRP message as the engine queued it (already checked for length and checksum). */
export function parseAdvert(msg: Uint8Array, src: string): Advert {
  const version = msg[0] >> 4;
  const count = msg[3];
  const addresses: string[] = [];
  // An IPv6 advert (its source is IPv6) carries 16-byte addresses (RFC 5798 5.2.9).
  if (src.includes(":")) {
    const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    for (let k = 0; k < count; k++) {
      const o = 8 + 16 * k;
      addresses.push(formatIp([dv.getUint32(o, true), dv.getUint32(o + 4, true), dv.getUint32(o + 8, true), dv.getUint32(o + 12, true)]));
    }
    return { src, version, vrid: msg[1], priority: msg[2], addresses, intervalCs: ((msg[4] & 0x0f) << 8) | msg[5], authType: 0, auth: new Uint8Array(0) };
  }
  for (let k = 0; k < count; k++) addresses.push(Array.from(msg.subarray(8 + 4 * k, 12 + 4 * k)).join("."));
  return {
    src, version, vrid: msg[1], priority: msg[2], addresses,
    intervalCs: version === 2 ? msg[5] * 100 : ((msg[4] & 0x0f) << 8) | msg[5],
    authType: version === 2 ? msg[4] : 0,
    auth: version === 2 ? msg.slice(8 + 4 * count, 16 + 4 * count) : new Uint8Array(0),
  };
}

/** What a state machine asks of the director. */
export interface VrrpEffects {
  sendAdvert(priority: number): void;
  /** The engine owns the instance's addresses (answers and forwards for them) or not. */
  setMaster(master: boolean): void;
  /** Gratuitous ARP for every address of the instance. */
  announce(): void;
  /** A state change (notify scripts, logs, metrics). */
  changed(state: VrrpState, why: string): void;
  /** In a sync group: whether every other member would be master too (absent: yes). */
  mayBecomeMaster?(): boolean;
  /** The master this backup hears is now at src (the source of its adverts): what connection
   *  sync's source filter would follow. Called only when the address changes. */
  masterSeen?(src: string): void;
}

/** A master answers adverts that challenge it (lower priority, resignations) at most this often. */
const ANSWER_MS = 100;

/** An address as a number to compare (RFC 5798 6.4.3: the higher primary address wins a tie). */
const ipNum = (a: string): bigint => {
  const p = parseIp(a);
  if (typeof p === "number") return BigInt(a.split(".").reduce((x, o) => x * 256 + Number(o), 0));
  const bytes = new Uint8Array(new Uint32Array(p.map((w) => w >>> 0)).buffer);
  return bytes.reduce((x, b) => (x << 8n) | BigInt(b), 0n);
};
const sameList = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

export class VrrpInstance {
  state: VrrpState = "INIT";
  /** The priority adverts carry: the configured one moved by weighted trackers. */
  priority: number;
  /** Why the instance is in FAULT (tracker names; "sync group NAME"), and the weight-0
   *  scripts it waits on before starting. */
  private readonly faults = new Set<string>();
  private readonly pending = new Set<string>();
  private started = false;
  /** The master's advert interval as this backup learned it (v3), else ours. */
  masterAdverIntMs: number;
  readonly counts = { received: 0, sent: 0, becameMaster: 0, authMismatch: 0, intervalMismatch: 0, addressMismatch: 0, priorityZeroReceived: 0, unknownPeer: 0 };
  /** Where the last master advert came from, for the status view. */
  lastMaster?: { src: string; priority: number; at: number };
  private timer?: Timer;
  private garpTimers: Timer[] = [];
  private lowerSeenAt?: number;
  /** Its timer ran out: it would be master if its sync group let it (keepalived's wantstate). */
  wantMaster = false;
  private lastAnswer = -Infinity;
  /** How late each scheduled advert left against its schedule (the issue's measure of
   *  whether VRRP keeps time), measured on the clock the timers run on. */
  readonly advertLateness: Lateness;
  /** When the next scheduled advert is due (undefined: none scheduled). */
  private advertDue?: number;

  /** Set while this backup ignores the adverts of a master of lower priority (preempt): when
   *  its timer runs out, that is a planned preemption, not a master gone silent. */
  private preempting?: { src: string; priority: number };

  /** cfg changes only by reconfigure() (a reload that kept the instance). */
  constructor(public cfg: VrrpInstanceConfig, private readonly clock: Clock, private readonly fx: VrrpEffects, private readonly ownAddress: string) {
    this.masterAdverIntMs = cfg.advertIntMs;
    this.priority = cfg.priority;
    this.advertLateness = new Lateness(cfg.advertIntMs, clock.now());
  }

  /** Skew_Time: a lower priority waits longer before taking over. */
  skewMs(): number {
    return this.cfg.version === 2 ? ((256 - this.priority) * 1000) / 256 : ((256 - this.priority) * this.masterAdverIntMs) / 256;
  }

  masterDownMs(): number {
    return this.cfg.downTimerAdverts * this.masterAdverIntMs + this.skewMs();
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.begin();
  }

  private begin(): void {
    if (this.pending.size) return;
    if (this.faults.size) { this.toFault([...this.faults].join(", ")); return; }
    this.toBackup("start", this.cfg.priority === 255 ? 0 : this.cfg.initialMaster ? this.cfg.advertIntMs + this.skewMs() : this.masterDownMs());
  }

  /** A weight-0 script that has not reported yet holds the start (keepalived's num_script_init). */
  hold(script: string, on: boolean): void {
    if (on) { this.pending.add(script); return; }
    if (!this.pending.delete(script)) return;
    if (this.started && this.state === "INIT" && !this.pending.size) this.begin();
  }

  /** A reason for FAULT appears or clears. */
  setFault(reason: string, on: boolean): void {
    if (on === this.faults.has(reason)) return;
    if (on) this.faults.add(reason);
    else this.faults.delete(reason);
    if (this.state === "INIT" || this.state === "STOP") return;
    if (on && this.state !== "FAULT") this.toFault(reason);
    else if (!this.faults.size && this.state === "FAULT") this.toBackup(`${reason} recovered`, this.masterDownMs());
  }

  get faulted(): boolean {
    return this.faults.size > 0;
  }

  /** Only the instance's own reasons (not the sync group's): what the group looks at. */
  ownFault(): boolean {
    return [...this.faults].some((f) => !f.startsWith("sync group "));
  }

  /** The effective priority from the trackers' total (vrrp_set_effective_priority): 1..254,
   *  and never moved for the address owner. A master's next advert carries it; a backup's
   *  master-down timer moves by the change in Skew. */
  setPriority(total: number): void {
    if (this.cfg.priority === 255) return;
    const p = Math.min(254, Math.max(1, total));
    if (p === this.priority) return;
    this.priority = p;
  }

  /** Tracking's reasons (faults and holds) that no longer exist (a reload removed the
   *  tracker): cleared, as if they had recovered. A sync group's reasons are the group's. */
  retain(keys: Set<string>): void {
    for (const p of [...this.pending]) if (!keys.has(p)) this.hold(p, false);
    for (const f of [...this.faults]) if (!f.startsWith("sync group ") && !keys.has(f)) this.setFault(f, false);
  }

  /** Only this sync group's fault stays (a reload moved the instance out of another). */
  groupFaults(keep?: string): void {
    for (const f of [...this.faults]) if (f.startsWith("sync group ") && f !== keep) this.setFault(f, false);
  }

  /** Leave: a master resigns with priority 0 (RFC 5798 6.4.3), then nothing more. removed:
   *  a reload took the instance out — keepalived (clear_diff_vrrp, send_instance_notifies)
   *  then notifies FAULT rather than STOP (DELETED only with notify_deleted, which wasmvs does
   *  not read), and nothing if it was in FAULT already. */
  stop(why = "stopping", removed = false): void {
    const was = this.state;
    if (this.state === "MASTER") {
      this.fx.sendAdvert(0);
      this.counts.sent++;
      this.fx.setMaster(false);
    }
    this.cancel();
    this.state = "STOP";
    if (!removed) this.fx.changed("STOP", why);
    else if (was !== "FAULT") this.fx.changed("FAULT", why);
  }

  /** An advert for this instance (the engine checked length, TTL, checksum, VRID, version). */
  onAdvert(a: Advert): void {
    if (this.state === "STOP" || this.state === "INIT" || this.state === "FAULT") return;
    // With unicast peers only theirs count (keepalived's check_unicast_src): another host on
    // the segment cannot take the addresses with a forged advert.
    if (this.cfg.unicastPeers?.length && !this.cfg.unicastPeers.includes(a.src)) { this.counts.unknownPeer++; return; }
    this.counts.received++;
    if (this.cfg.version === 2) {
      const wantAuth = this.cfg.authPass !== undefined ? 1 : 0;
      const pass = new Uint8Array(8);
      if (this.cfg.authPass) pass.set(Buffer.from(this.cfg.authPass, "latin1").subarray(0, 8));
      if (a.authType !== wantAuth || (wantAuth && !Buffer.from(a.auth).equals(Buffer.from(pass)))) { this.counts.authMismatch++; return; }
      if (a.intervalCs !== Math.round(this.cfg.advertIntMs / 1000) * 100) { this.counts.intervalMismatch++; return; }
    }
    const known = this.cfg.skipCheckAdvAddr && this.lastMaster?.src === a.src;
    if (!known && !sameList(a.addresses, this.cfg.addresses)) { this.counts.addressMismatch++; return; }
    const now = this.clock.now();
    if (a.priority === 0) this.counts.priorityZeroReceived++;
    if (this.state === "BACKUP") {
      if (a.priority === 0) {
        this.arm(this.skewMs(), () => this.tryMaster("the master resigned (priority 0)"));
        return;
      }
      const preemptHeld = this.cfg.preemptDelayMs > 0 && (this.lowerSeenAt ??= now) + this.cfg.preemptDelayMs > now;
      if (!this.cfg.preempt || a.priority >= this.priority || preemptHeld) {
        if (a.priority >= this.priority) this.lowerSeenAt = undefined;
        this.preempting = undefined;
        if (this.cfg.version === 3 && a.intervalCs > 0) this.masterAdverIntMs = a.intervalCs * 10;
        this.heard(a, now);
        this.wantMaster = false;
        this.armDown(this.masterDownMs());
      } else {
        // Ignored (RFC 5798 6.4.2: preempt and a lower priority): the timer runs out on purpose.
        this.preempting = { src: a.src, priority: a.priority };
      }
      return;
    }
    // MASTER.
    if (a.priority === 0) {
      if (now - this.lastAnswer >= ANSWER_MS) { this.lastAnswer = now; this.advertise(); }
      return;
    }
    if (a.priority > this.priority || (a.priority === this.priority && ipNum(a.src) > ipNum(this.ownAddress))) {
      if (this.cfg.version === 3 && a.intervalCs > 0) this.masterAdverIntMs = a.intervalCs * 10;
      this.heard(a, now);
      this.toBackup(`${a.src} advertises priority ${a.priority}, ${a.priority > this.priority ? `above ours (${this.priority})` : "as ours, from a higher address"}`, this.masterDownMs());
      return;
    }
    // A lower priority thinks it is master: tell it at once (keepalived), and announce the
    // addresses again — while both were master (a partition) it may have taken the
    // neighbours' ARP caches, and keepalived leaves them there (its issues #166, #1528).
    // At most once per ANSWER_MS: a storm of forged adverts must not become a storm of ours.
    if (now - this.lastAnswer >= ANSWER_MS) {
      this.lastAnswer = now;
      this.advertise();
      this.fx.announce();
    }
  }

  /** The master's advert: where the instance learns the master's address (the advert's
   *  source; keepalived's vrrp->master_saddr). */
  private heard(a: Advert, now: number): void {
    const moved = this.lastMaster?.src !== a.src;
    this.lastMaster = { src: a.src, priority: a.priority, at: now };
    if (moved) this.fx.masterSeen?.(a.src);
  }

  /** A sync group moves this instance with the others (keepalived's vrrp_sync_group). */
  follow(state: "MASTER" | "BACKUP", why: string): void {
    if (this.state === state || this.state === "STOP" || this.state === "INIT" || this.state === "FAULT") return;
    if (state === "MASTER") this.toMaster(why);
    else this.toBackup(why, this.masterDownMs());
  }

  private toBackup(why: string, downMs: number): void {
    const was = this.state;
    this.cancel();
    this.state = "BACKUP";
    if (was === "MASTER") this.fx.setMaster(false);
    this.fx.changed("BACKUP", why);
    this.preempting = undefined;
    this.armDown(downMs, why === "start" ? "no master heard since start" : undefined);
  }

  /** The master-down timer. Why it ran out is decided when it does: a master heard with a
   *  lower priority meanwhile (and ignored: preempt) makes it a planned preemption. */
  private armDown(ms: number, why?: string): void {
    this.arm(ms, () => this.tryMaster(this.preempting
      ? `preempting ${this.preempting.src}: its priority ${this.preempting.priority} is below ours (${this.priority})`
      : why ?? `no advert from the master for ${Math.round(ms)} ms`));
  }

  private toFault(why: string): void {
    const was = this.state;
    this.cancel();
    this.state = "FAULT";
    this.wantMaster = false;
    if (was === "MASTER") {
      // Resign, so that a backup takes over after its Skew rather than Master_Down_Interval
      // (keepalived's vrrp_state_leave_master sends priority 0 on the way to FAULT).
      this.fx.sendAdvert(0);
      this.counts.sent++;
      this.fx.setMaster(false);
    }
    this.fx.changed("FAULT", why);
  }

  /** This instance would be master (its timer ran out). In a sync group it goes only when
   *  every member would (keepalived's vrrp_sync_can_goto_master: backup is preferred to
   *  thrashing); otherwise it stays backup and looks again a master-down interval later. */
  private tryMaster(why: string): void {
    this.wantMaster = true;
    if (this.fx.mayBecomeMaster && !this.fx.mayBecomeMaster()) {
      this.arm(this.masterDownMs(), () => this.tryMaster(why));
      return;
    }
    this.toMaster(why);
  }

  private toMaster(why: string): void {
    if (this.state === "STOP" || this.state === "FAULT") return;
    this.cancel();
    this.state = "MASTER";
    this.wantMaster = false;
    this.counts.becameMaster++;
    this.masterAdverIntMs = this.cfg.advertIntMs;
    this.lowerSeenAt = undefined;
    this.preempting = undefined;
    this.fx.setMaster(true);
    this.advertise();
    // keepalived's garp_master_delay / garp_master_repeat: a burst at once, another later.
    this.garp();
    if (this.cfg.garpMasterDelayMs > 0) this.garpTimers.push(this.clock.after(this.cfg.garpMasterDelayMs, () => { if (this.state === "MASTER") this.garp(); }));
    this.refreshGarp();
    this.fx.changed("MASTER", why);
  }

  /**
   * A reload kept this instance (the same interface and VRID, unicast or not, use_vmac or not:
   * keepalived's vrrp_exist): the new settings apply in place and the state stays
   * (keepalived's clear_diff_vrrp, restore_vrrp_state, vrrp_init_instance_sands). A master
   * advertises at once with its new priority, interval and addresses (keepalived's
   * reload_master), then every new interval, and sends gratuitous ARPs (a burst, another
   * garp_master_delay later) when it gained addresses; a backup restarts its master-down
   * timer with the new values. A priority the new settings make lower than the peer's takes
   * no shortcut: the peer preempts (or not) by the RFC's rules, as with keepalived.
   * addedAddresses: the master now holds an address it did not (the engine already does).
   */
  reconfigure(next: VrrpInstanceConfig, addedAddresses: boolean): void {
    const prev = this.cfg;
    this.cfg = next;
    // The trackers' total moves the new base as it moved the old one, until tracking (which
    // the reload may also have changed) says otherwise a message later.
    if (next.priority === 255) this.priority = 255;
    else if (prev.priority === 255) this.priority = next.priority;
    else this.priority = Math.min(254, Math.max(1, next.priority + this.priority - prev.priority));
    if (next.advertIntMs !== prev.advertIntMs) this.advertLateness.period(next.advertIntMs);
    if (this.state === "MASTER") {
      this.masterAdverIntMs = next.advertIntMs;
      for (const t of this.garpTimers) t.cancel();
      this.garpTimers = [];
      this.advertise();
      if (addedAddresses) {
        this.garp();
        if (next.garpMasterDelayMs > 0) this.garpTimers.push(this.clock.after(next.garpMasterDelayMs, () => { if (this.state === "MASTER") this.garp(); }));
      }
      this.refreshGarp();
    } else if (this.state === "BACKUP") {
      // v3 keeps the interval it learned from the master; v2 has only its own.
      if (next.version === 2 || prev.version !== next.version) this.masterAdverIntMs = next.advertIntMs;
      this.wantMaster = false;
      this.preempting = undefined;
      // Now the address owner: master at once (keepalived's vrrp_init_state: "timeout from the
      // backup state very quickly").
      this.armDown(next.priority === 255 ? 0 : this.masterDownMs(), next.priority === 255 ? "the address owner (priority 255) after a reload" : undefined);
    }
  }

  /** garp_master_refresh: more gratuitous ARPs every so often while master (off by default). */
  private refreshGarp(): void {
    const refresh = this.cfg.garpMasterRefreshMs ?? 0;
    if (refresh > 0) {
      this.garpTimers.push(this.clock.every(refresh, () => {
        if (this.state === "MASTER") for (let k = 0; k < (this.cfg.garpMasterRefreshRepeat ?? 1); k++) this.fx.announce();
      }));
    }
  }

  /** A burst of garp_master_repeat announcements; an IPv6 instance's unsolicited neighbour
   *  advertisements vrrp_gna_interval apart (keepalived's ndisc pacing), else all at once. */
  private garp(): void {
    const gap = this.cfg.ipv6 ? this.cfg.gnaIntervalMs ?? 0 : 0;
    for (let k = 0; k < this.cfg.garpMasterRepeat; k++) {
      if (k === 0 || gap === 0) this.fx.announce();
      else this.garpTimers.push(this.clock.after(k * gap, () => { if (this.state === "MASTER") this.fx.announce(); }));
    }
  }

  /** Send an advert now and the next one an interval later; scheduled: this one is the
   *  timer's (its lateness counts), not an answer or the first as master. */
  private advertise(scheduled = false): void {
    if (scheduled && this.advertDue !== undefined) this.advertLateness.record(this.clock.now() - this.advertDue);
    this.fx.sendAdvert(this.priority);
    this.counts.sent++;
    this.arm(this.cfg.advertIntMs, () => this.advertise(true));
    this.advertDue = this.clock.now() + this.cfg.advertIntMs;
  }

  private arm(ms: number, f: () => void): void {
    this.timer?.cancel();
    this.advertDue = undefined;
    this.timer = this.clock.after(Math.max(0, ms), f);
  }

  private cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.advertDue = undefined;
    for (const t of this.garpTimers) t.cancel();
    this.garpTimers = [];
  }

  /** For the status view. */
  view(): { name: string; state: VrrpState; vrid: number; priority: number; basePriority: number; faults: string[]; interface: string;
    addresses: string[]; master?: string; counts: VrrpInstance["counts"]; advertLateness: LatenessView } {
    return { name: this.cfg.name, state: this.state, vrid: this.cfg.vrid, priority: this.priority, basePriority: this.cfg.priority,
      faults: [...this.faults, ...[...this.pending].map((p) => `${p} (first result pending)`)], interface: this.cfg.interfaceName,
      addresses: this.cfg.addresses, master: this.state === "MASTER" ? this.ownAddress : this.lastMaster?.src, counts: { ...this.counts },
      advertLateness: this.advertLateness.view() };
  }
}
