// Deleted means erased, in cluster mode: the leader's snapshot shared through Postgres, the log cut behind it, every node's files compacted.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import type { Sql } from "postgres";
import { createBookmark, request, tempDir } from "./support/server.ts";
import { clusterStatus, converged, eventually, freshDatabase, leaderOf, PostgresPath, ready, startCluster, startNode, type ClusterNode } from "./support/cluster.ts";
import { eraseSomeOver, findInFiles, KEPT, MARKERS } from "./support/erasure.ts";
import { runCli } from "./support/cli.ts";
import { START_MS_MAX } from "./support/child-server.ts";
import { migrate, readMigrations } from "../src/log/migrate.ts";
import { currentSharedSnapshot, CutRefused, cutLog, dropUnusedSnapshot, installSharedSnapshot, SNAPSHOT_PIECE_BYTES, storeSharedSnapshot } from "../src/log/cluster-snapshots.ts";
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LENGTH } from "../src/log/snapshot-file.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** Which of `needles` occur in which table of the database: every row of every table, bytea as bytes, the rest as text. */
async function foundInRows(sql: Sql, needles: readonly string[]): Promise<string[]> {
  const tables = await sql<{ tablename: string }[]>`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
  assert.ok(tables.length >= 10, `the schema's tables are listed (${tables.length})`);
  const found = new Set<string>();
  for (const { tablename } of tables) {
    const rows = await sql.unsafe(`SELECT * FROM "${tablename}"`);
    for (const row of rows) {
      for (const value of Object.values(row as Record<string, unknown>)) {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === "string" ? value : JSON.stringify(value) ?? "", "utf8");
        for (const needle of needles) if (bytes.includes(Buffer.from(needle, "utf8"))) found.add(`${needle} in ${tablename}`);
      }
    }
  }
  return [...found].sort();
}

/**
 * Which of `needles` occur in which page of `tables`, their indexes and TOAST tables (pageinspect's
 * raw pages): dead tuples, and bytes a plain VACUUM leaves in a page's free space, show here, not in rows.
 */
async function foundInPages(sql: Sql, tables: readonly string[], needles: readonly string[]): Promise<string[]> {
  await sql`CREATE EXTENSION IF NOT EXISTS pageinspect`;
  const relations = await sql<{ name: string; pages: string }[]>`
    WITH heap AS (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY(${tables as string[]})),
      toast AS (SELECT reltoastrelid AS oid FROM pg_class WHERE oid IN (SELECT oid FROM heap) AND reltoastrelid <> 0),
      tables AS (SELECT oid FROM heap UNION SELECT oid FROM toast)
    SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_relation_size(c.oid) / current_setting('block_size')::int AS pages
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid IN (SELECT oid FROM tables) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM tables))`;
  assert.ok(relations.some((relation) => relation.name.startsWith("pg_toast.")), "TOAST tables are searched too");
  const found = new Set<string>();
  for (const relation of relations) {
    for (let block = 0; block < Number(relation.pages); block += 1) {
      const [page] = await sql<{ bytes: Buffer }[]>`SELECT get_raw_page(${relation.name}, ${block}) AS bytes`;
      for (const needle of needles) if (page!.bytes.includes(Buffer.from(needle, "utf8"))) found.add(`${needle} in ${relation.name}`);
    }
  }
  return [...found].sort();
}

describe("cluster mode erasure", () => {
  test("after the leader's snapshot, deleted things are in no Postgres row and no file of any node; a node cut off meanwhile stops, and started again, like a node added later, loads the shared snapshot and agrees", async (t) => {
    const { db, nodes } = await startCluster(2, cleanups);
    const [first, second] = nodes as [ClusterNode, ClusterNode];
    // Node 3 reaches Postgres through a path the test cuts.
    const base = new URL(db.url);
    const pathToPostgres = new PostgresPath({ host: base.hostname, port: Number(base.port || 5432) });
    await pathToPostgres.listen();
    cleanups.push(() => pathToPostgres.close());
    const away = await startNode({ databaseUrl: pathToPostgres.url(db.url), nodeId: 3 });
    nodes.push(away);
    await ready(away);
    await leaderOf(nodes);
    // Node 3 has every marker in its log, then loses Postgres before anything is deleted.
    const { keptId, alice: token } = await eraseSomeOver([first.url, second.url], async () => {
      await converged(nodes);
      assert.equal(findInFiles(away.dataDir, MARKERS).length, MARKERS.length, "the cut-off node's log holds every marker");
      await pathToPostgres.cut();
    });
    const running = [first, second];
    const leader = await leaderOf(running);
    await converged(running);
    const before = await foundInRows(db.sql, MARKERS);
    assert.deepEqual(MARKERS.filter((marker) => !before.some((line) => line.startsWith(`${marker} `))), [], `before the cut the log rows hold every marker (${before.join(", ")})`);

    const compacted = await runCli(leader.dataDir, ["compact"]);
    assert.equal(compacted.status, 0, compacted.stderr);
    assert.match(compacted.stdout, /cluster: run on the leader, this snapshot was shared through Postgres/);
    const shared = await currentSharedSnapshot(db.sql);
    assert.ok(shared, `the leader shared its snapshot and cut the log:\n${leader.output().split("\n").filter((line) => /snapshot|cut/.test(line)).join("\n")}`);
    assert.match(leader.output(), new RegExp(`shared the snapshot of seq ${shared.seq} through Postgres`));
    const status = await clusterStatus(leader);
    assert.equal(status.log_start_seq, shared.seq);
    assert.ok(status.last_cut && status.last_cut.seq === shared.seq && status.last_cut.log_rows === shared.seq - 1 && status.last_cut_error === null, JSON.stringify(status));
    t.diagnostic(`cut at seq ${shared.seq}: ${status.last_cut.log_rows} log rows, ${shared.bytes} bytes of snapshot, ${status.last_cut.ms} ms with the VACUUMs`);
    const [start] = await db.sql<{ first: string; rows: string; last: string }[]>`SELECT min(seq) AS first, count(*) AS rows, max(seq) AS last FROM log`;
    assert.equal(Number(start!.first), shared.seq, "the log starts at the shared snapshot's seq");
    assert.equal(Number(start!.rows), Number(start!.last) - shared.seq + 1, "and is dense from there");

    assert.deepEqual(await foundInRows(db.sql, MARKERS), [], "no row of any table holds a deleted thing");
    // The cluster's own tables were rewritten (VACUUM FULL): not even their pages' free space holds a deleted thing.
    const clusterTables = ["log", "cluster_requests", "cluster_snapshots", "cluster_snapshot_pieces"];
    assert.deepEqual(await foundInPages(db.sql, clusterTables, MARKERS), [], "no page of the log, the request ids or the shared snapshot (their indexes and TOAST tables) holds a deleted thing");
    const keptInPages = await foundInPages(db.sql, clusterTables, [KEPT]);
    assert.ok(keptInPages.some((line) => /cluster_snapshot_pieces|pg_toast/.test(line)), `the page search finds what stays, in the shared snapshot's pages (${keptInPages.join(", ")})`);
    const kept = await foundInRows(db.sql, [KEPT]);
    assert.ok(kept.includes(`${KEPT} in bookmarks`) && kept.includes(`${KEPT} in cluster_snapshot_pieces`), `what stays is in its table and the shared snapshot (${kept.join(", ")})`);
    for (const node of running) {
      await eventually(`node ${node.nodeId}'s files erased`, async () => findInFiles(node.dataDir, MARKERS).length === 0, 60_000).catch(() => {
        assert.deepEqual(findInFiles(node.dataDir, MARKERS), [], `node ${node.nodeId}'s data directory after the cut`);
      });
      assert.ok(findInFiles(node.dataDir, [KEPT]).length > 0, `node ${node.nodeId} still has what stays`);
    }

    // Node 3 reaches Postgres again, behind the log's start: it stops, saying why; started again it loads the shared snapshot and drops its own past.
    await pathToPostgres.restore();
    assert.deepEqual(await Promise.race([away.exited, new Promise((resolve) => setTimeout(resolve, START_MS_MAX, "still running").unref())]), { code: 3, signal: null }, away.output());
    assert.match(away.output(), new RegExp(`the log now starts at seq ${shared.seq} .*restart it and it loads that snapshot`));
    const back = await startNode({ databaseUrl: db.url, nodeId: 3, dataDir: away.dataDir });
    nodes[2] = back;
    await ready(back);
    assert.match(back.output(), new RegExp(`loading the cluster's snapshot of seq ${shared.seq}`));
    // A node added after the cut starts from nothing, through the shared snapshot.
    const late = await startNode({ databaseUrl: db.url, nodeId: 4 });
    nodes.push(late);
    await ready(late);
    assert.match(late.output(), new RegExp(`loading the cluster's snapshot of seq ${shared.seq}`));
    await createBookmark(late.url, token, { title: "after the cut", url: "https://after.example" });
    const agreed = await converged(nodes);
    assert.ok(agreed.seq > shared.seq, "every node, loaded or folded, applied past the cut with equal stores");
    for (const node of [back, late]) {
      assert.deepEqual(findInFiles(node.dataDir, MARKERS), [], `node ${node.nodeId} holds no deleted thing`);
      assert.equal((await request(node.url, "GET", `/api/bookmarks/${keptId}`)).status, 200, `node ${node.nodeId} serves what stays`);
    }
  });

  test("only the current leader cuts: after a new epoch the old leader's cut is refused and the log stays whole; the shared snapshot goes in pieces, checked when loaded", async () => {
    const db = await freshDatabase();
    cleanups.push(() => db.drop());
    await migrate(db.sql, readMigrations());
    await db.sql`UPDATE cluster_leader SET epoch = 1, node = 1 WHERE id = 1`;
    for (let seq = 1; seq <= 10; seq += 1) await db.sql`INSERT INTO log (seq, epoch, type, v, ts, node, payload) VALUES (${seq}, 1, 'user.created', 1, ${Date.now()}, 1, '{}')`;
    // A snapshot file of a bit more than one piece: a header of this build's version (seq 10, another data directory), then bytes.
    const dir = tempDir();
    const file = path.join(dir, "shared.nasty");
    const header = Buffer.alloc(SNAPSHOT_HEADER_LENGTH, " ");
    header.write(JSON.stringify({ format: "nasty-snapshot", version: SNAPSHOT_FORMAT_VERSION, seq: 10, data_dir_id: "the-leaders-dir", created_at: 0, sections: [] }));
    header[SNAPSHOT_HEADER_LENGTH - 1] = 0x0a;
    const body = crypto.randomBytes(SNAPSHOT_PIECE_BYTES + 1000);
    fs.writeFileSync(file, Buffer.concat([header, body]));
    const stored = await storeSharedSnapshot(db.sql, file, 10, 1, 1);
    assert.equal(stored.pieces, 2);

    // Node 2 took the lead (epoch 2) while node 1 still meant to cut at epoch 1.
    await db.sql`UPDATE cluster_leader SET epoch = 2, node = 2 WHERE id = 1`;
    await assert.rejects(cutLog(db.sql, 10, 1), CutRefused);
    const [whole] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM log`;
    assert.equal(Number(whole!.n), 10, "the deposed leader deleted nothing");
    assert.equal(await currentSharedSnapshot(db.sql), null, "and made nothing current");
    // It then drops what it stored (a snapshot never made current would outlive later cuts); the new leader stores its own.
    await dropUnusedSnapshot(db.sql, 10);
    assert.equal((await db.sql`SELECT seq FROM cluster_snapshot_pieces`).length, 0);
    await storeSharedSnapshot(db.sql, file, 10, 2, 2);

    const cut = await cutLog(db.sql, 10, 2);
    assert.deepEqual(cut, { logRows: 9, requests: 0, snapshots: 0 });
    assert.equal(await cutLog(db.sql, 10, 2), null, "cutting again at the same seq does nothing");
    const shared = (await currentSharedSnapshot(db.sql))!;
    const into = tempDir();
    const installed = await installSharedSnapshot(db.sql, shared, into, "this-nodes-dir");
    const bytes = fs.readFileSync(installed);
    assert.equal(path.basename(installed), "snapshot-0000000000000010.nasty");
    assert.match(bytes.toString("utf8", 0, SNAPSHOT_HEADER_LENGTH), /"data_dir_id":"this-nodes-dir"/);
    assert.ok(bytes.subarray(SNAPSHOT_HEADER_LENGTH).equals(body), "the body arrives byte for byte");

    // One flipped byte in the second piece: refused, and nothing is left in the directory.
    await db.sql`UPDATE cluster_snapshot_pieces SET data = set_byte(data, 5, get_byte(data, 5) # 1) WHERE seq = 10 AND piece = 1`;
    const damaged = tempDir();
    await assert.rejects(installSharedSnapshot(db.sql, shared, damaged, "this-nodes-dir"), /does not match its checksum/);
    assert.deepEqual(fs.readdirSync(damaged), []);
  });
});
