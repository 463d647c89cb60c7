// The daemon's log: syslog's levels, to the console, to journald or to syslog.
//
// Every part of the director logs through one `(line: string) => void` function handed to
// it (the data-path thread's lines come over its message port the same way). A line's
// level rides at its start as sd-daemon(3)'s prefix — `<3>` error, `<4>` warning, `<5>`
// notice, `<6>` info, `<7>` debug; none is info — so a call site says its level with a
// constant (`log(`${WARNING}...`)`) and no interface between the parts changed. The sink
// reads the prefix, filters by --log-level and writes the line where it goes:
// - console (default): stdout, `TIME wasmvs: [LEVEL: ]TEXT` (the level word for error,
//   warning and debug; notice and info read as before);
// - journald (systemd set $JOURNAL_STREAM to stdout's device:inode): `<N>TEXT` per line,
//   which journald records as the priority (SyslogLevelPrefix=, on by default) and times itself;
// - syslog (--log syslog): one RFC 3164 datagram a line to /dev/log, as glibc's syslog(3)
//   sends them (`<PRI>Mmm dd hh:mm:ss wasmvs[PID]: TEXT`), facility daemon as keepalived's
//   default or --log-facility (keepalived's -S 0-7: local0-7).
// Node's dgram has no Unix sockets: the TAP addon sends the datagram (sendDatagram).

import { fstatSync } from "node:fs";
import { constants } from "node:os";
import { printable } from "../config/printable.js";

const osErrno = constants.errno as Record<string, number>;

export const ERROR = "<3>";
export const WARNING = "<4>";
export const NOTICE = "<5>";
export const INFO = "<6>";
export const DEBUG = "<7>";

/** syslog's level names (RFC 5424 table 2), by number. */
export const LEVEL_NAMES = ["emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"];

/** A line's level and its text without the prefix (none: info). */
export function levelOf(line: string): { level: number; text: string } {
  const m = /^<([0-7])>/.exec(line);
  return m ? { level: Number(m[1]), text: line.slice(3) } : { level: 6, text: line };
}

/** A --log-level value: a name or 0-7. */
export function parseLevel(v: string): number | undefined {
  const n = /^[0-7]$/.test(v) ? Number(v) : LEVEL_NAMES.indexOf(v === "warn" ? "warning" : v === "err" ? "error" : v);
  return n >= 0 ? n : undefined;
}

/** A --log-facility value: daemon, local0-local7, or 0-7 for local0-7 as keepalived's -S. */
export function parseFacility(v: string): number | undefined {
  if (v === "daemon") return 3;
  const m = /^(?:local)?([0-7])$/.exec(v);
  return m ? 16 + Number(m[1]) : undefined;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** One RFC 3164 message as syslog(3) sends it to the local socket: PRI, local time, tag. */
export function syslogLine(date: Date, facility: number, level: number, ident: string, pid: number, text: string): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  const stamp = `${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, " ")} ${p2(date.getHours())}:${p2(date.getMinutes())}:${p2(date.getSeconds())}`;
  return `<${facility * 8 + level}>${stamp} ${ident}[${pid}]: ${text}`;
}

/** One console line. */
export function consoleLine(date: Date, level: number, text: string): string {
  return `${date.toISOString()} wasmvs: ${level <= 4 || level === 7 ? `${LEVEL_NAMES[level]}: ` : ""}${text}`;
}

export interface LogOptions {
  /** console: stdout (journald's prefixes when stdout is its stream); syslog: datagrams. */
  to: "console" | "syslog";
  /** Lines above this level are left out (default 6, info). */
  level?: number;
  /** syslog's facility (default 3, daemon). */
  facility?: number;
  /** The syslog socket (default /dev/log). */
  socket?: string;
  ident?: string;
}

/** Whether fd is journald's stream ($JOURNAL_STREAM is "DEVICE:INODE" of the stream systemd connected). */
export function journalStream(fd: number, env = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "");
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]) && st.ino === BigInt(m[2]);
  } catch {
    return false;
  }
}

export interface Logger {
  (line: string): void;
  /** A fatal error (the command's last word): also to syslog in syslog mode; the caller writes stderr. */
  fatal(text: string): void;
  /** Datagrams syslog did not take (its socket missing or full). */
  dropped: number;
}

/** Characters kept of one log line: text from outside (a server's reply, a script's output)
 *  cannot make a line syslog truncates on its own (rsyslog keeps 8 KB, RFC 3164 1 KB) or one
 *  that floods the journal; the first 4096 say what happened. */
export const MAX_LINE = 4096;

function bounded(line: string): string {
  return line.length <= MAX_LINE ? line : `${line.slice(0, MAX_LINE)} ... (${line.length - MAX_LINE} more characters left out)`;
}

/** What sendto's errors mean for a syslog socket. */
const SEND_ERRORS: Record<string, string> = {
  ENOENT: "no such socket", ECONNREFUSED: "nothing listens there, or not a socket", ENOTSOCK: "not a socket",
  EAGAIN: "syslog is not reading", EACCES: "no permission", EMSGSIZE: "line too long",
};

/** The log function for o. send: the datagram sender (the addon's, loaded when first needed). */
export function makeLogger(o: LogOptions, out = (s: string) => void process.stdout.write(s),
  send?: (path: string, bytes: Uint8Array) => number, journal = o.to === "console" && journalStream(1),
  stderr = (s: string) => void process.stderr.write(s), now = () => Date.now()): Logger {
  const max = o.level ?? 6;
  const facility = o.facility ?? 3;
  const socket = o.socket ?? "/dev/log";
  const ident = o.ident ?? "wasmvs";
  // A syslog socket that is missing, not a socket or not reading loses every line: said on
  // stderr (the journal under systemd) at the first line lost, then at most once a minute
  // with the count, so that a wrong --log-socket is not silence.
  let said = -Infinity;
  let droppedSaid = 0;
  const dropped = (errno: number) => {
    logger.dropped++;
    if (now() - said < 60_000) return;
    const name = Object.entries(osErrno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
    const why = SEND_ERRORS[name] ? `${name} (${SEND_ERRORS[name]})` : name;
    // Under journald (stderr is its stream too), at warning priority.
    stderr(`${journalStream(2) ? "<4>" : ""}wasmvs: syslog socket ${socket}: ${why}: ${said === -Infinity ? "log lines are dropped until it takes them" : `${logger.dropped - droppedSaid} more log lines dropped`}\n`);
    said = now();
    droppedSaid = logger.dropped;
  };
  const write = (level: number, text: string) => {
    const lines = printable(text, true).split("\n").map(bounded);
    if (o.to === "syslog") {
      for (const l of lines) {
        const e = send!(socket, Buffer.from(syslogLine(new Date(), facility, level, ident, process.pid, l)));
        if (e !== 0) dropped(e);
      }
    } else if (journal) out(lines.map((l) => `<${level}>${l}\n`).join(""));
    else out(consoleLine(new Date(), level, lines.join("\n")) + "\n");
  };
  const logger = ((line: string) => {
    const { level, text } = levelOf(line);
    if (level <= max) write(level, text);
  }) as Logger;
  logger.dropped = 0;
  logger.fatal = (text) => { if (o.to === "syslog") write(3, text); };
  return logger;
}
