// The last step of every path: find the next hop for a destination, address the
// Ethernet header to it, and hand the frame to the TX list — or park it while the
// next hop is being resolved.

import { Counter, DestField } from "../abi";
import { copyMac } from "../wire/bytes";
import { EthField, ethSetAddresses } from "../wire/ethernet";
import { ifaceMac, routeGeneration, routeIfindex, routeLookup, routeNextHop } from "../route/route";
import { neighEnqueue, neighFresh, neighIfindex, neighLookup, neighMac, neighResolve } from "../neigh/neigh";
import { destRec } from "../svc/service";
import { count } from "../engine/state";
import { txPush } from "../engine/tx";

/** Send the frame (l2len bytes of Ethernet header, then ipLen bytes of IP) towards
 *  routeDst, which is the packet's destination or, for DR and TUN, the real server.
 *  okCounter is bumped when the frame is sent, QUEUED when it waits for ARP; pass -1
 *  for frames the engine generated (they are not RX frames). */
export function sendRouted(frame: usize, l2len: u32, ipLen: u32, routeDst: u32, okCounter: i32): void {
  if (!routeLookup(routeDst)) {
    if (okCounter >= 0) count(Counter.DROP_NO_ROUTE);
    return;
  }
  let ifindex = routeIfindex;
  let len = l2len + ipLen;
  let mac = neighResolve(routeNextHop, ifindex);
  if (mac == 0) {
    copyMac(frame + EthField.SRC, ifaceMac(ifindex));
    if (neighEnqueue(frame, len, ifindex, routeNextHop)) {
      if (okCounter >= 0) count(Counter.QUEUED);
    } else if (okCounter >= 0) {
      count(Counter.DROP_NEIGH_QUEUE_FULL);
    }
    return;
  }
  ethSetAddresses(frame, mac, ifaceMac(ifindex));
  if (txPush(frame, len, ifindex)) {
    if (okCounter >= 0) count(okCounter);
  } else {
    count(okCounter >= 0 ? Counter.DROP_TX_FULL : Counter.GENERATED_LOST);
  }
}

/** sendRouted towards real server d, through d's cached next hop when it is still
 *  valid (IPVS keeps a route cache per destination for the same reason, dest_dst). */
export function sendToDest(frame: usize, l2len: u32, ipLen: u32, d: u32, okCounter: i32): void {
  let r = destRec(d);
  if (load<u32>(r, DestField.NH_GENERATION) == routeGeneration) {
    let e = <usize>load<u32>(r, DestField.NH_NEIGHBOUR);
    if (neighFresh(e, load<u32>(r, DestField.NH_ADDR))) {
      let ifindex = neighIfindex(e);
      ethSetAddresses(frame, neighMac(e), ifaceMac(ifindex));
      if (txPush(frame, l2len + ipLen, ifindex)) count(okCounter);
      else count(Counter.DROP_TX_FULL);
      return;
    }
  }
  let addr = load<u32>(r, DestField.ADDR);
  sendRouted(frame, l2len, ipLen, addr, okCounter);
  // Remember the next hop if it resolved on the interface the route chose.
  if (routeLookup(addr)) {
    let e = neighLookup(routeNextHop);
    if (e != 0 && neighFresh(e, routeNextHop) && neighIfindex(e) == routeIfindex) {
      store<u32>(r, routeGeneration, DestField.NH_GENERATION);
      store<u32>(r, routeNextHop, DestField.NH_ADDR);
      store<u32>(r, <u32>e, DestField.NH_NEIGHBOUR);
    }
  }
}
