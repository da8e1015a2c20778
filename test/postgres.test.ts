// The Postgres flush against a real Postgres: migrations, batches equal to the store's fold, idempotent
// re-flush, a real server's rows matching its store, and outages (a cut proxy, killed backends) losing nothing.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import net from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import postgres, { type Sql } from "postgres";
import type { BookmarkId, CommentId, LoggedEvent, TokenId, UserId } from "../src/events.ts";
import { Store } from "../src/store/store.ts";
import { mulberry32 } from "../src/simulator/random.ts";
import { migrate, readMigrations, MigrationError } from "../src/log/migrate.ts";
import { flushBatch } from "../src/log/flush-batch.ts";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { eraseSome, KEPT, MARKERS } from "./support/erasure.ts";

const BASE_URL = process.env.DATABASE_TEST_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const IN_CI = process.env.CI === "true";
const quiet = { onnotice: () => {} };

async function unreachableReason(): Promise<string | null> {
  const sql = postgres(BASE_URL, { ...quiet, max: 1, connect_timeout: 5 });
  try {
    await sql`SELECT 1`;
    return null;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

const unreachable = await unreachableReason();
if (unreachable !== null && !IN_CI) console.log(`# Postgres suite skipped: ${BASE_URL} is unreachable (${unreachable}); set DATABASE_TEST_URL`);

// ---- databases: each test gets its own, dropped at the end --------------------------------------

const admin = unreachable === null || IN_CI ? postgres(BASE_URL, { ...quiet, max: 1 }) : null;
const databases: { name: string; clients: Sql[] }[] = [];

async function freshDatabase(): Promise<{ url: string; sql: Sql }> {
  assert.ok(admin, "Postgres is required");
  const name = `nasty_test_${crypto.randomBytes(6).toString("hex")}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { ...quiet, max: 2 });
  databases.push({ name, clients: [sql] });
  return { url: url.href, sql };
}

function databaseName(url: string): string {
  return new URL(url).pathname.slice(1);
}

async function dropDatabases(): Promise<void> {
  for (const { name, clients } of databases) {
    for (const client of clients) await client.end({ timeout: 1 });
    await admin?.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
  await admin?.end({ timeout: 1 });
}

// ---- snapshots: the relational rows as Postgres has them, and as the store says they should be ---

interface Snapshot {
  users: unknown[];
  tokens: unknown[];
  bookmarks: unknown[];
  comments: unknown[];
  tags: string[];
}

const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;

function storeSnapshot(store: Store): Snapshot {
  const bookmarks = [...store.bookmarksById.values()];
  return {
    users: [...store.usersById.values()].map((user) => ({ id: user.id, username: user.username, password_hash: user.passwordHash, inserted_at: user.insertedAt, role: user.role, suspended: user.suspended })).sort(byId),
    tokens: [...store.tokensById.values()].map((token) => ({ id: token.id, user_id: token.user.id, hash: token.hash, kind: token.kind, name: token.name, inserted_at: token.createdAt })).sort(byId),
    bookmarks: bookmarks
      .map((bookmark) => ({
        id: bookmark.id, user_id: bookmark.user.id, url: bookmark.url, title: bookmark.title, description: bookmark.description, notes: bookmark.notes,
        public: bookmark.public, unread: bookmark.unread, tags: bookmark.tags, inserted_at: bookmark.insertedAt, updated_at: bookmark.updatedAt,
      }))
      .sort(byId),
    comments: bookmarks
      .flatMap((bookmark) => bookmark.comments ?? [])
      .map((comment) => ({ id: comment.id, bookmark_id: comment.bookmarkId, user_id: comment.user.id, body: comment.body, inserted_at: comment.insertedAt }))
      .sort(byId),
    tags: store.tagNamesInUse().sort(),
  };
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::float8`;

async function postgresSnapshot(sql: Sql): Promise<Snapshot> {
  const users = await sql.unsafe(`SELECT id::float8 AS id, username, password_hash, ${ms("inserted_at")} AS inserted_at, role, suspended FROM users ORDER BY id`);
  const tokens = await sql.unsafe(`SELECT id::float8 AS id, user_id::float8 AS user_id, hash, kind, name, ${ms("inserted_at")} AS inserted_at FROM tokens ORDER BY id`);
  const bookmarks = await sql.unsafe(`
    SELECT b.id::float8 AS id, b.user_id::float8 AS user_id, b.url, b.title, b.description, b.notes, b.public, b.unread,
      coalesce((SELECT json_agg(t.name ORDER BY bt.position) FROM bookmark_tags bt JOIN tags t ON t.id = bt.tag_id WHERE bt.bookmark_id = b.id), '[]') AS tags,
      ${ms("b.inserted_at")} AS inserted_at, ${ms("b.updated_at")} AS updated_at
    FROM bookmarks b ORDER BY b.id`);
  const comments = await sql.unsafe(`SELECT id::float8 AS id, bookmark_id::float8 AS bookmark_id, user_id::float8 AS user_id, body, ${ms("inserted_at")} AS inserted_at FROM comments ORDER BY id`);
  const tags = await sql<{ name: string }[]>`SELECT name FROM tags`;
  return { users: [...users], tokens: [...tokens], bookmarks: [...bookmarks], comments: [...comments], tags: tags.map((row) => row.name).sort() };
}

async function eventRows(sql: Sql): Promise<unknown[]> {
  const rows = await sql.unsafe(`SELECT node, seq::float8 AS seq, type, v, ${ms("ts")} AS ts, payload FROM events ORDER BY node, seq`);
  return [...rows];
}

function logRows(events: readonly LoggedEvent[]): unknown[] {
  return events.map((event) => ({ node: event.node, seq: event.seq, type: event.type, v: event.v, ts: event.ts, payload: event.payload }));
}

// ---- random event histories, folded by the real store -------------------------------------------

const TAG_POOL = ["rust", "web", "go", "db", "ünïcode", 'say-"hi"', "{brace}", "back\\slash", "a-very-long-tag-name-to-see-how-it-goes", "x", "y", "z"];

/**
 * A valid history of `count` events: bookmarks only for existing users, but updates, deletes and
 * comments freely aimed at bookmarks that may already be gone, as races produce them.
 */
function randomHistory(seed: number, count: number): LoggedEvent[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let counter = 0;
  const nextId = () => ++counter * 1024 + 1;
  const users: number[] = [];
  const tokens: number[] = [];
  const bookmarks: number[] = [];
  const comments: { id: number; bookmark: number }[] = [];
  const events: LoggedEvent[] = [];
  // Now and then a tag of its own, so tags also fall out of use and must disappear.
  const tags = () => [...new Set(Array.from({ length: Math.floor(random() * 5) }, () => (random() < 0.05 ? `rare-${events.length}` : pick(TAG_POOL))))];
  for (let seq = 1; seq <= count; seq += 1) {
    const meta = { seq, v: 1, ts: 1_700_000_000_000 + seq * 7, node: 1 };
    const roll = random();
    if (users.length === 0 || roll < 0.04) {
      const id = nextId();
      users.push(id);
      const role = random() < 0.3 ? { role: random() < 0.5 ? ("admin" as const) : ("member" as const) } : {};
      events.push({ ...meta, type: "user.registered", payload: { id: id as UserId, username: `user${id}`, password_hash: `hash-${seq}`, ...role } });
    } else if (roll < 0.06) {
      events.push({ ...meta, type: "user.password_changed", payload: { id: pick(users) as UserId, password_hash: `changed-${seq}` } });
    } else if (roll < 0.1) {
      const id = nextId();
      tokens.push(id);
      events.push({ ...meta, type: "token.created", payload: { id: id as TokenId, user_id: pick(users) as UserId, hash: `token-${id}`, kind: random() < 0.5 ? "api" : "session", name: "t", expires_at: null } });
    } else if (roll < 0.12 && tokens.length > 0) {
      events.push({ ...meta, type: "token.revoked", payload: { id: pick(tokens) as TokenId } });
    } else if (roll < 0.5 || bookmarks.length === 0) {
      const id = nextId();
      bookmarks.push(id);
      events.push({
        ...meta, type: "bookmark.created",
        payload: {
          id: id as BookmarkId, user_id: pick(users) as UserId, url: `https://example.com/${seq % 40}`, title: `title ${seq}`,
          description: random() < 0.5 ? "" : `about ${seq}`, public: random() < 0.7, tags: tags(),
          ...(random() < 0.2 ? { unread: random() < 0.5 } : {}),
          ...(random() < 0.2 ? { notes: `notes ${seq}\n\n- *ü*` } : {}),
          ...(random() < 0.1 ? { inserted_at: 1_600_000_000_000 + seq * 1000 } : {}),
        },
      });
    } else if (roll < 0.7) {
      const payload: Extract<LoggedEvent, { type: "bookmark.updated" }>["payload"] = { id: pick(bookmarks) as BookmarkId };
      if (random() < 0.5) payload.title = `retitled ${seq}`;
      if (random() < 0.3) payload.url = `https://example.org/${seq}`;
      if (random() < 0.3) payload.description = `described ${seq}`;
      if (random() < 0.3) payload.public = random() < 0.5;
      if (random() < 0.2) payload.unread = random() < 0.5;
      if (random() < 0.2) payload.notes = random() < 0.3 ? "" : `renoted ${seq}`;
      if (random() < 0.5) payload.tags = tags();
      events.push({ ...meta, type: "bookmark.updated", payload });
    } else if (roll < 0.74) {
      // Link checks reach Postgres's events table alone; the relational tables do not change.
      const broken = random() < 0.5;
      events.push({ ...meta, type: "link.checked", payload: { id: pick(bookmarks) as BookmarkId, purpose: random() < 0.5 ? "health" : "metadata", status: broken ? 404 : 200, final_url: `https://example.com/${seq}`, error: broken ? "HTTP 404" : null, broken } });
    } else if (roll < 0.8) {
      events.push({ ...meta, type: "bookmark.deleted", payload: { id: pick(bookmarks) as BookmarkId } });
    } else if (roll < 0.85 && comments.length > 0) {
      // Now and then aimed at the wrong bookmark, which changes nothing.
      const comment = pick(comments);
      events.push({ ...meta, type: "comment.deleted", payload: { id: comment.id as CommentId, bookmark_id: (random() < 0.9 ? comment.bookmark : pick(bookmarks)) as BookmarkId } });
    } else {
      const comment = { id: nextId(), bookmark: pick(bookmarks) };
      comments.push(comment);
      events.push({ ...meta, type: "comment.posted", payload: { id: comment.id as CommentId, bookmark_id: comment.bookmark as BookmarkId, user_id: pick(users) as UserId, body: `comment ${seq} ✓` } });
    }
  }
  return events;
}

function foldedStore(events: readonly LoggedEvent[]): Store {
  const store = new Store(1);
  for (const event of events) store.apply(event);
  return store;
}

// ---- a server's view, through its API ---------------------------------------------------------

async function flushStatus(base: string): Promise<any> {
  const reply = await request(base, "GET", "/api/status");
  assert.equal(reply.status, 200);
  return reply.json;
}

/** Polls until `done` holds (a liveness bound of about 30 s, not a timing assertion). */
async function waitFor(what: string, done: () => Promise<boolean>, describe: () => string = () => ""): Promise<void> {
  for (let attempt = 0; attempt < 3000; attempt += 1) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}${describe()}`);
}

async function waitForStatus(base: string, what: string, done: (status: any) => boolean): Promise<any> {
  let status: any = null;
  await waitFor(what, async () => done((status = await flushStatus(base))), () => `; last status: ${JSON.stringify(status)}`);
  return status;
}

const caughtUp = (base: string) =>
  waitForStatus(base, "the flush to catch up", (status) => status.flush.flushed_seq === status.events.last_seq && status.flush.last_error === null);

/** Fast retries so outages are short; everything else as configured by default. */
function flushSettings(url: string, dataDir = tempDir()): Record<string, string> {
  return { DATABASE_URL: url, NASTY_DATA_DIR: dataDir, NASTY_FLUSH_INTERVAL_MS: "5", NASTY_FLUSH_BACKOFF_MAX_MS: "40" };
}

async function expectMirror(nasty: Nasty, sql: Sql): Promise<void> {
  assert.deepEqual(await postgresSnapshot(sql), storeSnapshot(nasty.store));
  assert.deepEqual(await eventRows(sql), logRows(nasty.log.readAfter(0, 1_000_000)));
}

/** Users, bookmarks with tags (one private), an update, comments, a delete; returns names and ids. */
async function someTraffic(base: string, prefix: string) {
  const alice = await signUp(base, `${prefix}-alice`);
  const bob = await signUp(base, `${prefix}-bob`);
  const kept = await createBookmark(base, alice, { title: "Rust", url: `https://www.rust-lang.org/${prefix}`, tags: "rust, web", description: "systems" });
  const secret = await createBookmark(base, alice, { title: "Diary", url: `https://diary.example/${prefix}`, tags: ["private-stuff"], public: false, unread: true, inserted_at: "2011-03-04T05:06:07Z", notes: "# Dear diary\n\n- ü *one*\n- two" });
  const doomed = await createBookmark(base, bob, { title: "Doomed", url: `https://doomed.example/${prefix}`, tags: [`only-${prefix}`, "web"] });
  const patched = await request(base, "PATCH", `/api/bookmarks/${kept.id}`, { token: alice, body: { bookmark: { title: "Rust lang", tags: ["rust", "lang"], public: false, notes: "    fn main() {}" } } });
  assert.equal(patched.status, 200);
  for (const [token, id, body] of [[bob, kept.id, "nice"], [alice, doomed.id, "bye"], [bob, doomed.id, "no!"]] as const) {
    // alice's kept bookmark is private now: only alice may comment on it
    const reply = await request(base, "POST", `/api/bookmarks/${id}/comments`, { token: token === bob && id === kept.id ? alice : token, body: { comment: { body } } });
    assert.equal(reply.status, 201, reply.text);
  }
  const taken = await request(base, "POST", `/api/bookmarks/${kept.id}/comments`, { token: alice, body: { body: "taken back" } });
  assert.equal((await request(base, "DELETE", `/api/comments/${taken.json.comment.data.id}`, { token: alice })).status, 204);
  const deleted = await request(base, "DELETE", `/api/bookmarks/${doomed.id}`, { token: bob });
  assert.ok(deleted.status === 200 || deleted.status === 204, deleted.text);
  return { alice, bob, kept, secret, doomed };
}

// ---- a TCP proxy to Postgres that the test can cut and restore ---------------------------------

class PostgresProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens (on the same port as before, once it has one); a black hole accepts and never answers. */
  async open(mode: "forward" | "black-hole" = "forward"): Promise<void> {
    const server = net.createServer((client) => {
      if (mode === "black-hole") {
        this.sockets.add(client);
        client.on("close", () => this.sockets.delete(client));
        client.on("error", () => {});
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Postgres is "down": no new connections, every open one cut. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  url(base: string): string {
    const url = new URL(base);
    url.hostname = "127.0.0.1";
    url.port = String(this.port);
    return url.href;
  }
}

describe("Postgres flush", { skip: unreachable !== null && !IN_CI ? `Postgres unreachable at ${BASE_URL}` : false }, () => {
  after(dropDatabases);

  test("Postgres is reachable (CI runs this suite, never skips it)", () => {
    assert.equal(unreachable, null, `Postgres at ${BASE_URL}: ${unreachable}`);
  });

  test("a statement of a transaction whose connection Postgres closed fails that transaction, not the process (postgres.js guarded by src/log/postgres-patch.mjs)", async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./support/postgres-closed-write.mjs", import.meta.url)), BASE_URL], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, output);
    assert.match(output, /begin rejected: CONNECTION_CLOSED\nalive/);
  });

  test("migrations apply once, are tracked, survive concurrent runs, and refuse an edited file", async () => {
    const { url, sql } = await freshDatabase();
    const other = postgres(url, { ...quiet, max: 1 });
    databases.at(-1)!.clients.push(other);
    const migrations = readMigrations();
    const [first, second] = await Promise.all([migrate(sql, migrations), migrate(other, migrations)]);
    assert.deepEqual([...first, ...second].sort(), migrations.map((migration) => migration.name));
    assert.deepEqual(await migrate(sql, migrations), []);
    const recorded = await sql<{ name: string }[]>`SELECT name FROM schema_migrations ORDER BY name`;
    assert.deepEqual(recorded.map((row) => row.name), migrations.map((migration) => migration.name));
    const edited = migrations.map((migration, index) => (index === 0 ? { ...migration, checksum: "edited" } : migration));
    await assert.rejects(migrate(sql, edited), (error: Error) => error instanceof MigrationError && /001_events\.sql changed after it was applied/.test(error.message));
  });

  test("random histories flushed in random batches equal the store's fold, a dozen statements per batch", async () => {
    const { url } = await freshDatabase();
    let statements = 0;
    const counted = postgres(url, { ...quiet, max: 1, debug: () => (statements += 1) });
    databases.at(-1)!.clients.push(counted);
    await migrate(counted);
    const seed = 20240601;
    const history = randomHistory(seed, 6000);
    const random = mulberry32(seed + 1);
    let statementsMax = 0;
    for (let start = 0; start < history.length; ) {
      const size = 1 + Math.floor(random() * 2000);
      const batch = history.slice(start, start + size);
      statements = 0;
      const fresh = await counted.begin((tx) => flushBatch(tx, 1, batch));
      assert.equal(fresh, batch.length);
      statementsMax = Math.max(statementsMax, statements);
      start += size;
    }
    assert.ok(statementsMax <= 17, `a batch took ${statementsMax} statements (seed ${seed})`);
    const expected = storeSnapshot(foldedStore(history));
    assert.ok((expected.bookmarks.length as number) > 100 && expected.comments.length > 50, `seed ${seed} gives a thin history`);
    assert.deepEqual(await postgresSnapshot(counted), expected, `seed ${seed}`);
    assert.deepEqual(await eventRows(counted), logRows(history));

    // Re-flushing everything from seq 0, as after a crash that lost the position, changes nothing.
    await counted`DELETE FROM flush_positions`;
    const tagIds = await counted`SELECT id, name FROM tags ORDER BY id`;
    const again = await counted.begin((tx) => flushBatch(tx, 1, history));
    assert.equal(again, 0);
    assert.deepEqual(await postgresSnapshot(counted), expected);
    assert.deepEqual(await counted`SELECT id, name FROM tags ORDER BY id`, tagIds);
    const [position] = await counted<{ seq: string }[]>`SELECT seq FROM flush_positions WHERE node = 1`;
    assert.equal(Number(position?.seq), history.length);
  });

  test("events holding text Postgres cannot store (a lone surrogate, NUL), as logs from before the input checks may, flush with U+FFFD", async () => {
    const { sql } = await freshDatabase();
    await migrate(sql);
    const userId = 1025 as UserId;
    const bookmarkId = 2049 as BookmarkId;
    const events: LoggedEvent[] = [
      { seq: 1, v: 1, ts: 1_700_000_000_000, node: 1, type: "user.registered", payload: { id: userId, username: "legacy", password_hash: "x" } },
      { seq: 2, v: 1, ts: 1_700_000_000_001, node: 1, type: "bookmark.created", payload: { id: bookmarkId, user_id: userId, url: "https://legacy.example/\ud800", title: "lone \ud800 and \u0000 NUL", description: "\udc00", public: true, tags: ["x\ud800", "fine"] } },
      { seq: 3, v: 1, ts: 1_700_000_000_002, node: 1, type: "comment.posted", payload: { id: 3073 as CommentId, bookmark_id: bookmarkId, user_id: userId, body: "nul \u0000 here" } },
      { seq: 4, v: 1, ts: 1_700_000_000_003, node: 1, type: "bookmark.updated", payload: { id: bookmarkId, description: "still \ud83d" } },
    ];
    assert.equal(await sql.begin((tx) => flushBatch(tx, 1, events)), events.length);
    const [bookmark] = await sql`SELECT url, title, description FROM bookmarks WHERE id = ${bookmarkId}`;
    assert.deepEqual({ ...bookmark }, { url: "https://legacy.example/\ufffd", title: "lone \ufffd and \ufffd NUL", description: "still \ufffd" });
    assert.deepEqual((await sql`SELECT name FROM tags ORDER BY name`).map((row) => row.name), ["fine", "x\ufffd"]);
    assert.deepEqual((await sql`SELECT body FROM comments`).map((row) => row.body), ["nul \ufffd here"]);
    const [logged] = await sql`SELECT payload FROM events WHERE seq = 2`;
    assert.equal(logged?.payload.title, "lone \ufffd and \ufffd NUL");
  });

  test("a server flushes its log: rows match the store, updates, comments and cascading deletes included", async () => {
    const { url, sql } = await freshDatabase();
    const nasty = await startTestServer(flushSettings(url));
    try {
      const { kept, secret, doomed } = await someTraffic(nasty.url, "a");
      const status = await caughtUp(nasty.url);
      assert.deepEqual(
        { ...status.flush, batches: typeof status.flush.batches },
        { enabled: true, state: status.flush.state, flushed_seq: status.events.last_seq, lag_events: 0, lag_ms: 0, last_error: null, retries: 0, events_flushed: status.events.last_seq, batches: "number", erased_through: 0 },
      );
      await expectMirror(nasty, sql);
      const [row] = await sql`SELECT title, public, notes FROM bookmarks WHERE id = ${kept.id}`;
      assert.deepEqual({ ...row }, { title: "Rust lang", public: false, notes: "    fn main() {}" }, "notes set by an update reach the notes column");
      assert.deepEqual(await sql`SELECT id::float8 AS id, notes FROM bookmarks WHERE notes <> '' ORDER BY id`.then((rows) => rows.map((one) => ({ ...one }))), [
        { id: kept.id, notes: "    fn main() {}" },
        { id: secret.id, notes: "# Dear diary\n\n- ü *one*\n- two" },
      ], "notes given at creation too; a bookmark without notes has ''");
      assert.equal((await sql`SELECT 1 FROM bookmarks WHERE id = ${secret.id} AND NOT public AND unread AND inserted_at = '2011-03-04T05:06:07Z'`).length, 1);
      assert.equal((await sql`SELECT 1 FROM bookmarks WHERE id = ${doomed.id}`).length, 0);
      assert.equal((await sql`SELECT 1 FROM bookmark_tags WHERE bookmark_id = ${doomed.id}`).length, 0);
      assert.equal((await sql`SELECT 1 FROM comments WHERE bookmark_id = ${doomed.id}`).length, 0);
      assert.equal((await sql`SELECT 1 FROM tags WHERE name = 'only-a'`).length, 0, "a tag no bookmark carries is gone");
      assert.equal((await sql`SELECT 1 FROM tags WHERE name = 'web'`).length, 0, "web was on the deleted bookmark and on the retagged one only");
      assert.equal((await sql`SELECT 1 FROM comments WHERE bookmark_id = ${kept.id}`).length, 1);
    } finally {
      await nasty.close();
    }
  });

  test("moderation reaches Postgres: roles, suspension, the sign-up mode and invitations, with the store's rows", async () => {
    const { url, sql } = await freshDatabase();
    const nasty = await startTestServer(flushSettings(url));
    try {
      const base = nasty.url;
      const admin = await signUp(base, "mod-root");
      await signUp(base, "mod-alice");
      const spammer = await signUp(base, "mod-spam");
      await createBookmark(base, spammer, { title: "spam", url: "https://spam.example/pg" });
      assert.equal((await request(base, "POST", "/api/admin/users/mod-spam/suspend", { token: admin })).status, 204);
      assert.equal((await request(base, "PUT", "/api/admin/users/mod-alice/role", { token: admin, body: { role: "admin" } })).status, 204);
      assert.equal((await request(base, "PUT", "/api/admin/signup", { token: admin, body: { mode: "invite" } })).status, 200);
      const used = (await request(base, "POST", "/api/admin/invites", { token: admin })).json.invite;
      const unused = (await request(base, "POST", "/api/admin/invites", { token: admin })).json.invite;
      assert.equal((await request(base, "POST", "/api/users", { body: { user: { username: "mod-guest", password: "long enough", invite: used } } })).status, 201);
      await caughtUp(base);
      await expectMirror(nasty, sql);
      const roles = await sql<{ username: string; role: string; suspended: boolean }[]>`SELECT username, role, suspended FROM users ORDER BY id`;
      assert.deepEqual(roles.map((row) => [row.username, row.role, row.suspended]), [["mod-root", "admin", false], ["mod-alice", "admin", false], ["mod-spam", "member", true], ["mod-guest", "member", false]]);
      assert.deepEqual((await sql`SELECT value FROM settings WHERE name = 'signup'`).map((row) => row.value), ["invite"]);
      const invites = await sql<{ hash: string }[]>`SELECT hash FROM invites`;
      assert.deepEqual(invites.map((row) => row.hash), [[...nasty.store.invitesByHash.keys()][0]], "the used invitation is gone, the unused one is there");
      assert.equal(nasty.store.invitesByHash.size, 1);
      assert.ok(unused.startsWith("invite_"));
      assert.equal((await request(base, "POST", "/api/admin/users/mod-spam/unsuspend", { token: admin })).status, 204);
      await caughtUp(base);
      assert.deepEqual((await sql`SELECT suspended FROM users WHERE username = 'mod-spam'`).map((row) => row.suspended), [false]);
    } finally {
      await nasty.close();
    }
  });

  test("a bulk edit and a tag rename, each one append, flush to rows that match the store", async () => {
    const { url, sql } = await freshDatabase();
    const nasty = await startTestServer(flushSettings(url));
    try {
      const token = await signUp(nasty.url, "bulky");
      const ids: number[] = [];
      for (let index = 0; index < 3; index += 1) ids.push((await createBookmark(nasty.url, token, { title: `Bulk ${index}`, url: `https://bulk.example/${index}`, tags: ["old"], public: false })).id);
      const bulk = await request(nasty.url, "POST", "/api/bookmarks/bulk", { token, body: { ids, action: "make_public" } });
      assert.deepEqual(bulk.json.data.changed, ids);
      assert.equal((await request(nasty.url, "PATCH", "/api/tags/old", { token, body: { name: "new" } })).json.data.bookmarks, 3);
      assert.equal((await request(nasty.url, "POST", "/api/bookmarks/bulk", { token, body: { ids: [ids[0]], action: "delete" } })).status, 200);
      await caughtUp(nasty.url);
      await expectMirror(nasty, sql);
      assert.deepEqual((await sql`SELECT id FROM bookmarks WHERE public ORDER BY id`).map((row) => Number(row.id)), ids.slice(1));
      assert.equal((await sql`SELECT 1 FROM tags WHERE name = 'old'`).length, 0);
      assert.equal((await sql`SELECT 1 FROM bookmark_tags JOIN tags ON tags.id = tag_id WHERE name = 'new'`).length, 2);
    } finally {
      await nasty.close();
    }
  });

  test("a restart re-flushing from seq 0 duplicates nothing; another log with the same node id is refused", async () => {
    const { url, sql } = await freshDatabase();
    const dataDir = tempDir();
    let nasty = await startTestServer(flushSettings(url, dataDir));
    await someTraffic(nasty.url, "b");
    await caughtUp(nasty.url);
    // The log is kept whole (no compaction behind the shutdown snapshot), so it can be flushed again from seq 0.
    const release = nasty.snapshots.holdCompaction();
    await nasty.close();
    release();
    const before = await postgresSnapshot(sql);
    const tagIds = await sql`SELECT id, name FROM tags ORDER BY id`;
    await sql`DELETE FROM flush_positions`;

    nasty = await startTestServer(flushSettings(url, dataDir));
    try {
      const status = await caughtUp(nasty.url);
      assert.equal(status.flush.events_flushed, 0, "every event was already there");
      assert.ok(status.flush.batches >= 1, "the log was flushed again from seq 0");
      assert.deepEqual(await postgresSnapshot(sql), before);
      assert.deepEqual(await sql`SELECT id, name FROM tags ORDER BY id`, tagIds);
      await expectMirror(nasty, sql);
    } finally {
      await nasty.close();
    }

    const stranger = await startTestServer(flushSettings(url));
    try {
      const token = await signUp(stranger.url, "stranger");
      await createBookmark(stranger.url, token, { title: "Elsewhere", url: "https://elsewhere.example" });
      const status = await waitForStatus(stranger.url, "the refusal", (status) => status.flush.retries > 0);
      assert.match(status.flush.last_error, /Postgres holds a different history for node 1/);
      assert.equal(status.flush.flushed_seq, null);
      assert.deepEqual(await postgresSnapshot(sql), before, "the other log's rows are untouched");
    } finally {
      await stranger.close();
    }
  });

  test("Postgres down at start-up and cut mid-run: writes get 201, the flush retries, catches up and loses nothing", async () => {
    const { url, sql } = await freshDatabase();
    const target = new URL(BASE_URL);
    const proxy = new PostgresProxy({ host: target.hostname, port: Number(target.port || 5432) });
    await proxy.open();
    await proxy.cut();
    const nasty = await startTestServer(flushSettings(proxy.url(url)));
    try {
      const alice = await signUp(nasty.url, "alice");
      const first = await createBookmark(nasty.url, alice, { title: "While down", url: "https://down.example", tags: "outage" });
      let status = await waitForStatus(nasty.url, "a failed attempt", (status) => status.flush.retries >= 2);
      assert.equal(status.flush.state, "retrying");
      assert.match(status.flush.last_error, /ECONNREFUSED/);
      assert.equal(status.flush.flushed_seq, null, "nothing is known about Postgres yet");

      await proxy.open();
      await caughtUp(nasty.url);
      await expectMirror(nasty, sql);

      await proxy.cut();
      const bob = await signUp(nasty.url, "bob");
      const during = [];
      for (let index = 0; index < 20; index += 1) during.push(await createBookmark(nasty.url, bob, { title: `during ${index}`, url: `https://during.example/${index}`, tags: ["outage", `n${index % 3}`] }));
      for (const [path, method, body] of [
        [`/api/bookmarks/${first.id}`, "PATCH", { bookmark: { title: "Edited while down", tags: ["edited"] } }],
        [`/api/bookmarks/${during[0].id}/comments`, "POST", { comment: { body: "said while down" } }],
        [`/api/bookmarks/${during[1].id}`, "DELETE", undefined],
      ] as const) {
        const reply = await request(nasty.url, method, path, { token: path.includes(String(first.id)) ? alice : bob, body });
        assert.ok(reply.status < 300, `${method} ${path} during the outage: ${reply.status} ${reply.text}`);
      }
      status = await waitForStatus(nasty.url, "the outage to be noticed", (status) => status.flush.retries >= 1 && status.flush.lag_events > 0);
      assert.ok(status.flush.last_error, "the error is reported");
      assert.ok(status.flush.lag_ms >= 0);
      assert.ok(status.flush.flushed_seq < status.events.last_seq);

      await proxy.open();
      status = await caughtUp(nasty.url);
      assert.equal(status.flush.retries, 0);
      await expectMirror(nasty, sql);
    } finally {
      await nasty.close();
      await proxy.cut();
    }
  });

  test("a Postgres that stops answering fails the step after NASTY_FLUSH_TIMEOUT_MS, and close does not wait for it", async () => {
    const { url, sql } = await freshDatabase();
    const target = new URL(BASE_URL);
    const proxy = new PostgresProxy({ host: target.hostname, port: Number(target.port || 5432) });
    // Migrated beforehand: on a loaded machine the first migration (all the DDL in one step) can take
    // longer than the step timeout, and would then time out on every attempt once Postgres answers.
    await migrate(sql);
    await proxy.open("black-hole");
    const nasty = await startTestServer({ ...flushSettings(proxy.url(url)), NASTY_FLUSH_TIMEOUT_MS: "1000" });
    try {
      const token = await signUp(nasty.url, "dave");
      const status = await waitForStatus(nasty.url, "a timed-out attempt", (status) => status.flush.retries >= 2);
      assert.match(status.flush.last_error, /Postgres did not answer within 1000 ms/);
      await createBookmark(nasty.url, token, { title: "Still writable", url: "https://hole.example" });
      await proxy.cut();
      await proxy.open();
      await caughtUp(nasty.url);
      await expectMirror(nasty, sql);
      await proxy.cut();
      await proxy.open("black-hole");
      await createBookmark(nasty.url, token, { title: "Into the hole", url: "https://hole.example/2" });
      await waitForStatus(nasty.url, "the black hole to be noticed", (status) => status.flush.lag_events > 0);
    } finally {
      await nasty.close();
      await proxy.cut();
    }
  });

  test("an unusable DATABASE_URL does not stop the server: writes get 201 and the status names the problem", async () => {
    const nasty = await startTestServer({ ...flushSettings("postgres://nasty:hunter2@127.0.0.1:not-a-port/nasty") });
    try {
      const token = await signUp(nasty.url, "erin");
      await createBookmark(nasty.url, token, { title: "Saved anyway", url: "https://saved.example" });
      const status = await waitForStatus(nasty.url, "the URL to be refused", (status) => status.flush.retries >= 2);
      assert.match(status.flush.last_error, /^DATABASE_URL cannot be used: /);
      assert.ok(!JSON.stringify(status).includes("hunter2"), "the password stays out of the status");
      assert.equal(status.bookmarks, 1);
    } finally {
      await nasty.close();
    }
  });

  test("a single node pointed at a cluster's database flushes nothing into it, keeps serving, and its status names the problem", async () => {
    const { url, sql } = await freshDatabase();
    await migrate(sql, readMigrations());
    await sql`INSERT INTO log (seq, epoch, type, v, ts, node, payload) VALUES (1, 1, 'signup.changed', 1, 0, 1, '{"mode":"open"}')`;
    const nasty = await startTestServer({ ...flushSettings(url) });
    try {
      const token = await signUp(nasty.url, "frank");
      await createBookmark(nasty.url, token, { title: "Kept locally", url: "https://local.example" });
      const status = await waitForStatus(nasty.url, "the cluster's database to be refused", (status) => status.flush.retries >= 1);
      assert.match(status.flush.last_error, /holds a cluster's log \(up to seq 1\).*NASTY_CLUSTER=on/);
      assert.equal(status.bookmarks, 1);
      assert.equal((await sql`SELECT count(*)::int AS n FROM users`)[0]!.n, 0, "no user row was written");
      assert.equal((await sql`SELECT count(*)::int AS n FROM flush_positions`)[0]!.n, 0, "no flush position either");
    } finally {
      await nasty.close();
    }
  });

  test("the flusher's backend killed with pg_terminate_backend: it reconnects and nothing is lost", async () => {
    const { url, sql } = await freshDatabase();
    const nasty = await startTestServer(flushSettings(url));
    const flusherBackends = () => sql<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity WHERE datname = ${databaseName(url)} AND application_name LIKE 'nasty-flush-%'`;
    try {
      const token = await signUp(nasty.url, "carol");
      const seen = new Set<number>();
      for (let round = 0; round < 4; round += 1) {
        await caughtUp(nasty.url);
        const backends = await flusherBackends();
        assert.equal(backends.length, 1, "the flusher holds one connection");
        const pid = backends[0]!.pid;
        seen.add(pid);
        await sql`SELECT pg_terminate_backend(${pid})`;
        await waitFor(`backend ${pid} to exit`, async () => (await sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`).length === 0);
        await Promise.all(Array.from({ length: 10 }, (_, index) => createBookmark(nasty.url, token, { title: `round ${round}`, url: `https://kill.example/${round}/${index}`, tags: [`round-${round}`] })));
      }
      await caughtUp(nasty.url);
      seen.add((await flusherBackends())[0]!.pid);
      assert.equal(seen.size, 5, "a new backend after every kill");
      await expectMirror(nasty, sql);
    } finally {
      await nasty.close();
    }
  });

  test("deleted means erased in Postgres too: after delete and a snapshot, no row of the events or relational tables holds a marker", async () => {
    const { url, sql } = await freshDatabase();
    const nasty = await startTestServer(flushSettings(url));
    const rowsWith = async (marker: string) => {
      const pattern = `%${marker}%`;
      const [row] = await sql<{ n: string }[]>`SELECT
        (SELECT count(*) FROM events WHERE payload::text LIKE ${pattern}) + (SELECT count(*) FROM users WHERE username LIKE ${pattern}) +
        (SELECT count(*) FROM bookmarks WHERE title LIKE ${pattern} OR description LIKE ${pattern} OR notes LIKE ${pattern} OR url LIKE ${pattern}) +
        (SELECT count(*) FROM comments WHERE body LIKE ${pattern}) + (SELECT count(*) FROM tags WHERE name LIKE ${pattern}) AS n`;
      return Number(row!.n);
    };
    try {
      await eraseSome(nasty);
      await caughtUp(nasty.url);
      assert.ok((await rowsWith(MARKERS[0]!)) > 0, "before the snapshot, Postgres's events table still holds the deleted bookmark");
      await nasty.snapshots.takeInBackground();
      const compacted = nasty.log.compactedThrough;
      assert.equal(compacted, nasty.snapshots.status().last_seq, "the log was compacted through the snapshot (Postgres had it all)");
      await waitForStatus(nasty.url, "the erasure to reach Postgres", (status) => status.flush.erased_through >= compacted);
      for (const marker of MARKERS) assert.equal(await rowsWith(marker), 0, `no Postgres row holds ${marker}`);
      assert.ok((await rowsWith(KEPT)) > 0, "what stays is still there");
      await expectMirror(nasty, sql);
    } finally {
      await nasty.close();
    }
  });
});
