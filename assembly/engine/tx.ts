// Frames out: every call starts with an empty TX descriptor list; forwarded frames
// point into their RX slot, frames the engine builds go into per-call scratch slots.

import { Abi, Counter, TxDesc } from "../abi";
import { vnetClear } from "../wire/vnet";
import { countN, vnet, scratchBase, scratchSlots, slotSize, txCapacity, txDescBase } from "./state";

let txCount: u32 = 0;
let scratchUsed: u32 = 0;

export function txBegin(): void {
  txCount = 0;
  scratchUsed = 0;
}

/** End of a call: count what it hands to the host. */
export function txEnd(): u32 {
  countN(Counter.TX_FRAMES, txCount);
  return txCount;
}

/** Queue a frame for transmission. False if the TX list is full (the caller counts). */
@inline export function txPush(frame: usize, len: u32, ifindex: u32): bool {
  if (txCount >= txCapacity) return false;
  let d = txDescBase + (<usize>txCount << 4);
  store<u32>(d, <u32>frame, TxDesc.PTR);
  store<u32>(d, len, TxDesc.LEN);
  store<u32>(d, ifindex, TxDesc.IFINDEX);
  store<u32>(d, 0, 12);
  txCount++;
  return true;
}

/** A scratch frame for this call (its first byte after the headroom), or 0 if none is left. */
@inline export function scratchTake(): usize {
  if (scratchUsed >= scratchSlots) return 0;
  let p = scratchBase + <usize>scratchUsed * <usize>slotSize + <usize>Abi.HEADROOM;
  scratchUsed++;
  if (vnet) vnetClear(p);
  return p;
}
