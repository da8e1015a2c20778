// Duplicates by meaning: every path that saves or looks up a URL finds the bookmark saved under another form of it (urlKey), and answers with the URL as it was given.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";
import { appendRawEvents } from "./support/raw-log.ts";
import { variantCases } from "./support/url-variants.ts";
import type { Nasty } from "../src/main.ts";

describe("a URL saved once is found under each of its forms, on every path", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;
  const cases = variantCases();
  /** The bookmark alice saved of each case's plain form. */
  const saved: { id: number; url: string }[] = [];

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    for (const [index, { saved: url }] of cases.entries()) saved.push(await createBookmark(base, alice, { title: `Case ${index}`, url, tags: [`case${index}`] }));
  });
  after(() => nasty.close());

  const aliceCount = async (url: string) => (await request(base, "GET", `/api/bookmarks?user=alice&url=${encodeURIComponent(url)}`, { token: alice })).json.data.length as number;

  test("the URL is answered as given, trimmed", () => {
    for (const [index, { saved: url }] of cases.entries()) assert.equal(saved[index]!.url, url.trim(), url);
  });

  test("the JSON API: POST answers 409 naming the saved bookmark's id and URL; PATCH to another's form too", async () => {
    for (const [index, { variant }] of cases.entries()) {
      const reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "Again", url: variant } } });
      assert.equal(reply.status, 409, `${variant}: ${reply.text}`);
      assert.equal(reply.json.id, saved[index]!.id, variant);
      assert.equal(reply.json.url, saved[index]!.url, variant);
      assert.equal(reply.json.error, `you already saved this URL as bookmark ${saved[index]!.id} (${saved[index]!.url})`);
    }
    const other = await createBookmark(base, alice, { title: "Other", url: "https://other-page.example/" });
    for (const [index, { variant }] of cases.entries()) {
      const moved = await request(base, "PATCH", `/api/bookmarks/${other.id}`, { token: alice, body: { bookmark: { url: variant } } });
      assert.equal(moved.status, 409, variant);
      assert.equal(moved.json.id, saved[index]!.id);
    }
    const own = await createBookmark(base, alice, { title: "Own", url: "https://own.example/" });
    const ownForm = await request(base, "PATCH", `/api/bookmarks/${own.id}`, { token: alice, body: { bookmark: { url: "https://WWW.own.example/?utm_source=x" } } });
    assert.equal(ownForm.status, 200, "a bookmark changed to another form of its own URL is no duplicate of itself");
    assert.equal(ownForm.json.bookmark.data.url, "https://WWW.own.example/?utm_source=x");
  });

  test("the extension's check (GET /api/bookmarks?url=&user=) and linkding's check/ find it", async () => {
    for (const [index, { variant }] of cases.entries()) {
      const query = new URLSearchParams({ url: variant, user: "alice", limit: "1" });
      const found = await request(base, "GET", `/api/bookmarks?${query}`, { token: alice });
      assert.deepEqual(found.json.data.map((item: { id: number }) => item.id), [saved[index]!.id], variant);
      const checked = await request(base, "GET", `/api/bookmarks/check/?url=${encodeURIComponent(variant)}`, { headers: { authorization: `Token ${alice}` } });
      assert.equal(checked.json.bookmark?.id, saved[index]!.id, variant);
    }
  });

  test("linkding's POST updates the saved bookmark instead of adding one", async () => {
    for (const [index, { variant }] of cases.entries()) {
      const reply = await request(base, "POST", "/api/bookmarks/", { body: { url: variant, title: `Case ${index}`, tag_names: [`case${index}`, "linkding"] }, headers: { authorization: `Token ${alice}` } });
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.json.id, saved[index]!.id, variant);
      assert.equal(await aliceCount(variant), 1);
    }
  });

  test("Pinboard: posts/add with replace=no says it exists, with replace updates it; posts/get and posts/delete find it", async () => {
    const pinboard = (method: string, params: Record<string, string>) => request(base, "GET", `/v1/${method}?${new URLSearchParams({ auth_token: `alice:${alice}`, format: "json", ...params })}`);
    for (const [index, { variant }] of cases.entries()) {
      assert.deepEqual((await pinboard("posts/add", { url: variant, description: "Again", replace: "no" })).json, { result_code: "item already exists" }, variant);
      assert.deepEqual((await pinboard("posts/add", { url: variant, description: `Case ${index}`, tags: `case${index} pinboard` })).json, { result_code: "done" });
      assert.equal(await aliceCount(variant), 1, variant);
      const got = await pinboard("posts/get", { url: variant });
      assert.deepEqual(got.json.posts.map((post: { href: string }) => post.href), [saved[index]!.url], variant);
    }
    const doomed = await createBookmark(base, alice, { title: "Doomed", url: "https://doomed.example/page" });
    assert.deepEqual((await pinboard("posts/delete", { url: "https://WWW.doomed.example/page?utm_source=x#y" })).json, { result_code: "done" });
    assert.equal((await request(base, "GET", `/api/bookmarks/${doomed.id}`, { token: alice })).status, 404);
  });

  test("the page form answers 409 naming the saved bookmark", async () => {
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("alice")).status, 303);
    for (const [index, { variant }] of cases.entries()) {
      await browser.get("/bookmarks");
      const reply = await browser.post("/bookmarks", { url: variant, title: "Again", description: "", tags: "", public: "on" });
      assert.equal(reply.status, 409, variant);
      assert.match(reply.text, new RegExp(`you already saved this URL as bookmark ${saved[index]!.id}`));
    }
  });

  test("an import counts every form as a duplicate", async () => {
    const rows = cases.map(({ variant }) => `<DT><A HREF="${variant.replace(/&/g, "&amp;")}">Imported again</A>\n`).join("");
    const reply = await request(base, "POST", "/api/import", { token: alice, raw: `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n${rows}</DL><p>\n`, headers: { "content-type": "text/html" } });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual({ imported: reply.json.imported, duplicates: reply.json.duplicates, skipped: reply.json.skipped }, { imported: 0, duplicates: cases.length, skipped: 0 });
  });

  test("another person's save of another form counts as \"also saved by\" on the card and in Pinboard's suggestions", async () => {
    for (const [index, { variant }] of cases.entries()) {
      const bobs = await request(base, "POST", "/api/bookmarks", { token: bob, body: { bookmark: { title: "Bob's", url: variant, tags: ["bobs-tag"] } } });
      assert.equal(bobs.status, 201, `another person may save it: ${bobs.text}`);
      assert.equal(bobs.json.bookmark.data.url, variant.trim());
      const page = await request(base, "GET", `/b/${saved[index]!.id}`, { token: alice });
      assert.match(page.text, /saved by 1 other\b/, variant);
      assert.match(page.text, new RegExp(`href="/b/${bobs.json.bookmark.data.id}"`), "the bookmark page lists bob's");
      const suggested = await request(base, "GET", `/v1/posts/suggest?${new URLSearchParams({ auth_token: `alice:${alice}`, format: "json", url: saved[index]!.url })}`);
      assert.deepEqual(suggested.json[0], { popular: ["bobs-tag"] }, variant);
      const everyone = await request(base, "GET", `/api/bookmarks?url=${encodeURIComponent(saved[index]!.url)}`, { token: alice });
      assert.deepEqual(everyone.json.data.map((item: { user: string }) => item.user), ["bob", "alice"]);
    }
  });
});

test("events written before keys existed (the parser's form, https://example.com/) match what people type now", async () => {
  const dataDir = tempDir();
  const first = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const alice = await signUp(first.url, "alice");
  const userId = first.store.userByName("alice")!.id;
  await first.close();
  const id = 700_001 * 1024 + 1;
  appendRawEvents(dataDir, [["bookmark.created", { id, user_id: userId, url: "https://www.old.example/path?b=2&a=1", title: "From an old log", description: "", public: true, tags: [] }]]);
  const nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    const reply = await request(nasty.url, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "Typed now", url: "https://old.example/path?a=1&b=2&utm_source=feed#top" } } });
    assert.equal(reply.status, 409, reply.text);
    assert.deepEqual([reply.json.id, reply.json.url], [id, "https://www.old.example/path?b=2&a=1"]);
    const found = await request(nasty.url, "GET", "/api/bookmarks?url=https%3A%2F%2FOLD.example%2Fpath%3Fa%3D1%26b%3D2&user=alice");
    assert.deepEqual(found.json.data.map((item: { id: number }) => item.id), [id]);
    assert.equal((await createBookmark(nasty.url, alice, { title: "Different", url: "https://old.example/path?a=1" })).url, "https://old.example/path?a=1", "a URL that differs in meaning is saved (positive control)");
  } finally {
    await nasty.close();
  }
});
