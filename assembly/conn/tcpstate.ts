// IPVS's TCP state machine (ip_vs_proto_tcp.c, tcp_states without secure_tcp) and
// the timeout of each state. Packets from the client use the INPUT table, replies
// seen by a NAT director the OUTPUT table; DR and TUN connections, whose replies are
// never seen (IP_VS_CONN_F_NOOUTPUT), use the INPUT-ONLY table.

import { ConnState } from "../abi";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../wire/tcp";
import { MAX_TIMEOUT_MS } from "../engine/state";

@inline export const DIR_INPUT: u32 = 0;
@inline export const DIR_OUTPUT: u32 = 1;
@inline export const DIR_INPUT_ONLY: u32 = 2;

// next_state[direction][event][state], events: syn, fin, ack, rst;
// states: NO ES SS SR FW TW CL CW LA LI SA (ConnState 0..10).
const NO: u8 = 0, ES: u8 = 1, SS: u8 = 2, SR: u8 = 3, FW: u8 = 4, TW: u8 = 5, CL: u8 = 6, CW: u8 = 7, LA: u8 = 8, LI: u8 = 9;
const TRANSITIONS: usize = memory.data<u8>([
  // INPUT (an ACK in state NONE, a connection sloppy_tcp opened mid-way, is ESTABLISHED)
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR, 0,
  CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW, 0,
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, 0,
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR, 0,
  // OUTPUT
  SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR, 0,
  TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW, 0,
  ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES, 0,
  CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL, 0,
  // INPUT-ONLY
  SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR, 0,
  CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW, 0,
  ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES, 0,
  CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL, 0,
]);

/** Timeouts in milliseconds per ConnState; the defaults are IPVS's tcp_timeouts and
 *  udp's 300 s. Changed by setTimeouts (ipvsadm --set). */
const TIMEOUTS: usize = memory.data<u32>([
  2000, 900000, 120000, 60000, 120000, 120000, 10000, 60000, 30000, 120000, 120000, 300000,
]);

@inline export function stateTimeout(state: u32): u32 {
  return load<u32>(TIMEOUTS + (<usize>state << 2));
}

export function setStateTimeout(state: u32, ms: u32): void {
  // ipvsadm --set takes up to 31 days; a deadline holds at most MAX_TIMEOUT_MS (24.8 days).
  if (state < <u32>ConnState.COUNT) store<u32>(TIMEOUTS + (<usize>state << 2), ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : ms);
}

/** The state after a segment with these flags (tcp_state_idx: rst, then syn, fin, ack);
 *  a segment with none of them moves the connection to CLOSE, as in set_tcp_state. */
@inline export function tcpNextState(direction: u32, state: u32, flags: u32): u32 {
  let event: u32;
  if (flags & TCP_RST) event = 3;
  else if (flags & TCP_SYN) event = 0;
  else if (flags & TCP_FIN) event = 1;
  else if (flags & TCP_ACK) event = 2;
  else return ConnState.CLOSE;
  return <u32>load<u8>(TRANSITIONS + <usize>(direction * 48 + event * 12 + state));
}
