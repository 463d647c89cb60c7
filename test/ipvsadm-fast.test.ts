// The fast paths of ipvsadm's grammar (host/config/ipvsadm.ts parseCommon, host/config/rules.ts's
// -A/-a lines, host/cli/ipvsadm.ts restoreRequests): each gives exactly what the general path gives
// for the lines it takes, and leaves every other line (refusals and warnings included) to it.
import { beforeEach, describe, expect, it } from "vitest";
import { ipToWire } from "../host/engine/addr.js";
import { parseArgs, parseCarefully, parseCommon, saveLine, scanSaveLine } from "../host/config/ipvsadm.js";
import { clearParseCache, readRules } from "../host/config/rules.js";
import { restoreRequests } from "../host/cli/ipvsadm.js";

const WORDS = {
  head: ["-A", "-E", "-a", "-e", "-D", "-d", "-L"],
  kind: ["-t", "-u", "-f", "-r"],
  vip: ["10.0.0.100:80", "10.0.0.100:0", "10.0.0.100", "10.0.0.100:65535", "10.0.0.100:65536", "10.0.0.100:080", "010.0.0.100:80", "10.0.0.256:80", "10.0.0:80", "7"],
  rip: ["10.1.0.11:8080", "10.1.0.11", "10.1.0.11:80", "10.1.0.11:0", "10.1.0.11:99999", "1.2.3.4.5"],
  sched: ["rr", "wrr", "wlc", "mh", "maglev", "nope", "fo", "-p"],
  method: ["-m", "-g", "-i", "-x"],
  num: ["1", "0", "65535", "65536", "000007", "0000007", "300", "2678400", "-1", "x"],
};

/** Every command of the common shapes, with each word swapped for a neighbour of it. */
function corpus(): string[][] {
  const out: string[][] = [];
  for (const head of WORDS.head) {
    for (const kind of WORDS.kind) {
      for (const vip of WORDS.vip) {
        for (const sched of WORDS.sched) out.push([head, kind, vip, "-s", sched]);
        for (const n of WORDS.num) out.push([head, kind, vip, "-s", "wrr", "-p", n], [head, kind, vip, "-s", "wrr", "-q", n]);
        for (const rip of WORDS.rip) {
          for (const m of WORDS.method) for (const n of ["1", "65536", "x", "0"]) out.push([head, kind, vip, "-r", rip, m, "-w", n], [head, kind, vip, "-r", rip, m, "-x", n]);
        }
      }
    }
  }
  return out;
}

const outcome = (f: () => unknown) => {
  try {
    return JSON.stringify(f());
  } catch (e) {
    return `refused: ${(e as Error).message}`;
  }
};

describe("parseCommon: the general parser's result, field for field and in order, or nothing", () => {
  it("each command of the corpus: what parseCarefully gives, or left to it", () => {
    let taken = 0;
    for (const argv of corpus()) {
      const p = parseCommon(argv);
      if (p === undefined) continue;
      taken++;
      // JSON: the same fields in the same order (the daemon compares records by their JSON).
      expect(JSON.stringify(p), argv.join(" ")).toBe(outcome(() => parseCarefully(argv)));
    }
    expect(taken).toBeGreaterThan(300);
  });

  it("parseArgs gives what parseCarefully gives, refusals and warnings included (one command in 16 of the corpus)", () => {
    corpus().forEach((argv, i) => {
      if (i % 16 === 0) expect(outcome(() => parseArgs(argv)), argv.join(" ")).toBe(outcome(() => parseCarefully(argv)));
    });
  });

  it("scanSaveLine takes a line only where parseCommon takes its words, reads the same fields, and warns of nothing", () => {
    let taken = 0;
    for (const argv of corpus()) {
      // As written, and with a word moved by a second space or a tab (left to the general path).
      for (const line of [argv.join(" "), argv.join("  "), argv.join(" ").replace(" ", "\t"), `${argv.join(" ")} `, ` ${argv.join(" ")}`]) {
        const text = `# before\n${line}\n-a after`;
        const kind = scanSaveLine(text, 9, 9 + line.length);
        const p = parseCommon(argv);
        if (kind === 0) {
          // What it leaves: all but the plain add lines without a warning.
          if (line === argv.join(" ") && p && !p.warnings && (p.command === "add-service" || p.command === "add-server")) {
            expect.fail(`left to the general path: ${line}`);
          }
          continue;
        }
        taken++;
        expect(line, line).toBe(argv.join(" "));
        expect(p?.warnings, line).toBeUndefined();
        expect(p!.command).toBe(kind === 1 ? "add-service" : "add-server");
        const vip = text.slice(saveLine.vipFrom, text.indexOf(" ", saveLine.vipFrom));
        expect(p!.service, line).toEqual({ protocol: saveLine.protocol, address: vip.split(":")[0], vaddr: saveLine.vipWire | 0, port: saveLine.vipPort });
        if (kind === 1) {
          expect(p!.scheduler).toBe(saveLine.scheduler);
          expect(p!.persistence?.timeout ?? 0).toBe(saveLine.persistence);
        } else {
          expect(p!.server!.address).toBe(text.slice(saveLine.ripFrom, text.indexOf(" ", saveLine.ripFrom)).split(":")[0]);
          expect([p!.server!.daddr, p!.server!.port, p!.method, p!.weight]).toEqual([saveLine.ripWire | 0, saveLine.ripPort, saveLine.method, saveLine.weight]);
        }
      }
    }
    expect(taken).toBeGreaterThan(100);
  });

  it("a DR or TUN server on another port: the warning and the service port, as the general path", () => {
    const p = parseCommon(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-g", "-w", "2"])!;
    expect(p.server).toEqual({ address: "10.1.0.11", daddr: ipToWire("10.1.0.11"), port: 80 });
    expect(p.warnings).toEqual(["direct routing cannot change the port: real server 10.1.0.11:8080 gets the service port 80, as ipvsadm does"]);
    expect(parseCommon(["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:0", "-m", "-w", "2"])).toBeUndefined();
  });
});

beforeEach(() => clearParseCache());

describe("a rules file's -A and -a lines read at once: what the general path makes of them", () => {
  const HEAD = "interface 0 name outside mac 02:00:00:00:00:01 address 10.0.0.1/24\ninterface 1 name inside mac 02:00:00:00:01:01 address 10.1.0.1/24\n";
  const RULES = [
    "-A -t 10.0.0.100:80 -s rr", "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m -w 1", "-a -t 10.0.0.100:80 -r 10.1.0.12 -g -w 0",
    "-a -t 10.0.0.100:80 -r 10.1.0.13:81 -i -w 65535", "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m -w 2", "-a -t 10.0.0.100:80 -r 10.1.0.14:8080 -m -w 65536",
    "-A -u 10.0.0.100:53 -s wrr -p 600", "-a -u 10.0.0.100:53 -r 10.1.0.11:53 -m -w 3", "-a -t 10.0.0.100:53 -r 10.1.0.11:53 -m -w 3",
    "-A -t 10.0.0.100:80 -s rr", "-A -t 10.0.0.101:0 -s rr", "-a -t 10.0.0.101:0 -r 10.1.0.11:80 -m -w 1", "-A -t 10.0.0.102:80 -s nope",
    "-a -t 10.0.0.102:80 -r 10.1.0.11:80 -m -w 1", "-a -t 10.0.0.103:80 -r 10.1.0.11:80 -m -w 1", "-a -t 10.0.0.100:80 -r 10.1.0.15:0 -m -w 1",
    "-A -t 10.0.0.104:80 -s mh", "-a -t 10.0.0.104:80 -r 010.1.0.11:80 -m -w 1", "-a -t 10.0.0.104:80 -r 10.1.0.16:80 -m -w 1",
    "-e -t 10.0.0.104:80 -r 10.1.0.16:80 -m -w 4", "-A -t 10.0.0.105:80 -s wlc", "-a -t 10.0.0.105:80 -r 10.1.0.17:443 -g -w 1",
  ];

  it("every line the same with the fast path as with the general one (a comment sends a line there)", () => {
    const text = HEAD + RULES.join("\n") + "\n";
    const general = HEAD + RULES.map((l) => `${l} # read by the general path`).join("\n") + "\n";
    const fast = readRules(text, "r.rules");
    clearParseCache();
    const slow = readRules(general, "r.rules");
    expect(fast.errors.map((e) => e.message)).toEqual(slow.errors.map((e) => e.message));
    expect(fast.errors.length).toBeGreaterThan(5);
    expect(JSON.stringify(fast.cfg)).toBe(JSON.stringify(slow.cfg));
    expect(fast.cfg.warnings?.length).toBeGreaterThan(1);
  });
});

describe("wasmvs -R's client: its input read in one pass", () => {
  it("the input itself in parts of whole lines within 4 MiB of JSON, each with its first line's number; warnings as parseArgs gives them", () => {
    const lines: string[] = ["# saved", ""];
    for (let i = 0; i < 12000; i++) {
      lines.push(`-A -t 10.0.${i >> 8}.${i & 255}:80 -s rr`);
      for (let j = 0; j < 10; j++) lines.push(`-a -t 10.0.${i >> 8}.${i & 255}:80 -r 10.1.0.${11 + j}:${j === 3 ? 8080 : 80} ${j === 3 ? "-g" : "-m"} -w ${j}`);
    }
    lines.push("  -a\t-t 10.0.0.0:80  -r 10.1.0.99 -m -w 1 ", "-a -t 10.0.0.0:80 -r 10.1.0.98 -m\u00a0-w 1", "# \u00e9\"\\\u0001");
    const input = lines.join("\r\n");
    const warnings: string[] = [];
    const requests = restoreRequests(input, (w) => warnings.push(w));
    expect(requests.length).toBeGreaterThan(1);
    const parts = requests.map((r) => JSON.parse(r) as { op: string; line: number; text: string; more?: true });
    // The text JSON.stringify gives of the same request: all but the last say "more".
    parts.forEach((p, i) => expect(requests[i]).toBe(JSON.stringify({ op: "restore", line: p.line, text: p.text, ...(i < parts.length - 1 ? { more: true } : {}) })));
    // Whole lines, in order, the input and nothing else; each part's line is its first line's.
    expect(parts.map((p) => p.text).join("")).toBe(input);
    let line = 1;
    for (const p of parts) {
      expect(p.line).toBe(line);
      expect(p === parts.at(-1) || p.text.endsWith("\n")).toBe(true);
      line += p.text.split("\n").length - 1;
    }
    expect(warnings).toHaveLength(12000);
    expect(warnings[0]).toBe("Warning: line 7: direct routing cannot change the port: real server 10.1.0.14:8080 gets the service port 80, as ipvsadm does\n");
    // Each part's text within 4 MiB as JSON, and its next line would not have fitted.
    const jsonBytes = (t: string) => Buffer.byteLength(JSON.stringify(t)) - 2;
    for (let k = 0; k < parts.length; k++) {
      expect(jsonBytes(parts[k].text)).toBeLessThanOrEqual(4 * 1024 * 1024);
      if (k + 1 < parts.length) expect(jsonBytes(parts[k].text) + jsonBytes(parts[k + 1].text.slice(0, parts[k + 1].text.indexOf("\n") + 1))).toBeGreaterThan(4 * 1024 * 1024);
    }
    expect(restoreRequests("", () => {})).toEqual([JSON.stringify({ op: "restore", line: 1, text: "" })]);
  });

  it("a wrong line refuses the whole input, with its line, before anything is sent", () => {
    expect(() => restoreRequests("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1 -m -w 70000\n", () => {}))
      .toThrow("restore: line 2: illegal weight specified");
    expect(() => restoreRequests("-L -n\n", () => {})).toThrow("restore: line 1: 'list' cannot be restored");
  });
});
