// `wasmvs run`: the director on TAP devices, as a composition root of small services
// started in order and stopped in reverse (after the control socket's path is claimed):
// the interfaces (TAPs, or the host's own devices through AF_XDP rings), the data-path thread (which owns the engine and the frames), the control
// socket, metrics, the announcements, housekeeping (status file, estimator, heartbeat). The main thread keeps the configuration
// model and serves the control plane; it never touches a frame, so nothing it does —
// parsing a file, listing a large table, answering a scrape — stalls forwarding.
//
// Every change to the running configuration (an ipvsadm command on the control socket,
// `wasmvs reload`, SIGHUP) goes through one queue: they apply one at a time, each
// entirely or not at all, and the model always says what the engine holds.

import { execFileSync } from "node:child_process";
import { networkInterfaces, setPriority } from "node:os";
import { DEFAULT_CONN_CAPACITY, type Engine, type ServiceInfo } from "../engine/index.js";
import { Abi } from "../engine/abi.js";
import { readFileSync, renameSync } from "node:fs";
import { loadEngine } from "../engine/node.js";
import { applyConfig, checkSizing, configSlotSize, DirectorConfig, onLinkIndex, schedulerSizing, sizingError } from "../config/rules.js";
import { claimSocket, startControl } from "../control/server.js";
import { defaultSocket } from "../io/control-socket.js";
import { loadConfig } from "../control/load.js";
import { Estimator } from "../control/estimator.js";
import { hostPort, Parsed } from "../config/ipvsadm.js";
import { ControlState } from "../control/daemon.js";
import { formatCounters, formatServices } from "../control/table.js";
import { LIVE_VIEW_LIMITS } from "../control/live.js";
import { DEFAULT_METRICS_REAL_SERVERS, metricsRegistry, ProcessHealth, startMetrics } from "../metrics/metrics.js";
import { startDashboard } from "../dashboard/server.js";
import { History } from "../dashboard/history.js";
import { liveView } from "../control/live.js";
import { tapAddon } from "../io/tap.js";
import { vipOnHostWarning, vipsOnHost } from "../control/devices.js";
import { Housekeeping } from "../control/housekeeping.js";
import { systemClock } from "../io/clock.js";
import { BootingThread, DataplaneThread, StartRefused, ThreadStart } from "../dataplane/client.js";
import { startSetOf, vrrpConfigOf } from "../dataplane/start.js";
import type { StartSet } from "../engine/start.js";
import type { EngineSnapshot } from "../dataplane/snapshot.js";
import { effective } from "../health/overlay.js";
import { HealthService } from "../health/service.js";
import { readTable, removeStaleTemps, TableFileError, TakenTable, writeTable } from "../dataplane/handoff.js";
import { SyncDaemons } from "../control/syncd.js";
import { JOURNAL_MS } from "../dataplane/journal.js";
import { NotifyFifos } from "../health/notify-fifo.js";
import { healthSummary } from "../health/summary.js";
import { VrrpService } from "../vrrp/service.js";
import { withinAny } from "../config/settings.js";
import { ERROR, NOTICE, WARNING } from "../io/log.js";
import { sdNotify } from "../io/sd-notify.js";
import type { RestoreScript } from "../control/restore.js";

export interface RunOptions {
  config: string;
  /** keepalived.conf's director block in a file of its own, read again on every reload. */
  director?: string;
  /** --strict: what keepalived warns about and carries on after is refused, at start and on every reload. */
  strict?: boolean;
  status?: string;
  /** The control socket (ipvsadm command line, wasmvs reload). */
  socket?: string;
  /** Where the connection table is left on a stop and taken from at start (handoff.ts);
   *  default: beside the control socket, SOCKET with .table for .sock; "none": nowhere. */
  tableFile?: string;
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

/** A service as the status file gives it (statusOf's services; housekeeping writes them a few at a time). */
export function serviceStatus(v: ServiceInfo): unknown {
  const num = (o: object) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]));
  return { ...v, stats: num(v.stats), realServers: v.realServers.map((r) => ({ ...r, stats: num(r.stats) })) };
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
    services: s.services.map(serviceStatus),
    // A table larger than the file's share (housekeeping.ts STATUS_SERVICES): what is not listed.
    ...(s.omitted && (s.omitted.services || s.omitted.realServers) ? { omitted: s.omitted } : {}),
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
      log(`${ERROR}${what}: ${(e as Error).message ?? e} (the director carries on)`);
    }
  };
}

/** A part of the director with a lifecycle, started in order and stopped in reverse
 *  (health checks, VRRP and connection sync are to be more of them). */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Each interface's port: a TAP device (opened or created, MTU set, put in its bridge, up), or an
 *  existing interface of the host attached through AF_XDP rings (`device`; host/io/native/rings.c),
 *  which is left as the host has it: its addresses, MTU and state are the host's. */
class Ports implements Service {
  readonly name = "interfaces";
  /** Descriptors by interface index (-1: none). */
  readonly fds: number[] = [];
  /** The ring ports' descriptors. */
  readonly rings: number[] = [];

  constructor(private readonly cfg: DirectorConfig, private readonly offload: boolean, private readonly frameBytes: number,
    private readonly log: (line: string) => void) {}

  async start(): Promise<void> {
    const addon = tapAddon();
    try {
      for (const i of this.cfg.interfaces) {
        if (i.device) {
          // Offloads are a TAP's virtio-net headers; an AF_XDP socket hands over frames as the wire has them.
          if (this.offload) throw new Error(`interface ${i.name}: offload on applies to TAP devices; device ${i.device} is attached through AF_XDP rings (leave offload out)`);
          const fd = addon.ringOpen(i.device, this.frameBytes);
          this.fds[i.index] = fd;
          this.rings.push(fd);
          const info = addon.ringInfo(fd);
          this.log(`interface ${i.index} (${i.name}): AF_XDP rings on device ${i.device} (${info?.mode ?? "?"} XDP, copy mode, ` +
            `${info?.queues ?? "?"} receive queue(s)), mac ${i.mac}, address ${i.address ?? "none"}, mtu ${i.mtu}; ` +
            "the host keeps its own traffic, ARP and IPv6 on it");
          if (info?.mode === "generic") this.log(`${NOTICE}device ${i.device}: its driver has no XDP of its own, or none for this MTU; the kernel's generic XDP runs instead (slower, same behaviour)`);
          if ((addon.linkFlags(i.device) & 1) === 0) this.log(`${WARNING}device ${i.device} is down: nothing moves until the host brings it up (ip link set ${i.device} up)`);
          continue;
        }
        this.fds[i.index] = addon.open(i.tap, this.offload);
        ip(["link", "set", "dev", i.tap, "mtu", String(i.mtu)]);
        if (i.bridge) ip(["link", "set", "dev", i.tap, "master", i.bridge]);
        ip(["link", "set", "dev", i.tap, "up"]);
        this.log(`interface ${i.index} (${i.name}): TAP ${i.tap}${i.bridge ? ` in bridge ${i.bridge}` : ""}, mac ${i.mac}, ` +
          `address ${i.address ?? "none"}, mtu ${i.mtu}`);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    for (let k = 0; k < this.fds.length; k++) if (this.fds[k] === undefined) this.fds[k] = -1;
    if (this.cfg.interfaces.some((i) => i.bridge) && bridgeNetfilterOn()) {
      this.log(NOTICE + "note: bridge netfilter is on in this network namespace (net.bridge.bridge-nf-call-iptables=1): every frame " +
        "crossing the TAPs' bridges also runs the iptables hooks; unless you filter bridged traffic, " +
        "sysctl -w net.bridge.bridge-nf-call-iptables=0 saves that work (README: Wiring it on a director)");
    }
  }

  async stop(): Promise<void> {
    const addon = tapAddon();
    for (const fd of this.fds) {
      if (fd === undefined || fd < 0) continue;
      if (this.rings.includes(fd)) addon.ringClose(fd);
      else addon.close(fd);
    }
    this.fds.length = 0;
    this.rings.length = 0;
  }
}

/** The table's share the log shows at start and stop (the rest counted). */
const LOGGED_TABLE = { maxServices: 64, maxServers: 1024 };

/** How old a snapshot a scrape may be answered from. */
const METRICS_SNAPSHOT_MS = 250;

/** The data-path thread's scheduling: SCHED_RR at this priority (keepalived.conf's
 *  vrrp_rt_priority sets another), else this nice value. */
const DATA_PATH_RT_PRIORITY = 10;
const DATA_PATH_NICE = -10;

/** The data path (and VRRP with it) before everything else on the machine, as IPVS's packet
 *  path runs in softirq context before any process, and as keepalived runs VRRP with
 *  vrrp_rt_priority: real-time round-robin for that one thread (chrt on its TID), else a
 *  lower nice value. Measured on 2 cores at a load average of 12: at nice 0, and still at
 *  nice -10, the kernel woke the thread up to 43 ms late and adverts left up to 275 ms late;
 *  a single thread that blocks in epoll_wait when idle takes at most one core, and the
 *  kernel keeps 5% of it for the rest (sched_rt_runtime_us). */
export function dataPathPriority(tid: number, rt = DATA_PATH_RT_PRIORITY): string {
  try {
    execFileSync("chrt", ["--rr", "-p", String(rt), String(tid)], { stdio: ["ignore", "ignore", "pipe"] });
    return `data-path thread ${tid}: real-time (SCHED_RR ${rt})`;
  } catch (e) {
    const why = ((e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message).split("\n")[0];
    try {
      setPriority(tid, DATA_PATH_NICE);
      return `${WARNING}data-path thread ${tid}: nice ${DATA_PATH_NICE} (real-time refused: ${why})`;
    } catch (e2) {
      return `${WARNING}data-path thread ${tid}: default priority (real-time refused: ${why}; nice ${DATA_PATH_NICE}: ${(e2 as Error).message})`;
    }
  }
}

/** Whether the data-path thread runs real-time: where VRRP runs on it (its adverts must leave on
 *  time whatever else the machine does: issue 16), or where vrrp_rt_priority asks for it. Else
 *  it keeps the default scheduling, as the C forwarders it is measured against do. Measured with
 *  bench:e2e (NAT on AF_XDP rings, 2 shared cores, medians of five interleaved runs): real-time,
 *  the thread preempts whatever runs as each frame arrives and takes 1.6 frames a wakeup, at
 *  24-27 µs of CPU per HTTP request (2.2-2.3x the C ring forwarder's); at the default
 *  scheduling frames gather while it waits, 5 a wakeup, 13-14 µs (0.96-1.16x). */
export function wantsRealTime(cfg: DirectorConfig): boolean {
  return (cfg.vrrp?.length ?? 0) > 0 || cfg.vrrpRtPriority !== undefined;
}

/** The data-path thread, and the last word on what it did when it stops. */
class DataPath implements Service {
  readonly name = "data path";
  thread?: DataplaneThread;
  last?: EngineSnapshot;

  /** Where the table goes when the director stops on purpose (handoff.ts); unset: nowhere. */
  handoff?: string;
  /** The thread was made real-time (wantsRealTime). */
  realTime = false;

  /** A reload that brings the first VRRP instance (or vrrp_rt_priority) makes the thread real-time. */
  follow(cfg: DirectorConfig): void {
    if (this.realTime || !this.thread?.tid || !wantsRealTime(cfg)) return;
    this.o.log(dataPathPriority(this.thread.tid, cfg.vrrpRtPriority?.priority));
    this.realTime = true;
  }

  constructor(private readonly o: { booting: BootingThread; options: ThreadStart["options"]; config: DirectorConfig; taps: Ports; offload: boolean;
    log: (line: string) => void; table?: TakenTable }) {}

  async start(): Promise<void> {
    const { booting, options, config, taps, offload, log, table } = this.o;
    const elapsedMs = table ? Math.max(0, Date.now() - table.writtenAtMs) : 0;
    // The thread's engine holds the file already (proveStart): it is given the interfaces.
    const thread = await booting.go({ fds: taps.fds, rings: taps.rings, table: table && { entries: table.entries, elapsedMs } });
    this.thread = thread;
    if (thread.tid) {
      if (wantsRealTime(this.o.config)) {
        log(dataPathPriority(thread.tid, this.o.config.vrrpRtPriority?.priority));
        this.realTime = true;
      } else log(`data-path thread ${thread.tid}: default scheduling (no VRRP instance runs on it; real-time once one does, or with vrrp_rt_priority)`);
    }
    if (table && thread.imported) {
      const i = thread.imported;
      log(`${NOTICE}took over ${i.applied} of ${table.count} connections from the previous process (its table written ${elapsedMs} ms before)` +
        (i.expired || i.unmatched ? `; ${i.expired} had expired meanwhile, ${i.unmatched} match no service or real server here` : ""));
    }
    // The services as the engine holds them (IPVS list order: the latest added first), the first
    // LOGGED_SERVICES of them: a table of thousands is for `wasmvs -L -n`, not for the journal.
    const held = await thread.boundedSnapshot(LOGGED_TABLE);
    for (const s of held.services) {
      log(`service ${s.protocol.toUpperCase()} ${hostPort(s.address, s.port)} ${s.scheduler}: ` +
        (s.realServers.map((r) => `${hostPort(r.address, r.port)} ${r.method} w${r.weight}`).join(", ") || "no real servers"));
    }
    if (held.omitted?.services) log(`... and ${held.omitted.services} more services (${held.omitted.realServers} real servers): wasmvs -L -n lists them all`);
    if (offload) log("offloads on: virtio-net headers, TSO and checksum offload on every TAP");
    log(`data path on its own thread: ${taps.fds.filter((f) => f >= 0).length} interface(s), connection table ${options.connCapacity}, pid ${process.pid}` +
      `${thread.tid ? `, thread ${thread.tid}` : ""}${config.vrrp?.length ? " (VRRP's state machines and timers run there too)" : ""}`);
  }

  async stop(): Promise<void> {
    if (!this.thread) return;
    this.last = await this.thread.boundedSnapshot(LOGGED_TABLE).catch(() => this.last);
    const end = await this.thread.stop(this.handoff !== undefined);
    if (this.last && end) this.last = { ...this.last, loop: end.loop };
    this.thread = undefined;
    if (this.handoff && end?.table) {
      try {
        writeTable(this.handoff, end.table.entries, end.table.count, Date.now());
        this.o.log(`${NOTICE}connection table (${end.table.count} entries) left in ${this.handoff} for the next wasmvs run`);
      } catch (e) {
        this.o.log(`${ERROR}connection table not written to ${this.handoff}: ${(e as Error).message}`);
      }
    }
  }
}

/** A service from a start function that returns its stop; running between the two. */
function service(name: string, start: () => Promise<() => unknown>): Service & { readonly running: boolean } {
  let stop: (() => unknown) | undefined;
  return {
    name,
    get running() { return stop !== undefined; },
    async start() { stop = await start(); },
    async stop() { await stop?.(); stop = undefined; },
  };
}

/** What the services after the data path are built from. */
interface DirectorParts {
  o: RunOptions;
  fileCfg: DirectorConfig;
  /** The data-path thread's engine adapter. */
  engine: DataplaneThread;
  dataPath: DataPath;
  estimator: Estimator;
  fifos: NotifyFifos;
  health: ProcessHealth;
  survived: (what: string, e: unknown) => void;
  socketPath: string;
  running: string;
  /** What SIGHUP does once the control socket runs. */
  onHup: (reload: () => void) => void;
}

/** The director's services once the data path runs, each built here with what it uses and
 *  started in this order (stopped in reverse). Where the order matters it says why. */
function directorServices(p: DirectorParts): Service[] {
  const { o, fileCfg, engine, dataPath, estimator, fifos, health, survived, socketPath, running } = p;
  // The configuration model: every change through one queue (host/control/daemon.ts).
  const control = new ControlState(engine, fileCfg, () => loadConfig(o.config, o.director, o.strict), o.log);
  const syncd = new SyncDaemons(engine, fileCfg);
  const checking = new HealthService({ clock: systemClock, log: o.log, refresh: (services) => control.refresh(services), fifos });
  const vrrp = new VrrpService(fileCfg, { clock: systemClock, engine, log: o.log, sync: (x) => syncd.follow(x), fifos });
  // The dashboard's history, fed by the estimator's ticks (housekeeping).
  const history = fileCfg.dashboard ? new History() : undefined;
  // keepalived's checkers: they follow the running configuration and change what the
  // engine holds through the control state's queue, like any other change.
  const checks = service("health checks", async () => {
    checking.reconcile(control.running);
    control.follow(checking, (cfg, services) => checking.reconcile(cfg, services));
    for (const line of healthSummary(control.running)) o.log(line);
    return () => checking.stop();
  });
  // VRRP: the engine owns the instances' addresses only while master (keepalived's vrrp_instance).
  // Always there, even with no instance: a reload may add some (and follows the running
  // configuration: VRRP reloads in place, host/vrrp/machines.ts reconfigure).
  const vrrpPart = service("VRRP", async () => {
    vrrp.start();
    control.watch((cfg) => { dataPath.follow(cfg); vrrp.reconfigure(cfg); });
    return () => vrrp.stop();
  });
  return [
    // Connection sync (lvs_sync_daemon, ipvsadm --start-daemon) follows the running
    // configuration before VRRP does (vrrpPart, later): the roles a reload's lvs_sync_daemon
    // sets are there when VRRP's state gives them.
    service("connection sync", async () => {
      control.watch((cfg) => syncd.configure(cfg));
      return () => {};
    }),
    // The configuration model and the control socket: every change through one queue.
    service("control socket", async () => {
      const host = {
        engine, estimator, log: o.log,
        applyCommands: (commands: Parsed[]) => control.applyCommands(commands),
        applyRestore: (script: RestoreScript) => control.applyRestore(script),
        // systemd (Type=notify) hears of a reload from its start to its end.
        reload: () => { sdNotify("RELOADING=1\nSTATUS=reloading"); return control.reload().finally(() => sdNotify(`READY=1\nSTATUS=${running}`)); },
        reloadFile: () => host.reload().then((r) => r.changes),
        health: () => (checks.running ? checking.views() : []),
        vrrp: async () => (vrrpPart.running ? vrrp.views() : []),
        syncd,
      };
      // Its changes are logged, not listed (words made only for the log line).
      p.onHup(() => { host.reload().catch(() => {}); });
      const server = await startControl(host, socketPath, { gid: fileCfg.controlGroup?.gid, onRefused: () => { health.refused++; } });
      o.log(`control socket ${socketPath}`);
      return () => server.close();
    }),
    // keepalived's notify FIFOs, shared by the checkers and VRRP (each opened once, its script run once).
    service("notify FIFOs", async () => {
      fifos.open();
      control.watch((cfg) => fifos.reconfigure(cfg.notifyFifos ?? []));
      return () => fifos.close();
    }),
    checks,
    service("metrics", async () => {
      const m = fileCfg.metrics;
      if (!m) return () => {};
      let current: EngineSnapshot | undefined;
      const registry = metricsRegistry(() => current!, () => health, () => checking, () => syncd.view());
      // Scrapes within METRICS_SNAPSHOT_MS share a snapshot: 16 scrapers back to back ask the
      // data-path thread (and VRRP's timers beside it) for at most a few a second.
      // metrics_scraper follows the running configuration (a reload may change it).
      const trusted = (address: string) => withinAny(control.running.metricsScrapers?.map((x) => x.cidr) ?? [], address);
      // Every service's statistics, the real servers of the first ones up to metrics_real_servers
      // (a reload may change it), read in slices (no request holds the data path).
      const cap = () => control.running.metricsRealServers ?? DEFAULT_METRICS_REAL_SERVERS;
      let last: { at: number; snap: Promise<EngineSnapshot> } | undefined;
      const refresh = async () => {
        if (!last || performance.now() - last.at > METRICS_SNAPSHOT_MS) {
          const snap = engine.boundedSnapshot({ maxServers: cap(), thenWithoutServers: true });
          last = { at: performance.now(), snap };
          snap.catch(() => { if (last?.snap === snap) last = undefined; });
        }
        current = await last.snap;
      };
      const metrics = await startMetrics(registry, refresh, m.host, m.port, (e) => survived("metrics", e),
        { trusted, onRefused: () => { health.refused++; } });
      o.log(`metrics on http://${m.host}:${m.port}/metrics`);
      return () => metrics.close();
    }),
    // The live dashboard: the same view as `wasmvs top`, pushed to pages every second.
    service("dashboard", async () => {
      const d = fileCfg.dashboard;
      if (!d || !history) return () => {};
      const dashboard = await startDashboard({
        host: d.host, port: d.port, onError: (e) => survived("dashboard", e), onRefused: () => { health.refused++; },
        view: async () => {
          const snap = await engine.boundedSnapshot(LIVE_VIEW_LIMITS);
          return liveView(snap, estimator, checking.views(), snap.vrrp);
        },
        history: () => history.view(),
      });
      o.log(`dashboard on http://${d.host}:${d.port}/`);
      return () => dashboard.close();
    }),
    // Gratuitous ARP for every VIP and the director's own addresses, so neighbours learn them.
    service("announcements", async () => {
      // VRRP's addresses are announced by their instance when it becomes master, not here.
      const vrrpOwned = new Set((fileCfg.vrrp ?? []).flatMap((v) => v.addresses));
      const vips = new Set(fileCfg.services.filter((s) => s.fwmark === undefined && !vrrpOwned.has(s.address)).map((s) => s.address));
      // A mark rule's single address is a VIP too (the engine answers ARP for it).
      for (const m of fileCfg.marks ?? []) if (m.destination.endsWith("/32") && !vrrpOwned.has(m.destination.slice(0, -3))) vips.add(m.destination.slice(0, -3));
      for (const i of fileCfg.interfaces) if (i.address) vips.add(i.address.split("/")[0]);
      for (const a of fileCfg.staticAddresses ?? []) vips.add(a.address);
      // IPv4 only: an IPv6 VIP is found by the neighbour solicitations the engine answers for it
      // (Linux too sends no unsolicited advertisement for a new address: ndisc_notify is 0).
      const v4 = [...vips].filter((v) => v.indexOf(":") < 0);
      await engine.announce(v4.map((v) => ({ ifindex: onLinkIndex(fileCfg, v) ?? fileCfg.interfaces[0].index, address: v })));
      return () => {};
    }),
    vrrpPart,
    // A VIP that is (or becomes) an address of the host: on a device interface its frames go to
    // the host's stack (rings.c), so the service is gone without a frame dropped in wasmvs. Said
    // at start and when it changes, as the XDP program sees the host's addresses (once a second).
    service("VIPs on the host", async () => {
      if (!fileCfg.interfaces.some((i) => i.device !== undefined)) return () => {};
      let said = new Set<string>();
      const look = () => {
        const vips = control.running.services.filter((s) => s.fwmark === undefined).map((s) => s.address);
        const host = Object.entries(networkInterfaces()).flatMap(([device, l]) => (l ?? []).filter((a) => a.family === "IPv4")
          .map((a) => ({ address: a.address, cidr: a.cidr ?? a.address, device })));
        const now = vipsOnHost(vips, host);
        for (const [v, where] of now) if (!said.has(v)) o.log(WARNING + vipOnHostWarning(v, where));
        for (const v of said) if (!now.has(v)) o.log(`${NOTICE}VIP ${v} is no longer an address of this host: its frames reach wasmvs again`);
        said = new Set(now.keys());
      };
      look();
      const timer = setInterval(look, 1000);
      timer.unref();
      return () => clearInterval(timer);
    }),
    // The heartbeat (timer lateness), the status file and IPVS's estimator.
    service("housekeeping", async () => {
      // The data-path thread's kernel ID beside the rest: for chrt/taskset, and to find it.
      const status = (s: EngineSnapshot, c: unknown) => ({ ...(statusOf(s, c) as object), dataPathThread: dataPath.thread?.tid });
      const housekeeping = new Housekeeping(engine, systemClock, estimator, { status: o.status, statusOf: status, health, survived,
        serviceStatus, checks: () => checking.eachView(), journal: () => dataPath.thread?.journalView(),
        // Only with a dashboard: the history wants the services read whole each tick, the estimator only their counters.
        estimated: history && ((s) => history.record(s, Date.now())) });
      await housekeeping.start();
      return () => housekeeping.stop();
    }),
  ];
}


/**
 * Load the data path's engine with the file before anything else is touched (the thread
 * forwards nothing until it is given the interfaces): all of it or nothing. A refused file
 * ends the thread and is proven again on a scratch engine, which says every error at its
 * file:line:column as `wasmvs check` does.
 */
async function proveStart(booting: BootingThread, o: { fileCfg: DirectorConfig; startCfg: DirectorConfig; options: ThreadStart["options"]; offload: boolean;
  log: (line: string) => void; onFatal: (why: string) => void }): Promise<void> {
  let set: StartSet | undefined;
  let refusal: Error | undefined;
  try {
    set = startSetOf(o.startCfg);
  } catch (e) {
    refusal = e as Error; // a value the engine would refuse, found as the set was made
  }
  if (set) {
    try {
      await booting.prove({ options: o.options, set, vrrpConfig: vrrpConfigOf(o.startCfg), vnet: o.offload, log: o.log, onFatal: o.onFatal });
      return;
    } catch (e) {
      if (!(e instanceof StartRefused)) {
        await booting.abort();
        throw e;
      }
      refusal = e;
    }
  }
  await booting.abort();
  // (The connection table's room proven too, without a page of it touched: checkSizing.)
  let checkEngine: Engine;
  try {
    checkEngine = await loadEngine({ batch: 1, slotSize: o.options.slotSize, ...checkSizing(o.fileCfg) });
  } catch (e) {
    throw sizingError(o.fileCfg, e) ?? e;
  }
  applyConfig(checkEngine, o.startCfg);
  throw refusal!;
}

export async function runDirector(o: RunOptions): Promise<void> {
  // The data-path thread loads its code while the file is read.
  const booting = DataplaneThread.boot();
  let fileCfg: DirectorConfig;
  try {
    fileCfg = loadConfig(o.config, o.director, o.strict);
  } catch (e) {
    await booting.abort();
    throw e;
  }
  const offload = fileCfg.offload?.on ?? false;
  // Slots hold the largest frame the interfaces' MTUs allow; with offloads the kernel hands
  // over TCP segments of up to 64 KB, and fewer such slots are enough.
  const options = { batch: offload ? Math.min(o.batch, 64) : o.batch, slotSize: configSlotSize(fileCfg), connCapacity: fileCfg.connections ?? DEFAULT_CONN_CAPACITY,
    ...schedulerSizing(fileCfg) };
  // What the engine starts with: the file as health checking lets it be before any check
  // (servers with an alpha checker wait for their first success; sorry servers stand in).
  const startCfg = effective(fileCfg);
  let fatal: string | undefined;
  let wake: () => void = () => {};
  const onFatal = (why: string) => { fatal = why; o.log(`${ERROR}the data path stopped: ${why}`); wake(); };
  // Everything is checked before any device or socket is touched.
  await proveStart(booting, { fileCfg, startCfg, options, offload, log: o.log, onFatal });
  try {
    await runProven(o, booting, fileCfg, options, offload, { fatal: () => fatal, onWake: (f) => { wake = f; } });
  } finally {
    // Given up before the data path ran (the socket, the table or an interface refused): the thread ends.
    await booting.abort();
  }
}

async function runProven(o: RunOptions, booting: BootingThread, fileCfg: DirectorConfig, options: ThreadStart["options"], offload: boolean,
  f: { fatal: () => string | undefined; onWake: (w: () => void) => void }): Promise<void> {
  for (const w of fileCfg.warnings ?? []) o.log(`${WARNING}${w}`);
  const socketPath = o.socket ?? fileCfg.controlSocket ?? defaultSocket();
  await claimSocket(socketPath);
  // A previous process's table: the connections go on (a planned restart or upgrade, or the
  // crash journal of one that was killed). Read now, replaced only once every service below
  // has started (the journal's first pass): a start that fails leaves it as it was.
  const tablePath = o.tableFile === "none" ? undefined : o.tableFile ?? `${socketPath.replace(/\.sock$/, "")}.table`;
  let table: TakenTable | undefined;
  let refused = false;
  if (tablePath) {
    removeStaleTemps(tablePath);
    try {
      table = readTable(tablePath, options.connCapacity);
    } catch (e) {
      if (!(e instanceof TableFileError)) throw e;
      o.log(`${WARNING}connection table not taken: ${e.message}`);
      refused = true;
    }
  }

  const health: ProcessHealth = { errors: 0, lagMs: 0, lagMaxMs: 0, refused: 0 };
  const survived = errorLog(o.log, health);
  const stopped = new Promise<string>((resolve) => {
    f.onWake(() => resolve("fatal"));
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  // SIGHUP's default would end the process: until the director can reload, it is ignored.
  let onHup = () => o.log(WARNING + "SIGHUP while starting: ignored (reload once the director runs)");
  const hup = () => onHup();
  process.on("SIGHUP", hup);

  const taps = new Ports(fileCfg, offload, options.slotSize - Abi.HEADROOM, o.log);
  const dataPath = new DataPath({ booting, options, config: fileCfg, taps, offload, log: o.log, table });
  const estimator = new Estimator();
  const fifos = new NotifyFifos(fileCfg.notifyFifos ?? [], o.log);
  const running = `forwarding on ${fileCfg.interfaces.length} interface(s), control socket ${socketPath}`;
  const started: Service[] = [];
  const startInOrder = async (list: Service[]) => {
    for (const s of list) {
      await s.start();
      started.push(s);
    }
  };
  try {
    // The engine's two parts first: every other service is given the data-path thread's adapter.
    await startInOrder([taps, dataPath]);
    await startInOrder(directorServices({ o, fileCfg, engine: dataPath.thread!, dataPath, estimator, fifos, health, survived, socketPath, running,
      onHup: (reload) => { onHup = reload; } }));
    // Every resource is held: from now on the table file is this director's (journal.ts).
    if (tablePath) {
      // A refused file, moved aside for a look (rename moves a link itself, never what it
      // points to) before the journal writes its own table at the path.
      if (refused) {
        try {
          renameSync(tablePath, `${tablePath}.refused`);
          o.log(`${WARNING}connection table ${tablePath} (not taken) moved to ${tablePath}.refused`);
        } catch { /* gone meanwhile, or not ours to move: the journal's rename says why not */ }
      }
      dataPath.thread!.startJournal(tablePath, o.log);
      o.log(`connection journal ${tablePath}: the table every ${JOURNAL_MS} ms (a crash or kill -9 loses no older connection)`);
    }
    // systemd's Type=notify: started once every resource is held (a failed start fails `systemctl start`).
    sdNotify(`READY=1\nMAINPID=${process.pid}\nSTATUS=${running}`);
    const why = await stopped;
    sdNotify(`STOPPING=1\nSTATUS=stopping (${why}), leaving the connection table for the next start`);
    if (why !== "fatal") o.log(`${NOTICE}${why}: stopping`);
    // Stopped on purpose: the next process takes the connections over.
    if (why !== "fatal") dataPath.handoff = tablePath;
  } finally {
    for (const s of started.reverse()) {
      try {
        await s.stop();
      } catch (e) {
        o.log(`${ERROR}while stopping the ${s.name}: ${(e as Error).message}`);
      }
    }
    process.off("SIGHUP", hup);
  }
  const last = dataPath.last;
  if (last) o.log(`${NOTICE}stopped after ${last.loop.framesIn} frames in, ${last.loop.framesOut} out\n${formatServices(last)}\n${formatCounters(last)}`);
  const fatal = f.fatal();
  if (fatal) throw new Error(`the data path stopped: ${fatal}`);
}
