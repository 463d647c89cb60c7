// The engine's wire/ helpers, one export each (wasm/wiretest.wasm).
import { readFileSync } from "node:fs";
import { wasmPath } from "../../host/engine/node.js";

export interface Wire {
  memory: WebAssembly.Memory;
  buffer(): number;
  checksum(p: number, len: number): number;
  update16(c: number, o: number, n: number): number;
  update32(c: number, o: number, n: number): number;
  l4Checksum(src: number, dst: number, proto: number, l4: number, len: number): number;
  udpZeroRule(c: number): number;
  ethCheck(p: number, len: number): number;
  ethType(p: number, l2: number): number;
  arpCheck(p: number, len: number): number;
  arpEmit(p: number, op: number, smac: number, sip: number, tmac: number, tip: number): void;
  ipv4Check(p: number, avail: number): number;
  ipv4Emit(p: number, tos: number, total: number, id: number, df: number, ttl: number, proto: number, src: number, dst: number): void;
  ipv4SetDst(p: number, a: number): void;
  ipv4SetSrc(p: number, a: number): void;
  ipv4DecTtl(p: number): void;
  ipv4IsFragment(p: number): number;
  tcpCheck(p: number, len: number): number;
  udpCheck(p: number, len: number): number;
  icmpCheck(p: number, len: number): number;
  l4SetDst(l4: number, proto: number, oldA: number, newA: number, port: number): void;
  l4SetSrc(l4: number, proto: number, oldA: number, newA: number, port: number): void;
  ipipEncapsulate(outer: number, id: number, src: number, dst: number): void;
  ipipOuterTos(t: number): number;
  ipipDecapsulatedTos(o: number, i: number): number;
}

export function loadWire(): { w: Wire; mem: Uint8Array; base: number; put(bytes: ArrayLike<number>, at?: number): number; get(at: number, len: number): number[] } {
  const path = wasmPath("release").replace("release.wasm", "wiretest.wasm");
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), { env: { abort() { throw new Error("abort"); } } });
  const w = inst.exports as unknown as Wire;
  const mem = new Uint8Array(w.memory.buffer);
  const base = w.buffer();
  return {
    w, mem, base,
    put(bytes, at = 0) {
      mem.fill(0xa5, base + at, base + at + 4096);
      mem.set(Array.from(bytes), base + at);
      return base + at;
    },
    get(at, len) {
      return Array.from(mem.subarray(at, at + len));
    },
  };
}
