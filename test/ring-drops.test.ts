// The ring ports' kernel counters as drops (host/io/ring-drops.ts): each frame once.
import { describe, expect, it } from "vitest";
import { ringDrops } from "../host/io/ring-drops.js";
import type { RingInfo } from "../host/io/tap.js";

const port = (counters: Partial<RingInfo>): RingInfo => ({ device: "eth0", mode: "native", queues: 1, chunk: 2048, veth: true, rxDropped: 0, rxInvalid: 0,
  txInvalid: 0, rxRingFull: 0, fillRingEmpty: 0, txRingEmpty: 0, arpDropped: 0, ...counters });

describe("ringDrops", () => {
  it("counts a frame that found the fill ring empty once, though the kernel counts it in rx_dropped too", () => {
    // What a SYN flood through a veth gave (XDP_STATISTICS after it): rx_dropped equal to the fill-ring misses.
    expect(ringDrops(port({ rxDropped: 13568, fillRingEmpty: 13568 }))).toEqual({ rxRingFull: 0, fillRingEmpty: 13568, invalid: 0, other: 0, arpCopy: 0, total: 13568 });
  });

  it("keeps the rest of rx_dropped as other (a frame too big for its AF_XDP frame), and adds the ring-full and invalid ones", () => {
    expect(ringDrops(port({ rxDropped: 10, fillRingEmpty: 7, rxRingFull: 2, rxInvalid: 1, txInvalid: 4 })))
      .toEqual({ rxRingFull: 2, fillRingEmpty: 7, invalid: 5, other: 3, arpCopy: 0, total: 17 });
  });

  it("adds the ARP copies the engine's ARP socket lost (the host still had them)", () => {
    expect(ringDrops(port({ arpDropped: 9, fillRingEmpty: 1, rxDropped: 1 }))).toEqual({ rxRingFull: 0, fillRingEmpty: 1, invalid: 0, other: 0, arpCopy: 9, total: 10 });
  });

  it("never counts a negative other (the two counters are read one after the other)", () => {
    expect(ringDrops(port({ rxDropped: 5, fillRingEmpty: 6 })).other).toBe(0);
  });
});
