// Capacity bench: real servers on logs of N bookmarks: ready after a clean restart (snapshot) and after kill -9
// (snapshot + log tail), RSS and heap, feed p99 under load against a small store, log tail replay speed.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IdAllocator, type BookmarkId, type EventBody, type UserId } from "../src/events.ts";
import { SqliteLog } from "../src/log/sqlite.ts";
import { restoreState, Snapshotter } from "../src/log/snapshots.ts";
import { freshSearchSections, SNAPSHOT_JOB } from "../src/search/snapshot-section.ts";
import { Child } from "./children.ts";
import { corpus } from "./corpus.ts";
import { httpLoad, type LoadClient } from "./http-load.ts";
import { judge, type Figure } from "./report.ts";
import { writeLog } from "./replay.ts";

export interface CapacityPlan {
  /** Bookmark counts measured; the first is the small store the others' feed p99 is compared with. */
  sizes: number[];
  /** Events appended behind the snapshot before the restart after kill -9. */
  tailEvents: number;
  loadSeconds: number;
  connections: number;
  client: LoadClient;
}

interface SizeResult {
  bookmarks: number;
  /** The whole log folded (no snapshot), in the bench's process. */
  firstStartMs: number;
  restartMs: number;
  /** The same, counted from the spawn (node and tsx starting included). */
  restartFromSpawnMs: number;
  killRestartMs: number;
  tailEvents: number;
  tailReplayMs: number;
  snapshotLoadMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  feedP99Ms: number | null;
  feedRequestsPerSecond: number;
}

/** The log's writer makes 1,000 users first (bench/replay.ts). */
const USERS = 1000;
const NODE_ID = 1;
const METRICS_TOKEN = "capacity-bench-metrics-token";
const READY_TIMEOUT_MS = 30 * 60_000;
const GIB = 1024 ** 3;

/** Targets of issue 15, at 1,000,000 and 10,000,000 bookmarks. */
function targets(bookmarks: number) {
  if (bookmarks >= 10_000_000) return { restartMs: 10_000, killMs: null, rss: 8 * GIB, heap: 1.5 * GIB };
  if (bookmarks >= 1_000_000) return { restartMs: 1000, killMs: 2000, rss: null, heap: null };
  return { restartMs: null, killMs: null, rss: null, heap: null };
}

function startServer(dataDir: string, bookmarks: number): { child: Child; started: number } {
  const heapMb = Math.max(4096, Math.ceil((bookmarks * 2000) / 1048576));
  const child = new Child("src/main.ts", [], {
    label: "nasty server (capacity)",
    env: { PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir, NASTY_RATE_LIMIT: "0", NASTY_METRICS_TOKEN: METRICS_TOKEN, NASTY_SNAPSHOT_EVERY: "1000000000" },
    dropEnv: /^(NASTY_|DATABASE_URL$|SIMULATE_TRAFFIC$|PORT$|HOST$)/,
    raiseOpenFiles: true,
    nodeFlags: [`--max-old-space-size=${heapMb}`],
  });
  return { child, started: performance.now() };
}

/**
 * Ms until /readyz answers 200 (store and search answering), counted from the server's first line
 * (it has loaded its modules and opened the log: what node and tsx take to start is not the
 * store's), and from the spawn; and the base URL.
 */
async function untilReady(server: { child: Child; started: number }): Promise<{ ms: number; fromSpawnMs: number; base: string }> {
  await server.child.waitForLine(/uWebSockets\.js/, READY_TIMEOUT_MS);
  const opened = performance.now();
  const base = (await server.child.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/, READY_TIMEOUT_MS))[1]!;
  for (;;) {
    const reply = await fetch(`${base}/readyz`).catch(() => null);
    if (reply?.status === 200) return { ms: performance.now() - opened, fromSpawnMs: performance.now() - server.started, base };
    const death = server.child.death();
    if (death) throw new Error(death);
    if (performance.now() - server.started > READY_TIMEOUT_MS) throw new Error(`not ready within ${READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

async function heapUsedBytes(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const match = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** Folds the log in this process and leaves a snapshot with the log compacted behind it (what `nasty compact` does); returns the fold's ms. */
async function snapshotOffline(dataDir: string, file: string): Promise<number> {
  const log = new SqliteLog({ file, nodeId: NODE_ID, onCommitted: () => {}, queueEventsMax: 1 });
  try {
    const restored = await restoreState({ dataDir, log, nodeId: NODE_ID, warn: (line) => console.error(line) });
    const quiet = () => {};
    const snapshots = new Snapshotter({ dataDir, log, nodeId: NODE_ID, everyEvents: 1, intervalS: 1, keepAfter: () => null, job: SNAPSHOT_JOB, sections: () => freshSearchSections(restored.store), say: quiet, warn: quiet }, restored);
    await snapshots.takeNow(restored.store);
    return restored.snapshotMs + restored.replayMs;
  } finally {
    await log.close();
  }
}

/** Appends `count` bookmarks of the existing users behind the snapshot, as a server that was killed would have. */
async function appendTail(file: string, count: number): Promise<void> {
  const log = new SqliteLog({ file, nodeId: NODE_ID, onCommitted: () => {}, queueEventsMax: count + 1 });
  const ids = new IdAllocator(NODE_ID);
  ids.restore(2 ** 40);
  const next = corpus(7);
  const users = new IdAllocator(NODE_ID);
  const userIds = Array.from({ length: USERS }, () => users.next<UserId>());
  const bodies: EventBody[] = [];
  for (let index = 0; index < count; index += 1) {
    bodies.push({ type: "bookmark.created", payload: { id: ids.next<BookmarkId>(), user_id: userIds[index % USERS]!, ...next(index), url: `https://tail.example/${index}` } });
  }
  for (let start = 0; start < bodies.length; start += 5000) await log.append(bodies.slice(start, start + 5000));
  await log.close();
}

async function measureSize(plan: CapacityPlan, bookmarks: number, say: (label: string) => void): Promise<SizeResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-bench-capacity-"));
  const file = path.join(dataDir, "events.sqlite3");
  const size = bookmarks.toLocaleString("en");
  try {
    say(`capacity ${size}: writing the log`);
    await writeLog(file, bookmarks + USERS);
    say(`capacity ${size}: the log alone folded and snapshotted, as a clean shutdown leaves it`);
    const firstStartMs = await snapshotOffline(dataDir, file);
    say(`capacity ${size}: clean restart`);
    let server = startServer(dataDir, bookmarks);
    const restart = await untilReady(server);
    const pid = server.child.process.pid!;
    const rss = rssBytes(pid);
    const heap = await heapUsedBytes(restart.base);
    say(`capacity ${size}: feed GET under load`);
    const load = await httpLoad(plan.client, { url: `${restart.base}/api/bookmarks?limit=50`, method: "GET", seconds: plan.loadSeconds, connections: plan.connections });
    server.child.process.kill("SIGKILL");
    await server.child.exited;
    say(`capacity ${size}: kill -9, ${plan.tailEvents.toLocaleString("en")} events behind the snapshot, restart`);
    await appendTail(file, plan.tailEvents);
    server = startServer(dataDir, bookmarks);
    const killRestart = await untilReady(server);
    const loaded = /loaded snapshot-\d+\.nasty in (\d+) ms, then replayed (\d+) events in (\d+) ms/.exec(server.child.tail());
    await server.child.stop();
    if (!loaded) throw new Error(`the restart after kill -9 did not start from a snapshot:\n${server.child.tail()}`);
    return {
      bookmarks, firstStartMs, restartMs: restart.ms, restartFromSpawnMs: restart.fromSpawnMs, killRestartMs: killRestart.ms, tailEvents: Number(loaded[2]), tailReplayMs: Number(loaded[3]),
      snapshotLoadMs: Number(loaded[1]), rssBytes: rss, heapUsedBytes: heap, feedP99Ms: load.latencyP99Ms, feedRequestsPerSecond: load.requestsPerSecond,
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function figure(id: string, name: string, unit: string, value: number | null, target: Figure["target"], details: SizeResult, note: string | null = null): Figure {
  return judge({ id, name, unit, value, ceiling: null, ceilingName: null, ratio: null, target, note, details: { ...details } });
}

/** Every size in turn, then the figures: ready times, memory, feed p99 against the first size's, tail replay. */
export async function capacityFigures(plan: CapacityPlan, say: (label: string) => void): Promise<Figure[]> {
  const results: SizeResult[] = [];
  for (const bookmarks of plan.sizes) results.push(await measureSize(plan, bookmarks, say));
  const base = results[0]!;
  const figures: Figure[] = [];
  for (const result of results) {
    const size = result.bookmarks.toLocaleString("en");
    const goal = targets(result.bookmarks);
    const ms = (value: number | null) => (value === null ? null : ({ kind: "value-max", value } as const));
    figures.push(
      figure(`capacity-restart-${result.bookmarks}`, `ready after a clean restart, ${size} bookmarks`, "ms", result.restartMs, ms(goal.restartMs), result, `the log alone folded in ${result.firstStartMs.toFixed(0)} ms; from the spawn: ${result.restartFromSpawnMs.toFixed(0)} ms`),
      figure(`capacity-kill-${result.bookmarks}`, `ready after kill -9 (snapshot + ${result.tailEvents.toLocaleString("en")} log events), ${size} bookmarks`, "ms", result.killRestartMs, ms(goal.killMs), result, `snapshot read in ${result.snapshotLoadMs} ms`),
      figure(`capacity-rss-${result.bookmarks}`, `process RSS, ${size} bookmarks`, "MiB", result.rssBytes / 1048576, goal.rss === null ? null : { kind: "value-max", value: goal.rss / 1048576 }, result),
      figure(`capacity-heap-${result.bookmarks}`, `V8 heap used, ${size} bookmarks`, "MiB", result.heapUsedBytes / 1048576, goal.heap === null ? null : { kind: "value-max", value: goal.heap / 1048576 }, result),
    );
    if (result !== base) {
      const ratio = result.feedP99Ms !== null && base.feedP99Ms !== null && base.feedP99Ms > 0 ? result.feedP99Ms / base.feedP99Ms : null;
      figures.push(figure(`capacity-feed-p99-${result.bookmarks}`, `feed GET p99 under load, ${size} vs ${base.bookmarks.toLocaleString("en")} bookmarks`, "×", ratio, { kind: "value-max", value: 2 }, result, `p99 ${result.feedP99Ms ?? "—"} ms vs ${base.feedP99Ms ?? "—"} ms`));
    }
  }
  const largest = results[results.length - 1]!;
  const tailRate = largest.tailReplayMs > 0 ? largest.tailEvents / (largest.tailReplayMs / 1000) : null;
  figures.push(figure("capacity-tail-replay", `log tail replay after kill -9, ${largest.tailEvents.toLocaleString("en")} events on ${largest.bookmarks.toLocaleString("en")} bookmarks`, "events/s", tailRate, { kind: "value-min", value: 500_000 }, largest));
  return figures;
}
