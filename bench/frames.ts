// Frames the engine benchmarks feed it, built once into engine memory (bench/engine.bench.ts,
// bench/control.bench.ts).

/** A 54-byte Ethernet/IPv4/TCP header for a frame of `bytes` bytes (valid IPv4 checksum). */
export function writeHeader(m: Uint8Array, at: number, dmac: number[], smac: number[], src: number[], dst: number[], sport: number, dport: number, flags: number, bytes: number): void {
  m.set(dmac, at);
  m.set(smac, at + 6);
  m[at + 12] = 8;
  m[at + 13] = 0;
  const h = at + 14;
  m.fill(0, h, h + 40);
  const tot = bytes - 14;
  m[h] = 0x45;
  m[h + 2] = tot >> 8;
  m[h + 3] = tot & 255;
  m[h + 8] = 64;
  m[h + 9] = 6;
  m.set(src, h + 12);
  m.set(dst, h + 16);
  let s = 0;
  for (let k = 0; k < 20; k += 2) s += (m[h + k] << 8) | m[h + k + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  m[h + 10] = (~s >> 8) & 255;
  m[h + 11] = ~s & 255;
  const t = h + 20;
  m[t] = sport >> 8; m[t + 1] = sport & 255; m[t + 2] = dport >> 8; m[t + 3] = dport & 255;
  m[t + 12] = 0x50;
  m[t + 13] = flags;
}
