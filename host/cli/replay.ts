// wasmvs replay: run the engine over a capture with a fixed clock and write what it
// emits. Same input, same output, byte for byte: the clock comes from the capture
// (or is fixed), the hash seed is fixed, nothing reads the wall clock.

import { readFile, writeFile } from "node:fs/promises";
import { DEFAULT_CONN_CAPACITY, Engine } from "../engine/index.js";
import { replayFrames } from "../engine/replay.js";
import { loadEngine } from "../engine/node.js";
import { readPcap, writePcap, LINKTYPE_ETHERNET, PcapError } from "../engine/pcap.js";
import { applyConfig, configSlotSize, DirectorConfig, schedulerSizing, sizingError } from "../config/rules.js";
import { loadConfig } from "../control/load.js";
import { formatCounters, formatServices } from "../control/table.js";
import { engineSnapshot } from "../dataplane/snapshot.js";

export interface ReplayOptions {
  config: string;
  director?: string;
  input: string;
  output: string;
  clock: "capture" | "fixed";
  perInterface: boolean;
  batch: number;
}

export interface ReplayResult {
  framesIn: number;
  framesOut: number;
  engine: Engine;
  report: string;
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const cfg = loadConfig(o.config, o.director);
  const { linkType, packets } = readPcap(new Uint8Array(await readFile(o.input)), o.input);
  if (linkType !== LINKTYPE_ETHERNET) throw new PcapError(`${o.input}: link type ${linkType} is not Ethernet (1)`);
  const engine = await loadEngine({ batch: o.batch, slotSize: configSlotSize(cfg), connCapacity: cfg.connections ?? DEFAULT_CONN_CAPACITY, ...schedulerSizing(cfg) })
    .catch((e: unknown) => { throw sizingError(cfg, e) ?? e; });
  applyConfig(engine, cfg);
  const out = replayFrames(engine, packets, cfg.interfaces, o.clock);
  await writeFile(o.output, writePcap(out));
  if (o.perInterface) {
    for (const ifc of cfg.interfaces) {
      const name = o.output.replace(/(\.pcap)?$/, `.${ifc.name}.pcap`);
      await writeFile(name, writePcap(out.filter((x) => x.ifindex === ifc.index)));
    }
  }
  const snap = engineSnapshot(engine, { batches: 0, framesIn: packets.length, framesOut: out.length, writeErrors: 0 });
  const report = [
    `replayed ${packets.length} frames from ${o.input}, wrote ${out.length} frames to ${o.output}`,
    "",
    formatServices(snap),
    "",
    formatCounters(snap),
  ].join("\n");
  return { framesIn: packets.length, framesOut: out.length, engine, report };
}
