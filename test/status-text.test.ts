// The status file written a few services at a time (housekeeping.ts statusText): the same bytes
// as JSON.stringify(status, null, 1) of the whole.

import { describe, it, expect } from "vitest";
import { statusText } from "../host/control/housekeeping.js";
import { serviceStatus, statusOf } from "../host/daemon/director.js";
import { loadEngine } from "../host/engine/node.js";
import { LocalEngine } from "../host/dataplane/adapter.js";

describe("the status file's text", () => {
  it("is JSON.stringify's, byte for byte, for any number of services", async () => {
    const e = await loadEngine({ batch: 8, connCapacity: 64, maxServices: 128, maxRealServers: 1024 });
    e.setInterface({ index: 0, mac: "02:00:00:00:00:01", address: "10.1.0.1/16" });
    const a = new LocalEngine(e);
    const control = { timer: { lastMs: 0, maxMs: 3 }, health: [{ server: "10.1.0.5:80", why: "line one\nline \"two\"" }], vrrp: [], services: [] };
    for (const count of [0, 1, 16, 17, 33, 100]) {
      while ((await a.snapshot()).services.length < count) {
        const n = (await a.snapshot()).services.length;
        const s = e.addService(n % 7 === 3 ? { protocol: "tcp", address: "0.0.0.0", port: 0, fwmark: n + 1, scheduler: "rr" } :
          { protocol: n & 1 ? "udp" : "tcp", address: `10.0.0.${n + 1}`, port: 80, scheduler: "wlc", ...(n % 5 === 0 ? { persistence: { timeout: 300, netmask: "255.255.255.0" } } : {}) });
        for (let k = 0; k < n % 4; k++) e.addRealServer(s, { address: `10.1.${n}.${k + 1}`, port: 8080, method: "nat", weight: k });
      }
      const snap = await a.boundedSnapshot({ maxServices: 1024 });
      const status = { ...(statusOf(snap, control) as object), dataPathThread: 1234 };
      expect((status as { services: unknown[] }).services).toHaveLength(count);
      const whole = JSON.stringify(status, null, 1);
      expect(await statusText(status)).toBe(whole);
      // As the director writes it: statusOf without the services, each made as it is written.
      const head = { ...(statusOf({ ...snap, services: [] }, control) as object), dataPathThread: 1234 };
      expect((await statusText(head, { services: snap.services, each: serviceStatus })).replace(/"time": "[^"]*"/, "")).toBe(whole.replace(/"time": "[^"]*"/, ""));
    }
    // Long lists, and lists in another order than statusOf's: control (with every checked real
    // server, entries whose text has line breaks in strings) before the services, empty lists.
    const health = Array.from({ length: 3000 }, (_, i) => ({ service: `TCP 10.0.0.${i % 250}:80`, server: `10.1.0.${i % 250}:8080`, alive: i % 3 !== 0,
      reason: i % 7 ? "fine" : "line one\nline \"two\"", sinceChangeS: i % 2 ? undefined : i, checkers: i % 5 ? [] : [{ kind: "TCP_CHECK", up: true, target: "x" }] }));
    const services = Array.from({ length: 40 }, (_, i) => ({ address: `10.0.0.${i}`, port: 80, realServers: Array.from({ length: i % 3 }, (_, k) => ({ k })) }));
    for (const status of [
      { control: { timer: 1, health, vrrp: [] }, services, after: { health: [1, 2] } },
      { services: [], control: { health: [] } },
      { a: 1, control: { health: [{ x: [] }] }, services: [undefined, null, 3] },
    ]) {
      expect(await statusText(status)).toBe(JSON.stringify(status, null, 1));
    }
    // A status without services (the tests' own statusOf): as it is.
    expect(await statusText({ connections: 3 })).toBe(JSON.stringify({ connections: 3 }, null, 1));
  });
});
