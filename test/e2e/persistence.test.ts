// Persistence and firewall marks end to end (issue 9): real clients and servers in
// namespaces. 20 connections from one client land on one server under rr; with a /24
// granularity two clients of one network share a server; HTTP and HTTPS of one VIP as
// one persistent firewall-mark service keep a client on one server across both ports;
// ipvsadm's listings show the templates, the persistent-connection counts and the rules.

import { afterAll, beforeAll, expect, it } from "vitest";
import { Director, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

e2eDescribe("persistence and firewall marks against real clients and servers", () => {
  let sb: Sandbox;
  let director: Director;
  const CLIENT2 = "10.0.0.3";

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [80, 443] });
    sb.must(sb.client, ["ip", "addr", "add", `${CLIENT2}/24`, "dev", "eth0"]);
    await sb.startServers();
    const servers = [0, 1, 2].map((k) => `10.1.0.${11 + k}`);
    const real = (port: number) => servers.map((a) => `  real_server ${a} ${port} {\n    weight 1\n  }`).join("\n");
    director = await sb.startDirector(sb.keepalivedConfig([], `  mark 1 protocol tcp destination ${VIP} ports 80,443`) + `
virtual_server ${VIP} 8080 {
  lb_algo rr
  lb_kind NAT
  persistence_timeout 30
${real(80)}
}
virtual_server ${VIP} 8081 {
  lb_algo rr
  lb_kind NAT
  persistence_timeout 30
  persistence_granularity 255.255.255.0
${real(80)}
}
virtual_server fwmark 1 {
  lb_algo rr
  lb_kind NAT
  persistence_timeout 30
  real_server ${servers[0]} { weight 1 }
  real_server ${servers[1]} { weight 1 }
  real_server ${servers[2]} { weight 1 }
}
`);
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("20 connections from one client land on one server under rr; another client goes elsewhere", () => {
    const a = sb.http(`http://${VIP}:8080/`, { requests: 20, concurrency: 1 });
    expect(a.errors).toEqual([]);
    expect(Object.values(tally(a.bodies))).toEqual([20]);
    expect(new Set(a.ports).size).toBe(20); // each on its own connection
    const b = sb.http(`http://${VIP}:8080/`, { requests: 10, concurrency: 2, source: CLIENT2 });
    expect(Object.keys(tally(b.bodies)).length).toBe(1);
    expect(Object.keys(tally(b.bodies))[0]).not.toBe(Object.keys(tally(a.bodies))[0]);
  });

  it("persistence_granularity 255.255.255.0: two clients of one /24 share a server", () => {
    const a = sb.http(`http://${VIP}:8081/`, { requests: 10, concurrency: 2 });
    const b = sb.http(`http://${VIP}:8081/`, { requests: 10, concurrency: 2, source: CLIENT2 });
    expect([...a.errors, ...b.errors]).toEqual([]);
    expect(Object.keys(tally([...a.bodies, ...b.bodies])).length).toBe(1);
  });

  it("HTTP and HTTPS of one VIP as one persistent fwmark service: one server per client across both ports", () => {
    const seen: Record<string, string[]> = {};
    for (const source of [undefined, CLIENT2]) {
      for (const port of [80, 443, 80, 443]) {
        const r = sb.http(`http://${VIP}:${port}/`, { requests: 5, concurrency: 1, source });
        expect(r.errors).toEqual([]);
        (seen[source ?? "10.0.0.2"] ??= []).push(...r.bodies);
      }
    }
    expect(Object.keys(tally(seen["10.0.0.2"])).length).toBe(1);
    expect(Object.keys(tally(seen[CLIENT2])).length).toBe(1);
    expect(seen["10.0.0.2"][0]).not.toBe(seen[CLIENT2][0]);
  });

  it("ipvsadm shows it as ipvsadm does: persistent services, FWM, templates, PersistConn, and -S round-trips", () => {
    const list = director.ipvsadm(["-L", "-n"]).stdout;
    expect(list).toContain(`TCP  ${VIP}:8080 rr persistent 30\n`);
    expect(list).toContain(`TCP  ${VIP}:8081 rr persistent 30 mask 255.255.255.0\n`);
    expect(list).toContain("FWM  1 rr persistent 30\n");
    const conns = director.ipvsadm(["-L", "-n", "-c"]).stdout.split("\n");
    expect(conns.some((l) => /^IP\s+\d\d:\d\d\s+NONE\s+10\.0\.0\.2:0\s+0\.0\.0\.1:0\s+10\.1\.0\.1[123]:0$/.test(l))).toBe(true);
    expect(conns.some((l) => /^TCP\s+\d\d:\d\d\s+NONE\s+10\.0\.0\.0:0\s+10\.0\.0\.100:8081\s+10\.1\.0\.1[123]:80$/.test(l))).toBe(true);
    const pc = director.ipvsadm(["-L", "-n", "--persistent-conn", "-f", "1"]).stdout.split("\n").filter((l) => l.startsWith("  -> 10."));
    expect(pc.map((l) => Number(l.trim().split(/\s+/)[3])).reduce((a, b) => a + b, 0)).toBe(2); // two clients, two templates
    const saved = director.ipvsadm(["-S", "-n"]).stdout;
    expect(saved).toContain(`-A -t ${VIP}:8081 -s rr -p 30 -M 255.255.255.0\n`);
    expect(saved).toContain("-A -f 1 -s rr -p 30\n");
    expect(saved).toContain("-a -f 1 -r 10.1.0.11:0 -m -w 1\n");
    // -S fed back with -R after -C rebuilds the same table.
    expect(director.ipvsadm(["-C"]).status).toBe(0);
    const restore = director.ipvsadm(["-R"], saved);
    expect(restore.stderr).toBe("");
    expect(director.ipvsadm(["-S", "-n"]).stdout).toBe(saved);
  });
});
