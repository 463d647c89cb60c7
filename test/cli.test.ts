// The wasmvs command's own manners: every subcommand answers --help with its usage,
// --version says wasmvs's version (-v ipvsadm's, as ipvsadm), and errors are one line.

import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../host/sandbox/sandbox.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ...env }, timeout: 30000 });

describe("the wasmvs command", () => {
  it("every subcommand answers --help with its own usage (was: replay, run and check failed)", () => {
    for (const cmd of ["replay", "run", "check", "reload", "decap", "demo"]) {
      const r = run([cmd, "--help"]);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toMatch(new RegExp(`^usage: wasmvs ${cmd}\\b`));
      expect(r.stderr, cmd).toBe("");
    }
    expect(run(["--help"]).stdout).toMatch(/^usage: wasmvs <command>/);
  });

  it("--version says wasmvs's version; -v ipvsadm's line, as ipvsadm", () => {
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    expect(run(["--version"]).stdout).toBe(`wasmvs ${version}\n`);
    expect(run(["-v"]).stdout).toMatch(/^ipvsadm v1\.31 /);
  });

  it("a usage error names the problem and shows that command's usage; other errors are one line, no stack trace", () => {
    const u = run(["check"]);
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/^wasmvs: check needs exactly one FILE\n\nusage: wasmvs check FILE/);
    const missing = run(["check", "/nonexistent/director.conf"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(/^wasmvs: .*no such file or directory/i);
    const reload = run(["reload", "--socket", "/nonexistent/wasmvs.sock"]);
    expect(reload.status).toBe(2);
    expect(reload.stderr).toBe("wasmvs: no wasmvs director is running here (control socket /nonexistent/wasmvs.sock not found): " +
      "start one with `wasmvs run --config FILE`, or name its socket with --socket or WASMVS_SOCKET\n");
    const list = run(["-L", "-n"], { WASMVS_SOCKET: "/nonexistent/wasmvs.sock" });
    expect(list.status).toBe(2);
    expect(list.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("ipvsadm's wording only on ipvsadm's command line: reload and top say it in wasmvs's words (issue 17)", () => {
    const sock = "/nonexistent/wasmvs.sock";
    const words = `no wasmvs director is running here (control socket ${sock} not found): ` +
      "start one with `wasmvs run --config FILE`, or name its socket with --socket or WASMVS_SOCKET\n";
    for (const args of [["reload", "--socket", sock], ["top", "--once", "--socket", sock], ["reload"], ["top", "--once"]]) {
      const r = run(args, { WASMVS_SOCKET: sock });
      expect([r.status, r.stderr], args.join(" ")).toEqual([2, `wasmvs: ${words}`]);
      expect(r.stderr).not.toContain("ipvs");
    }
    // ipvsadm's command line keeps ipvsadm's "Can't initialize ipvs:", which scripts written for ipvsadm look for.
    for (const args of [["-L", "-n"], ["-A", "-t", "10.0.0.1:80"], ["-Z"]]) {
      const r = run(args, { WASMVS_SOCKET: sock });
      expect([r.status, r.stderr], args.join(" ")).toEqual([2, `Can't initialize ipvs: no wasmvs director is running on ${sock} ` +
        "(start one with wasmvs run --config FILE, or point WASMVS_SOCKET at its socket)\n"]);
    }
  });
});
