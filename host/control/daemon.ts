// The director's configuration model and the one way it changes. Every change — an
// ipvsadm command from the control socket, `wasmvs reload`, SIGHUP — goes through one
// queue: changes apply one at a time, each entirely or not at all, and `running` always
// says what the engine holds. Independent of TAP and threads: tests drive it with the
// in-thread engine adapter.

import { EngineAdapter } from "../dataplane/adapter.js";
import { IpvsadmError, Parsed } from "../config/ipvsadm.js";
import { applyCommandInPlace, checkModel, cloneConfig, mergeReload } from "../config/model.js";
import { ConfigError, DirectorConfig, laterErrors, sortErrors } from "../config/rules.js";
import { fileOrders } from "./load.js";
import { scratchErrors } from "../dataplane/reload.js";
import { effective, HealthView, INITIAL } from "../health/overlay.js";
import { ERROR, NOTICE, WARNING } from "../io/log.js";

export class ControlState {
  private chain: Promise<unknown> = Promise.resolve();

  /** file: the configuration as loaded from loadFile() at start; the engine holds it
   *  through health's overlay (host/health/overlay.ts) as view saw it then. */
  constructor(private readonly engine: EngineAdapter, private file: DirectorConfig, private readonly loadFile: () => DirectorConfig,
    private readonly log: (line: string) => void = () => {}, private view: HealthView = INITIAL) {
    this.current = file;
    this.applied = effective(file, view);
  }

  private current: DirectorConfig;
  private applied: DirectorConfig;
  private listeners: ((cfg: DirectorConfig) => void)[] = [];

  /** The running configuration (what the file and ipvsadm commands made it). */
  get running(): DirectorConfig {
    return this.current;
  }

  /** What the engine holds: the running configuration as health checking lets it be. */
  get inEngine(): DirectorConfig {
    return this.applied;
  }

  /** Health checking's view, and f called with each new running configuration. */
  follow(view: HealthView, f: (cfg: DirectorConfig) => void): void {
    this.view = view;
    this.listeners.push(f);
  }

  /** f called with each new running configuration the engine took (VRRP follows a reload). */
  watch(f: (cfg: DirectorConfig) => void): void {
    this.listeners.push(f);
  }

  /** Apply the running configuration again through the overlay (health changed). */
  refresh(): Promise<string[]> {
    return this.serial(async () => {
      const next = effective(this.current, this.view);
      const changes = await this.engine.apply(this.applied, next);
      this.applied = next;
      if (changes.length) this.log(`health: ${changes.join("; ")}`);
      return changes;
    });
  }

  /** next becomes the running configuration: the engine gets its effective form. Health
   *  checking follows only once the engine took it, so a refused change leaves every
   *  checker as it was. */
  private async commit(next: DirectorConfig): Promise<string[]> {
    const eff = effective(next, this.view);
    const changes = await this.engine.apply(this.applied, eff);
    this.current = next;
    this.applied = eff;
    if (this.listeners.length) {
      for (const f of this.listeners) f(next);
      // Checkers the change (re)started see their servers as keepalived starts them (alpha).
      const after = effective(next, this.view);
      if (JSON.stringify(after.services) !== JSON.stringify(eff.services)) {
        changes.push(...await this.engine.apply(this.applied, after));
        this.applied = after;
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
    return r;
  }

  /** ipvsadm commands on the running configuration: all or none. Refusals are IpvsadmErrors. */
  applyCommands(commands: Parsed[]): Promise<string[]> {
    return this.serial(async () => {
      // One copy for the whole batch (an -R of thousands of lines must not copy the table per line).
      const next = cloneConfig(this.current);
      for (const c of commands) {
        try {
          applyCommandInPlace(next, c);
        } catch (e) {
          if (e instanceof IpvsadmError && c.line) throw new IpvsadmError(`line ${c.line}: ${e.message}`, e.status);
          throw e;
        }
      }
      const problem = checkModel(next)[0];
      if (problem) throw new IpvsadmError(problem.line ? `line ${problem.line}: ${problem.reason}` : problem.reason, 2);
      try {
        const changes = await this.commit(next);
        if (changes.length) this.log(`control: ${changes.join("; ")}`);
        return changes;
      } catch (e) {
        // An -R line's records carry its line number: engine refusals name it.
        if (e instanceof ConfigError) throw new IpvsadmError(commands.some((c) => c.line) && e.line ? `line ${e.line}: ${e.reason}` : e.reason, 255);
        throw e;
      }
    });
  }

  /** Re-read the file and merge it in (model.ts: what the file did not change stays as the
   *  control plane left it). Refused whole, with the reason, when anything is wrong. */
  reloadFile(): Promise<string[]> {
    return this.reload().then((r) => r.changes);
  }

  /** reloadFile with the new file's warnings: `wasmvs reload` shows them to whoever reloaded
   *  (a misspelt keyword ignored as keepalived does is not only in the log). */
  reload(): Promise<{ changes: string[]; warnings: string[] }> {
    return this.serial(async () => {
      this.log(`reloading ${this.file.file}`);
      let nextFile: DirectorConfig | undefined;
      try {
        nextFile = this.loadFile();
        for (const w of nextFile.warnings ?? []) this.log(`${WARNING}${w}`);
        const next = mergeReload(this.current, this.file, nextFile);
        const changes = await this.commit(next);
        this.file = nextFile;
        this.log(NOTICE + (changes.length ? `reloaded: ${changes.join("; ")}` : "reloaded: no change"));
        return { changes, warnings: nextFile.warnings ?? [] };
      } catch (e) {
        const why = (e instanceof ConfigError ? await this.everyError(e, nextFile) : e as Error).message;
        this.log(`${ERROR}reload refused, the running configuration stays: ${why}`);
        throw new IpvsadmError(why, 1);
      }
    });
  }
}
