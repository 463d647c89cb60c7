// One entry point for every checker kind: the probe that answers whether a server passes.

import type { CheckerConfig, HealthGlobals } from "../../config/health.js";
import type { ScriptRunner } from "../scripts.js";
import { dnsCheck } from "./dns.js";
import { fileCheck } from "./file.js";
import { httpCheck } from "./http.js";
import { miscCheck } from "./misc.js";
import { Outcome } from "./outcome.js";
import { pingCheck } from "./ping.js";
import { smtpCheck } from "./smtp.js";
import { tcpCheck } from "./tcp.js";
import { udpCheck } from "./udp.js";

export interface ProbeContext {
  scripts: ScriptRunner;
  ssl?: HealthGlobals["ssl"];
}

export type Probe = (c: CheckerConfig, ctx: ProbeContext) => Promise<Outcome>;

/** Run checker c once. Never rejects: every error is a failed check with its reason. */
export const probe: Probe = async (c, ctx) => {
  try {
    switch (c.kind) {
      case "TCP_CHECK": return await tcpCheck(c);
      case "HTTP_GET": case "SSL_GET": return await httpCheck(c, ctx.ssl);
      case "UDP_CHECK": return await udpCheck(c);
      case "MISC_CHECK": return await miscCheck(c, ctx.scripts);
      case "DNS_CHECK": return await dnsCheck(c);
      case "SMTP_CHECK": return await smtpCheck(c);
      case "PING_CHECK": return await pingCheck(c);
      case "FILE_CHECK": return fileCheck(c);
    }
  } catch (e) {
    return { ok: false, reason: `checker error: ${(e as Error).message}` };
  }
};
