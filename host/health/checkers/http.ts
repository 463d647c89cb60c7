// HTTP_GET and SSL_GET (keepalived/check/check_http.c): each url of the checker is fetched
// in turn from connect_ip:connect_port with Node's HTTP(S) client; every one must answer
// within connect_timeout with a status in its status_code ranges (200-299 by default),
// a body whose MD5 is its digest and that its regex matches (or not, with
// regex_no_match). The Host header is the url's virtualhost, else the checker's, else
// the real server's or the virtual server's, else ADDRESS:PORT as keepalived sends it
// ([ADDRESS]:PORT for IPv6). Node's client connects to an IPv6 literal as to an IPv4 one.
//
// Node's client speaks HTTP/1.1 with "Connection: close" whatever http_protocol says
// (1.0, 1.0C and 1.1 answer alike for a health check; 0.9 is refused by the parser).
// SSL_GET verifies the server's certificate only when the SSL block gives a ca, as
// keepalived; the SSL block's certificate and key are sent when a server asks for one.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest, IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { HealthGlobals, HttpChecker, HttpUrl } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";
import { errorText } from "./tcp.js";
import { regexFindsOffThread } from "../regex.js";

/** Bytes of a body read for its digest at most; a regex sees the first REGEX_BYTES. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const REGEX_BYTES = 1024 * 1024;

export async function httpCheck(c: HttpChecker, ssl?: HealthGlobals["ssl"]): Promise<Outcome> {
  let tls: Record<string, unknown> | undefined;
  if (c.kind === "SSL_GET") {
    try {
      tls = {
        rejectUnauthorized: !!ssl?.ca, ca: ssl?.ca ? readFileSync(ssl.ca) : undefined, cert: ssl?.certificate ? readFileSync(ssl.certificate) : undefined,
        key: ssl?.key ? readFileSync(ssl.key) : undefined, passphrase: ssl?.password,
        servername: c.sniName ?? (c.enableSni ? c.urls[0].virtualhost ?? c.virtualhost : undefined),
      };
    } catch (e) {
      return failure(`SSL block: ${(e as Error).message}`);
    }
  }
  for (const u of c.urls) {
    const r = await fetchOne(c, u, tls);
    if (!r.ok) return c.urls.length > 1 ? { ...r, reason: `${u.path}: ${r.reason}` } : r;
  }
  return { ok: true, reason: c.urls.length > 1 ? `${c.urls.length} urls answered` : "answered as expected" };
}

function fetchOne(c: HttpChecker, u: HttpUrl, tls?: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(o);
    };
    // An IPv6 literal in brackets (RFC 3986 3.2.2), as keepalived's request_template_ipv6 writes it.
    const literal = c.connectIp.includes(":") ? `[${c.connectIp}]` : c.connectIp;
    const host = u.virtualhost ?? c.virtualhost ?? `${literal}:${c.connectPort}`;
    const options = {
      host: c.connectIp, port: c.connectPort, path: u.path, method: "GET", localAddress: c.bindto, localPort: c.bindPort, agent: false,
      headers: { Host: host, "User-Agent": "KeepAliveClient", Connection: "close" }, timeout: c.connectTimeoutMs, ...tls,
    };
    const req = (c.kind === "SSL_GET" ? httpsRequest : httpRequest)(options, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (!u.statusCodes.some(([lo, hi]) => status >= lo && status <= hi)) {
        finish(failure(`status ${status}, expected ${u.statusCodes.map(([lo, hi]) => (lo === hi ? lo : `${lo}-${hi}`)).join(" ")}`));
        return;
      }
      if (!u.digest && !u.regex) { finish({ ok: true, reason: `status ${status}` }); return; }
      const md5 = createHash("md5");
      const kept: Buffer[] = [];
      let size = 0;
      res.on("data", (b: Buffer) => {
        size += b.length;
        if (size > MAX_BODY_BYTES) { finish(failure(`body larger than ${MAX_BODY_BYTES} bytes`)); return; }
        md5.update(b);
        if (u.regex && size - b.length < REGEX_BYTES) kept.push(b);
      });
      res.on("end", () => {
        if (u.digest) {
          const got = md5.digest("hex");
          if (got !== u.digest) { finish(failure(`digest ${got}, expected ${u.digest}`)); return; }
        }
        if (u.regex) {
          // RE2 (linear in the body), on a thread of its own within a time bound: a hostile
          // body cannot stall the control plane.
          const regex = u.regex;
          void regexFindsOffThread(regex, Buffer.concat(kept).subarray(0, REGEX_BYTES)).then((matched) => {
            if (typeof matched === "string") finish(failure(matched));
            else if (matched === u.regexNoMatch) finish(failure(u.regexNoMatch ? "body matches regex (regex_no_match)" : "body does not match regex"));
            else finish({ ok: true, reason: `status ${status}${u.digest ? ", digest matches" : ""}, regex ok` });
          });
          return;
        }
        finish({ ok: true, reason: `status ${status}${u.digest ? ", digest matches" : ""}` });
      });
      res.on("error", (e) => finish(failure(errorText(e))));
    });
    req.on("timeout", () => finish(failure(`no answer within ${c.connectTimeoutMs} ms`)));
    req.on("error", (e) => finish(failure(tlsText(e) ?? errorText(e))));
    // A server trickling its answer is down too: the whole fetch has a bound.
    const deadline = setTimeout(() => finish(failure(`answer not complete within ${4 * c.connectTimeoutMs} ms`)), 4 * c.connectTimeoutMs);
    req.end();
  });
}

/** A TLS failure in a line: OpenSSL's reason ("wrong version number"), or Node's code. */
function tlsText(e: Error): string | undefined {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  const ssl = /SSL routines:[^:]*:([^:\n]+)/.exec(e.message);
  if (ssl) return `TLS handshake failed: ${ssl[1].trim()}`;
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || /CERT|SELF_SIGNED|UNABLE_TO/.test(code)) return `TLS: ${e.message.split("\n")[0]}`;
  return undefined;
}
