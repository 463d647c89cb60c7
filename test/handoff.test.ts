// A restart without losing connections (host/dataplane/handoff.ts): the old engine's table
// written as IPVS sync entries with what remained of each timeout, the new engine taking it
// in, so that a mid-stream segment after the restart goes to the same server (not a reset);
// templates kept with their connections; time spent between the two counted against the
// timeouts; files of another format, damaged or planted ones refused with a message.

import { describe, it, expect, afterAll } from "vitest";
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { director, GATEWAY_MAC, OUT_MAC, VIP, RS, RS_MAC } from "./helpers/director.js";
import { expectFrame, eth, ipv4, tcp, ACK, SYN } from "./helpers/packet.js";
import type { Engine } from "../host/engine/index.js";
import { decodeTable, encodeTable, takeTable, TABLE_FORMAT, TableFileError, writeTable } from "../host/dataplane/handoff.js";

const dir = mkdtempSync(join(tmpdir(), "wasmvs-handoff-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const seg = (port: number, flags: number, addr = "192.0.2.7") =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: addr, dst: VIP, proto: 6, payload: tcp({ src: addr, dst: VIP, sport: port, dport: 80, flags }) }));

async function make(persistent = false): Promise<Engine> {
  const e = await director();
  const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", ...(persistent ? { persistence: { timeout: 300, netmask: "255.255.255.0" } } : {}) });
  for (const a of RS) e.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
  return e;
}

function feed(e: Engine, frame: Uint8Array, now: number): string[] {
  e.loadFrame(0, frame, 0);
  return e.txFrames(e.process(1, now)).map((t) => {
    const d = expectFrame(t.frame);
    return d.ip?.tcp?.flags !== undefined && (d.ip.tcp.flags & 4) ? "RST" : RS[RS_MAC.indexOf(d.dstMac)];
  });
}

describe("restart handoff", () => {
  it("the new process holds every connection of the old one: mid-stream segments go to the same servers, none reset", async () => {
    const old = await make();
    const servers: string[] = [];
    for (let k = 0; k < 20; k++) {
      servers.push(feed(old, seg(40000 + k, SYN), 1000)[0]);
      feed(old, seg(40000 + k, ACK), 1001);
    }
    // One more in SYN_RECV (its handshake not done), with its shorter timeout.
    servers.push(feed(old, seg(40100, SYN), 1002)[0]);
    const t = old.exportTable(5000);
    expect(t.count).toBe(21);
    const path = join(dir, "a.table");
    writeTable(path, t.entries, t.count, 1_000_000);
    const taken = takeTable(path, 1000)!;
    expect(existsSync(path)).toBe(false); // read once, never applied twice
    expect(taken.count).toBe(21);
    expect(taken.writtenAtMs).toBe(1_000_000);

    const fresh = await make();
    // Two seconds passed between the two processes.
    const r = fresh.importTable(taken.entries, 2000, 70_000);
    expect(r).toEqual({ applied: 21, expired: 0, unmatched: 0 });
    const conns = fresh.connections(70_000).sort((a, b) => a.clientPort - b.clientPort);
    expect(conns.map((c) => [c.clientPort, c.state, c.server])).toEqual(servers.map((s, k) => [k < 20 ? 40000 + k : 40100, k < 20 ? "ESTABLISHED" : "SYN_RECV", s]));
    // What remained of each timeout, less the two seconds: 900 s established (less the 4 s
    // the old engine had run), 60 s SYN_RECV.
    expect(conns[0].expiresInMs).toBeGreaterThan(890_000);
    expect(conns[0].expiresInMs).toBeLessThanOrEqual(896_000);
    expect(conns[20].expiresInMs).toBeLessThanOrEqual(56_000);
    expect(fresh.services()[0].realServers.reduce((n, x) => n + x.active, 0)).toBe(20);
    for (let k = 0; k < 20; k++) expect(feed(fresh, seg(40000 + k, ACK), 70_001)).toEqual([servers[k]]);
    expect(fresh.counters().resets_sent).toBe(0n);
    // A connection of the old table whose time ran out meanwhile is left out.
    expect(fresh.importTable(taken.entries, 100_000, 70_002)).toMatchObject({ expired: 1 });
  });

  it("persistence templates go first and keep their connections' server; entries for services not here are counted", async () => {
    const old = await make(true);
    const server = feed(old, seg(40000, SYN), 1000)[0];
    feed(old, seg(40000, ACK), 1001);
    const t = old.exportTable(1002);
    expect(t.count).toBe(2);
    const fresh = await make(true);
    expect(fresh.importTable(t.entries, 0, 5000)).toEqual({ applied: 2, expired: 0, unmatched: 0 });
    expect(fresh.connections(5000).filter((c) => c.template).map((c) => [c.client, c.server])).toEqual([["192.0.2.0", server]]);
    // Another client of the same /24 goes to the same server, as it would have on the old process.
    expect(feed(fresh, seg(41000, SYN, "192.0.2.99"), 5001)).toEqual([server]);
    const other = await director();
    expect(other.importTable(t.entries, 0, 5000)).toEqual({ applied: 0, expired: 0, unmatched: 2 });
    // The connection is tied to its template again (it was on the old process): the template
    // (300 s) lives on while the connection (ESTABLISHED, 900 s) does, then goes.
    fresh.expireConnections(400_000);
    expect(fresh.connections(400_000).map((c) => !!c.template).sort()).toEqual([false, true]);
    fresh.expireConnections(1_000_000);
    fresh.expireConnections(1_400_000);
    expect(fresh.connections(1_400_000)).toEqual([]);
  });

  it("a file of another format, damaged, planted by another user or a symbolic link is refused with a message and left alone", async () => {
    const good = encodeTable(new Uint8Array(36), 1, 1);
    const path = (n: string) => join(dir, n);
    const refused = (name: string, bytes?: Uint8Array, mode = 0o600) => {
      if (bytes) { writeFileSync(path(name), bytes); chmodSync(path(name), mode); }
      try {
        takeTable(path(name), 1000);
        return "taken";
      } catch (e) {
        expect(e).toBeInstanceOf(TableFileError);
        expect(existsSync(path(name))).toBe(true);
        return (e as Error).message.slice(path(name).length);
      }
    };
    expect(takeTable(path("none"), 1000)).toBeUndefined();
    const newer = good.slice();
    new DataView(newer.buffer).setUint32(8, TABLE_FORMAT + 1, true);
    expect(refused("newer", newer)).toBe(` is a connection table of format ${TABLE_FORMAT + 1}, written by another version of wasmvs; this one reads format ${TABLE_FORMAT}`);
    expect(refused("short", good.subarray(0, good.length - 1))).toBe(" is damaged: its header says 1 entries of 36 bytes, the file has 35 bytes of entries");
    expect(refused("junk", new Uint8Array(100).fill(65))).toBe(" is not a wasmvs connection table");
    expect(refused("writable", good, 0o666)).toBe(" can be changed by other users (mode 666)");
    expect(refused("big", encodeTable(new Uint8Array(36 * 2000), 2000, 1))).toBe(" holds 2000 connections, more than this director's table (1000)");
    symlinkSync(path("junk"), path("link"));
    expect(refused("link")).toBe(": a symbolic link (refused)");
    expect(() => decodeTable(good, "x")).not.toThrow();
  });
});
