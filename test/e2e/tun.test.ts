// IP tunnelling end to end: the director wraps client packets in IPIP; each server's
// stack sits behind `wasmvs decap` (this kernel has no ipip module) and answers the
// client directly through the router.
import { expect, it } from "vitest";
import { VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";
import { directModeTests } from "./direct.js";

e2eDescribe("TUN through wasmvs, servers behind wasmvs decap", () =>
  directModeTests("tun", (ctx) => {
    it("large uploads work: full-size DF packets draw ICMP fragmentation needed and the client's path MTU drops", async () => {
      const { sb, restart } = ctx();
      const d = await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]));
      const r = sb.http(`http://${VIP}/`, { requests: 6, post: 300000, timeoutMs: 20000 });
      expect(r.errors).toEqual([]);
      expect(tally(r.bodies)).toEqual({ server1: 2, server2: 2, server3: 2 });
      const st = await d.freshStatus();
      expect(st.counters.drop_needs_fragmentation).toBeGreaterThan(0);
      expect(st.counters.icmp_errors_sent).toBeGreaterThan(0);
      // The client learnt the tunnel's MTU for the VIP from the director's ICMP.
      expect(sb.run(sb.client, ["ip", "route", "get", VIP]).stdout).toMatch(/mtu 1480/);
    });

    it("the decapsulators unwrapped the director's packets and passed the rest", async () => {
      const { sb } = ctx();
      for (let k = 0; k < 3; k++) {
        await sb.stop(`decap${k + 1}`);
        const m = /stopped: (\d+) frames in, (\d+) decapsulated, (\d+) passed up, (\d+) passed down, drops: none/.exec(sb.logOf(`decap${k + 1}`));
        expect(m).not.toBeNull();
        expect(Number(m![2])).toBeGreaterThan(100);
        expect(Number(m![3])).toBeGreaterThan(0); // ARP, at least
        expect(Number(m![4])).toBeGreaterThan(100); // the server's replies
      }
    });

    it("a jumbo MTU: uploads in frames of the jumbo MTU (9000 on TAP) cross the director and the decapsulators whole (their slots follow the MTU)", async () => {
      const { sb, restart, stop } = ctx();
      // Every veth of the network (on xdp the director's NICs too) and each server's two TAPs.
      const links: [string, string][] = [...sb.links, ...sb.servers.flatMap((ns) => ["dup", "dst"].map((dev): [string, string] => [ns, dev]))];
      const setMtu = (mtu: number) => { for (const [ns, dev] of links) sb.must(ns, ["ip", "link", "set", dev, "mtu", String(mtu)]); };
      for (let k = 0; k < 3; k++) await sb.stop(`decap${k + 1}`);
      await stop(); // a NIC with an XDP program attached refuses a larger MTU
      setMtu(sb.jumboMtu);
      // Forget the 1480 the client learnt for the VIP in the test above.
      sb.must(sb.client, ["ip", "route", "flush", "cache"]);
      try {
        await sb.startDecapsulators();
        const d = await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]).replaceAll("mtu 1500", `mtu ${sb.jumboMtu}`));
        const r = sb.http(`http://${VIP}/`, { requests: 6, post: 300000, timeoutMs: 20000 });
        expect(r.errors).toEqual([]);
        expect(tally(r.bodies)).toEqual({ server1: 2, server2: 2, server3: 2 });
        const web = (await d.freshStatus()).services[0].stats;
        expect(web.inbytes / web.inpkts).toBeGreaterThan(1500);
        for (let k = 0; k < 3; k++) {
          await sb.stop(`decap${k + 1}`);
          const last = sb.logOf(`decap${k + 1}`).trim().split("\n").filter((l) => l.includes("stopped:")).pop();
          expect(last).toMatch(/decapsulated.*drops: none/);
        }
      } finally {
        setMtu(1500);
      }
    });
  }));
