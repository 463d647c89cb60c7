// The playground in headless Chromium: a scripted visit that changes the mode, the
// scheduler, the weights and the configuration, sends packets and replays a capture, and
// checks what the page shows (DOM assertions; screenshots in test/artifacts/). Also
// `wasmvs playground` serving the page, inside a network namespace this test makes.

import { it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import type { Page } from "playwright-core";
import { openBrowser, ORIGIN, type BrowserSession } from "../helpers/browser.js";
import { browserDescribe, e2eDescribe } from "./e2e.js";
import { ROOT } from "../../host/sandbox/sandbox.js";
import { Engine, replayFrames, writePcap, readPcap } from "../../dist/host/engine/embed.js";
import { applyConfig, configSlotSize, parseRules } from "../../host/config/rules.js";
import { eth, ipv4, tcp, udp, SYN } from "../helpers/packet.js";

const ARTIFACTS = join(ROOT, "test", "artifacts");

/** The rows of the latest "after" table the page shows, and which of them are highlighted. */
async function afterTable(page: Page, k = 0): Promise<{ rows: string[]; changed: string[] }> {
  return page.evaluate((index) => {
    const t = [...document.querySelectorAll("#detail table.fields")].filter((x) => x.querySelector("caption")?.textContent?.startsWith("after"))[index];
    const rows = t ? [...t.querySelectorAll("tbody tr")] : [];
    const text = (tr: Element) => [...tr.querySelectorAll("td")].map((td) => td.textContent).join(" | ");
    return { rows: rows.map(text), changed: rows.filter((tr) => tr.classList.contains("changed")).map(text) };
  }, k);
}
const names = (rows: string[]) => rows.map((r) => r.split(" | ").slice(0, 2).join(" "));
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `playground-${name}.png`), fullPage: true });

browserDescribe("the playground in headless Chromium", () => {
  let session: BrowserSession;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    session = await openBrowser();
    page = await session.page();
    await page.goto(`${ORIGIN}/dist/playground/index.html`);
    await page.waitForSelector("body[data-ready=yes]", { timeout: 30_000 });
  }, 120_000);
  afterAll(async () => { await session?.close(); });

  it("NAT with wlc: a SYN goes to the heaviest server; addresses, port and both checksums rewritten; the reply rewritten back", async () => {
    expect(await page.inputValue("#mode")).toBe("nat");
    expect(await page.inputValue("#scheduler")).toBe("wlc");
    expect(await page.inputValue("#config")).toContain("-a -t 10.0.0.100:80 -r 10.1.0.13:8080 -m -w 3");
    await page.click("#syn");
    const a = await afterTable(page);
    expect(names(a.changed)).toEqual(["Ethernet destination", "Ethernet source", "IPv4 TTL", "IPv4 checksum", "IPv4 destination", "TCP destination port", "TCP checksum"]);
    expect(a.changed).toContain("IPv4 | destination | 10.1.0.13");
    expect(a.rows.filter((r) => r.includes("checksum"))).toEqual([expect.stringMatching(/ ok$/), expect.stringMatching(/ ok$/)]);
    expect(await page.textContent("#why")).toMatch(/→ 10\.1\.0\.13:8080 chosen by weighted least connections/);
    expect(await page.textContent("#conn-table")).toMatch(/192\.0\.2\.10:\d+\s*10\.0\.0\.100:80\s*10\.1\.0\.13:8080\s*NAT\s*SYN_RECV/);
    await shot(page, "nat");
    await page.click("#reply");
    const back = await afterTable(page);
    expect(back.changed).toEqual(expect.arrayContaining(["IPv4 | source | 10.0.0.100", "TCP | source port | 80"]));
    expect(await page.textContent("#steps")).toMatch(/#2 SYN-ACK from 10\.1\.0\.13:8080.*→ outside: TCP 10\.0\.0\.100:80 → 192\.0\.2\.10:\d+ SYN ACK/);
  });

  it("DR: only the MACs change; the server's reply does not pass the director", async () => {
    await page.selectOption("#mode", "dr");
    await page.waitForFunction(() => (document.getElementById("config") as HTMLTextAreaElement).value.includes(" -g -w "));
    await page.click("#syn");
    const a = await afterTable(page);
    expect(names(a.changed)).toEqual(["Ethernet destination", "Ethernet source"]);
    expect(await page.isDisabled("#reply")).toBe(true);
    await shot(page, "dr");
  });

  it("TUN: an outer IPv4 header is added around the untouched packet; a full-size DF packet draws ICMP fragmentation needed", async () => {
    await page.selectOption("#mode", "tun");
    await page.waitForFunction(() => (document.getElementById("config") as HTMLTextAreaElement).value.includes(" -i -w "));
    await page.click("#syn");
    const a = await afterTable(page);
    const changed = names(a.changed);
    expect(changed.filter((n) => n.startsWith("outer IPv4"))).toHaveLength(11);
    expect(changed.filter((n) => !n.startsWith("outer IPv4"))).toEqual(["Ethernet destination", "Ethernet source"]);
    expect(a.rows).toContain("outer IPv4 | protocol | 4 (IPIP)");
    await page.click("#big");
    const icmp = await afterTable(page);
    expect(icmp.rows).toEqual(expect.arrayContaining(["ICMP | type / code | 3 / 4 (fragmentation needed)", "ICMP | next-hop MTU | 1480"]));
    expect(await page.textContent("#drop-table")).toContain("needs_fragmentation");
    await shot(page, "tun");
  });

  it("the scheduler and the weights: rr spreads 20 flows 7/7/6; with weight 0 a server gets none", async () => {
    await page.selectOption("#mode", "nat");
    await page.selectOption("#scheduler", "rr");
    await page.waitForFunction(() => (document.getElementById("config") as HTMLTextAreaElement).value.includes("-s rr"));
    await page.click("#flows");
    const conns = async () => page.evaluate(() => [...document.querySelectorAll("#services div:first-child tbody tr")].map((tr) => [tr.children[0].textContent, tr.children[5].textContent]));
    expect((await conns()).map(([, c]) => Number(c)).sort()).toEqual([6, 7, 7]);
    await page.fill("input[data-server='1']", "0");
    await page.dispatchEvent("input[data-server='1']", "change");
    await page.waitForFunction(() => (document.getElementById("config") as HTMLTextAreaElement).value.includes("10.1.0.12:8080 -m -w 0"));
    await page.click("#flows");
    expect(Object.fromEntries(await conns())).toEqual({ "10.1.0.11:8080": "10", "10.1.0.12:8080": "0", "10.1.0.13:8080": "10" });
    await shot(page, "rr");
  });

  it("a configuration with an error is refused with its file, line and column; the running one stays", async () => {
    const good = await page.inputValue("#config");
    await page.fill("#config", good + "-a -t 10.0.0.100:80 -r 10.9.9.9:80 -g -w 1\n");
    await page.click("#apply");
    const error = await page.textContent("#config-error");
    expect(error).toMatch(/Not applied — the running configuration stays:\nplayground\.rules:\d+:\d+: .*not on a directly connected network/);
    expect(await page.textContent("#services")).toContain("10.1.0.12:8080");
    await page.fill("#config", good);
    await page.click("#apply");
    expect(await page.isHidden("#config-error")).toBe(true);
  });

  it("a keepalived.conf loads through the same parser: its virtual server, or its error with the file's name", async () => {
    const conf = readFileSync(join(ROOT, "test/fixtures/keepalived-samples/keepalived.conf.SMTP_CHECK"));
    await page.setInputFiles("#config-file", { name: "keepalived.conf.SMTP_CHECK", mimeType: "text/plain", buffer: conf });
    await page.waitForFunction(() => !document.getElementById("config-error")!.hidden);
    expect(await page.textContent("#config-error")).toContain("keepalived.conf.SMTP_CHECK:1:1: 'director': no director block");
    const mine = [
      "director {",
      "  interface outside { mac 02:00:00:00:00:01\n address 10.0.0.1/24 }",
      "  interface inside { mac 02:00:00:00:01:01\n address 10.1.0.1/24 }",
      "  default_gateway 10.0.0.254",
      "}",
      "virtual_server 10.0.0.100 443 {",
      "  lb_algo mh",
      "  lb_kind DR",
      "  protocol TCP",
      "  real_server 10.1.0.21 443 { weight 1 }",
      "  real_server 10.1.0.22 443 { weight 1 }",
      "}",
      "",
    ].join("\n");
    await page.setInputFiles("#config-file", { name: "keepalived.conf", mimeType: "text/plain", buffer: Buffer.from(mine) });
    await page.waitForFunction(() => document.getElementById("config-error")!.hidden && document.getElementById("services")!.textContent!.includes("443"));
    expect(await page.textContent("#services")).toMatch(/TCP 10\.0\.0\.100:443 mh.*10\.1\.0\.2[12]:443\s*DR/);
    await page.click("#syn");
    // The director asks for the chosen server's MAC; the playground's server answers and the SYN follows.
    const steps = await page.textContent("#steps");
    expect(steps).toMatch(/→ inside: ARP request 10\.1\.0\.1 → 10\.1\.0\.2[12]; inside: TCP 192\.0\.2\.10:\d+ → 10\.0\.0\.100:443 SYN/);
  });

  it("a capture replayed in the page: the output pcap it offers is byte for byte what the same replay gives in Node", async () => {
    await page.selectOption("#scheduler", "sh");
    await page.selectOption("#mode", "nat");
    await page.fill("input[data-server='1']", "2");
    await page.dispatchEvent("input[data-server='1']", "change");
    await page.waitForFunction(() => (document.getElementById("config") as HTMLTextAreaElement).value.includes("-s sh") && (document.getElementById("config") as HTMLTextAreaElement).value.includes("10.1.0.12:8080 -m -w 2"));
    const text = await page.inputValue("#config");
    let t = 1_700_000_000_000_000;
    const frames = Array.from({ length: 40 }, (_, i) => {
      const src = `192.0.2.${100 + i}`;
      const l4 = i % 4 === 3
        ? { proto: 17, payload: udp({ src, dst: "10.0.0.100", sport: 5000 + i, dport: 53, payload: [i] }) }
        : { proto: 6, payload: tcp({ src, dst: "10.0.0.100", sport: 30000 + i, dport: 80, flags: SYN }) };
      return { timeUs: (t += 1500), data: eth("02:00:00:00:00:01", "02:00:00:00:00:fe", 0x0800, ipv4({ src, dst: "10.0.0.100", ...l4 })) };
    });
    const capture = writePcap(frames);
    await page.setInputFiles("#pcap-file", { name: "clients.pcap", mimeType: "application/vnd.tcpdump.pcap", buffer: Buffer.from(capture) });
    await page.waitForSelector("#replay-summary");
    expect(await page.textContent("#replay-summary")).toMatch(/^40 frames in, 40 frames out\. download the output$/);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#replay-download")]);
    expect(download.suggestedFilename()).toBe("clients.out.pcap");
    const inPage = readFileSync(await download.path());
    // The same replay in Node: the page's configuration through the same parser, the same engine.
    const cfg = parseRules(text, "playground.rules");
    const e = await Engine.create(readFileSync(join(ROOT, "wasm/release.wasm")), { batch: 64, slotSize: configSlotSize(cfg), connCapacity: 65536 });
    applyConfig(e, cfg);
    const inNode = writePcap(replayFrames(e, readPcap(capture).packets, cfg.interfaces));
    expect(Buffer.from(inPage).equals(Buffer.from(inNode))).toBe(true);
    expect(readPcap(new Uint8Array(inPage)).packets.map((p) => p.data[33])).toContain(0x0b); // a NATed packet to 10.1.0.11
    await shot(page, "replay");
    expect(session.problems).toEqual([]);
  });

  it("opened from disk (file://) it works the same: a SYN is forwarded", async () => {
    const ctx = await session.browser.newContext();
    try {
      const p = await ctx.newPage();
      const errors: string[] = [];
      p.on("pageerror", (err) => errors.push(err.message));
      p.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      await p.goto(`file://${join(ROOT, "dist/playground/index.html")}`);
      await p.waitForSelector("body[data-ready=yes]", { timeout: 30_000 });
      await p.click("#syn");
      expect(await p.textContent("#steps")).toMatch(/→ inside: TCP 192\.0\.2\.10:\d+ → 10\.1\.0\.13:8080 SYN/);
      expect(errors).toEqual([]);
    } finally {
      await ctx.close();
    }
  });
});

e2eDescribe("wasmvs playground serves the page", () => {
  const ns = `wvpg${process.pid % 100000}`;
  afterAll(() => { spawnSync("ip", ["netns", "del", ns]); });

  it("inside a namespace of its own: GET / is the built page, anything else 404; a bad --listen is a usage-style error", async () => {
    expect(spawnSync("ip", ["netns", "add", ns]).status).toBe(0);
    spawnSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
    const child = spawn("ip", ["netns", "exec", ns, "node", join(ROOT, "bin/wasmvs.js"), "playground", "--listen", "127.0.0.1:8080"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no start line in 20 s")), 20_000);
        child.stdout.on("data", (d) => { clearTimeout(timer); resolve(String(d)); });
        child.on("exit", (code) => reject(new Error(`exited with ${code}`)));
      });
      expect(line).toMatch(/the playground is at http:\/\/127\.0\.0\.1:8080\//);
      const curl = (path: string) => spawnSync("ip", ["netns", "exec", ns, "curl", "-s", "-w", "\n%{http_code}", `http://127.0.0.1:8080${path}`], { encoding: "utf8", maxBuffer: 8 << 20 }).stdout;
      const page = curl("/");
      expect(page.endsWith("\n200")).toBe(true);
      expect(page.slice(0, -4)).toBe(readFileSync(join(ROOT, "dist/playground/index.html"), "utf8"));
      expect(curl("/etc/passwd")).toMatch(/\n404$/);
    } finally {
      child.kill("SIGTERM");
    }
    const bad = spawnSync("node", [join(ROOT, "bin/wasmvs.js"), "playground", "--listen", "nowhere"], { encoding: "utf8" });
    expect([bad.status, bad.stderr.trim()]).toEqual([1, "wasmvs: --listen nowhere: expected [ADDRESS:]PORT, e.g. 9100 or 127.0.0.1:9100"]);
  }, 60_000);
});
