// Loading the engine in Node: reads the compiled module from wasm/. The only Node
// dependency of the engine's TypeScript layer lives here, apart from index.ts.

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { DEFAULT_SLOT_SIZE, Engine, EngineOptions } from "./index.js";
import { Decapsulator } from "./decap.js";

/** The package root, from dist/host/engine or host/engine. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (dir.endsWith("/host/engine")) {
      const up = dirname(dirname(dir));
      return up.endsWith("/dist") ? dirname(up) : up;
    }
    dir = dirname(dir);
  }
  return process.cwd();
}

export function wasmPath(flavour: "release" | "debug" | "bench" | "decap" = "release"): string {
  return join(packageRoot(), "wasm", `${flavour}.wasm`);
}

const modules = new Map<string, WebAssembly.Module>();

/** The engine module compiled once per process (it can be posted to a worker thread). */
export async function compiledEngine(flavour: "release" | "debug" | "bench" | "decap"): Promise<WebAssembly.Module> {
  let module = modules.get(flavour);
  if (!module) {
    const path = wasmPath(flavour);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      throw new Error(`engine not built: ${path} is missing (run npm run build)`);
    }
    module = await WebAssembly.compile(new Uint8Array(bytes));
    modules.set(flavour, module);
  }
  return module;
}

/** A new engine instance from wasm/release.wasm (or debug.wasm, bench.wasm). */
export async function loadEngine(options: EngineOptions = {}, flavour: "release" | "debug" | "bench" = "release"): Promise<Engine> {
  return Engine.create(await compiledEngine(flavour), options);
}

/** A new decapsulator instance from wasm/decap.wasm. */
export async function loadDecapsulator(batch = 256, slotSize = DEFAULT_SLOT_SIZE): Promise<Decapsulator> {
  return Decapsulator.create(await compiledEngine("decap"), batch, slotSize);
}
