// The Postgres flush: follows the local log into Postgres in ordered, idempotent batches, retrying with backoff.
import postgres, { type Sql } from "postgres";
import { AssertionError } from "../assert.ts";
import type { EventLog } from "./log.ts";
import { flushBatch } from "./flush-batch.ts";
import { migrate, readMigrations, type Migration } from "./migrate.ts";
import { guarded } from "../guard.ts";

/** How long stop() lets a step in flight finish before cutting its connection. */
const STOP_GRACE_MS = 2000;

/** Postgres's type oid of bigint[], the flush's only array parameter type. */
const BIGINT_ARRAY_OID = 1016;

export interface FlusherOptions {
  url: string;
  log: EventLog;
  nodeId: number;
  batchEvents: number;
  /** Pause between flushes when caught up, and the first retry delay. */
  intervalMs: number;
  backoffMaxMs: number;
  /** Longest wait for Postgres to answer one step (connect, migrate or one batch). */
  timeoutMs: number;
  say: (line: string) => void;
  warn: (line: string) => void;
  migrations?: readonly Migration[];
}

export type FlushState = "connecting" | "flushing" | "caught_up" | "retrying" | "stopped";

export interface FlushStatus {
  enabled: true;
  state: FlushState;
  /** Last seq known to be in Postgres; null until Postgres has been reached once. */
  flushed_seq: number | null;
  lag_events: number | null;
  /** Age of the oldest event not yet in Postgres (0 when caught up). */
  lag_ms: number | null;
  last_error: string | null;
  /** Failed attempts since the last success. */
  retries: number;
  /** Events this process wrote to Postgres (re-flushed ones that were already there do not count). */
  events_flushed: number;
  batches: number;
  /** Postgres's events table holds none of this node's events up to this seq (the local log was compacted behind a snapshot). */
  erased_through: number;
}

export interface ClientOptions {
  max: number;
  /** Longest wait to connect. */
  timeoutMs: number;
  applicationName: string;
  /** Session settings sent with the connection (e.g. idle_session_timeout). */
  settings?: Record<string, string>;
}

/** A postgres.js client as Nasty uses one: no type fetch, bigint[] serialized here, quiet notices. */
export function postgresClient(url: string, options: ClientOptions): Sql {
  return postgres(url, {
    max: options.max,
    connect_timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
    idle_timeout: 0,
    // postgres.js fetches the array types on each new connection in a query whose failure nobody can
    // catch (porsager/postgres#1192): cutting a connection during it (a step timing out, stop) was an
    // unhandled CONNECTION_DESTROYED. The only array type Nasty sends is bigint[], serialized here instead.
    fetch_types: false,
    types: { bigintArray: { to: BIGINT_ARRAY_OID, from: [BIGINT_ARRAY_OID], serialize: (ids: readonly (number | string)[]) => `{${ids.join(",")}}`, parse: (text: string) => text } },
    onnotice: () => {},
    connection: { application_name: options.applicationName, ...options.settings },
  });
}

/** The URL without its password, for logs (also for multi-host URLs, which URL cannot parse). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*:)[^/]*@/i, "$1***@");
}

export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.message === "") return error.errors.map(describeError).join("; ");
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

/**
 * Copies this node's log to Postgres, after it, never in the way of a write: appends commit to
 * the local log and return; this loop reads what is committed and flushes it in batches of at most
 * `batchEvents`, each in one transaction with the flush position. On any failure it drops the
 * connection, waits (doubling from `intervalMs` up to `backoffMaxMs`) and starts over from
 * connecting, migrating and reading the position back from Postgres, so it resumes exactly where
 * Postgres says it is.
 */
export class PostgresFlusher {
  private sql: Sql | null = null;
  /** Migrated and position read on the current connection. */
  private ready = false;
  private flushedSeq: number | null = null;
  private state: FlushState = "connecting";
  private lastError: string | null = null;
  private retries = 0;
  private eventsFlushed = 0;
  /** This node's events up to here were deleted from Postgres behind the local log's compaction. */
  private erasedThrough = 0;
  private batches = 0;
  private stopping = false;
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private readonly migrations: readonly Migration[];

  constructor(private readonly options: FlusherOptions) {
    this.migrations = options.migrations ?? readMigrations();
  }

  start(): void {
    this.options.say(`flushing the log to Postgres at ${redactUrl(this.options.url)}`);
    this.running ??= this.run();
  }

  status(): FlushStatus {
    const { log } = this.options;
    const flushed = this.flushedSeq;
    const lag = flushed === null ? null : Math.max(0, log.lastSeq - flushed);
    let lagMs: number | null = lag === null ? null : 0;
    if (flushed !== null && lag !== null && lag > 0) {
      const [oldest] = log.readAfter(flushed, 1);
      lagMs = oldest ? Math.max(0, Date.now() - oldest.ts) : 0;
    }
    return {
      enabled: true,
      // While failing, it stays "retrying" through each new attempt until one succeeds.
      state: this.retries > 0 && this.state !== "stopped" ? "retrying" : this.state,
      flushed_seq: flushed,
      lag_events: lag,
      lag_ms: lagMs,
      last_error: this.lastError,
      retries: this.retries,
      events_flushed: this.eventsFlushed,
      batches: this.batches,
      erased_through: this.erasedThrough,
    };
  }

  /** Stops the loop; if Postgres is healthy, first flushes what the log held at that moment. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    const finished = await Promise.race([this.running?.then(() => true), new Promise<false>((resolve) => setTimeout(guarded("postgres stop grace", () => resolve(false)), STOP_GRACE_MS).unref())]);
    if (!finished) this.dropConnection();
    await this.running;
    if (this.ready && this.lastError === null && this.flushedSeq !== null) {
      const batchesMax = Math.ceil((this.options.log.lastSeq - this.flushedSeq) / this.options.batchEvents);
      try {
        for (let batch = 0; batch < batchesMax; batch += 1) await this.flushOnce(this.client());
      } catch (error) {
        this.options.warn(`final flush to Postgres failed (${describeError(error)}); the local log keeps the events for the next start`);
      }
    }
    this.state = "stopped";
    const sql = this.sql;
    this.sql = null;
    await sql?.end({ timeout: 1 });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let pauseMs: number;
      try {
        pauseMs = await this.step();
        if (this.retries > 0) this.options.say(`Postgres answers again after ${this.retries} failed attempt(s); catching up`);
        this.retries = 0;
        this.lastError = null;
      } catch (error) {
        if (error instanceof AssertionError) throw error;
        pauseMs = this.fail(error);
      }
      if (pauseMs > 0 && !this.stopping) await this.pause(pauseMs);
    }
  }

  /** One unit of work; returns how long to pause before the next. */
  private async step(): Promise<number> {
    const sql = this.client();
    if (!this.ready) await this.prepare(sql);
    if (this.flushedSeq !== null && this.options.log.compactedThrough > this.erasedThrough) await this.withTimeout(this.erase(sql, this.options.log.compactedThrough));
    if (this.flushedSeq !== null && this.options.log.lastSeq <= this.flushedSeq) {
      this.state = "caught_up";
      return this.options.intervalMs;
    }
    this.state = "flushing";
    const full = await this.flushOnce(sql);
    return full ? 0 : this.options.intervalMs;
  }

  /** Flushes the next batch; true when it was full (more may be waiting). */
  private async flushOnce(sql: Sql): Promise<boolean> {
    const { log, nodeId, batchEvents } = this.options;
    const events = log.readAfter(this.flushedSeq ?? 0, batchEvents);
    const last = events[events.length - 1];
    if (!last) return false;
    const fresh = await this.withTimeout(sql.begin((tx) => flushBatch(tx, nodeId, events)));
    this.flushedSeq = last.seq;
    this.eventsFlushed += fresh;
    this.batches += 1;
    return events.length === batchEvents;
  }

  /**
   * Erasure in Postgres follows the local log: what was compacted away there (it is in the
   * snapshot, net of deletions) leaves the events table too, and expired sessions leave the tokens
   * table. The relational tables already hold only what exists: a deletion deleted its rows.
   */
  private async erase(sql: Sql, throughSeq: number): Promise<void> {
    const { nodeId } = this.options;
    await sql.begin(async (tx) => {
      await tx`DELETE FROM events WHERE node = ${nodeId} AND seq <= ${throughSeq}`;
      await tx`DELETE FROM tokens WHERE expires_at <= now()`;
    });
    this.erasedThrough = throughSeq;
  }

  private client(): Sql {
    try {
      this.sql ??= postgresClient(this.options.url, { max: 1, timeoutMs: this.options.timeoutMs, applicationName: `nasty-flush-node-${this.options.nodeId}` });
    } catch (error) {
      throw new Error(`DATABASE_URL cannot be used: ${describeError(error)}`);
    }
    return this.sql;
  }

  private async prepare(sql: Sql): Promise<void> {
    this.state = "connecting";
    const applied = await this.withTimeout(migrate(sql, this.migrations));
    if (applied.length > 0) this.options.say(`applied Postgres migrations ${applied.join(", ")}`);
    // A cluster's database (seeded by `cluster init`, or run by NASTY_CLUSTER=on nodes): a single node's rows would collide with the cluster's.
    const [clusterHead] = await this.withTimeout(sql<{ seq: string }[]>`SELECT seq FROM log ORDER BY seq DESC LIMIT 1`);
    if (clusterHead) {
      throw new Error(`this database holds a cluster's log (up to seq ${clusterHead.seq}); a single node does not flush into it, since its rows would collide with the cluster's: start this node with NASTY_CLUSTER=on to join that cluster, or set DATABASE_URL to a database of its own`);
    }
    this.flushedSeq = await this.withTimeout(this.readPosition(sql));
    const { compactedThrough } = this.options.log;
    if (this.flushedSeq < compactedThrough) {
      // Those events are only in the snapshot now: the flush goes on after them rather than wait for ever.
      this.options.warn(`Postgres has this node's events only up to seq ${this.flushedSeq}, and the local log was compacted through seq ${compactedThrough} before it had the rest: its tables miss what those events held (flush from the start of a data directory to keep them complete); flushing on from seq ${compactedThrough + 1}`);
      await this.withTimeout(sql`INSERT INTO flush_positions (node, seq) VALUES (${this.options.nodeId}, ${compactedThrough})
        ON CONFLICT (node) DO UPDATE SET seq = greatest(flush_positions.seq, excluded.seq), flushed_at = now()`);
      this.flushedSeq = compactedThrough;
    }
    this.ready = true;
  }

  /**
   * Where Postgres says this node's flush stands. Refuses to go on when Postgres holds a different
   * history for this node id (another log writing with the same NASTY_NODE_ID, or a log restored
   * from an older copy): flushing would mix two histories under one (node, seq).
   */
  private async readPosition(sql: Sql): Promise<number> {
    const { log, nodeId } = this.options;
    const [row] = await sql<{ seq: string; type: string | null; ts: Date | null }[]>`
      SELECT p.seq, e.type, e.ts FROM flush_positions p
      LEFT JOIN events e ON e.node = p.node AND e.seq = p.seq
      WHERE p.node = ${nodeId}`;
    const position = row ? Number(row.seq) : 0;
    const mismatch = (detail: string) =>
      new Error(`Postgres holds a different history for node ${nodeId} (${detail}); give each log its own NASTY_NODE_ID or use a fresh database`);
    if (position > log.lastSeq) throw mismatch(`it has events up to seq ${position}, the local log ends at seq ${log.lastSeq}`);
    if (row?.type && row.ts) {
      const [local] = log.readAfter(position - 1, 1);
      if (!local || local.type !== row.type || local.ts !== row.ts.getTime()) throw mismatch(`its event ${position} is not the local event ${position}`);
    }
    return position;
  }

  /** Records a failure, drops the connection and returns the backoff before the next attempt. */
  private fail(error: unknown): number {
    const message = describeError(error);
    const { intervalMs, backoffMaxMs } = this.options;
    if (this.retries === 0 || message !== this.lastError) {
      this.options.warn(`cannot flush to Postgres: ${message}; writes continue on the local log, retrying with backoff up to ${backoffMaxMs} ms`);
    }
    this.retries += 1;
    this.lastError = message;
    this.state = "retrying";
    this.dropConnection();
    return Math.min(backoffMaxMs, intervalMs * 2 ** Math.min(this.retries - 1, 30));
  }

  /** Ends the connection at once; a query in flight fails, and the next step connects afresh. */
  private dropConnection(): void {
    this.ready = false;
    const sql = this.sql;
    this.sql = null;
    sql?.end({ timeout: 0 }).catch(() => {});
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(guarded("postgres pause", () => {
        this.wake = null;
        resolve();
      }), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /** Bounds a Postgres step: a connection that stops answering (a network black hole) fails it. */
  private withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(guarded("postgres step timeout", () => reject(new Error(`Postgres did not answer within ${this.options.timeoutMs} ms`))), this.options.timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
