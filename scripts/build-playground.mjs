// npm run build: the playground as one self-contained page, dist/playground/index.html —
// the page's script bundled by esbuild with the configuration parsers it shares with
// `wasmvs run` (Node's built-ins replaced by playground/shim/node.ts) and the engine's
// WebAssembly inlined, so that it works opened from disk (file:// loads no module or
// .wasm) as well as served by `wasmvs playground`.
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const nodeShim = {
  name: "node-shim",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, () => ({ path: join(root, "playground", "shim", "node.ts") }));
  },
};
const result = await build({
  entryPoints: [join(root, "playground", "main.ts")],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2022",
  write: false,
  minify: true,
  legalComments: "none",
  plugins: [nodeShim],
  logLevel: "error",
});
const script = result.outputFiles[0].text;
const wasm = readFileSync(join(root, "wasm", "release.wasm")).toString("base64");
const page = readFileSync(join(root, "playground", "index.html"), "utf8");
const marker = "<!-- the engine and the script are inlined here by scripts/build-playground.mjs -->";
if (!page.includes(marker)) throw new Error("playground/index.html lost its inlining marker");
// "</script" inside the bundle would end the element early.
const safe = script.replace(/<\/script/gi, "<\\/script");
const out = page.replace(marker, () => `<script>window.WASMVS_ENGINE = "${wasm}";</script>\n<script>${safe}</script>`);
mkdirSync(join(root, "dist", "playground"), { recursive: true });
writeFileSync(join(root, "dist", "playground", "index.html"), out);
console.log(`playground: dist/playground/index.html (${Math.round(out.length / 1024)} KiB)`);
