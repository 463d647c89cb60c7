// Attacks on issue 19's tables, change sets and parted -R (helper X): edge sizes, change
// sets that must be refused whole, and model/engine drift after a refusal.

import { describe, it, expect } from "vitest";
import { applyChangeSet, ChangeRefused, ChangeSet } from "../host/engine/changes.js";
import { Engine } from "../host/engine/index.js";
import { planDifference } from "../host/dataplane/changeset.js";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { mismatches } from "../host/config/model.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { loadEngine } from "../host/engine/node.js";
import { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "./helpers/director.js";
import { eth, ipv4, tcp, SYN } from "./helpers/packet.js";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { check } from "../host/cli/check.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Estimator } from "../host/control/estimator.js";
import { ControlOptions, startControl } from "../host/control/server.js";
import { requestSeries } from "../host/cli/ipvsadm.js";
import { parseIp } from "../host/engine/addr.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
route default via 10.0.0.254
neighbour ${CLIENT} 02:cc:00:00:00:02
`;
const rs = (k: number) => `10.1.0.${11 + k}`;
type Svc = { port: number; sched?: string; servers: number[] };
const rules = (services: Svc[]) => HEAD + services.map((s) => `-A -t ${VIP}:${s.port} -s ${s.sched ?? "wrr"}\n` +
  s.servers.map((k) => `-a -t ${VIP}:${s.port} -r ${rs(k)}:${s.port} -m -w 1\n`).join("")).join("");
const cfg = (text: string) => parseRules(text, "d.rules");
const picture = (e: Engine) => ({ memory: Buffer.from(new Uint8Array(e.memory.buffer)).toString("base64"), services: e.services(), free: e.freeRealServerSlots() });

async function director(text: string, sizes: Parameters<typeof loadEngine>[0] = {}) {
  let fileText = text;
  const e = await loadEngine({ batch: 16, connCapacity: 1024, ...sizes });
  const c = cfg(text);
  applyConfig(e, c);
  const adapter = new LocalEngine(e, () => 1000);
  const state = new ControlState(adapter, c, () => cfg(fileText));
  return { e, c, adapter, state, setFile: (t: string) => { fileText = t; }, drift: async () => mismatches(state.running, await adapter.snapshot()) };
}

function syn(e: Engine, sport: number, dport: number) {
  const frame = eth(OUT_MAC, "02:cc:00:00:00:02", 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport, dport, flags: SYN }) }));
  e.loadFrame(0, frame, 0);
  return e.process(1, 1000);
}

describe("service table at its edge", () => {
  it("max_services 1: a reload that fills it exactly goes, one past is refused whole", async () => {
    const d = await director(rules([]), { maxServices: 2 });
    d.setFile(rules([{ port: 80, servers: [0] }, { port: 81, servers: [1] }]));
    await d.state.reload();
    expect(await d.drift()).toEqual([]);
    const pic = picture(d.e);
    d.setFile(rules([{ port: 80, servers: [0] }, { port: 81, servers: [1] }, { port: 82, servers: [] }]));
    await expect(d.state.reload()).rejects.toThrow(/service table is full/);
    expect(picture(d.e)).toEqual(pic);
    expect(await d.drift()).toEqual([]);
    // swap one service for another at the edge: removals first, so it goes
    d.setFile(rules([{ port: 80, servers: [0] }, { port: 82, servers: [1] }]));
    await d.state.reload();
    expect(await d.drift()).toEqual([]);
  });
});

describe("the scheduler arena at its edge", () => {
  it("a change to maglev when the arena is full is refused whole with the setting named", async () => {
    const d = await director(rules([{ port: 80, sched: "maglev", servers: [0] }, { port: 81, servers: [1] }]), { maglevServices: 1, schedulerMemory: 0 });
    const pic = picture(d.e);
    await expect(d.state.applyCommands([parseArgs(["-E", "-t", `${VIP}:81`, "-s", "maglev"])])).rejects.toThrow(/scheduler memory full/);
    expect(picture(d.e)).toEqual(pic);
    expect(await d.drift()).toEqual([]);
    // one leaves maglev, the other takes it, in one reload: the table is handed over
    d.setFile(rules([{ port: 80, sched: "rr", servers: [0] }, { port: 81, sched: "maglev", servers: [1] }]));
    await d.state.reload();
    expect(await d.drift()).toEqual([]);
    expect(syn(d.e, 4000, 81)).toBe(1);
  });

  it("maglev gives its table back and mh wants one of another size: refused whole, model and engine agree", async () => {
    // Arena: one maglev table (maglev_services 1) and nothing else.
    const d = await director(rules([{ port: 80, sched: "maglev", servers: [0] }, { port: 81, sched: "rr", servers: [1] }]), { maglevServices: 1, schedulerMemory: 0 });
    const pic = picture(d.e).services;
    d.setFile(rules([{ port: 80, sched: "rr", servers: [0] }, { port: 81, sched: "mh", servers: [1] }]));
    let err: unknown;
    try { await d.state.reload(); } catch (x) { err = x; }
    expect(err).toBeDefined();
    expect(String((err as Error).message)).toMatch(/^d\.rules:\d+:\d+: .*scheduler memory full/);
    const unindexed = (l: ReturnType<Engine["services"]>) => l.map((x) => ({ ...x, realServers: x.realServers.map(({ index: _i, ...r }) => r) }));
    expect(unindexed(d.e.services())).toEqual(unindexed(pic));
    expect(await d.drift()).toEqual([]);
    expect(syn(d.e, 4001, 80)).toBe(1);
  });
});

describe("real servers at the edge", () => {
  it("a server removed with connections and added again in one reload at a full table goes (it takes its record back)", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 });
    expect(syn(d.e, 5000, 80)).toBe(1);
    expect(syn(d.e, 5001, 80)).toBe(1);
    await d.state.applyCommands([parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`])]);
    expect(await d.drift()).toEqual([]);
    // Back again, as an -a: the lingering record is taken back (IPVS's trash)
    await d.state.applyCommands([parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`, "-m"])]);
    expect(await d.drift()).toEqual([]);
  });

  it("delete and re-add of the same server with connections in one set at a full table", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 });
    expect(syn(d.e, 5000, 80)).toBe(1);
    expect(syn(d.e, 5001, 80)).toBe(1);
    await d.state.applyCommands([parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`, "-m", "-w", "3"])]);
    expect(await d.drift()).toEqual([]);
  });

  it("a server removed with connections holds its record; a new one at a full table is refused whole, naming it", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 });
    expect(syn(d.e, 5000, 80)).toBe(1);
    await d.state.applyCommands([parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`]), parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(1)}:80`])]);
    const pic = picture(d.e);
    await expect(d.state.applyCommands([parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(2)}:80`, "-m"]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(3)}:80`, "-m"])]))
      .rejects.toThrow(/real-server table is full \(2 real servers, 1 of them removed but still holding connections\)/);
    expect(picture(d.e)).toEqual(pic);
    expect(await d.drift()).toEqual([]);
  });
});

describe("an -R in parts, as a careless client sends it", () => {
  const RULES = `interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 mac ${IN_MAC} address ${DIRECTOR_IN}/24
-A -t 10.0.0.100:80 -s rr
`;
  async function controlDaemon(path: string, o: ControlOptions = {}) {
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const c = parseRules(RULES, "r");
    applyConfig(engine, c);
    const adapter = new LocalEngine(engine);
    const state = new ControlState(adapter, c, () => c);
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (x) => state.applyCommands(x), reloadFile: () => state.reloadFile() }, path, o);
    return { server, engine, state, adapter };
  }
  const add = (port: number) => ({ argv: ["-A", "-t", `10.0.0.100:${port}`, "-s", "rr"], line: port });
  const part = (from: number, n: number) => Array.from({ length: n }, (_, i) => add(from + i));
  /** Lines written at once (pipelined); resolves with the n replies. */
  function pipelined(path: string, reqs: unknown[]): Promise<{ ok: boolean; error?: string }[]> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      let got = "";
      s.on("data", (d) => {
        got += d.toString();
        const lines = got.split("\n").filter(Boolean);
        if (lines.length >= reqs.length) { s.destroy(); resolve(lines.map((l) => JSON.parse(l))); }
      });
      s.on("error", reject);
      s.on("connect", () => s.write(reqs.map((r) => JSON.stringify(r) + "\n").join("")));
    });
  }

  it("a refused middle part refuses the whole -R: the parts after it are not applied on their own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-x19-"));
    const path = join(dir, "c.sock");
    const d = await controlDaemon(path);
    try {
      const before = d.engine.services().length;
      const replies = await pipelined(path, [
        { op: "apply", commands: part(1000, 3), more: true },
        { op: "apply", commands: [{ argv: ["-A", "-t", "10.0.0.100:bogus"], line: 7 }], more: true },
        { op: "apply", commands: part(2000, 3), more: true },
        { op: "apply", commands: part(3000, 3) },
      ]);
      expect(replies[1].ok).toBe(false);
      expect(replies[3].ok).toBe(false);
      expect(d.engine.services().length).toBe(before);
      expect(mismatches(d.state.running, await d.adapter.snapshot())).toEqual([]);
      // The slot is free again for the next -R (and this connection's next -R goes whole).
      expect(await requestSeries(path, [{ op: "apply", commands: part(4000, 2), more: true }, { op: "apply", commands: part(4100, 1) }])).toMatchObject({ ok: true });
      expect(d.engine.services().length).toBe(before + 3);
      // Its first part refused, alike; and a first part that finds the slot taken by another client.
      const first = await pipelined(path, [
        { op: "apply", commands: [{ argv: ["-A", "-t", "10.0.0.100:bogus"], line: 1 }], more: true },
        { op: "apply", commands: part(6000, 2), more: true },
        { op: "apply", commands: part(6100, 1) },
      ]);
      expect(first.map((r) => r.ok)).toEqual([false, false, false]);
      const holder = await pipelined(path, [{ op: "apply", commands: part(7000, 1), more: true }]);
      expect(holder[0].ok).toBe(true); // (closed: its slot comes back)
      const holding = connect(path);
      await new Promise<void>((resolve) => { holding.on("data", () => resolve()); holding.on("connect", () => holding.write(JSON.stringify({ op: "apply", commands: part(7100, 1), more: true }) + "\n")); });
      const blocked = await pipelined(path, [
        { op: "apply", commands: part(7200, 2), more: true },
        { op: "apply", commands: part(7300, 1) },
      ]);
      holding.destroy();
      expect(blocked.map((r) => r.ok)).toEqual([false, false]);
      expect(d.engine.services().length).toBe(before + 3);
      expect(mismatches(d.state.running, await d.adapter.snapshot())).toEqual([]);
    } finally {
      d.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a client that sends parts and goes quiet gives the slot back at its idle timeout; a part of 0 commands holds nothing wrong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-x19-"));
    const path = join(dir, "c.sock");
    const d = await controlDaemon(path, { idleTimeoutMs: 200 });
    try {
      const holder = connect(path);
      const first = await new Promise<string>((resolve) => {
        holder.on("data", (x) => resolve(x.toString()));
        holder.on("connect", () => holder.write(JSON.stringify({ op: "apply", commands: [], more: true }) + "\n"));
      });
      expect(JSON.parse(first)).toEqual({ ok: true, pending: 0 });
      expect(await requestSeries(path, [{ op: "apply", commands: part(5000, 1), more: true }])).toMatchObject({ ok: false });
      await new Promise((r) => setTimeout(r, 600));
      expect(holder.destroyed || holder.readableEnded).toBe(true);
      expect(await requestSeries(path, [{ op: "apply", commands: part(5000, 1), more: true }, { op: "apply", commands: [] }])).toMatchObject({ ok: true });
      expect(d.engine.services().map((s) => s.port)).toContain(5000);
    } finally {
      d.server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("sizes that do not fit together", () => {
  const base = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
`;
  it("check refuses a connection table and a scheduler arena that fit alone but not together, at file:line:column (was: OK, and the director failed to start)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-x19-"));
    try {
      const f = join(dir, "d.rules");
      writeFileSync(f, `${base}connections 67108864\nscheduler_memory 2G\n-A -t ${VIP}:80 -s rr\n`);
      await expect(check(f)).rejects.toThrow(`${f}:3:1: 'connections': the engine's tables do not fit in a WebAssembly memory (4 GiB)`);
      // Alone, each fits.
      writeFileSync(f, `${base}scheduler_memory 2G\n-A -t ${VIP}:80 -s rr\n`);
      expect(await check(f)).toContain("OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("maglev_services that cannot fit is refused at its line, not as 'init: not enough memory'", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-x19-"));
    try {
      const f = join(dir, "d.rules");
      writeFileSync(f, `${base}maglev_services 65536\n-A -t ${VIP}:80 -s rr\n`);
      await expect(check(f)).rejects.toThrow(`${f}:3:1: 'maglev_services': the engine's tables do not fit in a WebAssembly memory (4 GiB)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("more edges", () => {
  it("a service deleted with connections and added back with its server at a full real-server table", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0] }, { port: 81, sched: "rr", servers: [1] }]), { maxRealServers: 2 });
    expect(syn(d.e, 5000, 80)).toBe(1);
    await d.state.applyCommands([parseArgs(["-D", "-t", `${VIP}:80`])]);
    expect(await d.drift()).toEqual([]);
    const pic = picture(d.e);
    let err: unknown;
    try {
      await d.state.applyCommands([parseArgs(["-A", "-t", `${VIP}:80`, "-s", "rr"]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`, "-m"])]);
    } catch (x) { err = x; }
    if (err) {
      // refused: whole, and said plainly
      expect(String((err as Error).message)).toMatch(/real-server table is full/);
      expect(picture(d.e)).toEqual(pic);
    }
    expect(await d.drift()).toEqual([]);
  });

  it("a delete and an add of the same server with connections, as one set, at a full table", async () => {
    const { e, c } = await (async () => { const x = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 }); return x; })();
    expect(syn(e, 5000, 80)).toBe(1);
    expect(syn(e, 5001, 80)).toBe(1);
    const ref = { protocol: "tcp" as const, address: VIP, vaddr: parseIp(VIP), port: 80 };
    const server = { address: rs(0), daddr: parseIp(rs(0)), port: 80, method: "nat" as const, weight: 1, uthreshold: 0, lthreshold: 0 };
    // The engine itself takes the record back (one op after the other):
    const probe = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 });
    expect(syn(probe.e, 5000, 80)).toBe(1);
    expect(syn(probe.e, 5001, 80)).toBe(1);
    const svc = probe.e.findService("tcp", VIP, 80)!;
    probe.e.deleteRealServer(probe.e.findRealServer(svc, rs(0), 80)!);
    probe.e.addRealServer(svc, { ...server, weight: 5 });
    const set: ChangeSet = { ops: [{ op: "delete-server", service: ref, server }, { op: "add-server", service: ref, server: { ...server, weight: 5 } }] };
    applyChangeSet(e, set);
    expect(e.services()[0].realServers.map((r) => [r.address, r.weight]).sort()).toEqual([[rs(0), 5], [rs(1), 1]]);
    void c;
  });

  it("zeroing a table of 4,096 services is bounded and zeroes them all", async () => {
    const svcs = Array.from({ length: 4096 }, (_, i) => ({ port: 1000 + i, sched: "rr", servers: [i % 4] }));
    const d = await director(rules(svcs), { maxServices: 4096, maxRealServers: 8192 });
    expect(syn(d.e, 5000, 1000)).toBe(1);
    const t = Date.now();
    await d.adapter.zero(undefined);
    expect(Date.now() - t).toBeLessThan(5000);
    expect(d.e.services().every((s) => s.stats.conns === 0n && s.stats.inpkts === 0n)).toBe(true);
    expect(await d.drift()).toEqual([]);
  });
});

describe("listing while the table changes", () => {
  it("a sorted listing whose services are deleted and replaced between its slices ends, without a trap, and lists each service once", async () => {
    const svcs = Array.from({ length: 600 }, (_, i) => ({ port: 1000 + i, sched: "rr", servers: [i % 4] }));
    const d = await director(rules(svcs), { maxServices: 1024, maxRealServers: 2048 });
    for (const sorted of [true, false]) {
      const seen: number[] = [];
      let n = 0;
      for await (const slice of d.adapter.serviceSlices(sorted)) {
        for (const s of slice) seen.push(s.port);
        if (n++ === 0) {
          // Between two slices: a change set deletes the rest and adds others (indices reused).
          const dels = Array.from({ length: 300 }, (_, i) => parseArgs(["-D", "-t", `${VIP}:${(sorted ? 1300 : 1600) - 300 + i}`]));
          const adds = Array.from({ length: 300 }, (_, i) => parseArgs(["-A", "-t", `${VIP}:${(sorted ? 3000 : 4000) + i}`, "-s", "rr"]));
          await d.state.applyCommands([...dels, ...adds]);
        }
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect(await d.drift()).toEqual([]);
    }
  });
});

describe("listing a large service while it is replaced", () => {
  it("a service read in two slices, deleted and its record reused by another between them, is not listed with the other's servers", async () => {
    const many = (port: number, from: number) => Array.from({ length: 1500 }, (_, i) => `-a -t ${VIP}:${port} -r ${rs(0)}:${from + i} -m\n`).join("");
    const d = await director(HEAD + `-A -t ${VIP}:80 -s rr\n` + many(80, 10000), { maxServices: 16, maxRealServers: 4096 });
    const listed: { port: number; servers: number[] }[] = [];
    // The change goes between the listing's first and second request to the data path.
    const adapter = d.adapter as unknown as { request: (r: { op: string }) => Promise<unknown> };
    const request = adapter.request.bind(adapter);
    let reads = 0;
    adapter.request = async (r) => {
      const reply = await request(r);
      if (r.op === "services" && reads++ === 0) {
        await d.state.applyCommands([parseArgs(["-D", "-t", `${VIP}:80`]), parseArgs(["-A", "-t", `${VIP}:81`, "-s", "rr"]),
          ...Array.from({ length: 1500 }, (_, i) => parseArgs(["-a", "-t", `${VIP}:81`, "-r", `${rs(0)}:${20000 + i}`, "-m"]))]);
      }
      return reply;
    };
    for await (const slice of d.adapter.serviceSlices(false)) {
      for (const s of slice) listed.push({ port: s.port, servers: s.realServers.map((r) => r.port) });
    }
    expect(reads).toBeGreaterThan(1);
    // Whatever is listed of each service is its own.
    for (const l of listed) {
      const own = l.port === 80 ? (p: number) => p >= 10000 && p < 11500 : (p: number) => p >= 20000 && p < 21500;
      expect(l.servers.filter((p) => !own(p)), `service ${l.port}`).toEqual([]);
    }
  });
});

describe("table sizes on reload", () => {
  const body = rules([{ port: 80, servers: [0] }]).slice(HEAD.length);
  it("a size setting removed from the file is refused like a changed one, at a file:line:column; the default written out is no change", async () => {
    for (const [setting, opts] of [["scheduler_memory 32M", { schedulerMemory: 32 * 1048576 }], ["max_services 2048", { maxServices: 2048 }], ["max_real_servers 9000", { maxRealServers: 9000 }]] as const) {
      const d = await director(HEAD + setting + "\n" + body, opts);
      const pic = picture(d.e);
      d.setFile(HEAD + body);
      let err: unknown;
      try { await d.state.reload(); } catch (x) { err = x; }
      expect(String((err as Error)?.message), setting).toMatch(/^d\.rules:\d+:\d+: .*restart wasmvs to change it/);
      expect(picture(d.e)).toEqual(pic);
    }
    const d = await director(HEAD + body);
    d.setFile(HEAD + "scheduler_memory 16M\nmax_services 1024\nmax_real_servers 8192\n" + body);
    await d.state.reload();
    expect(await d.drift()).toEqual([]);
  });
});

describe("health flips at a full table", () => {
  // DEFECT (left open, not a small fix): the room check of a command or reload counts what the
  // engine holds (effective: servers health took out do not count), so an -a takes the record of
  // a server that is down; when that server passes again its flip is refused (table full) and
  // dropped (refresh clears its dirty keys before it applies), and once room comes back (the -a
  // undone) nothing brings it back: a healthy server stays out of the engine until its next
  // flip. Either a down server keeps its room (commit counts the running configuration) or a
  // refused flip stays pending and is retried when a change frees records.
  it("a server that comes back up when its record was taken meanwhile is in the engine once there is room again", async () => {
    const text = rules([{ port: 80, sched: "rr", servers: [0, 1] }, { port: 81, sched: "rr", servers: [] }]);
    const e = await loadEngine({ batch: 16, connCapacity: 1024, maxRealServers: 2 });
    const c = cfg(text);
    c.services[0].health = { quorum: 0, hysteresis: 0, omega: false, smtpAlert: false, where: { file: "d.rules", line: c.services[0].line, column: 1 } };
    applyConfig(e, c);
    const adapter = new LocalEngine(e);
    const down = new Set<string>();
    const view = { server: (svc: string, srv: string) => ({ alive: !down.has(`${svc} ${srv}`), add: 0 }), quorumUp: () => true };
    const state = new ControlState(adapter, c, () => cfg(text), () => {}, view);
    down.add(`tcp ${VIP}:80 ${rs(0)}:80`);
    await state.refresh([`tcp ${VIP}:80`]);
    expect(e.services()[0].realServers).toHaveLength(1);
    let added = true;
    try {
      await state.applyCommands([parseArgs(["-a", "-t", `${VIP}:81`, "-r", `${rs(2)}:81`, "-m"])]);
    } catch {
      added = false; // the down server kept its room: also right
    }
    down.clear();
    await state.refresh([`tcp ${VIP}:80`]).catch(() => {});
    expect(mismatches(state.inEngine, await adapter.snapshot())).toEqual([]);
    if (added) await state.applyCommands([parseArgs(["-d", "-t", `${VIP}:81`, "-r", `${rs(2)}:81`])]);
    // The refused change is tried again behind the change that freed room (the same queue).
    await state.refresh([]);
    // Room again: the healthy server is back in the engine.
    expect(e.services()[0].realServers.map((r) => r.address).sort()).toEqual([rs(0), rs(1)]);
  });
});

describe("the arena gives back what it lends", () => {
  it("schedulers changed round and round, services deleted and added back, by change sets and refused ones: every byte comes back", async () => {
    const d = await director(rules([]), { maglevServices: 2, maglevTableSize: 251, schedulerMemory: 64 * 1024 });
    const free0 = d.e.schedulerMemoryFree();
    const cycle = ["sh", "mh", "maglev", "dh", "rr", "maglev", "mh", "sh"];
    let flows = 0;
    for (let round = 0; round < 3; round++) {
      for (const sched of cycle) {
        d.setFile(rules([{ port: 80, sched, servers: [0, 1] }, { port: 81, sched: cycle[(cycle.indexOf(sched) + 3) % cycle.length], servers: [2] }]));
        await d.state.reload();
        expect(await d.drift()).toEqual([]);
        // A new flow is scheduled to a server (frames may wait for ARP: the connection is the proof).
        const made = Number(d.e.counters().conns_created ?? 0);
        syn(d.e, 6000 + flows++, 80);
        expect(Number(d.e.counters().conns_created)).toBe(made + 1);
      }
      // A refused one in between: three maglev services where two fit.
      d.setFile(rules([{ port: 80, sched: "maglev", servers: [0] }, { port: 81, sched: "maglev", servers: [1] }, { port: 82, sched: "maglev", servers: [2] }]));
      await d.state.reload().catch(() => {});
      expect(await d.drift()).toEqual([]);
    }
    d.setFile(rules([]));
    await d.state.reload();
    expect(d.e.schedulerMemoryFree()).toBe(free0);
  });
});

describe("requests with garbage", () => {
  it("zero and list with a malformed service answer a plain error, and the daemon serves on", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-x19-"));
    const path = join(dir, "c.sock");
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const c = parseRules(`interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24\n-A -t 10.0.0.100:80 -s rr\n`, "r");
    applyConfig(engine, c);
    const adapter = new LocalEngine(engine);
    const state = new ControlState(adapter, c, () => c);
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (x) => state.applyCommands(x), reloadFile: () => state.reloadFile() }, path);
    try {
      const replies: string[] = [];
      for (const req of [{ op: "zero", service: "abc" }, { op: "zero", service: { protocol: "tcp", address: "not-an-ip", port: 80 } },
        { op: "zero", service: { protocol: "tcp", address: "10.0.0.100", port: 99999 } }, { op: "zero", service: { fwmark: -1 } },
        { op: "zero", service: { protocol: "sctp", address: "10.0.0.100", port: 80 } }, { op: "list", argv: ["-L", "-t", "10.0.0.100:80:80"] },
        { op: "apply", commands: [{ argv: ["-A", "-t", "10.0.0.100:81", "-s", "maglev", "-b", "x".repeat(5000)] }] }, { op: "apply", commands: {} , more: true }]) {
        const r = await requestSeries(path, [req]).catch((e) => ({ ok: false, error: `thrown: ${(e as Error).message}` }));
        replies.push(`${JSON.stringify(req).slice(0, 90)} -> ${r.ok} ${String(r.error).slice(0, 160)}`);
      }
      for (const r of replies) expect(r).toMatch(/ -> false /);
      expect(replies.filter((r) => /\n\s+at |TypeError|RangeError|Cannot read|undefined/.test(r))).toEqual([]);
      expect((await requestSeries(path, [{ op: "table" }])).ok).toBe(true);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("what a full table is blamed on", () => {
  it("a scheduler change refused for scheduler memory says so, also when the service table is full (was: 'the service table is full')", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0] }]), { maxServices: 1, schedulerMemory: 0 });
    const pic = picture(d.e);
    await expect(d.state.applyCommands([parseArgs(["-E", "-t", `${VIP}:80`, "-s", "sh"])])).rejects.toThrow(
      "service tcp 10.0.0.100:80: scheduler memory full (0 MiB; a maglev table takes 256.1 KiB, one of sh 1 KiB; the director's scheduler_memory)");
    expect(() => d.e.editService(d.e.findService("tcp", VIP, 80)!, "mh")).toThrow(/scheduler memory full/);
    expect(picture(d.e)).toEqual(pic);
    expect(await d.drift()).toEqual([]);
    // Adding one at a full table is still the service table's fault.
    await expect(d.state.applyCommands([parseArgs(["-A", "-t", `${VIP}:81`, "-s", "sh"])])).rejects.toThrow(/the service table is full \(1 services/);
    expect(() => d.e.addService({ protocol: "tcp", address: VIP, port: 82, scheduler: "sh" })).toThrow(/the service table is full \(1 services; the director's max_services\)/);
  });
});

describe("one -R that deletes and re-adds", () => {
  it("an -R that deletes and adds back a server with connections at a full table goes whole; a file that adds it twice is refused at its line", async () => {
    const d = await director(rules([{ port: 80, sched: "rr", servers: [0, 1] }]), { maxRealServers: 2 });
    expect(syn(d.e, 5000, 80)).toBe(1);
    expect(syn(d.e, 5001, 80)).toBe(1);
    await d.state.applyCommands([parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(0)}:80`, "-m", "-w", "4"]),
      parseArgs(["-d", "-t", `${VIP}:80`, "-r", `${rs(1)}:80`]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", `${rs(1)}:80`, "-m", "-w", "5"])]);
    expect(await d.drift()).toEqual([]);
    expect(d.e.services()[0].realServers.map((r) => [r.address, r.weight]).sort()).toEqual([[rs(0), 4], [rs(1), 5]]);
    const pic = picture(d.e);
    const twice = rules([{ port: 80, sched: "rr", servers: [0, 1] }]) + `-a -t ${VIP}:80 -r ${rs(0)}:80 -m -w 4\n`;
    d.setFile(twice);
    await expect(d.state.reload()).rejects.toThrow(new RegExp(`^d\\.rules:${twice.split("\n").length - 1}:\\d+: .*already in the service`));
    expect(picture(d.e)).toEqual(pic);
    expect(await d.drift()).toEqual([]);
  });
});

describe("arena bytes of another size", () => {
  it("free bytes held by a maglev table do not serve mh tables: the set is refused whole, at its line, and nothing drifts", async () => {
    const d = await director(rules([{ port: 80, sched: "maglev", servers: [0] }]), { maglevServices: 1, schedulerMemory: 0 });
    d.setFile(rules([]));
    await d.state.reload();
    const pic = picture(d.e);
    d.setFile(rules([{ port: 81, sched: "mh", servers: [0] }, { port: 82, sched: "mh", servers: [1] }]));
    let err: unknown;
    try { await d.state.reload(); } catch (x) { err = x; }
    expect(String((err as Error)?.message)).toMatch(/^d\.rules:\d+:\d+: .*scheduler memory full/);
    expect(picture(d.e).services).toEqual(pic.services);
    expect(d.e.schedulerMemoryFree()).toBe(d.e.schedulerBytes("maglev"));
    expect(await d.drift()).toEqual([]);
  });
});
