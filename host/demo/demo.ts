// `wasmvs demo` (npm start): builds a sandbox of network namespaces, runs the director
// on TAP devices, and shows a client's requests being balanced across three real
// servers in NAT, DR and TUN mode in turn — live counts from the director itself and
// the answers the client got. Removes everything at the end, and on Ctrl-C.

import { Sandbox, sandboxUnavailable, VIP, Mode, serverAddress, serverName } from "../sandbox/sandbox.js";

const MODES: { mode: Mode; scheduler: string; weights: number[]; title: string }[] = [
  { mode: "nat", scheduler: "rr", weights: [1, 1, 1], title: "NAT (masquerading): VIP:80 -> servers :8080, replies back through the director" },
  { mode: "dr", scheduler: "wrr", weights: [3, 2, 1], title: "DR (direct routing): MAC rewrite only, servers answer the client themselves" },
  { mode: "tun", scheduler: "rr", weights: [1, 1, 1], title: "TUN (IP-in-IP): servers behind `wasmvs decap` unwrap and answer directly" },
];
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
      const sb = (current = await Sandbox.create({ mode: m.mode, httpPorts: [m.mode === "nat" ? 8080 : 80] }));
      await sb.startServers();
      if (m.mode === "tun") await sb.startDecapsulators();
      const d = await sb.startDirector(sb.config([{ protocol: "tcp", port: 80, scheduler: m.scheduler, serverPort: m.mode === "nat" ? 8080 : 80, weights: m.weights }]));
      out(`   ipvsadm: -A -t ${VIP}:80 -s ${m.scheduler}; ` +
        m.weights.map((w, k) => `-a -r ${serverAddress(k)} ${{ nat: "-m", dr: "-g", tun: "-i" }[m.mode]} -w ${w}`).join("; ") + "\n");
      const client = sb.httpInBackground(`http://${VIP}/`, { requests: REQUESTS, intervalMs: 12 }, "client");
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
        const rows = rs.map((r, k) =>
          `   ${serverName(k)} ${r.address.padEnd(10)} w${r.weight} ${bar(r.stats.conns, REQUESTS)} ${String(r.stats.conns).padStart(4)} conns  ` +
          `in ${String(r.stats.inpkts).padStart(5)} pkts  out ${String(r.stats.outpkts).padStart(5)} pkts`);
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
      await d.freshStatus();
      clearInterval(timer);
      draw(true);
      const result = JSON.parse(sb.logOf("client").trim().split("\n").pop() || "{}");
      const seen: Record<string, number> = {};
      for (const b of result.bodies ?? []) seen[b] = (seen[b] ?? 0) + 1;
      out(`   the client got ${Object.entries(seen).sort().map(([k, v]) => `${v} answers from ${k}`).join(", ")}` +
        `${result.errors?.length ? `, ${result.errors.length} errors` : ", no errors"}\n`);
      if (m.mode !== "nat") out(`   replies that passed the director: ${d.status().services[0].stats.outpkts} packets (the servers answered directly)\n`);
      await d.stop();
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
