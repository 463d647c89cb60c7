// `wasmvs -L --health`: each checked real server's state, last result, time since its last
// change and why — wasmvs's own view (ipvsadm's listings keep their exact formats).

import type { ServerHealthView } from "./service.js";
import { printable } from "../config/printable.js";

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

export function formatHealth(views: ServerHealthView[]): string {
  const out = [`${pad("Prot LocalAddress:Port", 24)} ${pad("RemoteAddress:Port", 22)} ${pad("State", 5)} ${pad("Weight", 6)} ${pad("Since", 8)} Reason`];
  for (const v of views) {
    const [prot, vip] = v.service.split(" ");
    const since = v.sinceChangeS === undefined ? "start" : `${v.sinceChangeS}s`;
    out.push(`${pad(`${prot.toUpperCase()}  ${vip}`, 24)} ${pad(v.server, 22)} ${pad(v.alive ? "UP" : "DOWN", 5)} ${pad(String(v.weight), 6)} ${pad(since, 8)} ${v.reason}`);
    for (const c of v.checkers) {
      const last = c.last === undefined ? "not run yet" : `${c.lastOk ? "ok" : "failed"}: ${c.last}${c.latencyMs !== undefined ? ` (${Math.round(c.latencyMs)} ms)` : ""}`;
      out.push(`  -> ${pad(c.kind, 10)} ${pad(c.target, 22)} ${pad(c.up ? "up" : "down", 5)} ${last}`);
    }
  }
  // Reasons quote checked servers: escaped again here, whatever director sent them.
  return out.map((l) => printable(l)).join("\n") + "\n";
}
