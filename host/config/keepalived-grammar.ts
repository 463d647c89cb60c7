// keepalived.conf's grammar, shared by the parsers of its parts (keepalived.ts for the LVS
// part and the director block, host/config/keepalived-checks.ts for the checkers): words,
// braces and quoted strings with their positions, `#`/`!` comments, `include` with globs,
// the block structure, and the helpers that read a keyword's arguments or refuse it with
// its file, line and column. Bounded by LIMITS (size, files, depth, words).

import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { readConfigFile } from "./rules.js";
import { ConfigError, ErrorList, MAX_WARNINGS, notShown, type FileOrder } from "./errors.js";
import { LIMITS, type DirectorConfig } from "./director.js";

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
}

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
  refuse?: Map<string, string>): void {
  if (order && !order.has(file)) order.set(file, []);
  const text = readConfigFile(file);
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
/** A keyword's block, by its keyword's token: what an ignored keyword takes with it. */
const blockOf = new WeakMap<Tok, Node>();

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
      blockOf.set(t, node);
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
export function unknown(t: Tok, known: string[], where: string, blockPath?: string): void {
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
  const b = blockOf.get(t);
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
export const int = (t: Tok, min: number, max: number, what: string) => value(t, (x) => wholeNumber(x, min, max, what));
export const ip = (t: Tok, what: string) => value(t, (x) => ipv4Address(x, what));
