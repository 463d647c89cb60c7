// Tables the size of a large cluster (issue 19): 65,536 services and 1,048,576 real servers
// load through the Engine's methods and forward; a connection to a server whose index needs
// more than 16 bits keeps it; random churn of services and servers agrees with a plain Map;
// the scheduler arena refuses what does not fit and reuses what is given back; and the most
// maglev services ~1.5 GiB holds load. No test asserts a time.

import { describe, it, expect } from "vitest";
import { director, CLIENT, CLIENT_MAC, GATEWAY_MAC, OUT_MAC } from "./helpers/director.js";
import { arp, decode, eth, ipv4, tcp, ACK, SYN } from "./helpers/packet.js";
import { xorshift } from "./helpers/fuzz.js";
import { Counter, Engine, MAX_REAL_SERVERS, MAX_SERVICES } from "../host/engine/index.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { parseRules } from "../host/config/rules.js";
import { check } from "../host/cli/check.js";
import { scratchErrors } from "../host/dataplane/reload.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";

const files = tempFolder("wasmvs-tables-");

/** Service i's VIP: 65,536 addresses of 198.18.0.0/15 (RFC 2544's benchmarking range). */
const vipOf = (i: number) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
/** Server k of service i: its own address in 172.16.0.0/12 (reached through the gateway). */
const serverOf = (i: number, k: number) => `172.${16 + (k & 15)}.${(i >> 8) & 255}.${i & 255}`;

function send(e: Engine, frame: Uint8Array, ifindex: number, now: number): Uint8Array[] {
  e.loadFrame(0, frame, ifindex);
  return e.txFrames(e.process(1, now)).map((t) => t.frame);
}
const toVip = (vip: string, port: number, sport: number, flags: number) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: CLIENT, dst: vip, proto: 6, payload: tcp({ src: CLIENT, dst: vip, sport, dport: port, flags }) }));
const fromServer = (server: string, sport: number, dport: number, flags: number) =>
  eth(OUT_MAC, GATEWAY_MAC, 0x0800, ipv4({ src: server, dst: CLIENT, proto: 6, payload: tcp({ src: server, dst: CLIENT, sport, dport, flags }) }));
const arpFor = (addr: string) => eth("ff:ff:ff:ff:ff:ff", CLIENT_MAC, 0x0806, arp(1, CLIENT_MAC, CLIENT, "00:00:00:00:00:00", addr));

describe("65,536 services and 1,048,576 real servers", () => {
  it("load through the Engine, forward to the last service's last server (index > 65,535) and find its NAT reply", async () => {
    const e = await director({ maxServices: MAX_SERVICES, maxRealServers: MAX_REAL_SERVERS, connCapacity: 1024 });
    expect(e.freeServiceSlots()).toBe(65536);
    expect(e.freeRealServerSlots()).toBe(1048576);
    let last = -1;
    for (let i = 0; i < MAX_SERVICES; i++) {
      const s = e.addService({ protocol: "tcp", address: vipOf(i), port: 80, scheduler: "rr" });
      expect(s).toBe(i);
      // Only the last server added has weight: rr sends every new connection to it.
      for (let k = 0; k < 16; k++) last = e.addRealServer(s, { address: serverOf(i, k), port: 8080, method: "nat", weight: k === 15 ? 1 : 0 });
    }
    expect(last).toBe(MAX_REAL_SERVERS - 1);
    expect([e.serviceCount(), e.freeServiceSlots(), e.freeRealServerSlots()]).toEqual([65536, 0, 0]);
    expect(() => e.addService({ protocol: "udp", address: vipOf(0), port: 53, scheduler: "rr" })).toThrow("the service table is full (65536 services");
    expect(() => e.addRealServer(0, { address: "172.31.255.255", port: 1, method: "nat", weight: 1 })).toThrow("the real-server table is full (1048576 real servers");

    const svc = MAX_SERVICES - 1;
    const vip = vipOf(svc);
    const server = serverOf(svc, 15);
    expect(e.findService("tcp", vip, 80)).toBe(svc);
    expect(e.findRealServer(svc, server, 8080)).toBe(last);
    expect(e.realServer(last)).toMatchObject({ address: server, port: 8080, weight: 1 });

    // The SYN goes to the server, rewritten (NAT) with every checksum right.
    const [out] = send(e, toVip(vip, 80, 40000, SYN), 0, 1000);
    const d = decode(out);
    expect(d.checksumErrors).toEqual([]);
    expect([d.dstMac, d.srcMac, d.ip!.src, d.ip!.dst, d.ip!.tcp!.sport, d.ip!.tcp!.dport]).toEqual([GATEWAY_MAC, OUT_MAC, CLIENT, server, 40000, 8080]);
    expect(e.connections(1000)).toMatchObject([{ vip, vport: 80, server, serverPort: 8080, state: "SYN_RECV" }]);
    expect(e.realServer(last).inactive).toBe(1);

    // Its reply is found by the connection (20-bit server index) and leaves from the VIP.
    const [back] = send(e, fromServer(server, 8080, 40000, SYN | ACK), 0, 1001);
    const r = decode(back);
    expect(r.checksumErrors).toEqual([]);
    expect([r.ip!.src, r.ip!.dst, r.ip!.tcp!.sport, r.ip!.tcp!.dport]).toEqual([vip, CLIENT, 80, 40000]);
    const [again] = send(e, toVip(vip, 80, 40000, ACK), 0, 1002);
    expect(decode(again).ip!.dst).toBe(server);
    expect(e.connections(1002)[0].state).toBe("ESTABLISHED");
    expect([e.realServer(last).active, e.realServer(last).inactive]).toEqual([1, 0]);

    // Removed while the connection lives, the server lingers under its index; its traffic still flows.
    e.deleteRealServer(last);
    expect(e.freeRealServerSlots()).toBe(0);
    const [still] = send(e, fromServer(server, 8080, 40000, ACK), 0, 1003);
    expect(decode(still).ip!.src).toBe(vip);
    expect(e.lingeringRealServers()).toEqual([{ service: svc, address: server, port: 8080, connections: 1 }]);

    // ARP for a VIP is answered (the VIP set), for another address not.
    const [reply] = send(e, arpFor(vip), 0, 1004);
    expect(decode(reply).arp).toMatchObject({ op: 2, spa: vip, sha: OUT_MAC, tpa: CLIENT });
    expect(send(e, arpFor("198.20.0.1"), 0, 1005)).toEqual([]);
  }, 600_000);
});

describe("churn against a Map", () => {
  it("random adds and deletes of services and real servers: lookups, indexes, VIPs and free slots agree with the model", async () => {
    const MAX = 257;
    const e = await director({ maxServices: MAX, maxRealServers: 600, connCapacity: 256 });
    const r = xorshift(0x19a11);
    type Key = string;
    const services = new Map<Key, { index: number; vip: string; servers: Map<string, number> }>();
    const used = new Set<number>();
    // A small key space, so that adds meet existing keys and probes collide.
    const keyOf = () => ({ proto: r() % 2 ? "tcp" as const : "udp" as const, vip: `10.9.${r() % 4}.${r() % 40}`, port: 1 + (r() % 6) });
    const key = (k: { proto: string; vip: string; port: number }) => `${k.proto} ${k.vip}:${k.port}`;
    let servers = 0;
    for (let step = 0; step < 6000; step++) {
      const k = keyOf();
      const have = services.get(key(k));
      const op = r() % 10;
      if (op < 4 && !have) {
        if (services.size === MAX) {
          expect(() => e.addService({ protocol: k.proto, address: k.vip, port: k.port, scheduler: (["rr", "sh", "mh", "maglev", "wlc"] as const)[r() % 5] })).toThrow("service table is full");
          continue;
        }
        const lowest = [...Array(MAX).keys()].find((i) => !used.has(i))!;
        const s = e.addService({ protocol: k.proto, address: k.vip, port: k.port, scheduler: (["rr", "sh", "mh", "wlc"] as const)[r() % 4] });
        expect(s, "a new service takes the lowest free index").toBe(lowest);
        used.add(s);
        services.set(key(k), { index: s, vip: k.vip, servers: new Map() });
      } else if (op < 4) {
        expect(() => e.addService({ protocol: k.proto, address: k.vip, port: k.port, scheduler: "rr" })).toThrow();
      } else if (op < 6 && have) {
        e.deleteService(have.index);
        used.delete(have.index);
        servers -= have.servers.size;
        services.delete(key(k));
      } else if (op < 9 && have) {
        const addr = `10.1.0.${r() % 8}`;
        const port = 80 + (r() % 3);
        const d = have.servers.get(`${addr}:${port}`);
        if (d === undefined && servers < 600) {
          have.servers.set(`${addr}:${port}`, e.addRealServer(have.index, { address: addr, port, method: "nat", weight: 1 + (r() % 3) }));
          servers++;
        } else if (d !== undefined) {
          e.deleteRealServer(d);
          have.servers.delete(`${addr}:${port}`);
          servers--;
        }
      }
      if (step % 50 !== 0) continue;
      // The model's view, checked whole every 50 steps.
      expect(e.serviceCount()).toBe(services.size);
      expect(e.freeServiceSlots()).toBe(MAX - services.size);
      expect(e.freeRealServerSlots()).toBe(600 - servers);
      for (let p = 0; p < 20; p++) {
        const q = keyOf();
        expect(e.findService(q.proto, q.vip, q.port), key(q)).toBe(services.get(key(q))?.index);
      }
      for (const s of services.values()) {
        for (const [name, d] of s.servers) {
          const [a, port] = name.split(":");
          expect(e.findRealServer(s.index, a, Number(port))).toBe(d);
        }
        expect(e.findRealServer(s.index, "10.1.0.99", 80)).toBeUndefined();
      }
      const vips = new Set([...services.values()].map((s) => s.vip));
      for (let a = 0; a < 40; a++) {
        const addr = `10.9.${step % 4}.${a}`;
        expect(e.isVip(addr), addr).toBe(vips.has(addr));
      }
    }
    // And through ARP: every VIP answered, a former one not.
    const vips = [...new Set([...services.values()].map((s) => s.vip))];
    for (const vip of vips.slice(0, 10)) expect(decode(send(e, arpFor(vip), 0, 5000)[0]).arp!.spa).toBe(vip);
    const gone = [...Array(40).keys()].map((a) => `10.9.0.${a}`).find((a) => !vips.includes(a))!;
    const before = e.counter(Counter.DROP_ARP_NOT_FOR_US);
    expect(send(e, arpFor(gone), 0, 5001)).toEqual([]);
    expect(e.counter(Counter.DROP_ARP_NOT_FOR_US)).toBe(before + 1n);
  }, 120_000);
});

describe("read-only questions a change set asks before it is applied", () => {
  it("isOnLink and hasRoute answer from the engine's routes without changing anything", async () => {
    const e = await director();
    expect([e.isOnLink("10.1.0.5"), e.isOnLink("10.0.0.9"), e.isOnLink("172.16.0.1")]).toEqual([true, true, false]);
    expect([e.hasRoute("10.1.0.5"), e.hasRoute("172.16.0.1")]).toEqual([true, true]);
    e.deleteRoute("0.0.0.0/0");
    expect([e.hasRoute("10.1.0.5"), e.hasRoute("172.16.0.1"), e.isOnLink("172.16.0.1")]).toEqual([true, false, false]);
    // What the engine itself then refuses, the same way.
    const s = e.addService({ protocol: "tcp", address: "10.0.0.100", port: 80, scheduler: "rr" });
    expect(() => e.addRealServer(s, { address: "172.16.0.1", port: 80, method: "nat", weight: 1 })).toThrow();
    expect(() => e.addRealServer(s, { address: "10.0.0.9", port: 80, method: "dr", weight: 1 })).not.toThrow();
  });
});

describe("the scheduler arena", () => {
  it("refuses a service whose table does not fit, changing nothing, and reuses a table given back", async () => {
    // Tables of 251 u32 entries: 1,024 bytes each; room for four.
    const e = await director({ maxServices: 16, schedulerMemory: 4096, mhTableSize: 251, maglevTableSize: 251 });
    expect(["sh", "dh", "mh", "maglev", "rr", "lblc"].map((s) => e.schedulerBytes(s))).toEqual([1024, 1024, 1024, 1024, 0, 0]);
    const add = (port: number, scheduler: "maglev" | "sh" | "rr" | "mh") => e.addService({ protocol: "tcp", address: "10.0.0.100", port, scheduler });
    for (let p = 1; p <= 4; p++) add(p, "maglev");
    expect(e.schedulerMemoryFree()).toBe(0);
    expect(() => add(5, "maglev")).toThrow("service tcp 10.0.0.100:5: scheduler memory full (0 MiB; a maglev table takes 1 KiB; the director's scheduler_memory)");
    expect(() => add(5, "sh")).toThrow("scheduler memory full (0 MiB; a maglev table takes 1 KiB, one of sh 1 KiB;");
    expect(e.serviceCount()).toBe(4);
    // A scheduler without a table still fits.
    const rr = add(6, "rr");
    expect(() => e.editService(rr, "mh")).toThrow("scheduler memory full");
    expect(e.services().find((s) => s.index === rr)!.scheduler).toBe("rr");
    // Given back (deleted, or another scheduler): the next maglev service takes it.
    e.deleteService(0);
    expect(e.schedulerMemoryFree()).toBe(1024);
    // The free kilobyte is a maglev table's: it serves maglev again, not sh (per-size free lists).
    expect([e.schedulerCanTake("maglev"), e.schedulerCanTake("sh"), e.schedulerCanTake("rr")]).toEqual([true, false, true]);
    expect(() => e.editService(rr, "sh", { timeout: 60, netmask: "255.255.255.255" })).toThrow("scheduler memory full");
    expect(e.services().find((x) => x.index === rr)).toMatchObject({ scheduler: "rr" });
    expect(e.services().find((x) => x.index === rr)!.persistence).toBeUndefined();
    e.editService(1, "wlc");
    expect(e.schedulerMemoryFree()).toBe(2048);
    add(7, "maglev");
    e.editService(rr, "maglev");
    expect(e.schedulerMemoryFree()).toBe(0);
    // The reused tables work: a server in a reused maglev table gets the flows.
    const s = e.findService("tcp", "10.0.0.100", 7)!;
    e.addRealServer(s, { address: "10.1.0.11", port: 7, method: "nat", weight: 1 });
    const [out] = send(e, toVip("10.0.0.100", 7, 41000, SYN), 0, 1000);
    expect(decode(out).ip!.dst).toBe("10.1.0.11");
    expect(decode(out).checksumErrors).toEqual([]);
  });

  it("the most maglev services ~1.5 GiB of scheduler memory holds load (M = 65,537), and one more is refused", async () => {
    const memory = 1.5 * 1024 ** 3;
    const e = await director({ maxServices: 8192, maxRealServers: 16384, schedulerMemory: memory, connCapacity: 256 });
    const each = e.schedulerBytes("maglev");
    expect(each).toBe(262208);
    const fits = Math.floor(memory / each);
    for (let i = 0; i < fits; i++) {
      const s = e.addService({ protocol: "tcp", address: vipOf(i), port: 80, scheduler: "maglev" });
      e.addRealServer(s, { address: serverOf(i, 0), port: 80, method: "nat", weight: 1 });
    }
    expect(e.serviceCount()).toBe(fits);
    expect(() => e.addService({ protocol: "tcp", address: vipOf(fits), port: 80, scheduler: "maglev" })).toThrow("scheduler memory full (1536 MiB; a maglev table takes 256.1 KiB;");
    // The last one's table is built at its first flow, and sends it to its server.
    const [out] = send(e, toVip(vipOf(fits - 1), 80, 42000, SYN), 0, 1000);
    expect(decode(out).ip!.dst).toBe(serverOf(fits - 1, 0));
    expect(decode(out).checksumErrors).toEqual([]);
  }, 300_000);
});

describe("the director's table sizes", () => {
  const sized = (lines: string) => `${DIRECTOR.replace("director {", `director {\n${lines}`)}virtual_server 10.0.0.100 80 {\n  lb_algo maglev\n}\n`;

  it("max_services, max_real_servers and scheduler_memory in keepalived.conf and the rules format, and what check prints", async () => {
    const k = parseKeepalived(files.write("sizes.conf", sized("  max_services 65536\n  max_real_servers 1048576\n  scheduler_memory 64M")));
    expect([k.maxServices, k.maxRealServers, k.schedulerMemory]).toEqual([65536, 1048576, 64 * 1048576]);
    const r = parseRules("max_services 10\nmax_real_servers 20\nscheduler_memory 512K\n", "t.rules");
    expect([r.maxServices, r.maxRealServers, r.schedulerMemory]).toEqual([10, 20, 512 * 1024]);
    for (const [text, bytes] of [["1G", 1024 ** 3], ["16MiB", 16 * 1048576], ["4096", 4096], ["0", 0]] as const) {
      expect(parseRules(`scheduler_memory ${text}\n`, "t.rules").schedulerMemory).toBe(bytes);
    }
    const out = await check(files.write("check.conf", sized("  max_services 2000\n  max_real_servers 30000\n  scheduler_memory 1M")));
    expect(out).toContain("tables: max_services 2000 (0.3 MiB), max_real_servers 30000 (3.5 MiB), scheduler_memory 1.0 MiB " +
      "(a table of sh or dh 1 KiB, mh 16 KiB, maglev 256.1 KiB: room for 3 maglev services)");
  });

  it("refuses a size out of range or not a size, at its file:line:column", () => {
    expect(() => parseKeepalived(files.write("s1.conf", sized("  max_services 65537")))).toThrow(/s1.conf:2:16: '65537': number of services must be a whole number from 1 to 65536/);
    expect(() => parseKeepalived(files.write("s2.conf", sized("  max_real_servers 0")))).toThrow(/s2.conf:2:20: '0': number of real servers must be a whole number from 1 to 1048576/);
    expect(() => parseRules("scheduler_memory 16X\n", "t.rules")).toThrow("t.rules:1:18: '16X': scheduler memory must be a size in bytes, with K, M or G for 1024, 1024² or 1024³ (16M, 512K, 1G), not '16X'");
    expect(() => parseRules("scheduler_memory 5G\n", "t.rules")).toThrow("t.rules:1:18: '5G': scheduler memory out of range (at most 4032 MiB): 5G");
  });

  it("the engine is made with them: a file of more services than max_services is refused by check", async () => {
    const many = Array.from({ length: 3 }, (_, i) => `virtual_server 10.0.0.100 ${81 + i} {\n  lb_algo rr\n}\n`).join("");
    await expect(check(files.write("few.conf", `${DIRECTOR.replace("director {", "director {\n  max_services 2")}${many}`))).rejects.toThrow("the service table is full (2 services");
  });

  it("a reload that changes one of them is refused: restart wasmvs to change it", async () => {
    const sizes = { slotSize: 2048, maxServices: 10, maxRealServers: 20 };
    const IF = "interface 0 mac 02:00:00:00:00:01 address 10.0.0.1/24\n";
    const was = parseRules(`${IF}max_services 10\nmax_real_servers 20\nscheduler_memory 1M\n`, "t.rules");
    expect((await scratchErrors(sizes, was, parseRules(`${IF}max_services 10\nmax_real_servers 20\nscheduler_memory 1M\n`, "t.rules"))).map(String)).toEqual([]);
    // Refused where the new file writes the setting (line 1 when it no longer does).
    for (const [changed, key, line] of [["max_services 11\nmax_real_servers 20\nscheduler_memory 1M", "max_services", 2],
      ["max_services 10\nmax_real_servers 21\nscheduler_memory 1M", "max_real_servers", 3], ["max_services 10\nmax_real_servers 20\nscheduler_memory 2M", "scheduler_memory", 4],
      ["max_services 10\nmax_real_servers 20", "scheduler_memory", 1]] as const) {
      const errors = await scratchErrors(sizes, was, parseRules(`${IF}${changed}\n`, "t.rules"));
      expect(errors.map((e) => e.message)).toEqual([`t.rules:${line}:1: '${key}': ${key} changed: restart wasmvs to change it`]);
    }
  });
});
