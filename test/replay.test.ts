// wasmvs replay end to end: a capture built here goes through the command; the output
// is the same byte for byte on every run, tcpdump reads it, the report counts it, and
// a bad rule stops everything with its line and reason.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { writePcap, readPcap } from "../host/engine/pcap.js";
import { loadEngine } from "../host/engine/node.js";
import { eth, ipv4, tcp, udp, expectFrame, SYN, ACK } from "./helpers/packet.js";
import { parseRules, ConfigError, configSlotSize } from "../host/config/rules.js";
import { mhPick, mhTable } from "./helpers/mh-model.js";
import { flowSlot, model as maglevModel } from "./helpers/maglev-model.js";

const ROOT = new URL("..", import.meta.url).pathname;
const CLI = join(ROOT, "bin/wasmvs.js");
let dir: string;

function capture(): Uint8Array {
  const frames: { timeUs: number; data: Uint8Array }[] = [];
  let t = 1_700_000_000_000_000;
  for (let i = 0; i < 30; i++) {
    const src = `192.0.2.${i + 1}`;
    const vip = ["10.0.0.100", "10.0.0.101"][i % 2];
    frames.push({ timeUs: (t += 1500), data: eth("02:00:00:00:00:01", "02:00:00:00:00:fe", 0x0800, ipv4({ src, dst: vip, proto: 6, payload: tcp({ src, dst: vip, sport: 30000 + i, dport: 80, flags: SYN }) })) });
    frames.push({ timeUs: (t += 700), data: eth("02:00:00:00:00:01", "02:00:00:00:00:fe", 0x0800, ipv4({ src, dst: "10.0.0.102", proto: 17, payload: udp({ src, dst: "10.0.0.102", sport: 40000 + i, dport: 53, payload: [i] }) })) });
  }
  // ARP replies from the real servers, so the director can address them.
  for (const [k, rs] of ["10.1.0.11", "10.1.0.12", "10.1.0.13"].entries()) {
    const m = `02:aa:00:00:00:1${k + 1}`;
    frames.push({ timeUs: 1_700_000_000_001_600 + k, data: eth("02:00:00:00:01:01", m, 0x0806, [0, 1, 8, 0, 6, 4, 0, 2, ...m.split(":").map((h) => parseInt(h, 16)), ...rs.split(".").map(Number), 2, 0, 0, 0, 1, 1, 10, 1, 0, 1]) });
  }
  frames.sort((a, b) => a.timeUs - b.timeUs);
  // The first SYN (t0 + 1500 us) precedes the ARP replies (t0 + 1600 us): it waits for them.
  return writePcap(frames);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "wasmvs-replay-"));
  copyFileSync(join(ROOT, "examples/director.rules"), join(dir, "director.rules"));
  writeFileSync(join(dir, "in.pcap"), capture());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) => spawnSync("node", [CLI, ...args], { encoding: "utf8" });

describe("wasmvs replay", () => {
  it("balances the capture and writes the same bytes on every run", () => {
    const a = run(["replay", "--config", join(dir, "director.rules"), "--in", join(dir, "in.pcap"), "--out", join(dir, "a.pcap")]);
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    const b = run(["replay", "--config", join(dir, "director.rules"), "--in", join(dir, "in.pcap"), "--out", join(dir, "b.pcap"), "--batch", "7"]);
    expect(b.status).toBe(0);
    const out = readFileSync(join(dir, "a.pcap"));
    expect(Buffer.compare(out, readFileSync(join(dir, "b.pcap")))).toBe(0);
    const packets = readPcap(new Uint8Array(out)).packets.map((p) => expectFrame(p.data));
    // The first SYN to the NAT service comes before the ARP replies: it waits, then leaves.
    expect(packets.filter((p) => p.arp?.op === 1).length).toBeGreaterThan(0);
    const nat = packets.filter((p) => p.ip?.tcp && p.ip.dst.startsWith("10.1.0.") && p.ip.tcp.dport === 8080);
    const dr = packets.filter((p) => p.ip?.tcp && p.ip.dst === "10.0.0.101");
    const tun = packets.filter((p) => p.ip?.proto === 4);
    expect(nat).toHaveLength(15);
    expect(dr).toHaveLength(15);
    expect(tun).toHaveLength(30);
    // wrr 3:2:1 over 15 connections.
    expect(["10.1.0.11", "10.1.0.12", "10.1.0.13"].map((r) => nat.filter((p) => p.ip!.dst === r).length)).toEqual([7, 5, 3]);
    expect(a.stdout).toMatch(/replayed 63 frames/);
    expect(a.stdout).toMatch(/TCP  10\.0\.0\.100:80\s+wrr/);
    expect(a.stdout).toMatch(/drops: none/);
  });

  it("takes the same director as keepalived.conf, with the same output", () => {
    const conf = join(dir, "director.conf");
    writeFileSync(conf, `global_defs {
  lvs_timeouts tcp 900 tcpfin 120 udp 300
}
director {
  interface outside {
    mac 02:00:00:00:00:01
    address 10.0.0.1/24
  }
  interface inside {
    mac 02:00:00:00:01:01
    address 10.1.0.1/24
  }
  default_gateway 10.0.0.254
  neighbour 10.0.0.254 02:00:00:00:00:fe
  connection_table_size 65536
}
virtual_server 10.0.0.100 80 {
  lb_algo wrr
  lb_kind NAT
  real_server 10.1.0.11 8080 {
    weight 3
  }
  real_server 10.1.0.12 8080 {
    weight 2
  }
  real_server 10.1.0.13 8080 {
    weight 1
  }
}
virtual_server 10.0.0.101 80 {
  lb_algo rr
  lb_kind DR
  real_server 10.1.0.11 80 {
    weight 1
  }
  real_server 10.1.0.12 80 {
    weight 1
  }
}
virtual_server 10.0.0.102 53 {
  protocol UDP
  lb_algo sh
  lb_kind TUN
  real_server 10.1.0.11 53 {
    weight 1
  }
  real_server 10.1.0.12 53 {
    weight 1
  }
}
`);
    const r = run(["replay", "--config", conf, "--in", join(dir, "in.pcap"), "--out", join(dir, "k.pcap")]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "k.pcap")), readFileSync(join(dir, "a.pcap")))).toBe(0);
    // The director block in a file of its own (--director): the keepalived.conf without it, the same bytes out.
    const text = readFileSync(conf, "utf8");
    const start = text.indexOf("director {");
    const end = text.indexOf("\n}\n", start) + 3;
    writeFileSync(join(dir, "split.conf"), text.slice(0, start) + text.slice(end));
    writeFileSync(join(dir, "split.director"), text.slice(start, end));
    const s = run(["replay", "--config", join(dir, "split.conf"), "--director", join(dir, "split.director"), "--in", join(dir, "in.pcap"), "--out", join(dir, "s.pcap")]);
    expect(s.stderr).toBe("");
    expect(s.status).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "s.pcap")), readFileSync(join(dir, "a.pcap")))).toBe(0);
  });

  it("writes a capture that tcpdump reads", () => {
    const probe = spawnSync("tcpdump", ["--version"], { encoding: "utf8" });
    if (probe.error) throw new Error("tcpdump is not installed (apt-get install tcpdump; .ci/run installs it)");
    const text = execFileSync("tcpdump", ["-nn", "-r", join(dir, "a.pcap")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(text).toMatch(/IP 10\.1\.0\.1 > 10\.1\.0\.1[123]: IP 192\.0\.2\.\d+\.\d+ > 10\.0\.0\.102\.53: /);
    expect(text).toMatch(/ARP, Request who-has 10\.1\.0\.13 tell 10\.1\.0\.1/);
    expect(text).toMatch(/192\.0\.2\.\d+\.\d+ > 10\.1\.0\.1[123]\.8080: Flags \[S\]/);
  });

  it("refuses a bad rule with file, line and reason, and writes nothing", () => {
    const bad = join(dir, "bad.rules");
    writeFileSync(bad, readFileSync(join(dir, "director.rules"), "utf8").replace("-a -t 10.0.0.101:80 -r 10.1.0.12:80 -g -w 1", "-a -t 10.0.0.109:80 -r 10.1.0.12:80 -g -w 1"));
    const r = run(["replay", "--config", bad, "--in", join(dir, "in.pcap"), "--out", join(dir, "never.pcap")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("wasmvs: " + bad + ":17:7: '10.0.0.109:80': service tcp 10.0.0.109:80 is not defined (add it with -A before its real servers)\n");
    expect(spawnSync("test", ["-e", join(dir, "never.pcap")]).status).toBe(1);
  });

  it("says what is wrong with the arguments and shows the usage", () => {
    const r = run(["replay", "--in", "x.pcap", "--bogus"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown option --bogus/);
    expect(r.stderr).toMatch(/usage: wasmvs/);
    // decap checks its tunnel addresses before it touches a device.
    const d = run(["decap", "--uplink", "wvnone1", "--stack", "wvnone2", "--address", "10.1.0.300"]);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/--address: not an IPv4 address: "10\.1\.0\.300"/);
    expect(d.stderr).toMatch(/usage: wasmvs/);
    // ip itself must run and say the device does not exist (not merely fail to start).
    const link = spawnSync("ip", ["link", "show", "wvnone1"], { encoding: "utf8" });
    expect(link.error).toBeUndefined();
    expect(link.stderr).toMatch(/does not exist/);
  });
});

describe("rules parser", () => {
  const err = (text: string) => {
    try {
      parseRules(text, "t.rules");
    } catch (e) {
      return (e as ConfigError).message;
    }
    return "no error";
  };
  it("reads ipvsadm-save -n output with ipvsadm's defaults", () => {
    const c = parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\n-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.5\n--set 10 20 30\n");
    expect(c.services[0].scheduler).toBe("wlc");
    expect(c.services[0].realServers[0]).toMatchObject({ address: "10.0.0.5", port: 80, method: "dr", weight: 1 });
    expect(c.timeouts).toMatchObject({ tcp: 10, tcpfin: 20, udp: 30 });
  });
  it("names line, column and keyword of each error", () => {
    expect(err("interfaces 0")).toBe("t.rules:1:1: 'interfaces': unknown keyword (expected interface, route, neighbour, mark, connections, offload, reject_unknown, expire_nodest_conn, expire_quiescent_template, sloppy_tcp, sync_table_share, sync_auth_key_file, mh_table_size, maglev_services, maglev_table_size, max_services, max_real_servers, scheduler_memory, metrics, metrics_scraper, metrics_real_servers, dashboard or an ipvsadm rule such as -A/-a/--set)");
    expect(err("\n-A -t 10.0.0.100:80 -s lblcx")).toMatch(/^t\.rules:2:24: 'lblcx': Scheduler or persistence engine not found/);
    expect(err("-A -t 10.0.0.100:80 -p 0")).toMatch(/^t\.rules:1:24: '0': illegal timeout specified/);
    expect(err("-A -f 0")).toMatch(/^t\.rules:1:7: '0': illegal fwmark specified/);
    expect(err("mark 1 destination 10.0.0.100 ports 80,70000")).toMatch(/^t\.rules:1:37: '80,70000': port must be a whole number from 0 to 65535/);
    expect(err("mark 0 destination 10.0.0.100")).toMatch(/^t\.rules:1:6: '0': a firewall mark is a whole number/);
    expect(err("mark 1 protocol sctp destination 10.0.0.100")).toMatch(/^t\.rules:1:17: 'sctp': expected tcp or udp/);
    expect(err("mark 1 ports 80")).toMatch(/^t\.rules:1:1: 'mark': a mark rule needs a destination/);
    expect(err("-a -t 10.0.0.100:80 -r 10.0.0.5")).toMatch(/is not defined \(add it with -A before its real servers\)/);
    expect(err("-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.5 -w 70000")).toBe("t.rules:2:36: '70000': illegal weight specified");
    expect(err("-A -t 10.0.0.300:80")).toBe("t.rules:1:7: '10.0.0.300:80': illegal virtual server address[:port] specified");
    // One grammar with ipvsadm's command line: what ipvsadm refuses, a file refuses alike.
    expect(err("-A -t 10.0.0.100:80 -s rr -s wrr")).toBe("t.rules:1:27: '-s': multiple 'scheduler' options specified");
    expect(err("-A -t 10.0.0.100:80 -t 10.0.0.101:80")).toBe("t.rules:1:21: '-t': multiple 'service-address' options specified");
    expect(err("-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.5 -m -g")).toBe("t.rules:2:36: '-g': multiple 'forwarding-method' options specified");
    expect(err("-A -t 10.0.0.100:0")).toBe("t.rules:1:1: '-A': Zero port specified for non-persistent service");
    expect(err("-A -t 010.0.0.100:80")).toBe("t.rules:1:7: '010.0.0.100:80': ambiguous IPv4 address \"010.0.0.100\": ipvsadm and keepalived (inet_aton) read a leading 0 as octal (8.0.0.100); write it without leading zeros");
    expect(err("-L -n")).toBe("t.rules:1:1: '-L': not a rule command here (the file takes -A, -a and --set, as ipvsadm-save prints them)");
    expect(err("route default")).toMatch(/needs 'via GATEWAY' or 'dev INTERFACE'/);
    expect(err("interface 0 mac zz")).toMatch(/^t\.rules:1:17: 'zz': not a MAC address/);
  });
  it("sizes the engine's frame slots from the largest MTU (or TAP offloads), and the engine holds interfaces to them", async () => {
    const cfg = (mtus: number[], extra = "") => parseRules(mtus.map((m, i) => `interface ${i} mac 02:00:00:00:00:0${i} mtu ${m}`).join("\n") + "\n" + extra);
    expect(configSlotSize(cfg([1500]))).toBe(2048);
    expect(configSlotSize(cfg([576, 1500]))).toBe(2048);
    // 64 bytes of headroom + 9000 + 14 (Ethernet) + 4 (802.1Q), rounded up to 64.
    expect(configSlotSize(cfg([1500, 9000]))).toBe(9088);
    expect(configSlotSize(cfg([1500], "offload on"))).toBe(66560);
    const e = await loadEngine({ batch: 4, connCapacity: 16, slotSize: configSlotSize(cfg([9000])) });
    e.setInterface({ index: 0, mac: "02:00:00:00:00:01", mtu: 9006 }); // the slot's 24 spare bytes: 9006 + 18 = 9088 - 64
    expect(() => e.setInterface({ index: 1, mac: "02:00:00:00:00:02", mtu: 9007 })).toThrow(/MTU 9007 does not fit a 9088-byte slot/);
  });
});

describe("wasmvs replay shows each scheduler's choices", () => {
  // 40 clients, 3 connections each (another source port), to a DR service of three servers
  // with weights 3,2,1 (neighbours static: no ARP waits), then replayed per scheduler.
  const clients = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`);
  const syns = clients.flatMap((src, i) => [0, 1, 2].map((k) => ({ src, sport: 20000 + i * 3 + k })));
  function schedCapture(): Uint8Array {
    let t = 1_700_000_000_000_000;
    return writePcap(syns.map(({ src, sport }) => ({ timeUs: (t += 1000),
      data: eth("02:00:00:00:00:01", "02:00:00:00:00:fe", 0x0800, ipv4({ src, dst: "10.0.0.100", proto: 6, payload: tcp({ src, dst: "10.0.0.100", sport, dport: 80, flags: SYN }) })) })));
  }
  const servers = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
  function rules(sched: string): string {
    return [
      "interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24",
      "interface 1 name inside mac 02:00:00:00:01:01 address 10.1.0.1/24",
      "route default via 10.0.0.254",
      "neighbour 10.0.0.254 02:00:00:00:00:fe",
      ...servers.map((s, k) => `neighbour ${s} 02:aa:00:00:00:1${k + 1}`),
      `-A -t 10.0.0.100:80 -s ${sched}`,
      ...servers.map((s, k) => `-a -t 10.0.0.100:80 -r ${s}:80 -g -w ${3 - k}`),
    ].join("\n") + "\n";
  }
  /** The server each SYN went to (by the destination MAC DR writes), in capture order. */
  function replay(sched: string, tag: string): string[] {
    writeFileSync(join(dir, `${tag}.rules`), rules(sched));
    const r = run(["replay", "--config", join(dir, `${tag}.rules`), "--in", join(dir, "sched.pcap"), "--out", join(dir, `${tag}.pcap`), "--clock", "fixed"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = readPcap(new Uint8Array(readFileSync(join(dir, `${tag}.pcap`)))).packets.map((p) => expectFrame(p.data));
    return out.filter((p) => p.ip?.tcp).map((p) => servers[Number(p.dstMac.slice(-1)) - 1]);
  }

  it("every scheduler places all 120 connections, the same way on every run; rr, wrr, sh, mh and maglev as their models say", () => {
    writeFileSync(join(dir, "sched.pcap"), schedCapture());
    const all = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "maglev", "sh -b sh-port", "mh -b mh-port"];
    const got: Record<string, string[]> = {};
    for (const [i, s] of all.entries()) {
      const a = replay(s, `s${i}a`);
      expect(a, s).toHaveLength(120);
      expect(replay(s, `s${i}b`), `${s} again`).toEqual(a);
      got[s] = a;
    }
    const count = (xs: string[]) => servers.map((s) => xs.filter((x) => x === s).length);
    expect(count(got.rr)).toEqual([40, 40, 40]);
    expect(count(got.wrr)).toEqual([60, 40, 20]);
    // Without connections ending, lc/wlc/sed/nq spread by weight; fo and ovf (active counts
    // never reached: all connections stay SYN_RECV, inactive) everything to the heaviest.
    expect(count(got.fo)).toEqual([120, 0, 0]);
    expect(count(got.ovf)).toEqual([120, 0, 0]);
    expect(count(got.sed)).toEqual([120, 0, 0]); // sed counts active connections only
    // dh, lblc and lblcr: one destination (the VIP), one server.
    for (const s of ["dh", "lblc", "lblcr"]) expect(new Set(got[s]).size, s).toBe(1);
    // sh and mh without the port: a client's three connections on one server; with it, spread.
    for (const s of ["sh", "mh"]) {
      for (let c = 0; c < 40; c++) expect(new Set(got[s].slice(c * 3, c * 3 + 3)).size, `${s} client ${c}`).toBe(1);
    }
    // mh as the kernel's table says, with and without mh-port; maglev as its table says.
    const mh = mhTable([2, 1, 0].map((k) => ({ addr: servers[k], lastWeight: 3 - k })), 80);
    syns.forEach(({ src, sport }, k) => {
      expect(got.mh[k]).toBe(mhPick(mh, src, sport, false)!.addr);
      expect(got["mh -b mh-port"][k]).toBe(mhPick(mh, src, sport, true)!.addr);
    });
    const mg = maglevModel(servers.map((addr, k) => ({ addr, port: 80, weight: 3 - k })));
    syns.forEach(({ src, sport }, k) => expect(got.maglev[k]).toBe(mg[flowSlot(src, "10.0.0.100", sport, 80, 6)]!.split(":")[0]));
    expect(new Set(got["sh -b sh-port"].slice(0, 30)).size).toBeGreaterThan(1);
  });
});
