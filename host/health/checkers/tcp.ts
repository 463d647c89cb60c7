// TCP_CHECK: a connection to connect_ip:connect_port within connect_timeout is a success
// (keepalived/check/check_tcp.c); the connection is closed at once.

import { connect } from "node:net";
import type { CheckerBase } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";

export function tcpCheck(c: CheckerBase): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = connect({ host: c.connectIp, port: c.connectPort, localAddress: c.bindto, localPort: c.bindPort, noDelay: true });
    const timer = setTimeout(() => { s.destroy(); resolve(failure(`no connection within ${c.connectTimeoutMs} ms`)); }, c.connectTimeoutMs);
    s.once("connect", () => { clearTimeout(timer); s.destroy(); resolve({ ok: true, reason: "connected" }); });
    s.once("error", (e) => { clearTimeout(timer); s.destroy(); resolve(failure(errorText(e))); });
  });
}

/** A socket error as an operator reads it. */
export function errorText(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused", EHOSTUNREACH: "host unreachable", ENETUNREACH: "network unreachable", ECONNRESET: "connection reset",
    ETIMEDOUT: "timed out", EADDRNOTAVAIL: "bindto/bind_port address not available", EADDRINUSE: "bind_port in use", EPIPE: "connection closed",
  };
  return code && known[code] ? `${known[code]} (${code})` : e.message;
}
