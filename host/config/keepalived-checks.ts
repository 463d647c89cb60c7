// keepalived.conf's health part, read into host/config/health.ts's model: the checker
// blocks of a real_server, the health keywords of virtual_server and real_server, and
// global_defs' scripts and mail settings. Every keyword keepalived has here is read and
// acted on, or refused with its position and why; the one that means nothing here
// (PING_CHECK's bind_port) is ignored with a warning (../control/keepalived-keywords.ts).
//
// Keywords and defaults follow keepalived/check/check_parser.c, check_api.c and the
// check_*.c files (see ../shared/HA-FACTS.md).

import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { ErrorList, groupId } from "./rules.js";
import { ipAddress, SettingError } from "./settings.js";
import { isLinkLocal6, parseIp6 } from "../engine/addr.js";
import { compileRegex } from "./regex.js";
import { CHECKER_NO_BIND_PORT, CHECKER_NOT_YET } from "./not-yet.js";
import { arg, carryOn, fail, int, ip, leaf, noMoreArgs, Node, Tok, unknown, value, warn } from "./keepalived-grammar.js";
import {
  CheckerBase, CheckerConfig, CheckerKind, CHECKER_KINDS, HEALTH_DEFAULTS, HealthGlobals, HttpUrl, Script, ServerHealth, ServiceHealth, Where,
} from "./health.js";

const where = (t: Tok): Where => ({ file: t.file, line: t.line, column: t.column });

/** Seconds as keepalived writes them ("6", "0.2"), in milliseconds, within [minMs, maxMs]. */
export function seconds(text: string, minMs: number, maxMs: number, what: string): number {
  if (!/^\d+(\.\d{1,6})?$/.test(text)) throw new SettingError(`${what} must be a number of seconds (e.g. 5 or 0.2)`);
  const ms = Math.round(Number(text) * 1000);
  if (ms < minMs || ms > maxMs) throw new SettingError(`${what} must be between ${minMs / 1000} and ${maxMs / 1000} seconds`);
  return ms;
}
const secs = (t: Tok, minMs: number, maxMs: number, what: string) => value(t, (x) => seconds(x, minMs, maxMs, what));
const DAY_MS = 86_400_000;
/** Sub-second checking is wasmvs's, down to 10 ms (keepalived's own timer resolution is finer,
 *  but a shorter loop only burns CPU). */
const MIN_LOOP_MS = 10;

/** A checker's connect_ip or bindto: either family (check_api.c's inet_stosockaddr takes
 *  both), an IPv6 one given back as formatIp writes it (RFC 5952). */
const checkerAddress = (t: Tok, what: string): string => value(t, (x) => ipAddress(x, what));
const familyOf = (address: string): 4 | 6 => (address.includes(":") ? 6 : 4);
/** keepalived's co_ip_handler and co_srcip_handler, read in the file's order: the address
 *  connected to (the real server's unless connect_ip gave one) and the one bound to must be
 *  of one family; keepalived skips the later keyword with these words, wasmvs refuses it. A
 *  link-local connect_ip needs bind_if (check_conn_opts), which wasmvs does not take. */
function connectIp(t: Tok, bindto: string | undefined): string {
  const a = checkerAddress(t, "connect_ip");
  if (bindto !== undefined && familyOf(bindto) !== familyOf(a)) fail(t, `connect_ip address ${t.text} does not match address family of bindto`);
  if (familyOf(a) === 6 && isLinkLocal6(parseIp6(a))) fail(t, `Checker link local address ${a} requires a bind_if (bind_if is not supported by wasmvs yet)`);
  return a;
}
function bindtoIp(t: Tok, connectTo: string): string {
  const a = checkerAddress(t, "bindto");
  if (familyOf(connectTo) !== familyOf(a)) fail(t, `bindto address ${t.text} does not match address family of connect_ip`);
  return a;
}

function onlyArg(n: Node, what: string): Tok {
  leaf(n);
  const t = arg(n, 0, what);
  noMoreArgs(n, 1);
  return t;
}
function flag(n: Node): true {
  leaf(n);
  noMoreArgs(n, 0);
  return true;
}

/** A script's command line as keepalived reads it (notify.c): the first word, split when it
 *  is quoted ("/bin/x.sh arg"). withUser (notify_up/down, quorum_up/down: notify_script_init):
 *  the words after an unquoted command are the USER [GROUP] to run it as, and a user that does
 *  not exist disables the script (undefined), as keepalived does at start; without (misc_path:
 *  set_script_params_array) they are dropped. wasmvs says so in a warning (--strict refuses). */
function script(n: Node, withUser: boolean): Script | undefined {
  leaf(n);
  const first = arg(n, 0, "a script (a path and its arguments)");
  const argv = first.quoted ? first.text.split(/\s+/).filter(Boolean) : [first.text];
  if (!argv.length || !argv[0].startsWith("/")) fail(first, "a script needs an absolute path");
  const quoteIt = `for arguments, quote the command: ${n.key.text} "${n.args.map((a) => a.text).join(" ")}"`;
  if (n.args.length > 1 && !withUser) {
    carryOn(n.args[1], `unexpected argument to ${n.key.text} (${quoteIt})`, `ignored with the words after it: keepalived runs ${argv.join(" ")} alone, and so does wasmvs`);
  } else if (!notifyUser(n, quoteIt)) return undefined;
  return { argv, where: where(first) };
}
/** The words after an unquoted notify command: USER [GROUP] to run it as (keepalived's
 *  notify_script_init). false: no such user, and the script is disabled, as keepalived disables
 *  it ("Invalid user/group for notify script ... - ignoring"); another user than wasmvs's own is
 *  refused as not supported yet. quoteIt: how to write the command with arguments instead. */
export function notifyUser(n: Node, quoteIt: string): boolean {
  if (n.args.length > 3) fail(n.args[3], `unexpected argument to ${n.key.text}: keepalived takes "COMMAND ARGUMENTS" [USER [GROUP]]`);
  const user = n.args[1];
  if (!user) return true;
  let uid: number | undefined;
  try {
    uid = userIds(user.text).uid;
  } catch { /* no such user */ }
  if (uid === undefined) {
    carryOn(user, `no such user: ${user.text}`, `keepalived reads the words after an unquoted ${n.key.text} as the USER [GROUP] to run it as, and disables ` +
      `the script for a user that does not exist ("Invalid user/group for notify script ... - ignoring"): so does wasmvs; ${quoteIt}`);
    return false;
  }
  if (uid !== process.getuid?.()) fail(user, `${n.key.text} run as another user (${user.text}) is not supported by wasmvs yet (keepalived reads the words after an unquoted script as USER [GROUP]; ${quoteIt})`);
  return true;
}
/** keepalived keeps the first of a script given twice ("script already specified - ignoring"). */
function scriptOnce(n: Node, had: Script | undefined): Script | undefined {
  if (!had) return script(n, true);
  leaf(n);
  carryOn(n.key, `${n.key.text} is already set (line ${had.where.line})`, `ignored, as keepalived keeps the first ("${n.key.text} script already specified - ignoring")`);
  return had;
}

/** Timing settings that virtual_server, real_server and checkers share; each level may set them. */
export interface Timing {
  delayLoopMs?: number;
  connectTimeoutMs?: number;
  retry?: number;
  delayBeforeRetryMs?: number;
  warmupMs?: number;
  alpha?: boolean;
  virtualhost?: string;
  smtpAlert?: boolean;
}
const TIMING_KEYS = ["delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup", "alpha", "virtualhost", "smtp_alert"];

/** Read one timing keyword into t; false when n is not one. */
function timing(n: Node, t: Timing): boolean {
  switch (n.key.text) {
    case "delay_loop": t.delayLoopMs = secs(onlyArg(n, "seconds"), MIN_LOOP_MS, DAY_MS, "delay_loop"); return true;
    case "connect_timeout": t.connectTimeoutMs = secs(onlyArg(n, "seconds"), MIN_LOOP_MS, 3_600_000, "connect_timeout"); return true;
    case "retry": case "nb_get_retry": t.retry = int(onlyArg(n, "a number of retries"), 0, 65535, n.key.text); return true;
    case "delay_before_retry": t.delayBeforeRetryMs = secs(onlyArg(n, "seconds"), 0, 3_600_000, "delay_before_retry"); return true;
    case "warmup": t.warmupMs = secs(onlyArg(n, "seconds"), 0, DAY_MS, "warmup"); return true;
    case "alpha": t.alpha = flag(n); return true;
    case "virtualhost": t.virtualhost = onlyArg(n, "a host name").text; return true;
    case "smtp_alert": {
      leaf(n);
      const v = n.args[0]?.text;
      noMoreArgs(n, 1);
      if (v !== undefined && !["on", "off", "true", "false", "yes", "no"].includes(v)) fail(n.args[0], "expected on or off");
      t.smtpAlert = v === undefined || ["on", "true", "yes"].includes(v);
      return true;
    }
  }
  return false;
}

/** What a checker inherits: the virtual server's and the real server's timing, and the RS's address. */
export interface Inherited {
  vs: Timing;
  rs: Timing;
  address: string;
  port: number;
}

const COMMON_KEYS = [...TIMING_KEYS.filter((k) => k !== "virtualhost" && k !== "smtp_alert"), "connect_ip", "connect_port", "bindto",
  "bind_port", "log_all_failures"];
const CONNECTION_KEYS = ["connect_ip", "connect_port", "bindto", "bind_port", "connect_timeout"];
/** The common keywords a checker kind takes (check_api.c install_checker_common_keywords). */
function kindCommonKeys(kind: CheckerKind): string[] {
  if (kind === "FILE_CHECK") return [];
  if (kind === "MISC_CHECK") return COMMON_KEYS.filter((k) => !CONNECTION_KEYS.includes(k));
  return kind === "HTTP_GET" || kind === "SSL_GET" ? [...COMMON_KEYS, "nb_get_retry"] : COMMON_KEYS;
}

const KIND_KEYS: Record<CheckerKind, string[]> = {
  TCP_CHECK: [],
  HTTP_GET: ["url", "virtualhost", "http_protocol", "fast_recovery", "enable_sni", "sni_name"],
  SSL_GET: ["url", "virtualhost", "http_protocol", "fast_recovery", "enable_sni", "sni_name"],
  UDP_CHECK: ["payload", "require_reply", "min_reply_length", "max_reply_length"],
  MISC_CHECK: ["misc_path", "misc_timeout", "misc_dynamic", "user"],
  DNS_CHECK: ["type", "name"],
  SMTP_CHECK: ["helo_name", "host"],
  PING_CHECK: [],
  FILE_CHECK: ["track_file", "weight"],
};

const DNS_TYPES = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];
const hex = (t: Tok, what: string): string => {
  if (!/^([0-9a-fA-F]{2})+$/.test(t.text) || t.text.length > 2 * 1400) fail(t, `${what} must be hexadecimal bytes (at most 1400)`);
  return t.text.toLowerCase();
};

function statusCodes(n: Node): [number, number][] {
  leaf(n);
  if (!n.args.length) fail(n.key, "expects status codes or ranges (e.g. 200-299 302)");
  return n.args.map((a) => {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a.text);
    if (!m) fail(a, "expected a status code (100-599) or a range (e.g. 200-299)");
    const lo = Number(m![1]);
    const hi = m![2] !== undefined ? Number(m![2]) : lo;
    if (lo < 100 || hi > 599 || hi < lo) fail(a, "status codes are 100-599, a range's end at least its start");
    return [lo, hi] as [number, number];
  });
}

function url(n: Node, kind: CheckerKind): HttpUrl {
  if (!n.children) fail(n.key, "url needs a block (path, digest, status_code, regex, virtualhost)");
  noMoreArgs(n, 0);
  const u: HttpUrl = { path: "", statusCodes: HEALTH_DEFAULTS.httpStatus, regexNoMatch: false };
  let pathTok: Tok | undefined;
  for (const c of n.children!) {
    const k = c.key.text;
    if (k === "path") { pathTok = onlyArg(c, "a path"); u.path = pathTok.text; }
    else if (k === "digest") {
      const d = onlyArg(c, "an MD5 digest");
      if (!/^[0-9a-fA-F]{32}$/.test(d.text)) fail(d, "a digest is 32 hexadecimal digits (the MD5 of the page, as genhash prints it)");
      u.digest = d.text.toLowerCase();
    } else if (k === "status_code") u.statusCodes = statusCodes(c);
    else if (k === "virtualhost") u.virtualhost = onlyArg(c, "a host name").text;
    else if (k === "regex") {
      const r = onlyArg(c, "a regular expression");
      // Compiled once here so that a pattern RE2 refuses (PCRE2's backreferences, lookaround) stops the load.
      try {
        compileRegex(r.text);
      } catch (e) {
        fail(r, (e as Error).message);
      }
      u.regex = r.text;
    } else if (k === "regex_no_match") u.regexNoMatch = flag(c);
    else if (CHECKER_NOT_YET[k]) fail(c.key, CHECKER_NOT_YET[k]);
    else unknown(c, ["path", "digest", "status_code", "virtualhost", "regex", "regex_no_match"], "url", `virtual_server/real_server/${kind}/url`);
  }
  if (!pathTok) fail(n.key, "url needs a path");
  if (!u.path.startsWith("/")) fail(pathTok!, "a url path starts with /");
  if (/[\s\r\n]/.test(u.path)) fail(pathTok!, "a url path has no spaces or line breaks");
  return u;
}

/** One checker block (several for SMTP_CHECK with host blocks). */
export function checker(n: Node, inh: Inherited, globals: HealthGlobals, trackFiles: Map<string, TrackFile>): CheckerConfig[] {
  const kind = n.key.text as CheckerKind;
  if (!n.children) fail(n.key, `${kind} needs a block`);
  noMoreArgs(n, 0);
  const own: Timing = {};
  const base = { connectIp: inh.address, connectPort: inh.port } as { connectIp: string; connectPort: number; bindto?: string; bindPort?: number };
  let logAllFailures = globals.checkerLogAllFailures ?? false;
  const extra: Record<string, unknown> = {};
  const urls: HttpUrl[] = [];
  const hosts: { ip?: string; port?: number; bindto?: string; bindPort?: number; where: Where }[] = [];
  let miscPath: Script | undefined;
  let trackFile: { name: string; tok: Tok } | undefined;
  // Each line on its own: every error of the block is reported; a keyword that was there but
  // refused is not also called missing.
  const errs = new ErrorList();
  const said = (k: string) => n.children!.some((c) => c.key.text === k);
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    // keepalived gives MISC_CHECK no connection keywords and FILE_CHECK none of the common ones.
    const allowed = kindCommonKeys(kind);
    if ((COMMON_KEYS.includes(k) || k === "nb_get_retry") && !allowed.includes(k)) { unknown(c, [...allowed, ...KIND_KEYS[kind]], kind, `virtual_server/real_server/${kind}`); return; }
    if (k === "bind_port" && CHECKER_NO_BIND_PORT[kind]) fail(c.key, CHECKER_NO_BIND_PORT[kind]!);
    // keepalived takes it and it means nothing: ICMP has no ports (a warning, keepalived-keywords.ts).
    if (k === "bind_port" && kind === "PING_CHECK") { unknown(c, [], kind, `virtual_server/real_server/${kind}`); return; }
    if (k !== "virtualhost" && k !== "smtp_alert" && timing(c, own)) return;
    if (k === "connect_ip") base.connectIp = connectIp(onlyArg(c, "an address"), base.bindto);
    else if (k === "connect_port") base.connectPort = int(onlyArg(c, "a port"), 1, 65535, "connect_port");
    else if (k === "bindto") base.bindto = bindtoIp(onlyArg(c, "an address"), base.connectIp);
    else if (k === "bind_port") base.bindPort = int(onlyArg(c, "a port"), 1, 65535, "bind_port");
    else if (k === "log_all_failures") { leaf(c); logAllFailures = true; }
    else if (!KIND_KEYS[kind].includes(k)) {
      if (CHECKER_NOT_YET[k]) fail(c.key, CHECKER_NOT_YET[k]);
      unknown(c, [...COMMON_KEYS, ...KIND_KEYS[kind]], kind, `virtual_server/real_server/${kind}`);
    } else if (k === "url") urls.push(url(c, kind));
    else if (k === "virtualhost") extra.virtualhost = onlyArg(c, "a host name").text;
    else if (k === "http_protocol") {
      const v = onlyArg(c, "1.0, 1.0C, 1.1 or 0.9");
      if (v.text === "0.9") fail(v, "HTTP/0.9 is not supported by wasmvs (its checker speaks HTTP/1.1 with Connection: close)");
      if (!["1.0", "1.0C", "1.1"].includes(v.text)) fail(v, "expected 1.0, 1.0C or 1.1");
      extra.httpProtocol = v.text;
    } else if (k === "fast_recovery") extra.fastRecovery = flag(c);
    else if (k === "enable_sni") extra.enableSni = flag(c);
    else if (k === "sni_name") extra.sniName = onlyArg(c, "a server name").text;
    else if (k === "payload") extra.payload = hex(onlyArg(c, "hexadecimal bytes"), "payload");
    else if (k === "require_reply") {
      leaf(c);
      noMoreArgs(c, 1);
      extra.requireReply = c.args[0] ? hex(c.args[0], "require_reply") : true;
    } else if (k === "min_reply_length" || k === "max_reply_length") extra[k === "min_reply_length" ? "minReplyLength" : "maxReplyLength"] = int(onlyArg(c, "a length"), 0, 65535, k);
    else if (k === "misc_path") miscPath = script(c, false);
    else if (k === "misc_timeout") extra.timeoutMs = secs(onlyArg(c, "seconds"), MIN_LOOP_MS, DAY_MS, "misc_timeout");
    else if (k === "misc_dynamic") extra.dynamic = flag(c);
    else if (k === "user") {
      leaf(c);
      const u = arg(c, 0, "a user");
      noMoreArgs(c, 2);
      extra.user = value(u, (x) => { userIds(x); return x; });
    } else if (k === "type") {
      const v = onlyArg(c, DNS_TYPES.join(", "));
      if (!DNS_TYPES.includes(v.text.toUpperCase())) fail(v, `expected one of ${DNS_TYPES.join(", ")}`);
      extra.type = v.text.toUpperCase();
    } else if (k === "name") extra.name = onlyArg(c, "a domain name").text;
    else if (k === "helo_name") extra.helo = onlyArg(c, "a host name").text;
    else if (k === "host") {
      if (!c.children) fail(c.key, "host needs a block (connect_ip, connect_port, bindto, bind_port)");
      const h: (typeof hosts)[number] = { where: where(c.key) };
      for (const hc of c.children!) {
        const hk = hc.key.text;
        if (hk === "connect_ip") h.ip = connectIp(onlyArg(hc, "an address"), h.bindto ?? base.bindto);
        else if (hk === "connect_port") h.port = int(onlyArg(hc, "a port"), 1, 65535, "connect_port");
        else if (hk === "bindto") h.bindto = bindtoIp(onlyArg(hc, "an address"), h.ip ?? base.connectIp);
        else if (hk === "bind_port") fail(hc.key, CHECKER_NO_BIND_PORT.SMTP_CHECK!);
        // keepalived's handlers of these write the SMTP checker itself (current_checker), not the host.
        else if (hk !== "virtualhost" && hk !== "smtp_alert" && timing(hc, own)) continue;
        else if (hk === "log_all_failures") { leaf(hc); logAllFailures = true; }
        else if (CHECKER_NOT_YET[hk]) fail(hc.key, CHECKER_NOT_YET[hk]);
        else unknown(hc, ["connect_ip", "connect_port", "bindto", "bind_port"], "host", "virtual_server/real_server/SMTP_CHECK/host");
      }
      hosts.push(h);
    } else if (k === "track_file") trackFile = { name: onlyArg(c, "a track_file name").text, tok: c.args[0] };
    else if (k === "weight") ({ weight: extra.weight, reverse: extra.reverse } = trackWeight(c));
  });
  errs.attempt(() => { if ((kind === "HTTP_GET" || kind === "SSL_GET") && !urls.length && !said("url")) fail(n.key, `${kind} needs at least one url block`); });
  errs.attempt(() => { if (kind === "MISC_CHECK" && !miscPath && !said("misc_path")) fail(n.key, "MISC_CHECK needs misc_path"); });
  errs.attempt(() => {
    if (kind !== "FILE_CHECK" || !trackFile) return;
    if (!trackFiles.get(trackFile.name)) fail(trackFile.tok, `no track_file block named ${trackFile.name}`);
  });
  errs.attempt(() => { if (kind === "FILE_CHECK" && !trackFile && !said("track_file")) fail(n.key, "FILE_CHECK needs track_file NAME (a track_file block at the top level)"); });
  errs.check();
  // keepalived's inheritance: the checker, then the real server, then the virtual server,
  // then the checker kind's default.
  const pick = <K extends keyof Timing>(k: K): Timing[K] => own[k] ?? inh.rs[k] ?? inh.vs[k];
  const delayLoopMs = pick("delayLoopMs") ?? HEALTH_DEFAULTS.delayLoopMs;
  const http = kind === "HTTP_GET" || kind === "SSL_GET";
  const common: CheckerBase = {
    kind, where: where(n.key), ...base,
    connectTimeoutMs: pick("connectTimeoutMs") ?? HEALTH_DEFAULTS.connectTimeoutMs,
    retry: pick("retry") ?? (kind === "MISC_CHECK" ? HEALTH_DEFAULTS.retryMisc : kind === "DNS_CHECK" ? HEALTH_DEFAULTS.retryDns : HEALTH_DEFAULTS.retry),
    delayBeforeRetryMs: pick("delayBeforeRetryMs") ?? (http ? HEALTH_DEFAULTS.delayBeforeRetryHttpMs : kind === "DNS_CHECK" ? delayLoopMs : HEALTH_DEFAULTS.delayBeforeRetryMs),
    delayLoopMs,
    warmupMs: pick("warmupMs") ?? delayLoopMs,
    alpha: pick("alpha") ?? false,
    logAllFailures,
  };
  const vhost = (extra.virtualhost as string | undefined) ?? inh.rs.virtualhost ?? inh.vs.virtualhost;
  switch (kind) {
    case "TCP_CHECK": case "PING_CHECK":
      return [{ ...common, kind }];
    case "HTTP_GET": case "SSL_GET":
      if (!urls.length) fail(n.key, `${kind} needs at least one url block`);
      return [{
        ...common, kind, urls, virtualhost: vhost, httpProtocol: (extra.httpProtocol as "1.0") ?? "1.0",
        fastRecovery: !!extra.fastRecovery, enableSni: !!extra.enableSni, sniName: extra.sniName as string | undefined,
      }];
    case "UDP_CHECK":
      return [{
        ...common, kind, payload: extra.payload as string | undefined, requireReply: extra.requireReply as string | true | undefined,
        minReplyLength: (extra.minReplyLength as number) ?? 0, maxReplyLength: (extra.maxReplyLength as number) ?? 65535,
      }];
    case "MISC_CHECK":
      if (!miscPath) fail(n.key, "MISC_CHECK needs misc_path");
      return [{ ...common, kind, script: miscPath!, timeoutMs: (extra.timeoutMs as number) ?? delayLoopMs, dynamic: !!extra.dynamic, user: extra.user as string | undefined }];
    case "DNS_CHECK":
      return [{ ...common, kind, type: (extra.type as string) ?? HEALTH_DEFAULTS.dnsType, name: (extra.name as string) ?? HEALTH_DEFAULTS.dnsName }];
    case "SMTP_CHECK": {
      const helo = (extra.helo as string) ?? HEALTH_DEFAULTS.smtpHelo;
      // keepalived: each host block is a checker of its own; with none, the block itself is one.
      if (!hosts.length) return [{ ...common, kind, helo }];
      return hosts.map((h) => ({
        ...common, kind, helo, where: h.where, connectIp: h.ip ?? common.connectIp, connectPort: h.port ?? common.connectPort,
        bindto: h.bindto ?? common.bindto, bindPort: h.bindPort ?? common.bindPort,
      }));
    }
    case "FILE_CHECK": {
      if (!trackFile) fail(n.key, "FILE_CHECK needs track_file NAME (a track_file block at the top level)");
      const tf = trackFiles.get(trackFile!.name);
      if (!tf) fail(trackFile!.tok, `no track_file block named ${trackFile!.name}`);
      // keepalived knows a tracked file's state at once: no alpha, no retries, read from the start.
      return [{
        ...common, kind, alpha: false, retry: 0, warmupMs: 0, trackFile: trackFile!.name, path: tf!.path,
        weight: (extra.weight as number) ?? tf!.weight, reverse: extra.weight !== undefined ? !!extra.reverse : tf!.reverse,
      }];
    }
  }
  return fail(n.key, `${kind} is not a checker`);
}

/** `weight W [reverse|noreverse]` of a tracked file (track_file.c's track_file_weight_handler). */
function trackWeight(c: Node): { weight: number; reverse: boolean } {
  leaf(c);
  const weight = int(arg(c, 0, "a weight"), -254, 254, "weight");
  const r = c.args[1]?.text;
  if (r !== undefined && r !== "reverse" && r !== "noreverse") fail(c.args[1], "expected reverse or noreverse");
  noMoreArgs(c, 2);
  return { weight, reverse: r === "reverse" };
}

/** A top-level track_file block (keepalived's trackers/track_file.c). */
export interface TrackFile {
  path: string;
  weight: number;
  reverse: boolean;
}

export function trackFileBlock(n: Node, files: Map<string, TrackFile>): void {
  const name = arg(n, 0, "a name");
  noMoreArgs(n, 1);
  if (!n.children) fail(n.key, "track_file needs a block (file, weight)");
  if (files.has(name.text)) fail(name, `track_file ${name.text} is defined twice`);
  const tf: TrackFile = { path: "", weight: 1, reverse: false };
  // Each line on its own: every error of the block is reported.
  const errs = new ErrorList();
  for (const c of n.children!) errs.attempt(() => {
    const k = c.key.text;
    if (k === "file") {
      const p = onlyArg(c, "a file path");
      if (!p.text.startsWith("/")) fail(p, "a tracked file needs an absolute path");
      tf.path = p.text;
    } else if (k === "weight") ({ weight: tf.weight, reverse: tf.reverse } = trackWeight(c));
    else if (k === "init_file") fail(c.key, "init_file is not supported by wasmvs yet (create the file before starting)");
    else unknown(c, ["file", "weight"], n.key.text, n.key.text);
  });
  errs.check();
  if (!tf.path) fail(n.key, "track_file needs a file");
  files.set(name.text, tf);
}

export const SERVICE_HEALTH_KEYS = [...TIMING_KEYS, "inhibit_on_failure", "omega", "quorum", "hysteresis", "quorum_up", "quorum_down", "ha_suspend",
  "sorry_server_inhibit"];
export const SERVER_HEALTH_KEYS = [...TIMING_KEYS, "inhibit_on_failure", "notify_up", "notify_down", ...CHECKER_KINDS];

/** A virtual_server's health keyword into h (and its inherited timing); false when c is not one. */
export function serviceHealthKeyword(c: Node, h: ServiceHealth, vs: Timing & { inhibit?: boolean; sorryInhibit?: boolean }): boolean {
  if (timing(c, vs)) {
    if (c.key.text === "smtp_alert") h.smtpAlert = !!vs.smtpAlert;
    return true;
  }
  switch (c.key.text) {
    case "inhibit_on_failure": vs.inhibit = flag(c); return true;
    case "sorry_server_inhibit": vs.sorryInhibit = flag(c); return true;
    case "omega": h.omega = flag(c); return true;
    case "quorum": h.quorum = int(onlyArg(c, "a weight sum"), 1, 2 ** 31 - 1, "quorum"); return true;
    case "hysteresis": h.hysteresis = int(onlyArg(c, "a weight"), 0, 2 ** 31 - 1, "hysteresis"); return true;
    case "quorum_up": h.quorumUp = scriptOnce(c, h.quorumUp); return true;
    case "quorum_down": h.quorumDown = scriptOnce(c, h.quorumDown); return true;
    case "ha_suspend": fail(c.key, "ha_suspend (checks paused while this director does not hold the virtual address) is not supported by wasmvs yet");
  }
  return false;
}

/** A real_server's health keyword; false when c is not one (checkers included). */
export function serverHealthKeyword(c: Node, h: ServerHealth, rs: Timing & { inhibit?: boolean }, checkers: Node[]): boolean {
  if (timing(c, rs)) {
    if (c.key.text === "smtp_alert") h.smtpAlert = !!rs.smtpAlert;
    return true;
  }
  const k = c.key.text;
  if (k === "inhibit_on_failure") { rs.inhibit = flag(c); return true; }
  if (k === "notify_up") { h.notifyUp = scriptOnce(c, h.notifyUp); return true; }
  if (k === "notify_down") { h.notifyDown = scriptOnce(c, h.notifyDown); return true; }
  if ((CHECKER_KINDS as readonly string[]).includes(k)) { checkers.push(c); return true; }
  return false;
}

/** How long resolving a host name at load may take (the resolver's own timeout is 5 s a try). */
export const RESOLVE_TIMEOUT_MS = 5000;

/** A host name's first IPv4 address, as the C library finds it (/etc/hosts, then DNS, as
 *  nsswitch.conf says), while the file is read: getent ahostsv4 is the C library's
 *  getaddrinfo, synchronous as the parsers are and bounded by RESOLVE_TIMEOUT_MS (Node's
 *  dns.lookup is the same call but asynchronous only). */
export function resolveAtLoad(name: string): { address: string } | { why: string } {
  environmentReads++;
  if (name.length > 253 || !/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$/.test(name)) {
    throw new SettingError("expected an IPv4 address or a host name");
  }
  try {
    const out = execFileSync("getent", ["ahostsv4", name], { encoding: "utf8", timeout: RESOLVE_TIMEOUT_MS, stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 64 * 1024 });
    const address = /^(\d+\.\d+\.\d+\.\d+)\s/m.exec(out)?.[1];
    return address ? { address } : { why: "no IPv4 address" };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; signal?: string | null };
    if (err.code === "ENOENT") return { why: "cannot be resolved (no getent)" };
    if (err.signal) return { why: `not resolved within ${RESOLVE_TIMEOUT_MS / 1000} s` };
    return { why: "unknown host" };
  }
}

/** How many times a parse has asked the system (a user, a host name) rather than the text:
 *  what did is not reused on the next parse of the same text (keepalived.ts), as the answer
 *  may have changed. */
let environmentReads = 0;
export const environmentReadCount = (): number => environmentReads;

/** A user's uid and primary gid (from /etc/passwd; Node has no getpwnam). */
export function userIds(name: string): { uid: number; gid: number } {
  environmentReads++;
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name || (/^\d+$/.test(name) && f[2] === name)) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch { /* no passwd database */ }
  throw new SettingError(`no such user: ${name}`);
}

export const GLOBAL_HEALTH_KEYS = ["script_user", "enable_script_security", "notification_email", "notification_email_from", "smtp_server",
  "smtp_connect_timeout", "smtp_helo_name", "smtp_alert", "smtp_alert_checker", "checker_log_all_failures"];

/** A global_defs keyword of the health part into g; false when n is not one. */
export function globalHealthKeyword(n: Node, g: HealthGlobals): boolean {
  switch (n.key.text) {
    case "script_user": {
      leaf(n);
      const u = arg(n, 0, "a user");
      noMoreArgs(n, 2);
      const ids = value(u, userIds);
      let gid = ids.gid;
      if (n.args[1]) {
        const gg = groupId(n.args[1].text);
        if (gg === undefined) fail(n.args[1], `no such group: ${n.args[1].text}`);
        gid = gg!;
      }
      g.scriptUser = { user: u.text, group: n.args[1]?.text, uid: ids.uid, gid };
      return true;
    }
    case "enable_script_security": g.enableScriptSecurity = flag(n); return true;
    case "checker_log_all_failures": {
      leaf(n);
      noMoreArgs(n, 1);
      const w = n.args[0]?.text;
      if (w !== undefined && !["on", "off", "true", "false", "yes", "no"].includes(w)) fail(n.args[0], "expected on or off");
      g.checkerLogAllFailures = w === undefined || ["on", "true", "yes"].includes(w);
      return true;
    }
    case "notification_email":
      if (!n.children) fail(n.key, "notification_email needs a block of addresses");
      for (const a of n.children!) {
        if (a.children || a.args.length) fail(a.key, "one address per line");
        if (!/^[^\s@]+(@[^\s@]+)?$/.test(a.key.text)) fail(a.key, "not a mail address");
        g.notificationEmail.push(a.key.text);
      }
      return true;
    case "notification_email_from": {
      const a = onlyArg(n, "a mail address");
      if (!/^[^\s@]+(@[^\s@]+)?$/.test(a.text)) fail(a, "not a mail address");
      g.notificationEmailFrom = a.text;
      return true;
    }
    case "smtp_server": {
      leaf(n);
      const t = arg(n, 0, "an address or a host name [and a port]");
      noMoreArgs(n, 2);
      const port = n.args[1] ? int(n.args[1], 1, 65535, "port") : 25;
      if (/^[\d.]+$/.test(t.text)) {
        g.smtpServer = { host: ip(t, "smtp_server"), port };
        return true;
      }
      // An IPv6 literal, as keepalived's inet_stosockaddr reads it (the port a word of its own).
      if (t.text.includes(":")) {
        g.smtpServer = { host: checkerAddress(t, "smtp_server"), port };
        return true;
      }
      // keepalived resolves a name when it reads the file (global_parser.c smtpserver_handler),
      // and without an address goes on with no mail ("Invalid smtp server").
      let r: ReturnType<typeof resolveAtLoad>;
      try {
        r = resolveAtLoad(t.text);
      } catch (e) {
        if (!(e instanceof SettingError)) throw e;
        carryOn(t, e.message, 'no mail is sent, as keepalived goes on without a server ("Invalid smtp server")');
        return true;
      }
      if ("address" in r) g.smtpServer = { host: r.address, port };
      else warn(t, `smtp_server ${t.text}: ${r.why}: no mail is sent, as keepalived goes on without a server ("Invalid smtp server")`);
      return true;
    }
    case "smtp_connect_timeout": g.smtpConnectTimeoutMs = secs(onlyArg(n, "seconds"), 100, 3_600_000, "smtp_connect_timeout"); return true;
    case "smtp_helo_name": g.smtpHeloName = onlyArg(n, "a host name").text; return true;
    case "smtp_alert": case "smtp_alert_checker": {
      const t: Timing = {};
      timing({ ...n, key: { ...n.key, text: "smtp_alert" } }, t);
      if (n.key.text === "smtp_alert") g.smtpAlert = t.smtpAlert;
      else g.smtpAlertChecker = t.smtpAlert;
      return true;
    }
  }
  return false;
}

/** The global SSL block (SSL_GET's client certificate). */
export function sslBlock(n: Node, g: HealthGlobals): void {
  if (!n.children) fail(n.key, "SSL needs a block (ca, certificate, key, password)");
  const ssl: NonNullable<HealthGlobals["ssl"]> = {};
  for (const c of n.children!) {
    const k = c.key.text;
    const v = onlyArg(c, "a value");
    if (k === "password") ssl.password = v.text;
    else if (k === "ca" || k === "certificate" || k === "key") {
      try {
        readFileSync(v.text);
      } catch (e) {
        fail(v, `cannot read ${v.text}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      ssl[k] = v.text;
    } else unknown(c, ["ca", "certificate", "key", "password"], "SSL", "SSL");
  }
  g.ssl = ssl;
}

export function defaultGlobals(): HealthGlobals {
  return { enableScriptSecurity: false, notificationEmail: [], smtpConnectTimeoutMs: HEALTH_DEFAULTS.smtpConnectTimeoutMs };
}
