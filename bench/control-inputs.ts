// The inputs of `npm run bench:control` (bench/control.bench.ts): N services × 10 real
// servers in the three forms a director takes them — an ipvsadm-rules file (`wasmvs run
// --config FILE`), a keepalived.conf with wasmvs's director block, and ipvsadm-save lines
// for `wasmvs -R` — for the namespace sandbox of host/sandbox/sandbox.ts (TAPs wvo and wvi
// in the bridges bo and bi).
//
// Service 0 is VIP:80, the one the client's requests go through; its ten real servers are
// the sandbox's three servers on ports 8080-8089 (server k % 3, port 8080 + k). The other
// services sit on ports of a few VIPs (60,000 ports each: 10.0.0.100, .101, ...), as
// kube-proxy's NodePorts share an address, so that a large table does not also mean tens of
// thousands of addresses for the engine to announce with gratuitous ARP; their real servers
// are the same ten endpoints (a real server belongs to its service, as in IPVS: each is an
// entry of its own). Pure functions: the unit test checks them with `wasmvs check`.

import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, ROUTER_OUT, serverAddress, VIP } from "../host/sandbox/sandbox.js";

/** Real servers per service (the "× 10"). */
export const SERVERS_PER_SERVICE = 10;
/** Ports per VIP for services 1..N-1. */
const PORTS_PER_VIP = 60_000;
const FIRST_PORT = 1024;
/** The connection table of every generated director (as the sandbox's own configurations). */
const CONNECTIONS = 262_144;

/** The size settings of the director block (helper A's names, issue 19), in both syntaxes. */
export const SIZE_KEYWORDS = { services: "max_services", realServers: "max_real_servers" } as const;

export interface InputOptions {
  /** Emit max_services and max_real_servers for the size (refused by a wasmvs without them). */
  sizeKeywords: boolean;
  /** The services to size the tables for, when not the file's own count (a file started
   *  empty and reloaded to n services). */
  capacity?: number;
}

export interface Endpoint {
  /** "VIP:PORT" as ipvsadm writes a TCP service. */
  service: string;
  /** "ADDRESS:PORT" */
  server: string;
}

const vipOf = (k: number) => {
  const [a, b, c, d] = VIP.split(".").map(Number);
  return `${a}.${b}.${c}.${d + k}`;
};

/** Service i's "VIP:PORT". */
export function serviceAddress(i: number): string {
  if (i === 0) return `${VIP}:80`;
  return `${vipOf(Math.floor((i - 1) / PORTS_PER_VIP))}:${FIRST_PORT + ((i - 1) % PORTS_PER_VIP)}`;
}

/** Real server k of every service: the sandbox's server k % 3 on port 8080 + k. */
export function realServerAddress(k: number): string {
  return `${serverAddress(k % 3)}:${8080 + k}`;
}

/** The ports the sandbox's servers listen on. */
export const SERVER_PORTS = Array.from({ length: SERVERS_PER_SERVICE }, (_, k) => 8080 + k);

/** The k-th real server counted across services 1.. (service 0 carries the traffic and is never changed). */
export function changedServer(k: number): Endpoint {
  return { service: serviceAddress(1 + Math.floor(k / SERVERS_PER_SERVICE)), server: realServerAddress(k % SERVERS_PER_SERVICE) };
}

/** How many servers of services 1.. a change of `wanted` servers can touch at size n. */
export const changeable = (n: number, wanted: number) => Math.min(wanted, (n - 1) * SERVERS_PER_SERVICE);

/** Weight of every server: 1, or what `weights` says for "service|server". */
type Weights = Map<string, number>;
const weightOf = (w: Weights | undefined, service: string, server: string) => w?.get(`${service}|${server}`) ?? 1;

/** Weights where the first `count` changeable servers get `weight`. */
export function changedWeights(n: number, count: number, weight: number): Weights {
  const w: Weights = new Map();
  for (let k = 0; k < changeable(n, count); k++) {
    const e = changedServer(k);
    w.set(`${e.service}|${e.server}`, weight);
  }
  return w;
}

function sizeLines(n: number, o: InputOptions, indent: string): string[] {
  if (!o.sizeKeywords) return [];
  n = o.capacity ?? n;
  return [`${indent}${SIZE_KEYWORDS.services} ${n}`, `${indent}${SIZE_KEYWORDS.realServers} ${n * SERVERS_PER_SERVICE}`];
}

/** ipvsadm-save lines for n services (what `wasmvs -R` reads), weights as given. */
export function restoreLines(n: number, weights?: Weights): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = serviceAddress(i);
    out.push(`-A -t ${s} -s rr`);
    for (let k = 0; k < SERVERS_PER_SERVICE; k++) {
      const r = realServerAddress(k);
      out.push(`-a -t ${s} -r ${r} -m -w ${weightOf(weights, s, r)}`);
    }
  }
  return out.length ? out.join("\n") + "\n" : "";
}

/** An ipvsadm-rules file: the director's interfaces, then n services. */
export function rulesFile(n: number, o: InputOptions, weights?: Weights): string {
  return [
    "# bench:control: the director (sandbox TAPs), then ipvsadm-save -n lines",
    `interface 0 name outside tap wvo bridge bo mac ${OUT_MAC} address ${DIRECTOR_OUT}/24 mtu 1500`,
    `interface 1 name inside tap wvi bridge bi mac ${IN_MAC} address ${DIRECTOR_IN}/24 mtu 1500`,
    `route default via ${ROUTER_OUT}`,
    `connections ${CONNECTIONS}`,
    ...sizeLines(n, o, ""),
  ].join("\n") + "\n" + restoreLines(n, weights);
}

export interface FlipOptions {
  /** Servers (counted as changedServer counts them) with a FILE_CHECK on trackFile. */
  flipping: number;
  /** The tracked file's path (a number: 0 up, anything else down, FILE_CHECK weight 0). */
  trackFile: string;
}

/** A keepalived.conf with wasmvs's director block and n virtual servers; with flips, the
 *  first `flipping` servers of services 1.. are checked by FILE_CHECK on one tracked file
 *  (read every second: delay_loop 1). */
export function keepalivedConf(n: number, o: InputOptions, flips?: FlipOptions, weights?: Weights): string {
  const lines = [
    "# bench:control: keepalived.conf with wasmvs's director block",
    "director {",
    "  interface outside {", "    tap wvo", "    bridge bo", `    mac ${OUT_MAC}`, `    address ${DIRECTOR_OUT}/24`, "  }",
    "  interface inside {", "    tap wvi", "    bridge bi", `    mac ${IN_MAC}`, `    address ${DIRECTOR_IN}/24`, "  }",
    `  default_gateway ${ROUTER_OUT}`,
    `  connection_table_size ${CONNECTIONS}`,
    ...sizeLines(n, o, "  "),
    "}",
  ];
  if (flips) lines.push("track_file flip {", `  file ${flips.trackFile}`, "  weight 0", "}");
  const flipped = new Set<string>();
  if (flips) for (let k = 0; k < changeable(n, flips.flipping); k++) { const e = changedServer(k); flipped.add(`${e.service}|${e.server}`); }
  for (let i = 0; i < n; i++) {
    const s = serviceAddress(i);
    const [vip, port] = s.split(":");
    lines.push(`virtual_server ${vip} ${port} {`, "  lb_algo rr", "  lb_kind NAT", "  protocol TCP");
    if (flips && i > 0 && i <= Math.ceil(flips.flipping / SERVERS_PER_SERVICE)) lines.push("  delay_loop 1");
    for (let k = 0; k < SERVERS_PER_SERVICE; k++) {
      const r = realServerAddress(k);
      const [ra, rp] = r.split(":");
      // keepalived's grammar is a line's: a block inside a block opens on a line of its own.
      if (flipped.has(`${s}|${r}`)) lines.push(`  real_server ${ra} ${rp} {`, `    weight ${weightOf(weights, s, r)}`, "    FILE_CHECK {", "      track_file flip", "    }", "  }");
      else lines.push(`  real_server ${ra} ${rp} { weight ${weightOf(weights, s, r)} }`);
    }
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}
