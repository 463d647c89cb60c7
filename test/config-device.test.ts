// An interface that names an existing device of this host (`device eth0`, issue 18): attached
// by AF_XDP rings instead of a TAP, it takes the device's MAC, first IPv4 address and MTU when
// the configuration is loaded; what contradicts the device is refused at the word written; a
// device missing here stops `run` and is a warning for `check` (which may run elsewhere); and
// `check` says which backend each interface takes and why. Fake devices: no root needed.

import { describe, expect, it } from "vitest";
import { loadConfig, readConfig } from "../host/control/load.js";
import { ConfigError, configSlotSize, DirectorConfig, InterfaceConfig } from "../host/config/rules.js";
import { DeviceFacts, DeviceLookup, HostProbe, interfaceBackend, vipOnHostWarning, vipsOnHost, xdpReadiness } from "../host/control/devices.js";
import { check } from "../host/cli/check.js";
import { validateOnScratch } from "../host/dataplane/reload.js";
import { tempFolder } from "./helpers/files.js";

const folder = tempFolder("wasmvs-device-");

const ETH0: DeviceFacts = {
  name: "eth0", ifindex: 2, linkType: "ether", mac: "52:54:00:12:34:56", mtu: 1500, addresses: ["10.0.0.1/24", "10.0.0.9/24"],
  rxQueues: 2, operstate: "UP", driver: "virtio_net",
};
const ETH1: DeviceFacts = {
  name: "eth1", ifindex: 3, linkType: "ether", mac: "52:54:00:ab:cd:ef", mtu: 3000, addresses: ["10.1.0.1/24"], rxQueues: 1, operstate: "UP", kind: "veth",
};
const BARE: DeviceFacts = { name: "bare0", ifindex: 4, linkType: "ether", mac: "52:54:00:00:00:04", mtu: 1500, addresses: [], rxQueues: 1, operstate: "DOWN" };
const JUMBO: DeviceFacts = { name: "jumbo0", ifindex: 5, linkType: "ether", mac: "52:54:00:00:00:05", mtu: 9000, addresses: ["10.2.0.1/24"], rxQueues: 1, operstate: "UP" };
const LO: DeviceFacts = { name: "lo", ifindex: 1, linkType: "loopback", mac: "", mtu: 65536, addresses: ["127.0.0.1/8"], rxQueues: 1, operstate: "UNKNOWN" };

/** A host with these devices. */
const host = (...devices: DeviceFacts[]): DeviceLookup => (name) => devices.find((d) => d.name === name);
const HOST = host(ETH0, ETH1, BARE, LO, JUMBO);
/** A host whose kernel and privileges allow AF_XDP (root: every capability). */
const ROOT_PROBE: HostProbe = { protocols: "protocol  size sockets\nXDP        960      0\nTCP       2432     12\n", bpfSyscall: true, capEff: 0x1ffffffffffn, memlockBytes: 8 << 20 };

const load = (name: string, text: string, devices: DeviceLookup = HOST) => loadConfig(folder.write(name, text), undefined, false, { missing: "error", facts: devices });
/** Every error's message of loading text (the file's name is name). */
function loadErrors(name: string, text: string, devices: DeviceLookup = HOST): string[] {
  try {
    load(name, text, devices);
  } catch (e) {
    if (e instanceof ConfigError) return e.errors.map((x) => x.message);
    throw e;
  }
  throw new Error("loaded without an error");
}
/** Only the fields that say what an interface is (not where it was written). */
const settings = (i: InterfaceConfig) => ({ name: i.name, device: i.device, tap: i.tap, bridge: i.bridge, mac: i.mac, address: i.address, mtu: i.mtu, rxQueues: i.rxQueues, fromDevice: i.fromDevice });

const SERVICE = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m\n";
const KA_SERVICE = "virtual_server 10.0.0.100 80 {\n  lb_kind NAT\n  real_server 10.1.0.11 8080 {\n  }\n}\n";

describe("device: an interface on the host's own device", () => {
  it("rules form: mac, address and mtu come from the device; no TAP, no bridge, no derived mac", () => {
    const cfg = load("r.rules", `interface 0 name outside device eth0\ninterface 1 name inside device eth1 mtu 1500\n${SERVICE}`);
    expect(cfg.interfaces.map(settings)).toEqual([
      { name: "outside", device: "eth0", tap: "", bridge: undefined, mac: "52:54:00:12:34:56", address: "10.0.0.1/24", mtu: 1500, rxQueues: 2,
        fromDevice: { mac: true, address: true, mtu: true } },
      // A smaller mtu than the device's is the engine's own (it enforces it on what it sends).
      { name: "inside", device: "eth1", tap: "", bridge: undefined, mac: "52:54:00:ab:cd:ef", address: "10.1.0.1/24", mtu: 1500, rxQueues: 1,
        fromDevice: { mac: true, address: true } },
    ]);
    expect(cfg.interfaces[0].deviceWhere).toEqual({ file: cfg.file, line: 1, column: 33, text: "eth0" });
    expect(cfg.warnings ?? []).toEqual([]);
  });

  it("keepalived.conf form: `interface outside { device eth0 }`; an address given is kept, a mac equal to the device's (any case) too", () => {
    const cfg = load("k.conf", `director {
  interface outside {
    device eth0
  }
  interface inside {
    device eth1
    address 10.1.0.5/24
    mac 52:54:00:AB:CD:EF
  }
}
${KA_SERVICE}`);
    expect(cfg.interfaces.map(settings)).toEqual([
      { name: "outside", device: "eth0", tap: "", bridge: undefined, mac: "52:54:00:12:34:56", address: "10.0.0.1/24", mtu: 1500, rxQueues: 2,
        fromDevice: { mac: true, address: true, mtu: true } },
      { name: "inside", device: "eth1", tap: "", bridge: undefined, mac: "52:54:00:ab:cd:ef", address: "10.1.0.5/24", mtu: 3000, rxQueues: 1, fromDevice: { mtu: true } },
    ]);
    expect(cfg.interfaces[0].deviceWhere).toMatchObject({ line: 3, column: 12, text: "eth0" });
    // The one-line block.
    expect(load("one.conf", `director {\n  interface outside { device eth0 }\n}\n${KA_SERVICE}`).interfaces.map(settings)).toEqual([
      { name: "outside", device: "eth0", tap: "", bridge: undefined, mac: "52:54:00:12:34:56", address: "10.0.0.1/24", mtu: 1500, rxQueues: 2,
        fromDevice: { mac: true, address: true, mtu: true } },
    ]);
    // A TAP interface beside them is as before.
    const mixed = load("m.conf", "director {\n  interface outside {\n    device eth0\n  }\n  interface inside {\n    tap wvi\n    mac 02:00:00:00:01:01\n    address 10.1.0.1/24\n  }\n}\n" + KA_SERVICE);
    expect(mixed.interfaces.map(settings)[1]).toEqual({ name: "inside", device: undefined, tap: "wvi", bridge: undefined, mac: "02:00:00:00:01:01", address: "10.1.0.1/24",
      mtu: 1500, rxQueues: undefined, fromDevice: undefined });
  });

  it("refuses tap and bridge beside device, at each of them, naming both ways to attach", () => {
    const r = folder.write("tb.rules", "");
    expect(loadErrors("tb.rules", `interface 0 name outside device eth0 tap wvo bridge br0\n${SERVICE}`)).toEqual([
      `${r}:1:38: 'tap': tap and device are two different ways to attach: a TAP device (tap, bridge) or an existing interface of this host by AF_XDP rings (device eth0, line 1); give one of them`,
      `${r}:1:46: 'bridge': bridge and device are two different ways to attach: a TAP device (tap, bridge) or an existing interface of this host by AF_XDP rings (device eth0, line 1); give one of them`,
    ]);
    const k = folder.write("tb.conf", "");
    expect(loadErrors("tb.conf", `director {\n  interface outside {\n    bridge br0\n    device eth0\n  }\n}\n${KA_SERVICE}`)).toEqual([
      `${k}:3:5: 'bridge': bridge and device are two different ways to attach: a TAP device (tap, bridge) or an existing interface of this host by AF_XDP rings (device eth0, line 4); give one of them`,
    ]);
  });

  it("refuses one device named by two interfaces, at the second", () => {
    const r = folder.write("twice.rules", "");
    expect(loadErrors("twice.rules", `interface 0 name outside device eth0\ninterface 1 name inside device eth0 address 10.1.0.1/24\n${SERVICE}`)).toEqual([
      `${r}:2:32: 'eth0': device eth0 is already interface outside's (line 1): a device is attached by one interface`,
    ]);
    const k = folder.write("twice.conf", "");
    expect(loadErrors("twice.conf", `director {\n  interface outside {\n    device eth0\n  }\n  interface inside {\n    device eth0\n  }\n}\n${KA_SERVICE}`)).toEqual([
      `${k}:6:12: 'eth0': device eth0 is already interface outside's (line 3): a device is attached by one interface`,
    ]);
  });

  it("refuses a mac other than the device's, at the mac", () => {
    const r = folder.write("mac.rules", "");
    expect(loadErrors("mac.rules", `interface 0 name outside device eth0 mac 02:00:00:00:00:01\n${SERVICE}`)).toEqual([
      `${r}:1:42: '02:00:00:00:00:01': device eth0's MAC is 52:54:00:12:34:56: the engine sends and receives with the device's own MAC on a ring-attached interface; leave mac out`,
    ]);
  });

  it("refuses a device with no IPv4 address when the interface gives none, and an mtu larger than the device's", () => {
    const r = folder.write("bare.rules", "");
    expect(loadErrors("bare.rules", `interface 0 name outside device bare0\n${SERVICE}`)).toEqual([
      `${r}:1:33: 'bare0': device bare0 has no IPv4 address and the interface gives none: add one to the device (ip addr add ADDRESS/PREFIX dev bare0) or give 'address'`,
    ]);
    // With an address it loads; the device being down is said.
    const cfg = load("bare2.rules", `interface 0 name outside device bare0 address 10.0.0.1/24\n${SERVICE}`);
    expect(cfg.interfaces[0].address).toBe("10.0.0.1/24");
    expect(cfg.warnings).toEqual([`${cfg.file}:1:33: interface outside: device bare0 is DOWN: no frame passes until it is up (ip link set dev bare0 up)`]);
    const m = folder.write("mtu.rules", "");
    expect(loadErrors("mtu.rules", `interface 0 name outside device eth0 mtu 2000\n${SERVICE}`)).toEqual([
      `${m}:1:42: '2000': device eth0's MTU is 1500: the engine cannot send larger frames through it; leave mtu out to take the device's, or raise the device's (ip link set dev eth0 mtu 2000)`,
    ]);
    // Above what an AF_XDP frame carries, raising the device's MTU would not help: that is what is said.
    expect(loadErrors("mtu.rules", `interface 0 name outside device eth0 mtu 9000\n${SERVICE}`)).toEqual([
      `${m}:1:42: '9000': mtu 9000: a ring-attached interface carries frames of at most 3840 bytes (an AF_XDP frame of 4 KiB less the kernel's headroom): ` +
        "an MTU up to 3822; use a TAP interface for jumbo frames",
    ]);
  });

  it("refuses offload on beside a device interface, at the device's word (check says it, not only run)", () => {
    const f = folder.write("offload.rules", "");
    expect(loadErrors("offload.rules", `offload on\ninterface 0 name outside device eth0\n${SERVICE}`)).toEqual([
      `${f}:2:33: 'eth0': offload on (line 1) applies to TAP devices; device eth0 is attached through AF_XDP rings: leave offload out`,
    ]);
  });

  it("refuses a device that is not Ethernet", () => {
    const r = folder.write("lo.rules", "");
    expect(loadErrors("lo.rules", `interface 0 name outside device lo\n${SERVICE}`)).toEqual([
      `${r}:1:33: 'lo': device lo is not an Ethernet interface (link/loopback): the engine sends and receives Ethernet frames`,
    ]);
  });

  it("a device missing on this host: an error for run (with the hint), a warning for check, which goes on with the rest", async () => {
    const text = `interface 0 name outside device eth9\ninterface 1 name inside device eth1\n${SERVICE}-a -t 10.0.0.100:80 -r 10.2.0.11:8080 -g\n`;
    const r = folder.write("missing.rules", text);
    expect(loadErrors("missing.rules", text)).toEqual([
      `${r}:1:33: 'eth9': no device eth9 on this host (\`ip link\` shows the interfaces)`,
    ]);
    // check: a warning, and the rest still checked — a DR server off every known subnet is
    // refused... but not here, where the missing device's subnet is unknown (no guess).
    const out = await check(r, undefined, false, { devices: HOST, probe: () => ROOT_PROBE });
    expect(out).toContain(`${r}: OK\n`);
    expect(out).toContain(`warning: ${r}:1:33: interface outside: no device eth9 on this host (\`ip link\` shows the interfaces); where wasmvs runs, ` +
      "mac, address and mtu default to that device's, and `wasmvs run` refuses to start without it\n");
    expect(out).toContain("interface 0 outside: device eth9 (not on this host), mac the device's, address the device's first IPv4 address, mtu the device's\n" +
      "  backend xdp: device eth9 named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP; this host can: AF_XDP sockets and the bpf syscall, and the capabilities\n");
    // With an address given, the engine's checks run as usual: the DR server is not on-link.
    const withAddress = folder.write("missing2.rules", text.replace("device eth9", "device eth9 address 10.0.0.1/24"));
    await expect(check(withAddress, undefined, false, { devices: HOST, probe: () => ROOT_PROBE })).rejects.toThrow(/missing2\.rules:5:24: '10\.2\.0\.11:8080': .*not on a directly connected network/);
    // readConfig's default is run's.
    expect(readConfig(r, undefined, false, { missing: "error", facts: HOST }).errors.map((e) => e.reason)).toEqual(["no device eth9 on this host (`ip link` shows the interfaces)"]);
  });

  it("a device that cannot be read (ip fails) says why, at the device", () => {
    const r = folder.write("broken.rules", "");
    const failing: DeviceLookup = () => { throw new Error("cannot read device eth0: ip (iproute2) is not installed"); };
    expect(loadErrors("broken.rules", `interface 0 name outside device eth0\n${SERVICE}`, failing)).toEqual([
      `${r}:1:33: 'eth0': cannot read device eth0: ip (iproute2) is not installed`,
    ]);
  });
});

describe("check: each interface's backend and why", () => {
  it("prints the settings (the device's marked), the backend line, and whether this host can run rings", async () => {
    const r = folder.write("both.rules", `interface 0 name outside device eth0\ninterface 1 name inside tap wvi bridge bi mac 02:00:00:00:01:01 address 10.1.0.1/24\n` +
      `interface 2 name spare mac 02:00:00:00:02:01 address 10.2.0.1/24\n${SERVICE}`);
    const out = await check(r, undefined, false, { devices: HOST, probe: () => ROOT_PROBE });
    expect(out).toContain([
      "interface 0 outside: device eth0 (2 rx queues), mac 52:54:00:12:34:56 (the device's), address 10.0.0.1/24 (the device's), mtu 1500 (the device's)",
      "  backend xdp: device eth0 named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP; this host can: AF_XDP sockets and the bpf syscall, and the capabilities",
      "interface 1 inside: TAP wvi in bridge bi, mac 02:00:00:00:01:01, address 10.1.0.1/24, mtu 1500",
      "  backend tap: a TAP device (tap wvi, in bridge bi)",
      "interface 2 spare: TAP spare, mac 02:00:00:00:02:01, address 10.2.0.1/24, mtu 1500",
      "  backend tap: no device named: a TAP named after the interface",
    ].join("\n") + "\n");
    // Where the kernel lacks AF_XDP, the line says so.
    const noXdp = await check(r, undefined, false, { devices: HOST, probe: () => ({ ...ROOT_PROBE, protocols: "TCP 2432 12\n" }) });
    expect(noXdp).toContain("  backend xdp: device eth0 named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP; " +
      "this kernel cannot: no AF_XDP sockets (no XDP in /proc/net/protocols: CONFIG_XDP_SOCKETS)\n");
  });

  it("interfaceBackend: xdp with a device, else tap (named or after the interface)", () => {
    const base: InterfaceConfig = { index: 0, name: "outside", mac: "02:00:00:00:00:01", mtu: 1500, tap: "outside", line: 1 };
    expect(interfaceBackend({ ...base, tap: "", device: "eth0" })).toEqual({ backend: "xdp", why: "device eth0 named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP" });
    expect(interfaceBackend({ ...base, tap: "wvo", bridge: "bo" })).toEqual({ backend: "tap", why: "a TAP device (tap wvo, in bridge bo)" });
    expect(interfaceBackend({ ...base, bridge: "bo" })).toEqual({ backend: "tap", why: "a TAP device (tap outside, in bridge bo)" });
    expect(interfaceBackend(base)).toEqual({ backend: "tap", why: "no device named: a TAP named after the interface" });
  });

  it("xdpReadiness: the kernel's AF_XDP and bpf, then the capabilities AF_XDP needs", () => {
    expect(xdpReadiness(ROOT_PROBE)).toEqual({ ready: true, say: "this host can: AF_XDP sockets and the bpf syscall, and the capabilities" });
    expect(xdpReadiness({ ...ROOT_PROBE, bpfSyscall: false }).say).toBe("this kernel cannot: no bpf syscall (CONFIG_BPF_SYSCALL)");
    // An unprivileged user: no capabilities.
    expect(xdpReadiness({ ...ROOT_PROBE, capEff: 0n })).toEqual({ ready: false, say: "this kernel has AF_XDP sockets and the bpf syscall; this process lacks " +
      "CAP_NET_RAW (the AF_XDP socket), CAP_NET_ADMIN (attaching the XDP program), CAP_BPF (loading the XDP program), " +
      "CAP_PERFMON (the verifier's leave for the XDP program's pointer arithmetic): run wasmvs as root" });
    // CAP_BPF alone does not load the program: the verifier refuses its pointer arithmetic without CAP_PERFMON.
    const withoutPerfmon = (1n << 12n) | (1n << 13n) | (1n << 14n) | (1n << 39n);
    expect(xdpReadiness({ ...ROOT_PROBE, capEff: withoutPerfmon })).toEqual({ ready: false, say: "this kernel has AF_XDP sockets and the bpf syscall; " +
      "this process lacks CAP_PERFMON (the verifier's leave for the XDP program's pointer arithmetic): run wasmvs as root" });
    // CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_PERFMON without CAP_IPC_LOCK: the ring memory counts against the memlock limit.
    const caps = (1n << 12n) | (1n << 13n) | (1n << 38n) | (1n << 39n);
    expect(xdpReadiness({ ...ROOT_PROBE, capEff: caps })).toEqual({ ready: true, say: "this host can: AF_XDP sockets and the bpf syscall, and the capabilities; " +
      "without CAP_IPC_LOCK the rings' memory counts against RLIMIT_MEMLOCK (8192 KiB)" });
  });
});

describe("reload of a ring-attached interface", () => {
  const sizes = (cfg: DirectorConfig) => ({ slotSize: configSlotSize(cfg), maxServices: 16, maxRealServers: 16 });
  const TEXT = `interface 0 name outside device eth0\ninterface 1 name inside device eth1\n${SERVICE}`;

  it("the same device read again is the same interface (no restart asked), a service added applies", async () => {
    const prev = load("re.rules", TEXT);
    const next = load("re.rules", TEXT + "-A -t 10.0.0.101:80 -s rr\n");
    await expect(validateOnScratch(sizes(prev), prev, next)).resolves.toBeUndefined();
  });

  it("a device whose address changed under it says so, and asks for a restart", async () => {
    const prev = load("re2.rules", TEXT);
    const moved = host({ ...ETH0, addresses: ["10.0.0.7/24"] }, ETH1);
    const next = load("re2.rules", TEXT, moved);
    await expect(validateOnScratch(sizes(prev), prev, next)).rejects.toThrow(
      `${prev.file}:1:11: '0': device eth0 of interface outside changed since wasmvs read it: its address is now 10.0.0.7/24 (was 10.0.0.1/24): restart wasmvs to take it`);
  });
});

describe("device: what a ring-attached interface cannot carry", () => {
  it("an MTU above what an AF_XDP frame holds is refused at its word (the device's own, or one given)", () => {
    expect(loadErrors("jumbo.rules", `interface 0 name inside device jumbo0\n${SERVICE}`)).toEqual([
      expect.stringMatching(/^.*jumbo\.rules:1:32: 'jumbo0': mtu 9000: a ring-attached interface carries frames of at most 3840 bytes .*an MTU up to 3822; use a TAP interface for jumbo frames$/),
    ]);
    expect(loadErrors("jumbo2.rules", `interface 0 name inside device jumbo0 mtu 4000\n${SERVICE}`)).toEqual([
      expect.stringMatching(/jumbo2\.rules:1:43: '4000': mtu 4000: .*an MTU up to 3822/),
    ]);
    expect(load("ok.rules", `interface 0 name inside device jumbo0 mtu 3822\n${SERVICE}`).interfaces[0].mtu).toBe(3822);
  });

  it("use_vmac on a ring-attached interface is refused with the reason (its frames would never reach the engine)", () => {
    const text = "director {\n  interface outside {\n    device eth0\n  }\n}\n" +
      "vrrp_instance VI_1 {\n  interface outside\n  virtual_router_id 51\n  priority 100\n  use_vmac\n  virtual_ipaddress {\n    10.0.0.100\n  }\n}\n" + KA_SERVICE;
    expect(loadErrors("vmac.conf", text)).toEqual([expect.stringMatching(/vmac\.conf:\d+:1: .*vrrp_instance VI_1: use_vmac on interface outside, which is attached to device eth0 through AF_XDP rings: only frames for the device's own MAC reach the engine there; use a TAP interface/)]);
  });
});

describe("VIPs that are addresses of the host (a device interface leaves those to the host)", () => {
  it("names each VIP the host holds once, with where it is, and no other", () => {
    const host = [{ address: "192.0.2.10", cidr: "192.0.2.10/24", device: "eth0" }, { address: "192.0.2.100", cidr: "192.0.2.100/32", device: "lo" }];
    const held = vipsOnHost(["192.0.2.100", "192.0.2.101", "192.0.2.100"], host);
    expect([...held]).toEqual([["192.0.2.100", "192.0.2.100/32 dev lo"]]);
    expect(vipOnHostWarning("192.0.2.100", held.get("192.0.2.100")!)).toBe("VIP 192.0.2.100 is an address of this host (192.0.2.100/32 dev lo): " +
      "on a device interface the host's addresses are the host's, so its clients reach the host's own stack, not the service; " +
      "remove it (ip addr del 192.0.2.100/32 dev lo): wasmvs answers ARP for its VIPs itself");
  });
});
