// The configuration's parsed values (ServiceSpec.vaddr, RealServerSpec.daddr, Persistence.mask:
// host/engine/addr.ts, "values stored parsed") checked against the text beside them, and left
// out: what a test compares with what the parsers gave before the values were kept parsed.

import { parseIp as ipToWire, macWords, parsePrefix, prefixMask6 } from "../../host/engine/addr.js";

/** Equal as data (an IPv6 address's four words compare by value). */
const sameValue = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** A JSON.stringify replacer: throws where a parsed value is not its text's, and leaves it out. */
export function parsedChecked(this: Record<string, unknown>, key: string, value: unknown): unknown {
  if (key === "vaddr") {
    // (An IPv6 firewall-mark service's address is ::, its words all 0.)
    const want = this.fwmark !== undefined ? (this.address === "::" ? [0, 0, 0, 0] : 0) : ipToWire(this.address as string);
    if (!sameValue(value, want)) throw new Error(`vaddr ${value} of ${this.address} (want ${want})`);
    return undefined;
  }
  if (key === "daddr") {
    if (!sameValue(value, ipToWire(this.address as string))) throw new Error(`daddr ${value} of ${this.address}`);
    return undefined;
  }
  if (key === "mask" && typeof this.netmask === "string") {
    // An IPv6 service's netmask is a prefix length ("64"), its mask that prefix's words.
    if (!sameValue(value, /^\d+$/.test(this.netmask) ? prefixMask6(Number(this.netmask)) : ipToWire(this.netmask))) throw new Error(`mask ${value} of ${this.netmask}`);
    return undefined;
  }
  // A route's, a neighbour's, a mark rule's, VRRP's and static_ipaddress's.
  const same = (want: unknown) => {
    if (JSON.stringify(value) !== JSON.stringify(want)) throw new Error(`${key} ${JSON.stringify(value)} (want ${JSON.stringify(want)})`);
    return undefined;
  };
  if (key === "net" && typeof this.cidr === "string") return same(parsePrefix(this.cidr));
  if (key === "gateway" && typeof this.via === "string") return same(ipToWire(this.via));
  if (key === "addr" && typeof this.address === "string") return same(ipToWire(this.address));
  if (key === "hw" && typeof this.mac === "string") return same(macWords(this.mac));
  if (key === "dst" && typeof this.destination === "string") return same(parsePrefix(this.destination));
  if (key === "addrs" && Array.isArray(this.addresses)) return same((this.addresses as string[]).map(ipToWire));
  if (key === "excludedAddrs" && Array.isArray(this.excluded)) return same((this.excluded as string[]).map(ipToWire));
  return value;
}

/** x as plain data without its parsed values, each checked against its text first. */
export const textOnly = <T>(x: T): T => JSON.parse(JSON.stringify(x, parsedChecked)) as T;
