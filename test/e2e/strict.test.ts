// `wasmvs run --strict`: what keepalived carries on after (an unknown keyword ignored, a default
// taken) is a warning by default and an error with --strict; the running director remembers the
// flag from its command line, so a `wasmvs reload` (no flag) is read as strictly as the start.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, ROOT, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

const CLI = join(ROOT, "bin", "wasmvs.js");

e2eDescribe("wasmvs run --strict: reloads are strict too", () => {
  let sb: Sandbox;
  let d: Director | undefined;

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat", httpPorts: [8080] });
    await sb.startServers();
  });
  afterAll(async () => {
    await d?.stop().catch(() => {});
    await sb?.destroy();
  });

  // wasmvs reload through the director's control socket (Director.ipvsadm runs the CLI).
  const reload = () => d!.ipvsadm(["reload"]);

  it("a misspelt keyword that check (without --strict) accepts with a warning is a refused reload, at its line; the service keeps running", async () => {
    const good = sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 }]);
    d = await sb.startDirector(good, undefined, "director", ["--strict"]);
    expect(sb.http(`http://${VIP}/`, { requests: 4 }).errors).toEqual([]);

    const misspelt = good.replace(/( *)weight 1\n/, "$1weigth 1\n");
    expect(misspelt).not.toBe(good);
    const line = misspelt.split("\n").findIndex((l) => l.includes("weigth")) + 1;
    // Without --strict, check takes it with a warning.
    const file = join(sb.dir, "misspelt.conf");
    writeFileSync(file, misspelt);
    const check = spawnSync(process.execPath, [CLI, "check", file], { encoding: "utf8", timeout: 60000 });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain(`warning: ${file}:${line}:`);

    writeFileSync(d.configPath, misspelt);
    const bad = reload();
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`reload refused, the running configuration stays: ${d.configPath}:${line}:`);
    expect(bad.stderr).toContain("'weigth': unknown keyword in real_server (did you mean 'weight'?)");
    expect(sb.http(`http://${VIP}/`, { requests: 4 }).errors).toEqual([]);
  });
});
