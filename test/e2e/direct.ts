// The tests DR and TUN share: the servers answer the client themselves, so the
// director sees requests only.

import { afterAll, beforeAll, expect, it } from "vitest";
import { Director, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { tally } from "./e2e.js";

export function directModeTests(mode: "dr" | "tun", extra?: (ctx: () => { sb: Sandbox; restart: (c: string) => Promise<Director>; stop: () => Promise<void> }) => void): void {
  let sb: Sandbox;
  let director: Director | undefined;
  const rr = () => sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]);
  async function restart(config: string): Promise<Director> {
    if (director) await director.stop();
    director = await sb.startDirector(config);
    return director;
  }
  async function stop(): Promise<void> {
    await director?.stop();
    director = undefined;
  }

  beforeAll(async () => {
    sb = await Sandbox.create({ mode });
    await sb.startServers();
    if (mode === "tun") await sb.startDecapsulators();
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("rr: HTTP through the VIP, exactly evenly; the replies never pass the director", async () => {
    const d = await restart(rr());
    const r = sb.http(`http://${VIP}/`, { requests: 30 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 10, server2: 10, server3: 10 });
    const st = await d.freshStatus();
    const web = st.services[0];
    let inpkts = 0;
    for (const x of web.realServers) {
      expect(x.stats.conns).toBe(10);
      expect(x.stats.inpkts).toBeGreaterThanOrEqual(50); // SYN, ACK, request, ACKs, FIN...
      expect(x.stats.outpkts).toBe(0);
      inpkts += x.stats.inpkts;
    }
    expect(web.stats.outpkts).toBe(0);
    // Everything the director sent on was a client's packet (the first to each server
    // waited for its ARP reply: queued, then released).
    expect(st.counters.forwarded + st.counters.queued).toBe(inpkts);
  });

  it("wrr: weights 3,2,1 give 30/20/10 over 60 connections", async () => {
    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "wrr", weights: [3, 2, 1] }]));
    const r = sb.http(`http://${VIP}/`, { requests: 60 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 30, server2: 20, server3: 10 });
  });

  it("a keep-alive connection stays on one server, also for large responses", async () => {
    await restart(rr());
    const r = sb.http(`http://${VIP}/big`, { requests: 20, keepalive: true });
    expect(r.errors).toEqual([]);
    expect(new Set(r.bodies.map((b) => b.split("\n")[0])).size).toBe(1);
    expect(r.bodies.every((b) => b.length > 200000)).toBe(true);
  });

  it("200 concurrent connections complete", async () => {
    await restart(rr());
    const r = sb.http(`http://${VIP}/`, { requests: 600, concurrency: 200, timeoutMs: 30000 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 200, server2: 200, server3: 200 });
  });

  it("answers ping to the VIP itself", async () => {
    await restart(rr());
    const r = sb.run(sb.client, ["ping", "-c", "3", "-i", "0.2", "-W", "2", VIP]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
  });

  extra?.(() => ({ sb, restart, stop }));
}
