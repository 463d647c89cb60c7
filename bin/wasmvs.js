#!/usr/bin/env node
// The wasmvs command: the compiled host lives in dist/ (npm install builds it).
import { main } from "../dist/host/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`wasmvs: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
