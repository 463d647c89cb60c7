// The IPv6 side of the tunnels IPVS's TUN method sends (ip_vs_xmit.c,
// ip_vs_tunnel_xmit_v6 and, for mixed families, ip_vs_tunnel_xmit with an IPv6 inner
// packet): an outer IPv6 header with next header 41 (IPv6 in IPv6, RFC 2473) or 4
// (IPv4 in IPv6), or an outer IPv4 header with protocol 41 (IPv6 in IPv4, RFC 4213).
// Only the decapsulator (assembly/decap.ts) reads these; the engine's IPv6 gate is
// wire/ipv6.ts. Offsets are the fixed header's (RFC 8200 section 3).

@inline export const IP6_HEADER_LEN: u32 = 40;
@inline export const NH_IPIP: u32 = 4;
@inline export const NH_IPV6: u32 = 41;
@inline export const NH_FRAGMENT: u32 = 44;
@inline export const NH_DEST_OPTS: u32 = 60;

@inline export function ip6Version(ip: usize): u32 { return <u32>load<u8>(ip) >> 4; }
@inline export function ip6PayloadLen(ip: usize): u32 { return (<u32>load<u8>(ip, 4) << 8) | <u32>load<u8>(ip, 5); }
@inline export function ip6NextHeader(ip: usize): u32 { return <u32>load<u8>(ip, 6); }
/** The destination address (16 bytes at 24) as two u64 loads, for comparing. */
@inline export function ip6DstHi(ip: usize): u64 { return load<u64>(ip, 24); }
@inline export function ip6DstLo(ip: usize): u64 { return load<u64>(ip, 32); }

/** The Traffic Class (the IPv4 TOS's counterpart: DSCP and ECN), bits 4-11 of the header. */
@inline export function ip6TrafficClass(ip: usize): u32 {
  return ((<u32>load<u8>(ip) & 0x0f) << 4) | (<u32>load<u8>(ip, 1) >> 4);
}

/** Set the Traffic Class, keeping the version and the flow label (no checksum in IPv6). */
@inline export function ip6SetTrafficClass(ip: usize, tc: u32): void {
  store<u8>(ip, <u8>(0x60 | (tc >> 4)));
  store<u8>(ip, <u8>(((tc & 0x0f) << 4) | (<u32>load<u8>(ip, 1) & 0x0f)), 1);
}

/** An inner IPv6 packet of exactly avail bytes that is well-formed: version 6 and a
 *  payload length that accounts for every byte the tunnel carried (RFC 2473 section 3:
 *  the inner packet is the tunnel packet's whole payload). */
@inline export function ip6InnerWellFormed(ip: usize, avail: u32): bool {
  return avail >= IP6_HEADER_LEN && ip6Version(ip) == 6 && ip6PayloadLen(ip) + IP6_HEADER_LEN == avail;
}
