// Extracts every keyword keepalived's configuration parser knows, with the block it belongs
// to, from keepalived's own source: the install_keyword_root / install_keyword /
// install_keyword_quoted / install_sublevel calls of its parser tables (keepalived/core/global_parser.c,
// vrrp/vrrp_parser.c, check/check_parser.c, check/check_*.c, bfd/bfd_parser.c,
// trackers/track_file.c), followed from main.c's global_init_keywords() as keepalived
// itself builds its keyword tree (lib/parser.c: install_keyword adds to the last keyword
// of the current sublevel). Every #ifdef branch is taken, so the list is what a keepalived
// built with every option knows.
//
//   node scripts/keepalived-keywords.mjs GIT_DIR [REF ...] > host/config/keepalived-keywords-extracted.ts
//
// GIT_DIR is a clone of github.com/acassen/keepalived (bare or not). REFs default to v2.2.8,
// the newest 2.2 release (Debian 12 ships 2.2.7), and v2.4.3: the list is the first's, and
// then what each later one adds, each such keyword with the release that brought it.

import { execFileSync } from "node:child_process";

const [gitDir, ...given] = process.argv.slice(2);
const refs = given.length ? given : ["v2.2.8", "v2.4.3"];
if (!gitDir) {
  console.error("usage: node scripts/keepalived-keywords.mjs GIT_DIR [REF ...]");
  process.exit(2);
}
const git = (...args) => execFileSync("git", ["--git-dir", gitDir, ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
/** C source without comments and preprocessor lines (every #if branch is kept). */
function clean(src) {
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "*") { const e = src.indexOf("*/", i + 2); out += " "; i = e < 0 ? src.length : e + 1; continue; }
    if (c === "/" && src[i + 1] === "/") { while (i < src.length && src[i] !== "\n") i++; out += "\n"; continue; }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j;
      continue;
    }
    out += c;
  }
  return out.split("\n").map((l) => (/^\s*#/.test(l) ? "" : l)).join("\n");
}

/** Tokens: identifiers, numbers, strings and single punctuation characters. */
function lex(s) {
  const re = /\s+|([A-Za-z_]\w*)|("(?:[^"\\]|\\.)*")|('(?:[^'\\]|\\.)*')|(\d[\w.]*)|(->|==|!=|&&|\|\||[^\s])/gy;
  const out = [];
  let m;
  while ((m = re.exec(s))) {
    if (m[0].trim() === "") continue;
    if (m[1]) out.push({ t: "id", v: m[1] });
    else if (m[2]) out.push({ t: "str", v: JSON.parse(m[2]) });
    else out.push({ t: "p", v: m[0] });
  }
  return out;
}

/** Split at commas outside parentheses. */
function splitTop(s) {
  const out = [""];
  let d = 0;
  for (const c of s) {
    if (c === "(") d++;
    if (c === ")") d--;
    if (c === "," && d === 0) out.push("");
    else out[out.length - 1] += c;
  }
  return out;
}

// keepalived's keyword tree, built as lib/parser.c builds it.
let funcs = new Map();
let roots = [];
let sublevel = 0;
function addSub(name) {
  let k = roots[roots.length - 1];
  for (let i = 0; i < sublevel; i++) k = k.sub[k.sub.length - 1];
  k.sub.push({ name, sub: [] });
}

/** The value of an argument: a string literal, true/false, a bound parameter, or undefined. */
function valueOf(toks, env) {
  if (toks.length === 1 && toks[0].t === "str") return toks[0].v;
  if (toks.length === 1 && toks[0].t === "id") {
    if (toks[0].v === "true") return true;
    if (toks[0].v === "false") return false;
    if (Object.hasOwn(env, toks[0].v)) return env[toks[0].v];
  }
  return undefined;
}
/** A condition: true, false, or undefined when it depends on run time (both branches taken). */
function cond(toks, env) {
  const s = toks.map((t) => (t.t === "str" ? JSON.stringify(t.v) : t.v)).join(" ");
  let m = /^! strcmp \( (\w+) , ("[^"]*") \)$/.exec(s);
  if (m && typeof env[m[1]] === "string") return env[m[1]] === JSON.parse(m[2]);
  m = /^(!)? ?(\w+)$/.exec(s);
  if (m && typeof env[m[2]] === "boolean") return m[1] ? !env[m[2]] : env[m[2]];
  return undefined;
}
/** Split a call's argument tokens at top-level commas. */
function args(toks) {
  const out = [[]];
  let d = 0;
  for (const t of toks) {
    if (t.v === "(" || t.v === "[" || t.v === "{") d++;
    if (t.v === ")" || t.v === "]" || t.v === "}") d--;
    if (t.v === "," && d === 0 && t.t === "p") out.push([]);
    else out[out.length - 1].push(t);
  }
  return out;
}
function matching(toks, i) {
  const open = toks[i].v;
  const close = open === "(" ? ")" : "}";
  let d = 0;
  for (let j = i; j < toks.length; j++) {
    if (toks[j].t === "p" && toks[j].v === open) d++;
    else if (toks[j].t === "p" && toks[j].v === close && --d === 0) return j;
  }
  return toks.length - 1;
}
/** One statement from i: its end (exclusive). */
function statementEnd(toks, i) {
  if (toks[i].v === "{") return matching(toks, i) + 1;
  if (toks[i].t === "id" && (toks[i].v === "if" || toks[i].v === "while" || toks[i].v === "for")) {
    let e = statementEnd(toks, matching(toks, i + 1) + 1);
    if (toks[i].v === "if" && toks[e]?.v === "else") e = statementEnd(toks, e + 1);
    return e;
  }
  if (toks[i].t === "id" && toks[i].v === "else") return statementEnd(toks, i + 1);
  let d = 0;
  for (let j = i; j < toks.length; j++) {
    if (toks[j].t !== "p") continue;
    if (toks[j].v === "(" || toks[j].v === "{") d++;
    if (toks[j].v === ")" || toks[j].v === "}") d--;
    if (toks[j].v === ";" && d === 0) return j + 1;
  }
  return toks.length;
}

let stack = [];
function run(toks, env) {
  let i = 0;
  while (i < toks.length) {
    const t = toks[i];
    if (t.t === "id" && t.v === "if") {
      const close = matching(toks, i + 1);
      const c = cond(toks.slice(i + 2, close), env);
      const thenEnd = statementEnd(toks, close + 1);
      let end = thenEnd;
      let elseStart;
      if (toks[thenEnd]?.v === "else") { elseStart = thenEnd + 1; end = statementEnd(toks, elseStart); }
      if (c !== false) run(toks.slice(close + 1, thenEnd), env);
      if (c !== true && elseStart !== undefined) run(toks.slice(elseStart, end), env);
      i = end;
      continue;
    }
    if (t.t === "id" && toks[i + 1]?.v === "(" && toks[i - 1]?.v !== "&") {
      const close = matching(toks, i + 1);
      const a = args(toks.slice(i + 2, close));
      const name = t.v;
      if (name === "install_keyword_root") {
        const kw = valueOf(a[0], env);
        if (typeof kw !== "string") throw new Error(`install_keyword_root with an unknown name in ${stack.at(-1)}`);
        roots.push({ name: kw, sub: [] });
        sublevel = 0;
      } else if (name === "install_keyword" || name === "install_keyword_quoted") {
        const kw = valueOf(a[0], env);
        if (typeof kw !== "string") throw new Error(`install_keyword with an unknown name in ${stack.at(-1)}`);
        addSub(kw);
      } else if (name === "install_sublevel") sublevel++;
      else if (name === "install_sublevel_end") sublevel--;
      else if (funcs.has(name) && !stack.includes(name)) {
        const f = funcs.get(name);
        const e = {};
        f.params.forEach((p, k) => { e[p] = a[k] ? valueOf(a[k], env) : undefined; });
        stack.push(name);
        run(f.body, e);
        stack.pop();
      }
      i = close + 1;
      continue;
    }
    i++;
  }
}
/** The keyword tree of keepalived at ref, by block. */
function extract(ref) {
  const commit = git("rev-parse", `${ref}^{commit}`).trim();
  const files = git("ls-tree", "-r", "--name-only", commit, "keepalived/", "lib/").split("\n").filter((f) => f.endsWith(".c"));
  funcs = new Map();
  roots = [];
  sublevel = 0;
  stack = [];
  // Function definitions: a name at the start of a line, its parameters, and a body in braces.
  for (const f of files) {
    const src = clean(git("show", `${commit}:${f}`));
    const re = /^([A-Za-z_]\w*)\s*\(/gm;
    let m;
    while ((m = re.exec(src))) {
      // The parameter list (its types may hold parentheses: function pointers), then a body.
      let j = m.index + m[0].length;
      for (let d = 1; j < src.length && d; j++) d += src[j] === "(" ? 1 : src[j] === ")" ? -1 : 0;
      const paramText = src.slice(m.index + m[0].length, j - 1);
      const brace = /^\s*\{/.exec(src.slice(j));
      if (!brace) continue;
      let depth = 0;
      let i = j + brace[0].length - 1;
      const start = i;
      for (; i < src.length; i++) {
        if (src[i] === "{") depth++;
        else if (src[i] === "}" && --depth === 0) break;
      }
      const params = splitTop(paramText).map((p) => (/([A-Za-z_]\w*)\s*(?:\[\s*\])?\s*$/.exec(p.replace(/\(\s*\*\s*(\w+)\s*\)\s*\([^)]*\)/, " $1")) ?? [])[1])
        .filter((p) => p && p !== "void");
      if (!funcs.has(m[1])) funcs.set(m[1], { params, body: lex(src.slice(start + 1, i)), file: f });
    }
  }
  stack.push("global_init_keywords");
  run(funcs.get("global_init_keywords").body, {});

  // Merge repeated roots (bfd_instance is installed once per process type) into blocks:
  // "root", "root/sub" ... each with its keywords in keepalived's order.
  const blocks = new Map();
  function collect(path, node) {
    const kws = blocks.get(path) ?? [];
    for (const s of node.sub) {
      if (!kws.includes(s.name)) kws.push(s.name);
      if (s.sub.length) collect(`${path}/${s.name}`, s);
    }
    blocks.set(path, kws);
  }
  const top = [];
  for (const r of roots) {
    if (!top.includes(r.name)) top.push(r.name);
    if (r.sub.length) collect(r.name, r);
  }
  const out = { "": top, ...Object.fromEntries([...blocks].filter(([, v]) => v.length)) };
  return { tag: git("describe", "--tags", commit).trim(), commit, out };
}

const runs = refs.map(extract);
// The first release's list, then each later one's additions (block by block, in its order).
const out = {};
const since = {};
for (const r of runs) {
  for (const [b, words] of Object.entries(r.out)) {
    const have = (out[b] ??= []);
    for (const w of words) {
      if (have.includes(w)) continue;
      have.push(w);
      if (r !== runs[0]) since[b === "" ? w : `${b}/${w}`] = r.tag;
    }
  }
}
const count = Object.values(out).reduce((n, v) => n + v.length, 0);
process.stdout.write(`// Generated by scripts/keepalived-keywords.mjs from acassen/keepalived ${runs.map((r) => `${r.tag} (${r.commit})`).join(", ")}: do not edit.
// Every keyword of keepalived's parser tables, by block ("" is the top level; "a/b" is b's block
// inside a's). ${count} keywords in ${Object.keys(out).length} blocks.

export const KEEPALIVED_VERSION = ${JSON.stringify(runs[0].tag)};

export const KEEPALIVED_KEYWORDS: Record<string, readonly string[]> = {
${Object.entries(out).map(([k, v]) => `  ${JSON.stringify(k)}: [\n${wrap(v)}\n  ],`).join("\n")}
};

/** Keywords ${runs[0].tag} does not have, "block/keyword": the release that has them. */
export const KEEPALIVED_SINCE: Record<string, string> = {
${Object.entries(since).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`).join("\n")}
};
`);
function wrap(words) {
  const lines = [];
  let line = "   ";
  for (const w of words.map((x) => JSON.stringify(x) + ",")) {
    if (line.length + w.length + 1 > 120) { lines.push(line); line = "   "; }
    line += " " + w;
  }
  lines.push(line);
  return lines.join("\n");
}
