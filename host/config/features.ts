// What wasmvs does not do yet, and IPVS's schedulers: one table each, read by every
// syntax (ipvsadm's options, keepalived's keywords: not-yet.ts says which words name
// which), so that a feature is named and refused the same way wherever it is asked for —
// never ignored.

import { SCHEDULERS } from "../engine/index.js";

/** Features of IPVS and keepalived that wasmvs does not have yet: the name a refusal
 *  gives, and whether it takes "are". */
export const MISSING = {
  bfd: ["BFD checking", false],
  vrrpStrict: ["VRRP strict mode", false],
  staticRouting: ["static rules (policy routing)", true],
  persistenceEngines: ["persistence engines", true],
  ipv6: ["IPv6", false],
  sctp: ["SCTP services", true],
  tunnelTypes: ["tunnel types other than ipip", true],
  tunnelInfo: ["tunnel information output", false],
  notifications: ["SNMP and D-Bus notifications", true],
  fullNat: ["full NAT", false],
  conditional: ["conditional configuration (@ prefixes)", false],
  definitions: ["parameter definitions and sequences ($NAME=..., ~SEQ)", true],
} as const;
export type Missing = keyof typeof MISSING;

/** "X is (are) not supported by wasmvs yet". */
export function notSupported(f: Missing): string {
  const [name, plural] = MISSING[f];
  return `${name} ${plural ? "are" : "is"} not supported by wasmvs yet`;
}

/** Whether the engine forwards IPv6 (issue 20): NAT and DR for IPv6 services with IPv6 real
 *  servers (engine/forward6.ts). What of IPv6 it does not do yet is refused where the
 *  configuration reaches the engine, at its word (ip6ServiceRefusal, ip6ServerRefusal). */
export const ENGINE_FORWARDS_IPV6 = true;

/** Why an IPv6 service or real server (what: "service [2001:db8::1]:80") is refused. */
export const ip6NotInEngine = (what: string): string =>
  `${what}: IPv6 forwarding is not in wasmvs's engine yet (the address is read and checked; nothing is set up for it)`;

/** Why a reload or a control-socket command cannot add, change or remove an IPv6 service or
 *  real server yet (what names it): the change set's packing carries IPv4 words only. */
export const ip6NotInChangeSet = (what: string): string =>
  `${what}: IPv6 services are set up when wasmvs starts; a reload or a command cannot add, change or remove one yet (restart wasmvs)`;

/** What the engine cannot set up yet of an IPv6 service (what names it): a firewall-mark one,
 *  a persistent one (templates are IPv4 so far), and so a port-zero one. Undefined: it can. */
export function ip6ServiceRefusal(svc: { vaddr: unknown; fwmark?: number; port?: number; persistence?: unknown }, what: string): string | undefined {
  if (typeof svc.vaddr === "number" && svc.fwmark === undefined) return undefined;
  if (!ENGINE_FORWARDS_IPV6) return ip6NotInEngine(what);
  if (svc.fwmark !== undefined) return typeof svc.vaddr === "number" ? undefined : `${what}: IPv6 firewall-mark services are not in wasmvs's engine yet`;
  if (svc.persistence) return `${what}: persistence for IPv6 services is not in wasmvs's engine yet`;
  return undefined;
}

/** What the engine cannot set up yet of a real server (what names it) of a service at
 *  vaddr: an IPv6 one behind a tunnel, or any tunnel between the families (ip6ip6, 4in6,
 *  6in4 are not in the engine yet). Undefined: it can. */
export function ip6ServerRefusal(vaddr: unknown, daddr: unknown, method: string | undefined, what: string): string | undefined {
  const v6 = typeof daddr !== "number" || (vaddr !== undefined && typeof vaddr !== "number");
  if (!v6) return undefined;
  if (!ENGINE_FORWARDS_IPV6) return ip6NotInEngine(what);
  if (method === "tun" || method === "ipip") return `${what}: IPv6 tunnels (ip6ip6, 4in6, 6in4) are not in wasmvs's engine yet; NAT and DR forward IPv6`;
  return undefined;
}

/** Every scheduler IPVS has (net/netfilter/ipvs/ip_vs_*.c). */
export const IPVS_SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"] as const;

/** Why a scheduler name cannot be used, or undefined when wasmvs has it. */
export function schedulerProblem(name: string): { known: boolean; reason: string } | undefined {
  if ((SCHEDULERS as string[]).includes(name)) return undefined;
  const supported = SCHEDULERS.join(", ");
  return (IPVS_SCHEDULERS as readonly string[]).includes(name)
    ? { known: true, reason: `scheduler ${name} is not supported by wasmvs yet (supported: ${supported})` }
    : { known: false, reason: `unknown scheduler (supported: ${supported})` };
}
