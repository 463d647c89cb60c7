// Connection sync (IPVS's sync daemon, protocol version 1) done by the engine itself: a
// sending director appends an entry for every new connection, every TCP state change and
// every persistence template to a message, and sends the message at the end of the call
// that filled it — within one batch of the event, not IPVS's 3 packets and 2 s flush;
// a receiving director applies each entry to its own table as it arrives (the service and
// real server found by address and port, or by mark), so that when it becomes master the
// connections go on. No JS touches a connection on either side.
//
// Roles are bits: SEND (master), RECEIVE (backup); the host sets them from VRRP.
//
// What a backup accepts (IPVS binds its receive socket to 224.0.0.81 on the sync interface
// and so takes only what the link itself carries; wasmvs sees every frame, so it checks):
// - multicast to 224.0.0.81 on the sync interface with IP TTL exactly 1 (IPVS sends TTL 1;
//   the group is link-local and never routed, and a router that forwarded the datagram
//   would have lowered its TTL): anything with another TTL is DROP_SYNC_BAD_TTL, to
//   another group DROP_SYNC_BAD_GROUP;
// - unicast to the interface's address only from the configured peer (`--mcast-group` /
//   `group` naming the other director) or from the current VRRP master's address (the
//   host learns it from the adverts: syncAcceptFrom); from anyone else DROP_SYNC_BAD_SOURCE;
// - with a UDP checksum that adds up when there is one (DROP_SYNC_BAD_CHECKSUM), as the
//   kernel's UDP layer drops a bad one before IPVS sees it.
// Entries it makes are marked synced-never-seen and bounded to a share of the table
// (conn/table.ts), so that sync can never keep a new connection out.

import { connDest } from "../conn/entry";
import { ConnField, ConnFlag, ConnFlag2, ConnState, Counter, Fwd, Proto } from "../abi";
import { count, countN, now, timeoutMsOf, vnet } from "../engine/state";
import { scratchTake, txPush } from "../engine/tx";
import { bswap16, bswap32 } from "../wire/bytes";
import { EthField, ETHERTYPE_IPV4_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { ipv4Emit, IPV4_HEADER_LEN } from "../wire/ipv4";
import { udpChecksumValid, UdpField, UDP_HEADER_LEN } from "../wire/udp";
import { VnetField } from "../wire/vnet";
import { transportChecksum, udpNonZero } from "../wire/checksum";
import {
  syncCheck, syncEntryEmit, syncEntrySize, syncHeaderEmit, syncIsV1, SyncEntry, SyncEntryV0, SyncField, syncU16, syncU32, syncV0EntrySize, SYNC_ENTRY_LEN,
  SYNC_F_FWD_MASK, SYNC_F_INACTIVE, SYNC_F_NOOUTPUT, SYNC_F_TEMPLATE, SYNC_GROUP_WIRE, SYNC_HEADER_LEN, SYNC_PORT, SYNC_V0_ENTRY_LEN, SYNC_V0_HEADER_LEN,
} from "../wire/ipvssync";
import { connCapacity, connCreate, connEntry, connLookupIn, connBase, connSetSyncedShare, connSynced, connSyncedMax, templateValid } from "../conn/table";
import { stateTimeout } from "../conn/tcpstate";
import {
  destBind, destBindTemplate, destFind, destMoveConn, destService, NONE, svcFind, svcNetmask, svcPersistTimeout, svcPort, svcProto, svcVaddr,
} from "../svc/service";
import { ifaceAddr, ifaceExists, ifaceMac, ifaceMtu } from "../route/route";
import { authKeyed, authMac, authSetKey, authVerify, MAC_LEN } from "./auth";
import { sendRouted } from "../xmit/output";

@inline export const SYNC_SEND: u32 = 1;
@inline export const SYNC_RECEIVE: u32 = 2;
/** Bytes of the message buffer (a 1500-byte MTU's worth), then one v1 entry's room for
 *  reading v0 entries into. */
export const SYNC_BUFFER_BYTES: usize = 1472 + 64;
const SEND_BYTES: u32 = 1472;

export let syncSending = false;
export let syncReceiving = false;
let syncIfindex: u32 = 0;
let syncId: u32 = 0;
/** A unicast peer the master sends to (wire order), or 0 for the group 224.0.0.81. */
let syncPeer: u32 = 0;
/** Whom a backup takes unicast sync from: the configured peer, and the VRRP master of the
 *  instance sync follows as the host last learned it (wire order, 0: none). */
let syncFrom: u32 = 0;
let syncMaster: u32 = 0;
/** The share of the table synced-never-seen entries may hold when none is configured:
 *  half. A forged flood then leaves half the table free for the connections a failover
 *  brings, with no eviction scan; a backup of a master busier than half its table needs
 *  a bigger share or table (IPVS's own table has no fixed size). */
@inline const DEFAULT_SHARE_PERCENT: u32 = 50;
let maxEntries: u32 = 40;
/** The largest message, MAC trailer included (sync_maxlen, limited by the MTU). */
let maxBytes: u32 = SEND_BYTES;
let buffer: usize = 0;
let pending: u32 = 0;
/** When the last message was accepted (the engine's clock; the backup's start before any). */
let lastReceived: u32 = 0;

export function syncLayout(base: usize): void {
  buffer = base; pending = 0; syncSending = false; syncReceiving = false; syncFrom = 0; syncMaster = 0;
  connSetSyncedShare(DEFAULT_SHARE_PERCENT);
}

/** Roles (SEND | RECEIVE), the interface, the sync ID (0: accept any), the largest message
 *  (UDP payload bytes, at most 1472), a unicast peer to send to instead of the group
 *  (wire order, 0: the group), the one address a backup takes unicast messages from besides
 *  the VRRP master (0: none). */
export function syncConfigure(roles: u32, ifindex: u32, syncid: u32, maxlen: u32, refreshPeriodMs: u32, peer: u32, from: u32): bool {
  if (roles != 0 && !ifaceExists(ifindex)) return false;
  if (maxlen < SYNC_HEADER_LEN + SYNC_ENTRY_LEN || maxlen > SEND_BYTES) return false;
  // A message never needs fragmenting: at most the interface's MTU less the IP and UDP
  // headers, as IPVS limits sync_maxlen (set_sync_mesg_maxlen).
  if (roles != 0) {
    let limit = ifaceMtu(ifindex) - IPV4_HEADER_LEN - UDP_HEADER_LEN;
    if (limit < SYNC_HEADER_LEN + SYNC_ENTRY_LEN) return false;
    if (maxlen > limit) maxlen = limit;
  }
  if (syncSending && (roles & SYNC_SEND) == 0) syncFlush();
  // A backup that starts has gone without a message since it started (syncIdleMs).
  if (!syncReceiving && (roles & SYNC_RECEIVE) != 0) lastReceived = now;
  syncSending = (roles & SYNC_SEND) != 0;
  syncReceiving = (roles & SYNC_RECEIVE) != 0;
  syncIfindex = ifindex;
  syncId = syncid & 0xff;
  syncPeer = peer;
  syncFrom = from;
  maxBytes = maxlen;
  maxEntries = entriesFitting();
  refreshMs = refreshPeriodMs;
  refreshLast = now;
  return true;
}

/** An event on connection (or template) e: it goes out at the end of this call. */
export function syncConn(e: usize): void {
  urgent = true;
  append(e);
}

/** Append e to the message; sends it when full. */
function append(e: usize): void {
  encodeEntry(e, buffer + SYNC_HEADER_LEN + <usize>pending * SYNC_ENTRY_LEN, false);
  pending++;
  count(Counter.SYNC_CONNS_SENT);
  if (pending >= maxEntries) syncFlush();
}

/** Connection (or template) e as a 36-byte sync entry at out. Its timeout: the full one of
 *  its state, as IPVS sends it, or (remaining) what is left of it, for a process that takes
 *  the table over. */
function encodeEntry(e: usize, out: usize, remaining: bool): void {
  let flags8 = <u32>load<u8>(e, ConnField.FLAGS);
  let template = (flags8 & ConnFlag.TEMPLATE) != 0;
  let proto = <u32>load<u8>(e, ConnField.PROTO) & 0x7f;
  let fwd = (flags8 & ConnFlag.FWD_MASK) >> ConnFlag.FWD_SHIFT;
  let flags = fwd | ((flags8 & ConnFlag.NOOUTPUT) != 0 ? SYNC_F_NOOUTPUT : 0) | ((flags8 & ConnFlag.INACTIVE) != 0 ? SYNC_F_INACTIVE : 0) |
    (template ? SYNC_F_TEMPLATE : 0);
  let st = <u32>load<u8>(e, ConnField.STATE);
  // IPVS's UDP connections and templates are in state 0 on the wire.
  let wireState = template || st == ConnState.UDP ? 0 : st;
  let s = destService(connDest(e));
  let fwmark: u32 = s != NONE && svcProto(s) == 0 ? bswap32(svcVaddr(s)) : 0;
  let timeoutS = template ? (s != NONE ? svcPersistTimeout(s) : 300) : stateTimeout(st) / 1000;
  if (remaining) {
    let left = <i32>(load<u32>(e, ConnField.EXPIRES) - now);
    timeoutS = left <= 0 ? 1 : (<u32>left + 999) / 1000;
  }
  syncEntryEmit(out, proto, flags, wireState, <u32>load<u16>(e, ConnField.CPORT),
    <u32>load<u16>(e, ConnField.VPORT), <u32>load<u16>(e, ConnField.DPORT), fwmark, timeoutS, load<u32>(e, ConnField.CADDR),
    load<u32>(e, ConnField.VADDR), load<u32>(e, ConnField.DADDR));
}

/** Entries the last tableExport wrote. */
export let tableExported: u32 = 0;

/** The table for a process that takes over (a planned restart, host/dataplane/handoff.ts),
 *  as sync entries with what remains of each timeout: entries from slot `from` on, the
 *  templates only or the connections only (templates go first, so that the connections find
 *  them), at most max of them at out. Returns the slot to go on from (capacity: done). */
export function tableExport(from: u32, templates: bool, out: usize, max: u32, slots: u32 = 0xffffffff): u32 {
  let n: u32 = 0;
  let at = from;
  // At most `slots` slots looked at (the crash journal bounds each turn's work by it).
  let end = connCapacity - from > slots ? from + slots : connCapacity;
  for (; at < end && n < max; at++) {
    let e = connEntry(at);
    let f = <u32>load<u8>(e, ConnField.FLAGS);
    if ((f & ConnFlag.USED) == 0 || ((f & ConnFlag.TEMPLATE) != 0) != templates) continue;
    // A template dropped while it controls connections (templateInvalidate) is no one's to take over.
    if (templates && !templateValid(e)) continue;
    // A TCP connection before its first state (a moment after its creation) has no wire state.
    if ((f & ConnFlag.TEMPLATE) == 0 && <u32>load<u8>(e, ConnField.STATE) == ConnState.NONE) continue;
    encodeEntry(e, out + <usize>n * SYNC_ENTRY_LEN, true);
    n++;
  }
  tableExported = n;
  return at;
}

/** Entries of the last tableImport that had expired meanwhile, and that matched no service
 *  or server here. */
export let tableExpired: u32 = 0;
export let tableUnmatched: u32 = 0;

/** Take n exported entries at `at` into the table, elapsedMs after they were written (each
 *  timeout shortened by it; those run out are left). Returns how many were applied. */
export function tableImport(at: usize, n: u32, elapsedMs: u32): u32 {
  let applied: u32 = 0;
  tableExpired = 0;
  tableUnmatched = 0;
  for (let k: u32 = 0; k < n; k++) {
    let e = at + <usize>k * SYNC_ENTRY_LEN;
    if (syncEntrySize(e) != SYNC_ENTRY_LEN || (load<u8>(e, SyncEntry.TYPE) & 1) != 0) { tableUnmatched++; continue; }
    let leftMs = <i64>syncU32(e, SyncEntry.TIMEOUT) * 1000 - <i64>elapsedMs;
    if (leftMs <= 0) { tableExpired++; continue; }
    store<u32>(e, bswap32(<u32>((leftMs + 999) / 1000)), SyncEntry.TIMEOUT);
    // The process's own table (a file only root could write): no share, marked as live.
    if (applyEntry(e, false) == Counter.SYNC_CONNS_RECEIVED) applied++;
    else tableUnmatched++;
  }
  return applied;
}

/** Something should go out at the end of this call (timer calls send whatever waits). */
@inline export function syncPending(timer: bool): bool { return pending != 0 && (urgent || timer); }

/** The master resends its whole table every SYNC_REFRESH_MS, a slice per call in
 *  proportion to the time passed: a backup that joins (or restarts) has every connection
 *  within one period, and long-lived connections never age out on the backup. */
let refreshMs: u32 = 10000;
let refreshCursor: u32 = 0;
/** An entry for an event (new connection, state change) is waiting: send at the end of the
 *  call; refresh entries alone wait for the next timer call or a full message. */
let urgent = false;
let refreshCredit: f64 = 0;
let refreshLast: u32 = 0;

export function syncRefresh(): void {
  if (!syncSending || connCapacity == 0 || refreshMs == 0) { refreshLast = now; return; }
  let elapsed = now - refreshLast;
  refreshLast = now;
  if (<i32>elapsed < 0 || elapsed > refreshMs) elapsed = refreshMs;
  refreshCredit += <f64>connCapacity * <f64>elapsed / <f64>refreshMs;
  let n = <u32>refreshCredit;
  refreshCredit -= <f64>n;
  if (n > connCapacity) n = connCapacity;
  let at = refreshCursor;
  for (let k: u32 = 0; k < n; k++) {
    let e = connEntry(at);
    let f = <u32>load<u8>(e, ConnField.FLAGS);
    if ((f & ConnFlag.USED) != 0) {
      let st = <u32>load<u8>(e, ConnField.STATE);
      // Templates, UDP flows and established connections: the rest changes state soon and is synced then.
      // Not a template dropped while it controls connections: a backup would take it for a live one.
      if ((f & ConnFlag.TEMPLATE) != 0 ? templateValid(e) : st == ConnState.UDP || st == ConnState.ESTABLISHED) append(e);
    }
    at = at + 1 < connCapacity ? at + 1 : 0;
  }
  refreshCursor = at;
}

/** Send the message being built (to 224.0.0.81:8848, TTL 1, from the sync interface; or to
 *  the unicast peer, TTL 64 as IPVS's unicast socket would, routed and ARP-resolved). */
export function syncFlush(): void {
  if (pending == 0) return;
  let n = pending;
  pending = 0;
  urgent = false;
  let src = ifaceAddr(syncIfindex);
  let f = scratchTake();
  if (f == 0 || src == 0) { countN(Counter.GENERATED_LOST, 1); return; }
  let msgLen = SYNC_HEADER_LEN + n * SYNC_ENTRY_LEN;
  syncHeaderEmit(buffer, syncId, msgLen, n);
  let dst = syncPeer != 0 ? syncPeer : SYNC_GROUP_WIRE;
  // 01:00:5e:00:00:51, the multicast MAC of 224.0.0.81 (a unicast peer's comes from ARP).
  store<u32>(f, 0x005e0001, EthField.DST);
  store<u16>(f, 0x5100, EthField.DST + 4);
  memory.copy(f + EthField.SRC, ifaceMac(syncIfindex), 6);
  store<u16>(f, <u16>ETHERTYPE_IPV4_WIRE, EthField.TYPE);
  let ip = f + ETH_HEADER_LEN;
  let udpLen = UDP_HEADER_LEN + msgLen + (authKeyed ? MAC_LEN : 0);
  ipv4Emit(ip, 0, IPV4_HEADER_LEN + udpLen, 0, 0, syncPeer != 0 ? 64 : 1, Proto.UDP, src, dst);
  let udp = ip + IPV4_HEADER_LEN;
  store<u16>(udp, <u16>bswap16(SYNC_PORT), UdpField.SRC_PORT);
  store<u16>(udp, <u16>bswap16(SYNC_PORT), UdpField.DST_PORT);
  store<u16>(udp, <u16>bswap16(udpLen), UdpField.LENGTH);
  store<u16>(udp, 0, UdpField.CHECKSUM);
  memory.copy(udp + UDP_HEADER_LEN, buffer, msgLen);
  // With a key, the MAC of the message right after it (ha/auth.ts).
  if (authKeyed) authMac(udp + UDP_HEADER_LEN, msgLen, udp + UDP_HEADER_LEN + msgLen);
  store<u16>(udp, <u16>udpNonZero(transportChecksum(src, dst, Proto.UDP, udp, udpLen)), UdpField.CHECKSUM);
  let len = ETH_HEADER_LEN + IPV4_HEADER_LEN + udpLen;
  if (syncPeer != 0) {
    count(Counter.SYNC_MESSAGES_SENT);
    sendRouted(f, ETH_HEADER_LEN, IPV4_HEADER_LEN + udpLen, syncPeer, -1);
    return;
  }
  if (!txPush(f, len < 60 ? 60 : len, syncIfindex)) { count(Counter.GENERATED_LOST); return; }
  count(Counter.SYNC_MESSAGES_SENT);
}

/** Entries a message holds, leaving room for the MAC when there is a key. */
function entriesFitting(): u32 {
  let room = maxBytes - SYNC_HEADER_LEN - (authKeyed ? MAC_LEN : 0);
  let n = room / SYNC_ENTRY_LEN;
  return n > 255 ? 255 : n == 0 ? 1 : n;
}

/** The sync key (len bytes at p, at most 64; 0: none, authentication off). What waits is
 *  sent first, under the old key. */
export function syncSetKey(p: usize, len: u32): bool {
  if (len > 64) return false;
  if (pending != 0) syncFlush();
  authSetKey(p, len);
  maxEntries = entriesFitting();
  return true;
}

/** The percent of the table synced-never-seen entries may hold (1-100; 0: the default). */
export function syncSetShare(percent: u32): bool {
  if (percent > 100) return false;
  connSetSyncedShare(percent != 0 ? percent : DEFAULT_SHARE_PERCENT);
  return true;
}

/** The VRRP master of the instance sync follows (wire order; 0: none known): a backup takes
 *  unicast sync from it. The host calls it when a backup learns a new master's address. */
export function syncAcceptFrom(addr: u32): void { syncMaster = addr; }

/** Milliseconds a backup has gone without accepting a message (since it started, before its
 *  first); 0xffffffff when not receiving. IPVS sends nothing while a master has nothing to
 *  sync, so this grows on an idle pair: alerting pairs it with the master's messages sent. */
export function syncIdleMs(): u32 { return syncReceiving ? now - lastReceived : 0xffffffff; }

/** Is this UDP datagram to the sync port on the sync interface, to a multicast group or to
 *  the interface's address? Then sync has the last word on it. (Before any service lookup.) */
@inline export function syncIsForUs(dst: u32, dportWire: u32, ifindex: u32): bool {
  return ifindex == syncIfindex && dportWire == bswap16(SYNC_PORT) && ((dst & 0xf0) == 0xe0 || dst == ifaceAddr(ifindex));
}

/** A datagram syncIsForUs took (IPv4 header at ip, UDP at udp, udpLen bytes by its length
 *  field): from whom and how it came, then its message. Ends in exactly one counter. */
export function syncReceiveDatagram(frame: usize, ip: usize, udp: usize, udpLen: u32): void {
  let src = load<u32>(ip, 12);
  let dst = load<u32>(ip, 16);
  if ((dst & 0xf0) == 0xe0) {
    if (dst != SYNC_GROUP_WIRE) { count(Counter.DROP_SYNC_BAD_GROUP); return; }
    if (load<u8>(ip, 8) != 1) { count(Counter.DROP_SYNC_BAD_TTL); return; }
  } else if (src == 0 || (src != syncFrom && src != syncMaster)) { count(Counter.DROP_SYNC_BAD_SOURCE); return; }
  // A frame from the host's own stack through a TAP with offloads may carry a partial
  // checksum (NEEDS_CSUM) or one the kernel checked (DATA_VALID): both are good, as in Linux.
  let offloaded = vnet && (<u32>load<u8>(frame - 10, VnetField.FLAGS) & 3) != 0;
  if (!offloaded && !udpChecksumValid(src, dst, udp, udpLen)) { count(Counter.DROP_SYNC_BAD_CHECKSUM); return; }
  let m = udp + UDP_HEADER_LEN;
  let len = udpLen - UDP_HEADER_LEN;
  if (authKeyed) {
    // The MAC trailer after the message; the message's size field is checked after (syncCheck).
    if (len < MAC_LEN || !authVerify(m, len - MAC_LEN, m + len - MAC_LEN)) { count(Counter.DROP_SYNC_BAD_MAC); return; }
    len -= MAC_LEN;
  }
  syncReceive(m, len);
}

/** Apply a sync message (len bytes at m). Ends in exactly one counter for the frame. */
export function syncReceive(m: usize, len: u32): void {
  if (syncCheck(m, len) != 0) { count(Counter.DROP_SYNC_MALFORMED); return; }
  let id = <u32>load<u8>(m, SyncField.SYNCID);
  if (syncId != 0 && id != syncId) { count(Counter.DROP_SYNC_OTHER_SYNCID); return; }
  if (!syncIsV1(m)) { receiveV0(m, len); return; }
  let n = <u32>load<u8>(m, SyncField.NR_CONNS);
  // Every entry is checked before any is applied: a message that does not add up changes nothing.
  let at = m + SYNC_HEADER_LEN;
  let end = m + len;
  for (let k: u32 = 0; k < n; k++) {
    if (at + SYNC_ENTRY_LEN > end) { count(Counter.DROP_SYNC_MALFORMED); return; }
    let size = syncEntrySize(at);
    if (size < SYNC_ENTRY_LEN || at + size > end) { count(Counter.DROP_SYNC_MALFORMED); return; }
    at += size;
  }
  if (at != end) { count(Counter.DROP_SYNC_MALFORMED); return; }
  at = m + SYNC_HEADER_LEN;
  for (let k: u32 = 0; k < n; k++) {
    let size = syncEntrySize(at);
    if ((load<u8>(at, SyncEntry.TYPE) & 1) != 0) count(Counter.SYNC_CONNS_UNMATCHED); // IPv6
    else count(applyEntry(at, true));
    at += size;
  }
  received();
}

/** A message accepted: the frame's counter, and the backup's last word from its master. */
function received(): void {
  count(Counter.CONSUMED);
  count(Counter.SYNC_MESSAGES_RECEIVED);
  lastReceived = now;
}

/** A version-0 message (an old IPVS master): each entry read into a v1 entry, timeout 0
 *  (the state's own), and applied as one. */
function receiveV0(m: usize, len: u32): void {
  let n = <u32>load<u8>(m);
  let at = m + SYNC_V0_HEADER_LEN;
  let end = m + len;
  for (let k: u32 = 0; k < n; k++) {
    if (at + SYNC_V0_ENTRY_LEN > end || at + syncV0EntrySize(at) > end) { count(Counter.DROP_SYNC_MALFORMED); return; }
    at += syncV0EntrySize(at);
  }
  if (at != end) { count(Counter.DROP_SYNC_MALFORMED); return; }
  let v1 = buffer + <usize>SEND_BYTES;
  at = m + SYNC_V0_HEADER_LEN;
  for (let k: u32 = 0; k < n; k++) {
    let flags = bswap16(<u32>load<u16>(at, SyncEntryV0.FLAGS));
    syncEntryEmit(v1, <u32>load<u8>(at, SyncEntryV0.PROTOCOL), flags, bswap16(<u32>load<u16>(at, SyncEntryV0.STATE)), <u32>load<u16>(at, SyncEntryV0.CPORT),
      <u32>load<u16>(at, SyncEntryV0.VPORT), <u32>load<u16>(at, SyncEntryV0.DPORT), 0, 0, load<u32>(at, SyncEntryV0.CADDR),
      load<u32>(at, SyncEntryV0.VADDR), load<u32>(at, SyncEntryV0.DADDR));
    count(applyEntry(v1, true));
    at += syncV0EntrySize(at);
  }
  received();
}

/** Apply one entry; returns its counter: SYNC_CONNS_RECEIVED (applied), _UNMATCHED (no such
 *  service or server here, or not an entry wasmvs takes), _OVER_SHARE or _TABLE_FULL (a new
 *  entry refused). synced: from the wire, so a new entry is marked synced-never-seen and
 *  counts in the share. */
function applyEntry(e: usize, synced: bool): i32 {
  let proto = <u32>load<u8>(e, SyncEntry.PROTOCOL);
  let flags = syncU32(e, SyncEntry.FLAGS);
  let template = (flags & SYNC_F_TEMPLATE) != 0;
  let wireState = syncU16(e, SyncEntry.STATE);
  let cport = <u32>load<u16>(e, SyncEntry.CPORT);
  let vport = <u32>load<u16>(e, SyncEntry.VPORT);
  let dport = <u32>load<u16>(e, SyncEntry.DPORT);
  let fwmark = syncU32(e, SyncEntry.FWMARK);
  let timeoutMs = timeoutMsOf(syncU32(e, SyncEntry.TIMEOUT));
  let caddr = load<u32>(e, SyncEntry.CADDR);
  let vaddr = load<u32>(e, SyncEntry.VADDR);
  let daddr = load<u32>(e, SyncEntry.DADDR);
  if (!template && proto != Proto.TCP && proto != Proto.UDP) return Counter.SYNC_CONNS_UNMATCHED;
  if (!template && proto == Proto.TCP && (wireState == 0 || wireState >= <u32>ConnState.UDP)) return Counter.SYNC_CONNS_UNMATCHED;
  let s = fwmark != 0 ? svcFind(0, bswap32(fwmark), 0) : svcFind(proto, vaddr, vport);
  if (s == NONE && !template && fwmark == 0) s = svcFind(proto, vaddr, 0); // a port-zero service
  if (s == NONE) return Counter.SYNC_CONNS_UNMATCHED;
  let d = destFind(s, daddr, dport, false);
  if (d == NONE) d = destFind(s, daddr, 0, false);
  if (d == NONE) return Counter.SYNC_CONNS_UNMATCHED;
  let fwd = flags & SYNC_F_FWD_MASK;
  if (fwd != Fwd.MASQ && fwd != Fwd.TUNNEL && fwd != Fwd.DROUTE) return Counter.SYNC_CONNS_UNMATCHED;
  if (template) {
    let tproto = svcProto(s) | <u32>ConnFlag.TEMPLATE_PROTO;
    let tvaddr = svcVaddr(s);
    let t = connLookupIn(tproto, caddr, svcPort(s) << 16, tvaddr);
    if (t == 0) {
      if (synced && connSynced >= connSyncedMax) return Counter.SYNC_CONNS_OVER_SHARE;
      t = connCreate(tproto, caddr, 0, tvaddr, svcPort(s), daddr, dport, d, ConnFlag.TEMPLATE | (fwd << ConnFlag.FWD_SHIFT) | markOf(synced), ConnState.NONE, false);
      if (t == 0) return Counter.SYNC_CONNS_TABLE_FULL;
      destBindTemplate(d);
    }
    store<u32>(t, now + (timeoutMs != 0 ? timeoutMs : 300000), ConnField.EXPIRES);
    return Counter.SYNC_CONNS_RECEIVED;
  }
  let state = proto == Proto.UDP ? <u32>ConnState.UDP : wireState;
  let inactive = proto == Proto.UDP || state != ConnState.ESTABLISHED;
  let c = connLookupIn(proto, caddr, cport | (vport << 16), vaddr);
  if (c == 0) {
    if (synced && connSynced >= connSyncedMax) return Counter.SYNC_CONNS_OVER_SHARE;
    let cf: u32 = (fwd << ConnFlag.FWD_SHIFT) | (fwd == Fwd.MASQ ? ConnFlag.HASHED_OUT : ConnFlag.NOOUTPUT) | (inactive ? ConnFlag.INACTIVE : 0) | markOf(synced);
    c = connCreate(proto, caddr, cport, vaddr, vport, daddr, dport, d, cf, state, false);
    if (c == 0) return Counter.SYNC_CONNS_TABLE_FULL;
    destBind(d, inactive);
    if (!synced && svcPersistTimeout(s) != 0) link(c, s, d);
  } else if (<u32>load<u8>(c, ConnField.STATE) != state) {
    let cf = <u32>load<u8>(c, ConnField.FLAGS);
    let wasInactive = (cf & ConnFlag.INACTIVE) != 0;
    if (wasInactive != inactive) {
      destMoveConn(connDest(c), inactive);
      store<u8>(c, <u8>(inactive ? cf | ConnFlag.INACTIVE : cf & ~ConnFlag.INACTIVE), ConnField.FLAGS);
    }
    store<u8>(c, <u8>state, ConnField.STATE);
  }
  store<u32>(c, now + (timeoutMs != 0 ? timeoutMs : stateTimeout(state)), ConnField.EXPIRES);
  return Counter.SYNC_CONNS_RECEIVED;
}

/** connCreate's flag for an entry from the wire: synced-never-seen. */
@inline function markOf(synced: bool): u32 { return synced ? <u32>ConnFlag2.SYNCED << ConnFlag.FLAGS2_SHIFT : 0; }

/** A planned restart's connection of a persistent service (tableImport) is tied again to
 *  its template, as the process that exported both had it (ip_vs_control_add in
 *  ip_vs_sched_persist): only a template of its own server, which its release can find and
 *  which cannot be freed before it (conn/table.ts). A connection from the wire is tied to
 *  none, as IPVS's ip_vs_proc_conn ties none (only ip_vs_sched_persist and the FTP helper
 *  call ip_vs_control_add): the master refreshes the template itself, and a template
 *  tied to a connection of another server would never be released. */
function link(c: usize, s: u32, d: u32): void {
  let t = connLookupIn(svcProto(s) | <u32>ConnFlag.TEMPLATE_PROTO, load<u32>(c, ConnField.CADDR) & svcNetmask(s), svcPort(s) << 16, svcVaddr(s));
  if (t == 0 || connDest(t) != d) return;
  store<u8>(c, load<u8>(c, ConnField.FLAGS) | <u8>ConnFlag.CONTROLLED, ConnField.FLAGS);
  store<u32>(c, <u32>((t - connBase) / <usize>ConnField.SIZE) + 1, ConnField.CONTROL);
  store<u32>(t, load<u32>(t, ConnField.CONTROL) + 1, ConnField.CONTROL);
}
