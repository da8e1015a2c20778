// Moving a single node into a cluster: a cluster node refuses a database a single node flushed into, and `cluster init` seeds it so the cluster serves all of the single node's data.
import { after, afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import type { Sql } from "postgres";
import { createBookmark, request, signUp, tempDir } from "./support/server.ts";
import { converged, eventually, freshDatabase, leaderOf, ready, SECRET, startNode, stopNodes, type ClusterNode, type TestDatabase } from "./support/cluster.ts";
import { spawnServer } from "./support/child-server.ts";
import { runCli, startServerProcess, type ServerProcess } from "./support/cli.ts";

const cleanups: (() => Promise<void>)[] = [];
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}
after(cleanUp);

async function database(): Promise<TestDatabase> {
  const db = await freshDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function singleNode(dataDir: string, env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess(dataDir, { NASTY_NODE_ID: "1", NASTY_FLUSH_INTERVAL_MS: "5", NASTY_FLUSH_BACKOFF_MAX_MS: "40", ...env });
  cleanups.push(() => server.stop());
  return server;
}

async function flushedAll(base: string): Promise<number> {
  return eventually("the single node's flush caught up", async () => {
    const status = (await request(base, "GET", "/api/status")).json;
    return status.flush.flushed_seq === status.events.last_seq && status.flush.last_error === null ? (status.events.last_seq as number) : null;
  });
}

/** A cluster node on `dataDir` that must refuse to start: its exit code and output. */
async function refusedNode(db: TestDatabase, nodeId: number, dataDir: string): Promise<{ code: number | null; output: string }> {
  const server = spawnServer(dataDir, {
    env: {
      PORT: "0", DATABASE_URL: db.url, NASTY_CLUSTER: "on", NASTY_NODE_ID: String(nodeId), NASTY_CLUSTER_URL: "http://127.0.0.1:9", NASTY_CLUSTER_SECRET: SECRET,
      NASTY_CLUSTER_LEASE_MS: "2000", NASTY_CLUSTER_TAIL_MS: "200",
    },
    startMsMax: 120_000,
  });
  const timer = setTimeout(() => server.child.kill("SIGKILL"), 120_000);
  const { code } = await server.exited;
  clearTimeout(timer);
  return { code, output: server.output() };
}

/** The relational tables as rows to compare (the sign-up setting without its updated_at: cluster init's own event sets it). */
async function relational(sql: Sql): Promise<Record<string, unknown[]>> {
  const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;
  const queries: Record<string, string> = {
    users: `SELECT id::float8 AS id, username, password_hash, ${ms("inserted_at")} AS inserted_at, role, suspended FROM users ORDER BY id`,
    tokens: `SELECT id::float8 AS id, user_id::float8 AS user_id, hash, kind, name, ${ms("inserted_at")} AS inserted_at, ${ms("expires_at")} AS expires_at FROM tokens ORDER BY id`,
    bookmarks: `SELECT id::float8 AS id, user_id::float8 AS user_id, url, title, description, notes, public, unread, ${ms("inserted_at")} AS inserted_at, ${ms("updated_at")} AS updated_at FROM bookmarks ORDER BY id`,
    tags: `SELECT bt.bookmark_id::float8 AS bookmark_id, t.name, bt.position FROM bookmark_tags bt JOIN tags t ON t.id = bt.tag_id ORDER BY bt.bookmark_id, bt.position`,
    tagNames: "SELECT name FROM tags ORDER BY name",
    comments: `SELECT id::float8 AS id, bookmark_id::float8 AS bookmark_id, user_id::float8 AS user_id, body, ${ms("inserted_at")} AS inserted_at FROM comments ORDER BY id`,
    invites: `SELECT id::float8 AS id, hash, created_by::float8 AS created_by, ${ms("inserted_at")} AS inserted_at FROM invites ORDER BY id`,
    settings: "SELECT name, value FROM settings ORDER BY name",
    positions: "SELECT node, seq::float8 AS seq FROM flush_positions",
  };
  const rows: Record<string, unknown[]> = {};
  for (const [name, query] of Object.entries(queries)) rows[name] = [...(await sql.unsafe(query))].map((row) => ({ ...row }));
  return rows;
}

async function token(node: ClusterNode, username: string, password: string): Promise<string> {
  const reply = await request(node.url, "POST", "/api/tokens", { body: { username, password } });
  assert.equal(reply.status, 201, `node ${node.nodeId}: ${username} logs in with the password set on the single node: ${reply.text}`);
  return reply.json.token as string;
}

describe("moving a single node into a cluster", () => {
  afterEach(cleanUp);

  test("a cluster node refuses the database a single node flushed into; cluster init seeds it; three nodes serve everything and take new writes", async () => {
    const db = await database();
    const dataDir = tempDir("nasty-single-");
    const single = await singleNode(dataDir, { DATABASE_URL: db.url });
    const alice = await signUp(single.url, "alice", "alice's password");
    const bob = await signUp(single.url, "bob", "bob's password");
    const shared = await createBookmark(single.url, alice, { url: "https://example.com/shared", title: "Shared", tags: ["moving", "cluster"], public: true });
    const secret = await createBookmark(single.url, alice, { url: "https://example.com/secret", title: "Alice's secret", public: false });
    assert.equal((await request(single.url, "POST", `/api/bookmarks/${shared.id}/comments`, { token: bob, body: { body: "welcome to the cluster" } })).status, 201);
    await flushedAll(single.url);
    // Compacted behind the flush: the log's last event is gone from the log (and from Postgres's events table).
    const compacted = await runCli(dataDir, ["compact"], { env: { DATABASE_URL: db.url } });
    assert.equal(compacted.status, 0, compacted.stderr);
    const later = await createBookmark(single.url, bob, { url: "https://example.com/later", title: "After the compaction", tags: ["late"], public: true });
    await flushedAll(single.url);

    const whileRunning = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: db.url } });
    assert.equal(whileRunning.status, 2, whileRunning.stdout + whileRunning.stderr);
    assert.match(whileRunning.stderr, /a running server is using this data directory; stop it first/);
    await single.stop();

    // The guard: on an empty data folder and on the single node's own, a cluster node stops, naming the way out; nothing is written.
    for (const [nodeId, folder] of [[2, tempDir("nasty-cluster-")], [1, dataDir]] as const) {
      const refused = await refusedNode(db, nodeId, folder);
      assert.equal(refused.code, 3, refused.output);
      assert.match(refused.output, /has no cluster log yet but holds a single node's data \(node 1's flush position at seq \d+/, refused.output);
      assert.match(refused.output, /npm run nasty -- cluster init/);
      assert.doesNotMatch(refused.output, /which the cluster's log does not have/);
    }
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM log`)[0]!.n, 0);
    assert.equal((await db.sql`SELECT epoch::int FROM cluster_leader`)[0]!.epoch, 0, "no node took the lead of the unseeded database");

    const noDatabase = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: "" } });
    assert.equal(noDatabase.status, 2);
    assert.match(noDatabase.stderr, /cluster init needs DATABASE_URL/);
    const init = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: db.url } });
    assert.equal(init.status, 0, init.stdout + init.stderr);
    const seq = Number(/cluster seeded at seq (\d+)/.exec(init.stdout)?.[1]);
    assert.match(init.stdout, /the relational tables were flushed through seq \d+ by the single node/);
    const [start] = await db.sql<{ seq: number; current: boolean }[]>`SELECT seq::int, current FROM cluster_snapshots`;
    assert.deepEqual(start, { seq, current: true });
    assert.deepEqual((await db.sql`SELECT seq::int FROM log`).map((row) => row.seq), [seq], "the log starts with the row at the snapshot's seq");
    assert.equal((await db.sql`SELECT seq::int FROM flush_positions WHERE node = 1`)[0]!.seq, seq, "the relational tables stand for the snapshot's seq");
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM events`)[0]!.n, 0, "the single node's events left the events table (the snapshot holds them)");
    const again = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: db.url } });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /already holds a cluster's log/);

    const nodes: ClusterNode[] = [];
    cleanups.push(() => stopNodes(nodes));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 1, dataDir }));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 2 }));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 3 }));
    for (const node of nodes) await ready(node);
    const leader = await leaderOf(nodes);
    await converged(nodes);

    for (const node of nodes) {
      const aliceHere = await token(node, "alice", "alice's password");
      const bobHere = await token(node, "bob", "bob's password");
      assert.equal((await request(node.url, "GET", `/api/bookmarks/${secret.id}`, { token: aliceHere })).status, 200, `node ${node.nodeId}: alice reads her private bookmark`);
      assert.equal((await request(node.url, "GET", `/api/bookmarks/${secret.id}`, { token: bobHere })).status, 404, `node ${node.nodeId}: the private bookmark stays private`);
      assert.equal((await request(node.url, "GET", `/api/bookmarks/${secret.id}`)).status, 404);
      const publicOne = await request(node.url, "GET", `/api/bookmarks/${shared.id}`);
      assert.equal(publicOne.status, 200, publicOne.text);
      assert.deepEqual(publicOne.json.data.tags, ["moving", "cluster"]);
      assert.equal((await request(node.url, "GET", `/api/bookmarks/${later.id}`)).json?.data?.title, "After the compaction");
      const comments = await request(node.url, "GET", `/api/bookmarks/${shared.id}/comments`);
      assert.deepEqual(comments.json.data.map((comment: { body: string }) => comment.body), ["welcome to the cluster"], comments.text);
    }

    // New writes, on a follower and on the leader: no collision with the rows the single node flushed.
    const follower = nodes.find((node) => node !== leader)!;
    const again409 = await request(follower.url, "POST", "/api/users", { body: { user: { username: "bob", password: "another password" } } });
    assert.ok(again409.status >= 400 && again409.status < 500, `a second bob is refused as taken, not a 503: ${again409.status} ${again409.text}`);
    const carol = await signUp(follower.url, "carol", "carol's password");
    const carols = await createBookmark(follower.url, carol, { url: "https://example.com/carol", title: "Carol's", tags: ["cluster"], public: true });
    const alices = await createBookmark(leader.url, await token(leader, "alice", "alice's password"), { url: "https://example.com/new", title: "New", public: false });
    assert.equal((await request(leader.url, "POST", `/api/bookmarks/${shared.id}/comments`, { token: carol, body: { body: "hello from carol" } })).status, 201);
    await converged(nodes);
    for (const node of nodes) assert.equal((await request(node.url, "GET", `/api/bookmarks/${carols.id}`)).status, 200);
    assert.deepEqual((await db.sql`SELECT username FROM users ORDER BY username`).map((row) => row.username), ["alice", "bob", "carol"]);
    const rows = await db.sql<{ id: string; public: boolean }[]>`SELECT id::text, public FROM bookmarks ORDER BY id`;
    assert.deepEqual(rows.map((row) => [Number(row.id), row.public]).sort(), [[shared.id, true], [secret.id, false], [later.id, true], [carols.id, true], [alices.id, false]].sort());
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM comments`)[0]!.n, 2);
    assert.deepEqual((await db.sql`SELECT t.name FROM tags t JOIN bookmark_tags bt ON bt.tag_id = t.id WHERE bt.bookmark_id = ${shared.id} ORDER BY bt.position`).map((row) => row.name), ["moving", "cluster"]);
    for (const node of nodes) assert.equal(node.child.exitCode, null, `node ${node.nodeId} still runs: ${node.output().slice(-2000)}`);
  });

  test("a single node that never flushed (log compacted at its stop): cluster init fills an empty database's relational tables from its state; a node on an empty folder serves it", async () => {
    const db = await database();
    const dataDir = tempDir("nasty-single-");
    const single = await singleNode(dataDir, {});
    const dana = await signUp(single.url, "dana", "dana's password");
    const erin = await signUp(single.url, "erin", "erin's password");
    const hidden = await createBookmark(single.url, dana, { url: "https://example.com/dana", title: "Dana's", tags: ["solo", "first"], public: false });
    const open = await createBookmark(single.url, erin, { url: "https://example.com/erin", title: "Erin's", tags: ["solo"], public: true });
    assert.equal((await request(single.url, "POST", `/api/bookmarks/${open.id}/comments`, { token: dana, body: { body: "nice one" } })).status, 201);
    assert.equal((await request(single.url, "PATCH", `/api/bookmarks/${open.id}`, { token: erin, body: { title: "Erin's, renamed" } })).status, 200);
    await single.stop();
    const init = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: db.url } });
    assert.equal(init.status, 0, init.stdout + init.stderr);
    assert.match(init.stdout, /the relational tables were filled from this node's state at seq \d+: 2 users, 2 bookmarks, 1 comments/);
    assert.deepEqual((await db.sql`SELECT username, role FROM users ORDER BY username`).map((row) => [row.username, row.role]), [["dana", "admin"], ["erin", "member"]]);
    assert.deepEqual((await db.sql`SELECT id::float8 AS id, title, public FROM bookmarks ORDER BY id`).map((row) => [row.id, row.title, row.public]), [[hidden.id, "Dana's", false], [open.id, "Erin's, renamed", true]]);
    assert.deepEqual((await db.sql`SELECT t.name FROM tags t JOIN bookmark_tags bt ON bt.tag_id = t.id WHERE bt.bookmark_id = ${hidden.id} ORDER BY bt.position`).map((row) => row.name), ["solo", "first"]);
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM tokens`)[0]!.n, 2, "the sign-up tokens");
    assert.deepEqual((await db.sql`SELECT body FROM comments`).map((row) => row.body), ["nice one"]);

    const nodes: ClusterNode[] = [];
    cleanups.push(() => stopNodes(nodes));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 5 }));
    await ready(nodes[0]!);
    await leaderOf(nodes);
    const node = nodes[0]!;
    // The token handed out at sign-up on the single node still works on the cluster.
    assert.equal((await request(node.url, "GET", `/api/bookmarks/${hidden.id}`, { token: dana })).json?.data?.title, "Dana's");
    const erinHere = await token(node, "erin", "erin's password");
    assert.equal((await request(node.url, "GET", `/api/bookmarks/${hidden.id}`, { token: erinHere })).status, 404);
    assert.equal((await request(node.url, "POST", "/api/users", { body: { user: { username: "erin", password: "another password" } } })).status < 500, true);
    const frank = await signUp(node.url, "frank", "frank's password");
    await createBookmark(node.url, frank, { url: "https://example.com/frank", title: "Frank's", tags: ["solo"], public: true });
    assert.equal((await request(node.url, "POST", `/api/bookmarks/${open.id}/comments`, { token: frank, body: { body: "me too" } })).status, 201);
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM bookmarks`)[0]!.n, 3);
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM comments`)[0]!.n, 2);
    assert.equal(node.child.exitCode, null, node.output().slice(-2000));
  });

  test("filled from the state, the relational tables hold what the single node's flush wrote: two copies of one data folder, one init on the database it flushed into, one on an empty database", async () => {
    const flushedDb = await database();
    const emptyDb = await database();
    const dataDir = tempDir("nasty-single-");
    const single = await singleNode(dataDir, { DATABASE_URL: flushedDb.url });
    const alice = await signUp(single.url, "alice", "alice's password");
    const bob = await signUp(single.url, "bob", "bob's password");
    await signUp(single.url, "carol", "carol's password");
    const first = await createBookmark(single.url, alice, { url: "https://example.com/1", title: "One", description: "first", tags: ["a", "b"], public: true });
    await createBookmark(single.url, alice, { url: "https://example.com/2", title: "Two", tags: ["b"], public: false, unread: true });
    const gone = await createBookmark(single.url, bob, { url: "https://example.com/3", title: "Three", tags: ["c"], public: true });
    assert.equal((await request(single.url, "DELETE", `/api/bookmarks/${gone.id}`, { token: bob })).status, 204);
    assert.equal((await request(single.url, "PATCH", `/api/bookmarks/${first.id}`, { token: alice, body: { title: "One, renamed", tags: ["b", "d"], notes: "*noted*" } })).status, 200);
    const kept = await request(single.url, "POST", `/api/bookmarks/${first.id}/comments`, { token: bob, body: { body: "kept" } });
    const dropped = await request(single.url, "POST", `/api/bookmarks/${first.id}/comments`, { token: bob, body: { body: "dropped" } });
    assert.equal(kept.status, 201);
    assert.equal((await request(single.url, "DELETE", `/api/comments/${dropped.json.comment.data.id}`, { token: bob })).status, 204);
    assert.equal((await request(single.url, "POST", "/api/admin/users/carol/suspend", { token: alice })).status, 204);
    assert.equal((await request(single.url, "PUT", "/api/admin/users/bob/role", { token: alice, body: { role: "admin" } })).status, 204);
    assert.equal((await request(single.url, "POST", "/api/tokens", { body: { username: "bob", password: "bob's password", name: "laptop" } })).status, 201);
    assert.equal((await request(single.url, "POST", "/api/me/password", { token: alice, body: { current_password: "alice's password", new_password: "alice's new password" } })).status, 204);
    for (const args of [["signup", "invite"], ["invite"], ["invite"]]) {
      const ran = await runCli(dataDir, args);
      assert.equal(ran.status, 0, ran.stderr);
    }
    await flushedAll(single.url);
    await single.stop();
    const copy = tempDir("nasty-copy-");
    fs.cpSync(dataDir, copy, { recursive: true });

    const viaFlush = await runCli(dataDir, ["cluster", "init"], { env: { DATABASE_URL: flushedDb.url } });
    assert.equal(viaFlush.status, 0, viaFlush.stdout + viaFlush.stderr);
    assert.match(viaFlush.stdout, /flushed through seq \d+ by the single node/);
    const viaState = await runCli(copy, ["cluster", "init"], { env: { DATABASE_URL: emptyDb.url } });
    assert.equal(viaState.status, 0, viaState.stdout + viaState.stderr);
    assert.match(viaState.stdout, /filled from this node's state/);
    const flushed = await relational(flushedDb.sql);
    assert.equal(flushed.users!.length, 3);
    assert.equal(flushed.invites!.length, 2);
    assert.equal(flushed.comments!.length, 1);
    assert.deepEqual(await relational(emptyDb.sql), flushed);
  });
});
