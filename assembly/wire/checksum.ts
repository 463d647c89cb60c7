// All checksum arithmetic of the engine: the Internet checksum (RFC 1071), the
// TCP/UDP pseudo-header, incremental updates (RFC 1624, eqn. 3) and the UDP
// zero-checksum rule (RFC 768). Forwarding code calls the named helpers in the
// wire/ files, never this arithmetic directly.
//
// Sums are computed over the raw little-endian loads of big-endian data: the
// ones'-complement sum is byte-order independent (RFC 1071 section 2(B)), so a
// checksum computed this way is stored back with a plain store<u16>.

/** Ones'-complement sum of len bytes at ptr, added to sum (not folded). */
export function sum(ptr: usize, len: usize, initial: u64): u64 {
  let acc: u64 = initial;
  let p = ptr;
  let end = ptr + (len & ~7);
  while (p < end) {
    let w = load<u64>(p);
    acc += (w & 0xffffffff) + (w >>> 32);
    p += 8;
  }
  let rest = len & 7;
  if (rest >= 4) { acc += <u64>load<u32>(p); p += 4; rest -= 4; }
  if (rest >= 2) { acc += <u64>load<u16>(p); p += 2; rest -= 2; }
  if (rest) acc += <u64>load<u8>(p);
  return acc;
}

/** Fold a 64-bit accumulator to 16 bits (not complemented). */
@inline export function fold(acc: u64): u32 {
  acc = (acc & 0xffffffff) + (acc >>> 32);
  acc = (acc & 0xffffffff) + (acc >>> 32);
  let s = <u32>(acc & 0xffff) + <u32>(acc >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** The checksum of a 20-byte IPv4 header (no options), ready to compare or store. */
@inline export function checksum20(p: usize): u32 {
  let a = load<u64>(p);
  let b = load<u64>(p, 8);
  let acc: u64 = (a & 0xffffffff) + (a >>> 32) + (b & 0xffffffff) + (b >>> 32) + <u64>load<u32>(p, 16);
  return ~fold(acc) & 0xffff;
}

/** The Internet checksum of len bytes at ptr, ready to store (complemented). */
export function checksum(ptr: usize, len: usize): u32 {
  return ~fold(sum(ptr, len, 0)) & 0xffff;
}

/** Sum of the IPv4 pseudo-header (RFC 793 section 3.1, RFC 768): addresses in wire
 *  order, protocol, and the L4 length in host order. */
@inline export function pseudoHeaderSum(srcWire: u32, dstWire: u32, proto: u32, l4len: u32): u64 {
  // proto and length are big-endian 16-bit words: swap them into the wire layout.
  return <u64>(srcWire & 0xffff) + <u64>(srcWire >>> 16) + <u64>(dstWire & 0xffff) +
    <u64>(dstWire >>> 16) + <u64>((proto & 0xff) << 8) + <u64>(((l4len & 0xff) << 8) | ((l4len >>> 8) & 0xff));
}

/** Full TCP/UDP checksum over the pseudo-header and len bytes at l4, ready to store. */
export function transportChecksum(srcWire: u32, dstWire: u32, proto: u32, l4: usize, len: u32): u32 {
  return ~fold(sum(l4, len, pseudoHeaderSum(srcWire, dstWire, proto, len))) & 0xffff;
}

/** RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit field changing from m to m'
 *  (all in the same byte order as stored). */
@inline export function update16(check: u32, oldWord: u32, newWord: u32): u32 {
  let s: u32 = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** update16 for a message that may be all zeros after the change (its checksum field
 *  aside): len bytes at ptr, already holding the new word, with the checksum at csumOff.
 *  Eqn. 3 gives 0x0000 whenever the new sum is zero, taking it to be -0 (0xffff): right
 *  when some byte is nonzero, which RFC 1624 section 3 can count on in an IP header (the
 *  version) and a TCP/UDP pseudo-header (the protocol). All-zero data sums to +0, and its
 *  checksum is 0xffff (an ICMP echo reply with identifier 0, sequence 0 and no data). So
 *  a 0x0000 (one result in 65,536) is checked against the bytes. */
export function update16Zeroable(check: u32, oldWord: u32, newWord: u32, ptr: usize, len: usize, csumOff: usize): u32 {
  let c = update16(check, oldWord, newWord);
  if (c != 0) return c;
  for (let k: usize = 0; k < len; k++) {
    if (k - csumOff >= 2 && load<u8>(ptr + k) != 0) return 0;
  }
  return 0xffff;
}

/** RFC 1624 for a 32-bit field (an address): two 16-bit updates in one fold. */
@inline export function update32(check: u32, oldWord: u32, newWord: u32): u32 {
  let s: u32 = (~check & 0xffff) + (~oldWord & 0xffff) + (~oldWord >>> 16) +
    (newWord & 0xffff) + (newWord >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** UDP (RFC 768): a computed checksum of 0 is sent as 0xffff, since 0 means "none". */
@inline export function udpNonZero(check: u32): u32 {
  return check == 0 ? 0xffff : check;
}

/** Sum of the IPv6 pseudo-header (RFC 8200 section 8.1): the 16-byte source and
 *  destination at src and dst, the 32-bit upper-layer length and the next header (host
 *  order), each word as the raw loads see it. */
@inline export function pseudoHeaderSum6(src: usize, dst: usize, nextHeader: u32, len: u32): u64 {
  let a0 = load<u64>(src);
  let a1 = load<u64>(src, 8);
  let b0 = load<u64>(dst);
  let b1 = load<u64>(dst, 8);
  return (a0 & 0xffffffff) + (a0 >>> 32) + (a1 & 0xffffffff) + (a1 >>> 32) +
    (b0 & 0xffffffff) + (b0 >>> 32) + (b1 & 0xffffffff) + (b1 >>> 32) +
    <u64>(((len & 0xff) << 8) | ((len >>> 8) & 0xff)) + <u64>(((len >>> 8) & 0xff00) | (len >>> 24)) +
    <u64>((nextHeader & 0xff) << 8);
}

/** Full upper-layer checksum over the IPv6 pseudo-header and len bytes at l4 (ICMPv6,
 *  TCP, UDP over IPv6), ready to store; 0 when checking a message that carries its own. */
export function transportChecksum6(src: usize, dst: usize, nextHeader: u32, l4: usize, len: u32): u32 {
  return ~fold(sum(l4, len, pseudoHeaderSum6(src, dst, nextHeader, len))) & 0xffff;
}

/** RFC 1624 for a 128-bit field (an IPv6 address in a pseudo-header) changing from the
 *  16 bytes at oldAddr to those at newAddr (read before either is overwritten). */
@inline export function update128(check: u32, oldAddr: usize, newAddr: usize): u32 {
  check = update32(check, load<u32>(oldAddr), load<u32>(newAddr));
  check = update32(check, load<u32>(oldAddr, 4), load<u32>(newAddr, 4));
  check = update32(check, load<u32>(oldAddr, 8), load<u32>(newAddr, 8));
  return update32(check, load<u32>(oldAddr, 12), load<u32>(newAddr, 12));
}
