// Bounded in every input, also for unprivileged users (issue 16), end to end: the director in
// namespaces with metrics, a metrics_scraper and the dashboard; local users with no privilege
// (setpriv --reuid) hold and re-open idle sockets and event streams that never read; the
// configured Prometheus (another host on the servers' segment) scrapes, root loads the page.
// Health checks against hostile servers: one whose HTTP body makes ^(a+)+$ backtrack for ever
// in JavaScript's engine, one whose SMTP greeting clears the screen, retitles the window and
// rings the bell — each down with a readable reason, nothing of theirs printed raw.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync, type ChildProcess } from "node:child_process";
import { CHECK_SOURCE, Director, Sandbox, serverAddress, VIP, ROOT } from "../../host/sandbox/sandbox.js";
import { join } from "node:path";
import { e2eDescribe } from "./e2e.js";

const METRICS = `${CHECK_SOURCE}:9102`;
const DASHBOARD = "127.0.0.1:8089";
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** A user's connections: count of them to host:port, each re-opened when the director closes
 *  it (200 ms later when closed at accept, i.e. within 2.5 s: the idle timeout is 5 s), for holdMs. idle: never sends; sse: asks for the
 *  event stream, reads the status line, then reads nothing. Prints "ready", then at the end
 *  {refused, lifetimes (ms of each accepted connection the director closed), statuses}. */
const HOLDER = `
const net = require("net");
const [mode, host, port, count, holdMs] = process.argv.slice(1);
const start = Date.now();
const out = { refused: 0, lifetimes: [], statuses: {} };
function open() {
  if (Date.now() - start > +holdMs - 500) return;
  const t0 = Date.now();
  const s = net.connect(+port, host);
  s.on("error", () => {});
  if (mode === "sse") {
    s.on("connect", () => s.write("GET /events HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"));
    s.once("data", (d) => { const c = (/^HTTP\\/1\\.1 (\\d+)/.exec(String(d)) || [])[1]; out.statuses[c] = (out.statuses[c] || 0) + 1; s.pause(); });
  }
  s.on("close", () => {
    const ms = Date.now() - t0;
    if (ms < 2500) { out.refused++; setTimeout(open, 200); } else { out.lifetimes.push(ms); setTimeout(open, 10); }
  });
}
for (let i = 0; i < +count; i++) open();
setTimeout(() => console.log("ready"), 1000);
setTimeout(() => { console.log(JSON.stringify(out)); process.exit(0); }, +holdMs);
`;

e2eDescribe("bounded for unprivileged users: metrics, dashboard, hostile checked servers", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const [S1, S2, S3] = [serverAddress(0), serverAddress(1), serverAddress(2)];

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080] });
    sb.addCheckSource();
    await sb.startServers();
    // The hostile peers: an SMTP greeting with ESC[2J, an OSC window title and BEL; an HTTP body
    // of 64 KiB of "a" and a "!" (^(a+)+$ backtracks 2^n in JavaScript's engine).
    sb.spawn(sb.servers[1], [process.execPath, "-e", `require("net").createServer((s) => { s.on("error", () => {}); s.end("554 \\x1b[2J\\x1b]0;owned\\x07 go away\\r\\n"); })
      .listen(2525, () => console.log("ready"))`], "smtp-hostile");
    sb.spawn(sb.servers[2], [process.execPath, "-e", `require("http").createServer((q, r) => r.end("a".repeat(65536) + "!"))
      .listen(8081, () => console.log("ready"))`], "http-hostile");
    await sb.waitFor("the hostile servers", () => sb.logOf("smtp-hostile").includes("ready") && sb.logOf("http-hostile").includes("ready"));
    director = await sb.startDirector(sb.keepalivedConfig([], `  metrics ${METRICS}\n  metrics_scraper ${S3}\n  dashboard ${DASHBOARD}`) + `
virtual_server ${VIP} 80 {
  lb_kind NAT
  delay_loop 0.3
  real_server ${S1} 8080 { TCP_CHECK { connect_timeout 1 } }
  real_server ${S2} 8080 { inhibit_on_failure
    SMTP_CHECK { connect_port 2525
    connect_timeout 1
    retry 0 } }
  real_server ${S3} 8080 { HTTP_GET { url { path /
      regex ^(a+)+$ }
    connect_port 8081
    connect_timeout 2
    retry 0 } }
}
`);
  }, 60_000);
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("hostile checked servers are down with readable reasons: the regex answered at once, nothing printed raw in -L --health, top, the log", async () => {
    const health = () => director!.ipvsadm(["-L", "--health"]);
    await sb.waitFor("both hostile servers down", () => {
      const out = health().stdout;
      return new RegExp(`${S2}:8080\\s+DOWN`).test(out) && new RegExp(`${S3}:8080\\s+DOWN`).test(out);
    }, 20_000);
    const listing = health();
    expect(listing.status).toBe(0);
    expect(listing.stdout).toMatch(new RegExp(`${S1}:8080\\s+UP`));
    expect(listing.stdout).toMatch(new RegExp(`${S3}:8080\\s+DOWN.*body does not match regex`));
    expect(listing.stdout).toContain("\\x1b[2J\\x1b]0;owned\\x07 go away");
    expect(listing.stdout).not.toMatch(RAW_CONTROL);
    // The control plane was never stuck (JavaScript's engine would still be matching): it answers.
    expect((await director!.freshStatus()).services.length).toBe(1);
    const top = spawnSync(process.execPath, [join(ROOT, "bin", "wasmvs.js"), "top", "--once", "--socket", director!.socket], { encoding: "utf8", timeout: 20_000 });
    expect(top.status).toBe(0);
    expect(top.stdout).toContain("DOWN: ");
    expect(top.stdout).toContain("\\x1b[2J");
    expect(top.stdout).not.toMatch(RAW_CONTROL);
    const log = sb.logOf("director");
    expect(log).toContain("\\x1b[2J\\x1b]0;owned\\x07");
    expect(log).not.toMatch(RAW_CONTROL);
  }, 60_000);

  it("users with no privilege hold and re-open sockets and streams that never read: 20 of 20 scrapes from the metrics_scraper answered, root's page loads and watches", async () => {
    const HOLD_MS = 16_000;
    const holders: ChildProcess[] = [];
    const as = (uid: number, name: string, args: string[]) =>
      holders.push(sb.spawn(sb.director, ["setpriv", "--reuid", String(uid), "--regid", String(uid), "--clear-groups", process.execPath, "-e", HOLDER, ...args, String(HOLD_MS)], name));
    // Four users, 8 idle sockets each, against the metrics: each user's share is 4, so together
    // they hold all 16 shared connections. Against the dashboard nobody asks for 16 event streams
    // that never read, and another user holds 20 idle sockets.
    const uids = [65534, 65533, 65532, 65531];
    const [host, port] = METRICS.split(":");
    for (const u of uids) as(u, `metrics-${u}`, ["idle", host, port, "8"]);
    as(65533, "dash-idle", ["idle", "127.0.0.1", DASHBOARD.split(":")[1], "20"]);
    as(65534, "dash-sse", ["sse", "127.0.0.1", DASHBOARD.split(":")[1], "16"]);
    const names = [...uids.map((u) => `metrics-${u}`), "dash-idle", "dash-sse"];
    try {
      await sb.waitFor("the holders", () => names.every((n) => sb.logOf(n).includes("ready")), 20_000);
      // Prometheus, from another host: 20 of 20 answered, however many the users hold.
      const codes: string[] = [];
      for (let i = 0; i < 20; i++) {
        codes.push(sb.run(sb.servers[2], ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", `http://${METRICS}/metrics`]).stdout);
      }
      expect(codes).toEqual(new Array(20).fill("200"));
      // Root's page loads and its event stream, while nobody holds its share of the dashboard.
      const pages: string[] = [];
      for (let i = 0; i < 20; i++) pages.push(sb.run(sb.director, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", `http://${DASHBOARD}/`]).stdout);
      expect(pages).toEqual(new Array(20).fill("200"));
      const events = sb.run(sb.director, ["curl", "-s", "-N", "--max-time", "3", `http://${DASHBOARD}/events`]);
      expect(events.stdout).toContain("event: view");
      await sb.waitFor("the holders to finish", () => holders.every((h) => h.exitCode !== null), HOLD_MS + 10_000);
    } finally {
      for (const h of holders) if (h.exitCode === null) h.kill("SIGTERM");
    }
    const result = (n: string) => JSON.parse(sb.logOf(n).trim().split("\n").pop()!) as { refused: number; lifetimes: number[]; statuses: Record<string, number> };
    for (const u of uids) {
      const r = result(`metrics-${u}`);
      // Over its share: closed at accept; its idle connections closed at the idle timeout (5 s).
      expect(r.refused).toBeGreaterThan(0);
      expect(r.lifetimes.length).toBeGreaterThan(0);
      for (const ms of r.lifetimes) { expect(ms).toBeGreaterThanOrEqual(4500); expect(ms).toBeLessThan(9000); }
    }
    const sse = result("dash-sse");
    // Four streams are nobody's share; the others were refused (503, or closed at accept past
    // the 8 connections of one peer).
    expect(sse.statuses["200"]).toBe(4);
    expect((sse.statuses["503"] ?? 0) + sse.refused).toBeGreaterThan(0);
    const idle = result("dash-idle");
    expect(idle.refused).toBeGreaterThan(0);
    for (const ms of idle.lifetimes) { expect(ms).toBeGreaterThanOrEqual(4500); expect(ms).toBeLessThan(9000); }
    // Every refusal is counted.
    const metrics = sb.run(sb.servers[2], ["curl", "-s", "--max-time", "5", `http://${METRICS}/metrics`]).stdout;
    expect(Number(/^wasmvs_control_refused_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  }, 90_000);
});
