// Cluster mode against a real Postgres: three or more node processes on loopback, one log, one leader.
import { after, afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Client, subscribe } from "./support/realtime.ts";
import { createBookmark, request, signUp, tempDir } from "./support/server.ts";
import { clusterStatus, converged, freshDatabase, leaderOf, ready, startCluster, startNode, stopNodes, eventually, PostgresPath, SECRET, type ClusterNode, type TestDatabase } from "./support/cluster.ts";
import { sleep } from "./support/realtime.ts";
import { loggedFor, Writers } from "./support/cluster-writers.ts";
import { spawnServer } from "./support/child-server.ts";
import { loadConfig, ConfigError } from "../src/config.ts";

const cleanups: (() => Promise<void>)[] = [];
/** Stops the nodes and drops the databases started so far, newest first. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}
after(cleanUp);

function cluster(count: number): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
  return startCluster(count, cleanups);
}

/** A fresh database and a cuttable path to it (PostgresPath), both dropped after the suite; nodes pushed onto `nodes` are stopped first. */
async function databaseBehindPath(): Promise<{ db: TestDatabase; path: PostgresPath; base: URL; nodes: ClusterNode[] }> {
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
  return { db, path, base, nodes };
}

function wsOf(node: ClusterNode): string {
  return node.url.replace(/^http/, "ws") + "/ws";
}

describe("cluster mode", () => {
  // Each test's nodes go when it ends: kept to the end of the suite, 24 node processes ran at
  // once on two cores (about 145 Postgres connections) and a later test's node could not start.
  afterEach(cleanUp);

  test("a bookmark created on any node reaches subscribers on every node, in the same order on all; reads see own writes on any node", async () => {
    const { db, nodes } = await cluster(3);
    const leader = await leaderOf(nodes);
    const clients = await Promise.all(nodes.map((node) => Client.open(wsOf(node))));
    for (const client of clients) await subscribe(client, "bookmarks:firehose");
    const token = await signUp(nodes[1]!.url, "alice");
    const created: number[] = [];
    for (let index = 0; index < 30; index += 1) {
      const node = nodes[index % nodes.length]!;
      const bookmark = await createBookmark(node.url, token, { url: `https://example.com/${index}`, title: `t${index}`, public: true });
      created.push(bookmark.id);
      // Read your writes on the node asked, follower or leader.
      const read = await request(node.url, "GET", `/api/bookmarks/${bookmark.id}`, { token });
      assert.equal(read.status, 200, `node ${node.nodeId} (leader ${leader.nodeId}) reads back bookmark ${bookmark.id}: ${read.text}`);
    }
    await Promise.all(clients.map((client, index) => eventually(`node ${index + 1}'s subscriber got all 30`, async () => client.events("bookmarks:firehose").length >= 30)));
    const orders = clients.map((client) => client.events("bookmarks:firehose").map(([, id]) => id));
    for (const order of orders) assert.deepEqual(order, created);
    // Notes changed through a follower: the leader's transaction writes the row, every node folds the event.
    const notes = "# On every node\n\n- ü *kept*";
    const follower = nodes.find((node) => node.nodeId !== leader.nodeId)!;
    const patched = await request(follower.url, "PATCH", `/api/bookmarks/${created[0]}`, { token, body: { notes } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.bookmark.data.notes, notes, "read your write on the follower");
    for (const node of nodes) await eventually(`node ${node.nodeId} has the notes`, async () => (await request(node.url, "GET", `/api/bookmarks/${created[0]}`)).json?.data?.notes === notes);
    assert.deepEqual((await db.sql`SELECT notes FROM bookmarks WHERE id = ${created[0]!}`).map((row) => row.notes), [notes]);
    await converged(nodes);
    for (const client of clients) await client.close();
  });

  test("200 races of one new username on three nodes at once: exactly one 201 each; the same for one user saving one URL; every node agrees", async () => {
    const { db, nodes } = await cluster(3);
    await leaderOf(nodes);
    const post = (node: ClusterNode, path: string, body: unknown, token?: string) =>
      request(node.url, "POST", path, { body, ...(token === undefined ? {} : { token }) }).then((reply) => reply.status);
    for (let race = 0; race < 200; race += 1) {
      const statuses = await Promise.all(nodes.map((node) => post(node, "/api/users", { user: { username: `racer${race}`, password: "correct horse" } })));
      assert.deepEqual(statuses.filter((status) => status === 201).length, 1, `race ${race}: ${statuses.join(", ")}`);
      assert.ok(statuses.every((status) => status === 201 || status === 409), `race ${race}: ${statuses.join(", ")}`);
    }
    const token = await signUp(nodes[0]!.url, "saver");
    for (let race = 0; race < 200; race += 1) {
      const statuses = await Promise.all(nodes.map((node) => post(node, "/api/bookmarks", { bookmark: { url: `https://race.example/${race}`, title: "r" } }, token)));
      assert.deepEqual(statuses.filter((status) => status === 201).length, 1, `URL race ${race}: ${statuses.join(", ")}`);
      assert.ok(statuses.every((status) => status === 201 || status === 409), `URL race ${race}: ${statuses.join(", ")}`);
    }
    await converged(nodes);
    const [users] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM users WHERE username LIKE 'racer%'`;
    assert.equal(Number(users!.n), 200, "one row per raced username in Postgres");
    const [saved] = await db.sql<{ n: string }[]>`SELECT count(*) AS n FROM bookmarks WHERE url LIKE 'https://race.example/%'`;
    assert.equal(Number(saved!.n), 200, "one bookmark per raced URL in Postgres");
  });

  test("kill -9 of the leader under writes on every node, ten times, and SIGSTOP past the lease twice: a new leader within seconds, nothing acknowledged lost, no seq under two epochs, stores agree", async () => {
    const { db, nodes } = await cluster(3);
    await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(nodes[0]!.url, "writer"));
    const writes = new Writers(nodes, token);
    // Stopped before the nodes go, also when the test fails half way (else its loops would outlive the test).
    cleanups.push(async () => {
      await writes.stop();
    });
    const leaderChangesMs: number[] = [];
    for (let round = 0; round < 12; round += 1) {
      const leader = await leaderOf(nodes);
      const index = nodes.indexOf(leader);
      await writes.until(10);
      const changed = Date.now();
      if (round < 10) {
        leader.child.kill("SIGKILL");
        await leader.exited;
        const others = nodes.filter((node) => node !== leader);
        const next = await leaderOf(others);
        leaderChangesMs.push(Date.now() - changed);
        assert.notEqual(next.nodeId, leader.nodeId);
        // The killed node comes back on its data directory and catches up.
        nodes[index] = await startNode({ databaseUrl: db.url, nodeId: leader.nodeId, dataDir: leader.dataDir });
        await ready(nodes[index]!);
      } else {
        leader.child.kill("SIGSTOP");
        const others = nodes.filter((node) => node !== leader);
        const next = await leaderOf(others);
        leaderChangesMs.push(Date.now() - changed);
        await writes.until(5);
        leader.child.kill("SIGCONT");
        assert.notEqual(next.nodeId, leader.nodeId);
      }
    }
    await writes.until(10);
    const acknowledged = await writes.stop();
    // A 5xx, or a forwarded write served twice (anything but 201, 503 or the documented 409 "already committed"), fails the test.
    assert.deepEqual(writes.unexpected, [], `every write answered 201 or 503 (or 409 for one an earlier leader committed); the nodes logged:\n${loggedFor(nodes, writes.unexpected)}`);
    await leaderOf(nodes);
    const { seq } = await converged(nodes);
    assert.ok(acknowledged.length >= 120, `writes were acknowledged throughout (${acknowledged.length})`);
    for (const node of nodes) {
      const missing: number[] = [];
      for (const id of acknowledged) if ((await request(node.url, "GET", `/api/bookmarks/${id}`, { token })).status !== 200) missing.push(id);
      assert.deepEqual(missing, [], `node ${node.nodeId} has every acknowledged bookmark`);
    }
    const rows = await db.sql<{ seq: string; epoch: string }[]>`SELECT seq, epoch FROM log ORDER BY seq`;
    assert.equal(rows.length, seq, "the log is dense up to the head every node applied");
    rows.forEach((row, index) => {
      assert.equal(Number(row.seq), index + 1);
      if (index > 0) assert.ok(Number(row.epoch) >= Number(rows[index - 1]!.epoch), `epochs never go back along seq (at seq ${row.seq})`);
    });
    const epochs = new Set(rows.map((row) => row.epoch));
    assert.ok(epochs.size >= 10, `appends happened under many epochs (${epochs.size})`);
    // Within seconds on an idle machine (the bench measures it); bounded generously here, where other suites share two cores.
    for (const ms of leaderChangesMs) assert.ok(typeof ms === "number" && ms < 60_000, `a new leader within seconds (${leaderChangesMs.join(", ")} ms)`);
  });

  test("a follower cut off from Postgres catches up in the same process once reconnected; a node added late catches up from nothing", async () => {
    const { db, path, base, nodes } = await databaseBehindPath();
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 1 }));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 2 }));
    await Promise.all(nodes.map(ready));
    const leader = await leaderOf(nodes);
    nodes.push(await startNode({ databaseUrl: path.url(db.url), nodeId: 3 }));
    const cutOff = nodes[2]!;
    await ready(cutOff);
    const token = await eventually("a sign-up", () => signUp(leader.url, "steady"));
    for (let index = 0; index < 5; index += 1) await eventually("a bookmark saved", () => createBookmark(leader.url, token, { url: `https://cut.example/before/${index}`, title: "b", public: true }));
    await converged(nodes);
    await path.cut();
    for (let index = 0; index < 20; index += 1) await eventually("a bookmark saved", () => createBookmark(leader.url, token, { url: `https://cut.example/during/${index}`, title: "d", public: true }));
    await sleep(1000);
    const behind = await clusterStatus(cutOff);
    const head = await clusterStatus(leader);
    assert.ok(behind.applied_seq < head.applied_seq, `the cut-off follower is behind (${behind.applied_seq} < ${head.applied_seq})`);
    await path.restore();
    const { seq } = await converged(nodes);
    assert.equal(cutOff.child.exitCode, null, "the follower caught up in the same process");
    assert.equal(cutOff.child.signalCode, null);
    assert.doesNotMatch(cutOff.output(), /loaded snapshot|stopping this node/, "it did not reload its store");
    const late = await startNode({ databaseUrl: db.url, nodeId: 4 });
    nodes.push(late);
    await ready(late);
    const caughtUp = await converged(nodes);
    assert.equal(caughtUp.seq, seq, "the late node applied the whole log");
    const list = await request(late.url, "GET", "/api/bookmarks?limit=50");
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.data.length, 25, "the late node serves every bookmark");
  });

  test("comments sent as websocket frames to followers (raw /ws and Phoenix) go to the leader: acknowledged once applied there, seen once on every node; without Postgres the frame's error says so and the socket stays open", async () => {
    const { db, path, base, nodes } = await databaseBehindPath();
    for (let index = 0; index < 3; index += 1) nodes.push(await startNode({ databaseUrl: path.url(db.url), nodeId: index + 1 }));
    for (const node of nodes) await ready(node);
    const leader = await leaderOf(nodes);
    const [first, second] = nodes.filter((node) => node !== leader) as [ClusterNode, ClusterNode];
    const token = await signUp(leader.url, "talker");
    const bookmark = await createBookmark(leader.url, token, { url: "https://talk.example/", title: "talk", public: true });
    await converged(nodes);
    const topic = `bookmark:${bookmark.id}`;
    const listeners = await Promise.all(nodes.map((node) => Client.open(`${wsOf(node)}?topics=${topic}`)));
    const raw = await Client.open(`${wsOf(first)}?token=${token}&topics=${topic}`);
    const rawAck = await raw.ask({ op: "comment", topic, body: "over raw", ref: 1 }, (frame) => frame.ref === 1, "the raw comment's ack");
    assert.equal(rawAck.op, "ok", JSON.stringify(rawAck));
    // Read your write: the follower applied it before it acknowledged.
    const readBack = await request(first.url, "GET", `/api/bookmarks/${bookmark.id}/comments`);
    assert.deepEqual(readBack.json.data.map((comment: { id: number }) => comment.id), [rawAck.comment.id], "the follower that acknowledged serves the comment at once");

    const phoenix = await Client.open(second.url.replace(/^http/, "ws") + `/socket/websocket?token=${token}`);
    const joined = await phoenix.ask({ topic, event: "phx_join", payload: {}, ref: "j" }, (frame) => frame.ref === "j", "the Phoenix join");
    assert.equal(joined.payload.status, "ok", JSON.stringify(joined));
    const phoenixAck = await phoenix.ask({ topic, event: "new_comment", payload: { body: "over phoenix" }, ref: "c" }, (frame) => frame.ref === "c", "the Phoenix comment's reply");
    assert.equal(phoenixAck.payload.status, "ok", JSON.stringify(phoenixAck));
    assert.equal(phoenixAck.payload.response.comment.body, "over phoenix");
    const own = await request(second.url, "GET", `/api/bookmarks/${bookmark.id}/comments`);
    assert.ok(own.json.data.some((comment: { id: number }) => comment.id === phoenixAck.payload.response.comment.id), "the Phoenix follower serves its comment at once");

    // A refusal from the leader's Commands comes back as the protocol's error, the socket open.
    const blank = await raw.ask({ op: "comment", topic, body: "   ", ref: 2 }, (frame) => frame.ref === 2, "the blank comment's error");
    assert.equal(blank.op, "error");
    assert.match(blank.reason, /body can't be blank/);

    // Postgres gone: nobody can acknowledge; both protocols say so and keep the socket.
    await path.cut();
    await eventually("the followers to notice Postgres is gone", async () => (await Promise.all([first, second].map(clusterStatus))).every((status) => status.last_error !== null && status.role !== "leader"));
    const rawRefused = await raw.ask({ op: "comment", topic, body: "while down", ref: 3 }, (frame) => frame.ref === 3, "the refused raw comment");
    assert.equal(rawRefused.op, "error", JSON.stringify(rawRefused));
    assert.match(rawRefused.reason, /not acknowledged/);
    const phoenixRefused = await phoenix.ask({ topic, event: "new_comment", payload: { body: "while down" }, ref: "d" }, (frame) => frame.ref === "d", "the refused Phoenix comment");
    assert.equal(phoenixRefused.payload.status, "error", JSON.stringify(phoenixRefused));
    assert.match(phoenixRefused.payload.response.reason, /not acknowledged/);
    assert.equal(raw.closed, null, "the raw socket stays open");
    assert.equal(phoenix.closed, null, "the Phoenix socket stays open");
    await path.restore();
    await leaderOf(nodes);
    const again = await eventually("a comment accepted again", async () => {
      const ref = `again-${Date.now()}`;
      const frame = await raw.ask({ op: "comment", topic, body: "back again", ref }, (reply) => reply.ref === ref, "the comment after the restore");
      return frame.op === "ok" ? frame : null;
    });

    await converged(nodes);
    const expected = [rawAck.comment.id, phoenixAck.payload.response.comment.id, again.comment.id];
    for (const node of nodes) {
      const list = await request(node.url, "GET", `/api/bookmarks/${bookmark.id}/comments`);
      assert.deepEqual(list.json.data.map((comment: { id: number }) => comment.id).sort((a: number, b: number) => a - b), [...expected].sort((a, b) => a - b), `node ${node.nodeId} has each comment once`);
    }
    for (const listener of listeners) {
      await eventually("the comment pushes", async () => listener.frames.filter((frame) => frame.event === "comment_posted").length >= 3);
      assert.deepEqual(listener.frames.filter((frame) => frame.event === "comment_posted").map((frame) => frame.payload.id), expected, "every node pushed each comment once, in order");
    }
    for (const client of [...listeners, raw, phoenix]) await client.close();
  });

  test("a forwarded write carries the client's address: the leader counts log-ins per client (behind a trusted proxy), and believes the address only with the cluster secret", async () => {
    const db = await freshDatabase();
    const nodes: ClusterNode[] = [];
    cleanups.push(async () => {
      await stopNodes(nodes);
      await db.drop();
    });
    const env = { NASTY_TRUST_PROXY: "true", NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "3" };
    for (let index = 0; index < 2; index += 1) nodes.push(await startNode({ databaseUrl: db.url, nodeId: index + 1, env }));
    for (const node of nodes) await ready(node);
    const leader = await leaderOf(nodes);
    const follower = nodes.find((node) => node !== leader)!;
    const logIn = (node: ClusterNode, headers: Record<string, string>, attempt: number) =>
      request(node.url, "POST", "/api/tokens", { headers, body: { username: `nobody${attempt}`, password: "wrong horse" } }).then((reply) => reply.status);
    // Three failed log-ins from one client through the follower use up that client's budget on the leader...
    for (let attempt = 0; attempt < 3; attempt += 1) assert.equal(await logIn(follower, { "x-forwarded-for": "203.0.113.7" }, attempt), 401);
    assert.equal(await logIn(follower, { "x-forwarded-for": "203.0.113.7" }, 3), 429, "the fourth from the same client is limited");
    // ...and only that client's: another one behind the same proxy, through the same follower, is not limited.
    assert.equal(await logIn(follower, { "x-forwarded-for": "203.0.113.8" }, 4), 401, "another client is counted apart");
    // The header from a client is ignored, at the follower (it sets its own) and at the leader (no secret).
    assert.equal(await logIn(follower, { "x-forwarded-for": "203.0.113.7", "x-nasty-client-address": "198.51.100.1" }, 5), 429, "a client's own X-Nasty-Client-Address is replaced by the follower");
    assert.equal(await logIn(leader, { "x-forwarded-for": "203.0.113.7", "x-nasty-client-address": "198.51.100.2" }, 6), 429, "sent to the leader without the secret it is ignored");
    const forged = await request(leader.url, "POST", "/api/tokens", {
      headers: { "x-forwarded-for": "203.0.113.7", "x-nasty-client-address": "198.51.100.3", "x-nasty-request-id": "6f1c1f5e-8a51-4a39-9c55-2f6a4f1d2b11", "x-nasty-cluster-secret": "not-the-cluster-secret-000" },
      body: { username: "nobody7", password: "wrong horse" },
    });
    assert.equal(forged.status, 403, "a forwarded request with a wrong secret is refused");
    // The socket comment route exists only for the cluster's own forwards.
    const direct = await request(leader.url, "POST", "/_cluster/socket-comments", { body: { token_id: 1, bookmark_id: 1, comment: { body: "x" } } });
    assert.equal(direct.status, 403, direct.text);
    const viaFollower = await request(follower.url, "POST", "/_cluster/socket-comments", { body: { token_id: 1, bookmark_id: 1, comment: { body: "x" } } });
    assert.equal(viaFollower.status, 403, "a follower does not forward it for a client");
  });

  test("the node id lock is taken again after Postgres restarts; a node whose id another process took meanwhile serves no writes and says so, until it holds its id again", async () => {
    const { db, path, base, nodes } = await databaseBehindPath();
    nodes.push(await startNode({ databaseUrl: path.url(db.url), nodeId: 1 }));
    nodes.push(await startNode({ databaseUrl: db.url, nodeId: 2 }));
    for (const node of nodes) await ready(node);
    await leaderOf(nodes);
    const token = await eventually("a sign-up", () => signUp(nodes[1]!.url, "ider"));
    const holdsId = async (nodeId: number) => {
      const [row] = await db.sql<{ n: string }[]>`
        SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() AND a.application_name = ${`nasty-node-${nodeId}`}`;
      return Number(row!.n) === 1;
    };
    assert.ok(await holdsId(1), "node 1 holds its id lock");
    // A fast restart: every session of the database ends at once; node 1 takes its id again.
    await db.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${base.pathname.slice(1)} AND pid <> pg_backend_pid()`;
    await eventually("node 1 to hold its id again", () => holdsId(1));
    await eventually("node 2 to hold its id again", () => holdsId(2));
    const twin = spawnServer(tempDir("nasty-cluster-twin-"), {
      env: { DATABASE_URL: db.url, NASTY_CLUSTER: "on", NASTY_NODE_ID: "1", NASTY_CLUSTER_URL: "http://127.0.0.1:1", NASTY_CLUSTER_SECRET: SECRET },
    });
    const exit = await Promise.race([twin.exited, sleep(120_000).then(() => null)]);
    if (exit === null) twin.child.kill("SIGKILL");
    assert.deepEqual(exit, { code: 3, signal: null }, `a second process with id 1 is refused after the restart: ${twin.output()}`);

    // Node 1 cut off; another process starts as node 1 meanwhile and takes the id (once Postgres saw node 1's session end).
    await path.cut();
    await eventually("node 1's id lock released with its session", async () => !(await holdsId(1)));
    const usurper = await startNode({ databaseUrl: db.url, nodeId: 1 });
    nodes.push(usurper);
    await ready(usurper);
    await path.restore();
    const cut = nodes[0]!;
    const status = await eventually("node 1 to say its id was taken", async () => {
      const cluster = await clusterStatus(cut);
      return /NASTY_NODE_ID=1 was taken by another process/.test(cluster.last_error ?? "") ? cluster : null;
    });
    assert.notEqual(status.role, "leader");
    assert.equal((await request(cut.url, "GET", "/readyz")).status, 503, "it is not ready");
    const refused = await request(cut.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://id.example/refused", title: "r" } } });
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /NASTY_NODE_ID=1 was taken/);
    assert.match(cut.output(), /NASTY_NODE_ID=1 was taken by another process/, "it says so in its log");
    assert.equal(cut.child.exitCode, null, "it keeps serving reads");
    assert.equal((await request(cut.url, "GET", "/api/bookmarks")).status, 200);

    // The other process stops: node 1 takes its id back and serves writes again.
    usurper.child.kill("SIGTERM");
    await usurper.exited;
    nodes.pop();
    await eventually("node 1 to hold its id again", () => holdsId(1));
    await ready(cut);
    const saved = await eventually("a write through node 1", () => createBookmark(cut.url, token, { url: "https://id.example/after", title: "a" }));
    assert.ok(Number.isSafeInteger(saved.id));
    await converged(nodes);
  });

  test("NASTY_CLUSTER=on refuses to start without its settings, naming each; a second process with a node id in use stops with a message", async () => {
    assert.throws(() => loadConfig({ NASTY_CLUSTER: "on" }), (error: Error) => error instanceof ConfigError && /DATABASE_URL/.test(error.message) && /NASTY_CLUSTER_URL/.test(error.message) && /NASTY_CLUSTER_SECRET/.test(error.message));
    assert.throws(() => loadConfig({ NASTY_CLUSTER: "on", DATABASE_URL: "postgres://127.0.0.1/x", NASTY_CLUSTER_URL: "http://127.0.0.1:4000", NASTY_CLUSTER_SECRET: "short" }), /NASTY_CLUSTER_SECRET/);
    assert.equal(loadConfig({}).cluster, false, "off by default");
    const { db, nodes } = await cluster(1);
    const twin = spawnServer(nodes[0]!.dataDir + "-twin", {
      env: { DATABASE_URL: db.url, NASTY_CLUSTER: "on", NASTY_NODE_ID: "1", NASTY_CLUSTER_URL: "http://127.0.0.1:1", NASTY_CLUSTER_SECRET: "cluster-test-secret-0123456789" },
      startMsMax: 120_000, // it never listens: it stops once it finds its id taken, which a loaded machine may take past the usual 30 s
    });
    const exit = await Promise.race([twin.exited, sleep(120_000).then(() => null)]);
    if (exit === null) twin.child.kill("SIGKILL");
    assert.deepEqual(exit, { code: 3, signal: null }, twin.output());
    assert.match(twin.output(), /NASTY_NODE_ID=1 is already used by another running node/);
    assert.equal((await clusterStatus(nodes[0]!)).role, "leader", "the first node leads on");
  });
});
