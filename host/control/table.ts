// Views of an engine snapshot: the table as ipvsadm shows it (with IPVS's estimator
// rates), one estimation tick, and the human-readable summaries the director logs.

import { Estimator } from "./estimator.js";
import { formatList, Format, ServiceView, TableView } from "../config/ipvsadm.js";
import type { EngineSnapshot } from "../dataplane/snapshot.js";
import { ringDrops } from "../io/ring-drops.js";
import { dropsOf, ServiceInfo } from "../engine/index.js";
import { serviceKey, serverKey } from "../config/model.js";

export const NUMERIC: Format = {
  numeric: true, connections: false, timeout: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, health: false, daemon: false, vrrp: false,
};

/** The table as ipvsadm shows it: services, real servers, statistics and rates (zero without an estimator). */
export function tableView(snap: EngineSnapshot, estimator?: Estimator): TableView {
  return { size: snap.connCapacity, timeouts: snap.timeouts, services: snap.services.map((s) => serviceView(s, estimator)) };
}

/** One service as ipvsadm shows it (a listing streamed a slice at a time: host/control/listing.ts). */
export function serviceView(s: ServiceInfo, estimator?: Estimator): ServiceView {
  const num = (x: bigint) => Number(x);
  const rates = (key: string) => estimator?.rates(key) ?? { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
  const key = serviceKey(s);
  return {
    protocol: s.protocol, address: s.address, port: s.port, ...(s.fwmark !== undefined ? { fwmark: s.fwmark } : {}), scheduler: s.scheduler, ...(s.schedFlags ? { schedFlags: s.schedFlags } : {}),
    ...(s.persistence ? { persistence: s.persistence } : {}), ...(s.onePacket ? { onePacket: true } : {}),
    stats: { conns: num(s.stats.conns), inpkts: num(s.stats.inpkts), outpkts: num(s.stats.outpkts), inbytes: num(s.stats.inbytes), outbytes: num(s.stats.outbytes) },
    rates: rates(key),
    realServers: s.realServers.map((r) => ({
      address: r.address, port: r.port, method: r.method, weight: r.weight, uthreshold: r.uthreshold, lthreshold: r.lthreshold,
      active: r.active, inactive: r.inactive, persistConns: r.persistConns,
      stats: { conns: num(r.stats.conns), inpkts: num(r.stats.inpkts), outpkts: num(r.stats.outpkts), inbytes: num(r.stats.inbytes), outbytes: num(r.stats.outbytes) },
      rates: rates(`${key} ${serverKey(r)}`),
    })),
  };
}

/** One estimation tick over every service and real server (every 2 s, as IPVS). */
export function estimate(snap: EngineSnapshot, estimator: Estimator): void {
  estimator.begin();
  for (const s of snap.services) {
    const key = serviceKey(s);
    estimator.update(key, s.stats);
    for (const r of s.realServers) estimator.update(`${key} ${serverKey(r)}`, r.stats);
  }
  estimator.forgetUnseen();
}

/** After -Z: the estimator starts again from the zeroed counters. */
export function zeroEstimates(snap: EngineSnapshot, estimator: Estimator): void {
  for (const s of snap.services) {
    const key = serviceKey(s);
    estimator.zero(key, s.stats);
    for (const r of s.realServers) estimator.zero(`${key} ${serverKey(r)}`, r.stats);
  }
}

/** The services as ipvsadm -L -n and -L -n --stats print them. */
export function formatServices(snap: EngineSnapshot): string {
  const t = tableView(snap);
  const more = snap.omitted?.services ? `\n... and ${snap.omitted.services} more services (${snap.omitted.realServers} real servers)` : "";
  return formatList(t, NUMERIC) + "\n" + formatList(t, { ...NUMERIC, stats: true }).split("\n").slice(1).join("\n").trimEnd() + more;
}

export function formatCounters(snap: EngineSnapshot): string {
  const c = snap.counters;
  const lines = [
    `frames: ${c.rx_frames} in, ${c.forwarded} forwarded, ${c.consumed} answered, ${c.queued} queued for ARP, ${c.tx_frames} sent`,
    `connections: ${c.conns_created} created, ${c.conns_expired} expired, ${c.conns_reclaimed} reclaimed, ${snap.connectionCount} live`,
    `generated: ${c.arp_requests_sent} ARP requests, ${c.arp_replies_sent} ARP replies, ${c.icmp_errors_sent} ICMP errors`,
  ];
  const drops = dropsOf(c);
  const names = Object.keys(drops);
  if (names.length === 0) lines.push("drops: none");
  else {
    lines.push("drops:");
    for (const n of names) lines.push(`  ${n.padEnd(24)} ${drops[n]}`);
  }
  // Drops before the engine: the kernel's, on the way to a ring port's sockets.
  for (const g of snap.loop?.rings ?? []) {
    const d = ringDrops(g);
    lines.push(`device ${g.device} (AF_XDP, ${g.mode} XDP, ${g.queues} queue(s)): ` + (d.total === 0 ? "no frame dropped by the kernel" :
      `${d.total} dropped by the kernel (fill ring empty ${d.fillRingEmpty}: the data path fell behind; receive ring full ${d.rxRingFull}, ` +
      `invalid ${d.invalid}, other ${d.other}, ARP copies ${d.arpCopy})`));
  }
  return lines.join("\n");
}
