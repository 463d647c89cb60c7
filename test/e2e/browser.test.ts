// The engine embedded in a real browser: headless Chromium loads wasmvs/engine in a page
// and in a Web Worker, runs the packet fixtures and replays a capture, and must give
// byte-identical results to the same run in Node (test/browser/scenario.mjs is that run,
// one file for all three). Chromium is Debian's, driven by playwright-core.

import { it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import * as embedded from "../../dist/host/engine/embed.js";
import { runScenario } from "../browser/scenario.mjs";
import { openBrowser, ORIGIN, type BrowserSession } from "../helpers/browser.js";
import { browserDescribe } from "./e2e.js";
import { expectFrame, eth, ipv4, tcp, udp, icmp, arp, SYN, ACK, PSH, FIN } from "../helpers/packet.js";
import { CLIENT, CLIENT_MAC, DIRECTOR_IN, DIRECTOR_OUT, GATEWAY, GATEWAY_MAC, IN_MAC, OUT_MAC, RS, RS_MAC, VIP } from "../helpers/director.js";
import type { Fixture, Scenario } from "../fixtures/build.js";
import { ROOT } from "../../host/sandbox/sandbox.js";

const fixtures: Fixture[] = JSON.parse(readFileSync(new URL("../fixtures/packets.json", import.meta.url), "utf8"));
const wasm = () => new Uint8Array(readFileSync(`${ROOT}/wasm/release.wasm`));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const base = {
  interfaces: [
    { index: 0, mac: OUT_MAC, address: `${DIRECTOR_OUT}/24`, mtu: 1500 },
    { index: 1, mac: IN_MAC, address: `${DIRECTOR_IN}/24`, mtu: 1500 },
  ],
  route: { destination: "0.0.0.0/0", gateway: GATEWAY, ifindex: 0 },
  neighbours: [
    { address: GATEWAY, mac: GATEWAY_MAC, ifindex: 0 },
    { address: CLIENT, mac: CLIENT_MAC, ifindex: 0 },
    ...RS.map((a, i) => ({ address: a, mac: RS_MAC[i], ifindex: 1 })),
  ],
};

/** The engine of test/packets.test.ts for a fixture's scenario. */
function fixtureSetup(s: Scenario) {
  const nat = s === "nat";
  return {
    ...base,
    services: [
      { service: { protocol: "tcp", address: VIP, port: 80, scheduler: "rr" }, servers: [{ address: RS[0], port: nat ? 8080 : 80, method: s, weight: 1 }] },
      { service: { protocol: "udp", address: VIP, port: 53, scheduler: "rr" }, servers: [{ address: RS[0], port: nat ? 5353 : 53, method: s, weight: 1 }] },
    ],
  };
}

/** The capture's director: NAT (wlc), DR (maglev) and TUN (mh) services over three servers. */
const captureSetup = {
  ...base,
  services: [
    { service: { protocol: "tcp", address: VIP, port: 80, scheduler: "wlc" }, servers: RS.map((a, i) => ({ address: a, port: 8080, method: "nat", weight: i + 1 })) },
    { service: { protocol: "tcp", address: VIP, port: 81, scheduler: "maglev" }, servers: RS.map((a) => ({ address: a, port: 81, method: "dr", weight: 1 })) },
    { service: { protocol: "udp", address: VIP, port: 53, scheduler: "mh" }, servers: RS.map((a) => ({ address: a, port: 53, method: "tun", weight: 1 })) },
  ],
};

/** A capture of many clients: NAT handshakes, data and closes with the servers' replies,
 *  DR and TUN flows, ping and ARP for the VIP, a datagram too big for the tunnel, and a
 *  truncated frame. */
function capture(): Uint8Array {
  const frames: { timeUs: number; data: Uint8Array }[] = [];
  let t = 1_700_000_000_000_000;
  const fromClient = (payload: number[]) => eth(OUT_MAC, GATEWAY_MAC, 0x0800, payload);
  for (let i = 0; i < 60; i++) {
    const src = `192.0.2.${1 + i}`, sport = 20000 + i, rs = RS[i % 3];
    const inTcp = (flags: number, seq: number, payload: number[] = []) =>
      fromClient(ipv4({ src, dst: VIP, proto: 6, payload: tcp({ src, dst: VIP, sport, dport: 80, flags, seq, ack: 5001, payload }) }));
    frames.push({ timeUs: (t += 400), data: inTcp(SYN, 1000) });
    frames.push({ timeUs: (t += 300), data: eth(IN_MAC, RS_MAC[i % 3], 0x0800, ipv4({ src: rs, dst: src, proto: 6, payload: tcp({ src: rs, dst: src, sport: 8080, dport: sport, flags: SYN | ACK, seq: 5000, ack: 1001 }) })) });
    frames.push({ timeUs: (t += 300), data: inTcp(ACK, 1001) });
    frames.push({ timeUs: (t += 300), data: inTcp(PSH | ACK, 1001, [...Buffer.from(`GET /${i} HTTP/1.1\r\n\r\n`)]) });
    frames.push({ timeUs: (t += 900), data: inTcp(FIN | ACK, 1020) });
    frames.push({ timeUs: (t += 200), data: fromClient(ipv4({ src, dst: VIP, proto: 6, payload: tcp({ src, dst: VIP, sport: sport + 1000, dport: 81, flags: SYN }) })) });
    frames.push({ timeUs: (t += 200), data: fromClient(ipv4({ src, dst: VIP, proto: 17, payload: udp({ src, dst: VIP, sport: sport + 2000, dport: 53, payload: [i, 1, 2, 3] }) })) });
  }
  frames.push({ timeUs: (t += 1000), data: fromClient(ipv4({ src: "192.0.2.200", dst: VIP, proto: 1, payload: icmp(8, 0, [0, 7, 0, 1], [1, 2, 3, 4]) })) });
  frames.push({ timeUs: (t += 1000), data: eth("ff:ff:ff:ff:ff:ff", GATEWAY_MAC, 0x0806, arp(1, GATEWAY_MAC, GATEWAY, "00:00:00:00:00:00", VIP)) });
  frames.push({ timeUs: (t += 1000), data: fromClient(ipv4({ src: "192.0.2.201", dst: VIP, proto: 17, df: true, payload: udp({ src: "192.0.2.201", dst: VIP, sport: 999, dport: 53, payload: new Array(1472).fill(7) }) })) });
  frames.push({ timeUs: (t += 1000), data: fromClient(ipv4({ src: "192.0.2.202", dst: VIP, proto: 6, payload: tcp({ src: "192.0.2.202", dst: VIP, sport: 1, dport: 80, flags: SYN }) })).slice(0, 30) });
  return embedded.writePcap(frames);
}

const input = () => ({
  setup: captureSetup,
  fixtures: fixtures.map((f) => ({ name: f.name, setup: fixtureSetup(f.scenario), before: f.before, input: f.input })),
  pcap: capture(),
});

type Result = Awaited<ReturnType<typeof runScenario>>;
/** Results made comparable: the output capture as hex. */
const comparable = (r: Result & { pcap: Uint8Array | string }) => ({ ...r, pcap: typeof r.pcap === "string" ? r.pcap : hex(r.pcap) });

browserDescribe("the engine embedded in headless Chromium (wasmvs/engine)", () => {
  let session: BrowserSession;
  let inNode: ReturnType<typeof comparable>;

  beforeAll(async () => {
    inNode = comparable(await runScenario(embedded, wasm(), input()));
    session = await openBrowser();
  }, 120_000);
  afterAll(async () => { await session?.close(); });

  it("in Node, the shared run is the fixtures' expected output and a capture that exercises every mode", () => {
    for (const [k, f] of fixtures.entries()) expect(inNode.fixtures[k].out, f.name).toEqual(f.output);
    const out = embedded.readPcap(Buffer.from(inNode.pcap, "hex")).packets;
    expect(inNode.framesIn).toBe(424);
    expect(out.length).toBeGreaterThan(300);
    for (const p of out) expectFrame(p.data);
    expect(Object.keys(inNode.counters)).toEqual(expect.arrayContaining(["forwarded", "arp_replies_sent", "icmp_errors_sent", "drop_ip_truncated"]));
    expect(inNode.services.map((s) => s.service).sort()).toEqual(["tcp 10.0.0.100:80 wlc", "tcp 10.0.0.100:81 maglev", "udp 10.0.0.100:53 mh"]);
    for (const s of inNode.services) for (const r of s.servers) expect(r, s.service).not.toMatch(/ conns 0 /);
  });

  /** A page that has loaded test/browser/page.mjs (which imports wasmvs/engine). */
  async function testPage() {
    const page = await session.page();
    await page.goto(`${ORIGIN}/`);
    await page.addScriptTag({ url: "/test/browser/page.mjs", type: "module" });
    await page.waitForFunction(() => "wasmvsTest" in window, undefined, { timeout: 30_000 });
    return page;
  }
  const browserInput = () => { const i = input(); return { ...i, pcap: hex(i.pcap) }; };

  it("a page loads wasmvs/engine, fetches the engine's bytes itself and gives byte-identical results", async () => {
    const page = await testPage();
    const got = await page.evaluate((a) => (window as unknown as { wasmvsTest: { inPage(x: unknown): Promise<Record<string, unknown>> } }).wasmvsTest.inPage(a), browserInput());
    const { nodeGlobals, ...result } = got;
    expect(nodeGlobals).toBe(false);
    expect(result).toEqual(inNode);
    expect(session.problems).toEqual([]);
  }, 120_000);

  it("a Web Worker does the same run: byte-identical again", async () => {
    const page = await testPage();
    const got = await page.evaluate((a) => (window as unknown as { wasmvsTest: { inWorker(x: unknown): Promise<Record<string, unknown>> } }).wasmvsTest.inWorker(a), browserInput());
    expect(got.error).toBeUndefined();
    const { worker, ...result } = got;
    expect(worker).toBe(true);
    expect(result).toEqual(inNode);
    expect(session.problems).toEqual([]);
  }, 120_000);
});
