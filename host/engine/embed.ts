// wasmvs/engine: the entry point for embedding the engine in a page, a worker, another
// JavaScript runtime or a test harness. Nothing reachable from here imports a Node module
// or uses a Node global (test/embed.test.ts walks the import graph to keep it so): the
// caller brings the engine's bytes — fetch("…/wasm/release.wasm"), fs, a bundler's asset
// URL — and gets the same engine `wasmvs run` drives, frame for frame.
//
//   import { Engine, readPcap, replayFrames, writePcap } from "wasmvs/engine";
//   const engine = await Engine.create(await (await fetch(wasmUrl)).arrayBuffer());

export * from "./index.js";
export { Decapsulator } from "./decap.js";
export { interfaceChooser, replayFrames } from "./replay.js";
export type { ReplayFrame, ReplayedFrame, ReplayInterface } from "./replay.js";
export { LINKTYPE_ETHERNET, PcapError, readPcap, writePcap } from "./pcap.js";
export type { PcapPacket } from "./pcap.js";
