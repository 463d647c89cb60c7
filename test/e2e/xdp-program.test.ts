// The ring backend's XDP program (host/io/native/rings.c), frame by frame: which frames it
// steals for the engine (XDP_REDIRECT to its AF_XDP socket) and which it leaves to the host's
// own stack (XDP_PASS). Run by the kernel on the loaded, verifier-checked program
// (BPF_PROG_TEST_RUN), on a veth of a namespace of the test's own; no frame crosses a wire.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { arp, eth, ipv4, tcp, udp, vrrp } from "../helpers/packet.js";
import { ROOT, sandboxUnavailable } from "../../host/sandbox/sandbox.js";

const PASS = 2;
const REDIRECT = 4;
const NS = `wvx${process.pid % 10000}`;
const MAC = "02:00:00:00:00:01";
const PEER = "02:00:00:00:00:09";
const HOST = "10.0.0.1";
const VIP = "10.0.0.100";
const CLIENT = "10.0.0.2";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const tcpTo = (dst: string, dport = 80, dmac = MAC, src = CLIENT) =>
  eth(dmac, PEER, 0x0800, ipv4({ src, dst, proto: 6, payload: tcp({ src, dst, sport: 40000, dport, flags: 2 }) }));
const udpTo = (dst: string, dport: number, dmac = MAC, options: number[] = []) =>
  eth(dmac, PEER, 0x0800, ipv4({ src: CLIENT, dst, proto: 17, options, payload: udp({ src: CLIENT, dst, sport: 40000, dport, payload: [1, 2, 3, 4] }) }));
const vrrpTo = (dst: string, dmac: string) =>
  eth(dmac, PEER, 0x0800, ipv4({ src: "10.0.0.3", dst, proto: 112, ttl: 255, payload: vrrp({ version: 3, vrid: 51, priority: 100, addresses: [VIP] }) }));

/** What the program does with each step's frame (the ip/refresh steps give no result). */
function classify(steps: (Uint8Array | string)[]): number[] {
  const input = steps.map((s) => (typeof s === "string" ? s : hex(s))).join("\n") + "\n";
  const r = spawnSync("ip", ["netns", "exec", NS, process.execPath, join(ROOT, "test", "helpers", "xdp-classify.mjs"), "xo",
    join(ROOT, "build", "Release", "wasmvs_tap.node")], { input, encoding: "utf8", timeout: 30000 });
  if (r.status !== 0) throw new Error(`xdp-classify: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const must = (args: string[]) => {
  const r = spawnSync(args[0], args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
};

describe("the ring backend's XDP program", () => {
  beforeAll(() => {
    const why = sandboxUnavailable();
    if (why) throw new Error(`this test ${why}`);
    must(["ip", "netns", "add", NS]);
    must(["ip", "-n", NS, "link", "add", "xo", "type", "veth", "peer", "name", "po"]);
    must(["ip", "-n", NS, "link", "set", "xo", "address", MAC, "up"]);
    must(["ip", "-n", NS, "link", "set", "po", "up"]);
    must(["ip", "-n", NS, "addr", "add", `${HOST}/24`, "dev", "xo"]);
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", NS]);
  });

  it("steals what IPVS would take and leaves the host its own traffic, ARP, IPv6 and other groups", () => {
    const cases: [string, Uint8Array, number][] = [
      ["TCP to a VIP (not a host address)", tcpTo(VIP), REDIRECT],
      ["a NAT reply on its way to a client", tcpTo(CLIENT, 40000, MAC, "10.1.0.11"), REDIRECT],
      ["TCP to the host's own address (ssh, a health check's reply)", tcpTo(HOST, 22), PASS],
      ["UDP to the subnet's broadcast address", udpTo("10.0.0.255", 137), PASS],
      ["ARP who-has the VIP (the engine reads a copy)", eth("ff:ff:ff:ff:ff:ff", PEER, 0x0806, arp(1, PEER, CLIENT, "00:00:00:00:00:00", VIP)), PASS],
      ["IPv6", eth(MAC, PEER, 0x86dd, Array(60).fill(0x60)), PASS],
      ["VLAN-tagged", eth(MAC, PEER, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: Array(20).fill(0) }), 7), PASS],
      ["VRRP to its group 224.0.0.18", vrrpTo("224.0.0.18", "01:00:5e:00:00:12"), REDIRECT],
      ["VRRP unicast to the host's address (unicast_peer)", vrrpTo(HOST, MAC), REDIRECT],
      ["IPVS sync to its group 224.0.0.81:8848", udpTo("224.0.0.81", 8848, "01:00:5e:00:00:51"), REDIRECT],
      ["IPVS sync unicast to the host's address", udpTo(HOST, 8848), REDIRECT],
      ["IPVS sync with IP options (a longer header)", udpTo("224.0.0.81", 8848, "01:00:5e:00:00:51", [1, 1, 1, 1]), REDIRECT],
      ["mDNS to 224.0.0.251:5353", udpTo("224.0.0.251", 5353, "01:00:5e:00:00:fb"), PASS],
      ["DHCP to 255.255.255.255:67", udpTo("255.255.255.255", 67, "ff:ff:ff:ff:ff:ff"), PASS],
      ["UDP to the host's port 53", udpTo(HOST, 53), PASS],
      ["a VIP's frame to another host's MAC (a veth sees them)", tcpTo(VIP, 80, "02:00:00:00:00:99"), PASS],
      ["a frame too short for an IPv4 header", eth(MAC, PEER, 0x0800, Array(10).fill(0x45)), PASS],
    ];
    const got = classify(cases.map((c) => c[1]));
    expect(cases.map((c, k) => `${c[0]}: ${got[k] === REDIRECT ? "engine" : got[k] === PASS ? "host" : got[k]}`))
      .toEqual(cases.map((c) => `${c[0]}: ${c[2] === REDIRECT ? "engine" : "host"}`));
  });

  it("follows the host's addresses: one added is the host's after a refresh, one removed the engine's again", () => {
    const frame = tcpTo("10.0.0.50", 443);
    const got = classify([frame, "ip addr add 10.0.0.50/24 dev xo", frame, "refresh", frame, "ip addr del 10.0.0.50/24 dev xo", "refresh", frame]);
    // Before the refresh the program still sends it to the engine: the data path refreshes once a second.
    expect(got).toEqual([REDIRECT, REDIRECT, PASS, REDIRECT]);
  });
});
