// npm run build: the two web pages, each one self-contained file —
//  - dist/playground/index.html: the playground, its script bundled by esbuild with the
//    configuration parsers it shares with `wasmvs run` (Node's built-ins replaced by
//    playground/shim/node.ts) and the engine's WebAssembly inlined, so that it works opened
//    from disk (file:// loads no module or .wasm) as well as served by `wasmvs playground`;
//  - dist/dashboard/index.html: the live dashboard `wasmvs run` serves, with uPlot and its
//    stylesheet inlined (no CDN: directors often have no internet access).
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

async function bundle(entry) {
  const result = await build({
    entryPoints: [join(root, entry)], bundle: true, format: "iife", platform: "browser", target: "es2022",
    write: false, minify: true, legalComments: "none", plugins: [nodeShim], logLevel: "error",
  });
  // "</script" inside the bundle would end the element early.
  return result.outputFiles[0].text.replace(/<\/script/gi, "<\\/script");
}

/** The template with each marker comment replaced by its text. */
function inline(template, parts) {
  let page = readFileSync(join(root, template), "utf8");
  for (const [marker, text] of parts) {
    if (!page.includes(marker)) throw new Error(`${template} lost its inlining marker: ${marker}`);
    // A function, not a string, as the replacement: a bundle's "$'" and "$&" must stay as they are.
    page = page.replace(marker, () => text);
  }
  return page;
}

function write(dir, html) {
  mkdirSync(join(root, "dist", dir), { recursive: true });
  writeFileSync(join(root, "dist", dir, "index.html"), html);
  console.log(`pages: dist/${dir}/index.html (${Math.round(html.length / 1024)} KiB)`);
}

const wasm = readFileSync(join(root, "wasm", "release.wasm")).toString("base64");
write("playground", inline("playground/index.html", [["<!-- the engine and the script are inlined here by scripts/build-pages.mjs -->",
  `<script>window.WASMVS_ENGINE = "${wasm}";</script>\n<script>${await bundle("playground/main.ts")}</script>`]]));

const css = readFileSync(join(root, "node_modules", "uplot", "dist", "uPlot.min.css"), "utf8");
write("dashboard", inline("dashboard/index.html", [
  ["<!-- uPlot's stylesheet is inlined here by scripts/build-pages.mjs -->", `<style>${css}</style>`],
  ["<!-- the script is inlined here by scripts/build-pages.mjs -->", `<script>${await bundle("dashboard/main.ts")}</script>`],
]));
