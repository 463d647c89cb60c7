// A director cabled straight to its hosts (issue 18): no bridge and no TAP anywhere. The
// director host's NICs xo and xi are veths whose peers are the client's eth0 and the server's
// eth0; wasmvs attaches AF_XDP rings to them (`device xo`) and shares the host's addresses and
// MACs, as IPVS does. Beside the engine the host's own stack keeps working: it answers ping
// and ARP for its own addresses, and its own TCP connections (a health check's path) reach
// the server while the engine forwards; the engine answers ARP for the VIP with the NIC's
// MAC. The XDP program is attached while wasmvs runs and gone when it stops, cleanly or by
// kill -9 (the kernel detaches a bpf_link when its last descriptor closes). xdp only
// (vitest.config.ts): there is nothing to attach to without the host's NICs.

import { afterAll, beforeAll, expect, it } from "vitest";
import { Director, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

e2eDescribe("rings: a director on the host's own NICs, cabled straight to a client and a server (xdp)", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const SERVER = serverAddress(0);
  const config = () => sb.config([{ protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 }]);

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", backend: "xdp", direct: true, servers: 1, httpPorts: [8080] });
    await sb.startServers();
  });
  afterAll(async () => {
    await director?.stop().catch(() => {});
    await sb?.destroy();
  });

  /** The XDP attachment of a director NIC as `ip -d link` shows it ("prog/xdp id N"), or "". */
  const xdpOn = (dev: string) => /prog\/xdp id \d+/.exec(sb.must(sb.director, ["ip", "-d", "link", "show", "dev", dev]))?.[0] ?? "";
  const neigh = (ns: string, address: string) => sb.run(ns, ["ip", "neigh", "show", address]).stdout;
  /** A counter of the director host's kernel (its namespace's /proc/net/snmp): group Ip, Icmp, ... */
  const hostCounter = (group: string, name: string) => {
    const rows = sb.must(sb.director, ["cat", "/proc/net/snmp"]).split("\n").filter((l) => l.startsWith(`${group}:`));
    const [names, values] = rows.map((r) => r.split(/\s+/));
    return Number(values[names.indexOf(name)]);
  };
  const hostEchoReplies = () => hostCounter("Icmp", "OutEchoReps");

  it("NAT: HTTP through the VIP is answered by the server, the client having found the VIP at the NIC's MAC (the engine's ARP reply)", async () => {
    const d = director = await sb.startDirector(config());
    expect(xdpOn("xo")).not.toBe("");
    expect(xdpOn("xi")).not.toBe("");
    // Nothing but the two NICs: no TAP and no bridge in the director host.
    expect(sb.must(sb.director, ["ip", "-o", "link", "show"]).split("\n").filter(Boolean).map((l) => l.split(": ")[1].split("@")[0]).sort())
      .toEqual(["lo", "xi", "xo"]);
    sb.run(sb.client, ["ip", "neigh", "flush", "dev", "eth0"]);
    const repliesBefore = (await d.freshStatus()).counters.arp_replies_sent;
    const hostIpBefore = hostCounter("Ip", "InReceives");
    const r = sb.http(`http://${VIP}/`, { requests: 20 });
    expect(r.errors).toEqual([]);
    expect(r.bodies).toEqual(Array(20).fill("server1"));
    // The host does not hold the VIP (and answers ARP only for what it holds): the engine answered.
    const nicMac = JSON.parse(sb.must(sb.director, ["ip", "-j", "link", "show", "dev", "xo"]))[0].address;
    expect(nicMac).toBe(OUT_MAC);
    expect(neigh(sb.client, VIP)).toContain(`lladdr ${nicMac}`);
    const st = await d.freshStatus();
    expect(st.counters.arp_replies_sent).toBeGreaterThan(repliesBefore);
    expect(st.services[0].realServers[0]).toMatchObject({ address: SERVER, port: 8080 });
    expect(st.services[0].realServers[0].stats.conns).toBe(20);
    expect(st.services[0].realServers[0].stats.outpkts).toBeGreaterThan(0); // the replies came back through the engine
    // Not one of the forwarded packets reached the host's own IP stack (it would count each
    // in Ip InReceives, forwarding or not): the XDP program took them all for the engine.
    // (Each of the 20 connections sent at least its SYN, ACK, request and FIN through it.)
    expect(st.services[0].stats.inpkts).toBeGreaterThanOrEqual(20 * 4);
    expect(hostCounter("Ip", "InReceives") - hostIpBefore).toBe(0);
  });

  it("the director host answers ping and ARP for its own addresses on both NICs, beside the engine", async () => {
    for (const [ns, address] of [[sb.client, DIRECTOR_OUT], [sb.servers[0], DIRECTOR_IN]]) {
      sb.run(ns, ["ip", "neigh", "flush", "dev", "eth0"]);
      const before = hostEchoReplies();
      const ping = sb.run(ns, ["ping", "-c", "3", "-i", "0.2", "-W", "2", address]);
      expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
      // The host's kernel sent the replies (the XDP program passes frames to the host's own
      // addresses up the stack), and its ARP reply carried the NIC's MAC.
      expect(hostEchoReplies() - before).toBeGreaterThanOrEqual(3);
      expect(neigh(ns, address)).toContain(`lladdr ${address === DIRECTOR_OUT ? OUT_MAC : IN_MAC}`);
    }
  });

  it("a TCP connection from the director host to the server's port (a health check's path) works while the engine forwards", async () => {
    const conns = () => director!.status().services[0]?.stats.conns ?? 0;
    const before = conns();
    const load = sb.httpInBackground(`http://${VIP}/`, { requests: 400, concurrency: 4, intervalMs: 5 }, "rings-load");
    await sb.waitFor("the load", () => conns() > before + 20, 10000);
    const fromHost: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = sb.run(sb.director, ["curl", "-s", "--max-time", "5", "-w", " from %{local_ip}", `http://${SERVER}:8080/`]);
      fromHost.push(`${r.status} ${r.stdout.trim()}`);
    }
    await sb.waitFor("the load to end", () => load.exitCode !== null, 60000);
    // From the host's own address on xi, the one wasmvs shares: the server's replies to it are
    // the host's (a local destination), which the XDP program passes up the stack.
    expect(fromHost).toEqual(Array(20).fill(`0 server1 from ${DIRECTOR_IN}`));
    const l = JSON.parse(sb.logOf("rings-load").trim().split("\n").pop()!) as { errors: string[]; bodies: string[] };
    expect(l.errors).toEqual([]);
    expect(l.bodies.length).toBe(400);
    expect(director!.proc.exitCode).toBeNull();
  });

  it("the XDP program goes when wasmvs stops: after SIGTERM and after kill -9", async () => {
    expect(xdpOn("xo")).not.toBe("");
    await director!.stop();
    director = undefined;
    expect(xdpOn("xo")).toBe("");
    expect(xdpOn("xi")).toBe("");

    const d = await sb.startDirector(config(), undefined, "director-killed");
    expect(xdpOn("xo")).not.toBe("");
    expect(sb.http(`http://${VIP}/`, { requests: 4 }).errors).toEqual([]);
    d.proc.kill("SIGKILL");
    await sb.waitFor("the director to die", () => d.proc.signalCode !== null || d.proc.exitCode !== null, 10000);
    // The bpf_link's release runs a moment after the last descriptor closes.
    await sb.waitFor("the XDP program to be detached", () => xdpOn("xo") === "" && xdpOn("xi") === "", 5000);
    // The host's stack is all there is now: its own address still answers, the VIP no longer does.
    expect(sb.run(sb.client, ["ping", "-c", "1", "-W", "2", DIRECTOR_OUT]).stdout).toMatch(/1 received/);
    expect(sb.run(sb.client, ["ping", "-c", "1", "-W", "1", VIP]).stdout).toMatch(/0 received/);
  });
});
