// The engine's ABI as the host sees it: the same file the engine is compiled from.
export * from "../../assembly/abi.js";
