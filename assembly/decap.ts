// The real-server decapsulator (`wasmvs decap`): a bump in the wire between a real
// server's uplink and its network stack, for kernels without the ipip module (Katran
// ships one for the same reason). Frames from the uplink that carry IPIP (RFC 2003)
// to one of the server's tunnel addresses lose their outer header and go up to the
// stack; everything else passes unchanged, in both directions. ECN is combined as
// RFC 6040 section 4.2 says. Same batch ABI as the engine: RX/TX descriptors and slots.

import { Abi, DecapCounter, DecapPort, Err, Region, RxDesc } from "./abi";
import { ethCheck, ethType, ETHERTYPE_IPV4_WIRE } from "./wire/ethernet";
import { ipv4Check, ipv4Dst, ipv4Ihl, ipv4IsFragment, ipv4Proto, ipv4Tos, ipv4TotalLen, IPV4_HEADER_LEN } from "./wire/ipv4";
import { ipipDecapsulatedTos, ipv4SetTos } from "./wire/ipip";
import { countN, setLayout, rxDescBase, rxSlotsBase, slotSize, batchSize, initialised } from "./engine/state";
import { txBegin, txEnd, txPush } from "./engine/tx";
import * as state from "./engine/state";

@inline const MAX_ADDRESSES: u32 = 16;
const addresses: usize = memory.data(<i32>(MAX_ADDRESSES * 4));
let addressCount: u32 = 0;
const regions: usize = memory.data(<i32>Region.COUNT * 4);

@inline function alignUp(v: u64, a: u64): u64 { return (v + a - 1) & ~(a - 1); }

export function abiVersion(): u32 { return Abi.VERSION; }

/** Lay out memory for batch slots of slot bytes; grows memory once. 0 or -Err. */
export function init(batch: u32, slot: u32): i32 {
  if (batch == 0 || batch > 4096 || slot < 256 || slot > 131072 + <u32>Abi.HEADROOM || (slot & 63) != 0) return -Err.BAD_ARGUMENT;
  let at: u64 = alignUp(<u64>__heap_base, 64);
  let r = regions;
  store<u32>(r + (<usize>Region.RX_DESC << 2), <u32>at); at = alignUp(at + <u64>batch * <u64>Abi.DESC_SIZE, 64);
  store<u32>(r + (<usize>Region.RX_SLOTS << 2), <u32>at); at = alignUp(at + <u64>batch * <u64>slot, 64);
  store<u32>(r + (<usize>Region.TX_DESC << 2), <u32>at); at = alignUp(at + <u64>batch * <u64>Abi.DESC_SIZE, 64);
  store<u32>(r + (<usize>Region.COUNTERS << 2), <u32>at); at = alignUp(at + <u64>DecapCounter.COUNT * 8, 64);
  store<u32>(r + (<usize>Region.END << 2), <u32>at);
  let pages = <i32>((at + 65535) >> 16);
  if (pages > memory.size() && memory.grow(pages - memory.size()) < 0) return -Err.NO_MEMORY;
  let counters = <usize>load<u32>(r + (<usize>Region.COUNTERS << 2));
  memory.fill(counters, 0, <usize>DecapCounter.COUNT * 8);
  setLayout(batch, slot, <usize>load<u32>(r + (<usize>Region.RX_DESC << 2)), <usize>load<u32>(r + (<usize>Region.RX_SLOTS << 2)),
    <usize>load<u32>(r + (<usize>Region.TX_DESC << 2)), batch, counters, 0, 0, 0);
  return Err.OK;
}

export function regionOffset(r: u32): u32 { return r < <u32>Region.COUNT ? load<u32>(regions + (<usize>r << 2)) : 0; }

/** Add an address whose IPIP packets are decapsulated (wire order). */
export function addTunnelAddress(addr: u32): i32 {
  if (addressCount >= MAX_ADDRESSES) return -Err.FULL;
  store<u32>(addresses + (<usize>addressCount << 2), addr);
  addressCount++;
  return Err.OK;
}

@inline function isTunnelAddress(a: u32): bool {
  for (let i: u32 = 0; i < addressCount; i++) if (load<u32>(addresses + (<usize>i << 2)) == a) return true;
  return false;
}

@inline function count(c: i32): void { countN(c, 1); }

function fromUplink(frame: usize, len: u32): void {
  let l2 = ethCheck(frame, len);
  if (l2 == 0 || ethType(frame, l2) != ETHERTYPE_IPV4_WIRE || len < l2 + IPV4_HEADER_LEN) { passUp(frame, len); return; }
  let outer = frame + l2;
  if (ipv4Proto(outer) != 4 || !isTunnelAddress(ipv4Dst(outer))) { passUp(frame, len); return; }
  if (ipv4Check(outer, len - l2) != 0) { count(DecapCounter.DROP_BAD_OUTER); return; }
  if (ipv4IsFragment(outer)) { count(DecapCounter.DROP_OUTER_FRAGMENT); return; }
  let ihl = ipv4Ihl(outer);
  let total = ipv4TotalLen(outer);
  let inner = outer + ihl;
  if (ipv4Check(inner, total - ihl) != 0) { count(DecapCounter.DROP_BAD_INNER); return; }
  let tos = ipipDecapsulatedTos(ipv4Tos(outer), ipv4Tos(inner));
  if (tos < 0) { count(DecapCounter.DROP_ECN); return; }
  if (<u32>tos != ipv4Tos(inner)) ipv4SetTos(inner, <u32>tos);
  // Slide the Ethernet header up to the inner header: the frame now starts ihl later.
  let moved = frame + ihl;
  memory.copy(moved, frame, l2);
  if (txPush(moved, l2 + ipv4TotalLen(inner), DecapPort.STACK)) count(DecapCounter.DECAPSULATED);
  else count(DecapCounter.DROP_TX_FULL);
}

@inline function passUp(frame: usize, len: u32): void {
  if (txPush(frame, len, DecapPort.STACK)) count(DecapCounter.PASSED_UP);
  else count(DecapCounter.DROP_TX_FULL);
}

export function processBatch(n: u32, nowMs: u32): u32 {
  if (!initialised) return 0;
  txBegin();
  if (n > batchSize) n = batchSize;
  countN(DecapCounter.RX_FRAMES, n);
  let frame = rxSlotsBase + <usize>Abi.HEADROOM;
  let desc = rxDescBase;
  let cap = slotSize - <u32>Abi.HEADROOM;
  for (let i: u32 = 0; i < n; i++, frame += <usize>slotSize, desc += <usize>Abi.DESC_SIZE) {
    let len = load<u32>(desc, RxDesc.LEN);
    if (len > cap) { count(DecapCounter.DROP_FRAME_TOO_BIG); continue; }
    if (load<u32>(desc, RxDesc.IFINDEX) == DecapPort.UPLINK) fromUplink(frame, len);
    else if (txPush(frame, len, DecapPort.UPLINK)) count(DecapCounter.PASSED_DOWN);
    else count(DecapCounter.DROP_TX_FULL);
  }
  let tx = txEnd();
  return tx;
}

export function tick(nowMs: u32): u32 { return 0; }
