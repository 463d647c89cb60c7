// Neighbour resolution: frames wait in a bounded queue while the director asks who has
// the next hop, leave when the answer comes, and are dropped after three unanswered
// requests; a known neighbour goes stale and is re-checked by unicast while frames keep
// leaving (Linux's STALE, DELAY, PROBE). Gratuitous ARP for a VIP.

import { describe, it, expect } from "vitest";
import { director, RS, RS_MAC, VIP, OUT_MAC, IN_MAC, CLIENT, CLIENT_MAC, DIRECTOR_IN } from "./helpers/director.js";
import { arp, eth, ipv4, tcp, expectFrame, SYN } from "./helpers/packet.js";

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
    const req = expectFrame(out[0].frame);
    expect(out[0].ifindex).toBe(1);
    expect(req.dstMac).toBe("ff:ff:ff:ff:ff:ff");
    expect(req.arp).toEqual({ op: 1, sha: IN_MAC, spa: DIRECTOR_IN, tha: "00:00:00:00:00:00", tpa: RS[0] });
    expect(e.counters().queued).toBe(1n);
    e.loadFrame(0, eth(IN_MAC, RS_MAC[0], 0x0806, arp(2, RS_MAC[0], RS[0], IN_MAC, DIRECTOR_IN)), 1);
    const rel = e.txFrames(e.process(1, 1010));
    expect(rel).toHaveLength(1);
    const f = expectFrame(rel[0].frame);
    expect([f.dstMac, f.srcMac, f.ip!.dst]).toEqual([RS_MAC[0], IN_MAC, VIP]);
    expect(e.counters().queue_released).toBe(1n);
    // Resolved now: the next frame goes straight out.
    e.loadFrame(0, syn(1001), 0);
    expect(expectFrame(e.txFrames(e.process(1, 1020))[0].frame).dstMac).toBe(RS_MAC[0]);
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

  // Linux's NUD states (net/core/neighbour.c) with its defaults: reachable 30 s, then STALE;
  // the first frame through a stale entry leaves at once with the cached MAC (DELAY); 5 s
  // later (delay_first_probe_time) up to 3 unicast requests to that MAC, 1 s apart
  // (ucast_solicit, retrans_time); then FAILED, and only then a broadcast and a wait.
  const replyFrom = (mac: string) => eth(IN_MAC, mac, 0x0806, arp(2, mac, RS[0], IN_MAC, DIRECTOR_IN));
  /** The unicast ARP request Linux's arp_solicit sends in PROBE: to the cached MAC, target hardware address zero, padded to 60 bytes. */
  const unicastProbe = () => Buffer.concat([eth(RS_MAC[0], IN_MAC, 0x0806, arp(1, IN_MAC, DIRECTOR_IN, "00:00:00:00:00:00", RS[0])), Buffer.alloc(18)]).toString("hex");
  const send = (e: Awaited<ReturnType<typeof unresolved>>, frame: Uint8Array, ifindex: number, now: number) => {
    e.loadFrame(0, frame, ifindex);
    return e.txFrames(e.process(1, now));
  };
  const describeOut = (out: { frame: Uint8Array; ifindex: number }[]) =>
    out.map((t) => { const d = expectFrame(t.frame); return d.arp ? `arp ${d.arp.op === 1 ? "who-has" : "is-at"} ${d.arp.tpa} to ${d.dstMac}` : `to ${d.dstMac}`; });

  it("a stale entry is used at once (DELAY), probed by unicast 5 s later, and confirmed: a busy server's frames never wait", async () => {
    const e = await unresolved();
    send(e, replyFrom(RS_MAC[0]), 1, 1000); // REACHABLE
    // Frames every 100 ms from 29 s to 45 s: each leaves at once, with the cached MAC.
    const seen: string[] = [];
    for (let t = 29000; t <= 45000; t += 100) {
      const out = describeOut(send(e, syn(t / 100), 0, t));
      expect(out.filter((x) => x.startsWith("to "))).toEqual([`to ${RS_MAC[0]}`]);
      seen.push(...out.filter((x) => x.startsWith("arp")).map((x) => `${t} ${x}`));
      if (t === 31000) expect(e.neighbourStates().delay).toBe(1);
      if (t === 36100) {
        expect(e.neighbourStates().probe).toBe(1);
        send(e, replyFrom(RS_MAC[0]), 1, 36150); // the server answers the probe
        expect(e.neighbourStates().reachable).toBe(1);
      }
    }
    // 5 s after the first use of the stale entry (31,000 ms): one request, to the cached MAC, with the frame of 36,000 ms.
    expect(seen).toEqual([`36000 arp who-has ${RS[0]} to ${RS_MAC[0]}`]);
    expect(e.counters().queued).toBe(0n);
    expect(e.counters().arp_requests_sent).toBe(1n);
  });

  it("the unicast probe's bytes: to the cached MAC, from the director's, target hardware address zero", async () => {
    const e = await unresolved();
    send(e, replyFrom(RS_MAC[0]), 1, 1000);
    expect(describeOut(send(e, syn(1), 0, 31000))).toEqual([`to ${RS_MAC[0]}`]);
    // No traffic: the timer sweep (the whole table every 128 ms) sends it.
    expect(e.tick(35000)).toBe(0);
    expect(e.tick(36000)).toBe(1);
    const probe = e.txFrame(0);
    expect(probe.ifindex).toBe(1);
    expect(Buffer.from(probe.frame).toString("hex")).toBe(unicastProbe());
  });

  it("a server that stops answering: three unicast probes a second apart while frames still leave, then FAILED; the next frame asks by broadcast and waits", async () => {
    const e = await unresolved();
    send(e, replyFrom(RS_MAC[0]), 1, 1000);
    expect(describeOut(send(e, syn(1), 0, 31000))).toEqual([`to ${RS_MAC[0]}`]); // DELAY
    const probes: string[] = [];
    for (let t = 32000; t <= 39000; t += 500) {
      // Timers run without traffic (a quiet entry is probed as Linux's timer would), and frames in between are not held.
      const n = e.tick(t);
      for (let k = 0; k < n; k++) probes.push(`${t} ${Buffer.from(e.txFrame(k).frame).toString("hex") === unicastProbe() ? "unicast probe" : "?"}`);
      if (t < 39000) expect(describeOut(send(e, syn(t / 100), 0, t + 1))).toEqual([`to ${RS_MAC[0]}`]);
    }
    expect(probes).toEqual(["36000 unicast probe", "37000 unicast probe", "38000 unicast probe"]);
    expect(e.neighbourStates().failed).toBe(1);
    expect(e.counters().queued).toBe(0n);
    // FAILED: the next frame starts afresh — a broadcast request, and the frame waits for the answer.
    expect(describeOut(send(e, syn(2), 0, 39500))).toEqual([`arp who-has ${RS[0]} to ff:ff:ff:ff:ff:ff`]);
    expect(e.counters().queued).toBe(1n);
    const after = describeOut(send(e, replyFrom("02:aa:00:00:00:99"), 1, 39600));
    expect(after).toEqual(["to 02:aa:00:00:00:99"]);
    expect(e.counters().queue_released).toBe(1n);
  });

  it("an ARP request from a server makes it STALE, not REACHABLE (arp_process): the first frame goes out at once and the entry is probed 5 s later", async () => {
    const e = await unresolved();
    // The server asks for the director's address: learnt, STALE.
    send(e, eth("ff:ff:ff:ff:ff:ff", RS_MAC[0], 0x0806, arp(1, RS_MAC[0], RS[0], "00:00:00:00:00:00", DIRECTOR_IN)), 1, 1000);
    expect(e.neighbourStates().stale).toBe(1);
    expect(describeOut(send(e, syn(1), 0, 1100))).toEqual([`to ${RS_MAC[0]}`]);
    expect(e.neighbourStates().delay).toBe(1);
    // Another request with the same MAC does not confirm it (the state stays).
    send(e, eth("ff:ff:ff:ff:ff:ff", RS_MAC[0], 0x0806, arp(1, RS_MAC[0], RS[0], "00:00:00:00:00:00", DIRECTOR_IN)), 1, 2000);
    expect(e.neighbourStates().delay).toBe(1);
    expect(e.tick(6100)).toBe(1);
    expect(Buffer.from(e.txFrame(0).frame).toString("hex")).toBe(unicastProbe());
    expect(e.counters().queued).toBe(0n);
  });

  it("answers ARP for a VIP on the asking interface and learns the asker", async () => {
    const e = await director({}, false);
    e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.loadFrame(0, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", VIP)), 0);
    const reply = expectFrame(e.txFrames(e.process(1, 1000))[0].frame);
    expect(reply.arp).toEqual({ op: 2, sha: OUT_MAC, spa: VIP, tha: CLIENT_MAC, tpa: CLIENT });
    // The asker was learnt: an echo reply to it needs no ARP.
    e.loadFrame(0, eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 1, payload: [8, 0, 0xf7, 0xfe, 0, 1, 0, 0] })), 0);
    expect(expectFrame(e.txFrames(e.process(1, 1001))[0].frame).dstMac).toBe(CLIENT_MAC);
  });

  it("sends a gratuitous ARP for a VIP", async () => {
    const e = await director();
    const n = e.sendGratuitousArp(0, VIP, 1000);
    expect(n).toBe(1);
    const g = expectFrame(e.txFrame(0).frame);
    expect(g.dstMac).toBe("ff:ff:ff:ff:ff:ff");
    expect(g.arp).toEqual({ op: 1, sha: OUT_MAC, spa: VIP, tha: "00:00:00:00:00:00", tpa: VIP });
  });
});
