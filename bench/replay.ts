// Replay and memory bench, run as its own process (node --expose-gc): write N events through the SQLite log,
// time the start-up rebuild (SqliteLog.replay + Store.apply) and weigh the rebuilt store's heap per bookmark.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { IdAllocator, type BookmarkId, type EventBody, type UserId } from "../src/events.ts";
import { SqliteLog } from "../src/log/sqlite.ts";
import { SearchIndex } from "../src/search/index.ts";
import { Store } from "../src/store/store.ts";
import { corpus } from "./corpus.ts";

export interface ReplayAnswer {
  events: number;
  bookmarks: number;
  writeSeconds: number;
  /** Start-up rebuild: SqliteLog.replay into Store.apply. */
  replaySeconds: number;
  replayEventsPerSecond: number;
  /** The floor: the same rows read and JSON-parsed with nothing applied. */
  readEventsPerSecond: number;
  heapBytesPerBookmark: number;
  /** Payload bytes (url, title, description, tags as UTF-8) per bookmark: what any store must hold. */
  dataBytesPerBookmark: number;
  /** The search index main.ts builds after replay (in the background). */
  searchBuildSeconds: number;
  searchHeapBytesPerBookmark: number;
}

const NODE_ID = 1;
const USERS = 1000;
const APPEND_BATCH_EVENTS = 5000;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error("the replay bench needs node --expose-gc");
  collect();
  collect();
}

function heapUsed(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** 1,000 users, then bookmarks from the corpus until there are `events` events in the log. */
export async function writeLog(file: string, events: number): Promise<{ seconds: number; dataBytes: number }> {
  const log = new SqliteLog({ file, nodeId: NODE_ID, onCommitted: () => {}, queueEventsMax: APPEND_BATCH_EVENTS * 2 });
  const ids = new IdAllocator(NODE_ID);
  const userIds: UserId[] = [];
  const next = corpus(42);
  const started = performance.now();
  let dataBytes = 0;
  let batch: EventBody[] = [];
  for (let index = 0; index < events; index += 1) {
    if (index < USERS) {
      const id = ids.next<UserId>();
      userIds.push(id);
      batch.push({ type: "user.registered", payload: { id, username: `user${index}`, password_hash: `scrypt$16384$8$1$${"s".repeat(22)}$${"h".repeat(86)}` } });
    } else {
      const fields = next(index);
      dataBytes += Buffer.byteLength(fields.url) + Buffer.byteLength(fields.title) + Buffer.byteLength(fields.description) + fields.tags.reduce((sum, tag) => sum + Buffer.byteLength(tag), 0);
      batch.push({ type: "bookmark.created", payload: { id: ids.next<BookmarkId>(), user_id: userIds[index % USERS]!, ...fields } });
    }
    if (batch.length === APPEND_BATCH_EVENTS || index === events - 1) {
      await log.append(batch);
      batch = [];
    }
  }
  await log.close();
  return { seconds: (performance.now() - started) / 1000, dataBytes };
}

function readFloor(file: string): number {
  const db = new Database(file, { readonly: true });
  const started = performance.now();
  let count = 0;
  for (const row of db.prepare("SELECT seq, type, v, ts, node, payload FROM events ORDER BY seq").raw().iterate() as IterableIterator<[number, string, number, number, number, string]>) {
    if (JSON.parse(row[5]) !== null) count += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return count / seconds;
}

export async function replayBench(events: number): Promise<ReplayAnswer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-bench-replay-"));
  try {
    const file = path.join(dir, "events.sqlite3");
    const written = await writeLog(file, events);
    const readEventsPerSecond = readFloor(file);
    const log = new SqliteLog({ file, nodeId: NODE_ID, onCommitted: () => {}, queueEventsMax: 1 });
    /** What is weighed stays reachable until after the last heap reading. */
    const retained: object[] = [];
    const before = heapUsed();
    const started = performance.now();
    const store = new Store(NODE_ID);
    const replayed = log.replay((event) => store.apply(event));
    const replaySeconds = (performance.now() - started) / 1000;
    const bookmarks = store.bookmarksById.size;
    retained.push(store);
    const afterStore = heapUsed();
    const searchStarted = performance.now();
    const search = new SearchIndex(store);
    await search.build();
    const searchBuildSeconds = (performance.now() - searchStarted) / 1000;
    const searchHeapBytesPerBookmark = (heapUsed() - afterStore) / bookmarks;
    retained.push(search);
    await log.close();
    if (retained[0] !== store || store.lastSeq !== replayed) throw new Error(`replayed ${replayed} events but the store stopped at seq ${store.lastSeq}`);
    return {
      events: replayed,
      bookmarks,
      writeSeconds: written.seconds,
      replaySeconds,
      replayEventsPerSecond: replayed / replaySeconds,
      readEventsPerSecond,
      heapBytesPerBookmark: (afterStore - before) / bookmarks,
      dataBytesPerBookmark: written.dataBytes / bookmarks,
      searchBuildSeconds,
      searchHeapBytesPerBookmark,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  replayBench(Number(process.argv[2])).then(
    (answer) => process.send!(answer, () => process.exit(0)),
    (error: Error) => process.send!({ error: error.stack ?? error.message }, () => process.exit(1)),
  );
}
