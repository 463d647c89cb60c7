// The director's own interfaces and its routing table: connected subnets (one per
// interface address), static routes and a default gateway. Longest prefix wins; the
// table is small and kept sorted by prefix length, so a lookup is a short scan.

import { Abi } from "../abi";
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
  return true;
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
