// The configuration's parsed values (host/engine/addr.ts, "values stored parsed"): the one
// formatter of both families, the int32 form of an IPv4 word, and the arithmetic that replaced
// dotted strings (a mark's wire word, a MAC's two words).

import { describe, it, expect } from "vitest";
import { formatIp, ip4Of, ipToWire, macWords, markToWire, parseIp, parsePrefix, wireToIp, wireToMark, type Ip6Words } from "../host/engine/addr.js";

/** An IPv6 address's words from its eight groups (each word a little-endian load of four network-order bytes). */
const v6 = (groups: number[]): Ip6Words => {
  const b = groups.flatMap((g) => [g >> 8, g & 0xff]);
  const w = (k: number) => (b[k] | (b[k + 1] << 8) | (b[k + 2] << 16) | (b[k + 3] << 24)) >>> 0;
  return [w(0), w(4), w(8), w(12)];
};

describe("parsed addresses", () => {
  it("IPv4: parseIp keeps ipToWire's word as an int32, ip4Of gives the engine's u32, formatIp the text back", () => {
    for (const text of ["10.0.0.1", "10.1.0.200", "255.255.255.255", "0.0.0.0", "192.168.201.128"]) {
      const a = parseIp(text) as number;
      expect(a).toBe(ipToWire(text) | 0);
      expect(ip4Of(a)).toBe(ipToWire(text));
      expect(formatIp(a)).toBe(text);
    }
    expect(() => parseIp("10.0.0.010")).toThrow(/ambiguous/);
    expect(parsePrefix("10.1.0.0/16")).toEqual({ addr: parseIp("10.1.0.0"), len: 16 });
    expect(parsePrefix("10.1.0.7")).toEqual({ addr: parseIp("10.1.0.7"), len: 32 });
  });

  it("IPv6 (issue 20): formatIp writes RFC 5952's text; the engine has no IPv6 word yet", () => {
    expect(formatIp(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))).toBe("2001:db8::1");
    expect(formatIp(v6([0, 0, 0, 0, 0, 0, 0, 0]))).toBe("::");
    expect(formatIp(v6([0, 0, 0, 0, 0, 0, 0, 1]))).toBe("::1");
    // One zero group is not shortened (RFC 5952 4.2.2); of two equal runs the first is (4.2.3).
    expect(formatIp(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]))).toBe("2001:db8:0:1:1:1:1:1");
    expect(formatIp(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]))).toBe("2001:db8::1:0:0:1");
    // The longest run wins (4.2.3), and hex is lower case (4.3).
    expect(formatIp(v6([0x2001, 0, 0, 1, 0, 0, 0, 0xabcd]))).toBe("2001:0:0:1::abcd");
    expect(() => ip4Of(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))).toThrow("2001:db8::1: IPv6 is not supported yet");
  });

  it("a mark's wire word and a MAC's words by arithmetic, as the dotted strings gave them", () => {
    const oldMarkToWire = (mark: number) => ipToWire([24, 16, 8, 0].map((sh) => (mark >>> sh) & 255).join(".")) >>> 0;
    const oldWireToMark = (wire: number) => wireToIp(wire).split(".").reduce((x, o) => x * 256 + Number(o), 0);
    for (const mark of [1, 7, 255, 256, 0x12345678, 0x80000000, 0xffffffff]) {
      expect(markToWire(mark)).toBe(oldMarkToWire(mark));
      expect(wireToMark(markToWire(mark))).toBe(oldWireToMark(oldMarkToWire(mark)));
    }
    expect(macWords("02:00:00:00:00:01")).toEqual([0x02, 0x0100]);
    expect(macWords("aa-bb-cc-dd-ee-ff")).toEqual([0xddccbbaa, 0xffee]);
  });
});
