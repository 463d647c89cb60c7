// The crash journal: the connection table on disk while the director runs, so that a
// `kill -9`, an OOM kill or a crash of a lone director (no backup to fail over to) loses
// no connection older than about a second. Beyond IPVS, whose table lives in the kernel
// and dies with the machine only; keepalived has nothing of the kind.
//
// Every JOURNAL_MS the data-path thread encodes the whole table (Journal), a slice per turn
// of its loop (at most STEP_SLOTS slots looked at, STEP_ENTRIES entries encoded: well under
// a millisecond, whatever the table's size), copies each slice into one of a few shared
// buffers (no allocation; a writer that falls behind makes the pass wait, not memory
// grow) and tells the main thread, whose JournalWriter writes it with asynchronous file
// calls (libuv's pool: a slow disk or a metadata commit never stops forwarding, nor the
// main thread) into a new file created exclusively under a random name
// (host/io/safe-file.ts), then writes the header and renames the file over the table
// file. So the file is always a whole table of the handoff format (handoff.ts: IPVS sync
// v1 entries with what remained of each timeout), read at start by the same code and the
// same checks as a planned restart's; its size is bounded by the table's (36 bytes a
// connection). A pass is not one instant: each entry is as it was when its slice was
// taken (a connection made behind the cursor waits for the next pass), which is all a
// reader needs, since every entry stands alone.
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
import { ERROR, NOTICE } from "../io/log.js";

/** A new pass every this many ms. */
export const JOURNAL_MS = 500;
/** Entries encoded in one turn of the data-path loop at most. */
const STEP_ENTRIES = 4096;
/** Table slots looked at in one turn at most (an empty stretch of a large table costs too). */
const STEP_SLOTS = 65536;
/** Shared buffers of STEP_ENTRIES entries between the data path and the writer (1.2 MB). */
const BUFFERS = 8;

/** What the data path hands the main thread: a pass begins (with the shared buffers, the
 *  first time), a slice of it is in buffer k, it ends. */
export type JournalMessage =
  | { begin: number; shared?: { buffers: SharedArrayBuffer[]; held: SharedArrayBuffer } }
  | { chunk: number; bytes: number }
  | { end: number };

/** The data path's side: the table, a slice at a time. */
export class Journal {
  private inPass = false;
  private from = 0;
  private templates = true;
  private count = 0;
  private due = 0;
  private readonly buffers: Uint8Array[] = [];
  /** held[k] is 1 while buffer k waits for the writer. */
  private readonly held = new Int32Array(new SharedArrayBuffer(4 * BUFFERS));
  private shared = false;
  /** Passes handed over whole; turns that found every buffer held (the writer behind). */
  passes = 0;
  waits = 0;

  constructor(private readonly engine: Engine, private readonly send: (m: JournalMessage) => void,
    private readonly wallMs: () => number = Date.now) {
    for (let k = 0; k < BUFFERS; k++) this.buffers.push(new Uint8Array(new SharedArrayBuffer(STEP_ENTRIES * SYNC_ENTRY_BYTES)));
  }

  /** A pass is under way: the loop comes back at its next turn rather than at its idle pace. */
  get busy(): boolean {
    return this.inPass;
  }

  /** Between two batches of the loop. */
  step(nowMs: number): void {
    if (!this.inPass) {
      if (this.passes > 0 && ((nowMs - this.due) | 0) < 0) return;
      this.due = (nowMs + JOURNAL_MS) >>> 0;
      this.inPass = true;
      this.from = 0;
      this.templates = true;
      this.count = 0;
      // The earliest moment of the pass: a reader shortens every timeout by at least the time since.
      this.send(this.shared ? { begin: this.wallMs() }
        : { begin: this.wallMs(), shared: { buffers: this.buffers.map((b) => b.buffer as SharedArrayBuffer), held: this.held.buffer as SharedArrayBuffer } });
      this.shared = true;
    }
    let k = 0;
    while (k < BUFFERS && Atomics.load(this.held, k) !== 0) k++;
    if (k === BUFFERS) { this.waits++; return; }
    const { next, entries } = this.engine.exportSlice(this.from, this.templates, nowMs, STEP_ENTRIES, STEP_SLOTS);
    if (entries.length) {
      this.buffers[k].set(entries);
      Atomics.store(this.held, k, 1);
      this.send({ chunk: k, bytes: entries.length });
    }
    this.count += entries.length / SYNC_ENTRY_BYTES;
    this.from = next;
    if (next !== 0 && next < this.engine.connCapacity) return;
    // Templates first (their connections find them on import), then the connections.
    if (this.templates) { this.templates = false; this.from = 0; return; }
    this.send({ end: this.count });
    this.inPass = false;
    this.passes++;
  }
}

const EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** The main thread's side: each pass to a new file, renamed over the table file when whole. */
export class JournalWriter {
  private chain: Promise<void> = Promise.resolve();
  private pass?: { fh?: FileHandle; tmp: string; at: number; writtenAtMs: number; failed: boolean };
  private buffers: Uint8Array[] = [];
  private held?: Int32Array;
  private closed = false;
  private failing?: string;
  /** Files written whole. */
  written = 0;

  constructor(private readonly path: string, private readonly log: (line: string) => void) {}

  take(m: JournalMessage): void {
    if ("chunk" in m) {
      const k = m.chunk;
      const data = this.buffers[k].subarray(0, m.bytes);
      this.then(async () => {
        const p = this.pass!;
        for (let done = 0; done < data.length;) done += (await p.fh!.write(data, done, data.length - done, p.at + done)).bytesWritten;
        p.at += data.length;
      }, false, k);
    } else if ("begin" in m) {
      if (m.shared) {
        this.buffers = m.shared.buffers.map((b) => new Uint8Array(b));
        this.held = new Int32Array(m.shared.held);
      }
      const writtenAtMs = m.begin;
      this.then(async () => {
        const tmp = tempName(this.path);
        this.pass = { tmp, at: HEADER_BYTES, writtenAtMs, failed: false };
        this.pass.fh = await open(tmp, EXCLUSIVE, 0o600);
      }, true);
    } else {
      const count = m.end;
      this.then(async () => {
        const p = this.pass!;
        const header = encodeHeader(new Uint8Array(HEADER_BYTES), count, p.writtenAtMs);
        await p.fh!.write(header, 0, HEADER_BYTES, 0);
        await p.fh!.close();
        p.fh = undefined;
        await rename(p.tmp, this.path);
        this.pass = undefined;
        this.written++;
        if (this.failing) { this.log(`${NOTICE}connection journal ${this.path}: written again`); this.failing = undefined; }
      });
    }
  }

  /** Run f after what is queued (a pass's begin, slice or end), then give buffer k back. A
   *  failure drops the pass (its temporary removed, its other slices ignored) and is said
   *  once per kind (a full disk is not news every half second): the last whole file stays.
   *  Once closed, nothing more is written (buffers are still given back). */
  private then(f: () => Promise<void>, begin = false, k = -1): void {
    this.chain = this.chain.then(async () => {
      try {
        if (begin) await this.drop();
        if (this.closed || (!begin && (!this.pass || this.pass.failed))) return;
        await f();
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        if (why !== this.failing) this.log(`${ERROR}connection journal ${this.path}: not written (${why}); the last one written stays`);
        this.failing = why;
        await this.drop();
        this.pass = { tmp: "", at: 0, writtenAtMs: 0, failed: true };
      } finally {
        if (k >= 0 && this.held) Atomics.store(this.held, k, 0);
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

  /** For the status file: the files written whole, and why the last pass failed if it did. */
  view(): { file: string; written: number; failing?: string } {
    return { file: this.path, written: this.written, ...(this.failing ? { failing: this.failing } : {}) };
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
