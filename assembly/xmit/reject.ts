// What a Linux host answers for traffic it has nothing for, so that clients fail fast
// instead of waiting for their own timeout: a TCP reset for a segment to one of the
// director's addresses with no service or connection (RFC 9293 section 3.10.7.1, as the
// local stack does for IPVS after ip_vs_in lets such a packet through), and ICMP port
// unreachable for UDP to a port with no service and for a service with no server left
// (IPVS's ip_vs_leave). One token bucket limits them all (Linux: icmp_msgs_per_sec 1000,
// icmp_msgs_burst 50). Off with the `reject_unknown off` setting.

import { Counter, Proto } from "../abi";
import { bswap32 } from "../wire/bytes";
import { transportChecksum } from "../wire/checksum";
import { EthField, ETHERTYPE_IPV4_WIRE, ETH_HEADER_LEN } from "../wire/ethernet";
import { ipv4Dst, ipv4Emit, ipv4Src, ipv4TotalLen, IPV4_HEADER_LEN } from "../wire/ipv4";
import { ICMP_DEST_UNREACH } from "../wire/icmp";
import { tcpFlags, TcpField, TCP_ACK, TCP_FIN, TCP_HEADER_LEN, TCP_RST, TCP_SYN } from "../wire/tcp";
import { count, now, takeIpId } from "../engine/state";
import { scratchTake } from "../engine/tx";
import { sendIcmpError } from "./icmp";
import { sendRouted } from "./output";

@inline const ICMP_CODE_PORT_UNREACH: u32 = 3;
/** Replies per millisecond (1000/s) and the burst allowed. */
@inline const BURST: u32 = 50;

export let rejectUnknown = true;
export function setRejectUnknown(on: bool): void { rejectUnknown = on; }

let tokens: u32 = BURST;
let lastRefill: u32 = 0;

/** One reply's worth of the rate, or false when the bucket is empty. */
function takeToken(): bool {
  let elapsed = now - lastRefill;
  if (<i32>elapsed > 0) {
    tokens = elapsed >= BURST ? BURST : min(BURST, tokens + elapsed);
    lastRefill = now;
  }
  if (tokens == 0) return false;
  tokens--;
  return true;
}

/** Nothing is sent to zero, multicast or broadcast sources (RFC 1122 section 4.2.3.10). */
@inline function answerable(to: u32): bool {
  let first = to & 0xff;
  return to != 0 && first < 224 && to != 0xffffffff;
}

/** A reset for the TCP segment at l4 (ip passed the IPv4 gate, l4 the TCP gate). */
export function sendReset(ip: usize, ihl: u32, l4: usize): void {
  let f = tcpFlags(l4);
  if (!rejectUnknown || (f & TCP_RST) != 0 || !answerable(ipv4Src(ip)) || !takeToken()) return;
  let frame = scratchTake();
  if (frame == 0) { count(Counter.GENERATED_LOST); return; }
  let to = ipv4Src(ip);
  let from = ipv4Dst(ip);
  let rip = frame + ETH_HEADER_LEN;
  let tcp = rip + IPV4_HEADER_LEN;
  // RFC 9293: if the segment has ACK, the reset takes its sequence number from it;
  // otherwise it has sequence 0 and acknowledges everything the segment occupied.
  let dataLen = ipv4TotalLen(ip) - ihl - ((<u32>load<u8>(l4, TcpField.DATA_OFF) >>> 4) << 2);
  let seq: u32 = 0;
  let ack: u32 = 0;
  let flags = TCP_RST;
  if ((f & TCP_ACK) != 0) seq = load<u32>(l4, TcpField.ACK);
  else {
    let occupied = dataLen + ((f & TCP_SYN) != 0 ? 1 : 0) + ((f & TCP_FIN) != 0 ? 1 : 0);
    ack = bswap32(bswap32(load<u32>(l4, TcpField.SEQ)) + occupied);
    flags |= TCP_ACK;
  }
  store<u16>(tcp, load<u16>(l4, TcpField.DST_PORT), TcpField.SRC_PORT);
  store<u16>(tcp, load<u16>(l4, TcpField.SRC_PORT), TcpField.DST_PORT);
  store<u32>(tcp, seq, TcpField.SEQ);
  store<u32>(tcp, ack, TcpField.ACK);
  store<u8>(tcp, <u8>((TCP_HEADER_LEN >>> 2) << 4), TcpField.DATA_OFF);
  store<u8>(tcp, <u8>flags, TcpField.FLAGS);
  store<u16>(tcp, 0, TcpField.WINDOW);
  store<u16>(tcp, 0, TcpField.CHECKSUM);
  store<u16>(tcp, 0, TcpField.URGENT);
  store<u16>(tcp, <u16>transportChecksum(from, to, Proto.TCP, tcp, TCP_HEADER_LEN), TcpField.CHECKSUM);
  let total = IPV4_HEADER_LEN + TCP_HEADER_LEN;
  ipv4Emit(rip, 0, total, takeIpId(), 0, 64, Proto.TCP, from, to);
  store<u16>(frame, <u16>ETHERTYPE_IPV4_WIRE, EthField.TYPE);
  if (sendRouted(frame, ETH_HEADER_LEN, total, to, -1)) count(Counter.RESETS_SENT);
}

/** ICMP port unreachable for the datagram at ip (totalLen bytes), from its destination. */
export function sendPortUnreachable(ip: usize, totalLen: u32): void {
  if (!rejectUnknown || !answerable(ipv4Src(ip)) || !takeToken()) return;
  sendIcmpError(ip, totalLen, ICMP_DEST_UNREACH, ICMP_CODE_PORT_UNREACH, 0, ipv4Dst(ip));
}
