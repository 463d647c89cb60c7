// Direct routing end to end: the servers hold the VIP on loopback (arp_ignore=1,
// arp_announce=2) and answer through the router; the director only rewrites MACs.
import { expect, it } from "vitest";
import { VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";
import { directModeTests } from "./direct.js";

e2eDescribe("DR through wasmvs on TAP", () =>
  directModeTests("dr", (ctx) => {
    it("with TAP offloads: large uploads intact, the director handling segments bigger than the MTU", async () => {
      const { sb, restart } = ctx();
      const d = await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]) + "offload on\n");
      const up = sb.http(`http://${VIP}/`, { requests: 3, post: 2_000_000, timeoutMs: 20000 });
      expect(up.errors).toEqual([]);
      expect(up.bodies.length).toBe(3);
      const st = await d.freshStatus();
      expect(st.services[0].stats.inbytes / st.services[0].stats.inpkts).toBeGreaterThan(1500);
      expect(st.services[0].stats.outpkts).toBe(0);
    });
  }));
