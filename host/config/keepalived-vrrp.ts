// keepalived.conf's vrrp_instance, vrrp_sync_group and vrrp_script blocks, static routes and
// addresses, and VRRP's global_defs (keepalived/vrrp/vrrp_parser.c, vrrp_track.c), read into
// host/config/vrrp.ts's model. What wasmvs does not do yet is refused with its position
// (policy routing, AH, strict mode, process and BFD tracking).

import { interfaceNamed, onLinkIndex, standIns } from "./rules.js";
import type { DirectorConfig, ErrorList, RouteConfig } from "./rules.js";
import { routeParsed } from "./director.js";
import { AddressError, formatIp, isLinkLocal6, isMulticast6, isUnicast6, parseIp, parseIp6, type Ip6Words, type IpAddr } from "../engine/addr.js";
import { arg, carryOn, fail, isStrict, int, ip, leaf, noInterface, noMoreArgs, Node, refusedWithin, Tok, unknown, value, warn } from "./keepalived-grammar.js";
import { classify } from "./keepalived-keywords.js";
import { notifyUser, seconds, userIds } from "./keepalived-checks.js";
import { SCRIPT_PATH, type FifoConfig, type Script } from "./health.js";
import { ENGINE_FORWARDS_IPV6, notSupported } from "./features.js";
import { ROUTE_NOT_YET, routeWordNotYet, SYNC_GROUP_NOT_YET, VRRP_NOT_YET } from "./not-yet.js";
import { accessSync, constants } from "node:fs";
import { linkLocalOf, SyncDaemonConfig, TrackedInterface, TrackWeight, VRRP_DEFAULTS, VRRP_SCRIPT_DEFAULTS, VrrpInstanceConfig, VrrpScriptConfig,
  VrrpSyncGroupConfig } from "./vrrp.js";

/** global_defs keywords of VRRP that set defaults for every instance. */
export interface VrrpGlobals {
  version?: 2 | 3;
  garpMasterDelayMs?: number;
  garpMasterRepeat?: number;
  garpMasterRefreshMs?: number;
  garpMasterRefreshRepeat?: number;
  downTimerAdverts?: number;
  /** vrrp_min_garp: one gratuitous ARP at becoming master, none after (unless set otherwise). */
  minGarp?: boolean;
  skipCheckAdvAddr?: boolean;
  /** vrrp_mcast_group6: where IPv6 instances advertise (keepalived's default ff02::12). */
  mcastGroup6?: string;
  /** vrrp_gna_interval: the pause between two unsolicited neighbour advertisements of a burst (ms; 0: none). */
  gnaIntervalMs?: number;
  /** default_interface: a static address's interface when it names none (vrrp_ipaddress.c). */
  defaultInterface?: Tok;
  /** smtp_alert_vrrp, else global_defs' smtp_alert: whether instances and groups mail by default. */
  smtpAlert?: boolean;
  /** notify_fifo and vrrp_notify_fifo (with their scripts), by keyword. */
  fifos?: Record<string, FifoConfig & { tok: Tok; scriptTok?: Tok }>;
}
export const GLOBAL_VRRP_KEYS = ["vrrp_version", "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "lvs_sync_daemon", "notify_fifo", "notify_fifo_script",
  "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat",
  "vrrp_down_timer_adverts", "vrrp_min_garp", "vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "default_interface", "smtp_alert_vrrp",
  "vrrp_mcast_group6", "vrrp_gna_interval"];

/** An IPv6 address of the configuration (an Ip6Words) or a refusal at t. */
function ip6(t: Tok, what: string): Ip6Words {
  try {
    return parseIp6(t.text);
  } catch (e) {
    if (e instanceof AddressError) return fail(t, `${what}: ${e.message}`);
    throw e;
  }
}

/** keepalived's check_true_false: a flag with an optional on/off word (none: on). */
export function onOffFlag(n: Node): boolean {
  leaf(n);
  noMoreArgs(n, 1);
  const w = n.args[0]?.text.toLowerCase();
  if (w === undefined || ["on", "true", "yes"].includes(w)) return true;
  if (["off", "false", "no"].includes(w)) return false;
  return fail(n.args[0], "expected on or off");
}

/** No `id`: keepalived takes the instance's virtual_router_id (vrrp.c). */
export const SYNCID_UNSET = -1;

/** global_defs' lvs_sync_daemon (checked against the instances once they are all read). */
export function syncDaemon(n: Node, cfg: DirectorConfig): SyncDaemonConfig & { instanceTok?: Tok } {
  leaf(n);
  const ifTok = arg(n, 0, "an interface");
  const iface = interfaceNamed(cfg, ifTok.text);
  if (!iface) noInterface(ifTok, cfg);
  const out: SyncDaemonConfig & { instanceTok?: Tok } = { ifindex: iface!.index, interfaceName: iface!.name, instance: "", syncid: SYNCID_UNSET, maxlen: 1472, line: n.key.line };
  let k = 1;
  if (n.args[k] && !["id", "maxlen", "port", "ttl", "group"].includes(n.args[k].text)) { out.instanceTok = n.args[k]; out.instance = n.args[k].text; k++; }
  for (; k < n.args.length; k += 2) {
    const key = n.args[k];
    const v = arg(n, k + 1, `a value after ${key.text}`);
    if (key.text === "id") out.syncid = int(v, 0, 255, "id");
    else if (key.text === "maxlen") out.maxlen = int(v, 44, 1472, "maxlen");
    else if (key.text === "port") { if (v.text !== "8848") fail(v, "only the IPVS sync port 8848 is supported by wasmvs yet"); }
    else if (key.text === "ttl") { if (v.text !== "1") fail(v, "only TTL 1 (the segment) is supported by wasmvs yet"); }
    else if (key.text === "group") {
      const g = ip(v, "an address");
      const first = Number(g.split(".")[0]);
      if (first >= 224 && first <= 239 && g !== "224.0.0.81") fail(v, SYNC_GROUP_NOT_YET);
      if (g !== "224.0.0.81") out.peer = g;
    }
    else fail(key, "expected a vrrp_instance name, id, maxlen, port, ttl or group");
  }
  return out;
}

export function globalVrrpKeyword(n: Node, g: VrrpGlobals): boolean {
  switch (n.key.text) {
    case "vrrp_version": leaf(n); g.version = versionOf(arg(n, 0, "2 or 3")); noMoreArgs(n, 1); return true;
    case "vrrp_garp_master_delay": leaf(n); g.garpMasterDelayMs = int(arg(n, 0, "seconds"), 0, 1000, "vrrp_garp_master_delay") * 1000; noMoreArgs(n, 1); return true;
    case "vrrp_garp_master_repeat": leaf(n); g.garpMasterRepeat = int(arg(n, 0, "a count"), 1, 255, "vrrp_garp_master_repeat"); noMoreArgs(n, 1); return true;
    // Instances' defaults for the keywords of the same name without vrrp_ (vrrp_parser.c).
    case "vrrp_garp_master_refresh": leaf(n); g.garpMasterRefreshMs = int(arg(n, 0, "seconds (0: off)"), 0, 86400, n.key.text) * 1000; noMoreArgs(n, 1); return true;
    case "vrrp_garp_master_refresh_repeat": leaf(n); g.garpMasterRefreshRepeat = int(arg(n, 0, "a count"), 1, 255, n.key.text); noMoreArgs(n, 1); return true;
    case "vrrp_down_timer_adverts": leaf(n); g.downTimerAdverts = int(arg(n, 0, "a count"), 1, 100, n.key.text); noMoreArgs(n, 1); return true;
    case "vrrp_min_garp": g.minGarp = onOffFlag(n); return true;
    case "vrrp_skip_check_adv_addr": g.skipCheckAdvAddr = onOffFlag(n); return true;
    // Always on here, as check_unicast_src (an advert from other than a unicast peer is dropped).
    case "vrrp_check_unicast_src": leaf(n); noMoreArgs(n, 0); return true;
    case "default_interface": leaf(n); g.defaultInterface = arg(n, 0, "an interface"); noMoreArgs(n, 1); return true;
    case "smtp_alert_vrrp": g.smtpAlert = onOffFlag(n); return true;
    case "vrrp_mcast_group6": {
      // keepalived's global_parser.c: an IPv6 multicast address ("should be link-local multicast" otherwise).
      leaf(n);
      const t = arg(n, 0, "an IPv6 multicast address");
      if (!t.text.includes(":")) fail(t, `vrrp_mcast_group6 [${t.text}] is not IPv6`);
      const a = ip6(t, "vrrp_mcast_group6");
      if (!isMulticast6(a)) fail(t, `vrrp_mcast_group6 [${t.text}] is not multicast`);
      if ((a[0] & 0x0f00) !== 0x0200) warn(t, `vrrp_mcast_group6 [${t.text}] should be link-local multicast (as keepalived warns)`);
      g.mcastGroup6 = formatIp(a);
      noMoreArgs(n, 1);
      return true;
    }
    case "vrrp_gna_interval": {
      // Seconds with up to 6 decimals (global_parser.c read_decimal_unsigned_strvec). keepalived
      // calls 0 out of range and keeps its default, which is 0 (no pause): 0 is read as that
      // (sample files write it).
      leaf(n);
      const t = arg(n, 0, "seconds");
      if (!/^\d+(\.\d{1,6})?$/.test(t.text)) fail(t, `vrrp_gna_interval '${t.text}' is invalid`);
      g.gnaIntervalMs = Number(t.text) * 1000;
      if (g.gnaIntervalMs >= 1000) warn(t, `The vrrp_gna_interval is very large - ${t.text} seconds (as keepalived says)`);
      noMoreArgs(n, 1);
      return true;
    }
    case "notify_fifo":
    case "vrrp_notify_fifo":
    case "lvs_notify_fifo": {
      // PATH [USER [GROUP]] (keepalived's global_parser.c notify_fifo).
      leaf(n);
      const path = arg(n, 0, "the FIFO's path");
      if (!path.text.startsWith("/")) fail(path, "a FIFO needs an absolute path");
      const user = n.args[1];
      if (user) value(user, (x) => userIds(x));
      noMoreArgs(n, 3);
      const fifos = (g.fifos ??= {});
      if (fifos[n.key.text]) fail(n.key, `${n.key.text} is already set (line ${fifos[n.key.text].tok.line})`);
      fifos[n.key.text] = { ...fifos[n.key.text], kind: fifoKind(n.key.text), path: path.text, user: user?.text, tok: n.key };
      return true;
    }
    case "notify_fifo_script":
    case "vrrp_notify_fifo_script":
    case "lvs_notify_fifo_script": {
      // SCRIPT [USER]: run at start with the FIFO's name appended.
      leaf(n);
      const first = arg(n, 0, "a script");
      const argv = first.quoted ? first.text.split(/\s+/).filter(Boolean) : [first.text];
      if (!argv[0]?.startsWith("/")) fail(first, "a script needs an absolute path");
      const user = n.args[1];
      if (user) value(user, (x) => userIds(x));
      noMoreArgs(n, 2);
      const key = n.key.text.replace(/_script$/, "");
      const fifos = (g.fifos ??= {});
      if (fifos[key]?.script) fail(n.key, `${n.key.text} is already set`);
      fifos[key] = { ...(fifos[key] ?? { kind: fifoKind(key), path: "", tok: n.key }), script: { argv, where: { file: first.file, line: first.line, column: first.column } },
        scriptUser: user?.text, scriptTok: n.key };
      return true;
    }
  }
  return false;
}

const fifoKind = (key: string): FifoConfig["kind"] => (key.startsWith("vrrp_") ? "vrrp" : key.startsWith("lvs_") ? "lvs" : "all");

/** The FIFOs of global_defs, checked (a script needs its FIFO). */
export function notifyFifos(g: VrrpGlobals): FifoConfig[] {
  return Object.values(g.fifos ?? {}).map(({ tok, scriptTok, ...f }) => {
    if (!f.path) fail(scriptTok ?? tok, `${(scriptTok ?? tok).text} needs ${(scriptTok ?? tok).text.replace(/_script$/, "")} (the FIFO it reads)`);
    return f;
  });
}

function versionOf(t: Tok): 2 | 3 {
  if (t.text !== "2" && t.text !== "3") fail(t, "expected 2 or 3");
  return Number(t.text) as 2 | 3;
}

const KEYS = ["interface", "state", "virtual_router_id", "priority", "advert_int", "nopreempt", "preempt", "preempt_delay", "authentication",
  "virtual_ipaddress", "notify", "notify_master", "notify_backup", "notify_fault", "notify_stop", "version", "garp_master_delay",
  "garp_master_repeat", "down_timer_adverts", "smtp_alert", "track_script", "track_interface", "dont_track_primary",
  "lvs_sync_daemon_interface", "unicast_peer", "unicast_src_ip", "mcast_src_ip", "check_unicast_src", "virtual_routes", "use_vmac", "vmac_xmit_base", "virtual_ipaddress_excluded", "garp_master_refresh", "garp_master_refresh_repeat", "accept", "track_file",
  "skip_check_adv_addr"];

/** A notify script. keepalived (notify.c check_script_secure) looks a bare program name up in
 *  PATH when it reads the file, and disables the script if it is not there ("Cannot find
 *  script in path - disabling"): wasmvs does the same and says which it found. undefined:
 *  disabled. A relative path with a '/' (realpath from keepalived's working directory) is refused. */
function script(n: Node): Script | undefined {
  leaf(n);
  const first = arg(n, 0, "a script (a path and its arguments)");
  // keepalived (notify.c notify_script_init) takes the command from the first word (quoted
  // when it has arguments) and the words after it as USER [GROUP] to run it as.
  const argv = first.quoted ? first.text.split(/\s+/).filter(Boolean) : [first.text];
  const where = { file: first.file, line: first.line, column: first.column };
  if (!notifyUser(n, `for arguments, quote the command: ${n.key.text} "${n.args.map((a) => a.text).join(" ")}"`)) return undefined;
  if (argv[0] && !argv[0].includes("/")) {
    const found = resolveCommand(argv[0]);
    const t = { ...first, text: argv[0] };
    if (!found) {
      carryOn(t, "a script needs an absolute path", `a bare program name, not found in PATH (${SCRIPT_PATH}): ${n.key.text} is disabled, as keepalived disables it ("Cannot find script in path")`);
      return undefined;
    }
    carryOn(t, "a script needs an absolute path", `a bare program name: ${found}, found in PATH (${SCRIPT_PATH}) as keepalived looks it up, is run as ${[found, ...argv.slice(1)].join(" ")}`);
    return { argv: [found, ...argv.slice(1)], where };
  }
  if (!argv[0]?.startsWith("/")) fail(first, "a script needs an absolute path");
  return { argv, where };
}
const tokOfFirst = (n: Node, k: string) => n.children!.find((c) => c.key.text === k)?.key ?? n.key;

/** keepalived's inet_stosockaddr (lib/utils.c) drops "/PREFIX" or "-RANGE" from an address it
 *  takes as a host's (unicast_peer, unicast_src_ip), silently: wasmvs does the same and says so. */
function prefixDropped(t: Tok, what: string): Tok {
  const m = /^([^/-]+)[/-]/.exec(t.text);
  if (!m) return t;
  carryOn(t, `${what} must be an IPv4 address, got "${t.text}"`, `read as ${m[1]}, as keepalived drops what follows '${t.text[m[1].length]}'`);
  return { ...t, text: m[1] };
}

/** keepalived keeps the first of a notify script given twice ("script already specified - ignoring"). */
function notifyOnce(c: Node, had: Script | undefined, owner: string): Script | undefined {
  if (!had) return script(c);
  leaf(c);
  carryOn(c.key, `${c.key.text} is already set (line ${had.where?.line})`, `ignored, as keepalived keeps the first ("${owner} ${c.key.text} script already specified - ignoring")`);
  return had;
}

/** One vrrp_instance block. cfg: for the director's interfaces (the instance's interface
 *  and each address's `dev` are director interface names). Every error goes to errs, and
 *  what could be read is returned all the same (failed: some error was its own), so that
 *  what names the instance is not refused for it. */
export function vrrpInstance(n: Node, cfg: DirectorConfig, g: VrrpGlobals, errs: ErrorList): VrrpInstanceConfig & { failed?: boolean } {
  const name = arg(n, 0, "a name");
  const before = errs.errors.length;
  errs.attempt(() => noMoreArgs(n, 1));
  if (!n.children) fail(n.key, "vrrp_instance needs a block");
  const ifaceOf = (t: Tok) => {
    const i = interfaceNamed(cfg, t.text);
    if (!i) noInterface(t, cfg);
    return i!;
  };
  let iface: { index: number; name: string } | undefined;
  let vrid: number | undefined;
  const v: Partial<VrrpInstanceConfig> & { addresses: string[]; addressIfindex: number[]; addressDev: (Tok | undefined)[] } = {
    addresses: [], addressIfindex: [], addressDev: [],
  };
  const trackScripts: PendingTrackScript[] = [];
  const trackFiles: PendingTrackScript[] = [];
  const trackInterfaces: TrackedInterface[] = [];
  let dontTrackPrimary = false;
  let syncInterface: { tok: Tok; ifindex: number; interfaceName: string } | undefined;
  let srcIp: { tok: Tok; key: Tok } | undefined;
  const excludedToks: { address: string; dev?: Tok }[] = [];
  let family: 4 | 6 | undefined;
  // Every keyword is checked on its own: all errors of a block are reported, not only the first.
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    if (Object.hasOwn(VRRP_NOT_YET, k)) fail(c.key, VRRP_NOT_YET[k]);
    switch (k) {
      case "interface": iface = ifaceOf(arg(c, 0, "an interface")); noMoreArgs(c, 1); leaf(c); break;
      case "state": {
        leaf(c);
        const s = arg(c, 0, "MASTER or BACKUP");
        // keepalived (vrrp_parser.c vrrp_state_handler) compares in capitals and takes BACKUP for anything else.
        if (s.text !== "MASTER" && s.text !== "BACKUP") carryOn(s, "expected MASTER or BACKUP", `BACKUP, as keepalived ("unknown state '${s.text}', defaulting to BACKUP")`);
        v.initialMaster = s.text === "MASTER";
        break;
      }
      case "virtual_router_id": leaf(c); vrid = int(arg(c, 0, "1-255"), 1, 255, "virtual_router_id"); noMoreArgs(c, 1); break;
      case "priority": {
        leaf(c);
        const p = arg(c, 0, "1-255");
        // keepalived (vrrp_prio_handler): "Priority not valid! ... Using default 100".
        if (!/^\d+$/.test(p.text) || Number(p.text) < 1 || Number(p.text) > 255) {
          carryOn(p, "priority must be a whole number from 1 to 255", `${VRRP_DEFAULTS.priority}, keepalived's default ("Priority not valid! ... Using default ${VRRP_DEFAULTS.priority}")`);
          v.priority = VRRP_DEFAULTS.priority;
        } else v.priority = Number(p.text);
        noMoreArgs(c, 1);
        break;
      }
      case "advert_int": leaf(c); v.advertIntMs = value(arg(c, 0, "seconds"), (x) => seconds(x, 10, 255_000, "advert_int")); noMoreArgs(c, 1); break;
      case "nopreempt": leaf(c); noMoreArgs(c, 0); v.preempt = false; break;
      case "preempt":
        leaf(c);
        // keepalived's vrrp_preempt_handler reads no argument: `preempt delay 300` sets no delay.
        if (c.args.length) carryOn(c.args[0], "unexpected argument to preempt", "ignored, as keepalived ignores words after preempt (no delay is set: preempt_delay SECONDS sets one)");
        v.preempt = true;
        break;
      case "preempt_delay": leaf(c); v.preemptDelayMs = value(arg(c, 0, "seconds"), (x) => seconds(x, 0, 1_000_000, "preempt_delay")); noMoreArgs(c, 1); break;
      case "version": leaf(c); v.version = versionOf(arg(c, 0, "2 or 3")); noMoreArgs(c, 1); break;
      case "garp_master_delay": leaf(c); v.garpMasterDelayMs = int(arg(c, 0, "seconds"), 0, 1000, "garp_master_delay") * 1000; noMoreArgs(c, 1); break;
      case "garp_master_repeat": leaf(c); v.garpMasterRepeat = int(arg(c, 0, "a count"), 1, 255, "garp_master_repeat"); noMoreArgs(c, 1); break;
      case "skip_check_adv_addr": v.skipCheckAdvAddr = onOffFlag(c); break;
      case "down_timer_adverts": leaf(c); v.downTimerAdverts = int(arg(c, 0, "a count"), 1, 100, "down_timer_adverts"); noMoreArgs(c, 1); break;
      case "lvs_sync_daemon_interface": {
        // keepalived 1's form, still read by keepalived 2 (deprecated there): the global
        // lvs_sync_daemon on that interface, following this instance.
        leaf(c);
        const i = ifaceOf(arg(c, 0, "an interface"));
        noMoreArgs(c, 1);
        syncInterface = { tok: c.key, ifindex: i.index, interfaceName: i.name };
        break;
      }
      case "dont_track_primary": leaf(c); noMoreArgs(c, 0); dontTrackPrimary = true; break;
      case "unicast_peer":
        if (!c.children) fail(c.key, "unicast_peer needs a block of addresses");
        for (const a of c.children!) errs.attempt(() => {
          if (a.children) fail(a.key, "an address, not a block");
          const peerTok = prefixDropped(a.key, "a peer address");
          const peer = peerTok.text.includes(":") ? formatIp(ip6(peerTok, "a peer address")) : ip(peerTok, "a peer address");
          if (a.args[0]) fail(a.args[0], `${a.args[0].text}: peer options (min_ttl, max_ttl) are not supported by wasmvs yet`);
          if ((v.unicastPeers ??= []).includes(peer)) fail(a.key, `${peer} is listed twice`);
          v.unicastPeers.push(peer);
        });
        break;
      case "unicast_src_ip":
      case "mcast_src_ip": {
        // The engine has one address per interface: adverts leave from it.
        leaf(c);
        const t = arg(c, 0, "an address");
        srcIp = { tok: prefixDropped(t, "the source address"), key: c.key };
        noMoreArgs(c, 1);
        break;
      }
      case "native_ipv6":
        // vrrp_parser.c: the instance is IPv6 (version 3) whatever its addresses.
        leaf(c);
        noMoreArgs(c, 0);
        if (family === 4) fail(c.key, `(${name.text}) Cannot specify native_ipv6 with IPv4 addresses`);
        family = 6;
        break;
      case "check_unicast_src": leaf(c); noMoreArgs(c, 0); break; // always on: adverts from others than the peers are dropped
      case "use_vmac":
        // [NAME]: keepalived's name for the macvlan device; the engine needs no device.
        leaf(c);
        noMoreArgs(c, 1);
        v.vmac = true;
        break;
      case "vmac_xmit_base": leaf(c); noMoreArgs(c, 0); v.vmacXmitBase = true; break;
      case "virtual_routes":
        if (!c.children) fail(c.key, "virtual_routes needs a block of routes");
        for (const r of c.children!) errs.attempt(() => {
          const { cidr, via, ifindex, line } = routeLine(r, cfg);
          (v.virtualRoutes ??= []).push({ cidr, via, ifindex, line });
        });
        break;
      case "track_script":
        if (!c.children) fail(c.key, "track_script needs a block of vrrp_script names");
        for (const t of c.children!) errs.attempt(() => {
          if (t.children) fail(t.key, "a vrrp_script name, not a block");
          trackScripts.push({ tok: t.key, ...trackWeight(t, true) });
        });
        break;
      case "track_file":
        // Names of top-level track_file blocks, resolved once the file is read.
        if (!c.children) fail(c.key, "track_file needs a block of track_file names");
        for (const t of c.children!) errs.attempt(() => {
          if (t.children) fail(t.key, "a track_file name, not a block");
          trackFiles.push({ tok: t.key, ...trackWeight(t, true) });
        });
        break;
      case "track_interface":
        if (!c.children) fail(c.key, "track_interface needs a block of interfaces");
        for (const t of c.children!) errs.attempt(() => {
          if (t.children) fail(t.key, "an interface name, not a block");
          const i = ifaceOf(t.key);
          if (trackInterfaces.some((x) => x.ifindex === i.index)) fail(t.key, `${i.name} is tracked twice`);
          const w = trackWeight(t, false);
          trackInterfaces.push({ ifindex: i.index, interfaceName: i.name, weight: w.weight ?? 0, reverse: w.reverse ?? false });
        });
        break;
      case "notify": v.notify = notifyOnce(c, v.notify, `(${name.text})`); break;
      case "notify_master": v.notifyMaster = notifyOnce(c, v.notifyMaster, `(${name.text})`); break;
      case "notify_backup": v.notifyBackup = notifyOnce(c, v.notifyBackup, `(${name.text})`); break;
      case "notify_fault": v.notifyFault = notifyOnce(c, v.notifyFault, `(${name.text})`); break;
      case "notify_stop": v.notifyStop = notifyOnce(c, v.notifyStop, `(${name.text})`); break;
      case "smtp_alert": {
        leaf(c);
        const w = c.args[0]?.text;
        noMoreArgs(c, 1);
        if (w !== undefined && !["on", "off", "true", "false", "yes", "no"].includes(w)) fail(c.args[0], "expected on or off");
        v.smtpAlert = w === undefined || ["on", "true", "yes"].includes(w);
        break;
      }
      case "authentication": {
        if (!c.children) fail(c.key, "authentication needs a block (auth_type, auth_pass)");
        let type: string | undefined;
        for (const a of c.children!) errs.attempt(() => {
          if (a.key.text === "auth_type") {
            const t = arg(a, 0, "PASS or AH");
            if (t.text === "AH") fail(t, "AH authentication is not supported by wasmvs yet (RFC 5798 dropped it: use PASS or none)");
            if (t.text !== "PASS") fail(t, "expected PASS or AH");
            type = t.text;
          } else if (a.key.text === "auth_pass") {
            const p = arg(a, 0, "a password");
            // The advert's 8 bytes (RFC 2338 5.3.10): keepalived truncates a longer one and says so.
            if (p.text.length > 8 && isStrict()) fail(p, "auth_pass is longer than 8 characters (keepalived truncates it)");
            if (p.text.length > 8) warn(p, "auth_pass is longer than 8 characters: only its first 8 are used, as keepalived truncates it");
            v.authPass = p.text.slice(0, 8);
          } else unknown(a, ["auth_type", "auth_pass"], "authentication", "vrrp_instance/authentication");
        });
        // (One that is there but was refused is not called missing.)
        const has = (k: string) => c.children!.some((a) => a.key.text === k);
        // keepalived (vrrp_parser.c) keeps the password but its auth_type stays none: adverts
        // without authentication, and not a word said (keepalived -t exits 0).
        if (!has("auth_type") && v.authPass !== undefined) {
          carryOn(c.key, "auth_pass without auth_type", "this instance runs WITHOUT authentication (its adverts carry none and it takes adverts without), " +
            "as keepalived does (its auth_type is none unless given, and it says nothing): add auth_type PASS for the password to be used");
          v.authPass = undefined;
        }
        // keepalived (vrrp.c): "Authentication specified but no password given. Ignoring": no authentication.
        if (type && !has("auth_pass")) {
          carryOn(c.key, "auth_type PASS needs auth_pass", "this instance runs WITHOUT authentication (its adverts carry none and it takes adverts without), " +
            'as keepalived does ("Authentication specified but no password given. Ignoring"): a peer with auth_pass will not accept its adverts');
        }
        break;
      }
      case "virtual_ipaddress":
      case "virtual_ipaddress_excluded": {
        if (!c.children) fail(c.key, `${k} needs a block of addresses`);
        const excluded = k === "virtual_ipaddress_excluded";
        for (const a of c.children!) errs.attempt(() => {
          const [addr] = a.key.text.split("/");
          const six = addr.includes(":");
          const address = six ? formatIp(ip6({ ...a.key, text: addr }, "the virtual address")) : ip({ ...a.key, text: addr }, "the virtual address");
          if (six && !isUnicast6(parseIp6(address))) fail(a.key, `${addr}: a virtual address must be unicast (Linux refuses a multicast, :: or ::1 address on an interface)`);
          // keepalived: an instance is of one family, its first virtual_ipaddress's (or
          // native_ipv6's); an address of the other is skipped. virtual_ipaddress_excluded
          // may hold both (it is how keepalived carries the other family's addresses).
          if (!excluded) {
            family ??= six ? 6 : 4;
            if (family !== (six ? 6 : 4)) {
              carryOn(a.key, `an address of the other family than the instance's (IPv${family})`, `skipped, as keepalived ("(${name.text}): address family must match VRRP instance [${addr}] - ignoring"): put it in virtual_ipaddress_excluded`);
              return;
            }
          }
          let dev: Tok | undefined;
          for (let k2 = 0; k2 < a.args.length; k2++) {
            const w = a.args[k2];
            if (w.text === "dev") { dev = arg(a, k2 + 1, "an interface"); ifaceOf(dev); k2++; }
            else if (w.text === "label" || w.text === "brd" || w.text === "scope") k2++; // kernel address attributes: no meaning without a kernel address
            else fail(w, "expected dev IFNAME (or label, brd, scope)");
          }
          if (excluded) excludedToks.push({ address, dev });
          else {
            v.addresses.push(address);
            v.addressDev.push(dev);
          }
        });
        break;
      }
      case "garp_master_refresh": leaf(c); v.garpMasterRefreshMs = int(arg(c, 0, "seconds (0: off)"), 0, 86400, "garp_master_refresh") * 1000; noMoreArgs(c, 1); break;
      case "garp_master_refresh_repeat": leaf(c); v.garpMasterRefreshRepeat = int(arg(c, 0, "a count"), 1, 255, "garp_master_refresh_repeat"); noMoreArgs(c, 1); break;
      // keepalived's default outside strict mode: the master takes the addresses' traffic, as the engine does.
      case "accept": leaf(c); noMoreArgs(c, 0); break;
      default:
        unknown(c, KEYS, "vrrp_instance", "vrrp_instance");
    }
  });
  // What needs the whole block, each on its own (a missing keyword is named even when
  // another one was wrong; one that was there but refused is not called missing).
  const within = refusedWithin(errs, n);
  const said = (k: string) => within || n.children!.some((c) => c.key.text === k);
  errs.attempt(() => { if (!iface && !said("interface")) fail(n.key, "vrrp_instance needs an interface"); });
  errs.attempt(() => { if (vrid === undefined && !said("virtual_router_id")) fail(n.key, "vrrp_instance needs a virtual_router_id"); });
  errs.attempt(() => { if (!v.addresses.length && !said("virtual_ipaddress")) fail(n.key, "vrrp_instance needs virtual_ipaddress"); });
  errs.attempt(() => {
    if (!srcIp || !iface || standIns.has(cfg)) return; // a stand-in interface has no address to compare
    if (family === 6) {
      // RFC 5798 5.1.2.1: an IPv6 advert's source is the interface's link-local address.
      if (!srcIp.tok.text.includes(":")) fail(srcIp.tok, `Configuration error: VRRP instance[${name.text}] and src address[${srcIp.tok.text}] MUST be of the same family`);
      const own = linkLocalOf(cfg.interfaces, iface.index);
      if (own && formatIp(ip6(srcIp.tok, "the source address")) !== own) fail(srcIp.tok, `IPv6 adverts leave from ${iface!.name}'s link-local address ${own}`);
      return;
    }
    const own = cfg.interfaces.find((i) => i.index === iface!.index)?.address?.split("/")[0];
    if (srcIp.tok.text !== own) fail(srcIp.tok, `adverts leave from ${iface!.name}'s address ${own ?? "(none)"}: wasmvs has one address per interface`);
  });
  errs.attempt(() => {
    const wrong = (v.unicastPeers ?? []).find((p) => p.includes(":") !== (family === 6));
    const tok = n.children!.find((c) => c.key.text === "unicast_peer")?.children?.find((a) => a.key.text.startsWith(wrong ?? "\0"))?.key ?? n.key;
    if (wrong) fail(tok, `Peer address ${wrong} does not match address family`);
  });
  // keepalived (vrrp.c vrrp_complete_instance): in an IPv6 instance advertising by
  // multicast, the first address should be link-local (RFC 5798 5.2.9 wants the first
  // IPvX address to be the link-local one); keepalived only says so outside strict mode.
  if (family === 6 && !v.unicastPeers?.length && v.addresses.length && !isLinkLocal6(parseIp6(v.addresses[0]))) {
    warn(tokOfFirst(n, "virtual_ipaddress"), `(${name.text}) the first IPv6 VIP address should be link local (as keepalived says; RFC 5798 5.2.9)`);
  }
  errs.attempt(() => {
    // The rings' XDP program leaves IPv6 to the host's stack (README: what the host keeps).
    const on = iface;
    if (!on || family !== 6) return;
    const device = cfg.interfaces.find((i) => i.index === on.index)?.device;
    if (device !== undefined) {
      fail(tokOfFirst(n, "interface"), `an IPv6 instance on ${on.name}, attached by AF_XDP rings (device ${device}): their XDP program leaves IPv6 to the host, so no advert would reach wasmvs; run it on a TAP interface`);
    }
  });
  errs.attempt(() => { if (v.vmacXmitBase && !v.vmac) fail(n.key, "vmac_xmit_base needs use_vmac"); });
  errs.attempt(() => { if (v.vmac && family === 6) fail(tokOfFirst(n, "use_vmac"), "use_vmac in an IPv6 instance (keepalived's virtual MAC 00:00:5e:00:02:VRID) is not supported by wasmvs yet: without it the master answers for its addresses with the interface's MAC, as keepalived does by default"); });
  // keepalived (vrrp.c vrrp_complete_instance) derives what is not given from the other:
  // state MASTER without priority is the address owner (255), priority 255 without state is MASTER.
  if (v.priority === undefined && v.initialMaster === true) {
    warn(tokOfFirst(n, "state"), `state MASTER without priority: priority 255 (the address owner), as keepalived derives it ("If no priority has been set, derive it from the initial state"); write priority to choose another`);
    v.priority = 255;
  }
  if (v.initialMaster === undefined && v.priority === 255) v.initialMaster = true;
  // keepalived (vrrp.c vrrp_complete_instance) clears what cannot work, with a warning.
  const tokOf = (k: string) => [...n.children!].reverse().find((c) => c.key.text === k)?.key ?? n.key;
  errs.attempt(() => {
    if (v.preempt !== false) return;
    if (v.priority === 255) {
      carryOn(tokOf("nopreempt"), "nopreempt does not go with priority 255 (the address owner)", 'preempt, as keepalived ("nopreempt is incompatible with priority 255. resetting nopreempt")');
      v.preempt = true;
    } else if (v.initialMaster) {
      carryOn(tokOf("nopreempt"), "nopreempt does not go with state MASTER", 'preempt, as keepalived ("Warning - nopreempt will not work with initial state MASTER - clearing"): use state BACKUP on every peer for nopreempt');
      v.preempt = true;
    }
  });
  errs.attempt(() => {
    if (!v.preemptDelayMs) return;
    if (v.initialMaster) {
      carryOn(tokOf("preempt_delay"), "preempt_delay does not go with state MASTER", 'no delay, as keepalived ("Warning - preempt delay will not work with initial state MASTER - clearing")');
    } else if (v.preempt === false) {
      carryOn(tokOf("preempt_delay"), "preempt_delay does not go with nopreempt", 'no delay, as keepalived ("preempt_delay is incompatible with nopreempt mode - resetting")');
    } else return;
    v.preemptDelayMs = 0;
  });
  // keepalived: IPv6 is VRRP version 3 (global vrrp_version does not apply; an instance's
  // `version 2` is kept by keepalived outside strict mode, which no RFC defines: not here).
  if (family === 6 && v.version === 2) {
    carryOn(tokOfFirst(n, "version"), "VRRP over IPv6 is version 3 (RFC 5798)", `version 3, as keepalived's strict mode ("(${name.text}) cannot use IPv6 with VRRP version 2; setting version 3")`);
  }
  const version = family === 6 ? 3 : v.version ?? g.version ?? VRRP_DEFAULTS.version;
  const authTok = n.children!.find((c) => c.key.text === "authentication")?.key ?? n.key;
  const advertTok = n.children!.find((c) => c.key.text === "advert_int")?.args[0] ?? n.key;
  errs.attempt(() => { if (version === 3 && v.authPass !== undefined) fail(authTok, "VRRP version 3 has no authentication (RFC 5798): remove the authentication block or use version 2"); });
  const advertIntMs = v.advertIntMs ?? VRRP_DEFAULTS.advertIntMs;
  errs.attempt(() => { if (version === 2 && advertIntMs % 1000 !== 0) fail(advertTok, "VRRP version 2 adverts carry whole seconds: advert_int must be whole for version 2 (use version 3 for less)"); });
  errs.attempt(() => { if (version === 3 && advertIntMs > 40_950) fail(advertTok, "VRRP version 3 adverts carry at most 40.95 s"); });
  const failed = errs.errors.length > before;
  // A stand-in index for what was refused (the instance is then only a name to the rest).
  const indexOf = (d: Tok | undefined) => (d ? interfaceNamed(cfg, d.text)?.index ?? -1 : iface?.index ?? -1);
  return {
    failed,
    name: name.text, ifindex: iface?.index ?? -1, interfaceName: iface?.name ?? "", vrid: vrid ?? 0, priority: v.priority ?? VRRP_DEFAULTS.priority,
    initialMaster: v.initialMaster ?? false, version, advertIntMs,
    ...(family === 6 ? { ipv6: true, ...(ENGINE_FORWARDS_IPV6 ? { naRouter: true } : {}), ...(g.mcastGroup6 && g.mcastGroup6 !== "ff02::12" ? { mcastGroup6: g.mcastGroup6 } : {}) } : {}),
    ...(g.gnaIntervalMs ? { gnaIntervalMs: g.gnaIntervalMs } : {}), preempt: v.preempt ?? true, preemptDelayMs: v.preemptDelayMs ?? 0,
    authPass: v.authPass, addresses: v.addresses, addrs: v.addresses.map(parseIp), addressIfindex: v.addressDev.map(indexOf),
    // vrrp_min_garp: one gratuitous ARP, no second burst, where nothing else is set (global_parser.c).
    garpMasterDelayMs: v.garpMasterDelayMs ?? g.garpMasterDelayMs ?? (g.minGarp ? 0 : VRRP_DEFAULTS.garpMasterDelayMs),
    garpMasterRepeat: v.garpMasterRepeat ?? g.garpMasterRepeat ?? (g.minGarp ? 1 : VRRP_DEFAULTS.garpMasterRepeat),
    downTimerAdverts: v.downTimerAdverts ?? g.downTimerAdverts ?? VRRP_DEFAULTS.downTimerAdverts,
    notify: v.notify, notifyMaster: v.notifyMaster, notifyBackup: v.notifyBackup, notifyFault: v.notifyFault, notifyStop: v.notifyStop,
    // keepalived's vrrp.c: the instance's, else smtp_alert_vrrp, else global smtp_alert.
    smtpAlert: v.smtpAlert ?? g.smtpAlert ?? false,
    // The instance's own interface is tracked (weight 0) unless dont_track_primary
    // (keepalived: an instance whose interface goes down enters FAULT).
    trackInterfaces: dontTrackPrimary || !iface || trackInterfaces.some((x) => x.ifindex === iface!.index)
      ? trackInterfaces : [{ ifindex: iface!.index, interfaceName: iface!.name, weight: 0, reverse: false }, ...trackInterfaces],
    trackScripts: [],
    trackFiles: [],
    unicastPeers: v.unicastPeers,
    vmac: v.vmac,
    vmacXmitBase: v.vmacXmitBase,
    excludedAddresses: excludedToks.length ? excludedToks.map((x) => ({ address: x.address, addr: parseIp(x.address), ifindex: indexOf(x.dev) })) : undefined,
    garpMasterRefreshMs: v.garpMasterRefreshMs ?? g.garpMasterRefreshMs,
    garpMasterRefreshRepeat: v.garpMasterRefreshRepeat ?? g.garpMasterRefreshRepeat,
    ...(v.skipCheckAdvAddr ?? g.skipCheckAdvAddr ? { skipCheckAdvAddr: true } : {}),
    virtualRoutes: v.virtualRoutes,
    pendingScripts: trackScripts,
    pendingFiles: trackFiles,
    syncInterface,
    line: n.key.line,
  } as VrrpInstanceConfig & { failed: boolean; pendingScripts: PendingTrackScript[]; pendingFiles: PendingTrackScript[]; syncInterface?: { tok: Tok; ifindex: number; interfaceName: string } };
}

/** A track_script entry before the scripts are all read (its weight may come from the script). */
export interface PendingTrackScript {
  tok: Tok;
  weight?: number;
  reverse?: boolean;
}

/** `NAME [weight W [reverse|noreverse]]` of a track_script or track_interface entry
 *  (vrrp_track.c: -253..253; keepalived turns +/-254 into +/-253 with a warning, wasmvs says so). */
function trackWeight(t: Node, noreverse: boolean): Partial<TrackWeight> {
  if (!t.args.length) return {};
  if (t.args[0].text !== "weight") fail(t.args[0], "expected weight W [reverse]");
  const out: Partial<TrackWeight> = { weight: int(arg(t, 1, "a weight (-253..253)"), -253, 253, "weight") };
  const opt = t.args[2];
  if (opt) {
    if (opt.text === "reverse") out.reverse = true;
    else if (noreverse && opt.text === "noreverse") out.reverse = false;
    else fail(opt, noreverse ? "expected reverse or noreverse" : "expected reverse");
  }
  noMoreArgs(t, 3);
  return out;
}

const SCRIPT_KEYS = ["script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"];

/** A vrrp_script block. The command is found as keepalived finds it: an absolute path, or
 *  the first word searched in PATH; one that cannot be run is left out with a warning, as
 *  keepalived disables it (vrrp_parser.c, check_script_secure). */
export function vrrpScript(n: Node, errs: ErrorList): VrrpScriptConfig & { unusable?: string } {
  const name = arg(n, 0, "a name");
  noMoreArgs(n, 1);
  if (!n.children) fail(n.key, "vrrp_script needs a block (script, interval, weight, rise, fall ...)");
  const out: Partial<VrrpScriptConfig> & { unusable?: string } = { name: name.text, line: n.key.line };
  for (const c of n.children!) errs.attempt(() => {
    switch (c.key.text) {
      case "script": {
        leaf(c);
        const first = arg(c, 0, "a command");
        // keepalived (vrrp_vscript_script_handler, set_script_params_array) takes the command
        // line from the first word only (quoted when it has arguments): words after it are dropped.
        const argv = first.quoted ? first.text.split(/\s+/).filter(Boolean) : [first.text];
        if (c.args.length > 1) {
          carryOn(c.args[1], `unexpected argument to script (a command with arguments is quoted: script "${c.args.map((a) => a.text).join(" ")}")`,
            `ignored with the words after it: keepalived runs ${argv.join(" ")} alone, and so does wasmvs`);
        }
        if (!argv.length) fail(first, "expects a command");
        const found = resolveCommand(argv[0]);
        if (found) argv[0] = found;
        else out.unusable = `${first.file}:${first.line}: vrrp_script ${name.text}: ${argv[0]} cannot be found or run: tracking of it is disabled, as keepalived does`;
        out.script = { argv, where: { file: first.file, line: first.line, column: first.column } };
        break;
      }
      case "interval": leaf(c); out.intervalMs = value(arg(c, 0, "seconds"), (x) => seconds(x, 10, 86_400_000, "interval")); noMoreArgs(c, 1); break;
      case "timeout": leaf(c); out.timeoutMs = value(arg(c, 0, "seconds"), (x) => seconds(x, 10, 86_400_000, "timeout")); noMoreArgs(c, 1); break;
      case "weight": {
        leaf(c);
        out.weight = int(arg(c, 0, "a weight (-253..253)"), -253, 253, "weight");
        if (c.args[1] && c.args[1].text !== "reverse") fail(c.args[1], "expected reverse");
        out.reverse = !!c.args[1];
        noMoreArgs(c, 2);
        break;
      }
      case "rise": leaf(c); out.rise = int(arg(c, 0, "a count"), 1, 1_000_000, "rise"); noMoreArgs(c, 1); break;
      case "fall": leaf(c); out.fall = int(arg(c, 0, "a count"), 1, 1_000_000, "fall"); noMoreArgs(c, 1); break;
      case "user": {
        leaf(c);
        const u = arg(c, 0, "a user");
        value(u, (x) => userIds(x));
        out.user = u.text;
        break;
      }
      case "init_fail": leaf(c); noMoreArgs(c, 0); out.initFail = true; break;
      default: unknown(c, SCRIPT_KEYS, "vrrp_script", "vrrp_script");
    }
  });
  if (!out.script && !n.children!.some((c) => c.key.text === "script") && !refusedWithin(errs, n)) fail(n.key, "vrrp_script needs a script");
  if (!out.script) errs.check();
  const intervalMs = out.intervalMs ?? VRRP_SCRIPT_DEFAULTS.intervalMs;
  return {
    name: name.text, script: out.script!, intervalMs, timeoutMs: out.timeoutMs ?? intervalMs, weight: out.weight ?? VRRP_SCRIPT_DEFAULTS.weight,
    reverse: out.reverse ?? false, rise: out.rise ?? VRRP_SCRIPT_DEFAULTS.rise, fall: out.fall ?? VRRP_SCRIPT_DEFAULTS.fall,
    initFail: out.initFail ?? false, user: out.user, line: n.key.line, unusable: out.unusable,
  };
}

/** An absolute path that can be executed, or the first match in the scripts' PATH. */
function resolveCommand(cmd: string): string | undefined {
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (cmd.includes("/")) return cmd.startsWith("/") && runnable(cmd) ? cmd : undefined;
  for (const dir of SCRIPT_PATH.split(":")) if (runnable(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  return undefined;
}


/** A vrrp_sync_group block (members checked once every instance is read). */
/** A sync group's trackers: each member tracks them too (keepalived's vrrp_sync.c), with
 *  weight 0 — a failure is the whole group's FAULT — unless sync_group_tracking_weight. */
export interface GroupTrackers {
  scripts: PendingTrackScript[];
  files: PendingTrackScript[];
  interfaces: PendingTrackScript[];
  keepWeights: boolean;
}

export function vrrpSyncGroup(n: Node, errs: ErrorList): VrrpSyncGroupConfig & { memberToks: Tok[]; trackers: GroupTrackers } {
  const name = arg(n, 0, "a name");
  noMoreArgs(n, 1);
  if (!n.children) fail(n.key, "vrrp_sync_group needs a block (group { INSTANCE ... })");
  const g: VrrpSyncGroupConfig & { memberToks: Tok[]; trackers: GroupTrackers } = { name: name.text, members: [], memberToks: [], line: n.key.line,
    trackers: { scripts: [], files: [], interfaces: [], keepWeights: false } };
  const entries = (c: Node, into: PendingTrackScript[], what: string) => {
    if (!c.children) fail(c.key, `${c.key.text} needs a block of ${what}`);
    for (const t of c.children!) {
      if (t.children) fail(t.key, `a ${what.replace(/s$/, "")}, not a block`);
      into.push({ tok: t.key, ...trackWeight(t, c.key.text !== "track_interface") });
    }
  };
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    if (k === "group") {
      if (!c.children) fail(c.key, "group needs a block of vrrp_instance names");
      for (const m of c.children!) {
        if (m.children) fail(m.key, "an instance name, not a block");
        for (const t of [m.key, ...m.args]) { g.members.push(t.text); g.memberToks.push(t); }
      }
    } else if (k === "notify_master") g.notifyMaster = notifyOnce(c, g.notifyMaster, `vrrp group ${g.name}:`);
    else if (k === "notify_backup") g.notifyBackup = notifyOnce(c, g.notifyBackup, `vrrp group ${g.name}:`);
    else if (k === "notify") g.notify = notifyOnce(c, g.notify, `vrrp group ${g.name}:`);
    else if (k === "notify_fault") g.notifyFault = notifyOnce(c, g.notifyFault, `vrrp group ${g.name}:`);
    else if (k === "smtp_alert") { leaf(c); g.smtpAlert = c.args[0]?.text !== "off"; }
    else if (k === "track_script") entries(c, g.trackers.scripts, "vrrp_script names");
    else if (k === "track_file") entries(c, g.trackers.files, "track_file names");
    else if (k === "track_interface") entries(c, g.trackers.interfaces, "interfaces");
    else if (k === "sync_group_tracking_weight") { leaf(c); noMoreArgs(c, 0); g.trackers.keepWeights = true; }
    else if (["track_process", "track_bfd", "global_tracking", "notify_stop"].includes(k)) {
      fail(c.key, `${k} in a vrrp_sync_group is not supported by wasmvs yet`);
    } else if (!c.children && /^[A-Za-z_][\w.-]*$/.test(k) && !c.args.length && !classify("vrrp_sync_group", k)) {
      fail(c.key, "instance names go in a group { } block (keepalived 2's syntax: vrrp_sync_group NAME { group { VI_1 VI_2 } })");
    } else unknown(c, ["group", "notify_master", "notify_backup", "notify", "notify_fault", "smtp_alert", "track_script", "track_file", "track_interface",
      "sync_group_tracking_weight"], "vrrp_sync_group", "vrrp_sync_group");
  });
  // keepalived (vrrp_sync.c) keeps a group of one with a warning, and drops an empty one.
  if (g.members.length === 1) {
    if (isStrict()) fail(n.key, `vrrp_sync_group ${g.name} has only one instance (${g.members[0]})`);
    warn(n.key, `vrrp_sync_group ${g.name} has only one instance (${g.members[0]}): it runs as a group of one, as in keepalived ` +
      `("this probably isn't what you want")`);
  }
  if (g.members.length === 0) warn(n.key, `vrrp_sync_group ${g.name} has no instances: it is left out, as keepalived removes it`);
  return g;
}

/** A line of static_routes or virtual_routes (keepalived's vrrp_iproute.c grammar, which is
 *  ip route's): what the engine's routes have — a destination, a gateway (`via` or `gw`), an
 *  interface (`dev`; else the one whose subnet holds the gateway) — is taken; `scope` has no
 *  meaning without a kernel and is passed over (as for addresses); `src` must be one of the
 *  director's addresses; the rest is refused. */
export function routeLine(n: Node, cfg: DirectorConfig): RouteConfig & { ifindex: number; tok: Tok } {
  if (n.children) fail(n.key, "a route, not a block");
  const words = [n.key, ...n.args];
  let dest: Tok | undefined;
  let via: Tok | undefined;
  let dev: Tok | undefined;
  let src: Tok | undefined;
  for (let k = 0; k < words.length; k++) {
    const w = words[k];
    const next = () => { const x = words[k + 1]; if (!x) fail(w, `${w.text} needs a value`); k++; return x!; };
    if (w.text === "via" || w.text === "gw") via = next();
    else if (w.text === "dev") dev = next();
    else if (w.text === "src") src = next();
    else if (w.text === "scope") next();
    else if (ROUTE_NOT_YET.includes(w.text)) fail(w, routeWordNotYet(w.text));
    else if (!dest) dest = w;
    else fail(w, "expected via, gw, dev, src or scope");
  }
  if (!dest) fail(n.key, "a route needs a destination");
  const cidrText = dest!.text === "default" ? "0.0.0.0/0" : dest!.text.includes("/") ? dest!.text : `${dest!.text}/32`;
  if (cidrText.includes(":")) fail(dest!, notSupported("ipv6"));
  const [addr, len] = cidrText.split("/");
  ip({ ...dest!, text: addr }, "a destination");
  if (!/^\d+$/.test(len) || Number(len) > 32) fail(dest!, "a destination is ADDRESS[/PREFIX]");
  const gw = via ? ip(via, "a gateway") : undefined;
  let ifindex: number | undefined;
  if (dev) {
    const i = interfaceNamed(cfg, dev!.text);
    if (!i) noInterface(dev, cfg);
    ifindex = i!.index;
  } else if (gw) {
    ifindex = onLinkIndex(cfg, gw);
    if (ifindex === undefined) fail(via!, `gateway ${gw} is not on any interface's subnet (add dev INTERFACE)`);
  } else fail(n.key, "a route needs a gateway (via) or an interface (dev)");
  // src is the source the host picks for packets it makes through the route: the engine makes
  // none that way (replies leave from the address asked, adverts and sync from the
  // interface's), so it changes nothing — but, as the kernel requires, it must be ours.
  if (src && !cfg.interfaces.some((x) => x.address?.split("/")[0] === src!.text)) {
    fail(src, `src ${src.text} is not an address of this director (the kernel refuses it too)`);
  }
  return { cidr: cidrText, ...routeParsed(cidrText, gw), via: gw, dev: cfg.interfaces.find((x) => x.index === ifindex)!.name, line: n.key.line, ifindex: ifindex!, tok: dest! };
}

/** A static_ipaddress line: ADDR[/LEN] [dev IF] [label, brd, scope ...] (the kernel's address
 *  attributes mean nothing here); without dev, global_defs' default_interface as in keepalived
 *  (vrrp_ipaddress.c get_default_if), else the interface whose subnet holds it. */
export function staticAddress(n: Node, cfg: DirectorConfig, defaultInterface?: Tok): { address: string; addr: IpAddr; ifindex: number; line: number; where: { file: string; line: number; column: number; text: string } } {
  if (n.children) fail(n.key, "an address, not a block");
  const [addr] = n.key.text.split("/");
  if (addr.includes(":")) fail(n.key, notSupported("ipv6"));
  const address = ip({ ...n.key, text: addr }, "an address");
  let ifindex: number | undefined;
  for (let k = 0; k < n.args.length; k++) {
    const w = n.args[k];
    if (w.text === "dev") {
      const d = arg(n, k + 1, "an interface");
      const i = interfaceNamed(cfg, d.text);
      if (!i) noInterface(d, cfg);
      ifindex = i!.index;
      k++;
    } else if (["label", "brd", "scope", "broadcast", "peer"].includes(w.text)) k++;
    else fail(w, "expected dev IFNAME (or label, brd, scope)");
  }
  if (ifindex === undefined && defaultInterface) {
    const i = interfaceNamed(cfg, defaultInterface.text);
    if (!i) noInterface(defaultInterface, cfg);
    ifindex = i!.index;
  }
  ifindex ??= onLinkIndex(cfg, address);
  if (ifindex === undefined) fail(n.key, `${address} is not on any interface's subnet (add dev INTERFACE)`);
  return { address, addr: parseIp(address), ifindex: ifindex!, line: n.key.line, where: { file: n.key.file, line: n.key.line, column: n.key.column, text: n.key.text } };
}
