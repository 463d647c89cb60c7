// `wasmvs -L --vrrp`: each VRRP instance's state, priorities, master and why it is in FAULT
// — wasmvs's own view (keepalived has none but its SIGUSR1 dump).

import type { VrrpInstance } from "./state.js";

export type VrrpView = ReturnType<VrrpInstance["view"]>;

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

export function formatVrrp(views: VrrpView[]): string {
  const out = [`${pad("Instance", 16)} ${pad("State", 7)} ${pad("VRID", 4)} ${pad("Interface", 10)} ${pad("Priority", 9)} ${pad("Master", 15)} ${pad("Adverts in/out", 15)} Faults`];
  for (const v of views) {
    const prio = v.priority === v.basePriority ? String(v.priority) : `${v.priority}(${v.basePriority})`;
    out.push(`${pad(v.name, 16)} ${pad(v.state, 7)} ${pad(String(v.vrid), 4)} ${pad(v.interface, 10)} ${pad(prio, 9)} ${pad(v.master ?? "-", 15)} ` +
      `${pad(`${v.counts.received}/${v.counts.sent}`, 15)} ${v.faults.length ? v.faults.join(", ") : "-"}`);
    for (const [k, n] of Object.entries(v.counts)) {
      if (n && !["received", "sent", "becameMaster"].includes(k)) out.push(`  -> dropped: ${k} ${n}`);
    }
    // Measured on the data-path thread that sends them (issue 16: p99 under 20 ms under load).
    const l = v.advertLateness;
    if (l?.count) out.push(`  -> adverts late by: last ${l.lastMs.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(1)} ms, max ${l.maxMs.toFixed(1)} ms (${l.count} scheduled adverts)`);
  }
  return out.join("\n") + "\n";
}
