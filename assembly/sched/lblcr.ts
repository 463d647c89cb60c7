// Locality-based least connections with replication (ip_vs_lblcr.c): each destination
// address has a set of servers. A new connection goes to the set's least loaded usable
// member (ip_vs_dest_set_min); when that one is overloaded in lblc's sense, or the set has
// none, wlc's choice over the whole service joins the set at its head and takes the
// connection. A set of more than one server that has not changed for lblcr_expiration
// (24 h) sheds its most loaded member (ip_vs_dest_set_max) on its next use.
//
// The memory is one table for every service (LBLCR_ENTRIES entries of 80 bytes, open
// addressing over PROBE slots), forgotten as lblc's is (sched/lblc.ts: the full check every
// 30 min drops the sets unused for lblcr_expiration, 24 h); a set holds at most
// MEMBERS servers — IPVS's sets are unbounded — and a full set sheds its most loaded member
// before another joins. A member whose record now belongs to another server (it was removed
// and the record reused) leaves the set when the set is next used; one removed but still
// draining stays, unusable, as in IPVS.

import { now } from "../engine/state";
import { destAddr, destAvailable, destOverloaded, destService, destWeight, NONE } from "../svc/service";
import { connOverhead } from "./lc";
import { lblcOverloaded, localityHome, localityStale, LOCALITY_LASTUSE } from "./lblc";
import { scheduleWlc } from "./wlc";

export const LBLCR_ENTRIES: u32 = 16384;
@inline const MEMBERS: u32 = 8;
@inline const E_SIZE: usize = 80;
@inline const E_DADDR: usize = 0;
@inline const E_SVC: usize = 4;
@inline const E_COUNT: usize = 6;
@inline const E_USED: usize = 7;
@inline const E_LASTUSE: usize = LOCALITY_LASTUSE;
@inline const E_LASTMOD: usize = 12;
/** MEMBERS u32 server indexes, the set's head first. */
@inline const E_DEST: usize = 16;
/** MEMBERS u32 server addresses (wire order), to notice a reused record. */
@inline const E_DEST_ADDR: usize = 48;
@inline const PROBE: u32 = 16;
/** sysctl lblcr_expiration's default, and ENTRY_TIMEOUT (ms). */
@inline const EXPIRATION_MS: u32 = 24 * 3600 * 1000;
@inline const ENTRY_TIMEOUT_MS: u32 = 6 * 60 * 1000;

export const LBLCR_TABLE_BYTES: usize = <usize>LBLCR_ENTRIES * E_SIZE;
let table: usize = 0;

export function lblcrLayout(base: usize): void {
  table = base;
  memory.fill(base, 0, LBLCR_TABLE_BYTES);
}

/** Forget service s's sets (it was added, removed or given another scheduler). */
export function lblcrForget(s: u32): void {
  if (table == 0) return;
  for (let i: u32 = 0; i < LBLCR_ENTRIES; i++) {
    let e = table + <usize>i * E_SIZE;
    if (load<u8>(e, E_USED) != 0 && <u32>load<u16>(e, E_SVC) == s) store<u8>(e, 0, E_USED);
  }
}

/** ip_vs_lblcr_full_check: forget the sets unused for lblcr_expiration. */
export function lblcrCollect(): void {
  if (table == 0) return;
  for (let i: u32 = 0; i < LBLCR_ENTRIES; i++) {
    let e = table + <usize>i * E_SIZE;
    if (load<u8>(e, E_USED) != 0 && stale(e, EXPIRATION_MS)) store<u8>(e, 0, E_USED);
  }
}

@inline function home(s: u32, daddr: u32): u32 { return localityHome(s, daddr, LBLCR_ENTRIES); }

@inline function stale(e: usize, ms: u32): bool { return localityStale(e, ms); }
@inline function count(e: usize): u32 { return <u32>load<u8>(e, E_COUNT); }
@inline function member(e: usize, i: u32): u32 { return load<u32>(e + E_DEST + (<usize>i << 2)); }

/** Remove member i, keeping the order of the others. */
function removeAt(e: usize, i: u32): void {
  let n = count(e);
  for (let k = i; k + 1 < n; k++) {
    store<u32>(e + E_DEST + (<usize>k << 2), load<u32>(e + E_DEST + (<usize>(k + 1) << 2)));
    store<u32>(e + E_DEST_ADDR + (<usize>k << 2), load<u32>(e + E_DEST_ADDR + (<usize>(k + 1) << 2)));
  }
  store<u8>(e, <u8>(n - 1), E_COUNT);
}

/** Drop members whose record is no longer the server that joined. */
function purge(e: usize, s: u32): void {
  for (let i: u32 = 0; i < count(e);) {
    let d = member(e, i);
    if (destService(d) != s || destAddr(d) != load<u32>(e + E_DEST_ADDR + (<usize>i << 2))) removeAt(e, i);
    else i++;
  }
}

/** ip_vs_dest_set_min: the first usable member, then the least overhead / weight. */
function setMin(e: usize): u32 {
  let n = count(e);
  let i: u32 = 0;
  let least = NONE;
  for (; i < n; i++) {
    let d = member(e, i);
    if (destOverloaded(d)) continue;
    if (destWeight(d) > 0 && destAvailable(d)) { least = d; break; }
  }
  if (least == NONE) return NONE;
  let loh = <i64>connOverhead(least);
  for (i++; i < n; i++) {
    let d = member(e, i);
    if (destOverloaded(d)) continue;
    let doh = <i64>connOverhead(d);
    if (loh * <i64>destWeight(d) > doh * <i64>destWeight(least) && destAvailable(d)) { least = d; loh = doh; }
  }
  return least;
}

/** ip_vs_dest_set_max: the member position with the most overhead / weight (weight > 0). */
function setMax(e: usize): i32 {
  let n = count(e);
  let i: u32 = 0;
  let most: i32 = -1;
  for (; i < n; i++) if (destWeight(member(e, i)) > 0) { most = <i32>i; break; }
  if (most < 0) return -1;
  let moh = <i64>connOverhead(member(e, <u32>most));
  for (i++; i < n; i++) {
    let d = member(e, i);
    let doh = <i64>connOverhead(d);
    if (moh * <i64>destWeight(d) < doh * <i64>destWeight(member(e, <u32>most)) && destWeight(d) > 0) { most = <i32>i; moh = doh; }
  }
  return most;
}

/** ip_vs_dest_set_insert(set, dest, check): at the head, unless it is a member already. */
function insert(e: usize, d: u32): void {
  let n = count(e);
  for (let i: u32 = 0; i < n; i++) if (member(e, i) == d) return;
  if (n == MEMBERS) {
    let m = setMax(e);
    removeAt(e, m >= 0 ? <u32>m : n - 1);
    n--;
  }
  for (let k = n; k > 0; k--) {
    store<u32>(e + E_DEST + (<usize>k << 2), load<u32>(e + E_DEST + (<usize>(k - 1) << 2)));
    store<u32>(e + E_DEST_ADDR + (<usize>k << 2), load<u32>(e + E_DEST_ADDR + (<usize>(k - 1) << 2)));
  }
  store<u32>(e + E_DEST, d);
  store<u32>(e + E_DEST_ADDR, destAddr(d));
  store<u8>(e, <u8>(n + 1), E_COUNT);
  store<u32>(e, now, E_LASTMOD);
}

export function scheduleLblcr(s: u32, daddr: u32): u32 {
  let h = home(s, daddr);
  let found: usize = 0;
  for (let k: u32 = 0; k < PROBE; k++) {
    let e = table + <usize>((h + k) & (LBLCR_ENTRIES - 1)) * E_SIZE;
    if (load<u8>(e, E_USED) == 0) continue;
    if (<u32>load<u16>(e, E_SVC) == s && load<u32>(e, E_DADDR) == daddr) { found = e; break; }
  }
  if (found != 0) {
    store<u32>(found, now, E_LASTUSE);
    purge(found, s);
    let d = setMin(found);
    // More than one member and unchanged for lblcr_expiration: shed the most loaded.
    if (count(found) > 1 && <i32>(now - load<u32>(found, E_LASTMOD)) > <i32>EXPIRATION_MS) {
      let m = setMax(found);
      if (m >= 0) { removeAt(found, <u32>m); store<u32>(found, now, E_LASTMOD); }
    }
    if (d != NONE && !lblcOverloaded(s, d)) return d;
    d = scheduleWlc(s);
    if (d == NONE) return NONE;
    insert(found, d);
    return d;
  }
  let d = scheduleWlc(s);
  if (d == NONE) return NONE;
  // ip_vs_lblcr_new; without a slot the choice is made without being remembered.
  let e = claim(h);
  if (e != 0) {
    store<u32>(e, daddr, E_DADDR);
    store<u16>(e, <u16>s, E_SVC);
    store<u8>(e, 0, E_COUNT);
    store<u8>(e, 1, E_USED);
    store<u32>(e, now, E_LASTUSE);
    insert(e, d);
  }
  return d;
}

/** A slot for a new entry in the probe window: an empty or 24-h-old one, else the oldest
 *  unused for 6 min, else none (0). */
function claim(h: u32): usize {
  let oldest: usize = 0;
  for (let k: u32 = 0; k < PROBE; k++) {
    let e = table + <usize>((h + k) & (LBLCR_ENTRIES - 1)) * E_SIZE;
    if (load<u8>(e, E_USED) == 0 || stale(e, EXPIRATION_MS)) return e;
    if (stale(e, ENTRY_TIMEOUT_MS) && (oldest == 0 || <i32>(load<u32>(e, E_LASTUSE) - load<u32>(oldest, E_LASTUSE)) < 0)) oldest = e;
  }
  return oldest;
}
