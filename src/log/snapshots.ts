// Start-up from the newest valid snapshot plus the log after it; snapshots taken in the background; compaction behind them.
import { guarded } from "../guard.ts";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { Store } from "../store/store.ts";
import type { LoggedEvent } from "../events.ts";
import type { SqliteLog } from "./sqlite.ts";
import { listSnapshots, loadSnapshotFile, removeUnfinishedSnapshots, SnapshotError, writeSnapshotFile, type SnapshotSection, type WrittenSnapshot } from "./snapshot-file.ts";

/** The data directory cannot be started from: nothing valid stands for what the log dropped. */
export class DataDirError extends Error {
  override name = "DataDirError";
}

export interface Restored {
  store: Store;
  /** The snapshot started from (null: the log alone), its seq, and how many log events followed it. */
  snapshot: string | null;
  snapshotSeq: number;
  events: number;
  snapshotMs: number;
  replayMs: number;
  /** The snapshot's other sections that passed their checksum (the search index), by name. */
  sections: ReadonlyMap<string, Uint8Array>;
}

/** Runs around one replayed event: called before the store applies it, it returns what runs after. */
export type TailStep = (event: LoggedEvent) => () => void;

export interface RestoreOptions {
  dataDir: string;
  log: SqliteLog;
  nodeId: number;
  warn: (line: string) => void;
  /** Reads the log after a seq (default: log.replay at once; the server hands the event loop back meanwhile). */
  replay?: (visit: (event: LoggedEvent) => void, afterSeq: number) => number | Promise<number>;
  /**
   * Called with the state read from the snapshot (or an empty store), before the log after it is
   * replayed; the step it answers runs around each replayed event (the search index read from the
   * snapshot follows the tail as it follows live events). Null: nothing follows the replay.
   */
  beforeTail?: (store: Store, sections: ReadonlyMap<string, Uint8Array>) => TailStep | null;
}

/**
 * Start-up: the newest snapshot that is whole, ours and usable for this log, then the log after
 * it. A snapshot that fails (damaged, truncated, from another data directory, newer than the log)
 * is reported, renamed `<name>.refused` (kept for the operator, never read again) and the next
 * older one is tried; with none, the log alone — unless the log was compacted behind a snapshot,
 * in which case starting would lose what was acknowledged: DataDirError says what to do.
 */
export async function restoreState(options: RestoreOptions): Promise<Restored> {
  const { dataDir, log, warn } = options;
  removeUnfinishedSnapshots(dataDir);
  const started = performance.now();
  let store: Store | null = null;
  let sections: ReadonlyMap<string, Uint8Array> = new Map();
  let snapshot: string | null = null;
  const refusals: string[] = [];
  for (const listing of listSnapshots(dataDir)) {
    const name = path.basename(listing.file);
    try {
      if (listing.seq > log.lastSeq) throw new SnapshotError(`${name} stands for seq ${listing.seq} but the log ends at seq ${log.lastSeq} (is the log older than the snapshot, restored from another backup?)`);
      if (listing.seq < log.compactedThrough) {
        warn(`${name} is older than the log's start (compacted through seq ${log.compactedThrough}); not used`);
        continue;
      }
      const loaded = await loadSnapshotFile(listing.file, log.dataDirId, options.nodeId);
      for (const problem of loaded.damaged) warn(`${problem}; it is not used, and what it holds is rebuilt from the store`);
      store = loaded.store;
      sections = loaded.sections;
      snapshot = listing.file;
      break;
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      refusals.push(error.message);
      warn(`snapshot refused: ${error.message}; it is renamed ${name}.refused and the next older state is used`);
      fs.renameSync(listing.file, `${listing.file}.refused`);
    }
  }
  const snapshotMs = performance.now() - started;
  if (store === null) {
    if (log.compactedThrough > 0) {
      throw new DataDirError(
        `the log in ${dataDir} starts after seq ${log.compactedThrough} (the events before it were compacted into a snapshot), and no valid snapshot was found` +
          (refusals.length > 0 ? ` (${refusals.join("; ")})` : "") +
          ". Starting would lose data: restore the data directory (events.sqlite3 and its snapshot-*.nasty file) from a backup.",
      );
    }
    store = new Store(options.nodeId);
  }
  const after = store.lastSeq;
  const target = store;
  const step = options.beforeTail?.(store, sections) ?? null;
  let expected = after + 1;
  const replayStarted = performance.now();
  const replay = options.replay ?? ((visit, afterSeq) => log.replay(visit, afterSeq));
  const events = await replay((event) => {
    if (event.seq !== expected) throw new DataDirError(`the log does not follow the snapshot: after seq ${expected - 1} it holds seq ${event.seq}. Restore the data directory from a backup.`);
    expected += 1;
    if (step === null) {
      target.apply(event);
      return;
    }
    const afterApply = step(event);
    target.apply(event);
    afterApply();
  }, after);
  return { store, snapshot, snapshotSeq: after, events, snapshotMs, replayMs: performance.now() - replayStarted, sections };
}

export interface SnapshotterOptions {
  dataDir: string;
  log: SqliteLog;
  nodeId: number;
  /** A snapshot after this many events since the last one. */
  everyEvents: number;
  /** And at least this often while anything changed. */
  intervalS: number;
  /** The seq below which the log may be dropped (Postgres flushed through it); null: no such limit. */
  keepAfter: () => number | null;
  /**
   * The module the snapshot thread runs (a file URL, src/search/snapshot-job.ts): it reads the last
   * snapshot, folds the log into the store and the index that follows it, and writes them out.
   */
  job: string;
  /** The sections written beside the store by takeNow (the search index, once built). */
  sections: () => SnapshotSection[];
  /**
   * After each snapshot taken in the background and the compaction behind it, while the file is
   * still the newest (cluster mode: the leader shares it through Postgres and cuts the log behind it).
   * A failure is reported; the snapshot stands.
   */
  afterSnapshot?: (written: WrittenSnapshot) => Promise<void>;
  say: (line: string) => void;
  warn: (line: string) => void;
}

export interface SnapshotterStatus {
  last_seq: number;
  last_file: string | null;
  last_bytes: number;
  last_ms: number;
  running: boolean;
  taken: number;
  failures: number;
  last_error: string | null;
  compaction_held: boolean;
}

/**
 * Takes snapshots without pausing writes: a worker thread (snapshot-worker.mjs) loads the last
 * snapshot into a store of its own, folds the log from there to the seq it was given (committed,
 * so readable on its own connection) and writes the new file, while this thread keeps serving.
 * At most one runs at a time. After each, older snapshot files are deleted and the log before it
 * is compacted (only through what Postgres has, when a flush is configured), unless a backup holds
 * compaction off (holdCompaction), in which case that waits for the release.
 */
export class Snapshotter {
  private lastSeq = 0;
  private lastFile: string | null = null;
  private lastBytes = 0;
  private lastMs = 0;
  private running: Promise<void> | null = null;
  private taken = 0;
  private failures = 0;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private holds = 0;
  private closed = false;
  /** A compaction deferred by a hold. */
  private compactionDue = false;
  private worker: Worker | null = null;
  private pendingJob: { resolve: (written: WrittenSnapshot) => void; reject: (error: Error) => void } | null = null;

  constructor(private readonly options: SnapshotterOptions, restored: { snapshot: string | null; snapshotSeq: number }) {
    this.lastSeq = restored.snapshotSeq;
    this.lastFile = restored.snapshot;
  }

  start(): void {
    this.timer = setInterval(guarded("snapshot interval", () => {
      if (this.options.log.lastSeq > this.lastSeq) void this.takeInBackground();
    }), this.options.intervalS * 1000);
    this.timer.unref();
  }

  /** After each committed batch: a snapshot is due every `everyEvents`. */
  afterCommit(lastSeq: number): void {
    if (lastSeq - this.lastSeq >= this.options.everyEvents && this.running === null && !this.closed) void this.takeInBackground();
  }

  status(): SnapshotterStatus {
    return {
      last_seq: this.lastSeq, last_file: this.lastFile ? path.basename(this.lastFile) : null, last_bytes: this.lastBytes, last_ms: Math.round(this.lastMs),
      running: this.running !== null, taken: this.taken, failures: this.failures, last_error: this.lastError, compaction_held: this.holds > 0,
    };
  }

  /**
   * Holds compaction off until the returned release is called (a backup copying the data
   * directory: the snapshot it copied and the log after it stay). Snapshots are still written.
   */
  holdCompaction(): () => void {
    this.holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      if (this.holds === 0 && this.compactionDue && !this.closed) void this.compact().catch((error: unknown) => this.options.warn(`compaction failed: ${describe(error)}`));
    };
  }

  /** A snapshot of everything committed so far, on the snapshot thread; resolves when written and compacted behind. */
  takeInBackground(): Promise<void> {
    if (this.running) return this.running;
    const toSeq = this.options.log.lastSeq;
    if (toSeq <= this.lastSeq) return Promise.resolve();
    this.running = this.runWorker(toSeq)
      .then(async (written) => {
        this.recordWritten(written);
        await this.compact();
        await this.options.afterSnapshot?.(written).catch((error: unknown) => this.options.warn(`after the snapshot at seq ${written.seq}: ${describe(error)}`));
      })
      .catch((error: unknown) => {
        this.failures += 1;
        this.lastError = describe(error);
        this.options.warn(`snapshot failed: ${this.lastError}`);
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /**
   * Writes `store` itself as a snapshot, synchronously, and compacts behind it: at shutdown (no
   * write comes any more) and by `nasty compact` (no server runs). Waits for a background one first.
   * Nothing is written when the last snapshot already stands for the store's seq, unless `rewrite`.
   */
  async takeNow(store: Store, options: { rewrite?: boolean } = {}): Promise<void> {
    await this.running;
    // `rewrite`: the snapshot of this seq lacks a section that is whole now (its search index was damaged and rebuilt).
    if (store.lastSeq > this.lastSeq || (options.rewrite === true && store.lastSeq > 0)) this.recordWritten(writeSnapshotFile(this.options.dataDir, store, this.options.log.dataDirId, this.options.sections()));
    await this.compact();
  }

  /** A snapshot of everything committed by now, on the snapshot thread (after one in progress, which may stand for less). */
  async takeFresh(): Promise<void> {
    await this.running;
    const failures = this.failures;
    await this.takeInBackground();
    if (this.failures > failures) throw new Error(`the snapshot failed: ${this.lastError}`);
  }

  /** Stops the timer and waits for a snapshot in progress; then no new one starts in the background. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }

  private recordWritten(written: WrittenSnapshot): void {
    this.lastSeq = written.seq;
    this.lastFile = written.file;
    this.lastBytes = written.bytes;
    this.lastMs = written.ms;
    this.taken += 1;
    this.lastError = null;
    this.options.say(`snapshot at seq ${written.seq} written (${(written.bytes / 1048576).toFixed(1)} MiB in ${written.ms.toFixed(0)} ms)`);
  }

  /**
   * Behind the newest snapshot: every older snapshot file goes, then the log's rows up to it (or
   * up to what Postgres has). Deferred while a hold is on.
   */
  private async compact(): Promise<void> {
    if (this.holds > 0) {
      this.compactionDue = true;
      return;
    }
    this.compactionDue = false;
    if (this.lastFile === null) return;
    // Unlinked off this thread: freeing a large file's blocks can take a while.
    for (const listing of listSnapshots(this.options.dataDir)) if (listing.seq < this.lastSeq) await fs.promises.rm(listing.file, { force: true });
    const keepAfter = this.options.keepAfter();
    await this.options.log.compact(keepAfter === null ? this.lastSeq : Math.min(this.lastSeq, keepAfter));
  }

  /**
   * One job on the snapshot thread, started at the first snapshot and kept (loading the job's
   * modules costs more than most snapshots); a thread that fails is replaced at the next one.
   */
  private runWorker(toSeq: number): Promise<WrittenSnapshot> {
    const { dataDir, log, nodeId } = this.options;
    const worker = (this.worker ??= this.startWorker());
    return new Promise((resolve, reject) => {
      this.pendingJob = { resolve, reject };
      worker.postMessage({ dataDir, logFile: log.file, fromFile: this.lastFile, toSeq, dataDirId: log.dataDirId, nodeId });
    });
  }

  private startWorker(): Worker {
    const worker = new Worker(new URL("./snapshot-worker.mjs", import.meta.url), { workerData: { job: this.options.job } });
    worker.unref();
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = null;
      const job = this.pendingJob;
      this.pendingJob = null;
      job?.reject(error);
    };
    worker.on("message", (reply: { ok: true; written: WrittenSnapshot } | { ok: false; error: string }) => {
      const job = this.pendingJob;
      this.pendingJob = null;
      if (reply.ok) job?.resolve(reply.written);
      else job?.reject(new Error(reply.error));
    });
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the snapshot thread exited with code ${code}`)));
    return worker;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
