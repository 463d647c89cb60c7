// Classic pcap files (the libpcap format tcpdump and Wireshark read and write):
// a 24-byte global header, then per packet a 16-byte record header and the bytes.
// Both byte orders and both timestamp resolutions are read; files are written
// little-endian with microsecond timestamps and LINKTYPE_ETHERNET.

export const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

export interface PcapPacket {
  /** Capture time in microseconds since the epoch (a float keeps whole microseconds exactly). */
  timeUs: number;
  data: Uint8Array;
  /** Length on the wire (may exceed data.length when the capture was truncated). */
  origLen: number;
}

export class PcapError extends Error {}

export function readPcap(buf: Uint8Array, name = "pcap"): { linkType: number; packets: PcapPacket[] } {
  if (buf.length < 24) throw new PcapError(`${name}: too short for a pcap header (${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let little: boolean;
  let nano: boolean;
  const m = dv.getUint32(0, true);
  if (m === MAGIC_US || m === MAGIC_NS) little = true;
  else if (dv.getUint32(0, false) === MAGIC_US || dv.getUint32(0, false) === MAGIC_NS) little = false;
  else if (m === 0x0a0d0d0a) throw new PcapError(`${name}: this is a pcapng file; convert it with: editcap -F pcap IN OUT`);
  else throw new PcapError(`${name}: not a pcap file (magic 0x${m.toString(16)})`);
  nano = dv.getUint32(0, little) === MAGIC_NS;
  const linkType = dv.getUint32(20, little) & 0x0fffffff;
  const packets: PcapPacket[] = [];
  let off = 24;
  let n = 0;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new PcapError(`${name}: packet ${n + 1}: truncated record header at byte ${off}`);
    const sec = dv.getUint32(off, little);
    const frac = dv.getUint32(off + 4, little);
    const incl = dv.getUint32(off + 8, little);
    const orig = dv.getUint32(off + 12, little);
    if (off + 16 + incl > buf.length) throw new PcapError(`${name}: packet ${n + 1}: truncated data at byte ${off + 16}`);
    packets.push({ timeUs: sec * 1e6 + (nano ? Math.floor(frac / 1000) : frac), data: buf.subarray(off + 16, off + 16 + incl), origLen: orig });
    off += 16 + incl;
    n++;
  }
  return { linkType, packets };
}

export function writePcap(packets: { timeUs: number; data: Uint8Array }[], snaplen = 262144): Uint8Array {
  let size = 24;
  for (const p of packets) size += 16 + p.data.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, snaplen, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  let off = 24;
  for (const p of packets) {
    const sec = Math.floor(p.timeUs / 1e6);
    dv.setUint32(off, sec, true);
    dv.setUint32(off + 4, Math.round(p.timeUs - sec * 1e6), true);
    dv.setUint32(off + 8, p.data.length, true);
    dv.setUint32(off + 12, p.data.length, true);
    out.set(p.data, off + 16);
    off += 16 + p.data.length;
  }
  return out;
}
