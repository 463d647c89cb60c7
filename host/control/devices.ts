// The host's own interfaces, for interfaces that name one (`device eth0`): attached by shared
// rings (AF_XDP) instead of a TAP, the engine takes the device's MAC, shares its IPv4 address
// (as IPVS's director shares the host's) and its MTU. The device is read once, where the
// configuration is loaded (`wasmvs run`, each reload, `wasmvs check`), and what it gives is
// filled into the interface: nothing downstream reads the device again for its settings.
//
// What is read: iproute2's JSON (`ip -j -d addr show dev NAME`: ifindex, link type, MAC, MTU,
// operstate, link kind, IPv4 addresses) and /sys/class/net/NAME (receive queues, driver).

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, realpathSync } from "node:fs";
import { basename } from "node:path";
import { boundWarnings, ConfigError, DirectorConfig, InterfaceConfig, STANDIN_MAC } from "../config/rules.js";

/** What this host says of one of its interfaces. */
export interface DeviceFacts {
  name: string;
  ifindex: number;
  /** The kernel's link type: "ether" for Ethernet (a NIC, a veth, a bridge), "loopback", "none" (a TUN). */
  linkType: string;
  /** Its MAC, lower case ("" when the link type has none). */
  mac: string;
  mtu: number;
  /** Its IPv4 addresses as ADDRESS/PREFIX, in the kernel's order (the primary address first). */
  addresses: string[];
  /** Its receive queues (/sys/class/net/NAME/queues/rx-*): an AF_XDP socket binds to one. */
  rxQueues: number;
  /** RFC 2863 operational state as the kernel says it: "UP", "DOWN", "LOWERLAYERDOWN", "UNKNOWN", ... */
  operstate: string;
  /** The link kind of a virtual device ("veth", "bridge", "macvlan", ...); undefined for a NIC. */
  kind?: string;
  /** The driver bound to a device with one (a NIC's: "virtio_net", "mlx5_core", ...). */
  driver?: string;
}

/** Reads a device's facts by name; undefined: there is no such device on this host. */
export type DeviceLookup = (name: string) => DeviceFacts | undefined;

/** How long `ip` may take and how much it may say (one device's JSON is about 1 KB). */
const IP_TIMEOUT_MS = 5000;
const IP_MAX_OUTPUT = 1 << 20;
/** The names the kernel takes (dev_valid_name): 1-15 bytes, no '/', ':' or white space. */
const DEVICE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

interface IpAddrJson {
  ifindex?: number;
  ifname?: string;
  link_type?: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  num_rx_queues?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** The device called name on this host (in this network namespace), or undefined when there
 *  is none. Throws an Error when it cannot be told (no `ip`, `ip` failed or timed out). */
export function readDevice(name: string): DeviceFacts | undefined {
  if (!DEVICE_NAME.test(name)) return undefined;
  let out: string;
  try {
    out = execFileSync("ip", ["-j", "-d", "addr", "show", "dev", name], {
      encoding: "utf8", timeout: IP_TIMEOUT_MS, maxBuffer: IP_MAX_OUTPUT, stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { status?: number | null; stderr?: string };
    if (err.code === "ENOENT") throw new Error(`cannot read device ${name}: ip (iproute2) is not installed`);
    const said = String(err.stderr ?? "").trim();
    // iproute2: `Device "eth9" does not exist.` with exit status 1.
    if (err.status === 1 && /does not exist/.test(said)) return undefined;
    throw new Error(`cannot read device ${name}: ip -j -d addr show dev ${name}: ${said || err.code || err.message}`);
  }
  let links: IpAddrJson[];
  try {
    links = JSON.parse(out) as IpAddrJson[];
  } catch {
    throw new Error(`cannot read device ${name}: ip -j gave no JSON (iproute2 before 4.14?)`);
  }
  const l = links.find((x) => x.ifname === name);
  if (!l || typeof l.ifindex !== "number" || typeof l.mtu !== "number") return undefined;
  const sys = sysfsOf(name, l.ifindex, (l.address ?? "").toLowerCase());
  return {
    name,
    ifindex: l.ifindex,
    linkType: l.link_type ?? "",
    mac: l.link_type === "ether" ? (l.address ?? "").toLowerCase() : "",
    mtu: l.mtu,
    addresses: (l.addr_info ?? []).filter((a) => a.family === "inet" && a.local).map((a) => `${a.local}/${a.prefixlen ?? 32}`),
    // The queues the kernel has in use (real_num_rx_queues), which is what AF_XDP binds to; `ip`'s
    // num_rx_queues is the number allocated (a veth allocates one per CPU and uses one), only
    // the fallback where /sys is another namespace's.
    rxQueues: sys?.rxQueues ?? l.num_rx_queues ?? 1,
    operstate: l.operstate ?? "UNKNOWN",
    ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
    ...(sys?.driver ? { driver: sys.driver } : {}),
  };
}

/** Receive queues and driver from /sys/class/net/NAME, when that is this namespace's device:
 *  sysfs shows the namespace of whoever mounted it (`ip netns exec` remounts it; `nsenter`
 *  does not), so its ifindex and MAC must be the ones `ip` gave. */
function sysfsOf(name: string, ifindex: number, mac: string): { rxQueues: number; driver?: string } | undefined {
  const dir = `/sys/class/net/${name}`;
  try {
    if (Number(readFileSync(`${dir}/ifindex`, "utf8").trim()) !== ifindex) return undefined;
    if (readFileSync(`${dir}/address`, "utf8").trim().toLowerCase() !== mac) return undefined;
    const rxQueues = readdirSync(`${dir}/queues`).filter((q) => q.startsWith("rx-")).length;
    let driver: string | undefined;
    try {
      driver = basename(realpathSync(`${dir}/device/driver`));
    } catch { /* a virtual device has none */ }
    return { rxQueues: Math.max(1, rxQueues), ...(driver ? { driver } : {}) };
  } catch {
    return undefined;
  }
}

/** What to make of a device that is not on this host: `run` cannot start without it (an error);
 *  `check` may run on another machine than the director (a warning). */
export interface DeviceResolution {
  missing: "error" | "warning";
  /** Where the facts come from (tests pass fake devices). */
  facts?: DeviceLookup;
}

/** Fill in the interfaces that name a device from its facts, in place: mac, address and mtu
 *  default to the device's; what contradicts the device is refused at the word written.
 *  Returns the errors, and whether an interface's subnet is unknown (a missing device and no
 *  address: the engine's on-link verdicts cannot be told, see PartialConfig.routingUnsure). */
export function resolveDevices(cfg: DirectorConfig, how: DeviceResolution): { errors: ConfigError[]; routingUnsure: boolean } {
  const errors: ConfigError[] = [];
  let routingUnsure = false;
  const lookup = how.facts ?? readDevice;
  for (const i of cfg.interfaces) {
    if (i.device === undefined) continue;
    const at = i.deviceWhere ?? { file: i.file ?? cfg.file, line: i.line, column: 1, text: i.device };
    const refuse = (where: typeof at, why: string) => errors.push(new ConfigError(where.file, where.line, where.column, where.text, why));
    let f: DeviceFacts | undefined;
    let unreadable: string | undefined;
    try {
      f = lookup(i.device);
    } catch (e) {
      unreadable = (e as Error).message;
    }
    if (!f) {
      const why = unreadable ?? `no device ${i.device} on this host (\`ip link\` shows the interfaces)`;
      if (how.missing === "error") refuse(at, why);
      else {
        (cfg.warnings ??= []).push(`${at.file}:${at.line}:${at.column}: interface ${i.name}: ${why}; where wasmvs runs, mac, address and mtu ` +
          "default to that device's, and `wasmvs run` refuses to start without it");
        cfg.warnings = boundWarnings(cfg.warnings);
      }
      // What stands in until the device is read where wasmvs runs, so the rest is checked.
      if (!i.mac) i.mac = STANDIN_MAC;
      if (!i.address) routingUnsure = true;
      continue;
    }
    if (f.linkType !== "ether") {
      refuse(at, `device ${i.device} is not an Ethernet interface (link/${f.linkType || "unknown"}): the engine sends and receives Ethernet frames`);
      if (!i.mac) i.mac = STANDIN_MAC;
      if (!i.address) routingUnsure = true;
      continue;
    }
    const from: NonNullable<InterfaceConfig["fromDevice"]> = {};
    if (!i.macWhere) {
      i.mac = f.mac;
      from.mac = true;
    } else if (i.mac.toLowerCase() !== f.mac) {
      refuse(i.macWhere, `device ${i.device}'s MAC is ${f.mac}: the engine sends and receives with the device's own MAC on a ring-attached interface; leave mac out`);
    }
    if (!i.address) {
      if (f.addresses.length) {
        // The engine shares the host's address on the device, as IPVS's director does.
        i.address = f.addresses[0];
        from.address = true;
      } else {
        refuse(at, `device ${i.device} has no IPv4 address and the interface gives none: add one to the device (ip addr add ADDRESS/PREFIX dev ${i.device}) ` +
          "or give 'address'");
        routingUnsure = true;
      }
    }
    if (!i.mtuWhere) {
      i.mtu = f.mtu;
      from.mtu = true;
    } else if (i.mtu > f.mtu && i.mtu <= MAX_RING_MTU) {
      refuse(i.mtuWhere, `device ${i.device}'s MTU is ${f.mtu}: the engine cannot send larger frames through it; leave mtu out to take the device's, ` +
        `or raise the device's (ip link set dev ${i.device} mtu ${i.mtu})`);
    }
    // The host owns the device's link state; wasmvs attaches to it as it is.
    if (f.operstate === "DOWN" || f.operstate === "LOWERLAYERDOWN") {
      (cfg.warnings ??= []).push(`${at.file}:${at.line}:${at.column}: interface ${i.name}: device ${i.device} is ${f.operstate}: ` +
        `no frame passes until it is up (ip link set dev ${i.device} up${f.operstate === "LOWERLAYERDOWN" ? ", and its peer or cable" : ""})`);
      cfg.warnings = boundWarnings(cfg.warnings);
    }
    // An AF_XDP frame is 4 KiB at most, less the kernel's 256-byte headroom (rings.c).
    // (Checked whatever the device's MTU: raising the device's would not make it fit.)
    if (i.mtu > MAX_RING_MTU) {
      refuse(i.mtuWhere ?? at, `mtu ${i.mtu}: a ring-attached interface carries frames of at most ${MAX_RING_MTU + 14 + 4} bytes ` +
        `(an AF_XDP frame of 4 KiB less the kernel's headroom): an MTU up to ${MAX_RING_MTU}; use a TAP interface for jumbo frames`);
    }
    // Offloads are a TAP's virtio-net headers; an AF_XDP socket hands over frames as the wire has
    // them. Refused here, at the device's word, so that `check` says it too (was: only `run`, with no position).
    if (cfg.offload?.on) {
      refuse(at, `offload on (line ${cfg.offload.line}) applies to TAP devices; device ${i.device} is attached through AF_XDP rings: leave offload out`);
    }
    i.rxQueues = f.rxQueues;
    if (from.mac || from.address || from.mtu) i.fromDevice = from;
  }
  // use_vmac: the XDP program takes unicast frames for the device's own MAC only, and a NIC's
  // filter drops a virtual MAC's frames anyway (keepalived puts a macvlan device there).
  for (const v of cfg.vrrp ?? []) {
    const i = cfg.interfaces.find((x) => x.index === v.ifindex);
    if (!v.vmac || i?.device === undefined) continue;
    errors.push(new ConfigError(cfg.file, v.line, 1, "use_vmac", `vrrp_instance ${v.name}: use_vmac on interface ${i.name}, which is attached to ` +
      `device ${i.device} through AF_XDP rings: only frames for the device's own MAC reach the engine there; use a TAP interface (tap, bridge) for use_vmac`));
  }
  return { errors, routingUnsure };
}

/** The largest MTU of a ring-attached interface: 4,096-byte AF_XDP frames, 256 bytes of
 *  headroom the kernel keeps in copy mode, the Ethernet header and a VLAN tag. */
export const MAX_RING_MTU = 4096 - 256 - 14 - 4;

/** Which data path an interface takes, and why, in words for `wasmvs check` and the log. */
export function interfaceBackend(i: InterfaceConfig): { backend: "xdp" | "tap"; why: string } {
  if (i.device !== undefined) {
    return { backend: "xdp", why: `device ${i.device} named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP` };
  }
  if (i.bridge || i.tap !== i.name) return { backend: "tap", why: `a TAP device (tap ${i.tap}${i.bridge ? `, in bridge ${i.bridge}` : ""})` };
  return { backend: "tap", why: "no device named: a TAP named after the interface" };
}

/** What decides whether this host can run the AF_XDP backend: the kernel's protocols and bpf
 *  syscall, and this process's capabilities. Read by readHostProbe; tests pass their own. */
export interface HostProbe {
  /** /proc/net/protocols (undefined: unreadable). */
  protocols?: string;
  /** /proc/sys/kernel/unprivileged_bpf_disabled exists: the kernel has the bpf syscall. */
  bpfSyscall: boolean;
  /** The effective capability set (CapEff of /proc/self/status). */
  capEff: bigint;
  /** RLIMIT_MEMLOCK's soft limit in bytes (Infinity: unlimited). */
  memlockBytes: number;
}

// linux/capability.h
const CAP_NET_ADMIN = 12n;
const CAP_NET_RAW = 13n;
const CAP_IPC_LOCK = 14n;
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** This host's and this process's probe (each part cheap: four small /proc files). */
export function readHostProbe(): HostProbe {
  const read = (f: string) => { try { return readFileSync(f, "utf8"); } catch { return undefined; } };
  const capHex = /^CapEff:\s*([0-9a-f]+)$/m.exec(read("/proc/self/status") ?? "")?.[1];
  const memlock = /^Max locked memory\s+(\S+)/m.exec(read("/proc/self/limits") ?? "")?.[1];
  return {
    protocols: read("/proc/net/protocols"),
    bpfSyscall: read("/proc/sys/kernel/unprivileged_bpf_disabled") !== undefined,
    capEff: capHex ? BigInt(`0x${capHex}`) : 0n,
    memlockBytes: memlock === undefined || memlock === "unlimited" ? Infinity : Number(memlock),
  };
}

/** Whether the AF_XDP backend can run here, in words. The kernel: AF_XDP sockets register the
 *  protocol "XDP" (net/xdp/xsk.c, proto_register at init: CONFIG_XDP_SOCKETS), listed in
 *  /proc/net/protocols whatever else the kernel config shows; loading the XDP program that
 *  steers frames to the socket needs the bpf syscall (CONFIG_BPF_SYSCALL, whose sysctl
 *  kernel.unprivileged_bpf_disabled exists with it). This process: CAP_NET_RAW to open the
 *  socket (xsk_create), CAP_NET_ADMIN to attach the program to the device, CAP_BPF (or
 *  CAP_SYS_ADMIN) to load it and its XSKMAP, and CAP_PERFMON (or CAP_SYS_ADMIN) for the
 *  program's packet pointer plus the IP header's length: the verifier allows a variable offset
 *  on a packet pointer only where it may skip its Spectre v1 sanitation (bpf_bypass_spec_v1:
 *  perfmon_capable), else "pointer arithmetic with it prohibited for !root" — measured with the
 *  unit's set before CAP_PERFMON was in it; without CAP_IPC_LOCK the ring memory (UMEM) is
 *  charged to RLIMIT_MEMLOCK (xdp_umem_account_pages). */
export function xdpReadiness(p: HostProbe = readHostProbe()): { ready: boolean; say: string } {
  const kernel: string[] = [];
  if (p.protocols !== undefined && !/^XDP\s/m.test(p.protocols)) kernel.push("no AF_XDP sockets (no XDP in /proc/net/protocols: CONFIG_XDP_SOCKETS)");
  if (!p.bpfSyscall) kernel.push("no bpf syscall (CONFIG_BPF_SYSCALL)");
  if (kernel.length) return { ready: false, say: `this kernel cannot: ${kernel.join(", ")}` };
  const has = (c: bigint) => ((p.capEff >> c) & 1n) === 1n;
  const lacking = [
    ...(has(CAP_NET_RAW) ? [] : ["CAP_NET_RAW (the AF_XDP socket)"]),
    ...(has(CAP_NET_ADMIN) ? [] : ["CAP_NET_ADMIN (attaching the XDP program)"]),
    ...(has(CAP_BPF) || has(CAP_SYS_ADMIN) ? [] : ["CAP_BPF (loading the XDP program)"]),
    ...(has(CAP_PERFMON) || has(CAP_SYS_ADMIN) ? [] : ["CAP_PERFMON (the verifier's leave for the XDP program's pointer arithmetic)"]),
  ];
  const kernelOk = p.protocols === undefined ? "the bpf syscall (AF_XDP sockets not known: /proc/net/protocols unreadable)" : "AF_XDP sockets and the bpf syscall";
  if (lacking.length) return { ready: false, say: `this kernel has ${kernelOk}; this process lacks ${lacking.join(", ")}: run wasmvs as root` };
  const memlock = has(CAP_IPC_LOCK) || p.memlockBytes === Infinity ? "" : `; without CAP_IPC_LOCK the rings' memory counts against RLIMIT_MEMLOCK (${Math.floor(p.memlockBytes / 1024)} KiB)`;
  return { ready: true, say: `this host can: ${kernelOk}, and the capabilities${memlock}` };
}

/** The VIPs (services' addresses) that are also addresses of this host, in the order given. On
 *  a ring-attached interface the XDP program leaves a host address's frames to the host (its
 *  own traffic), so such a VIP's clients reach the host's stack, which refuses or resets them:
 *  what an IPVS operator does on purpose (the VIP on the director, for IPVS's local input)
 *  silently takes the service away here. */
export function vipsOnHost(vips: readonly string[], hostAddresses: readonly { address: string; cidr: string; device: string }[]): Map<string, string> {
  const held = new Map<string, string>();
  for (const v of vips) {
    const a = hostAddresses.find((h) => h.address === v);
    if (a && !held.has(v)) held.set(v, `${a.cidr} dev ${a.device}`);
  }
  return held;
}

/** What the log says when a VIP becomes an address of the host (where: "ADDRESS/PREFIX dev DEVICE"). */
export function vipOnHostWarning(vip: string, where: string): string {
  return `VIP ${vip} is an address of this host (${where}): on a device interface the host's addresses are the host's, so ` +
    `its clients reach the host's own stack, not the service; remove it (ip addr del ${where}): wasmvs answers ARP for its VIPs itself`;
}
