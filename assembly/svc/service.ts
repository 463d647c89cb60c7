// Virtual services and their real servers (IPVS's ip_vs_service / ip_vs_dest).
//
// Service record (ServiceField, 64 bytes): the key (proto, VIP, port), the scheduler,
// the head of its real-server list, and the scheduler's own state (SVC_SCHED_*).
// Real-server record (DestField, 48 bytes): address, port, forwarding method, weight,
// thresholds, active/inactive connection counts, service, next in the service's list.
//
// Like IPVS, a new real server goes to the head of its service's list (list_add_rcu in
// __ip_vs_update_dest), which fixes the order rr and wrr walk. A removed real server is
// unlinked and loses AVAILABLE but its record lingers, like IPVS's trash, while
// connections point to it; re-adding the same address and port revives it.

import { DestField, DestFlag, Err, Fwd, Sched, ServiceField, Stat, Abi } from "../abi";
import { routeIsOnLink, routeLookup } from "../route/route";
import { markCovers, markRuleCount } from "./mark";

@inline export const NONE: u32 = 0xffffffff;
@inline export const DEST_NONE_U16: u32 = 0xffff;

// Scheduler state inside the service record.
@inline export const SVC_SCHED_CURSOR: usize = 16; // rr: last dest; wrr: mark->cl (NONE = list head)
@inline export const SVC_SCHED_CW: usize = 20;
@inline export const SVC_SCHED_MW: usize = 24;
@inline export const SVC_SCHED_DI: usize = 28;
@inline const SVC_USED: u8 = 1;
/** IP_VS_SVC_F_ONEPACKET (ipvsadm -o): every UDP datagram is scheduled on its own. */
@inline const SVC_ONEPACKET: u8 = 2;

export let svcBase: usize = 0;
export let svcStatsBase: usize = 0;
export let maxServices: u32 = 0;
export let destBase: usize = 0;
export let destStatsBase: usize = 0;
export let maxDests: u32 = 0;
export let bucketsBase: usize = 0;
let svcHashBase: usize = 0;
let svcHashMask: u32 = 0;

export function serviceLayout(svcs: usize, svcStats: usize, nSvc: u32, dests: usize, destStats: usize, nDest: u32,
  buckets: usize, hash: usize, hashSizePow2: u32): void {
  svcBase = svcs; svcStatsBase = svcStats; maxServices = nSvc;
  destBase = dests; destStatsBase = destStats; maxDests = nDest;
  bucketsBase = buckets; svcHashBase = hash; svcHashMask = hashSizePow2 - 1;
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

function svcRehash(): void {
  memory.fill(svcHashBase, 0, <usize>(svcHashMask + 1) << 2);
  for (let s: u32 = 0; s < maxServices; s++) {
    if (!svcUsed(s)) continue;
    let r = svcRec(s);
    let i = svcHash(<u32>load<u8>(r, ServiceField.PROTO), load<u32>(r, ServiceField.VADDR), <u32>load<u16>(r, ServiceField.VPORT));
    while (load<u32>(svcHashBase + (<usize>i << 2)) != 0) i = (i + 1) & svcHashMask;
    store<u32>(svcHashBase + (<usize>i << 2), s + 1);
  }
}

/** True if addr is the VIP of any service or a firewall-mark rule's address (for ARP and
 *  ICMP echo). A firewall-mark service keeps its mark where others keep their VIP. */
export function isVip(addr: u32): bool {
  for (let s: u32 = 0; s < maxServices; s++) {
    if (svcUsed(s) && load<u8>(svcRec(s), ServiceField.PROTO) != 0 && load<u32>(svcRec(s), ServiceField.VADDR) == addr) return true;
  }
  return markRuleCount != 0 && markCovers(addr);
}

// ---- scheduler hooks (implemented in sched/) -------------------------------------
// Set by sched/index.ts to avoid an import cycle.
export let onDestsChanged: (s: u32) => void = (s: u32): void => {};
/** The service's scheduler state starts afresh (added, deleted, another scheduler). */
export let onServiceReset: (s: u32) => void = (s: u32): void => {};
/** Whether service s can take scheduler k (its tables may be all in use). */
export let canSchedule: (s: u32, k: u32) => bool = (s: u32, k: u32): bool => true;
export function setSchedulerHook(changed: (s: u32) => void, reset: (s: u32) => void, can: (s: u32, k: u32) => bool): void {
  canSchedule = can;
  onServiceReset = reset;
  onDestsChanged = changed;
}

/** Add a service; returns its index, or -Err. A firewall-mark service is protocol 0 with
 *  its mark as vaddr and port 0 (IPVS matches it by mark alone, any protocol). */
export function svcAdd(proto: u32, vaddr: u32, vport: u32, sched: u32): i32 {
  if (sched >= <u32>Sched.COUNT || (proto != 6 && proto != 17 && proto != 0)) return -Err.BAD_ARGUMENT;
  if (proto == 0 && (vaddr == 0 || vport != 0)) return -Err.BAD_ARGUMENT;
  if (svcFind(proto, vaddr, vport) != NONE) return -Err.EXISTS;
  for (let s: u32 = 0; s < maxServices; s++) {
    if (svcUsed(s)) continue;
    if (!canSchedule(s, sched)) return -Err.FULL;
    let r = svcRec(s);
    memory.fill(r, 0, <usize>ServiceField.SIZE);
    memory.fill(svcStats(s), 0, <usize>Stat.SIZE);
    store<u32>(r, vaddr, ServiceField.VADDR);
    store<u16>(r, <u16>vport, ServiceField.VPORT);
    store<u8>(r, <u8>proto, ServiceField.PROTO);
    store<u8>(r, SVC_USED, ServiceField.FLAGS);
    store<u8>(r, <u8>sched, ServiceField.SCHED);
    store<u32>(r, NONE, ServiceField.DEST_HEAD);
    store<u32>(r, NONE, SVC_SCHED_CURSOR);
    store<u32>(r, 0xffffffff, ServiceField.NETMASK);
    if (vport == 0 && proto != 0) portZeroServices++;
    svcRehash();
    onServiceReset(s);
    onDestsChanged(s);
    return <i32>s;
  }
  return -Err.FULL;
}

/** Change a service's scheduler (its scheduler state starts afresh, as in IPVS). */
export function svcEdit(s: u32, sched: u32): i32 {
  if (!svcUsed(s) || sched >= <u32>Sched.COUNT) return -Err.BAD_ARGUMENT;
  if (!canSchedule(s, sched)) return -Err.FULL;
  let r = svcRec(s);
  store<u8>(r, <u8>sched, ServiceField.SCHED);
  store<u32>(r, NONE, SVC_SCHED_CURSOR);
  store<i32>(r, 0, SVC_SCHED_CW);
  onServiceReset(s);
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
    store<u32>(destRec(d), NONE, DestField.SERVICE);
    d = next;
  }
  let r = svcRec(s);
  onServiceReset(s);
  store<u32>(r, NONE, ServiceField.DEST_HEAD);
  store<u8>(r, 0, ServiceField.FLAGS);
  svcRehash();
  return Err.OK;
}

/** Removed real servers still holding connections (USED, not AVAILABLE): while there are
 *  none, looking for one costs nothing. */
let lingeringDests: u32 = 0;
/** Where the search for a free real-server record starts (the one after the last taken). */
let freeDestHint: u32 = 0;

/** The real server addr:port of service s (linked or lingering), or NONE. Linked servers
 *  are found on the service's list, lingering ones by a scan only when there are any. */
export function destFind(s: u32, addr: u32, port: u32, lingering: bool): u32 {
  if (!lingering) {
    if (!svcUsed(s)) return NONE;
    for (let d = svcHead(s); d != NONE; d = destNext(d)) {
      if (destAddr(d) == addr && destPort(d) == port) return d;
    }
    return NONE;
  }
  if (lingeringDests == 0) return NONE;
  for (let d: u32 = 0; d < maxDests; d++) {
    if (destUsed(d) && !destAvailable(d) && destService(d) == s && destAddr(d) == addr && destPort(d) == port) return d;
  }
  return NONE;
}

function validateDest(s: u32, addr: u32, port: u32, fwd: u32, weight: i32): i32 {
  if (weight < 0 || weight > 65535) return -Err.BAD_ARGUMENT;
  if (fwd != Fwd.MASQ && fwd != Fwd.DROUTE && fwd != Fwd.TUNNEL) return -Err.BAD_ARGUMENT;
  let vport = <u32>load<u16>(svcRec(s), ServiceField.VPORT);
  // DR and TUN cannot change the port: the packet reaches the server unchanged (a
  // firewall-mark service has no port of its own: ipvsadm does not check it).
  if (fwd != Fwd.MASQ && port != vport && load<u8>(svcRec(s), ServiceField.PROTO) != 0) return -Err.PORT_MISMATCH;
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

/** Add a real server to service s; returns its index, or -Err. */
export function destAdd(s: u32, addr: u32, port: u32, fwd: u32, weight: i32, uthreshold: u32, lthreshold: u32): i32 {
  if (!svcUsed(s)) return -Err.NOT_FOUND;
  let e = validateDest(s, addr, port, fwd, weight);
  if (e != Err.OK) return e;
  if (destFind(s, addr, port, false) != NONE) return -Err.EXISTS;
  let d = destFind(s, addr, port, true);
  if (d != NONE) lingeringDests--; // it comes back with its connections
  else {
    for (let k: u32 = 0; k < maxDests; k++) {
      let i = (freeDestHint + k) % maxDests;
      if (!destUsed(i)) { d = i; break; }
    }
    if (d == NONE) return -Err.FULL;
    freeDestHint = d + 1;
    let r = destRec(d);
    memory.fill(r, 0, <usize>DestField.SIZE);
    memory.fill(destStats(d), 0, <usize>Stat.SIZE);
    store<u32>(r, addr, DestField.ADDR);
    store<u16>(r, <u16>port, DestField.PORT);
    store<u32>(r, s, DestField.SERVICE);
  }
  let r = destRec(d);
  destWrite(d, fwd, weight, uthreshold, lthreshold, true);
  store<u8>(r, <u8>(DestFlag.USED | DestFlag.AVAILABLE), DestField.FLAGS);
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
  let e = validateDest(s, destAddr(d), destPort(d), fwd, weight);
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
    store<u8>(destRec(d), 0, DestField.FLAGS);
    lingeringDests--;
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

@inline export function bucketTable(s: u32): usize {
  return bucketsBase + <usize>s * (<usize>Abi.SCHED_BUCKETS << 1);
}
