// The data-path thread's first load (host/engine/start.ts, host/dataplane/start.ts): the start
// set a configuration makes leaves a fresh engine exactly as applyConfig leaves it, byte for
// byte, and refuses what applyConfig refuses; the thread loads no configuration code.

import { describe, it, expect } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import { applyStartSet, packServices } from "../host/engine/start.js";
import { startSetOf } from "../host/dataplane/start.js";
import { AddressError, type Engine, EngineError, ipToWire } from "../host/engine/index.js";
import { loadEngine } from "../host/engine/node.js";
import { CLIENT, DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "./helpers/director.js";
import { drawHouse } from "./helpers/house.js";

const RULES = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24 mtu 9000
route 10.9.0.0/16 via 10.1.0.254
neighbour ${CLIENT} 02:cc:00:00:00:02
mark 7 protocol tcp destination 10.0.0.200/32 ports 80-90
reject_unknown off
--set 900 120 300
-A -t ${VIP}:80 -s wrr
-a -t ${VIP}:80 -r 10.1.0.11:8080 -m -w 3
-a -t ${VIP}:80 -r 10.1.0.12:80 -g -w 1 -x 100 -y 10
-a -t ${VIP}:80 -r 10.9.0.5:80 -i -w 2
-A -u ${VIP}:53 -s sh -b sh-port -o
-a -u ${VIP}:53 -r 10.1.0.13:53 -m
-A -t ${VIP}:443 -s mh -p 300 -M 255.255.255.0
-a -t ${VIP}:443 -r 10.1.0.11:443 -m -w 0
-A -f 7 -s maglev
-a -f 7 -r 10.1.0.14:0 -g
-A -t 10.0.0.101:0 -s rr -p 60
`;

const memoryOf = (e: Engine) => Buffer.from(new Uint8Array(e.memory.buffer));
const sizes = { batch: 8, connCapacity: 1024, maxServices: 64, maxRealServers: 256, maglevServices: 1, slotSize: 9088 + 64 * 2 };

describe("the start set", () => {
  it("leaves a fresh engine byte for byte as applyConfig does (rules file)", async () => {
    const cfg = parseRules(RULES, "s.rules");
    const a = await loadEngine(sizes);
    applyConfig(a, cfg);
    const b = await loadEngine(sizes);
    applyStartSet(b, startSetOf(cfg));
    expect(b.services()).toEqual(a.services());
    expect(b.services().length).toBe(5);
    expect(memoryOf(b).equals(memoryOf(a))).toBe(true);
  });

  it("leaves a fresh engine byte for byte as applyConfig does (keepalived.conf, with VRRP and sync)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wasmvs-start-"));
    const path = join(dir, "k.conf");
    writeFileSync(path, `global_defs {
    lvs_sync_daemon inside VI_1
}
director {
    interface outside {
        mac ${OUT_MAC}
        address ${DIRECTOR_OUT}/24
    }
    interface inside {
        mac ${IN_MAC}
        address ${DIRECTOR_IN}/24
    }
}
vrrp_instance VI_1 {
    state BACKUP
    interface outside
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        ${VIP}
    }
}
virtual_server ${VIP} 80 {
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    real_server 10.1.0.11 8080 {
        weight 2
    }
    real_server 10.1.0.12 8080 {
        weight 1
    }
}
`);
    let cfg;
    try {
      cfg = parseKeepalived(path);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(cfg.vrrp?.length).toBe(1);
    expect(cfg.syncDaemon).toBeDefined();
    const a = await loadEngine(sizes);
    applyConfig(a, cfg);
    const b = await loadEngine(sizes);
    applyStartSet(b, startSetOf(cfg));
    expect(memoryOf(b).equals(memoryOf(a))).toBe(true);
  });

  it("refuses what applyConfig refuses (the engine's words; applyConfig gives file:line:column)", async () => {
    const scratch = await loadEngine(sizes);
    const notOnLink = parseRules(RULES + `-a -t ${VIP}:80 -r 10.7.0.1:80 -g\n`, "s.rules");
    expect(() => applyConfig(scratch, notOnLink)).toThrow(/s\.rules:\d+:\d+: .*not on a directly connected network/);
    const b = await loadEngine(sizes);
    let refused: unknown;
    try {
      applyStartSet(b, startSetOf(notOnLink));
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(EngineError);
    expect((refused as Error).message).toBe("service tcp 10.0.0.100:80: real server 10.7.0.1:80: real server is not on a directly connected network (direct routing needs one)");
    // A full table: the service past max_services.
    const full = await loadEngine({ ...sizes, maxServices: 4 });
    expect(() => applyStartSet(full, startSetOf(parseRules(RULES, "s.rules")))).toThrow(/the service table is full \(4 services/);
  });

  it("checks values as the engine's calls do when they are packed", () => {
    // Addresses come parsed (where the file was read: a leading 0 is refused there, AddressError).
    const spec = { protocol: "tcp" as const, address: VIP, vaddr: ipToWire(VIP), port: 80, scheduler: "wrr" as const };
    const rs = { address: "10.1.0.11", daddr: ipToWire("10.1.0.11") };
    expect(() => packServices([{ ...spec, realServers: [{ ...rs, port: 80, method: "nat", weight: 70000 }] }])).toThrow("weight out of range (0-65535): 70000");
    expect(() => ipToWire("10.1.0.011")).toThrow(AddressError);
    expect(() => packServices([{ ...spec, port: 0, realServers: [] }])).toThrow("Zero port specified for non-persistent service");
    expect(() => packServices([{ ...spec, realServers: [{ ...rs, port: 80, method: "nat", weight: 1, uthreshold: 5, lthreshold: 9 }] }]))
      .toThrow("lower threshold 9 is higher than upper threshold 5");
    const p = packServices([{ ...spec, realServers: [{ ...rs, port: 8080, method: "nat", weight: 1 }] }]);
    expect([p.services, p.servers, p.table.length]).toEqual([1, 1, 12 + 9]);
  });

  it("is all the data-path thread loads of the configuration: no parser, no model code", async () => {
    const house = await drawHouse();
    const seen = new Set<string>();
    const todo = ["dataplane/thread.ts"];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      todo.push(...(house.imports[f] ?? []));
    }
    // The configuration's types and the log's printable(), nothing that reads a file.
    expect([...seen].filter((f) => f.startsWith("config/")).sort()).toEqual(["config/director.ts", "config/health.ts", "config/printable.ts", "config/vrrp.ts"]);
  });
});
