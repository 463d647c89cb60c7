// The engine's exported ABI. Control-path exports validate their arguments and return
// 0 or a negative Err (or an index >= 0); the per-batch export, processBatch, never
// throws, allocates or grows memory. Addresses and ports cross the boundary in wire
// order (the u32/u16 a little-endian load of the packet bytes gives).

import { twosSeed } from "./sched/twos";
import { lblcLayout, LBLC_TABLE_BYTES } from "./sched/lblc";
import { lblcrLayout, LBLCR_TABLE_BYTES } from "./sched/lblcr";
import { mhIndexOf, mhLayout, mhScratchBytes } from "./sched/mh";
import { maglevEntry, maglevLayout, maglevScratchBytes, maglevSizeValid } from "./sched/maglev";
import { arenaCanTake, arenaClassBytes, arenaFree, arenaLayout, arenaSize, schedTableClass, tableBytes } from "./sched/arena";
import { Abi, ConnField, ConnState, Counter, DestField, Err, InitParam, NeighField, Region, RxDesc, Sched, ServiceField, Stat, VrrpQueue } from "./abi";
import { EthField, ethSetBroadcastDst, ETHERTYPE_ARP_WIRE, ETH_HEADER_LEN, ETH_MIN_FRAME } from "./wire/ethernet";
import { arpEmit, ARP_LEN, ARP_OP_REQUEST_WIRE } from "./wire/arp";
import { copyMac } from "./wire/bytes";
import * as state from "./engine/state";
import { count, countN, setLayout, setNow, slotSize, rxDescBase, rxSlotsBase, batchSize } from "./engine/state";
import { scratchTake, txBegin, txEnd, txPush } from "./engine/tx";
import { handleFrame, prefetchBatch, PREFETCH_MIN_CONNECTIONS, setExpireNodestConn, setSloppyTcp as pipelineSloppyTcp } from "./engine/pipeline";
import { setRejectUnknown as setRejectUnknownReplies } from "./xmit/reject";
import { connCapacity as tableCapacity, connCount, connExpireAll, connFlush, connLayout, connSetLastSweep, connSweep } from "./conn/table";
import { setStateTimeout, stateTimeout } from "./conn/tcpstate";
import { neigh6Count, neigh6Flush, neigh6Lookup, neigh6State, neigh6Tick } from "./neigh/neigh6";
import { neighDelete, neighFlush, neighLayout, neighQueueRecycle, neighSetStatic, neighTick, QUEUE_SLOTS } from "./neigh/neigh";
import { ifaceAddIpv6, ifaceDeleteIpv6, ifaceExists, ifaceMac, ifaceSet, ipv6Slot, ipv6SlotPrefixLen, ipv6SlotUsed, routeAdd, routeDelete, routeClear, routeIsOnLink, routeLookup } from "./route/route";
import { ipv6SetGateway } from "./route/route";
import { conn6At, conn6Bytes, conn6Capacity, conn6Count, conn6Fresh, conn6Layout, conn6Reset, conn6Sweep } from "./conn/table6";
import { vip6Bytes, vip6Layout, destAdd, destAdd6, destFind6, svcAdd6, svcFind6, destDelete, destEdit, destFind, destService, destStats, freeDestSlots, freeServiceSlots, isVip, maxDests, maxServices, NONE, serviceCount, serviceIndexBytes, serviceLayout, svcAdd, svcDelete, svcEdit, svcFind, svcSetOnePacket, svcSetPersistence, svcSetSchedFlags, svcStats, svcUsed } from "./svc/service";
import { schedulerInit, schedulerTick } from "./sched/index";
import { setExpireQuiescentTemplate } from "./conn/persist";
import { markAdd, markAddPorts, markClear, markLayout, MARK_TABLE_BYTES } from "./svc/mark";
import { sha256 } from "./ha/auth";
import { vrrpAddAddress, vrrpAddInstance, vrrpClear, vrrpLayout, vrrpSendAdvert, vrrpSetMaster, vrrpVmacFor, VRRP_IPV6, VRRP_TABLE_BYTES } from "./ha/vrrp";
import { vrrp6AddAddress, vrrp6Clear, vrrp6InstanceAdded, vrrp6SendAdvert, vrrp6SendNa, vrrp6SetGroup } from "./ha/vrrp6";
import {
  syncAcceptFrom, syncConfigure, syncIdleMs, syncFlush, syncSetKey, syncSetShare, syncLayout, syncPending, syncRefresh, syncSending, SYNC_BUFFER_BYTES, tableExport, tableExported, tableExpired,
  tableImport, tableUnmatched,
} from "./ha/sync";

@inline const SCRATCH_SLOTS: u32 = 64;

const regions: usize = memory.data(<i32>Region.COUNT * 4);

@inline function alignUp(v: u64, a: u64): u64 { return (v + a - 1) & ~(a - 1); }
@inline function pow2AtLeast(v: u32): u32 {
  let p: u32 = 1;
  while (p < v) p <<= 1;
  return p;
}

export function abiVersion(): u32 { return Abi.VERSION; }

/** Lay out linear memory and grow it once to fit. Call before anything else; the host
 *  must (re)create its views of memory afterwards. schedMem: bytes of the scheduler arena
 *  (sh, dh, mh and maglev tables, sched/arena.ts), to which maglevSvc adds room for that
 *  many maglev tables. Returns 0 or -Err. */
export function init(batch: u32, slot: u32, connCap: u32, maxSvc: u32, maxDest: u32, maxNeigh: u32, seed: u32, reserve: u32, maglevSvc: u32, mhSize: u32, maglevSize: u32, schedMem: u32): i32 {
  if (batch == 0 || batch > 4096) return -Err.BAD_ARGUMENT;
  if (slot < 256 || slot > 131072 + <u32>Abi.HEADROOM || (slot & 63) != 0) return -Err.BAD_ARGUMENT;
  if (connCap == 0 || connCap > 0x4000000) return -Err.BAD_ARGUMENT;
  if (maglevSvc > <u32>Abi.MAX_SERVICES || mhIndexOf(mhSize) == 0 || !maglevSizeValid(maglevSize)) return -Err.BAD_ARGUMENT;
  if (maxSvc == 0 || maxSvc > <u32>Abi.MAX_SERVICES || maxDest == 0 || maxDest > <u32>Abi.MAX_REAL_SERVERS || maxNeigh == 0 || maxNeigh > 1 << 20) return -Err.BAD_ARGUMENT;
  let at: u64 = alignUp(<u64>__heap_base, 64);
  let txCap = batch + SCRATCH_SLOTS + QUEUE_SLOTS;
  let connBuckets = pow2AtLeast(connCap);
  let neighSize = pow2AtLeast(maxNeigh * 2);
  // Scratch for building one mh or maglev table: as many servers as one service may have.
  let perService = maxDest < <u32>Abi.MAX_SERVICE_REAL_SERVERS ? maxDest : <u32>Abi.MAX_SERVICE_REAL_SERVERS;
  let arenaBytes = alignUp(<u64>schedMem + <u64>maglevSvc * <u64>tableBytes(maglevSize), 64);
  let r = regions;
  store<u32>(r + (<usize>Region.RX_DESC << 2), <u32>at); at = alignUp(at + <u64>batch * <u64>Abi.DESC_SIZE, 64);
  store<u32>(r + (<usize>Region.RX_SLOTS << 2), <u32>at); at = alignUp(at + <u64>batch * <u64>slot, 64);
  store<u32>(r + (<usize>Region.TX_DESC << 2), <u32>at); at = alignUp(at + <u64>txCap * <u64>Abi.DESC_SIZE, 64);
  store<u32>(r + (<usize>Region.COUNTERS << 2), <u32>at); at = alignUp(at + <u64>Counter.COUNT * 8, 64);
  store<u32>(r + (<usize>Region.SERVICES << 2), <u32>at); at = alignUp(at + <u64>maxSvc * <u64>ServiceField.SIZE, 64);
  store<u32>(r + (<usize>Region.SERVICE_STATS << 2), <u32>at); at = alignUp(at + <u64>maxSvc * <u64>Stat.SIZE, 64);
  store<u32>(r + (<usize>Region.DESTS << 2), <u32>at); at = alignUp(at + <u64>maxDest * <u64>DestField.SIZE, 64);
  store<u32>(r + (<usize>Region.DEST_STATS << 2), <u32>at); at = alignUp(at + <u64>maxDest * <u64>Stat.SIZE, 64);
  let svcIndex = at; at = alignUp(at + serviceIndexBytes(maxSvc, maxDest), 64);
  store<u32>(r + (<usize>Region.CONNS << 2), <u32>at); at = alignUp(at + <u64>connCap * <u64>ConnField.SIZE, 64);
  let inHash = at; at = alignUp(at + <u64>connBuckets * 4, 64);
  let outHash = at; at = alignUp(at + <u64>connBuckets * 4, 64);
  store<u32>(r + (<usize>Region.NEIGHBOURS << 2), <u32>at); at = alignUp(at + <u64>neighSize * <u64>NeighField.SIZE, 64);
  store<u32>(r + (<usize>Region.SCRATCH << 2), <u32>at); at = alignUp(at + <u64>SCRATCH_SLOTS * <u64>slot, 64);
  let queue = at; at = alignUp(at + <u64>QUEUE_SLOTS * <u64>slot, 64);
  store<u32>(r + (<usize>Region.RESERVED << 2), <u32>at); at = alignUp(at + <u64>reserve, 64);
  // Last, so that the regions above keep the offsets they had before they existed (mark.ts).
  let marks = at; at = alignUp(at + <u64>MARK_TABLE_BYTES, 64);
  let vrrpTables = at; at = alignUp(at + <u64>VRRP_TABLE_BYTES, 64);
  let syncBuffer = at; at = alignUp(at + <u64>SYNC_BUFFER_BYTES, 64);
  let lblcTable = at; at = alignUp(at + <u64>LBLC_TABLE_BYTES, 64);
  let lblcrTable = at; at = alignUp(at + <u64>LBLCR_TABLE_BYTES, 64);
  let mhScratch = at; at = alignUp(at + <u64>mhScratchBytes(perService, mhSize), 64);
  let maglevScratch = at; at = alignUp(at + <u64>maglevScratchBytes(perService), 64);
  store<u32>(r + (<usize>Region.VRRP_QUEUE << 2), <u32>at);
  at = alignUp(at + <u64>VrrpQueue.FIRST + <u64>Abi.VRRP_QUEUE_ENTRIES * <u64>VrrpQueue.ENTRY_SIZE, 64);
  // IPv6 connections (conn/table6.ts), after the regions the host knows.
  let cap6 = conn6Capacity(connCap);
  let conn6Base = at; at = alignUp(at + conn6Bytes(cap6), 64);
  let vip6Base = at; at = alignUp(at + vip6Bytes(), 64);
  // The arena last: pages of it no table was ever taken from are never touched.
  let arenaBase = at; at = alignUp(at + arenaBytes, 64);
  if (at > 0xffff0000) return -Err.NO_MEMORY;
  store<u32>(r + (<usize>Region.END << 2), <u32>at);
  let pages = <i32>((at + 65535) >> 16);
  let have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return -Err.NO_MEMORY;
  let counters = <usize>load<u32>(r + (<usize>Region.COUNTERS << 2));
  memory.fill(counters, 0, <usize>Counter.COUNT * 8);
  memory.fill(<usize>load<u32>(r + (<usize>Region.SERVICES << 2)), 0, <usize>maxSvc * <usize>ServiceField.SIZE);
  memory.fill(<usize>load<u32>(r + (<usize>Region.DESTS << 2)), 0, <usize>maxDest * <usize>DestField.SIZE);
  memory.fill(<usize>load<u32>(r + (<usize>Region.RX_DESC << 2)), 0, <usize>batch * <usize>Abi.DESC_SIZE);
  setLayout(batch, slot, <usize>load<u32>(r + (<usize>Region.RX_DESC << 2)), <usize>load<u32>(r + (<usize>Region.RX_SLOTS << 2)),
    <usize>load<u32>(r + (<usize>Region.TX_DESC << 2)), txCap, counters,
    <usize>load<u32>(r + (<usize>Region.SCRATCH << 2)), SCRATCH_SLOTS, <usize>queue);
  serviceLayout(<usize>load<u32>(r + (<usize>Region.SERVICES << 2)), <usize>load<u32>(r + (<usize>Region.SERVICE_STATS << 2)), maxSvc,
    <usize>load<u32>(r + (<usize>Region.DESTS << 2)), <usize>load<u32>(r + (<usize>Region.DEST_STATS << 2)), maxDest,
    <usize>svcIndex);
  connLayout(<usize>load<u32>(r + (<usize>Region.CONNS << 2)), connCap, <usize>inHash, <usize>outHash, connBuckets, seed);
  neighLayout(<usize>load<u32>(r + (<usize>Region.NEIGHBOURS << 2)), neighSize);
  markLayout(<usize>marks);
  vrrpLayout(<usize>vrrpTables, <usize>load<u32>(r + (<usize>Region.VRRP_QUEUE << 2)));
  syncLayout(<usize>syncBuffer);
  lblcLayout(<usize>lblcTable);
  lblcrLayout(<usize>lblcrTable);
  mhLayout(<usize>mhScratch, perService, mhSize);
  maglevLayout(<usize>maglevScratch, perService, maglevSize);
  arenaLayout(<usize>arenaBase, arenaBytes, <u32>Abi.SCHED_BUCKETS, mhSize, maglevSize);
  neighFlush();
  neigh6Flush();
  conn6Layout(<usize>conn6Base, cap6);
  vip6Layout(<usize>vip6Base);
  conn6Reset();
  routeClear();
  ipv6SetGateway(0, 0, 0, 0, -1);
  state.resetIpId();
  schedulerInit();
  return Err.OK;
}

/** Start of region r (Region), valid after init. */
export function regionOffset(r: u32): u32 {
  return r < <u32>Region.COUNT ? load<u32>(regions + (<usize>r << 2)) : 0;
}

/** Bytes of linear memory the layout needs (after init). */
export function memoryEnd(): u32 { return regionOffset(Region.END); }

function beginCall(now: u32): void {
  setNow(now);
  txBegin();
  neighQueueRecycle();
  connSweep();
  conn6Sweep();
  neighTick();
  neigh6Tick();
}

/** Process RX descriptors 0..n-1 at time nowMs. Returns the number of TX descriptors. */
export function processBatch(n: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  if (n > batchSize) n = batchSize;
  countN(Counter.RX_FRAMES, n);
  // With a table larger than the caches, touch every frame's connection first so the
  // cache misses of the whole batch overlap (WebAssembly has no prefetch instruction).
  if (connCount >= PREFETCH_MIN_CONNECTIONS) prefetchBatch(n);
  let slot = <usize>slotSize;
  let frame = rxSlotsBase + <usize>Abi.HEADROOM;
  let desc = rxDescBase;
  for (let i: u32 = 0; i < n; i++) {
    handleFrame(frame, load<u32>(desc, RxDesc.LEN), load<u32>(desc, RxDesc.IFINDEX));
    frame += slot;
    desc += <usize>Abi.DESC_SIZE;
  }
  // What this batch changed reaches the backup now (ha/sync.ts).
  if (syncSending) syncRefresh();
  if (syncPending(false)) syncFlush();
  return txEnd();
}

/** Timers only (connection expiry, ARP retries): call when idle. Returns TX count. */
export function tick(nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  schedulerTick(nowMs);
  if (syncSending) syncRefresh();
  if (syncPending(true)) syncFlush();
  return txEnd();
}

/** Announce addr on ifindex with a gratuitous ARP request (RFC 5227 section 3). Returns TX count. */
export function sendGratuitousArp(ifindex: u32, addr: u32, nowMs: u32): u32 {
  if (!state.initialised || !ifaceExists(ifindex)) return 0;
  beginCall(nowMs);
  let f = scratchTake();
  if (f == 0) return 0;
  // A master use_vmac instance's address is announced with its virtual MAC.
  let mac = vrrpVmacFor(addr, ifindex);
  if (mac == 0) mac = ifaceMac(ifindex);
  ethSetBroadcastDst(f);
  copyMac(f + EthField.SRC, mac);
  store<u16>(f, <u16>ETHERTYPE_ARP_WIRE, EthField.TYPE);
  arpEmit(f + ETH_HEADER_LEN, ARP_OP_REQUEST_WIRE, mac, addr, 0, addr);
  memory.fill(f + ETH_HEADER_LEN + ARP_LEN, 0, ETH_MIN_FRAME - ETH_HEADER_LEN - ARP_LEN);
  txPush(f, ETH_MIN_FRAME, ifindex);
  return txEnd();
}

// ---- interfaces, routes, neighbours ------------------------------------------------

export function setInterface(ifindex: u32, macLo: u32, macHi: u32, mtu: u32, addr: u32, prefixLen: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return ifaceSet(ifindex, macLo, macHi, mtu, addr, prefixLen) ? Err.OK : -Err.BAD_ARGUMENT;
}
export function addRoute(net: u32, prefixLen: u32, gateway: u32, ifindex: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return routeAdd(net, prefixLen, gateway, ifindex) ? Err.OK : -Err.BAD_ARGUMENT;
}
export function deleteRoute(net: u32, prefixLen: u32): i32 {
  return routeDelete(net, prefixLen) ? Err.OK : -Err.NOT_FOUND;
}
export function setNeighbour(ip: u32, macLo: u32, macHi: u32, ifindex: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  if (!ifaceExists(ifindex)) return -Err.BAD_ARGUMENT;
  return neighSetStatic(ip, macLo, macHi, ifindex) ? Err.OK : -Err.FULL;
}
export function deleteNeighbour(ip: u32): i32 { return neighDelete(ip) ? Err.OK : -Err.NOT_FOUND; }

/** Give interface ifindex the IPv6 address w0..w3 (four u32, each the little-endian load
 *  of four network-order bytes, as the host's Ip6Words) and its prefix length: a
 *  link-local one replaces the one made from the MAC, others take one of the interface's
 *  global slots (Abi.MAX_IPV6_ADDRESSES - 1). 0, -BAD_ARGUMENT, -FULL. */
export function setInterfaceIpv6(ifindex: u32, w0: u32, w1: u32, w2: u32, w3: u32, prefixLen: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return ifaceAddIpv6(ifindex, w0, w1, w2, w3, prefixLen);
}
/** Remove an IPv6 address from interface ifindex (the link-local one goes back to the
 *  one made from the MAC). 0 or -NOT_FOUND. */
export function deleteInterfaceIpv6(ifindex: u32, w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  return ifaceDeleteIpv6(ifindex, w0, w1, w2, w3) ? Err.OK : -Err.NOT_FOUND;
}
/** Word w (0..3) of IPv6 address slot k of interface ifindex (slot 0: link-local). */
export function interfaceIpv6Word(ifindex: u32, k: u32, w: u32): u32 {
  if (!ifaceExists(ifindex) || k >= <u32>Abi.MAX_IPV6_ADDRESSES || w > 3) return 0;
  return load<u32>(ipv6Slot(ifindex, k) + (<usize>w << 2));
}
/** The IPv6 neighbour entry for w0..w3 (its address in linear memory, laid out as
 *  Neigh6Field; its STATE brought up to date), or 0. */
export function neighbourV6Find(w0: u32, w1: u32, w2: u32, w3: u32): u32 {
  let a = neighV6Query;
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  let e = neigh6Lookup(a);
  if (e != 0) neigh6State(e);
  return <u32>e;
}
const neighV6Query: usize = memory.data(16);
/** IPv6 neighbour entries in use (at most Abi.MAX_IPV6_NEIGHBOURS). */
export function neighbourV6Count(): u32 { return neigh6Count; }
export function flushNeighboursV6(): void { neigh6Flush(); }
/** The prefix length of slot k of interface ifindex, or -1 if the slot is empty. */
export function interfaceIpv6PrefixLen(ifindex: u32, k: u32): i32 {
  if (!ifaceExists(ifindex) || k >= <u32>Abi.MAX_IPV6_ADDRESSES) return -1;
  let slot = ipv6Slot(ifindex, k);
  return ipv6SlotUsed(slot) ? <i32>ipv6SlotPrefixLen(slot) : -1;
}

// ---- services and real servers ------------------------------------------------------

export function addService(proto: u32, vaddr: u32, vport: u32, sched: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return svcAdd(proto, vaddr, vport, sched);
}
export function editService(s: u32, sched: u32): i32 { return svcEdit(s, sched); }
/** The seed of the twos scheduler's draws (the host gives a random one; tests a fixed one). */
export function setRandomSeed(seed: u32): void { twosSeed(seed); }
/** Entry i of a maglev service's table: a real server's index, or 0xffffffff. */
export function maglevTableEntry(s: u32, i: u32): u32 { return svcUsed(s) ? maglevEntry(s, i) : 0xffffffff; }
/** ipvsadm -b: the scheduler flags, bit 0 flag-1, bit 1 flag-2, bit 2 flag-3. */
export function setSchedFlags(s: u32, flags: u32): i32 { return svcSetSchedFlags(s, flags); }
/** ipvsadm -p TIMEOUT -M NETMASK (timeout in seconds, 0: not persistent; netmask in network byte order). */
export function setPersistence(s: u32, timeoutS: u32, netmask: u32): i32 { return svcSetPersistence(s, timeoutS, netmask); }
/** Firewall-mark rules (svc/mark.ts): cleared, then added one by one (net and mask in
 *  wire order, proto 0 for any); ports are added to the rule addMarkRule returned. */
export function clearMarkRules(): void { markClear(); }
export function addMarkRule(mark: u32, net: u32, mask: u32, proto: u32): i32 {
  let i = markAdd(mark, net, mask, proto);
  return i < 0 ? -Err.FULL : i;
}
export function addMarkPorts(rule: u32, lo: u32, hi: u32): i32 { return markAddPorts(rule, lo, hi) ? Err.OK : -Err.BAD_ARGUMENT; }
/** VRRP instances (ha/vrrp.ts): cleared, then added one by one with their addresses (auth:
 *  the PASS data as two words; the instance added last takes the addresses). */
export function vrrpReset(): void { vrrpClear(); vrrp6Clear(); }
/** flags: 1 use_vmac, 2 vmac_xmit_base, 4 static (static_ipaddress: always held, no VRRP), 8 IPv6 (ha/vrrp6.ts; version 3),
 *  16 unicast_peer (IPv6 adverts of any hop limit taken, as keepalived). */
export function vrrpInstance(ifindex: u32, vrid: u32, version: u32, intervalCs: u32, authType: u32, authLo: u32, authHi: u32, flags: u32): i32 {
  let i = vrrpAddInstance(ifindex, vrid, version, intervalCs, authType, authLo, authHi, flags);
  if (i >= 0 && (flags & VRRP_IPV6) != 0) vrrp6InstanceAdded();
  return i < 0 ? -Err.BAD_ARGUMENT : i;
}
/** An IPv6 address (w0..w3 as setInterfaceIpv6 takes them) of instance i, the last added:
 *  advertised (1; an IPv6 instance's, before its excluded ones) or held only (0). */
export function vrrpAddress6(i: u32, w0: u32, w1: u32, w2: u32, w3: u32, advertised: u32): i32 {
  return vrrp6AddAddress(i, w0, w1, w2, w3, advertised != 0) ? Err.OK : -Err.FULL;
}
/** vrrp_mcast_group6: the group IPv6 instances advertise to (ff02::12 until set). */
export function vrrpGroup6(w0: u32, w1: u32, w2: u32, w3: u32): i32 { return vrrp6SetGroup(w0, w1, w2, w3) ? Err.OK : -Err.BAD_ARGUMENT; }
const vrrp6Peer: usize = memory.data(16);
/** Send IPv6 instance i's advert with this priority, to the group or (w0..w3 not all 0) a
 *  unicast peer. Returns TX count. */
export function vrrpAdvert6(i: u32, priority: u32, w0: u32, w1: u32, w2: u32, w3: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  store<u32>(vrrp6Peer, w0); store<u32>(vrrp6Peer, w1, 4); store<u32>(vrrp6Peer, w2, 8); store<u32>(vrrp6Peer, w3, 12);
  vrrp6SendAdvert(i, priority, (w0 | w1 | w2 | w3) != 0 ? vrrp6Peer : 0);
  return txEnd();
}
/** Announce IPv6 address w0..w3 on ifindex with an unsolicited Neighbour Advertisement
 *  (router: the Router flag). Returns TX count. */
export function sendUnsolicitedNa(ifindex: u32, w0: u32, w1: u32, w2: u32, w3: u32, router: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  store<u32>(vrrp6Peer, w0); store<u32>(vrrp6Peer, w1, 4); store<u32>(vrrp6Peer, w2, 8); store<u32>(vrrp6Peer, w3, 12);
  vrrp6SendNa(ifindex, vrrp6Peer, router != 0);
  return txEnd();
}
/** An address of instance i: advertised (1) or held but not advertised (0, virtual_ipaddress_excluded, after the others). */
export function vrrpAddress(i: u32, addr: u32, advertised: u32): i32 { return vrrpAddAddress(i, addr, advertised != 0) ? Err.OK : -Err.FULL; }
/** The host's state machine: instance i is master (its addresses are the engine's) or not. */
export function vrrpMaster(i: u32, master: u32): i32 { return vrrpSetMaster(i, master != 0) ? Err.OK : -Err.NOT_FOUND; }
/** Send instance i's advert with this priority, to 224.0.0.18 or (peer, wire order, not 0)
 *  a unicast peer. Returns TX count. */
export function vrrpAdvert(i: u32, priority: u32, peer: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  vrrpSendAdvert(i, priority, peer);
  return txEnd();
}
/** Connection sync: roles (1 send, 2 receive, 3 both, 0 off), the interface, the sync ID
 *  (0: accept any), the largest message (UDP payload bytes), the period in which the master
 *  resends its whole table (ms; 0: never), a unicast peer to send to (wire order; 0: 224.0.0.81),
 *  the address a backup takes unicast sync from (wire order; 0: none but the VRRP master). */
export function syncSetup(roles: u32, ifindex: u32, syncid: u32, maxlen: u32, refreshMs: u32, peer: u32, from: u32): i32 {
  return syncConfigure(roles, ifindex, syncid, maxlen, refreshMs, peer, from) ? Err.OK : -Err.BAD_ARGUMENT;
}
/** The sync key (len bytes at p, at most 64; 0: off): HMAC-SHA256 trailers sent and required. */
export function syncKey(p: usize, len: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return syncSetKey(p, len) ? Err.OK : -Err.BAD_ARGUMENT;
}
/** SHA-256 of len bytes at p into out (tests check the engine's against node:crypto). */
export function sha256Of(p: usize, len: u32, out: usize): void { sha256(p, len, out); }
/** The percent of the connection table synced-never-seen entries may hold (1-100; 0: 50). */
export function syncShare(percent: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return syncSetShare(percent) ? Err.OK : -Err.BAD_ARGUMENT;
}
/** The VRRP master of the instance sync follows, as a backup learned it from its adverts
 *  (wire order; 0: none): a backup takes unicast sync from it too. */
export function syncMaster(addr: u32): void { syncAcceptFrom(addr); }
/** Milliseconds the backup sync daemon has gone without a message (0xffffffff: not receiving). */
export function syncIdle(): u32 { return syncIdleMs(); }
/** A planned restart (host/dataplane/handoff.ts): the table as sync entries with their
 *  remaining timeouts, written at out (max entries) from slot `from`, templates (1) or
 *  connections (0); returns the next slot (the capacity when done), exportCount() the entries. */
export function exportTable(from: u32, templates: u32, out: usize, max: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  let next = tableExport(from, templates != 0, out, max);
  txEnd();
  return next;
}
/** The crash journal's slice (host/dataplane/journal.ts): exportTable between two batches of
 *  a running loop, at most `slots` slots looked at; only the clock is set (no timer runs, so
 *  nothing is sent or expired by this call). */
export function exportSlots(from: u32, templates: u32, out: usize, max: u32, slots: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  setNow(nowMs);
  return tableExport(from, templates != 0, out, max, slots);
}
export function exportCount(): u32 { return tableExported; }
/** Take n exported entries at `at`, elapsedMs after they were written; returns those applied
 *  (importExpired() ran out meanwhile, importUnmatched() match no service or server here). */
export function importTable(at: usize, n: u32, elapsedMs: u32, nowMs: u32): u32 {
  if (!state.initialised) return 0;
  beginCall(nowMs);
  let applied = tableImport(at, n, elapsedMs);
  txEnd();
  return applied;
}
export function importExpired(): u32 { return tableExpired; }
export function importUnmatched(): u32 { return tableUnmatched; }
/** IPVS's expire_quiescent_template sysctl. */
export function setExpireQuiescent(on: u32): void { setExpireQuiescentTemplate(on != 0); }
export function deleteService(s: u32): i32 { return svcDelete(s); }
export function findService(proto: u32, vaddr: u32, vport: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  let s = svcFind(proto, vaddr, vport);
  return s == NONE ? -Err.NOT_FOUND : <i32>s;
}
export function addDest(s: u32, addr: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  return destAdd(s, addr, port, fwd, weight, uthreshold, lthreshold);
}
/** An IPv6 TCP or UDP service on address w0..w3 (each the little-endian load of four
 *  network-order bytes); its index or -Err. Edited and deleted as IPv4 ones, by index. */
export function addServiceV6(proto: u32, w0: u32, w1: u32, w2: u32, w3: u32, vport: u32, sched: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  return svcAdd6(proto, w0, w1, w2, w3, vport, sched);
}
export function findServiceV6(proto: u32, w0: u32, w1: u32, w2: u32, w3: u32, vport: u32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  let a = v6Scratch;
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  let s = svcFind6(proto, a, vport);
  return s == NONE ? -Err.NOT_FOUND : <i32>s;
}
/** A real server at IPv6 address w0..w3 of IPv6 service s (NAT or DR); edited and deleted
 *  by index as IPv4 ones. */
export function addDestV6(s: u32, w0: u32, w1: u32, w2: u32, w3: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  return destAdd6(s, w0, w1, w2, w3, port, fwd, weight, uthreshold, lthreshold);
}
export function findDestV6(s: u32, w0: u32, w1: u32, w2: u32, w3: u32, port: u32): i32 {
  let a = v6Scratch;
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  let d = destFind6(s, a, port, false);
  return d == NONE ? -Err.NOT_FOUND : <i32>d;
}
const v6Scratch: usize = memory.data(16);
/** The IPv6 default gateway w0..w3 on ifindex (ifindex < 0: none); 0 or -Err. */
export function setGatewayV6(w0: u32, w1: u32, w2: u32, w3: u32, ifindex: i32): i32 {
  return ipv6SetGateway(w0, w1, w2, w3, ifindex) ? Err.OK : -Err.BAD_ARGUMENT;
}
/** IPv6 connections in the table, and the entry (Conn6Field) at i, or 0 (listing: i from
 *  0 to connectionV6Bound()). */
export function connectionV6Count(): u32 { return conn6Count; }
export function connectionV6Bound(): u32 { return conn6Fresh(); }
export function connectionV6At(i: u32): u32 { return <u32>conn6At(i); }
export function editDest(d: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  return destEdit(d, fwd, weight, uthreshold, lthreshold);
}
export function deleteDest(d: u32): i32 { return destDelete(d); }
/** ipvsadm -Z: zero the statistics of service s and its real servers, or of all when s < 0. */
export function zeroStats(s: i32): i32 {
  if (!state.initialised) return -Err.NOT_INITIALISED;
  for (let i: u32 = 0; i < maxServices; i++) {
    if (s >= 0 && <u32>s != i) continue;
    if (s >= 0 && !svcUsed(i)) return -Err.NOT_FOUND;
    memory.fill(svcStats(i), 0, <usize>Stat.SIZE);
  }
  for (let d: u32 = 0; d < maxDests; d++) {
    if (s < 0 || destService(d) == <u32>s) memory.fill(destStats(d), 0, <usize>Stat.SIZE);
  }
  return Err.OK;
}

/** Services in use. O(1). */
export function servicesInUse(): u32 { return serviceCount; }
/** Service indexes free. O(1). */
export function serviceSlotsFree(): u32 { return freeServiceSlots(); }
/** Real-server records free (removed servers still draining hold theirs). O(1). */
export function realServerSlotsFree(): u32 { return freeDestSlots(); }
/** Bytes of the scheduler arena free (never handed out, or given back). */
export function schedulerMemoryFree(): f64 { return <f64>arenaFree(); }
/** Bytes of the scheduler arena. */
export function schedulerMemorySize(): f64 { return <f64>arenaSize(); }
/** Whether a service could take scheduler k's table now (free bytes may sit on another
 *  size's free list: this asks the list k's table comes from). */
export function schedulerCanTake(k: u32): u32 { return k < <u32>Sched.COUNT && arenaCanTake(schedTableClass(k)) ? 1 : 0; }
/** Bytes one service of scheduler k takes from the arena (0: none). */
export function schedulerTableBytes(k: u32): u32 { return k < <u32>Sched.COUNT ? arenaClassBytes(schedTableClass(k)) : 0; }
/** Whether addr is a VIP (or a firewall-mark rule's address): what ARP and ICMP echo ask. */
export function vipKnown(addr: u32): u32 { return isVip(addr) ? 1 : 0; }
/** Read-only route queries (wire order), so a change can be checked before it is applied:
 *  whether addr is on a connected network (DR needs it), and whether any route reaches it. */
export function routeOnLink(addr: u32): u32 { return routeIsOnLink(addr) ? 1 : 0; }
export function routeExists(addr: u32): u32 { return routeLookup(addr) ? 1 : 0; }

export function findDest(s: u32, addr: u32, port: u32): i32 {
  let d = destFind(s, addr, port, false);
  return d == NONE ? -Err.NOT_FOUND : <i32>d;
}

// ---- connections and timeouts -------------------------------------------------------

/** ipvsadm --set tcp tcpfin udp, in milliseconds; 0 leaves a value unchanged. */
export function setTimeouts(tcpMs: u32, tcpFinMs: u32, udpMs: u32): void {
  if (tcpMs) setStateTimeout(ConnState.ESTABLISHED, tcpMs);
  if (tcpFinMs) setStateTimeout(ConnState.FIN_WAIT, tcpFinMs);
  if (udpMs) setStateTimeout(ConnState.UDP, udpMs);
}
export function setStateTimeoutMs(s: u32, ms: u32): i32 {
  if (s >= <u32>ConnState.COUNT || ms == 0 || ms > 0x7fffffff) return -Err.BAD_ARGUMENT;
  setStateTimeout(s, ms);
  return Err.OK;
}
export function getStateTimeoutMs(s: u32): u32 { return s < <u32>ConnState.COUNT ? stateTimeout(s) : 0; }
export function setExpireNodest(on: u32): void { setExpireNodestConn(on != 0); }
/** IPVS's sloppy_tcp: a TCP connection may start on any segment but a RST. */
export function setSloppyTcp(on: u32): void { pipelineSloppyTcp(on != 0); }
/** One-packet scheduling for service s (ipvsadm -o). */
export function setOnePacket(s: u32, on: u32): i32 { return svcSetOnePacket(s, on != 0); }
/** Vnet mode: frames carry a virtio-net header in the 10 bytes before them (TAP offloads). */
export function setVnetHeaders(on: u32): void { state.setVnet(on != 0); }
/** Answer traffic the director has nothing for (TCP reset, ICMP port unreachable): 1 on, 0 off. */
export function setRejectUnknown(on: u32): void { setRejectUnknownReplies(on != 0); }
export function connectionCount(): u32 { return connCount; }
export function connectionCapacity(): u32 { return tableCapacity; }
/** Expire every connection whose time has passed at nowMs (control path). */
export function expireConnections(nowMs: u32): void { setNow(nowMs); connExpireAll(); connSetLastSweep(nowMs); }
export function flushConnections(): void { connFlush(); }
export function flushNeighbours(): void { neighFlush(); }
