// Run inside a network namespace (ip netns exec NS node --import tsx THIS ...) by
// test/devices.test.ts: prints as JSON what wasmvs makes of that namespace's devices.
//   device NAME    readDevice(NAME) (null: no such device)
//   load FILE      loadConfig(FILE)'s interfaces, or its error
//   check FILE     wasmvs check's output, or its error

import { readDevice } from "../../host/control/devices.js";
import { loadConfig } from "../../host/control/load.js";
import { check } from "../../host/cli/check.js";

const [mode, arg] = process.argv.slice(2);
try {
  if (mode === "device") console.log(JSON.stringify(readDevice(arg) ?? null));
  else if (mode === "load") console.log(JSON.stringify({ interfaces: loadConfig(arg).interfaces }));
  else if (mode === "check") console.log(JSON.stringify({ out: await check(arg) }));
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).message }));
}
