// Read later and own dates: the unread flag and inserted_at through the JSON API, the store and replay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { snapshot } from "../src/store/check.ts";

test("unread and inserted_at: set, changed, filtered, kept across a restart", async () => {
  const overrides = { NASTY_DATA_DIR: tempDir() };
  const first = await startTestServer(overrides);
  const alice = await signUp(first.url, "alice");
  const plain = await createBookmark(first.url, alice, { title: "Plain", url: "https://plain.example" });
  assert.equal(plain.unread, false);
  const later = await createBookmark(first.url, alice, { title: "Later", url: "https://later.example", unread: true, inserted_at: "2011-03-04T05:06:07Z" });
  assert.equal(later.unread, true);
  assert.equal(later.inserted_at, "2011-03-04T05:06:07.000Z");
  assert.notEqual(later.updated_at, later.inserted_at, "updated_at is when it was saved here");

  const listed = await request(first.url, "GET", "/api/bookmarks?user=alice");
  assert.deepEqual(listed.json.data.map((item: any) => item.title), ["Later", "Plain"], "an old date does not move a bookmark down the newest-first list");
  const unread = await request(first.url, "GET", "/api/bookmarks?user=alice&unread=true", { token: alice });
  assert.deepEqual(unread.json.data.map((item: any) => item.title), ["Later"]);
  const read = await request(first.url, "GET", "/api/bookmarks?unread=no", { token: alice });
  assert.deepEqual(read.json.data.map((item: any) => item.title), ["Plain"], "without user=, unread= filters the viewer's own");
  const searched = await request(first.url, "GET", "/api/bookmarks?q=later&unread=true", { token: alice });
  assert.deepEqual(searched.json.data.map((item: any) => item.title), ["Later"]);

  const patched = await request(first.url, "PATCH", `/api/bookmarks/${later.id}`, { token: alice, body: { bookmark: { unread: false } } });
  assert.equal(patched.status, 200);
  assert.equal(patched.json.bookmark.data.unread, false);
  await request(first.url, "PATCH", `/api/bookmarks/${plain.id}`, { token: alice, body: { bookmark: { unread: true } } });

  const bad = await request(first.url, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "x", url: "https://x.example", unread: "yes", inserted_at: "last tuesday" } } });
  assert.equal(bad.status, 422);
  assert.deepEqual(Object.keys(bad.json.errors).sort(), ["inserted_at", "unread"]);
  const future = await request(first.url, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "x", url: "https://x.example", inserted_at: Date.now() + 7 * 86_400_000 } } });
  assert.equal(future.status, 422);
  assert.match(future.json.errors.inserted_at[0], /between 1990 and tomorrow/);
  const badFilter = await request(first.url, "GET", "/api/bookmarks?unread=maybe");
  assert.equal(badFilter.status, 400);

  const before = snapshot(first.store);
  const answers = (await request(first.url, "GET", "/api/bookmarks?user=alice", { token: alice })).json;
  await first.close();
  const second = await startTestServer(overrides);
  try {
    assert.deepEqual(snapshot(second.store), before);
    assert.deepEqual((await request(second.url, "GET", "/api/bookmarks?user=alice", { token: alice })).json, answers);
    assert.deepEqual(answers.data.map((item: any) => [item.title, item.unread, item.inserted_at === "2011-03-04T05:06:07.000Z"]), [["Later", false, true], ["Plain", true, false]]);
  } finally {
    await second.close();
  }
});
