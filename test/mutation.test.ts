// A million random and mutated frames through the engine (fixed seed): it must never
// trap, every frame must end in exactly one counter, and every IPv4 header it emits
// must carry a correct checksum.

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { director, RS } from "./helpers/director.js";
import { inetChecksum } from "./helpers/packet.js";
import { Counter } from "../host/engine/index.js";
import type { Fixture } from "./fixtures/build.js";

const FRAMES = 1_000_000;

describe("mutation", () => {
  it(`survives ${FRAMES.toLocaleString("en")} random and mutated frames with counters that add up`, async () => {
    const e = await director({ batch: 256, connCapacity: 8192 });
    const t = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 80, scheduler: "wrr" });
    const u = e.addService({ protocol: "udp", address: "10.0.0.100", port: 53, scheduler: "sh" });
    const d = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 8080, scheduler: "wlc" });
    e.addRealServer(t, { address: RS[0], port: 8080, method: "nat", weight: 3 });
    e.addRealServer(t, { address: RS[1], port: 80, method: "dr", weight: 2 });
    e.addRealServer(t, { address: RS[2], port: 80, method: "tun", weight: 1 });
    e.addRealServer(u, { address: RS[0], port: 5353, method: "nat", weight: 1 });
    e.addRealServer(u, { address: RS[1], port: 53, method: "tun", weight: 1 });
    e.addRealServer(d, { address: RS[2], port: 8080, method: "dr", weight: 1 });

    const fixtures: Fixture[] = JSON.parse(readFileSync(new URL("./fixtures/packets.json", import.meta.url), "utf8"));
    const bases = fixtures.flatMap((f) => [f.input, ...f.before]).map((r) => ({ ifindex: r.ifindex, bytes: Uint8Array.from(Buffer.from(r.hex, "hex")) }));

    let seed = 0x9e3779b9;
    const rnd = () => {
      seed ^= seed << 13; seed >>>= 0;
      seed ^= seed >>> 17;
      seed ^= seed << 5; seed >>>= 0;
      return seed;
    };
    const scratch = new Uint8Array(2200);
    const cap = e.frameCapacity;
    let badHeaders = 0;
    let now = 1000;
    for (let done = 0; done < FRAMES; done += e.batch) {
      const n = Math.min(e.batch, FRAMES - done);
      for (let i = 0; i < n; i++) {
        const kind = rnd() % 10;
        const base = bases[rnd() % bases.length];
        let len = base.bytes.length;
        scratch.set(base.bytes);
        if (kind < 4) {
          for (let k = 1 + (rnd() & 3); k > 0; k--) scratch[rnd() % len] ^= 1 << (rnd() & 7);
        } else if (kind < 6) {
          len = rnd() % (len + 1);
        } else if (kind < 7) {
          len = rnd() % 1600;
          for (let k = 0; k < len; k++) scratch[k] = rnd() & 255;
        } else if (kind < 8) {
          // Rewrite a header byte from the Ethernet type up to the L4 header.
          scratch[12 + (rnd() % Math.max(1, Math.min(len - 12, 48)))] = rnd() & 255;
        } else if (kind < 9) {
          len = cap + 1 + (rnd() % 100); // larger than a slot: must be dropped, not truncated
          scratch.fill(0x55, base.bytes.length, len);
        }
        e.loadFrame(i, scratch.subarray(0, len), rnd() % 20 === 0 ? 2 + (rnd() & 15) : base.ifindex);
      }
      now += rnd() % 50;
      const tx = e.process(n, now);
      for (let k = 0; k < tx; k++) {
        const f = e.txFrame(k).frame;
        const off = f[12] === 0x81 && f[13] === 0 ? 18 : 14;
        if (f.length >= off + 20 && f[off - 2] === 8 && f[off - 1] === 0) {
          const ihl = (f[off] & 15) * 4;
          if (inetChecksum(f.subarray(off, off + ihl)) !== 0) badHeaders++;
        }
      }
    }
    const c = e.counters();
    let drops = 0n;
    for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) drops += e.counter(i);
    expect(c.rx_frames).toBe(BigInt(FRAMES));
    expect(drops + c.forwarded + c.consumed + c.queued).toBe(c.rx_frames);
    expect(badHeaders).toBe(0);
    // The mutations reached deep: forwarded frames and many different drop reasons.
    expect(c.forwarded).toBeGreaterThan(10000n);
    expect(Object.keys(e.drops()).length).toBeGreaterThan(15);
  });
});
