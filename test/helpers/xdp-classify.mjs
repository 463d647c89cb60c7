// Run inside a test's network namespace: attaches a ring port to the device named in argv[2]
// and prints, as JSON, what its XDP program does with each frame read from stdin (one hex frame
// a line; a line "ip ARGS..." runs ip(8) instead, "refresh" reads the host's addresses again).
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const addon = createRequire(import.meta.url)(process.argv[3]);
const fd = addon.ringOpen(process.argv[2], 1600);
const out = [];
try {
  for (const line of readFileSync(0, "utf8").split("\n").filter(Boolean)) {
    if (line.startsWith("ip ")) execFileSync("ip", line.slice(3).split(" "));
    else if (line === "refresh") addon.ringRefresh(fd);
    else out.push(addon.ringClassify(fd, Buffer.from(line, "hex")));
  }
} finally {
  addon.ringClose(fd);
}
console.log(JSON.stringify(out));
