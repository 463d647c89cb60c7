// NAT (masquerading, IPVS's ip_vs_nat_xmit and its reply path): the destination of
// client packets becomes the real server, the source of replies becomes the VIP
// again. The director routes, so TTL goes down by one and a packet whose TTL runs out
// draws an ICMP time exceeded (RFC 1812 section 5.3.1).

import { connDest } from "../conn/entry";
import { ConnField, Counter } from "../abi";
import { ipv4DecrementTtlUpdatingChecksum, ipv4Dst, ipv4SetDstUpdatingChecksum, ipv4SetSrcUpdatingChecksum, ipv4Src, ipv4Ttl } from "../wire/ipv4";
import { ICMP_CODE_TTL_EXCEEDED, ICMP_TIME_EXCEEDED } from "../wire/icmp";
import { l4SetDstUpdatingChecksum, l4SetSrcUpdatingChecksum } from "../wire/l4";
import { ifaceAddr } from "../route/route";
import { count, vnet } from "../engine/state";
import { vnetNeedsCsum } from "../wire/vnet";
import { sendIcmpError } from "./icmp";
import { sendRouted, sendToDest } from "./output";

/** False (and an ICMP time exceeded sent from src) if the packet may not be routed on. */
@inline export function ttlAllowsForwarding(ip: usize, totalLen: u32, src: u32): bool {
  if (ipv4Ttl(ip) > 1) return true;
  sendIcmpError(ip, totalLen, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, 0, src);
  count(Counter.DROP_TTL_EXCEEDED);
  return false;
}

/** Client -> real server. */
@inline export function natIn(frame: usize, l2len: u32, ip: usize, totalLen: u32, l4: usize, proto: u32, conn: usize): void {
  if (!ttlAllowsForwarding(ip, totalLen, ipv4Dst(ip))) return;
  let daddr = load<u32>(conn, ConnField.DADDR);
  l4SetDstUpdatingChecksum(l4, proto, ipv4Dst(ip), daddr, <u32>load<u16>(conn, ConnField.DPORT), vnet && vnetNeedsCsum(frame));
  ipv4SetDstUpdatingChecksum(ip, daddr);
  ipv4DecrementTtlUpdatingChecksum(ip);
  sendToDest(frame, l2len, totalLen, connDest(conn), Counter.FORWARDED);
}

/** Real server -> client: the reply leaves from VIP:vport. */
@inline export function natOut(frame: usize, l2len: u32, ip: usize, totalLen: u32, l4: usize, proto: u32, conn: usize, ifindex: u32): void {
  if (!ttlAllowsForwarding(ip, totalLen, ifaceAddr(ifindex))) return;
  let vaddr = load<u32>(conn, ConnField.VADDR);
  l4SetSrcUpdatingChecksum(l4, proto, ipv4Src(ip), vaddr, <u32>load<u16>(conn, ConnField.VPORT), vnet && vnetNeedsCsum(frame));
  ipv4SetSrcUpdatingChecksum(ip, vaddr);
  ipv4DecrementTtlUpdatingChecksum(ip);
  sendRouted(frame, l2len, totalLen, ipv4Dst(ip), Counter.FORWARDED);
}
