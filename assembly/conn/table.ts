// The connection table: a fixed array of 40-byte entries (ConnField) with two chained
// hash tables of u32 bucket heads, one keyed on the client side
// (proto, caddr, cport, vaddr, vport) and, for NAT, one on the real-server side
// (proto, daddr, dport, caddr, cport) so replies find their connection.
//
//   entries:  [e0][e1]...[eN-1]            N = capacity, 40 bytes each
//   in-hash:  [head][head]...              B = capacity rounded up to a power of 2
//   out-hash: [head][head]...              heads and chains hold entry index + 1
//
// Memory per connection: 40 + 8 * B/N bytes (48 when N is a power of two).
//
// Expiry is lazy and amortised: a lookup that finds an expired entry frees it, and
// every call sweeps a slice of the array (SWEEP_PER_MS entries per elapsed ms,
// so a table of a million entries is swept once a second). When the table is full a
// new connection reclaims, within a bounded scan, an expired entry first, else a
// half-open or closing one (TCP NONE, SYN_RECV, SYN_SENT, CLOSE, TIME_WAIT); an
// established connection is never evicted, and if nothing can be reclaimed the new
// connection is refused and counted (DROP_TABLE_FULL).
//
// Entries made by connection sync (ha/sync.ts) carry ConnFlag2.SYNCED until a packet
// matches them (connSeen). IPVS's table has no fixed size, so sync there never takes room
// from new connections; here it could (a forged flood filled a backup's table and after
// the failover no new connection got in). So synced-never-seen entries are bounded to a
// share of the table (connSyncedMax, checked by sync before it creates one), and a new
// connection that finds the table full evicts one of them before anything else
// (CONNS_EVICTED_SYNCED): sync can delay a new connection by one bounded scan, never
// refuse it while such an entry is within reach. Sync itself never evicts.
//
// Persistence templates (conn/persist.ts) live in the same table, hashed on the client
// side under PROTO | TEMPLATE_PROTO with client port 0. A connection a template controls
// holds the template's slot (CONTROL), as IPVS's cp->control holds a reference: so a
// template is never freed while it controls connections. An expired one is re-armed
// instead (ip_vs_conn_expire: n_control postpones it), one whose server went is only
// made unfindable (templateInvalidate, ip_vs_check_template), nothing evicts one, and the
// slot a connection names is always its own template's: releasing it is one decrement,
// with no identity to compare (a firewall-mark template holds the mark, not the VIP).

import { connDest, connIsSynced, connStoreDest } from "./entry";
import { ConnField, ConnFlag, ConnFlag2, ConnState, Counter } from "../abi";
import { count, expired, now, timeoutMsOf } from "../engine/state";
import { destService, destUnbind, destUnbindTemplate, NONE, svcPersistTimeout, svcUsed } from "../svc/service";

@inline export const NIL: u32 = 0;
@inline const SWEEP_PER_MS: u32 = 1000;
@inline const SWEEP_MAX_PER_CALL: u32 = 65536;
@inline const RECLAIM_SCAN: u32 = 256;

export let connBase: usize = 0;
export let connCapacity: u32 = 0;
let inHash: usize = 0;
let outHash: usize = 0;
let bucketMask: u32 = 0;
let freeHead: u32 = NIL; // index + 1
export let connCount: u32 = 0;
/** Entries with ConnFlag2.SYNCED, and how many of them sync may make (its share). */
export let connSynced: u32 = 0;
export let connSyncedMax: u32 = 0;
let sweepCursor: u32 = 0;
let sweepCredit: u32 = 0;
let lastSweep: u32 = 0;
let seed: u32 = 0;

export function connLayout(base: usize, capacity: u32, inH: usize, outH: usize, buckets: u32, hashSeed: u32): void {
  connBase = base; connCapacity = capacity; inHash = inH; outHash = outH; bucketMask = buckets - 1; seed = hashSeed;
  connFlush();
}

/** Empty the table (init and tests). */
export function connFlush(): void {
  memory.fill(inHash, 0, <usize>(bucketMask + 1) << 2);
  memory.fill(outHash, 0, <usize>(bucketMask + 1) << 2);
  // Free list in index order, linked through NEXT_IN.
  for (let i: u32 = 0; i < connCapacity; i++) {
    let e = connEntry(i);
    store<u8>(e, 0, ConnField.FLAGS);
    store<u32>(e, i + 2 <= connCapacity ? i + 2 : NIL, ConnField.NEXT_IN);
  }
  freeHead = connCapacity > 0 ? 1 : NIL;
  connCount = 0;
  connSynced = 0;
  sweepCursor = 0;
  sweepCredit = 0;
}

@inline export function connEntry(i: u32): usize { return connBase + <usize>i * <usize>ConnField.SIZE; }

@inline function mix(a: u32, b: u32, c: u32): u32 {
  let h = seed ^ (a * 0xcc9e2d51);
  h = ((h << 13) | (h >>> 19)) * 5 + 0xe6546b64;
  h ^= b * 0x1b873593;
  h = ((h << 13) | (h >>> 19)) * 5 + 0xe6546b64;
  h ^= c;
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >>> 16);
}

/** Bucket of the client-side key. ports = cport | vport << 16 (wire order). */
@inline export function inBucket(proto: u32, caddr: u32, ports: u32, vaddr: u32): u32 {
  return mix(caddr, vaddr ^ proto, ports) & bucketMask;
}
/** Bucket of the server-side key. ports = dport | cport << 16 (wire order). */
@inline export function outBucket(proto: u32, daddr: u32, ports: u32, caddr: u32): u32 {
  return mix(daddr, caddr ^ proto, ports) & bucketMask;
}

/** Address of a bucket head, so a batch can touch it before it needs it. */
@inline export function inBucketAddr(b: u32): usize { return inHash + (<usize>b << 2); }
@inline export function outBucketAddr(b: u32): usize { return outHash + (<usize>b << 2); }

/** Find a client-side connection; 0 if none (an expired one is freed on the way). */
@inline export function connLookupIn(proto: u32, caddr: u32, ports: u32, vaddr: u32): usize {
  return connLookupInBucket(inBucket(proto, caddr, ports, vaddr), proto, caddr, ports, vaddr);
}

@inline export function connLookupInBucket(b: u32, proto: u32, caddr: u32, ports: u32, vaddr: u32): usize {
  let i = load<u32>(inHash + (<usize>b << 2));
  while (i != NIL) {
    let e = connEntry(i - 1);
    if (load<u32>(e, ConnField.CADDR) == caddr && load<u32>(e, ConnField.CPORT) == ports &&
        load<u32>(e, ConnField.VADDR) == vaddr && <u32>load<u8>(e, ConnField.PROTO) == proto) {
      if (expired(load<u32>(e, ConnField.EXPIRES), now) && connExpire(i - 1)) return 0;
      return e;
    }
    i = load<u32>(e, ConnField.NEXT_IN);
  }
  return 0;
}

/** Find a NAT connection from the real-server side; 0 if none. */
@inline export function connLookupOut(proto: u32, daddr: u32, dport: u32, caddr: u32, cport: u32): usize {
  let i = load<u32>(outHash + (<usize>outBucket(proto, daddr, dport | (cport << 16), caddr) << 2));
  while (i != NIL) {
    let e = connEntry(i - 1);
    if (load<u32>(e, ConnField.DADDR) == daddr && <u32>load<u16>(e, ConnField.DPORT) == dport &&
        load<u32>(e, ConnField.CADDR) == caddr && <u32>load<u16>(e, ConnField.CPORT) == cport &&
        <u32>load<u8>(e, ConnField.PROTO) == proto) {
      if (expired(load<u32>(e, ConnField.EXPIRES), now)) { connRemove(i - 1, Counter.CONNS_EXPIRED); return 0; }
      return e;
    }
    i = load<u32>(e, ConnField.NEXT_OUT);
  }
  return 0;
}

@inline function isReclaimable(state: u32, proto: u32): bool {
  return proto == 6 && (state == ConnState.NONE || state == ConnState.SYN_RECV || state == ConnState.SYN_SENT ||
    state == ConnState.CLOSE || state == ConnState.TIME_WAIT);
}

/** The synced share: at most `percent` of the table may hold synced-never-seen entries. */
export function connSetSyncedShare(percent: u32): void {
  connSyncedMax = <u32>(<u64>connCapacity * <u64>(percent > 100 ? 100 : percent) / 100);
}

/** A synced entry that no packet has matched yet, which a new connection may take: not a
 *  template that still controls connections (they would lose their persistence). */
@inline function isEvictableSynced(e: usize): bool {
  return connIsSynced(e) &&
    ((<u32>load<u8>(e, ConnField.FLAGS) & ConnFlag.TEMPLATE) == 0 || load<u32>(e, ConnField.CONTROL) == 0);
}

/** A free entry, reclaiming one if the table is full; 0 if none can be had. real: for a
 *  connection (or template) a packet made, which may evict. A synced entry (real false)
 *  takes only an expired entry's place: never a live one, not even a half-open one (that
 *  is a new connection in its handshake). */
function connAllocate(real: bool): usize {
  if (freeHead != NIL) {
    let i = freeHead - 1;
    let e = connEntry(i);
    freeHead = load<u32>(e, ConnField.NEXT_IN);
    return e;
  }
  if (connCapacity == 0) return 0;
  let victim: i32 = -1;
  let at = sweepCursor;
  // Synced-never-seen entries are taken first and at once (a table full of them costs one
  // step); only when there are some is the byte looked at.
  let synced = real && connSynced != 0;
  for (let n: u32 = 0; n < RECLAIM_SCAN; n++) {
    let e = connEntry(at);
    if (expired(load<u32>(e, ConnField.EXPIRES), now) && connExpire(at)) return connAllocate(real);
    if (synced && isEvictableSynced(e)) {
      sweepCursor = at + 1 < connCapacity ? at + 1 : 0;
      connRemove(at, Counter.CONNS_EVICTED_SYNCED);
      return connAllocate(real);
    }
    if (victim < 0 && real && isReclaimable(<u32>load<u8>(e, ConnField.STATE), <u32>load<u8>(e, ConnField.PROTO))) victim = <i32>at;
    at = at + 1 < connCapacity ? at + 1 : 0;
  }
  sweepCursor = at;
  if (victim < 0) return 0;
  connRemove(<u32>victim, Counter.CONNS_RECLAIMED);
  return connAllocate(real);
}

/** A packet matched connection (or template) e: it is a live one, no longer synced-never-seen. */
@inline export function connSeen(e: usize): void {
  if (connIsSynced(e)) {
    store<u8>(e, load<u8>(e, ConnField.FLAGS2) & ~(<u8>ConnFlag2.SYNCED), ConnField.FLAGS2);
    connSynced--;
  }
}

/** Create and hash a connection. outHashed: also in the server-side table (NAT). flags:
 *  ConnFlag bits, and ConnFlag2 bits << FLAGS2_SHIFT (SYNCED: made by sync, which then
 *  evicts nothing). Returns the entry, or 0 if the table is full (counted). */
export function connCreate(proto: u32, caddr: u32, cport: u32, vaddr: u32, vport: u32, daddr: u32, dport: u32,
  dest: u32, flags: u32, state: u32, countFull: bool = true): usize {
  let flags2 = flags >> ConnFlag.FLAGS2_SHIFT;
  let e = connAllocate(flags2 == 0);
  if (e == 0) { if (countFull) count(Counter.DROP_TABLE_FULL); return 0; }
  connStoreDest(e, flags2, dest);
  connSynced += flags2 & ConnFlag2.SYNCED;
  let idx1 = <u32>((e - connBase) / <usize>ConnField.SIZE) + 1;
  store<u32>(e, caddr, ConnField.CADDR);
  store<u16>(e, <u16>cport, ConnField.CPORT);
  store<u16>(e, <u16>vport, ConnField.VPORT);
  store<u32>(e, vaddr, ConnField.VADDR);
  store<u32>(e, daddr, ConnField.DADDR);
  store<u16>(e, <u16>dport, ConnField.DPORT);
  store<u8>(e, <u8>proto, ConnField.PROTO);
  store<u8>(e, <u8>state, ConnField.STATE);
  store<u8>(e, <u8>(flags | ConnFlag.USED), ConnField.FLAGS);
  store<u32>(e, 0, ConnField.CONTROL);
  let bi = inBucket(proto, caddr, cport | (vport << 16), vaddr);
  store<u32>(e, load<u32>(inHash + (<usize>bi << 2)), ConnField.NEXT_IN);
  store<u32>(inHash + (<usize>bi << 2), idx1);
  if (flags & ConnFlag.HASHED_OUT) {
    let bo = outBucket(proto, daddr, dport | (cport << 16), caddr);
    store<u32>(e, load<u32>(outHash + (<usize>bo << 2)), ConnField.NEXT_OUT);
    store<u32>(outHash + (<usize>bo << 2), idx1);
  }
  connCount++;
  count(Counter.CONNS_CREATED);
  return e;
}

function unlink(head: usize, idx1: u32, nextOff: usize): void {
  let i = load<u32>(head);
  let after = load<u32>(connEntry(idx1 - 1) + nextOff);
  if (i == idx1) { store<u32>(head, after); return; }
  while (i != NIL) {
    let link = connEntry(i - 1) + nextOff;
    let n = load<u32>(link);
    if (n == idx1) { store<u32>(link, after); return; }
    i = n;
  }
}

/** Unhash and free entry i, uncounting it from its real server. Never a template that
 *  still controls connections (its connections hold its slot): the callers see to it. */
export function connRemove(i: u32, reason: i32): void {
  let e = connEntry(i);
  let flags = <u32>load<u8>(e, ConnField.FLAGS);
  if ((flags & ConnFlag.USED) == 0) return;
  let proto = <u32>load<u8>(e, ConnField.PROTO);
  let caddr = load<u32>(e, ConnField.CADDR);
  let cport = <u32>load<u16>(e, ConnField.CPORT);
  unlink(inHash + (<usize>inBucket(proto, caddr, load<u32>(e, ConnField.CPORT), load<u32>(e, ConnField.VADDR)) << 2),
    i + 1, ConnField.NEXT_IN);
  if (flags & ConnFlag.HASHED_OUT) {
    let daddr = load<u32>(e, ConnField.DADDR);
    let dport = <u32>load<u16>(e, ConnField.DPORT);
    unlink(outHash + (<usize>outBucket(proto, daddr, dport | (cport << 16), caddr) << 2), i + 1, ConnField.NEXT_OUT);
  }
  let dest = connDest(e);
  if (connIsSynced(e)) connSynced--;
  if (flags & ConnFlag.TEMPLATE) destUnbindTemplate(dest);
  else {
    destUnbind(dest, (flags & ConnFlag.INACTIVE) != 0);
    if (flags & ConnFlag.CONTROLLED) controlRelease(load<u32>(e, ConnField.CONTROL));
  }
  store<u8>(e, 0, ConnField.FLAGS);
  store<u32>(e, freeHead, ConnField.NEXT_IN);
  freeHead = i + 1;
  connCount--;
  count(reason);
}

/** A template's lifetime: its service's persistence timeout (300 s, ipvsadm's default,
 *  once the service is gone). */
export function templateTimeoutMs(e: usize): u32 {
  let s = destService(connDest(e));
  let t: u32 = s != NONE && svcUsed(s) ? svcPersistTimeout(s) : 0;
  return timeoutMsOf(t != 0 ? t : 300);
}

/** Expire entry i: freed, unless it is a template still controlling connections, which is
 *  re-armed for another timeout (ip_vs_conn_expire). True when freed. */
export function connExpire(i: u32): bool {
  let e = connEntry(i);
  if ((load<u8>(e, ConnField.FLAGS) & <u8>ConnFlag.TEMPLATE) != 0 && load<u32>(e, ConnField.CONTROL) != 0) {
    store<u32>(e, now + templateTimeoutMs(e), ConnField.EXPIRES);
    return false;
  }
  connRemove(i, Counter.CONNS_EXPIRED);
  return true;
}

/** A controlled connection goes: its template controls one less (IPVS's ip_vs_control_del).
 *  The slot is the template's own: it cannot have been freed while it controlled e. */
function controlRelease(tpl1: u32): void {
  if (tpl1 == NIL || tpl1 > connCapacity) return;
  let t = connEntry(tpl1 - 1);
  let n = load<u32>(t, ConnField.CONTROL);
  if (n > 0) store<u32>(t, n - 1, ConnField.CONTROL);
}

/** A client-port value no template lookup asks for (they all ask for port 0). */
@inline const INVALID_CPORT: u32 = 0xffff;

/** True for a template lookups can find, false for one templateInvalidate took out. */
@inline export function templateValid(e: usize): bool {
  return load<u16>(e, ConnField.CPORT) == 0;
}

/** Template i's server is gone (or quiesced, with expire_quiescent_template): the next
 *  connection of its client must be scheduled afresh. Freed at once if it controls no
 *  connection; otherwise rehashed under client port 0xffff, which no lookup asks for, and
 *  left to expire once its connections have gone — IPVS's ip_vs_check_template rehashes
 *  it under port 0xffff and drops its reference without restarting its timer, and
 *  ip_vs_conn_expire frees it when n_control is 0. Not synced or exported from then on. */
export function templateInvalidate(i: u32): void {
  let e = connEntry(i);
  if (load<u32>(e, ConnField.CONTROL) == 0) { connRemove(i, Counter.CONNS_EXPIRED); return; }
  if (!templateValid(e)) return;
  let proto = <u32>load<u8>(e, ConnField.PROTO);
  let caddr = load<u32>(e, ConnField.CADDR);
  let vaddr = load<u32>(e, ConnField.VADDR);
  unlink(inHash + (<usize>inBucket(proto, caddr, load<u32>(e, ConnField.CPORT), vaddr) << 2), i + 1, ConnField.NEXT_IN);
  store<u16>(e, <u16>INVALID_CPORT, ConnField.CPORT);
  let bi = inBucket(proto, caddr, load<u32>(e, ConnField.CPORT), vaddr);
  store<u32>(e, load<u32>(inHash + (<usize>bi << 2)), ConnField.NEXT_IN);
  store<u32>(inHash + (<usize>bi << 2), i + 1);
}

/** Sweep a slice of the table, in proportion to the time since the last sweep. */
export function connSweep(): void {
  let elapsed = now - lastSweep;
  lastSweep = now;
  if (<i32>elapsed < 0) elapsed = 0;
  let credit = <u64>sweepCredit + <u64>elapsed * <u64>SWEEP_PER_MS;
  if (credit > <u64>SWEEP_MAX_PER_CALL) credit = <u64>SWEEP_MAX_PER_CALL;
  let n = <u32>credit;
  if (n > connCapacity) n = connCapacity;
  sweepCredit = 0;
  let at = sweepCursor;
  for (let k: u32 = 0; k < n; k++) {
    let e = connEntry(at);
    if ((load<u8>(e, ConnField.FLAGS) & <u8>ConnFlag.USED) != 0 && expired(load<u32>(e, ConnField.EXPIRES), now)) connExpire(at);
    at = at + 1 < connCapacity ? at + 1 : 0;
  }
  sweepCursor = at;
}

/** Sweep the whole table now (control path: listing, tests). */
export function connExpireAll(): void {
  for (let i: u32 = 0; i < connCapacity; i++) {
    let e = connEntry(i);
    if ((load<u8>(e, ConnField.FLAGS) & <u8>ConnFlag.USED) != 0 && expired(load<u32>(e, ConnField.EXPIRES), now)) connExpire(i);
  }
}

export function connSetLastSweep(t: u32): void { lastSweep = t; }
