// The SQLite event log contract: group commit, resolve only after commit, WAL, replay in order.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import Database from "better-sqlite3";
import { SqliteLog } from "../src/log/sqlite.ts";
import type { BookmarkId, CommentId, EventBody, LoggedEvent, TokenId, UserId } from "../src/events.ts";
import { HttpError } from "../src/errors.ts";
import { tempDir } from "./support/server.ts";

const body = (id: number): EventBody => ({ type: "token.revoked", payload: { id: id as TokenId } });

function openLog(file: string, batches: LoggedEvent[][], queueEventsMax = 10_000): SqliteLog {
  return new SqliteLog({ file, nodeId: 7, onCommitted: (events) => batches.push(events), queueEventsMax });
}

test("appends in one turn share a transaction; appends during a commit share the next", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const batches: LoggedEvent[][] = [];
  const log = openLog(file, batches);
  const first = Array.from({ length: 100 }, (_, index) => log.append([body(index)]));
  await new Promise((resolve) => setImmediate(resolve)); // the first batch is now with the writer
  const second = Array.from({ length: 50 }, (_, index) => log.append([body(1000 + index)]));
  const results = await Promise.all([...first, ...second]);
  assert.deepEqual(batches.map((batch) => batch.length), [100, 50]);
  assert.deepEqual(results.map(([event]) => event!.seq), Array.from({ length: 150 }, (_, index) => index + 1));
  assert.ok(results.every(([event]) => event!.node === 7 && event!.v === 1 && event!.ts > 0));
  await log.close();
});

test("an append resolves only once its row is readable by another connection, and replays in order", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const log = openLog(file, []);
  const reader = new Database(file, { readonly: true });
  const [event] = await log.append([body(42), body(43)]);
  assert.equal(event!.seq, 1);
  const rows = reader.prepare("SELECT seq, type, payload FROM events ORDER BY seq").all();
  assert.deepEqual(rows, [
    { seq: 1, type: "token.revoked", payload: '{"id":42}' },
    { seq: 2, type: "token.revoked", payload: '{"id":43}' },
  ]);
  assert.equal(reader.pragma("journal_mode", { simple: true }), "wal");
  reader.close();
  await log.close();
  const replayed: LoggedEvent[] = [];
  const again = openLog(file, []);
  assert.equal(again.replay((e) => replayed.push(e)), 2);
  assert.deepEqual(replayed.map((e) => [e.seq, e.payload]), [[1, { id: 42 }], [2, { id: 43 }]]);
  assert.deepEqual(again.readAfter(1, 10).map((e) => e.seq), [2]);
  assert.equal(again.lastSeq, 2);
  await again.close();
});

test("a failed commit rejects with 503, applies nothing, and the log keeps working", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const batches: LoggedEvent[][] = [];
  const log = new SqliteLog({ file, nodeId: 1, onCommitted: (events) => batches.push(events), queueEventsMax: 100, busyTimeoutMs: 50 });
  const locker = new Database(file);
  locker.exec("BEGIN IMMEDIATE");
  await assert.rejects(log.append([body(1)]), (error: unknown) => error instanceof HttpError && error.status === 503);
  assert.equal(batches.length, 0);
  locker.exec("ROLLBACK");
  locker.close();
  const [event] = await log.append([body(2)]);
  assert.equal(event!.seq, 1, "the failed batch's seq is reused");
  await log.close();
});

test("when a batch fails, the batch sent behind it is refused too, and seq stays without gaps", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const batches: LoggedEvent[][] = [];
  const log = new SqliteLog({ file, nodeId: 1, onCommitted: (events) => batches.push(events), queueEventsMax: 100, busyTimeoutMs: 200 });
  const locker = new Database(file);
  locker.exec("BEGIN IMMEDIATE");
  const first = log.append([body(1)]);
  await new Promise((resolve) => setImmediate(resolve)); // the first batch is with the writer, waiting for the lock
  const second = log.append([body(2), body(3)]);
  await new Promise((resolve) => setImmediate(resolve)); // the second is queued behind it
  const settled = Promise.allSettled([first, second]);
  await first.catch(() => {});
  // Unlocked now, the second batch could commit if the writer tried it: it must not (its seqs would follow a gap).
  locker.exec("ROLLBACK");
  locker.close();
  const outcomes = await settled;
  assert.deepEqual(outcomes.map((outcome) => outcome.status), ["rejected", "rejected"]);
  for (const outcome of outcomes) {
    const error = (outcome as PromiseRejectedResult).reason;
    assert.ok(error instanceof HttpError && error.status === 503, String(error));
  }
  assert.equal(batches.length, 0, "nothing of a refused batch is applied");
  const [event] = await log.append([body(4)]);
  assert.equal(event!.seq, 1, "the refused batches' seqs are reused");
  await log.close();
  const reader = new Database(file, { readonly: true });
  assert.deepEqual(reader.prepare("SELECT seq, payload FROM events").all(), [{ seq: 1, payload: '{"id":4}' }]);
  reader.close();
});

test("a full queue answers 503 instead of growing without bound", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const log = openLog(file, [], 3);
  const accepted = [log.append([body(1), body(2)]), log.append([body(3)])];
  await assert.rejects(log.append([body(4)]), (error: unknown) => error instanceof HttpError && error.status === 503 && /overloaded/.test(error.message));
  await Promise.all(accepted);
  await log.close();
});

/** Every kind of event, with text that JSON and SQLite must carry exactly (quotes, escapes, non-ASCII). */
function mixedBody(index: number): EventBody {
  const text = `#${index} "quoted" back\\slash\nnew line \u2028 café 漢字 🦀 ${"x".repeat(index % 50)}`;
  switch (index % 6) {
    case 0: return { type: "user.registered", payload: { id: index as UserId, username: `user${index}`, password_hash: text } };
    case 1: return { type: "bookmark.created", payload: { id: index as BookmarkId, user_id: 1 as UserId, url: `https://example.com/${index}?q="${index}"`, title: text, description: index % 4 ? "" : text, public: index % 3 !== 0, tags: ["a", `t${index % 7}`, "ünï"].slice(0, index % 4), ...(index % 5 ? {} : { unread: true, inserted_at: index * 1000 }) } };
    case 2: return { type: "bookmark.updated", payload: { id: index as BookmarkId, title: text, tags: [] } };
    case 3: return { type: "comment.posted", payload: { id: index as CommentId, bookmark_id: (index - 2) as BookmarkId, user_id: 1 as UserId, body: text } };
    case 4: return { type: "bookmark.deleted", payload: { id: (index - 3) as BookmarkId } };
    default: return { type: "token.created", payload: { id: index as TokenId, user_id: 1 as UserId, hash: text, kind: "api", name: "", expires_at: null } };
  }
}

test("replay visits exactly the events appended, in order, read inline, by the reader thread or both, however many chunks", async () => {
  const file = path.join(tempDir(), "events.sqlite3");
  const replayAll = (replayInlineEventsMax: number) => {
    const log = new SqliteLog({ file, nodeId: 7, onCommitted: () => {}, queueEventsMax: 10_000, replayInlineEventsMax });
    const replayed: LoggedEvent[] = [];
    const count = log.replay((event) => replayed.push(event));
    assert.equal(count, replayed.length);
    return { log, replayed };
  };
  // All on the thread, the thread taking over mid-chunk or on a chunk boundary (chunks are 256 rows), none on the thread.
  const modes = [0, 1000, 4096, Number.POSITIVE_INFINITY];
  for (const mode of modes) {
    const empty = replayAll(mode);
    assert.deepEqual(empty.replayed, [], "an empty log replays nothing");
    await empty.log.close();
  }
  const appended: LoggedEvent[] = [];
  for (const size of [3, 14_000]) {
    const log = new SqliteLog({ file, nodeId: 7, onCommitted: () => {}, queueEventsMax: 10_000 });
    for (let start = appended.length; start < size; start += 2000) {
      const bodies = Array.from({ length: Math.min(2000, size - start) }, (_, offset) => mixedBody(start + offset));
      appended.push(...(await log.append(bodies)));
    }
    await log.close();
    const expected = JSON.parse(JSON.stringify(appended)) as LoggedEvent[];
    for (const mode of modes) {
      const { log: again, replayed } = replayAll(mode);
      assert.equal(replayed.length, size);
      assert.deepEqual(replayed, expected, `replay of ${size} events, the first ${mode} read inline`);
      await again.close();
    }
  }
  // A visitor that throws stops the replay (and the reader thread); the log still closes.
  const log = new SqliteLog({ file, nodeId: 7, onCommitted: () => {}, queueEventsMax: 10_000, replayInlineEventsMax: 1000 });
  let visited = 0;
  assert.throws(() => log.replay(() => {
    visited += 1;
    if (visited === 5000) throw new Error("visitor failed");
  }), /visitor failed/);
  await log.close();
});
