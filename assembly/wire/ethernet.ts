// Ethernet II (IEEE 802.3 clause 3.2.6) with an optional IEEE 802.1Q tag.
//
//   0                   6                   12      14
//  +-------------------+-------------------+-------+---------
//  | destination MAC   | source MAC        | type  | payload
//  +-------------------+-------------------+-------+---------
//  tagged:                                 | 8100  | TCI | type | payload   (18 bytes)
//
// A tagged frame keeps its tag through the engine: rewrites touch only the MACs.

import { copyMac } from "./bytes";

export namespace EthField {
  @inline export const DST: usize = 0;
  @inline export const SRC: usize = 6;
  @inline export const TYPE: usize = 12;
  @inline export const VLAN_TCI: usize = 14;
  @inline export const VLAN_TYPE: usize = 16;
}
@inline export const ETH_HEADER_LEN: u32 = 14;
@inline export const ETH_VLAN_HEADER_LEN: u32 = 18;
@inline export const ETH_MIN_FRAME: u32 = 60;

// Ethertypes as load<u16> sees them (wire order, pre-swapped).
@inline export const ETHERTYPE_IPV4_WIRE: u32 = 0x0008;
@inline export const ETHERTYPE_ARP_WIRE: u32 = 0x0608;
@inline export const ETHERTYPE_VLAN_WIRE: u32 = 0x0081;
@inline export const ETHERTYPE_IPV6_WIRE: u32 = 0xdd86;

/** The validation gate: the L2 header length (14, or 18 with an 802.1Q tag), or 0 if
 *  the frame is too short for its header. After it passes, ethType/ethDst/ethSrc are in bounds. */
@inline export function ethCheck(frame: usize, len: u32): u32 {
  if (len < ETH_HEADER_LEN) return 0;
  if (<u32>load<u16>(frame, EthField.TYPE) == ETHERTYPE_VLAN_WIRE) {
    return len < ETH_VLAN_HEADER_LEN ? 0 : ETH_VLAN_HEADER_LEN;
  }
  return ETH_HEADER_LEN;
}

/** The ethertype after any tag, in wire order. */
@inline export function ethType(frame: usize, l2len: u32): u32 {
  return <u32>load<u16>(frame + l2len - 2);
}

/** True for the broadcast address and group (multicast) addresses. */
@inline export function ethIsGroup(mac: usize): bool {
  return (load<u8>(mac) & 1) != 0;
}

/** Write destination and source MACs. */
@inline export function ethSetAddresses(frame: usize, dstMac: usize, srcMac: usize): void {
  copyMac(frame + EthField.DST, dstMac);
  copyMac(frame + EthField.SRC, srcMac);
}

/** Write a whole untagged header (used for frames the engine builds). */
@inline export function ethEmit(frame: usize, dstMac: usize, srcMac: usize, typeWire: u32): void {
  ethSetAddresses(frame, dstMac, srcMac);
  store<u16>(frame, <u16>typeWire, EthField.TYPE);
}

/** Set the destination to ff:ff:ff:ff:ff:ff. */
@inline export function ethSetBroadcastDst(frame: usize): void {
  store<u32>(frame, 0xffffffff);
  store<u16>(frame, 0xffff, 4);
}
