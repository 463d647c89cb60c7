// The neighbour (ARP) table and the queue of frames waiting for a resolution.
//
// States follow Linux's neighbour subsystem (net/core/neighbour.c, net/ipv4/arp.c) with its
// default timers, so a busy real server's frames never wait for ARP:
//   REACHABLE   confirmed by an ARP reply to us less than REACHABLE_MS ago
//               (base_reachable_time; Linux draws 15-45 s, here 30 s).
//   STALE       older than that (a REACHABLE entry past REACHABLE_MS is STALE), or learnt from
//               an ARP request or an unsolicited ARP. Still used: the first frame sent through
//               it leaves with the cached MAC and moves the entry to DELAY (neigh_event_send).
//   DELAY       used while it waits DELAY_FIRST_PROBE_MS (delay_first_probe_time) for a
//               confirmation, then PROBE.
//   PROBE       used while UCAST_SOLICIT ARP requests go to the cached MAC by unicast,
//               RETRANS_MS (retrans_time) apart; if none is answered, FAILED.
//   INCOMPLETE  no MAC yet: frames wait in the queue while broadcast requests go out every
//               RETRANS_MS, MCAST_SOLICIT times; unanswered, FAILED and the frames dropped.
//   FAILED      the next frame starts resolving afresh (INCOMPLETE).
//   STATIC      configured by the operator: never probed, never expires.
// Only an ARP reply sent to us confirms an entry (arp_process: a request, or a reply to
// the broadcast address, only makes it STALE, and not even that if the MAC is unchanged).
// DELAY and PROBE move on Linux's timer schedule: checked as each frame passes, and by a
// time-proportional sweep of the table (neighTimers, the whole table every 128 ms), so a
// quiet entry is probed and failed as Linux's per-entry timer would.
//
// Table: open addressing, linear probing over a window of PROBE_WINDOW slots. An
// address is never removed, only marked FAILED and overwritten later, so a lookup can
// stop at the first empty slot.

import { Abi, Counter, NeighField, NeighState } from "../abi";
import { copyMac, macEquals } from "../wire/bytes";
import { EthField, ethSetAddresses, ethSetBroadcastDst, ETHERTYPE_ARP_WIRE, ETH_HEADER_LEN, ETH_MIN_FRAME } from "../wire/ethernet";
import { arpEmit, ARP_LEN, ARP_OP_REQUEST_WIRE } from "../wire/arp";
import { ifaceAddr, ifaceExists, ifaceMac, routeChanged } from "../route/route";
import { count, expired, now, queueBase, slotSize, vnet } from "../engine/state";
import { VNET_HDR_LEN } from "../wire/vnet";
import { scratchTake, txPush } from "../engine/tx";

@inline export const NEIGH_INCOMPLETE: u8 = <u8>NeighState.INCOMPLETE;
@inline export const NEIGH_REACHABLE: u8 = <u8>NeighState.REACHABLE;
@inline export const NEIGH_STATIC: u8 = <u8>NeighState.STATIC;
@inline export const NEIGH_FAILED: u8 = <u8>NeighState.FAILED;
@inline export const NEIGH_STALE: u8 = <u8>NeighState.STALE;
@inline export const NEIGH_DELAY: u8 = <u8>NeighState.DELAY;
@inline export const NEIGH_PROBE: u8 = <u8>NeighState.PROBE;

// Linux's defaults (Documentation/networking/ip-sysctl.rst, neigh/default/*).
@inline export const REACHABLE_MS: u32 = 30000;        // base_reachable_time_ms
@inline export const DELAY_FIRST_PROBE_MS: u32 = 5000; // delay_first_probe_time
@inline export const RETRANS_MS: u32 = 1000;           // retrans_time_ms
@inline export const UCAST_SOLICIT: u32 = 3;           // ucast_solicit
@inline export const MCAST_SOLICIT: u32 = 3;           // mcast_solicit
@inline const PROBE_WINDOW: u32 = 16;
/** The timer sweep looks at the whole table once per this many ms. */
@inline const TIMER_SWEEP_MS: u32 = 128;

// The entry layout is NeighField (abi.ts), which the host reads too.
@inline const N_SIZE: usize = NeighField.SIZE;
@inline const N_IP: usize = NeighField.IP;
@inline const N_MAC: usize = NeighField.MAC;
@inline const N_STATE: usize = NeighField.STATE;
@inline const N_IFINDEX: usize = NeighField.IFINDEX;
@inline const N_CONFIRMED: usize = NeighField.CONFIRMED;
@inline const N_LAST_PROBE: usize = NeighField.LAST_PROBE;
@inline const N_PROBES: usize = NeighField.PROBES;

@inline export const QUEUE_SLOTS: u32 = 64;
// Queue entry: state u32 | IPv4 next hop u32 | length u32 | ifindex u32 | IPv6 next hop [16]
// (neigh6.ts parks IPv6 frames in the same slots, state Q_WAITING6).
@inline const Q_SIZE: usize = 32;
@inline const Q_FREE: u32 = 0;
@inline const Q_WAITING: u32 = 1;
@inline const Q_IN_FLIGHT: u32 = 2;
@inline export const Q_WAITING6: u32 = 3;
@inline export const Q_ADDR6: usize = 16;
const queueMeta: usize = memory.data(<i32>(Q_SIZE * <usize>QUEUE_SLOTS));
let queueWaiting: u32 = 0;

let table: usize = 0;
let mask: u32 = 0;

export function neighLayout(base: usize, capacityPow2: u32): void {
  table = base;
  mask = capacityPow2 - 1;
}

@inline function hashIp(ip: u32): u32 {
  let h = ip * 0x9e3779b1;
  return (h ^ (h >>> 15)) & mask;
}

/** The entry for ip, or 0. */
export function neighLookup(ip: u32): usize {
  let i = hashIp(ip);
  for (let n: u32 = 0; n < PROBE_WINDOW; n++) {
    let e = table + <usize>((i + n) & mask) * N_SIZE;
    let eip = load<u32>(e, N_IP);
    if (eip == ip && load<u8>(e, N_STATE) != 0) return e;
    if (load<u8>(e, N_STATE) == 0) return 0;
  }
  return 0;
}

/** A slot for ip: its entry, an empty slot, or the best victim in the window
 *  (FAILED first, then the oldest non-static entry); 0 if the window is all static. */
function neighSlot(ip: u32): usize {
  let i = hashIp(ip);
  let victim: usize = 0;
  let victimAge: u32 = 0;
  for (let n: u32 = 0; n < PROBE_WINDOW; n++) {
    let e = table + <usize>((i + n) & mask) * N_SIZE;
    let st = load<u8>(e, N_STATE);
    if (st == 0 || load<u32>(e, N_IP) == ip) return e;
    if (st == NEIGH_STATIC) continue;
    let age: u32 = st == NEIGH_FAILED ? 0xffffffff : now - load<u32>(e, N_CONFIRMED);
    if (victim == 0 || age > victimAge) { victim = e; victimAge = age; }
  }
  return victim;
}

@inline export function neighMac(e: usize): usize { return e + N_MAC; }
@inline export function neighIfindex(e: usize): u32 { return <u32>load<u8>(e, N_IFINDEX); }

/** A static entry (configured by the operator). */
export function neighSetStatic(ip: u32, macLo: u32, macHi: u32, ifindex: u32): bool {
  let e = neighSlot(ip);
  if (e == 0) return false;
  store<u32>(e, ip, N_IP);
  store<u32>(e, macLo, N_MAC);
  store<u16>(e, <u16>macHi, N_MAC + 4);
  store<u8>(e, NEIGH_STATIC, N_STATE);
  store<u8>(e, <u8>ifindex, N_IFINDEX);
  store<u32>(e, now, N_CONFIRMED);
  neighReleaseQueued(ip, e);
  routeChanged();
  return true;
}

/** Remove the entry for ip (marks it FAILED); false if there was none. */
export function neighDelete(ip: u32): bool {
  let e = neighLookup(ip);
  if (e == 0) return false;
  store<u8>(e, NEIGH_FAILED, N_STATE);
  routeChanged();
  return true;
}

/** RFC 826 merge as Linux's arp_process and neigh_update do it: learn ip -> mac from an
 *  ARP message. confirm: a reply sent to us, which makes the entry REACHABLE; anything
 *  else makes it STALE, unless it is valid with the same MAC (then it keeps its state).
 *  A new entry is created only when create is set (the message was for us). */
export function neighLearn(ip: u32, mac: usize, ifindex: u32, create: bool, confirm: bool): void {
  if (ip == 0) return;
  let e = neighLookup(ip);
  let st: u8 = 0;
  if (e == 0) {
    if (!create) return;
    e = neighSlot(ip);
    if (e == 0) return;
  } else {
    st = load<u8>(e, N_STATE);
    if (st == NEIGH_STATIC) return;
  }
  let valid = st == NEIGH_REACHABLE || st == NEIGH_STALE || st == NEIGH_DELAY || st == NEIGH_PROBE;
  if (!confirm && valid && macEquals(e + N_MAC, mac)) return;
  store<u32>(e, ip, N_IP);
  copyMac(e + N_MAC, mac);
  store<u8>(e, confirm ? NEIGH_REACHABLE : NEIGH_STALE, N_STATE);
  store<u8>(e, <u8>ifindex, N_IFINDEX);
  store<u32>(e, now, N_CONFIRMED);
  store<u32>(e, 0, N_PROBES);
  // STALE is valid too: frames waiting for this neighbour leave now.
  neighReleaseQueued(ip, e);
}

/** Build and send an ARP request for ip on ifindex: broadcast, or (a PROBE) to the cached
 *  MAC at unicastMac; the target hardware address is zero either way (arp_solicit). */
export function neighSendRequest(ip: u32, ifindex: u32, unicastMac: usize = 0): void {
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return; }
  if (unicastMac != 0) copyMac(f + EthField.DST, unicastMac);
  else ethSetBroadcastDst(f);
  copyMac(f + EthField.SRC, ifaceMac(ifindex));
  store<u16>(f, <u16>ETHERTYPE_ARP_WIRE, EthField.TYPE);
  arpEmit(f + ETH_HEADER_LEN, ARP_OP_REQUEST_WIRE, ifaceMac(ifindex), ifaceAddr(ifindex), 0, ip);
  memory.fill(f + ETH_HEADER_LEN + ARP_LEN, 0, ETH_MIN_FRAME - ETH_HEADER_LEN - ARP_LEN);
  if (txPush(f, ETH_MIN_FRAME, ifindex)) count(Counter.ARP_REQUESTS_SENT);
  else count(Counter.GENERATED_LOST);
}

/** True if entry e resolves ip and a frame may use it with nothing else to do: static,
 *  or REACHABLE and confirmed less than REACHABLE_MS ago. (The fast path of a cached
 *  next hop; other states take neighResolve, which keeps DELAY and PROBE on time.) */
@inline export function neighFresh(e: usize, ip: u32): bool {
  if (load<u32>(e, N_IP) != ip) return false;
  let st = load<u8>(e, N_STATE);
  return st == NEIGH_STATIC || (st == NEIGH_REACHABLE && now - load<u32>(e, N_CONFIRMED) < REACHABLE_MS);
}

/** The MAC to use for next hop ip on ifindex, or 0 if it is not resolved yet (the
 *  caller queues the frame with neighEnqueue). A STALE entry is used, and starts its
 *  DELAY; an unknown or FAILED one starts resolving with a broadcast request. */
export function neighResolve(ip: u32, ifindex: u32): usize {
  let e = neighLookup(ip);
  if (e != 0) {
    let st = load<u8>(e, N_STATE);
    if (st == NEIGH_DELAY || st == NEIGH_PROBE) {
      // Their timer, run now as the frame passes (the sweep serves quiet entries): a
      // probe that is due goes out first; the frame still leaves with the cached MAC
      // unless the last probe went unanswered (FAILED: resolved afresh below).
      neighTimer(e, st);
      if (load<u8>(e, N_STATE) != NEIGH_FAILED) return e + N_MAC;
      st = NEIGH_FAILED;
    }
    if (st == NEIGH_STATIC) return e + N_MAC;
    if (st == NEIGH_REACHABLE && now - load<u32>(e, N_CONFIRMED) < REACHABLE_MS) return e + N_MAC;
    if (st == NEIGH_REACHABLE || st == NEIGH_STALE) {
      // First use of a STALE entry (neigh_event_send): the frame leaves with the cached
      // MAC, and the entry waits for a confirmation before it is probed.
      store<u8>(e, NEIGH_DELAY, N_STATE);
      store<u32>(e, now, N_LAST_PROBE);
      store<u32>(e, 0, N_PROBES);
      return e + N_MAC;
    }
    if (st == NEIGH_INCOMPLETE) return 0;
  }
  // Unknown or failed: start resolving.
  e = neighSlot(ip);
  if (e == 0) return 0;
  store<u32>(e, ip, N_IP);
  store<u8>(e, NEIGH_INCOMPLETE, N_STATE);
  store<u8>(e, <u8>ifindex, N_IFINDEX);
  store<u32>(e, now, N_CONFIRMED);
  store<u32>(e, now, N_LAST_PROBE);
  store<u32>(e, 1, N_PROBES);
  neighSendRequest(ip, ifindex);
  return 0;
}

let timerCursor: u32 = 0;
let timerLast: u32 = 0;

/** neigh_timer_handler for DELAY and PROBE entries: DELAY_FIRST_PROBE_MS after the first
 *  use of a stale entry, UCAST_SOLICIT unicast requests RETRANS_MS apart, then FAILED.
 *  A slice of the table per call, in proportion to the time since the last. */
function neighTimers(): void {
  let elapsed = now - timerLast;
  if (<i32>elapsed <= 0) { if (<i32>elapsed < 0) timerLast = now; return; }
  timerLast = now;
  let slots = mask + 1;
  let n64 = <u64>elapsed * <u64>((slots + TIMER_SWEEP_MS - 1) / TIMER_SWEEP_MS);
  let n = n64 >= <u64>slots ? slots : <u32>n64;
  let at = timerCursor;
  for (let k: u32 = 0; k < n; k++) {
    let e = table + <usize>at * N_SIZE;
    let st = load<u8>(e, N_STATE);
    if (st == NEIGH_DELAY || st == NEIGH_PROBE) neighTimer(e, st);
    at = (at + 1) & mask;
  }
  timerCursor = at;
}

function neighTimer(e: usize, st: u8): void {
  if (st == NEIGH_DELAY) {
    // No confirmation came (it would have made the entry REACHABLE): probe.
    if (!expired(load<u32>(e, N_LAST_PROBE) + DELAY_FIRST_PROBE_MS, now)) return;
    store<u8>(e, NEIGH_PROBE, N_STATE);
    store<u32>(e, 0, N_PROBES);
  } else if (!expired(load<u32>(e, N_LAST_PROBE) + RETRANS_MS, now)) {
    return;
  }
  let probes = load<u32>(e, N_PROBES);
  if (probes >= UCAST_SOLICIT) { store<u8>(e, NEIGH_FAILED, N_STATE); return; }
  store<u32>(e, probes + 1, N_PROBES);
  store<u32>(e, now, N_LAST_PROBE);
  let ifindex = neighIfindex(e);
  if (ifaceExists(ifindex)) neighSendRequest(load<u32>(e, N_IP), ifindex, e + N_MAC);
}

@inline export function queueMetaAt(i: u32): usize { return queueMeta + <usize>i * Q_SIZE; }
@inline export function queueFrameAt(i: u32): usize {
  return queueBase + <usize>i * <usize>slotSize + <usize>Abi.HEADROOM;
}

/** Copy a frame into a free queue slot as waiting (state), for ifindex: its meta entry,
 *  or 0 if the queue is full. */
export function queueClaim(frame: usize, len: u32, ifindex: u32, state: u32): usize {
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) != Q_FREE) continue;
    // In vnet mode the frame's virtio-net header (just before it) travels with it.
    if (vnet) memory.copy(queueFrameAt(i) - VNET_HDR_LEN, frame - VNET_HDR_LEN, len + <u32>VNET_HDR_LEN);
    else memory.copy(queueFrameAt(i), frame, len);
    store<u32>(m, state, 0);
    store<u32>(m, len, 8);
    store<u32>(m, ifindex, 12);
    queueWaiting++;
    return m;
  }
  return 0;
}

/** Send waiting queue entry i to mac (its next hop resolved). */
export function queueSend(i: u32, mac: usize): void {
  let m = queueMetaAt(i);
  let f = queueFrameAt(i);
  let ifindex = load<u32>(m, 12);
  ethSetAddresses(f, mac, ifaceMac(ifindex));
  queueWaiting--;
  if (txPush(f, load<u32>(m, 8), ifindex)) {
    store<u32>(m, Q_IN_FLIGHT, 0);
    count(Counter.QUEUE_RELEASED);
  } else {
    store<u32>(m, Q_FREE, 0);
    count(Counter.QUEUE_DROPPED);
  }
}

/** Drop waiting queue entry i (its next hop failed). */
export function queueDrop(i: u32): void {
  store<u32>(queueMetaAt(i), Q_FREE, 0);
  queueWaiting--;
  count(Counter.QUEUE_DROPPED);
}

/** Frames waiting in the queue, of both families. */
export function queueWaitingCount(): u32 { return queueWaiting; }

/** Park a frame (its Ethernet header still to be addressed) until nextHop resolves. */
export function neighEnqueue(frame: usize, len: u32, ifindex: u32, nextHop: u32): bool {
  let m = queueClaim(frame, len, ifindex, Q_WAITING);
  if (m == 0) return false;
  store<u32>(m, nextHop, 4);
  return true;
}

/** Send the frames waiting for ip, now that e resolves it. */
function neighReleaseQueued(ip: u32, e: usize): void {
  if (queueWaiting == 0) return;
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) != Q_WAITING || load<u32>(m, 4) != ip) continue;
    queueSend(i, e + N_MAC);
  }
}

/** Start of every call: frames handed out by the previous call have been written. */
export function neighQueueRecycle(): void {
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) == Q_IN_FLIGHT) store<u32>(m, Q_FREE, 0);
  }
}

/** Timers: DELAY and PROBE entries (neighTimers); INCOMPLETE neighbours that have frames
 *  waiting are asked every RETRANS_MS and fail after MCAST_SOLICIT unanswered requests,
 *  their frames dropped. */
export function neighTick(): void {
  neighTimers();
  if (queueWaiting == 0) return;
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) != Q_WAITING) continue;
    let ip = load<u32>(m, 4);
    let e = neighLookup(ip);
    let failed = e == 0 || load<u8>(e, N_STATE) == NEIGH_FAILED;
    if (!failed && load<u8>(e, N_STATE) == NEIGH_INCOMPLETE &&
        expired(load<u32>(e, N_LAST_PROBE) + RETRANS_MS, now)) {
      if (load<u32>(e, N_PROBES) >= MCAST_SOLICIT) {
        store<u8>(e, NEIGH_FAILED, N_STATE);
        failed = true;
      } else {
        store<u32>(e, load<u32>(e, N_PROBES) + 1, N_PROBES);
        store<u32>(e, now, N_LAST_PROBE);
        if (ifaceExists(load<u32>(m, 12))) neighSendRequest(ip, load<u32>(m, 12));
      }
    }
    if (failed) queueDrop(i);
  }
}

/** Drop every queued frame and forget every learnt neighbour (tests, reconfiguration). */
export function neighFlush(): void {
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) store<u32>(queueMetaAt(i), Q_FREE, 0);
  queueWaiting = 0;
  memory.fill(table, 0, <usize>(mask + 1) * N_SIZE);
}
