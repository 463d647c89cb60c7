// `wasmvs check` tells everything at once (issue 17): every error of every stage — words and
// values, the missing director block, what no input may set up, the engine's own refusals —
// in one run, in file order (an included file where its include is), at the value at fault,
// without errors that only follow from another; a reload that is refused says the same list.
// And what check says it understood: VRRP, sync, checkers, notify scripts, endpoints.

import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/sandbox/sandbox.js";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { loadConfig } from "../host/control/load.js";
import { applyConfig, ConfigError, configSlotSize, DirectorConfig, sortErrors } from "../host/config/rules.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";
import { ADD_DIRECTOR } from "../host/config/keepalived-grammar.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const folder = tempFolder("wasmvs-check-");
const write = folder.write;

/** wasmvs check, bounded in time; returns what it said. */
function check(file: string, ...flags: string[]) {
  const r = spawnSync(process.execPath, [CLI, "check", file, ...flags], { cwd: folder.path(), encoding: "utf8", timeout: 60000 });
  expect(r.signal).toBeNull();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A keepalived.conf with an include, and errors of every stage in both files. */
const MAIN = `global_defs {
    router_id lb1
    lvs_sync_daemon inside VI_1
    lvs_timeoutz tcp 900
}
director {
    interface outside {
        mac 02:00:00:00:00:01
        address 10.0.0.1/24
    }
    interface inside {
        mac 02:00:00:00:01:zz
        address 10.1.0.1/24
    }
}
include part.conf
vrrp_instance VI_1 {
    interface eth9
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
    track_script {
        chk
    }
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
}
virtual_server 10.0.0.1 80 {
    lb_kind DR
    real_server 192.0.2.9 80 {
        weight 1
    }
    real_server 10.1.0.11 80 {
        weight 70000
    }
}
`;
const PART = `vrrp_script chk {
    script "/bin/true"
    interval soon
}
vrrp_instance VI_2 {
    interface inside
    virtual_router_id 52
    unicast_src_ip 10.1.0.9
    virtual_ipaddress {
        10.1.0.100
    }
}
`;

describe("wasmvs check: every error of every stage, in one run", () => {
  it("keepalived.conf: words, values, VRRP's own checks, the model's and the engine's, in file order at the value, the include's where it is", () => {
    write("main.conf", MAIN);
    write("part.conf", PART);
    // --strict: an unknown keyword is an error too (by default a warning, as keepalived carries on).
    const r = check("main.conf", "--strict");
    expect(r.status).toBe(1);
    const part = join(folder.path(), "part.conf");
    expect(check("main.conf").stderr).toMatch(/^wasmvs: 7 errors:\nmain\.conf:12:13: /);
    expect(r.stderr).toBe([
      "wasmvs: 8 errors:",
      "main.conf:4:5: 'lvs_timeoutz': unknown keyword in global_defs (did you mean 'lvs_timeouts'?)",
      "main.conf:12:13: '02:00:00:00:01:zz': not a MAC address: \"02:00:00:00:01:zz\"",
      // part.conf is included at line 16: its errors come between main.conf's lines 12 and 18.
      `${part}:3:14: 'soon': interval must be a number of seconds (e.g. 5 or 0.2)`,
      // Was hidden behind the first stage, and then at the instance's line, column 1.
      `${part}:8:20: '10.1.0.9': adverts leave from inside's address 10.1.0.1: wasmvs has one address per interface`,
      "main.conf:18:15: 'eth9': no interface eth9 in the director block (interfaces: outside, inside): add `interface eth9 { device eth9 }` (the host's own eth9, through AF_XDP rings) or `interface eth9 { address ADDRESS/PREFIX }` (a TAP named eth9) to it",
      // checkModel's and the engine's stages, at the address written (was: column 1 of the line, in a later run).
      "main.conf:33:16: '10.0.0.1': 10.0.0.1 is the director's own address (interface outside): a VIP must be an address of its own",
      "main.conf:35:17: '192.0.2.9': real server 192.0.2.9:80: real server is not on a directly connected network (direct routing needs one)",
      "main.conf:39:16: '70000': weight must be a whole number from 0 to 65535",
      "",
    ].join("\n"));
    // No cascades: VI_1 failed on its interface, chk on its interval — the sync group, lvs_sync_daemon
    // and track_script that name them are not refused for it; the interface whose MAC was refused
    // still exists for VI_2 and lvs_sync_daemon.
    expect(r.stderr).not.toMatch(/no vrrp_instance named|no vrrp_script named|no interface inside|needs an interface/);
  });

  it("the missing director block comes with the rest, and what names an interface is not refused for its absence", () => {
    write("nodirector.conf", `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 300
    virtual_ipaddress {
        10.0.0.100
    }
}
virtual_server 10.0.0.100 80 {
    lb_algo nosuch
    lb_kind DR
    real_server 192.0.2.9 80 {
    }
}
`);
    const r = check("nodirector.conf");
    expect(r.stderr).toBe([
      "wasmvs: 3 errors:",
      `nodirector.conf:1:1: 'director': no director block: ${ADD_DIRECTOR}`,
      "nodirector.conf:3:23: '300': virtual_router_id must be a whole number from 1 to 255",
      "nodirector.conf:9:13: 'nosuch': unknown scheduler (supported: rr, wrr, lc, wlc, sh, dh, sed, nq, fo, ovf, twos, lblc, mh, maglev, lblcr)",
      "",
    ].join("\n"));
  });

  it("a rules file follows the same principle: every stage, file order, the value's column, no 'not defined' after a refused -A", () => {
    write("all.rules", [
      "interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24",
      "interface 1 name inside mac 02:00:00:00:01:01 address 10.1.0.1/24 mtu 99999",
      "route 10.9.0.0/16 via 10.7.0.254",
      "-A -t 10.0.0.100:80 -s nosuch",
      "-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m",
      "-A -t 10.0.0.101:80 -s rr",
      "-a -t 10.0.0.101:80 -r 192.0.2.9:80 -g",
      "-a -t 10.0.0.101:80 -r 10.0.0.1:80 -g",
      "bogus",
      "",
    ].join("\n"));
    const r = check("all.rules");
    expect(r.stderr.split("\n")).toEqual([
      "wasmvs: 6 errors:",
      "all.rules:2:71: '99999': mtu must be a whole number from 68 to 65535",
      "all.rules:3:23: '10.7.0.254': gateway 10.7.0.254 is not on any interface's subnet (add 'dev INTERFACE')",
      "all.rules:4:24: 'nosuch': Scheduler or persistence engine not found",
      "all.rules:7:24: '192.0.2.9:80': real server 192.0.2.9:80: real server is not on a directly connected network (direct routing needs one)",
      "all.rules:8:24: '10.0.0.1:80': real server 10.0.0.1 is the director's own address (interface outside)",
      expect.stringMatching(/^all\.rules:9:1: 'bogus': unknown keyword/),
      "",
    ]);
  });

  it("a header that is refused does not hide its block: a real_server's weight and checker, a virtual_server's scheduler", () => {
    write("headers.conf", DIRECTOR + "virtual_server 10.0.0.300 80 {\n  lb_algo nosuch\n  real_server 10.1.0.300 80 {\n    weight x\n" +
      "    TCP_CHECK {\n      connect_port 0\n    }\n  }\n}\n");
    expect(check("headers.conf").stderr.split("\n")).toEqual([
      "wasmvs: 5 errors:",
      "headers.conf:11:16: '10.0.0.300': the virtual address must be an IPv4 address, got \"10.0.0.300\"",
      expect.stringMatching(/^headers\.conf:12:11: 'nosuch': unknown scheduler/),
      "headers.conf:13:15: '10.1.0.300': the real server must be an IPv4 address, got \"10.1.0.300\"",
      "headers.conf:14:12: 'x': weight must be a whole number from 0 to 65535",
      "headers.conf:16:20: '0': connect_port must be a whole number from 1 to 65535",
      "",
    ]);
  });

  it("an interface whose address was refused: no guessed 'not on-link' or 'no route' for the servers behind it", () => {
    write("noaddr.conf", DIRECTOR.replace("10.1.0.1/24", "10.1.0.300/24") + "virtual_server 10.0.0.100 80 {\n  lb_kind DR\n  real_server 10.1.0.11 80 {\n  }\n}\n");
    const r = check("noaddr.conf");
    expect(r.stderr).toBe("wasmvs: noaddr.conf:8:13: '10.1.0.300/24': not an IPv4 address: \"10.1.0.300\"\n");
  });
});

describe("file order", () => {
  it("an included file's errors stand where its include does, nested and globbed includes too; each error once", () => {
    // main.conf includes a.conf at line 5 (which includes c.conf at its line 2) and b1/b2.conf by a glob at line 9.
    const order = new Map([["main.conf", []], ["/a.conf", [5, 1, 0]], ["/c.conf", [5, 1, 0, 2, 1, 0]], ["/b1.conf", [9, 1, 0]], ["/b2.conf", [9, 1, 1]]]);
    const e = (file: string, line: number, column: number) => new ConfigError(file, line, column, "x", "y");
    const errors = [e("/b2.conf", 1, 1), e("main.conf", 12, 3), e("/c.conf", 7, 1), e("/a.conf", 1, 4), e("main.conf", 5, 1), e("/a.conf", 3, 1),
      e("/b1.conf", 9, 9), e("main.conf", 4, 30), e("main.conf", 4, 2), e("/a.conf", 1, 4), e("other.conf", 1, 1)];
    expect(sortErrors(errors, order).map((x) => `${x.file}:${x.line}:${x.column}`)).toEqual([
      "main.conf:4:2", "main.conf:4:30", "main.conf:5:1", "/a.conf:1:4", "/c.conf:7:1", "/a.conf:3:1", "/b1.conf:9:9", "/b2.conf:1:1", "main.conf:12:3",
      "other.conf:1:1", // a file read otherwise: after the rest
    ]);
  });
});

describe("wasmvs check: what it understood", () => {
  it("VRRP instances with their state machine settings, sync group, sync daemon, scripts, FIFO, checkers per server, endpoints", () => {
    const f = write("ok.conf", `global_defs {
    lvs_sync_daemon inside VI_1 id 7
    vrrp_notify_fifo /tmp/wasmvs-check-test.fifo
    vrrp_notify_fifo_script /bin/cat
}
${DIRECTOR.replace(/}\n$/, "  metrics 127.0.0.1:9100\n  dashboard 127.0.0.1:8080\n}\n")}vrrp_script chk {
    script "/bin/true"
    interval 2
    weight -20
}
vrrp_instance VI_1 {
    state BACKUP
    interface outside
    virtual_router_id 51
    priority 150
    preempt_delay 5
    unicast_peer {
        10.0.0.2
    }
    virtual_ipaddress {
        10.0.0.100
        10.0.0.101
    }
    track_script {
        chk
    }
    notify_master "/bin/echo master"
}
vrrp_instance VI_2 {
    interface inside
    virtual_router_id 52
    nopreempt
    version 3
    advert_int 0.5
    virtual_ipaddress {
        10.1.0.100
    }
}
vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
}
virtual_server 10.0.0.100 80 {
    lb_algo rr
    real_server 10.1.0.11 8080 {
        HTTP_GET {
            url {
                path /health
            }
            connect_timeout 3
            delay_before_retry 2
            retry 2
        }
    }
    real_server 10.1.0.12 8080 {
        TCP_CHECK {
            connect_port 8081
            delay_loop 10
        }
    }
}
`);
    const r = check(f);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.find((l) => l.startsWith("control socket: "))).toMatch(/; metrics: http:\/\/127\.0\.0\.1:9100\/metrics; dashboard: http:\/\/127\.0\.0\.1:8080\/; offloads: off; reject_unknown: on$/);
    const from = lines.findIndex((l) => l.startsWith("vrrp_instance "));
    expect(lines.slice(from, lines.findIndex((l) => l.startsWith("services ")))).toEqual([
      "vrrp_instance VI_1: state BACKUP, interface outside, VRID 51, priority 150, advert 1 s (VRRPv2), preempt, preempt_delay 5 s, 2 VIPs, " +
        "unicast peers 10.0.0.2; tracking: interface outside, script chk weight -20; sync group: G1",
      "  VI_1 notify: notify_master /bin/echo master",
      "vrrp_instance VI_2: state BACKUP, interface inside, VRID 52, priority 100, advert 0.5 s (VRRPv3), nopreempt, 1 VIP, multicast 224.0.0.18; " +
        "tracking: interface inside; sync group: G1",
      "vrrp_sync_group G1: VI_1, VI_2",
      "vrrp_script chk: /bin/true every 2 s, timeout 2 s, weight -20, rise 1 fall 1",
      "lvs_sync_daemon: interface inside, following VI_1 (sends while it is MASTER, receives otherwise), syncid 7, group 224.0.0.81, maxlen 1472",
      "vrrp_notify_fifo /tmp/wasmvs-check-test.fifo, read by /bin/cat",
      "health checks: 2 real server(s) checked by 1 HTTP_GET, 1 TCP_CHECK",
      "  TCP 10.0.0.100:80 -> 10.1.0.11:8080: HTTP_GET port 8080 every 60 s, timeout 3 s, retry 2 after 2 s",
      "  TCP 10.0.0.100:80 -> 10.1.0.12:8080: TCP_CHECK port 8081 every 10 s, timeout 5 s, retry 1 after 1 s",
    ]);
  });
});

describe("a refused reload says what check says", () => {
  it("the same full list, engine refusals included, in the same order", async () => {
    const good = DIRECTOR + "virtual_server 10.0.0.100 80 {\n  real_server 10.1.0.11 80 {\n  }\n}\n";
    const f = write("reload.conf", good);
    const cfg = loadConfig(f);
    const engine = await loadEngine({ batch: 8, connCapacity: 64, slotSize: configSlotSize(cfg) });
    applyConfig(engine, cfg);
    const state = new ControlState(new LocalEngine(engine, () => 1000), cfg, (): DirectorConfig => loadConfig(f));
    // A word error, a value error and two the engine finds (a DR server off-link; a VIP that is ours).
    write("reload.conf", DIRECTOR + "virtual_server 10.0.0.100 80 {\n  lb_kind DR\n  real_server 192.0.2.9 80 {\n    weight x\n  }\n}\n" +
      "virtual_server 10.0.0.1 81 {\n  real_server 10.1.0.11 99999 {\n  }\n}\n");
    const said = check(f).stderr.replace(/^wasmvs: /, "").trimEnd();
    expect(said.split("\n")).toHaveLength(5);
    expect(said).toContain(":13:15: '192.0.2.9': real server 192.0.2.9:80: real server is not on a directly connected network");
    await expect(state.reloadFile()).rejects.toThrow(said);
    expect(state.running.services.map((s) => `${s.address}:${s.port}`)).toEqual(["10.0.0.100:80"]);
    // A refused vrrp_instance and the sync group naming it: its error only (the group's other
    // member, which does not exist, is left out with a warning, as keepalived does), not "the
    // VRRP instances changed: restart" for the instance that looks removed.
    write("reload.conf", good + "vrrp_instance VI_1 {\n  interface eth9\n  virtual_router_id 5\n  virtual_ipaddress {\n    10.0.0.50\n  }\n}\n" +
      "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n");
    const again = check(f).stderr.replace(/^wasmvs: /, "").trimEnd();
    expect(again.replaceAll(folder.path() + "/", "").split("\n")).toEqual([
      "reload.conf:16:13: 'eth9': no interface eth9 in the director block (interfaces: outside, inside): add `interface eth9 { device eth9 }` (the host's own eth9, through AF_XDP rings) or `interface eth9 { address ADDRESS/PREFIX }` (a TAP named eth9) to it",
    ]);
    await expect(state.reloadFile()).rejects.toThrow(again);
  });
});
