// The crash journal: the connection table on disk while the director runs, so that a
// `kill -9`, an OOM kill or a crash of a lone director (no backup to fail over to) loses
// no connection older than about a second. Beyond IPVS, whose table lives in the kernel
// and dies with the machine only; keepalived has nothing of the kind.
//
// Every JOURNAL_MS the data-path thread writes the whole table, a slice per timer tick
// (at most STEP_ENTRIES, so one tick's work stays bounded whatever the table holds), into
// a new file created exclusively under a random name (host/io/safe-file.ts), then writes
// its header and renames it over the table file. The file is always a whole table of the
// handoff format (handoff.ts: IPVS sync v1 entries with what remained of each timeout),
// read at start by the same code and the same checks as a planned restart's; its size
// is bounded by the table's (36 bytes a connection). A snapshot rather than an append-only
// log of events: replaying a log needs the snapshot anyway, and the table changes faster
// than a log could be compacted (every packet moves a timeout). The cost is per connection
// held, not per packet: one 36-byte entry per connection per pass, written to the page
// cache (no fsync: a killed process loses nothing the kernel holds; a lost machine loses
// the connections anyway).

import { Engine, SYNC_ENTRY_BYTES } from "../engine/index.js";
import { commitTemp, openTemp, writeAll } from "../io/safe-file.js";
import { encodeHeader, HEADER_BYTES } from "./handoff.js";

/** A new pass every this many ms (while frames flow; an idle loop ticks once a second). */
export const JOURNAL_MS = 500;
/** Entries written in one tick at most (the rest of a pass waits for the next ticks). */
const STEP_ENTRIES = 65536;

export class Journal {
  private fd = -1;
  private tmp = "";
  private from = 0;
  private templates = true;
  private count = 0;
  private writtenAtMs = 0;
  private due = 0;
  private readonly header = new Uint8Array(HEADER_BYTES);
  private failing?: string;
  /** Passes completed (the file replaced). */
  passes = 0;

  constructor(private readonly engine: Engine, private readonly path: string, private readonly log: (line: string) => void,
    private readonly wallMs: () => number = Date.now) {}

  /** Between batches, right after the engine's tick at the same nowMs (Engine.exportSlice). */
  step(nowMs: number): void {
    try {
      if (this.fd < 0) {
        if (this.passes > 0 && ((nowMs - this.due) | 0) < 0) return;
        this.due = (nowMs + JOURNAL_MS) >>> 0;
        ({ fd: this.fd, tmp: this.tmp } = openTemp(this.path));
        this.from = 0;
        this.templates = true;
        this.count = 0;
        // The earliest moment of the pass: a reader shortens every timeout by at least the time since.
        this.writtenAtMs = this.wallMs();
      }
      const cap = this.engine.connCapacity;
      for (let written = 0; written < STEP_ENTRIES;) {
        const { next, entries } = this.engine.exportSlice(this.from, this.templates, nowMs);
        if (entries.length) writeAll(this.fd, entries, HEADER_BYTES + this.count * SYNC_ENTRY_BYTES);
        const n = entries.length / SYNC_ENTRY_BYTES;
        this.count += n;
        written += n;
        this.from = next;
        if (next !== 0 && next < cap) continue;
        // Templates first (their connections find them on import), then the connections.
        if (this.templates) { this.templates = false; this.from = 0; continue; }
        writeAll(this.fd, encodeHeader(this.header, this.count, this.writtenAtMs), 0);
        const { fd, tmp } = this;
        this.fd = -1;
        commitTemp(fd, tmp, this.path);
        this.passes++;
        if (this.failing) { this.log(`connection journal ${this.path}: written again`); this.failing = undefined; }
        return;
      }
    } catch (e) {
      this.abandon();
      // Said once per kind of failure (a full disk is not news every half second); the last good file stays.
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      if (why !== this.failing) this.log(`connection journal ${this.path}: not written (${why}); the last one written stays`);
      this.failing = why;
    }
  }

  /** A pass in progress is dropped (its temporary removed): the last whole file stays. */
  abandon(): void {
    if (this.fd < 0) return;
    const { fd, tmp } = this;
    this.fd = -1;
    try { commitTemp(fd, tmp, this.path, false); } catch { /* closed and removed as far as possible */ }
  }
}
