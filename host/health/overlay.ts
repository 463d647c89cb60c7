// What the engine holds for a configuration, given what health checking knows: the
// configuration says which real servers a virtual server has; health decides which of
// them take traffic and with what weight, and when the sorry server stands in. Kept
// apart from the configuration, so that a reload or an ipvsadm command never revives a
// server that is down, and a server that comes back gets its configured weight.
//
//   down, no inhibit_on_failure   -> not in the engine (IPVS DELDEST)
//   down, inhibit_on_failure      -> in the engine with weight 0
//   alive                         -> weight = configured + checker weights
//   quorum lost, sorry server     -> alive servers out (or weight 0 with inhibit), sorry server in
//   quorum up, sorry_server_inhibit -> the sorry server stays, with weight 0

import type { DirectorConfig, RealServerConfig, ServiceConfig } from "../config/rules.js";
import { serverKey, serviceKey } from "../config/model.js";
import { uncheckedServices } from "../config/health.js";

/** What health checking knows about a server (alive, and what its checkers add to its
 *  configured weight) or a virtual server (quorum); undefined: nothing yet. */
export interface HealthView {
  server(service: string, server: string): { alive: boolean; add: number } | undefined;
  quorumUp(service: string): boolean | undefined;
  /** True where only a checker's result takes a server out or changes its weight (health
   *  checking's own view, and INITIAL): then a service with neither a checker nor a sorry
   *  server is the file's as it is, unread (healthHasSay). A view that may say otherwise of
   *  a server without checkers (a test's) leaves it out. */
  readonly onlyCheckersDecide?: boolean;
}

/** Before any check ran: servers with an alpha checker are down, others alive with their weight. */
export const INITIAL: HealthView = { server: () => undefined, quorumUp: () => undefined, onlyCheckersDecide: true };

/** A server's state before any check: down when a checker starts in alpha mode. */
export function initialServer(r: RealServerConfig): { alive: boolean; add: number } {
  return { alive: !(r.health?.checkers ?? []).some((c) => c.alpha), add: 0 };
}

/** The weight of a server its checkers add to (IPVS's range). */
export const checkedWeight = (configured: number, add: number) => Math.max(0, Math.min(65535, configured + add));

/** Whether health checking can make the engine hold s otherwise than the file says: a
 *  checker on one of its servers (only a checker's result takes a server out or changes
 *  its weight), or a sorry server (quorum decides whether it stands in). Without either,
 *  every server is alive at its configured weight whatever health knows, and quorum only
 *  runs scripts (keepalived's check_data.c: a virtual server without checkers keeps all
 *  its real servers). A keepalived.conf of 10,000 virtual servers with no checker then
 *  costs a walk, not a copy of each service (issue 19: ~0.3 s of its start). */
export function healthHasSay(s: ServiceConfig): boolean {
  const h = s.health;
  if (!h) return false;
  if (h.sorry) return true;
  if (uncheckedServices.has(s)) return false;
  const servers = s.realServers;
  for (let i = 0; i < servers.length; i++) if (servers[i].health?.checkers.length) return true;
  return false;
}

/** One service as the engine is to hold it (itself when health checking has no say in it). */
export function effectiveService(s: ServiceConfig, view: HealthView): ServiceConfig {
  const h = s.health;
  if (!h || (view.onlyCheckersDecide && !healthHasSay(s))) return s;
  const key = serviceKey(s);
  const states = s.realServers.map((r) => {
    const st = view.server(key, serverKey(r)) ?? initialServer(r);
    return { r, alive: st.alive, weight: checkedWeight(r.weight, st.add) };
  });
  const live = states.reduce((sum, st) => sum + (st.alive ? st.weight : 0), 0);
  const quorumUp = view.quorumUp(key) ?? live >= h.quorum + h.hysteresis;
  const sorryIn = !quorumUp && h.sorry !== undefined;
  const out: RealServerConfig[] = [];
  for (const { r, alive, weight } of states) {
    const inhibit = r.health?.inhibit ?? false;
    if (!alive || sorryIn) {
      if (inhibit) out.push({ ...r, weight: 0 });
    } else out.push(weight === r.weight ? r : { ...r, weight });
  }
  if (h.sorry && (sorryIn || h.sorry.inhibit) && !out.some((r) => r.address === h.sorry!.address && r.port === h.sorry!.port)) {
    out.push({ address: h.sorry.address, daddr: h.sorry.daddr, port: h.sorry.port, method: h.sorry.method, weight: sorryIn ? 1 : 0, uthreshold: 0, lthreshold: 0, line: h.sorry.line });
  }
  // Every server in, at its configured weight (the common case): the service itself, so that a
  // change set sees it unchanged by a pointer compare (a reload, a refresh of the whole table).
  if (out.length === s.realServers.length && out.every((r, i) => r === s.realServers[i])) return s;
  return { ...s, realServers: out };
}

/** The configuration as the engine is to hold it. */
export function effective(cfg: DirectorConfig, view: HealthView = INITIAL): DirectorConfig {
  if (!cfg.services.some(view.onlyCheckersDecide ? healthHasSay : (s) => s.health !== undefined)) return cfg;
  return { ...cfg, services: cfg.services.map((s) => effectiveService(s, view)) };
}
