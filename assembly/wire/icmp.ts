// ICMP for IPv4 (RFC 792), the types the director meets.
//
//  0       8      16              31
// +-------+-------+---------------+
// | type  | code  |   checksum    |
// |   rest of header (id/seq,     |
// |   unused/next-hop MTU)        |
// +-------+-------+---------------+
// | data: for errors, the offending IP header + at least 8 bytes

import { checksum, update16Zeroable } from "./checksum";
import { storeBe16 } from "./bytes";

export namespace IcmpField {
  @inline export const TYPE: usize = 0;
  @inline export const CODE: usize = 1;
  @inline export const CHECKSUM: usize = 2;
  @inline export const REST: usize = 4;
  /** Next-hop MTU of a fragmentation-needed message (RFC 1191 section 4). */
  @inline export const MTU: usize = 6;
}
@inline export const ICMP_HEADER_LEN: u32 = <u32>IcmpField.REST + 4;

@inline export const ICMP_ECHO_REPLY: u32 = 0;
@inline export const ICMP_DEST_UNREACH: u32 = 3;
@inline export const ICMP_SOURCE_QUENCH: u32 = 4;
@inline export const ICMP_ECHO_REQUEST: u32 = 8;
@inline export const ICMP_TIME_EXCEEDED: u32 = 11;
@inline export const ICMP_CODE_FRAG_NEEDED: u32 = 4;
@inline export const ICMP_CODE_TTL_EXCEEDED: u32 = 0;

/** The validation gate: true if len bytes hold an ICMP header with a correct checksum. */
@inline export function icmpCheck(icmp: usize, len: u32): bool {
  return len >= ICMP_HEADER_LEN && checksum(icmp, len) == 0;
}

@inline export function icmpType(icmp: usize): u32 { return <u32>load<u8>(icmp, IcmpField.TYPE); }
@inline export function icmpCode(icmp: usize): u32 { return <u32>load<u8>(icmp, IcmpField.CODE); }

/** True for the error messages IPVS relates to connections (ip_vs_in_icmp): destination
 *  unreachable, source quench and time exceeded. */
@inline export function icmpIsConnectionError(type: u32): bool {
  return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH || type == ICMP_TIME_EXCEEDED;
}

/** Recompute the checksum over the len bytes of the message. */
@inline export function icmpFillChecksum(icmp: usize, len: u32): void {
  store<u16>(icmp, 0, IcmpField.CHECKSUM);
  store<u16>(icmp, <u16>checksum(icmp, len), IcmpField.CHECKSUM);
}

/** Set the type of the len-byte message at icmp, updating its checksum (an echo request
 *  turned into its reply, which may be all zeros but the checksum). */
@inline export function icmpSetTypeUpdatingChecksum(icmp: usize, len: u32, type: u32): void {
  let oldWord = <u32>load<u16>(icmp);
  store<u8>(icmp, <u8>type, IcmpField.TYPE);
  store<u16>(icmp, <u16>update16Zeroable(<u32>load<u16>(icmp, IcmpField.CHECKSUM), oldWord, <u32>load<u16>(icmp), icmp, len, IcmpField.CHECKSUM),
    IcmpField.CHECKSUM);
}

/** Write an error header: type, code, and the 32-bit rest (next-hop MTU for code 4). */
@inline export function icmpEmitErrorHeader(icmp: usize, type: u32, code: u32, mtu: u32): void {
  store<u8>(icmp, <u8>type, IcmpField.TYPE);
  store<u8>(icmp, <u8>code, IcmpField.CODE);
  store<u16>(icmp, 0, IcmpField.CHECKSUM);
  store<u16>(icmp, 0, IcmpField.REST);
  storeBe16(icmp + IcmpField.MTU, mtu);
}
