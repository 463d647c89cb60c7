// Scripts as keepalived runs them (MISC_CHECK, notify_*, quorum_*): real processes.
// enable_script_security refuses scripts a non-root user could change; script_user runs
// them as that user; a script that hangs is killed at its timeout with everything it
// started; one that floods its output is cut at a bound; none of it blocks the event loop.

import { describe, it, expect, afterAll } from "vitest";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { insecurity, MAX_OUTPUT_BYTES, MAX_RUNNING, ScriptRunner } from "../host/health/scripts.js";
import { miscCheck } from "../host/health/checkers/misc.js";
import type { MiscChecker, Script } from "../host/config/health.js";

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "wasmvs-scripts-"));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const where = { file: "k.conf", line: 1, column: 1 };
function script(name: string, body: string, mode = 0o755): Script {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, mode);
  return { argv: [p], where };
}
const logs: string[] = [];
const runner = (o: Partial<ConstructorParameters<typeof ScriptRunner>[0]> = {}) => new ScriptRunner({ security: false, log: (l) => logs.push(l), ...o });

describe("scripts", () => {
  it("exit status, arguments and output come back; the output is logged", async () => {
    const r = await runner().run(script("ok.sh", 'echo "hello $1"; exit 3'), 5000, ["world"]);
    expect(r).toMatchObject({ code: 3, timedOut: false, output: "hello world\n" });
    expect(logs.some((l) => l.endsWith("ok.sh: hello world"))).toBe(true);
  });

  it("a script that hangs is killed at its timeout, children included, and the event loop keeps running", async () => {
    const s = script("hang.sh", `sleep 30 & echo $! > ${dir}/child.pid; sleep 30`);
    let ticks = 0;
    const t = setInterval(() => ticks++, 20);
    const start = Date.now();
    const r = await runner().run(s, 300);
    clearInterval(t);
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGTERM");
    expect(Date.now() - start).toBeLessThan(5000);
    expect(ticks).toBeGreaterThan(5);
    const child = Number(readFileSync(join(dir, "child.pid"), "utf8"));
    await new Promise((r) => setTimeout(r, 100));
    // The whole process group went: the child is gone, or a zombie waiting for its new parent.
    const state = existsSync(`/proc/${child}/stat`) ? readFileSync(`/proc/${child}/stat`, "utf8").split(") ")[1][0] : "gone";
    expect(["gone", "Z"]).toContain(state);
  });

  it("a script that floods its output keeps only the first 4 KiB and does not block", async () => {
    const r = await runner().run(script("flood.sh", "head -c 20000000 /dev/zero | tr '\\\\0' x; exit 0"), 10000);
    expect(r.code).toBe(0);
    expect(r.output.length).toBe(MAX_OUTPUT_BYTES);
  });

  it("misc_dynamic: exit 0 up, 1 down, 2-255 up with weight exit-2; a missing script is down with why", async () => {
    const mc = (s: Script, dynamic = true): MiscChecker => ({
      kind: "MISC_CHECK", where, connectIp: "10.1.0.11", connectPort: 80, connectTimeoutMs: 1000, retry: 0, delayBeforeRetryMs: 1000, delayLoopMs: 1000,
      warmupMs: 0, alpha: false, logAllFailures: false, script: s, timeoutMs: 2000, dynamic,
    });
    const r = runner();
    expect(await miscCheck(mc(script("e0.sh", "exit 0")), r)).toEqual({ ok: true, reason: "exit 0" });
    expect(await miscCheck(mc(script("e1.sh", "echo broken; exit 1")), r)).toEqual({ ok: false, reason: `${dir}/e1.sh exited with status 1: broken` });
    expect(await miscCheck(mc(script("e9.sh", "exit 9")), r)).toEqual({ ok: true, reason: "exit 9: weight 7", weight: 7 });
    expect(await miscCheck(mc(script("e9b.sh", "exit 9"), false), r)).toMatchObject({ ok: false });
    expect(await miscCheck(mc({ argv: [join(dir, "nope.sh")], where }), r)).toEqual({ ok: false, reason: `${join(dir, "nope.sh")}: ENOENT` });
  });

  it.runIf(root)("enable_script_security refuses a script a non-root user could change, and runs the others as script_user", async () => {
    const group = script("group-writable.sh", "exit 0", 0o775);
    chownSync(group.argv[0], 0, 65534);
    const owned = script("owned.sh", "exit 0");
    chownSync(owned.argv[0], 65534, 65534);
    const safe = script("id.sh", "id -u");
    const r = runner({ security: true, user: { uid: 65534, gid: 65534, user: "nobody" } });
    expect((await r.run(group, 2000)).refused).toBe(`enable_script_security: ${group.argv[0]} is writable by group 65534`);
    expect((await r.run(owned, 2000)).refused).toBe(`enable_script_security: ${owned.argv[0]} belongs to uid 65534, not root`);
    expect(insecurity("/tmp")).toBeUndefined(); // sticky and world-writable: others cannot replace our files
    const ran = await r.run(safe, 2000);
    expect(ran).toMatchObject({ code: 0, output: "65534\n" });
  });

  it(`at most ${MAX_RUNNING} run at once; the rest wait their turn`, async () => {
    const s = script("slow.sh", `echo x >> ${dir}/running; sleep 0.3; exit 0`);
    const r = runner();
    const all = await Promise.all(Array.from({ length: MAX_RUNNING + 10 }, () => r.run(s, 5000)));
    expect(all.every((x) => x.code === 0)).toBe(true);
    expect(r.stats.started).toBe(MAX_RUNNING + 10);
    expect(r.stats.peakRunning).toBe(MAX_RUNNING);
  });
});
