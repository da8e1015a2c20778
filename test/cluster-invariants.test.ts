// Cluster mode's invariants (issue 16), each through real node processes on one real Postgres: a hole in seq stops a node, the epoch fences appends, 503s carry Retry-After, readiness waits for the head, a restart loads the node's own snapshot, one order on every node.
import { afterEach, after, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { Client, sleep, subscribe } from "./support/realtime.ts";
import { createBookmark, request, signUp } from "./support/server.ts";
import { clusterStatus, converged, eventually, freshDatabase, leaderOf, PostgresPath, ready, startCluster, startNode, stopNodes, type ClusterNode, type TestDatabase } from "./support/cluster.ts";

const cleanups: (() => Promise<void>)[] = [];
/** Stops the nodes and drops the databases started so far, newest first. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}
after(cleanUp);

function cluster(count: number): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
  return startCluster(count, cleanups);
}

/** A fresh database and a cuttable path to it; nodes pushed onto `nodes` are stopped when the test ends. */
async function databaseBehindPath(): Promise<{ db: TestDatabase; path: PostgresPath; nodes: ClusterNode[] }> {
  const db = await freshDatabase();
  const base = new URL(db.url);
  const path = new PostgresPath({ host: base.hostname, port: Number(base.port || 5432) });
  await path.listen();
  const nodes: ClusterNode[] = [];
  cleanups.push(async () => {
    await stopNodes(nodes);
    await path.close();
    await db.drop();
  });
  return { db, path, nodes };
}

async function headSeq(db: TestDatabase): Promise<number> {
  const [row] = await db.sql<{ head: string }[]>`SELECT coalesce(max(seq), 0) AS head FROM log`;
  return Number(row!.head);
}

async function epochOf(db: TestDatabase): Promise<number> {
  const [row] = await db.sql<{ epoch: string }[]>`SELECT epoch FROM cluster_leader WHERE id = 1`;
  return Number(row!.epoch);
}

/** Waits (bounded) for a node process to end on its own; kills it and fails when it does not. */
async function exitOf(node: ClusterNode, boundMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exit = await Promise.race([node.exited, sleep(boundMs).then(() => null)]);
  if (exit === null) {
    node.child.kill("SIGCONT");
    node.child.kill("SIGKILL");
    assert.fail(`node ${node.nodeId} did not stop within ${boundMs} ms:\n${node.output().slice(-3000)}`);
  }
  return exit as { code: number | null; signal: NodeJS.Signals | null };
}

function wsOf(node: ClusterNode): string {
  return node.url.replace(/^http/, "ws") + "/ws";
}

describe("cluster mode's invariants", () => {
  afterEach(cleanUp);

  test("a hole in seq stops a follower loudly (exit code 3, the hole named); the leader, which does not read its own commits back, serves on", async () => {
    const { db, nodes } = await cluster(2);
    const leader = await leaderOf(nodes);
    const follower = nodes.find((node) => node !== leader)!;
    const token = await eventually("a sign-up", () => signUp(leader.url, "holey"));
    await createBookmark(leader.url, token, { url: "https://hole.example/before", title: "b", public: true });
    await converged(nodes);
    const appliedBefore = (await clusterStatus(follower)).applied_seq;
    follower.child.kill("SIGSTOP");
    for (let index = 0; index < 5; index += 1) await createBookmark(leader.url, token, { url: `https://hole.example/${index}`, title: "h", public: true });
    const head = await headSeq(db);
    assert.ok(head >= appliedBefore + 5, `the log grew while the follower was stopped (${appliedBefore} → ${head})`);
    // A middle row of what the follower has not read yet.
    const missing = appliedBefore + 3;
    const deleted = await db.sql`DELETE FROM log WHERE seq = ${missing}`;
    assert.equal(deleted.count, 1);
    follower.child.kill("SIGCONT");
    const exit = await exitOf(follower);
    assert.deepEqual(exit, { code: 3, signal: null }, `the follower stops with the code of a fatal error:\n${follower.output().slice(-3000)}`);
    assert.match(follower.output(), new RegExp(`the cluster's log has a hole: after seq ${missing - 1} came seq ${missing + 1}`), "it names the hole");
    assert.match(follower.output(), /cluster mode: stopping this node/);
    assert.equal(leader.child.exitCode, null, "the leader runs on");
    assert.doesNotMatch(leader.output(), /has a hole/);
    assert.equal((await clusterStatus(leader)).role, "leader");
  });

  test("fencing: an epoch bumped behind the leader's back while its append waits on the epoch row makes that append roll back and answer 503 naming the epochs; nothing is logged under the old epoch; a new lead at a higher epoch takes writes", async () => {
    const { db, nodes } = await cluster(2);
    const leader = await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(leader.url, "fenced"));
    await createBookmark(leader.url, token, { url: "https://fence.example/before", title: "b", public: true });
    await converged(nodes);
    const epoch = await epochOf(db);
    assert.equal((await clusterStatus(leader)).epoch, epoch, "the leader appends at the current epoch");
    const headBefore = await headSeq(db);

    // Another session bumps the epoch (as a new leader's take-over does) and holds the row until the leader's append waits on it.
    const fence = postgres(db.url, { max: 1, onnotice: () => {} });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let bumped: () => void = () => {};
    const isBumped = new Promise<void>((resolve) => (bumped = resolve));
    const bump = fence.begin(async (tx) => {
      await tx`UPDATE cluster_leader SET epoch = epoch + 1 WHERE id = 1`;
      bumped();
      await released;
    });
    try {
      await isBumped;
      // The leader still reads the old epoch (the bump is not committed): it appends, and its append waits on the row.
      const write = request(leader.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://fence.example/deposed", title: "d", public: true } } });
      await eventually("the leader's append to wait on the epoch row", async () => {
        const rows = await db.sql`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = ${`nasty-append-node-${leader.nodeId}`} AND wait_event_type = 'Lock'`;
        return rows.length > 0;
      }, 5000);
      release();
      await bump;
      const reply = await write;
      assert.equal(reply.status, 503, `the deposed leader's append is refused: ${reply.text}`);
      assert.match(reply.text, new RegExp(`epoch ${epoch + 1} replaced this node's epoch ${epoch}`), "the answer names the epochs");
      assert.match(reply.headers.get("retry-after") ?? "", /^[1-9]\d*$/, "with Retry-After");
    } finally {
      release();
      await bump.catch(() => {});
      await fence.end({ timeout: 1 });
    }
    assert.equal(await headSeq(db), headBefore, "no row was added to the log");
    assert.equal((await db.sql`SELECT seq FROM log WHERE payload LIKE '%fence.example/deposed%'`).length, 0, "the refused write is nowhere in the log");
    assert.equal((await db.sql`SELECT id FROM bookmarks WHERE url = 'https://fence.example/deposed'`).length, 0, "nor in the relational tables");

    // Recovery: a leader at a higher epoch, writes accepted, logged under it.
    const next = await eventually("a leader past the bumped epoch", async () => {
      const found = await leaderOf(nodes);
      return (await clusterStatus(found)).epoch > epoch + 1 ? found : null;
    });
    const saved = await eventually("a write accepted again", () => createBookmark(next.url, token, { url: "https://fence.example/after", title: "a", public: true }));
    const newer = await db.sql<{ seq: string; epoch: string }[]>`SELECT seq, epoch FROM log WHERE seq > ${headBefore} ORDER BY seq`;
    assert.ok(newer.length >= 1 && newer.every((row) => Number(row.epoch) > epoch + 1), `rows after the bump are under a newer epoch: ${JSON.stringify(newer)}`);
    await converged(nodes);
    for (const node of nodes) assert.equal((await request(node.url, "GET", `/api/bookmarks/${saved.id}`, { token })).status, 200);
    assert.equal((await request(leader.url, "GET", "/api/bookmarks?limit=50", { token })).json.data.some((bookmark: { url: string }) => bookmark.url === "https://fence.example/deposed"), false, "the refused write was not applied anywhere");
  });

  test("Postgres cut off from every node: a write to any node answers 503 with Retry-After; writes are taken again once it is back", async () => {
    const { db, path, nodes } = await databaseBehindPath();
    for (let index = 0; index < 2; index += 1) nodes.push(await startNode({ databaseUrl: path.url(db.url), nodeId: index + 1 }));
    for (const node of nodes) await ready(node);
    await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(nodes[0]!.url, "cutoff"));
    await path.cut();
    await eventually("every node to notice Postgres is gone", async () => (await Promise.all(nodes.map(clusterStatus))).every((status) => status.last_error !== null && status.role !== "leader"));
    for (const node of nodes) {
      const reply = await request(node.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: `https://down.example/${node.nodeId}`, title: "d" } } });
      assert.equal(reply.status, 503, `node ${node.nodeId}: ${reply.text}`);
      assert.match(reply.headers.get("retry-after") ?? "", /^[1-9]\d*$/, `node ${node.nodeId}'s 503 says when to try again`);
      assert.match(reply.text, /not acknowledged/);
    }
    await path.restore();
    await leaderOf(nodes);
    for (const node of nodes) await eventually(`a write through node ${node.nodeId}`, () => createBookmark(node.url, token, { url: `https://up.example/${node.nodeId}`, title: "u" }));
    await converged(nodes);
    assert.equal((await db.sql`SELECT url FROM bookmarks WHERE url LIKE 'https://down.example/%'`).length, 0, "no refused write was saved");
  });

  test("a node reports ready only once caught up: while it cannot read the log /readyz answers 503 saying it is catching up; its first 200 comes with the head applied", async () => {
    const { db, path, nodes } = await databaseBehindPath();
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 1 }));
    await ready(nodes[0]!);
    const leader = await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(leader.url, "reader"));
    // A few hundred events, quickly: creations in parallel batches.
    for (let batch = 0; batch < 15; batch += 1) {
      await Promise.all(Array.from({ length: 20 }, (_, index) => createBookmark(leader.url, token, { url: `https://late.example/${batch}/${index}`, title: "l", public: true })));
    }
    const head = await headSeq(db);
    assert.ok(head >= 300, `the log holds a few hundred events (${head})`);
    // The late node starts with Postgres out of its reach, so it listens long before it can catch up.
    await path.cut();
    const late = await startNode({ databaseUrl: path.url(db.url), nodeId: 2 });
    nodes.push(late);
    const notReady: string[] = [];
    const polls = (async () => {
      for (let round = 0; round < 100_000; round += 1) {
        const reply = await request(late.url, "GET", "/readyz");
        if (reply.status === 200) return (await clusterStatus(late)).applied_seq;
        assert.equal(reply.status, 503, reply.text);
        notReady.push(reply.text);
        if (notReady.length === 5) await path.restore();
        await sleep(20);
      }
      throw new Error("never ready");
    })();
    const applied = await Promise.race([polls, sleep(120_000).then(() => -1)]);
    assert.ok(notReady.length >= 5, `it answered 503 while it could not read the log (${notReady.length})`);
    for (const text of notReady) assert.match(text, /catching up with the cluster's log/, "each 503 says it is catching up");
    assert.ok(applied >= head, `its first 200 came with the head applied (applied seq ${applied}, head ${head})`);
    const { seq } = await converged(nodes);
    assert.equal(seq, head, "no writes meanwhile");
  });

  test("a node stopped cleanly restarts from its own snapshot, then catches up the rest from Postgres; the stores agree", async () => {
    const { db, nodes } = await cluster(3);
    const leader = await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(leader.url, "restarter"));
    for (let index = 0; index < 20; index += 1) await createBookmark(nodes[index % 3]!.url, token, { url: `https://restart.example/before/${index}`, title: "b", public: true });
    const before = await converged(nodes);
    const stopped = nodes.find((node) => node !== leader)!;
    stopped.child.kill("SIGTERM");
    assert.deepEqual(await exitOf(stopped), { code: 0, signal: null }, stopped.output().slice(-2000));
    const others = nodes.filter((node) => node !== stopped);
    for (let index = 0; index < 20; index += 1) await createBookmark(others[index % 2]!.url, token, { url: `https://restart.example/meanwhile/${index}`, title: "m", public: true });
    const head = await headSeq(db);
    const restarted = await startNode({ databaseUrl: db.url, nodeId: stopped.nodeId, dataDir: stopped.dataDir });
    nodes[nodes.indexOf(stopped)] = restarted;
    await ready(restarted);
    const snapshotName = `snapshot-${String(before.seq).padStart(16, "0")}.nasty`;
    assert.match(restarted.output(), new RegExp(`loaded ${snapshotName} in \\d+ ms, then replayed 0 events`), `it loaded the snapshot its shutdown wrote (of seq ${before.seq}) and replayed nothing:\n${restarted.output().slice(0, 3000)}`);
    const { seq, digest } = await converged(nodes);
    assert.equal(seq, head, "it caught up the rest from Postgres");
    assert.match(digest, /\S/);
    const list = await request(restarted.url, "GET", "/api/bookmarks?limit=100");
    assert.equal(list.json.data.length, 40, "it serves every bookmark");
  });

  test("bookmarks created concurrently on all three nodes reach every node's subscribers in one order, the order of seq in Postgres's log", async () => {
    const { db, nodes } = await cluster(3);
    await leaderOf(nodes);
    const clients = await Promise.all(nodes.map((node) => Client.open(wsOf(node))));
    for (const client of clients) await subscribe(client, "bookmarks:firehose");
    const token = await eventually("a sign-up", () => signUp(nodes[0]!.url, "orderly"));
    const PER_NODE = 30;
    const answers = await Promise.all(nodes.flatMap((node) => Array.from({ length: PER_NODE }, (_, index) =>
      request(node.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: `https://order.example/${node.nodeId}/${index}`, title: "o", public: true } } }))));
    assert.deepEqual(answers.filter((reply) => reply.status !== 201).map((reply) => `${reply.status} ${reply.text}`), [], "every creation acknowledged");
    const total = nodes.length * PER_NODE;
    await Promise.all(clients.map((client, index) => eventually(`node ${index + 1}'s subscriber got all ${total}`, async () => client.events("bookmarks:firehose").length >= total)));
    const rows = await db.sql<{ payload: string }[]>`SELECT payload FROM log WHERE type = 'bookmark.created' ORDER BY seq`;
    const logged = rows.map((row) => (JSON.parse(row.payload) as { id: number }).id);
    assert.equal(logged.length, total);
    assert.deepEqual([...logged].sort((a, b) => a - b), answers.map((reply) => reply.json.bookmark.data.id as number).sort((a, b) => a - b), "the log holds exactly the acknowledged creations");
    // Nothing else on its way (a barrier after the last push): each sequence is complete.
    for (const client of clients) await client.barrier();
    for (const [index, client] of clients.entries()) {
      const events = client.events("bookmarks:firehose");
      assert.deepEqual(events.map(([event]) => event), Array(total).fill("bookmark_created"), `node ${index + 1} pushed creations only`);
      assert.deepEqual(events.map(([, id]) => id), logged, `node ${index + 1}'s subscribers saw the log's seq order`);
    }
    for (const client of clients) await client.close();
  });
});
