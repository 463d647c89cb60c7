// `wasmvs decap`: the decapsulator as a bump in the wire on a real server. The uplink
// TAP faces the network (put it in a bridge with the real uplink, or with a veth);
// the stack TAP carries the server's addresses. IPIP for the tunnel addresses is
// unwrapped on the way up; everything else passes both ways unchanged.

import { execFileSync } from "node:child_process";
import { loadDecapsulator } from "../engine/node.js";
import { Decapsulator, DecapPort, tunnelAddress } from "../engine/decap.js";
import { slotSizeFor } from "../engine/index.js";
import { Abi } from "../engine/abi.js";
import { tapAddon } from "../io/tap.js";
import { Dataplane } from "./loop.js";

export interface DecapOptions {
  uplink: string;
  stack: string;
  addresses: string[];
  uplinkBridge?: string;
  log: (line: string) => void;
}

/** The MTU of a device in this network namespace (netlink, through ip). */
function mtuOf(dev: string): number {
  const links = JSON.parse(execFileSync("ip", ["-j", "link", "show", "dev", dev], { encoding: "utf8" })) as { mtu?: number }[];
  return links[0]?.mtu ?? 1500;
}

export async function runDecap(o: DecapOptions): Promise<void> {
  for (const a of o.addresses) tunnelAddress(a); // a bad address is refused before any device is touched
  const addon = tapAddon();
  const up = addon.open(o.uplink);
  let stack: number;
  try {
    stack = addon.open(o.stack);
  } catch (e) {
    addon.close(up);
    throw e;
  }
  let d: Decapsulator;
  try {
    if (o.uplinkBridge) execFileSync("ip", ["link", "set", "dev", o.uplink, "master", o.uplinkBridge], { stdio: "pipe" });
    execFileSync("ip", ["link", "set", "dev", o.uplink, "up"], { stdio: "pipe" });
    execFileSync("ip", ["link", "set", "dev", o.stack, "up"], { stdio: "pipe" });
    // Slots for the largest frame either TAP's MTU lets through (jumbo frames pass whole).
    d = await loadDecapsulator(256, slotSizeFor(Math.max(mtuOf(o.uplink), mtuOf(o.stack))));
    for (const a of o.addresses) d.addTunnelAddress(a);
  } catch (e) {
    addon.close(up);
    addon.close(stack);
    const stderr = (e as { stderr?: Buffer | string }).stderr?.toString().trim();
    throw stderr ? new Error(`setting up ${o.uplink}/${o.stack}: ${stderr}`) : e;
  }
  const loop = new Dataplane(d, [{ ifindex: DecapPort.UPLINK, fd: up, name: o.uplink }, { ifindex: DecapPort.STACK, fd: stack, name: o.stack }], 1000);
  loop.start();
  o.log(`decapsulating tunnel packets (IPIP, 6in4, ip6ip6, 4in6) for ${o.addresses.join(", ")}: uplink ${o.uplink}${o.uplinkBridge ? ` (bridge ${o.uplinkBridge})` : ""}, stack ${o.stack}, ` +
    `frames up to ${d.slotSize - Abi.HEADROOM} bytes`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  loop.stop();
  addon.close(up);
  addon.close(stack);
  const c = d.counters();
  o.log(`stopped: ${c.rx_frames} frames in, ${c.decapsulated} decapsulated, ${c.passed_up} passed up, ${c.passed_down} passed down, ` +
    `drops: ${Object.entries(c).filter(([k, v]) => k.startsWith("drop_") && v > 0n).map(([k, v]) => `${k.slice(5)} ${v}`).join(", ") || "none"}; ` +
    `IPv6 tunnels: 6in4 ${c.decapsulated_6in4}, ip6ip6 ${c.decapsulated_ip6ip6}, 4in6 ${c.decapsulated_4in6}`);
}
