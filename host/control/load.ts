// Reading a configuration file in either format: keepalived.conf (with a director
// block, in the file or in a file of its own: --director) or ipvsadm-save rules with
// director lines. Both give a DirectorConfig.

import { ConfigError, DirectorConfig, parseRules, readConfigFile } from "./rules.js";
import { looksLikeKeepalived, parseKeepalived } from "./keepalived.js";
import { checkModel } from "./model.js";

/** director: a file holding keepalived.conf's `director { ... }` block, so that the
 *  keepalived.conf itself stays the same as a keepalived peer's (keepalived would take
 *  the block for an unknown keyword). Read again on every reload. */
export function loadConfig(path: string, director?: string): DirectorConfig {
  const text = readConfigFile(path);
  if (director !== undefined && !looksLikeKeepalived(text)) {
    throw new ConfigError(path, 1, 1, "", `--director ${director} goes with keepalived.conf; this file is in the ipvsadm-rules format, whose interface lines are its own`);
  }
  const cfg = looksLikeKeepalived(text) ? parseKeepalived(path, director) : parseRules(text, path);
  // One error per place and reason (a virtual_server group repeats its servers per member).
  const problems = [...new Map(checkModel(cfg).map((p) => [`${p.file ?? ""} ${p.line} ${p.keyword} ${p.reason}`, p])).values()];
  if (problems.length) throw ConfigError.all(problems.map((p) => new ConfigError(p.file ?? cfg.file, p.line, 1, p.keyword, p.reason)));
  return cfg;
}
