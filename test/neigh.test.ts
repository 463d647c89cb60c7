// Neighbour resolution: frames wait in a bounded queue while the director asks who has
// the next hop, leave when the answer comes, and are dropped after three unanswered
// requests. Gratuitous ARP for a VIP.

import { describe, it, expect } from "vitest";
import { director, RS, RS_MAC, VIP, OUT_MAC, IN_MAC, CLIENT, CLIENT_MAC, DIRECTOR_IN } from "./helpers/director.js";
import { arp, eth, ipv4, tcp, decode, SYN } from "./helpers/packet.js";

const syn = (sport: number) =>
  eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport, dport: 80, flags: SYN }) }));

async function unresolved() {
  const e = await director({}, false);
  e.setNeighbour(CLIENT, CLIENT_MAC, 0);
  const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
  e.addRealServer(s, { address: RS[0], port: 80, method: "dr", weight: 1 });
  return e;
}

describe("neighbours (ARP)", () => {
  it("queues a frame, asks for the next hop, and sends the frame when the reply comes", async () => {
    const e = await unresolved();
    e.loadFrame(0, syn(1000), 0);
    const out = e.txFrames(e.process(1, 1000));
    expect(out).toHaveLength(1);
    const req = decode(out[0].frame);
    expect(out[0].ifindex).toBe(1);
    expect(req.dstMac).toBe("ff:ff:ff:ff:ff:ff");
    expect(req.arp).toEqual({ op: 1, sha: IN_MAC, spa: DIRECTOR_IN, tha: "00:00:00:00:00:00", tpa: RS[0] });
    expect(e.counters().queued).toBe(1n);
    e.loadFrame(0, eth(IN_MAC, RS_MAC[0], 0x0806, arp(2, RS_MAC[0], RS[0], IN_MAC, DIRECTOR_IN)), 1);
    const rel = e.txFrames(e.process(1, 1010));
    expect(rel).toHaveLength(1);
    const f = decode(rel[0].frame);
    expect([f.dstMac, f.srcMac, f.ip!.dst]).toEqual([RS_MAC[0], IN_MAC, VIP]);
    expect(f.checksumErrors).toEqual([]);
    expect(e.counters().queue_released).toBe(1n);
    // Resolved now: the next frame goes straight out.
    e.loadFrame(0, syn(1001), 0);
    expect(decode(e.txFrames(e.process(1, 1020))[0].frame).dstMac).toBe(RS_MAC[0]);
  });

  it("retries once a second and drops the queued frames after three unanswered requests", async () => {
    const e = await unresolved();
    e.loadFrame(0, syn(1000), 0);
    e.loadFrame(1, syn(1001), 0);
    expect(e.process(2, 1000)).toBe(1); // one request for both frames
    expect(e.tick(1500)).toBe(0);
    expect(e.tick(2000)).toBe(1);
    expect(e.tick(3000)).toBe(1);
    expect(e.tick(4000)).toBe(0);
    expect(e.counters().arp_requests_sent).toBe(3n);
    expect(e.counters().queue_dropped).toBe(2n);
  });

  it("bounds the queue and counts what does not fit", async () => {
    const e = await unresolved();
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 30; i++) e.loadFrame(i, syn(2000 + b * 30 + i), 0);
      e.process(30, 1000);
    }
    expect(e.counters().queued).toBe(64n);
    expect(e.drops().neigh_queue_full).toBe(26n);
  });

  it("refreshes a neighbour after 30 s while still using it", async () => {
    const e = await unresolved();
    e.loadFrame(0, eth(IN_MAC, RS_MAC[0], 0x0806, arp(2, RS_MAC[0], RS[0], IN_MAC, DIRECTOR_IN)), 1);
    e.process(1, 1000);
    e.loadFrame(0, syn(1), 0);
    const out = e.txFrames(e.process(1, 1000 + 31000)).map((t) => decode(t.frame));
    expect(out.map((d) => (d.arp ? "arp" : d.dstMac))).toEqual(["arp", RS_MAC[0]]);
  });

  it("re-resolves a neighbour unconfirmed for 60 s: the frame waits for a fresh answer", async () => {
    const e = await unresolved();
    e.loadFrame(0, eth(IN_MAC, RS_MAC[0], 0x0806, arp(2, RS_MAC[0], RS[0], IN_MAC, DIRECTOR_IN)), 1);
    e.process(1, 1000);
    // Past STALE_MS without a confirmation: not sent to the old MAC; asked again, queued.
    e.loadFrame(0, syn(2), 0);
    const out = e.txFrames(e.process(1, 1000 + 61000)).map((t) => decode(t.frame));
    expect(out.map((d) => (d.arp ? `arp who-has ${d.arp.tpa}` : d.dstMac))).toEqual([`arp who-has ${RS[0]}`]);
    expect(e.counters().queued).toBe(1n);
    // The answer releases it to the (new) MAC.
    e.loadFrame(0, eth(IN_MAC, "02:aa:00:00:00:99", 0x0806, arp(2, "02:aa:00:00:00:99", RS[0], IN_MAC, DIRECTOR_IN)), 1);
    const after = e.txFrames(e.process(1, 1000 + 61100)).map((t) => decode(t.frame));
    expect(after.map((d) => d.dstMac)).toEqual(["02:aa:00:00:00:99"]);
  });

  it("answers ARP for a VIP on the asking interface and learns the asker", async () => {
    const e = await director({}, false);
    e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.loadFrame(0, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", VIP)), 0);
    const reply = decode(e.txFrames(e.process(1, 1000))[0].frame);
    expect(reply.arp).toEqual({ op: 2, sha: OUT_MAC, spa: VIP, tha: CLIENT_MAC, tpa: CLIENT });
    // The asker was learnt: an echo reply to it needs no ARP.
    e.loadFrame(0, eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 1, payload: [8, 0, 0xf7, 0xfe, 0, 1, 0, 0] })), 0);
    expect(decode(e.txFrames(e.process(1, 1001))[0].frame).dstMac).toBe(CLIENT_MAC);
  });

  it("sends a gratuitous ARP for a VIP", async () => {
    const e = await director();
    const n = e.sendGratuitousArp(0, VIP, 1000);
    expect(n).toBe(1);
    const g = decode(e.txFrame(0).frame);
    expect(g.dstMac).toBe("ff:ff:ff:ff:ff:ff");
    expect(g.arp).toEqual({ op: 1, sha: OUT_MAC, spa: VIP, tha: "00:00:00:00:00:00", tpa: VIP });
  });
});
