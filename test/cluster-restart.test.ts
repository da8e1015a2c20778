// Cluster mode through real Postgres restarts: three node processes on a Postgres server of the test's own (the shared one on :5432 is left alone), restarted and crashed under concurrent writes.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { request, signUp } from "./support/server.ts";
import { sleep } from "./support/realtime.ts";
import { clusterStatus, converged, eventually, leaderOf, ready, startNode, stopNodes, type ClusterNode } from "./support/cluster.ts";
import { loggedFor, Writers } from "./support/cluster-writers.ts";
import { PrivatePostgres, privatePostgresSkip } from "./support/private-postgres.ts";

const skip = privatePostgresSkip("cluster restart suite");

/**
 * Longest wait for one write's answer: past a follower's own bound on forwarding a write (about
 * 22 s with the test lease, then it answers 503), with room for a loaded machine. A write that
 * gets no answer by then hung.
 */
const ANSWER_MS_MAX = 60_000;
/** How long Postgres stays down after the immediate stop while the writes go on. */
const DOWN_MS = 3000;
/** Acknowledged writes awaited before each restart and after it. */
const WRITES_PER_PHASE = 20;
/** Times the leader's own session is ended in the heartbeat test. */
const SESSION_ENDS = 3;
/** A hang guard for the test (never reached unless something hangs). */
const TEST_MS_MAX = 600_000;
/** The leader's advisory lock (src/log/cluster.ts LEADER_LOCK_KEY): a bigint key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits). */
const LEADER_LOCK_KEY = 0x6e61737480;

/** The node whose session holds the leader's advisory lock, read from Postgres (null: nobody holds it). */
async function lockHolder(sql: Sql): Promise<number | null> {
  const rows = await sql<{ name: string }[]>`
    SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.classid::bigint = ${Math.floor(LEADER_LOCK_KEY / 2 ** 32)}::bigint AND l.objid::bigint = ${LEADER_LOCK_KEY % 2 ** 32}::bigint`;
  assert.ok(rows.length <= 1, `one session at most holds the leader lock: ${rows.map((row) => row.name).join(", ")}`);
  const match = /^nasty-lead-node-(\d+)$/.exec(rows[0]?.name ?? "");
  return match ? Number(match[1]) : null;
}

/** The ids whose node holds its id lock (each node's own session, `nasty-node-<id>`). */
async function idsHeld(sql: Sql): Promise<number[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'nasty-node-%' ORDER BY 1`;
  return rows.map((row) => Number(row.name.slice("nasty-node-".length))).sort((a, b) => a - b);
}

async function epochOf(sql: Sql): Promise<number> {
  const [row] = await sql<{ epoch: string }[]>`SELECT epoch FROM cluster_leader WHERE id = 1`;
  return Number(row!.epoch);
}

/**
 * After a restart: one leader named by every node, holding the lock in Postgres, at an epoch past
 * `epochBefore` (the lock went with its session, so the lead was taken again and the epoch bumped);
 * every node holds its id lock again and reports no error.
 */
async function ledAgain(nodes: readonly ClusterNode[], sql: Sql, epochBefore: number): Promise<number> {
  return eventually("the lead and the node ids taken again after the restart", async () => {
    const leader = await leaderOf(nodes);
    if ((await lockHolder(sql)) !== leader.nodeId) return null;
    const epoch = await epochOf(sql);
    if (epoch <= epochBefore) return null;
    if ((await idsHeld(sql)).join(",") !== nodes.map((node) => node.nodeId).join(",")) return null;
    const statuses = await Promise.all(nodes.map(clusterStatus));
    return statuses.every((status) => status.last_error === null) ? epoch : null;
  });
}

describe("cluster mode through real Postgres restarts", { skip }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  // Each test's nodes and server go when it ends, newest first.
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  /** A Postgres server of the test's own, `count` nodes on it (ready, one leading), and the test's own connection to it. */
  async function privateCluster(count: number): Promise<{ server: PrivatePostgres; nodes: ClusterNode[]; sql: Sql }> {
    const server = await PrivatePostgres.create();
    const nodes: ClusterNode[] = [];
    // The test's own look at Postgres: its session goes with each restart too, and postgres.js connects again on the next query.
    const sql = postgres(server.url(), { max: 1, onnotice: () => {} });
    cleanups.push(async () => {
      await stopNodes(nodes);
      await sql.end({ timeout: 1 }).catch(() => {});
      await server.destroy();
    });
    for (let index = 0; index < count; index += 1) nodes.push(await startNode({ databaseUrl: server.url(), nodeId: index + 1 }));
    for (const node of nodes) await ready(node);
    await leaderOf(nodes);
    return { server, nodes, sql };
  }

  test("Postgres restarted under load (pg_ctl restart -m fast; pg_ctl stop -m immediate, down for seconds, then start): writes answer 503 meanwhile, resume afterwards, nothing acknowledged is lost, every node catches up", { timeout: TEST_MS_MAX }, async () => {
    const { server, nodes, sql } = await privateCluster(3);
    const token = await eventually("a sign-up", () => signUp(nodes[0]!.url, "loaded"));
    const writes = new Writers(nodes, token, ANSWER_MS_MAX);
    // Stopped before the nodes go, also when the test fails half way (else its loops would outlive the test).
    cleanups.push(async () => {
      await writes.stop();
    });
    await writes.until(WRITES_PER_PHASE);

    // A fast restart under load: every session ends (the leader's lock with it), Postgres checkpoints and comes back.
    const epochBeforeFast = await epochOf(sql);
    await server.restart("fast");
    await writes.until(WRITES_PER_PHASE);
    const epochAfterFast = await ledAgain(nodes, sql, epochBeforeFast);

    // An immediate stop (every Postgres process quits at once, as in a crash), down for seconds while the writes go on.
    await server.stop("immediate");
    const downMs = Date.now();
    await sleep(DOWN_MS);
    // Still down: a write in flight at the stop may take longer than the three seconds to be answered on a loaded machine.
    await eventually("a write sent after the stop answered 503 while Postgres is down", async () => writes.answers.some((answer) => answer.sentMs >= downMs && answer.status === 503));
    const upMs = Date.now();
    await server.start();
    const acknowledgedBeforeUp = writes.acknowledgedCount;
    await writes.until(WRITES_PER_PHASE);
    const acknowledged = await writes.stop();

    assert.deepEqual(writes.unexpected, [], `every write answered 201 or 503 (or 409 for one an earlier leader committed); the nodes logged:\n${loggedFor(nodes, writes.unexpected)}`);
    assert.deepEqual(writes.failures, [], `every write was answered within ${ANSWER_MS_MAX} ms`);
    const whileDown = writes.answers.filter((answer) => answer.sentMs >= downMs && answer.answeredMs <= upMs);
    assert.ok(whileDown.length >= 1, "writes were sent and answered while Postgres was down");
    assert.deepEqual(whileDown.filter((answer) => answer.status !== 503).map((answer) => `node ${answer.node}: ${answer.status} ${answer.text}`), [], "every write sent while Postgres was down was answered 503 (nothing is acknowledged without it)");
    assert.ok(acknowledged.length >= acknowledgedBeforeUp + WRITES_PER_PHASE, `writes were acknowledged again after the start (${acknowledged.length - acknowledgedBeforeUp})`);
    assert.match(server.log(), /not properly shut down; automatic recovery in progress/, "Postgres recovered from the immediate stop (a crash, not a clean shutdown)");

    const epochAfterImmediate = await ledAgain(nodes, sql, epochAfterFast);
    const { seq } = await converged(nodes);
    for (const node of nodes) assert.equal(node.child.exitCode ?? node.child.signalCode, null, `node ${node.nodeId} ran throughout:\n${node.output().slice(-2000)}`);
    for (const node of nodes) {
      const missing: number[] = [];
      for (const id of acknowledged) if ((await request(node.url, "GET", `/api/bookmarks/${id}`, { token })).status !== 200) missing.push(id);
      assert.deepEqual(missing, [], `node ${node.nodeId} has every acknowledged bookmark`);
    }
    const mirrored = await sql<{ id: string }[]>`SELECT id FROM bookmarks WHERE id IN ${sql(acknowledged)}`;
    assert.equal(mirrored.length, acknowledged.length, "Postgres's bookmarks table holds every acknowledged bookmark");
    const rows = await sql<{ seq: string; epoch: string }[]>`SELECT seq, epoch FROM log ORDER BY seq`;
    assert.equal(rows.length, seq, "the log is dense up to the head every node applied");
    rows.forEach((row, index) => {
      assert.equal(Number(row.seq), index + 1);
      if (index > 0) assert.ok(Number(row.epoch) >= Number(rows[index - 1]!.epoch), `epochs never go back along seq (at seq ${row.seq})`);
    });
    assert.ok(Number(rows[rows.length - 1]!.epoch) <= epochAfterImmediate, "no row under an epoch past the current one");
  });

  test("a leader whose session holding the lead ends between two heartbeats (Postgres ended it; a restart quicker than a heartbeat does the same) steps down and takes the lead again at a new epoch, holding the lock", { timeout: TEST_MS_MAX }, async () => {
    // One node: nobody else would take the lead from it, so only the node itself can notice its lock is gone.
    const { nodes, sql } = await privateCluster(1);
    assert.equal(await lockHolder(sql), 1, "the leader holds the lock");
    let epoch = await epochOf(sql);
    // Only the lead's session ends: the heartbeat's next query connects again at once, to a session without the lock.
    // A few times: a session ended while a heartbeat is in flight fails that heartbeat instead (the old way to notice).
    for (let round = 1; round <= SESSION_ENDS; round += 1) {
      const [ended] = await sql<{ n: string }[]>`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = 'nasty-lead-node-1'`;
      assert.equal(Number(ended!.n), 1, `the lead's session was ended (round ${round})`);
      epoch = await ledAgain(nodes, sql, epoch);
    }
    const left = nodes[0]!.output().match(/no longer leading: (the Postgres session holding the leader lock ended|the connection holding the lead failed)/g) ?? [];
    assert.equal(left.length, SESSION_ENDS, `it said each time why it left the lead:\n${left.join("\n")}`);
    const token = await eventually("a sign-up", () => signUp(nodes[0]!.url, "relocked"));
    assert.equal((await request(nodes[0]!.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://relocked.example/", title: "r" } } })).status, 201, "it serves writes again");
  });
});
