// Vnet mode (TAP offloads): each frame's virtio-net header sits in the 10 bytes before
// it. A NAT rewrite of a frame whose TCP checksum is partial (NEEDS_CSUM: the field
// holds the folded pseudo-header sum, not complemented) updates only the address part;
// the header travels with the frame, through the ARP queue too; TUN refuses large
// segments it could not wrap.

import { describe, it, expect } from "vitest";
import { director, VIP, CLIENT, CLIENT_MAC, OUT_MAC, RS } from "./helpers/director.js";
import { eth, ipv4, tcp, SYN, ACK, ip as ipBytes, expectFrame } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";

const HDR = 10;

/** A frame with the pseudo-header sum in its TCP checksum field (as the kernel leaves it). */
function partialFrame(flags: number, payload: number[], gso: { type: number; size: number } = { type: 0, size: 0 }) {
  const seg = tcp({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags, payload });
  const pseudo = pseudoSum(CLIENT, VIP, seg.length);
  seg[16] = pseudo >> 8;
  seg[17] = pseudo & 0xff;
  const frame = eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: seg, df: true }));
  // flags NEEDS_CSUM, gso_type, hdr_len, gso_size, csum_start (14 + 20), csum_offset 16
  const vh = [1, gso.type, 54, 0, gso.size & 0xff, gso.size >> 8, 34, 0, 16, 0];
  return { frame, vh };
}

function pseudoSum(src: string, dst: string, len: number): number {
  const s = ipBytes(src), d = ipBytes(dst);
  let sum = ((s[0] << 8) | s[1]) + ((s[2] << 8) | s[3]) + ((d[0] << 8) | d[1]) + ((d[2] << 8) | d[3]) + 6 + len;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function load(e: Engine, i: number, f: { frame: Uint8Array; vh: number[] }, ifindex: number) {
  e.loadFrame(i, f.frame, ifindex);
  const mem = new Uint8Array(e.memory.buffer);
  const at = e.rxBuffer(i).byteOffset - HDR;
  mem.set(f.vh, at);
}

function vnetOf(e: Engine, frame: Uint8Array): number[] {
  return Array.from(new Uint8Array(e.memory.buffer, frame.byteOffset - HDR, HDR));
}

describe("vnet mode (TAP offloads)", () => {
  it("NAT rewrites a partial checksum by the address change only, and keeps the virtio-net header", async () => {
    const e = await director();
    e.setVnetHeaders(true);
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 8080, method: "nat", weight: 1 });
    const f = partialFrame(SYN, []);
    load(e, 0, f, 0);
    expect(e.process(1, 1000)).toBe(1);
    const out = e.txFrame(0).frame;
    // The IPv4 header checksum is complete and right; the TCP field is the new pseudo-header sum.
    const d = expectFrame(out, { partialChecksum: true });
    expect(d.ip!.dst).toBe(RS[0]);
    expect(d.ip!.tcp!.dport).toBe(8080);
    const field = (out[14 + 20 + 16] << 8) | out[14 + 20 + 17];
    expect(field).toBe(pseudoSum(CLIENT, RS[0], 20));
    expect(vnetOf(e, out)).toEqual(f.vh);
  });

  it("passes a 64 KB segment (GSO) through NAT with its header", async () => {
    const e = await director({ slotSize: 66560, batch: 4 });
    e.setVnetHeaders(true);
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 8080, method: "nat", weight: 1 });
    load(e, 0, partialFrame(SYN, []), 0);
    e.process(1, 1000);
    const big = partialFrame(ACK, new Array(60000).fill(7), { type: 1, size: 1448 });
    load(e, 0, big, 0);
    expect(e.process(1, 1001)).toBe(1);
    const out = e.txFrame(0).frame;
    expect(out.length).toBe(big.frame.length);
    expect(vnetOf(e, out)).toEqual(big.vh);
    expect((out[14 + 20 + 16] << 8) | out[14 + 20 + 17]).toBe(pseudoSum(CLIENT, RS[0], 20 + 60000));
  });

  it("keeps the header of a frame that waited for ARP, and clears it on frames the engine builds", async () => {
    const e = await director({}, false);
    e.setNeighbour(CLIENT, CLIENT_MAC, 0);
    e.setVnetHeaders(true);
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 80, method: "dr", weight: 1 });
    const f = partialFrame(SYN, []);
    load(e, 0, f, 0);
    expect(e.process(1, 1000)).toBe(1);
    expect(vnetOf(e, e.txFrame(0).frame)).toEqual(new Array(HDR).fill(0)); // the ARP request
    const reply = eth("02:00:00:00:01:01", "02:aa:00:00:00:11", 0x0806,
      [0, 1, 8, 0, 6, 4, 0, 2, 2, 0xaa, 0, 0, 0, 0x11, 10, 1, 0, 11, 2, 0, 0, 0, 1, 1, 10, 1, 0, 1]);
    e.loadFrame(0, reply, 1);
    expect(e.process(1, 1001)).toBe(1);
    expect(vnetOf(e, e.txFrame(0).frame)).toEqual(f.vh);
  });

  it("TUN drops a large segment it cannot wrap, and counts it", async () => {
    const e = await director({ slotSize: 66560, batch: 4 });
    e.setVnetHeaders(true);
    e.setInterface({ index: 1, mac: "02:00:00:00:01:01", address: "10.1.0.1/24", mtu: 9000 });
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 80, method: "tun", weight: 1 });
    load(e, 0, partialFrame(SYN, []), 0);
    expect(e.process(1, 1000)).toBe(1);
    load(e, 0, partialFrame(ACK, new Array(5000).fill(1), { type: 1, size: 1448 }), 0);
    expect(e.process(1, 1001)).toBe(0);
    expect(e.drops().gso_unsupported).toBe(1n);
  });
});
