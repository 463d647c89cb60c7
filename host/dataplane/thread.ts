// The data path on a thread of its own (a worker thread): it owns the engine and the
// TAP descriptors and runs a synchronous loop that blocks in epoll_wait (through the
// addon), drains the ready TAPs a batch at a time, and runs the engine's timers. Nothing
// else is scheduled on this thread, so a configuration being parsed, a control client,
// a metrics scrape or a long listing on the main thread never delays a frame.
//
// The control plane talks to it through a MessagePort and rings an eventfd doorbell
// after each message; requests are served between two batches (host/dataplane/requests.ts),
// so a change applies entirely before or after a batch, never in the middle of one.
//
// VRRP's state machines and timers run here too (host/vrrp/machines.ts says why): the loop
// sleeps until the engine's tick or the next VRRP timer, whichever is first, and runs the
// due VRRP timers whenever it wakes, after each TAP's turn and between the requests it
// serves (and inside a long apply), so nothing the control plane asks delays an advert by
// more than one short piece of work.

import { receiveMessageOnPort, workerData, MessagePort } from "node:worker_threads";
import { readlinkSync } from "node:fs";
import { Engine, EngineOptions } from "../engine/index.js";
import { Abi } from "../engine/abi.js";
import { BELL_BIT, RING_DEVICE_GONE, RING_MORE_QUEUES, tapAddon } from "../io/tap.js";
import type { DirectorConfig } from "../config/director.js";
import { applyStartSet, type StartSet } from "../engine/start.js";
import { engineNow, FramePump, LoopStats } from "./loop.js";
import { EngineRequest, serveRequest, toFailure } from "./requests.js";
import { Journal, JournalMessage } from "./journal.js";
import { PolledClock } from "../io/clock.js";
import { engineDevice, VrrpEvent, VrrpMachines } from "../vrrp/machines.js";
import { ERROR } from "../io/log.js";

/** What the thread is started with (before the configuration is read: it loads its code
 *  meanwhile). The rest comes on startPort: a StartMessage, answered with a StartReply, then
 *  a GoMessage once the control plane holds the interfaces. */
export interface ThreadData {
  bell: number;
  /** Requests and replies once the loop runs. */
  port: MessagePort;
  /** The start's two steps (closed once the loop runs). */
  startPort: MessagePort;
}

/** The engine to make and what to load it with (start.ts: every refusal ends the start). */
export interface StartMessage {
  module: WebAssembly.Module;
  options: EngineOptions;
  set: StartSet;
  /** What VRRP's state machines read of the configuration (no services). */
  vrrpConfig: DirectorConfig;
  vnet: boolean;
  /** The engine's timers (expiry, ARP retries) while frames flow; idle, ten times less often. */
  tickMs: number;
}

/** The engine holds the whole start set (proven), or why not. */
export type StartReply = { proven: true } | { refused: string };

/** Forward: the interfaces' descriptors, and a previous process's table to take in first. */
export type GoMessage = { go: true; fds: number[]; rings: number[]; table?: { entries: Uint8Array; elapsedMs: number } } | { abort: true };

/** Frames read for one engine call. Every frame of a batch is read before the first is
 *  written, so a small batch keeps latency down; too small, and the per-call costs show.
 *  Measured with bench:e2e (NAT, HTTP): 32 gave 0.92-0.98x the draining C forwarder's
 *  requests/s with a p99 of 1.20-1.40x its own, 256 gave 0.92-0.95x and 1.13-3.82x, 16
 *  0.94-0.96x and 1.31-1.46x. */
const FRAMES_PER_READ = 32;
/** Reads from one TAP before the others (and the control plane) get a turn. */
const READS_PER_TURN = 64;
/** Requests served in one turn of the loop before the TAPs get theirs (each is short: slices). */
const REQUESTS_PER_TURN = 8;
/** How often the ring ports read the host's addresses again (a getifaddrs each: tens of µs). */
const RING_REFRESH_MS = 1000;

export type ThreadMessage =
  | { ready: true; tid?: number; imported?: { applied: number; expired: number; unmatched: number } }
  | { vrrp: VrrpEvent[] }
  | { log: string }
  | { fatal: string }
  | { id: number; reply?: unknown; failure?: unknown }
  | { stopped: LoopStats; table?: { entries: Uint8Array; count: number } }
  | { journal: JournalMessage };

/** The next message on port (the start's steps: the loop itself never waits on the event loop). */
const next = <T>(port: MessagePort): Promise<T> => new Promise((resolve) => port.once("message", resolve));

async function main(t: ThreadData): Promise<void> {
  const post = (m: ThreadMessage) => t.port.postMessage(m);
  const start = await next<StartMessage>(t.startPort);
  let engine: Engine;
  try {
    engine = await Engine.create(start.module, start.options);
    applyStartSet(engine, start.set);
    engine.setVnetHeaders(start.vnet);
  } catch (e) {
    t.startPort.postMessage({ refused: (e as Error).message } satisfies StartReply);
    t.startPort.close();
    t.port.close();
    return;
  }
  t.startPort.postMessage({ proven: true } satisfies StartReply);
  const go = await next<GoMessage>(t.startPort);
  t.startPort.close();
  if ("abort" in go) {
    t.port.close();
    return;
  }
  const d = { ...start, ...go, bell: t.bell, port: t.port };
  let imported: { applied: number; expired: number; unmatched: number } | undefined;
  try {
    // Before the first frame: a packet of a connection the table holds must find it.
    if (d.table) imported = engine.importTable(d.table.entries, d.table.elapsedMs, engineNow());
  } catch (e) {
    post({ fatal: (e as Error).message });
    d.port.close();
    return;
  }
  const addon = tapAddon();
  const pump = new FramePump(engine, d.fds.map((fd, ifindex) => ({ ifindex, fd })).filter((p) => p.fd >= 0), d.vnet);
  const { stats } = pump;
  const flush = (tx: number) => pump.flush(tx);
  const ep = addon.epollOpen(pump.fds, d.bell);
  // VRRP on this thread's own clock (performance.now(), ms), timers run by this loop.
  const clock = new PolledClock(() => performance.now(), (e) => post({ log: `${ERROR}VRRP timer: ${(e as Error).message}` }));
  // Always there (with no instance it holds no timer): a reload may add the first instance.
  const vrrp = new VrrpMachines(d.vrrpConfig, clock, engineDevice(engine, d.vrrpConfig, engineNow, flush),
    (e) => post({ vrrp: [e] }), (line) => post({ log: line }));
  const poll = () => clock.run();
  post({ ready: true, tid: threadId(), imported });

  /** Serve every queued request; true when asked to stop. */
  let exportTable = false;
  // The crash journal (journal.ts), once the director has started every service.
  let journal: Journal | undefined;
  // Requests left in the port for the next turn (REQUESTS_PER_TURN were served).
  let moreRequests = false;
  stats.longestRequestMs = 0;
  const serve = (): boolean => {
    // The ring ports' kernel counters (frames the kernel dropped before the engine saw them),
    // read when asked for (a getsockopt per socket), for snapshots, metrics and the status file.
    if (d.rings.length) stats.rings = d.rings.map((fd) => addon.ringInfo(fd)).filter((x) => x !== null);
    moreRequests = false;
    for (let served = 0, m = receiveMessageOnPort(d.port); m; m = receiveMessageOnPort(d.port)) {
      const msg = m.message as { id: number; req: EngineRequest } | { stop: true; exportTable?: boolean } | { journal: true };
      if ("stop" in msg) { exportTable = msg.exportTable ?? false; return true; }
      if ("journal" in msg) { journal ??= new Journal(engine, (j) => post({ journal: j })); continue; }
      const start = performance.now();
      try {
        post({ id: msg.id, reply: serveRequest(engine, msg.req, { nowMs: engineNow(), loop: stats, emit: flush, vrrp, poll }) });
      } catch (e) {
        post({ id: msg.id, failure: toFailure(e) });
      }
      const took = performance.now() - start;
      if (took > stats.longestRequestMs!) { stats.longestRequestMs = took; stats.longestRequestOp = msg.req.op; }
      poll?.();
      // Readers at once (a listing, a scrape, the estimator) each have a slice queued: the
      // frames get their turn after a few, not after all of them.
      if (++served >= REQUESTS_PER_TURN) { moreRequests = true; break; }
    }
    return false;
  };
  /** After each batch: the adverts the engine queued, to the state machines (its queue
   *  holds 64), then VRRP's due timers (a turn of 64 batches may take milliseconds). */
  const vrrpTurn = () => {
    for (const a of engine.takeVrrpAdverts()) vrrp.onAdvert(a.instance, a.message, a.src);
    clock.run();
  };

  let busy = false;
  /** Why the loop ended on its own (a ring port's device left the host). */
  let gone: string | undefined;
  let nextTick = (engineNow() + d.tickMs) >>> 0;
  let nextRefresh = (engineNow() + RING_REFRESH_MS) >>> 0;
  for (;;) {
    // Until the engine's tick or the next VRRP timer (epoll's ms: rounded up, never early).
    const wait = moreRequests ? 0 : Math.max(0, Math.min((nextTick - engineNow()) | 0, Math.ceil(clock.next() - performance.now())));
    const ready = addon.epollWait(ep, wait);
    poll?.();
    if (ready & BELL_BIT || moreRequests) {
      if (ready & BELL_BIT) addon.bellClear(d.bell);
      if (serve()) break;
    }
    // Each ready TAP in turn, a batch at a time, each batch processed and written before the
    // next is read (see epollWait in tap.c for why), READS_PER_TURN at most before the others.
    for (let i = 0; i < Abi.MAX_INTERFACES; i++) {
      if ((ready & (1 << i)) !== 0 && pump.drain(i, FRAMES_PER_READ, READS_PER_TURN, vrrpTurn)) busy = true;
    }
    const now = engineNow();
    if (((now - nextTick) | 0) >= 0) {
      flush(engine.tick(now));
      journal?.step(now);
      // The host's addresses, which each ring port's XDP program leaves to the host, read
      // again once a second: an address the host gains or loses is seen within that.
      if (d.rings.length && ((now - nextRefresh) | 0) >= 0) {
        for (const fd of d.rings) {
          const refreshed = addon.ringRefresh(fd);
          if (refreshed === RING_MORE_QUEUES) {
            // Frames on a queue with no socket go to the host's stack, which refuses the VIPs'
            // clients: a share of connections fails. A new start opens a socket per queue.
            const info = addon.ringInfo(fd);
            gone = `device ${info?.device ?? `fd ${fd}`} has more receive queues than the ${info?.queues ?? "?"} wasmvs attached to (ethtool -L since ` +
              "the start): frames on the others reach the host's stack, not the engine; start wasmvs again to attach to every queue " +
              "(the unit's Restart=on-failure does)";
            break;
          }
          if (refreshed !== RING_DEVICE_GONE) continue;
          // The device left the host: the kernel took its XDP program and unbound its sockets,
          // and one of the same name that comes back is another device. Forwarding on would
          // black-hole the interface while health checks (the host's) still pass and VRRP still
          // advertises mastership; stopping lets a backup take over and a service manager restart
          // wasmvs, which attaches to the device once it is back.
          const device = addon.ringInfo(fd)?.device ?? `fd ${fd}`;
          gone = `device ${device} is no longer on this host (deleted, or moved to another network namespace): its XDP program and ` +
            "AF_XDP sockets went with it; start wasmvs again once the device is back (the unit's Restart=on-failure does)";
          break;
        }
        if (gone) break;
        nextRefresh = (now + RING_REFRESH_MS) >>> 0;
      }
      // An idle director wakes once a second: ARP retries are a second apart anyway, and
      // expiry is amortised over the calls that traffic makes. A journal pass under way goes
      // on at the next turn (a slice a turn, journal.ts); what traffic did meanwhile counts after.
      const pass = journal?.busy ?? false;
      nextTick = (now + (pass ? 1 : busy ? d.tickMs : d.tickMs * 10)) >>> 0;
      if (!pass) busy = false;
    }
  }
  // Stopped on purpose with VRRP still running (the control plane did not stop it): masters resign.
  vrrp.stop();
  addon.close(ep);
  if (gone) {
    post({ fatal: gone });
    d.port.close();
    return;
  }
  // The last act of the data path: no frame moves after this, so the table is complete.
  if (exportTable) {
    const table = engine.exportTable(engineNow());
    d.port.postMessage({ stopped: stats, table } satisfies ThreadMessage, [table.entries.buffer as ArrayBuffer]);
  } else post({ stopped: stats });
  d.port.close();
}

/** This thread's kernel ID (for chrt/taskset, and for a test that stops the data path alone). */
function threadId(): number | undefined {
  try {
    return Number(readlinkSync("/proc/thread-self").split("/").pop());
  } catch {
    return undefined;
  }
}

if (workerData) void main(workerData as ThreadData);
