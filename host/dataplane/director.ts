// `wasmvs run`: a director on TAP devices. Reads the configuration, builds the engine,
// attaches (or creates) a TAP device per interface, puts it in its bridge, announces
// the VIPs with gratuitous ARP, and moves frames until SIGINT or SIGTERM. SIGHUP
// reloads the configuration file (the difference only; a bad file changes nothing).
// With --status FILE it writes its services, statistics and counters there as JSON
// every second and on exit.

import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Engine } from "../engine/index.js";
import { loadEngine } from "../engine/node.js";
import { applyConfig, ConfigError, configSlotSize, DirectorConfig, onLinkIndex } from "../control/rules.js";
import { reload } from "../control/reload.js";
import { ControlHost, DEFAULT_SOCKET, estimate, startControl } from "../control/server.js";
import { loadConfig } from "../control/load.js";
import { Estimator, ESTIMATOR_INTERVAL_MS } from "../control/estimator.js";
import { IpvsadmError } from "../control/ipvsadm.js";
import { metricsRegistry, startMetrics } from "../metrics/metrics.js";
import { tapAddon } from "../io/tap.js";
import { Dataplane, engineNow, Port } from "./loop.js";
import { formatCounters, formatServices } from "../cli/report.js";

export interface RunOptions {
  config: string;
  status?: string;
  /** The control socket (ipvsadm command line, wasmvs reload). */
  socket?: string;
  batch: number;
  log: (line: string) => void;
}

function ip(args: string[]): void {
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`ip ${args.join(" ")}: ${err || (e as Error).message}`);
  }
}

/** A JSON-friendly snapshot (bigints as numbers: they stay far below 2^53 here). */
export function snapshot(e: Engine, loop?: Dataplane): unknown {
  const num = (o: Record<string, bigint>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
  return {
    time: new Date().toISOString(),
    pid: process.pid,
    connections: e.connectionCount,
    counters: num(e.counters()),
    services: e.services().map((s) => ({
      ...s,
      stats: num(s.stats as unknown as Record<string, bigint>),
      realServers: s.realServers.map((r) => ({ ...r, stats: num(r.stats as unknown as Record<string, bigint>) })),
    })),
    loop: loop?.stats,
  };
}

/** br_netfilter passes bridged IPv4 frames through iptables (per network namespace). */
function bridgeNetfilterOn(): boolean {
  try {
    return readFileSync("/proc/sys/net/bridge/bridge-nf-call-iptables", "utf8").trim() === "1";
  } catch {
    return false; // br_netfilter not in this kernel
  }
}

export async function runDirector(o: RunOptions): Promise<void> {
  let cfg: DirectorConfig = loadConfig(o.config);
  const offload = cfg.offload?.on ?? false;
  // Slots hold the largest frame the interfaces' MTUs allow; with offloads the kernel hands
  // over TCP segments of up to 64 KB, and fewer such slots are enough.
  const engine = await loadEngine({ batch: offload ? Math.min(o.batch, 64) : o.batch, slotSize: configSlotSize(cfg), connCapacity: cfg.connections ?? 65536 });
  applyConfig(engine, cfg);
  engine.setVnetHeaders(offload);
  const addon = tapAddon();
  const ports: Port[] = [];
  try {
    for (const i of cfg.interfaces) {
      const fd = addon.open(i.tap, offload);
      ports.push({ ifindex: i.index, fd, name: i.tap });
      ip(["link", "set", "dev", i.tap, "mtu", String(i.mtu)]);
      if (i.bridge) ip(["link", "set", "dev", i.tap, "master", i.bridge]);
      ip(["link", "set", "dev", i.tap, "up"]);
      o.log(`interface ${i.index} (${i.name}): TAP ${i.tap}${i.bridge ? ` in bridge ${i.bridge}` : ""}, mac ${i.mac}, ` +
        `address ${i.address ?? "none"}, mtu ${i.mtu}`);
    }
  } catch (e) {
    for (const p of ports) addon.close(p.fd);
    throw e;
  }
  for (const s of engine.services()) {
    o.log(`service ${s.protocol.toUpperCase()} ${s.address}:${s.port} ${s.scheduler}: ` +
      (s.realServers.map((r) => `${r.address}:${r.port} ${r.method} w${r.weight}`).join(", ") || "no real servers"));
  }
  if (cfg.interfaces.some((i) => i.bridge) && bridgeNetfilterOn()) {
    o.log("note: bridge netfilter is on in this network namespace (net.bridge.bridge-nf-call-iptables=1): every frame " +
      "crossing the TAPs' bridges also runs the iptables hooks; unless you filter bridged traffic, " +
      "sysctl -w net.bridge.bridge-nf-call-iptables=0 saves that work (README: Wiring it on a director)");
  }
  const loop = new Dataplane(engine, ports, 100, offload);
  if (offload) o.log("offloads on: virtio-net headers, TSO and checksum offload on every TAP");
  loop.start();
  // Announce every VIP (and the director's addresses) so switches and neighbours learn them.
  const announce = () => {
    const vips = new Set(engine.services().map((s) => s.address));
    for (const i of cfg.interfaces) if (i.address) vips.add(i.address.split("/")[0]);
    for (const v of vips) {
      const ifindex = onLinkIndex(cfg, v) ?? cfg.interfaces[0].index;
      loop.flush(engine.sendGratuitousArp(ifindex, v, engineNow()));
    }
  };
  announce();
  o.log(`running: ${ports.length} interface(s), connection table ${engine.connCapacity}, pid ${process.pid}`);
  const writeStatus = () => {
    if (!o.status) return;
    const tmp = `${o.status}.tmp`;
    writeFileSync(tmp, JSON.stringify(snapshot(engine, loop), null, 1));
    renameSync(tmp, o.status);
  };
  writeStatus();
  const statusTimer = setInterval(writeStatus, 1000);
  /** Re-read the configuration file and apply the difference; throws (changing nothing) on error. */
  const reloadFile = async (): Promise<string[]> => {
    o.log(`reloading ${o.config}`);
    try {
      const next = loadConfig(o.config);
      const r = await reload(engine, cfg, next);
      cfg = next;
      o.log(r.changes.length ? `reloaded: ${r.changes.join("; ")}` : "reloaded: no change");
      writeStatus();
      return r.changes;
    } catch (e) {
      const why = e instanceof ConfigError || (e as NodeJS.ErrnoException).code ? (e as Error).message : String((e as Error).stack);
      o.log(`reload refused, the running configuration stays: ${why}`);
      throw new IpvsadmError(why, 1);
    }
  };
  let reloading = false;
  process.on("SIGHUP", () => {
    if (reloading) return;
    reloading = true;
    reloadFile().catch(() => {}).finally(() => {
      reloading = false;
    });
  });
  // Rates: IPVS's estimator, every two seconds.
  const estimator = new Estimator();
  const host: ControlHost = { engine, estimator, config: () => cfg, setConfig: (c) => { cfg = c; }, reloadFile, log: o.log };
  estimate(host);
  const estimatorTimer = setInterval(() => estimate(host), ESTIMATOR_INTERVAL_MS);
  const socketPath = o.socket ?? cfg.controlSocket ?? DEFAULT_SOCKET;
  const control = startControl(host, socketPath);
  o.log(`control socket ${socketPath}`);
  const metrics = cfg.metrics
    ? startMetrics(metricsRegistry(engine, () => loop.stats), cfg.metrics.host, cfg.metrics.port, (e) => o.log(`metrics: ${e.message}`))
    : undefined;
  if (cfg.metrics) o.log(`metrics on http://${cfg.metrics.host}:${cfg.metrics.port}/metrics`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      o.log(`${sig}: stopping`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  loop.stop();
  clearInterval(statusTimer);
  clearInterval(estimatorTimer);
  control.close();
  metrics?.close();
  writeStatus();
  for (const p of ports) addon.close(p.fd);
  o.log(`stopped after ${loop.stats.framesIn} frames in, ${loop.stats.framesOut} out\n${formatServices(engine)}\n${formatCounters(engine)}`);
}
