// The daemon's control interface: a Unix domain socket, one JSON object per line each way:
//
//   {"op":"table"}                      -> {"ok":true,"table":{size,timeouts,services:[...]}}
//   {"op":"connections"}                -> {"ok":true,"connections":[...]}
//   {"op":"list","argv":["-L","-n"]}    -> {"ok":true,"text":"..."} per slice of the table as the data path
//                                          gives it, then {"ok":true,"end":true}: ipvsadm's -L (--stats,
//                                          --rate, ...), -S and -c, streamed (listing.ts); an error after
//                                          the first piece ends the stream as {"ok":false,...}
//   {"op":"apply","commands":[{"argv":["-a","-t","10.0.0.100:80","-r","10.1.0.11"],"line":1},...]}
//                                       -> {"ok":true,"changes":[...]}   ipvsadm command lines, all or none
//   {"op":"apply","commands":[...],"more":true} -> {"ok":true,"pending":N}   a part of a larger -R: held
//                                          (one such batch at a time) until the part without "more"
//                                          arrives on the same connection, then all applied as one
//   {"op":"restore","text":"-A -t ...\n-a -t ...\n","line":1,"more":true} -> {"ok":true,"pending":N}
//   {"op":"restore","text":"...","line":N}  -> {"ok":true,"changed":N}   ipvsadm -R's input itself, in
//                                          parts of whole lines (line: the first one's number), each
//                                          line checked as it arrives and all applied with the last
//                                          part, as apply's parts (restore.ts); parts of both kinds
//                                          may make one -R; the reply counts the changes
//   {"op":"zero","service":{...}?}      -> {"ok":true}
//   {"op":"reload"}                     -> {"ok":true,"changes":[...],"warnings":[...]}
//   {"op":"health"}                     -> {"ok":true,"health":[...]}   each checked real server's state
//   {"op":"vrrp"}                       -> {"ok":true,"vrrp":[...]}     each VRRP instance's state
//   {"op":"view"}                       -> {"ok":true,"view":{...}}     the live view (wasmvs top, the dashboard)
//   {"op":"daemon","argv":[...]}        -> {"ok":true,"daemon":"..."}   --start-daemon, --stop-daemon, -L --daemon
//   errors                              -> {"ok":false,"error":"No such service","status":255}
//
// The default socket is per network namespace, as IPVS tables are: /run/wasmvs/net-INODE.sock
// where INODE names this process's network namespace. The socket is created with its final
// mode (0600, or 0660 with a control group) — no window between bind and chmod — and each
// peer is checked with SO_PEERCRED: root, the daemon's own user, or the control group.
// Every input is bounded: a request line (MAX_REQUEST_BYTES), the clients at once
// (MAX_CLIENTS), a client's idle time (IDLE_TIMEOUT_MS), and its requests in flight (one:
// the next is read once the reply to the last has been taken by the kernel). Changes are
// serialised by the daemon (ControlHost.applyCommands / reloadFile), whoever asks.

import { createServer, connect, Server, Socket } from "node:net";
import { lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { Estimator } from "./estimator.js";
import { EngineAdapter } from "../dataplane/adapter.js";
import { IpvsadmError, parseArgs, Parsed, ServiceKey } from "../config/ipvsadm.js";
import { tableView, zeroEstimates } from "./table.js";
import { CHANGES, MAX_WORD, MAX_WORDS, RestoreScript } from "./restore.js";
import { tapAddon } from "../io/tap.js";
import type { ServerHealthView } from "../health/service.js";
import type { SyncDaemons } from "./syncd.js";
import type { VrrpView } from "../vrrp/format.js";
import { LIVE_VIEW_LIMITS, liveView } from "./live.js";
import { listing } from "./listing.js";
import { ERROR } from "../io/log.js";
import type { ChangeWords } from "../dataplane/changeset.js";

/** Changes a reload's reply words one by one, at most: a reload from an empty table to 10,000
 *  services made 110,000 of them, 8 MB of JSON to write, send and read back that nobody reads
 *  (the log line names its first 100 too: control/daemon.ts inBrief). */
export const REPLIED_CHANGES = 100;

/** A reload's changes as its reply carries them: every one up to REPLIED_CHANGES, else the
 *  first ones and how many more (`more`). */
export function repliedChanges(changes: ChangeWords): { changes: string[]; more?: number } {
  if (changes.length <= REPLIED_CHANGES) return { changes: changes.slice() };
  return { changes: changes.slice(0, REPLIED_CHANGES), more: changes.length - REPLIED_CHANGES };
}

/** Longest request line (an ipvsadm -R larger than this comes in parts: MAX_BATCH_COMMANDS). */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** Commands of one ipvsadm -R sent in parts ("more": true): the largest table (65,536
 *  services x 10 real servers) and its services fit with room. One such batch is held at a
 *  time for the whole director, so its memory is bounded whoever connects. */
export const MAX_BATCH_COMMANDS = 1_200_000;
export const MAX_CLIENTS = 32;
export const IDLE_TIMEOUT_MS = 10_000;

export interface ControlHost {
  engine: EngineAdapter;
  estimator: Estimator;
  /** Apply ipvsadm commands to the running configuration: all or none, one change at a time. */
  applyCommands(commands: Parsed[]): Promise<string[]>;
  /** applyCommands for an ipvsadm -R as the socket holds it (restore.ts); without it, its
   *  commands() go to applyCommands. */
  applyRestore?(script: RestoreScript): Promise<ChangeWords>;
  /** Re-read the configuration file (as SIGHUP), serialised with every other change. */
  reloadFile(): Promise<string[]>;
  /** reloadFile with the file's warnings (bounded: rules.ts boundWarnings), for `wasmvs reload`. */
  reload?(): Promise<{ readonly changes: string[]; warnings: string[]; words?: ChangeWords }>;
  /** Each checked real server's health (-L --health); none without health checking. */
  health?(): ServerHealthView[];
  /** Each VRRP instance's state (-L --vrrp), asked of the data-path thread where the state
   *  machines run; none without VRRP. */
  vrrp?(): Promise<VrrpView[]>;
  /** The connection sync daemons (--start-daemon, --stop-daemon, -L --daemon). */
  syncd?: SyncDaemons;
  log(line: string): void;
}

export interface ControlOptions {
  /** A group whose members may use the socket too (the socket is then 0660). */
  gid?: number;
  /** Overrides of the bounds, for tests. */
  idleTimeoutMs?: number;
  maxRequestBytes?: number;
  /** Called for each request or client refused at a bound (for the metrics). */
  onRefused?: () => void;
}

/** The commands of an apply request, read by ipvsadm's grammar here (the daemon trusts no
 *  parsed structure from a client): each {argv, line?}, a change command, refused with
 *  its line (for -R) when anything is wrong. */
function commandsOf(raw: unknown): Parsed[] {
  if (!Array.isArray(raw)) throw new IpvsadmError("apply needs a list of commands", 2);
  return raw.map((c: unknown, i) => {
    const cmd = c as { argv?: unknown; line?: unknown };
    const line = typeof cmd?.line === "number" && Number.isInteger(cmd.line) && cmd.line > 0 ? cmd.line : undefined;
    const where = line ? `line ${line}: ` : raw.length > 1 ? `command ${i + 1}: ` : "";
    if (!cmd || !Array.isArray(cmd.argv) || cmd.argv.length > MAX_WORDS || !cmd.argv.every((w) => typeof w === "string" && w.length <= MAX_WORD)) {
      throw new IpvsadmError(`${where}a command is {"argv": [up to ${MAX_WORDS} words of up to ${MAX_WORD} characters], "line": N}`, 2);
    }
    let p: Parsed;
    try {
      p = parseArgs(cmd.argv as string[]);
    } catch (e) {
      if (e instanceof IpvsadmError) throw new IpvsadmError(`${where}${e.message}`, e.status);
      throw e;
    }
    if (!CHANGES.has(p.command)) throw new IpvsadmError(`${where}'${p.command}' is not a change`, 2);
    p.line = line;
    return p;
  });
}

/** A restore request's part: the text of whole lines and the first one's line number. */
function restorePart(text: unknown, line: unknown): { text: string; line: number } {
  if (typeof text !== "string" || typeof line !== "number" || !Number.isInteger(line) || line < 1) {
    throw new IpvsadmError(`restore needs "text": whole lines of ipvsadm -R's input, and "line": the first one's number`, 2);
  }
  return { text, line };
}

/** A sync daemon command line (read by ipvsadm's grammar here, as apply's are). */
async function daemon(h: ControlHost, argv: unknown): Promise<string> {
  if (!Array.isArray(argv) || argv.length > MAX_WORDS || !argv.every((w) => typeof w === "string" && w.length <= MAX_WORD)) {
    throw new IpvsadmError(`daemon needs "argv": [up to ${MAX_WORDS} words of up to ${MAX_WORD} characters]`, 2);
  }
  const p = parseArgs(argv as string[]);
  if (!h.syncd) throw new IpvsadmError("this director has no connection sync", 2);
  if (p.command === "start-daemon") await h.syncd.start(p.daemon!);
  else if (p.command === "stop-daemon") await h.syncd.stop(p.daemon!.state);
  else if (p.command !== "list" || !p.format.daemon) throw new IpvsadmError("daemon takes --start-daemon, --stop-daemon or -L --daemon", 2);
  return h.syncd.list();
}

/** A listing's command line (read by ipvsadm's grammar here, as apply's are): its text's pieces. */
function listingOf(h: ControlHost, argv: unknown): { stream: AsyncGenerator<string> } {
  if (!Array.isArray(argv) || argv.length > MAX_WORDS || !argv.every((w) => typeof w === "string" && w.length <= MAX_WORD)) {
    throw new IpvsadmError(`list needs "argv": [up to ${MAX_WORDS} words of up to ${MAX_WORD} characters]`, 2);
  }
  const p = parseArgs(argv as string[]);
  if ((p.command !== "list" && p.command !== "save") || p.format.health || p.format.vrrp || p.format.daemon) {
    throw new IpvsadmError("list takes -L (with --stats, --rate, --thresholds, --persistent-conn, -c, --timeout) or -S", 2);
  }
  return { stream: listing(h.engine, h.estimator, { command: p.command, format: p.format, service: p.service }) };
}

/** zero's service: none (all), or a service key as ipvsadm -Z gives it (-t/-u ADDRESS:PORT or -f MARK). */
function zeroTarget(service: unknown): ServiceKey | undefined {
  if (service === undefined || service === null) return undefined;
  const s = service as Record<string, unknown>;
  const byMark = typeof s === "object" && Number.isInteger(s.fwmark);
  const byAddress = typeof s === "object" && typeof s.protocol === "string" && typeof s.address === "string" && Number.isInteger(s.port);
  if (!byMark && !byAddress) throw new IpvsadmError(`zero takes "service": {"protocol", "address", "port"} or {"fwmark"}, or none for all`, 2);
  return service as ServiceKey;
}

/** A connection's part-sent ipvsadm -R, and the director's one slot for such a batch. */
interface Batching {
  batch?: RestoreScript;
  slot: { held: boolean };
  /** A part of this connection's -R was refused: its later parts (a client may have sent
   *  them already, pipelined) are refused too, up to and with its last, so that no tail of
   *  a refused -R is applied on its own. */
  refused?: boolean;
}

function releaseBatch(b: Batching): void {
  if (b.batch) b.slot.held = false;
  b.batch = undefined;
}

/** Drop a connection's parts after one of them was refused (see Batching.refused). */
function refuseBatch(b: Batching): void {
  b.refused = true;
  releaseBatch(b);
}

async function handle(h: ControlHost, req: { op?: string; commands?: unknown; service?: ServiceKey; argv?: unknown; more?: unknown; text?: unknown; line?: unknown },
  batching: Batching = { slot: { held: false } }): Promise<unknown> {
  switch (req.op) {
    case "list":
      return listingOf(h, req.argv);
    case "table":
      return { ok: true, table: tableView(await h.engine.snapshot(), h.estimator) };
    case "connections":
      return { ok: true, connections: await h.engine.connections() };
    case "apply":
    case "restore": {
      if (batching.refused) {
        // The rest of an -R whose earlier part was refused: refused up to its last part.
        if (req.more !== true) batching.refused = false;
        throw new IpvsadmError("an earlier part of this ipvsadm -R was refused: its later parts are not applied, nothing of it was changed", 2);
      }
      // One request of commands (`wasmvs -e ...`): applied as they are, with no script made
      // for them (a script's address names are 64 KB of tables: an -e at 10,000 services
      // allocated them for nothing, and the scavenges they brought landed on some edits).
      if (req.op === "apply" && req.more !== true && !batching.batch) return { ok: true, changes: await h.applyCommands(commandsOf(req.commands)) };
      // The part read (each line checked) into a script of its own until it is whole.
      const part = new RestoreScript();
      try {
        if (req.op === "apply") part.addParsed(commandsOf(req.commands));
        else {
          const { text, line } = restorePart(req.text, req.line);
          part.addText(text, line);
        }
      } catch (e) {
        if (req.more === true) refuseBatch(batching);
        else releaseBatch(batching);
        throw e;
      }
      let script = part;
      if (req.more === true || batching.batch) {
        if (!batching.batch) {
          if (batching.slot.held) {
            batching.refused = true;
            throw new IpvsadmError("another ipvsadm -R is being sent to this director: try again once it is done", 2);
          }
          batching.slot.held = true;
          batching.batch = new RestoreScript();
        }
        if (req.more === true && batching.batch.count + part.count > MAX_BATCH_COMMANDS) {
          refuseBatch(batching);
          throw new IpvsadmError(`an ipvsadm -R of more than ${MAX_BATCH_COMMANDS} commands: refused, nothing changed`, 2);
        }
        batching.batch.append(part);
        if (req.more === true) return { ok: true, pending: batching.batch.count };
        script = batching.batch;
        releaseBatch(batching);
      }
      const changes = h.applyRestore ? await h.applyRestore(script) : await h.applyCommands(script.commands());
      // An -R's reply counts its changes (110,000 at 10,000 services: 7.8 MB of JSON nobody reads).
      return req.op === "restore" ? { ok: true, changed: changes.length } : { ok: true, changes: changes.slice() };
    }
    case "zero":
      await h.engine.zero(zeroTarget(req.service));
      zeroEstimates(await h.engine.snapshot(), h.estimator);
      return { ok: true };
    case "reload": {
      if (!h.reload) return { ok: true, ...repliedChanges(await h.reloadFile()) };
      const r = await h.reload();
      return { ok: true, ...repliedChanges(r.words ?? r.changes), warnings: r.warnings };
    }
    case "health":
      return { ok: true, health: h.health?.() ?? [] };
    case "daemon":
      return { ok: true, daemon: await daemon(h, req.argv) };
    case "vrrp":
      return { ok: true, vrrp: (await h.vrrp?.()) ?? [] };
    case "view": {
      const snap = await h.engine.boundedSnapshot(LIVE_VIEW_LIMITS);
      return { ok: true, view: liveView(snap, h.estimator, h.health?.() ?? [], snap.vrrp) };
    }
    default:
      throw new IpvsadmError(`unknown request "${String(req.op).slice(0, 40)}"`, 2);
  }
}

/** Whether a daemon answers on path. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
  });
}

/**
 * Take path for the control socket: refuse when another director answers there or when
 * it is something other than a socket (never delete what this daemon did not create);
 * a stale socket left by a director that died is replaced.
 */
export async function claimSocket(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    return;
  }
  if (!st.isSocket()) throw new Error(`control socket ${path}: the path exists and is not a socket; not touching it (choose another with --socket)`);
  // Another user's socket (in a shared folder) is theirs to remove, never this daemon's.
  if (st.uid !== (process.getuid?.() ?? st.uid)) throw new Error(`control socket ${path}: a socket of uid ${st.uid}, not of this user; not touching it (choose another with --socket)`);
  if (await answers(path)) throw new Error(`control socket ${path}: another wasmvs director is running there (stop it first, or use --socket)`);
  unlinkSync(path);
}

/** Listen on path for requests; resolves once listening. */
export async function startControl(h: ControlHost, path: string, o: ControlOptions = {}): Promise<Server> {
  await claimSocket(path);
  const ownUid = process.getuid?.() ?? 0;
  const batchSlot = { held: false };
  const server = createServer((sock: Socket) => {
    // SO_PEERCRED: the kernel's word on who connected.
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    let allowed = false;
    try {
      const c = tapAddon().peerCredentials(fd ?? -1);
      allowed = c.uid === 0 || c.uid === ownUid || (o.gid !== undefined && c.gid === o.gid);
    } catch { /* unknown peer: refused */ }
    if (!allowed) {
      o.onRefused?.();
      sock.end(JSON.stringify({ ok: false, error: "Permission denied: the control socket takes root, the daemon's user or its control_group", status: 2 }) + "\n");
      return;
    }
    const idleMs = o.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    // A -R sent in parts is this connection's until its last part; a client that leaves
    // (or idles out) before it gives the slot back.
    const batching: Batching = { slot: batchSlot };
    sock.on("close", () => releaseBatch(batching));
    sock.setTimeout(idleMs);
    sock.on("timeout", () => sock.destroy());
    const maxBytes = o.maxRequestBytes ?? MAX_REQUEST_BYTES;
    // One request in flight per client: reading stops while a request is served and until its
    // reply has left for the kernel (write()'s false, then 'drain'), so a client that pipelines
    // and never reads holds one reply at most, not one per request (2,000 unread requests grew
    // the daemon by 186 MB). Such a client goes quiet and the idle timeout closes it.
    const lines: string[] = [];
    let serving = false;
    const serve = async () => {
      serving = true;
      sock.pause();
      while (lines.length && !sock.destroyed) {
        const line = lines.shift()!;
        const failure = (e: unknown) => e instanceof IpvsadmError ? { ok: false, error: e.message, status: e.status }
          : { ok: false, error: e instanceof SyntaxError ? "request is not JSON" : String((e as Error).message), status: 2 };
        /** false once the client is gone. */
        const send = async (reply: unknown): Promise<boolean> => {
          if (sock.destroyed || sock.writableEnded) return false;
          if (!sock.write(JSON.stringify(reply) + "\n")) {
            // Both listeners go once either fires: a streamed listing waits here once a piece.
            await new Promise<void>((resolve) => {
              const done = () => { sock.off("drain", done); sock.off("close", done); resolve(); };
              sock.on("drain", done);
              sock.on("close", done);
            });
          }
          return !sock.destroyed;
        };
        let reply: unknown;
        // A client waiting for its reply is not idle: a reload or an -R of a large table may
        // take longer than the idle timeout, and closing the client then loses the answer.
        // The clock runs again for the reply's write (a client that never reads is closed).
        sock.setTimeout(0);
        // The estimator's tick gives way while a command is served (CommandsInFlight); a listing's
        // stream is not waited for (its pieces take turns with the tick's).
        h.estimator.commands.started();
        try {
          reply = await handle(h, JSON.parse(line), batching);
        } catch (e) {
          reply = failure(e);
        }
        sock.setTimeout(idleMs);
        const stream = (reply as { stream?: AsyncGenerator<string> }).stream;
        if (stream) h.estimator.commands.done();
        if (stream) {
          // A listing: each piece written as it comes and the next read only once the kernel has
          // taken it (drain), so a 64k-service listing holds one slice in memory, not the whole text.
          let last: unknown = { ok: true, end: true };
          try {
            for await (const text of stream) {
              if (!(await send({ ok: true, text }))) break;
            }
          } catch (e) {
            last = failure(e);
          }
          if (!(await send(last))) break;
        } else {
          const sent = await send(reply);
          h.estimator.commands.done();
          if (!sent) break;
        }
      }
      serving = false;
      if (!sock.destroyed) sock.resume();
    };
    const answer = (line: string) => {
      lines.push(line);
      if (!serving) void serve();
    };
    const refuse = () => {
      o.onRefused?.();
      sock.removeAllListeners("data");
      lines.length = 0;
      // Answered, then closed both ways: the rest of the line is not read.
      sock.end(JSON.stringify({ ok: false, error: `request too long (over ${maxBytes} bytes): refused`, status: 2 }) + "\n", () => sock.destroy());
    };
    // The pieces of the line being received, joined only once it is complete: memory stays
    // within maxBytes and no byte is copied twice, however the line arrives. The lines of one
    // read wait in lines (one read's worth at most: reading is paused until they are answered).
    const pieces: Buffer[] = [];
    let size = 0;
    sock.on("data", (d: Buffer) => {
      for (let start = 0; ;) {
        const nl = d.indexOf(10, start);
        const piece = d.subarray(start, nl < 0 ? d.length : nl);
        size += piece.length;
        if (size > maxBytes) {
          pieces.length = 0;
          refuse();
          return;
        }
        pieces.push(piece);
        if (nl < 0) return;
        const line = Buffer.concat(pieces, size).toString();
        pieces.length = 0;
        size = 0;
        answer(line);
        start = nl + 1;
      }
    });
    sock.on("error", () => {});
  });
  server.maxConnections = MAX_CLIENTS;
  // The socket gets its final mode at bind (the umask), not by a chmod after it.
  const umask = process.umask(o.gid !== undefined ? 0o117 : 0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => { server.off("error", reject); resolve(); });
    });
  } finally {
    process.umask(umask);
  }
  server.on("error", (e) => h.log(`${ERROR}control socket: ${e.message}`));
  // libuv removes the socket file when the server closes.
  return server;
}
