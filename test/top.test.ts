// `wasmvs top`'s screen from a live view: an engine's real listing (in-thread) with health
// checking's verdicts beside it. A server its check took out of the table is still on the
// screen, down with the reason, as on the dashboard; an inhibited one (inhibit_on_failure:
// in the table at weight 0) is down on its own row.

import { describe, expect, it } from "vitest";
import { director, RS, VIP } from "./helpers/director.js";
import { engineSnapshot } from "../host/dataplane/requests.js";
import { liveView } from "../host/control/live.js";
import { renderTop } from "../host/cli/top.js";
import type { ServerHealthView } from "../host/health/service.js";

describe("wasmvs top", () => {
  it("lists the servers health checking took out, DOWN with the reason and since when, under their service", async () => {
    const e = await director();
    const s = e.addService({ protocol: "tcp", address: VIP, port: 80, scheduler: "wlc" });
    e.addRealServer(s, { address: RS[0], port: 80, method: "dr", weight: 1 });
    e.addRealServer(s, { address: RS[1], port: 80, method: "dr", weight: 0 });
    // A second service whose only server is out: the service stays, with its server listed.
    e.addService({ protocol: "udp", address: VIP, port: 53, scheduler: "rr" });
    const snap = engineSnapshot(e, { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 });
    const h = (service: string, server: string, alive: boolean, reason: string, sinceChangeS?: number): ServerHealthView =>
      ({ service, server, alive, weight: alive ? 1 : 0, reason, ...(sinceChangeS !== undefined ? { sinceChangeS } : {}), checkers: [] });
    const tcp = `tcp ${VIP}:80`;
    const health = [
      h(tcp, `${RS[0]}:80`, true, "TCP_CHECK on 10.1.0.11:80: connected", 300),
      h(tcp, `${RS[1]}:80`, false, "HTTP_GET: status 503, expected 200", 7),
      h(tcp, `${RS[2]}:80`, false, "TCP_CHECK on 10.1.0.13:80: connection refused", 42),
      h(`udp ${VIP}:53`, `${RS[0]}:53`, false, "MISC_CHECK: exit status 1\x1b[2J", 9000),
    ];
    const screen = renderTop(liveView(snap, undefined, health, [], 0), "/run/wasmvs/x.sock", 200);
    const at = (prefix: string) => screen.findIndex((l) => l.startsWith(prefix));
    const service = at(`TCP  ${VIP}:80 wlc`);
    // In IPVS list order (the most recently added first), then the ones out of the table.
    expect(screen.slice(service + 1, service + 4).map((l) => l.trim().split(/\s+/).slice(0, 2).join(" "))).toEqual([
      `-> ${RS[1]}:80`, `-> ${RS[0]}:80`, `-> ${RS[2]}:80`]);
    expect(screen[service + 1]).toMatch(/Route\s+0\s.*  DOWN: HTTP_GET: status 503, expected 200$/);
    expect(screen[service + 2]).not.toContain("DOWN");
    expect(screen[service + 3]).toBe(`  -> ${RS[2]}:80`.padEnd(32) + " DOWN: TCP_CHECK on 10.1.0.13:80: connection refused  " +
      "(not in the table: taken out by its health check, 42 s ago)");
    const udp = at(`UDP  ${VIP}:53 rr`);
    // The reason quotes a script: its escape is shown, not obeyed.
    expect(screen[udp + 1]).toBe(`  -> ${RS[0]}:53`.padEnd(32) + " DOWN: MISC_CHECK: exit status 1\\x1b[2J  (not in the table: taken out by its health check, 3 h ago)");
    // Cut at the terminal's width like every other line.
    expect(renderTop(liveView(snap, undefined, health, [], 0), "/s", 60).every((l) => l.length <= 60)).toBe(true);
  });
});
