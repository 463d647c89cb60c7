// The director configuration as text: ipvsadm rules in the format `ipvsadm-save -n`
// prints, plus lines for the director's own interfaces, routes and neighbours.
//
//   # director
//   interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24 mtu 1500
//   interface 1 name inside  mac 02:00:00:00:01:01 address 10.1.0.1/24
//   route default via 10.0.0.254
//   route 10.9.0.0/16 via 10.1.0.254
//   neighbour 10.0.0.254 02:00:00:00:00:fe
//   connections 1000000
//   # ipvsadm-save -n
//   --set 900 120 300
//   -A -t 10.0.0.100:80 -s wrr
//   -a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m -w 3
//
// Everything is parsed and checked before anything is applied; an error names the
// file, line, column and the keyword or option at fault.

import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import {
  AddressError, DEFAULT_CONN_CAPACITY, Engine, EngineError, EngineOptions, Err, MarkRule, RealServerSpec, ServiceSpec, checkPort, ipToWire, parseCidr, parseMac, slotSizeFor,
} from "../engine/index.js";
import { ConnField } from "../engine/abi.js";
import { parseIp, parsePrefix } from "../engine/addr.js";
import { ip6ServerRefusal, ip6ServiceRefusal } from "./features.js";
import { digitRun, hostPort, IpvsadmError, parseArgs, parseCommon, Parsed, scanAddrPort, scanned, TextNames } from "./ipvsadm.js";
import {
  derivedMac, deviceName, interfaceAddress, interfaceIp6, ipv4Address, macAddress, markRuleWords, markValue, maglevServices, maglevTableSize, maxRealServers, metricsRealServers, maxServices, schedulerMemory, listenEndpoint, mhTableSize, mtu, onOff, routeDestination, MAX_SCRAPER_LINES, scraperAddress, SettingError, tableShare, tableSize, wholeNumber,
} from "./settings.js";
import { keyOf, keywordOf, serviceKey, ServiceTable } from "./model.js";
import { readSyncKey } from "./synckey.js";
import { boundWarnings, ConfigError, ErrorList, type FileOrder, type InputErrorCode, type PartialConfig } from "./errors.js";
import { fileOf, LIMITS, neighbourParsed, SIZE_SETTINGS, syncKeyBytes, vrrpSpecs, type SizeSetting, type DirectorConfig, type InterfaceConfig, type NeighbourConfig, type Pos, type RouteConfig, type ServiceConfig } from "./director.js";

// What moved to director.ts (the configuration's types) and errors.ts (its one error type),
// still importable from here.
export * from "./director.js";
export * from "./errors.js";

/** Where configuration text comes from when not from files: the playground gives the text
 *  in its editor under a file name (undefined: no such file). */
let configSource: ((path: string) => string | undefined) | undefined;
export function setConfigSource(source: ((path: string) => string | undefined) | undefined): void {
  configSource = source;
}

/** A configuration file's text, bounded: a regular file of at most LIMITS.fileBytes. */
export function readConfigFile(path: string): string {
  if (configSource) {
    const text = configSource(path);
    if (text === undefined) throw new ConfigError(path, 1, 1, "", "no such file here (only the configuration being edited can be read)");
    if (new TextEncoder().encode(text).length > LIMITS.fileBytes) throw new ConfigError(path, 1, 1, "", `the file is larger than ${LIMITS.fileBytes} bytes`);
    return text;
  }
  // Opened without blocking, then checked by descriptor (not stat then open: a FIFO swapped
  // in between would block the reload, and the main thread with it).
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(path, 1, 1, "", "not a regular file (a configuration is read from a file)");
    const buf = Buffer.alloc(Math.min(st.size, LIMITS.fileBytes) + 1);
    let n = 0;
    try {
      n = readSync(fd, buf, 0, buf.length, 0);
    } catch (e) {
      // A regular file read(2) refuses (/proc/self/clear_refs: EINVAL; EIO): which file, not
      // "EINVAL: invalid argument, read".
      const code = (e as NodeJS.ErrnoException).code ?? "";
      throw new ConfigError(path, 1, 1, "", `cannot be read: ${code ? `${code} (${(e as Error).message.replace(/^\w+: /, "").replace(/, read$/, "")})` : (e as Error).message}`);
    }
    if (n > LIMITS.fileBytes) throw new ConfigError(path, 1, 1, "", `the file is larger than ${LIMITS.fileBytes} bytes`);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

interface Token {
  text: string;
  column: number;
}

function tokenize(line: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push({ text: m[0], column: m.index + 1 });
  return out;
}

export const SCRAPER_WITHOUT_METRICS = "metrics_scraper needs a metrics line (there is no endpoint to keep connections of)";

export function parseRules(text: string, file = "<config>"): DirectorConfig {
  const { cfg, errors } = readRules(text, file);
  if (errors.length) throw ConfigError.all(errors);
  return cfg;
}

/** A service block of a rules file: its `-A` line and the `-a` lines right after it that name
 *  the same service, as ipvsadm-save writes them (words after a single space each, from column 1). */
interface ServiceBlock {
  /** The block's lines as written, line ends included. */
  text: string;
  /** What the block made (the record as the block left it: later lines change copies). */
  service: ServiceConfig;
  /** The warnings the block gave, in order. */
  warnings: string[];
  /** Its lines. */
  lines?: number;
}

/** Per file path, the service blocks of its last parse without errors, by their first line. A
 *  block whose text and first line are the same again is not read again: its service is the very
 *  same record (a reload of 10,000 services that changed one reads one). Nothing else in a rules
 *  file changes how a block reads: director lines and --set do not enter a service's parse, and a
 *  later line that names the service (an -a further down, a second -A) meets it in the table as
 *  the block left it, and changes a copy of it. */
const parseCache = new Map<string, Map<number, ServiceBlock>>();

/** Forget every file's blocks (tests). */
export function clearParseCache(): void {
  parseCache.clear();
}

/** The rules file read as far as it goes: what it gives and every error (in line order). */
export function readRules(text: string, file = "<config>"): PartialConfig & { errors: ConfigError[] } {
  const cfg: DirectorConfig = { file, format: "rules", interfaces: [], routes: [], neighbours: [], services: [] };
  // Every error is reported, not only the first: each line is checked on its own.
  const errs = new ErrorList();
  const st: RulesState = { cfg, file, errs, refused: new Set(), table: new ServiceTable(cfg, true), routingUnsure: false, words: [], columns: [],
    names: new TextNames() };
  const known = parseCache.get(file);
  const blocks = new Map<number, ServiceBlock>();
  const n = text.length;
  let lineNo = 0;
  for (let start = 0; start <= n;) {
    let nl = text.indexOf("\n", start);
    if (nl < 0) nl = n;
    lineNo++;
    const block = blockPrefix(text, start, nl);
    if (block === undefined) {
      rulesLine(st, lineText(text, start, nl), lineNo);
      start = nl + 1;
      continue;
    }
    // The block's lines: this one and the -a lines after it that start alike.
    const before = known?.get(lineNo);
    let last = nl;
    let count = 1;
    let written: string;
    const end = before?.lines !== undefined ? start + before.text.length : -1;
    if (end >= 0 && (end === n || (text.charCodeAt(end) === 10 && !text.startsWith(block, end + 1))) && text.slice(start, end) === before!.text) {
      // The last parse's block, ending where it ended: its lines are not walked one by one (a
      // reload of 10,000 services that changed one walks that one).
      last = end;
      count = before!.lines!;
      written = before!.text;
    } else {
      while (last < n && text.startsWith(block, last + 1)) {
        const next = text.indexOf("\n", last + 1);
        last = next < 0 ? n : next;
        count++;
      }
      written = text.slice(start, last);
    }
    if (before && before.text === written && !st.table.get(keyOf(before.service))) {
      st.table.adopt(before.service);
      for (const w of before.warnings) (cfg.warnings ??= []).push(w);
      // (The same text: its own copy is kept, not the new file's.)
      blocks.set(lineNo, before);
    } else {
      const errors = errs.errors.length;
      const warnings = cfg.warnings?.length ?? 0;
      // The block's own copy of its text: what its records keep of it (an address, a position's
      // word) holds this block, not the whole file (a reused record lives on across reloads).
      const own = written.length < 13 ? written : (written + " ").slice(0, -1);
      let made: ServiceConfig | undefined;
      for (let k = 0, at = 0; k < count; k++) {
        let nl = own.indexOf("\n", at);
        if (nl < 0) nl = own.length;
        // A CR before a line's LF is not the line's (as split(/\r?\n/)).
        const end = (nl < own.length || last < n) && nl > at && own.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        if (k === 1) {
          // The -A went through: the -a lines after it add to what it made.
          const s = cfg.services[cfg.services.length - 1];
          if (errs.errors.length === errors && s?.line === lineNo && s.fwmark === undefined) made = s;
        }
        if (!made || !blockServer(st, made, own, at, at + block.length, end, lineNo + k)) rulesLine(st, own.slice(at, end), lineNo + k);
        at = nl + 1;
      }
      const service = cfg.services[cfg.services.length - 1];
      if (errs.errors.length === errors && service?.line === lineNo) {
        blocks.set(lineNo, { text: own, service, warnings: cfg.warnings?.slice(warnings) ?? [], lines: count });
        st.table.disown(service);
      }
    }
    lineNo += count - 1;
    start = last + 1;
  }
  st.table.done();
  errs.attempt(() => checkOffload(cfg));
  errs.attempt(() => {
    const first = cfg.metricsScrapers?.[0];
    if (first && !cfg.metrics) throw new ConfigError(file, first.line, 1, "metrics_scraper", SCRAPER_WITHOUT_METRICS);
  });
  if (cfg.warnings) cfg.warnings = boundWarnings(cfg.warnings);
  if (errs.errors.length === 0) parseCache.set(file, blocks);
  return { cfg, errors: errs.errors, order: new Map([[file, []]]), routingUnsure: st.routingUnsure };
}

/** What reading a rules file carries from line to line. */
interface RulesState {
  cfg: DirectorConfig;
  file: string;
  errs: ErrorList;
  /** Services whose -A was refused: their -a lines are checked but not called "not defined". */
  refused: Set<string>;
  /** The services by key, as ipvsadm's commands change them. */
  table: ServiceTable;
  routingUnsure: boolean;
  /** A plain line's words and their columns (reused from line to line). */
  words: string[];
  columns: number[];
  /** The file's addresses and ADDRESS:PORT words, one string each (ipvsadm.ts TextNames). */
  names: TextNames;
}

/** "-a -t ADDRESS:PORT " when text[start, end) starts a service block (`-A -t|-u|-f WORD`): the
 *  start of the lines that continue it. */
function blockPrefix(text: string, start: number, end: number): string | undefined {
  if (end - start < 7 || text.charCodeAt(start) !== 45 || text.charCodeAt(start + 1) !== 65 || text.charCodeAt(start + 2) !== 32 ||
    text.charCodeAt(start + 3) !== 45 || text.charCodeAt(start + 5) !== 32) return undefined;
  const kind = text.charCodeAt(start + 4);
  if (kind !== 116 && kind !== 117 && kind !== 102) return undefined; // t u f
  let i = start + 6;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c <= 32 || c === 35 || c === 33 || c > 126) break;
  }
  if (i === start + 6) return undefined;
  return `-a ${text.slice(start + 3, i)} `;
}

/** Line text[start, nl) without the CR of a CRLF end, copied out of the file's text: what a
 *  configuration keeps of it (a position's word, an address) holds this line, not the whole file
 *  (records a parse reuses live on across reloads: rules.ts parseCache). */
function lineText(text: string, start: number, nl: number): string {
  const end = nl < text.length && nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
  if (end === start) return "";
  const line = text.slice(start, end);
  return line.length < 13 ? line : (line + " ").slice(0, -1);
}

/** One line of a rules file: -A and -a as ipvsadm-save writes them read at once (parseCommon),
 *  anything else by parseRulesLine, every error kept. */
function rulesLine(st: RulesState, raw: string, lineNo: number): void {
  if (raw.length === 0) return;
  const { words, columns, cfg } = st;
  if (plainWords(raw, words, columns) && words.length >= 5 && (words[0] === "-A" || words[0] === "-a")) {
    const p = parseCommon(words, st.names);
    if (p?.command === "add-service") {
      // As ServiceTable.apply makes it, field for field and in that order, and where it was
      // written (made whole at once: one shape, no field added after).
      const { protocol, address, vaddr, port } = p.service!;
      const k = serviceKey(p.service!);
      if (!st.table.get(k)) {
        const scheduler = p.scheduler as ServiceConfig["scheduler"];
        const where = { file: cfg.file, line: lineNo, column: columns[2], text: words[2] };
        const s: ServiceConfig = p.persistence ? { protocol, address, vaddr, port, scheduler, realServers: [], line: lineNo, persistence: p.persistence, where }
          : { protocol, address, vaddr, port, scheduler, realServers: [], line: lineNo, where };
        st.table.insert(s, k);
        return;
      }
    } else if (p?.command === "add-server") {
      p.line = lineNo;
      let applied = true;
      try {
        st.table.apply(p, cfg);
      } catch (e) {
        // Refused: the careful path reads the line again and says why in the file's words.
        if (!(e instanceof IpvsadmError)) throw e;
        applied = false;
      }
      if (applied) {
        const s = st.table.get(serviceKey(p.service!))!;
        s.realServers[s.realServers.length - 1].where = { file: cfg.file, line: lineNo, column: columns[4], text: words[4] };
        if (p.warnings) for (const w of p.warnings) (cfg.warnings ??= []).push(`${cfg.file}:${lineNo}: ${w}`);
        return;
      }
    }
  }
  const before = st.errs.errors.length;
  let head: Token | undefined;
  const interfaces = cfg.interfaces.length;
  st.errs.attempt(() => parseRulesLine(raw, lineNo, cfg, st.file, st.refused, (t) => { head = t; }, st.table));
  // As keepalived.ts: a refused route or neighbour, an interface left out or without its address.
  if (st.errs.errors.length > before) {
    const h = (head as Token | undefined)?.text;
    const lost = h === "interface" ? cfg.interfaces.length === interfaces || /(^|\s)address\s/.test(raw) && !cfg.interfaces.at(-1)?.address
      : h === "route" || h === "neighbour" || h === "neighbor";
    if (lost) st.routingUnsure = true;
  }
}

/**
 * An -a line of a service block, `-a -t|-u ADDRESS:PORT -r ADDRESS[:PORT] -m|-g|-i -w WEIGHT` as
 * ipvsadm-save writes it, added to s (what the block's -A made, which the line names: it starts
 * as the block's -A does) without looking it up: false for any other line, or one the service
 * refuses (the server is there already), which rulesLine then reads (and refuses in its words).
 * What it adds is what parseCommon and ServiceTable.apply make of the line, field for field.
 */
function blockServer(st: RulesState, s: ServiceConfig, text: string, lineStart: number, from: number, n: number, lineNo: number): boolean {
  // "-r " then the server's word.
  if (n < from + 12 || text.charCodeAt(from) !== 45 || text.charCodeAt(from + 1) !== 114 || text.charCodeAt(from + 2) !== 32) return false;
  const at = from + 3;
  const sp = text.indexOf(" ", at);
  if (sp < 0 || n - sp < 8 || n - sp > 12) return false;
  // " -m -w N" (N of 1 to 5 digits).
  if (text.charCodeAt(sp + 1) !== 45 || text.charCodeAt(sp + 3) !== 32 || text.charCodeAt(sp + 4) !== 45 || text.charCodeAt(sp + 5) !== 119 ||
    text.charCodeAt(sp + 6) !== 32) return false;
  const m = text.charCodeAt(sp + 2);
  const method = m === 109 ? "nat" : m === 103 ? "dr" : m === 105 ? "tun" : undefined;
  if (method === undefined) return false;
  const weight = digitRun(text, sp + 7, n);
  if (weight < 0 || weight > 65535) return false;
  // The server's word read where it is (no string cut for it unless the file's names lack it).
  if (!scanAddrPort(text, at, sp)) return false;
  const daddr = scanned.wire | 0;
  let port = scanned.port < 0 ? s.port : scanned.port;
  if (method === "nat" && port === 0 && s.port !== 0) return false;
  const word = st.names.addressPort(text, at, sp);
  const address = st.names.address(text, at);
  let warning: string | undefined;
  if (method !== "nat" && port !== s.port) {
    // As parseCommon: ipvsadm gives DR and TUN servers the service port (wasmvs warns).
    warning = `${method === "dr" ? "direct routing" : "tunnelling"} cannot change the port: real server ${address}:${port} gets the service port ${s.port}, as ipvsadm does`;
    port = s.port;
  }
  const servers = s.realServers;
  for (let i = 0; i < servers.length; i++) if (servers[i].address === address && servers[i].port === port) return false;
  servers.push({ address, daddr, port, method, weight, uthreshold: 0, lthreshold: 0, line: lineNo,
    where: { file: st.cfg.file, line: lineNo, column: at - lineStart + 1, text: word } });
  if (warning) (st.cfg.warnings ??= []).push(`${st.cfg.file}:${lineNo}: ${warning}`);
  return true;
}

/** The words of a plain line (printable ASCII, words apart by spaces and tabs, no comment) and
 *  their columns; false for any other line (parseRulesLine reads it). */
function plainWords(line: string, words: string[], columns: number[]): boolean {
  words.length = 0;
  columns.length = 0;
  const n = line.length;
  let i = 0;
  while (i < n) {
    let c = line.charCodeAt(i);
    if (c === 32 || c === 9) {
      i++;
      continue;
    }
    if (c === 35 || c === 33 || c < 32 || c > 126) return false; // a comment (# or ! after a space), other spaces
    const s = i;
    for (; i < n; i++) {
      c = line.charCodeAt(i);
      if (c === 32 || c === 9) break;
      if (c < 32 || c > 126) return false;
    }
    columns.push(s + 1);
    words.push(line.slice(s, i));
  }
  return true;
}

function parseRulesLine(raw: string, lineNo: number, cfg: DirectorConfig, file: string, refused: Set<string>, seen: (head: Token) => void, table: ServiceTable): void {
  {
    const hash = raw.search(/(^|\s)[#!]/);
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    const toks = tokenize(line);
    if (toks.length === 0) return;
    const fail = (t: Token, why: string): never => {
      throw new ConfigError(file, lineNo, t.column, t.text, why);
    };
    const need = (k: number, what: string): Token => {
      if (k >= toks.length) throw new ConfigError(file, lineNo, line.length + 1, toks[k - 1].text, `expects ${what}`);
      return toks[k];
    };
    const head = toks[0];
    seen(head);
    const pos = (t: Token): Pos => ({ file, line: lineNo, column: t.column, text: t.text });
    /** The value of a setting word, its errors at the word's position. */
    const value = <T>(t: Token, f: (text: string) => T): T => {
      try {
        return f(t.text);
      } catch (e) {
        if (e instanceof SettingError) return fail(t, e.message);
        throw e;
      }
    };
    // A table size is refused where it was written when a reload changes it (reload.ts).
    if ((SIZE_SETTINGS as readonly string[]).includes(head.text)) (cfg.sizeWhere ??= {})[head.text as SizeSetting] = { file: cfg.file, line: lineNo, column: head.column, text: head.text };
    if (head.text === "interface") {
      const index = value(need(1, "an interface index"), (x) => wholeNumber(x, 0, 15, "interface index"));
      const ifc: InterfaceConfig = { index, name: `if${index}`, mac: "", mtu: 1500, tap: "", line: lineNo, where: pos(toks[1]) };
      // Each setting on its own: one that is wrong leaves the interface there by its index
      // (routes and servers that name it are not refused for it).
      const errs = new ErrorList();
      const tapWords: Pos[] = [];
      for (let k = 2; k < toks.length; k += 2) errs.attempt(() => {
        const key = toks[k];
        const val = need(k + 1, `a value after ${key.text}`);
        if (key.text === "name") ifc.name = val.text;
        else if (key.text === "mac") { ifc.mac = value(val, macAddress); ifc.macWhere = pos(val); }
        else if (key.text === "address" && val.text.includes(":")) value(val, (x) => interfaceIp6(ifc, x));
        else if (key.text === "address") ifc.address = value(val, interfaceAddress);
        else if (key.text === "mtu") { ifc.mtu = value(val, mtu); ifc.where = pos(val); ifc.mtuWhere = pos(val); }
        else if (key.text === "tap") { ifc.tap = value(val, deviceName); tapWords.push(pos(key)); }
        else if (key.text === "bridge") { ifc.bridge = value(val, deviceName); tapWords.push(pos(key)); }
        else if (key.text === "device") { ifc.device = value(val, deviceName); ifc.deviceWhere = pos(val); }
        else fail(key, `unknown interface setting (expected name, mac, address, mtu, tap, bridge or device)`);
      });
      errs.attempt(() => checkAttachment(cfg, ifc, tapWords));
      if (!ifc.tap && ifc.device === undefined) ifc.tap = ifc.name.length <= 15 ? ifc.name : `wvs${index}`;
      // As in keepalived.conf's director block: a stable MAC derived when none is given (with a
      // device, its own: resolveDevices in devices.ts).
      if (!ifc.mac && ifc.device === undefined) {
        ifc.mac = derivedMac(ifc.name, ifc.tap);
        ifc.macDerived = true;
        (cfg.warnings ??= []).push(`${file}:${lineNo}: interface ${ifc.name} has no mac: ${ifc.mac}, derived from this host's machine id and the ` +
          `interface's name (locally administered, the same at every start); give 'mac' to choose it`);
      }
      if (cfg.interfaces.some((x) => x.index === index)) fail(toks[1], `interface ${index} is defined twice`);
      cfg.interfaces.push(errs.errors.length ? { ...ifc, mac: ifc.mac || STANDIN_MAC } : ifc);
      errs.check();
    } else if (head.text === "route") {
      const cidr = value(need(1, "a destination (CIDR or default)"), routeDestination);
      const r: RouteConfig = { cidr, net: parsePrefix(cidr), line: lineNo };
      for (let k = 2; k < toks.length; k += 2) {
        const key = toks[k];
        const val = need(k + 1, `a value after ${key.text}`);
        if (key.text === "via") { r.via = value(val, (x) => ipv4Address(x, "the gateway")); r.gateway = parseIp(r.via); r.where ??= pos(val); }
        else if (key.text === "dev") { r.dev = val.text; r.where = pos(val); }
        else fail(key, "unknown route setting (expected via or dev)");
      }
      if (!r.via && !r.dev) fail(head, "a route needs 'via GATEWAY' or 'dev INTERFACE'");
      cfg.routes.push(r);
    } else if (head.text === "neighbour" || head.text === "neighbor") {
      const address = value(need(1, "an address"), (x) => ipv4Address(x, "the neighbour"));
      const mac = value(need(2, "a MAC address"), macAddress);
      const n: NeighbourConfig = {
        address, mac, ...neighbourParsed(address, mac), line: lineNo,
        where: pos(toks[1]), macWhere: pos(toks[2]),
      };
      for (let k = 3; k < toks.length; k += 2) {
        const key = toks[k];
        const val = need(k + 1, `a value after ${key.text}`);
        if (key.text === "dev") { n.dev = val.text; n.where = pos(val); }
        else fail(key, "unknown neighbour setting (expected dev)");
      }
      cfg.neighbours.push(n);
    } else if (head.text === "metrics") {
      cfg.metrics = { ...value(need(1, "[ADDRESS:]PORT"), (t) => listenEndpoint(t, "metrics")), line: lineNo };
    } else if (head.text === "metrics_scraper") {
      const t = need(1, "ADDRESS[/PREFIX]");
      if (toks.length > 2) fail(toks[2], "metrics_scraper takes one ADDRESS[/PREFIX] (one line each)");
      if ((cfg.metricsScrapers?.length ?? 0) >= MAX_SCRAPER_LINES) fail(head, `at most ${MAX_SCRAPER_LINES} metrics_scraper lines`);
      (cfg.metricsScrapers ??= []).push({ cidr: value(t, scraperAddress), line: lineNo });
    } else if (head.text === "dashboard") {
      cfg.dashboard = { ...value(need(1, "[ADDRESS:]PORT"), (t) => listenEndpoint(t, "dashboard")), line: lineNo };
    } else if (head.text === "offload") {
      cfg.offload = { on: value(need(1, "on or off"), onOff), line: lineNo };
    } else if (head.text === "reject_unknown") {
      cfg.rejectUnknown = { on: value(need(1, "on or off"), onOff), line: lineNo };
    } else if (head.text === "mark") {
      const mark = value(need(1, "a mark"), markValue);
      const words = toks.slice(2);
      (cfg.marks ??= []).push({ ...markRuleWords(mark, words.map((w) => w.text), (i, e) => fail(i < 0 ? head : words[i], e.message)), line: lineNo });
    } else if (head.text === "expire_nodest_conn") {
      cfg.expireNodestConn = { on: value(need(1, "on or off"), onOff), line: lineNo };
    } else if (head.text === "sloppy_tcp") {
      cfg.sloppyTcp = { on: value(need(1, "on or off"), onOff), line: lineNo };
    } else if (head.text === "expire_quiescent_template") {
      cfg.expireQuiescentTemplate = { on: value(need(1, "on or off"), onOff), line: lineNo };
    } else if (head.text === "sync_auth_key_file") {
      const path = need(1, "the key file's path");
      cfg.syncAuth = { path: path.text, keyHex: value(path, readSyncKey), line: lineNo };
    } else if (head.text === "sync_table_share") {
      cfg.syncTableShare = { percent: value(need(1, "a percent"), tableShare), line: lineNo };
    } else if (head.text === "connections") {
      cfg.connections = value(need(1, "a table size"), tableSize);
    } else if (head.text === "mh_table_size") {
      cfg.mhTableSize = value(need(1, "a table size"), mhTableSize);
    } else if (head.text === "maglev_table_size") {
      cfg.maglevTableSize = value(need(1, "a prime"), maglevTableSize);
    } else if (head.text === "maglev_services") {
      cfg.maglevServices = value(need(1, "a number"), maglevServices);
    } else if (head.text === "metrics_real_servers") {
      cfg.metricsRealServers = value(need(1, "a number"), metricsRealServers);
    } else if (head.text === "max_services") {
      cfg.maxServices = value(need(1, "a number"), maxServices);
    } else if (head.text === "max_real_servers") {
      cfg.maxRealServers = value(need(1, "a number"), maxRealServers);
    } else if (head.text === "scheduler_memory") {
      cfg.schedulerMemory = value(need(1, "a size"), schedulerMemory);
    } else if (head.text.startsWith("-")) {
      ruleLine(toks, lineNo, cfg, fail, refused, table);
    } else {
      fail(head, "unknown keyword (expected interface, route, neighbour, mark, connections, offload, reject_unknown, expire_nodest_conn, expire_quiescent_template, sloppy_tcp, sync_table_share, sync_auth_key_file, mh_table_size, maglev_services, maglev_table_size, max_services, max_real_servers, scheduler_memory, metrics, metrics_scraper, metrics_real_servers, dashboard or an ipvsadm rule such as -A/-a/--set)");
    }
  }
}

/** The refusals of how an interface attaches, in both syntaxes: a TAP (tap, bridge) or an
 *  existing interface of this host by AF_XDP rings (device), not both; and a device attached
 *  once (two rings on one device would steal each other's frames). Leaves tap empty with a
 *  device (no TAP). tapWords: where tap and bridge were written. */
export function checkAttachment(cfg: DirectorConfig, ifc: InterfaceConfig, tapWords: Pos[]): void {
  if (ifc.device === undefined) return;
  const dev = ifc.deviceWhere;
  const errors = tapWords.map((w) => new ConfigError(w.file, w.line, w.column, w.text, `${w.text} and device are two different ways to attach: ` +
    `a TAP device (tap, bridge) or an existing interface of this host by AF_XDP rings (device ${ifc.device}${dev ? `, line ${dev.line}` : ""}); give one of them`));
  ifc.tap = "";
  delete ifc.bridge;
  // The rings' XDP program leaves IPv6 to the host's stack (README: what the host keeps), so
  // an IPv6 address given here would never be answered by wasmvs: it is the device's own.
  if (ifc.address6 !== undefined) {
    errors.push(new ConfigError(dev?.file ?? ifc.file ?? cfg.file, dev?.line ?? ifc.line, dev?.column ?? 1, dev?.text ?? ifc.device,
      `an interface attached by AF_XDP rings (device ${ifc.device}) leaves IPv6 to the host: its IPv6 address ${ifc.address6} belongs on the device (ip -6 addr add ${ifc.address6} dev ${ifc.device})`));
  }
  const other = cfg.interfaces.find((x) => x.device === ifc.device);
  if (other) {
    errors.push(new ConfigError(dev?.file ?? ifc.file ?? cfg.file, dev?.line ?? ifc.line, dev?.column ?? 1, dev?.text ?? ifc.device,
      `device ${ifc.device} is already interface ${other.name}'s (line ${other.deviceWhere?.line ?? other.line}): a device is attached by one interface`));
  }
  if (errors.length) throw ConfigError.all(errors);
}

/** The MAC an interface whose own was refused stands in with, so that the engine's checks of
 *  the rest still run (a refused file is never run). */
export const STANDIN_MAC = "02:00:00:00:00:00";

/** Bytes the engine lays out for a connection table of n entries (assembly/index.ts init:
 *  the entries and two hash tables of a power of two of buckets, each 64-byte aligned). */
function connectionTableBytes(n: number): number {
  const align = (v: number) => Math.ceil(v / 64) * 64;
  let buckets = 1;
  while (buckets < n) buckets *= 2;
  return align(n * ConnField.SIZE) + 2 * align(buckets * 4);
}

/** What an engine that checks cfg is loaded with: cfg's table sizes and a small connection
 *  table, the rest of cfg's connection table held as reserved bytes that are never written
 *  (no page of it is touched), so that sizes that fit alone but not together in the 4 GiB of a
 *  WebAssembly memory are found by the check, not by the director's start. */
export function checkSizing(cfg: DirectorConfig, connections = 16): Pick<EngineOptions, "connCapacity" | "reserveBytes" | "mhTableSize" | "maglevServices" | "maglevTableSize" | "schedulerMemory" | "maxServices" | "maxRealServers"> {
  const rest = connectionTableBytes(cfg.connections ?? DEFAULT_CONN_CAPACITY) - connectionTableBytes(connections);
  return { ...schedulerSizing(cfg), connCapacity: connections, reserveBytes: Math.min(Math.max(0, rest), 0xffffffff) };
}

/** The engine's "not enough memory" for cfg's sizes, as an error at the first size setting the
 *  file writes (undefined: err is another error). */
export function sizingError(cfg: DirectorConfig, err: unknown): ConfigError | undefined {
  if (!(err instanceof EngineError) || err.code !== Err.NO_MEMORY) return undefined;
  const written = Object.entries(cfg.sizeWhere ?? {}).filter((e): e is [string, Pos] => e[1] !== undefined)
    .sort((a, b) => a[1].line - b[1].line || a[1].column - b[1].column);
  const at = written[0]?.[1];
  return new ConfigError(at?.file ?? cfg.file ?? "", at?.line ?? 1, at?.column ?? 1, written[0]?.[0] ?? "",
    `the engine's tables do not fit in a WebAssembly memory (4 GiB): lower ${written.length ? written.map(([k]) => k).join(", ") : "connections, max_services, max_real_servers, scheduler_memory or maglev_services"}`);
}

/** The engine's frame slot for cfg: its interfaces' largest MTU decides, or TAP offloads. */
/** The engine sizes a configuration fixes besides the connection table: the service and
 *  real-server tables, the scheduler arena, mh's and maglev's tables (absent keywords keep
 *  the engine's defaults). */
export function schedulerSizing(cfg: DirectorConfig): Pick<EngineOptions, "mhTableSize" | "maglevServices" | "maglevTableSize" | "schedulerMemory" | "maxServices" | "maxRealServers"> {
  return {
    ...(cfg.maxServices !== undefined ? { maxServices: cfg.maxServices } : {}),
    ...(cfg.maxRealServers !== undefined ? { maxRealServers: cfg.maxRealServers } : {}),
    ...(cfg.schedulerMemory !== undefined ? { schedulerMemory: cfg.schedulerMemory } : {}),
    ...(cfg.mhTableSize !== undefined ? { mhTableSize: cfg.mhTableSize } : {}),
    ...(cfg.maglevServices !== undefined ? { maglevServices: cfg.maglevServices } : {}),
    ...(cfg.maglevTableSize !== undefined ? { maglevTableSize: cfg.maglevTableSize } : {}),
  };
}

export function configSlotSize(cfg: DirectorConfig): number {
  return slotSizeFor(Math.max(1500, ...cfg.interfaces.map((i) => i.mtu)), cfg.offload?.on ?? false);
}

/** TUN cannot carry what TAP offloads hand over: refuse the combination, whatever the format. */
export function checkOffload(cfg: DirectorConfig): void {
  if (!cfg.offload?.on) return;
  for (const s of cfg.services) {
    const r = s.realServers.find((x) => x.method === "tun");
    if (r) {
      throw new ConfigError(r.where?.file ?? cfg.file, r.line, r.where?.column ?? 1, r.where?.text ?? "tun", "tunnelling cannot carry the 64 KB TCP segments TAP offloads hand over " +
        `(IPIP has no virtio GSO type): turn offloads off (${cfg.offload.file ? `${cfg.offload.file}:` : "line "}${cfg.offload.line}) to use TUN real servers`);
    }
  }
}

/** Commands a rules file takes: what ipvsadm-save prints. */
const RULE_COMMANDS = new Set(["add-service", "add-server", "set"]);

/** Friendlier words for ipvsadm's refusals when they come from a file. */
const IN_A_FILE: Partial<Record<InputErrorCode, (p: Parsed) => string>> = {
  "service-exists": (p) => `service ${p.service!.protocol} ${p.service!.address}:${p.service!.port} is defined twice`,
  "service-undefined": (p) => `service ${p.service!.protocol} ${p.service!.address}:${p.service!.port} is not defined (add it with -A before its real servers)`,
  "destination-exists": () => "this real server is already in the service",
};

/** One ipvsadm rule, read by the ipvsadm grammar (host/config/ipvsadm.ts) and applied with
 *  ipvsadm's semantics (model.ts): one grammar and one behaviour for files and commands. */
function ruleLine(toks: Token[], lineNo: number, cfg: DirectorConfig, fail: (t: Token, why: string) => never, refused: Set<string>, table: ServiceTable): void {
  // The words after -t/-u/-f and -r: where the service and the server were written.
  const after = (re: RegExp) => { const k = toks.findIndex((t) => re.test(t.text)); return k >= 0 ? toks[k + 1] : undefined; };
  const svcTok = after(/^(-[tuf]|--(tcp|udp|fwmark)-service)$/);
  const svcName = svcTok ? `${toks.find((t) => /^(-[tuf]|--(tcp|udp|fwmark)-service)$/.test(t.text))!.text.replace(/^--?/, "")[0]} ${svcTok.text}` : "";
  const pos = (t: Token | undefined): Pos | undefined => (t ? { file: cfg.file, line: lineNo, column: t.column, text: t.text } : undefined);
  let p: Parsed;
  try {
    p = parseArgs(toks.map((t) => t.text));
  } catch (e) {
    if (!(e instanceof IpvsadmError)) throw e;
    if (/^(-A|--add-service)$/.test(toks[0].text) && svcName) refused.add(svcName);
    const at = toks[e.arg ?? 0] ?? toks[0];
    return fail(at, e.reason);
  }
  if (!RULE_COMMANDS.has(p.command)) fail(toks[0], "not a rule command here (the file takes -A, -a and --set, as ipvsadm-save prints them)");
  p.line = lineNo;
  try {
    table.apply(p, cfg);
  } catch (e) {
    if (!(e instanceof IpvsadmError)) throw e;
    // A server of a service whose -A was refused: that refusal is the error, not this.
    if (e.code === "service-undefined" && refused.has(svcName)) return;
    fail(e.code === "destination-exists" || e.code === "server-refused" ? after(/^(-r|--real-server)$/) ?? toks[0] : svcTok ?? toks[0], IN_A_FILE[e.code]?.(p) ?? e.message);
  }
  // Where the engine's refusals of this service or server are reported (what the line added:
  // found by key, not by a walk of the table per line).
  const added = p.service ? table.get(serviceKey(p.service)) : undefined;
  if (p.command === "add-service") {
    if (added?.line === lineNo) added.where = pos(svcTok);
  } else if (p.command === "add-server") {
    const r = added?.realServers[added.realServers.length - 1];
    if (r?.line === lineNo) r.where = pos(after(/^(-r|--real-server)$/));
  }
  for (const w of p.warnings ?? []) (cfg.warnings ??= []).push(`${cfg.file}:${lineNo}: ${w}`);
}

/** A group's id from its name (/etc/group) or number. */
export function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name && /^\d+$/.test(f[2] ?? "")) return Number(f[2]);
    }
  } catch { /* no group database */ }
  return undefined;
}

/** Configurations read without their director block: an interface named elsewhere stands in
 *  (keepalived.ts), so that what names it is not refused for it — the missing block is the error. */
export const standIns = new WeakSet<DirectorConfig>();

/** The interface of that name (a stand-in, see standIns). */
export function interfaceNamed(cfg: DirectorConfig, name: string): InterfaceConfig | undefined {
  const i = cfg.interfaces.find((x) => x.name === name);
  if (i || !standIns.has(cfg) || cfg.interfaces.length >= 16) return i;
  const s: InterfaceConfig = { index: cfg.interfaces.length, name, mac: STANDIN_MAC, mtu: 1500, tap: name.slice(0, 15), line: 0 };
  cfg.interfaces.push(s);
  return s;
}

/** The interface index a dev name or number refers to. */
export function devIndex(cfg: DirectorConfig, dev: string, line: number, file = cfg.file): number {
  const byName = cfg.interfaces.find((i) => i.name === dev);
  if (byName) return byName.index;
  if (/^\d+$/.test(dev) && cfg.interfaces.some((i) => i.index === Number(dev))) return Number(dev);
  throw new ConfigError(file, line, 1, dev, "no such interface");
}

/** The interface whose connected subnet holds addr. */
export function onLinkIndex(cfg: DirectorConfig, addr: string): number | undefined {
  const a = ipToWire(addr);
  for (const i of cfg.interfaces) {
    if (!i.address) continue;
    const c = parseCidr(i.address);
    const mask = c.prefixLen === 0 ? 0 : ((0xffffffff << (32 - c.prefixLen)) >>> 0);
    const n = (x: number) => (((x & 0xff) << 24) | (((x >>> 8) & 0xff) << 16) | (((x >>> 16) & 0xff) << 8) | (x >>> 24)) >>> 0;
    if (((n(a) & mask) >>> 0) === ((n(ipToWire(c.address)) & mask) >>> 0)) return i.index;
  }
  return undefined;
}

/** Apply a parsed configuration to a fresh engine. Engine refusals (a DR server not
 *  on-link, no route to a server, ...) are reported as ConfigErrors at the value at fault. */
export function applyConfig(engine: Engine, cfg: DirectorConfig): void {
  const errors = engineErrors(engine, cfg);
  if (errors.length) throw ConfigError.all(errors);
}

/** What the engine refuses of cfg, every refusal (applied to engine as far as it goes).
 *  routingUnsure: leave out "not on-link" and "no route", which depend on an interface,
 *  route or neighbour the file got wrong (load.ts). */
export function engineErrors(engine: Engine, cfg: DirectorConfig, routingUnsure = false): ConfigError[] {
  const errs = new ErrorList();
  const routing = new Set([Err.NOT_ON_LINK, Err.NO_ROUTE]);
  const at = (where: Pos | undefined, line: number, what: string, f: () => void, file = cfg.file) => errs.attempt(() => {
    try {
      f();
    } catch (e) {
      if (e instanceof EngineError && routingUnsure && routing.has(e.code)) return;
      if (e instanceof ConfigError && where && e.column === 1 && e.line === where.line) throw new ConfigError(where.file, where.line, where.column, where.text, e.reason);
      if (!(e instanceof EngineError || e instanceof AddressError)) throw e;
      throw where ? new ConfigError(where.file, where.line, where.column, where.text, e.message) : new ConfigError(file, line, 1, keywordOf(cfg, what), e.message);
    }
  });
  // (keepalived.conf says it of its director block.)
  if (cfg.interfaces.length === 0 && cfg.format !== "keepalived") errs.attempt(() => { throw new ConfigError(cfg.file, 1, 1, "", "no interface defined (the director needs at least one 'interface' line)"); });
  for (const i of cfg.interfaces) at(i.where, i.line, "interface", () => engine.setInterface(i), fileOf(cfg, i));
  for (const r of cfg.routes) {
    at(r.where, r.line, "route", () => {
      const dev = r.dev !== undefined ? devIndex(cfg, r.dev, r.line, fileOf(cfg, r)) : onLinkIndex(cfg, r.via!);
      if (dev === undefined) {
        if (routingUnsure) return;
        throw new ConfigError(fileOf(cfg, r), r.line, 1, "route", `gateway ${r.via} is not on any interface's subnet (add 'dev INTERFACE')`);
      }
      engine.addRouteOf({ ...r, ifindex: dev });
    }, fileOf(cfg, r));
  }
  for (const n of cfg.neighbours) {
    at(n.where, n.line, "neighbour", () => {
      const dev = n.dev !== undefined ? devIndex(cfg, n.dev, n.line, fileOf(cfg, n)) : onLinkIndex(cfg, n.address);
      if (dev === undefined) {
        if (routingUnsure) return;
        throw new ConfigError(fileOf(cfg, n), n.line, 1, "neighbour", `${n.address} is not on any interface's subnet (add 'dev INTERFACE')`);
      }
      engine.setNeighbourOf({ ...n, ifindex: dev });
    }, fileOf(cfg, n));
  }
  if (cfg.timeouts) {
    const t = cfg.timeouts;
    at(undefined, t.line, "--set", () => engine.setTimeouts(t));
  }
  engine.setRejectUnknown(cfg.rejectUnknown?.on ?? true);
  engine.setExpireQuiescentTemplate(cfg.expireQuiescentTemplate?.on ?? false);
  engine.setMarkRules(cfg.marks ?? []);
  engine.setVrrpInstances(vrrpSpecs(cfg));
  // Connection sync starts receiving: its VRRP instance starts as backup.
  if (cfg.syncDaemon) engine.setSync({ send: false, receive: true, ifindex: cfg.syncDaemon.ifindex, syncid: cfg.syncDaemon.syncid, maxlen: cfg.syncDaemon.maxlen, peer: cfg.syncDaemon.peer, from: cfg.syncDaemon.peer });
  engine.setSyncTableShare(cfg.syncTableShare?.percent);
  engine.setSyncAuthKey(syncKeyBytes(cfg));
  engine.setExpireNodestConn(cfg.expireNodestConn?.on ?? false);
  engine.setSloppyTcp(cfg.sloppyTcp?.on ?? false);
  for (const s of cfg.services) {
    let index = -1;
    at(s.where, s.line, "-A", () => {
      checkPort(s.port);
      // Until the engine forwards IPv6 (features.ts), an IPv6 service is refused here, where it would reach it.
      const why = ip6ServiceRefusal(s, `service ${s.fwmark !== undefined ? `fwmark ${s.fwmark} (IPv6)` : hostPort(s.address, s.port)}`);
      if (why) throw new AddressError(why);
      index = engine.addService(s);
    });
    if (index >= 0) for (const r of s.realServers) at(r.where, r.line, "-a", () => {
      const why = ip6ServerRefusal(s.vaddr, r.daddr, r.method, `real server ${hostPort(r.address, r.port)}`);
      if (why) throw new AddressError(why);
      engine.addRealServer(index, r);
    });
  }
  return errs.errors;
}
