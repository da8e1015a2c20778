// Test support: a cluster of Nasty node processes on loopback over one fresh Postgres database, and a cuttable TCP path to Postgres.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
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
 * A TCP proxy in front of Postgres, in a process of its own (this test process's pauses must not
 * pause the nodes' Postgres traffic): `cut()` drops every connection through it and refuses new
 * ones (Postgres gone, as in an immediate restart or a network cut) until `restore()`.
 */
export class PostgresPath {
  private child: ChildProcess | null = null;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async listen(): Promise<void> {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./postgres-path.mjs", import.meta.url)), this.target.host, String(this.target.port)], { stdio: ["pipe", "pipe", "inherit"] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.stdout!.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once("exit", (code) => reject(new Error(`the Postgres proxy exited (${code})`)));
    });
  }

  /** The database URL through this path. */
  url(databaseUrl: string): string {
    const url = new URL(databaseUrl);
    url.host = `127.0.0.1:${this.port}`;
    return url.href;
  }

  cut(): Promise<void> {
    return this.command("cut");
  }

  restore(): Promise<void> {
    return this.command("restore");
  }

  /** Connections whose first kilobyte from the client (start-up message, first queries) holds `text` stay open but pass nothing any more, either way. */
  freeze(text: string): Promise<void> {
    return this.command(`freeze ${text}`);
  }

  private command(line: string): Promise<void> {
    const child = this.child!;
    return new Promise((resolve) => {
      child.stdout!.once("data", () => resolve());
      child.stdin!.write(`${line}\n`);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
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

/** Short enough for quick take-overs, long enough that a loaded 2-core machine does not flap. */
export const LEASE_MS = 2000;

/** Ports tried before startNode gives up: each one free when picked, but taken by another process before the node listened. */
const PORT_ATTEMPTS_MAX = 5;

/**
 * Starts one node process in cluster mode on a port of its own (a short lease, a quick tail). The
 * port is picked before the process starts (its NASTY_CLUSTER_URL names it) and released meanwhile:
 * when another process took it first, the node refuses it ("cannot listen") and a new one is picked.
 */
export async function startNode(options: NodeOptions): Promise<ClusterNode> {
  const dataDir = options.dataDir ?? tempDir("nasty-cluster-");
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    try {
      const server = await spawnServer(dataDir, {
        env: {
          PORT: String(port), DATABASE_URL: options.databaseUrl, NASTY_CLUSTER: "on", NASTY_NODE_ID: String(options.nodeId),
          NASTY_CLUSTER_URL: `http://127.0.0.1:${port}`, NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: String(LEASE_MS), NASTY_CLUSTER_TAIL_MS: "200",
          NASTY_SNAPSHOT_INTERVAL_S: "3600", ...options.env,
        },
        // Generous: several node processes start on two cores shared with other suites.
        startMsMax: 120_000,
      }).listening;
      return { ...server, nodeId: options.nodeId, dataDir, port };
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS_MAX || !/cannot listen on 127\.0\.0\.1:\d+ \(in use/.test(String(error))) throw error;
    }
  }
}

export interface ClusterStatus {
  role: string;
  node_id: number;
  epoch: number;
  led_epoch: number;
  leader: { epoch: number; node: number | null; url: string | null } | null;
  applied_seq: number;
  head_seq: number;
  lag_events: number;
  caught_up: boolean;
  last_error: string | null;
  store_digest: string | null;
  log_start_seq: number;
  last_cut: { seq: number; log_rows: number; ms: number } | null;
  last_cut_error: string | null;
}

export async function clusterStatus(node: ClusterNode): Promise<ClusterStatus> {
  const reply = await request(node.url, "GET", "/api/status");
  assert.equal(reply.status, 200, reply.text);
  const cluster = (reply.json as { cluster?: ClusterStatus }).cluster;
  assert.ok(cluster && typeof cluster.role === "string", `status has a cluster part: ${reply.text}`);
  return cluster;
}

/** Waits (bounded) for `check` to hold, polling. */
export async function eventually<T>(what: string, check: () => Promise<T | null | false>, boundMs = 60_000): Promise<T> {
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
export async function leaderOf(nodes: readonly ClusterNode[], boundMs = 60_000): Promise<ClusterNode> {
  return eventually("one leader named by every node", async () => {
    const statuses = await Promise.all(nodes.map(clusterStatus));
    const leaders = nodes.filter((_, index) => statuses[index]!.role === "leader");
    if (leaders.length !== 1) return null;
    const leader = leaders[0]!;
    return statuses.every((status) => status.leader?.node === leader.nodeId) ? leader : null;
  }, boundMs);
}

/** Waits until every node applied the same head and their store digests agree; returns the digest. */
export async function converged(nodes: readonly ClusterNode[], boundMs = 60_000): Promise<{ digest: string; seq: number }> {
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
    // A node that ended on its own (not by a test's signal) says why.
    if (node.child.exitCode !== null) console.log(`# node ${node.nodeId} exited with ${node.child.exitCode}:\n${node.output().split("\n").filter((line) => !/ access /.test(line)).slice(-20).join("\n")}`);
    if (node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill("SIGCONT");
      node.child.kill("SIGKILL");
    }
    await node.exited;
  }
}

/** A fresh database and `count` nodes on it, all ready; stopping them and dropping the database is pushed onto `cleanups`. */
export async function startCluster(count: number, cleanups: (() => Promise<void>)[]): Promise<{ db: TestDatabase; nodes: ClusterNode[] }> {
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
