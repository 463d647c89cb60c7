// Schedulers end to end (NAT): real HTTP clients and servers in namespaces through wasmvs
// (either backend). mh must send each connection where the kernel's ip_vs_mh table sends its client (the
// table computed here by test/helpers/mh-model.ts, written from ip_vs_mh.c without the
// engine's code); sed must follow shortest expected delay on real connection counts; maglev
// must balance and keep a client's flows where its table says.

import { afterAll, beforeAll, expect, it } from "vitest";
import { CLIENT, Director, Sandbox, VIP, serverAddress, serverName } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";
import { mhPick, mhTable } from "../helpers/mh-model.js";
import { flowSlot, model } from "../helpers/maglev-model.js";

e2eDescribe("schedulers through wasmvs (NAT)", () => {
  let sb: Sandbox;
  let director: Director | undefined;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080] });
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

  it("mh: every connection lands where the kernel's Maglev table sends its client; with mh-port the client's port joins the hash", async () => {
    // The servers are added 1, 2, 3: the service's list (and the table's order) is 3, 2, 1.
    const servers = [2, 1, 0].map((k) => ({ addr: serverAddress(k), lastWeight: 1, name: serverName(k) }));
    const table = mhTable(servers, 8080);
    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "mh", serverPort: 8080 }]));
    const one = sb.http(`http://${VIP}/`, { requests: 20 });
    expect(one.errors).toEqual([]);
    expect(tally(one.bodies)).toEqual({ [mhPick(table, CLIENT, 0, false)!.name]: 20 });

    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "mh -b mh-port", serverPort: 8080 }]));
    const spread = sb.http(`http://${VIP}/`, { requests: 60 });
    expect(spread.errors).toEqual([]);
    expect(spread.ports.length).toBe(60);
    spread.bodies.forEach((b, k) => expect(b, `connection from port ${spread.ports[k]}`).toBe(mhPick(table, CLIENT, spread.ports[k], true)!.name));
    expect(Object.keys(tally(spread.bodies)).length).toBe(3);
  });

  it("sed: with nothing open every connection goes to the heaviest server; connections held open fill the servers in shortest-expected-delay order (weights 3,2,1: 6/4/2)", async () => {
    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "sed", serverPort: 8080, weights: [1, 3, 2] }]));
    // Finished connections are inactive (TIME_WAIT): sed counts active ones only.
    const seq = sb.http(`http://${VIP}/`, { requests: 30 });
    expect(seq.errors).toEqual([]);
    expect(tally(seq.bodies)).toEqual({ server2: 30 });

    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "sed", serverPort: 8080, weights: [3, 2, 1] }]));
    const active = () => director!.status().services.find((s) => s.port === 80)?.realServers.reduce((a, x) => a + x.active, 0) ?? 0;
    // Twelve keep-alive clients, each started once the one before is established, so every
    // choice sees the connections before it (as the reference sequence assumes).
    const held = [];
    for (let k = 0; k < 12; k++) {
      held.push(sb.httpInBackground(`http://${VIP}/`, { requests: 800, keepalive: true, intervalMs: 50, timeoutMs: 5000 }, `sed-held-${k}`));
      await sb.waitFor(`connection ${k + 1} established`, () => active() >= k + 1, 20000);
    }
    const st = await director!.freshStatus();
    const byServer = Object.fromEntries(st.services.find((s) => s.port === 80)!.realServers.map((x) => [x.address, x.active]));
    expect(byServer).toEqual({ [serverAddress(0)]: 6, [serverAddress(1)]: 4, [serverAddress(2)]: 2 });
    for (const [k, p] of held.entries()) {
      await sb.waitFor(`held client ${k}`, () => p.exitCode !== null, 60000);
      const r = JSON.parse(sb.logOf(`sed-held-${k}`).trim().split("\n").pop()!);
      expect(r.errors).toEqual([]);
      expect(new Set(r.bodies).size).toBe(1);
    }
  });

  it("maglev: every connection lands where the Maglev table (the reference model's) sends its 5-tuple, spread over the servers", async () => {
    const d = await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "maglev", serverPort: 8080 }]));
    const table = model([0, 1, 2].map((k) => ({ addr: serverAddress(k), port: 8080, weight: 1 })));
    const r = sb.http(`http://${VIP}/`, { requests: 90 });
    expect(r.errors).toEqual([]);
    r.bodies.forEach((b, k) => {
      const server = table[flowSlot(CLIENT, VIP, r.ports[k], 80, 6)]!;
      expect(b, `connection from port ${r.ports[k]}`).toBe(serverName(Number(server.split(".")[3].split(":")[0]) - 11));
    });
    const t = tally(r.bodies);
    expect(Object.keys(t).sort()).toEqual(["server1", "server2", "server3"]);
    for (const n of Object.values(t)) expect(n).toBeGreaterThan(10);
    const st = await d.freshStatus();
    expect(st.services[0].scheduler).toBe("maglev");
  });
});
