// Human-readable summaries of an engine: services in the shape of ipvsadm -L -n --stats,
// and the counters with every non-zero drop reason.

import { Engine } from "../engine/index.js";

const METHOD = { nat: "Masq", dr: "Route", tun: "Tunnel" } as const;

export function formatServices(e: Engine): string {
  const lines = [
    "Prot LocalAddress:Port Scheduler",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn      Conns   InPkts  OutPkts",
  ];
  for (const s of e.services()) {
    lines.push(`${s.protocol.toUpperCase().padEnd(4)} ${`${s.address}:${s.port}`.padEnd(22)} ${s.scheduler}`);
    for (const r of s.realServers) {
      lines.push(
        `  -> ${`${r.address}:${r.port}`.padEnd(28)} ${METHOD[r.method].padEnd(7)} ${String(r.weight).padEnd(6)} ` +
          `${String(r.active).padEnd(10)} ${String(r.inactive).padEnd(9)} ${String(r.stats.conns).padStart(9)} ` +
          `${String(r.stats.inpkts).padStart(8)} ${String(r.stats.outpkts).padStart(8)}`,
      );
    }
  }
  return lines.join("\n");
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
