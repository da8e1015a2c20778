// The composition root: config → lock → event log → replay → HTTP and websockets → timers.
import { createHash } from "node:crypto";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { TemplatedApp, us_listen_socket } from "uWebSockets.js";
import { loadConfig, ConfigError, SETTINGS, type Config } from "./config.ts";
import type { LoggedEvent } from "./events.ts";
import { EventVersionError } from "./event-upgrade.ts";
import { SqliteLog } from "./log/sqlite.ts";
import { lockDataDir, DataDirLockedError } from "./log/lock.ts";
import { PostgresFlusher } from "./log/postgres.ts";
import { ClusterLog } from "./log/cluster.ts";
import { ClusterMismatch } from "./log/cluster-id.ts";
import { joinFromSharedSnapshot } from "./log/cluster-snapshots.ts";
import { ClusterRouting, routeWritesThrough } from "./http/forward.ts";
import { registerClusterWrites } from "./http/cluster-writes.ts";
import { DataDirError, restoreState, Snapshotter, type Restored } from "./log/snapshots.ts";
import { Store } from "./store/store.ts";
import { snapshot as storeSnapshot } from "./store/check.ts";
import { Commands } from "./commands/commands.ts";
import { RateLimiter } from "./auth/rate-limit.ts";
import { listenExclusive, loadNativeUws, UwsUnavailableError, type LoadedUws } from "./http/uws.ts";
import { registerApi } from "./http/api.ts";
import { PageFetcher } from "./fetch/page-fetcher.ts";
import { LinkChecker, MetadataJobs } from "./fetch/link-jobs.ts";
import { registerLinkPages } from "./http/pages-links.ts";
import { AnswerCache } from "./http/answer-cache.ts";
import { registerPages } from "./http/pages.ts";
import { SearchIndex } from "./search/index.ts";
import { loadSearchSection, searchSections, SNAPSHOT_JOB } from "./search/snapshot-section.ts";
import { registerTransfer } from "./interop/transfer.ts";
import { registerFeeds } from "./interop/feeds.ts";
import { registerPinboard } from "./interop/pinboard.ts";
import { registerLinkding } from "./interop/linkding.ts";
import { checkUploadWrite, registerDiscoveryPages } from "./http/pages-discovery.ts";
import { registerRealtime } from "./realtime/realtime.ts";
import type { SocketCommentWriter } from "./realtime/socket-hub.ts";
import { commentJson } from "./render/json.ts";
import type { RegisterSocket } from "./realtime/admission.ts";
import { socketRoute } from "./http/router.ts";
import { LiveDelivery } from "./realtime/live.ts";
import { registerLiveSocket } from "./realtime/html-socket.ts";
import { EventRate, startStatsTicker } from "./realtime/stats-ticker.ts";
import { wireTopic } from "./realtime/topics.ts";
import { CardCache } from "./render/html.ts";
import { adminOverview, renderAdminPanel } from "./render/admin.ts";
import type { StatsSources } from "./render/stats.ts";
import { Simulator } from "./simulator/simulator.ts";
import { parseFlags, UsageError } from "./simulator/args.ts";
import { listenCliSocket } from "./cli/socket.ts";
import { runInServer, type LiveParts } from "./cli/commands.ts";
import { registerHealth, startupGate } from "./http/health.ts";
import { enableMetrics, replayed, watchServer } from "./metrics.ts";

/** Longest wait for this node's own NASTY_CLUSTER_URL to answer at start. */
const OWN_URL_CHECK_MS = 5000;

/**
 * Cluster mode, once listening: NASTY_CLUSTER_URL is where the other nodes send writes while this
 * node leads, so a URL that does not reach this node (a typo, a copied setting, an address only
 * this machine knows) is said at once, not found out from other nodes' failed writes.
 */
async function checkOwnClusterUrl(clusterUrl: string, nodeId: number, warn: (line: string) => void): Promise<void> {
  const advice = "the other nodes forward writes there while this node leads: set it to this node's address as they reach it";
  try {
    const reply = await fetch(new URL("/api/status", clusterUrl), { signal: AbortSignal.timeout(OWN_URL_CHECK_MS) });
    const body = (await reply.json()) as { server?: { node_id?: unknown } };
    const reached = body.server?.node_id;
    if (reached !== nodeId) warn(`NASTY_CLUSTER_URL=${clusterUrl} reaches ${typeof reached === "number" ? `node ${reached}` : "something else"}, not this node (${nodeId}); ${advice}`);
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    warn(`NASTY_CLUSTER_URL=${clusterUrl} does not reach this node (${cause}); ${advice}`);
  }
}

/** Stores up to this many bookmarks report a digest in cluster status (nodes agree when their digests do); larger ones report null. */
const DIGEST_BOOKMARKS_MAX = 100_000;

/** A hash of everything a read can observe in the store, recomputed only after the store changed. */
class StoreDigest {
  private appliedAt = -1;
  private value: string | null = null;
  constructor(private readonly store: Store) {}

  current(): string | null {
    if (this.store.bookmarksById.size > DIGEST_BOOKMARKS_MAX) return null;
    if (this.appliedAt !== this.store.eventsApplied) {
      this.value = createHash("sha256").update(JSON.stringify(storeSnapshot(this.store))).digest("hex");
      this.appliedAt = this.store.eventsApplied;
    }
    return this.value;
  }
}

/** While replaying, the event loop is handed back this often, so /healthz and /readyz answer. */
const REPLAY_SLICE_MS = 50;

/** Why search cannot answer yet, or null. */
function searchProblem(search: SearchIndex): string | null {
  const { ready, indexed, total } = search.buildProgress;
  return ready ? null : `the search index is building (${indexed} of ${total} bookmarks)`;
}
import { guarded } from "./guard.ts";
import { configureLogging, logger, type DestinationStream } from "./logger.ts";

/** Something that follows every committed event: `beforeApply` sees the store before it changes, and what it answers is handed to `afterApply`. */
export interface Observer<Before> {
  beforeApply(event: LoggedEvent): Before;
  afterApply(event: LoggedEvent, before: Before): void;
}

/** One observer's part in applying one event: runs before the store applies it, returns what runs after. */
type ObserverStep = (event: LoggedEvent) => () => void;

function stepOf<Before>(observer: Observer<Before>): ObserverStep {
  return (event) => {
    const before = observer.beforeApply(event);
    return () => observer.afterApply(event, before);
  };
}

export interface Nasty {
  config: Config;
  port: number;
  url: string;
  store: Store;
  log: SqliteLog;
  /** Cluster mode (NASTY_CLUSTER=on): the cluster's log, which Commands append to; null on a single node. */
  cluster: ClusterLog | null;
  /** Snapshots and compaction; `holdCompaction()` keeps the files a backup copies in place. */
  snapshots: Snapshotter;
  commands: Commands;
  app: TemplatedApp;
  uws: LoadedUws;
  /** Start-up: the snapshot used (null: none), its seq, the log events replayed after it, total ms, and whether the search index was read from the snapshot or built from the store. */
  replayed: { snapshot: string | null; snapshotSeq: number; events: number; ms: number; search: "snapshot" | "built" };
  close(): Promise<void>;
}

export interface StartOptions {
  /** Quiet start-up logging (tests). */
  quiet?: boolean;
  /** Where log records go instead of standard output (tests read them). */
  logDestination?: DestinationStream;
}

export async function startNasty(config: Config, options: StartOptions = {}): Promise<Nasty> {
  configureLogging({ level: config.logLevel, format: config.logFormat, accessLog: config.accessLog, trustProxy: config.trustProxy }, options.logDestination);
  const say = options.quiet ? () => {} : (line: string) => logger.info(line);
  const uws = loadNativeUws();
  const lockRelease = lockDataDir(config.dataDir);
  // The CLI's socket listens from the start; its commands wait until replay is done and the server is up.
  let cliReady: (parts: LiveParts) => void = () => {};
  const cliParts = new Promise<LiveParts>((resolve) => (cliReady = resolve));
  const warnAlways = (line: string) => console.error(`[nasty] ${line}`);
  const cliSocket = listenCliSocket(config.dataDir, async (request, io) => runInServer(await cliParts, request, io), warnAlways);
  const releaseLock = () => {
    void cliSocket.close();
    lockRelease();
  };
  const warn = options.quiet ? () => {} : (line: string) => logger.warn(line);
  // Assigned once the state is restored, before any append can commit.
  let store: Store;
  let snapshots: Snapshotter | null = null;
  const observers: ObserverStep[] = [];
  const follow = <Before>(observer: Observer<Before>) => observers.push(stepOf(observer));
  const onCommitted = (events: LoggedEvent[]) => {
    for (const event of events) {
      const after = observers.map((step) => step(event));
      store.apply(event);
      for (const step of after) step();
    }
    snapshots?.afterCommit(store.lastSeq);
  };
  let log: SqliteLog;
  try {
    log = new SqliteLog({ file: path.join(config.dataDir, "events.sqlite3"), nodeId: config.nodeId, onCommitted, queueEventsMax: config.logQueueEventsMax });
  } catch (error) {
    releaseLock();
    throw error;
  }
  if (config.metricsToken !== "") enableMetrics();
  say(uws.describe);
  // While the log replays, a gate on the port answers /healthz, and 503 with the progress to everything else.
  const logEvents = log.stats().events;
  let replayProgress = 0;
  // Cluster mode: why the node still waits for Postgres before it replays (a wrong DATABASE_URL says so here, not as a replay of 0 events).
  let joinProblem: string | null = null;
  const gate = await startupGate(uws.uws, config.host, config.port, () => joinProblem ?? `replaying the event log (${replayProgress} of ${logEvents} events)`).catch(async (error) => {
    await log.close();
    releaseLock();
    throw error;
  });
  const replayStart = performance.now();
  let restored: Restored;
  // The search index read from the snapshot follows the log tail; without one it is built after the replay.
  let loadedSearch: SearchIndex | null = null;
  try {
    // Cluster mode: a node whose log ends before the cluster's log starts (cut behind a shared snapshot) starts from that snapshot.
    if (config.cluster) {
      await joinFromSharedSnapshot({ url: config.databaseUrl, nodeId: config.nodeId, dataDir: config.dataDir, log, waitMs: Math.max(10_000, config.clusterLeaseMs * 5), say, warn: (line) => logger.warn(line), waiting: (problem) => (joinProblem = problem) });
      joinProblem = null;
    }
    restored = await restoreState({
      dataDir: config.dataDir, log, nodeId: config.nodeId, warn: (line) => logger.warn(line),
      replay: (visit, afterSeq) => log.replayYielding(visit, REPLAY_SLICE_MS, (events) => (replayProgress = events), afterSeq),
      beforeTail: (restoredStore, sections) => {
        loadedSearch = loadSearchSection(restoredStore, sections, (line) => logger.warn(line));
        return loadedSearch && stepOf(loadedSearch);
      },
    });
  } catch (error) {
    gate.close();
    await log.close();
    releaseLock();
    throw error;
  }
  store = restored.store;
  const replayMs = performance.now() - replayStart;
  const replayedEvents = restored.events;
  replayed(replayedEvents, replayMs);
  say(
    (restored.snapshot ? `loaded ${path.basename(restored.snapshot)} in ${restored.snapshotMs.toFixed(0)} ms, then ` : "") +
      `replayed ${replayedEvents} events in ${restored.replayMs.toFixed(0)} ms (${store.bookmarksById.size} bookmarks, ${store.usersById.size} users)`,
  );
  let flusher: PostgresFlusher | null = null;
  const search: SearchIndex = loadedSearch ?? new SearchIndex(store);
  const snapshotter = new Snapshotter(
    {
      dataDir: config.dataDir, log, nodeId: config.nodeId, everyEvents: config.snapshotEveryEvents, intervalS: config.snapshotIntervalS,
      // With a Postgres flush, the log keeps what Postgres does not have yet (in cluster mode Postgres had it first).
      keepAfter: () => (config.databaseUrl && !config.cluster ? (flusher?.status().flushed_seq ?? 0) : null),
      job: SNAPSHOT_JOB, sections: () => searchSections(search),
      // Cluster mode: the leader shares each snapshot through Postgres and cuts the cluster's log behind it.
      afterSnapshot: (written) => cluster?.shareSnapshot(written) ?? Promise.resolve(),
      say, warn,
    },
    restored,
  );
  snapshots = snapshotter;
  snapshotter.start();

  // Cluster mode: writes append to the cluster's log in Postgres (on the leader); every node folds it through its own log.
  const cluster: ClusterLog | null = config.cluster
    ? new ClusterLog({
        url: config.databaseUrl, nodeId: config.nodeId, nodeUrl: config.clusterUrl, local: log, leaseMs: config.clusterLeaseMs, tailMs: config.clusterTailMs,
        queueEventsMax: config.logQueueEventsMax, say, warn: (line) => logger.warn(line),
        // After one in progress (which may stand for less than the cut), so the files behind the cut go.
        onLogCut: () => void snapshotter.takeFresh().catch(() => {}),
        onFatal: (error) => {
          logger.fatal({ err: error }, "cluster mode: stopping this node");
          process.exit(3);
        },
      })
    : null;
  const commands = new Commands(store, cluster ?? log, config);
  if (config.passwordCostLog2 < Number(SETTINGS.passwordCostLog2.default)) say(`warning: NASTY_PASSWORD_COST_LOG2=${config.passwordCostLog2} hashes new passwords below OWASP's minimum (N=2^17); use it only for tests`);
  const limiter = new RateLimiter(config.rateLimitPerMinute);
  const app = uws.uws.App();
  /** Members of GET /api/status, one per part; parts add theirs below. */
  const statusParts: Record<string, () => unknown> = {
    log: () => ({ ...log.stats(), file: "events.sqlite3" }),
    snapshots: () => snapshotter.status(),
    server: () => ({ uws_native: uws.native, node_id: config.nodeId }),
  };
  /** Run in reverse order on close, before the log closes. */
  const closers: (() => void | Promise<void>)[] = [];
  const routing = cluster ? new ClusterRouting({ log: cluster, secret: config.clusterSecret, trustProxy: config.trustProxy, requestTimeoutMs: cluster.appendMsMax + config.clusterLeaseMs * 2, forwardMsMax: cluster.appendMsMax * 2 + config.clusterLeaseMs * 5 }) : null;
  if (routing) {
    routeWritesThrough(app, routing);
    closers.push(() => routing.close());
  }
  const status = () => Object.fromEntries(Object.entries(statusParts).map(([name, part]) => [name, part()]));

  // ---- wiring: parts that follow committed events (push onto `observers`), websockets, routes, timers ----

  follow(search);
  if (loadedSearch !== null) {
    say(`search index read from the snapshot: ${search.wordCount} words`);
  } else {
    search.build().then(
      () => say(`search index ready: ${search.wordCount} words`),
      (error: unknown) => logger.error({ err: error }, "the search index build failed"),
    );
  }
  closers.push(() => search.stop());
  statusParts.search = () => ({ words: search.wordCount, ...search.buildProgress });
  // Anonymous pages, feeds and JSON lists, kept encoded until the next event (every event clears it).
  const answers = new AnswerCache(config.answerCacheBytes, () => store.eventsApplied);
  statusParts.answer_cache = () => answers.stats();
  // Outbound fetches: a page's metadata after a save without a title, and the link checker's passes.
  const fetcher = new PageFetcher(config);
  const metadataJobs = new MetadataJobs(fetcher, commands);
  commands.onMetadataWanted = (bookmark, wanted) => metadataJobs.start(bookmark, wanted);
  closers.push(() => metadataJobs.close());
  const checker = new LinkChecker({ store, commands, fetcher, intervalS: config.linkCheckIntervalS, appends: () => cluster?.isLeader ?? true });
  checker.start();
  closers.push(() => checker.stop());
  statusParts.links = () => ({ fetch: fetcher.enabled, broken_or_failed: store.links.size, passes: checker.passes, interval_s: config.linkCheckIntervalS });
  registerApi(app, { store, commands, limiter, status, search, config, answers, fetcher, checker });
  registerTransfer(app, { store, commands, limiter, config, checkCookieWrite: checkUploadWrite });
  registerFeeds(app, { store, limiter, config, answers });
  registerPinboard(app, { store, commands, limiter, config });
  registerLinkding(app, { store, commands, limiter, search, config, fetcher });
  // Live delivery: each committed event routed once, rendered once per topic and format, published,
  // and kept in the history that /ws, /socket/websocket and /live replay to clients that resume.
  const cards = new CardCache(store);
  const live = new LiveDelivery({
    store, out: app, cards, historyEventsMax: config.liveHistoryEvents, headSeq: log.lastSeq,
    adminPanel: () => renderAdminPanel(adminOverview(store, commands.signupMode)),
  });
  follow(live);
  statusParts.live = () => live.status();
  const registerSocket: RegisterSocket = (pattern, endpoint) => socketRoute(app, config, pattern, endpoint);
  const liveSockets = registerLiveSocket(registerSocket, { store, live, config });
  // A comment sent over a socket to a follower goes to the leader like any forwarded write.
  const postComment: SocketCommentWriter | undefined = routing
    ? (viewer, tokenId, bookmarkId, input, wanted) => routing.socketComment({ tokenId, bookmarkId, input }, async () => commentJson(await commands.postComment(viewer, bookmarkId, input)), wanted)
    : undefined;
  const realtime = registerRealtime(registerSocket, { store, commands, limiter, config, live, ...(postComment ? { postComment } : {}) });
  if (routing) registerClusterWrites(app, { store, commands, limiter, config });
  statusParts.realtime = realtime.status;
  closers.push(realtime.close);
  // The /stats panel: events per second, re-rendered once a second while someone watches.
  const rate = new EventRate();
  follow({ beforeApply: () => undefined, afterApply: (event) => rate.afterApply(event) });
  const stats: StatsSources = { rate, live: liveSockets, status };
  closers.push(startStatsTicker(store, stats, { subscribers: (name) => app.numSubscribers(wireTopic("html", name)), publish: (name, text) => app.publish(wireTopic("html", name), text, false) }));
  // The htmx pages (routes only).
  registerPages(app, { store, commands, limiter, answers, config, cards, stats, liveHead: () => live.history.head, extraPages: (app, pages) => {
    registerDiscoveryPages(app, pages, { search });
    registerLinkPages(app, pages, { checker });
  } });
  statusParts.pages = () => ({ live_sockets: liveSockets.connections, live_topics: liveSockets.subscribers.size, tag_sets: live.tagSets.size });

  registerHealth(app, { store, limiter, config, readiness: () => cluster?.readiness() ?? log.commitProblem() ?? searchProblem(search) });
  closers.push(watchServer({
    connections: () => ({ json: realtime.hub.connections, live: liveSockets.connections }),
    subscriptions: () => liveSockets.connections + [...realtime.hub.joins.values()].reduce((total, count) => total + count, 0),
    flushLag: () => {
      const status = flusher?.status();
      return status?.lag_events == null || status.lag_ms == null ? null : { events: status.lag_events, seconds: status.lag_ms / 1000 };
    },
    cluster: () => {
      if (!cluster) return null;
      const status = cluster.status();
      return { leading: status.role === "leader", epoch: status.epoch, lagEvents: status.lag_events, caughtUp: status.caught_up, failing: status.last_error !== null };
    },
  }));

  gate.close();
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    listenExclusive(app, config.host, gate.port, (socket) => (socket ? resolve(socket) : reject(new ConfigError(`cannot listen on ${config.host}:${config.port} (in use or not allowed)`))));
  }).catch(async (error) => {
    await snapshotter.close();
    await log.close();
    releaseLock();
    throw error;
  });
  const port = uws.uws.us_socket_local_port(listenSocket);
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  say(`listening on ${url} (data in ${config.dataDir})`);
  // A backup through the CLI keeps the snapshot files and the log in place while it copies them.
  cliReady({ config, store, log, commands, snapshots: snapshotter, checker, snapshotNow: () => snapshotter.takeFresh(), holdCompaction: () => snapshotter.holdCompaction(), listenUrl: url });

  // Postgres follows the log after it is durable, never in the way of a write; down or absent, it only lags.
  // In cluster mode it is the log itself: the node joins it now that everything following the log is wired.
  if (cluster) {
    cluster.start();
    void checkOwnClusterUrl(config.clusterUrl, config.nodeId, warn);
    const digest = new StoreDigest(store);
    statusParts.cluster = () => ({ ...cluster.status(), store_digest: digest.current() });
    statusParts.flush = () => ({ enabled: false, cluster: true });
    closers.push(() => cluster.close());
  } else if (config.databaseUrl) {
    const postgres = (flusher = new PostgresFlusher({
      url: config.databaseUrl, log, nodeId: config.nodeId, batchEvents: config.flushBatchEvents, intervalMs: config.flushIntervalMs,
      backoffMaxMs: config.flushBackoffMaxMs, timeoutMs: config.flushTimeoutMs, say, warn,
    }));
    postgres.start();
    statusParts.flush = () => postgres.status();
    closers.push(() => postgres.stop());
  } else {
    statusParts.flush = () => ({ enabled: false });
  }

  // Simulated users (NASTY_SIMULATE, --simulate) write through the command path; pushed last, so stopped first.
  if (config.simulateRate > 0) {
    const simulator = new Simulator({ commands, store, rate: config.simulateRate, seed: config.simulateSeed, say: (line) => say(`simulator: ${line}`) });
    simulator.start().catch((error: unknown) => logger.error({ err: error }, "the simulator could not start"));
    statusParts.simulator = () => simulator.stats();
    closers.push(() => simulator.stop());
  }

  let closing: Promise<void> | null = null;
  return {
    config, port, url, store, log, cluster, snapshots: snapshotter, commands, app, uws,
    replayed: { snapshot: restored.snapshot, snapshotSeq: restored.snapshotSeq, events: replayedEvents, ms: replayMs, search: loadedSearch === null ? "built" : "snapshot" },
    close() {
      closing ??= (async () => {
        uws.uws.us_listen_socket_close(listenSocket);
        await cliSocket.close();
        for (const close of closers.reverse()) await close();
        // A clean shutdown leaves a snapshot of everything committed, so the next start reads no log.
        await snapshotter.close();
        await log.drain();
        try {
          // An index built at start (none in the snapshot, or a damaged one) goes into the snapshot even when nothing changed.
          await snapshotter.takeNow(store, { rewrite: loadedSearch === null && search.buildProgress.ready });
        } catch (error) {
          logger.error({ err: error }, "the shutdown snapshot failed (the next start replays the log instead)");
        }
        await log.close();
        releaseLock();
      })();
      return closing;
    },
  };
}

/** Flags of `npm start -- …`; settings otherwise come from the environment. */
const START_FLAGS = {
  simulate: { kind: "integer", min: SETTINGS.simulateRate.type.min, max: SETTINGS.simulateRate.type.max, describe: "simulated bookmarks per second, like NASTY_SIMULATE" },
} as const;

/** Longest clean stop after SIGTERM or SIGINT. */
const STOP_MS_MAX = 8000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    const flags = parseFlags(process.argv.slice(2), START_FLAGS);
    if (typeof flags.simulate === "number") config = { ...config, simulateRate: flags.simulate };
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`[nasty] configuration error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  // The handlers are in place before the server says it listens: a signal during start stops it
  // cleanly once it has started, instead of killing it half-way with the default action.
  let nasty: Nasty | null = null;
  let stopping: string | null = null;
  const close = (signal: string, running: Nasty) => {
    running.close().then(() => process.exit(0), (error: unknown) => {
      logger.fatal({ err: error }, `${signal}: stopping failed`);
      process.exit(1);
    });
  };
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = signal;
    logger.info(`${signal}: finishing pending writes and stopping`);
    // A supervisor waits about 10 s before SIGKILL: leave on our own first, saying so.
    setTimeout(guarded("stop deadline", () => {
      logger.error(`${signal}: still closing after ${STOP_MS_MAX} ms; exiting (committed writes are durable)`);
      process.exit(1);
    }), STOP_MS_MAX).unref();
    if (nasty) close(signal, nasty);
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  try {
    nasty = await startNasty(config);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirLockedError || error instanceof UwsUnavailableError || error instanceof EventVersionError || error instanceof DataDirError) {
      console.error(`[nasty] cannot start: ${error.message}`);
      process.exit(2);
    }
    if (error instanceof ClusterMismatch) {
      // As every other check of cluster mode that stops a node (onFatal above).
      logger.fatal({ err: error }, "cluster mode: stopping this node");
      process.exit(3);
    }
    throw error;
  }
  if (stopping) close(stopping, nasty);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
