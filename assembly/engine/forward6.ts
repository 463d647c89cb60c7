// IPv6 forwarding (issue 20, second round): IPv6 services in NAT and DR, as IPVS's
// ip_vs_nat_xmit_v6 and ip_vs_dr_xmit_v6 do it. The client side first (a service's
// VIP:port, then its connection, as ip_vs_in), then the reply side of NAT (ip_vs_out).
// The connection table is conn/table6.ts; TCP states and timeouts are IPv4's.
//
// Next hops: on-link by one of the director's IPv6 prefixes, else the IPv6 default gateway
// (route/route.ts ipv6NextHop; no other IPv6 routes yet); resolved by NDP either way. A real
// server must be on-link (validateDest); a client may be behind the gateway.

import { Conn6Field, ConnFlag, ConnState, Counter, DestField, Fwd, Proto, Stat } from "../abi";
import { copyMac } from "../wire/bytes";
import { EthField, ethSetAddresses, ETHERTYPE_IPV6_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { ipv6AddrCopy, ipv6Dst, ipv6Emit, ipv6HopLimit, ipv6IsMulticast, ipv6IsUnspecified, ipv6PayloadLen, ipv6Src, Ipv6Field,
  IPV6_HEADER_LEN, NH_ICMPV6 } from "../wire/ipv6";
import { icmpv6FillChecksum, ICMPV6_CODE_HOP_LIMIT, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED, IPV6_MIN_MTU } from "../wire/icmpv6";
import { tcpCheck, tcpFlags, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../wire/tcp";
import { udpCheck } from "../wire/udp";
import { l4SetAddr6UpdatingChecksum } from "../wire/l4";
import { vnetGsoType, vnetNeedsCsum, VNET_GSO_NONE } from "../wire/vnet";
import { ifaceMac, ifaceMtu, ipv6NextHop, ipv6NextHopAddr, ipv6SourceFor } from "../route/route";
import { neigh6Enqueue, neigh6Resolve } from "../neigh/neigh6";
import { conn6Create, conn6LookupIn, conn6LookupOut, conn6Remove } from "../conn/table6";
import { DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, stateTimeout, tcpNextState } from "../conn/tcpstate";
import { destAddr6, destAvailable, destConnectionMade, destFwd, destMoveConn, destRec, destService, destStats, destWeight, NONE, statAdd, svcFind6,
  svcStats } from "../svc/service";
import { schedule } from "../sched/index";
import { count, now, vnet } from "./state";
import { scratchTake, txPush } from "./tx";
import { ipv6Fold } from "../svc/service";

/** A TCP or UDP packet of an IPv6 service or of one of its NAT replies: forwarded, or
 *  dropped by a named reason; true if it was taken (counted), false if the caller goes on. */
export function forward6(frame: usize, l2len: u32, ip: usize, l4: usize, l4len: u32, proto: u32, ifindex: u32): bool {
  if ((proto != Proto.TCP && proto != Proto.UDP) || l4len < 4) return false;
  let ports = load<u32>(l4);
  let sport = ports & 0xffff;
  let dport = ports >>> 16;
  let s = svcFind6(proto, ipv6Dst(ip), dport);
  if (s != NONE) {
    if (!l4Valid(l4, l4len, proto)) return true;
    let conn = conn6LookupIn(proto, ipv6Src(ip), sport, ipv6Dst(ip), dport);
    if (conn != 0 && proto == Proto.TCP && reusable(conn, l4)) { conn6Remove(conn, Counter.CONNS_REUSED); conn = 0; }
    if (conn == 0) {
      conn = newConnection6(ip, l4, proto, s, sport, dport);
      if (conn == 0) return true;
    }
    forwardIn6(frame, l2len, ip, l4, proto, conn, ifindex);
    return true;
  }
  let conn = conn6LookupOut(proto, ipv6Src(ip), sport, ipv6Dst(ip), dport);
  if (conn != 0) { if (l4Valid(l4, l4len, proto)) forwardOut6(frame, l2len, ip, l4, proto, conn, ifindex); return true; }
  // A connection whose service was removed: ip_vs_in finds it before any service.
  conn = conn6LookupIn(proto, ipv6Src(ip), sport, ipv6Dst(ip), dport);
  if (conn != 0) { if (l4Valid(l4, l4len, proto)) forwardIn6(frame, l2len, ip, l4, proto, conn, ifindex); return true; }
  return false;
}

/** The TCP or UDP header's gate (counted when it fails). Asked once a service or a
 *  connection wants the packet: a port of the director's own is the caller's to answer. */
@inline function l4Valid(l4: usize, l4len: u32, proto: u32): bool {
  if (proto == Proto.TCP ? tcpCheck(l4, l4len) : udpCheck(l4, l4len)) return true;
  count(Counter.DROP_L4_TRUNCATED);
  return false;
}

/** conn_reuse_mode as the IPv4 path (pipeline.ts connReusable). */
@inline function reusable(conn: usize, l4: usize): bool {
  if ((tcpFlags(l4) & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) != TCP_SYN) return false;
  let st = <u32>load<u8>(conn, Conn6Field.STATE);
  if (st == ConnState.TIME_WAIT || st == ConnState.CLOSE) return true;
  let d = load<u32>(conn, Conn6Field.DEST);
  return !destAvailable(d) || destWeight(d) == 0;
}

/** ip_vs_schedule for an IPv6 service: only a SYN opens a TCP connection (tcp_conn_schedule);
 *  the schedulers see IPVS's fold of the addresses (what sh, dh and mh hash for IPv6). */
function newConnection6(ip: usize, l4: usize, proto: u32, s: u32, sport: u32, dport: u32): usize {
  if (proto == Proto.TCP) {
    let f = tcpFlags(l4);
    if ((f & TCP_RST) != 0) { count(Counter.DROP_TCP_RST_NO_CONN); return 0; }
    if ((f & TCP_SYN) == 0) { count(Counter.DROP_NO_CONNECTION); return 0; }
  }
  let d = schedule(s, ipv6Fold(ipv6Src(ip)), ipv6Fold(ipv6Dst(ip)), sport, dport, proto);
  if (d == NONE) { count(Counter.DROP_NO_DEST); return 0; }
  let fwd = destFwd(d);
  let flags: u32 = fwd << ConnFlag.FWD_SHIFT;
  flags |= fwd == Fwd.MASQ ? ConnFlag.HASHED_OUT : ConnFlag.NOOUTPUT;
  if (proto == Proto.UDP) flags |= ConnFlag.INACTIVE;
  let rport = <u32>load<u16>(destRec(d), DestField.PORT);
  let state = proto == Proto.TCP ? ConnState.NONE : ConnState.UDP;
  let conn = conn6Create(proto, ipv6Src(ip), sport, ipv6Dst(ip), dport, destAddr6(d), rport != 0 ? rport : dport, d, flags, state,
    stateTimeout(state));
  if (conn == 0) return 0;
  destConnectionMade(d, proto == Proto.UDP);
  return conn;
}

/** set_tcp_state for an IPv6 connection (as pipeline.ts tcpTransition, without sync: IPv6
 *  connections are not synced yet). */
@inline function transition6(conn: usize, dir: u32, flags: u32): void {
  let st = <u32>load<u8>(conn, Conn6Field.STATE);
  let ns = tcpNextState(dir, st, flags);
  if (ns != st) {
    let cf = load<u32>(conn, Conn6Field.FLAGS);
    let d = load<u32>(conn, Conn6Field.DEST);
    if ((cf & ConnFlag.INACTIVE) == 0 && ns != ConnState.ESTABLISHED) {
      destMoveConn(d, true);
      store<u32>(conn, cf | ConnFlag.INACTIVE, Conn6Field.FLAGS);
    } else if ((cf & ConnFlag.INACTIVE) != 0 && ns == ConnState.ESTABLISHED) {
      destMoveConn(d, false);
      store<u32>(conn, cf & ~ConnFlag.INACTIVE, Conn6Field.FLAGS);
    }
    store<u8>(conn, <u8>ns, Conn6Field.STATE);
  }
  store<u32>(conn, now + stateTimeout(ns), Conn6Field.EXPIRES);
}

@inline function account6(d: u32, inbound: bool, bytes: u32): void {
  if (!destAvailable(d)) return;
  let pk: usize = inbound ? Stat.INPKTS : Stat.OUTPKTS;
  let by: usize = inbound ? Stat.INBYTES : Stat.OUTBYTES;
  statAdd(destStats(d), pk, by, bytes);
  let s = destService(d);
  if (s != NONE) statAdd(svcStats(s), pk, by, bytes);
}

/** Client -> server (ip_vs_nat_xmit_v6 / ip_vs_dr_xmit_v6). */
function forwardIn6(frame: usize, l2len: u32, ip: usize, l4: usize, proto: u32, conn: usize, ifindex: u32): void {
  let d = load<u32>(conn, Conn6Field.DEST);
  // ip_vs_in's server check (expire_nodest_conn is IPv4-only so far: the packet is dropped).
  if (!destAvailable(d)) { count(Counter.DROP_DEST_UNAVAILABLE); return; }
  let cf = load<u32>(conn, Conn6Field.FLAGS);
  if (proto == Proto.TCP) transition6(conn, (cf & ConnFlag.NOOUTPUT) != 0 ? DIR_INPUT_ONLY : DIR_INPUT, tcpFlags(l4));
  else store<u32>(conn, now + stateTimeout(ConnState.UDP), Conn6Field.EXPIRES);
  let ipLen = IPV6_HEADER_LEN + ipv6PayloadLen(ip);
  account6(d, true, ipLen);
  let daddr = conn + Conn6Field.DADDR;
  let out = ipv6NextHop(daddr);
  if (out < 0) { count(Counter.DROP_NO_ROUTE); return; }
  let nh = ipv6NextHopAddr;
  if (!hopLimitAllows(frame, ip, ipLen, ifindex)) return;
  if (!mtuAllows6(frame, ip, ipLen, <u32>out, ifindex)) return;
  if (((cf & ConnFlag.FWD_MASK) >>> ConnFlag.FWD_SHIFT) == Fwd.MASQ) {
    l4SetAddr6UpdatingChecksum(l4, proto, ip + Ipv6Field.DST, daddr, 2, <u32>load<u16>(conn, Conn6Field.DPORT), vnet && vnetNeedsCsum(frame));
  }
  // IPVS decrements the hop limit in both methods (decrement_ttl: DR forwards too).
  store<u8>(ip, <u8>(ipv6HopLimit(ip) - 1), Ipv6Field.HOP_LIMIT);
  send6(frame, l2len + ipLen, nh, <u32>out);
}

/** Server -> client on a NAT connection (ip_vs_out, the snat handler). */
function forwardOut6(frame: usize, l2len: u32, ip: usize, l4: usize, proto: u32, conn: usize, ifindex: u32): void {
  if (proto == Proto.TCP) transition6(conn, DIR_OUTPUT, tcpFlags(l4));
  else store<u32>(conn, now + stateTimeout(ConnState.UDP), Conn6Field.EXPIRES);
  let ipLen = IPV6_HEADER_LEN + ipv6PayloadLen(ip);
  account6(load<u32>(conn, Conn6Field.DEST), false, ipLen);
  let caddr = conn + Conn6Field.CADDR;
  let out = ipv6NextHop(caddr);
  if (out < 0) { count(Counter.DROP_NO_ROUTE); return; }
  let nh = ipv6NextHopAddr;
  if (!hopLimitAllows(frame, ip, ipLen, ifindex)) return;
  if (!mtuAllows6(frame, ip, ipLen, <u32>out, ifindex)) return;
  l4SetAddr6UpdatingChecksum(l4, proto, ip + Ipv6Field.SRC, conn + Conn6Field.VADDR, 0, <u32>load<u16>(conn, Conn6Field.VPORT), vnet && vnetNeedsCsum(frame));
  store<u8>(ip, <u8>(ipv6HopLimit(ip) - 1), Ipv6Field.HOP_LIMIT);
  send6(frame, l2len + ipLen, nh, <u32>out);
}

/** Out on ifindex to next hop nh: at once if its MAC is known, else parked while NDP
 *  resolves it (QUEUED), or dropped if the queue is full. */
function send6(frame: usize, len: u32, nh: usize, ifindex: u32): void {
  let mac = neigh6Resolve(nh, ifindex);
  if (mac == 0) {
    if (neigh6Enqueue(frame, len, ifindex, nh)) count(Counter.QUEUED);
    else count(Counter.DROP_NEIGH_QUEUE_FULL);
    return;
  }
  ethSetAddresses(frame, mac, ifaceMac(ifindex));
  if (txPush(frame, len, ifindex)) count(Counter.FORWARDED);
  else count(Counter.DROP_TX_FULL);
}

/** decrement_ttl for IPv6: a packet that would leave with hop limit 0 is answered with
 *  ICMPv6 time exceeded (code 0, hop limit exceeded in transit) and dropped. */
@inline function hopLimitAllows(frame: usize, ip: usize, ipLen: u32, ifindex: u32): bool {
  if (ipv6HopLimit(ip) > 1) return true;
  sendIcmpv6Error(frame, ip, ipLen, ICMPV6_TIME_EXCEEDED, ICMPV6_CODE_HOP_LIMIT, 0, ifindex);
  count(Counter.DROP_TTL_EXCEEDED);
  return false;
}

/** ensure_mtu_is_adequate for IPv6: a packet longer than the interface it leaves by draws
 *  Packet Too Big with that MTU (never below IPv6's 1280), before any rewriting, so the
 *  quote is what the sender sent. The engine forwards only whole datagrams and atomic
 *  fragments (wire/ipv6.ts), so every packet here is a "first fragment"; a TAP with
 *  offloads may hand over larger TCP segments on purpose (GSO). */
@inline function mtuAllows6(frame: usize, ip: usize, ipLen: u32, out: u32, ifindex: u32): bool {
  let mtu = ifaceMtu(out);
  if (ipLen <= mtu) return true;
  if (vnet && vnetGsoType(frame) != VNET_GSO_NONE) return true;
  sendIcmpv6Error(frame, ip, ipLen, ICMPV6_PACKET_TOO_BIG, 0, mtu < IPV6_MIN_MTU ? IPV6_MIN_MTU : mtu, ifindex);
  count(Counter.DROP_NEEDS_FRAGMENTATION);
  return false;
}

/** An ICMPv6 error about the packet at ip (ipLen bytes, in frame, which came in on ifindex)
 *  to its source (RFC 4443 2.4): never about an ICMPv6 error (types below 128), nor to a
 *  multicast or unspecified source; as much of the packet as fits in 1280 bytes; from the
 *  director's address on the sender's prefix (or its link-local one), hop limit 64; back to
 *  the MAC the packet came from. Not rate-limited yet (RFC 4443 2.4 (f)). */
function sendIcmpv6Error(frame: usize, ip: usize, ipLen: u32, type: u32, code: u32, param: u32, ifindex: u32): void {
  let src = ipv6Src(ip);
  if (ipv6IsMulticast(src) || ipv6IsUnspecified(src)) return;
  if (load<u8>(ip, Ipv6Field.NEXT_HEADER) == <u8>NH_ICMPV6 && ipLen > IPV6_HEADER_LEN && load<u8>(ip + IPV6_HEADER_LEN) < 128) return;
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return; }
  let quote = ipLen;
  let room = IPV6_MIN_MTU - IPV6_HEADER_LEN - 8;
  if (quote > room) quote = room;
  let out = f + ETH_HEADER_LEN;
  let icmp = out + IPV6_HEADER_LEN;
  memory.copy(icmp + 8, ip, quote);
  store<u8>(icmp, <u8>type);
  store<u8>(icmp, <u8>code, 1);
  store<u16>(icmp, 0, 2);
  store<u32>(icmp, bswap32local(param), 4);
  ipv6Emit(out, 8 + quote, NH_ICMPV6, 64, ipv6SourceFor(ifindex, src), src);
  icmpv6FillChecksum(icmp, 8 + quote, out + Ipv6Field.SRC, out + Ipv6Field.DST);
  copyMac(f + EthField.DST, frame + EthField.SRC);
  copyMac(f + EthField.SRC, ifaceMac(ifindex));
  store<u16>(f, <u16>ETHERTYPE_IPV6_WIRE, EthField.TYPE);
  if (txPush(f, ETH_HEADER_LEN + IPV6_HEADER_LEN + 8 + quote, ifindex)) count(Counter.ICMP_ERRORS_SENT);
  else count(Counter.GENERATED_LOST);
}

@inline function bswap32local(v: u32): u32 { return bswap<u32>(v); }
