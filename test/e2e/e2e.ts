// Shared by the end-to-end tests: whether they can run here, and counting bodies.
import { describe, it } from "vitest";
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
