// The strings of a configuration read from a large file, made to share: each value written
// many times (a real server's address, its method, a scheduler, the text a position names)
// kept once. A token the parser cut from the file's text is, in V8, a slice that holds the
// whole file alive (33 MB at 65,536 services × 10): the one copy kept here is a string of its
// own. Values stay equal (===): nothing that reads the configuration sees a difference, and
// records are changed in place only where a string is replaced by an equal one.

import type { DirectorConfig, Pos } from "./director.js";

/** V8 copies a substring shorter than this (SlicedString::kMinLength); a longer one is a
 *  slice of the string it was cut from. */
const SLICE_MIN = 13;

/** Equal strings, once each, none a slice of a file's text. */
export class StringPool {
  private readonly pool = new Map<string, string>();

  of(s: string): string {
    const known = this.pool.get(s);
    if (known !== undefined) return known;
    // A concatenation is flattened into a string of its own when it is sliced: the result
    // no longer points into what s was cut from.
    const own = s.length < SLICE_MIN ? s : (" " + s).slice(1);
    this.pool.set(own, own);
    return own;
  }
}

function pos(p: Pos | undefined, pool: StringPool): void {
  if (!p) return;
  p.file = pool.of(p.file);
  p.text = pool.of(p.text);
}

/** Every string of cfg (and of what it holds: positions, health, VRRP, ...) from pool. */
export function compactStrings(cfg: DirectorConfig, pool = new StringPool()): void {
  // The services and real servers, the bulk, by their known fields; the rest (small) walked whole.
  for (const s of cfg.services) {
    s.address = pool.of(s.address);
    s.protocol = pool.of(s.protocol) as typeof s.protocol;
    s.scheduler = pool.of(s.scheduler) as typeof s.scheduler;
    pos(s.where, pool);
    if (s.health) walk(s.health, pool, new Set());
    for (const r of s.realServers) {
      r.address = pool.of(r.address);
      r.method = pool.of(r.method) as typeof r.method;
      pos(r.where, pool);
      if (r.health) walk(r.health, pool, new Set());
    }
  }
  const seen = new Set<object>([cfg.services]);
  for (const k of Object.keys(cfg) as (keyof DirectorConfig)[]) {
    const v = cfg[k];
    if (typeof v === "string") (cfg as unknown as Record<string, unknown>)[k] = pool.of(v);
    else if (v !== null && typeof v === "object") walk(v, pool, seen);
  }
}

function walk(x: object, pool: StringPool, seen: Set<object>): void {
  // Plain records and lists only (a compiled regex or a class instance is left as it is).
  if (seen.has(x) || !(Array.isArray(x) || Object.getPrototypeOf(x) === Object.prototype)) return;
  seen.add(x);
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v === "string") {
      const d = Object.getOwnPropertyDescriptor(o, k);
      if (d?.writable) o[k] = pool.of(v);
    } else if (v !== null && typeof v === "object") walk(v, pool, seen);
  }
}
