// Virtual services and their real servers (IPVS's ip_vs_service / ip_vs_dest).
//
// Service record (ServiceField, 64 bytes): the key (proto, VIP, port), the scheduler,
// the head of its real-server list, and the scheduler's own state (SVC_SCHED_*).
// Real-server record (DestField, 56 bytes): address, port, forwarding method, weight,
// thresholds, active/inactive connection counts, service, next in the service's list.
//
// Nothing here walks a table: services are found by a hash of (protocol, VIP, port), VIPs
// by a refcounted set (isVip, for ARP and echo), real servers by a hash of (service,
// address, port) — linked and lingering alike; free indexes come from a min-heap (services)
// and a FIFO ring (real servers); a service's sh/dh/mh/maglev table from the scheduler
// arena (sched/arena.ts). Adding or deleting costs the same with 1 service or 65,536.
//
// Like IPVS, a new real server goes to the head of its service's list (list_add_rcu in
// __ip_vs_update_dest), which fixes the order rr and wrr walk. A removed real server is
// unlinked and loses AVAILABLE but its record lingers, like IPVS's trash, while
// connections point to it; re-adding the same address and port revives it.

import { DestField, DestFlag, Err, Fwd, Sched, ServiceField, Stat, Abi } from "../abi";
import { ipv6OnLinkIface, routeIsOnLink, routeLookup } from "../route/route";
import { markCovers, markRuleCount } from "./mark";
import { arenaCanTake, arenaGive, arenaTake, CLASS_NONE, schedTableClass } from "../sched/arena";
import { bswap32 } from "../wire/bytes";

@inline export const NONE: u32 = 0xffffffff;

// Scheduler state inside the service record.
@inline export const SVC_SCHED_CURSOR: usize = 16; // rr: last dest; wrr: mark->cl (NONE = list head)
@inline export const SVC_SCHED_CW: usize = 20;
@inline export const SVC_SCHED_MW: usize = 24;
@inline export const SVC_SCHED_DI: usize = 28;
@inline const SVC_USED: u8 = 1;
/** IP_VS_SVC_F_ONEPACKET (ipvsadm -o): every UDP datagram is scheduled on its own. */
@inline const SVC_ONEPACKET: u8 = 2;
/** An IPv6 service (ServiceField.VADDR6 holds its VIP). */
@inline export const SVC_V6: u8 = 4;

export let svcBase: usize = 0;
export let svcStatsBase: usize = 0;
export let maxServices: u32 = 0;
export let destBase: usize = 0;
export let destStatsBase: usize = 0;
export let maxDests: u32 = 0;
let svcHashBase: usize = 0;
let svcHashMask: u32 = 0;
/** The IPv6 services' hash (same size and probing as svcHashBase's, keyed by the fold). */
let svc6HashBase: usize = 0;
/** The VIP set (isVip): open addressing, 8-byte entries (address, services using it). */
let vipHashBase: usize = 0;
let vipHashMask: u32 = 0;
/** (service, address, port) -> real server + 1, linked and lingering alike (destFind). */
let destHashBase: usize = 0;
let destHashMask: u32 = 0;
/** Freed service indexes as a min-heap (a new service takes the lowest free index, as the
 *  scan it replaces did); indexes from svcFresh on were never used. */
let svcFreeHeap: usize = 0;
let svcFreeCount: u32 = 0;
let svcFresh: u32 = 0;
/** Services in use; of them IPv6 ones. */
export let serviceCount: u32 = 0;
export let services6: u32 = 0;
/** Freed real-server records as a FIFO ring (a freed record is reused as late as possible,
 *  as the next-fit scan it replaces did); records from destFresh on were never used. */
let destFreeRing: usize = 0;
let destFreeFirst: u32 = 0;
let destFreeCount: u32 = 0;
let destFresh: u32 = 0;
/** Real-server records in use (linked or lingering). */
export let destsInUse: u32 = 0;

@inline function pow2AtLeast(v: u32): u32 {
  let p: u32 = 1;
  while (p < v) p <<= 1;
  return p;
}
// Every hash table is at most half full (a power of two at least twice its most entries),
// so a linear probe is short.
@inline function svcHashSlots(nSvc: u32): u32 { return pow2AtLeast(nSvc * 2); }
@inline function destHashSlots(nDest: u32): u32 { return pow2AtLeast(nDest * 2); }

/** Bytes of the indexes serviceLayout keeps at `index` (hashes, free lists). */
export function serviceIndexBytes(nSvc: u32, nDest: u32): u64 {
  return <u64>svcHashSlots(nSvc) * 8 + <u64>svcHashSlots(nSvc) * 8 + <u64>destHashSlots(nDest) * 4 + <u64>nSvc * 4 + <u64>nDest * 4;
}

export function serviceLayout(svcs: usize, svcStats: usize, nSvc: u32, dests: usize, destStats: usize, nDest: u32, index: usize): void {
  svcBase = svcs; svcStatsBase = svcStats; maxServices = nSvc;
  destBase = dests; destStatsBase = destStats; maxDests = nDest;
  let at = index;
  svcHashBase = at; svcHashMask = svcHashSlots(nSvc) - 1; at += <usize>svcHashSlots(nSvc) * 4;
  svc6HashBase = at; at += <usize>svcHashSlots(nSvc) * 4;
  vipHashBase = at; vipHashMask = svcHashSlots(nSvc) - 1; at += <usize>svcHashSlots(nSvc) * 8;
  destHashBase = at; destHashMask = destHashSlots(nDest) - 1; at += <usize>destHashSlots(nDest) * 4;
  svcFreeHeap = at; at += <usize>nSvc * 4;
  destFreeRing = at;
  memory.fill(svcHashBase, 0, destFreeRing - svcHashBase);
  svcFreeCount = 0; svcFresh = 0; serviceCount = 0; services6 = 0;
  destFreeFirst = 0; destFreeCount = 0; destFresh = 0; destsInUse = 0;
  portZeroServices = 0; lingeringDests = 0;
}

@inline export function svcRec(s: u32): usize { return svcBase + <usize>s * <usize>ServiceField.SIZE; }
@inline export function svcStats(s: u32): usize { return svcStatsBase + <usize>s * <usize>Stat.SIZE; }
@inline export function destRec(d: u32): usize { return destBase + <usize>d * <usize>DestField.SIZE; }
@inline export function destStats(d: u32): usize { return destStatsBase + <usize>d * <usize>Stat.SIZE; }
@inline export function svcUsed(s: u32): bool { return s < maxServices && load<u8>(svcRec(s), ServiceField.FLAGS) != 0; }
@inline export function svcHead(s: u32): u32 { return load<u32>(svcRec(s), ServiceField.DEST_HEAD); }
@inline export function svcSched(s: u32): u32 { return <u32>load<u8>(svcRec(s), ServiceField.SCHED); }
@inline export function svcSchedFlags(s: u32): u32 { return <u32>load<u8>(svcRec(s), ServiceField.SCHED_FLAGS); }
@inline export function destNext(d: u32): u32 { return load<u32>(destRec(d), DestField.NEXT); }
@inline export function destWeight(d: u32): i32 { return load<i32>(destRec(d), DestField.WEIGHT); }
@inline export function destLastWeight(d: u32): i32 { return load<i32>(destRec(d), DestField.LAST_WEIGHT); }
@inline export function destFlags(d: u32): u32 { return <u32>load<u8>(destRec(d), DestField.FLAGS); }
@inline export function destOverloaded(d: u32): bool { return (destFlags(d) & DestFlag.OVERLOAD) != 0; }
@inline export function destAvailable(d: u32): bool { return (destFlags(d) & DestFlag.AVAILABLE) != 0; }
@inline export function destActive(d: u32): u32 { return load<u32>(destRec(d), DestField.ACTIVE); }
@inline export function destInactive(d: u32): u32 { return load<u32>(destRec(d), DestField.INACTIVE); }
@inline export function destAddr(d: u32): u32 { return load<u32>(destRec(d), DestField.ADDR); }
@inline export function destPort(d: u32): u32 { return <u32>load<u16>(destRec(d), DestField.PORT); }
@inline export function destFwd(d: u32): u32 { return <u32>load<u8>(destRec(d), DestField.FWD); }
@inline export function destService(d: u32): u32 { return load<u32>(destRec(d), DestField.SERVICE); }
@inline export function destUsed(d: u32): bool { return d < maxDests && (destFlags(d) & DestFlag.USED) != 0; }
@inline export function destPersistConns(d: u32): u32 { return load<u32>(destRec(d), DestField.PERSIST_CONNS); }
@inline export function svcPort(s: u32): u32 { return <u32>load<u16>(svcRec(s), ServiceField.VPORT); }
/** 6 or 17; 0 for a firewall-mark service. */
@inline export function svcProto(s: u32): u32 { return <u32>load<u8>(svcRec(s), ServiceField.PROTO); }
/** The VIP; the mark of a firewall-mark service. */
@inline export function svcVaddr(s: u32): u32 { return load<u32>(svcRec(s), ServiceField.VADDR); }
/** Persistence timeout in seconds; 0 when the service is not persistent. */
@inline export function svcPersistTimeout(s: u32): u32 { return load<u32>(svcRec(s), ServiceField.PERSIST_TIMEOUT); }
@inline export function svcNetmask(s: u32): u32 { return load<u32>(svcRec(s), ServiceField.NETMASK); }

/** Services on port 0 (all ports of a VIP, persistent only): while there are none, the
 *  per-packet lookup never tries port 0. */
export let portZeroServices: u32 = 0;

@inline function svcHash(proto: u32, vaddr: u32, vport: u32): u32 {
  let h = (vaddr * 0x9e3779b1) ^ ((vport | (proto << 16)) * 0x85ebca77);
  return (h ^ (h >>> 16)) & svcHashMask;
}

/** The service for (proto, vaddr, vport), or NONE. The per-packet lookup. */
@inline export function svcFind(proto: u32, vaddr: u32, vport: u32): u32 {
  let i = svcHash(proto, vaddr, vport);
  while (true) {
    let v = load<u32>(svcHashBase + (<usize>i << 2));
    if (v == 0) return NONE;
    let r = svcRec(v - 1);
    if (load<u32>(r, ServiceField.VADDR) == vaddr && <u32>load<u16>(r, ServiceField.VPORT) == vport &&
        <u32>load<u8>(r, ServiceField.PROTO) == proto) return v - 1;
    i = (i + 1) & svcHashMask;
  }
}

/** IPVS's fold of an IPv6 address into 32 bits (ip_vs_svc_hashkey, ip_vs_sh_hashkey,
 *  ip_vs_mh_hashkey: ip6[0]^ip6[1]^ip6[2]^ip6[3], each word in network order as stored). */
@inline export function ipv6Fold(a: usize): u32 {
  return load<u32>(a) ^ load<u32>(a, 4) ^ load<u32>(a, 8) ^ load<u32>(a, 12);
}
@inline export function svcIsV6(s: u32): bool { return (load<u8>(svcRec(s), ServiceField.FLAGS) & SVC_V6) != 0; }
@inline export function destAddr6(d: u32): usize { return destRec(d) + DestField.ADDR6; }

/** The IPv6 service for (proto, the address at a, vport), or NONE. */
export function svcFind6(proto: u32, a: usize, vport: u32): u32 {
  let fold = ipv6Fold(a);
  let i = svcHash(proto, fold, vport);
  while (true) {
    let v = load<u32>(svc6HashBase + (<usize>i << 2));
    if (v == 0) return NONE;
    let r = svcRec(v - 1);
    if (load<u32>(r, ServiceField.VADDR) == fold && <u32>load<u16>(r, ServiceField.VPORT) == vport &&
        <u32>load<u8>(r, ServiceField.PROTO) == proto && load<u64>(r, ServiceField.VADDR6) == load<u64>(a) &&
        load<u64>(r, ServiceField.VADDR6 + 8) == load<u64>(a, 8)) return v - 1;
    i = (i + 1) & svcHashMask;
  }
}

/** Linear probing with backward-shift deletion (Knuth 6.4, algorithm R): a deleted entry's
 *  followers move back into the gap, so the table never fills with tombstones and a lookup
 *  after any churn probes as far as one in a table built afresh (tombstones would make
 *  lookups of absent keys — every unknown frame's — walk further until a rehash). */
@inline function shiftBack(base: usize, mask: u32, gap: u32, entryShift: u32, homeOf: (at: usize) => u32): void {
  let i = gap;
  let j = gap;
  while (true) {
    j = (j + 1) & mask;
    let at = base + (<usize>j << entryShift);
    if (load<u32>(at) == 0) break;
    let k = homeOf(at);
    // Entry j may fill the gap at i unless its home lies cyclically in (i, j].
    let stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    memory.copy(base + (<usize>i << entryShift), at, <usize>1 << entryShift);
    i = j;
  }
  memory.fill(base + (<usize>i << entryShift), 0, <usize>1 << entryShift);
}

function svcHashHome(at: usize): u32 {
  let r = svcRec(load<u32>(at) - 1);
  return svcHash(<u32>load<u8>(r, ServiceField.PROTO), load<u32>(r, ServiceField.VADDR), <u32>load<u16>(r, ServiceField.VPORT));
}

/** Service s into the hash at base (svcHashBase, or svc6HashBase for IPv6 services: keyed the
 *  same way, by the fold an IPv6 service keeps in VADDR). */
function svcHashInsert(base: usize, s: u32): void {
  let i = svcHash(svcProto(s), svcVaddr(s), svcPort(s));
  while (load<u32>(base + (<usize>i << 2)) != 0) i = (i + 1) & svcHashMask;
  store<u32>(base + (<usize>i << 2), s + 1);
}

function svcHashRemove(base: usize, s: u32): void {
  let i = svcHash(svcProto(s), svcVaddr(s), svcPort(s));
  while (load<u32>(base + (<usize>i << 2)) != s + 1) i = (i + 1) & svcHashMask;
  shiftBack(base, svcHashMask, i, 2, svcHashHome);
}

// ---- the VIP set --------------------------------------------------------------------

/** Where a VIP's probe starts: IPVS folds the address into its service hash key
 *  (ip_vs_svc_hashkey: ntohl of the address, the words of an IPv6 one xored); a Fibonacci
 *  multiply spreads consecutive VIPs over the table. */
@inline function vipHome(addr: u32): u32 {
  return (bswap32(addr) * 0x9e3779b1) & vipHashMask;
}
function vipHashHome(at: usize): u32 { return vipHome(load<u32>(at)); }
@inline function vipSlot(i: u32): usize { return vipHashBase + (<usize>i << 3); }

/** One more service on addr (entry: address, count; count 0 is an empty slot). */
function vipRef(addr: u32): void {
  let i = vipHome(addr);
  while (true) {
    let e = vipSlot(i);
    let n = load<u32>(e, 4);
    if (n == 0) { store<u32>(e, addr); store<u32>(e, 1, 4); return; }
    if (load<u32>(e) == addr) { store<u32>(e, n + 1, 4); return; }
    i = (i + 1) & vipHashMask;
  }
}

/** One service fewer on addr; the address leaves the set with its last service. */
function vipUnref(addr: u32): void {
  let i = vipHome(addr);
  while (true) {
    let e = vipSlot(i);
    let n = load<u32>(e, 4);
    if (n == 0) return;
    if (load<u32>(e) == addr) {
      if (n > 1) store<u32>(e, n - 1, 4);
      else shiftBackVip(i);
      return;
    }
    i = (i + 1) & vipHashMask;
  }
}
// The emptiness test of shiftBack reads the entry's first word; a VIP entry is empty by its
// count (address 0.0.0.0 may be a key), so it has its own loop.
function shiftBackVip(gap: u32): void {
  let i = gap;
  let j = gap;
  while (true) {
    j = (j + 1) & vipHashMask;
    let at = vipSlot(j);
    if (load<u32>(at, 4) == 0) break;
    let k = vipHashHome(at);
    let stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    store<u64>(vipSlot(i), load<u64>(at));
    i = j;
  }
  store<u64>(vipSlot(i), 0);
}

/** Whether a service of protocol 6 or 17 has addr as its VIP. O(1). */
@inline export function vipInUse(addr: u32): bool {
  let i = vipHome(addr);
  while (true) {
    let e = vipSlot(i);
    if (load<u32>(e, 4) == 0) return false;
    if (load<u32>(e) == addr) return true;
    i = (i + 1) & vipHashMask;
  }
}

/** True if addr is the VIP of any service or a firewall-mark rule's address (for ARP and
 *  ICMP echo). A firewall-mark service keeps its mark where others keep their VIP, so only
 *  services of a protocol are in the VIP set. */
export function isVip(addr: u32): bool {
  return vipInUse(addr) || (markRuleCount != 0 && markCovers(addr));
}

// ---- free service indexes: a min-heap --------------------------------------------------

@inline function heapAt(i: u32): u32 { return load<u32>(svcFreeHeap + (<usize>i << 2)); }
@inline function heapSet(i: u32, v: u32): void { store<u32>(svcFreeHeap + (<usize>i << 2), v); }

function svcFreePush(s: u32): void {
  let i = svcFreeCount++;
  while (i > 0) {
    let parent = (i - 1) >> 1;
    if (heapAt(parent) <= s) break;
    heapSet(i, heapAt(parent));
    i = parent;
  }
  heapSet(i, s);
}

function svcFreePop(): u32 {
  let top = heapAt(0);
  let last = heapAt(--svcFreeCount);
  let n = svcFreeCount;
  let i: u32 = 0;
  while (true) {
    let c: u32 = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heapAt(c + 1) < heapAt(c)) c++;
    if (heapAt(c) >= last) break;
    heapSet(i, heapAt(c));
    i = c;
  }
  if (n > 0) heapSet(i, last);
  return top;
}

/** Service indexes free. */
export function freeServiceSlots(): u32 { return maxServices - serviceCount; }

// ---- scheduler hooks (implemented in sched/) -------------------------------------
// Set by sched/index.ts to avoid an import cycle.
export let onDestsChanged: (s: u32) => void = (s: u32): void => {};
/** Service s leaves scheduler k (deleted, or another scheduler): k's state of it goes. */
export let onSchedulerLeft: (s: u32, k: u32) => void = (s: u32, k: u32): void => {};
export function setSchedulerHook(changed: (s: u32) => void, left: (s: u32, k: u32) => void): void {
  onSchedulerLeft = left;
  onDestsChanged = changed;
}

@inline export function svcSchedTable(s: u32): usize { return <usize>load<u32>(svcRec(s), ServiceField.SCHED_TABLE); }

/** Give service s the arena table scheduler k needs (keeping the one it has if it is of the
 *  same kind); false, and nothing changed, when the arena has none. */
function takeSchedTable(s: u32, k: u32): bool {
  let r = svcRec(s);
  let had = load<u8>(r, ServiceField.FLAGS) != 0 ? schedTableClass(svcSched(s)) : CLASS_NONE;
  let want = schedTableClass(k);
  if (had == want) return true;
  if (!arenaCanTake(want)) return false;
  let t = arenaTake(want);
  arenaGive(had, svcSchedTable(s));
  store<u32>(r, <u32>t, ServiceField.SCHED_TABLE);
  store<u32>(r, 1, ServiceField.SCHED_TABLE_DIRTY);
  return true;
}

/** Add a service; returns its index, or -Err. A firewall-mark service is protocol 0 with
 *  its mark as vaddr and port 0 (IPVS matches it by mark alone, any protocol). */
export function svcAdd(proto: u32, vaddr: u32, vport: u32, sched: u32): i32 {
  if (sched >= <u32>Sched.COUNT || (proto != 6 && proto != 17 && proto != 0)) return -Err.BAD_ARGUMENT;
  if (proto == 0 && (vaddr == 0 || vport != 0)) return -Err.BAD_ARGUMENT;
  if (svcFind(proto, vaddr, vport) != NONE) return -Err.EXISTS;
  if (serviceCount >= maxServices || !arenaCanTake(schedTableClass(sched))) return -Err.FULL;
  let s = svcFreeCount != 0 ? svcFreePop() : svcFresh++;
  let r = svcRec(s);
  memory.fill(r, 0, <usize>ServiceField.SIZE);
  memory.fill(svcStats(s), 0, <usize>Stat.SIZE);
  store<u32>(r, vaddr, ServiceField.VADDR);
  store<u16>(r, <u16>vport, ServiceField.VPORT);
  store<u8>(r, <u8>proto, ServiceField.PROTO);
  store<u32>(r, NONE, ServiceField.DEST_HEAD);
  store<u32>(r, NONE, SVC_SCHED_CURSOR);
  store<u32>(r, 0xffffffff, ServiceField.NETMASK);
  takeSchedTable(s, sched);
  store<u8>(r, SVC_USED, ServiceField.FLAGS);
  store<u8>(r, <u8>sched, ServiceField.SCHED);
  if (vport == 0 && proto != 0) portZeroServices++;
  svcHashInsert(svcHashBase, s);
  if (proto != 0) vipRef(vaddr);
  serviceCount++;
  onDestsChanged(s);
  return <i32>s;
}

/** Add an IPv6 TCP or UDP service on the address w0..w3 (each the little-endian load of
 *  four network-order bytes) and vport; its index, or -Err. Not yet: port 0 (it needs
 *  persistence, which is IPv4-only so far) and firewall marks (protocol 0). */
export function svcAdd6(proto: u32, w0: u32, w1: u32, w2: u32, w3: u32, vport: u32, sched: u32): i32 {
  if (sched >= <u32>Sched.COUNT || (proto != 6 && proto != 17) || vport == 0) return -Err.BAD_ARGUMENT;
  let a = addr6Scratch;
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  if (svcFind6(proto, a, vport) != NONE) return -Err.EXISTS;
  if (serviceCount >= maxServices || !arenaCanTake(schedTableClass(sched))) return -Err.FULL;
  if (!vip6Ref(a)) return -Err.FULL;
  let s = svcFreeCount != 0 ? svcFreePop() : svcFresh++;
  let r = svcRec(s);
  memory.fill(r, 0, <usize>ServiceField.SIZE);
  memory.fill(svcStats(s), 0, <usize>Stat.SIZE);
  store<u32>(r, ipv6Fold(a), ServiceField.VADDR);
  store<u64>(r, load<u64>(a), ServiceField.VADDR6);
  store<u64>(r, load<u64>(a, 8), ServiceField.VADDR6 + 8);
  store<u16>(r, <u16>vport, ServiceField.VPORT);
  store<u8>(r, <u8>proto, ServiceField.PROTO);
  store<u32>(r, NONE, ServiceField.DEST_HEAD);
  store<u32>(r, NONE, SVC_SCHED_CURSOR);
  store<u32>(r, 0xffffffff, ServiceField.NETMASK);
  takeSchedTable(s, sched);
  store<u8>(r, SVC_USED | SVC_V6, ServiceField.FLAGS);
  store<u8>(r, <u8>sched, ServiceField.SCHED);
  svcHashInsert(svc6HashBase, s);
  services6++;
  serviceCount++;
  onDestsChanged(s);
  return <i32>s;
}
const addr6Scratch: usize = memory.data(16);

// The IPv6 VIP set: open addressing over VIP6_SLOTS entries of 32 bytes (services using
// the address u32 at 0, 0: empty; the address at 16), so that NDP answers and the checks of
// packets to no service cost one probe sequence, not a scan, whatever an attacker sends.
@inline export const VIP6_SLOTS: u32 = 8192;
/** Distinct IPv6 VIPs the set holds (half its slots). */
@inline export const MAX_VIPS6: u32 = VIP6_SLOTS / 2;
@inline const VIP6_ENTRY_SHIFT: u32 = 5;
let vip6Base: usize = 0;
let vip6Distinct: u32 = 0;
/** Bytes of the IPv6 VIP set (init places it). */
export function vip6Bytes(): u64 { return <u64>VIP6_SLOTS << VIP6_ENTRY_SHIFT; }
export function vip6Layout(base: usize): void {
  vip6Base = base;
  memory.fill(base, 0, <usize>VIP6_SLOTS << VIP6_ENTRY_SHIFT);
  vip6Distinct = 0;
}
@inline function vip6Home(a: usize): u32 {
  let h = (load<u32>(a) * 0x9e3779b1) ^ (load<u32>(a, 4) * 0x85ebca77) ^ (load<u32>(a, 8) * 0xc2b2ae3d) ^ (load<u32>(a, 12) * 0x27d4eb2f);
  return (h ^ (h >>> 15)) & (VIP6_SLOTS - 1);
}
@inline function vip6Slot(i: u32): usize { return vip6Base + (<usize>i << VIP6_ENTRY_SHIFT); }
function vip6HashHome(at: usize): u32 { return vip6Home(at + 16); }
/** The entry of the address at a, or 0. */
function vip6Entry(a: usize): usize {
  let i = vip6Home(a);
  while (true) {
    let e = vip6Slot(i);
    if (load<u32>(e) == 0) return 0;
    if (load<u64>(e, 16) == load<u64>(a) && load<u64>(e, 24) == load<u64>(a, 8)) return e;
    i = (i + 1) & (VIP6_SLOTS - 1);
  }
}
/** One more service on the address at a; false if the set is full (MAX_VIPS6 addresses). */
function vip6Ref(a: usize): bool {
  let e = vip6Entry(a);
  if (e != 0) { store<u32>(e, load<u32>(e) + 1); return true; }
  if (vip6Distinct >= MAX_VIPS6) return false;
  let i = vip6Home(a);
  while (load<u32>(vip6Slot(i)) != 0) i = (i + 1) & (VIP6_SLOTS - 1);
  e = vip6Slot(i);
  store<u32>(e, 1);
  store<u64>(e, load<u64>(a), 16);
  store<u64>(e, load<u64>(a, 8), 24);
  vip6Distinct++;
  return true;
}
function vip6Unref(a: usize): void {
  let e = vip6Entry(a);
  if (e == 0) return;
  let n = load<u32>(e);
  if (n > 1) { store<u32>(e, n - 1); return; }
  vip6Distinct--;
  shiftBack(vip6Base, VIP6_SLOTS - 1, <u32>((e - vip6Base) >>> VIP6_ENTRY_SHIFT), VIP6_ENTRY_SHIFT, vip6HashHome);
}

/** True if the address at a is one of an IPv6 service's VIPs. */
export function isVip6(a: usize): bool {
  return services6 != 0 && vip6Entry(a) != 0;
}

/** True if low24 (a solicited-node group's last three bytes, as load<u32>(group, 12) >>> 8
 *  sees them) is that of an IPv6 service's VIP: the groups the director joins for them.
 *  A scan of the set (8,192 slots), only for frames to a solicited-node group no interface
 *  address has joined. */
export function vip6Joined(low24: u32): bool {
  if (services6 == 0) return false;
  for (let i: u32 = 0; i < VIP6_SLOTS; i++) {
    let e = vip6Slot(i);
    if (load<u32>(e) != 0 && (load<u32>(e, 28) >>> 8) == low24) return true;
  }
  return false;
}

/** Change a service's scheduler (its scheduler state starts afresh, as in IPVS). */
export function svcEdit(s: u32, sched: u32): i32 {
  if (!svcUsed(s) || sched >= <u32>Sched.COUNT) return -Err.BAD_ARGUMENT;
  if (!takeSchedTable(s, sched)) return -Err.FULL;
  let r = svcRec(s);
  onSchedulerLeft(s, svcSched(s));
  store<u8>(r, <u8>sched, ServiceField.SCHED);
  store<u32>(r, NONE, SVC_SCHED_CURSOR);
  store<i32>(r, 0, SVC_SCHED_CW);
  store<u32>(r, 1, ServiceField.SCHED_TABLE_DIRTY);
  onDestsChanged(s);
  return Err.OK;
}

@inline export function svcOnePacket(s: u32): bool { return (load<u8>(svcRec(s), ServiceField.FLAGS) & SVC_ONEPACKET) != 0; }

/** One-packet scheduling on or off (ipvsadm -o; IPVS applies it to UDP datagrams only). */
export function svcSetOnePacket(s: u32, on: bool): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  let r = svcRec(s);
  let f = load<u8>(r, ServiceField.FLAGS);
  store<u8>(r, on ? f | SVC_ONEPACKET : f & ~SVC_ONEPACKET, ServiceField.FLAGS);
  return Err.OK;
}

/** Scheduler flags (ipvsadm -b): bit 0 flag-1, bit 1 flag-2, bit 2 flag-3. */
export function svcSetSchedFlags(s: u32, flags: u32): i32 {
  if (!svcUsed(s) || flags > 7) return -Err.BAD_ARGUMENT;
  store<u8>(svcRec(s), <u8>flags, ServiceField.SCHED_FLAGS);
  return Err.OK;
}

/** Persistence (ipvsadm -p TIMEOUT -M NETMASK): timeout in seconds, 0 to turn it off;
 *  netmask in network byte order. Existing templates live out their time, as in IPVS. */
export function svcSetPersistence(s: u32, timeoutS: u32, netmask: u32): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  // Persistence templates are IPv4 connections so far.
  if (svcIsV6(s) && timeoutS != 0) return -Err.BAD_ARGUMENT;
  // IPVS refuses a port-zero service that is not persistent (a firewall-mark one may be).
  if (timeoutS == 0 && svcPort(s) == 0 && load<u8>(svcRec(s), ServiceField.PROTO) != 0) return -Err.BAD_ARGUMENT;
  let r = svcRec(s);
  store<u32>(r, timeoutS, ServiceField.PERSIST_TIMEOUT);
  store<u32>(r, netmask, ServiceField.NETMASK);
  return Err.OK;
}

/** Remove a service and (as removed) all its real servers. */
export function svcDelete(s: u32): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  if (svcPort(s) == 0 && load<u8>(svcRec(s), ServiceField.PROTO) != 0) portZeroServices--;
  let d = svcHead(s);
  while (d != NONE) {
    let next = destNext(d);
    destRetire(d);
    // Still draining: no longer found under this service (its index may be reused).
    if (destUsed(d)) { destHashRemove(d); store<u32>(destRec(d), NONE, DestField.SERVICE); }
    d = next;
  }
  let r = svcRec(s);
  onSchedulerLeft(s, svcSched(s));
  if (svcIsV6(s)) { svcHashRemove(svc6HashBase, s); services6--; vip6Unref(svcRec(s) + ServiceField.VADDR6); }
  else {
    svcHashRemove(svcHashBase, s);
    if (svcProto(s) != 0) vipUnref(svcVaddr(s));
  }
  arenaGive(schedTableClass(svcSched(s)), svcSchedTable(s));
  store<u32>(r, 0, ServiceField.SCHED_TABLE);
  store<u32>(r, NONE, ServiceField.DEST_HEAD);
  store<u8>(r, 0, ServiceField.FLAGS);
  serviceCount--;
  svcFreePush(s);
  return Err.OK;
}

/** Removed real servers still holding connections (USED, not AVAILABLE). */
let lingeringDests: u32 = 0;

@inline function destKeyHash(s: u32, addr: u32, port: u32): u32 {
  let h = (addr * 0x9e3779b1) ^ ((port | (s << 16)) * 0x85ebca77) ^ ((s >>> 16) * 0xc2b2ae35);
  return (h ^ (h >>> 16)) & destHashMask;
}
function destHashHome(at: usize): u32 {
  let d = load<u32>(at) - 1;
  return destKeyHash(destService(d), destAddr(d), destPort(d));
}
function destHashInsert(d: u32): void {
  let i = destKeyHash(destService(d), destAddr(d), destPort(d));
  while (load<u32>(destHashBase + (<usize>i << 2)) != 0) i = (i + 1) & destHashMask;
  store<u32>(destHashBase + (<usize>i << 2), d + 1);
}
function destHashRemove(d: u32): void {
  let i = destKeyHash(destService(d), destAddr(d), destPort(d));
  while (load<u32>(destHashBase + (<usize>i << 2)) != d + 1) i = (i + 1) & destHashMask;
  shiftBack(destHashBase, destHashMask, i, 2, destHashHome);
}

/** The real server addr:port of service s, linked (lingering false) or removed and still
 *  draining (lingering true), or NONE. One hash lookup: a service's real servers are all in
 *  the (service, address, port) hash until their record is freed or their service deleted. */
export function destFind(s: u32, addr: u32, port: u32, lingering: bool): u32 {
  if (!svcUsed(s)) return NONE;
  let i = destKeyHash(s, addr, port);
  while (true) {
    let v = load<u32>(destHashBase + (<usize>i << 2));
    if (v == 0) return NONE;
    let d = v - 1;
    if (destAddr(d) == addr && destPort(d) == port && destService(d) == s) return destAvailable(d) != lingering ? d : NONE;
    i = (i + 1) & destHashMask;
  }
}

/** destFind for a real server of IPv6 service s at the address at a. */
export function destFind6(s: u32, a: usize, port: u32, lingering: bool): u32 {
  if (!svcUsed(s)) return NONE;
  let fold = ipv6Fold(a);
  let i = destKeyHash(s, fold, port);
  while (true) {
    let v = load<u32>(destHashBase + (<usize>i << 2));
    if (v == 0) return NONE;
    let d = v - 1;
    if (destAddr(d) == fold && destPort(d) == port && destService(d) == s && load<u64>(destAddr6(d)) == load<u64>(a) &&
        load<u64>(destAddr6(d), 8) == load<u64>(a, 8)) return destAvailable(d) != lingering ? d : NONE;
    i = (i + 1) & destHashMask;
  }
}

/** A free real-server record, or NONE. O(1). */
function destAllocate(): u32 {
  if (destFresh < maxDests) return destFresh++;
  if (destFreeCount == 0) return NONE;
  let d = load<u32>(destFreeRing + (<usize>destFreeFirst << 2));
  destFreeFirst = destFreeFirst + 1 < maxDests ? destFreeFirst + 1 : 0;
  destFreeCount--;
  return d;
}
function destRelease(d: u32): void {
  let at = destFreeFirst + destFreeCount;
  if (at >= maxDests) at -= maxDests;
  store<u32>(destFreeRing + (<usize>at << 2), d);
  destFreeCount++;
}

/** Real-server records free. O(1). */
export function freeDestSlots(): u32 { return maxDests - destsInUse; }

function validateDest(s: u32, addr: u32, port: u32, fwd: u32, weight: i32, addr6: usize = 0): i32 {
  if (weight < 0 || weight > 65535) return -Err.BAD_ARGUMENT;
  if (fwd != Fwd.MASQ && fwd != Fwd.DROUTE && fwd != Fwd.TUNNEL) return -Err.BAD_ARGUMENT;
  let vport = <u32>load<u16>(svcRec(s), ServiceField.VPORT);
  // DR and TUN cannot change the port: the packet reaches the server unchanged (a
  // firewall-mark service has no port of its own: ipvsadm does not check it).
  if (fwd != Fwd.MASQ && port != vport && load<u8>(svcRec(s), ServiceField.PROTO) != 0) return -Err.PORT_MISMATCH;
  if (addr6 != 0) {
    // IPv6: NAT and DR so far (ip6ip6 tunnels to come); ip_vs_ctl.c's dest checks: a
    // unicast address, not link-local; the engine keeps no IPv6 routes, so on a link.
    if (fwd == Fwd.TUNNEL) return -Err.BAD_ARGUMENT;
    if (load<u8>(addr6) == 0xff || (load<u16>(addr6) & 0xc0ff) == 0x80fe || (load<u64>(addr6) | load<u64>(addr6, 8)) == 0) return -Err.BAD_ARGUMENT;
    if (ipv6OnLinkIface(addr6) < 0) return fwd == Fwd.DROUTE ? -Err.NOT_ON_LINK : -Err.NO_ROUTE;
    return Err.OK;
  }
  if (fwd == Fwd.DROUTE) {
    if (!routeIsOnLink(addr)) return -Err.NOT_ON_LINK;
  } else if (!routeLookup(addr)) {
    return -Err.NO_ROUTE;
  }
  return Err.OK;
}

function destWrite(d: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32, add: bool): void {
  let r = destRec(d);
  // __ip_vs_update_dest: "keep the last_weight with latest non-0 weight".
  if (add || weight != 0) store<i32>(r, weight, DestField.LAST_WEIGHT);
  store<u8>(r, <u8>fwd, DestField.FWD);
  store<i32>(r, weight, DestField.WEIGHT);
  // __ip_vs_update_dest: no upper threshold, or a higher one, clears the overload mark (the
  // next binding sets it again if it still applies); the same or a lower one keeps it.
  if (uthreshold == 0 || uthreshold > load<u32>(r, DestField.UTHRESHOLD)) {
    store<u8>(r, <u8>(load<u8>(r, DestField.FLAGS) & ~(<u8>DestFlag.OVERLOAD)), DestField.FLAGS);
  }
  store<u32>(r, uthreshold, DestField.UTHRESHOLD);
  store<u32>(r, lthreshold, DestField.LTHRESHOLD);
}

/** Add a real server at IPv6 address w0..w3 to IPv6 service s; its index, or -Err. */
export function destAdd6(s: u32, w0: u32, w1: u32, w2: u32, w3: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  if (!svcIsV6(s)) return -Err.BAD_ARGUMENT;
  let a = addr6Scratch;
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  return destAddAny(s, ipv6Fold(a), port, fwd, weight, uthreshold, lthreshold, a);
}

/** Add a real server to service s; returns its index, or -Err. */
export function destAdd(s: u32, addr: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  if (svcIsV6(s)) return -Err.BAD_ARGUMENT;
  return destAddAny(s, addr, port, fwd, weight, uthreshold, lthreshold, 0);
}

function destAddAny(s: u32, addr: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32, addr6: usize): i32 {
  let e = validateDest(s, addr, port, fwd, weight, addr6);
  if (e != Err.OK) return e;
  if ((addr6 != 0 ? destFind6(s, addr6, port, false) : destFind(s, addr, port, false)) != NONE) return -Err.EXISTS;
  // ServiceField.DEST_COUNT is a u16 (and mh/maglev scratch is sized for this many).
  if (<u32>load<u16>(svcRec(s), ServiceField.DEST_COUNT) >= <u32>Abi.MAX_SERVICE_REAL_SERVERS) return -Err.FULL;
  let d = addr6 != 0 ? destFind6(s, addr6, port, true) : destFind(s, addr, port, true);
  if (d != NONE) lingeringDests--; // it comes back with its connections
  else {
    d = destAllocate();
    if (d == NONE) return -Err.FULL;
    let r = destRec(d);
    memory.fill(r, 0, <usize>DestField.SIZE);
    memory.fill(destStats(d), 0, <usize>Stat.SIZE);
    store<u32>(r, addr, DestField.ADDR);
    if (addr6 != 0) {
      store<u64>(r, load<u64>(addr6), DestField.ADDR6);
      store<u64>(r, load<u64>(addr6, 8), DestField.ADDR6 + 8);
    }
    store<u16>(r, <u16>port, DestField.PORT);
    store<u32>(r, s, DestField.SERVICE);
    destsInUse++;
    destHashInsert(d);
  }
  let r = destRec(d);
  destWrite(d, fwd, weight, uthreshold, lthreshold, true);
  store<u8>(r, <u8>(DestFlag.USED | DestFlag.AVAILABLE | (addr6 != 0 ? DestFlag.V6 : 0)), DestField.FLAGS);
  store<u32>(r, svcHead(s), DestField.NEXT);
  store<u32>(svcRec(s), d, ServiceField.DEST_HEAD);
  let sr = svcRec(s);
  store<u16>(sr, load<u16>(sr, ServiceField.DEST_COUNT) + 1, ServiceField.DEST_COUNT);
  onDestsChanged(s);
  return <i32>d;
}

/** Edit a real server in place; its connections stay. */
export function destEdit(d: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  if (!destUsed(d) || !destAvailable(d)) return -Err.NOT_FOUND;
  let s = destService(d);
  let e = validateDest(s, destAddr(d), destPort(d), fwd, weight, svcIsV6(s) ? destAddr6(d) : 0);
  if (e != Err.OK) return e;
  destWrite(d, fwd, weight, uthreshold, lthreshold, false);
  onDestsChanged(s);
  return Err.OK;
}

/** Unlink d from its service's list and mark it unavailable; free it if unused. */
function destRetire(d: u32): void {
  let r = destRec(d);
  store<u8>(r, <u8>(load<u8>(r, DestField.FLAGS) & ~(<u8>DestFlag.AVAILABLE)), DestField.FLAGS);
  lingeringDests++;
  destFreeIfIdle(d);
}

/** Remove a real server (IPVS: ip_vs_del_dest, the server goes to the trash). */
export function destDelete(d: u32): i32 {
  if (!destUsed(d) || !destAvailable(d)) return -Err.NOT_FOUND;
  let s = destService(d);
  // Unlink.
  let sr = svcRec(s);
  let prev = NONE;
  let x = svcHead(s);
  while (x != NONE && x != d) { prev = x; x = destNext(x); }
  if (prev == NONE) store<u32>(sr, destNext(d), ServiceField.DEST_HEAD);
  else store<u32>(destRec(prev), destNext(d), DestField.NEXT);
  store<u16>(sr, load<u16>(sr, ServiceField.DEST_COUNT) - 1, ServiceField.DEST_COUNT);
  // ip_vs_rr_del_dest: a cursor on the removed server steps back to its predecessor.
  if (load<u32>(sr, SVC_SCHED_CURSOR) == d) store<u32>(sr, prev, SVC_SCHED_CURSOR);
  destRetire(d);
  onDestsChanged(s);
  return Err.OK;
}

@inline export function destTotalConns(d: u32): u32 { return destActive(d) + destInactive(d); }

/** A removed server's record is released with its last connection or template. */
export function destFreeIfIdle(d: u32): void {
  if (destUsed(d) && !destAvailable(d) && destTotalConns(d) == 0 && destPersistConns(d) == 0) {
    if (destService(d) != NONE) destHashRemove(d);
    store<u8>(destRec(d), 0, DestField.FLAGS);
    lingeringDests--;
    destsInUse--;
    destRelease(d);
  }
}

/** ip_vs_bind_dest: count a new connection and set OVERLOAD at the upper threshold. */
@inline export function destBind(d: u32, inactive: bool): void {
  let r = destRec(d);
  if (inactive) store<u32>(r, load<u32>(r, DestField.INACTIVE) + 1, DestField.INACTIVE);
  else store<u32>(r, load<u32>(r, DestField.ACTIVE) + 1, DestField.ACTIVE);
  let u = load<u32>(r, DestField.UTHRESHOLD);
  if (u != 0 && destTotalConns(d) >= u) store<u8>(r, load<u8>(r, DestField.FLAGS) | <u8>DestFlag.OVERLOAD, DestField.FLAGS);
}

/** A new connection on d (ip_vs_bind_dest and the conns statistics of d and its service). */
@inline export function destConnectionMade(d: u32, udp: bool): void {
  destBind(d, udp);
  let ds = destStats(d);
  store<u64>(ds + Stat.CONNS, load<u64>(ds + Stat.CONNS) + 1);
  let svc = destService(d);
  if (svc != NONE) {
    let ss = svcStats(svc);
    store<u64>(ss + Stat.CONNS, load<u64>(ss + Stat.CONNS) + 1);
  }
}

/** ip_vs_unbind_dest: uncount a connection and clear OVERLOAD below the lower
 *  threshold (or below 3/4 of the upper one when no lower one is set). */
export function destUnbind(d: u32, inactive: bool): void {
  let r = destRec(d);
  if (inactive) store<u32>(r, load<u32>(r, DestField.INACTIVE) - 1, DestField.INACTIVE);
  else store<u32>(r, load<u32>(r, DestField.ACTIVE) - 1, DestField.ACTIVE);
  let l = load<u32>(r, DestField.LTHRESHOLD);
  let u = load<u32>(r, DestField.UTHRESHOLD);
  let total = destTotalConns(d);
  let clear = false;
  if (l != 0) clear = total < l;
  else if (u != 0) clear = total * 4 < u * 3;
  else clear = true;
  if (clear) store<u8>(r, load<u8>(r, DestField.FLAGS) & ~(<u8>DestFlag.OVERLOAD), DestField.FLAGS);
  destFreeIfIdle(d);
}

/** A persistence template to d is made or goes (IPVS counts them apart: persistconns). */
export function destBindTemplate(d: u32): void {
  let r = destRec(d);
  store<u32>(r, load<u32>(r, DestField.PERSIST_CONNS) + 1, DestField.PERSIST_CONNS);
}
export function destUnbindTemplate(d: u32): void {
  let r = destRec(d);
  let n = load<u32>(r, DestField.PERSIST_CONNS);
  if (n > 0) store<u32>(r, n - 1, DestField.PERSIST_CONNS);
  destFreeIfIdle(d);
}

/** A connection moves between active and inactive (TCP state change). */
@inline export function destMoveConn(d: u32, toInactive: bool): void {
  let r = destRec(d);
  if (toInactive) {
    store<u32>(r, load<u32>(r, DestField.ACTIVE) - 1, DestField.ACTIVE);
    store<u32>(r, load<u32>(r, DestField.INACTIVE) + 1, DestField.INACTIVE);
  } else {
    store<u32>(r, load<u32>(r, DestField.ACTIVE) + 1, DestField.ACTIVE);
    store<u32>(r, load<u32>(r, DestField.INACTIVE) - 1, DestField.INACTIVE);
  }
}

/** Bump a statistics block (service or server): packets and bytes in one direction. */
@inline export function statAdd(block: usize, pktOff: usize, byteOff: usize, bytes: u32): void {
  store<u64>(block + pktOff, load<u64>(block + pktOff) + 1);
  store<u64>(block + byteOff, load<u64>(block + byteOff) + <u64>bytes);
}


