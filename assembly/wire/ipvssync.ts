// IPVS connection sync messages, protocol version 1 (linux net/netfilter/ipvs/ip_vs_sync.c),
// carried in UDP to port 8848 of 224.0.0.81 (or a unicast peer), TTL 1.
//
// Header, 8 bytes:  reserved u8 (0) | syncid u8 | size u16 (the whole message) |
//                   nr_conns u8 | version s8 (1) | spare u16 (0)
// IPv4 entry, 36 bytes (more with options, which wasmvs neither sends nor needs):
//   0 type u8 (bit 0: IPv6)        1 protocol u8          2 version(4) | size(12) u16
//   4 flags u32 (IP_VS_CONN_F_*)   8 state u16           10 cport u16    12 vport u16
//  14 dport u16                   16 fwmark u32          20 timeout u32 (seconds)
//  24 caddr u32                   28 vaddr u32           32 daddr u32
// Multi-byte fields are big-endian; ports and addresses are kept in wire order as loaded.
//
// Version 0 (read only, as IPVS still reads it: ip_vs_process_message_v0), told apart by
// its header — a v1 header has reserved 0, version 1 and spare 0:
// Header, 4 bytes:  nr_conns u8 | syncid u8 | size u16
// Entry, 24 bytes:  reserved u8 | protocol u8 | cport u16 | vport u16 | dport u16 |
//                   caddr u32 | vaddr u32 | daddr u32 | flags u16 | state u16
//                   then, when flags has IN_SEQ or OUT_SEQ, 24 bytes of sequence options.
// No timeout and no fwmark: the backup uses its own state timeouts.

import { bswap16, bswap32 } from "./bytes";

export namespace SyncField {
  @inline export const RESERVED: usize = 0;
  @inline export const SYNCID: usize = 1;
  @inline export const SIZE: usize = 2;
  @inline export const NR_CONNS: usize = 4;
  @inline export const VERSION: usize = 5;
  @inline export const SPARE: usize = 6;
}
export namespace SyncEntry {
  @inline export const TYPE: usize = 0;
  @inline export const PROTOCOL: usize = 1;
  @inline export const VER_SIZE: usize = 2;
  @inline export const FLAGS: usize = 4;
  @inline export const STATE: usize = 8;
  @inline export const CPORT: usize = 10;
  @inline export const VPORT: usize = 12;
  @inline export const DPORT: usize = 14;
  @inline export const FWMARK: usize = 16;
  @inline export const TIMEOUT: usize = 20;
  @inline export const CADDR: usize = 24;
  @inline export const VADDR: usize = 28;
  @inline export const DADDR: usize = 32;
}
@inline export const SYNC_HEADER_LEN: u32 = 8;
@inline export const SYNC_ENTRY_LEN: u32 = 36;
@inline export const SYNC_VERSION: u32 = 1;
@inline export const SYNC_PORT: u32 = 8848;
/** 224.0.0.81 in wire order as loaded little-endian. */
@inline export const SYNC_GROUP_WIRE: u32 = 0x510000e0;

export namespace SyncEntryV0 {
  @inline export const PROTOCOL: usize = 1;
  @inline export const CPORT: usize = 2;
  @inline export const VPORT: usize = 4;
  @inline export const DPORT: usize = 6;
  @inline export const CADDR: usize = 8;
  @inline export const VADDR: usize = 12;
  @inline export const DADDR: usize = 16;
  @inline export const FLAGS: usize = 20;
  @inline export const STATE: usize = 22;
}
@inline export const SYNC_V0_HEADER_LEN: u32 = 4;
@inline export const SYNC_V0_ENTRY_LEN: u32 = 24;
/** An entry with sequence options (ip_vs_sync_conn_options: in_seq, out_seq). */
@inline export const SYNC_V0_FULL_ENTRY_LEN: u32 = 48;
@inline export const SYNC_F_SEQ_MASK: u32 = 0x0600;

/** A v1 header (reserved 0, version 1, spare 0); anything else is read as version 0. */
@inline export function syncIsV1(m: usize): bool {
  return load<u8>(m, SyncField.RESERVED) == 0 && <u32>load<u8>(m, SyncField.VERSION) == SYNC_VERSION && load<u16>(m, SyncField.SPARE) == 0;
}

/** The bytes of the v0 entry at e (more with sequence options). */
@inline export function syncV0EntrySize(e: usize): u32 {
  return (bswap16(<u32>load<u16>(e, SyncEntryV0.FLAGS)) & SYNC_F_SEQ_MASK) != 0 ? SYNC_V0_FULL_ENTRY_LEN : SYNC_V0_ENTRY_LEN;
}

/** IP_VS_CONN_F_* (include/uapi/linux/ip_vs.h). */
@inline export const SYNC_F_NOOUTPUT: u32 = 0x0080;
@inline export const SYNC_F_INACTIVE: u32 = 0x0100;
@inline export const SYNC_F_TEMPLATE: u32 = 0x1000;
@inline export const SYNC_F_FWD_MASK: u32 = 0x0007;

export function syncHeaderEmit(m: usize, syncid: u32, size: u32, count: u32): void {
  store<u8>(m, 0, SyncField.RESERVED);
  store<u8>(m, <u8>syncid, SyncField.SYNCID);
  store<u16>(m, <u16>bswap16(size), SyncField.SIZE);
  store<u8>(m, <u8>count, SyncField.NR_CONNS);
  store<u8>(m, <u8>SYNC_VERSION, SyncField.VERSION);
  store<u16>(m, 0, SyncField.SPARE);
}

/** Write one IPv4 entry (ports and addresses in wire order, the rest in host order). */
export function syncEntryEmit(e: usize, proto: u32, flags: u32, state: u32, cport: u32, vport: u32, dport: u32, fwmark: u32, timeoutS: u32,
  caddr: u32, vaddr: u32, daddr: u32): void {
  store<u8>(e, 0, SyncEntry.TYPE);
  store<u8>(e, <u8>proto, SyncEntry.PROTOCOL);
  store<u16>(e, <u16>bswap16(SYNC_ENTRY_LEN), SyncEntry.VER_SIZE);
  store<u32>(e, bswap32(flags), SyncEntry.FLAGS);
  store<u16>(e, <u16>bswap16(state), SyncEntry.STATE);
  store<u16>(e, <u16>cport, SyncEntry.CPORT);
  store<u16>(e, <u16>vport, SyncEntry.VPORT);
  store<u16>(e, <u16>dport, SyncEntry.DPORT);
  store<u32>(e, bswap32(fwmark), SyncEntry.FWMARK);
  store<u32>(e, bswap32(timeoutS), SyncEntry.TIMEOUT);
  store<u32>(e, caddr, SyncEntry.CADDR);
  store<u32>(e, vaddr, SyncEntry.VADDR);
  store<u32>(e, daddr, SyncEntry.DADDR);
}

/** The validation gate of a message of len bytes: 0 when its header adds up (a v1 header
 *  of at least 8 bytes, or a v0 one of at least 4, its size equal to len), else -1.
 *  Entries are checked one by one. */
export function syncCheck(m: usize, len: u32): i32 {
  if (len < SYNC_V0_HEADER_LEN) return -1;
  if (bswap16(<u32>load<u16>(m, SyncField.SIZE)) != len) return -1;
  if (len >= SYNC_HEADER_LEN && syncIsV1(m)) return 0;
  // A message of version 2 or later is neither: IPVS drops it too.
  if (load<u8>(m, SyncField.RESERVED) == 0 && len >= SYNC_HEADER_LEN) return -1;
  return 0;
}

/** The size of the entry at e (from its ver_size field), 0 when its version is not 0. */
@inline export function syncEntrySize(e: usize): u32 {
  let vs = bswap16(<u32>load<u16>(e, SyncEntry.VER_SIZE));
  return (vs >>> 12) == 0 ? vs & 0x0fff : 0;
}
@inline export function syncU32(e: usize, off: usize): u32 { return bswap32(load<u32>(e + off)); }
@inline export function syncU16(e: usize, off: usize): u32 { return bswap16(<u32>load<u16>(e + off)); }
