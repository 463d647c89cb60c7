// Which words of each syntax name what wasmvs does not do yet (features.ts names the
// features): ipvsadm's options, keepalived's keywords (checkers, VRRP, routes), each refused
// where it is written with the same words whichever syntax asked — never ignored.
// keepalived-keywords.ts classifies every keyword of keepalived's parser tables besides.

import type { Missing } from "./features.js";
import type { CheckerKind } from "./health.js";

/** ipvsadm's options for features wasmvs does not have: refused with a message, never ignored. */
export const IPVSADM_NOT_YET: Readonly<Record<string, Missing>> = {
  pe: "persistenceEngines", "tun-port": "tunnelTypes", "tun-nocsum": "tunnelTypes",
  "tun-csum": "tunnelTypes", "tun-remcsum": "tunnelTypes", "tun-info": "tunnelInfo", sctp: "sctp", "sctp-service": "sctp",
};

/** keepalived's keywords for features wasmvs does not have yet, wherever they are written
 *  (host/config/keepalived-keywords.ts classifies every keyword by block). */
export const KEEPALIVED_NOT_YET: Readonly<Record<string, Missing>> = {
  BFD_CHECK: "bfd", bfd_instance: "bfd",
  static_rules: "staticRouting",
  vrrp_strict: "vrrpStrict",
  persistence_engine: "persistenceEngines",
  local_address_group: "fullNat",
};

/** A vrrp_instance's keywords wasmvs does not have yet, with why. */
export const VRRP_NOT_YET: Readonly<Record<string, string>> = {
  virtual_rules: "virtual_rules are not supported by wasmvs yet (the engine has no policy routing)",
  strict_mode: "strict_mode is not supported by wasmvs yet",
  no_accept: "no_accept is not supported by wasmvs yet (the master always takes its addresses' traffic, as keepalived outside strict mode)",
};

/** ip route's words (static_routes, virtual_routes) beyond what the engine's routes have. */
export const ROUTE_NOT_YET: readonly string[] = ["table", "metric", "blackhole", "unreachable", "prohibit", "throw", "or", "proto", "protocol", "onlink", "no_track",
  "realms", "mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh", "initcwnd", "initrwnd", "features", "quickack",
  "congctl", "pref", "expires", "fastopen_no_cookie", "tos", "dsfield", "type", "nexthop", "encap", "via6"];
export const routeWordNotYet = (word: string): string =>
  `${word} is not supported by wasmvs yet (the engine's routes have a destination, a gateway and an interface)`;

/** A checker's keywords wasmvs does not have (yet), with why. */
export const CHECKER_NOT_YET: Readonly<Record<string, string>> = {
  bind_if: "bind_if (binding a checker to an interface) is not supported by wasmvs yet: use bindto with the address of that interface",
  fwmark: "a checker's fwmark (SO_MARK on its socket) is not supported by wasmvs yet",
  tls_compliant: "tls_compliant is not supported by wasmvs yet (its TLS client always ends sessions with close_notify)",
  regex_options: "regex_options (PCRE2 options) are not supported by wasmvs: regex is matched by RE2's rules (host/health/regex.ts); write flags in the pattern, e.g. (?i)",
  regex_min_offset: "regex_min_offset is not supported by wasmvs yet", regex_max_offset: "regex_max_offset is not supported by wasmvs yet",
  regex_stack: "regex_stack is not supported by wasmvs (no PCRE2 JIT stack to size)",
};

/** Checkers whose library or tool cannot choose the source port. */
export const CHECKER_NO_BIND_PORT: Readonly<Partial<Record<CheckerKind, string>>> = {
  DNS_CHECK: "bind_port is not supported by wasmvs for DNS_CHECK (Node's resolver chooses its source port; bindto works)",
  SMTP_CHECK: "bind_port is not supported by wasmvs for SMTP_CHECK (its SMTP client chooses its source port; bindto works)",
};

/** The connection sync daemon's group (ipvsadm --mcast-group, keepalived's lvs_sync_daemon). */
export const SYNC_GROUP_NOT_YET = "a multicast group other than IPVS's 224.0.0.81 is not supported by wasmvs yet (a unicast address is)";
