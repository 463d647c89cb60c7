// The running configuration and how it changes: ipvsadm commands applied to it, a reload
// merged into it, and a check that the engine holds exactly what it says.
//
// A reload is a three-way merge (base: the file as last loaded; ours: the running
// configuration, which ipvsadm commands and, later, health checks change; theirs: the
// file as it is now). What the file changed wins; what it did not change stays as the
// control plane left it — so a reload never brings back the weight a checker or an
// operator set, nor a server one removed, unless the file itself changed that server.

import { IpvsadmError, Parsed, sameService, serviceKey } from "./ipvsadm.js";
import type { DirectorConfig, Pos, RealServerConfig, ServiceConfig } from "./director.js";
import type { ServiceInfo } from "../engine/index.js";
import { ipToNumber, numberToIp, parseCidr } from "../engine/addr.js";

export { serviceKey };
export const serverKey = (r: { address: string; port: number }) => `${r.address}:${r.port}`;

/** A deep copy (configurations are plain data). */
export function cloneConfig(c: DirectorConfig): DirectorConfig {
  return structuredClone(c);
}

/** ipvsadm semantics on the configuration model; throws IpvsadmError as ipvsadm reports. */
export function applyCommand(cfg: DirectorConfig, p: Parsed): DirectorConfig {
  return applyCommandInPlace(cloneConfig(cfg), p, cfg);
}

/** The same on next itself (a rules file builds its configuration this way, line by line). */
export function applyCommandInPlace(next: DirectorConfig, p: Parsed, cfg: DirectorConfig = next): DirectorConfig {
  const line = p.line ?? 0;
  const find = () => next.services.find((s) => sameService(s, p.service!));
  switch (p.command) {
    case "add-service": {
      if (find()) throw IpvsadmError.ipvs("service-exists");
      next.services.push({ ...p.service!, scheduler: (p.scheduler ?? "wlc") as ServiceConfig["scheduler"], realServers: [], line,
        ...(p.persistence ? { persistence: p.persistence } : {}), ...(p.schedFlags ? { schedFlags: p.schedFlags } : {}),
        ...(p.onePacket ? { onePacket: true } : {}) });
      break;
    }
    case "edit-service": {
      const s = find();
      if (!s) throw IpvsadmError.ipvs("no-service");
      s.scheduler = (p.scheduler ?? "wlc") as ServiceConfig["scheduler"];
      // -E sets the whole service, as ipvsadm: without -p it is no longer persistent.
      if (p.persistence) s.persistence = p.persistence;
      else delete s.persistence;
      if (p.schedFlags) s.schedFlags = p.schedFlags;
      else delete s.schedFlags;
      if (p.onePacket) s.onePacket = true;
      else delete s.onePacket;
      break;
    }
    case "delete-service": {
      if (!find()) throw IpvsadmError.ipvs("no-service");
      next.services = next.services.filter((s) => !sameService(s, p.service!));
      break;
    }
    case "flush":
      next.services = [];
      break;
    case "add-server":
    case "edit-server":
    case "delete-server": {
      const s = find();
      if (!s) throw IpvsadmError.ipvs("service-undefined");
      const port = p.server!.port ?? s.port;
      const i = s.realServers.findIndex((r) => r.address === p.server!.address && r.port === port);
      if (p.command === "delete-server") {
        if (i < 0) throw IpvsadmError.ipvs("no-destination");
        s.realServers.splice(i, 1);
        break;
      }
      if (p.command === "add-server" && i >= 0) throw IpvsadmError.ipvs("destination-exists");
      if (p.command === "edit-server" && i < 0) throw IpvsadmError.ipvs("no-destination");
      // ipvsadm fills what is not given with its defaults, for -e as for -a.
      const r: RealServerConfig = {
        address: p.server!.address, port, method: p.method ?? "dr", weight: p.weight ?? 1,
        uthreshold: p.uthreshold ?? 0, lthreshold: p.lthreshold ?? 0, line,
      };
      // An edit changes what ipvsadm says; the server's checkers (keepalived.conf) stay.
      if (i >= 0) s.realServers[i] = s.realServers[i].health ? { ...r, health: s.realServers[i].health } : r;
      else s.realServers.push(r);
      break;
    }
    case "set": {
      const old = cfg.timeouts;
      const t = p.timeouts!;
      next.timeouts = { tcp: t.tcp || old?.tcp || 0, tcpfin: t.tcpfin || old?.tcpfin || 0, udp: t.udp || old?.udp || 0, line };
      break;
    }
    default:
      throw new IpvsadmError(`'${p.command}' is not a change`, 2);
  }
  return next;
}

/** Equal apart from line numbers (and nested real servers, compared separately). */
function sameRecord<T extends object>(a: T | undefined, b: T | undefined, skip: string[] = []): boolean {
  if (!a || !b) return a === b;
  const strip = (x: object) => JSON.stringify(Object.entries(x).filter(([k]) => k !== "line" && k !== "where" && !skip.includes(k)).sort(([x], [y]) => (x < y ? -1 : 1)));
  return strip(a) === strip(b);
}

/** Three-way merge of keyed lists: what theirs changed against base wins, the rest is ours. */
function mergeKeyed<T extends object>(base: T[], ours: T[], theirs: T[], key: (x: T) => string,
  merge: (b: T | undefined, o: T | undefined, t: T) => T | undefined): T[] {
  const b = new Map(base.map((x) => [key(x), x]));
  const o = new Map(ours.map((x) => [key(x), x]));
  const t = new Map(theirs.map((x) => [key(x), x]));
  const out: T[] = [];
  // The file's order first, then what only the control plane added.
  for (const [k, tv] of t) {
    const m = merge(b.get(k), o.get(k), tv);
    if (m) out.push(m);
  }
  for (const [k, ov] of o) if (!t.has(k) && !b.has(k)) out.push(ov);
  return out;
}

function mergeServer(b: RealServerConfig | undefined, o: RealServerConfig | undefined, t: RealServerConfig): RealServerConfig | undefined {
  // Unchanged in the file: as the control plane left it (at its place in the file now).
  if (b && sameRecord(b, t)) return o ? { ...o, line: t.line, ...(t.where ? { where: t.where } : {}) } : undefined;
  return t;
}

function mergeService(b: ServiceConfig | undefined, o: ServiceConfig | undefined, t: ServiceConfig): ServiceConfig | undefined {
  if (b && !o && sameRecord(b, t, ["realServers"]) && mergeKeyed(b.realServers, [], t.realServers, serverKey, mergeServer).length === 0) {
    return undefined; // removed by the control plane, unchanged in the file
  }
  const scalars = b && o && sameRecord(b, t, ["realServers"]) ? o : t;
  return { ...scalars, line: t.line, ...(t.where ? { where: t.where } : {}), realServers: mergeKeyed(b?.realServers ?? [], o?.realServers ?? [], t.realServers, serverKey, mergeServer) };
}

/** The running configuration after a reload from newFile (oldFile: the file as last loaded). */
export function mergeReload(running: DirectorConfig, oldFile: DirectorConfig, newFile: DirectorConfig): DirectorConfig {
  const out = cloneConfig(newFile);
  out.services = mergeKeyed(oldFile.services, running.services, newFile.services, serviceKey, mergeService).map((s) => structuredClone(s));
  if (sameRecord(oldFile.timeouts, newFile.timeouts)) out.timeouts = running.timeouts && structuredClone(running.timeouts);
  return out;
}

/** Where the engine and the configuration disagree (empty when they agree). */
export function mismatches(cfg: DirectorConfig, snap: { services: readonly ServiceInfo[] }): string[] {
  const out: string[] = [];
  const live = new Map(snap.services.map((s) => [serviceKey(s), s]));
  for (const s of cfg.services) {
    const l = live.get(serviceKey(s));
    if (!l) { out.push(`service ${serviceKey(s)} is configured but not in the engine`); continue; }
    live.delete(serviceKey(s));
    if (l.scheduler !== s.scheduler) out.push(`service ${serviceKey(s)}: scheduler ${l.scheduler} in the engine, ${s.scheduler} configured`);
    if (!!l.onePacket !== !!s.onePacket) out.push(`service ${serviceKey(s)}: one-packet scheduling ${l.onePacket ? "on" : "off"} in the engine, ${s.onePacket ? "on" : "off"} configured`);
    if ((l.schedFlags ?? 0) !== (s.schedFlags ?? 0)) out.push(`service ${serviceKey(s)}: scheduler flags ${l.schedFlags ?? 0} in the engine, ${s.schedFlags ?? 0} configured`);
    const servers = new Map(l.realServers.map((r) => [serverKey(r), r]));
    for (const r of s.realServers) {
      const e = servers.get(serverKey(r));
      if (!e) { out.push(`real server ${serverKey(r)} of ${serviceKey(s)} is configured but not in the engine`); continue; }
      servers.delete(serverKey(r));
      for (const f of ["method", "weight", "uthreshold", "lthreshold"] as const) {
        if ((e[f] ?? 0) !== (r[f] ?? 0)) out.push(`real server ${serverKey(r)} of ${serviceKey(s)}: ${f} ${e[f]} in the engine, ${r[f]} configured`);
      }
    }
    for (const k of servers.keys()) out.push(`real server ${k} of ${serviceKey(s)} is in the engine but not configured`);
  }
  for (const k of live.keys()) out.push(`service ${k} is in the engine but not configured`);
  return out;
}

/** keepalived.conf's keyword for an ipvsadm command or a director setting. */
const KEEPALIVED_WORDS: Record<string, string> = {
  "-A": "virtual_server", "-a": "real_server", "-E": "lb_algo", "-e": "real_server", "--set": "lvs_timeouts",
};

/** The word the file's own syntax uses for what (an ipvsadm command, or a director setting
 *  named alike in both), for error messages. */
export function keywordOf(cfg: DirectorConfig, what: string): string {
  return (cfg.format === "keepalived" && KEEPALIVED_WORDS[what]) || what;
}

/** A problem checkModel found: where and why. */
export interface ModelProblem {
  /** When not the configuration's own file (a --director file's line). */
  file?: string;
  line: number;
  keyword: string;
  reason: string;
  /** The value at fault as written, when known (else the line, at column 1). */
  where?: Pos;
}

const isMulticastMac = (mac: string) => (parseInt(mac.slice(0, 2), 16) & 1) === 1;

/** Why addr cannot be a VIP or a real server, or undefined. IPVS refuses a real server
 *  that is not unicast (ip_vs_new_dest: inet_addr_type must be RTN_UNICAST or RTN_LOCAL;
 *  0.0.0.0, 255.255.255.255 and a subnet's broadcast address are RTN_BROADCAST, class D
 *  RTN_MULTICAST); it checks no VIP, but such a VIP can never take a connection: Linux
 *  answers no ARP for it, drops packets to 127/8 from the wire as martians, and
 *  224.0.0.18 is VRRP's own group. Subnets of /31 and /32 have no network or broadcast
 *  address (RFC 3021). */
function notUnicast(addr: string, subnets: { net: number; mask: number; prefix: number; text: string; name: string }[]): string | undefined {
  if (addr === "0.0.0.0" || addr === "255.255.255.255") return `${addr} is ${addr === "0.0.0.0" ? "the unspecified address" : "the limited broadcast address"}`;
  const n = ipToNumber(addr);
  if (n >>> 28 === 0xe) return `${addr} is a multicast address (224.0.0.0/4)${addr === "224.0.0.18" ? ", VRRP's group" : ""}`;
  if (n >>> 24 === 127) return `${addr} is a loopback address (127.0.0.0/8), which Linux never accepts from the wire`;
  for (const sn of subnets) {
    if (sn.prefix >= 31 || ((n & sn.mask) >>> 0) !== sn.net) continue;
    if (n === sn.net) return `${addr} is the network address of ${sn.text} (interface ${sn.name})`;
    if (n === ((sn.net | ~sn.mask) >>> 0)) return `${addr} is the broadcast address of ${sn.text} (interface ${sn.name})`;
  }
  return undefined;
}

/** IPVS's ip_vs_add_dest and ip_vs_edit_dest refuse l_threshold > u_threshold (ERANGE),
 *  also when no upper threshold is set. In the input's own words. */
function thresholdProblem(cfg: DirectorConfig, r: { uthreshold?: number; lthreshold?: number }): string | undefined {
  const u = r.uthreshold ?? 0;
  const l = r.lthreshold ?? 0;
  if (l <= u) return undefined;
  const [lw, uw] = cfg.format === "keepalived" ? ["lthreshold", "uthreshold"] : ["lower threshold (-y)", "upper threshold (-x)"];
  return `${lw} ${l} is higher than ${uw} ${u}` +
    (u === 0 ? ` (none set): without an upper threshold the lower one must be 0` : "") +
    `; IPVS refuses it ("lower threshold is higher than upper threshold")`;
}

/**
 * What no input may set up, whichever syntax it came in (checked once, here): a VIP or a
 * real server that is not a unicast address (0.0.0.0, 255.255.255.255, multicast,
 * loopback, a director subnet's network or broadcast address); a VIP that is the
 * director's own address; a real server that is a VIP or the director's own address; a
 * lower threshold above the upper; a broadcast or multicast MAC.
 */
export function checkModel(cfg: DirectorConfig): ModelProblem[] {
  const out: ModelProblem[] = [];
  const words = { svc: keywordOf(cfg, "-A"), rs: keywordOf(cfg, "-a") };
  const own = new Map(cfg.interfaces.filter((i) => i.address).map((i) => [i.address!.split("/")[0], i.name]));
  const subnets = cfg.interfaces.filter((i) => i.address).map((i) => {
    const { address, prefixLen } = parseCidr(i.address!);
    const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
    const net = (ipToNumber(address) & mask) >>> 0;
    return { net, mask, prefix: prefixLen, text: `${numberToIp(net)}/${prefixLen}`, name: i.name };
  });
  const vips = new Set(cfg.services.filter((s) => s.fwmark === undefined).map((s) => s.address));
  for (const i of cfg.interfaces) {
    if (isMulticastMac(i.mac)) out.push({ file: i.file, line: i.line, keyword: i.mac, where: i.macWhere, reason: `interface ${i.name}: ${i.mac} is a ${i.mac === "ff:ff:ff:ff:ff:ff" ? "broadcast" : "multicast"} MAC address, not one an interface can have` });
  }
  for (const n of cfg.neighbours) {
    if (isMulticastMac(n.mac)) out.push({ file: n.file, line: n.line, keyword: n.mac, where: n.macWhere, reason: `neighbour ${n.address}: ${n.mac} is a broadcast or multicast MAC address` });
  }
  for (const s of cfg.services) {
    if (s.fwmark !== undefined) { /* matched by its mark: no address of its own */ }
    else if (s.address === "0.0.0.0" || s.address === "255.255.255.255") out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `a virtual address cannot be ${s.address}` });
    else if (notUnicast(s.address, subnets)) out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `${notUnicast(s.address, subnets)}: a virtual address must be a unicast address` });
    else if (own.has(s.address)) out.push({ line: s.line, keyword: words.svc, where: s.where, reason: `${s.address} is the director's own address (interface ${own.get(s.address)}): a VIP must be an address of its own` });
    // The sorry server stands in for the real servers: the same rules apply to it.
    const sorry = s.health?.sorry ? [{ address: s.health.sorry.address, line: s.health.sorry.line, keyword: "sorry_server", where: s.health.sorry.where }] : [];
    for (const r of [...s.realServers.map((x) => ({ ...x, keyword: words.rs })), ...sorry]) {
      const why = r.address === "0.0.0.0" || r.address === "255.255.255.255" ? `a real server cannot be ${r.address}`
        : notUnicast(r.address, subnets) ? `real server ${r.address}: ${notUnicast(r.address, subnets)}: a real server must be a unicast address (IPVS: "address not unicast")`
        : vips.has(r.address) ? `real server ${r.address} is a virtual address of this director`
          : own.has(r.address) ? `real server ${r.address} is the director's own address (interface ${own.get(r.address)})` : undefined;
      if (why) out.push({ line: r.line, keyword: r.keyword, where: r.where, reason: why });
    }
    for (const r of s.realServers) {
      const why = thresholdProblem(cfg, r);
      if (why) out.push({ line: r.line, keyword: words.rs, where: r.where, reason: `real server ${r.address}:${r.port}: ${why}` });
    }
  }
  return out;
}
