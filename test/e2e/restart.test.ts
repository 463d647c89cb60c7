// A restart without losing connections (issue 10, "Restart and upgrade"): one wasmvs director
// in NAT, 12 keep-alive connections sending a request every 20 ms; the director is stopped
// (SIGTERM, as a service manager's restart or an upgrade does) and a new process started on
// the same socket. The new process takes the old one's table (host/dataplane/handoff.ts) and
// every connection goes on. The control: the same restart with --table-file none breaks
// them. A table of another format is refused with a message and the director runs anyway.

import { afterAll, beforeAll, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

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
  afterAll(async () => {
    await current?.stop().catch(() => {});
    await sb?.destroy();
  });

  /** 12 long-lived connections through a restart of the director; what broke. */
  async function restart(tag: string, extraArgs: string[]): Promise<{ broken: number; answered: number; gapMs: number }> {
    current = await sb.startDirector(config, socket(), `${tag}-1`);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 12 * 200, concurrency: 12, keepalive: true, intervalMs: 20, timeoutMs: 8000 }, `${tag}-long`);
    await sb.waitFor("the 12 connections", () => {
      try {
        return (current!.status().connections ?? 0) >= 12;
      } catch {
        return false;
      }
    }, 10000);
    await new Promise((r) => setTimeout(r, 1000));
    const stoppedAt = Date.now();
    await current.stop();
    current = await sb.startDirector(config, socket(), `${tag}-2`, extraArgs);
    const gapMs = Date.now() - stoppedAt;
    await sb.waitFor("the client", () => long.exitCode !== null, 120000);
    const r = JSON.parse(sb.logOf(`${tag}-long`).trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    return { broken: r.errors.length, answered: r.bodies.filter((x) => x).length, gapMs };
  }

  it("SIGTERM and a new process: it takes the table over, none of 12 long-lived connections breaks", async () => {
    const r = await restart("handoff", []);
    expect(sb.logOf("handoff-1")).toMatch(/connection table \(\d+ entries\) left in .*control\.table for the next wasmvs run/);
    const took = /took over (\d+) of (\d+) connections from the previous process/.exec(sb.logOf("handoff-2"));
    expect(took).not.toBeNull();
    expect(Number(took![1])).toBeGreaterThanOrEqual(12);
    expect(existsSync(tableFile())).toBe(false); // taken once
    console.log(`restart (NAT, SIGTERM then a new process, ${r.gapMs} ms between stop and ready): ${took![1]} of ${took![2]} connections taken over; ` +
      `long-lived connections broken: ${r.broken} of 12, ${r.answered} requests answered`);
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

  it("a table of another format is refused with a message, left for a look, and the director runs", async () => {
    current = await sb.startDirector(config, socket(), "format-1");
    await current.stop();
    const t = readFileSync(tableFile());
    t.writeUInt32LE(99, 8);
    writeFileSync(tableFile(), t, { mode: 0o600 });
    current = await sb.startDirector(config, socket(), "format-2");
    expect(sb.logOf("format-2")).toMatch(/connection table not taken: .*control\.table is a connection table of format 99, written by another version of wasmvs; this one reads format 1/);
    expect(sb.http(`http://${VIP}/`, { requests: 6, concurrency: 2 }).errors).toEqual([]);
  });
});
