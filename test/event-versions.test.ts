// Event schema versions: an older event is upgraded on replay; an unknown type or newer version stops start-up with a message.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import Database from "better-sqlite3";
import { EventVersionError, upgradeEvent } from "../src/event-upgrade.ts";
import { EVENT_VERSIONS, SESSION_TTL_MS } from "../src/events.ts";
import { SqliteLog } from "../src/log/sqlite.ts";
import { hashToken } from "../src/auth/tokens.ts";
import { request, startTestServer, tempDir, TEST_PASSWORD_SETTINGS } from "./support/server.ts";
import { START_MS_MAX } from "./support/child-server.ts";

const DAY_MS = 24 * 3600 * 1000;

/** A log file written by hand, row by row, as an older (or newer) Nasty would have left it. */
function handWrittenLog(rows: [seq: number, type: string, v: number, ts: number, payload: unknown][]): string {
  const dataDir = tempDir();
  const file = path.join(dataDir, "events.sqlite3");
  const log = new SqliteLog({ file, nodeId: 1, onCommitted: () => {}, queueEventsMax: 1 });
  void log.close();
  const db = new Database(file);
  const insert = db.prepare("INSERT INTO events (seq, type, v, ts, node, payload) VALUES (?, ?, ?, ?, 1, ?)");
  for (const [seq, type, v, ts, payload] of rows) insert.run(seq, type, v, ts, JSON.stringify(payload));
  db.close();
  return dataDir;
}

test("every event type has a version, and the current one comes back unchanged", () => {
  for (const [type, v] of Object.entries(EVENT_VERSIONS)) {
    assert.ok(Number.isInteger(v) && v >= 1, `${type} has a version`);
  }
  const event = { seq: 3, type: "bookmark.deleted", v: 1, ts: 5, node: 1, payload: { id: 1025 } };
  assert.equal(upgradeEvent(event), event);
});

test("token.created v1 is upgraded: a session expires 30 days after it was created, an API token never", () => {
  const session = upgradeEvent({ seq: 2, type: "token.created", v: 1, ts: 1_000, node: 1, payload: { id: 2049, user_id: 1025, hash: "h", kind: "session", name: "browser session" } });
  assert.equal(session.v, EVENT_VERSIONS["token.created"]);
  assert.deepEqual(session.payload, { id: 2049, user_id: 1025, hash: "h", kind: "session", name: "browser session", expires_at: 1_000 + SESSION_TTL_MS });
  const api = upgradeEvent({ seq: 3, type: "token.created", v: 1, ts: 1_000, node: 1, payload: { id: 3073, user_id: 1025, hash: "i", kind: "api", name: "cli" } });
  assert.equal((api.payload as { expires_at: unknown }).expires_at, null);
});

test("an unknown type, a newer version or a broken one is refused with a message naming the event", () => {
  assert.throws(() => upgradeEvent({ seq: 7, type: "bookmark.starred", v: 1, ts: 0, node: 1, payload: {} }), (error: unknown) => {
    assert.ok(error instanceof EventVersionError);
    assert.match(error.message, /event seq 7 has type "bookmark.starred" \(version 1\).*newer Nasty/);
    return true;
  });
  assert.throws(() => upgradeEvent({ seq: 8, type: "bookmark.created", v: 9, ts: 0, node: 1, payload: {} }), /event seq 8 \(bookmark.created\) has schema version 9; this build of Nasty reads bookmark.created up to version 1\. It was written by a newer Nasty/);
  assert.throws(() => upgradeEvent({ seq: 9, type: "bookmark.created", v: 0, ts: 0, node: 1, payload: {} }), /event seq 9 \(bookmark.created\) has schema version 0.*damaged/);
});

test("replay upgrades old sessions: a v1 session older than 30 days no longer signs anyone in, a v1 API token still does", async () => {
  const now = Date.now();
  const user = { id: 1025, username: "olda", password_hash: "scrypt$x" };
  const dataDir = handWrittenLog([
    [1, "user.registered", 1, now - 40 * DAY_MS, user],
    [2, "token.created", 1, now - 40 * DAY_MS, { id: 2049, user_id: 1025, hash: hashToken("session_old"), kind: "session", name: "browser session" }],
    [3, "token.created", 1, now - 2 * DAY_MS, { id: 3073, user_id: 1025, hash: hashToken("session_new"), kind: "session", name: "browser session" }],
    [4, "token.created", 1, now - 40 * DAY_MS, { id: 4097, user_id: 1025, hash: hashToken("nasty_api"), kind: "api", name: "cli" }],
  ]);
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal(server.replayed.events, 4);
    const status = (token: string) => request(server.url, "GET", "/api/bookmarks?user=olda", { token }).then((reply) => [reply.status]);
    assert.equal((await status("nasty_api"))[0], 200);
    assert.equal((await status("session_new"))[0], 200);
    assert.equal((await status("session_old"))[0], 401, "a session created 40 days ago has expired");
    assert.equal(server.store.tokensById.get(3073 as never)?.expiresAt, now - 2 * DAY_MS + SESSION_TTL_MS);
    assert.equal(server.store.tokensById.has(2049 as never), false, "the expired session was dropped when a later event passed its expiry");
  } finally {
    await server.close();
  }
});

test("a real server on a log with an unknown event type stops at start-up with the message, exit code 2", () => {
  const dataDir = handWrittenLog([
    [1, "user.registered", 1, Date.now(), { id: 1025, username: "ann", password_hash: "scrypt$x" }],
    [2, "bookmark.starred", 3, Date.now(), { id: 2049 }],
  ]);
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
    env: { ...process.env, ...TEST_PASSWORD_SETTINGS, PORT: "0", HOST: "127.0.0.1", NASTY_DATA_DIR: dataDir },
    encoding: "utf8",
    timeout: START_MS_MAX,
  });
  assert.equal(result.status, 2, result.stderr);
  assert.match(result.stderr, /cannot start: event seq 2 has type "bookmark.starred" \(version 3\), which this build of Nasty does not know.*run that version \(or newer\)/);
  assert.doesNotMatch(result.stderr, /AssertionError|at .*\.ts:\d+/, "a message, not a stack trace");
  const db = new Database(path.join(dataDir, "events.sqlite3"), { readonly: true });
  assert.equal(db.prepare("SELECT count(*) FROM events").pluck().get(), 2, "nothing was changed");
  db.close();
});
