// The table-driven packet test: every record of test/fixtures/packets.json (made by
// test/fixtures/build.ts) through a fresh engine. It checks the counter the input
// frame must end in, the exact bytes of every emitted frame, and every checksum in
// them with the independent decoder. On a mismatch it writes input/expected/actual
// pcaps under test/failures/ for Wireshark.

import { describe, it, expect } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { director, RS } from "./helpers/director.js";
import { decode, expectFrame } from "./helpers/packet.js";
import { writePcap } from "../host/engine/pcap.js";
import type { Fixture, Scenario } from "./fixtures/build.js";
import type { Engine } from "../host/engine/index.js";

const fixtures: Fixture[] = JSON.parse(readFileSync(new URL("./fixtures/packets.json", import.meta.url), "utf8"));
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));

function configure(e: Engine, s: Scenario): void {
  const vip = "10.0.0.100";
  const t = e.addService({ protocol: "tcp", address: vip, port: 80, scheduler: "rr" });
  const u = e.addService({ protocol: "udp", address: vip, port: 53, scheduler: "rr" });
  if (s === "nat") {
    e.addRealServer(t, { address: RS[0], port: 8080, method: "nat", weight: 1 });
    e.addRealServer(u, { address: RS[0], port: 5353, method: "nat", weight: 1 });
  } else {
    e.addRealServer(t, { address: RS[0], port: 80, method: s, weight: 1 });
    e.addRealServer(u, { address: RS[0], port: 53, method: s, weight: 1 });
  }
}

describe("packet fixtures", () => {
  it("has fixtures for every mode, both directions, ICMP, ARP, echo and malformed frames", () => {
    const names = fixtures.map((f) => f.name);
    for (const prefix of ["nat-in", "nat-out", "dr-in", "tun-in", "nat-icmp-in", "nat-icmp-out", "tun-frag-needed", "arp-", "echo-", "ip-bad"]) {
      expect(names.some((n) => n.startsWith(prefix)), prefix).toBe(true);
    }
  });

  for (const f of fixtures) {
    it(`${f.name}: ${f.description}`, async () => {
      const e = await director();
      configure(e, f.scenario);
      let t = 1000;
      for (const b of f.before) {
        e.loadFrame(0, bytes(b.hex), b.ifindex);
        e.process(1, t++);
      }
      const before = e.counters();
      e.loadFrame(0, bytes(f.input.hex), f.input.ifindex);
      const n = e.process(1, t);
      const out = e.txFrames(n);
      const after = e.counters();
      const actual = out.map((o) => ({ ifindex: o.ifindex, hex: Buffer.from(o.frame).toString("hex") }));
      const changed = Object.keys(after).filter((k) => k.startsWith("drop_") || ["forwarded", "consumed", "queued"].includes(k))
        .filter((k) => after[k] !== before[k]);
      try {
        expect(changed).toEqual([f.counter]);
        expect(after[f.counter] - before[f.counter]).toBe(1n);
        expect(actual).toEqual(f.output);
        // A UDP checksum of zero may leave only where none came in (RFC 768: zero is "none computed");
        // decode() reads the input here, which may be malformed on purpose.
        const inputHadNoUdpChecksum = decode(bytes(f.input.hex)).ip?.udp?.checksum === 0;
        for (const o of out) expectFrame(o.frame, { udpChecksumAbsent: inputHadNoUdpChecksum });
      } catch (err) {
        mkdirSync("test/failures", { recursive: true });
        const pcap = (frames: { hex: string }[]) => writePcap(frames.map((x, i) => ({ timeUs: i, data: bytes(x.hex) })));
        writeFileSync(`test/failures/${f.name}.input.pcap`, pcap([...f.before, f.input]));
        writeFileSync(`test/failures/${f.name}.expected.pcap`, pcap(f.output));
        writeFileSync(`test/failures/${f.name}.actual.pcap`, pcap(actual));
        throw err;
      }
    });
  }
});
