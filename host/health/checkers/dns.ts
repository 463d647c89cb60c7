// DNS_CHECK (keepalived/check/check_dns.c): a query for name (default ".") of type
// (default SOA) to connect_ip:connect_port over UDP, through Node's resolver (c-ares).
// As keepalived, any answer with RCODE 0 is a success, also one with no records
// (c-ares calls it ENODATA); NXDOMAIN, SERVFAIL, REFUSED, a malformed answer or none within
// connect_timeout is a failure.

import { promises as dns } from "node:dns";
import type { DnsChecker } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";

const FAILURES: Record<string, string> = {
  ENOTFOUND: "NXDOMAIN (rcode 3)", ESERVFAIL: "SERVFAIL (rcode 2)", EREFUSED: "REFUSED (rcode 5)", ENOTIMP: "NOTIMP (rcode 4)",
  EFORMERR: "FORMERR (rcode 1)", EBADRESP: "malformed answer", ETIMEOUT: "no answer", ECONNREFUSED: "connection refused (ICMP port unreachable)",
};

export async function dnsCheck(c: DnsChecker): Promise<Outcome> {
  const r = new dns.Resolver({ timeout: c.connectTimeoutMs, tries: 1 });
  // c-ares binds per family: an IPv6 bindto is the second argument (the IPv4 one stays any).
  const v6 = c.connectIp.includes(":");
  if (c.bindto) { if (v6) r.setLocalAddress("0.0.0.0", c.bindto); else r.setLocalAddress(c.bindto); }
  r.setServers([v6 ? `[${c.connectIp}]:${c.connectPort}` : `${c.connectIp}:${c.connectPort}`]);
  try {
    const answers = await r.resolve(c.name, c.type);
    return { ok: true, reason: `${c.type} ${c.name}: ${Array.isArray(answers) ? answers.length : 1} answer(s)` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENODATA") return { ok: true, reason: `${c.type} ${c.name}: no records (rcode 0)` };
    return failure(`${c.type} ${c.name}: ${FAILURES[code] ?? (e as Error).message}${code === "ETIMEOUT" ? ` within ${c.connectTimeoutMs} ms` : ""}`);
  } finally {
    r.cancel();
  }
}
