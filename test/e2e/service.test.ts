// The systemd unit's privileges (packaging/wasmvs.service, issue 17): the director started as
// the unit starts it — root's user ID with only the unit's CapabilityBoundingSet, and
// NoNewPrivileges — by setpriv in the sandbox's director namespace (systemd itself is not
// this machine's init: the file-system protections are systemd's to apply, and
// `systemd-analyze verify` checks the file in test/install.test.ts). With that set it starts,
// runs its data path real-time, forwards NAT, runs a MISC_CHECK as script_user and a
// PING_CHECK, reloads through `wasmvs reload` under the same set (ExecReload), stops on
// SIGTERM leaving the table, and the next start takes it over. Without CAP_NET_ADMIN it cannot
// start; without CAP_SYS_NICE the data path is not real-time; without CAP_SETUID the script
// cannot run as script_user; without CAP_NET_RAW ping cannot send: each is needed. On the
// host's NICs (WASMVS_BACKEND=xdp) the rings need CAP_BPF, CAP_IPC_LOCK and CAP_NET_RAW to
// start as well; on TAP the director starts without CAP_BPF and CAP_IPC_LOCK.

import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Director, ROOT, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";
import { datagramSink } from "../helpers/dgram-sink.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const UNIT = readFileSync(join(ROOT, "packaging", "wasmvs.service"), "utf8");

/** The unit's CapabilityBoundingSet, as setpriv's names (net_admin, ...). */
const unitCaps = (/^CapabilityBoundingSet=(.*)$/m.exec(UNIT)![1]).trim().split(/\s+/).map((c) => c.replace(/^CAP_/, "").toLowerCase());

/** setpriv's argv for root's user ID with only caps in the bounding set (exec makes them its
 *  permitted and effective set), no inheritable ones, and no new privileges. */
const limited = (caps: string[]) => ["setpriv", "--nnp", "--inh-caps=-all", `--bounding-set=-all,${caps.map((c) => `+${c}`).join(",")}`];

/** The bit of each capability in /proc/PID/status's masks (linux/capability.h). */
/** The slow script's sleep, to find it by (pgrep). */
const SLOW = "29.125";
/** The oldest running copy of the slow script (each check starts one), or undefined. */
const slowPid = () => Number(spawnSync("pgrep", ["-o", "-u", "65534", "-f", `sleep ${SLOW}`], { encoding: "utf8" }).stdout.trim()) || undefined;
const alive = (pid: number) => existsSync(`/proc/${pid}`);

const CAP_BITS: Record<string, number> = { chown: 0, kill: 5, setgid: 6, setuid: 7, net_bind_service: 10, net_admin: 12, net_raw: 13, ipc_lock: 14, sys_nice: 23, perfmon: 38, bpf: 39 };

e2eDescribe("the systemd unit's capabilities", () => {
  let sb: Sandbox;
  let scripts: string;
  const socket = () => join(sb.dir, "control.sock");
  let n = 0;
  const running: Director[] = [];

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [80], servers: 2 });
    await sb.startServers();
    sb.addCheckSource(); // health checks leave from the director host's kernel
    // A folder script_user (nobody) can reach: the sandbox's own is root's alone.
    scripts = mkdtempSync(join(tmpdir(), "wasmvs-unit-"));
    chmodSync(scripts, 0o755);
    writeFileSync(join(scripts, "as-nobody.sh"), '#!/bin/sh\n[ "$(id -u)" = 65534 ]\n', { mode: 0o755 });
    // Outlives misc_timeout: killed (SIGTERM to its process group) only with CAP_KILL, as it runs as nobody.
    writeFileSync(join(scripts, "slow.sh"), `#!/bin/sh\nexec sleep ${SLOW}\n`, { mode: 0o755 });
  }, 60000);
  // A failed test leaves no director behind for the next (they share the socket).
  const sinks: { stop: () => void }[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) await d.stop().catch(() => {});
    for (const k of sinks.splice(0)) k.stop();
    spawnSync("pkill", ["-u", "65534", "-f", `sleep ${SLOW}`]); // the slow script, where it was not killed
  });
  afterAll(async () => {
    await sb?.destroy();
    if (scripts) rmSync(scripts, { recursive: true, force: true });
  });

  /** keepalived.conf: server 1 up only while a script running as nobody says so (or a script that outlives its
   *  timeout), server 2 while it answers ping; a notify FIFO given to nobody. */
  const config = (o: { weight?: number; fifo?: string; slow?: boolean } = {}) =>
    `global_defs {\n  script_user nobody\n  vrrp_rt_priority 10\n${o.fifo ? `  notify_fifo ${o.fifo} nobody\n` : ""}}\n` +
    sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "rr" }])
      .replace(`  real_server ${serverAddress(0)} 80 {\n    weight 1\n  }`,
        `  real_server ${serverAddress(0)} 80 {\n    weight ${o.weight ?? 1}\n    MISC_CHECK {\n      misc_path ${join(scripts, o.slow ? "slow.sh" : "as-nobody.sh")}\n` +
        `      misc_timeout 1\n    }\n  }`)
      .replace(`  real_server ${serverAddress(1)} 80 {\n    weight 1\n  }`,
        `  real_server ${serverAddress(1)} 80 {\n    weight 1\n    PING_CHECK {\n      connect_timeout 1\n    }\n  }`)
      .replace(/(lb_kind NAT)/, "$1\n  delay_loop 0.3\n  alpha");

  /** Start the director under caps; its Director, or its exit with the log. */
  async function start(caps: string[], file: string, o: { env?: string[]; args?: string[] } = {}): Promise<{ d?: Director; log: string; pid?: number }> {
    const name = `unit-${++n}`;
    const status = join(sb.dir, `${name}.json`);
    const proc = sb.spawn(sb.director, ["env", ...(o.env ?? []), ...limited(caps), process.execPath, CLI, "run", "--config", file, "--status", status,
      "--socket", socket(), ...(o.args ?? [])], name);
    await sb.waitFor(`${name} to start`, () => existsSync(status) || proc.exitCode !== null, 20000);
    if (proc.exitCode !== null) return { log: sb.logOf(name) };
    const d = new Director(sb, proc, file, status, socket(), name);
    running.push(d);
    return { d, log: sb.logOf(name), pid: proc.pid };
  }

  async function stop(d: Director): Promise<string> {
    const log = await d.stop();
    running.splice(running.indexOf(d), 1);
    return log;
  }

  const health = (d: Director) => d.ipvsadm(["-L", "--health"]).stdout;

  it("the unit's set is enough: starts, real-time data path, forwards, checks as script_user and by ping, reloads, stops leaving the table", async () => {
    expect(unitCaps).toEqual(["net_admin", "net_raw", "bpf", "perfmon", "ipc_lock", "sys_nice", "setuid", "setgid", "kill", "chown"]);
    expect(UNIT).toMatch(/^NoNewPrivileges=yes$/m);
    const file = join(sb.dir, "unit.conf");
    const fifo = join(sb.dir, "notify.fifo");
    writeFileSync(file, config({ fifo }));
    // Type=notify: systemd's socket hears READY=1 once the director holds everything.
    const notify = await datagramSink(join(sb.dir, "notify.sock"));
    sinks.push(notify);
    const { d, pid } = await start(unitCaps, file, { env: [`NOTIFY_SOCKET=${notify.path}`] });
    expect(d, "started").toBeDefined();
    await sb.waitFor("READY=1", () => notify.got().length >= 1, 5000);
    expect(notify.got()[0]).toBe(`READY=1\nMAINPID=${pid}\nSTATUS=forwarding on 2 interface(s), control socket ${socket()}`);
    // What the process holds: exactly the unit's capabilities, effective.
    const eff = BigInt("0x" + /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
    expect(eff).toBe(unitCaps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c])), 0n));
    expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^NoNewPrivs:\s*1$/m);
    expect(sb.logOf(d!.name)).toMatch(/data-path thread \d+: real-time \(SCHED_RR 10\)/);
    // CAP_CHOWN: the FIFO it made is nobody's.
    expect([statSync(fifo).isFIFO(), statSync(fifo).uid]).toEqual([true, 65534]);
    // alpha: both servers out until their checks succeed — the script as nobody, ping.
    await sb.waitFor("both checks to succeed", () => (health(d!).match(/ UP /g) ?? []).length === 2, 20000)
      .catch((e) => { throw new Error(`${e.message}\n${health(d!)}\n${sb.logOf(d!.name)}`); });
    const r = sb.http(`http://${VIP}/`, { requests: 20, concurrency: 4 });
    expect(r.errors).toEqual([]);
    expect(new Set(r.bodies).size).toBe(2); // both servers answered

    // ExecReload: `wasmvs reload` under the same set.
    writeFileSync(file, config({ weight: 3, fifo }));
    const reload = sb.run(sb.director, [...limited(unitCaps), process.execPath, CLI, "reload", "--socket", socket()]);
    expect([reload.status, reload.stderr]).toEqual([0, ""]);
    expect(reload.stdout).toMatch(/weight/);
    await sb.waitFor("RELOADING=1 and READY=1", () => notify.got().length >= 3, 5000);
    expect(notify.got().slice(1, 3)).toEqual(["RELOADING=1\nSTATUS=reloading", expect.stringMatching(/^READY=1\nSTATUS=forwarding/)]);
    expect(d!.ipvsadm(["-L", "-n"]).stdout).toMatch(new RegExp(`-> ${serverAddress(0).replace(/\./g, "\\.")}:80\\s+Masq\\s+3 `));

    // KillSignal=SIGTERM: the table is left for the next start, which takes it over.
    expect(await stop(d!)).toMatch(/connection table \(\d+ entries\) left in .*control\.table for the next wasmvs run/);
    await sb.waitFor("STOPPING=1", () => notify.got().length >= 4, 5000);
    expect(notify.got()[3]).toMatch(/^STOPPING=1\n/);
    notify.stop();
    // The next start, logging to syslog (a socket of the test's for /dev/log): daemon.notice (29) for the takeover.
    const syslog = await datagramSink(join(sb.dir, "log.sock"));
    sinks.push(syslog);
    {
      const again = await start(unitCaps, file, { args: ["--log", "syslog", "--log-socket", syslog.path] });
      expect(again.d).toBeDefined();
      await sb.waitFor("the takeover's line", () => syslog.got().some((l) => l.includes("took over")), 5000);
      expect(syslog.got().find((l) => l.includes("took over"))).toMatch(
        new RegExp(`^<29>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d wasmvs\\[${again.pid}\\]: took over \\d+ of \\d+ connections from the previous process`));
      expect(syslog.got().find((l) => l.includes("real-time"))).toMatch(/^<30>.* wasmvs\[\d+\]: data-path thread \d+: real-time/); // daemon.info
      expect(sb.logOf(again.d!.name)).toBe(""); // nothing on stdout
      // The FIFO is nobody's now: root without CAP_DAC_OVERRIDE cannot open it for writing (the unit's comment says so).
      expect(syslog.got().find((l) => l.includes("notify FIFO"))).toMatch(/^<28>.* wasmvs\[\d+\]: notify FIFO .*notify\.fifo: not used: EACCES/);
      await stop(again.d!);
    }
  }, 180000);

  it("each capability is needed: without CAP_NET_ADMIN no start, CAP_SYS_NICE no real time, CAP_CHOWN the FIFO not given, CAP_KILL a script not killed, CAP_SETUID or CAP_NET_RAW checks failing", async () => {
    const file = join(sb.dir, "less.conf");
    writeFileSync(file, config());
    const noAdmin = await start(unitCaps.filter((c) => c !== "net_admin"), file);
    expect(noAdmin.d).toBeUndefined();
    expect(noAdmin.log).toMatch(sb.backend === "tap"
      ? /wasmvs: cannot .*TAP device wvo: Operation not permitted \(needs root or CAP_NET_ADMIN\)/
      : /wasmvs: cannot attach to device xo: .*: Operation not permitted \(needs root, or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON and CAP_IPC_LOCK/);
    // The rings' own: the XDP program (CAP_BPF, and CAP_PERFMON for its packet pointer arithmetic), the socket's locked
    // memory (CAP_IPC_LOCK), the AF_XDP socket (CAP_NET_RAW). On TAP none of the first three is needed (and without
    // CAP_NET_RAW only ping fails: below).
    for (const cap of sb.backend === "xdp" ? ["bpf", "perfmon", "ipc_lock", "net_raw"] : ["bpf", "perfmon", "ipc_lock"]) {
      const less = await start(unitCaps.filter((c) => c !== cap), file);
      if (sb.backend === "xdp") {
        expect([cap, less.d]).toEqual([cap, undefined]);
        // One line that names what is missing.
        expect(less.log).toMatch(/^wasmvs: cannot attach to device xo: .*(CAP_BPF|CAP_PERFMON|CAP_IPC_LOCK|CAP_NET_RAW|RLIMIT_MEMLOCK).*$/m);
      } else {
        expect([cap, less.d !== undefined]).toEqual([cap, true]);
        await stop(less.d!);
      }
    }

    const noNice = await start(unitCaps.filter((c) => c !== "sys_nice"), file);
    expect(sb.logOf(noNice.d!.name)).toMatch(/data-path thread \d+: default priority \(real-time refused: .*\)/);
    await stop(noNice.d!);

    // CAP_CHOWN: without it the FIFO stays root's, and the log says so.
    const fifo = join(sb.dir, "nochown.fifo");
    writeFileSync(file, config({ fifo }));
    const noChown = await start(unitCaps.filter((c) => c !== "chown"), file);
    expect(statSync(fifo).uid).toBe(0);
    expect(sb.logOf(noChown.d!.name)).toMatch(/warning: notify FIFO .*nochown\.fifo: not given to nobody: EPERM/);
    await stop(noChown.d!);

    // CAP_KILL: a script as nobody past its timeout is killed with it, and lives on without it.
    writeFileSync(file, config({ slow: true }));
    const withKill = await start(unitCaps, file);
    await sb.waitFor("the slow script", () => slowPid() !== undefined, 10000);
    const killed = slowPid()!;
    await sb.waitFor("it to be killed at its timeout", () => !alive(killed), 15000);
    await stop(withKill.d!);
    spawnSync("pkill", ["-u", "65534", "-f", `sleep ${SLOW}`]);
    const noKill = await start(unitCaps.filter((c) => c !== "kill"), file);
    await sb.waitFor("the slow script", () => slowPid() !== undefined, 10000);
    const kept = slowPid()!;
    await new Promise((r) => setTimeout(r, 5000)); // misc_timeout 1 s and the 1 s grace before SIGKILL, long past
    expect(alive(kept)).toBe(true);
    await stop(noKill.d!);
    spawnSync("pkill", ["-u", "65534", "-f", `sleep ${SLOW}`]);
    writeFileSync(file, config());

    // (On xdp the director cannot start without CAP_NET_RAW at all: above.)
    for (const [cap, kind] of [["setuid", "MISC_CHECK"], ...(sb.backend === "tap" ? [["net_raw", "PING_CHECK"]] : [])]) {
      const less = await start(unitCaps.filter((c) => c !== cap), file);
      await sb.waitFor(`${kind} to fail without ${cap}`, () => new RegExp(`-> ${kind}\\s+\\S+\\s+down\\s+failed: `).test(health(less.d!)), 20000);
      // The other checker still brings its server up: only this capability was missing.
      await sb.waitFor("the other server up", () => (health(less.d!).match(/ UP /g) ?? []).length === 1, 20000);
      await stop(less.d!);
    }
  }, 240000);
});
