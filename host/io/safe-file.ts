// Every file the daemon writes goes through here. A temporary file beside the target,
// created exclusively under a random name (O_CREAT|O_EXCL|O_NOFOLLOW: a link or file
// planted there in advance makes the open fail, it is never followed or truncated), then
// renamed over the target (rename replaces a link planted at the target itself, never
// the file it points to). The same as mkstemp(3) + rename(2), which is what keepalived
// and IPVS's tools do for their pid and state files; Node has no mkstemp, and these few
// lines need no library.

import { randomBytes } from "node:crypto";
import { closeSync, constants, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";

const EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A name beside path that nobody can predict: path.<12 random hex>.tmp. */
export const tempName = (path: string) => `${path}.${randomBytes(6).toString("hex")}.tmp`;

/** A new file beside path, created exclusively (a name taken by anything makes it fail). */
export function openTemp(path: string, mode = 0o600): { fd: number; tmp: string } {
  const tmp = tempName(path);
  return { fd: openSync(tmp, EXCLUSIVE, mode), tmp };
}

/** Write all of data at fd from position at. */
export function writeAll(fd: number, data: Uint8Array, at: number): void {
  for (let done = 0; done < data.length;) done += writeSync(fd, data, done, data.length - done, at + done);
}

/** Close fd, and rename tmp over path (or remove tmp when ok is false or the rename fails). */
export function commitTemp(fd: number, tmp: string, path: string, ok = true): void {
  closeSync(fd);
  try {
    if (!ok) throw undefined;
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* gone */ }
    if (ok) throw e;
  }
}

/** Replace path with data, atomically: readers see the old file or the new one, whole. */
export function writeFileSafely(path: string, data: Uint8Array | string, mode = 0o600): void {
  const { fd, tmp } = openTemp(path, mode);
  let ok = false;
  try {
    writeAll(fd, typeof data === "string" ? Buffer.from(data) : data, 0);
    ok = true;
  } finally {
    commitTemp(fd, tmp, path, ok);
  }
}

/** writeFileSafely off the calling thread's back (the status file, from the main thread). */
export function writeFileSafelyAsync(path: string, data: string, mode = 0o644): Promise<void> {
  return writeFileSafelyInPieces(path, (write) => write(data), mode);
}

/** writeFileSafelyAsync of text made in pieces: write(piece) for each in order (awaited: pieces
 *  go to the file a few tens of kilobytes at a time, as they are made). The status file at 10,000
 *  services was made whole first, then encoded and written in one piece on the main thread. */
export async function writeFileSafelyInPieces(path: string, make: (write: (piece: string) => Promise<void>) => Promise<void>, mode = 0o644): Promise<void> {
  const tmp = tempName(path);
  const h = await open(tmp, EXCLUSIVE, mode);
  try {
    let held: string[] = [];
    let heldLength = 0;
    const flush = async () => {
      const text = held.join("");
      held = [];
      heldLength = 0;
      const bytes = Buffer.from(text);
      for (let done = 0; done < bytes.length;) done += (await h.write(bytes, done, bytes.length - done)).bytesWritten;
    };
    await make(async (piece) => {
      held.push(piece);
      heldLength += piece.length;
      if (heldLength >= PIECES_WRITTEN_AT) await flush();
    });
    await flush();
    await h.close();
    await rename(tmp, path);
  } catch (e) {
    await h.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Text held before writeFileSafelyInPieces writes it (characters). */
const PIECES_WRITTEN_AT = 64 * 1024;
