// VRRP end to end (issue 10, first part): two wasmvs directors on the same segments, one
// VRRP instance (v3, advert 0.1 s) holding the VIP, DR to three real servers. The master
// answers for the VIP and the backup does not; kill -9 the master while a client opens a
// connection every 10 ms: the backup takes over (time measured from its own log and
// printed), announces the VIP (the client's and the router's ARP caches follow), and every
// connection after the takeover works. Back, the old master preempts. Connection sync is
// not built yet: connections open at the moment of failure are not carried over.

import { afterAll, beforeAll, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

const MAC_A = "02:00:00:00:0a:01";
const MAC_B = "02:00:00:00:0b:01";

e2eDescribe("VRRP between two wasmvs directors", () => {
  let sb: Sandbox;
  const directors: Director[] = [];

  const config = (who: "a" | "b", priority: number, tracking = "") => `${sb.pairDirector(`v${who}`, who === "a" ? "0a" : "0b", who === "a" ? 5 : 6)}vrrp_instance VI_1 {
  interface outside
  virtual_router_id 51
  priority ${priority}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
  }
${tracking}}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
${[0, 1, 2].map((k) => `  real_server ${serverAddress(k)} 80 { weight 1 }`).join("\n")}
}
`;

  const state = (d: Director) => (d.status() as unknown as { control?: { vrrp?: { state: string }[] } }).control?.vrrp?.[0]?.state;
  const neigh = (ns: string) => sb.run(ns, ["ip", "neigh", "show", VIP]).stdout;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr", httpPorts: [80] });
    await sb.startServers();
  });
  afterAll(async () => {
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  it("the master holds the VIP, the backup stays silent; kill -9 the master: the backup takes over, new connections work", async () => {
    const a = await sb.startDirector(config("a", 150), join(sb.dir, "a.sock"), "director-a");
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a")), 5000);
    const b = await sb.startDirector(config("b", 100), join(sb.dir, "b.sock"), "director-b");
    directors.push(b);
    await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf("director-b")), 5000);
    const first = sb.http(`http://${VIP}/`, { requests: 30, concurrency: 3 });
    expect(first.errors).toEqual([]);
    expect(Object.keys(tally(first.bodies)).sort()).toEqual(["server1", "server2", "server3"]);
    expect(neigh(sb.client)).toContain(MAC_A);
    // The backup answers nothing for the VIP: only the master's statistics move.
    await b.freshStatus();
    expect(b.status().services[0].stats.conns).toBe(0);
    expect(state(b)).toBe("BACKUP");

    const client = sb.httpInBackground(`http://${VIP}/`, { requests: 300, intervalMs: 10, timeoutMs: 1000, times: true }, "failover-client");
    await new Promise((r) => setTimeout(r, 800));
    const killedAt = Date.now();
    a.proc.kill("SIGKILL");
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("director-b")), 5000);
    const line = sb.logOf("director-b").split("\n").find((l) => /VI_1 .*: MASTER/.test(l))!;
    const takeoverMs = Date.parse(line.split(" ")[0]) - killedAt;
    await sb.waitFor("the client", () => client.exitCode !== null, 30000);
    const r = JSON.parse(sb.logOf("failover-client").trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[]; times: number[] };
    const answered = r.bodies.filter((x) => x !== null).length;
    console.log(`VRRP v3 at 0.1 s, priority 150 -> 100: the backup was master ${takeoverMs} ms after kill -9 (theory 3 x 100 + 60.9 = 361 ms); ` +
      `${r.errors.length} of ${r.bodies.length} new connections failed around the takeover, ${answered} answered`);
    expect(takeoverMs).toBeGreaterThan(0);
    // After the takeover every connection works, through the new master.
    const after = sb.http(`http://${VIP}/`, { requests: 30, concurrency: 3 });
    expect(after.errors).toEqual([]);
    expect(after.bodies.length).toBe(30);
    // The gratuitous ARPs moved the client's cache to the new master (Linux updates an
    // entry it has from a gratuitous ARP; the router never had one for the VIP in DR).
    expect(neigh(sb.client)).toContain(MAC_B);
    expect(neigh(sb.router)).not.toContain(MAC_A);
    await b.freshStatus();
    expect(b.status().services[0].stats.conns).toBeGreaterThan(0);
  });

  it("the old master comes back and preempts; the new backup falls silent", async () => {
    const before = sb.logOf("director-b").length;
    const a = await sb.startDirector(config("a", 150), join(sb.dir, "a2.sock"), "director-a2");
    directors.push(a);
    await sb.waitFor("a to preempt", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a2")), 5000);
    await sb.waitFor("b to back off", () => /VI_1 .*: BACKUP/.test(sb.logOf("director-b").slice(before)), 5000);
    await sb.waitFor("the client's ARP cache", () => neigh(sb.client).includes(MAC_A), 5000);
    const r = sb.http(`http://${VIP}/`, { requests: 30, concurrency: 3 });
    expect(r.errors).toEqual([]);
  });

  it("a partition and back: exactly one master, and the clients' ARP caches point at it (keepalived #166, #1528)", async () => {
    // a2 (150) is master, b (100) backup. Cut a2 off the outside segment beyond its link (the
    // bridge stops forwarding its port, as a failed switch would: a2's own link stays up, so
    // interface tracking does not see it): b becomes master too and announces the VIP; heal.
    const a = directors[directors.length - 1];
    const beforeB = sb.logOf("director-b").length;
    sb.must(sb.switchNs, ["bridge", "link", "set", "dev", "vao", "state", "0"]);
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("director-b").slice(beforeB)), 5000);
    await sb.waitFor("the client's cache to move to b", () => neigh(sb.client).includes(MAC_B), 5000);
    const beforeHeal = sb.logOf("director-b").length;
    sb.must(sb.switchNs, ["bridge", "link", "set", "dev", "vao", "state", "3"]);
    await sb.waitFor("b to back off", () => /VI_1 .*: BACKUP/.test(sb.logOf("director-b").slice(beforeHeal)), 5000);
    // The winner announced the VIP again when it heard the other: the caches follow it.
    await sb.waitFor("the client's cache back to a", () => neigh(sb.client).includes(MAC_A), 5000);
    const r = sb.http(`http://${VIP}/`, { requests: 20, concurrency: 2 });
    expect(r.errors).toEqual([]);
    expect(a.proc.exitCode).toBe(null);
  });

  it("a storm of forged adverts (lower priority) and garbage sync messages: forwarding goes on, the roles stay", async () => {
    const a = directors[directors.length - 1];
    const b = directors.find((d) => d.name === "director-b")!;
    // A valid v3 advert for VRID 51, priority 50, from the client: checksum over the pseudo-header.
    const m = [0x31, 51, 50, 1, 0x00, 10, 0, 0, ...VIP.split(".").map(Number)];
    const ps = [10, 0, 0, 2, 224, 0, 0, 18].reduce((acc, v, i) => acc + (i % 2 ? v : v << 8), 0) + 112 + m.length;
    let sum = ps;
    for (let i = 0; i < m.length; i += 2) sum += (m[i] << 8) | m[i + 1];
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    m[6] = (~sum >> 8) & 255;
    m[7] = ~sum & 255;
    const file = join(sb.dir, "advert.bin");
    writeFileSync(file, Buffer.from(m));
    const beforeA = sb.logOf("director-a2").length;
    const beforeB = sb.logOf("director-b").length;
    const sentBefore = (await a.freshStatus()).counters.vrrp_adverts_sent;
    const load = sb.httpInBackground(`http://${VIP}/`, { requests: 300, concurrency: 3, intervalMs: 5 }, "storm-load");
    const adverts = sb.run(sb.client, ["hping3", "--rawip", "-H", "112", "-t", "255", "-E", file, "-d", String(m.length), "-c", "30000", "-i", "u20", "-q", "224.0.0.18"], 120000);
    const sync = sb.run(sb.client, ["hping3", "-2", "-p", "8848", "-s", "8848", "-t", "1", "-d", "100", "-c", "20000", "-i", "u20", "-q", "224.0.0.81"], 120000);
    expect(adverts.stdout + adverts.stderr).toMatch(/30000 packets transmitted/);
    expect(sync.stdout + sync.stderr).toMatch(/20000 packets transmitted/);
    await sb.waitFor("the load", () => load.exitCode !== null, 60000);
    const r = JSON.parse(sb.logOf("storm-load").trim().split("\n").pop()!) as { errors: string[]; bodies: unknown[] };
    expect(r.errors).toEqual([]);
    expect(r.bodies.length).toBe(300);
    expect(/: BACKUP/.test(sb.logOf("director-a2").slice(beforeA))).toBe(false);
    expect(/: MASTER/.test(sb.logOf("director-b").slice(beforeB))).toBe(false);
    const st = await a.freshStatus();
    const sent = st.counters.vrrp_adverts_sent - sentBefore;
    console.log(`advert storm: the master's engine passed ${st.counters.vrrp_adverts_received} adverts to its state machine ` +
      `(${st.counters.drop_vrrp_queue_full ?? 0} dropped at the queue) and it sent ${sent} (answers at most every 100 ms); the load saw no error`);
    // Not one answer per forged advert: the storm is not amplified.
    expect(sent).toBeLessThan(1000);
    expect(a.proc.exitCode).toBe(null);
    expect(b.proc.exitCode).toBe(null);
  });

  it("tracking: a failing vrrp_script or the master's link down puts it in FAULT (it resigns, b takes over at once); recovered, it preempts again", async () => {
    // a2 steps down for a3, the same director with a tracked script (weight 0) and its
    // interface tracked (keepalived's default for the instance's own interface).
    const old = directors[directors.length - 1];
    await old.stop();
    const flag = join(sb.dir, "chk-fail");
    const script = join(sb.dir, "chk.sh");
    writeFileSync(script, `#!/bin/sh\n[ ! -e ${flag} ]\n`, { mode: 0o755 });
    const tracking = `  track_script {\n    chk\n  }\n`;
    const a = await sb.startDirector(`vrrp_script chk {\n  script ${script}\n  interval 0.1\n}\n` + config("a", 150, tracking), join(sb.dir, "a3.sock"), "director-a3");
    directors.push(a);
    await sb.waitFor("a3 to preempt", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a3")), 5000);
    await sb.waitFor("the client's ARP cache", () => neigh(sb.client).includes(MAC_A), 5000);
    const takeovers: string[] = [];
    for (const [what, fail, heal] of [
      ["the tracked script fails", () => writeFileSync(flag, ""), () => rmSync(flag)],
      ["a3's link goes down", () => sb.must(sb.director, ["ip", "link", "set", "vao", "down"]), () => sb.must(sb.director, ["ip", "link", "set", "vao", "up"])],
    ] as const) {
      const beforeA = sb.logOf("director-a3").length;
      const beforeB = sb.logOf("director-b").length;
      const at = Date.now();
      fail();
      await sb.waitFor("a3 in FAULT", () => /VI_1 .*: FAULT/.test(sb.logOf("director-a3").slice(beforeA)), 5000);
      await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("director-b").slice(beforeB)), 5000);
      const line = sb.logOf("director-b").slice(beforeB).split("\n").find((l) => /: MASTER/.test(l))!;
      // The master resigned on its way to FAULT: b took over after its skew, not 3 intervals.
      if (what.includes("script")) expect(line).toMatch(/the master resigned \(priority 0\)/);
      takeovers.push(`${what}: b master ${Date.parse(line.split(" ")[0]) - at} ms later`);
      await sb.waitFor("the client's cache to move to b", () => neigh(sb.client).includes(MAC_B), 5000);
      expect(sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 }).errors).toEqual([]);
      // -L --vrrp says it and why.
      expect(a.ipvsadm(["-L", "--vrrp"]).stdout).toMatch(new RegExp(`\\nVI_1 +FAULT +51 +outside +150 +\\S+ +\\d+/\\d+ +${what.includes("script") ? "script chk" : "interface outside down"}\\n`));
      await a.freshStatus();
      expect((a.status() as unknown as { control: { vrrp: { state: string; faults: string[] }[] } }).control.vrrp[0]).toMatchObject({ state: "FAULT" });
      const beforeBack = sb.logOf("director-a3").length;
      heal();
      await sb.waitFor("a3 back and master", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a3").slice(beforeBack)), 5000);
      expect(sb.logOf("director-a3").slice(beforeBack)).toMatch(/VI_1 .*: BACKUP: .* recovered/);
      await sb.waitFor("the client's ARP cache back to a3", () => neigh(sb.client).includes(MAC_A), 5000);
      expect(sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 }).errors).toEqual([]);
    }
    console.log(`VRRP tracking (script every 0.1 s, weight 0): ${takeovers.join("; ")}`);
  });

  it("a master stopped cleanly resigns (priority 0): the backup takes over after its skew, not the full timeout", async () => {
    const a = directors[directors.length - 1];
    const before = sb.logOf("director-b").length;
    const stoppedAt = Date.now();
    await a.stop();
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER: the master resigned \(priority 0\)/.test(sb.logOf("director-b").slice(before)), 5000);
    const line = sb.logOf("director-b").slice(before).split("\n").find((l) => /: MASTER/.test(l))!;
    console.log(`graceful stop: the backup was master ${Date.parse(line.split(" ")[0]) - stoppedAt} ms after SIGTERM to the master (skew for priority 100: 61 ms)`);
    const r = sb.http(`http://${VIP}/`, { requests: 20, concurrency: 2 });
    expect(r.errors).toEqual([]);
  });

  it("use_vmac: the VIP's MAC is 00:00:5e:00:01:33 whichever director is master; after kill -9 the client's ARP entry needs no change, the bridge follows (on the host's NICs: refused at start, with the reason)", async () => {
    for (const d of directors) await d.stop().catch(() => {});
    if (sb.backend === "xdp") {
      // A NIC's rings take unicast frames for its own MAC only: a virtual MAC's would never reach the engine.
      await expect(sb.startDirector(config("a", 150, "  use_vmac\n"), join(sb.dir, "a-vmac.sock"), "director-a-vmac")).rejects.toThrow(
        /use_vmac on interface outside, which is attached to device vao through AF_XDP rings: only frames for the device's own MAC reach the engine there; use a TAP interface/);
      return;
    }
    const VMAC = "00:00:5e:00:01:33";
    const a = await sb.startDirector(config("a", 150, "  use_vmac\n"), join(sb.dir, "a-vmac.sock"), "director-a-vmac");
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a-vmac")), 5000);
    const b = await sb.startDirector(config("b", 100, "  use_vmac\n"), join(sb.dir, "b-vmac.sock"), "director-b-vmac");
    directors.push(b);
    await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf("director-b-vmac")), 5000);
    sb.run(sb.client, ["ip", "neigh", "flush", "dev", "eth0"]);
    expect(sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 }).errors).toEqual([]);
    expect(neigh(sb.client)).toContain(VMAC);
    const port = () => sb.run(sb.switchNs, ["bridge", "fdb", "show", "br", "bo"]).stdout.split("\n").find((l) => l.startsWith(VMAC))?.split(" ")[2];
    expect(port()).toBe("vao");
    a.proc.kill("SIGKILL");
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("director-b-vmac")), 5000);
    // The same MAC for the VIP: the client's entry is right as it is; the switch (bridge) learnt the new port.
    await sb.waitFor("the bridge to learn the VMAC on b's port", () => port() === "vbo", 5000);
    expect(sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 }).errors).toEqual([]);
    expect(neigh(sb.client)).toContain(VMAC);
  });
});
