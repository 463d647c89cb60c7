// Health checking as a service of the director: it runs every checker of the running
// configuration on the control plane's clock, decides real-server and quorum states as
// keepalived does (state.ts), and asks the control state to re-apply the configuration
// through the overlay (overlay.ts) whenever what the engine should hold changed. Scripts
// and mail follow each change. Probes are real sockets (checkers/), or a fake in tests.
//
// Checks run on their own schedule each (keepalived's timer per checker): the next one is
// set when the current one ends, after delay_loop, or delay_before_retry while retrying.
// A reload keeps the state of every checker whose settings did not change (keepalived
// does the same), so a reload never revives a dead server nor takes a live one down.

import type { Clock, Timer } from "../io/clock.js";
import type { DirectorConfig, RealServerConfig, ServiceConfig } from "../config/rules.js";
import { serverKey, serviceKey, servicePosition } from "../config/model.js";
import { hostPort } from "../config/ipvsadm.js";
import { CheckerConfig, HEALTH_DEFAULTS, HealthGlobals, Script } from "../config/health.js";
import { checkedWeight, HealthView, initialServer } from "./overlay.js";
import { CheckerState, QuorumState, serverState } from "./state.js";
import { probe as realProbe, Probe } from "./checkers/index.js";
import { ScriptRunner } from "./scripts.js";
import { Mailer } from "./mail.js";
import { fifoRs, fifoVs, NotifyFifos } from "./notify-fifo.js";
import { printable } from "../config/printable.js";
import { ERROR, NOTICE, WARNING } from "../io/log.js";

/** Characters of a check's reason kept (before escaping). */
const MAX_REASON = 300;

/** Upper bounds (ms) of the check latency histogram (wasmvs_check_latency_seconds). */
export const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export interface HealthServiceOptions {
  clock: Clock;
  log: (line: string) => void;
  /** Apply the configuration again through the overlay (ControlState.refresh): for the
   *  services given (their keys: those whose servers or quorum changed). */
  refresh: (services: string[]) => Promise<unknown>;
  probe?: Probe;
  scripts?: ScriptRunner;
  mail?: Mailer;
  /** notify_fifo / lvs_notify_fifo: VS and RS lines for each change. */
  fifos?: NotifyFifos;
  /** For the first check's spread over warmup (Math.random; a fixed one in tests). */
  random?: () => number;
}

interface CheckerEntry {
  id: string;
  state: CheckerState;
  server: ServerEntry;
  timer?: Timer;
  /** When the next check was planned (for the drift figures). */
  due: number;
  stopped: boolean;
}

interface ServerEntry {
  service: string;
  server: string;
  cfg: RealServerConfig;
  checkers: CheckerEntry[];
  alive: boolean;
  /** What the checkers add to the configured weight. */
  add: number;
  lastChange?: number;
  reason: string;
}

interface ServiceEntry {
  key: string;
  cfg: ServiceConfig;
  quorum: QuorumState;
  /** Its servers as one entry, where none of them has a checker (UncheckedServers). */
  unchecked?: UncheckedServers;
}

/** The real servers of a checked service none of whose servers has a checker, as one entry
 *  of `servers` (at the service's key alone; a server's key has its address after it): each
 *  is alive at its configured weight, "no checker: always in the pool", and nothing ever
 *  changes that but a checker, so no entry per server is kept (issue 19: a keepalived.conf
 *  of 10,000 virtual servers × 10 real servers without checkers spent ~0.4 s of its start
 *  making 100,000 of them). A service that had servers with checkers keeps its entries per
 *  server (with their last change) for as long as it exists. */
interface UncheckedServers {
  unchecked: true;
  cfg: ServiceConfig;
  /** The servers' keys in the order views() lists them, where that is not cfg's: the order
   *  they were listed in before a change that followed the change only (reconcileServices),
   *  as the entries per server keep their places in the map. */
  order?: string[];
}

const NO_CHECKER = "no checker: always in the pool";
const NONE: readonly string[] = Object.freeze([]);
const NO_CHECKERS: readonly CheckerEntry[] = Object.freeze([]);
const isUnchecked = (e: ServerEntry | UncheckedServers): e is UncheckedServers => (e as UncheckedServers).unchecked === true;

/** What -L --health, the metrics and the status file show of one real server. */
export interface ServerHealthView {
  service: string;
  server: string;
  alive: boolean;
  weight: number;
  /** Seconds since the last change of state (undefined: none since start). */
  sinceChangeS?: number;
  reason: string;
  checkers: { kind: string; up: boolean; last?: string; lastOk?: boolean; latencyMs?: number; target: string }[];
}

export class HealthService implements HealthView {
  /** Only a checker's result takes a server out or changes its weight (overlay.ts). */
  readonly onlyCheckersDecide = true;
  /** The servers by `${service} ${server}`, and the unchecked services' servers by the
   *  service's key, in the order views() lists them. */
  private servers = new Map<string, ServerEntry | UncheckedServers>();
  private services = new Map<string, ServiceEntry>();
  private checkers = new Map<string, CheckerEntry>();
  private globals: HealthGlobals | undefined;
  private refreshing = false;
  private refreshAgain = false;
  /** Services changed since the last refresh began: the next refresh's change set. */
  private changedServices = new Set<string>();
  private stopped = false;
  private readonly probe: Probe;
  private mail?: Mailer;
  private mailKey = "";
  readonly scripts: ScriptRunner;
  private latencyListeners: ((kind: string, ms: number) => void)[] = [];
  /** How late checks started against when they were due. */
  readonly drift = { lastMs: 0, maxMs: 0, sumMs: 0, count: 0 };
  readonly counts = { checks: 0, failures: 0, transitions: 0 };

  constructor(private readonly o: HealthServiceOptions) {
    this.probe = o.probe ?? realProbe;
    this.scripts = o.scripts ?? new ScriptRunner({ security: false, log: o.log });
    this.mail = o.mail;
  }

  // --- HealthView (overlay.ts) ---
  server(service: string, server: string): { alive: boolean; add: number } | undefined {
    const s = this.servers.get(`${service} ${server}`) as ServerEntry | undefined;
    if (s) return { alive: s.alive, add: s.add };
    const u = this.services.get(service)?.unchecked;
    return u && u.cfg.realServers.some((r) => serverKey(r) === server) ? { alive: true, add: 0 } : undefined;
  }

  quorumUp(service: string): boolean | undefined {
    return this.services.get(service)?.quorum.up;
  }

  /** Follow the running configuration: start the checkers it added, stop those it removed,
   *  keep those it did not change (with their state). changed: the keys of the only services
   *  that changed (an ipvsadm command's), when the change said so: the cost then follows the
   *  change, not the table (issue 19: a walk of 10,000 services was most of an -e's 5 ms). */
  reconcile(cfg: DirectorConfig, changed?: Iterable<string>): void {
    if (this.stopped) return;
    this.globals = cfg.health;
    this.scripts.setPolicy({ user: cfg.health?.scriptUser, security: cfg.health?.enableScriptSecurity ?? false, log: this.o.log });
    if (!this.o.mail) {
      const g = cfg.health;
      const key = JSON.stringify([g?.smtpServer, g?.notificationEmail, g?.notificationEmailFrom, g?.smtpConnectTimeoutMs, g?.smtpHeloName, g?.routerId]);
      if (key !== this.mailKey) {
        this.mail?.close();
        this.mail = Mailer.from(g, this.o.log);
        this.mailKey = key;
      }
    }
    if (changed && this.reconcileServices(cfg, changed)) return;
    const servers = new Map<string, ServerEntry | UncheckedServers>();
    const services = new Map<string, ServiceEntry>();
    const checkers = new Map<string, CheckerEntry>();
    for (const s of cfg.services) {
      if (!s.health) continue;
      const sk = serviceKey(s);
      services.set(sk, this.followService(s, sk, servers, checkers, false));
    }
    for (const [id, ce] of this.checkers) {
      if (checkers.has(id)) continue;
      ce.stopped = true;
      ce.timer?.cancel();
    }
    this.servers = servers;
    this.services = services;
    this.checkers = checkers;
  }

  /** reconcile for the services keyed keys only (the rest of cfg as the last reconcile saw
   *  it). False, with nothing changed, where that would list the servers in another order than
   *  a whole reconcile (a server added to a checked service: views() follow the file's order). */
  private reconcileServices(cfg: DirectorConfig, keys: Iterable<string>): boolean {
    const found: { sk: string; s: ServiceConfig | undefined; old: ServiceEntry | undefined }[] = [];
    for (const sk of keys) {
      const i = servicePosition(cfg.services, sk);
      const s = i === undefined ? undefined : cfg.services[i];
      const old = this.services.get(sk);
      if (!old && !s?.health) continue; // not checked before nor now: nothing of health's
      if (old?.unchecked && s?.health) {
        // A checker added (its servers' entries would go to the map's end), or a server: as a whole reconcile.
        const had = new Set(old.cfg.realServers.map(serverKey));
        if (s.realServers.some((r) => r.health?.checkers.length || !had.has(serverKey(r)))) return false;
      } else if (old && s?.health && s.realServers.some((r) => !this.servers.has(`${sk} ${serverKey(r)}`))) return false;
      if (!old && this.services.size && cfg.services[cfg.services.length - 1] !== s) return false;
      found.push({ sk, s, old });
    }
    // One pair of maps for every service's entries, emptied after each (a reload from an empty
    // table follows 10,000 services here: two maps each were most of this walk's garbage).
    const servers = new Map<string, ServerEntry | UncheckedServers>();
    const checkers = new Map<string, CheckerEntry>();
    for (const { sk, s, old } of found) {
      if (!old && s && !this.services.has(sk)) {
        // A service new to health (all of them, a reload from an empty table) none of whose
        // servers has a checker: its one entry straight into the maps, where the steps below
        // would put it (it had no entries, and it starts no checker).
        const entry = this.followUnchecked(s, sk, undefined, this.servers, true);
        if (entry) {
          this.services.set(sk, entry);
          continue;
        }
      }
      const oldServers = !old ? NONE : old.unchecked ? [sk] : old.cfg.realServers.map((r) => `${sk} ${serverKey(r)}`);
      const oldCheckers = oldServers.length ? oldServers.flatMap((k) => (this.servers.get(k) as ServerEntry | undefined)?.checkers ?? []) : NO_CHECKERS;
      servers.clear();
      checkers.clear();
      const entry = s?.health ? this.followService(s, sk, servers, checkers, true) : undefined;
      for (const ce of oldCheckers) {
        if (checkers.has(ce.id)) continue;
        ce.stopped = true;
        ce.timer?.cancel();
        this.checkers.delete(ce.id);
      }
      for (const k of oldServers) if (!servers.has(k)) this.servers.delete(k);
      for (const [k, e] of servers) this.servers.set(k, e);
      for (const [id, ce] of checkers) this.checkers.set(id, ce);
      if (entry) this.services.set(sk, entry);
      else this.services.delete(sk);
    }
    return true;
  }

  /** One checked service's entries into servers and checkers: those of its servers and
   *  checkers that did not change kept (with their state), the new ones started. inPlace:
   *  its entries keep their places in the map (reconcileServices), where views() list them. */
  private followService(s: ServiceConfig, sk: string, servers: Map<string, ServerEntry | UncheckedServers>, checkers: Map<string, CheckerEntry>,
    inPlace: boolean): ServiceEntry {
    const health = s.health!;
    const was = this.services.get(sk);
    const unchecked = this.followUnchecked(s, sk, was, servers, inPlace);
    if (unchecked) return unchecked;
    // Checkers added to an unchecked service: its servers as they were, one entry each.
    const had = was?.unchecked ? new Set(was.cfg.realServers.map(serverKey)) : undefined;
    for (const r of s.realServers) {
      const rk = serverKey(r);
      const key = `${sk} ${rk}`;
      const old = (this.servers.get(key) as ServerEntry | undefined)
        ?? (had?.has(rk) ? { service: sk, server: rk, cfg: r, checkers: [], alive: true, add: 0, reason: NO_CHECKER } : undefined);
      const entry: ServerEntry = old ?? { service: sk, server: rk, cfg: r, checkers: [], ...initialServer(r), reason: "not checked yet" };
      entry.cfg = r;
      entry.checkers = [];
      (r.health?.checkers ?? []).forEach((c, i) => {
        const id = `${key} ${i} ${checkerIdentity(c)}`;
        let ce = this.checkers.get(id);
        if (!ce) {
          ce = { id, state: new CheckerState(c), server: entry, due: 0, stopped: false };
          // keepalived starts each checker at a random point of its warmup, so that a
          // thousand checkers do not all fire at once.
          const first = Math.min(1000, c.delayLoopMs) + Math.floor((this.o.random ?? Math.random)() * c.warmupMs);
          this.schedule(ce, first);
        }
        ce.server = entry;
        entry.checkers.push(ce);
        checkers.set(id, ce);
      });
      const st = serverState(entry.checkers.map((c) => c.state));
      entry.alive = st.alive;
      entry.add = st.add;
      if (!entry.checkers.length) entry.reason = NO_CHECKER;
      servers.set(key, entry);
    }
    const live = s.realServers.reduce((sum, r) => {
      const e = servers.get(`${sk} ${serverKey(r)}`) as ServerEntry;
      return sum + (e.alive ? checkedWeight(r.weight, e.add) : 0);
    }, 0);
    return { key: sk, cfg: s, quorum: this.quorumOf(was, health, live) };
  }

  /** followService for a service none of whose servers has a checker, and that had none
   *  before either (or was not checked): its servers one entry (UncheckedServers); undefined
   *  for any other. A function of its own, small, so that V8 optimises it early: a start
   *  runs it once for each of 10,000 services. */
  private followUnchecked(s: ServiceConfig, sk: string, was: ServiceEntry | undefined, servers: Map<string, ServerEntry | UncheckedServers>,
    inPlace: boolean): ServiceEntry | undefined {
    if (was && !was.unchecked) return undefined;
    const list = s.realServers;
    let live = 0;
    for (let i = 0; i < list.length; i++) {
      const r = list[i];
      if (r.health?.checkers.length) return undefined;
      live += checkedWeight(r.weight, 0);
    }
    const unchecked: UncheckedServers = inPlace && was?.unchecked ? { unchecked: true, cfg: s, ...keptOrder(was.unchecked, s) } : { unchecked: true, cfg: s };
    servers.set(sk, unchecked);
    return { key: sk, cfg: s, quorum: this.quorumOf(was, s.health!, live), unchecked };
  }

  /** The service's quorum state: kept where its quorum and hysteresis did not change. */
  private quorumOf(old: ServiceEntry | undefined, health: NonNullable<ServiceConfig["health"]>, live: number): QuorumState {
    return old && old.quorum.quorum === health.quorum && old.quorum.hysteresis === health.hysteresis
      ? old.quorum : new QuorumState(health.quorum, health.hysteresis, live);
  }

  /** Stop every checker; with omega, run the down scripts of what was up (keepalived's omega). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const ce of this.checkers.values()) {
      ce.stopped = true;
      ce.timer?.cancel();
    }
    const scripts: Promise<unknown>[] = [];
    for (const v of this.services.values()) {
      if (!v.cfg.health?.omega) continue;
      for (const r of v.cfg.realServers) {
        const alive = v.unchecked ? true : (this.servers.get(`${v.key} ${serverKey(r)}`) as ServerEntry | undefined)?.alive;
        if (alive && r.health?.notifyDown) scripts.push(this.scripts.run(r.health.notifyDown, 10_000));
      }
      if (v.quorum.up && v.cfg.health.quorumDown) scripts.push(this.scripts.run(v.cfg.health.quorumDown, 10_000));
    }
    await Promise.all(scripts);
    if (!this.o.mail) this.mail?.close();
  }

  /** Every checked real server's state, for -L --health, the metrics and the status file. */
  views(): ServerHealthView[] {
    const now = this.o.clock.now();
    const out: ServerHealthView[] = [];
    for (const s of this.servers.values()) this.viewsOf(s, now, out);
    return out;
  }

  /** views() one at a time, for a reader that serves the event loop in between (the status file:
   *  100,000 made at once held the main thread ~130 ms). Servers reconciled meanwhile are seen as
   *  a Map's iteration sees them (added: listed; removed: not). */
  *eachView(): Generator<ServerHealthView> {
    const now = this.o.clock.now();
    const out: ServerHealthView[] = [];
    for (const s of this.servers.values()) {
      out.length = 0;
      this.viewsOf(s, now, out);
      yield* out;
    }
  }

  /** The views of one entry of servers (an unchecked service's: one per server) added to out. */
  private viewsOf(s: ServerEntry | UncheckedServers, now: number, out: ServerHealthView[]): void {
    if (isUnchecked(s)) {
      const service = serviceKey(s.cfg);
      const byKey = s.order && new Map(s.cfg.realServers.map((r) => [serverKey(r), r]));
      for (const r of byKey ? s.order!.map((k) => byKey.get(k)!) : s.cfg.realServers) {
        out.push({ service, server: serverKey(r), alive: true, weight: checkedWeight(r.weight, 0), reason: NO_CHECKER, sinceChangeS: undefined, checkers: [] });
      }
      return;
    }
    out.push({
      service: s.service, server: s.server, alive: s.alive, weight: checkedWeight(s.cfg.weight, s.add), reason: s.reason,
      sinceChangeS: s.lastChange === undefined ? undefined : Math.round((now - s.lastChange) / 1000),
      checkers: s.checkers.map((c) => ({
        kind: c.state.cfg.kind, up: c.state.isUp, last: c.state.last?.reason, lastOk: c.state.last?.ok, latencyMs: c.state.last?.latencyMs,
        target: c.state.cfg.kind === "MISC_CHECK" ? c.state.cfg.script.argv[0] : c.state.cfg.kind === "FILE_CHECK" ? c.state.cfg.path
          : hostPort(c.state.cfg.connectIp, c.state.cfg.connectPort),
      })),
    });
  }

  private schedule(ce: CheckerEntry, ms: number): void {
    ce.due = this.o.clock.now() + ms;
    ce.timer = this.o.clock.after(ms, () => { this.run(ce); });
  }

  private run(ce: CheckerEntry): void {
    ce.timer = undefined;
    if (ce.stopped) return;
    const start = this.o.clock.now();
    const late = Math.max(0, start - ce.due);
    this.drift.lastMs = late;
    this.drift.maxMs = Math.max(this.drift.maxMs, late);
    this.drift.sumMs += late;
    this.drift.count++;
    const ctx = { scripts: this.scripts, ssl: this.globals?.ssl };
    void this.probe(ce.state.cfg, ctx).then((raw) => {
      if (ce.stopped) return;
      // A reason may quote the server (an SMTP greeting, a parser's complaint) or a script:
      // one printable line of bounded length before it is kept, logged or listed.
      const outcome = { ...raw, reason: printable(raw.reason.length > MAX_REASON ? `${raw.reason.slice(0, MAX_REASON)}...` : raw.reason) };
      const latencyMs = this.o.clock.now() - start;
      for (const f of this.latencyListeners) f(ce.state.cfg.kind, latencyMs);
      this.counts.checks++;
      if (!outcome.ok) this.counts.failures++;
      const s = ce.server;
      const c = ce.state.cfg;
      const r = ce.state.record({ ...outcome, latencyMs }, this.o.clock.now(), s.cfg.weight);
      if (!outcome.ok && (c.logAllFailures || r.changed || ce.state.isUp)) {
        this.o.log(`${c.kind} of ${s.server} in ${s.service} failed: ${outcome.reason}` +
          (ce.state.isUp ? ` (retry ${ce.state.retryIt} of ${c.retry} in ${r.nextMs} ms)` : ""));
      }
      if (r.changed || r.weightChanged) this.serverChanged(s, outcome.reason);
      // The reason shown: the latest result, unless another checker keeps the server down.
      else if (outcome.ok === s.alive || !outcome.ok) s.reason = outcome.reason;
      this.schedule(ce, r.nextMs);
    });
  }

  /** f with each check's kind and duration. */
  onLatency(f: (kind: string, ms: number) => void): void {
    this.latencyListeners.push(f);
  }

  private serverChanged(s: ServerEntry, reason: string): void {
    const st = serverState(s.checkers.map((c) => c.state));
    const was = s.alive;
    const weight = checkedWeight(s.cfg.weight, st.add);
    s.alive = st.alive;
    s.add = st.add;
    if (was !== st.alive) {
      this.counts.transitions++;
      s.lastChange = this.o.clock.now();
      s.reason = reason;
      const inhibit = s.cfg.health?.inhibit;
      this.o.log(NOTICE + (st.alive ? `${inhibit ? "Enabling" : "Adding"} real server ${s.server} to ${s.service} (weight ${weight}): ${reason}`
        : `${inhibit ? "Disabling (weight 0)" : "Removing"} real server ${s.server} from ${s.service}: ${reason}`));
      const script = st.alive ? s.cfg.health?.notifyUp : s.cfg.health?.notifyDown;
      if (script) void this.notify(script, `notify_${st.alive ? "up" : "down"} of ${s.server}`);
      this.o.fifos?.write("lvs", `RS ${fifoRs(s.service, s.server)} ${fifoVs(s.service)} ${st.alive ? "UP" : "DOWN"}\n`);
      if (s.cfg.health?.smtpAlert) this.mail?.send(`Realserver ${s.server} of virtual server ${s.service} - ${st.alive ? "UP" : "DOWN"}`,
        `=> ${st.alive ? "CHECK succeed" : "CHECK failed"} on service: ${reason} <=`);
    } else {
      s.reason = reason;
      this.o.log(`${NOTICE}real server ${s.server} of ${s.service}: weight ${weight} (${reason})`);
    }
    const v = this.services.get(s.service);
    if (v) {
      // The service's own servers (not a walk of every server: a thousand flips a second at 100,000 servers).
      let live = 0;
      for (const r of v.cfg.realServers) {
        const x = this.servers.get(`${s.service} ${serverKey(r)}`) as ServerEntry | undefined;
        if (x?.alive) live += checkedWeight(x.cfg.weight, x.add);
      }
      const q = v.quorum.update(live);
      if (q) {
        const h = v.cfg.health!;
        this.o.log(`${NOTICE}${q === "gained" ? "Gained" : "Lost"} quorum ${h.quorum}${q === "gained" ? "+" : "-"}${h.hysteresis} (live weight ${live}) for ${s.service}` +
          (h.sorry ? `: ${q === "gained" ? "removing" : "adding"} sorry server ${hostPort(h.sorry.address, h.sorry.port)}` : ""));
        const script = q === "gained" ? h.quorumUp : h.quorumDown;
        if (script) void this.notify(script, `quorum_${q === "gained" ? "up" : "down"} of ${s.service}`);
        this.o.fifos?.write("lvs", `VS ${fifoVs(s.service)} ${q === "gained" ? "UP" : "DOWN"}\n`);
        if (h.smtpAlert) this.mail?.send(`Virtual server ${s.service} - quorum ${q === "gained" ? "UP" : "DOWN"}`,
          `=> ${q === "gained" ? "Gained" : "Lost"} quorum ${h.quorum}, live weight ${live} <=`);
      }
    }
    this.changedServices.add(s.service);
    this.requestRefresh();
  }

  private async notify(script: Script, what: string): Promise<void> {
    const r = await this.scripts.run(script, HEALTH_DEFAULTS.notifyTimeoutMs);
    if (r.refused) this.o.log(`${WARNING}${what}: not run: ${r.refused}`);
    else if (r.timedOut) this.o.log(`${WARNING}${what}: killed after ${HEALTH_DEFAULTS.notifyTimeoutMs} ms`);
    else if (r.code !== 0) this.o.log(`${WARNING}${what}: exited with ${r.code ?? r.signal}`);
  }

  /** One refresh at a time; changes during one are applied by the next. */
  private requestRefresh(): void {
    if (this.refreshing) { this.refreshAgain = true; return; }
    this.refreshing = true;
    const services = [...this.changedServices];
    this.changedServices.clear();
    void this.o.refresh(services).catch((e) => this.o.log(`${ERROR}health: applying a change failed: ${(e as Error).message}`)).finally(() => {
      this.refreshing = false;
      if (this.refreshAgain) {
        this.refreshAgain = false;
        this.requestRefresh();
      }
    });
  }
}

/** An unchecked service's servers in the order they were listed before a change that kept
 *  them all (reconcileServices refuses one that adds a server), where that is not s's. */
function keptOrder(was: UncheckedServers, s: ServiceConfig): { order?: string[] } {
  const now = s.realServers.map(serverKey);
  const present = new Set(now);
  const kept = (was.order ?? was.cfg.realServers.map(serverKey)).filter((k) => present.has(k));
  return kept.length === now.length && kept.every((k, i) => k === now[i]) ? {} : { order: kept };
}

/** A checker's settings without where they were written: a reload that only moves lines keeps its state. */
function checkerIdentity(c: CheckerConfig): string {
  return JSON.stringify(c, (k, v) => (k === "where" ? undefined : v));
}
