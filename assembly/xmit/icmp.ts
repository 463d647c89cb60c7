// ICMP the director originates (errors, echo replies) and the translation of ICMP
// errors that concern a connection (IPVS's ip_vs_in_icmp / ip_vs_out_icmp).

import { Counter, Proto } from "../abi";
import { checksum, update16, update32, udpNonZero } from "../wire/checksum";
import { ETHERTYPE_IPV4_WIRE, EthField, ETH_HEADER_LEN } from "../wire/ethernet";
import { Ipv4Field, ipv4Emit, ipv4FragOffset, ipv4HeaderChecksum, ipv4Ihl, ipv4Proto, ipv4Src, ipv4Dst, IPV4_HEADER_LEN } from "../wire/ipv4";
import { icmpEmitErrorHeader, icmpFillChecksum, icmpIsConnectionError, icmpSetTypeUpdatingChecksum, icmpType, ICMP_ECHO_REPLY, ICMP_HEADER_LEN } from "../wire/icmp";
import { l4ChecksumOffset } from "../wire/l4";
import { count, takeIpId, vnet } from "../engine/state";
import { vnetClear } from "../wire/vnet";
import { scratchTake } from "../engine/tx";
import { sendRouted } from "./output";

/** RFC 1812 section 4.3.2.3: an ICMP error quotes as much of the datagram as fits in 576 bytes. */
@inline const ICMP_ERROR_MAX: u32 = 576;
/** Linux sends ICMP errors with TOS 0xc0 (internetwork control). */
@inline const ICMP_ERROR_TOS: u32 = 0xc0;

/** Send an ICMP error about the datagram at orig (origLen bytes present) to its source,
 *  from address src. Nothing is sent about ICMP errors, to zero/multicast/broadcast
 *  sources (RFC 1812 section 4.3.2.7). */
export function sendIcmpError(orig: usize, origLen: u32, type: u32, code: u32, mtu: u32, src: u32): void {
  let to = ipv4Src(orig);
  let first = to & 0xff;
  if (to == 0 || first >= 224 || to == 0xffffffff) return;
  if (ipv4Proto(orig) == Proto.ICMP) {
    let ihl = ipv4Ihl(orig);
    if (origLen < ihl + 1 || icmpIsConnectionError(icmpType(orig + ihl))) return;
    let t = icmpType(orig + ihl);
    if (t != 0 && t != 8) return; // only queries may draw errors
  }
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return; }
  let quote = origLen;
  let room = ICMP_ERROR_MAX - IPV4_HEADER_LEN - ICMP_HEADER_LEN;
  if (quote > room) quote = room;
  let ip = f + ETH_HEADER_LEN;
  let icmp = ip + IPV4_HEADER_LEN;
  memory.copy(icmp + ICMP_HEADER_LEN, orig, quote);
  icmpEmitErrorHeader(icmp, type, code, mtu);
  icmpFillChecksum(icmp, ICMP_HEADER_LEN + quote);
  let total = IPV4_HEADER_LEN + ICMP_HEADER_LEN + quote;
  ipv4Emit(ip, ICMP_ERROR_TOS, total, takeIpId(), 0, 64, Proto.ICMP, src, to);
  store<u16>(f, <u16>ETHERTYPE_IPV4_WIRE, EthField.TYPE);
  if (sendRouted(f, ETH_HEADER_LEN, total, to, -1)) count(Counter.ICMP_ERRORS_SENT);
}

/** Answer an echo request in place (RFC 792): the reply goes from the address that was
 *  asked, IP options are removed. Returns the new frame start. */
export function echoReply(frame: usize, l2len: u32, ip: usize, ihl: u32, totalLen: u32): void {
  let opt = ihl - IPV4_HEADER_LEN;
  if (opt > 0) {
    memory.copy(frame + opt, frame, <usize>(l2len + IPV4_HEADER_LEN));
    frame += opt;
    ip += opt;
    totalLen -= opt;
    store<u8>(ip, 0x45);
    store<u16>(ip, <u16>(((totalLen & 0xff) << 8) | (totalLen >>> 8)), Ipv4Field.TOTAL_LEN);
  }
  icmpSetTypeUpdatingChecksum(ip + IPV4_HEADER_LEN, totalLen - IPV4_HEADER_LEN, ICMP_ECHO_REPLY);
  let asked = ipv4Dst(ip);
  let from = ipv4Src(ip);
  store<u32>(ip, asked, Ipv4Field.SRC);
  store<u32>(ip, from, Ipv4Field.DST);
  store<u8>(ip, 64, Ipv4Field.TTL);
  ipv4HeaderChecksum(ip, IPV4_HEADER_LEN);
  if (vnet) vnetClear(frame);
  sendRouted(frame, l2len, totalLen, from, Counter.CONSUMED);
}

/** Rewrite the datagram quoted in an ICMP error (at inner, ilen bytes present): one
 *  address (at addrOff: SRC or DST) and the port at portOff (0 or 2), with the quoted
 *  IP checksum and, when it was quoted, the quoted TCP/UDP checksum updated; then
 *  recompute the ICMP checksum over the icmpLen bytes at icmp. */
export function icmpRewriteQuoted(icmp: usize, icmpLen: u32, inner: usize, ilen: u32, addrOff: usize, newAddr: u32,
  portOff: usize, newPort: u32): void {
  let iihl = ipv4Ihl(inner);
  let proto = ipv4Proto(inner);
  let l4 = inner + iihl;
  let oldAddr = load<u32>(inner + addrOff);
  let oldPort = <u32>load<u16>(l4 + portOff);
  store<u32>(inner + addrOff, newAddr);
  store<u16>(inner, <u16>update32(<u32>load<u16>(inner, Ipv4Field.CHECKSUM), oldAddr, newAddr), Ipv4Field.CHECKSUM);
  store<u16>(l4 + portOff, <u16>newPort);
  let csumOff = l4ChecksumOffset(proto);
  if (iihl + <u32>csumOff + 2 <= ilen) {
    let c = <u32>load<u16>(l4 + csumOff);
    if (!(proto == Proto.UDP && c == 0)) {
      c = update16(update32(c, oldAddr, newAddr), oldPort, newPort);
      if (proto == Proto.UDP) c = udpNonZero(c);
      store<u16>(l4 + csumOff, <u16>c);
    }
  }
  icmpFillChecksum(icmp, icmpLen);
}

/** The validation gate for an ICMP error that quotes a TCP/UDP datagram: 0 if the
 *  message checksum is right and the quote holds a first fragment's whole IPv4 header
 *  and 8 bytes of ports (RFC 792); else the drop counter naming what is wrong. */
export function icmpErrorCheck(icmp: usize, icmpLen: u32): i32 {
  if (checksum(icmp, icmpLen) != 0) return Counter.DROP_ICMP_BAD_CHECKSUM;
  let ilen = icmpLen - ICMP_HEADER_LEN;
  if (ilen == 0) return Counter.DROP_ICMP_QUOTE_TRUNCATED;
  let inner = icmp + ICMP_HEADER_LEN;
  let vi = <u32>load<u8>(inner);
  let iihl = (vi & 0xf) << 2;
  if ((vi >>> 4) != 4 || iihl < IPV4_HEADER_LEN) return Counter.DROP_ICMP_MALFORMED;
  if (iihl + 8 > ilen) return Counter.DROP_ICMP_QUOTE_TRUNCATED;
  // A later fragment carries no ports: matching it to a connection would be a guess.
  if (ipv4FragOffset(inner) != 0) return Counter.DROP_ICMP_QUOTES_FRAGMENT;
  let p = ipv4Proto(inner);
  if (p != Proto.TCP && p != Proto.UDP) return Counter.DROP_ICMP_UNHANDLED;
  return 0;
}
