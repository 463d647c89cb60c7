// The engine fuzzer (test/helpers/fuzz.ts) in seeded slices: structure-aware frames of every
// kind the engine parses, mutated, through a director with every kind of service, and the
// decapsulator. Each slice fails on a trap, a wrong checksum in an emitted frame, counters
// that do not add up, or a connection table that disagrees with itself; the seeds are fixed
// so that CI is deterministic, and a failure names the command that reproduces it (and
// leaves the failing frame as a pcap in test/failures/). `npm run fuzz` runs it at length.

import { describe, it, expect } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { counterLine, failurePcaps, fuzz, seedText, type FuzzReport } from "./helpers/fuzz.js";

const SLICES = [0x5eed0001, 0x0c0ffee5, 0x2545f491, 0x9e3779b9];
const FRAMES = 250_000;

function explain(r: FuzzReport): string {
  const f = r.failure!;
  const dir = fileURLToPath(new URL("./failures/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const name = `${dir}fuzz-${seedText(r.seed)}-batch${f.batchIndex}`;
  const p = failurePcaps(f);
  writeFileSync(`${name}.pcap`, p.batch);
  if (p.frame) writeFileSync(`${name}-frame${f.frameIndex}.pcap`, p.frame);
  return `${f.what}: ${f.message}\n  seed ${seedText(r.seed)}, batch ${f.batchIndex}${f.frameIndex !== undefined ? `, frame ${f.frameIndex} (${name}-frame${f.frameIndex}.pcap)` : ""}; batch: ${name}.pcap\n` +
    `  reproduce: npm run build:ts && npm run fuzz -- --seed ${seedText(r.seed)} --frames ${(f.batchIndex + 1) * 64}`;
}

describe("fuzz", () => {
  const reports: FuzzReport[] = [];
  for (const seed of SLICES) {
    it(`${FRAMES.toLocaleString("en")} frames, seed ${seedText(seed)}: no trap, every frame in one counter, right checksums, a consistent table`, async () => {
      const r = await fuzz({ seed, frames: FRAMES });
      console.log(`fuzz seed ${seedText(seed)}: ${r.frames} frames in ${r.seconds.toFixed(1)} s; ${counterLine(r.counters)}`);
      if (r.failure) expect.fail(explain(r));
      reports.push(r);
      const c = r.counters;
      expect(c.rx_frames).toBe(BigInt(FRAMES));
      // The mutations reached deep (as test/mutation.test.ts asks of its million frames).
      expect(c.forwarded).toBeGreaterThan(BigInt(FRAMES / 100));
      expect(Object.keys(Object.fromEntries(Object.entries(c).filter(([k, v]) => k.startsWith("drop_") && v > 0n))).length).toBeGreaterThan(35);
      expect(r.checkedFull).toBeGreaterThan(FRAMES / 50);
      expect(r.stateChecks).toBeGreaterThan(20);
    });
  }

  it("the slices together reached every parser and the paths behind them", () => {
    expect(reports.length, "slices that passed").toBe(SLICES.length);
    const sum = (name: string) => reports.reduce((n, r) => n + (r.counters[name] ?? r.decap[name] ?? 0n), 0n);
    for (const k of ["arp", "tcp-in", "udp-in", "reply-out", "icmp-echo", "icmp-error", "vrrp", "sync", "ipip", "other", "fixture", "ipv6"]) {
      expect(reports.reduce((n, r) => n + (r.kinds[k] ?? 0), 0), k).toBeGreaterThan(1000);
    }
    for (const name of ["arp_replies_sent", "arp_requests_sent", "queue_released", "icmp_errors_sent", "resets_sent", "conns_reused", "conns_reclaimed",
      "drop_table_full", "vrrp_adverts_received", "vrrp_adverts_sent", "sync_messages_sent", "sync_conns_received", "drop_sync_malformed",
      "drop_vrrp_bad_checksum", "drop_vrrp_queue_full", "drop_icmp_quote_truncated", "drop_ip_source_routed", "drop_ip_fragment", "drop_not_master",
      "drop_needs_fragmentation", "drop_neigh_queue_full", "queue_dropped", "decapsulated", "drop_ecn",
      "neighbour_adverts_sent", "drop_ipv6_ext_chain_too_long", "drop_ipv6_routing_type0", "drop_ipv6_fragment", "drop_icmpv6_bad_checksum",
      "drop_ndp_target_not_ours", "drop_ndp_na_for_our_address", "drop_ipv6_multicast_not_for_us"]) {
      expect(sum(name), name).toBeGreaterThan(0n);
    }
  });
});
