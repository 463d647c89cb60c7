// keepalived.conf's director block in a file of its own (--director, issue 17): the
// keepalived.conf stays byte for byte a keepalived peer's, the director file is read in
// the same grammar with its own positions, a missing `mac` is derived (stable, locally
// administered, and said), and a name the director lacks says what to add.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../host/control/load.js";
import { ConfigError } from "../host/config/rules.js";
import { derivedMac } from "../host/config/settings.js";
import { ADD_DIRECTOR } from "../host/config/keepalived-grammar.js";
import { check } from "../host/cli/check.js";
import { validateOnScratch } from "../host/dataplane/reload.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";

const CLI = join(import.meta.dirname, "..", "bin", "wasmvs.js");
const folder = tempFolder("wasmvs-dirfile-");

/** What keepalived reads: VRRP and LVS, no director block. */
const KEEPALIVED = `global_defs {
  router_id LVS_A
}
vrrp_instance VI_1 {
  state MASTER
  interface outside
  virtual_router_id 51
  priority 150
  virtual_ipaddress {
    10.0.0.100
  }
}
virtual_server 10.0.0.100 80 {
  lb_algo wrr
  lb_kind DR
  real_server 10.1.0.11 80 {
    weight 2
  }
  real_server 10.1.0.12 80 {
    weight 1
  }
}
`;

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error("no error");
};

describe("--director FILE", () => {
  it("gives the same configuration as the block in keepalived.conf, which is left as keepalived reads it", async () => {
    const conf = folder.write("keepalived.conf", KEEPALIVED);
    const dir = folder.write("director.conf", DIRECTOR);
    const inline = loadConfig(folder.write("inline.conf", DIRECTOR + KEEPALIVED));
    const split = loadConfig(conf, dir);
    expect(readFileSync(conf, "utf8")).toBe(KEEPALIVED);
    expect(split.directorFile).toBe(dir);
    const strip = (c: typeof split) => JSON.stringify({ ...c, file: "", directorFile: undefined },
      (k, v) => (k === "line" || k === "where" || k === "file" || k === "warnings" ? undefined : v));
    expect(strip(split)).toBe(strip(inline));
    const out = await check(conf, dir);
    expect(out).toContain(`${conf}: OK (director block: ${dir})`);
    expect(out).toContain("-a -t 10.0.0.100:80 -r 10.1.0.11:80 -g -w 2");
    // The command line takes FILE and --director FILE in either order.
    for (const argv of [["check", conf, "--director", dir], ["check", "--director", dir, conf]]) {
      const r = spawnSync(process.execPath, [CLI, ...argv], { encoding: "utf8", timeout: 60000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("-A -t 10.0.0.100:80 -s wrr");
    }
  });

  it("errors in the director file name that file, at the word (parser), the line (model, engine)", async () => {
    const conf = folder.write("k2.conf", KEEPALIVED);
    const bad = folder.write("bad-mtu.conf", DIRECTOR.replace("    address 10.0.0.1/24\n", "    address 10.0.0.1/24\n    mtu 99999\n"));
    expect(errorOf(() => loadConfig(conf, bad))).toContain(`${bad}:5:9: '99999': mtu must be a whole number from 68 to 65535`);
    const bcast = folder.write("bcast.conf", DIRECTOR.replace("02:00:00:00:00:01", "ff:ff:ff:ff:ff:ff"));
    expect(errorOf(() => loadConfig(conf, bcast))).toBe(`${bcast}:3:9: 'ff:ff:ff:ff:ff:ff': interface outside: ff:ff:ff:ff:ff:ff is a broadcast MAC address, not one an interface can have`);
    // An engine-stage refusal (check loads the file into a scratch engine).
    const route = folder.write("route.conf", DIRECTOR.replace(/}\n$/, "  route 10.9.0.0/16 via 192.0.2.1\n}\n"));
    await expect(check(conf, route)).rejects.toThrow(`${route}:10:25: '192.0.2.1': gateway 192.0.2.1 is not on any interface's subnet (add 'dev INTERFACE')`);
    // A reload that moves the metrics endpoint of the director file: refused at that file's line.
    const m1 = folder.write("m1.conf", DIRECTOR.replace(/}\n$/, "  metrics 127.0.0.1:9100\n}\n"));
    const prev = loadConfig(conf, m1);
    const m2 = folder.write("m2.conf", DIRECTOR.replace(/}\n$/, "  metrics 127.0.0.1:9101\n}\n"));
    await expect(validateOnScratch({ slotSize: 2048, maxServices: 16, maxRealServers: 16 }, prev, loadConfig(conf, m2)))
      .rejects.toThrow(`${m2}:10:1: 'metrics': metrics 127.0.0.1:9100 changed to 127.0.0.1:9101: restart wasmvs`);
    // keepalived.conf's own errors still name keepalived.conf.
    const typo = folder.write("k3.conf", KEEPALIVED.replace("weight 2", "weigth 2"));
    // (By default a warning, as keepalived carries on; --strict refuses it.)
    expect(loadConfig(typo, folder.write("d3.conf", DIRECTOR)).warnings).toContainEqual(expect.stringMatching(new RegExp(`^${typo}:17:5: weigth: unknown keyword in real_server`)));
    expect(errorOf(() => loadConfig(typo, folder.write("d3.conf", DIRECTOR), true))).toMatch(new RegExp(`^${typo}:17:5: 'weigth': unknown keyword in real_server`));
  });

  it("holds the director block only, once; and goes with keepalived.conf only", async () => {
    const conf = folder.write("k4.conf", KEEPALIVED);
    const more = folder.write("more.conf", `${DIRECTOR}virtual_server 10.0.0.101 80 {\n}\n`);
    expect(errorOf(() => loadConfig(conf, more))).toBe(`${more}:11:1: 'virtual_server': a --director file holds the director block only: this belongs in keepalived.conf`);
    const empty = folder.write("empty.conf", "# nothing yet\n");
    expect(errorOf(() => loadConfig(conf, empty))).toMatch(new RegExp(`^${empty}:1:1: 'director': no director block in this --director file`));
    const dir = folder.write("d4.conf", DIRECTOR);
    const twice = folder.write("twice.conf", KEEPALIVED + DIRECTOR);
    expect(errorOf(() => loadConfig(twice, dir))).toBe(`${twice}:23:1: 'director': a second director block (the first is at ${dir}:1)`);
    // A director file that includes keepalived.conf: said at its include, once (was: each of
    // keepalived.conf's blocks "belongs in keepalived.conf", at keepalived.conf's lines).
    const back = folder.write("back.conf", `${DIRECTOR}include k4.conf\n`);
    expect(errorOf(() => loadConfig(conf, back))).toBe(`${back}:${DIRECTOR.split("\n").length}:9: 'k4.conf': ${conf} is the configuration itself: ` +
      "a --director file holds the director block only (include it from neither)");
    // A director block without interfaces (empty, or its interfaces refused): that error,
    // not "no route to the real server" for every server of keepalived.conf (issue 17 attack).
    const none = folder.write("none.conf", "director {\n}\n");
    await expect(check(conf, none)).rejects.toThrow(`2 errors:\n${none}:1:1: 'director': the director block needs at least one interface\n` +
      `${conf}:6:13: 'outside': no interface outside in the director block (${none}) (interfaces: none): add \`interface outside { device outside }\` (the host's own outside, through AF_XDP rings) or \`interface outside { address ADDRESS/PREFIX }\` (a TAP named outside) to it`);
    const rules = folder.write("d.rules", "interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24\n-A -t 10.0.0.100:80 -s rr\n");
    expect(errorOf(() => loadConfig(rules, dir))).toMatch(/goes with keepalived\.conf; this file is in the ipvsadm-rules format/);
  });
});

describe("an interface without mac", () => {
  it("gets a derived MAC: locally administered, unicast, the same every time, one per interface and host; check says so", async () => {
    const d = DIRECTOR.replace(/ {4}mac .*\n/g, "");
    const conf = folder.write("k5.conf", KEEPALIVED);
    const dir = folder.write("nomac.conf", d);
    const a = loadConfig(conf, dir);
    const b = loadConfig(conf, dir);
    expect(a.interfaces.map((i) => i.mac)).toEqual(b.interfaces.map((i) => i.mac));
    for (const i of a.interfaces) {
      expect(i.macDerived).toBe(true);
      const first = parseInt(i.mac.slice(0, 2), 16);
      expect(first & 0x02).toBe(0x02); // locally administered
      expect(first & 0x01).toBe(0); // unicast
      expect(i.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    }
    expect(a.interfaces[0].mac).not.toBe(a.interfaces[1].mac);
    expect(derivedMac("outside", "outside", "host-a")).not.toBe(derivedMac("outside", "outside", "host-b"));
    expect(derivedMac("outside", "outside", "host-a")).toBe(derivedMac("outside", "outside", "host-a"));
    const out = await check(conf, dir);
    expect(out).toContain(`interface 0 outside: TAP outside, mac ${a.interfaces[0].mac} (derived), address 10.0.0.1/24`);
    expect(out).toContain(`warning: ${dir}:2: interface outside has no mac: ${a.interfaces[0].mac}, derived from this host's machine id`);
    // The rules format's interface lines the same way.
    const rules = loadConfig(folder.write("nomac.rules", "interface 0 name outside address 10.0.0.1/24\n-A -t 10.0.0.100:80 -s rr\n"));
    expect(rules.interfaces[0]).toMatchObject({ mac: a.interfaces[0].mac, macDerived: true });
    expect(rules.warnings).toEqual([expect.stringMatching(/nomac\.rules:1: interface outside has no mac: /)]);
    // A given mac is kept and not called derived.
    const given = loadConfig(conf, folder.write("mac.conf", DIRECTOR));
    expect(given.interfaces[0]).toMatchObject({ mac: "02:00:00:00:00:01" });
    expect(given.interfaces[0].macDerived).toBeUndefined();
    expect((given.warnings ?? []).filter((w) => w.includes("mac"))).toEqual([]);
  });
});

describe("a name the director lacks says what to add", () => {
  it("no director block at all: add one, here or with --director", () => {
    const conf = folder.write("k6.conf", KEEPALIVED.replace(/virtual_server[^]*/, ""));
    const said = errorOf(() => loadConfig(conf));
    // Said once, of the file (what names the interface is not refused too), naming it.
    expect(said).toBe(`${conf}:1:1: 'director': no director block: ` + ADD_DIRECTOR.replace("interface eth0 {", "interface outside {"));
    expect(ADD_DIRECTOR).toContain("--director FILE");
    // What it says to add, added as it says, loads.
    const block = /`(director \{.*?\} \})`/.exec(said)![1].replace("192.0.2.1/24", "10.0.0.1/24");
    expect(loadConfig(folder.write("k6b.conf", `${block}\n${readFileSync(conf, "utf8")}`)).interfaces.map((i) => [i.name, i.tap])).toEqual([["outside", "outside"]]);
  });

  it("a director block without it: the line to add, and where the block is", () => {
    const conf = folder.write("k7.conf", KEEPALIVED.replace(/virtual_server[^]*/, "").replace("interface outside", "interface eth0"));
    const dir = folder.write("d7.conf", DIRECTOR);
    const said = errorOf(() => loadConfig(conf, dir));
    expect(said).toBe(`${conf}:6:13: 'eth0': no interface eth0 in the director block (${dir}) (interfaces: outside, inside): ` +
      "add `interface eth0 { device eth0 }` (the host's own eth0, through AF_XDP rings) or `interface eth0 { address ADDRESS/PREFIX }` (a TAP named eth0) to it");
    const inline = folder.write("k8.conf", DIRECTOR + readFileSync(conf, "utf8"));
    expect(errorOf(() => loadConfig(inline))).toMatch(/'eth0': no interface eth0 in the director block \(interfaces: outside, inside\): add `interface eth0 \{ device eth0 \}` \(the host's own eth0, through AF_XDP rings\) or `interface eth0 \{ address ADDRESS\/PREFIX \}` \(a TAP named eth0\) to it$/);
    // The TAP line to add, added to the director file as it says, loads.
    const line = /`(interface eth0 \{ address .*?\})`/.exec(said)![1].replace("ADDRESS/PREFIX", "10.2.0.1/24");
    writeFileSync(dir, DIRECTOR.replace(/}\n$/, `  ${line}\n}\n`));
    expect(loadConfig(conf, dir).interfaces.map((i) => i.name)).toEqual(["outside", "inside", "eth0"]);
  });
});
