// VRRP's state machine on a fake clock, against keepalived's behaviour (HA-FACTS.md):
// takeover times by version, interval and priority, preemption, resignation, ties broken
// by address, a master answering a lower priority at once, adverts keepalived would drop.

import { describe, it, expect } from "vitest";
import { FakeClock } from "../host/io/clock.js";
import { Advert, VrrpInstance, VrrpState } from "../host/vrrp/state.js";
import type { VrrpInstanceConfig } from "../host/config/vrrp.js";

const cfg = (o: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig => ({
  name: "VI_1", ifindex: 0, interfaceName: "outside", vrid: 51, priority: 100, initialMaster: false, version: 3, advertIntMs: 100, preempt: true,
  preemptDelayMs: 0, addresses: ["10.0.0.100"], garpMasterDelayMs: 5000, garpMasterRepeat: 5, downTimerAdverts: 3, line: 1,
  trackScripts: [], trackInterfaces: [], trackFiles: [], ...o,
});

function machine(c: VrrpInstanceConfig, own = "10.0.0.1") {
  const clock = new FakeClock();
  const log: string[] = [];
  const states: [number, VrrpState, string][] = [];
  let master = false;
  const vi = new VrrpInstance(c, clock, {
    sendAdvert: (p) => log.push(`advert ${p} @${clock.now()}`),
    setMaster: (m) => { master = m; },
    announce: () => log.push(`garp @${clock.now()}`),
    changed: (s, why) => states.push([clock.now(), s, why]),
  }, own);
  const adv = (o: Partial<Advert> = {}): Advert => ({ src: "10.0.0.9", version: c.version, vrid: c.vrid, priority: 150, intervalCs: c.version === 2 ? 100 : c.advertIntMs / 10,
    authType: c.authPass ? 1 : 0, auth: (() => { const a = new Uint8Array(8); if (c.authPass) a.set(Buffer.from(c.authPass)); return a; })(), addresses: c.addresses, ...o });
  return { clock, log, states, vi, adv, isMaster: () => master };
}

describe("VRRP takeover times (keepalived's, HA-FACTS: v3 0.1 s 0.361 s, v2 1 s 3.609 s for priority 100)", () => {
  for (const [version, interval, expected] of [[3, 100, 361], [2, 1000, 3610]] as const) {
    it(`v${version} at ${interval} ms: a backup whose master went silent is master after ${expected} ms`, () => {
      const m = machine(cfg({ version, advertIntMs: interval }));
      m.vi.start();
      m.clock.advance(50);
      m.vi.onAdvert(m.adv());
      expect(m.vi.state).toBe("BACKUP");
      // The master dies right after that advert.
      m.clock.advance(expected - 1);
      expect(m.vi.state).toBe("BACKUP");
      m.clock.advance(1);
      expect(m.vi.state).toBe("MASTER");
      expect(m.isMaster()).toBe(true);
      // It advertises at once and then every interval; five gratuitous ARPs now, five after 5 s.
      expect(m.log.filter((l) => l.startsWith("advert 100")).length).toBe(1);
      expect(m.log.filter((l) => l.startsWith("garp")).length).toBe(5);
      m.clock.advance(5000);
      expect(m.log.filter((l) => l.startsWith("garp")).length).toBe(10);
      expect(m.log.filter((l) => l.startsWith("advert 100")).length).toBe(1 + Math.floor(5000 / interval));
    });
  }
});

describe("VRRP decisions", () => {
  it("priority 255 is master at once; state MASTER after one interval; a resigning master (priority 0) is replaced after the skew", () => {
    const owner = machine(cfg({ priority: 255 }));
    owner.vi.start();
    owner.clock.advance(0);
    expect(owner.vi.state).toBe("MASTER");
    const want = machine(cfg({ initialMaster: true }));
    want.vi.start();
    want.clock.advance(100 + 60);
    expect(want.vi.state).toBe("BACKUP");
    want.clock.advance(1);
    expect(want.vi.state).toBe("MASTER");
    const b = machine(cfg());
    b.vi.start();
    b.vi.onAdvert(b.adv());
    b.vi.onAdvert(b.adv({ priority: 0 }));
    b.clock.advance(61);
    expect(b.vi.state).toBe("MASTER");
  });

  it("preempt: a backup of higher priority takes over from a lower master; nopreempt: it does not", () => {
    for (const preempt of [true, false]) {
      const m = machine(cfg({ priority: 200, preempt }));
      m.vi.start();
      for (let t = 0; t < 20; t++) {
        m.vi.onAdvert(m.adv({ priority: 100 }));
        m.clock.advance(100);
      }
      expect(m.vi.state).toBe(preempt ? "MASTER" : "BACKUP");
    }
  });

  it("a master yields to a higher priority, and to an equal one from a higher address; a lower one gets an advert at once", () => {
    const m = machine(cfg({ priority: 100 }), "10.0.0.5");
    m.vi.start();
    m.clock.advance(400);
    expect(m.vi.state).toBe("MASTER");
    const sent = m.log.length;
    m.vi.onAdvert(m.adv({ priority: 50 }));
    // An advert at once, and the addresses announced again (a split brain may have moved the caches).
    expect(m.log.slice(sent).map((l) => l.split(" @")[0])).toEqual(["advert 100", "garp"]);
    expect(m.vi.state).toBe("MASTER");
    m.vi.onAdvert(m.adv({ priority: 100, src: "10.0.0.3" }));
    expect(m.vi.state).toBe("MASTER");
    m.vi.onAdvert(m.adv({ priority: 100, src: "10.0.0.9" }));
    expect(m.vi.state).toBe("BACKUP");
    expect(m.isMaster()).toBe(false);
  });

  it("stop: a master resigns with priority 0 and gives the addresses up", () => {
    const m = machine(cfg());
    m.vi.start();
    m.clock.advance(400);
    m.vi.stop();
    expect(m.log[m.log.length - 1]).toMatch(/^advert 0 /);
    expect(m.isMaster()).toBe(false);
    expect(m.vi.state).toBe("STOP");
  });

  it("adverts keepalived drops are counted and change nothing: wrong password, v2 interval, address list", () => {
    const m = machine(cfg({ version: 2, advertIntMs: 1000, authPass: "secret" }));
    m.vi.start();
    m.clock.advance(3000);
    m.vi.onAdvert(m.adv({ auth: new Uint8Array(8) }));
    m.vi.onAdvert(m.adv({ intervalCs: 200 }));
    m.vi.onAdvert(m.adv({ addresses: ["10.0.0.101"] }));
    m.clock.advance(700);
    expect(m.vi.state).toBe("MASTER");
    expect(m.vi.counts).toMatchObject({ authMismatch: 1, intervalMismatch: 1, addressMismatch: 1 });
  });

  it("unicast_peer: an advert from an address that is not a peer is dropped and counted (a forged master cannot take over)", () => {
    const m = machine(cfg({ unicastPeers: ["10.0.0.9"] }));
    m.vi.start();
    m.clock.advance(50);
    m.vi.onAdvert(m.adv({ src: "10.0.0.66", priority: 254 }));
    expect(m.vi.counts).toMatchObject({ unknownPeer: 1, received: 0 });
    m.vi.onAdvert(m.adv()); // the peer, 150: this backup stays backup
    m.clock.advance(300);
    expect(m.vi.state).toBe("BACKUP");
    expect(m.vi.counts).toMatchObject({ unknownPeer: 1, received: 1 });
  });

  it("garp_master_refresh: gratuitous ARPs again every refresh while master (refresh_repeat at a time), none once backup", () => {
    const m = machine(cfg({ garpMasterDelayMs: 0, garpMasterRefreshMs: 2000, garpMasterRefreshRepeat: 2 }));
    m.vi.start();
    m.clock.advance(400);
    expect(m.vi.state).toBe("MASTER");
    const garps = () => m.log.filter((l) => l.startsWith("garp")).length;
    expect(garps()).toBe(5);
    m.clock.advance(4000);
    expect(garps()).toBe(5 + 2 * 2);
    // A higher priority takes over; its adverts keep coming: no more refreshes here.
    for (let t = 0; t < 40; t++) {
      m.vi.onAdvert(m.adv({ priority: 150 }));
      m.clock.advance(100);
    }
    expect(m.vi.state).toBe("BACKUP");
    expect(garps()).toBe(9);
  });

  it("v3 learns the master's interval in backup", () => {
    const m = machine(cfg({ advertIntMs: 100 }));
    m.vi.start();
    m.vi.onAdvert(m.adv({ intervalCs: 50 }));
    expect(m.vi.masterAdverIntMs).toBe(500);
    expect(Math.round(m.vi.masterDownMs())).toBe(1500 + 305);
  });
});



describe("vrrp_sync_group", () => {
  it("a member follows the group into MASTER and back to BACKUP", () => {
    const m = machine(cfg({ priority: 100 }));
    m.vi.start();
    m.vi.onAdvert(m.adv({ priority: 150 }));
    m.vi.follow("MASTER", "sync group G: VI_2 is MASTER");
    expect(m.vi.state).toBe("MASTER");
    expect(m.isMaster()).toBe(true);
    m.vi.follow("BACKUP", "sync group G: VI_2 is BACKUP");
    expect(m.vi.state).toBe("BACKUP");
    expect(m.isMaster()).toBe(false);
    expect(m.states.map(([, s, why]) => `${s}: ${why}`).slice(-2)).toEqual(["MASTER: sync group G: VI_2 is MASTER", "BACKUP: sync group G: VI_2 is BACKUP"]);
  });
});

describe("an advert storm", () => {
  it("a master answers a flood of lower-priority (or resigning) adverts at most every 100 ms, not once each", () => {
    const m = machine(cfg({ priority: 200, advertIntMs: 1000 }));
    m.vi.start();
    m.clock.advance(4000);
    expect(m.vi.state).toBe("MASTER");
    const before = m.log.length;
    for (let k = 0; k < 1000; k++) {
      m.vi.onAdvert(m.adv({ priority: k % 2 ? 50 : 0 }));
      m.clock.advance(1);
    }
    const adverts = m.log.slice(before).filter((l) => l.startsWith("advert")).length;
    const garps = m.log.slice(before).filter((l) => l.startsWith("garp")).length;
    expect(adverts).toBeLessThanOrEqual(10 + 1 + 1); // answers + the scheduled one(s)
    expect(garps).toBeLessThanOrEqual(10);
    expect(m.vi.state).toBe("MASTER");
  });
});

describe("advert lateness (issue 16: measured against the schedule, on the clock the timers run on)", () => {
  it("each scheduled advert's lateness is recorded; answers and the first advert as master are not", () => {
    const m = machine(cfg({ advertIntMs: 100, priority: 255 }));
    m.vi.start();
    m.clock.advance(0);
    expect(m.vi.state).toBe("MASTER"); // the address owner: master at 0, adverts due at 100, 200, ...
    expect(m.vi.view().advertLateness).toMatchObject({ count: 0 }); // the first advert as master is not scheduled
    m.clock.advance(1000);
    expect(m.vi.view().advertLateness).toMatchObject({ count: 10, maxMs: 0, p99Ms: 0 });
    // The thread the timers run on stalls for 250 ms: the advert due in its middle leaves 150 ms late.
    m.clock.advance(50);
    m.clock.stall(250);
    expect(m.vi.view().advertLateness).toMatchObject({ count: 11, lastMs: 200, maxMs: 200 });
    // An answer to a lower priority is not scheduled: not counted, and the schedule restarts from it.
    m.vi.onAdvert(m.adv({ priority: 50 }));
    m.clock.advance(100);
    expect(m.vi.view().advertLateness).toMatchObject({ count: 12, lastMs: 0 });
    expect(m.vi.view().advertLateness.buckets).toEqual([11, 11, 11, 11, 11, 11, 11, 12, 12, 12]);
  });
});

describe("PolledClock (the data-path thread's VRRP clock)", () => {
  it("runs due timers earliest first when polled, says when the next is due, and fires a periodic timer once after a stall", async () => {
    const { PolledClock } = await import("../host/io/clock.js");
    let t = 0;
    const ran: string[] = [];
    const errors: unknown[] = [];
    const c = new PolledClock(() => t, (e) => errors.push(e));
    c.after(30, () => ran.push(`b@${t}`));
    c.after(10, () => { ran.push(`a@${t}`); c.after(0, () => ran.push(`a2@${t}`)); });
    const p = c.every(25, () => ran.push(`p@${t}`));
    c.after(40, () => { throw new Error("boom"); });
    expect(c.next()).toBe(10);
    t = 9;
    c.run();
    expect(ran).toEqual([]);
    t = 31; // late: everything due runs, in order of due time
    c.run();
    expect(ran).toEqual(["a@31", "p@31", "b@31", "a2@31"]); // a2 was set at 31: due last
    expect(c.next()).toBe(40);
    t = 200; // a stall: the periodic timer once, then a period after now
    c.run();
    expect(ran.filter((r) => r.startsWith("p"))).toEqual(["p@31", "p@200"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["boom"]);
    expect(c.next()).toBe(225);
    p.cancel();
    expect(c.next()).toBe(Infinity);
  });
});

describe("VRRP in the metrics", () => {
  it("each instance's state, became-master count and advert lateness histogram, as the data-path thread's views give them", async () => {
    const { metricsRegistry } = await import("../host/metrics/metrics.js");
    const m = machine(cfg({ priority: 255 }));
    m.vi.start();
    m.clock.advance(1000);
    m.clock.stall(230); // the advert due at 1100 leaves at 1230: 130 ms late
    const counters = new Proxy({}, { get: () => 0n }) as Record<string, bigint>;
    const snap = { services: [], counters, connectionCount: 0, connCapacity: 16, timeouts: { tcp: 0, tcpFin: 0, udp: 0 }, neighbours: {},
      loop: { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 }, vrrp: [m.vi.view()] };
    const text = await metricsRegistry(() => snap as never).metrics();
    expect(text).toContain('wasmvs_vrrp_state{vrrp_instance="VI_1",vrid="51",interface="outside",state="MASTER"} 1\n');
    expect(text).toContain('wasmvs_vrrp_state{vrrp_instance="VI_1",vrid="51",interface="outside",state="BACKUP"} 0\n');
    expect(text).toContain('wasmvs_vrrp_became_master_total{vrrp_instance="VI_1",vrid="51",interface="outside"} 1\n');
    expect(text).toContain("# TYPE wasmvs_vrrp_advert_lateness_seconds histogram\n");
    expect(text).toContain('wasmvs_vrrp_advert_lateness_seconds_bucket{vrrp_instance="VI_1",vrid="51",interface="outside",le="0.1"} 10\n');
    expect(text).toContain('wasmvs_vrrp_advert_lateness_seconds_bucket{vrrp_instance="VI_1",vrid="51",interface="outside",le="0.2"} 11\n');
    expect(text).toContain('wasmvs_vrrp_advert_lateness_seconds_bucket{vrrp_instance="VI_1",vrid="51",interface="outside",le="+Inf"} 11\n');
    expect(text).toContain('wasmvs_vrrp_advert_lateness_seconds_count{vrrp_instance="VI_1",vrid="51",interface="outside"} 11\n');
    expect(text).toMatch(/wasmvs_vrrp_advert_lateness_seconds_sum\{vrrp_instance="VI_1",vrid="51",interface="outside"\} 0\.1[23]/);
  });
});
