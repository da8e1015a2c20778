// Restart and crash: the store after replay answers exactly as before; SIGKILL loses no acknowledged write.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createBookmark, request, signUp, startServerProcess, startTestServer, tempDir } from "./support/server.ts";
import { snapshot } from "../src/store/check.ts";

const QUERIES = [
  "/api/bookmarks", "/api/bookmarks?limit=2", "/api/bookmarks?tag=rust", "/api/bookmarks?tag=rust&tag=web",
  "/api/bookmarks?user=alice", "/api/bookmarks?user=bob", "/api/tags", "/api/tags?user=alice",
  "/api/bookmarks?url=https%3A%2F%2Fshared.example%2F",
];

async function answers(base: string, tokens: Record<string, string | undefined>, ids: number[]): Promise<unknown[]> {
  const result: unknown[] = [];
  for (const [who, token] of Object.entries(tokens)) {
    for (const path of [...QUERIES, ...ids.flatMap((id) => [`/api/bookmarks/${id}`, `/api/bookmarks/${id}/comments`])]) {
      const reply = await request(base, "GET", path, { token });
      result.push([who, path, reply.status, reply.json]);
    }
  }
  return result;
}

test("store after replay answers every query exactly as before", async () => {
  const overrides = { NASTY_DATA_DIR: tempDir() };
  const first = await startTestServer(overrides);
  const alice = await signUp(first.url, "alice");
  const bob = await signUp(first.url, "bob");
  const ids: number[] = [];
  ids.push((await createBookmark(first.url, alice, { title: "Rust", url: "https://rust.example", tags: "rust,web" })).id);
  ids.push((await createBookmark(first.url, alice, { title: "Secret", url: "https://shared.example", tags: "rust", public: false })).id);
  ids.push((await createBookmark(first.url, bob, { title: "Shared", url: "https://shared.example", tags: "web", description: "both saved it" })).id);
  ids.push((await createBookmark(first.url, bob, { title: "Gone", url: "https://gone.example", tags: "rust" })).id);
  await request(first.url, "PATCH", `/api/bookmarks/${ids[0]}`, { token: alice, body: { bookmark: { title: "Rust (edited)", tags: ["rust", "web", "lang"] } } });
  await request(first.url, "DELETE", `/api/bookmarks/${ids[3]}`, { token: bob });
  await request(first.url, "POST", `/api/bookmarks/${ids[2]}/comments`, { token: alice, body: { body: "nice" } });
  await request(first.url, "POST", `/api/bookmarks/${ids[1]}/comments`, { token: alice, body: { body: "note to self" } });
  const tokens = { anonymous: undefined, alice, bob };
  const before = await answers(first.url, tokens, ids);
  const storeBefore = snapshot(first.store);
  await first.close();

  const second = await startTestServer(overrides);
  try {
    assert.equal(second.replayed.snapshotSeq + second.replayed.events, first.log.lastSeq);
    assert.deepEqual(snapshot(second.store), storeBefore);
    assert.deepEqual(await answers(second.url, tokens, ids), before);
    const next = await createBookmark(second.url, alice, { title: "After restart", url: "https://after.example" });
    assert.ok(!ids.includes(next.id), "ids keep counting after a restart");
  } finally {
    await second.close();
  }
});

test("SIGKILL under concurrent writes loses no acknowledged bookmark", async () => {
  const dataDir = tempDir();
  const { child, url } = await startServerProcess(dataDir);
  const token = await signUp(url, "writer");
  const acknowledged = new Map<number, string>();
  let sent = 0;
  let stop = false;
  const KILL_AFTER_ACKS = 400;
  const REQUESTS_MAX = 5000;
  const writer = async (lane: number) => {
    while (!stop && sent < REQUESTS_MAX) {
      const url_ = `https://crash.example/${lane}/${sent++}`;
      try {
        const reply = await request(url, "POST", "/api/bookmarks", { token, body: { bookmark: { title: `crash ${url_}`, url: url_ } } });
        if (reply.status === 201) acknowledged.set(reply.json.bookmark.data.id, reply.json.bookmark.data.url);
        if (acknowledged.size >= KILL_AFTER_ACKS && !stop) {
          stop = true;
          child.kill("SIGKILL");
        }
      } catch {
        stop = true; // the server is gone: this request was never acknowledged
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, lane) => writer(lane)));
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  assert.ok(acknowledged.size >= KILL_AFTER_ACKS, `writes were acknowledged before the kill (${acknowledged.size})`);

  const restarted = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    for (const [id, bookmarkUrl] of acknowledged) {
      const bookmark = restarted.store.bookmarksById.get(id as never);
      assert.ok(bookmark, `acknowledged bookmark ${id} survived the crash`);
      assert.equal(bookmark.url, bookmarkUrl);
    }
  } finally {
    await restarted.close();
  }
});
