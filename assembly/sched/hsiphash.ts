// The kernel's hsiphash of one 32-bit word as a 64-bit kernel computes it (lib/siphash.c:
// on 64-bit, "HalfSipHash1-3" is SipHash-1-3 over 64-bit lanes, the result truncated to
// 32 bits): ip_vs_mh hashes servers and clients with it, so the same keys give the same
// table as the kernel's.

@inline function rotl(x: u64, b: u64): u64 { return (x << b) | (x >>> (64 - b)); }

/** hsiphash(&v, 4, {k0, k1}) for a little-endian u32 v. */
export function hsiphash32(v: u32, k0: u64, k1: u64): u32 {
  let v0: u64 = 0x736f6d6570736575 ^ k0;
  let v1: u64 = 0x646f72616e646f6d ^ k1;
  let v2: u64 = 0x6c7967656e657261 ^ k0;
  let v3: u64 = 0x7465646279746573 ^ k1;
  // No full 8-byte word; the 4 bytes and the length (4 << 56) make the last block.
  let b: u64 = (<u64>4 << 56) | <u64>v;
  v3 ^= b;
  // SIPROUND, once (c = 1) ...
  v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
  v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
  v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
  v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  v0 ^= b;
  v2 ^= 0xff;
  // ... then three times (d = 3).
  for (let i = 0; i < 3; i++) {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
  return <u32>((v0 ^ v1) ^ (v2 ^ v3));
}
