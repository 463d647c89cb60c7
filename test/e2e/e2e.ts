// Shared by the end-to-end tests: whether they can run here, counting bodies, signalling a peer.
import { describe, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sandboxUnavailable } from "../../host/sandbox/sandbox.js";
import { browserUnavailable } from "../helpers/browser.js";

/** describe() for tests that need root and namespaces: skipped with the reason when
 *  they cannot run, except under WASMVS_REQUIRE_E2E=1 (CI), where that is a failure. */
export function e2eDescribe(name: string, body: () => void): void {
  gatedDescribe(name, sandboxUnavailable(), body);
}

/** The same for tests that need Chromium (and, with namespaces, also root). */
export function browserDescribe(name: string, body: () => void, namespaces = false): void {
  gatedDescribe(name, browserUnavailable() ?? (namespaces ? sandboxUnavailable() : undefined), body);
}

export function gatedDescribe(name: string, why: string | undefined, body: () => void): void {
  if (!why) {
    describe(name, body);
  } else if (process.env.WASMVS_REQUIRE_E2E === "1") {
    describe(name, () => it("can run", () => { throw new Error(`end-to-end tests cannot run: ${why}`); }));
  } else {
    console.warn(`skipping end-to-end tests "${name}": ${why}`);
    describe.skip(name, body);
  }
}

export function tally(bodies: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of bodies) out[b] = (out[b] ?? 0) + 1;
  return out;
}

/** Signal the processes whose pid files (in dir) a peer wrote, such as keepalived's `-p`
 *  and `-r` files; a file not there or a process gone is no error (cleanup runs after failures). */
export function signalPidFiles(dir: string, files: string[], signal: NodeJS.Signals): void {
  for (const f of files) {
    const p = join(dir, f);
    if (existsSync(p)) try { process.kill(Number(readFileSync(p, "utf8")), signal); } catch { /* gone */ }
  }
}
