// Failover in NAT (issue 10): the servers answer through the director, so the servers'
// gateway address must move with the VIP. Two wasmvs directors, a vrrp_sync_group of two
// instances — the VIP on the outside, the servers' gateway (10.1.0.1) on the inside — and
// connection sync. kill -9 the master while 50 keep-alive connections send: none breaks.

import { afterAll, beforeAll, expect, it } from "vitest";
import { join } from "node:path";
import { Director, DIRECTOR_IN, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

e2eDescribe("NAT failover with a sync group and connection sync", () => {
  let sb: Sandbox;
  const directors: Director[] = [];

  const config = (who: "a" | "b", priority: number) => `global_defs {
  lvs_sync_daemon outside VI_OUT id 3
}
${sb.pairDirector(`n${who}`, who === "a" ? "0e" : "0f", who === "a" ? 5 : 6)}vrrp_sync_group G {
  group {
    VI_OUT
    VI_IN
  }
}
vrrp_instance VI_OUT {
  interface outside
  virtual_router_id 71
  priority ${priority}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
  }
}
vrrp_instance VI_IN {
  interface inside
  virtual_router_id 72
  priority ${priority}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${DIRECTOR_IN}
  }
}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind NAT
${[0, 1, 2].map((k) => `  real_server ${serverAddress(k)} 8080 { weight 1 }`).join("\n")}
}
`;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080] });
    await sb.startServers();
  });
  afterAll(async () => {
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  it("kill -9 the master: both instances move together, the servers' gateway follows, no connection breaks", async () => {
    const a = await sb.startDirector(config("a", 150), join(sb.dir, "na.sock"), "nat-a");
    directors.push(a);
    await sb.waitFor("a master of both", () => (sb.logOf("nat-a").match(/: MASTER/g) ?? []).length >= 2, 5000);
    const b = await sb.startDirector(config("b", 100), join(sb.dir, "nb.sock"), "nat-b");
    directors.push(b);
    await sb.waitFor("b receiving sync", () => /connection sync on outside: receiving/.test(sb.logOf("nat-b")), 5000);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 50 * 150, concurrency: 50, keepalive: true, intervalMs: 20, timeoutMs: 3000 }, "nat-long");
    const fresh = sb.httpInBackground(`http://${VIP}/`, { requests: 400, intervalMs: 10, timeoutMs: 2000 }, "nat-fresh");
    await sb.waitFor("the connections synced", () => {
      try {
        return (b.status().connections ?? 0) >= 50;
      } catch {
        return false;
      }
    }, 10000);
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    a.proc.kill("SIGKILL");
    await sb.waitFor("b master of both", () => (sb.logOf("nat-b").match(/: MASTER/g) ?? []).length >= 2, 5000);
    const first = sb.logOf("nat-b").split("\n").find((l) => /: MASTER/.test(l))!;
    await sb.waitFor("the clients", () => long.exitCode !== null && fresh.exitCode !== null, 120000);
    const r = JSON.parse(sb.logOf("nat-long").trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    const f = JSON.parse(sb.logOf("nat-fresh").trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    console.log(`NAT failover (sync group of 2, sync): master after ${Date.parse(first.split(" ")[0]) - killedAt} ms; long-lived connections broken: ` +
      `${r.errors.length} of 50, ${r.bodies.filter((x) => x).length} requests answered; new connections failed: ${f.errors.length} of ${f.bodies.length}`);
    expect(sb.logOf("nat-b")).toMatch(/sync group G/);
    expect(r.errors).toEqual([]);
    // The servers' gateway is the new master's inside MAC now.
    expect(sb.run(sb.servers[0], ["ip", "neigh", "show", DIRECTOR_IN]).stdout).toContain("02:00:00:00:0f:02");
  });

  it("the old master comes back: it gets the table, then preempts both instances; no connection breaks and the servers' gateway returns to it", async () => {
    const b = directors.find((d) => d.name === "nat-b")!;
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 50 * 900, concurrency: 50, keepalive: true, intervalMs: 20, timeoutMs: 3000 }, "nat-back-long");
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    const a = await sb.startDirector(config("a", 150), join(sb.dir, "na2.sock"), "nat-a2");
    directors.push(a);
    await sb.waitFor("a master of both", () => (sb.logOf("nat-a2").match(/: MASTER/g) ?? []).length >= 2, 30000);
    const preemptedAfter = Date.now() - started;
    await sb.waitFor("the servers' gateway back to a", () => sb.run(sb.servers[0], ["ip", "neigh", "show", DIRECTOR_IN]).stdout.includes("02:00:00:00:0e:02"), 5000);
    await new Promise((r) => setTimeout(r, 1500));
    long.kill("SIGTERM");
    await sb.waitFor("the client", () => long.exitCode !== null, 30000);
    const r = JSON.parse(sb.logOf("nat-back-long").trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[] };
    console.log(`NAT: the old master preempted ${preemptedAfter} ms after its start (a full table refresh first); long-lived connections broken: ` +
      `${r.errors.length} of 50, ${r.bodies.filter((x) => x).length} requests answered`);
    expect(preemptedAfter).toBeGreaterThan(10000);
    expect(r.errors).toEqual([]);
    expect(b.proc.exitCode).toBe(null);
  });
});
