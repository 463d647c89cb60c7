// The sync protocol against an independent reader: Wireshark's ipvs dissector (tshark), which
// decodes version 0 and option-less version 1 messages (issue 10's oracle). The messages the
// engine sends — a connection, a state change, a persistence template — are written to a
// capture and must decode field by field as what the engine holds; a version-0 message laid
// out by hand from ip_vs_sync.c must decode as the same fields tshark reads, and the engine
// must take it as those fields say.

import { expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePcap } from "../../host/engine/pcap.js";
import { director, GATEWAY_MAC, OUT_MAC, VIP, RS, RS_MAC } from "../helpers/director.js";
import { expectFrame, eth, ipv4, tcp, udp, ACK, SYN } from "../helpers/packet.js";
import type { Engine } from "../../host/engine/index.js";
import { e2eDescribe } from "./e2e.js";

const C = "192.0.2.7";
const seg = (port: number, flags: number) => eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: C, dst: VIP, proto: 6, payload: tcp({ src: C, dst: VIP, sport: port, dport: 80, flags }) }));
const isSync = (f: Uint8Array) => f[0] === 1 && f[2] === 0x5e && f[5] === 0x51;

function feed(e: Engine, frame: Uint8Array, now: number): Uint8Array[] {
  e.loadFrame(0, frame, 0);
  return e.txFrames(e.process(1, now)).map((t) => t.frame.slice());
}

/** tshark's reading of frames: one line per sync entry, the fields tab-separated. */
function tshark(frames: Uint8Array[], fields: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "wasmvs-syncwire-"));
  try {
    const file = join(dir, "sync.pcap");
    writeFileSync(file, writePcap(frames.map((data, k) => ({ timeUs: k * 1000, data }))));
    const r = spawnSync("tshark", ["-r", file, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", ...fields.flatMap((f) => ["-e", f])], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tshark: ${r.stderr || r.error}`);
    return r.stdout.trim().split("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

e2eDescribe("sync messages read by Wireshark's ipvs dissector", () => {
  it("version 1 from the engine: count, sync ID, protocol, ports, addresses, flags, state, timeout, as the engine holds them", async () => {
    const master = await director();
    const s = master.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr", persistence: { timeout: 600, netmask: "255.255.255.0" } });
    for (const a of RS) master.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
    master.setSync({ send: true, receive: false, ifindex: 0, syncid: 42, refreshMs: 0 });
    const out = feed(master, seg(40000, SYN), 1000);
    const server = RS[RS_MAC.indexOf(expectFrame(out.find((f) => !isSync(f))!).dstMac)];
    const msgs = [...out, ...feed(master, seg(40000, ACK), 1001)].filter(isSync);
    expect(msgs.length).toBe(2);
    const lines = tshark(msgs, ["ipvs.syncid", "ipvs.conncount", "ipvs.version", "ipvs.proto", "ipvs.cport", "ipvs.vport", "ipvs.dport",
      "ipvs.caddr", "ipvs.vaddr", "ipvs.daddr", "ipvs.flags.v1", "ipvs.state", "ipvs.timeout"]);
    expect(lines).toEqual([
      // The template (flags 0x1000 | DR 3, client /24, port 0, the persistence timeout) and the connection (SYN_RECV 3, 60 s).
      `42\t2\t1\t0x06,0x06\t0,40000\t80,80\t80,80\t192.0.2.0,${C}\t${VIP},${VIP}\t${server},${server}\t0x00001003,0x00000183\t0x0000,0x0003\t600,60`,
      // ESTABLISHED (1) with its 900 s; no longer INACTIVE.
      `42\t1\t1\t0x06\t40000\t80\t80\t${C}\t${VIP}\t${server}\t0x00000083\t0x0001\t900`,
    ]);
  });

  it("version 0 laid out from ip_vs_sync.c: tshark reads the fields written, and the engine takes the connections they say", async () => {
    const backup = await director();
    const s = backup.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "rr" });
    for (const a of RS) backup.addRealServer(s, { address: a, port: 80, method: "dr", weight: 1 });
    backup.setSync({ send: false, receive: true, ifindex: 0, syncid: 42 });
    const ip4 = (a: string) => a.split(".").map(Number);
    const be16 = (v: number) => [v >> 8, v & 255];
    const entry = (cport: number, server: string, state: number) => [0, 6, ...be16(cport), ...be16(80), ...be16(80), ...ip4(C), ...ip4(VIP), ...ip4(server), ...be16(3), ...be16(state)];
    const body = [...entry(40001, RS[1], 1), ...entry(40002, RS[2], 3)];
    const msg = [2, 42, ...be16(4 + body.length), ...body];
    const frame = eth("01:00:5e:00:00:51", "02:00:00:00:00:0a", 0x0800,
      ipv4({ src: "10.0.0.5", dst: "224.0.0.81", proto: 17, ttl: 1, payload: udp({ src: "10.0.0.5", dst: "224.0.0.81", sport: 8848, dport: 8848, payload: new Uint8Array(msg) }) }));
    expect(tshark([frame], ["ipvs.conncount", "ipvs.syncid", "ipvs.size", "ipvs.proto", "ipvs.cport", "ipvs.caddr", "ipvs.daddr", "ipvs.flags", "ipvs.state"]))
      .toEqual([`2\t42\t52\t0x06,0x06\t40001,40002\t${C},${C}\t${RS[1]},${RS[2]}\t0x0003,0x0003\t0x0001,0x0003`]);
    expect(feed(backup, frame, 1000)).toEqual([]);
    expect(backup.connections(1000).sort((a, b) => a.clientPort - b.clientPort).map((c) => [c.clientPort, c.state, c.server]))
      .toEqual([[40001, "ESTABLISHED", RS[1]], [40002, "SYN_RECV", RS[2]]]);
  });
});
