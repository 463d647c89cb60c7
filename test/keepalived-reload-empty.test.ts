// A keepalived.conf reloaded into a director that held no virtual server (issue 19: 10,000 × 10
// in < 1 s). What was made cheaper for it must give what it gave before:
// - a real server's health record: the shared one for a server without a health keyword of its
//   own (its inhibit_on_failure and smtp_alert inherited from the virtual server and global_defs),
//   a record of its own for one with such a keyword, as the word-by-word reader gives them;
// - a block's statements whose arguments run over lines or up to a brace, read in one pass as
//   tokenize and parseBlocks read them;
// - a one-line `real_server ADDRESS PORT { weight N }` read straight from the text where every
//   word is as the reader takes it, and word by word (with its errors) where any is not;
// - health following only the services a change named (from none to many, checked or not, and
//   back): the same listing, states and checkers as a whole reconcile, and a checker's state kept.

import { describe, it, expect } from "vitest";
import { DIRECTOR_COMPACT as DIRECTOR, keepalivedFile, tempFolder } from "./helpers/files.js";
import { clearParseCache, parseKeepalived, readKeepalived } from "../host/config/keepalived.js";
import { plainBlock, scanStatements, statementNode } from "../host/config/keepalived-grammar.js";
import { serviceKey } from "../host/config/model.js";
import { parseIp } from "../host/engine/addr.js";
import type { DirectorConfig } from "../host/config/rules.js";
import { HealthService } from "../host/health/service.js";
import { FakeClock } from "../host/io/clock.js";

const tmp = tempFolder("wasmvs-reload-empty-");
const keepalivedConf = keepalivedFile(tmp);

const file = keepalivedConf;

const HEALTHY = `global_defs {
  smtp_alert_checker false
}
virtual_server 10.0.0.100 80 {
  protocol TCP
  real_server 10.1.0.11 80 { weight 3 }
  real_server 10.1.0.12 80 {
    weight 2
    inhibit_on_failure
  }
  real_server 10.1.0.13 80 {
    smtp_alert true
  }
  real_server 10.1.0.14 80 {
    weight 5
    TCP_CHECK {
      connect_timeout 2
    }
  }
  real_server 10.1.0.15 80 {
    notify_up /bin/true
  }
}
virtual_server 10.0.0.100 81 {
  protocol TCP
  inhibit_on_failure
  real_server 10.1.0.21 81
  {
    weight 7 }
  real_server 10.1.0.22 81 { uthreshold 10
    lthreshold 2 }
}
`;

describe("a keepalived.conf read for a reload from empty", () => {
  it("gives each real server the health record the word-by-word reader gives", () => {
    const p = file(HEALTHY);
    clearParseCache();
    const onePass = readKeepalived(p, undefined, false, true);
    const byWords = readKeepalived(p, undefined, false, false);
    expect(onePass.errors.map((e) => e.message)).toEqual([]);
    expect(JSON.stringify(onePass.cfg.services)).toBe(JSON.stringify(byWords.cfg.services));
    const [s80, s81] = onePass.cfg.services;
    const h = s80.realServers.map((r) => r.health!);
    // smtp_alert inherited from global_defs (smtp_alert_checker false) unless the server says it.
    expect([h[0].inhibit, h[0].smtpAlert, h[0].checkers.length]).toEqual([false, false, 0]);
    expect([h[1].inhibit, h[1].smtpAlert]).toEqual([true, false]);
    expect([h[2].inhibit, h[2].smtpAlert]).toEqual([false, true]);
    expect([h[3].inhibit, h[3].checkers.map((c) => c.kind)]).toEqual([false, ["TCP_CHECK"]]);
    expect(h[4].notifyUp).toBeDefined();
    // inhibit_on_failure inherited from the virtual server.
    expect(s81.realServers.map((r) => [r.health!.inhibit, r.health!.smtpAlert, r.health!.checkers.length])).toEqual([[true, false, 0], [true, false, 0]]);
    // Servers whose settings are alike share one record; one with a checker or a script has its own.
    expect(s81.realServers[0].health).toBe(s81.realServers[1].health);
    expect(h[0]).not.toBe(h[1]);
    expect(h[3]).not.toBe(h[0]);
    expect(h[4]).not.toBe(h[0]);
    expect(s81.realServers.map((r) => [r.port, r.weight, r.uthreshold, r.lthreshold])).toEqual([[81, 7, 0, 0], [81, 1, 10, 2]]);
    expect(s81.realServers[0].where).toMatchObject({ line: 33, column: 15, text: "10.1.0.21" });
  });

  it("says a real server's unknown keyword at the same place as the word-by-word reader", () => {
    const p = file("virtual_server 10.0.0.100 80 {\n  protocol TCP\n  real_server 10.1.0.11 80 {\n    weight 1\n    wieght 2\n  }\n}\n");
    clearParseCache();
    const onePass = readKeepalived(p, undefined, false, true);
    const byWords = readKeepalived(p, undefined, false, false);
    expect(onePass.errors.map((e) => e.message)).toEqual(byWords.errors.map((e) => e.message));
    expect(onePass.cfg.warnings).toEqual(byWords.cfg.warnings);
    expect(JSON.stringify(onePass.cfg.services)).toBe(JSON.stringify(byWords.cfg.services));
    expect((onePass.cfg.warnings ?? []).join("\n")).toMatch(/keepalived\.conf:11:5: .*wieght/);
  });
});

// One-line real servers: those read straight from the text, then near misses read word by word.
const PLAIN_LINES = [
  "real_server 10.1.0.1 80 { weight 1 }",
  "real_server\t10.1.0.2  8080 {weight 65535}  ",
  "real_server 0.0.0.0 0 { weight 0 }\r",
  "real_server 255.255.255.255 65535{ weight 007 }",
  "real_server 10.1.0.5 00080 {\tweight 12\t}",
];
const NEAR_MISSES = [
  "real_server 10.1.0.10 80 { weight 1 } # a comment",
  "real_server 010.1.0.11 80 { weight 1 }",
  "real_server 10.1.0.256 80 { weight 1 }",
  "real_server 10.1.0.13 65536 { weight 1 }",
  "real_server 10.1.0.14 80 { weight 65536 }",
  "real_server 10.1.0.15 80 { weight 1 lthreshold 2 }",
  "real_server 10.1.0.16 80 { weight -1 }",
  "real_server 10.1.0.17 80 81 { weight 1 }",
  "real_server 10.1.0.18 { weight 1 }",
  "real_server 10.1.0.19 80 { weight }",
  "real_server 10.1.0.20 80 { weight 1x }",
  "real_server 10.1.0.21 80 { weight 1 } real_server 10.1.0.22 80 { weight 1 } # two",
  "real_server 10.1.0.23:80 { weight 1 }",
  "real_server 10.1.0 80 { weight 1 }",
  "real_server 10.1.0.25.1 80 { weight 1 }",
  "real_server 10.1.0.26 80 { weight 1 } lvs_method NAT",
  "real_server 10.1.0.27 80 { weight 1\n  }",
  "real_servers 10.1.0.28 80 { weight 1 }",
  "real_server 10.1.0.29 8a { weight 1 }",
  "real_server \"10.1.0.30\" 80 { weight 1 }",
  "real_server 10.1.0.31 80 { weighted 1 }",
  "real_server 10.1.0.32 1234567890123456 { weight 1 }",
];

/** The file at p read in one pass and word by word, plain and --strict: the same errors,
 *  warnings and services (and more than minErrors errors: the near misses are refused). */
function expectReadersAgree(p: string, minErrors: number): void {
  for (const strict of [false, true]) {
    clearParseCache();
    const onePass = readKeepalived(p, undefined, strict, true);
    const byWords = readKeepalived(p, undefined, strict, false);
    expect(onePass.errors.map((e) => e.message)).toEqual(byWords.errors.map((e) => e.message));
    expect(onePass.cfg.warnings).toEqual(byWords.cfg.warnings);
    expect(JSON.stringify(onePass.cfg.services)).toBe(JSON.stringify(byWords.cfg.services));
    expect(onePass.errors.length).toBeGreaterThan(minErrors);
  }
}

describe("one-line real servers of a virtual_server", () => {
  const text = (lines: string[]) => lines.map((l, k) => `virtual_server 10.0.0.100 ${100 + k} {\n  protocol TCP\n  lb_kind DR\n  ${l}\n}\n`).join("");

  it("read straight from the text give what the word-by-word reader gives, and the near misses are read word by word", () => {
    const all = text([...PLAIN_LINES, ...NEAR_MISSES]);
    const p = file(all);
    expectReadersAgree(p, 5);
    // Which lines the grammar read whole.
    const source = DIRECTOR + all;
    // (The whole file read in one pass: nothing in it sends it to tokenize.)
    const scan = scanStatements(source, p);
    expect(scan).toBeDefined();
    const plain = scan!.statements.filter((st) => st.node.key.text === "virtual_server")
      .map((st) => statementNode(source, st, true).children!.some((c) => c.plain !== undefined));
    expect(plain).toEqual([...PLAIN_LINES.map(() => true), ...NEAR_MISSES.map(() => false)]);
    // After a block closed on a line, the next statement of that line: read straight too where the line ends with it.
    const two = file(text(["real_server 10.1.0.21 80 { weight 1 } real_server 10.1.0.22 80 { weight 2 }"]));
    clearParseCache();
    const [a, b] = [readKeepalived(two, undefined, false, true), readKeepalived(two, undefined, false, false)];
    expect(JSON.stringify(a.cfg.services)).toBe(JSON.stringify(b.cfg.services));
    expect(a.cfg.services[0].realServers.map((r) => `${r.address} w${r.weight} ${r.where?.column}`)).toEqual(["10.1.0.21 w1 15", "10.1.0.22 w2 53"]);
    const twoText = DIRECTOR + text(["real_server 10.1.0.21 80 { weight 1 } real_server 10.1.0.22 80 { weight 2 }"]);
    expect(statementNode(twoText, scanStatements(twoText, two)!.statements[1], true).children!.map((c) => c.plain !== undefined)).toEqual([false, false, false, true]);
    const first = statementNode(source, scan!.statements.find((st) => st.node.key.text === "virtual_server")!, true).children!.find((c) => c.plain)!;
    // The server itself, as the word-by-word read makes it (its method set once lb_kind is read).
    expect(first).toEqual({ key: { text: "real_server", file: p, line: 10, column: 3 }, args: [], plain: { rs: { address: "10.1.0.1", daddr: parseIp("10.1.0.1"),
      port: 80, method: "nat", weight: 1, uthreshold: 0, lthreshold: 0, line: 10, where: { file: p, line: 10, column: 15, text: "10.1.0.1" }, health: undefined },
    explicitMethod: false, refused: false } });
  });

  it("read straight from the text, the services are as a file of the same servers written over lines", () => {
    const p = file(text(PLAIN_LINES));
    const q = file(text(PLAIN_LINES).replace(/ *\{\s*weight\s+(\d+)\s*\}[ \t\r]*/g, " {\n    weight $1\n  }"));
    const strip = (cfg: DirectorConfig) => cfg.services.map((s) => s.realServers.map((r) => `${r.address}:${r.port} ${r.method} w${r.weight} ${r.health?.inhibit} ${r.where?.line}:${r.where?.column}`));
    const one = parseKeepalived(p);
    const over = parseKeepalived(q);
    expect(strip(one)).toEqual([["10.1.0.1:100 dr w1 false 10:15"], ["10.1.0.2:101 dr w65535 false 15:15"], ["0.0.0.0:102 dr w0 false 20:15"],
      ["255.255.255.255:103 dr w7 false 25:15"], ["10.1.0.5:104 dr w12 false 30:15"]]);
    expect(strip(over).map((s) => s.map((x) => x.replace(/ \d+:\d+$/, "")))).toEqual(strip(one).map((s) => s.map((x) => x.replace(/ \d+:\d+$/, ""))));
  });
});

// Whole virtual_server blocks of settings on lines of their own and one-line real servers: those
// read without nodes (plainBlock), then near misses read word by word.
const PLAIN_SETTINGS = [
  "lb_algo rr\n  lb_kind NAT\n  protocol TCP",
  "lvs_sched wlc\n  lvs_method DR\n  protocol udp",
  "protocol UDP\n  lb_kind TUN\n  lb_algo sh\n  lb_algo mh",
  "\t lb_algo  wrr \t\r\n  # a comment\n  ! another\n\n  lb_kind\tNAT",
  "",
];
const SETTINGS_NEAR_MISSES = [
  "lb_algo nosuch",
  "lb_algo RR",
  "lb_kind nat",
  "lb_kind Dr",
  "lb_kind FULLNAT",
  "protocol SCTP",
  "protocol tcp udp",
  "protocol \"TCP\"",
  "lb_algo rr # a comment",
  "lb_algo",
  "lb_algo\n  rr",
  "lb_algo rr sh-port",
  "lb_algo rr { }",
  "lb_algo rr\n  {\n  }",
  "persistence_timeout 60",
  "ops",
  "sorry_server 10.1.0.99 80",
  "inhibit_on_failure",
  "real_server 10.1.0.40 80 {\n    weight 1\n  }",
  "lb_algo #rr",
];

describe("virtual_server blocks of plain lines", () => {
  const block = (settings: string, k: number) =>
    `virtual_server 10.0.0.100 ${200 + k} {\n  ${settings}\n  real_server 10.1.0.1 ${8000 + k} { weight 1 }\n  real_server 10.1.0.2 80 { weight 2 }\n}\n`;

  it("read without nodes give what the word-by-word reader gives, and the near misses are read word by word", () => {
    const all = [...PLAIN_SETTINGS, ...SETTINGS_NEAR_MISSES].map(block).join("") + "virtual_server 10.0.0.100 300 {\n}\nvirtual_server 10.0.0.100 200 {\n  lb_algo rr\n}\n";
    const p = file(all);
    expectReadersAgree(p, 8);
    // Which blocks the grammar read without nodes (the last two too: an empty block, and one
    // defined twice, refused as the word-by-word reader refuses it).
    const source = DIRECTOR + all;
    const scan = scanStatements(source, p);
    expect(scan).toBeDefined();
    const plain = scan!.statements.filter((st) => st.node.key.text === "virtual_server")
      .map((st) => plainBlock(source, p, st.bodyFrom, st.bodyTo, st.bodyLine, st.bodyLineStart)?.settings.length);
    expect(plain).toEqual([6, 6, 8, 4, 0, 2, 2, 2, 2, 2, 2, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined,
      undefined, undefined, undefined, undefined, undefined, 0, 2]);
    const services = parseKeepalived(file([...PLAIN_SETTINGS].map(block).join(""))).services;
    expect(services.map((s) => `${s.protocol} ${s.port} ${s.scheduler} ${s.realServers.map((r) => `${r.method}:${r.port}`).join(",")}`)).toEqual([
      "tcp 200 rr nat:8000,nat:80", "udp 201 wlc dr:201,dr:201", "udp 202 mh tun:202,tun:202", "tcp 203 wrr nat:8003,nat:80", "tcp 204 wlc nat:8004,nat:80"]);
  });
});

describe("health following the services a reload named", () => {
  const servers = (port: number, checked: boolean) => [1, 2, 3].map((k) =>
    `  real_server 10.1.0.${k} ${port} { weight ${k}${checked && k !== 2 ? `\n    TCP_CHECK { connect_timeout 2 }\n  ` : " "}}\n`).join("");
  const vs = (port: number, checked: boolean) => `virtual_server 10.0.0.100 ${port} {\n  protocol TCP\n${servers(port, checked)}}\n`;
  const make = () => new HealthService({ clock: new FakeClock(), log: () => {}, refresh: async () => [], random: () => 0,
    probe: async () => ({ ok: true, reason: "fine" }) });
  const listing = (h: HealthService) => h.views().map((v) => `${v.service} ${v.server} ${v.alive} w${v.weight} ${v.reason} [${v.checkers.map((c) => c.kind)}]`);
  const keys = (cfg: DirectorConfig) => cfg.services.map(serviceKey);

  it("from no service to many, checked and not: as a whole reconcile", () => {
    const empty = parseKeepalived(file(""));
    const full = parseKeepalived(file(vs(80, false) + vs(81, true) + vs(82, false) + vs(83, true)));
    const followed = make();
    followed.reconcile(empty);
    followed.reconcile(full, keys(full));
    const whole = make();
    whole.reconcile(full);
    expect(listing(followed)).toEqual(listing(whole));
    expect(listing(followed)).toHaveLength(12);
    for (const s of full.services) {
      const k = serviceKey(s);
      expect(followed.quorumUp(k)).toBe(whole.quorumUp(k));
      for (const r of s.realServers) expect(followed.server(k, `${r.address}:${r.port}`)).toEqual(whole.server(k, `${r.address}:${r.port}`));
    }
  });

  it("keeps the checkers of the services a later change did not name, and drops those of a service removed", async () => {
    const a = parseKeepalived(file(vs(81, true) + vs(83, true)));
    const h = make();
    h.reconcile(parseKeepalived(file("")));
    h.reconcile(a, keys(a));
    const before = h.views().filter((v) => v.checkers.length).map((v) => v.server);
    expect(before).toHaveLength(4);
    // Service 81 changed (one server's weight), service 83 removed.
    const b = parseKeepalived(file(vs(81, true).replace("weight 3", "weight 9")));
    h.reconcile(b, [serviceKey(a.services[0]), serviceKey(a.services[1])]);
    const whole = make();
    whole.reconcile(b);
    expect(listing(h)).toEqual(listing(whole));
    expect(h.views().some((v) => v.service === serviceKey(a.services[1]))).toBe(false);
    await h.stop();
  });
});
