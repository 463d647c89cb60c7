// The control plane's side of the data-path thread: starts it, sends it requests (each
// followed by a ring of the doorbell that wakes its epoll_wait), and matches replies.

import { Worker, MessageChannel, MessagePort } from "node:worker_threads";
import { DEFAULT_MAX_REAL_SERVERS, DEFAULT_MAX_SERVICES, EngineOptions } from "../engine/index.js";
import { compiledEngine } from "../engine/node.js";
import { tapAddon } from "../io/tap.js";
import { DirectorConfig } from "../config/rules.js";
import { EngineSizes, fromFailure, RequestAdapter } from "./adapter.js";
import { EngineReply, EngineRequest, EngineSnapshot, RequestFailure } from "./requests.js";
import { LoopStats } from "./loop.js";
import { JournalWriter } from "./journal.js";
import type { ThreadData, ThreadMessage } from "./thread.js";

export interface ThreadOptions {
  options: Required<Pick<EngineOptions, "batch" | "slotSize" | "connCapacity">> & EngineOptions;
  config: DirectorConfig;
  fds: number[];
  /** Which of fds are AF_XDP ring ports (rings.c): the thread keeps their view of the host's addresses fresh. */
  rings?: number[];
  vnet: boolean;
  tickMs?: number;
  /** A previous process's table to take in before the first frame (handoff.ts). */
  table?: { entries: Uint8Array; elapsedMs: number };
  /** The thread died (a defect): the director cannot forward any more. */
  onFatal: (why: string) => void;
  /** A line the thread has to say (a VRRP engine call that failed). */
  log?: (line: string) => void;
}

export class DataplaneThread extends RequestAdapter {
  readonly sizes: EngineSizes;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: EngineReply) => void; reject: (e: Error) => void }>();
  private stopped?: (s: { loop: LoopStats; table?: { entries: Uint8Array; count: number } }) => void;
  /** The data-path thread's kernel thread ID (where the system allows reading it). */
  tid?: number;
  /** What the thread took in from a previous process's table. */
  imported?: { applied: number; expired: number; unmatched: number };
  private inflightSnapshot?: Promise<EngineSnapshot>;
  private dead?: string;

  private constructor(private readonly worker: Worker, private readonly port: MessagePort, private readonly bell: number, o: ThreadOptions) {
    super();
    this.sizes = { slotSize: o.options.slotSize, connCapacity: o.options.connCapacity, maxServices: o.options.maxServices ?? DEFAULT_MAX_SERVICES,
      maxRealServers: o.options.maxRealServers ?? DEFAULT_MAX_REAL_SERVERS };
  }

  /** Start the thread; resolves once its engine holds the configuration and it forwards. */
  static async start(o: ThreadOptions): Promise<DataplaneThread> {
    const addon = tapAddon();
    const bell = addon.bellOpen();
    const { port1, port2 } = new MessageChannel();
    const data: ThreadData = { module: await compiledEngine("release"), options: o.options, config: o.config, fds: o.fds, rings: o.rings ?? [], vnet: o.vnet,
      tickMs: o.tickMs ?? 100, bell, port: port2, table: o.table };
    const worker = new Worker(new URL("./thread.js", import.meta.url), { workerData: data, transferList: [port2] });
    const t = new DataplaneThread(worker, port1, bell, o);
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        t.dead = why;
        for (const p of t.pending.values()) p.reject(new Error(`the data path stopped: ${why}`));
        t.pending.clear();
        reject(new Error(why));
        o.onFatal(why);
      };
      port1.on("message", (m: ThreadMessage) => {
        if ("ready" in m) { t.imported = m.imported; t.tid = m.tid; resolve(); }
        else if ("vrrp" in m) { for (const f of t.vrrpListeners) f(m.vrrp); }
        else if ("log" in m) o.log?.(m.log);
        else if ("fatal" in m) fail(m.fatal);
        else if ("stopped" in m) t.stopped?.({ loop: m.stopped, table: m.table });
        else if ("journal" in m) t.journal?.take(m.journal);
        else {
          const p = t.pending.get(m.id);
          if (!p) return;
          t.pending.delete(m.id);
          if (m.failure) p.reject(fromFailure(m.failure as RequestFailure));
          else p.resolve(m.reply as EngineReply);
        }
      });
      worker.on("error", (e) => fail(`data-path thread error: ${e.message}`));
      worker.on("exit", (code) => { if (!t.stopped && !t.dead) fail(`data-path thread exited (${code})`); });
    });
    return t;
  }

  protected request(req: EngineRequest): Promise<EngineReply> {
    if (this.dead) return Promise.reject(new Error(`the data path stopped: ${this.dead}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ id, req });
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

  private journal?: JournalWriter;

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
