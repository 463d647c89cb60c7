// The engine's global state: where each region of linear memory starts (laid out
// once by init(), see layout.ts), the clock of the current call, and the counters.

import { Counter } from "../abi";

// Region bases and sizes, set by layout().
export let initialised = false;
export let batchSize: u32 = 0;
export let slotSize: u32 = 0;
export let rxDescBase: usize = 0;
export let rxSlotsBase: usize = 0;
export let txDescBase: usize = 0;
export let txCapacity: u32 = 0;
export let countersBase: usize = 0;
export let scratchBase: usize = 0;
export let scratchSlots: u32 = 0;
export let queueBase: usize = 0;

export function setLayout(batch: u32, slot: u32, rxDesc: usize, rxSlots: usize, txDesc: usize, txCap: u32,
  counters: usize, scratch: usize, nScratch: u32, queue: usize): void {
  batchSize = batch; slotSize = slot; rxDescBase = rxDesc; rxSlotsBase = rxSlots; txDescBase = txDesc;
  txCapacity = txCap; countersBase = counters; scratchBase = scratch; scratchSlots = nScratch; queueBase = queue;
  initialised = true;
}

/** Vnet mode: every frame has a virtio-net header in the 10 bytes before it (TAPs
 *  opened with IFF_VNET_HDR and offloads on). See wire/vnet.ts. */
export let vnet = false;
export function setVnet(on: bool): void { vnet = on; }

/** Milliseconds of the current call, as the host passed them (wraps after 49 days;
 *  all comparisons use wrapping differences). */
export let now: u32 = 0;
export function setNow(t: u32): void { now = t; }

/** The longest timeout a deadline can hold: expired() compares in 32-bit signed
 *  milliseconds, so a span must stay under 2^31 ms (24.8 days, 2,147,483 s). */
@inline export const MAX_TIMEOUT_MS: u32 = 0x7fffffff;

/** A timeout of `seconds` (from the wire, a table file or a setting) in milliseconds,
 *  clamped to MAX_TIMEOUT_MS, as IPVS clamps a synced one to MAX_SCHEDULE_TIMEOUT / HZ
 *  (ip_vs_proc_conn): multiplied in 32 bits, 2,147,484 s and more would wrap and expire
 *  at once. */
@inline export function timeoutMsOf(seconds: u32): u32 {
  return seconds >= MAX_TIMEOUT_MS / 1000 ? MAX_TIMEOUT_MS : seconds * 1000;
}

/** True if deadline has passed at time t (wrap-safe for spans under 24 days). */
@inline export function expired(deadline: u32, t: u32): bool {
  return <i32>(t - deadline) >= 0;
}

@inline export function count(c: i32): void {
  let p = countersBase + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + 1);
}

@inline export function countN(c: i32, n: u64): void {
  let p = countersBase + (<usize>c << 3);
  store<u64>(p, load<u64>(p) + n);
}

/** Bytes of a slot available to a frame (the headroom is in front). */
@inline export function slotCapacity(): u32 {
  return slotSize - 64;
}

/** Next IPv4 identification for headers the engine builds (deterministic). */
let nextIpId: u32 = 1;
@inline export function takeIpId(): u32 {
  let id = nextIpId;
  nextIpId = (nextIpId + 1) & 0xffff;
  return id;
}
export function resetIpId(): void { nextIpId = 1; }

export { Counter };
