// The engine fuzzer: structure-aware frames for every parser the engine has, mutated, through
// one director with every kind of service, and the invariants checked after every batch.
// Used by test/fuzz.test.ts (seeded slices in CI) and bench/fuzz.ts (`npm run fuzz`, long runs).
//
// Frames start as valid ones of each kind, built with ./packet.ts (an implementation of the
// wire formats independent of the engine's): Ethernet with and without a VLAN tag, ARP
// requests and neighbour replies, IPv4 with options and as fragments, TCP and UDP both ways
// of NAT, DR and TUN services, ICMP echo and errors quoting headers, IPIP, VRRP v2/v3
// adverts, IPVS sync v0/v1 messages (connections, persistence templates, firewall marks), IPv6
// neighbour discovery and echo behind extension-header chains,
// for services scheduled by wrr, sh, wlc, rr, maglev, mh, lblc, lblcr, lc, persistent,
// port-zero, one-packet and firewall-mark ones. Then they are mutated — bit flips, bytes set,
// truncation, trailing bytes, length fields, splices — and in half of them every checksum is
// fixed up afterwards, so that the mutation reaches the code behind the checksum gates. Phases
// of a few hundred batches flood the table with new clients, silence ARP (frames wait for
// neighbours until the queue is full) or leave the advert queue unread. The same frames also
// go through the decapsulator (wasm/decap.wasm), the other parser.
//
// Invariants: nothing traps; every frame ends in exactly one outcome counter (RX = drops +
// forwarded + consumed + queued, each batch); every IPv4 header the engine emits has a right
// checksum, and in batches of checksum-clean frames every TCP, UDP, ICMP, VRRP, quoted and
// inner checksum too (checked by ./packet.ts's decoder); the connection table agrees with
// itself (connectionCount with the used entries and with created - expired - reclaimed -
// reused - evicted-synced; each real server's active, inactive and persistent counts with the
// entries naming it; each controlled connection tied to a live template of its server; each
// template's controlled count with the connections tied to it).
//
// Everything is drawn from one xorshift32 stream seeded by the caller: a run is reproduced by
// its seed and frame count alone.

import { inetChecksum, frameProblems as checksumProblems, eth, arp, ipv4, tcp, udp, icmp, vrrp, ACK, FIN, PSH, RST, SYN } from "./packet.js";
import { ALL_NODES, ALL_NODES_MAC, echoBody, fragmentHeader, icmpv6, ip6Words, ipv6, linkLocalOf, multicastMac, naBody, NH, nsBody, optionsHeader, pseudoSum6,
  routingHeader, solicitedNode } from "./packet6.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Engine, EngineError, Counter, Region } from "../../host/engine/index.js";
import { ConnField, ConnFlag, DestField, DestFlag, Abi, RxDesc, TxDesc } from "../../host/engine/abi.js";
import { loadEngine, loadDecapsulator } from "../../host/engine/node.js";
import type { Decapsulator } from "../../host/engine/decap.js";
import { writePcap } from "../../host/engine/pcap.js";

// ---- the network ------------------------------------------------------------------------

const OUT_MAC = "02:00:00:00:00:01";
const IN_MAC = "02:00:00:00:01:01";
const GATEWAY = "10.0.0.254";
const GATEWAY_MAC = "02:00:00:00:00:fe";
/** Clients on the outside link (the first two with static neighbours, the others learnt). */
const LOCAL_CLIENTS = ["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"];
const REMOTE_CLIENTS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.9"];
const CLIENTS = [...LOCAL_CLIENTS, ...REMOTE_CLIENTS];
const clientMac = (i: number) => `02:cc:00:00:00:${(0x10 + i).toString(16)}`;
/** Real servers: 0 and 1 static neighbours, 2 and 3 resolved by ARP (neighbour replies). */
const RS = ["10.1.0.11", "10.1.0.12", "10.1.0.13", "10.1.0.14"];
const rsMac = (i: number) => `02:aa:00:00:00:${(0x11 + i).toString(16)}`;
const VIP = "10.0.0.100";
/** Firewall-mark destination, port-zero service, VRRP v2 address (also a service VIP). */
const VIP_MARK = "10.0.0.101";
const VIP_ZERO = "10.0.0.102";
const VIP_VRRP = "10.0.0.104";
const VRRP_INSIDE = "10.1.0.250";
const DIRECTOR_OUT = "10.0.0.1";
const DIRECTOR_IN = "10.1.0.1";
const SYNC_ID = 9;

interface Svc { proto: "tcp" | "udp"; vip: string; port: number }
/** Client-side destinations of the services below (plus unserved ones). */
const TARGETS: Svc[] = [
  { proto: "tcp", vip: VIP, port: 80 }, { proto: "udp", vip: VIP, port: 53 }, { proto: "tcp", vip: VIP, port: 8080 },
  { proto: "tcp", vip: VIP, port: 443 }, { proto: "udp", vip: VIP, port: 54 }, { proto: "tcp", vip: VIP, port: 81 },
  { proto: "tcp", vip: VIP, port: 82 }, { proto: "udp", vip: VIP, port: 55 }, { proto: "tcp", vip: VIP_MARK, port: 1500 },
  { proto: "udp", vip: VIP_MARK, port: 4000 }, { proto: "tcp", vip: VIP_ZERO, port: 2222 }, { proto: "tcp", vip: VIP_VRRP, port: 80 },
  { proto: "tcp", vip: VIP, port: 25 }, { proto: "udp", vip: VIP, port: 9 }, { proto: "tcp", vip: DIRECTOR_OUT, port: 22 },
];
/** Ports real servers answer from (NAT replies). */
const RS_PORTS = [8080, 80, 5353, 53, 443, 81, 82, 55, 1500, 4000, 2222, 54];

/** A director with every kind of service the engine schedules. Returns the real-server
 *  indices per service so that the run can take servers out and put them back. */
function configure(e: Engine, r: () => number): { services: number[]; dests: number[][] } {
  e.setInterface({ index: 0, mac: OUT_MAC, address: `${DIRECTOR_OUT}/24`, mtu: 1500 });
  e.setInterface({ index: 1, mac: IN_MAC, address: `${DIRECTOR_IN}/24`, mtu: 1500 });
  e.setInterfaceIpv6(0, ip6Words(DIRECTOR6), 64);
  e.addRoute("0.0.0.0/0", GATEWAY, 0);
  e.setNeighbour(GATEWAY, GATEWAY_MAC, 0);
  LOCAL_CLIENTS.slice(0, 2).forEach((c, i) => e.setNeighbour(c, clientMac(i), 0));
  RS.slice(0, 2).forEach((a, i) => e.setNeighbour(a, rsMac(i), 1));
  const services: number[] = [];
  const dests: number[][] = [];
  const add = (spec: Parameters<Engine["addService"]>[0], servers: [number, number, "nat" | "dr" | "tun", number][]) => {
    const s = e.addService(spec);
    services.push(s);
    dests.push(servers.map(([i, port, method, weight]) => e.addRealServer(s, { address: RS[i], port, method, weight })));
  };
  add({ protocol: "tcp", address: VIP, port: 80, scheduler: "wrr" }, [[0, 8080, "nat", 3], [1, 80, "dr", 2], [2, 80, "tun", 1], [3, 80, "nat", 1]]);
  add({ protocol: "udp", address: VIP, port: 53, scheduler: "sh" }, [[0, 5353, "nat", 1], [1, 53, "tun", 1], [3, 53, "dr", 1]]);
  add({ protocol: "tcp", address: VIP, port: 8080, scheduler: "wlc" }, [[2, 8080, "dr", 1]]);
  add({ protocol: "tcp", address: VIP, port: 443, scheduler: "rr", persistence: { timeout: 300, netmask: "255.255.255.0" } },
    [[0, 443, "nat", 1], [1, 443, "nat", 1], [2, 443, "nat", 1]]);
  add({ protocol: "udp", address: VIP, port: 54, scheduler: "rr", onePacket: true }, [[0, 54, "nat", 1], [1, 54, "nat", 1]]);
  add({ protocol: "tcp", address: VIP, port: 81, scheduler: "maglev" }, [[0, 81, "nat", 1], [1, 81, "nat", 2], [2, 81, "nat", 1], [3, 81, "nat", 1]]);
  add({ protocol: "tcp", address: VIP, port: 82, scheduler: "mh", schedFlags: 3 }, [[0, 82, "nat", 1], [1, 82, "nat", 1], [2, 82, "nat", 1], [3, 82, "nat", 1]]);
  add({ protocol: "udp", address: VIP, port: 55, scheduler: "sh", schedFlags: 2 }, [[0, 55, "nat", 1], [1, 55, "nat", 1]]);
  add({ protocol: "tcp", address: "0.0.0.0", port: 0, scheduler: "lc", fwmark: 1, persistence: { timeout: 120, netmask: "255.255.255.255" } },
    [[0, 0, "nat", 1], [1, 0, "dr", 1]]);
  add({ protocol: "tcp", address: VIP_ZERO, port: 0, scheduler: "lblc", persistence: { timeout: 60, netmask: "255.255.255.255" } },
    [[0, 0, "nat", 1], [2, 0, "tun", 1]]);
  add({ protocol: "tcp", address: VIP_VRRP, port: 80, scheduler: "lblcr" }, [[0, 8080, "nat", 1], [1, 80, "dr", 1]]);
  e.setMarkRules([{ mark: 1, protocol: "tcp", destination: VIP_MARK, ports: [[1000, 1999]] }, { mark: 1, protocol: "udp", destination: `${VIP_MARK}/32` }]);
  e.setVrrpInstances([
    { ifindex: 0, vrid: 51, version: 2, intervalCs: 100, authPass: "secret", addresses: [VIP_VRRP] },
    { ifindex: 1, vrid: 52, version: 3, intervalCs: 10, addresses: [VRRP_INSIDE], vmac: (r() & 1) === 1 },
  ]);
  e.setVrrpMaster(0, true);
  e.setSync({ send: true, receive: true, ifindex: 0, syncid: SYNC_ID, refreshMs: 2000 + (r() % 8000) });
  // Settings a director may run with, drawn per run.
  e.setSloppyTcp(r() % 4 === 0);
  e.setExpireNodestConn(r() % 2 === 0);
  e.setRejectUnknown(r() % 5 !== 0);
  e.setExpireQuiescentTemplate(r() % 2 === 0);
  return { services, dests };
}

// ---- random numbers -----------------------------------------------------------------------

/** xorshift32 (Marsaglia 2003); a zero seed is moved off zero, its one fixed point. */
/** A connection entry's real server: 20 bits, DEST and FLAGS2's high nibble (assembly/conn/entry.ts). */
function connDestOf(mem: DataView, e: number): number {
  return mem.getUint16(e + ConnField.DEST, true) | ((mem.getUint8(e + ConnField.FLAGS2) >> 4) << 16);
}

export function xorshift(seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

// ---- valid frames of each kind --------------------------------------------------------------

export interface BaseFrame { kind: string; ifindex: number; bytes: Uint8Array }

const IPV4 = 0x0800;
const pick = <T>(r: () => number, a: readonly T[]): T => a[r() % a.length];
const bytes = (r: () => number, n: number) => Array.from({ length: n }, () => r() & 255);

/** IPv4 options worth meeting: NOP/EOL padding, record route, timestamp, router alert,
 *  loose and strict source routes (dropped by the engine), a bad length. */
function ipOptions(r: () => number): number[] {
  switch (r() % 8) {
    case 0: return [1, 1, 1, 0];
    case 1: return [7, 7, 4, 0, 0, 0, 0, 1]; // record route, one slot
    case 2: return [68, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // timestamp
    case 3: return [148, 4, 0, 0]; // router alert
    case 4: return [131, 7, 4, 10, 1, 0, 11, 0]; // LSRR
    case 5: return [137, 7, 4, 10, 1, 0, 11, 0]; // SSRR
    case 6: return [7, 40, 4, 0]; // a length past the header
    default: return [];
  }
}

const TCP_FLAGS = [SYN, SYN, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, SYN | ACK, FIN, 0, SYN | FIN];

function frameOn(r: () => number, ifindex: number, srcMac: string, payload: number[]): Uint8Array {
  const dst = r() % 40 === 0 ? "ff:ff:ff:ff:ff:ff" : r() % 40 === 0 ? "02:00:00:00:99:99" : ifindex === 0 ? OUT_MAC : IN_MAC;
  return eth(dst, srcMac, IPV4, payload, r() % 10 === 0 ? r() % 4096 : undefined);
}

/** A client's address and port: mostly from a small pool (so flows meet their connections
 *  again), sometimes anything (so the table fills and entries are reclaimed). */
function client(r: () => number): { addr: string; mac: string; ifindex: number; port: number; local: boolean } {
  const i = r() % CLIENTS.length;
  const local = i < LOCAL_CLIENTS.length;
  const port = r() % 5 === 0 ? 1024 + (r() % 64000) : 40000 + (r() % 16);
  const addr = r() % 8 === 0 ? `192.0.2.${1 + (r() % 250)}` : CLIENTS[i];
  return { addr, mac: local ? clientMac(i) : GATEWAY_MAC, ifindex: 0, port, local };
}

function ipPacket(r: () => number, src: string, dst: string, proto: number, payload: number[], ttl = 64): number[] {
  const frag = r() % 25 === 0;
  return ipv4({
    src, dst, proto, payload, ttl: r() % 30 === 0 ? 1 + (r() & 1) : ttl, tos: r() % 10 === 0 ? r() & 255 : 0, id: r() & 0xffff,
    df: r() % 3 === 0, mf: frag && (r() & 1) === 1, fragOffset: frag ? r() % 200 : 0, options: r() % 8 === 0 ? ipOptions(r) : [],
  });
}

function tcpIn(r: () => number): BaseFrame {
  const c = client(r);
  const t = pick(r, TARGETS.filter((x) => x.proto === "tcp"));
  const big = r() % 20 === 0;
  const payload = big ? bytes(r, 1400 + (r() % 80)) : bytes(r, r() % 3 === 0 ? r() % 64 : 0);
  const seg = tcp({ src: c.addr, dst: t.vip, sport: c.port, dport: t.port, flags: pick(r, TCP_FLAGS), seq: r(), ack: r(), payload });
  const frame = frameOn(r, 0, c.mac, big ? ipv4({ src: c.addr, dst: t.vip, proto: 6, payload: seg, df: true }) : ipPacket(r, c.addr, t.vip, 6, seg));
  return { kind: "tcp-in", ifindex: 0, bytes: frame };
}

function udpIn(r: () => number): BaseFrame {
  const c = client(r);
  const t = pick(r, TARGETS.filter((x) => x.proto === "udp"));
  const payload = r() % 20 === 0 ? bytes(r, 1450 + (r() % 30)) : bytes(r, r() % 48);
  const seg = udp({ src: c.addr, dst: t.vip, sport: c.port, dport: t.port, payload, noChecksum: r() % 6 === 0 });
  return { kind: "udp-in", ifindex: 0, bytes: frameOn(r, 0, c.mac, ipPacket(r, c.addr, t.vip, 17, seg)) };
}

/** A real server's reply to a client (the NAT return path, and strays). */
function replyOut(r: () => number): BaseFrame {
  const c = client(r);
  const i = r() % RS.length;
  const sport = pick(r, RS_PORTS);
  const isTcp = (r() & 1) === 1;
  const payload = bytes(r, r() % 4 === 0 ? r() % 200 : 0);
  const seg = isTcp ? tcp({ src: RS[i], dst: c.addr, sport, dport: c.port, flags: pick(r, TCP_FLAGS), seq: r(), ack: r(), payload })
    : udp({ src: RS[i], dst: c.addr, sport, dport: c.port, payload });
  return { kind: "reply-out", ifindex: 1, bytes: frameOn(r, 1, rsMac(i), ipPacket(r, RS[i], c.addr, isTcp ? 6 : 17, seg)) };
}

/** ICMP: echo requests and replies, and errors quoting a header of a flow through the
 *  director — from the client side (quoting VIP -> client) and from a server (quoting
 *  client -> server) — with quotes that are short, fragments, carry options. */
function icmpFrame(r: () => number): BaseFrame {
  const c = client(r);
  const k = r() % 6;
  if (k === 0) {
    const dst = pick(r, [VIP, DIRECTOR_OUT, VIP_VRRP, VIP_MARK, "10.0.0.77"]);
    const type = r() % 5 === 0 ? 0 : 8;
    return { kind: "icmp-echo", ifindex: 0, bytes: frameOn(r, 0, c.mac, ipPacket(r, c.addr, dst, 1, icmp(type, 0, bytes(r, 4), bytes(r, r() % 56)))) };
  }
  const [type, code] = pick(r, [[3, 4], [3, 3], [3, 1], [11, 0], [4, 0], [12, 0], [5, 1], [3, 13]] as const);
  const rest = type === 3 && code === 4 ? [0, 0, 0x05, r() % 3 === 0 ? 0x00 : 0xdc] : [0, 0, 0, 0];
  const isTcp = (r() & 1) === 1;
  const fromServer = k >= 4;
  const t = pick(r, TARGETS.filter((x) => x.proto === (isTcp ? "tcp" : "udp")));
  const i = r() % RS.length;
  const sport = fromServer ? c.port : t.port;
  const qsrc = fromServer ? c.addr : t.vip;
  const qdst = fromServer ? RS[i] : c.addr;
  const qdport = fromServer ? pick(r, RS_PORTS) : c.port;
  const l4 = isTcp ? tcp({ src: qsrc, dst: qdst, sport, dport: qdport, flags: pick(r, TCP_FLAGS), seq: r() }) : udp({ src: qsrc, dst: qdst, sport, dport: qdport, payload: bytes(r, 8) });
  const quoted = ipPacket(r, qsrc, qdst, isTcp ? 6 : 17, l4);
  const quote = quoted.slice(0, r() % 4 === 0 ? 20 + (r() % 12) : Math.min(quoted.length, 28 + (r() % 40)));
  const src = fromServer ? RS[i] : r() % 2 === 0 ? c.addr : "203.0.113.1";
  const dst = fromServer ? c.addr : t.vip;
  const msg = icmp(type, code, rest, quote);
  return { kind: "icmp-error", ifindex: fromServer ? 1 : 0, bytes: frameOn(r, fromServer ? 1 : 0, fromServer ? rsMac(i) : c.mac, ipPacket(r, src, dst, 1, msg)) };
}

/** ARP: requests for our addresses and others', and neighbour replies (which resolve the
 *  servers and clients that have no static entry and release frames waiting for them). */
function arpFrame(r: () => number): BaseFrame {
  const inside = (r() & 1) === 1;
  const i = r() % 4;
  const [mac, addr] = inside ? [rsMac(i), RS[i]] : [i < 2 ? clientMac(i + 2) : GATEWAY_MAC, i < 2 ? LOCAL_CLIENTS[i + 2] : GATEWAY];
  const op = r() % 3 === 0 ? 1 : 2;
  const ours = inside ? pick(r, [DIRECTOR_IN, VRRP_INSIDE, "10.1.0.99"]) : pick(r, [DIRECTOR_OUT, VIP, VIP_VRRP, VIP_MARK, "10.0.0.99"]);
  const dstMac = op === 1 || r() % 4 === 0 ? "ff:ff:ff:ff:ff:ff" : inside ? IN_MAC : OUT_MAC;
  const payload = r() % 6 === 0 ? arp(1, mac, addr, "00:00:00:00:00:00", addr) /* gratuitous */
    : arp(op as 1 | 2, mac, addr, op === 1 ? "00:00:00:00:00:00" : inside ? IN_MAC : OUT_MAC, ours);
  return { kind: "arp", ifindex: inside ? 1 : 0, bytes: eth(dstMac, mac, 0x0806, payload, r() % 12 === 0 ? r() % 4096 : undefined) };
}

/** VRRP adverts (RFC 3768 v2 with simple auth, RFC 5798 v3), to the group, TTL 255. */
function vrrpFrame(r: () => number): BaseFrame {
  const inside = (r() & 1) === 1;
  const version = inside ? (r() % 5 === 0 ? 2 : 3) : (r() % 5 === 0 ? 3 : 2);
  const src = inside ? "10.1.0.2" : "10.0.0.2";
  const addresses = r() % 4 === 0 ? [] : inside ? [VRRP_INSIDE] : r() % 3 === 0 ? [VIP_VRRP, "10.0.0.105"] : [VIP_VRRP];
  const m = vrrp({
    version: version as 2 | 3, vrid: r() % 6 === 0 ? r() & 255 : inside ? 52 : 51, priority: pick(r, [0, 1, 100, 254, 255, r() & 255]), addresses,
    intervalCs: version === 2 ? 100 : 10 + (r() % 100), authType: version === 2 ? (r() % 4 === 0 ? 0 : 1) : undefined,
    auth: version === 2 ? (r() % 4 === 0 ? bytes(r, 8) : [...Buffer.from("secret\0\0")]) : undefined, src, dst: "224.0.0.18",
  });
  const ip = ipv4({ src, dst: "224.0.0.18", proto: 112, ttl: r() % 10 === 0 ? 64 : 255, payload: m, tos: 0xc0 });
  return { kind: "vrrp", ifindex: inside ? 1 : 0, bytes: eth("01:00:5e:00:00:12", inside ? "02:00:00:00:01:02" : "02:00:00:00:00:02", IPV4, ip) };
}

const be = (v: number, n: number) => Array.from({ length: n }, (_, k) => (v >>> (8 * (n - 1 - k))) & 255);
const addr = (a: string) => a.split(".").map(Number);

/** An IPVS sync entry (v1, 36 bytes) for a connection, template or firewall-mark entry that
 *  this director has a service for, or not. */
function syncEntryV1(r: () => number): number[] {
  const k = r() % 7;
  const c = client(r);
  const i = r() % RS.length;
  const t = pick(r, TARGETS);
  const template = k === 1 || k === 2;
  const fwmark = k === 2 || k === 3 ? 1 : 0;
  const proto = t.proto === "tcp" ? 6 : 17;
  const fwd = pick(r, [0, 2, 3, 3, 1]);
  const flags = fwd | (template ? 0x1000 : 0) | (r() % 4 === 0 ? 0x80 : 0) | (r() % 10 === 0 ? r() << 8 : 0);
  const state = proto === 17 ? 0 : pick(r, [1, 1, 2, 3, 4, 5, 6, 7, 8, 0, 11, 200]);
  const timeout = pick(r, [0, 60, 900, 300, 86400, 2_200_000, 0xffffffff, r()]);
  const vaddr = template && fwmark ? "0.0.0.0" : t.vip;
  return [k === 6 ? 1 : 0, proto, ...be((r() % 8 === 0 ? r() % 16 : 0) << 12 | 36, 2), ...be(flags >>> 0, 4), ...be(state, 2),
    ...be(template ? 0 : c.port, 2), ...be(t.port, 2), ...be(pick(r, RS_PORTS.concat([0])), 2), ...be(fwmark, 4), ...be(timeout >>> 0, 4),
    ...addr(template ? c.addr.replace(/\.\d+$/, ".0") : c.addr), ...addr(vaddr), ...addr(RS[i])];
}

/** An IPVS sync message to 224.0.0.81:8848, TTL 1: v1 (with its size and count), or v0. */
function syncFrame(r: () => number): BaseFrame {
  let msg: number[];
  if (r() % 4 === 0) {
    // v0: count, syncid, size; 24-byte entries, 48 with sequence options.
    const n = 1 + (r() % 4);
    const entries: number[] = [];
    for (let k = 0; k < n; k++) {
      const c = client(r);
      const t = pick(r, TARGETS);
      const seq = r() % 5 === 0;
      entries.push(0, t.proto === "tcp" ? 6 : 17, ...be(c.port, 2), ...be(t.port, 2), ...be(pick(r, RS_PORTS), 2), ...addr(c.addr), ...addr(t.vip),
        ...addr(pick(r, RS)), ...be(pick(r, [3, 0, 2]) | (seq ? 0x0200 : 0), 2), ...be(pick(r, [1, 2, 3, 5]), 2), ...(seq ? bytes(r, 24) : []));
    }
    msg = [n, r() % 8 === 0 ? r() & 255 : SYNC_ID, ...be(4 + entries.length, 2), ...entries];
  } else {
    const n = 1 + (r() % 6);
    const entries: number[] = [];
    for (let k = 0; k < n; k++) entries.push(...syncEntryV1(r));
    msg = [0, r() % 8 === 0 ? r() & 255 : SYNC_ID, ...be(8 + entries.length, 2), n, 1, 0, 0, ...entries];
  }
  const src = "10.0.0.2";
  const dst = r() % 6 === 0 ? DIRECTOR_OUT : "224.0.0.81";
  const ip = ipv4({ src, dst, proto: 17, ttl: r() % 8 === 0 ? 64 : 1, payload: udp({ src, dst, sport: 8848, dport: 8848, payload: msg }) });
  return { kind: "sync", ifindex: 0, bytes: eth(dst === DIRECTOR_OUT ? OUT_MAC : "01:00:5e:00:00:51", "02:00:00:00:00:02", IPV4, ip) };
}

/** IPIP (RFC 2003) as a TUN director sends it: what the decapsulator parses; to the
 *  engine, a protocol it does not serve. */
function ipipFrame(r: () => number): BaseFrame {
  const c = client(r);
  const i = r() % RS.length;
  const inner = ipv4({ src: c.addr, dst: VIP, proto: 6, tos: r() & 3, payload: tcp({ src: c.addr, dst: VIP, sport: c.port, dport: 80, flags: pick(r, TCP_FLAGS) }) });
  const outer = ipv4({ src: DIRECTOR_IN, dst: r() % 3 === 0 ? DIRECTOR_IN : RS[i], proto: 4, tos: r() & 3, payload: inner, df: (r() & 1) === 1 });
  return { kind: "ipip", ifindex: r() % 4 === 0 ? 0 : 1, bytes: eth(r() % 2 ? rsMac(i) : IN_MAC, IN_MAC, IPV4, outer) };
}

/** Other Ethernet types: IPv6, LLDP, an 802.3 length field. */
function otherFrame(r: () => number): BaseFrame {
  const type = pick(r, [0x86dd, 0x88cc, 0x0100, 0x8100, 0x88a8]);
  return { kind: "other", ifindex: r() % 2, bytes: eth(OUT_MAC, clientMac(0), type, bytes(r, 40 + (r() % 40))) };
}

/** The director's IPv6 addresses (its link-local one comes from OUT_MAC) and clients. */
const DIRECTOR6 = "2001:db8::1";
const DIRECTOR6_LL = linkLocalOf(OUT_MAC);
const CLIENTS6 = ["2001:db8::c", "fe80::c", "2001:db8:99::7", "::"];

/** IPv6 (issue 20): neighbour solicitations (unicast, to the solicited-node group, DAD) and
 *  advertisements, echo requests to the global and link-local addresses, behind chains of
 *  extension headers (options, routing of type 0/2/4, fragments, too deep ones), other
 *  groups and upper layers. */
function ipv6Frame(r: () => number): BaseFrame {
  const src = pick(r, CLIENTS6.slice(0, 3));
  const me = r() % 3 === 0 ? DIRECTOR6_LL : DIRECTOR6;
  const target = r() % 6 === 0 ? pick(r, ["2001:db8::99", "ff02::1", src]) : me;
  const cm = clientMac(r() % 4);
  /** An extension-header chain before the upper layer next: its first header's number and bytes. */
  const ext = (next: number): { first: number; bytes: number[] } => {
    switch (r() % 10) {
      case 0: return { first: NH.HOP_BY_HOP, bytes: [...optionsHeader(NH.DEST_OPTS, [5, 2, 0, 0]), ...optionsHeader(next, [0x1e, 1, 0])] };
      case 1: return { first: NH.ROUTING, bytes: routingHeader(next, pick(r, [0, 2, 4]), r() % 2) };
      case 2: return { first: NH.FRAGMENT, bytes: fragmentHeader(next, r() % 3 === 0 ? 0 : r() % 200, (r() & 1) === 1) };
      case 3: {
        const n = 1 + (r() % 12);
        return { first: NH.DEST_OPTS, bytes: Array.from({ length: n }, (_, i) => optionsHeader(i === n - 1 ? next : NH.DEST_OPTS)).flat() };
      }
      case 4: return { first: NH.DEST_OPTS, bytes: optionsHeader(next, [pick(r, [0x80, 0xc2, 0x40, 0x01]), 2, 0, 0]) };
      default: return { first: next, bytes: [] };
    }
  };
  const wrap = (dst: string, from: string, nh: number, l4: number[], hop = 64): number[] => {
    const chain = ext(nh);
    return ipv6({ src: from, dst, nextHeader: chain.first, hopLimit: hop, trafficClass: r() & 0xff }, [...chain.bytes, ...l4]);
  };
  const which = r() % 8;
  let dstMac = OUT_MAC;
  let packet: number[];
  if (which <= 2) {
    const dad = which === 2;
    const from = dad ? "::" : src;
    const dst = which === 0 ? me : solicitedNode(target);
    if (which !== 0) dstMac = multicastMac(dst);
    const sll = !dad || r() % 4 === 0 ? cm : undefined;
    packet = wrap(dst, from, NH.ICMPV6, icmpv6(from, dst, 135, r() % 16 === 0 ? 1 : 0, nsBody(target, sll)), r() % 10 === 0 ? 64 : 255);
  } else if (which === 3) {
    const dst = r() % 2 ? ALL_NODES : me;
    if (dst === ALL_NODES) dstMac = ALL_NODES_MAC;
    packet = wrap(dst, src, NH.ICMPV6, icmpv6(src, dst, 136, 0, naBody(pick(r, [0x20, 0x60, 0xa0]), target, cm)), 255);
  } else if (which <= 5) {
    packet = wrap(me, src, NH.ICMPV6, icmpv6(src, me, 128, 0, echoBody(r() & 0xffff, r() & 0xffff, bytes(r, r() % 64))));
  } else if (which === 6) {
    const group = pick(r, ["ff02::fb", "ff02::2", ALL_NODES, solicitedNode("2001:db8::99")]);
    dstMac = multicastMac(group);
    packet = wrap(group, src, NH.UDP, udp({ src: "0.0.0.0", dst: "0.0.0.0", sport: 5353, dport: 5353, payload: bytes(r, 12) }));
  } else {
    packet = wrap(pick(r, [me, "2001:db8::99"]), src, pick(r, [NH.TCP, NH.NONE, 50]), bytes(r, 20));
  }
  return { kind: "ipv6", ifindex: r() % 8 === 0 ? 1 : 0, bytes: eth(dstMac, cm, 0x86dd, packet, r() % 12 === 0 ? r() % 4096 : undefined) };
}

const GENERATORS: [number, (r: () => number) => BaseFrame][] = [
  [24, tcpIn], [10, udpIn], [14, replyOut], [12, icmpFrame], [8, arpFrame], [8, vrrpFrame], [10, syncFrame], [3, ipipFrame], [2, otherFrame], [6, ipv6Frame],
];

/** Valid frames of every kind, drawn from r. */
export function baseFrames(r: () => number, count: number): BaseFrame[] {
  const total = GENERATORS.reduce((n, [w]) => n + w, 0);
  const out: BaseFrame[] = [];
  for (let k = 0; k < count; k++) {
    let x = r() % total;
    let g = GENERATORS[0][1];
    for (const [w, f] of GENERATORS) { if (x < w) { g = f; break; } x -= w; }
    out.push(g(r));
  }
  return out;
}

// ---- checksums fixed up after a mutation --------------------------------------------------

function put(b: Uint8Array, off: number, v: number): void {
  if (off + 1 < b.length) { b[off] = v >> 8; b[off + 1] = v & 255; }
}
function pseudo(b: Uint8Array, off: number, proto: number, len: number): number {
  return ((b[off + 12] << 8) | b[off + 13]) + ((b[off + 14] << 8) | b[off + 15]) + ((b[off + 16] << 8) | b[off + 17]) + ((b[off + 18] << 8) | b[off + 19]) + proto + len;
}

/** Recompute every checksum of the IPv4 packet at off the way ./packet.ts's checker checks
 *  them (its mirror image): header, then TCP/UDP over what the header says (a quoted datagram's
 *  too when it is quoted whole), ICMP after its quoted header, IPIP's inner packet, VRRP. */
function fixIp(b: Uint8Array, off: number, avail: number, quoted: boolean): void {
  const ihl = (b[off] & 15) * 4;
  if (ihl < 20 || off + ihl > b.length) return;
  const totalLen = (b[off + 2] << 8) | b[off + 3];
  const l4 = off + ihl;
  const l4len = Math.min(totalLen, avail) - ihl;
  // A quoted datagram there whole has its TCP/UDP sum checked too (./packet.ts frameProblems).
  const full = totalLen <= avail;
  const proto = b[off + 9];
  const end = Math.min(b.length, l4 + Math.max(0, l4len));
  if (proto === 6 && l4len >= 18 && full) {
    put(b, l4 + 16, 0);
    put(b, l4 + 16, inetChecksum(b.subarray(l4, end), pseudo(b, off, 6, l4len)));
  } else if (proto === 17 && l4len >= 8 && full && ((b[l4 + 6] << 8) | b[l4 + 7]) !== 0) {
    put(b, l4 + 6, 0);
    put(b, l4 + 6, inetChecksum(b.subarray(l4, end), pseudo(b, off, 17, l4len)) || 0xffff);
  } else if (proto === 1 && l4len >= 8) {
    if ([3, 4, 11].includes(b[l4]) && l4len >= 28) fixIp(b, l4 + 8, l4len - 8, true);
    if (!quoted) { put(b, l4 + 2, 0); put(b, l4 + 2, inetChecksum(b.subarray(l4, end))); }
  } else if (proto === 4 && l4len >= 20) {
    fixIp(b, l4, l4len, quoted);
  } else if (proto === 112 && l4len >= 8) {
    put(b, l4 + 6, 0);
    put(b, l4 + 6, inetChecksum(b.subarray(l4, end), b[l4] >> 4 === 3 ? pseudo(b, off, 112, l4len) : 0));
  }
  put(b, off + 10, 0);
  put(b, off + 10, inetChecksum(b.subarray(off, off + ihl)));
}

/** Fix every checksum of frame f (in place). */
export function fixChecksums(f: Uint8Array): void {
  if (f.length < 14) return;
  let off = 12;
  if (f[12] === 0x81 && f[13] === 0) off = 16;
  if (f.length >= off + 2 + 40 && f[off] === 0x86 && f[off + 1] === 0xdd) { fixIcmpv6(f, off + 2); return; }
  if (f.length < off + 2 + 20 || f[off] !== 8 || f[off + 1] !== 0) return;
  fixIp(f, off + 2, f.length - off - 2, false);
}

/** The ICMPv6 checksum of the IPv6 packet at off, found past at most 16 extension headers
 *  (hop-by-hop, routing, destination options by their length; fragment, 8 bytes), over what
 *  the payload length says or what is there. */
function fixIcmpv6(b: Uint8Array, off: number): void {
  const end = Math.min(b.length, off + 40 + ((b[off + 4] << 8) | b[off + 5]));
  let nh = b[off + 6];
  let p = off + 40;
  for (let n = 0; n < 16 && [0, 43, 44, 60].includes(nh) && p + 8 <= end; n++) {
    const next = b[p];
    p += nh === 44 ? 8 : (b[p + 1] + 1) * 8;
    nh = next;
  }
  if (nh !== 58 || p + 4 > end) return;
  put(b, p + 2, 0);
  put(b, p + 2, inetChecksum(b.subarray(p, end), pseudoSum6(Array.from(b.subarray(off + 8, off + 24)), Array.from(b.subarray(off + 24, off + 40)), 58, end - p)));
}

/** Offsets of the IPv4 header and of its payload in f, or -1. */
function ipOffset(f: Uint8Array, len: number): number {
  if (len < 34) return -1;
  const off = f[12] === 0x81 && f[13] === 0 ? 18 : 14;
  return f[off - 2] === 8 && f[off - 1] === 0 && len >= off + 20 ? off : -1;
}

// ---- mutation ---------------------------------------------------------------------------

/** Mutate base into buf (at least a slot and then some); returns the new length and whether
 *  the frame's checksums are all right (none broken, or fixed up after the mutation). */
function mutate(r: () => number, base: BaseFrame, bases: BaseFrame[], buf: Uint8Array, cap: number, clean: boolean, flood: boolean): { len: number; clean: boolean } {
  let len = base.bytes.length;
  buf.set(base.bytes);
  const ip = ipOffset(buf, len);
  // A flood: a new client address and port for a client's packet, so that connections pile
  // up until the table is full (and SYN_RECV entries are reclaimed).
  const varied = flood && (base.kind === "tcp-in" || base.kind === "udp-in") && ip >= 0;
  if (varied) {
    const l4 = ip + (buf[ip] & 15) * 4;
    buf[ip + 14] = r() & 255; buf[ip + 15] = r() & 255;
    buf[l4] = r() & 255; buf[l4 + 1] = r() & 255;
  }
  const kind = r() % 12;
  switch (kind) {
    case 0: case 1: break; // unmutated: the deep paths, state that later mutations meet
    case 2: for (let k = 1 + (r() & 3); k > 0; k--) buf[r() % len] ^= 1 << (r() & 7); break;
    case 3: for (let k = 1 + (r() & 3); k > 0; k--) buf[r() % Math.min(len, 80)] ^= 1 << (r() & 7); break;
    case 4: buf[12 + (r() % Math.max(1, Math.min(len - 12, 64)))] = r() % 3 === 0 ? pick(r, [0, 1, 0x7f, 0x80, 0xff]) : r() & 255; break;
    case 5: len = r() % (len + 1); break;
    case 6: { const add = 1 + (r() % 64); for (let k = 0; k < add; k++) buf[len + k] = r() & 255; len += add; break; }
    case 7: case 8: {
      // A length field: IP total length or IHL, UDP length, a quoted header's length, VRRP's
      // count, a sync message's size or count.
      if (ip < 0) { buf[r() % len] = r() & 255; break; }
      const ihl = (buf[ip] & 15) * 4;
      const l4 = ip + ihl;
      const v = pick(r, [0, 1, 7, 8, 19, 20, 21, 28, 36, 44, 255, 1500, 65535, len - ip, len - ip - 1, len - ip + 1, r() & 0xffff]);
      const field = r() % 6;
      if (field === 0 || l4 + 8 > len) put(buf, ip + 2, v);
      else if (field === 1) buf[ip] = 0x40 | (r() & 15);
      else if (field === 2) put(buf, l4 + 4, v); // UDP length / ICMP rest / VRRP's interval
      else if (field === 3 && l4 + 12 < len) put(buf, l4 + 10, v); // quoted IP total length / sync v1 size
      else if (field === 4) buf[l4 + 3] = v & 255; // VRRP count
      else buf[l4 + 8 + 4] = r() & 255; // sync count / quoted header bytes
      break;
    }
    case 9: {
      // A splice: the head of this frame, the tail of another.
      const other = pick(r, bases).bytes;
      const at = r() % (len + 1);
      const from = r() % other.length;
      const n = Math.min(other.length - from, cap + 32 - at);
      buf.set(other.subarray(from, from + n), at);
      len = at + n;
      break;
    }
    case 10:
      if (clean) break;
      len = r() % 1600;
      for (let k = 0; k < len; k++) buf[k] = r() & 255;
      return { len, clean: false };
    default:
      if (clean) break;
      len = cap + 1 + (r() % 100); // larger than a slot: dropped, not truncated
      buf.fill(0x55, base.bytes.length, len);
      return { len, clean: false };
  }
  if (kind < 2) { if (varied) fixChecksums(buf.subarray(0, len)); return { len, clean: true }; }
  if (clean || (r() & 1) === 1) { fixChecksums(buf.subarray(0, len)); return { len, clean: true }; }
  return { len, clean: false };
}

// ---- invariants ----------------------------------------------------------------------------

/** The outcome counters (every frame ends in exactly one). */
function outcomes(e: Engine): bigint {
  let n = e.counter(Counter.FORWARDED) + e.counter(Counter.CONSUMED) + e.counter(Counter.QUEUED);
  for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) n += e.counter(i);
  return n;
}

function counterProblems(e: Engine, rx: bigint): string[] {
  const p: string[] = [];
  const got = e.counter(Counter.RX_FRAMES);
  if (got !== rx) p.push(`rx_frames ${got}, frames given ${rx}`);
  const sum = outcomes(e);
  if (sum !== got) {
    p.push(`drops + forwarded + consumed + queued = ${sum}, rx_frames = ${got} (${sum > got ? "a frame counted twice" : "a frame without an outcome"})`);
  }
  return p;
}

/** The connection table agrees with itself and with the real servers' counts. */
export function stateProblems(e: Engine): string[] {
  const p: string[] = [];
  const mem = new DataView(e.memory.buffer);
  const u8 = new Uint8Array(e.memory.buffer);
  const conns = e.regionOffset(Region.CONNS);
  const dests = e.regionOffset(Region.DESTS);
  const active = new Map<number, number>(), inactive = new Map<number, number>(), templates = new Map<number, number>();
  const controlled = new Map<number, number>();
  const inc = (m: Map<number, number>, k: number) => m.set(k, (m.get(k) ?? 0) + 1);
  let used = 0;
  for (let i = 0; i < e.connCapacity; i++) {
    const c = conns + i * ConnField.SIZE;
    const flags = u8[c + ConnField.FLAGS];
    if ((flags & ConnFlag.USED) === 0) continue;
    used++;
    const d = connDestOf(mem, c);
    if (flags & ConnFlag.TEMPLATE) { inc(templates, d); continue; }
    inc(flags & ConnFlag.INACTIVE ? inactive : active, d);
    if (flags & ConnFlag.CONTROLLED) {
      // A controlled connection holds its template's slot (conn/table.ts): a template is never
      // freed while it controls connections, so the slot is a live template of the same server
      // and protocol (0: a firewall mark's, which holds the mark where the connection holds its VIP)
      // and VIP. Anything else is a stale link, whose release would miscount another template.
      const t1 = mem.getUint32(c + ConnField.CONTROL, true);
      const t = conns + (t1 - 1) * ConnField.SIZE;
      const live = t1 !== 0 && t1 <= e.connCapacity && (u8[t + ConnField.FLAGS] & (ConnFlag.USED | ConnFlag.TEMPLATE)) === (ConnFlag.USED | ConnFlag.TEMPLATE);
      const tproto = live ? u8[t + ConnField.PROTO] & ~ConnFlag.TEMPLATE_PROTO : -1;
      if (!live || connDestOf(mem, t) !== d || (tproto !== 0 && (tproto !== u8[c + ConnField.PROTO] ||
          mem.getUint32(t + ConnField.VADDR, true) !== mem.getUint32(c + ConnField.VADDR, true)))) {
        p.push(`connection ${i} (real server ${d}) is tied to entry ${t1 - 1}, not a live template of its server`);
        continue;
      }
      inc(controlled, t1 - 1);
    }
  }
  if (e.connectionCount !== used) p.push(`connectionCount ${e.connectionCount}, used entries ${used}`);
  const ledger = e.counter(Counter.CONNS_CREATED) - e.counter(Counter.CONNS_EXPIRED) - e.counter(Counter.CONNS_RECLAIMED) - e.counter(Counter.CONNS_REUSED) -
    e.counter(Counter.CONNS_EVICTED_SYNCED);
  if (ledger !== BigInt(used)) p.push(`conns_created - expired - reclaimed - reused - evicted_synced = ${ledger}, entries in the table ${used}`);
  for (let d = 0; d < e.maxRealServers; d++) {
    const r = dests + d * DestField.SIZE;
    const inUse = (u8[r + DestField.FLAGS] & DestFlag.USED) !== 0;
    const want = [active.get(d) ?? 0, inactive.get(d) ?? 0, templates.get(d) ?? 0];
    const got = inUse ? [mem.getUint32(r + DestField.ACTIVE, true), mem.getUint32(r + DestField.INACTIVE, true), mem.getUint32(r + DestField.PERSIST_CONNS, true)] : [0, 0, 0];
    if (want.some((v, k) => v !== got[k])) {
      p.push(`real server ${d}${inUse ? "" : " (free)"}: active/inactive/persistent ${got.join("/")}, entries naming it ${want.join("/")}`);
    }
  }
  for (let i = 0; i < e.connCapacity; i++) {
    const c = conns + i * ConnField.SIZE;
    if ((u8[c + ConnField.FLAGS] & (ConnFlag.USED | ConnFlag.TEMPLATE)) !== (ConnFlag.USED | ConnFlag.TEMPLATE)) continue;
    const n = mem.getUint32(c + ConnField.CONTROL, true);
    if (n !== (controlled.get(i) ?? 0)) {
      const proto = u8[c + ConnField.PROTO] & ~ConnFlag.TEMPLATE_PROTO;
      const v = mem.getUint32(c + ConnField.VADDR, false);
      const where = proto === 0 ? `firewall mark ${v}` : `${proto === 6 ? "TCP" : proto === 17 ? "UDP" : proto} ${[24, 16, 8, 0].map((k) => (v >>> k) & 255).join(".")}`;
      p.push(`template ${i} (${where}, real server ${connDestOf(mem, c)}) controls ${n}, connections tied to it ${controlled.get(i) ?? 0}`);
    }
  }
  return p;
}

/** Checksum problems of an emitted frame: always its outer IPv4 header (the engine checks
 *  every header it takes in); with all, every checksum in it. */
function frameProblems(f: Uint8Array, all: boolean): string[] {
  const v6 = f.length >= 14 && (f[12] === 0x86 && f[13] === 0xdd ? 14 : f[12] === 0x81 && f[13] === 0 && f[16] === 0x86 && f[17] === 0xdd ? 18 : 0);
  if (v6) return icmpv6Problems(f, v6);
  // Inputs include UDP sent with no checksum (zero), which NAT keeps zero (RFC 768).
  if (all) return checksumProblems(f, { udpChecksumAbsent: true }).problems;
  const off = ipOffset(f, f.length);
  if (off < 0) return [];
  const ihl = (f[off] & 15) * 4;
  return inetChecksum(f.subarray(off, off + ihl)) !== 0 ? ["outer IPv4 header checksum"] : [];
}

/** What the engine sends over IPv6 (neighbour advertisements, echo replies) carries no
 *  extension header, its payload length matches the frame and its ICMPv6 checksum adds up,
 *  whatever came in. */
function icmpv6Problems(f: Uint8Array, off: number): string[] {
  const len = (f[off + 4] << 8) | f[off + 5];
  if (off + 40 + len !== f.length) return [`IPv6 payload length ${len} does not match the frame`];
  if (f[off + 6] !== 58) return [`IPv6 next header ${f[off + 6]}, not ICMPv6`];
  const m = f.subarray(off + 40);
  const ps = pseudoSum6(Array.from(f.subarray(off + 8, off + 24)), Array.from(f.subarray(off + 24, off + 40)), 58, m.length);
  return inetChecksum(m, ps) !== 0 ? ["ICMPv6 checksum"] : [];
}

// ---- the run ---------------------------------------------------------------------------------

export interface FuzzOptions {
  seed: number;
  frames: number;
  /** Stop after this long even if frames remain (the report says so). */
  seconds?: number;
  /** Frames per engine call. */
  batch?: number;
  /** Called about every second with the frames done. */
  progress?: (done: number, elapsedS: number) => void;
  /** Replay up to this batch and feed it one frame per engine call, to find the frame that
   *  fails (used by fuzz() itself after a failure). */
  isolate?: number;
}

export interface FuzzFailure {
  what: "trap" | "checksum" | "counters" | "state" | "decap";
  message: string;
  /** Index of the batch (from 0) and its input frames, in order. */
  batchIndex: number;
  inputs: { ifindex: number; bytes: Uint8Array }[];
  /** The input frame that failed, when known (found from the emitted frame's slot, or by
   *  replaying the batch one frame at a time). */
  frameIndex?: number;
  /** The emitted frame whose checksum is wrong. */
  output?: Uint8Array;
}

export interface FuzzReport {
  seed: number;
  frames: number;
  /** Frames the run was asked for (frames < requested when the time bound stopped it). */
  requested: number;
  seconds: number;
  counters: Record<string, bigint>;
  decap: Record<string, bigint>;
  /** Emitted frames checked: outer header only, and every checksum. */
  checkedHeaders: number;
  checkedFull: number;
  /** Decapsulated frames checked. */
  decapChecked: number;
  stateChecks: number;
  kinds: Record<string, number>;
  /** Control calls the engine refused with a reason (not failures: a server's slot taken). */
  refused: Record<string, number>;
  failure?: FuzzFailure;
}

export const seedText = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`;

/** Where the test frames of test/fixtures/packets.json are, from test/helpers or dist/test/helpers. */
function fixtureFrames(): BaseFrame[] {
  const root = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/dist\/?$/, "");
  const fixtures: { input: { ifindex: number; hex: string }; before: { ifindex: number; hex: string }[] }[] =
    JSON.parse(readFileSync(join(root, "test", "fixtures", "packets.json"), "utf8"));
  return fixtures.flatMap((f) => [f.input, ...f.before]).map((x) => ({ kind: "fixture", ifindex: x.ifindex, bytes: Uint8Array.from(Buffer.from(x.hex, "hex")) }));
}

export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  const r = xorshift(o.seed);
  const batch = o.batch ?? 64;
  const e = await loadEngine({ batch, connCapacity: 512, maxServices: 32, maxRealServers: 64, maglevServices: 2, mhTableSize: 251, maglevTableSize: 251 });
  const dc: Decapsulator = await loadDecapsulator(batch);
  dc.addTunnelAddress(RS[2]);
  dc.addTunnelAddress(DIRECTOR_IN);
  const { services, dests } = configure(e, r);
  const refused: Record<string, number> = {};
  // The frames of the engine's fixtures (test/fixtures/packets.json) join the generated ones.
  const bases = [...baseFrames(r, 4096), ...fixtureFrames()];
  const kinds: Record<string, number> = {};
  const cap = e.frameCapacity;
  const stride = cap + 256;
  const frames = new Uint8Array(batch * stride);
  let flood = false;
  /** A phase where the host reads the advert queue seldom (a busy control thread). */
  let lagging = false;
  /** A phase without ARP frames (servers 2 and 3 and two clients are never resolved). */
  let silent = false;
  const inputs: { ifindex: number; bytes: Uint8Array }[] = [];
  const started = performance.now();
  let lastProgress = started;
  let now = 1000 + (r() % 100000);
  let rx = 0n;
  let checkedHeaders = 0, checkedFull = 0, stateChecks = 0;
  let batchIndex = 0;
  let done = 0;
  const rxSlots = e.regionOffset(Region.RX_SLOTS);
  const decapSlots = dc.regionOffset(Region.RX_SLOTS);
  const decapDesc = dc.regionOffset(Region.RX_DESC);
  const decapTx = dc.regionOffset(Region.TX_DESC);
  let decapRx = 0n;
  let decapChecked = 0;
  let failure: FuzzFailure | undefined;
  const fail = (what: FuzzFailure["what"], message: string, output?: Uint8Array, frameIndex?: number) => {
    failure = { what, message, batchIndex, inputs: inputs.map((f) => ({ ifindex: f.ifindex, bytes: f.bytes.slice() })), output: output?.slice(), frameIndex };
  };
  /** The input frame an emitted frame was rewritten in place from (undefined: the engine built it). */
  const slotOf = (ptr: number, single: number | undefined) => {
    const i = Math.floor((ptr - rxSlots) / e.slotSize);
    return i >= 0 && i < batch ? single ?? i : undefined;
  };
  /** Frames first..first+n-1 of inputs in one engine call; false on a failure. */
  const engineCall = (first: number, n: number, clean: boolean, single?: number): boolean => {
    for (let i = 0; i < n; i++) e.loadFrame(i, inputs[first + i].bytes, inputs[first + i].ifindex);
    const queueBefore = e.counter(Counter.QUEUE_RELEASED);
    const tx = e.process(n, now);
    rx += BigInt(n);
    // Frames let out of the neighbour queue may come from an earlier, unclean batch.
    const all = clean && e.counter(Counter.QUEUE_RELEASED) === queueBefore;
    for (let k = 0; k < tx; k++) {
      const t = e.txFrame(k);
      const bad = frameProblems(t.frame, all);
      if (all) checkedFull++; else checkedHeaders++;
      if (bad.length) {
        const i = slotOf(t.frame.byteOffset, single);
        fail("checksum", `emitted frame ${k} of batch ${batchIndex}${i !== undefined ? ` (from input frame ${i})` : ""}: ${bad.join(", ")}`, t.frame, i);
        return false;
      }
    }
    const cp = counterProblems(e, rx);
    if (cp.length) { fail("counters", cp.join("; "), undefined, single); return false; }
    return true;
  };
  try {
    while (done < o.frames && !failure) {
      const n = Math.min(batch, o.frames - done);
      // A clean batch: every frame's checksums are right, so every checksum out must be too.
      const clean = (r() & 1) === 1;
      // Phases of a few hundred batches: ordinary traffic, or a flood of new clients.
      if (batchIndex % 256 === 0) { flood = r() % 3 === 0; lagging = r() % 8 === 0; silent = r() % 6 === 0; }
      inputs.length = 0;
      for (let i = 0; i < n; i++) {
        let base = bases[r() % bases.length];
        // Neighbours that do not answer: frames wait for them until the queue is full.
        while (silent && base.kind === "arp") base = bases[r() % bases.length];
        const slot = frames.subarray(i * stride, (i + 1) * stride);
        const m = mutate(r, base, bases, slot, cap, clean, flood);
        const ifindex = r() % 50 === 0 ? 2 + (r() & 15) : base.ifindex;
        kinds[base.kind] = (kinds[base.kind] ?? 0) + 1;
        inputs.push({ ifindex, bytes: slot.subarray(0, m.len) });
      }
      done += n;
      // Mostly milliseconds between batches; now and then seconds or minutes (timeouts).
      now += r() % 64 === 0 ? 2000 + (r() % (r() % 16 === 0 ? 400_000 : 60_000)) : r() % 50;
      if (batchIndex === o.isolate) {
        for (let i = 0; i < n && engineCall(i, 1, clean, i); i++);
        break;
      }
      if (!engineCall(0, n, clean)) break;
      // The host's side: read the adverts (mostly: a host that lags fills the queue), the
      // timers, and now and then a change of configuration a director makes while it runs.
      if (lagging ? r() % 40 === 0 : r() % 10 !== 0) e.takeVrrpAdverts();
      if (r() % 8 === 0) {
        const t = e.tick(now);
        for (let k = 0; k < t && !failure; k++) {
          const bad = frameProblems(e.txFrame(k).frame, true);
          checkedFull++;
          if (bad.length) fail("checksum", `frame ${k} emitted by tick after batch ${batchIndex}: ${bad.join(", ")}`, e.txFrame(k).frame);
        }
      }
      if (r() % 64 === 0) {
        const s = r() % dests.length;
        const d = r() % dests[s].length;
        const c = r() % 5;
        try {
          if (c === 0) e.setVrrpMaster(r() & 1, (r() & 1) === 1);
          else if (c === 1) e.sendVrrpAdvert(r() & 1, 100, now);
          else if (c === 2 || c === 3) {
            const info = e.realServer(dests[s][d]);
            const spec = { address: info.address, port: info.port, method: info.method, weight: info.weight };
            if (c === 2) e.editRealServer(dests[s][d], { ...spec, weight: info.weight ? 0 : 1 });
            else {
              // Out and back in: its connections linger on the removed record meanwhile.
              e.deleteRealServer(dests[s][d]);
              dests[s][d] = e.addRealServer(services[s], spec);
            }
          } else e.expireConnections(now);
        } catch (err) {
          if (!(err instanceof EngineError) || err.code < 0) throw err;
          refused[err.message] = (refused[err.message] ?? 0) + 1;
        }
        // Whatever those calls sent (adverts, ARP) is checked on the next batch's reads.
      }
      if (batchIndex % 128 === 127) {
        stateChecks++;
        const sp = stateProblems(e);
        if (sp.length) { fail("state", sp.slice(0, 6).join("; ") + (sp.length > 6 ? `; and ${sp.length - 6} more` : "")); break; }
      }
      // The decapsulator takes the same frames (half as if from the uplink). It keeps no
      // state, so a frame it gets wrong is known by the slot it left from.
      const dmem = new Uint8Array(dc.memory.buffer);
      const dv = new DataView(dc.memory.buffer);
      for (let i = 0; i < n; i++) {
        const f = inputs[i].bytes;
        dmem.set(f.length <= dc.slotSize - Abi.HEADROOM ? f : f.subarray(0, dc.slotSize - Abi.HEADROOM), decapSlots + i * dc.slotSize + Abi.HEADROOM);
        dv.setUint32(decapDesc + i * Abi.DESC_SIZE + RxDesc.LEN, f.length, true);
        dv.setUint32(decapDesc + i * Abi.DESC_SIZE + RxDesc.IFINDEX, (inputs[i].ifindex & 1) === 1 || r() % 2 === 0 ? 0 : 1, true);
      }
      const dtx = dc.process(n, now);
      decapRx += BigInt(n);
      for (let k = 0; k < dtx && !failure; k++) {
        const d = decapTx + k * Abi.DESC_SIZE;
        const ptr = dv.getUint32(d + TxDesc.PTR, true);
        // Frames passed on start where they came in, unchanged; decapsulated ones later.
        const at = ptr - decapSlots - Abi.HEADROOM;
        if (at % dc.slotSize === 0) continue;
        const f = new Uint8Array(dc.memory.buffer, ptr, dv.getUint32(d + TxDesc.LEN, true));
        decapChecked++;
        const bad = frameProblems(f, false);
        const i = Math.floor(at / dc.slotSize);
        if (bad.length) fail("decap", `decapsulated frame ${k} of batch ${batchIndex} (from input frame ${i}): ${bad.join(", ")}`, f, i);
      }
      const dcount = dc.counters();
      let dsum = dcount.decapsulated + dcount.passed_up + dcount.passed_down;
      for (const [name, v] of Object.entries(dcount)) if (name.startsWith("drop_")) dsum += v;
      if (!failure && (dcount.rx_frames !== decapRx || dsum !== decapRx)) {
        fail("decap", `decapsulator: rx_frames ${dcount.rx_frames} of ${decapRx} given, outcomes add up to ${dsum}`);
      }
      batchIndex++;
      const t = performance.now();
      if (o.progress && t - lastProgress >= 1000) { lastProgress = t; o.progress(done, (t - started) / 1000); }
      if (o.seconds !== undefined && t - started >= o.seconds * 1000) break;
    }
    if (!failure && o.isolate === undefined) {
      stateChecks++;
      const sp = stateProblems(e);
      if (sp.length) fail("state", sp.slice(0, 6).join("; "));
    }
  } catch (err) {
    // A trap: unreachable, an access out of bounds, an abort.
    fail("trap", `${(err as Error).name}: ${(err as Error).message}`);
  }
  const report: FuzzReport = {
    seed: o.seed, frames: done, requested: o.frames, seconds: (performance.now() - started) / 1000, counters: e.counters(), decap: dc.counters(),
    checkedHeaders, checkedFull, decapChecked, stateChecks, kinds, refused, failure,
  };
  // Which frame of the batch? Replay the run to it and feed the batch one frame at a time
  // (a state failure grows over many batches: it has no one frame).
  const f = report.failure;
  if (f && f.frameIndex === undefined && f.what !== "state" && o.isolate === undefined) {
    const again = await fuzz({ seed: o.seed, frames: o.frames, batch, isolate: f.batchIndex });
    if (again.failure?.batchIndex === f.batchIndex && again.failure.frameIndex !== undefined) f.frameIndex = again.failure.frameIndex;
  }
  return report;
}

/** The failure as pcap files: the failing frame alone (when known) and the whole batch,
 *  the wrong emitted frame last. */
export function failurePcaps(f: FuzzFailure): { frame?: Uint8Array; batch: Uint8Array } {
  const batch = writePcap([...f.inputs.map((x, i) => ({ timeUs: i, data: x.bytes })), ...(f.output ? [{ timeUs: f.inputs.length, data: f.output }] : [])]);
  return { frame: f.frameIndex !== undefined ? writePcap([{ timeUs: 0, data: f.inputs[f.frameIndex].bytes }]) : undefined, batch };
}

/** Non-zero counters, as name=value pairs. */
export function counterLine(c: Record<string, bigint>): string {
  return Object.entries(c).filter(([, v]) => v !== 0n).map(([k, v]) => `${k}=${v}`).join(" ");
}
