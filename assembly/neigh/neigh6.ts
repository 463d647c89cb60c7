// The IPv6 neighbour table (RFC 4861 section 7.3): entries learnt from the solicitations
// the director answers, made INCOMPLETE when a forwarded packet needs a next hop nobody
// has named yet (neigh6Resolve: a multicast solicitation to the target's solicited-node
// group, 7.2.2; the packet waits in the IPv4 table's queue, neigh.ts, until the
// advertisement comes), and kept up to date by advertisements, in the states and with the
// timers of the IPv4 table (Linux's NUD states; RETRANS_MS, MCAST_SOLICIT, UCAST_SOLICIT,
// DELAY_FIRST_PROBE_MS, REACHABLE_MS as ARP's, which are also ndisc's defaults). None is
// made by an advertisement: Linux's ndisc_recv_na updates only a neighbour it already has
// (neigh_lookup), so a flood of unsolicited or forged advertisements plants nothing.
//
// Table: Abi.MAX_IPV6_NEIGHBOURS entries of Neigh6Field.SIZE bytes in the engine's static
// data, open addressing over a window of PROBE_WINDOW slots; a new entry takes a free slot
// of its window or the one confirmed longest ago (never a STATIC one), so the table is
// bounded whatever arrives, as Linux's gc_thresh3 bounds its own.

import { Abi, Counter, Neigh6Field, NeighState } from "../abi";
import { copyMac, macEquals } from "../wire/bytes";
import { ipv6AddrCopy, ipv6AddrEquals, ipv6Emit, ipv6MulticastMac, IPV6_HEADER_LEN, NH_ICMPV6 } from "../wire/ipv6";
import { EthField, ETHERTYPE_IPV6_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { icmpv6FillChecksum } from "../wire/icmpv6";
import { count, expired, now } from "../engine/state";
import { scratchTake, txPush } from "../engine/tx";
import { ifaceExists, ifaceMac, ipv6SourceFor } from "../route/route";
import { NA_OVERRIDE, NA_SOLICITED, nsEmit, NDP_HOP_LIMIT, NDP_LL_OPTION_LEN, NDP_MESSAGE_LEN } from "../wire/ndp";
import { DELAY_FIRST_PROBE_MS, MCAST_SOLICIT, Q_ADDR6, Q_WAITING6, queueClaim, queueDrop, queueMetaAt, queueSend, queueWaitingCount,
  QUEUE_SLOTS, REACHABLE_MS, RETRANS_MS, UCAST_SOLICIT } from "./neigh";

@inline const SIZE: usize = Neigh6Field.SIZE;
@inline const PROBE_WINDOW: u32 = 16;
const table: usize = memory.data(<i32>(SIZE * <usize>Abi.MAX_IPV6_NEIGHBOURS));
/** Entries in use (for the host and the tests). */
export let neigh6Count: u32 = 0;

@inline function hashAddr(a: usize): u32 {
  // The low 64 bits (the interface identifier) vary most on a link.
  let h = (load<u32>(a, 8) ^ load<u32>(a, 12)) * 0x9e3779b1;
  return (h ^ (h >>> 15)) & (<u32>Abi.MAX_IPV6_NEIGHBOURS - 1);
}
@inline function entryAt(i: u32): usize { return table + <usize>(i & (<u32>Abi.MAX_IPV6_NEIGHBOURS - 1)) * SIZE; }
@inline function stateOf(e: usize): u32 { return <u32>load<u8>(e, Neigh6Field.STATE); }

/** The entry for the address at a, or 0. */
export function neigh6Lookup(a: usize): usize {
  let i = hashAddr(a);
  for (let n: u32 = 0; n < PROBE_WINDOW; n++) {
    let e = entryAt(i + n);
    if (stateOf(e) != 0 && ipv6AddrEquals(e + Neigh6Field.ADDR, a)) return e;
  }
  return 0;
}

/** The state of entry e as the host sees it: REACHABLE past REACHABLE_MS reads STALE. */
export function neigh6State(e: usize): u32 {
  let st = stateOf(e);
  if (st == NeighState.REACHABLE && expired(load<u32>(e, Neigh6Field.CONFIRMED) + REACHABLE_MS, now)) {
    store<u8>(e, <u8>NeighState.STALE, Neigh6Field.STATE);
    return NeighState.STALE;
  }
  return st;
}

/** A slot for a new entry for a: a free one in its window or the one confirmed longest ago
 *  (0 if the window is all static). */
function neigh6Slot(a: usize): usize {
  let i = hashAddr(a);
  let victim: usize = 0;
  let victimAge: u32 = 0;
  for (let n: u32 = 0; n < PROBE_WINDOW; n++) {
    let e = entryAt(i + n);
    let st = stateOf(e);
    if (st == 0) return e;
    if (st == NeighState.STATIC) continue;
    let age = now - load<u32>(e, Neigh6Field.CONFIRMED);
    if (victim == 0 || age > victimAge) { victim = e; victimAge = age; }
  }
  return victim;
}

/** A solicitation for one of our addresses, from a (not ::) with source link-layer address
 *  mac (RFC 4861 7.2.3): a new entry, or one whose MAC changed, is STALE with that MAC; one
 *  with the same MAC keeps its state (Linux: neigh_update with NEIGH_UPDATE_F_WEAK_OVERRIDE). */
export function neigh6LearnFromSolicitation(a: usize, mac: usize, ifindex: u32): void {
  let e = neigh6Lookup(a);
  if (e == 0) {
    e = neigh6Slot(a);
    if (e == 0) return;
    if (stateOf(e) == 0) neigh6Count++;
    ipv6AddrCopy(e + Neigh6Field.ADDR, a);
  } else {
    let st = stateOf(e);
    if (st == NeighState.STATIC || macEquals(e + Neigh6Field.MAC, mac)) return;
  }
  let wasIncomplete = stateOf(e) == NeighState.INCOMPLETE;
  copyMac(e + Neigh6Field.MAC, mac);
  store<u8>(e, <u8>NeighState.STALE, Neigh6Field.STATE);
  store<u8>(e, <u8>ifindex, Neigh6Field.IFINDEX);
  store<u32>(e, now, Neigh6Field.CONFIRMED);
  // 7.2.3: an INCOMPLETE entry so learnt is STALE, and its queued packets leave.
  if (wasIncomplete) neigh6ReleaseQueued(e);
}

/** An advertisement for target with flags and target link-layer address mac (0: none), per
 *  RFC 4861 7.2.5: false if there is no entry for it (ignored, as Linux). With the Override
 *  flag, or the same MAC, or none given: the MAC is taken and a Solicited advertisement
 *  confirms the entry (REACHABLE), an unsolicited one with a new MAC leaves it STALE.
 *  Without Override and with a different MAC: the MAC is kept and a REACHABLE entry
 *  becomes STALE (the neighbour will be probed when next used). */
export function neigh6Advertised(target: usize, flags: u32, mac: usize, ifindex: u32): bool {
  let e = neigh6Lookup(target);
  if (e == 0) return false;
  let st = neigh6State(e);
  if (st == NeighState.STATIC) return true;
  if (st == NeighState.INCOMPLETE) {
    // 7.2.5: without a target link-layer address an advertisement cannot complete the
    // entry (discarded); with one, the entry is REACHABLE if it was solicited, else
    // STALE, and the packets waiting for it leave.
    if (mac == 0) return true;
    copyMac(e + Neigh6Field.MAC, mac);
    store<u8>(e, <u8>((flags & NA_SOLICITED) != 0 ? NeighState.REACHABLE : NeighState.STALE), Neigh6Field.STATE);
    store<u8>(e, <u8>ifindex, Neigh6Field.IFINDEX);
    store<u32>(e, now, Neigh6Field.CONFIRMED);
    store<u8>(e, 0, Neigh6Field.PROBES);
    neigh6ReleaseQueued(e);
    return true;
  }
  if (st == NeighState.FAILED) return true;
  let differs = mac != 0 && !macEquals(e + Neigh6Field.MAC, mac);
  if ((flags & NA_OVERRIDE) == 0 && differs) {
    if (st == NeighState.REACHABLE) store<u8>(e, <u8>NeighState.STALE, Neigh6Field.STATE);
    return true;
  }
  if (differs) copyMac(e + Neigh6Field.MAC, mac);
  store<u8>(e, <u8>ifindex, Neigh6Field.IFINDEX);
  if ((flags & NA_SOLICITED) != 0) {
    store<u8>(e, <u8>NeighState.REACHABLE, Neigh6Field.STATE);
    store<u32>(e, now, Neigh6Field.CONFIRMED);
  } else if (differs) {
    store<u8>(e, <u8>NeighState.STALE, Neigh6Field.STATE);
  }
  return true;
}

/** Send a Neighbour Solicitation for the address at target on ifindex (RFC 4861 7.2.2):
 *  to its solicited-node group at 33:33:ff:xx:xx:xx, or (a probe of a stale entry, 7.3.3)
 *  to the address itself at unicastMac; from the interface's address on the target's
 *  prefix (or its link-local one), hop limit 255, with our link-layer address. */
export function neigh6SendSolicit(target: usize, ifindex: u32, unicastMac: usize = 0): void {
  let f = scratchTake();
  if (f == 0) { count(Counter.GENERATED_LOST); return; }
  let ip = f + ETH_HEADER_LEN;
  let dst = f + ETH_HEADER_LEN + IPV6_HEADER_LEN + NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN; // scratch past the message
  if (unicastMac != 0) {
    ipv6AddrCopy(dst, target);
    copyMac(f + EthField.DST, unicastMac);
  } else {
    // ff02::1:ff00:0/104 with the target's low 24 bits (RFC 4291 2.7.1).
    store<u64>(dst, 0x00000000000002ff);
    store<u32>(dst, 0x01000000, 8);
    store<u32>(dst, (load<u32>(target, 12) & 0xffffff00) | 0xff, 12);
    ipv6MulticastMac(f + EthField.DST, dst);
  }
  let mac = ifaceMac(ifindex);
  copyMac(f + EthField.SRC, mac);
  store<u16>(f, <u16>ETHERTYPE_IPV6_WIRE, EthField.TYPE);
  let len = NDP_MESSAGE_LEN + NDP_LL_OPTION_LEN;
  ipv6Emit(ip, len, NH_ICMPV6, NDP_HOP_LIMIT, ipv6SourceFor(ifindex, target), dst);
  let icmp = ip + IPV6_HEADER_LEN;
  nsEmit(icmp, target, mac);
  icmpv6FillChecksum(icmp, len, ip + 8, ip + 24);
  if (txPush(f, ETH_HEADER_LEN + IPV6_HEADER_LEN + len, ifindex)) count(Counter.NEIGHBOUR_SOLICITS_SENT);
  else count(Counter.GENERATED_LOST);
}

/** The MAC to send to IPv6 next hop a on ifindex, or 0 if it is not resolved yet (the
 *  caller parks the frame with neigh6Enqueue). As neighResolve for IPv4: a STALE entry is
 *  used and starts its DELAY; DELAY and PROBE run their timer as the packet passes; an
 *  unknown or FAILED one becomes INCOMPLETE with a multicast solicitation. */
export function neigh6Resolve(a: usize, ifindex: u32): usize {
  let e = neigh6Lookup(a);
  if (e != 0) {
    let st = stateOf(e);
    if (st == NeighState.DELAY || st == NeighState.PROBE) {
      neigh6Timer(e, st);
      if (stateOf(e) != NeighState.FAILED) return e + Neigh6Field.MAC;
      st = NeighState.FAILED;
    }
    if (st == NeighState.STATIC) return e + Neigh6Field.MAC;
    if (st == NeighState.REACHABLE && !expired(load<u32>(e, Neigh6Field.CONFIRMED) + REACHABLE_MS, now)) return e + Neigh6Field.MAC;
    if (st == NeighState.REACHABLE || st == NeighState.STALE) {
      store<u8>(e, <u8>NeighState.DELAY, Neigh6Field.STATE);
      store<u32>(e, now, Neigh6Field.LAST_PROBE);
      store<u8>(e, 0, Neigh6Field.PROBES);
      return e + Neigh6Field.MAC;
    }
    if (st == NeighState.INCOMPLETE) return 0;
  } else {
    e = neigh6Slot(a);
    if (e == 0) return 0;
    if (stateOf(e) == 0) neigh6Count++;
  }
  ipv6AddrCopy(e + Neigh6Field.ADDR, a);
  memory.fill(e + Neigh6Field.MAC, 0, 6);
  store<u8>(e, <u8>NeighState.INCOMPLETE, Neigh6Field.STATE);
  store<u8>(e, <u8>ifindex, Neigh6Field.IFINDEX);
  store<u32>(e, now, Neigh6Field.CONFIRMED);
  store<u32>(e, now, Neigh6Field.LAST_PROBE);
  store<u8>(e, 1, Neigh6Field.PROBES);
  neigh6SendSolicit(a, ifindex);
  return 0;
}

/** DELAY: DELAY_FIRST_PROBE_MS after the first use of a stale entry, then PROBE with
 *  UCAST_SOLICIT unicast solicitations RETRANS_MS apart, then FAILED (RFC 4861 7.3.3). */
function neigh6Timer(e: usize, st: u32): void {
  if (st == NeighState.DELAY) {
    if (!expired(load<u32>(e, Neigh6Field.LAST_PROBE) + DELAY_FIRST_PROBE_MS, now)) return;
    store<u8>(e, <u8>NeighState.PROBE, Neigh6Field.STATE);
    store<u8>(e, 0, Neigh6Field.PROBES);
  } else if (!expired(load<u32>(e, Neigh6Field.LAST_PROBE) + RETRANS_MS, now)) {
    return;
  }
  let probes = <u32>load<u8>(e, Neigh6Field.PROBES);
  if (probes >= UCAST_SOLICIT) { store<u8>(e, <u8>NeighState.FAILED, Neigh6Field.STATE); return; }
  store<u8>(e, <u8>(probes + 1), Neigh6Field.PROBES);
  store<u32>(e, now, Neigh6Field.LAST_PROBE);
  let ifindex = <u32>load<u8>(e, Neigh6Field.IFINDEX);
  if (ifaceExists(ifindex)) neigh6SendSolicit(e + Neigh6Field.ADDR, ifindex, e + Neigh6Field.MAC);
}

/** Park a frame (Ethernet addresses still to be written) until next hop a resolves;
 *  false if the queue (shared with IPv4, QUEUE_SLOTS frames) is full. */
export function neigh6Enqueue(frame: usize, len: u32, ifindex: u32, a: usize): bool {
  let m = queueClaim(frame, len, ifindex, Q_WAITING6);
  if (m == 0) return false;
  ipv6AddrCopy(m + Q_ADDR6, a);
  return true;
}

/** Send the frames waiting for the address of entry e, now that it has a MAC. */
function neigh6ReleaseQueued(e: usize): void {
  if (queueWaitingCount() == 0) return;
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) != Q_WAITING6 || !ipv6AddrEquals(m + Q_ADDR6, e + Neigh6Field.ADDR)) continue;
    queueSend(i, e + Neigh6Field.MAC);
  }
}

let timerCursor: u32 = 0;
let timerLast: u32 = 0;

/** Timers, as neighTick: DELAY and PROBE entries swept in proportion to the time passed
 *  (the whole table every 128 ms); INCOMPLETE neighbours with packets waiting solicited
 *  again every RETRANS_MS and FAILED after MCAST_SOLICIT unanswered, their packets dropped. */
export function neigh6Tick(): void {
  let elapsed = now - timerLast;
  if (<i32>elapsed > 0) {
    timerLast = now;
    let slots = <u32>Abi.MAX_IPV6_NEIGHBOURS;
    let n64 = <u64>elapsed * <u64>((slots + 127) / 128);
    let n = n64 >= <u64>slots ? slots : <u32>n64;
    let at = timerCursor;
    for (let k: u32 = 0; k < n; k++) {
      let e = entryAt(at);
      let st = stateOf(e);
      if (st == NeighState.DELAY || st == NeighState.PROBE) neigh6Timer(e, st);
      at = (at + 1) & (slots - 1);
    }
    timerCursor = at;
  } else if (<i32>elapsed < 0) timerLast = now;
  if (queueWaitingCount() == 0) return;
  for (let i: u32 = 0; i < QUEUE_SLOTS; i++) {
    let m = queueMetaAt(i);
    if (load<u32>(m) != Q_WAITING6) continue;
    let e = neigh6Lookup(m + Q_ADDR6);
    let failed = e == 0 || stateOf(e) == NeighState.FAILED;
    if (!failed && stateOf(e) == NeighState.INCOMPLETE && expired(load<u32>(e, Neigh6Field.LAST_PROBE) + RETRANS_MS, now)) {
      let probes = <u32>load<u8>(e, Neigh6Field.PROBES);
      if (probes >= MCAST_SOLICIT) {
        store<u8>(e, <u8>NeighState.FAILED, Neigh6Field.STATE);
        failed = true;
      } else {
        store<u8>(e, <u8>(probes + 1), Neigh6Field.PROBES);
        store<u32>(e, now, Neigh6Field.LAST_PROBE);
        if (ifaceExists(load<u32>(m, 12))) neigh6SendSolicit(e + Neigh6Field.ADDR, load<u32>(m, 12));
      }
    }
    if (failed) queueDrop(i);
  }
}

/** Forget every learnt entry. */
export function neigh6Flush(): void {
  memory.fill(table, 0, SIZE * <usize>Abi.MAX_IPV6_NEIGHBOURS);
  neigh6Count = 0;
}
