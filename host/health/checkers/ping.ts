// PING_CHECK (keepalived/check/check_ping.c): one ICMP echo to connect_ip answered within
// connect_timeout. Sent by iputils' ping (a raw ICMP socket needs privileges and an event
// source Node does not have; ping is on every Linux host and the tests install it). To an
// IPv6 address it is `ping -6`: an ICMPv6 echo request (type 128) from iputils' ICMPv6
// socket (a datagram "ping socket" or a raw one, as keepalived's check_ping.c opens an
// IPPROTO_ICMPV6 socket), answered by an echo reply (type 129).

import { execFile } from "node:child_process";
import type { PingChecker } from "../../config/health.js";
import { failure, Outcome } from "./outcome.js";

export function pingCheck(c: PingChecker): Promise<Outcome> {
  const wait = Math.max(c.connectTimeoutMs / 1000, 0.01).toFixed(3);
  const args = [...(c.connectIp.includes(":") ? ["-6"] : []), "-n", "-q", "-c", "1", "-W", wait, ...(c.bindto ? ["-I", c.bindto] : []), c.connectIp];
  return new Promise((resolve) => {
    execFile("ping", args, { timeout: c.connectTimeoutMs + 2000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } }, (err, stdout, stderr) => {
      if (!err) { resolve({ ok: true, reason: "echo reply" }); return; }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") { resolve(failure("ping is not installed (Debian: iputils-ping)")); return; }
      const why = (stderr.trim() || stdout.split("\n").find((l) => /packet loss|unreachable/i.test(l)) || err.message).trim();
      resolve(failure(`no echo reply within ${c.connectTimeoutMs} ms: ${why.slice(0, 200)}`));
    });
  });
}
