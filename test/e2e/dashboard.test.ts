// The live dashboard of `wasmvs run` and `wasmvs top`, under real traffic: clients and
// servers in namespaces, the director on TAP devices with a `dashboard` line, Chromium
// started inside the director's namespace (the dashboard is on that namespace's loopback),
// and top in a tmux session. What they show must be what `wasmvs -L -n --stats --exact` says.

import { afterAll, beforeAll, expect, it } from "vitest";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync, type ChildProcess } from "node:child_process";
import type { Page } from "playwright-core";
import { Director, Sandbox, VIP, ROOT } from "../../host/sandbox/sandbox.js";
import { browserDescribe } from "./e2e.js";
import { openBrowser, type BrowserSession } from "../helpers/browser.js";

const PORT = 8088;
const ARTIFACTS = join(ROOT, "test", "artifacts");
type Stats = Record<string, number[]>;

/** `-L -n --stats --exact`: each service's and server's Conns, InPkts, OutPkts, InBytes, OutBytes. */
function listed(d: Director): Stats {
  const r = d.ipvsadm(["-L", "-n", "--stats", "--exact"]);
  expect(r.status).toBe(0);
  const out: Stats = {};
  let service = "";
  for (const line of r.stdout.split("\n").slice(3)) {
    const m = /^(TCP|UDP)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (m) { service = `${m[1]} ${m[2]}`; out[service] = m.slice(3).map(Number); continue; }
    const s = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (s) out[`${service} ${s[1]}`] = s.slice(2).map(Number);
  }
  return out;
}

/** The same numbers as the page shows them. */
async function shown(page: Page): Promise<Stats> {
  return page.evaluate(() => {
    const out: Record<string, number[]> = {};
    const cols = ["conns", "inpkts", "outpkts", "inbytes", "outbytes"];
    for (const tr of document.querySelectorAll("#services-table tr[data-service], #services-table tr[data-server]")) {
      const key = tr.getAttribute("data-service") ?? tr.getAttribute("data-server")!;
      out[key] = cols.map((c) => Number(tr.querySelector(`td[data-col=${c}]`)!.textContent));
    }
    return out;
  });
}
const updates = (page: Page) => page.evaluate(() => Number(document.body.dataset.updates ?? 0));

browserDescribe("the live dashboard and wasmvs top", () => {
  let sb: Sandbox;
  let d: Director;
  let session: BrowserSession | undefined;
  let page: Page;
  const tmux = `wvtop${process.pid % 100000}`;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080] });
    await sb.startServers();
    d = await sb.startDirector(sb.config([{ protocol: "tcp", port: 80, scheduler: "wlc", serverPort: 8080, weights: [1, 2, 3] }]) + `dashboard 127.0.0.1:${PORT}\n`);
    session = await openBrowser({ namespace: sb.director });
    page = await session.page();
  }, 120_000);
  afterAll(async () => {
    spawnSync("tmux", ["kill-session", "-t", tmux]);
    await session?.close();
    await d?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("under traffic the page updates live and charts the rates; once the traffic stops its numbers are -L -n --stats --exact's", async () => {
    await page.goto(`http://127.0.0.1:${PORT}/`);
    await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 1, undefined, { timeout: 15_000 });
    expect(await page.textContent("#live")).toBe("live");
    const client: ChildProcess = sb.httpInBackground(`http://${VIP}/`, { requests: 300, intervalMs: 10, concurrency: 2 }, "dash-load");
    const start = await updates(page);
    await page.waitForFunction((n) => Number(document.body.dataset.updates) >= n + 3, start, { timeout: 20_000 });
    const live = await shown(page);
    expect(live["TCP 10.0.0.100:80"][0]).toBeGreaterThan(0);
    await sb.waitFor("the clients", () => client.exitCode !== null, 60_000);
    const load = JSON.parse(sb.logOf("dash-load").trim().split("\n").pop()!);
    expect(load.errors).toEqual([]);
    const cps = await page.evaluate(() => (window as unknown as { wasmvsDashboard: { series(c: string): Record<string, (number | null)[]> } }).wasmvsDashboard.series("cps"));
    expect(Math.max(...cps["TCP 10.0.0.100:80"].map((x) => x ?? 0))).toBeGreaterThan(10);
    // Quiet now: the listing before and after a page update agree, and so does the page.
    let matched = false;
    for (let attempt = 0; attempt < 5 && !matched; attempt++) {
      const before = listed(d);
      const n = await updates(page);
      await page.waitForFunction((k) => Number(document.body.dataset.updates) >= k + 1, n, { timeout: 10_000 });
      const onPage = await shown(page);
      const after = listed(d);
      if (JSON.stringify(before) !== JSON.stringify(after)) continue;
      expect(onPage).toEqual(after);
      matched = true;
    }
    expect(matched).toBe(true);
    const total = listed(d)["TCP 10.0.0.100:80"][0];
    expect(total).toBe(300);
    // The director's own history: a point per estimator tick since it started, whose rates
    // times their intervals add up to the 300 connections (differences of the counters,
    // none lost or counted twice); a page opened now draws it before any live update.
    type History = { intervalMs: number; capacity: { points: number }; at: number[]; from: number; charts: Record<string, Record<string, (number | null)[]>> };
    const history = () => JSON.parse(sb.run(sb.director, ["curl", "-s", "--max-time", "5", `http://127.0.0.1:${PORT}/api/history`]).stdout) as History;
    const counted = (h: History) => h.charts.cps["TCP 10.0.0.100:80"].reduce((sum: number, x, i) => sum + (x ?? 0) * (h.at[i] - (i ? h.at[i - 1] : h.from)) / 1000, 0);
    await sb.waitFor("the history's last tick to count every connection", () => Math.round(counted(history())) === 300, 10_000);
    const before = history();
    expect(before.intervalMs).toBe(2000);
    expect(before.capacity.points).toBe(1800);
    expect(before.at.length).toBeGreaterThan(0);
    expect(before.at.length).toBeLessThanOrEqual(1800);
    await page.reload();
    await page.waitForFunction(() => document.body.dataset.seeded !== undefined, undefined, { timeout: 15_000 });
    const seeded = await page.evaluate(() => (window as unknown as { wasmvsDashboard: { seeded(): number } }).wasmvsDashboard.seeded());
    expect(seeded).toBeGreaterThanOrEqual(before.at.length);
    const onPage = await page.evaluate(() => (window as unknown as { wasmvsDashboard: { series(c: string): Record<string, (number | null)[]> } }).wasmvsDashboard.series("cps"));
    expect(onPage["TCP 10.0.0.100:80"].slice(0, before.at.length)).toEqual(before.charts.cps["TCP 10.0.0.100:80"]);
    console.log(`dashboard history: ${before.at.length} points of ${before.capacity.points} after ${((before.at.at(-1)! - before.from) / 1000).toFixed(0)} s; ` +
      `${seeded} drawn by a page opened after the traffic, peak ${Math.max(...before.charts.cps["TCP 10.0.0.100:80"].map((x) => x ?? 0))} conn/s`);
    // Weights and the tables beside: no drops, neighbours resolved.
    expect(await page.textContent("#services-table")).toMatch(/→ 10\.1\.0\.13:8080\s*Masq\s*3/);
    expect(await page.textContent("#neighbour-table")).toMatch(/reachable|stale|permanent/i);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(session!.problems).toEqual([]);
  }, 120_000);

  it("bounded: the 17th watcher is refused with 503 while 16 watch; /api/view is the same view as JSON", async () => {
    const url = `http://127.0.0.1:${PORT}`;
    const held: ChildProcess[] = [];
    try {
      // The page watches already: 15 more streams make 16.
      for (let i = 0; i < 15; i++) held.push(sb.spawn(sb.director, ["curl", "-s", "-N", "-o", "/dev/null", "--max-time", "20", `${url}/events`], `watch${i}`));
      await new Promise((r) => setTimeout(r, 1500));
      const refused = sb.run(sb.director, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", `${url}/events`]);
      expect(refused.stdout).toBe("503");
    } finally {
      for (const h of held) h.kill("SIGTERM");
    }
    const view = JSON.parse(sb.run(sb.director, ["curl", "-s", "--max-time", "5", `${url}/api/view`]).stdout);
    expect(view.table.services[0].stats.conns).toBe(300);
    expect(view.connections.capacity).toBeGreaterThan(0);
    expect(sb.run(sb.director, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", `${url}/nothing`]).stdout).toBe("404");
  }, 60_000);

  it("wasmvs top in tmux: the same services and numbers, refreshed in place; q quits", async () => {
    const cmd = `ip netns exec ${sb.director} ${process.execPath} ${join(ROOT, "bin/wasmvs.js")} top --socket ${d.socket} --interval 0.5`;
    expect(spawnSync("tmux", ["new-session", "-d", "-s", tmux, "-x", "160", "-y", "40", cmd]).status).toBe(0);
    const screen = () => spawnSync("tmux", ["capture-pane", "-p", "-t", tmux], { encoding: "utf8" }).stdout;
    await sb.waitFor("top's first screen", () => screen().includes("TCP  10.0.0.100:80 wlc"), 15_000);
    const first = screen();
    const listing = listed(d);
    const row = first.split("\n").find((l) => l.startsWith("TCP  10.0.0.100:80 wlc"))!;
    expect(row.trim().split(/\s+/)[5]).toBe(String(listing["TCP 10.0.0.100:80"][0]));
    for (const server of ["10.1.0.11:8080", "10.1.0.12:8080", "10.1.0.13:8080"]) {
      const line = first.split("\n").find((l) => l.includes(`-> ${server}`))!;
      expect(line.trim().split(/\s+/).slice(2, 4)).toEqual(["Masq", String({ "10.1.0.11:8080": 1, "10.1.0.12:8080": 2, "10.1.0.13:8080": 3 }[server])]);
      expect(line.trim().split(/\s+/)[6]).toBe(String(listing[`TCP 10.0.0.100:80 ${server}`][0]));
    }
    // New traffic shows up without a keypress: the screen is redrawn.
    sb.http(`http://${VIP}/`, { requests: 30 });
    await sb.waitFor("top to show the new connections", () => screen().split("\n").some((l) => l.startsWith("TCP  10.0.0.100:80 wlc") && l.trim().split(/\s+/)[5] === "330"), 15_000);
    spawnSync("tmux", ["send-keys", "-t", tmux, "q"]);
    await sb.waitFor("top to quit on q", () => spawnSync("tmux", ["has-session", "-t", tmux]).status !== 0, 10_000);
    // One screen for scripts; a bad interval is a usage error.
    const once = spawnSync("ip", ["netns", "exec", sb.director, process.execPath, join(ROOT, "bin/wasmvs.js"), "top", "--socket", d.socket, "--once"], { encoding: "utf8" });
    expect(once.status).toBe(0);
    expect(once.stdout).toMatch(/TCP  10\.0\.0\.100:80 wlc/);
    const bad = spawnSync(process.execPath, [join(ROOT, "bin/wasmvs.js"), "top", "--interval", "0"], { encoding: "utf8" });
    expect([bad.status, bad.stderr.split("\n")[0]]).toEqual([2, 'wasmvs: --interval must be from 0.2 to 60 seconds, not "0"']);
  }, 90_000);

  it("health and VRRP as they land: a stopped server shows down with its reason, the instance its role", async () => {
    await d.stop();
    // Checks leave from the director host's own address on the servers' segment, as keepalived's do.
    sb.addCheckSource();
    d = await sb.startDirector(sb.keepalivedConfig([], `  dashboard 127.0.0.1:${PORT}`) + `
vrrp_instance VI_1 {
  interface outside
  virtual_router_id 51
  priority 150
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
${[201, 202, 203, 204, 205, 206].map((k) => `    10.0.0.${k}`).join("\n")}
  }
}
virtual_server ${VIP} 80 {
  lb_algo wlc
  lb_kind NAT
  delay_loop 0.2
${[0, 1, 2].map((k) => `  real_server 10.1.0.${11 + k} 8080 {\n    weight ${k + 1}\n    TCP_CHECK { connect_timeout 0.2\n      retry 0 }\n  }`).join("\n")}
}
`, join(sb.dir, "control.sock"), "director-ha");
    await page.goto(`http://127.0.0.1:${PORT}/`);
    await page.waitForFunction(() => document.querySelector("#vrrp-table td.master") !== null, undefined, { timeout: 20_000 });
    expect(await page.textContent("#vrrp-table tr[data-instance=VI_1]")).toMatch(/VI_1\s*MASTER\s*150\s*outside\s*10\.0\.0\.100 10\.0\.0\.201 .*10\.0\.0\.206/);
    // The VRRP card holds its table (seven addresses): nothing spills out of it, nothing needs a scrollbar.
    const fit = await page.evaluate(() => {
      const card = document.getElementById("vrrp-card")!;
      const table = document.getElementById("vrrp-table")!.getBoundingClientRect();
      const box = card.getBoundingClientRect();
      return { scrollW: card.scrollWidth, clientW: card.clientWidth, scrollH: card.scrollHeight, clientH: card.clientHeight,
        inside: table.left >= box.left && table.right <= box.right && table.top >= box.top && table.bottom <= box.bottom };
    });
    expect(fit.scrollW).toBeLessThanOrEqual(fit.clientW);
    expect(fit.scrollH).toBeLessThanOrEqual(fit.clientH);
    expect(fit.inside).toBe(true);
    await page.locator("#vrrp-card").screenshot({ path: join(ARTIFACTS, "dashboard-vrrp.png") });
    await page.waitForFunction(() => document.querySelectorAll("#services-table td.up").length === 3, undefined, { timeout: 20_000 });
    await sb.stop("server2");
    try {
      await page.waitForFunction(() => document.querySelector("#services-table tr[data-server='TCP 10.0.0.100:80 10.1.0.12:8080'] td.down") !== null, undefined, { timeout: 20_000 });
      expect(await page.textContent("#services-table tr[data-server='TCP 10.0.0.100:80 10.1.0.12:8080'] td.down")).toMatch(/^down: .+/);
      // top lists it too, under its service, with the same reason.
      const once = spawnSync("ip", ["netns", "exec", sb.director, process.execPath, join(ROOT, "bin/wasmvs.js"), "top", "--socket", d.socket, "--once"], { encoding: "utf8" });
      const reason = (await page.textContent("#services-table tr[data-server='TCP 10.0.0.100:80 10.1.0.12:8080'] td.down"))!.slice("down: ".length);
      const line = once.stdout.split("\n").find((l) => l.includes("-> 10.1.0.12:8080"));
      console.log(`wasmvs top --once, server2 stopped: ${line}`);
      expect(line).toMatch(
        new RegExp(`^  -> 10\\.1\\.0\\.12:8080\\s+DOWN: ${reason.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}  \\(not in the table: taken out by its health check, \\d+ s ago\\)$`));
    } finally {
      await sb.startServerProcess(1, "server2-again", ["--http", "8080"], "server2");
    }
    await page.waitForFunction(() => document.querySelectorAll("#services-table td.up").length === 3, undefined, { timeout: 20_000 });
    // Each chart spans its card (less the card's padding), however early the page drew it.
    await page.waitForFunction(() => document.querySelectorAll(".charts .uplot").length === 3, undefined, { timeout: 10_000 });
    const charts = await page.evaluate(() => [...document.querySelectorAll(".charts > section")].map((s) => [s.clientWidth, s.querySelector(".uplot")!.getBoundingClientRect().width]));
    expect(charts.length).toBe(3);
    for (const [card, chart] of charts) expect([card - 40 < chart, chart <= card]).toEqual([true, true]);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-health.png"), fullPage: true });
  }, 90_000);
}, true);
