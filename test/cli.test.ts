// The wasmvs command's own manners: every subcommand answers --help with its usage,
// --version says wasmvs's version (-v ipvsadm's, as ipvsadm), and errors are one line.

import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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
    expect(u.stderr).toMatch(/^wasmvs: check needs exactly one FILE \(or --config FILE\)\n\nusage: wasmvs check FILE/);
    // check takes the file as run does too (--config FILE), but one file only.
    const both = run(["check", join(ROOT, "examples", "director.rules"), "--config", join(ROOT, "examples", "director.rules")]);
    expect([both.status, both.stderr.split("\n")[0]]).toEqual([2, "wasmvs: check needs exactly one FILE (or --config FILE)"]);
    expect(run(["check", "--config", join(ROOT, "examples", "director.rules")]).stdout).toBe(run(["check", join(ROOT, "examples", "director.rules")]).stdout);
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

  it("an option given twice or with an empty value is a usage error, not the last one silently taken or ENOENT for '' (issue 17 attack)", () => {
    for (const [args, msg] of [
      [["check", "k.conf", "--director", "a.conf", "--director", "b.conf"], "--director given twice"],
      [["run", "--config", "a.conf", "--config", "b.conf"], "--config given twice"],
      [["check", "k.conf", "--director", ""], "--director needs a value"],
      [["run", "--config", ""], "--config needs a value"],
    ] as const) {
      const r = run([...args]);
      expect([r.status, r.stderr.split("\n")[0]], args.join(" ")).toEqual([2, `wasmvs: ${msg}`]);
      expect(r.stderr).toContain("usage: wasmvs ");
    }
  });

  it("what a file says is printed with its control characters escaped: check's warnings and errors cannot drive the terminal (issue 17 attack)", () => {
    const d = mkdtempSync(join(tmpdir(), "wasmvs-cli-ctl-"));
    try {
      const dirBlock = "director {\n  interface eth0 {\n    address 192.0.2.1/24\n  }\n}\n";
      writeFileSync(join(d, "warn.conf"), `global_defs {\n  foo\x1b[31mbar\x07 1\n}\n${dirBlock}`);
      const w = run(["check", join(d, "warn.conf")]);
      expect(w.status).toBe(0);
      expect(w.stdout).toContain("foo\\x1b[31mbar");
      expect(w.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      writeFileSync(join(d, "err.conf"), `director {\n  interface eth0 {\n    address 192.0.2.1/24\n  }\n  x\x1b]0;owned\x07 1\n}\n`);
      const e = run(["check", join(d, "err.conf")]);
      expect(e.status).toBe(1);
      expect(e.stderr).toContain("x\\x1b]0;owned\\x07");
      expect(e.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
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
