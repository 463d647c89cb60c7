// The wasmvs command.

import { replay } from "./replay.js";
import { ConfigError } from "../control/rules.js";
import { PcapError } from "../io/pcap.js";

export const USAGE = `usage: wasmvs <command> [options]

commands:
  replay --config FILE --in CAPTURE.pcap --out OUTPUT.pcap [--clock capture|fixed] [--per-interface] [--batch N]
         run the engine over a capture with the configuration in FILE (ipvsadm-save
         rules plus interface/route/neighbour lines) and write every frame it emits
  help   show this text
`;

export class UsageError extends Error {}

type Flags = Record<string, string | boolean>;

/** Parse --name value / --flag arguments against the allowed set. */
export function parseFlags(args: string[], valued: string[], boolean: string[]): Flags {
  const out: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.replace(/^--/, "");
    if (!a.startsWith("--")) throw new UsageError(`unexpected argument "${a}"`);
    if (boolean.includes(name)) out[name] = true;
    else if (valued.includes(name)) {
      if (i + 1 >= args.length || args[i + 1].startsWith("--")) throw new UsageError(`${a} needs a value`);
      out[name] = args[++i];
    } else throw new UsageError(`unknown option ${a}`);
  }
  return out;
}

async function cmdReplay(args: string[]): Promise<number> {
  const f = parseFlags(args, ["config", "in", "out", "clock", "batch"], ["per-interface"]);
  for (const k of ["config", "in", "out"]) if (!f[k]) throw new UsageError(`replay needs --${k}`);
  const clock = (f.clock as string) ?? "capture";
  if (clock !== "capture" && clock !== "fixed") throw new UsageError(`--clock must be capture or fixed, not "${clock}"`);
  const batch = f.batch ? Number(f.batch) : 64;
  if (!Number.isInteger(batch) || batch < 1 || batch > 4096) throw new UsageError(`--batch must be a whole number from 1 to 4096`);
  const r = await replay({
    config: f.config as string, input: f.in as string, output: f.out as string, clock, perInterface: !!f["per-interface"], batch,
  });
  process.stdout.write(r.report + "\n");
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "replay":
        return await cmdReplay(rest);
      case "help": case "--help": case "-h": case undefined:
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`wasmvs: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError || e instanceof PcapError) {
      process.stderr.write(`wasmvs: ${e.message}\n`);
      return 1;
    }
    if (e instanceof Error && "code" in e && (e as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`wasmvs: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
