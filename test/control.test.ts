// The control plane on the in-thread engine adapter, no TAP: changes apply entirely or
// not at all, concurrent changes and reloads are serialised, the model never drifts from
// the engine, and a reload keeps what the control plane learned that the file does not say.

import { describe, it, expect } from "vitest";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { mismatches } from "../host/config/model.js";
import { applyConfig, DirectorConfig, parseRules } from "../host/config/rules.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "./helpers/director.js";
import { eth, ipv4, tcp, SYN } from "./helpers/packet.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
neighbour ${CLIENT} 02:cc:00:00:00:02
`;
const server = (k: number) => `10.1.0.${11 + k}`;

async function setup(text: string, sizes: { maxRealServers?: number; maxServices?: number } = {}) {
  let fileText = text;
  const load = (): DirectorConfig => parseRules(fileText, "director.rules");
  const engine = await loadEngine({ batch: 64, connCapacity: 4096, ...sizes });
  const cfg = load();
  applyConfig(engine, cfg);
  const adapter = new LocalEngine(engine, () => 1000);
  const state = new ControlState(adapter, cfg, load);
  return {
    engine, adapter, state,
    setFile: (t: string) => { fileText = t; },
    cmd: (line: string) => state.applyCommands([parseArgs(line.split(/\s+/))]),
    drift: async () => mismatches(state.running, await adapter.snapshot()),
  };
}

/** A client's SYN to VIP:port through the engine: a connection to whichever server it picks. */
function connect(e: Awaited<ReturnType<typeof setup>>["engine"], sport: number, port = 80): void {
  const frame = eth(OUT_MAC, "02:cc:00:00:00:02", 0x0800, ipv4({ src: CLIENT, dst: VIP, proto: 6, payload: tcp({ src: CLIENT, dst: VIP, sport, dport: port, flags: SYN }) }));
  e.loadFrame(0, frame, 0);
  e.process(1, 1000);
}

describe("changes apply entirely or not at all", () => {
  it("a batch that needs a slot held by a removed server's connections is refused whole (was: applied part-way)", async () => {
    const rules = HEAD + "-A -t 10.0.0.100:80 -s rr\n" + Array.from({ length: 8 }, (_, k) => `-a -t 10.0.0.100:80 -r ${server(k)}:80 -m -w 2\n`).join("");
    const t = await setup(rules, { maxRealServers: 8 });
    connect(t.engine, 40000);
    const before = await t.adapter.snapshot();
    const busy = before.services[0].realServers.find((r) => r.active + r.inactive > 0)!;
    const other = before.services[0].realServers.find((r) => r !== busy)!;
    // [edit a weight, delete the server with a live connection, add a new one]: the table is full.
    const batch = [`-e -t 10.0.0.100:80 -r ${other.address}:80 -m -w 7`, `-d -t 10.0.0.100:80 -r ${busy.address}:80`, "-a -t 10.0.0.100:80 -r 10.1.0.99:80 -m"]
      .map((l) => parseArgs(l.split(" ")));
    await expect(t.state.applyCommands(batch)).rejects.toThrow(
      "the real-server table is full (8 real servers, 1 of them removed but still holding connections): this change needs 1 more (first: 10.1.0.99:80 in tcp 10.0.0.100:80); nothing was changed");
    const after = await t.adapter.snapshot();
    expect(after.services).toEqual(before.services);
    expect(await t.drift()).toEqual([]);
    // The edit alone goes through afterwards, and the model follows.
    expect(await t.cmd(`-e -t 10.0.0.100:80 -r ${other.address}:80 -m -w 1`)).toEqual([`real server ${other.address}:80 of tcp 10.0.0.100:80 now nat, weight 1`]);
    expect((await t.adapter.snapshot()).services[0].realServers.find((r) => r.address === other.address)!.weight).toBe(1);
    expect(await t.drift()).toEqual([]);
    // A server removed without connections frees its slot in the same batch.
    const idle = after.services[0].realServers.find((r) => r.address !== busy.address && r.address !== other.address)!;
    await t.state.applyCommands([`-d -t 10.0.0.100:80 -r ${idle.address}:80`, "-a -t 10.0.0.100:80 -r 10.1.0.99:80 -m"].map((l) => parseArgs(l.split(" "))));
    expect(await t.drift()).toEqual([]);
  });

  it("a full real-server table names the server that does not fit, wherever it is in the file (was: the last server of the file)", async () => {
    const svc = (port: number, servers: number[]) => `-A -t 10.0.0.100:${port} -s rr\n` + servers.map((k) => `-a -t 10.0.0.100:${port} -r ${server(k)}:${port} -m\n`).join("");
    const t = await setup(HEAD + svc(80, [0]) + svc(81, [1, 2]), { maxRealServers: 3 });
    // ipvsadm -a to the first service: the new server is named, not 10.1.0.13:81 (the last one the file lists).
    await expect(t.cmd("-a -t 10.0.0.100:80 -r 10.1.0.99:80 -m")).rejects.toThrow(
      "the real-server table is full (3 real servers): this change needs 1 more (first: 10.1.0.99:80 in tcp 10.0.0.100:80); nothing was changed");
    // A reload that inserts a server in the middle of the file: that one is named, with its line.
    t.setFile(HEAD + svc(80, [0, 5]) + svc(81, [1, 2]));
    await expect(t.state.reloadFile()).rejects.toThrow(
      "director.rules:6:24: '10.1.0.16:80': the real-server table is full (3 real servers): this change needs 1 more (first: 10.1.0.16:80 in tcp 10.0.0.100:80); nothing was changed");
    expect((await t.adapter.snapshot()).services.flatMap((s) => s.realServers.map((r) => r.address))).toHaveLength(3);
    expect(await t.drift()).toEqual([]);
  });

  it("services: the table's size is named, nothing changes", async () => {
    const t = await setup(HEAD + "-A -t 10.0.0.100:80 -s rr\n-A -t 10.0.0.100:81 -s rr\n", { maxServices: 2 });
    await expect(t.cmd("-A -t 10.0.0.100:82 -s rr")).rejects.toThrow("service tcp 10.0.0.100:82: the service table is full (2 services)");
    expect((await t.adapter.snapshot()).services.length).toBe(2);
    // A reload that adds a service above the others: that one is named, at its line.
    t.setFile(HEAD + "-A -t 10.0.0.100:79 -s rr\n-A -t 10.0.0.100:80 -s rr\n-A -t 10.0.0.100:81 -s rr\n");
    await expect(t.state.reloadFile()).rejects.toThrow("director.rules:4:7: '10.0.0.100:79': service tcp 10.0.0.100:79: the service table is full (2 services): this change would make 3; nothing was changed");
    expect(await t.drift()).toEqual([]);
  });
});

describe("one model, serialised changes", () => {
  it("a reload keeps what the control plane changed and the file did not (was: a reload revived a weight set to 0)", async () => {
    const file = (w: number, extra = "") => HEAD + `-A -t 10.0.0.100:80 -s wrr\n-a -t 10.0.0.100:80 -r ${server(0)}:80 -m -w ${w}\n-a -t 10.0.0.100:80 -r ${server(1)}:80 -m -w 1\n${extra}`;
    const t = await setup(file(3));
    const weightOf = async (a: string) => (await t.adapter.snapshot()).services[0].realServers.find((r) => r.address === a)?.weight;
    await t.cmd(`-e -t 10.0.0.100:80 -r ${server(0)}:80 -m -w 0`); // as an external checker would
    expect(await t.state.reloadFile()).toEqual([]);
    expect(await weightOf(server(0))).toBe(0);
    // The file changed that server: the file wins.
    t.setFile(file(5));
    await t.state.reloadFile();
    expect(await weightOf(server(0))).toBe(5);
    // A server the operator removed stays removed while the file does not change it; one the file adds comes.
    await t.cmd(`-d -t 10.0.0.100:80 -r ${server(1)}:80`);
    t.setFile(file(5, `-a -t 10.0.0.100:80 -r ${server(2)}:80 -m -w 4\n`));
    expect(await t.state.reloadFile()).toEqual([`real server ${server(2)}:80 added to tcp 10.0.0.100:80 (nat, weight 4)`]);
    expect(await weightOf(server(1))).toBeUndefined();
    // A service the control plane added is kept across reloads.
    await t.cmd("-A -t 10.0.0.100:90 -s rr");
    await t.state.reloadFile();
    expect((await t.adapter.snapshot()).services.map((s) => s.port).sort()).toEqual([80, 90]);
    expect(await t.drift()).toEqual([]);
  });

  it("interleaved control requests and reloads, fired concurrently at random: the model never drifts from the engine", async () => {
    let seed = 12345;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const fileFor = (k: number) => HEAD + Array.from({ length: 3 }, (_, s) => `-A -t 10.0.0.100:${80 + s} -s ${["rr", "wrr", "wlc"][(s + k) % 3]}\n` +
      Array.from({ length: 1 + ((k + s) % 4) }, (_, r) => `-a -t 10.0.0.100:${80 + s} -r ${server(r)}:${80 + s} -m -w ${(k + r) % 5}\n`).join("")).join("");
    const t = await setup(fileFor(0), { maxRealServers: 16 });
    const ops: (() => Promise<unknown>)[] = [];
    for (let i = 0; i < 400; i++) {
      const port = 80 + rand(4);
      const rs = server(rand(6));
      const choice = rand(8);
      if (choice === 0) {
        const k = rand(5);
        ops.push(() => { t.setFile(fileFor(k)); return t.state.reloadFile(); });
      } else {
        const line = [
          `-a -t 10.0.0.100:${port} -r ${rs}:${port} -m -w ${rand(4)}`, `-e -t 10.0.0.100:${port} -r ${rs}:${port} -m -w ${rand(4)}`,
          `-d -t 10.0.0.100:${port} -r ${rs}:${port}`, `-A -t 10.0.0.100:${port} -s rr`, `-D -t 10.0.0.100:${port}`, `-E -t 10.0.0.100:${port} -s wlc`,
          `-a -t 10.0.0.100:${port} -r 192.0.2.${rand(3)}:${port} -g`, // refused: not on-link
        ][choice - 1];
        ops.push(() => t.cmd(line));
      }
      if (i % 20 === 0) connect(t.engine, 30000 + i, port);
    }
    // Fired all at once, as concurrent clients and SIGHUPs would; many are refused.
    const results = await Promise.allSettled(ops.map((f) => f()));
    expect(results.some((r) => r.status === "fulfilled")).toBe(true);
    expect(results.some((r) => r.status === "rejected")).toBe(true);
    expect(await t.drift()).toEqual([]);
    // And one at a time, checking after each.
    for (const f of ops.slice(0, 120)) {
      await f().catch(() => {});
      expect(await t.drift()).toEqual([]);
    }
  });
});

describe("a command's copy of the running list (the last one's list, brought up to date)", () => {
  it("edits, refusals, additions, removals and a reload one after another: each command sees every one before it, and the engine agrees", async () => {
    const svc = (port: number) => `-A -t 10.0.0.100:${port} -s wrr\n` + [0, 1].map((k) => `-a -t 10.0.0.100:${port} -r ${server(k)}:${port} -m -w 1\n`).join("");
    const rules = HEAD + [80, 81, 82].map(svc).join("");
    const t = await setup(rules);
    const weights = () => t.state.running.services.map((s) => `${s.port}:${s.realServers.map((r) => r.weight).join(",")}`).join(" ");
    const edit = (port: number, k: number, w: number) => t.cmd(`-e -t 10.0.0.100:${port} -r ${server(k)}:${port} -m -w ${w}`);
    await edit(80, 0, 2);
    await edit(81, 1, 3);
    await edit(82, 0, 4);
    // The list before the second edit (80 changed) is the third's copy: 80's change is in it.
    expect(weights()).toBe("80:2,1 81:1,3 82:4,1");
    // A batch refused after its first command touched 81: nothing of it stays, in the next copies either.
    await expect(t.state.applyCommands(["-e -t 10.0.0.100:81 -r 10.1.0.11:81 -m -w 9", "-e -t 10.0.0.100:81 -r 10.1.0.99:81 -m -w 9"]
      .map((l) => parseArgs(l.split(" "))))).rejects.toThrow();
    await edit(80, 1, 5);
    expect(weights()).toBe("80:2,5 81:1,3 82:4,1");
    await edit(82, 1, 6);
    expect(weights()).toBe("80:2,5 81:1,3 82:4,6");
    await t.cmd("-A -t 10.0.0.100:83 -s rr");
    await edit(81, 0, 7);
    await t.cmd("-D -t 10.0.0.100:80");
    await edit(82, 0, 8);
    await edit(83, 0, 0).catch(() => {}); // 83 has no server 0: refused
    await edit(81, 1, 9);
    expect(weights()).toBe("81:7,9 82:8,6 83:");
    expect(await t.drift()).toEqual([]);
    // A reload (a list the merge made: 84 added by the file; 80's removal stays) and edits after it.
    t.setFile(rules + svc(84));
    await t.state.reload();
    await edit(82, 1, 10);
    await edit(81, 0, 11);
    await edit(82, 0, 12);
    await edit(84, 1, 13);
    expect(weights()).toBe("81:11,9 82:12,10 84:1,13 83:");
    expect(await t.drift()).toEqual([]);
  });
});

describe("control-plane timer lateness", () => {
  it("records how late a periodic timer fires: last, greatest, 99th percentile (fake clock)", async () => {
    const { Lateness } = await import("../host/io/lateness.js");
    const l = new Lateness(100, 0);
    let t = 0;
    for (let k = 0; k < 200; k++) { t += 100; l.fired(t); }
    expect(l.view()).toEqual({ periodMs: 100, lastMs: 0, maxMs: 0, p99Ms: 0, count: 200, sumMs: 0, buckets: Array(10).fill(200) });
    t += 100 + 37; // one firing 37 ms late
    l.fired(t);
    for (let k = 0; k < 10; k++) { t += 102; l.fired(t); }
    expect(l.view()).toMatchObject({ lastMs: 2, maxMs: 37 });
    expect(l.p99Ms()).toBe(2);
    // Over 1% of the samples 50 ms late: the 99th percentile follows them.
    for (let k = 0; k < 5; k++) { t += 150; l.fired(t); }
    expect(l.view()).toMatchObject({ lastMs: 50, maxMs: 50, p99Ms: 50 });
    // The histogram since start (buckets at 1 2 5 10 20 50 100 ... ms, cumulative).
    expect(l.view()).toMatchObject({ count: 216, sumMs: 37 + 20 + 250, buckets: [200, 210, 210, 210, 210, 216, 216, 216, 216, 216] });
  });
});

describe("housekeeping on a fake clock", () => {
  it("writes the status every second, runs the estimator every two, and measures a stalled event loop", async () => {
    const { FakeClock } = await import("../host/io/clock.js");
    const { Housekeeping } = await import("../host/control/housekeeping.js");
    const { Estimator } = await import("../host/control/estimator.js");
    const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-hk-"));
    try {
      const t = await setup(HEAD + "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m\n");
      const clock = new FakeClock();
      const health = { errors: 0, lagMs: 0, lagMaxMs: 0, refused: 0 };
      let writes = 0;
      // Each checked real server, made one at a time as the file is written (HealthService.eachView).
      const checked = Array.from({ length: 300 }, (_, i) => ({ server: `10.1.0.${i % 250}:80`, alive: i % 2 === 0, reason: "line\n\"two\"" }));
      const hk = new Housekeeping(t.adapter, clock, new Estimator(), {
        status: join(dir, "status.json"), health, survived: () => { health.errors++; },
        statusOf: (s, control) => { writes++; return { connections: s.connectionCount, control }; },
        checks: function* () { yield* checked; },
      });
      await hk.start();
      expect(writes).toBe(1);
      const flush = () => hk.settled(); // the async writes settle (however slow the disk)
      const seconds = async (n: number) => { for (let k = 0; k < n; k++) { clock.advance(1000); await flush(); } };
      await seconds(3);
      expect(writes).toBe(4);
      // A write still going when the next is due is not doubled.
      clock.advance(1000);
      clock.advance(1000);
      await flush();
      expect(writes).toBe(5);
      for (let k = 0; k < 50; k++) connect(t.engine, 50000 + k);
      await seconds(2);
      expect(hk.estimator.rates("tcp 10.0.0.100:80").cps).toBeGreaterThan(0);
      const written = readFileSync(join(dir, "status.json"), "utf8");
      expect(JSON.parse(written)).toMatchObject({ connections: 50, control: { timer: { maxMs: 0 }, health: checked } });
      expect(written).toBe(JSON.stringify(JSON.parse(written), null, 1));
      // The event loop blocked for 350 ms: the heartbeat fires once, 250 ms late.
      clock.stall(350);
      expect(health.lagMs).toBe(250);
      expect(hk.lateness.view().maxMs).toBe(250);
      await hk.stop();
      await seconds(5);
      expect(writes).toBe(8); // the last write at stop, nothing after
      expect(health.errors).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it("an estimator tick gives way to a command being served: it waits until the command is done, or 20 ms at most", async () => {
    const { FakeClock } = await import("../host/io/clock.js");
    const { Housekeeping } = await import("../host/control/housekeeping.js");
    const { Estimator } = await import("../host/control/estimator.js");
    const t = await setup(HEAD + "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m\n");
    const clock = new FakeClock();
    const health = { errors: 0, lagMs: 0, lagMaxMs: 0, refused: 0 };
    const estimator = new Estimator();
    const hk = new Housekeeping(t.adapter, clock, estimator, { health, survived: () => { health.errors++; }, statusOf: () => ({}) });
    await hk.start();
    const turns = async () => { for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r)); };
    const cps = () => estimator.rates("tcp 10.0.0.100:80").cps;
    let settled = false;
    const watch = () => { settled = false; void hk.settled().then(() => { settled = true; }); };
    expect(estimator.commands.quiet(() => ({ cancel() {} }))).toBeUndefined(); // none served: no wait
    for (let k = 0; k < 50; k++) connect(t.engine, 50000 + k);
    // A command is served when the tick is due: the tick waits for it.
    estimator.commands.started();
    clock.advance(2000);
    watch();
    await turns();
    expect(settled).toBe(false);
    expect(cps()).toBe(0);
    estimator.commands.done();
    await hk.settled();
    expect(cps()).toBeGreaterThan(0);
    // A command that is never done (commands one after another): each piece of the tick waits
    // 20 ms at most (this tick: a wait before its one slice, after it, and before the next ask).
    estimator.commands.started();
    for (let k = 0; k < 50; k++) connect(t.engine, 51000 + k);
    const before = cps();
    clock.advance(2000);
    watch();
    let waited = 0;
    for (; waited < 200 && !settled; waited++) { await turns(); clock.advance(1); }
    expect(settled).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(20);
    expect(waited).toBeLessThanOrEqual(60);
    expect(cps()).not.toBe(before);
    estimator.commands.done();
    await hk.stop();
    expect(health.errors).toBe(0);
  });
});

