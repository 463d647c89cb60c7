// The live data path: frames from TAP devices into the engine's RX slots, one engine
// call per batch, the engine's TX frames back out — all through the addon, which
// reads and writes engine memory directly. Readiness comes from the event loop, and a
// timer runs the engine's timers (expiry, ARP retries) when traffic is idle.

import { Abi, Region } from "../engine/abi.js";
import { tapAddon, TapAddon } from "../io/tap.js";

/** What the loop needs of an engine: wasmvs's Engine and the decapsulator both fit. */
export interface BatchEngine {
  readonly batch: number;
  readonly slotSize: number;
  readonly memory: WebAssembly.Memory;
  regionOffset(r: Region): number;
  process(n: number, nowMs: number): number;
  tick(nowMs: number): number;
}

export interface Port {
  ifindex: number;
  fd: number;
  name: string;
}

export interface LoopStats {
  batches: number;
  framesIn: number;
  framesOut: number;
  writeErrors: number;
}

/** Milliseconds for the engine clock (monotonic, wraps at 2^32). */
export function engineNow(): number {
  return Math.floor(performance.now()) >>> 0;
}

export class Dataplane {
  readonly stats: LoopStats = { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 };
  private readonly addon: TapAddon;
  private readonly fds = new Int32Array(Abi.MAX_INTERFACES).fill(-1);
  private readonly errors = new Float64Array(Abi.MAX_INTERFACES);
  private readonly watches: unknown[] = [];
  private timer?: NodeJS.Timeout;
  private readonly buffer: ArrayBuffer;
  private readonly rxDesc: number;
  private readonly rxSlots: number;
  private readonly txDesc: number;

  /** vnet: the TAPs were opened with virtio-net headers (offloads) and the engine is in vnet mode. */
  constructor(private readonly engine: BatchEngine, private readonly ports: Port[], private readonly tickMs = 100, private readonly vnet = false) {
    this.addon = tapAddon();
    for (const p of ports) this.fds[p.ifindex] = p.fd;
    // Engine memory never grows after init, so this buffer stays valid.
    this.buffer = engine.memory.buffer;
    this.rxDesc = engine.regionOffset(Region.RX_DESC);
    this.rxSlots = engine.regionOffset(Region.RX_SLOTS);
    this.txDesc = engine.regionOffset(Region.TX_DESC);
  }

  start(): void {
    for (const p of this.ports) this.watches.push(this.addon.watch(p.fd, () => this.drain(p)));
    this.timer = setInterval(() => this.flush(this.engine.tick(engineNow())), this.tickMs);
  }

  stop(): void {
    for (const w of this.watches) this.addon.unwatch(w);
    this.watches.length = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Frames that could not be written, per interface. */
  writeErrors(ifindex: number): number {
    return this.errors[ifindex];
  }

  /** Write the TX frames of the engine's last call (after a control call that emits). */
  flush(tx: number): void {
    if (tx === 0) return;
    this.stats.framesOut += this.addon.writeBatch(this.fds, this.buffer, this.txDesc, tx, this.errors, this.vnet);
  }

  /** Read until the device is empty, a batch at a time. */
  private drain(p: Port): void {
    const { batch, slotSize } = this.engine;
    for (;;) {
      const n = this.addon.readBatch(p.fd, this.buffer, this.rxDesc, this.rxSlots, slotSize, Abi.HEADROOM, 0, batch, p.ifindex, this.vnet);
      if (n === 0) return;
      this.stats.batches++;
      this.stats.framesIn += n;
      this.flush(this.engine.process(n, engineNow()));
      if (n < batch) return;
    }
  }
}
