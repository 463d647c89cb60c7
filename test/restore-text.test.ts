// ipvsadm -R sent as its text (host/cli/ipvsadm.ts restoreRequests, host/control/restore.ts):
// the director reads each part's lines as they come and builds ipvsadm-save's -A/-a lines into
// records straight from the text. The table, the engine and the changes must be exactly what
// the same lines gave as parsed commands through applyCommands, refusals (with their line)
// included, and a refused -R changes nothing.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState } from "../host/control/daemon.js";
import { Estimator } from "../host/control/estimator.js";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { IpvsadmError, parseArgs, wordsOf } from "../host/config/ipvsadm.js";
import { RestoreScript } from "../host/control/restore.js";
import { startControl } from "../host/control/server.js";
import { ipvsadm, requestSeries } from "../host/cli/ipvsadm.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC } from "./helpers/director.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
max_services 16384
max_real_servers 131072
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m -w 1
-A -u 10.0.0.101:53 -s wlc
`;

async function director() {
  const e = await loadEngine({ batch: 16, connCapacity: 1024, maxServices: 16384, maxRealServers: 131072 });
  const c = parseRules(HEAD, "d.rules");
  applyConfig(e, c);
  const adapter = new LocalEngine(e);
  const log: string[] = [];
  return { adapter, state: new ControlState(adapter, c, () => c, (l) => log.push(l)), log };
}

/** What an engine holds, as text (counters left out). */
async function held(adapter: LocalEngine): Promise<string> {
  const snap = await adapter.snapshot();
  return JSON.stringify(snap.services, (k, v) => (k === "stats" ? undefined : typeof v === "bigint" ? String(v) : v));
}

/** The -R's lines as parsed commands, as the control socket's "apply" took them. */
function parsedLines(text: string) {
  return text.split(/\r?\n/).map((l, i) => ({ words: wordsOf(l), line: i + 1 }))
    .filter((c) => c.words.length && !c.words[0].startsWith("#")).map((c) => ({ ...parseArgs(c.words), line: c.line }));
}

/** The text in parts of whole lines (as the client cuts it), read as the director reads them. */
function scriptOf(text: string, parts = 3): RestoreScript {
  const lines = text.split("\n");
  const script = new RestoreScript();
  const per = Math.ceil(lines.length / parts);
  for (let k = 0; k * per < lines.length; k++) {
    const part = new RestoreScript();
    const chunk = lines.slice(k * per, (k + 1) * per);
    part.addText(chunk.join("\n") + ((k + 1) * per < lines.length ? "\n" : ""), k * per + 1);
    script.append(part);
  }
  return script;
}

/** The outcome of one way of applying: changes or refusal, the running configuration, the engine. */
async function outcome(apply: (s: ControlState) => Promise<string[]>) {
  const d = await director();
  const before = d.state.running;
  let result: string;
  try {
    result = JSON.stringify(await apply(d.state));
  } catch (e) {
    result = `refused ${(e as IpvsadmError).status}: ${(e as Error).message}`;
  }
  return { result, running: JSON.stringify(d.state.running), same: d.state.running === before, engine: await held(d.adapter), log: d.log };
}

/** A restore of n services (ipvsadm-save's lines) with the unusual ones among them. */
function restoreText(n: number, from = 0): string {
  const lines = ["# ipvsadm-save -n", ""];
  for (let i = from; i < from + n; i++) {
    const vip = `10.0.${2 + (i >> 8)}.${i & 255}`;
    const udp = i % 7 === 3;
    const proto = udp ? "-u" : "-t";
    lines.push(`-A ${proto} ${vip}:80 -s ${i % 500 === 7 ? "mh" : ["rr", "wrr", "wlc", "lc", "sh"][i % 5]}${i % 4 === 1 ? " -p 300" : ""}`);
    for (let j = 0; j < 10; j++) {
      // NAT to another port, DR on the service's port, and one written without its port.
      const host = `10.1.0.${((i + 20 * j) % 250) + 2}`;
      const rip = j === 2 ? host : `${host}:${j === 5 ? 80 : 8080 + j}`;
      lines.push(`-a ${proto} ${vip}:80 -r ${rip} ${j === 5 ? "-g" : "-m"} -w ${(i + j) % 5}`);
    }
  }
  return lines.join("\n") + "\n";
}

describe("ipvsadm -R's text built by the director: what its lines gave as parsed commands", () => {
  const cases: [string, string][] = [
    ["ipvsadm-save's lines of 400 services", restoreText(400)],
    ["after -C, with CRLF, an -a to a service there before, edits, a removal and the service added again, --set",
      "-C\r\n" + restoreText(40).replace(/\n/g, "\r\n") + "-A -t 10.0.0.100:80 -s rr\r\n-a -t 10.0.0.100:80 -r 10.1.0.11:80 -m -w 1\r\n" +
      "-a -t 10.0.2.3:80 -r 10.1.9.9:80 -m -w 3\r\n-e -t 10.0.2.4:80 -r 10.1.0.5:8080 -m -w 9\r\n-E -t 10.0.2.5:80 -s lc\r\n" +
      "-D -t 10.0.2.6:80\r\n-A -t 10.0.2.6:80 -s wrr\r\n-a -t 10.0.2.6:80 -r 10.1.0.7:8080 -m -w 2\r\n--set 10 20 30\r\n"],
    ["-a lines to the services the file has, and a block written with two spaces", "-a -t 10.0.0.100:80 -r 10.1.0.12:80 -m -w 2\n" +
      "-a -u 10.0.0.101:53 -r 10.1.0.12 -m -w 2\n-A -t 10.0.0.102:80  -s rr\n-a -t 10.0.0.102:80 -r 10.1.0.12:80 -m -w 2\n" +
      "-a -t 10.0.0.102:80 -r 10.1.0.13:80 -i -w 2\n# done\n"],
    ["a service there already (line 333 of a large -R)", restoreText(30) + "-A -t 10.0.0.100:80 -s rr\n" + restoreText(30, 30)],
    ["the same server twice in a block", restoreText(20) + "-A -t 10.0.9.9:80 -s rr\n-a -t 10.0.9.9:80 -r 10.1.0.1:80 -m -w 1\n" +
      "-a -t 10.0.9.9:80 -r 10.1.0.2:80 -m -w 1\n-a -t 10.0.9.9:80 -r 10.1.0.1:80 -m -w 4\n" + restoreText(20, 20)],
    ["a server of a service that is not there", restoreText(20) + "-a -t 10.0.9.9:80 -r 10.1.0.1:80 -m -w 1\n"],
    ["a service added twice, its servers after the second", "-A -t 10.0.9.9:80 -s rr\n-A -t 10.0.9.9:80 -s rr\n-a -t 10.0.9.9:80 -r 10.1.0.1:80 -m -w 1\n"],
    ["a VIP that is another service's real server (checked with the table)", "-A -t 10.0.9.9:80 -s rr\n-a -t 10.0.9.9:80 -r 10.1.0.11:80 -m -w 1\n-A -t 10.1.0.11:80 -s rr\n"],
    ["a server the engine cannot reach (its line named)", restoreText(10) + "-A -t 10.0.9.9:80 -s rr\n-a -t 10.0.9.9:80 -r 192.0.2.1:80 -g -w 1\n"],
  ];
  for (const [name, text] of cases) {
    it(name, async () => {
      const old = await outcome((s) => s.applyCommands(parsedLines(text)));
      const now = await outcome((s) => s.applyRestore(scriptOf(text)));
      expect(now.result).toBe(old.result);
      expect(now.running).toBe(old.running);
      expect(now.engine).toBe(old.engine);
      expect(now.log).toEqual(old.log);
      // A refusal changes nothing; a restore that went through changed the table.
      expect(now.same).toBe(now.result.startsWith("refused"));
    });
  }

  it("the cases refuse where they should, with the line", async () => {
    const refusal = async (text: string) => (await outcome((s) => s.applyRestore(scriptOf(text)))).result;
    expect(await refusal(cases[3][1])).toBe("refused 255: line 333: Service already exists");
    expect(await refusal(cases[4][1])).toBe("refused 255: line 226: Destination already exists");
    expect(await refusal(cases[5][1])).toBe("refused 255: line 223: Service not defined");
    expect(await refusal(cases[8][1])).toMatch(/^refused 255: line 114: /);
  });

  it("a wrong line in a later part refuses that part with its line, as the client's check would", () => {
    const text = restoreText(50) + "-a -t 10.0.2.1:80 -r 10.1.0.1:80 -m -w 70000\n";
    expect(() => scriptOf(text)).toThrow("line 553: illegal weight specified");
    expect(() => scriptOf("-A -t 10.0.9.9:80 -s rr\n-L -n\n")).toThrow("line 2: 'list' is not a change");
    expect(() => scriptOf(`-A -t 10.0.9.9:80 -s rr ${"-p 1 ".repeat(40)}\n`)).toThrow('line 1: a command is {"argv": [up to 64 words of up to 256 characters], "line": N}');
  });
});

describe("wasmvs -R through the control socket", () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "wasmvs-rt-")); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a large -R in parts gives the table the commands gave; a bad line anywhere changes nothing, refused before anything is sent", async () => {
    const d = await director();
    const path = join(dir, "a.sock");
    const server = await startControl({ engine: d.adapter, estimator: new Estimator(), log: () => {}, applyCommands: (c) => d.state.applyCommands(c),
      applyRestore: (s) => d.state.applyRestore(s), reloadFile: () => d.state.reloadFile() }, path);
    const saved = process.env.WASMVS_SOCKET;
    process.env.WASMVS_SOCKET = path;
    try {
      const text = restoreText(10000);
      const out: string[] = [];
      const err: string[] = [];
      const run = (input: string) => ipvsadm(["-R"], (s) => out.push(s), (s) => err.push(s), () => input);
      // A bad line at the end: the client refuses it with its line; nothing was sent.
      const before = d.state.running;
      expect(await run(text + "-a -t 10.0.2.1:80 -r 10.1.0.1:80 -m -w x\n")).toBe(2);
      expect(err.join("")).toBe("restore: line 110003: illegal weight specified\n");
      expect(d.state.running).toBe(before);
      // The director's refusal, with its line: nothing changed either.
      err.length = 0;
      expect(await run(text + "-A -t 10.0.0.100:80 -s rr\n")).toBe(255);
      expect(err.join("")).toBe("line 110003: Service already exists\n");
      expect(d.state.running).toBe(before);
      // The whole -R (5 MB: two parts), then what the commands give on another director.
      err.length = 0;
      const status = await run(text);
      expect(err).toEqual([]);
      expect(status).toBe(0);
      const old = await outcome((s) => s.applyCommands(parsedLines(text)));
      expect(JSON.stringify(d.state.running)).toBe(old.running);
      expect(await held(d.adapter)).toBe(old.engine);
      // Parts sent by another client, a wrong line in the second (the director reads each line
      // itself): refused with its line, the later parts refused, nothing changed; the slot is free after.
      const running = d.state.running;
      const part = (line: number, text: string, more = true) => ({ op: "restore", line, text, ...(more ? { more } : {}) });
      expect(await requestSeries(path, [part(1, "-A -t 10.0.99.9:80 -s rr\n"), part(2, "-a -t 10.0.99.9:80 -r 10.1.0.21:80 -m -w 1\n-a -t 10.0.99.9:80 -r 10.1.0.2:80 -m -w 1 -x\n"),
        part(4, "-a -t 10.0.99.9:80 -r 10.1.0.3:80 -m -w 1\n", false)])).toEqual({ ok: false, error: "line 3: ipvsadm: option requires an argument -- 'x'", status: 2 });
      expect(d.state.running).toBe(running);
      expect(await requestSeries(path, [part(1, "-A -t 10.0.99.9:80 -s rr\n"), part(2, "-a -t 10.0.99.9:80 -r 10.1.0.21:80 -m -w 1\n", false)])).toEqual({ ok: true, changed: 2 });
      expect(d.state.running.services.at(-1)).toMatchObject({ address: "10.0.99.9", port: 80, realServers: [{ address: "10.1.0.21", port: 80, weight: 1, line: 2 }] });
    } finally {
      if (saved === undefined) delete process.env.WASMVS_SOCKET;
      else process.env.WASMVS_SOCKET = saved;
      server.close();
    }
  }, 60_000);
});
