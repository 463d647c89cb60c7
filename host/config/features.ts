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

/** Whether the engine forwards IPv6 (issue 20): until it does, an IPv6 service or real server is
 *  refused where the configuration reaches the engine, its text read, checked and listed as
 *  IPVS would (the lead sets this at the merge of the engine's IPv6). */
export const ENGINE_FORWARDS_IPV6 = false;

/** Why an IPv6 service or real server (what: "service [2001:db8::1]:80") is refused. */
export const ip6NotInEngine = (what: string): string =>
  `${what}: IPv6 forwarding is not in wasmvs's engine yet (the address is read and checked; nothing is set up for it)`;

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
