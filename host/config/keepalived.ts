// keepalived.conf for wasmvs: keepalived's block grammar (`keyword args { ... }`, `#`
// and `!` comments, quoted strings, `include` with globs), its LVS part
// (virtual_server, virtual_server_group, real_server, lb_algo/lvs_sched,
// lb_kind/lvs_method, protocol, sorry_server, lvs_timeouts), and one block of
// wasmvs's own, `director { ... }`, for what keepalived leaves to the kernel: the TAP
// interfaces, routes, neighbours, table size, control socket, metrics, offloads.
//
// The result is the same DirectorConfig the ipvsadm-rules format gives, so running,
// reloading, checking and replaying do not care which format a file is in. A keyword
// keepalived knows that no parser reads is ignored with a warning or refused as not
// supported yet, as keepalived-keywords.ts classifies it; one keepalived does not know
// is an unknown keyword, with the nearest known one suggested.

import { schedFlagBits } from "./ipvsadm.js";
import { resolve } from "node:path";
import type { VrrpInstanceConfig } from "./vrrp.js";
import { neighbourParsed, routeParsed, SIZE_SETTINGS, type SizeSetting } from "./director.js";
import {
  boundWarnings, checkAttachment, checkOffload, groupId, ConfigError, SCRAPER_WITHOUT_METRICS, ErrorList, DirectorConfig, InterfaceConfig, interfaceNamed, PartialConfig, Pos, RealServerConfig,
  ServiceConfig, sortErrors, STANDIN_MAC, standIns,
} from "./rules.js";
import { readSyncKey } from "./synckey.js";
import { InputError } from "./errors.js";
import { derivedMac, deviceName, interfaceAddress, interfaceIp6, ipAddress, macAddress, markRuleWords, markValue, maglevServices, maglevTableSize, maxRealServers, metricsRealServers, maxServices, schedulerMemory, listenEndpoint, mhTableSize, mtu, onOff, routeDestination, MAX_SCRAPER_LINES, scraperAddress, SettingError, tableShare, tableSize, wholeNumber } from "./settings.js";
import { hostPort, IP6_ANY, parseNetmask, persistence6, sameService, serverRefusal, serviceKey } from "./ipvsadm.js";
import { type IpAddr, parseIp, persistence as persistenceOf } from "../engine/index.js";
import { formatIp, type Ip6Words, parseIp6 } from "../engine/addr.js";
import { notSupported, schedulerProblem } from "./features.js";
import {
  checker, defaultGlobals, environmentReadCount, globalHealthKeyword, GLOBAL_HEALTH_KEYS, serverHealthKeyword, SERVER_HEALTH_KEYS, serviceHealthKeyword, SERVICE_HEALTH_KEYS,
  sslBlock, Timing, TrackFile, trackFileBlock,
} from "./keepalived-checks.js";
import { CheckerConfig, HEALTH_DEFAULTS, HealthGlobals, ServerHealth, ServiceHealth, uncheckedServices } from "./health.js";
import { globalVrrpKeyword, GLOBAL_VRRP_KEYS, notifyFifos, PendingTrackScript, routeLine, staticAddress, syncDaemon, SYNCID_UNSET, vrrpInstance, VrrpGlobals, vrrpScript, vrrpSyncGroup } from "./keepalived-vrrp.js";
import {
  addDirector, arg, carryOn, collectingWarnings, isStrict, fail, FileOrder, int, ip, leaf, noInterface, noMoreArgs, Node, parseBlocks, PlainBlock, plainBlock, scanStatements, ScannedBlock, Statement, statementNode, Tok,
  tokenize, unknown, value, warn, warnAgain, warningMark, warningsSince, keep,
} from "./keepalived-grammar.js";
import { readConfigFile } from "./rules.js";
import { LIMITS } from "./director.js";


const GLOBAL_KEYS = ["router_id", "lvs_timeouts", "vrrp_rt_priority"];
const VS_KEYS = ["lb_algo", "lvs_sched", "lb_kind", "lvs_method", "protocol", "real_server", "sorry_server", "sorry_server_lvs_method",
  "persistence_timeout", "persistence_granularity", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "ip_family"];
// keepalived's scheduler flags (check_parser.c lbflags_handler).
const SCHED_FLAG_KEYS = new Set(["flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback"]);
const RS_KEYS = ["weight", "uthreshold", "lthreshold", "lvs_method"];
const DIRECTOR_KEYS = ["interface", "route", "default_gateway", "neighbour", "neighbor", "mark", "connection_table_size", "control_socket", "control_group", "metrics", "metrics_scraper", "dashboard",
  "offload", "reject_unknown", "expire_nodest_conn", "expire_quiescent_template", "sloppy_tcp", "sync_table_share", "sync_auth_key_file", "mh_table_size", "maglev_services", "maglev_table_size", "max_services", "max_real_servers", "scheduler_memory", "metrics_real_servers"];
const IF_KEYS = ["tap", "bridge", "device", "mac", "address", "mtu"];
const TOP_KEYS = ["global_defs", "virtual_server", "virtual_server_group", "director", "track_file", "SSL", "vrrp_instance", "vrrp_sync_group", "vrrp_script", "static_routes", "static_ipaddress", "vrrp_track_file"];

function sched(t: Tok): ServiceConfig["scheduler"] {
  const problem = schedulerProblem(t.text);
  if (problem) fail(t, problem.reason);
  return t.text as ServiceConfig["scheduler"];
}
/** A forwarding method. keepalived (check_parser.c svr_forwarding_handler) takes NAT, DR and
 *  TUN in capitals only: another spelling is "unknown [dr] routing method" and leaves the
 *  method as it was — a virtual server's default NAT, a real server's its virtual server's.
 *  wasmvs does the same, so both peers forward alike, and says so; a word that is not a
 *  method at all is refused. undefined: unchanged. */
function method(t: Tok, what: string): RealServerConfig["method"] | undefined {
  const m = ({ NAT: "nat", DR: "dr", TUN: "tun" } as const)[t.text.toUpperCase() as "NAT" | "DR" | "TUN"];
  if (!m) fail(t, "expected NAT, DR or TUN");
  if (t.text === t.text.toUpperCase()) return m;
  if (isStrict()) fail(t, "expected NAT, DR or TUN in capitals (keepalived takes no other spelling)");
  warn(t, `keepalived takes only NAT, DR or TUN in capitals: it logs "unknown [${t.text}] routing method" and keeps ${what}, ` +
    `and so does wasmvs: write ${t.text.toUpperCase()} for ${t.text.toUpperCase()}`);
  return undefined;
}

/** Expand a virtual_server_group: "IP PORT", "IP-LAST PORT" ranges. */
/** A virtual server's (or a group member's) identity: an address and port, or a mark. */
type Member = { address: string; vaddr: IpAddr; port: number; fwmark?: number; where: Pos };
const posOf = (t: Tok): Pos => ({ file: t.file, line: t.line, column: t.column, text: t.text });

/** A group's members that could be read (errors to errs: reported once, with the group). */
function groupMembers(g: Node, errs: ErrorList): Member[] {
  const out: Member[] = [];
  for (const m of g.children ?? []) errs.attempt(() => {
    if (m.key.text === "fwmark") {
      const t = arg(m, 0, "a mark");
      out.push({ address: "0.0.0.0", vaddr: 0, port: 0, fwmark: value(t, markValue), where: posOf(t) });
      noMoreArgs(m, 1);
      return;
    }
    if (m.key.text.includes(":")) {
      groupMembers6(m, out);
      return;
    }
    const port = int(arg(m, 0, "a port"), 0, 65535, "port");
    noMoreArgs(m, 1);
    const r = /^(\d+\.\d+\.\d+\.)(\d+)(?:-(\d+))?$/.exec(m.key.text);
    if (!r) fail(m.key, "expected IP PORT or IP-LAST PORT in virtual_server_group");
    ip({ ...m.key, text: r![1] + r![2] }, "the address");
    const first = Number(r![2]);
    const last = r![3] !== undefined ? Number(r![3]) : first;
    if (last < first || last > 255) fail(m.key, "the range's last address must be at least its first and at most 255");
    for (let k = first; k <= last; k++) out.push({ address: r![1] + k, vaddr: parseIp(r![1] + k), port, where: posOf(m.key) });
  });
  return out;
}

/** An IPv6 member of a virtual_server_group: ADDRESS PORT, or keepalived's range ADDRESS-END
 *  PORT, where END is the last group's last value in hex (keepalived's inet_stor reads it with
 *  strtoul base 16, at most ffff, and check_data.c sets it as the address's 8th 16-bit group):
 *  ae00::2-9 is ae00::2 to ae00::9, ae00::2-1f is ae00::2 to ae00::1f. As keepalived, the end
 *  must be greater than the start. */
function groupMembers6(m: Node, out: Member[]): void {
  const port = int(arg(m, 0, "a port"), 0, 65535, "port");
  noMoreArgs(m, 1);
  const text = m.key.text;
  const dash = text.indexOf("-");
  const address = anyIp(dash < 0 ? m.key : { ...m.key, text: text.slice(0, dash) }, "the address");
  const first = parseIp6(address);
  if (dash < 0) {
    out.push({ address, vaddr: first, port, where: posOf(m.key) });
    return;
  }
  const endText = text.slice(dash + 1);
  if (!/^[0-9a-fA-F]{1,4}$/.test(endText)) {
    fail(m.key, `an IPv6 range's end is the last group's last value in hex, at most ffff (keepalived: ae00::2-9 is ae00::2 to ae00::9), got "${endText}"`);
  }
  const end = parseInt(endText, 16);
  // The 8th group: the last two bytes of the last word (bytes 14 and 15, network order).
  const w3 = first[3];
  const start = (((w3 >>> 16) & 0xff) << 8) | (w3 >>> 24);
  if (end <= start) fail(m.key, `the range's end (${endText}) must be greater than its start (${start.toString(16)}), as keepalived's "Address range end is not greater than address range start"`);
  for (let k = start; k <= end; k++) {
    const vaddr: Ip6Words = [first[0], first[1], first[2], ((w3 & 0xffff) | ((k >>> 8) << 16) | ((k & 0xff) << 24)) >>> 0];
    out.push({ address: formatIp(vaddr), vaddr, port, where: posOf(m.key) });
  }
}

/** A virtual or real server's address of either family (settings.ts ipAddress), at t's position when it is not one. */
const anyIp = (t: Tok, what: string): string => (t.text.indexOf(":") < 0 ? ip(t, what) : value(t, (x) => ipAddress(x, what)));

/** directorFile: the director block in a file of its own (--director), so that the
 *  keepalived.conf stays byte for byte a keepalived peer's. It holds `director { ... }`
 *  only (includes allowed), in the same grammar; its errors name it. */
export function parseKeepalived(path: string, directorFile?: string, strict = false): DirectorConfig {
  const { cfg, errors, order } = readKeepalived(path, directorFile, strict);
  if (errors.length) throw ConfigError.all(sortErrors(errors, order));
  return cfg;
}

/** keepalived.conf read as far as it goes: what it gives and every error, of every part of
 *  it. What was refused still exists by name (an interface, an instance, a script, a
 *  tracked file), so what names it is not refused for it: an error, not the ones it would cause. */
export function readKeepalived(path: string, directorFile?: string, strict = false, onePass = true): PartialConfig & { errors: ConfigError[] } {
  // Warnings from deep inside (ignored keywords) go with the rest, first.
  const warnings: string[] = [];
  const r = collectingWarnings(warnings, () => readFiles(path, directorFile, onePass), strict);
  // Later stages' warnings (a DR server's port, a derived mac) bounded with the grammar's.
  if (warnings.length || r.cfg.warnings?.length) r.cfg.warnings = boundWarnings([...warnings, ...(r.cfg.warnings ?? [])]);
  return r;
}

/** What the last parse of a file (by path) made of each virtual_server block it read without
 *  error, by the block's first line: a parse of the same path whose context is the same (every
 *  other top-level statement, at the same place; the --director file's words; --strict) takes
 *  the very same ServiceConfig objects for a block whose text and place are the same, without
 *  reading it again, and gives its warnings again (host/control/reload.ts then compares a
 *  10,000-service table by identity). Kept only for a file without includes that
 *  scanStatements reads (keepalived-grammar.ts). */
interface CachedBlock extends ScannedBlock {
  text: string;
  column: number;
  services: ServiceConfig[];
  /** The grammar's warnings (warn, carryOn) and the later ones (cfg.warnings) it gave. */
  warnings: readonly string[];
  laterWarnings: readonly string[];
}
const parseCache = new Map<string, { context: string; blocks: Map<number, CachedBlock> }>();
const CACHED_FILES = 4;
/** Forget every file's blocks (tests). */
export function clearParseCache(): void {
  parseCache.clear();
}

const NO_LATER_WARNINGS: readonly string[] = Object.freeze([]);

/** The virtual_server blocks of a file read in one pass, for parseKeepalivedNodes: each
 *  block's statement (its nodes built when it is read) and the blocks of the last parse. */
interface Blocks {
  text: string;
  statements: Map<Node, Statement>;
  previous?: Map<number, CachedBlock>;
  next: Map<number, CachedBlock>;
}

/** onePass: false reads every file as tokenize does (tests compare the two). */
function readFiles(path: string, directorFile: string | undefined, onePass: boolean): PartialConfig & { errors: ConfigError[] } {
  const toks: Tok[] = [];
  // Every error is reported, not only the first: each statement is checked on its own.
  const errs = new ErrorList();
  const order: FileOrder = new Map();
  const cfg: DirectorConfig = { file: path, format: "keepalived", interfaces: [], routes: [], neighbours: [], services: [],
    ...(directorFile !== undefined ? { directorFile } : {}) };
  const state = { routingUnsure: false, directorSaid: false };
  let blocks: Blocks | undefined;
  let context = "";
  try {
    const budget = { files: 1, bytes: 0, tokens: 0 };
    let nodes: Node[];
    // Read once: a file with nothing unusual in one pass, its virtual_server blocks when they are read.
    let text: string | undefined;
    try {
      text = readConfigFile(path);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
    }
    // The blocks of the last parse spare the scan their walk (whatever the context: the scan
    // reads characters only; whether their services are taken again is decided below).
    const scan = onePass && text !== undefined && text.length <= LIMITS.totalBytes ? scanStatements(text, path, parseCache.get(path)?.blocks) : undefined;
    if (scan) {
      order.set(path, []);
      budget.bytes += text!.length;
      budget.tokens += scan.tokens;
      blocks = { text: text!, statements: new Map(), next: new Map() };
      nodes = [];
      const others: string[] = [];
      for (const st of scan.statements) {
        if (st.node.key.text === "virtual_server") {
          blocks.statements.set(st.node, st);
          nodes.push(st.node);
        } else {
          nodes.push(statementNode(text!, st));
          others.push(`${st.node.key.line} ${st.node.key.column} ${text!.slice(st.from, st.to)}`);
        }
      }
      context = others.join("\n");
    } else {
      tokenize(path, 0, new Set([resolve(path)]), budget, toks, errs, order, undefined, text);
      nodes = parseBlocks(toks, errs);
    }
    if (directorFile !== undefined) {
      const dtoks: Tok[] = [];
      budget.files++;
      // keepalived.conf included from the director file would be read twice (each of its
      // blocks "belongs in keepalived.conf", at keepalived.conf's lines): said at the include.
      tokenize(directorFile, 0, new Set([resolve(directorFile)]), budget, dtoks, errs, order,
        new Map([[resolve(path), `${path} is the configuration itself: a --director file holds the director block only (include it from neither)`]]));
      if (blocks) context += `\n--director ${directorFile}\n${dtoks.map((t) => `${t.file} ${t.line} ${t.column} ${t.quoted ? '"' : ""}${t.text}`).join("\n")}`;
      const dnodes = parseBlocks(dtoks, errs);
      for (const other of dnodes) {
        if (other.key.text !== "director") errs.attempt(() => fail(other.key, "a --director file holds the director block only: this belongs in keepalived.conf"));
      }
      if (!dnodes.some((d) => d.key.text === "director")) {
        // Said once, of the director file (not again of keepalived.conf).
        state.directorSaid = true;
        errs.attempt(() => {
          throw new ConfigError(directorFile, 1, 1, "director", "no director block in this --director file (it holds `director { ... }`, e.g. `director { interface eth0 { address 192.0.2.1/24 } }`)");
        });
      }
      nodes.unshift(...dnodes.filter((d) => d.key.text === "director"));
    }
    if (blocks) {
      context = `${isStrict() ? "strict" : ""}\n${context}`;
      const previous = parseCache.get(path);
      if (previous?.context === context) blocks.previous = previous.blocks;
      parseCache.delete(path);
    }
    parseKeepalivedNodes(path, nodes, cfg, errs, state, blocks);
    if (blocks) {
      parseCache.set(path, { context, blocks: blocks.next });
      // The files read last only (a director reads one; a process checking many files keeps no more).
      if (parseCache.size > CACHED_FILES) parseCache.delete(parseCache.keys().next().value!);
    } else parseCache.delete(path);
  } catch (e) {
    // A bound was reached (or the file cannot be read): what was found so far, and that.
    if (!(e instanceof ConfigError)) throw e;
    parseCache.delete(path);
    if (!errs.errors.includes(e)) errs.errors.push(...e.errors.filter((x) => !errs.errors.includes(x)));
    if (!order.has(path)) order.set(path, []);
  }
  return { cfg, errors: errs.errors, order, routingUnsure: state.routingUnsure };
}

/** A virtual_server block of a file read in one pass: its services as the last parse made
 *  them when its text, place and context are the same and they are still no other block's;
 *  else read (and kept for the next parse when it gave no error and asked the system nothing). */
function virtualServerBlock(n: Node, blocks: Blocks, cfg: DirectorConfig, groups: Map<string, Member[]>, errs: ErrorList, globals: HealthGlobals,
  trackFiles: Map<string, TrackFile>): void {
  const st = blocks.statements.get(n)!;
  const key = n.key;
  const text = blocks.text.slice(st.from, st.to);
  const had = blocks.previous?.get(key.line);
  if (had && had.column === key.column && had.text === text) {
    const defined = definedServices(cfg);
    if (had.services.every((sv) => !defined.has(serviceKey(sv)))) {
      for (const sv of had.services) {
        defined.add(serviceKey(sv));
        cfg.services.push(sv);
      }
      for (const w of had.warnings) warnAgain(w);
      if (had.laterWarnings.length) (cfg.warnings ??= []).push(...had.laterWarnings);
      // Kept with this text's slice: the cache holds no earlier text of the file.
      blocks.next.set(key.line, { text, column: had.column, bodyTokens: had.bodyTokens, bodyLines: had.bodyLines, closeColumn: had.closeColumn, services: had.services,
        warnings: had.warnings, laterWarnings: had.laterWarnings });
      return;
    }
  }
  const mark = warningMark();
  const later = cfg.warnings?.length ?? 0;
  const errors = errs.errors.length;
  const services = cfg.services.length;
  const asked = environmentReadCount();
  const plain = st.bodyFrom >= 0 ? plainBlock(blocks.text, key.file, st.bodyFrom, st.bodyTo, st.bodyLine, st.bodyLineStart) : undefined;
  if (!plain || !plainVirtualServer(n, plain, cfg, groups, errs, globals, trackFiles)) {
    virtualServer(statementNode(blocks.text, st, true), cfg, groups, errs, globals, trackFiles);
  }
  const warnings = warningsSince(mark);
  if (errs.errors.length !== errors || !warnings || environmentReadCount() !== asked) return;
  // Every field written, in one order (a spread of the optional ones was a runtime call for each block).
  const end = st.bodyTokens !== undefined ? n.end : undefined;
  blocks.next.set(key.line, { text, column: key.column, bodyTokens: end && st.bodyTokens, bodyLines: end && end.line - st.bodyLine, closeColumn: end?.column,
    services: cfg.services.slice(services), warnings, laterWarnings: cfg.warnings && cfg.warnings.length > later ? cfg.warnings.slice(later) : NO_LATER_WARNINGS });
}

function parseKeepalivedNodes(path: string, nodes: Node[], cfg: DirectorConfig, errs: ErrorList, state: { routingUnsure: boolean; directorSaid: boolean },
  blocks?: Blocks): void {
  // Groups first (virtual servers name them); a member that is wrong is reported once, here.
  const groups = new Map<string, Member[]>();
  for (const n of nodes) if (n.key.text === "virtual_server_group") errs.attempt(() => {
    const name = arg(n, 0, "a group name");
    groups.set(name.text, []); // refused, it still exists by name (empty)
    if (!n.children) fail(n.key, "virtual_server_group needs a block of addresses");
    groups.set(name.text, groupMembers(n, errs));
  });
  // Without a director block, the interfaces named elsewhere stand in (the missing block is the error).
  if (!nodes.some((n) => n.key.text === "director")) { standIns.add(cfg); state.routingUnsure = true; }
  // Refused instances and scripts: names only, for what names them.
  const failedScripts = new Set<string>();
  let director: Node | undefined;
  // The director block first: virtual servers are checked against its interfaces.
  // Then tracked files and global_defs: checkers refer to the one and inherit from the other.
  const rank = (n: Node) => ["director", "track_file", "vrrp_track_file", "global_defs", "SSL"].indexOf(n.key.text) >>> 0;
  const ordered = [...nodes].sort((a, b) => rank(a) - rank(b));
  const globals = defaultGlobals();
  const vrrpGlobals: VrrpGlobals = {};
  let syncTok: Node | undefined;
  const syncGroupToks: ReturnType<typeof vrrpSyncGroup>[] = [];
  const scripts = new Map<string, ReturnType<typeof vrrpScript>>();
  const trackFiles = new Map<string, TrackFile>();
  cfg.health = globals;
  for (const n of ordered) errs.attempt(() => {
    switch (n.key.text) {
      case "global_defs":
        for (const g of n.children ?? []) errs.attempt(() => {
          if (g.key.text === "router_id") { globals.routerId = arg(g, 0, "a name").text; noMoreArgs(g, 1); leaf(g); return; }
          if (g.key.text === "vrrp_rt_priority") {
            // keepalived: real-time priority of its VRRP process, clamped to SCHED_RR's 1-99 with a
            // warning; here the data-path thread's, which carries VRRP (host/daemon/director.ts).
            leaf(g);
            const t = arg(g, 0, "a real-time priority (1-99)");
            noMoreArgs(g, 1);
            const p = value(t, (x) => wholeNumber(x, -(2 ** 31), 2 ** 31 - 1, "vrrp_rt_priority"));
            const clamped = Math.min(99, Math.max(1, p));
            if (clamped !== p) warn(t, `vrrp_rt_priority ${p} is outside 1-99: ${clamped} is used, as keepalived does`);
            cfg.vrrpRtPriority = { priority: clamped, line: g.key.line };
            return;
          }
          if (g.key.text === "lvs_timeouts") {
            leaf(g);
            const t = { tcp: 0, tcpfin: 0, udp: 0, line: g.key.line };
            for (let k = 0; k < g.args.length; k += 2) {
              const name = g.args[k].text as "tcp" | "tcpfin" | "udp";
              if (!["tcp", "tcpfin", "udp"].includes(name)) fail(g.args[k], "expected tcp, tcpfin or udp");
              t[name] = int(arg(g, k + 1, `a timeout after ${name}`), 0, 86400 * 31, `${name} timeout`);
            }
            cfg.timeouts = t;
            return;
          }
          if (globalHealthKeyword(g, globals)) return;
          if (g.key.text === "lvs_sync_daemon") { syncTok = g; cfg.syncDaemon = syncDaemon(g, cfg); return; }
          if (globalVrrpKeyword(g, vrrpGlobals)) return;
          unknown(g, [...GLOBAL_KEYS, ...GLOBAL_HEALTH_KEYS, ...GLOBAL_VRRP_KEYS], "global_defs", "global_defs");
        });
        // keepalived's vrrp.c: VRRP mail follows smtp_alert_vrrp, else smtp_alert.
        vrrpGlobals.smtpAlert ??= globals.smtpAlert;
        break;
      case "virtual_server_group":
        break; // read above
      case "virtual_server":
        if (blocks?.statements.has(n)) virtualServerBlock(n, blocks, cfg, groups, errs, globals, trackFiles);
        else virtualServer(n, cfg, groups, errs, globals, trackFiles);
        break;
      case "track_file":
      case "vrrp_track_file": // keepalived's older name for the same block
        try {
          trackFileBlock(n, trackFiles);
        } catch (e) {
          // Refused, it still exists by name: checkers and instances tracking it are not refused for it.
          const name = n.args[0]?.text;
          if (name !== undefined && !trackFiles.has(name)) trackFiles.set(name, { path: "", weight: 0, reverse: false });
          throw e;
        }
        break;
      case "SSL":
        sslBlock(n, globals);
        break;
      case "vrrp_sync_group": {
        const g = vrrpSyncGroup(n, errs);
        if (g.members.length) syncGroupToks.push(g);
        break;
      }
      case "static_routes":
        // Routes the engine always has (as the director block's route lines).
        if (!n.children) fail(n.key, "static_routes needs a block of routes");
        for (const r of n.children!) errs.attempt(() => {
          let route: ReturnType<typeof routeLine>;
          try {
            route = routeLine(r, cfg);
          } catch (e) {
            state.routingUnsure = true;
            throw e;
          }
          const { cidr, net, gateway, via, dev, line, tok } = route;
          if (cfg.routes.some((x) => x.cidr === cidr)) fail(tok, `a second route to ${cidr}`);
          cfg.routes.push({ cidr, net, ...(gateway !== undefined ? { gateway } : {}), via, dev, line, where: posOf(tok) });
        });
        break;
      case "static_ipaddress":
        // Addresses the director always holds: answered (ARP, ping) and announced.
        if (!n.children) fail(n.key, "static_ipaddress needs a block of addresses");
        for (const a of n.children!) errs.attempt(() => (cfg.staticAddresses ??= []).push(staticAddress(a, cfg, vrrpGlobals.defaultInterface)));
        break;
      case "vrrp_script": {
        const before = errs.errors.length;
        let sc: ReturnType<typeof vrrpScript> | undefined;
        try {
          sc = vrrpScript(n, errs);
        } finally {
          if (n.args[0] && (!sc || errs.errors.length > before)) failedScripts.add(n.args[0].text);
        }
        if (scripts.has(sc.name)) fail(n.args[0], `a second vrrp_script named ${sc.name}`);
        if (errs.errors.length === before) scripts.set(sc.name, sc);
        break;
      }
      case "vrrp_instance": {
        // A refused instance stays in the list, marked, until the end: sync groups,
        // lvs_sync_daemon and tracking find it (and are checked themselves).
        const v = vrrpInstance(n, cfg, vrrpGlobals, errs);
        const same = v.failed ? undefined : (cfg.vrrp ?? []).find((x) => !(x as typeof v).failed && x.ifindex === v.ifindex && x.vrid === v.vrid);
        const vridTok = n.children!.find((c) => c.key.text === "virtual_router_id")?.args[0] ?? n.key;
        if (same) fail(vridTok, `virtual_router_id ${v.vrid} on ${v.interfaceName} is already instance ${same.name}'s`);
        if ((cfg.vrrp ?? []).some((x) => x.name === v.name)) fail(n.args[0], `a second vrrp_instance named ${v.name}`);
        (cfg.vrrp ??= []).push(v);
        break;
      }
      case "director":
        if (director) {
          fail(n.key, `a second director block (the first is ${director.key.file === n.key.file ? `on line ${director.key.line}` : `at ${director.key.file}:${director.key.line}`})`);
        }
        director = n;
        directorBlock(n, cfg, errs, state);
        break;
      default:
        unknown(n, TOP_KEYS, "the top level", "");
    }
  });
  // What to add names the interfaces the file uses (they stood in: standIns).
  const named = cfg.interfaces.map((i) => i.name);
  const add = addDirector(named[0]);
  if (!director && !state.directorSaid) errs.attempt(() => { throw new ConfigError(path, 1, 1, "director", `no director block: ${add}${named.length > 1 ? ` (the file names ${named.join(", ")})` : ""}`); });
  errs.attempt(() => checkOffload(cfg));
  // Sync groups name instances defined anywhere in the file; an instance is in one group at most.
  for (const g of syncGroupToks) errs.attempt(() => {
    const before = errs.errors.length;
    const dropped = new Set<number>();
    g.memberToks.forEach((t, k) => errs.attempt(() => {
      // keepalived (vrrp_sync.c): "Virtual router NAME specified in sync group G doesn't exist - ignoring".
      if (!(cfg.vrrp ?? []).some((v) => v.name === g.members[k])) {
        carryOn(t, `no vrrp_instance named ${t.text}`, `left out of vrrp_sync_group ${g.name}, as keepalived ("Virtual router ${t.text} specified in sync group ${g.name} doesn't exist - ignoring")`);
        dropped.add(k);
        return;
      }
      const other = (cfg.vrrpSyncGroups ?? []).find((x) => x.members.includes(g.members[k]));
      if (other) fail(t, `${t.text} is already in vrrp_sync_group ${other.name}`);
    }));
    if (errs.errors.length > before) return;
    if (dropped.size) {
      g.members = g.members.filter((_, k) => !dropped.has(k));
      if (!g.members.length) return;
    }
    const { memberToks, trackers, ...group } = g;
    void memberToks;
    group.smtpAlert ??= vrrpGlobals.smtpAlert;
    (cfg.vrrpSyncGroups ??= []).push(group);
    // The group's trackers are every member's (weight 0 unless sync_group_tracking_weight).
    const w = (t: PendingTrackScript): PendingTrackScript => (trackers.keepWeights ? t : { ...t, weight: 0, reverse: t.reverse });
    for (const m of group.members) {
      const v = cfg.vrrp!.find((x) => x.name === m) as VrrpInstanceConfig & { pendingScripts?: PendingTrackScript[]; pendingFiles?: PendingTrackScript[] };
      v.pendingScripts?.push(...trackers.scripts.map(w));
      v.pendingFiles?.push(...trackers.files.map(w));
      for (const t of trackers.interfaces) {
        const i = interfaceNamed(cfg, t.tok.text);
        if (!i) noInterface(t.tok, cfg);
        const weight = trackers.keepWeights ? t.weight ?? 0 : 0;
        const existing = v.trackInterfaces.findIndex((x) => x.ifindex === i!.index);
        if (existing >= 0) v.trackInterfaces.splice(existing, 1);
        v.trackInterfaces.push({ ifindex: i!.index, interfaceName: i!.name, weight, reverse: t.reverse ?? false });
      }
    }
  });
  errs.attempt(() => {
    const fifos = notifyFifos(vrrpGlobals);
    if (fifos.length) cfg.notifyFifos = fifos;
  });
  // A static address is no one else's: not an interface's, nor a VRRP instance's.
  for (const sa of cfg.staticAddresses ?? []) errs.attempt(() => {
    const owner = cfg.interfaces.find((i) => i.address?.split("/")[0] === sa.address)?.name ??
      (cfg.vrrp ?? []).find((v) => v.addresses.includes(sa.address) || v.excludedAddresses?.some((x) => x.address === sa.address))?.name;
    if (owner) throw new ConfigError(sa.where?.file ?? path, sa.line, sa.where?.column ?? 1, sa.where?.text ?? "static_ipaddress", `${sa.address} is already ${owner}'s`);
  });
  // A virtual route is the instance's alone: not a static route's, nor another instance's.
  const routeOwner = new Map<string, string>(cfg.routes.map((r) => [r.cidr, "a static route"]));
  for (const v of cfg.vrrp ?? []) for (const r of v.virtualRoutes ?? []) errs.attempt(() => {
    const other = routeOwner.get(r.cidr);
    if (other) throw new ConfigError(path, r.line, 1, "virtual_routes", `the route to ${r.cidr} is already ${other}'s`);
    routeOwner.set(r.cidr, `vrrp_instance ${v.name}`);
  });
  // track_script names a vrrp_script of the file; its weight is the script's unless the entry
  // sets one (vrrp_track.c). A script that cannot be run is not tracked (keepalived disables it).
  const tracked = new Set<string>();
  for (const v of cfg.vrrp ?? []) {
    const pending = (v as typeof v & { pendingScripts?: PendingTrackScript[] }).pendingScripts ?? [];
    delete (v as typeof v & { pendingScripts?: PendingTrackScript[] }).pendingScripts;
    for (const t of pending) errs.attempt(() => {
      const sc = scripts.get(t.tok.text);
      if (!sc && failedScripts.has(t.tok.text)) return; // refused itself: that is the error
      // keepalived (vrrp_track.c): "track script NAME not found, ignoring...".
      if (!sc) {
        return carryOn(t.tok, `no vrrp_script named ${t.tok.text}${scripts.size ? ` (vrrp_scripts: ${[...scripts.keys()].slice(0, 10).join(", ")})` : ""}`,
          `not tracked, as keepalived ("(${v.name}) track script ${t.tok.text} not found, ignoring...")`);
      }
      if (v.trackScripts.some((x) => x.script === sc!.name)) fail(t.tok, `${sc!.name} is tracked twice`);
      if (sc!.unusable) return;
      const weight = t.weight ?? sc!.weight;
      if (weight !== 0 && v.priority === 255) {
        (cfg.warnings ??= []).push(`${t.tok.file}:${t.tok.line}: ${v.name} owns its addresses (priority 255): the weight of ${sc!.name} is ignored, as keepalived does`);
      }
      v.trackScripts.push({ script: sc!.name, weight, reverse: t.reverse ?? sc!.reverse });
      tracked.add(sc!.name);
    });
  }
  // track_file names a top-level track_file block; its weight unless the entry sets one.
  for (const v of cfg.vrrp ?? []) {
    const x = v as typeof v & { pendingFiles?: PendingTrackScript[] };
    const pending = x.pendingFiles ?? [];
    delete x.pendingFiles;
    for (const t of pending) errs.attempt(() => {
      const tf = trackFiles.get(t.tok.text);
      if (!tf) fail(t.tok, `no track_file named ${t.tok.text}${trackFiles.size ? ` (track_files: ${[...trackFiles.keys()].slice(0, 10).join(", ")})` : ""}`);
      if (v.trackFiles.some((f) => f.name === t.tok.text)) fail(t.tok, `${t.tok.text} is tracked twice`);
      v.trackFiles.push({ name: t.tok.text, path: tf!.path, weight: t.weight ?? tf!.weight, reverse: t.reverse ?? tf!.reverse });
    });
  }
  for (const sc of scripts.values()) {
    if (sc.unusable && [...(cfg.vrrp ?? [])].length) (cfg.warnings ??= []).push(sc.unusable);
    const { unusable, ...plain } = sc;
    void unusable;
    if (tracked.has(sc.name)) (cfg.vrrpScripts ??= []).push(plain);
  }
  // An instance's lvs_sync_daemon_interface (keepalived 1's form) is lvs_sync_daemon IF INSTANCE.
  for (const v of cfg.vrrp ?? []) errs.attempt(() => {
    const x = v as typeof v & { syncInterface?: { tok: Tok; ifindex: number; interfaceName: string } };
    const si = x.syncInterface;
    delete x.syncInterface;
    if (!si) return;
    // keepalived (vrrp_parser.c vrrp_lvs_syncd_handler) keeps the first: "has already been specified as IF - ignoring".
    if (cfg.syncDaemon) {
      return carryOn(si.tok, `connection sync is already set (${syncTok ? `lvs_sync_daemon on line ${syncTok.key.line}` : `by vrrp_instance ${cfg.syncDaemon.instance}`})`,
        `ignored, as keepalived ("lvs_sync_daemon_interface has already been specified as ${cfg.syncDaemon.interfaceName} - ignoring")`);
    }
    cfg.syncDaemon = { ifindex: si.ifindex, interfaceName: si.interfaceName, instance: v.name, syncid: SYNCID_UNSET, maxlen: 1472, line: si.tok.line };
    (cfg.warnings ??= []).push(`${si.tok.file}:${si.tok.line}: lvs_sync_daemon_interface in a vrrp_instance is keepalived 1's form (deprecated): ` +
      `it means global_defs { lvs_sync_daemon ${si.interfaceName} ${v.name} }`);
  });
  // lvs_sync_daemon follows a VRRP instance: the one it names, or the only one there is.
  errs.attempt(() => {
    const sd = cfg.syncDaemon as (typeof cfg.syncDaemon & { instanceTok?: Tok }) | undefined;
    if (!sd || !syncTok) return;
    const named = sd.instance ? (cfg.vrrp ?? []).find((v) => v.name === sd.instance) : undefined;
    if (sd.instance && !named) fail(sd.instanceTok!, `no vrrp_instance named ${sd.instance}`);
    if (!sd.instance && (cfg.vrrp ?? []).length !== 1) fail(syncTok.key, "lvs_sync_daemon needs the vrrp_instance whose state it follows (lvs_sync_daemon IF INSTANCE)");
    sd.instance = named?.name ?? cfg.vrrp![0].name;
    delete sd.instanceTok;
  });
  // Without an id, the sync ID is the instance's virtual_router_id (keepalived's vrrp.c).
  if (cfg.syncDaemon?.syncid === SYNCID_UNSET) cfg.syncDaemon.syncid = cfg.vrrp!.find((v) => v.name === cfg.syncDaemon!.instance)?.vrid ?? 0;
  // Refused instances were names only: the engine's checks run on the rest.
  if (cfg.vrrp) cfg.vrrp = cfg.vrrp.filter((v) => !(v as { failed?: boolean }).failed);
  for (const v of cfg.vrrp ?? []) delete (v as { failed?: boolean }).failed;
  standIns.delete(cfg);
}

/** A virtual_server block's settings as its statements are read (virtualServer). */
interface VsState {
  scheduler: ServiceConfig["scheduler"];
  kind: RealServerConfig["method"];
  protocol: "tcp" | "udp";
  protocolSet: boolean;
  health: ServiceHealth;
  vsTiming: Timing & { inhibit?: boolean; sorryInhibit?: boolean };
  persistence: ServiceConfig["persistence"];
  granularity: { mask: string; tok: Tok; prefix6?: number } | undefined;
  sorry: RealServerConfig | undefined;
  sorryMethod: RealServerConfig["method"] | undefined;
  flagToks: Tok[];
  onePacket: boolean;
  /** Its members (the header's), and whether it is IPv6 (an IPv6 address, or ip_family inet6). */
  members: Member[];
  family6: boolean;
}

/** The health of a real server without checkers or scripts, one frozen record for each of the
 *  four there are, shared: a 10,000-service file's 100,000 servers kept two objects each
 *  alive (its record and its empty list of checkers) through the start and beyond. Nothing
 *  changes a parsed configuration in place (ControlState copies on write). */
const PLAIN_SERVER_HEALTH: ServerHealth[] = [false, true].flatMap((inhibit) => [false, true].map((smtpAlert) =>
  Object.freeze({ checkers: Object.freeze([]) as unknown as CheckerConfig[], inhibit, smtpAlert })));
const plainServerHealth = (inhibit: boolean, smtpAlert: boolean): ServerHealth => PLAIN_SERVER_HEALTH[(inhibit ? 2 : 0) + (smtpAlert ? 1 : 0)];

/** A real_server statement as read, before the virtual server's settings resolve it. Its
 *  health settings (health, timing, checkers) are made only when it has a keyword of health's:
 *  a server of weight and thresholds alone gets the shared record (plainServerHealth) without
 *  them (issue 19: at 10,000 services, 300,000 objects made to be dropped at once). */
interface RealRead { rs: RealServerConfig; explicitMethod: boolean; refused: boolean; health?: ServerHealth; timing?: Timing & { inhibit?: boolean };
  checkers?: Node[] }

/** The timing of a real server that set none. */
const NO_TIMING: Readonly<Timing & { inhibit?: boolean }> = Object.freeze({});

// virtualServer is read in parts, each a function of its own: as one function V8 took
// 0.2-0.7 s to optimise it (and threw one attempt away), and a 10,000-service file was
// mostly read by the interpreter meanwhile (issue 19: keepalived.conf's start).
function virtualServer(n: Node, cfg: DirectorConfig, groups: Map<string, Member[]>, errs: ErrorList, globals: HealthGlobals,
  trackFiles: Map<string, TrackFile>): void {
  if (!n.children) fail(n.key, "virtual_server needs a block");
  const members = virtualServerMembers(n, groups, errs);
  const reals: RealRead[] = [];
  const vs = vsState(n, members);
  // Each statement on its own (errs.attempt's handling, without a closure per statement).
  for (const c of n.children!) try {
    if (c.key.text === "real_server") reals.push(realServerStatement(c, errs));
    else virtualServerStatement(c, vs);
  } catch (e) {
    keep(errs, e);
  }
  virtualServerServices(n, cfg, members, reals, vs, errs, globals, trackFiles);
}

const NO_MEMBERS: Member[] = [];

/** A virtual_server's settings before its statements are read. */
const vsState = (n: Node, members: Member[]): VsState => ({
  scheduler: "wlc", kind: "nat", protocol: "tcp", protocolSet: false,
  health: { quorum: HEALTH_DEFAULTS.quorum, hysteresis: HEALTH_DEFAULTS.hysteresis, omega: false, smtpAlert: false,
    where: { file: n.key.file, line: n.key.line, column: n.key.column } },
  vsTiming: {}, persistence: undefined, granularity: undefined, sorry: undefined, sorryMethod: undefined, flagToks: [], onePacket: false,
  members, family6: members.some((m) => typeof m.vaddr !== "number"),
});

/** A virtual_server whose block the grammar read without nodes (plainBlock), when each of its
 *  settings is as virtualServerStatement takes it without a word of complaint (a scheduler
 *  wasmvs has; NAT, DR or TUN in capitals; TCP or UDP): its services as virtualServer makes
 *  them, and true; false (nothing done) for anything else, read word by word with its errors
 *  and warnings. */
function plainVirtualServer(n: Node, plain: PlainBlock, cfg: DirectorConfig, groups: Map<string, Member[]>, errs: ErrorList, globals: HealthGlobals,
  trackFiles: Map<string, TrackFile>): boolean {
  const vs = vsState(n, NO_MEMBERS);
  const settings = plain.settings;
  for (let k = 0; k < settings.length; k += 2) {
    const keyword = settings[k];
    const word = settings[k + 1];
    if (keyword === "lb_algo" || keyword === "lvs_sched") {
      if (schedulerProblem(word)) return false;
      vs.scheduler = word as ServiceConfig["scheduler"];
    } else if (keyword === "lb_kind" || keyword === "lvs_method") {
      if (word === "NAT") vs.kind = "nat";
      else if (word === "DR") vs.kind = "dr";
      else if (word === "TUN") vs.kind = "tun";
      else return false;
    } else {
      // protocol (plainBlock reads no other keyword)
      const p = word.toUpperCase();
      if (p !== "TCP" && p !== "UDP") return false;
      vs.protocol = p === "TCP" ? "tcp" : "udp";
      vs.protocolSet = true;
    }
  }
  // The header is read once the block is known plain (word by word would read it again).
  const members = virtualServerMembers(n, groups, errs);
  vs.members = members;
  vs.family6 = members.some((m) => typeof m.vaddr !== "number");
  virtualServerServices(n, cfg, members, plain.servers, vs, errs, globals, trackFiles);
  return true;
}

/** The services a virtual_server's header names: an address and port, a mark, or a group's
 *  members. A header that is wrong leaves no service, but the block is still checked. */
function virtualServerMembers(n: Node, groups: Map<string, Member[]>, errs: ErrorList): Member[] {
  let members: Member[] = [];
  errs.attempt(() => {
    const first = arg(n, 0, "an address and a port, 'group NAME' or 'fwmark N'");
    if (first.text === "fwmark") {
      const t = arg(n, 1, "a mark");
      members = [{ address: "0.0.0.0", vaddr: 0, port: 0, fwmark: value(t, markValue), where: posOf(t) }];
      noMoreArgs(n, 2);
    } else if (first.text === "group") {
      const g = groups.get(arg(n, 1, "a group name").text);
      if (!g) fail(n.args[1], `no virtual_server_group named ${n.args[1].text}`);
      members = g!;
      noMoreArgs(n, 2);
    } else {
      const address = anyIp(first, "the virtual address");
      members = [{ address, vaddr: parseIp(address), port: int(arg(n, 1, "a port"), 0, 65535, "port"), where: posOf(first) }];
      noMoreArgs(n, 2);
    }
  });
  return members;
}

/** A real_server statement: its address, port and settings (errors kept in errs). */
function realServerStatement(c: Node, errs: ErrorList): RealRead {
  // A line the grammar read whole (plainServerLine): every word of it as below takes it.
  if (c.plain) return c.plain;
  // keepalived: the port may be left out (a firewall-mark service's servers have none).
  // A header that is wrong leaves the server out, but its block is still checked.
  // health written in the literal (set once the virtual server is read): added afterwards it
  // takes the object a property store of its own.
  const rs: RealServerConfig = { address: "", daddr: 0, port: 0, method: "nat", weight: 1, uthreshold: 0, lthreshold: 0, line: c.key.line, where: posOf(c.args[0] ?? c.key), health: undefined };
  const before = errs.errors.length;
  try {
    rs.address = anyIp(arg(c, 0, "an address [and a port]"), "the real server");
    rs.daddr = parseIp(rs.address);
    rs.port = c.args[1] ? int(c.args[1], 0, 65535, "port") : 0;
    noMoreArgs(c, 2);
  } catch (e) {
    keep(errs, e);
  }
  const refused = errs.errors.length > before;
  let explicitMethod = false;
  let health: Pick<RealRead, "health" | "timing" | "checkers"> | undefined;
  for (const r of c.children ?? []) try {
    if (r.key.text === "weight") { leaf(r); rs.weight = int(arg(r, 0, "a weight"), 0, 65535, "weight"); }
    else if (r.key.text === "uthreshold") { leaf(r); rs.uthreshold = int(arg(r, 0, "a number"), 0, 2147483647, "uthreshold"); }
    else if (r.key.text === "lthreshold") { leaf(r); rs.lthreshold = int(arg(r, 0, "a number"), 0, 2147483647, "lthreshold"); }
    else if (r.key.text === "lvs_method") {
      leaf(r);
      const m = method(arg(r, 0, "NAT, DR or TUN"), "the virtual server's method for this real server");
      if (m) { rs.method = m; explicitMethod = true; }
    }
    else {
      health ??= { health: rs.health = { checkers: [], inhibit: false, smtpAlert: true }, timing: {}, checkers: [] };
      if (!serverHealthKeyword(r, health.health!, health.timing!, health.checkers!)) unknown(r, [...RS_KEYS, ...SERVER_HEALTH_KEYS], "real_server", "virtual_server/real_server");
    }
  } catch (e) {
    keep(errs, e);
  }
  return { rs, explicitMethod, refused, ...health };
}

/** A virtual_server's statement other than real_server, into vs (an error thrown). */
function virtualServerStatement(c: Node, vs: VsState): void {
  const k = c.key.text;
  if (k === "lb_algo" || k === "lvs_sched") {
    leaf(c);
    vs.scheduler = sched(arg(c, 0, "a scheduler"));
    if (c.args.length > 1) fail(c.args[1], "scheduler flags are keywords of their own in keepalived.conf (sh-port, sh-fallback, flag-1 ...)");
  } else if (SCHED_FLAG_KEYS.has(k)) {
    // keepalived's scheduler flags (check_parser.c lbflags_handler), checked against the scheduler below.
    leaf(c);
    noMoreArgs(c, 0);
    vs.flagToks.push(c.key);
  } else if (k === "ops") {
    // keepalived's lbflags_handler: one-packet scheduling ("inactive due to not UDP" otherwise).
    leaf(c);
    noMoreArgs(c, 0);
    vs.onePacket = true;
  } else if (k === "lb_kind" || k === "lvs_method") {
    leaf(c);
    vs.kind = method(arg(c, 0, "NAT, DR or TUN"), "this virtual server NAT (its default)") ?? vs.kind;
    noMoreArgs(c, 1);
  } else if (k === "protocol") {
    leaf(c);
    const p = arg(c, 0, "TCP or UDP").text.toUpperCase();
    if (p === "SCTP") fail(c.args[0], notSupported("sctp"));
    if (p !== "TCP" && p !== "UDP") fail(c.args[0], "expected TCP or UDP");
    vs.protocol = p === "TCP" ? "tcp" : "udp";
    vs.protocolSet = true;
  } else if (k === "sorry_server") {
    leaf(c);
    const address = anyIp(arg(c, 0, "an address and a port"), "the sorry server");
    vs.sorry = { address, daddr: parseIp(address), port: int(arg(c, 1, "a port"), 0, 65535, "port"),
      method: "nat", weight: 1, uthreshold: 0, lthreshold: 0, line: c.key.line, where: posOf(c.args[0]) };
  } else if (k === "persistence_timeout") {
    leaf(c);
    noMoreArgs(c, 1);
    // keepalived: 360 s when no value is given (IPVS_SVC_PERSISTENT_TIMEOUT); a value outside
    // 1-2678400 (0 too) is "persistence_timeout invalid" and ignored (check_parser.c pto_handler).
    const t = c.args[0];
    if (t && !(/^\d+$/.test(t.text) && Number(t.text) >= 1 && Number(t.text) <= 2678400)) {
      carryOn(t, "persistence_timeout must be a whole number from 1 to 2678400",
        `ignored, as keepalived ("persistence_timeout invalid"): this virtual server is ${vs.persistence ? `persistent as set before (${vs.persistence.timeout} s)` : "not persistent"}`);
      return;
    }
    vs.persistence = persistenceOf(c.args[0] ? int(c.args[0], 1, 2678400, "persistence_timeout") : 360, vs.persistence?.netmask);
  } else if (k === "persistence_granularity") {
    leaf(c);
    const m = arg(c, 0, "a netmask");
    noMoreArgs(c, 1);
    if (vs.family6) {
      // keepalived's pgr_handler: an IPv6 virtual server's granularity is a prefix length of 1-128.
      const len = /^\d{1,3}$/.test(m.text) ? Number(m.text) : 0;
      if (len < 1 || len > 128) fail(m, "an IPv6 virtual server's persistence_granularity is a prefix length from 1 to 128 (keepalived: \"Invalid IPv6 persistence_granularity specified\")");
      vs.granularity = { mask: m.text, tok: c.key, prefix6: len };
      return;
    }
    vs.granularity = { mask: value(m, (x) => { try { return parseNetmask(x); } catch (e) { throw e instanceof InputError && e.code === "netmask" ? new SettingError("not an IPv4 netmask") : e; } }), tok: c.key };
  } else if (k === "ip_family") {
    // keepalived's check that every address of the service is of one family.
    leaf(c);
    const f = arg(c, 0, "inet or inet6");
    noMoreArgs(c, 1);
    if (f.text !== "inet" && f.text !== "inet6") fail(f, "expected inet or inet6");
    // keepalived: "Virtual server specified family ... conflicts with server family".
    if (vs.members.some((x) => x.fwmark === undefined && (typeof x.vaddr !== "number") !== (f.text === "inet6"))) {
      fail(f, `virtual server specified family ${f.text} conflicts with server family (its address is IPv${f.text === "inet6" ? 4 : 6})`);
    }
    vs.family6 = f.text === "inet6";
  } else if (k === "sorry_server_lvs_method") {
    leaf(c);
    vs.sorryMethod = method(arg(c, 0, "NAT, DR or TUN"), "the virtual server's method for the sorry server") ?? vs.sorryMethod;
  } else if (!serviceHealthKeyword(c, vs.health, vs.vsTiming)) {
    unknown(c, [...VS_KEYS, ...SERVICE_HEALTH_KEYS], "virtual_server", "virtual_server");
  }
}

/** A virtual_server read whole: its settings resolved, a service for each of its members. */
function virtualServerServices(n: Node, cfg: DirectorConfig, members: Member[], reals: RealRead[], vs: VsState, errs: ErrorList, globals: HealthGlobals,
  trackFiles: Map<string, TrackFile>): void {
  if (vs.family6 || reals.some((r) => typeof r.rs.daddr !== "number") || (vs.sorry && typeof vs.sorry.daddr !== "number")) {
    serverFamilies(vs, reals, vs.kind, errs);
    // An IPv6 firewall-mark service (ip_family inet6): its address is ::, as ipvsadm's -f MARK -6.
    if (vs.family6) members = members.map((m) => (m.fwmark !== undefined ? { ...m, address: "::", vaddr: IP6_ANY } : m));
  }
  const { scheduler, kind, protocol, health, vsTiming, granularity, sorry, sorryMethod, onePacket } = vs;
  // keepalived 2.2 (check_data.c) makes an address's virtual server without protocol UDP, and
  // leaves out one without real servers; wasmvs keeps its TCP default and the service (files
  // written for it rely on both), and says where keepalived differs.
  if (!vs.protocolSet && members.some((m) => m.fwmark === undefined)) {
    warn(n.key, `no protocol: TCP in wasmvs, but keepalived 2.2 makes this virtual server UDP ("no protocol set - defaulting to UDP"): ` +
      "write protocol TCP (or UDP) for both to agree");
  }
  if (!reals.length) warn(n.key, `no real_server: keepalived 2.2 leaves this virtual server out ("has no real servers - ignoring"); wasmvs sets it up` +
    `${sorry ? " with its sorry server" : ""}`);
  // keepalived ignores sh-* and mh-* flags of another scheduler with a warning; they are refused here.
  let schedFlags = 0;
  for (const t of vs.flagToks) errs.attempt(() => {
    try {
      schedFlags |= schedFlagBits([t.text], scheduler);
    } catch {
      fail(t, `${t.text} applies to the ${t.text.slice(0, 2)} scheduler only (lb_algo is ${scheduler})`);
    }
  });
  if (granularity) errs.attempt(() => {
    // keepalived applies the granularity to a persistent service only.
    if (!vs.persistence) fail(granularity.tok, "persistence_granularity needs persistence_timeout");
    vs.persistence = granularity.prefix6 !== undefined ? persistence6(vs.persistence!.timeout, granularity.prefix6) : persistenceOf(vs.persistence!.timeout, granularity.mask);
  });
  else if (vs.family6 && vs.persistence) vs.persistence = persistence6(vs.persistence.timeout, 128);
  const persistence = vs.persistence;
  // Health settings resolve once the whole block is read: keepalived's inheritance
  // (virtual server -> real server -> checker) and its defaults (host/config/health.ts).
  const checkerMail = globals.smtpAlertChecker ?? globals.smtpAlert;
  health.smtpAlert = vsTiming.smtpAlert ?? checkerMail ?? false;
  for (const r of reals) {
    if (!r.explicitMethod) r.rs.method = kind;
    const timing = r.timing ?? NO_TIMING;
    const inhibit = timing.inhibit ?? vsTiming.inhibit ?? false;
    // keepalived mails real-server changes unless told not to (check_data.c keeps this default for compatibility).
    const smtpAlert = timing.smtpAlert ?? checkerMail ?? true;
    const rh = r.health;
    if (!rh) {
      r.rs.health = plainServerHealth(inhibit, smtpAlert);
      continue;
    }
    rh.inhibit = inhibit;
    rh.smtpAlert = smtpAlert;
    for (const cn of r.checkers!) {
      errs.attempt(() => { rh.checkers.push(...checker(cn, { vs: vsTiming, rs: timing, address: r.rs.address, port: r.rs.port }, globals, trackFiles)); });
    }
    if (!rh.checkers.length && rh.notifyUp === undefined && rh.notifyDown === undefined) r.rs.health = plainServerHealth(rh.inhibit, rh.smtpAlert);
  }
  // The sorry server takes over when quorum is lost (host/health/overlay.ts), also when
  // the virtual server has no real server at all.
  if (sorry) health.sorry = { address: sorry.address, daddr: sorry.daddr, port: sorry.port, method: sorryMethod ?? kind, inhibit: vsTiming.sorryInhibit ?? false, line: sorry.line, where: sorry.where };
  const servers: RealServerConfig[] = [];
  let checked = false;
  for (const r of reals) if (!r.refused) {
    servers.push(r.rs);
    if (r.rs.health?.checkers.length) checked = true;
  }
  for (const m of members) try {
    const key = serviceKey({ protocol, address: m.address, port: m.port, fwmark: m.fwmark });
    const at = (): Tok => ({ ...n.key, ...m.where });
    // (Looked up once: the list changes only below, where its key is added first.)
    const defined = definedServices(cfg);
    if (defined.has(key)) {
      fail(at(), `virtual server ${m.fwmark !== undefined ? `fwmark ${m.fwmark}` : `${protocol.toUpperCase()} ${m.address}:${m.port}`} is defined twice`);
    }
    for (const r of servers) {
      if (r.method !== "nat" && r.port !== m.port && m.fwmark === undefined) {
        (cfg.warnings ??= []).push(`${n.key.file}:${r.line}: ${r.method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: ` +
          `real server ${hostPort(r.address, r.port)} gets the service port ${m.port}, as ipvsadm does`);
      }
    }
    // keepalived: "virtual server ... and sorry server ports don't match - resetting".
    if (health.sorry && health.sorry.method !== "nat" && health.sorry.port !== m.port && m.fwmark === undefined) {
      (cfg.warnings ??= []).push(`${n.key.file}:${health.sorry.line}: ${health.sorry.method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: ` +
        `sorry server ${hostPort(health.sorry.address, health.sorry.port)} gets the service port ${m.port}, as keepalived does`);
    }
    if (m.port === 0 && m.fwmark === undefined && !persistence) fail(at(), "a virtual server on port 0 (all ports) must be persistent (persistence_timeout)");
    defined.add(key);
    if (members.length === 1 && !persistence && !schedFlags && !onePacket && m.fwmark === undefined) {
      // The common virtual server (an address's, none of the settings below): the same record
      // as the literal below makes, in the same order of keys, without its four spreads (each a
      // call into the runtime, for each of 10,000 services) and without a copy of its servers.
      for (const r of servers) if (r.method !== "nat") r.port = m.port;
      const service: ServiceConfig = {
        protocol, address: m.address, vaddr: m.vaddr, port: m.port, scheduler, line: n.key.line, where: m.where, realServers: servers,
        health: health.sorry && health.sorry.method !== "nat" ? { ...health, sorry: { ...health.sorry, port: m.port } } : health,
      };
      if (!checked) uncheckedServices.add(service);
      cfg.services.push(service);
      continue;
    }
    cfg.services.push({
      protocol, address: m.address, vaddr: m.vaddr, port: m.port, scheduler, line: n.key.line, where: m.where, ...(persistence ? { persistence: { ...persistence } } : {}),
      ...(schedFlags ? { schedFlags } : {}), ...(onePacket ? { onePacket } : {}),
      ...(m.fwmark !== undefined ? { fwmark: m.fwmark } : {}),
      // DR and TUN keep the service port (ipvsadm does the same with -g and -i), with a warning above.
      // Each member its own copies; the one member of an address's virtual server the servers themselves.
      realServers: members.length === 1 ? servers.map((r) => { r.port = r.method === "nat" || m.fwmark !== undefined ? r.port : m.port; return r; })
        : servers.map((r) => ({ ...r, port: r.method === "nat" || m.fwmark !== undefined ? r.port : m.port })),
      health: health.sorry && health.sorry.method !== "nat" ? { ...health, sorry: { ...health.sorry, port: m.port } } : health,
    });
  } catch (e) {
    keep(errs, e);
  }
}

/** The keys of the services read so far, kept beside the list (a file of 65,536 virtual
 *  servers must not compare each with all before it); built again if the list changed
 *  behind its back. */
const serviceKeys = new WeakMap<ServiceConfig[], Set<string>>();

/** keepalived's and IPVS's rules for the families of a virtual server's real and sorry servers:
 *  another family than the virtual server's only with tunnelling (keepalived's rs_end_handler /
 *  vs_end_handler skip the server: "Address family of virtual server and real server ... don't
 *  match - skipping real server"; IPVS: mixed families only for tunnelling), and an IPv6 server
 *  unicast and not link-local (IPVS's ip_vs_add_dest check: refused). */
function serverFamilies(vs: VsState, reals: RealRead[], kind: RealServerConfig["method"], errs: ErrorList): void {
  const six = vs.family6;
  for (const r of reals) errs.attempt(() => {
    if (r.refused) return;
    const method = r.explicitMethod ? r.rs.method : kind;
    const at: Tok = { file: r.rs.where!.file, line: r.rs.where!.line, column: r.rs.where!.column, text: r.rs.where!.text };
    if ((typeof r.rs.daddr !== "number") !== six && method !== "tun") {
      carryOn(at, `the address families of the virtual server (IPv${six ? 6 : 4}) and real server ${r.rs.address} don't match (IPVS mixes them only for tunnelling)`,
        "real server left out, as keepalived (\"don't match - skipping real server\")");
      r.refused = true;
      return;
    }
    if (typeof r.rs.daddr !== "number") {
      const why = serverRefusal(six ? IP6_ANY : 0, r.rs.daddr, "tun", false);
      if (why) { r.refused = true; fail(at, why.replace(/^Invalid argument: /, "")); }
    }
  });
  const sorry = vs.sorry;
  if (sorry && (typeof sorry.daddr !== "number") !== six && (vs.sorryMethod ?? kind) !== "tun") {
    const at: Tok = { file: sorry.where!.file, line: sorry.where!.line, column: sorry.where!.column, text: sorry.where!.text };
    errs.attempt(() => carryOn(at, `the address families of the virtual server (IPv${six ? 6 : 4}) and sorry server ${sorry.address} don't match (IPVS mixes them only for tunnelling)`,
      "sorry server left out, as keepalived (\"don't match - skipping sorry server\")"));
    vs.sorry = undefined;
  }
}
function definedServices(cfg: DirectorConfig): Set<string> {
  let keys = serviceKeys.get(cfg.services);
  if (!keys || keys.size !== cfg.services.length) {
    keys = new Set(cfg.services.map(serviceKey));
    serviceKeys.set(cfg.services, keys);
  }
  return keys;
}

function directorBlock(n: Node, cfg: DirectorConfig, errs: ErrorList, state: { routingUnsure: boolean }): void {
  if (!n.children) fail(n.key, "director needs a block");
  let scraper: Tok | undefined;
  for (const c of n.children!) {
    const before = errs.errors.length;
    const interfaces = cfg.interfaces.length;
    directorLine(c, cfg, errs, (t) => { scraper ??= t; });
    // Whether a server is on-link or routed cannot be told past a refused route or
    // neighbour, or an interface left out or without its address.
    const addressLines = new Set((c.children ?? []).filter((p) => p.key.text === "address").map((p) => p.key.line));
    const lost = c.key.text === "interface" ? cfg.interfaces.length === interfaces || errs.errors.slice(before).some((e) => addressLines.has(e.line))
      : ["route", "default_gateway", "neighbour", "neighbor"].includes(c.key.text);
    if (errs.errors.length > before && lost) state.routingUnsure = true;
  }
  if (cfg.interfaces.length === 0) {
    // No interface: whether a server is on-link cannot be told (not "no route" for each).
    state.routingUnsure = true;
    fail(n.key, "the director block needs at least one interface");
  }
  if (scraper && !cfg.metrics) fail(scraper, SCRAPER_WITHOUT_METRICS);
}

function directorLine(c: Node, cfg: DirectorConfig, errs: ErrorList, scraperSeen: (t: Tok) => void): void {
  errs.attempt(() => {
    const k = c.key.text;
    if (!DIRECTOR_KEYS.includes(k)) unknown(c, DIRECTOR_KEYS, "director");
    if (k === "interface") {
      const name = arg(c, 0, "a name");
      if (!c.children) fail(c.key, "interface needs a block (tap, bridge, device, mac, address, mtu)");
      const ifc: InterfaceConfig = { index: cfg.interfaces.length, name: name.text, mac: "", mtu: 1500, tap: name.text.slice(0, 15), line: c.key.line, where: posOf(name),
        ...(c.key.file !== cfg.file ? { file: c.key.file } : {}) };
      if (cfg.interfaces.some((i) => i.name === name.text)) fail(name, `interface ${name.text} is defined twice`);
      if (ifc.index >= 16) fail(c.key, "at most 16 interfaces");
      // Each setting on its own; one that is wrong leaves the interface there by its name
      // (what names it is not refused for it).
      const own = new ErrorList();
      const tapWords: Pos[] = [];
      for (const p of c.children!) own.attempt(() => {
        leaf(p);
        const v = arg(p, 0, "a value");
        noMoreArgs(p, 1);
        if (p.key.text === "tap") { ifc.tap = value(v, deviceName); tapWords.push(posOf(p.key)); }
        else if (p.key.text === "bridge") { ifc.bridge = value(v, deviceName); tapWords.push(posOf(p.key)); }
        else if (p.key.text === "device") { ifc.device = value(v, deviceName); ifc.deviceWhere = posOf(v); }
        else if (p.key.text === "mac") { ifc.mac = value(v, macAddress); ifc.macWhere = posOf(v); }
        else if (p.key.text === "address" && v.text.includes(":")) value(v, (x) => interfaceIp6(ifc, x));
        else if (p.key.text === "address") ifc.address = value(v, interfaceAddress);
        else if (p.key.text === "mtu") { ifc.mtu = value(v, mtu); ifc.where = posOf(v); ifc.mtuWhere = posOf(v); }
        else unknown(p, IF_KEYS, "interface");
      });
      own.attempt(() => checkAttachment(cfg, ifc, tapWords));
      // keepalived takes the NIC's own MAC; a TAP has a random one per creation, which would
      // leave peers' ARP caches wrong after a restart: a stable one is derived, and said so.
      // A device's own MAC is taken when the configuration is loaded (devices.ts).
      if (!ifc.mac && ifc.device === undefined && !c.children!.some((p) => p.key.text === "mac")) {
        ifc.mac = derivedMac(ifc.name, ifc.tap);
        ifc.macDerived = true;
        (cfg.warnings ??= []).push(`${c.key.file}:${c.key.line}: interface ${ifc.name} has no mac: ${ifc.mac}, derived from this host's machine id and the ` +
          `interface's name (locally administered, the same at every start); give 'mac' to choose it`);
      }
      cfg.interfaces.push(own.errors.length ? { ...ifc, mac: ifc.mac || STANDIN_MAC } : ifc);
      own.check();
      return;
    }
    leaf(c);
    // A line of a --director file carries its file: engine-stage errors name it.
    const own = c.key.file !== cfg.file ? { file: c.key.file } : {};
    // A table size is refused where it was written when a reload changes it (reload.ts).
    const size = k === "connection_table_size" ? "connections" : k;
    if ((SIZE_SETTINGS as readonly string[]).includes(size)) (cfg.sizeWhere ??= {})[size as SizeSetting] = posOf(c.key);
    if (k === "default_gateway") {
      const via = ip(arg(c, 0, "an address"), "the gateway");
      cfg.routes.push({ cidr: "0.0.0.0/0", ...routeParsed("0.0.0.0/0", via), via, line: c.key.line, where: posOf(c.args[0]), ...own });
      noMoreArgs(c, 1);
    } else if (k === "route") {
      const r = { cidr: value(arg(c, 0, "a destination (CIDR or default)"), routeDestination), via: undefined as string | undefined,
        dev: undefined as string | undefined, line: c.key.line, where: undefined as Pos | undefined, ...own };
      for (let i = 1; i < c.args.length; i += 2) {
        const key = c.args[i];
        const val = arg(c, i + 1, `a value after ${key.text}`);
        if (key.text === "via") { r.via = ip(val, "the gateway"); r.where ??= posOf(val); }
        else if (key.text === "dev") { r.dev = val.text; r.where = posOf(val); }
        else fail(key, "expected via or dev");
      }
      if (!r.via && !r.dev) fail(c.key, "a route needs 'via GATEWAY' or 'dev INTERFACE'");
      cfg.routes.push({ ...r, ...routeParsed(r.cidr, r.via) });
    } else if (k === "neighbour" || k === "neighbor") {
      const a = ip(arg(c, 0, "an address"), "the neighbour");
      const m = value(arg(c, 1, "a MAC address"), macAddress);
      const dev = c.args[2]?.text === "dev" ? arg(c, 3, "an interface") : undefined;
      cfg.neighbours.push({ address: a, mac: m, ...neighbourParsed(a, m), dev: dev?.text, line: c.key.line, where: posOf(dev ?? c.args[0]), macWhere: posOf(c.args[1]), ...own });
    } else if (k === "mark") {
      const mark = value(arg(c, 0, "a mark"), markValue);
      const words = c.args.slice(1);
      (cfg.marks ??= []).push({ ...markRuleWords(mark, words.map((w) => w.text), (i, e) => fail(i < 0 ? c.key : words[i], e.message)), line: c.key.line });
    } else if (k === "sync_auth_key_file") {
      const path = arg(c, 0, "the key file's path");
      noMoreArgs(c, 1);
      cfg.syncAuth = { path: path.text, keyHex: value(path, readSyncKey), line: c.key.line };
    } else if (k === "sync_table_share") {
      cfg.syncTableShare = { percent: value(arg(c, 0, "a percent"), tableShare), line: c.key.line };
      noMoreArgs(c, 1);
    } else if (k === "connection_table_size") {
      cfg.connections = value(arg(c, 0, "a size"), tableSize);
    } else if (k === "mh_table_size") {
      cfg.mhTableSize = value(arg(c, 0, "a size"), mhTableSize);
    } else if (k === "maglev_table_size") {
      cfg.maglevTableSize = value(arg(c, 0, "a prime"), maglevTableSize);
    } else if (k === "maglev_services") {
      cfg.maglevServices = value(arg(c, 0, "a number"), maglevServices);
    } else if (k === "metrics_real_servers") {
      cfg.metricsRealServers = value(arg(c, 0, "a number"), metricsRealServers);
    } else if (k === "max_services") {
      cfg.maxServices = value(arg(c, 0, "a number"), maxServices);
    } else if (k === "max_real_servers") {
      cfg.maxRealServers = value(arg(c, 0, "a number"), maxRealServers);
    } else if (k === "scheduler_memory") {
      cfg.schedulerMemory = value(arg(c, 0, "a size"), schedulerMemory);
    } else if (k === "control_socket") {
      cfg.controlSocket = arg(c, 0, "a path").text;
    } else if (k === "control_group") {
      const g = arg(c, 0, "a group name or number");
      noMoreArgs(c, 1);
      const gid = groupId(g.text);
      if (gid === undefined) fail(g, `no such group: ${g.text}`);
      cfg.controlGroup = { name: g.text, gid: gid!, line: c.key.line };
    } else if (k === "metrics_scraper") {
      const t = arg(c, 0, "ADDRESS[/PREFIX]");
      noMoreArgs(c, 1);
      if ((cfg.metricsScrapers?.length ?? 0) >= MAX_SCRAPER_LINES) fail(c.key, `at most ${MAX_SCRAPER_LINES} metrics_scraper lines`);
      (cfg.metricsScrapers ??= []).push({ cidr: value(t, scraperAddress), line: c.key.line });
      scraperSeen(c.key);
    } else if (k === "metrics" || k === "dashboard") {
      cfg[k] = { ...value(arg(c, 0, "[ADDRESS:]PORT"), (t) => listenEndpoint(t, k)), line: c.key.line, ...own };
    } else if (k === "offload" || k === "reject_unknown" || k === "expire_nodest_conn" || k === "expire_quiescent_template" || k === "sloppy_tcp") {
      const on = value(arg(c, 0, "on or off"), onOff);
      noMoreArgs(c, 1);
      if (k === "offload") cfg.offload = { on, line: c.key.line, ...own };
      else if (k === "reject_unknown") cfg.rejectUnknown = { on, line: c.key.line };
      else if (k === "expire_nodest_conn") cfg.expireNodestConn = { on, line: c.key.line };
      else if (k === "sloppy_tcp") cfg.sloppyTcp = { on, line: c.key.line };
      else cfg.expireQuiescentTemplate = { on, line: c.key.line };
    }
  });
}

/** keepalived.conf has blocks or includes; the ipvsadm-rules format has neither: a line (split
 *  at \n, a \r before it dropped) that, without its comment (from a # or ! at its start or after
 *  a blank), holds a '{' or starts with `include` and a blank. Read a line at a time over the
 *  character codes (a 10,000-service file is 150,000 lines); a line with a character other than
 *  printable ASCII and tabs, where \s and . mean more, is read by the patterns themselves. */
export function looksLikeKeepalived(text: string): boolean {
  // Every line that looks so has a brace or "include": a file with neither (a rules file of 64k
  // services, 34 MB) is told by two searches of its text, not a walk of each line.
  if (text.indexOf("{") < 0 && text.indexOf("include") < 0) return false;
  const n = text.length;
  for (let from = 0; ;) {
    let e = text.indexOf("\n", from);
    const last = e < 0;
    if (last) e = n;
    const to = !last && e > from && text.charCodeAt(e - 1) === 13 ? e - 1 : e;
    if (lineLooksKeepalived(text, from, to)) return true;
    if (last) return false;
    from = e + 1;
  }
}
function lineLooksKeepalived(text: string, from: number, to: number): boolean {
  let cut = to;
  let brace = false;
  for (let p = from; p < to; p++) {
    const c = text.charCodeAt(p);
    if (c < 32 ? c !== 9 : c > 126) return patternLooksKeepalived(text.slice(from, to));
    if (cut !== to) continue;
    if (c === 123) brace = true;
    else if ((c === 35 || c === 33) && (p === from || text.charCodeAt(p - 1) === 32 || text.charCodeAt(p - 1) === 9)) cut = p === from ? p : p - 1;
  }
  if (brace) return true;
  let k = from;
  while (k < cut && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k++;
  const c = text.charCodeAt(k + 7);
  return k + 7 < cut && text.startsWith("include", k) && (c === 32 || c === 9);
}
const patternLooksKeepalived = (line: string): boolean => {
  const l = line.replace(/(^|\s)[#!].*$/, "");
  return /\{/.test(l) || /^\s*include\s/.test(l);
};
