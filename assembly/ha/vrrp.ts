// VRRP in the data path: the engine speaks VRRP on its interfaces for the host's state
// machine (host/vrrp/). It keeps the instances (interface, VRID, version, interval,
// authentication, addresses), owns an instance's addresses only while the host says the
// instance is master — ARP, ping and traffic for them are answered and forwarded then, and
// dropped (DROP_NOT_MASTER) while backup, so a backup never fights the master — validates
// incoming adverts and queues them for the host (Region.VRRP_QUEUE), and builds the adverts
// the host asks it to send.
//
// The address table is a small open-addressing hash rebuilt on every change (control
// path), so the per-packet ownership test is one or two probes, and no probe at all while
// no instance exists.

import { Abi, Counter, Proto, VrrpQueue } from "../abi";
import { count } from "../engine/state";
import { scratchTake, txPush } from "../engine/tx";
import { copyMac } from "../wire/bytes";
import { EthField, ETHERTYPE_IPV4_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { ipv4Emit, IPV4_HEADER_LEN } from "../wire/ipv4";
import { vrrpCheck, vrrpEmit, vrrpLength, vrrpVersion, vrrpVrid, VRRP_GROUP_WIRE, VRRP_TOS, VRRP_TTL, VrrpField, VRRP_HEADER_LEN } from "../wire/vrrp";
import { ifaceAddr, ifaceExists, ifaceMac } from "../route/route";
import { sendRouted } from "../xmit/output";

// Instance record: ifindex u8 | vrid u8 | version u8 | master u8 | auth type u8 | vmac u8 |
// interval (cs) u16 | auth data 8 | first address u16 | address count u16 | advertised u16 | pad to 24.
@inline const I_SIZE: usize = 24;
@inline const I_IFINDEX: usize = 0;
@inline const I_VRID: usize = 1;
@inline const I_VERSION: usize = 2;
@inline const I_MASTER: usize = 3;
@inline const I_AUTH_TYPE: usize = 4;
/** keepalived's use_vmac: VMAC_ON (the instance's addresses are answered and announced from
 *  00:00:5e:00:01:VRID, RFC 5798 section 7.3, and frames to it are taken while master),
 *  VMAC_XMIT_BASE too (vmac_xmit_base: adverts still leave from the interface's MAC). */
@inline const I_VMAC: usize = 5;
@inline const VMAC_ON: u32 = 1;
@inline const VMAC_XMIT_BASE: u32 = 2;
/** keepalived's static_ipaddress: not VRRP at all, addresses the director always holds
 *  (answers ARP and ping for); kept here so that one table says which addresses are ours. */
@inline const STATIC: u32 = 4;
/** An IPv6 instance (ha/vrrp6.ts): version 3 over IPv6, its addresses in vrrp6's table. */
@inline export const VRRP_IPV6: u32 = 8;
/** keepalived's unicast_peer: adverts to and from the peers' unicast addresses (ha/vrrp6.ts:
 *  keepalived takes those whatever their IPv6 hop limit, which it leaves to the kernel's default). */
@inline export const VRRP_UNICAST: u32 = 16;
@inline const I_INTERVAL: usize = 6;
@inline const I_AUTH: usize = 8;
@inline const I_FIRST: usize = 16;
@inline const I_COUNT: usize = 18;
/** The first ADVERTISED of an instance's addresses go in its adverts; the rest are
 *  keepalived's virtual_ipaddress_excluded: held by the master, never advertised. */
@inline const I_ADVERTISED: usize = 20;
// Address list: the addresses of every instance, in instance order (u32 wire order each).
// Ownership hash: HASH_SIZE slots of (address u32, masters u16, holders u16).
@inline const HASH_SIZE: u32 = 1024;
@inline const H_SIZE: usize = 8;

/** Bytes the tables take (init() places them at the end of memory, as mark.ts's). */
export const VRRP_TABLE_BYTES: usize = I_SIZE * <usize>Abi.MAX_VRRP_INSTANCES + 4 * <usize>Abi.MAX_VRRP_ADDRESSES + H_SIZE * <usize>HASH_SIZE + 8;

let instances: usize = 0;
let addresses: usize = 0;
let hash: usize = 0;
let queue: usize = 0;
let instanceCount: u32 = 0;
/** Addresses held by instances; while 0, the data path never looks. */
export let vrrpAddressCount: u32 = 0;
/** Instances with a virtual MAC; while 0, nothing looks for one. */
export let vrrpVmacCount: u32 = 0;
/** 00:00:5e:00:01:VRID, built here for the one who asks (6 bytes). */
let vmacScratch: usize = 0;

export function vrrpLayout(tables: usize, queueBase: usize): void {
  instances = tables;
  addresses = tables + I_SIZE * <usize>Abi.MAX_VRRP_INSTANCES;
  hash = addresses + 4 * <usize>Abi.MAX_VRRP_ADDRESSES;
  vmacScratch = hash + H_SIZE * <usize>HASH_SIZE;
  queue = queueBase;
  vrrpClear();
}

@inline function inst(i: u32): usize { return instances + <usize>i * I_SIZE; }

export function vrrpClear(): void {
  instanceCount = 0;
  vrrpAddressCount = 0;
  vrrpVmacCount = 0;
  memory.fill(hash, 0, H_SIZE * <usize>HASH_SIZE);
  store<u32>(queue, 0, VrrpQueue.COUNT);
}

/** Add an instance; its index, or -1 (table full, bad interface or version). intervalCs:
 *  the advert interval in centiseconds; auth: PASS data (v2), 8 bytes as two words. */
export function vrrpAddInstance(ifindex: u32, vrid: u32, version: u32, intervalCs: u32, authType: u32, authLo: u32, authHi: u32, flags: u32): i32 {
  let isStatic = (flags & STATIC) != 0;
  if (instanceCount >= <u32>Abi.MAX_VRRP_INSTANCES || !ifaceExists(ifindex)) return -1;
  if (!isStatic && ((version != 2 && version != 3) || vrid == 0 || vrid > 255)) return -1;
  let r = inst(instanceCount);
  memory.fill(r, 0, I_SIZE);
  store<u8>(r, <u8>ifindex, I_IFINDEX);
  store<u8>(r, <u8>vrid, I_VRID);
  store<u8>(r, <u8>version, I_VERSION);
  store<u8>(r, <u8>authType, I_AUTH_TYPE);
  store<u16>(r, <u16>intervalCs, I_INTERVAL);
  store<u32>(r, authLo, I_AUTH);
  store<u32>(r, authHi, I_AUTH + 4);
  store<u16>(r, <u16>vrrpAddressCount, I_FIRST);
  if ((flags & VRRP_IPV6) != 0 && (version != 3 || (flags & (VMAC_ON | STATIC)) != 0)) return -1;
  store<u8>(r, <u8>(flags & (VMAC_ON | VMAC_XMIT_BASE | STATIC | VRRP_IPV6 | VRRP_UNICAST)), I_VMAC);
  if ((flags & VMAC_ON) != 0) vrrpVmacCount++;
  if (isStatic) store<u8>(r, 1, I_MASTER);
  instanceCount++;
  return <i32>(instanceCount - 1);
}

/** Add an address to the last instance added (instance i must be the last); advertised
 *  ones first, then the excluded ones (advertised 0). */
export function vrrpAddAddress(i: u32, addr: u32, advertised: bool): bool {
  if (i + 1 != instanceCount || vrrpAddressCount >= <u32>Abi.MAX_VRRP_ADDRESSES) return false;
  let r = inst(i);
  if (advertised) {
    if (load<u16>(r, I_ADVERTISED) != load<u16>(r, I_COUNT)) return false;
    store<u16>(r, load<u16>(r, I_ADVERTISED) + 1, I_ADVERTISED);
  }
  store<u32>(addresses + (<usize>vrrpAddressCount << 2), addr);
  vrrpAddressCount++;
  store<u16>(r, load<u16>(r, I_COUNT) + 1, I_COUNT);
  rebuild();
  return true;
}

/** What ha/vrrp6.ts reads of instance i (i < vrrpInstanceCount()). */
export function vrrpInstanceCount(): u32 { return instanceCount; }
/** The advert queue (Region.VRRP_QUEUE), which IPv6 adverts share. */
export function vrrpQueueBase(): usize { return queue; }
export function vrrpIsIpv6(i: u32): bool { return (<u32>load<u8>(inst(i), I_VMAC) & VRRP_IPV6) != 0; }
export function vrrpIsUnicast(i: u32): bool { return (<u32>load<u8>(inst(i), I_VMAC) & VRRP_UNICAST) != 0; }
export function vrrpIsMaster(i: u32): bool { return load<u8>(inst(i), I_MASTER) != 0; }
export function vrrpIfindexOf(i: u32): u32 { return <u32>load<u8>(inst(i), I_IFINDEX); }
export function vrrpVridOf(i: u32): u32 { return <u32>load<u8>(inst(i), I_VRID); }
export function vrrpIntervalOf(i: u32): u32 { return <u32>load<u16>(inst(i), I_INTERVAL); }

/** The host's state machine says whether instance i is master. */
export function vrrpSetMaster(i: u32, master: bool): bool {
  if (i >= instanceCount || (<u32>load<u8>(inst(i), I_VMAC) & STATIC) != 0) return false;
  store<u8>(inst(i), master ? 1 : 0, I_MASTER);
  rebuild();
  return true;
}

/** 00:00:5e:00:01:vrid (RFC 5798 section 7.3), in the scratch. */
function vmacOf(vrid: u32): usize {
  store<u32>(vmacScratch, 0x005e0000);
  store<u16>(vmacScratch, <u16>(0x0001 | (vrid << 8)), 4);
  return vmacScratch;
}

/** The MAC a master instance with use_vmac answers and announces addr with on ifindex,
 *  or 0 (the interface's own). ARP and gratuitous ARP only: a scan is cheap enough. */
export function vrrpVmacFor(addr: u32, ifindex: u32): usize {
  if (vrrpVmacCount == 0) return 0;
  for (let i: u32 = 0; i < instanceCount; i++) {
    let r = inst(i);
    if ((<u32>load<u8>(r, I_VMAC) & VMAC_ON) == 0 || load<u8>(r, I_MASTER) == 0 || <u32>load<u8>(r, I_IFINDEX) != ifindex) continue;
    let first = <u32>load<u16>(r, I_FIRST);
    let n = <u32>load<u16>(r, I_COUNT);
    for (let k: u32 = 0; k < n; k++) {
      if (load<u32>(addresses + (<usize>(first + k) << 2)) == addr) return vmacOf(<u32>load<u8>(r, I_VRID));
    }
  }
  return 0;
}

/** Is mac (6 bytes) the virtual MAC of a master instance on ifindex? (The Ethernet gate asks
 *  it of a frame not to the interface's MAC; a backup leaves such frames to the master.) */
export function vrrpVmacTaken(mac: usize, ifindex: u32): bool {
  if (load<u32>(mac) != 0x005e0000 || (<u32>load<u16>(mac, 4) & 0xff) != 0x01) return false;
  let vrid = <u32>load<u8>(mac, 5);
  for (let i: u32 = 0; i < instanceCount; i++) {
    let r = inst(i);
    if (<u32>load<u8>(r, I_VRID) == vrid && <u32>load<u8>(r, I_IFINDEX) == ifindex && (<u32>load<u8>(r, I_VMAC) & VMAC_ON) != 0) return load<u8>(r, I_MASTER) != 0;
  }
  return false;
}

@inline function slotOf(addr: u32): u32 {
  let h = addr * 0x9e3779b1;
  return (h ^ (h >>> 15)) & (HASH_SIZE - 1);
}

function rebuild(): void {
  memory.fill(hash, 0, H_SIZE * <usize>HASH_SIZE);
  for (let i: u32 = 0; i < instanceCount; i++) {
    let r = inst(i);
    let master = load<u8>(r, I_MASTER) != 0;
    let first = <u32>load<u16>(r, I_FIRST);
    let n = <u32>load<u16>(r, I_COUNT);
    for (let k: u32 = 0; k < n; k++) {
      let a = load<u32>(addresses + (<usize>(first + k) << 2));
      let s = slotOf(a);
      while (true) {
        let e = hash + <usize>s * H_SIZE;
        let holders = <u32>load<u16>(e, 6);
        if (holders == 0 || load<u32>(e) == a) {
          store<u32>(e, a);
          store<u16>(e, <u16>(holders + 1), 6);
          if (master) store<u16>(e, load<u16>(e, 4) + 1, 4);
          break;
        }
        s = (s + 1) & (HASH_SIZE - 1);
      }
    }
  }
}

/** 0: addr belongs to no instance; 1: an instance holding it is master; 2: held, but by
 *  instances that are all backup (the director must not answer for it). */
export function vrrpOwnership(addr: u32): u32 {
  let s = slotOf(addr);
  while (true) {
    let e = hash + <usize>s * H_SIZE;
    let holders = <u32>load<u16>(e, 6);
    if (holders == 0) return 0;
    if (load<u32>(e) == addr) return load<u16>(e, 4) != 0 ? 1 : 2;
    s = (s + 1) & (HASH_SIZE - 1);
  }
}

/** An IPv4 packet of protocol 112: validated, matched to an instance, queued for the host.
 *  Ends in exactly one counter. */
export function vrrpReceive(ip: usize, ihl: u32, totalLen: u32, ttl: u32, src: u32, dst: u32, ifindex: u32): void {
  let v = ip + ihl;
  let len = totalLen - ihl;
  let bad = vrrpCheck(v, len, ttl, src, dst);
  if (bad != 0) { count(bad); return; }
  let vrid = vrrpVrid(v);
  let found: i32 = -1;
  for (let i: u32 = 0; i < instanceCount; i++) {
    let r = inst(i);
    if (<u32>load<u8>(r, I_IFINDEX) == ifindex && <u32>load<u8>(r, I_VRID) == vrid && (<u32>load<u8>(r, I_VMAC) & (STATIC | VRRP_IPV6)) == 0) { found = <i32>i; break; }
  }
  if (found < 0) { count(Counter.DROP_VRRP_NO_INSTANCE); return; }
  // keepalived drops an advert of the other version (v2/v3 peers do not see each other).
  if (vrrpVersion(v) != <u32>load<u8>(inst(<u32>found), I_VERSION)) { count(Counter.DROP_VRRP_BAD_VERSION); return; }
  let n = load<u32>(queue, VrrpQueue.COUNT);
  let room = <u32>VrrpQueue.ENTRY_SIZE - <u32>VrrpQueue.DATA;
  if (n >= <u32>Abi.VRRP_QUEUE_ENTRIES || len > room) { count(Counter.DROP_VRRP_QUEUE_FULL); return; }
  let e = queue + <usize>VrrpQueue.FIRST + <usize>n * <usize>VrrpQueue.ENTRY_SIZE;
  store<u32>(e, <u32>found, VrrpQueue.INSTANCE);
  store<u32>(e, src, VrrpQueue.SRC);
  store<u32>(e, len, VrrpQueue.LEN);
  memory.copy(e + <usize>VrrpQueue.DATA, v, len);
  store<u32>(queue, n + 1, VrrpQueue.COUNT);
  count(Counter.VRRP_ADVERTS_RECEIVED);
  count(Counter.CONSUMED);
}

/** Build instance i's advert with this priority to 224.0.0.18 — or, with keepalived's
 *  unicast_peer, to peer (wire order; 0: multicast), routed and resolved like any frame the
 *  engine sends — from its interface's address and MAC; false when there is no room or the
 *  interface has no address. */
export function vrrpSendAdvert(i: u32, priority: u32, peer: u32): bool {
  if (i >= instanceCount) return false;
  let r = inst(i);
  if ((<u32>load<u8>(r, I_VMAC) & (STATIC | VRRP_IPV6)) != 0) return false;
  let ifindex = <u32>load<u8>(r, I_IFINDEX);
  let src = ifaceAddr(ifindex);
  if (src == 0) return false;
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return false; }
  let version = <u32>load<u8>(r, I_VERSION);
  let n = <u32>load<u16>(r, I_ADVERTISED);
  let len = vrrpLength(version, n);
  // 01:00:5e:00:00:12, the multicast MAC of 224.0.0.18 (RFC 1112 section 6.4).
  store<u32>(f, 0x005e0001, EthField.DST);
  store<u16>(f, 0x1200, EthField.DST + 4);
  // use_vmac: adverts from the virtual MAC (so that switches learn where it is), unless vmac_xmit_base.
  let vmac = <u32>load<u8>(r, I_VMAC) & (VMAC_ON | VMAC_XMIT_BASE);
  copyMac(f + EthField.SRC, vmac == VMAC_ON ? vmacOf(<u32>load<u8>(r, I_VRID)) : ifaceMac(ifindex));
  store<u16>(f, <u16>ETHERTYPE_IPV4_WIRE, EthField.TYPE);
  let ip = f + ETH_HEADER_LEN;
  let dst = peer != 0 ? peer : VRRP_GROUP_WIRE;
  ipv4Emit(ip, VRRP_TOS, IPV4_HEADER_LEN + len, 0, 0, VRRP_TTL, Proto.VRRP, src, dst);
  let v = ip + IPV4_HEADER_LEN;
  memory.copy(v + VrrpField.ADDRS, addresses + (<usize>load<u16>(r, I_FIRST) << 2), <usize>n << 2);
  if (version == 2) memory.copy(v + VRRP_HEADER_LEN + (n << 2), r + I_AUTH, 8);
  vrrpEmit(v, version, <u32>load<u8>(r, I_VRID), priority, n, <u32>load<u8>(r, I_AUTH_TYPE), <u32>load<u16>(r, I_INTERVAL), src, dst);
  let frameLen = ETH_HEADER_LEN + IPV4_HEADER_LEN + len;
  if (frameLen < 60) { memory.fill(f + frameLen, 0, 60 - frameLen); frameLen = 60; }
  count(Counter.VRRP_ADVERTS_SENT);
  if (peer != 0) {
    // To the peer's MAC (ARP first if need be): the Ethernet padding travels as IP's trailer.
    sendRouted(f, ETH_HEADER_LEN, frameLen - ETH_HEADER_LEN, peer, -1);
    return true;
  }
  if (!txPush(f, frameLen, ifindex)) { count(Counter.GENERATED_LOST); return false; }
  return true;
}
