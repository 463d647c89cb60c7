// Replaying captured frames through an engine: the core of `wasmvs replay`, with no Node
// import, so that a page or another runtime replays a capture exactly as the CLI does.
// Same frames in, same frames out: the clock comes from the capture (or is fixed), and
// nothing reads the wall clock.

import type { Engine } from "./index.js";
import { ipToWire, parseMac } from "./addr.js";

export interface ReplayInterface {
  index: number;
  mac: string;
  /** address/prefix, e.g. 10.0.0.1/24 */
  address?: string;
}

export interface ReplayFrame {
  timeUs: number;
  data: Uint8Array;
}

export interface ReplayedFrame extends ReplayFrame {
  ifindex: number;
}

/** Which interface a captured frame arrives on: the one whose MAC it is addressed to;
 *  for broadcast and multicast, the one whose subnet holds the sender's address; else
 *  the first. */
export function interfaceChooser(interfaces: ReplayInterface[]): (frame: Uint8Array) => number {
  if (interfaces.length === 0) throw new Error("replay needs at least one interface");
  const macs = interfaces.map((i) => ({ index: i.index, mac: parseMac(i.mac) }));
  const nets = interfaces.filter((i) => i.address).map((i) => {
    const [a, l] = i.address!.split("/");
    const len = Number(l);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const w = ipToWire(a);
    const host = (((w & 0xff) << 24) | (((w >>> 8) & 0xff) << 16) | (((w >>> 16) & 0xff) << 8) | (w >>> 24)) >>> 0;
    return { index: i.index, net: (host & mask) >>> 0, mask };
  });
  const first = interfaces[0].index;
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

/** Run frames through the engine in capture order, batching frames of the same
 *  millisecond. The engine's clock starts at 1 s (so that time 0 means nothing special)
 *  and follows the capture's timestamps, or stays at 1 s with clock "fixed". Each frame
 *  the engine emits carries the timestamp of the batch that caused it. */
export function replayFrames(engine: Engine, frames: ReplayFrame[], interfaces: ReplayInterface[], clock: "capture" | "fixed" = "capture"): ReplayedFrame[] {
  const choose = interfaceChooser(interfaces);
  const t0 = frames.length ? frames[0].timeUs : 0;
  const nowOf = (us: number) => (clock === "fixed" ? 1000 : 1000 + Math.floor((us - t0) / 1000));
  const out: ReplayedFrame[] = [];
  let i = 0;
  while (i < frames.length) {
    const now = nowOf(frames[i].timeUs);
    const timeUs = frames[i].timeUs;
    let n = 0;
    while (i < frames.length && n < engine.batch && nowOf(frames[i].timeUs) === now) {
      engine.loadFrame(n, frames[i].data, choose(frames[i].data));
      n++;
      i++;
    }
    const tx = engine.process(n, now);
    for (const t of engine.txFrames(tx)) out.push({ timeUs, data: t.frame, ifindex: t.ifindex });
  }
  return out;
}
