// The one table of settings: every environment variable Nasty reads, its default and its bounds.
import path from "node:path";
import type { SignupMode } from "./events.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./logger.ts";

type Kind =
  | { kind: "integer"; min: number; max: number }
  | { kind: "string"; pattern?: RegExp; hint?: string }
  | { kind: "choice"; choices: readonly string[] }
  | { kind: "origin" };

interface Setting {
  env: string;
  default: string;
  describe: string;
  type: Kind;
}

/** Every setting, in one place. Names carry their unit last. */
export const SETTINGS = {
  port: { env: "PORT", default: "4000", describe: "HTTP port", type: { kind: "integer", min: 0, max: 65535 } },
  host: { env: "HOST", default: "127.0.0.1", describe: "address to listen on", type: { kind: "string", pattern: /^[0-9a-zA-Z.:\-[\]]+$/, hint: "a host name or IP address" } },
  dataDir: { env: "NASTY_DATA_DIR", default: "./data", describe: "folder for the event log", type: { kind: "string", pattern: /^.+$/, hint: "a folder path" } },
  databaseUrl: { env: "DATABASE_URL", default: "", describe: "Postgres URL; empty turns the flush off", type: { kind: "string", pattern: /^$|^postgres(ql)?:\/\//, hint: "a postgres:// URL" } },
  signup: { env: "NASTY_SIGNUP", default: "open", describe: "sign-up at start: open, closed or invite (invitation only); admins switch it at run time (/admin, `signup`)", type: { kind: "choice", choices: ["open", "closed", "invite"] } },
  rateLimitPerMinute: { env: "NASTY_RATE_LIMIT", default: "600", describe: "requests per minute per token (0: off)", type: { kind: "integer", min: 0, max: 10_000_000 } },
  nodeId: { env: "NASTY_NODE_ID", default: "1", describe: "this node's id, unique among nodes sharing a Postgres", type: { kind: "integer", min: 0, max: 1023 } },
  wsMaxBackpressureBytes: { env: "NASTY_WS_MAX_BACKPRESSURE", default: String(1024 * 1024), describe: "bytes buffered for one websocket before it is cut off", type: { kind: "integer", min: 1024, max: 1024 * 1024 * 1024 } },
  wsIdleTimeoutS: { env: "NASTY_WS_IDLE_TIMEOUT_S", default: "60", describe: "seconds a websocket may stay silent: it is pinged before, and dropped if it does not answer", type: { kind: "integer", min: 8, max: 960 } },
  liveHistoryEvents: { env: "NASTY_LIVE_HISTORY", default: "10000", describe: "committed events kept for live clients that reconnect with ?since= (older ones get a resync)", type: { kind: "integer", min: 0, max: 1_000_000 } },
  flushBatchEvents: { env: "NASTY_FLUSH_BATCH", default: "2000", describe: "events per Postgres flush transaction", type: { kind: "integer", min: 1, max: 100_000 } },
  flushIntervalMs: { env: "NASTY_FLUSH_INTERVAL_MS", default: "200", describe: "pause between Postgres flushes when caught up", type: { kind: "integer", min: 1, max: 60_000 } },
  flushBackoffMaxMs: { env: "NASTY_FLUSH_BACKOFF_MAX_MS", default: "10000", describe: "longest wait between Postgres retries", type: { kind: "integer", min: 10, max: 600_000 } },
  flushTimeoutMs: { env: "NASTY_FLUSH_TIMEOUT_MS", default: "30000", describe: "longest wait for Postgres to answer one flush step before reconnecting", type: { kind: "integer", min: 100, max: 600_000 } },
  logQueueEventsMax: { env: "NASTY_LOG_QUEUE_MAX", default: "100000", describe: "events waiting for commit before writes get 503", type: { kind: "integer", min: 1, max: 10_000_000 } },
  snapshotEveryEvents: { env: "NASTY_SNAPSHOT_EVERY", default: "50000", describe: "a snapshot of the state (then the log behind it is compacted) after this many events", type: { kind: "integer", min: 1, max: 1_000_000_000 } },
  snapshotIntervalS: { env: "NASTY_SNAPSHOT_INTERVAL_S", default: "600", describe: "and at least this often (seconds) while anything changed; also at clean shutdown", type: { kind: "integer", min: 1, max: 7 * 24 * 3600 } },
  publicUrl: { env: "NASTY_PUBLIC_URL", default: "", describe: "the site's public address behind a reverse proxy (https://links.example.org): Origin checks, Secure cookies and every absolute link use it; empty: the address each request came to", type: { kind: "origin" } },
  answerCacheBytes: { env: "NASTY_ANSWER_CACHE_BYTES", default: String(64 * 1024 * 1024), describe: "bytes of encoded answers to visitors who are not logged in (pages, feeds, JSON lists) kept until the next event (0: off)", type: { kind: "integer", min: 0, max: 16 * 1024 * 1024 * 1024 } },
  trustProxy: { env: "NASTY_TRUST_PROXY", default: "false", describe: "behind one reverse proxy: the client's address is the last X-Forwarded-For entry, https is X-Forwarded-Proto", type: { kind: "choice", choices: ["true", "false"] } },
  metricsToken: { env: "NASTY_METRICS_TOKEN", default: "", describe: "turns GET /metrics on, for requests with 'Authorization: Bearer <this>' (16 to 256 visible characters); empty: off", type: { kind: "string", pattern: /^$|^[\x21-\x7e]{16,256}$/, hint: "16 to 256 visible ASCII characters" } },
  passwordCostLog2: { env: "NASTY_PASSWORD_COST_LOG2", default: "17", describe: "scrypt cost of new password hashes, N = 2^this with r=8, p=1 (17 is OWASP's minimum; lower only for tests)", type: { kind: "integer", min: 10, max: 20 } },
  passwordAttemptsPerAddressPerMinute: { env: "NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS", default: "30", describe: "log-ins and sign-ups per client address per minute, on every path that takes a password (0: off)", type: { kind: "integer", min: 0, max: 1_000_000 } },
  logLevel: { env: "NASTY_LOG_LEVEL", default: "info", describe: "least severe log records written", type: { kind: "choice", choices: LOG_LEVELS } },
  logFormat: { env: "NASTY_LOG_FORMAT", default: "text", describe: "log records as one readable line each (text) or one JSON object each (json)", type: { kind: "choice", choices: LOG_FORMATS } },
  accessLog: { env: "NASTY_ACCESS_LOG", default: "off", describe: "one log record per request: method, path, status, bytes, duration, request id, client address", type: { kind: "choice", choices: ["on", "off"] } },
  fetch: { env: "NASTY_FETCH", default: "on", describe: "fetch a page's title and description when a bookmark is saved without a title, and check saved links (off: never request anything)", type: { kind: "choice", choices: ["on", "off"] } },
  fetchAllowPrivate: { env: "NASTY_FETCH_ALLOW_PRIVATE", default: "false", describe: "let fetches reach loopback, private, link-local and other non-public addresses (intranets and tests only)", type: { kind: "choice", choices: ["true", "false"] } },
  linkCheckIntervalS: { env: "NASTY_LINK_CHECK_INTERVAL_S", default: "604800", describe: "seconds from a link's last check (or its save) to its next background check (0: no background checks)", type: { kind: "integer", min: 0, max: 365 * 24 * 3600 } },
  simulateRate: { env: "NASTY_SIMULATE", default: "0", describe: "simulated bookmarks per second (0: off)", type: { kind: "integer", min: 0, max: 100_000 } },
  simulateSeed: { env: "NASTY_SIMULATE_SEED", default: "1", describe: "seed of the traffic simulator", type: { kind: "integer", min: 0, max: 2 ** 31 - 1 } },
  cluster: { env: "NASTY_CLUSTER", default: "off", describe: "cluster mode: several nodes on one Postgres log (needs DATABASE_URL, a unique NASTY_NODE_ID, NASTY_CLUSTER_URL and NASTY_CLUSTER_SECRET)", type: { kind: "choice", choices: ["on", "off"] } },
  clusterUrl: { env: "NASTY_CLUSTER_URL", default: "", describe: "this node's address for the other nodes (http://10.0.0.2:4000), where they forward writes while it leads", type: { kind: "origin" } },
  clusterSecret: { env: "NASTY_CLUSTER_SECRET", default: "", describe: "shared by every node of a cluster: authenticates forwarded writes (16 to 256 visible characters)", type: { kind: "string", pattern: /^$|^[\x21-\x7e]{16,256}$/, hint: "16 to 256 visible ASCII characters" } },
  clusterLeaseMs: { env: "NASTY_CLUSTER_LEASE_MS", default: "3000", describe: "a leader that stops answering Postgres for this long loses the lead (its session is ended: idle_session_timeout)", type: { kind: "integer", min: 500, max: 600_000 } },
  clusterTailMs: { env: "NASTY_CLUSTER_TAIL_MS", default: "1000", describe: "followers also read the log this often (besides on every notification and reconnect)", type: { kind: "integer", min: 10, max: 600_000 } },
  simulateTraffic: { env: "SIMULATE_TRAFFIC", default: "false", describe: "the original app's switch: a gentle simulator", type: { kind: "choice", choices: ["true", "false"] } },
} as const satisfies Record<string, Setting>;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  signup: SignupMode;
  rateLimitPerMinute: number;
  nodeId: number;
  wsMaxBackpressureBytes: number;
  wsIdleTimeoutS: number;
  liveHistoryEvents: number;
  flushBatchEvents: number;
  flushIntervalMs: number;
  flushBackoffMaxMs: number;
  flushTimeoutMs: number;
  logQueueEventsMax: number;
  snapshotEveryEvents: number;
  snapshotIntervalS: number;
  /** The public origin (`https://links.example.org`, no trailing slash), or "" when unset. */
  publicUrl: string;
  answerCacheBytes: number;
  trustProxy: boolean;
  metricsToken: string;
  passwordCostLog2: number;
  passwordAttemptsPerAddressPerMinute: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  accessLog: boolean;
  /** NASTY_FETCH=on: metadata fetches and link checks may make outbound requests. */
  fetch: boolean;
  fetchAllowPrivate: boolean;
  linkCheckIntervalS: number;
  simulateRate: number;
  simulateSeed: number;
  cluster: boolean;
  clusterUrl: string;
  clusterSecret: string;
  clusterLeaseMs: number;
  clusterTailMs: number;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function parseOne(setting: Setting, raw: string): string | number {
  const type = setting.type;
  switch (type.kind) {
    case "integer": {
      if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${setting.env}=${JSON.stringify(raw)} is not a whole number (${setting.describe})`);
      const value = Number(raw);
      if (value < type.min || value > type.max) throw new ConfigError(`${setting.env}=${raw} is out of range ${type.min}..${type.max} (${setting.describe})`);
      return value;
    }
    case "choice":
      if (!type.choices.includes(raw)) throw new ConfigError(`${setting.env}=${JSON.stringify(raw)} must be one of ${type.choices.join(", ")} (${setting.describe})`);
      return raw;
    case "origin":
      return parseOrigin(setting, raw);
    case "string":
      if (type.pattern && !type.pattern.test(raw)) throw new ConfigError(`${setting.env}=${JSON.stringify(raw)} is not ${type.hint ?? "valid"} (${setting.describe})`);
      return raw;
  }
}

/** An absolute http(s) origin, with nothing after the host but an optional "/"; returned without the slash. */
function parseOrigin(setting: Setting, raw: string): string {
  if (raw === "") return "";
  const problem = (why: string) => new ConfigError(`${setting.env}=${JSON.stringify(raw)} ${why}; give the site's public origin, e.g. https://links.example.org (${setting.describe})`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw problem("is not an absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw problem("must start with https:// or http://");
  if (url.username !== "" || url.password !== "") throw problem("must not hold a user name or password");
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || /[?#]/.test(raw)) throw problem("must not have a path, query or fragment (Nasty serves from the root of its origin)");
  return url.origin;
}

/** Environment variables that look like ours but are not in the table: a typo should not pass silently. */
function unknownNastyVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set<string>(Object.values(SETTINGS).map((s) => s.env));
  return Object.keys(env).filter((name) => name.startsWith("NASTY_") && !known.has(name));
}

/**
 * Cluster mode needs its partners set: a node that cannot reach the log or be reached by the others refuses to start.
 * NASTY_NODE_ID must be set outright: its default (1) would let a node meant to be a new one start as node 1.
 */
function checkCluster(values: Record<string, string | number>, env: NodeJS.ProcessEnv): void {
  const missing = [
    values.databaseUrl === "" ? "DATABASE_URL (the cluster's Postgres)" : null,
    env.NASTY_NODE_ID === undefined ? "NASTY_NODE_ID (0-1023, its own on every node)" : null,
    values.clusterUrl === "" ? "NASTY_CLUSTER_URL (this node's address for the others)" : null,
    values.clusterSecret === "" ? "NASTY_CLUSTER_SECRET (shared by every node)" : null,
  ].filter((name) => name !== null);
  if (missing.length > 0) throw new ConfigError(`NASTY_CLUSTER=on needs ${missing.join(", ")}`);
}

/** Reads and validates every setting; throws ConfigError naming the first problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const unknown = unknownNastyVariables(env);
  if (unknown.length > 0) {
    throw new ConfigError(`unknown setting ${unknown.join(", ")}; known NASTY_ settings: ${Object.values(SETTINGS).map((s) => s.env).filter((n) => n.startsWith("NASTY_")).join(", ")}`);
  }
  const values: Record<string, string | number> = {};
  for (const [key, setting] of Object.entries(SETTINGS)) {
    values[key] = parseOne(setting, env[setting.env] ?? setting.default);
  }
  const simulateRate = values.simulateRate as number;
  const cluster = values.cluster === "on";
  if (cluster) checkCluster(values, env);
  return {
    port: values.port as number,
    host: values.host as string,
    dataDir: path.resolve(values.dataDir as string),
    databaseUrl: values.databaseUrl as string,
    signup: values.signup as SignupMode,
    rateLimitPerMinute: values.rateLimitPerMinute as number,
    nodeId: values.nodeId as number,
    wsMaxBackpressureBytes: values.wsMaxBackpressureBytes as number,
    wsIdleTimeoutS: values.wsIdleTimeoutS as number,
    liveHistoryEvents: values.liveHistoryEvents as number,
    flushBatchEvents: values.flushBatchEvents as number,
    flushIntervalMs: values.flushIntervalMs as number,
    flushBackoffMaxMs: values.flushBackoffMaxMs as number,
    flushTimeoutMs: values.flushTimeoutMs as number,
    logQueueEventsMax: values.logQueueEventsMax as number,
    snapshotEveryEvents: values.snapshotEveryEvents as number,
    snapshotIntervalS: values.snapshotIntervalS as number,
    publicUrl: values.publicUrl as string,
    answerCacheBytes: values.answerCacheBytes as number,
    trustProxy: values.trustProxy === "true",
    metricsToken: values.metricsToken as string,
    passwordCostLog2: values.passwordCostLog2 as number,
    passwordAttemptsPerAddressPerMinute: values.passwordAttemptsPerAddressPerMinute as number,
    logLevel: values.logLevel as LogLevel,
    logFormat: values.logFormat as LogFormat,
    accessLog: values.accessLog === "on",
    fetch: values.fetch === "on",
    fetchAllowPrivate: values.fetchAllowPrivate === "true",
    linkCheckIntervalS: values.linkCheckIntervalS as number,
    simulateRate: simulateRate === 0 && values.simulateTraffic === "true" ? 1 : simulateRate,
    simulateSeed: values.simulateSeed as number,
    cluster,
    clusterUrl: values.clusterUrl as string,
    clusterSecret: values.clusterSecret as string,
    clusterLeaseMs: values.clusterLeaseMs as number,
    clusterTailMs: values.clusterTailMs as number,
  };
}
