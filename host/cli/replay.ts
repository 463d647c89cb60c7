// wasmvs replay: run the engine over a capture with a fixed clock and write what it
// emits. Same input, same output, byte for byte: the clock comes from the capture
// (or is fixed), the hash seed is fixed, nothing reads the wall clock.

import { readFile, writeFile } from "node:fs/promises";
import { DEFAULT_CONN_CAPACITY, Engine, ipToWire, parseMac } from "../engine/index.js";
import { loadEngine } from "../engine/node.js";
import { readPcap, writePcap, LINKTYPE_ETHERNET, PcapError } from "../io/pcap.js";
import { applyConfig, configSlotSize, DirectorConfig, schedulerSizing } from "../control/rules.js";
import { loadConfig } from "../control/load.js";
import { formatCounters, formatServices } from "../control/table.js";
import { engineSnapshot } from "../dataplane/requests.js";

export interface ReplayOptions {
  config: string;
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

/** Which interface a captured frame arrives on: the one whose MAC it is addressed to;
 *  for broadcast and multicast, the one whose subnet holds the sender's address. */
function interfaceChooser(cfg: DirectorConfig): (f: Uint8Array) => number {
  const macs = cfg.interfaces.map((i) => ({ index: i.index, mac: parseMac(i.mac) }));
  const nets = cfg.interfaces.filter((i) => i.address).map((i) => {
    const [a, l] = i.address!.split("/");
    const len = Number(l);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const w = ipToWire(a);
    const host = (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) | (w >>> 24)) >>> 0;
    return { index: i.index, net: (host & mask) >>> 0, mask };
  });
  const first = cfg.interfaces[0].index;
  return (f) => {
    if (f.length < 14) return first;
    for (const m of macs) if (m.mac.every((b, k) => f[k] === b)) return m.index;
    let off = 12;
    if (f[12] === 0x81 && f[13] === 0x00) off = 16;
    const type = (f[off] << 8) | f[off + 1];
    let src: number | undefined;
    const rd = (o: number) => ((f[o] << 24) | (f[o + 1] << 16) | (f[o + 2] << 8) | f[o + 3]) >>> 0;
    if (type === 0x0800 && f.length >= off + 2 + 20) src = rd(off + 2 + 12);
    if (type === 0x0806 && f.length >= off + 2 + 28) src = rd(off + 2 + 14);
    if (src !== undefined) for (const n of nets) if (((src & n.mask) >>> 0) === n.net) return n.index;
    return first;
  };
}

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  const cfg = loadConfig(o.config);
  const { linkType, packets } = readPcap(new Uint8Array(await readFile(o.input)), o.input);
  if (linkType !== LINKTYPE_ETHERNET) throw new PcapError(`${o.input}: link type ${linkType} is not Ethernet (1)`);
  const engine = await loadEngine({ batch: o.batch, slotSize: configSlotSize(cfg), connCapacity: cfg.connections ?? DEFAULT_CONN_CAPACITY, ...schedulerSizing(cfg) });
  applyConfig(engine, cfg);
  const choose = interfaceChooser(cfg);
  const t0 = packets.length ? packets[0].timeUs : 0;
  // The engine's clock starts at 1 s so that time 0 has no special meaning.
  const clock = (us: number) => (o.clock === "fixed" ? 1000 : 1000 + Math.floor((us - t0) / 1000));
  const out: { timeUs: number; data: Uint8Array; ifindex: number }[] = [];
  let i = 0;
  while (i < packets.length) {
    const now = clock(packets[i].timeUs);
    const timeUs = packets[i].timeUs;
    let n = 0;
    while (i < packets.length && n < engine.batch && clock(packets[i].timeUs) === now) {
      const p = packets[i];
      engine.loadFrame(n, p.data, choose(p.data));
      n++;
      i++;
    }
    const tx = engine.process(n, now);
    for (const t of engine.txFrames(tx)) out.push({ timeUs, data: t.frame, ifindex: t.ifindex });
  }
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
