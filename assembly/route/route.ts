// The director's own interfaces and its routing table: connected subnets (one per
// interface address), static routes and a default gateway. Longest prefix wins; the
// table is small and kept sorted by prefix length, so a lookup is a short scan.

import { Abi, Err } from "../abi";
import { bswap32 } from "../wire/bytes";

// Interface record (32 bytes): mac[6] | used u8 | pad | mtu u32 | addr u32 | mask u32
@inline const IF_SIZE: usize = 32;
@inline const IF_MAC: usize = 0;
@inline const IF_USED: usize = 6;
@inline const IF_MTU: usize = 8;
@inline const IF_ADDR: usize = 12;
@inline const IF_MASK: usize = 16;
const interfaces: usize = memory.data(<i32>(IF_SIZE * <usize>Abi.MAX_INTERFACES));

// Route record (32 bytes): net u32 | mask u32 | gateway u32 (0: on-link) | ifindex u32 | prefixLen u32
// | a next-hop cache slot for its gateway (12 bytes, see xmit/output.ts)
@inline const RT_SIZE: usize = 32;
/** Offset of a route's next-hop cache slot. */
@inline export const RT_NEXT_HOP_SLOT: usize = 20;

/** Bumped by every change of interfaces, routes or static neighbours: cached next hops
 *  (DestField.NH_*) from an older generation are looked up again. Starts at 1 so a
 *  zeroed cache is never valid. */
export let routeGeneration: u32 = 1;
export function routeChanged(): void { routeGeneration++; }
const routes: usize = memory.data(<i32>(RT_SIZE * <usize>Abi.MAX_ROUTES));
let routeCount: u32 = 0;

/** Mask for a prefix length, in wire order. */
@inline export function prefixMaskWire(len: u32): u32 {
  return len == 0 ? 0 : bswap32(<u32>(0xffffffff << (32 - len)));
}

@inline export function ifaceRecord(ifindex: u32): usize { return interfaces + <usize>ifindex * IF_SIZE; }
@inline export function ifaceExists(ifindex: u32): bool {
  return ifindex < <u32>Abi.MAX_INTERFACES && load<u8>(ifaceRecord(ifindex), IF_USED) != 0;
}
@inline export function ifaceMac(ifindex: u32): usize { return ifaceRecord(ifindex) + IF_MAC; }
@inline export function ifaceMtu(ifindex: u32): u32 { return load<u32>(ifaceRecord(ifindex), IF_MTU); }
@inline export function ifaceAddr(ifindex: u32): u32 { return load<u32>(ifaceRecord(ifindex), IF_ADDR); }

/** The smallest MTU of any interface: a packet no longer than this fits every egress,
 *  so the forwarding paths check the egress MTU only above it (one compare per packet). */
export let minIfaceMtu: u32 = 65535;

/** Define (or redefine) interface ifindex. macLo holds bytes 0-3 of the MAC, macHi bytes 4-5.
 *  addr 0 means no address. Redefining replaces its connected route. */
export function ifaceSet(ifindex: u32, macLo: u32, macHi: u32, mtu: u32, addr: u32, prefixLen: u32): bool {
  if (ifindex >= <u32>Abi.MAX_INTERFACES || prefixLen > 32 || mtu < 68) return false;
  let r = ifaceRecord(ifindex);
  store<u32>(r, macLo, IF_MAC);
  store<u16>(r, <u16>macHi, IF_MAC + 4);
  store<u8>(r, 1, IF_USED);
  store<u32>(r, mtu, IF_MTU);
  store<u32>(r, addr, IF_ADDR);
  store<u32>(r, prefixMaskWire(prefixLen), IF_MASK);
  minIfaceMtu = 65535;
  for (let i: u32 = 0; i < <u32>Abi.MAX_INTERFACES; i++) if (ifaceExists(i) && ifaceMtu(i) < minIfaceMtu) minIfaceMtu = ifaceMtu(i);
  routeChanged();
  routeRemoveConnected(ifindex);
  if (addr != 0) routeAdd(addr & prefixMaskWire(prefixLen), prefixLen, 0, ifindex);
  if (load<u8>(ipv6Slot(ifindex, 0), V6_CONFIGURED) == 0) ipv6SetLinkLocalFromMac(ifindex);
  return true;
}

// ---- IPv6 addresses ----------------------------------------------------------------
// Each interface holds Abi.MAX_IPV6_ADDRESSES slots (24 bytes each):
//   address[16] | prefixLen u8 | used u8 | configured u8 | pad
// Slot 0 is the link-local address: from the MAC by modified EUI-64 (RFC 4291 appendix A,
// RFC 4862 5.3), as Linux's default addr_gen_mode eui64 makes it when the interface is
// defined, unless one was configured; slots 1.. hold global addresses.
@inline const V6_SIZE: usize = 24;
@inline const V6_PREFIX: usize = 16;
@inline const V6_USED: usize = 17;
@inline const V6_CONFIGURED: usize = 18;
const ipv6Addresses: usize = memory.data(<i32>(V6_SIZE * <usize>Abi.MAX_IPV6_ADDRESSES * <usize>Abi.MAX_INTERFACES));

/** The record of slot k of interface ifindex (ifindex and k in range). */
@inline export function ipv6Slot(ifindex: u32, k: u32): usize {
  return ipv6Addresses + (<usize>ifindex * <usize>Abi.MAX_IPV6_ADDRESSES + <usize>k) * V6_SIZE;
}
@inline export function ipv6SlotUsed(slot: usize): bool { return load<u8>(slot, V6_USED) != 0; }
@inline export function ipv6SlotPrefixLen(slot: usize): u32 { return <u32>load<u8>(slot, V6_PREFIX); }

/** fe80::/64 with the interface identifier of the MAC: its bytes 0-2, ff:fe, bytes 3-5,
 *  with the universal/local bit (0x02 of byte 0) inverted. */
function ipv6SetLinkLocalFromMac(ifindex: u32): void {
  let a = ipv6Slot(ifindex, 0);
  let mac = ifaceMac(ifindex);
  store<u64>(a, 0x80fe);
  store<u8>(a, load<u8>(mac) ^ 0x02, 8);
  store<u8>(a, load<u8>(mac, 1), 9);
  store<u8>(a, load<u8>(mac, 2), 10);
  store<u8>(a, 0xff, 11);
  store<u8>(a, 0xfe, 12);
  store<u8>(a, load<u8>(mac, 3), 13);
  store<u8>(a, load<u8>(mac, 4), 14);
  store<u8>(a, load<u8>(mac, 5), 15);
  store<u8>(a, 64, V6_PREFIX);
  store<u8>(a, 1, V6_USED);
  store<u8>(a, 0, V6_CONFIGURED);
}

/** Give interface ifindex the IPv6 address w0..w3 (each the little-endian load of four
 *  network-order bytes) with prefixLen: a link-local one (fe80::/10) replaces slot 0,
 *  another takes a free global slot or updates its own. 0 or -Err. Multicast, ::, ::1
 *  and prefix lengths over 128 are refused, as Linux's inet6_addr_add refuses them. */
export function ifaceAddIpv6(ifindex: u32, w0: u32, w1: u32, w2: u32, w3: u32, prefixLen: u32): i32 {
  if (!ifaceExists(ifindex) || prefixLen > 128) return -Err.BAD_ARGUMENT;
  let tmp = ipv6Scratch;
  store<u32>(tmp, w0); store<u32>(tmp, w1, 4); store<u32>(tmp, w2, 8); store<u32>(tmp, w3, 12);
  if (load<u8>(tmp) == 0xff || (load<u64>(tmp) == 0 && (load<u64>(tmp, 8) == 0 || load<u64>(tmp, 8) == 0x0100000000000000))) return -Err.BAD_ARGUMENT;
  let at: usize = 0;
  if ((<u32>load<u16>(tmp) & 0xc0ff) == 0x80fe) at = ipv6Slot(ifindex, 0);
  else {
    for (let k: u32 = 1; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
      let s = ipv6Slot(ifindex, k);
      if (ipv6SlotUsed(s) && load<u64>(s) == load<u64>(tmp) && load<u64>(s, 8) == load<u64>(tmp, 8)) { at = s; break; }
      if (at == 0 && !ipv6SlotUsed(s)) at = s;
    }
    if (at == 0) return -Err.FULL;
  }
  store<u64>(at, load<u64>(tmp));
  store<u64>(at, load<u64>(tmp, 8), 8);
  store<u8>(at, <u8>prefixLen, V6_PREFIX);
  store<u8>(at, 1, V6_USED);
  store<u8>(at, 1, V6_CONFIGURED);
  return Err.OK;
}

/** Remove the global IPv6 address w0..w3 of ifindex; for the link-local address, go back
 *  to the one made from the MAC. False if the interface does not hold it. */
export function ifaceDeleteIpv6(ifindex: u32, w0: u32, w1: u32, w2: u32, w3: u32): bool {
  if (!ifaceExists(ifindex)) return false;
  let tmp = ipv6Scratch;
  store<u32>(tmp, w0); store<u32>(tmp, w1, 4); store<u32>(tmp, w2, 8); store<u32>(tmp, w3, 12);
  for (let k: u32 = 0; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
    let s = ipv6Slot(ifindex, k);
    if (!ipv6SlotUsed(s) || load<u64>(s) != load<u64>(tmp) || load<u64>(s, 8) != load<u64>(tmp, 8)) continue;
    if (k == 0) ipv6SetLinkLocalFromMac(ifindex);
    else memory.fill(s, 0, V6_SIZE);
    return true;
  }
  return false;
}
const ipv6Scratch: usize = memory.data(16);

/** True if interface ifindex holds the address at a (at most MAX_IPV6_ADDRESSES compares). */
export function ipv6IfaceHolds(ifindex: u32, a: usize): bool {
  for (let k: u32 = 0; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
    let s = ipv6Slot(ifindex, k);
    if (ipv6SlotUsed(s) && load<u64>(s) == load<u64>(a) && load<u64>(s, 8) == load<u64>(a, 8)) return true;
  }
  return false;
}

/** True if any interface holds the address at a (Linux answers for any local address on
 *  any interface, the weak host model, as the IPv4 path does). */
export function ipv6IsOurs(a: usize): bool {
  for (let i: u32 = 0; i < <u32>Abi.MAX_INTERFACES; i++) {
    if (ifaceExists(i) && ipv6IfaceHolds(i, a)) return true;
  }
  return false;
}

/** True if the first prefixLen bits of the addresses at a and b agree. */
export function ipv6PrefixMatch(a: usize, b: usize, prefixLen: u32): bool {
  let full = prefixLen >>> 3;
  for (let i: u32 = 0; i < full; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  let rest = prefixLen & 7;
  if (rest == 0) return true;
  let m = <u32>(0xff00 >>> rest) & 0xff;
  return ((<u32>load<u8>(a + full) ^ <u32>load<u8>(b + full)) & m) == 0;
}

/** The address interface ifindex solicits dst from (RFC 4861 7.2.2: one of the interface's
 *  addresses): its global address whose prefix holds dst, else its link-local address. */
export function ipv6SourceFor(ifindex: u32, dst: usize): usize {
  for (let k: u32 = 1; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
    let s = ipv6Slot(ifindex, k);
    if (ipv6SlotUsed(s) && ipv6PrefixMatch(s, dst, ipv6SlotPrefixLen(s))) return s;
  }
  return ipv6Slot(ifindex, 0);
}

/** The IPv6 default gateway (a router on a link: RFC 4861 6.3.6's default router list, of
 *  one configured entry) and its interface; ifindex -1: none. */
const ipv6Gateway: usize = memory.data(16);
let ipv6GatewayIf: i32 = -1;
/** Set (ifindex >= 0) or clear (ifindex < 0) the IPv6 default gateway w0..w3. False if the
 *  interface does not exist or the address is multicast or unspecified. */
export function ipv6SetGateway(w0: u32, w1: u32, w2: u32, w3: u32, ifindex: i32): bool {
  if (ifindex < 0) { ipv6GatewayIf = -1; return true; }
  if (!ifaceExists(<u32>ifindex) || (w0 & 0xff) == 0xff || (w0 | w1 | w2 | w3) == 0) return false;
  store<u32>(ipv6Gateway, w0); store<u32>(ipv6Gateway, w1, 4); store<u32>(ipv6Gateway, w2, 8); store<u32>(ipv6Gateway, w3, 12);
  ipv6GatewayIf = ifindex;
  return true;
}
/** What ipv6NextHop found: the address to resolve (the destination itself when on-link, else the gateway). */
export let ipv6NextHopAddr: usize = 0;
/** The interface towards dst and, in ipv6NextHopAddr, the next hop: on-link by a prefix of
 *  the director's, else the default gateway; -1 if neither (no route). */
export function ipv6NextHop(dst: usize): i32 {
  let i = ipv6OnLinkIface(dst);
  if (i >= 0) { ipv6NextHopAddr = dst; return i; }
  if (ipv6GatewayIf >= 0 && ifaceExists(<u32>ipv6GatewayIf)) { ipv6NextHopAddr = ipv6Gateway; return ipv6GatewayIf; }
  return -1;
}

/** The interface with a global IPv6 prefix on which dst lies (on-link, RFC 4861 5.2: the
 *  engine keeps no IPv6 routes yet, so a v6 real server or client must be on a link), or -1. */
export function ipv6OnLinkIface(dst: usize): i32 {
  for (let i: u32 = 0; i < <u32>Abi.MAX_INTERFACES; i++) {
    if (!ifaceExists(i)) continue;
    for (let k: u32 = 1; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
      let s = ipv6Slot(i, k);
      if (ipv6SlotUsed(s) && ipv6PrefixMatch(s, dst, ipv6SlotPrefixLen(s))) return <i32>i;
    }
  }
  return -1;
}

/** True if low24 (the last three bytes of a solicited-node group, as load<u32>(group, 12)
 *  >>> 8 sees them) matches an address of interface ifindex: the groups it has joined. */
export function ipv6IfaceJoined(ifindex: u32, low24: u32): bool {
  for (let k: u32 = 0; k < <u32>Abi.MAX_IPV6_ADDRESSES; k++) {
    let s = ipv6Slot(ifindex, k);
    if (ipv6SlotUsed(s) && (load<u32>(s, 12) >>> 8) == low24) return true;
  }
  return false;
}

/** The interface whose address is addr, or -1. */
export function ifaceByAddr(addr: u32): i32 {
  for (let i: u32 = 0; i < <u32>Abi.MAX_INTERFACES; i++) {
    if (ifaceExists(i) && ifaceAddr(i) == addr) return <i32>i;
  }
  return -1;
}

function routeRemoveConnected(ifindex: u32): void {
  let w: u32 = 0;
  for (let i: u32 = 0; i < routeCount; i++) {
    let r = routes + <usize>i * RT_SIZE;
    if (load<u32>(r, 8) == 0 && load<u32>(r, 12) == ifindex) continue;
    if (w != i) memory.copy(routes + <usize>w * RT_SIZE, r, RT_SIZE);
    w++;
  }
  routeCount = w;
}

/** Add a route; gateway 0 means on-link. Replaces a route to the same prefix. */
export function routeAdd(netWire: u32, prefixLen: u32, gateway: u32, ifindex: u32): bool {
  if (prefixLen > 32 || !ifaceExists(ifindex)) return false;
  let mask = prefixMaskWire(prefixLen);
  let net = netWire & mask;
  routeDelete(net, prefixLen);
  routeChanged();
  if (routeCount >= <u32>Abi.MAX_ROUTES) return false;
  // Insert keeping longest prefixes first.
  let at = routeCount;
  while (at > 0 && load<u32>(routes + <usize>(at - 1) * RT_SIZE, 16) < prefixLen) {
    memory.copy(routes + <usize>at * RT_SIZE, routes + <usize>(at - 1) * RT_SIZE, RT_SIZE);
    at--;
  }
  let r = routes + <usize>at * RT_SIZE;
  store<u32>(r, net, 0);
  store<u32>(r, mask, 4);
  store<u32>(r, gateway, 8);
  store<u32>(r, ifindex, 12);
  store<u32>(r, prefixLen, 16);
  store<u32>(r, 0, RT_NEXT_HOP_SLOT); // generation 0 is never current: an empty cache
  routeCount++;
  return true;
}

/** Remove the route to net/prefixLen; false if there was none. */
export function routeDelete(netWire: u32, prefixLen: u32): bool {
  let mask = prefixMaskWire(prefixLen);
  let net = netWire & mask;
  for (let i: u32 = 0; i < routeCount; i++) {
    let r = routes + <usize>i * RT_SIZE;
    if (load<u32>(r, 0) == net && load<u32>(r, 16) == prefixLen) {
      memory.copy(r, r + RT_SIZE, <usize>(routeCount - i - 1) * RT_SIZE);
      routeCount--;
      routeChanged();
      return true;
    }
  }
  return false;
}

export function routeClear(): void { routeCount = 0; routeChanged(); }

/** Result of the last successful routeLookup. */
export let routeIfindex: u32 = 0;
/** The record of the route the last successful routeLookup matched. */
export let routeRecord: usize = 0;
export let routeNextHop: u32 = 0;

/** Longest-prefix match for dst. Sets routeIfindex and routeNextHop (the gateway, or
 *  dst itself when on-link); false if no route. */
export function routeLookup(dst: u32): bool {
  for (let i: u32 = 0; i < routeCount; i++) {
    let r = routes + <usize>i * RT_SIZE;
    if ((dst & load<u32>(r, 4)) == load<u32>(r, 0)) {
      let gw = load<u32>(r, 8);
      routeIfindex = load<u32>(r, 12);
      routeNextHop = gw != 0 ? gw : dst;
      routeRecord = r;
      return true;
    }
  }
  return false;
}

/** True if dst is reached directly (a connected or on-link route), as DR needs. */
export function routeIsOnLink(dst: u32): bool {
  return routeLookup(dst) && routeNextHop == dst;
}
