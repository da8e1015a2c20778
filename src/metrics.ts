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

const requests = new client.Counter({ name: "nasty_http_requests_total", help: "HTTP requests answered, by method, route pattern and status", labelNames: ["method", "route", "status"] as const, registers: [registry] });
const requestSeconds = new client.Histogram({
  name: "nasty_http_request_duration_seconds",
  help: "time from an HTTP request to its answer written, by method, route pattern and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: SECONDS_BUCKETS,
  registers: [registry],
});
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
const pushes = new client.Counter({ name: "nasty_websocket_pushes_total", help: "messages published to a websocket topic with subscribers (each reaches all of them), by endpoint", labelNames: ["endpoint"] as const, registers: [registry] });
const dropped = new client.Counter({
  name: "nasty_websocket_dropped_total",
  help: "websockets closed without a close handshake (1006): cut off at NASTY_WS_MAX_BACKPRESSURE, or the client's connection died",
  labelNames: ["endpoint"] as const,
  registers: [registry],
});

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
  method: string;
  route: string;
  startedMs: number;
}

/** Router hook, when a request arrives: `method()` is read only when metrics are on. */
export function requestStarted(route: string, method: () => string): RequestTiming | null {
  return enabled ? { method: method().toLowerCase(), route, startedMs: performance.now() } : null;
}

/** Router hook, when the answer is written. */
export function requestAnswered(timing: RequestTiming, status: number): void {
  const labels = { method: timing.method, route: timing.route, status: String(status) };
  requests.inc(labels);
  requestSeconds.observe(labels, (performance.now() - timing.startedMs) / 1000);
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

/** Start-up hook, once the log has replayed. */
export function replayed(events: number, ms: number): void {
  replaySeconds.set(ms / 1000);
  replayEvents.set(events);
}

/** Socket hook, once per message published to a topic. */
export function pushed(endpoint: Endpoint): void {
  if (enabled) pushes.inc({ endpoint });
}

/** Socket hook, in each endpoint's close handler. */
export function socketClosed(endpoint: Endpoint, code: number): void {
  if (enabled && code === 1006) dropped.inc({ endpoint });
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
