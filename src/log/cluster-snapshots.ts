// Cluster mode: the leader's snapshot shared through Postgres, the log cut behind it (deleted means erased), and a node behind the cut loading it.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Sql } from "postgres";
import { guarded } from "../guard.ts";
import type { SqliteLog } from "./sqlite.ts";
import { adoptSnapshotHeader, fsyncDirectory, listSnapshots, SNAPSHOT_HEADER_LENGTH, snapshotFileName } from "./snapshot-file.ts";
import { migrate, readMigrations } from "./migrate.ts";
import { checkClusterId, ClusterMismatch, readClusterId } from "./cluster-id.ts";
import { describeError, postgresClient, redactUrl } from "./postgres.ts";

/** A shared snapshot is stored in pieces of at most this many bytes (one bytea value each). */
export const SNAPSHOT_PIECE_BYTES = 16 * 1024 * 1024;

/**
 * The tables a cut leaves dead tuples in: the log, the request ids, the old snapshot. A plain
 * VACUUM prunes dead tuples but leaves their bytes in the freed space of each page (measured with
 * pageinspect), so these are rewritten with VACUUM FULL: small right after a cut (the log from the
 * snapshot on, one snapshot), the old files go.
 */
const REWRITTEN = ["log", "cluster_requests", "cluster_snapshots", "cluster_snapshot_pieces"];
/**
 * The relational mirror, where deletions leave dead tuples as they happen: a plain VACUUM (no lock
 * the appends wait for), so the rows' space is pruned and reused; rewriting these large tables on
 * every cut would hold every append for as long (see docs/deploy.md, erasure).
 */
const VACUUMED = ["users", "tokens", "bookmarks", "bookmark_tags", "tags", "comments", "invites", "settings"];

export interface SharedSnapshot {
  seq: number;
  epoch: number;
  node: number;
  bytes: number;
  sha256: string;
  pieces: number;
}

/** The leader that asked for a cut no longer holds the epoch: a deposed leader never cuts. */
export class CutRefused extends Error {
  override name = "CutRefused";
}

interface SharedRow { seq: string; epoch: string; node: number; bytes: string; sha256: string; pieces: number }

function sharedOf(row: SharedRow): SharedSnapshot {
  return { seq: Number(row.seq), epoch: Number(row.epoch), node: row.node, bytes: Number(row.bytes), sha256: row.sha256, pieces: row.pieces };
}

/** The snapshot the log was last cut behind (the log starts at its seq), or null before the first cut. */
export async function currentSharedSnapshot(sql: Sql): Promise<SharedSnapshot | null> {
  const [row] = await sql<SharedRow[]>`SELECT seq, epoch, node, bytes, sha256, pieces FROM cluster_snapshots WHERE current`;
  return row ? sharedOf(row) : null;
}

/**
 * Stores a snapshot file in Postgres, not yet current: one transaction with its row and its
 * pieces, so nobody reads half of it. Takes no lock the appends or an election wait for. A
 * stored snapshot of the same seq that is not current is replaced; a current one is kept.
 */
export async function storeSharedSnapshot(sql: Sql, file: string, seq: number, epoch: number, node: number): Promise<SharedSnapshot> {
  const size = (await fs.promises.stat(file)).size;
  const handle = await fs.promises.open(file, "r");
  try {
    return await sql.begin(async (tx) => {
      const [current] = await tx<SharedRow[]>`SELECT seq, epoch, node, bytes, sha256, pieces FROM cluster_snapshots WHERE seq = ${seq} AND current`;
      if (current) return sharedOf(current);
      await tx`DELETE FROM cluster_snapshots WHERE seq = ${seq}`;
      const pieces = Math.max(1, Math.ceil(size / SNAPSHOT_PIECE_BYTES));
      await tx`INSERT INTO cluster_snapshots (seq, epoch, node, bytes, sha256, pieces) VALUES (${seq}, ${epoch}, ${node}, ${size}, '', ${pieces})`;
      const hash = createHash("sha256");
      for (let piece = 0; piece < pieces; piece += 1) {
        const length = Math.min(SNAPSHOT_PIECE_BYTES, size - piece * SNAPSHOT_PIECE_BYTES);
        const data = Buffer.alloc(length);
        const { bytesRead } = await handle.read(data, 0, length, piece * SNAPSHOT_PIECE_BYTES);
        if (bytesRead !== length) throw new Error(`${path.basename(file)} changed while it was stored (read ${bytesRead} of ${length} bytes)`);
        hash.update(data);
        await tx`INSERT INTO cluster_snapshot_pieces (seq, piece, data) VALUES (${seq}, ${piece}, ${data})`;
      }
      const sha256 = hash.digest("hex");
      await tx`UPDATE cluster_snapshots SET sha256 = ${sha256} WHERE seq = ${seq}`;
      return { seq, epoch, node, bytes: size, sha256, pieces };
    });
  } finally {
    await handle.close();
  }
}

export interface Cut {
  /** Log rows deleted (those before the snapshot's seq), request ids deleted, older snapshots deleted. */
  logRows: number;
  requests: number;
  snapshots: number;
}

/**
 * Makes the stored snapshot of `seq` current and cuts the log behind it, in one transaction that
 * first checks the leader's epoch (FOR SHARE, as every append does: a new leader's epoch bump waits
 * for it, and after the bump this refuses with CutRefused). The row at `seq` stays (the log's start:
 * a node at exactly that seq checks its log against it, and the head is never below it). Request
 * ids live one snapshot longer (a retry after a leader change still finds its answer), then go.
 * Every other snapshot goes. Null: the log already starts at or after `seq`.
 */
export async function cutLog(sql: Sql, seq: number, epoch: number): Promise<Cut | null> {
  return sql.begin(async (tx) => {
    const [leader] = await tx<{ epoch: string }[]>`SELECT epoch FROM cluster_leader WHERE id = 1 FOR SHARE`;
    if (!leader || Number(leader.epoch) !== epoch) throw new CutRefused(`epoch ${leader?.epoch ?? "?"} replaced epoch ${epoch}: only the current leader cuts the log`);
    const [stored] = await tx<{ sha256: string }[]>`SELECT sha256 FROM cluster_snapshots WHERE seq = ${seq}`;
    if (!stored || stored.sha256 === "") throw new Error(`no stored snapshot of seq ${seq} to cut the log behind`);
    const [previous] = await tx<{ seq: string }[]>`SELECT seq FROM cluster_snapshots WHERE current`;
    if (previous && Number(previous.seq) >= seq) return null;
    if (previous) await tx`UPDATE cluster_snapshots SET current = false WHERE current`;
    await tx`UPDATE cluster_snapshots SET current = true WHERE seq = ${seq}`;
    const logRows = await tx`DELETE FROM log WHERE seq < ${seq}`;
    const requests = previous ? await tx`DELETE FROM cluster_requests WHERE seq <= ${previous.seq}` : { count: 0 };
    const snapshots = await tx`DELETE FROM cluster_snapshots WHERE seq <> ${seq}`;
    return { logRows: logRows.count, requests: requests.count, snapshots: snapshots.count };
  });
}

/** Deletes the stored snapshot of `seq` unless it is current (a cut that failed or was refused). */
export async function dropUnusedSnapshot(sql: Sql, seq: number): Promise<void> {
  await sql`DELETE FROM cluster_snapshots WHERE seq = ${seq} AND NOT current`;
}

/**
 * After a cut, outside any transaction: VACUUM FULL of the cluster's own tables (appends and tails
 * wait for it: they are small then), a plain VACUUM of the relational ones.
 */
export async function vacuumAfterCut(sql: Sql): Promise<void> {
  await sql.unsafe(`VACUUM FULL ${REWRITTEN.join(", ")}`);
  await sql.unsafe(`VACUUM ${VACUUMED.join(", ")}`);
}

/**
 * Writes the shared snapshot into `dataDir` as this data directory's snapshot file of its seq:
 * piece by piece to a .tmp file, checked against the stored length and SHA-256, its header
 * rewritten to name this data directory (the sections and their checksums stay; loading checks
 * them again), fsynced and renamed into place. Throws if a piece is gone (a newer cut replaced it).
 */
export async function installSharedSnapshot(sql: Sql, shared: SharedSnapshot, dataDir: string, dataDirId: string): Promise<string> {
  const file = path.join(dataDir, snapshotFileName(shared.seq));
  const tmp = `${file}.tmp`;
  const handle = await fs.promises.open(tmp, "w+");
  try {
    const hash = createHash("sha256");
    let at = 0;
    for (let piece = 0; piece < shared.pieces; piece += 1) {
      const [row] = await sql<{ data: Buffer }[]>`SELECT data FROM cluster_snapshot_pieces WHERE seq = ${shared.seq} AND piece = ${piece}`;
      if (!row) throw new Error(`piece ${piece} of the cluster's snapshot of seq ${shared.seq} is gone (a newer snapshot replaced it)`);
      hash.update(row.data);
      await handle.write(row.data, 0, row.data.length, at);
      at += row.data.length;
    }
    const sha256 = hash.digest("hex");
    if (at !== shared.bytes || sha256 !== shared.sha256) throw new Error(`the cluster's snapshot of seq ${shared.seq} does not match its checksum (${at} bytes, SHA-256 ${sha256}; stored as ${shared.bytes} bytes, ${shared.sha256})`);
    const header = Buffer.alloc(SNAPSHOT_HEADER_LENGTH);
    await handle.read(header, 0, SNAPSHOT_HEADER_LENGTH, 0);
    await handle.write(adoptSnapshotHeader(header, shared.seq, dataDirId), 0, SNAPSHOT_HEADER_LENGTH, 0);
    await handle.sync();
    await handle.close();
    await fs.promises.rename(tmp, file);
    fsyncDirectory(dataDir);
    return file;
  } catch (error) {
    await handle.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true });
    throw error;
  }
}

export interface JoinOptions {
  url: string;
  nodeId: number;
  dataDir: string;
  log: SqliteLog;
  /** How long to keep trying to reach Postgres before starting from the local state alone. */
  waitMs: number;
  say: (line: string) => void;
  warn: (line: string) => void;
  /** What this node waits for meanwhile (null once Postgres answered): /readyz says it while the node starts. */
  waiting?: (problem: string | null) => void;
}

/**
 * At start, before the state is restored: when this node's log ends before the cluster's log
 * starts (a node added after a cut, or one away while the log was cut), the cluster's snapshot
 * is written into the data directory and the local log, emptied, starts after it; the start-up
 * then loads it as its own newest snapshot and tails from there. Older local snapshots go. With
 * Postgres out of reach for `waitMs`, the node starts from what it has (the tail then finds it
 * behind, if it is, and stops the node with a message).
 */
export async function joinFromSharedSnapshot(options: JoinOptions): Promise<void> {
  const sql = postgresClient(options.url, { max: 1, timeoutMs: 5000, applicationName: `nasty-join-node-${options.nodeId}` });
  const deadline = Date.now() + options.waitMs;
  try {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await migrate(sql, readMigrations());
        options.waiting?.(null);
        // Before anything here is replaced: a data directory of another cluster stops the start (ClusterMismatch).
        checkClusterId(options.log, await readClusterId(sql), options.url);
        const shared = await currentSharedSnapshot(sql);
        if (shared === null || options.log.lastSeq >= shared.seq) return;
        options.say(`this node's log ends at seq ${options.log.lastSeq}, before the cluster's log starts (seq ${shared.seq}): loading the cluster's snapshot of seq ${shared.seq} (${(shared.bytes / 1048576).toFixed(1)} MiB)`);
        // Written first: a crash before the log below starts after it leaves the log behind again, and the next start does this again.
        const file = await installSharedSnapshot(sql, shared, options.dataDir, options.log.dataDirId);
        for (const listing of listSnapshots(options.dataDir)) if (listing.file !== file) await fs.promises.rm(listing.file, { force: true });
        await options.log.compact(options.log.lastSeq);
        options.log.startAfter(shared.seq);
        return;
      } catch (error) {
        if (error instanceof ClusterMismatch) throw error;
        options.waiting?.(`cannot reach the cluster's Postgres at ${redactUrl(options.url)} (${describeError(error)}); still trying`);
        if (Date.now() > deadline) {
          options.warn(`cannot read the cluster's snapshot from ${redactUrl(options.url)} (${describeError(error)}); starting from this node's own state`);
          return;
        }
        await new Promise((resolve) => setTimeout(guarded("cluster snapshot retry", () => resolve(undefined)), Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
      }
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
