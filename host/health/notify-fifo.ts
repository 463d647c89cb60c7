// keepalived's notify FIFOs (global_defs notify_fifo, vrrp_notify_fifo, lvs_notify_fifo;
// keepalived/core/notify.c fifo_open, vrrp/vrrp_notify.c notify_fifo, check/ipwrapper.c
// notify_fifo_vs/_rs): each state change is one line — of a VRRP instance or sync group,
// `INSTANCE "VI_1" MASTER 100` or `GROUP "G" FAULT 0`, to notify_fifo and vrrp_notify_fifo;
// of a virtual server's quorum or a real server, `VS [10.0.0.100]:tcp:80 UP` or
// `RS [10.1.0.11]:tcp:8080 [10.0.0.100]:tcp:80 DOWN`, to notify_fifo and lvs_notify_fifo
// (keepalived also writes the C string's NUL after those two; wasmvs writes the line only). The FIFO is made if missing (mode 0644, for the configured user),
// opened read-write and non-blocking — a reader that is slow or absent never blocks the
// director; what does not fit in the pipe is lost and counted — and refused unless it is
// a FIFO that this user (or the configured one) owns: a file or link planted at that path
// is never written to, followed or chowned (only a FIFO made by this start is given to
// the user, by fchown on its descriptor). `*_fifo_script` runs once at start with the FIFO's name as its last argument,
// in its own process group, and gets SIGTERM at stop.

import { spawn, spawnSync, ChildProcess } from "node:child_process";
import { closeSync, constants, fchownSync, fstatSync, openSync, writeSync } from "node:fs";
import { SCRIPT_PATH, type FifoConfig } from "../config/health.js";
import { userIds } from "../config/keepalived-checks.js";
import { WARNING } from "../io/log.js";


export class NotifyFifo {
  private fd = -1;
  private reader?: ChildProcess;
  /** Lines that did not fit in the pipe (no reader keeping up). */
  lost = 0;

  constructor(private readonly cfg: FifoConfig, private readonly log: (line: string) => void) {}

  open(): void {
    const owner = this.cfg.user ? userIds(this.cfg.user) : undefined;
    // Made if missing. As keepalived (notify.c fifo_open), only a FIFO made here and now is
    // given to the user, and by its descriptor: `chown PATH` follows a link, and a link
    // planted at the path once handed a root-only file to that user.
    const made = spawnSync("mkfifo", ["-m", "644", this.cfg.path], { stdio: "ignore" }).status === 0;
    if (this.cfg.script) {
      const [cmd, ...args] = this.cfg.script.argv;
      const u = this.cfg.scriptUser ? userIds(this.cfg.scriptUser) : undefined;
      try {
        this.reader = spawn(cmd, [...args, this.cfg.path], { stdio: "ignore", detached: true, uid: u?.uid, gid: u?.gid, env: { PATH: SCRIPT_PATH } });
        this.reader.on("error", (e) => this.log(`${WARNING}notify FIFO script ${cmd}: ${e.message}`));
      } catch (e) {
        this.log(`${WARNING}notify FIFO script ${cmd}: ${(e as Error).message}`);
      }
    }
    // Read-write: opening a FIFO write-only blocks (or fails with ENXIO) until a reader opens
    // it; O_NOFOLLOW refuses a link, O_NONBLOCK a FIFO never stalls the director.
    try {
      this.fd = openSync(this.cfg.path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.log(`${WARNING}notify FIFO ${this.cfg.path}: not used: ${code === "ELOOP" ? "a symbolic link (refused)" : code ?? (e as Error).message}`);
      return;
    }
    // What was opened is checked, never the name: a FIFO of this user (or of the configured one).
    const st = fstatSync(this.fd);
    const self = process.getuid?.() ?? 0;
    if (!st.isFIFO() || (st.uid !== self && st.uid !== owner?.uid)) {
      this.log(`${WARNING}notify FIFO ${this.cfg.path} is not a FIFO this user owns: not used`);
      closeSync(this.fd);
      this.fd = -1;
      return;
    }
    if (made && owner && st.uid === self && (owner.uid !== st.uid || owner.gid !== st.gid)) {
      try {
        fchownSync(this.fd, owner.uid, owner.gid);
      } catch (e) {
        this.log(`${WARNING}notify FIFO ${this.cfg.path}: not given to ${this.cfg.user}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
  }

  /** One line, whole or not at all (a pipe write of up to PIPE_BUF bytes is atomic). */
  write(line: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, line);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") this.lost++;
      else this.log(`${WARNING}notify FIFO ${this.cfg.path}: ${(e as Error).message}`);
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

/** A FIFO's settings, positions aside (a line added above it is no change). */
const same = (c: FifoConfig) => JSON.stringify(c, (k, v) => (k === "where" ? undefined : v));

/** Every configured FIFO, opened once (their scripts run once) and shared by VRRP and the checkers. */
export class NotifyFifos {
  private fifos: { kind: FifoConfig["kind"]; cfg: string; fifo: NotifyFifo }[];
  private opened = false;

  constructor(cfgs: FifoConfig[], private readonly log: (line: string) => void) {
    this.fifos = cfgs.map((c) => ({ kind: c.kind, cfg: same(c), fifo: new NotifyFifo(c, log) }));
  }

  /** A reload's FIFOs: one that stays as it was stays open (its reader script runs on); one
   *  removed or changed is closed (its script stopped), a new or changed one opened. */
  reconfigure(cfgs: FifoConfig[]): void {
    const next = cfgs.map(same);
    const kept = this.fifos.filter((f) => next.includes(f.cfg));
    for (const f of this.fifos) if (!kept.includes(f)) f.fifo.close();
    const added = cfgs.filter((_, k) => !kept.some((f) => f.cfg === next[k])).map((c) => ({ kind: c.kind, cfg: same(c), fifo: new NotifyFifo(c, this.log) }));
    if (this.opened) for (const f of added) f.fifo.open();
    this.fifos = [...kept, ...added];
  }

  get size(): number {
    return this.fifos.length;
  }

  open(): void {
    this.opened = true;
    for (const f of this.fifos) f.fifo.open();
  }

  /** A VRRP line (kind "vrrp") or a checker line ("lvs"): to notify_fifo and that kind's FIFO. */
  write(kind: "vrrp" | "lvs", line: string): void {
    for (const f of this.fifos) if (f.kind === "all" || f.kind === kind) f.fifo.write(line);
  }

  close(): void {
    this.opened = false;
    for (const f of this.fifos) f.fifo.close();
  }
}

/** keepalived's inet_sockaddrtotrio: [ADDR]:proto:PORT. */
const trio = (addr: string, proto: string, port: string) => `[${addr}]:${proto}:${port}`;

/** A virtual server as keepalived's FMT_VS writes it, from wasmvs's key ("tcp 10.0.0.100:80", "fwm 1"). */
export function fifoVs(service: string): string {
  const [proto, rest] = service.split(" ");
  if (proto === "fwm") return `FWM ${rest}`;
  const i = rest.lastIndexOf(":");
  return trio(rest.slice(0, i), proto, rest.slice(i + 1));
}

/** A real server as keepalived's FMT_RS writes it (the virtual server's protocol; tcp for a mark's). */
export function fifoRs(service: string, server: string): string {
  const proto = service.startsWith("udp ") ? "udp" : "tcp";
  const i = server.lastIndexOf(":");
  return trio(server.slice(0, i), proto, server.slice(i + 1));
}
