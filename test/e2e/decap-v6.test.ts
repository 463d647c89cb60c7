// `wasmvs decap` over IPv6 end to end: real servers of the sandbox's IPv6 plan in TUN
// mode, each stack behind the decapsulator (tunnel addresses 10.1.0.1x and 2001:db8:1::1x),
// given the three tunnel packets IPVS's TUN method sends over IPv6 — IPv6 in IPv6 (with
// and without RFC 2473's encapsulation-limit option, which Linux's ip6tnl adds), IPv4 in
// IPv6 and IPv6 in IPv4 — carrying a client's UDP datagram to the VIP. The server's stack
// (VIP on lo) answers the client directly through the router, as in DR/TUN, and the client
// gets the answer. The frames are written on the servers' segment by an AF_PACKET socket
// (this kernel has no tunnel modules: the engine's own v6 TUN is R2A's, tested with it).

import { afterAll, beforeAll, expect, it } from "vitest";
import { join } from "node:path";
import { CLIENT, CLIENT6, DIRECTOR_IN, DIRECTOR_IN6, ROOT, Sandbox, serverAddress, serverAddress6, VIP, VIP6 } from "../../host/sandbox/sandbox.js";
import { eth, inetChecksum, ipv4, udp } from "../helpers/packet.js";
import { ip6, ipv6, NH, optionsHeader, pseudoSum6 } from "../helpers/packet6.js";
import { e2eDescribe } from "./e2e.js";

const TOOL = join(ROOT, "test", "helpers", "tunnel-frames.py");
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function udp6(src: string, dst: string, sport: number, dport: number, payload: number[]): number[] {
  const seg = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 8 + payload.length, 0, 0, ...payload];
  const c = inetChecksum(seg, pseudoSum6(ip6(src), ip6(dst), NH.UDP, seg.length)) || 0xffff;
  seg[6] = c >> 8;
  seg[7] = c & 0xff;
  return ipv6({ src, dst, nextHeader: NH.UDP, hopLimit: 63 }, seg);
}
const text = (s: string) => [...Buffer.from(s)];

e2eDescribe("wasmvs decap: ip6ip6, 4in6 and 6in4 to a real server's stack (TUN, IPv6 plan)", () => {
  let sb: Sandbox;
  let stackMac = "";
  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "tun", ipv6: true, servers: 1, udpPorts: [5353] });
    await sb.startServers();
    // UDP answers from the VIP only from a socket bound to it: a wildcard socket's reply
    // takes the route's source, the server's own address (the VIP-on-lo gotcha; the last
    // test but one shows it). So the echo servers the tunnels reach are bound to the VIPs.
    await sb.startServerProcess(0, "vip6", ["--udp", "5354", "--host", VIP6], "server1");
    await sb.startServerProcess(0, "vip4", ["--udp", "5355", "--host", VIP], "server1");
    await sb.startDecapsulators();
    stackMac = JSON.parse(sb.must(sb.servers[0], ["ip", "-j", "link", "show", "dst"]))[0].address;
  });
  afterAll(async () => { await sb?.destroy(); });

  /** The client listens on port, the frame goes onto the servers' segment; what the client got. */
  async function through(name: string, family: 4 | 6, port: number, frame: Uint8Array): Promise<{ from: string; data: string }[]> {
    sb.spawn(sb.client, ["python3", TOOL, "listen", String(family), family === 6 ? "::" : "0.0.0.0", String(port), "5"], name);
    await sb.waitFor(`${name} listening`, () => sb.logOf(name).includes("ready"));
    sb.must(sb.switchNs, ["python3", TOOL, "send", "bi", hex(frame)]);
    await sb.waitFor(`${name}'s answer`, () => sb.logOf(name).split("\n").length > 2, 5000).catch(() => {});
    return sb.logOf(name).split("\n").slice(1).filter(Boolean).map((l) => JSON.parse(l));
  }
  const toServer = (type: number, packet: number[]) => eth(stackMac, "02:00:00:00:01:01", type, packet);

  it("IPv6 in IPv6 (next header 41): the server answers the client from the VIP", async () => {
    const inner = udp6(CLIENT6, VIP6, 41001, 5354, text("ip6ip6"));
    const frame = toServer(0x86dd, ipv6({ src: DIRECTOR_IN6, dst: serverAddress6(0), nextHeader: 41 }, inner));
    expect(await through("c-ip6ip6", 6, 41001, frame)).toEqual([{ from: VIP6, data: "server1:ip6ip6" }]);
  });

  it("IPv6 in IPv6 behind a destination options header with the encapsulation limit (RFC 2473, Linux ip6tnl's default)", async () => {
    const inner = udp6(CLIENT6, VIP6, 41002, 5354, text("limit"));
    const frame = toServer(0x86dd, ipv6({ src: DIRECTOR_IN6, dst: serverAddress6(0), nextHeader: NH.DEST_OPTS }, [...optionsHeader(41, [4, 1, 4]), ...inner]));
    expect(await through("c-limit", 6, 41002, frame)).toEqual([{ from: VIP6, data: "server1:limit" }]);
  });

  it("IPv4 in IPv6 (next header 4): a v4 service's packet to a v6 tunnel address", async () => {
    const inner = ipv4({ src: CLIENT, dst: VIP, proto: 17, ttl: 63, payload: udp({ src: CLIENT, dst: VIP, sport: 41003, dport: 5355, payload: text("4in6") }) });
    const frame = toServer(0x86dd, ipv6({ src: DIRECTOR_IN6, dst: serverAddress6(0), nextHeader: 4 }, inner));
    expect(await through("c-4in6", 4, 41003, frame)).toEqual([{ from: VIP, data: "server1:4in6" }]);
  });

  it("IPv6 in IPv4 (protocol 41): a v6 service's packet to a v4 tunnel address", async () => {
    const inner = udp6(CLIENT6, VIP6, 41004, 5354, text("6in4"));
    const frame = toServer(0x0800, ipv4({ src: DIRECTOR_IN, dst: serverAddress(0), proto: 41, df: true, payload: inner }));
    expect(await through("c-6in4", 6, 41004, frame)).toEqual([{ from: VIP6, data: "server1:6in4" }]);
  });

  it("a wildcard socket on the server answers from the server's own address, not the VIP (why the service binds the VIP)", async () => {
    const inner = udp6(CLIENT6, VIP6, 41005, 5353, text("wild"));
    const frame = toServer(0x86dd, ipv6({ src: DIRECTOR_IN6, dst: serverAddress6(0), nextHeader: 41 }, inner));
    expect(await through("c-wild", 6, 41005, frame)).toEqual([{ from: serverAddress6(0), data: "server1:wild" }]);
  });

  it("the decapsulator counted each by its kind, and dropped nothing", async () => {
    await sb.stop("decap1");
    const log = sb.logOf("decap1");
    expect(log).toMatch(/ 5 decapsulated, /);
    expect(log).toMatch(/IPv6 tunnels: 6in4 1, ip6ip6 3, 4in6 1/);
    expect(log).toMatch(/drops: none/);
  });
});
