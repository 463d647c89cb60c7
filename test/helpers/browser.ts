// Headless Chromium for the browser tests: Debian's chromium driven by playwright-core over
// a pipe (no browser download, no debugging port). Pages load from http://wasmvs.test/, an
// origin that exists only inside the browser context: every request to it is answered from
// the repository's files by route interception, and any other request is refused, so no
// socket is opened, not even on loopback — except, for a browser started inside a test's
// network namespace, its own loopback (a director's dashboard).

import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { extname, join, sep } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "../../host/sandbox/sandbox.js";

export const ORIGIN = "http://wasmvs.test";
const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium"];
/** What the tests may load: the build, the engine's modules, the browser tests' own files. */
const SERVED = ["dist", "wasm", "test/browser", "playground"];
const TYPES: Record<string, string> = {
  ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html",
  ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml", ".pcap": "application/vnd.tcpdump.pcap",
};

export function chromiumPath(): string | undefined {
  const chosen = process.env.WASMVS_CHROMIUM;
  if (chosen) return existsSync(chosen) ? chosen : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** Why the browser tests cannot run here, or undefined. */
export function browserUnavailable(): string | undefined {
  if (chromiumPath()) return undefined;
  return process.env.WASMVS_CHROMIUM ? `WASMVS_CHROMIUM=${process.env.WASMVS_CHROMIUM} does not exist` : "no Chromium (apt-get install chromium, or set WASMVS_CHROMIUM)";
}

function file(path: string): { body: Buffer; type: string } | undefined {
  const rel = decodeURIComponent(path).replace(/^\/+/, "");
  if (!SERVED.some((d) => rel === d || rel.startsWith(d + "/"))) return undefined;
  const full = join(ROOT, rel);
  if (!existsSync(full)) return undefined;
  const real = realpathSync(full);
  if (!real.startsWith(realpathSync(ROOT) + sep)) return undefined;
  try {
    return { body: readFileSync(real), type: TYPES[extname(real)] ?? "application/octet-stream" };
  } catch {
    return undefined;
  }
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  /** Console errors, page errors and refused requests, from every page and worker. */
  problems: string[];
  page(): Promise<Page>;
  close(): Promise<void>;
}

export interface BrowserOptions {
  /** Run Chromium inside this network namespace (one the test made), e.g. to reach a
   *  director's dashboard on its loopback; pages may then load from http://127.0.0.1. */
  namespace?: string;
}

export async function openBrowser(o: BrowserOptions = {}): Promise<BrowserSession> {
  let path = chromiumPath();
  if (!path) throw new Error(browserUnavailable());
  let wrapperDir: string | undefined;
  const cleanup = () => { if (wrapperDir) rmSync(wrapperDir, { recursive: true, force: true }); };
  if (o.namespace) {
    if (!/^[\w-]+$/.test(o.namespace)) throw new Error(`not a namespace name: ${o.namespace}`);
    wrapperDir = mkdtempSync(join(tmpdir(), "wasmvs-chromium-"));
    const wrapper = join(wrapperDir, "chromium");
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${o.namespace} ${path} "$@"\n`, { mode: 0o755 });
    path = wrapper;
  }
  // --no-sandbox: Chromium refuses to run as root with its sandbox, and the tests run as root.
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: path, args: ["--no-sandbox", "--disable-gpu"], timeout: 60_000 });
  } catch (e) {
    cleanup();
    throw e;
  }
  const problems: string[] = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.route("**/*", (route) => {
      const url = new URL(route.request().url());
      if (o.namespace && url.hostname === "127.0.0.1") return route.continue();
      if (url.origin !== ORIGIN) {
        problems.push(`refused request to ${url.href}`);
        return route.abort("blockedbyclient");
      }
      const f = url.pathname === "/" ? { body: Buffer.from("<!doctype html><meta charset=utf-8><title>wasmvs test</title>"), type: "text/html" } : file(url.pathname);
      if (!f) {
        problems.push(`not found: ${url.pathname}`);
        return route.fulfill({ status: 404, body: "not found" });
      }
      return route.fulfill({ status: 200, contentType: f.type, body: f.body });
    });
    const watch = (p: Page) => {
      p.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
      p.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    };
    return {
      browser, context, problems,
      async page() {
        const p = await context.newPage();
        watch(p);
        return p;
      },
      async close() { await browser.close(); cleanup(); },
    };
  } catch (err) {
    await browser.close();
    cleanup();
    throw err;
  }
}
