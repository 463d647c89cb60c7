// The scheduler arena: one region, sized when the engine starts, from which a service takes
// its scheduler's table when it takes that scheduler (sh and dh: SCHED_BUCKETS entries; mh:
// the kernel's prime; maglev: M) and gives it back when it leaves it or is deleted. Tables
// hold u32 real-server indexes. Each kind of table has one size for the engine's life, so
// a free list per size makes taking and giving back O(1); the part never handed out is
// taken from the top (so pages never used are never touched). A freed table keeps its
// size: memory freed by maglev tables serves maglev tables again, not mh ones.
//
//   base                       top                                   end
//   | tables handed out or on a free list | never handed out (untouched) |
//
// A free table's first u32 links it to the next free table of its size (0: none).

import { Sched } from "../abi";

@inline export const CLASS_NONE: u32 = 0;
@inline export const CLASS_BUCKETS: u32 = 1;
@inline export const CLASS_MH: u32 = 2;
@inline export const CLASS_MAGLEV: u32 = 3;
@inline const CLASSES: u32 = 4;

let base: usize = 0;
let top: usize = 0;
let end: usize = 0;
// Per class: table bytes, free-list head, free-list length (static data: the engine lays
// out memory from __heap_base itself, so nothing here may come from the heap).
const classBytesAt: usize = memory.data(<i32>CLASSES * 4);
const freeHeadAt: usize = memory.data(<i32>CLASSES * 4);
const freeCountAt: usize = memory.data(<i32>CLASSES * 4);
@inline function getClassBytes(c: u32): u32 { return load<u32>(classBytesAt + (<usize>c << 2)); }
@inline function getFreeHead(c: u32): u32 { return load<u32>(freeHeadAt + (<usize>c << 2)); }
@inline function setFreeHead(c: u32, v: u32): void { store<u32>(freeHeadAt + (<usize>c << 2), v); }
@inline function getFreeCount(c: u32): u32 { return load<u32>(freeCountAt + (<usize>c << 2)); }
@inline function setFreeCount(c: u32, v: u32): void { store<u32>(freeCountAt + (<usize>c << 2), v); }

/** Table bytes of n u32 entries, rounded to 64 (a cache line). */
@inline export function tableBytes(entries: u32): u32 { return ((entries << 2) + 63) & ~<u32>63; }

export function arenaLayout(at: usize, bytes: u64, bucketEntries: u32, mhEntries: u32, maglevEntries: u32): void {
  base = at;
  top = at;
  end = at + <usize>bytes;
  store<u32>(classBytesAt, 0);
  store<u32>(classBytesAt + 4, tableBytes(bucketEntries));
  store<u32>(classBytesAt + 8, tableBytes(mhEntries));
  store<u32>(classBytesAt + 12, tableBytes(maglevEntries));
  for (let c: u32 = 0; c < CLASSES; c++) { setFreeHead(c, 0); setFreeCount(c, 0); }
}

/** Bytes of one table of class c. */
@inline export function arenaClassBytes(c: u32): u32 { return c < CLASSES ? getClassBytes(c) : 0; }

/** A table of class c (its address), or 0 when the arena has none left. O(1). */
export function arenaTake(c: u32): usize {
  if (c == CLASS_NONE || c >= CLASSES) return 0;
  let head = <usize>getFreeHead(c);
  if (head != 0) {
    setFreeHead(c, load<u32>(head));
    setFreeCount(c, getFreeCount(c) - 1);
    return head;
  }
  let bytes = <usize>getClassBytes(c);
  if (end - top < bytes) return 0;
  let t = top;
  top += bytes;
  return t;
}

/** Give table t of class c back. O(1). */
export function arenaGive(c: u32, t: usize): void {
  if (t == 0 || c == CLASS_NONE || c >= CLASSES) return;
  store<u32>(t, getFreeHead(c));
  setFreeHead(c, <u32>t);
  setFreeCount(c, getFreeCount(c) + 1);
}

/** Whether a table of class c can be had now. */
export function arenaCanTake(c: u32): bool {
  if (c == CLASS_NONE) return true;
  return c < CLASSES && (getFreeHead(c) != 0 || <usize>(end - top) >= <usize>getClassBytes(c));
}

/** Bytes free: never handed out, plus the tables on the free lists. */
export function arenaFree(): u64 {
  let free = <u64>(end - top);
  for (let c: u32 = 1; c < CLASSES; c++) free += <u64>getFreeCount(c) * <u64>getClassBytes(c);
  return free;
}

/** The arena's size in bytes. */
export function arenaSize(): u64 { return <u64>(end - base); }

/** The kind of arena table scheduler k keeps per service (CLASS_NONE: none). */
export function schedTableClass(k: u32): u32 {
  if (k == Sched.SH || k == Sched.DH) return CLASS_BUCKETS;
  if (k == Sched.MH) return CLASS_MH;
  if (k == Sched.MAGLEV) return CLASS_MAGLEV;
  return CLASS_NONE;
}
