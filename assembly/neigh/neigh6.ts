// The IPv6 neighbour table (RFC 4861 section 7.3), first round: entries learnt from the
// solicitations the director answers and kept up to date by advertisements, in the states
// of the IPv4 table (neigh.ts, Linux's NUD states). The director does not resolve IPv6
// next hops yet (no IPv6 forwarding), so no entry is INCOMPLETE, DELAY or PROBE, and none
// is made by an advertisement: Linux's ndisc_recv_na updates only a neighbour it already
// has (neigh_lookup), so a flood of unsolicited or forged advertisements plants nothing.
//
// Table: Abi.MAX_IPV6_NEIGHBOURS entries of Neigh6Field.SIZE bytes in the engine's static
// data, open addressing over a window of PROBE_WINDOW slots; a new entry takes a free slot
// of its window or the one confirmed longest ago (never a STATIC one), so the table is
// bounded whatever arrives, as Linux's gc_thresh3 bounds its own.

import { Abi, Neigh6Field, NeighState } from "../abi";
import { copyMac, macEquals } from "../wire/bytes";
import { ipv6AddrCopy, ipv6AddrEquals } from "../wire/ipv6";
import { expired, now } from "../engine/state";
import { NA_OVERRIDE, NA_SOLICITED } from "../wire/ndp";
import { REACHABLE_MS } from "./neigh";

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
  copyMac(e + Neigh6Field.MAC, mac);
  store<u8>(e, <u8>NeighState.STALE, Neigh6Field.STATE);
  store<u8>(e, <u8>ifindex, Neigh6Field.IFINDEX);
  store<u32>(e, now, Neigh6Field.CONFIRMED);
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

/** Forget every learnt entry. */
export function neigh6Flush(): void {
  memory.fill(table, 0, SIZE * <usize>Abi.MAX_IPV6_NEIGHBOURS);
  neigh6Count = 0;
}
