// IPv6 in the configuration (issue 20): the address text of RFC 4291 2.2 read into the four
// words the engine takes, ADDRESS:PORT in ipvsadm's bracketed form, prefixes to /128, and the
// address classes IPVS's checks name (link-local, multicast, unspecified, IPv4-mapped).

import { describe, expect, it } from "vitest";
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
