// After tsc: the engine's declarations (dist/host/engine/*.d.ts) type the WASM exports with
// asc's generated wasm/release.d.ts and wasm/decap.d.ts by a relative path, which from dist/
// points at dist/wasm/. Copy them there, so that a TypeScript project importing
// wasmvs/engine resolves every type (test/embed.test.ts compiles one).
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
mkdirSync(join(root, "dist", "wasm"), { recursive: true });
for (const name of ["release.d.ts", "decap.d.ts"]) {
  const from = join(root, "wasm", name);
  if (!existsSync(from)) {
    console.error(`copy-wasm-types: ${from} is missing (run npm run build:wasm first)`);
    process.exit(1);
  }
  copyFileSync(from, join(root, "dist", "wasm", name));
}
