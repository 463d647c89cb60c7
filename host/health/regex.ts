// HTTP_GET's `regex`, matched by RE2's rules (re2js, a pure-JavaScript port of RE2): the
// time a match takes grows linearly with the body, whatever the pattern and whatever the
// checked server sends. JavaScript's own RegExp backtracks — `^(a+)+$` against 35 bytes of
// "a" ending in "!" froze the control plane (health checks, VRRP, the control socket,
// metrics) — and keepalived's PCRE2 stops at a match limit instead of being linear.
//
// RE2 refuses what cannot be matched in linear time: host/config/regex.ts refuses those of
// keepalived's PCRE2 constructs when the configuration is read, each with a reason.

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** How long one match may take before the check fails (keepalived's PCRE2 stops at a match limit). */
export const REGEX_TIME_MS = 2000;
/** Matches waiting for the matcher at most (each checker has one check in flight). */
const MAX_WAITING = 1024;

// Linear is not instant: a large pattern over a 1 MiB body takes seconds of pure JavaScript.
// So the match runs on a thread of its own, one at a time, each within REGEX_TIME_MS (the
// thread is ended and started afresh past it): the control thread only waits for an answer.
// The thread's code is given inline, so it runs the same from the sources and from dist/;
// made when the first thread starts (the playground's page imports this module too, and has
// no require to resolve re2js with).
const threadSource = () => `
const { parentPort } = require("node:worker_threads");
const { RE2JS } = require(${JSON.stringify(createRequire(import.meta.url).resolve("re2js"))});
const cache = new Map();
parentPort.on("message", ({ pattern, body }) => {
  let re = cache.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    if (cache.size >= 64) cache.delete(cache.keys().next().value);
    cache.set(pattern, re);
  }
  parentPort.postMessage(re.matcher(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")).find());
});`;

interface Job { pattern: string; body: Uint8Array; resolve: (r: boolean | string) => void }

class Matcher {
  private worker?: Worker;
  private current?: { job: Job; timer: NodeJS.Timeout };
  private readonly waiting: Job[] = [];

  /** Whether pattern finds a match in body (latin1), or why it could not tell. */
  find(pattern: string, body: Uint8Array, timeMs: number): Promise<boolean | string> {
    if (this.waiting.length >= MAX_WAITING) return Promise.resolve(`regex matcher busy (${MAX_WAITING} matches waiting)`);
    return new Promise((resolve) => {
      this.waiting.push({ pattern, body, resolve: (r) => resolve(r) });
      this.next(timeMs);
    });
  }

  private next(timeMs: number): void {
    if (this.current || this.waiting.length === 0) return;
    const job = this.waiting.shift()!;
    const w = this.thread(timeMs);
    const timer = setTimeout(() => {
      // Past the bound: the thread is ended (a match cannot be interrupted otherwise).
      this.worker = undefined;
      void w.terminate();
      this.done(`regex match took longer than ${timeMs} ms`, timeMs);
    }, timeMs);
    this.current = { job, timer };
    w.postMessage({ pattern: job.pattern, body: job.body });
  }

  private done(r: boolean | string, timeMs: number): void {
    const c = this.current;
    if (!c) return;
    clearTimeout(c.timer);
    this.current = undefined;
    c.job.resolve(r);
    this.next(timeMs);
  }

  private thread(timeMs: number): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(threadSource(), { eval: true, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    w.unref();
    w.on("message", (found: boolean) => { if (this.worker === w) this.done(found, timeMs); });
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.done(`regex matcher stopped: ${why}`, timeMs);
    };
    w.on("error", (e) => gone(e.message));
    w.on("exit", (code) => gone(`exit ${code}`));
    this.worker = w;
    return w;
  }
}

const matcher = new Matcher();

/** Whether pattern (checked by compileRegex at load) finds a match anywhere in body (an
 *  unanchored search, as pcre2_match and RegExp.test), read as latin1; a
 *  string says why it could not tell (over the time bound): the check then fails with it. */
export function regexFindsOffThread(pattern: string, body: Uint8Array, timeMs = REGEX_TIME_MS): Promise<boolean | string> {
  return matcher.find(pattern, body, timeMs);
}
