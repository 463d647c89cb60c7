// The browser side of test/e2e/browser.test.ts, loaded by a page as a module: the shared
// scenario in the page itself and in a Web Worker. Captures travel as hex strings (what
// page.evaluate carries as-is); the engine's bytes are fetched here, as an embedder would.
import * as m from "/dist/host/engine/embed.js";
import { runScenario } from "/test/browser/scenario.mjs";

const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));
const engineBytes = async () => (await fetch("/wasm/release.wasm")).arrayBuffer();

export async function inPage(input) {
  const r = await runScenario(m, await engineBytes(), { ...input, pcap: fromHex(input.pcap) });
  return { ...r, pcap: toHex(r.pcap), nodeGlobals: typeof globalThis.process !== "undefined" || typeof globalThis.Buffer !== "undefined" };
}

export async function inWorker(input) {
  const wasm = await engineBytes();
  const w = new Worker("/test/browser/worker.mjs", { type: "module" });
  try {
    const reply = await new Promise((resolve) => {
      w.onmessage = (msg) => resolve(msg.data);
      w.onerror = (e) => resolve({ error: e.message || "worker failed to load" });
      w.postMessage({ wasm, input: { ...input, pcap: fromHex(input.pcap) } });
    });
    if (!reply.result) return { error: reply.error ?? "no result" };
    return { ...reply.result, pcap: toHex(reply.result.pcap), worker: reply.worker };
  } finally {
    w.terminate();
  }
}

window.wasmvsTest = { inPage, inWorker };
