// VRRP over IPv6 (issue 20; RFC 5798 with keepalived's choices): the adverts the engine
// builds and the unsolicited Neighbour Advertisements it sends, compared byte for byte with
// frames built here independently (checksums over the IPv6 pseudo-header by their own sum);
// the adverts it takes and queues for the host with their 16-byte source, and the ones
// keepalived would drop too, each in the IPv4 path's counter; an IPv6 instance's addresses
// answered (NS, echo) only while the host says it is master; the configuration keepalived
// takes for an IPv6 instance; the state machine with IPv6 adverts on the fake clock.

import { describe, it, expect } from "vitest";
import { director, CLIENT_MAC, OUT_MAC } from "./helpers/director.js";
import { eth, inetChecksum } from "./helpers/packet.js";
import { ALL_NODES, ALL_NODES_MAC, echoBody, icmpv6, ip6, ipv6, linkLocalOf, naBody, NA_O, NA_R, NA_S, NH, nsBody, pseudoSum6, solicitedNode, multicastMac } from "./helpers/packet6.js";
import { Counter } from "../host/engine/abi.js";
import type { Engine } from "../host/engine/index.js";
import { parseAdvert, VrrpInstance, type VrrpState } from "../host/vrrp/state.js";
import { FakeClock } from "../host/io/clock.js";
import type { VrrpInstanceConfig } from "../host/config/vrrp.js";

const ME_LL = linkLocalOf(OUT_MAC);
const PEER_LL = "fe80::9";
const PEER_MAC = "02:00:00:00:00:09";
const VIP_LL = "fe80::100";
const VIP = "2001:db8::100";
const GROUP = "ff02::12";
const GROUP_MAC = "33:33:00:00:00:12";
const CLIENT6 = "2001:db8::c";

async function withVrrp6(): Promise<Engine> {
  const e = await director();
  e.setVrrpInstances([
    { ifindex: 0, vrid: 51, version: 2, intervalCs: 100, addresses: ["10.0.0.100"] },
    { ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP_LL, VIP], excluded: ["2001:db8::200"], ipv6: true },
  ]);
  return e;
}

/** A VRRP v3 message (RFC 5798 5.1) with its checksum over the IPv6 pseudo-header of src -> dst. */
function vrrp3(src: string, dst: string, o: { vrid?: number; priority?: number; intervalCs?: number; addresses?: string[]; version?: number; type?: number; checksum?: number; count?: number } = {}): number[] {
  const addrs = o.addresses ?? [VIP_LL, VIP];
  const iv = o.intervalCs ?? 10;
  const m = [((o.version ?? 3) << 4) | (o.type ?? 1), o.vrid ?? 51, o.priority ?? 100, o.count ?? addrs.length, (iv >> 8) & 0x0f, iv & 0xff, 0, 0, ...addrs.flatMap(ip6)];
  const c = o.checksum ?? inetChecksum(m, pseudoSum6(ip6(src), ip6(dst), 112, m.length));
  m[6] = c >> 8;
  m[7] = c & 0xff;
  return m;
}

/** An advert from the peer (link-local, as RFC 5798 5.1.2.1 has it) to the group. */
const advert = (o: Parameters<typeof vrrp3>[2] & { hop?: number; dst?: string } = {}) => {
  const dst = o.dst ?? GROUP;
  return eth(dst === GROUP ? GROUP_MAC : OUT_MAC, PEER_MAC, 0x86dd, ipv6({ src: PEER_LL, dst, nextHeader: 112, hopLimit: o.hop ?? 255, trafficClass: 0xc0 }, vrrp3(PEER_LL, dst, o)));
};

/** One frame in: the frames out and the one counter it ended in (RX = sum of the ends). */
function send(e: Engine, frame: Uint8Array, ifindex = 0): { out: Uint8Array[]; counter: string } {
  const before = e.counters();
  e.loadFrame(0, frame, ifindex);
  const out = e.txFrames(e.process(1, 1000)).map((t) => t.frame);
  const after = e.counters();
  const changed = Object.keys(after).filter((k) => (k.startsWith("drop_") || ["forwarded", "consumed", "queued"].includes(k)) && after[k] !== before[k]);
  expect(changed, "exactly one counter").toHaveLength(1);
  let ends = after.forwarded + after.consumed + after.queued;
  for (let i = Counter.FIRST_DROP; i <= Counter.LAST_DROP; i++) ends += e.counter(i);
  expect(ends).toBe(after.rx_frames);
  return { out, counter: changed[0] };
}
const hex = (b: ArrayLike<number>) => Buffer.from(b as Uint8Array).toString("hex");

describe("VRRP v3 adverts over IPv6 the engine builds", () => {
  it("to ff02::12 (33:33:00:00:00:12) from the interface's EUI-64 link-local, hop limit 255, traffic class 0xC0, 16-byte addresses, the pseudo-header checksum; excluded addresses not advertised", async () => {
    const e = await withVrrp6();
    const out = e.txFrames(e.sendVrrpAdvert(1, 150, 1000));
    expect(out.map((f) => f.ifindex)).toEqual([0]);
    const want = eth(GROUP_MAC, OUT_MAC, 0x86dd, ipv6({ src: ME_LL, dst: GROUP, nextHeader: 112, hopLimit: 255, trafficClass: 0xc0 }, vrrp3(ME_LL, GROUP, { priority: 150 })));
    expect(hex(out[0].frame)).toBe(hex(want));
    // The checksum adds up by its own sum, too.
    const msg = [...out[0].frame.subarray(54)];
    expect(inetChecksum(msg, pseudoSum6(ip6(ME_LL), ip6(GROUP), 112, msg.length))).toBe(0);
    expect(e.counters().vrrp_adverts_sent).toBe(1n);
    // The IPv4 instance with the same VRID on the same interface still speaks IPv4 (keepalived keeps the families apart).
    const v4 = e.txFrames(e.sendVrrpAdvert(0, 100, 1000))[0].frame;
    expect((v4[12] << 8) | v4[13]).toBe(0x0800);
  });

  it("vrrp_mcast_group6: to the configured group and its MAC", async () => {
    const e = await director();
    e.setVrrpInstances([{ ifindex: 0, vrid: 7, version: 3, intervalCs: 100, addresses: [VIP_LL], ipv6: true, mcastGroup6: "ff02::1:12" }]);
    const f = e.txFrames(e.sendVrrpAdvert(0, 100, 1000))[0].frame;
    const want = eth("33:33:00:01:00:12", OUT_MAC, 0x86dd, ipv6({ src: ME_LL, dst: "ff02::1:12", nextHeader: 112, hopLimit: 255, trafficClass: 0xc0 },
      vrrp3(ME_LL, "ff02::1:12", { vrid: 7, intervalCs: 100, addresses: [VIP_LL] })));
    expect(hex(f)).toBe(hex(want));
  });

  it("unicast_peer over IPv6: to the peer's MAC once the neighbour table knows it, none before (GENERATED_LOST)", async () => {
    const e = await withVrrp6();
    expect(e.txFrames(e.sendVrrpAdvert(1, 150, 1000, PEER_LL))).toEqual([]);
    // The peer solicits us (its link-layer address enters the table, RFC 4861 7.2.3).
    send(e, eth(OUT_MAC, PEER_MAC, 0x86dd, ipv6({ src: PEER_LL, dst: ME_LL, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(PEER_LL, ME_LL, 135, 0, nsBody(ME_LL, PEER_MAC)))));
    const f = e.txFrames(e.sendVrrpAdvert(1, 150, 1000, PEER_LL))[0].frame;
    const want = eth(PEER_MAC, OUT_MAC, 0x86dd, ipv6({ src: ME_LL, dst: PEER_LL, nextHeader: 112, hopLimit: 255, trafficClass: 0xc0 }, vrrp3(ME_LL, PEER_LL, { priority: 150 })));
    expect(hex(f)).toBe(hex(want));
  });
});

describe("VRRP v3 adverts over IPv6 the engine takes", () => {
  it("queued for the host with the 16-byte source; the host reads the addresses back", async () => {
    const e = await withVrrp6();
    expect(send(e, advert({ priority: 200 })).counter).toBe("consumed");
    const q = e.takeVrrpAdverts();
    expect(q.map((a) => [a.instance, a.src])).toEqual([[1, PEER_LL]]);
    expect(hex(q[0].message)).toBe(hex(vrrp3(PEER_LL, GROUP, { priority: 200 })));
    expect(parseAdvert(q[0].message, q[0].src)).toMatchObject({ version: 3, vrid: 51, priority: 200, intervalCs: 10, addresses: [VIP_LL, VIP] });
    // Unicast to our link-local address (unicast_peer on the other side).
    expect(send(e, advert({ dst: ME_LL })).counter).toBe("consumed");
    expect(e.takeVrrpAdverts().map((a) => a.src)).toEqual([PEER_LL]);
    expect(e.counters().vrrp_adverts_received).toBe(2n);
  });

  it("unicast_peer: the peer's adverts taken whatever their hop limit (keepalived sends IPv6 unicast with the kernel's 64 and checks 255 only for multicast)", async () => {
    const e = await director();
    e.setVrrpInstances([{ ifindex: 0, vrid: 51, version: 3, intervalCs: 10, addresses: [VIP_LL, VIP], ipv6: true, unicast: true }]);
    expect(send(e, advert({ dst: ME_LL, hop: 64 })).counter).toBe("consumed");
    expect(e.takeVrrpAdverts().map((a) => a.src)).toEqual([PEER_LL]);
    const m = await withVrrp6();
    expect(send(m, advert({ dst: ME_LL, hop: 64 })).counter).toBe("drop_vrrp_bad_ttl");
  });

  it("the drops keepalived makes too, in the IPv4 path's counters: hop limit, checksum, version 2, type, length, unknown VRID", async () => {
    const e = await withVrrp6();
    expect(send(e, advert({ hop: 254 })).counter).toBe("drop_vrrp_bad_ttl");
    expect(send(e, advert({ checksum: 0x1234 })).counter).toBe("drop_vrrp_bad_checksum");
    expect(send(e, advert({ version: 2 })).counter).toBe("drop_vrrp_bad_version");
    expect(send(e, advert({ type: 2 })).counter).toBe("drop_vrrp_bad_type");
    expect(send(e, advert({ count: 3 })).counter).toBe("drop_vrrp_bad_length");
    expect(send(e, advert({ vrid: 52 })).counter).toBe("drop_vrrp_no_instance");
    // An interface with no IPv6 instance has not joined the group.
    expect(send(e, advert(), 1).counter).toBe("drop_ipv6_multicast_not_for_us");
    expect(e.takeVrrpAdverts()).toEqual([]);
  });
});

describe("an IPv6 instance's addresses: the master's only", () => {
  const nsFor = (target: string) => eth(multicastMac(solicitedNode(target)), CLIENT_MAC, 0x86dd,
    ipv6({ src: CLIENT6, dst: solicitedNode(target), nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(CLIENT6, solicitedNode(target), 135, 0, nsBody(target, CLIENT_MAC))));
  const ping = (dst: string) => eth(OUT_MAC, CLIENT_MAC, 0x86dd, ipv6({ src: CLIENT6, dst, nextHeader: NH.ICMPV6, hopLimit: 64 }, icmpv6(CLIENT6, dst, 128, 0, echoBody(1, 1))));

  it("backup: NS for the VIP unanswered, echo dropped; master: NA with the interface's MAC (keepalived without use_vmac), echo answered; excluded addresses too; back to backup: gone", async () => {
    const e = await withVrrp6();
    expect(send(e, nsFor(VIP)).counter).toBe("drop_ipv6_multicast_not_for_us");
    expect(send(e, ping(VIP)).counter).toBe("drop_not_master");
    e.setVrrpMaster(1, true);
    for (const target of [VIP, "2001:db8::200"]) {
      const r = send(e, nsFor(target));
      expect(r.counter).toBe("consumed");
      const want = eth(CLIENT_MAC, OUT_MAC, 0x86dd, ipv6({ src: target, dst: CLIENT6, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(target, CLIENT6, 136, 0, naBody(NA_S | NA_O, target, OUT_MAC))));
      expect(hex(r.out[0])).toBe(hex(want));
    }
    const echo = send(e, ping(VIP));
    expect(echo.counter).toBe("consumed");
    expect(hex(echo.out[0])).toBe(hex(eth(CLIENT_MAC, OUT_MAC, 0x86dd, ipv6({ src: VIP, dst: CLIENT6, nextHeader: NH.ICMPV6, hopLimit: 64 }, icmpv6(VIP, CLIENT6, 129, 0, echoBody(1, 1))))));
    // A forged NA claiming the master's VIP is not taken (RFC 4861 7.2.5 would; a node never learns its own address).
    const forged = eth(ALL_NODES_MAC, PEER_MAC, 0x86dd, ipv6({ src: PEER_LL, dst: ALL_NODES, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(PEER_LL, ALL_NODES, 136, 0, naBody(NA_O, VIP, PEER_MAC))));
    expect(send(e, forged).counter).toBe("drop_ndp_na_for_our_address");
    e.setVrrpMaster(1, false);
    expect(send(e, nsFor(VIP)).counter).toBe("drop_ipv6_multicast_not_for_us");
    expect(send(e, ping(VIP)).counter).toBe("drop_not_master");
  });

  it("unsolicited NA on becoming master (keepalived's ndisc_send_unsolicited_na): from the VIP to ff02::1, hop limit 255, Override, Router when forwarding, target link-layer option", async () => {
    const e = await withVrrp6();
    for (const router of [false, true]) {
      const out = e.txFrames(e.sendUnsolicitedNa(0, VIP, router, 1000));
      const want = eth(ALL_NODES_MAC, OUT_MAC, 0x86dd, ipv6({ src: VIP, dst: ALL_NODES, nextHeader: NH.ICMPV6, hopLimit: 255 }, icmpv6(VIP, ALL_NODES, 136, 0, naBody(NA_O | (router ? NA_R : 0), VIP, OUT_MAC))));
      expect(out.map((f) => [f.ifindex, hex(f.frame)])).toEqual([[0, hex(want)]]);
    }
  });
});

const cfg6 = (o: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig => ({
  name: "V6", ifindex: 0, interfaceName: "outside", vrid: 51, priority: 100, initialMaster: false, version: 3, advertIntMs: 100, preempt: true,
  preemptDelayMs: 0, addresses: [VIP_LL, VIP], addrs: [], addressIfindex: [0, 0], garpMasterDelayMs: 5000, garpMasterRepeat: 5, downTimerAdverts: 3, line: 1,
  trackScripts: [], trackInterfaces: [], trackFiles: [], smtpAlert: false, ipv6: true, ...o,
});

function machine6(c: VrrpInstanceConfig, own = ME_LL) {
  const clock = new FakeClock();
  const log: string[] = [];
  const states: [number, VrrpState][] = [];
  const vi = new VrrpInstance(c, clock, {
    sendAdvert: (p) => log.push(`advert ${p} @${clock.now()}`),
    setMaster: () => {},
    announce: () => log.push(`na @${clock.now()}`),
    changed: (s) => states.push([clock.now(), s]),
  }, own);
  const adv = (src: string, priority: number) => parseAdvert(new Uint8Array(vrrp3(src, GROUP, { priority, addresses: c.addresses })), src);
  return { clock, log, states, vi, adv };
}

describe("the state machine with IPv6 adverts (fake clock)", () => {
  it("a backup hearing a v6 master takes over 3 x 100 ms + skew after it falls silent; unsolicited NAs vrrp_gna_interval apart", () => {
    const m = machine6(cfg6({ gnaIntervalMs: 20 }));
    m.vi.start();
    m.clock.advance(50);
    m.vi.onAdvert(m.adv(PEER_LL, 150));
    expect(m.vi.state).toBe("BACKUP");
    expect(m.vi.lastMaster?.src).toBe(PEER_LL);
    m.clock.advance(360);
    expect(m.vi.state).toBe("BACKUP");
    m.clock.advance(1);
    expect(m.vi.state).toBe("MASTER");
    m.clock.advance(100);
    // Five NAs (garp_master_repeat), 20 ms apart, from the takeover at 50 + 300 + (256 - 100) x 100 / 256 ms.
    expect(m.log.filter((l) => l.startsWith("na")).slice(0, 5)).toEqual([410.9375, 430.9375, 450.9375, 470.9375, 490.9375].map((t) => `na @${t}`));
  });

  it("equal priorities: the higher link-local address wins (RFC 5798 6.4.3), compared as 128-bit numbers", () => {
    const low = machine6(cfg6({ initialMaster: true }), "fe80::1");
    low.vi.start();
    low.clock.advance(200);
    expect(low.vi.state).toBe("MASTER");
    low.vi.onAdvert(low.adv("fe80::1:0", 100));
    expect(low.vi.state).toBe("BACKUP");
    const high = machine6(cfg6({ initialMaster: true }), "fe80::2:0");
    high.vi.start();
    high.clock.advance(200);
    high.vi.onAdvert(high.adv("fe80::1:0", 100));
    expect(high.vi.state).toBe("MASTER");
  });
});
