// `wasmvs demo` (npm start): builds a sandbox of network namespaces, runs the director
// on TAP devices, and shows a client's requests being balanced across three real
// servers in NAT, DR and TUN mode in turn — live counts from the director itself and
// the answers the client got — then health checking: a server stops, its TCP_CHECK takes
// it out, it comes back; then failover: two directors with VRRP and connection sync, the
// master killed under long-lived connections. Removes everything at the end, and on Ctrl-C.

import { join } from "node:path";
import { CHECK_SOURCE, pairDirectorBlock, Sandbox, sandboxUnavailable, VIP, Mode, serverAddress, serverName } from "../sandbox/sandbox.js";

const MODES: { mode: Mode; scheduler: string; weights: number[]; title: string; health?: boolean }[] = [
  { mode: "nat", scheduler: "rr", weights: [1, 1, 1], title: "NAT (masquerading): VIP:80 -> servers :8080, replies back through the director" },
  { mode: "dr", scheduler: "wrr", weights: [3, 2, 1], title: "DR (direct routing): MAC rewrite only, servers answer the client themselves" },
  { mode: "tun", scheduler: "rr", weights: [1, 1, 1], title: "TUN (IP-in-IP): servers behind `wasmvs decap` unwrap and answer directly" },
  { mode: "nat", scheduler: "rr", weights: [1, 1, 1], health: true,
    title: "Health checks (keepalived.conf, TCP_CHECK every 0.2 s): server2 stops, leaves the pool, comes back" },
];

/** The health scene's configuration: keepalived.conf with a TCP_CHECK per server. */
function healthConfig(sb: Sandbox): string {
  const servers = [0, 1, 2].map((k) => `  real_server ${serverAddress(k)} 8080 {
    weight 1
    TCP_CHECK { delay_loop 0.2
      connect_timeout 0.2
      retry 1
      delay_before_retry 0.2 }
  }`).join("\n");
  return sb.keepalivedConfig([]) + `virtual_server ${VIP} 80 {\n  lb_algo rr\n  lb_kind NAT\n${servers}\n}\n`;
}
const REQUESTS = 240;

const tty = process.stdout.isTTY;
const out = (s: string) => process.stdout.write(s);

function bar(n: number, max: number, width = 30): string {
  const w = max > 0 ? Math.round((n / max) * width) : 0;
  return "#".repeat(w) + ".".repeat(width - w);
}

export async function demo(_args: string[]): Promise<number> {
  const why = sandboxUnavailable();
  if (why) {
    process.stderr.write(`wasmvs demo: ${why}. Run it as root: sudo npm start\n`);
    return 1;
  }
  let current: Sandbox | undefined;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    out("\ninterrupted: removing the sandbox...\n");
    (current ? current.destroy() : Promise.resolve()).finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  out(`wasmvs demo: a client, a router, a director and three real servers in network namespaces on this machine.\n` +
    `Real packets through the real engine; counts come from the director's own statistics.\n`);
  try {
    for (const m of MODES) {
      if (interrupted) break;
      out(`\n== ${m.title}\n`);
      const sb = (current = await Sandbox.create({ mode: m.mode, httpPorts: [m.mode === "nat" ? 8080 : 80], backend: "tap" }));
      await sb.startServers();
      if (m.mode === "tun") await sb.startDecapsulators();
      if (m.health) sb.addCheckSource();
      const d = await sb.startDirector(m.health ? healthConfig(sb)
        : sb.config([{ protocol: "tcp", port: 80, scheduler: m.scheduler, serverPort: m.mode === "nat" ? 8080 : 80, weights: m.weights }]));
      if (m.health) out(`   the checks leave from the director host's own address on the servers' segment, ${CHECK_SOURCE}; wasmvs -L --health shows them\n`);
      else {
        out(`   ipvsadm: -A -t ${VIP}:80 -s ${m.scheduler}; ` +
          m.weights.map((w, k) => `-a -r ${serverAddress(k)} ${{ nat: "-m", dr: "-g", tun: "-i" }[m.mode]} -w ${w}`).join("; ") + "\n");
      }
      const client = sb.httpInBackground(`http://${VIP}/`, { requests: REQUESTS, intervalMs: 12, times: true, timeoutMs: 2000 }, "client");
      const story: string[] = [];
      const storyDone = m.health ? healthStory(sb, d, story) : Promise.resolve();
      let lines = 0;
      const draw = (final: boolean) => {
        let st;
        try {
          st = d.status();
        } catch {
          return;
        }
        const rs = [...st.services[0].realServers].sort((a, b) => a.address.localeCompare(b.address));
        const total = rs.reduce((a, r) => a + r.stats.conns, 0);
        const health = (st.control as { health?: { server: string; alive: boolean }[] } | undefined)?.health ?? [];
        const names = [0, 1, 2].map(serverAddress);
        const rows = names.map((a, k) => {
          const r = rs.find((x) => x.address === a);
          const h = health.find((x) => x.server.startsWith(`${a}:`));
          const state = m.health ? (h ? (h.alive ? "  UP  " : " DOWN ") : "      ") : "";
          if (!r) return `   ${serverName(k)} ${a.padEnd(10)}${state} (out of the pool)`;
          return `   ${serverName(k)} ${a.padEnd(10)}${state} w${r.weight} ${bar(r.stats.conns, REQUESTS)} ${String(r.stats.conns).padStart(4)} conns  ` +
            `in ${String(r.stats.inpkts).padStart(5)} pkts  out ${String(r.stats.outpkts).padStart(5)} pkts`;
        });
        rows.push(`   ${total}/${REQUESTS} requests balanced` + (final ? "" : "..."));
        if (tty) {
          if (lines) out(`\x1b[${lines}A`);
          out(rows.map((r) => r + "\x1b[K").join("\n") + "\n");
          lines = rows.length;
        } else if (final) {
          out(rows.join("\n") + "\n");
        }
      };
      const timer = setInterval(() => draw(false), 250);
      await sb.waitFor("the client", () => client.exitCode !== null || interrupted, 60000);
      await storyDone;
      await d.freshStatus();
      clearInterval(timer);
      draw(true);
      const result = JSON.parse(sb.logOf("client").trim().split("\n").pop() || "{}");
      const seen: Record<string, number> = {};
      for (const b of result.bodies ?? []) if (typeof b === "string") seen[b] = (seen[b] ?? 0) + 1;
      for (const line of story) out(`   ${line}\n`);
      out(`   the client got ${Object.entries(seen).sort().map(([k, v]) => `${v} answers from ${k}`).join(", ")}` +
        `${result.errors?.length ? `, ${result.errors.length} errors` : ", no errors"}\n`);
      if (m.health && result.errors?.length) {
        out("   (the errors are the requests server2 refused in the moments before its check took it out: none after)\n");
      }
      if (m.mode !== "nat") out(`   replies that passed the director: ${d.status().services[0].stats.outpkts} packets (the servers answered directly)\n`);
      await d.stop();
      await sb.destroy();
      current = undefined;
    }
    if (!interrupted) {
      out("\n== Failover (VRRP v3 every 0.1 s, connection sync): two directors, the master killed under long-lived connections\n");
      const sb = (current = await Sandbox.create({ mode: "dr", httpPorts: [80], backend: "tap" }));
      await failoverScene(sb, () => interrupted);
      await sb.destroy();
      current = undefined;
    }
  } finally {
    if (current) await current.destroy();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  out(`\nDone: everything the demo created is gone. Next: npm test, or see README.md.\n`);
  return 0;
}

/** The health scene: server2 stops a second in, its TCP_CHECK takes it out, it restarts a
 *  second later and its check brings it back; what happened, with times, goes to story. */
async function healthStory(sb: Sandbox, d: Awaited<ReturnType<Sandbox["startDirector"]>>, story: string[]): Promise<void> {
  const inPool = () => d.ipvsadm(["-L", "-n"]).stdout.includes(`${serverAddress(1)}:8080`);
  await new Promise((r) => setTimeout(r, 1000));
  const stopped = Date.now();
  await sb.stop(serverName(1));
  await sb.waitFor("server2 to leave", () => !inPool(), 10000).catch(() => {});
  story.push(`server2 stopped; its TCP_CHECK took it out ${Date.now() - stopped} ms later (retry 1: two failed checks)`);
  await new Promise((r) => setTimeout(r, 1000));
  const restarted = Date.now();
  await sb.startServerProcess(1, "server2-again", ["--http", "8080"], serverName(1));
  await sb.waitFor("server2 to come back", () => inPool(), 10000).catch(() => {});
  story.push(`server2 restarted; back in the pool ${Date.now() - restarted} ms later, with its weight`);
}

/** Two directors, a (150) and b (100): VRRP v3 at 0.1 s for the VIP and keepalived's
 *  lvs_sync_daemon; DR to the three servers. */
function failoverConfig(who: "a" | "b"): string {
  const k = who === "a" ? 5 : 6;
  return `global_defs {
  lvs_sync_daemon outside VI_1
}
${pairDirectorBlock(`d${who}`, who === "a" ? "2a" : "2b", k)}vrrp_instance VI_1 {
  interface outside
  virtual_router_id 51
  priority ${who === "a" ? 150 : 100}
  version 3
  advert_int 0.1
  virtual_ipaddress {
    ${VIP}
  }
}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
${[0, 1, 2].map((n) => `  real_server ${serverAddress(n)} 80 { weight 1 }`).join("\n")}
}
`;
}

/** The failover scene: 20 keep-alive connections through the master, kill -9, what broke. */
async function failoverScene(sb: Sandbox, interrupted: () => boolean): Promise<void> {
  await sb.startServers();
  const a = await sb.startDirector(failoverConfig("a"), join(sb.dir, "a.sock"), "director-a");
  await sb.waitFor("director-a to be master", () => /VI_1 .*: MASTER/.test(sb.logOf("director-a")), 5000);
  const b = await sb.startDirector(failoverConfig("b"), join(sb.dir, "b.sock"), "director-b");
  await sb.waitFor("director-b to receive sync", () => /connection sync on outside: receiving/.test(sb.logOf("director-b")), 5000);
  out("   director-a (priority 150) is master and sends its connections; director-b (100) is backup and receives them\n");
  const conns = 20;
  const long = sb.httpInBackground(`http://${VIP}/`, { requests: conns * 150, concurrency: conns, keepalive: true, intervalMs: 20, timeoutMs: 3000 }, "long");
  await sb.waitFor("the connections on director-b", () => {
    try {
      return (b.status().connections ?? 0) >= conns || interrupted();
    } catch {
      return false;
    }
  }, 10000);
  out(`   ${conns} keep-alive connections send a request every 20 ms; director-b holds all ${conns} (synced as they opened)\n`);
  await new Promise((r) => setTimeout(r, 800));
  const killedAt = Date.now();
  a.proc.kill("SIGKILL");
  await sb.waitFor("director-b to take over", () => /VI_1 .*: MASTER/.test(sb.logOf("director-b")) || interrupted(), 5000);
  const line = sb.logOf("director-b").split("\n").find((l) => /VI_1 .*: MASTER/.test(l));
  out(`   kill -9 director-a: director-b was master ${line ? Date.parse(line.split(" ")[0]) - killedAt : "?"} ms later and announced the VIP\n`);
  await sb.waitFor("the client", () => long.exitCode !== null || interrupted(), 60000);
  const r = JSON.parse(sb.logOf("long").trim().split("\n").pop() || "{}") as { bodies?: (string | null)[]; errors?: string[] };
  out(`   the client: ${(r.bodies ?? []).filter((x) => x).length} of ${conns * 150} requests answered, ` +
    `${r.errors?.length ?? 0} of ${conns} connections broken (without connection sync they all would: test/e2e/failover.test.ts)\n`);
  out(b.ipvsadm(["-L", "--vrrp"]).stdout.split("\n").filter(Boolean).map((l) => `   ${l}\n`).join(""));
  await b.stop();
}
