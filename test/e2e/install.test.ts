// Install (issue 17): the packed tarball, installed with `npm install -g` into a prefix of the
// test's own, puts `wasmvs` on PATH with everything it needs — the built engine and host,
// the TAP addon compiled at install time (node-gyp, npm's default install step for a package
// with binding.gyp), the systemd unit — and that installed command runs a director that
// forwards, as an unprivileged user holding only the unit's capabilities (ambient). The shipped unit passes `systemd-analyze verify` once `wasmvs` resolves to it.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;

e2eDescribe("npm install -g from the packed tarball", () => {
  let dir: string;
  let prefix: string;
  let sb: Sandbox | undefined;
  /** Run argv with the installed prefix's bin first on PATH (nothing else knows where it is). */
  const onPath = (argv: string[], input?: string) => spawnSync(argv[0], argv.slice(1),
    { encoding: "utf8", input, timeout: 120000, env: { ...process.env, PATH: `${join(prefix, "bin")}:${process.env.PATH}` } });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wasmvs-install-"));
    prefix = join(dir, "prefix");
    // The tarball of this tree as built (CI's npm ci ran the build; pack's prepare would run it again).
    const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], { cwd: ROOT, encoding: "utf8", timeout: 120000 });
    if (pack.status !== 0) throw new Error(`npm pack: ${pack.stderr}`);
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
    const install = spawnSync("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", "--allow-scripts=wasmvs", join(dir, tgz)],
      { encoding: "utf8", timeout: 300000 });
    if (install.status !== 0) throw new Error(`npm install -g: ${install.stderr}`);
  }, 420000);
  afterAll(async () => {
    await sb?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("wasmvs is on PATH and answers; the tarball held the engine and host, the addon was built at install", () => {
    const installed = join(prefix, "lib", "node_modules", "wasmvs");
    expect(onPath(["wasmvs", "--version"]).stdout).toBe(`wasmvs ${VERSION}\n`);
    const help = onPath(["wasmvs", "--help"]);
    expect([help.status, help.stdout.split("\n")[0]]).toEqual([0, "usage: wasmvs <command> [options]"]);
    const check = onPath(["wasmvs", "check", join(ROOT, "examples", "keepalived.conf")]);
    expect([check.status, check.stderr]).toEqual([0, ""]);
    expect(check.stdout).toMatch(/keepalived\.conf: OK\n/);
    for (const f of ["wasm/release.wasm", "dist/host/cli/main.js", "dist/dashboard/index.html", "build/Release/wasmvs_tap.node", "packaging/wasmvs.service"]) {
      expect(existsSync(join(installed, f)), f).toBe(true);
    }
  });

  it("the shipped unit passes systemd-analyze verify with the installed wasmvs", () => {
    if (spawnSync("systemd-analyze", ["--version"]).status !== 0) throw new Error("systemd-analyze is not installed (Debian: systemd)");
    // systemd looks a bare command name up in its own search path: the installed one is named here.
    const unit = readFileSync(join(prefix, "lib", "node_modules", "wasmvs", "packaging", "wasmvs.service"), "utf8");
    expect(unit).toMatch(/^ExecStart=wasmvs run /m);
    const file = join(dir, "wasmvs.service");
    writeFileSync(file, unit.replace(/^(Exec\w+=)wasmvs /gm, `$1${join(prefix, "bin", "wasmvs")} `));
    const v = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
    expect([v.status, v.stderr.trim()]).toEqual([0, ""]);
  });

  it("the installed wasmvs runs a director that forwards — as nobody, with the unit's capabilities as ambient ones (User= in a drop-in)", async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [80], servers: 2 });
    await sb.startServers();
    // The director's own folder (config, socket, status, table), its user's; the install is readable by all.
    chmodSync(dir, 0o755);
    const own = join(dir, "run");
    mkdirSync(own);
    chownSync(own, 65534, 65534);
    // vrrp_rt_priority: the data-path thread real-time without a VRRP instance, so the ambient CAP_SYS_NICE is put to use.
    const config = join(own, "installed.conf");
    writeFileSync(config, "global_defs {\n  vrrp_rt_priority 10\n}\n" + sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "rr" }]));
    const status = join(own, "installed.json");
    const unit = readFileSync(join(prefix, "lib", "node_modules", "wasmvs", "packaging", "wasmvs.service"), "utf8");
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1].trim().split(/\s+/).map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`).join(",");
    // A user other than root opens /dev/net/tun where udev made it 0666 (Debian's rule); this machine's is 0600.
    // In a mount namespace of the director's own, a node of the same device with 0666 stands over it: the host's
    // /dev is not touched.
    const tun = join(dir, "tun");
    expect(spawnSync("mknod", ["-m", "0666", tun, "c", "10", "200"]).status).toBe(0);
    const argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--nnp", `--inh-caps=-all,${caps}`,
      `--ambient-caps=-all,${caps}`, `--bounding-set=-all,${caps}`, join(prefix, "bin", "wasmvs"), "run", "--config", config, "--status", status,
      "--socket", join(own, "i.sock")];
    const proc = sb.spawn(sb.director, ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /dev/net/tun && exec "$@"', tun, ...argv], "installed");
    await sb.waitFor("the installed director", () => existsSync(status) || proc.exitCode !== null, 20000);
    expect(proc.exitCode, sb.logOf("installed")).toBeNull();
    expect(readFileSync(`/proc/${proc.pid}/status`, "utf8")).toMatch(/^Uid:\s+65534\s/m);
    // chrt, a child, has CAP_SYS_NICE from the ambient set.
    expect(sb.logOf("installed")).toMatch(/data-path thread \d+: real-time \(SCHED_RR 10\)/);
    const r = sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 });
    expect(r.errors).toEqual([]);
    expect(new Set(r.bodies).size).toBe(2);
    proc.kill("SIGTERM");
    await sb.waitFor("it to stop", () => proc.exitCode !== null || proc.signalCode !== null, 10000);
    expect(proc.exitCode).toBe(0);
    expect(sb.logOf("installed")).toMatch(/connection table \(\d+ entries\) left in .*i\.table for the next wasmvs run/);
  }, 120000);
});
