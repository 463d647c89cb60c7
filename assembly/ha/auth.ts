// Authenticated connection sync (beyond IPVS; off unless a key is set): HMAC-SHA256
// (RFC 2104, FIPS 180-4) over each sync message, sent as a 32-byte trailer after the
// message (the message's own size field does not count it, so a kernel IPVS backup drops
// such a datagram as of a bogus size, and a wasmvs backup with no key likewise). Written
// here because the engine is one wasm module: the AssemblyScript SHA-256 on npm
// (@chainsafe/as-sha256) ships compiled, not as source to build in. Checked against
// node:crypto in test/sync-guard.test.ts. Sync messages only: never on the per-packet path.

@inline export const MAC_LEN: u32 = 32;
@inline const BLOCK: u32 = 64;

const K: usize = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV: usize = memory.data<u32>([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

/** The message schedule, a padded last block, a hash state, the two keyed states. */
const W: usize = memory.data(256);
const PAD: usize = memory.data(128);
const STATE: usize = memory.data(32);
const INNER: usize = memory.data(32);
const OUTER: usize = memory.data(32);
const DIGEST: usize = memory.data(32);
const KEYBLOCK: usize = memory.data(64);
const CHECK: usize = memory.data(32);

export let authKeyed = false;

@inline function rotr(x: u32, n: u32): u32 { return (x >>> n) | (x << (32 - n)); }
@inline function be32(p: usize): u32 { return bswap<u32>(load<u32>(p)); }

/** One 64-byte block at p into the state at s (FIPS 180-4 6.2.2). */
function compress(s: usize, p: usize): void {
  for (let t: usize = 0; t < 16; t++) store<u32>(W + (t << 2), be32(p + (t << 2)));
  for (let t: usize = 16; t < 64; t++) {
    let w15 = load<u32>(W + ((t - 15) << 2));
    let w2 = load<u32>(W + ((t - 2) << 2));
    let s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
    let s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
    store<u32>(W + (t << 2), load<u32>(W + ((t - 16) << 2)) + s0 + load<u32>(W + ((t - 7) << 2)) + s1);
  }
  let a = load<u32>(s), b = load<u32>(s, 4), c = load<u32>(s, 8), d = load<u32>(s, 12);
  let e = load<u32>(s, 16), f = load<u32>(s, 20), g = load<u32>(s, 24), h = load<u32>(s, 28);
  for (let t: usize = 0; t < 64; t++) {
    let t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + load<u32>(K + (t << 2)) + load<u32>(W + (t << 2));
    let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  store<u32>(s, load<u32>(s) + a); store<u32>(s, load<u32>(s, 4) + b, 4); store<u32>(s, load<u32>(s, 8) + c, 8); store<u32>(s, load<u32>(s, 12) + d, 12);
  store<u32>(s, load<u32>(s, 16) + e, 16); store<u32>(s, load<u32>(s, 20) + f, 20); store<u32>(s, load<u32>(s, 24) + g, 24); store<u32>(s, load<u32>(s, 28) + h, 28);
}

/** Hash len bytes at p into the state at s, which has already taken `before` bytes (a
 *  multiple of 64); the digest (big-endian) goes to out. */
function finish(s: usize, p: usize, len: u32, before: u32, out: usize): void {
  let at = p;
  let left = len;
  while (left >= BLOCK) { compress(s, at); at += BLOCK; left -= BLOCK; }
  memory.fill(PAD, 0, 128);
  memory.copy(PAD, at, left);
  store<u8>(PAD + left, 0x80);
  let blocks: u32 = left + 9 <= BLOCK ? 1 : 2;
  let bits = (<u64>before + <u64>len) << 3;
  store<u64>(PAD + (blocks << 6) - 8, bswap<u64>(bits));
  compress(s, PAD);
  if (blocks == 2) compress(s, PAD + BLOCK);
  for (let i: usize = 0; i < 8; i++) store<u32>(out + (i << 2), bswap<u32>(load<u32>(s + (i << 2))));
}

/** SHA-256 of len bytes at p into out (32 bytes). */
export function sha256(p: usize, len: u32, out: usize): void {
  memory.copy(STATE, IV, 32);
  finish(STATE, p, len, 0, out);
}

/** The key (at most 64 bytes; the host hashes a longer one first, as RFC 2104 says), or
 *  none (len 0): authentication off. The keyed inner and outer states are kept. */
export function authSetKey(p: usize, len: u32): bool {
  if (len > BLOCK) return false;
  authKeyed = len != 0;
  memory.fill(KEYBLOCK, 0, BLOCK);
  if (len == 0) return true;
  memory.copy(KEYBLOCK, p, len);
  for (let i: usize = 0; i < BLOCK; i++) store<u8>(W + i, load<u8>(KEYBLOCK + i) ^ 0x36);
  memory.copy(INNER, IV, 32);
  memory.copy(PAD, W, BLOCK);
  compress(INNER, PAD);
  for (let i: usize = 0; i < BLOCK; i++) store<u8>(PAD + i, load<u8>(KEYBLOCK + i) ^ 0x5c);
  memory.copy(OUTER, IV, 32);
  compress(OUTER, PAD);
  memory.fill(KEYBLOCK, 0, BLOCK);
  return true;
}

/** HMAC-SHA256 of len bytes at p under the key, into out (32 bytes). */
export function authMac(p: usize, len: u32, out: usize): void {
  memory.copy(STATE, INNER, 32);
  finish(STATE, p, len, BLOCK, DIGEST);
  memory.copy(STATE, OUTER, 32);
  finish(STATE, DIGEST, MAC_LEN, BLOCK, out);
}

/** Whether the 32 bytes at mac are the HMAC of len bytes at p; every byte compared (no
 *  early exit that would tell a forger how many bytes it got right). */
export function authVerify(p: usize, len: u32, mac: usize): bool {
  authMac(p, len, CHECK);
  let diff: u32 = 0;
  for (let i: usize = 0; i < MAC_LEN; i++) diff |= <u32>(load<u8>(CHECK + i) ^ load<u8>(mac + i));
  return diff == 0;
}
