// keepalived's notify FIFOs for VRRP (global_defs notify_fifo, vrrp_notify_fifo;
// keepalived/core/notify.c fifo_open, keepalived/vrrp/vrrp_notify.c notify_fifo): each state
// change of an instance or a sync group is one line, `INSTANCE "VI_1" MASTER 100` or
// `GROUP "G" FAULT 0`. The FIFO is made if missing (mode 0644, for the configured user),
// opened read-write and non-blocking — a reader that is slow or absent never blocks the
// director; what does not fit in the pipe is lost and counted — and refused unless it is
// a FIFO that this user (or the configured one) owns: a file planted at that path is never
// written to. `*_fifo_script` runs once at start with the FIFO's name as its last argument,
// in its own process group, and gets SIGTERM at stop.

import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import type { Script } from "../health/config.js";
import { SCRIPT_PATH } from "../health/scripts.js";
import { userIds } from "../health/keepalived-checks.js";

export interface FifoConfig {
  path: string;
  /** The FIFO's owner when wasmvs makes it (keepalived: the script user). */
  user?: string;
  /** Run at start with the FIFO's name appended: typically a reader. */
  script?: Script;
  scriptUser?: string;
}

export class NotifyFifo {
  private fd = -1;
  private reader?: ChildProcess;
  /** Lines that did not fit in the pipe (no reader keeping up). */
  lost = 0;

  constructor(private readonly cfg: FifoConfig, private readonly log: (line: string) => void) {}

  open(): void {
    const owner = this.cfg.user ? userIds(this.cfg.user) : undefined;
    // Made if missing; an existing path is checked after it is opened, never trusted by name.
    spawnSync("mkfifo", ["-m", "644", this.cfg.path], { stdio: "ignore" });
    if (owner) spawnSync("chown", [`${owner.uid}:${owner.gid}`, this.cfg.path], { stdio: "ignore" });
    if (this.cfg.script) {
      const [cmd, ...args] = this.cfg.script.argv;
      const u = this.cfg.scriptUser ? userIds(this.cfg.scriptUser) : undefined;
      try {
        this.reader = spawn(cmd, [...args, this.cfg.path], { stdio: "ignore", detached: true, uid: u?.uid, gid: u?.gid, env: { PATH: SCRIPT_PATH } });
        this.reader.on("error", (e) => this.log(`notify FIFO script ${cmd}: ${e.message}`));
      } catch (e) {
        this.log(`notify FIFO script ${cmd}: ${(e as Error).message}`);
      }
    }
    try {
      this.fd = openSync(this.cfg.path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (e) {
      this.log(`notify FIFO ${this.cfg.path}: not used: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }
    const st = fstatSync(this.fd);
    if (!st.isFIFO() || (st.uid !== (process.getuid?.() ?? 0) && st.uid !== owner?.uid)) {
      this.log(`notify FIFO ${this.cfg.path} is not a FIFO this user owns: not used`);
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** One line, whole or not at all (a pipe write of up to PIPE_BUF bytes is atomic). */
  write(line: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, line);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") this.lost++;
      else this.log(`notify FIFO ${this.cfg.path}: ${(e as Error).message}`);
    }
  }

  close(): void {
    if (this.reader?.pid && this.reader.exitCode === null) {
      try {
        process.kill(-this.reader.pid, "SIGTERM");
      } catch { /* gone */ }
    }
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** keepalived's line for a state change: TYPE "NAME" STATE PRIORITY. */
export const fifoLine = (type: "INSTANCE" | "GROUP", name: string, state: string, priority: number) => `${type} "${name}" ${state} ${priority}\n`;
