// The director as a process, tried as an attacker and a careless operator would
// (issue 8): forwarding goes on while the control plane chews on a pathological reload
// or lists a huge table; the control socket is per network namespace, refuses a second
// director and strangers; output piped into another program arrives whole; a flood of
// idle metrics connections takes nothing down; errors are one clear line.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, ROOT, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

const CLI = join(ROOT, "bin", "wasmvs.js");

e2eDescribe("the director process: isolation, hygiene, bounds", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const config = (extra = "") => sb.keepalivedConfig([
    { protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 },
    { protocol: "udp", port: 53, scheduler: "rr" },
  ], extra);

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080], udpPorts: [53] });
    await sb.startServers();
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  async function restart(text: string, socket?: string): Promise<Director> {
    if (director) await director.stop();
    director = undefined;
    director = await sb.startDirector(text, socket);
    return director;
  }

  /** Run the wasmvs CLI in a namespace; stdout to a file when it is large. */
  const cli = (ns: string, args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync("ip", ["netns", "exec", ns, "env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args],
      { encoding: "utf8", timeout: 120000, maxBuffer: 256 << 20 });
    return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };

  it("forwarding goes on while a pathological reload, a listing of 60,000 connections and a 100 MB control line run (was: 14 s, 0.95 s, 84 s at 5%)", async () => {
    const d = await restart(config());
    // 60,000 UDP connections: hping3 counts its source port up by one per datagram.
    const flood = sb.run(sb.client, ["hping3", "-2", "-p", "53", "-s", "2000", "-c", "60000", "-i", "u20", "-q", VIP], 120000);
    expect(flood.stdout + flood.stderr).toContain("60000 packets transmitted");
    const conns = (await d.freshStatus()).connections;
    expect(conns).toBeGreaterThan(50000);
    // A reload that parses 2 MB (450,000 words, near the bound) on the control plane before it finds the error at the end.
    const base = config();
    const huge = base.replace(`virtual_server ${VIP} 80 {`, `virtual_server ${VIP} 80 {\n${"  lb_algo rr\n".repeat(150_000)}`) + "director {\n}\n"; // refused (an unknown keyword would be ignored, as keepalived does)
    writeFileSync(d.configPath, huge);
    const client = sb.httpInBackground(`http://${VIP}/`, { requests: 200000, concurrency: 4, times: true, durationMs: 60000 }, "load");
    await sb.waitFor("the load to start", () => (d.status().services.find((s) => s.port === 80)?.stats.conns ?? 0) > 50);
    const windows: { what: string; from: number; to: number }[] = [];
    for (let k = 0; k < 3; k++) {
      const from = Date.now();
      const r = cli(sb.director, ["reload", "--socket", d.socket]);
      windows.push({ what: "reload", from, to: Date.now() });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/reload refused, the running configuration stays: .*'director': a second director block/);
    }
    const listing = join(sb.dir, "listing.txt");
    for (let k = 0; k < 2; k++) {
      const from = Date.now();
      const r = spawnSync("sh", ["-c", `"${process.execPath}" "${CLI}" -L -n -c > "${listing}"`], { env: { ...process.env, WASMVS_SOCKET: d.socket }, timeout: 120000 });
      windows.push({ what: "listing", from, to: Date.now() });
      expect(r.status).toBe(0);
    }
    expect(readFileSync(listing, "utf8").split("\n").length).toBeGreaterThan(conns);
    // A 100 MB control line (was: throughput cut to 5% for 84 s, RSS 62 -> 459 MB for good).
    const huge100 = `
      const s = require("net").connect(process.argv[1]); let sent = 0, reply = "";
      const chunk = Buffer.alloc(1 << 20, 0x61);
      const more = () => { while (sent < 100 && s.write(chunk)) sent++; if (sent < 100) s.once("drain", () => { sent++; more(); }); };
      s.on("connect", more); s.on("data", (d) => { reply += d; }); s.on("error", () => {});
      s.on("close", () => { console.log(JSON.stringify({ sentMB: sent, reply: reply.trim() })); });`;
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.proc.pid}/status`, "utf8"))![1]) / 1024;
    const rssBefore = rss();
    const fromHuge = Date.now();
    const big = spawnSync(process.execPath, ["-e", huge100, d.socket], { encoding: "utf8", timeout: 60000 });
    windows.push({ what: "100 MB control line", from: fromHuge, to: Date.now() });
    const bigOut = JSON.parse(big.stdout.trim());
    expect(JSON.parse(bigOut.reply)).toMatchObject({ ok: false, error: "request too long (over 8388608 bytes): refused" });
    expect(bigOut.sentMB).toBeLessThan(100); // cut off, not read to the end
    expect(rss() - rssBefore).toBeLessThan(64); // and not kept
    client.kill("SIGTERM"); // it finishes what is in flight and reports
    await sb.waitFor("the load's report", () => client.exitCode !== null, 30000);
    const out = JSON.parse(sb.logOf("load").trim().split("\n").pop()!) as { bodies: string[]; errors: string[]; times: number[] };
    expect(out.errors).toEqual([]);
    // Requests were answered inside every window in which the control plane was busy.
    for (const w of windows) {
      const inside = out.times.filter((t) => t >= w.from && t <= w.to).length;
      expect(inside, `${w.what} from ${w.from} to ${w.to} (${w.to - w.from} ms)`).toBeGreaterThan(0);
    }
    // The huge file was never applied: the table is as it was.
    expect(d.ipvsadm(["-L", "-n"]).stdout).toContain(`TCP  ${VIP}:80 rr`);
  }, 240000);

  it("the default socket is per network namespace: wasmvs -L reaches this namespace's director and no other", async () => {
    await restart(config(), "default");
    const here = cli(sb.director, ["-L", "-n"]);
    expect(here.stderr).toBe("");
    expect(here.stdout).toContain(`TCP  ${VIP}:80 rr`);
    const ino = (ns: string) => spawnSync("ip", ["netns", "exec", ns, "stat", "-L", "-c", "%i", "/proc/self/ns/net"], { encoding: "utf8" }).stdout.trim();
    const elsewhere = cli(sb.client, ["-L", "-n"]);
    expect(elsewhere.status).toBe(2);
    expect(elsewhere.stderr).toBe(`Can't initialize ipvs: no wasmvs director is running on /run/wasmvs/net-${ino(sb.client)}.sock ` +
      "(start one with wasmvs run --config FILE, or point WASMVS_SOCKET at its socket)\n");
    expect(statSync(`/run/wasmvs/net-${ino(sb.director)}.sock`).mode & 0o777).toBe(0o600);
  });

  it("a second director on the same socket or the same interfaces refuses to start and leaves the first one alone", async () => {
    const d = await restart(config());
    const second = cli(sb.director, ["run", "--config", d.configPath, "--socket", d.socket]);
    expect(second.status).toBe(1);
    expect(second.stderr).toBe(`wasmvs: control socket ${d.socket}: another wasmvs director is running there (stop it first, or use --socket)\n`);
    // On another socket but the same TAPs or NICs: refused too, the live director's untouched.
    const sameTaps = cli(sb.director, ["run", "--config", d.configPath, "--socket", join(sb.dir, "other.sock")]);
    expect(sameTaps.status).toBe(1);
    expect(sameTaps.stderr).toMatch(sb.backend === "tap"
      ? /^wasmvs: cannot attach TAP device wvo: Device or resource busy \(the device is in use by another process\)\n$/
      : /^wasmvs: cannot attach to device xo: [^\n]*: Device or resource busy \(another XDP program is attached to the device: another wasmvs, or another XDP user\)\n$/);
    expect(d.ipvsadm(["-L", "-n"]).stdout).toContain(`TCP  ${VIP}:80 rr`);
    expect(sb.http(`http://${VIP}/`, { requests: 6 }).errors).toEqual([]);
  });

  it("strangers are refused: EACCES at the socket's mode, and SO_PEERCRED when the mode lets them in", async () => {
    const open = join(sb.dir, "open");
    mkdirSync(open, { mode: 0o755 });
    chmodSync(sb.dir, 0o755);
    const d = await restart(config(), join(open, "control.sock"));
    const nobody = (args: string[]) => spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI, ...args],
      { encoding: "utf8", env: { ...process.env, WASMVS_SOCKET: d.socket }, timeout: 30000 });
    const probe = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", `require("fs").accessSync(${JSON.stringify(CLI)})`]);
    if (probe.status !== 0) throw new Error(`this test runs wasmvs as nobody: ${CLI} must be readable by every user`);
    const denied = nobody(["-L", "-n"]);
    expect(denied.status).toBe(2);
    expect(denied.stderr).toBe(`Can't initialize ipvs: permission denied on ${d.socket} (the control socket takes root, the daemon's user or its control_group)\n`);
    chmodSync(d.socket, 0o666); // a careless operator
    const refused = nobody(["-C"]);
    expect(refused.stderr).toBe("Permission denied: the control socket takes root, the daemon's user or its control_group\n");
    expect(d.ipvsadm(["-L", "-n"]).stdout).toContain(`TCP  ${VIP}:80 rr`); // -C did nothing
  });

  it("a 190 KB table piped into another program arrives whole (was: cut at 64 KB, exit 0)", async () => {
    const d = await restart(config());
    const rules = [];
    for (let s = 0; s < 200; s++) {
      rules.push(`-A -t 10.0.0.${10 + s}:${1000 + s} -s wrr`);
      for (let r = 0; r < 18; r++) rules.push(`-a -t 10.0.0.${10 + s}:${1000 + s} -r 10.1.0.${20 + r}:${2000 + s} -m -w ${r}`);
    }
    const restore = spawnSync(process.execPath, [CLI, "-R"], { input: rules.join("\n") + "\n", encoding: "utf8", env: { ...process.env, WASMVS_SOCKET: d.socket } });
    expect(restore.stderr).toBe("");
    const piped = spawnSync("sh", ["-c", `"${process.execPath}" "${CLI}" -S -n | cat`], { encoding: "utf8", env: { ...process.env, WASMVS_SOCKET: d.socket }, maxBuffer: 64 << 20 });
    expect(piped.status).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(150_000);
    const lines = piped.stdout.trim().split("\n");
    expect(lines.length).toBe(2 + 6 + 200 * 19); // the sandbox's 2 services with 3 servers each, and the 200 restored
    for (const l of lines) expect(l).toMatch(/^-[Aa] -[tu] /);
  });

  it("20,000 idle metrics connections take nothing down: the control socket, reloads and scrapes go on", async () => {
    const d = await restart(config("  metrics 127.0.0.1:9123\n"));
    // Hold idle connections open from the director's namespace and report how many the director closed.
    const script = `
      const net = require("net"); let open = 0, closed = 0, failed = 0; const socks = [];
      const done = () => { console.log(JSON.stringify({ open, closed, failed })); for (const s of socks) s.destroy(); process.exit(0); };
      let started = 0;
      const more = () => { for (let i = 0; i < 500 && started < 20000; i++, started++) {
        const s = net.connect(9123, "127.0.0.1"); socks.push(s);
        s.on("connect", () => { s.up = true; open++; }); s.on("close", () => closed++); s.on("error", () => { if (!s.up) failed++; }); }
        if (started < 20000) setTimeout(more, 5); else setTimeout(poke, 3000); };
      // After 3 s idle (the control socket and a reload are tried meanwhile), one line on every
      // connection still open. On a loaded machine the listener's accept queue overflows and
      // the kernel drops the handshake's last ACK (tcp_abort_on_overflow=0): this side thinks
      // it is connected, the director never saw it, and it would stay open for ever. The line
      // makes each of those end (reset, or accepted now and shut by the director as any other).
      const poke = () => { for (const s of socks) if (s.up && !s.destroyed) s.write("\\r\\n"); settle(Date.now()); };
      const settle = (t0) => (closed > 19000 || Date.now() - t0 > 30000) ? setTimeout(done, 200) : setTimeout(() => settle(t0), 100);
      more();`;
    const flood = sb.spawn(sb.director, [process.execPath, "-e", script], "flood");
    await new Promise((r) => setTimeout(r, 1500));
    // While the flood holds its connections: the control socket and a reload still work.
    expect(d.ipvsadm(["-L", "-n"]).stdout).toContain(`TCP  ${VIP}:80 rr`);
    expect(cli(sb.director, ["reload", "--socket", d.socket]).status).toBe(0);
    await sb.waitFor("the flood to finish", () => flood.exitCode !== null, 60000);
    const r = JSON.parse(sb.logOf("flood").trim().split("\n").pop()!);
    expect(r.open + r.failed).toBe(20000);
    expect(r.closed).toBeGreaterThan(19000); // all but the few the endpoint serves at once were shut by it
    const scrape = sb.run(sb.director, ["curl", "-s", "-m", "5", "http://127.0.0.1:9123/metrics"]);
    expect(scrape.stdout).toMatch(/^node_ipvs_connections_total \d+$/m);
    expect(scrape.stdout).toMatch(/^wasmvs_process_cpu_seconds_total /m);
    expect(scrape.stdout).toMatch(/^wasmvs_control_timer_lag_seconds /m);
    expect(d.proc.exitCode).toBeNull();
    expect((await d.freshStatus()).services.length).toBe(2);
  }, 120000);

  it("errors are one clear line: a busy metrics port refuses the start, a missing bridge or device, no daemon", async () => {
    if (director) await director.stop();
    director = undefined;
    const port = sb.spawn(sb.director, [process.execPath, "-e", "require('net').createServer().listen(9124, '127.0.0.1', () => console.log('listening'))"], "squatter");
    await sb.waitFor("the squatter", () => sb.logOf("squatter").includes("listening"));
    const file = join(sb.dir, "busy.conf");
    writeFileSync(file, config("  metrics 127.0.0.1:9124\n"));
    const busy = cli(sb.director, ["run", "--config", file, "--socket", join(sb.dir, "busy.sock")]);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toBe("wasmvs: metrics on 127.0.0.1:9124: the port is in use\n");
    await sb.stop("squatter");
    if (sb.backend === "tap") {
      expect(sb.run(sb.director, ["ip", "link", "show", "wvo"]).stderr).toMatch(/does not exist/); // its TAPs went with it
      writeFileSync(file, config().replace("bridge bo", "bridge nosuchbr"));
      const bridge = cli(sb.director, ["run", "--config", file, "--socket", join(sb.dir, "busy.sock")]);
      expect(bridge.status).toBe(1);
      expect(bridge.stderr).toMatch(/^wasmvs: ip link set dev wvo master nosuchbr: .+\n$/);
    } else {
      // Its XDP program went with it, and a device that is not there is named.
      expect(sb.run(sb.director, ["ip", "-d", "link", "show", "xo"]).stdout).not.toMatch(/\bxdp/);
      writeFileSync(file, config().replace("device xo", "device nosuchdev"));
      const missing = cli(sb.director, ["run", "--config", file, "--socket", join(sb.dir, "busy.sock")]);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toMatch(/^wasmvs: [^\n]*\bnosuchdev\b[^\n]*\n$/);
    }
    const none = cli(sb.director, ["reload", "--socket", join(sb.dir, "nobody-here.sock")]);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe(`wasmvs: no wasmvs director is running here (control socket ${join(sb.dir, "nobody-here.sock")} not found): ` +
      "start one with `wasmvs run --config FILE`, or name its socket with --socket or WASMVS_SOCKET\n");
  });
});
