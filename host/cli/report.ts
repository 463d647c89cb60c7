// Human-readable summaries of an engine: services as ipvsadm -L -n (--stats) prints them,
// and the counters with every non-zero drop reason.

import { Engine } from "../engine/index.js";
import { formatList, Format } from "../control/ipvsadm.js";
import { tableView } from "../control/server.js";

const NUMERIC: Format = { numeric: true, connections: false, timeout: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false };

/** The services as ipvsadm -L -n and -L -n --stats print them. */
export function formatServices(e: Engine): string {
  const t = tableView(e);
  return formatList(t, NUMERIC) + "\n" + formatList(t, { ...NUMERIC, stats: true }).split("\n").slice(1).join("\n").trimEnd();
}

export function formatCounters(e: Engine): string {
  const c = e.counters();
  const lines = [
    `frames: ${c.rx_frames} in, ${c.forwarded} forwarded, ${c.consumed} answered, ${c.queued} queued for ARP, ${c.tx_frames} sent`,
    `connections: ${c.conns_created} created, ${c.conns_expired} expired, ${c.conns_reclaimed} reclaimed, ${e.connectionCount} live`,
    `generated: ${c.arp_requests_sent} ARP requests, ${c.arp_replies_sent} ARP replies, ${c.icmp_errors_sent} ICMP errors`,
  ];
  const drops = e.drops();
  const names = Object.keys(drops);
  if (names.length === 0) lines.push("drops: none");
  else {
    lines.push("drops:");
    for (const n of names) lines.push(`  ${n.padEnd(24)} ${drops[n]}`);
  }
  return lines.join("\n");
}
