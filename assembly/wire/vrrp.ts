// VRRP advertisements: version 2 (RFC 3768 section 5.1) and version 3 (RFC 5798 section 5.1).
//
//   0      version(4) | type(4)          type 1: advertisement
//   1      virtual router id
//   2      priority                      255: owner, 0: the master resigns
//   3      count of IPv4 addresses
//   4  v2: auth type(8) | advert interval(8, seconds)
//      v3: reserved(4) | max advert interval(12, centiseconds)
//   6      checksum                      v2: over the message; v3: with the IPv4 pseudo-header
//   8      the addresses, 4 bytes each
//   v2:    8 bytes of authentication data after them (PASS: the password, zero padded)
//
// IP protocol 112, TTL 255, to 224.0.0.18 (or a unicast peer), TOS 0xC0 (keepalived's).

import { Counter } from "../abi";
import { bswap16 } from "./bytes";
import { checksum, fold, pseudoHeaderSum, sum } from "./checksum";

export namespace VrrpField {
  @inline export const VER_TYPE: usize = 0;
  @inline export const VRID: usize = 1;
  @inline export const PRIORITY: usize = 2;
  @inline export const COUNT: usize = 3;
  @inline export const AUTH_TYPE: usize = 4; // v2
  @inline export const ADVER_INT: usize = 5; // v2, seconds
  @inline export const MAX_ADVER_INT: usize = 4; // v3, 12 bits of centiseconds
  @inline export const CHECKSUM: usize = 6;
  @inline export const ADDRS: usize = 8;
}

@inline export const VRRP_HEADER_LEN: u32 = 8;
@inline export const VRRP_AUTH_LEN: u32 = 8;
@inline export const VRRP_TTL: u32 = 255;
@inline export const VRRP_TOS: u32 = 0xc0;
@inline export const VRRP_TYPE_ADVERT: u32 = 1;
/** 224.0.0.18 in wire order as loaded little-endian. */
@inline export const VRRP_GROUP_WIRE: u32 = 0x120000e0;

@inline export function vrrpVersion(v: usize): u32 { return <u32>load<u8>(v, VrrpField.VER_TYPE) >>> 4; }
@inline export function vrrpVrid(v: usize): u32 { return <u32>load<u8>(v, VrrpField.VRID); }
@inline export function vrrpCount(v: usize): u32 { return <u32>load<u8>(v, VrrpField.COUNT); }

/** The length a message of this version and address count has. */
@inline export function vrrpLength(version: u32, count: u32): u32 {
  return VRRP_HEADER_LEN + (count << 2) + (version == 2 ? VRRP_AUTH_LEN : 0);
}

/** The one validation gate (keepalived's vrrp_check_packet, the parts that need no
 *  instance): 0 when the message at v, len bytes long, from src to dst (wire order) with
 *  this TTL is a well-formed advert, else the drop counter that says why. */
export function vrrpCheck(v: usize, len: u32, ttl: u32, src: u32, dst: u32): i32 {
  if (ttl != VRRP_TTL) return Counter.DROP_VRRP_BAD_TTL;
  if (len < VRRP_HEADER_LEN) return Counter.DROP_VRRP_BAD_LENGTH;
  let version = vrrpVersion(v);
  if (version != 2 && version != 3) return Counter.DROP_VRRP_BAD_VERSION;
  if ((<u32>load<u8>(v, VrrpField.VER_TYPE) & 0xf) != VRRP_TYPE_ADVERT) return Counter.DROP_VRRP_BAD_TYPE;
  if (len != vrrpLength(version, vrrpCount(v))) return Counter.DROP_VRRP_BAD_LENGTH;
  let ok = version == 2 ? fold(sum(v, len, 0)) == 0xffff : fold(sum(v, len, pseudoHeaderSum(src, dst, 112, len))) == 0xffff;
  return ok ? 0 : Counter.DROP_VRRP_BAD_CHECKSUM;
}

/** Write an advert's header (the addresses and, for v2, the authentication data are the
 *  caller's, already in place) and its checksum. intervalCs: the advert interval in
 *  centiseconds (v2 carries whole seconds). */
export function vrrpEmit(v: usize, version: u32, vrid: u32, priority: u32, count: u32, authType: u32, intervalCs: u32, src: u32, dst: u32): void {
  store<u8>(v, <u8>((version << 4) | VRRP_TYPE_ADVERT), VrrpField.VER_TYPE);
  store<u8>(v, <u8>vrid, VrrpField.VRID);
  store<u8>(v, <u8>priority, VrrpField.PRIORITY);
  store<u8>(v, <u8>count, VrrpField.COUNT);
  if (version == 2) {
    store<u8>(v, <u8>authType, VrrpField.AUTH_TYPE);
    store<u8>(v, <u8>(intervalCs / 100), VrrpField.ADVER_INT);
  } else {
    store<u16>(v, <u16>bswap16(intervalCs & 0x0fff), VrrpField.MAX_ADVER_INT);
  }
  store<u16>(v, 0, VrrpField.CHECKSUM);
  let len = vrrpLength(version, count);
  let c = version == 2 ? checksum(v, len) : ~fold(sum(v, len, pseudoHeaderSum(src, dst, 112, len))) & 0xffff;
  store<u16>(v, <u16>c, VrrpField.CHECKSUM);
}
