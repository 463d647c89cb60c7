// A second entry point that exports the wire/ and checksum helpers one by one, so
// the header tests exercise the engine's own code (wasm/wiretest.wasm, tests only).

import { checksum as csum, update16 as upd16, update32 as upd32, transportChecksum, udpNonZero } from "./wire/checksum";
import { ethCheck as eCheck, ethType as eType } from "./wire/ethernet";
import { arpCheck as aCheck, arpEmit as aEmit } from "./wire/arp";
import * as v4 from "./wire/ipv4";
import { tcpCheck as tCheck } from "./wire/tcp";
import { udpCheck as uCheck } from "./wire/udp";
import { icmpCheck as iCheck, icmpSetTypeUpdatingChecksum } from "./wire/icmp";
import { l4SetDstUpdatingChecksum, l4SetSrcUpdatingChecksum } from "./wire/l4";
import { ipipEncapsulate as ipipEnc, ipipOuterTos as outerTos, ipipDecapsulatedTos as decapTos } from "./wire/ipip";

const BUF: usize = memory.data(65536 * 2);
export function buffer(): usize { return BUF; }

export function checksum(p: usize, len: u32): u32 { return csum(p, len); }
export function update16(c: u32, o: u32, n: u32): u32 { return upd16(c, o, n); }
export function update32(c: u32, o: u32, n: u32): u32 { return upd32(c, o, n); }
export function l4Checksum(src: u32, dst: u32, proto: u32, l4: usize, len: u32): u32 { return transportChecksum(src, dst, proto, l4, len); }
export function udpZeroRule(c: u32): u32 { return udpNonZero(c); }
export function ethCheck(p: usize, len: u32): u32 { return eCheck(p, len); }
export function ethType(p: usize, l2: u32): u32 { return eType(p, l2); }
export function arpCheck(p: usize, len: u32): bool { return aCheck(p, len); }
export function arpEmit(p: usize, op: u32, smac: usize, sip: u32, tmac: usize, tip: u32): void { aEmit(p, op, smac, sip, tmac, tip); }
export function ipv4Check(p: usize, avail: u32): i32 { return v4.ipv4Check(p, avail); }
export function ipv4Emit(p: usize, tos: u32, total: u32, id: u32, df: u32, ttl: u32, proto: u32, src: u32, dst: u32): void {
  v4.ipv4Emit(p, tos, total, id, df, ttl, proto, src, dst);
}
export function ipv4SetDst(p: usize, a: u32): void { v4.ipv4SetDstUpdatingChecksum(p, a); }
export function ipv4SetSrc(p: usize, a: u32): void { v4.ipv4SetSrcUpdatingChecksum(p, a); }
export function ipv4DecTtl(p: usize): void { v4.ipv4DecrementTtlUpdatingChecksum(p); }
export function ipv4IsFragment(p: usize): bool { return v4.ipv4IsFragment(p); }
export function tcpCheck(p: usize, len: u32): bool { return tCheck(p, len); }
export function udpCheck(p: usize, len: u32): bool { return uCheck(p, len); }
export function icmpCheck(p: usize, len: u32): bool { return iCheck(p, len); }
export function icmpSetType(p: usize, len: u32, type: u32): void { icmpSetTypeUpdatingChecksum(p, len, type); }
export function l4SetDst(l4: usize, proto: u32, oldA: u32, newA: u32, port: u32, partial: bool): void { l4SetDstUpdatingChecksum(l4, proto, oldA, newA, port, partial); }
export function l4SetSrc(l4: usize, proto: u32, oldA: u32, newA: u32, port: u32, partial: bool): void { l4SetSrcUpdatingChecksum(l4, proto, oldA, newA, port, partial); }
export function ipipEncapsulate(outer: usize, id: u32, src: u32, dst: u32): void { ipipEnc(outer, id, src, dst); }
export function ipipOuterTos(t: u32): u32 { return outerTos(t); }
export function ipipDecapsulatedTos(o: u32, i: u32): i32 { return decapTos(o, i); }

// IPv6 (issue 20): the gate, where it found the upper layer, and the pseudo-header checksum.
import * as v6 from "./wire/ipv6";
import { transportChecksum6 } from "./wire/checksum";
import { ndpCheck as nCheck, naEmit as nEmit } from "./wire/ndp";
export function ipv6Check(p: usize, avail: u32): i32 { return v6.ipv6Check(p, avail); }
export function ipv6UpperProto(): u32 { return v6.ipv6UpperProto; }
export function ipv6UpperOffset(): u32 { return v6.ipv6UpperOffset; }
export function ipv6Emit(p: usize, payloadLen: u32, nh: u32, hop: u32, src: usize, dst: usize): void { v6.ipv6Emit(p, payloadLen, nh, hop, src, dst); }
export function l4Checksum6(src: usize, dst: usize, nh: u32, l4: usize, len: u32): u32 { return transportChecksum6(src, dst, nh, l4, len); }
export function ndpCheck(p: usize, len: u32, hop: u32): i32 { return nCheck(p, len, hop); }
export function naEmit(p: usize, flags: u32, target: usize, mac: usize): void { nEmit(p, flags, target, mac); }
