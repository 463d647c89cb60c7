// ICMPv6 (RFC 4443), the messages the director meets; Neighbour Discovery's layouts are
// in ndp.ts.
//
//  0       8      16              31
// +-------+-------+---------------+
// | type  | code  |   checksum    |    checksum over the IPv6 pseudo-header too
// |   message body (echo: identifier, sequence; errors: unused / MTU / pointer)
// +-------+-------+---------------+

import { Counter } from "../abi";
import { transportChecksum6, update16 } from "./checksum";
import { NH_ICMPV6 } from "./ipv6";

export namespace Icmpv6Field {
  @inline export const TYPE: usize = 0;
  @inline export const CODE: usize = 1;
  @inline export const CHECKSUM: usize = 2;
  @inline export const BODY: usize = 4;
}
/** The smallest message Linux reads (struct icmp6hdr, icmpv6_rcv). */
@inline export const ICMPV6_HEADER_LEN: u32 = <u32>Icmpv6Field.BODY + 4;

/** Errors (RFC 4443 3): types below 128. */
@inline export const ICMPV6_PACKET_TOO_BIG: u32 = 2;
@inline export const ICMPV6_TIME_EXCEEDED: u32 = 3;
@inline export const ICMPV6_CODE_HOP_LIMIT: u32 = 0;
/** An error message carries as much of the offending packet as fits in 1280 bytes (RFC 4443 2.4 (c)). */
@inline export const IPV6_MIN_MTU: u32 = 1280;
@inline export const ICMPV6_ECHO_REQUEST: u32 = 128;
@inline export const ICMPV6_ECHO_REPLY: u32 = 129;
@inline export const ICMPV6_ROUTER_SOLICIT: u32 = 133;
@inline export const ICMPV6_ROUTER_ADVERT: u32 = 134;
@inline export const ICMPV6_NEIGHBOUR_SOLICIT: u32 = 135;
@inline export const ICMPV6_NEIGHBOUR_ADVERT: u32 = 136;

@inline export function icmpv6Type(icmp: usize): u32 { return <u32>load<u8>(icmp, Icmpv6Field.TYPE); }
@inline export function icmpv6Code(icmp: usize): u32 { return <u32>load<u8>(icmp, Icmpv6Field.CODE); }

/** The validation gate: 0 if len bytes at icmp hold an ICMPv6 header whose checksum over
 *  the pseudo-header of src and dst adds up, else the drop counter. */
export function icmpv6Check(icmp: usize, len: u32, src: usize, dst: usize): i32 {
  if (len < ICMPV6_HEADER_LEN) return Counter.DROP_ICMPV6_MALFORMED;
  if (transportChecksum6(src, dst, NH_ICMPV6, icmp, len) != 0) return Counter.DROP_ICMPV6_BAD_CHECKSUM;
  return 0;
}

/** Compute and store the checksum of the len-byte message from src to dst. */
@inline export function icmpv6FillChecksum(icmp: usize, len: u32, src: usize, dst: usize): void {
  store<u16>(icmp, 0, Icmpv6Field.CHECKSUM);
  store<u16>(icmp, <u16>transportChecksum6(src, dst, NH_ICMPV6, icmp, len), Icmpv6Field.CHECKSUM);
}

/** Set the type, updating the checksum (RFC 1624; the pseudo-header's next header keeps
 *  the sum non-zero, so eqn. 3 needs no zero check here). */
@inline export function icmpv6SetTypeUpdatingChecksum(icmp: usize, type: u32): void {
  let oldWord = <u32>load<u16>(icmp);
  store<u8>(icmp, <u8>type, Icmpv6Field.TYPE);
  store<u16>(icmp, <u16>update16(<u32>load<u16>(icmp, Icmpv6Field.CHECKSUM), oldWord, <u32>load<u16>(icmp)), Icmpv6Field.CHECKSUM);
}
