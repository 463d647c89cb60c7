// The last step of every path: find the next hop for a destination, address the
// Ethernet header to it, and hand the frame to the TX list — or park it while the
// next hop is being resolved.

import { Counter, DestField } from "../abi";
import { copyMac } from "../wire/bytes";
import { EthField, ethSetAddresses } from "../wire/ethernet";
import { ifaceMac, routeGeneration, routeIfindex, routeLookup, routeNextHop, routeRecord, RT_NEXT_HOP_SLOT } from "../route/route";
import { neighEnqueue, neighFresh, neighIfindex, neighLookup, neighMac, neighResolve } from "../neigh/neigh";
import { destRec } from "../svc/service";
import { count } from "../engine/state";
import { txPush } from "../engine/tx";

// Next-hop caches: a slot holds {routing generation, next hop, neighbour entry}, valid
// while the generation is current and the entry still freshly resolves the next hop.
// Real servers have one in their record (IPVS keeps a route per destination,
// dest_dst, for the same reason); routes through a gateway have one for the gateway.
// (A cache keyed by client address missed more than it saved with many clients: measured.)
@inline const NH_GENERATION: usize = 0;
@inline const NH_ADDR: usize = 4;
@inline const NH_NEIGHBOUR: usize = 8;

/** Send through the cached next hop in slot; false if the slot is stale (nothing sent). */
@inline function sendCached(frame: usize, len: u32, slot: usize, okCounter: i32): bool {
  if (load<u32>(slot, NH_GENERATION) != routeGeneration) return false;
  let e = <usize>load<u32>(slot, NH_NEIGHBOUR);
  if (!neighFresh(e, load<u32>(slot, NH_ADDR))) return false;
  let ifindex = neighIfindex(e);
  ethSetAddresses(frame, neighMac(e), ifaceMac(ifindex));
  if (txPush(frame, len, ifindex)) count(okCounter);
  else count(Counter.DROP_TX_FULL);
  return true;
}

/** Remember how dst is reached, if it resolved on the interface its route chose. */
function fillCache(slot: usize, dst: u32): void {
  if (!routeLookup(dst)) return;
  let e = neighLookup(routeNextHop);
  if (e != 0 && neighFresh(e, routeNextHop) && neighIfindex(e) == routeIfindex) {
    store<u32>(slot, routeGeneration, NH_GENERATION);
    store<u32>(slot, routeNextHop, NH_ADDR);
    store<u32>(slot, <u32>e, NH_NEIGHBOUR);
  }
}

/** Send the frame (l2len bytes of Ethernet header, then ipLen bytes of IP) towards
 *  routeDst, which is the packet's destination or, for DR and TUN, the real server.
 *  okCounter is bumped when the frame is sent, QUEUED when it waits for ARP; pass -1
 *  for frames the engine generated (they are not RX frames). Returns whether the frame left
 *  or waits for ARP (a generated frame's own counter, RESETS_SENT or ICMP_ERRORS_SENT,
 *  counts only those). */
export function sendRouted(frame: usize, l2len: u32, ipLen: u32, routeDst: u32, okCounter: i32): bool {
  if (!routeLookup(routeDst)) {
    if (okCounter >= 0) count(Counter.DROP_NO_ROUTE);
    return false;
  }
  // Through a gateway (NAT replies to clients elsewhere): the route keeps the gateway's
  // next hop, so most replies skip the neighbour lookup.
  let viaGateway = routeNextHop != routeDst;
  let slot = routeRecord + RT_NEXT_HOP_SLOT;
  if (viaGateway && okCounter >= 0 && sendCached(frame, l2len + ipLen, slot, okCounter)) return true;
  let ifindex = routeIfindex;
  let len = l2len + ipLen;
  let mac = neighResolve(routeNextHop, ifindex);
  if (mac == 0) {
    copyMac(frame + EthField.SRC, ifaceMac(ifindex));
    if (neighEnqueue(frame, len, ifindex, routeNextHop)) {
      if (okCounter >= 0) count(Counter.QUEUED);
      return true;
    }
    if (okCounter >= 0) count(Counter.DROP_NEIGH_QUEUE_FULL);
    return false;
  }
  ethSetAddresses(frame, mac, ifaceMac(ifindex));
  let sent = txPush(frame, len, ifindex);
  if (sent) {
    if (okCounter >= 0) count(okCounter);
  } else {
    count(okCounter >= 0 ? Counter.DROP_TX_FULL : Counter.GENERATED_LOST);
  }
  if (viaGateway) fillCache(slot, routeDst);
  return sent;
}

/** sendRouted towards real server d, through the next-hop slot in its record. */
export function sendToDest(frame: usize, l2len: u32, ipLen: u32, d: u32, okCounter: i32): void {
  let slot = destRec(d) + <usize>DestField.NH_GENERATION;
  if (sendCached(frame, l2len + ipLen, slot, okCounter)) return;
  let addr = load<u32>(destRec(d), DestField.ADDR);
  sendRouted(frame, l2len, ipLen, addr, okCounter);
  fillCache(slot, addr);
}
