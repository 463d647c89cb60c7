// The engine's wire/ helpers, one export each (wasm/wiretest.wasm).
import { readFileSync } from "node:fs";
import { wasmPath } from "../../host/engine/node.js";
import type { instantiate as instantiateWire } from "../../wasm/wiretest.js";

/** The wire helpers' exports, typed from the declarations asc writes for assembly/wiretest.ts. */
export type Wire = Awaited<ReturnType<typeof instantiateWire>>;

export function loadWire(): { w: Wire; mem: Uint8Array; base: number; put(bytes: ArrayLike<number>, at?: number): number; get(at: number, len: number): number[] } {
  const path = wasmPath("release").replace("release.wasm", "wiretest.wasm");
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), { env: { abort() { throw new Error("abort"); } } });
  const w = inst.exports as unknown as Wire;
  const mem = new Uint8Array(w.memory.buffer);
  const base = w.buffer();
  return {
    w, mem, base,
    put(bytes, at = 0) {
      mem.fill(0xa5, base + at, base + at + 4096);
      mem.set(Array.from(bytes), base + at);
      return base + at;
    },
    get(at, len) {
      return Array.from(mem.subarray(at, at + len));
    },
  };
}
