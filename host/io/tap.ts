// The addon (host/io/native/tap.c and rings.c, built by node-gyp on npm install), typed: TAP devices,
// AF_XDP ring ports, the data-path thread's epoll and doorbell, and a few socket helpers.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface TapAddon {
  /** Attach to (or create) TAP device name; returns a non-blocking fd. */
  open(name: string, vnetHdr?: boolean): number;
  close(fd: number): void;
  readBatch(fd: number, memory: ArrayBuffer, descBase: number, slotsBase: number, slotSize: number, headroom: number,
    first: number, max: number, ifindex: number, vnet?: boolean): number;
  writeBatch(fds: Int32Array, memory: ArrayBuffer, txDescBase: number, count: number, errors?: Float64Array, vnet?: boolean): number;
  watch(fd: number, onReadable: (status: number) => void): unknown;
  unwatch(handle: unknown): void;
  /** An epoll set over fds (indexed by ifindex, -1 for none) and the doorbell bellFd. */
  epollOpen(fds: Int32Array, bellFd: number): number;
  /** Block up to timeoutMs; a mask of the ready ifindexes, with BELL_BIT for the doorbell. */
  epollWait(epfd: number, timeoutMs: number): number;
  /** An eventfd that wakes a thread blocked in epollWait. */
  bellOpen(): number;
  bellRing(fd: number): void;
  bellClear(fd: number): void;
  /** SO_PEERCRED of a connected Unix socket. */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** An interface's flags (IFF_UP 0x1, IFF_RUNNING 0x40 ...) in this process's namespace; -1: none. */
  linkFlags(name: string): number;
  /** This namespace's IPv4 TCP socket src:sport -> dst:dport (host-order addresses): its owner, its
   *  bytes received and unread (rqueue), sent and unacknowledged (wqueue); null when there is none. */
  tcpSocket(src: number, sport: number, dst: number, dport: number): { uid: number; rqueue: number; wqueue: number } | null;
  /** One datagram to the Unix datagram socket at path ('@': abstract), without blocking: 0, or the errno. */
  sendDatagram(path: string, bytes: Uint8Array): number;
  /** Attach to an existing interface through AF_XDP rings (rings.c): its XDP program, a socket per
   *  receive queue, a copy of its ARP. Returns the port's descriptor, which readBatch, writeBatch and
   *  epollOpen take as they take a TAP's. frameBytes: the largest frame the engine's slots hold. */
  ringOpen(device: string, frameBytes: number): number;
  /** Detach: the XDP program off the device, the sockets closed. */
  ringClose(fd: number): void;
  /** The host's addresses (which the XDP program leaves to the host) read again; how many, or
   *  RING_DEVICE_GONE when the device is no longer on this host (its XDP program and sockets went with it),
   *  RING_MORE_QUEUES when it has more receive queues than sockets. */
  ringRefresh(fd: number): number;
  /** What the port is and the kernel's counters of its sockets (XDP_STATISTICS, summed). */
  ringInfo(fd: number): RingInfo | null;
  /** What the port's XDP program does with a frame received on queue 0 (BPF_PROG_TEST_RUN):
   *  XDP_PASS 2 (to the host), XDP_REDIRECT 4 (to the engine). For tests. */
  ringClassify(fd: number, frame: Buffer): number;
}

/** ringRefresh's answer when the device has left this host (deleted, or moved to another namespace). */
export const RING_DEVICE_GONE = -2;
/** ringRefresh's answer when the device has more receive queues than the port has sockets (ethtool -L). */
export const RING_MORE_QUEUES = -3;

export interface RingInfo {
  device: string;
  /** XDP in the driver ("native") or in the stack ("generic": the driver has no XDP of its own). */
  mode: "native" | "generic";
  queues: number;
  chunk: number;
  /** A veth: partial checksums (its peer's offload) are finished as frames are read. */
  veth: boolean;
  rxDropped: number;
  rxInvalid: number;
  txInvalid: number;
  rxRingFull: number;
  fillRingEmpty: number;
  txRingEmpty: number;
  /** ARP copies the ARP socket had no room for (the host still got them; the engine did not). */
  arpDropped: number;
}

let addon: TapAddon | undefined;

/** The addon, loaded once. Throws with the way to build it when it is missing. */
export function tapAddon(): TapAddon {
  if (addon) return addon;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, "binding.gyp")); i++) dir = dirname(dir);
  const path = join(dir, "build", "Release", "wasmvs_tap.node");
  if (!existsSync(path)) throw new Error(`the TAP addon is not built: ${path} is missing (run npm install, or npm run build:native)`);
  addon = createRequire(import.meta.url)(path) as TapAddon;
  return addon;
}

/** The doorbell's bit in epollWait's mask. */
export const BELL_BIT = 1 << 31;
