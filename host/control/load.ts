// Reading a configuration file in either format: keepalived.conf (with a director
// block, in the file or in a file of its own: --director) or ipvsadm-save rules with
// director lines. Both give a DirectorConfig.
//
// One principle for both: every error of every stage is reported at once — the words
// and values, what the file as a whole lacks (a director block), what no input may set
// up (checkModel), what the engine refuses (checkEngine) — in the order written (file,
// line, column; an included file where its include is), at the value at fault. A part
// that was refused still exists by name, so what names it is not refused for it; the
// engine's checks run on whatever was read.

import { ConfigError, DirectorConfig, engineErrors, laterErrors, PartialConfig, readConfigFile, readRules, sortErrors } from "../config/rules.js";
import { looksLikeKeepalived, readKeepalived } from "../config/keepalived.js";
import { checkModel } from "../config/model.js";
import type { Engine } from "../engine/index.js";
import type { FileOrder } from "../config/keepalived-grammar.js";
import { DeviceResolution, resolveDevices } from "./devices.js";
import { setFlagsFromString } from "node:v8";

/** The file read as far as it goes, with every error found before the engine's checks.
 *  director: a file holding keepalived.conf's `director { ... }` block, so that the
 *  keepalived.conf itself stays the same as a keepalived peer's (keepalived would take
 *  the block for an unknown keyword). Read again on every reload. devices: how interfaces
 *  that name a device of this host are filled in from it (devices.ts; by default a missing
 *  device is an error, as `wasmvs run` needs it). */
export function readConfig(path: string, director?: string, strict = false, devices: DeviceResolution = { missing: "error" }): PartialConfig & { errors: ConfigError[] } {
  // While a file is read, V8 without allocation-site pretenuring. Every record a parse makes
  // survives it, so some thousands of services into a large file V8 decides that the object
  // literals making them should allocate in the old generation, and that decision throws away
  // the optimised code of every function holding such a literal (the "code dependencies" deopts
  // of --trace-deopt; --trace-pretenuring-statistics: "maybe tenure => tenure"; none without it):
  // the scanner, the virtual_server reader and the services' builder, run by the interpreter
  // again until they are optimised again (issue 19: 10-15% of a cold read of a 10,000-service
  // keepalived.conf at load 6, nothing at load 3.5; the rules format neither gains nor loses).
  // Only here: what the rest of the process keeps (health, the start set) is pretenured as before.
  setFlagsFromString("--no-allocation-site-pretenuring");
  try {
    return readConfigPretenuringOff(path, director, strict, devices);
  } finally {
    setFlagsFromString("--allocation-site-pretenuring");
  }
}

function readConfigPretenuringOff(path: string, director: string | undefined, strict: boolean, devices: DeviceResolution): PartialConfig & { errors: ConfigError[] } {
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { cfg: { file: path, interfaces: [], routes: [], neighbours: [], services: [] }, errors: [e], order: new Map([[path, []]]), routingUnsure: true };
  }
  const keepalived = inKeepalivedSyntax(text);
  if (director !== undefined && !keepalived) {
    const e = new ConfigError(path, 1, 1, "", `--director ${director} goes with keepalived.conf; this file is in the ipvsadm-rules format, whose interface lines are its own`);
    return { cfg: { file: path, interfaces: [], routes: [], neighbours: [], services: [] }, errors: [e], order: new Map([[path, []]]), routingUnsure: true };
  }
  return checkRead(keepalived ? readKeepalived(path, director, strict) : readRules(text, path), devices);
}

/** looksLikeKeepalived(text), without its walk of every line where the answer is no for want
 *  of the characters it looks for: it says yes only for a line with a `{` or one that starts
 *  with `include`, so a text with neither is the rules format. (That walk of a 10,000-service
 *  rules file, 5 MB, was 20-30 ms of each reload; two searches of the text are ~1 ms.) */
export function inKeepalivedSyntax(text: string): boolean {
  if (!text.includes("{") && !text.includes("include")) return false;
  return looksLikeKeepalived(text);
}

/** What follows the parse of a file (its cost is the reload's after the parse): the devices
 *  filled in, the model's checks, every error in file order. */
export function checkRead(read: PartialConfig & { errors: ConfigError[] }, devices: DeviceResolution = { missing: "error" }): PartialConfig & { errors: ConfigError[] } {
  const cfg = read.cfg;
  // The devices' MACs, addresses and MTUs before anything looks at them (the model's checks,
  // the engine's): read once, here, at each start, reload and check.
  const resolved = resolveDevices(cfg, devices);
  const r = { ...read, errors: [...read.errors, ...resolved.errors], routingUnsure: read.routingUnsure || resolved.routingUnsure };
  // One error per place and reason (a virtual_server group repeats its servers per member).
  const problems = [...new Map(checkModel(cfg).map((p) => [`${p.where?.file} ${p.line} ${p.where?.column} ${p.keyword} ${p.reason}`, p])).values()];
  const model = problems.map((p) => (p.where ? new ConfigError(p.where.file, p.where.line, p.where.column, p.where.text, p.reason) : new ConfigError(p.file ?? cfg.file, p.line, 1, p.keyword, p.reason)));
  return { ...r, errors: sortErrors([...r.errors, ...model], r.order) };
}

/** Where each file of a loaded configuration was read, for the order of errors found later
 *  (a reload's, on the engine). */
export const fileOrders = new WeakMap<DirectorConfig, FileOrder>();

/** The configuration, or a ConfigError with every error found before the engine's checks
 *  (and what was read, for them: ConfigError.partial). */
export function loadConfig(path: string, director?: string, strict = false, devices?: DeviceResolution): DirectorConfig {
  const r = readConfig(path, director, strict, devices);
  if (r.errors.length) {
    const e = ConfigError.all(r.errors);
    e.partial = { cfg: r.cfg, order: r.order, routingUnsure: r.routingUnsure };
    throw e;
  }
  fileOrders.set(r.cfg, r.order);
  return r.cfg;
}

/** The engine's refusals of what was read (on a scratch engine), merged into the errors
 *  found before, in file order. */
export function withEngineErrors(engine: Engine, p: PartialConfig, before: ConfigError[]): ConfigError[] {
  if (!p.cfg.format) return before; // the file could not be read
  let found: ConfigError[];
  try {
    found = engineErrors(engine, p.cfg, p.routingUnsure);
  } catch (e) {
    // What was read is too broken for the engine to take at all: the errors before say why.
    if (before.length && !(e instanceof ConfigError)) return before;
    throw e;
  }
  return laterErrors(before, found, p.order);
}
