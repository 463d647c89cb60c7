// A ring-attached interface whose device is a bridge (generic XDP): the host's address on a
// bridge over veths, as a host that already bridges its containers has it. A frame a client's
// stack sent through a veth reaches the bridge's generic XDP with its TCP checksum still
// partial (offload), and the engine must finish it before forwarding: before, DR through such a
// device forwarded SYNs the real server dropped for their checksum, and no request was answered.

import { afterAll, beforeAll, expect, it } from "vitest";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../host/sandbox/sandbox.js";
import { e2eDescribe, tally } from "./e2e.js";

const P = `wvbr${process.pid % 10000}`;
const [HOST, CLIENT, SERVER] = [`${P}h`, `${P}c`, `${P}r`];
const VIP = "10.6.0.100";

const must = (...args: string[]) => {
  const r = spawnSync(args[0], args.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
};
const inNs = (ns: string, ...args: string[]) => ["ip", "netns", "exec", ns, ...args];

e2eDescribe("a ring-attached bridge (generic XDP) over veths", () => {
  let dir: string;
  let director: ChildProcess | undefined;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wasmvs-ring-bridge-"));
    for (const ns of [HOST, CLIENT, SERVER]) {
      must("ip", "netns", "add", ns);
      must("ip", "-n", ns, "link", "set", "lo", "up");
    }
    // The host: br0 with 10.6.0.1, its ports a veth to the client and one to the server.
    must("ip", "-n", HOST, "link", "add", "br0", "type", "bridge");
    for (const [port, ns] of [["pc", CLIENT], ["pr", SERVER]]) {
      must("ip", "-n", HOST, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
      must("ip", "-n", HOST, "link", "set", port, "master", "br0", "up");
      must("ip", "-n", ns, "link", "set", "eth0", "up");
    }
    must("ip", "-n", HOST, "link", "set", "br0", "up");
    must("ip", "-n", HOST, "addr", "add", "10.6.0.1/24", "dev", "br0");
    must("ip", "-n", CLIENT, "addr", "add", "10.6.0.50/24", "dev", "eth0");
    // DR: the server holds the VIP on lo and does not answer ARP for it.
    must("ip", "-n", SERVER, "addr", "add", "10.6.0.21/24", "dev", "eth0");
    must("ip", "-n", SERVER, "addr", "add", `${VIP}/32`, "dev", "lo");
    must(...inNs(SERVER, "sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"));
    const server = spawn(inNs(SERVER)[0], [...inNs(SERVER).slice(1), process.execPath, join(ROOT, "host", "sandbox", "tools", "server.mjs"), "rs1", "--http", "80"]);
    servers.push(server);
    await new Promise<void>((resolve) => server.stdout!.on("data", (b: Buffer) => { if (b.toString().includes("ready")) resolve(); }));
    const rules = join(dir, "rules");
    writeFileSync(rules, `interface 0 name lan device br0\n-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 10.6.0.21:80 -g\n`);
    director = spawn("ip", inNs(HOST, process.execPath, join(ROOT, "bin", "wasmvs.js"), "run", "--config", rules,
      "--socket", join(dir, "wasmvs.sock"), "--table-file", "none").slice(1));
    let said = "";
    await new Promise<void>((resolve, reject) => {
      director!.stdout!.on("data", (b: Buffer) => { said += b.toString(); if (said.includes("data path on its own thread")) resolve(); });
      director!.stderr!.on("data", (b: Buffer) => { said += b.toString(); });
      director!.on("exit", () => reject(new Error(`the director stopped: ${said}`)));
    });
    expect(said).toMatch(/AF_XDP rings on device br0 \(generic XDP/);
  }, 60000);

  afterAll(() => {
    director?.kill("SIGTERM");
    for (const s of servers) s.kill("SIGKILL");
    for (const ns of [HOST, CLIENT, SERVER]) spawnSync("ip", ["netns", "del", ns]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("DR through it: every request answered by the real server, a 200 KB reply whole", () => {
    const client = (url: string, n: number) => {
      const r = spawnSync("ip", inNs(CLIENT, process.execPath, join(ROOT, "host", "sandbox", "tools", "client.mjs"), "http", url,
        "--requests", String(n), "--concurrency", "2", "--timeout", "3000").slice(1), { encoding: "utf8", timeout: 60000 });
      return JSON.parse(r.stdout) as { bodies: string[]; errors?: string[] };
    };
    const small = client(`http://${VIP}/`, 20);
    expect(tally(small.bodies)).toEqual({ rs1: 20 });
    const big = client(`http://${VIP}/big`, 4);
    expect(big.bodies.map((b) => b.length)).toEqual([200004, 200004, 200004, 200004]);
  }, 90000);
});
