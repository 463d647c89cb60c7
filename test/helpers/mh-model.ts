// ip_vs_mh.c written again, for tests: the kernel's hsiphash on 64-bit (SipHash-1-3,
// truncated to 32 bits; lib/siphash.c) with ip_vs_mh's fixed keys, each server's
// permutation, and the population in rounds by last_weight / gcd. Used by the scheduler
// tests against the engine and by the end-to-end test against real connections.

/** A server as the table needs it: address, port (all servers of a service share one here),
 *  and IPVS's last_weight. The list is in the service's order (the last added first). */
export interface MhServer { addr: string; lastWeight: number }

const MASK = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & MASK;
export function hsiphash32(v: number, k: bigint, k1 = k): number {
  let v0 = 0x736f6d6570736575n ^ k, v1 = 0x646f72616e646f6dn ^ k1, v2 = 0x6c7967656e657261n ^ k, v3 = 0x7465646279746573n ^ k1;
  const round = () => {
    v0 = (v0 + v1) & MASK; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & MASK; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & MASK; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const b = (4n << 56n) | BigInt(v >>> 0);
  v3 ^= b; round(); v0 ^= b; v2 ^= 0xffn; round(); round(); round();
  return Number((v0 ^ v1 ^ v2 ^ v3) & 0xffffffffn);
}
export const MH_SIZE = 4093;
/** ip_vs_mh.c's primes, for CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17. */
export const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
export const MH_K1 = 2654435761n;
export const MH_K2 = 2654446892n;
const ipNum = (a: string) => a.split(".").reduce((x, o) => x * 256 + Number(o), 0);
export const mhKey = (addr: string, port: number, k: bigint, offset: number) => hsiphash32((offset + port + ipNum(addr)) >>> 0, k);
export function mhTable<D extends MhServer>(list: D[], port: number, size = MH_SIZE): (D | null)[] {
  const bits = (MH_PRIMES.indexOf(size) + 8) >> 1;
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  let g = 0;
  let maxw = 0;
  for (const d of list) { if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight; maxw = Math.max(maxw, d.lastWeight); }
  const table: (D | null)[] = new Array(size).fill(null);
  if (g < 1) return table;
  const fls = (x: number) => (x === 0 ? 0 : 32 - Math.clz32(x));
  const rshift = Math.max(0, fls(Math.floor(maxw / g)) - bits);
  const ds = list.map((d) => {
    const offset = mhKey(d.addr, port, MH_K1, 0) % size;
    const turns = (Math.floor(d.lastWeight / g) >> rshift) || (d.lastWeight !== 0 ? 1 : 0);
    return { d, skip: (mhKey(d.addr, port, MH_K2, 0) % (size - 1)) + 1, perm: offset, turns };
  });
  const taken = new Array(size).fill(false);
  let n = 0;
  let dt = 0;
  for (;;) {
    for (let i = 0; i < ds.length;) {
      const x = ds[i];
      if (x.turns < 1) { i++; continue; }
      let c = x.perm;
      while (taken[c]) { c += x.skip; if (c >= size) c -= size; }
      x.perm = c;
      taken[c] = true;
      table[c] = x.d;
      if (++n === size) return table;
      if (++dt >= x.turns) { dt = 0; i++; }
    }
  }
}

/** The server the kernel's mh picks for a client (no fallback): mh-port hashes its port too. */
export function mhPick<D extends MhServer>(table: (D | null)[], client: string, clientPort: number, mhPort: boolean): D | null {
  return table[mhKey(client, mhPort ? clientPort : 0, MH_K1, 0) % table.length];
}
