// VRRP reloaded without a failover (issue 17): a wasmvs master (priority 150, v3, advert 1 s,
// DR to three real servers) under 20 keep-alive connections is reloaded with another VIP
// list, a lower priority that stays above the backup's, an interface tracked with a weight,
// and a 2 s advert interval — the peer first reloaded with the same VIP list (keepalived
// 2.2.7 drops adverts whose list differs). The peer is (a) another wasmvs director and
// (b) a real keepalived (Debian's 2.2.7, VRRP only). What is asserted is what the peer
// saw: every advert of the master captured with tcpdump on the peer's own interface, no two
// further apart than the peer's master-down interval (3 x 1 s + skew = 3.609 s at priority
// 100), the new settings in the adverts; no state change logged on either side; no
// connection broken; the added VIP answered by the master only. And a reload that lowers
// the master below the backup: the backup preempts, and its log says so. And lvs_sync_daemon
// added by reload to both: the backup learns the connections, a kill -9 of the master breaks none.

import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox, serverAddress, VIP } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, signalPidFiles } from "./e2e.js";

const MAC_A = "02:00:00:00:0e:01";
const VIP2 = "10.0.0.101";
/** The peer's (priority 100, v3, 1 s) master-down interval: 3 x 1000 + (256 - 100) x 1000 / 256. */
const MASTER_DOWN_MS = 3000 + (156 * 1000) / 256;

e2eDescribe("VRRP reload without a failover", () => {
  let sb: Sandbox;
  let k: string;
  const directors: Director[] = [];
  let kRun = 0;

  const vrrp = (o: { iface: string; priority: number; vips: string[]; interval: string; extra?: string }) => `vrrp_instance VI_1 {
  interface ${o.iface}
  virtual_router_id 51
  priority ${o.priority}
  version 3
  advert_int ${o.interval}
  virtual_ipaddress {
${o.vips.map((v) => `    ${v}`).join("\n")}
  }
${o.extra ?? ""}}
`;
  const service = `virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
${[0, 1, 2].map((n) => `  real_server ${serverAddress(n)} 80 { weight 1 }`).join("\n")}
}
`;
  const master = (changed: boolean) => sb.pairDirector("ra", "0e", 5) + (changed
    ? vrrp({ iface: "outside", priority: 120, vips: [VIP, VIP2], interval: "2", extra: "  track_interface {\n    inside weight 2\n  }\n" })
    : vrrp({ iface: "outside", priority: 150, vips: [VIP], interval: "1" })) + service;

  const keepalivedConf = (vips: string[], notify: string) => `global_defs {
  router_id K${kRun}
  script_user root
}
${vrrp({ iface: "eth0", priority: 100, vips: vips.map((v) => `${v}/32`), interval: "1", extra: `  state BACKUP\n  notify ${notify}\n` })}`;

  const stopKeepalived = () => signalPidFiles(sb.dir, [`k${kRun}-vrrp.pid`, `k${kRun}.pid`], "SIGTERM");

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr", httpPorts: [80] });
    await sb.startServers();
    k = sb.addHost("k", "bo", "10.0.0.7/24");
  });
  // A test that failed halfway leaves its directors running: stopped here, so the next test's
  // directors can attach the same TAPs.
  afterEach(async () => {
    for (const d of directors.splice(0)) await d.stop().catch(() => {});
  });
  afterAll(async () => {
    stopKeepalived();
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  /** The master's adverts in a tcpdump -tt -v log: arrival time (ms), priority, interval (cs), addresses. */
  const adverts = (log: string) => [...log.matchAll(/^(\d+\.\d+) IP [^\n]*\n\s+10\.0\.0\.5 > 224\.0\.0\.18: VRRPv3, Advertisement, vrid 51, prio (\d+), intvl (\d+)cs, length \d+, addrs(?:\(\d+\))?: ([\d., ]+)/gm)]
    .map((m) => ({ t: Number(m[1]) * 1000, priority: Number(m[2]), intervalCs: Number(m[3]), addresses: m[4].trim().split(/[ ,]+/).filter(Boolean) }));

  /**
   * The master (once its peer is backup: startPeer) under load, reloaded after its peer
   * (reloadPeer): what the peer's interface carried, what the clients saw. peerChanged: the
   * peer logged a state change since it was backup.
   */
  async function reloadUnderLoad(tag: string, capture: { ns: string; dev: string }, startPeer: () => Promise<void>, reloadPeer: () => Promise<void>,
    peerChanged: () => boolean) {
    const a = await sb.startDirector(master(false), join(sb.dir, `${tag}-a.sock`), `${tag}-a`);
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf(`${tag}-a`)), 15000);
    await startPeer();
    const cap = sb.spawn(capture.ns, ["tcpdump", "-i", capture.dev, "-n", "-l", "-tt", "-v", "ip proto 112 or arp"], `${tag}-cap`);
    await sb.waitFor("the capture", () => adverts(sb.logOf(`${tag}-cap`)).length >= 2, 10000);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 20 * 2000, concurrency: 20, keepalive: true, intervalMs: 30, timeoutMs: 3000 }, `${tag}-long`);
    await new Promise((r) => setTimeout(r, 3000));
    const aLog = sb.logOf(`${tag}-a`).length;
    const reloadAt = Date.now();
    await reloadPeer();
    const log = (await a.reload(master(true))).slice(0);
    expect(log).toMatch(/reloaded: .*VRRP instance VI_1 reconfigured \(priority 150 -> 120, advert_int 1 -> 2 s, \+10\.0\.0\.101, tracking\), still MASTER/);
    // Long enough for adverts at the new interval, and for a master-down interval of the old.
    await new Promise((r) => setTimeout(r, 8000));
    // The added VIP is the master's: the client resolves it to a's MAC and it answers ping.
    sb.must(sb.client, ["ping", "-c", "1", "-W", "2", VIP2]);
    expect(sb.run(sb.client, ["ip", "neigh", "show", VIP2]).stdout).toContain(MAC_A);
    long.kill("SIGTERM");
    await sb.waitFor("the client", () => long.exitCode !== null || long.signalCode !== null, 30000);
    cap.kill("SIGTERM");
    await sb.waitFor("the capture to end", () => cap.exitCode !== null || cap.signalCode !== null, 10000);
    const lr = JSON.parse(sb.logOf(`${tag}-long`).trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[]; ports: number[] };
    const seen = adverts(sb.logOf(`${tag}-cap`));
    const gaps = seen.slice(1).map((s, i) => s.t - seen[i].t);
    const after = seen.filter((s) => s.t >= reloadAt);
    const garps = (sb.logOf(`${tag}-cap`).match(new RegExp(`(who-has ${VIP2.replace(/\./g, "\\.")} tell ${VIP2.replace(/\./g, "\\.")}|Announcement ${VIP2.replace(/\./g, "\\.")})`, "g")) ?? []).length;
    console.log(`VRRP reload (${tag}): ${seen.length} adverts of the master seen by the peer, longest gap ${Math.max(...gaps).toFixed(0)} ms ` +
      `(the peer's master-down interval ${MASTER_DOWN_MS.toFixed(0)} ms); after the reload: priority ${after.at(-1)?.priority}, ` +
      `interval ${after.at(-1)?.intervalCs} cs, addresses ${after.at(-1)?.addresses.join(" ")}; ${garps} gratuitous ARPs for ${VIP2}; ` +
      `keep-alive connections broken ${lr.errors.length} of 20 (${lr.bodies.filter((x) => x).length} requests answered on them)`);
    // No gap the peer could have taken for a dead master, and the new settings on the wire:
    // 120 + 2 (inside is up), 2 s, both VIPs.
    expect(Math.max(...gaps)).toBeLessThan(MASTER_DOWN_MS);
    expect(after.at(-1)).toMatchObject({ priority: 122, intervalCs: 200, addresses: [VIP, VIP2] });
    expect(garps).toBeGreaterThanOrEqual(5);
    // No state change on either side, and not one connection broken (each worker kept its one).
    expect(sb.logOf(`${tag}-a`).slice(aLog)).not.toMatch(/VI_1 .*: (BACKUP|FAULT|INIT|STOP)/);
    expect(peerChanged()).toBe(false);
    expect(lr.errors).toEqual([]);
    expect(new Set(lr.ports).size).toBe(20);
    await a.stop();
  }

  it("the peer is another wasmvs director: no state change, no gap in adverts, no connection broken", async () => {
    const peer = (vips: string[]) => sb.pairDirector("rb", "0f", 6) + vrrp({ iface: "outside", priority: 100, vips, interval: "1" }) + service;
    let b!: Director;
    let from = 0;
    await reloadUnderLoad("w", sb.bridgePort("rbo"), async () => {
      b = await sb.startDirector(peer([VIP]), join(sb.dir, "w-b.sock"), "w-b");
      directors.push(b);
      await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf("w-b")), 15000);
      from = sb.logOf("w-b").length;
    }, async () => {
      const log = await b.reload(peer([VIP, VIP2]));
      expect(log).toMatch(/reloaded: .*VRRP instance VI_1 reconfigured \(\+10\.0\.0\.101\), still BACKUP/);
    }, () => /VI_1 .*: [A-Z]+: /.test(sb.logOf("w-b").slice(from)));
    await b.stop();
  }, 120000);

  it("a reload that lowers the master's priority below the backup's: the backup preempts, and both logs say so", async () => {
    const a = await sb.startDirector(master(false), join(sb.dir, "p-a.sock"), "p-a");
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf("p-a")), 15000);
    const b = await sb.startDirector(sb.pairDirector("rb", "0f", 6) + vrrp({ iface: "outside", priority: 100, vips: [VIP], interval: "1" }) + service,
      join(sb.dir, "p-b.sock"), "p-b");
    directors.push(b);
    await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf("p-b")), 15000);
    const log = await a.reload(master(false).replace("priority 150", "priority 90"));
    expect(log).toMatch(/VRRP instance VI_1 reconfigured \(priority 150 -> 90\), still MASTER/);
    await sb.waitFor("b to preempt", () => /VI_1 .*: MASTER/.test(sb.logOf("p-b")), 15000);
    // (Its log said BACKUP once already, at start: the yield is the line that gives the reason.)
    const yielded = /VI_1 \(VRID 51 on outside\): BACKUP: 10\.0\.0\.6 advertises priority 100, above ours \(90\)/;
    await sb.waitFor("a to yield", () => yielded.test(sb.logOf("p-a")), 15000);
    expect(sb.logOf("p-b")).toMatch(/VI_1 \(VRID 51 on outside\): MASTER: preempting 10\.0\.0\.5: its priority 90 is below ours \(100\)/);
    expect(sb.logOf("p-b")).not.toMatch(/no advert from the master/);
    await a.stop();
    await b.stop();
  }, 60000);

  it("lvs_sync_daemon added by reload to both directors: the backup learns the connections, and a kill -9 of the master breaks none", async () => {
    const cfg = (who: "a" | "b", sync: boolean) => `${sync ? "global_defs {\n  lvs_sync_daemon outside VI_1 id 7\n}\n" : ""}` +
      sb.pairDirector(who === "a" ? "ra" : "rb", who === "a" ? "0e" : "0f", who === "a" ? 5 : 6) +
      vrrp({ iface: "outside", priority: who === "a" ? 150 : 100, vips: [VIP], interval: "0.1" }) + service;
    const a = await sb.startDirector(cfg("a", false), join(sb.dir, "s-a.sock"), "s-a");
    directors.push(a);
    await sb.waitFor("a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf("s-a")), 15000);
    const b = await sb.startDirector(cfg("b", false), join(sb.dir, "s-b.sock"), "s-b");
    directors.push(b);
    await sb.waitFor("b to be backup", () => /VI_1 .*: BACKUP/.test(sb.logOf("s-b")), 15000);
    const long = sb.httpInBackground(`http://${VIP}/`, { requests: 20 * 3000, concurrency: 20, keepalive: true, intervalMs: 30, timeoutMs: 5000 }, "s-long");
    await new Promise((r) => setTimeout(r, 2000));
    const aLog = sb.logOf("s-a").length;
    expect(await b.reload(cfg("b", true))).toMatch(/connection sync on outside: receiving \(sync ID 7, lvs_sync_daemon added\)/);
    expect(await a.reload(cfg("a", true))).toMatch(/reloaded: /);
    await sb.waitFor("a to send", () => /connection sync on outside: sending \(sync ID 7, lvs_sync_daemon added\)/.test(sb.logOf("s-a").slice(aLog)), 5000);
    expect(b.ipvsadm(["-L", "--daemon"]).stdout).toBe("backup sync daemon (mcast=outside, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n");
    // The connections opened before the reload reach the backup with the master's table refresh.
    await sb.waitFor("the connections to be synced", () => { try { return (b.status().connections ?? 0) >= 20; } catch { return false; } }, 30000);
    expect(sb.logOf("s-a").slice(aLog)).not.toMatch(/VI_1 .*: (BACKUP|FAULT)/);
    a.proc.kill("SIGKILL");
    await sb.waitFor("b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("s-b")), 10000);
    await new Promise((r) => setTimeout(r, 2000));
    long.kill("SIGTERM");
    await sb.waitFor("the client", () => long.exitCode !== null || long.signalCode !== null, 30000);
    const lr = JSON.parse(sb.logOf("s-long").trim().split("\n").pop()!) as { bodies: (string | null)[]; errors: string[]; ports: number[] };
    console.log(`lvs_sync_daemon added by reload, then kill -9 of the master: ${lr.errors.length} of 20 keep-alive connections broken ` +
      `(${lr.bodies.filter((x) => x).length} requests answered on them)`);
    expect(lr.errors).toEqual([]);
    expect(new Set(lr.ports).size).toBe(20);
    await b.stop();
  }, 120000);

  it("the peer is keepalived 2.2.7: no state change, no gap in adverts, no connection broken", async () => {
    kRun++;
    const notify = join(sb.dir, "knotify.sh");
    const states = join(sb.dir, `kstates-${kRun}`);
    writeFileSync(notify, `#!/bin/sh\necho "$3" >> ${states}\n`);
    chmodSync(notify, 0o755);
    const conf = join(sb.dir, `keepalived-${kRun}.conf`);
    writeFileSync(conf, keepalivedConf([VIP], notify));
    const kState = () => (existsSync(states) ? readFileSync(states, "utf8").trim().split("\n") : []);
    await reloadUnderLoad("k", { ns: k, dev: "eth0" }, async () => {
      sb.spawn(k, ["keepalived", "-n", "-l", "-D", "-P", "-f", conf, "-p", join(sb.dir, `k${kRun}.pid`), "-r", join(sb.dir, `k${kRun}-vrrp.pid`)], `keepalived-${kRun}`);
      await sb.waitFor("keepalived to be backup", () => kState().at(-1) === "BACKUP", 15000);
    }, async () => {
      const before = sb.logOf(`keepalived-${kRun}`).length;
      writeFileSync(conf, keepalivedConf([VIP, VIP2], notify));
      signalPidFiles(sb.dir, [`k${kRun}.pid`], "SIGHUP");
      await sb.waitFor("keepalived to reload", () => /Reload/i.test(sb.logOf(`keepalived-${kRun}`).slice(before)), 10000);
    }, () => kState().some((s) => s !== "BACKUP"));
    expect(kState()).toEqual(["BACKUP"]);
    stopKeepalived();
  }, 120000);
});
