// Reading a configuration file in either format: keepalived.conf (with a director
// block) or ipvsadm-save rules with director lines. Both give a DirectorConfig.

import { readFileSync } from "node:fs";
import { DirectorConfig, parseRules } from "./rules.js";
import { looksLikeKeepalived, parseKeepalived } from "./keepalived.js";

export function loadConfig(path: string): DirectorConfig {
  const text = readFileSync(path, "utf8");
  return looksLikeKeepalived(text) ? parseKeepalived(path) : parseRules(text, path);
}
