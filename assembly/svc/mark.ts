// Firewall marks without iptables: the rules a director would write as
//   iptables -t mangle -A PREROUTING -p tcp -d 10.0.0.100 -m multiport --dports 80,443 -j MARK --set-mark 1
// matched in the data path, so that firewall-mark services (ipvsadm -f, keepalived's
// virtual_server fwmark) have marks to match. As in iptables' mangle table, MARK does
// not stop the walk: the last matching rule sets the mark.
//
// Rule record (MARK_SIZE bytes): mark u32 | net u32 | mask u32 (wire order) | proto u8
// (0: any) | range count u8 | pad | ranges: (lo u16, hi u16) x MAX_MARK_PORT_RANGES, host order.

import { Abi } from "../abi";
import { bswap16 } from "../wire/bytes";

@inline const MARK_SIZE: usize = 16 + 4 * <usize>Abi.MAX_MARK_PORT_RANGES;
@inline const M_MARK: usize = 0;
@inline const M_NET: usize = 4;
@inline const M_MASK: usize = 8;
@inline const M_PROTO: usize = 12;
@inline const M_RANGES: usize = 13;
@inline const M_PORTS: usize = 16;
/** Bytes of the rule table. It lives at the end of linear memory (init() places it after
 *  everything else), not in static data: 19 KB more static data moves every region, and
 *  bench measured 1500-byte frames 10% slower for that shift alone (store-to-load aliasing
 *  between frame slots and hot static tables). */
export const MARK_TABLE_BYTES: usize = MARK_SIZE * <usize>Abi.MAX_MARK_RULES;
let rules: usize = 0;
export function markLayout(base: usize): void { rules = base; markRuleCount = 0; }
/** Rules in use; while 0, the data path never looks. */
export let markRuleCount: u32 = 0;

@inline function rule(i: u32): usize { return rules + <usize>i * MARK_SIZE; }

export function markClear(): void { markRuleCount = 0; }

/** Append a rule; returns its index, or -1 when the table is full or the mark is 0. */
export function markAdd(mark: u32, net: u32, mask: u32, proto: u32): i32 {
  if (markRuleCount >= <u32>Abi.MAX_MARK_RULES || mark == 0) return -1;
  let r = rule(markRuleCount);
  store<u32>(r, mark, M_MARK);
  store<u32>(r, net & mask, M_NET);
  store<u32>(r, mask, M_MASK);
  store<u8>(r, <u8>proto, M_PROTO);
  store<u8>(r, 0, M_RANGES);
  markRuleCount++;
  return <i32>(markRuleCount - 1);
}

/** Add a destination port range (host order, inclusive) to rule i; false when full. */
export function markAddPorts(i: u32, lo: u32, hi: u32): bool {
  if (i >= markRuleCount || lo > hi || hi > 0xffff) return false;
  let r = rule(i);
  let n = <u32>load<u8>(r, M_RANGES);
  if (n >= <u32>Abi.MAX_MARK_PORT_RANGES) return false;
  store<u16>(r + M_PORTS + (<usize>n << 2), <u16>lo);
  store<u16>(r + M_PORTS + (<usize>n << 2), <u16>hi, 2);
  store<u8>(r, <u8>(n + 1), M_RANGES);
  return true;
}

/** The mark of a packet (0: none). dportWire: the destination port as loaded from the wire. */
export function markOf(proto: u32, daddr: u32, dportWire: u32): u32 {
  let mark: u32 = 0;
  let port = bswap16(dportWire);
  for (let i: u32 = 0; i < markRuleCount; i++) {
    let r = rule(i);
    if ((daddr & load<u32>(r, M_MASK)) != load<u32>(r, M_NET)) continue;
    let p = <u32>load<u8>(r, M_PROTO);
    if (p != 0 && p != proto) continue;
    let n = <u32>load<u8>(r, M_RANGES);
    if (n != 0) {
      let hit = false;
      for (let k: u32 = 0; k < n; k++) {
        let at = r + M_PORTS + (<usize>k << 2);
        if (port >= <u32>load<u16>(at) && port <= <u32>load<u16>(at, 2)) { hit = true; break; }
      }
      if (!hit) continue;
    }
    mark = load<u32>(r, M_MARK);
  }
  return mark;
}

/** True when addr is a rule's single-address destination: the director answers ARP and
 *  ping for it as for a VIP. (A prefix is routed to the director by its neighbours.) */
export function markCovers(addr: u32): bool {
  for (let i: u32 = 0; i < markRuleCount; i++) {
    let r = rule(i);
    if (load<u32>(r, M_MASK) == 0xffffffff && load<u32>(r, M_NET) == addr) return true;
  }
  return false;
}
