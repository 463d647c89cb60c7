// ARP for IPv4 over Ethernet (RFC 826).
//
//  0      2      4    5    6      8          14         18         24         28
// +------+------+----+----+------+----------+----------+----------+----------+
// | htype| ptype|hlen|plen| oper | sender HA| sender PA| target HA| target PA|
// +------+------+----+----+------+----------+----------+----------+----------+

import { copyMac } from "./bytes";

export namespace ArpField {
  @inline export const HTYPE: usize = 0;
  @inline export const PTYPE: usize = 2;
  @inline export const HLEN: usize = 4;
  @inline export const PLEN: usize = 5;
  @inline export const OPER: usize = 6;
  @inline export const SHA: usize = 8;
  @inline export const SPA: usize = 14;
  @inline export const THA: usize = 18;
  @inline export const TPA: usize = 24;
}
@inline export const ARP_LEN: u32 = 28;
@inline export const ARP_OP_REQUEST_WIRE: u32 = 0x0100;
@inline export const ARP_OP_REPLY_WIRE: u32 = 0x0200;
// htype 1 (Ethernet) and ptype 0x0800 (IPv4), as one wire-order u32 load.
@inline const ARP_ETH_IPV4_WIRE: u32 = 0x00080100;
// hlen 6, plen 4, as one wire-order u16 load.
@inline const ARP_LENS_WIRE: u32 = 0x0406;

/** The validation gate: true if len bytes at arp hold an Ethernet/IPv4 ARP request or reply. */
@inline export function arpCheck(arp: usize, len: u32): bool {
  if (len < ARP_LEN) return false;
  if (load<u32>(arp) != ARP_ETH_IPV4_WIRE || <u32>load<u16>(arp, ArpField.HLEN) != ARP_LENS_WIRE) return false;
  let op = <u32>load<u16>(arp, ArpField.OPER);
  return op == ARP_OP_REQUEST_WIRE || op == ARP_OP_REPLY_WIRE;
}

@inline export function arpOp(arp: usize): u32 { return <u32>load<u16>(arp, ArpField.OPER); }
@inline export function arpSenderIp(arp: usize): u32 { return load<u32>(arp, ArpField.SPA); }
@inline export function arpTargetIp(arp: usize): u32 { return load<u32>(arp, ArpField.TPA); }

/** Write a whole ARP message. targetMac may be 0 for a request (all zeroes). */
export function arpEmit(arp: usize, opWire: u32, senderMac: usize, senderIp: u32, targetMac: usize, targetIp: u32): void {
  store<u32>(arp, ARP_ETH_IPV4_WIRE);
  store<u16>(arp, <u16>ARP_LENS_WIRE, ArpField.HLEN);
  store<u16>(arp, <u16>opWire, ArpField.OPER);
  copyMac(arp + ArpField.SHA, senderMac);
  store<u32>(arp, senderIp, ArpField.SPA);
  if (targetMac) copyMac(arp + ArpField.THA, targetMac);
  else { store<u32>(arp + ArpField.THA, 0); store<u16>(arp + ArpField.THA, 0, 4); }
  store<u32>(arp, targetIp, ArpField.TPA);
}
