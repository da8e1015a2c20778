// Prometheus metrics (prom-client): one registry per process, fed by plain one-line hooks in the router, the log, the sockets and the flush.
import { createHash, timingSafeEqual } from "node:crypto";
import client from "prom-client";

/**
 * Everything here is off until enableMetrics() (NASTY_METRICS_TOKEN is set): each hook is then a
 * boolean test and nothing else. Counters are process-wide, like the process they describe;
 * gauges are read at scrape time from the running servers' own state (watchServer), so the hot
 * paths keep no second copy of it.
 */
let enabled = false;
const registry = new client.Registry();

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Requests of one route pattern by method and status: plain numbers on the hot path, turned into samples only at scrape time. */
interface RequestEntry {
  method: string;
  status: string;
  /** Requests per latency bucket (not cumulative); the last one is +Inf. */
  buckets: Float64Array;
  seconds: number;
  count: number;
}

class RouteMeter {
  readonly entries = new Map<string, RequestEntry>();

  constructor(readonly route: string) {}

  record(method: string, status: number, seconds: number): void {
    const key = `${method} ${status}`;
    let entry = this.entries.get(key);
    if (!entry) this.entries.set(key, (entry = { method, status: String(status), buckets: new Float64Array(SECONDS_BUCKETS.length + 1), seconds: 0, count: 0 }));
    let bucket = 0;
    while (bucket < SECONDS_BUCKETS.length && seconds > SECONDS_BUCKETS[bucket]!) bucket += 1;
    entry.buckets[bucket]! += 1;
    entry.seconds += seconds;
    entry.count += 1;
  }
}

/** One meter per route pattern for the process (servers in one process share a pattern's counts, like every counter here). */
const routeMeters = new Map<string, RouteMeter>();

function meterOf(route: string): RouteMeter {
  let meter = routeMeters.get(route);
  if (!meter) routeMeters.set(route, (meter = new RouteMeter(route)));
  return meter;
}

type RequestLabel = "method" | "route" | "status";
/** A sample as prom-client's text writer takes it; `le` rides along in the labels of buckets. */
type Sample = { value: number; labels: Record<string, string>; metricName?: string };

/** The requests' samples: counts, or cumulative latency buckets with sum and count, as the text format wants them. */
function requestSamples(name: string, histogram: boolean): Sample[] {
  const values: Sample[] = [];
  for (const meter of routeMeters.values()) {
    for (const entry of meter.entries.values()) {
      const labels = { method: entry.method, route: meter.route, status: entry.status };
      if (!histogram) {
        values.push({ value: entry.count, labels });
        continue;
      }
      let cumulative = 0;
      SECONDS_BUCKETS.forEach((bound, index) => {
        cumulative += entry.buckets[index]!;
        values.push({ value: cumulative, labels: { ...labels, le: String(bound) }, metricName: `${name}_bucket` });
      });
      values.push({ value: entry.count, labels: { ...labels, le: "+Inf" }, metricName: `${name}_bucket` });
      values.push({ value: entry.seconds, labels, metricName: `${name}_sum` });
      values.push({ value: entry.count, labels, metricName: `${name}_count` });
    }
  }
  return values;
}

/**
 * The request metrics as prom-client writes them: prom-client's text writer asks each metric
 * for `getForPromString()` when it has one, so these two answer from the meters instead of from
 * prom-client's own per-label hash maps (which cost microseconds per request to keep).
 */
const REQUESTS = { name: "nasty_http_requests_total", help: "HTTP requests answered, by method, route pattern and status" };
const LATENCY = { name: "nasty_http_request_duration_seconds", help: "time from an HTTP request to its answer written, by method, route pattern and status" };

class RequestCounter extends client.Counter<RequestLabel> {
  async getForPromString() {
    return { ...REQUESTS, type: "counter", aggregator: "sum", values: requestSamples(REQUESTS.name, false) };
  }
}

class RequestHistogram extends client.Histogram<RequestLabel> {
  async getForPromString() {
    return { ...LATENCY, type: "histogram", aggregator: "sum", values: requestSamples(LATENCY.name, true) };
  }
}

new RequestCounter({ ...REQUESTS, labelNames: ["method", "route", "status"], registers: [registry] });
new RequestHistogram({ ...LATENCY, labelNames: ["method", "route", "status"], buckets: SECONDS_BUCKETS, registers: [registry] });

const eventsAppended = new client.Counter({ name: "nasty_events_appended_total", help: "events committed to the event log", registers: [registry] });
const commitBatchEvents = new client.Histogram({
  name: "nasty_log_commit_batch_events",
  help: "events per group-commit transaction of the event log",
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
  registers: [registry],
});
const commitSeconds = new client.Histogram({ name: "nasty_log_commit_seconds", help: "time from sending a batch to the log writer to its commit", buckets: SECONDS_BUCKETS, registers: [registry] });
const commitFailures = new client.Counter({ name: "nasty_log_commit_failures_total", help: "batches the event log could not commit (their writes answered 503)", registers: [registry] });
const replaySeconds = new client.Gauge({ name: "nasty_replay_seconds", help: "how long the last start-up replay of the event log took", registers: [registry] });
const replayEvents = new client.Gauge({ name: "nasty_replay_events", help: "events the last start-up replay applied", registers: [registry] });
/**
 * Cluster mode, one histogram per stage between an append on the leader and its delivery on a node
 * (bench/cluster.ts reads them to say where cross-node latency goes).
 */
export type ClusterStage = "append_wait" | "commit" | "tail_wait" | "tail_read" | "apply" | "applied_lag";
const clusterStageHelp: Record<ClusterStage, string> = {
  append_wait: "leader: from an append to the start of the Postgres transaction that carries it (group commit, one in flight)",
  commit: "leader: one append transaction, from BEGIN to COMMIT",
  tail_wait: "every node: from a tail trigger (notification, timer, apply wait) to the start of the tail read that serves it",
  tail_read: "every node: one tail query of the cluster's log",
  apply: "every node: from handing committed events to the local log to their being applied (stored, folded, published)",
  applied_lag: "every node: from the leader's append transaction starting (the event's ts) to this node applying the event",
};
const clusterStages = Object.fromEntries(Object.entries(clusterStageHelp).map(([stage, help]) => [
  stage, new client.Histogram({ name: `nasty_cluster_${stage}_seconds`, help, buckets: SECONDS_BUCKETS, registers: [registry] }),
])) as Record<ClusterStage, client.Histogram>;
/** Per-publish and per-close counts stay plain numbers; their counters read them at scrape time. */
const pushCounts = { json: 0, live: 0 };
const dropCounts = { json: 0, live: 0 };

function endpointCounter(name: string, help: string, counts: Record<string, number>): void {
  new client.Counter({
    name, help, labelNames: ["endpoint"] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [endpoint, count] of Object.entries(counts)) this.inc({ endpoint }, count);
    },
  });
}
endpointCounter("nasty_websocket_pushes_total", "messages published to a websocket topic with subscribers (each reaches all of them), by endpoint", pushCounts);
endpointCounter("nasty_websocket_dropped_total", "websockets closed without a close handshake (1006): cut off at NASTY_WS_MAX_BACKPRESSURE, or the client's connection died", dropCounts);

/** Websocket endpoints: `json` is /ws and Phoenix's /socket/websocket (JSON topics), `live` the pages' /live. */
export type Endpoint = "json" | "live";

/** What one running server reports at scrape time. */
export interface ServerGauges {
  /** Open websockets by endpoint. */
  connections(): Record<Endpoint, number>;
  /** Topic subscriptions held by open websockets. */
  subscriptions(): number;
  /** Events committed but not yet in Postgres, and the age of the oldest; null when the flush is off or has not started. */
  flushLag(): { events: number; seconds: number } | null;
  /** Cluster mode: this node's part (null on a single node). */
  cluster?(): { leading: boolean; epoch: number; lagEvents: number; caughtUp: boolean; failing: boolean } | null;
}

const servers = new Set<ServerGauges>();

function sum(read: (server: ServerGauges) => number): number {
  let total = 0;
  for (const server of servers) total += read(server);
  return total;
}

new client.Gauge({
  name: "nasty_websocket_connections",
  help: "open websockets by endpoint",
  labelNames: ["endpoint"] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const server of servers) for (const [endpoint, count] of Object.entries(server.connections())) this.inc({ endpoint }, count);
  },
});
new client.Gauge({ name: "nasty_websocket_subscriptions", help: "topic subscriptions held by open websockets", registers: [registry], collect() { this.set(sum((server) => server.subscriptions())); } });
new client.Gauge({ name: "nasty_flush_lag_events", help: "events committed to the log and not yet flushed to Postgres (0 when caught up or the flush is off)", registers: [registry], collect() {
  this.reset();
  for (const server of servers) {
    const lag = server.flushLag();
    if (lag) this.inc(lag.events);
  }
} });
new client.Gauge({ name: "nasty_flush_lag_seconds", help: "age of the oldest event not yet flushed to Postgres (0 when caught up or the flush is off)", registers: [registry], collect() {
  this.reset();
  let oldest: number | null = null;
  for (const server of servers) {
    const lag = server.flushLag();
    if (lag) oldest = Math.max(oldest ?? 0, lag.seconds);
  }
  if (oldest !== null) this.set(oldest);
} });

/** Cluster mode, per node: who leads (an alert on "no node leads" sums nasty_cluster_leader), and how far behind the log this node is. */
const clusterGauges: [string, string, (part: NonNullable<ReturnType<NonNullable<ServerGauges["cluster"]>>>) => number][] = [
  ["nasty_cluster_leader", "1 while this node leads the cluster, else 0 (0 outside cluster mode)", (part) => (part.leading ? 1 : 0)],
  ["nasty_cluster_epoch", "the cluster's current epoch as this node knows it, /api/status cluster.epoch (0: none yet, or outside cluster mode)", (part) => part.epoch],
  ["nasty_cluster_lag_events", "events in the cluster's log this node has not applied yet", (part) => part.lagEvents],
  ["nasty_cluster_caught_up", "1 once this node caught up with the cluster's log at start (it is ready), else 0", (part) => (part.caughtUp ? 1 : 0)],
  ["nasty_cluster_failing", "1 while this node's cluster status has a last_error (it cannot read the log: it serves reads from memory and refuses writes), else 0", (part) => (part.failing ? 1 : 0)],
];
for (const [name, help, read] of clusterGauges) {
  new client.Gauge({ name, help, registers: [registry], collect() {
    this.reset();
    for (const server of servers) {
      const part = server.cluster?.();
      if (part) this.inc(read(part));
    }
  } });
}

/** Turns the hooks on and starts prom-client's default metrics (heap, event-loop delay, GC, CPU), once per process. */
export function enableMetrics(): void {
  if (enabled) return;
  enabled = true;
  client.collectDefaultMetrics({ register: registry });
}

/** Reports `gauges` at each scrape until the returned function is called (the server closes). */
export function watchServer(gauges: ServerGauges): () => void {
  servers.add(gauges);
  return () => servers.delete(gauges);
}

/** A request under way, or null when metrics are off. */
export interface RequestTiming {
  meter: RouteMeter;
  method: string;
  startedMs: number;
}

/** Router hook, when a request arrives (uWS's request is read only when metrics are on; its method is lower case). */
export function requestStarted(route: string, req: { getMethod(): string }): RequestTiming | null {
  return enabled ? { meter: meterOf(route), method: req.getMethod(), startedMs: performance.now() } : null;
}

/** Router hook, when the answer is written. */
export function requestAnswered(timing: RequestTiming, status: number): void {
  timing.meter.record(timing.method, status, (performance.now() - timing.startedMs) / 1000);
}

/** Log hook, once per batch the writer answered. */
export function logCommitted(events: number, commitMs: number, ok: boolean): void {
  if (!enabled) return;
  if (!ok) {
    commitFailures.inc();
    return;
  }
  eventsAppended.inc(events);
  commitBatchEvents.observe(events);
  commitSeconds.observe(commitMs / 1000);
}

/** Cluster hook: one stage took `ms`. */
export function clusterStage(stage: ClusterStage, ms: number): void {
  if (enabled) clusterStages[stage].observe(ms / 1000);
}

/** Start-up hook, once the log has replayed. */
export function replayed(events: number, ms: number): void {
  replaySeconds.set(ms / 1000);
  replayEvents.set(events);
}

/** Socket hook, once per message published to a topic. */
export function pushed(endpoint: Endpoint): void {
  if (enabled) pushCounts[endpoint] += 1;
}

/** Socket hook, in each endpoint's close handler. */
export function socketClosed(endpoint: Endpoint, code: number): void {
  if (enabled && code === 1006) dropCounts[endpoint] += 1;
}

export const METRICS_CONTENT_TYPE = registry.contentType;

/** The text exposition of every metric. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}

/** Whether an Authorization header carries `Bearer <token>`, compared in constant time. */
export function metricsAuthorized(authorization: string, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return false;
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
