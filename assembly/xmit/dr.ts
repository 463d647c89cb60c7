// Direct routing (IPVS's ip_vs_dr_xmit): the IP packet is not touched; the frame is
// addressed to the real server's MAC on the shared segment, where the server holds
// the VIP on a non-ARPing interface and answers the client itself.

import { connDest } from "../conn/entry";
import { ConnField, Counter } from "../abi";
import { sendToDest } from "./output";

export function drXmit(frame: usize, l2len: u32, totalLen: u32, conn: usize): void {
  sendToDest(frame, l2len, totalLen, connDest(conn), Counter.FORWARDED);
}
