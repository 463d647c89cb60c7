// SMTP_CHECK (keepalived/check/check_smtp.c): connect to connect_ip:connect_port, read
// the 220 greeting, HELO helo_name, QUIT — through nodemailer's SMTP client. Any
// failure or a step not done within connect_timeout is a failure.

import { createRequire } from "node:module";
import type SMTPConnectionType from "nodemailer/lib/smtp-connection/index.js";
import type { SmtpChecker } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";
import { errorText } from "./tcp.js";

// nodemailer loaded when a checker first runs: a director without SMTP_CHECK does not pay
// its load at start (tens of ms).
let SMTPConnection: typeof SMTPConnectionType | undefined;

export function smtpCheck(c: SmtpChecker): Promise<Outcome> {
  SMTPConnection ??= createRequire(import.meta.url)("nodemailer/lib/smtp-connection/index.js") as typeof SMTPConnectionType;
  return new Promise((resolve) => {
    const conn = new SMTPConnection!({
      host: c.connectIp, port: c.connectPort, localAddress: c.bindto, name: c.helo, secure: false, ignoreTLS: true,
      connectionTimeout: c.connectTimeoutMs, greetingTimeout: c.connectTimeoutMs, socketTimeout: c.connectTimeoutMs, logger: false,
    });
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      try { conn.quit(); } catch { /* closed */ }
      conn.close();
      resolve(o);
    };
    const deadline = setTimeout(() => finish(failure(`no SMTP dialogue within ${3 * c.connectTimeoutMs} ms`)), 3 * c.connectTimeoutMs);
    conn.on("error", (e: Error) => finish(failure(errorText(e))));
    conn.connect(() => finish({ ok: true, reason: "SMTP greeting and HELO answered" }));
  });
}
