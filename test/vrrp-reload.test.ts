// VRRP reloaded in place (issue 17), on a fake clock: two directors, each a real engine with
// its VRRP state machines, VrrpService and ControlState (the daemon's reload path: the file
// re-read, validated on a scratch engine, applied between two "batches"), joined by a wire
// that carries every frame one engine sends to the other. What the tests look at is what
// the other side sees: adverts (their priority, interval, addresses, and the time between
// them), gratuitous ARPs, ARP answers for the VIPs, and every state change either logs.
// keepalived's rules (vrrp.c clear_diff_vrrp, restore_vrrp_state; vrrp_scheduler.c
// vrrp_init_instance_sands; HA-FACTS.md): a kept instance keeps its state; a master
// advertises at once with its new settings; a lower priority lets a preempting peer take
// over by the RFC's rules; a removed master resigns with priority 0.

import { describe, it, expect, afterAll } from "vitest";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock } from "../host/io/clock.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { applyConfig } from "../host/config/rules.js";
import { loadEngine } from "../host/engine/node.js";
import type { ScriptRunner } from "../host/health/scripts.js";
import type { Script } from "../host/config/health.js";
import { VrrpService } from "../host/vrrp/service.js";
import { SyncDaemons } from "../host/control/syncd.js";
import { arp, expectFrame, eth, icmp, ipv4 } from "./helpers/packet.js";
import { Advert, VrrpInstance } from "../host/vrrp/state.js";
import type { VrrpInstanceConfig } from "../host/config/vrrp.js";

const dir = mkdtempSync(join(tmpdir(), "wasmvs-vrrp-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const director = (addr: string, mac: string) => `director {
  interface eth0 { mac ${mac}
    address ${addr}/24 }
  interface eth1 { mac ${mac.replace(/..$/, "f1")}
    address ${addr.replace("10.0.0.", "10.0.1.")}/24 }
}
`;

/** A vrrp_instance block. */
function instance(o: { name?: string; vrid?: number; priority: number; interval?: string; vips?: string[]; extra?: string; iface?: string }): string {
  return `vrrp_instance ${o.name ?? "VI_1"} {
  interface ${o.iface ?? "eth0"}
  virtual_router_id ${o.vrid ?? 51}
  priority ${o.priority}
  version 3
  advert_int ${o.interval ?? "1"}
  virtual_ipaddress {
${(o.vips ?? ["10.0.0.100"]).map((v) => `    ${v}`).join("\n")}
  }
${o.extra ?? ""}}
`;
}

interface Seen { t: number; vrid: number; priority: number; intervalCs: number; addresses: string[] }

/** Two directors on one wire (eth0 and eth1 each), one fake clock. */
async function pair(textA: string, textB: string) {
  const clock = new FakeClock();
  const exits = new Map<string, number>();
  const scripts = {
    run: async (s: Script) => ({ code: exits.get(s.argv[1] ?? "") ?? 0, timedOut: false, output: "" }),
  } as unknown as ScriptRunner;
  const wire: { from: Node; frame: Uint8Array; ifindex: number }[] = [];
  type Node = Awaited<ReturnType<typeof node>>;
  const nodes: Node[] = [];
  async function node(name: string, addr: string, mac: string, text: string) {
    const path = join(dir, `${name}-${Math.random().toString(36).slice(2)}.conf`);
    const write = (t: string) => writeFileSync(path, director(addr, mac) + t);
    write(text);
    const cfg = parseKeepalived(path);
    const engine = await loadEngine({ batch: 16, connCapacity: 64 });
    applyConfig(engine, cfg);
    const n = {
      name, addr, engine, write, log: [] as string[], states: [] as { t: number; name: string; state: string; why: string }[],
      sent: [] as Seen[], garps: [] as { t: number; address: string }[],
      local: undefined as unknown as LocalEngine, control: undefined as unknown as ControlState, service: undefined as unknown as VrrpService,
    };
    const out = (tx: number) => {
      for (const f of engine.txFrames(tx)) {
        const fr = f.frame.slice();
        if (fr[12] === 0x08 && fr[13] === 0x00 && fr[23] === 112) {
          const v = fr.subarray(34);
          n.sent.push({ t: clock.now(), vrid: v[1], priority: v[2], intervalCs: ((v[4] & 0x0f) << 8) | v[5],
            addresses: Array.from({ length: v[3] }, (_, k) => Array.from(v.subarray(8 + 4 * k, 12 + 4 * k)).join(".")) });
        }
        if (fr[12] === 0x08 && fr[13] === 0x06 && fr.subarray(28, 32).join(".") === fr.subarray(38, 42).join(".")) {
          n.garps.push({ t: clock.now(), address: fr.subarray(28, 32).join(".") });
        }
        wire.push({ from: n as Node, frame: fr, ifindex: f.ifindex });
      }
    };
    n.local = new LocalEngine(engine, () => clock.now(), out, { config: cfg, clock });
    n.local.onVrrpEvents((evs) => { for (const e of evs) if ("name" in e) n.states.push({ t: clock.now(), name: e.name, state: e.state, why: e.why }); });
    n.control = new ControlState(n.local, cfg, () => parseKeepalived(path), (l) => n.log.push(l));
    const syncd = new SyncDaemons(n.local, cfg);
    n.control.watch((c) => syncd.configure(c));
    n.service = new VrrpService(cfg, { clock, engine: n.local, log: (l) => n.log.push(l), scripts, linkUp: () => true, sync: (x) => syncd.follow(x) });
    n.control.watch((c) => n.service.reconfigure(c));
    /** Does this engine answer ARP for address (own it)? */
    const answersArp = (address: string) => {
      engine.loadFrame(0, eth("ff:ff:ff:ff:ff:ff", "02:00:00:00:09:09", 0x0806, arp(1, "02:00:00:00:09:09", "10.0.0.99", "00:00:00:00:00:00", address)), 0);
      return engine.txFrames(engine.process(1, clock.now())).some((f) => f.frame[12] === 0x08 && f.frame[13] === 0x06 && f.frame[21] === 2);
    };
    /** A ping to the director's own address from src: what the engine sends first (the reply,
     *  or the ARP for the gateway a route names; nothing without a route back). */
    const pingFrom = (src: string) => {
      engine.loadFrame(0, eth(mac, "02:00:00:00:09:fe", 0x0800, ipv4({ src, dst: addr, proto: 1, payload: icmp(8, 0, [0, 1, 0, 1], [1, 2, 3, 4]) })), 0);
      return engine.txFrames(engine.process(1, clock.now())).map((f) => expectFrame(f.frame)).map((d) => (d.arp ? `arp who-has ${d.arp.tpa}` : d.ip ? `ip ${d.ip.dst}` : "?"));
    };
    const vi = (nm = "VI_1") => n.local.vrrp!.machines.instances.find((x) => x.cfg.name === nm)!;
    const reload = async (t: string) => {
      write(t);
      const r = n.control.reloadFile();
      // The caller gets the refusal (it awaits r); while the wire settles it is handled, so a
      // reload refused before settle() ends is not an unhandled rejection.
      r.catch(() => {});
      await settle();
      return r;
    };
    return Object.assign(n, { answersArp, vi, reload, syncd, pingFrom });
  }
  // The wire: every millisecond, what each engine sent goes into the other's (same interface).
  clock.every(1, () => {
    const batch = wire.splice(0);
    for (const w of batch) {
      for (const o of nodes) {
        if (o === w.from) continue;
        o.engine.loadFrame(0, w.frame, w.ifindex);
        const tx = o.engine.process(1, clock.now());
        // Answers (an ARP reply) go back on the wire like anything else.
        for (const f of o.engine.txFrames(tx)) wire.push({ from: o, frame: f.frame.slice(), ifindex: f.ifindex });
        o.local.deliverAdverts();
      }
    }
  });
  const settle = async () => { for (let k = 0; k < 6; k++) await new Promise((r) => setImmediate(r)); };
  const run = async (ms: number) => { for (let t = 0; t < ms; t += 10) { clock.advance(10); await settle(); } };
  const a = await node("a", "10.0.0.2", "02:00:00:00:0a:01", textA);
  const b = await node("b", "10.0.0.3", "02:00:00:00:0b:01", textB);
  nodes.push(a, b);
  a.service.start();
  b.service.start();
  /** The longest time between two adverts of vrid that a sent after from. */
  const gap = (n: Node, vrid: number, from: number) => {
    const ts = n.sent.filter((s) => s.vrid === vrid && s.t >= from).map((s) => s.t);
    return Math.max(0, ...ts.slice(1).map((t, k) => t - ts[k]));
  };
  return { clock, a, b, run, settle, exits, gap };
}

const TRACK = `vrrp_script chk {
  script "/bin/true chk"
  interval 1
  weight 5
}
`;

describe("VRRP reload in place (issue 17)", () => {
  it("a master's VIPs, priority (still above the backup's), tracking and advert interval change: no state change either side, no gap the backup notices, GARPs for the added VIP, the engine owns it", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["MASTER", "BACKUP"]);
    const statesA = p.a.states.length;
    const statesB = p.b.states.length;
    const from = p.clock.now();
    // The backup first (keepalived 2.2.7 drops adverts whose address list differs: both
    // peers are reloaded, and the backup's master-down interval covers the time between).
    const vips = ["10.0.0.100", "10.0.0.101"];
    expect(await p.b.reload(instance({ priority: 100, vips }))).toEqual(["VRRP instance VI_1 reconfigured (+10.0.0.101), still BACKUP"]);
    await p.run(300);
    const garps = p.a.garps.length;
    const changes = await p.a.reload(TRACK + instance({ priority: 120, vips, interval: "1.5", extra: "  track_script {\n    chk\n  }\n" }));
    expect(changes).toEqual(["VRRP instance VI_1 reconfigured (priority 150 -> 120, advert_int 1 -> 1.5 s, +10.0.0.101, tracking), still MASTER"]);
    await p.run(8000);
    expect(p.a.states.length).toBe(statesA);
    expect(p.b.states.length).toBe(statesB);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["MASTER", "BACKUP"]);
    // What the backup sees: the new list, the new interval, priority 120 + the script's 5.
    const last = p.a.sent[p.a.sent.length - 1];
    expect(last).toMatchObject({ priority: 125, intervalCs: 150, addresses: vips });
    expect(p.b.vi().masterAdverIntMs).toBe(1500);
    expect(p.b.vi().counts.addressMismatch).toBeLessThanOrEqual(1);
    // No gap: the longest time between adverts stays below the backup's master-down interval
    // (3 x 1 s + skew before the change, 3 x 1.5 s + skew after).
    expect(p.gap(p.a, 51, from)).toBeLessThanOrEqual(1500);
    // Gratuitous ARPs for the added address: a burst at once (5), another 5 s later.
    const added = p.a.garps.slice(garps).filter((g) => g.address === "10.0.0.101");
    expect(added.length).toBe(10);
    expect(p.a.answersArp("10.0.0.101")).toBe(true);
    expect(p.b.answersArp("10.0.0.101")).toBe(false);
    // The VIP removed again: the engine stops answering for it, nothing else moves.
    await p.b.reload(instance({ priority: 100 }));
    await p.a.reload(TRACK + instance({ priority: 120, interval: "1.5", extra: "  track_script {\n    chk\n  }\n" }));
    await p.run(5000);
    expect(p.a.answersArp("10.0.0.101")).toBe(false);
    expect(p.a.answersArp("10.0.0.100")).toBe(true);
    expect(p.a.states.length).toBe(statesA);
    expect(p.b.states.length).toBe(statesB);
  });

  it("a master's priority lowered below the backup's: the backup preempts, and says so (not 'no advert from the master')", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    await p.a.reload(instance({ priority: 90 }));
    // The master goes on advertising (now 90): no gap, and the backup takes over by preemption
    // once its master-down timer runs out (keepalived: same).
    expect(p.a.vi().state).toBe("MASTER");
    await p.run(5000);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["BACKUP", "MASTER"]);
    expect(p.b.states.at(-1)?.why).toBe("preempting 10.0.0.2: its priority 90 is below ours (100)");
    expect(p.a.states.at(-1)?.why).toBe("10.0.0.3 advertises priority 100, above ours (90)");
    expect(p.b.log.join("\n")).not.toMatch(/no advert from the master/);
  });

  it("nopreempt on the backup: a lower priority on the master changes nothing; the backup's priority raised under preempt takes over", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100, extra: "  nopreempt\n" }));
    await p.run(6000);
    await p.a.reload(instance({ priority: 90 }));
    await p.run(6000);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["MASTER", "BACKUP"]);
    // The backup reloaded with preempt (and 100 > 90): it preempts.
    await p.b.reload(instance({ priority: 100 }));
    await p.run(6000);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["BACKUP", "MASTER"]);
    // Its priority raised further while master: still master, its adverts carry it.
    const n = p.b.states.length;
    await p.b.reload(instance({ priority: 200 }));
    await p.run(2000);
    expect(p.b.states.length).toBe(n);
    expect(p.b.sent.at(-1)?.priority).toBe(200);
  });

  it("an instance removed from the master: it resigns (priority 0), gives its VIP up, notifies FAULT as keepalived; the backup takes over after its skew", async () => {
    const p = await pair(instance({ priority: 150 }) + instance({ name: "VI_2", vrid: 52, priority: 150, vips: ["10.0.0.102"] }),
      instance({ priority: 100 }) + instance({ name: "VI_2", vrid: 52, priority: 100, vips: ["10.0.0.102"] }));
    await p.run(6000);
    expect([p.a.vi("VI_2").state, p.b.vi("VI_2").state]).toEqual(["MASTER", "BACKUP"]);
    const t = p.clock.now();
    const changes = await p.a.reload(instance({ priority: 150 }));
    expect(changes).toContain("VRRP instance VI_2 removed");
    expect(p.a.sent.filter((s) => s.vrid === 52 && s.t >= t).map((s) => s.priority)).toEqual([0]);
    // keepalived notifies FAULT for a deleted instance (notify_deleted aside).
    expect(p.a.states.at(-1)).toMatchObject({ name: "VI_2", state: "FAULT", why: "removed by a reload" });
    expect(p.a.answersArp("10.0.0.102")).toBe(false);
    await p.run(1000);
    expect(p.b.vi("VI_2").state).toBe("MASTER");
    // The one kept did not move, and its engine index moved nothing it owns.
    expect(p.a.vi().state).toBe("MASTER");
    expect(p.a.answersArp("10.0.0.100")).toBe(true);
    expect(p.a.local.vrrp!.machines.instances.length).toBe(1);
  });

  it("an instance added by reload starts as keepalived starts one (backup, master once no master is heard); a failed reload changes nothing", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const changes = await p.a.reload(instance({ name: "VI_0", vrid: 50, priority: 150, vips: ["10.0.0.110"] }) + instance({ priority: 150 }));
    expect(changes).toContain("VRRP instance VI_0 added");
    // VI_1's engine index moved from 0 to 1: its adverts and ownership follow it.
    await p.run(100);
    expect(p.a.states.filter((s) => s.name === "VI_0").map((s) => s.state)).toEqual(["BACKUP"]);
    await p.run(4000);
    expect(p.a.vi("VI_0").state).toBe("MASTER");
    expect(p.a.vi().state).toBe("MASTER");
    expect(p.a.answersArp("10.0.0.110")).toBe(true);
    expect(p.a.answersArp("10.0.0.100")).toBe(true);
    expect(p.a.sent.at(-1)).toBeDefined();
    expect(p.b.vi().state).toBe("BACKUP");
    // A reload with an error (an interface that does not exist): refused whole.
    const before = JSON.stringify(p.a.local.vrrp!.machines.views().map((v) => [v.name, v.state, v.priority]));
    await expect(p.a.reload(instance({ priority: 10 }) + instance({ name: "VI_9", vrid: 9, priority: 10, iface: "eth7" }))).rejects.toThrow(/eth7/);
    await p.run(2000);
    expect(JSON.stringify(p.a.local.vrrp!.machines.views().map((v) => [v.name, v.state, v.priority]))).toBe(before);
    expect(p.a.sent.at(-1)?.priority).toBe(150);
  });

  it("a sync group added by reload binds its members from then on (one in FAULT takes the other); removed, they part again", async () => {
    const two = (group: boolean, chk: boolean) => `vrrp_script chk {
  script "/bin/true chk"
  interval 1
}
${group ? "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n" : ""}${instance({ priority: 150 })}${instance({ name: "VI_2", vrid: 52, priority: 150, vips: ["10.0.1.100"], iface: "eth1",
      extra: chk ? "  track_script {\n    chk\n  }\n" : "" })}`;
    const p = await pair(two(false, true), instance({ priority: 100 }) + instance({ name: "VI_2", vrid: 52, priority: 100, vips: ["10.0.1.100"], iface: "eth1" }));
    await p.run(6000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    const n = p.a.states.length;
    expect(await p.a.reload(two(true, true))).toContain("VRRP sync group G added");
    await p.run(3000);
    expect(p.a.states.length).toBe(n);
    // VI_2's script fails: VI_2 is FAULT, and with it (the group) VI_1.
    p.exits.set("chk", 1);
    await p.run(2000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["FAULT", "FAULT"]);
    expect(p.a.vi().view().faults).toEqual(["sync group G"]);
    expect([p.b.vi().state, p.b.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    // The group removed: VI_1's fault was the group's only, it leaves FAULT; VI_2 stays.
    expect(await p.a.reload(two(false, true))).toContain("VRRP sync group G removed");
    await p.run(100);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["BACKUP", "FAULT"]);
    // The tracking removed by reload: VI_2's fault goes with it.
    await p.a.reload(two(false, false));
    await p.run(100);
    expect(p.a.vi("VI_2").state).toBe("BACKUP");
    expect(p.a.vi("VI_2").view().faults).toEqual([]);
    // Both at 150 over the peer's 100, preempt: master again.
    await p.run(5000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
  });

  it("a member added by reload to a master sync group does not take the group down: it becomes master with it", async () => {
    const g = (members: string[]) => `vrrp_sync_group G {\n  group {\n${members.map((m) => `    ${m}\n`).join("")}  }\n}\n`;
    const two = instance({ priority: 150 }) + instance({ name: "VI_2", vrid: 52, priority: 150, vips: ["10.0.1.100"], iface: "eth1" });
    const p = await pair(g(["VI_1", "VI_2"]) + two, instance({ priority: 100 }));
    await p.run(6000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    const n = p.a.states.length;
    expect(await p.a.reload(g(["VI_1", "VI_2", "VI_3"]) + two + instance({ name: "VI_3", vrid: 53, priority: 150, vips: ["10.0.0.103"] })))
      .toContain("VRRP instance VI_3 added");
    await p.run(5000);
    expect([p.a.vi().state, p.a.vi("VI_2").state, p.a.vi("VI_3").state]).toEqual(["MASTER", "MASTER", "MASTER"]);
    expect(p.a.states.slice(n).map((s) => `${s.name} ${s.state}`)).toEqual(["VI_3 BACKUP", "VI_3 MASTER"]);
  });

  it("static_ipaddress added and removed by reload: answered at once (and announced), then not; VRRP untouched", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const n = p.a.states.length;
    const garps = p.a.garps.length;
    expect(p.a.answersArp("10.0.0.50")).toBe(false);
    expect(await p.a.reload(`static_ipaddress {\n  10.0.0.50/24 dev eth0\n}\n${instance({ priority: 150 })}`)).toEqual(["static_ipaddress now 10.0.0.50"]);
    expect(p.a.answersArp("10.0.0.50")).toBe(true);
    expect(p.a.garps.slice(garps).map((g) => g.address)).toEqual(["10.0.0.50"]);
    expect(await p.a.reload(instance({ priority: 150 }))).toEqual(["static_ipaddress now none"]);
    expect(p.a.answersArp("10.0.0.50")).toBe(false);
    await p.run(2000);
    expect(p.a.states.length).toBe(n);
    expect(p.a.answersArp("10.0.0.100")).toBe(true);
  });

  it("lvs_sync_daemon added, changed and removed by reload: the daemons take the instance's current role, no state changes", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const n = [p.a.states.length, p.b.states.length];
    const sync = (extra: string) => `global_defs {\n  lvs_sync_daemon eth0 VI_1${extra}\n}\n`;
    await p.b.reload(sync("") + instance({ priority: 100 }));
    await p.a.reload(sync("") + instance({ priority: 150 }));
    await p.run(100);
    // keepalived's default sync ID is the instance's VRID.
    expect(p.a.syncd.list()).toBe("master sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n");
    expect(p.b.syncd.list()).toBe("backup sync daemon (mcast=eth0, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n");
    expect(p.a.log.join("\n")).toMatch(/connection sync on eth0: sending \(sync ID 51, lvs_sync_daemon added\)/);
    await p.a.reload(sync(" id 9") + instance({ priority: 150 }));
    await p.run(100);
    expect(p.a.syncd.list()).toBe("master sync daemon (mcast=eth0, syncid=9, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n");
    await p.a.reload(instance({ priority: 150 }));
    await p.run(100);
    expect(p.a.syncd.list()).toBe("");
    await p.run(3000);
    expect([p.a.states.length, p.b.states.length]).toEqual(n);
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["MASTER", "BACKUP"]);
  });

  it("vrrp_notify_fifo added by reload: the next state change is written to it", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const fifo = join(dir, `fifo-${Math.random().toString(36).slice(2)}`);
    await p.a.reload(`global_defs {\n  vrrp_notify_fifo ${fifo}\n}\n${instance({ priority: 150 })}`);
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      await p.a.reload(`global_defs {\n  vrrp_notify_fifo ${fifo}\n}\n${instance({ priority: 90 })}`);
      await p.run(5000);
      expect(p.a.vi().state).toBe("BACKUP");
      const buf = Buffer.alloc(4096);
      const n = readSync(fd, buf, 0, buf.length, null);
      expect(buf.subarray(0, n).toString()).toBe('INSTANCE "VI_1" BACKUP 90\n');
    } finally {
      closeSync(fd);
    }
  });

  it("a master's virtual_routes changed by reload: the old route goes, the new one comes, the state stays", async () => {
    // A gateway each (the engine asks for a gateway's address once, then waits for the answer).
    const routes = (cidr: string, via: string) => instance({ priority: 150, extra: `  virtual_routes {\n    ${cidr} via ${via}\n  }\n` });
    const p = await pair(routes("10.9.0.0/24", "10.0.0.254"), instance({ priority: 100 }));
    await p.run(6000);
    expect(p.a.vi().state).toBe("MASTER");
    expect(p.a.pingFrom("10.9.0.5")).toEqual(["arp who-has 10.0.0.254"]);
    // The gateway answers: now the reply itself goes out by the route.
    p.a.engine.loadFrame(0, eth("02:00:00:00:0a:01", "02:00:00:00:09:fe", 0x0806, arp(2, "02:00:00:00:09:fe", "10.0.0.254", "02:00:00:00:0a:01", "10.0.0.2")), 0);
    p.a.engine.process(1, p.clock.now());
    expect(p.a.pingFrom("10.9.0.5")).toEqual(["ip 10.9.0.5"]);
    expect(p.a.pingFrom("10.8.0.5")).toEqual([]);
    const n = p.a.states.length;
    await p.a.reload(routes("10.8.0.0/24", "10.0.0.253"));
    await p.run(100);
    expect(p.a.pingFrom("10.9.0.5")).toEqual([]);
    expect(p.a.pingFrom("10.8.0.5")).toEqual(["arp who-has 10.0.0.253"]);
    expect(p.a.states.length).toBe(n);
  });

  it("what a reload cannot change is refused at its name (was: 1:1 'interface' for any VRRP change): an interface", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    const path = join(dir, "iface.conf");
    writeFileSync(path, director("10.0.0.2", "02:00:00:00:0a:01") + instance({ priority: 150 }));
    const before = parseKeepalived(path);
    writeFileSync(path, director("10.0.0.2", "02:00:00:00:0a:01").replace("10.0.1.2/24", "10.0.1.9/24") + instance({ priority: 150 }));
    await expect(p.a.local.apply(before, parseKeepalived(path))).rejects.toThrow(/iface\.conf:4:13: 'eth1': interface eth1 changed, was added or removed: restart wasmvs/);
  });
});

describe("VrrpInstance.reconfigure: the rules on one state machine (keepalived's vrrp_init_instance_sands, restore_vrrp_state)", () => {
  const base = (o: Partial<VrrpInstanceConfig> = {}): VrrpInstanceConfig => ({
    name: "VI_1", ifindex: 0, interfaceName: "eth0", vrid: 51, priority: 100, initialMaster: false, version: 3, advertIntMs: 100, preempt: true,
    preemptDelayMs: 0, addresses: ["10.0.0.100"], addressIfindex: [0], garpMasterDelayMs: 5000, garpMasterRepeat: 5, downTimerAdverts: 3, line: 1,
    trackScripts: [], trackInterfaces: [], trackFiles: [], ...o,
  });
  function machine(c: VrrpInstanceConfig) {
    const clock = new FakeClock();
    const sent: string[] = [];
    const states: string[] = [];
    const vi = new VrrpInstance(c, clock, {
      sendAdvert: (p) => sent.push(`${p}@${clock.now()}`), setMaster: () => {}, announce: () => sent.push(`garp@${clock.now()}`),
      changed: (s, why) => states.push(`${s}@${clock.now()}: ${why}`),
    }, "10.0.0.2");
    const advert = (priority: number, intervalCs = 10): Advert => ({ src: "10.0.0.9", version: 3, vrid: 51, priority, intervalCs, authType: 0, auth: new Uint8Array(0), addresses: ["10.0.0.100"] });
    return { clock, sent, states, vi, advert };
  }

  it("a master advertises at once with its new priority, then at the new interval; no gratuitous ARP without a new address", () => {
    const m = machine(base({ priority: 150 }));
    m.vi.start();
    m.clock.advance(500);
    expect(m.vi.state).toBe("MASTER");
    m.clock.advance(50); // mid-interval
    m.sent.length = 0;
    m.vi.reconfigure(base({ priority: 120, advertIntMs: 300 }), false);
    m.clock.advance(1000);
    expect(m.sent).toEqual(["120@550", "120@850", "120@1150", "120@1450"]);
    expect(m.states).toEqual(["BACKUP@0: start", expect.stringMatching(/^MASTER@/)]);
  });

  it("the trackers' total carries over to the new base priority (clamped to 1..254); the owner stays 255", () => {
    const m = machine(base({ priority: 100 }));
    m.vi.setPriority(110);
    m.vi.reconfigure(base({ priority: 120 }), false);
    expect(m.vi.priority).toBe(130);
    m.vi.reconfigure(base({ priority: 250 }), false);
    expect(m.vi.priority).toBe(254);
    m.vi.reconfigure(base({ priority: 255 }), false);
    expect(m.vi.priority).toBe(255);
  });

  it("a backup restarts its master-down timer from the reload with the new values (keepalived: ms_down_timer from now)", () => {
    const m = machine(base({ priority: 100 }));
    m.vi.start();
    m.vi.onAdvert(m.advert(150));
    m.clock.advance(200);
    // Priority 50: Master_Down = 3 x 100 + (256 - 50) x 100 / 256 = 380.47 ms, from now (200).
    m.vi.reconfigure(base({ priority: 50 }), false);
    m.clock.advance(380);
    expect(m.vi.state).toBe("BACKUP");
    m.clock.advance(1);
    expect(m.vi.state).toBe("MASTER");
    expect(m.states.at(-1)).toMatch(/^MASTER@580\.\d+: no advert from the master for 380 ms$/);
  });

  it("a backup reloaded above its master (preempt) takes over when its timer runs out, and says it preempted", () => {
    const m = machine(base({ priority: 100 }));
    m.vi.start();
    m.vi.onAdvert(m.advert(150));
    m.vi.reconfigure(base({ priority: 200 }), false);
    for (let t = 0; t < 10 && m.vi.state === "BACKUP"; t++) {
      m.clock.advance(100);
      m.vi.onAdvert(m.advert(150));
    }
    expect(m.vi.state).toBe("MASTER");
    expect(m.states.at(-1)).toMatch(/: preempting 10\.0\.0\.9: its priority 150 is below ours \(200\)$/);
  });

  it("a master that gained an address: gratuitous ARPs for it, a burst at once and another garp_master_delay later", () => {
    const m = machine(base({ priority: 150 }));
    m.vi.start();
    m.clock.advance(500);
    m.sent.length = 0;
    m.vi.reconfigure(base({ priority: 150, addresses: ["10.0.0.100", "10.0.0.101"], addressIfindex: [0, 0] }), true);
    m.clock.advance(5000);
    expect(m.sent.filter((x) => x.startsWith("garp")).map((x) => x.split("@")[1])).toEqual([...Array(5).fill("500"), ...Array(5).fill("5500")]);
  });
});

describe("VRRP reload attacked (issue 17): renames, swapped and changed VRIDs, everything removed, groups naming what is gone, reloads in a row", () => {
  const two = (o: { p1: number; p2: number; n1?: string; n2?: string; v1?: number; v2?: number }) =>
    instance({ name: o.n1 ?? "VI_1", vrid: o.v1 ?? 51, priority: o.p1 }) + instance({ name: o.n2 ?? "VI_2", vrid: o.v2 ?? 52, priority: o.p2, vips: ["10.0.0.102"] });

  it("two instances swap VRIDs (and with them their addresses): each VRID keeps its machine and state, the addresses follow the names", async () => {
    const p = await pair(two({ p1: 150, p2: 150 }), two({ p1: 100, p2: 100 }));
    await p.run(6000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    const n = p.a.states.length;
    const t = p.clock.now();
    await p.b.reload(two({ p1: 100, p2: 100, v1: 52, v2: 51 }));
    await p.a.reload(two({ p1: 150, p2: 150, v1: 52, v2: 51 }));
    await p.run(5000);
    expect(p.a.states.length).toBe(n);
    expect([p.a.vi().state, p.a.vi("VI_2").state, p.b.vi().state, p.b.vi("VI_2").state]).toEqual(["MASTER", "MASTER", "BACKUP", "BACKUP"]);
    expect(p.a.sent.filter((s) => s.t > t + 100 && s.vrid === 52).every((s) => s.addresses.join() === "10.0.0.100")).toBe(true);
    expect(p.a.sent.filter((s) => s.t > t + 100 && s.vrid === 51).every((s) => s.addresses.join() === "10.0.0.102")).toBe(true);
    expect([p.a.answersArp("10.0.0.100"), p.a.answersArp("10.0.0.102"), p.b.answersArp("10.0.0.100"), p.b.answersArp("10.0.0.102")]).toEqual([true, true, false, false]);
  });

  it("a rename keeps the VRID's state (keepalived matches by interface and VRID); the new name is what logs, metrics and track() use", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const n = p.a.states.length;
    const changes = await p.a.reload(instance({ name: "WEB", priority: 150 }));
    expect(changes.join("\n")).toMatch(/WEB/);
    await p.run(3000);
    expect(p.a.states.length).toBe(n);
    expect(p.a.vi("WEB").state).toBe("MASTER");
    expect(p.a.local.vrrp!.machines.views().map((v) => v.name)).toEqual(["WEB"]);
    // Lowered under its new name: the peer preempts; the events carry the new name.
    await p.a.reload(instance({ name: "WEB", priority: 90 }));
    await p.run(5000);
    expect(p.a.states.at(-1)).toMatchObject({ name: "WEB", state: "BACKUP" });
  });

  it("a sync group member renamed with the group's list: still one group (the other's fault takes it), no state change at the rename", async () => {
    const text = (n1: string, chk: boolean) => `vrrp_script chk {\n  script "/bin/true chk"\n  interval 1\n}\n` +
      `vrrp_sync_group G {\n  group {\n    ${n1}\n    VI_2\n  }\n}\n` + instance({ name: n1, priority: 150 }) +
      instance({ name: "VI_2", vrid: 52, priority: 150, vips: ["10.0.1.100"], iface: "eth1", extra: chk ? "  track_script {\n    chk\n  }\n" : "" });
    const p = await pair(text("VI_1", true), instance({ priority: 100 }) + instance({ name: "VI_2", vrid: 52, priority: 100, vips: ["10.0.1.100"], iface: "eth1" }));
    await p.run(6000);
    expect([p.a.vi().state, p.a.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    const n = p.a.states.length;
    await p.a.reload(text("WEB", true));
    await p.run(3000);
    expect(p.a.states.length).toBe(n);
    p.exits.set("chk", 1);
    await p.run(2000);
    expect([p.a.vi("WEB").state, p.a.vi("VI_2").state]).toEqual(["FAULT", "FAULT"]);
    expect(p.a.vi("WEB").view().faults).toEqual(["sync group G"]);
  });

  it("a VRID changed on a master is a remove and an add: the old VRID resigns (priority 0), the new one starts as backup", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const t = p.clock.now();
    const changes = await p.a.reload(instance({ priority: 150, vrid: 53 }));
    expect(changes).toEqual(["VRRP instance VI_1 removed", "VRRP instance VI_1 added"]);
    expect(p.a.sent.filter((s) => s.vrid === 51 && s.t >= t).map((s) => s.priority)).toEqual([0]);
    await p.run(5000);
    // The peer's VI_1 (VRID 51) is master of 51 alone now; a is master of 53 alone.
    expect([p.a.vi().state, p.b.vi().state]).toEqual(["MASTER", "MASTER"]);
    expect(p.a.sent.filter((s) => s.vrid === 51 && s.t >= t).length).toBe(1);
  });

  it("every instance removed, then put back: all resign and own nothing; put back, they start as keepalived starts them", async () => {
    const p = await pair(two({ p1: 150, p2: 150 }), two({ p1: 100, p2: 100 }));
    await p.run(6000);
    const t = p.clock.now();
    const changes = await p.a.reload("");
    expect(changes).toEqual(expect.arrayContaining(["VRRP instance VI_1 removed", "VRRP instance VI_2 removed"]));
    expect(p.a.local.vrrp?.machines.instances.length ?? 0).toBe(0);
    expect(p.a.sent.filter((s) => s.t >= t).map((s) => `${s.vrid}:${s.priority}`).sort()).toEqual(["51:0", "52:0"]);
    expect([p.a.answersArp("10.0.0.100"), p.a.answersArp("10.0.0.102")]).toEqual([false, false]);
    await p.run(3000);
    expect([p.b.vi().state, p.b.vi("VI_2").state]).toEqual(["MASTER", "MASTER"]);
    expect(p.a.sent.filter((s) => s.t >= t + 1)).toEqual([]);
    await p.a.reload(two({ p1: 150, p2: 150 }));
    await p.run(6000);
    expect([p.a.vi().state, p.a.vi("VI_2").state, p.b.vi().state, p.b.vi("VI_2").state]).toEqual(["MASTER", "MASTER", "BACKUP", "BACKUP"]);
  });

  it("a sync group added naming an instance the same reload removes: what check says of it, and the kept member works on", async () => {
    const p = await pair(two({ p1: 150, p2: 150 }), two({ p1: 100, p2: 100 }));
    await p.run(6000);
    const text = "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n" + instance({ priority: 150 });
    // keepalived: "Virtual router VI_2 specified in sync group G doesn't exist - ignoring"; a
    // one-member group then (a warning each, logged by the reload); --strict would refuse it.
    const changes = await p.a.reload(text);
    expect(changes).toEqual(["VRRP instance VI_2 removed", "VRRP sync group G added"]);
    expect(p.a.log.join("\n")).toMatch(/<4>.*no vrrp_instance named VI_2: left out of vrrp_sync_group G, as keepalived/);
    await p.run(3000);
    expect(p.a.vi().state).toBe("MASTER");
    expect(p.b.vi("VI_2").state).toBe("MASTER");
  });

  it("ten reloads in a row on a master (priority up and down, never below the backup's): no state change, no gap, no advert storm", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const n = [p.a.states.length, p.b.states.length];
    const t = p.clock.now();
    // (The address list stays: keepalived 2.2.7 drops adverts whose list differs from its own,
    // so a VIP change is reloaded on both peers, the backup first.)
    for (let k = 0; k < 10; k++) await p.a.reload(instance({ priority: 140 + (k % 2) * 20, interval: k % 2 ? "1" : "0.5" }));
    await p.run(5000);
    expect([p.a.states.length, p.b.states.length]).toEqual(n);
    expect(p.gap(p.a, 51, t)).toBeLessThanOrEqual(1000);
    // One advert at once per reload at most, then one a second.
    expect(p.a.sent.filter((s) => s.t >= t).length).toBeLessThanOrEqual(10 + 11);
    expect(p.a.answersArp("10.0.0.100")).toBe(true);
  });

  it("a VIP added then removed before its second gratuitous-ARP burst: that burst does not claim the removed address", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    const vips = ["10.0.0.100", "10.0.0.102"];
    await p.b.reload(instance({ priority: 100, vips }));
    await p.a.reload(instance({ priority: 150, vips }));
    const t = p.clock.now();
    await p.run(1000);
    await p.b.reload(instance({ priority: 100 }));
    await p.a.reload(instance({ priority: 150 }));
    const removed = p.clock.now();
    await p.run(8000);
    expect(p.a.garps.filter((g) => g.address === "10.0.0.102" && g.t >= t && g.t < removed).length).toBe(5);
    expect(p.a.garps.filter((g) => g.address === "10.0.0.102" && g.t >= removed)).toEqual([]);
    expect(p.a.answersArp("10.0.0.102")).toBe(false);
  });

  it("a reload while the backup's master-down timer is running out (the master gone): the transition still happens, once", async () => {
    const p = await pair(instance({ priority: 150 }), instance({ priority: 100 }));
    await p.run(6000);
    // The master goes quiet: its instance removed (priority 0 -> the backup takes over after skew);
    // the backup reloaded in between with a new priority.
    await p.a.reload("");
    await p.b.reload(instance({ priority: 110 }));
    await p.run(50);
    await p.b.reload(instance({ priority: 120 }));
    await p.run(5000);
    expect(p.b.vi().state).toBe("MASTER");
    expect(p.b.states.filter((s) => s.state === "MASTER").length).toBe(1);
    expect(p.b.sent.at(-1)?.priority).toBe(120);
  });
});
