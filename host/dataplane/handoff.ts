// A restart without losing connections: a director stopped on purpose (SIGTERM, SIGINT:
// an upgrade, a changed interface, the service manager's restart) writes its connection
// table to a file once its data path has stopped, and the next `wasmvs run` takes it in
// before its data path starts, so that every connection goes on where it was (TCP
// retransmits what the gap between the two processes dropped).
//
// The entries are IPVS sync protocol v1 entries (assembly/ha/sync.ts encodes and applies
// them, as it does for a backup director) with what remained of each timeout, behind a
// header that says what they are. A file of another format is refused with a message,
// never misread. The same file is the crash journal (journal.ts): while the director runs,
// its data path rewrites it with the whole table every half second, so that a `kill -9`
// or a crash loses only what is younger than that. It is read at start but replaced only
// once the new director has every resource it needs (its journal's first pass): a start
// that fails leaves it untouched for the next one, and once replaced an old table can
// never be applied twice.
//
//   offset  size  field
//   0       8     magic "WVSTABLE"
//   8       4     format version (TABLE_FORMAT), little endian
//   12      4     entry size (36)
//   16      4     entry count
//   20      4     reserved (0)
//   24      8     written at, ms since the epoch (float64)
//   32      ...   entries

import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readSync, unlinkSync, constants } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SYNC_ENTRY_BYTES } from "../engine/index.js";
import { writeFileSafely } from "../io/safe-file.js";

const MAGIC = "WVSTABLE";
/** Bumped whenever the meaning of a file changes. */
export const TABLE_FORMAT = 1;
export const HEADER_BYTES = 32;

export class TableFileError extends Error {}

export interface TakenTable {
  entries: Uint8Array;
  count: number;
  writtenAtMs: number;
}

/** The header of a table of count entries, written at writtenAtMs, at out's start. */
export function encodeHeader(out: Uint8Array, count: number, writtenAtMs: number): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
  out.set(Buffer.from(MAGIC, "latin1"), 0);
  dv.setUint32(8, TABLE_FORMAT, true);
  dv.setUint32(12, SYNC_ENTRY_BYTES, true);
  dv.setUint32(16, count, true);
  dv.setUint32(20, 0, true);
  dv.setFloat64(24, writtenAtMs, true);
  return out;
}

export function encodeTable(entries: Uint8Array, count: number, writtenAtMs: number): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + entries.length);
  encodeHeader(out, count, writtenAtMs);
  out.set(entries, HEADER_BYTES);
  return out;
}

/** The table in buf, or a TableFileError saying why it is not one this version reads. */
export function decodeTable(buf: Uint8Array, path: string): TakenTable {
  if (buf.length < HEADER_BYTES || Buffer.from(buf.subarray(0, 8)).toString("latin1") !== MAGIC) {
    throw new TableFileError(`${path} is not a wasmvs connection table`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const format = dv.getUint32(8, true);
  if (format !== TABLE_FORMAT) {
    throw new TableFileError(`${path} is a connection table of format ${format}, written by another version of wasmvs; this one reads format ${TABLE_FORMAT}`);
  }
  const size = dv.getUint32(12, true);
  const count = dv.getUint32(16, true);
  if (size !== SYNC_ENTRY_BYTES || dv.getUint32(20, true) !== 0 || buf.length !== HEADER_BYTES + count * size) {
    throw new TableFileError(`${path} is damaged: its header says ${count} entries of ${size} bytes, the file has ${buf.length - HEADER_BYTES} bytes of entries`);
  }
  return { entries: buf.subarray(HEADER_BYTES), count, writtenAtMs: dv.getFloat64(24, true) };
}

/** Write the table where the next process will look, atomically (a new file, created
 *  exclusively under a random name, renamed over the old), readable by this user only. */
export function writeTable(path: string, entries: Uint8Array, count: number, writtenAtMs: number): void {
  writeFileSafely(path, encodeTable(entries, count, writtenAtMs), 0o600);
}

/**
 * Read the table at path: undefined when there is none. Refused (TableFileError) when it is
 * not a regular file of this user that only this user can change (the table decides where
 * connections go), when it holds more entries than maxEntries, or when it is not of this
 * version's format. The file stays where it is (the director replaces it once it runs).
 */
export function readTable(path: string, maxEntries: number): TakenTable | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new TableFileError(`${path}: ${code === "ELOOP" ? "a symbolic link (refused)" : code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TableFileError(`${path} is not a regular file`);
    if (st.uid !== (process.getuid?.() ?? st.uid)) throw new TableFileError(`${path} belongs to uid ${st.uid}, not to this user`);
    if (st.mode & 0o022) throw new TableFileError(`${path} can be changed by other users (mode ${(st.mode & 0o777).toString(8)})`);
    const limit = HEADER_BYTES + maxEntries * SYNC_ENTRY_BYTES;
    if (st.size > limit) throw new TableFileError(`${path} holds ${Math.floor((st.size - HEADER_BYTES) / SYNC_ENTRY_BYTES)} connections, more than this director's table (${maxEntries})`);
    const buf = new Uint8Array(st.size);
    for (let at = 0; at < buf.length;) {
      const n = readSync(fd, buf, at, buf.length - at, at);
      if (n === 0) throw new TableFileError(`${path} ended early`);
      at += n;
    }
    return decodeTable(buf, path);
  } finally {
    closeSync(fd);
  }
}

/** readTable, then the file removed (read once, never applied twice). A refused file is left
 *  where it is, for a look. */
export function takeTable(path: string, maxEntries: number): TakenTable | undefined {
  const t = readTable(path, maxEntries);
  if (t) unlinkSync(path);
  return t;
}

/** Temporaries of path (path.<12 hex>.tmp) that a killed process left half written: removed
 *  when they are regular files of this user (never followed, never another user's). */
export function removeStaleTemps(path: string): number {
  const base = basename(path);
  const re = /^\.[0-9a-f]{12}\.tmp$/;
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return 0;
  }
  for (const n of names) {
    if (!n.startsWith(base) || !re.test(n.slice(base.length))) continue;
    const p = join(dirname(path), n);
    try {
      const st = lstatSync(p);
      if (st.isFile() && st.uid === (process.getuid?.() ?? st.uid)) { unlinkSync(p); removed++; }
    } catch { /* gone meanwhile */ }
  }
  return removed;
}
