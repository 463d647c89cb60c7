// The descriptor layout tap.c needs, read from the one definition (assembly/abi.ts) and
// printed as preprocessor defines for binding.gyp: no second copy to keep in step.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const abi = readFileSync(join(__dirname, "..", "..", "..", "assembly", "abi.ts"), "utf8");
const member = (enumName, name) => {
  const body = new RegExp(`export enum ${enumName} \\{([\\s\\S]*?)\\n\\}`).exec(abi);
  const m = body && new RegExp(`\\b${name} = (\\d+)`).exec(body[1]);
  if (!m) throw new Error(`assembly/abi.ts: ${enumName}.${name} not found`);
  return m[1];
};
console.log([
  `WASMVS_DESC_SIZE=${member("Abi", "DESC_SIZE")}`, `WASMVS_VNET_HDR_LEN=${member("Abi", "VNET_HDR_LEN")}`,
  `WASMVS_RX_IFINDEX=${member("RxDesc", "IFINDEX")}`, `WASMVS_RX_LEN=${member("RxDesc", "LEN")}`,
  `WASMVS_TX_PTR=${member("TxDesc", "PTR")}`, `WASMVS_TX_LEN=${member("TxDesc", "LEN")}`, `WASMVS_TX_IFINDEX=${member("TxDesc", "IFINDEX")}`,
].join(" "));
