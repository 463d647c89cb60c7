// The decapsulator's TypeScript face (wasm/decap.wasm). No Node imports.

import { Abi, DecapCounter, Err, Region } from "./abi.js";
import { IpAddr, parseIp } from "./addr.js";
import { DEFAULT_SLOT_SIZE } from "./index.js";
import type { instantiate as instantiateDecap } from "../../wasm/decap.js";

export { DecapCounter, DecapPort } from "./abi.js";

/** A tunnel address as the decapsulator takes it (IPv4 wire order, or IPv6 as four words);
 *  throws on text that is not an address. */
export function tunnelAddress(text: string): IpAddr {
  return parseIp(text);
}

/** Raw exports, typed from the declarations asc writes for assembly/decap.ts. */
type DecapExports = Awaited<ReturnType<typeof instantiateDecap>>;

export class Decapsulator {
  private readonly x: DecapExports;
  private dv: DataView;

  static async create(wasm: BufferSource | WebAssembly.Module, batch = 256, slotSize = DEFAULT_SLOT_SIZE): Promise<Decapsulator> {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, { env: { abort() { throw new Error("decapsulator aborted"); } } });
    return new Decapsulator(instance.exports as unknown as DecapExports, batch, slotSize);
  }

  constructor(x: DecapExports, readonly batch: number, readonly slotSize: number) {
    this.x = x;
    if (x.abiVersion() !== Abi.VERSION) throw new Error("decapsulator ABI mismatch: rebuild with npm run build");
    const rc = x.init(batch, slotSize);
    if (rc < 0) throw new Error(`decapsulator init: error ${-rc} (${Err[-rc]})`);
    this.dv = new DataView(x.memory.buffer);
  }

  get memory(): WebAssembly.Memory {
    return this.x.memory;
  }

  regionOffset(r: Region): number {
    return this.x.regionOffset(r);
  }

  /** An address whose tunnel packets are unwrapped: IPv4 (IPIP and IPv6 in IPv4) or IPv6
   *  (IPv6 in IPv6 and IPv4 in IPv6); at most 16 of each family. */
  addTunnelAddress(address: string): void {
    const a = tunnelAddress(address);
    const rc = typeof a === "number" ? this.x.addTunnelAddress(a) : this.x.addTunnelAddress6(a[0], a[1], a[2], a[3]);
    if (rc < 0) throw new Error(`too many tunnel addresses (at most 16 of a family): ${address}`);
  }

  process(n: number, nowMs: number): number {
    return this.x.processBatch(n, nowMs >>> 0);
  }

  tick(nowMs: number): number {
    return this.x.tick(nowMs >>> 0);
  }

  counters(): Record<string, bigint> {
    const out: Record<string, bigint> = {};
    const base = this.x.regionOffset(Region.COUNTERS);
    for (const [name, v] of Object.entries(DecapCounter)) {
      if (typeof v !== "number" || name === "FIRST_DROP" || name === "LAST_DROP" || name === "COUNT") continue;
      out[name.toLowerCase()] = this.dv.getBigUint64(base + v * 8, true);
    }
    return out;
  }
}
