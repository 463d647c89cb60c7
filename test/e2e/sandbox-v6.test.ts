// The sandbox's IPv6 plan (Sandbox.create({ ipv6: true })): real Linux IPv6 stacks that
// reach each other as the plan says, before any director runs — the client and the
// servers through the router by ICMPv6 echo, and in DR and TUN a server that holds the v6
// VIP on lo as a /128 yet never answers a Neighbor Solicitation for it on its segment
// (IPv6 has no arp_ignore; Linux answers NS only for the receiving interface's addresses).

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENGINE_FORWARDS_IPV6 } from "../../host/config/features.js";
import { CLIENT6, DIRECTOR_IN6, DIRECTOR_OUT6, ROOT, ROUTER_IN6, ROUTER_OUT6, Sandbox, serverAddress6, VIP6 } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

const ping6 = (sb: Sandbox, ns: string, to: string) => sb.run(ns, ["ping", "-6", "-n", "-c", "1", "-W", "2", to]);

for (const mode of ["nat", "dr", "tun"] as const) {
  e2eDescribe(`the sandbox's IPv6 plan (${mode.toUpperCase()})`, () => {
    let sb: Sandbox;
    beforeAll(async () => {
      sb = await Sandbox.create({ mode, ipv6: true, servers: 2, udpPorts: [5353] });
      // TUN: each server's stack sits behind `wasmvs decap`, which passes every frame that
      // is not a tunnel packet for it (NDP, ICMPv6 echo) between the uplink and the stack.
      if (mode === "tun") await sb.startDecapsulators();
    });
    afterAll(async () => { await sb?.destroy(); });

    it("client and router, router and each server answer ICMPv6 echo on their segments", () => {
      expect(ping6(sb, sb.client, ROUTER_OUT6).status).toBe(0);
      expect(ping6(sb, sb.router, CLIENT6).status).toBe(0);
      sb.servers.forEach((ns, k) => {
        expect(ping6(sb, sb.router, serverAddress6(k)).status, `router -> server ${k + 1}`).toBe(0);
        expect(ping6(sb, ns, ROUTER_IN6).status, `server ${k + 1} -> router`).toBe(0);
      });
      // The router's neighbour entries name the servers' MACs: resolved by NS/NA on the link.
      expect(sb.run(sb.router, ["ip", "-6", "neigh", "show", serverAddress6(0), "dev", "ei"]).stdout).toMatch(/lladdr [0-9a-f:]{17}/);
    });

    if (mode === "nat") {
      it("NAT servers route IPv6 via the director's inside address", () => {
        expect(sb.run(sb.servers[0], ["ip", "-6", "route", "show", "default"]).stdout).toContain("via 2001:db8:1::1");
      });

      // The director's v6 addresses as the config helpers write them: held by the engine on
      // TAP (address lines in the rules and the director block), by the host's kernel on
      // the NICs of the xdp backend (its XDP program leaves IPv6 to the host).
      for (const syntax of ["rules", "keepalived.conf"] as const) {
        it(`the director started from ${syntax === "rules" ? "config()" : "keepalivedConfig()"} answers on 2001:db8::1 and 2001:db8:1::1`, async () => {
          const text = syntax === "rules" ? sb.config([]) : sb.keepalivedConfig([]);
          if (sb.backend === "tap") expect(text).toContain(`${DIRECTOR_OUT6}/64`);
          const director = await sb.startDirector(text, undefined, syntax === "rules" ? "director" : "director-k");
          try {
            expect(ping6(sb, sb.client, DIRECTOR_OUT6).status).toBe(0);
            expect(ping6(sb, sb.servers[0], DIRECTOR_IN6).status).toBe(0);
          } finally {
            await director.stop();
          }
        });
      }
      return;
    }

    it("the client reaches a server through the router (its default route), end to end: ping, and the HTTP and UDP tools", async () => {
      expect(ping6(sb, sb.client, serverAddress6(0)).status).toBe(0);
      await sb.startServers();
      expect(sb.http(`http://[${serverAddress6(0)}]:80/`, { requests: 2 })).toMatchObject({ bodies: ["server1", "server1"], errors: [] });
      expect(sb.udp(serverAddress6(1), 5353, 2)).toEqual({ replies: ["server2:hello 0", "server2:hello 1"], errors: [] });
    });

    it("config() and keepalivedConfig() write IPv6 services ([addr]:port) and, in TUN, mixed families", () => {
      const flag = mode === "dr" ? "-g" : "-i";
      const rules = sb.config([{ protocol: "tcp", port: 80, scheduler: "rr", family: 6 }]);
      expect(rules).toContain("-A -t [2001:db8::100]:80 -s rr\n");
      expect(rules).toContain(`-a -t [2001:db8::100]:80 -r [2001:db8:1::12]:80 ${flag} -w 1\n`);
      expect(sb.keepalivedConfig([{ protocol: "udp", port: 53, scheduler: "rr", family: 6 }])).toContain("virtual_server 2001:db8::100 53 {\n  protocol UDP\n  lb_algo rr\n  lb_kind " +
        `${mode.toUpperCase()}\n  real_server 2001:db8:1::11 53 {`);
      if (mode === "tun") {
        expect(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr", family: 4, serverFamily: 6 }])).toContain("-a -t 10.0.0.100:80 -r [2001:db8:1::11]:80 -i -w 1\n");
        expect(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr", family: 6, serverFamily: 4 }])).toContain("-a -t [2001:db8::100]:80 -r 10.1.0.11:80 -i -w 1\n");
      } else {
        expect(() => sb.config([{ protocol: "tcp", port: 80, scheduler: "rr", family: 4, serverFamily: 6 }])).toThrow("mixed families are for TUN only");
      }
      // wasmvs check reads it; until the engine forwards IPv6, it refuses the v6 service there, by name.
      const file = join(sb.dir, "v6.rules");
      writeFileSync(file, rules);
      const check = spawnSync(process.execPath, [join(ROOT, "bin", "wasmvs.js"), "check", "--config", file], { encoding: "utf8" });
      // The engine forwards IPv6 in NAT and DR; IPv6 tunnels are refused at each server, by name.
      if (ENGINE_FORWARDS_IPV6 && mode !== "tun") expect(check.status, check.stderr).toBe(0);
      else if (ENGINE_FORWARDS_IPV6) expect(check.stderr).toContain("real server [2001:db8:1::11]:80: IPv6 tunnels (ip6ip6, 4in6, 6in4) are not in wasmvs's engine yet");
      else expect(check.stderr).toContain("service [2001:db8::100]:80: IPv6 forwarding is not in wasmvs's engine yet");
    });

    it("a server holds the v6 VIP on lo as /128 and does not answer NS for it on its segment", () => {
      expect(sb.run(sb.servers[0], ["ip", "-6", "addr", "show", "dev", "lo"]).stdout).toContain(`${VIP6}/128`);
      // The router asks the inside segment for the VIP (a /128 route on ei, for this test
      // only): every server sees the NS; none may answer. Its own address, asked the same
      // way, is answered: the NS reaches it.
      sb.must(sb.router, ["ip", "-6", "route", "add", `${VIP6}/128`, "dev", "ei"]);
      try {
        const r = ping6(sb, sb.router, VIP6);
        expect(r.status).not.toBe(0);
        const neigh = sb.run(sb.router, ["ip", "-6", "neigh", "show", VIP6, "dev", "ei"]).stdout;
        expect(neigh).not.toMatch(/lladdr/);
        expect(neigh).toMatch(/INCOMPLETE|FAILED/);
      } finally {
        sb.run(sb.router, ["ip", "-6", "route", "del", `${VIP6}/128`, "dev", "ei"]);
      }
    });
  });
}
