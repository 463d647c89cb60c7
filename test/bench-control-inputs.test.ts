// bench:control's generated inputs (bench/control-inputs.ts) are what a director takes:
// `wasmvs check` reads the rules file and the keepalived.conf (with the flipping FILE_CHECKs)
// as N services × 10 real servers, the -R lines parse as ipvsadm's, a changed weight lands
// on the servers it names and never on service 0 (the one the requests go through), and the
// size settings appear in both syntaxes when asked.

import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/sandbox/sandbox.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { changedWeights, keepalivedConf, restoreLines, rulesFile, serviceAddress, SIZE_KEYWORDS } from "../bench/control-inputs.js";
import { tempFolder } from "./helpers/files.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const folder = tempFolder("wasmvs-bench-control-");

function check(file: string) {
  const r = spawnSync(process.execPath, [CLI, "check", file], { cwd: folder.path(), encoding: "utf8", timeout: 60000 });
  expect(r.signal).toBeNull();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bench:control's inputs", () => {
  const n = 20;
  const plain = { sizeKeywords: false };

  it("a rules file of 20 services × 10 servers checks OK, with every service and server listed", () => {
    const r = check(folder.write("r.rules", rulesFile(n, plain)));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("services (20), as ipvsadm -S -n would print them:");
    expect(r.stdout.match(/^-a -t /gm)).toHaveLength(n * 10);
    expect(r.stdout).toContain("-A -t 10.0.0.100:80 -s rr");
    expect(r.stdout).toContain("-a -t 10.0.0.100:1042 -r 10.1.0.11:8089 -m -w 1");
  });

  it("the keepalived.conf with 30 flipping servers checks OK: 30 FILE_CHECKs every second, on services 1 to 3 only", () => {
    const r = check(folder.write("k.conf", keepalivedConf(n, plain, { flipping: 30, trackFile: join(folder.path(), "flip") })));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("services (20), as ipvsadm -S -n would print them:");
    expect(r.stdout).toContain("health checks: 30 real server(s) checked by 30 FILE_CHECK");
    const checked = [...r.stdout.matchAll(/^ {2}TCP (\S+) -> \S+: FILE_CHECK every 1 s/gm)].map((m) => m[1]);
    expect(new Set(checked)).toEqual(new Set([serviceAddress(1), serviceAddress(2), serviceAddress(3)]));
  });

  it("the -R lines parse as ipvsadm's: one -A and ten -a per service; changed weights touch the servers named and never service 0", () => {
    const lines = restoreLines(n, changedWeights(n, 15, 3)).trim().split("\n");
    expect(lines).toHaveLength(n * 11);
    const parsed = lines.map((l) => parseArgs(l.split(" ")));
    expect(parsed.filter((p) => p.command === "add-service")).toHaveLength(n);
    expect(parsed.filter((p) => p.command === "add-server")).toHaveLength(n * 10);
    expect(lines.filter((l) => l.endsWith("-w 3"))).toHaveLength(15);
    expect(lines.filter((l) => l.includes(`${serviceAddress(0)} `) && l.endsWith("-w 3"))).toEqual([]);
    expect(lines.filter((l) => l.includes(`${serviceAddress(2)} `) && l.endsWith("-w 3"))).toHaveLength(5);
    // The rules file's services are exactly these lines.
    expect(rulesFile(n, plain, changedWeights(n, 15, 3)).endsWith(lines.join("\n") + "\n")).toBe(true);
  });

  it("the size settings appear in both syntaxes when asked, for the file's own size or the one given", () => {
    expect(rulesFile(n, { sizeKeywords: true }).split("\n")).toEqual(expect.arrayContaining([`${SIZE_KEYWORDS.services} 20`, `${SIZE_KEYWORDS.realServers} 200`]));
    expect(keepalivedConf(0, { sizeKeywords: true, capacity: 65536 }).split("\n")).toEqual(expect.arrayContaining([`  ${SIZE_KEYWORDS.services} 65536`, `  ${SIZE_KEYWORDS.realServers} 655360`]));
    expect(rulesFile(n, plain)).not.toContain(SIZE_KEYWORDS.services);
  });
});
