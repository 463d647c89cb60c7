// Scripts as keepalived runs them (MISC_CHECK's misc_path, notify_up/notify_down,
// quorum_up/quorum_down): as script_user, refused under enable_script_security when a
// non-root user could change them, killed at their timeout (SIGTERM, then SIGKILL a second
// later, to the whole process group), their output logged a bounded amount at a time.
// At most MAX_RUNNING run at once, the rest wait their turn: a thousand MISC_CHECKs or a
// script that hangs or floods its output never blocks the daemon.

import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { dirname } from "node:path";
import { SCRIPT_PATH, type Script } from "../config/health.js";
import { userIds } from "../config/keepalived-checks.js";

export const MAX_RUNNING = 64;
/** Output kept from one run (the rest is counted, not kept). */
export const MAX_OUTPUT_BYTES = 4096;
const KILL_GRACE_MS = 1000;

export interface ScriptResult {
  /** Exit status (undefined when killed by a signal or not run). */
  code?: number;
  signal?: string;
  timedOut: boolean;
  /** Why it did not run (refused by enable_script_security, not found). */
  refused?: string;
  output: string;
}

export interface ScriptPolicy {
  user?: { uid: number; gid: number; user: string };
  /** enable_script_security: refuse scripts a non-root user could change. */
  security: boolean;
  log: (line: string) => void;
}

/** Why path may not run under enable_script_security (keepalived's check_script_secure):
 *  the file or a folder above it writable by someone other than root. */
export function insecurity(path: string): string | undefined {
  let p = path;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      return `${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    if (st.uid !== 0) return `${p} belongs to uid ${st.uid}, not root`;
    if (st.mode & 0o020 && st.gid !== 0) return `${p} is writable by group ${st.gid}`;
    // A world-writable folder with the sticky bit (/tmp) lets others add files, not replace ours.
    if (st.mode & 0o002 && !(st.isDirectory() && st.mode & 0o1000)) return `${p} is writable by everyone`;
    if (p === "/") return undefined;
    p = dirname(p);
  }
}

export class ScriptRunner {
  private running = 0;
  private waiting: (() => void)[] = [];
  /** Scripts started, and output bytes dropped past MAX_OUTPUT_BYTES (for the metrics). */
  readonly stats = { started: 0, timedOut: 0, refused: 0, outputDropped: 0, peakRunning: 0 };

  constructor(private policy: ScriptPolicy) {}

  /** New settings (a reload changed script_user or enable_script_security). */
  setPolicy(policy: ScriptPolicy): void {
    this.policy = policy;
  }

  /** Run s (extra arguments appended) as user (else script_user), killed after timeoutMs. Never rejects. */
  async run(s: Script, timeoutMs: number, extra: string[] = [], user?: string): Promise<ScriptResult> {
    if (this.policy.security) {
      const why = insecurity(s.argv[0]);
      if (why) {
        this.stats.refused++;
        return { timedOut: false, refused: `enable_script_security: ${why}`, output: "" };
      }
    }
    if (this.running >= MAX_RUNNING) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    this.stats.peakRunning = Math.max(this.stats.peakRunning, this.running);
    try {
      return await this.spawn(s, timeoutMs, extra, user);
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private spawn(s: Script, timeoutMs: number, extra: string[], user?: string): Promise<ScriptResult> {
    this.stats.started++;
    return new Promise((resolve) => {
      let u: { uid: number; gid: number } | undefined = this.policy.user;
      try {
        if (user) u = userIds(user);
      } catch (e) {
        resolve({ timedOut: false, refused: (e as Error).message, output: "" });
        return;
      }
      let child;
      try {
        child = spawn(s.argv[0], [...s.argv.slice(1), ...extra], {
          stdio: ["ignore", "pipe", "pipe"], detached: true, uid: u?.uid, gid: u?.gid, env: { PATH: SCRIPT_PATH },
        });
      } catch (e) {
        resolve({ timedOut: false, refused: (e as Error).message, output: "" });
        return;
      }
      let output = "";
      const take = (b: Buffer) => {
        const room = MAX_OUTPUT_BYTES - output.length;
        if (room > 0) output += b.subarray(0, room).toString("utf8");
        if (b.length > room) this.stats.outputDropped += b.length - Math.max(room, 0);
      };
      child.stdout!.on("data", take);
      child.stderr!.on("data", take);
      let timedOut = false;
      const group = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch { /* gone */ }
      };
      const term = setTimeout(() => {
        timedOut = true;
        this.stats.timedOut++;
        group("SIGTERM");
        kill = setTimeout(() => group("SIGKILL"), KILL_GRACE_MS);
      }, timeoutMs);
      let kill: NodeJS.Timeout | undefined;
      child.once("error", (e) => {
        clearTimeout(term);
        resolve({ timedOut: false, refused: `${s.argv[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, output });
      });
      child.once("close", (code, signal) => {
        clearTimeout(term);
        if (kill) clearTimeout(kill);
        if (output.trim()) this.policy.log(`script ${s.argv[0]}: ${output.trim().split("\n").slice(0, 20).join(" | ")}`);
        resolve({ code: code ?? undefined, signal: signal ?? undefined, timedOut, output });
      });
    });
  }
}
