// keepalived's SMTP alerts (global_defs notification_email, notification_email_from,
// smtp_server, smtp_connect_timeout, smtp_helo_name): one mail per state change, sent
// with nodemailer to the configured server. Sending never blocks the daemon: mails wait
// in a bounded queue and go one at a time; a failure is logged and counted, not retried.

import { createRequire } from "node:module";
import type { Transporter } from "nodemailer";
import type { HealthGlobals } from "../config/health.js";
import { WARNING } from "../io/log.js";

/** Mails waiting at most; past this, new ones are dropped (and counted). */
export const MAX_QUEUED_MAILS = 100;

export class Mailer {
  private queue: { subject: string; text: string }[] = [];
  private sending = false;
  private readonly transport: Transporter;
  readonly stats = { sent: 0, failed: 0, dropped: 0 };

  constructor(private readonly g: HealthGlobals & { smtpServer: { host: string; port: number } }, private readonly log: (line: string) => void) {
    // nodemailer loaded only where mail is configured (tens of ms at every start otherwise).
    const { createTransport } = createRequire(import.meta.url)("nodemailer") as typeof import("nodemailer");
    this.transport = createTransport({
      host: g.smtpServer.host, port: g.smtpServer.port, secure: false, ignoreTLS: true, name: g.smtpHeloName ?? g.routerId ?? "localhost",
      connectionTimeout: g.smtpConnectTimeoutMs, greetingTimeout: g.smtpConnectTimeoutMs, socketTimeout: g.smtpConnectTimeoutMs,
    });
  }

  /** A mailer when global_defs asks for mail (a server and at least one address). */
  static from(g: HealthGlobals | undefined, log: (line: string) => void): Mailer | undefined {
    if (!g?.smtpServer || !g.notificationEmail.length) return undefined;
    return new Mailer(g as HealthGlobals & { smtpServer: { host: string; port: number } }, log);
  }

  send(subject: string, text: string): void {
    if (this.queue.length >= MAX_QUEUED_MAILS) { this.stats.dropped++; return; }
    this.queue.push({ subject: `[${this.g.routerId ?? "wasmvs"}] ${subject}`, text });
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      for (let m = this.queue.shift(); m; m = this.queue.shift()) {
        try {
          await this.transport.sendMail({
            from: this.g.notificationEmailFrom ?? `wasmvs@${this.g.routerId ?? "localhost"}`, to: this.g.notificationEmail.join(", "),
            subject: m.subject, text: `${m.text}\n`,
          });
          this.stats.sent++;
        } catch (e) {
          this.stats.failed++;
          const host = this.g.smtpServer.host.includes(":") ? `[${this.g.smtpServer.host}]` : this.g.smtpServer.host;
          this.log(`${WARNING}mail to ${host}:${this.g.smtpServer.port} not sent: ${(e as Error).message}`);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  close(): void {
    this.transport.close();
  }
}
