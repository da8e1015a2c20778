// The JSON API against a real server: the original curl example and every error row of issue 2.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import path from "node:path";
import net from "node:net";
import { createBookmark, othersView, request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
import { BOOKMARK_BODY_BYTES_MAX } from "../src/http/router.ts";

describe("JSON API", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
  });
  after(() => nasty.close());

  test("the original curl example, with a token, gets the 201 shape and its URL exactly as given", async () => {
    const reply = await request(base, "POST", "/api/bookmarks", {
      token: alice,
      body: { bookmark: { title: "Example Site", description: "An example bookmark", url: "https://example.com", public: true, tags: ["example", "test"] } },
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.json.bookmark.message, "Bookmark created successfully");
    const data = reply.json.bookmark.data;
    assert.deepEqual(
      { ...data, id: typeof data.id, inserted_at: typeof data.inserted_at },
      { ...data, id: "number", title: "Example Site", description: "An example bookmark", url: "https://example.com", public: true, tags: ["example", "test"], user: "alice", inserted_at: "string" },
    );
    assert.ok(!Number.isNaN(Date.parse(data.inserted_at)));
    const fetched = await request(base, "GET", `/api/bookmarks/${data.id}`);
    assert.equal(fetched.status, 200);
    assert.deepEqual(fetched.json.data, othersView(data), "anyone else gets it without the owner's read-later flag");
    assert.deepEqual((await request(base, "GET", `/api/bookmarks/${data.id}`, { token: alice })).json.data, data);
  });

  test("tags as a comma-separated string are trimmed, lower-cased and de-duplicated; unknown fields ignored", async () => {
    const data = await createBookmark(base, alice, { title: "Rust", url: "https://www.rust-lang.org", tags: " Rust, web,rust ,, ", colour: "red" });
    assert.deepEqual(data.tags, ["rust", "web"]);
    assert.equal(data.description, "");
    assert.equal(data.public, true);
    assert.equal("colour" in data, false);
  });

  test("Token <token> is accepted like Bearer", async () => {
    const reply = await request(base, "GET", "/api/me", { headers: { authorization: `Token ${alice}` } });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.user.username, "alice");
  });

  test("400: no bookmark object, malformed JSON, empty body", async () => {
    let reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { title: "x" } });
    assert.equal(reply.status, 400);
    assert.deepEqual(reply.json, { error: "Invalid parameters. Expected 'bookmark' object in request body" });
    reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: "a string" } });
    assert.equal(reply.status, 400);
    reply = await request(base, "POST", "/api/bookmarks", { token: alice, raw: '{"bookmark": {', headers: { "content-type": "application/json" } });
    assert.equal(reply.status, 400);
    assert.match(reply.json.error, /malformed JSON/);
    reply = await request(base, "POST", "/api/bookmarks", { token: alice, raw: "", headers: { "content-type": "application/json" } });
    assert.equal(reply.status, 400);
    assert.match(reply.json.error, /empty/);
  });

  test("401: missing, malformed and unknown tokens", async () => {
    const body = { bookmark: { title: "x", url: "https://x.example" } };
    let reply = await request(base, "POST", "/api/bookmarks", { body });
    assert.equal(reply.status, 401);
    assert.match(reply.json.error, /authentication required/);
    reply = await request(base, "POST", "/api/bookmarks", { body, headers: { authorization: "Basic abc" } });
    assert.equal(reply.status, 401);
    assert.match(reply.json.error, /malformed Authorization/);
    reply = await request(base, "POST", "/api/bookmarks", { body, token: "nasty_not-a-real-token" });
    assert.equal(reply.status, 401);
    assert.match(reply.json.error, /invalid or revoked token/);
  });

  test("403 on someone else's bookmark; 404 for someone else's private one and unknown ids", async () => {
    const mine = await createBookmark(base, alice, { title: "Alice's", url: "https://alice.example/1" });
    const secret = await createBookmark(base, alice, { title: "Secret", url: "https://alice.example/secret", public: false });
    let reply = await request(base, "PATCH", `/api/bookmarks/${mine.id}`, { token: bob, body: { bookmark: { title: "mine now" } } });
    assert.equal(reply.status, 403);
    assert.match(reply.json.error, /only its owner/);
    reply = await request(base, "DELETE", `/api/bookmarks/${mine.id}`, { token: bob });
    assert.equal(reply.status, 403);
    for (const [method, token] of [["GET", bob], ["GET", undefined], ["PATCH", bob], ["DELETE", bob]] as const) {
      reply = await request(base, method, `/api/bookmarks/${secret.id}`, { token, body: method === "PATCH" ? { bookmark: { title: "x" } } : undefined });
      assert.equal(reply.status, 404, `${method} of a private bookmark by another`);
      assert.match(reply.json.error, /no bookmark/);
    }
    reply = await request(base, "GET", "/api/bookmarks/999999999");
    assert.equal(reply.status, 404);
    reply = await request(base, "GET", "/api/nothing-here");
    assert.equal(reply.status, 404);
    assert.match(reply.json.error, /no API route/);
  });

  test("409: the same user saving the same URL twice names the existing bookmark", async () => {
    const first = await createBookmark(base, alice, { title: "Once", url: "https://twice.example/page" });
    const reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "Twice", url: "https://TWICE.example/page" } } });
    assert.equal(reply.status, 409);
    assert.equal(reply.json.id, first.id);
    assert.match(reply.json.error, new RegExp(String(first.id)));
    const other = await request(base, "POST", "/api/bookmarks", { token: bob, body: { bookmark: { title: "Bob too", url: "https://twice.example/page" } } });
    assert.equal(other.status, 201, "another user may save the same URL");
    const savers = await request(base, "GET", `/api/bookmarks?url=${encodeURIComponent("https://twice.example/page")}`);
    assert.deepEqual(savers.json.data.map((b: any) => b.user), ["bob", "alice"]);
  });

  test("409 for concurrent saves of one URL: exactly one wins", async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => request(base, "POST", "/api/bookmarks", { token: bob, body: { bookmark: { title: "Race", url: "https://race.example/" } } })),
    );
    assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409]);
  });

  test("concurrent deletes of one bookmark: one 204, the rest 404, one event", async () => {
    const data = await createBookmark(base, bob, { title: "Delete race", url: "https://delete-race.example/" });
    const seqBefore = nasty.log.lastSeq;
    const replies = await Promise.all(Array.from({ length: 4 }, () => request(base, "DELETE", `/api/bookmarks/${data.id}`, { token: bob })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [204, 404, 404, 404]);
    assert.equal(nasty.log.lastSeq, seqBefore + 1);
  });

  test("413: a body over its route's limit (64 KiB; a bookmark's routes take the largest valid bookmark), named", async () => {
    const reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "x", url: "https://big.example", description: "d".repeat(BOOKMARK_BODY_BYTES_MAX) } } });
    assert.equal(reply.status, 413);
    assert.match(reply.json.error, new RegExp(`over the limit of ${BOOKMARK_BODY_BYTES_MAX} bytes`));
    const tooLong = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "x", url: "https://big.example", description: "d".repeat(70 * 1024) } } });
    assert.equal(tooLong.status, 422, "70 KiB is within a bookmark's body limit: the description is named too long");
    const bulk = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [1], action: "add_tags", tags: "t".repeat(70 * 1024) } });
    assert.equal(bulk.status, 413);
    assert.match(bulk.json.error, /over the limit of 65536 bytes/);
  });

  test("415: not JSON", async () => {
    const reply = await request(base, "POST", "/api/bookmarks", { token: alice, raw: "title=x&url=https://x.example", headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(reply.status, 415);
    assert.match(reply.json.error, /application\/json/);
  });

  test("422: every invalid field is named", async () => {
    const bad = [
      [{ title: "x", url: "https://ok.example", fetch_metadata: "yes" }, "fetch_metadata", "must be a boolean"],
      [{ title: "t".repeat(501), url: "https://ok.example" }, "title", "is too long (at most 500 characters)"],
      [{ title: "x", url: "javascript:alert(1)" }, "url", "must be a valid URL"],
      [{ title: "x", url: "data:text/html,<b>hi</b>" }, "url", "must be a valid URL"],
      [{ title: "x", url: "ftp://files.example/a" }, "url", "must be a valid URL"],
      [{ title: "x", url: "/relative/path" }, "url", "must be a valid URL"],
      [{ title: "x", url: "http://" }, "url", "must be a valid URL"],
      [{ title: "x" }, "url", "can't be blank"],
      [{ title: "x", url: `https://long.example/${"a".repeat(2048)}` }, "url", "must be a valid URL of at most 2,048 characters"],
      [{ title: "x", url: "https://ok.example", description: "d".repeat(10_001) }, "description", "is too long (at most 10,000 characters)"],
      [{ title: "x", url: "https://ok.example", public: "yes" }, "public", "must be a boolean"],
      [{ title: 5, url: "https://ok.example" }, "title", "must be a string"],
      [{ title: "x", url: "https://ok.example", tags: 7 }, "tags", "must be a list or a comma-separated string"],
      [{ title: "x", url: "https://ok.example", tags: ["t".repeat(65)] }, "tags", null],
      [{ title: "x", url: "https://ok.example", tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, "tags", "must be at most 32 tags"],
    ] as const;
    for (const [bookmark, field, message] of bad) {
      const reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark } });
      assert.equal(reply.status, 422, JSON.stringify(bookmark).slice(0, 80));
      assert.ok(reply.json.errors[field], `errors.${field} for ${JSON.stringify(bookmark).slice(0, 80)}: ${reply.text}`);
      if (message) assert.ok(reply.json.errors[field].includes(message), `${reply.text} includes ${message}`);
    }
  });

  test("429 over the per-token rate limit, with Retry-After", async () => {
    const limited = await startTestServer({ NASTY_RATE_LIMIT: "3" });
    try {
      const token = await signUp(limited.url, "carol");
      const statuses: number[] = [];
      let last;
      for (let index = 0; index < 5; index += 1) {
        last = await request(limited.url, "GET", "/api/me", { token });
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.ok(Number(last!.headers.get("retry-after")) >= 1);
      assert.match(last!.json.error, /rate limit/);
      const anonymous = await request(limited.url, "GET", "/api/bookmarks");
      assert.equal(anonymous.status, 200, "public reads need no token and are not limited per token");
    } finally {
      await limited.close();
    }
  });

  test("503 when the log cannot commit, and nothing is lost or applied", async () => {
    const blocked = await startTestServer();
    const locker = new Database(path.join(blocked.config.dataDir, "events.sqlite3"));
    try {
      const token = await signUp(blocked.url, "dave");
      const before = blocked.store.bookmarksById.size;
      locker.exec("BEGIN IMMEDIATE");
      const reply = await request(blocked.url, "POST", "/api/bookmarks", { token, body: { bookmark: { title: "Blocked", url: "https://blocked.example" } } });
      assert.equal(reply.status, 503);
      assert.match(reply.json.error, /could not commit/);
      assert.equal(blocked.store.bookmarksById.size, before);
      locker.exec("ROLLBACK");
      const retry = await request(blocked.url, "POST", "/api/bookmarks", { token, body: { bookmark: { title: "Blocked", url: "https://blocked.example" } } });
      assert.equal(retry.status, 201, "the reservation was released: the retry is not a 409");
      assert.equal(blocked.store.bookmarksById.size, before + 1);
    } finally {
      locker.close();
      await blocked.close();
    }
  });

  test("a client that hangs up before its durable answer does not hurt the server", async () => {
    const locker = new Database(path.join(nasty.config.dataDir, "events.sqlite3"));
    const port = nasty.port;
    const body = JSON.stringify({ bookmark: { title: "Hung up", url: "https://hangup.example/" } });
    locker.exec("BEGIN IMMEDIATE");
    try {
      const socket = net.connect(port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(`POST /api/bookmarks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    for (let attempt = 0; attempt < 50 && !nasty.store.savedBy(nasty.store.userByName("alice")!, "https://hangup.example/"); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(nasty.store.savedBy(nasty.store.userByName("alice")!, "https://hangup.example/"), "the write committed although nobody heard the answer");
    assert.equal((await request(base, "GET", "/api/status")).status, 200, "the server keeps serving");
  });

  test("PATCH changes fields, DELETE removes, comments are listed newest first", async () => {
    const data = await createBookmark(base, bob, { title: "Before", url: "https://patch.example", tags: "a,b" });
    let reply = await request(base, "PATCH", `/api/bookmarks/${data.id}`, { token: bob, body: { bookmark: { title: "After", tags: ["c"], public: false } } });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.bookmark.data.title, "After");
    assert.deepEqual(reply.json.bookmark.data.tags, ["c"]);
    assert.equal((await request(base, "GET", "/api/bookmarks?tag=a")).json.data.some((b: any) => b.id === data.id), false);
    assert.equal((await request(base, "GET", `/api/bookmarks/${data.id}`)).status, 404, "now private");
    reply = await request(base, "PATCH", `/api/bookmarks/${data.id}`, { token: bob, body: { public: true, url: "not a url" } });
    assert.equal(reply.status, 422);
    for (const body of ["first", "second", "third"]) {
      reply = await request(base, "POST", `/api/bookmarks/${data.id}/comments`, { token: alice, body: { body } });
      assert.equal(reply.status, 404, "alice cannot comment on bob's private bookmark");
    }
    await request(base, "PATCH", `/api/bookmarks/${data.id}`, { token: bob, body: { public: true } });
    for (const body of ["first", "second", "third"]) {
      reply = await request(base, "POST", `/api/bookmarks/${data.id}/comments`, { token: alice, body: { body } });
      assert.equal(reply.status, 201);
    }
    reply = await request(base, "POST", `/api/bookmarks/${data.id}/comments`, { token: alice, body: { body: "x".repeat(1001) } });
    assert.equal(reply.status, 422);
    reply = await request(base, "POST", `/api/bookmarks/${data.id}/comments`, { token: alice, body: { body: "   " } });
    assert.equal(reply.status, 422);
    reply = await request(base, "GET", `/api/bookmarks/${data.id}/comments`);
    assert.deepEqual(reply.json.data.map((c: any) => c.body), ["third", "second", "first"]);
    reply = await request(base, "DELETE", `/api/bookmarks/${data.id}`, { token: bob });
    assert.equal(reply.status, 204);
    assert.equal((await request(base, "GET", `/api/bookmarks/${data.id}`)).status, 404);
    assert.equal((await request(base, "GET", `/api/bookmarks/${data.id}/comments`)).status, 404);
  });

  test("pagination by cursor, newest first, with several tags (AND)", async () => {
    const token = await signUp(base, "erin");
    const ids: number[] = [];
    for (let index = 0; index < 7; index += 1) {
      ids.push((await createBookmark(base, token, { title: `Page ${index}`, url: `https://pages.example/${index}`, tags: index % 2 === 0 ? "paging,even" : "paging" })).id);
    }
    const seen: number[] = [];
    let cursor = "";
    for (let pages = 0; pages < 10; pages += 1) {
      const reply = await request(base, "GET", `/api/bookmarks?tag=paging&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...reply.json.data.map((b: any) => b.id));
      if (!reply.json.next_cursor) break;
      cursor = reply.json.next_cursor;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const both = await request(base, "GET", "/api/bookmarks?tag=paging&tag=even");
    assert.deepEqual(both.json.data.map((b: any) => b.id), [ids[6], ids[4], ids[2], ids[0]]);
    const comma = await request(base, "GET", "/api/bookmarks?tag=paging,even&user=erin");
    assert.deepEqual(comma.json.data.map((b: any) => b.id), both.json.data.map((b: any) => b.id));
    assert.equal((await request(base, "GET", "/api/bookmarks?cursor=!!")).status, 400);
    assert.equal((await request(base, "GET", "/api/bookmarks?limit=0")).status, 400);
    assert.equal((await request(base, "GET", "/api/bookmarks?limit=abc")).status, 400);
    assert.equal((await request(base, "GET", "/api/bookmarks?user=nobody-here")).status, 404);
    const tags = await request(base, "GET", "/api/tags?q=pag");
    assert.deepEqual(tags.json.data, [{ tag: "paging", count: 7 }]);
    const random = await request(base, "GET", "/api/bookmarks/random?n=3");
    assert.equal(random.json.data.length, 3);
    assert.equal(new Set(random.json.data.map((b: any) => b.id)).size, 3);
    assert.equal((await request(base, "GET", "/api/bookmarks/random?n=1000")).status, 400);
    assert.equal((await request(base, "GET", "/api/scramble")).json.data.length > 0, true);
  });

  test("accounts: duplicate names ignoring case, bad passwords, log-in tokens, closed sign-up", async () => {
    let reply = await request(base, "POST", "/api/users", { body: { user: { username: "ALICE", password: "another pass" } } });
    assert.equal(reply.status, 409);
    reply = await request(base, "POST", "/api/users", { body: { user: { username: "x", password: "short" } } });
    assert.equal(reply.status, 422);
    assert.ok(reply.json.errors.username && reply.json.errors.password);
    reply = await request(base, "POST", "/api/users", { body: { username: "flat" } });
    assert.equal(reply.status, 400);
    reply = await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "wrong password" } });
    assert.equal(reply.status, 401);
    assert.equal(reply.json.error, "wrong username or password");
    reply = await request(base, "POST", "/api/tokens", { body: { username: "nobody", password: "wrong password" } });
    assert.equal(reply.status, 401);
    assert.equal(reply.json.error, "wrong username or password", "unknown users get the same answer");
    reply = await request(base, "POST", "/api/tokens", { body: { username: "Alice", password: "correct horse" } });
    assert.equal(reply.status, 201);
    const me = await request(base, "GET", "/api/me", { token: reply.json.token });
    assert.equal(me.json.user.username, "alice");
    const closed = await startTestServer({ NASTY_SIGNUP: "closed" });
    try {
      reply = await request(closed.url, "POST", "/api/users", { body: { user: { username: "zed", password: "long enough" } } });
      assert.equal(reply.status, 403);
      assert.match(reply.json.error, /sign-up is closed/);
    } finally {
      await closed.close();
    }
  });

  test("log-in failures are rate-limited per username, with Retry-After", async () => {
    await signUp(base, "frank");
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 12; attempt += 1) {
      statuses.push((await request(base, "POST", "/api/tokens", { body: { username: "frank", password: "not the password" } })).status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
    const blocked = await request(base, "POST", "/api/tokens", { body: { username: "frank", password: "correct horse" } });
    assert.equal(blocked.status, 429, "even the right password waits");
    assert.ok(Number(blocked.headers.get("retry-after")) >= 1);
    const other = await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "correct horse" } });
    assert.equal(other.status, 201, "other users are not affected");
  });

  test("cached answers never cross between two servers in one process", async () => {
    const [one, two] = [await startTestServer(), await startTestServer()];
    try {
      for (const [server, title] of [[one, "from one"], [two, "from two"]] as const) {
        const token = await signUp(server.url, "same");
        await createBookmark(server.url, token, { title, url: "https://same.example/" });
      }
      assert.equal(one.store.eventsApplied, two.store.eventsApplied, "same version number on both");
      assert.equal((await request(one.url, "GET", "/api/bookmarks")).json.data[0].title, "from one");
      assert.equal((await request(two.url, "GET", "/api/bookmarks")).json.data[0].title, "from two");
    } finally {
      await one.close();
      await two.close();
    }
  });

  test("status reports counts, log and uptime", async () => {
    const reply = await request(base, "GET", "/api/status");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.users, nasty.store.usersById.size);
    assert.equal(reply.json.bookmarks, nasty.store.bookmarksById.size);
    assert.equal(reply.json.log.lastSeq, nasty.log.lastSeq);
    assert.equal(typeof reply.json.uptime_s, "number");
    assert.equal(reply.json.server.uws_native, true);
  });
});
