// The live dashboard of `wasmvs run` (a `dashboard [ADDRESS:]PORT` line; off without one):
// one page (dist/dashboard/index.html, self-contained: its script and uPlot inlined, no CDN),
// the live view as JSON at /api/view, and the same view pushed every second as server-sent
// events at /events; the charts' last hour (history.ts) at /api/history, drawn by a page as it opens. One snapshot a second however many pages watch; every input bounded:
// at most MAX_WATCHERS event streams (WATCHERS_PER_PEER of one peer: a local user, or an
// address, host/metrics/peers.ts) and MAX_REQUESTS other requests at once, each peer's
// connections capped, requests cut off after REQUEST_TIMEOUT_MS, replies not read within
// REPLY_TIMEOUT_MS dropped, and a page that stops reading its events (behind by more than a few
// events for SLOW_WATCHER_MS, or MAX_BACKLOG) is dropped rather than buffered for.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { LiveView } from "../control/live.js";
import type { HistoryView } from "./history.js";
import { limitPeers, replyWithin, unreadBy } from "../metrics/peers.js";

/** The built page, found from the package root (this file runs from dist/host/dashboard, or from
 *  host/dashboard under a TypeScript runner such as the tests'). */
export const DASHBOARD_PAGE = ["../../..", "../.."].map((up) => fileURLToPath(new URL(`${up}/dist/dashboard/index.html`, import.meta.url)))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL("../../../dist/dashboard/index.html", import.meta.url));
export const MAX_WATCHERS = 16;
export const MAX_REQUESTS = 16;
export const WATCHERS_PER_PEER = 4;
/** Connections of one peer (a browser opens up to 6 to a host). */
export const CONNECTIONS_PER_PEER = 8;
export const REQUEST_TIMEOUT_MS = 5000;
export const REPLY_TIMEOUT_MS = 10_000;
/** How long a watcher may stay behind (more than MAX_UNREAD, or 8 events, unread) before it is dropped. */
export const SLOW_WATCHER_MS = 10_000;
const MAX_UNREAD = 64 * 1024;
/** Unsent bytes a watcher may fall behind by before it is dropped at once. */
const MAX_BACKLOG = 1 << 20;

export interface DashboardOptions {
  view: () => Promise<LiveView>;
  /** The charts' server-side history (none: the page starts with empty charts). */
  history?: () => HistoryView;
  host: string;
  port: number;
  intervalMs?: number;
  onError: (e: Error) => void;
  /** Called for each connection or watcher refused at a limit. */
  onRefused?: () => void;
  /** Overrides of the bounds, for tests. */
  slowWatcherMs?: number;
}

export interface Dashboard { close(): Promise<void>; watchers(): number; port(): number }

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  if (!existsSync(DASHBOARD_PAGE)) throw new Error(`dashboard: ${DASHBOARD_PAGE} is missing (run npm run build)`);
  const page = readFileSync(DASHBOARD_PAGE);
  const watchers = new Set<ServerResponse>();
  /** Since when each watcher has been behind (see push). */
  const stuck = new Map<ServerResponse, number>();
  const watching = new Map<string, number>();
  let requests = 0;
  let timer: NodeJS.Timeout | undefined;
  let busy = false;

  const push = async () => {
    if (busy || watchers.size === 0) return;
    busy = true;
    try {
      const data = `event: view\ndata: ${JSON.stringify(await o.view())}\n\n`;
      const now = Date.now();
      // Behind: more unread than a few events' worth, in the kernel (the client's socket, or
      // this end's unacknowledged bytes) and in Node. Loopback absorbs megabytes before write()
      // says false, so Node's backpressure alone would keep a page that never reads for an hour.
      const bound = Math.max(MAX_UNREAD, 8 * data.length);
      for (const w of watchers) {
        if (w.writableLength > MAX_BACKLOG) { w.destroy(); continue; }
        const behind = w.socket ? unreadBy(w.socket) > bound : false;
        const since = stuck.get(w);
        if (!behind) stuck.delete(w);
        else if (since === undefined) stuck.set(w, now);
        else if (now - since > (o.slowWatcherMs ?? SLOW_WATCHER_MS)) { w.destroy(); continue; }
        w.write(data);
      }
    } catch (e) {
      o.onError(e as Error);
    } finally {
      busy = false;
    }
  };
  const watch = (req: IncomingMessage, res: ServerResponse) => {
    const peer = peers.of(req.socket);
    const mine = watching.get(peer) ?? 0;
    if (watchers.size >= MAX_WATCHERS || mine >= WATCHERS_PER_PEER) {
      o.onRefused?.();
      res.writeHead(503, { "content-type": "text/plain", "retry-after": "10" })
        .end(mine >= WATCHERS_PER_PEER ? `at most ${WATCHERS_PER_PEER} pages of one user or address watch at once\n` : `at most ${MAX_WATCHERS} pages watch at once\n`);
      return;
    }
    watching.set(peer, mine + 1);
    req.socket.setTimeout(0);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write("retry: 2000\n\n");
    watchers.add(res);
    const gone = () => {
      if (!watchers.delete(res)) return;
      stuck.delete(res);
      const n = (watching.get(peer) ?? 1) - 1;
      if (n > 0) watching.set(peer, n);
      else watching.delete(peer);
      if (watchers.size === 0 && timer) { clearInterval(timer); timer = undefined; }
    };
    res.on("close", gone);
    res.on("error", gone);
    if (!timer) timer = setInterval(() => void push(), o.intervalMs ?? 1000);
    void push();
  };

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET and HEAD\n");
      return;
    }
    if (path === "/events") { watch(req, res); return; }
    if (requests >= MAX_REQUESTS) {
      o.onRefused?.();
      res.writeHead(503, { "content-type": "text/plain" }).end("busy\n");
      return;
    }
    requests++;
    replyWithin(res, REPLY_TIMEOUT_MS);
    res.on("close", () => { requests--; });
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length, "cache-control": "no-cache" }).end(req.method === "HEAD" ? undefined : page);
    } else if (path === "/api/history" && o.history) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" }).end(JSON.stringify(o.history()));
    } else if (path === "/api/view") {
      o.view().then(
        (v) => res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" }).end(JSON.stringify(v)),
        (e: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${e.message}\n`),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the dashboard is at /\n");
    }
  });
  const peers = limitPeers(server, { perPeer: CONNECTIONS_PER_PEER, total: MAX_WATCHERS + MAX_REQUESTS, onRefused: o.onRefused });
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.requestTimeout = 0; // the event streams are long; other requests are timed by the socket below
  server.keepAliveTimeout = REQUEST_TIMEOUT_MS;
  server.setTimeout(REQUEST_TIMEOUT_MS, (s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(`dashboard on ${o.host}:${o.port}: ${e.code === "EADDRINUSE" ? "the port is in use" : e.message}`)));
    server.listen(o.port, o.host, () => resolve());
  });
  server.removeAllListeners("error");
  server.on("error", o.onError);
  return {
    watchers: () => watchers.size,
    port: () => (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => {
      if (timer) clearInterval(timer);
      for (const w of watchers) w.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
