// keepalived.conf's grammar, shared by the parsers of its parts (keepalived.ts for the LVS
// part and the director block, host/config/keepalived-checks.ts for the checkers): words,
// braces and quoted strings with their positions, `#`/`!` comments, `include` with globs,
// the block structure, and the helpers that read a keyword's arguments or refuse it with
// its file, line and column. Bounded by LIMITS (size, files, depth, words).

import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { readConfigFile } from "./rules.js";
import { ConfigError, ErrorList, MAX_WARNINGS, notShown, type FileOrder } from "./errors.js";
import { LIMITS, type DirectorConfig, type RealServerConfig } from "./director.js";

export type { FileOrder };
import { ipv4Address, SettingError, wholeNumber } from "./settings.js";
import { notSupported } from "./features.js";
import { KEEPALIVED_NOT_YET } from "./not-yet.js";
import { classify } from "./keepalived-keywords.js";
import { KEEPALIVED_KEYWORDS } from "./keepalived-keywords-extracted.js";

export interface Tok {
  text: string;
  file: string;
  line: number;
  column: number;
  /** Written in double quotes: never a brace or a keyword of the grammar. */
  quoted?: boolean;
}

export interface Node {
  key: Tok;
  args: Tok[];
  children?: Node[];
  /** The brace that closes the block (none when it is never closed). */
  end?: Tok;
  /** A virtual_server's `real_server ADDRESS PORT { weight N }` on a line of its own, read
   *  straight from the text (plainServerLine): no arguments nor children, the server itself here. */
  plain?: PlainServer;
}

/** A real_server line read by plainServerLine: the server as keepalived.ts's word-by-word read
 *  makes it (the method NAT until the virtual server's lb_kind is known), in the shape of that
 *  read's result (keepalived.ts RealRead), so that it is taken as it is: a 10,000-service file
 *  has 100,000 such lines, and each object less per line is ~10 ms of its parse. */
export interface PlainServer {
  rs: RealServerConfig;
  explicitMethod: false;
  refused: false;
}

/** The arguments of a node read by plainServerLine: none (its words are in `plain`). */
const NO_ARGS: Tok[] = Object.freeze([]) as unknown as Tok[];

/** Whether errs has an error inside n's block: a line of it that was refused or dropped
 *  (a conditional one), so that the block is not also called incomplete for it. */
export function refusedWithin(errs: ErrorList, n: Node): boolean {
  const last = n.end?.line ?? Number.MAX_SAFE_INTEGER;
  return errs.errors.some((e) => e.file === n.key.file && e.line > n.key.line && e.line <= last);
}

export const fail = (t: Tok, why: string): never => {
  throw new ConfigError(t.file, t.line, t.column, t.text, why);
};
/** A bound reached: reading stops here (what was found before is still reported). */
const stop = (t: Tok, why: string): never => {
  throw new ConfigError(t.file, t.line, t.column, t.text, why).stop();
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
export interface Budget {
  files: number;
  bytes: number;
  tokens: number;
}

/** The words, braces and quoted strings of one line, with their columns. */
export function lineTokens(line: string, file: string, lineNo: number): Tok[] {
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
    // A word ends at a blank, a brace or a quote (compared as char codes: a 65,536-service
    // file is 33 MB of them).
    for (let c = line.charCodeAt(j); j < line.length && c !== 32 && c !== 9 && c !== 13 && c !== 123 && c !== 125 && c !== 34; c = line.charCodeAt(++j));
    if (j - i > LIMITS.wordChars) throw new ConfigError(file, lineNo, i + 1, line.slice(i, i + 40), `a word longer than ${LIMITS.wordChars} characters`);
    out.push({ text: line.slice(i, j), file, line: lineNo, column: i + 1 });
    i = j;
  }
  return out;
}


/** Words, braces and quoted strings with their positions; comments dropped; includes
 *  spliced in place. Bounded by LIMITS (size, files, depth, tokens). With errs, what is
 *  wrong in a line (an unbalanced quote, an include that names no file) is recorded and
 *  reading goes on; bounds stop it. order: where each file was read. */
export function tokenize(file: string, depth: number, seen: Set<string>, budget: Budget, out: Tok[], errs?: ErrorList, order?: FileOrder,
  refuse?: Map<string, string>, read?: string): void {
  if (order && !order.has(file)) order.set(file, []);
  // read: the file's text when the caller has read it already.
  const text = read ?? readConfigFile(file);
  budget.bytes += text.length;
  if (budget.bytes > LIMITS.totalBytes) throw new ConfigError(file, 1, 1, "include", `the configuration with its includes is larger than ${LIMITS.totalBytes} bytes`).stop();
  const lines = text.split("\n");
  // A line's own error (recorded when errs is given) drops that line; bounds end reading.
  const lineOk = (f: () => void) => (errs ? errs.attempt(f) : f());
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let lineToks: Tok[] = [];
    lineOk(() => { lineToks = lineTokens(line, file, i + 1); });
    if (lineToks.length && lineToks[0].text === "include" && !lineToks[0].quoted) {
      const [inc, pattern] = lineToks;
      let files: string[] = [];
      lineOk(() => {
        if (!pattern) fail(inc, "include needs a file name or a glob");
        if (lineToks.length > 2) fail(lineToks[2], "include takes one file name or glob");
        files = expandGlob(pattern.text, dirname(file));
        if (files.length === 0 && !/[*?[]/.test(pattern.text)) {
          // One that is there but not a file (/dev/zero, a FIFO, a folder) is not "no such file".
          if (existsSync(resolve(dirname(file), pattern.text))) fail(pattern, `not a regular file: ${pattern.text} (a configuration is read from a file)`);
          fail(pattern, `no such file: ${pattern.text} (relative to ${dirname(resolve(file))})`);
        }
      });
      if (!files.length) continue;
      if (depth + 1 > LIMITS.includeDepth) stop(inc, `includes nested more than ${LIMITS.includeDepth} deep`);
      budget.files += files.length;
      if (budget.files > LIMITS.includedFiles) stop(pattern, `more than ${LIMITS.includedFiles} included files in all`);
      files.forEach((f, k) => lineOk(() => {
        if (seen.has(f)) fail(pattern, `${f} includes itself`);
        const no = refuse?.get(f);
        if (no) fail(pattern, no);
        if (order && !order.has(f)) order.set(f, [...(order.get(file) ?? []), i + 1, 1, k]);
        seen.add(f);
        try {
          tokenize(f, depth + 1, seen, budget, out, errs, order, refuse);
        } finally {
          seen.delete(f);
        }
      }));
      continue;
    }
    if (lineToks.length && lineToks[0].text.startsWith("@")) {
      // Dropped: which of its alternatives applies depends on the instance's name. The
      // block it stands in is not called incomplete for it (refusedWithin).
      lineOk(() => fail(lineToks[0], notSupported("conditional")));
      continue;
    }
    // keepalived's parser (lib/parser.c) substitutes $NAME from `$NAME=...` lines and expands ~SEQ(...).
    if (lineToks.length && !lineToks[0].quoted && (/^\$\{?\w+\}?=/.test(lineToks[0].text) || lineToks[0].text.startsWith("~SEQ"))) {
      lineOk(() => fail(lineToks[0], notSupported("definitions")));
      continue;
    }
    budget.tokens += lineToks.length + 1;
    if (budget.tokens > LIMITS.tokens) stop(lineToks[0] ?? { text: "", file, line: i + 1, column: 1 }, `more than ${LIMITS.tokens} words in the configuration`);
    // A newline ends a statement: mark it so arguments stop at the end of the line.
    for (const t of lineToks) out.push(t);
    if (lineToks.length) out.push({ text: "\n", file, line: i + 1, column: line.length + 1 });
  }
}

export const isBrace = (t: Tok, b: string) => t.text === b && !t.quoted;

/** The block structure, built with an explicit stack: the nesting of a file cannot
 *  exhaust the call stack, and it is bounded by LIMITS.blockDepth. */

export function parseBlocks(toks: Tok[], errs?: ErrorList): Node[] {
  const root: Node[] = [];
  const stack: { nodes: Node[]; opener?: Tok; node?: Node }[] = [{ nodes: root }];
  // With errs, a stray brace is recorded and passed over (a block without a keyword is read and dropped).
  const recover = (f: () => void) => (errs ? errs.attempt(f) : f());
  let i = 0;
  while (i < toks.length) {
    const t = toks[i];
    const top = stack[stack.length - 1];
    if (t.text === "\n") { i++; continue; }
    if (isBrace(t, "}")) {
      if (!top.opener) recover(() => fail(t, "unexpected '}' with no block open"));
      else {
        if (top.node) top.node.end = t;
        stack.pop();
      }
      i++;
      continue;
    }
    if (isBrace(t, "{")) {
      recover(() => fail(t, "a block needs a keyword before '{'"));
      if (stack.length > LIMITS.blockDepth) stop(t, `blocks nested more than ${LIMITS.blockDepth} deep`);
      stack.push({ nodes: [], opener: t });
      i++;
      continue;
    }
    i++;
    const node: Node = { key: t, args: [] };
    while (i < toks.length && toks[i].text !== "\n" && !isBrace(toks[i], "{") && !isBrace(toks[i], "}")) node.args.push(toks[i++]);
    top.nodes.push(node);
    // keepalived allows the opening brace on the next line.
    let j = i;
    while (j < toks.length && toks[j].text === "\n") j++;
    if (j < toks.length && isBrace(toks[j], "{")) {
      if (stack.length > LIMITS.blockDepth) stop(toks[j], `blocks nested more than ${LIMITS.blockDepth} deep`);
      node.children = [];
      stack.push({ nodes: node.children, opener: toks[j], node });
      i = j + 1;
    }
  }
  if (stack.length > 1) recover(() => fail(stack[stack.length - 1].opener!, "this block is never closed (missing '}')"));
  return root;
}

export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}


// Warnings of the configuration being read: the parsers of its parts are plain functions
// called deep inside each other, so the one reading a file (parseKeepalived) sets where
// they go for as long as it reads (synchronously).
let warnings: string[] | undefined;
// Warnings kept per read: MAX_WARNINGS (rules.ts, boundWarnings: the bound of every stage's).
export { MAX_WARNINGS };
let warningsDropped = 0;
// --strict: what keepalived warns about and carries on after (carryOn) is refused instead.
let strict = false;
export function collectingWarnings<T>(into: string[], f: () => T, strictMode = false): T {
  const before = warnings;
  const strictBefore = strict;
  const droppedBefore = warningsDropped;
  warnings = into;
  strict = strictMode;
  warningsDropped = 0;
  try {
    return f();
  } finally {
    if (warningsDropped) into.push(notShown(warningsDropped));
    warnings = before;
    strict = strictBefore;
    warningsDropped = droppedBefore;
  }
}
/** Room for another warning (else it is only counted). */
const warningRoom = () => !warnings || warnings.length < MAX_WARNINGS;
/** A warning at t's position (FILE:LINE:COLUMN: text). */
export function warn(t: Tok, text: string): void {
  if (!warnings) return;
  if (!warningRoom()) { warningsDropped++; return; }
  warnings.push(`${t.file}:${t.line}:${t.column}: ${text}`);
}

/** Where the warnings of the read being made stand, to take a part's warnings (warningsSince). */
export const warningMark = (): { count: number; dropped: number } => ({ count: warnings?.length ?? 0, dropped: warningsDropped });
/** The warnings given since mark, in order; undefined when one of them was only counted (no room). */
export function warningsSince(mark: { count: number; dropped: number }): readonly string[] | undefined {
  if (warningsDropped !== mark.dropped) return undefined;
  // (None, the common case, is one shared list: keepalived.ts keeps a list for each of 10,000 blocks.)
  return warnings && warnings.length > mark.count ? warnings.slice(mark.count) : NO_WARNINGS;
}
const NO_WARNINGS: readonly string[] = Object.freeze([]);
/** A warning given again, as it was given (a part of the file read before and reused). */
export function warnAgain(text: string): void {
  if (!warnings) return;
  if (!warningRoom()) { warningsDropped++; return; }
  warnings.push(text);
}

/** Where keepalived warns and carries on (ignores the line, takes its default), wasmvs
 *  does the same with a warning: a keepalived peer's file loads in both. With --strict
 *  it is an error at t instead (problem: the error; consequence: what is done instead). */
export function carryOn(t: Tok, problem: string, consequence: string): void {
  if (strict) fail(t, problem);
  warn(t, `${t.text.length > 60 ? `${t.text.slice(0, 60)}...` : t.text}: ${problem}: ${consequence} (--strict refuses it)`);
}
export const isStrict = () => strict;

/** A keyword the block's parser does not read. blockPath names the block as keepalived's
 *  parser tables do (keepalived-keywords.ts; absent for wasmvs's own blocks): a keyword
 *  keepalived knows there is ignored with a warning or refused as not supported yet;
 *  any other is an unknown keyword, with the nearest known one suggested. */
export function unknown(n: Node, known: string[], where: string, blockPath?: string): void {
  const t = n.key;
  const c = blockPath !== undefined ? classify(blockPath, t.text) : undefined;
  if (c?.kind === "ignored") return warn(t, `${t.text}: ignored: ${c.reason}`);
  if (c?.kind === "notYet") fail(t, c.reason || `${t.text} is not supported by wasmvs yet`);
  if (Object.hasOwn(KEEPALIVED_NOT_YET, t.text)) fail(t, notSupported(KEEPALIVED_NOT_YET[t.text]));
  // A suggestion only for a word that could be a misspelt keyword (they are short).
  // Not worked out for a warning that will only be counted; candidates more than 2 apart in
  // length cannot be within 2 edits.
  const said = strict || blockPath === undefined || warningRoom();
  const near = !said || t.text.length > 40 ? undefined : [...known, ...(blockPath !== undefined ? KEEPALIVED_KEYWORDS[blockPath] ?? [] : []), ...Object.keys(KEEPALIVED_NOT_YET)]
    .filter((k) => Math.abs(k.length - t.text.length) <= 2)
    .map((k) => [k, distance(t.text.toLowerCase(), k.toLowerCase())] as const).filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1])[0];
  const what = `unknown keyword in ${where}${near ? ` (did you mean '${near[0]}'?)` : ""}`;
  // keepalived's parser (lib/parser.c) says "Unknown keyword" and skips the line, and the
  // block under it: so does wasmvs in keepalived's blocks. In wasmvs's own (director), an error.
  if (blockPath === undefined) fail(t, what);
  // Its block goes with it (keepalived skips to the matching '}'): a virtual_server nested
  // under a misspelt or unclosed block is lost, so the warning says what the block held.
  const b = n.children ? n : undefined;
  const held = [...new Set((b?.children ?? []).map((c) => (c.key.text.length > 40 ? `${c.key.text.slice(0, 40)}...` : c.key.text)))];
  const block = held.length ? ` with its block (${b!.end ? `lines ${t.line}-${b!.end.line}` : `line ${t.line} on`}, holding ${held.slice(0, 4).join(", ")}${held.length > 4 ? ", ..." : ""})` : "";
  carryOn(t, what, `ignored${block}, as keepalived does`);
}

/** What to do about a missing director block: keepalived.conf has no word for interfaces
 *  (keepalived takes the host's), wasmvs needs its TAPs named. name: the interface the
 *  example block holds (one the file uses, where known). */
export const addDirector = (name = "eth0") => `wasmvs needs one for its interfaces: add \`director { interface ${name} { address 192.0.2.1/24 } }\` ` +
  "(an interface block per name the file uses; its TAP is that name unless `tap` says another, and `device NAME` attaches to this host's own interface NAME instead) to this file, or put it in a " +
  "file of its own given with --director FILE, which keeps keepalived.conf the same as a keepalived peer's (see README, 'keepalived.conf')";
export const ADD_DIRECTOR = addDirector();

/** An interface name that is not one of the director's: what to add, where. */
export function noInterface(t: Tok, cfg: DirectorConfig): never {
  const names = cfg.interfaces.map((x) => x.name);
  // With a --director file there is a director block: what to add to it (not "add one").
  if (!names.length && cfg.directorFile === undefined) return fail(t, `no interface ${t.text}: no director block defines interfaces; ${addDirector(t.text)}`);
  const where = cfg.directorFile !== undefined ? `the director block (${cfg.directorFile})` : "the director block";
  return fail(t, `no interface ${t.text} in ${where} (interfaces: ${names.slice(0, 16).join(", ") || "none"}): add \`interface ${t.text} { device ${t.text} }\` (the host's own ${t.text}, ` +
    `through AF_XDP rings) or \`interface ${t.text} { address ADDRESS/PREFIX }\` (a TAP named ${t.text}) to it`);
}

export function arg(n: Node, i: number, what: string): Tok {
  const t = n.args[i];
  if (!t) fail(n.key, `expects ${what}`);
  return t!;
}
export function noMoreArgs(n: Node, count: number): void {
  if (n.args.length > count) fail(n.args[count], `unexpected argument to ${n.key.text}`);
}
export function leaf(n: Node): void {
  if (n.children) fail(n.key, `${n.key.text} does not take a block`);
}
/** The value of a word (settings.ts), its errors at the word's position. */
export function value<T>(t: Tok, f: (text: string) => T): T {
  try {
    return f(t.text);
  } catch (e) {
    if (e instanceof SettingError) return fail(t, e.message);
    throw e;
  }
}
/** A whole number in [min, max] (settings.ts wholeNumber), at t's position when it is not. The
 *  common case, plain digits in range, is read here without a pattern or a closure (a
 *  10,000-service file has a million of them); anything else goes to wholeNumber. */
export function int(t: Tok, min: number, max: number, what: string): number {
  const x = t.text;
  if (x.length > 0 && x.length <= 15) {
    let v = 0;
    let k = 0;
    for (; k < x.length; k++) {
      const c = x.charCodeAt(k);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
    }
    if (k === x.length && v >= min && v <= max) return v;
  }
  try {
    return wholeNumber(x, min, max, what);
  } catch (e) {
    if (e instanceof SettingError) return fail(t, e.message);
    throw e;
  }
}
export function ip(t: Tok, what: string): string {
  try {
    return ipv4Address(t.text, what);
  } catch (e) {
    if (e instanceof SettingError) return fail(t, e.message);
    throw e;
  }
}
/** What errs.attempt does with what was thrown, for a loop that catches it itself (no closure
 *  per statement): a ConfigError kept (or the read stopped), anything else thrown on. */
export function keep(errs: ErrorList, e: unknown): void {
  errs.attempt(() => {
    throw e;
  });
}

// --- One pass over a file's characters -------------------------------------------------
// A 10,000-service keepalived.conf is 5 MB and a million words: read as lines of token
// objects and then a tree of the whole file, the parse spends most of its time collecting
// garbage. A file with nothing unusual in it is read instead in one pass over its character
// codes that makes no object at all (scanStatements), giving where each top-level statement
// starts and ends; each statement's block is then turned into nodes (blockChildren) only when
// it is read, and dropped after. What the pass cannot vouch for — an include, a line that is
// refused or dropped (an unbalanced quote, a word too long, `@`, `$NAME=`, `~SEQ`), a brace
// out of place, nesting near LIMITS.blockDepth, LIMITS.tokens reached — sends the whole file
// to tokenize and parseBlocks above, which say what is wrong exactly as before.

const SPACE = 32, TAB = 9, CR = 13, LF = 10, QUOTE = 34, HASH = 35, BANG = 33, OPEN = 123, CLOSE = 125;
const AT = 64, DOLLAR = 36, TILDE = 126;

/** A top-level statement found by scanStatements: its keyword and arguments (as tokenize
 *  would give them), and where its block's insides are in the text. */
export interface Statement {
  node: Node;
  /** Offset of the keyword and of the end of the statement (after its closing brace). */
  from: number;
  to: number;
  /** The block's insides: from the character after '{' to its closing '}' (-1: no block). */
  bodyFrom: number;
  bodyTo: number;
  /** Line and line-start offset at bodyFrom. */
  bodyLine: number;
  bodyLineStart: number;
  /** Tokens inside the block (as counted against LIMITS.tokens). */
  bodyTokens?: number;
}

/** A block scanned before (keepalived.ts's parse cache): its statement's text from its keyword
 *  to after its closing brace, the keyword's column, and what its insides counted. */
export interface ScannedBlock {
  text: string;
  column: number;
  bodyTokens?: number;
  /** Line ends inside the block, and the closing brace's column. */
  bodyLines?: number;
  closeColumn?: number;
}

/** A word of the text as a string of its own. V8 makes a slice of 13 characters or more a
 *  view of the whole text: a service kept across reloads (keepalived.ts's parse cache) would
 *  keep every earlier text of the file alive through its addresses and positions. Joined to a
 *  character and cut again, it is copied (the join is flattened) and refers to that copy only. */
const own = (word: string): string => (word.length < 13 ? word : (word + " ").slice(0, -1));

const wordEnd = (text: string, j: number, end: number): number => {
  for (let c = text.charCodeAt(j); j < end && c !== SPACE && c !== TAB && c !== CR && c !== LF && c !== OPEN && c !== CLOSE && c !== QUOTE; c = text.charCodeAt(++j));
  return j;
};

/** The top-level statements of a file (text, read from file) with nothing unusual in it (see
 *  above), and the words it counts against LIMITS.tokens as tokenize does (each line's words,
 *  braces and strings, and one for the line's end); undefined when the file needs tokenize. */
/** known: blocks scanned before, by their keyword's line: a top-level block whose text is one of
 *  them, at the same line and column, is not walked again (its insides read as they did: the
 *  same characters from the same state), only its header (a reload of a 10,000-service file
 *  that changed one walks that one). */
export function scanStatements(text: string, file: string, known?: ReadonlyMap<number, ScannedBlock>): { statements: Statement[]; tokens: number } | undefined {
  const statements: Statement[] = [];
  const n = text.length;
  let line = 1;
  let lineStart = 0;
  let tokens = 1; // the last line's end
  let depth = 0;
  // Whether a '{' here has a keyword (parseBlocks: after a word, not after a brace).
  let canOpen = false;
  // The first token of the line is yet to come (include, @, $, ~ are looked at there).
  let firstOfLine = true;
  // The top-level statement being read; whether its arguments' line has ended.
  let current: Statement | undefined;
  let argsEnded = false;
  // Its arguments, gathered here and copied once they end (as blockChildren's: an array pushed
  // to from empty takes room for 17, kept through the parse for each of 10,000 statements).
  const args: Tok[] = [];
  let argCount = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      tokens++;
      line++;
      lineStart = ++i;
      firstOfLine = true;
      if (current && depth === 0 && !argsEnded) {
        argsEnded = true;
        current.node.args = args.slice(0, argCount);
        argCount = 0;
      }
      continue;
    }
    if (c === SPACE || c === TAB || c === CR) { i++; continue; }
    if (c === HASH || c === BANG) {
      const e = text.indexOf("\n", i);
      i = e < 0 ? n : e;
      continue;
    }
    const first = firstOfLine;
    firstOfLine = false;
    tokens++;
    if (c === OPEN) {
      if (!canOpen || depth + 2 >= LIMITS.blockDepth) return undefined;
      if (depth === 0) {
        if (!argsEnded) {
          argsEnded = true;
          current!.node.args = args.slice(0, argCount);
          argCount = 0;
        }
        current!.bodyFrom = i + 1;
        current!.bodyLine = line;
        current!.bodyLineStart = lineStart;
        current!.bodyTokens = tokens;
        const k = known?.get(current!.node.key.line);
        if (k && k.bodyTokens !== undefined && k.bodyLines !== undefined && k.closeColumn !== undefined && k.column === current!.node.key.column &&
          text.slice(current!.from, current!.from + k.text.length) === k.text) { // (a slice and === beat startsWith(_, at) ~3x in V8)
          // The same block as scanned before: on at its closing brace, as its walk would be.
          depth = 1;
          canOpen = false;
          i = current!.from + k.text.length - 1;
          line += k.bodyLines;
          lineStart = i - (k.closeColumn - 1);
          tokens += k.bodyTokens;
          continue;
        }
      }
      depth++;
      canOpen = false;
      i++;
      continue;
    }
    if (c === CLOSE) {
      if (depth === 0) return undefined;
      if (--depth === 0) {
        // (Between the braces: tokens counted the '{' at the start and this '}' now.)
        current!.bodyTokens = tokens - current!.bodyTokens! - 1;
        current!.bodyTo = i;
        current!.node.end = { text: "}", file, line, column: i - lineStart + 1 };
        current!.to = i + 1;
        current = undefined;
      }
      canOpen = false;
      i++;
      continue;
    }
    // A word or a quoted string.
    let tok: Tok;
    const start = i;
    const column = i - lineStart + 1;
    if (c === QUOTE) {
      const e = text.indexOf('"', i + 1);
      if (e < 0) return undefined;
      const nl = text.indexOf("\n", i + 1);
      if (nl >= 0 && nl < e) return undefined;
      if (first && text.charCodeAt(i + 1) === AT) return undefined;
      tok = { text: own(text.slice(i + 1, e)), file, line, column, quoted: true };
      i = e + 1;
    } else {
      const j = wordEnd(text, i, n);
      if (j - i > LIMITS.wordChars) return undefined;
      if (first && (c === AT || c === DOLLAR || c === TILDE || (c === 105 /* i */ && j - i === 7 && text.startsWith("include", i)))) return undefined;
      if (depth > 0) { canOpen = true; i = j; continue; }
      // (The keyword of 10,000 statements: the one string, not a copy of 14 characters each.)
      tok = { text: j - i === 14 && wordAt(text, i, "virtual_server") ? "virtual_server" : own(text.slice(i, j)), file, line, column };
      i = j;
    }
    canOpen = true;
    if (depth > 0) continue;
    if (current && !argsEnded) { args[argCount++] = tok; current.to = i; continue; }
    // Every field from the start, in one order (bodyTokens set once its block is read; args once they end).
    current = { node: { key: tok, args: NO_ARGS }, from: start, to: i, bodyFrom: -1, bodyTo: -1, bodyLine: 0, bodyLineStart: 0, bodyTokens: undefined };
    argsEnded = false;
    statements.push(current);
  }
  if (current && !argsEnded) current.node.args = args.slice(0, argCount);
  if (depth > 0) return undefined;
  if (tokens > LIMITS.tokens) return undefined;
  return { statements, tokens };
}

/** Where the blanks (spaces, tabs) from j end. */
const blanksEnd = (text: string, j: number, to: number): number => {
  for (let c = text.charCodeAt(j); j < to && (c === SPACE || c === TAB); c = text.charCodeAt(++j));
  return j;
};

/** A whole number of plain digits from j, as int()'s common case reads one (1 to 15 digits, at
 *  most max), ending where the word ends (a blank or one of the braces); -1 for anything else. */
let digitsValue = 0;
function digitsEnd(text: string, j: number, to: number, max: number): number {
  const from = j;
  let v = 0;
  for (let c = text.charCodeAt(j); j < to && c >= 48 && c <= 57; c = text.charCodeAt(++j)) v = v * 10 + (c - 48);
  if (j === from || j - from > 15 || v > max || j >= to) return -1;
  const c = text.charCodeAt(j);
  if (c !== SPACE && c !== TAB && c !== OPEN && c !== CLOSE) return -1;
  digitsValue = v;
  return j;
}

/** An IPv4 address as ipToWire's common case reads one (four octets of 1 to 3 digits, no
 *  leading 0, each at most 255) from j, ending at a blank; -1 for anything else. Its value as
 *  parseIp gives it (the wire-order word as an int32) in quadValue. */
let quadValue = 0;
function quadEnd(text: string, j: number, to: number): number {
  let wire = 0;
  for (let dot = 0; dot < 4; dot++) {
    const from = j;
    let octet = 0;
    for (let c = text.charCodeAt(j); j < to && c >= 48 && c <= 57 && j - from < 3; c = text.charCodeAt(++j)) octet = octet * 10 + (c - 48);
    if (j === from || octet > 255 || (j - from > 1 && text.charCodeAt(from) === 48)) return -1;
    wire |= octet << (8 * dot);
    if (dot < 3) {
      if (text.charCodeAt(j) !== 46) return -1;
      j++;
    }
  }
  const c = text.charCodeAt(j);
  if (!(j < to && (c === SPACE || c === TAB))) return -1;
  quadValue = wire | 0;
  return j;
}

/** One string per address of the lines plainServerLine reads, found by its value (the text of a
 *  plain dotted quad is its value's: no leading zero, no other notation), as the rules format's
 *  TextNames (config/ipvsadm.ts) keeps them: a 10,000-service file names the same few servers
 *  100,000 times, and each of the reload's maps keyed by address (checkModel's AddressIndex,
 *  the server keys) then compares one string by pointer instead of a copy by its characters,
 *  and 100,000 strings fewer survive the parse. A slot holds the last address hashed to it. */
const ADDRESS_BITS = 12;
const addressWires = new Int32Array(1 << ADDRESS_BITS);
const addressTexts: string[] = new Array<string>(1 << ADDRESS_BITS).fill("");
function addressText(text: string, from: number, to: number, wire: number): string {
  const h = Math.imul(wire, 0x9e3779b1) >>> (32 - ADDRESS_BITS);
  const known = addressTexts[h];
  if (known !== "" && addressWires[h] === wire) return known;
  const fresh = own(text.slice(from, to));
  addressWires[h] = wire;
  addressTexts[h] = fresh;
  return fresh;
}

/** Whether text has word's characters at i (startsWith(word, i) without a call of the builtin
 *  for each of 100,000 lines: ~10% of plainServerLine's time). */
function wordAt(text: string, i: number, word: string): boolean {
  if (i + word.length > text.length) return false;
  for (let k = 0; k < word.length; k++) if (text.charCodeAt(i + k) !== word.charCodeAt(k)) return false;
  return true;
}

/** Whether `real_server ADDRESS PORT { weight N }` is all there is from i to the line's end
 *  (blanks after the brace), every word as realServerStatement takes it without a word of
 *  complaint: then the address's start and end, the port and the weight are in plainRead;
 *  false for anything else (read word by word, with its errors). A 10,000-service
 *  keepalived.conf has 100,000 such lines: as nodes they were 10 objects each, dropped at once. */
const plainRead = { port: 0, weight: 0, wire: 0, address: 0, end: 0 };
function plainServerLine(text: string, i: number, to: number): boolean {
  if (!wordAt(text, i, "real_server")) return false;
  let j = i + 11;
  const a = blanksEnd(text, j, to);
  if (a === j) return false;
  const addressEnd = quadEnd(text, a, to);
  if (addressEnd < 0) return false;
  j = digitsEnd(text, blanksEnd(text, addressEnd, to), to, 65535);
  if (j < 0 || text.charCodeAt(j) === CLOSE) return false;
  const port = digitsValue;
  j = blanksEnd(text, j, to);
  if (text.charCodeAt(j) !== OPEN) return false;
  j = blanksEnd(text, j + 1, to);
  if (!wordAt(text, j, "weight")) return false;
  const w = blanksEnd(text, j + 6, to);
  if (w === j + 6) return false;
  j = digitsEnd(text, w, to, 65535);
  if (j < 0 || text.charCodeAt(j) === OPEN) return false;
  const weight = digitsValue;
  j = blanksEnd(text, j, to);
  if (text.charCodeAt(j) !== CLOSE) return false;
  for (j++; j < to && text.charCodeAt(j) !== LF; j++) {
    const c = text.charCodeAt(j);
    if (c !== SPACE && c !== TAB && c !== CR) return false;
  }
  plainRead.port = port;
  plainRead.weight = weight;
  plainRead.address = a;
  plainRead.end = addressEnd;
  plainRead.wire = quadValue;
  return true;
}

/** The server of the line plainServerLine read last (line and lineStart: that line's), as
 *  keepalived.ts realServerStatement makes it of the words (where: the address's). */
function plainServer(text: string, file: string, line: number, lineStart: number): PlainServer {
  const p = plainRead;
  const address = addressText(text, p.address, p.end, p.wire);
  const rs: RealServerConfig = { address, daddr: p.wire, port: p.port, method: "nat", weight: p.weight, uthreshold: 0, lthreshold: 0, line,
    where: { file, line, column: p.address - lineStart + 1, text: address }, health: undefined };
  return { rs, explicitMethod: false, refused: false };
}

/** A virtual_server block whose every statement is a line of its own that plainBlock reads: the
 *  settings' keywords and values in the order written, and the one-line real servers. */
export interface PlainBlock {
  /** keyword, value, keyword, value, ...: lb_algo, lvs_sched, lb_kind, lvs_method or protocol,
   *  each with one word (keepalived.ts takes the value or reads the block word by word). */
  settings: string[];
  servers: PlainServer[];
}
const PLAIN_SETTINGS: ReadonlySet<string> = new Set(["lb_algo", "lvs_sched", "lb_kind", "lvs_method", "protocol"]);

/** Blanks as the readers skip them between words (spaces, tabs, a CR) from j. */
const blanksOrCrEnd = (text: string, j: number, to: number): number => {
  for (let c = text.charCodeAt(j); j < to && (c === SPACE || c === TAB || c === CR); c = text.charCodeAt(++j));
  return j;
};

/** The insides of a block that scanStatements vouched for (as blockChildren takes them) when
 *  each line is blank, a comment, a one-line real_server that plainServerLine reads, or one of
 *  PLAIN_SETTINGS with one word after it and nothing more; undefined for anything else (read
 *  into nodes, word by word). The common virtual_server of a large file (issue 19: 10,000 such
 *  blocks) is then read without a node, a word or an argument list for any of its lines. */
export function plainBlock(text: string, file: string, from: number, to: number, line: number, lineStart: number): PlainBlock | undefined {
  const settings: string[] = [];
  const servers: PlainServer[] = [];
  let i = from;
  while (true) {
    i = blanksOrCrEnd(text, i, to);
    if (i >= to) break;
    const c = text.charCodeAt(i);
    if (c === LF) {
      line++;
      lineStart = ++i;
      continue;
    }
    if (c === HASH || c === BANG) {
      const e = text.indexOf("\n", i);
      i = e < 0 || e > to ? to : e;
      continue;
    }
    if (c === 114 /* r */ && plainServerLine(text, i, to)) {
      servers.push(plainServer(text, file, line, lineStart));
      const e = text.indexOf("\n", plainRead.end);
      i = e < 0 || e > to ? to : e;
      continue;
    }
    const keyEnd = wordEnd(text, i, to);
    const keyword = text.slice(i, keyEnd);
    if (!PLAIN_SETTINGS.has(keyword)) return undefined;
    const v = blanksEnd(text, keyEnd, to);
    if (v === keyEnd || v >= to) return undefined;
    const first = text.charCodeAt(v);
    if (first === HASH || first === BANG) return undefined;
    const valueEnd = wordEnd(text, v, to);
    if (valueEnd === v) return undefined;
    i = blanksOrCrEnd(text, valueEnd, to);
    if (i < to && text.charCodeAt(i) !== LF) return undefined;
    settings.push(keyword, text.slice(v, valueEnd));
  }
  return { settings, servers };
}

/** The nodes inside a block that scanStatements vouched for (from after its '{' to before its
 *  '}', line and lineStart at from), as parseBlocks would build them from tokenize's tokens.
 *  plainServers (a virtual_server's block): its one-line real_servers as plainServerLine reads
 *  them, a node each with the server in `plain`. */
export function blockChildren(text: string, file: string, from: number, to: number, line: number, lineStart: number, plainServers = false): Node[] {
  const root: Node[] = [];
  const stack: { nodes: Node[]; node?: Node }[] = [{ nodes: root }];
  let top = stack[0];
  // The node whose arguments are being read, and whether its line has ended (its block may
  // still open on a later line). Its arguments are gathered here and copied once they end (an
  // array pushed to from empty takes room for 16); counted, not emptied (setting an array's
  // length was ~10% of this function's time on a 10,000-service file).
  let current: Node | undefined;
  let argsEnded = false;
  const args: Tok[] = [];
  let argCount = 0;
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      line++;
      lineStart = ++i;
      if (current && !argsEnded) {
        argsEnded = true;
        if (argCount) { current.args = args.slice(0, argCount); argCount = 0; }
      }
      continue;
    }
    if (c === SPACE || c === TAB || c === CR) { i++; continue; }
    if (c === HASH || c === BANG) {
      const e = text.indexOf("\n", i);
      i = e < 0 || e > to ? to : e;
      continue;
    }
    if (c === OPEN || c === CLOSE) {
      if (argCount) { current!.args = args.slice(0, argCount); argCount = 0; }
      if (c === OPEN) {
        // scanStatements vouched that a keyword precedes it.
        const node = current!;
        node.children = [];
        top = { nodes: node.children, node };
        stack.push(top);
      } else {
        top.node!.end = { text: "}", file, line, column: i - lineStart + 1 };
        stack.pop();
        top = stack[stack.length - 1];
      }
      current = undefined;
      i++;
      continue;
    }
    let tok: Tok;
    const column = i - lineStart + 1;
    if (plainServers && c === 114 /* r */ && stack.length === 1 && (!current || argsEnded) && plainServerLine(text, i, to)) {
      top.nodes.push({ key: { text: "real_server", file, line, column }, args: NO_ARGS, plain: plainServer(text, file, line, lineStart) });
      current = undefined;
      i = text.indexOf("\n", plainRead.end);
      if (i < 0 || i > to) i = to;
      continue;
    }
    if (c === QUOTE) {
      const e = text.indexOf('"', i + 1);
      tok = { text: own(text.slice(i + 1, e)), file, line, column, quoted: true };
      i = e + 1;
    } else {
      const j = wordEnd(text, i, to);
      tok = { text: own(text.slice(i, j)), file, line, column };
      i = j;
    }
    if (current && !argsEnded) { args[argCount++] = tok; continue; }
    current = { key: tok, args: [] };
    argsEnded = false;
    top.nodes.push(current);
  }
  if (argCount) current!.args = args.slice(0, argCount);
  return root;
}

/** A top-level statement's node with its block read (scanStatements left it out); plainServers:
 *  a virtual_server's (blockChildren). */
export function statementNode(text: string, s: Statement, plainServers = false): Node {
  const node: Node = { key: s.node.key, args: s.node.args };
  if (s.bodyFrom >= 0) {
    node.children = blockChildren(text, s.node.key.file, s.bodyFrom, s.bodyTo, s.bodyLine, s.bodyLineStart, plainServers);
    if (s.node.end) node.end = s.node.end;
  }
  return node;
}
