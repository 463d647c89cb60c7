// The crash journal: the connection table on disk while the director runs, so that a
// `kill -9`, an OOM kill or a crash of a lone director (no backup to fail over to) loses
// no connection older than about a second. Beyond IPVS, whose table lives in the kernel
// and dies with the machine only; keepalived has nothing of the kind.
//
// Every JOURNAL_MS the data-path thread encodes the whole table (Journal), a slice of at
// most STEP_ENTRIES per turn of its loop so that no turn stalls the frames for long, and
// hands each slice to the main thread, whose JournalWriter writes it with asynchronous
// file calls (libuv's pool: a slow disk or a metadata commit never stops forwarding, and
// never the main thread) into a new file created exclusively under a random name
// (host/io/safe-file.ts), then writes the header and renames the file over the table
// file. So the file is always a whole table of the handoff format (handoff.ts: IPVS sync
// v1 entries with what remained of each timeout), read at start by the same code and the
// same checks as a planned restart's; its size is bounded by the table's (36 bytes a
// connection).
//
// A snapshot rather than an append-only log of events: replaying a log needs a snapshot
// anyway, and the table changes faster than a log could be compacted (every packet moves a
// timeout). The cost is per connection held and per pass, never per packet (README:
// "Restarts lose no connection"). No fsync: a killed process loses nothing the kernel
// holds; a lost machine loses its connections anyway.

import { open, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { constants } from "node:fs";
import { Engine, SYNC_ENTRY_BYTES } from "../engine/index.js";
import { tempName } from "../io/safe-file.js";
import { encodeHeader, HEADER_BYTES } from "./handoff.js";

/** A new pass every this many ms. */
export const JOURNAL_MS = 500;
/** Entries encoded in one turn of the data-path loop at most (about 0.4 ms of work). */
const STEP_ENTRIES = 4096;
/** Bytes handed to the writer and not yet written beyond which a new pass is skipped (a
 *  disk slower than the table: the last whole file stays, memory stays bounded). */
const BACKLOG_BYTES = 64 << 20;

/** What the data path hands the main thread: a pass begins, a slice of it, it ends. */
export type JournalMessage = { begin: number } | { chunk: Uint8Array } | { end: number };

/** The data path's side: the table, a slice at a time. */
export class Journal {
  private inPass = false;
  private from = 0;
  private templates = true;
  private count = 0;
  private due = 0;
  /** Passes handed over whole. */
  passes = 0;

  constructor(private readonly engine: Engine, private readonly send: (m: JournalMessage, transfer?: ArrayBuffer[]) => void,
    private readonly wallMs: () => number = Date.now) {}

  /** A pass is under way: the loop comes back soon rather than at its idle pace. */
  get busy(): boolean {
    return this.inPass;
  }

  /** Between batches, right after an engine call at the same nowMs (Engine.exportSlice). */
  step(nowMs: number): void {
    if (!this.inPass) {
      if (this.passes > 0 && ((nowMs - this.due) | 0) < 0) return;
      this.due = (nowMs + JOURNAL_MS) >>> 0;
      this.inPass = true;
      this.from = 0;
      this.templates = true;
      this.count = 0;
      // The earliest moment of the pass: a reader shortens every timeout by at least the time since.
      this.send({ begin: this.wallMs() });
    }
    const cap = this.engine.connCapacity;
    for (let done = 0; done < STEP_ENTRIES;) {
      const { next, entries } = this.engine.exportSlice(this.from, this.templates, nowMs, STEP_ENTRIES - done);
      if (entries.length) {
        // A copy (the view is the RX slots'), moved to the main thread without another.
        const chunk = entries.slice();
        this.send({ chunk }, [chunk.buffer]);
      }
      const n = entries.length / SYNC_ENTRY_BYTES;
      this.count += n;
      done += n;
      this.from = next;
      if (next !== 0 && next < cap) continue;
      // Templates first (their connections find them on import), then the connections.
      if (this.templates) { this.templates = false; this.from = 0; continue; }
      this.send({ end: this.count });
      this.inPass = false;
      this.passes++;
      return;
    }
  }
}

const EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The main thread's side: each pass to a new file, renamed over the table file when whole. */
export class JournalWriter {
  private chain: Promise<void> = Promise.resolve();
  private pass?: { fh?: FileHandle; tmp: string; at: number; writtenAtMs: number; failed: boolean };
  private skipping = false;
  private backlog = 0;
  private closed = false;
  private failing?: string;
  /** Files written whole, passes skipped for a slow disk. */
  readonly stats = { written: 0, skipped: 0 };

  constructor(private readonly path: string, private readonly log: (line: string) => void) {}

  take(m: JournalMessage): void {
    if (this.closed) return;
    if ("begin" in m) {
      this.skipping = this.backlog > BACKLOG_BYTES;
      if (this.skipping) { this.stats.skipped++; return; }
      const writtenAtMs = m.begin;
      this.then(async () => {
        const tmp = tempName(this.path);
        this.pass = { tmp, at: HEADER_BYTES, writtenAtMs, failed: false };
        this.pass.fh = await open(tmp, EXCLUSIVE, 0o600);
      }, true);
    } else if ("chunk" in m) {
      if (this.skipping) return;
      const chunk = m.chunk;
      this.backlog += chunk.length;
      this.then(async () => {
        const p = this.pass!;
        for (let done = 0; done < chunk.length;) done += (await p.fh!.write(chunk, done, chunk.length - done, p.at + done)).bytesWritten;
        p.at += chunk.length;
      }, false, chunk.length);
    } else {
      if (this.skipping) return;
      const count = m.end;
      this.then(async () => {
        const p = this.pass!;
        const header = encodeHeader(new Uint8Array(HEADER_BYTES), count, p.writtenAtMs);
        await p.fh!.write(header, 0, HEADER_BYTES, 0);
        await p.fh!.close();
        p.fh = undefined;
        await rename(p.tmp, this.path);
        this.pass = undefined;
        this.stats.written++;
        if (this.failing) { this.log(`connection journal ${this.path}: written again`); this.failing = undefined; }
      });
    }
  }

  /** Run f after what is queued (a pass's begin, slice or end). A failure drops the pass
   *  (its temporary removed; its other slices ignored) and is said once per kind (a full
   *  disk is not news every half second): the last whole file stays. */
  private then(f: () => Promise<void>, begin = false, bytes = 0): void {
    this.chain = this.chain.then(async () => {
      this.backlog -= bytes;
      if (begin) await this.drop();
      else if (!this.pass || this.pass.failed) return;
      try {
        await f();
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        if (why !== this.failing) this.log(`connection journal ${this.path}: not written (${why}); the last one written stays`);
        this.failing = why;
        await this.drop();
        this.pass = { tmp: "", at: 0, writtenAtMs: 0, failed: true };
      }
    });
  }

  private async drop(): Promise<void> {
    const p = this.pass;
    this.pass = undefined;
    if (!p || p.failed) return;
    await p.fh?.close().catch(() => {});
    if (p.tmp) await unlink(p.tmp).catch(() => {});
  }

  /** Everything handed over so far written (or dropped). */
  settled(): Promise<void> {
    return this.chain;
  }

  /** No more passes: one under way is dropped (its temporary removed); resolves once the
   *  file is left alone (before a stop writes the final table over it). */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    await this.drop();
  }
}
