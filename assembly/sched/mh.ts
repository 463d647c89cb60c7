// Maglev hashing (ip_vs_mh.c, Google's Maglev paper): every service has a lookup table of
// tabSize entries (the kernel's primes[CONFIG_IP_VS_MH_TAB_INDEX - 8], 4093 by default,
// chosen when the engine starts as the kernel's is when it is built), filled by the servers in turn,
// each taking the next free slot of its own permutation (offset and skip from hsiphash of
// its address and port with the kernel's fixed keys), as many times per round as its
// last_weight / gcd (shifted right when the weights need more than tabBits bits). A
// client's address (and port with mh-port) picks the entry; with mh-fallback an unusable
// server's clients walk the table from there as sh-fallback does. The table is rebuilt on
// every change of the servers, as the kernel does; quiescing a server (weight 0) keeps its
// entries (last_weight), so the others' clients do not move.

import { bswap16, bswap32 } from "../wire/bytes";
import { destAddr, destLastWeight, destNext, destOverloaded, destPort, destWeight, NONE, svcHead, svcSchedFlags, svcSchedTable } from "../svc/service";
import { hsiphash32 } from "./hsiphash";

/** ip_vs_mh.c's primes: the table size for CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17. */
const PRIMES: StaticArray<u32> = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
let tabSize: u32 = 4093;
/** CONFIG_IP_VS_MH_TAB_INDEX / 2 (12 / 2 by default). */
let tabBits: u32 = 6;
/** generate_hash_secret's fixed keys: hash1 for offsets and lookups, hash2 for skips. */
@inline const K1: u64 = 2654435761;
@inline const K2: u64 = 2654446892;
@inline const MH_FALLBACK: u32 = 1;
@inline const MH_PORT: u32 = 2;
/** A server's permutation state while the table is built: offset, skip, perm, turns. */
@inline const DS_SIZE: usize = 16;

let setup: usize = 0;
let used: usize = 0;

/** The CONFIG_IP_VS_MH_TAB_INDEX of a table size, or 0 if it is not one of the primes. */
export function mhIndexOf(size: u32): u32 {
  for (let i = 0; i < PRIMES.length; i++) if (PRIMES[i] == size) return <u32>i + 8;
  return 0;
}

/** A service's table (tabSize u32 server indexes) comes from the scheduler arena
 *  (sched/arena.ts); scratch: mhScratchBytes(servers, size) for building one, servers the
 *  most one service may have. */
export function mhLayout(scratch: usize, servers: u32, size: u32): void {
  tabSize = size;
  tabBits = mhIndexOf(size) >> 1;
  setup = scratch;
  used = scratch + <usize>servers * DS_SIZE;
}
export function mhScratchBytes(servers: u32, size: u32): usize { return <usize>servers * DS_SIZE + ((<usize>size + 7) >> 3) + 8; }

@inline function table(s: u32): usize { return svcSchedTable(s); }

/** ip_vs_mh_hashkey: hsiphash of offset + ntohs(port) + ntohl(addr). */
@inline function hashkey(addrWire: u32, portWire: u32, k: u64, offset: u32): u32 {
  return hsiphash32(offset + bswap16(portWire) + bswap32(addrWire), k, k);
}

function gcd(a: i32, b: i32): i32 {
  while (b != 0) { let t = a % b; a = b; b = t; }
  return a;
}

/** fls: the position of the highest set bit, 1-based (0 for 0). */
@inline function fls(x: u32): i32 { return x == 0 ? 0 : 32 - <i32>clz(x); }

/** ip_vs_mh_dest_changed: gcd and shift of the last weights, permutations, population. */
export function mhAssign(s: u32): void {
  let t = table(s);
  let g: i32 = 0;
  let maxw: i32 = 0;
  let n: u32 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    let w = destLastWeight(d);
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > maxw) maxw = w;
    n++;
  }
  if (g < 1 || n > tabSize) {
    for (let i: u32 = 0; i < tabSize; i++) store<u32>(t + (<usize>i << 2), NONE);
    return;
  }
  let shift = fls(<u32>(maxw / g)) - <i32>tabBits;
  let rshift: i32 = shift >= 0 ? shift : 0;
  // ip_vs_mh_permutate, in list order.
  let ds = setup;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    let offset = hashkey(destAddr(d), destPort(d), K1, 0) % tabSize;
    let skip = hashkey(destAddr(d), destPort(d), K2, 0) % (tabSize - 1) + 1;
    let lw = destLastWeight(d);
    let turns = (lw / g) >> rshift;
    if (turns == 0) turns = lw != 0 ? 1 : 0;
    store<u32>(ds, offset, 0);
    store<u32>(ds, skip, 4);
    store<u32>(ds, offset, 8);
    store<i32>(ds, turns, 12);
    ds += DS_SIZE;
  }
  // ip_vs_mh_populate: rounds over the list until every entry is taken.
  memory.fill(used, 0, (<usize>tabSize + 7) >> 3);
  let filled: u32 = 0;
  let dtCount: i32 = 0;
  let head = svcHead(s);
  let p = head;
  while (filled < tabSize) {
    if (p == NONE) p = head;
    ds = setup;
    while (p != NONE) {
      let turns = load<i32>(ds, 12);
      if (turns < 1) { p = destNext(p); ds += DS_SIZE; continue; }
      let c = load<u32>(ds, 8);
      while ((load<u8>(used + (<usize>c >> 3)) & (1 << (c & 7))) != 0) {
        c += load<u32>(ds, 4);
        if (c >= tabSize) c -= tabSize;
      }
      store<u32>(ds, c, 8);
      store<u8>(used + (<usize>c >> 3), <u8>(<u32>load<u8>(used + (<usize>c >> 3)) | (<u32>1 << (c & 7))));
      store<u32>(t + (<usize>c << 2), p);
      if (++filled == tabSize) return;
      if (++dtCount >= turns) { dtCount = 0; p = destNext(p); ds += DS_SIZE; }
    }
  }
}

/** is_unavailable: weight 0 or below, or overloaded. */
@inline function usable(d: u32): bool { return destWeight(d) > 0 && !destOverloaded(d); }

export function scheduleMh(s: u32, saddr: u32, sportWire: u32): u32 {
  let flags = svcSchedFlags(s);
  let port = (flags & MH_PORT) != 0 ? sportWire : 0;
  let t = table(s);
  let ihash = hashkey(saddr, port, K1, 0) % tabSize;
  let d = load<u32>(t + (<usize>ihash << 2));
  if (d == NONE) return NONE;
  if (usable(d)) return d;
  if ((flags & MH_FALLBACK) == 0) return NONE;
  for (let offset: u32 = 0; offset < tabSize; offset++) {
    let roffset = (offset + ihash) % tabSize;
    let h = hashkey(saddr, port, K1, roffset) % tabSize;
    d = load<u32>(t + (<usize>h << 2));
    if (d == NONE) return NONE;
    if (usable(d)) return d;
  }
  return NONE;
}
