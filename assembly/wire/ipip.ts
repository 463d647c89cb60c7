// IP in IP encapsulation (RFC 2003): an outer IPv4 header with protocol 4 in front of
// the original datagram. ECN follows RFC 6040's normal mode: the outer header copies
// the inner DSCP and ECN, except that CE is not copied (ECT(0) is sent instead), and
// a decapsulator that finds CE on the outer header of an ECN-capable inner packet
// marks the inner one CE.

import { Ipv4Field, ipv4Emit, ipv4HeaderChecksum, ipv4Ihl, IPV4_DF_WIRE, IPV4_HEADER_LEN } from "./ipv4";
import { Proto } from "../abi";

@inline const ECN_MASK: u32 = 3;
@inline const ECN_ECT0: u32 = 2;
@inline const ECN_CE: u32 = 3;

/** RFC 6040 section 4.1, normal mode: the outer TOS for an inner TOS. */
@inline export function ipipOuterTos(innerTos: u32): u32 {
  return (innerTos & ECN_MASK) == ECN_CE ? (innerTos & ~ECN_MASK) | ECN_ECT0 : innerTos;
}

/** Write the outer header at outer, in front of the inner datagram that starts at
 *  outer + 20. TTL and DF are copied from the inner header (as IPVS's tunnel xmit). */
export function ipipEncapsulate(outer: usize, id: u32, src: u32, dst: u32): void {
  let inner = outer + IPV4_HEADER_LEN;
  let innerLen = (<u32>load<u8>(inner, Ipv4Field.TOTAL_LEN) << 8) | <u32>load<u8>(inner, Ipv4Field.TOTAL_LEN + 1);
  let df = <u32>load<u16>(inner, Ipv4Field.FLAGS_FRAG) & IPV4_DF_WIRE;
  ipv4Emit(outer, ipipOuterTos(<u32>load<u8>(inner, Ipv4Field.TOS)), innerLen + IPV4_HEADER_LEN, id, df,
    <u32>load<u8>(inner, Ipv4Field.TTL), Proto.IPIP, src, dst);
}

/** RFC 6040 section 4.2: the inner TOS after decapsulation, or -1 if the
 *  combination must be dropped (outer CE on a Not-ECT inner packet). */
export function ipipDecapsulatedTos(outerTos: u32, innerTos: u32): i32 {
  let outerEcn = outerTos & ECN_MASK;
  let innerEcn = innerTos & ECN_MASK;
  if (outerEcn == ECN_CE) {
    if (innerEcn == 0) return -1;
    return <i32>(innerTos | ECN_CE);
  }
  return <i32>innerTos;
}

/** Set the TOS of an IPv4 header and recompute its checksum (decapsulation). */
export function ipv4SetTos(ip: usize, tos: u32): void {
  store<u8>(ip, <u8>tos, Ipv4Field.TOS);
  ipv4HeaderChecksum(ip, ipv4Ihl(ip));
}
