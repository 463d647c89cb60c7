// wasmvs's maglev written again for tests, without the engine's code: Katran's
// MaglevHashV2 (katran/lib/MaglevHashV2.cpp, MaglevBase.cpp) over the servers of weight > 0
// taken in ascending order of identity (address << 16 | port), and a flow's slot
// MurmurHash3(saddr << 32 | daddr, proto << 32 | sport << 16 | dport) mod M.

export const M = 65537;
const MASK = (1n << 64n) - 1n;
const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & MASK;
const fmix = (k: bigint) => {
  k ^= k >> 33n; k = (k * 0xff51afd7ed558ccdn) & MASK;
  k ^= k >> 33n; k = (k * 0xc4ceb9fe1a85ec53n) & MASK;
  return k ^ (k >> 33n);
};
/** Katran's MurmurHash3_x64_64(A, B, seed): MurmurHash3_x64_128's first half over the 16
 *  bytes A, B (little-endian). */
export function murmur(a: bigint, b: bigint, seed: number): bigint {
  const c1 = 0x87c37b91114253d5n, c2 = 0x4cf5ad432745937fn;
  let h1 = BigInt(seed), h2 = BigInt(seed);
  let k1 = (a * c1) & MASK; k1 = rotl(k1, 31n); k1 = (k1 * c2) & MASK; h1 ^= k1;
  h1 = rotl(h1, 27n); h1 = (h1 + h2) & MASK; h1 = (h1 * 5n + 0x52dce729n) & MASK;
  let k2 = (b * c2) & MASK; k2 = rotl(k2, 33n); k2 = (k2 * c1) & MASK; h2 ^= k2;
  h2 = rotl(h2, 31n); h2 = (h2 + h1) & MASK; h2 = (h2 * 5n + 0x38495ab5n) & MASK;
  h1 ^= 16n; h2 ^= 16n; h1 = (h1 + h2) & MASK; h2 = (h2 + h1) & MASK;
  h1 = fmix(h1); h2 = fmix(h2);
  return (h1 + h2) & MASK;
}
export const ipNum = (a: string) => a.split(".").reduce((x, o) => x * 256 + Number(o), 0);

export interface Server { addr: string; port: number; weight: number }
export const name = (s: Server) => `${s.addr}:${s.port}`;

/** MaglevHashV2::generateHashRing over the servers of weight > 0, sorted by identity. */
export function model(servers: Server[], m = M): (string | null)[] {
  const eps = servers.filter((s) => s.weight > 0)
    .map((s) => ({ s, id: (BigInt(ipNum(s.addr)) << 16n) | BigInt(s.port) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const out: (string | null)[] = new Array(m).fill(null);
  if (eps.length === 0) return out;
  if (eps.length === 1) return out.fill(name(eps[0].s));
  const maxW = Math.max(...eps.map((e) => e.s.weight));
  const st = eps.map((e) => ({
    e, offset: Number(murmur(e.id, 42n, 0) % BigInt(m)), skip: Number(murmur(e.id, 2718281828n, 2307) % BigInt(m - 1)) + 1, next: 0, cum: 0,
  }));
  let runs = 0;
  for (;;) {
    for (const x of st) {
      x.cum += x.e.s.weight;
      if (x.cum < maxW) continue;
      x.cum -= maxW;
      // uint32 arithmetic, as Katran's.
      let cur = ((x.offset + Math.imul(x.next, x.skip)) >>> 0) % m;
      while (out[cur] !== null) { x.next++; cur = ((x.offset + Math.imul(x.next, x.skip)) >>> 0) % m; }
      out[cur] = name(x.e.s);
      x.next++;
      if (++runs === m) return out;
    }
  }
}

/** The slot of a flow (addresses dotted, ports and protocol numbers). */
export function flowSlot(saddr: string, daddr: string, sport: number, dport: number, proto: number, m = M): number {
  return Number(murmur((BigInt(ipNum(saddr)) << 32n) | BigInt(ipNum(daddr)), (BigInt(proto) << 32n) | (BigInt(sport) << 16n) | BigInt(dport), 0) % BigInt(m));
}
