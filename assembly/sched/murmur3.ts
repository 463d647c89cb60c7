// MurmurHash3's x64 mixing over exactly two 64-bit words, as Katran's MurmurHash3_x64_64
// (katran/lib/MurmurHash3.cpp) computes it: one 16-byte block (k1 = a, k2 = b), length 16,
// both halves finalised with fmix64 and h1 + h2 returned. Maglev mode derives each server's
// offset and skip, and each flow's table slot, from it; no random key, so that every
// director computes the same values.

@inline function rotl64(x: u64, r: u64): u64 { return (x << r) | (x >>> (64 - r)); }

@inline function fmix64(k: u64): u64 {
  k ^= k >>> 33;
  k *= 0xff51afd7ed558ccd;
  k ^= k >>> 33;
  k *= 0xc4ceb9fe1a85ec53;
  k ^= k >>> 33;
  return k;
}

export function murmur3x64(a: u64, b: u64, seed: u32): u64 {
  const c1: u64 = 0x87c37b91114253d5;
  const c2: u64 = 0x4cf5ad432745937f;
  let h1: u64 = <u64>seed;
  let h2: u64 = <u64>seed;
  let k1 = a * c1;
  k1 = rotl64(k1, 31);
  k1 *= c2;
  h1 ^= k1;
  h1 = rotl64(h1, 27);
  h1 += h2;
  h1 = h1 * 5 + 0x52dce729;
  let k2 = b * c2;
  k2 = rotl64(k2, 33);
  k2 *= c1;
  h2 ^= k2;
  h2 = rotl64(h2, 31);
  h2 += h1;
  h2 = h2 * 5 + 0x38495ab5;
  h1 ^= 16;
  h2 ^= 16;
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  return h1 + h2;
}
