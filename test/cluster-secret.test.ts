// Cluster mode, one node started with another NASTY_CLUSTER_SECRET: its forwarded writes are refused as the operator's problem (503 naming the setting, logged), not the client's (403).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase, leaderOf, ready, startNode, stopNodes, clusterStatus, type ClusterNode, type TestDatabase } from "./support/cluster.ts";
import { request } from "./support/server.ts";

let db: TestDatabase | null = null;
const nodes: ClusterNode[] = [];
after(async () => {
  await stopNodes(nodes);
  await db?.drop();
});

test("a node whose NASTY_CLUSTER_SECRET differs from the leader's answers its writes 503 naming the setting, logs it, and nothing is saved", async () => {
  db = await freshDatabase();
  const leader = await startNode({ databaseUrl: db.url, nodeId: 1 });
  nodes.push(leader);
  await ready(leader);
  const stray = await startNode({ databaseUrl: db.url, nodeId: 2, env: { NASTY_CLUSTER_SECRET: "another-secret-0123456789abcdef" } });
  nodes.push(stray);
  await ready(stray);
  assert.equal(await leaderOf(nodes), leader);

  const reply = await request(stray.url, "POST", "/api/users", { body: { user: { username: "alice", password: "correct horse" } } });
  assert.equal(reply.status, 503, reply.text);
  assert.match((reply.json as { error: string }).error, /refused this node's NASTY_CLUSTER_SECRET: the two differ; set the same NASTY_CLUSTER_SECRET on every node/);
  assert.match(stray.output(), /ERROR .*cluster mode: a forwarded write was refused: the leader \(node 1\) refused this node's NASTY_CLUSTER_SECRET/);
  assert.equal((await clusterStatus(leader)).head_seq, 0, "nothing was appended");

  const direct = await request(leader.url, "POST", "/api/users", { body: { user: { username: "alice", password: "correct horse" } } });
  assert.equal(direct.status, 201, "the leader itself takes the write");
});
