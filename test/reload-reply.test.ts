// A large reload's reply and `wasmvs reload`'s output name its first changes and count the
// rest (control/server.ts repliedChanges); the changes are worded when read (dataplane/
// changeset.ts Changes), with the words they always had, every one of them still there.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { Estimator } from "../host/control/estimator.js";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { REPLIED_CHANGES, startControl } from "../host/control/server.js";
import { request } from "../host/cli/ipvsadm.js";
import { Changes, planDifference } from "../host/dataplane/changeset.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC } from "./helpers/director.js";

const HEAD = `interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 mac ${IN_MAC} address ${DIRECTOR_IN}/24
`;
/** n services of 3 servers each (4n changes when added). */
const services = (n: number, weight = 1) => Array.from({ length: n }, (_, i) =>
  `-A -t 10.0.0.${100 + (i >> 8)}:${1000 + (i & 255)} -s rr\n` +
  [11, 12, 13].map((k) => `-a -t 10.0.0.${100 + (i >> 8)}:${1000 + (i & 255)} -r 10.1.0.${k}:80 -m -w ${weight}\n`).join("")).join("");

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "wasmvs-rr-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a reload's changes", () => {
  it("are worded when read, each as it always was, in order; any part of them read alone reads the same", () => {
    const a = parseRules(HEAD + services(3), "d.rules");
    const b = parseRules(HEAD + "--set 10 20 30\n" + services(2, 4).replace("-s rr", "-s lc") + services(4).split("\n").slice(8).join("\n"), "d.rules");
    const plan = planDifference(a, b);
    const all = plan.changes;
    expect(all).toContain("service tcp 10.0.0.100:1000 scheduler rr -> lc");
    expect(all).toContain("real server 10.1.0.11:80 of tcp 10.0.0.100:1000 now nat, weight 4");
    expect(all).toContain("real server 10.1.0.12:80 added to tcp 10.0.0.100:1003 (nat, weight 1)");
    expect(all).toContain("service tcp 10.0.0.100:1003 added (rr)");
    expect(plan.words.length).toBe(all.length);
    for (let i = 0; i <= all.length; i++) for (let j = i; j <= all.length + 1; j++) expect(plan.words.slice(i, j)).toEqual(all.slice(i, j));
    expect(plan.words.slice(-3)).toEqual(all.slice(-3));
    const more = new Changes().texts(plan.words).texts(["VRRP instance VI_1 reconfigured"]);
    expect(more.all()).toEqual([...all, "VRRP instance VI_1 reconfigured"]);
    expect(JSON.stringify(more)).toBe(JSON.stringify(more.all()));
  });

  it("a reply names the first ones and counts the rest; `wasmvs reload` prints them and says how many more", async () => {
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const cfg = parseRules(HEAD, "r");
    applyConfig(engine, cfg);
    let file = HEAD + services(40);
    const state = new ControlState(new LocalEngine(engine), cfg, () => parseRules(file, "r"));
    const path = join(dir, "reload.sock");
    const server = await startControl({ engine: state["engine"], estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c),
      reloadFile: () => state.reloadFile(), reload: () => state.reload() }, path);
    try {
      // Every change's words in the same order, 160 of them: the reply has the first 100.
      const r = await request(path, { op: "reload" }) as { ok: boolean; changes: string[]; more: number };
      expect(r.ok).toBe(true);
      expect(r.changes).toHaveLength(REPLIED_CHANGES);
      expect(r.more).toBe(160 - REPLIED_CHANGES);
      expect(r.changes.slice(0, 2)).toEqual(["service tcp 10.0.0.100:1000 added (rr)", "real server 10.1.0.11:80 added to tcp 10.0.0.100:1000 (nat, weight 1)"]);
      // A reload of a few changes names them all, without "more".
      file = HEAD + services(40, 2).replace("-w 2", "-w 1");
      const few = await request(path, { op: "reload" }) as Record<string, unknown>;
      expect(few).toEqual({ ok: true, changes: ["real server 10.1.0.12:80 of tcp 10.0.0.100:1000 now nat, weight 2", "real server 10.1.0.13:80 of tcp 10.0.0.100:1000 now nat, weight 2",
        ...Array.from({ length: 39 }, (_, i) => [11, 12, 13].map((k) => `real server 10.1.0.${k}:80 of tcp 10.0.0.100:${1001 + i} now nat, weight 2`)).flat()].slice(0, REPLIED_CHANGES),
      more: 119 - REPLIED_CHANGES, warnings: [] });
      // 40 services' 120 servers to weight 3, 30 services of 3 servers added: 240 changes.
      file = HEAD + services(70, 3);
      const out = await new Promise<{ code: number; stdout: string }>((res) =>
        execFile(process.execPath, [join(import.meta.dirname, "..", "bin", "wasmvs.js"), "reload", "--socket", path], { timeout: 30000 },
          (e, stdout) => res({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout })));
      expect(out.code).toBe(0);
      const lines = out.stdout.split("\n");
      expect(lines).toHaveLength(REPLIED_CHANGES + 2);
      expect(lines[0]).toBe("real server 10.1.0.11:80 of tcp 10.0.0.100:1000 now nat, weight 3");
      expect(lines[REPLIED_CHANGES - 1]).toBe("real server 10.1.0.11:80 of tcp 10.0.0.100:1033 now nat, weight 3");
      expect(lines.slice(REPLIED_CHANGES)).toEqual([`... and ${240 - REPLIED_CHANGES} more changes (240 in all)`, ""]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("an added service's server refused is named where it was written (its origin is worded only then)", async () => {
    const engine = await loadEngine({ batch: 8, connCapacity: 64, maxRealServers: 3 });
    const cfg = parseRules(HEAD, "r");
    applyConfig(engine, cfg);
    let file = HEAD + "-A -t 10.0.0.100:1000 -s rr\n-a -t 10.0.0.100:1000 -r 10.1.0.11:1000 -g -w 1\n-a -t 10.0.0.100:1000 -r 192.0.2.1:1000 -g -w 1\n";
    const state = new ControlState(new LocalEngine(engine), cfg, () => parseRules(file, "r"));
    await expect(state.reload()).rejects.toThrow("r:5:26: '192.0.2.1:1000': real server 192.0.2.1:1000: real server is not on a directly connected network (direct routing needs one)");
    file = HEAD + "-A -t 10.0.0.100:1000 -s rr\n" + [11, 12, 13, 14].map((k) => `-a -t 10.0.0.100:1000 -r 10.1.0.${k}:1000 -g -w 1\n`).join("");
    await expect(state.reload()).rejects.toThrow("r:7:26: '10.1.0.14:1000': the real-server table is full (3 real servers): this change needs 1 more " +
      "(first: 10.1.0.14:1000 in tcp 10.0.0.100:1000); nothing was changed");
    expect(state.running.services).toEqual([]);
  });
});
