// One frame through the engine: the Ethernet gate, then ARP, IPv4 or IPv6 (pipeline6.ts); for IPv4 the
// connection lookup (client side first, as ip_vs_in does), scheduling of new
// connections, the reply path of NAT, ICMP, and the forwarding method.
// Every frame ends in exactly one counter: a DROP_* reason, FORWARDED, CONSUMED or QUEUED.

import { connDest, connIsSynced } from "../conn/entry";
import { Abi, ConnField, ConnFlag, ConnState, Counter, DestField, Fwd, Proto, RxDesc, Stat } from "../abi";
import { copyMac, macEquals } from "../wire/bytes";
import { EthField, ethCheck, ethIsGroup, ethType, ETHERTYPE_ARP_WIRE, ETHERTYPE_IPV4_WIRE, ETHERTYPE_IPV6_WIRE, ETHERTYPE_VLAN_WIRE } from "../wire/ethernet";
import { handleIpv6 } from "./pipeline6";
import { arpCheck, arpEmit, arpOp, arpSenderIp, arpTargetIp, ArpField, ARP_OP_REPLY_WIRE, ARP_OP_REQUEST_WIRE } from "../wire/arp";
import { ipv4Check, ipv4DecrementTtlUpdatingChecksum, ipv4Dst, ipv4Ihl, ipv4IsFragment, ipv4Proto, ipv4SetDstUpdatingChecksum,
  ipv4SetSrcUpdatingChecksum, ipv4Src, ipv4TotalLen, ipv4Ttl, Ipv4Field } from "../wire/ipv4";
import { tcpCheck, tcpFlags, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../wire/tcp";
import { udpCheck } from "../wire/udp";
import { l4DstPort, l4SrcPort } from "../wire/l4";
import { icmpCheck, icmpIsConnectionError, icmpType, ICMP_ECHO_REQUEST, ICMP_HEADER_LEN } from "../wire/icmp";
import { ifaceAddr, ifaceByAddr, ifaceExists, ifaceMac } from "../route/route";
import { neighLearn } from "../neigh/neigh";
import { connBase, connCreate, connEntry, connLookupIn, connLookupOut, connRemove, connSeen, inBucket, inBucketAddr, outBucket, outBucketAddr } from "../conn/table";
import { DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, stateTimeout, tcpNextState } from "../conn/tcpstate";
import { destAvailable, destConnectionMade, destFwd, destMoveConn, destRec, destService, destStats, destWeight, isVip, NONE, portZeroServices, statAdd, svcFind,
  svcOnePacket, svcPersistTimeout, svcStats } from "../svc/service";
import { persistControl, persistSchedule, PERSIST_TABLE_FULL } from "../conn/persist";
import { markOf, markRuleCount } from "../svc/mark";
import { vrrpAddressCount, vrrpOwnership, vrrpReceive, vrrpVmacCount, vrrpVmacFor, vrrpVmacTaken } from "../ha/vrrp";
import { syncConn, syncIsForUs, syncReceiveDatagram, syncReceiving, syncSending } from "../ha/sync";
import { bswap16 } from "../wire/bytes";
import { schedule } from "../sched/index";
import { count, now, rxDescBase, rxSlotsBase, slotCapacity, slotSize, vnet } from "./state";
import { vnetClear } from "../wire/vnet";
import { txPush } from "./tx";
import { natIn, natOut, ttlAllowsForwarding } from "../xmit/nat";
import { drXmit } from "../xmit/dr";
import { tunXmit } from "../xmit/tun";
import { echoReply, icmpErrorCheck, icmpRewriteQuoted } from "../xmit/icmp";
import { sendRouted, sendToDest } from "../xmit/output";
import { sendPortUnreachable, sendReset } from "../xmit/reject";
import { mtuAllows } from "../xmit/mtu";

/** IPVS's expire_nodest_conn sysctl (default 0, as IPVS): off drops the client's packets
 *  of connections whose server was removed (they resume if it is added back); on expires
 *  such a connection at the client's next packet and handles that packet as new. Either
 *  way the server's replies and ICMP errors still pass: only ip_vs_in checks the server. */
export let expireNodestConn = false;
/** IPVS's sloppy_tcp: any TCP segment but a RST may open a connection, not only a SYN (for
 *  a director that sees flows mid-way: after a failover without sync, or in a fleet). */
let sloppyTcp = false;
export function setSloppyTcp(on: bool): void { sloppyTcp = on; }
export function setExpireNodestConn(on: bool): void { expireNodestConn = on; }

/** One received frame. The caller counts RX_FRAMES (per batch). */
export function handleFrame(frame: usize, len: u32, ifindex: u32): void {
  if (!ifaceExists(ifindex)) { count(Counter.DROP_NO_INTERFACE); return; }
  if (len > slotCapacity()) { count(Counter.DROP_FRAME_TOO_BIG); return; }
  let l2len = ethCheck(frame, len);
  if (l2len == 0) { count(Counter.DROP_FRAME_TOO_SHORT); return; }
  if (!ethIsGroup(frame) && !macEquals(frame + EthField.DST, ifaceMac(ifindex)) &&
      !(vrrpVmacCount != 0 && vrrpVmacTaken(frame + EthField.DST, ifindex))) { count(Counter.DROP_OTHER_HOST); return; }
  let type = ethType(frame, l2len);
  if (type == ETHERTYPE_IPV4_WIRE) handleIpv4(frame, l2len, len, ifindex);
  else if (type == ETHERTYPE_ARP_WIRE) handleArp(frame, l2len, len, ifindex);
  else if (type == ETHERTYPE_IPV6_WIRE) handleIpv6(frame, l2len, len, ifindex);
  else count(Counter.DROP_UNSUPPORTED_ETHERTYPE);
}

/** ARP (RFC 826): learn the sender, answer requests for our addresses and VIPs. */
function handleArp(frame: usize, l2len: u32, len: u32, ifindex: u32): void {
  let arp = frame + l2len;
  if (!arpCheck(arp, len - l2len)) { count(Counter.DROP_ARP_MALFORMED); return; }
  let target = arpTargetIp(arp);
  let sender = arpSenderIp(arp);
  // A VRRP instance's address is ours only while that instance is master.
  let own = vrrpAddressCount != 0 ? vrrpOwnership(target) : 0;
  let forUs = target != 0 && (own == 1 || (own == 0 && (target == ifaceAddr(ifindex) || isVip(target))));
  // Only a reply sent to us confirms the sender (arp_process: else it is only STALE).
  neighLearn(sender, arp + ArpField.SHA, ifindex, forUs, arpOp(arp) == ARP_OP_REPLY_WIRE && !ethIsGroup(frame));
  if (!forUs) { count(Counter.DROP_ARP_NOT_FOR_US); return; }
  if (arpOp(arp) != ARP_OP_REQUEST_WIRE) { count(Counter.CONSUMED); return; }
  // Reply in place: the asker becomes the target. An address of a use_vmac instance is
  // answered with its virtual MAC, which stays the same whichever director is master.
  let mac = own == 1 ? vrrpVmacFor(target, ifindex) : 0;
  if (mac == 0) mac = ifaceMac(ifindex);
  copyMac(arp + ArpField.THA, arp + ArpField.SHA);
  arpEmit(arp, ARP_OP_REPLY_WIRE, mac, target, arp + ArpField.THA, sender);
  copyMac(frame + EthField.DST, arp + ArpField.THA);
  copyMac(frame + EthField.SRC, mac);
  if (vnet) vnetClear(frame);
  if (txPush(frame, len, ifindex)) { count(Counter.ARP_REPLIES_SENT); count(Counter.CONSUMED); }
  else count(Counter.DROP_TX_FULL);
}

/** The interfaces' addresses, the VIPs, and the addresses a master VRRP instance (or
 *  static_ipaddress) holds. */
@inline function isOurs(addr: u32): bool {
  return ifaceByAddr(addr) >= 0 || isVip(addr) || (vrrpAddressCount != 0 && vrrpOwnership(addr) == 1);
}

function handleIpv4(frame: usize, l2len: u32, len: u32, ifindex: u32): void {
  let ip = frame + l2len;
  let bad = ipv4Check(ip, len - l2len);
  if (bad != 0) { count(bad); return; }
  // IPVS works on reassembled datagrams; wasmvs does not reassemble.
  if (ipv4IsFragment(ip)) { count(Counter.DROP_IP_FRAGMENT); return; }
  let ihl = ipv4Ihl(ip);
  let totalLen = ipv4TotalLen(ip);
  let proto = ipv4Proto(ip);
  let l4 = ip + ihl;
  let l4len = totalLen - ihl;
  if (proto == Proto.VRRP) {
    vrrpReceive(ip, ihl, totalLen, ipv4Ttl(ip), ipv4Src(ip), ipv4Dst(ip), ifindex);
    return;
  }
  // A backup director leaves the traffic of its VRRP addresses to the master.
  if (vrrpAddressCount != 0 && vrrpOwnership(ipv4Dst(ip)) == 2) { count(Counter.DROP_NOT_MASTER); return; }
  if (proto == Proto.TCP) {
    if (!tcpCheck(l4, l4len)) { count(Counter.DROP_L4_TRUNCATED); return; }
  } else if (proto == Proto.UDP) {
    if (!udpCheck(l4, l4len)) { count(Counter.DROP_L4_TRUNCATED); return; }
    // Connection sync from the master (ha/sync.ts), before any service lookup.
    if (syncReceiving && syncIsForUs(ipv4Dst(ip), <u32>load<u16>(l4, 2), ifindex)) {
      syncReceiveDatagram(frame, ip, l4, bswap16(<u32>load<u16>(l4, 4)));
      return;
    }
  } else if (proto == Proto.ICMP) {
    handleIcmp(frame, l2len, ip, ihl, totalLen, ifindex);
    return;
  } else {
    count(isOurs(ipv4Dst(ip)) ? Counter.DROP_UNSUPPORTED_PROTOCOL : Counter.DROP_NOT_FOR_US);
    return;
  }
  let saddr = ipv4Src(ip);
  let daddr = ipv4Dst(ip);
  let ports = load<u32>(l4); // source port | destination port << 16, wire order
  let sport = ports & 0xffff;
  let dport = ports >>> 16;
  // The service table is small and stays in cache: it tells the client side (a
  // service's VIP:port) from the server side before the big table is touched.
  // ip_vs_service_find: a firewall-mark service first (when rules mark the packet), then
  // the VIP:port service, then the VIP's port-zero service — each only if any exists.
  let s = NONE;
  if (markRuleCount != 0) {
    let mark = markOf(proto, daddr, dport);
    if (mark != 0) s = svcFind(0, mark, 0);
  }
  if (s == NONE) s = svcFind(proto, daddr, dport);
  if (s == NONE && portZeroServices != 0) s = svcFind(proto, daddr, 0);
  let conn: usize = 0;
  if (s != NONE) {
    conn = connLookupIn(proto, saddr, ports, daddr);
    if (conn != 0 && proto == Proto.TCP && connReusable(conn, l4)) {
      connRemove(<u32>((conn - connBase) / <usize>ConnField.SIZE), Counter.CONNS_REUSED);
      conn = 0;
    }
    // expire_nodest_conn: a connection whose server was removed ends at its next packet,
    // which is then handled as new — a UDP flow moves to a live server at once, a TCP
    // client gets a reset and reconnects elsewhere (instead of silence until it times out).
    if (conn != 0 && expireNodestConn && !destAvailable(connDest(conn))) {
      connRemove(<u32>((conn - connBase) / <usize>ConnField.SIZE), Counter.CONNS_EXPIRED);
      conn = 0;
    }
    if (conn != 0) forwardIn(frame, l2len, ip, totalLen, l4, proto, conn);
    else newConnection(frame, l2len, ip, totalLen, l4, proto, s, ihl);
    return;
  }
  conn = connLookupOut(proto, saddr, sport, daddr, dport);
  if (conn != 0) { forwardOut(frame, l2len, ip, totalLen, l4, proto, conn, ifindex); return; }
  // A connection whose service was removed: ip_vs_in finds it before any service.
  conn = connLookupIn(proto, saddr, ports, daddr);
  if (conn != 0) { forwardIn(frame, l2len, ip, totalLen, l4, proto, conn); return; }
  if (!isOurs(daddr)) { count(Counter.DROP_NOT_FOR_US); return; }
  count(Counter.DROP_NO_SERVICE);
  // A port of ours with nothing behind it: answered as a closed port.
  if (proto == Proto.TCP) sendReset(ip, ihl, l4);
  else sendPortUnreachable(ip, totalLen);
}

/** IPVS's conn_reuse_mode (1) for a new SYN on a known connection: one in TIME_WAIT or
 *  CLOSE makes way for a new one, and so does one whose server was removed or set to
 *  weight 0 — the client has moved on, and the SYN is scheduled afresh. So does a synced
 *  entry no packet has matched yet (beyond IPVS): a client whose connection lived on the
 *  old master sends segments of it, not a SYN, so a SYN there opens a new connection,
 *  and a planted entry cannot steer it. */
@inline function connReusable(conn: usize, l4: usize): bool {
  if ((tcpFlags(l4) & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) return false;
  let st = <u32>load<u8>(conn, ConnField.STATE);
  if (st == ConnState.TIME_WAIT || st == ConnState.CLOSE || connIsSynced(conn)) return true;
  let d = connDest(conn);
  return !destAvailable(d) || destWeight(d) == 0;
}

/** A packet for a service with no connection yet: schedule it (ip_vs_schedule). */
function newConnection(frame: usize, l2len: u32, ip: usize, totalLen: u32, l4: usize, proto: u32, s: u32, ihl: u32): void {
  if (proto == Proto.TCP) {
    // tcp_conn_schedule: only a SYN (without RST) opens a connection.
    let f = tcpFlags(l4);
    if ((f & TCP_RST) != 0) { count(Counter.DROP_TCP_RST_NO_CONN); return; }
    if ((f & TCP_SYN) == 0 && !sloppyTcp) {
      // A segment of a connection this director does not know (it restarted, or the
      // connection expired): the client is told at once, as the local stack would.
      count(Counter.DROP_NO_CONNECTION);
      sendReset(ip, ihl, l4);
      return;
    }
  }
  let saddr = ipv4Src(ip);
  let daddr = ipv4Dst(ip);
  let persistent = svcPersistTimeout(s) != 0;
  let sport = l4SrcPort(l4);
  let dport = l4DstPort(l4);
  let d = persistent ? persistSchedule(s, saddr, daddr, sport, dport, proto) : schedule(s, saddr, daddr, sport, dport, proto);
  // No room for the template: already counted (DROP_TABLE_FULL), and the connection is
  // not tried — it would count the same frame twice, or forward it unremembered.
  if (d == PERSIST_TABLE_FULL) return;
  if (d == NONE) {
    // ip_vs_leave: no server can take it; the client learns the port is unreachable.
    count(Counter.DROP_NO_DEST);
    sendPortUnreachable(ip, totalLen);
    return;
  }
  let fwd = destFwd(d);
  // ip_vs_bind_dest: UDP connections count as inactive; DR/TUN never see replies.
  let flags: u32 = fwd << ConnFlag.FWD_SHIFT;
  flags |= fwd == Fwd.MASQ ? ConnFlag.HASHED_OUT : ConnFlag.NOOUTPUT;
  if (proto == Proto.UDP) flags |= ConnFlag.INACTIVE;
  let r = destRec(d);
  // A port-zero service's server (port 0) gets the port the client asked for.
  let rport = <u32>load<u16>(r, DestField.PORT);
  let conn = connCreate(proto, saddr, l4SrcPort(l4), daddr, l4DstPort(l4), load<u32>(r, DestField.ADDR),
    rport != 0 ? rport : l4DstPort(l4), d, flags, proto == Proto.TCP ? ConnState.NONE : ConnState.UDP);
  if (conn == 0) return;
  if (persistent) persistControl(conn);
  // A UDP connection is synced when it is made (TCP ones at their first state change).
  // One-packet scheduling (IP_VS_CONN_F_ONE_PACKET): the datagram goes out and its
  // connection ends at once, as IPVS frees it after transmission; nothing is synced.
  let onePacket = proto == Proto.UDP && svcOnePacket(s);
  if (syncSending && proto == Proto.UDP && !onePacket) syncConn(conn);
  destConnectionMade(d, proto == Proto.UDP);
  forwardIn(frame, l2len, ip, totalLen, l4, proto, conn);
  if (onePacket) connRemove(<u32>((conn - connBase) / <usize>ConnField.SIZE), Counter.CONNS_EXPIRED);
}

/** Count a packet in both the server's and the service's statistics (ip_vs_in_stats,
 *  ip_vs_out_stats: not for a removed server). */
@inline function account(d: u32, inbound: bool, bytes: u32): void {
  if (!destAvailable(d)) return;
  let pk: usize = inbound ? Stat.INPKTS : Stat.OUTPKTS;
  let by: usize = inbound ? Stat.INBYTES : Stat.OUTBYTES;
  statAdd(destStats(d), pk, by, bytes);
  let s = destService(d);
  if (s != NONE) statAdd(svcStats(s), pk, by, bytes);
}

/** set_tcp_state: move the connection, keep the server's active/inactive counts right,
 *  and arm the state's timeout. */
@inline function tcpTransition(conn: usize, dir: u32, flags: u32): void {
  let st = <u32>load<u8>(conn, ConnField.STATE);
  let ns = tcpNextState(dir, st, flags);
  if (ns != st) {
    let cf = <u32>load<u8>(conn, ConnField.FLAGS);
    let d = connDest(conn);
    if ((cf & ConnFlag.INACTIVE) == 0 && ns != ConnState.ESTABLISHED) {
      destMoveConn(d, true);
      store<u8>(conn, <u8>(cf | ConnFlag.INACTIVE), ConnField.FLAGS);
    } else if ((cf & ConnFlag.INACTIVE) != 0 && ns == ConnState.ESTABLISHED) {
      destMoveConn(d, false);
      store<u8>(conn, <u8>(cf & ~ConnFlag.INACTIVE), ConnField.FLAGS);
    }
    store<u8>(conn, <u8>ns, ConnField.STATE);
    store<u32>(conn, now + stateTimeout(ns), ConnField.EXPIRES);
    // The backup learns every TCP state change (IPVS syncs them at once).
    if (syncSending) syncConn(conn);
    return;
  }
  store<u32>(conn, now + stateTimeout(ns), ConnField.EXPIRES);
}

/** ip_vs_in's server check: true if the connection's server can take the client's
 *  packet; otherwise the packet is dropped (and with expire_nodest_conn the connection
 *  expired). Replies and ICMP errors are not checked (ip_vs_out, ip_vs_*_icmp). */
@inline function destCheck(conn: usize): bool {
  let d = connDest(conn);
  if (destAvailable(d)) return true;
  if (expireNodestConn) connRemove(<u32>((conn - connBase) / <usize>ConnField.SIZE), Counter.CONNS_EXPIRED);
  count(Counter.DROP_DEST_UNAVAILABLE);
  return false;
}

@inline function connFwd(conn: usize): u32 {
  return (<u32>load<u8>(conn, ConnField.FLAGS) & ConnFlag.FWD_MASK) >>> ConnFlag.FWD_SHIFT;
}

/** Client -> server on a known connection. */
function forwardIn(frame: usize, l2len: u32, ip: usize, totalLen: u32, l4: usize, proto: u32, conn: usize): void {
  connSeen(conn);
  if (!destCheck(conn)) return;
  let cf = <u32>load<u8>(conn, ConnField.FLAGS);
  if (proto == Proto.TCP) tcpTransition(conn, (cf & ConnFlag.NOOUTPUT) != 0 ? DIR_INPUT_ONLY : DIR_INPUT, tcpFlags(l4));
  else store<u32>(conn, now + stateTimeout(ConnState.UDP), ConnField.EXPIRES);
  account(connDest(conn), true, totalLen);
  let fwd = connFwd(conn);
  if (fwd == Fwd.TUNNEL) { tunXmit(frame, l2len, ip, totalLen, conn); return; }
  if (!mtuAllows(frame, ip, totalLen, load<u32>(conn, ConnField.DADDR), ipv4Dst(ip))) return;
  if (fwd == Fwd.MASQ) natIn(frame, l2len, ip, totalLen, l4, proto, conn);
  else drXmit(frame, l2len, totalLen, conn);
}

/** Server -> client on a NAT connection (ip_vs_out: also when the server was removed,
 *  so what it still sends reaches the client). */
function forwardOut(frame: usize, l2len: u32, ip: usize, totalLen: u32, l4: usize, proto: u32, conn: usize, ifindex: u32): void {
  connSeen(conn);
  if (proto == Proto.TCP) tcpTransition(conn, DIR_OUTPUT, tcpFlags(l4));
  else store<u32>(conn, now + stateTimeout(ConnState.UDP), ConnField.EXPIRES);
  account(connDest(conn), false, totalLen);
  if (!mtuAllows(frame, ip, totalLen, ipv4Dst(ip), ifaceAddr(ifindex))) return;
  natOut(frame, l2len, ip, totalLen, l4, proto, conn, ifindex);
}

function handleIcmp(frame: usize, l2len: u32, ip: usize, ihl: u32, totalLen: u32, ifindex: u32): void {
  let icmp = ip + ihl;
  let icmpLen = totalLen - ihl;
  if (icmpLen < ICMP_HEADER_LEN) { count(Counter.DROP_ICMP_MALFORMED); return; }
  let type = icmpType(icmp);
  let daddr = ipv4Dst(ip);
  if (isOurs(daddr)) {
    if (type == ICMP_ECHO_REQUEST) {
      if (!icmpCheck(icmp, icmpLen)) { count(Counter.DROP_ICMP_BAD_CHECKSUM); return; }
      echoReply(frame, l2len, ip, ihl, totalLen);
      return;
    }
    if (icmpIsConnectionError(type)) { icmpIn(frame, l2len, ip, totalLen, icmp, icmpLen); return; }
    count(Counter.DROP_ICMP_UNHANDLED);
    return;
  }
  if (icmpIsConnectionError(type)) { icmpOut(frame, l2len, ip, totalLen, icmp, icmpLen, ifindex); return; }
  count(Counter.DROP_NOT_FOR_US);
}

/** An ICMP error from the client side about a packet that left as VIP:vport ->
 *  client:cport (ip_vs_in_icmp). NAT: to the real server, quoted source rewritten to
 *  the server; DR/TUN: to the real server unchanged. */
function icmpIn(frame: usize, l2len: u32, ip: usize, totalLen: u32, icmp: usize, icmpLen: u32): void {
  let bad = icmpErrorCheck(icmp, icmpLen);
  if (bad != 0) { count(bad); return; }
  let inner = icmp + ICMP_HEADER_LEN;
  let ilen = icmpLen - ICMP_HEADER_LEN;
  let il4 = inner + ipv4Ihl(inner);
  let iproto = ipv4Proto(inner);
  let conn = connLookupIn(iproto, ipv4Dst(inner), l4DstPort(il4) | (l4SrcPort(il4) << 16), ipv4Src(inner));
  if (conn == 0) { count(Counter.DROP_ICMP_NO_CONNECTION); return; }
  account(connDest(conn), true, totalLen);
  let fwd = connFwd(conn);
  if (fwd == Fwd.DROUTE) { drXmit(frame, l2len, totalLen, conn); return; }
  if (fwd == Fwd.TUNNEL) { tunXmit(frame, l2len, ip, totalLen, conn); return; }
  if (!ttlAllowsForwarding(ip, totalLen, ipv4Dst(ip))) return;
  let raddr = load<u32>(conn, ConnField.DADDR);
  icmpRewriteQuoted(icmp, icmpLen, inner, ilen, Ipv4Field.SRC, raddr, 0, <u32>load<u16>(conn, ConnField.DPORT));
  ipv4SetDstUpdatingChecksum(ip, raddr);
  ipv4DecrementTtlUpdatingChecksum(ip);
  sendToDest(frame, l2len, totalLen, connDest(conn), Counter.FORWARDED);
}

/** An ICMP error from a NAT real server about a packet client:cport -> RIP:rport
 *  (ip_vs_out_icmp): it leaves from the VIP, quoting VIP:vport. */
function icmpOut(frame: usize, l2len: u32, ip: usize, totalLen: u32, icmp: usize, icmpLen: u32, ifindex: u32): void {
  let bad = icmpErrorCheck(icmp, icmpLen);
  if (bad != 0) { count(bad == Counter.DROP_ICMP_UNHANDLED ? Counter.DROP_NOT_FOR_US : bad); return; }
  let inner = icmp + ICMP_HEADER_LEN;
  let ilen = icmpLen - ICMP_HEADER_LEN;
  let il4 = inner + ipv4Ihl(inner);
  let iproto = ipv4Proto(inner);
  let conn = connLookupOut(iproto, ipv4Dst(inner), l4DstPort(il4), ipv4Src(inner), l4SrcPort(il4));
  if (conn == 0) { count(Counter.DROP_NOT_FOR_US); return; }
  account(connDest(conn), false, totalLen);
  if (!ttlAllowsForwarding(ip, totalLen, ifaceAddr(ifindex))) return;
  let vaddr = load<u32>(conn, ConnField.VADDR);
  icmpRewriteQuoted(icmp, icmpLen, inner, ilen, Ipv4Field.DST, vaddr, 2, <u32>load<u16>(conn, ConnField.VPORT));
  ipv4SetSrcUpdatingChecksum(ip, vaddr);
  ipv4DecrementTtlUpdatingChecksum(ip);
  sendRouted(frame, l2len, totalLen, ipv4Dst(ip), Counter.FORWARDED);
}

/** Below this many live connections the table is cache-resident and prefetching
 *  would only add work. */
export const PREFETCH_MIN_CONNECTIONS: u32 = 32768;
let prefetchSink: u32 = 0;

/** First pass over a batch: for each TCP/UDP frame, load the bucket head and the first
 *  entry its lookup will need (client side for a service, server side otherwise). The
 *  loads of different frames are independent, so their cache misses overlap; the
 *  second pass then finds the lines in cache. Only reads, and only within the frame. */
export function prefetchBatch(n: u32): void {
  let slot = <usize>slotSize;
  let frame = rxSlotsBase + <usize>Abi.HEADROOM;
  let desc = rxDescBase;
  let sink = prefetchSink;
  for (let i: u32 = 0; i < n; i++, frame += slot, desc += <usize>Abi.DESC_SIZE) {
    let len = load<u32>(desc, RxDesc.LEN);
    if (len < 14 + 20 + 4 || len > slotCapacity()) continue;
    let l2: u32 = <u32>load<u16>(frame, EthField.TYPE) == ETHERTYPE_VLAN_WIRE ? 18 : 14;
    if (<u32>load<u16>(frame + l2 - 2) != ETHERTYPE_IPV4_WIRE) continue;
    let ip = frame + l2;
    let vi = <u32>load<u8>(ip);
    let ihl = (vi & 0xf) << 2;
    if ((vi >>> 4) != 4 || ihl < 20 || l2 + ihl + 4 > len) continue;
    let proto = <u32>load<u8>(ip, Ipv4Field.PROTO);
    if (proto != Proto.TCP && proto != Proto.UDP) continue;
    let ports = load<u32>(ip + ihl);
    let saddr = ipv4Src(ip);
    let daddr = ipv4Dst(ip);
    let head: u32;
    if (svcFind(proto, daddr, ports >>> 16) != NONE) head = load<u32>(inBucketAddr(inBucket(proto, saddr, ports, daddr)));
    else head = load<u32>(outBucketAddr(outBucket(proto, saddr, ports, daddr)));
    if (head != 0) sink ^= load<u32>(connEntry(head - 1));
  }
  prefetchSink = sink;
}
