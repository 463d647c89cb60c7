// Files a local user can plant (issue 16): every path the daemon opens, creates, chowns or
// deletes (README, "Files the director touches"), each with what a user who can write to
// its folder might leave there — a symbolic link to a root-only file, a file of another
// owner, a FIFO, a file anyone can change — and what the daemon does: refuses it, or
// replaces the link itself; the file the link points to is never touched. Runs as root (it
// chowns to nobody to play the other user).

import { afterAll, describe, expect, it } from "vitest";
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
} from "node:fs";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotifyFifo } from "../host/health/notify-fifo.js";
import { userIds } from "../host/config/keepalived-checks.js";
import { readTable, removeStaleTemps, TableFileError, writeTable } from "../host/dataplane/handoff.js";
import { Journal, JOURNAL_MS, JournalWriter } from "../host/dataplane/journal.js";
import { writeFileSafely, writeFileSafelyAsync, writeFileSafelyInPieces } from "../host/io/safe-file.js";
import { claimSocket } from "../host/control/server.js";
import { trackedValue } from "../host/health/checkers/file.js";
import { readConfigFile } from "../host/config/rules.js";
import { insecurity } from "../host/health/scripts.js";
import { Housekeeping } from "../host/control/housekeeping.js";
import { Estimator } from "../host/control/estimator.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { FakeClock } from "../host/io/clock.js";
import { director, GATEWAY_MAC, OUT_MAC, VIP, RS } from "./helpers/director.js";
import { eth, ipv4, tcp, ACK, SYN } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";
import { ERROR, NOTICE } from "../host/io/log.js";
import { ROOT } from "../host/sandbox/sandbox.js";

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "wasmvs-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const nobody = root ? userIds("nobody") : { uid: -1, gid: -1 };
let n = 0;
/** A fresh folder for one case. */
const place = () => { const p = join(dir, String(n++)); mkdirSync(p); return p; };
/** A root-only file with a secret: what a planted link points at. */
function secret(d: string): { path: string; check: () => void } {
  const path = join(d, "shadow");
  writeFileSync(path, "root only\n", { mode: 0o600 });
  return {
    path,
    check: () => {
      const st = statSync(path);
      expect([st.uid, st.gid, st.mode & 0o7777, readFileSync(path, "utf8")]).toEqual([0, 0, 0o600, "root only\n"]);
    },
  };
}

describe.runIf(root)("files a local user can plant", () => {
  describe("notify_fifo PATH USER", () => {
    const open = (path: string, user?: string) => {
      const log: string[] = [];
      const f = new NotifyFifo({ kind: "all", path, user }, (l) => log.push(l));
      f.open();
      return { f, log: log.join("\n") };
    };

    it("a link planted at the path (to a root-only file) is refused: the file keeps its owner and bytes", () => {
      const d = place();
      const s = secret(d);
      const link = join(d, "notify.fifo");
      symlinkSync(s.path, link);
      const { f, log } = open(link, "nobody");
      f.write("INSTANCE \"VI_1\" MASTER 100\n");
      f.close();
      s.check();
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(log).toContain(`notify FIFO ${link}: not used: a symbolic link (refused)`);
    });

    it("a link to a FIFO and a dangling link are refused; nothing is made where they point", () => {
      const d = place();
      spawnSync("mkfifo", [join(d, "real")]);
      symlinkSync(join(d, "real"), join(d, "a"));
      symlinkSync(join(d, "nothing"), join(d, "b"));
      expect(open(join(d, "a"), "nobody").log).toMatch(/a symbolic link \(refused\)/);
      expect(open(join(d, "b"), "nobody").log).toMatch(/a symbolic link \(refused\)/);
      expect(statSync(join(d, "real")).uid).toBe(0);
      expect(existsSync(join(d, "nothing"))).toBe(false);
    });

    it("a FIFO of another user, or a regular file, is refused and not written", () => {
      const d = place();
      spawnSync("mkfifo", [join(d, "theirs")]);
      chownSync(join(d, "theirs"), 12345, 12345);
      writeFileSync(join(d, "file"), "");
      expect(open(join(d, "theirs"), "nobody").log).toContain("is not a FIFO this user owns: not used");
      expect(statSync(join(d, "theirs")).uid).toBe(12345);
      const { f, log } = open(join(d, "file"), "nobody");
      f.write("x\n");
      f.close();
      expect(log).toContain("is not a FIFO this user owns: not used");
      expect([readFileSync(join(d, "file"), "utf8"), statSync(join(d, "file")).uid]).toEqual(["", 0]);
    });

    it("a FIFO made by this start is given to the user by its descriptor; one that was already there keeps its owner", () => {
      const d = place();
      const made = open(join(d, "new.fifo"), "nobody");
      made.f.close();
      const st = lstatSync(join(d, "new.fifo"));
      expect([st.isFIFO(), st.uid, st.gid, st.mode & 0o777]).toEqual([true, nobody.uid, nobody.gid, 0o644]);
      expect(made.log).toBe("");
      spawnSync("mkfifo", ["-m", "600", join(d, "old.fifo")]);
      const old = open(join(d, "old.fifo"), "nobody");
      old.f.close();
      expect(old.log).toBe("");
      expect([statSync(join(d, "old.fifo")).uid, statSync(join(d, "old.fifo")).mode & 0o777]).toEqual([0, 0o600]);
    });
  });

  describe("the connection table (--table-file, default SOCKET.table) and its temporaries", () => {
    it("written through a new file of a random name: links planted at the old predictable temporary and at the path are not followed", () => {
      const d = place();
      const s = secret(d);
      const path = join(d, "control.table");
      symlinkSync(s.path, `${path}.${process.pid}.tmp`);
      symlinkSync(s.path, path);
      writeTable(path, new Uint8Array(36), 1, 1234);
      s.check();
      const st = lstatSync(path);
      expect([st.isFile(), st.uid, st.mode & 0o777]).toEqual([true, 0, 0o600]);
      expect(readTable(path, 10)).toMatchObject({ count: 1, writtenAtMs: 1234 });
      // Nothing but what was there and the table.
      expect(readdirSync(d).sort()).toEqual(["control.table", `control.table.${process.pid}.tmp`, "shadow"].sort());
    });

    it("a failed write leaves the old file and no temporary", () => {
      const d = place();
      mkdirSync(join(d, "t"));
      expect(() => writeFileSafely(join(d, "t"), "x")).toThrow(/EISDIR|EEXIST|ENOTEMPTY/);
      expect(readdirSync(d)).toEqual(["t"]);
    });

    it("read at start: a link, a file of another user, one others can change, a FIFO are refused (without blocking) and left alone", () => {
      const d = place();
      const s = secret(d);
      writeTable(join(d, "good"), new Uint8Array(36), 1, 1);
      symlinkSync(join(d, "good"), join(d, "link"));
      writeTable(join(d, "theirs"), new Uint8Array(36), 1, 1);
      chownSync(join(d, "theirs"), nobody.uid, nobody.gid);
      writeTable(join(d, "open"), new Uint8Array(36), 1, 1);
      chmodSync(join(d, "open"), 0o620);
      spawnSync("mkfifo", ["-m", "600", join(d, "fifo")]);
      const why = (name: string) => {
        try {
          readTable(join(d, name), 10);
          return "read";
        } catch (e) {
          expect(e).toBeInstanceOf(TableFileError);
          expect(existsSync(join(d, name))).toBe(true);
          return (e as Error).message.slice(join(d, name).length);
        }
      };
      expect(why("link")).toBe(": a symbolic link (refused)");
      expect(why("theirs")).toBe(` belongs to uid ${nobody.uid}, not to this user`);
      expect(why("open")).toBe(" can be changed by other users (mode 620)");
      expect(why("fifo")).toBe(" is not a regular file");
      expect(readTable(join(d, "good"), 10)?.count).toBe(1);
      s.check();
    });

    it("temporaries a killed director left are removed at start; links and other users' files of the same shape are not", () => {
      const d = place();
      const s = secret(d);
      const path = join(d, "control.table");
      writeFileSync(`${path}.0123456789ab.tmp`, "half");
      symlinkSync(s.path, `${path}.aaaaaaaaaaaa.tmp`);
      writeFileSync(`${path}.bbbbbbbbbbbb.tmp`, "theirs");
      chownSync(`${path}.bbbbbbbbbbbb.tmp`, nobody.uid, nobody.gid);
      writeFileSync(`${path}.keep`, "");
      expect(removeStaleTemps(path)).toBe(1);
      expect(readdirSync(d).sort()).toEqual(["control.table.aaaaaaaaaaaa.tmp", "control.table.bbbbbbbbbbbb.tmp", "control.table.keep", "shadow"]);
      s.check();
    });
  });

  describe("the crash journal (the table file, rewritten while the director runs)", () => {
    const seg = (port: number, flags: number) =>
      eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: "192.0.2.7", dst: VIP, proto: 6, payload: tcp({ src: "192.0.2.7", dst: VIP, sport: port, dport: 80, flags }) }));
    async function engineWith(conns: number): Promise<Engine> {
      const e = await director({ connCapacity: 32768 });
      const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
      for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
      for (let k = 0; k < conns; k++) {
        for (const f of [SYN, ACK]) { e.loadFrame(0, seg(40000 + k, f), 0); e.process(1, 1000); }
      }
      return e;
    }

    /** A journal whose slices reach its writer as the thread's messages would. */
    function journal(e: Engine, path: string, wall?: () => number) {
      const log: string[] = [];
      const writer = new JournalWriter(path, (l) => log.push(l));
      const j = new Journal(e, (m) => writer.take(m), wall);
      /** One whole pass (or nothing when none is due), written; the turns it took. */
      const pass = async (now: number) => {
        e.tick(now);
        let turns = 0;
        do { j.step(now); turns++; await writer.settled(); } while (j.busy);
        return turns;
      };
      return { j, writer, log, pass };
    }

    it("each pass is the whole table, read back exactly as a handoff table; a link planted at the path is replaced, not followed", async () => {
      const d = place();
      const s = secret(d);
      const path = join(d, "control.table");
      symlinkSync(s.path, path);
      const e = await engineWith(30);
      let wall = 5_000_000;
      const { j, log, pass } = journal(e, path, () => wall);
      await pass(2000);
      s.check();
      expect(lstatSync(path).isFile()).toBe(true);
      const t = readTable(path, e.connCapacity)!;
      expect([t.count, t.writtenAtMs, statSync(path).size, statSync(path).mode & 0o777]).toEqual([30, 5_000_000, 32 + 30 * 36, 0o600]);
      expect(Buffer.from(t.entries).equals(Buffer.from(e.exportTable(2000).entries))).toBe(true);
      // Not again before JOURNAL_MS; then again, with the new connections.
      for (const f of [SYN, ACK]) { e.loadFrame(0, seg(41000, f), 0); e.process(1, 2100); }
      wall += 300;
      await pass(2100);
      expect(readTable(path, e.connCapacity)!.count).toBe(30);
      await pass(2000 + JOURNAL_MS);
      expect(readTable(path, e.connCapacity)!).toMatchObject({ count: 31, writtenAtMs: 5_000_300 });
      expect(j.passes).toBe(2);
      expect(readdirSync(d).sort()).toEqual(["control.table", "shadow"]);
      expect(log).toEqual([]);
      // Taken in by a new engine: every connection goes on.
      const fresh = await engineWith(0);
      expect(fresh.importTable(readTable(path, e.connCapacity)!.entries, 500, 9000)).toEqual({ applied: 31, expired: 0, unmatched: 0 });
    });

    it("a large table is written a slice of at most 4,096 entries (65,536 slots) a turn, the file whole only at the end", async () => {
      const d = place();
      const path = join(d, "control.table");
      const e = await engineWith(10_000);
      expect(e.connectionCount).toBe(10_000);
      const { j, pass } = journal(e, path);
      // A turn for the templates (none in 32,768 slots), three for 4,096 + 4,096 + 1,808 connections.
      expect(await pass(2000)).toBe(4);
      expect(j.passes).toBe(1);
      expect(readTable(path, e.connCapacity)!.count).toBe(10_000);
    });

    it("a journal that cannot be written says so once, keeps the last file, and says when it writes again; close drops a pass under way", async () => {
      const d = place();
      const e = await engineWith(3);
      const path = join(d, "sub", "control.table");
      const { writer, log, pass } = journal(e, path);
      for (let k = 0; k < 3; k++) await pass(2000 + k * JOURNAL_MS);
      expect(log).toEqual([`${ERROR}connection journal ${path}: not written (ENOENT); the last one written stays`]);
      mkdirSync(join(d, "sub"));
      await pass(4000);
      expect(log[1]).toBe(`${NOTICE}connection journal ${path}: written again`);
      expect(readTable(path, 100)?.count).toBe(3);
      // A stop in the middle of a pass: its temporary goes, the last whole file stays.
      writer.take({ begin: 1 });
      writer.take({ chunk: 0, bytes: 36 });
      await writer.close();
      writer.take({ end: 1 });
      await writer.settled();
      expect(readdirSync(join(d, "sub"))).toEqual(["control.table"]);
      expect(readTable(path, 100)?.count).toBe(3);
    });
  });

  it("the status file (--status): links planted at the path and at STATUS.tmp are not followed", async () => {
    const d = place();
    const s = secret(d);
    const path = join(d, "status.json");
    symlinkSync(s.path, path);
    symlinkSync(s.path, `${path}.tmp`);
    const e = await director();
    const health = { errors: 0, lagMs: 0, lagMaxMs: 0, refused: 0 };
    const hk = new Housekeeping(new LocalEngine(e, () => 1000), new FakeClock(), new Estimator(), {
      status: path, health, survived: () => { health.errors++; }, statusOf: (snap) => ({ connections: snap.connectionCount }),
    });
    await hk.start();
    await hk.stop();
    s.check();
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ connections: 0 });
    expect(lstatSync(path).isFile()).toBe(true);
    expect(health.errors).toBe(0);
    await writeFileSafelyAsync(path, "{}");
    expect(readdirSync(d).sort()).toEqual(["shadow", "status.json", "status.json.tmp"]);
  });

  it("a file written in pieces (the status file): the pieces in order, whole, through an exclusive temporary; a failure leaves the last file", async () => {
    const d = place();
    const s = secret(d);
    const path = join(d, "status.json");
    symlinkSync(s.path, path);
    // More than the pieces held before a write (64 KB), some not ASCII (bytes, not characters).
    const pieces = Array.from({ length: 3000 }, (_, i) => `piece ${i} é€ ${"x".repeat(i % 97)}\n`);
    await writeFileSafelyInPieces(path, async (write) => { for (const p of pieces) await write(p); });
    s.check();
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(path, "utf8")).toBe(pieces.join(""));
    await expect(writeFileSafelyInPieces(path, async (write) => { await write("half"); throw new Error("made badly"); })).rejects.toThrow("made badly");
    expect(readFileSync(path, "utf8")).toBe(pieces.join(""));
    expect(readdirSync(d).sort()).toEqual(["shadow", "status.json"]);
  });

  it("the control socket: a file, a link or another user's socket at the path is refused and left; a stale own socket is replaced", async () => {
    const d = place();
    const s = secret(d);
    writeFileSync(join(d, "file.sock"), "");
    symlinkSync(s.path, join(d, "link.sock"));
    await expect(claimSocket(join(d, "file.sock"))).rejects.toThrow(/exists and is not a socket; not touching it/);
    await expect(claimSocket(join(d, "link.sock"))).rejects.toThrow(/exists and is not a socket; not touching it/);
    const theirs = createServer();
    await new Promise<void>((r) => theirs.listen(join(d, "theirs.sock"), r));
    try {
      chownSync(join(d, "theirs.sock"), nobody.uid, nobody.gid);
      await expect(claimSocket(join(d, "theirs.sock"))).rejects.toThrow(new RegExp(`a socket of uid ${nobody.uid}, not of this user; not touching it`));
      expect(lstatSync(join(d, "theirs.sock")).isSocket()).toBe(true);
    } finally {
      theirs.close();
    }
    // Bound by a process that is gone: nobody answers, the path is this user's socket.
    expect(spawnSync("python3", ["-c", `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(d, "stale.sock"))})`]).status).toBe(0);
    expect(lstatSync(join(d, "stale.sock")).isSocket()).toBe(true);
    await claimSocket(join(d, "stale.sock"));
    expect(existsSync(join(d, "stale.sock"))).toBe(false);
    s.check();
    expect(lstatSync(join(d, "link.sock")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(d, "file.sock"), "utf8")).toBe("");
  });

  it("track_file and FILE_CHECK: a FIFO or a folder at the path reads as 0 at once (never blocks); a link is followed, read only", () => {
    const d = place();
    spawnSync("mkfifo", [join(d, "fifo")]);
    mkdirSync(join(d, "folder"));
    writeFileSync(join(d, "value"), "-7\n");
    symlinkSync(join(d, "value"), join(d, "link"));
    expect(trackedValue(join(d, "fifo"))).toBe(0);
    expect(trackedValue(join(d, "folder"))).toBe(0);
    expect(trackedValue(join(d, "link"))).toBe(-7);
    expect(readFileSync(join(d, "value"), "utf8")).toBe("-7\n");
  }, 5000);

  it("configuration files and includes: a FIFO is refused at once with a reason (never blocks)", () => {
    const d = place();
    spawnSync("mkfifo", [join(d, "keepalived.conf")]);
    expect(() => readConfigFile(join(d, "keepalived.conf"))).toThrow(/not a regular file/);
  }, 5000);

  it("an include of a device or FIFO says it is not a regular file (was: 'no such file'); a file that cannot be read is an error at the include naming it (was: 'EINVAL: invalid argument, read')", () => {
    const d = place();
    spawnSync("mkfifo", [join(d, "fifo")]);
    const dirBlock = "director {\n  interface eth0 {\n    address 192.0.2.1/24\n  }\n}\n";
    const check = (text: string) => {
      writeFileSync(join(d, "k.conf"), text);
      return spawnSync(process.execPath, [join(ROOT, "bin", "wasmvs.js"), "check", join(d, "k.conf")], { encoding: "utf8", timeout: 30000 });
    };
    for (const dev of ["/dev/zero", join(d, "fifo")]) {
      const r = check(`${dirBlock}include ${dev}\n`);
      expect([r.status, r.stderr], dev).toEqual([1, `wasmvs: ${join(d, "k.conf")}:6:9: '${dev}': not a regular file: ${dev} (a configuration is read from a file)\n`]);
    }
    // /proc/self/clear_refs is a regular file that read(2) refuses (EINVAL).
    const r = check(`${dirBlock}include /proc/self/clear_refs\n`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`wasmvs: /proc/self/clear_refs:1:1: cannot be read: EINVAL (invalid argument)\n`);
  }, 30000);

  it("scripts under enable_script_security: one another user owns or anyone can change is refused", () => {
    const d = place();
    chmodSync(d, 0o755);
    writeFileSync(join(d, "theirs.sh"), "#!/bin/sh\n", { mode: 0o755 });
    chownSync(join(d, "theirs.sh"), nobody.uid, nobody.gid);
    writeFileSync(join(d, "open.sh"), "#!/bin/sh\n");
    chmodSync(join(d, "open.sh"), 0o757);
    writeFileSync(join(d, "ok.sh"), "#!/bin/sh\n", { mode: 0o755 });
    expect(insecurity(join(d, "theirs.sh"))).toBe(`${join(d, "theirs.sh")} belongs to uid ${nobody.uid}, not root`);
    expect(insecurity(join(d, "open.sh"))).toBe(`${join(d, "open.sh")} is writable by everyone`);
    expect(insecurity(join(d, "ok.sh"))).toBeUndefined();
  });
});
