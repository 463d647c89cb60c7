// Persistence in the engine, on a controlled clock (IPVS's ip_vs_sched_persist): a client's
// connections stick to one server while its template lives; -M groups clients by network;
// a template outlives its timeout while it controls connections and expires after;
// a removed server's template is dropped, a quiesced one's kept unless
// expire_quiescent_template; port-zero services take every port of the VIP; templates are
// listed and counted as ipvsadm shows them. Every emitted frame's checksums are verified.

import { describe, it, expect } from "vitest";
import { director, RS, VIP, OUT_MAC, GATEWAY_MAC, RS_MAC } from "./helpers/director.js";
import { eth, ipv4, tcp, udp, expectFrame, SYN, ACK, RST } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";
import { formatConnections } from "../host/config/ipvsadm.js";

type Client = { addr: string; port: number };
const syn = (c: Client, dport = 80) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport, flags: SYN }) }));
const seg = (c: Client, flags: number, dport = 80) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 6, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport, flags }) }));
const dgram = (c: Client, dport: number) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: c.addr, dst: VIP, proto: 17, payload: udp({ src: c.addr, dst: VIP, sport: c.port, dport, payload: new Uint8Array([1, 2]) }) }));

/** The server a frame to the VIP was sent to (by its destination MAC), and the frame decoded. */
function send(e: Engine, frame: Uint8Array, now: number): { server?: string; dport?: number } {
  e.loadFrame(0, frame, 0);
  const out = e.txFrames(e.process(1, now));
  if (!out.length) return {};
  const d = expectFrame(out[0].frame);
  const k = RS_MAC.indexOf(d.dstMac);
  expect(d.ip!.dst).toBe(RS[k]); // NAT: the destination rewritten to that server
  return { server: RS[k], dport: (d.ip!.tcp ?? d.ip!.udp)!.dport };
}

async function persistent(o: { timeout?: number; netmask?: string; port?: number; scheduler?: "rr" | "wlc"; protocol?: "tcp" | "udp" } = {}) {
  const e = await director();
  const port = o.port ?? 80;
  const s = e.addService({ protocol: o.protocol ?? "tcp", address: VIP, port, scheduler: o.scheduler ?? "rr",
    persistence: { timeout: o.timeout ?? 300, netmask: o.netmask ?? "255.255.255.255" } });
  for (const a of RS) e.addRealServer(s, { address: a, port, method: "nat", weight: 1 });
  return { e, s };
}

describe("persistence (ipvsadm -p, -M)", () => {
  it("20 connections from one client land on one server under rr; another client gets the next server", async () => {
    const { e } = await persistent();
    const servers = new Set<string>();
    for (let k = 0; k < 20; k++) servers.add(send(e, syn({ addr: "192.0.2.7", port: 30000 + k }), 1000 + k).server!);
    expect(servers.size).toBe(1);
    const other = send(e, syn({ addr: "192.0.2.8", port: 30000 }), 1100).server;
    expect(other).not.toBe([...servers][0]);
    // One template per client, counted on its server (ipvsadm --persistent-conn), listed with client port 0.
    const conns = e.connections(1100);
    const templates = conns.filter((c) => c.template);
    expect(templates.map((t) => `${t.client}:${t.clientPort} ${t.vip}:${t.vport} ${t.server}:${t.serverPort} ${t.state}`).sort())
      .toEqual([`192.0.2.7:0 ${VIP}:80 ${[...servers][0]}:80 NONE`, `192.0.2.8:0 ${VIP}:80 ${other}:80 NONE`]);
    expect(formatConnections(conns.filter((c) => c.template && c.client === "192.0.2.7"))).toBe(
      "IPVS connection entries\npro expire state       source             virtual            destination\n" +
      `TCP 04:59  NONE        192.0.2.7:0        ${VIP}:80      ${[...servers][0]}:80\n`);
    const rs = e.services()[0].realServers;
    expect(rs.find((r) => r.address === [...servers][0])!.persistConns).toBe(1);
    expect(rs.reduce((n, r) => n + r.persistConns, 0)).toBe(2);
    expect(rs.reduce((n, r) => n + r.active + r.inactive, 0)).toBe(21);
  });

  it("-M 255.255.255.0: two clients of one /24 share a server, a third /24 does not", async () => {
    const { e } = await persistent({ netmask: "255.255.255.0" });
    const a = send(e, syn({ addr: "192.0.2.7", port: 30000 }), 1000).server;
    expect(send(e, syn({ addr: "192.0.2.200", port: 30001 }), 1001).server).toBe(a);
    expect(send(e, syn({ addr: "192.0.3.7", port: 30002 }), 1002).server).not.toBe(a);
    expect(e.connections(1002).filter((c) => c.template).map((t) => t.client).sort()).toEqual(["192.0.2.0", "192.0.3.0"]);
  });

  it("the template expires after the timeout with no connection, lives on while it controls one", async () => {
    const { e } = await persistent({ timeout: 10 });
    const c = { addr: "192.0.2.7", port: 30000 };
    const first = send(e, syn(c), 1000).server;
    // The connection (SYN_RECV: 30 s) outlives the template's 10 s: the template stays.
    e.expireConnections(12000);
    expect(e.connections(12000).filter((x) => x.template).length).toBe(1);
    expect(send(e, syn({ ...c, port: 30001 }), 12000).server).toBe(first);
    // The connections end (RST in SYN_RECV keeps SYN_RECV's 60 s, as IPVS's table). A template that expires while it still
    // controls one is re-armed for another timeout (ip_vs_conn_expire), so it is gone at
    // most one timeout after the last connection; then the client is scheduled afresh.
    send(e, seg(c, RST | ACK), 12001);
    send(e, seg({ ...c, port: 30001 }, RST | ACK), 12002);
    e.expireConnections(73000);
    expect(e.connections(73000).filter((x) => !x.template)).toEqual([]);
    e.expireConnections(90000);
    expect(e.connections(90000)).toEqual([]);
    expect(e.services()[0].realServers.every((r) => r.persistConns === 0)).toBe(true);
    expect(send(e, syn({ ...c, port: 30002 }), 90000).server).not.toBe(first); // rr moved on
  });

  it("a removed server's template is dropped; a quiesced one's is kept, unless expire_quiescent_template", async () => {
    const { e, s } = await persistent();
    const c = { addr: "192.0.2.7", port: 30000 };
    const first = send(e, syn(c), 1000).server!;
    const d = e.findRealServer(s, first, 80)!;
    e.editRealServer(d, { address: first, port: 80, method: "nat", weight: 0 });
    expect(send(e, syn({ ...c, port: 30001 }), 1001).server).toBe(first);
    e.setExpireQuiescentTemplate(true);
    const moved = send(e, syn({ ...c, port: 30002 }), 1002).server;
    expect(moved).not.toBe(first);
    e.deleteRealServer(e.findRealServer(s, moved!, 80)!);
    const again = send(e, syn({ ...c, port: 30003 }), 1003).server;
    expect([first, moved]).not.toContain(again);
  });

  it("a template dropped while it controls a connection stays, unfindable, until that one has gone; no other template loses count", async () => {
    // IPVS: ip_vs_check_template rehashes it under port 65535 and ip_vs_conn_expire keeps it
    // while n_control > 0. Were it freed, its slot would go to the next template, which the
    // old connection's end would then count down (here: B's, expiring under B's live connection).
    const { e, s } = await persistent({ timeout: 10 });
    e.setExpireQuiescentTemplate(true);
    const a = { addr: "192.0.2.7", port: 30000 };
    const b = { addr: "192.0.2.8", port: 30000 };
    const x = send(e, syn(a), 1000).server!;
    const weights = (w: (addr: string) => number) => RS.forEach((r) => e.editRealServer(e.findRealServer(s, r, 80)!, { address: r, port: 80, method: "nat", weight: w(r) }));
    // Every server quiesced: A's template is dropped (it controls A's first connection), A's new SYN has nowhere to go.
    weights(() => 0);
    e.loadFrame(0, syn({ ...a, port: 30001 }), 0);
    e.txFrames(e.process(1, 1001));
    expect(e.counters().drop_no_dest).toBe(1n);
    // Only x back: B's template and connection go to it.
    weights((r) => (r === x ? 1 : 0));
    expect(send(e, syn(b), 1002).server).toBe(x);
    send(e, seg(b, ACK), 1003); // ESTABLISHED: 900 s
    weights(() => 1);
    const templates = (now: number) => e.connections(now).filter((c) => c.template).map((c) => `${c.client}:${c.clientPort} ${c.server}`).sort();
    expect(templates(1003)).toEqual([`${a.addr}:65535 ${x}`, `${b.addr}:0 ${x}`]);
    // A's connection ends (SYN_RECV, 60 s), then A's old template (10 s, not restarted); B's lives on with B's connection.
    e.expireConnections(200_000);
    e.expireConnections(230_000);
    expect(templates(230_000)).toEqual([`${b.addr}:0 ${x}`]);
    expect(e.connections(230_000).filter((c) => !c.template).map((c) => [c.client, c.state])).toEqual([[b.addr, "ESTABLISHED"]]);
    expect(e.services()[0].realServers.find((r) => r.address === x)!.persistConns).toBe(1);
    expect(send(e, syn({ ...b, port: 30001 }), 230_000).server).toBe(x);
  });

  it("a port-zero service takes every port of the VIP, one server per client across ports (HTTP and HTTPS)", async () => {
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 0, scheduler: "rr", persistence: { timeout: 300, netmask: "255.255.255.255" } });
    for (const a of RS) e.addRealServer(s, { address: a, port: 0, method: "nat", weight: 1 });
    const c = { addr: "192.0.2.7", port: 30000 };
    const http = send(e, syn(c, 80), 1000);
    const https = send(e, syn({ ...c, port: 30001 }, 443), 1001);
    expect(https.server).toBe(http.server);
    // The server gets the port the client asked for.
    expect([http.dport, https.dport]).toEqual([80, 443]);
    expect(send(e, syn({ addr: "192.0.2.8", port: 30000 }, 8443), 1002).server).not.toBe(http.server);
    expect(() => e.addService({ protocol: "tcp", address: "10.0.0.101", port: 0, scheduler: "rr" })).toThrow("Zero port specified for non-persistent service");
  });

  it("UDP: datagrams of one client stay on one server across source ports", async () => {
    const { e } = await persistent({ protocol: "udp", port: 53 });
    const servers = new Set<string>();
    for (let k = 0; k < 10; k++) servers.add(send(e, dgram({ addr: "192.0.2.9", port: 40000 + k }, 53), 1000 + k).server!);
    expect(servers.size).toBe(1);
  });

  it("a table full of templates and connections: nothing is lost from the counts, no crash", async () => {
    const e = await director({ connCapacity: 64 });
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", persistence: { timeout: 5, netmask: "255.255.255.255" } });
    for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "nat", weight: 1 });
    for (let k = 0; k < 200; k++) send(e, syn({ addr: `192.0.${2 + (k >> 8)}.${k & 255}`, port: 30000 }), 1000 + k);
    const conns = e.connections(1200);
    expect(conns.length).toBe(64);
    const rs = e.services()[0].realServers;
    expect(rs.reduce((n, r) => n + r.persistConns, 0)).toBe(conns.filter((c) => c.template).length);
    expect(rs.reduce((n, r) => n + r.active + r.inactive, 0)).toBe(conns.filter((c) => !c.template).length);
    e.expireConnections(10_000_000);
    expect(e.connections(10_000_000)).toEqual([]);
    expect(e.services()[0].realServers.every((r) => r.persistConns === 0 && r.active + r.inactive === 0)).toBe(true);
  });
});

describe("firewall marks (mark rules, ipvsadm -f)", () => {
  async function marked() {
    const e = await director();
    e.setMarkRules([
      { mark: 1, protocol: "tcp", destination: `${VIP}/32`, ports: [[80, 80], [443, 443]] },
      { mark: 2, destination: "10.0.0.0/24", ports: [[8000, 8100]] },
      // iptables' MARK does not stop the walk: a later rule wins.
      { mark: 3, protocol: "udp", destination: `${VIP}/32`, ports: [[8053, 8053]] },
    ]);
    const f1 = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "rr", fwmark: 1, persistence: { timeout: 300, netmask: "255.255.255.255" } });
    for (const a of RS) e.addRealServer(f1, { address: a, port: 0, method: "nat", weight: 1 });
    const f2 = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "rr", fwmark: 2 });
    e.addRealServer(f2, { address: RS[2], port: 9000, method: "nat", weight: 1 });
    const f3 = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "rr", fwmark: 3 });
    e.addRealServer(f3, { address: RS[0], port: 53, method: "nat", weight: 1 });
    return e;
  }

  it("HTTP and HTTPS of one VIP as one persistent service: one server per client across both ports", async () => {
    const e = await marked();
    for (let k = 0; k < 5; k++) {
      const c = { addr: `192.0.2.${10 + k}`, port: 31000 };
      const http = send(e, syn(c, 80), 1000 + k);
      const https = send(e, syn({ ...c, port: 31001 }, 443), 1000 + k);
      expect(https.server).toBe(http.server);
      expect([http.dport, https.dport]).toEqual([80, 443]);
    }
    // One template per client, under the mark (protocol IP, 0.0.0.1 in place of a VIP, as IPVS lists it).
    const t = e.connections(2000).filter((c) => c.template);
    expect(t.length).toBe(5);
    expect(t.every((x) => x.protocol === "ip" && x.vip === "0.0.0.1" && x.vport === 0)).toBe(true);
    expect(e.services().find((s) => s.fwmark === 1)).toMatchObject({ fwmark: 1, persistence: { timeout: 300 } });
  });

  it("a firewall-mark template expires once the connection it controls has gone (it holds the mark, not the VIP)", async () => {
    const e = await director();
    e.setMarkRules([{ mark: 1, protocol: "tcp", destination: `${VIP}/32`, ports: [[80, 80], [443, 443]] }]);
    const f = e.addService({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "rr", fwmark: 1, persistence: { timeout: 30, netmask: "255.255.255.255" } });
    for (const a of RS) e.addRealServer(f, { address: a, port: 0, method: "nat", weight: 1 });
    const c = { addr: "192.0.2.7", port: 31000 };
    const first = send(e, syn(c, 443), 1000).server;
    expect(e.connections(1000).map((x) => !!x.template).sort()).toEqual([false, true]);
    // The connection (SYN_RECV, 60 s) outlives the template's 30 s: the template stays.
    e.expireConnections(45_000);
    expect(e.connections(45_000).map((x) => !!x.template).sort()).toEqual([false, true]);
    // Once it has gone, the template is gone within one more timeout.
    e.expireConnections(2_000_000);
    e.expireConnections(2_070_000);
    expect(e.connections(2_070_000)).toEqual([]);
    expect(e.services()[0].realServers.every((r) => r.persistConns === 0 && r.active + r.inactive === 0)).toBe(true);
    expect(send(e, syn({ ...c, port: 31001 }, 80), 2_070_000).server).not.toBe(first); // scheduled afresh: rr moved on
  });

  it("a prefix and a port range mark other VIPs; a port no rule marks and no service has is refused (RST)", async () => {
    const e = await marked();
    const other = eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: "192.0.2.7", dst: "10.0.0.77", proto: 6, payload: tcp({ src: "192.0.2.7", dst: "10.0.0.77", sport: 31000, dport: 8080, flags: SYN }) }));
    expect(send(e, other, 1000)).toEqual({ server: RS[2], dport: 9000 });
    expect(send(e, dgram({ addr: "192.0.2.7", port: 31000 }, 8053), 1001)).toEqual({ server: RS[0], dport: 53 });
    // 10.0.0.100:22: marked by nothing, no service: the engine answers as a closed port.
    e.loadFrame(0, syn({ addr: "192.0.2.7", port: 31002 }, 22), 0);
    const out = e.txFrames(e.process(1, 1002)).map((f) => expectFrame(f.frame));
    expect(out.map((d) => [d.ip!.src, d.ip!.tcp!.flags & RST ? "RST" : "?"])).toEqual([[VIP, "RST"]]);
    // Clearing the rules takes the marks away, and the address with them: no longer the
    // director's, it is neither forwarded nor answered.
    e.setMarkRules([]);
    const before = e.counters().drop_not_for_us;
    e.loadFrame(0, syn({ addr: "192.0.2.9", port: 31003 }, 80), 0);
    expect(e.txFrames(e.process(1, 1003))).toEqual([]);
    expect(e.counters().drop_not_for_us).toBe(before + 1n);
  });
});

describe("expire_nodest_conn (on by default in wasmvs run)", () => {
  it("on: a UDP flow to a removed server moves to a live one at its next datagram; a TCP segment gets a reset", async () => {
    const e = await director();
    e.setExpireNodestConn(true);
    const s = e.addService({ protocol: "udp", address: VIP, port: 53, scheduler: "rr" });
    for (const a of RS.slice(0, 2)) e.addRealServer(s, { address: a, port: 53, method: "nat", weight: 1 });
    const t = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    for (const a of RS.slice(0, 2)) e.addRealServer(t, { address: a, port: 80, method: "nat", weight: 1 });
    const c = { addr: "192.0.2.7", port: 40000 };
    const first = send(e, dgram(c, 53), 1000).server!;
    const tcpFirst = send(e, syn(c), 1000).server!;
    e.deleteRealServer(e.findRealServer(s, first, 53)!);
    e.deleteRealServer(e.findRealServer(t, tcpFirst, 80)!);
    const moved = send(e, dgram(c, 53), 1001).server;
    expect(moved).toBeDefined();
    expect(moved).not.toBe(first);
    e.loadFrame(0, seg(c, ACK), 0);
    const out = e.txFrames(e.process(1, 1002)).map((f) => expectFrame(f.frame));
    expect(out.map((d) => [d.ip!.src, d.ip!.dst, (d.ip!.tcp!.flags & RST) !== 0])).toEqual([[VIP, c.addr, true]]);
    // Off (IPVS's default): the packets are dropped until the connection times out.
    e.setExpireNodestConn(false);
    const again = send(e, dgram({ ...c, port: 40001 }, 53), 1003).server!;
    e.deleteRealServer(e.findRealServer(s, again, 53)!);
    expect(send(e, dgram({ ...c, port: 40001 }, 53), 1004)).toEqual({});
  });
});
