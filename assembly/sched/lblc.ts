// Locality-based least connections (ip_vs_lblc.c): each destination address (daddr, the
// "locality" of a cache cluster) sticks to the server it was first given, as long as that
// server can take it — available, weight > 0, and not overloaded in lblc's sense (more
// active connections than its weight while some server has under half its weight busy);
// otherwise the least loaded server by overhead / weight (wlc's comparison, the first
// usable one starting) is chosen and remembered.
//
// The memory (daddr -> server) is one table for every service, LBLC_ENTRIES entries, open
// addressing over PROBE slots. As IPVS's timer does, a check every minute (CHECK_EXPIRE_
// INTERVAL) makes every 30th one (COUNT_FOR_FULL_EXPIRATION) a full check that forgets the
// entries unused for 24 h (lblc_expiration): lblcCollect, from the engine's tick; until
// then an old entry is still used, as in IPVS. IPVS's tables grow past 16384 entries and
// the minute's check trims them by the entries unused for 6 min (ENTRY_TIMEOUT); this one
// is bounded, so a full probe window gives its oldest entry unused for 6 min (or one
// already past 24 h) to the new daddr — or, with none, the choice is made without being
// remembered ("if we fail to create a cache entry, we'll just use the valid dest").

import { now } from "../engine/state";
import { destActive, destAddr, destAvailable, destNext, destService, destWeight, NONE, svcHead } from "../svc/service";
import { scheduleWlc } from "./wlc";

export const LBLC_ENTRIES: u32 = 16384;
/** Where lblc's and lblcr's records alike keep their last use (u32 ms). */
export const LOCALITY_LASTUSE: usize = 8;
/** An entry: daddr u32, service u16 (indexes < 65,536), last use u32, the server's address
 *  u32 (to notice a reused record), the server's index u32 (NONE: empty). */
@inline const E_SIZE: usize = 20;
@inline const E_DADDR: usize = 0;
@inline const E_SVC: usize = 4;
@inline const E_LASTUSE: usize = LOCALITY_LASTUSE;
@inline const E_DEST_ADDR: usize = 12;
@inline const E_DEST: usize = 16;
@inline const PROBE: u32 = 16;
/** sysctl lblc_expiration's default, and ENTRY_TIMEOUT (ms). */
@inline const EXPIRATION_MS: u32 = 24 * 3600 * 1000;
@inline const ENTRY_TIMEOUT_MS: u32 = 6 * 60 * 1000;

export const LBLC_TABLE_BYTES: usize = <usize>LBLC_ENTRIES * E_SIZE;
let table: usize = 0;

export function lblcLayout(base: usize): void {
  table = base;
  for (let i: u32 = 0; i < LBLC_ENTRIES; i++) store<u32>(table + <usize>i * E_SIZE, NONE, E_DEST);
}

/** Forget service s's entries (it was added, removed or given another scheduler). */
export function lblcForget(s: u32): void {
  if (table == 0) return;
  for (let i: u32 = 0; i < LBLC_ENTRIES; i++) {
    let e = table + <usize>i * E_SIZE;
    if (load<u32>(e, E_DEST) != NONE && <u32>load<u16>(e, E_SVC) == s) store<u32>(e, NONE, E_DEST);
  }
}

/** ip_vs_lblc_full_check: forget the entries unused for lblc_expiration. */
export function lblcCollect(): void {
  if (table == 0) return;
  for (let i: u32 = 0; i < LBLC_ENTRIES; i++) {
    let e = table + <usize>i * E_SIZE;
    if (load<u32>(e, E_DEST) != NONE && stale(e, EXPIRATION_MS)) store<u32>(e, NONE, E_DEST);
  }
}

/** Where (service, daddr)'s probe window starts in a table of `entries` (a power of two);
 *  lblcr's table uses it too. */
@inline export function localityHome(s: u32, daddr: u32, entries: u32): u32 {
  let h = (daddr ^ (s * 0x9e3779b1)) * 0x85ebca6b;
  return (h ^ (h >>> 16)) & (entries - 1);
}
@inline function home(s: u32, daddr: u32): u32 { return localityHome(s, daddr, LBLC_ENTRIES); }

/** Whether the record at e (its last use at LOCALITY_LASTUSE) is at least ms old. */
@inline export function localityStale(e: usize, ms: u32): bool { return <i32>(now - load<u32>(e, LOCALITY_LASTUSE)) >= <i32>ms; }
@inline function stale(e: usize, ms: u32): bool { return localityStale(e, ms); }

/** lblc's is_overloaded: busier than its weight while another server is under half. */
export function lblcOverloaded(s: u32, d: u32): bool {
  if (<i64>destActive(d) <= <i64>destWeight(d)) return false;
  for (let x = svcHead(s); x != NONE; x = destNext(x)) {
    if (<i64>destActive(x) * 2 < <i64>destWeight(x)) return true;
  }
  return false;
}

export function scheduleLblc(s: u32, daddr: u32): u32 {
  let h = home(s, daddr);
  let found: usize = 0;
  for (let k: u32 = 0; k < PROBE; k++) {
    let e = table + <usize>((h + k) & (LBLC_ENTRIES - 1)) * E_SIZE;
    if (load<u32>(e, E_DEST) == NONE) continue;
    if (<u32>load<u16>(e, E_SVC) == s && load<u32>(e, E_DADDR) == daddr) { found = e; break; }
  }
  if (found != 0) {
    store<u32>(found, now, E_LASTUSE);
    let d = load<u32>(found, E_DEST);
    // The remembered server, if it is still the same one (its record may have been reused) and can take it.
    if (destAvailable(d) && destService(d) == s && destAddr(d) == load<u32>(found, E_DEST_ADDR) && destWeight(d) > 0 && !lblcOverloaded(s, d)) return d;
  }
  let d = scheduleWlc(s);
  if (d == NONE) return NONE;
  let e = found != 0 ? found : claim(s, h);
  if (e != 0) {
    store<u32>(e, daddr, E_DADDR);
    store<u16>(e, <u16>s, E_SVC);
    store<u32>(e, d, E_DEST);
    store<u32>(e, now, E_LASTUSE);
    store<u32>(e, destAddr(d), E_DEST_ADDR);
  }
  return d;
}

/** A slot for a new entry in the probe window: an empty or 24-h-old one, else the oldest
 *  unused for 6 min, else none (0). */
function claim(s: u32, h: u32): usize {
  let oldest: usize = 0;
  for (let k: u32 = 0; k < PROBE; k++) {
    let e = table + <usize>((h + k) & (LBLC_ENTRIES - 1)) * E_SIZE;
    if (load<u32>(e, E_DEST) == NONE || stale(e, EXPIRATION_MS)) return e;
    if (stale(e, ENTRY_TIMEOUT_MS) && (oldest == 0 || <i32>(load<u32>(e, E_LASTUSE) - load<u32>(oldest, E_LASTUSE)) < 0)) oldest = e;
  }
  return oldest;
}
