// The log line of a change names its changes up to LOGGED_CHANGES, then says how many more: an
// -R of 10,000 services made one 8 MB line of 110,000 changes, which syslog and the journal cut.
// Whoever sent the change still gets every one of them.
import { describe, it, expect } from "vitest";
import { applyConfig, parseRules } from "../host/config/rules.js";
import { LocalEngine } from "../host/dataplane/adapter.js";
import { ControlState, inBrief, LOGGED_CHANGES } from "../host/control/daemon.js";
import { parseArgs } from "../host/config/ipvsadm.js";
import { loadEngine } from "../host/engine/node.js";
import { DIRECTOR_IN, DIRECTOR_OUT, IN_MAC, OUT_MAC, VIP } from "./helpers/director.js";

const HEAD = `interface 0 name outside mac ${OUT_MAC} address ${DIRECTOR_OUT}/24
interface 1 name inside mac ${IN_MAC} address ${DIRECTOR_IN}/24
route default via 10.0.0.254
`;

describe("a change's log line", () => {
  it("names up to LOGGED_CHANGES changes, then the count of the rest; the reply has all of them", async () => {
    const e = await loadEngine({ batch: 16, connCapacity: 1024 });
    const c = parseRules(HEAD, "d.rules");
    applyConfig(e, c);
    const log: string[] = [];
    const state = new ControlState(new LocalEngine(e, () => 1000), c, () => c, (l) => log.push(l));
    // A few changes: every one named, as before.
    const few = await state.applyCommands([parseArgs(["-A", "-t", `${VIP}:80`, "-s", "rr"]), parseArgs(["-a", "-t", `${VIP}:80`, "-r", "10.1.0.11:80", "-m"])]);
    expect(few).toHaveLength(2);
    expect(log.pop()).toBe(`control: ${few.join("; ")}`);
    // 150 services: 150 changes returned, 100 named in the line and "50 more".
    const many = Array.from({ length: 150 }, (_, i) => parseArgs(["-A", "-t", `${VIP}:${1000 + i}`, "-s", "rr"]));
    const changes = await state.applyCommands(many);
    expect(changes).toHaveLength(150);
    const line = log.pop()!;
    expect(line).toBe(`control: 150 changes: ${changes.slice(0, LOGGED_CHANGES).join("; ")}; and 50 more`);
    expect(line).not.toContain(changes[LOGGED_CHANGES]);
    expect(inBrief(changes.slice(0, LOGGED_CHANGES))).toBe(changes.slice(0, LOGGED_CHANGES).join("; "));
  });
});
