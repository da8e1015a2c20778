// The embedded event log: SQLite in WAL mode with synchronous=FULL, group-committed by a writer thread.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { assert } from "../assert.ts";
import { HttpError } from "../errors.ts";
import { EVENT_VERSIONS, type EventBody, type EventType, type LoggedEvent } from "../events.ts";
import { upgradeEvent } from "../event-upgrade.ts";
import type { EventLog, LogStats } from "./log.ts";
import { logCommitted } from "../metrics.ts";
import { guarded } from "../guard.ts";
import { logger } from "../logger.ts";

/** Messages to and from sqlite-worker.mjs. */
type Row = [seq: number, type: string, v: number, ts: number, node: number, payload: string];
/**
 * One batch as a few strings: event i has seq `firstSeq + i`, the batch's ts, v and node, the i-th
 * line of `types` and of `payloads`. JSON.stringify never writes a raw newline, so lines are
 * exact; each event's version is EVENT_VERSIONS of its type (the worker has the table); strings cross to the worker as a copy, where arrays of rows cost a structured clone per
 * event (about 7 µs each on the busiest write path).
 */
interface BatchMessage { id: number; firstSeq: number; ts: number; node: number; count: number; types: string; payloads: string }
type BatchReply = { id: number; ok: true } | { id: number; ok: false; message: string };
/** compact(): the writer deletes rows up to `throughSeq` a step at a time, then answers. */
interface CompactMessage { compact: number; rowsPerStep: number }
type CompactReply = { compacted: number; error: string | null; rows: number; walTruncated: boolean };

/**
 * `meta` holds the data directory's identity (`data_dir_id`, random, made once: a snapshot names
 * it, so one from another data directory is refused) and `compacted_through`: the log's rows up to
 * that seq were dropped behind a snapshot (compact()), so the seq counter and the replay start
 * survive a log with no rows left. In cluster mode `cluster_id` names the cluster it joined (cluster-id.ts).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  v INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  node INTEGER NOT NULL,
  payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;

/** Rows deleted per step of compact(): each is one short transaction between the writer's batches. */
export const COMPACT_ROWS_PER_STEP = 2000;

/**
 * Replay reads the log in chunks of up to REPLAY_CHUNK_EVENTS rows (seq > ?, seq <= ?) that SQLite
 * itself joins into one JSON array of rows, each row an array (fewer bytes to parse than objects
 * with keys), so a chunk crosses into JavaScript as one string and one JSON.parse. The second
 * column is the chunk's last seq, where the next chunk starts.
 */
const REPLAY_CHUNK_SQL = `
SELECT '[' || group_concat('[' || seq || ',' || json_quote(type) || ',' || v || ',' || ts || ',' || node || ',' || payload || ']', ',') || ']', max(seq)
FROM (SELECT seq, type, v, ts, node, payload FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?)`;
/**
 * About 90 KB at 350 B per event: a chunk stays below V8's large-object size, whose every
 * allocation maps fresh pages; with 4,096-row chunks replay was about 5 % slower.
 */
const REPLAY_CHUNK_EVENTS = 256;
/** Chunks the reader thread may hold ready ahead of the replaying thread. */
const REPLAY_CHUNKS_AHEAD_MAX = 16;
/**
 * The first events are read on the replaying thread itself while the reader thread starts (about
 * 150 ms, the time to replay some 35,000 events); a log no longer than this needs no thread at all.
 */
const REPLAY_INLINE_EVENTS_MAX = 32_768;
/** Replay gives up when the reader thread sends nothing for this long. */
const REPLAY_READ_STALL_MS_MAX = 60_000;
/** Indexes into the Int32Array shared with replay-reader.mjs. */
const REPLAY_PRODUCED = 0;
const REPLAY_CONSUMED = 1;
const REPLAY_FINISHED = 2;
/** A row of REPLAY_CHUNK_SQL's JSON. */
type ReplayRow = [seq: number, type: string, v: number, ts: number, node: number, payload: unknown];
/** What replay-reader.mjs posts: a chunk's text, null after the last chunk, or why it stopped. */
type ReplayChunkMessage = string | null | { error: string };

interface Batch {
  id: number;
  waiters: Waiter[];
  events: LoggedEvent[];
  sentMs: number;
}

/**
 * Batches with the writer at once: while it commits one, the next already waits in its queue, so
 * a commit never waits for a round trip through the event loop. That matters when few writes are
 * in flight (the fan-out bench keeps at most 64 events unanswered: 76–79 % of its ceiling with one
 * batch at a time, 82–84 % with two). A third would only split the group-commit batches smaller.
 */
const BATCHES_IN_FLIGHT_MAX = 2;

interface Waiter {
  bodies: readonly EventBody[];
  resolve: (events: LoggedEvent[]) => void;
  reject: (error: Error) => void;
}

export interface SqliteLogOptions {
  file: string;
  nodeId: number;
  /** Called once per committed batch, in seq order, before any append promise of it resolves. */
  onCommitted: (events: LoggedEvent[]) => void;
  queueEventsMax: number;
  busyTimeoutMs?: number;
  /** Events replay reads on the calling thread before a reader thread takes over (default REPLAY_INLINE_EVENTS_MAX; tests vary it). */
  replayInlineEventsMax?: number;
}

/**
 * Group commit. Appends queue in `waiting`; the next event-loop turn sends everything queued as
 * one transaction, with at most BATCHES_IN_FLIGHT_MAX batches at the writer thread, which commits
 * them one after the other; appends that arrive meanwhile wait for the next batch. Seq numbers
 * are assigned when a batch is sent. A failed batch rejects all its appends, and the writer then
 * refuses the batches sent after it (they are rejected too) until told to resume, so the log
 * never has a gap: once every batch at the writer has answered, the counter rolls back to the
 * last committed seq and sending resumes.
 */
export class SqliteLog implements EventLog {
  private readonly reader: Database.Database;
  private readonly worker: Worker;
  private waiting: Waiter[] = [];
  private waitingEvents = 0;
  /** Sent to the writer, oldest first; it answers them in this order. */
  private inFlight: Batch[] = [];
  private batchCounter = 0;
  private committedSeq: number;
  /** The last seq handed to a batch sent to the writer. */
  private sentSeq: number;
  /** A batch failed: the writer refuses those after it; nothing is sent until they have all answered. */
  private recovering = false;
  private committedEvents: number;
  private scheduled = false;
  private closing: Promise<void> | null = null;
  /** Set when the writer thread died: every later append is refused with 503. */
  private broken: Error | null = null;
  private drainWaiters: (() => void)[] = [];
  /** Random, made with the log: snapshots carry it. */
  readonly dataDirId: string;
  /** Rows up to this seq were dropped behind a snapshot (0: none). */
  compactedThrough: number;
  private compactWaiters: { throughSeq: number; done: (error: Error | null) => void }[] = [];
  /** The last compaction asked for, settled or not (close waits for it). */
  private compaction: Promise<void> = Promise.resolve();
  /** The last batch's failure, until a batch commits again (for /readyz). */
  private lastCommitError: string | null = null;

  constructor(private readonly options: SqliteLogOptions) {
    fs.mkdirSync(path.dirname(options.file), { recursive: true });
    this.reader = new Database(options.file);
    this.reader.pragma("journal_mode = WAL");
    this.reader.pragma("synchronous = FULL");
    this.reader.exec(SCHEMA);
    this.reader.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('data_dir_id', ?)").run(randomUUID());
    this.dataDirId = this.meta("data_dir_id") ?? "";
    this.compactedThrough = Number(this.meta("compacted_through") ?? 0);
    const row = this.reader.prepare("SELECT coalesce(max(seq), 0) AS last, count(*) AS n FROM events").get() as { last: number; n: number };
    this.committedSeq = Math.max(row.last, this.compactedThrough);
    this.sentSeq = this.committedSeq;
    this.committedEvents = row.n;
    this.worker = new Worker(new URL("./sqlite-worker.mjs", import.meta.url), {
      workerData: { file: options.file, busyTimeoutMs: options.busyTimeoutMs ?? 2000, versions: EVENT_VERSIONS },
    });
    this.worker.on("message", (reply: BatchReply | CompactReply) => ("compacted" in reply ? this.compacted(reply) : this.finish(reply)));
    this.worker.on("error", (error) => this.failAll(error));
    this.worker.on("exit", (code) => {
      if (!this.closing) this.failAll(new Error(`writer thread exited with code ${code}`));
    });
  }

  get lastSeq(): number {
    return this.committedSeq;
  }

  get file(): string {
    return this.options.file;
  }

  append(bodies: readonly EventBody[]): Promise<LoggedEvent[]> {
    assert(bodies.length > 0, "append needs at least one event");
    if (this.closing) return Promise.reject(new HttpError(503, "the event log is closing; try again shortly"));
    if (this.broken) return Promise.reject(new HttpError(503, `the event log writer failed (${this.broken.message}); writes are refused until restart`));
    if (this.waitingEvents + bodies.length > this.options.queueEventsMax) {
      return Promise.reject(new HttpError(503, "the event log is overloaded; try again shortly", {}, { "Retry-After": "1" }));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ bodies, resolve, reject });
      this.waitingEvents += bodies.length;
      this.schedule();
    });
  }

  /**
   * Cluster mode: stores events the cluster's log already committed, with their own seq, ts and
   * node, and runs onCommitted for them as for a local commit, so every node folds the one log
   * through the same path. Each run of one ts and node is one batch (the writer takes one ts and
   * node per batch). They must continue this log densely and are never mixed with append()
   * (in cluster mode every write goes to the cluster's log). Resolves once all are applied.
   */
  appendCommitted(events: readonly LoggedEvent[]): Promise<void> {
    if (this.closing) return Promise.reject(new Error("the event log is closing"));
    if (this.broken) return Promise.reject(this.broken);
    assert(this.waiting.length === 0, "appendCommitted mixed with append");
    const runs: Promise<void>[] = [];
    for (let start = 0; start < events.length; ) {
      const first = events[start]!;
      let end = start + 1;
      while (end < events.length && events[end]!.ts === first.ts && events[end]!.node === first.node) end += 1;
      runs.push(this.sendCommitted(events.slice(start, end)));
      start = end;
    }
    return Promise.all(runs).then(() => undefined);
  }

  private sendCommitted(events: LoggedEvent[]): Promise<void> {
    const first = events[0]!;
    assert(first.seq === this.sentSeq + 1, `committed events start at seq ${first.seq}, the local log is at seq ${this.sentSeq}`);
    let types = "";
    let payloads = "";
    events.forEach((event, index) => {
      assert(event.seq === first.seq + index && event.v === EVENT_VERSIONS[event.type], `committed event ${event.seq} is out of order or not upgraded`);
      types += (index === 0 ? "" : "\n") + event.type;
      payloads += (index === 0 ? "" : "\n") + JSON.stringify(event.payload);
    });
    this.sentSeq = events[events.length - 1]!.seq;
    this.batchCounter += 1;
    const id = this.batchCounter;
    return new Promise((resolve, reject) => {
      this.inFlight.push({ id, waiters: [{ bodies: events, resolve: () => resolve(), reject }], events, sentMs: performance.now() });
      const message: BatchMessage = { id, firstSeq: first.seq, ts: first.ts, node: first.node, count: events.length, types, payloads };
      this.worker.postMessage(message);
    });
  }

  private schedule(): void {
    if (this.scheduled || this.recovering || this.inFlight.length >= BATCHES_IN_FLIGHT_MAX) return;
    this.scheduled = true;
    setImmediate(guarded("log batch", () => {
      this.scheduled = false;
      this.send();
    }));
  }

  private send(): void {
    if (this.recovering || this.inFlight.length >= BATCHES_IN_FLIGHT_MAX || this.waiting.length === 0) return;
    const waiters = this.waiting;
    this.waiting = [];
    this.waitingEvents = 0;
    const ts = Date.now();
    const node = this.options.nodeId;
    const firstSeq = this.sentSeq + 1;
    let seq = this.sentSeq;
    const events: LoggedEvent[] = [];
    let types = "";
    let payloads = "";
    for (const waiter of waiters) {
      for (const body of waiter.bodies) {
        seq += 1;
        const event = { type: body.type, payload: body.payload, seq, v: EVENT_VERSIONS[body.type], ts, node } as LoggedEvent;
        events.push(event);
        const separator = seq === firstSeq ? "" : "\n";
        types += separator + body.type;
        payloads += separator + JSON.stringify(body.payload);
      }
    }
    this.sentSeq = seq;
    this.batchCounter += 1;
    this.inFlight.push({ id: this.batchCounter, waiters, events, sentMs: performance.now() });
    const message: BatchMessage = { id: this.batchCounter, firstSeq, ts, node, count: events.length, types, payloads };
    this.worker.postMessage(message);
  }

  private finish(reply: BatchReply): void {
    const batch = this.inFlight.shift();
    assert(batch !== undefined && batch.id === reply.id, "sqlite writer answered a batch that was not sent");
    logCommitted(batch.events.length, performance.now() - batch.sentMs, reply.ok);
    this.lastCommitError = reply.ok ? null : reply.message;
    if (reply.ok) {
      const last = batch.events[batch.events.length - 1];
      assert(last !== undefined, "a committed batch has events");
      this.committedSeq = last.seq;
      this.committedEvents += batch.events.length;
      this.options.onCommitted(batch.events);
      let offset = 0;
      for (const waiter of batch.waiters) {
        waiter.resolve(batch.events.slice(offset, offset + waiter.bodies.length));
        offset += waiter.bodies.length;
      }
    } else {
      const error = new HttpError(503, `the event log could not commit (${reply.message}); nothing was saved, try again`);
      for (const waiter of batch.waiters) waiter.reject(error);
      this.recovering = true;
    }
    if (this.recovering && this.inFlight.length === 0) {
      this.recovering = false;
      this.sentSeq = this.committedSeq;
      this.worker.postMessage("resume");
    }
    if (this.waiting.length > 0) this.schedule();
    else if (this.inFlight.length === 0 && this.drainWaiters.length > 0) for (const done of this.drainWaiters.splice(0)) done();
  }

  private failAll(error: Error): void {
    logger.fatal({ err: error }, "the SQLite writer thread failed; writes are refused until restart");
    this.broken = error;
    const failure = new HttpError(503, `the event log writer failed (${error.message})`);
    for (const waiter of [...this.inFlight.flatMap((batch) => batch.waiters), ...this.waiting]) waiter.reject(failure);
    this.inFlight = [];
    this.waiting = [];
    this.waitingEvents = 0;
    for (const done of this.drainWaiters.splice(0)) done();
  }

  /**
   * Visits every event in seq order, synchronously. The first REPLAY_INLINE_EVENTS_MAX events are
   * read here; a reader thread, started first, reads the rest (REPLAY_CHUNK_SQL) up to
   * REPLAY_CHUNKS_AHEAD_MAX chunks ahead, so this thread only parses and visits them: reading is a
   * fifth of the start-up rebuild, and start-up time is replay speed. Either way the events are
   * exactly the rows, in order.
   */
  replay(visit: (event: LoggedEvent) => void, afterSeq = 0): number {
    let count = 0;
    for (const events of this.replayChunks(visit, afterSeq)) count += events;
    return count;
  }

  /**
   * Replay as above, handing the event loop back every `sliceMs` (between chunks), so a server
   * can answer /healthz and /readyz while a long log replays. Nothing else may run meanwhile.
   */
  async replayYielding(visit: (event: LoggedEvent) => void, sliceMs: number, progress: (events: number) => void, afterSeq = 0): Promise<number> {
    let count = 0;
    let sliceStart = performance.now();
    for (const events of this.replayChunks(visit, afterSeq)) {
      count += events;
      if (performance.now() - sliceStart < sliceMs) continue;
      progress(count);
      await new Promise<void>((resolve) => setImmediate(guarded("log replay slice", resolve)));
      sliceStart = performance.now();
    }
    return count;
  }

  /** Visits every event after `afterSeq`, yielding after each chunk how many it held. */
  private *replayChunks(visit: (event: LoggedEvent) => void, afterSeq: number): Generator<number> {
    const headLastSeq = this.replayHeadLastSeq(this.options.replayInlineEventsMax ?? REPLAY_INLINE_EVENTS_MAX, afterSeq);
    const thread = headLastSeq === null ? null : new ReplayReaderThread(this.options.file, headLastSeq);
    let lastSeq = afterSeq;
    const visitChunk = (text: string): number => {
      const rows = JSON.parse(text) as ReplayRow[];
      for (let index = 0; index < rows.length; index += 1) {
        const row = rows[index]!;
        const seq = row[0];
        if (seq <= lastSeq) assert(false, `replay read seq ${seq} after ${lastSeq}`);
        lastSeq = seq;
        const type = row[1];
        const event = { seq, type, v: row[2], ts: row[3], node: row[4], payload: row[5] };
        // Nearly every event is of its type's current version; any other is checked and upgraded (or refused).
        visit(event.v === EVENT_VERSIONS[type as EventType] ? (event as LoggedEvent) : upgradeEvent(event));
      }
      return rows.length;
    };
    try {
      for (const text of this.readChunksHere(afterSeq, headLastSeq ?? Number.MAX_SAFE_INTEGER)) yield visitChunk(text);
      if (thread) for (const text of thread.chunks()) yield visitChunk(text);
    } finally {
      thread?.stop();
    }
  }

  /** The seq where the reader thread takes over, or null when the log is read here to its end. */
  private replayHeadLastSeq(inlineEventsMax: number, afterSeq: number): number | null {
    if (inlineEventsMax <= 0) return afterSeq;
    if (!Number.isSafeInteger(inlineEventsMax) || this.committedEvents <= inlineEventsMax) return null;
    const seq = this.reader.prepare("SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?").pluck().get(afterSeq, inlineEventsMax - 1) as number | undefined;
    return seq ?? null;
  }

  private *readChunksHere(startAfterSeq: number, lastSeqMax: number): Generator<string> {
    const chunk = this.reader.prepare(REPLAY_CHUNK_SQL).raw();
    let afterSeq = startAfterSeq;
    for (;;) {
      const [text, lastSeq] = chunk.get(afterSeq, lastSeqMax, REPLAY_CHUNK_EVENTS) as [string | null, number | null];
      if (text === null || lastSeq === null) return;
      yield text;
      afterSeq = lastSeq;
    }
  }

  /** Cluster mode: the id of the cluster this data directory joined (null: none recorded yet). */
  get clusterId(): string | null {
    return this.meta("cluster_id") ?? null;
  }

  recordClusterId(id: string): void {
    this.reader.prepare("INSERT INTO meta (key, value) VALUES ('cluster_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(id);
  }

  private meta(key: string): string | undefined {
    return this.reader.prepare("SELECT value FROM meta WHERE key = ?").pluck().get(key) as string | undefined;
  }

  /**
   * Cluster mode: a log that holds no event starts after `seq` (the cluster's snapshot of that seq,
   * just written to the data directory, stands for everything before it), as if compacted through it.
   */
  startAfter(seq: number): void {
    assert(this.committedEvents === 0 && this.waiting.length === 0 && this.inFlight.length === 0 && this.sentSeq <= seq, "startAfter needs an empty, idle log behind that seq");
    this.reader.prepare("INSERT INTO meta (key, value) VALUES ('compacted_through', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(seq));
    this.compactedThrough = seq;
    this.committedSeq = seq;
    this.sentSeq = seq;
  }

  /** The first seq the log still holds, or null when it holds none. */
  firstSeq(): number | null {
    return (this.reader.prepare("SELECT min(seq) FROM events").pluck().get() as number | null) ?? null;
  }

  /**
   * Drops the rows up to `throughSeq` (never beyond the last committed one), on the writer thread,
   * COMPACT_ROWS_PER_STEP rows per transaction with the group-commit batches in between, so no
   * write waits for more than one step. The writer's connection has secure_delete on: the freed
   * space is overwritten with zeros, and the WAL is checkpointed and truncated at the end, so the
   * dropped rows are in no file afterwards. Resolves when done; `compactedThrough` then says so.
   */
  compact(throughSeq: number): Promise<void> {
    const target = Math.min(throughSeq, this.committedSeq);
    if (target <= this.compactedThrough) return Promise.resolve();
    if (this.closing || this.broken) return Promise.reject(new Error("the event log is closing or broken; compaction skipped"));
    const done = new Promise<void>((resolve, reject) => {
      this.compactWaiters.push({ throughSeq: target, done: (error) => (error ? reject(error) : resolve()) });
      const message: CompactMessage = { compact: target, rowsPerStep: COMPACT_ROWS_PER_STEP };
      this.worker.postMessage(message);
    });
    this.compaction = done.catch(() => {});
    return done;
  }

  private compacted(reply: CompactReply): void {
    const waiter = this.compactWaiters.shift();
    assert(waiter !== undefined && waiter.throughSeq === reply.compacted, "sqlite writer answered a compaction that was not asked for");
    if (reply.error !== null) {
      waiter.done(new Error(`log compaction failed: ${reply.error}`));
      return;
    }
    this.compactedThrough = Math.max(this.compactedThrough, reply.compacted);
    this.committedEvents -= reply.rows;
    if (!reply.walTruncated) console.error("[log] compaction could not truncate the WAL (a reader held it); it is truncated at the next compaction");
    waiter.done(null);
  }

  readAfter(afterSeq: number, limit: number): LoggedEvent[] {
    const rows = this.reader.prepare("SELECT seq, type, v, ts, node, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?").raw().all(afterSeq, limit) as Row[];
    return rows.map(([seq, type, v, ts, node, payload]) => upgradeEvent({ seq, type, v, ts, node, payload: JSON.parse(payload) }));
  }

  stats(): LogStats {
    let bytes = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        bytes += fs.statSync(this.options.file + suffix).size;
      } catch {
        // the WAL file may not exist between checkpoints
      }
    }
    return { events: this.committedEvents, lastSeq: this.committedSeq, bytes, compactedThrough: this.compactedThrough };
  }

  /** Resolves once every append queued so far has committed or failed. */
  drain(): Promise<void> {
    if (this.inFlight.length === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise<void>((done) => this.drainWaiters.push(done));
  }

  /** Why the log cannot commit now (its writer thread died, or its last batch failed), or null when it can. */
  commitProblem(): string | null {
    if (this.broken) return `the event log writer thread failed (${this.broken.message})`;
    if (this.lastCommitError !== null) return `the event log's last commit failed (${this.lastCommitError})`;
    return null;
  }

  /** Waits for queued appends to commit, then stops the writer thread and closes the file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drain();
      await this.compaction;
      const exited = new Promise<void>((done) => this.worker.once("exit", () => done()));
      this.worker.postMessage("close");
      await exited;
      this.reader.close();
    })();
    return this.closing;
  }
}

/**
 * replay-reader.mjs reading the chunks after `afterSeq` on its own connection, started at once.
 * `chunks()` receives them synchronously: the thread posts each chunk and counts it in shared
 * memory; this side takes what is posted (receiveMessageOnPort) or sleeps on the count
 * (Atomics.wait), and counts what it took so the reader stays at most REPLAY_CHUNKS_AHEAD_MAX
 * ahead. `stop()` ends the thread, also when replay stops early (the visitor threw).
 */
class ReplayReaderThread {
  private readonly counters = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  private readonly port: MessagePort;
  private readonly worker: Worker;

  constructor(file: string, afterSeq: number) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL("./replay-reader.mjs", import.meta.url), {
      workerData: { file, afterSeq, chunkSql: REPLAY_CHUNK_SQL, chunkEvents: REPLAY_CHUNK_EVENTS, chunksAheadMax: REPLAY_CHUNKS_AHEAD_MAX, signal: this.counters.buffer, port: port2 },
      transferList: [port2],
    });
    // A thread that fails to start also never posts: replay then stops with receive()'s stall error.
    this.worker.on("error", (error) => logger.error({ err: error }, "the replay reader thread failed"));
  }

  *chunks(): Generator<string> {
    for (let received = 0; ; received += 1) {
      const message = this.receive(received);
      if (message === null) return;
      if (typeof message !== "string") throw new Error(`the replay reader failed: ${message.error}`);
      Atomics.add(this.counters, REPLAY_CONSUMED, 1);
      Atomics.notify(this.counters, REPLAY_CONSUMED);
      yield message;
    }
  }

  stop(): void {
    this.port.close();
    void this.worker.terminate();
  }

  /** The next message from the thread, waiting for it; `received` is how many came before. */
  private receive(received: number): ReplayChunkMessage {
    const started = performance.now();
    for (;;) {
      const got = receiveMessageOnPort(this.port);
      if (got !== undefined) return got.message as ReplayChunkMessage;
      const waitedMs = performance.now() - started;
      if (waitedMs > REPLAY_READ_STALL_MS_MAX) throw new Error(`the replay reader thread sent nothing for ${REPLAY_READ_STALL_MS_MAX} ms`);
      // Counted means posted: the message is taken on the next turn. Otherwise sleep until it is counted.
      if (Atomics.load(this.counters, REPLAY_PRODUCED) !== received) continue;
      if (Atomics.load(this.counters, REPLAY_FINISHED) === 1) throw new Error("the replay reader thread ended before the last chunk");
      Atomics.wait(this.counters, REPLAY_PRODUCED, received, REPLAY_READ_STALL_MS_MAX - waitedMs);
    }
  }
}
