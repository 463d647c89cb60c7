// The rules parser's cache (host/config/rules.ts parseCache): a parse of the same path reuses the
// very same record for each service block (its -A line and the -a lines after it) whose text and
// first line are unchanged, and reads nothing else differently: whatever is reused, the result is
// what a fresh parse gives — records, positions, warnings and errors alike.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { clearParseCache, readRules } from "../host/config/rules.js";
import { loadConfig } from "../host/control/load.js";

const HEAD = `interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24
interface 1 name inside mac 02:00:00:00:01:01 address 10.1.0.1/24
route default via 10.0.0.254
`;

/** n services of 3 servers each, as ipvsadm-save writes them; weight(i, j) of server j of service i. */
function rules(n: number, weight = (_i: number, _j: number) => 1): string {
  let out = HEAD;
  for (let i = 0; i < n; i++) {
    out += `-A -t 10.0.0.100:${1000 + i} -s wrr\n`;
    for (let j = 0; j < 3; j++) out += `-a -t 10.0.0.100:${1000 + i} -r 10.1.0.${11 + j}:8080 -m -w ${weight(i, j)}\n`;
  }
  return out;
}

/** What a parse gives, whatever records it reused. */
const fresh = (text: string, file: string) => {
  clearParseCache();
  return readRules(text, file);
};
const errorsOf = (r: ReturnType<typeof readRules>) => r.errors.map((e) => e.message);

beforeEach(() => clearParseCache());

describe("the rules parser's cache of service blocks", () => {
  it("an unchanged file: every service the very same record, the result as a fresh parse's", () => {
    const text = rules(50);
    const a = readRules(text, "r.conf");
    const b = readRules(text, "r.conf");
    expect(b.errors).toEqual([]);
    expect(b.cfg.services).toHaveLength(50);
    b.cfg.services.forEach((s, i) => expect(s).toBe(a.cfg.services[i]));
    expect(b.cfg.services).not.toBe(a.cfg.services);
    expect(b.cfg).toEqual(fresh(text, "r.conf").cfg);
  });

  it("another path is another file: nothing reused", () => {
    const text = rules(3);
    const a = readRules(text, "a.conf");
    const b = readRules(text, "b.conf");
    b.cfg.services.forEach((s, i) => expect(s).not.toBe(a.cfg.services[i]));
    expect(b.cfg.services[0].where?.file).toBe("b.conf");
  });

  it("one weight changed: that service a new record with the new weight, every other the same record", () => {
    const a = readRules(rules(20), "r.conf");
    const b = readRules(rules(20, (i, j) => (i === 7 && j === 1 ? 9 : 1)), "r.conf");
    b.cfg.services.forEach((s, i) => (i === 7 ? expect(s).not.toBe(a.cfg.services[i]) : expect(s).toBe(a.cfg.services[i])));
    expect(b.cfg.services[7].realServers.map((r) => r.weight)).toEqual([1, 9, 1]);
    expect(a.cfg.services[7].realServers.map((r) => r.weight)).toEqual([1, 1, 1]);
    expect(b.cfg).toEqual(fresh(rules(20, (i, j) => (i === 7 && j === 1 ? 9 : 1)), "r.conf").cfg);
  });

  it("a line inserted above: the services below are read again, at their new lines", () => {
    const a = readRules(rules(4), "r.conf");
    const moved = rules(4).replace("-A -t 10.0.0.100:1002", "# a comment\n-A -t 10.0.0.100:1002");
    const b = readRules(moved, "r.conf");
    expect(b.cfg.services[0]).toBe(a.cfg.services[0]);
    expect(b.cfg.services[1]).toBe(a.cfg.services[1]);
    for (const i of [2, 3]) {
      const s = b.cfg.services[i];
      expect(s).not.toBe(a.cfg.services[i]);
      expect(s.line).toBe(a.cfg.services[i].line + 1);
      expect(s.where).toEqual({ ...a.cfg.services[i].where, line: s.line });
      expect(s.realServers.map((r) => [r.line, r.where?.line])).toEqual(a.cfg.services[i].realServers.map((r) => [r.line + 1, r.line + 1]));
    }
    expect(b.cfg).toEqual(fresh(moved, "r.conf").cfg);
  });

  it("a reused block gives its warnings again, in the same order", () => {
    const text = `${HEAD}-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -g -w 1\n-A -t 10.0.0.100:81 -s rr\n` +
      `-a -t 10.0.0.100:81 -r 10.1.0.12:8081 -i -w 1\n`;
    const a = readRules(text, "r.conf");
    expect(a.cfg.warnings).toEqual([
      "r.conf:5: direct routing cannot change the port: real server 10.1.0.11:8080 gets the service port 80, as ipvsadm does",
      "r.conf:7: tunnelling cannot change the port: real server 10.1.0.12:8081 gets the service port 81, as ipvsadm does",
    ]);
    const b = readRules(text, "r.conf");
    expect(b.cfg.services[0]).toBe(a.cfg.services[0]);
    expect(b.cfg.warnings).toEqual(a.cfg.warnings);
    expect(b.cfg.services[0].realServers[0].port).toBe(80);
  });

  it("a new error in a cached file: refused exactly as a fresh parse refuses it, and the cache stays that of the last good parse", () => {
    const good = rules(6);
    const a = readRules(good, "r.conf");
    const cases = [
      good.replace("-a -t 10.0.0.100:1003 -r 10.1.0.12:8080 -m -w 1", "-a -t 10.0.0.100:1003 -r 10.1.0.12:8080 -m -w 70000"),
      // A second -A of a service that a block defines: before the block, and after it.
      good.replace("-A -t 10.0.0.100:1001 -s wrr", "-A -t 10.0.0.100:1004 -s rr\n-A -t 10.0.0.100:1001 -s wrr"),
      `${good}-A -t 10.0.0.100:1002 -s rr\n`,
      // ... before it with its lines unmoved (in place of the route): the block is read again and refused.
      good.replace("route default via 10.0.0.254", "-A -t 10.0.0.100:1005 -s rr"),
      `${good}-a -t 10.0.0.100:1002 -r 10.1.0.11:8080 -m -w 1\n`,
      good.replace("route default", "rout default"),
      `${good}-e -t 10.0.0.100:1002 -r 10.1.0.11:8080 -m -w 1\n`,
    ];
    for (const text of cases) {
      const cached = readRules(text, "r.conf");
      const expected = fresh(text, "r.conf");
      expect(cached.errors.length).toBeGreaterThan(0);
      expect(errorsOf(cached)).toEqual(errorsOf(expected));
      expect(cached.cfg).toEqual(expected.cfg);
      expect(cached.routingUnsure).toBe(expected.routingUnsure);
      // fresh() cleared the cache: fill it from the good file again for the next case.
      readRules(good, "r.conf");
    }
    const again = readRules(good, "r.conf");
    expect(errorsOf(readRules(cases[0], "r.conf"))).toEqual(errorsOf(fresh(cases[0], "r.conf")));
    // A refused parse does not replace the cache: the good file's blocks are still there.
    readRules(good, "r.conf");
    readRules(cases[0], "r.conf");
    const last = readRules(good, "r.conf");
    expect(last.cfg.services[3]).toBe(readRules(good, "r.conf").cfg.services[3]);
    expect(again.errors).toEqual([]);
    expect(a.errors).toEqual([]);
  });

  it("a later line that adds to a reused service changes a copy: the cached record stays as its block made it", () => {
    const good = rules(3);
    const a = readRules(good, "r.conf");
    const more = `${good}-a -t 10.0.0.100:1001 -r 10.1.0.20:8080 -m -w 5\n`;
    const b = readRules(more, "r.conf");
    expect(b.errors).toEqual([]);
    expect(b.cfg.services[0]).toBe(a.cfg.services[0]);
    expect(b.cfg.services[1]).not.toBe(a.cfg.services[1]);
    expect(b.cfg.services[1].realServers.map((r) => r.address)).toEqual(["10.1.0.11", "10.1.0.12", "10.1.0.13", "10.1.0.20"]);
    expect(a.cfg.services[1].realServers).toHaveLength(3);
    expect(b.cfg).toEqual(fresh(more, "r.conf").cfg);
    // And the same for a service first read in this very parse: its block's record is kept as read.
    const c = readRules(more, "r.conf");
    expect(c.cfg.services[1].realServers).toHaveLength(4);
    const d = readRules(good, "r.conf");
    expect(d.cfg.services[1].realServers).toHaveLength(3);
    expect(d.cfg).toEqual(fresh(good, "r.conf").cfg);
  });

  it("blocks not as ipvsadm-save writes them are read the same with or without the cache", () => {
    const odd = `${HEAD}-A  -t 10.0.0.100:80 -s rr # two spaces\n-a -t 10.0.0.100:80 -r 10.1.0.11 -m -w 2\n` +
      `-A -u 10.0.0.100:53 -s wrr -p 300\n-a -u 10.0.0.100:53 -r 10.1.0.11:53 -m -w 1 -x 10 -y 5\n` +
      `-A -f 7 -s sh\n-a -f 7 -r 10.1.0.14:0 -g -w 1\n--set 10 20 30\n`;
    const crlf = odd.replace(/\n/g, "\r\n");
    for (const text of [odd, crlf]) {
      const a = readRules(text, "r.conf");
      const b = readRules(text, "r.conf");
      expect(a.errors).toEqual([]);
      expect(b.cfg).toEqual(a.cfg);
      expect(b.cfg).toEqual(fresh(text, "r.conf").cfg);
    }
  });

  it("through loadConfig: a reload of the same file gets the same records", () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-parse-cache-"));
    try {
      const path = join(dir, "rules.conf");
      writeFileSync(path, rules(5));
      const a = loadConfig(path, undefined, false, { missing: "ignore" });
      writeFileSync(path, rules(5, (i) => (i === 4 ? 3 : 1)));
      const b = loadConfig(path, undefined, false, { missing: "ignore" });
      expect(b.services.slice(0, 4)).toEqual(a.services.slice(0, 4));
      b.services.slice(0, 4).forEach((s, i) => expect(s).toBe(a.services[i]));
      expect(b.services[4]).not.toBe(a.services[4]);
      expect(b.services[4].realServers[0].weight).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

afterAll(() => clearParseCache());
