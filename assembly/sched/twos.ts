// Weighted random twos choice (ip_vs_twos.c): two servers drawn at random in proportion to
// their weights, the one with the smaller overhead / weight taken (cross-multiplied, the
// first drawn on a tie). The draws come from the engine's own generator (xorshift32,
// seeded by the host), where the kernel uses get_random_u32_below.

import { destNext, destOverloaded, destWeight, NONE, svcHead } from "../svc/service";
import { connOverhead } from "./lc";

let state: u32 = 0x9e3779b9;

/** A seed for the draws (never 0, which xorshift cannot leave). */
export function twosSeed(seed: u32): void { state = seed != 0 ? seed : 0x9e3779b9; }

/** A number in [0, n): xorshift32, then the high half of the 64-bit product (Lemire). */
function below(n: u32): u32 {
  let x = state;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  state = x;
  return <u32>((<u64>x * <u64>n) >>> 32);
}

export function scheduleTwos(s: u32): u32 {
  let total: i64 = 0;
  let any = NONE;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    if (!destOverloaded(d) && destWeight(d) > 0) { total += destWeight(d); any = d; }
  }
  if (any == NONE) return NONE;
  // Inclusive of the total, as the kernel adds 1.
  let r1 = <i64>below(<u32>(total + 1));
  let r2 = <i64>below(<u32>(total + 1));
  let c1 = any;
  let c2 = NONE;
  let w1: i64 = -1;
  let w2: i64 = -1;
  let oh1: i64 = 0;
  let oh2: i64 = 0;
  for (let d = svcHead(s); d != NONE; d = destNext(d)) {
    if (destOverloaded(d)) continue;
    let w = <i64>destWeight(d);
    if (w <= 0) continue;
    r1 -= w;
    r2 -= w;
    if (r1 <= 0 && w1 == -1) { c1 = d; w1 = w; oh1 = <i64>connOverhead(d); }
    if (r2 <= 0 && w2 == -1) { c2 = d; w2 = w; oh2 = <i64>connOverhead(d); }
    if (w1 != -1 && w2 != -1) break;
  }
  if (c2 != NONE && w2 * oh1 > w1 * oh2) c1 = c2;
  return c1;
}
