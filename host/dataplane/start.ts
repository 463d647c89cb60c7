// A configuration as the data-path thread's engine is first loaded with it: its start set
// (host/engine/start.ts), made on the control plane's side. The thread gets the engine's
// arguments, not the configuration model: no parse, position or health state crosses, and
// the thread runs no configuration code.

import { syncKeyBytes, vrrpSpecs, type DirectorConfig } from "../config/director.js";
import { packServices, type StartSet } from "../engine/start.js";
import { directorParts } from "./changeset.js";

/**
 * cfg's start set. Throws where cfg cannot load whole (a value the engine refuses, a route
 * or neighbour on no interface, no interface at all): the caller then proves the file on a
 * scratch engine (applyConfig), which says every error at its file:line:column.
 */
export function startSetOf(cfg: DirectorConfig): StartSet {
  if (cfg.interfaces.length === 0 && cfg.format !== "keepalived") throw new Error("no interface defined");
  const parts = directorParts(cfg);
  const key = syncKeyBytes(cfg);
  const sync = cfg.syncDaemon;
  return {
    interfaces: cfg.interfaces.map((i) => ({ index: i.index, mac: i.mac, mtu: i.mtu, ...(i.address !== undefined ? { address: i.address } : {}), ...(i.net6 ? { net6: i.net6 } : {}) })),
    routes: parts.routes,
    neighbours: parts.neighbours,
    ...(cfg.timeouts ? { timeouts: { tcp: cfg.timeouts.tcp, tcpfin: cfg.timeouts.tcpfin, udp: cfg.timeouts.udp } } : {}),
    rejectUnknown: parts.rejectUnknown,
    expireQuiescentTemplate: parts.expireQuiescentTemplate,
    marks: parts.marks,
    vrrp: vrrpSpecs(cfg),
    ...(sync ? { sync: { ifindex: sync.ifindex, syncid: sync.syncid, maxlen: sync.maxlen, ...(sync.peer !== undefined ? { peer: sync.peer } : {}) } } : {}),
    ...(cfg.syncTableShare ? { syncTableShare: cfg.syncTableShare.percent } : {}),
    ...(key ? { syncAuthKey: key } : {}),
    expireNodestConn: parts.expireNodestConn,
    sloppyTcp: parts.sloppyTcp,
    services: packServices(cfg.services),
  };
}

/** What the thread's VRRP state machines read of cfg (instances, groups, static addresses,
 *  sync daemon, interfaces): everything but the services, as a reload sends it (changeset.ts). */
export const vrrpConfigOf = (cfg: DirectorConfig): DirectorConfig => ({ ...cfg, services: [] });
