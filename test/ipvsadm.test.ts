// ipvsadm's command line and output formats (no daemon needed): every option accepted
// with its effect or refused with ipvsadm's message, golden listings in each format
// (large numbers, widest IPv4 columns, empty table), the save/restore round trip on
// the configuration model, and the rate estimator on a fake clock.

import { describe, it, expect } from "vitest";
import {
  formatConnections, formatList, formatSave, formatTimeouts, IpvsadmError, largenum, parseArgs, TableView, Format,
} from "../host/config/ipvsadm.js";
import { ipToWire } from "../host/engine/addr.js";
import { applyCommand } from "../host/config/model.js";
import { Estimator } from "../host/control/estimator.js";
import { DirectorConfig, parseRules } from "../host/config/rules.js";

const fmt = (over: Partial<Format> = {}): Format => ({
  numeric: true, connections: false, timeout: false, stats: false, rate: false, thresholds: false, persistentConn: false, nosort: false, exact: false, ...over,
});
const err = (argv: string[]) => {
  try {
    parseArgs(argv);
  } catch (e) {
    return `${(e as IpvsadmError).status}: ${(e as Error).message}`;
  }
  return "no error";
};

describe("ipvsadm command line", () => {
  it("parses commands and options, short clusters and long forms", () => {
    expect(parseArgs(["-Ln"])).toMatchObject({ command: "list", format: { numeric: true } });
    expect(parseArgs(["--list", "--numeric", "--stats", "--exact"]).format).toMatchObject({ numeric: true, stats: true, exact: true });
    expect(parseArgs(["-A", "-t", "10.0.0.100:80", "-s", "wrr"])).toMatchObject({ command: "add-service", service: { protocol: "tcp", address: "10.0.0.100", port: 80 }, scheduler: "wrr" });
    expect(parseArgs(["-E", "--udp-service=10.0.0.1:53", "--scheduler", "sh"])).toMatchObject({ command: "edit-service", service: { protocol: "udp", port: 53 }, scheduler: "sh" });
    expect(parseArgs(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-m", "-w", "3", "-x", "100", "-y", "50"]))
      .toMatchObject({ command: "add-server", server: { address: "10.1.0.11", port: 8080 }, method: "nat", weight: 3, uthreshold: 100, lthreshold: 50 });
    expect(parseArgs(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11", "-g"]).server).toEqual({ address: "10.1.0.11", daddr: ipToWire("10.1.0.11"), port: 80 });
    expect(parseArgs(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-i", "--tun-type", "ipip"])).toMatchObject({ method: "tun", server: { port: 80 } });
    expect(parseArgs(["-e", "-t", "10.0.0.100:80", "-r", "10.1.0.11:80", "-w", "0"]).weight).toBe(0);
    expect(parseArgs(["-d", "-t", "10.0.0.100:80", "-r", "10.1.0.11:80"]).command).toBe("delete-server");
    expect(parseArgs(["-D", "-t", "10.0.0.100:80"]).command).toBe("delete-service");
    expect(parseArgs(["-C"]).command).toBe("flush");
    expect(parseArgs(["-Z"]).command).toBe("zero");
    expect(parseArgs(["-Z", "-t", "10.0.0.100:80"]).service?.port).toBe(80);
    expect(parseArgs(["-S", "-n"])).toMatchObject({ command: "save", format: { numeric: true } });
    expect(parseArgs(["-R"]).command).toBe("restore");
    expect(parseArgs(["--set", "900", "120", "300"]).timeouts).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
    expect(parseArgs(["-L", "-c"]).format.connections).toBe(true);
    expect(parseArgs(["-L", "--timeout"]).format.timeout).toBe(true);
    expect(parseArgs(["-L", "--rate"]).format.rate).toBe(true);
    expect(parseArgs(["-L", "--thresholds"]).format.thresholds).toBe(true);
    expect(parseArgs(["-L", "--persistent-conn"]).format.persistentConn).toBe(true);
    expect(parseArgs(["-L", "--nosort"]).format.nosort).toBe(true);
    expect(parseArgs(["-L", "--sort"]).format.nosort).toBe(false);
    expect(parseArgs(["-l", "-n"]).command).toBe("list");
    expect(parseArgs(["-L", "-u", "10.0.0.100:53"]).service).toEqual({ protocol: "udp", address: "10.0.0.100", vaddr: ipToWire("10.0.0.100"), port: 53 });
    expect(parseArgs(["--add-server", "--tcp-service", "10.0.0.100:80", "--real-server", "10.1.0.11:80", "--gatewaying", "--weight", "2",
      "--u-threshold", "9", "--l-threshold", "3"])).toMatchObject({ command: "add-server", method: "dr", weight: 2, uthreshold: 9, lthreshold: 3 });
    expect(parseArgs(["--delete-service", "-t", "10.0.0.100:80"]).command).toBe("delete-service");
    expect(parseArgs(["-h"]).command).toBe("help");
    expect(parseArgs(["-v"]).command).toBe("version");
  });

  it("refuses what ipvsadm refuses, with its messages and exit status", () => {
    expect(err(["-A"])).toBe("2: You need to supply the 'service-address' option for the 'add-service' command");
    expect(err(["-a", "-t", "10.0.0.1:80"])).toBe("2: You need to supply the 'real-server' option for the 'add-server' command");
    expect(err(["-A", "-t", "10.0.0.1:80", "-w", "1"])).toBe("2: Illegal 'weight' option with the 'add-service' command");
    expect(err(["-L", "-c", "--timeout"])).toMatch(/^2: The 'connection' and 'timeout' options cannot be used together/);
    expect(err(["-A", "-L"])).toBe("2: multiple commands specified");
    expect(err(["-A", "-t", "10.0.0.1"])).toBe("2: illegal virtual server address[:port] specified");
    expect(err(["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.300"])).toBe("2: illegal real server address[:port] specified");
    expect(err(["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.3", "-w", "65536"])).toBe("2: illegal weight specified");
    expect(err(["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.3", "-x", "-1"])).toBe("2: illegal u_threshold specified");
    expect(err(["--set", "1", "2"])).toBe("2: --set requires 3 timeout values: tcp tcpfin udp");
    expect(err(["-Q"])).toBe("2: ipvsadm: invalid option -- 'Q'");
    expect(err(["--bogus"])).toBe("2: ipvsadm: unrecognized option '--bogus'");
    expect(err(["-A", "-t", "10.0.0.1:80", "-s", "nosuch"])).toBe("255: Scheduler or persistence engine not found");
  });

  it("refuses features wasmvs does not have yet, saying so", () => {
    expect(err(["-A", "-f", "0"])).toBe("2: illegal fwmark specified");
    expect(err(["-A", "-t", "10.0.0.1:80", "-6"])).toBe("2: -6 used before -f");
    expect(err(["-A", "-t", "10.0.0.1:80", "-b", "sh-port"])).toBe("2: incompatible scheduler flag `sh-port'");
    expect(err(["-A", "-t", "10.0.0.1:80", "-M", "255.255.255.0"])).toBe("2: the netmask (-M) only applies to a persistent service (-p)");
    expect(err(["-A", "-t", "10.0.0.1:80", "-p", "0"])).toBe("2: illegal timeout specified");
    expect(err(["-A", "-t", "10.0.0.1:80", "-p", "-M", "255.0.x.0"])).toBe("2: illegal virtual server persistent mask specified");
    expect(err(["-A", "-t", "10.0.0.1:0", "-s", "rr"])).toBe("2: Zero port specified for non-persistent service");
    expect(err(["-A", "-t", "10.0.0.1:80", "--pe", "sip"])).toBe("2: ipvsadm: option --pe: persistence engines are not supported by wasmvs yet");
    expect(err(["--start-daemon", "master", "--mcast-group", "239.1.1.1"])).toBe("2: mcast-group 239.1.1.1: a multicast group other than IPVS's 224.0.0.81 is not supported by wasmvs yet (a unicast address is)");
    expect(parseArgs(["--start-daemon", "master", "--mcast-group", "10.0.0.6"]).daemon).toMatchObject({ peer: "10.0.0.6" });
    expect(err(["--start-daemon", "master", "--mcast-group", "10.0.0.6:80"])).toBe("2: illegal mcast-group specified");
    // The sync daemon's commands as ipvsadm reads them (what the director does with them: test/e2e/failover.test.ts).
    expect(err(["--start-daemon", "boss"])).toBe("2: illegal start-daemon parameter specified");
    expect(err(["--stop-daemon", "master", "--mcast-interface", "eth1"])).toBe("2: Illegal 'mcast-interface' option with the 'stop-daemon' command");
    expect(err(["--start-daemon", "master", "--syncid", "256"])).toBe("2: illegal syncid specified");
    expect(err(["--start-daemon", "master", "--sync-maxlen", "9000"])).toBe("2: illegal sync-maxlen specified");
    expect(err(["-L", "--vrrp", "--daemon"])).toBe("2: The 'daemon' and 'vrrp' options cannot be used together with the 'list' command");
    expect(err(["-L", "--daemon", "-c"])).toBe("2: The 'connection' and 'daemon' options cannot be used together with the 'list' command");
    expect(parseArgs(["--start-daemon", "backup", "--syncid", "9", "--mcast-interface", "outside"]).daemon).toEqual({ state: "backup", ifname: "outside", syncid: 9 });
    expect(parseArgs(["--start-daemon", "master"]).daemon).toEqual({ state: "master", ifname: "eth0", syncid: 0 });
    expect(err(["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.3", "-i", "--tun-type", "gue"])).toBe("2: tunnel type gue is not supported by wasmvs yet (only ipip)");
    expect(err(["-A", "-t", "10.0.0.1:80", "-s", "lblcx"])).toBe("255: Scheduler or persistence engine not found");
    // Every scheduler IPVS has, and wasmvs's maglev.
    for (const s of ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "maglev"]) expect(err(["-A", "-t", "10.0.0.1:80", "-s", s])).toBe("no error");
  });
});

const z = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const s0 = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const table: TableView = {
  size: 4096,
  timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
  services: [
    {
      protocol: "udp", address: "10.0.0.100", port: 53, scheduler: "sh", stats: s0, rates: z,
      persistence: { timeout: 30, netmask: "255.255.255.0" },
      realServers: [{ address: "10.1.0.11", port: 53, method: "tun", weight: 1, uthreshold: 0, lthreshold: 0, active: 0, inactive: 2, persistConns: 1, stats: s0, rates: z }],
    },
    {
      protocol: "tcp", address: "255.255.255.255", port: 65535, scheduler: "wlc",
      stats: { conns: 123456789, inpkts: 99999999, outpkts: 1234567890123n as unknown as number, inbytes: 98765432109876543n as unknown as number, outbytes: 5 },
      rates: { cps: 12, inpps: 3400, outpps: 5600, inbps: 123456789, outbps: 1000 },
      realServers: [
        { address: "255.255.255.254", port: 65535, method: "nat", weight: 65535, uthreshold: 2147483647, lthreshold: 100, active: 4294967295, inactive: 7, persistConns: 0,
          stats: { conns: 100000000, inpkts: 1, outpkts: 2, inbytes: 3, outbytes: 4 }, rates: { cps: 1, inpps: 2, outpps: 3, inbps: 100000000, outbps: 5 } },
        { address: "10.1.0.9", port: 80, method: "dr", weight: 0, uthreshold: 0, lthreshold: 0, active: 1, inactive: 0, persistConns: 3, stats: s0, rates: z },
      ],
    },
  ],
};

describe("ipvsadm output formats (golden)", () => {
  it("scheduler flags: -b as parse_sched_flags reads it, in the listing and in -S as ipvsadm prints them", () => {
    expect(parseArgs(["-A", "-t", "10.0.0.1:80", "-s", "sh", "-b", "sh-fallback,sh-port"]).schedFlags).toBe(3);
    expect(parseArgs(["-A", "-t", "10.0.0.1:80", "-b", "flag-3,flag-1", "-s", "rr"]).schedFlags).toBe(5);
    const e = (argv: string[]) => { try { parseArgs(argv); return "ok"; } catch (x) { return `${(x as IpvsadmError).status}: ${(x as Error).message}`; } };
    expect(e(["-A", "-t", "10.0.0.1:80", "-s", "rr", "-b", "sh-port"])).toBe("2: incompatible scheduler flag `sh-port'");
    expect(e(["-A", "-t", "10.0.0.1:80", "-s", "sh", "-b", "sh-port,turbo"])).toBe("2: invalid scheduler flag `turbo'");
    expect(e(["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.1", "-b", "flag-1"])).toBe("2: Illegal 'sched-flags' option with the 'add-server' command");
    const t: TableView = { size: 4096, timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, services: [
      { protocol: "tcp", address: "10.0.0.1", port: 80, scheduler: "sh", schedFlags: 3, stats: s0, rates: z, realServers: [] },
      { protocol: "tcp", address: "10.0.0.2", port: 80, scheduler: "wlc", schedFlags: 4, persistence: { timeout: 300, netmask: "255.255.255.255" }, stats: s0, rates: z, realServers: [] }] };
    expect(formatList(t, fmt()).split("\n").slice(3, 5)).toEqual(["TCP  10.0.0.1:80 sh (sh-fallback,sh-port)", "TCP  10.0.0.2:80 wlc (flag-3) persistent 300"]);
    expect(formatSave(t, fmt({ numeric: true }))).toBe("-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port\n-A -t 10.0.0.2:80 -s wlc -p 300 -b flag-3\n");
    // sh prints its two named flags only (print_sched_flags): a flag-3 alone shows as "()".
    const sh3: TableView = { ...t, services: [{ protocol: "tcp", address: "10.0.0.1", port: 80, scheduler: "sh", schedFlags: 6, stats: s0, rates: z, realServers: [] }] };
    expect(formatList(sh3, fmt()).split("\n")[3]).toBe("TCP  10.0.0.1:80 sh (sh-port)");
    sh3.services[0].schedFlags = 4;
    expect(formatList(sh3, fmt()).split("\n")[3]).toBe("TCP  10.0.0.1:80 sh ()");
  });

  it("one-packet scheduling: -o/--ops on -A and -E only, listed as ipvsadm lists it (\" ops\" after persistence) and saved as -o", () => {
    expect(parseArgs(["-A", "-u", "10.0.0.1:53", "-s", "rr", "-o"]).onePacket).toBe(true);
    expect(parseArgs(["-E", "-u", "10.0.0.1:53", "--ops"]).onePacket).toBe(true);
    expect(parseArgs(["-A", "-u", "10.0.0.1:53"]).onePacket).toBeUndefined();
    const e = (argv: string[]) => { try { parseArgs(argv); return "ok"; } catch (x) { return `${(x as IpvsadmError).status}: ${(x as Error).message}`; } };
    expect(e(["-a", "-u", "10.0.0.1:53", "-r", "10.1.0.1", "-o"])).toBe("2: Illegal 'ops' option with the 'add-server' command");
    expect(e(["-L", "-o"])).toBe("2: Illegal 'ops' option with the 'list' command");
    expect(e(["-A", "-u", "10.0.0.1:53", "-o", "-o"])).toBe("2: multiple 'ops' options specified");
    expect(e(["-A", "-t", "10.0.0.1:80", "-o"])).toBe("2: One-Packet Scheduling is only for UDP virtual services");
    expect(parseArgs(["-A", "-f", "7", "-o"]).onePacket).toBe(true);
    const t: TableView = { size: 4096, timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, services: [
      { protocol: "udp", address: "10.0.0.1", port: 53, scheduler: "rr", onePacket: true, persistence: { timeout: 60, netmask: "255.255.255.0" }, stats: s0, rates: z, realServers: [] }] };
    expect(formatList(t, fmt()).split("\n")[3]).toBe("UDP  10.0.0.1:53 rr persistent 60 mask 255.255.255.0 ops");
    expect(formatSave(t, fmt({ numeric: true }))).toBe("-A -u 10.0.0.1:53 -s rr -p 60 -M 255.255.255.0 -o\n");
    t.services[0] = { ...t.services[0], scheduler: "sh", schedFlags: 2 };
    expect(formatSave(t, fmt({ numeric: true }))).toBe("-A -u 10.0.0.1:53 -s sh -p 60 -M 255.255.255.0 -o -b sh-port\n");
    expect(formatList(t, fmt()).split("\n")[3]).toBe("UDP  10.0.0.1:53 sh (sh-port) persistent 60 mask 255.255.255.0 ops");
  });

  it("prints K/M/G/T suffixes as print_largenum, and exact numbers with --exact", () => {
    expect(largenum(99999999, false)).toBe(" 99999999");
    expect(largenum(100000000, false)).toBe("  100000K");
    expect(largenum(1000000000, false)).toBe("    1000M");
    expect(largenum(100000000000, false)).toBe("     100G");
    expect(largenum(100000000000000n, false)).toBe("     100T");
    expect(largenum(5, true)).toBe("        5");
    expect(largenum(1234567890123n, true)).toBe(" 1234567890123");
  });

  it("-L -n", () => {
    expect(formatList(table, fmt())).toBe(
      "IP Virtual Server version 1.2.1 (size=4096)\n" +
      "Prot LocalAddress:Port Scheduler Flags\n" +
      "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
      "TCP  255.255.255.255:65535 wlc\n" +
      "  -> 10.1.0.9:80                  Route   0      1          0         \n" +
      "  -> 255.255.255.254:65535        Masq    65535  4294967295 7         \n" +
      "UDP  10.0.0.100:53 sh persistent 30 mask 255.255.255.0\n" +
      "  -> 10.1.0.11:53                 Tunnel  1      0          2         \n");
  });

  it("-L -n --nosort keeps the table's order", () => {
    expect(formatList(table, fmt({ nosort: true })).split("\n")[3]).toBe("UDP  10.0.0.100:53 sh persistent 30 mask 255.255.255.0");
  });

  it("-L -n --stats and --exact", () => {
    expect(formatList(table, fmt({ stats: true })).split("\n").slice(1, 6)).toEqual([
      "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
      "  -> RemoteAddress:Port",
      "TCP  255.255.255.255:65535         123456K 99999999    1234G   98765T        5",
      "  -> 10.1.0.9:80                         0        0        0        0        0",
      "  -> 255.255.255.254:65535         100000K        1        2        3        4",
    ]);
    expect(formatList(table, fmt({ stats: true, exact: true })).split("\n")[3])
      .toBe("TCP  255.255.255.255:65535        123456789 99999999 1234567890123 98765432109876543        5");
  });

  it("-L -n --rate", () => {
    expect(formatList(table, fmt({ rate: true })).split("\n").slice(1, 6)).toEqual([
      "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
      "  -> RemoteAddress:Port",
      "TCP  255.255.255.255:65535              12     3400     5600  123456K     1000",
      "  -> 10.1.0.9:80                         0        0        0        0        0",
      "  -> 255.255.255.254:65535               1        2        3  100000K        5",
    ]);
  });

  it("-L -n --thresholds and --persistent-conn", () => {
    expect(formatList(table, fmt({ thresholds: true })).split("\n").slice(1, 6)).toEqual([
      "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ",
      "  -> RemoteAddress:Port",
      "TCP  255.255.255.255:65535 wlc",
      "  -> 10.1.0.9:80                  0          0          1          0         ",
      "  -> 255.255.255.254:65535        2147483647 100        4294967295 7         ",
    ]);
    expect(formatList(table, fmt({ persistentConn: true })).split("\n").slice(1, 5)).toEqual([
      "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ",
      "  -> RemoteAddress:Port",
      "TCP  255.255.255.255:65535 wlc",
      "  -> 10.1.0.9:80                  0         3           1          0         ",
    ]);
  });

  it("an empty table", () => {
    expect(formatList({ ...table, services: [] }, fmt())).toBe(
      "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    expect(formatSave({ ...table, services: [] }, fmt())).toBe("");
  });

  it("-S -n, --timeout and -c", () => {
    expect(formatSave(table, fmt())).toBe(
      "-A -t 255.255.255.255:65535 -s wlc\n" +
      "-a -t 255.255.255.255:65535 -r 10.1.0.9:80 -g -w 0\n" +
      "-a -t 255.255.255.255:65535 -r 255.255.255.254:65535 -m -w 65535\n" +
      "-A -u 10.0.0.100:53 -s sh -p 30 -M 255.255.255.0\n" +
      "-a -u 10.0.0.100:53 -r 10.1.0.11:53 -i -w 1 --tun-type ipip\n");
    expect(formatTimeouts(table)).toBe("Timeout (tcp tcpfin udp): 900 120 300\n");
    expect(formatConnections([{ protocol: "tcp", client: "192.0.2.1", clientPort: 40000, vip: "10.0.0.100", vport: 80, server: "10.1.0.11", serverPort: 8080, state: "ESTABLISHED", expiresInMs: 899500 }]))
      .toBe("IPVS connection entries\npro expire state       source             virtual            destination\n" +
        "TCP 14:59  ESTABLISHED 192.0.2.1:40000    10.0.0.100:80      10.1.0.11:8080\n");
  });
});

describe("save and restore", () => {
  const base: DirectorConfig = parseRules("interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\n", "t");
  const run = (cfg: DirectorConfig, argv: string[]) => applyCommand(cfg, parseArgs(argv));

  it("-S output fed back with -R reproduces the same table", () => {
    let cfg = run(base, ["-A", "-t", "10.0.0.100:80", "-s", "wrr"]);
    cfg = run(cfg, ["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.11:8080", "-m", "-w", "3"]);
    cfg = run(cfg, ["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.12", "-g", "-w", "0"]);
    cfg = run(cfg, ["-A", "-u", "10.0.0.100:53", "-s", "sh"]);
    cfg = run(cfg, ["-a", "-u", "10.0.0.100:53", "-r", "10.0.0.13", "-i"]);
    const view = (c: DirectorConfig): TableView => ({
      size: 4096, timeouts: { tcp: 900, tcpfin: 120, udp: 300 },
      services: c.services.map((s) => ({ ...s, stats: s0, rates: z, realServers: s.realServers.map((r) => ({ ...r, active: 0, inactive: 0, stats: s0, rates: z })) })),
    });
    const saved = formatSave(view(cfg), fmt());
    let restored = run(base, ["-C"]);
    for (const line of saved.trim().split("\n")) restored = run(restored, line.split(" "));
    expect(formatSave(view(restored), fmt())).toBe(saved);
    expect(formatList(view(restored), fmt())).toBe(formatList(view(cfg), fmt()));
  });

  it("ipvsadm's errors for the table operations", () => {
    const cfg = run(base, ["-A", "-t", "10.0.0.100:80"]);
    const e = (c: DirectorConfig, argv: string[]) => {
      try {
        run(c, argv);
      } catch (x) {
        return `${(x as IpvsadmError).status}: ${(x as Error).message}`;
      }
      return "no error";
    };
    expect(e(cfg, ["-A", "-t", "10.0.0.100:80"])).toBe("255: Service already exists");
    expect(e(cfg, ["-E", "-t", "10.0.0.100:81"])).toBe("255: No such service");
    expect(e(cfg, ["-D", "-t", "10.0.0.100:81"])).toBe("255: No such service");
    expect(e(cfg, ["-a", "-t", "10.0.0.100:81", "-r", "10.0.0.5"])).toBe("255: Service not defined");
    expect(e(cfg, ["-d", "-t", "10.0.0.100:80", "-r", "10.0.0.5"])).toBe("255: No such destination");
    expect(e(cfg, ["-e", "-t", "10.0.0.100:80", "-r", "10.0.0.5"])).toBe("255: No such destination");
    const two = run(cfg, ["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.5"]);
    expect(e(two, ["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.5"])).toBe("255: Destination already exists");
    // -E without -s restores ipvsadm's default scheduler; -e without -w the default weight.
    expect(run(run(cfg, ["-E", "-t", "10.0.0.100:80", "-s", "rr"]), ["-E", "-t", "10.0.0.100:80"]).services[0].scheduler).toBe("wlc");
    expect(run(run(two, ["-e", "-t", "10.0.0.100:80", "-r", "10.0.0.5", "-w", "9"]), ["-e", "-t", "10.0.0.100:80", "-r", "10.0.0.5"]).services[0].realServers[0].weight).toBe(1);
    expect(run(two, ["-C"]).services).toEqual([]);
    expect(run(two, ["--set", "0", "60", "0"]).timeouts).toMatchObject({ tcp: 0, tcpfin: 60, udp: 0 });
  });
});

describe("rate estimator (ip_vs_est.c) on a fake clock", () => {
  it("converges to the true rate with 1/4 smoothing every 2 s, and zeroes", () => {
    const est = new Estimator();
    const c = (conns: number, pkts: number, bytes: number) => ({ conns: BigInt(conns), inpkts: BigInt(pkts), outpkts: 0n, inbytes: BigInt(bytes), outbytes: 0n });
    est.update("s", c(0, 0, 0));
    // 100 connections, 1000 packets and 64000 bytes per second, ticks every 2 s.
    const seen: number[] = [];
    for (let t = 1; t <= 60; t++) {
      est.update("s", c(200 * t, 2000 * t, 128000 * t));
      seen.push(est.rates("s").cps);
    }
    expect(seen[0]).toBe(25); // a quarter of the way after one tick
    expect(seen[1]).toBe(44);
    expect(est.rates("s")).toEqual({ cps: 100, inpps: 1000, outpps: 0, inbps: 64000, outbps: 0 });
    est.zero("s", c(6000, 60000, 3840000));
    expect(est.rates("s").cps).toBe(0);
  });

  it("counters that stop moving decay as IPVS's do (e - e/4 a tick, floored), and a tick forgets what it did not see", () => {
    const est = new Estimator();
    const c = (conns: number) => ({ conns: BigInt(conns), inpkts: BigInt(conns * 10), outpkts: 0n, inbytes: BigInt(conns * 640), outbytes: 0n });
    est.update("s", c(0));
    for (let t = 1; t <= 30; t++) est.update("s", c(200 * t));
    expect(est.rates("s").cps).toBe(100);
    // The same counters tick after tick: the scaled average (100 * 2^10 = 102400 for cps) loses a
    // quarter each tick, rounded down as ip_vs_est.c's e += (0 - e) >> 2.
    let scaled = 102400;
    for (let t = 0; t < 8; t++) {
      est.update("s", c(6000));
      scaled += Math.floor((0 - scaled) / 4);
      expect(est.rates("s").cps).toBe(Math.max(0, Math.floor((scaled + 0x1ff) / 1024)));
    }
    expect(est.rates("s").cps).toBe(10);
    // A tick with "t" only: "s" is gone from the table, its estimate with it.
    est.begin();
    est.update("t", c(0));
    est.end();
    expect(est.rates("s")).toEqual({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    est.update("s", c(6000));
    expect(est.rates("s").cps).toBe(0);
  });
});

describe("one behaviour for DR/TUN ports", () => {
  it("-a with -g or -i and another port: the service port, as ipvsadm, with a warning", () => {
    const p = parseArgs(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-g"]);
    expect(p.server).toEqual({ address: "10.1.0.11", daddr: ipToWire("10.1.0.11"), port: 80 });
    expect(p.warnings).toEqual(["direct routing cannot change the port: real server 10.1.0.11:8080 gets the service port 80, as ipvsadm does"]);
    expect(parseArgs(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-m"]).warnings).toBeUndefined();
  });
});
