// Anonymous answers kept as bytes: exact after every change, never a logged-in viewer's, byte for byte what an uncached server answers.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { AnswerCache } from "../src/http/answer-cache.ts";
import { startNasty, type Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer, tempDir, testConfig } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";

describe("the answer cache itself", () => {
  const html = (body: string) => ({ status: 200, body, contentType: "text/html; charset=utf-8", headers: { "Cache-Control": "no-store" } });

  test("keeps the encoded bytes and the headers as given, until the version moves", () => {
    let version = 1;
    const cache = new AnswerCache(1 << 20, () => version);
    const kept = cache.set("GET /?", html("café ✓"))!;
    assert.ok(Buffer.isBuffer(kept.body));
    assert.equal(kept.body.toString("utf8"), "café ✓");
    assert.equal(kept.body.byteLength, Buffer.byteLength("café ✓"));
    assert.deepEqual(kept.headers, { "Cache-Control": "no-store" });
    assert.equal(cache.get("GET /?"), kept);
    const json = cache.set("GET /api?", { status: 200, json: { data: ["é"] } })!;
    assert.equal(json.body.toString("utf8"), '{"data":["é"]}');
    version += 1;
    assert.equal(cache.get("GET /?"), undefined, "any event forgets every answer");
    assert.equal(cache.stats().entries, 0);
    assert.equal(cache.stats().bytes, 0);
  });

  test("a lone surrogate is kept as U+FFFD, as an uncached answer is written", () => {
    const cache = new AnswerCache(1 << 20, () => 0);
    assert.equal(cache.set("k", html("a\uD800b"))!.body.toString("utf8"), "a\uFFFDb");
  });

  test("keeps only 200s, refuses an answer that sets a cookie, and nothing when off", () => {
    const cache = new AnswerCache(1 << 20, () => 0);
    assert.equal(cache.set("k", { status: 404, json: { error: "no" } }), null);
    assert.equal(cache.get("k"), undefined);
    assert.throws(() => cache.set("k", { ...html("x"), headers: { "Set-Cookie": "a=b" } }), /sets a cookie/);
    const off = new AnswerCache(0, () => 0);
    assert.equal(off.set("k", html("x")), null);
    assert.equal(off.get("k"), undefined);
  });

  test("is bounded by bytes, least recently used out first", () => {
    const page = "x".repeat(1000);
    const cache = new AnswerCache(4000, () => 0);
    for (const key of ["a", "b", "c"]) assert.ok(cache.set(key, html(page)));
    assert.equal(cache.stats().entries, 3);
    assert.ok(cache.get("a"), "a is used again, so b is now the oldest");
    assert.ok(cache.set("d", html(page)));
    assert.ok(cache.stats().bytes <= 4000, `within the bound: ${cache.stats().bytes}`);
    assert.equal(cache.get("b"), undefined, "the least recently used went first");
    assert.ok(cache.get("a") && cache.get("c") && cache.get("d"));
    assert.equal(cache.set("huge", html("y".repeat(5000))), null, "an answer bigger than the whole cache is not kept");
    assert.ok(cache.get("a"), "and does not push the others out");
  });
});

/** A GET with its own Host header (fetch always sends the URL's). */
function getWithHost(base: string, path: string, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    http.get({ host: url.hostname, port: url.port, path, headers: { host } }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () => resolve(text));
    }).on("error", reject);
  });
}

/** Hits and misses of the running server's answer cache (GET /api/status). */
async function cacheStats(base: string): Promise<{ entries: number; bytes: number; bytes_max: number; hits: number; misses: number }> {
  return (await request(base, "GET", "/api/status")).json.answer_cache;
}

describe("anonymous answers from the cache", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    await createBookmark(base, alice, { title: "Always there", url: "https://there.example/", tags: ["cachetag"] });
  });
  after(() => nasty.close());

  const anonymousPaths = (id: number) => ["/", "/t/cachetag", "/u/alice", `/b/${id}`, "/tags", "/api/bookmarks", "/api/bookmarks?tag=cachetag", `/api/bookmarks/${id}`, "/api/tags", "/feeds/firehose.rss", "/feeds/t/cachetag.atom", "/feeds/u/alice.rss"];

  /** Reads every anonymous path twice (the second from the cache) and says which contain `marker`. */
  async function readAll(id: number, marker: string): Promise<Record<string, boolean>> {
    const seen: Record<string, boolean> = {};
    for (const path of anonymousPaths(id)) {
      const first = await request(base, "GET", path);
      const second = await request(base, "GET", path);
      assert.equal(second.text, first.text, `${path}: the same answer until something happens`);
      seen[path] = first.status === 200 && first.text.includes(marker);
    }
    return seen;
  }

  test("create → read → privatize → read → publish → edit → delete, many rounds: every answer follows at once", { timeout: 120_000 }, async () => {
    for (let round = 0; round < 12; round += 1) {
      const marker = `marker${round}x${Date.now()}`;
      const created = await createBookmark(base, alice, { title: `Cached ${marker}`, url: `https://cache.example/${marker}`, tags: ["cachetag"] });
      const hitsBefore = (await cacheStats(base)).hits;
      const shown = await readAll(created.id, marker);
      assert.ok((await cacheStats(base)).hits >= hitsBefore + anonymousPaths(created.id).length, "the second reads came from the cache");
      for (const [path, seen] of Object.entries(shown)) if (path !== "/tags" && path !== "/api/tags") assert.ok(seen, `round ${round}: ${path} shows the new bookmark`);

      await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { public: false } } });
      for (const [path, seen] of Object.entries(await readAll(created.id, marker))) assert.equal(seen, false, `round ${round}: ${path} no longer shows the bookmark made private`);

      await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { public: true, title: `Renamed ${marker}` } } });
      const renamed = await request(base, "GET", "/");
      assert.ok(renamed.text.includes(`Renamed ${marker}`) && !renamed.text.includes(`Cached ${marker}`), `round ${round}: the edit shows at once`);

      await request(base, "DELETE", `/api/bookmarks/${created.id}`, { token: alice });
      for (const [path, seen] of Object.entries(await readAll(created.id, marker))) assert.equal(seen, false, `round ${round}: ${path} no longer shows the deleted bookmark`);
    }
  });

  test("a logged-in viewer's answers never come from the cache, nor go into it", async () => {
    const own = await createBookmark(base, alice, { title: "Alice's secret", url: "https://secret-cache.example/", tags: ["cachetag"], public: false });
    const anonymous = await request(base, "GET", "/api/bookmarks?tag=cachetag");
    assert.ok(!anonymous.text.includes("Alice's secret"));
    const stats = await cacheStats(base);
    const mine = await request(base, "GET", "/api/bookmarks?tag=cachetag", { token: alice });
    assert.ok(mine.text.includes("Alice's secret"), "the owner gets her own answer, private bookmark included");
    const page = new PageClient(base);
    await page.logIn("alice", "correct horse");
    const afterLogIn = await cacheStats(base);
    const mineAsPage = await page.get("/t/cachetag");
    assert.match(mineAsPage.text, /data-viewer="alice"/);
    assert.match(mineAsPage.text, /name="_csrf" value="[^"]+"/, "her page carries her own form token");
    const after = await cacheStats(base);
    assert.equal(after.hits, afterLogIn.hits, "no hit for a logged-in page");
    assert.equal(after.entries, afterLogIn.entries, "nothing kept for a logged-in page");
    assert.ok(afterLogIn.hits >= stats.hits);
    const again = await request(base, "GET", "/api/bookmarks?tag=cachetag");
    assert.equal(again.text, anonymous.text, "visitors still get the visitors' answer");
    const visitorPage = await request(base, "GET", "/t/cachetag");
    assert.doesNotMatch(visitorPage.text, /data-viewer="alice"|_csrf|Alice&#39;s secret/, "no trace of the logged-in viewer in the visitors' page");
    await request(base, "DELETE", `/api/bookmarks/${own.id}`, { token: alice });
  });

  test("a visitor's own cookies are never in a kept page", async () => {
    await createBookmark(base, alice, { title: "Cookie test", url: "https://cookie-cache.example/", tags: ["cachetag"] });
    const withCookie = await request(base, "GET", "/t/cachetag", { headers: { cookie: "nasty_csrf=visitor-seed-one; nasty_session=not-a-session" } });
    const plain = await request(base, "GET", "/t/cachetag");
    assert.equal(withCookie.status, 200);
    assert.equal(plain.text, withCookie.text);
    assert.doesNotMatch(plain.text, /visitor-seed-one|_csrf/);
  });

  test("an ETag kept with a feed answers If-None-Match with the same 304", async () => {
    const first = await request(base, "GET", "/feeds/firehose.atom");
    const etag = first.headers.get("etag")!;
    assert.ok(etag);
    const notModified = await request(base, "GET", "/feeds/firehose.atom", { headers: { "if-none-match": etag } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get("etag"), etag);
    assert.equal(notModified.headers.get("cache-control"), "public, max-age=60");
    assert.equal(notModified.text, "");
    const other = await request(base, "GET", "/feeds/firehose.atom", { headers: { "if-none-match": '"something-else"' } });
    assert.equal(other.status, 200);
    assert.equal(other.text, first.text);
    const elsewhere = await getWithHost(base, "/feeds/firehose.atom", "feeds.example:8080");
    assert.match(elsewhere, /http:\/\/feeds\.example:8080\/feeds\/firehose\.atom/, "links follow the Host the client used");
    assert.ok(!first.text.includes("feeds.example"), "and one Host's feed is not served for another");
  });
});

/** Status and headers (without Date) of each request, and the body. */
async function snapshot(base: string, requests: { method: string; path: string; headers?: Record<string, string> }[]): Promise<string[]> {
  const lines: string[] = [];
  for (const { method, path, headers } of requests) {
    const response = await fetch(base + path, { method, headers, redirect: "manual" });
    const shown = [...response.headers].filter(([name]) => name !== "date" && name !== "x-request-id").map(([name, value]) => `${name}: ${value}`).join("\n");
    lines.push(`${method} ${path} ${JSON.stringify(headers ?? {})} → ${response.status}\n${shown}\n\n${await response.text()}`);
  }
  return lines;
}

test("with the cache on or off, every answer is the same: status, headers, bytes, HEAD, 304", { timeout: 60_000 }, async () => {
  const dataDir = tempDir();
  const first = await startNasty(testConfig({ NASTY_DATA_DIR: dataDir }), { quiet: true });
  let id: number;
  try {
    const bob = await signUp(first.url, "bob");
    id = (await createBookmark(first.url, bob, { title: "Ünïcødé “quotes” ✓ 日本語", url: "https://unicode.example/é", tags: ["ünï", "web"], description: "naïve café" })).id;
    await createBookmark(first.url, bob, { title: "Private one", url: "https://private.example/", tags: ["web"], public: false });
  } finally {
    await first.close();
  }
  const paths = ["/", "/t/web", "/t/%C3%BCn%C3%AF", "/u/bob", `/b/${id}`, "/tags", "/api/bookmarks", "/api/bookmarks?limit=1", `/api/bookmarks/${id}`, "/api/tags", "/feeds/firehose.rss", "/feeds/t/web.atom", "/feeds/u/bob.atom", "/u/nobody", "/api/bookmarks?limit=0"];
  const plan: { method: string; path: string; headers?: Record<string, string> }[] = paths.flatMap((path) => [
    { method: "GET", path },
    { method: "GET", path },
    { method: "HEAD", path },
    { method: "GET", path, headers: { cookie: "nasty_csrf=abc" } },
  ]);
  const answers: Record<string, string[]> = {};
  for (const bytes of ["67108864", "0"]) {
    const nasty = await startNasty(testConfig({ NASTY_DATA_DIR: dataDir, NASTY_ANSWER_CACHE_BYTES: bytes }), { quiet: true });
    try {
      answers[bytes] = (await snapshot(nasty.url, plan)).map((line) => line.replaceAll(nasty.url, "BASE").replace(/^etag: W\/"(rss|atom)-\d+-\w+"$/m, "etag: (a feed's, hashed with the port)").replace(/^x-request-id: .*$/m, "x-request-id: (each request's own)"));
      const etag = (await fetch(`${nasty.url}/feeds/firehose.rss`)).headers.get("etag")!;
      const notModified = await snapshot(nasty.url, [{ method: "GET", path: "/feeds/firehose.rss", headers: { "if-none-match": etag } }]);
      answers[bytes]!.push(...notModified.map((line) => line.replace(/^x-request-id: .*$/m, "x-request-id: (each request's own)").replaceAll(etag, "ETAG").replaceAll(JSON.stringify(etag).slice(1, -1), "ETAG")));
      const stats = (await request(nasty.url, "GET", "/api/status")).json.answer_cache;
      if (bytes === "0") assert.equal(stats.entries, 0, "off means nothing kept");
      else assert.ok(stats.hits > paths.length, `the cached server answered from the cache: ${JSON.stringify(stats)}`);
    } finally {
      await nasty.close();
    }
  }
  const cached = answers["67108864"]!;
  const uncached = answers["0"]!;
  assert.equal(cached.length, uncached.length);
  for (const [index, line] of cached.entries()) assert.equal(line, uncached[index], `answer ${index} differs with the cache on`);
  assert.ok(cached.some((line) => line.includes("日本語")), "the pages compared carry non-ASCII text");
  assert.ok(cached.some((line) => / → 304\n/.test(line)), "a 304 was compared");
});

test("a small NASTY_ANSWER_CACHE_BYTES keeps the cache within it", async () => {
  const nasty = await startTestServer({ NASTY_ANSWER_CACHE_BYTES: "8192" });
  try {
    const carol = await signUp(nasty.url, "carol");
    for (let index = 0; index < 5; index += 1) await createBookmark(nasty.url, carol, { title: `Bookmark ${index}`, url: `https://small.example/${index}`, tags: [`tag${index}`] });
    for (let index = 0; index < 5; index += 1) assert.equal((await request(nasty.url, "GET", `/t/tag${index}`)).status, 200);
    const stats = await cacheStats(nasty.url);
    assert.equal(stats.bytes_max, 8192);
    assert.ok(stats.entries > 0 && stats.bytes <= 8192, `bounded: ${JSON.stringify(stats)}`);
    assert.ok(stats.entries < 5, "older pages were let go");
  } finally {
    await nasty.close();
  }
});
