// NAT end to end: real clients and servers (Linux TCP/UDP stacks in namespaces) talk
// through wasmvs, on TAP devices or on the director host's NICs (WASMVS_BACKEND). VIP:80
// maps to the servers' port 8080. What only TAP has (offloads, bridge netfilter): tap-backend.test.ts.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, VIP, OUT_MAC, IN_MAC, serverName } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

e2eDescribe("NAT through wasmvs", () => {
  let sb: Sandbox;
  let director: Director | undefined;
  const rr = () => sb.config([
    { protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 },
    { protocol: "udp", port: 53, scheduler: "rr" },
  ]);

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080], udpPorts: [53] });
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

  /** Until no client of server addr has anything left to send: no connection to it opening
   *  or established (once the client has sent its FIN, only the server's side is left, and
   *  replies pass). A server at weight 0 is drained so before it is removed, as an operator
   *  does with IPVS, whose default (expire_nodest_conn=0) drops the clients' packets of a
   *  removed server's connections — an in-flight request would hang. */
  async function drained(d: Director, addr: string): Promise<void> {
    let open: string[] = [];
    try {
      await sb.waitFor(`${addr} drained`, () => {
        const rows = d.ipvsadm(["-L", "-n", "-c"]).stdout.split("\n").slice(2).map((l) => l.trim().split(/\s+/));
        open = rows.filter((f) => f[5]?.startsWith(`${addr}:`) && ["NONE", "SYN_RECV", "SYN_SENT", "ESTABLISHED"].includes(f[2])).map((f) => f.join(" "));
        return open.length === 0;
      }, 20000);
    } catch (e) {
      throw new Error(`${(e as Error).message}; still open: ${open.join("; ")}`);
    }
  }

  it("rr: HTTP through VIP:80 reaches the servers on :8080, exactly evenly, and replies pass the director", async () => {
    const d = await restart(rr());
    const r = sb.http(`http://${VIP}/`, { requests: 30 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 10, server2: 10, server3: 10 });
    const st = await d.freshStatus();
    const web = st.services.find((s) => s.port === 80)!;
    expect(web.realServers.map((x) => x.port)).toEqual([8080, 8080, 8080]);
    for (const x of web.realServers) {
      expect(x.stats.conns).toBe(10);
      expect(x.stats.outpkts).toBeGreaterThan(0);
    }
  });

  it("wrr: weights 3,2,1 give IPVS's 30/20/10 over 60 connections", async () => {
    await restart(sb.config([{ protocol: "tcp", port: 80, scheduler: "wrr", serverPort: 8080, weights: [3, 2, 1] }]));
    const r = sb.http(`http://${VIP}/`, { requests: 60 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 30, server2: 20, server3: 10 });
  });

  it("a keep-alive connection stays on one server for its whole life", async () => {
    await restart(rr());
    const r = sb.http(`http://${VIP}/`, { requests: 50, keepalive: true });
    expect(r.errors).toEqual([]);
    expect(new Set(r.bodies).size).toBe(1);
    expect(new Set(r.ports).size).toBe(1);
  });

  it("UDP through NAT: every datagram from its own port is answered, rr across the servers", async () => {
    await restart(rr());
    const r = sb.udp(VIP, 53, 30);
    expect(r.errors).toEqual([]);
    expect(r.replies.every((x, k) => x.endsWith(`:hello ${k}`))).toBe(true);
    expect(tally(r.replies.map((x) => x.split(":")[0]))).toEqual({ server1: 10, server2: 10, server3: 10 });
  });

  it("weight 0 while traffic flows: the existing connection finishes, new ones go elsewhere", async () => {
    const d = await restart(rr());
    // 200 requests 20 ms apart on one connection: about four seconds of traffic.
    const bg = sb.httpInBackground(`http://${VIP}/`, { requests: 200, keepalive: true, intervalMs: 20 }, "longclient");
    // Find the server of the long connection: the one with an active (established) connection.
    let busy = -1;
    await sb.waitFor("the long connection", () => {
      const st = d.status();
      busy = st.services.find((s) => s.port === 80)?.realServers.findIndex((x) => x.active === 1) ?? -1;
      return busy >= 0;
    });
    const addr = d.status().services.find((s) => s.port === 80)!.realServers[busy].address;
    const k = Number(addr.split(".")[3]) - 11;
    const weights = [1, 1, 1];
    weights[k] = 0;
    const log = await d.reload(sb.config([
      { protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080, weights },
      { protocol: "udp", port: 53, scheduler: "rr" },
    ]));
    expect(log).toMatch(new RegExp(`real server ${addr.replace(/\./g, "\\.")}:8080 of tcp ${VIP}:80 now nat, weight 0`));
    const fresh = sb.http(`http://${VIP}/`, { requests: 20 });
    expect(fresh.errors).toEqual([]);
    expect(fresh.bodies).not.toContain(serverName(k));
    await sb.waitFor("the long client", () => bg.exitCode !== null, 60000);
    const long = JSON.parse(sb.logOf("longclient").trim().split("\n").pop()!);
    expect(long.errors).toEqual([]);
    expect(long.bodies.length).toBe(200);
    expect(new Set(long.bodies)).toEqual(new Set([serverName(k)]));
  });

  it("a real server removed: no new connections go to it; it is gone from the table", async () => {
    const d = await restart(rr());
    const noSecond = rr().split("\n").filter((l) => !l.includes("10.1.0.12")).join("\n");
    const log = await d.reload(noSecond);
    expect(log).toMatch(/real server 10\.1\.0\.12:8080 removed/);
    const r = sb.http(`http://${VIP}/`, { requests: 20 });
    expect(r.errors).toEqual([]);
    expect(tally(r.bodies)).toEqual({ server1: 10, server3: 10 });
    const st = await d.freshStatus();
    expect(st.services.find((s) => s.port === 80)!.realServers.map((x) => x.address).sort()).toEqual(["10.1.0.11", "10.1.0.13"]);
  });

  it("a reload with an error is refused whole and the running table stays", async () => {
    const d = await restart(rr());
    const log = await d.reload(rr() + "-a -t 10.0.0.100:80 -r 10.9.9.9:80 -g -w 1\n");
    expect(log).toMatch(/reload refused, the running configuration stays: .*director\.rules:\d+:\d+: .*not on a directly connected network/);
    const r = sb.http(`http://${VIP}/`, { requests: 9 });
    expect(tally(r.bodies)).toEqual({ server1: 3, server2: 3, server3: 3 });
  });

  it("ipvsadm against the running director while traffic flows: nothing established breaks, -L -n shows the new table", async () => {
    const d = await restart(rr());
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 150, keepalive: true, intervalMs: 20 }, "cli-long");
    // The long connection's server, found before the stream of short ones starts (they are briefly active too).
    let busy = "";
    await sb.waitFor("the long connection", () => {
      busy = d.status().services.find((s) => s.port === 80)?.realServers.find((x) => x.active === 1)?.address ?? "";
      return busy !== "";
    });
    const stream = sb.httpInBackground(`http://${VIP}/`, { requests: 200, intervalMs: 10 }, "cli-stream");
    const others = ["10.1.0.11", "10.1.0.12", "10.1.0.13"].filter((a) => a !== busy);
    const steps = [
      ["-E", "-t", `${VIP}:80`, "-s", "wrr"],
      ["-e", "-t", `${VIP}:80`, "-r", `${others[0]}:8080`, "-m", "-w", "3"],
      // Drained first, as an operator does (see drained()).
      ["-e", "-t", `${VIP}:80`, "-r", `${others[1]}:8080`, "-m", "-w", "0"],
      ["drain", others[1]],
      ["-d", "-t", `${VIP}:80`, "-r", `${others[1]}:8080`],
      ["-A", "-t", `${VIP}:81`, "-s", "lc"],
      ["-a", "-t", `${VIP}:81`, "-r", `${others[1]}:8080`, "-m"],
      ["-a", "-t", `${VIP}:80`, "-r", `${others[1]}:8080`, "-m", "-w", "2"],
    ];
    for (const a of steps) {
      if (a[0] === "drain") { await drained(d, a[1]); continue; }
      const r = d.ipvsadm(a);
      expect([a.join(" "), r.status, r.stderr]).toEqual([a.join(" "), 0, ""]);
      await new Promise((res) => setTimeout(res, 200));
    }
    await sb.waitFor("the clients", () => long.exitCode !== null && stream.exitCode !== null, 60000);
    const l = JSON.parse(sb.logOf("cli-long").trim().split("\n").pop()!);
    const st = JSON.parse(sb.logOf("cli-stream").trim().split("\n").pop()!);
    expect(l.errors).toEqual([]);
    expect(new Set(l.bodies).size).toBe(1);
    expect(st.errors).toEqual([]);
    expect(st.bodies.length).toBe(200);
    const list = d.ipvsadm(["-L", "-n"]);
    expect(list.status).toBe(0);
    const sorted = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
    const weight = (a: string) => (a === others[0] ? 3 : a === others[1] ? 2 : 1);
    const rows = list.stdout.split("\n");
    expect(rows.slice(0, 4)).toEqual([
      "IP Virtual Server version 1.2.1 (size=262144)",
      "Prot LocalAddress:Port Scheduler Flags",
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
      "TCP  10.0.0.100:80 wrr",
    ]);
    expect(rows.slice(4, 7).map((r) => r.split(/\s+/).slice(2, 5).join(" "))).toEqual(sorted.map((a) => `${a}:8080 Masq ${weight(a)}`));
    expect(rows[7]).toBe("TCP  10.0.0.100:81 lc");
    expect(rows[8].split(/\s+/).slice(2, 5).join(" ")).toBe(`${others[1]}:8080 Masq 1`);
    // -S -n fed back with -R after -C gives the same table.
    const saved = d.ipvsadm(["-S", "-n"]).stdout;
    expect(d.ipvsadm(["-C"]).status).toBe(0);
    expect(d.ipvsadm(["-L", "-n"]).stdout.split("\n").length).toBe(4);
    expect(d.ipvsadm(["-R"], saved).status).toBe(0);
    expect(d.ipvsadm(["-S", "-n"]).stdout).toBe(saved);
    expect(d.ipvsadm(["-Z"]).status).toBe(0);
    expect(d.ipvsadm(["-L", "-n", "--stats"]).stdout).toMatch(/TCP  10\.0\.0\.100:80\s+0\s+0\s+0\s+0\s+0\n/);
  });

  it("Prometheus metrics with node_exporter's IPVS names, scraped by curl while traffic flows, match --stats", async () => {
    const d = await restart(rr() + "metrics 127.0.0.1:9100\n");
    const bg = sb.httpInBackground(`http://${VIP}/`, { requests: 100, intervalMs: 5 }, "metrics-load");
    const scrape = () => sb.run(sb.director, ["curl", "-s", "-f", "http://127.0.0.1:9100/metrics"]);
    const during = scrape();
    expect(during.status).toBe(0);
    expect(during.stdout).toMatch(/^# HELP node_ipvs_connections_total /m);
    await sb.waitFor("the load", () => bg.exitCode !== null, 60000);
    // Scrapes within 250 ms share one snapshot of the engine (METRICS_SNAPSHOT_MS): past that,
    // one taken after the last packet.
    await new Promise((r) => setTimeout(r, 300));
    const text = scrape().stdout;
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    const stats = d.ipvsadm(["-L", "-n", "--stats", "--exact"]).stdout.split("\n");
    const [conns, inpkts, outpkts, inbytes, outbytes] = stats.find((l) => l.startsWith("TCP  10.0.0.100:80"))!.trim().split(/\s+/).slice(2).map(Number);
    expect(value(/^node_ipvs_connections_total (\d+)$/m)).toBe(conns);
    expect(value(/^node_ipvs_incoming_packets_total (\d+)$/m)).toBe(inpkts);
    expect(value(/^node_ipvs_outgoing_packets_total (\d+)$/m)).toBe(outpkts);
    expect(value(/^node_ipvs_incoming_bytes_total (\d+)$/m)).toBe(inbytes);
    expect(value(/^node_ipvs_outgoing_bytes_total (\d+)$/m)).toBe(outbytes);
    expect(conns).toBeGreaterThanOrEqual(100);
    expect(text).toMatch(/^node_ipvs_backend_weight\{local_address="10\.0\.0\.100",local_port="80",remote_address="10\.1\.0\.11",remote_port="8080",proto="TCP",local_mark=""\} 1$/m);
    expect(text).toMatch(/^node_ipvs_backend_connections_inactive\{local_address="10\.0\.0\.100",local_port="80",remote_address="10\.1\.0\.12",remote_port="8080",proto="TCP",local_mark=""\} \d+$/m);
    expect(text).toMatch(/^wasmvs_drops_total\{reason="table_full"\} 0$/m);
    expect(text).toMatch(/^wasmvs_connection_table_capacity 262144$/m);
    expect(text).toMatch(/^wasmvs_neighbour_entries\{state="reachable"\} [1-9]\d*$/m);
  });

  it("keepalived.conf: reloaded with `wasmvs reload` while traffic flows, nothing established breaks; a broken file changes nothing", async () => {
    const d = await restart(sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 }]));
    expect(sb.logOf("director")).toMatch(/service TCP 10\.0\.0\.100:80 rr: 10\.1\.0\.13:8080 nat w1, 10\.1\.0\.12:8080 nat w1, 10\.1\.0\.11:8080 nat w1/);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 120, keepalive: true, intervalMs: 20 }, "kc-long");
    // The long connection's server, found before the stream of short ones starts (they are briefly active too).
    let busy = -1;
    await sb.waitFor("the long connection", () => {
      busy = d.status().services[0]?.realServers.findIndex((x) => x.active === 1) ?? -1;
      return busy >= 0;
    });
    const stream = sb.httpInBackground(`http://${VIP}/`, { requests: 150, intervalMs: 10 }, "kc-stream");
    const busyAddr = d.status().services[0].realServers[busy].address;
    const k = Number(busyAddr.split(".")[3]) - 11;
    // wrr now, the busy server weight 4, another drained (weight 0) then removed, a new service on :81.
    const weights: (number | undefined)[] = [1, 1, 1];
    weights[k] = 4;
    const gone = (k + 1) % 3;
    const write = () => writeFileSync(d.configPath, sb.keepalivedConfig([
      { protocol: "tcp", port: 80, scheduler: "wrr", serverPort: 8080, weights: weights as number[] },
      { protocol: "tcp", port: 81, scheduler: "lc", serverPort: 8080 },
    ]));
    weights[gone] = 0;
    write();
    const r = d.ipvsadm(["reload"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/service tcp 10\.0\.0\.100:81 added \(lc\)/);
    expect(r.stdout).toMatch(/scheduler rr -> wrr/);
    // Removed once drained: IPVS (expire_nodest_conn=0, the default) drops the clients' packets of a removed
    // server's connections, so a short connection still in flight to it would hang (see drained()).
    await drained(d, `10.1.0.1${gone + 1}`);
    weights[gone] = undefined;
    write();
    const r2 = d.ipvsadm(["reload"]);
    expect([r2.status, r2.stderr]).toEqual([0, ""]);
    expect(r2.stdout).toMatch(new RegExp(`real server 10\\.1\\.0\\.1${gone + 1}:8080 removed`));
    await sb.waitFor("the clients", () => long.exitCode !== null && stream.exitCode !== null, 60000);
    const l = JSON.parse(sb.logOf("kc-long").trim().split("\n").pop()!);
    expect(l.errors).toEqual([]);
    expect(new Set(l.bodies)).toEqual(new Set([serverName(k)]));
    expect(JSON.parse(sb.logOf("kc-stream").trim().split("\n").pop()!).errors).toEqual([]);
    const list = d.ipvsadm(["-L", "-n"]).stdout.split("\n");
    expect(list[3]).toBe("TCP  10.0.0.100:80 wrr");
    const rows = list.slice(4, 6).map((x) => x.split(/\s+/).slice(2, 5).join(" "));
    expect(rows).toEqual([0, 1, 2].filter((i) => weights[i] !== undefined).map((i) => `10.1.0.1${i + 1}:8080 Masq ${weights[i]}`));
    expect(list[6]).toBe("TCP  10.0.0.100:81 lc");
    // A broken file: refused whole with its position, the table stays.
    const before = d.ipvsadm(["-S", "-n"]).stdout;
    writeFileSync(d.configPath, sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "wrr", serverPort: 8080 }]).replace("lb_algo wrr", "lb_algo wrrr"));
    const bad = d.ipvsadm(["reload"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/reload refused, the running configuration stays: .*director\.rules:\d+:11: 'wrrr': unknown scheduler/);
    expect(d.ipvsadm(["-S", "-n"]).stdout).toBe(before);
  });

  it("1,000 concurrent connections all complete with correct bodies", async () => {
    await restart(rr());
    const r = sb.http(`http://${VIP}/`, { requests: 1000, concurrency: 1000, timeoutMs: 30000 });
    expect(r.errors).toEqual([]);
    expect(r.bodies.length).toBe(1000);
    const t = tally(r.bodies);
    expect(Object.keys(t).sort()).toEqual(["server1", "server2", "server3"]);
    for (const n of Object.values(t)) expect(n === 333 || n === 334).toBe(true);
  });

  it("a jumbo MTU: frames as large as the interfaces' MTU pass whole (the slots follow it)", async () => {
    // Every veth of the network (on xdp the director's NICs too: wasmvs takes their MTU; on
    // TAP it sets its TAPs' from the rules).
    const links = sb.links;
    const setMtu = (mtu: number) => { for (const [ns, dev] of links) sb.must(ns, ["ip", "link", "set", dev, "mtu", String(mtu)]); };
    const mtu = sb.jumboMtu;
    // The director stops first: a NIC with an XDP program attached refuses a larger MTU.
    await director?.stop();
    director = undefined;
    setMtu(mtu);
    try {
      const d = await restart(rr().replaceAll("mtu 1500", `mtu ${mtu}`));
      // MTU - 28 bytes of data in an MTU-sized IP packet with DF (on TAP 8972 in 9000): the echo
      // request reaches the engine in one frame of MTU + 14 bytes and its reply leaves in one.
      const ping = sb.run(sb.client, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "-M", "do", "-s", String(mtu - 28), VIP]);
      expect(ping.stdout).toMatch(/2 packets transmitted, 2 received/);
      const up = sb.http(`http://${VIP}/`, { requests: 3, post: 1_000_000, timeoutMs: 20000 });
      expect(up.errors).toEqual([]);
      const st = await d.freshStatus();
      expect(st.counters.drop_frame_too_big).toBe(0);
      // The uploads crossed NAT in segments larger than an Ethernet MTU allows.
      const web = st.services.find((s) => s.port === 80)!.stats;
      expect(web.inbytes / web.inpkts).toBeGreaterThan(1500);
    } finally {
      setMtu(1500);
    }
  });

  it("answers ping to the VIP", async () => {
    await restart(rr());
    const r = sb.run(sb.client, ["ping", "-c", "3", "-i", "0.2", "-W", "2", VIP]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
  });

  it("every frame the director emits has good checksums (tshark, checksum validation on)", async () => {
    const d = await restart(rr());
    // Captured where the director's frames meet the switch (bridgePort: the TAP itself, or a NIC's peer).
    const caps = [sb.outsideDevice, sb.insideDevice].map((tap) => ({ tap, ns: sb.bridgePort(tap).ns, file: join(sb.dir, `${tap}.pcap`) }));
    const dumps = caps.map((c) => sb.spawn(c.ns, ["tcpdump", "-i", c.tap, "--immediate-mode", "-U", "-w", c.file, `ether src ${OUT_MAC} or ether src ${IN_MAC}`], `tcpdump-${c.tap}`));
    for (const c of caps) await sb.waitFor("tcpdump", () => /listening on/.test(sb.logOf(`tcpdump-${c.tap}`)));
    sb.http(`http://${VIP}/`, { requests: 30 });
    sb.udp(VIP, 53, 10);
    sb.run(sb.client, ["ping", "-c", "2", "-i", "0.2", VIP]);
    await d.freshStatus();
    for (const p of dumps) p.kill("SIGINT");
    await sb.waitFor("tcpdump to finish", () => dumps.every((p) => p.exitCode !== null || p.signalCode !== null));
    const opts = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];
    let frames = 0;
    for (const c of caps) {
      const all = spawnSync("tshark", ["-r", c.file, ...opts, "-T", "fields", "-e", "frame.number"], { encoding: "utf8" });
      expect(all.error).toBeUndefined();
      frames += all.stdout.trim().split("\n").filter(Boolean).length;
      const bad = spawnSync("tshark", ["-r", c.file, ...opts, "-Y",
        'ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"'], { encoding: "utf8" });
      expect(bad.status).toBe(0);
      expect(bad.stdout).toBe("");
    }
    // Both directions were captured: requests to the servers and replies to the client.
    expect(frames).toBeGreaterThan(200);
  });
});
