// Bounded in every input, also for unprivileged users (issue 16), on loopback: HTTP_GET's
// regex by RE2's rules (a pattern that backtracks forever in JavaScript answers at once; the
// PCRE2 syntax RE2 refuses is refused at load with its place and reason), one escaping of
// control characters, metrics_scraper in both syntaxes, the metrics endpoint's per-peer
// shares and reserve, and the dashboard dropping a watcher that does not read.

import { describe, expect, it, afterAll, beforeAll } from "vitest";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { httpCheck } from "../host/health/checkers/http.js";
import { regexFindsOffThread } from "../host/health/regex.js";
import { smtpCheck } from "../host/health/checkers/smtp.js";
import type { HttpChecker, SmtpChecker } from "../host/config/health.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { parseRules } from "../host/config/rules.js";
import { withinAny } from "../host/config/settings.js";
import { printable } from "../host/config/printable.js";
import { formatHealth } from "../host/health/format.js";
import { MAX_SCRAPERS, RESERVED_SCRAPERS, SCRAPERS_PER_PEER, startMetrics } from "../host/metrics/metrics.js";
import { startDashboard } from "../host/dashboard/server.js";
import type { LiveView } from "../host/control/live.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC } from "./helpers/director.js";

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "wasmvs-bounds-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listening = (s: Server) => new Promise<number>((r) => s.listen(0, "127.0.0.1", () => r((s.address() as { port: number }).port)));
const closed = (s: Server) => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections?.(); });

function keepalived(director: string, services = ""): string {
  const p = join(dir, `k${Math.random().toString(36).slice(2)}.conf`);
  writeFileSync(p, `director {
  interface outside {
    tap wvo
    mac ${OUT_MAC}
    address ${DIRECTOR_OUT}/24
  }
  interface inside {
    tap wvi
    mac ${IN_MAC}
    address ${DIRECTOR_IN}/24
  }
${director}
}
${services}`);
  return p;
}
const errorsOf = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    return (e as Error).message.split("\n").map((l) => l.replace(/^.*\.conf:/, "").replace(/^r:/, ""));
  }
  return [];
};

describe("HTTP_GET's regex by RE2's rules", () => {
  const checker = (port: number, regex: string): HttpChecker => ({
    kind: "HTTP_GET", connectIp: "127.0.0.1", connectPort: port, connectTimeoutMs: 5000, httpProtocol: "1.1",
    urls: [{ path: "/", statusCodes: [[200, 299]], regex, regexNoMatch: false }],
  }) as unknown as HttpChecker;

  it("^(a+)+$ against a long body of a's ending in ! is answered at once (JavaScript's engine backtracks for ever)", async () => {
    const body = "a".repeat(64 * 1024) + "!";
    const server = createServer((_, res) => res.end(body));
    const port = await listening(server);
    try {
      // The backtracking engine gives up on 35 bytes only after 2^35 steps: not run here.
      const start = performance.now();
      const r = await httpCheck(checker(port, "^(a+)+$"));
      const ms = performance.now() - start;
      expect(r).toEqual({ ok: false, reason: "body does not match regex" });
      // Generous for a loaded machine; the backtracking engine takes hours.
      expect(ms).toBeLessThan(3000);
      // And what the regex engine does find, it finds.
      expect((await httpCheck(checker(port, "a{100}!$"))).ok).toBe(true);
      expect((await httpCheck(checker(port, "(?i)A+!"))).ok).toBe(true);
    } finally {
      await closed(server);
    }
  });

  it("the match runs off the control thread within a time bound: past it the check fails with why, and the next match works", async () => {
    // [a-z]{50}[0-9] over 1 MiB of letters: linear, but seconds of pure JavaScript.
    const body = Buffer.from("abcdefghijklmnopqrstuvwxyz".repeat(40_330));
    let beats = 0;
    const heart = setInterval(() => beats++, 5);
    const r = await regexFindsOffThread("[a-z]{50}[0-9]", body, 50);
    clearInterval(heart);
    expect(r).toBe("regex match took longer than 50 ms");
    // The control thread ran its timers meanwhile.
    expect(beats).toBeGreaterThan(0);
    // A fresh thread answers the next one.
    expect(await regexFindsOffThread("[a-z]{3}xyz$", body)).toBe(true);
    expect(await regexFindsOffThread("^(a+)+$", Buffer.from("a".repeat(35) + "!"))).toBe(false);
  });

  it("PCRE2 syntax RE2 has no linear-time match for is refused at load, with its place and why", () => {
    const url = (regex: string) => `virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 {
    HTTP_GET { url { path /
      regex ${regex} } }
  }
}`;
    const cases: [string, string][] = [
      ["(a)\\1", "backreferences (\\1) are not supported: RE2 matches in linear time and has none"],
      ["a(?=b)", "lookahead ((?= and (?!) is not supported: RE2 matches in linear time and has none"],
      ["(?<!a)b", "lookbehind ((?<= and (?<!) is not supported: RE2 matches in linear time and has none"],
      ["(?>a+)b", "atomic groups ((?>) are not supported by RE2"],
      ["a++b", "possessive quantifiers (*+, ++, ?+, {n}+) are not supported by RE2"],
      ["(a|(?R))", "recursion and subroutine calls ((?R), (?1), (?&name)) are not supported by RE2"],
      ["a(", "not a regular expression (RE2 syntax): missing closing ): `a(`"],
    ];
    for (const [regex, why] of cases) expect(errorsOf(() => parseKeepalived(keepalived("", url(regex))))).toEqual([`17:13: '${regex}': ${why}`]);
    // Inside a class or escaped, these characters are plain.
    expect(errorsOf(() => parseKeepalived(keepalived("", url("[(?=]\\(\\?=x"))))).toEqual([]);
  });
});

describe("control characters from outside are escaped", () => {
  it("one function: C0, DEL, C1, bidi controls; printable text and backslashes unchanged; idempotent", () => {
    const hostile = "554 \x1b[2J\x1b]0;owned\x07 \x9b31m \u202eevil\x7f\r\nforged line \\x1b";
    const p = printable(hostile);
    expect(p).toBe("554 \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m \\u{202e}evil\\x7f\\x0d\\x0aforged line \\x1b");
    expect(printable(p)).toBe(p);
    expect(printable("a\nb\x1b", true)).toBe("a\nb\\x1b");
    expect(printable("déjà vu — ok")).toBe("déjà vu — ok");
  });

  it("an SMTP server's greeting reaches the reason; -L --health prints it escaped", async () => {
    const tcp = (await import("node:net")).createServer((s) => { s.on("error", () => {}); s.end("554 \x1b[2J\x1b]0;owned\x07 go away\r\n"); });
    const port = await new Promise<number>((r) => tcp.listen(0, "127.0.0.1", () => r((tcp.address() as { port: number }).port)));
    try {
      const r = await smtpCheck({ kind: "SMTP_CHECK", connectIp: "127.0.0.1", connectPort: port, connectTimeoutMs: 3000, helo: "t" } as unknown as SmtpChecker);
      expect(r.ok).toBe(false);
      // The vector: the server's bytes are in the reason as it comes from the client library.
      expect(r.reason).toContain("\x1b[2J");
      const listing = formatHealth([{ service: "tcp 10.0.0.100:25", server: "10.1.0.11:25", alive: false, weight: 1, reason: r.reason,
        checkers: [{ kind: "SMTP_CHECK", target: `127.0.0.1:${port}`, up: false, last: r.reason, lastOk: false }] }] as never);
      expect(listing).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(listing).toContain("\\x1b[2J\\x1b]0;owned\\x07");
    } finally {
      tcp.close();
    }
  });
});

describe("metrics_scraper", () => {
  it("in both syntaxes: ADDRESS[/PREFIX], repeatable; errors with their place", () => {
    const rules = (extra: string) => `interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24\nmetrics 9100\n${extra}`;
    expect(parseRules(rules("metrics_scraper 10.0.0.9\nmetrics_scraper 192.168.0.0/16\n"), "r").metricsScrapers)
      .toEqual([{ cidr: "10.0.0.9/32", line: 3 }, { cidr: "192.168.0.0/16", line: 4 }]);
    expect(errorsOf(() => parseRules(rules("metrics_scraper 10.0.0.300\n"), "r"))).toEqual([`3:17: '10.0.0.300': a metrics scraper must be an IPv4 address, got "10.0.0.300"`]);
    expect(errorsOf(() => parseRules(rules("metrics_scraper 10.0.0.0/33\n"), "r"))).toEqual(["3:17: '10.0.0.0/33': prefix length must be a whole number from 0 to 32"]);
    expect(errorsOf(() => parseRules(rules("metrics_scraper\n"), "r"))).toEqual(["3:16: 'metrics_scraper': expects ADDRESS[/PREFIX]"]);
    expect(parseKeepalived(keepalived("  metrics 9100\n  metrics_scraper 10.0.0.9/32\n  metrics_scraper 10.2.0.0/24")).metricsScrapers)
      .toEqual([{ cidr: "10.0.0.9/32", line: 13 }, { cidr: "10.2.0.0/24", line: 14 }]);
    expect(errorsOf(() => parseKeepalived(keepalived("  metrics_scraper 10.0.0.9 10.0.0.10")))).toEqual(["12:28: '10.0.0.10': unexpected argument to metrics_scraper"]);
    expect(errorsOf(() => parseRules(`interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24\nmetrics_scraper 10.0.0.9\n`, "r")))
      .toEqual(["2:1: 'metrics_scraper': metrics_scraper needs a metrics line (there is no endpoint to keep connections of)"]);
    expect(errorsOf(() => parseKeepalived(keepalived("  metrics_scraper 10.0.0.9"))))
      .toEqual(["12:3: 'metrics_scraper': metrics_scraper needs a metrics line (there is no endpoint to keep connections of)"]);
    expect(withinAny(["10.2.0.0/24", "10.0.0.9/32"], "10.2.0.77")).toBe(true);
    expect(withinAny(["10.2.0.0/24", "10.0.0.9/32"], "10.0.0.10")).toBe(false);
    expect(withinAny(["0.0.0.0/0"], "1.2.3.4")).toBe(true);
  });
});

/** Open n connections to port from source (a loopback address); resolves once each is either
 *  open past settleMs or closed by the server, with how many were closed. */
async function hold(port: number, n: number, source: string, settleMs = 300): Promise<{ sockets: Socket[]; refused: number }> {
  const sockets: Socket[] = [];
  let refused = 0;
  await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => {
    const s = connect({ port, host: "127.0.0.1", localAddress: source });
    sockets.push(s);
    s.on("error", () => {});
    s.on("close", () => { refused++; resolve(); });
    s.on("connect", () => setTimeout(resolve, settleMs));
  })));
  return { sockets, refused };
}

async function scrape(port: number, source: string): Promise<number> {
  return new Promise((resolve) => {
    const s = connect({ port, host: "127.0.0.1", localAddress: source });
    let got = "";
    s.on("data", (d) => { got += d; });
    s.on("error", () => resolve(0));
    s.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0)));
    s.on("connect", () => s.write("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    setTimeout(() => s.destroy(), 5000);
  });
}

describe("the metrics endpoint shares its connections", () => {
  it("a peer holds at most its share; the shared ones full, a metrics_scraper address still scrapes from its reserve", async () => {
    const registry = new Registry();
    let refused = 0;
    // 127.0.0.99 stands for Prometheus's host (the e2e test scrapes from another namespace,
    // and holds connections as several users).
    const trusted = (a: string) => a === "127.0.0.99";
    const server = await startMetrics(registry, async () => {}, "127.0.0.1", 0, () => {}, { trusted, onRefused: () => { refused++; } });
    const port = (server.address() as { port: number }).port;
    const held: Socket[] = [];
    try {
      const first = await hold(port, 10, "127.0.0.2");
      held.push(...first.sockets);
      const perPeer = first.refused;
      // Every local connection of root is uid 0 to the kernel: one peer, whatever its source address.
      expect(10 - perPeer).toBe(SCRAPERS_PER_PEER);
      expect(refused).toBe(perPeer);
      // Root's share taken: another scrape of root is refused...
      expect(await scrape(port, "127.0.0.3")).toBe(0);
      // ...but the scraper's address has its reserve: 20 of 20 answered.
      const codes: number[] = [];
      for (let i = 0; i < 20; i++) codes.push(await scrape(port, "127.0.0.99"));
      expect(codes).toEqual(new Array(20).fill(200));
      expect(MAX_SCRAPERS).toBeGreaterThan(SCRAPERS_PER_PEER);
      expect(RESERVED_SCRAPERS).toBeGreaterThan(0);
    } finally {
      for (const s of held) s.destroy();
      await closed(server);
    }
  });
});

describe("the dashboard drops a watcher that does not read", () => {
  it("behind by more than a few events for slowWatcherMs: dropped, though loopback's buffers still take its events; a reading watcher stays", async () => {
    // Events of 3 KB every 20 ms: 64 KiB behind in half a second, long before the kernel's
    // buffers (a few hundred KB on loopback) would make write() say false.
    const view = { at: Date.now(), pad: "x".repeat(3000) } as unknown as LiveView;
    const d = await startDashboard({ view: async () => view, host: "127.0.0.1", port: 0, intervalMs: 20, onError: () => {}, slowWatcherMs: 500 });
    const port = d.port();
    const reader = connect(port, "127.0.0.1");
    let read = 0;
    reader.on("data", (b) => { read += b.length; });
    reader.on("error", () => {});
    reader.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    const lazy = connect(port, "127.0.0.1");
    lazy.on("error", () => {});
    lazy.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    lazy.pause();
    try {
      const start = Date.now();
      while (d.watchers() < 2 && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 20));
      expect(d.watchers()).toBe(2);
      while (d.watchers() > 1 && Date.now() - start < 30_000) await new Promise((r) => setTimeout(r, 50));
      expect(d.watchers()).toBe(1);
      // The reader goes on: past the bound in what it has read, and still watching later.
      const before = read;
      await new Promise((r) => setTimeout(r, 1500));
      expect(d.watchers()).toBe(1);
      expect(read - before).toBeGreaterThan(64 * 1024);
    } finally {
      reader.destroy();
      lazy.destroy();
      await d.close();
    }
  }, 40_000);
});
