// One keepalived.conf for keepalived and wasmvs: where keepalived 2.2.7 (`keepalived -t`,
// Debian's, run here in a network namespace of the test's own with an eth0) warns and
// carries on, wasmvs warns and carries on the same way; where keepalived silently does
// something else (lb_kind dr), wasmvs does the same and says so. Each case is judged by
// keepalived on the same file (without the director block, which keepalived does not know).

import { describe, it, expect } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseKeepalived } from "../host/config/keepalived.js";
import { ConfigError, DirectorConfig } from "../host/config/rules.js";
import { FakeClock } from "../host/io/clock.js";
import { Advert, VrrpInstance } from "../host/vrrp/state.js";
import type { VrrpInstanceConfig } from "../host/config/vrrp.js";
import { tempFolder } from "./helpers/files.js";
import { dataPathPriority } from "../host/daemon/director.js";

const folder = tempFolder("wasmvs-kc2-");
const DIRECTOR = `director {
  interface eth0 {
    mac 02:00:00:00:00:01
    address 10.0.0.254/24
  }
}
`;
const ROOT = join(import.meta.dirname, "..");

/** wasmvs on DIRECTOR + text: the configuration, or the error; warnings without the folder. */
function wasmvs(text: string): { cfg?: DirectorConfig; warnings: string[]; error?: string } {
  const file = folder.write("w.conf", DIRECTOR + text);
  try {
    const cfg = parseKeepalived(file);
    return { cfg, warnings: (cfg.warnings ?? []).map((w) => w.replaceAll(folder.path() + "/", "")) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { warnings: [], error: e.message.replaceAll(folder.path() + "/", "") };
  }
}
/** keepalived -t on text, in a network namespace with eth0 (a veth) and nothing else: its
 *  exit status (0: no remark; 5: remarks, it would still run) and what it said. */
function keepalived(text: string): { rc: number | null; out: string } {
  const file = folder.write("k.conf", text);
  const r = spawnSync("unshare", ["-n", "sh", "-c", 'ip link add eth0 type veth peer name eth9 && ip link set eth0 up && exec keepalived -t -l -f "$0"', file],
    { encoding: "utf8", timeout: 20000 });
  return { rc: r.status, out: (r.stdout + r.stderr).replaceAll(folder.path() + "/", "") };
}
/** The line of `text` (after DIRECTOR) that holds needle. */
const lineOf = (text: string, needle: string) => DIRECTOR.split("\n").length - 1 + text.split("\n").findIndex((l) => l.includes(needle)) + 1;

const INSTANCE = (extra = "", name = "VI_1", vrid = 51) => `vrrp_instance ${name} {
  interface eth0
  virtual_router_id ${vrid}
  ${extra}
  virtual_ipaddress {
    10.0.0.${vrid}
  }
}
`;

describe("keepalived's keywords that did not apply are accepted with a warning", () => {
  it("the four the issue names, keepalived and wasmvs both load the file (vrrp_gna_interval is read since issue 20: it paces IPv6 instances' NAs)", () => {
    const text = `global_defs {
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.001
  vrrp_skip_check_adv_addr
  default_interface eth0
  lvs_flush
}
${INSTANCE()}`;
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    const w = wasmvs(text);
    expect(w.error).toBeUndefined();
    const at = (k: string) => `w.conf:${lineOf(text, k)}:3: ${k}: ignored: `;
    expect(w.warnings).toEqual([
      `${at("vrrp_garp_interval")}wasmvs sends each round of gratuitous ARPs (garp_master_repeat) at once, as keepalived's default 0`,
      `${at("lvs_flush")}wasmvs has no kernel IPVS (its table is its own): there is no table from before to flush; wasmvs starts with the one the file ` +
        "describes (or the one handed over by the process it replaces)",
    ]);
    expect(w.cfg!.vrrp![0]).toMatchObject({ skipCheckAdvAddr: true, interfaceName: "eth0" });
  });

  it("a file full of what does not apply (process knobs, SNMP, D-Bus, netlink, MII, GARP pacing): keepalived loads it without a remark, wasmvs with one warning each", () => {
    const text = `global_defs {
  process_names
  vrrp_garp_interval 0.001
  vrrp_gna_interval 0.001
  vrrp_priority -10
  checker_priority -5
  vrrp_no_swap
  checker_no_swap
  checker_rt_priority 20
  vrrp_cpu_affinity 0
  enable_snmp_vrrp
  enable_traps
  enable_dbus
  dynamic_interfaces
  lvs_flush
  lvs_flush_onstop
  umask 022
  random_seed 1
  vrrp_netlink_cmd_rcv_bufs 1048576
  lvs_netlink_monitor_rcv_bufs 1048576
  log_unknown_vrids
  max_auto_priority 10
  vrrp_rx_bufs_policy MTU
  reload_check_config
  vmac_prefix vrt
  disable_local_igmp
}
linkbeat_use_polling
garp_group {
  garp_interval 0.01
  interface eth0
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  promote_secondaries
  debug 1
  kernel_rx_buf_size 65536
  virtual_ipaddress {
    10.0.0.51
  }
}
virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  snmp_name web
  real_server 10.0.0.2 80 {
    snmp_name web1
    PING_CHECK {
      bind_port 1000
    }
  }
}
`;
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    const w = wasmvs(text);
    expect(w.error).toBeUndefined();
    // Every ignored keyword, and nothing else, has its warning at its own line.
    const ignored = text.split("\n").map((l, i) => [l.trim().split(/\s+/)[0], i] as const)
      .filter(([k]) => /^(process_names|vrrp_garp_interval|vrrp_priority|checker_priority|vrrp_no_swap|checker_no_swap|checker_rt_priority|vrrp_cpu_affinity|enable_snmp_vrrp|enable_traps|enable_dbus|dynamic_interfaces|lvs_flush|lvs_flush_onstop|umask|random_seed|vrrp_netlink_cmd_rcv_bufs|lvs_netlink_monitor_rcv_bufs|log_unknown_vrids|max_auto_priority|vrrp_rx_bufs_policy|reload_check_config|vmac_prefix|disable_local_igmp|linkbeat_use_polling|garp_group|promote_secondaries|debug|kernel_rx_buf_size|snmp_name|bind_port)$/.test(k));
    expect(w.warnings.map((x) => x.replace(/^w\.conf:(\d+):\d+: (\S+): ignored: .*/, "$2 $1"))).toEqual(ignored.map(([k, i]) => `${k} ${lineOf(text, "") + i}`));
  });

  it("SNMP and D-Bus are ignored with a warning (keepalived itself runs without an agent)", () => {
    const w = wasmvs(`global_defs {\n  enable_snmp_vrrp\n  enable_traps\n  enable_dbus\n}\n`);
    expect(w.error).toBeUndefined();
    expect(w.warnings.map((x) => x.replace(/: ignored: .*/, ""))).toEqual(["w.conf:8:3: enable_snmp_vrrp", "w.conf:9:3: enable_traps", "w.conf:10:3: enable_dbus"]);
  });

  it("a keyword keepalived has that wasmvs has not yet is refused at its position, not unknown", () => {
    expect(wasmvs(`global_defs {\n  startup_script /bin/true\n}\n`).error).toBe("w.conf:8:3: 'startup_script': startup and shutdown scripts are not supported by wasmvs yet");
    expect(wasmvs(INSTANCE("use_ipvlan")).error).toBe("w.conf:10:3: 'use_ipvlan': use_ipvlan is not supported by wasmvs yet");
    expect(wasmvs(`garp_group {\n  garp_interval 1\n}\nbfd_instance b {\n  neighbor_ip 10.0.0.9\n}\n`).error)
      .toBe("w.conf:10:1: 'bfd_instance': BFD checking is not supported by wasmvs yet");
  });
});

describe("keepalived's parser outside its keyword tables", () => {
  it("$NAME=... definitions and ~SEQ lines are refused as not supported yet, not as unknown keywords", () => {
    const text = `$VIP=10.0.0.100\n~SEQ(N, 1, 3) real_server 10.0.0.$N 80\n`;
    expect(keepalived(`$VIP=10.0.0.100\n`)).toEqual({ rc: 0, out: "" });
    // Each such line is refused on its own (every error at once).
    expect(wasmvs(text).error).toBe("2 errors:\nw.conf:7:1: '$VIP=10.0.0.100': parameter definitions and sequences ($NAME=..., ~SEQ) are not supported by wasmvs yet\n" +
      "w.conf:8:1: '~SEQ(N,': parameter definitions and sequences ($NAME=..., ~SEQ) are not supported by wasmvs yet");
    expect(wasmvs(`~SEQ(N, 1, 3) real_server 10.0.0.$N 80\n`).error).toMatch(/^w\.conf:7:1: '~SEQ\(N,': parameter definitions and sequences/);
  });
});

describe("keywords read now", () => {
  it("default_interface: a static address without dev is on it (keepalived's vrrp_ipaddress.c); an instance still names its own", () => {
    const text = `global_defs {\n  default_interface eth0\n}\nstatic_ipaddress {\n  192.168.9.9/32\n}\n`;
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    expect(wasmvs(text).cfg!.staticAddresses).toMatchObject([{ address: "192.168.9.9", ifindex: 0, line: 11 }]);
    expect(wasmvs(text.replace("default_interface eth0", "default_interface eth7")).error).toBe("w.conf:8:21: 'eth7': no interface eth7 in the director block (interfaces: eth0): add `interface eth7 { device eth7 }` (the host's own eth7, through AF_XDP rings) or `interface eth7 { address ADDRESS/PREFIX }` (a TAP named eth7) to it");
    expect(wasmvs(text.replace("  default_interface eth0\n", "")).error).toBe("w.conf:10:3: '192.168.9.9/32': 192.168.9.9 is not on any interface's subnet (add dev INTERFACE)");
    // keepalived 2.2.7 does not put an instance on it either: "(VI_1) Unknown interface!".
    const vi = `global_defs {\n  default_interface eth0\n}\nvrrp_instance VI_1 {\n  virtual_router_id 5\n  virtual_ipaddress {\n    10.0.0.5\n  }\n}\n`;
    expect(keepalived(vi).out).toBe("(VI_1) Unknown interface!\n");
    expect(wasmvs(vi).error).toBe("w.conf:10:1: 'vrrp_instance': vrrp_instance needs an interface");
  });

  it("global VRRP defaults: vrrp_min_garp, vrrp_down_timer_adverts, vrrp_garp_master_refresh(_repeat), smtp_alert_vrrp over smtp_alert", () => {
    const text = `global_defs {
  vrrp_min_garp
  vrrp_down_timer_adverts 5
  vrrp_garp_master_refresh 60
  vrrp_garp_master_refresh_repeat 2
  smtp_alert
  smtp_alert_vrrp off
}
${INSTANCE()}${INSTANCE("garp_master_repeat 3\n  smtp_alert", "VI_2", 52)}vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n`;
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    const w = wasmvs(text);
    expect(w.warnings).toEqual([]);
    expect(w.cfg!.vrrp!.map((v) => [v.garpMasterRepeat, v.garpMasterDelayMs, v.downTimerAdverts, v.garpMasterRefreshMs, v.garpMasterRefreshRepeat, v.smtpAlert]))
      .toEqual([[1, 0, 5, 60_000, 2, false], [3, 0, 5, 60_000, 2, true]]);
    expect(w.cfg!.vrrpSyncGroups![0].smtpAlert).toBe(false);
    // Without smtp_alert_vrrp, global smtp_alert decides (keepalived's vrrp.c); without either, no mail.
    expect(wasmvs(text.replace("  smtp_alert_vrrp off\n", "")).cfg!.vrrp!.map((v) => v.smtpAlert)).toEqual([true, true]);
    expect(wasmvs(text.replace("  smtp_alert_vrrp off\n", "").replace("  smtp_alert\n}", "}")).cfg!.vrrp!.map((v) => v.smtpAlert)).toEqual([false, true]);
  });

  it("vrrp_rt_priority sets the data-path thread's SCHED_RR priority, clamped to 1-99 with a warning as keepalived does", () => {
    expect(wasmvs(`global_defs {\n  vrrp_rt_priority 50\n}\n`).cfg!.vrrpRtPriority).toEqual({ priority: 50, line: 8 });
    const w = wasmvs(`global_defs {\n  vrrp_rt_priority 120\n}\n`);
    expect(w.cfg!.vrrpRtPriority!.priority).toBe(99);
    expect(w.warnings).toEqual(["w.conf:8:20: vrrp_rt_priority 120 is outside 1-99: 99 is used, as keepalived does"]);
    expect(keepalived(`global_defs {\n  vrrp_rt_priority 120\n}\n`).out).toMatch(/vrrp process real-time priority 120 greater than maximum 99 - setting to maximum/);
    // What the director does with it: chrt --rr on the data-path thread (here on a process of the test's own).
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      expect(dataPathPriority(child.pid!, 50)).toBe(`data-path thread ${child.pid}: real-time (SCHED_RR 50)`);
      const sched = spawnSync("chrt", ["-p", String(child.pid)], { encoding: "utf8" }).stdout;
      expect(sched).toMatch(/scheduling policy: SCHED_RR/);
      expect(sched).toMatch(/scheduling priority: 50/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("checker_log_all_failures is every checker's default; ip_family inet is read, inet6 conflicts with an IPv4 address as in keepalived", () => {
    const text = `global_defs {\n  checker_log_all_failures\n}\nvirtual_server 10.0.0.100 80 {\n  ip_family inet\n  real_server 10.0.0.1 80 {\n    TCP_CHECK {\n    }\n  }\n}\n`;
    const cfg = wasmvs(text).cfg!;
    expect(cfg.services[0].realServers[0].health!.checkers[0].logAllFailures).toBe(true);
    expect(wasmvs(text.replace("inet", "inet6")).error).toBe("w.conf:11:13: 'inet6': virtual server specified family inet6 conflicts with server family (its address is IPv4)");
  });

  it("skip_check_adv_addr: a master already heard is not checked for its address list again; a new one is (keepalived's vrrp.c)", () => {
    const c: VrrpInstanceConfig = {
      name: "VI_1", ifindex: 0, interfaceName: "eth0", vrid: 51, priority: 100, initialMaster: false, version: 3, advertIntMs: 100, preempt: true,
      preemptDelayMs: 0, addresses: ["10.0.0.100"], garpMasterDelayMs: 5000, garpMasterRepeat: 5, downTimerAdverts: 3, line: 1,
      trackScripts: [], trackInterfaces: [], trackFiles: [], skipCheckAdvAddr: true,
    };
    const clock = new FakeClock();
    const vi = new VrrpInstance(c, clock, { sendAdvert: () => {}, setMaster: () => {}, announce: () => {}, changed: () => {} }, "10.0.0.1");
    const adv = (src: string, addresses: string[]): Advert => ({ src, version: 3, vrid: 51, priority: 150, intervalCs: 10, authType: 0, auth: new Uint8Array(8), addresses });
    vi.start();
    vi.onAdvert(adv("10.0.0.9", ["10.0.0.200"])); // a new master with another list: dropped
    expect(vi.counts.addressMismatch).toBe(1);
    vi.onAdvert(adv("10.0.0.9", ["10.0.0.100"])); // its list: it is the master now
    for (let k = 0; k < 10; k++) {
      clock.advance(100);
      vi.onAdvert(adv("10.0.0.9", ["10.0.0.200"])); // the same master, another list: heard
    }
    expect(vi.counts.addressMismatch).toBe(1);
    expect(vi.state).toBe("BACKUP");
    vi.onAdvert(adv("10.0.0.8", ["10.0.0.200"])); // another sender: checked
    expect(vi.counts.addressMismatch).toBe(2);
  });
});

describe("where keepalived warns and carries on, so does wasmvs", () => {
  it("a vrrp_sync_group of one instance: a warning, and the group runs with its one member", () => {
    const text = `vrrp_sync_group G {\n  group {\n    VI_1\n  }\n}\n${INSTANCE()}`;
    const k = keepalived(text);
    expect(k.out).toBe("Sync group G has only 1 virtual router(s) - this probably isn't what you want\n");
    const w = wasmvs(text);
    expect(w.warnings).toEqual([`w.conf:7:1: vrrp_sync_group G has only one instance (VI_1): it runs as a group of one, as in keepalived ("this probably isn't what you want")`]);
    expect(w.cfg!.vrrpSyncGroups).toMatchObject([{ name: "G", members: ["VI_1"] }]);
    // An empty one is left out (keepalived removes it).
    const e = wasmvs(`vrrp_sync_group G {\n  group {\n  }\n}\n${INSTANCE()}`);
    expect(e.warnings).toEqual(["w.conf:7:1: vrrp_sync_group G has no instances: it is left out, as keepalived removes it"]);
    expect(e.cfg!.vrrpSyncGroups).toBeUndefined();
  });

  it("auth_pass over 8 characters: truncated to 8 with a warning", () => {
    const text = INSTANCE("authentication {\n    auth_type PASS\n    auth_pass 123456789012\n  }");
    expect(keepalived(text).out).toBe("(k.conf: Line 6) Truncating auth_pass to 8 characters\n");
    const w = wasmvs(text);
    expect(w.warnings).toEqual([`w.conf:${lineOf(text, "auth_pass")}:15: auth_pass is longer than 8 characters: only its first 8 are used, as keepalived truncates it`]);
    expect(w.cfg!.vrrp![0].authPass).toBe("12345678");
  });

  it("smtp_server as a host name: resolved when the file is read (here localhost, from /etc/hosts)", () => {
    const text = `global_defs {\n  smtp_server localhost 2525\n  notification_email {\n    root@localhost\n  }\n}\n`;
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    expect(wasmvs(text).cfg!.health!.smtpServer).toEqual({ host: "127.0.0.1", port: 2525 });
    // Not a name at all: keepalived says "Invalid smtp server" and goes on without one; wasmvs too (--strict refuses it).
    expect(wasmvs(text.replace("localhost 2525", "mail_server!")).warnings[0]).toMatch(/^w\.conf:8:15: mail_server!: expected an IPv4 address or a host name: no mail is sent/);
  });

  it("smtp_server that does not resolve (in a namespace without a network): a warning and no mail, as keepalived", () => {
    const text = `global_defs {\n  smtp_server no-such-host.example\n}\n`;
    const k = keepalived(text);
    expect(k).toEqual({ rc: 5, out: "(Line 2) Invalid smtp server no-such-host.example 25\n" });
    // wasmvs check in a namespace with no network: the resolver fails at once, no query leaves.
    const file = folder.write("w.conf", DIRECTOR + text);
    const r = spawnSync("unshare", ["-n", process.execPath, join(ROOT, "bin", "wasmvs.js"), "check", file], { encoding: "utf8", timeout: 30000 });
    expect(r.stdout + r.stderr).toContain(`w.conf:8:15: smtp_server no-such-host.example: unknown host: no mail is sent, as keepalived goes on without a server ("Invalid smtp server")`);
    expect(r.status).toBe(0);
  });
});

describe("where keepalived silently does something else, wasmvs does the same and says so", () => {
  const VS = (kind: string, rs = "", sorry = "") => `virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind ${kind}
  protocol TCP${sorry}
  real_server 10.0.0.2 80 {
    weight 1${rs}
  }
}
`;
  it("lb_kind dr in lower case: keepalived's 'unknown [dr] routing method', NAT; wasmvs NAT with a warning", () => {
    const k = keepalived(VS("dr"));
    expect(k.out).toBe("(k.conf: Line 3) PARSER : unknown [dr] routing method for virtual server.\n" +
      "Virtual server [10.0.0.100]:tcp:80: no forwarding method set, setting default NAT\n");
    const w = wasmvs(VS("dr"));
    expect(w.cfg!.services[0].realServers[0].method).toBe("nat");
    expect(w.warnings).toEqual([`w.conf:9:11: keepalived takes only NAT, DR or TUN in capitals: it logs "unknown [dr] routing method" and keeps ` +
      "this virtual server NAT (its default), and so does wasmvs: write DR for DR"]);
    expect(wasmvs(VS("DR")).cfg!.services[0].realServers[0].method).toBe("dr");
    // A real server's lvs_method tun keeps the virtual server's method.
    const rs = wasmvs(VS("DR", "\n    lvs_method tun"));
    expect(rs.cfg!.services[0].realServers[0].method).toBe("dr");
    expect(rs.warnings[0]).toMatch(/^w\.conf:13:16: keepalived takes only NAT, DR or TUN in capitals: .* keeps the virtual server's method for this real server/);
    expect(keepalived(VS("DR", "\n    lvs_method tun")).out).toBe("(k.conf: Line 7) PARSER : unknown [tun] routing method for real server.\n");
    // Not a method at all: refused.
    expect(wasmvs(VS("direct")).error).toBe("w.conf:9:11: 'direct': expected NAT, DR or TUN");
  });

  it("auth_pass without auth_type: keepalived says nothing and runs without authentication (auth_type none); wasmvs the same, saying so (was: refused) (issue 17 attack)", () => {
    const text = INSTANCE("authentication {\n    auth_pass secret\n  }");
    expect(keepalived(text)).toEqual({ rc: 0, out: "" });
    const w = wasmvs(text);
    expect(w.error).toBeUndefined();
    expect(w.cfg!.vrrp![0].authPass).toBeUndefined();
    expect(w.warnings).toEqual([`w.conf:${lineOf(text, "authentication")}:3: authentication: auth_pass without auth_type: this instance runs WITHOUT ` +
      "authentication (its adverts carry none and it takes adverts without), as keepalived does (its auth_type is none unless given, and it says " +
      "nothing): add auth_type PASS for the password to be used (--strict refuses it)"]);
  });

  it("no protocol: keepalived 2.2 makes the service UDP, wasmvs keeps TCP and says so; no real server: keepalived leaves it out, wasmvs says so", () => {
    const text = `virtual_server 10.0.0.100 80 {\n  lb_algo rr\n  real_server 10.0.0.2 80 {\n  }\n}\nvirtual_server 10.0.0.100 81 {\n  protocol TCP\n}\n`;
    // (keepalived also remarks on the missing lb_kind: NAT, wasmvs's default too.)
    expect(keepalived(text).out).toBe("Virtual server [10.0.0.100]:none:80: no protocol set - defaulting to UDP\n" +
      "Virtual server [10.0.0.100]:udp:80: no forwarding method set, setting default NAT\n" +
      "Virtual server [10.0.0.100]:tcp:81 has no real servers - ignoring\n");
    const w = wasmvs(text);
    expect(w.warnings).toEqual([
      `w.conf:7:1: no protocol: TCP in wasmvs, but keepalived 2.2 makes this virtual server UDP ("no protocol set - defaulting to UDP"): write protocol TCP (or UDP) for both to agree`,
      `w.conf:12:1: no real_server: keepalived 2.2 leaves this virtual server out ("has no real servers - ignoring"); wasmvs sets it up`,
    ]);
    expect(w.cfg!.services.map((s) => `${s.protocol} ${s.port}`)).toEqual(["tcp 80", "tcp 81"]);
    // A firewall-mark service has no protocol to set.
    expect(wasmvs(`virtual_server fwmark 1 {\n  real_server 10.0.0.2 80 {\n  }\n}\n`).warnings).toEqual([]);
  });

  it("a DR sorry server on another port gets the service's port with the warning real servers get (keepalived: 'ports don't match - resetting')", () => {
    const text = VS("DR", "", "\n  sorry_server 10.0.0.9 8080").replace("real_server 10.0.0.2 80", "real_server 10.0.0.2 8080");
    expect(keepalived(text).out).toBe("WARNING - virtual server [10.0.0.100]:tcp:80 and real server [10.0.0.2]:tcp:8080 ports don't match - resetting\n" +
      "WARNING - virtual server [10.0.0.100]:tcp:80 and sorry server ports don't match - resetting\n");
    const w = wasmvs(text);
    expect(w.warnings).toEqual([
      "w.conf:12: direct routing cannot change the port: real server 10.0.0.2:8080 gets the service port 80, as ipvsadm does",
      "w.conf:11: direct routing cannot change the port: sorry server 10.0.0.9:8080 gets the service port 80, as keepalived does",
    ]);
    expect(w.cfg!.services[0].health!.sorry).toMatchObject({ address: "10.0.0.9", port: 80, method: "dr" });
  });
});

// The lenient rule: where keepalived 2.2.7 warns and carries on (or silently reads a line its
// own way), wasmvs does the same with a warning at the line; `--strict` refuses each such line
// (the behaviour before). keepalived -t is the judge of what keepalived says.
describe("keepalived's carry-on cases: a warning by default, an error with --strict", () => {
  /** wasmvs --strict on DIRECTOR + text: its error, or undefined. */
  const strict = (text: string): string | undefined => {
    const file = folder.write("w.conf", DIRECTOR + text);
    try {
      parseKeepalived(file, undefined, true);
      return undefined;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return e.message.replaceAll(folder.path() + "/", "");
    }
  };
  /** keepalived -t says text about line (of text, without the director block). */
  const says = (out: string, line: number | undefined, what: string) =>
    expect(out.split("\n").some((l) => (line === undefined || l.includes(`Line ${line})`)) && l.includes(what)), `${line}: ${what}\n${out}`).toBe(true);
  const kLine = (text: string, needle: string) => text.split("\n").findIndex((l) => l.includes(needle)) + 1;
  /** One warning at each line (the first holding a needle, or a line number of text), and the same lines refused with --strict. */
  const warnsThenRefuses = (text: string, where: (string | number)[]) => {
    const lines = where.map((n) => (typeof n === "number" ? DIRECTOR.split("\n").length - 1 + n : lineOf(text, n)));
    const w = wasmvs(text);
    expect(w.error).toBeUndefined();
    lines.forEach((l, i) => expect(w.warnings.filter((x) => x.startsWith(`w.conf:${l}:`) && x.endsWith("(--strict refuses it)")), `${where[i]}`).toHaveLength(1));
    const err = strict(text)!;
    if (lines.length > 1) expect(err.split("\n")[0]).toBe(`${lines.length} errors:`);
    lines.forEach((l, i) => expect(err, `${where[i]}`).toContain(`w.conf:${l}:`));
    return w;
  };

  it("unknown keywords (misspelt, keepalived 1's, another block's) and an unknown block are ignored with their lines; a track_script naming no script is not tracked", () => {
    const text = `global_defs {
  lvs_id LVS_1
  garp_master_delay 1
}
vvrp_script chk {
  script "/bin/true"
}
${INSTANCE("track_script {\n    chk\n  }")}
virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  nat_mask 255.255.255.0
  real_server 10.0.0.2 80 {
    weigth 2
    TCP_CHECK {
      nb_get_retry 3
    }
  }
}
`;
    const k = keepalived(text);
    expect(k.rc).toBe(5);
    for (const kw of ["lvs_id", "garp_master_delay", "vvrp_script", "nat_mask", "weigth", "nb_get_retry"]) says(k.out, kLine(text, kw), `Unknown keyword '${kw}'`);
    says(k.out, kLine(text, "    chk"), "(VI_1) track script chk not found, ignoring...");
    const w = warnsThenRefuses(text, ["lvs_id", "garp_master_delay", "vvrp_script", "    chk", "nat_mask", "weigth", "nb_get_retry"]);
    expect(w.warnings).toContain(`w.conf:${lineOf(text, "weigth")}:5: weigth: unknown keyword in real_server (did you mean 'weight'?): ignored, as keepalived does (--strict refuses it)`);
    // What keepalived does: the default weight, no script, nothing tracked.
    expect(w.cfg!.services[0].realServers[0].weight).toBe(1);
    expect(w.cfg!.vrrpScripts ?? []).toEqual([]);
    expect(w.cfg!.vrrp![0].trackScripts).toEqual([]);
  });

  it("values keepalived replaces by its default or ignores: state backup, priority 100,xyz, persistence_timeout 0, smtp_server **, a sync group's missing instance, a second lvs_sync_daemon_interface, auth_type without auth_pass", () => {
    const text = `global_defs {
  smtp_server **
}
vrrp_instance VI_1 {
  state backup
  interface eth0
  virtual_router_id 51
  priority 100,xyz
  lvs_sync_daemon_interface eth0
  authentication {
    auth_type PASS
    autp_pass 1111
  }
  virtual_ipaddress {
    10.0.0.51
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  lvs_sync_daemon_interface eth0
  virtual_ipaddress {
    10.0.0.52
  }
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
    VI_9
  }
}
virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  persistence_timeout 0
  real_server 10.0.0.2 80 {
  }
}
`;
    const k = keepalived(text);
    expect(k.rc).toBe(5);
    says(k.out, kLine(text, "smtp_server"), "Invalid smtp server ** 25");
    says(k.out, kLine(text, "state backup"), "(VI_1) unknown state 'backup', defaulting to BACKUP");
    says(k.out, kLine(text, "100,xyz"), "(VI_1) Priority not valid! must be between 1 & 255. Using default 100");
    says(k.out, 21, "(VI_2) lvs_sync_daemon_interface has already been specified as eth0 - ignoring");
    says(k.out, undefined, "Virtual router VI_9 specified in sync group G doesn't exist - ignoring");
    says(k.out, undefined, "(VI_1) Authentication specified but no password given. Ignoring");
    says(k.out, kLine(text, "persistence_timeout"), "persistence_timeout invalid");
    const w = warnsThenRefuses(text, ["smtp_server", "state backup", "100,xyz", "autp_pass", "authentication", 21, "VI_9", "persistence_timeout"]);
    expect(w.warnings).toContain(`w.conf:${lineOf(text, "authentication")}:3: authentication: auth_type PASS needs auth_pass: this instance runs WITHOUT authentication ` +
      "(its adverts carry none and it takes adverts without), as keepalived does (\"Authentication specified but no password given. Ignoring\"): " +
      "a peer with auth_pass will not accept its adverts (--strict refuses it)");
    const [vi1] = w.cfg!.vrrp!;
    expect(vi1).toMatchObject({ initialMaster: false, priority: 100 });
    expect(vi1.authPass).toBeUndefined();
    expect(w.cfg!.health?.smtpServer).toBeUndefined();
    expect(w.cfg!.services[0].persistence).toBeUndefined();
    expect(w.cfg!.syncDaemon).toMatchObject({ instance: "VI_1", interfaceName: "eth0" });
    expect(w.cfg!.vrrpSyncGroups).toEqual([expect.objectContaining({ name: "G", members: ["VI_1", "VI_2"] })]);
  });

  it("what keepalived reads its own way: nopreempt with state MASTER, notify_master twice, a bare program name, USER after an unquoted script, words after preempt, prefixes on unicast addresses", () => {
    const text = `vrrp_instance VI_1 {
  state MASTER
  nopreempt
  interface eth0
  virtual_router_id 51
  priority 200
  notify_master "/bin/echo one"
  notify_master "/bin/echo two"
  notify_backup "true backup"
  notify_fault no-such-program-here
  notify_stop /bin/echo stopping
  virtual_ipaddress {
    10.0.0.51
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  priority 100
  preempt delay 300
  unicast_src_ip 10.0.0.254/24
  unicast_peer {
    10.0.0.2/24
  }
  virtual_ipaddress {
    10.0.0.52
  }
}
vrrp_instance VI_3 {
  state BACKUP
  interface eth0
  virtual_router_id 53
  nopreempt
  preempt_delay 10
  virtual_ipaddress {
    10.0.0.53
  }
}
`;
    const k = keepalived(text);
    expect([5, 6]).toContain(k.rc); // 6: scripts without script_security (keepalived runs them, and says so)
    says(k.out, undefined, "(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing");
    says(k.out, 8, "(VI_1) notify_master script already specified - ignoring /bin/echo two");
    says(k.out, undefined, "(VI_3) preempt_delay is incompatible with nopreempt mode - resetting");
    // The rest keepalived takes without a word at -t (a notify script it cannot use is logged at start).
    for (const l of [9, 10, 11, 20, 21, 23]) expect(k.out, `${l}`).not.toContain(`Line ${l})`);
    const w = warnsThenRefuses(text, ["nopreempt", "/bin/echo two", "no-such-program-here", "true backup", "stopping", "preempt delay", "unicast_src_ip", "10.0.0.2/24", "preempt_delay 10"]);
    const [vi1, vi2, vi3] = w.cfg!.vrrp!;
    expect(vi3).toMatchObject({ preempt: false, preemptDelayMs: 0 });
    expect(vi1.preempt).toBe(true);
    expect(vi1.notifyMaster?.argv).toEqual(["/bin/echo", "one"]);
    // A bare name is looked up in PATH, as keepalived's find_path does.
    expect(vi1.notifyBackup?.argv).toEqual(["/usr/bin/true", "backup"]);
    expect(vi1.notifyFault).toBeUndefined();
    // keepalived reads "stopping" as the user to run /bin/echo as: there is none, the script is disabled.
    expect(vi1.notifyStop).toBeUndefined();
    expect(w.warnings.find((x) => x.includes("stopping"))).toContain(`notify_stop "/bin/echo stopping"`);
    expect(vi2).toMatchObject({ preempt: true, preemptDelayMs: 0, unicastPeers: ["10.0.0.2"] });
  });

  it("vrrp_script's script: the command is the first word (quoted with its arguments); unquoted words after it are dropped, as keepalived drops them", () => {
    const text = `vrrp_script chk {\n  script /bin/test -e /run/x\n}\n${INSTANCE("track_script {\n    chk\n  }")}`;
    const k = keepalived(text);
    expect(k.out).not.toContain("Line 2)");
    const w = warnsThenRefuses(text, ["/bin/test"]);
    expect(w.cfg!.vrrpScripts![0].script.argv).toEqual(["/bin/test"]);
    expect(wasmvs(text.replace("/bin/test -e /run/x", '"/bin/test -e /run/x"')).cfg!.vrrpScripts![0].script.argv).toEqual(["/bin/test", "-e", "/run/x"]);
  });

  it("checker scripts as keepalived reads them: misc_path's words after an unquoted command dropped, notify_down's taken as the user, notify_up twice keeps the first", () => {
    const text = `virtual_server 10.0.0.100 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum_up /bin/echo up
  real_server 10.0.0.2 80 {
    notify_up "/bin/echo up"
    notify_up "/bin/echo again"
    notify_down /bin/echo gone
    MISC_CHECK {
      misc_path /bin/test -e /run/x
    }
  }
}
`;
    const k = keepalived(text);
    says(k.out, 8, "notify_up script already specified - ignoring /bin/echo again");
    for (const l of [5, 9, 11]) expect(k.out, `${l}`).not.toContain(`Line ${l})`);
    const w = warnsThenRefuses(text, [5, "again", "gone", "-e /run/x"]);
    const s = w.cfg!.services[0];
    expect(s.health!.quorumUp).toBeUndefined(); // user "up" does not exist: disabled
    const rs = s.realServers[0];
    expect(rs.health!.notifyUp?.argv).toEqual(["/bin/echo", "up"]);
    expect(rs.health!.notifyDown).toBeUndefined();
    expect(rs.health!.checkers[0]).toMatchObject({ kind: "MISC_CHECK" });
    expect(JSON.stringify(rs.health!.checkers[0])).toContain('"argv":["/bin/test"]');
  });

  it("wasmvs check --strict refuses what check accepts with a warning; the usage names --strict for check and run", () => {
    const file = folder.write("s.conf", DIRECTOR + `virtual_server 10.0.0.100 80 {\n  lb_kind NAT\n  protocol TCP\n  real_server 10.0.0.2 80 {\n    weigth 2\n  }\n}\n`);
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin", "wasmvs.js"), ...args], { encoding: "utf8", timeout: 30000 });
    const lenient = cli("check", file);
    expect(lenient.status).toBe(0);
    expect(lenient.stdout).toContain(`warning: ${file}:11:5: weigth: unknown keyword in real_server (did you mean 'weight'?): ignored, as keepalived does (--strict refuses it)`);
    const strictRun = cli("check", file, "--strict");
    expect(strictRun.status).not.toBe(0);
    expect(strictRun.stderr).toContain(`${file}:11:5: 'weigth': unknown keyword in real_server (did you mean 'weight'?)`);
    const usage = cli("--help");
    expect(usage.stdout + usage.stderr).toMatch(/check FILE \[--director FILE\] \[--strict\]/);
    expect(usage.stdout + usage.stderr).toMatch(/run --config FILE \[--director FILE\] \[--strict\]/);
  });
});
