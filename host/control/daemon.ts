// The director's configuration model and the one way it changes. Every change — an
// ipvsadm command from the control socket, `wasmvs reload`, SIGHUP — goes through one
// queue: changes apply one at a time, each entirely or not at all, and `running` always
// says what the engine holds. Independent of TAP and threads: tests drive it with the
// in-thread engine adapter.

import { EngineAdapter } from "../dataplane/adapter.js";
import { IpvsadmError, Parsed } from "../config/ipvsadm.js";
import { alignedChanges, checkModel, keyOf, mergeReload, serviceChanges, servicePosition, serviceKey, ServiceTable } from "../config/model.js";
import { ConfigError, DirectorConfig, laterErrors, sortErrors } from "../config/rules.js";
import type { ServiceConfig } from "../config/director.js";
import { fileOrders } from "./load.js";
import { restartErrors, scratchErrors } from "../dataplane/reload.js";
import { Changes, ChangeWords, countsOf, modelRefusals, planDifference, planDirector, ServicePlan } from "../dataplane/changeset.js";
import { effective, effectiveService, HealthView, INITIAL } from "../health/overlay.js";
import { ERROR, NOTICE, WARNING } from "../io/log.js";
import type { RestoreScript } from "./restore.js";

/** Changes named one by one in a log line, at most: an -R or reload of 10,000 services made
 *  110,000 of them, one 8 MB line for syslog and the journal (both cut far shorter lines). The
 *  caller still gets every change (`wasmvs reload` prints them). */
export const LOGGED_CHANGES = 100;

/** The changes as one log line's text: all of them up to LOGGED_CHANGES, else the first ones
 *  and how many more. */
export function inBrief(changes: ChangeWords): string {
  if (changes.length <= LOGGED_CHANGES) return changes.slice().join("; ");
  return `${changes.length} changes: ${changes.slice(0, LOGGED_CHANGES).join("; ")}; and ${changes.length - LOGGED_CHANGES} more`;
}

export class ControlState {
  private chain: Promise<unknown> = Promise.resolve();

  /** file: the configuration as loaded from loadFile() at start; the engine holds it
   *  through health's overlay (host/health/overlay.ts) as view saw it then. */
  constructor(private readonly engine: EngineAdapter, private file: DirectorConfig, private readonly loadFile: () => DirectorConfig,
    private readonly log: (line: string) => void = () => {}, private view: HealthView = INITIAL) {
    this.current = file;
    this.appliedWith = view;
    this.applied = effective(file, view);
  }

  private current: DirectorConfig;
  /** What the engine holds: effective(current), service for service at the same positions. */
  private applied: DirectorConfig;
  /** Each called with a new running configuration; services: the keys of the only services
   *  it changed (added, removed, or another record), when only they changed and the others
   *  kept their order (an ipvsadm command, commonly a reload), so that a listener's cost can
   *  follow the change; undefined: anything may have changed (services moved). */
  private listeners: ((cfg: DirectorConfig, services?: readonly string[]) => void)[] = [];
  /** Services whose health changed since the engine last took it (refresh). */
  private dirty = new Set<string>();
  private dirtyAll = false;
  /** Health's changes the engine refused (no room: a down server's record was taken meanwhile),
   *  tried again after the next change that went through (it may have freed room): a server
   *  that came back up is not left out until its next state change. */
  private held = new Set<string>();
  private heldAll = false;
  /** The health view every service the engine holds was computed with (follow() brings
   *  another: then the next whole change computes them all again). */
  private appliedWith: HealthView;
  /** Effective configurations computed whole, with the view they were computed with. */
  private readonly computedWhole = new WeakMap<DirectorConfig, HealthView>();
  /** Lists of services this state made as a command's copy of the running list (copyOfRunning). */
  private readonly madeLists = new WeakSet<ServiceConfig[]>();
  /** The running list before the last command, once nothing holds it any more: the next
   *  command's copy, made equal to the running list (`of`) by writing the positions where the
   *  two differ. A copy of the list per command was 80 KB at 10,000 services, most of what an
   *  -e allocated (~110 KB); the scavenges it brought, one every ~130 edits, each held a CPU for
   *  milliseconds and made the slowest edits. */
  private spareList?: { list: ServiceConfig[]; of: ServiceConfig[]; differs: number[] };

  /** The running configuration (what the file and ipvsadm commands made it). Its services list
   *  stays as it is while it runs and until the command after the next: then a list this state
   *  made may be taken again as a command's copy (copyOfRunning; inEngine's likewise,
   *  copyOfApplied). The listeners are given each new one; whoever keeps one longer keeps a copy. */
  get running(): DirectorConfig {
    return this.current;
  }

  /** What the engine holds: the running configuration as health checking lets it be. */
  get inEngine(): DirectorConfig {
    return this.applied;
  }

  /** Health checking's view, and f called with each new running configuration. */
  follow(view: HealthView, f: (cfg: DirectorConfig, services?: readonly string[]) => void): void {
    this.view = view;
    this.listeners.push(f);
    // The engine's services as the new view has them, once, now (queued as any change): a
    // later change then computes only the services it changes (effectiveOf).
    if (view !== this.appliedWith) this.refresh().catch((e: Error) => this.log(`${WARNING}health: ${e.message}`));
  }

  /** f called with each new running configuration the engine took (VRRP follows a reload). */
  watch(f: (cfg: DirectorConfig) => void): void {
    this.listeners.push(f);
  }

  /** Apply the running configuration again through the overlay (health changed): for the
   *  services given (those whose servers flipped), or all. Flips that come while a refresh
   *  waits join it: one change set for all of them. */
  refresh(services?: Iterable<string>): Promise<string[]> {
    if (services) for (const k of services) this.dirty.add(k);
    else this.dirtyAll = true;
    return this.serial(async () => {
      const all = this.dirtyAll;
      const keys = [...this.dirty];
      this.dirty.clear();
      this.dirtyAll = false;
      if (!all && keys.length === 0) return [];
      let changes: Changes;
      try {
        changes = all ? await this.applyWhole(this.wholeEffective(this.current)) : await this.applyTouched(this.current, keys);
      } catch (e) {
        if (all) this.heldAll = true;
        else for (const k of keys) this.held.add(k);
        throw e;
      }
      if (changes.length) this.log(`health: ${inBrief(changes)}`);
      return changes.all();
    });
  }

  /** The engine takes eff (the effective form of the running configuration), as the
   *  difference from what it holds. */
  private async applyWhole(eff: DirectorConfig): Promise<Changes> {
    const restart = restartErrors(this.applied, eff);
    if (restart.length) throw ConfigError.all(restart);
    const plan = planDifference(this.applied, eff);
    const refused = modelRefusals(eff, plan.set, this.engine.sizes, () => countsOf(this.applied));
    if (refused.length) throw ConfigError.all(refused);
    const vrrp = await this.engine.applySet(plan.set);
    this.applied = eff;
    if (this.computedWhole.get(eff) === this.view) this.appliedWith = this.view;
    // Worded when read (the log line and the reply name the first ones).
    return plan.words.texts(vrrp);
  }

  /** effective(cfg) as health's view has it now, every service computed. */
  private wholeEffective(cfg: DirectorConfig): DirectorConfig {
    const eff = effective(cfg, this.view);
    this.computedWhole.set(eff, this.view);
    return eff;
  }

  /** effective(next) in proportion to what changed: a service that is the same record as in
   *  the running configuration, and whose health did not change since the engine took it
   *  (no flip waits for a refresh, none was refused), is as the engine holds it: that record
   *  is taken (and the change set sees it unchanged by a pointer compare). Where next holds the
   *  running configuration's services in the same order, the others are not even read (at
   *  10,000 services, reading a field of each is milliseconds of cache misses). */
  private effectiveOf(next: DirectorConfig): DirectorConfig {
    if (this.dirtyAll || this.heldAll || this.appliedWith !== this.view) return this.wholeEffective(next);
    const was = this.current.services;
    const held = this.applied.services;
    const aligned = alignedChanges(was, next.services);
    if (aligned && held.length === was.length) {
      const services = held.slice();
      for (const [, now, i] of aligned) services[i] = effectiveService(now, this.view);
      for (const k of [...this.dirty, ...this.held]) {
        const i = servicePosition(next.services, k);
        if (i !== undefined) services[i] = effectiveService(next.services[i], this.view);
      }
      return { ...next, services };
    }
    if (!next.services.some((s) => s.health)) return next; // as effective(): health has no say
    const services = next.services.map((s, i) => {
      if (!s.health) return s;
      const j = was[i] === s ? i : servicePosition(was, keyOf(s));
      if (j === undefined || was[j] !== s) return effectiveService(s, this.view);
      const k = keyOf(s);
      if (this.dirty.has(k) || this.held.has(k) || held[j] === undefined || keyOf(held[j]) !== k) return effectiveService(s, this.view);
      return held[j];
    });
    return { ...next, services };
  }

  /** The engine takes the services keyed keys of next (the running configuration to be),
   *  as health lets them be: a change set of those services only. Positions in next are
   *  those of this.applied, or after its end (services added). */
  private async applyTouched(next: DirectorConfig, keys: Iterable<string>, director?: boolean): Promise<Changes> {
    const plan = new ServicePlan(next);
    const touched: [number, ServiceConfig][] = [];
    // Whether the engine's services are to be next's very list: the engine holds the running
    // configuration's list itself (health has no say in any of its services: effective() gives
    // the list back) and has each touched service as next has it. Then the list is not copied:
    // an -e at 10,000 services copied 80 KB of it, whose scavenges landed on some edits.
    let nextsList = this.applied.services === this.current.services;
    for (const k of keys) {
      const i = servicePosition(next.services, k);
      if (i === undefined) continue;
      const now = effectiveService(next.services[i], this.view);
      const was = i < this.applied.services.length ? this.applied.services[i] : undefined;
      if (was && serviceKey(was) !== k) throw new Error(`internal: the engine's services and the running configuration's are not aligned at ${k}`);
      plan.service(was, now);
      touched.push([i, now]);
      if (now !== next.services[i]) nextsList = false;
    }
    let services = next.services;
    if (!nextsList) {
      services = this.copyOfApplied();
      for (const [i, now] of touched) services[i] = now;
    }
    const eff: DirectorConfig = { ...next, services };
    const p = director ? planDirector(plan, this.applied, eff) : plan.plan();
    const refused = modelRefusals(eff, p.set, this.engine.sizes, () => countsOf(this.applied));
    if (refused.length) throw ConfigError.all(refused);
    const vrrp = await this.engine.applySet(p.set);
    const was = this.applied.services;
    this.applied = eff;
    // The engine's list before: the next copy's, where it is one of these copies and nothing else holds it.
    if (!nextsList && this.madeLists.has(was) && was.length === services.length && was !== this.current.services && was !== next.services) {
      this.spareApplied = { list: was, of: services, differs: touched.map(([i]) => i) };
    }
    return p.words.texts(vrrp);
  }

  /** The engine's list before the last change of a few services where health has a say (an -e of a
   *  checked server, health's flips): as spareList, for the list the engine holds. */
  private spareApplied?: { list: ServiceConfig[]; of: ServiceConfig[]; differs: number[] };

  /** A copy of the list the engine holds, to change the touched services of (copyOfRunning's way). */
  private copyOfApplied(): ServiceConfig[] {
    const held = this.applied.services;
    const spare = this.spareApplied;
    this.spareApplied = undefined;
    if (spare && spare.of === held && spare.list.length === held.length) {
      for (const i of spare.differs) spare.list[i] = held[i];
      return spare.list;
    }
    const list = held.slice();
    this.madeLists.add(list);
    return list;
  }

  /** next becomes the running configuration: the engine gets its effective form (of the
   *  services touched, when given: the rest is as it was). Health checking follows only
   *  once the engine took it, so a refused change leaves every checker as it was. */
  private async commit(next: DirectorConfig, touched?: { keys: string[]; director: boolean }): Promise<Changes> {
    // A whole change (a reload, a removal) names the services it changed to the listeners
    // when the rest kept their order (then health follows those only: its cost follows the change).
    const changed = touched || !this.listeners.length ? undefined : serviceChanges(this.current.services, next.services);
    const keys = touched?.keys ?? (changed?.inOrder ? changed.keys : undefined);
    const changes = touched ? await this.applyTouched(next, touched.keys, touched.director) : await this.applyWhole(this.effectiveOf(next));
    this.current = next;
    if (this.listeners.length) {
      for (const f of this.listeners) f(next, keys);
      // Checkers the change (re)started see their servers as keepalived starts them (alpha).
      if (keys) {
        const moved = keys.filter((k) => {
          const i = servicePosition(next.services, k);
          if (i === undefined) return false;
          const now = effectiveService(next.services[i], this.view);
          return now !== this.applied.services[i] && JSON.stringify(now) !== JSON.stringify(this.applied.services[i]);
        });
        if (moved.length) changes.texts(await this.applyTouched(next, moved));
      } else {
        // Service by service, the same records skipped (effective() keeps an unchecked
        // service as it is): the table's JSON twice was ~0.75 s of a 10,000-service reload.
        const after = this.wholeEffective(next);
        const held = this.applied.services;
        const same = after.services.length === held.length && after.services.every((s, i) => s === held[i] || JSON.stringify(s) === JSON.stringify(held[i]));
        if (!same) changes.texts(await this.applyWhole(after));
      }
    }
    return changes;
  }

  /** A refused reload's errors, all of them as `wasmvs check` gives them: a file with errors
   *  also gets the engine's checks on what it gave (load.ts), and all come in file order. */
  private async everyError(e: ConfigError, nextFile: DirectorConfig | undefined): Promise<ConfigError> {
    if (e.partial) {
      const more = await scratchErrors(this.engine.sizes, this.applied, e.partial.cfg, e.partial);
      return ConfigError.all(laterErrors(e.errors, more, e.partial.order));
    }
    return ConfigError.all(sortErrors(e.errors, (nextFile && fileOrders.get(nextFile)) ?? new Map([[e.file, []]])));
  }

  /** Run f after every change queued before it, and before any queued after. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const r = this.chain.then(f);
    this.chain = r.catch(() => {});
    r.then(() => this.retryHeld(), () => {});
    return r;
  }

  /** After a change that went through: health's refused changes once more (queued behind it). */
  private retryHeld(): void {
    if (!this.heldAll && this.held.size === 0) return;
    const keys = [...this.held];
    const all = this.heldAll;
    this.held.clear();
    this.heldAll = false;
    this.refresh(all ? undefined : keys).catch((e: Error) => this.log(`${WARNING}health: still refused, tried again after the next change: ${e.message}`));
  }

  /** ipvsadm commands on the running configuration: all or none. Refusals are IpvsadmErrors.
   *  The command is the change: the services it touches are copied (the running
   *  configuration is never changed in place), checked, and go to the engine as a change
   *  set of those services; the table's size does not enter. */
  applyCommands(commands: Parsed[]): Promise<string[]> {
    return this.applyChange((table) => {
      for (const c of commands) {
        try {
          table.apply(c);
        } catch (e) {
          if (e instanceof IpvsadmError && c.line) throw new IpvsadmError(`line ${c.line}: ${e.message}`, e.status);
          throw e;
        }
      }
    }, commands.some((c) => c.line)).then((c) => c.all());
  }

  /** An ipvsadm -R held by the control socket (host/control/restore.ts), applied as
   *  applyCommands applies its commands: in order, all or none. */
  applyRestore(script: RestoreScript): Promise<Changes> {
    return this.applyChange((table) => script.applyTo(table), script.lined);
  }

  /** A change made by run on a copy of the running configuration's table; lines: its commands
   *  carry line numbers (an -R: engine refusals name the line). */
  private applyChange(run: (table: ServiceTable) => void, lines: boolean): Promise<Changes> {
    return this.serial(async () => {
      const was = this.current.services;
      const next: DirectorConfig = { ...this.current, services: this.copyOfRunning() };
      const table = new ServiceTable(next, true, was);
      run(table);
      table.done();
      // A new VIP may be some other service's real server: then every service is checked.
      const problem = checkModel(next, table.added || table.removed ? undefined : table.touched.keys())[0];
      if (problem) throw new IpvsadmError(problem.line ? `line ${problem.line}: ${problem.reason}` : problem.reason, 2);
      try {
        // A removal moves the positions after it: the whole difference then (-D and -C only).
        const changes = await this.commit(next, table.removed ? undefined : { keys: [...table.touched.keys()], director: next.timeouts !== this.current.timeouts });
        this.keepSpare(was, table);
        if (changes.length) this.log(`control: ${inBrief(changes)}`);
        return changes;
      } catch (e) {
        // An -R line's records carry its line number: engine refusals name it.
        if (e instanceof ConfigError) throw new IpvsadmError(lines && e.line ? `line ${e.line}: ${e.reason}` : e.reason, 255);
        throw e;
      }
    });
  }

  /** A copy of the running list of services for a command to change (copy-on-write: the
   *  running list itself is never changed): the spare list brought up to date, or a new copy. */
  private copyOfRunning(): ServiceConfig[] {
    const running = this.current.services;
    const spare = this.spareList;
    // Taken whatever happens: a refused command leaves its copy half changed.
    this.spareList = undefined;
    if (spare && spare.of === running && spare.list.length === running.length) {
      for (const i of spare.differs) spare.list[i] = running[i];
      return spare.list;
    }
    const list = running.slice();
    this.madeLists.add(list);
    return list;
  }

  /** After a command went through: was (the running list before it) is the next command's
   *  spare when this state made it and nothing holds it now. The file's list (the loaded
   *  configuration: the data path and the services were started with it), the engine's
   *  (health's effective list may be the running one) and the running list are never taken;
   *  the listeners were given the new configuration and let go of the old one. A command that
   *  added or removed a service moved positions: no spare then. */
  private keepSpare(was: ServiceConfig[], table: ServiceTable): void {
    const running = this.current.services;
    if (table.added || table.removed || !this.madeLists.has(was) || was.length !== running.length) return;
    if (was === running || was === this.applied.services || was === this.file.services) return;
    const differs: number[] = [];
    for (const k of table.touched.keys()) {
      const i = servicePosition(running, k);
      if (i === undefined) return;
      differs.push(i);
    }
    this.spareList = { list: was, of: running, differs };
  }

  /** Re-read the file and merge it in (model.ts: what the file did not change stays as the
   *  control plane left it). Refused whole, with the reason, when anything is wrong. */
  reloadFile(): Promise<string[]> {
    return this.reload().then((r) => r.changes);
  }

  /** reloadFile with the new file's warnings: `wasmvs reload` shows them to whoever reloaded
   *  (a misspelt keyword ignored as keepalived does is not only in the log). */
  reload(): Promise<{ readonly changes: string[]; words: Changes; warnings: string[] }> {
    return this.serial(async () => {
      this.log(`reloading ${this.file.file}`);
      let nextFile: DirectorConfig | undefined;
      try {
        nextFile = this.loadFile();
        for (const w of nextFile.warnings ?? []) this.log(`${WARNING}${w}`);
        const next = mergeReload(this.current, this.file, nextFile);
        const changes = await this.commit(next);
        this.file = nextFile;
        this.log(NOTICE + (changes.length ? `reloaded: ${inBrief(changes)}` : "reloaded: no change"));
        // Every change's words when asked (tests); the reply and the log name the first ones (words).
        return { get changes() { return changes.all(); }, words: changes, warnings: nextFile.warnings ?? [] };
      } catch (e) {
        const why = (e instanceof ConfigError ? await this.everyError(e, nextFile) : e as Error).message;
        this.log(`${ERROR}reload refused, the running configuration stays: ${why}`);
        throw new IpvsadmError(why, 1);
      }
    });
  }
}
