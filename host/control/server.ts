// The daemon's control interface: a Unix domain socket (mode 0600, root only, by
// default /run/wasmvs.sock). One JSON object per line each way:
//
//   {"op":"table"}                      -> {"ok":true,"table":{size,timeouts,services:[...]}}
//   {"op":"connections"}                -> {"ok":true,"connections":[...]}
//   {"op":"apply","commands":[...]}     -> {"ok":true}            ipvsadm commands, all or none
//   {"op":"zero","service":{...}?}      -> {"ok":true}
//   {"op":"reload"}                     -> {"ok":true,"changes":[...]}
//   errors                              -> {"ok":false,"error":"No such service","status":255}
//
// "apply" carries commands as parsed from ipvsadm's command line (host/control/ipvsadm.ts
// Parsed). They are applied to a copy of the running configuration, the copy is
// checked in full on a scratch engine, and only then is the difference applied: a
// batch (ipvsadm -R) takes effect entirely or not at all.

import { createServer, Server, Socket } from "node:net";
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { Engine } from "../engine/index.js";
import { ConfigError, DirectorConfig, RealServerConfig, ServiceConfig } from "./rules.js";
import { reload } from "./reload.js";
import { Estimator } from "./estimator.js";
import { IpvsadmError, Parsed, ServiceKey, TableView } from "./ipvsadm.js";

export const DEFAULT_SOCKET = "/run/wasmvs.sock";

export interface ControlHost {
  engine: Engine;
  estimator: Estimator;
  config(): DirectorConfig;
  setConfig(c: DirectorConfig): void;
  reloadFile(): Promise<string[]>;
  log(line: string): void;
}

const sameService = (s: { protocol: string; address: string; port: number }, k: ServiceKey) =>
  s.protocol === k.protocol && s.address === k.address && s.port === k.port;

/** ipvsadm semantics on the configuration model; throws IpvsadmError as ipvsadm reports. */
export function applyCommand(cfg: DirectorConfig, p: Parsed): DirectorConfig {
  const next: DirectorConfig = { ...cfg, services: cfg.services.map((s) => ({ ...s, realServers: s.realServers.map((r) => ({ ...r })) })) };
  const find = () => next.services.find((s) => sameService(s, p.service!));
  switch (p.command) {
    case "add-service": {
      if (find()) throw new IpvsadmError("Service already exists", 255);
      next.services.push({ ...p.service!, scheduler: (p.scheduler ?? "wlc") as ServiceConfig["scheduler"], realServers: [], line: 0 });
      break;
    }
    case "edit-service": {
      const s = find();
      if (!s) throw new IpvsadmError("No such service", 255);
      s.scheduler = (p.scheduler ?? "wlc") as ServiceConfig["scheduler"];
      break;
    }
    case "delete-service": {
      if (!find()) throw new IpvsadmError("No such service", 255);
      next.services = next.services.filter((s) => !sameService(s, p.service!));
      break;
    }
    case "flush":
      next.services = [];
      break;
    case "add-server":
    case "edit-server":
    case "delete-server": {
      const s = find();
      if (!s) throw new IpvsadmError("Service not defined", 255);
      const port = p.server!.port ?? s.port;
      const i = s.realServers.findIndex((r) => r.address === p.server!.address && r.port === port);
      if (p.command === "delete-server") {
        if (i < 0) throw new IpvsadmError("No such destination", 255);
        s.realServers.splice(i, 1);
        break;
      }
      if (p.command === "add-server" && i >= 0) throw new IpvsadmError("Destination already exists", 255);
      if (p.command === "edit-server" && i < 0) throw new IpvsadmError("No such destination", 255);
      // ipvsadm fills what is not given with its defaults, for -e as for -a.
      const r: RealServerConfig = {
        address: p.server!.address, port, method: p.method ?? "dr", weight: p.weight ?? 1,
        uthreshold: p.uthreshold ?? 0, lthreshold: p.lthreshold ?? 0, line: 0,
      };
      if (i >= 0) s.realServers[i] = r;
      else s.realServers.push(r);
      break;
    }
    case "set": {
      const old = cfg.timeouts;
      const t = p.timeouts!;
      next.timeouts = { tcp: t.tcp || old?.tcp || 0, tcpfin: t.tcpfin || old?.tcpfin || 0, udp: t.udp || old?.udp || 0, line: 0 };
      break;
    }
    default:
      throw new IpvsadmError(`'${p.command}' is not a change`, 2);
  }
  return next;
}

/** The table as ipvsadm shows it: services, real servers, statistics and rates (zero without an estimator). */
export function tableView(e: Engine, estimator?: Estimator): TableView {
  const num = (x: bigint) => Number(x);
  const rates = (key: string) => estimator?.rates(key) ?? { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
  return {
    size: e.connCapacity,
    timeouts: e.timeouts(),
    services: e.services().map((s) => {
      const key = `${s.protocol} ${s.address}:${s.port}`;
      return {
        protocol: s.protocol, address: s.address, port: s.port, scheduler: s.scheduler,
        stats: { conns: num(s.stats.conns), inpkts: num(s.stats.inpkts), outpkts: num(s.stats.outpkts), inbytes: num(s.stats.inbytes), outbytes: num(s.stats.outbytes) },
        rates: rates(key),
        realServers: s.realServers.map((r) => ({
          address: r.address, port: r.port, method: r.method, weight: r.weight, uthreshold: r.uthreshold, lthreshold: r.lthreshold,
          active: r.active, inactive: r.inactive,
          stats: { conns: num(r.stats.conns), inpkts: num(r.stats.inpkts), outpkts: num(r.stats.outpkts), inbytes: num(r.stats.inbytes), outbytes: num(r.stats.outbytes) },
          rates: rates(`${key} ${r.address}:${r.port}`),
        })),
      };
    }),
  };
}

/** One estimation tick over every service and real server (every 2 s, as IPVS). */
export function estimate(h: ControlHost): void {
  const keys = new Set<string>();
  for (const s of h.engine.services()) {
    const key = `${s.protocol} ${s.address}:${s.port}`;
    keys.add(key);
    h.estimator.update(key, s.stats);
    for (const r of s.realServers) {
      const k = `${key} ${r.address}:${r.port}`;
      keys.add(k);
      h.estimator.update(k, r.stats);
    }
  }
  h.estimator.retain(keys);
}

async function handle(h: ControlHost, req: { op?: string; commands?: Parsed[]; service?: ServiceKey }): Promise<unknown> {
  switch (req.op) {
    case "table":
      return { ok: true, table: tableView(h.engine, h.estimator) };
    case "connections":
      return { ok: true, connections: h.engine.connections(Math.floor(performance.now()) >>> 0) };
    case "apply": {
      let next = h.config();
      for (const c of req.commands ?? []) next = applyCommand(next, c);
      try {
        const r = await reload(h.engine, h.config(), next);
        h.setConfig(next);
        if (r.changes.length) h.log(`control: ${r.changes.join("; ")}`);
        return { ok: true, changes: r.changes };
      } catch (e) {
        if (e instanceof ConfigError) throw new IpvsadmError(e.reason, 255);
        throw e;
      }
    }
    case "zero": {
      if (req.service) {
        const idx = h.engine.findService(req.service.protocol, req.service.address, req.service.port);
        if (idx === undefined) throw new IpvsadmError("No such service", 255);
        h.engine.zeroStats(idx);
      } else h.engine.zeroStats();
      for (const s of h.engine.services()) {
        const key = `${s.protocol} ${s.address}:${s.port}`;
        h.estimator.zero(key, s.stats);
        for (const r of s.realServers) h.estimator.zero(`${key} ${r.address}:${r.port}`, r.stats);
      }
      return { ok: true };
    }
    case "reload":
      return { ok: true, changes: await h.reloadFile() };
    default:
      throw new IpvsadmError(`unknown request "${req.op}"`, 2);
  }
}

/** Listen on path (replacing a stale socket), root-only. */
export function startControl(h: ControlHost, path: string): Server {
  if (existsSync(path)) unlinkSync(path);
  let queue = Promise.resolve();
  const server = createServer((sock: Socket) => {
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        // Requests run one at a time, in arrival order: each applies atomically.
        queue = queue.then(async () => {
          let reply: unknown;
          try {
            reply = await handle(h, JSON.parse(line));
          } catch (e) {
            reply = e instanceof IpvsadmError ? { ok: false, error: e.message, status: e.status }
              : { ok: false, error: e instanceof SyntaxError ? "request is not JSON" : String((e as Error).message), status: 2 };
          }
          if (!sock.destroyed) sock.write(JSON.stringify(reply) + "\n");
        });
      }
    });
    sock.on("error", () => {});
  });
  server.listen(path, () => chmodSync(path, 0o600));
  return server;
}
