// keepalived.conf's parse cache (host/config/keepalived.ts): a reload of the same path takes the
// very same ServiceConfig objects for the virtual_server blocks whose text, first line and
// context did not change, so that what follows the parse (checkModel, the reload's difference)
// can tell an unchanged service by identity. What a fresh read gives is the judge: every result
// here is compared with the same file read with the cache cleared (JSON: services, positions,
// warnings, errors), and keepalived's own samples with what the parser gave before it had a
// cache or a one-pass reader (test/fixtures/keepalived-samples-read.json).

import { describe, it, expect, beforeEach } from "vitest";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { clearParseCache, readKeepalived } from "../host/config/keepalived.js";
import { MAX_WARNINGS } from "../host/config/keepalived-grammar.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";
import { parsedChecked } from "./helpers/parsed.js";

const tmp = tempFolder("wasmvs-kacache-");

/** A virtual server on 10.0.0.(100+i):80 with two real servers; extra: lines inside it. */
const vs = (i: number, { weight = 1, extra = "", address = `10.0.0.${100 + i}` } = {}) => `virtual_server ${address} 80 {
  lb_algo rr
  protocol TCP
${extra}  real_server 10.1.0.11 8080 {
    weight ${weight}
  }
  real_server 10.1.0.12 8080 {
    weight 1
  }
}
`;
const file = (blocks: string[], { globals = "router_id director1", between = "" } = {}) =>
  `${DIRECTOR}global_defs {\n  ${globals}\n}\n${between}${blocks.join("")}`;

type Read = ReturnType<typeof readKeepalived>;
const json = (r: Read) => JSON.stringify({ cfg: r.cfg, errors: r.errors.map((e) => e.message), order: [...r.order], routingUnsure: r.routingUnsure });

/** path read with the cache as it is. */
const read = (path: string, strict = false): Read => readKeepalived(path, undefined, strict);
/** path read with the cache cleared, as JSON (the judge). */
function fresh(path: string, strict = false): string {
  clearParseCache();
  return json(readKeepalived(path, undefined, strict));
}

describe("keepalived.conf parse cache", () => {
  beforeEach(() => clearParseCache());

  it("an unchanged file gives the very same services (not read again), with the same warnings", () => {
    const blocks = Array.from({ length: 5 }, (_, i) => vs(i, { extra: i === 2 ? "  lb_kind dr\n" : "" }));
    const p = tmp.write("same.conf", file(blocks));
    const a = read(p);
    expect(a.errors).toEqual([]);
    expect(a.cfg.services).toHaveLength(5);
    expect(a.cfg.warnings?.some((w) => w.includes("keepalived takes only NAT, DR or TUN in capitals"))).toBe(true);
    const b = read(p);
    expect(b.cfg.services).toHaveLength(5);
    b.cfg.services.forEach((s, i) => expect(s).toBe(a.cfg.services[i]));
    expect(b.cfg.warnings).toEqual(a.cfg.warnings);
    expect(json(b)).toBe(json(a));
    expect(json(b)).toBe(fresh(p));
  });

  it("a changed weight in one block: one new service, every other the very same object", () => {
    const text = (w: number) => file(Array.from({ length: 6 }, (_, i) => vs(i, { weight: i === 3 ? w : 1 })));
    const p = tmp.write("weight.conf", text(1));
    const before = read(p).cfg.services;
    writeFileSync(p, text(7));
    const after = read(p);
    expect(after.errors).toEqual([]);
    const changed = after.cfg.services.filter((s, i) => s !== before[i]);
    expect(changed).toHaveLength(1);
    expect(changed[0]).toBe(after.cfg.services[3]);
    expect(after.cfg.services[3].realServers[0].weight).toBe(7);
    expect(before[3].realServers[0].weight).toBe(1);
    // What the reused blocks gave is what a fresh read gives.
    expect(json(after)).toBe(fresh(p));
  });

  it("a line inserted above a block shifts it and every block after it, read again at the new lines", () => {
    const blocks = Array.from({ length: 5 }, (_, i) => vs(i));
    const p = tmp.write("shift.conf", file(blocks));
    const before = read(p).cfg.services;
    // Between the second and the third block: the first two are kept, the rest read again.
    writeFileSync(p, file([...blocks.slice(0, 2), "# a comment\n", ...blocks.slice(2)]));
    const after = read(p);
    expect(after.cfg.services.map((s, i) => s === before[i])).toEqual([true, true, false, false, false]);
    expect(after.cfg.services.map((s) => s.line)).toEqual(before.map((s, i) => s.line + (i >= 2 ? 1 : 0)));
    expect(after.cfg.services[4].realServers.map((r) => r.where?.line)).toEqual(before[4].realServers.map((r) => r.where!.line + 1));
    expect(json(after)).toBe(fresh(p));
    // Above every block (after global_defs): all read again; above global_defs: its context changed, the same.
    for (const t of [file(blocks, { between: "\n" }), `\n${file(blocks)}`]) {
      writeFileSync(p, file(blocks));
      const old = read(p).cfg.services;
      writeFileSync(p, t);
      const moved = read(p);
      expect(moved.cfg.services.some((s, i) => s === old[i])).toBe(false);
      expect(json(moved)).toBe(fresh(p));
    }
  });

  it("a changed global_defs (or --strict) drops every block of the file", () => {
    const blocks = Array.from({ length: 4 }, (_, i) => vs(i));
    const p = tmp.write("globals.conf", file(blocks));
    const before = read(p).cfg.services;
    writeFileSync(p, file(blocks, { globals: "router_id director2" }));
    const after = read(p);
    expect(after.cfg.services.some((s, i) => s === before[i])).toBe(false);
    expect(json(after)).toBe(fresh(p));
    // The same text with --strict is another reading: nothing is taken from the one without.
    read(p);
    const lax = read(p).cfg.services;
    const strict = read(p, true);
    expect(strict.cfg.services.some((s, i) => s === lax[i])).toBe(false);
  });

  it("warnings and errors are what a fresh read gives, in order; a block with an error is read again each time", () => {
    const blocks = [
      vs(0, { extra: "  lb_kind dr\n" }), // a warning (the grammar's)
      vs(1, { extra: "  lb_kind DR\n" }), // a later warning (a DR real server's port)
      vs(2, { extra: "  real_server 10.1.0.300 80\n" }), // an error
      vs(3, { extra: "  bogus_keyword 1\n" }), // an unknown keyword: a warning
      vs(4),
    ];
    const p = tmp.write("warn.conf", file(blocks));
    const a = read(p);
    expect(a.errors.map((e) => e.message)).toEqual([expect.stringMatching(/warn\.conf:\d+:\d+: '10\.1\.0\.300': /)]);
    expect(a.cfg.warnings?.length).toBeGreaterThanOrEqual(3);
    const b = read(p);
    expect(b.cfg.warnings).toEqual(a.cfg.warnings);
    expect(b.errors.map((e) => e.message)).toEqual(a.errors.map((e) => e.message));
    // The blocks without an error reused, in their places; the one with an error (its service
    // stays, without the refused real server) read again.
    const kept = b.cfg.services.map((s) => a.cfg.services.includes(s));
    expect(kept).toEqual([true, true, false, true, true]);
    expect(json(b)).toBe(fresh(p));
    // Fixing the error reads that block, the others stay.
    const c0 = read(p).cfg.services;
    writeFileSync(p, file([...blocks.slice(0, 2), vs(2, { extra: "  real_server 10.1.0.30 80\n" }), ...blocks.slice(3)]));
    const c = read(p);
    expect(c.errors).toEqual([]);
    expect(c.cfg.services.map((s, i) => s === c0[i])).toEqual([true, true, false, true, true]);
    expect(c.cfg.services[2].realServers).toHaveLength(3);
    expect(json(c)).toBe(fresh(p));
  });

  it("an unchanged block that a changed block before it now duplicates is refused, as a fresh read refuses it", () => {
    const blocks = Array.from({ length: 4 }, (_, i) => vs(i));
    const p = tmp.write("dup.conf", file(blocks));
    read(p);
    // Block 1 takes block 3's address (the same number of lines): block 3, unchanged, is now the second definition.
    writeFileSync(p, file([blocks[0], vs(1, { address: "10.0.0.103" }), blocks[2], blocks[3]]));
    const r = read(p);
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/dup\.conf:\d+:16: '10\.0\.0\.103': virtual server TCP 10\.0\.0\.103:80 is defined twice/)]);
    expect(r.errors[0].line).toBe(r.cfg.services[2].line + 10);
    expect(json(r)).toBe(fresh(p));
  });

  it("more warnings than are shown: the same ones shown and the same count of the rest", () => {
    const blocks = Array.from({ length: MAX_WARNINGS + 20 }, (_, i) => vs(i % 250, { extra: "  lb_kind dr\n", address: `10.0.${1 + (i >> 8)}.${i % 250}` }));
    const p = tmp.write("many.conf", file(blocks));
    const a = read(p);
    expect(a.cfg.warnings).toHaveLength(MAX_WARNINGS + 1);
    expect(a.cfg.warnings![MAX_WARNINGS]).toMatch(/^20 more warnings not shown/);
    const b = read(p);
    expect(b.cfg.warnings).toEqual(a.cfg.warnings);
    expect(json(b)).toBe(fresh(p));
    // Read from a cache that holds only the first blocks' warnings, with a block changed among them.
    read(p);
    writeFileSync(p, file([vs(0, { extra: "  lb_kind dr\n", address: "10.9.9.9" }), ...blocks.slice(1)]));
    const c = read(p);
    expect(c.cfg.warnings).toHaveLength(MAX_WARNINGS + 1);
    expect(json(c)).toBe(fresh(p));
  });

  it("a file with includes is not cached: each read reads every block", () => {
    const inc = tmp.write("inc/part.conf", vs(1));
    const p = tmp.write("with-include.conf", file([vs(0), `include ${inc}\n`, vs(2)]));
    const a = read(p);
    expect(a.errors).toEqual([]);
    expect(a.cfg.services).toHaveLength(3);
    const b = read(p);
    expect(b.cfg.services.some((s, i) => s === a.cfg.services[i])).toBe(false);
    expect(json(b)).toBe(json(a));
  });

  it("keepalived's samples read exactly as before (the one-pass reader, the cache and the word-by-word reader alike)", () => {
    const dir = join(import.meta.dirname, "fixtures", "keepalived-samples");
    // sha256 of the JSON of each result, written by this parser before the one-pass reader and
    // the cache (commit a76996a), with paths as given here (relative to the repository).
    const expected = JSON.parse(readFileSync(join(import.meta.dirname, "fixtures", "keepalived-samples-read.json"), "utf8")) as Record<string, string>;
    const rel = "test/fixtures/keepalived-samples";
    const names = readdirSync(dir).filter((f) => f.startsWith("keepalived.conf")).sort();
    expect(names.length).toBeGreaterThanOrEqual(25);
    const seen: string[] = [];
    for (const f of names) {
      for (const [name, d] of [["alone", undefined], ["director", "test/fixtures/keepalived-samples.director"]] as const) for (const strict of [false, true]) {
        const key = `${f} ${name}${strict ? " strict" : ""}`;
        const digest = (r: Read) => createHash("sha256").update(JSON.stringify({ cfg: r.cfg, errors: r.errors.map((e) => e.message), order: [...r.order], routingUnsure: r.routingUnsure }, parsedChecked)).digest("hex");
        clearParseCache();
        const first = readKeepalived(`${rel}/${f}`, d, strict);
        const cached = readKeepalived(`${rel}/${f}`, d, strict);
        const wordByWord = readKeepalived(`${rel}/${f}`, d, strict, false);
        expect({ key, digest: digest(first) }).toEqual({ key, digest: expected[key] });
        expect({ key, digest: digest(cached) }).toEqual({ key, digest: expected[key] });
        expect({ key, digest: digest(wordByWord) }).toEqual({ key, digest: expected[key] });
        seen.push(key);
      }
    }
    expect(seen.sort()).toEqual(Object.keys(expected).sort());
  });
});
