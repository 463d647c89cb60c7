// The daemon's log (host/io/log.ts, issue 17): syslog's levels carried as sd-daemon prefixes,
// written to the console, to journald (its <N> prefixes) or as RFC 3164 datagrams to syslog's
// socket, filtered by --log-level; and sd_notify's datagram.

import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { consoleLine, DEBUG, ERROR, levelOf, makeLogger, NOTICE, parseFacility, parseLevel, syslogLine, WARNING } from "../host/io/log.js";
import { sdNotify } from "../host/io/sd-notify.js";
import { tapAddon } from "../host/io/tap.js";
import { ROOT } from "../host/sandbox/sandbox.js";
import { datagramSink } from "./helpers/dgram-sink.js";

const CLI = join(ROOT, "bin", "wasmvs.js");
const dir = mkdtempSync(join(tmpdir(), "wasmvs-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("log lines", () => {
  it("a line's level is its sd-daemon prefix; none is info", () => {
    expect(levelOf(`${WARNING}notify FIFO x: not used`)).toEqual({ level: 4, text: "notify FIFO x: not used" });
    expect(levelOf("control socket /run/x.sock")).toEqual({ level: 6, text: "control socket /run/x.sock" });
    expect(levelOf("<9>not a level")).toEqual({ level: 6, text: "<9>not a level" });
    expect([parseLevel("error"), parseLevel("warn"), parseLevel("notice"), parseLevel("debug"), parseLevel("7"), parseLevel("loud")]).toEqual([3, 4, 5, 7, 7, undefined]);
    expect([parseFacility("daemon"), parseFacility("local0"), parseFacility("7"), parseFacility("kern")]).toEqual([3, 16, 23, undefined]);
  });

  it("formats: the console's (time, level word for error/warning/debug), syslog's RFC 3164 as syslog(3) sends it", () => {
    const d = new Date(2026, 11, 7, 5, 4, 3); // local time, as syslog(3)
    expect(consoleLine(d, 4, "x")).toBe(`${d.toISOString()} wasmvs: warning: x`);
    expect(consoleLine(d, 6, "x")).toBe(`${d.toISOString()} wasmvs: x`);
    expect(consoleLine(d, 3, "x")).toBe(`${d.toISOString()} wasmvs: error: x`);
    // PRI = facility * 8 + severity: daemon (3) warning (4) is 28; local0 (16) notice (5) is 133.
    expect(syslogLine(d, 3, 4, "wasmvs", 42, "real server down")).toBe("<28>Dec  7 05:04:03 wasmvs[42]: real server down");
    expect(syslogLine(d, 16, 5, "wasmvs", 42, "x")).toBe("<133>Dec  7 05:04:03 wasmvs[42]: x");
  });

  it("--log-level leaves out the lines above it; journald gets <N> on every line; control characters escaped", () => {
    const out: string[] = [];
    const log = makeLogger({ to: "console", level: 5 }, (s) => out.push(s), undefined, true);
    log(`${ERROR}a`); log(`${WARNING}b`); log(`${NOTICE}c\nsecond line`); log("d (info)"); log(`${DEBUG}e`); log(`${NOTICE}bell\x07`);
    expect(out.join("")).toBe("<3>a\n<4>b\n<5>c\n<5>second line\n<5>bell\\x07\n");
    const plain: string[] = [];
    const all = makeLogger({ to: "console", level: 7 }, (s) => plain.push(s), undefined, false);
    all(`${DEBUG}e`); all("f");
    expect(plain.map((l) => l.replace(/^\S+ /, ""))).toEqual(["wasmvs: debug: e\n", "wasmvs: f\n"]);
  });

  it("a line is bounded: 100 KB of text logs its first 4096 characters and how much was left out, escaped (issue 17 attack)", () => {
    const out: string[] = [];
    const log = makeLogger({ to: "console" }, (s) => out.push(s), undefined, true);
    log(`${WARNING}${"\x1b".repeat(10)}${"a".repeat(100_000)}`);
    expect(out).toHaveLength(1);
    expect(out[0].length).toBeLessThan(4200);
    expect(out[0]).toMatch(/^<4>(\\x1b){10}a+ \.\.\. \(\d+ more characters left out\)\n$/);
    const sent: number[] = [];
    const sys = makeLogger({ to: "syslog", socket: "/x" }, undefined, (_p, b) => (sent.push(b.length), 0));
    sys("b".repeat(100_000));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeLessThan(4200);
  });

  it("syslog's socket missing, not a socket, or not reading: said once on stderr with the reason, then once a minute with the count dropped, never blocking (issue 17 attack: every line was lost silently)", () => {
    const err: string[] = [];
    let now = 0;
    let errno = 2;
    const log = makeLogger({ to: "syslog", socket: "/nonexistent/log" }, undefined, () => errno, false, (s) => err.push(s), () => now);
    for (let k = 0; k < 50; k++) log(`line ${k}`);
    expect(log.dropped).toBe(50);
    expect(err).toEqual(["wasmvs: syslog socket /nonexistent/log: ENOENT (no such socket): log lines are dropped until it takes them\n"]);
    now = 61_000;
    errno = 11;
    log("more");
    expect(err[1]).toBe("wasmvs: syslog socket /nonexistent/log: EAGAIN (syslog is not reading): 50 more log lines dropped\n");
    errno = 0;
    log("taken");
    expect(log.dropped).toBe(51);
    expect(err).toHaveLength(2);
  });

  it("syslog: one datagram a line to the socket, with facility, level and wasmvs[PID]; none lost, none blocking when nobody listens", async () => {
    const path = join(dir, "log.sock");
    const s = await datagramSink(path);
    try {
      const log = makeLogger({ to: "syslog", facility: 16, socket: path, level: 7 }, undefined, (p, b) => tapAddon().sendDatagram(p, b));
      log(`${ERROR}the data path stopped: x`); log(`${NOTICE}stopped\nTCP 10.0.0.1:80`); log(`${DEBUG}d`);
      await until(() => s.got().length === 4, "4 datagrams");
      expect(s.got().map((l) => l.replace(/^(<\d+>)\w{3} [ \d]\d \d\d:\d\d:\d\d /, "$1"))).toEqual([
        `<131>wasmvs[${process.pid}]: the data path stopped: x`, `<133>wasmvs[${process.pid}]: stopped`,
        `<133>wasmvs[${process.pid}]: TCP 10.0.0.1:80`, `<135>wasmvs[${process.pid}]: d`]);
      expect(log.dropped).toBe(0);
    } finally {
      s.stop();
    }
    const gone = makeLogger({ to: "syslog", socket: join(dir, "nobody.sock") }, undefined, (p, b) => tapAddon().sendDatagram(p, b));
    gone("x");
    expect(gone.dropped).toBe(1);
  });

  it("wasmvs run --log syslog: its error reaches syslog's socket as daemon.err with wasmvs's ident; bad options are refused", async () => {
    const path = join(dir, "run.sock");
    const s = await datagramSink(path);
    try {
      const r = spawnSync(process.execPath, [CLI, "run", "--config", join(dir, "missing.conf"), "--log", "syslog", "--log-socket", path], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^wasmvs: .*missing\.conf.*\n$/);
      await until(() => s.got().length === 1, "the error's datagram");
      expect(s.got()[0]).toMatch(new RegExp(`^<27>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d wasmvs\\[${r.pid}\\]: .*missing\\.conf`));
    } finally {
      s.stop();
    }
    for (const [args, msg] of [[["--log", "file"], '--log must be console or syslog, not "file"'], [["--log-level", "loud"], "--log-level must be"],
      [["--log-facility", "kern"], "--log-facility must be daemon"], [["--log-socket", "/x"], "--log-socket is for --log syslog"]] as const) {
      const r = spawnSync(process.execPath, [CLI, "run", "--config", "x.conf", ...args], { encoding: "utf8" });
      expect([r.status, r.stderr.split("\n")[0]]).toEqual([2, expect.stringContaining(msg)]);
    }
  });

  it("under journald ($JOURNAL_STREAM names the stream): an error on stderr carries <3>", () => {
    const file = join(dir, "journal.out");
    const fd = openSync(file, "w");
    try {
      const st = fstatSync(fd);
      const r = spawnSync(process.execPath, [CLI, "run", "--config", join(dir, "missing.conf")],
        { stdio: ["ignore", fd, fd], env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
      expect(r.status).toBe(1);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, "utf8")).toMatch(/^<3>wasmvs: .*missing\.conf.*\n$/);
  });

  it("sd_notify: the state reaches $NOTIFY_SOCKET as one datagram (a path, or '@' for an abstract socket's name)", async () => {
    const path = join(dir, "notify.sock");
    const s = await datagramSink(path);
    try {
      expect(sdNotify("READY=1\nSTATUS=x", { NOTIFY_SOCKET: path })).toBe(true);
      await until(() => s.got().length === 1, "READY=1");
      expect(s.got()).toEqual(["READY=1\nSTATUS=x"]);
    } finally {
      s.stop();
    }
    const abstract = `@wasmvs-test-${process.pid}`;
    const a = await datagramSink(abstract);
    try {
      expect(sdNotify("STOPPING=1", { NOTIFY_SOCKET: abstract })).toBe(true);
      await until(() => a.got().length === 1, "STOPPING=1");
      expect(a.got()).toEqual(["STOPPING=1"]);
    } finally {
      a.stop();
    }
    expect(sdNotify("READY=1", {})).toBe(false);
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "@wasmvs-test-nobody-listens" })).toBe(false);
  });
});
