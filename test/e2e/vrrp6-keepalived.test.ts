// VRRP over IPv6 with a real keepalived (Debian's 2.2.7, VRRP only: -P) on the same segment
// (issue 20): one IPv6 instance (VRRP v3 at 0.1 s to ff02::12, as keepalived runs it).
// wasmvs backs up a keepalived master and takes over when it is killed; keepalived backs up
// wasmvs and takes over when wasmvs is killed. Each side's adverts are on the wire (tshark:
// v3, good checksum, hop limit 255, from the link-local address to ff02::12), the higher
// priority is master, and a real Linux client's neighbour entry for the VIP follows each
// new master's unsolicited Neighbour Advertisement to its MAC; the client pings the VIP
// before and after each takeover, and a ping running through a takeover gets answers again.
// TAP only (the sandbox's AF_XDP path leaves IPv6 to the host).

import { afterAll, beforeAll, expect, it } from "vitest";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Director, Sandbox } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, signalPidFiles } from "./e2e.js";

const WASMVS_MAC = "02:00:00:00:0b:01";
const WASMVS_LL = "fe80::ff:fe00:b01";
const K_MAC = "02:00:00:00:0c:07";
const K_LL = "fe80::ff:fe00:c07";
const VIP6 = "2001:db8::100";
const CLIENT6 = "2001:db8::c";

e2eDescribe("VRRP over IPv6 with keepalived", () => {
  let sb: Sandbox;
  let k: string;
  const directors: Director[] = [];
  let kRun = 0;

  const wasmvs = (priority: number, unicast = false) => `${sb.pairDirector("vb", "0b", 6)}vrrp_instance V6 {
  interface outside
  virtual_router_id 61
  priority ${priority}
  advert_int 0.1
  virtual_ipaddress {
    ${VIP6}/64
  }
${unicast ? `  unicast_peer {\n    ${K_LL}\n  }\n` : ""}}
`;

  /** Start keepalived (VRRP only) in its namespace; its notify script records each state. */
  function keepalived(priority: number, unicast = false): string {
    kRun++;
    const notify = join(sb.dir, "k6notify.sh");
    const states = join(sb.dir, `k6states-${kRun}`);
    writeFileSync(notify, `#!/bin/sh\necho "$3" >> ${states}\n`);
    chmodSync(notify, 0o755);
    const conf = join(sb.dir, `keepalived6-${kRun}.conf`);
    writeFileSync(conf, `global_defs {
  router_id K6${kRun}
  script_user root
}
vrrp_instance V6 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority ${priority}
  advert_int 0.1
  virtual_ipaddress {
    ${VIP6}/64
  }
${unicast ? `  unicast_src_ip ${K_LL}\n  unicast_peer {\n    ${WASMVS_LL}\n  }\n` : ""}  notify ${notify}
}
`);
    sb.spawn(k, ["keepalived", "-n", "-l", "-D", "-P", "-f", conf, "-p", join(sb.dir, `k6${kRun}.pid`), "-r", join(sb.dir, `k6${kRun}-vrrp.pid`)], `keepalived6-${kRun}`);
    return states;
  }
  const lastState = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").pop() : undefined);
  const wasmvsIs = (name: string, state: string) => new RegExp(`V6 .*: ${state}`).test(sb.logOf(name));
  const killKeepalived = () => signalPidFiles(sb.dir, [`k6${kRun}-vrrp.pid`, `k6${kRun}.pid`], "SIGKILL");
  const neighOfVip = () => sb.run(sb.client, ["ip", "-6", "neigh", "show", VIP6, "dev", "eth0"]).stdout;
  const ping = (count: number) => sb.run(sb.client, ["ping", "-6", "-c", String(count), "-i", "0.2", "-W", "1", VIP6]).stdout;
  /** IPv6 on in a namespace of the sandbox (it starts off), without duplicate address detection's wait. */
  const ipv6On = (ns: string) => {
    sb.must(ns, ["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.eth0.accept_dad=0"]);
    sb.must(ns, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.eth0.disable_ipv6=0"]);
  };
  let lastCapture = "";
  const capture = (seconds: number) => {
    const r = sb.run(sb.switchNs, ["tshark", "-i", "bo", "-a", `duration:${seconds}`, "-f", "ip6 proto 112",
      "-T", "fields", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.hlim", "-e", "vrrp.version", "-e", "vrrp.prio", "-e", "vrrp.checksum.status", "-e", "vrrp.ipv6_addr"], 30000);
    lastCapture = `${r.stdout}\n${r.stderr}\nkeepalived: ${sb.logOf(`keepalived6-${kRun}`).slice(-1500)}`;
    return r.stdout.trim().split("\n").filter(Boolean).map((l) => l.split("\t"));
  };

  /** Watch the segment for unsolicited NAs (to ff02::1) for the VIP while a takeover happens;
   *  returns a function that waits for the capture to end and gives its rows. */
  async function watchNas(name: string, seconds: number): Promise<() => Promise<string[][]>> {
    const p = sb.spawn(sb.switchNs, ["tshark", "-l", "-i", "bo", "-a", `duration:${seconds}`, "-f", "icmp6 and ip6[40] == 136 and dst host ff02::1",
      "-T", "fields", "-e", "eth.src", "-e", "ipv6.src", "-e", "ipv6.hlim", "-e", "icmpv6.nd.na.flag.r", "-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o",
      "-e", "icmpv6.nd.na.target_address", "-e", "icmpv6.opt.linkaddr", "-e", "icmpv6.checksum.status"], name);
    await sb.waitFor("tshark to capture", () => sb.logOf(name).includes("Capturing on"), 10000);
    return async () => {
      if (p.exitCode === null) await new Promise<void>((res) => p.on("exit", () => res()));
      return sb.logOf(name).split("\n").filter((l) => l.includes("\t")).map((l) => l.split("\t"));
    };
  }

  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "dr" });
    k = sb.addHost("k", "bo", "10.0.0.7/24");
    sb.must(k, ["ip", "link", "set", "eth0", "address", K_MAC]);
    ipv6On(k);
    ipv6On(sb.client);
    sb.must(sb.client, ["ip", "-6", "addr", "add", `${CLIENT6}/64`, "dev", "eth0", "nodad"]);
    // The bridge floods multicast as a switch without MLD snooping does: wasmvs sends no MLD
    // reports yet, so a snooping bridge would keep ff02::12 and the VIP's solicited-node group
    // to the ports that reported them.
    sb.must(sb.switchNs, ["ip", "link", "set", "bo", "type", "bridge", "mcast_snooping", "0"]);
  });
  afterAll(async () => {
    killKeepalived();
    for (const d of directors) await d.stop().catch(() => {});
    await sb?.destroy();
  });

  it("wasmvs backs up a keepalived master, takes over when it is killed (the client's neighbour entry moves to wasmvs's MAC); keepalived backs up wasmvs and takes over when wasmvs is killed", async () => {
    const kStates = keepalived(200);
    await sb.waitFor("keepalived to be master", () => lastState(kStates) === "MASTER", 15000);
    const w = await sb.startDirector(wasmvs(100), join(sb.dir, "wasmvs6.sock"), "wasmvs6");
    directors.push(w);
    await sb.waitFor("wasmvs to be backup", () => wasmvsIs("wasmvs6", "BACKUP"), 5000);
    await new Promise((res) => setTimeout(res, 500));
    expect(wasmvsIs("wasmvs6", "MASTER")).toBe(false);
    // keepalived's adverts: v3 from its link-local to ff02::12, hop limit 255, good checksum, priority 200.
    const kAdverts = capture(1);
    expect(kAdverts.length, lastCapture).toBeGreaterThan(3);
    expect(kAdverts.every((f) => f[0] === K_LL && f[1] === "ff02::12" && f[2] === "255" && f[3] === "3" && f[4] === "200" && f[5] === "1" && f[6] === VIP6),
      kAdverts.join("\n")).toBe(true);
    // The client reaches the VIP at keepalived's host.
    expect(ping(3)).toMatch(/3 packets transmitted, 3 received/);
    expect(neighOfVip()).toContain(`lladdr ${K_MAC}`);

    // kill -9 keepalived and take its host off the segment (a killed keepalived leaves the VIP
    // on its interface): wasmvs takes over; its unsolicited NA moves the client's entry.
    const through = sb.spawn(sb.client, ["ping", "-6", "-i", "0.1", "-c", "60", "-W", "1", VIP6], "ping-through-1");
    const nas1 = await watchNas("na-1", 4);
    await new Promise((res) => setTimeout(res, 1000));
    const killedAt = Date.now();
    killKeepalived();
    sb.must(k, ["ip", "link", "set", "eth0", "down"]);
    await sb.waitFor("wasmvs to take over", () => wasmvsIs("wasmvs6", "MASTER"), 10000);
    const takeover = Date.now() - killedAt;
    await sb.waitFor("the client's neighbour entry to move to wasmvs", () => neighOfVip().includes(`lladdr ${WASMVS_MAC}`), 3000);
    // wasmvs's unsolicited NAs (keepalived's form, vrrp_ndisc.c): from the VIP with wasmvs's MAC,
    // hop limit 255, Override set, Solicited clear, Router set (wasmvs forwards IPv6, as
    // keepalived sets it on a forwarding interface), the target link-layer option; five at
    // once (vrrp_garp_master_repeat).
    const wNas = (await nas1()).filter((f) => f[0] === WASMVS_MAC);
    expect(wNas.length, JSON.stringify(wNas)).toBeGreaterThanOrEqual(5);
    expect(wNas.every((f) => f.join(" ") === `${WASMVS_MAC} ${VIP6} 255 1 0 1 ${VIP6} ${WASMVS_MAC} 1`), JSON.stringify(wNas)).toBe(true);
    await new Promise<void>((res) => through.on("exit", () => res()));
    const throughOut = sb.logOf("ping-through-1");
    const received1 = Number(/(\d+) received/.exec(throughOut)?.[1] ?? 0);
    // Answers before the kill (keepalived) and after the takeover (wasmvs): more than the first second's 10.
    expect(received1, throughOut).toBeGreaterThan(20);
    expect(ping(3)).toMatch(/3 packets transmitted, 3 received/);
    expect(neighOfVip()).toContain(`lladdr ${WASMVS_MAC}`);

    // keepalived back with a lower priority: it stays backup; wasmvs's adverts on the wire.
    sb.must(k, ["ip", "-6", "addr", "flush", "dev", "eth0", "scope", "global"]);
    sb.must(k, ["ip", "link", "set", "eth0", "up"]);
    await new Promise((res) => setTimeout(res, 300));
    const kStates2 = keepalived(50);
    await sb.waitFor("keepalived to be backup", () => lastState(kStates2) === "BACKUP", 15000);
    await new Promise((res) => setTimeout(res, 1000));
    expect(lastState(kStates2)).toBe("BACKUP");
    const wAdverts = capture(1);
    expect(wAdverts.length, lastCapture).toBeGreaterThan(3);
    expect(wAdverts.every((f) => f[0] === WASMVS_LL && f[1] === "ff02::12" && f[2] === "255" && f[3] === "3" && f[4] === "100" && f[5] === "1" && f[6] === VIP6),
      wAdverts.join("\n")).toBe(true);

    // kill -9 wasmvs: keepalived takes over and its unsolicited NA moves the client's entry back.
    const through2 = sb.spawn(sb.client, ["ping", "-6", "-i", "0.1", "-c", "60", "-W", "1", VIP6], "ping-through-2");
    const nas2 = await watchNas("na-2", 4);
    await new Promise((res) => setTimeout(res, 1000));
    const killed2 = Date.now();
    w.proc.kill("SIGKILL");
    await sb.waitFor("keepalived to take over", () => lastState(kStates2) === "MASTER", 10000);
    const takeover2 = Date.now() - killed2;
    await sb.waitFor("the client's neighbour entry to move to keepalived's host", () => neighOfVip().includes(`lladdr ${K_MAC}`), 3000);
    // keepalived's NAs, the form wasmvs's copy (its Router flag from eth0's forwarding, off here).
    const kNas = (await nas2()).filter((f) => f[0] === K_MAC);
    expect(kNas.length, JSON.stringify(kNas)).toBeGreaterThanOrEqual(5);
    expect(kNas.every((f) => f.join(" ") === `${K_MAC} ${VIP6} 255 0 0 1 ${VIP6} ${K_MAC} 1`), JSON.stringify(kNas)).toBe(true);
    await new Promise<void>((res) => through2.on("exit", () => res()));
    const throughOut2 = sb.logOf("ping-through-2");
    expect(Number(/(\d+) received/.exec(throughOut2)?.[1] ?? 0), throughOut2).toBeGreaterThan(20);
    expect(ping(3)).toMatch(/3 packets transmitted, 3 received/);
    console.log(`VRRP v3 over IPv6 at 0.1 s: wasmvs (100) took over from a killed keepalived (200) in about ${takeover} ms (polled); ` +
      `keepalived (50) from a killed wasmvs in about ${takeover2} ms (its notify script, polled; theory 361 and 381 ms); ` +
      `pings through the takeovers: ${received1}/60 and ${/(\d+) received/.exec(throughOut2)?.[1]}/60`);
    killKeepalived();
  });

  it("unicast_peer over IPv6: adverts link-local to link-local, not to ff02::12; each side takes over from the other", async () => {
    sb.must(k, ["ip", "link", "set", "eth0", "up"]);
    const kStates = keepalived(200, true);
    await sb.waitFor("keepalived to be master", () => lastState(kStates) === "MASTER", 15000);
    const w = await sb.startDirector(wasmvs(100, true), join(sb.dir, "wasmvs6u.sock"), "wasmvs6u");
    directors.push(w);
    // Backup once it hears keepalived. (It may be master for a moment first: keepalived's
    // kernel resolves wasmvs's link-local before its first unicast advert leaves, and that
    // entry FAILED while wasmvs was away; see the report of issue 20's VRRP part.)
    await sb.waitFor("wasmvs to hear keepalived", () => /VRRP V6: the master is fe80::ff:fe00:c07/.test(sb.logOf("wasmvs6u")) && wasmvsIs("wasmvs6u", "BACKUP"), 5000);
    const heardAt = sb.logOf("wasmvs6u").length;
    await new Promise((res) => setTimeout(res, 1000));
    expect(/V6 .*: MASTER/.test(sb.logOf("wasmvs6u").slice(heardAt)), `${sb.logOf("wasmvs6u").slice(-3000)}\n${JSON.stringify((await w.freshStatus()).counters)}`).toBe(false); // it hears keepalived's unicast adverts
    const kLines = capture(1);
    expect(kLines.length, lastCapture).toBeGreaterThan(3);
    // keepalived's unicast IPv6 adverts leave with the kernel's default hop limit (64): it sets 255 only for IPv4 (vrrp.c).
    expect(kLines.every((f) => f.slice(0, 6).join(" ") === `${K_LL} ${WASMVS_LL} 64 3 200 1`), lastCapture).toBe(true);
    killKeepalived();
    sb.must(k, ["ip", "-6", "addr", "del", `${VIP6}/64`, "dev", "eth0"]);
    await sb.waitFor("wasmvs to take over", () => /V6 .*: MASTER/.test(sb.logOf("wasmvs6u").slice(heardAt)), 10000);
    // wasmvs sends to keepalived's link-local at the MAC its neighbour table learnt (keepalived's host solicited it).
    const wLines = capture(1);
    expect(wLines.length, lastCapture).toBeGreaterThan(3);
    expect(wLines.every((f) => f.slice(0, 6).join(" ") === `${WASMVS_LL} ${K_LL} 255 3 100 1`), lastCapture).toBe(true);
    expect(ping(3)).toMatch(/3 packets transmitted, 3 received/);
    // keepalived back at a lower priority stays backup (it hears wasmvs's unicast adverts); kill wasmvs: it takes over.
    const kStates2 = keepalived(50, true);
    await sb.waitFor("keepalived to be backup", () => lastState(kStates2) === "BACKUP", 15000);
    await new Promise((res) => setTimeout(res, 1000));
    expect(lastState(kStates2)).toBe("BACKUP");
    w.proc.kill("SIGKILL");
    await sb.waitFor("keepalived to take over", () => lastState(kStates2) === "MASTER", 10000);
    await sb.waitFor("the client's neighbour entry to move to keepalived's host", () => neighOfVip().includes(`lladdr ${K_MAC}`), 3000);
    expect(ping(3)).toMatch(/3 packets transmitted, 3 received/);
    killKeepalived();
  });
});
