// npm run fuzz: the engine fuzzer of test/helpers/fuzz.ts at length (100M frames by default,
// stopped by --seconds if it takes longer). Prints frames/s, the counters, the seed; on a
// trap, a wrong checksum, counters that do not add up or a table that disagrees with itself
// it writes the failing frame (and its batch) as pcap files and exits 1. A run is reproduced
// by its seed and frame count: npm run fuzz -- --seed 0x... --frames N.
//
//   npm run fuzz [-- --frames N] [--seconds S] [--seed X] [--out DIR]

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { counterLine, failurePcaps, fuzz, seedText } from "../test/helpers/fuzz.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/dist\/?$/, "");
const USAGE = "usage: npm run fuzz -- [--frames N (default 100000000)] [--seconds S (default 3600)] [--seed X (decimal or 0x hex, default from the clock)] [--out DIR (default bench/results)]";

function parse(argv: string[]): { frames: number; seconds: number; seed: number; out: string } {
  const o = { frames: 100_000_000, seconds: 3600, seed: (Date.now() ^ (process.pid << 16)) >>> 0, out: join(ROOT, "bench", "results") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const num = (what: string, max: number) => {
      if (v === undefined) throw new Error(`${a} needs a value`);
      const n = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new Error(`${a}: ${what} expected (0-${max}), got "${v}"`);
      i++;
      return n;
    };
    if (a === "--frames") o.frames = num("a frame count", 1e12);
    else if (a === "--seconds") o.seconds = num("seconds", 7 * 86400);
    else if (a === "--seed") o.seed = num("a 32-bit seed", 0xffffffff);
    else if (a === "--out") { if (!v) throw new Error("--out needs a directory"); o.out = v; i++; }
    else if (a === "--help" || a === "-h") { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown argument "${a}"`);
  }
  if (o.frames === 0) throw new Error("--frames must be at least 1");
  return o;
}

let opts: ReturnType<typeof parse>;
try {
  opts = parse(process.argv.slice(2));
} catch (err) {
  console.error(`wasmvs fuzz: ${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}

const seed = seedText(opts.seed);
console.log(`fuzz: seed ${seed}, up to ${opts.frames.toLocaleString("en")} frames or ${opts.seconds} s`);
let lastLine = 0;
const report = await fuzz({
  seed: opts.seed, frames: opts.frames, seconds: opts.seconds,
  progress: (done, s) => {
    if (s - lastLine < 10) return;
    lastLine = s;
    console.log(`  ${done.toLocaleString("en")} frames, ${Math.round(done / s).toLocaleString("en")} frames/s`);
  },
});
const rate = Math.round(report.frames / report.seconds);
console.log(`frames ${report.frames} of ${report.requested} in ${report.seconds.toFixed(1)} s: ${rate} frames/s${report.frames < report.requested && !report.failure ? " (stopped by --seconds)" : ""}`);
console.log(`checked: ${report.checkedFull} emitted frames every checksum, ${report.checkedHeaders} their IPv4 header, ${report.decapChecked} decapsulated, ${report.stateChecks} table audits`);
console.log(`frames by kind: ${Object.entries(report.kinds).map(([k, v]) => `${k}=${v}`).join(" ")}`);
console.log(`engine counters: ${counterLine(report.counters)}`);
console.log(`decapsulator counters: ${counterLine(report.decap)}`);
if (Object.keys(report.refused).length) console.log(`control calls refused: ${Object.entries(report.refused).map(([k, v]) => `${v}x ${k}`).join("; ")}`);
const f = report.failure;
if (!f) {
  console.log(`ok: seed ${seed}`);
  process.exit(0);
}
mkdirSync(opts.out, { recursive: true });
const base = join(opts.out, `fuzz-${seed}-batch${f.batchIndex}`);
const pcaps = failurePcaps(f);
writeFileSync(`${base}.pcap`, pcaps.batch);
if (pcaps.frame) writeFileSync(`${base}-frame${f.frameIndex}.pcap`, pcaps.frame);
console.log(`FAILED (${f.what}): ${f.message}`);
console.log(`  batch ${f.batchIndex} (64 frames)${f.frameIndex !== undefined ? `, frame ${f.frameIndex}: ${base}-frame${f.frameIndex}.pcap` : ""}; the batch: ${base}.pcap${f.output ? " (the wrong emitted frame last)" : ""}`);
console.log(`  reproduce: npm run fuzz -- --seed ${seed} --frames ${(f.batchIndex + 1) * 64}`);
process.exit(1);
