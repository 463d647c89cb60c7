// The engine's first load, as the data-path thread takes it: a start set. The control plane
// reads the file and resolves it (interfaces by index, routes to their interface); what goes
// to the thread is what the engine's calls take, the services and real servers packed into
// one typed array of wire-order values (transferred, not cloned: 64k services × 10 come to
// 16 MB, where the configuration model's structured clone took seconds and its copy stayed
// in memory). The values are checked as the engine's own calls check them (serviceArgs,
// destArgs) when they are packed; the engine refuses the rest (a table full, a DR server
// not on-link) as it applies them, in the file's order, and the first refusal ends the load.
//
// This file imports only the engine: no configuration model, no control code.

import { formatIp, type IpAddr } from "./addr.js";
import { checkPort, destArgs, Err, Fwd, Proto, Engine, EngineError, InterfaceSpec, ip4Of, MarkRule, portToWire, RealServerSpec, serviceArgs, ServiceSpec, Timeouts,
  VrrpInstanceSpec, wireToIp, wireToMark } from "./index.js";
import type { NeighbourSpec, RouteSpec } from "./changes.js";

/** A service row: protocol (0: a firewall mark; | ROW_V6 for an IPv6 service), address (or
 *  mark; an IPv6 address's first word) and port in wire order, scheduler code, persistence
 *  timeout (0: none) and netmask, scheduler flags, one-packet, how many of the real-server
 *  rows after the services are its own, and an IPv6 address's other three words. */
const SERVICE_WORDS = 12;
const ROW_V6 = 0x100;
/** A real-server row: address (an IPv6 one's first word) and port in wire order, forwarding
 *  code, weight, thresholds, and an IPv6 address's other three words (a server of an IPv6
 *  service has an IPv6 address: mixed families are tunnel-only, and IPv6 tunnels are not in
 *  the engine yet). */
const SERVER_WORDS = 9;

/** Services and their real servers, packed (packServices). */
export interface PackedServices {
  services: number;
  servers: number;
  /** The service rows, then every real-server row in their services' order. */
  table: Uint32Array;
}

/** What a fresh engine is loaded with, in the order it is applied (as the engine's calls
 *  would be made one by one from the file). */
export interface StartSet {
  interfaces: InterfaceSpec[];
  routes: RouteSpec[];
  neighbours: NeighbourSpec[];
  /** ipvsadm --set (absent: the engine's defaults). */
  timeouts?: Partial<Timeouts>;
  rejectUnknown: boolean;
  expireQuiescentTemplate: boolean;
  marks: MarkRule[];
  vrrp: VrrpInstanceSpec[];
  /** Connection sync receiving from the start (its VRRP instance starts as backup). */
  sync?: { ifindex: number; syncid?: number; maxlen?: number; peer?: string };
  /** undefined: the engine's default share. */
  syncTableShare?: number;
  syncAuthKey?: Uint8Array;
  expireNodestConn: boolean;
  sloppyTcp: boolean;
  services: PackedServices;
}

/** The forwarding codes of the methods a real server names. */
const FORWARDING: Readonly<Record<string, number>> = { nat: Fwd.MASQ, dr: Fwd.DROUTE, tun: Fwd.TUNNEL };

/** The services packed, their values checked as addService and addRealServer check them
 *  (throws their EngineError at the first refused). Addresses come parsed (vaddr, daddr: read
 *  where the configuration was). */
export function packServices(list: readonly (ServiceSpec & { realServers: readonly RealServerSpec[] })[]): PackedServices {
  let servers = 0;
  for (const s of list) servers += s.realServers.length;
  const table = new Uint32Array(list.length * SERVICE_WORDS + servers * SERVER_WORDS);
  let r = list.length * SERVICE_WORDS;
  for (let k = 0; k < list.length; k++) {
    const s = list[k];
    const a = serviceArgs(s);
    const o = k * SERVICE_WORDS;
    const v = a.address;
    table[o] = typeof v === "number" ? a.protocol : a.protocol | ROW_V6;
    if (typeof v === "number") table[o + 1] = v;
    else [table[o + 1], table[o + 9], table[o + 10], table[o + 11]] = v;
    table[o + 2] = a.port;
    table[o + 3] = a.sched;
    table[o + 4] = a.persistence?.[0] ?? 0;
    table[o + 5] = a.persistence?.[1] ?? 0;
    table[o + 6] = a.schedFlags;
    table[o + 7] = a.onePacket ? 1 : 0;
    table[o + 8] = s.realServers.length;
    for (const x of s.realServers) {
      const fwd = FORWARDING[x.method];
      const { port, weight } = x;
      const u = x.uthreshold ?? 0;
      const l = x.lthreshold ?? 0;
      // The common server (a port and weight in range, no thresholds) without the checks'
      // allocations; anything else as the engine's own calls check it (they say why).
      if (u === 0 && l === 0 && fwd !== undefined && (port & 0xffff) === port && (weight & 0xffff) === weight) {
        table[r + 1] = portToWire(port);
        table[r + 2] = fwd;
        table[r + 3] = weight;
        table[r + 4] = 0;
        table[r + 5] = 0;
      } else {
        checkPort(x.port);
        const [f, w, up, lo] = destArgs(x);
        table[r + 1] = portToWire(x.port);
        table[r + 2] = f;
        table[r + 3] = w;
        table[r + 4] = up;
        table[r + 5] = lo;
      }
      const d = x.daddr;
      if (typeof v === "number") table[r] = ip4Of(d);
      else if (typeof d === "number") throw new EngineError(`real server ${x.address}: an IPv4 server in an IPv6 service (mixed families are for tunnels only)`, Err.BAD_ARGUMENT);
      else [table[r], table[r + 6], table[r + 7], table[r + 8]] = d;
      r += SERVER_WORDS;
    }
  }
  return { services: list.length, servers, table };
}

/** What crosses to the thread by transfer (the packed table's memory moves, it is not copied). */
export const startSetTransfer = (set: StartSet): ArrayBuffer[] => [set.services.table.buffer as ArrayBuffer];

/** Load set into a fresh engine, in order; throws the engine's error at the first refusal
 *  (the engine is then to be dropped: what it holds is part of the file). */
export function applyStartSet(e: Engine, set: StartSet): void {
  for (const i of set.interfaces) e.setInterface(i);
  for (const r of set.routes) e.addRouteOf(r);
  for (const n of set.neighbours) e.setNeighbourOf(n);
  if (set.timeouts) e.setTimeouts(set.timeouts);
  e.setRejectUnknown(set.rejectUnknown);
  e.setExpireQuiescentTemplate(set.expireQuiescentTemplate);
  e.setMarkRules(set.marks);
  e.setVrrpInstances(set.vrrp);
  if (set.sync) e.setSync({ send: false, receive: true, ifindex: set.sync.ifindex, syncid: set.sync.syncid, maxlen: set.sync.maxlen, peer: set.sync.peer, from: set.sync.peer });
  e.setSyncTableShare(set.syncTableShare);
  e.setSyncAuthKey(set.syncAuthKey);
  e.setExpireNodestConn(set.expireNodestConn);
  e.setSloppyTcp(set.sloppyTcp);
  const { table, services } = set.services;
  let r = services * SERVICE_WORDS;
  for (let k = 0; k < services; k++) {
    const o = k * SERVICE_WORDS;
    const v6 = (table[o] & ROW_V6) !== 0;
    const protocol = table[o] & 0xff;
    const fwmark = protocol === 0;
    const address: IpAddr = v6 ? [table[o + 1], table[o + 9], table[o + 10], table[o + 11]] : table[o + 1];
    const name = () => (fwmark ? `service fwmark ${markOf(table[o + 1])}` : `service ${protocol === Proto.UDP ? "udp" : "tcp"} ${hostPortOf(address, table[o + 2])}`);
    const index = e.addServiceWith({
      protocol, address, port: table[o + 2], sched: table[o + 3],
      persistence: table[o + 4] ? [table[o + 4], table[o + 5]] : undefined, schedFlags: table[o + 6], onePacket: table[o + 7] !== 0,
    }, name);
    for (let n = table[o + 8]; n > 0; n--, r += SERVER_WORDS) {
      const daddr: IpAddr = v6 ? [table[r], table[r + 6], table[r + 7], table[r + 8]] : table[r];
      e.addRealServerWith(index, daddr, table[r + 1], table[r + 2], table[r + 3], table[r + 4], table[r + 5],
        () => `${name()}: real server ${hostPortOf(daddr, table[r + 1])}`);
    }
  }
  if (r !== table.length) throw new EngineError(`start set: ${table.length - r} words left over after ${services} services`, -1);
}

const portOf = (wire: number) => portToWire(wire);
/** ADDRESS:PORT as ipvsadm writes it ([ADDRESS]:PORT for IPv6). */
const hostPortOf = (a: IpAddr, portWire: number) => (typeof a === "number" ? `${wireToIp(a)}:${portOf(portWire)}` : `[${formatIp(a)}]:${portOf(portWire)}`);
const markOf = wireToMark;
