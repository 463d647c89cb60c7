// UDP (RFC 768).
//
//  0      7 8     15 16    23 24    31
// +--------+--------+--------+--------+
// |   Source Port   |    Dest Port    |
// |     Length      |    Checksum     |
// +--------+--------+--------+--------+

import { bswap16 } from "./bytes";
import { transportChecksum } from "./checksum";

export namespace UdpField {
  @inline export const SRC_PORT: usize = 0;
  @inline export const DST_PORT: usize = 2;
  @inline export const LENGTH: usize = 4;
  @inline export const CHECKSUM: usize = 6;
}
@inline export const UDP_HEADER_LEN: u32 = <u32>UdpField.CHECKSUM + 2;

/** The validation gate: true if len bytes at udp hold a header whose length field fits. */
@inline export function udpCheck(udp: usize, len: u32): bool {
  if (len < UDP_HEADER_LEN) return false;
  let l = bswap16(<u32>load<u16>(udp, UdpField.LENGTH));
  return l >= UDP_HEADER_LEN && l <= len;
}

/** A received datagram's checksum (RFC 768): 0 means the sender computed none; otherwise
 *  the sum over the pseudo-header and the len bytes at udp, its checksum included, is
 *  all ones. Addresses in wire order. */
@inline export function udpChecksumValid(srcWire: u32, dstWire: u32, udp: usize, len: u32): bool {
  return load<u16>(udp, UdpField.CHECKSUM) == 0 || transportChecksum(srcWire, dstWire, 17, udp, len) == 0;
}
