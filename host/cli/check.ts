// `wasmvs check FILE`: validate a configuration (either format) without running
// anything — parse it, load what was read into a scratch engine so the engine's own checks
// run (a DR server must be on-link, ...) — and say what it would set up. Every error of
// every stage comes in one run, in file order (host/control/load.ts).

import { loadEngine } from "../engine/node.js";
import { BYTES_PER_REAL_SERVER, BYTES_PER_SERVICE, DEFAULT_CONN_CAPACITY, Engine } from "../engine/index.js";
import { readConfig, withEngineErrors } from "../control/load.js";
import { checkSizing, ConfigError, configSlotSize, DirectorConfig, sizingError } from "../config/rules.js";
import { formatSave, hostPort } from "../config/ipvsadm.js";
import { NUMERIC, tableView } from "../control/table.js";
import { defaultSocket } from "../io/control-socket.js";
import { engineSnapshot } from "../dataplane/snapshot.js";
import { effective } from "../health/overlay.js";
import { healthSummary } from "../health/summary.js";
import type { Script } from "../config/health.js";
import { DeviceLookup, HostProbe, interfaceBackend, readDevice, readHostProbe, xdpReadiness } from "../control/devices.js";

/** What check reads of the host it runs on (tests pass fake devices and a fake probe). */
export interface CheckHost {
  devices?: DeviceLookup;
  probe?: () => HostProbe;
}

export async function check(path: string, director?: string, strict = false, host: CheckHost = {}): Promise<string> {
  // A device missing here is a warning: check may run on another machine than the director.
  const r = readConfig(path, director, strict, { missing: "warning", facts: host.devices ?? readDevice });
  const cfg = r.cfg;
  const slotSize = (() => { try { return configSlotSize(cfg); } catch { return undefined; } })();
  let engine: Engine;
  try {
    engine = await loadEngine({ batch: 1, ...(slotSize ? { slotSize } : {}), ...checkSizing(cfg) });
  } catch (e) {
    throw sizingError(cfg, e) ?? e;
  }
  // What the director starts with: servers with an alpha checker wait for their first
  // success; a virtual server without quorum gets its sorry server.
  const errors = withEngineErrors(engine, { ...r, cfg: r.errors.length ? cfg : effective(cfg) }, r.errors);
  if (errors.length) throw ConfigError.all(errors);
  const lines = [`${path}: OK${director !== undefined ? ` (director block: ${director})` : ""}`, ...(cfg.warnings ?? []).map((w) => `warning: ${w}`)];
  lines.push(...interfaceSummary(cfg, host));
  for (const r of cfg.routes) lines.push(`route ${r.cidr}${r.via ? ` via ${r.via}` : ""}${r.dev ? ` dev ${r.dev}` : ""}`);
  for (const n of cfg.neighbours) lines.push(`neighbour ${n.address} ${n.mac}`);
  for (const m of cfg.marks ?? []) {
    lines.push(`mark ${m.mark}: ${m.protocol ?? "tcp and udp"} to ${m.destination}${m.ports ? ` ports ${m.ports.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(",")}` : ""}`);
  }
  const t = engine.timeouts();
  lines.push(`connection table: ${cfg.connections ?? DEFAULT_CONN_CAPACITY} entries; timeouts tcp ${t.tcp} tcpfin ${t.tcpfin} udp ${t.udp}`);
  lines.push(tableSizes(engine));
  lines.push(`control socket: ${cfg.controlSocket ?? `${defaultSocket()} (this network namespace's default)`}; metrics: ${cfg.metrics ? `http://${cfg.metrics.host}:${cfg.metrics.port}/metrics${cfg.metricsScrapers?.length ? ` (scrapers ${cfg.metricsScrapers.map((x) => x.cidr).join(", ")})` : ""}` : "off"}; dashboard: ${cfg.dashboard ? `http://${cfg.dashboard.host}:${cfg.dashboard.port}/` : "off"}; offloads: ${cfg.offload?.on ? "on" : "off"}; reject_unknown: ${cfg.rejectUnknown?.on ?? true ? "on" : "off"}`);
  lines.push(...vrrpSummary(cfg));
  lines.push(...healthSummary(cfg), ...checkerSummary(cfg));
  const view = tableView(engineSnapshot(engine, { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 }));
  lines.push(`services (${view.services.length}), as ipvsadm -S -n would print them:`);
  return lines.join("\n") + "\n" + formatSave(view, NUMERIC);
}

/** The engine's table sizes and what they cost (README "Table sizes and memory"). */
export function tableSizes(e: Engine): string {
  const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
  const kib = (b: number) => `${(b / 1024).toFixed(b % 1024 ? 1 : 0)} KiB`;
  return `tables: max_services ${e.maxServices} (${mib(e.maxServices * BYTES_PER_SERVICE)}), max_real_servers ${e.maxRealServers} ` +
    `(${mib(e.maxRealServers * BYTES_PER_REAL_SERVER)}), scheduler_memory ${mib(e.schedulerMemory)} (a table of sh or dh ${kib(e.schedulerBytes("sh"))}, ` +
    `mh ${kib(e.schedulerBytes("mh"))}, maglev ${kib(e.schedulerBytes("maglev"))}: room for ${Math.floor(e.schedulerMemory / e.schedulerBytes("maglev"))} maglev services)`;
}

/** Each interface as it will be attached: its settings (what came from its device said so),
 *  then the backend it takes and why, and for rings whether this host can run them. */
export function interfaceSummary(cfg: DirectorConfig, host: CheckHost = {}): string[] {
  const out: string[] = [];
  let readiness: string | undefined;
  const ofDevice = (yes: boolean | undefined) => (yes ? " (the device's)" : "");
  for (const i of cfg.interfaces) {
    const from = i.fromDevice ?? {};
    if (i.device !== undefined && i.rxQueues === undefined) {
      // Not read here (missing on this host, a warning says so): what it will give where wasmvs runs.
      out.push(`interface ${i.index} ${i.name}: device ${i.device} (not on this host), mac ${i.macWhere ? i.mac : "the device's"}, ` +
        `address ${i.address ?? "the device's first IPv4 address"}, mtu ${i.mtuWhere ? i.mtu : "the device's"}`);
    } else {
      const attach = i.device !== undefined ? `device ${i.device} (${i.rxQueues} rx queue${i.rxQueues === 1 ? "" : "s"})` : `TAP ${i.tap}${i.bridge ? ` in bridge ${i.bridge}` : ""}`;
      out.push(`interface ${i.index} ${i.name}: ${attach}, mac ${i.mac}${i.macDerived ? " (derived)" : ofDevice(from.mac)}, ` +
        `address ${i.address ?? "none"}${ofDevice(from.address)}, mtu ${i.mtu}${ofDevice(from.mtu)}`);
    }
    const b = interfaceBackend(i);
    if (b.backend === "xdp") readiness ??= xdpReadiness((host.probe ?? readHostProbe)()).say;
    out.push(`  backend ${b.backend}: ${b.why}${b.backend === "xdp" ? `; ${readiness}` : ""}`);
  }
  return out;
}

const secs = (ms: number) => `${ms / 1000} s`;
const cmd = (s: Script) => s.argv.join(" ");

/** The VRRP part as understood: each instance's state machine settings, the sync groups,
 *  the sync daemon, static addresses and the notify scripts and FIFOs. */
export function vrrpSummary(cfg: DirectorConfig): string[] {
  const out: string[] = [];
  const groupOf = (name: string) => cfg.vrrpSyncGroups?.find((g) => g.members.includes(name))?.name;
  const notifies = (o: { notify?: Script; notifyMaster?: Script; notifyBackup?: Script; notifyFault?: Script; notifyStop?: Script }) =>
    ([["notify", o.notify], ["notify_master", o.notifyMaster], ["notify_backup", o.notifyBackup], ["notify_fault", o.notifyFault], ["notify_stop", o.notifyStop]] as const)
      .filter(([, s]) => s).map(([k, s]) => `${k} ${cmd(s!)}`);
  for (const v of cfg.vrrp ?? []) {
    const tracking = [
      ...v.trackInterfaces.map((x) => `interface ${x.interfaceName}${x.weight ? ` weight ${x.weight}` : ""}${x.reverse ? " reverse" : ""}`),
      ...v.trackScripts.map((x) => `script ${x.script}${x.weight ? ` weight ${x.weight}` : ""}${x.reverse ? " reverse" : ""}`),
      ...v.trackFiles.map((x) => `file ${x.name}${x.weight ? ` weight ${x.weight}` : ""}${x.reverse ? " reverse" : ""}`),
    ];
    const g = groupOf(v.name);
    out.push(`vrrp_instance ${v.name}: state ${v.initialMaster ? "MASTER" : "BACKUP"}, interface ${v.interfaceName}, VRID ${v.vrid}, priority ${v.priority}` +
      `, advert ${secs(v.advertIntMs)} (VRRPv${v.version}), ${v.preempt ? `preempt${v.preemptDelayMs ? `, preempt_delay ${secs(v.preemptDelayMs)}` : ""}` : "nopreempt"}` +
      `, ${v.addresses.length} VIP${v.addresses.length === 1 ? "" : "s"}${v.excludedAddresses?.length ? ` (+${v.excludedAddresses.length} excluded)` : ""}` +
      `, ${v.unicastPeers?.length ? `unicast peers ${v.unicastPeers.join(", ")}` : "multicast 224.0.0.18"}${v.authPass !== undefined ? ", auth PASS" : ""}${v.vmac ? ", vmac" : ""}` +
      `; tracking: ${tracking.join(", ") || "none"}; sync group: ${g ?? "none"}`);
    const n = notifies(v);
    if (n.length) out.push(`  ${v.name} notify: ${n.join("; ")}`);
  }
  for (const g of cfg.vrrpSyncGroups ?? []) {
    const n = notifies(g);
    out.push(`vrrp_sync_group ${g.name}: ${g.members.join(", ")}${n.length ? `; ${n.join("; ")}` : ""}`);
  }
  for (const s of cfg.vrrpScripts ?? []) {
    out.push(`vrrp_script ${s.name}: ${cmd(s.script)} every ${secs(s.intervalMs)}, timeout ${secs(s.timeoutMs)}, weight ${s.weight}${s.reverse ? " reverse" : ""}, rise ${s.rise} fall ${s.fall}`);
  }
  const sd = cfg.syncDaemon;
  if (sd) {
    out.push(`lvs_sync_daemon: interface ${sd.interfaceName}, following ${sd.instance} (sends while it is MASTER, receives otherwise), ` +
      `syncid ${sd.syncid}, group ${sd.peer ? `${sd.peer} (unicast)` : "224.0.0.81"}, maxlen ${sd.maxlen}${cfg.syncAuth ? ", authenticated" : ""}`);
  }
  if (cfg.staticAddresses?.length) out.push(`static_ipaddress: ${cfg.staticAddresses.map((x) => x.address).join(", ")}`);
  for (const f of cfg.notifyFifos ?? []) {
    out.push(`${f.kind === "all" ? "notify_fifo" : `${f.kind}_notify_fifo`} ${f.path}${f.script ? `, read by ${cmd(f.script)}` : ""}`);
  }
  return out;
}

/** Each checked real server's checkers: kind, port and timing. */
export function checkerSummary(cfg: DirectorConfig): string[] {
  const out: string[] = [];
  for (const s of cfg.services) {
    for (const r of s.realServers) {
      const cs = r.health?.checkers ?? [];
      if (!cs.length) continue;
      const each = cs.map((c) => `${c.kind}${c.kind === "MISC_CHECK" ? ` ${cmd(c.script)}` : c.kind === "FILE_CHECK" || c.kind === "PING_CHECK" ? "" : ` port ${c.connectPort}`}` +
        ` every ${secs(c.delayLoopMs)}, timeout ${secs(c.kind === "MISC_CHECK" ? c.timeoutMs : c.connectTimeoutMs)}, retry ${c.retry} after ${secs(c.delayBeforeRetryMs)}${c.alpha ? ", alpha" : ""}`);
      out.push(`  ${s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.protocol.toUpperCase()} ${hostPort(s.address, s.port)}`} -> ${hostPort(r.address, r.port)}: ${each.join("; ")}`);
      if (r.health?.notifyUp || r.health?.notifyDown) {
        out.push(`    notify${r.health.notifyUp ? ` up ${cmd(r.health.notifyUp)}` : ""}${r.health.notifyDown ? ` down ${cmd(r.health.notifyDown)}` : ""}`);
      }
    }
  }
  return out;
}
