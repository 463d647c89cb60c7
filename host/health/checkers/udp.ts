// UDP_CHECK (keepalived/check/check_udp.c): a datagram (payload, or an empty one) to
// connect_ip:connect_port from a connected socket. Without require_reply the check fails
// only when the host answers ICMP port unreachable (or another ICMP error) within
// connect_timeout; with it, a reply must come in time, of min_reply_length to
// max_reply_length bytes, starting with require_reply's bytes when it gives some.

import { createSocket } from "node:dgram";
import type { UdpChecker } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";
import { errorText } from "./tcp.js";

export function udpCheck(c: UdpChecker): Promise<Outcome> {
  return new Promise((resolve) => {
    // The socket's family is the address's (check_udp.c: socket(co->dst.ss_family, ...)); the
    // parser made bindto the same family.
    const s = createSocket(c.connectIp.includes(":") ? "udp6" : "udp4");
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { s.close(); } catch { /* closed */ }
      resolve(o);
    };
    const timer = setTimeout(() => finish(c.requireReply ? failure(`no reply within ${c.connectTimeoutMs} ms`) : { ok: true, reason: "no ICMP error" }),
      c.connectTimeoutMs);
    s.on("error", (e) => finish(failure(errorText(e))));
    s.on("message", (m) => {
      if (!c.requireReply) { finish({ ok: true, reason: "replied" }); return; }
      if (m.length < c.minReplyLength || m.length > c.maxReplyLength) {
        finish(failure(`reply of ${m.length} bytes, expected ${c.minReplyLength}-${c.maxReplyLength}`));
        return;
      }
      if (c.requireReply !== true && !m.subarray(0, c.requireReply.length / 2).equals(Buffer.from(c.requireReply, "hex"))) {
        finish(failure("reply does not match require_reply"));
        return;
      }
      finish({ ok: true, reason: `replied (${m.length} bytes)` });
    });
    s.bind({ address: c.bindto, port: c.bindPort ?? 0 }, () => {
      s.connect(c.connectPort, c.connectIp, (err?: Error) => {
        if (err) { finish(failure(errorText(err))); return; }
        s.send(c.payload ? Buffer.from(c.payload, "hex") : Buffer.alloc(0), (e) => { if (e) finish(failure(errorText(e))); });
      });
    });
  });
}
