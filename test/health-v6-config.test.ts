// Health checkers and IPv6 (issue 20): connect_ip and bindto of either family in
// keepalived.conf, the refusals keepalived's check_api.c makes when the address connected
// to and the one bound to differ in family, and what the probes send to a v6 address (the
// Host header of HTTP_GET, a udp6 socket) against servers on this host's ::1.

import { afterAll, describe, expect, it } from "vitest";
import { createServer, IncomingHttpHeaders } from "node:http";
import { createSocket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { parseKeepalived } from "../host/config/keepalived.js";
import type { DirectorConfig } from "../host/config/rules.js";
import type { HttpChecker, UdpChecker } from "../host/config/health.js";
import { httpCheck } from "../host/health/checkers/http.js";
import { udpCheck } from "../host/health/checkers/udp.js";
import { tcpCheck } from "../host/health/checkers/tcp.js";
import { Mailer } from "../host/health/mail.js";
import { healthSummary } from "../host/health/summary.js";
import { keepalivedFile, tempFolder } from "./helpers/files.js";

const tmp = tempFolder("wasmvs-health6-");
const keepalivedConf = keepalivedFile(tmp);
const conf = (text: string): DirectorConfig => parseKeepalived(keepalivedConf(text));
const errorsOf = (text: string): string[] => {
  try {
    conf(text);
  } catch (e) {
    return (e as Error).message.split("\n").slice(1).map((l) => l.replace(/^.*keepalived\.conf:/, ""));
  }
  return [];
};
const checkersOf = (cfg: DirectorConfig) => cfg.services.flatMap((s) => s.realServers.flatMap((r) => r.health?.checkers ?? []));

describe("connect_ip and bindto in keepalived.conf, either family", () => {
  it("a v6 real server's checkers connect to it; v6 addresses are kept as RFC 5952 writes them", () => {
    const cfg = conf(`virtual_server 2001:db8::100 80 {
  real_server 2001:db8:1::11 80 {
    TCP_CHECK {
      bindto 2001:DB8:1:0::2
    }
    HTTP_GET {
      url {
        path /
      }
      connect_ip 2001:0db8:0001:0000:0000:0000:0000:0012
      connect_port 8080
    }
  }
}
virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 {
    PING_CHECK {
      connect_ip 2001:db8:1::13
    }
    UDP_CHECK {
      connect_ip 2001:db8:1::13
      bindto 2001:db8:1::2
      bind_port 4000
    }
  }
}`);
    expect(checkersOf(cfg).map((c) => [c.kind, c.connectIp, c.connectPort, c.bindto, c.bindPort])).toEqual([
      ["TCP_CHECK", "2001:db8:1::11", 80, "2001:db8:1::2", undefined],
      ["HTTP_GET", "2001:db8:1::12", 8080, undefined, undefined],
      ["PING_CHECK", "2001:db8:1::13", 80, undefined, undefined],
      ["UDP_CHECK", "2001:db8:1::13", 80, "2001:db8:1::2", 4000],
    ]);
  });

  it("refuses an address family mismatch (lines counted after the two of the director block) as keepalived's co_ip_handler and co_srcip_handler, in the file's order", () => {
    expect(errorsOf(`virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 {
    TCP_CHECK {
      bindto 2001:db8:1::2
    }
    TCP_CHECK {
      bindto 10.1.0.2
      connect_ip 2001:db8:1::11
    }
    TCP_CHECK {
      connect_ip 2001:db8:1::11
      bindto 10.1.0.2
    }
    SMTP_CHECK {
      host {
        connect_ip 2001:db8:1::11
        bindto 10.1.0.2
      }
    }
    TCP_CHECK {
      connect_ip fe80::1
    }
    TCP_CHECK {
      connect_ip fe8:1::1
    }
  }
}`)).toEqual([
      "10:14: '2001:db8:1::2': bindto address 2001:db8:1::2 does not match address family of connect_ip",
      "14:18: '2001:db8:1::11': connect_ip address 2001:db8:1::11 does not match address family of bindto",
      "18:14: '10.1.0.2': bindto address 10.1.0.2 does not match address family of connect_ip",
      "23:16: '10.1.0.2': bindto address 10.1.0.2 does not match address family of connect_ip",
      "27:18: 'fe80::1': Checker link local address fe80::1 requires a bind_if (bind_if is not supported by wasmvs yet)",
    ]);
  });
});

describe("probes to a v6 address (servers on ::1)", () => {
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));
  const base = { where: { file: "t", line: 1, column: 1 }, connectTimeoutMs: 2000, retry: 1, delayBeforeRetryMs: 1000, delayLoopMs: 1000, warmupMs: 0, alpha: false, logAllFailures: false };

  it("HTTP_GET sends Host: [::1]:PORT (keepalived's request_template_ipv6) and reads the answer", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => { seen.push(req.headers); res.end("ok"); });
    await new Promise<void>((r) => server.listen(0, "::1", r));
    closers.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const c: HttpChecker = { ...base, kind: "HTTP_GET", connectIp: "::1", connectPort: port, urls: [{ path: "/x", statusCodes: [[200, 299]], regexNoMatch: false }],
      httpProtocol: "1.0", fastRecovery: false, enableSni: false };
    expect(await httpCheck(c)).toEqual({ ok: true, reason: "answered as expected" });
    expect(seen[0].host).toBe(`[::1]:${port}`);
  });

  it("UDP_CHECK from a udp6 socket gets the reply; TCP_CHECK connects, bound to ::1", async () => {
    const sock = createSocket("udp6");
    sock.on("message", (m, from) => sock.send(Buffer.concat([Buffer.from("re:"), m]), from.port, from.address));
    await new Promise<void>((r) => sock.bind(0, "::1", r));
    closers.push(() => sock.close());
    const port = sock.address().port;
    const c: UdpChecker = { ...base, kind: "UDP_CHECK", connectIp: "::1", connectPort: port, bindto: "::1", payload: "6869", requireReply: "72653a6869", minReplyLength: 0, maxReplyLength: 65535 };
    expect(await udpCheck(c)).toEqual({ ok: true, reason: "replied (5 bytes)" });
    const tcp = createServer(() => {});
    await new Promise<void>((r) => tcp.listen(0, "::1", r));
    closers.push(() => tcp.close());
    expect(await tcpCheck({ ...base, kind: "TCP_CHECK", connectIp: "::1", connectPort: (tcp.address() as AddressInfo).port, bindto: "::1" })).toEqual({ ok: true, reason: "connected" });
  });
});

describe("mail alerts to an IPv6 smtp_server", () => {
  it("smtp_server takes an IPv6 literal (its port a word of its own) and the mail reaches a server on ::1", async () => {
    const { SMTPServer } = await import("smtp-server");
    const got: string[] = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ["STARTTLS"], logger: false, disableReverseLookup: true,
      onData(stream, _session, done) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => { got.push(Buffer.concat(chunks).toString()); done(); });
      },
    });
    await new Promise<void>((r) => server.listen(0, "::1", r));
    const port = (server.server.address() as AddressInfo).port;
    try {
      const cfg = conf(`global_defs {
  notification_email {
    ops@example.com
  }
  smtp_server 0:0:0:0:0:0:0:1 ${port}
  router_id R6
}
virtual_server 10.0.0.100 80 {
  real_server 10.1.0.11 80 {
  }
}`);
      expect(cfg.health?.smtpServer).toEqual({ host: "::1", port });
      const mailer = Mailer.from(cfg.health, () => {})!;
      mailer.send("server down", "10.1.0.11:80 is down");
      const end = Date.now() + 10000;
      // The server has the mail before the client hears its 250: wait for both.
      while ((!got.length || mailer.stats.sent + mailer.stats.failed === 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      mailer.close();
      expect(got.length).toBe(1);
      expect(got[0]).toContain("Subject: [R6] server down");
      expect(mailer.stats).toMatchObject({ sent: 1, failed: 0 });
    } finally {
      server.close(() => {});
    }
  });
});

describe("what health checking prints about v6 services", () => {
  it("healthSummary writes [addr]:port for a v6 service and its sorry server", () => {
    const cfg = conf(`virtual_server 2001:db8::100 80 {
  quorum 2
  sorry_server 2001:db8:1::99 8080
  real_server 2001:db8:1::11 80 {
    TCP_CHECK {
    }
  }
}`);
    expect(healthSummary(cfg)).toEqual([
      "health checks: 1 real server(s) checked by 1 TCP_CHECK",
      "  TCP [2001:db8::100]:80: quorum 2 hysteresis 0, sorry server [2001:db8:1::99]:8080",
    ]);
  });
});
