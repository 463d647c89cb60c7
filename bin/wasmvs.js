#!/usr/bin/env node
// The wasmvs command: the compiled host lives in dist/ (npm install builds it).
import { main } from "../dist/host/cli/main.js";

// Exit only once stdout and stderr have drained: a listing piped into another program
// must arrive whole (process.exit() right after a large write would cut it).
const exit = (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));

main(process.argv.slice(2)).then(exit, (err) => {
  // main() reports every error it knows as one line; this is the last resort.
  const detail = process.env.WASMVS_DEBUG ? (err && err.stack) || err : (err && err.message) || err;
  process.stderr.write(`wasmvs: internal error: ${detail}\n`);
  exit(1);
});
