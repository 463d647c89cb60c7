// VRRP as keepalived.conf describes it (vrrp_instance blocks), resolved by the parser:
// every instance carries its final values, keepalived's defaults applied
// (keepalived/vrrp/vrrp_data.c, vrrp_parser.c; ../shared/HA-FACTS.md).

import type { Script } from "./health.js";
import { formatIp, isLinkLocal6, parseIp6, type IpAddr } from "../engine/addr.js";

export const VRRP_DEFAULTS = {
  priority: 100,
  /** advert_int 1 s. */
  advertIntMs: 1000,
  version: 2 as 2 | 3,
  /** The master is declared down after this many advert intervals (plus the skew). */
  downTimerAdverts: 3,
  garpMasterDelayMs: 5000,
  garpMasterRepeat: 5,
};

export interface VrrpInstanceConfig {
  name: string;
  /** The director interface (index) the instance speaks on. */
  ifindex: number;
  interfaceName: string;
  vrid: number;
  /** 1-255 (255: the address owner); keepalived's default 100. */
  priority: number;
  /** state MASTER: take over after one advert interval if nobody answers (keepalived). */
  initialMaster: boolean;
  version: 2 | 3;
  /** An IPv6 instance (its first virtual_ipaddress is IPv6, or native_ipv6): VRRP version 3
   *  to mcastGroup6 (ff02::12) from the interface's link-local address (RFC 5798 5.1.2). */
  ipv6?: boolean;
  /** vrrp_mcast_group6 (IPv6 instances only; absent: ff02::12). */
  mcastGroup6?: string;
  /** vrrp_gna_interval: ms between two unsolicited neighbour advertisements of a burst (absent: none). */
  gnaIntervalMs?: number;
  /** The Router flag in its unsolicited neighbour advertisements: the director forwards IPv6
   *  (keepalived sets it when the interface's IPv6 forwarding is on). */
  naRouter?: boolean;
  advertIntMs: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** authentication { auth_type PASS; auth_pass ... } (v2 only). */
  authPass?: string;
  /** virtual_ipaddress: the addresses the master holds, and the interface each is
   *  announced on (`dev`, else the instance's). */
  addresses: string[];
  /** addresses parsed where they were read (what the engine takes). */
  addrs: IpAddr[];
  addressIfindex: number[];
  /** virtual_ipaddress_excluded: held and announced while master, not in the adverts (addr: parsed). */
  excludedAddresses?: { address: string; addr: IpAddr; ifindex: number }[];
  /** garp_master_refresh: gratuitous ARPs again every this many ms while master (0: off),
   *  garp_master_refresh_repeat (1) at a time. */
  garpMasterRefreshMs?: number;
  garpMasterRefreshRepeat?: number;
  /** skip_check_adv_addr: adverts from the master already heard are not checked for the
   *  address list (keepalived's vrrp.c checks only a new master's). */
  skipCheckAdvAddr?: boolean;
  garpMasterDelayMs: number;
  garpMasterRepeat: number;
  downTimerAdverts: number;
  notify?: Script;
  notifyMaster?: Script;
  notifyBackup?: Script;
  /** Runs when the instance enters FAULT (a tracked script or interface with weight 0 failed). */
  notifyFault?: Script;
  notifyStop?: Script;
  /** unicast_peer: adverts go to each of these instead of 224.0.0.18, and only theirs are
   *  heard (keepalived's check_unicast_src, always on here). */
  unicastPeers?: string[];
  /** use_vmac: the addresses answered and announced from 00:00:5e:00:01:VRID (RFC 5798
   *  7.3), the same MAC whichever director is master; vmac_xmit_base: adverts from the
   *  interface's MAC. */
  vmac?: boolean;
  vmacXmitBase?: boolean;
  /** virtual_routes: engine routes while the instance is master (cidr, gateway, interface). */
  virtualRoutes?: { cidr: string; via?: string; ifindex: number; line: number }[];
  /** track_script entries: the script's weight unless the entry sets its own. */
  trackScripts: TrackedScript[];
  /** track_file entries (top-level track_file blocks): the file's number times the weight
   *  moves the priority; weight 0: FAULT while it is not 0. */
  trackFiles: TrackedFile[];
  /** track_interface entries, plus the instance's own interface (weight 0) unless
   *  dont_track_primary (keepalived tracks it by default). */
  trackInterfaces: TrackedInterface[];
  /** Mail each state change (global_defs' mail settings). */
  smtpAlert: boolean;
  line: number;
}

/** keepalived's `lvs_sync_daemon INTERFACE [VRRP_INSTANCE] [id SYNCID] [maxlen BYTES]`: the
 *  engine syncs connections on that interface, sending while the instance is master and
 *  receiving while it is backup (keepalived's ipvs_syncd_cmd). */
export interface SyncDaemonConfig {
  ifindex: number;
  interfaceName: string;
  /** The vrrp_instance whose state decides the role. */
  instance: string;
  syncid: number;
  maxlen: number;
  /** `group ADDR` with a unicast address: the other director. The master sends there instead of
   *  224.0.0.81; a backup takes unicast sync from there (and from the VRRP master) only. */
  peer?: string;
  line: number;
}

/** keepalived's vrrp_sync_group: its instances are master together or backup together. */
export interface VrrpSyncGroupConfig {
  name: string;
  members: string[];
  notifyMaster?: Script;
  notifyBackup?: Script;
  /** Runs when the group enters FAULT (one of its instances did). */
  notifyFault?: Script;
  notify?: Script;
  smtpAlert?: boolean;
  line: number;
}

/** keepalived's vrrp_script block (vrrp_parser.c; defaults vrrp_data.c alloc_vrrp_script). */
export interface VrrpScriptConfig {
  name: string;
  script: Script;
  /** interval 1 s. */
  intervalMs: number;
  /** timeout: the interval when not set (vrrp_scheduler.c). */
  timeoutMs: number;
  /** -253..253; 0: a failure puts the tracking instances in FAULT. */
  weight: number;
  reverse: boolean;
  rise: number;
  fall: number;
  /** init_fail: assume failed until the first success. */
  initFail: boolean;
  user?: string;
  line: number;
}

/** A tracker's effect on an instance (vrrp_track.c): weight 0 means FAULT while failing;
 *  otherwise a positive weight is added while it succeeds, a negative one while it fails;
 *  `reverse` swaps success and failure. */
export interface TrackWeight {
  weight: number;
  reverse: boolean;
}
export interface TrackedScript extends TrackWeight {
  script: string;
}
export interface TrackedFile extends TrackWeight {
  name: string;
  path: string;
}
export interface TrackedInterface extends TrackWeight {
  ifindex: number;
  interfaceName: string;
}

export const VRRP_SCRIPT_DEFAULTS = { intervalMs: 1000, weight: 0, rise: 1, fall: 1 };

/** The connection sync daemon's roles now (from VRRP's state): peer, where a master sends
 *  (unicast); from, whom a backup takes unicast sync from. */
export interface SyncRoles {
  send: boolean;
  receive: boolean;
  ifindex: number;
  syncid: number;
  maxlen: number;
  peer?: string;
  from?: string;
}

/** The link-local address interface ifindex's IPv6 adverts leave from: the configured one
 *  (an fe80::/10 address), else the one made from its MAC by modified EUI-64 (RFC 4291
 *  appendix A), as the engine makes it; undefined when neither is known. */
export function linkLocalOf(interfaces: readonly { index: number; mac: string; net6?: { addr: IpAddr } }[], ifindex: number): string | undefined {
  const i = interfaces.find((x) => x.index === ifindex);
  if (i?.net6 && typeof i.net6.addr !== "number" && isLinkLocal6(i.net6.addr)) return formatIp(i.net6.addr);
  if (!i?.mac) return undefined;
  const m = i.mac.split(":").map((x) => parseInt(x, 16));
  const h = (a: number, b: number) => ((a << 8) | b).toString(16);
  return formatIp(parseIp6(`fe80::${h(m[0] ^ 2, m[1])}:${h(m[2], 0xff)}:${h(0xfe, m[3])}:${h(m[4], m[5])}`));
}
