// Reading a configuration file in either format: keepalived.conf (with a director
// block) or ipvsadm-save rules with director lines. Both give a DirectorConfig.

import { DirectorConfig, parseRules, readConfigFile } from "./rules.js";
import { looksLikeKeepalived, parseKeepalived } from "./keepalived.js";

export function loadConfig(path: string): DirectorConfig {
  const text = readConfigFile(path);
  return looksLikeKeepalived(text) ? parseKeepalived(path) : parseRules(text, path);
}
