// VRRP in the engine (assembly/ha/vrrp.ts, assembly/wire/vrrp.ts): the adverts it builds
// (v2 with PASS authentication, v3 with the pseudo-header checksum) decoded by an
// independent decoder that verifies every checksum; the adverts it accepts and queues for
// the host, and the ones keepalived would drop too, each counted by reason; an instance's
// addresses answered and forwarded only while the host says it is master.

import { describe, it, expect } from "vitest";
import { director, CLIENT, CLIENT_MAC, GATEWAY_MAC, OUT_MAC, IN_MAC, VIP, RS } from "./helpers/director.js";
import { arp, expectFrame, eth, icmp, ipv4, tcp, vrrp, SYN } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";

const PEER = "10.0.0.9";
const PEER_MAC = "02:00:00:00:00:09";
const GW_VIP = "10.1.0.254";

async function withVrrp(version: 2 | 3 = 3): Promise<Engine> {
  const e = await director();
  const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
  e.addRealServer(s, { address: RS[0], port: 80, method: "nat", weight: 1 });
  e.setVrrpInstances([
    { ifindex: 0, vrid: 51, version, intervalCs: 100, authPass: version === 2 ? "secret" : undefined, addresses: [VIP] },
    { ifindex: 1, vrid: 52, version, intervalCs: 10, addresses: [GW_VIP] },
  ]);
  return e;
}

/** An advert from PEER to 224.0.0.18 on the outside segment. */
function advert(o: Parameters<typeof vrrp>[0] & { ttl?: number }): Uint8Array {
  return eth("01:00:5e:00:00:12", PEER_MAC, 0x0800, ipv4({ src: PEER, dst: "224.0.0.18", proto: 112, ttl: o.ttl ?? 255, tos: 0xc0, payload: vrrp({ src: PEER, ...o }) }));
}

function feed(e: Engine, frame: Uint8Array, ifindex = 0): Uint8Array[] {
  e.loadFrame(0, frame, ifindex);
  return e.txFrames(e.process(1, 1000)).map((t) => t.frame);
}

/** Every frame given to the engine ends in exactly one counter. */
function balanced(e: Engine): void {
  const c = e.counters();
  const drops = Object.entries(c).filter(([k]) => k.startsWith("drop_")).reduce((a, [, v]) => a + v, 0n);
  expect(c.rx_frames).toBe(drops + c.forwarded + c.consumed + c.queued);
}

describe("VRRP adverts the engine builds", () => {
  it("v2: PASS authentication, whole seconds, message checksum; v3: centiseconds, pseudo-header checksum", async () => {
    for (const version of [2, 3] as const) {
      const e = await withVrrp(version);
      const out = e.txFrames(e.sendVrrpAdvert(0, 150, 1000)).map((f) => ({ ifindex: f.ifindex, d: expectFrame(f.frame) }));
      expect(out.length).toBe(1);
      const { ifindex, d } = out[0];
      expect(ifindex).toBe(0);
      expect([d.dstMac, d.srcMac]).toEqual(["01:00:5e:00:00:12", OUT_MAC]);
      expect(d.ip).toMatchObject({ src: "10.0.0.1", dst: "224.0.0.18", proto: 112, ttl: 255, tos: 0xc0 });
      expect(d.ip!.vrrp).toMatchObject({ version, type: 1, vrid: 51, priority: 150, count: 1, addresses: [VIP], intervalCs: 100 });
      if (version === 2) expect(d.ip!.vrrp).toMatchObject({ authType: 1, auth: [...Buffer.from("secret"), 0, 0] });
      const gw = expectFrame(e.txFrames(e.sendVrrpAdvert(1, 100, 1000))[0].frame);
      expect(gw.ip!.vrrp).toMatchObject({ vrid: 52, addresses: [GW_VIP], intervalCs: version === 3 ? 10 : 0 });
      expect(e.counters().vrrp_adverts_sent).toBe(2n);
    }
  });

  it("unicast_peer: to the peer's address and MAC (ARP first when unknown), the v3 checksum over the unicast pseudo-header", async () => {
    const e = await withVrrp(3);
    // The peer's MAC unknown: an ARP request goes out and the advert waits for the answer.
    const first = e.txFrames(e.sendVrrpAdvert(0, 150, 1000, PEER)).map((f) => expectFrame(f.frame));
    expect(first.map((d) => [d.dstMac, d.arp?.op, d.arp?.tpa])).toEqual([["ff:ff:ff:ff:ff:ff", 1, PEER]]);
    expect(e.counters()).toMatchObject({ vrrp_adverts_sent: 1n });
    const released = feed(e, eth(OUT_MAC, PEER_MAC, 0x0806, new Uint8Array(arp(2, PEER_MAC, PEER, OUT_MAC, "10.0.0.1")))).map((f) => expectFrame(f));
    // Known now: straight to it.
    const second = e.txFrames(e.sendVrrpAdvert(0, 150, 1100, PEER)).map((f) => expectFrame(f.frame));
    for (const d of [...released, ...second]) {
      expect([d.dstMac, d.srcMac]).toEqual([PEER_MAC, OUT_MAC]);
      expect(d.ip).toMatchObject({ src: "10.0.0.1", dst: PEER, proto: 112, ttl: 255 });
      expect(d.ip!.vrrp).toMatchObject({ version: 3, vrid: 51, priority: 150, addresses: [VIP], intervalCs: 100 });
    }
    expect(released.length).toBe(1);
    expect(second.length).toBe(1);
  });
});

describe("VRRP adverts the engine receives", () => {
  it("a valid advert is queued for the host with its instance and source, nothing else changes", async () => {
    const e = await withVrrp(3);
    expect(feed(e, advert({ version: 3, vrid: 51, priority: 200, addresses: [VIP], intervalCs: 100 }))).toEqual([]);
    const q = e.takeVrrpAdverts();
    expect(q.map((a) => [a.instance, a.src, a.message.length])).toEqual([[0, PEER, 12]]);
    expect(Array.from(q[0].message.slice(0, 4))).toEqual([0x31, 51, 200, 1]);
    expect(e.takeVrrpAdverts()).toEqual([]);
    expect(e.counters().vrrp_adverts_received).toBe(1n);
    balanced(e);
  });

  it("dropped and counted as keepalived would: TTL, version, type, length, checksum, unknown VRID, the other version; a full queue", async () => {
    const e = await withVrrp(3);
    const base = { version: 3 as const, vrid: 51, priority: 200, addresses: [VIP] };
    const cases: [Uint8Array, string][] = [
      [advert({ ...base, ttl: 64 }), "vrrp_bad_ttl"],
      [advert({ ...base, type: 2 }), "vrrp_bad_type"],
      [eth("01:00:5e:00:00:12", PEER_MAC, 0x0800, ipv4({ src: PEER, dst: "224.0.0.18", proto: 112, ttl: 255, payload: vrrp({ ...base, src: PEER }).map((b, i) => (i === 0 ? 0x11 : b)) })), "vrrp_bad_version"],
      [advert({ ...base, count: 2 }), "vrrp_bad_length"],
      [advert({ ...base, checksum: 0x1234 }), "vrrp_bad_checksum"],
      // A v3 checksum computed without the pseudo-header (as v2 does) is wrong.
      [eth("01:00:5e:00:00:12", PEER_MAC, 0x0800, ipv4({ src: PEER, dst: "224.0.0.18", proto: 112, ttl: 255, payload: (() => {
        const m = vrrp({ ...base, checksum: 0 });
        const c = (() => { let s = 0; for (let i = 0; i < m.length; i += 2) s += (m[i] << 8) | m[i + 1]; while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return ~s & 0xffff; })();
        m[6] = c >> 8; m[7] = c & 255;
        return m;
      })() })), "vrrp_bad_checksum"],
      [advert({ ...base, vrid: 99 }), "vrrp_no_instance"],
      [advert({ ...base, version: 2 }), "vrrp_bad_version"],
    ];
    for (const [frame, reason] of cases) {
      const before = e.counters()[`drop_${reason}`];
      expect(feed(e, frame), reason).toEqual([]);
      expect(e.counters()[`drop_${reason}`], reason).toBe(before + 1n);
    }
    expect(e.takeVrrpAdverts()).toEqual([]);
    // 64 adverts fit between two reads of the host; the 65th is dropped and counted.
    for (let k = 0; k < 65; k++) feed(e, advert(base));
    expect(e.counters().drop_vrrp_queue_full).toBe(1n);
    expect(e.takeVrrpAdverts().length).toBe(64);
    balanced(e);
  });
});

describe("an instance's addresses belong to the director only while it is master", () => {
  it("backup: no ARP answer, no forwarding (drop_not_master); master: both; the servers' gateway address too", async () => {
    const e = await withVrrp(3);
    const arpFor = (ip: string, from: string, mac: string, ifindex: number) =>
      feed(e, eth("ff:ff:ff:ff:ff:ff", mac, 0x0806, arp(1, mac, from, "00:00:00:00:00:00", ip)), ifindex);
    const syn = () => feed(e, eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN }) })));
    expect(arpFor(VIP, CLIENT, CLIENT_MAC, 0)).toEqual([]);
    expect(arpFor(GW_VIP, RS[0], "02:aa:00:00:00:11", 1)).toEqual([]);
    expect(syn()).toEqual([]);
    expect(e.counters().drop_not_master).toBe(1n);
    // The director's own address is answered whatever VRRP says.
    expect(arpFor("10.0.0.1", CLIENT, CLIENT_MAC, 0).length).toBe(1);
    e.setVrrpMaster(0, true);
    e.setVrrpMaster(1, true);
    expect(expectFrame(arpFor(VIP, CLIENT, CLIENT_MAC, 0)[0]).arp).toMatchObject({ op: 2, spa: VIP, sha: OUT_MAC });
    expect(expectFrame(arpFor(GW_VIP, RS[0], "02:aa:00:00:00:11", 1)[0]).arp).toMatchObject({ op: 2, spa: GW_VIP, sha: IN_MAC });
    const fwd = syn().map((f) => expectFrame(f));
    expect(fwd.map((d) => d.ip!.dst)).toEqual([RS[0]]);
    e.setVrrpMaster(0, false);
    expect(syn()).toEqual([]);
    expect(e.counters().drop_not_master).toBe(2n);
    balanced(e);
  });

  it("use_vmac: ARP answered, addresses announced and adverts sent from 00:00:5e:00:01:VRID; frames to it taken while master, left to the master while backup", async () => {
    const VMAC = "00:00:5e:00:01:33"; // VRID 51
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    e.addRealServer(s, { address: RS[0], port: 80, method: "nat", weight: 1 });
    e.setVrrpInstances([{ ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP], vmac: true }]);
    const arpFor = () => feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", VIP)), 0).map((f) => expectFrame(f));
    const syn = (port: number) => feed(e, eth(VMAC, GATEWAY_MAC, 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport: port, dport: 80, flags: SYN }) }))).map((f) => expectFrame(f));
    // Backup: the virtual MAC's frames are the master's.
    expect(syn(40000)).toEqual([]);
    expect(e.counters().drop_other_host).toBe(1n);
    e.setVrrpMaster(0, true);
    const reply = arpFor();
    expect(reply.map((d) => [d.srcMac, d.arp?.op, d.arp?.sha, d.arp?.spa])).toEqual([[VMAC, 2, VMAC, VIP]]);
    // The director's own address keeps the interface's MAC.
    expect(expectFrame(feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", "10.0.0.1")), 0)[0]).arp!.sha).toBe(OUT_MAC);
    const garp = e.txFrames(e.sendGratuitousArp(0, VIP, 1000)).map((f) => expectFrame(f.frame));
    expect(garp.map((d) => [d.dstMac, d.srcMac, d.arp?.sha, d.arp?.spa, d.arp?.tpa])).toEqual([["ff:ff:ff:ff:ff:ff", VMAC, VMAC, VIP, VIP]]);
    const adv = expectFrame(e.txFrames(e.sendVrrpAdvert(0, 150, 1000))[0].frame);
    expect(adv.srcMac).toBe(VMAC);
    expect(syn(40001).map((d) => d.ip!.dst)).toEqual([RS[0]]);
    // vmac_xmit_base: adverts from the interface's MAC, the rest as before.
    e.setVrrpInstances([{ ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP], vmac: true, vmacXmitBase: true }]);
    e.setVrrpMaster(0, true);
    expect(expectFrame(e.txFrames(e.sendVrrpAdvert(0, 150, 1000))[0].frame).srcMac).toBe(OUT_MAC);
    expect(arpFor()[0].arp!.sha).toBe(VMAC);
    balanced(e);
  });

  it("virtual_ipaddress_excluded: answered while master like the others, never in the adverts", async () => {
    const e = await director();
    e.setVrrpInstances([{ ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP], excluded: ["10.0.0.77"] }]);
    e.setVrrpMaster(0, true);
    const adv = expectFrame(e.txFrames(e.sendVrrpAdvert(0, 150, 1000))[0].frame);
    expect(adv.ip!.vrrp).toMatchObject({ count: 1, addresses: [VIP] });
    const reply = feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", "10.0.0.77")), 0).map((f) => expectFrame(f));
    expect(reply.map((d) => [d.arp?.op, d.arp?.spa, d.arp?.sha])).toEqual([[2, "10.0.0.77", OUT_MAC]]);
    e.setVrrpMaster(0, false);
    expect(feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", "10.0.0.77")), 0)).toEqual([]);
  });

  it("static_ipaddress: held always — ARP and ping answered whatever VRRP says, never advertised", async () => {
    const e = await director();
    e.setVrrpInstances([{ ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP] }, { ifindex: 0, vrid: 0, version: 3, intervalCs: 0, addresses: ["10.0.0.88"], static: true }]);
    const reply = feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", "10.0.0.88")), 0).map((f) => expectFrame(f));
    expect(reply.map((d) => [d.arp?.op, d.arp?.spa, d.arp?.sha])).toEqual([[2, "10.0.0.88", OUT_MAC]]);
    const pong = feed(e, eth(OUT_MAC, CLIENT_MAC, 0x0800, ipv4({ src: CLIENT, dst: "10.0.0.88", proto: 1, payload: new Uint8Array(icmp(8, 0, [0, 1, 0, 1], [9, 9])) })), 0).map((f) => expectFrame(f));
    expect(pong.map((d) => [d.ip?.src, d.ip?.dst, d.ip?.icmp?.type])).toEqual([["10.0.0.88", CLIENT, 0]]);
    // The VRRP instance beside it is a backup: its address is not answered.
    expect(feed(e, eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", VIP)), 0)).toEqual([]);
    expect(() => e.setVrrpMaster(1, false)).toThrow();
    expect(e.txFrames(e.sendVrrpAdvert(1, 100, 1000))).toEqual([]);
  });
});
