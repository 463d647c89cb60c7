// Maglev mode (wasmvs's scheduler "maglev"): the lookup table of Google's Maglev paper
// (Eisenbud et al., NSDI 2016, section 3.4) built as Katran builds it (MaglevHashV2,
// katran/lib/MaglevHashV2.cpp): M = 65537 entries (or another prime the engine starts
// with); every server has an offset and a skip
// (MurmurHash3 x64 of its identity with Katran's seeds 42/0 and 2718281828/2307); the
// servers take turns, a server's turn coming each time its running sum of weight reaches
// the largest weight, and take the next free entry of their permutation. A flow picks entry
// murmur3(5-tuple) mod M.
//
// Unlike ip_vs_mh (the kernel's "mh", keyed with the kernel's per-boot-constant hsiphash and
// taking servers in the order they were added), everything here is a pure function of the
// service's servers and weights: a server's identity is (address << 16 | port) in host order
// and the servers are taken in ascending order of it, so two directors given the same
// servers in any order, or a director after a reload, hold byte-identical tables and send a
// flow to the same server. Servers of weight 0 are left out (Katran's drain); one that is
// overloaded (upper threshold) keeps its entries and its flows are refused, as IPVS refuses
// a connection no server can take.

import { ServiceField } from "../abi";
import { destAddr, destNext, destOverloaded, destPort, destWeight, NONE, svcHead, svcRec, svcSchedTable } from "../svc/service";
import { bswap16, bswap32 } from "../wire/bytes";
import { murmur3x64 } from "./murmur3";

/** M, the table's size: a prime, 65537 unless the engine was started with another. A
 *  service's table (M u32 server indexes) comes from the scheduler arena (sched/arena.ts)
 *  when it takes maglev and goes back when it leaves it: no per-engine list of slots. */
let M: u32 = 65537;
// Katran's kHashSeed0..3.
@inline const SEED0: u32 = 0;
@inline const SEED1: u32 = 2307;
@inline const SEED2: u64 = 42;
@inline const SEED3: u64 = 2718281828;
/** Per server while a table is built: sort key (u64: its identity), offset, skip, next, and
 *  its running sum (by rounds) or turns taken (by turns) as u32, the round of its next turn
 *  (u64), its index (u32). */
@inline const DS_SIZE: usize = 40;
@inline const DS_DEST: usize = 32;

let scratch: usize = 0;
/** Servers the scratch has room for (the most one service may have). */
let scratchServers: u32 = 0;
/** The turn heap while a table is built: server positions (u32), earliest turn first. */
let heap: usize = 0;

/** Scratch bytes for building one table of a service with at most `servers` servers. */
export function maglevScratchBytes(servers: u32): usize {
  return <usize>servers * (DS_SIZE + 4) + 64;
}

/** Whether n can be M: a prime from 251 to 1048573 (the paper asks for a prime, so that
 *  every skip walks the whole table). */
export function maglevSizeValid(n: u32): bool {
  if (n < 251 || n > 1048573 || (n & 1) == 0) return false;
  for (let d: u32 = 3; d * d <= n; d += 2) if (n % d == 0) return false;
  return true;
}

export function maglevLayout(scratchBase: usize, servers: u32, size: u32): void {
  M = size;
  scratch = (scratchBase + 7) & ~<usize>7;
  scratchServers = servers;
  heap = scratch + <usize>servers * DS_SIZE;
}

@inline function table(s: u32): usize { return svcSchedTable(s); }
@inline function isDirty(s: u32): bool { return load<u32>(svcRec(s), ServiceField.SCHED_TABLE_DIRTY) != 0; }

/** A server's identity: address and port in host order. */
@inline function identity(d: u32): u64 { return (<u64>bswap32(destAddr(d)) << 16) | <u64>bswap16(destPort(d)); }

/** Heapsort of n u64 keys at ds (stride DS_SIZE): ascending. */
function sortKeys(n: u32): void {
  if (n < 2) return;
  let i: i32 = <i32>(n >> 1) - 1;
  while (true) {
    siftDown(<u32>i, n);
    if (i == 0) break;
    i--;
  }
  for (let end = n - 1; end > 0; end--) {
    swap(0, end);
    siftDown(0, end);
  }
}
@inline function keyAt(i: u32): u64 { return load<u64>(scratch + <usize>i * DS_SIZE); }
@inline function destAt(i: u32): u32 { return load<u32>(scratch + <usize>i * DS_SIZE, DS_DEST); }
@inline function swap(a: u32, b: u32): void {
  let t = keyAt(a);
  let td = destAt(a);
  store<u64>(scratch + <usize>a * DS_SIZE, keyAt(b));
  store<u32>(scratch + <usize>a * DS_SIZE, destAt(b), DS_DEST);
  store<u64>(scratch + <usize>b * DS_SIZE, t);
  store<u32>(scratch + <usize>b * DS_SIZE, td, DS_DEST);
}
function siftDown(root: u32, n: u32): void {
  let r = root;
  while (true) {
    let child: u32 = 2 * r + 1;
    if (child >= n) return;
    if (child + 1 < n && keyAt(child + 1) > keyAt(child)) child++;
    if (keyAt(r) >= keyAt(child)) return;
    swap(r, child);
    r = child;
  }
}

/** Service s's servers changed: its table is built again before its next use (the next
 *  flow, or a read of it), so that loading or editing many servers costs one build. */
export function maglevChanged(s: u32): void {
  if (table(s) != 0) store<u32>(svcRec(s), 1, ServiceField.SCHED_TABLE_DIRTY);
}

/** Build service s's table now (the benchmark times this). */
export function maglevBuild(s: u32): void {
  if (table(s) != 0) build(s);
}

@inline function ensureBuilt(s: u32): void {
  if (isDirty(s)) build(s);
}

@inline function ds(i: u32): usize { return scratch + <usize>i * DS_SIZE; }
@inline function turnOf(i: u32): u64 { return load<u64>(ds(i), 24); }
/** Whether position a's turn comes before b's: the earlier round, then the server that
 *  comes first in the round. */
@inline function before(a: u32, b: u32): bool {
  let ra = turnOf(a), rb = turnOf(b);
  return ra < rb || (ra == rb && a < b);
}
@inline function heapAt(h: u32): u32 { return load<u32>(heap + (<usize>h << 2)); }
@inline function heapSet(h: u32, i: u32): void { store<u32>(heap + (<usize>h << 2), i); }
function heapDown(root: u32, n: u32): void {
  let h = root;
  let item = heapAt(h);
  while (true) {
    let child: u32 = 2 * h + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heapAt(child + 1), heapAt(child))) child++;
    if (!before(heapAt(child), item)) break;
    heapSet(h, heapAt(child));
    h = child;
  }
  heapSet(h, item);
}
/** The round of the turn after a server of weight w has taken p. */
@inline function nextTurn(p: u32, w: u32, maxWeight: u32): u64 {
  return ((<u64>p + 1) * <u64>maxWeight + <u64>w - 1) / <u64>w;
}

function build(s: u32): void {
  store<u32>(svcRec(s), 0, ServiceField.SCHED_TABLE_DIRTY);
  let t = table(s);
  for (let i: u32 = 0; i < M; i++) store<u32>(t + (<usize>i << 2), NONE);
  // The servers that take part, keyed by identity (unique in a service) so that sorting orders them.
  let n: u32 = 0;
  let maxWeight: u32 = 0;
  let sumWeight: u64 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    let w = destWeight(d);
    if (w <= 0 || n >= scratchServers) continue;
    store<u64>(ds(n), identity(d));
    store<u32>(ds(n), d, DS_DEST);
    if (<u32>w > maxWeight) maxWeight = <u32>w;
    sumWeight += <u64>w;
    n++;
  }
  if (n == 0) return;
  sortKeys(n);
  if (n == 1) {
    let only = destAt(0);
    for (let i: u32 = 0; i < M; i++) store<u32>(t + (<usize>i << 2), only);
    return;
  }
  for (let i: u32 = 0; i < n; i++) {
    let e = ds(i);
    let id = load<u64>(e);
    store<u32>(e, <u32>(murmur3x64(id, SEED2, SEED0) % <u64>M), 8);
    store<u32>(e, <u32>(murmur3x64(id, SEED3, SEED1) % <u64>(M - 1)) + 1, 12);
    store<u32>(e, 0, 16);
    store<u32>(e, 0, 20);
  }
  // MaglevHashV2 visits every server every round, and a round can place nothing: with one
  // server of weight 65,535 among thousands of weight 1 that is rounds × servers = minutes
  // of stalled forwarding. When the rounds would cost much more than the table, the same
  // turns are taken from a heap in the order the rounds would take them (round, then
  // position): the same table in O(M log n).
  let rounds = (<u64>M * <u64>maxWeight) / sumWeight + 1;
  if (rounds * <u64>n <= <u64>8 * <u64>M) placeByRounds(t, n, maxWeight);
  else placeByTurns(t, n, maxWeight);
}

/** Server at position i takes its turn: the next free entry of its permutation. u32
 *  arithmetic, as Katran's (offset + next * skip wraps there too for the largest values). */
@inline function takeTurn(t: usize, e: usize): void {
  let offset = load<u32>(e, 8);
  let skip = load<u32>(e, 12);
  let next = load<u32>(e, 16);
  let cur = (offset + next * skip) % M;
  while (load<u32>(t + (<usize>cur << 2)) != NONE) {
    next++;
    cur = (offset + next * skip) % M;
  }
  store<u32>(t + (<usize>cur << 2), load<u32>(e, DS_DEST));
  store<u32>(e, next + 1, 16);
}

/** MaglevHashV2's loop as Katran writes it: each round every server's running sum gains its
 *  weight, and a server whose sum reaches the largest weight takes a turn. */
function placeByRounds(t: usize, n: u32, maxWeight: u32): void {
  let runs: u32 = 0;
  while (true) {
    for (let i: u32 = 0; i < n; i++) {
      let e = ds(i);
      let cum = load<u32>(e, 20) + <u32>destWeight(load<u32>(e, DS_DEST));
      if (cum < maxWeight) { store<u32>(e, cum, 20); continue; }
      store<u32>(e, cum - maxWeight, 20);
      takeTurn(t, e);
      if (++runs == M) return;
    }
  }
}

/** The same turns in the same order from a heap. A server of weight w takes its p-th turn
 *  in the first round whose running sum reaches p·maxWeight: round ceil(p·maxWeight / w). */
function placeByTurns(t: usize, n: u32, maxWeight: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    store<u64>(ds(i), nextTurn(0, <u32>destWeight(load<u32>(ds(i), DS_DEST)), maxWeight), 24);
    heapSet(i, i);
  }
  let h: i32 = <i32>(n >> 1) - 1;
  while (h >= 0) { heapDown(<u32>h, n); h--; }
  for (let runs: u32 = 0; runs < M; runs++) {
    let e = ds(heapAt(0));
    takeTurn(t, e);
    let placed = load<u32>(e, 20) + 1;
    store<u32>(e, placed, 20);
    store<u64>(e, nextTurn(placed, <u32>destWeight(load<u32>(e, DS_DEST)), maxWeight), 24);
    heapDown(0, n);
  }
}

/** The table's entry i of service s: a server index, or NONE. */
export function maglevEntry(s: u32, i: u32): u32 {
  if (table(s) == 0 || i >= M) return NONE;
  ensureBuilt(s);
  return load<u32>(table(s) + (<usize>i << 2));
}

/** The flow's slot: murmur3 of (saddr << 32 | daddr, proto << 32 | sport << 16 | dport),
 *  all in host order, seed 0. */
@inline export function maglevFlowSlot(saddr: u32, daddr: u32, sportWire: u32, dportWire: u32, proto: u32): u32 {
  let a = (<u64>bswap32(saddr) << 32) | <u64>bswap32(daddr);
  let b = (<u64>proto << 32) | (<u64>bswap16(sportWire) << 16) | <u64>bswap16(dportWire);
  return <u32>(murmur3x64(a, b, 0) % <u64>M);
}

export function scheduleMaglev(s: u32, saddr: u32, daddr: u32, sportWire: u32, dportWire: u32, proto: u32): u32 {
  let d = maglevEntry(s, maglevFlowSlot(saddr, daddr, sportWire, dportWire, proto));
  if (d == NONE || destWeight(d) <= 0 || destOverloaded(d)) return NONE;
  return d;
}
