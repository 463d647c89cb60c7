// IP tunnelling (IPVS's ip_vs_tunnel_xmit): the packet is wrapped in an outer IPv4
// header (RFC 2003) from the director's address to the real server, which unwraps it
// and answers the client directly. The 20 bytes come from the slot's headroom, so the
// frame is encapsulated in place. A packet that would not fit the egress MTU once
// wrapped is refused: with DF the client gets ICMP fragmentation needed carrying
// MTU - 20 (RFC 1191), as IPVS does; without DF it is dropped and counted (wasmvs
// does not fragment).

import { connDest } from "../conn/entry";
import { ConnField, Counter } from "../abi";
import { ipv4Dst, IPV4_HEADER_LEN } from "../wire/ipv4";
import { ipipEncapsulate } from "../wire/ipip";
import { ifaceAddr, ifaceMtu, routeIfindex, routeLookup } from "../route/route";
import { count, takeIpId, vnet } from "../engine/state";
import { vnetGsoType, vnetMove, VNET_GSO_NONE } from "../wire/vnet";
import { refuseTooBig } from "./mtu";
import { sendToDest } from "./output";

export function tunXmit(frame: usize, l2len: u32, ip: usize, totalLen: u32, conn: usize): void {
  let raddr = load<u32>(conn, ConnField.DADDR);
  if (!routeLookup(raddr)) { count(Counter.DROP_NO_ROUTE); return; }
  let ifindex = routeIfindex;
  let mtu = ifaceMtu(ifindex);
  if (totalLen + IPV4_HEADER_LEN > mtu) { refuseTooBig(ip, totalLen, mtu - IPV4_HEADER_LEN, ipv4Dst(ip)); return; }
  let moved = frame - IPV4_HEADER_LEN;
  if (vnet) {
    // IPIP has no virtio GSO type: a large segment cannot be wrapped as it is.
    if (vnetGsoType(frame) != VNET_GSO_NONE) { count(Counter.DROP_GSO_UNSUPPORTED); return; }
    vnetMove(frame, moved, IPV4_HEADER_LEN);
  }
  memory.copy(moved, frame, l2len);
  ipipEncapsulate(moved + l2len, takeIpId(), ifaceAddr(ifindex), raddr);
  sendToDest(moved, l2len, totalLen + IPV4_HEADER_LEN, connDest(conn), Counter.FORWARDED);
}
