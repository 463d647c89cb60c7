// The HA metrics (VRRP state and priorities, the sync daemons' roles and a backup's silence)
// as two directors expose them, and the README's alerting rules evaluated on them by
// Prometheus's own promtool (Debian's prometheus package): each scenario's series are the
// lines of real expositions (metricsRegistry over a snapshot per scrape), labelled with the
// target as a scrape labels them, so the rules are tested on exactly what a Prometheus
// would store.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { metricsRegistry, type SyncRolesView } from "../host/metrics/metrics.js";
import { LATENESS_BUCKETS_MS } from "../host/io/lateness.js";
import type { EngineSnapshot } from "../host/dataplane/requests.js";
import { ROOT } from "../host/sandbox/sandbox.js";

const RULES = join(ROOT, "examples", "prometheus", "wasmvs-alerts.yml");
const SCRAPE_S = 15;

/** One director at one scrape. */
interface At {
  state: "MASTER" | "BACKUP" | "FAULT";
  priority?: number;
  effective?: number;
  sync?: SyncRolesView;
  /** The engine's sync_messages_sent and the backup's silence. */
  sent?: number;
  idleMs?: number;
  /** The instance's name (VI_1). */
  name?: string;
}

function snapshot(a: At): EngineSnapshot {
  const counters: Record<string, bigint> = { sync_messages_sent: BigInt(a.sent ?? 0) };
  const lateness = { periodMs: 100, lastMs: 0, maxMs: 0, p99Ms: 0, count: 0, sumMs: 0, buckets: LATENESS_BUCKETS_MS.map(() => 0) };
  const priority = a.priority ?? 100;
  return {
    services: [], counters, connectionCount: 0, connCapacity: 16, timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, neighbours: {},
    loop: { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 },
    vrrp: [{ name: a.name ?? "VI_1", state: a.state, vrid: 51, priority: a.effective ?? priority, basePriority: priority, faults: [], interface: "outside",
      addresses: ["10.0.0.100"], counts: { becameMaster: 0 }, advertLateness: lateness }] as unknown as EngineSnapshot["vrrp"],
    syncIdleMs: a.idleMs,
  } as EngineSnapshot;
}

/** The exposition of one director at one scrape. */
async function exposition(a: At): Promise<string> {
  return metricsRegistry(() => snapshot(a), undefined, undefined, () => a.sync).metrics();
}

const MASTER_SYNC: SyncRolesView = { master: { ifname: "outside", syncid: 51 } };
const BACKUP_SYNC: SyncRolesView = { backup: { ifname: "outside", syncid: 51 } };

/** promtool's input series for two directors scraped `samples` times: each HA line of each
 *  exposition, with the target's instance and job labels; `_` where a series was absent. */
async function series(samples: number, a: (k: number) => At, b: (k: number) => At): Promise<{ series: string; values: string }[]> {
  const out = new Map<string, (string | undefined)[]>();
  for (let k = 0; k < samples; k++) {
    for (const [target, who] of [["a:9100", a], ["b:9100", b]] as const) {
      for (const line of (await exposition(who(k))).split("\n")) {
        const m = /^(wasmvs_(?:vrrp_state|vrrp_priority|vrrp_effective_priority|sync_[a-z_]+))(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m) continue;
        const key = `${m[1]}{instance="${target}",job="wasmvs"${m[2] ? `,${m[2]}` : ""}}`;
        if (!out.has(key)) out.set(key, Array(samples).fill(undefined));
        out.get(key)![k] = m[3];
      }
    }
  }
  return [...out].map(([s, v]) => ({ series: s, values: v.map((x) => x ?? "_").join(" ") }));
}

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync("promtool", args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`promtool: ${r.error.message} (Debian: apt-get install prometheus; npm test installs it as root)`);
  return { status: r.status, out: r.stdout + r.stderr };
}

describe("VRRP and sync metrics for alerting across two directors", () => {
  it("each instance's state, priority and effective priority carry its VRID and interface; the sync daemon's roles and a backup's silence", async () => {
    const master = await exposition({ state: "MASTER", priority: 150, sync: MASTER_SYNC, sent: 7 });
    expect(master).toContain('wasmvs_vrrp_state{vrrp_instance="VI_1",vrid="51",interface="outside",state="MASTER"} 1\n');
    expect(master).toContain('wasmvs_vrrp_state{vrrp_instance="VI_1",vrid="51",interface="outside",state="BACKUP"} 0\n');
    expect(master).toContain('wasmvs_vrrp_priority{vrrp_instance="VI_1",vrid="51",interface="outside"} 150\n');
    expect(master).toContain('wasmvs_vrrp_effective_priority{vrrp_instance="VI_1",vrid="51",interface="outside"} 150\n');
    expect(master).toContain('wasmvs_sync_state{interface="outside",syncid="51",state="master"} 1\n');
    expect(master).toContain('wasmvs_sync_state{interface="outside",syncid="51",state="backup"} 0\n');
    expect(master).toContain('wasmvs_sync_state{interface="outside",syncid="51",state="off"} 0\n');
    expect(master).toContain("wasmvs_sync_messages_sent_total 7\n");
    // No backup runs: no silence to measure (the engine says so with no value).
    expect(master).not.toMatch(/^wasmvs_sync_last_message_age_seconds\{/m);
    // A backup whose tracked script failed: priority 100 configured, 90 advertised.
    const backup = await exposition({ state: "BACKUP", priority: 100, effective: 90, sync: BACKUP_SYNC, idleMs: 2500 });
    expect(backup).toContain('wasmvs_vrrp_state{vrrp_instance="VI_1",vrid="51",interface="outside",state="BACKUP"} 1\n');
    expect(backup).toContain('wasmvs_vrrp_priority{vrrp_instance="VI_1",vrid="51",interface="outside"} 100\n');
    expect(backup).toContain('wasmvs_vrrp_effective_priority{vrrp_instance="VI_1",vrid="51",interface="outside"} 90\n');
    expect(backup).toContain('wasmvs_sync_state{interface="outside",syncid="51",state="backup"} 1\n');
    expect(backup).toContain('wasmvs_sync_last_message_age_seconds{interface="outside",syncid="51"} 2.5\n');
    const off = await exposition({ state: "BACKUP", idleMs: 100 });
    expect(off).toContain('wasmvs_sync_state{interface="",syncid="",state="off"} 1\n');
    expect(off).not.toMatch(/^wasmvs_sync_last_message_age_seconds\{/m);
  });

  it("an instance name as the grammar allows it (a backslash, a space in quotes, a control character, non-ASCII) is escaped as the exposition format asks; promtool parses it (issue 17 attack)", async () => {
    const name = "web\\dmz a\x01b é";
    const text = await exposition({ state: "MASTER", name });
    expect(text).toContain('wasmvs_vrrp_state{vrrp_instance="web\\\\dmz a\x01b é",vrid="51",interface="outside",state="MASTER"} 1\n');
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 60_000 });
    if (r.error) throw new Error(`promtool: ${r.error.message}`);
    // check metrics lints names and help too; what matters here is that it parsed (no "error parsing").
    expect(r.stdout + r.stderr).not.toMatch(/error|invalid|unexpected/i);
  });

  it("the README's rules are the shipped file, and promtool finds them sound", () => {
    const file = readFileSync(RULES, "utf8");
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).toContain(file.slice(file.indexOf("groups:")));
    const r = promtool(["check", "rules", RULES]);
    expect(r.out).toContain("SUCCESS: 3 rules found");
    expect(r.status).toBe(0);
  });

  it("promtool evaluates them on two directors' expositions: two masters, no master, a silent backup fire; a healthy and an idle pair do not", async () => {
    const samples = 13; // 3 minutes of scrapes
    const at = `${(samples - 1) * SCRAPE_S}s`;
    const healthyA = (k: number): At => ({ state: "MASTER", priority: 150, sync: MASTER_SYNC, sent: 10 * k });
    const healthyB = (): At => ({ state: "BACKUP", priority: 100, sync: BACKUP_SYNC, idleMs: 1200 });
    const ids = { vrid: "51", interface: "outside" };
    const none = ["WasmvsVrrpTwoMasters", "WasmvsVrrpNoMaster", "WasmvsSyncBackupSilent"].map((alertname) => ({ eval_time: at, alertname, exp_alerts: [] }));
    const tests = [
      // Master and backup, the backup hearing from its master every scrape.
      { name: "healthy", input_series: await series(samples, healthyA, healthyB), alert_rule_test: none },
      // Split brain: both master (a partition of the link between them).
      { name: "two masters", input_series: await series(samples, healthyA, () => ({ state: "MASTER", priority: 100, sync: MASTER_SYNC, sent: 0 })),
        alert_rule_test: [
          { eval_time: at, alertname: "WasmvsVrrpTwoMasters", exp_alerts: [{ exp_labels: { severity: "critical", ...ids },
            exp_annotations: { summary: "VRID 51 on outside: 2 directors are master at once (split brain)" } }] },
          { eval_time: at, alertname: "WasmvsVrrpNoMaster", exp_alerts: [] }] },
      // The master in FAULT (its interface down), the backup kept back by a failed tracked script.
      { name: "no master", input_series: await series(samples, () => ({ state: "FAULT", priority: 150, effective: 0 }),
        () => ({ state: "BACKUP", priority: 100, effective: 90, sync: BACKUP_SYNC, idleMs: 1000 })),
        alert_rule_test: [
          { eval_time: at, alertname: "WasmvsVrrpNoMaster", exp_alerts: [{ exp_labels: { severity: "critical", ...ids },
            exp_annotations: { summary: "VRID 51 on outside: no director is master (its addresses are unanswered)" } }] },
          { eval_time: at, alertname: "WasmvsVrrpTwoMasters", exp_alerts: [] }] },
      // The master sends, the backup hears nothing (a sync key that differs, a filter): silent for 15 s more each scrape.
      { name: "silent backup", input_series: await series(samples, healthyA, (k) => ({ ...healthyB(), idleMs: 15_000 * k })),
        alert_rule_test: [
          { eval_time: at, alertname: "WasmvsSyncBackupSilent", exp_alerts: [{ exp_labels: { severity: "warning", instance: "b:9100", job: "wasmvs", interface: "outside", syncid: "51" },
            exp_annotations: { summary: "b:9100: the backup sync daemon (sync ID 51) has had no message for 180 s while its master sends" } }] },
          { eval_time: at, alertname: "WasmvsVrrpNoMaster", exp_alerts: [] }] },
      // An idle pair: the master has nothing to sync, so the backup's silence is no lag.
      { name: "idle pair", input_series: await series(samples, (k) => ({ ...healthyA(k), sent: 3 }), (k) => ({ ...healthyB(), idleMs: 15_000 * k })),
        alert_rule_test: none },
    ];
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-alerts-"));
    try {
      // JSON is YAML: promtool reads it as its test file.
      const file = join(dir, "tests.yml");
      writeFileSync(file, JSON.stringify({ rule_files: [RULES], evaluation_interval: `${SCRAPE_S}s`, tests: tests.map((t) => ({ interval: `${SCRAPE_S}s`, ...t })) }, null, 1));
      const r = promtool(["test", "rules", file]);
      expect(r.out).toContain("SUCCESS");
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
