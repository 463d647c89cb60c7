// wasmvs playground: serve the playground page (dist/playground/index.html, built by npm
// run build) over HTTP. The page is self-contained — the engine and its script are inlined —
// so this serves one file, read once; it can as well be opened from disk.

import { createServer } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { listenEndpoint, SettingError } from "../config/settings.js";

export const PLAYGROUND_PAGE = fileURLToPath(new URL("../../../dist/playground/index.html", import.meta.url));

export class PlaygroundError extends Error {}

export async function playground(listen: string | undefined, log: (line: string) => void): Promise<number> {
  let at: { host: string; port: number };
  try {
    at = listenEndpoint(listen ?? "127.0.0.1:8080", "playground");
  } catch (e) {
    if (!(e instanceof SettingError)) throw e;
    throw new PlaygroundError(`--listen ${listen}: ${e.message}`);
  }
  if (!existsSync(PLAYGROUND_PAGE)) throw new PlaygroundError(`the playground is not built: ${PLAYGROUND_PAGE} is missing (run npm run build)`);
  const page = readFileSync(PLAYGROUND_PAGE);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("only GET and HEAD\n");
    } else if (path === "/" || path === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": page.length, "cache-control": "no-cache" });
      res.end(req.method === "HEAD" ? undefined : page);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: the playground is at /\n");
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new PlaygroundError(`cannot listen on ${at.host}:${at.port}: ${e.code === "EADDRINUSE" ? "the address is in use" : e.message}`)));
    server.listen(at.port, at.host, () => resolve());
  });
  log(`the playground is at http://${at.host}:${at.port}/ (or open ${PLAYGROUND_PAGE} from disk); Ctrl-C stops`);
  await new Promise<void>((resolve) => {
    const stop = () => { server.close(() => resolve()); server.closeAllConnections(); };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}
