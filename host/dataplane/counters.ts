// The service table's counters, and only them, for IPVS's rate estimator (host/control/estimator.ts):
// numbers in one Float64Array, read straight from the engine's memory, instead of a ServiceInfo
// object per service and real server. At 10,000 services x 10 the estimator's tick used to build
// and structured-clone 110,000 objects with their key strings every 2 s; the main thread spent
// ~5 ms a slice deserialising and estimating them, and the garbage made scavenges of 10-23 ms:
// a -e arriving meanwhile waited for all of that (issue 19's p99). IPVS reads its counters in
// place for the same reason (ip_vs_est.c reads each est's struct ip_vs_cpu_stats per CPU).
//
// A slice is rows, in table order (the order and the set of servers of Engine.servicesSlice: each
// service's chain, the most recently added first):
//   a service   SERVICE_ROW numbers: index, protocol (0: firewall mark), address (wire order,
//               as the engine keeps it; a mark's number there), port (wire order), the position
//               of its first server in this slice within its chain (> 0: the service came in an
//               earlier slice, its counters are there again but not news), how many server rows
//               follow, then its five counters;
//   its servers SERVER_ROW numbers each: index, address, port (wire order), five counters.
// Counters are below 2^53 (a u64 read as two halves): exact in a double.

import { DestField, Region, ServiceField, Stat } from "../engine/abi.js";
import type { Engine, ServiceCursor } from "../engine/index.js";

export const SERVICE_ROW = 11;
export const SERVER_ROW = 8;
/** Offsets in a service row. */
export const ServiceRow = { INDEX: 0, PROTO: 1, ADDR: 2, PORT: 3, FROM: 4, SERVERS: 5, STATS: 6 } as const;
/** Offsets in a server row. */
export const ServerRow = { INDEX: 0, ADDR: 1, PORT: 2, STATS: 3 } as const;

/** Most services and real servers one counters slice carries, and most table entries it scans.
 *  A slice of 2,048 services / 8,192 servers is ~0.6 MB of numbers, read in about a millisecond
 *  (no object is built): the data path is held no longer than by a listing's slice. */
export const COUNTER_SERVICES_PER_SLICE = 2048;
export const COUNTER_SERVERS_PER_SLICE = 8192;
export const COUNTER_ENTRIES_PER_SLICE = 16384;

const NO_DEST = 0xffffffff;

// The engine's records are read as 32-bit words (WebAssembly memory is little-endian, and so are
// the hosts Node runs on: checked once here rather than paid for on every read with a DataView).
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error("wasmvs needs a little-endian host");

/** The five u64 counters of a record at base, as doubles at out[at...]; returns the position after them. */
function counters(out: Float64Array, at: number, u32: Uint32Array, base: number): number {
  const w = base >>> 2;
  out[at] = u32[w] + u32[w + 1] * 4294967296;
  out[at + 1] = u32[w + 2] + u32[w + 3] * 4294967296;
  out[at + 2] = u32[w + 4] + u32[w + 5] * 4294967296;
  out[at + 3] = u32[w + 6] + u32[w + 7] * 4294967296;
  out[at + 4] = u32[w + 8] + u32[w + 9] * 4294967296;
  return at + 5;
}

/** Rows are written here, then copied out at their length (the reply's own buffer). */
let scratch = new Float64Array(0);

/** The counters of the services from cursor from on, as rows (see above), and where the next
 *  slice starts (next.service: the table's end when done; next.server > 0: the next slice goes
 *  on with that service's servers, as Engine.servicesSlice). */
export function countersSlice(e: Engine, from: ServiceCursor, maxScan = COUNTER_ENTRIES_PER_SLICE, maxServices = COUNTER_SERVICES_PER_SLICE,
  maxServers = COUNTER_SERVERS_PER_SLICE): { rows: Float64Array; next: ServiceCursor } {
  // The engine's memory as of now (it may have grown since the last request). Every record and
  // field read here is 4-byte aligned (abi.ts), the ports 2-byte.
  const buf = e.memory.buffer;
  const u32 = new Uint32Array(buf);
  const u16 = new Uint16Array(buf);
  const u8 = new Uint8Array(buf);
  const services = e.regionOffset(Region.SERVICES), dests = e.regionOffset(Region.DESTS);
  const serviceStats = e.regionOffset(Region.SERVICE_STATS), destStats = e.regionOffset(Region.DEST_STATS);
  const size = maxServices * SERVICE_ROW + maxServers * SERVER_ROW;
  if (scratch.length < size) scratch = new Float64Array(size);
  const out = scratch;
  let at = 0;
  const stop = Math.min(e.maxServices, Math.max(0, from.service) + Math.max(1, maxScan));
  let listed = 0;
  let servers = 0;
  let skip = from.server;
  let next: ServiceCursor = { service: stop, server: 0 };
  for (let s = Math.max(0, from.service); s < stop; s++, skip = 0) {
    if (listed >= maxServices || servers >= maxServers) { next = { service: s, server: 0 }; break; }
    const r = services + s * ServiceField.SIZE;
    if (u8[r + ServiceField.FLAGS] === 0) continue;
    listed++;
    const row = at;
    out[at++] = s;
    out[at++] = u8[r + ServiceField.PROTO];
    out[at++] = u32[(r + ServiceField.VADDR) >>> 2];
    out[at++] = u16[(r + ServiceField.VPORT) >>> 1];
    out[at++] = skip;
    out[at++] = 0;
    at = counters(out, at, u32, serviceStats + s * Stat.SIZE);
    let k = 0;
    let d = u32[(r + ServiceField.DEST_HEAD) >>> 2];
    // The servers an earlier slice carried: walked past, not read.
    for (; d !== NO_DEST && k < skip; k++) d = u32[(dests + d * DestField.SIZE + DestField.NEXT) >>> 2];
    let n = 0;
    for (; d !== NO_DEST && servers < maxServers; k++, n++, servers++) {
      const q = dests + d * DestField.SIZE;
      out[at++] = d;
      out[at++] = u32[(q + DestField.ADDR) >>> 2];
      out[at++] = u16[(q + DestField.PORT) >>> 1];
      at = counters(out, at, u32, destStats + d * Stat.SIZE);
      d = u32[(q + DestField.NEXT) >>> 2];
    }
    out[row + ServiceRow.SERVERS] = n;
    if (d !== NO_DEST) { next = { service: s, server: k }; break; }
  }
  return { rows: out.slice(0, at), next };
}
