// VRRP version 3 over IPv6 (RFC 5798), as keepalived speaks it: adverts to ff02::12
// (global_defs' vrrp_mcast_group6) or a unicast peer, from the interface's link-local
// address (5.1.2.1), hop limit 255 (5.1.2.3), traffic class 0xC0 (keepalived's IPV6_TCLASS,
// vrrp_if.c), the checksum over the IPv6 pseudo-header (5.2.8), the addresses 16 bytes
// each (5.2.9). An instance's IPv6 addresses are the director's only while the host says it
// is master: the Neighbour Solicitations for them are answered (with the interface's MAC,
// as keepalived without use_vmac: the kernel answers for an address on the interface), and
// the host announces them with unsolicited Neighbour Advertisements on becoming master
// (RFC 4861 7.2.6; keepalived's vrrp_ndisc.c: to ff02::1, from the address itself,
// Override set, Router set when the interface forwards, target link-layer option).
//
// The instances themselves (interface, VRID, master) are ha/vrrp.ts's, flagged VRRP_IPV6;
// adverts go to the host through its queue (VrrpQueue.SRC6 holds the 16-byte source).
// The address table is scanned (at most MAX_ADDRESSES, and only while it holds any).

import { Abi, Counter, Neigh6Field, VrrpQueue } from "../abi";
import { count } from "../engine/state";
import { scratchTake, txPush } from "../engine/tx";
import { bswap16, copyMac } from "../wire/bytes";
import { EthField, ETHERTYPE_IPV6_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { ipv6AddrCopy, ipv6AddrEquals, ipv6Emit, ipv6IsMulticast, ipv6MulticastMac, ALL_NODES_HI, ALL_NODES_LO, IPV6_HEADER_LEN, NH_ICMPV6 } from "../wire/ipv6";
import { icmpv6FillChecksum } from "../wire/icmpv6";
import { naEmit, NA_OVERRIDE, NA_ROUTER, NDP_HOP_LIMIT, NDP_LL_OPTION_LEN, NDP_MESSAGE_LEN } from "../wire/ndp";
import { fold, pseudoHeaderSum6, sum } from "../wire/checksum";
import { ifaceExists, ifaceMac, ipv6Slot, ipv6SlotUsed } from "../route/route";
import { neigh6Lookup } from "../neigh/neigh6";
import { vrrpIfindexOf, vrrpInstanceCount, vrrpIntervalOf, vrrpIsIpv6, vrrpIsMaster, vrrpIsUnicast, vrrpQueueBase, vrrpVridOf } from "./vrrp";
import { VRRP_HEADER_LEN, VRRP_TTL, VRRP_TYPE_ADVERT, VrrpField } from "../wire/vrrp";

/** IPv6 addresses of all instances (virtual_ipaddress of IPv6 instances, and IPv6
 *  virtual_ipaddress_excluded of any): 16 bytes, instance u8, advertised u8, pad to 20. */
@inline const MAX_ADDRESSES: u32 = 64;
@inline const A_SIZE: usize = 20;
@inline const A_INSTANCE: usize = 16;
@inline const A_ADVERTISED: usize = 17;
const table: usize = memory.data(<i32>(A_SIZE * <usize>MAX_ADDRESSES));
/** Addresses held; while 0, the IPv6 path never looks. */
export let vrrp6AddressCount: u32 = 0;
/** IPv6 instances; while 0, no frame is taken for the VRRP group. */
export let vrrp6InstanceCount: u32 = 0;
/** The group IPv6 instances advertise to: ff02::12 unless vrrp_mcast_group6. */
const group: usize = memory.data<u8>([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12]);
const scratch: usize = memory.data(16);
/** RFC 5798 5.2.9: an IPv6 advert's addresses are 16 bytes each. */
@inline const ADDR6_LEN: u32 = 16;
/** Traffic class of keepalived's IPv6 adverts (IPV6_TCLASS 0xC0, vrrp_if.c). */
@inline const VRRP6_TCLASS: u32 = 0xc0;

@inline function at(k: u32): usize { return table + <usize>k * A_SIZE; }
@inline export function vrrp6Length(n: u32): u32 { return VRRP_HEADER_LEN + n * ADDR6_LEN; }

export function vrrp6Clear(): void {
  vrrp6AddressCount = 0;
  vrrp6InstanceCount = 0;
}

/** An IPv6 instance was added (ha/vrrp.ts with VRRP_IPV6). */
export function vrrp6InstanceAdded(): void { vrrp6InstanceCount++; }

/** The group IPv6 adverts go to (vrrp_mcast_group6; a multicast address). */
export function vrrp6SetGroup(w0: u32, w1: u32, w2: u32, w3: u32): bool {
  if ((w0 & 0xff) != 0xff) return false;
  store<u32>(group, w0); store<u32>(group, w1, 4); store<u32>(group, w2, 8); store<u32>(group, w3, 12);
  return true;
}

/** Add an IPv6 address to instance i (the last one added); an IPv6 instance's advertised
 *  ones first. False when the table is full, the address is multicast, or an advertised
 *  one is given to an IPv4 instance. */
export function vrrp6AddAddress(i: u32, w0: u32, w1: u32, w2: u32, w3: u32, advertised: bool): bool {
  if (i + 1 != vrrpInstanceCount() || vrrp6AddressCount >= MAX_ADDRESSES) return false;
  if ((advertised && !vrrpIsIpv6(i)) || (w0 & 0xff) == 0xff) return false;
  let e = at(vrrp6AddressCount);
  store<u32>(e, w0); store<u32>(e, w1, 4); store<u32>(e, w2, 8); store<u32>(e, w3, 12);
  store<u8>(e, <u8>i, A_INSTANCE);
  store<u8>(e, advertised ? 1 : 0, A_ADVERTISED);
  vrrp6AddressCount++;
  return true;
}

/** 0: a belongs to no instance; 1: an instance holding it is master; 2: held, by backups only. */
export function vrrp6Ownership(a: usize): u32 {
  let held: u32 = 0;
  for (let k: u32 = 0; k < vrrp6AddressCount; k++) {
    let e = at(k);
    if (!ipv6AddrEquals(e, a)) continue;
    if (vrrpIsMaster(<u32>load<u8>(e, A_INSTANCE))) return 1;
    held = 2;
  }
  return held;
}

/** True if a master instance on ifindex holds a: a Neighbour Solicitation for it is answered there. */
export function vrrp6MasterHolds(ifindex: u32, a: usize): bool {
  if (vrrp6AddressCount == 0) return false;
  for (let k: u32 = 0; k < vrrp6AddressCount; k++) {
    let e = at(k);
    let i = <u32>load<u8>(e, A_INSTANCE);
    if (ipv6AddrEquals(e, a) && vrrpIfindexOf(i) == ifindex && vrrpIsMaster(i)) return true;
  }
  return false;
}

/** True if low24 is the solicited-node group (RFC 4291 2.7.1) of an address a master
 *  instance on ifindex holds: the groups the master has joined for its addresses. */
export function vrrp6Joined(ifindex: u32, low24: u32): bool {
  for (let k: u32 = 0; k < vrrp6AddressCount; k++) {
    let e = at(k);
    let i = <u32>load<u8>(e, A_INSTANCE);
    if ((load<u32>(e, 12) >>> 8) == low24 && vrrpIfindexOf(i) == ifindex && vrrpIsMaster(i)) return true;
  }
  return false;
}

/** True if an IPv6 instance speaks on ifindex (it has joined the VRRP group there). */
function speaksOn(ifindex: u32): bool {
  let n = vrrpInstanceCount();
  for (let i: u32 = 0; i < n; i++) if (vrrpIsIpv6(i) && vrrpIfindexOf(i) == ifindex) return true;
  return false;
}

/** Is the group MAC at mac (33:33:xx:xx:xx:xx) the VRRP group's, with an IPv6 instance on ifindex? */
export function vrrp6GroupMac(mac: usize, ifindex: u32): bool {
  return vrrp6InstanceCount != 0 && load<u32>(mac, 2) == load<u32>(group, 12) && speaksOn(ifindex);
}

/** Is the destination a the VRRP group, with an IPv6 instance on ifindex? */
export function vrrp6Group(a: usize, ifindex: u32): bool {
  return vrrp6InstanceCount != 0 && ipv6AddrEquals(a, group) && speaksOn(ifindex);
}

/** An IPv6 packet with next header 112 (VRRP) at v, len bytes: keepalived's
 *  vrrp_check_packet as the IPv4 path has it (the same drop reasons), then queued for the
 *  host with its 16-byte source. Ends in exactly one counter. */
export function vrrp6Receive(v: usize, len: u32, hopLimit: u32, src: usize, dst: usize, ifindex: u32): void {
  if (len < VRRP_HEADER_LEN) { count(Counter.DROP_VRRP_BAD_LENGTH); return; }
  // Version 3 only: there is no VRRP version 2 over IPv6.
  if ((<u32>load<u8>(v, VrrpField.VER_TYPE) >>> 4) != 3) { count(Counter.DROP_VRRP_BAD_VERSION); return; }
  if ((<u32>load<u8>(v, VrrpField.VER_TYPE) & 0xf) != VRRP_TYPE_ADVERT) { count(Counter.DROP_VRRP_BAD_TYPE); return; }
  if (len != vrrp6Length(<u32>load<u8>(v, VrrpField.COUNT))) { count(Counter.DROP_VRRP_BAD_LENGTH); return; }
  if (fold(sum(v, len, pseudoHeaderSum6(src, dst, 112, len))) != 0xffff) { count(Counter.DROP_VRRP_BAD_CHECKSUM); return; }
  let vrid = <u32>load<u8>(v, VrrpField.VRID);
  let found: i32 = -1;
  let n = vrrpInstanceCount();
  for (let i: u32 = 0; i < n; i++) {
    if (vrrpIsIpv6(i) && vrrpIfindexOf(i) == ifindex && vrrpVridOf(i) == vrid) { found = <i32>i; break; }
  }
  if (found < 0) { count(Counter.DROP_VRRP_NO_INSTANCE); return; }
  // RFC 5798 5.1.2.3 / 7.1: a hop limit other than 255 means the advert crossed a router.
  // keepalived checks it only for multicast instances ("but not if unicast", vrrp.c): its
  // own unicast IPv6 adverts leave with the kernel's default hop limit (64).
  if (hopLimit != VRRP_TTL && !vrrpIsUnicast(<u32>found)) { count(Counter.DROP_VRRP_BAD_TTL); return; }
  let queue = vrrpQueueBase();
  let q = load<u32>(queue, VrrpQueue.COUNT);
  if (q >= <u32>Abi.VRRP_QUEUE_ENTRIES || len > <u32>VrrpQueue.SRC6 - <u32>VrrpQueue.DATA) { count(Counter.DROP_VRRP_QUEUE_FULL); return; }
  let e = queue + <usize>VrrpQueue.FIRST + <usize>q * <usize>VrrpQueue.ENTRY_SIZE;
  store<u32>(e, <u32>found, VrrpQueue.INSTANCE);
  store<u32>(e, 0, VrrpQueue.SRC);
  store<u32>(e, len, VrrpQueue.LEN);
  ipv6AddrCopy(e + <usize>VrrpQueue.SRC6, src);
  memory.copy(e + <usize>VrrpQueue.DATA, v, len);
  store<u32>(queue, q + 1, VrrpQueue.COUNT);
  count(Counter.VRRP_ADVERTS_RECEIVED);
  count(Counter.CONSUMED);
}

/** Build IPv6 instance i's advert with this priority to the group, or to peer (16 bytes;
 *  0: the group) at the MAC the neighbour table holds for it. False when there is no room,
 *  or the peer is not resolved yet (counted as GENERATED_LOST; the next advert tries again). */
export function vrrp6SendAdvert(i: u32, priority: u32, peer: usize): bool {
  if (i >= vrrpInstanceCount() || !vrrpIsIpv6(i)) return false;
  let ifindex = vrrpIfindexOf(i);
  if (!ifaceExists(ifindex)) return false;
  let src = ipv6Slot(ifindex, 0);
  if (!ipv6SlotUsed(src)) return false;
  let dstMac: usize = 0;
  if (peer != 0) {
    let ne = neigh6Lookup(peer);
    if (ne == 0) { count(Counter.GENERATED_LOST); return false; }
    dstMac = ne + Neigh6Field.MAC;
  }
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return false; }
  let n: u32 = 0;
  let ip = f + ETH_HEADER_LEN;
  let v = ip + IPV6_HEADER_LEN;
  // The advertised addresses, in the order they were configured.
  for (let k: u32 = 0; k < vrrp6AddressCount; k++) {
    let e = at(k);
    if (<u32>load<u8>(e, A_INSTANCE) != i || load<u8>(e, A_ADVERTISED) == 0) continue;
    ipv6AddrCopy(v + VrrpField.ADDRS + <usize>(n * ADDR6_LEN), e);
    n++;
  }
  let len = vrrp6Length(n);
  let dst = peer != 0 ? peer : group;
  if (peer != 0) copyMac(f + EthField.DST, dstMac);
  else ipv6MulticastMac(f + EthField.DST, group);
  copyMac(f + EthField.SRC, ifaceMac(ifindex));
  store<u16>(f, <u16>ETHERTYPE_IPV6_WIRE, EthField.TYPE);
  ipv6Emit(ip, len, 112, VRRP_TTL, src, dst);
  store<u8>(ip, <u8>(0x60 | (VRRP6_TCLASS >>> 4)));
  store<u8>(ip, <u8>((VRRP6_TCLASS & 0xf) << 4), 1);
  store<u8>(v, <u8>((3 << 4) | VRRP_TYPE_ADVERT), VrrpField.VER_TYPE);
  store<u8>(v, <u8>vrrpVridOf(i), VrrpField.VRID);
  store<u8>(v, <u8>priority, VrrpField.PRIORITY);
  store<u8>(v, <u8>n, VrrpField.COUNT);
  store<u16>(v, <u16>bswap16(vrrpIntervalOf(i) & 0x0fff), VrrpField.MAX_ADVER_INT);
  store<u16>(v, 0, VrrpField.CHECKSUM);
  store<u16>(v, <u16>(~fold(sum(v, len, pseudoHeaderSum6(src, dst, 112, len))) & 0xffff), VrrpField.CHECKSUM);
  count(Counter.VRRP_ADVERTS_SENT);
  if (!txPush(f, ETH_HEADER_LEN + IPV6_HEADER_LEN + len, ifindex)) { count(Counter.GENERATED_LOST); return false; }
  return true;
}

/** An unsolicited Neighbour Advertisement (RFC 4861 7.2.6) for address a (16 bytes) on
 *  ifindex, as keepalived's ndisc_send_unsolicited_na: from a itself to all nodes
 *  (ff02::1, 33:33:00:00:00:01), hop limit 255, Override set so that neighbours replace the
 *  old master's MAC, Router set when router (the director forwards IPv6), the interface's
 *  MAC in the target link-layer option and as the frame's source. */
export function vrrp6SendNa(ifindex: u32, a: usize, router: bool): bool {
  if (!ifaceExists(ifindex) || ipv6IsMulticast(a)) return false;
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return false; }
  let mac = ifaceMac(ifindex);
  store<u16>(f, 0x3333, EthField.DST);
  store<u32>(f, 0x01000000, EthField.DST + 2);
  copyMac(f + EthField.SRC, mac);
  store<u16>(f, <u16>ETHERTYPE_IPV6_WIRE, EthField.TYPE);
  let ip = f + ETH_HEADER_LEN;
  let naLen = NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN;
  ipv6AddrCopy(scratch, a);
  store<u64>(ip, ALL_NODES_HI, 24);
  store<u64>(ip, ALL_NODES_LO, 32);
  ipv6AddrCopy(ip + 8, scratch);
  store<u32>(ip, 0x60);
  store<u16>(ip, <u16>bswap16(naLen), 4);
  store<u8>(ip, <u8>NH_ICMPV6, 6);
  store<u8>(ip, <u8>NDP_HOP_LIMIT, 7);
  let na = ip + IPV6_HEADER_LEN;
  naEmit(na, NA_OVERRIDE | (router ? NA_ROUTER : 0), scratch, mac);
  icmpv6FillChecksum(na, naLen, ip + 8, ip + 24);
  if (!txPush(f, ETH_HEADER_LEN + IPV6_HEADER_LEN + naLen, ifindex)) { count(Counter.GENERATED_LOST); return false; }
  count(Counter.NEIGHBOUR_ADVERTS_SENT);
  return true;
}
