// Writes docs/keepalived-keywords.md: how wasmvs classifies every keyword keepalived knows
// (host/config/keepalived-keywords.ts), from the built dist/ (npm run build:ts first).
//   node scripts/keepalived-keywords-doc.mjs
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { keywordTableMarkdown } = await import(join(root, "dist/host/config/keepalived-keywords.js"));
const { KEEPALIVED_VERSION } = await import(join(root, "dist/host/config/keepalived-keywords-extracted.js"));
writeFileSync(join(root, "docs", "keepalived-keywords.md"), keywordTableMarkdown(KEEPALIVED_VERSION));
