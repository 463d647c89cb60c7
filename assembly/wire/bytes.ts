// Byte order in one place. Packet fields stay in wire (big-endian) order in memory;
// the engine compares them against constants pre-swapped with the helpers below,
// and swaps only where arithmetic needs host order (schedulers' hashes, lengths).

/** Swap a 16-bit value (host <-> network order). */
@inline export function bswap16(v: u32): u32 {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

/** Swap a 32-bit value (host <-> network order). */
@inline export function bswap32(v: u32): u32 {
  return (v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

/** Big-endian u16 at ptr, in host order. */
@inline export function loadBe16(ptr: usize): u32 {
  return (<u32>load<u8>(ptr) << 8) | <u32>load<u8>(ptr, 1);
}

/** Store a host-order value as big-endian u16. */
@inline export function storeBe16(ptr: usize, v: u32): void {
  store<u8>(ptr, <u8>(v >>> 8));
  store<u8>(ptr, <u8>v, 1);
}

/** Big-endian u32 at ptr, in host order. */
@inline export function loadBe32(ptr: usize): u32 {
  return bswap32(load<u32>(ptr));
}

/** Store a host-order value as big-endian u32. */
@inline export function storeBe32(ptr: usize, v: u32): void {
  store<u32>(ptr, bswap32(v));
}

/** Copy a 6-byte MAC address. */
@inline export function copyMac(dst: usize, src: usize): void {
  store<u32>(dst, load<u32>(src));
  store<u16>(dst, load<u16>(src, 4), 4);
}

/** Compare two 6-byte MAC addresses. */
@inline export function macEquals(a: usize, b: usize): bool {
  return load<u32>(a) == load<u32>(b) && load<u16>(a, 4) == load<u16>(b, 4);
}
