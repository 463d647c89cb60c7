// The TAP backend only: what a TAP has and the host's NICs do not — offloads through the
// virtio-net header (TSO segments bigger than the MTU, NAT and DR) and the bridge in the
// director's own namespace, whose netfilter hook the director warns about. Not part of the
// xdp pass (vitest.config.ts): there is no TAP and no bridge beside the director there.

import { afterAll, beforeAll, expect, it } from "vitest";
import { Director, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

e2eDescribe("NAT on the TAP backend: offloads, bridge netfilter", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const rr = () => sb.config([
    { protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 },
    { protocol: "udp", port: 53, scheduler: "rr" },
  ]);

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080], udpPorts: [53], backend: "tap" });
    await sb.startServers();
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  async function restart(config: string): Promise<Director> {
    if (director) await director.stop();
    director = await sb.startDirector(config);
    return director;
  }

  it("with TAP offloads: large downloads and uploads intact, the director handling segments bigger than the MTU", async () => {
    const d = await restart(rr() + "offload on\n");
    expect(sb.logOf("director")).toMatch(/offloads on/);
    const down = sb.http(`http://${VIP}/big`, { requests: 6, keepalive: true });
    expect(down.errors).toEqual([]);
    expect(down.bodies.every((b) => b.length === 200008)).toBe(true);
    const up = sb.http(`http://${VIP}/`, { requests: 3, post: 2_000_000, timeoutMs: 20000 });
    expect(up.errors).toEqual([]);
    expect(up.bodies.length).toBe(3);
    const st = await d.freshStatus();
    const web = st.services.find((s) => s.port === 80)!.stats;
    // More bytes per packet than an Ethernet MTU allows: the kernel handed over TSO segments.
    expect(web.inbytes / web.inpkts).toBeGreaterThan(1500);
    expect(web.outbytes / web.outpkts).toBeGreaterThan(1500);
  });

  it("with bridge netfilter on in its namespace the director says how to turn it off, and still forwards", async () => {
    const brnf = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    const before = sb.logOf("director").length;
    await restart(rr());
    // The sandbox turns it off (and a kernel without br_netfilter has nothing to turn off).
    expect(sb.logOf("director").slice(before)).not.toMatch(/bridge netfilter is on/);
    if (sb.run(sb.director, ["cat", brnf]).status !== 0) return;
    sb.must(sb.director, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"]);
    try {
      const at = sb.logOf("director").length;
      await restart(rr());
      expect(sb.logOf("director").slice(at)).toMatch(/bridge netfilter is on .*net\.bridge\.bridge-nf-call-iptables=0/);
      const r = sb.http(`http://${VIP}/`, { requests: 6 });
      expect(r.errors).toEqual([]);
      expect(tally(r.bodies)).toEqual({ server1: 2, server2: 2, server3: 2 });
    } finally {
      sb.must(sb.director, ["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"]);
    }
  });
});

e2eDescribe("DR on the TAP backend: offloads", () => {
  let sb: Sandbox;
  let director: Director | undefined;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr", backend: "tap" });
    await sb.startServers();
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("with TAP offloads: large uploads intact, the director handling segments bigger than the MTU", async () => {
    const d = director = await sb.startDirector(sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]) + "offload on\n");
    const up = sb.http(`http://${VIP}/`, { requests: 3, post: 2_000_000, timeoutMs: 20000 });
    expect(up.errors).toEqual([]);
    expect(up.bodies.length).toBe(3);
    const st = await d.freshStatus();
    expect(st.services[0].stats.inbytes / st.services[0].stats.inpkts).toBeGreaterThan(1500);
    expect(st.services[0].stats.outpkts).toBe(0);
  });
});
