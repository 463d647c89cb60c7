// VRRP interop with a real keepalived (Debian's 2.2.7, VRRP only: -P) on the same segment
// (issue 10): wasmvs as backup to a keepalived master and as master to a keepalived backup,
// v3 at 0.1 s and v2 at 1 s with PASS authentication; kill -9 the master and the other
// takes over (measured, printed). tshark decodes every advert on the wire as VRRP with a
// good checksum, from both.

import { afterAll, beforeAll, expect, it } from "vitest";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, signalPidFiles } from "./e2e.js";

const MAC = "02:00:00:00:0b:01";

e2eDescribe("VRRP interop with keepalived", () => {
  let sb: Sandbox;
  let k: string;
  const directors: Director[] = [];
  let kRun = 0;

  const wasmvs = (priority: number, version: 2 | 3, unicast = false) => `${sb.pairDirector("vb", "0b", 6)}vrrp_instance VI_1 {
  interface outside
  virtual_router_id 51
  priority ${priority}
  version ${version}
  advert_int ${version === 3 ? "0.1" : "1"}
${version === 2 ? "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n" : ""}  virtual_ipaddress {
    ${VIP}
  }
${unicast ? "  unicast_peer {\n    10.0.0.7\n  }\n" : ""}}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
${[0, 1, 2].map((n) => `  real_server ${serverAddress(n)} 80 { weight 1 }`).join("\n")}
}
`;

  /** Start keepalived (VRRP only) in its namespace; its notify script records each state. */
  function keepalived(priority: number, version: 2 | 3, unicast = false): string {
    kRun++;
    const notify = join(sb.dir, "knotify.sh");
    const states = join(sb.dir, `kstates-${kRun}`);
    writeFileSync(notify, `#!/bin/sh\necho "$3" >> ${states}\n`);
    chmodSync(notify, 0o755);
    const conf = join(sb.dir, `keepalived-${kRun}.conf`);
    writeFileSync(conf, `global_defs {
  router_id K${kRun}
  vrrp_version ${version}
  script_user root
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int ${version === 3 ? "0.1" : "1"}
${version === 2 ? "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n" : ""}  virtual_ipaddress {
    ${VIP}/32
  }
${unicast ? "  unicast_src_ip 10.0.0.7\n  unicast_peer {\n    10.0.0.6\n  }\n" : ""}  notify ${notify}
}
`);
    sb.spawn(k, ["keepalived", "-n", "-l", "-D", "-P", "-f", conf, "-p", join(sb.dir, `k${kRun}.pid`), "-r", join(sb.dir, `k${kRun}-vrrp.pid`)], `keepalived-${kRun}`);
    return states;
  }
  const lastState = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").pop() : undefined);
  const kHasVip = () => sb.run(k, ["ip", "-4", "addr", "show", "dev", "eth0"]).stdout.includes(`${VIP}/32`);
  const wasmvsIs = (name: string, state: string, from = 0) => new RegExp(`VI_1 .*: ${state}`).test(sb.logOf(name).slice(from));
  // The VRRP child first: killed after its parent, it would get SIGTERM (PR_SET_PDEATHSIG)
  // and resign cleanly with priority 0 — a graceful stop, not the crash meant here.
  const killKeepalived = () => signalPidFiles(sb.dir, [`k${kRun}-vrrp.pid`, `k${kRun}.pid`], "SIGKILL");

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr", httpPorts: [80] });
    await sb.startServers();
    k = sb.addHost("k", "bo", "10.0.0.7/24");
  });
  afterAll(async () => {
    killKeepalived();
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  for (const version of [3, 2] as const) {
    it(`v${version}: wasmvs backs up a keepalived master and takes over when it dies; and the other way round`, async () => {
      // keepalived master (200), wasmvs backup (100).
      const kStates = keepalived(200, version);
      await sb.waitFor("keepalived to be master", () => lastState(kStates) === "MASTER", 15000);
      const name = `wasmvs-v${version}`;
      const w = await sb.startDirector(wasmvs(100, version), join(sb.dir, `${name}.sock`), name);
      directors.push(w);
      await sb.waitFor("wasmvs to be backup", () => wasmvsIs(name, "BACKUP"), 5000);
      // Adverts of both on the wire, decoded by tshark as good VRRP.
      const cap = sb.run(sb.switchNs, ["tshark", "-i", "bo", "-a", `duration:${version === 3 ? 1 : 3}`, "-f", "ip proto 112",
        "-T", "fields", "-e", "ip.src", "-e", "vrrp.version", "-e", "vrrp.prio", "-e", "vrrp.checksum.status"], 30000);
      const lines = cap.stdout.trim().split("\n").filter(Boolean);
      expect(lines.some((l) => l.startsWith("10.0.0.7\t"))).toBe(true);
      expect(lines.every((l) => l.split("\t")[1] === String(version))).toBe(true);
      expect(lines.every((l) => l.endsWith("\t1")), cap.stdout).toBe(true); // checksum status 1: good
      expect(wasmvsIs(name, "MASTER")).toBe(false);
      // kill -9 keepalived and take its host off the segment (a killed keepalived leaves the
      // VIP on its interface; a dead host answers nothing): wasmvs takes the VIP.
      const killedAt = Date.now();
      killKeepalived();
      sb.must(k, ["ip", "link", "set", "eth0", "down"]);
      await sb.waitFor("wasmvs to take over", () => wasmvsIs(name, "MASTER"), 10000);
      const line = sb.logOf(name).split("\n").find((l) => /VI_1 .*: MASTER/.test(l))!;
      const takeover = Date.parse(line.split(" ")[0]) - killedAt;
      const r = sb.http(`http://${VIP}/`, { requests: 20, concurrency: 2 });
      expect(r.errors).toEqual([]);
      expect(sb.run(sb.client, ["ip", "neigh", "show", VIP]).stdout).toContain(MAC);
      // keepalived back with a lower priority: it stays backup and does not take the VIP.
      sb.must(k, ["ip", "addr", "flush", "dev", "eth0"]);
      sb.must(k, ["ip", "addr", "add", "10.0.0.7/24", "dev", "eth0"]);
      sb.must(k, ["ip", "link", "set", "eth0", "up"]);
      const kStates2 = keepalived(100, version);
      await sb.waitFor("keepalived to be backup", () => lastState(kStates2) === "BACKUP", 15000);
      await new Promise((res) => setTimeout(res, version === 3 ? 1000 : 4000));
      expect(lastState(kStates2)).toBe("BACKUP");
      expect(kHasVip()).toBe(false);
      // wasmvs's adverts on the wire, decoded by tshark as good VRRP of this version.
      const cap2 = sb.run(sb.switchNs, ["tshark", "-i", "bo", "-a", `duration:${version === 3 ? 1 : 3}`, "-f", "ip proto 112",
        "-T", "fields", "-e", "ip.src", "-e", "vrrp.version", "-e", "vrrp.prio", "-e", "vrrp.checksum.status", "-e", "vrrp.auth_string"], 30000);
      const mine = cap2.stdout.trim().split("\n").filter((l) => l.startsWith("10.0.0.6\t"));
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((l) => { const f = l.split("\t"); return f[1] === String(version) && f[2] === "100" && f[3] === "1" && (version === 3 || f[4] === "s3cret"); }), cap2.stdout).toBe(true);
      // kill -9 wasmvs: keepalived takes over.
      const killed2 = Date.now();
      w.proc.kill("SIGKILL");
      await sb.waitFor("keepalived to take over", () => lastState(kStates2) === "MASTER", 10000);
      const takeover2 = Date.now() - killed2;
      expect(kHasVip()).toBe(true);
      console.log(`VRRP v${version} at ${version === 3 ? "0.1" : "1"} s: wasmvs (100) took over from a killed keepalived (200) in ${takeover} ms; ` +
        `keepalived (100) from a killed wasmvs (200) in about ${takeover2} ms (its notify script, polled; theory ${version === 3 ? 361 : 3609} ms)`);
      killKeepalived();
      await new Promise((res) => setTimeout(res, 300));
    });
  }

  it("unicast_peer (v3): adverts go host to host, not to 224.0.0.18; each side takes over from the other", async () => {
    sb.must(k, ["ip", "addr", "flush", "dev", "eth0"]);
    sb.must(k, ["ip", "addr", "add", "10.0.0.7/24", "dev", "eth0"]);
    sb.must(k, ["ip", "link", "set", "eth0", "up"]);
    const kStates = keepalived(200, 3, true);
    await sb.waitFor("keepalived to be master", () => lastState(kStates) === "MASTER", 15000);
    const w = await sb.startDirector(wasmvs(100, 3, true), join(sb.dir, "wasmvs-unicast.sock"), "wasmvs-unicast");
    directors.push(w);
    await sb.waitFor("wasmvs to be backup", () => wasmvsIs("wasmvs-unicast", "BACKUP"), 5000);
    await new Promise((res) => setTimeout(res, 1000));
    expect(wasmvsIs("wasmvs-unicast", "MASTER")).toBe(false); // it hears keepalived's unicast adverts
    // keepalived's adverts to wasmvs's address; after wasmvs takes over, wasmvs's to keepalived's.
    const fields = ["-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "vrrp.prio", "-e", "vrrp.checksum.status"];
    const cap = sb.run(sb.switchNs, ["tshark", "-i", "bo", "-a", "duration:1", "-f", "ip proto 112", ...fields], 30000);
    const kLines = cap.stdout.trim().split("\n").filter(Boolean);
    expect(kLines.length).toBeGreaterThan(3);
    expect(kLines.every((l) => l === "10.0.0.7\t10.0.0.6\t200\t1"), cap.stdout).toBe(true);
    const killedAt = Date.now();
    killKeepalived();
    sb.must(k, ["ip", "addr", "del", `${VIP}/32`, "dev", "eth0"]);
    await sb.waitFor("wasmvs to take over", () => wasmvsIs("wasmvs-unicast", "MASTER"), 10000);
    const line = sb.logOf("wasmvs-unicast").split("\n").find((l) => /VI_1 .*: MASTER/.test(l))!;
    const takeover = Date.parse(line.split(" ")[0]) - killedAt;
    expect(sb.http(`http://${VIP}/`, { requests: 10, concurrency: 2 }).errors).toEqual([]);
    const cap2 = sb.run(sb.switchNs, ["tshark", "-i", "bo", "-a", "duration:1", "-f", "ip proto 112", ...fields], 30000);
    const wLines = cap2.stdout.trim().split("\n").filter(Boolean);
    expect(wLines.length).toBeGreaterThan(3);
    expect(wLines.every((l) => l === "10.0.0.6\t10.0.0.7\t100\t1"), cap2.stdout).toBe(true);
    // keepalived back at a lower priority stays backup (it hears wasmvs's unicast adverts); kill wasmvs: it takes over.
    const kStates2 = keepalived(50, 3, true);
    await sb.waitFor("keepalived to be backup", () => lastState(kStates2) === "BACKUP", 15000);
    await new Promise((res) => setTimeout(res, 1000));
    expect(lastState(kStates2)).toBe("BACKUP");
    const killed2 = Date.now();
    w.proc.kill("SIGKILL");
    await sb.waitFor("keepalived to take over", () => lastState(kStates2) === "MASTER", 10000);
    console.log(`VRRP v3 unicast: wasmvs took over from a killed keepalived in ${takeover} ms; keepalived from a killed wasmvs in about ${Date.now() - killed2} ms`);
    killKeepalived();
  });
});
