// Health checking end to end (issue 9): a keepalived.conf with every checker kind against
// real servers in namespaces — HTTP, HTTPS, UDP, DNS (dnsmasq), SMTP (a real SMTP server
// library), scripts, ping — checked from the director host's own address on the
// servers' segment. A server that stops leaves the table after retry+1 failed checks and
// clients see no error; inhibit_on_failure keeps it at weight 0; when all are down the
// sorry server answers and the quorum scripts run; back up, everything returns; each
// broken peer (unroutable, hanging, TLS failure, garbage DNS, failing script) is down with
// a readable reason, and forwarding never stops. State changes are mailed.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Director, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

interface HealthRow { service: string; server: string; alive: boolean; weight: number; reason: string; checkers: { kind: string; last?: string }[] }

e2eDescribe("health checking against real servers (keepalived's checkers)", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const md5 = (s: string) => createHash("md5").update(s).digest("hex");
  const [S1, S2, S3] = [serverAddress(0), serverAddress(1), serverAddress(2)];

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [80, 8081], udpPorts: [5353, 5300] });
    sb.addCheckSource();
    // UDP_CHECK without require_reply is down only on an ICMP port unreachable, and Linux
    // rate-limits those per destination (icmp_ratelimit, 1 s after a burst of 6): checks every
    // 0.2 s then see mostly silence, which is up, and the closed port flaps. Not limited here,
    // each check gets its answer, so the states the test reads are the checkers' own.
    for (const ns of sb.servers) sb.must(ns, ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"]);
    await sb.startServers();
    const cert = join(sb.dir, "cert.pem");
    const key = join(sb.dir, "key.pem");
    const ssl = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=server3"], { encoding: "utf8" });
    if (ssl.status !== 0) throw new Error(`openssl: ${ssl.stderr}`);
    await sb.startServerProcess(2, "peers3", ["--https", `8443:${cert}:${key}`, "--smtp", "2525", "--hang", "9090"], "server3");
    sb.spawn(sb.servers[2], ["dnsmasq", "-k", "--port=53", `--listen-address=${S3}`, "--bind-interfaces", "--no-resolv", "--no-hosts",
      "--address=/lvs.test/10.1.0.99", "--pid-file=", "--user=root", "--log-facility=-"], "dnsmasq");
    await sb.waitFor("dnsmasq", () => /started, version/.test(sb.logOf("dnsmasq")));
    const script = (name: string, body: string) => {
      const p = join(sb.dir, name);
      writeFileSync(p, `#!/bin/sh\n${body}\n`);
      chmodSync(p, 0o755);
      return p;
    };
    script("note.sh", `echo "$@" >> ${sb.dir}/notes.log`);
    script("weight.sh", `exit $(( $(cat ${sb.dir}/weight) + 2 ))`);
    writeFileSync(join(sb.dir, "weight"), "7\n");
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  const config = () => sb.keepalivedConfig([], "  metrics 127.0.0.1:9101") + `
global_defs {
  router_id E2E
  notification_email { ops@lvs.test }
  notification_email_from lvs@lvs.test
  smtp_server ${S3} 2525
  smtp_connect_timeout 2
}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind NAT
  delay_loop 0.2
  quorum_up "${sb.dir}/note.sh quorum up"
  quorum_down "${sb.dir}/note.sh quorum down"
  sorry_server ${S3} 8081
  smtp_alert
  real_server ${S1} 80 {
    weight 3
    notify_up "${sb.dir}/note.sh up ${S1}"
    notify_down "${sb.dir}/note.sh down ${S1}"
    TCP_CHECK { connect_timeout 0.2
      retry 2
      delay_before_retry 0.1 }
  }
  real_server ${S2} 80 {
    weight 2
    inhibit_on_failure
    HTTP_GET {
      url { path /
        digest ${md5("server2")}
        status_code 200-204 }
      url { path /missing
        status_code 404 }
      connect_timeout 0.3
      retry 0
    }
  }
}
virtual_server ${VIP} 443 {
  lb_kind NAT
  delay_loop 0.2
  real_server ${S3} 8443 { SSL_GET { url { path /
    digest ${md5("server3")} }
    connect_timeout 1 } }
  real_server ${S2} 80 { SSL_GET { url { path / }
    connect_timeout 1 } }
}
virtual_server ${VIP} 5353 {
  protocol UDP
  lb_kind NAT
  delay_loop 0.2
  real_server ${S1} 5353 { UDP_CHECK { payload 70696e67
    require_reply ${Buffer.from("server1:ping").toString("hex")} } }
  real_server ${S2} 5353 { UDP_CHECK { connect_port 5354 } }
  real_server ${S3} 5353 { UDP_CHECK { connect_port 5354
    connect_timeout 0.3
    require_reply } }
}
virtual_server ${VIP} 5354 {
  protocol UDP
  lb_kind NAT
  delay_loop 0.2
  real_server ${S2} 5353 { UDP_CHECK { connect_timeout 0.3 } }
}
virtual_server ${VIP} 53 {
  protocol UDP
  lb_kind NAT
  delay_loop 0.2
  real_server ${S3} 53 { DNS_CHECK { type A
    name www.lvs.test } }
  real_server ${S2} 53 { DNS_CHECK { connect_port 5300
    retry 0
    connect_timeout 0.5 } }
}
virtual_server ${VIP} 25 {
  lb_kind NAT
  delay_loop 0.2
  real_server ${S3} 2525 { SMTP_CHECK { helo_name e2e.lvs.test
    connect_timeout 1 } }
}
virtual_server ${VIP} 8080 {
  lb_kind NAT
  delay_loop 0.2
  real_server ${S1} 80 { MISC_CHECK { misc_path ${sb.dir}/weight.sh
    misc_dynamic
    misc_timeout 2 } }
  real_server ${S2} 80 { MISC_CHECK { misc_path /bin/false } }
  real_server ${S3} 80 { PING_CHECK { connect_timeout 0.5 } }
}
virtual_server ${VIP} 9000 {
  lb_kind NAT
  delay_loop 0.2
  real_server ${S1} 80 { TCP_CHECK { connect_ip 10.9.9.9
    connect_timeout 0.3
    retry 0 } }
  real_server ${S3} 9090 { HTTP_GET { url { path / }
    connect_timeout 0.3
    retry 0 } }
}
`;

  const health = (): HealthRow[] => {
    const r = director!.ipvsadm(["-L", "--health"]);
    expect(r.stderr).toBe("");
    return r.stdout.split("\n").slice(1).filter((l) => l && !l.startsWith("  ->")).map((l) => {
      const [prot, vip, server, state, weight, , ...reason] = l.split(/\s+/);
      return { service: `${prot.toLowerCase()} ${vip}`, server, alive: state === "UP", weight: Number(weight), reason: reason.join(" "), checkers: [] };
    });
  };
  const row = (port: number, server: string) => health().find((h) => h.service.endsWith(`:${port}`) && h.server === server);
  const listed = (port: number, proto = "-t") => {
    const out = director!.ipvsadm(["-L", "-n", proto, `${VIP}:${port}`]).stdout;
    return out.split("\n").filter((l) => l.includes("->") && !l.includes("RemoteAddress")).map((l) => l.trim().split(/\s+/)).map((f) => `${f[1]} w${f[3]}`);
  };
  const notes = () => (existsSync(join(sb.dir, "notes.log")) ? readFileSync(join(sb.dir, "notes.log"), "utf8") : "");

  it("every checker kind finds the working servers up and each broken peer down with a readable reason", async () => {
    director = await sb.startDirector(config());
    await sb.waitFor("the checkers to settle", () => {
      const h = health();
      return h.length === 16 && h.every((x) => !x.reason.startsWith("not checked")) && row(9000, "10.1.0.13:9090")?.alive === false
        && row(53, "10.1.0.12:53")?.alive === false && row(443, "10.1.0.12:80")?.alive === false;
    }, 20000);
    const h = health();
    const state = (port: number, server: string) => {
      const r = h.find((x) => x.service.endsWith(`:${port}`) && x.server === server)!;
      return `${r.alive ? "UP" : "DOWN"} ${r.reason}`;
    };
    expect(state(80, `${S1}:80`)).toMatch(/^UP /);
    expect(state(80, `${S2}:80`)).toMatch(/^UP /);
    expect(state(443, `${S3}:8443`)).toMatch(/^UP /);
    expect(state(443, `${S2}:80`)).toBe("DOWN TLS handshake failed: wrong version number");
    expect(state(5353, `${S1}:5353`)).toMatch(/^UP /);
    expect(state(5353, `${S2}:5353`)).toBe("DOWN connection refused (ECONNREFUSED)");
    expect(state(5353, `${S3}:5353`)).toMatch(/^DOWN (connection refused|no reply within 300 ms)/);
    // Without require_reply, a UDP server that answers nothing wrong (no ICMP error) is up.
    expect(state(5354, `${S2}:5353`)).toMatch(/^UP /);
    expect(state(53, `${S3}:53`)).toMatch(/^UP /);
    expect(state(53, `${S2}:53`)).toMatch(/^DOWN SOA \.: (malformed answer|no answer)/);
    expect(state(25, `${S3}:2525`)).toMatch(/^UP /);
    expect(state(8080, `${S1}:80`)).toMatch(/^UP /);
    expect(state(8080, `${S2}:80`)).toBe("DOWN /bin/false exited with status 1");
    expect(state(8080, `${S3}:80`)).toMatch(/^UP /);
    expect(state(9000, `${S1}:80`)).toMatch(/^DOWN (network unreachable|host unreachable|no connection)/);
    expect(state(9000, `${S3}:9090`)).toMatch(/^DOWN (no answer within 300 ms|answer not complete)/);
    // What the engine holds follows: down servers are not in the table (ipvsadm's own format).
    expect(listed(443)).toEqual([`${S3}:8443 w1`]);
    expect(listed(5353, "-u")).toEqual([`${S1}:5353 w1`]);
    expect(listed(53, "-u")).toEqual([`${S3}:53 w1`]);
    expect(listed(9000)).toEqual([]);
    // misc_dynamic: exit 9 -> weight 7.
    expect(listed(8080).sort()).toEqual([`${S1}:80 w7`, `${S3}:80 w1`]);
    writeFileSync(join(sb.dir, "weight"), "4\n");
    await sb.waitFor("the new weight", () => listed(8080).includes(`${S1}:80 w4`), 5000);
    // Forwarding went on through it all.
    const r = sb.http(`http://${VIP}/`, { requests: 50, concurrency: 5 });
    expect(r.errors).toEqual([]);
    expect(Object.keys(tally(r.bodies)).sort()).toEqual(["server1", "server2"]);
  });

  it("a server stops: out after retry+1 failed checks, no client error after; inhibit; quorum lost -> sorry server; back up -> all returns; mail sent", async () => {
    const d = director!;
    const before = sb.logOf("director").length;
    const stoppedAt = Date.now();
    await sb.stop("server1");
    await sb.waitFor("server 1 to leave", () => !listed(80).some((l) => l.startsWith(S1)), 10000);
    const detectedMs = Date.now() - stoppedAt;
    // retry 2: three failed checks, the first and two retries 0.1 s apart.
    const log = sb.logOf("director").slice(before);
    expect(log.match(new RegExp(`TCP_CHECK of ${S1}:80 in tcp ${VIP}:80 failed`, "g"))?.length).toBe(3);
    const bound = 3 * 200 + 2 * 100;
    console.log(`TCP_CHECK detection: ${detectedMs} ms from the stop to removal (bound after the first failed check: (retry+1) x connect_timeout + retry x delay_before_retry = ${bound} ms, plus up to delay_loop 200 ms before that check)`);
    expect(log).toContain(`Removing real server ${S1}:80 from tcp ${VIP}:80`);
    const after = sb.http(`http://${VIP}/`, { requests: 60, concurrency: 6 });
    expect(after.errors).toEqual([]);
    expect(tally(after.bodies)).toEqual({ server2: 60 });
    await sb.waitFor("notify_down", () => notes().includes(`down ${S1}`), 5000);
    // The other one too: inhibit_on_failure keeps it at weight 0; quorum is lost and the sorry server answers.
    await sb.stop("server2");
    await sb.waitFor("the sorry server", () => listed(80).includes(`${S3}:8081 w1`), 10000);
    expect(listed(80).sort()).toEqual([`${S2}:80 w0`, `${S3}:8081 w1`]);
    await sb.waitFor("quorum_down", () => notes().includes("quorum down"), 5000);
    const sorry = sb.http(`http://${VIP}/`, { requests: 20, concurrency: 4 });
    expect(sorry.errors).toEqual([]);
    expect(tally(sorry.bodies)).toEqual({ server3: 20 });
    // Back: server 1 returns with its weight, the sorry server leaves, the scripts run.
    await sb.startServerProcess(0, "server1-again", ["--http", "80", "--http", "8081", "--udp", "5353", "--udp", "5300"], "server1");
    await sb.waitFor("server 1 back", () => listed(80).includes(`${S1}:80 w3`), 10000);
    await sb.waitFor("the sorry server to leave", () => !listed(80).some((l) => l.startsWith(`${S3}:8081`)), 5000);
    await sb.waitFor("notify_up and quorum_up", () => notes().includes(`up ${S1}`) && notes().includes("quorum up"), 5000);
    const back = sb.http(`http://${VIP}/`, { requests: 30, concurrency: 3 });
    expect(back.errors).toEqual([]);
    expect(tally(back.bodies)).toEqual({ server1: 30 });
    expect(row(80, `${S2}:80`)?.weight).toBe(2);
    // keepalived's SMTP alerts reached the SMTP server.
    // (Headers unfolded: a long Subject is folded over lines, RFC 5322 2.2.3.)
    const mails = () => sb.logOf("peers3").split("\n").filter((l) => l.startsWith("mail ")).map((l) => JSON.parse(l.slice(5)) as { from: string; to: string[]; data: string })
      .map((m) => ({ ...m, data: m.data.replace(/\r?\n[ \t]+/g, " ") }));
    await sb.waitFor("the mails", () => mails().some((m) => /Realserver 10\.1\.0\.11:80 of virtual server tcp 10\.0\.0\.100:80 - UP/.test(m.data)), 10000);
    expect(mails().some((m) => m.from === "lvs@lvs.test" && m.to[0] === "ops@lvs.test" && /Subject: \[E2E\] Realserver 10\.1\.0\.11:80 of virtual server tcp 10\.0\.0\.100:80 - DOWN/.test(m.data))).toBe(true);
    expect(mails().some((m) => /quorum DOWN/.test(m.data))).toBe(true);
    expect(d.proc.exitCode).toBe(null);
  });

  it("the metrics and the status file carry each server's health", async () => {
    const st = JSON.parse(readFileSync(director!.statusPath, "utf8")) as { control: { health: HealthRow[] } };
    expect(st.control.health.find((h) => h.server === `${S3}:2525`)).toMatchObject({ alive: true, checkers: [{ kind: "SMTP_CHECK" }] });
    const m = sb.must(sb.director, ["curl", "-s", "http://127.0.0.1:9101/metrics"]);
    expect(m).toContain(`wasmvs_real_server_up{service="tcp ${VIP}:25",server="${S3}:2525"} 1`);
    expect(m).toContain(`wasmvs_real_server_up{service="tcp ${VIP}:8080",server="${S2}:80"} 0`);
    expect(m).toMatch(/wasmvs_check_latency_seconds_count\{checker="TCP_CHECK"\} [1-9]/);
    expect(m).toMatch(/wasmvs_real_server_transitions_total [1-9]/);
  });
});
