// What health checking a configuration sets up, in a few lines (`wasmvs check`, the
// director's start log).

import type { DirectorConfig } from "../config/rules.js";
import { hostPort } from "../config/ipvsadm.js";

export function healthSummary(cfg: DirectorConfig): string[] {
  const kinds = new Map<string, number>();
  let servers = 0;
  for (const s of cfg.services) {
    for (const r of s.realServers) {
      const cs = r.health?.checkers ?? [];
      if (cs.length) servers++;
      for (const c of cs) kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
    }
  }
  if (!kinds.size && !cfg.services.some((s) => s.health?.sorry)) return [];
  const out = [`health checks: ${servers} real server(s) checked by ${[...kinds].map(([k, n]) => `${n} ${k}`).join(", ") || "no checker"}`];
  for (const s of cfg.services) {
    const h = s.health;
    if (!h) continue;
    const extras = [
      h.quorum !== 1 || h.hysteresis ? `quorum ${h.quorum} hysteresis ${h.hysteresis}` : "",
      h.sorry ? `sorry server ${hostPort(h.sorry.address, h.sorry.port)}${h.sorry.inhibit ? " (inhibited)" : ""}` : "",
      h.quorumUp || h.quorumDown ? "quorum scripts" : "", h.omega ? "omega" : "",
    ].filter(Boolean);
    if (extras.length) out.push(`  ${s.protocol.toUpperCase()} ${hostPort(s.address, s.port)}: ${extras.join(", ")}`);
  }
  const g = cfg.health;
  if (g?.smtpServer && g.notificationEmail.length) out.push(`  mail: state changes to ${g.notificationEmail.join(", ")} through ${g.smtpServer.host}:${g.smtpServer.port}`);
  if (g?.scriptUser || g?.enableScriptSecurity) {
    out.push(`  scripts: as ${g.scriptUser?.user ?? "root"}${g.enableScriptSecurity ? ", enable_script_security on" : ""}`);
  }
  return out;
}

