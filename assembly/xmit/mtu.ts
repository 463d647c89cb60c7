// The egress MTU on the NAT and DR paths (TUN checks its own, 20 bytes smaller): a packet
// longer than the interface it leaves by is not sent as it is. With DF the sender gets
// ICMP fragmentation needed with that MTU (RFC 1191), before any rewriting, so the
// quote shows what it sent (IPVS: __ip_vs_get_out_rt's MTU check); without DF it is
// dropped and counted, as wasmvs does not fragment.

import { Counter } from "../abi";
import { ipv4HasDf } from "../wire/ipv4";
import { ICMP_CODE_FRAG_NEEDED, ICMP_DEST_UNREACH } from "../wire/icmp";
import { vnetGsoType, VNET_GSO_NONE } from "../wire/vnet";
import { ifaceMtu, minIfaceMtu, routeIfindex, routeLookup } from "../route/route";
import { count, vnet } from "../engine/state";
import { sendIcmpError } from "./icmp";

/** True if the packet at ip (totalLen bytes, in frame) fits the interface towards routeDst;
 *  otherwise it is answered or counted as above, from icmpSrc. */
@inline export function mtuAllows(frame: usize, ip: usize, totalLen: u32, routeDst: u32, icmpSrc: u32): bool {
  if (totalLen <= minIfaceMtu) return true;
  return mtuCheck(frame, ip, totalLen, routeDst, icmpSrc);
}

function mtuCheck(frame: usize, ip: usize, totalLen: u32, routeDst: u32, icmpSrc: u32): bool {
  // A TAP with offloads hands over TCP segments larger than the MTU on purpose: the
  // kernel cuts them to size on the way out.
  if (vnet && vnetGsoType(frame) != VNET_GSO_NONE) return true;
  if (!routeLookup(routeDst)) return true; // the output step counts the missing route
  let mtu = ifaceMtu(routeIfindex);
  if (totalLen <= mtu) return true;
  refuseTooBig(ip, totalLen, mtu, icmpSrc);
  return false;
}

/** A packet too big for a path of mtu bytes: with DF, ICMP fragmentation needed carrying
 *  that MTU goes to its sender from icmpSrc; without, it is counted (wasmvs does not fragment). */
export function refuseTooBig(ip: usize, totalLen: u32, mtu: u32, icmpSrc: u32): void {
  if (ipv4HasDf(ip)) {
    sendIcmpError(ip, totalLen, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, mtu, icmpSrc);
    count(Counter.DROP_NEEDS_FRAGMENTATION);
  } else {
    count(Counter.DROP_TOO_BIG_NO_DF);
  }
}
