// Health checking as keepalived.conf describes it: the checkers of a real server, the
// settings of a virtual server that act on its health (quorum, sorry server, alpha,
// omega, inhibit_on_failure, notifications), and global_defs' part (scripts, mail).
//
// Plain data, resolved by the parser: every checker carries its final values, keepalived's
// inheritance (virtual_server -> real_server -> checker) and defaults already applied
// (keepalived/check/check_parser.c, check_api.c; ../shared/HA-FACTS.md). Times are in
// milliseconds: wasmvs accepts fractions of a second where keepalived wants whole ones.

import type { IpAddr } from "../engine/addr.js";

/** The PATH scripts run with (and bare command names of vrrp_script are found in). */
/** Services the keepalived.conf reader made none of whose real servers has a checker. What it
 *  says stays true of the record: a configuration is not changed in place once made, and no
 *  command gives a server a checker (ipvsadm's -a adds a server without one, -e keeps a
 *  server's own). health/overlay.ts healthHasSay then answers without a walk of the servers
 *  (issue 19: at 10,000 services, 100,000 records read, a cache miss each, per walk). */
export const uncheckedServices = new WeakSet<object>();

export const SCRIPT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** keepalived's defaults, in one place (check_data.c, check_api.c, check_*.c). */
export const HEALTH_DEFAULTS = {
  delayLoopMs: 60_000,
  connectTimeoutMs: 5_000,
  retry: 1,
  retryMisc: 0,
  retryDns: 3,
  delayBeforeRetryMs: 1_000,
  delayBeforeRetryHttpMs: 3_000,
  quorum: 1,
  hysteresis: 0,
  httpStatus: [[200, 299]] as [number, number][],
  dnsType: "SOA",
  dnsName: ".",
  smtpHelo: "smtpchecker.keepalived.org",
  smtpConnectTimeoutMs: 30_000,
  /** A script that runs longer is killed (keepalived's default is delay_loop for MISC_CHECK). */
  notifyTimeoutMs: 30_000,
};

export const CHECKER_KINDS = ["TCP_CHECK", "HTTP_GET", "SSL_GET", "UDP_CHECK", "MISC_CHECK", "DNS_CHECK", "SMTP_CHECK", "PING_CHECK", "FILE_CHECK"] as const;
export type CheckerKind = (typeof CHECKER_KINDS)[number];

/** Where a keyword was written (for logs and errors). */
export interface Where {
  file: string;
  line: number;
  column: number;
}

/** A script as keepalived runs it: the command line as written, split into words. */
export interface Script {
  argv: string[];
  where: Where;
}

/** What every checker has (check_api.c). */
export interface CheckerBase {
  kind: CheckerKind;
  where: Where;
  connectIp: string;
  connectPort: number;
  bindto?: string;
  bindPort?: number;
  connectTimeoutMs: number;
  retry: number;
  delayBeforeRetryMs: number;
  delayLoopMs: number;
  warmupMs: number;
  alpha: boolean;
  logAllFailures: boolean;
}

export interface HttpUrl {
  path: string;
  /** MD5 of the body, lowercase hex. */
  digest?: string;
  /** Inclusive ranges; keepalived's default is 200-299. */
  statusCodes: [number, number][];
  regex?: string;
  regexNoMatch: boolean;
  virtualhost?: string;
}

export interface TcpChecker extends CheckerBase { kind: "TCP_CHECK" }
export interface HttpChecker extends CheckerBase {
  kind: "HTTP_GET" | "SSL_GET";
  urls: HttpUrl[];
  virtualhost?: string;
  /** "1.0" (keepalived's default, with Connection: close implied), "1.0C" (1.0 with Connection: close), "1.1", "0.9". */
  httpProtocol: "1.0" | "1.0C" | "1.1" | "0.9";
  /** Retry a failed check before delay_before_retry has passed, once the server was up. */
  fastRecovery: boolean;
  /** SSL_GET: the TLS server name (SNI); enable_sni sends the virtualhost. */
  sniName?: string;
  enableSni: boolean;
}
export interface UdpChecker extends CheckerBase {
  kind: "UDP_CHECK";
  payload?: string; // hex
  requireReply?: string | true; // hex, or any reply
  minReplyLength: number;
  maxReplyLength: number;
}
export interface MiscChecker extends CheckerBase {
  kind: "MISC_CHECK";
  script: Script;
  timeoutMs: number;
  dynamic: boolean;
  user?: string;
}
export interface DnsChecker extends CheckerBase {
  kind: "DNS_CHECK";
  type: string;
  name: string;
}
export interface SmtpChecker extends CheckerBase {
  kind: "SMTP_CHECK";
  helo: string;
  /** Each host is a checker of its own in keepalived (the block's settings, its own address). */
}
export interface PingChecker extends CheckerBase { kind: "PING_CHECK" }
export interface FileChecker extends CheckerBase {
  kind: "FILE_CHECK";
  trackFile: string;
  path: string;
  /** The file's number times this (0: non-zero means down); reverse negates it. */
  weight: number;
  reverse: boolean;
}

export type CheckerConfig = TcpChecker | HttpChecker | UdpChecker | MiscChecker | DnsChecker | SmtpChecker | PingChecker | FileChecker;

/** What a real_server block adds for health (besides weight and method). */
export interface ServerHealth {
  checkers: CheckerConfig[];
  /** Weight 0 instead of removal when down. */
  inhibit: boolean;
  notifyUp?: Script;
  notifyDown?: Script;
  smtpAlert: boolean;
}

/** What a virtual_server block adds for health. */
export interface ServiceHealth {
  quorum: number;
  hysteresis: number;
  quorumUp?: Script;
  quorumDown?: Script;
  /** Remove the real servers from the engine when the director stops (keepalived's default: off). */
  omega: boolean;
  /** The server that takes over when quorum is lost (also when the VS has no real server). */
  sorry?: { address: string; daddr: IpAddr; port: number; method: "nat" | "dr" | "tun"; inhibit: boolean; line: number; where?: Where & { text: string } };
  smtpAlert: boolean;
  where: Where;
}

/** global_defs' part: who runs scripts, and where mail goes. */
export interface HealthGlobals {
  scriptUser?: { user: string; group?: string; uid: number; gid: number };
  /** Refuse scripts that a non-root user could change (keepalived's enable_script_security). */
  enableScriptSecurity: boolean;
  notificationEmail: string[];
  notificationEmailFrom?: string;
  smtpServer?: { host: string; port: number };
  smtpConnectTimeoutMs: number;
  smtpHeloName?: string;
  /** Mail on every state change unless a VS or RS turns it off. */
  smtpAlert?: boolean;
  /** The same for checker (real and virtual server) mail, before smtp_alert. */
  smtpAlertChecker?: boolean;
  /** checker_log_all_failures: every checker's log_all_failures unless it says otherwise. */
  checkerLogAllFailures?: boolean;
  routerId?: string;
  /** SSL_GET's client certificate (global SSL block). */
  ssl?: { ca?: string; certificate?: string; key?: string; password?: string };
}

/** A checked real server's identity in the running configuration. */
export const checkedServerKey = (service: string, server: string) => `${service} ${server}`;

/** One notify FIFO of global_defs (host/health/notify-fifo.ts writes it). */
export interface FifoConfig {
  /** notify_fifo gets every line; vrrp_ and lvs_notify_fifo their part. */
  kind: "all" | "vrrp" | "lvs";
  path: string;
  /** The FIFO's owner when wasmvs makes it (keepalived: the script user). */
  user?: string;
  /** Run at start with the FIFO's name appended: typically a reader. */
  script?: Script;
  scriptUser?: string;
}
