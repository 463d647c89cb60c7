// `wasmvs run`: the director on TAP devices, as a composition root of small services
// started in order and stopped in reverse: the control socket's claim, the TAPs, the
// data-path thread (which owns the engine and the frames), the control socket, metrics,
// the status file and IPVS's rate estimator. The main thread keeps the configuration
// model and serves the control plane; it never touches a frame, so nothing it does —
// parsing a file, listing a large table, answering a scrape — stalls forwarding.
//
// Every change to the running configuration (an ipvsadm command on the control socket,
// `wasmvs reload`, SIGHUP) goes through one queue: they apply one at a time, each
// entirely or not at all, and the model always says what the engine holds.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadEngine } from "../engine/node.js";
import { applyConfig, configSlotSize, DirectorConfig, onLinkIndex } from "../control/rules.js";
import { claimSocket, defaultSocket, startControl } from "../control/server.js";
import { loadConfig } from "../control/load.js";
import { Estimator } from "../control/estimator.js";
import { Parsed } from "../control/ipvsadm.js";
import { ControlState } from "../control/daemon.js";
import { formatCounters, formatServices } from "../control/table.js";
import { metricsRegistry, ProcessHealth, startMetrics } from "../metrics/metrics.js";
import { tapAddon } from "../io/tap.js";
import { Housekeeping } from "../control/housekeeping.js";
import { systemClock } from "../control/clock.js";
import { DataplaneThread } from "./client.js";
import { EngineSnapshot } from "./requests.js";

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

/** The status file's content: JSON-friendly (bigints as numbers: they stay far below 2^53 here). */
export function statusOf(s: EngineSnapshot, control?: unknown): unknown {
  const num = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
  return {
    time: new Date().toISOString(),
    pid: process.pid,
    connections: s.connectionCount,
    counters: num(s.counters),
    neighbours: s.neighbours,
    services: s.services.map((v) => ({
      ...v,
      stats: num(v.stats),
      realServers: v.realServers.map((r) => ({ ...r, stats: num(r.stats) })),
    })),
    loop: s.loop,
    control,
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

/** Runs f for each I/O error a timer or socket survives: logged once a second at most, counted. */
function errorLog(log: (line: string) => void, health: ProcessHealth) {
  let last = 0;
  return (what: string, e: unknown) => {
    health.errors++;
    const now = Date.now();
    if (now - last >= 1000) {
      last = now;
      log(`${what}: ${(e as Error).message ?? e} (the director carries on)`);
    }
  };
}

export async function runDirector(o: RunOptions): Promise<void> {
  const fileCfg: DirectorConfig = loadConfig(o.config);
  const offload = fileCfg.offload?.on ?? false;
  // Slots hold the largest frame the interfaces' MTUs allow; with offloads the kernel hands
  // over TCP segments of up to 64 KB, and fewer such slots are enough.
  const options = { batch: offload ? Math.min(o.batch, 64) : o.batch, slotSize: configSlotSize(fileCfg), connCapacity: fileCfg.connections ?? 65536 };
  // Everything is checked before any device or socket is touched.
  applyConfig(await loadEngine({ batch: 1, slotSize: options.slotSize, connCapacity: 16 }), fileCfg);
  for (const w of fileCfg.warnings ?? []) o.log(`warning: ${w}`);
  const socketPath = o.socket ?? fileCfg.controlSocket ?? defaultSocket();
  await claimSocket(socketPath);

  const stops: (() => unknown)[] = [];
  const health: ProcessHealth = { errors: 0, lagMs: 0, lagMaxMs: 0, refused: 0 };
  const survived = errorLog(o.log, health);
  let fatal: string | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    wake = () => resolve("fatal");
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  let last: EngineSnapshot | undefined;
  // SIGHUP's default would end the process: until the director can reload, it is ignored.
  let onHup = () => o.log("SIGHUP while starting: ignored (reload once the director runs)");
  const hup = () => onHup();
  process.on("SIGHUP", hup);
  stops.push(() => process.off("SIGHUP", hup));
  try {
    const addon = tapAddon();
    const fds: number[] = [];
    stops.push(() => { for (const fd of fds) if (fd >= 0) addon.close(fd); });
    for (const i of fileCfg.interfaces) {
      fds[i.index] = addon.open(i.tap, offload);
      ip(["link", "set", "dev", i.tap, "mtu", String(i.mtu)]);
      if (i.bridge) ip(["link", "set", "dev", i.tap, "master", i.bridge]);
      ip(["link", "set", "dev", i.tap, "up"]);
      o.log(`interface ${i.index} (${i.name}): TAP ${i.tap}${i.bridge ? ` in bridge ${i.bridge}` : ""}, mac ${i.mac}, ` +
        `address ${i.address ?? "none"}, mtu ${i.mtu}`);
    }
    for (let k = 0; k < fds.length; k++) if (fds[k] === undefined) fds[k] = -1;
    if (fileCfg.interfaces.some((i) => i.bridge) && bridgeNetfilterOn()) {
      o.log("note: bridge netfilter is on in this network namespace (net.bridge.bridge-nf-call-iptables=1): every frame " +
        "crossing the TAPs' bridges also runs the iptables hooks; unless you filter bridged traffic, " +
        "sysctl -w net.bridge.bridge-nf-call-iptables=0 saves that work (README: Wiring it on a director)");
    }

    const thread = await DataplaneThread.start({
      options, config: fileCfg, fds, vnet: offload,
      onFatal: (why) => { fatal = why; o.log(`the data path stopped: ${why}`); wake(); },
    });
    stops.push(async () => {
      last = await thread.snapshot().catch(() => last);
      const s = await thread.stop();
      if (last && s) last = { ...last, loop: s };
    });
    // The services as the engine holds them (IPVS list order: the latest added first).
    for (const s of (await thread.snapshot()).services) {
      o.log(`service ${s.protocol.toUpperCase()} ${s.address}:${s.port} ${s.scheduler}: ` +
        (s.realServers.map((r) => `${r.address}:${r.port} ${r.method} w${r.weight}`).join(", ") || "no real servers"));
    }
    if (offload) o.log("offloads on: virtio-net headers, TSO and checksum offload on every TAP");
    o.log(`data path on its own thread: ${fds.filter((f) => f >= 0).length} interface(s), connection table ${options.connCapacity}, pid ${process.pid}`);

    const estimator = new Estimator();
    const state = new ControlState(thread, fileCfg, () => loadConfig(o.config), o.log);
    const host = {
      engine: thread, estimator, log: o.log,
      applyCommands: (commands: Parsed[]) => state.applyCommands(commands),
      reloadFile: () => state.reloadFile(),
    };
    onHup = () => { host.reloadFile().catch(() => {}); };

    const control = await startControl(host, socketPath, { gid: fileCfg.controlGroup?.gid, onRefused: () => { health.refused++; } });
    stops.push(() => control.close());
    o.log(`control socket ${socketPath}`);
    if (fileCfg.metrics) {
      const m = fileCfg.metrics;
      let current: EngineSnapshot | undefined;
      const registry = metricsRegistry(() => current!, () => health);
      const metrics = await startMetrics(registry, async () => { current = await thread.snapshot(); }, m.host, m.port, (e) => survived("metrics", e));
      stops.push(() => metrics.close());
      o.log(`metrics on http://${m.host}:${m.port}/metrics`);
    }

    // Gratuitous ARP for every VIP and the director's own addresses, so neighbours learn them.
    const vips = new Set(fileCfg.services.map((s) => s.address));
    for (const i of fileCfg.interfaces) if (i.address) vips.add(i.address.split("/")[0]);
    await thread.announce([...vips].map((v) => ({ ifindex: onLinkIndex(fileCfg, v) ?? fileCfg.interfaces[0].index, address: v })));

    // The heartbeat (timer lateness), the status file and IPVS's estimator.
    const housekeeping = new Housekeeping(thread, systemClock, estimator, { status: o.status, statusOf, health, survived });
    await housekeeping.start();
    stops.push(() => housekeeping.stop());

    const why = await stopped;
    if (why !== "fatal") o.log(`${why}: stopping`);
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        o.log(`while stopping: ${(e as Error).message}`);
      }
    }
  }
  if (last) o.log(`stopped after ${last.loop.framesIn} frames in, ${last.loop.framesOut} out\n${formatServices(last)}\n${formatCounters(last)}`);
  if (fatal) throw new Error(`the data path stopped: ${fatal}`);
}
