// The key of authenticated connection sync (sync_auth_key_file, assembly/ha/auth.ts): read
// when the configuration is, from a file only this user can read (the key lets whoever has
// it write into the backup's connection table). The same file on every director.

import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { createHash } from "node:crypto";
import { SettingError } from "./settings.js";

/** Fewer bytes than this are not a key worth the name (RFC 2104 asks for at least the hash's 32). */
export const SYNC_KEY_MIN_BYTES = 16;
const SYNC_KEY_MAX_FILE = 4096;

/** The key in the file at path, as hex: its bytes less one trailing newline (so that
 *  `openssl rand -hex 32 > FILE` works), hashed with SHA-256 when longer than 64 bytes
 *  (RFC 2104). A SettingError says why a file is refused. */
export function readSyncKey(path: string): string {
  if (!path.startsWith("/")) throw new SettingError("the sync key file needs an absolute path");
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SettingError(`sync key file ${path}: ${code === "ELOOP" ? "a symbolic link (refused)" : code === "ENOENT" ? "no such file" : code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SettingError(`sync key file ${path} is not a regular file`);
    if (process.getuid && st.uid !== process.getuid()) throw new SettingError(`sync key file ${path} belongs to uid ${st.uid}, not to this user`);
    if (st.mode & 0o077) throw new SettingError(`sync key file ${path} can be read or changed by other users (mode ${(st.mode & 0o777).toString(8)}; chmod 600)`);
    if (st.size > SYNC_KEY_MAX_FILE) throw new SettingError(`sync key file ${path} has ${st.size} bytes, more than ${SYNC_KEY_MAX_FILE}`);
    const buf = Buffer.alloc(st.size);
    for (let at = 0; at < buf.length;) {
      const n = readSync(fd, buf, at, buf.length - at, at);
      if (n === 0) break;
      at += n;
    }
    let key = buf;
    if (key.length && key[key.length - 1] === 0x0a) key = key.subarray(0, key.length - (key.length > 1 && key[key.length - 2] === 0x0d ? 2 : 1));
    if (key.length < SYNC_KEY_MIN_BYTES) throw new SettingError(`sync key file ${path} holds ${key.length} bytes: a key needs at least ${SYNC_KEY_MIN_BYTES}`);
    return (key.length > 64 ? createHash("sha256").update(key).digest() : key).toString("hex");
  } finally {
    closeSync(fd);
  }
}
