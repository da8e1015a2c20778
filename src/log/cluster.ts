// Cluster mode: the one commit-ordered log in Postgres, the leader's lease on appending to it, and the tail every node folds.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import type { JSONValue, Sql, TransactionSql } from "postgres";
import { HttpError } from "../errors.ts";
import { EVENT_VERSIONS, type EventBody, type LoggedEvent } from "../events.ts";
import { upgradeEvent } from "../event-upgrade.ts";
import { guarded } from "../guard.ts";
import { clusterStage } from "../metrics.ts";
import type { EventLog, LogStats } from "./log.ts";
import type { SqliteLog } from "./sqlite.ts";
import { foldEvents, writeChanges } from "./flush-batch.ts";
import { migrate, readMigrations } from "./migrate.ts";
import { describeError, postgresClient, redactUrl } from "./postgres.ts";
import { checkClusterId, readClusterId } from "./cluster-id.ts";
import { CutRefused, cutLog, dropUnusedSnapshot, storeSharedSnapshot, vacuumAfterCut } from "./cluster-snapshots.ts";
import type { WrittenSnapshot } from "./snapshot-file.ts";
import { singleNodeDatabaseRefusal } from "./cluster-seed.ts";

/**
 * The request id of the forwarded write being served (http/forward.ts sets it): the leader records
 * it with the write's events, so a retry of the same request after a leader change is not applied twice.
 */
export const forwardedRequest = new AsyncLocalStorage<string>();

/** The advisory lock whose holder leads ("nasty" + 1). */
const LEADER_LOCK_KEY = 0x6e61737480;
/** Each running node holds this plus its node id, so a second process with the same NASTY_NODE_ID refuses to start. */
const NODE_LOCK_KEY_BASE = 0x6e6173748100;
const LOG_CHANNEL = "nasty_log";
const LEADER_CHANNEL = "nasty_leader";
/** Events read per tail query, and queries per tail before it yields to the next trigger. */
const TAIL_BATCH_EVENTS = 2000;
const TAIL_ROUNDS_MAX = 1000;
/** Appended events per Postgres transaction, and transactions per commit loop before it reschedules. */
const COMMIT_BATCH_EVENTS_MAX = 2000;
const COMMIT_ROUNDS_MAX = 100;
/**
 * Committed batches the leader may still be applying locally when it begins the next transaction:
 * its local apply (SQLite cache, store, publish) then overlaps the next commit instead of adding to
 * every append's wait (the cluster bench's append_wait), and the bound keeps the store close behind.
 */
const APPLIES_IN_FLIGHT_MAX = 2;
/** Tails a new leader runs to reach the head it read before it appends. */
const CATCH_UP_ROUNDS_MAX = 50;

/** What a follower (or a node that just lost the lead) answers a write: 503, and the forwarder's cue to find the leader again. */
export const NOT_LEADER_HEADER = "X-Nasty-Not-Leader";
function notLeader(why: string): HttpError {
  return new HttpError(503, `${why}; try again shortly`, {}, { "Retry-After": "1", [NOT_LEADER_HEADER]: "1" });
}

export type Role = "follower" | "candidate" | "leader";

export interface LeaderInfo {
  epoch: number;
  node: number | null;
  url: string | null;
}

export interface ClusterStatus {
  role: Role;
  node_id: number;
  /** The cluster's current epoch as this node knows it (the highest it read or took; 0: none yet). */
  epoch: number;
  /** The epoch this node leads at or last led at (0: it never led). */
  led_epoch: number;
  leader: LeaderInfo | null;
  applied_seq: number;
  head_seq: number;
  lag_events: number;
  caught_up: boolean;
  last_error: string | null;
  /** The log's first row: the seq of the snapshot it was last cut behind (0: never cut). */
  log_start_seq: number;
  /** The last cut this node made as leader, or why its last attempt failed. */
  last_cut: { seq: number; log_rows: number; ms: number } | null;
  last_cut_error: string | null;
}

export interface ClusterOptions {
  url: string;
  nodeId: number;
  /** This node's address for the others (NASTY_CLUSTER_URL). */
  nodeUrl: string;
  /** The node's own log: every event of the cluster's log is stored there and applied from there. */
  local: SqliteLog;
  leaseMs: number;
  tailMs: number;
  queueEventsMax: number;
  say: (line: string) => void;
  warn: (line: string) => void;
  /** A broken invariant (a hole in seq, the local log refusing a committed event): the node must stop. */
  onFatal: (error: Error) => void;
  /**
   * A follower applied the seq the leader cut the log behind: it takes its own snapshot, so what
   * was deleted leaves this node's data directory too.
   */
  onLogCut?: (seq: number) => void;
}

interface Waiter {
  bodies: readonly EventBody[];
  requestId: string | undefined;
  queuedMs: number;
  resolve: (events: LoggedEvent[]) => void;
  reject: (error: Error) => void;
}

class DeposedError extends Error {}

/** True while this session (`sql`'s connection) holds the advisory lock `key`: a bigint key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1. */
function heldHere(sql: Sql, key: number) {
  return sql`EXISTS (
    SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND objsubid = 1
      AND classid::bigint = ${Math.floor(key / 2 ** 32)}::bigint AND objid::bigint = ${key % 2 ** 32}::bigint)`;
}

/** Bounds a Postgres step: a connection that stops answering fails it. */
function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(guarded("cluster step timeout", () => reject(new Error(`Postgres did not answer ${what} within ${ms} ms`))), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface LogRow { seq: string; type: string; v: number; ts: string; node: number; payload: string }

function eventOf(row: LogRow): LoggedEvent {
  return upgradeEvent({ seq: Number(row.seq), type: row.type, v: row.v, ts: Number(row.ts), node: row.node, payload: JSON.parse(row.payload) as unknown });
}

/**
 * The cluster's log, as the EventLog the leader's Commands append to.
 *
 * Leading: the node holding the advisory lock (on a connection of its own, with
 * idle_session_timeout, heartbeat every third of the lease) bumps the epoch row, reads the head,
 * applies everything up to it, and only then appends. Appends are group-committed with one
 * transaction in flight: it checks the epoch row (FOR SHARE, so a new leader's bump waits for it
 * and every later append of the old leader sees the new epoch and fails), inserts the dense seqs,
 * writes the relational tables and notifies the head seq, its statements pipelined. An append
 * resolves after that commit and after this node applied it; the next transaction may begin while
 * this node still applies the last (APPLIES_IN_FLIGHT_MAX). Any failure steps down: a commit whose outcome is unknown
 * must be read back from the log before anyone decides again.
 *
 * Following (every node, the leader too): on each notification, each (re)connect of the listening
 * connection (kept known to work: listenStep) and every `tailMs`, the events after the last one handed to the local log are read in
 * seq order and stored and applied through the local log's commit hook, as local commits are.
 * A hole in seq stops the node.
 */
export class ClusterLog implements EventLog {
  private readonly sql: Sql;
  private appendSql: Sql;
  private lockSql: Sql | null = null;
  /** Holds this node's id lock for as long as the process runs. */
  private nodeSql: Sql | null = null;
  private role: Role = "follower";
  /** The epoch this node leads at, or last led at. */
  private epoch = 0;
  /** The highest epoch this node read from the epoch row or took. */
  private knownEpoch = 0;
  private leader: LeaderInfo | null = null;
  private nextSeq = 0;
  private headSeq = 0;
  /** The last seq handed to the local log (applied, or being applied). */
  private offeredSeq: number;
  private waiting: Waiter[] = [];
  private waitingEvents = 0;
  private committing = false;
  /** Committed batches being applied locally (at most APPLIES_IN_FLIGHT_MAX), oldest first. */
  private applying: Promise<void>[] = [];
  private tailing: Promise<void> | null = null;
  private tailAgain = false;
  /** The highest head a log notification announced: a tail for it was triggered then. */
  private notifiedSeq = 0;
  /** A tail trigger asked for the leader row too (every trigger but a log notification and an apply wait). */
  private leaderReadWanted = false;
  /** When the oldest trigger not yet served by a tail read came (metrics: tail_wait). */
  private tailTriggeredMs: number | null = null;
  private electing = false;
  private caughtUp = false;
  private closed = false;
  private lastError: string | null = null;
  private lockError: string | null = null;
  /** Set while another process holds this node's id (keepNodeId): no writes, no lead. */
  private nodeIdLost: string | null = null;
  private checkingNodeId = false;
  private appliedWaiters: { seq: number; resolve: () => void }[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** The connection listening for notifications (null while none works). */
  private listenSql: Sql | null = null;
  /** This process's own channel: a notification it sends there and hears back shows the listening connection works. */
  private readonly pingChannel = `nasty_ping_${randomBytes(8).toString("hex")}`;
  private pingSent: { n: number; atMs: number } | null = null;
  private pingHeard = 0;
  private listenChecking = false;
  private listenLost = false;
  private readonly stepMs: number;
  /** The seq the log starts at (the current shared snapshot's), as last read; and whether this follower still owes a snapshot behind it. */
  private logStart = 0;
  private cutPending = false;
  private lastCut: ClusterStatus["last_cut"] = null;
  private lastCutError: string | null = null;
  /** Longest an append (or any Postgres step) may take before it fails: a forwarder waits longer than this for the leader's answer. */
  get appendMsMax(): number {
    return this.stepMs;
  }

  constructor(private readonly options: ClusterOptions) {
    this.sql = postgresClient(options.url, { max: 2, timeoutMs: options.leaseMs * 2, applicationName: `nasty-cluster-node-${options.nodeId}` });
    this.appendSql = this.appendClient();
    this.offeredSeq = options.local.lastSeq;
    this.stepMs = Math.max(5000, options.leaseMs * 3);
  }

  // ---- EventLog: appends go to Postgres; reads are the local log's ----

  get lastSeq(): number {
    return this.options.local.lastSeq;
  }

  get compactedThrough(): number {
    return this.options.local.compactedThrough;
  }

  replay(visit: (event: LoggedEvent) => void, afterSeq?: number): number {
    return this.options.local.replay(visit, afterSeq);
  }

  readAfter(afterSeq: number, limit: number): LoggedEvent[] {
    return this.options.local.readAfter(afterSeq, limit);
  }

  stats(): LogStats {
    return this.options.local.stats();
  }

  append(bodies: readonly EventBody[]): Promise<LoggedEvent[]> {
    if (this.closed) return Promise.reject(notLeader("this node is stopping"));
    if (this.role !== "leader") return Promise.reject(notLeader("this node does not lead the cluster right now"));
    if (this.waitingEvents + bodies.length > this.options.queueEventsMax) return Promise.reject(new HttpError(503, "the cluster's log is overloaded; try again shortly", {}, { "Retry-After": "1" }));
    return new Promise((resolve, reject) => {
      this.waiting.push({ bodies, requestId: forwardedRequest.getStore(), queuedMs: performance.now(), resolve, reject });
      this.waitingEvents += bodies.length;
      this.scheduleCommit();
    });
  }

  // ---- the node's part: start, status, waiting for a seq ----

  /** Connects, checks the local log against the cluster's, listens and tails; readiness follows `caughtUp`. */
  start(): void {
    this.options.say(`cluster mode: node ${this.options.nodeId} (${this.options.nodeUrl}) on the log at ${redactUrl(this.options.url)}`);
    void this.prepare();
    const electEvery = Math.max(100, Math.floor(this.options.leaseMs / 3));
    this.timers.push(setInterval(guarded("cluster election", () => void this.electionStep()), electEvery));
    this.timers.push(setInterval(guarded("cluster node id", () => void this.nodeIdStep()), electEvery));
    this.timers.push(setInterval(guarded("cluster tail", () => void this.tailQuietly()), this.options.tailMs));
    this.timers.push(setInterval(guarded("cluster listen check", () => void this.listenStep()), this.options.leaseMs));
  }

  private async prepare(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt += 1) {
      try {
        const applied = await withTimeout(migrate(this.sql, readMigrations()), this.stepMs, "the migrations");
        if (applied.length > 0) this.options.say(`applied Postgres migrations ${applied.join(", ")}`);
        // A database a single node flushed into, not seeded by `cluster init`: refused before anything else (cluster-seed.ts).
        const refusal = await withTimeout(singleNodeDatabaseRefusal(this.sql, this.options.url), this.stepMs, "the check for a single node's data");
        if (refusal !== null) this.fatal(refusal);
        // A data directory of another cluster stops the node before it claims anything here.
        const clusterId = await withTimeout(readClusterId(this.sql), this.stepMs, "the cluster's id");
        try {
          checkClusterId(this.options.local, clusterId, this.options.url);
        } catch (error) {
          this.fatal((error as Error).message);
        }
        await this.claimNodeId();
        await this.verifyLocal();
        // A new data directory, or one from before cluster ids whose log matched: it belongs to this cluster from now on.
        if (this.options.local.clusterId === null) {
          this.options.local.recordClusterId(clusterId);
          this.options.say(`this data directory now belongs to cluster ${clusterId}`);
        }
        await this.listen();
        await this.tail();
        this.caughtUp = true;
        this.options.say(`caught up with the cluster's log at seq ${this.offeredSeq}`);
        return;
      } catch (error) {
        if (this.closed) return;
        this.noteError(`cannot join the cluster yet: ${describeError(error)}`);
        await new Promise((resolve) => setTimeout(guarded("cluster join retry", () => resolve(undefined)), Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }

  /**
   * Listens for the log's and the leader's notifications, and for this node's own pings (listenStep),
   * on a connection of its own, replacing the one before (ended). Every (re)connect of it tails.
   */
  private async listen(): Promise<void> {
    this.listenSql?.end({ timeout: 0 }).catch(() => {});
    const sql = postgresClient(this.options.url, { max: 1, timeoutMs: this.stepMs, applicationName: `nasty-listen-node-${this.options.nodeId}` });
    this.listenSql = sql;
    this.pingSent = null;
    // A log notification carries the new head seq: the tail it starts reads the log only (the leader row is read on
    // the timer, on a leader notification and on each reconnect), so a busy log costs one query per round, not two.
    // A head this node already has (the leader's own commits, a tail that read ahead) needs no read at all.
    const onLog = (payload: string) => {
      const head = Number(payload);
      if (!Number.isSafeInteger(head)) {
        void this.tailQuietly(false);
        return;
      }
      this.headSeq = Math.max(this.headSeq, head);
      this.notifiedSeq = Math.max(this.notifiedSeq, head);
      if (head > this.offeredSeq) void this.tailQuietly(false);
    };
    const onPing = (payload: string) => {
      this.pingHeard = Math.max(this.pingHeard, Number(payload) || 0);
    };
    try {
      for (const [channel, onNotify] of [[LOG_CHANNEL, onLog], [LEADER_CHANNEL, () => void this.tailQuietly()], [this.pingChannel, onPing]] as const) {
        await withTimeout(sql.listen(channel, onNotify, () => void this.tailQuietly()), this.stepMs, "LISTEN");
      }
    } catch (error) {
      if (this.listenSql === sql) this.listenSql = null;
      sql.end({ timeout: 0 }).catch(() => {});
      throw error;
    }
    // Stopped meanwhile: close() ended the connection before this one.
    if (this.closed) sql.end({ timeout: 0 }).catch(() => {});
  }

  /**
   * Keeps the listening connection known to work: each step notifies this node's own channel and
   * expects to hear it within a lease. postgres.js listens again by itself when that connection
   * closes, but after an outage only with a backoff of up to 20 s, and a connection that silently
   * stopped delivering (a firewall dropping its state) it never notices. A ping not heard: this
   * node listens again on a new connection (which tails), and keeps trying each step until it does.
   */
  private async listenStep(): Promise<void> {
    if (this.closed || this.listenChecking || !this.caughtUp) return;
    this.listenChecking = true;
    try {
      const sent = this.pingSent;
      if (this.listenSql === null || (sent !== null && this.pingHeard < sent.n)) {
        if (this.listenSql !== null && performance.now() - sent!.atMs < this.options.leaseMs) return;
        if (!this.listenLost) this.options.warn("the connection listening for the cluster's notifications stopped delivering them; listening again on a new one");
        this.listenLost = true;
        await this.listen();
        this.options.say("listening for the cluster's notifications again");
        this.listenLost = false;
        return;
      }
      const n = Math.max(this.pingHeard, sent?.n ?? 0) + 1;
      await withTimeout(this.sql`SELECT pg_notify(${this.pingChannel}, ${String(n)})`, this.stepMs, "a ping");
      this.pingSent = { n, atMs: performance.now() };
    } catch {
      // Postgres out of reach: the tail reports that; the next step tries again.
    } finally {
      this.listenChecking = false;
    }
  }

  /** One running process per NASTY_NODE_ID: its id lock, held on a connection of its own (checked at start). */
  private async claimNodeId(): Promise<void> {
    if (await this.holdNodeId()) return;
    this.options.onFatal(new Error(`NASTY_NODE_ID=${this.options.nodeId} is already used by another running node of this cluster; give each node its own id`));
    throw new Error("the node id is taken");
  }

  /**
   * True while this node's session holds its id lock, taking it (again) when the session does not:
   * a session Postgres ended (a restart, a cut, pg_terminate_backend) took the lock with it, and
   * postgres.js reconnects with a new session on the next query.
   */
  private async holdNodeId(): Promise<boolean> {
    this.nodeSql ??= postgresClient(this.options.url, { max: 1, timeoutMs: this.stepMs, applicationName: `nasty-node-${this.options.nodeId}` });
    const key = NODE_LOCK_KEY_BASE + this.options.nodeId;
    const [row] = await withTimeout(this.nodeSql<{ got: boolean }[]>`
      SELECT CASE WHEN ${heldHere(this.nodeSql, key)} THEN true ELSE pg_try_advisory_lock(${key}::bigint) END AS got`, this.stepMs, "the node id lock");
    return row?.got === true;
  }

  private async nodeIdStep(): Promise<void> {
    if (this.closed || this.checkingNodeId || !this.caughtUp) return;
    this.checkingNodeId = true;
    try {
      await this.keepNodeId();
    } finally {
      this.checkingNodeId = false;
    }
  }

  /**
   * Keeps the id lock across Postgres restarts. When another process took this node's id while this
   * node's session was gone, two processes claim one id and this one can no longer prove it is the
   * node of that id. It does not exit (its readers and live connections stay served from the log it
   * still follows), but it leaves the lead, leads no more and refuses every write (503 naming the
   * problem, also in /api/status last_error and /readyz, so a load balancer takes it out) until it
   * holds its id again (the other process stopped).
   */
  private async keepNodeId(): Promise<void> {
    let held: boolean;
    try {
      held = await this.holdNodeId();
    } catch {
      // Postgres unreachable: the tail and the lead's heartbeat report and handle that.
      return;
    }
    if (held) {
      if (this.nodeIdLost !== null) this.options.say(`holding NASTY_NODE_ID=${this.options.nodeId} again: serving writes again`);
      this.nodeIdLost = null;
      return;
    }
    const message = `NASTY_NODE_ID=${this.options.nodeId} was taken by another process while this node's Postgres session was gone; this node serves no writes until it holds its id again (give each node its own id)`;
    if (this.nodeIdLost === null) this.options.warn(message);
    this.nodeIdLost = message;
    this.stepDown(message);
  }

  /** Why this node refuses every write whoever leads (its node id is held by another process), or null. */
  writeRefusal(): string | null {
    return this.nodeIdLost;
  }

  /**
   * The local log must be a prefix of the cluster's: the same event (type, time, node, payload) at
   * its last seq, when the local log still holds it (compacted behind a snapshot, the cluster id
   * checked before is what tells another cluster apart). Anything else stops the node.
   */
  private async verifyLocal(): Promise<void> {
    const local = this.options.local;
    const lastSeq = local.lastSeq;
    if (lastSeq === 0) return;
    const [row] = await withTimeout(this.sql<LogRow[]>`SELECT seq, type, v, ts, node, payload FROM log WHERE seq = ${lastSeq}`, this.stepMs, "the log at this node's last seq");
    if (!row) await this.checkNotBehindCut(lastSeq);
    const [mine] = local.readAfter(lastSeq - 1, 1);
    const theirs = row ? eventOf(row) : null;
    const differs = !theirs || (mine !== undefined && mine.seq === lastSeq && (mine.type !== theirs.type || mine.ts !== theirs.ts || mine.node !== theirs.node || JSON.stringify(mine.payload) !== JSON.stringify(theirs.payload)));
    if (differs) {
      this.options.onFatal(new Error(`this node's data directory holds seq ${lastSeq}, which the cluster's log ${row ? "holds as another event" : "does not have"}: it belongs to another cluster or history. Start this node on an empty data directory (it then catches up from the cluster's log).`));
      throw new Error("the local log does not match the cluster's");
    }
  }

  status(): ClusterStatus {
    const applied = this.options.local.lastSeq;
    const head = Math.max(this.headSeq, applied);
    return {
      role: this.role, node_id: this.options.nodeId, epoch: this.knownEpoch, led_epoch: this.epoch, leader: this.leader,
      applied_seq: applied, head_seq: head, lag_events: head - applied, caught_up: this.caughtUp, last_error: this.nodeIdLost ?? this.lastError,
      log_start_seq: this.logStart, last_cut: this.lastCut, last_cut_error: this.lastCutError,
    };
  }

  /** Why this node is not ready yet (catching up with the cluster's log at start), or null. */
  readiness(): string | null {
    if (this.nodeIdLost !== null) return this.nodeIdLost;
    return this.caughtUp ? null : `catching up with the cluster's log (applied seq ${this.options.local.lastSeq} of ${this.headSeq})${this.lastError ? `: ${this.lastError}` : ""}`;
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  /** False while this node's last read of the log failed (Postgres down or cut off): no write can be acknowledged then. */
  get reachable(): boolean {
    return this.lastError === null;
  }

  /** Who leads, as last read from the epoch row (null: nobody yet). */
  currentLeader(): LeaderInfo | null {
    return this.leader;
  }

  /** Resolves once this node applied `seq`; rejects with 503 after `timeoutMs`. */
  untilApplied(seq: number, timeoutMs: number): Promise<void> {
    if (this.options.local.lastSeq >= seq) return Promise.resolve();
    // Unless a notification already set a tail going for it (then one more read would find nothing).
    if (seq > this.notifiedSeq) void this.tailQuietly(false);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(guarded("cluster apply wait", () => {
        this.appliedWaiters = this.appliedWaiters.filter((waiter) => waiter.resolve !== done);
        reject(new HttpError(503, `the write was saved (seq ${seq}) but this node has not applied it within ${timeoutMs} ms; read it again shortly`, {}, { "Retry-After": "1" }));
      }), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.appliedWaiters.push({ seq, resolve: done });
    });
  }

  /** The last seq a forwarded request committed, if it did (a retry after a leader change asks). */
  async requestCommitted(requestId: string): Promise<number | null> {
    try {
      const [row] = await withTimeout(this.sql<{ seq: string }[]>`SELECT seq FROM cluster_requests WHERE request_id = ${requestId}`, this.stepMs, "a request id");
      return row ? Number(row.seq) : null;
    } catch (error) {
      // Postgres restarting (or cut off): unknown whether it committed; the forwarder tries again with the same id.
      throw notLeader(`cannot read whether this write was committed already (${describeError(error)})`);
    }
  }

  /** Reads the leader row again now (a forwarder that found the leader gone). */
  async refreshLeader(): Promise<void> {
    await this.readLeader().catch((error: unknown) => this.noteError(`cannot read the cluster's leader: ${describeError(error)}`));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.stepDown("this node is stopping", true);
    const listening = this.listenSql;
    this.listenSql = null;
    await this.tailing?.catch(() => {});
    await Promise.all([this.sql.end({ timeout: 1 }), listening?.end({ timeout: 1 }), this.appendSql.end({ timeout: 1 }), this.nodeSql?.end({ timeout: 1 })]).catch(() => {});
  }

  // ---- following ----

  private tailQuietly(withLeader = true): Promise<void> {
    return this.tail(withLeader).catch((error: unknown) => this.noteError(`cannot read the cluster's log: ${describeError(error)}`));
  }

  /**
   * One tail at a time; a trigger while one runs makes it go round once more, right after (not at
   * the next timer tick). `withLeader`: the round also reads the leader row and the head.
   */
  private tail(withLeader = true): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.tailTriggeredMs ??= performance.now();
    if (withLeader) this.leaderReadWanted = true;
    if (this.tailing) {
      this.tailAgain = true;
      return this.tailing;
    }
    this.tailing = (async () => {
      try {
        for (let round = 0; round < TAIL_ROUNDS_MAX; round += 1) {
          this.tailAgain = false;
          await this.tailOnce();
          if (!this.tailAgain || this.closed) break;
        }
        this.lastError = null;
      } finally {
        this.tailing = null;
      }
    })();
    return this.tailing;
  }

  private async tailOnce(): Promise<void> {
    if (this.tailTriggeredMs !== null) clusterStage("tail_wait", performance.now() - this.tailTriggeredMs);
    this.tailTriggeredMs = null;
    for (let round = 0; round < TAIL_ROUNDS_MAX; round += 1) {
      const readMs = performance.now();
      const rows = await withTimeout(this.sql<LogRow[]>`SELECT seq, type, v, ts, node, payload FROM log WHERE seq > ${this.offeredSeq} ORDER BY seq LIMIT ${TAIL_BATCH_EVENTS}`, this.stepMs, "a tail read");
      clusterStage("tail_read", performance.now() - readMs);
      if (rows.length === 0) break;
      if (Number(rows[0]!.seq) > this.offeredSeq + 1) await this.checkNotBehindCut(this.offeredSeq);
      await this.offer(rows.map(eventOf));
      if (rows.length < TAIL_BATCH_EVENTS) break;
    }
    if (!this.leaderReadWanted) return;
    this.leaderReadWanted = false;
    await this.readLeader();
  }

  private async readLeader(): Promise<void> {
    const [row] = await withTimeout(this.sql<{ epoch: string; node: number | null; url: string | null; head: string; start: string }[]>`
      SELECT epoch, node, url, (SELECT coalesce(max(seq), 0) FROM log) AS head, (SELECT coalesce(max(seq), 0) FROM cluster_snapshots WHERE current) AS start
      FROM cluster_leader WHERE id = 1`, this.stepMs, "the leader row");
    if (!row) return;
    const epoch = Number(row.epoch);
    this.knownEpoch = Math.max(this.knownEpoch, epoch);
    this.headSeq = Math.max(this.headSeq, Number(row.head), Number(row.start));
    this.noteLogStart(Number(row.start));
    if (this.role !== "candidate") this.leader = { epoch, node: row.node, url: row.url };
    if (this.role === "leader" && epoch !== this.epoch) this.stepDown(`node ${row.node} took the lead at epoch ${epoch}`);
  }

  /**
   * Hands the events not yet handed over to the local log, in seq order; they must follow the last
   * one densely (a hole is a bug: the node stops). Resolves once they are applied.
   */
  private offer(events: readonly LoggedEvent[]): Promise<void> {
    const last = events[events.length - 1];
    if (!last) return Promise.resolve();
    const fresh = events.filter((event) => event.seq > this.offeredSeq);
    if (fresh.length === 0) return this.untilApplied(last.seq, this.stepMs);
    fresh.forEach((event, index) => {
      if (event.seq !== this.offeredSeq + 1 + index) this.fatal(`the cluster's log has a hole: after seq ${this.offeredSeq + index} came seq ${event.seq}`);
    });
    this.offeredSeq = fresh[fresh.length - 1]!.seq;
    this.headSeq = Math.max(this.headSeq, this.offeredSeq);
    const offeredMs = performance.now();
    return this.options.local.appendCommitted(fresh).then(
      () => {
        clusterStage("apply", performance.now() - offeredMs);
        const now = Date.now();
        for (const event of fresh) clusterStage("applied_lag", now - event.ts);
        this.settleApplied();
      },
      (error: unknown) => {
        this.fatal(`the local log could not store committed events ${fresh[0]!.seq}..${this.offeredSeq}: ${describeError(error)}`);
        throw error;
      },
    );
  }

  /** A follower that applied the seq the log was cut behind takes its own snapshot (the leader took its own before it cut). */
  private noteLogStart(start: number): void {
    if (start > this.logStart) {
      this.logStart = start;
      this.cutPending = this.role !== "leader";
    }
    if (this.cutPending && this.options.local.lastSeq >= this.logStart) {
      this.cutPending = false;
      this.options.onLogCut?.(this.logStart);
    }
  }

  /**
   * The log holds nothing right after `appliedSeq`: if it was cut behind a snapshot past it, this
   * node was away too long to follow the log and stops, saying so (at its next start it loads the
   * cluster's snapshot); otherwise it is a hole, which offer() reports.
   */
  private async checkNotBehindCut(appliedSeq: number): Promise<void> {
    const [row] = await withTimeout(this.sql<{ start: string }[]>`SELECT coalesce(max(seq), 0) AS start FROM cluster_snapshots WHERE current`, this.stepMs, "the log's start");
    const start = Number(row?.start ?? 0);
    if (start > appliedSeq + 1) {
      this.fatal(`this node applied the cluster's log up to seq ${appliedSeq}, but the log now starts at seq ${start} (cut behind the cluster's snapshot of that seq while this node was away): restart it and it loads that snapshot, then follows the log from there`);
    }
  }

  /**
   * Leader only: shares the snapshot just written (and compacted behind) through Postgres and cuts
   * the log behind it (cluster-snapshots.ts: stored without blocking appends, then made current and
   * the rows before it deleted in one transaction that checks this node's epoch), then VACUUMs.
   * On its own connection, so the tail and the appends are not held up by a large snapshot.
   */
  async shareSnapshot(written: WrittenSnapshot): Promise<void> {
    if (this.role !== "leader" || this.closed || written.seq <= this.logStart) return;
    const epoch = this.epoch;
    const started = performance.now();
    const sql = postgresClient(this.options.url, { max: 1, timeoutMs: this.stepMs, applicationName: `nasty-snapshot-node-${this.options.nodeId}` });
    try {
      const shared = await storeSharedSnapshot(sql, written.file, written.seq, epoch, this.options.nodeId);
      const cut = await cutLog(sql, written.seq, epoch);
      if (cut === null) return;
      this.logStart = Math.max(this.logStart, written.seq);
      await vacuumAfterCut(sql);
      const ms = Math.round(performance.now() - started);
      this.lastCut = { seq: written.seq, log_rows: cut.logRows, ms };
      this.lastCutError = null;
      this.options.say(`shared the snapshot of seq ${written.seq} through Postgres (${(shared.bytes / 1048576).toFixed(1)} MiB) and cut the log behind it: ${cut.logRows} log rows, ${cut.requests} request ids and ${cut.snapshots} older snapshots deleted, vacuumed, in ${ms} ms`);
    } catch (error) {
      this.lastCutError = `${error instanceof CutRefused ? "refused" : "failed"} at seq ${written.seq}: ${describeError(error)}`;
      this.options.warn(`sharing the snapshot of seq ${written.seq} and cutting the log ${this.lastCutError}`);
      // A stored snapshot that did not become current would keep what it holds past later cuts: it goes now.
      await dropUnusedSnapshot(sql, written.seq).catch(() => {});
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
  }

  private settleApplied(): void {
    this.noteLogStart(this.logStart);
    const applied = this.options.local.lastSeq;
    const still: typeof this.appliedWaiters = [];
    for (const waiter of this.appliedWaiters) {
      if (waiter.seq <= applied) waiter.resolve();
      else still.push(waiter);
    }
    this.appliedWaiters = still;
  }

  // ---- leading ----

  private lockClient(): Sql {
    // Postgres ends this session when it idles past the lease (a paused or cut-off leader), which releases the lock.
    this.lockSql ??= postgresClient(this.options.url, { max: 1, timeoutMs: this.options.leaseMs, applicationName: `nasty-lead-node-${this.options.nodeId}`, settings: { idle_session_timeout: String(this.options.leaseMs) } });
    return this.lockSql;
  }

  private appendClient(): Sql {
    // A paused leader's open append transaction must not hold the epoch row past the lease either.
    return postgresClient(this.options.url, { max: 1, timeoutMs: this.options.leaseMs * 2, applicationName: `nasty-append-node-${this.options.nodeId}`, settings: { idle_in_transaction_session_timeout: String(this.options.leaseMs) } });
  }

  private async electionStep(): Promise<void> {
    if (this.closed || this.electing || !this.caughtUp) return;
    this.electing = true;
    try {
      if (this.role === "leader") await this.heartbeat();
      else if (this.role === "follower" && this.nodeIdLost === null) await this.tryToLead();
    } finally {
      this.electing = false;
    }
  }

  /**
   * The lock's session must still be the one that took it: a session Postgres ended (terminated,
   * idle_session_timeout, a restart) released the lock, and postgres.js answers the next query on a
   * new session. Then this node steps down and campaigns again, under a new epoch.
   */
  private async heartbeat(): Promise<void> {
    let held: boolean;
    try {
      const lock = this.lockClient();
      const [row] = await withTimeout(lock<{ held: boolean }[]>`SELECT ${heldHere(lock, LEADER_LOCK_KEY)} AS held`, this.options.leaseMs, "the leader's heartbeat");
      held = row?.held === true;
    } catch (error) {
      this.stepDown(`the connection holding the lead failed (${describeError(error)})`);
      return;
    }
    if (!held && this.role === "leader") this.stepDown("the Postgres session holding the leader lock ended, and the lock with it");
  }

  private async tryToLead(): Promise<void> {
    let got = false;
    try {
      const [row] = await withTimeout(this.lockClient()<{ got: boolean }[]>`SELECT pg_try_advisory_lock(${LEADER_LOCK_KEY}::bigint) AS got`, this.options.leaseMs, "the leader lock");
      got = row?.got === true;
    } catch (error) {
      // Said once per new problem; reachability (`reachable`) is the log tail's to judge, not the lock's.
      const message = `cannot reach Postgres for the leader lock: ${describeError(error)}`;
      if (message !== this.lockError) this.options.warn(message);
      this.lockError = message;
      this.dropLock();
      return;
    }
    this.lockError = null;
    if (!got || this.closed) return;
    this.role = "candidate";
    try {
      await this.takeOver();
    } catch (error) {
      this.stepDown(`taking the lead failed (${describeError(error)})`);
    }
  }

  /** Holding the lock: bump the epoch (fencing the old leader), read the head, apply up to it, then lead. */
  private async takeOver(): Promise<void> {
    const [bumped] = await withTimeout(this.appendSql<{ epoch: string }[]>`
      UPDATE cluster_leader SET epoch = epoch + 1, node = ${this.options.nodeId}, url = ${this.options.nodeUrl}, since = now() WHERE id = 1 RETURNING epoch`, this.stepMs, "the epoch bump");
    if (!bumped) throw new Error("the cluster_leader row is missing");
    const epoch = Number(bumped.epoch);
    this.knownEpoch = Math.max(this.knownEpoch, epoch);
    // The row at the log's start is never cut, so the head is never below it; the greatest() says so twice.
    const [head] = await withTimeout(this.appendSql<{ head: string }[]>`
      SELECT greatest((SELECT coalesce(max(seq), 0) FROM log), (SELECT coalesce(max(seq), 0) FROM cluster_snapshots WHERE current)) AS head`, this.stepMs, "the head");
    const headSeq = Number(head?.head ?? 0);
    for (let round = 0; round < CATCH_UP_ROUNDS_MAX && this.offeredSeq < headSeq; round += 1) await this.tail();
    if (this.offeredSeq < headSeq) throw new Error(`could not read the log up to its head (seq ${headSeq})`);
    await this.untilApplied(headSeq, this.stepMs);
    if (this.role !== "candidate" || this.closed || this.nodeIdLost !== null) return;
    this.epoch = epoch;
    this.nextSeq = headSeq + 1;
    this.leader = { epoch, node: this.options.nodeId, url: this.options.nodeUrl };
    this.role = "leader";
    this.options.say(`leading the cluster at epoch ${epoch}, appending from seq ${this.nextSeq}`);
    await this.sql`SELECT pg_notify(${LEADER_CHANNEL}, ${String(epoch)})`.catch(() => {});
  }

  /** Leaves the lead: waiting appends answer 503, the lock's connection ends (releasing it), the append connection starts afresh. */
  private stepDown(reason: string, quiet = false): void {
    if (this.role === "follower") {
      if (this.closed) this.dropLock();
      return;
    }
    if (!quiet) this.options.warn(`no longer leading: ${reason}`);
    this.role = "follower";
    this.leader = null;
    const error = notLeader(`this node stopped leading the cluster (${reason})`);
    for (const waiter of this.waiting) waiter.reject(error);
    this.waiting = [];
    this.waitingEvents = 0;
    this.dropLock();
    const append = this.appendSql;
    this.appendSql = this.appendClient();
    append.end({ timeout: 0 }).catch(() => {});
  }

  private dropLock(): void {
    const lock = this.lockSql;
    this.lockSql = null;
    lock?.end({ timeout: 0 }).catch(() => {});
  }

  private scheduleCommit(): void {
    if (this.committing || this.waiting.length === 0) return;
    this.committing = true;
    setImmediate(guarded("cluster commit", () => void this.commitLoop()));
  }

  private async commitLoop(): Promise<void> {
    try {
      for (let round = 0; round < COMMIT_ROUNDS_MAX && this.waiting.length > 0 && this.role === "leader"; round += 1) {
        let events = 0;
        let count = 0;
        while (count < this.waiting.length && (count === 0 || events + this.waiting[count]!.bodies.length <= COMMIT_BATCH_EVENTS_MAX)) {
          events += this.waiting[count]!.bodies.length;
          count += 1;
        }
        const waiters = this.waiting.splice(0, count);
        this.waitingEvents -= events;
        while (this.applying.length >= APPLIES_IN_FLIGHT_MAX) await this.applying[0];
        await this.commit(waiters);
      }
    } finally {
      this.committing = false;
      if (this.waiting.length > 0) {
        if (this.role === "leader") this.scheduleCommit();
        else this.stepDown("appends waited while not leading");
      }
    }
  }

  /** One transaction: the epoch check, the dense rows, the request ids, the relational tables, the notification. */
  private async commit(waiters: Waiter[]): Promise<void> {
    const ts = Date.now();
    const node = this.options.nodeId;
    const epoch = this.epoch;
    let seq = this.nextSeq - 1;
    const events: LoggedEvent[] = [];
    const requests: { request_id: string; seq: number }[] = [];
    for (const waiter of waiters) {
      for (const body of waiter.bodies) {
        seq += 1;
        events.push({ type: body.type, payload: body.payload, seq, v: EVENT_VERSIONS[body.type], ts, node } as LoggedEvent);
      }
      if (waiter.requestId !== undefined) requests.push({ request_id: waiter.requestId, seq });
    }
    const rows = events.map((event) => ({ seq: event.seq, type: event.type, v: event.v, ts: event.ts, node: event.node, payload: JSON.stringify(event.payload) }));
    const beginMs = performance.now();
    for (const waiter of waiters) clusterStage("append_wait", beginMs - waiter.queuedMs);
    try {
      await withTimeout(this.appendSql.begin((tx) => this.appendStatements(tx, epoch, seq, events, rows, requests)), this.stepMs, "an append");
      clusterStage("commit", performance.now() - beginMs);
    } catch (error) {
      const failure = notLeader(`the cluster's log could not commit (${describeError(error)}); nothing was acknowledged`);
      for (const waiter of waiters) waiter.reject(failure);
      this.stepDown(error instanceof DeposedError ? error.message : `an append failed (${describeError(error)})`);
      return;
    }
    this.nextSeq = seq + 1;
    // Durable now; the appends resolve once this node applied the batch, while the next transaction may already run.
    const applied = this.offer(events).then(
      () => {
        let offset = 0;
        for (const waiter of waiters) {
          waiter.resolve(events.slice(offset, offset + waiter.bodies.length));
          offset += waiter.bodies.length;
        }
      },
      (error: unknown) => {
        const failure = new HttpError(503, `the write was saved (seq ${events[0]!.seq}..${seq}) but this node could not apply it: ${describeError(error)}`);
        for (const waiter of waiters) waiter.reject(failure);
      },
    ).finally(() => {
      this.applying = this.applying.filter((entry) => entry !== applied);
    });
    this.applying.push(applied);
  }

  /** The statements of one append transaction, on its connection `tx`. */
  private async appendStatements(tx: TransactionSql, epoch: number, seq: number, events: LoggedEvent[], rows: unknown[], requests: { request_id: string; seq: number }[]): Promise<void> {
    // Sent together (postgres.js pipelines them, so the transaction costs BEGIN, this and COMMIT in
    // round trips, not one per statement): the epoch row is locked first, and a wrong epoch throws
    // before COMMIT, so everything written after it rolls back with the transaction. A query is sent
    // in the order it is executed; writeChanges executes its first at once, so it comes last.
    // The leader lock must be held (by this node's lock session, or by a new leader, whose epoch bump then waits for
    // this share lock and fences what follows): a shared try succeeds only when no session holds it, and fails this append.
    const epochRead = tx<{ epoch: string; unheld: boolean }[]>`SELECT epoch, pg_try_advisory_xact_lock_shared(${LEADER_LOCK_KEY}::bigint) AS unheld FROM cluster_leader WHERE id = 1 FOR SHARE`.execute();
    const statements: Promise<unknown>[] = [tx`INSERT INTO log (seq, epoch, type, v, ts, node, payload)
      SELECT seq, ${epoch}, type, v, ts, node, payload
      FROM jsonb_to_recordset(${tx.json(rows as unknown as JSONValue)}) AS x(seq bigint, type text, v integer, ts bigint, node integer, payload text)`.execute()];
    if (requests.length > 0) {
      statements.push(tx`INSERT INTO cluster_requests (request_id, seq)
        SELECT request_id, seq FROM jsonb_to_recordset(${tx.json(requests as unknown as JSONValue)}) AS x(request_id text, seq bigint)
        ON CONFLICT (request_id) DO NOTHING`.execute());
    }
    statements.push(tx`SELECT pg_notify(${LOG_CHANNEL}, ${String(seq)})`.execute(), writeChanges(tx, foldEvents(events)));
    const [[row]] = await Promise.all([epochRead, ...statements]);
    if (!row || Number(row.epoch) !== epoch) throw new DeposedError(`epoch ${row?.epoch ?? "?"} replaced this node's epoch ${epoch}`);
    if (row.unheld) throw new DeposedError(`no session holds the leader lock any more (this node's lock session ended): epoch ${epoch} is over`);
  }

  private noteError(message: string): void {
    if (message !== this.lastError) this.options.warn(message);
    this.lastError = message;
  }

  private fatal(message: string): never {
    const error = new Error(message);
    this.options.onFatal(error);
    throw error;
  }
}
