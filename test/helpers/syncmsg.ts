// IPVS sync protocol v1 messages laid out byte by byte from ip_vs_sync.c (struct
// ip_vs_sync_mesg, struct ip_vs_sync_v4), independently of the engine: what a forger or a
// test sends.

const be16 = (v: number) => [(v >>> 8) & 255, v & 255];
const be32 = (v: number) => [...be16(v >>> 16), ...be16(v & 0xffff)];
const ip4 = (a: string) => a.split(".").map(Number);

export interface SyncEntrySpec {
  cport: number;
  caddr: string;
  vaddr: string;
  vport?: number;
  daddr: string;
  dport?: number;
  /** IP_VS_TCP_S_*: 1 ESTABLISHED (default). */
  state?: number;
  /** Seconds (0: the backup's own for the state). */
  timeout?: number;
  template?: boolean;
}

/** One 36-byte IPv4 entry: TCP, DR (3), NOOUTPUT, INACTIVE unless ESTABLISHED. */
export function syncEntry(e: SyncEntrySpec): number[] {
  const state = e.template ? 0 : e.state ?? 1;
  const flags = 3 | 0x80 | (e.template ? 0x1000 : 0) | (state === 1 || e.template ? 0 : 0x100);
  return [0, 6, ...be16(36), ...be32(flags), ...be16(state), ...be16(e.cport), ...be16(e.vport ?? 80), ...be16(e.dport ?? 80), ...be32(0),
    ...be32(e.timeout ?? 0), ...ip4(e.caddr), ...ip4(e.vaddr), ...ip4(e.daddr)];
}

/** A v1 message: 8-byte header (reserved 0, sync ID, size, count, version 1, spare 0) and the entries. */
export function syncMessage(entries: SyncEntrySpec[], syncid: number): number[] {
  const body = entries.flatMap(syncEntry);
  return [0, syncid, ...be16(8 + body.length), entries.length, 1, 0, 0, ...body];
}
