// The reload's steps that skip work where nothing changed (issue 19: a reload
// changing one server of 10,000 services < 100 ms): the syntax decided without a walk of every
// line when the text cannot be keepalived's, keepalived.conf's scan not walking a block the last
// parse scanned, and mergeReload taking the file's records by a
// pointer compare and the file's index of services for the merged list. What is asserted is
// that the shortcuts answer as the long way does: the same syntax, the same statements, the same merged services,
// and an index that finds every service (in the merged list, and in the file's list after its
// index moved to the merged one).

import { describe, it, expect } from "vitest";
import { inKeepalivedSyntax } from "../host/control/load.js";
import { looksLikeKeepalived } from "../host/config/keepalived.js";
import { applyCommand, keyOf, mergeReload, servicePosition } from "../host/config/model.js";
import { clearParseCache, DirectorConfig, parseRules } from "../host/config/rules.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { scanStatements, type ScannedBlock } from "../host/config/keepalived-grammar.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, RS } from "./helpers/director.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
`;
const vip = (i: number) => `10.0.0.${100 + i}`;
const block = (i: number, weight = 1) => `-A -t ${vip(i)}:80 -s rr\n` + RS.map((r) => `-a -t ${vip(i)}:80 -r ${r}:80 -m -w ${weight}\n`).join("");
/** Services 0..n-1 but those left out, service `heavier` with weight 2. */
const rules = (n: number, o: { without?: number[]; heavier?: number } = {}) =>
  HEAD + Array.from({ length: n }, (_, i) => i).filter((i) => !o.without?.includes(i)).map((i) => block(i, i === o.heavier ? 2 : 1)).join("");

const FILE = "merge.rules";
const keys = (c: DirectorConfig) => c.services.map(keyOf);
/** Every service of list found at its place by servicePosition (the list's index). */
function indexFindsAll(c: DirectorConfig): void {
  c.services.forEach((s, i) => expect(servicePosition(c.services, keyOf(s))).toBe(i));
  expect(servicePosition(c.services, "tcp 192.0.2.1:1")).toBeUndefined();
}
const command = (cfg: DirectorConfig, line: string) => applyCommand(cfg, parseArgs(line.split(/\s+/)));

describe("the syntax of a configuration file, decided without a walk where it cannot be keepalived's", () => {
  const texts: [string, string][] = [
    ["a rules file", rules(3)],
    ["a rules file with a brace in a comment", rules(2) + "# { not a block\n"],
    ["a rules file with a brace after a word", rules(2) + "-A -t 10.0.0.9:80 -s rr {\n"],
    ["a rules file that mentions include in a comment", "# includes nothing\n" + rules(1)],
    ["an include line", "include other.conf\n"],
    ["keepalived.conf", "global_defs {\n}\nvirtual_server 10.0.0.1 80 {\n}\n"],
    ["an empty file", ""],
    ["a rules file with CRLF ends", rules(2).replace(/\n/g, "\r\n")],
  ];
  for (const [what, text] of texts) {
    it(`${what}: as looksLikeKeepalived says`, () => {
      expect(inKeepalivedSyntax(text)).toBe(looksLikeKeepalived(text));
    });
  }
  it("a text with neither a brace nor `include` is the rules format", () => {
    expect(inKeepalivedSyntax(rules(5))).toBe(false);
    expect(inKeepalivedSyntax("include x\n")).toBe(true);
    expect(inKeepalivedSyntax("virtual_server 10.0.0.1 80 {\n}\n")).toBe(true);
  });
});

describe("mergeReload on records the parser kept", () => {
  it("an unchanged file: every service the very record it was, the index finds each in both lists", () => {
    clearParseCache();
    const first = parseRules(rules(20), FILE);
    const again = parseRules(rules(20), FILE);
    expect(again.services.every((s, i) => s === first.services[i])).toBe(true);
    const merged = mergeReload(first, first, again);
    expect(merged.services.every((s, i) => s === first.services[i])).toBe(true);
    indexFindsAll(merged);
    // The file's own list still finds its services (its index went to the merged list: built again).
    indexFindsAll(again);
  });

  it("one server's weight changed: that service the file's new record, the others as they were", () => {
    clearParseCache();
    const first = parseRules(rules(20), FILE);
    const next = parseRules(rules(20, { heavier: 7 }), FILE);
    const merged = mergeReload(first, first, next);
    expect(keys(merged)).toEqual(keys(first));
    merged.services.forEach((s, i) => (i === 7 ? expect(s).toEqual(next.services[7]) : expect(s).toBe(first.services[i])));
    expect(merged.services[7].realServers.map((r) => r.weight)).toEqual(RS.map(() => 2));
    indexFindsAll(merged);
  });

  it("a service the control plane added stays, after the file's; one it removed (unchanged in the file) stays out", () => {
    clearParseCache();
    const first = parseRules(rules(20), FILE);
    let running = command(first, `-A -t 10.0.0.250:80 -s rr`);
    running = command(running, `-D -t ${vip(3)}:80`);
    const next = parseRules(rules(20, { heavier: 12 }), FILE);
    const merged = mergeReload(running, first, next);
    const want = [...keys(first).filter((k) => k !== keyOf(first.services[3])), keyOf(running.services.at(-1)!)];
    expect(keys(merged)).toEqual(want);
    expect(merged.services[11].realServers.map((r) => r.weight)).toEqual(RS.map(() => 2));
    expect(merged.services.at(-1)).toBe(running.services.at(-1));
    indexFindsAll(merged);
    indexFindsAll(next);
  });

  it("the file removes a service in the middle and adds one at its end: the index follows the new positions", () => {
    clearParseCache();
    const first = parseRules(rules(20), FILE);
    const next = parseRules(rules(22, { without: [5, 20] }), FILE);
    const merged = mergeReload(first, first, next);
    expect(keys(merged)).toEqual(keys(next));
    expect(merged.services.slice(0, 5).every((s, i) => s === first.services[i])).toBe(true);
    indexFindsAll(merged);
    // A command on the merged list finds its service through the index it was given.
    const edited = command(merged, `-e -t ${vip(21)}:80 -r ${RS[0]}:80 -m -w 9`);
    expect(edited.services[servicePosition(edited.services, keyOf(merged.services.at(-1)!))!].realServers[0].weight).toBe(9);
  });
});

describe("keepalived.conf's one-pass scan, given the blocks of the last parse", () => {
  const vs = (i: number, weight: number) => `virtual_server 10.0.0.${100 + i} 80 {\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n` +
    RS.map((r) => `  real_server ${r} 80 {\n    weight ${weight}\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n`).join("") + "}\n";
  const conf = (weights: number[], tail = "") => `global_defs {\n  router_id a\n}\n` + weights.map((w, i) => vs(i, w)).join("") +
    `virtual_server 10.0.0.99 81 { lb_algo rr protocol TCP }\n` + tail;
  /** What the scan of text found, keyed by the blocks' lines, as keepalived.ts keeps them. */
  function blocksOf(text: string): Map<number, ScannedBlock> {
    const m = new Map<number, ScannedBlock>();
    for (const st of scanStatements(text, "k.conf")!.statements) {
      if (st.bodyFrom < 0) continue;
      m.set(st.node.key.line, { text: text.slice(st.from, st.to), column: st.node.key.column, bodyTokens: st.bodyTokens, bodyLines: st.node.end!.line - st.bodyLine, closeColumn: st.node.end!.column });
    }
    return m;
  }
  const cases: [string, string, string][] = [
    ["the same text", conf([1, 1, 1]), conf([1, 1, 1])],
    ["one block changed", conf([1, 1, 1]), conf([1, 2, 1])],
    ["a block added before the others (every line moved)", conf([1, 1]), `virtual_server 10.0.0.9 80 {\n}\n` + conf([1, 1])],
    ["a block longer by a line", conf([1, 1]), conf([1, 1]).replace("  lb_algo rr\n", "  lb_algo rr\n  delay_loop 3\n")],
    ["a block that no longer closes", conf([1, 1]), conf([1, 1]).slice(0, -3)],
    ["a statement after the last block", conf([1]), conf([1], "virtual_server_group g {\n  10.0.0.1 80\n}\n")],
  ];
  for (const [what, before, after] of cases) {
    it(`${what}: the statements, their positions and the token count as a scan without them`, () => {
      const known = blocksOf(before);
      expect(known.size).toBeGreaterThan(0);
      expect(JSON.stringify(scanStatements(after, "k.conf", known))).toBe(JSON.stringify(scanStatements(after, "k.conf")));
    });
  }
});

describe("the rules parser's cache, a block taken without a walk of its lines", () => {
  const extra = (i: number) => `-a -t ${vip(i)}:80 -r 10.1.0.99:80 -m -w 1\n`;
  it("a block the file continues with a server of its own (the same lines, then one more): read again, the server there", () => {
    clearParseCache();
    const before = parseRules(rules(3), FILE);
    const text = rules(3);
    const at = text.indexOf(`-A -t ${vip(2)}:80`);
    const after = parseRules(text.slice(0, at) + extra(1) + text.slice(at), FILE);
    expect(after.services[1]).not.toBe(before.services[1]);
    expect(after.services[1].realServers.map((r) => r.address)).toEqual([...RS, "10.1.0.99"]);
    expect(after.services[0]).toBe(before.services[0]);
    expect(after.services[2].line).toBe(before.services[2].line + 1);
  });
  it("the last block without its line end, and again with it: the same record, the same lines", () => {
    clearParseCache();
    const first = parseRules(rules(3), FILE);
    const cut = parseRules(rules(3).slice(0, -1), FILE);
    expect(cut.services.every((s, i) => s === first.services[i])).toBe(true);
    const back = parseRules(rules(3), FILE);
    expect(back.services.every((s, i) => s === first.services[i])).toBe(true);
    const more = parseRules(rules(3) + extra(2), FILE);
    expect(more.services[2].realServers).toHaveLength(RS.length + 1);
  });
});
