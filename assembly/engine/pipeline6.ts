// IPv6 on the link (issue 20, first round): the header gate, then what a host owes its
// neighbours for its own addresses — Neighbour Advertisements in answer to
// Solicitations (RFC 4861 7.2.3-7.2.4) and echo replies (RFC 4443 4.2). The engine does
// not forward IPv6 yet: every other IPv6 frame ends in a named drop.
//
// Which frames are taken (RFC 4291 2.7.1, 2.8; RFC 2464 7): the interface's MAC, all-nodes
// 33:33:00:00:00:01, and the solicited-node group 33:33:ff:xx:xx:xx of one of the
// interface's addresses; inside, a unicast destination the director holds, ff02::1, or
// a solicited-node group of the receiving interface.

import { Counter, Proto } from "../abi";
import { copyMac } from "../wire/bytes";
import { EthField, ethIsGroup } from "../wire/ethernet";
import { ipv6AddrCopy, ipv6Check, ipv6Dst, ipv6HopLimit, ipv6IsAllNodes, ipv6IsMulticast, ipv6IsSolicitedNode, ipv6IsUnspecified,
  ipv6PayloadLen, ipv6Src, ipv6UpperOffset, ipv6UpperProto, Ipv6Field, ALL_NODES_HI, ALL_NODES_LO, IPV6_HEADER_LEN, NH_ICMPV6 } from "../wire/ipv6";
import { icmpv6Check, icmpv6FillChecksum, icmpv6SetTypeUpdatingChecksum, icmpv6Type, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST,
  ICMPV6_NEIGHBOUR_ADVERT, ICMPV6_NEIGHBOUR_SOLICIT } from "../wire/icmpv6";
import { naEmit, naFlags, ndpCheck, ndpSourceLinkLayer, ndpTarget, ndpTargetLinkLayer, NA_OVERRIDE, NA_SOLICITED, NDP_HOP_LIMIT, NDP_LL_OPTION_LEN, NDP_MESSAGE_LEN } from "../wire/ndp";
import { ifaceMac, ipv6IfaceHolds, ipv6IfaceJoined, ipv6IsOurs } from "../route/route";
import { count, vnet } from "./state";
import { vnetClear } from "../wire/vnet";
import { txPush } from "./tx";
import { neigh6Advertised, neigh6LearnFromSolicitation } from "../neigh/neigh6";
import { forward6 } from "./forward6";
import { isVip6, vip6Joined } from "../svc/service";
// VRRP over IPv6 (ha/vrrp6.ts): the group, the master's addresses and their solicited-node groups, the adverts.
import { vrrp6AddressCount, vrrp6Group, vrrp6GroupMac, vrrp6Joined, vrrp6MasterHolds, vrrp6Ownership, vrrp6Receive } from "../ha/vrrp6";

/** Linux's default hop limit (net.ipv6.conf.*.hop_limit = 64), for the echo replies. */
@inline const DEFAULT_HOP_LIMIT: u32 = 64;
/** Room for one address while a frame is rewritten in place. */
const addrScratch: usize = memory.data(16);

/** True if the group MAC at frame's destination is one interface ifindex has joined. */
@inline function macJoined(frame: usize, ifindex: u32): bool {
  if (<u32>load<u16>(frame, EthField.DST) != 0x3333) return false;
  let low = load<u32>(frame, EthField.DST + 2);
  if (low == 0x01000000) return true; // 33:33:00:00:00:01, all nodes
  return (low & 0xff) == 0xff && (ipv6IfaceJoined(ifindex, low >>> 8) || vip6Joined(low >>> 8) || vrrp6Joined(ifindex, low >>> 8));
}

/** One IPv6 frame (ethertype 0x86DD) on ifindex. */
export function handleIpv6(frame: usize, l2len: u32, len: u32, ifindex: u32): void {
  // The group filter a NIC applies before the stack sees the frame.
  if (ethIsGroup(frame) && !macJoined(frame, ifindex) && !vrrp6GroupMac(frame, ifindex)) { count(Counter.DROP_IPV6_MULTICAST_NOT_FOR_US); return; }
  let ip = frame + l2len;
  let bad = ipv6Check(ip, len - l2len);
  if (bad != 0) { count(bad); return; }
  let dst = ipv6Dst(ip);
  let multicast = ipv6IsMulticast(dst);
  if (multicast) {
    let group = load<u32>(dst, 12) >>> 8;
    if (!ipv6IsAllNodes(dst) && !(ipv6IsSolicitedNode(dst) && (ipv6IfaceJoined(ifindex, group) || vip6Joined(group) || vrrp6Joined(ifindex, group))) &&
        !vrrp6Group(dst, ifindex)) {
      count(Counter.DROP_IPV6_MULTICAST_NOT_FOR_US);
      return;
    }
  } else if (vrrp6AddressCount != 0 && vrrp6Ownership(dst) == 2) {
    // A backup leaves the traffic of its VRRP addresses to the master (as the IPv4 path).
    count(Counter.DROP_NOT_MASTER);
    return;
  }
  let proto = ipv6UpperProto;
  let off = ipv6UpperOffset;
  let l4len = IPV6_HEADER_LEN + ipv6PayloadLen(ip) - off;
  if (!multicast) {
    // IPv6 services (NAT, DR) and their replies: engine/forward6.ts.
    if (forward6(frame, l2len, ip, ip + off, l4len, proto, ifindex)) return;
    // Ours: the interfaces' addresses, a VIP's echo and NDP, a VRRP address while master.
    if (!ipv6IsOurs(dst) && !(proto == NH_ICMPV6 && isVip6(dst)) && !(vrrp6AddressCount != 0 && vrrp6Ownership(dst) == 1)) {
      count(isVip6(dst) && (proto == Proto.TCP || proto == Proto.UDP) ? Counter.DROP_NO_SERVICE : Counter.DROP_NOT_FOR_US);
      return;
    }
  }
  if (proto == Proto.VRRP) { vrrp6Receive(ip + off, l4len, ipv6HopLimit(ip), ipv6Src(ip), dst, ifindex); return; }
  if (proto == NH_ICMPV6) { handleIcmpv6(frame, l2len, ip, ip + off, l4len, ifindex, multicast); return; }
  // A TCP or UDP port of ours no IPv6 service has.
  count(proto == Proto.TCP || proto == Proto.UDP ? Counter.DROP_NO_SERVICE : Counter.DROP_UNSUPPORTED_PROTOCOL);
}

function handleIcmpv6(frame: usize, l2len: u32, ip: usize, icmp: usize, icmpLen: u32, ifindex: u32, multicast: bool): void {
  let bad = icmpv6Check(icmp, icmpLen, ipv6Src(ip), ipv6Dst(ip));
  if (bad != 0) { count(bad); return; }
  let type = icmpv6Type(icmp);
  if (type == ICMPV6_NEIGHBOUR_SOLICIT) { neighbourSolicitation(frame, l2len, ip, icmp, icmpLen, ifindex); return; }
  if (type == ICMPV6_NEIGHBOUR_ADVERT) { neighbourAdvertisement(ip, icmp, icmpLen, ifindex, multicast); return; }
  // An echo to a group (Linux answers those unless icmp.echo_ignore_multicast) would
  // need a source address chosen for the reply: not answered yet.
  if (type == ICMPV6_ECHO_REQUEST && !multicast) { echoReply6(frame, l2len, ip, icmp, icmpLen, ifindex); return; }
  count(Counter.DROP_ICMPV6_UNHANDLED);
}

/** RFC 4861 7.1.1 checks, then the advertisement of 7.2.4 for an address of ifindex. */
function neighbourSolicitation(frame: usize, l2len: u32, ip: usize, icmp: usize, icmpLen: u32, ifindex: u32): void {
  let bad = ndpCheck(icmp, icmpLen, ipv6HopLimit(ip));
  if (bad != 0) { count(bad); return; }
  let src = ipv6Src(ip);
  let dad = ipv6IsUnspecified(src);
  // Duplicate address detection probes come from :: to the target's solicited-node
  // group and carry no source link-layer address (there is no address to bind it to).
  if (dad && (ndpSourceLinkLayer != 0 || !ipv6IsSolicitedNode(ipv6Dst(ip)))) { count(Counter.DROP_NDP_BAD_UNSPECIFIED_SOURCE); return; }
  // ndisc_recv_ns: the target must be an address of the interface the solicitation came in on.
  // The VIPs of IPv6 services are answered for too, as the IPv4 path answers ARP for them, and
  // a VRRP address while this director is its instance's master.
  if (!ipv6IfaceHolds(ifindex, ndpTarget(icmp)) && !isVip6(ndpTarget(icmp)) && !vrrp6MasterHolds(ifindex, ndpTarget(icmp))) { count(Counter.DROP_NDP_TARGET_NOT_OURS); return; }
  // 7.2.3: the solicitor's link-layer address, when it gave one, goes into the table (STALE).
  if (!dad && ndpSourceLinkLayer != 0) neigh6LearnFromSolicitation(src, icmp + ndpSourceLinkLayer, ifindex);
  let target = addrScratch;
  ipv6AddrCopy(target, ndpTarget(icmp));
  let mac = ifaceMac(ifindex);
  // The answer goes back in the solicitation's frame. To a DAD probe: all nodes, without
  // the Solicited flag (the prober has no address yet, 7.2.4). Otherwise to the
  // solicitation's source, at its source link-layer address when it gave one, else at
  // the frame's source MAC (the MAC it came from; the neighbour table does not resolve
  // IPv6 yet). Override set: the address is the director's own, not anycast or proxied.
  // Router clear: the director does not forward IPv6 yet (Linux sets it when forwarding).
  let flags = NA_OVERRIDE;
  if (dad) {
    store<u16>(frame, 0x3333, EthField.DST);
    store<u32>(frame, 0x01000000, EthField.DST + 2);
    store<u64>(ip, ALL_NODES_HI, Ipv6Field.DST);
    store<u64>(ip, ALL_NODES_LO, Ipv6Field.DST + 8);
  } else {
    flags |= NA_SOLICITED;
    copyMac(frame + EthField.DST, ndpSourceLinkLayer != 0 ? icmp + ndpSourceLinkLayer : frame + EthField.SRC);
    ipv6AddrCopy(ip + Ipv6Field.DST, src);
  }
  copyMac(frame + EthField.SRC, mac);
  let naLen = NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN;
  store<u32>(ip, 0x60);
  store<u16>(ip, <u16>(naLen << 8), Ipv6Field.PAYLOAD_LEN);
  store<u8>(ip, <u8>NH_ICMPV6, Ipv6Field.NEXT_HEADER);
  store<u8>(ip, <u8>NDP_HOP_LIMIT, Ipv6Field.HOP_LIMIT);
  ipv6AddrCopy(ip + Ipv6Field.SRC, target);
  let na = ip + IPV6_HEADER_LEN;
  naEmit(na, flags, target, mac);
  icmpv6FillChecksum(na, naLen, ipv6Src(ip), ipv6Dst(ip));
  if (vnet) vnetClear(frame);
  if (txPush(frame, l2len + IPV6_HEADER_LEN + naLen, ifindex)) { count(Counter.NEIGHBOUR_ADVERTS_SENT); count(Counter.CONSUMED); }
  else count(Counter.DROP_TX_FULL);
}

/** RFC 4861 7.1.2 checks, then 7.2.5: an advertisement updates the entry of its target;
 *  one for a neighbour the director holds no entry for is ignored, as Linux does. */
function neighbourAdvertisement(ip: usize, icmp: usize, icmpLen: u32, ifindex: u32, multicast: bool): void {
  let bad = ndpCheck(icmp, icmpLen, ipv6HopLimit(ip));
  if (bad != 0) { count(bad); return; }
  if (multicast && (naFlags(icmp) & NA_SOLICITED) != 0) { count(Counter.DROP_NDP_SOLICITED_TO_MULTICAST); return; }
  if (ipv6IfaceHolds(ifindex, ndpTarget(icmp)) || vrrp6MasterHolds(ifindex, ndpTarget(icmp))) { count(Counter.DROP_NDP_NA_FOR_OUR_ADDRESS); return; }
  let tll = ndpTargetLinkLayer != 0 ? icmp + ndpTargetLinkLayer : 0;
  count(neigh6Advertised(ndpTarget(icmp), naFlags(icmp), tll, ifindex) ? Counter.CONSUMED : Counter.DROP_NDP_NA_UNSOLICITED);
}

/** Answer an echo request in place (RFC 4443 4.2): from the address asked to the asker,
 *  hop limit 64 as Linux, traffic class kept (Linux reflects it; the flow label it would
 *  compute from its flow hash is left 0); extension headers are not echoed. Back to the
 *  MAC it came from. */
function echoReply6(frame: usize, l2len: u32, ip: usize, icmp: usize, icmpLen: u32, ifindex: u32): void {
  if (icmp != ip + IPV6_HEADER_LEN) {
    memory.copy(ip + IPV6_HEADER_LEN, icmp, icmpLen);
    icmp = ip + IPV6_HEADER_LEN;
    store<u16>(ip, <u16>(((icmpLen & 0xff) << 8) | (icmpLen >>> 8)), Ipv6Field.PAYLOAD_LEN);
    store<u8>(ip, <u8>NH_ICMPV6, Ipv6Field.NEXT_HEADER);
  }
  store<u32>(ip, load<u32>(ip) & 0x0000f0ff);
  let asker = addrScratch;
  ipv6AddrCopy(asker, ipv6Src(ip));
  ipv6AddrCopy(ip + Ipv6Field.SRC, ip + Ipv6Field.DST);
  ipv6AddrCopy(ip + Ipv6Field.DST, asker);
  store<u8>(ip, <u8>DEFAULT_HOP_LIMIT, Ipv6Field.HOP_LIMIT);
  // The pseudo-header sum does not change when source and destination swap.
  icmpv6SetTypeUpdatingChecksum(icmp, ICMPV6_ECHO_REPLY);
  copyMac(frame + EthField.DST, frame + EthField.SRC);
  copyMac(frame + EthField.SRC, ifaceMac(ifindex));
  if (vnet) vnetClear(frame);
  if (txPush(frame, l2len + IPV6_HEADER_LEN + icmpLen, ifindex)) count(Counter.CONSUMED);
  else count(Counter.DROP_TX_FULL);
}
