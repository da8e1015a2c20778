// Cluster mode's forwarded writes across a leader change: a follower gives up on a paused leader as soon as another leads; a request id is served once across leaders.
import { after, afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createBookmark, request, signUp } from "./support/server.ts";
import { converged, freshDatabase, leaderOf, ready, startCluster, startNode, stopNodes, eventually, SECRET, type ClusterNode, type TestDatabase } from "./support/cluster.ts";

const cleanups: (() => Promise<void>)[] = [];
/** Stops the nodes and drops the databases started so far, newest first. */
async function cleanUp(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
}
after(cleanUp);

/**
 * A longer lease than the other cluster tests: a follower's wait for one answer of the leader is
 * appendMsMax + 2 × lease (appendMsMax = max(5 s, 3 × lease): 20 s here), so a follower that waited
 * that out on a paused leader is told apart from one that moved on once another node led (about a
 * lease plus an election step), with seconds to spare on a loaded machine.
 */
const LEASE_MS = 4000;

async function clusterWithLease(count: number): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
  const db = await freshDatabase();
  const nodes: ClusterNode[] = [];
  cleanups.push(async () => {
    await stopNodes(nodes);
    await db.drop();
  });
  for (let index = 0; index < count; index += 1) nodes.push(await startNode({ databaseUrl: db.url, nodeId: index + 1, env: { NASTY_CLUSTER_LEASE_MS: String(LEASE_MS) } }));
  for (const node of nodes) await ready(node);
  return { db, nodes };
}

/** The comments with `body` on `bookmarkId` as `node` lists them. */
async function commentsWith(node: ClusterNode, token: string, bookmarkId: number, body: string): Promise<number> {
  const reply = await request(node.url, "GET", `/api/bookmarks/${bookmarkId}/comments`, { token });
  assert.equal(reply.status, 200, reply.text);
  return (reply.json.data as { body: string }[]).filter((comment) => comment.body === body).length;
}

describe("cluster mode: forwarded writes across a leader change", () => {
  afterEach(cleanUp);

  test("a write through a follower right after SIGSTOP of the leader is answered once another node leads, not after the wait for the paused leader; it is on every node once", async (t) => {
    const { db, nodes } = await clusterWithLease(3);
    const leader = await leaderOf(nodes);
    const [follower, other] = nodes.filter((node) => node !== leader) as [ClusterNode, ClusterNode];
    const token = await signUp(follower.url, "paused");
    const bookmark = await createBookmark(follower.url, token, { url: "https://example.com/paused", title: "paused", public: true });
    await converged(nodes);
    const body = "written while the leader was paused";
    leader.child.kill("SIGSTOP");
    const sent = Date.now();
    const reply = await request(follower.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body } });
    const tookMs = Date.now() - sent;
    t.diagnostic(`answered ${reply.status} in ${tookMs} ms`);
    const boundMs = 3 * LEASE_MS + 5000;
    assert.ok(tookMs < boundMs, `answered in ${tookMs} ms, within ${boundMs} ms (a follower waiting out the paused leader answers after 20 s): ${reply.status} ${reply.text}`);
    assert.ok(reply.status === 201 || (reply.status === 503 && reply.headers.get("retry-after") !== null), `201, or 503 with Retry-After: ${reply.status} ${reply.text}`);
    const next = await leaderOf([follower, other]);
    assert.notEqual(next.nodeId, leader.nodeId);
    leader.child.kill("SIGCONT");
    await leaderOf(nodes);
    await converged(nodes);
    const expected = reply.status === 201 ? 1 : (await db.sql`SELECT count(*)::int AS n FROM comments WHERE body = ${body}`)[0]!.n;
    assert.ok(expected <= 1);
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM comments WHERE body = ${body}`)[0]!.n, expected, "one row in Postgres");
    for (const node of nodes) assert.equal(await commentsWith(node, token, bookmark.id, body), expected, `node ${node.nodeId} has the comment ${expected} time(s)`);
    // The old leader follows the new one and forwards writes to it.
    const later = await request(leader.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body: "after SIGCONT" } });
    assert.equal(later.status, 201, later.text);
  });

  test("a forwarded comment retried with the same request id after kill -9 of the leader that committed it is not run again: 409 with the request id and seq, one row", async () => {
    const { db, nodes } = await startCluster(3, cleanups);
    const leader = await leaderOf(nodes);
    const token = await signUp(leader.url, "retrier");
    const bookmark = await createBookmark(leader.url, token, { url: "https://example.com/retried", title: "retried", public: true });
    const body = "sent once, retried once";
    const requestId = randomUUID();
    // As a follower forwards it: the request id and the cluster secret.
    const forwarded = { "x-nasty-request-id": requestId, "x-nasty-cluster-secret": SECRET };
    const first = await request(leader.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body }, headers: forwarded });
    assert.equal(first.status, 201, first.text);
    const firstSeq = Number(first.headers.get("x-nasty-seq"));
    assert.ok(firstSeq > 0, `the leader reports the seq it had applied: ${first.headers.get("x-nasty-seq")}`);
    // Its answer "lost": the leader dies, the forwarder retries on the next leader with the same id.
    leader.child.kill("SIGKILL");
    await leader.exited;
    const others = nodes.filter((node) => node !== leader);
    const next = await leaderOf(others);
    const retried = await request(next.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body }, headers: { ...forwarded, "x-nasty-retry": "1" } });
    assert.equal(retried.status, 409, retried.text);
    assert.equal(retried.json.request_id, requestId);
    assert.ok(Number.isSafeInteger(retried.json.seq) && retried.json.seq > 0 && retried.json.seq <= firstSeq, `the seq that holds it: ${retried.text}`);
    assert.match(retried.json.error, /already committed/);
    // Asked again, the new leader gives the answer it kept.
    const again = await request(next.url, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token, body: { body }, headers: { ...forwarded, "x-nasty-retry": "1" } });
    assert.equal(again.status, 409, again.text);
    await converged(others);
    assert.equal((await db.sql`SELECT count(*)::int AS n FROM comments WHERE body = ${body}`)[0]!.n, 1, "one row in Postgres");
    for (const node of others) await eventually(`node ${node.nodeId} lists the comment once`, async () => (await commentsWith(node, token, bookmark.id, body)) === 1);
  });
});
