// The Prometheus endpoint: node_exporter's IPVS metric names and labels, so existing
// dashboards work unchanged, plus wasmvs's own (drops by reason, connection table,
// batches, neighbour table). Off unless configured; values are read from the engine
// at scrape time, nothing is kept twice. Exposition by prom-client.

import { createServer, Server } from "node:http";
import { createRequire } from "node:module";
import type * as Prom from "prom-client";
import { dropsOf, ServiceInfo } from "../engine/index.js";
import type { EngineSnapshot } from "../dataplane/snapshot.js";
import { ringDrops } from "../io/ring-drops.js";
import { LATENCY_BUCKETS_MS, ServerHealthView } from "../health/service.js";
import { LATENESS_BUCKETS_MS } from "../io/lateness.js";
import { limitPeers, replyWithin } from "./peers.js";

/** Scrapers at once (besides the reserve of metrics_scraper addresses), and each peer's share. */
export const MAX_SCRAPERS = 16;
export const SCRAPERS_PER_PEER = 4;
/** Connections only metrics_scraper addresses may take. */
export const RESERVED_SCRAPERS = 4;
/** How long a scraper may take to send its request, or stay idle. */
export const SCRAPE_TIMEOUT_MS = 5000;
/** How long a scraper may take to read its reply (a client that does not read is cut off). */
export const REPLY_TIMEOUT_MS = 10_000;

/** Real servers whose node_ipvs_backend_* series a scrape carries unless metrics_real_servers
 *  says otherwise: three series each, 30,000 in all, a scrape of a few MB. At 65,536 services of
 *  10 servers every server's would be 1.9 million series (some 200 MB a scrape, and as many
 *  series in Prometheus): the per-service series are there for every service instead. */
export const DEFAULT_METRICS_REAL_SERVERS = 10_000;

/** What the registry reads besides the engine: the control plane's own health. */
export interface ProcessHealth {
  /** Errors the control plane caught in its timers and sockets (logged, counted, survived). */
  errors: number;
  /** Lateness of the control plane's 100 ms heartbeat, last and greatest, in ms. */
  lagMs: number;
  lagMaxMs: number;
  /** Requests refused for their size, clients refused for their number. */
  refused: number;
}

/** Health checking as the metrics read it (host/health/service.ts). */
export interface CheckingView {
  views(): ServerHealthView[];
  /** f with each check's duration (the metrics' histogram). */
  onLatency(f: (kind: string, ms: number) => void): void;
  drift: { lastMs: number; maxMs: number };
  counts: { checks: number; failures: number; transitions: number };
}

/** The sync daemons' roles as the metrics read them (host/control/syncd.ts). */
export interface SyncRolesView {
  master?: { ifname: string; syncid: number };
  backup?: { ifname: string; syncid: number };
}

/** A service's labels as node_exporter's IPVS collector writes them (a firewall-mark service: no
 *  address, port 0, protocol FWM and its mark). */
function serviceLabelsOf(s: ServiceInfo): { local_address: string; local_port: string; proto: string; local_mark: string } {
  return s.fwmark !== undefined ? { local_address: "", local_port: "0", proto: "FWM", local_mark: String(s.fwmark) }
    : { local_address: s.address, local_port: String(s.port), proto: s.protocol.toUpperCase(), local_mark: "" };
}

type Registry = Prom.Registry;
// prom-client loaded when an endpoint is configured: a director without metrics does not pay
// its load at start (tens of ms). Set by metricsRegistry, before anything here uses them.
let PCounter: typeof Prom.Counter;
let Gauge: typeof Prom.Gauge;
let Histogram: typeof Prom.Histogram;

export function metricsRegistry(snap: () => EngineSnapshot, health?: () => ProcessHealth, checking?: () => CheckingView | undefined,
  sync?: () => SyncRolesView | undefined): Registry {
  const prom = createRequire(import.meta.url)("prom-client") as typeof Prom;
  ({ Counter: PCounter, Gauge, Histogram } = prom);
  const { collectDefaultMetrics } = prom;
  const r = new prom.Registry();
  // The process's own CPU, memory, descriptors and event-loop lag: the director is the data plane.
  collectDefaultMetrics({ register: r, prefix: "wasmvs_" });
  const totals = () => {
    const t = { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n };
    for (const s of snap().services) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s.stats[k];
    return t;
  };
  const total = (name: string, help: string, key: "conns" | "inpkts" | "outpkts" | "inbytes" | "outbytes") =>
    new PCounter({ name, help, registers: [r], collect() { this.reset(); this.inc(Number(totals()[key])); } });
  total("node_ipvs_connections_total", "The total number of connections made.", "conns");
  total("node_ipvs_incoming_packets_total", "The total number of incoming packets.", "inpkts");
  total("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", "outpkts");
  total("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", "inbytes");
  total("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", "outbytes");
  const labels = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"];
  const backend = (name: string, help: string, pick: (r: ServiceInfo["realServers"][number]) => number) =>
    new Gauge({
      name, help, labelNames: labels, registers: [r],
      collect() {
        this.reset();
        for (const s of snap().services) {
          for (const d of s.realServers) {
            // node_exporter's label order (what scrapes have always shown).
            const l = serviceLabelsOf(s);
            this.set({ local_address: l.local_address, local_port: l.local_port, remote_address: d.address, remote_port: String(d.port), proto: l.proto,
              local_mark: l.local_mark }, pick(d));
          }
        }
      },
    });
  backend("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", (d) => d.active);
  backend("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", (d) => d.inactive);
  backend("node_ipvs_backend_weight", "The current backend weight by local and remote address.", (d) => d.weight);
  // Every service's own statistics, however many real servers the backend series leave out
  // (metrics_real_servers): what a table of thousands of services is watched by.
  const serviceLabels = ["local_address", "local_port", "proto", "local_mark"];
  const perService = (name: string, help: string, key: "conns" | "inbytes" | "outbytes") =>
    new PCounter({
      name, help, labelNames: serviceLabels, registers: [r],
      collect() {
        this.reset();
        for (const s of snap().services) {
          this.inc(serviceLabelsOf(s), Number(s.stats[key]));
        }
      },
    });
  perService("wasmvs_service_connections_total", "Connections scheduled by each virtual service.", "conns");
  perService("wasmvs_service_incoming_bytes_total", "Bytes each virtual service received from clients.", "inbytes");
  perService("wasmvs_service_outgoing_bytes_total", "Bytes each virtual service sent to clients.", "outbytes");
  new Gauge({ name: "wasmvs_services", help: "Virtual services in the table.", registers: [r], collect() { this.set(snap().serviceCount ?? snap().services.length); } });
  new Gauge({ name: "wasmvs_real_servers", help: "Real servers in the table (removed ones that still hold connections not counted).", registers: [r],
    collect() { this.set(snap().realServerCount ?? snap().services.reduce((n, s) => n + s.realServers.length, 0)); } });
  new Gauge({ name: "wasmvs_metrics_real_servers_omitted", registers: [r],
    help: "Real servers this scrape has no node_ipvs_backend_* series for: past metrics_real_servers (whole services; their services' series are there).",
    collect() { this.set(snap().omitted?.realServers ?? 0); } });

  new PCounter({
    name: "wasmvs_drops_total", help: "Frames the engine dropped, by reason.", labelNames: ["reason"], registers: [r],
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(dropsOf(snap().counters, true))) this.inc({ reason }, Number(v));
    },
  });
  const counter = (name: string, help: string, key: string) =>
    new PCounter({ name, help, registers: [r], collect() { this.reset(); this.inc(Number(snap().counters[key])); } });
  counter("wasmvs_frames_received_total", "Frames handed to the engine.", "rx_frames");
  counter("wasmvs_frames_forwarded_total", "Frames the engine sent on.", "forwarded");
  counter("wasmvs_frames_sent_total", "Frames the engine handed out for transmission.", "tx_frames");
  counter("wasmvs_connections_expired_total", "Connections that timed out.", "conns_expired");
  counter("wasmvs_connections_reclaimed_total", "Half-open or closing connections evicted for new ones (table full).", "conns_reclaimed");
  counter("wasmvs_vrrp_adverts_received_total", "VRRP adverts the engine checked and passed to the state machines.", "vrrp_adverts_received");
  counter("wasmvs_vrrp_adverts_sent_total", "VRRP adverts the engine sent.", "vrrp_adverts_sent");
  counter("wasmvs_sync_messages_sent_total", "Connection sync messages sent (IPVS sync v1).", "sync_messages_sent");
  counter("wasmvs_sync_messages_received_total", "Connection sync messages a backup accepted (every check passed).", "sync_messages_received");
  counter("wasmvs_sync_connections_sent_total", "Connections (and templates) in the sync messages sent.", "sync_conns_sent");
  counter("wasmvs_sync_connections_received_total", "Synced connections applied to this director's table.", "sync_conns_received");
  counter("wasmvs_sync_connections_unmatched_total", "Synced connections for a service or real server this director does not have.", "sync_conns_unmatched");
  counter("wasmvs_sync_connections_over_share_total", "Synced connections refused: synced entries no packet has matched hold their share of the table (sync_table_share).",
    "sync_conns_over_share");
  counter("wasmvs_sync_connections_table_full_total", "Synced connections refused: the table is full (sync evicts nothing).", "sync_conns_table_full");
  counter("wasmvs_connections_evicted_synced_total", "Synced entries no packet had matched, evicted for new connections (table full).", "conns_evicted_synced");
  new Gauge({ name: "wasmvs_connection_table_entries", help: "Connections in the table.", registers: [r], collect() { this.set(snap().connectionCount); } });
  new Gauge({ name: "wasmvs_connection_table_capacity", help: "Size of the connection table.", registers: [r], collect() { this.set(snap().connCapacity); } });
  new Gauge({
    name: "wasmvs_neighbour_entries", help: "Entries of the ARP table, by state.", labelNames: ["state"], registers: [r],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(snap().neighbours)) this.set({ state }, n);
    },
  });
  vrrpMetrics(r, snap);
  if (sync) syncMetrics(r, snap, sync);
  new PCounter({ name: "wasmvs_batches_total", help: "Engine calls with received frames (frames per batch = frames / batches).", registers: [r],
    collect() { this.reset(); this.inc(snap().loop.batches); } });
  // Frames the kernel dropped on the way to a ring port's sockets, before the engine could count
  // them (XDP_STATISTICS, each frame once: ringDrops): no free frame in the fill ring (the data
  // path fell behind), the receive ring full, an invalid descriptor, or another reason (a frame
  // too big for its AF_XDP frame).
  new PCounter({ name: "wasmvs_ring_drops_total", help: "Frames the kernel dropped before a ring port (AF_XDP) handed them over, by device and reason.",
    labelNames: ["device", "reason"], registers: [r],
    collect() {
      this.reset();
      for (const g of snap().loop.rings ?? []) {
        const d = ringDrops(g);
        this.inc({ device: g.device, reason: "rx_ring_full" }, d.rxRingFull);
        this.inc({ device: g.device, reason: "fill_ring_empty" }, d.fillRingEmpty);
        this.inc({ device: g.device, reason: "invalid_descriptor" }, d.invalid);
        this.inc({ device: g.device, reason: "other" }, d.other);
        this.inc({ device: g.device, reason: "arp_copy" }, d.arpCopy);
      }
    } });
  new Gauge({ name: "wasmvs_arp_failed_next_hops", help: "Next hops that stopped answering ARP (neighbour entries in state failed).", registers: [r],
    collect() { this.set(snap().neighbours.failed ?? 0); } });
  if (health) {
    new PCounter({ name: "wasmvs_control_errors_total", help: "Errors the control plane caught in its timers and sockets and survived.", registers: [r],
      collect() { this.reset(); this.inc(health().errors); } });
    new PCounter({ name: "wasmvs_control_refused_total", help: "Control and metrics requests refused at a limit (size, clients).", registers: [r],
      collect() { this.reset(); this.inc(health().refused); } });
    new Gauge({ name: "wasmvs_control_timer_lag_seconds", help: "How late the control plane's 100 ms heartbeat last fired.", registers: [r],
      collect() { this.set(health().lagMs / 1000); } });
    new Gauge({ name: "wasmvs_control_timer_lag_max_seconds", help: "The latest the control plane's 100 ms heartbeat fired since start.", registers: [r],
      collect() { this.set(health().lagMaxMs / 1000); } });
  }
  if (checking) checkingMetrics(r, checking);
  return r;
}

/** VRRP as the data-path thread's state machines see them: each instance's state and
 *  priorities, and how late its scheduled adverts left (a histogram the thread keeps since
 *  start, exposed as it is). Every series carries the instance's VRID and interface: the
 *  router's identity on its link, which both directors share whatever they name the
 *  instance, so "two masters" and "no master" are sums over the pair's scrapes (README). */
function vrrpMetrics(r: Registry, snap: () => EngineSnapshot): void {
  const states = ["INIT", "BACKUP", "MASTER", "FAULT", "STOP"];
  const ids = ["vrrp_instance", "vrid", "interface"];
  const id = (v: EngineSnapshot["vrrp"][number]) => ({ vrrp_instance: v.name, vrid: String(v.vrid), interface: v.interface });
  new Gauge({
    name: "wasmvs_vrrp_state", help: "1 for each VRRP instance's current state (INIT, BACKUP, MASTER, FAULT, STOP), else 0.",
    labelNames: [...ids, "state"], registers: [r],
    collect() {
      this.reset();
      for (const v of snap().vrrp ?? []) for (const st of states) this.set({ ...id(v), state: st }, v.state === st ? 1 : 0);
    },
  });
  new Gauge({ name: "wasmvs_vrrp_priority", help: "Each VRRP instance's configured priority.", labelNames: ids, registers: [r],
    collect() { this.reset(); for (const v of snap().vrrp ?? []) this.set(id(v), v.basePriority); } });
  new Gauge({ name: "wasmvs_vrrp_effective_priority", help: "Each VRRP instance's priority after tracking (the one it advertises; 0 in FAULT).",
    labelNames: ids, registers: [r],
    collect() { this.reset(); for (const v of snap().vrrp ?? []) this.set(id(v), v.priority); } });
  new PCounter({ name: "wasmvs_vrrp_became_master_total", help: "Times each VRRP instance became master.", labelNames: ids, registers: [r],
    collect() { this.reset(); for (const v of snap().vrrp ?? []) this.inc(id(v), v.counts.becameMaster); } });
  // prom-client's Histogram observes one value at a time; this one's counts come whole from
  // the data-path thread, so it is written as a histogram's lines directly.
  const name = "wasmvs_vrrp_advert_lateness_seconds";
  r.registerMetric({
    name,
    get: async () => ({
      name, help: "How late each scheduled VRRP advert left against its schedule (measured on the data-path thread that sends it).",
      type: "histogram", aggregator: "sum",
      values: (snap().vrrp ?? []).flatMap((v) => {
        const l = v.advertLateness;
        return [
          ...LATENESS_BUCKETS_MS.map((b, k) => ({ metricName: `${name}_bucket`, labels: { ...id(v), le: b / 1000 }, value: l.buckets[k] })),
          { metricName: `${name}_bucket`, labels: { ...id(v), le: "+Inf" }, value: l.count },
          { metricName: `${name}_sum`, labels: id(v), value: l.sumMs / 1000 },
          { metricName: `${name}_count`, labels: id(v), value: l.count },
        ];
      }),
    }),
  } as unknown as Parameters<Registry["registerMetric"]>[0]);
}

/** The connection sync daemons: which roles run (ipvsadm --start-daemon, or lvs_sync_daemon
 *  following VRRP) and how long a backup has gone without a message. A master sends each
 *  connection event at the end of the engine call it happened in (refresh entries wait one
 *  timer call at most), so it has no backlog worth a metric: what can lag is the backup, and
 *  its silence is measured where it receives (the engine's clock). */
function syncMetrics(r: Registry, snap: () => EngineSnapshot, sync: () => SyncRolesView | undefined): void {
  new Gauge({
    name: "wasmvs_sync_state", help: "1 for each connection sync role running (master, backup; both may), or off when none, else 0.",
    labelNames: ["state", "interface", "syncid"], registers: [r],
    collect() {
      this.reset();
      const v = sync() ?? {};
      const d = v.master ?? v.backup;
      const at = { interface: d?.ifname ?? "", syncid: d ? String(d.syncid) : "" };
      this.set({ ...at, state: "master" }, v.master ? 1 : 0);
      this.set({ ...at, state: "backup" }, v.backup ? 1 : 0);
      this.set({ ...at, state: "off" }, d ? 0 : 1);
    },
  });
  new Gauge({
    name: "wasmvs_sync_last_message_age_seconds",
    help: "Seconds the backup sync daemon has gone without accepting a message (since it started, before its first); absent when no backup runs.",
    labelNames: ["interface", "syncid"], registers: [r],
    collect() {
      this.reset();
      const b = sync()?.backup;
      const ms = snap().syncIdleMs;
      if (b && ms !== undefined) this.set({ interface: b.ifname, syncid: String(b.syncid) }, ms / 1000);
    },
  });
}

function checkingMetrics(r: Registry, checking: () => CheckingView | undefined): void {
  const perServer = (name: string, help: string, pick: (v: ServerHealthView) => number) => new Gauge({
    name, help, labelNames: ["service", "server"], registers: [r],
    collect() {
      this.reset();
      for (const v of checking()?.views() ?? []) this.set({ service: v.service, server: v.server }, pick(v));
    },
  });
  perServer("wasmvs_real_server_up", "1 when health checking finds the real server alive (all its checkers pass), else 0.", (v) => (v.alive ? 1 : 0));
  perServer("wasmvs_real_server_health_weight", "The weight health checking gives the real server (configured + misc_dynamic/FILE_CHECK).", (v) => v.weight);
  const count = (name: string, help: string, key: keyof CheckingView["counts"]) =>
    new PCounter({ name, help, registers: [r], collect() { this.reset(); this.inc(checking()?.counts[key] ?? 0); } });
  count("wasmvs_checks_total", "Health checks run.", "checks");
  count("wasmvs_check_failures_total", "Health checks that failed.", "failures");
  count("wasmvs_real_server_transitions_total", "Real servers that went up or down.", "transitions");
  new Gauge({ name: "wasmvs_check_timer_drift_max_seconds", help: "The latest a health check started after it was due, since start.", registers: [r],
    collect() { this.set((checking()?.drift.maxMs ?? 0) / 1000); } });
  const histogram = new Histogram({ name: "wasmvs_check_latency_seconds", help: "How long health checks took.", labelNames: ["checker"],
    buckets: LATENCY_BUCKETS_MS.map((b) => b / 1000), registers: [r] });
  checking()?.onLatency((kind, ms) => histogram.observe({ checker: kind }, ms / 1000));
}

export interface MetricsLimits {
  /** The scrapers' addresses (metrics_scraper): a reserve of connections is theirs alone. */
  trusted?: (address: string) => boolean;
  /** Called for each connection refused at a limit. */
  onRefused?: () => void;
}

/** Serve /metrics on host:port; refresh() takes a fresh snapshot before each scrape.
 *  Resolves once listening, rejects when the port is taken (the director then does not start). */
export async function startMetrics(registry: Registry, refresh: () => Promise<void>, host: string, port: number,
  onError: (e: Error) => void, limits: MetricsLimits = {}): Promise<Server> {
  const server = createServer(async (req, res) => {
    replyWithin(res, REPLY_TIMEOUT_MS);
    if (req.url !== "/metrics") {
      res.writeHead(404).end("not found: try /metrics\n");
      return;
    }
    try {
      await refresh();
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType }).end(body);
    } catch (e) {
      res.writeHead(500).end(`${(e as Error).message}\n`);
    }
  });
  // Bounded: idle or slow scrapers are cut off, replies not read in time too, and only so many
  // at once, each peer its share and the configured scrapers a reserve (the rest are closed at
  // accept), so nobody can take the descriptors the control plane needs, nor shut Prometheus out.
  limitPeers(server, { perPeer: SCRAPERS_PER_PEER, total: MAX_SCRAPERS, reserved: RESERVED_SCRAPERS, ...limits });
  server.headersTimeout = SCRAPE_TIMEOUT_MS;
  server.requestTimeout = SCRAPE_TIMEOUT_MS;
  server.keepAliveTimeout = SCRAPE_TIMEOUT_MS;
  server.setTimeout(SCRAPE_TIMEOUT_MS, (s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`metrics on ${host}:${port}: ${e.code === "EADDRINUSE" ? "the port is in use" : e.message}`)));
    server.listen(port, host, () => resolve());
  });
  server.removeAllListeners("error");
  server.on("error", onError);
  return server;
}
