// What a reload costs after its parse (issue 19: a reload that changes one server of 10,000
// services is to take < 100 ms, in proportion to the change). The parse is left out: the next
// file's configuration is made from the last one as a parser that keeps unchanged blocks
// (round-2 contract, item 1) would give it: every service the same record (===) but the ones
// changed, the rest of the file read again (fresh records of equal value). What is timed is
// what follows: load.ts's checks (checkRead), the merge, the plan, the engine's change set,
// health's reconcile and the listeners, through ControlState.reload on the in-thread engine.
// Also timed: the start from an empty table (a reload from a file with no service to it).
//
//   npx tsx bench/reload-cost.ts FILE [--runs N] [--changes K] [--each] [--no-empty]
//
// Not a test: it prints figures (the machine is shared; read them beside `uptime`).

import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { checkRead, fileOrders, loadConfig } from "../host/control/load.js";
import { ConfigError, DirectorConfig, schedulerSizing, applyConfig } from "../host/config/rules.js";
import type { ServiceConfig } from "../host/config/director.js";
import { HealthService } from "../host/health/service.js";
import { effective } from "../host/health/overlay.js";
import { FakeClock } from "../host/io/clock.js";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--"))!;
const opt = (name: string, d: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const runs = opt("--runs", 10);
const changes = opt("--changes", 1);

/** The configuration a caching parser would give for the file with the services at `at`
 *  changed (their first server's weight + 1): those records new, every other service the
 *  same record, everything but the services read again (equal, not the same). */
function nextOf(cfg: DirectorConfig, at: number[], bump: number): DirectorConfig {
  const { services, ...rest } = cfg;
  const fresh = structuredClone(rest) as Omit<DirectorConfig, "services">;
  const changed = new Set(at);
  const list: ServiceConfig[] = services.map((s, i) => (changed.has(i)
    ? { ...s, realServers: s.realServers.map((r, j) => (j === 0 ? { ...r, weight: r.weight + bump } : r)) } : s));
  return { ...fresh, services: list };
}

/** checkRead as load.ts runs it after a parse; throws as loadConfig does. */
function afterParse(cfg: DirectorConfig): DirectorConfig {
  const order = fileOrders.get(cfg) ?? new Map([[cfg.file, []]]);
  const r = checkRead({ cfg, errors: [], order, routingUnsure: false }, { missing: "warning" });
  if (r.errors.length) throw ConfigError.all(r.errors);
  fileOrders.set(r.cfg, r.order);
  return r.cfg;
}

const ms = (t0: number) => performance.now() - t0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const t0 = performance.now();
  const first = loadConfig(file, undefined, false, { missing: "warning" });
  console.log(`${file}: ${first.services.length} services, ${first.services.reduce((n, s) => n + s.realServers.length, 0)} servers; parsed in ${ms(t0).toFixed(0)} ms`);
  const sizes = { batch: 64, connCapacity: 4096, ...schedulerSizing(first) };

  // The start from an empty table: a director whose file had no services reloads the whole file.
  if (!args.includes("--no-empty")) {
    const engine = await loadEngine(sizes);
    const empty: DirectorConfig = { ...first, services: [] };
    applyConfig(engine, effective(empty));
    let next = empty;
    const state = new ControlState(new LocalEngine(engine, () => 0), empty, () => next);
    // As the director: health follows every change.
    const health = new HealthService({ clock: new FakeClock(), log: () => {}, refresh: (s) => state.refresh(s), random: () => 0,
      probe: async () => ({ ok: true, reason: "fine" }) });
    health.reconcile(empty);
    state.follow(health, (c, s) => health.reconcile(c, s));
    await state.refresh([]);
    next = nextOf(first, [], 0);
    const t = performance.now();
    const r = await state.reload();
    console.log(`start from empty (reload of ${first.services.length} services into an empty table): ${ms(t).toFixed(0)} ms, ${r.changes.length} changes`);
    await health.stop();
  }

  const engine = await loadEngine(sizes);
  applyConfig(engine, effective(first));
  let next = first;
  const logs: string[] = [];
  const state = new ControlState(new LocalEngine(engine, () => 0), first, () => afterParse(next), (l) => logs.push(l));
  const health = new HealthService({ clock: new FakeClock(), log: () => {}, refresh: (s) => state.refresh(s), random: () => 0,
    probe: async () => ({ ok: true, reason: "fine" }) });
  health.reconcile(first);
  state.follow(health, (c, s) => health.reconcile(c, s));
  state.watch(() => {});
  await state.refresh([]); // what follow() queued (the engine as the view has it) done before the timing

  const n = first.services.length;
  const times: number[] = [];
  const same: number[] = [];
  for (let k = 0; k < runs; k++) {
    // Changes spread over the table (a different service each run).
    const at = Array.from({ length: changes }, (_, j) => (k * 7919 + j * 104729) % n);
    next = nextOf(next, at, 1);
    let t = performance.now();
    const r = await state.reload();
    times.push(ms(t));
    if (k === 0) console.log(`first reload: ${r.changes.length} changes: ${r.changes.slice(0, 3).join("; ")}`);
    // The same file again (nothing changed).
    next = nextOf(next, [], 0);
    t = performance.now();
    await state.reload();
    same.push(ms(t));
  }
  if (args.includes("--each")) console.log(times.map((t) => t.toFixed(1)).join(" "), "/", same.map((t) => t.toFixed(1)).join(" "));
  if (!runs) return;
  console.log(`after-parse reload, ${changes} service(s) changed: median ${median(times).toFixed(1)} ms, min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)} (${runs} runs)`);
  console.log(`after-parse reload, unchanged: median ${median(same).toFixed(1)} ms, min ${Math.min(...same).toFixed(1)}, max ${Math.max(...same).toFixed(1)}`);
  await health.stop();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
