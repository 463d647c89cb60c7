// A checked virtual server none of whose real servers has a checker (the common keepalived.conf
// of a large table): health checking keeps no entry per server for it and the overlay leaves it
// as the file has it, and what anyone sees is as before: every server alive at its weight, "no
// checker: always in the pool", listed in the file's order among the checked ones; a checker
// added later finds the server as it was listed; a change to one service keeps the listing's order.

import { describe, it, expect } from "vitest";
import { keepalivedFile, tempFolder } from "./helpers/files.js";
import { effective, effectiveService, healthHasSay, INITIAL } from "../host/health/overlay.js";
import { HealthService } from "../host/health/service.js";
import { parseKeepalived } from "../host/config/keepalived.js";
import type { DirectorConfig } from "../host/config/rules.js";
import { FakeClock } from "../host/io/clock.js";

const tmp = tempFolder("wasmvs-unchecked-");
const keepalivedConf = keepalivedFile(tmp);

function conf(text: string): DirectorConfig {
  return parseKeepalived(keepalivedConf(text));
}

const block = (port: number, servers: string) => `virtual_server 10.0.0.100 ${port} {
  protocol TCP
${servers}}
`;
const UNCHECKED = block(80, "  real_server 10.1.0.11 80 { weight 3 }\n  real_server 10.1.0.12 80 { weight 2 }\n");
const CHECKED = block(81, "  real_server 10.1.0.13 81 { weight 1\n    TCP_CHECK { }\n  }\n");
const SORRY = block(82, "  sorry_server 10.1.0.99 82\n  real_server 10.1.0.14 82 { weight 4 }\n");

function service(logs: string[] = []) {
  const h = new HealthService({ clock: new FakeClock(), log: (l) => logs.push(l), refresh: async () => [], random: () => 0,
    probe: async () => ({ ok: true, reason: "fine" }) });
  return h;
}
/** The views in brief; the status file's one at a time (eachView) are the same. */
const brief = (h: HealthService) => {
  const views = h.views();
  expect([...h.eachView()]).toEqual(views);
  return views.map((v) => `${v.service} ${v.server} ${v.alive ? "up" : "down"} w${v.weight} ${v.reason} [${v.checkers.map((c) => c.kind)}]`);
};

describe("a checked virtual server without checkers", () => {
  it("is the file's as it is: the overlay gives the very same records, for health's view as before any check", () => {
    const cfg = conf(UNCHECKED + UNCHECKED.replace(" 80 ", " 83 "));
    const h = service();
    h.reconcile(cfg);
    expect(cfg.services.some(healthHasSay)).toBe(false);
    expect(effective(cfg)).toBe(cfg);
    expect(effective(cfg, h)).toBe(cfg);
    expect(effectiveService(cfg.services[0], h)).toBe(cfg.services[0]);
    // What a view that does not vouch for it says is still taken (a test's, a server down without a checker).
    const down = { server: () => ({ alive: false, add: 0 }), quorumUp: () => true };
    expect(effective(cfg, down).services[0].realServers).toEqual([]);
    // A checker or a sorry server gives health its say.
    const mixed = conf(UNCHECKED + CHECKED + SORRY);
    expect(mixed.services.map(healthHasSay)).toEqual([false, true, true]);
    expect(effective(mixed, INITIAL).services[0]).toBe(mixed.services[0]);
  });

  it("is listed server by server in the file's order among the checked ones, alive at its weight", () => {
    const cfg = conf(CHECKED + UNCHECKED + SORRY);
    const h = service();
    h.reconcile(cfg);
    expect(brief(h)).toEqual([
      "tcp 10.0.0.100:81 10.1.0.13:81 up w1 not checked yet [TCP_CHECK]",
      "tcp 10.0.0.100:80 10.1.0.11:80 up w3 no checker: always in the pool []",
      "tcp 10.0.0.100:80 10.1.0.12:80 up w2 no checker: always in the pool []",
      "tcp 10.0.0.100:82 10.1.0.14:82 up w4 no checker: always in the pool []",
    ]);
    expect(h.server("tcp 10.0.0.100:80", "10.1.0.12:80")).toEqual({ alive: true, add: 0 });
    expect(h.server("tcp 10.0.0.100:80", "10.1.0.19:80")).toBeUndefined();
    expect(h.quorumUp("tcp 10.0.0.100:80")).toBe(true);
    // The sorry server's service: quorum 1 reached by its one server (weight 4): the sorry server stays out.
    expect(effective(cfg, h).services[2].realServers.map((r) => `${r.address} w${r.weight}`)).toEqual(["10.1.0.14 w4"]);
  });

  it("a change to it alone (an ipvsadm -e) keeps the listing's order; a checker added finds its server as it was listed", async () => {
    const cfg = conf(UNCHECKED + CHECKED);
    const h = service();
    h.reconcile(cfg);
    // Its two servers written the other way round, one weight changed: as the entries of checked servers, they keep their places.
    const swapped = conf(block(80, "  real_server 10.1.0.12 80 { weight 5 }\n  real_server 10.1.0.11 80 { weight 3 }\n") + CHECKED);
    h.reconcile(swapped, ["tcp 10.0.0.100:80"]);
    expect(brief(h).slice(0, 2)).toEqual([
      "tcp 10.0.0.100:80 10.1.0.11:80 up w3 no checker: always in the pool []",
      "tcp 10.0.0.100:80 10.1.0.12:80 up w5 no checker: always in the pool []",
    ]);
    // A server removed: the other stays.
    const one = conf(block(80, "  real_server 10.1.0.11 80 { weight 3 }\n") + CHECKED);
    h.reconcile(one, ["tcp 10.0.0.100:80"]);
    expect(brief(h)).toEqual([
      "tcp 10.0.0.100:80 10.1.0.11:80 up w3 no checker: always in the pool []",
      "tcp 10.0.0.100:81 10.1.0.13:81 up w1 not checked yet [TCP_CHECK]",
    ]);
    // A checker added to it: the server is as it was (alive; its reason until the first check ends).
    const checked = conf(block(80, "  real_server 10.1.0.11 80 { weight 3\n    TCP_CHECK { alpha }\n  }\n") + CHECKED);
    h.reconcile(checked, ["tcp 10.0.0.100:80"]);
    expect(brief(h)).toEqual([
      "tcp 10.0.0.100:80 10.1.0.11:80 down w3 no checker: always in the pool [TCP_CHECK]",
      "tcp 10.0.0.100:81 10.1.0.13:81 up w1 not checked yet [TCP_CHECK]",
    ]);
    // And the checker taken away again: the server keeps its entry (and its last change) from then on.
    h.reconcile(one, ["tcp 10.0.0.100:80"]);
    expect(brief(h)[0]).toBe("tcp 10.0.0.100:80 10.1.0.11:80 up w3 no checker: always in the pool []");
    await h.stop();
  });

  it("omega: at stop the down scripts of its servers run, as they are alive", async () => {
    const cfg = conf(block(80, "  omega\n  real_server 10.1.0.11 80 { weight 3\n    notify_down /bin/true\n  }\n"));
    const h = service();
    const ran: string[] = [];
    h.scripts.run = async (s) => { ran.push(s.argv.join(" ")); return { code: 0 } as Awaited<ReturnType<typeof h.scripts.run>>; };
    h.reconcile(cfg);
    await h.stop();
    expect(ran).toEqual(["/bin/true"]);
  });
});
