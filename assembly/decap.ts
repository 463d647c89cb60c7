// The real-server decapsulator (`wasmvs decap`): a bump in the wire between a real
// server's uplink and its network stack, for kernels without the ipip module (Katran
// ships one for the same reason). Frames from the uplink that carry a tunnel packet to
// one of the server's tunnel addresses lose their outer header and go up to the stack:
// IPIP (RFC 2003), and as IPVS's TUN method sends them over IPv6 (ip_vs_xmit.c
// ip_vs_tunnel_xmit_v6, and mixed families in ip_vs_tunnel_xmit): IPv6 in IPv6 (next
// header 41, RFC 2473), IPv4 in IPv6 (next header 4) and IPv6 in IPv4 (protocol 41,
// RFC 4213). Everything else passes unchanged, in both directions. Each path checks
// what the IPIP one does: the outer header valid and to us, not a fragment, the inner
// packet well-formed and the whole payload; ECN is combined as RFC 6040 section 4.2
// says (an IPv6 Traffic Class is the TOS's counterpart). Same batch ABI as the engine:
// RX/TX descriptors and slots.

import { Abi, DecapCounter, DecapPort, Err, Region, RxDesc } from "./abi";
import { ethCheck, ethType, ETHERTYPE_IPV4_WIRE, ETHERTYPE_IPV6_WIRE } from "./wire/ethernet";
import {
  ip6DstHi, ip6DstLo, ip6InnerWellFormed, ip6NextHeader, ip6PayloadLen, ip6SetTrafficClass, ip6TrafficClass, ip6Version, IP6_HEADER_LEN,
  NH_DEST_OPTS, NH_FRAGMENT, NH_IPIP, NH_IPV6,
} from "./wire/ip6tunnel";
import { ipv4Check, ipv4Dst, ipv4Ihl, ipv4IsFragment, ipv4Proto, ipv4Tos, ipv4TotalLen, IPV4_HEADER_LEN } from "./wire/ipv4";
import { ipipDecapsulatedTos, ipv4SetTos } from "./wire/ipip";
import { countN, setLayout, rxDescBase, rxSlotsBase, slotSize, batchSize, initialised } from "./engine/state";
import { txBegin, txEnd, txPush } from "./engine/tx";
import * as state from "./engine/state";

@inline const MAX_ADDRESSES: u32 = 16;
const addresses: usize = memory.data(<i32>(MAX_ADDRESSES * 4));
let addressCount: u32 = 0;
const addresses6: usize = memory.data(<i32>(MAX_ADDRESSES * 16));
let address6Count: u32 = 0;
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

/** Add an IPv6 address whose tunnel packets are decapsulated: four u32 words, each the
 *  little-endian load of four network-order bytes (as the engine's setInterfaceIpv6). */
export function addTunnelAddress6(w0: u32, w1: u32, w2: u32, w3: u32): i32 {
  if (address6Count >= MAX_ADDRESSES) return -Err.FULL;
  let a = addresses6 + (<usize>address6Count << 4);
  store<u32>(a, w0); store<u32>(a, w1, 4); store<u32>(a, w2, 8); store<u32>(a, w3, 12);
  address6Count++;
  return Err.OK;
}

@inline function isTunnelAddress6(ip: usize): bool {
  let hi = ip6DstHi(ip), lo = ip6DstLo(ip);
  for (let i: u32 = 0; i < address6Count; i++) {
    let a = addresses6 + (<usize>i << 4);
    if (load<u64>(a) == hi && load<u64>(a, 8) == lo) return true;
  }
  return false;
}

@inline function count(c: i32): void { countN(c, 1); }

function fromUplink(frame: usize, len: u32): void {
  let l2 = ethCheck(frame, len);
  if (l2 == 0) { passUp(frame, len); return; }
  let type = ethType(frame, l2);
  if (type == ETHERTYPE_IPV4_WIRE && len >= l2 + IPV4_HEADER_LEN) {
    let outer = frame + l2;
    let proto = ipv4Proto(outer);
    if ((proto != NH_IPIP && proto != NH_IPV6) || !isTunnelAddress(ipv4Dst(outer))) { passUp(frame, len); return; }
    fromIpv4Tunnel(frame, len, l2, proto);
  } else if (type == ETHERTYPE_IPV6_WIRE && len >= l2 + IP6_HEADER_LEN) {
    let outer = frame + l2;
    if (!isTunnelAddress6(outer)) { passUp(frame, len); return; }
    fromIpv6Tunnel(frame, len, l2);
  } else {
    passUp(frame, len);
  }
}

/** An outer IPv4 header to one of our addresses with protocol 4 (IPIP) or 41 (IPv6 in IPv4). */
function fromIpv4Tunnel(frame: usize, len: u32, l2: u32, proto: u32): void {
  let outer = frame + l2;
  if (ipv4Check(outer, len - l2) != 0) { count(DecapCounter.DROP_BAD_OUTER); return; }
  if (ipv4IsFragment(outer)) { count(DecapCounter.DROP_OUTER_FRAGMENT); return; }
  let ihl = ipv4Ihl(outer);
  let total = ipv4TotalLen(outer);
  let inner = outer + ihl;
  let outerTos = ipv4Tos(outer);
  if (proto == NH_IPIP) {
    if (ipv4Check(inner, total - ihl) != 0) { count(DecapCounter.DROP_BAD_INNER); return; }
    if (!innerTos4(outerTos, inner)) return;
    deliver(frame, l2, ihl, ipv4TotalLen(inner), ETHERTYPE_IPV4_WIRE, -1);
  } else {
    if (!ip6InnerWellFormed(inner, total - ihl)) { count(DecapCounter.DROP_BAD_INNER); return; }
    if (!innerTc6(outerTos, inner)) return;
    deliver(frame, l2, ihl, total - ihl, ETHERTYPE_IPV6_WIRE, DecapCounter.DECAPSULATED_6IN4);
  }
}

/** An outer IPv6 header to one of our addresses. IPVS writes next header 41 or 4 right
 *  after the fixed header; a tunnel entry point of RFC 2473 may put a destination options
 *  header first (its Tunnel Encapsulation Limit option), which is stepped over once. A
 *  fragment header in front of a tunnel protocol is an outer fragment: dropped, as the
 *  IPIP path drops one (the director never fragments what it tunnels: it sends Packet Too
 *  Big instead). Anything else to our address is the stack's. */
function fromIpv6Tunnel(frame: usize, len: u32, l2: u32): void {
  let outer = frame + l2;
  let nh = ip6NextHeader(outer);
  let at: u32 = IP6_HEADER_LEN;
  if (nh == NH_DEST_OPTS || nh == NH_FRAGMENT) {
    if (len < l2 + at + 8) { passUp(frame, len); return; }
    let inNext = <u32>load<u8>(outer + at);
    if (inNext != NH_IPV6 && inNext != NH_IPIP) { passUp(frame, len); return; }
    if (nh == NH_FRAGMENT) { count(DecapCounter.DROP_OUTER_FRAGMENT); return; }
    at += (<u32>load<u8>(outer + at, 1) + 1) << 3;
    nh = inNext;
  }
  if (nh != NH_IPV6 && nh != NH_IPIP) { passUp(frame, len); return; }
  let payload = ip6PayloadLen(outer);
  // Version, and a payload length the frame holds (Ethernet may pad a frame; never short)
  // that covers the extension header stepped over.
  if (ip6Version(outer) != 6 || l2 + IP6_HEADER_LEN + payload > len || IP6_HEADER_LEN + payload < at) { count(DecapCounter.DROP_BAD_OUTER); return; }
  let inner = outer + at;
  let innerLen = IP6_HEADER_LEN + payload - at;
  let outerTc = ip6TrafficClass(outer);
  if (nh == NH_IPV6) {
    if (!ip6InnerWellFormed(inner, innerLen)) { count(DecapCounter.DROP_BAD_INNER); return; }
    if (!innerTc6(outerTc, inner)) return;
    deliver(frame, l2, at, innerLen, ETHERTYPE_IPV6_WIRE, DecapCounter.DECAPSULATED_IP6IP6);
  } else {
    if (ipv4Check(inner, innerLen) != 0 || ipv4TotalLen(inner) != innerLen) { count(DecapCounter.DROP_BAD_INNER); return; }
    if (!innerTos4(outerTc, inner)) return;
    deliver(frame, l2, at, innerLen, ETHERTYPE_IPV4_WIRE, DecapCounter.DECAPSULATED_4IN6);
  }
}

/** RFC 6040 section 4.2 onto an inner IPv4 header; false (counted) when it must be dropped. */
@inline function innerTos4(outerTos: u32, inner: usize): bool {
  let tos = ipipDecapsulatedTos(outerTos, ipv4Tos(inner));
  if (tos < 0) { count(DecapCounter.DROP_ECN); return false; }
  if (<u32>tos != ipv4Tos(inner)) ipv4SetTos(inner, <u32>tos);
  return true;
}

/** The same onto an inner IPv6 header's Traffic Class. */
@inline function innerTc6(outerTos: u32, inner: usize): bool {
  let tc = ipipDecapsulatedTos(outerTos, ip6TrafficClass(inner));
  if (tc < 0) { count(DecapCounter.DROP_ECN); return false; }
  if (<u32>tc != ip6TrafficClass(inner)) ip6SetTrafficClass(inner, <u32>tc);
  return true;
}

/** Send the inner packet (innerLen bytes at frame + l2 + outerLen) up to the stack: the
 *  Ethernet header slides up to it (the frame now starts outerLen later), with the inner
 *  packet's ethertype. kind: the per-family counter, or -1 for IPIP. */
@inline function deliver(frame: usize, l2: u32, outerLen: u32, innerLen: u32, ethertype: u32, kind: i32): void {
  let moved = frame + outerLen;
  memory.copy(moved, frame, l2);
  store<u16>(moved + l2 - 2, <u16>ethertype);
  if (txPush(moved, l2 + innerLen, DecapPort.STACK)) {
    count(DecapCounter.DECAPSULATED);
    if (kind >= 0) count(kind);
  } else count(DecapCounter.DROP_TX_FULL);
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
