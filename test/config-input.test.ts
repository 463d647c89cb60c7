// Configuration input as an attacker and a careless operator would give it: huge,
// endless, deeply nested, self-including, unbalanced, wrong in many places at once.
// Each case was a reproduced defect (issue 8): a hang, a crash, 14 GB of memory, a
// stack overflow, a silently empty configuration, or one error per edit-and-check cycle.
// The CLI is run for real (`wasmvs check`): a clear one-line error per problem and a
// non-zero exit, never a stack trace.

import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../host/sandbox/sandbox.js";
import { LIMITS } from "../host/config/rules.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const folder = tempFolder("wasmvs-ci-");
const write = folder.write;
const VS = (port: number) => `virtual_server 10.0.0.100 ${port} {\n  lb_kind NAT\n  real_server 10.1.0.11 ${port} {\n  }\n}\n`;

/** wasmvs check, bounded in time; returns what it said. */
function check(args: string[], cwd = folder.path()) {
  const r = spawnSync(process.execPath, [CLI, "check", ...args], { cwd, encoding: "utf8", timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function refused(r: ReturnType<typeof check>, pattern: RegExp): void {
  expect(r.signal).toBeNull(); // finished by itself
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe("configuration input is bounded", () => {
  it("a device or a huge file is refused, not read without end (was: check /dev/zero grew to 14 GB)", () => {
    refused(check(["/dev/zero"]), /^wasmvs: \/dev\/zero:1:1: not a regular file/);
    const big = join(folder.path(), "big.conf");
    writeFileSync(big, "");
    truncateSync(big, LIMITS.fileBytes + 10);
    refused(check([big]), new RegExp(`big.conf:1:1: the file is larger than ${LIMITS.fileBytes} bytes`));
  });

  it("a 200 KB keyword is refused at once, without a 'did you mean' search over it (was: 15.8 s, 378 MB)", () => {
    const f = write("longword.conf", `${DIRECTOR}${"x".repeat(200_000)} 1\n`);
    refused(check([f]), /longword.conf:11:1: 'x{40}': a word longer than 1024 characters/);
    const g = write("longkey.conf", `${DIRECTOR}global_defs {\n  ${"y".repeat(1000)} 1\n}\n`);
    // Ignored with a warning, as keepalived ignores an unknown keyword; --strict refuses it.
    expect(check([g]).stdout).toMatch(/longkey.conf:12:3: y{60}\.\.\.: unknown keyword in global_defs: ignored/);
    refused(check([g, "--strict"]), /longkey.conf:12:3: 'y{60}\.\.\.': unknown keyword in global_defs$/m);
  });

  it("2,100,000 nested braces: refused (past the word limit), and 40,000 past 16 levels, no stack overflow", () => {
    const nest = (n: number) => `${DIRECTOR}global_defs ${"{\n a ".repeat(n)}${"}\n".repeat(n)}`;
    refused(check([write("nested2m.conf", nest(2_100_000))]), new RegExp(`more than ${LIMITS.tokens} words in the configuration`));
    refused(check([write("nested.conf", nest(40_000))]), new RegExp(`nested.conf:\\d+:\\d+: '\\{': blocks nested more than ${LIMITS.blockDepth} deep`));
  });

  it("hundreds of thousands of words through an include: parsed without a stack overflow", () => {
    write("many/words.conf", `virtual_server 10.0.0.100 80 {\n${"  lb_algo rr\n".repeat(100_000)}  lb_kind NAT\n}\n`);
    const f = write("many/main.conf", `${DIRECTOR}include words.conf\n`);
    const r = check([f]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/services \(1\)/);
  });

  it("an include tree of 10 files x 8 levels is refused quickly (was: hung and ignored SIGTERM)", () => {
    for (let level = 1; level <= 8; level++) {
      for (let k = 0; k < 10; k++) write(`tree/l${level}/f${k}.conf`, level < 8 ? `include ../l${level + 1}/*.conf\n` : "");
    }
    const f = write("tree/main.conf", `${DIRECTOR}include l1/*.conf\n`);
    refused(check([f]), new RegExp(`more than ${LIMITS.includedFiles} included files in all`));
    write("self/a.conf", "include b.conf\n");
    write("self/b.conf", "include a.conf\n");
    const s = write("self/main.conf", `${DIRECTOR}include a.conf\n`);
    refused(check([s]), /a\.conf includes itself/);
  });
});

describe("configuration errors", () => {
  it("include resolves relative to the including file, however that file was named (was: OK with 0 services)", () => {
    write("rel/conf.d/a.conf", VS(80));
    write("rel/conf.d/b.conf", VS(81));
    write("rel/sub/c.conf", VS(82));
    write("rel/main.conf", `${DIRECTOR}include conf.d/*.conf\ninclude sub/c.conf\n`);
    for (const [cwd, path] of [[join(folder.path(), "rel"), "main.conf"], [folder.path(), "rel/main.conf"], ["/", join(folder.path(), "rel/main.conf")]]) {
      const r = check([path], cwd);
      expect(r.stderr, `${cwd} ${path}`).toBe("");
      expect(r.stdout).toMatch(/services \(3\)/);
      for (const port of [80, 81, 82]) expect(r.stdout).toContain(`-A -t 10.0.0.100:${port}`);
    }
  });

  it("an unbalanced quote is an error", () => {
    const f = write("quote.conf", `${DIRECTOR}global_defs {\n  router_id "lvs 1\n}\n`);
    refused(check([f]), /quote.conf:12:13: unbalanced quote: a string opened here is not closed on its line/);
  });

  it("check reports every error in the file, not only the first (was: 17 edit-and-check cycles)", () => {
    const bad: string[] = [];
    for (let k = 0; k < 17; k++) bad.push(`virtual_server 10.0.0.${100 + k} 80 {\n  lb_algo nosuch${k}\n}\n`);
    const f = write("many-errors.conf", DIRECTOR + bad.join(""));
    const r = check([f]);
    refused(r, /^wasmvs: 17 errors:$/m);
    for (let k = 0; k < 17; k++) expect(r.stderr).toContain(`many-errors.conf:${12 + 3 * k}:11: 'nosuch${k}': unknown scheduler`);
    // Rules files too, one error per line.
    const rules = write("many-errors.rules", "interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\n-A -t 10.0.0.100:80 -s nosuch\n-A -t 10.0.0.101:80 -s rr -p 0\nbogus line\n");
    const rr = check([rules]);
    refused(rr, /^wasmvs: 3 errors:$/m);
    expect(rr.stderr).toMatch(/many-errors.rules:2:/);
    expect(rr.stderr).toMatch(/many-errors.rules:3:/);
    expect(rr.stderr).toMatch(/many-errors.rules:4:/);
  });

  it("errors in keepalived.conf name keepalived's keywords, errors the engine finds included", () => {
    // A DR real server that is not on a connected network: the engine refuses it.
    const f = write("dr.conf", `${DIRECTOR}virtual_server 10.0.0.100 80 {\n  lb_kind DR\n  real_server 192.0.2.9 80 {\n  }\n}\n`);
    refused(check([f]), /dr.conf:13:15: '192.0.2.9': real server 192.0.2.9:80: real server is not on a directly connected network/);
  });
});

describe("what ipvsadm and the kernel would not take is refused in every input", () => {
  const RULES_HEAD = "interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\ninterface 1 mac 02:00:00:00:01:01 address 10.1.0.1/24\n";

  it("VIPs of 0.0.0.0, 255.255.255.255 or the director's own address; such real servers; broadcast MACs — all reported", () => {
    const f = write("refuse.rules", RULES_HEAD + [
      "-A -t 0.0.0.0:80", "-A -t 255.255.255.255:80", "-A -t 10.0.0.1:80",
      "-A -t 10.0.0.100:80", "-a -t 10.0.0.100:80 -r 0.0.0.0:80 -m", "-a -t 10.0.0.100:80 -r 10.0.0.100:8080 -m", "-a -t 10.0.0.100:80 -r 10.1.0.1:80 -m",
      "neighbour 10.1.0.9 ff:ff:ff:ff:ff:ff",
    ].join("\n") + "\n");
    const r = check([f]);
    refused(r, /^wasmvs: 7 errors:$/m);
    // Each at the value at fault; a value refused here is not refused again by the engine (0.0.0.0 has no route either).
    for (const [at, text] of [
      ["3:7", "'0.0.0.0:80': a virtual address cannot be 0.0.0.0"], ["4:7", "'255.255.255.255:80': a virtual address cannot be 255.255.255.255"],
      ["5:7", "'10.0.0.1:80': 10.0.0.1 is the director's own address (interface if0): a VIP must be an address of its own"],
      ["7:24", "'0.0.0.0:80': a real server cannot be 0.0.0.0"], ["8:24", "'10.0.0.100:8080': real server 10.0.0.100 is a virtual address of this director"],
      ["9:24", "'10.1.0.1:80': real server 10.1.0.1 is the director's own address (interface if1)"],
      ["10:20", "'ff:ff:ff:ff:ff:ff': neighbour 10.1.0.9: ff:ff:ff:ff:ff:ff is a broadcast or multicast MAC address"],
    ] as const) expect(r.stderr).toContain(`refuse.rules:${at}: ${text}`);
    const k = write("refuse.conf", DIRECTOR.replace("02:00:00:00:00:01", "01:00:5e:00:00:01") + "virtual_server 10.0.0.1 80 {\n}\n");
    const kr = check([k]);
    refused(kr, /^wasmvs: 2 errors:$/m);
    expect(kr.stderr).toContain("'01:00:5e:00:00:01': interface outside: 01:00:5e:00:00:01 is a multicast MAC address");
    expect(kr.stderr).toContain("'10.0.0.1': 10.0.0.1 is the director's own address (interface outside)");
  });

  it("VIPs and real servers that are not unicast (multicast, loopback, a subnet's network or broadcast address) and -y above -x — rules file and keepalived.conf", () => {
    const f = write("unicast.rules", RULES_HEAD + [
      "-A -t 224.0.0.18:80", "-A -t 239.1.2.3:80", "-A -t 127.0.0.1:80", "-A -t 10.0.0.0:80", "-A -t 10.1.0.255:80",
      "-A -t 10.0.0.100:80", "-a -t 10.0.0.100:80 -r 10.1.0.0:80 -m", "-a -t 10.0.0.100:80 -r 224.0.0.5:80 -m", "-a -t 10.0.0.100:80 -r 127.0.0.2:80 -m",
      "-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m -x 5 -y 10", "-a -t 10.0.0.100:80 -r 10.1.0.12:80 -m -y 10",
      "-a -t 10.0.0.100:80 -r 10.1.0.13:80 -m -x 10 -y 10", "-A -t 10.0.0.254:80", // equal thresholds and the last host address are fine
    ].join("\n") + "\n");
    const r = check([f]);
    refused(r, /^wasmvs: 10 errors:$/m);
    for (const [at, text] of [
      ["3:7", "'224.0.0.18:80': 224.0.0.18 is a multicast address (224.0.0.0/4), VRRP's group: a virtual address must be a unicast address"],
      ["4:7", "'239.1.2.3:80': 239.1.2.3 is a multicast address (224.0.0.0/4): a virtual address must be a unicast address"],
      ["5:7", "'127.0.0.1:80': 127.0.0.1 is a loopback address (127.0.0.0/8), which Linux never accepts from the wire: a virtual address must be a unicast address"],
      ["6:7", "'10.0.0.0:80': 10.0.0.0 is the network address of 10.0.0.0/24 (interface if0): a virtual address must be a unicast address"],
      ["7:7", "'10.1.0.255:80': 10.1.0.255 is the broadcast address of 10.1.0.0/24 (interface if1): a virtual address must be a unicast address"],
      ["9:24", "'10.1.0.0:80': real server 10.1.0.0: 10.1.0.0 is the network address of 10.1.0.0/24 (interface if1): a real server must be a unicast address (IPVS: \"address not unicast\")"],
      ["10:24", "'224.0.0.5:80': real server 224.0.0.5: 224.0.0.5 is a multicast address (224.0.0.0/4)"],
      ["11:24", "'127.0.0.2:80': real server 127.0.0.2: 127.0.0.2 is a loopback address (127.0.0.0/8)"],
      ["12:24", "'10.1.0.11:80': real server 10.1.0.11:80: lower threshold (-y) 10 is higher than upper threshold (-x) 5; IPVS refuses it (\"lower threshold is higher than upper threshold\")"],
      ["13:24", "'10.1.0.12:80': real server 10.1.0.12:80: lower threshold (-y) 10 is higher than upper threshold (-x) 0 (none set): without an upper threshold the lower one must be 0"],
    ] as const) expect(r.stderr).toContain(`unicast.rules:${at}: ${text}`);
    // The engine's verdict on the same values (no route, thresholds) is not a second error.
    expect(r.stderr).not.toContain("no route");
    // keepalived.conf: its own keywords, each at its value.
    const k = write("unicast.conf", DIRECTOR + "virtual_server 224.0.0.18 80 {\n}\nvirtual_server 127.0.0.1 80 {\n}\nvirtual_server 10.0.0.255 80 {\n}\n" +
      "virtual_server 10.0.0.100 80 {\n  real_server 10.1.0.0 80 {\n  }\n  real_server 10.1.0.11 80 {\n    uthreshold 5\n    lthreshold 10\n  }\n}\n");
    const kr = check([k]);
    refused(kr, /^wasmvs: 5 errors:$/m);
    for (const [at, text] of [
      ["11:16", "'224.0.0.18': 224.0.0.18 is a multicast address (224.0.0.0/4), VRRP's group: a virtual address must be a unicast address"],
      ["13:16", "'127.0.0.1': 127.0.0.1 is a loopback address (127.0.0.0/8)"],
      ["15:16", "'10.0.0.255': 10.0.0.255 is the broadcast address of 10.0.0.0/24 (interface outside)"],
      ["18:15", "'10.1.0.0': real server 10.1.0.0: 10.1.0.0 is the network address of 10.1.0.0/24 (interface inside)"],
      ["20:15", "'10.1.0.11': real server 10.1.0.11:80: lthreshold 10 is higher than uthreshold 5; IPVS refuses it"],
    ] as const) expect(kr.stderr).toContain(`unicast.conf:${at}: ${text}`);
  });

  it("DR and TUN with another real-server port: the service port, with a warning, whatever the input", () => {
    const rules = write("drport.rules", RULES_HEAD + "-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -g\n");
    const r = check([rules]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("warning: " + rules + ":4: direct routing cannot change the port: real server 10.1.0.11:8080 gets the service port 80, as ipvsadm does");
    expect(r.stdout).toContain("-a -t 10.0.0.100:80 -r 10.1.0.11:80 -g -w 1");
    const conf = write("drport.conf", `${DIRECTOR}virtual_server 10.0.0.100 80 {\n  lb_kind TUN\n  real_server 10.1.0.11 8080 {\n  }\n}\n`);
    const k = check([conf]);
    expect(k.status).toBe(0);
    expect(k.stdout).toContain("warning: " + conf + ":13: tunnelling cannot change the port: real server 10.1.0.11:8080 gets the service port 80, as ipvsadm does");
    expect(k.stdout).toContain("-a -t 10.0.0.100:80 -r 10.1.0.11:80 -i -w 1");
  });
});
