#!/usr/bin/env node
// The wasmvs command: the compiled host lives in dist/ (npm install builds it).

// Exit only once stdout and stderr have drained: a listing piped into another program
// must arrive whole (process.exit() right after a large write would cut it).
const exit = (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));

// ipvsadm's command line (wasmvs -L -n, wasmvs -R, ...: main() hands every first word with a
// dash but --help and --version to ipvsadm()) loads its client alone, not the director's modules
// main.js imports (about 0.5 s of a command's start; a script of 1,000 -e pays it 1,000 times).
const argv = process.argv.slice(2);
const ipvsadmLine = argv[0] !== undefined && argv[0].startsWith("-") && argv[0] !== "--help" && argv[0] !== "--version";
const run = ipvsadmLine ? import("../dist/host/cli/ipvsadm.js").then((m) => m.ipvsadm(argv)) : import("../dist/host/cli/main.js").then((m) => m.main(argv));
run.then(exit, (err) => {
  // main() reports every error it knows as one line; this is the last resort.
  const detail = process.env.WASMVS_DEBUG ? (err && err.stack) || err : (err && err.message) || err;
  process.stderr.write(`wasmvs: internal error: ${detail}\n`);
  exit(1);
});
