// The director most engine tests use: an outside segment with clients and a gateway,
// an inside segment with three real servers, static neighbours so that no ARP
// exchange is needed unless a test wants one.

import { Engine, EngineOptions, RealServerSpec, SchedulerName, Protocol } from "../../host/engine/index.js";
import { loadEngine } from "../../host/engine/node.js";
import { ROUTER_OUT, serverAddress } from "../../host/sandbox/sandbox.js";

// The same network plan as the namespace sandbox of the end-to-end tests.
import { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "../../host/sandbox/sandbox.js";
export { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP };
export const GATEWAY = ROUTER_OUT;
export const GATEWAY_MAC = "02:00:00:00:00:fe";
export const CLIENT_MAC = "02:cc:00:00:00:02";
export const REMOTE_CLIENT = "192.0.2.7";
export const RS = [0, 1, 2].map(serverAddress);
export const RS_MAC = ["02:aa:00:00:00:11", "02:aa:00:00:00:12", "02:aa:00:00:00:13"];

/** The director's lines of a rules file (its interfaces, default route and static neighbours
 *  for the gateway and the three real servers), before its services; and how many lines. */
export const RULES_HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
route default via ${GATEWAY}
neighbour ${GATEWAY} ${GATEWAY_MAC}
${RS.map((a, i) => `neighbour ${a} ${RS_MAC[i]}\n`).join("")}`;
export const RULES_HEAD_LINES = RULES_HEAD.split("\n").length - 1;

export async function director(options: EngineOptions = {}, staticNeighbours = true): Promise<Engine> {
  const e = await loadEngine({ batch: 64, connCapacity: 4096, ...options });
  e.setInterface({ index: 0, mac: OUT_MAC, address: `${DIRECTOR_OUT}/24`, mtu: 1500 });
  e.setInterface({ index: 1, mac: IN_MAC, address: `${DIRECTOR_IN}/24`, mtu: 1500 });
  e.addRoute("0.0.0.0/0", GATEWAY, 0);
  if (staticNeighbours) {
    e.setNeighbour(GATEWAY, GATEWAY_MAC, 0);
    e.setNeighbour(CLIENT, CLIENT_MAC, 0);
    RS.forEach((a, i) => e.setNeighbour(a, RS_MAC[i], 1));
  }
  return e;
}

export function service(e: Engine, protocol: Protocol, port: number, scheduler: SchedulerName, servers: Partial<RealServerSpec>[]): number {
  const s = e.addService({ protocol, address: VIP, port, scheduler });
  for (const [i, r] of servers.entries()) {
    e.addRealServer(s, { address: RS[i], port, method: "nat", weight: 1, ...r });
  }
  return s;
}

/** Push frames through one batch; returns the emitted frames (copied). */
export function run(e: Engine, frames: { frame: Uint8Array; ifindex: number }[], nowMs = 1000): { ifindex: number; frame: Uint8Array }[] {
  frames.forEach((f, i) => e.loadFrame(i, f.frame, f.ifindex));
  const n = e.process(frames.length, nowMs);
  return e.txFrames(n);
}
