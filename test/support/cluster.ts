// Test support: a cluster of Nasty node processes on loopback over one fresh Postgres database, and a cuttable TCP path to Postgres.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import net from "node:net";
import postgres, { type Sql } from "postgres";
import { spawnServer, type ChildServer } from "./child-server.ts";
import { request, tempDir } from "./server.ts";
import { sleep } from "./realtime.ts";

export const BASE_URL = process.env.DATABASE_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const quiet = { onnotice: () => {} };
export const SECRET = "cluster-test-secret-0123456789";

/** A free loopback port (a node must know its own address before it starts: NASTY_CLUSTER_URL). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface TestDatabase {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

export async function freshDatabase(): Promise<TestDatabase> {
  const admin = postgres(BASE_URL, { ...quiet, max: 1 });
  const name = `nasty_cluster_${crypto.randomBytes(6).toString("hex")}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { ...quiet, max: 2 });
  return {
    url: url.href,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end({ timeout: 1 });
    },
  };
}

/**
 * A TCP proxy in front of Postgres: `cut()` drops every connection through it and refuses new ones
 * (Postgres gone, as in an immediate restart or a network cut) until `restore()`.
 */
export class PostgresPath {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private open = true;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      if (!this.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** The database URL through this path. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.host = `127.0.0.1:${this.port}`;
    return url.href;
  }

  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface NodeOptions {
  databaseUrl: string;
  nodeId: number;
  dataDir?: string;
  env?: Record<string, string>;
}

export interface ClusterNode extends ChildServer {
  nodeId: number;
  dataDir: string;
  port: number;
}

export const LEASE_MS = 1000;

/** Starts one node process in cluster mode on a port of its own (a short lease, a quick tail). */
export async function startNode(options: NodeOptions): Promise<ClusterNode> {
  const port = await freePort();
  const dataDir = options.dataDir ?? tempDir("nasty-cluster-");
  const server = await spawnServer(dataDir, {
    env: {
      PORT: String(port), DATABASE_URL: options.databaseUrl, NASTY_CLUSTER: "on", NASTY_NODE_ID: String(options.nodeId),
      NASTY_CLUSTER_URL: `http://127.0.0.1:${port}`, NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: String(LEASE_MS), NASTY_CLUSTER_TAIL_MS: "200",
      NASTY_SNAPSHOT_INTERVAL_S: "3600", ...options.env,
    },
  }).listening;
  return { ...server, nodeId: options.nodeId, dataDir, port };
}

export interface ClusterStatus {
  role: string;
  node_id: number;
  epoch: number;
  leader: { epoch: number; node: number | null; url: string | null } | null;
  applied_seq: number;
  head_seq: number;
  lag_events: number;
  caught_up: boolean;
  store_digest: string | null;
}

export async function clusterStatus(node: ClusterNode): Promise<ClusterStatus> {
  const reply = await request(node.url, "GET", "/api/status");
  assert.equal(reply.status, 200, reply.text);
  const cluster = (reply.json as { cluster?: ClusterStatus }).cluster;
  assert.ok(cluster && typeof cluster.role === "string", `status has a cluster part: ${reply.text}`);
  return cluster;
}

/** Waits (bounded) for `check` to hold, polling. */
export async function eventually<T>(what: string, check: () => Promise<T | null | false>, boundMs = 20_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  let last: unknown = null;
  for (let round = 0; round < 10_000; round += 1) {
    try {
      const value = await check();
      if (value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

export async function ready(node: ClusterNode): Promise<void> {
  await eventually(`node ${node.nodeId} ready`, async () => (await request(node.url, "GET", "/readyz")).status === 200);
}

/** The node that leads, once exactly one of `nodes` says it does and every other names it. */
export async function leaderOf(nodes: readonly ClusterNode[], boundMs = 20_000): Promise<ClusterNode> {
  return eventually("one leader named by every node", async () => {
    const statuses = await Promise.all(nodes.map(clusterStatus));
    const leaders = nodes.filter((_, index) => statuses[index]!.role === "leader");
    if (leaders.length !== 1) return null;
    const leader = leaders[0]!;
    return statuses.every((status) => status.leader?.node === leader.nodeId) ? leader : null;
  }, boundMs);
}

/** Waits until every node applied the same head and their store digests agree; returns the digest. */
export async function converged(nodes: readonly ClusterNode[], boundMs = 20_000): Promise<{ digest: string; seq: number }> {
  return eventually("every node at the same seq with equal stores", async () => {
    const statuses = await Promise.all(nodes.map(clusterStatus));
    const [first] = statuses;
    if (!first || first.store_digest === null) return null;
    const same = statuses.every((status) => status.applied_seq === first.applied_seq && status.store_digest === first.store_digest && status.lag_events === 0);
    return same ? { digest: first.store_digest, seq: first.applied_seq } : null;
  }, boundMs);
}

export async function stopNodes(nodes: readonly ClusterNode[]): Promise<void> {
  for (const node of nodes) {
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill("SIGCONT");
      node.child.kill("SIGKILL");
    }
    await node.exited;
  }
}
