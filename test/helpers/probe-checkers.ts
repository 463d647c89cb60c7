// Runs every checker of a keepalived.conf once, as the director would (read by
// readKeepalived, probed by host/health/checkers), and prints what each found as JSON.
// The IPv6 health test runs it inside the director's namespace (ip netns exec ... node
// --import tsx), where the checks leave from the director host's own addresses.
// usage: node --import tsx test/helpers/probe-checkers.ts KEEPALIVED_CONF

import { readKeepalived } from "../../host/config/keepalived.js";
import { probe } from "../../host/health/checkers/index.js";
import { ScriptRunner } from "../../host/health/scripts.js";

const r = readKeepalived(process.argv[2]);
if (r.errors.length) {
  console.log(JSON.stringify({ errors: r.errors.map((e) => e.message) }));
  process.exit(0);
}
const scripts = new ScriptRunner({ security: false, log: () => {} });
const rows = [];
for (const s of r.cfg.services) {
  for (const rs of s.realServers) {
    for (const c of rs.health?.checkers ?? []) {
      const o = await probe(c, { scripts });
      rows.push({ server: rs.address, kind: c.kind, line: c.where.line, connectIp: c.connectIp, bindto: c.bindto, ok: o.ok, reason: o.reason });
    }
  }
}
console.log(JSON.stringify({ rows }));
