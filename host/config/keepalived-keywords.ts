// Every keyword keepalived 2.2 knows (keepalived-keywords-extracted.ts, generated from its
// parser tables by scripts/keepalived-keywords.mjs), classified for wasmvs:
//   supported  read and acted on by the parsers (keepalived.ts, ../vrrp/keepalived-vrrp.ts,
//              ../health/keepalived-checks.ts);
//   ignored    accepted with a warning (FILE:LINE:COL KEYWORD: ignored: REASON), as keepalived
//              itself passes over what does not apply to it: what a kernel, a process
//              layout or a protocol wasmvs does not have would be set by it;
//   notYet     refused with its position: a feature wasmvs does not have yet.
// A keyword keepalived does not know stays an "unknown keyword" with a suggestion (ignored with a
// warning, as keepalived does; --strict refuses it).
// Blocks are named as in the extracted list: "" the top level, "a/b" block b inside a.

import { KEEPALIVED_KEYWORDS, KEEPALIVED_SINCE } from "./keepalived-keywords-extracted.js";
import { notSupported } from "./features.js";
import { VRRP_NOT_YET } from "./not-yet.js";

export type KeywordClass = { kind: "supported" } | { kind: "ignored"; reason: string } | { kind: "notYet"; reason: string };

const table = new Map<string, Map<string, KeywordClass>>();
/** A whole block that is ignored or refused: its keywords are never read one by one. */
const wholeBlocks = new Map<string, KeywordClass>();

function put(block: string, words: string[], c: KeywordClass): void {
  const m = table.get(block) ?? new Map<string, KeywordClass>();
  table.set(block, m);
  for (const w of words) {
    if (m.has(w)) throw new Error(`keepalived-keywords: ${block}/${w} classified twice`);
    m.set(w, c);
  }
}
const supported = (block: string, words: string[]) => put(block, words, { kind: "supported" });
const ignored = (block: string, reason: string, words: string[]) => put(block, words, { kind: "ignored", reason });
const notYet = (block: string, reason: string, words: string[]) => put(block, words, { kind: "notYet", reason });
/** A keyword whose whole block is ignored or refused (its inner keywords with it); path is
 *  the block's ("name" at the top level, "a/b/name" inside). */
function block(path: string, c: KeywordClass): void {
  const at = path.lastIndexOf("/");
  put(at < 0 ? "" : path.slice(0, at), [path.slice(at + 1)], c);
  wholeBlocks.set(path, c);
}

const NO_KERNEL_IPVS = "wasmvs has no kernel IPVS (its table is its own)";
const ONE_PROCESS = "wasmvs is one process (the data path one thread of it), not keepalived's three";
const NO_NETLINK = "wasmvs uses no netlink socket (its interfaces are its TAP devices)";
const NO_SNMP = "wasmvs has no SNMP agent: its state is in its Prometheus metrics (director { metrics ... })";
const NO_DBUS = "wasmvs has no D-Bus interface: use its control socket or metrics";
const NO_FIREWALL = "wasmvs adds no firewall rules: there is no strict mode or no_accept for them to enforce";
const CHECKER_THREAD = "wasmvs's health checks run on its main thread, not a checker process with its own scheduling";
const NO_BFD_PROCESS = "wasmvs has no BFD process (bfd_instance is not supported yet)";
const GARP_PACING = "wasmvs sends each round of gratuitous ARPs (garp_master_repeat) at once, as keepalived's default 0";

// --- top level ---
supported("", ["global_defs", "static_ipaddress", "static_routes", "vrrp_sync_group", "vrrp_instance", "vrrp_script", "SSL",
  "virtual_server_group", "virtual_server", "track_file", "vrrp_track_file"]);
ignored("", "wasmvs polls no MII registers: an interface's link is its TAP's", ["linkbeat_use_polling"]);
notYet("", "net_namespace is not supported by wasmvs yet: start wasmvs inside the namespace (ip netns exec NAME wasmvs ...)", ["net_namespace"]);
ignored("", NO_KERNEL_IPVS, ["net_namespace_ipvs"]);
ignored("", "wasmvs uses no ipsets", ["namespace_with_ipsets"]);
ignored("", "wasmvs writes no pid files (its control socket says whether it runs)", ["use_pid_dir"]);
ignored("", "wasmvs writes no pid files; run instances with their own control_socket", ["instance"]);
ignored("", ONE_PROCESS, ["child_wait_time"]);
block("track_group", { kind: "notYet", reason: "track_group (tracking for static addresses and routes) is not supported by wasmvs yet" });
block("garp_group", { kind: "ignored", reason: GARP_PACING });
block("linkbeat_interfaces", { kind: "ignored", reason: "wasmvs polls no MII registers: an interface's link is its TAP's" });
block("vrrp_track_process", { kind: "notYet", reason: "process tracking (vrrp_track_process) is not supported by wasmvs yet" });
block("interface_up_down_delays", { kind: "notYet", reason: "interface_up_down_delays is not supported by wasmvs yet" });
block("static_rules", { kind: "notYet", reason: notSupported("staticRouting") });
block("bfd_instance", { kind: "notYet", reason: notSupported("bfd") });

// --- global_defs ---
supported("global_defs", ["router_id", "notification_email_from", "smtp_server", "smtp_helo_name", "smtp_connect_timeout", "notification_email",
  "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "checker_log_all_failures", "default_interface", "lvs_timeouts", "lvs_sync_daemon",
  "vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_down_timer_adverts",
  "vrrp_min_garp", "vrrp_version", "vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "vrrp_rt_priority", "notify_fifo", "notify_fifo_script",
  "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script", "script_user", "enable_script_security"]);
ignored("global_defs", ONE_PROCESS, ["process_names", "process_name", "vrrp_process_name", "checker_process_name", "lvs_process_name", "bfd_process_name"]);
notYet("global_defs", "startup and shutdown scripts are not supported by wasmvs yet", ["startup_script", "startup_script_timeout", "shutdown_script",
  "shutdown_script_timeout"]);
ignored("global_defs", "wasmvs's data-path thread is real-time from the start (vrrp_rt_priority, default 10)", ["max_auto_priority", "min_auto_priority_delay"]);
ignored("global_defs", "wasmvs's interfaces are its TAP devices, made at start: they do not come and go", ["dynamic_interfaces"]);
notYet("global_defs", "no_email_faults is not supported by wasmvs yet", ["no_email_faults"]);
ignored("global_defs", "wasmvs joins no multicast group in a kernel (the engine reads adverts from its TAP)", ["disable_local_igmp"]);
notYet("global_defs", "v3_checksum_as_v2 (VRRPv3 checksums without the pseudo-header) is not supported by wasmvs yet", ["v3_checksum_as_v2"]);
ignored("global_defs", `${NO_KERNEL_IPVS}: there is no table from before to flush; wasmvs starts with the one the file describes (or the one handed over by the process it replaces)`,
  ["lvs_flush"]);
ignored("global_defs", `${NO_KERNEL_IPVS}: the table ends with the process (or is handed to the next one)`, ["lvs_flush_on_stop", "lvs_flush_onstop"]);
notYet("global_defs", "a VRRP multicast group other than 224.0.0.18 is not supported by wasmvs yet", ["vrrp_mcast_group4"]);
supported("global_defs", ["vrrp_mcast_group6", "vrrp_gna_interval"]);
notYet("global_defs", "gratuitous ARPs after a lower-priority advert are not supported by wasmvs yet", ["vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat"]);
ignored("global_defs", GARP_PACING, ["vrrp_garp_interval"]);
notYet("global_defs", "gratuitous ARPs on a VMAC's base interface are not supported by wasmvs yet", ["vrrp_garp_extra_if", "vrrp_vmac_garp_intvl"]);
notYet("global_defs", "lower_prio_no_advert and higher_prio_send_advert are not supported by wasmvs yet", ["vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert"]);
ignored("global_defs", NO_FIREWALL, ["vrrp_iptables", "vrrp_ipsets", "nftables", "nftables_priority", "nftables_ifindex", "nftables_counters"]);
ignored("global_defs", `${NO_KERNEL_IPVS}: it matches virtual_server_group ranges itself, without nftables marks`, ["nftables_ipvs", "nftables_ipvs_priority",
  "nftables_ipvs_start_fwmark"]);
notYet("global_defs", notSupported("vrrpStrict"), ["vrrp_strict"]);
ignored("global_defs", "wasmvs's data-path thread (which carries VRRP) is real-time (SCHED_RR, vrrp_rt_priority): a nice value does not apply",
  ["vrrp_priority"]);
ignored("global_defs", "wasmvs does not lock its memory (mlockall); it allocates nothing on its data path", ["vrrp_no_swap"]);
ignored("global_defs", "wasmvs sets no CPU affinity: use taskset or systemd's CPUAffinity=", ["vrrp_cpu_affinity"]);
ignored("global_defs", "wasmvs sets no RLIMIT_RTTIME: the kernel's sched_rt_runtime_us bounds its real-time thread", ["vrrp_rlimit_rttime", "vrrp_rlimit_rtime"]);
notYet("global_defs", "notify_priority_changes is not supported by wasmvs yet", ["vrrp_notify_priority_changes"]);
notYet("global_defs", "fifo_write_vrrp_states_on_reload is not supported by wasmvs yet", ["fifo_write_vrrp_states_on_reload"]);
ignored("global_defs", CHECKER_THREAD, ["checker_priority", "checker_no_swap", "checker_rt_priority", "checker_cpu_affinity", "checker_rlimit_rttime",
  "checker_rlimit_rtime"]);
ignored("global_defs", NO_BFD_PROCESS, ["bfd_priority", "bfd_no_swap", "bfd_rt_priority", "bfd_cpu_affinity", "bfd_rlimit_rttime", "bfd_rlimit_rtime"]);
ignored("global_defs", NO_SNMP, ["snmp_socket", "enable_traps", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2",
  "enable_snmp_rfcv3", "enable_snmp_checker"]);
ignored("global_defs", NO_DBUS, ["enable_dbus", "dbus_service_name"]);
ignored("global_defs", NO_NETLINK, ["vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
  "vrrp_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs",
  "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force"]);
notYet("global_defs", "rs_init_notifies is not supported by wasmvs yet", ["rs_init_notifies"]);
notYet("global_defs", "no_checker_emails is not supported by wasmvs yet", ["no_checker_emails"]);
ignored("global_defs", "wasmvs reads adverts from its TAP device: there are no socket buffers to size", ["vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier"]);
notYet("global_defs", "vrrp_startup_delay is not supported by wasmvs yet", ["vrrp_startup_delay"]);
ignored("global_defs", "wasmvs does not log adverts of VRIDs it does not run", ["log_unknown_vrids"]);
ignored("global_defs", "wasmvs makes no macvlan devices for use_vmac (the engine answers from the virtual MAC itself)", ["vmac_prefix", "vmac_addr_prefix"]);
ignored("global_defs", "wasmvs creates its files with modes of its own (control_group for the control socket)", ["umask"]);
ignored("global_defs", "wasmvs takes no random seed from its configuration", ["random_seed"]);
ignored("global_defs", "wasmvs always checks a file whole before it reloads (reload refuses a bad one)", ["reload_check_config"]);
notYet("global_defs", "timed and file-triggered reloads are not supported by wasmvs yet (use wasmvs reload)", ["reload_time_file", "reload_repeat", "reload_file"]);
ignored("global_defs", "wasmvs reads every included file at each load and reload", ["include_check"]);
ignored("global_defs", "wasmvs saves no copy of its configuration and reads it in place", ["config_save_dir", "tmp_config_directory"]);
ignored("global_defs", "wasmvs writes no data or JSON dump files (its state is in ipvsadm -L, top and the metrics)", ["data_use_instance", "json_version",
  "state_dump_file", "stats_dump_file", "json_dump_file"]);
// What keepalived 2.3 and 2.4 added (KEEPALIVED_SINCE).
notYet("global_defs", "use_symlink_paths is not supported by wasmvs yet", ["use_symlink_paths"]);
ignored("global_defs", NO_SNMP, ["snmp_vs_stats_update_interval", "snmp_rs_stats_update_interval"]);
ignored("global_defs", NO_DBUS, ["dbus_no_interface_name"]);
notYet("global_defs", "vrrp_delay_after_boot is not supported by wasmvs yet", ["vrrp_delay_after_boot"]);
notYet("global_defs", "owner_ignore_adverts is not supported by wasmvs yet", ["vrrp_owner_ignore_adverts"]);
ignored("global_defs", "wasmvs reads no iproute2 files (route tables and protocols by name are refused)", ["iproute_usr_dir", "iproute_etc_dir"]);

// --- VRRP ---
supported("vrrp_sync_group", ["group", "track_interface", "track_script", "track_file", "notify_backup", "notify_master", "notify_fault", "notify",
  "smtp_alert", "sync_group_tracking_weight"]);
notYet("vrrp_sync_group", "", ["track_process", "track_bfd", "notify_stop", "global_tracking", "notify_priority_changes"]);
supported("vrrp_instance", ["use_vmac", "vmac_xmit_base", "unicast_peer", "check_unicast_src", "state", "interface", "dont_track_primary",
  "track_interface", "track_script", "track_file", "mcast_src_ip", "unicast_src_ip", "virtual_router_id", "version", "priority", "advert_int",
  "virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "accept", "skip_check_adv_addr", "preempt", "nopreempt", "preempt_delay",
  "notify_backup", "notify_master", "notify_fault", "notify_stop", "notify", "smtp_alert", "lvs_sync_daemon_interface", "garp_master_delay",
  "garp_master_refresh", "garp_master_repeat", "garp_master_refresh_repeat", "down_timer_adverts", "authentication"]);
notYet("vrrp_instance", "", ["use_vmac_addr", "use_ipvlan", "unicast_fault_no_peer", "old_unicast_checksum", "vrf",
  "track_process", "mcast_dst_ip", "track_src_ip", "unicast_ttl", "no_virtual_ipaddress", "v3_checksum_as_v2", "notify_deleted",
  "notify_master_rx_lower_pri", "notify_priority_changes", "garp_lower_prio_delay", "garp_lower_prio_repeat", "timer_expired_backup", "garp_extra_if",
  "vmac_garp_intvl", "lower_prio_no_advert", "higher_prio_send_advert"]);
supported("vrrp_instance", ["native_ipv6"]);
notYet("vrrp_instance", "", ["thread_timer_expired", "owner_ignore_adverts"]);
block("vrrp_instance/auth_hmac", { kind: "notYet", reason: "HMAC authentication (auth_hmac) is not supported by wasmvs yet" });
notYet("vrrp_instance", notSupported("bfd"), ["track_bfd"]);
notYet("vrrp_instance", VRRP_NOT_YET.virtual_rules, ["virtual_rules"]);
notYet("vrrp_instance", VRRP_NOT_YET.strict_mode, ["strict_mode"]);
notYet("vrrp_instance", "no_accept is not supported by wasmvs yet", ["no_accept"]);
ignored("vrrp_instance", "wasmvs holds its addresses in the engine, not the kernel: there are no secondaries to promote", ["promote_secondaries"]);
ignored("vrrp_instance", "wasmvs polls no MII registers: an interface's link is its TAP's", ["linkbeat_use_polling"]);
ignored("vrrp_instance", "wasmvs has no per-instance debug level (its log says every state change)", ["debug"]);
ignored("vrrp_instance", "wasmvs reads adverts from its TAP device: there are no socket buffers to size", ["kernel_rx_buf_size"]);
supported("vrrp_instance/authentication", ["auth_type", "auth_pass"]);
supported("vrrp_script", ["script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail"]);

// --- LVS and health checking ---
supported("SSL", ["password", "ca", "certificate", "key"]);
supported("virtual_server", ["ip_family", "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop", "inhibit_on_failure", "lb_algo",
  "lvs_sched", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback", "lb_kind", "lvs_method",
  "persistence_timeout", "persistence_granularity", "protocol", "smtp_alert", "virtualhost", "alpha", "omega", "quorum_up", "quorum_down",
  "quorum", "hysteresis", "sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method", "real_server"]);
ignored("virtual_server", `${NO_KERNEL_IPVS}: "hashed" is a flag the kernel reports, not one to set`, ["hashed"]);
notYet("virtual_server", notSupported("persistenceEngines"), ["persistence_engine"]);
notYet("virtual_server", "ha_suspend (checks paused while this director does not hold the virtual address) is not supported by wasmvs yet", ["ha_suspend"]);
ignored("virtual_server", NO_SNMP, ["snmp_name"]);
notYet("virtual_server", "a virtual server's weight (for virtual_server_group quorum) is not supported by wasmvs yet", ["weight"]);
supported("virtual_server/real_server", ["weight", "lvs_method", "uthreshold", "lthreshold", "inhibit_on_failure", "notify_up", "notify_down", "alpha",
  "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop", "smtp_alert", "virtualhost", "MISC_CHECK", "SMTP_CHECK", "TCP_CHECK",
  "PING_CHECK", "UDP_CHECK", "HTTP_GET", "SSL_GET", "DNS_CHECK", "FILE_CHECK"]);
ignored("virtual_server/real_server", NO_SNMP, ["snmp_name"]);
block("virtual_server/real_server/BFD_CHECK", { kind: "notYet", reason: notSupported("bfd") });

const TIMING = ["connect_timeout", "retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures"];
const BIND_IF = "bind_if is not supported by wasmvs yet: use bindto with the address of that interface";
const FWMARK = "a checker's fwmark (SO_MARK) is not supported by wasmvs yet";
for (const kind of ["TCP_CHECK", "HTTP_GET", "SSL_GET", "UDP_CHECK", "DNS_CHECK", "SMTP_CHECK", "PING_CHECK"]) {
  const b = `virtual_server/real_server/${kind}`;
  supported(b, [...TIMING, "connect_ip", "connect_port", "bindto"]);
  if (kind === "DNS_CHECK" || kind === "SMTP_CHECK") notYet(b, "bind_port is not supported by wasmvs for this checker", ["bind_port"]);
  else if (kind === "PING_CHECK") ignored(b, "ICMP has no ports", ["bind_port"]);
  else supported(b, ["bind_port"]);
  notYet(b, BIND_IF, ["bind_if"]);
  notYet(b, FWMARK, ["fwmark"]);
}
supported("virtual_server/real_server/MISC_CHECK", ["retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures", "misc_path",
  "misc_timeout", "misc_dynamic", "user"]);
for (const kind of ["HTTP_GET", "SSL_GET"]) {
  const b = `virtual_server/real_server/${kind}`;
  supported(b, ["nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery", "url"]);
  supported(`${b}/url`, ["path", "digest", "status_code", "virtualhost", "regex", "regex_no_match"]);
  notYet(`${b}/url`, "PCRE2's regex options are not supported by wasmvs (regex follows RE2's rules)", ["regex_options", "regex_min_offset",
    "regex_max_offset", "regex_stack"]);
}
notYet("virtual_server/real_server/SSL_GET", "tls_compliant is not supported by wasmvs yet", ["tls_compliant"]);
notYet("virtual_server/real_server/SSL_GET/url", "tls_compliant is not supported by wasmvs yet", ["tls_compliant"]);
supported("virtual_server/real_server/UDP_CHECK", ["payload", "require_reply", "min_reply_length", "max_reply_length"]);
supported("virtual_server/real_server/DNS_CHECK", ["type", "name"]);
supported("virtual_server/real_server/SMTP_CHECK", ["helo_name", "host"]);
supported("virtual_server/real_server/SMTP_CHECK/host", ["connect_ip", "connect_port", "bindto", ...TIMING]);
notYet("virtual_server/real_server/SMTP_CHECK/host", "bind_port is not supported by wasmvs for this checker", ["bind_port"]);
notYet("virtual_server/real_server/SMTP_CHECK/host", BIND_IF, ["bind_if"]);
notYet("virtual_server/real_server/SMTP_CHECK/host", FWMARK, ["fwmark"]);
supported("virtual_server/real_server/FILE_CHECK", ["track_file", "weight"]);
for (const b of ["track_file", "vrrp_track_file"]) {
  supported(b, ["file", "weight"]);
  notYet(b, "init_file is not supported by wasmvs yet (create the file before starting)", ["init_file"]);
}

/** What wasmvs does with keyword in block (undefined: keepalived does not know it there). */
export function classify(blockPath: string, keyword: string): KeywordClass | undefined {
  if (!KEEPALIVED_KEYWORDS[blockPath]?.includes(keyword)) return undefined;
  return table.get(blockPath)?.get(keyword);
}

/** The class of the block at path, or of a block it is inside, when ignored or refused whole. */
export function wholeBlock(path: string): KeywordClass | undefined {
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const c = wholeBlocks.get(parts.slice(0, i).join("/"));
    if (c) return c;
  }
  return undefined;
}

/** Every keyword of the extracted list without a class, and every class without a keyword
 *  (both empty: the table is complete; test/keepalived-keywords.test.ts checks). */
export function unclassified(): { missing: string[]; extra: string[] } {
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [b, words] of Object.entries(KEEPALIVED_KEYWORDS)) {
    if (wholeBlock(b)) continue;
    for (const w of words) if (!table.get(b)?.has(w)) missing.push(`${b}/${w}`);
  }
  for (const [b, m] of table) for (const w of m.keys()) if (!KEEPALIVED_KEYWORDS[b]?.includes(w)) extra.push(`${b}/${w}`);
  return { missing, extra };
}

/** Every classified keyword (for the generated documentation and the tests). */
export function allClasses(): { block: string; keyword: string; class: KeywordClass }[] {
  const out: { block: string; keyword: string; class: KeywordClass }[] = [];
  for (const [b, m] of table) for (const [w, c] of m) out.push({ block: b, keyword: w, class: c });
  return out;
}

/** The whole classification as Markdown (docs/keepalived-keywords.md, written by
 *  scripts/keepalived-keywords-doc.mjs; a test keeps the two the same). */
export function keywordTableMarkdown(version: string): string {
  const out = [
    `# keepalived's keywords in wasmvs`,
    "",
    `Every keyword of keepalived ${version}'s parser tables and those later releases added (marked with the release; extracted by \`scripts/keepalived-keywords.mjs\` into`,
    "`host/config/keepalived-keywords-extracted.ts`), by block, and what wasmvs does with it",
    "(`host/config/keepalived-keywords.ts`; this file is generated by `scripts/keepalived-keywords-doc.mjs`).",
    "**read**: read and acted on; **ignored**: accepted with a warning (`FILE:LINE:COL: KEYWORD: ignored: REASON`);",
    "**not yet**: refused at its position as not supported by wasmvs yet. A word keepalived does not know is an",
    "unknown keyword: ignored with its line (and block) and a warning, as keepalived ignores it (`--strict`: an error).",
    "A block refused or ignored whole takes its keywords with it.",
    "",
  ];
  const counts = { supported: 0, ignored: 0, notYet: 0 };
  const sections: string[] = [];
  for (const [b, words] of Object.entries(KEEPALIVED_KEYWORDS)) {
    const whole = wholeBlock(b);
    sections.push(`## ${b === "" ? "top level" : b.replaceAll("/", " › ")}`, "");
    if (b !== "" && whole) {
      sections.push(`The whole block is ${whole.kind === "ignored" ? "ignored" : "not supported yet"}: ${words.map((w) => `\`${w}\``).join(", ")}.`, "");
      continue;
    }
    sections.push("| keyword | wasmvs | why |", "|---|---|---|");
    for (const w of words) {
      const c = classify(b, w)!;
      counts[c.kind]++;
      const what = c.kind === "supported" ? "read" : c.kind === "ignored" ? "ignored" : "not yet";
      const why = c.kind === "supported" ? "" : c.reason || `${w} is not supported by wasmvs yet`;
      const since = KEEPALIVED_SINCE[b === "" ? w : `${b}/${w}`];
      sections.push(`| \`${w}\`${since ? ` (${since})` : ""} | ${what} | ${why.replaceAll("|", "\\|")} |`);
    }
    sections.push("");
  }
  out.push(`${counts.supported} read, ${counts.ignored} ignored, ${counts.notYet} not yet (keywords inside whole blocks not counted).`, "", ...sections);
  return out.join("\n");
}
