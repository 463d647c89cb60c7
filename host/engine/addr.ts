// Conversions between the operator's notation and the engine's wire-order integers.
// An IPv4 address crosses into the engine as the u32 a little-endian load of its four
// network-order bytes gives; a port as the u16 a little-endian load of its two bytes gives.

export class AddressError extends Error {
  /** A leading 0 that inet_aton would read as octal: the callers' own wording would hide why. */
  constructor(message: string, readonly ambiguous = false) {
    super(message);
  }
}

/** "10.0.0.1" -> wire-order u32. Throws AddressError naming the input. */
export function ipToWire(text: string): number {
  // The common case read by hand (a configuration of 65,536 services reads a million
  // addresses): four decimal octets of 1-3 digits, no leading 0, each at most 255.
  let wire = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let plain = text.length <= 15;
  for (let i = 0; plain && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) plain = false; // a leading 0: the careful path says why
      octet = octet * 10 + (c - 48);
      if (++digits > 3) plain = false;
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) plain = false;
      wire |= octet << (8 * dots++);
      octet = 0;
      digits = 0;
    } else plain = false;
  }
  if (plain && dots === 3 && digits > 0 && octet <= 255) return (wire | (octet << 24)) >>> 0;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) throw new AddressError(`not an IPv4 address: "${text}"`);
  // inet_aton, which ipvsadm and keepalived use, reads 010 as octal 8: refused as ambiguous.
  if (m.slice(1).some((o) => o.length > 1 && o.startsWith("0"))) {
    const octal = m.slice(1).map((o) => (/^0[0-7]*$/.test(o) ? parseInt(o, 8) : Number(o))).join(".");
    throw new AddressError(`ambiguous IPv4 address "${text}": ipvsadm and keepalived (inet_aton) read a leading 0 as octal (${octal}); ` +
      "write it without leading zeros", true);
  }
  const b = m.slice(1).map(Number);
  if (b.some((x) => x > 255)) throw new AddressError(`not an IPv4 address: "${text}"`);
  return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
}

export function wireToIp(v: number): string {
  return `${v & 0xff}.${(v >>> 8) & 0xff}.${(v >>> 16) & 0xff}.${v >>> 24}`;
}

/** IPv4 address as a host-order number (for sorting and arithmetic). */
export function ipToNumber(text: string): number {
  const w = ipToWire(text);
  return (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) | (w >>> 24)) >>> 0;
}

export function numberToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export function portToWire(port: number): number {
  return ((port & 0xff) << 8) | ((port >>> 8) & 0xff);
}

export const wireToPort = portToWire;

export function checkPort(port: number, what = "port"): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AddressError(`${what} out of range (0-65535): ${port}`);
  return port;
}

/** "02:00:00:00:00:01" -> 6 bytes. */
export function parseMac(text: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) throw new AddressError(`not a MAC address: "${text}"`);
  return Uint8Array.from(m.slice(1).map((x) => parseInt(x, 16)));
}

export function formatMac(b: Uint8Array | number[], off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(b[off + i].toString(16).padStart(2, "0"));
  return out.join(":");
}

/** "10.0.0.0/24" -> address and prefix length; a bare address means /32. */
export function parseCidr(text: string): { address: string; prefixLen: number } {
  const [address, len] = text.split("/");
  ipToWire(address);
  if (len === undefined) return { address, prefixLen: 32 };
  if (!/^\d{1,2}$/.test(len) || Number(len) > 32) throw new AddressError(`bad prefix length in "${text}"`);
  return { address, prefixLen: Number(len) };
}

/** "10.0.0.1:80" -> address and port. */
export function parseEndpoint(text: string): { address: string; port: number } {
  const i = text.lastIndexOf(":");
  if (i < 0) throw new AddressError(`expected ADDRESS:PORT, got "${text}"`);
  const address = text.slice(0, i);
  ipToWire(address);
  const p = text.slice(i + 1);
  if (!/^\d+$/.test(p)) throw new AddressError(`bad port in "${text}"`);
  return { address, port: checkPort(Number(p)) };
}

// ---- values stored parsed ---------------------------------------------------------------
//
// The configuration keeps each address, prefix and MAC in the form the engine takes, parsed
// once where it was read (the three syntaxes' readers and the control socket's edits): the
// engine adapter packs and applies them with no string read again (smoltcp's Repr idea: a
// validated value, parsed and emitted at the edge). The text beside it is what the operator
// wrote, kept for listings, keys and messages; for IPv4 it is exactly formatIp(value), since
// ipToWire reads only the plain dotted quad (no leading zero, no other notation).

/** An IPv6 address (issue 20): its 16 bytes as four u32 words, each the little-endian load
 *  of four network-order bytes (the engine's wire order, as an IPv4 address's one word). */
export type Ip6Words = readonly [number, number, number, number];

/** An address as the configuration stores it: IPv4 as the wire-order word ipToWire gives,
 *  kept as an int32 (parseIp: V8 holds a small integer in the record itself, where a u32 past
 *  2^31 would be a heap number of its own, 16 bytes more per address); IPv6 as its four words.
 *  The family is the type: a number is IPv4. */
export type IpAddr = number | Ip6Words;

/** text -> IpAddr (IPv4 until issue 20). Throws AddressError as ipToWire. */
export const parseIp = (text: string): IpAddr => ipToWire(text) | 0;

/** The engine's IPv4 word of a, as ipToWire gives it (an IPv6 address has none until issue 20
 *  gives the engine one). */
export function ip4Of(a: IpAddr): number {
  if (typeof a === "number") return a >>> 0;
  throw new AddressError(`${formatIp(a)}: IPv6 is not supported yet`);
}

/** The text of an address: dotted quad, or IPv6 as RFC 5952 writes it (lower case, the
 *  longest run of two or more zero groups as "::", the first of equal runs). */
export function formatIp(a: IpAddr): string {
  if (typeof a === "number") return wireToIp(a);
  const groups: number[] = [];
  for (const w of a) groups.push(((w & 0xff) << 8) | ((w >>> 8) & 0xff), (((w >>> 16) & 0xff) << 8) | (w >>> 24));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** A network (a route's destination, an interface's address, a mark rule's destination):
 *  its address as written (not masked) and its prefix length. */
export interface Prefix {
  addr: IpAddr;
  len: number;
}

/** "10.0.0.0/24" -> Prefix; a bare address means /32. Throws AddressError as parseCidr. */
export function parsePrefix(text: string): Prefix {
  const c = parseCidr(text);
  return { addr: parseIp(c.address), len: c.prefixLen };
}

/** A MAC as the engine takes it: its first four bytes as a little-endian u32, its last two as a u16. */
export type MacWords = readonly [lo: number, hi: number];

/** "02:00:00:00:00:01" -> MacWords. Throws AddressError as parseMac. */
export function macWords(text: string): MacWords {
  const b = parseMac(text);
  return [(b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0, b[4] | (b[5] << 8)];
}

/** A mark as the engine keeps it: in network byte order, where a VIP would be (so a
 *  firewall-mark template lists its mark as 0.0.0.N, as IPVS's do). */
export const markToWire = (mark: number): number =>
  (((mark >>> 24) & 0xff) | (((mark >>> 16) & 0xff) << 8) | (((mark >>> 8) & 0xff) << 16) | ((mark & 0xff) << 24)) >>> 0;
/** The mark of a wire word (markToWire's inverse). */
export const wireToMark = markToWire;
