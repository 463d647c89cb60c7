// MISC_CHECK (keepalived/check/check_misc.c): misc_path run as script_user (or the
// checker's user), killed after misc_timeout. Exit 0 is up; with misc_dynamic, 2-255 is
// up with weight exit-2 (and 0 restores the configured weight); anything else, a signal
// or the timeout is down.

import type { MiscChecker } from "../../config/health.js";
import { ScriptRunner } from "../scripts.js";
import { failure, Outcome } from "./outcome.js";

export async function miscCheck(c: MiscChecker, scripts: ScriptRunner): Promise<Outcome> {
  const r = await scripts.run(c.script, c.timeoutMs, [], c.user);
  if (r.refused) return failure(r.refused);
  if (r.timedOut) return failure(`${c.script.argv[0]} did not finish within ${c.timeoutMs} ms (killed)`);
  if (r.signal) return failure(`${c.script.argv[0]} killed by ${r.signal}`);
  const code = r.code ?? -1;
  if (code === 0) return { ok: true, reason: "exit 0" };
  if (c.dynamic && code >= 2 && code <= 255) return { ok: true, reason: `exit ${code}: weight ${code - 2}`, weight: code - 2 };
  return failure(`${c.script.argv[0]} exited with status ${code}${r.output.trim() ? `: ${r.output.trim().split("\n")[0].slice(0, 120)}` : ""}`);
}
