// FILE_CHECK (keepalived/trackers/track_file.c): the number at the start of a tracked
// file (strtol: decimal, 0x hex, 0 octal; an empty or unreadable file reads as 0) times
// the checker's weight, negated with reverse. With weight 0, a non-zero number means down;
// otherwise a result of -254 or below means down, anything else is up and adds that much
// to the server's weight.

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { FileChecker } from "../../config/health.js";
import { Outcome } from "./outcome.js";

/** The value keepalived reads from a tracked file (its first 127 bytes, as strtol reads them). */
export function trackedValue(path: string): number {
  let text = "";
  try {
    // Non-blocking, then checked: a FIFO (or a device) planted at the path would block the
    // main thread in open() or read() — health checks, VRRP, the control socket with it.
    // Only a regular file is read; anything else reads as an unreadable file does (0). A
    // link is followed, as keepalived follows it (the path is the administrator's).
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) return 0;
      const buf = Buffer.alloc(127);
      text = buf.subarray(0, readSync(fd, buf, 0, 127, 0)).toString("latin1");
    } finally {
      closeSync(fd);
    }
  } catch {
    return 0;
  }
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/.exec(text);
  if (!m) return 0;
  const digits = m[2];
  const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === "0" ? parseInt(digits, 8) : parseInt(digits, 10);
  return m[1] === "-" ? -v : v;
}

export function fileCheck(c: FileChecker): Outcome {
  const v = trackedValue(c.path);
  if (c.weight === 0) {
    const down = (v !== 0) !== c.reverse;
    return down ? { ok: false, reason: `${c.path} reads ${v}` } : { ok: true, reason: `${c.path} reads ${v}` };
  }
  const status = Math.max(-254, Math.min(254, v * c.weight * (c.reverse ? -1 : 1)));
  if (status <= -254) return { ok: false, reason: `${c.path} reads ${v} (x ${c.weight}${c.reverse ? ", reversed" : ""} = fault)` };
  return { ok: true, reason: `${c.path} reads ${v}`, add: status };
}
