// keepalived.conf for wasmvs: keepalived's block grammar (`keyword args { ... }`, `#`
// and `!` comments, quoted strings, `include` with globs), its LVS part
// (virtual_server, virtual_server_group, real_server, lb_algo/lvs_sched,
// lb_kind/lvs_method, protocol, sorry_server, lvs_timeouts), and one block of
// wasmvs's own, `director { ... }`, for what keepalived leaves to the kernel: the TAP
// interfaces, routes, neighbours, table size, control socket, metrics, offloads.
//
// The result is the same DirectorConfig the ipvsadm-rules format gives, so running,
// reloading, checking and replaying do not care which format a file is in. Keywords
// of features wasmvs does not have yet (health checkers, VRRP, persistence,
// notifications) are refused with their position and a note that they are not
// supported yet; unknown keywords likewise, with the nearest known one suggested.

import { readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkOffload, groupId, ConfigError, ErrorList, LIMITS, readConfigFile, DirectorConfig, InterfaceConfig, RealServerConfig, ServiceConfig } from "./rules.js";
import { deviceName, interfaceAddress, ipv4Address, macAddress, metricsEndpoint, mtu, onOff, routeDestination, SettingError, tableSize,
  wholeNumber } from "./settings.js";
import { Missing, notSupported, schedulerProblem } from "./features.js";

interface Tok {
  text: string;
  file: string;
  line: number;
  column: number;
  /** Written in double quotes: never a brace or a keyword of the grammar. */
  quoted?: boolean;
}

interface Node {
  key: Tok;
  args: Tok[];
  children?: Node[];
}

const fail = (t: Tok, why: string): never => {
  throw new ConfigError(t.file, t.line, t.column, t.text, why);
};

/** Expand a glob (*, ?, [...] in any path component) relative to base, sorted. */
export function expandGlob(pattern: string, base: string): string[] {
  // Relative to the including file's folder, however that file's own path was given.
  const abs = resolve(base, pattern);
  const parts = abs.split("/").filter((p) => p !== "");
  let paths = ["/"];
  for (const part of parts) {
    const next: string[] = [];
    if (!/[*?[]/.test(part)) {
      for (const p of paths) next.push(join(p, part));
    } else {
      const re = new RegExp("^" + part.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") + "$");
      for (const p of paths) {
        let names: string[] = [];
        try {
          names = readdirSync(p);
        } catch {
          continue;
        }
        for (const n of names.sort()) if (re.test(n) && !n.startsWith(".")) next.push(join(p, n));
      }
    }
    paths = next;
    if (paths.length > LIMITS.includedFiles) break;
  }
  return paths.filter((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

/** What reading a configuration with its includes has used so far (see LIMITS). */
interface Budget {
  files: number;
  bytes: number;
  tokens: number;
}

/** The words, braces and quoted strings of one line, with their columns. */
function lineTokens(line: string, file: string, lineNo: number): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\r") { i++; continue; }
    if (c === "#" || c === "!") break; // a comment to the end of the line
    if (c === "{" || c === "}") { out.push({ text: c, file, line: lineNo, column: i + 1 }); i++; continue; }
    if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new ConfigError(file, lineNo, i + 1, "", "unbalanced quote: a string opened here is not closed on its line");
      out.push({ text: line.slice(i + 1, end), file, line: lineNo, column: i + 1, quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < line.length && !" \t\r{}\"".includes(line[j])) j++;
    if (j - i > LIMITS.wordChars) throw new ConfigError(file, lineNo, i + 1, line.slice(i, i + 40), `a word longer than ${LIMITS.wordChars} characters`);
    out.push({ text: line.slice(i, j), file, line: lineNo, column: i + 1 });
    i = j;
  }
  return out;
}

/** Words, braces and quoted strings with their positions; comments dropped; includes
 *  spliced in place. Bounded by LIMITS (size, files, depth, tokens). */
function tokenize(file: string, depth: number, seen: Set<string>, budget: Budget, out: Tok[]): void {
  const text = readConfigFile(file);
  budget.bytes += text.length;
  if (budget.bytes > LIMITS.totalBytes) throw new ConfigError(file, 1, 1, "include", `the configuration with its includes is larger than ${LIMITS.totalBytes} bytes`);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineToks = lineTokens(line, file, i + 1);
    if (lineToks.length && lineToks[0].text === "include" && !lineToks[0].quoted) {
      const [inc, pattern] = lineToks;
      if (!pattern) fail(inc, "include needs a file name or a glob");
      if (lineToks.length > 2) fail(lineToks[2], "include takes one file name or glob");
      if (depth + 1 > LIMITS.includeDepth) fail(inc, `includes nested more than ${LIMITS.includeDepth} deep`);
      const files = expandGlob(pattern.text, dirname(file));
      if (files.length === 0 && !/[*?[]/.test(pattern.text)) fail(pattern, `no such file: ${pattern.text} (relative to ${dirname(resolve(file))})`);
      budget.files += files.length;
      if (budget.files > LIMITS.includedFiles) fail(pattern, `more than ${LIMITS.includedFiles} included files in all`);
      for (const f of files) {
        if (seen.has(f)) fail(pattern, `${f} includes itself`);
        seen.add(f);
        tokenize(f, depth + 1, seen, budget, out);
        seen.delete(f);
      }
      continue;
    }
    if (lineToks.length && lineToks[0].text.startsWith("@")) {
      fail(lineToks[0], notSupported("conditional"));
    }
    budget.tokens += lineToks.length + 1;
    if (budget.tokens > LIMITS.tokens) fail(lineToks[0] ?? { text: "", file, line: i + 1, column: 1 }, `more than ${LIMITS.tokens} words in the configuration`);
    // A newline ends a statement: mark it so arguments stop at the end of the line.
    for (const t of lineToks) out.push(t);
    if (lineToks.length) out.push({ text: "\n", file, line: i + 1, column: line.length + 1 });
  }
}

const isBrace = (t: Tok, b: string) => t.text === b && !t.quoted;

/** The block structure, built with an explicit stack: the nesting of a file cannot
 *  exhaust the call stack, and it is bounded by LIMITS.blockDepth. */
function parseBlocks(toks: Tok[]): Node[] {
  const root: Node[] = [];
  const stack: { nodes: Node[]; opener?: Tok }[] = [{ nodes: root }];
  let i = 0;
  while (i < toks.length) {
    const t = toks[i];
    const top = stack[stack.length - 1];
    if (t.text === "\n") { i++; continue; }
    if (isBrace(t, "}")) {
      if (!top.opener) fail(t, "unexpected '}' with no block open");
      stack.pop();
      i++;
      continue;
    }
    if (isBrace(t, "{")) fail(t, "a block needs a keyword before '{'");
    i++;
    const node: Node = { key: t, args: [] };
    while (i < toks.length && toks[i].text !== "\n" && !isBrace(toks[i], "{") && !isBrace(toks[i], "}")) node.args.push(toks[i++]);
    top.nodes.push(node);
    // keepalived allows the opening brace on the next line.
    let j = i;
    while (j < toks.length && toks[j].text === "\n") j++;
    if (j < toks.length && isBrace(toks[j], "{")) {
      if (stack.length > LIMITS.blockDepth) fail(toks[j], `blocks nested more than ${LIMITS.blockDepth} deep`);
      node.children = [];
      stack.push({ nodes: node.children, opener: toks[j] });
      i = j + 1;
    }
  }
  if (stack.length > 1) fail(stack[stack.length - 1].opener!, "this block is never closed (missing '}')");
  return root;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** Keywords keepalived knows for features wasmvs does not have yet (features.ts names them). */
const NOT_YET: Record<string, Missing> = {};
const missing = (f: Missing, keys: string[]) => { for (const k of keys) NOT_YET[k] = f; };
missing("healthChecks", ["HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "MISC_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "BFD_CHECK",
  "FILE_CHECK", "delay_loop", "inhibit_on_failure", "alpha", "omega", "quorum", "quorum_up", "quorum_down", "hysteresis", "ha_suspend",
  "virtualhost", "notify_up", "notify_down", "retry", "delay_before_retry", "connect_timeout", "warmup", "smtp_alert", "track_file",
  "sorry_server_inhibit"]);
missing("vrrp", ["vrrp_instance", "vrrp_sync_group", "vrrp_script", "vrrp_track_file", "static_ipaddress", "static_routes", "static_rules",
  "track_interface", "virtual_ipaddress", "vrrp_strict", "lvs_sync_daemon", "lvs_sync_daemon_interface", "garp_master_delay"]);
missing("persistence", ["persistence_timeout", "persistence_granularity", "persistence_engine"]);
missing("notifications", ["notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout", "smtp_helo_name",
  "enable_traps", "enable_snmp_checker", "enable_dbus"]);
missing("ops", ["ops"]);
missing("fwmark", ["fwmark"]);
missing("fullNat", ["local_address_group"]);

const GLOBAL_KEYS = ["router_id", "lvs_timeouts", "lvs_flush", "lvs_flush_onstop"];
const VS_KEYS = ["lb_algo", "lvs_sched", "lb_kind", "lvs_method", "protocol", "real_server", "sorry_server", "sorry_server_lvs_method"];
const RS_KEYS = ["weight", "uthreshold", "lthreshold", "lvs_method"];
const DIRECTOR_KEYS = ["interface", "route", "default_gateway", "neighbour", "neighbor", "connection_table_size", "control_socket", "control_group", "metrics", "offload", "reject_unknown"];
const IF_KEYS = ["tap", "bridge", "mac", "address", "mtu"];
const TOP_KEYS = ["global_defs", "virtual_server", "virtual_server_group", "director"];

function unknown(t: Tok, known: string[], where: string): never {
  if (Object.hasOwn(NOT_YET, t.text)) fail(t, notSupported(NOT_YET[t.text]));
  // A suggestion only for a word that could be a misspelt keyword (they are short).
  if (t.text.length > 40) fail(t, `unknown keyword in ${where}`);
  const near = [...known, ...Object.keys(NOT_YET)].map((k) => [k, distance(t.text.toLowerCase(), k.toLowerCase())] as const)
    .filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1])[0];
  return fail(t, `unknown keyword in ${where}${near ? ` (did you mean '${near[0]}'?)` : ""}`);
}

function arg(n: Node, i: number, what: string): Tok {
  const t = n.args[i];
  if (!t) fail(n.key, `expects ${what}`);
  return t!;
}
function noMoreArgs(n: Node, count: number): void {
  if (n.args.length > count) fail(n.args[count], `unexpected argument to ${n.key.text}`);
}
function leaf(n: Node): void {
  if (n.children) fail(n.key, `${n.key.text} does not take a block`);
}
/** The value of a word (settings.ts), its errors at the word's position. */
function value<T>(t: Tok, f: (text: string) => T): T {
  try {
    return f(t.text);
  } catch (e) {
    if (e instanceof SettingError) return fail(t, e.message);
    throw e;
  }
}
const int = (t: Tok, min: number, max: number, what: string) => value(t, (x) => wholeNumber(x, min, max, what));
const ip = (t: Tok, what: string) => value(t, (x) => ipv4Address(x, what));
function sched(t: Tok): ServiceConfig["scheduler"] {
  const problem = schedulerProblem(t.text);
  if (problem) fail(t, problem.reason);
  return t.text as ServiceConfig["scheduler"];
}
function method(t: Tok): RealServerConfig["method"] {
  const m = ({ NAT: "nat", DR: "dr", TUN: "tun" } as const)[t.text.toUpperCase() as "NAT" | "DR" | "TUN"];
  if (!m) fail(t, "expected NAT, DR or TUN");
  return m!;
}

/** Expand a virtual_server_group: "IP PORT", "IP-LAST PORT" ranges. */
function groupMembers(g: Node): { address: string; port: number }[] {
  const out: { address: string; port: number }[] = [];
  for (const m of g.children ?? []) {
    if (m.key.text === "fwmark") fail(m.key, notSupported("fwmark"));
    if (m.key.text.includes(":")) fail(m.key, notSupported("ipv6"));
    const port = int(arg(m, 0, "a port"), 0, 65535, "port");
    noMoreArgs(m, 1);
    const r = /^(\d+\.\d+\.\d+\.)(\d+)(?:-(\d+))?$/.exec(m.key.text);
    if (!r) fail(m.key, "expected IP PORT or IP-LAST PORT in virtual_server_group");
    ip({ ...m.key, text: r![1] + r![2] }, "the address");
    const first = Number(r![2]);
    const last = r![3] !== undefined ? Number(r![3]) : first;
    if (last < first || last > 255) fail(m.key, "the range's last address must be at least its first and at most 255");
    for (let k = first; k <= last; k++) out.push({ address: r![1] + k, port });
  }
  return out;
}

export function parseKeepalived(path: string): DirectorConfig {
  const toks: Tok[] = [];
  tokenize(path, 0, new Set([resolve(path)]), { files: 1, bytes: 0, tokens: 0 }, toks);
  const nodes = parseBlocks(toks);
  const cfg: DirectorConfig = { file: path, format: "keepalived", interfaces: [], routes: [], neighbours: [], services: [] };
  const groups = new Map<string, Node>();
  // Every error is reported, not only the first: each statement is checked on its own.
  const errs = new ErrorList();
  for (const n of nodes) if (n.key.text === "virtual_server_group") errs.attempt(() => groups.set(arg(n, 0, "a group name").text, n));
  let director: Node | undefined;
  // The director block first: virtual servers are checked against its interfaces.
  const ordered = [...nodes.filter((n) => n.key.text === "director"), ...nodes.filter((n) => n.key.text !== "director")];
  for (const n of ordered) errs.attempt(() => {
    switch (n.key.text) {
      case "global_defs":
        for (const g of n.children ?? []) errs.attempt(() => {
          if (g.key.text === "router_id" || g.key.text === "lvs_flush" || g.key.text === "lvs_flush_onstop") { leaf(g); return; }
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
          unknown(g.key, GLOBAL_KEYS, "global_defs");
        });
        break;
      case "virtual_server_group":
        if (!n.children) fail(n.key, "virtual_server_group needs a block of addresses");
        groupMembers(n);
        break;
      case "virtual_server":
        virtualServer(n, cfg, groups, errs);
        break;
      case "director":
        if (director) fail(n.key, `a second director block (the first is on line ${director.key.line})`);
        director = n;
        directorBlock(n, cfg, errs);
        break;
      default:
        unknown(n.key, TOP_KEYS, "the top level");
    }
  });
  if (!director && !errs.errors.length) errs.attempt(() => { throw new ConfigError(path, 1, 1, "director", "no director block: wasmvs needs one for its interfaces (see README, 'keepalived.conf')"); });
  errs.attempt(() => checkOffload(cfg));
  errs.check();
  return cfg;
}

function virtualServer(n: Node, cfg: DirectorConfig, groups: Map<string, Node>, errs: ErrorList): void {
  if (!n.children) fail(n.key, "virtual_server needs a block");
  let members: { address: string; port: number }[];
  const first = arg(n, 0, "an address and a port, 'group NAME' or 'fwmark N'");
  if (first.text === "fwmark") fail(first, notSupported("fwmark"));
  if (first.text === "group") {
    const g = groups.get(arg(n, 1, "a group name").text);
    if (!g) fail(n.args[1], `no virtual_server_group named ${n.args[1].text}`);
    members = groupMembers(g!);
    noMoreArgs(n, 2);
  } else {
    members = [{ address: ip(first, "the virtual address"), port: int(arg(n, 1, "a port"), 0, 65535, "port") }];
    noMoreArgs(n, 2);
  }
  let scheduler: ServiceConfig["scheduler"] = "wlc";
  let kind: RealServerConfig["method"] = "nat";
  let protocol: "tcp" | "udp" = "tcp";
  const reals: { node: Node; rs: RealServerConfig; explicitMethod: boolean }[] = [];
  let sorry: RealServerConfig | undefined;
  let sorryMethod: RealServerConfig["method"] | undefined;
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    if (k === "lb_algo" || k === "lvs_sched") {
      leaf(c);
      scheduler = sched(arg(c, 0, "a scheduler"));
      if (c.args.length > 1) fail(c.args[1], notSupported("schedFlags"));
    } else if (k === "lb_kind" || k === "lvs_method") {
      leaf(c);
      kind = method(arg(c, 0, "NAT, DR or TUN"));
      noMoreArgs(c, 1);
    } else if (k === "protocol") {
      leaf(c);
      const p = arg(c, 0, "TCP or UDP").text.toUpperCase();
      if (p === "SCTP") fail(c.args[0], notSupported("sctp"));
      if (p !== "TCP" && p !== "UDP") fail(c.args[0], "expected TCP or UDP");
      protocol = p === "TCP" ? "tcp" : "udp";
    } else if (k === "real_server") {
      const rs: RealServerConfig = {
        address: ip(arg(c, 0, "an address and a port"), "the real server"), port: int(arg(c, 1, "a port"), 0, 65535, "port"),
        method: "nat", weight: 1, uthreshold: 0, lthreshold: 0, line: c.key.line,
      };
      noMoreArgs(c, 2);
      let explicitMethod = false;
      for (const r of c.children ?? []) errs.attempt(() => {
        if (r.key.text === "weight") { leaf(r); rs.weight = int(arg(r, 0, "a weight"), 0, 65535, "weight"); }
        else if (r.key.text === "uthreshold") { leaf(r); rs.uthreshold = int(arg(r, 0, "a number"), 0, 2147483647, "uthreshold"); }
        else if (r.key.text === "lthreshold") { leaf(r); rs.lthreshold = int(arg(r, 0, "a number"), 0, 2147483647, "lthreshold"); }
        else if (r.key.text === "lvs_method") { leaf(r); rs.method = method(arg(r, 0, "NAT, DR or TUN")); explicitMethod = true; }
        else unknown(r.key, RS_KEYS, "real_server");
      });
      reals.push({ node: c, rs, explicitMethod });
    } else if (k === "sorry_server") {
      leaf(c);
      sorry = { address: ip(arg(c, 0, "an address and a port"), "the sorry server"), port: int(arg(c, 1, "a port"), 0, 65535, "port"),
        method: "nat", weight: 1, uthreshold: 0, lthreshold: 0, line: c.key.line };
    } else if (k === "sorry_server_lvs_method") {
      leaf(c);
      sorryMethod = method(arg(c, 0, "NAT, DR or TUN"));
    } else {
      unknown(c.key, VS_KEYS, "virtual_server");
    }
  });
  for (const r of reals) if (!r.explicitMethod) r.rs.method = kind;
  // keepalived installs the sorry server when no real server can take traffic; with no
  // health checks yet, that is a virtual server without real servers.
  const servers = reals.map((r) => r.rs);
  if (servers.length === 0 && sorry) servers.push({ ...sorry, method: sorryMethod ?? kind });
  for (const m of members) {
    if (cfg.services.some((s) => s.protocol === protocol && s.address === m.address && s.port === m.port)) {
      fail(n.key, `virtual server ${protocol.toUpperCase()} ${m.address}:${m.port} is defined twice`);
    }
    for (const r of servers) {
      if (r.method !== "nat" && r.port !== m.port) {
        (cfg.warnings ??= []).push(`${n.key.file}:${r.line}: ${r.method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: ` +
          `real server ${r.address}:${r.port} gets the service port ${m.port}, as ipvsadm does`);
      }
    }
    cfg.services.push({
      protocol, address: m.address, port: m.port, scheduler, line: n.key.line,
      // DR and TUN keep the service port (ipvsadm does the same with -g and -i), with a warning above.
      realServers: servers.map((r) => ({ ...r, port: r.method === "nat" ? r.port : m.port })),
    });
  }
}

function directorBlock(n: Node, cfg: DirectorConfig, errs: ErrorList): void {
  if (!n.children) fail(n.key, "director needs a block");
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    if (!DIRECTOR_KEYS.includes(k)) unknown(c.key, DIRECTOR_KEYS, "director");
    if (k === "interface") {
      const name = arg(c, 0, "a name");
      if (!c.children) fail(c.key, "interface needs a block (tap, bridge, mac, address, mtu)");
      const ifc: InterfaceConfig = { index: cfg.interfaces.length, name: name.text, mac: "", mtu: 1500, tap: name.text.slice(0, 15), line: c.key.line };
      if (cfg.interfaces.some((i) => i.name === name.text)) fail(name, `interface ${name.text} is defined twice`);
      if (ifc.index >= 16) fail(c.key, "at most 16 interfaces");
      for (const p of c.children!) {
        leaf(p);
        const v = arg(p, 0, "a value");
        noMoreArgs(p, 1);
        if (p.key.text === "tap") ifc.tap = value(v, deviceName);
        else if (p.key.text === "bridge") ifc.bridge = value(v, deviceName);
        else if (p.key.text === "mac") ifc.mac = value(v, macAddress);
        else if (p.key.text === "address") ifc.address = value(v, interfaceAddress);
        else if (p.key.text === "mtu") ifc.mtu = value(v, mtu);
        else unknown(p.key, IF_KEYS, "interface");
      }
      if (!ifc.mac) fail(c.key, `interface ${name.text} needs a mac`);
      cfg.interfaces.push(ifc);
      return;
    }
    leaf(c);
    if (k === "default_gateway") {
      cfg.routes.push({ cidr: "0.0.0.0/0", via: ip(arg(c, 0, "an address"), "the gateway"), line: c.key.line });
      noMoreArgs(c, 1);
    } else if (k === "route") {
      const r = { cidr: value(arg(c, 0, "a destination (CIDR or default)"), routeDestination), via: undefined as string | undefined,
        dev: undefined as string | undefined, line: c.key.line };
      for (let i = 1; i < c.args.length; i += 2) {
        const key = c.args[i];
        const val = arg(c, i + 1, `a value after ${key.text}`);
        if (key.text === "via") r.via = ip(val, "the gateway");
        else if (key.text === "dev") r.dev = val.text;
        else fail(key, "expected via or dev");
      }
      if (!r.via && !r.dev) fail(c.key, "a route needs 'via GATEWAY' or 'dev INTERFACE'");
      cfg.routes.push(r);
    } else if (k === "neighbour" || k === "neighbor") {
      const a = ip(arg(c, 0, "an address"), "the neighbour");
      const m = value(arg(c, 1, "a MAC address"), macAddress);
      cfg.neighbours.push({ address: a, mac: m, dev: c.args[2]?.text === "dev" ? arg(c, 3, "an interface").text : undefined, line: c.key.line });
    } else if (k === "connection_table_size") {
      cfg.connections = value(arg(c, 0, "a size"), tableSize);
    } else if (k === "control_socket") {
      cfg.controlSocket = arg(c, 0, "a path").text;
    } else if (k === "control_group") {
      const g = arg(c, 0, "a group name or number");
      noMoreArgs(c, 1);
      const gid = groupId(g.text);
      if (gid === undefined) fail(g, `no such group: ${g.text}`);
      cfg.controlGroup = { name: g.text, gid: gid!, line: c.key.line };
    } else if (k === "metrics") {
      cfg.metrics = { ...value(arg(c, 0, "[ADDRESS:]PORT"), metricsEndpoint), line: c.key.line };
    } else if (k === "offload" || k === "reject_unknown") {
      const on = value(arg(c, 0, "on or off"), onOff);
      noMoreArgs(c, 1);
      if (k === "offload") cfg.offload = { on, line: c.key.line };
      else cfg.rejectUnknown = { on, line: c.key.line };
    }
  });
  if (cfg.interfaces.length === 0) fail(n.key, "the director block needs at least one interface");
}

/** keepalived.conf has blocks or includes; the ipvsadm-rules format has neither. */
export function looksLikeKeepalived(text: string): boolean {
  return text.split(/\r?\n/).map((l) => l.replace(/(^|\s)[#!].*$/, "")).some((l) => /\{/.test(l) || /^\s*include\s/.test(l));
}
