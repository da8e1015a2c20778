// Cluster mode against a real Postgres: three or more node processes on loopback, one log, one leader.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Client, subscribe } from "./support/realtime.ts";
import { createBookmark, request, signUp } from "./support/server.ts";
import { clusterStatus, converged, freshDatabase, leaderOf, ready, startNode, stopNodes, eventually, type ClusterNode, type TestDatabase } from "./support/cluster.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

async function cluster(count: number): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
  const db = await freshDatabase();
  const nodes: ClusterNode[] = [];
  cleanups.push(async () => {
    await stopNodes(nodes);
    await db.drop();
  });
  for (let index = 0; index < count; index += 1) nodes.push(await startNode({ databaseUrl: db.url, nodeId: index + 1 }));
  for (const node of nodes) await ready(node);
  return { db, nodes };
}

function wsOf(node: ClusterNode): string {
  return node.url.replace(/^http/, "ws") + "/ws";
}

describe("cluster mode", () => {
  test("a bookmark created on any node reaches subscribers on every node, in the same order on all; reads see own writes on any node", async () => {
    const { nodes } = await cluster(3);
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
    await converged(nodes);
    for (const client of clients) await client.close();
  });
});
