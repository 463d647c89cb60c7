// IPv6 in the configuration (issue 20): the address text of RFC 4291 2.2 read into the four
// words the engine takes, ADDRESS:PORT in ipvsadm's bracketed form, prefixes to /128, and the
// address classes IPVS's checks name (link-local, multicast, unspecified, IPv4-mapped).

import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import {
  familyOf, formatIp, isLinkLocal6, isLoopback6, isMulticast6, isUnicast6, isUnspecified6, isV4Mapped6, parseEndpoint, parseIp,
  parseIp6, parsePrefix, prefixMask6, type Ip6Words,
} from "../host/engine/addr.js";

/** An IPv6 address's words from its eight groups (each word a little-endian load of four network-order bytes). */
const v6 = (groups: number[]): Ip6Words => {
  const b = groups.flatMap((g) => [g >> 8, g & 0xff]);
  const w = (k: number) => (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
  return [w(0), w(4), w(8), w(12)];
};

describe("IPv6 addresses (addr.ts)", () => {
  it("reads RFC 4291 2.2's forms: full, compressed with ::, embedded IPv4; upper and lower case", () => {
    expect(parseIp("2001:db8:0:0:0:0:0:1")).toEqual(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
    expect(parseIp("2001:0DB8:0000:0000:0000:0000:0000:0001")).toEqual(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
    expect(parseIp("2001:db8::1")).toEqual(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
    expect(parseIp("::")).toEqual(v6([0, 0, 0, 0, 0, 0, 0, 0]));
    expect(parseIp("::1")).toEqual(v6([0, 0, 0, 0, 0, 0, 0, 1]));
    expect(parseIp("fe80::")).toEqual(v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]));
    expect(parseIp("1:2:3:4:5:6:7::")).toEqual(v6([1, 2, 3, 4, 5, 6, 7, 0]));
    expect(parseIp("::2:3:4:5:6:7:8")).toEqual(v6([0, 2, 3, 4, 5, 6, 7, 8]));
    expect(parseIp("::ffff:10.0.0.1")).toEqual(v6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]));
    expect(parseIp("64:ff9b::192.0.2.33")).toEqual(v6([0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]));
    expect(parseIp("1:2:3:4:5:6:1.2.3.4")).toEqual(v6([1, 2, 3, 4, 5, 6, 0x0102, 0x0304]));
    // The words are u32s, and formatIp writes RFC 5952's text back.
    for (const t of ["2001:db8::1", "ae00::2", "fe80::1:2", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]) {
      const a = parseIp(t) as Ip6Words;
      for (const w of a) expect(w >= 0 && w <= 0xffffffff && Number.isInteger(w)).toBe(true);
      expect(formatIp(a)).toBe(t);
    }
    expect(formatIp(parseIp("2001:DB8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    // A mapped or compatible IPv4 address ends in its dotted quad, as glibc's inet_ntop writes it.
    for (const [t, out] of [["::ffff:10.0.0.1", "::ffff:10.0.0.1"], ["::ffff:0:1", "::ffff:0.0.0.1"], ["::10.0.0.1", "::10.0.0.1"], ["::2", "::2"], ["64:ff9b::1.2.3.4", "64:ff9b::102:304"]]) {
      expect(formatIp(parseIp(t))).toBe(out);
    }
  });

  it("refuses a zone id, a second ::, a group of 5 digits, a wrong count of groups, stray colons, with a reason", () => {
    const err = (t: string) => { try { parseIp(t); return "accepted"; } catch (e) { return (e as Error).message; } };
    expect(err("fe80::1%eth0")).toBe('"fe80::1%eth0": an IPv6 zone id (%eth0) is not taken here; write the address alone');
    expect(err("2001::1::2")).toBe('not an IPv6 address: "2001::1::2" ("::" may appear only once)');
    expect(err("2001:db8::12345")).toBe('not an IPv6 address: "2001:db8::12345" (the group "12345" has more than 4 hex digits)');
    expect(err("1:2:3:4:5:6:7")).toBe('not an IPv6 address: "1:2:3:4:5:6:7" (7 groups where 8 are needed (or "::" for a run of zeros))');
    expect(err("1:2:3:4:5:6:7:8:9")).toMatch(/9 groups where 8 are needed/);
    expect(err("1:2:3:4::5:6:7:8")).toMatch(/8 groups and "::": at most 7/);
    expect(err(":1::2")).toMatch(/a leading ":" needs a second one/);
    expect(err("1::2:")).toMatch(/a trailing ":" needs a second one/);
    expect(err("2001:db8::g")).toMatch(/unexpected "g"/);
    expect(err("::ffff:10.0.0.01")).toMatch(/"10.0.0.01" is not a dotted quad/);
    expect(err("::10.0.0.1:1")).toMatch(/is not a dotted quad/);
    // IPv4's messages are ipToWire's, unchanged.
    expect(err("10.0.0.256")).toBe('not an IPv4 address: "10.0.0.256"');
    expect(err("10.0.0.010")).toMatch(/^ambiguous IPv4 address/);
  });

  it("ADDRESS:PORT: [2001:db8::1]:80 as ipvsadm writes it; an unbracketed IPv6 address with a port says to bracket it", () => {
    expect(parseEndpoint("[2001:db8::1]:80")).toEqual({ address: "2001:db8::1", addr: v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), port: 80 });
    expect(parseEndpoint("10.0.0.1:80")).toEqual({ address: "10.0.0.1", addr: parseIp("10.0.0.1"), port: 80 });
    expect(() => parseEndpoint("2001:db8::1:80")).toThrow('"2001:db8::1:80": an IPv6 address with a port is written in brackets, [ADDRESS]:PORT (as ipvsadm\'s [2001:db8::1]:80)');
    expect(() => parseEndpoint("[2001:db8::1]80")).toThrow("expected [IPV6-ADDRESS]:PORT");
    expect(() => parseEndpoint("[10.0.0.1]:80")).toThrow("brackets are for an IPv6 address");
    expect(() => parseEndpoint("[2001:db8::1]:65536")).toThrow("port out of range");
  });

  it("prefixes up to /128 for IPv6 (a bare address is /128), /32 for IPv4 as before", () => {
    expect(parsePrefix("2001:db8::/32")).toEqual({ addr: parseIp("2001:db8::"), len: 32 });
    expect(parsePrefix("2001:db8::1/64")).toEqual({ addr: parseIp("2001:db8::1"), len: 64 });
    expect(parsePrefix("2001:db8::1")).toEqual({ addr: parseIp("2001:db8::1"), len: 128 });
    expect(parsePrefix("::/0")).toEqual({ addr: parseIp("::"), len: 0 });
    expect(() => parsePrefix("2001:db8::/129")).toThrow('bad prefix length in "2001:db8::/129" (0-128 for IPv6)');
    expect(() => parsePrefix("10.0.0.0/33")).toThrow('bad prefix length in "10.0.0.0/33"');
    expect(formatIp(prefixMask6(64))).toBe("ffff:ffff:ffff:ffff::");
    expect(formatIp(prefixMask6(10))).toBe("ffc0::");
    expect(formatIp(prefixMask6(128))).toBe("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect(formatIp(prefixMask6(0))).toBe("::");
  });

  it("the address classes IPVS's checks name", () => {
    const a = (t: string) => parseIp6(t);
    expect(familyOf(parseIp("10.0.0.1"))).toBe(4);
    expect(familyOf(parseIp("::1"))).toBe(6);
    expect([isLinkLocal6(a("fe80::1")), isLinkLocal6(a("febf::1")), isLinkLocal6(a("fec0::1")), isLinkLocal6(a("2001:db8::1"))]).toEqual([true, true, false, false]);
    expect([isMulticast6(a("ff02::1")), isMulticast6(a("fe80::1"))]).toEqual([true, false]);
    expect([isUnspecified6(a("::")), isUnspecified6(a("::1"))]).toEqual([true, false]);
    expect([isLoopback6(a("::1")), isLoopback6(a("::"))]).toEqual([true, false]);
    expect([isV4Mapped6(a("::ffff:10.0.0.1")), isV4Mapped6(a("::10.0.0.1"))]).toEqual([true, false]);
    expect([isUnicast6(a("2001:db8::1")), isUnicast6(a("ff02::1")), isUnicast6(a("::"))]).toEqual([true, false, false]);
  });
});

// ---- ipvsadm's IPv6 forms ---------------------------------------------------------------

import { formatConnections, formatList, formatSave, parseArgs, type Format, type TableView } from "../host/config/ipvsadm.js";
import { applyCommand } from "../host/config/model.js";
import type { DirectorConfig } from "../host/config/director.js";

const ipvsadmErr = (argv: string) => { try { parseArgs(argv.split(" ")); return "accepted"; } catch (e) { return `${(e as { status: number }).status}: ${(e as Error).message}`; } };

describe("ipvsadm's IPv6 forms (parse)", () => {
  it("-t/-u/-r take [ADDRESS]:PORT; the address is kept as RFC 5952 writes it (one key however it was written)", () => {
    const p = parseArgs("-A -t [2001:DB8:0::100]:80 -s rr".split(" "));
    expect(p.service).toEqual({ protocol: "tcp", address: "2001:db8::100", vaddr: parseIp("2001:db8::100"), port: 80 });
    const a = parseArgs("-a -u [2001:db8::100]:53 -r [2001:db8:1::11]:5353 -m -w 3".split(" "));
    expect(a.server).toEqual({ address: "2001:db8:1::11", daddr: parseIp("2001:db8:1::11"), port: 5353 });
    // An unbracketed IPv6 address is read whole, as ipvsadm's parse_service (inet_pton) does: no port,
    // so a server gets the service's port, and a service has none.
    expect(parseArgs("-a -t [2001:db8::100]:80 -r 2001:db8:1::11 -g".split(" ")).server?.port).toBe(80);
    expect(ipvsadmErr("-A -t 2001:db8::100:80 -s rr")).toBe("2: illegal virtual server address[:port] specified (an IPv6 address with a port is written [ADDRESS]:PORT)");
    expect(ipvsadmErr("-A -t [2001:db8::100]80 -s rr")).toBe("2: illegal virtual server address[:port] specified (an IPv6 address with a port is written [ADDRESS]:PORT)");
    expect(ipvsadmErr("-A -t [2001:db8::100]:65536 -s rr")).toBe("2: illegal virtual server address[:port] specified");
    expect(ipvsadmErr("-a -t [2001:db8::100]:80 -r [fe80::1%eth0]:80")).toBe('2: illegal real server address[:port] specified ("fe80::1%eth0": an IPv6 zone id (%eth0) is not taken here; write the address alone)');
    expect(ipvsadmErr("-a -t [2001:db8::100]:80 -r [2001:db8::1::2]:80")).toBe('2: illegal real server address[:port] specified (not an IPv6 address: "2001:db8::1::2" ("::" may appear only once))');
    // IPv4's words are as they were.
    expect(ipvsadmErr("-A -t 10.0.0.1 -s rr")).toBe("2: illegal virtual server address[:port] specified");
    // Connection sync speaks IPv4 for now: an IPv6 group or peer is refused, not taken for a peer.
    expect(ipvsadmErr("--start-daemon master --mcast-group ff02::81")).toBe("2: mcast-group ff02::81: connection sync over IPv6 is not supported by wasmvs yet");
  });

  it("-f MARK -6: an IPv6 firewall-mark service (ipvsadm's -6 comes after -f); -M is then a prefix length 1-128", () => {
    const p = parseArgs("-A -f 7 -6 -s rr -p 120 -M 48".split(" "));
    expect(p.service).toEqual({ protocol: "tcp", address: "::", vaddr: [0, 0, 0, 0], port: 0, fwmark: 7 });
    expect(p.persistence).toEqual({ timeout: 120, netmask: "48", mask: prefixMask6(48) });
    expect(ipvsadmErr("-A -6 -f 7 -s rr")).toBe("2: -6 used before -f");
    expect(ipvsadmErr("-A -t 10.0.0.1:80 -s rr -6")).toBe("2: -6 used before -f");
    const q = parseArgs("-A -t [2001:db8::100]:443 -s rr -p 60 -M 64".split(" "));
    expect(q.persistence).toEqual({ timeout: 60, netmask: "64", mask: prefixMask6(64) });
    expect(parseArgs("-A -t [2001:db8::100]:443 -s rr -p".split(" ")).persistence).toEqual({ timeout: 300, netmask: "128", mask: prefixMask6(128) });
    for (const bad of ["0", "129", "255.255.255.0", "x"]) expect(ipvsadmErr(`-A -t [2001:db8::100]:443 -s rr -p 60 -M ${bad}`)).toBe("2: illegal ipv6 netmask specified");
    // An IPv4 service's -M is as it was.
    expect(parseArgs("-A -t 10.0.0.1:443 -s rr -p 60 -M 24".split(" ")).persistence?.netmask).toBe("255.255.255.0");
  });

  it("IPVS's refusals of a real server, with IPVS's reasons; then what of IPv6 the engine does not do yet (tunnels, firewall marks)", () => {
    const base = { services: [], interfaces: [], routes: [], neighbours: [], file: "r.rules" } as unknown as DirectorConfig;
    const run = (cfg: DirectorConfig, cmds: string[]) => {
      const out: string[] = [];
      for (const c of cmds) {
        try { cfg = applyCommand(cfg, parseArgs(c.split(" "))); out.push("ok"); } catch (e) { out.push(`${(e as { status: number }).status}: ${(e as Error).message}`); }
      }
      return out;
    };
    expect(run(base, [
      "-A -t 10.0.0.1:80 -s rr",
      "-a -t 10.0.0.1:80 -r [2001:db8::11]:80 -m",
      "-a -t 10.0.0.1:80 -r [2001:db8::11]:80 -g",
      "-a -t 10.0.0.1:80 -r [fe80::11]:80 -i",
      "-a -t 10.0.0.1:80 -r [ff02::11]:80 -i",
      "-a -t 10.0.0.1:80 -r [2001:db8::11]:80 -i",
      "-A -t [2001:db8::100]:80 -s rr",
      "-A -f 3 -6 -s rr",
      "-a -t 10.0.0.1:80 -r 10.0.0.11:80 -m",
    ])).toEqual([
      "ok",
      "255: Invalid argument: an IPv4 service with an IPv6 real server: IPVS forwards mixed address families only by tunnelling (-i)",
      "255: Invalid argument: an IPv4 service with an IPv6 real server: IPVS forwards mixed address families only by tunnelling (-i)",
      "255: Invalid argument: real server fe80::11 is link-local: IPVS takes an IPv6 real server only if it is unicast and not link-local",
      "255: Invalid argument: real server ff02::11 is not unicast: IPVS takes an IPv6 real server only if it is unicast and not link-local",
      "255: real server [2001:db8::11]:80: IPv6 tunnels (ip6ip6, 4in6, 6in4) are not in wasmvs's engine yet; NAT and DR forward IPv6",
      "ok",
      "255: service fwmark 3 (IPv6): IPv6 firewall-mark services are not in wasmvs's engine yet",
      "ok",
    ]);
    // While connection sync runs, no mixed family at all (ip_vs_genl_set_cmd).
    const synced = { ...base, syncDaemon: { ifindex: 0, interfaceName: "eth0", instance: "VI_1", syncid: 1, maxlen: 1472, line: 1 } } as DirectorConfig;
    expect(run(synced, ["-A -t 10.0.0.1:80 -s rr", "-a -t 10.0.0.1:80 -r [2001:db8::11]:80 -i"])).toEqual([
      "ok",
      "255: Invalid argument: an IPv4 service with an IPv6 real server: the synchronization protocol is incompatible with mixed family services (IPVS refuses them while the sync daemon runs)",
    ]);
  });
});

describe("ipvsadm 1.31's listings of IPv6 (print_service_entry, print_conn: [addr]:port, IPv6 names never cut)", () => {
  const z = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
  const s0 = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
  const dest = (address: string, port: number, method: "nat" | "dr" | "tun", weight = 1) =>
    ({ address, port, method, weight, uthreshold: 0, lthreshold: 0, active: 2, inactive: 10, persistConns: 1, stats: { ...s0, conns: 7 }, rates: z });
  const table: TableView = {
    size: 4096,
    timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
    services: [
      { protocol: "tcp", address: "2001:db8::100", port: 80, scheduler: "rr", persistence: { timeout: 60, netmask: "64" }, stats: s0, rates: z,
        realServers: [dest("2001:db8:1::12", 8080, "nat"), dest("2001:db8:1::11", 8080, "nat", 3)] },
      { protocol: "tcp", address: "10.0.0.1", port: 80, scheduler: "wlc", stats: s0, rates: z, realServers: [dest("2001:db8:aaaa:bbbb:cccc:dddd:eeee:11", 80, "tun")] },
      { protocol: "udp", address: "2001:db8:aaaa:bbbb:cccc:dddd:eeee:100", port: 65535, scheduler: "sh", stats: { ...s0, conns: 5 }, rates: z,
        realServers: [dest("2001:db8:aaaa:bbbb:cccc:dddd:eeee:11", 65535, "dr")] },
      { protocol: "tcp", address: "::", port: 0, fwmark: 5, scheduler: "rr", persistence: { timeout: 300, netmask: "128" }, stats: s0, rates: z, realServers: [] },
      { protocol: "tcp", address: "0.0.0.0", port: 0, fwmark: 5, scheduler: "rr", stats: s0, rates: z, realServers: [] },
    ],
  };
  const fmt = (over: Partial<Format> = {}): Format => ({ numeric: true, connections: false, timeout: false, stats: false, rate: false, thresholds: false,
    persistentConn: false, nosort: false, exact: false, health: false, daemon: false, vrrp: false, ...over });

  it("-L -n: IPv4 services first (ipvs_cmp_services: mark, family, protocol, address), [addr]:port, a v6 name at full length", () => {
    expect(formatList(table, fmt())).toBe(
      "IP Virtual Server version 1.2.1 (size=4096)\n" +
      "Prot LocalAddress:Port Scheduler Flags\n" +
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
      "TCP  10.0.0.1:80 wlc\n" +
      // A v6 server under an IPv4 service is cut at 28 characters, as 1.31 tests the service's family.
      "  -> [2001:db8:aaaa:bbbb:cccc:ddd Tunnel  1      2          10        \n" +
      "TCP  [2001:db8::100]:80 rr persistent 60 mask 64\n" +
      "  -> [2001:db8:1::11]:8080        Masq    3      2          10        \n" +
      "  -> [2001:db8:1::12]:8080        Masq    1      2          10        \n" +
      "UDP  [2001:db8:aaaa:bbbb:cccc:dddd:eeee:100]:65535 sh\n" +
      "  -> [2001:db8:aaaa:bbbb:cccc:dddd:eeee:11]:65535 Route   1      2          10        \n" +
      "FWM  5 rr\n" +
      "FWM  5 IPv6 rr persistent 300\n");
  });

  it("-S: -t [addr]:port, -f MARK -6, -M as a prefix length (not printed at 128)", () => {
    expect(formatSave(table, fmt())).toBe(
      "-A -t 10.0.0.1:80 -s wlc\n" +
      "-a -t 10.0.0.1:80 -r [2001:db8:aaaa:bbbb:cccc:dddd:eeee:11]:80 -i -w 1 --tun-type ipip\n" +
      "-A -t [2001:db8::100]:80 -s rr -p 60 -M 64\n" +
      "-a -t [2001:db8::100]:80 -r [2001:db8:1::11]:8080 -m -w 3\n" +
      "-a -t [2001:db8::100]:80 -r [2001:db8:1::12]:8080 -m -w 1\n" +
      "-A -u [2001:db8:aaaa:bbbb:cccc:dddd:eeee:100]:65535 -s sh\n" +
      "-a -u [2001:db8:aaaa:bbbb:cccc:dddd:eeee:100]:65535 -r [2001:db8:aaaa:bbbb:cccc:dddd:eeee:11]:65535 -g -w 1\n" +
      "-A -f 5 -s rr\n" +
      "-A -f 5 -6 -s rr -p 300\n");
    // What -S writes, -R reads back to the same service.
    const back = parseArgs("-A -t [2001:db8::100]:80 -s rr -p 60 -M 64".split(" "));
    expect(back.service?.address).toBe("2001:db8::100");
    expect(back.persistence?.netmask).toBe("64");
  });

  it("--stats: the name padded to 33 (%-33s), an IPv6 one longer than that pushes its numbers right", () => {
    const one: TableView = { ...table, services: [table.services[2]] };
    expect(formatList(one, fmt({ stats: true })).split("\n").slice(3).join("\n")).toBe(
      "UDP  [2001:db8:aaaa:bbbb:cccc:dddd:eeee:100]:65535        5        0        0        0        0\n" +
      "  -> [2001:db8:aaaa:bbbb:cccc:dddd:eeee:11]:65535        7        0        0        0        0\n");
    const short: TableView = { ...table, services: [{ ...table.services[0], realServers: [table.services[0].realServers[1]] }] };
    expect(formatList(short, fmt({ rate: true })).split("\n").slice(3).join("\n")).toBe(
      "TCP  [2001:db8::100]:80                  0        0        0        0        0\n" +
      "  -> [2001:db8:1::11]:8080               0        0        0        0        0\n");
  });

  it("-c: [addr]:port in print_conn's %-18s columns", () => {
    expect(formatConnections([{ protocol: "tcp", client: "2001:db8:ffff::c", clientPort: 40000, vip: "2001:db8::100", vport: 80, server: "2001:db8:1::11",
      serverPort: 8080, state: "ESTABLISHED", expiresInMs: 899500 }])).toBe(
      "IPVS connection entries\n" +
      "pro expire state       source             virtual            destination\n" +
      "TCP 14:59  ESTABLISHED [2001:db8:ffff::c]:40000 [2001:db8::100]:80 [2001:db8:1::11]:8080\n");
  });
});

// ---- keepalived.conf and the rules file ---------------------------------------------------

import { parseKeepalived } from "../host/config/keepalived.js";
import { ConfigError, parseRules } from "../host/config/rules.js";
import { check } from "../host/cli/check.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";

const folder = tempFolder("wasmvs-v6-");
const errorOf = (f: () => unknown) => { try { f(); return "no error"; } catch (e) { return (e as Error).message; } };

describe("keepalived.conf with IPv6 (what `keepalived -t` 2.2.7 accepts, and refuses, alike)", () => {
  const DIRECTOR6 = DIRECTOR.replace("    address 10.0.0.1/24\n", "    address 10.0.0.1/24\n    address 2001:db8::1/64\n");
  const at = (n: number) => n + DIRECTOR6.split("\n").length - 1;

  it("virtual_server, real_server, sorry_server and group members in IPv6; the range form ae00::2-1f is the 8th group, in hex", () => {
    const f = folder.write("v6.conf", `${DIRECTOR6}virtual_server_group G6 {
  ae00::2-4 80
  ae00::9-b 81
  AE00::1 80
}
virtual_server group G6 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  persistence_timeout 50
  persistence_granularity 64
  real_server ae00::10 8080 {
    weight 2
  }
}
virtual_server 2001:db8::100 443 {
  lb_algo wlc
  lb_kind DR
  protocol TCP
  real_server 2001:db8::11 443 {
  }
  real_server 10.1.0.12 443 {
    lvs_method TUN
  }
  sorry_server 2001:db8::99 443
}
virtual_server fwmark 6 {
  ip_family inet6
  persistence_timeout 30
  persistence_granularity 48
  real_server 2001:db8::12 80 {
  }
}
`);
    const cfg = parseKeepalived(f);
    expect(cfg.interfaces[0]).toMatchObject({ address: "10.0.0.1/24", address6: "2001:db8::1/64", net6: { addr: parseIp("2001:db8::1"), len: 64 } });
    const list = cfg.services.map((s) => `${s.fwmark !== undefined ? `fwm ${s.fwmark} ${s.address}` : `${s.protocol} ${s.address} ${s.port}`}` +
      `${s.persistence ? ` p ${s.persistence.timeout}/${s.persistence.netmask}` : ""} -> ${s.realServers.map((r) => `${r.address}:${r.port} ${r.method}`).join(", ")}`);
    expect(list).toEqual([
      "tcp ae00::2 80 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::3 80 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::4 80 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::9 81 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::a 81 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::b 81 p 50/64 -> ae00::10:8080 nat",
      "tcp ae00::1 80 p 50/64 -> ae00::10:8080 nat",
      // A tunnelled server may be of the other family (IPVS's 4in6 / 6in4; keepalived keeps it).
      "tcp 2001:db8::100 443 -> 2001:db8::11:443 dr, 10.1.0.12:443 tun",
      "fwm 6 :: p 30/48 -> 2001:db8::12:80 nat",
    ]);
    expect(cfg.services[0].vaddr).toEqual(parseIp("ae00::2"));
    expect(cfg.services[0].persistence?.mask).toEqual(prefixMask6(64));
    expect(cfg.services[7].health?.sorry).toMatchObject({ address: "2001:db8::99", daddr: parseIp("2001:db8::99"), port: 443 });
    expect(cfg.warnings ?? []).toEqual([]);
  });

  it("refuses what keepalived refuses, at the word (ranges, granularity, ip_family), and skips a mixed-family server as keepalived with a warning (--strict: an error)", () => {
    const cases: [string, string][] = [
      ["virtual_server_group G {\n  ae00::9-2 80\n}\n", `e.conf:${at(2)}:3: 'ae00::9-2': the range's end (2) must be greater than its start (9), as keepalived's "Address range end is not greater than address range start"`],
      ["virtual_server_group G {\n  ae00::5-5 80\n}\n", `e.conf:${at(2)}:3: 'ae00::5-5': the range's end (5) must be greater than its start (5), as keepalived's "Address range end is not greater than address range start"`],
      ["virtual_server_group G {\n  ae00::2-10000 80\n}\n", `e.conf:${at(2)}:3: 'ae00::2-10000': an IPv6 range's end is the last group's last value in hex, at most ffff (keepalived: ae00::2-9 is ae00::2 to ae00::9), got "10000"`],
      ["virtual_server_group G {\n  ae00::2-g 80\n}\n", `e.conf:${at(2)}:3: 'ae00::2-g': an IPv6 range's end is the last group's last value in hex, at most ffff (keepalived: ae00::2-9 is ae00::2 to ae00::9), got "g"`],
      ["virtual_server 2001:db8::100 80 {\n  persistence_timeout 5\n  persistence_granularity 129\n}\n",
        `e.conf:${at(3)}:27: '129': an IPv6 virtual server's persistence_granularity is a prefix length from 1 to 128 (keepalived: "Invalid IPv6 persistence_granularity specified")`],
      ["virtual_server 2001:db8::100 80 {\n  ip_family inet\n}\n", `e.conf:${at(2)}:13: 'inet': virtual server specified family inet conflicts with server family (its address is IPv6)`],
      ["virtual_server fe80::1%eth0 80 {\n}\n", `e.conf:${at(1)}:16: 'fe80::1%eth0': "fe80::1%eth0": an IPv6 zone id (%eth0) is not taken here; write the address alone`],
      ["virtual_server 2001:db8::100 80 {\n  real_server fe80::11 80 {\n  }\n}\n",
        `e.conf:${at(2)}:15: 'fe80::11': real server fe80::11 is link-local: IPVS takes an IPv6 real server only if it is unicast and not link-local`],
      ["virtual_server 2001:db8::100 80 {\n  real_server ff05::11 80 {\n  }\n}\n",
        `e.conf:${at(2)}:15: 'ff05::11': real server ff05::11 is not unicast: IPVS takes an IPv6 real server only if it is unicast and not link-local`],
    ];
    for (const [text, msg] of cases) {
      const f = folder.write("e.conf", DIRECTOR6 + text);
      expect(errorOf(() => parseKeepalived(f)).replace(`${folder.path()}/`, "")).toBe(msg);
    }
    const mixed = folder.write("m.conf", `${DIRECTOR6}virtual_server 2001:db8::100 80 {\n  protocol TCP\n  real_server 10.1.0.11 80 {\n  }\n  real_server 2001:db8::11 80 {\n  }\n  sorry_server 10.1.0.99 80\n}\n`);
    const cfg = parseKeepalived(mixed);
    expect(cfg.services[0].realServers.map((r) => r.address)).toEqual(["2001:db8::11"]);
    expect(cfg.services[0].health?.sorry).toBeUndefined();
    expect((cfg.warnings ?? []).map((w) => w.replace(`${folder.path()}/`, ""))).toEqual([
      `m.conf:${at(3)}:15: 10.1.0.11: the address families of the virtual server (IPv6) and real server 10.1.0.11 don't match (IPVS mixes them only for tunnelling): real server left out, as keepalived ("don't match - skipping real server") (--strict refuses it)`,
      `m.conf:${at(7)}:16: 10.1.0.99: the address families of the virtual server (IPv6) and sorry server 10.1.0.99 don't match (IPVS mixes them only for tunnelling): sorry server left out, as keepalived ("don't match - skipping sorry server") (--strict refuses it)`,
    ]);
    expect(errorOf(() => parseKeepalived(mixed, undefined, true)).replace(`${folder.path()}/`, "")).toMatch(/^2 errors:\nm\.conf:\d+:15: '10\.1\.0\.11': the address families/);
  });

  it("keepalived's sample keepalived.conf.IPv6 reads; `wasmvs check` says where IPv6 stops: the engine's persistence, at the virtual server's address", async () => {
    const sample = join(import.meta.dirname, "fixtures", "keepalived-samples", "keepalived.conf.IPv6");
    const director = join(import.meta.dirname, "fixtures", "keepalived-samples.director");
    const cfg = parseKeepalived(sample, director);
    expect(cfg.services.map((s) => `${s.address} ${s.port} -> ${s.realServers.map((r) => `${r.address} ${r.port}`)}`)).toEqual(["ae00::1 80 -> ae00::10 25"]);
    let said = "";
    try { await check(sample, director); } catch (e) { said = e instanceof ConfigError ? e.message : String(e); }
    // The sample's virtual server is persistent: templates are IPv4-only in the engine so far.
    expect(said).toBe(`${sample}:13:16: 'ae00::1': service [ae00::1]:80: persistence for IPv6 services is not in wasmvs's engine yet`);
  });
});

describe("the rules file with IPv6", () => {
  it("an interface's IPv6 address is kept beside its IPv4 one; an IPv6 service is taken; an IPv6 tunnel is refused at its address's word, IPVS's refusals first", () => {
    const text = "interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24 address 2001:db8::1/64\n-A -t 10.0.0.100:80 -s rr\n" +
      "-a -t 10.0.0.100:80 -r [2001:db8::11]:80 -m\n-A -t [2001:db8::100]:80 -s rr\n-a -t 10.0.0.100:80 -r [2001:db8::12]:80 -i\n";
    let errors: string[] = [];
    try { parseRules(text, "v6.rules"); } catch (e) { errors = (e as ConfigError).errors.map((x) => x.message); }
    expect(errors).toEqual([
      "v6.rules:3:24: '[2001:db8::11]:80': Invalid argument: an IPv4 service with an IPv6 real server: IPVS forwards mixed address families only by tunnelling (-i)",
      "v6.rules:5:24: '[2001:db8::12]:80': real server [2001:db8::12]:80: IPv6 tunnels (ip6ip6, 4in6, 6in4) are not in wasmvs's engine yet; NAT and DR forward IPv6",
    ]);
    const ok = parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24 address 2001:db8::1/64\n", "ok.rules");
    expect(ok.interfaces[0]).toMatchObject({ address: "10.0.0.1/24", address6: "2001:db8::1/64", net6: { addr: parseIp("2001:db8::1"), len: 64 } });
    expect(errorOf(() => parseRules("interface 0 mac 02:00:00:00:00:01 address 2001:db8::1/129\n", "b.rules"))).toBe("b.rules:1:43: '2001:db8::1/129': bad prefix length in \"2001:db8::1/129\" (0-128 for IPv6)");
  });
});

describe("an interface's IPv6 address reaches the engine", () => {
  it("the engine holds it beside the link-local one it made from the MAC (modified EUI-64)", async () => {
    const { applyConfig } = await import("../host/config/rules.js");
    const { loadEngine } = await import("../host/engine/node.js");
    const engine = await loadEngine({ connCapacity: 1024 });
    applyConfig(engine, parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24 address 2001:db8::1/64\ninterface 1 mac 02:00:00:00:01:01\n", "a.rules"));
    expect(engine.interfaceIpv6(0).map((x) => `${formatIp(x.address)}/${x.prefixLen}`)).toEqual(["fe80::ff:fe00:1/64", "2001:db8::1/64"]);
    expect(engine.interfaceIpv6(1).map((x) => `${formatIp(x.address)}/${x.prefixLen}`)).toEqual(["fe80::ff:fe00:101/64"]);
  });

  it("refuses what Linux would not put on an interface, and an address on a device attached by AF_XDP rings (IPv6 stays the host's there)", () => {
    for (const bad of ["ff02::1/64", "::/64", "::1/128", "::ffff:10.0.0.1/96"]) {
      expect(errorOf(() => parseRules(`interface 0 mac 02:00:00:00:00:01 address ${bad}\n`, "b.rules")))
        .toBe(`b.rules:1:43: '${bad}': an interface's IPv6 address must be a unicast address of its own (not multicast, ::, ::1 or IPv4-mapped), got "${bad}"`);
    }
    expect(errorOf(() => parseRules("interface 0 device wvx0 address 2001:db8::1/64\n", "d.rules")))
      .toBe("d.rules:1:20: 'wvx0': an interface attached by AF_XDP rings (device wvx0) leaves IPv6 to the host: its IPv6 address 2001:db8::1/64 belongs on the device (ip -6 addr add 2001:db8::1/64 dev wvx0)");
  });
});

describe("mixed families and connection sync (IPVS: incompatible)", () => {
  it("keepalived.conf: a tunnelled real server of the other family is refused while lvs_sync_daemon runs sync", async () => {
    const { readConfig } = await import("../host/control/load.js");
    const conf = `global_defs {\n  lvs_sync_daemon outside VI_1\n}\n${DIRECTOR}vrrp_instance VI_1 {\n  interface outside\n  virtual_router_id 5\n  priority 100\n` +
      `  virtual_ipaddress {\n    10.0.0.100\n  }\n}\nvirtual_server 10.0.0.100 80 {\n  protocol TCP\n  real_server 2001:db8::11 80 {\n    lvs_method TUN\n  }\n}\n`;
    const f = folder.write("sync.conf", conf);
    const line = conf.split("\n").findIndex((l) => l.includes("real_server 2001:db8::11")) + 1;
    expect(readConfig(f).errors.map((e) => e.message.replace(`${folder.path()}/`, ""))).toEqual([
      `sync.conf:${line}:15: '2001:db8::11': real server 2001:db8::11: the synchronization protocol is incompatible with mixed family services (IPVS refuses them while connection sync runs)`]);
    // Without sync the same server reads (the engine is where IPv6 stops for now).
    const g = folder.write("nosync.conf", conf.replace("  lvs_sync_daemon outside VI_1\n", ""));
    expect(readConfig(g).errors).toEqual([]);
  });
});

describe("a reload that adds IPv6 (the running engine)", () => {
  it("is refused at the new virtual server's and real server's words, nothing changed", async () => {
    const { loadConfig } = await import("../host/control/load.js");
    const { applyConfig } = await import("../host/config/rules.js");
    const { loadEngine } = await import("../host/engine/node.js");
    const { reload } = await import("../host/dataplane/reload.js");
    const base = `${DIRECTOR}virtual_server 10.0.0.100 80 {\n  protocol TCP\n  lb_algo rr\n  real_server 10.1.0.11 80 { weight 1 }\n}\n`;
    const f = folder.write("r6.conf", base);
    const engine = await loadEngine({ connCapacity: 1024 });
    const c1 = loadConfig(f);
    applyConfig(engine, c1);
    folder.write("r6.conf", `${base}virtual_server 2001:db8::100 80 {\n  protocol TCP\n  real_server 2001:db8::11 80 { weight 1 }\n}\n` +
      `virtual_server 10.0.0.101 80 {\n  protocol TCP\n  lb_kind TUN\n  real_server 2001:db8::12 80 { weight 1 }\n}\n`);
    const c2 = loadConfig(f);
    const at = (needle: string) => { const lines = readFileSync(f, "utf8").split("\n"); const i = lines.findIndex((l) => l.includes(needle)); return `${i + 1}:${lines[i].indexOf(needle) + 1}`; };
    await expect(reload(engine, c1, c2)).rejects.toThrow(
      `3 errors:\n${f}:${at("2001:db8::100")}: '2001:db8::100': service [2001:db8::100]:80: IPv6 services are set up when wasmvs starts; a reload or a command cannot add, change or remove one yet (restart wasmvs)\n` +
      `${f}:${at("2001:db8::11")}: '2001:db8::11': real server [2001:db8::11]:80: IPv6 services are set up when wasmvs starts; a reload or a command cannot add, change or remove one yet (restart wasmvs)\n` +
      `${f}:${at("2001:db8::12")}: '2001:db8::12': real server [2001:db8::12]:80: IPv6 tunnels (ip6ip6, 4in6, 6in4) are not in wasmvs's engine yet; NAT and DR forward IPv6`);
    expect(engine.findService("tcp", "10.0.0.101", 80)).toBeUndefined();
  });
});

describe("the control socket (ipvsadm's commands and -R on a running director)", () => {
  it("an IPv6 command is refused with IPVS's reason or the engine's, status 255; the table is unchanged", async () => {
    const { loadEngine } = await import("../host/engine/node.js");
    const { LocalEngine } = await import("../host/dataplane/adapter.js");
    const { ControlState } = await import("../host/control/daemon.js");
    const { Estimator } = await import("../host/control/estimator.js");
    const { applyConfig } = await import("../host/config/rules.js");
    const { startControl } = await import("../host/control/server.js");
    const { request } = await import("../host/cli/ipvsadm.js");
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const cfg = parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24 address 2001:db8::1/64\ninterface 1 mac 02:00:00:00:01:01 address 10.1.0.1/24\n" +
      "-A -t 10.0.0.100:80 -s rr\n", "r");
    applyConfig(engine, cfg);
    const adapter = new LocalEngine(engine);
    const state = new ControlState(adapter, cfg, () => cfg);
    const path = join(folder.path(), "c.sock");
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c), reloadFile: () => state.reloadFile() }, path);
    try {
      const apply = async (line: string) => {
        const r = await request(path, { op: "apply", commands: [{ argv: line.split(" ") }] });
        return `${r.ok ? "ok" : `${r.status}: ${r.error}`}`;
      };
      expect(await apply("-A -t [2001:db8::100]:80 -s rr")).toBe("255: service [2001:db8::100]:80: IPv6 services are set up when wasmvs starts; a reload or a command cannot add, change or remove one yet (restart wasmvs)");
      expect(await apply("-a -t 10.0.0.100:80 -r [2001:db8::11]:80 -m")).toBe("255: Invalid argument: an IPv4 service with an IPv6 real server: IPVS forwards mixed address families only by tunnelling (-i)");
      expect(await apply("-a -t 10.0.0.100:80 -r [fe80::11]:80 -i")).toBe("255: Invalid argument: real server fe80::11 is link-local: IPVS takes an IPv6 real server only if it is unicast and not link-local");
      expect(await apply("-A -t [2001:db8::100]:80 -s rr -p 60 -M 129")).toBe("2: illegal ipv6 netmask specified");
      const restored = await request(path, { op: "restore", text: "-A -t [2001:db8::100]:80 -s rr\n", line: 1 });
      expect(restored).toMatchObject({ ok: false, error: expect.stringContaining("a reload or a command cannot add, change or remove one yet") });
      const table = (await request(path, { op: "table" })).table as { services: { address: string }[] };
      expect(table.services.map((s) => s.address)).toEqual(["10.0.0.100"]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
