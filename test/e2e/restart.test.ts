// A restart without losing connections (issue 10, "Restart and upgrade"): one wasmvs director
// in NAT, 12 keep-alive connections sending a request every 20 ms; the director is stopped
// (SIGTERM, as a service manager's restart or an upgrade does) and a new process started on
// the same socket. The new process takes the old one's table (host/dataplane/handoff.ts) and
// every connection goes on. The control: the same restart with --table-file none breaks
// them. A table of another format is refused with a message and the director runs anyway.
// Issue 16: `kill -9` instead of SIGTERM — the crash journal (host/dataplane/journal.ts)
// has the table — and a start that fails (a busy metrics port) after reading the table
// leaves it untouched for the next good start.

import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";
import { decodeTable } from "../../host/dataplane/handoff.js";

e2eDescribe("restart without losing connections", () => {
  let sb: Sandbox;
  let config: string;
  const socket = () => join(sb.dir, "control.sock");
  const tableFile = () => join(sb.dir, "control.table");
  let current: Director | undefined;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [80] });
    await sb.startServers();
    config = sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]);
  });
  // A failed test leaves no director behind for the next (they share the socket).
  afterEach(async () => {
    await current?.stop().catch(() => {});
    current = undefined;
  });
  afterAll(async () => {
    await current?.stop().catch(() => {});
    await sb?.destroy();
  });

  /** 12 long-lived connections through a restart of the director; what broke. */
  async function restart(tag: string, extraArgs: string[], o: { kill?: boolean; between?: () => Promise<void>; config?: string } = {}):
    Promise<{ broken: number; answered: number; gapMs: number; readyAt: number }> {
    current = await sb.startDirector(config, socket(), `${tag}-1`);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 12 * 200, concurrency: 12, keepalive: true, intervalMs: 20, timeoutMs: 8000 }, `${tag}-long`);
    await sb.waitFor("the 12 connections", () => {
      try {
        // Established ones (a table taken from an earlier test holds its closed connections too).
        return current!.status().services.reduce((n, v) => n + v.realServers.reduce((m, r) => m + r.active, 0), 0) >= 12;
      } catch {
        return false;
      }
    }, 10000);
    await new Promise((r) => setTimeout(r, 1000));
    const stoppedAt = Date.now();
    if (o.kill) {
      // A crash: no handler runs, nothing is written at the end.
      const p = current.proc;
      p.kill("SIGKILL");
      await sb.waitFor("the director to die", () => p.exitCode !== null || p.signalCode !== null, 5000);
    } else await current.stop();
    await o.between?.();
    current = await sb.startDirector(o.config ?? config, socket(), `${tag}-2`, extraArgs);
    const readyAt = Date.now();
    const gapMs = readyAt - stoppedAt;
    await sb.waitFor("the client", () => long.exitCode !== null, 120000);
    const r = JSON.parse(sb.logOf(`${tag}-long`).trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    if (r.errors.length) console.log(`${tag}: ${r.errors.slice(0, 3).join("; ")}\n${sb.logOf(`${tag}-2`).slice(0, 1500)}`);
    return { broken: r.errors.length, answered: r.bodies.filter((x) => x).length, gapMs, readyAt };
  }

  it("SIGTERM and a new process: it takes the table over, none of 12 long-lived connections breaks", async () => {
    const r = await restart("handoff", []);
    expect(sb.logOf("handoff-1")).toMatch(/connection table \(\d+ entries\) left in .*control\.table for the next wasmvs run/);
    const took = /took over (\d+) of (\d+) connections from the previous process/.exec(sb.logOf("handoff-2"));
    expect(took).not.toBeNull();
    expect(Number(took![1])).toBeGreaterThanOrEqual(12);
    // Taken once: the file is now the new director's own journal, written since it started.
    expect(decodeTable(readFileSync(tableFile()), "table").writtenAtMs).toBeGreaterThan(r.readyAt);
    console.log(`restart (NAT, SIGTERM then a new process, ${r.gapMs} ms between stop and ready): ${took![1]} of ${took![2]} connections taken over; ` +
      `long-lived connections broken: ${r.broken} of 12, ${r.answered} requests answered`);
    expect(r.broken).toBe(0);
    expect(r.answered).toBe(12 * 200);
    await current!.stop();
    current = undefined;
  });

  it("kill -9 and a new process at once: the crash journal has the table, none of 12 long-lived connections breaks", async () => {
    const r = await restart("crash", [], { kill: true });
    expect(sb.logOf("crash-1")).not.toMatch(/left in/); // nothing written at the end: the journal it is
    // The killed director's last status: its journal had written whole files, none failed.
    const last = JSON.parse(readFileSync(join(sb.dir, "crash-1-status.json"), "utf8")) as { control: { journal: { file: string; written: number; failing?: string } } };
    expect(last.control.journal.file).toBe(tableFile());
    expect(last.control.journal.written).toBeGreaterThan(0);
    expect(last.control.journal.failing).toBeUndefined();
    const took = /took over (\d+) of (\d+) connections from the previous process \(its table written (\d+) ms before\)/.exec(sb.logOf("crash-2"));
    expect(took).not.toBeNull();
    expect(Number(took![1])).toBeGreaterThanOrEqual(12);
    console.log(`restart (NAT, kill -9 then a new process, ${r.gapMs} ms between the kill and ready; journal written ${took![3]} ms before the start): ` +
      `${took![1]} of ${took![2]} connections taken over; long-lived connections broken: ${r.broken} of 12, ${r.answered} requests answered`);
    expect(r.broken).toBe(0);
    expect(r.answered).toBe(12 * 200);
    await current!.stop();
    current = undefined;
  });

  it("a start that fails on a busy metrics port leaves the table untouched; the next good start takes it, none of 12 breaks", async () => {
    const withMetrics = config + "metrics 127.0.0.1:9199\n";
    let before: Buffer | undefined;
    const r = await restart("busy", [], {
      config: withMetrics,
      between: async () => {
        before = readFileSync(tableFile());
        // Something else holds the metrics port in the director's namespace.
        const blocker = sb.spawn(sb.director, [process.execPath, "-e", "require('net').createServer().listen(9199, '127.0.0.1', () => console.log('listening'))"], "blocker");
        try {
          await sb.waitFor("the blocker", () => sb.logOf("blocker").includes("listening"), 10000);
          await expect(sb.startDirector(withMetrics, socket(), "busy-fail")).rejects.toThrow(/exited/);
          expect(sb.logOf("busy-fail")).toMatch(/9199/);
          expect(sb.logOf("busy-fail")).not.toMatch(/connection journal/);
          expect(readFileSync(tableFile()).equals(before!)).toBe(true); // given back untouched
        } finally {
          blocker.kill("SIGKILL");
          await sb.waitFor("the blocker to end", () => blocker.exitCode !== null || blocker.signalCode !== null, 5000);
        }
      },
    });
    const took = /took over (\d+) of (\d+) connections from the previous process/.exec(sb.logOf("busy-2"));
    expect(took).not.toBeNull();
    expect(Number(took![1])).toBeGreaterThanOrEqual(12);
    console.log(`restart through a failed start (busy metrics port), ${r.gapMs} ms between stop and ready: ${took![1]} of ${took![2]} taken over; ` +
      `long-lived connections broken: ${r.broken} of 12`);
    expect(r.broken).toBe(0);
    expect(r.answered).toBe(12 * 200);
    await current!.stop();
    current = undefined;
  });

  it("the control: the same restart without the table (--table-file none) breaks them", async () => {
    const r = await restart("none", ["--table-file", "none"]);
    console.log(`restart without the table: long-lived connections broken: ${r.broken} of 12`);
    expect(sb.logOf("none-2")).not.toMatch(/took over/);
    expect(r.broken).toBeGreaterThan(0);
    await current!.stop();
    current = undefined;
  });

  it("a table of another format is refused with a message, moved aside for a look, and the director runs", async () => {
    current = await sb.startDirector(config, socket(), "format-1");
    await current.stop();
    const t = readFileSync(tableFile());
    t.writeUInt32LE(99, 8);
    writeFileSync(tableFile(), t, { mode: 0o600 });
    current = await sb.startDirector(config, socket(), "format-2");
    expect(sb.logOf("format-2")).toMatch(/connection table not taken: .*control\.table is a connection table of format 99, written by another version of wasmvs; this one reads format 1/);
    expect(sb.logOf("format-2")).toMatch(/connection table .*control\.table \(not taken\) moved to .*control\.table\.refused/);
    expect(readFileSync(tableFile() + ".refused").equals(t)).toBe(true); // for a look
    expect(sb.http(`http://${VIP}/`, { requests: 6, concurrency: 2 }).errors).toEqual([]);
  });
});
