// Moving a single node into a cluster: the guard against a cluster started on a single node's database, and `cluster init`, which seeds the cluster's Postgres from the single node's state.
import type { Sql } from "postgres";
import type { SqliteLog } from "./sqlite.ts";
import type { Store } from "../store/store.ts";
import { flushBatch, writeChanges, type RelationalChanges } from "./flush-batch.ts";
import { migrate, readMigrations } from "./migrate.ts";
import { describeError, postgresClient, redactUrl } from "./postgres.ts";
import { dropUnusedSnapshot, storeSharedSnapshot } from "./cluster-snapshots.ts";
import { listSnapshots } from "./snapshot-file.ts";

/** The relational tables a single node's flush fills (tags and bookmark_tags follow bookmarks). */
const MIRROR_TABLES = ["users", "tokens", "bookmarks", "comments", "invites", "settings"];

/** Rows per statement when the relational tables are filled from the state. */
const FILL_ROWS = 5000;

/** Where the steps of `cluster init` are written up. */
const HOW_TO = `docs/deploy.md, "Moving a single node into a cluster"`;

/** `cluster init` refuses: the database or the data folder is not fit to seed a cluster from (exit 2, naming the problem). */
export class SeedRefused extends Error {
  override name = "SeedRefused";
}

/**
 * What the database holds of a single node's Postgres flush, when the cluster's log is empty and
 * no shared snapshot is current (an unseeded cluster database): flush positions, events, relational
 * rows, named. Empty when it holds none, and always for a database that already holds a cluster.
 */
export async function singleNodeTraces(sql: Sql): Promise<string[]> {
  const [cluster] = await sql<{ started: boolean }[]>`SELECT EXISTS (SELECT 1 FROM log) OR EXISTS (SELECT 1 FROM cluster_snapshots WHERE current) AS started`;
  if (cluster?.started) return [];
  const found: string[] = [];
  const positions = await sql<{ node: number; seq: string }[]>`SELECT node, seq FROM flush_positions WHERE seq > 0 ORDER BY node`;
  for (const position of positions) found.push(`node ${position.node}'s flush position at seq ${position.seq}`);
  const tables = ["events", ...MIRROR_TABLES];
  const [rows] = await sql.unsafe<Record<string, boolean>[]>(`SELECT ${tables.map((table) => `EXISTS (SELECT 1 FROM ${table}) AS ${table}`).join(", ")}`);
  for (const table of tables) if (rows?.[table]) found.push(`rows in ${table}`);
  return found;
}

/**
 * Cluster mode, at start: a database whose cluster log is empty but which holds a single node's
 * flush is refused. A cluster started on it would begin empty, and its writes would collide with
 * the old rows (a sign-up of an existing name: duplicate key, the leader stepping down on every retry).
 */
export async function singleNodeDatabaseRefusal(sql: Sql, url: string): Promise<string | null> {
  const traces = await singleNodeTraces(sql);
  if (traces.length === 0) return null;
  return `the cluster's database ${redactUrl(url)} has no cluster log yet but holds a single node's data (${traces.join(", ")}): a cluster started on it would begin empty and its writes would collide with those rows. ` +
    `To move that single node into the cluster, stop it and run \`npm run nasty -- cluster init\` on its data folder with this DATABASE_URL (${HOW_TO}); ` +
    `to start a new, empty cluster, point DATABASE_URL at another, empty database`;
}

export interface SeedOptions {
  url: string;
  /** The single node's NASTY_NODE_ID: its events carry it, and its flush position is kept under it. */
  nodeId: number;
  dataDir: string;
  /** The single node's log, opened (the data folder locked: no server runs on it), and its state (the store the log's commits apply to). */
  log: SqliteLog;
  store: Store;
  batchEvents: number;
  /**
   * Appends the event the cluster's log starts with (the log's first row is the event at the
   * snapshot's seq; a compacted log may no longer hold its last event). Resolves once applied.
   */
  appendFirstEvent: () => Promise<void>;
  /** Writes a snapshot of everything committed (the store at the log's last seq). */
  snapshotNow: () => Promise<void>;
  say: (line: string) => void;
}

export interface Seeded {
  seq: number;
  /** Events flushed into the relational tables by init itself (the single node had flushed up to `flushedBefore`). */
  flushed: number;
  /** The relational tables were empty and were filled from the state: rows written by kind. */
  filled: { users: number; bookmarks: number; comments: number } | null;
  /** The flush position found in the database before (0: none). */
  flushedBefore: number;
  bytes: number;
}

/** Refuses (SeedRefused) unless the database can take this single node's state as a cluster's start; returns its flush position there. */
async function preflight(sql: Sql, options: SeedOptions): Promise<number> {
  const { log, nodeId } = options;
  const [cluster] = await sql<{ log: boolean; snapshots: boolean }[]>`SELECT EXISTS (SELECT 1 FROM log) AS log, EXISTS (SELECT 1 FROM cluster_snapshots WHERE current) AS snapshots`;
  if (cluster?.log || cluster?.snapshots) {
    throw new SeedRefused(`${redactUrl(options.url)} already holds a cluster's log: cluster init seeds a database no cluster has used yet (the one this node flushed into, or an empty one)`);
  }
  const running = await sql<{ name: string }[]>`SELECT DISTINCT application_name AS name FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name ~ '^nasty-((flush|cluster|append|lead|join|snapshot)-)?node-'`;
  if (running.length > 0) {
    throw new SeedRefused(`Nasty processes are connected to ${redactUrl(options.url)} (${running.map((row) => row.name).join(", ")}): stop every server using this database first`);
  }
  const positions = await sql<{ node: number; seq: string }[]>`SELECT node, seq FROM flush_positions ORDER BY node`;
  const others = positions.filter((row) => row.node !== nodeId);
  if (others.length > 0) {
    throw new SeedRefused(`${redactUrl(options.url)} holds the flush of other nodes (${others.map((row) => `node ${row.node}`).join(", ")}), not only this one's (NASTY_NODE_ID=${nodeId}): cluster init moves one single node; run it with that node's NASTY_NODE_ID, or use another, empty database`);
  }
  const flushed = Number(positions[0]?.seq ?? 0);
  if (flushed === 0) {
    const traces = await singleNodeTraces(sql);
    if (traces.length > 0) throw new SeedRefused(`${redactUrl(options.url)} holds data this node did not flush (${traces.join(", ")}): use the database this node flushed into, or an empty one`);
  }
  if (flushed > log.lastSeq) {
    throw new SeedRefused(`${redactUrl(options.url)} holds this node's events up to seq ${flushed}, but this data folder's log ends at seq ${log.lastSeq}: it is another history (a data folder restored from an older copy?); use the data folder that flushed there, or another database`);
  }
  const [event] = await sql<{ type: string; ts: Date }[]>`SELECT type, ts FROM events WHERE node = ${nodeId} AND seq = ${flushed}`;
  const [local] = flushed > 0 ? log.readAfter(flushed - 1, 1) : [];
  if (event && local?.seq === flushed && (local.type !== event.type || local.ts !== event.ts.getTime())) {
    throw new SeedRefused(`${redactUrl(options.url)} holds another event at seq ${flushed} than this data folder's log: it is another history; use the data folder that flushed there, or another database`);
  }
  if (flushed > 0 && flushed < log.compactedThrough) {
    throw new SeedRefused(`${redactUrl(options.url)} has this node's events only up to seq ${flushed}, and the log was compacted through seq ${log.compactedThrough} before the rest reached Postgres: its relational tables miss what those events held; use an empty database instead (cluster init then fills the tables from this node's state)`);
  }
  return flushed;
}

/**
 * Seeds a cluster database from a single node's data folder (its server stopped): the relational
 * tables brought up to the node's last event with the flush's own code (the events the node had
 * not flushed yet, or, in an empty database, the whole state: fillFromState), a snapshot of the state at that seq stored as the cluster's shared snapshot and
 * made current, and the log started with the event at that seq (as a cut leaves it). The first
 * cluster node to start takes the lead at the next seq; a node on an empty data folder loads the
 * shared snapshot. The single node's rows in `events` go (the snapshot holds what they did), as
 * its flush would erase them after a compaction. The epoch and leader rows are left to the first node.
 */
export async function seedCluster(options: SeedOptions): Promise<Seeded> {
  const { log, nodeId } = options;
  const sql = postgresClient(options.url, { max: 1, timeoutMs: 30_000, applicationName: `nasty-cluster-init-${nodeId}` });
  try {
    const applied = await migrate(sql, readMigrations());
    if (applied.length > 0) options.say(`applied Postgres migrations ${applied.join(", ")}`);
    await log.drain();
    if (log.lastSeq === 0) throw new SeedRefused("this data folder holds no events: there is nothing to move into a cluster; start the cluster's nodes on empty data folders");
    const flushedBefore = await preflight(sql, options);
    await options.appendFirstEvent();
    await log.drain();
    const seq = log.lastSeq;
    const [first] = log.readAfter(seq - 1, 1);
    if (first?.seq !== seq) throw new Error(`the log's last event (seq ${seq}) is not readable after it was appended`);
    let flushed = 0;
    let filled: Seeded["filled"] = null;
    if (flushedBefore === 0) filled = await fillFromState(sql, options, seq, first.ts);
    for (let at = flushedBefore; at < seq && filled === null;) {
      const events = log.readAfter(at, options.batchEvents);
      if (events.length === 0) throw new Error(`the log has no events after seq ${at}, though it ends at seq ${seq}`);
      flushed += await sql.begin((tx) => flushBatch(tx, nodeId, events));
      at = events[events.length - 1]!.seq;
    }
    await options.snapshotNow();
    const snapshot = listSnapshots(options.dataDir).find((listing) => listing.seq === seq);
    if (!snapshot) throw new Error(`no snapshot of seq ${seq} was written in ${options.dataDir}`);
    const shared = await storeSharedSnapshot(sql, snapshot.file, seq, 0, nodeId);
    await sql.begin(async (tx) => {
      // Nothing took the database meanwhile: a cluster node refuses an unseeded database with a flush in it.
      const [started] = await tx<{ started: boolean }[]>`SELECT EXISTS (SELECT 1 FROM log) OR EXISTS (SELECT 1 FROM cluster_snapshots WHERE current) AS started`;
      if (started?.started) throw new SeedRefused(`${redactUrl(options.url)} got a cluster log while cluster init ran; nothing was changed there`);
      const [position] = await tx<{ seq: string }[]>`SELECT seq FROM flush_positions WHERE node = ${nodeId} FOR UPDATE`;
      if (Number(position?.seq ?? 0) !== seq) throw new SeedRefused(`this node's flush position in ${redactUrl(options.url)} is seq ${position?.seq ?? 0}, not the snapshot's seq ${seq}: something flushed there meanwhile; stop it and run cluster init again`);
      await tx`INSERT INTO log (seq, epoch, type, v, ts, node, payload) VALUES (${seq}, 0, ${first.type}, ${first.v}, ${first.ts}, ${first.node}, ${JSON.stringify(first.payload)})`;
      await tx`UPDATE cluster_snapshots SET current = true WHERE seq = ${seq}`;
      await tx`DELETE FROM cluster_snapshots WHERE seq <> ${seq}`;
      await tx`DELETE FROM events WHERE node = ${nodeId} AND seq <= ${seq}`;
    }).catch(async (error: unknown) => {
      // A stored snapshot that did not become current goes (it would hold what it holds past later cuts).
      await dropUnusedSnapshot(sql, seq).catch(() => {});
      throw error;
    });
    await sql.unsafe("VACUUM events");
    return { seq, flushed, flushedBefore, filled, bytes: shared.bytes };
  } catch (error) {
    if (error instanceof SeedRefused) throw error;
    throw new Error(`cluster init failed: ${describeError(error)}`, { cause: error });
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

function noChanges(): RelationalChanges {
  return {
    users: [], passwords: [], tokens: [], revokedTokens: [], bookmarks: [], bookmarkPatches: [], tagListIds: [], tagPairs: [], comments: [],
    deletedComments: [], deletedBookmarks: [], deletedUsers: [], moderation: [], signup: null, invites: [], usedInvites: [],
  };
}

function* chunks<T>(items: Iterable<T>): Generator<T[]> {
  let chunk: T[] = [];
  for (const item of items) {
    chunk.push(item);
    if (chunk.length >= FILL_ROWS) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * The relational tables of an empty database filled from the store at `seq` (a node that never
 * flushed, its log compacted behind snapshots or not), with the flush's own writeChanges, in one
 * transaction that also records the node's flush position at `seq`: users with their role and
 * suspension, the sign-up mode (as of `signupAt`, the first event of the cluster's log), unused
 * invitations, unexpired tokens, then bookmarks with their tags, then comments, in chunks.
 */
async function fillFromState(sql: Sql, options: SeedOptions, seq: number, signupAt: number): Promise<NonNullable<Seeded["filled"]>> {
  const { store, nodeId } = options;
  const now = Date.now();
  const counts = { users: 0, bookmarks: 0, comments: 0 };
  await sql.begin(async (tx) => {
    const people = noChanges();
    for (const user of store.usersById.values()) {
      people.users.push({ id: user.id, username: user.username, password_hash: user.passwordHash, inserted_at: iso(user.insertedAt) });
      people.moderation.push({ id: user.id, role: user.role, suspended: user.suspended });
    }
    if (store.signupMode !== null) people.signup = { value: store.signupMode, updated_at: iso(signupAt) };
    for (const invite of store.invitesByHash.values()) people.invites.push({ id: invite.id, hash: invite.hash, created_by: invite.createdBy, inserted_at: iso(invite.createdAt) });
    for (const token of store.tokensById.values()) {
      if (token.expiresAt !== null && token.expiresAt <= now) continue;
      people.tokens.push({ id: token.id, user_id: token.user.id, hash: token.hash, kind: token.kind, name: token.name, inserted_at: iso(token.createdAt), expires_at: token.expiresAt === null ? null : iso(token.expiresAt) });
    }
    await writeChanges(tx, people);
    counts.users = people.users.length;
    for (const chunk of chunks(store.bookmarksById.values())) {
      const changes = noChanges();
      for (const bookmark of chunk) {
        changes.bookmarks.push({
          id: bookmark.id, user_id: bookmark.user.id, url: bookmark.url, title: bookmark.title, description: bookmark.description, notes: bookmark.notes,
          public: bookmark.public, unread: bookmark.unread, inserted_at: iso(bookmark.insertedAt), updated_at: iso(bookmark.updatedAt),
        });
        bookmark.tags.forEach((name, position) => changes.tagPairs.push({ bookmark_id: bookmark.id, name, position }));
      }
      await writeChanges(tx, changes);
      counts.bookmarks += chunk.length;
    }
    for (const chunk of chunks(store.commentsById.values())) {
      const changes = noChanges();
      for (const comment of chunk) changes.comments.push({ id: comment.id, bookmark_id: comment.bookmarkId, user_id: comment.user.id, body: comment.body, inserted_at: iso(comment.insertedAt) });
      await writeChanges(tx, changes);
      counts.comments += chunk.length;
    }
    await tx`INSERT INTO flush_positions (node, seq) VALUES (${nodeId}, ${seq})`;
  });
  return counts;
}
