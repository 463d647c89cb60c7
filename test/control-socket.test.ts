// The control socket as an attacker and a careless operator would use it, on the
// in-thread engine adapter (no TAP): created with its final mode whatever the umask,
// bounded request lines, idle clients cut off, never deleting what it did not create,
// refusing a second daemon on the same path.

import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { connect, Server } from "node:net";
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { Estimator } from "../host/control/estimator.js";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { ControlOptions, startControl } from "../host/control/server.js";
import { request, requestSeries } from "../host/cli/ipvsadm.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC } from "./helpers/director.js";

const RULES = `interface 0 mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 mac ${IN_MAC} address ${DIRECTOR_IN}/24
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m
`;

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "wasmvs-cs-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function daemon(path: string, o: ControlOptions = {}): Promise<Server> {
  const engine = await loadEngine({ batch: 8, connCapacity: 64 });
  const cfg = parseRules(RULES, "r");
  applyConfig(engine, cfg);
  const adapter = new LocalEngine(engine);
  const state = new ControlState(adapter, cfg, () => cfg);
  return startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c), reloadFile: () => state.reloadFile() }, path, o);
}

/** Send raw bytes; resolves with everything the daemon answered before closing. */
function raw(path: string, data: string | Buffer, waitClose = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
      if (!waitClose && got.includes("\n")) { s.destroy(); resolve(got); }
    });
    s.on("close", () => resolve(got));
    s.on("error", (e) => (got ? resolve(got) : reject(e)));
    s.on("connect", () => s.write(data));
  });
}

describe("the control socket", () => {
  it("is created 0600 even under umask 000 (was: a window between listen and chmod)", async () => {
    const old = process.umask(0);
    try {
      const path = join(dir, "umask.sock");
      const server = await daemon(path);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      server.close();
      const g = await daemon(join(dir, "group.sock"), { gid: 0 });
      expect(statSync(join(dir, "group.sock")).mode & 0o777).toBe(0o660);
      g.close();
    } finally {
      process.umask(old);
    }
  });

  it("takes an -R larger than one line in parts on one connection, applies it whole with the last, one such batch at a time", async () => {
    const path = join(dir, "parts.sock");
    const server = await daemon(path, { maxRequestBytes: 4096 });
    try {
      const add = (port: number, line: number) => ({ argv: ["-A", "-t", `10.0.0.100:${port}`, "-s", "rr"], line });
      const part = (from: number, n: number) => Array.from({ length: n }, (_, i) => add(from + i, from + i));
      const listing = async () => (await request(path, { op: "table" })).table as { services: unknown[] };
      const before = (await listing()).services.length;
      // Parts held: nothing applied until the last; another client's batch waits its turn.
      const holder = connect(path);
      const first = await new Promise<string>((resolve) => {
        holder.on("data", (d) => resolve(d.toString()));
        holder.on("connect", () => holder.write(JSON.stringify({ op: "apply", commands: part(1000, 20), more: true }) + "\n"));
      });
      expect(JSON.parse(first)).toEqual({ ok: true, pending: 20 });
      expect((await listing()).services.length).toBe(before);
      const other = await requestSeries(path, [{ op: "apply", commands: part(2000, 2), more: true }]);
      expect(other).toMatchObject({ ok: false, error: "another ipvsadm -R is being sent to this director: try again once it is done" });
      // The holder leaves: its parts are dropped and the slot is free again.
      holder.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const r = await requestSeries(path, [0, 1, 2].map((k) => ({ op: "apply", commands: part(3000 + 20 * k, 20), ...(k < 2 ? { more: true } : {}) })));
      expect(r).toMatchObject({ ok: true });
      expect((await listing()).services.length).toBe(before + 60);
      // A part that fails in the last one changes nothing of the whole (all or none).
      const bad = await requestSeries(path, [
        { op: "apply", commands: part(4000, 20), more: true },
        { op: "apply", commands: [add(3000, 99)] }, // exists already
      ]);
      expect(bad).toMatchObject({ ok: false });
      expect(bad.error).toMatch(/line 99: Service already exists|already exists/);
      expect((await listing()).services.length).toBe(before + 60);
    } finally {
      server.close();
    }
  });

  it("refuses a request line past its bound, says so, and keeps serving others", async () => {
    const path = join(dir, "big.sock");
    const server = await daemon(path, { maxRequestBytes: 64 * 1024 });
    const reply = await raw(path, Buffer.alloc(1024 * 1024, 0x61));
    expect(JSON.parse(reply.split("\n")[0])).toEqual({ ok: false, error: "request too long (over 65536 bytes): refused", status: 2 });
    // A long line that does end in a newline is refused alike, without being parsed.
    const withNewline = await raw(path, "x".repeat(200 * 1024) + "\n");
    expect(withNewline).toContain("request too long");
    const ok = await request(path, { op: "table" });
    expect(ok.ok).toBe(true);
    expect(ok.table!.services.length).toBe(1);
    server.close();
  });

  it("ipvsadm over the socket refuses a VIP or real server that is not unicast and -y above -x, and changes nothing", async () => {
    const path = join(dir, "unicast.sock");
    const server = await daemon(path);
    try {
      const apply = async (line: string) => JSON.parse((await raw(path, JSON.stringify({ op: "apply", commands: [{ argv: line.split(" ") }] }) + "\n", false)).trim());
      const before = (await request(path, { op: "table" })).table;
      for (const [line, error] of [
        ["-A -t 224.0.0.18:80", "224.0.0.18 is a multicast address (224.0.0.0/4), VRRP's group: a virtual address must be a unicast address"],
        ["-A -t 127.0.0.1:80", "127.0.0.1 is a loopback address (127.0.0.0/8), which Linux never accepts from the wire: a virtual address must be a unicast address"],
        [`-A -u 10.0.0.255:53`, "10.0.0.255 is the broadcast address of 10.0.0.0/24 (interface if0): a virtual address must be a unicast address"],
        [`-A -t 10.1.0.0:80`, "10.1.0.0 is the network address of 10.1.0.0/24 (interface if1): a virtual address must be a unicast address"],
        ["-a -t 10.0.0.100:80 -r 10.1.0.12:80 -m -x 5 -y 10",
          "real server 10.1.0.12:80: lower threshold (-y) 10 is higher than upper threshold (-x) 5; IPVS refuses it (\"lower threshold is higher than upper threshold\")"],
        ["-e -t 10.0.0.100:80 -r 10.1.0.11:80 -m -y 3",
          "real server 10.1.0.11:80: lower threshold (-y) 3 is higher than upper threshold (-x) 0 (none set): without an upper threshold the lower one must be 0; IPVS refuses it (\"lower threshold is higher than upper threshold\")"],
      ] as const) expect(await apply(line)).toEqual({ ok: false, error, status: 2 });
      expect((await request(path, { op: "table" })).table).toEqual(before);
      expect(await apply("-a -t 10.0.0.100:80 -r 10.1.0.12:80 -m -x 10 -y 5")).toMatchObject({ ok: true });
    } finally {
      server.close();
    }
  });

  it("answers garbage with an error, not a crash", async () => {
    const path = join(dir, "junk.sock");
    const server = await daemon(path);
    expect(JSON.parse((await raw(path, "{not json\n", false)).trim())).toMatchObject({ ok: false, error: "request is not JSON" });
    expect(JSON.parse((await raw(path, '{"op":"apply","commands":7}\n', false)).trim())).toMatchObject({ ok: false, status: 2 });
    expect(JSON.parse((await raw(path, '{"op":"nosuch"}\n', false)).trim())).toMatchObject({ ok: false, error: 'unknown request "nosuch"' });
    // Commands are command lines the daemon parses itself; no structure from a client is trusted.
    const apply = async (commands: unknown) => JSON.parse((await raw(path, JSON.stringify({ op: "apply", commands }) + "\n", false)).trim());
    expect(await apply([{ command: "add-service" }])).toMatchObject({ ok: false, status: 2,
      error: 'a command is {"argv": [up to 64 words of up to 256 characters], "line": N}' });
    expect(await apply([{ argv: ["-L", "-n"] }])).toMatchObject({ ok: false, error: "'list' is not a change" });
    expect(await apply([{ argv: new Array(65).fill("-n") }])).toMatchObject({ ok: false, status: 2 });
    expect(await apply([{ argv: ["-A", "-t", "10.0.0.100:81"], line: 1 }, { argv: ["-A", "-t", "10.0.0.300:81"], line: 2 }]))
      .toMatchObject({ ok: false, error: "line 2: illegal virtual server address[:port] specified" });
    expect(await apply([{ argv: ["-A", "-t", "10.0.0.100:81", "-s", "rr"] }])).toMatchObject({ ok: true, changes: ["service tcp 10.0.0.100:81 added (rr)"] });
    expect((await request(path, { op: "table" })).ok).toBe(true);
    server.close();
  });

  it("serves one request of a client at a time: 2,000 pipelined and never read are not all answered into memory; others are served; the client is closed", async () => {
    const path = join(dir, "pipe.sock");
    // A table of 300 services: each reply is some 100 KB.
    const rules = RULES + Array.from({ length: 300 }, (_, i) => `-A -t 10.0.${1 + (i >> 8)}.${i & 255}:80 -s wlc\n-a -t 10.0.${1 + (i >> 8)}.${i & 255}:80 -r 10.1.0.11:80 -m\n`).join("");
    const engine = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 512 });
    const cfg = parseRules(rules, "r");
    applyConfig(engine, cfg);
    const adapter = new LocalEngine(engine);
    let served = 0;
    const snapshot = adapter.snapshot.bind(adapter);
    adapter.snapshot = () => { served++; return snapshot(); };
    const state = new ControlState(adapter, cfg, () => cfg);
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c), reloadFile: () => state.reloadFile() },
      path, { idleTimeoutMs: 1500 });
    const one = (await request(path, { op: "table" })) as { table: unknown };
    const replyBytes = JSON.stringify({ ok: true, ...one }).length;
    expect(replyBytes).toBeGreaterThan(50_000);
    served = 0;
    const greedy = connect(path);
    greedy.on("error", () => {});
    greedy.pause(); // never reads
    await new Promise<void>((r) => greedy.once("connect", () => r()));
    greedy.write(`{"op":"table"}\n`.repeat(2000));
    await new Promise((r) => setTimeout(r, 500));
    // Served only as far as the kernel's socket buffers take the replies, then waiting.
    const servedWhileUnread = served;
    expect(servedWhileUnread).toBeGreaterThan(0);
    expect(servedWhileUnread).toBeLessThan(40);
    // Others are served meanwhile.
    expect((await request(path, { op: "table" })).ok).toBe(true);
    // The client that never reads goes quiet and the daemon closes it at the idle timeout
    // (seen from the daemon's side: a client that never reads never sees the FIN).
    const clients = () => new Promise<number>((r) => server.getConnections((_, n) => r(n)));
    const start = Date.now();
    while ((await clients()) > 0 && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(await clients()).toBe(0);
    expect(served - 1).toBeLessThan(40);
    greedy.destroy();
    server.close();
  });

  it("closes an idle client", async () => {
    const path = join(dir, "idle.sock");
    const server = await daemon(path, { idleTimeoutMs: 200 });
    const start = Date.now();
    await new Promise<void>((resolve) => {
      const s = connect(path);
      s.on("close", () => resolve());
      s.on("error", () => {});
    });
    expect(Date.now() - start).toBeGreaterThanOrEqual(150);
    server.close();
  });

  it("answers a request that takes longer than the idle timeout (a reload of a large table), and closes the client once idle after it", async () => {
    const path = join(dir, "slow.sock");
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const cfg = parseRules(RULES, "r");
    applyConfig(engine, cfg);
    const adapter = new LocalEngine(engine);
    const state = new ControlState(adapter, cfg, () => cfg);
    // The reload takes 600 ms against an idle timeout of 200 (was: the client closed at 200 ms, the reply lost).
    const slowReload = async () => { await new Promise((r) => setTimeout(r, 600)); return state.reloadFile(); };
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c), reloadFile: slowReload },
      path, { idleTimeoutMs: 200 });
    const start = Date.now();
    const reply = await raw(path, `{"op":"reload"}\n`);
    expect(JSON.parse(reply.trim())).toEqual({ ok: true, changes: [] });
    // Answered at ~600 ms, then closed by the idle timeout ~200 ms later.
    expect(Date.now() - start).toBeGreaterThanOrEqual(750);
    server.close();
  });

  it("marks a command as served from its request to its reply (the estimator's tick waits meanwhile), a listing only until its stream begins", async () => {
    const path = join(dir, "inflight.sock");
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const cfg = parseRules(RULES, "r");
    applyConfig(engine, cfg);
    const adapter = new LocalEngine(engine);
    const state = new ControlState(adapter, cfg, () => cfg);
    const estimator = new Estimator();
    const served = () => estimator.commands.quiet(() => ({ cancel() {} })) !== undefined;
    let release!: () => void;
    let seen: boolean | undefined;
    const held = async (c: Parameters<typeof state.applyCommands>[0]) => {
      seen = served();
      await new Promise<void>((r) => { release = r; });
      return state.applyCommands(c);
    };
    const server = await startControl({ engine: adapter, estimator, log: () => {}, applyCommands: held, reloadFile: () => state.reloadFile() }, path);
    expect(served()).toBe(false);
    const reply = request(path, { op: "apply", commands: [{ argv: ["-e", "-t", "10.0.0.100:80", "-r", "10.1.0.11:80", "-m", "-w", "3"] }] });
    while (seen === undefined) await new Promise((r) => setTimeout(r, 5));
    expect(seen).toBe(true);
    release();
    expect((await reply).ok).toBe(true);
    expect(served()).toBe(false);
    // A refused request and a listing are marked done too.
    expect((await request(path, { op: "nonsense" })).ok).toBe(false);
    expect(served()).toBe(false);
    const lines = await raw(path, `{"op":"list","argv":["-L","-n"]}\n`, false);
    expect(lines).toContain("10.1.0.11:80");
    expect(served()).toBe(false);
    server.close();
  });

  it("a client whose connection closes without a reply says so instead of waiting forever", async () => {
    const path = join(dir, "mute.sock");
    const mute = (await import("node:net")).createServer((s) => s.once("data", () => s.destroy()));
    await new Promise<void>((r) => mute.listen(path, () => r()));
    await expect(request(path, { op: "table" })).rejects.toThrow(`the director on ${path} closed the connection without answering`);
    mute.close();
  }, 10000);

  it("never deletes what it did not create, and refuses a second daemon on the same path", async () => {
    const file = join(dir, "precious.txt");
    writeFileSync(file, "keep me");
    await expect(daemon(file)).rejects.toThrow(`control socket ${file}: the path exists and is not a socket; not touching it`);
    expect(readFileSync(file, "utf8")).toBe("keep me");
    const path = join(dir, "one.sock");
    const first = await daemon(path);
    await expect(daemon(path)).rejects.toThrow(`control socket ${path}: another wasmvs director is running there`);
    expect(existsSync(path)).toBe(true);
    expect((await request(path, { op: "table" })).ok).toBe(true);
    first.close();
    await new Promise((r) => setTimeout(r, 50));
    // Closing removes the socket; the path is free for the next daemon.
    expect(existsSync(path)).toBe(false);
    const second = await daemon(path);
    expect((await request(path, { op: "table" })).ok).toBe(true);
    second.close();
  });
});

describe("wasmvs reload", () => {
  it("shows the new file's warnings to whoever reloaded (a misspelt keyword ignored as keepalived does), then the changes (issue 17 attack: they were only in the log)", async () => {
    const { parseKeepalived } = await import("../host/config/keepalived.js");
    const { execFile } = await import("node:child_process");
    const file = join(dir, "reload-warn.conf");
    const director = `director {\n  interface eth0 {\n    mac ${OUT_MAC}\n    address ${DIRECTOR_OUT}/24\n  }\n}\n`;
    const service = (extra: string) => `virtual_server 10.0.0.100 80 {\n  protocol TCP\n  real_server ${DIRECTOR_OUT.replace(/\d+$/, "11")} 80 {\n${extra}    weight 1\n  }\n}\n`;
    writeFileSync(file, director + service(""));
    const engine = await loadEngine({ batch: 8, connCapacity: 64 });
    const cfg = parseKeepalived(file);
    applyConfig(engine, cfg);
    const adapter = new LocalEngine(engine);
    const log: string[] = [];
    const state = new ControlState(adapter, cfg, () => parseKeepalived(file), (l) => log.push(l));
    const path = join(dir, "reload-warn.sock");
    const server = await startControl({ engine: adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => state.applyCommands(c),
      reloadFile: () => state.reloadFile(), reload: () => state.reload() }, path);
    try {
      writeFileSync(file, director + service("    wieght 0\n"));
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
        execFile(process.execPath, [join(import.meta.dirname, "..", "bin", "wasmvs.js"), "reload", "--socket", path], { timeout: 30000 },
          (e, stdout, stderr) => res({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr })));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^warning: ${file}:10:5: wieght: unknown keyword in real_server \\(did you mean 'weight'\\?\\): ignored, as keepalived does`));
      expect(r.stdout).toBe("no change\n");
      expect(log.join("\n")).toMatch(/wieght: unknown keyword/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
