// What TCP and UDP share for load balancing: ports at offsets 0 and 2, and a checksum
// that covers the pseudo-header, so NAT rewrites go through these helpers.

import { update16, update32, update128, udpNonZero } from "./checksum";
import { TcpField } from "./tcp";
import { UdpField } from "./udp";
import { Proto } from "../abi";

@inline export function l4SrcPort(l4: usize): u32 { return <u32>load<u16>(l4, 0); }
@inline export function l4DstPort(l4: usize): u32 { return <u32>load<u16>(l4, 2); }

/** Offset of the checksum field for TCP or UDP. */
@inline export function l4ChecksumOffset(proto: u32): usize {
  return proto == Proto.TCP ? TcpField.CHECKSUM : UdpField.CHECKSUM;
}

/** Apply a 32-bit change (an address in the pseudo-header) and a 16-bit change (a port)
 *  to the TCP or UDP checksum at l4 + csumOff. A UDP checksum of 0 means "none"
 *  (RFC 768) and stays 0; a computed 0 is sent as 0xffff. */
@inline export function l4UpdateChecksum(l4: usize, proto: u32, csumOff: usize, oldAddr: u32, newAddr: u32, oldPort: u32, newPort: u32): void {
  let c = <u32>load<u16>(l4 + csumOff);
  if (proto == Proto.UDP && c == 0) return;
  c = update32(c, oldAddr, newAddr);
  c = update16(c, oldPort, newPort);
  if (proto == Proto.UDP) c = udpNonZero(c);
  store<u16>(l4 + csumOff, <u16>c);
}

/** A partial checksum (virtio NEEDS_CSUM: the field holds the folded pseudo-header sum,
 *  not complemented, and the rest is summed later from the L4 header on): only the
 *  address change touches it; the ports are summed later. S' = S + ~m + m', which is
 *  ~update32(~S, m, m'). */
@inline export function l4UpdatePartialChecksum(l4: usize, csumOff: usize, oldAddr: u32, newAddr: u32): void {
  let s = <u32>load<u16>(l4 + csumOff);
  store<u16>(l4 + csumOff, <u16>(~update32(~s & 0xffff, oldAddr, newAddr) & 0xffff));
}

/** Replace the destination port and account for a new destination address in the
 *  checksum (full, or partial when the frame's checksum is left for later). */
@inline export function l4SetDstUpdatingChecksum(l4: usize, proto: u32, oldAddr: u32, newAddr: u32, newPort: u32, partial: bool): void {
  let oldPort = <u32>load<u16>(l4, 2);
  store<u16>(l4, <u16>newPort, 2);
  if (partial) l4UpdatePartialChecksum(l4, l4ChecksumOffset(proto), oldAddr, newAddr);
  else l4UpdateChecksum(l4, proto, l4ChecksumOffset(proto), oldAddr, newAddr, oldPort, newPort);
}

/** Replace the source port and account for a new source address in the checksum. */
@inline export function l4SetSrcUpdatingChecksum(l4: usize, proto: u32, oldAddr: u32, newAddr: u32, newPort: u32, partial: bool): void {
  let oldPort = <u32>load<u16>(l4, 0);
  store<u16>(l4, <u16>newPort, 0);
  if (partial) l4UpdatePartialChecksum(l4, l4ChecksumOffset(proto), oldAddr, newAddr);
  else l4UpdateChecksum(l4, proto, l4ChecksumOffset(proto), oldAddr, newAddr, oldPort, newPort);
}

/** IPv6 NAT (ip_vs_nat_xmit_v6, the reply path's snat handler): the address at field
 *  (16 bytes, in the IPv6 header) becomes the one at newAddr and the port at portOff
 *  (0: source, 2: destination) becomes newPort, the TCP or UDP checksum updated for both
 *  (RFC 1624 over the IPv6 pseudo-header; partial: only the address, as above). IPv6 UDP
 *  always carries a checksum (RFC 8200 8.1), so no zero rule applies on the way in; a
 *  computed 0 is still sent as 0xffff. */
export function l4SetAddr6UpdatingChecksum(l4: usize, proto: u32, field: usize, newAddr: usize, portOff: usize, newPort: u32, partial: bool): void {
  let csumOff = l4ChecksumOffset(proto);
  let c = <u32>load<u16>(l4 + csumOff);
  let oldPort = <u32>load<u16>(l4 + portOff);
  if (partial) {
    c = ~update128(~c & 0xffff, field, newAddr) & 0xffff;
  } else {
    c = update128(c, field, newAddr);
    c = update16(c, oldPort, newPort);
    if (proto == Proto.UDP) c = udpNonZero(c);
  }
  store<u16>(l4 + csumOff, <u16>c);
  store<u16>(l4 + portOff, <u16>newPort);
  store<u64>(field, load<u64>(newAddr));
  store<u64>(field, load<u64>(newAddr, 8), 8);
}
