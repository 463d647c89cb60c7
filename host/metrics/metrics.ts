// The Prometheus endpoint: node_exporter's IPVS metric names and labels, so existing
// dashboards work unchanged, plus wasmvs's own (drops by reason, connection table,
// batches, neighbour table). Off unless configured; values are read from the engine
// at scrape time, nothing is kept twice. Exposition by prom-client.

import { createServer, Server } from "node:http";
import { Counter as PCounter, Gauge, Registry } from "prom-client";
import { Engine } from "../engine/index.js";
import { LoopStats } from "../dataplane/loop.js";

export function metricsRegistry(engine: Engine, loop: () => LoopStats | undefined): Registry {
  const r = new Registry();
  const totals = () => {
    const t = { conns: 0n, inpkts: 0n, outpkts: 0n, inbytes: 0n, outbytes: 0n };
    for (const s of engine.services()) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += s.stats[k];
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
  const backend = (name: string, help: string, pick: (r: ReturnType<Engine["services"]>[number]["realServers"][number]) => number) =>
    new Gauge({
      name, help, labelNames: labels, registers: [r],
      collect() {
        this.reset();
        for (const s of engine.services()) {
          for (const d of s.realServers) {
            this.set({ local_address: s.address, local_port: String(s.port), remote_address: d.address, remote_port: String(d.port),
              proto: s.protocol.toUpperCase(), local_mark: "" }, pick(d));
          }
        }
      },
    });
  backend("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", (d) => d.active);
  backend("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", (d) => d.inactive);
  backend("node_ipvs_backend_weight", "The current backend weight by local and remote address.", (d) => d.weight);

  new PCounter({
    name: "wasmvs_drops_total", help: "Frames the engine dropped, by reason.", labelNames: ["reason"], registers: [r],
    collect() {
      this.reset();
      for (const [reason, v] of Object.entries(engine.drops(true))) this.inc({ reason }, Number(v));
    },
  });
  const counter = (name: string, help: string, key: string) =>
    new PCounter({ name, help, registers: [r], collect() { this.reset(); this.inc(Number(engine.counters()[key])); } });
  counter("wasmvs_frames_received_total", "Frames handed to the engine.", "rx_frames");
  counter("wasmvs_frames_forwarded_total", "Frames the engine sent on.", "forwarded");
  counter("wasmvs_frames_sent_total", "Frames the engine handed out for transmission.", "tx_frames");
  counter("wasmvs_connections_expired_total", "Connections that timed out.", "conns_expired");
  counter("wasmvs_connections_reclaimed_total", "Half-open or closing connections evicted for new ones (table full).", "conns_reclaimed");
  new Gauge({ name: "wasmvs_connection_table_entries", help: "Connections in the table.", registers: [r], collect() { this.set(engine.connectionCount); } });
  new Gauge({ name: "wasmvs_connection_table_capacity", help: "Size of the connection table.", registers: [r], collect() { this.set(engine.connCapacity); } });
  new Gauge({
    name: "wasmvs_neighbour_entries", help: "Entries of the ARP table, by state.", labelNames: ["state"], registers: [r],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(engine.neighbourStates())) this.set({ state }, n);
    },
  });
  new PCounter({ name: "wasmvs_batches_total", help: "Engine calls with received frames (frames per batch = frames / batches).", registers: [r],
    collect() { this.reset(); this.inc(loop()?.batches ?? 0); } });
  return r;
}

/** Serve /metrics on host:port. */
export function startMetrics(registry: Registry, host: string, port: number, onError: (e: Error) => void): Server {
  const server = createServer(async (req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("not found: try /metrics\n");
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType }).end(body);
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
  });
  server.on("error", onError);
  server.listen(port, host);
  return server;
}
