// node --expose-gc dist/bench/listing.bench.js [SERVICES [SERVERS_EACH]]: ipvsadm's listings of a large table
// (issue 19), how long they take and how long they hold the data path.
//   before: the listing as it was — one "snapshot" request built the whole table on the data-path
//           thread and posted it (measured here as Engine.services() and the counters, then
//           v8.serialize: the structured clone postMessage makes on the sending thread), then
//           the daemon's tableView and JSON line, the client's JSON.parse and formatList.
//   after:  `wasmvs -L -n` (and -S -n, --stats) through a control socket served by a real
//           data-path thread (DataplaneThread, no interface attached), the listing streamed a
//           slice at a time; the thread's own longest request (LoopStats.longestRequestMs).
// Defaults: 65,536 services and 65,535 real servers (the largest the engine takes today:
// maxServices 65536, maxRealServers 65535), one server each (the last service has none).
// Prints the figures; also written to bench/results/listing-latest.json.

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { serialize, deserialize } from "node:v8";
import { fileURLToPath } from "node:url";
import { Engine, EngineOptions, ipToWire } from "../host/engine/index.js";
import { loadEngine } from "../host/engine/node.js";
import { applyConfig, DirectorConfig, parseRules, RealServerConfig } from "../host/config/rules.js";
import { DataplaneThread } from "../host/dataplane/client.js";
import { engineSnapshot, SERVERS_PER_SLICE, SERVICE_ENTRIES_PER_SLICE, SERVICES_PER_SLICE } from "../host/dataplane/requests.js";
import { Estimator } from "../host/control/estimator.js";
import { startControl } from "../host/control/server.js";
import { ipvsadm } from "../host/cli/ipvsadm.js";
import { formatList, parseArgs, TableView } from "../host/config/ipvsadm.js";
import { estimate, tableView } from "../host/control/table.js";

const SERVICES = Number(process.argv[2] ?? 65536);
const EACH = Number(process.argv[3] ?? 1);
const MAX_REAL_SERVERS = 65535;

const options: EngineOptions & { batch: number; slotSize: number; connCapacity: number } = {
  batch: 32, slotSize: 2048, connCapacity: 65536, maxServices: Math.max(256, SERVICES), maxRealServers: MAX_REAL_SERVERS,
  // The smallest mh table (251 entries): every service has room for one, 8 KiB each at the default.
  mhTableSize: 251,
};

/** The configuration, built directly: parseRules takes minutes at this size today (issue 19's
 *  first part, helpers A and B), and what is measured here is the listing, not the loading. */
function config(): DirectorConfig {
  const cfg = parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/8\n", "bench");
  let servers = 0;
  for (let i = 0; i < SERVICES; i++) {
    const address = `10.${100 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`;
    const realServers: RealServerConfig[] = [];
    for (let k = 0; k < EACH && servers < MAX_REAL_SERVERS; k++, servers++) {
      const server = `10.${(servers >>> 16) & 255}.${(servers >>> 8) & 255}.${servers & 255}`;
      realServers.push({ address: server, daddr: ipToWire(server), port: 8080, method: "nat", weight: 1 + (k % 5),
        line: 0 });
    }
    cfg.services.push({ protocol: "tcp", address, vaddr: ipToWire(address), port: 80, scheduler: "wlc", realServers, line: 0 });
  }
  return cfg;
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

async function main(): Promise<void> {
  let t0 = performance.now();
  const cfg = config();
  const servers = cfg.services.reduce((n, s) => n + s.realServers.length, 0);
  console.log(`table: ${SERVICES} services, ${servers} real servers ; ${cpus().length} CPUs (${cpus()[0]?.model})`);

  // ---- before: one snapshot of the whole table, then the whole listing at once ----------------
  const engine: Engine = await loadEngine(options);
  applyConfig(engine, cfg);
  const loop = { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 };
  const beforeRuns: { requestMs: number; listMs: number; bytes: number; heapMB: number }[] = [];
  for (let run = 0; run < 3; run++) {
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().heapUsed;
    t0 = performance.now();
    const wire = serialize(engineSnapshot(engine, loop));
    const requestMs = ms(t0);
    const snap = deserialize(wire);
    const line = JSON.stringify({ ok: true, table: tableView(snap, new Estimator()) });
    const out = formatList((JSON.parse(line) as { table: TableView }).table, parseArgs(["-L", "-n"]).format);
    const listMs = ms(t0);
    // Everything of the listing still held: the snapshot, its clone, the JSON line, the text.
    const heapMB = Math.round((process.memoryUsage().heapUsed - base) / 1048576);
    beforeRuns.push({ requestMs, listMs, bytes: out.length + (wire.length && line.length ? 0 : 0), heapMB });
  }
  console.log(`before: the snapshot request held the data path ${beforeRuns.map((r) => r.requestMs).join(", ")} ms; -L -n took ` +
    `${beforeRuns.map((r) => r.listMs).join(", ")} ms (${beforeRuns[0].bytes} bytes), heap grew ${beforeRuns.map((r) => r.heapMB).join(", ")} MB`);

  // ---- the bound: what one slice costs, warm (the same engine, on this thread) ----------------
  const sliceMs: number[] = [];
  for (let run = 0; run < 3; run++) {
    for (let at = { service: 0, server: 0 }; at.service < engine.maxServices;) {
      const t = performance.now();
      const r = engine.servicesSlice(at, SERVICE_ENTRIES_PER_SLICE, SERVICES_PER_SLICE, SERVERS_PER_SLICE);
      serialize(r);
      if (run === 2) sliceMs.push(performance.now() - t);
      at = r.next;
    }
  }
  sliceMs.sort((a, b) => a - b);
  const slice = { count: sliceMs.length, medianMs: +sliceMs[sliceMs.length >> 1].toFixed(2), maxMs: +sliceMs[sliceMs.length - 1].toFixed(2) };
  console.log(`slice (${SERVICES_PER_SLICE} services / ${SERVERS_PER_SLICE} servers at most, built and serialised): ${slice.count} slices, ` +
    `median ${slice.medianMs} ms, max ${slice.maxMs} ms`);
  // IPVS's estimator every 2 s over the whole table, on the control plane's thread.
  const est = new Estimator();
  const whole = engineSnapshot(engine, loop);
  estimate(whole, est);
  t0 = performance.now();
  estimate(whole, est);
  const estimatorMs = ms(t0);
  console.log(`estimator tick over ${SERVICES} services and ${servers} servers: ${estimatorMs} ms on the control plane's thread`);

  // ---- after: the real data-path thread, the listing streamed through the control socket ------
  const dir = mkdtempSync(join(tmpdir(), "wasmvs-listing-bench-"));
  const thread = await DataplaneThread.start({ options, config: cfg, fds: [], vnet: false, onFatal: (why) => console.error(`data path: ${why}`) });
  const socket = join(dir, "control.sock");
  const refuse = async (): Promise<string[]> => { throw new Error("no changes here"); };
  const server = await startControl({ engine: thread, estimator: new Estimator(), log: () => {}, applyCommands: refuse, reloadFile: refuse }, socket);
  process.env.WASMVS_SOCKET = socket;
  const after: Record<string, { ms: number[]; bytes: number; pieces: number; heapMaxMB: number }> = {};
  try {
    for (const argv of [["-L", "-n"], ["-S", "-n"], ["-L", "-n", "--stats"]]) {
      const name = argv.join(" ");
      after[name] = { ms: [], bytes: 0, pieces: 0, heapMaxMB: 0 };
      for (let run = 0; run < 3; run++) {
        let bytes = 0;
        let pieces = 0;
        // The heap this listing adds (daemon and client both live in this process), from a collected start.
        (globalThis as { gc?: () => void }).gc?.();
        const base = process.memoryUsage().heapUsed;
        let heap = 0;
        const sample = setInterval(() => { heap = Math.max(heap, process.memoryUsage().heapUsed - base); }, 10);
        t0 = performance.now();
        const status = await ipvsadm(argv, (s) => { bytes += s.length; pieces++; return true; }, (s) => process.stderr.write(s));
        const took = ms(t0);
        clearInterval(sample);
        if (status !== 0) throw new Error(`${name}: exit ${status}`);
        Object.assign(after[name], { bytes, pieces, heapMaxMB: Math.max(after[name].heapMaxMB, Math.round(heap / 1048576)) });
        after[name].ms.push(took);
        const l = (await thread.summary()).loop;
        (after[name] as { longestSoFarMs?: number[] }).longestSoFarMs = [...((after[name] as { longestSoFarMs?: number[] }).longestSoFarMs ?? []), +(l.longestRequestMs ?? 0).toFixed(1)];
      }
      console.log(`after: wasmvs ${name}: ${after[name].ms.join(", ")} ms, ${after[name].bytes} bytes in ${after[name].pieces} pieces, heap grew at most ${after[name].heapMaxMB} MB; ` +
        `the data path's longest request so far after each run ${(after[name] as { longestSoFarMs?: number[] }).longestSoFarMs?.join(", ")} ms`);
    }
    const snap = await thread.summary();
    console.log(`after: the data path's longest request: ${snap.loop.longestRequestMs?.toFixed(2)} ms (${snap.loop.longestRequestOp})`);
    const results = { at: new Date().toISOString(), services: SERVICES, servers, cpus: cpus().length, before: beforeRuns, slice, estimatorMs, after,
      longestRequestMs: snap.loop.longestRequestMs, longestRequestOp: snap.loop.longestRequestOp };
    const out = fileURLToPath(new URL("../../bench/results/", import.meta.url));
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "listing-latest.json"), JSON.stringify(results, null, 1) + "\n");
  } finally {
    server.close();
    await thread.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
