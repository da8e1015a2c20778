// Cluster mode misconfigured by its operator: each mistake is named where the operator looks (/readyz, the answer, the log).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase, leaderOf, ready, startNode, stopNodes, clusterStatus, type ClusterNode, type TestDatabase } from "./support/cluster.ts";
import { request, tempDir } from "./support/server.ts";
import { spawnServer } from "./support/child-server.ts";
import { eventually, freePort, PostgresPath, SECRET } from "./support/cluster.ts";

const METRICS_TOKEN = "metrics-test-token-0123456789";

/** The unlabelled samples of a node's /metrics. */
async function scrape(node: ClusterNode): Promise<Map<string, number>> {
  const reply = await request(node.url, "GET", "/metrics", { token: METRICS_TOKEN });
  assert.equal(reply.status, 200, reply.text);
  return new Map(reply.text.split("\n").map((line) => /^(\w+) (\S+)$/.exec(line)).filter((match) => match !== null).map((match) => [match[1]!, Number(match[2])]));
}

let db: TestDatabase | null = null;
const nodes: ClusterNode[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  await stopNodes(nodes);
  await db?.drop();
  for (const cleanup of cleanups) await cleanup();
});

test("a node whose NASTY_CLUSTER_SECRET differs from the leader's answers its writes 503 naming the setting, logs it, and nothing is saved", async () => {
  db = await freshDatabase();
  const leader = await startNode({ databaseUrl: db.url, nodeId: 1, env: { NASTY_METRICS_TOKEN: METRICS_TOKEN } });
  nodes.push(leader);
  await ready(leader);
  const stray = await startNode({ databaseUrl: db.url, nodeId: 2, env: { NASTY_CLUSTER_SECRET: "another-secret-0123456789abcdef", NASTY_METRICS_TOKEN: METRICS_TOKEN } });
  nodes.push(stray);
  await ready(stray);
  assert.equal(await leaderOf(nodes), leader);
  // Prometheus sees who leads (an alert on "no leader" sums nasty_cluster_leader) and each node's lag.
  for (const [node, leading] of [[leader, 1], [stray, 0]] as const) {
    const metrics = await scrape(node);
    assert.equal(metrics.get("nasty_cluster_leader"), leading, `node ${node.nodeId}`);
    assert.equal(metrics.get("nasty_cluster_epoch"), (await clusterStatus(leader)).epoch);
    assert.equal(metrics.get("nasty_cluster_lag_events"), 0);
    assert.equal(metrics.get("nasty_cluster_caught_up"), 1);
  }

  const reply = await request(stray.url, "POST", "/api/users", { body: { user: { username: "alice", password: "correct horse" } } });
  assert.equal(reply.status, 503, reply.text);
  assert.match((reply.json as { error: string }).error, /refused this node's NASTY_CLUSTER_SECRET: the two differ; set the same NASTY_CLUSTER_SECRET on every node/);
  assert.match(stray.output(), /ERROR .*cluster mode: a forwarded write was refused: the leader \(node 1\) refused this node's NASTY_CLUSTER_SECRET/);
  assert.equal((await clusterStatus(leader)).head_seq, 0, "nothing was appended");

  const direct = await request(leader.url, "POST", "/api/users", { body: { user: { username: "alice", password: "correct horse" } } });
  assert.equal(direct.status, 201, "the leader itself takes the write");
});

test("a node whose DATABASE_URL names no database says so on /readyz while it starts, not that it replays 0 events", async () => {
  const url = new URL(process.env.DATABASE_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test");
  url.pathname = "/nasty_no_such_database";
  const port = await freePort();
  const node = spawnServer(tempDir("nasty-cluster-"), {
    // A long lease: the node keeps waiting for Postgres (five leases) before it starts from its own state.
    env: { PORT: String(port), DATABASE_URL: url.href, NASTY_CLUSTER: "on", NASTY_NODE_ID: "5", NASTY_CLUSTER_URL: `http://127.0.0.1:${port}`, NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: "600000" },
    startMsMax: 120_000,
  });
  try {
    const said = await eventually("/readyz naming the missing database", async () => {
      const reply = await request(`http://127.0.0.1:${port}`, "GET", "/readyz");
      return reply.status === 503 && /nasty_no_such_database/.test(reply.text) ? reply.text : null;
    }, 60_000);
    assert.match(said, /^not ready: cannot reach the cluster's Postgres at postgres:\/\/.*nasty_no_such_database \(.*does not exist.*\); still trying/);
  } finally {
    node.child.kill("SIGKILL");
    await node.exited;
  }
});

test("a node cut off from Postgres says so to Prometheus (nasty_cluster_failing) until it reads the log again", async () => {
  const own = await freshDatabase();
  const base = new URL(own.url);
  const path = new PostgresPath({ host: base.hostname, port: Number(base.port || 5432) });
  await path.listen();
  const node = await startNode({ databaseUrl: path.url(own.url), nodeId: 1, env: { NASTY_METRICS_TOKEN: METRICS_TOKEN } });
  cleanups.push(async () => {
    await stopNodes([node]);
    await path.close();
    await own.drop();
  });
  await ready(node);
  assert.equal((await scrape(node)).get("nasty_cluster_failing"), 0);
  await path.cut();
  await eventually("nasty_cluster_failing 1 while cut off", async () => (await scrape(node)).get("nasty_cluster_failing") === 1);
  assert.notEqual((await clusterStatus(node)).last_error, null, "the status says why");
  await path.restore();
  await eventually("nasty_cluster_failing 0 once the log is read again", async () => (await scrape(node)).get("nasty_cluster_failing") === 0);
});

test("a node whose NASTY_CLUSTER_URL does not reach it says so at start, naming the setting; one that does says nothing", async () => {
  const own = await freshDatabase();
  const astray = await startNode({ databaseUrl: own.url, nodeId: 1, env: { NASTY_CLUSTER_URL: "http://127.0.0.1:1" } });
  const right = await startNode({ databaseUrl: own.url, nodeId: 2 });
  cleanups.push(async () => {
    await stopNodes([astray, right]);
    await own.drop();
  });
  await Promise.all([ready(astray), ready(right)]);
  await eventually("the warning about NASTY_CLUSTER_URL", async () => /WARN .*NASTY_CLUSTER_URL=http:\/\/127\.0\.0\.1:1 does not reach this node \(.+\); the other nodes forward writes there while this node leads/.test(astray.output()));
  assert.doesNotMatch(right.output(), /NASTY_CLUSTER_URL=/, "a right one passes quietly");
});
