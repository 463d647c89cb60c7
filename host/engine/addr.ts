// Conversions between the operator's notation and the engine's wire-order integers.
// An IPv4 address crosses into the engine as the u32 a little-endian load of its four
// network-order bytes gives; a port as the u16 a little-endian load of its two bytes gives.

export class AddressError extends Error {
  /** A leading 0 that inet_aton would read as octal: the callers' own wording would hide why. */
  constructor(message: string, readonly ambiguous = false) {
    super(message);
  }
}

/** The common form of an IPv4 address read by hand (a configuration of 65,536 services reads
 *  a million addresses): four decimal octets of 1-3 digits, no leading 0, each at most 255.
 *  Its wire-order u32, or -1 for anything else (ipToWire's careful path says why). */
function plainIp4(text: string): number {
  let wire = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  if (text.length > 15) return -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return -1; // a leading 0: the careful path says why
      octet = octet * 10 + (c - 48);
      if (++digits > 3) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) return -1;
      wire |= octet << (8 * dots++);
      octet = 0;
      digits = 0;
    } else return -1;
  }
  return dots === 3 && digits > 0 && octet <= 255 ? (wire | (octet << 24)) >>> 0 : -1;
}

/** "10.0.0.1" -> wire-order u32. Throws AddressError naming the input. */
export function ipToWire(text: string): number {
  const plain = plainIp4(text);
  if (plain >= 0) return plain;
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

/** "10.0.0.1:80" or "[2001:db8::1]:80" (ipvsadm's form, RFC 3986's) -> the address as written
 *  (without brackets), parsed, and the port. An IPv6 address with a port must be bracketed:
 *  "2001:db8::1:80" is itself an address (the port would be read as its last group). */
export function parseEndpoint(text: string): { address: string; addr: IpAddr; port: number } {
  let address: string;
  let p: string;
  if (text.charCodeAt(0) === 91) {
    const close = text.indexOf("]");
    if (close < 0 || text.charCodeAt(close + 1) !== 58) throw new AddressError(`expected [IPV6-ADDRESS]:PORT, got "${text}"`);
    address = text.slice(1, close);
    p = text.slice(close + 2);
    if (address.indexOf(":") < 0) throw new AddressError(`brackets are for an IPv6 address: "${text}"`);
  } else {
    const i = text.lastIndexOf(":");
    if (i < 0) throw new AddressError(`expected ADDRESS:PORT, got "${text}"`);
    if (text.indexOf(":") !== i) {
      throw new AddressError(`"${text}": an IPv6 address with a port is written in brackets, [ADDRESS]:PORT (as ipvsadm's [2001:db8::1]:80)`);
    }
    address = text.slice(0, i);
    p = text.slice(i + 1);
  }
  const addr = parseIp(address);
  if (!/^\d+$/.test(p)) throw new AddressError(`bad port in "${text}"`);
  return { address, addr, port: checkPort(Number(p)) };
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

/** text -> IpAddr: a dotted quad (ipToWire), or IPv6 text (parseIp6). Throws AddressError
 *  naming the input. The plain dotted quad is read first and alone (a file of 64k services
 *  reads a million of them): an IPv6 text is only looked for when that fails. */
export function parseIp(text: string): IpAddr {
  const plain = plainIp4(text);
  if (plain >= 0) return plain | 0;
  return text.indexOf(":") >= 0 ? parseIp6(text) : ipToWire(text) | 0;
}

/** An IPv6 address in RFC 4291 2.2's text forms: eight groups of 1-4 hex digits; one "::" for a
 *  run of zero groups; the last 32 bits as a dotted quad (::ffff:10.0.0.1, 64:ff9b::10.0.0.1).
 *  Refused, each with its reason: a zone id (fe80::1%eth0: RFC 4007's scope, which no address
 *  in a configuration record carries), a second "::", a group of more than 4 digits, too many
 *  or too few groups, a stray ":". Both cases of hex are read (RFC 5952 writes lower case). */
export function parseIp6(text: string): Ip6Words {
  const bad = (why: string) => new AddressError(`not an IPv6 address: "${text}" (${why})`);
  if (text.indexOf("%") >= 0) {
    throw new AddressError(`"${text}": an IPv6 zone id (%${text.slice(text.indexOf("%") + 1)}) is not taken here; write the address alone`);
  }
  const gap = text.indexOf("::");
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) throw bad('"::" may appear only once');
  const groups: number[] = [];
  let gapAt = -1;
  let i = 0;
  const n = text.length;
  if (n === 0) throw bad("empty");
  if (gap === 0) { gapAt = 0; i = 2; }
  else if (text.charCodeAt(0) === 58) throw bad('a leading ":" needs a second one ("::")');
  while (i < n) {
    // One group: hex digits up to ":" or the end, or a dotted quad as the last 32 bits.
    let j = i;
    let v = 0;
    while (j < n) {
      const c = text.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      j++;
    }
    if (j < n && text.charCodeAt(j) === 46) {
      // An embedded IPv4 address: the rest of the text, as inet_pton reads it (no leading 0).
      const quad = plainIp4(text.slice(i));
      if (quad < 0) throw bad(`"${text.slice(i)}" is not a dotted quad`);
      groups.push(((quad & 0xff) << 8) | ((quad >>> 8) & 0xff), (((quad >>> 16) & 0xff) << 8) | (quad >>> 24));
      i = n;
      break;
    }
    if (j === i) throw bad(j < n ? `unexpected "${text[j]}"` : 'a trailing ":" needs a second one ("::")');
    if (j - i > 4) throw bad(`the group "${text.slice(i, j)}" has more than 4 hex digits`);
    groups.push(v);
    if (j === n) { i = n; break; }
    if (text.charCodeAt(j) !== 58) throw bad(`unexpected "${text[j]}"`);
    if (j === gap) { gapAt = groups.length; i = j + 2; }
    else i = j + 1;
    if (i === n && j !== gap) throw bad('a trailing ":" needs a second one ("::")');
  }
  if (gapAt < 0 ? groups.length !== 8 : groups.length > 7) {
    throw bad(gapAt < 0 ? `${groups.length} groups where 8 are needed (or "::" for a run of zeros)` : `${groups.length} groups and "::": at most 7 with "::"`);
  }
  const g = gapAt < 0 ? groups : [...groups.slice(0, gapAt), ...new Array<number>(8 - groups.length).fill(0), ...groups.slice(gapAt)];
  const word = (k: number) => ((g[2 * k] >>> 8) | ((g[2 * k] & 0xff) << 8) | ((g[2 * k + 1] >>> 8) << 16) | ((g[2 * k + 1] & 0xff) << 24)) >>> 0;
  return [word(0), word(1), word(2), word(3)];
}

/** 4 or 6: the family of an address (the type says it: a number is IPv4). */
export const familyOf = (a: IpAddr): 4 | 6 => (typeof a === "number" ? 4 : 6);
export const isIp6 = (a: IpAddr): a is Ip6Words => typeof a !== "number";
/** fe80::/10 (RFC 4291 2.5.6): the first byte 0xfe, the top two bits of the second 10. */
export const isLinkLocal6 = (a: Ip6Words): boolean => (a[0] & 0xc0ff) === 0x80fe;
/** ff00::/8 (RFC 4291 2.7). */
export const isMulticast6 = (a: Ip6Words): boolean => (a[0] & 0xff) === 0xff;
/** :: (RFC 4291 2.5.2). */
export const isUnspecified6 = (a: Ip6Words): boolean => (a[0] | a[1] | a[2] | a[3]) === 0;
/** ::1 (RFC 4291 2.5.3). */
export const isLoopback6 = (a: Ip6Words): boolean => (a[0] | a[1] | a[2]) === 0 && a[3] === 0x01000000;
/** ::ffff:0:0/96 (RFC 4291 2.5.5.2): an IPv4 address in IPv6 clothes. */
export const isV4Mapped6 = (a: Ip6Words): boolean => (a[0] | a[1]) === 0 && a[2] >>> 0 === 0xffff0000;
/** A unicast address as IPVS's destination check takes it (ipv6_addr_type's IPV6_ADDR_UNICAST):
 *  not multicast, not unspecified. */
export const isUnicast6 = (a: Ip6Words): boolean => !isMulticast6(a) && !isUnspecified6(a);

/** The mask of an IPv6 prefix of len bits (0-128), as words: ffff:ffff:ffff:ffff:: for 64. */
export function prefixMask6(len: number): Ip6Words {
  const word = (k: number) => {
    const bits = Math.max(0, Math.min(32, len - 32 * k));
    // The word's bytes in network order: the first `bits` bits of the four bytes set.
    const be = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (((be >>> 24) & 0xff) | (((be >>> 16) & 0xff) << 8) | (((be >>> 8) & 0xff) << 16) | ((be & 0xff) << 24)) >>> 0;
  };
  return [word(0), word(1), word(2), word(3)];
}

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
  // An IPv4-mapped address (::ffff:a.b.c.d) and the old IPv4-compatible one (::a.b.c.d) end in
  // a dotted quad, as RFC 5952 section 5 recommends and glibc's inet_ntop (which ipvsadm and
  // keepalived print with) writes them: a leading run of 6 zero groups, or 5 and then ffff.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    return `::${bestLen === 5 ? "ffff:" : ""}${groups[6] >>> 8}.${groups[6] & 0xff}.${groups[7] >>> 8}.${groups[7] & 0xff}`;
  }
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
  const slash = text.indexOf("/");
  const address = slash < 0 ? text : text.slice(0, slash);
  if (address.indexOf(":") < 0) {
    const c = parseCidr(text);
    return { addr: parseIp(c.address), len: c.prefixLen };
  }
  // IPv6: a bare address means /128; a prefix length of 0-128 (RFC 4291 2.3).
  const addr = parseIp6(address);
  if (slash < 0) return { addr, len: 128 };
  const len = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(len) || Number(len) > 128) throw new AddressError(`bad prefix length in "${text}" (0-128 for IPv6)`);
  return { addr, len: Number(len) };
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
