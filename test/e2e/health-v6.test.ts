// Health checks over IPv6 (issue 20) against real servers with IPv6 addresses: every
// checker kind keepalived has, read from a keepalived.conf that names v6 real servers (and
// connect_ip / bindto / bind_port as v6), probed from the director host's own v6 address on
// the servers' segment (the sandbox's IPv6 plan, addCheckSource6) — up against a live
// server, down against a closed port or an address nobody holds, each with its reason.
// The director's engine is not involved (it forwards no IPv6 service yet); the checkers run
// in the director's namespace, as the director runs them.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHECK_SOURCE6, ROOT, Sandbox, serverAddress6, VIP6 } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

interface Row { server: string; kind: string; line: number; connectIp: string; bindto?: string; ok: boolean; reason: string }

e2eDescribe("health checks over IPv6 against real servers", () => {
  let sb: Sandbox;
  const [S1, S2, S3] = [serverAddress6(0), serverAddress6(1), serverAddress6(2)];
  const NOBODY = "2001:db8:1::99";
  let rows: Row[] = [];
  let confText = "";
  const lineOf = new Map<string, number>();

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", ipv6: true, httpPorts: [80, 8081], udpPorts: [5353] });
    sb.addCheckSource6();
    for (const ns of sb.servers) sb.must(ns, ["sysctl", "-qw", "net.ipv6.icmp.ratelimit=0"]);
    await sb.startServers();
    const cert = join(sb.dir, "cert.pem");
    const key = join(sb.dir, "key.pem");
    const ssl = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=server3"], { encoding: "utf8" });
    if (ssl.status !== 0) throw new Error(`openssl: ${ssl.stderr}`);
    await sb.startServerProcess(2, "peers3", ["--https", `8443:${cert}:${key}`, "--smtp", "2525", "--hang", "9090", "--host", "::"], "server3");
    sb.spawn(sb.servers[2], ["dnsmasq", "-k", "--port=53", `--listen-address=${S3}`, "--bind-interfaces", "--no-resolv", "--no-hosts",
      "--address=/lvs.test/2001:db8::99", "--pid-file=", "--user=root", "--log-facility=-"], "dnsmasq");
    await sb.waitFor("dnsmasq", () => /started, version/.test(sb.logOf("dnsmasq")));
    const script = join(sb.dir, "ping6.sh");
    // MISC_CHECK: keepalived runs misc_path's words as the command and its arguments; the
    // server's v6 address reaches the script as written in the file.
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${sb.dir}/misc.log\nexec ping -6 -n -q -c 1 -W 2 "$1" >/dev/null\n`);
    chmodSync(script, 0o755);
    // One checker per block, one keyword per line (keepalived.conf's grammar); each checker
    // named by an id the tests look its row up by.
    const servers: [string, [string, string, string[]][]][] = [
      [S1, [
        ["tcp", "TCP_CHECK", ["connect_timeout 2"]],
        ["tcp-bound", "TCP_CHECK", [`bindto ${CHECK_SOURCE6}`, "bind_port 40123", "connect_timeout 2"]],
        ["tcp-closed", "TCP_CHECK", ["connect_port 9", "connect_timeout 2"]],
        ["tcp-nobody", "TCP_CHECK", [`connect_ip ${NOBODY}`, "connect_timeout 1"]],
        ["tcp-bad-bind", "TCP_CHECK", ["bindto 2001:db8:1::77", "connect_timeout 2"]],
        ["http", "HTTP_GET", ["url {", "path /", "status_code 200", "}", "connect_port 8081", "connect_timeout 2"]],
        ["http-404", "HTTP_GET", ["url {", "path /missing", "}", "connect_timeout 2"]],
        ["ping", "PING_CHECK", ["connect_timeout 2"]],
        ["ping-nobody", "PING_CHECK", [`connect_ip ${NOBODY}`, "connect_timeout 1"]],
        ["ping-bound", "PING_CHECK", [`bindto ${CHECK_SOURCE6}`, "connect_timeout 2"]],
        ["misc", "MISC_CHECK", [`misc_path "${script} ${S1}"`, "misc_timeout 5"]],
        ["misc-nobody", "MISC_CHECK", [`misc_path "${script} ${NOBODY}"`, "misc_timeout 5"]],
      ]],
      [S2, [
        ["udp", "UDP_CHECK", ["connect_port 5353", "payload 6869", "require_reply 736572766572323a6869", "connect_timeout 2"]],
        ["udp-closed", "UDP_CHECK", ["connect_port 5399", "connect_timeout 2"]],
        ["udp-bound", "UDP_CHECK", ["connect_port 5353", `bindto ${CHECK_SOURCE6}`, "bind_port 40124", "require_reply", "connect_timeout 2"]],
      ]],
      [S3, [
        ["ssl", "SSL_GET", ["url {", "path /", "}", "connect_port 8443", "connect_timeout 2"]],
        ["smtp", "SMTP_CHECK", ["connect_port 2525", "helo_name director6", "connect_timeout 2"]],
        ["smtp-closed", "SMTP_CHECK", ["connect_port 2599", "connect_timeout 2"]],
        ["dns", "DNS_CHECK", ["connect_port 53", "type AAAA", "name lvs.test", "connect_timeout 2"]],
        ["dns-bound", "DNS_CHECK", ["connect_port 53", "type AAAA", "name lvs.test", `bindto ${CHECK_SOURCE6}`, "connect_timeout 2"]],
        ["dns-nobody", "DNS_CHECK", [`connect_ip ${NOBODY}`, "connect_port 53", "connect_timeout 1"]],
        ["http-hang", "HTTP_GET", ["url {", "path /", "}", "connect_port 9090", "connect_timeout 1"]],
      ]],
    ];
    const lines = sb.keepalivedConfig([]).split("\n");
    lines.push(`virtual_server ${VIP6} 80 {`, "  protocol TCP", "  lb_kind NAT");
    for (const [address, checkers] of servers) {
      lines.push(`  real_server ${address} 80 {`);
      for (const [id, kind, body] of checkers) {
        lineOf.set(id, lines.length + 1);
        lines.push(`    ${kind} {`, ...body.map((b) => `      ${b}`), "    }");
      }
      lines.push("  }");
    }
    lines.push("}", "");
    confText = lines.join("\n");
    const conf = join(sb.dir, "keepalived6.conf");
    writeFileSync(conf, confText);
    const r = sb.run(sb.director, [process.execPath, "--import", "tsx", join(ROOT, "test", "helpers", "probe-checkers.ts"), conf], 120000);
    if (r.status !== 0) throw new Error(`probe-checkers: ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { rows?: Row[]; errors?: string[] };
    if (out.errors) throw new Error(`keepalived.conf refused: ${out.errors.join("; ")}`);
    rows = out.rows!;
  });
  afterAll(async () => { await sb?.destroy(); });

  /** What the checker named id found. */
  const at = (id: string): Row => {
    const row = rows.find((r) => r.line === lineOf.get(id));
    if (!row) throw new Error(`no checker ${id} at line ${lineOf.get(id)}`);
    return row;
  };

  it("TCP_CHECK: up to a listening v6 server (also bound to the director's v6 address and port), down to a closed port or nobody", () => {
    expect(at("tcp")).toMatchObject({ connectIp: S1, ok: true, reason: "connected" });
    expect(at("tcp-bound")).toMatchObject({ bindto: CHECK_SOURCE6, ok: true });
    expect(at("tcp-closed")).toMatchObject({ ok: false, reason: "connection refused (ECONNREFUSED)" });
    expect(at("tcp-nobody").ok).toBe(false);
    // bindto an address the host does not hold: the bind itself fails, so bindto is used.
    expect(at("tcp-bad-bind")).toMatchObject({ ok: false, reason: "bindto/bind_port address not available (EADDRNOTAVAIL)" });
  });

  it("HTTP_GET and SSL_GET to [v6]:port: status and TLS as over IPv4", () => {
    expect(at("http")).toMatchObject({ connectIp: S1, ok: true, reason: "answered as expected" });
    expect(at("http-404")).toMatchObject({ ok: false, reason: "status 404, expected 200-299" });
    expect(at("ssl")).toMatchObject({ connectIp: S3, ok: true, reason: "answered as expected" });
    expect(at("http-hang").ok).toBe(false);
  });

  it("UDP_CHECK over a udp6 socket: a reply that matches, an ICMPv6 port unreachable, bindto a v6 address and port", () => {
    expect(at("udp")).toMatchObject({ ok: true, reason: "replied (10 bytes)" });
    const closed = at("udp-closed");
    expect(closed.ok).toBe(false);
    expect(closed.reason).toMatch(/ECONNREFUSED|refused/);
    expect(at("udp-bound")).toMatchObject({ bindto: CHECK_SOURCE6, ok: true });
  });

  it("DNS_CHECK to a v6 resolver (dnsmasq), also from a v6 bindto; SMTP_CHECK to [v6]:port", () => {
    expect(at("dns")).toMatchObject({ ok: true, reason: "AAAA lvs.test: 1 answer(s)" });
    expect(at("dns-bound")).toMatchObject({ ok: true });
    expect(at("dns-nobody").ok).toBe(false);
    expect(at("smtp")).toMatchObject({ ok: true, reason: "SMTP greeting and HELO answered" });
    expect(at("smtp-closed").ok).toBe(false);
  });

  it("PING_CHECK sends an ICMPv6 echo (ping -6): answered by a v6 server, not by an address nobody holds", () => {
    expect(at("ping")).toMatchObject({ ok: true, reason: "echo reply" });
    expect(at("ping-bound")).toMatchObject({ bindto: CHECK_SOURCE6, ok: true, reason: "echo reply" });
    const nobody = at("ping-nobody");
    expect(nobody.ok).toBe(false);
    expect(nobody.reason).toMatch(/^no echo reply within 1000 ms/);
  });

  it("MISC_CHECK: the v6 address written in misc_path reaches the script as its argument", () => {
    expect(at("misc")).toMatchObject({ ok: true, reason: "exit 0" });
    expect(at("misc-nobody").ok).toBe(false);
    expect(readFileSync(join(sb.dir, "misc.log"), "utf8").split("\n").filter(Boolean).sort()).toEqual([NOBODY, S1].sort());
  });
});
