// wasmvs top: the dashboard's live view in a terminal — per service and per real server the
// connections, the statistics and the estimator's rates, the connection table's occupancy,
// drops by reason, VRRP and health (servers their checks took out too) — refreshed in place
// until q (or Ctrl-C). It asks the running director over its control socket ({"op":"view"}),
// as ipvsadm's listing does.

import { request } from "./ipvsadm.js";
import { FWD, hostPort, IpvsadmError, type ServiceView } from "../config/ipvsadm.js";
import type { LiveView } from "../control/live.js";
import { printable } from "../config/printable.js";

export interface TopOptions {
  socket: string;
  intervalMs: number;
  once: boolean;
}

/** Rates and byte counts in K/M/G above 10^6, as a person reads them; exact below. */
function human(v: number): string {
  if (v < 1e6) return String(Math.round(v));
  for (const [d, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"]] as const) if (v >= d) return `${(v / d).toFixed(1)}${u}`;
  return String(Math.round(v));
}
const since = (s?: number) => (s === undefined ? "" : `, ${s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`} ago`);
const name = (s: ServiceView) => (s.fwmark !== undefined ? `FWM  ${s.fwmark}` : `${s.protocol.toUpperCase().padEnd(4)} ${hostPort(s.address, s.port)}`);

/** One screen of the view, width columns wide (lines cut at the width). */
export function renderTop(v: LiveView, socket: string, width: number): string[] {
  const lines: string[] = [];
  const used = v.connections.count / Math.max(1, v.connections.capacity);
  const drops = Object.entries(v.drops);
  const dropTotal = drops.reduce((a, [, n]) => a + n, 0);
  lines.push(`wasmvs top — ${socket} — ${new Date(v.at).toLocaleTimeString()}   (q quits)`);
  lines.push(`connections ${v.connections.count} of ${v.connections.capacity} (${(used * 100).toFixed(1)}%)   frames in ${v.counters.rxFrames} out ${v.counters.txFrames}   forwarded ${v.counters.forwarded}   dropped ${dropTotal}`);
  for (const i of v.vrrp) lines.push(`VRRP ${i.name} (VRID ${i.vrid}) ${i.state} priority ${i.priority} on ${i.interface}${i.master ? `, master ${i.master}` : ""}${i.faults.length ? `, faults: ${i.faults.join(", ")}` : ""}`);
  lines.push("");
  const row = (a: string, fwd: string, w: string, act: string, inact: string, conns: string, cps: string, inpps: string, outpps: string, inbps: string, outbps: string) =>
    `${a.padEnd(32)} ${fwd.padEnd(7)} ${w.padStart(6)} ${act.padStart(7)} ${inact.padStart(7)} ${conns.padStart(9)} ${cps.padStart(7)} ${inpps.padStart(8)} ${outpps.padStart(8)} ${inbps.padStart(8)} ${outbps.padStart(8)}`;
  lines.push(row("Prot LocalAddress:Port", "Forward", "Weight", "Active", "InAct", "Conns", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"));
  lines.push(row("  -> RemoteAddress:Port", "", "", "", "", "", "", "", "", "", ""));
  const health = new Map(v.health.map((h) => [`${h.service} ${h.server}`, h]));
  for (const s of v.table.services) {
    const active = s.realServers.reduce((a, r) => a + r.active, 0);
    const inactive = s.realServers.reduce((a, r) => a + r.inactive, 0);
    lines.push(row(`${name(s)} ${s.scheduler}`, "", "", String(active), String(inactive), String(s.stats.conns), human(s.rates.cps), human(s.rates.inpps), human(s.rates.outpps), human(s.rates.inbps), human(s.rates.outbps)));
    const hkey = s.fwmark !== undefined ? `fwm ${s.fwmark}` : `${s.protocol} ${s.address}:${s.port}`;
    for (const r of s.realServers) {
      const h = health.get(`${hkey} ${r.address}:${r.port}`);
      lines.push(row(`  -> ${hostPort(r.address, r.port)}`, FWD[r.method], String(r.weight), String(r.active), String(r.inactive), String(r.stats.conns),
        human(r.rates.cps), human(r.rates.inpps), human(r.rates.outpps), human(r.rates.inbps), human(r.rates.outbps)) + (h && !h.alive ? `  DOWN: ${h.reason}` : ""));
    }
    // Servers health checking took out of the table (keepalived removes a failed server unless
    // inhibit_on_failure): listed as the dashboard lists them, so that a failure does not just vanish.
    const listed = new Set(s.realServers.map((r) => `${r.address}:${r.port}`));
    for (const h of v.health.filter((x) => x.service === hkey && !listed.has(x.server))) {
      lines.push(`${`  -> ${h.server}`.padEnd(32)} ${h.alive ? "up" : `DOWN: ${h.reason}`}  (not in the table: taken out by its health check${since(h.sinceChangeS)})`);
    }
  }
  if (v.table.services.length === 0) lines.push("(no virtual services)");
  if (v.omitted) lines.push(`... and ${v.omitted.services} more services (${v.omitted.realServers} real servers) not shown: wasmvs -L -n lists them all`);
  lines.push("");
  lines.push(drops.length ? `drops: ${drops.map(([k, n]) => `${k} ${n}`).join(", ")}` : "drops: none");
  // Reasons quote checked servers: no byte of theirs may move the cursor or retitle the window.
  return lines.map((l) => printable(l)).map((l) => (l.length > width ? l.slice(0, width) : l));
}

async function fetchView(socket: string): Promise<LiveView> {
  const r = await request(socket, { op: "view" }) as { ok: boolean; view?: LiveView; error?: string; status?: number };
  if (!r.ok || !r.view) throw new IpvsadmError(r.error ?? "the director sent no view (is it older than this wasmvs?)", r.status ?? 2);
  return r.view;
}

export async function top(o: TopOptions): Promise<number> {
  const out = process.stdout;
  if (o.once || !out.isTTY) {
    // Not a terminal (or asked for one frame): print once, as a listing.
    out.write(renderTop(await fetchView(o.socket), o.socket, 200).join("\n") + "\n");
    return 0;
  }
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => { stop = resolve; });
  const stdin = process.stdin;
  const keys = (d: Buffer) => { if (d.includes(0x71) || d.includes(0x51) || d.includes(0x03)) stop(); };
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", keys);
  }
  process.once("SIGINT", () => stop());
  process.once("SIGTERM", () => stop());
  // The alternate screen, cursor hidden; both given back however top ends.
  out.write("\x1b[?1049h\x1b[?25l");
  const restore = () => {
    out.write("\x1b[?25h\x1b[?1049l");
    if (stdin.isTTY) { stdin.setRawMode(false); stdin.pause(); stdin.off("data", keys); }
  };
  let error: unknown;
  try {
    let done = false;
    stopped.then(() => { done = true; });
    while (!done) {
      let screen: string[];
      try {
        screen = renderTop(await fetchView(o.socket), o.socket, out.columns ?? 120);
      } catch (e) {
        if (!(e instanceof IpvsadmError)) throw e;
        screen = [`wasmvs top — ${o.socket}`, "", e.message, "", "(retrying; q quits)"];
      }
      out.write("\x1b[H\x1b[2J" + screen.slice(0, Math.max(1, (out.rows ?? 40) - 1)).join("\r\n"));
      await Promise.race([stopped, new Promise((r) => setTimeout(r, o.intervalMs))]);
    }
  } catch (e) {
    error = e;
  } finally {
    restore();
  }
  if (error) throw error;
  return 0;
}
