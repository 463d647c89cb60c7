// The live data path: frames from TAP devices into the engine's RX slots, one engine
// call per batch, the engine's TX frames back out — all through the addon, which
// reads and writes engine memory directly (FramePump). The director drives the pump
// from its data-path thread (thread.ts); `wasmvs decap` from the event loop (Dataplane).

import { Abi, Region } from "../engine/abi.js";
import { RingInfo, tapAddon, TapAddon } from "../io/tap.js";

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
  /** The longest a single control request held the data path (ms, since start), and its op:
   *  how long frames waited behind the control plane at worst (the data-path thread only). */
  longestRequestMs?: number;
  longestRequestOp?: string;
  /** The ring ports (AF_XDP) and the kernel's counters of their sockets, as of the last request served. */
  rings?: RingInfo[];
}

/** Milliseconds for the engine clock (monotonic, wraps at 2^32). */
export function engineNow(): number {
  return Math.floor(performance.now()) >>> 0;
}

/**
 * Frames between TAP descriptors and an engine's slots, through the addon: a TAP read a
 * batch at a time, one engine call per batch, what it emits written at once. Driven by the
 * event loop (Dataplane, for `wasmvs decap`) or by the data-path thread's own loop.
 */
export class FramePump {
  readonly stats: LoopStats = { batches: 0, framesIn: 0, framesOut: 0, writeErrors: 0 };
  /** Descriptors by ifindex (-1: none), as writeBatch takes them. */
  readonly fds = new Int32Array(Abi.MAX_INTERFACES).fill(-1);
  /** Frames that could not be written, per interface. */
  readonly errors = new Float64Array(Abi.MAX_INTERFACES);
  private readonly addon: TapAddon = tapAddon();
  private readonly buffer: ArrayBuffer;
  private readonly rxDesc: number;
  private readonly rxSlots: number;
  private readonly txDesc: number;

  /** vnet: the TAPs were opened with virtio-net headers (offloads) and the engine is in vnet mode. */
  constructor(private readonly engine: BatchEngine, ports: { ifindex: number; fd: number }[], private readonly vnet = false) {
    for (const p of ports) this.fds[p.ifindex] = p.fd;
    // Engine memory never grows after init, so this buffer stays valid.
    this.buffer = engine.memory.buffer;
    this.rxDesc = engine.regionOffset(Region.RX_DESC);
    this.rxSlots = engine.regionOffset(Region.RX_SLOTS);
    this.txDesc = engine.regionOffset(Region.TX_DESC);
  }

  /** Write the TX frames of the engine's last call. */
  flush(tx: number): void {
    if (tx === 0) return;
    const written = this.addon.writeBatch(this.fds, this.buffer, this.txDesc, tx, this.errors, this.vnet);
    this.stats.framesOut += written;
    this.stats.writeErrors += tx - written;
  }

  /** Read the TAP of ifindex perRead frames at a time, each batch processed and written
   *  before the next is read, until it is empty or `reads` batches are done; between(),
   *  if given, after each batch. True if any frame came. */
  drain(ifindex: number, perRead: number, reads = Infinity, between?: () => void): boolean {
    const perCall = Math.min(perRead, this.engine.batch);
    let any = false;
    for (let k = 0; k < reads; k++) {
      const n = this.addon.readBatch(this.fds[ifindex], this.buffer, this.rxDesc, this.rxSlots, this.engine.slotSize, Abi.HEADROOM, 0,
        perCall, ifindex, this.vnet);
      if (n === 0) break;
      any = true;
      this.stats.batches++;
      this.stats.framesIn += n;
      this.flush(this.engine.process(n, engineNow()));
      between?.();
      if (n < perCall) break;
    }
    return any;
  }
}

/** The data path on the event loop: readiness from uv_poll, a timer for the engine's timers. */
export class Dataplane {
  private readonly pump: FramePump;
  private readonly addon: TapAddon;
  private readonly watches: unknown[] = [];
  private timer?: NodeJS.Timeout;

  /** vnet: the TAPs were opened with virtio-net headers (offloads) and the engine is in vnet mode. */
  constructor(private readonly engine: BatchEngine, private readonly ports: Port[], private readonly tickMs = 100, vnet = false) {
    this.addon = tapAddon();
    this.pump = new FramePump(engine, ports, vnet);
  }

  get stats(): LoopStats {
    return this.pump.stats;
  }

  start(): void {
    for (const p of this.ports) this.watches.push(this.addon.watch(p.fd, () => this.pump.drain(p.ifindex, this.engine.batch)));
    this.timer = setInterval(() => this.pump.flush(this.engine.tick(engineNow())), this.tickMs);
  }

  stop(): void {
    for (const w of this.watches) this.addon.unwatch(w);
    this.watches.length = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
