// The scenario in a dedicated Web Worker: the page posts { wasm, input }, the worker loads
// wasmvs/engine itself and answers with the scenario's result (or { error }).
import * as m from "/dist/host/engine/embed.js";
import { runScenario } from "/test/browser/scenario.mjs";

self.onmessage = async (msg) => {
  try {
    self.postMessage({ result: await runScenario(m, msg.data.wasm, msg.data.input), worker: typeof WorkerGlobalScope !== "undefined" });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack ? err.stack : err) });
  }
};
