// The control plane's side of the data-path thread: starts it, sends it requests (each
// followed by a ring of the doorbell that wakes its epoll_wait), and matches replies.

import { Worker, MessageChannel, MessagePort } from "node:worker_threads";
import { DEFAULT_MAX_REAL_SERVERS, DEFAULT_MAX_SERVICES, EngineOptions } from "../engine/index.js";
import { compiledEngine } from "../engine/node.js";
import { tapAddon } from "../io/tap.js";
import type { DirectorConfig } from "../config/director.js";
import { EngineSizes, fromFailure, RequestAdapter } from "./adapter.js";
import { EngineReply, EngineRequest, EngineSnapshot, RequestFailure } from "./requests.js";
import { LoopStats } from "./loop.js";
import { JournalWriter } from "./journal.js";
import type { GoMessage, StartMessage, StartReply, ThreadData, ThreadMessage } from "./thread.js";
import { startSetTransfer, type StartSet } from "../engine/start.js";
import { startSetOf, vrrpConfigOf } from "./start.js";

/** The engine's sizes and first load, and what the thread says to the control plane. */
export interface ThreadStart {
  options: Required<Pick<EngineOptions, "batch" | "slotSize" | "connCapacity">> & EngineOptions;
  /** The start set (start.ts startSetOf) and what VRRP's state machines read (vrrpConfigOf). */
  set: StartSet;
  vrrpConfig: DirectorConfig;
  vnet: boolean;
  tickMs?: number;
  /** The thread died (a defect): the director cannot forward any more. */
  onFatal: (why: string) => void;
  /** A line the thread has to say (a VRRP engine call that failed). */
  log?: (line: string) => void;
}

/** The interfaces it forwards on, and a previous process's table to take in first. */
export interface ThreadPorts {
  fds: number[];
  /** Which of fds are AF_XDP ring ports (rings.c): the thread keeps their view of the host's addresses fresh. */
  rings?: number[];
  /** A previous process's table to take in before the first frame (handoff.ts). */
  table?: { entries: Uint8Array; elapsedMs: number };
}

/** All of it at once (DataplaneThread.start). */
export type ThreadOptions = Omit<ThreadStart, "set" | "vrrpConfig"> & ThreadPorts & { config: DirectorConfig };

/** The data-path thread from its start to its loop: started before the configuration is read
 *  (it loads its code while the control plane parses), given its engine's start set, which it
 *  proves by loading it (prove: a refusal ends the thread and nothing else was touched), then
 *  the interfaces (go). */
export class BootingThread {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly startPort: MessagePort;
  private readonly bell: number;
  private start?: ThreadStart;
  /** Why the worker ended or failed before its loop ran. */
  private failed?: (why: string) => void;
  private ended?: string;
  private aborted = false;

  constructor() {
    this.bell = tapAddon().bellOpen();
    const { port1, port2 } = new MessageChannel();
    const steps = new MessageChannel();
    this.port = port1;
    this.startPort = steps.port1;
    const data: ThreadData = { bell: this.bell, port: port2, startPort: steps.port2 };
    this.worker = new Worker(new URL("./thread.js", import.meta.url), { workerData: data, transferList: [port2, steps.port2] });
    const end = (why: string) => { this.ended ??= why; this.failed?.(why); };
    this.worker.on("error", (e) => end(`data-path thread error: ${e.message}`));
    this.worker.on("exit", (code) => end(`data-path thread exited (${code})`));
  }

  /** Make the engine and load it with o.set; resolves once it holds all of it, rejects with
   *  the engine's first refusal (the thread has ended: nothing else is to be done with it). */
  async prove(o: ThreadStart): Promise<void> {
    this.start = o;
    const msg: StartMessage = { module: await compiledEngine("release"), options: o.options, set: o.set, vrrpConfig: o.vrrpConfig, vnet: o.vnet, tickMs: o.tickMs ?? 100 };
    const reply = await new Promise<StartReply>((resolve, reject) => {
      if (this.ended) return reject(new Error(this.ended));
      this.failed = (why) => reject(new Error(why));
      this.startPort.once("message", resolve);
      this.startPort.postMessage(msg, startSetTransfer(o.set));
    });
    this.failed = undefined;
    if ("refused" in reply) {
      await this.abort();
      throw new StartRefused(reply.refused);
    }
  }

  /** Forward on ports' interfaces; resolves once the loop runs. */
  async go(ports: ThreadPorts): Promise<DataplaneThread> {
    const o = this.start!;
    // From here the thread is the DataplaneThread's to stop (abort does nothing).
    this.aborted = true;
    const t = new DataplaneThread(this.worker, this.port, this.bell, o.options);
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        t.dead = why;
        for (const p of t.pending.values()) p.reject(new Error(`the data path stopped: ${why}`));
        t.pending.clear();
        reject(new Error(why));
        o.onFatal(why);
      };
      this.failed = (why) => { if (!t.stopped && !t.dead) fail(why); };
      if (this.ended) return fail(this.ended);
      t.listen(o, resolve, fail);
      const go: GoMessage = { go: true, fds: ports.fds, rings: ports.rings ?? [], table: ports.table };
      this.startPort.postMessage(go);
      this.startPort.close();
    });
    return t;
  }

  /** The start given up (a refused file, or what comes after the proof failed): the thread
   *  ends. Nothing once go was called. */
  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.failed = undefined;
    this.ended ??= "aborted";
    try { this.startPort.postMessage({ abort: true } satisfies GoMessage); } catch { /* closed */ }
    this.startPort.close();
    await this.worker.terminate();
    this.port.close();
    tapAddon().close(this.bell);
  }
}

/** The engine refused the start set (its first refusal; applyConfig on a scratch engine says all of them). */
export class StartRefused extends Error {}

export class DataplaneThread extends RequestAdapter {
  readonly sizes: EngineSizes;
  private nextId = 1;
  /** @internal (BootingThread) */ readonly pending = new Map<number, { resolve: (r: EngineReply) => void; reject: (e: Error) => void }>();
  /** @internal */ stopped?: (s: { loop: LoopStats; table?: { entries: Uint8Array; count: number } }) => void;
  /** The data-path thread's kernel thread ID (where the system allows reading it). */
  tid?: number;
  /** What the thread took in from a previous process's table. */
  imported?: { applied: number; expired: number; unmatched: number };
  private inflightSnapshot?: Promise<EngineSnapshot>;
  /** @internal */ dead?: string;

  constructor(private readonly worker: Worker, private readonly port: MessagePort, private readonly bell: number, options: ThreadStart["options"]) {
    super();
    this.sizes = { slotSize: options.slotSize, connCapacity: options.connCapacity, maxServices: options.maxServices ?? DEFAULT_MAX_SERVICES,
      maxRealServers: options.maxRealServers ?? DEFAULT_MAX_REAL_SERVERS };
  }

  /** @internal (BootingThread.go) The thread's messages: ready, VRRP's events, lines to log, a fatal end, replies. */
  listen(o: Pick<ThreadStart, "log">, ready: () => void, fail: (why: string) => void): void {
    this.port.on("message", (m: ThreadMessage) => {
      if ("ready" in m) { this.imported = m.imported; this.tid = m.tid; ready(); }
      else if ("vrrp" in m) { for (const f of this.vrrpListeners) f(m.vrrp); }
      else if ("log" in m) o.log?.(m.log);
      else if ("fatal" in m) fail(m.fatal);
      else if ("stopped" in m) this.stopped?.({ loop: m.stopped, table: m.table });
      else if ("journal" in m) this.journal?.take(m.journal);
      else {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.failure) p.reject(fromFailure(m.failure as RequestFailure));
        else p.resolve(m.reply as EngineReply);
      }
    });
  }

  /** The thread started early, before the configuration is read (BootingThread). */
  static boot(): BootingThread {
    return new BootingThread();
  }

  /** Start the thread with config; resolves once its engine holds it and it forwards. */
  static async start(o: ThreadOptions): Promise<DataplaneThread> {
    const boot = new BootingThread();
    try {
      await boot.prove({ ...o, set: startSetOf(o.config), vrrpConfig: vrrpConfigOf(o.config) });
    } catch (e) {
      await boot.abort();
      o.onFatal((e as Error).message);
      throw e;
    }
    return boot.go(o);
  }

  protected request(req: EngineRequest): Promise<EngineReply> {
    if (this.dead) return Promise.reject(new Error(`the data path stopped: ${this.dead}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // A change set's packed rows (7 MB at 110,000 ops) are moved, not copied: nothing here reads them after.
      this.port.postMessage({ id, req }, req.op === "apply" && req.packed ? [req.packed.rows.buffer as ArrayBuffer] : []);
      tapAddon().bellRing(this.bell);
    });
  }

  /** Concurrent readers (status, metrics, estimator) share one snapshot in flight; a reader
   *  that says how old a snapshot may be (metrics) gets the last one while it is younger. */
  override snapshot(maxAgeMs = 0): Promise<EngineSnapshot> {
    if (this.lastSnapshot && performance.now() - this.lastSnapshot.at <= maxAgeMs) return Promise.resolve(this.lastSnapshot.snap);
    if (!this.inflightSnapshot) {
      this.inflightSnapshot = super.snapshot().then((snap) => {
        this.lastSnapshot = { snap, at: performance.now() };
        return snap;
      }).finally(() => { this.inflightSnapshot = undefined; });
    }
    return this.inflightSnapshot;
  }
  private lastSnapshot?: { snap: EngineSnapshot; at: number };

  /** @internal */ journal?: JournalWriter;

  /** The table written to path every half second from now on (journal.ts). */
  startJournal(path: string, log: (line: string) => void): void {
    if (this.dead || this.journal) return;
    this.journal = new JournalWriter(path, log);
    this.port.postMessage({ journal: true });
    tapAddon().bellRing(this.bell);
  }

  /** The crash journal's figures (undefined before it starts). */
  journalView(): ReturnType<JournalWriter["view"]> | undefined {
    return this.journal?.view();
  }

  /** Stop the loop; resolves with its final statistics (and, when asked, the connection
   *  table as it was when the last frame moved) once the thread has ended. */
  async stop(exportTable = false): Promise<{ loop: LoopStats; table?: { entries: Uint8Array; count: number } } | undefined> {
    // A journal pass under way is dropped: the file is left alone for the final table.
    await this.journal?.close();
    if (this.dead) return undefined;
    const stats = new Promise<{ loop: LoopStats; table?: { entries: Uint8Array; count: number } }>((resolve) => { this.stopped = resolve; });
    this.port.postMessage({ stop: true, exportTable });
    tapAddon().bellRing(this.bell);
    const s = await Promise.race([stats, new Promise<undefined>((r) => { (setTimeout(r, 5000) as unknown as NodeJS.Timeout).unref(); })]);
    await this.worker.terminate();
    this.port.close();
    tapAddon().close(this.bell);
    return s;
  }
}
