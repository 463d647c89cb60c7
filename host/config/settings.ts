// The values of the director's own settings (interfaces, routes, neighbours, table size,
// metrics, on/off switches), checked once for both syntaxes: keepalived.conf's director
// block and the rules format only differ in where the words stand. Each function takes
// the word as written and returns the value, or throws a SettingError saying what is
// wrong; the parser turns that into a ConfigError at the word's position.

import type { MarkRule } from "../engine/index.js";
import type { InterfaceConfig } from "./director.js";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { AddressError, ipToWire, isMaglevTableSize, MAX_REAL_SERVERS, MAX_SCHEDULER_MEMORY, MAX_SERVICES, MH_TABLE_SIZES, parseCidr, parseMac, parsePrefix } from "../engine/index.js";
import { notSupported } from "./features.js";
import { formatIp, Ip6Words, isLoopback6, isUnicast6, isV4Mapped6, parseIp6 } from "../engine/addr.js";
import { InputError } from "./errors.js";

/** A value refused, said without where it stands (the grammar that read it adds that). */
export class SettingError extends InputError {}

/** A whole number in [min, max]. */
export function wholeNumber(text: string, min: number, max: number, what: string): number {
  if (!(min < 0 ? /^-?\d+$/ : /^\d+$/).test(text) || Number(text) < min || Number(text) > max) throw new SettingError(`${what} must be a whole number from ${min} to ${max}`);
  return Number(text);
}

export function ipv4Address(text: string, what: string): string {
  if (text.includes(":")) throw new SettingError(notSupported("ipv6"));
  try {
    ipToWire(text);
  } catch (e) {
    throw new SettingError(e instanceof AddressError && e.ambiguous ? e.message : `${what} must be an IPv4 address, got "${text}"`);
  }
  return text;
}

/** An address of either family, as keepalived.conf writes a virtual or real server's: IPv4 as
 *  ipv4Address takes it (its text unchanged), IPv6 as parseIp6 reads it, given back as formatIp
 *  writes it (RFC 5952: one text, so one key, however it was written). */
export function ipAddress(text: string, what: string): string {
  if (text.indexOf(":") < 0) return ipv4Address(text, what);
  try {
    return formatIp(parseIp6(text));
  } catch (e) {
    throw new SettingError(e instanceof AddressError ? e.message : `${what} must be an IP address, got "${text}"`);
  }
}

/** An interface's IPv6 address (`address 2001:db8::1/64` beside its IPv4 one) put on it: one
 *  per interface for now (its link-local address the engine derives from the MAC). */
export function interfaceIp6(ifc: InterfaceConfig, text: string): void {
  if (ifc.address6 !== undefined) throw new SettingError(`interface ${ifc.name} has an IPv6 address already (${ifc.address6}): one per interface`);
  const address6 = interfaceAddress6(text);
  const net6 = parsePrefix(address6);
  const a = net6.addr as Ip6Words;
  // What Linux refuses to put on an interface (ipv6_add_addr: multicast, the unspecified
  // address; ::1 belongs to lo), and an IPv4-mapped address, which names an IPv4 host.
  if (!isUnicast6(a) || isLoopback6(a) || isV4Mapped6(a)) {
    throw new SettingError(`an interface's IPv6 address must be a unicast address of its own (not multicast, ::, ::1 or IPv4-mapped), got "${text}"`);
  }
  ifc.address6 = address6;
  ifc.net6 = net6;
}

/** An interface's IPv6 address: ADDRESS[/PREFIX] (a bare address is /128), as written. */
export function interfaceAddress6(text: string): string {
  try {
    parsePrefix(text);
  } catch (e) {
    throw new SettingError((e as Error).message);
  }
  return text.includes("/") ? text : `${text}/128`;
}

export function macAddress(text: string): string {
  try {
    parseMac(text);
  } catch {
    throw new SettingError(`not a MAC address: "${text}"`);
  }
  return text.toLowerCase();
}

/** This host's identity for derivedMac: systemd's machine id (stable across reboots,
 *  distinct per installed host), else the host name. */
function hostId(): string {
  for (const f of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    try {
      const id = readFileSync(f, "utf8").slice(0, 64).trim();
      if (id) return id;
    } catch { /* none here */ }
  }
  return hostname();
}

/** The MAC of an interface given none: locally administered (0x02 set) and unicast (0x01
 *  clear) — the address space IEEE 802 leaves to the site, which no vendor's NIC uses —
 *  from a hash of this host's id and the interface's name and TAP, so that it is the same
 *  at every start (peers' ARP caches stay right) and differs between two directors of one
 *  segment. Hosts cloned with one machine id would derive the same: give `mac` there. */
export function derivedMac(name: string, tap: string, host = hostId()): string {
  const b = createHash("sha256").update(`wasmvs\0${host}\0${name}\0${tap}`).digest().subarray(0, 6);
  b[0] = (b[0] & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** A TAP or bridge name, as Linux takes it. */
export function deviceName(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text)) throw new SettingError("not a device name (1 to 15 letters, digits, '_', '.', '-')");
  return text;
}

/** An interface address: ADDRESS[/PREFIX] (a bare address is /32). */
export function interfaceAddress(text: string): string {
  try {
    parseCidr(text);
  } catch (e) {
    throw new SettingError((e as Error).message);
  }
  return text.includes("/") ? text : `${text}/32`;
}

export const mtu = (text: string) => wholeNumber(text, 68, 65535, "mtu");
export const tableSize = (text: string) => wholeNumber(text, 1, 67108864, "connection table size");
/** sync_table_share: a percent of the connection table (1-100). */
export const tableShare = (text: string) => wholeNumber(text.replace(/%$/, ""), 1, 100, "sync table share (percent)");

/** metrics_real_servers: how many real servers get node_ipvs_backend_* series (host/metrics/metrics.ts). */
export const metricsRealServers = (text: string) => wholeNumber(text, 0, 1048576, "metrics_real_servers");
/** maglev_services N: room for N maglev tables added to scheduler_memory (each M x 4 bytes,
 *  256 KiB at M = 65537); files written when it capped the maglev services load unchanged. */
export const maglevServices = (text: string) => wholeNumber(text, 0, MAX_SERVICES, "number of maglev services");
/** max_services: the service table's size (1 .. 65536). */
export const maxServices = (text: string) => wholeNumber(text, 1, MAX_SERVICES, "number of services");
/** max_real_servers: the real-server table's size (1 .. 1048576). */
export const maxRealServers = (text: string) => wholeNumber(text, 1, MAX_REAL_SERVERS, "number of real servers");

/** A size in bytes: a whole number with an optional K, M or G (powers of 1024; "16M",
 *  "512K", "1G", "65536"), and an optional B or iB after it ("16MiB", "16MB"). */
export function byteSize(text: string, max: number, what: string): number {
  const m = /^(\d+)(?:([KMGkmg])(?:i?[Bb])?|[Bb])?$/.exec(text);
  if (!m) throw new SettingError(`${what} must be a size in bytes, with K, M or G for 1024, 1024² or 1024³ (16M, 512K, 1G), not '${text}'`);
  const n = Number(m[1]) * (m[2] ? 1024 ** ("KMG".indexOf(m[2].toUpperCase()) + 1) : 1);
  if (!Number.isSafeInteger(n) || n > max) throw new SettingError(`${what} out of range (at most ${max / 1048576} MiB): ${text}`);
  return n;
}
/** scheduler_memory: the scheduler arena's size (sh, dh, mh and maglev tables). */
export const schedulerMemory = (text: string) => byteSize(text, MAX_SCHEDULER_MEMORY, "scheduler memory");

/** maglev's M: a prime from 251 to 1048573. */
export function maglevTableSize(text: string): number {
  const n = wholeNumber(text, 251, 1048573, "maglev table size");
  if (!isMaglevTableSize(n)) throw new SettingError("maglev table size must be a prime (65537, the default, 131071, 262139, 655373 ...)");
  return n;
}

/** mh's table size: one of ip_vs_mh.c's primes (CONFIG_IP_VS_MH_TAB_INDEX 8 .. 17). */
export function mhTableSize(text: string): number {
  const n = wholeNumber(text, 1, 131071, "mh table size");
  if (!MH_TABLE_SIZES.includes(n)) throw new SettingError(`mh table size must be one of the kernel's: ${MH_TABLE_SIZES.join(", ")}`);
  return n;
}

/** A route's destination: CIDR, or default. */
export function routeDestination(text: string): string {
  if (text === "default") return "0.0.0.0/0";
  try {
    parseCidr(text);
  } catch (e) {
    throw new SettingError((e as Error).message);
  }
  return text;
}

/** [ADDRESS:]PORT for the metrics endpoint (loopback unless an address is given). */
/** Where an HTTP endpoint of wasmvs listens (metrics, dashboard, playground): [ADDRESS:]PORT,
 *  loopback when no address is given. */
export function listenEndpoint(text: string, what = "metrics"): { host: string; port: number } {
  const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+)$/.exec(text);
  if (!m) throw new SettingError("expected [ADDRESS:]PORT, e.g. 9100 or 127.0.0.1:9100");
  return { host: m[1] ? ipv4Address(m[1], `the ${what} address`) : "127.0.0.1", port: wholeNumber(m[2], 1, 65535, `${what} port`) };
}

/** How many metrics_scraper lines a configuration may have. */
export const MAX_SCRAPER_LINES = 16;

/** A metrics_scraper: ADDRESS[/PREFIX] (a bare address is /32), the address Prometheus scrapes from. */
export function scraperAddress(text: string): string {
  const [a, len, extra] = text.split("/");
  if (extra !== undefined) throw new SettingError("expected ADDRESS[/PREFIX], e.g. 10.0.0.9 or 10.0.0.0/24");
  ipv4Address(a, "a metrics scraper");
  if (len !== undefined) wholeNumber(len, 0, 32, "prefix length");
  return `${a}/${len ?? 32}`;
}

/** Whether address (a peer's, as Node gives it) is within one of cidrs (ADDRESS/PREFIX). */
export function withinAny(cidrs: readonly string[], address: string): boolean {
  const num = (t: string) => t.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) return false;
  const a = num(address);
  return cidrs.some((c) => {
    const [net, len] = c.split("/");
    const size = 2 ** (32 - Number(len));
    return Math.floor(a / size) === Math.floor(num(net) / size);
  });
}

export function onOff(text: string): boolean {
  if (text !== "on" && text !== "off") throw new SettingError("expected on or off");
  return text === "on";
}

/** A firewall mark: 1 to 2^32-1 (decimal or 0x hex, as iptables --set-mark). */
export function markValue(text: string): number {
  const v = /^0x[0-9a-f]{1,8}$/i.test(text) ? parseInt(text, 16) : /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(v >= 1 && v <= 0xffffffff)) throw new SettingError("a firewall mark is a whole number from 1 to 4294967295 (or 0x hex)");
  return v;
}

/** A mark rule's destination: ADDRESS or ADDRESS/PREFIX. */
export function markDestination(text: string): string {
  const [a, len] = text.split("/", 2);
  ipv4Address(a, "the destination");
  if (len !== undefined) wholeNumber(len, 0, 32, "prefix length");
  return len === undefined ? `${a}/32` : text;
}

/** Destination ports as iptables multiport writes them: 80,443,8000-8100 (at most 15 items). */
export function portList(text: string): [number, number][] {
  const items = text.split(",");
  if (items.length > 15) throw new SettingError("at most 15 ports or ranges (as iptables multiport)");
  return items.map((item) => {
    const m = /^(\d+)(?:[-:](\d+))?$/.exec(item);
    if (!m) throw new SettingError("expected ports and ranges such as 80,443,8000-8100");
    const lo = wholeNumber(m[1], 0, 65535, "port");
    const hi = m[2] === undefined ? lo : wholeNumber(m[2], 0, 65535, "port");
    if (hi < lo) throw new SettingError(`the range ${item} ends before it starts`);
    return [lo, hi] as [number, number];
  });
}

/** The words after `mark N`: protocol tcp|udp, destination ADDRESS[/PREFIX], ports LIST.
 *  word(i) reads the i-th word (its errors at that word's position). */
export function markRuleWords(mark: number, words: string[], at: (i: number, e: SettingError) => never): MarkRule {
  const r: MarkRule = { mark, destination: "" };
  for (let i = 0; i < words.length; i += 2) {
    const key = words[i];
    const val = words[i + 1];
    const read = <T>(f: (x: string) => T): T => {
      if (val === undefined) return at(i, new SettingError(`expects a value after ${key}`));
      try {
        return f(val);
      } catch (e) {
        if (e instanceof SettingError) return at(i + 1, e);
        throw e;
      }
    };
    if (key === "protocol") {
      r.protocol = read((x) => {
        if (x !== "tcp" && x !== "udp") throw new SettingError("expected tcp or udp");
        return x;
      });
    } else if (key === "destination") r.destination = read(markDestination);
    else if (key === "ports") r.ports = read(portList);
    else at(i, new SettingError("expected protocol, destination or ports"));
  }
  if (!r.destination) at(-1, new SettingError("a mark rule needs a destination (ADDRESS or ADDRESS/PREFIX)"));
  // Parsed here, once; a prefix length the engine's reading refuses (a leading 0) is left to it, to say so where it did.
  try {
    r.dst = parsePrefix(r.destination);
  } catch (e) {
    if (!(e instanceof AddressError)) throw e;
  }
  return r;
}
