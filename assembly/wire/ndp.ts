// Neighbour Discovery (RFC 4861): the Neighbour Solicitation and Advertisement messages
// (ICMPv6 types 135, 136) and their link-layer address options.
//
//  0       8      16              31
// +-------+-------+---------------+
// | 135/136 | 0   |   checksum    |
// |R|S|O| reserved (NA flags; NS: all reserved)
// |        target address (16 bytes)
// | options: type | length (8-byte units) | value ...
// +-------+-------+---------------+

import { Counter } from "../abi";
import { copyMac } from "./bytes";
import { ipv6IsMulticast } from "./ipv6";

export namespace NdpField {
  @inline export const FLAGS: usize = 4;
  @inline export const TARGET: usize = 8;
  @inline export const OPTIONS: usize = 24;
}
@inline export const NDP_MESSAGE_LEN: u32 = <u32>NdpField.OPTIONS;
/** Advertisement flags (RFC 4861 4.4), in the first byte after the checksum. */
@inline export const NA_ROUTER: u32 = 0x80;
@inline export const NA_SOLICITED: u32 = 0x40;
@inline export const NA_OVERRIDE: u32 = 0x20;
/** Option types (RFC 4861 4.6.1) and the 8-byte link-layer address option over Ethernet. */
@inline export const NDP_OPT_SOURCE_LL: u32 = 1;
@inline export const NDP_OPT_TARGET_LL: u32 = 2;
@inline export const NDP_LL_OPTION_LEN: u32 = 8;
/** The hop limit every NDP message is sent with and must arrive with (RFC 4861 7.1). */
@inline export const NDP_HOP_LIMIT: u32 = 255;

@inline export function ndpTarget(icmp: usize): usize { return icmp + NdpField.TARGET; }
@inline export function naFlags(icmp: usize): u32 { return <u32>load<u8>(icmp, NdpField.FLAGS); }

/** What the last ndpCheck found: the offsets (from the message) of the values of the
 *  source and target link-layer address options of an Ethernet size, or 0 if none. */
export let ndpSourceLinkLayer: u32 = 0;
export let ndpTargetLinkLayer: u32 = 0;

/** The checks RFC 4861 7.1.1 and 7.1.2 share (the checksum passed already): 0 or the drop
 *  counter. Walks the options by their lengths (each at least 8 bytes), never past len. */
export function ndpCheck(icmp: usize, len: u32, hopLimit: u32): i32 {
  if (hopLimit != NDP_HOP_LIMIT) return Counter.DROP_NDP_BAD_HOP_LIMIT;
  if (load<u8>(icmp, 1) != 0) return Counter.DROP_NDP_BAD_CODE;
  if (len < NDP_MESSAGE_LEN || ipv6IsMulticast(ndpTarget(icmp))) return Counter.DROP_NDP_MALFORMED;
  ndpSourceLinkLayer = 0;
  ndpTargetLinkLayer = 0;
  let i: u32 = NDP_MESSAGE_LEN;
  while (i < len) {
    if (i + 2 > len) return Counter.DROP_NDP_BAD_OPTION;
    let olen = <u32>load<u8>(icmp + i + 1) << 3;
    if (olen == 0 || i + olen > len) return Counter.DROP_NDP_BAD_OPTION;
    let type = <u32>load<u8>(icmp + i);
    if (olen == NDP_LL_OPTION_LEN && type == NDP_OPT_SOURCE_LL) ndpSourceLinkLayer = i + 2;
    else if (olen == NDP_LL_OPTION_LEN && type == NDP_OPT_TARGET_LL) ndpTargetLinkLayer = i + 2;
    i += olen;
  }
  return 0;
}

/** Write an advertisement for target (16 bytes, not overlapping) with flags and a target
 *  link-layer address option holding mac: NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN bytes, the
 *  checksum left to the caller. */
export function naEmit(icmp: usize, flags: u32, target: usize, mac: usize): void {
  store<u32>(icmp, 136);
  store<u32>(icmp, flags, NdpField.FLAGS);
  store<u64>(icmp, load<u64>(target), NdpField.TARGET);
  store<u64>(icmp, load<u64>(target, 8), NdpField.TARGET + 8);
  store<u8>(icmp, <u8>NDP_OPT_TARGET_LL, NdpField.OPTIONS);
  store<u8>(icmp, 1, NdpField.OPTIONS + 1);
  copyMac(icmp + NdpField.OPTIONS + 2, mac);
}

/** Write a solicitation for target (16 bytes, not overlapping) with a source link-layer
 *  address option holding mac (RFC 4861 4.3): NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN bytes,
 *  the checksum left to the caller. */
export function nsEmit(icmp: usize, target: usize, mac: usize): void {
  store<u32>(icmp, 135);
  store<u32>(icmp, 0, NdpField.FLAGS);
  store<u64>(icmp, load<u64>(target), NdpField.TARGET);
  store<u64>(icmp, load<u64>(target, 8), NdpField.TARGET + 8);
  store<u8>(icmp, <u8>NDP_OPT_SOURCE_LL, NdpField.OPTIONS);
  store<u8>(icmp, 1, NdpField.OPTIONS + 1);
  copyMac(icmp + NdpField.OPTIONS + 2, mac);
}
