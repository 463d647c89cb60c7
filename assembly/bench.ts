// The engine plus one benchmark helper (wasm/bench.wasm): refilling RX slots from
// frame templates kept in the reserved region, the way the TAP addon writes frames
// straight into the slots — a memcpy per frame, no JavaScript per frame.

export * from "./index";
import { Abi, RxDesc } from "./abi";
import { batchSize, rxDescBase, rxSlotsBase, slotSize } from "./engine/state";

/** Fill RX slots 0..n-1 with templates first, first+1, ... (mod count): hdrLen bytes
 *  from templates + t * stride, then frameLen - hdrLen bytes from payload. Returns the
 *  next template index. */
export function benchRefill(templates: usize, stride: u32, hdrLen: u32, first: u32, count: u32, n: u32,
  frameLen: u32, payload: usize, ifindex: u32): u32 {
  if (n > batchSize) n = batchSize;
  let t = first;
  let slot = rxSlotsBase + <usize>Abi.HEADROOM;
  let desc = rxDescBase;
  for (let i: u32 = 0; i < n; i++) {
    // Headers are copied 8 bytes at a time (gcc inlines the C baseline's memcpy the same
    // way); memory.copy is a call into the runtime and costs more for 54 bytes.
    let src = templates + <usize>t * <usize>stride;
    for (let k: usize = 0; k < <usize>hdrLen; k += 8) store<u64>(slot + k, load<u64>(src + k));
    if (frameLen > hdrLen) memory.copy(slot + hdrLen, payload, frameLen - hdrLen);
    store<u32>(desc, frameLen, RxDesc.LEN);
    store<u32>(desc, ifindex, RxDesc.IFINDEX);
    slot += <usize>slotSize;
    desc += <usize>Abi.DESC_SIZE;
    if (++t == count) t = 0;
  }
  return t;
}

// ---- schedulers (bench/sched.bench.ts) ---------------------------------------------------
import { schedule } from "./sched/index";
import { maglevBuild } from "./sched/maglev";
import { mhAssign } from "./sched/mh";
import { NONE } from "./svc/service";

/** Schedule n new TCP flows to daddr:dport from a xorshift32 stream of client addresses and
 *  ports (no connection is made); with out != 0 the chosen server of flow i (u32 index,
 *  0xffffffff for none) is written at out + 4i. Returns a sum of the choices (keeps the work). */
export function benchSchedule(s: u32, n: u32, seed: u32, daddrWire: u32, dportWire: u32, out: usize): u32 {
  let x = seed != 0 ? seed : 1;
  let acc: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    let saddr = x;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    let d = schedule(s, saddr, daddrWire, x & 0xffff, dportWire, 6);
    if (out != 0) store<u32>(out + (<usize>i << 2), d == NONE ? 0xffffffff : d);
    acc += d;
  }
  return acc;
}

/** Rebuild service s's maglev table (or mh table) as a change of its servers would. */
export function benchMaglevBuild(s: u32): void { maglevBuild(s); }
export function benchMhBuild(s: u32): void { mhAssign(s); }
