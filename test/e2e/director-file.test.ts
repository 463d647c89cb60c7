// `wasmvs run --config keepalived.conf --director FILE` (issue 17): the keepalived.conf holds
// no director block (it stays a keepalived peer's), the interfaces come from the director file
// without a mac (on TAP derived from the machine id, on the host's NICs theirs: the clients' ARP
// finds the director by it), traffic flows, and a
// reload re-reads the director file — a change in it applies, an error in it is refused at its
// own file and line and nothing changes.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, OUT_MAC, Sandbox, VIP } from "../../host/sandbox/sandbox.js";
import { derivedMac } from "../../host/config/settings.js";
import { e2eDescribe } from "./e2e.js";


e2eDescribe("the director block in a file of its own", () => {
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

  it("runs from keepalived.conf + --director with the MACs it finds (derived on TAP, the NIC's own), and a reload re-reads the director file", async () => {
    const whole = sb.keepalivedConfig([{ protocol: "tcp", port: 80, scheduler: "rr", serverPort: 8080 }]);
    // The sandbox's configuration, split: the director block (without its mac lines) to a file of its own.
    const start = whole.indexOf("director {");
    const end = whole.indexOf("\n}\n", start) + 3;
    const block = whole.slice(start, end).replace(/ *mac .*\n/g, "");
    const keepalived = whole.slice(0, start) + whole.slice(end);
    expect(keepalived).not.toContain("director");
    const dirFile = join(sb.dir, "director.conf");
    writeFileSync(dirFile, block);

    d = await sb.startDirector(keepalived, undefined, "director", ["--director", dirFile]);
    expect(readFileSync(d.configPath, "utf8")).toBe(keepalived);
    const log = sb.logOf("director");
    // A TAP has no MAC of its own to take: wasmvs derives one. A NIC has: wasmvs shares it.
    const mac = sb.backend === "tap" ? derivedMac("outside", "wvo") : OUT_MAC;
    if (sb.backend === "tap") expect(log).toContain(`interface outside has no mac: ${mac}, derived from this host's machine id`);
    const r1 = sb.http(`http://${VIP}/`, { requests: 12 });
    expect(r1.errors).toEqual([]);
    expect(r1.bodies.length).toBe(12);
    // The client reached the VIP through the derived MAC (its ARP cache says so: it is on the outside segment).
    const neigh = spawnSync("ip", ["netns", "exec", sb.client, "ip", "neigh", "show", VIP], { encoding: "utf8" }).stdout;
    expect(neigh).toContain(mac);

    // A change in the director file: a reload applies it.
    writeFileSync(dirFile, block.replace(/}\n$/, `  mark 7 protocol tcp destination ${VIP} ports 8443\n}\n`));
    const ok = reload();
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("mark rules replaced (1)");

    // An error in it: refused at the director file's line, the running configuration stays.
    const broken = block.replace(/}\n$/, "  route 10.77.0.0/16 via 192.0.2.1\n}\n");
    writeFileSync(dirFile, broken);
    const bad = reload();
    expect(bad.status).toBe(1);
    const line = broken.split("\n").findIndex((l) => l.includes("10.77.0.0")) + 1;
    const column = broken.split("\n")[line - 1].indexOf("192.0.2.1") + 1;
    expect(bad.stderr).toContain(`reload refused, the running configuration stays: ${dirFile}:${line}:${column}: '192.0.2.1': gateway 192.0.2.1 is not on any interface's subnet`);
    const r2 = sb.http(`http://${VIP}/`, { requests: 6 });
    expect(r2.errors).toEqual([]);
  });
});
