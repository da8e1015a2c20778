// The cluster bench: three nodes on one Postgres on this machine: cross-node delivery latency, durable creates through the leader and a follower, write unavailability after kill -9 of the leader.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import WebSocket from "ws";
import { ROOT } from "./children.ts";
import { judge, type Figure } from "./report.ts";

export interface ClusterPlan {
  /** Creates per second for the latency figures, and how long each rate runs. */
  rates: number[];
  rateSeconds: number;
  /** Concurrent writers and seconds for the creates/s figures. */
  writers: number;
  throughputSeconds: number;
}

const LATENCY_TARGET = { kind: "value-max", value: 100 } as const;
const UNAVAILABLE_TARGET = { kind: "value-max", value: 10_000 } as const;
const LEASE_MS = 3000;
const SECRET = "cluster-bench-secret-0123456789";

interface Node {
  id: number;
  url: string;
  child: ChildProcess;
  dataDir: string;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function startNode(id: number, databaseUrl: string): Promise<Node> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-cluster-bench-"));
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env, PORT: String(port), HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, NASTY_CLUSTER: "on", NASTY_NODE_ID: String(id),
    NASTY_CLUSTER_URL: url, NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: String(LEASE_MS), NASTY_CLUSTER_TAIL_MS: "500",
    NASTY_RATE_LIMIT: "0", NASTY_PASSWORD_COST_LOG2: "10", NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "0", NASTY_LOG_LEVEL: "warn",
  };
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: ROOT, env, stdio: "ignore" });
  const node = { id, url, child, dataDir };
  await until(`node ${id} ready`, async () => (await fetch(`${url}/readyz`)).status === 200, 60_000);
  return node;
}

async function until(what: string, check: () => Promise<boolean>, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (let round = 0; round < 100_000; round += 1) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function role(node: Node): Promise<string> {
  const reply = await fetch(`${node.url}/api/status`);
  return ((await reply.json()) as { cluster: { role: string } }).cluster.role;
}

async function create(node: Node, token: string, number: number): Promise<number> {
  const reply = await fetch(`${node.url}/api/bookmarks`, {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ bookmark: { url: `https://bench.example/${number}`, title: `b${number}`, public: true } }), signal: AbortSignal.timeout(30_000),
  });
  await reply.arrayBuffer();
  return reply.status;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

/** Creates on `from` at `rate`/s for `seconds`; the time from sending each to its push on `to`'s firehose. */
async function latency(from: Node, to: Node, token: string, rate: number, seconds: number, counter: { next: number }): Promise<number[]> {
  const socket = new WebSocket(`${to.url.replace(/^http/, "ws")}/ws`);
  await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  socket.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { op?: string; payload?: { url?: string } };
    const sent = frame.op === undefined && frame.payload?.url ? sentAt.get(frame.payload.url) : undefined;
    if (sent !== undefined) latencies.push(performance.now() - sent);
  });
  socket.send(JSON.stringify({ op: "subscribe", topic: "bookmarks:firehose", ref: "s" }));
  await sleep(200);
  const total = Math.max(1, Math.round(rate * seconds));
  const started = performance.now();
  const pending: Promise<number>[] = [];
  for (let index = 0; index < total; index += 1) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const number = (counter.next += 1);
    sentAt.set(`https://bench.example/${number}`, performance.now());
    pending.push(create(from, token, number));
  }
  await Promise.all(pending);
  await until("every push", async () => latencies.length >= total, 10_000).catch(() => {});
  socket.close();
  return latencies.sort((a, b) => a - b);
}

/** Durable creates per second through `node` with `writers` requests in flight. */
async function throughput(node: Node, token: string, writers: number, seconds: number, counter: { next: number }): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let created = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, async () => {
    for (let index = 0; index < 1_000_000 && performance.now() < deadline; index += 1) if ((await create(node, token, (counter.next += 1))) === 201) created += 1;
  }));
  return created / ((performance.now() - started) / 1000);
}

/** Milliseconds from kill -9 of the leader to the first 201 through a surviving node. */
async function unavailability(nodes: Node[], token: string, counter: { next: number }): Promise<number> {
  const roles = await Promise.all(nodes.map(role));
  const leader = nodes[roles.indexOf("leader")]!;
  const survivor = nodes.find((node) => node !== leader)!;
  const killed = performance.now();
  leader.child.kill("SIGKILL");
  for (let attempt = 0; attempt < 10_000; attempt += 1) {
    if ((await create(survivor, token, (counter.next += 1)).catch(() => 0)) === 201) return performance.now() - killed;
    await sleep(20);
  }
  throw new Error("no write succeeded after the leader was killed");
}

export async function clusterFigures(plan: ClusterPlan, say: (line: string) => void): Promise<Figure[]> {
  const base = process.env.DATABASE_TEST_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  const name = `nasty_cluster_bench_${crypto.randomBytes(6).toString("hex")}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const nodes: Node[] = [];
  try {
    for (let id = 1; id <= 3; id += 1) nodes.push(await startNode(id, url.href));
    await until("a leader", async () => (await Promise.all(nodes.map(role))).includes("leader"), 30_000);
    const roles = await Promise.all(nodes.map(role));
    const leader = nodes[roles.indexOf("leader")]!;
    const followers = nodes.filter((node) => node !== leader);
    const signUp = await fetch(`${leader.url}/api/users`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: { username: "bench", password: "correct horse" } }) });
    const token = ((await signUp.json()) as { token: string }).token;
    const counter = { next: 0 };
    const figures: Figure[] = [];
    for (const rate of plan.rates) {
      say(`cluster: latency at ${rate} creates/s`);
      const sorted = await latency(followers[0]!, followers[1]!, token, rate, plan.rateSeconds, counter);
      for (const [label, p] of [["p50", 0.5], ["p99", 0.99]] as const) {
        figures.push(judge({
          id: `cluster-latency-${rate}-${label}`, name: `cluster: create on node A → push on node C, ${rate}/s, ${label}`, unit: "ms", value: percentile(sorted, p),
          ceiling: null, ceilingName: null, ratio: null, target: LATENCY_TARGET, note: `${sorted.length} pushes; A and C are followers, so each create is forwarded to the leader`, details: { rate, samples: sorted.length },
        }));
      }
    }
    for (const [label, node] of [["leader", leader], ["follower", followers[0]!]] as const) {
      say(`cluster: durable creates through the ${label}`);
      const perSecond = await throughput(node, token, plan.writers, plan.throughputSeconds, counter);
      figures.push(judge({
        id: `cluster-creates-${label}`, name: `cluster: durable creates/s through the ${label}`, unit: "req/s", value: perSecond, ceiling: null, ceilingName: null, ratio: null, target: null,
        note: `${plan.writers} requests in flight (node's fetch client); each acknowledged after its Postgres commit`, details: { writers: plan.writers },
      }));
    }
    say("cluster: kill -9 of the leader");
    const unavailableMs = await unavailability(nodes, token, counter);
    figures.push(judge({
      id: "cluster-unavailable", name: "cluster: writes unavailable after kill -9 of the leader", unit: "ms", value: unavailableMs, ceiling: null, ceilingName: null, ratio: null, target: UNAVAILABLE_TARGET,
      note: `lease ${LEASE_MS} ms`, details: { leaseMs: LEASE_MS },
    }));
    return figures;
  } finally {
    for (const node of nodes) {
      node.child.kill("SIGKILL");
      fs.rmSync(node.dataDir, { recursive: true, force: true });
    }
    await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end({ timeout: 1 });
  }
}
