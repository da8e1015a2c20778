// Cluster mode's safety at the edges: the listening connection comes back after a long cut, a leader whose lock session ended stops leading, a data directory of another cluster is refused.
import { after, afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import Database from "better-sqlite3";
import { Client, subscribe, sleep } from "./support/realtime.ts";
import { createBookmark, request, signUp } from "./support/server.ts";
import { spawnServer } from "./support/child-server.ts";
import { OpenApiChecker } from "./support/openapi.ts";
import { clusterStatus, converged, eventually, freshDatabase, LEASE_MS, leaderOf, PostgresPath, ready, SECRET, startNode, stopNodes, type ClusterNode, type TestDatabase } from "./support/cluster.ts";

const cleanups: (() => Promise<void>)[] = [];
/** Stops the nodes and drops the databases started so far, newest first. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}
after(cleanUp);

/** A fresh database whose nodes (pushed onto `nodes`) are stopped, and the database dropped, when the test ends. */
async function database(): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
  const db = await freshDatabase();
  const nodes: ClusterNode[] = [];
  cleanups.push(async () => {
    await stopNodes(nodes);
    await db.drop();
  });
  return { db, nodes };
}

function wsOf(node: ClusterNode): string {
  return node.url.replace(/^http/, "ws") + "/ws";
}

/**
 * A leader and a follower reaching Postgres through a PostgresPath, its timer tail off (only
 * notifications, and what it does itself to keep them coming, deliver to it). `trouble` breaks the
 * path; the leader writes meanwhile; after the step `trouble` returned, the follower must catch up
 * and a new bookmark must reach a websocket subscriber on it. Returns the follower.
 */
async function notifiedFollower(name: string, trouble: (path: PostgresPath) => Promise<() => Promise<void>>): Promise<ClusterNode> {
  const { db, nodes } = await database();
  const base = new URL(db.url);
  const path = new PostgresPath({ host: base.hostname, port: Number(base.port || 5432) });
  await path.listen();
  cleanups.push(() => path.close());
  const leader = await startNode({ databaseUrl: db.url, nodeId: 1 });
  nodes.push(leader);
  await ready(leader);
  assert.equal(await leaderOf([leader]), leader);
  const follower = await startNode({ databaseUrl: path.url(db.url), nodeId: 2, env: { NASTY_CLUSTER_TAIL_MS: "600000" } });
  nodes.push(follower);
  await ready(follower);
  const token = await signUp(leader.url, name);
  await createBookmark(leader.url, token, { url: `https://${name}.example/before`, title: "before", public: true });
  await converged(nodes);

  const mend = await trouble(path);
  for (let index = 0; index < 3; index += 1) await createBookmark(leader.url, token, { url: `https://${name}.example/during/${index}`, title: "during", public: true });
  await mend();
  const head = (await clusterStatus(leader)).applied_seq;
  await eventually("the follower to catch up", async () => (await clusterStatus(follower)).applied_seq >= head, 30_000);
  const client = await Client.open(wsOf(follower));
  await subscribe(client, "bookmarks:firehose");
  const bookmark = await createBookmark(leader.url, token, { url: `https://${name}.example/after`, title: "after", public: true });
  // Bounded and generous, not a speed check: without a working listening connection nothing would deliver it for ten minutes.
  await eventually("the follower's subscriber to get the new bookmark", async () => client.events("bookmarks:firehose").some(([, id]) => id === bookmark.id), 5000);
  await client.close();
  assert.equal(follower.child.exitCode, null, "the follower kept running");
  return follower;
}

describe("cluster safety", () => {
  afterEach(cleanUp);

  test("a follower cut off from Postgres for longer than two leases, its timer tail off, listens again: notifications reach it afterwards", async () => {
    await notifiedFollower("listener", async (path) => {
      await path.cut();
      // Longer than two leases, and than one connect_timeout of the listening connection.
      await sleep(Math.max(8000, LEASE_MS * 4));
      return () => path.restore();
    });
  });

  test("a follower whose listening connection silently stops delivering, its timer tail off, listens again on a new one: notifications reach it", async () => {
    const follower = await notifiedFollower("frozen", async (path) => {
      // The connection that sent LISTEN stays open but passes nothing (a firewall that forgot it): nobody tells the follower.
      await path.freeze('listen "nasty_log"');
      return async () => {};
    });
    assert.match(follower.output(), /listening for the cluster's notifications again/);
  });

  test("a leader whose lock session is ended stops leading at once and leads again only under a new epoch; nothing is committed under the old one after", async () => {
    const { db, nodes } = await database();
    const node = await startNode({ databaseUrl: db.url, nodeId: 1 });
    nodes.push(node);
    await ready(node);
    await leaderOf(nodes);
    const token = await signUp(node.url, "fenced");
    await createBookmark(node.url, token, { url: "https://fence.example/0", title: "0", public: true });
    const before = await clusterStatus(node);
    assert.equal(before.role, "leader");
    const epoch = before.leader!.epoch;
    assert.equal(before.epoch, epoch, "status epoch is the cluster's current epoch");
    assert.equal(before.led_epoch, epoch, "led_epoch: the epoch this node leads at");
    const [{ head }] = (await db.sql<{ head: string }[]>`SELECT coalesce(max(seq), 0) AS head FROM log`) as unknown as [{ head: string }];

    // /api/status of a cluster node is described by docs/openapi.yaml, its cluster part included.
    const checker = new OpenApiChecker();
    const answered = await request(node.url, "GET", "/api/status");
    assert.equal(checker.check({ method: "GET", path: "/api/status", status: answered.status, contentType: answered.headers.get("content-type") ?? "", text: answered.text }), null);

    const ended = await db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'nasty-lead-node-1'`;
    assert.equal(ended.length, 1, "the leader's lock session was ended");
    // Nobody holds the lock now: a write right away must not commit under the old epoch.
    const right = await request(node.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://fence.example/1", title: "1", public: true } } });
    assert.ok(right.status === 503 || right.status === 201, `${right.status} ${right.text}`);
    const after = await eventually("a write committed again", async () => {
      const reply = await request(node.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://fence.example/2", title: "2", public: true } } });
      return reply.status === 201 ? reply : null;
    }, 30_000);
    assert.ok(after);
    const status = await clusterStatus(node);
    assert.equal(status.role, "leader");
    assert.ok(status.leader!.epoch > epoch, `leading again under a new epoch (${status.leader!.epoch} > ${epoch})`);
    assert.equal(status.epoch, status.leader!.epoch);
    const rows = await db.sql<{ seq: string; epoch: string }[]>`SELECT seq, epoch FROM log WHERE seq > ${head} ORDER BY seq`;
    assert.ok(rows.length > 0);
    for (const row of rows) assert.ok(Number(row.epoch) > epoch, `seq ${row.seq} was committed at epoch ${row.epoch}, after epoch ${epoch}'s lock was gone`);
    assert.match(node.output(), /no longer leading/);
  });

  test("a data directory from before cluster ids takes its cluster's id at its next start, its log matching the cluster's", async () => {
    const { db, nodes } = await database();
    const node = await startNode({ databaseUrl: db.url, nodeId: 1 });
    nodes.push(node);
    await ready(node);
    await leaderOf(nodes);
    const token = await signUp(node.url, "veteran");
    const bookmark = await createBookmark(node.url, token, { url: "https://veteran.example/", title: "kept", public: true });
    const [row] = await db.sql<{ cluster_id: string }[]>`SELECT cluster_id::text FROM cluster_leader`;
    const clusterIdOf = (dataDir: string) => {
      const sqlite = new Database(path.join(dataDir, "events.sqlite3"));
      try {
        return (sqlite.prepare("SELECT value FROM meta WHERE key = 'cluster_id'").pluck().get() as string | undefined) ?? null;
      } finally {
        sqlite.close();
      }
    };
    node.child.kill("SIGTERM");
    assert.deepEqual(await node.exited, { code: 0, signal: null }, node.output());
    assert.equal(clusterIdOf(node.dataDir), row!.cluster_id, "the id recorded when it joined");
    // As a data directory of a node deployed before cluster ids.
    const sqlite = new Database(path.join(node.dataDir, "events.sqlite3"));
    sqlite.prepare("DELETE FROM meta WHERE key = 'cluster_id'").run();
    sqlite.close();
    const again = await startNode({ databaseUrl: db.url, nodeId: 1, dataDir: node.dataDir });
    nodes.push(again);
    await ready(again);
    assert.match(again.output(), new RegExp(`this data directory now belongs to cluster ${row!.cluster_id}`));
    assert.equal((await request(again.url, "GET", `/api/bookmarks/${bookmark.id}`, { token })).status, 200);
    assert.equal(clusterIdOf(node.dataDir), row!.cluster_id, "recorded again");
  });

  test("a node stopped cleanly in one cluster and started on another cluster's database with as many events stops, naming both clusters; that cluster is unchanged", async () => {
    const x = await database();
    const y = await database();
    const build = async (db: TestDatabase, nodes: ClusterNode[], name: string) => {
      const node = await startNode({ databaseUrl: db.url, nodeId: 1 });
      nodes.push(node);
      await ready(node);
      await leaderOf([node]);
      const token = await signUp(node.url, name);
      for (let index = 0; index < 3; index += 1) await createBookmark(node.url, token, { url: `https://${name}.example/${index}`, title: name, public: true });
      return node;
    };
    const nodeX = await build(x.db, x.nodes, "xavier");
    const nodeY = await build(y.db, y.nodes, "yolanda");
    const seqX = (await clusterStatus(nodeX)).applied_seq;
    assert.equal((await clusterStatus(nodeY)).applied_seq, seqX, "both clusters hold as many events");
    const [idX] = await x.db.sql<{ cluster_id: string }[]>`SELECT cluster_id::text FROM cluster_leader`;
    const [idY] = await y.db.sql<{ cluster_id: string }[]>`SELECT cluster_id::text FROM cluster_leader`;
    assert.notEqual(idX!.cluster_id, idY!.cluster_id);
    const logX = await x.db.sql`SELECT seq, epoch, type, ts, node, payload FROM log ORDER BY seq`;
    const leaderX = await x.db.sql`SELECT epoch, node, url FROM cluster_leader`;

    // A clean stop: the node snapshots and compacts its log to nothing.
    nodeY.child.kill("SIGTERM");
    assert.deepEqual(await nodeY.exited, { code: 0, signal: null }, nodeY.output());
    const stray = spawnServer(nodeY.dataDir, {
      env: { DATABASE_URL: x.db.url, NASTY_CLUSTER: "on", NASTY_NODE_ID: "2", NASTY_CLUSTER_URL: "http://127.0.0.1:1", NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: String(LEASE_MS), NASTY_CLUSTER_TAIL_MS: "200" },
    });
    const exit = await Promise.race([stray.exited, sleep(120_000).then(() => null)]);
    if (exit === null) stray.child.kill("SIGKILL");
    assert.deepEqual(exit, { code: 3, signal: null }, `the stray node stops: ${stray.output()}`);
    assert.match(stray.output(), new RegExp(`belongs to cluster ${idY!.cluster_id}.*${idX!.cluster_id}.*empty data directory`));
    assert.deepEqual(await x.db.sql`SELECT seq, epoch, type, ts, node, payload FROM log ORDER BY seq`, logX, "cluster X's log is unchanged");
    assert.deepEqual(await x.db.sql`SELECT epoch, node, url FROM cluster_leader`, leaderX, "cluster X's leader is unchanged");
    assert.equal((await clusterStatus(nodeX)).role, "leader");
  });
});
