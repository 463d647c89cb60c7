// IPv4 (RFC 791).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Version|  IHL  |Type of Service|          Total Length         |
// |         Identification        |Flags|      Fragment Offset    |
// |  Time to Live |    Protocol   |         Header Checksum       |
// |                       Source Address                          |
// |                    Destination Address                        |
// |                    Options                    |    Padding    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import { bswap16 } from "./bytes";
import { checksum, checksum20, update16, update32 } from "./checksum";
import { Counter } from "../abi";

export namespace Ipv4Field {
  @inline export const VER_IHL: usize = 0;
  @inline export const TOS: usize = 1;
  @inline export const TOTAL_LEN: usize = 2;
  @inline export const ID: usize = 4;
  @inline export const FLAGS_FRAG: usize = 6;
  @inline export const TTL: usize = 8;
  @inline export const PROTO: usize = 9;
  @inline export const CHECKSUM: usize = 10;
  @inline export const SRC: usize = 12;
  @inline export const DST: usize = 16;
}
@inline export const IPV4_HEADER_LEN: u32 = <u32>Ipv4Field.DST + 4;
// Flags/fragment offset as load<u16> sees it: DF is 0x4000 in host order.
@inline export const IPV4_DF_WIRE: u32 = 0x0040;
@inline const IPV4_MF_OFFSET_MASK_WIRE: u32 = 0xff3f;

@inline export function ipv4Ihl(ip: usize): u32 { return (<u32>load<u8>(ip) & 0xf) << 2; }
@inline export function ipv4TotalLen(ip: usize): u32 { return bswap16(<u32>load<u16>(ip, Ipv4Field.TOTAL_LEN)); }
@inline export function ipv4Proto(ip: usize): u32 { return <u32>load<u8>(ip, Ipv4Field.PROTO); }
@inline export function ipv4Ttl(ip: usize): u32 { return <u32>load<u8>(ip, Ipv4Field.TTL); }
@inline export function ipv4Tos(ip: usize): u32 { return <u32>load<u8>(ip, Ipv4Field.TOS); }
@inline export function ipv4Src(ip: usize): u32 { return load<u32>(ip, Ipv4Field.SRC); }
@inline export function ipv4Dst(ip: usize): u32 { return load<u32>(ip, Ipv4Field.DST); }
@inline export function ipv4HasDf(ip: usize): bool { return (<u32>load<u16>(ip, Ipv4Field.FLAGS_FRAG) & IPV4_DF_WIRE) != 0; }
/** True for any fragment: MF set or a non-zero offset. */
@inline export function ipv4IsFragment(ip: usize): bool {
  return (<u32>load<u16>(ip, Ipv4Field.FLAGS_FRAG) & IPV4_MF_OFFSET_MASK_WIRE) != 0;
}

/** The fragment offset in 8-byte units (0 for an unfragmented datagram or a first fragment). */
@inline export function ipv4FragOffset(ip: usize): u32 {
  return bswap16(<u32>load<u16>(ip, Ipv4Field.FLAGS_FRAG)) & 0x1fff;
}

/** The header checksum over ihl bytes, as stored. */
@inline export function ipv4HeaderChecksum(ip: usize, ihl: u32): u32 {
  store<u16>(ip, 0, Ipv4Field.CHECKSUM);
  let c = checksum(ip, ihl);
  store<u16>(ip, <u16>c, Ipv4Field.CHECKSUM);
  return c;
}

/** The validation gate: 0 if avail bytes at ip hold a well-formed IPv4 header whose
 *  total length fits, else the drop counter naming what is wrong. After it passes,
 *  every header accessor and the first ipv4TotalLen bytes are in bounds. */
export function ipv4Check(ip: usize, avail: u32): i32 {
  if (avail < IPV4_HEADER_LEN) return Counter.DROP_IP_TRUNCATED;
  let vi = <u32>load<u8>(ip);
  if ((vi >>> 4) != 4) return Counter.DROP_IP_BAD_VERSION;
  let ihl = (vi & 0xf) << 2;
  if (ihl < IPV4_HEADER_LEN || ihl > avail) return Counter.DROP_IP_BAD_IHL;
  let total = ipv4TotalLen(ip);
  if (total < ihl || total > avail) return Counter.DROP_IP_BAD_LENGTH;
  // RFC 1812 section 5.2.2: a router verifies the header checksum.
  if ((ihl == IPV4_HEADER_LEN ? checksum20(ip) : checksum(ip, ihl)) != 0) return Counter.DROP_IP_BAD_CHECKSUM;
  if (ihl > IPV4_HEADER_LEN && ipv4HasSourceRoute(ip, ihl)) return Counter.DROP_IP_SOURCE_ROUTED;
  return 0;
}

/** RFC 791 option types of the loose and strict source routes. */
@inline const IPOPT_LSRR: u32 = 131;
@inline const IPOPT_SSRR: u32 = 137;

/** True if the options (bytes 20..ihl) hold a loose or strict source route. Walks the
 *  options by their lengths and never past ihl; a malformed length ends the walk. */
export function ipv4HasSourceRoute(ip: usize, ihl: u32): bool {
  let i: u32 = IPV4_HEADER_LEN;
  while (i < ihl) {
    let type = <u32>load<u8>(ip + i);
    if (type == 0) return false; // end of options
    if (type == 1) { i++; continue; } // no-operation
    if (type == IPOPT_LSRR || type == IPOPT_SSRR) return true;
    if (i + 1 >= ihl) return false;
    let len = <u32>load<u8>(ip + i + 1);
    if (len < 2) return false;
    i += len;
  }
  return false;
}

/** Replace the destination address and fix the header checksum (RFC 1624). */
@inline export function ipv4SetDstUpdatingChecksum(ip: usize, dst: u32): void {
  let old = load<u32>(ip, Ipv4Field.DST);
  store<u32>(ip, dst, Ipv4Field.DST);
  store<u16>(ip, <u16>update32(<u32>load<u16>(ip, Ipv4Field.CHECKSUM), old, dst), Ipv4Field.CHECKSUM);
}

/** Replace the source address and fix the header checksum (RFC 1624). */
@inline export function ipv4SetSrcUpdatingChecksum(ip: usize, src: u32): void {
  let old = load<u32>(ip, Ipv4Field.SRC);
  store<u32>(ip, src, Ipv4Field.SRC);
  store<u16>(ip, <u16>update32(<u32>load<u16>(ip, Ipv4Field.CHECKSUM), old, src), Ipv4Field.CHECKSUM);
}

/** TTL minus one with the checksum fixed (RFC 1624; the caller checked TTL > 1). */
@inline export function ipv4DecrementTtlUpdatingChecksum(ip: usize): void {
  let old = <u32>load<u16>(ip, Ipv4Field.TTL); // TTL in the low byte, protocol in the high one
  let now = old - 1;
  store<u16>(ip, <u16>now, Ipv4Field.TTL);
  store<u16>(ip, <u16>update16(<u32>load<u16>(ip, Ipv4Field.CHECKSUM), old, now), Ipv4Field.CHECKSUM);
}

/** Write a 20-byte header (no options) and its checksum. Values in wire order except
 *  totalLen, id, ttl, proto, tos in host order. */
export function ipv4Emit(ip: usize, tos: u32, totalLen: u32, id: u32, dfWire: u32, ttl: u32, proto: u32, src: u32, dst: u32): void {
  store<u8>(ip, 0x45);
  store<u8>(ip, <u8>tos, Ipv4Field.TOS);
  store<u16>(ip, <u16>bswap16(totalLen), Ipv4Field.TOTAL_LEN);
  store<u16>(ip, <u16>bswap16(id), Ipv4Field.ID);
  store<u16>(ip, <u16>dfWire, Ipv4Field.FLAGS_FRAG);
  store<u8>(ip, <u8>ttl, Ipv4Field.TTL);
  store<u8>(ip, <u8>proto, Ipv4Field.PROTO);
  store<u32>(ip, src, Ipv4Field.SRC);
  store<u32>(ip, dst, Ipv4Field.DST);
  ipv4HeaderChecksum(ip, IPV4_HEADER_LEN);
}
