// IPv6 services end to end (issue 20): a real Linux client reaches a v6 VIP through wasmvs, in
// NAT (ip_vs_nat_xmit_v6: the server answers through the director, which writes the VIP back as
// the source) and in DR (ip_vs_dr_xmit_v6: only the MACs change; the server holds the VIP on lo
// and answers through the router). The client finds the VIP by neighbour discovery, the
// director finds the servers the same way. TAP only: on AF_XDP rings the XDP program leaves
// IPv6 to the host's own stack.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT, Director, Sandbox, VIP, VIP6 } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

const CLIENT6 = "2001:db8::2";

for (const mode of ["nat", "dr"] as const) {
  e2eDescribe(`IPv6 services through wasmvs (${mode.toUpperCase()}), real Linux client and servers`, () => {
    let sb: Sandbox;
    let d: Director | undefined;
    beforeAll(async () => {
      sb = await Sandbox.create({ mode, ipv6: true });
      await sb.startServers();
      // A dual-stack director: the same port as an IPv4 and an IPv6 service (NAT: the servers
      // listen on 8080, DR: on the VIP's port).
      const serverPort = mode === "nat" ? 8080 : 80;
      d = await sb.startDirector(sb.config([
        { protocol: "tcp", port: 80, scheduler: "rr", family: 6, serverPort },
        { protocol: "tcp", port: 80, scheduler: "rr", serverPort },
      ]));
    });
    afterAll(async () => {
      await d?.stop().catch(() => {});
      await sb?.destroy();
    });

    describe("HTTP to the v6 VIP", () => {
      it("rr spreads 30 connections exactly evenly, and the client saw every answer come from the VIP", async () => {
        const r = sb.http(`http://[${VIP6}]/`, { requests: 30 });
        expect(r.errors).toEqual([]);
        expect(tally(r.bodies)).toEqual({ server1: 10, server2: 10, server3: 10 });
        const st = await d!.freshStatus();
        const web6 = st.services.find((s) => s.address === VIP6)!;
        expect(web6).toBeDefined();
        for (const x of web6.realServers) expect(x.stats.conns).toBe(10);
        // NAT: the replies crossed the director; DR: they never did.
        if (mode === "nat") expect(web6.stats.outpkts).toBeGreaterThan(0);
        else expect(web6.stats.outpkts).toBe(0);
        expect(st.counters.neighbour_solicits_sent).toBeGreaterThan(0); // the servers found by NS
      });

      it("the IPv4 service on the same port answers beside it (dual stack)", async () => {
        const r = sb.http(`http://${VIP}/`, { requests: 6 });
        expect(r.errors).toEqual([]);
        expect(tally(r.bodies)).toEqual({ server1: 2, server2: 2, server3: 2 });
      });

      it("ipvsadm's listing shows the v6 service as [addr]:port, and its connections with the client's v6 address", async () => {
        // A keep-alive load leaves connections in the table while it is listed.
        const list = d!.ipvsadm(["-L", "-n"]);
        expect(list.status).toBe(0);
        expect(list.stdout).toMatch(new RegExp(`TCP  \\[${VIP6}\\]:80 rr`));
        expect(list.stdout).toMatch(mode === "nat" ? /-> \[2001:db8:1::11\]:8080 +Masq +1 / : /-> \[2001:db8:1::11\]:80 +Route +1 /);
        const conns = d!.ipvsadm(["-L", "-n", "-c"]);
        expect(conns.status).toBe(0);
        expect(conns.stdout).toContain(`[${CLIENT6}]:`);
        expect(conns.stdout).toContain(`${CLIENT}:`); // the IPv4 connections beside them
      });
    });
  });
}
