// The cluster bench: three nodes on one Postgres on this machine: cross-node delivery latency, durable creates through the leader and a follower, write unavailability after SIGSTOP and after kill -9 of the leader.
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import WebSocket from "ws";
import { ROOT } from "./children.ts";
import { FIREHOSE_PATH } from "./fanout.ts";
import { judge, type Figure } from "./report.ts";
import { startCeiling, type CeilingServer } from "./servers.ts";
import { connectSubscriber, type Subscriber } from "./ws-client.ts";

export interface ClusterPlan {
  /** Creates per second for the latency figures, and how long each rate runs. */
  rates: number[];
  rateSeconds: number;
  /** Concurrent writers and seconds for the creates/s figures. */
  writers: number;
  throughputSeconds: number;
  /** Firehose subscribers on each of the three nodes, creates in flight and seconds for the fan-out figures. */
  fanoutPerNode: number;
  fanoutWriters: number;
  fanoutSeconds: number;
}

const LATENCY_TARGET = { kind: "value-max", value: 100 } as const;
/** The single-node fan-out's target, for the same ratio to bare uWS. */
const FANOUT_TARGET = { kind: "ratio-min", value: 0.5 } as const;
const UNAVAILABLE_TARGET = { kind: "value-max", value: 10_000 } as const;
const LEASE_MS = 3000;
const SECRET = "cluster-bench-secret-0123456789";
const METRICS_TOKEN = "cluster-bench-metrics-0123456789";
/** The stage histograms of src/metrics.ts (nasty_cluster_<stage>_seconds): where a create's time goes between leader and receiving node. */
const STAGES = ["create", "append_wait", "commit", "tail_wait", "tail_read", "apply", "local_commit", "applied_lag"] as const;
type Stage = (typeof STAGES)[number];
/**
 * Each stage's histogram name and labels; `create` is the node's whole answer to a create (201s of
 * POST /api/bookmarks), `local_commit` the part of `apply` spent committing to the node's SQLite log (fsync included).
 */
const STAGE_SERIES: Record<Stage, { name: string; labels: Record<string, string> }> = Object.fromEntries(STAGES.map((stage) => [
  stage, stage === "create" ? { name: "nasty_http_request_duration_seconds", labels: { method: "post", route: "/api/bookmarks", status: "201" } }
    : stage === "local_commit" ? { name: "nasty_log_commit_seconds", labels: {} } : { name: `nasty_cluster_${stage}_seconds`, labels: {} },
])) as Record<Stage, { name: string; labels: Record<string, string> }>;

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
    NASTY_CLUSTER_URL: url, NASTY_CLUSTER_SECRET: SECRET, NASTY_CLUSTER_LEASE_MS: String(LEASE_MS), NASTY_CLUSTER_TAIL_MS: "500", NASTY_METRICS_TOKEN: METRICS_TOKEN,
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

/** `create`, with a network failure or a timeout as status 0 (counted as a failed create, not a crashed bench). */
function tryCreate(node: Node, token: string, number: number): Promise<number> {
  return create(node, token, number).catch(() => 0);
}

/** One node's stage histograms: per stage, cumulative counts by upper bound (ms), the sum (ms) and the count. */
type StageHistograms = Map<Stage, { bounds: number[]; cumulative: number[]; sumMs: number; count: number }> & { loopP99Ms?: number };

async function stageHistograms(node: Node): Promise<StageHistograms> {
  const text = await (await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const histograms: StageHistograms = new Map();
  for (const stage of STAGES) {
    const { name, labels } = STAGE_SERIES[stage];
    const entry = { bounds: [] as number[], cumulative: [] as number[], sumMs: 0, count: 0 };
    for (const line of text.split("\n")) {
      const sample = /^(\w+?)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!sample || !sample[1]!.startsWith(name)) continue;
      const found = new Map([...(sample[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]));
      if (Object.entries(labels).some(([key, value]) => found.get(key) !== value)) continue;
      const value = Number(sample[3]);
      const le = found.get("le");
      if (sample[1] === `${name}_bucket` && le !== undefined) {
        entry.bounds.push(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le) * 1000);
        entry.cumulative.push(value);
      } else if (sample[1] === `${name}_sum`) entry.sumMs = value * 1000;
      else if (sample[1] === `${name}_count`) entry.count = value;
    }
    histograms.set(stage, entry);
  }
  // prom-client's event-loop delay, measured since the previous scrape: the node's stalls during the run.
  const loop = /^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text);
  if (loop) histograms.loopP99Ms = Number(loop[1]) * 1000;
  return histograms;
}

/** Per stage, what happened between two scrapes: count, mean and the bucket bound holding the 99th percentile (ms). */
function stageSummary(before: StageHistograms, after: StageHistograms): Record<string, { count: number; meanMs: number; p99AtMostMs: number }> {
  const summary: Record<string, { count: number; meanMs: number; p99AtMostMs: number }> = {};
  for (const stage of STAGES) {
    const a = after.get(stage)!;
    const b = before.get(stage)!;
    const count = a.count - b.count;
    if (count <= 0) continue;
    const counts = a.cumulative.map((value, index) => value - (b.cumulative[index] ?? 0));
    const index = counts.findIndex((value) => value >= 0.99 * count);
    summary[stage] = { count, meanMs: (a.sumMs - b.sumMs) / count, p99AtMostMs: a.bounds[index] ?? Number.POSITIVE_INFINITY };
  }
  if (after.loopP99Ms !== undefined) summary.loop_delay = { count: 0, meanMs: Number.NaN, p99AtMostMs: after.loopP99Ms };
  return summary;
}

function stageText(summary: ReturnType<typeof stageSummary>): string {
  return Object.entries(summary).map(([stage, { meanMs, p99AtMostMs }]) => (stage === "loop_delay" ? `event-loop delay p99 ${p99AtMostMs.toFixed(0)}` : `${stage} ${meanMs.toFixed(1)}/≤${Number.isFinite(p99AtMostMs) ? p99AtMostMs : "∞"}`)).join(", ");
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

/** Creates on `from` at `rate`/s for `seconds`; the time from sending each to its push on `to`'s firehose. */
interface LatencyRun {
  /** Create sent → push on `to`, sorted (ms). */
  sorted: number[];
  /** Create sent → its 201 from `from`, sorted (ms): A answers once it applied the write itself. */
  acks: number[];
  /** Creates actually sent per second (the sending loop falls behind on a starved machine). */
  sentPerSecond: number;
  /** Creates sent, and those not answered 201, by status (0: no answer). */
  sent: number;
  failed: Record<string, number>;
  /** Creates answered 201 whose push never reached `to` within the wait. */
  missedPushes: number;
}

async function latency(from: Node, to: Node, token: string, rate: number, seconds: number, counter: { next: number }): Promise<LatencyRun> {
  const socket = new WebSocket(`${to.url.replace(/^http/, "ws")}/ws`);
  await new Promise((resolve, reject) => (socket.once("open", resolve), socket.once("error", reject)));
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const pushed = new Set<string>();
  socket.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { op?: string; payload?: { url?: string } };
    const url = frame.op === undefined ? frame.payload?.url : undefined;
    const sent = url === undefined ? undefined : sentAt.get(url);
    if (url === undefined || sent === undefined || pushed.has(url)) return;
    pushed.add(url);
    latencies.push(performance.now() - sent);
  });
  socket.send(JSON.stringify({ op: "subscribe", topic: "bookmarks:firehose", ref: "s" }));
  await sleep(200);
  const total = Math.max(1, Math.round(rate * seconds));
  const started = performance.now();
  const pending: Promise<number>[] = [];
  const acks: number[] = [];
  const created: string[] = [];
  const failed: Record<string, number> = {};
  for (let index = 0; index < total; index += 1) {
    const due = started + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const number = (counter.next += 1);
    const sent = performance.now();
    const url = `https://bench.example/${number}`;
    sentAt.set(url, sent);
    pending.push(tryCreate(from, token, number).then((status) => {
      if (status === 201) {
        acks.push(performance.now() - sent);
        created.push(url);
      } else failed[status] = (failed[status] ?? 0) + 1;
      return status;
    }));
  }
  const sentPerSecond = total / ((performance.now() - started) / 1000);
  await Promise.all(pending);
  await until("every push", async () => created.every((url) => pushed.has(url)), 10_000).catch(() => {});
  socket.close();
  const missedPushes = created.filter((url) => !pushed.has(url)).length;
  return { sorted: latencies.sort((a, b) => a - b), acks: acks.sort((a, b) => a - b), sentPerSecond, sent: total, failed, missedPushes };
}

/** Durable creates per second through `node` with `writers` requests in flight. */
async function throughput(node: Node, token: string, writers: number, seconds: number, counter: { next: number }): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let created = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: writers }, async () => {
    for (let index = 0; index < 1_000_000 && performance.now() < deadline; index += 1) if ((await tryCreate(node, token, (counter.next += 1))) === 201) created += 1;
  }));
  return created / ((performance.now() - started) / 1000);
}

/**
 * Milliseconds from `signal` to the leader (SIGKILL: kill -9; SIGSTOP: paused, as by a long GC or
 * a frozen VM) to the first 201 through a surviving follower; a paused leader gets SIGCONT after,
 * and the bench waits until it follows the new leader.
 */
async function unavailability(nodes: Node[], token: string, counter: { next: number }, signal: "SIGKILL" | "SIGSTOP"): Promise<{ ms: number; failed: number }> {
  const roles = await Promise.all(nodes.map(role));
  const leader = nodes[roles.indexOf("leader")]!;
  const survivor = nodes.find((node) => node !== leader)!;
  const stopped = performance.now();
  leader.child.kill(signal);
  let failed = 0;
  try {
    for (let attempt = 0; attempt < 10_000; attempt += 1) {
      if ((await tryCreate(survivor, token, (counter.next += 1))) === 201) return { ms: performance.now() - stopped, failed };
      failed += 1;
      await sleep(20);
    }
    throw new Error(`no write succeeded after ${signal} of the leader`);
  } finally {
    if (signal === "SIGSTOP") {
      leader.child.kill("SIGCONT");
      await until("the paused leader following again", async () => (await role(leader)) === "follower" && (await Promise.all(nodes.map(role))).filter((name) => name === "leader").length === 1, 60_000);
    }
  }
}

interface FanoutRun { deliveriesPerSecond: number; creates: number; deliveries: number; seconds: number; p50Ms: number; p99Ms: number; subscribers: number; dropped: number }

/**
 * `perPort` firehose subscribers on each port, then `writers` creates in flight for `seconds`
 * through `post` (which resolves once the create is acknowledged where it must be): every push
 * received counts as a delivery, and its latency is from sending its create to its receipt.
 */
async function fanoutRun(ports: number[], perPort: number, writers: number, seconds: number, post: (number: number) => Promise<boolean>, counter: { next: number }): Promise<FanoutRun> {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let dropped = 0;
  let measuring = false;
  const marker = Buffer.from("bench.example/fan/");
  const onFrame = (_subscriber: Subscriber, data: Buffer, start: number, end: number) => {
    if (!measuring) return;
    const at = data.indexOf(marker, start);
    if (at < 0 || at >= end) return;
    let number = 0;
    for (let index = at + marker.length; index < end && data[index]! >= 0x30 && data[index]! <= 0x39; index += 1) number = number * 10 + data[index]! - 0x30;
    const sent = sentAt.get(number);
    if (sent !== undefined) latencies.push(performance.now() - sent);
  };
  const subscribers: Subscriber[] = [];
  try {
    for (const port of ports) {
      for (let index = 0; index < perPort; index += 1) {
        subscribers.push(await connectSubscriber({ port, path: FIREHOSE_PATH, onFrame, onClose: () => (dropped += 1), timeoutMs: 20_000 }));
      }
    }
    await sleep(300);
    measuring = true;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    let creates = 0;
    await Promise.all(Array.from({ length: writers }, async () => {
      for (let index = 0; index < 1_000_000 && performance.now() < deadline; index += 1) {
        const number = (counter.next += 1);
        sentAt.set(number, performance.now());
        if (await post(number)) creates += 1;
      }
    }));
    const expected = creates * subscribers.length;
    await until("the fan-out's last pushes", async () => latencies.length >= expected, 5000).catch(() => {});
    const elapsed = (performance.now() - started) / 1000;
    measuring = false;
    latencies.sort((a, b) => a - b);
    return {
      deliveriesPerSecond: latencies.length / elapsed, creates, deliveries: latencies.length, seconds: elapsed,
      p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), subscribers: subscribers.length, dropped,
    };
  } finally {
    for (const subscriber of subscribers) subscriber.socket.destroy();
  }
}

function fanoutBody(number: number): string {
  return JSON.stringify({ bookmark: { url: `https://bench.example/fan/${number}`, title: `f${number}`, public: true } });
}

/**
 * Fan-out with subscribers spread over the three nodes, creates through the leader; the ceiling,
 * in the same run: three bare uWS servers with as many subscribers each, every create posted to
 * all three (each publishes it to its own subscribers, as each node does).
 */
async function fanoutFigures(nodes: Node[], leader: Node, token: string, plan: ClusterPlan, counter: { next: number }): Promise<Figure[]> {
  const portOf = (node: Node) => Number(new URL(node.url).port);
  const cluster = await fanoutRun(nodes.map(portOf), plan.fanoutPerNode, plan.fanoutWriters, plan.fanoutSeconds, async (number) => {
    const reply = await fetch(`${leader.url}/api/bookmarks`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: fanoutBody(number), signal: AbortSignal.timeout(30_000) });
    await reply.arrayBuffer();
    return reply.status === 201;
  }, counter);
  const postAnswer = "{}";
  const ceilings: CeilingServer[] = [];
  let ceiling: FanoutRun;
  try {
    for (let index = 0; index < 3; index += 1) ceilings.push(await startCeiling({ postAnswer, gets: {}, wsPath: "/ws", topic: "bookmarks:firehose", frameBytes: 0, maxBackpressureBytes: 1024 * 1024 }));
    ceiling = await fanoutRun(ceilings.map((server) => server.port), plan.fanoutPerNode, plan.fanoutWriters, plan.fanoutSeconds, async (number) => {
      const replies = await Promise.all(ceilings.map(async (server) => {
        const reply = await fetch(`${server.base}/api/bookmarks`, { method: "POST", headers: { "content-type": "application/json" }, body: fanoutBody(number), signal: AbortSignal.timeout(30_000) });
        await reply.arrayBuffer();
        return reply.status;
      }));
      return replies.every((status) => status === 201);
    }, counter);
  } finally {
    await Promise.all(ceilings.map((server) => server.stop()));
  }
  const note = `${cluster.subscribers} subscribers (${plan.fanoutPerNode} per node), ${plan.fanoutWriters} creates in flight through the leader: ${cluster.creates} creates in ${cluster.seconds.toFixed(1)} s; ceiling: three bare uWS servers, each create posted to all three (${ceiling.creates} creates)${cluster.dropped + ceiling.dropped > 0 ? `; ${cluster.dropped} + ${ceiling.dropped} sockets dropped` : ""}`;
  return [
    judge({
      id: "cluster-fanout", name: "cluster: fan-out, subscribers spread over three nodes", unit: "deliveries/s", value: cluster.deliveriesPerSecond,
      ceiling: ceiling.deliveriesPerSecond, ceilingName: "three bare uWS publishers", ratio: ceiling.deliveriesPerSecond > 0 ? cluster.deliveriesPerSecond / ceiling.deliveriesPerSecond : null,
      target: FANOUT_TARGET, note, details: { cluster, ceiling, perNode: plan.fanoutPerNode, writers: plan.fanoutWriters },
    }),
    judge({
      id: "cluster-fanout-p99", name: "cluster: fan-out over three nodes, create → receipt p99", unit: "ms", value: cluster.p99Ms,
      ceiling: ceiling.p99Ms, ceilingName: "three bare uWS publishers", ratio: cluster.p99Ms > 0 ? ceiling.p99Ms / cluster.p99Ms : null,
      target: LATENCY_TARGET, note: `p50 ${cluster.p50Ms.toFixed(1)} ms (bare ${ceiling.p50Ms.toFixed(1)} ms); ${note}`, details: { cluster, ceiling },
    }),
  ];
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
      const watched = [followers[0]!, leader, followers[1]!];
      const before = await Promise.all(watched.map(stageHistograms));
      const run = await latency(followers[0]!, followers[1]!, token, rate, plan.rateSeconds, counter);
      const { sorted, acks, sentPerSecond } = run;
      const after = await Promise.all(watched.map(stageHistograms));
      const [sender, lead, receiver] = watched.map((_, index) => stageSummary(before[index]!, after[index]!));
      const stages = { sender: sender!, leader: lead!, receiver: receiver! };
      const { sent, failed, missedPushes } = run;
      const failedCount = Object.values(failed).reduce((sum, count) => sum + count, 0);
      // A create that failed or a push that never came is not in the percentiles: the row says so and does not pass.
      const lost = failedCount + missedPushes > 0 ? `LOST: ${failedCount} of ${sent} creates not answered 201 (by status, 0 = no answer: ${JSON.stringify(failed)}), ${missedPushes} pushes of 201 creates never reached C; ` : "";
      for (const [label, p] of [["p50", 0.5], ["p99", 0.99]] as const) {
        const figure = judge({
          id: `cluster-latency-${rate}-${label}`, name: `cluster: create on node A → push on node C, ${rate}/s, ${label}`, unit: "ms", value: percentile(sorted, p),
          ceiling: null, ceilingName: null, ratio: null, target: LATENCY_TARGET, note: `${lost}${sorted.length} pushes of ${sent} creates, ${sentPerSecond.toFixed(0)} creates/s sent; A and C are followers, so each create is forwarded to the leader; A's 201 p50 ${percentile(acks, 0.5).toFixed(0)} ms, p99 ${percentile(acks, 0.99).toFixed(0)} ms; stages mean/p99 ms: A ${stageText(stages.sender)}; leader ${stageText(stages.leader)}; C ${stageText(stages.receiver)}`,
          details: { rate, samples: sorted.length, sent, failedCreates: failed, missedPushes, sentPerSecond, ackP50Ms: percentile(acks, 0.5), ackP99Ms: percentile(acks, 0.99), stages },
        });
        figures.push(lost === "" ? figure : { ...figure, pass: false });
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
    say("cluster: fan-out with subscribers on all three nodes");
    figures.push(...(await fanoutFigures(nodes, leader, token, plan, counter)));
    say("cluster: SIGSTOP of the leader");
    const paused = await unavailability(nodes, token, counter, "SIGSTOP");
    figures.push(judge({
      id: "cluster-unavailable-sigstop", name: "cluster: writes unavailable after SIGSTOP of the leader", unit: "ms", value: paused.ms, ceiling: null, ceilingName: null, ratio: null, target: UNAVAILABLE_TARGET,
      note: `lease ${LEASE_MS} ms: the paused leader's Postgres session ends after the lease, another node takes the lead, and the follower gives the write to it at once; ${paused.failed} creates failed meanwhile`,
      details: { leaseMs: LEASE_MS, failedCreates: paused.failed },
    }));
    say("cluster: kill -9 of the leader");
    const killed = await unavailability(nodes, token, counter, "SIGKILL");
    figures.push(judge({
      id: "cluster-unavailable", name: "cluster: writes unavailable after kill -9 of the leader", unit: "ms", value: killed.ms, ceiling: null, ceilingName: null, ratio: null, target: UNAVAILABLE_TARGET,
      note: `lease ${LEASE_MS} ms; ${killed.failed} creates failed meanwhile`, details: { leaseMs: LEASE_MS, failedCreates: killed.failed },
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
