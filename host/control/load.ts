// Reading a configuration file in either format: keepalived.conf (with a director
// block) or ipvsadm-save rules with director lines. Both give a DirectorConfig.

import { ConfigError, DirectorConfig, parseRules, readConfigFile } from "./rules.js";
import { looksLikeKeepalived, parseKeepalived } from "./keepalived.js";
import { checkModel } from "./model.js";

export function loadConfig(path: string): DirectorConfig {
  const text = readConfigFile(path);
  const cfg = looksLikeKeepalived(text) ? parseKeepalived(path) : parseRules(text, path);
  // One error per place and reason (a virtual_server group repeats its servers per member).
  const problems = [...new Map(checkModel(cfg).map((p) => [`${p.line} ${p.keyword} ${p.reason}`, p])).values()];
  if (problems.length) throw ConfigError.all(problems.map((p) => new ConfigError(cfg.file, p.line, 1, p.keyword, p.reason)));
  return cfg;
}
