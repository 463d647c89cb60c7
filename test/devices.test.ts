// readDevice on real devices: a veth pair in a network namespace of this test's own, read from
// inside it (ip netns exec, as `wasmvs run` is started there), and what loadConfig and check make
// of an interface that names it. Root is needed to create the namespace.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../host/sandbox/sandbox.js";
import { readDevice } from "../host/control/devices.js";
import { tempFolder } from "./helpers/files.js";

const NS = `wvsdev${process.pid}`;
const HELPER = join(ROOT, "test", "helpers", "read-device.ts");
const folder = tempFolder("wasmvs-devices-");

/** A command that must succeed, bounded in time. */
function must(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8", timeout: 10000 });
  if (r.status !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr || r.error?.message || `status ${r.status}`}`);
  return r.stdout;
}

/** What the helper says, run inside the namespace. */
function inside(mode: "device" | "load" | "check", arg: string): any {
  return JSON.parse(must(["ip", "netns", "exec", NS, process.execPath, "--import", "tsx", HELPER, mode, arg]));
}

describe("readDevice on a veth in a namespace", () => {
  beforeAll(() => {
    must(["ip", "netns", "add", NS]);
    const ip = (...a: string[]) => must(["ip", "-n", NS, ...a]);
    ip("link", "add", "wv0", "type", "veth", "peer", "name", "wv1");
    ip("link", "set", "dev", "wv0", "address", "02:77:00:00:00:01", "mtu", "1400");
    ip("addr", "add", "10.77.0.1/24", "dev", "wv0");
    ip("addr", "add", "10.77.128.1/17", "dev", "wv0");
    ip("link", "set", "dev", "wv0", "up");
    ip("link", "set", "dev", "wv1", "up");
    // A veth with two receive queues, and its peer left down.
    ip("link", "add", "wv2", "numrxqueues", "2", "numtxqueues", "2", "type", "veth", "peer", "name", "wv3", "numrxqueues", "2", "numtxqueues", "2");
    ip("link", "set", "dev", "wv2", "up");
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", NS], { timeout: 10000 });
  });

  it("gives the device's MAC, MTU, IPv4 addresses in the kernel's order, queues, state and kind", () => {
    const queues = (dev: string) => must(["ip", "netns", "exec", NS, "ls", `/sys/class/net/${dev}/queues`]).split(/\s+/).filter((q) => q.startsWith("rx-")).length;
    expect(inside("device", "wv0")).toEqual({
      name: "wv0", ifindex: expect.any(Number), linkType: "ether", mac: "02:77:00:00:00:01", mtu: 1400,
      addresses: ["10.77.0.1/24", "10.77.128.1/17"], rxQueues: queues("wv0"), operstate: "UP", kind: "veth",
    });
    // Its peer down: the kernel says LOWERLAYERDOWN; two queues asked for, what sysfs lists.
    const wv2 = inside("device", "wv2");
    expect(wv2).toMatchObject({ name: "wv2", operstate: "LOWERLAYERDOWN", addresses: [], kind: "veth", rxQueues: queues("wv2") });
    expect(queues("wv2")).toBe(2);
    expect(inside("device", "nosuch0")).toBeNull();
    // A name the kernel would refuse is no device (never passed to ip).
    expect(readDevice("-j")).toBeUndefined();
    // Outside the namespace there is no wv0 (unless this host has one of its own).
    if (spawnSync("ip", ["link", "show", "dev", "wv0"], { stdio: "ignore" }).status !== 0) expect(readDevice("wv0")).toBeUndefined();
  });

  it("loadConfig fills the interface from it; check says the backend; a device without address is refused", () => {
    const rules = folder.write("dev.rules", "interface 0 name outside device wv0\n-A -t 10.77.0.100:80 -s rr\n-a -t 10.77.0.100:80 -r 10.77.0.11:8080 -g\n");
    const { interfaces } = inside("load", rules);
    expect(interfaces).toMatchObject([{ name: "outside", device: "wv0", tap: "", mac: "02:77:00:00:00:01", address: "10.77.0.1/24", mtu: 1400,
      rxQueues: 1, fromDevice: { mac: true, address: true, mtu: true } }]);
    const { out } = inside("check", rules);
    expect(out).toContain("interface 0 outside: device wv0 (1 rx queue), mac 02:77:00:00:00:01 (the device's), address 10.77.0.1/24 (the device's), mtu 1400 (the device's)\n" +
      "  backend xdp: device wv0 named: AF_XDP rings on the host's own interface, copy mode; no bridge, no TAP; this host can: AF_XDP sockets and the bpf syscall, and the capabilities\n");
    const bare = folder.write("bare.rules", "interface 0 name outside device wv2\n-A -t 10.77.0.100:80 -s rr\n");
    expect(inside("load", bare)).toEqual({ error: `${bare}:1:33: 'wv2': device wv2 has no IPv4 address and the interface gives none: ` +
      "add one to the device (ip addr add ADDRESS/PREFIX dev wv2) or give 'address'" });
  });
});
