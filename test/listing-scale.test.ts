// Listings of a large table (issue 19): the service table read in bounded slices, so no request
// holds the data path for more than SERVICES_PER_SLICE services or SERVERS_PER_SLICE real
// servers; ipvsadm's listings streamed through the control socket a slice at a time, byte for
// byte what the whole-table formatter makes of the same table; a service with more servers
// than a slice carries listed whole; the estimator, snapshots and the metrics over slices.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect, Server } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEngine } from "../host/engine/node.js";
import { Engine, SchedulerName } from "../host/engine/index.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { Estimator } from "../host/control/estimator.js";
import { startControl } from "../host/control/server.js";
import { ipvsadm } from "../host/cli/ipvsadm.js";
import { formatConnections, formatList, formatSave, formatTimeouts, Format, parseArgs } from "../host/config/ipvsadm.js";
import { estimate, tableView } from "../host/control/table.js";
import { metricsRegistry } from "../host/metrics/metrics.js";
import { parseRules } from "../host/config/rules.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";
import { liveView } from "../host/control/live.js";
import type { EngineSnapshot } from "../host/dataplane/requests.js";
import {
  EngineReply, EngineRequest, engineSnapshot, SERVERS_PER_SLICE, SERVICE_ENTRIES_PER_SLICE, SERVICES_PER_SLICE,
} from "../host/dataplane/requests.js";

/** Services in the table, real servers each (one service has BIG servers: several slices' worth). */
const SERVICES = 3000;
const PER_SERVICE = 3;
const BIG = 5000;

/** The in-thread engine, every reply it gives recorded as it left (what the data path would
 *  have served; a copy, as the thread's replies are: the reader merges slices in place). */
class Recording extends LocalEngine {
  replies: { req: EngineRequest; reply: EngineReply }[] = [];
  protected override async request(req: EngineRequest): Promise<EngineReply> {
    const reply = await super.request(req);
    this.replies.push({ req, reply: structuredClone(reply) });
    return reply;
  }
}

const ip = (n: number) => `${10 + ((n >>> 16) & 63)}.${(n >>> 8) & 255}.${n & 255}.${1 + (n % 200)}`;

/** A table whose insertion order is not ipvsadm's order: addresses scattered, TCP and UDP,
 *  firewall marks, persistence, every third service's servers added in descending order. */
function fill(e: Engine): void {
  // The real servers' network, directly connected (direct routing needs it).
  e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "172.16.0.1/12" });
  const scheds: SchedulerName[] = ["rr", "wrr", "wlc", "sh", "lc"];
  for (let i = 0; i < SERVICES; i++) {
    const n = (i * 7919) % 65521;
    const mark = i % 97 === 5;
    const port = 1 + (n % 1000);
    const svc = e.addService(mark ? { protocol: "tcp", address: "0.0.0.0", port: 0, fwmark: 1 + (n % 5000), scheduler: "rr" }
      : { protocol: i % 3 === 0 ? "udp" : "tcp", address: ip(n), port, scheduler: scheds[i % scheds.length],
        ...(i % 11 === 0 ? { persistence: { timeout: 360, netmask: "255.255.255.0" } } : {}) });
    // Direct routing keeps the service's port (ipvsadm's rule).
    const dr = i % 2 === 0 && !mark;
    const count = i === 1234 ? BIG : PER_SERVICE;
    for (let k = 0; k < count; k++) {
      const j = i % 3 === 0 ? count - 1 - k : k;
      e.addRealServer(svc, { address: `172.${16 + (j >>> 16)}.${(j >>> 8) & 255}.${j & 255}`, port: dr ? port : 8000 + ((i + j) % 50), method: dr ? "dr" : "nat",
        weight: (i + j) % 7, uthreshold: j % 5 ? 0 : 100, lthreshold: 0 });
    }
  }
}

const FMT: Format = parseArgs(["-L", "-n"]).format;
const files = tempFolder("wasmvs-listing-cfg-");

let dir: string;
let engine: Engine;
let adapter: Recording;
let estimator: Estimator;
let server: Server;
let socket: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wasmvs-listing-"));
  engine = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 4096, maxRealServers: 16384 });
  fill(engine);
  adapter = new Recording(engine);
  estimator = new Estimator();
  socket = join(dir, "control.sock");
  const refuse = async (): Promise<string[]> => { throw new Error("no changes in this test"); };
  server = await startControl({ engine: adapter, estimator, log: () => {}, applyCommands: refuse, reloadFile: refuse }, socket);
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What `wasmvs ARGS` prints against the test's director, and its exit status. */
async function cli(...argv: string[]): Promise<{ status: number; out: string; err: string; pieces: number }> {
  const was = process.env.WASMVS_SOCKET;
  process.env.WASMVS_SOCKET = socket;
  let out = "";
  let err = "";
  let pieces = 0;
  try {
    const status = await ipvsadm(argv, (s) => { out += s; pieces++; }, (s) => { err += s; });
    return { status, out, err, pieces };
  } finally {
    if (was === undefined) delete process.env.WASMVS_SOCKET;
    else process.env.WASMVS_SOCKET = was;
  }
}

/** The table as one whole snapshot gives it (what the listings printed before slices). */
const whole = () => tableView(engineSnapshot(engine, { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 }), estimator);

describe("listings of a large table", () => {
  it("every ipvsadm listing through the control socket is byte for byte the whole-table formatter's, printed as it streams", async () => {
    const t = whole();
    expect(t.services).toHaveLength(SERVICES);
    expect(t.services.reduce((n, s) => n + s.realServers.length, 0)).toBe((SERVICES - 1) * PER_SERVICE + BIG);
    for (const args of [["-L", "-n"], ["-L", "-n", "--stats"], ["-L", "-n", "--rate"], ["-L", "-n", "--stats", "--exact"], ["-L", "-n", "--thresholds"],
      ["-L", "-n", "--persistent-conn"], ["-L", "-n", "--nosort"]]) {
      const r = await cli(...args);
      expect(r.status, args.join(" ")).toBe(0);
      expect(r.out, args.join(" ")).toBe(formatList(t, parseArgs(args).format));
      // Printed a slice at a time, not as one piece at the end.
      expect(r.pieces, args.join(" ")).toBeGreaterThan(SERVICES / SERVICES_PER_SLICE);
    }
    for (const args of [["-S", "-n"], ["-S"]]) {
      const r = await cli(...args);
      expect(r.out, args.join(" ")).toBe(formatSave(t, parseArgs(args).format));
    }
    expect((await cli("-L", "--timeout")).out).toBe(formatTimeouts(t));
    expect((await cli("-L", "-n", "-c")).out).toBe(formatConnections([]));
    // The lines themselves: a service line per service, a server line per server, sorted as ipvsadm sorts.
    const lines = (await cli("-L", "-n")).out.split("\n");
    expect(lines.filter((l) => l.startsWith("  -> ")).length).toBe((SERVICES - 1) * PER_SERVICE + BIG + 1);
  });

  it("one service alone, the one with more servers than a slice carries listed whole; a missing one is ipvsadm's error", async () => {
    const big = engine.services().find((s) => s.realServers.length === BIG)!;
    const argv = ["-L", "-n", "-t", `${big.address}:${big.port}`];
    const r = await cli(...argv);
    expect(r.status).toBe(0);
    expect(r.out).toBe(formatList(whole(), FMT, parseArgs(argv).service));
    // The title's "  -> RemoteAddress:Port", then the servers.
    expect(r.out.split("\n").filter((l) => l.startsWith("  -> "))).toHaveLength(1 + BIG);
    const missing = await cli("-L", "-n", "-t", "192.0.2.1:80");
    expect([missing.status, missing.out, missing.err]).toEqual([255, "", "No such service\n"]);
  });

  it("no request carries more than a slice's services or real servers; a snapshot's counters come without services", async () => {
    adapter.replies = [];
    const snap = await adapter.snapshot();
    for await (const _ of adapter.serviceSlices(true)) { /* ipvsadm's order, as the listings read it */ }
    const services = adapter.replies.filter((x) => x.req.op === "services").map((x) => x.reply as { services: { realServers: unknown[] }[]; servers: number });
    const keys = adapter.replies.filter((x) => x.req.op === "serviceKeys").map((x) => (x.reply as { keys: number[] }).keys.length / 5);
    expect(services.length).toBeGreaterThan(2 * Math.ceil(SERVICES / SERVICES_PER_SLICE));
    for (const s of services) {
      expect(s.services.length).toBeLessThanOrEqual(SERVICES_PER_SLICE);
      const servers = s.services.reduce((n, x) => n + x.realServers.length, 0);
      expect(servers).toBeLessThanOrEqual(SERVERS_PER_SLICE);
      expect(servers).toBe(s.servers);
    }
    // The big service took more than two slices of its own; the rest came SERVICES_PER_SLICE at a time.
    expect(BIG).toBeGreaterThan(2 * SERVERS_PER_SLICE);
    expect(Math.max(...services.map((s) => s.services.length))).toBe(SERVICES_PER_SLICE);
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toBeLessThanOrEqual(SERVICE_ENTRIES_PER_SLICE);
    const head = adapter.replies.find((x) => x.req.op === "snapshot")!.reply as { snapshot: { services: unknown[] } };
    expect(head.snapshot.services).toEqual([]);
    // The snapshot made of slices is the whole one.
    expect(snap.services).toEqual(engine.services());
  });

  it("the estimator's tick over a snapshot of slices updates every service and real server once", async () => {
    const keys: string[] = [];
    const e = new (class extends Estimator {
      override update(key: string, c: Parameters<Estimator["update"]>[1]): void {
        keys.push(key);
        super.update(key, c);
      }
    })();
    estimate(await adapter.snapshot(), e);
    expect(keys).toHaveLength(SERVICES + (SERVICES - 1) * PER_SERVICE + BIG);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("a scrape of the large table: every service's own series, per-server series for the first real servers up to the cap, the rest counted", async () => {
    const cap = 1000;
    adapter.replies = [];
    const snap = await adapter.boundedSnapshot({ maxServers: cap, thenWithoutServers: true });
    // Past the cap the requests asked for no servers, and no reply carried any.
    const asked = adapter.replies.filter((x) => x.req.op === "services");
    const without = asked.filter((x) => (x.req as { withServers?: boolean }).withServers === false);
    expect(without.length).toBeGreaterThan(0);
    for (const x of without) expect((x.reply as { servers: number }).servers).toBe(0);
    const text = await metricsRegistry(() => snap).metrics();
    const series = (name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`));
    const listed = snap.services.reduce((n, s) => n + s.realServers.length, 0);
    // Whole services: the one that reached the cap is there with all of its servers.
    expect(listed).toBeGreaterThanOrEqual(cap);
    expect(listed).toBeLessThan(cap + BIG);
    expect(series("node_ipvs_backend_weight")).toHaveLength(listed);
    expect(series("node_ipvs_backend_connections_active")).toHaveLength(listed);
    expect(series("wasmvs_service_connections_total")).toHaveLength(SERVICES);
    const total = (SERVICES - 1) * PER_SERVICE + BIG;
    expect(text).toMatch(new RegExp(`^wasmvs_metrics_real_servers_omitted ${total - listed}$`, "m"));
    expect(text).toMatch(new RegExp(`^wasmvs_services ${SERVICES}$`, "m"));
    expect(text).toMatch(new RegExp(`^wasmvs_real_servers ${total}$`, "m"));
    // A firewall-mark service as node_exporter labels it.
    const mark = engine.services().find((s) => s.fwmark !== undefined)!;
    expect(text).toContain(`wasmvs_service_connections_total{local_address="",local_port="0",proto="FWM",local_mark="${mark.fwmark}"} 0`);
  });

  it("the live view and the status file's share: the first services whole, what is left out counted", async () => {
    const snap: EngineSnapshot = await adapter.boundedSnapshot({ maxServices: 100, maxServers: 250 });
    const servers = snap.services.reduce((n, s) => n + s.realServers.length, 0);
    expect(snap.services.length).toBeLessThanOrEqual(100);
    expect(servers).toBeGreaterThanOrEqual(250);
    expect(snap.services.every((s) => s.realServers.length > 0)).toBe(true);
    expect(snap.services).toEqual(engine.services().slice(0, snap.services.length));
    const v = liveView(snap, estimator);
    expect(v.omitted).toEqual({ services: SERVICES - snap.services.length, realServers: (SERVICES - 1) * PER_SERVICE + BIG - servers });
  });

  it("metrics_real_servers in both syntaxes; a bad value is refused at its word", () => {
    const rules = (line: string) => parseRules(`interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\nmetrics 127.0.0.1:9100\n${line}\n`, "m.rules");
    expect(rules("metrics_real_servers 0").metricsRealServers).toBe(0);
    expect(rules("metrics_real_servers 250000").metricsRealServers).toBe(250000);
    expect(() => rules("metrics_real_servers many")).toThrow("m.rules:3:22: 'many': metrics_real_servers must be a whole number from 0 to 1048576");
    const conf = files.write("m.conf", DIRECTOR.replace("director {", "director {\n  metrics_real_servers 7"));
    expect(parseKeepalived(conf).metricsRealServers).toBe(7);
  });

  it("a client that leaves in the middle of a listing ends it (no more slices read); one that asks for a change through list is refused", async () => {
    adapter.replies = [];
    await new Promise<void>((resolve, reject) => {
      const sock = connect(socket);
      sock.on("connect", () => sock.write(JSON.stringify({ op: "list", argv: ["-L", "-n"] }) + "\n"));
      sock.once("data", () => { sock.destroy(); setTimeout(resolve, 300); });
      sock.on("error", reject);
    });
    const slices = adapter.replies.filter((x) => x.req.op === "services").length;
    expect(slices).toBeLessThan(SERVICES / SERVICES_PER_SLICE);
    const r = await cli("-L", "-n", "--stats");
    expect(r.out).toBe(formatList(whole(), parseArgs(["-L", "-n", "--stats"]).format));
    const refused = await new Promise<string>((resolve) => {
      const sock = connect(socket);
      let got = "";
      sock.on("connect", () => sock.write(JSON.stringify({ op: "list", argv: ["-A", "-t", "10.0.0.1:80"] }) + "\n"));
      sock.on("data", (d) => { got += d; if (got.includes("\n")) { sock.destroy(); resolve(got); } });
    });
    expect(JSON.parse(refused)).toEqual({ ok: false, error: "list takes -L (with --stats, --rate, --thresholds, --persistent-conn, -c, --timeout) or -S", status: 2 });
  });
});
