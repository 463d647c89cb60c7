// Change sets (host/engine/changes.ts, host/dataplane/changeset.ts): what a change changes is
// computed from the two configurations (or the command), carried as plain data, and applied
// by the engine whole or not at all; the data path's request code runs no control code.

import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { applyChangeSet, ChangeOp, ChangeRefused, ChangeSet } from "../host/engine/changes.js";
import { Engine, ipToWire } from "../host/engine/index.js";
import { planDifference } from "../host/dataplane/changeset.js";
import { applyConfig, DirectorConfig, parseRules } from "../host/config/rules.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { mismatches } from "../host/config/model.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { loadEngine } from "../host/engine/node.js";
import { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "./helpers/director.js";
import { eth, ipv4, tcp, SYN } from "./helpers/packet.js";
import { textOnly } from "./helpers/parsed.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
route default via 10.0.0.254
neighbour ${CLIENT} 02:cc:00:00:00:02
`;
const rs = (k: number) => `10.1.0.${11 + k}`;

/** A rules file: services on ports 80, 81, ... each with servers rs(0..). */
function rules(services: { port: number; sched?: string; extra?: string; servers: { k: number; w?: number; flags?: string }[] }[], tail = ""): string {
  return HEAD + services.map((s) => `-A -t ${VIP}:${s.port} -s ${s.sched ?? "wrr"}${s.extra ? ` ${s.extra}` : ""}\n` +
    s.servers.map((r) => `-a -t ${VIP}:${s.port} -r ${rs(r.k)}:${s.port} -m -w ${r.w ?? 1}${r.flags ? ` ${r.flags}` : ""}\n`).join("")).join("") + tail;
}
const cfg = (text: string) => parseRules(text, "d.rules");
/** The ops of a plan without where they were written (what the engine is told). */
const opsOf = (a: DirectorConfig, b: DirectorConfig) => textOnly(planDifference(a, b).set.ops.map((o) => { const { at: _at, ...rest } = o as ChangeOp & { at?: unknown }; return rest; }));

const BASE = [{ port: 80, servers: [{ k: 0 }, { k: 1, w: 2 }] }, { port: 81, servers: [{ k: 0 }] }];

describe("the change set of two configurations", () => {
  it("is empty for the same file, and holds only what differs", () => {
    const a = cfg(rules(BASE));
    expect(planDifference(a, cfg(rules(BASE))).set).toEqual({ ops: [], file: "d.rules" });
    // Lines moved (a comment above): no change.
    expect(planDifference(a, cfg("# moved\n" + rules(BASE))).set.ops).toEqual([]);
  });

  it("add, edit and delete of a service", () => {
    const a = cfg(rules(BASE));
    const svc = (port: number, scheduler: string, more = {}) => ({ protocol: "tcp", address: VIP, port, scheduler, ...more });
    const rsOf = (k: number, port: number, weight = 1, more = {}) => ({ address: rs(k), port, method: "nat", weight, uthreshold: 0, lthreshold: 0, ...more });
    // added
    expect(opsOf(a, cfg(rules([...BASE, { port: 82, sched: "rr", servers: [{ k: 2 }] }])))).toEqual([
      { op: "add-service", service: svc(82, "rr") },
      { op: "add-server", service: { protocol: "tcp", address: VIP, port: 82 }, server: rsOf(2, 82) },
    ]);
    // deleted: with what it held (an undo puts it back)
    expect(opsOf(a, cfg(rules([BASE[0]])))).toEqual([{ op: "delete-service", service: svc(81, "wrr"), servers: [rsOf(0, 81)] }]);
    // scheduler
    expect(opsOf(a, cfg(rules([{ ...BASE[0], sched: "lc" }, BASE[1]])))).toEqual([{ op: "edit-service", service: svc(80, "lc"), was: svc(80, "wrr") }]);
    // persistence
    expect(opsOf(a, cfg(rules([{ ...BASE[0], extra: "-p 300" }, BASE[1]])))).toEqual([
      { op: "edit-service", service: svc(80, "wrr", { persistence: { timeout: 300, netmask: "255.255.255.255" } }), was: svc(80, "wrr") }]);
    // scheduler flags and one-packet scheduling
    expect(opsOf(a, cfg(rules([{ ...BASE[0], sched: "sh", extra: "-b sh-port" }, BASE[1]])))).toEqual([
      { op: "edit-service", service: svc(80, "sh", { schedFlags: 2 }), was: svc(80, "wrr") }]);
    expect(opsOf(a, cfg(rules([BASE[0], { ...BASE[1], extra: "-p 60 -M 255.255.255.0" }])))[0]).toMatchObject({ op: "edit-service",
      service: { port: 81, persistence: { timeout: 60, netmask: "255.255.255.0" } } });
  });

  it("add, edit and delete of a real server: weight, thresholds, method", () => {
    const a = cfg(rules(BASE));
    const ref = { protocol: "tcp", address: VIP, port: 80 };
    const rsOf = (k: number, weight = 1, more = {}) => ({ address: rs(k), port: 80, method: "nat", weight, uthreshold: 0, lthreshold: 0, ...more });
    expect(opsOf(a, cfg(rules([{ port: 80, servers: [{ k: 0 }, { k: 1, w: 2 }, { k: 2, w: 5 }] }, BASE[1]])))).toEqual([
      { op: "add-server", service: ref, server: rsOf(2, 5) }]);
    expect(opsOf(a, cfg(rules([{ port: 80, servers: [{ k: 1, w: 2 }] }, BASE[1]])))).toEqual([
      { op: "delete-server", service: ref, server: rsOf(0) }]);
    expect(opsOf(a, cfg(rules([{ port: 80, servers: [{ k: 0 }, { k: 1, w: 7 }] }, BASE[1]])))).toEqual([
      { op: "edit-server", service: ref, server: rsOf(1, 7), was: rsOf(1, 2) }]);
    expect(opsOf(a, cfg(rules([{ port: 80, servers: [{ k: 0, flags: "-x 100 -y 10" }, { k: 1, w: 2 }] }, BASE[1]])))).toEqual([
      { op: "edit-server", service: ref, server: rsOf(0, 1, { uthreshold: 100, lthreshold: 10 }), was: rsOf(0) }]);
    // Removals come before additions (their records are free for them), whatever the file's order.
    const swapped = opsOf(a, cfg(rules([{ port: 80, servers: [{ k: 3 }, { k: 1, w: 2 }] }, BASE[1]])));
    expect(swapped.map((o) => o.op)).toEqual(["delete-server", "add-server"]);
  });

  it("the director's parts only when they changed; the change's words as before", () => {
    const a = cfg(rules(BASE));
    const b = cfg(rules(BASE, "--set 100 20 30\n"));
    const p = planDifference(a, b);
    expect(p.set.ops).toEqual([]);
    expect(p.set.director).toEqual({ timeouts: { tcp: 100, tcpfin: 20, udp: 30 } });
    expect(p.set.directorWas).toEqual({ timeouts: null });
    const c = cfg(HEAD.replace("route default via 10.0.0.254\n", "") + rules(BASE).slice(HEAD.length));
    const q = planDifference(a, c);
    expect(q.set.director).toEqual({ routes: [] });
    expect(q.changes).toEqual(["route 0.0.0.0/0 removed"]);
    const words = planDifference(a, cfg(rules([{ port: 80, sched: "lc", servers: [{ k: 0, w: 3 }, { k: 2 }] }, { port: 82, servers: [] }]))).changes;
    expect(words).toEqual([
      "service tcp 10.0.0.100:81 removed", `real server ${rs(1)}:80 removed from tcp 10.0.0.100:80`,
      "service tcp 10.0.0.100:80 scheduler wrr -> lc", `real server ${rs(0)}:80 of tcp 10.0.0.100:80 now nat, weight 3`,
      `real server ${rs(2)}:80 added to tcp 10.0.0.100:80 (nat, weight 1)`, "service tcp 10.0.0.100:82 added (wrr)",
    ]);
  });
});

/** Everything of the engine a change could touch, as bytes and as listings. */
function picture(e: Engine) {
  return { memory: Buffer.from(new Uint8Array(e.memory.buffer)).toString("base64"), services: e.services(), counters: e.counters(), free: e.freeRealServerSlots() };
}

async function engineWith(text: string, sizes: { maxServices?: number; maxRealServers?: number } = {}) {
  const e = await loadEngine({ batch: 16, connCapacity: 1024, ...sizes });
  const c = cfg(text);
  applyConfig(e, c);
  return { e, c };
}

describe("all or nothing", () => {
  it("a set crosses to the engine packed: its refusals come back named where each op was written, in the engine's words, and nothing changed", async () => {
    const { e, c } = await engineWith(rules(BASE));
    const adapter = new LocalEngine(e);
    const next = cfg(rules([...BASE, { port: 82, servers: [{ k: 2 }] }]));
    const set = planDifference(c, next).set;
    const at = (line: number) => ({ file: "d.rules", line, column: 5, keyword: "x" });
    set.ops.push(
      // Already in the engine; twice in one set; a value refused; a service the set does not have.
      { op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 80 }, server: { address: rs(0), daddr: ipToWire(rs(0)), port: 80, method: "nat", weight: 1 }, at: at(40) },
      { op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 82 }, server: { address: rs(2), daddr: ipToWire(rs(2)), port: 82, method: "nat", weight: 1 }, at: at(41) },
      { op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 82 }, server: { address: rs(3), daddr: ipToWire(rs(3)), port: 82, method: "nat", weight: 70000 }, at: at(42) },
      { op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 99 }, server: { address: rs(3), daddr: ipToWire(rs(3)), port: 99, method: "nat", weight: 1 }, at: at(43) });
    const before = picture(e);
    await expect(adapter.applySet(set)).rejects.toThrow([
      "4 errors:",
      "d.rules:40:5: 'x': real server 10.1.0.11:80: already exists",
      "d.rules:41:5: 'x': real server 10.1.0.13:82: already exists",
      "d.rules:42:5: 'x': weight out of range (0-65535): 70000",
      "d.rules:43:5: 'x': service tcp 10.0.0.100:99: no such entry",
    ].join("\n"));
    expect(picture(e)).toEqual(before);
    set.ops.splice(-4);
    await adapter.applySet(set);
    expect(mismatches(next, { services: e.services() } as never)).toEqual([]);
  });

  it("a set whose last op is refused leaves the engine byte for byte as it was", async () => {
    const { e, c } = await engineWith(rules(BASE));
    const next = cfg(rules([{ port: 80, sched: "lc", servers: [{ k: 0, w: 9 }, { k: 2 }] }, { port: 82, servers: [{ k: 1 }] }]));
    const set = planDifference(c, next).set;
    // The last op: a DR server whose port differs from the service's (IPVS refuses it).
    set.ops.push({ op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 82 }, server: { address: rs(3), daddr: ipToWire(rs(3)), port: 8080, method: "dr", weight: 1 },
      at: { file: "d.rules", line: 42, column: 5, keyword: "10.1.0.14:8080" } });
    const before = picture(e);
    let refused: unknown;
    try {
      applyChangeSet(e, structuredClone(set));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ChangeRefused);
    expect((refused as ChangeRefused).refusals).toEqual([{ at: { file: "d.rules", line: 42, column: 5, keyword: "10.1.0.14:8080" },
      reason: "real server 10.1.0.14:8080: direct routing and tunnelling cannot change the port: the real server port must equal the service port" }]);
    expect(picture(e)).toEqual(before);
    // Without it, the same set goes through, and the engine holds next.
    set.ops.pop();
    applyChangeSet(e, set);
    expect(mismatches(next, { services: e.services() } as never)).toEqual([]);
  });

  it("room: a set that needs more records than the engine has is refused whole, naming the first that does not fit", async () => {
    const { e, c } = await engineWith(rules(BASE), { maxServices: 3, maxRealServers: 4 });
    const before = picture(e);
    const next = cfg(rules([...BASE, { port: 82, servers: [{ k: 2 }, { k: 3 }] }]));
    expect(() => applyChangeSet(e, planDifference(c, next).set)).toThrow(
      `the real-server table is full (4 real servers): this change needs 1 more (first: ${rs(3)}:82 in tcp 10.0.0.100:82); nothing was changed`);
    const more = cfg(rules([...BASE, { port: 82, servers: [] }, { port: 83, servers: [] }]));
    expect(() => applyChangeSet(e, planDifference(c, more).set)).toThrow("service tcp 10.0.0.100:83: the service table is full (3 services): this change would make 4; nothing was changed");
    expect(picture(e)).toEqual(before);
  });

  it("a mutation that fails after the checks is undone with everything before it", async () => {
    const { e, c } = await engineWith(rules(BASE));
    const before = picture(e).services;
    const set: ChangeSet = planDifference(c, cfg(rules([{ port: 80, servers: [{ k: 0, w: 4 }] }, BASE[1], { port: 82, servers: [{ k: 2 }] }]))).set;
    // A DR server off every subnet, which the engine's own call refuses (whether or not its check caught it first).
    set.ops.push({ op: "add-server", service: { protocol: "tcp", address: VIP, vaddr: ipToWire(VIP), port: 82 }, server: { address: "192.0.2.9", daddr: ipToWire("192.0.2.9"), port: 82, method: "dr", weight: 1 } });
    expect(() => applyChangeSet(e, set)).toThrow(/real server 192\.0\.2\.9:82: real server is not on a directly connected network/);
    // Listings as before, statistics and all (a server removed and put back may sit in another record).
    const unindexed = (l: ReturnType<Engine["services"]>) => l.map((x) => ({ ...x, realServers: x.realServers.map(({ index: _i, ...r }) => r) }));
    expect(unindexed(e.services())).toEqual(unindexed(before));
  });
});

describe("the data path's requests run no control code", () => {
  it("host/dataplane/requests.ts imports nothing from host/control", () => {
    const text = readFileSync(new URL("../host/dataplane/requests.ts", import.meta.url), "utf8");
    const imports = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']/gms)].map((m) => m[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((p) => p.includes("/control/") || p.startsWith("../control"))).toEqual([]);
    expect(imports).toContain("../engine/changes.js");
  });
});

describe("ipvsadm commands are their own change", () => {
  it("an -e carries one op and copies only the service it touches", async () => {
    const services = Array.from({ length: 50 }, (_, s) => ({ port: 1000 + s, servers: [{ k: 0 }, { k: 1 }] }));
    const text = rules(services);
    const e = await loadEngine({ batch: 16, connCapacity: 1024 });
    const c = cfg(text);
    applyConfig(e, c);
    const adapter = new LocalEngine(e);
    const sets: ChangeSet[] = [];
    const applySet = adapter.applySet.bind(adapter);
    adapter.applySet = (set) => { sets.push(structuredClone(set)); return applySet(set); };
    const state = new ControlState(adapter, c, () => cfg(text));
    const before = state.running;
    expect(await state.applyCommands([parseArgs(["-e", "-t", `${VIP}:1010`, "-r", `${rs(1)}:1010`, "-m", "-w", "7"])]))
      .toEqual([`real server ${rs(1)}:1010 of tcp 10.0.0.100:1010 now nat, weight 7`]);
    expect(sets).toHaveLength(1);
    expect(textOnly(sets[0].ops)).toEqual([{ op: "edit-server", service: { protocol: "tcp", address: VIP, port: 1010 },
      server: { address: rs(1), port: 1010, method: "nat", weight: 7, uthreshold: 0, lthreshold: 0 },
      was: { address: rs(1), port: 1010, method: "nat", weight: 1, uthreshold: 0, lthreshold: 0 }, at: { file: "d.rules", line: 0, column: 1, keyword: "-e" } }]);
    expect(sets[0].director).toBeUndefined();
    // Copy on write: the other services are the same objects, the running configuration before is untouched.
    const after = state.running;
    expect(after.services.filter((s, i) => s !== before.services[i]).map((s) => s.port)).toEqual([1010]);
    expect(before.services[10].realServers[1].weight).toBe(1);
    expect(mismatches(state.running, await adapter.snapshot())).toEqual([]);
    // A refused command changes neither model nor engine; the next one finds its service again.
    const pic = picture(e);
    await expect(state.applyCommands([parseArgs(["-a", "-t", `${VIP}:1020`, "-r", "192.0.2.1:1020", "-g"])])).rejects.toThrow("real server 192.0.2.1:1020: real server is not on a directly connected network");
    expect(picture(e)).toEqual(pic);
    expect(state.running).toBe(after);
    await state.applyCommands([parseArgs(["-d", "-t", `${VIP}:1020`, "-r", `${rs(0)}:1020`]), parseArgs(["-D", "-t", `${VIP}:1049`])]);
    await state.applyCommands([parseArgs(["-A", "-t", `${VIP}:2000`, "-s", "rr"]), parseArgs(["-a", "-t", `${VIP}:2000`, "-r", `${rs(2)}:2000`, "-m"])]);
    await state.applyCommands([parseArgs(["-e", "-t", `${VIP}:2000`, "-r", `${rs(2)}:2000`, "-m", "-w", "3"])]);
    expect(mismatches(state.running, await adapter.snapshot())).toEqual([]);
    // A client's connection still goes through the engine after it all.
    const frame = eth(OUT_MAC, "02:cc:00:00:00:02", 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport: 4000, dport: 2000, flags: SYN }) }));
    e.loadFrame(0, frame, 0);
    expect(e.process(1, 1000)).toBe(1);
  });
});

describe("health flips are their own change", () => {
  it("the flips since the last refresh go as one set of the servers that flipped", async () => {
    const services = Array.from({ length: 20 }, (_, s) => ({ port: 1000 + s, servers: [{ k: 0 }, { k: 1 }, { k: 2 }] }));
    const text = rules(services);
    const e = await loadEngine({ batch: 16, connCapacity: 1024 });
    const c = cfg(text);
    for (const s of c.services) s.health = { quorum: 0, hysteresis: 0, omega: false, smtpAlert: false, where: { file: "d.rules", line: s.line, column: 1 } };
    applyConfig(e, c);
    const adapter = new LocalEngine(e);
    const sets: ChangeSet[] = [];
    const applySet = adapter.applySet.bind(adapter);
    adapter.applySet = (set) => { sets.push(structuredClone(set)); return applySet(set); };
    const down = new Set<string>();
    const view = { server: (svc: string, srv: string) => ({ alive: !down.has(`${svc} ${srv}`), add: 0 }), quorumUp: () => true };
    const state = new ControlState(adapter, c, () => cfg(text), () => {}, view);
    down.add(`tcp ${VIP}:1003 ${rs(1)}:1003`);
    down.add(`tcp ${VIP}:1017 ${rs(2)}:1017`);
    const first = state.refresh([`tcp ${VIP}:1003`]);
    const second = state.refresh([`tcp ${VIP}:1017`]); // joins the first while it waits
    expect([...await first, ...await second]).toEqual([`real server ${rs(1)}:1003 removed from tcp ${VIP}:1003`, `real server ${rs(2)}:1017 removed from tcp ${VIP}:1017`]);
    expect(sets.map((s) => s.ops.map((o) => `${o.op} ${o.service.port}`))).toEqual([["delete-server 1003", "delete-server 1017"]]);
    expect(mismatches(state.inEngine, await adapter.snapshot())).toEqual([]);
    down.clear();
    expect(await state.refresh([`tcp ${VIP}:1003`, `tcp ${VIP}:1017`])).toHaveLength(2);
    expect(mismatches(state.inEngine, await adapter.snapshot())).toEqual([]);
    expect(mismatches(state.running, await adapter.snapshot())).toEqual([]);
  });
});

describe("the engine's list, copied for a change where health has a say (the last one's copy, brought up to date)", () => {
  it("flips and edits one after another, a refused one among them: the engine holds what the model says after each", async () => {
    const services = Array.from({ length: 6 }, (_, s) => ({ port: 1000 + s, servers: [{ k: 0 }, { k: 1 }, { k: 2 }] }));
    const text = rules(services);
    const e = await loadEngine({ batch: 16, connCapacity: 1024 });
    const c = cfg(text);
    for (const s of c.services) s.health = { quorum: 0, hysteresis: 0, omega: false, smtpAlert: false, where: { file: "d.rules", line: s.line, column: 1 } };
    applyConfig(e, c);
    const adapter = new LocalEngine(e);
    const down = new Set<string>();
    const view = { server: (svc: string, srv: string) => ({ alive: !down.has(`${svc} ${srv}`), add: 0 }), quorumUp: () => true };
    const state = new ControlState(adapter, c, () => cfg(text), () => {}, view);
    const svc = (p: number) => `tcp ${VIP}:${p}`;
    const flip = async (p: number, k: number, isDown: boolean) => {
      if (isDown) down.add(`${svc(p)} ${rs(k)}:${p}`);
      else down.delete(`${svc(p)} ${rs(k)}:${p}`);
      await state.refresh([svc(p)]);
    };
    const edit = (p: number, k: number, w: number) => state.applyCommands([parseArgs(["-e", "-t", `${VIP}:${p}`, "-r", `${rs(k)}:${p}`, "-m", "-w", String(w)])]);
    const agree = async () => expect(mismatches(state.inEngine, await adapter.snapshot())).toEqual([]);
    const steps: (() => Promise<unknown>)[] = [
      () => flip(1000, 1, true), () => flip(1001, 2, true), () => edit(1002, 0, 4), () => flip(1000, 1, false),
      () => edit(1003, 1, 5), () => flip(1004, 0, true), () => edit(1001, 0, 6), () => flip(1001, 2, false),
    ];
    for (const step of steps) {
      await step();
      await agree();
    }
    // Refused (the server is not there): nothing changes, and the next steps find every change before it.
    await expect(edit(1005, 7, 2)).rejects.toThrow();
    for (const step of [() => edit(1005, 1, 9), () => flip(1003, 0, true), () => edit(1000, 2, 3), () => flip(1004, 0, false), () => flip(1003, 0, false)]) {
      await step();
      await agree();
    }
    // Every server up again: the engine holds the running configuration itself.
    expect(mismatches(state.running, await adapter.snapshot())).toEqual([]);
  });
});

describe("the model's routing verdicts, kept by the route list", () => {
  it("follow an interface's address filled after a first check, and a new configuration sharing the lists gives the same verdict", async () => {
    const { modelRefusals } = await import("../host/dataplane/changeset.js");
    // No default route: a DR server is reachable only on the inside interface's subnet.
    const text = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24\ninterface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24\n` +
      `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r ${rs(0)}:80 -g\n`;
    const prev = parseRules(text.replace(/-a .*\n/, ""), "r");
    const next = parseRules(text, "r");
    const sizes = { maxServices: 256, maxRealServers: 4096 };
    const refusals = (cfg: DirectorConfig) => modelRefusals(cfg, planDifference(prev, cfg).set, sizes).map((e) => e.reason);
    expect(refusals(next)).toEqual([]);
    // The inside interface's address as a device might give it, another subnet: the server is off-link.
    const inside = next.interfaces[1] as { address?: string };
    const was = inside.address;
    inside.address = "10.9.0.1/24";
    expect(refusals(next)).toEqual([`real server ${rs(0)}:80: real server is not on a directly connected network (direct routing needs one)`]);
    expect(refusals({ ...next })).toEqual([`real server ${rs(0)}:80: real server is not on a directly connected network (direct routing needs one)`]);
    inside.address = was;
    expect(refusals({ ...next })).toEqual([]);
  });
});
