// `wasmvs check FILE`: validate a configuration (either format) without running
// anything — parse it, load it into a scratch engine so the engine's own checks run
// (a DR server must be on-link, ...) — and say what it would set up.

import { loadEngine } from "../engine/node.js";
import { DEFAULT_CONN_CAPACITY } from "../engine/index.js";
import { loadConfig } from "../control/load.js";
import { applyConfig, configSlotSize, schedulerSizing } from "../control/rules.js";
import { formatSave } from "../control/ipvsadm.js";
import { NUMERIC, tableView } from "../control/table.js";
import { defaultSocket } from "../control/server.js";
import { engineSnapshot } from "../dataplane/requests.js";
import { effective } from "../health/overlay.js";
import { healthSummary } from "../health/summary.js";

export async function check(path: string, director?: string): Promise<string> {
  const cfg = loadConfig(path, director);
  const engine = await loadEngine({ batch: 1, slotSize: configSlotSize(cfg), connCapacity: 16, ...schedulerSizing(cfg) });
  // What the director starts with: servers with an alpha checker wait for their first
  // success; a virtual server without quorum gets its sorry server.
  applyConfig(engine, effective(cfg));
  const lines = [`${path}: OK${director !== undefined ? ` (director block: ${director})` : ""}`, ...(cfg.warnings ?? []).map((w) => `warning: ${w}`)];
  for (const i of cfg.interfaces) {
    lines.push(`interface ${i.index} ${i.name}: TAP ${i.tap}${i.bridge ? ` in bridge ${i.bridge}` : ""}, mac ${i.mac}${i.macDerived ? " (derived)" : ""}, address ${i.address ?? "none"}, mtu ${i.mtu}`);
  }
  for (const r of cfg.routes) lines.push(`route ${r.cidr}${r.via ? ` via ${r.via}` : ""}${r.dev ? ` dev ${r.dev}` : ""}`);
  for (const n of cfg.neighbours) lines.push(`neighbour ${n.address} ${n.mac}`);
  for (const m of cfg.marks ?? []) {
    lines.push(`mark ${m.mark}: ${m.protocol ?? "tcp and udp"} to ${m.destination}${m.ports ? ` ports ${m.ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(",")}` : ""}`);
  }
  const t = engine.timeouts();
  lines.push(`connection table: ${cfg.connections ?? DEFAULT_CONN_CAPACITY} entries; timeouts tcp ${t.tcp} tcpfin ${t.tcpfin} udp ${t.udp}`);
  lines.push(`control socket: ${cfg.controlSocket ?? `${defaultSocket()} (this network namespace's default)`}; metrics: ${cfg.metrics ? `http://${cfg.metrics.host}:${cfg.metrics.port}/metrics${cfg.metricsScrapers?.length ? ` (scrapers ${cfg.metricsScrapers.map((x) => x.cidr).join(", ")})` : ""}` : "off"}; offloads: ${cfg.offload?.on ? "on" : "off"}; reject_unknown: ${cfg.rejectUnknown?.on ?? true ? "on" : "off"}`);
  lines.push(...healthSummary(cfg));
  const view = tableView(engineSnapshot(engine, { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 }));
  lines.push(`services (${view.services.length}), as ipvsadm -S -n would print them:`);
  return lines.join("\n") + "\n" + formatSave(view, NUMERIC);
}
