// IPv6 (RFC 8200) and its extension headers.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version| Traffic Class |           Flow Label                  |
// |         Payload Length        |  Next Header  |   Hop Limit   |
// |                  Source Address (16 bytes)                    |
// |               Destination Address (16 bytes)                  |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Extension headers (hop-by-hop options, routing, fragment, destination options) sit
// between this header and the upper layer, each naming the next; all but the fragment
// header carry their length in 8-byte units after the first 8 (RFC 8200 section 4).
//
// Addresses stay in wire order; a pointer to the 16 bytes stands for one. As four u32
// words each word is the little-endian load of four network-order bytes (the host's
// Ip6Words, host/engine/addr.ts).

import { bswap16 } from "./bytes";
import { Counter } from "../abi";

export namespace Ipv6Field {
  @inline export const VER_TC_FLOW: usize = 0;
  @inline export const PAYLOAD_LEN: usize = 4;
  @inline export const NEXT_HEADER: usize = 6;
  @inline export const HOP_LIMIT: usize = 7;
  @inline export const SRC: usize = 8;
  @inline export const DST: usize = 24;
}
@inline export const IPV6_HEADER_LEN: u32 = <u32>Ipv6Field.DST + 16;

/** Next-header values (IANA protocol numbers) the walk knows. */
@inline export const NH_HOP_BY_HOP: u32 = 0;
@inline export const NH_ROUTING: u32 = 43;
@inline export const NH_FRAGMENT: u32 = 44;
@inline export const NH_ICMPV6: u32 = 58;
@inline export const NH_NONE: u32 = 59;
@inline export const NH_DEST_OPTS: u32 = 60;

/** The most extension headers the gate walks before the upper layer. RFC 8200 section 4.1
 *  expects each at most once (destination options twice): 8 leaves room for any sane
 *  chain (HBH, DO, RH, FH, AH, ESP, DO) and refuses the 100-deep ones that only cost time. */
@inline export const IPV6_MAX_EXT_HEADERS: u32 = 8;

/** Option types every node knows (RFC 8200 4.2, RFC 2711): Pad1, PadN, Router Alert. */
@inline const OPT_PAD1: u32 = 0;
@inline const OPT_PADN: u32 = 1;
@inline const OPT_ROUTER_ALERT: u32 = 5;

@inline export function ipv6PayloadLen(ip: usize): u32 { return bswap16(<u32>load<u16>(ip, Ipv6Field.PAYLOAD_LEN)); }
@inline export function ipv6NextHeader(ip: usize): u32 { return <u32>load<u8>(ip, Ipv6Field.NEXT_HEADER); }
@inline export function ipv6HopLimit(ip: usize): u32 { return <u32>load<u8>(ip, Ipv6Field.HOP_LIMIT); }
/** The source and destination addresses (pointers to 16 bytes in the header). */
@inline export function ipv6Src(ip: usize): usize { return ip + Ipv6Field.SRC; }
@inline export function ipv6Dst(ip: usize): usize { return ip + Ipv6Field.DST; }

/** True if the 16 bytes at a and b are the same address. */
@inline export function ipv6AddrEquals(a: usize, b: usize): bool {
  return load<u64>(a) == load<u64>(b) && load<u64>(a, 8) == load<u64>(b, 8);
}
@inline export function ipv6AddrCopy(dst: usize, src: usize): void {
  store<u64>(dst, load<u64>(src));
  store<u64>(dst, load<u64>(src, 8), 8);
}
/** ff00::/8 (RFC 4291 2.7). */
@inline export function ipv6IsMulticast(a: usize): bool { return load<u8>(a) == 0xff; }
/** :: (RFC 4291 2.5.2), the source of a duplicate address detection probe. */
@inline export function ipv6IsUnspecified(a: usize): bool { return (load<u64>(a) | load<u64>(a, 8)) == 0; }
/** ::1 (RFC 4291 2.5.3), never on the wire. */
@inline export function ipv6IsLoopback(a: usize): bool { return load<u64>(a) == 0 && load<u64>(a, 8) == 0x0100000000000000; }
/** fe80::/10 (RFC 4291 2.5.6). */
@inline export function ipv6IsLinkLocal(a: usize): bool { return (<u32>load<u16>(a) & 0xc0ff) == 0x80fe; }
/** ff02::1, all nodes on the link (RFC 4291 2.7.1), as two u64 loads. */
@inline export const ALL_NODES_HI: u64 = 0x00000000000002ff;
@inline export const ALL_NODES_LO: u64 = 0x0100000000000000;
@inline export function ipv6IsAllNodes(a: usize): bool { return load<u64>(a) == ALL_NODES_HI && load<u64>(a, 8) == ALL_NODES_LO; }
/** ff02::1:ff00:0/104, a solicited-node group (RFC 4291 2.7.1); its low 24 bits are the
 *  low 24 bits of the unicast addresses it stands for. */
@inline export function ipv6IsSolicitedNode(a: usize): bool {
  return load<u64>(a) == ALL_NODES_HI && load<u32>(a, 8) == 0x01000000 && load<u8>(a, 12) == 0xff;
}

/** What the last ipv6Check that passed found: the upper-layer protocol (after the
 *  extension headers) and its offset from the IPv6 header. */
export let ipv6UpperProto: u32 = 0;
export let ipv6UpperOffset: u32 = 0;

/** The validation gate: 0 if avail bytes at ip hold an IPv6 header whose payload fits,
 *  addresses that may appear on the wire, and a chain of extension headers the engine
 *  accepts, ending at an upper layer inside the payload; else the drop counter naming
 *  what is wrong. After it passes, the header accessors, the first 40 + ipv6PayloadLen
 *  bytes, and ipv6UpperProto / ipv6UpperOffset are valid. At most IPV6_MAX_EXT_HEADERS
 *  headers are read, each within the payload. */
export function ipv6Check(ip: usize, avail: u32): i32 {
  if (avail < IPV6_HEADER_LEN) return Counter.DROP_IPV6_TRUNCATED;
  if ((<u32>load<u8>(ip) >>> 4) != 6) return Counter.DROP_IPV6_BAD_VERSION;
  let payload = ipv6PayloadLen(ip);
  // Payload length 0 with a jumbo payload option (RFC 2675) is not carried on Ethernet.
  if (payload > avail - IPV6_HEADER_LEN) return Counter.DROP_IPV6_BAD_LENGTH;
  // ipv6_rcv: a multicast source, and the loopback address either way, never come off a link.
  if (ipv6IsMulticast(ipv6Src(ip)) || ipv6IsLoopback(ipv6Src(ip)) || ipv6IsLoopback(ipv6Dst(ip))) return Counter.DROP_IPV6_BAD_ADDRESS;
  let end = IPV6_HEADER_LEN + payload;
  let nh = ipv6NextHeader(ip);
  let off = IPV6_HEADER_LEN;
  for (let n: u32 = 0; nh == NH_HOP_BY_HOP || nh == NH_ROUTING || nh == NH_FRAGMENT || nh == NH_DEST_OPTS; n++) {
    if (n >= IPV6_MAX_EXT_HEADERS) return Counter.DROP_IPV6_EXT_CHAIN_TOO_LONG;
    // RFC 8200 4.1: hop-by-hop options only right after the IPv6 header.
    if (nh == NH_HOP_BY_HOP && n != 0) return Counter.DROP_IPV6_EXT_MALFORMED;
    if (off + 8 > end) return Counter.DROP_IPV6_EXT_MALFORMED;
    let h = ip + off;
    let next = <u32>load<u8>(h);
    let hlen: u32 = 8;
    if (nh == NH_FRAGMENT) {
      // Offset (13 bits) and M: an atomic fragment (both zero, RFC 6946) is a whole
      // datagram and goes on; a real fragment waits for reassembly that does not exist yet.
      if ((bswap16(<u32>load<u16>(h, 2)) & 0xfff9) != 0) return Counter.DROP_IPV6_FRAGMENT;
    } else {
      hlen = (<u32>load<u8>(h, 1) + 1) << 3;
      if (off + hlen > end) return Counter.DROP_IPV6_EXT_MALFORMED;
      if (nh == NH_ROUTING) {
        // RFC 5095: type 0 is refused outright (its amplification attack); Linux would
        // still skip one with no segments left. Any routing header with segments left
        // asks the director to forward by the sender's route (Linux: accept_source_route).
        if (load<u8>(h, 2) == 0) return Counter.DROP_IPV6_ROUTING_TYPE0;
        if (load<u8>(h, 3) != 0) return Counter.DROP_IPV6_SOURCE_ROUTED;
      } else {
        let bad = ipv6OptionsCheck(h, hlen);
        if (bad != 0) return bad;
      }
    }
    off += hlen;
    nh = next;
  }
  ipv6UpperProto = nh;
  ipv6UpperOffset = off;
  return 0;
}

/** The TLV options of a hop-by-hop or destination options header (hlen bytes at h):
 *  0, or the drop counter for an option that runs past the header or whose type asks an
 *  unrecognising node to discard the packet (RFC 8200 4.2: the two high bits not 00; the
 *  ICMPv6 parameter problem those also ask for is not sent yet). Walks by the options'
 *  lengths, never past hlen (at most 2,048 bytes). */
export function ipv6OptionsCheck(h: usize, hlen: u32): i32 {
  let i: u32 = 2;
  while (i < hlen) {
    let type = <u32>load<u8>(h + i);
    if (type == OPT_PAD1) { i++; continue; }
    if (i + 2 > hlen) return Counter.DROP_IPV6_EXT_MALFORMED;
    let len = <u32>load<u8>(h + i + 1);
    if (i + 2 + len > hlen) return Counter.DROP_IPV6_EXT_MALFORMED;
    if (type != OPT_PADN && type != OPT_ROUTER_ALERT && (type >>> 6) != 0) return Counter.DROP_IPV6_UNKNOWN_OPTION;
    i += 2 + len;
  }
  return 0;
}

/** Write a 40-byte header with traffic class and flow label 0; addresses copied from
 *  src and dst (16 bytes each; they may not overlap the header's own address fields). */
export function ipv6Emit(ip: usize, payloadLen: u32, nextHeader: u32, hopLimit: u32, src: usize, dst: usize): void {
  store<u32>(ip, 0x60);
  store<u16>(ip, <u16>bswap16(payloadLen), Ipv6Field.PAYLOAD_LEN);
  store<u8>(ip, <u8>nextHeader, Ipv6Field.NEXT_HEADER);
  store<u8>(ip, <u8>hopLimit, Ipv6Field.HOP_LIMIT);
  ipv6AddrCopy(ip + Ipv6Field.SRC, src);
  ipv6AddrCopy(ip + Ipv6Field.DST, dst);
}

/** The Ethernet multicast address of IPv6 group a (RFC 2464 section 7): 33:33 and the
 *  group's last four bytes. */
@inline export function ipv6MulticastMac(mac: usize, a: usize): void {
  store<u16>(mac, 0x3333);
  store<u32>(mac, load<u32>(a, 12), 2);
}
