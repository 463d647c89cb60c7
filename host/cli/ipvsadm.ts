// `wasmvs -L -n`, `wasmvs -A -t ...`: ipvsadm's command line against the running
// daemon, through its control socket (WASMVS_SOCKET, default this network namespace's /run/wasmvs/net-INODE.sock).

import { connect } from "node:net";
import { readFileSync } from "node:fs";
import {
  ConnView, formatConnections, formatList, formatSave, formatTimeouts, HELP_TEXT, IpvsadmError, parseArgs, sameService, scanSaveLine, TableView,
  VERSION_TEXT, wordsOf,
} from "../config/ipvsadm.js";
import { defaultSocket } from "../io/control-socket.js";
import { formatHealth } from "../health/format.js";
import { formatVrrp, VrrpView } from "../vrrp/format.js";
import type { ServerHealthView } from "../health/service.js";

type Reply = { ok: boolean; error?: string; status?: number; table?: TableView; connections?: ConnView[]; health?: ServerHealthView[]; daemon?: string; vrrp?: VrrpView[] };

/** How long a client waits for the daemon's answer. */
const REPLY_TIMEOUT_MS = 120_000;

/** Why the daemon cannot be reached, in words. ipvsadm's command line starts with ipvsadm's
 *  own "Can't initialize ipvs:" (scripts written for ipvsadm look for it); wasmvs's own
 *  commands (reload, top) say it in wasmvs's words. */
function unreachable(path: string, e: NodeJS.ErrnoException, ipvsadmWording: boolean): IpvsadmError {
  if (ipvsadmWording) {
    const why = e.code === "EACCES" || e.code === "EPERM"
      ? `permission denied on ${path} (the control socket takes root, the daemon's user or its control_group)`
      : e.code === "ENOENT" || e.code === "ECONNREFUSED"
        ? `no wasmvs director is running on ${path} (start one with wasmvs run --config FILE, or point WASMVS_SOCKET at its socket)`
        : `cannot connect to ${path}: ${e.code ?? e.message}`;
    return new IpvsadmError(`Can't initialize ipvs: ${why}`, 2);
  }
  const start = "start one with `wasmvs run --config FILE`, or name its socket with --socket or WASMVS_SOCKET";
  return new IpvsadmError(e.code === "EACCES" || e.code === "EPERM"
    ? `the control socket ${path} is not open to this user (it takes root, the director's user or its control_group)`
    : e.code === "ENOENT"
      ? `no wasmvs director is running here (control socket ${path} not found): ${start}`
      : e.code === "ECONNREFUSED"
        ? `no wasmvs director is running here (nothing answers on the control socket ${path}, left by one that stopped): ${start}`
        : `cannot reach the director's control socket ${path}: ${e.code ?? e.message}`, 2);
}

/** One request to the director on path; its reply. ipvsadmWording: as ipvsadm says it can't reach IPVS. */
export function request(path: string, req: unknown, ipvsadmWording = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const chunks: Buffer[] = [];
    let answered = false;
    sock.setTimeout(REPLY_TIMEOUT_MS, () => {
      sock.destroy();
      reject(new IpvsadmError(`no answer from the director on ${path} within ${REPLY_TIMEOUT_MS / 1000} s`, 2));
    });
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (d) => {
      chunks.push(d);
      if (d.indexOf(10) < 0) return;
      const all = Buffer.concat(chunks).toString();
      answered = true;
      sock.end();
      try {
        resolve(JSON.parse(all.slice(0, all.indexOf("\n"))));
      } catch {
        reject(new IpvsadmError(`the director on ${path} sent an answer that is not JSON`, 2));
      }
    });
    sock.on("error", (e: NodeJS.ErrnoException) => reject(unreachable(path, e, ipvsadmWording)));
    // Closed before a whole reply (a director stopped meanwhile): said, not waited for forever.
    // After an answer no error is built (a later reject would be ignored, but its stack costs
    // ~70 us of a CPU the director shares with this client).
    sock.on("close", () => { if (!answered) reject(new IpvsadmError(`the director on ${path} closed the connection without answering`, 2)); });
  });
}

/** Requests to the director on path one after the other on one connection, all sent at once (the
 *  director answers them in order, one at a time: it reads the next part of an -R while this side
 *  still writes the rest); the last reply, or the first refusal (the director refuses the later
 *  parts of an -R whose part was refused, and drops what it held when the connection closes). */
export function requestSeries(path: string, reqs: unknown[], ipvsadmWording = false): Promise<Reply> {
  return requestLines(path, reqs.map((r) => JSON.stringify(r)), ipvsadmWording);
}

/** requestSeries with each request given as its JSON text. */
export function requestLines(path: string, reqs: string[], ipvsadmWording = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let next = 0;
    let done = false;
    const finish = (e: Error | undefined, r?: Reply) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (e) reject(e);
      else resolve(r!);
    };
    sock.setTimeout(REPLY_TIMEOUT_MS, () => finish(new IpvsadmError(`no answer from the director on ${path} within ${REPLY_TIMEOUT_MS / 1000} s`, 2)));
    sock.on("connect", () => {
      for (const r of reqs) sock.write(r + "\n");
    });
    sock.on("data", replyLines(path, () => done, (e) => finish(e), (r: Reply) => {
      if (!r.ok || ++next >= reqs.length) finish(undefined, r);
    }));
    sock.on("error", (e: NodeJS.ErrnoException) => finish(unreachable(path, e, ipvsadmWording)));
    sock.on("close", () => finish(new IpvsadmError(`the director on ${path} closed the connection without answering`, 2)));
  });
}

/** A socket's "data" handler for the director's replies, one JSON object a line: several may
 *  come in one read and one may span reads. Each is given to each() until stopped() says so; a
 *  line that is not JSON ends it with fail(). */
function replyLines<R>(path: string, stopped: () => boolean, fail: (e: Error) => void, each: (r: R) => void): (d: Buffer) => void {
  const pieces: Buffer[] = [];
  return (d) => {
    for (let start = 0; !stopped();) {
      const nl = d.indexOf(10, start);
      if (nl < 0) { pieces.push(d.subarray(start)); return; }
      pieces.push(d.subarray(start, nl));
      const line = Buffer.concat(pieces).toString();
      pieces.length = 0;
      start = nl + 1;
      let r: R;
      try {
        r = JSON.parse(line);
      } catch {
        fail(new IpvsadmError(`the director on ${path} sent an answer that is not JSON`, 2));
        return;
      }
      each(r);
    }
  };
}

/** Bytes of input one part of a large -R carries (well under the control socket's 8 MiB line). */
const RESTORE_PART_BYTES = 4 * 1024 * 1024;

/** A listing from the director on path (the control socket's "list"), each piece of text given
 *  to out as it arrives: a 64k-service listing is printed as it is read, never held whole. */
export function streamListing(path: string, argv: string[], out: (text: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      sock.destroy();
      if (e) reject(e);
      else resolve();
    };
    sock.setTimeout(REPLY_TIMEOUT_MS, () => finish(new IpvsadmError(`no answer from the director on ${path} within ${REPLY_TIMEOUT_MS / 1000} s`, 2)));
    sock.on("connect", () => sock.write(JSON.stringify({ op: "list", argv }) + "\n"));
    sock.on("data", replyLines(path, () => done, finish, (r: { ok?: boolean; text?: string; end?: boolean; error?: string; status?: number }) => {
      if (!r.ok) finish(new IpvsadmError(r.error ?? "error", r.status ?? 255));
      else if (r.end) finish();
      else if (typeof r.text === "string") out(r.text);
    }));
    sock.on("close", () => finish(new IpvsadmError(`the director on ${path} closed the connection before the listing ended`, 2)));
    sock.on("error", (e: NodeJS.ErrnoException) => finish(unreachable(path, e, true)));
  });
}

async function call(path: string, req: unknown): Promise<Reply> {
  const r = await request(path, req, true);
  if (!r.ok) throw new IpvsadmError(r.error ?? "error", r.status ?? 255);
  return r;
}

/** Commands a restore (-R) does not take. */
const NOT_RESTORED = new Set(["list", "save", "restore", "help", "version", "zero", "start-daemon", "stop-daemon"]);

/** An -R's input as the requests the director takes, each a restore of a part of it well under
 *  a request line, as JSON text (JSON.stringify({op: "restore", line, text, more?})): the text
 *  itself in parts of whole lines (line: the first one's number), each line read by ipvsadm's
 *  grammar here first, so that a wrong one is refused, with its line, before anything is sent;
 *  its warnings said on err. The lines ipvsadm-save writes are checked from the text at once
 *  (scanSaveLine: what it takes, parseArgs takes alike and without a warning), every other one
 *  by parseArgs. All but the last part say "more": the director holds them and applies all at
 *  once with the last (all or none, as one -R). */
export function restoreRequests(input: string, err: (s: string) => void): string[] {
  const parts: string[] = [];
  const n = input.length;
  let lineNo = 0;
  let partStart = 0;
  let partLine = 1;
  let bytes = 0;
  const part = (end: number, more: boolean) =>
    `{"op":"restore","line":${partLine},"text":${JSON.stringify(input.slice(partStart, end))}${more ? `,"more":true` : ""}}`;
  for (let start = 0; start < n;) {
    let nl = input.indexOf("\n", start);
    if (nl < 0) nl = n;
    // A CR before an LF is not the line's (split(/\r?\n/)).
    const end = nl < n && nl > start && input.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    lineNo++;
    const from = start;
    start = nl + 1;
    // The line's bytes in the request's JSON, its end of line's escapes with them (\r, \n).
    let size = end - from + (nl - end) * 2 + (nl < n ? 2 : 0);
    if (scanSaveLine(input, from, end) === 0) {
      size = Buffer.byteLength(JSON.stringify(input.slice(from, Math.min(nl + 1, n)))) - 2;
      const words = wordsOf(input.slice(from, end));
      if (words.length > 0 && !words[0].startsWith("#")) {
        try {
          const c = parseArgs(words);
          for (const w of c.warnings ?? []) err(`Warning: line ${lineNo}: ${w}\n`);
          if (NOT_RESTORED.has(c.command)) throw new IpvsadmError(`'${c.command}' cannot be restored`, 2);
        } catch (e) {
          if (e instanceof IpvsadmError) throw new IpvsadmError(`restore: line ${lineNo}: ${e.message}`, e.status);
          throw e;
        }
      }
    }
    if (bytes + size > RESTORE_PART_BYTES && from > partStart) {
      parts.push(part(from, true));
      partStart = from;
      partLine = lineNo;
      bytes = 0;
    }
    bytes += size;
  }
  parts.push(part(n, false));
  return parts;
}

/** Run one ipvsadm command line; returns the exit status. */
export async function ipvsadm(argv: string[], out = (s: string) => process.stdout.write(s), err = (s: string) => process.stderr.write(s),
  stdin = () => readFileSync(0, "utf8")): Promise<number> {
  const path = process.env.WASMVS_SOCKET ?? defaultSocket();
  try {
    const p = parseArgs(argv);
    switch (p.command) {
      case "help":
        out(HELP_TEXT);
        return 0;
      case "version":
        out(VERSION_TEXT);
        return 0;
      case "list": {
        if (p.format.vrrp) {
          out(formatVrrp((await call(path, { op: "vrrp" })).vrrp!));
        } else if (p.format.daemon) {
          out((await call(path, { op: "daemon", argv })).daemon!);
        } else if (p.format.health) {
          out(formatHealth((await call(path, { op: "health" })).health!));
        } else {
          // -L (--stats, --rate, ...), -c and --timeout: formatted by the director and printed as
          // the pieces come (host/control/listing.ts).
          await streamListing(path, argv, out);
        }
        return 0;
      }
      case "start-daemon":
      case "stop-daemon":
        await call(path, { op: "daemon", argv });
        return 0;
      case "save":
        await streamListing(path, argv, out);
        return 0;
      case "zero":
        await call(path, { op: "zero", service: p.service });
        return 0;
      case "restore": {
        const r = await requestLines(path, restoreRequests(stdin(), err), true);
        if (!r.ok) throw new IpvsadmError(r.error ?? "error", r.status ?? 255);
        return 0;
      }
      default:
        for (const w of p.warnings ?? []) err(`Warning: ${w}\n`);
        await call(path, { op: "apply", commands: [{ argv }] });
        return 0;
    }
  } catch (e) {
    if (e instanceof IpvsadmError) {
      err(e.message + "\n");
      if (e.showTryHelp) err("Try `wasmvs -h' or 'wasmvs --help' for more information.\n");
      return e.status;
    }
    throw e;
  }
}
