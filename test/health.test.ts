// Health checking without sockets: keepalived's checker state machine, quorum with
// hysteresis, the overlay that decides what the engine holds, the keepalived.conf health
// keywords with their defaults and errors, and the service on a fake clock driving a real
// engine through the control state (probes faked, time faked, everything else real).

import { beforeAll, describe, it, expect } from "vitest";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckerState, QuorumState } from "../host/health/state.js";
import { effective, HealthView } from "../host/health/overlay.js";
import { CheckerConfig, TcpChecker } from "../host/config/health.js";
import { HealthService } from "../host/health/service.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { loadConfig } from "../host/control/load.js";
import { ControlState } from "../host/control/daemon.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { mismatches } from "../host/config/model.js";
import { applyConfig, DirectorConfig } from "../host/config/rules.js";
import { FakeClock } from "../host/io/clock.js";
import { loadEngine } from "../host/engine/node.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { trackedValue } from "../host/health/checkers/file.js";
import type { Outcome } from "../host/health/checkers/outcome.js";
import { NotifyFifos } from "../host/health/notify-fifo.js";
import { NOTICE } from "../host/io/log.js";
import { DIRECTOR_COMPACT as DIRECTOR, keepalivedFile, tempFolder } from "./helpers/files.js";

const tcp = (o: Partial<TcpChecker> = {}): TcpChecker => ({
  kind: "TCP_CHECK", where: { file: "f", line: 1, column: 1 }, connectIp: "10.1.0.11", connectPort: 80, connectTimeoutMs: 5000, retry: 1,
  delayBeforeRetryMs: 1000, delayLoopMs: 6000, warmupMs: 0, alpha: false, logAllFailures: false, ...o,
});
const ok = { ok: true, reason: "ok", latencyMs: 1 };
const bad = { ok: false, reason: "refused", latencyMs: 1 };

describe("a checker, as keepalived's tcp_epilog", () => {
  it("an up checker goes down after retry+1 consecutive failures, retrying after delay_before_retry", () => {
    const c = new CheckerState(tcp({ retry: 2 }));
    expect(c.record(ok, 0, 1)).toEqual({ nextMs: 6000, changed: false, weightChanged: false });
    expect(c.record(bad, 1, 1)).toMatchObject({ nextMs: 1000, changed: false });
    expect(c.record(bad, 2, 1)).toMatchObject({ nextMs: 1000, changed: false });
    expect(c.isUp).toBe(true);
    expect(c.record(bad, 3, 1)).toMatchObject({ nextMs: 6000, changed: true });
    expect(c.isUp).toBe(false);
    // Down: checked at delay_loop, no retries; one success brings it back.
    expect(c.record(bad, 4, 1)).toMatchObject({ nextMs: 6000, changed: false });
    expect(c.record(ok, 5, 1)).toMatchObject({ nextMs: 6000, changed: true });
    expect(c.isUp).toBe(true);
  });

  it("a success between failures starts the count again", () => {
    const c = new CheckerState(tcp({ retry: 1 }));
    c.record(ok, 0, 1);
    c.record(bad, 1, 1);
    c.record(ok, 2, 1);
    expect(c.record(bad, 3, 1).changed).toBe(false);
    expect(c.record(bad, 4, 1).changed).toBe(true);
  });

  it("at start, without alpha, the first failure takes the server down; with alpha it starts down and comes up on a success", () => {
    const plain = new CheckerState(tcp({ retry: 3 }));
    expect(plain.isUp).toBe(true);
    expect(plain.record(bad, 0, 1)).toMatchObject({ changed: true, nextMs: 6000 });
    const alpha = new CheckerState(tcp({ alpha: true, retry: 3 }));
    expect(alpha.isUp).toBe(false);
    expect(alpha.record(bad, 0, 1).changed).toBe(false);
    expect(alpha.record(ok, 1, 1).changed).toBe(true);
  });

  it("fast_recovery checks a down HTTP server after delay_before_retry; misc_dynamic sets the weight to exit-2", () => {
    const http = new CheckerState({ ...tcp({ retry: 0, delayBeforeRetryMs: 300 }), kind: "HTTP_GET", urls: [], httpProtocol: "1.0", fastRecovery: true, enableSni: false } as CheckerConfig);
    http.record(bad, 0, 1);
    expect(http.record(bad, 1, 1).nextMs).toBe(300);
    const misc = new CheckerState({ ...tcp(), kind: "MISC_CHECK", script: { argv: ["/bin/true"], where: { file: "f", line: 1, column: 1 } }, timeoutMs: 1000, dynamic: true } as CheckerConfig);
    expect(misc.record({ ...ok, weight: 7 }, 0, 3)).toMatchObject({ weightChanged: true });
    expect(misc.curWeight).toBe(4); // configured 3 + 4 = 7
    expect(misc.record(ok, 1, 3)).toMatchObject({ weightChanged: true });
    expect(misc.curWeight).toBe(0); // exit 0: the configured weight again
  });
});

describe("quorum, as keepalived's update_quorum_state", () => {
  it("is lost at 0 or below quorum - hysteresis and gained again at quorum + hysteresis", () => {
    const q = new QuorumState(4, 1, 6);
    expect(q.up).toBe(true);
    expect(q.update(3)).toBeUndefined(); // 3 >= 4-1
    expect(q.update(2)).toBe("lost");
    expect(q.update(4)).toBeUndefined(); // needs 4+1
    expect(q.update(5)).toBe("gained");
    expect(new QuorumState(1, 0, 0).up).toBe(false);
  });
});

const tmp = tempFolder("wasmvs-health-");
const keepalivedConf = keepalivedFile(tmp);

/** strict: --strict, where what keepalived carries on after (an unknown keyword) is an error. */
function conf(text: string, strict = false): DirectorConfig {
  return parseKeepalived(keepalivedConf(text), undefined, strict);
}

describe("keepalived.conf's health keywords", () => {
  it("inherit virtual_server -> real_server -> checker, with keepalived's per-checker defaults", () => {
    const cfg = conf(`virtual_server 10.0.0.100 80 {
  delay_loop 6
  retry 4
  lb_kind NAT
  real_server 10.1.0.11 80 {
    connect_timeout 0.2
    TCP_CHECK { connect_port 8080 }
    HTTP_GET { url { path /health
      status_code 200-299 302 }
      delay_before_retry 0.5 }
    MISC_CHECK { misc_path "/bin/check arg" }
    DNS_CHECK { name example.org
      type a }
  }
}`);
    const [t, h, m, d] = cfg.services[0].realServers[0].health!.checkers;
    expect(t).toMatchObject({ kind: "TCP_CHECK", connectIp: "10.1.0.11", connectPort: 8080, connectTimeoutMs: 200, delayLoopMs: 6000, retry: 4, delayBeforeRetryMs: 1000, warmupMs: 6000 });
    expect(h).toMatchObject({ kind: "HTTP_GET", connectPort: 80, delayBeforeRetryMs: 500, urls: [{ path: "/health", statusCodes: [[200, 299], [302, 302]] }] });
    expect(m).toMatchObject({ kind: "MISC_CHECK", retry: 4, timeoutMs: 6000, script: { argv: ["/bin/check", "arg"] } });
    expect(d).toMatchObject({ kind: "DNS_CHECK", type: "A", name: "example.org", delayBeforeRetryMs: 6000 });
    // Without a retry anywhere: MISC 0, DNS 3, others 1; delay_before_retry: HTTP 3 s, DNS delay_loop.
    const plain = conf(`virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 { MISC_CHECK { misc_path /bin/true }
    DNS_CHECK { }
    SSL_GET { url { path / } }
    SMTP_CHECK { host { connect_ip 10.1.0.21 }
      host { connect_ip 10.1.0.22
        connect_port 2525 } } }
}`).services[0].realServers[0].health!.checkers;
    expect(plain.map((c) => [c.kind, c.retry, c.delayBeforeRetryMs, c.delayLoopMs, c.connectTimeoutMs])).toEqual([
      ["MISC_CHECK", 0, 1000, 60000, 5000], ["DNS_CHECK", 3, 60000, 60000, 5000], ["SSL_GET", 1, 3000, 60000, 5000],
      ["SMTP_CHECK", 1, 1000, 60000, 5000], ["SMTP_CHECK", 1, 1000, 60000, 5000],
    ]);
    expect(plain.slice(3).map((c) => `${c.connectIp}:${c.connectPort}`)).toEqual(["10.1.0.21:80", "10.1.0.22:2525"]);
  });

  it("every error with file:line:column and keyword, all of them at once; unknown keywords suggested; none ignored", () => {
    let err: Error | undefined;
    try {
      conf(`virtual_server 10.0.0.100 80 {
  quorum 0
  ha_suspend
  real_server 10.1.0.11 80 {
    TCP_CHECK { conect_timeout 3 }
    HTTP_GET { url { digest 1234 } }
    MISC_CHECK { misc_timeout 2 }
    UDP_CHECK { payload xyz }
    HTTP_GET { url { path / }
      http_protocol 0.9 }
    FILE_CHECK { track_file nosuch }
    BFD_CHECK { }
    SSL_GET { url { path /
      regex ( } }
    TCP_CHECK { delay_loop 0.001 }
    notify_up relative/script.sh
  }
}`, true);
    } catch (e) {
      err = e as Error;
    }
    const lines = err!.message.split("\n").map((l) => l.replace(/^.*keepalived\.conf:/, ""));
    expect(lines).toEqual([
      "12 errors:",
      "8:10: '0': quorum must be a whole number from 1 to 2147483647",
      "9:3: 'ha_suspend': ha_suspend (checks paused while this director does not hold the virtual address) is not supported by wasmvs yet",
      "11:17: 'conect_timeout': unknown keyword in TCP_CHECK (did you mean 'connect_timeout'?)",
      "12:29: '1234': a digest is 32 hexadecimal digits (the MD5 of the page, as genhash prints it)",
      "13:5: 'MISC_CHECK': MISC_CHECK needs misc_path",
      "14:25: 'xyz': payload must be hexadecimal bytes (at most 1400)",
      "16:21: '0.9': HTTP/0.9 is not supported by wasmvs (its checker speaks HTTP/1.1 with Connection: close)",
      "17:29: 'nosuch': no track_file block named nosuch",
      "18:5: 'BFD_CHECK': BFD checking is not supported by wasmvs yet",
      "20:13: '(': not a regular expression (RE2 syntax): missing closing ): `(`",
      "21:28: '0.001': delay_loop must be between 0.01 and 86400 seconds",
      "22:15: 'relative/script.sh': a script needs an absolute path",
    ]);
  });

  it("global_defs: scripts, mail, tracked files; sorry_server, quorum scripts, inhibit, alpha", () => {
    const cfg = conf(`global_defs {
  router_id LVS1
  notification_email { ops@example.org
    oncall@example.org }
  notification_email_from lvs@example.org
  smtp_server 10.1.0.25 2525
  smtp_connect_timeout 3
  script_user nobody
  enable_script_security
}
track_file maint { file /run/maint
  weight -10 reverse }
virtual_server 10.0.0.100 80 {
  quorum 3
  hysteresis 1
  quorum_up "/bin/echo up"
  quorum_down "/bin/echo down"
  sorry_server 10.1.0.99 80
  sorry_server_inhibit
  inhibit_on_failure
  alpha
  real_server 10.1.0.11 80 {
    weight 2
    notify_down "/bin/echo gone"
    FILE_CHECK { track_file maint }
    TCP_CHECK { }
  }
}`);
    expect(cfg.health).toMatchObject({ routerId: "LVS1", notificationEmail: ["ops@example.org", "oncall@example.org"], notificationEmailFrom: "lvs@example.org",
      smtpServer: { host: "10.1.0.25", port: 2525 }, smtpConnectTimeoutMs: 3000, scriptUser: { user: "nobody" }, enableScriptSecurity: true });
    const s = cfg.services[0];
    expect(s.health).toMatchObject({ quorum: 3, hysteresis: 1, quorumUp: { argv: ["/bin/echo", "up"] }, quorumDown: { argv: ["/bin/echo", "down"] },
      sorry: { address: "10.1.0.99", port: 80, method: "nat", inhibit: true } });
    const rs = s.realServers[0];
    expect(rs.health).toMatchObject({ inhibit: true, notifyDown: { argv: ["/bin/echo", "gone"] }, smtpAlert: true });
    expect(rs.health!.checkers.map((c) => [c.kind, c.alpha])).toEqual([["FILE_CHECK", false], ["TCP_CHECK", true]]);
    expect(rs.health!.checkers[0]).toMatchObject({ path: "/run/maint", weight: -10, reverse: true });
  });
});

describe("the overlay: what the engine holds", () => {
  // Written in beforeAll: the temporary folder exists only from its own beforeAll on.
  let cfg: DirectorConfig;
  beforeAll(() => { cfg = conf(`virtual_server 10.0.0.100 80 {
  sorry_server 10.1.0.99 80
  real_server 10.1.0.11 80 { weight 3
    TCP_CHECK { } }
  real_server 10.1.0.12 80 { weight 2
    inhibit_on_failure
    TCP_CHECK { } }
}`); });
  const view = (states: Record<string, { alive: boolean; add: number }>, quorum?: boolean): HealthView => ({
    server: (_s, r) => states[r], quorumUp: () => quorum,
  });
  const servers = (c: DirectorConfig) => c.services[0].realServers.map((r) => `${r.address} w${r.weight}`);

  it("down servers leave (or stay at weight 0 with inhibit_on_failure); alive ones take their checked weight", () => {
    expect(servers(effective(cfg))).toEqual(["10.1.0.11 w3", "10.1.0.12 w2"]);
    expect(servers(effective(cfg, view({ "10.1.0.11:80": { alive: false, add: 0 }, "10.1.0.12:80": { alive: false, add: 0 } }, true))))
      .toEqual(["10.1.0.12 w0"]);
    expect(servers(effective(cfg, view({ "10.1.0.11:80": { alive: true, add: 6 } }, true)))).toEqual(["10.1.0.11 w9", "10.1.0.12 w2"]);
  });

  it("quorum lost: the sorry server replaces the alive servers; a virtual server with no real server gets it at once", () => {
    expect(servers(effective(cfg, view({ "10.1.0.11:80": { alive: false, add: 0 } }, false)))).toEqual(["10.1.0.12 w0", "10.1.0.99 w1"]);
    const empty = conf(`virtual_server 10.0.0.100 80 {
  sorry_server 10.1.0.99 8080
}`);
    expect(servers(effective(empty))).toEqual(["10.1.0.99 w1"]);
  });

  it("a tracked file's number, read as strtol reads it", () => {
    const dir = tmp.path();
    const f = (text: string) => trackedValue(tmp.write("v", text));
    expect([f("12\n"), f("-3"), f("0x1f"), f("010"), f("junk"), f(""), trackedValue(join(dir, "missing"))]).toEqual([12, -3, 31, 8, 0, 0, 0]);
  });
});

/** A director with health checking on a fake clock: probes answer from `answers`. */
async function director(text: string, fifos?: NotifyFifos) {
  let fileText = text;
  const load = () => conf(fileText);
  const cfg = load();
  const engine = await loadEngine({ batch: 16, connCapacity: 1024 });
  applyConfig(engine, effective(cfg));
  const adapter = new LocalEngine(engine, () => 0);
  const logs: string[] = [];
  const state = new ControlState(adapter, cfg, load, (l) => logs.push(l));
  const clock = new FakeClock();
  const answers = new Map<string, Outcome>();
  const probed: string[] = [];
  const health = new HealthService({
    clock, log: (l) => logs.push(l), refresh: (services) => state.refresh(services), random: () => 0, fifos,
    probe: async (c) => { probed.push(`${c.kind} ${c.connectIp}`); return answers.get(c.connectIp) ?? { ok: true, reason: "fine" }; },
  });
  health.reconcile(cfg);
  // As the director does: an ipvsadm command names the services it changed (reconcile follows those only).
  state.follow(health, (c, services) => health.reconcile(c, services));
  const settle = async () => { for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); };
  return {
    engine, state, clock, answers, probed, logs, health,
    setFile: (t: string) => { fileText = t; },
    /** Advance time in steps, letting probes and refreshes finish between them. */
    async run(ms: number, step = 100) {
      for (let t = 0; t < ms; t += step) {
        clock.advance(step);
        await settle();
      }
    },
    servers: async () => (await adapter.snapshot()).services[0].realServers.map((r) => `${r.address} w${r.weight}`).sort(),
    drift: async () => mismatches(state.inEngine, await adapter.snapshot()),
  };
}

const TWO = `virtual_server 10.0.0.100 80 {
  lb_algo rr
  real_server 10.1.0.11 80 { weight 2
    TCP_CHECK { delay_loop 1
      connect_timeout 0.2
      retry 2
      delay_before_retry 0.5 } }
  real_server 10.1.0.12 80 {
    TCP_CHECK { delay_loop 1 } }
}`;

describe("the health service on a fake clock, driving a real engine", () => {
  it("a failing server leaves after retry+1 checks and comes back with its weight; the engine always matches", async () => {
    const d = await director(TWO);
    await d.run(1500);
    expect(await d.servers()).toEqual(["10.1.0.11 w2", "10.1.0.12 w1"]);
    d.answers.set("10.1.0.11", { ok: false, reason: "connection refused (ECONNREFUSED)" });
    const start = d.probed.length;
    // A failure at the next check, retries at +0.5 s and +1 s: gone on the third.
    await d.run(1000);
    expect(await d.servers()).toEqual(["10.1.0.11 w2", "10.1.0.12 w1"]);
    await d.run(1100);
    expect(await d.servers()).toEqual(["10.1.0.12 w1"]);
    expect(d.probed.slice(start).filter((p) => p.endsWith("10.1.0.11")).length).toBe(3);
    expect(d.logs.some((l) => l.includes("Removing real server 10.1.0.11:80 from tcp 10.0.0.100:80: connection refused"))).toBe(true);
    expect(d.health.views()[0]).toMatchObject({ alive: false, reason: "connection refused (ECONNREFUSED)" });
    d.answers.delete("10.1.0.11");
    await d.run(1100);
    expect(await d.servers()).toEqual(["10.1.0.11 w2", "10.1.0.12 w1"]);
    expect(await d.drift()).toEqual([]);
  });

  it("a reload or an ipvsadm edit never revives a dead server (keepalived issues #1720, #608)", async () => {
    const d = await director(TWO);
    d.answers.set("10.1.0.12", { ok: false, reason: "timed out" });
    await d.run(2000);
    expect(await d.servers()).toEqual(["10.1.0.11 w2"]);
    // The file changes the other server's weight; the dead one stays out.
    d.setFile(TWO.replace("weight 2", "weight 5"));
    await d.state.reloadFile();
    expect(await d.servers()).toEqual(["10.1.0.11 w5"]);
    // An operator's -e on the dead server changes its configured weight, not its health.
    await d.state.applyCommands([parseArgs("-e -t 10.0.0.100:80 -r 10.1.0.12:80 -m -w 4".split(" "))]);
    expect(await d.servers()).toEqual(["10.1.0.11 w5"]);
    d.answers.delete("10.1.0.12");
    await d.run(1100);
    expect(await d.servers()).toEqual(["10.1.0.11 w5", "10.1.0.12 w4"]);
    expect(await d.drift()).toEqual([]);
  });

  it("ipvsadm commands on a checked service: the checkers follow the servers it changed only (-d stops one, -a adds one in file order, -e keeps state)", async () => {
    const d = await director(TWO + "\nvirtual_server 10.0.0.100 81 {\n  real_server 10.1.0.13 81 { TCP_CHECK { delay_loop 1 } }\n}");
    d.answers.set("10.1.0.12", { ok: false, reason: "timed out" });
    await d.run(2000);
    const names = () => d.health.views().map((v) => `${v.service} ${v.server} ${v.alive ? "up" : "down"}`);
    expect(names()).toEqual(["tcp 10.0.0.100:80 10.1.0.11:80 up", "tcp 10.0.0.100:80 10.1.0.12:80 down", "tcp 10.0.0.100:81 10.1.0.13:81 up"]);
    // -e on the dead server: still down, its checker the same one (no new first check).
    await d.state.applyCommands([parseArgs("-e -t 10.0.0.100:80 -r 10.1.0.12:80 -m -w 4".split(" "))]);
    expect(names()).toEqual(["tcp 10.0.0.100:80 10.1.0.11:80 up", "tcp 10.0.0.100:80 10.1.0.12:80 down", "tcp 10.0.0.100:81 10.1.0.13:81 up"]);
    // -d: its checker stops (no more probes of it), its view goes.
    await d.state.applyCommands([parseArgs("-d -t 10.0.0.100:80 -r 10.1.0.11:80".split(" "))]);
    expect(names()).toEqual(["tcp 10.0.0.100:80 10.1.0.12:80 down", "tcp 10.0.0.100:81 10.1.0.13:81 up"]);
    const from = d.probed.length;
    await d.run(2100);
    expect(d.probed.slice(from).some((p) => p.endsWith("10.1.0.11"))).toBe(false);
    expect(d.probed.slice(from).some((p) => p.endsWith("10.1.0.13"))).toBe(true);
    // -a: a server without a checker, always in the pool, listed where the configuration has it.
    await d.state.applyCommands([parseArgs("-a -t 10.0.0.100:80 -r 10.1.0.14:80 -m".split(" "))]);
    expect(names()).toEqual(["tcp 10.0.0.100:80 10.1.0.12:80 down", "tcp 10.0.0.100:80 10.1.0.14:80 up", "tcp 10.0.0.100:81 10.1.0.13:81 up"]);
    expect(await d.servers()).toEqual(["10.1.0.14 w1"]);
    expect(await d.drift()).toEqual([]);
  });

  it("all servers down: quorum lost, the sorry server answers; back: it leaves", async () => {
    const d = await director(TWO.replace("lb_algo rr", "lb_algo rr\n  sorry_server 10.1.0.99 80"));
    d.answers.set("10.1.0.11", { ok: false, reason: "refused" });
    d.answers.set("10.1.0.12", { ok: false, reason: "refused" });
    await d.run(3000);
    expect(await d.servers()).toEqual(["10.1.0.99 w1"]);
    expect(d.logs.some((l) => l.startsWith(NOTICE + "Lost quorum 1-0 (live weight 0) for tcp 10.0.0.100:80: adding sorry server 10.1.0.99:80"))).toBe(true);
    d.answers.delete("10.1.0.12");
    await d.run(1100);
    expect(await d.servers()).toEqual(["10.1.0.12 w1"]);
    expect(await d.drift()).toEqual([]);
  });

  it("lvs_notify_fifo: keepalived's RS and VS lines for each server and quorum change", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-lvsfifo-"));
    const path = join(dir, "lvs.fifo");
    const fifos = new NotifyFifos([{ kind: "lvs", path }], () => {});
    fifos.open();
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const d = await director(TWO, fifos);
      await d.run(1500);
      d.answers.set("10.1.0.11", { ok: false, reason: "refused" });
      d.answers.set("10.1.0.12", { ok: false, reason: "refused" });
      await d.run(3000);
      d.answers.delete("10.1.0.12");
      await d.run(1100);
      const buf = Buffer.alloc(4096);
      expect(buf.subarray(0, readSync(fd, buf)).toString().split("\n").filter(Boolean)).toEqual([
        // (The servers start up, without alpha: no line until a change.)
        "RS [10.1.0.12]:tcp:80 [10.0.0.100]:tcp:80 DOWN", "RS [10.1.0.11]:tcp:80 [10.0.0.100]:tcp:80 DOWN", "VS [10.0.0.100]:tcp:80 DOWN",
        "RS [10.1.0.12]:tcp:80 [10.0.0.100]:tcp:80 UP", "VS [10.0.0.100]:tcp:80 UP"]);
    } finally {
      closeSync(fd);
      fifos.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("alpha: a server starts out of the pool and joins at its first success", async () => {
    const d = await director(TWO.replace("TCP_CHECK { delay_loop 1 }", "TCP_CHECK { delay_loop 1\n alpha }"));
    expect(await d.servers()).toEqual(["10.1.0.11 w2"]);
    await d.run(1100);
    expect(await d.servers()).toEqual(["10.1.0.11 w2", "10.1.0.12 w1"]);
  });

  it("a refused reload leaves every checker as it was; stop cancels every timer", async () => {
    const d = await director(TWO);
    await d.run(1100);
    d.setFile(TWO + "\nvirtual_server 10.0.0.101 80 { real_server 10.1.0.13 80 { TCP_CHECK { connect_port 99999 } } }");
    await expect(d.state.reloadFile()).rejects.toThrow();
    expect(d.health.views().length).toBe(2);
    await d.health.stop();
    expect(d.clock.pending).toBe(0);
  });
});

describe("checked like a real server", () => {
  it("a sorry server that is the VIP is refused with its keyword; FILE_CHECK is read every second at most, without retries", () => {
    const p = tmp.write("sorry/k.conf", DIRECTOR + "virtual_server 10.0.0.100 80 {\n  sorry_server 10.0.0.100 80\n}\n");
    expect(() => loadConfig(p)).toThrow(/k\.conf:8:16: '10\.0\.0\.100': real server 10\.0\.0\.100 is a virtual address of this director/);
    const cfg = conf(`track_file m { file /run/m }
virtual_server 10.0.0.100 80 {
  retry 5
  real_server 10.1.0.11 80 { FILE_CHECK { track_file m } }
}`);
    const fc = cfg.services[0].realServers[0].health!.checkers[0];
    expect(fc).toMatchObject({ kind: "FILE_CHECK", retry: 0, warmupMs: 0, delayLoopMs: 60000 });
    const st = new CheckerState(fc);
    expect(st.record({ ok: false, reason: "x", latencyMs: 0 }, 0, 1)).toMatchObject({ nextMs: 1000, changed: true });
  });
});

describe("keywords a checker kind does not take are refused, as keepalived does", () => {
  it("MISC_CHECK has no connection keywords, FILE_CHECK no common ones; bind_port where the library cannot honour it", () => {
    let err: Error | undefined;
    try {
      conf(`track_file m { file /run/m }
virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 {
    MISC_CHECK { misc_path /bin/true
      connect_timeout 3 }
    FILE_CHECK { track_file m
      delay_loop 2 }
    DNS_CHECK { bind_port 5353 }
    SMTP_CHECK { host { bind_port 2525 } }
    TCP_CHECK { nb_get_retry 2 }
  }
}`, true);
    } catch (e) {
      err = e as Error;
    }
    const lines = err!.message.split("\n").slice(1).map((l) => l.replace(/^.*keepalived\.conf:/, ""));
    expect(lines).toEqual([
      "11:7: 'connect_timeout': unknown keyword in MISC_CHECK",
      "13:7: 'delay_loop': unknown keyword in FILE_CHECK",
      "14:17: 'bind_port': bind_port is not supported by wasmvs for DNS_CHECK (Node's resolver chooses its source port; bindto works)",
      "15:25: 'bind_port': bind_port is not supported by wasmvs for SMTP_CHECK (its SMTP client chooses its source port; bindto works)",
      "16:17: 'nb_get_retry': unknown keyword in TCP_CHECK",
    ]);
  });
});
