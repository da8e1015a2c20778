// Feeds: RSS 2.0 and Atom of the firehose, tags, tag combinations and people, read back by a real feed parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFeed } from "@rowanmanning/feed-parser";
import { XMLValidator } from "fast-xml-parser";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

describe("feeds", () => {
  let nasty: Nasty;
  let base: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    const alice = await signUp(base, "alice");
    const bob = await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Rust and the web", url: "https://rust-web.example/", tags: ["rust", "web"], description: "Wasm & <friends>", inserted_at: "2020-02-03T04:05:06Z" });
    await createBookmark(base, alice, { title: "Only rust", url: "https://rust.example/", tags: ["rust"] });
    await createBookmark(base, bob, { title: "Bob's secret rust", url: "https://secret.example/", tags: ["rust", "web"], public: false });
    await createBookmark(base, bob, { title: "<script>alert(1)</script> & odd", url: "https://odd.example/?a=1&b=<2>", tags: ["odd"] });
  });
  after(() => nasty.close());

  async function fetchFeed(path: string, type: "rss" | "atom") {
    const reply = await request(base, "GET", path);
    assert.equal(reply.status, 200, `${path}: ${reply.text}`);
    assert.equal(reply.headers.get("content-type"), type === "rss" ? "application/rss+xml; charset=utf-8" : "application/atom+xml; charset=utf-8");
    assert.equal(XMLValidator.validate(reply.text), true, `${path} is well-formed XML`);
    const feed = parseFeed(reply.text);
    assert.equal(feed.meta.type, type);
    return { feed, reply };
  }

  test("the firehose, in RSS 2.0 and Atom, newest first, private bookmarks left out", async () => {
    for (const type of ["rss", "atom"] as const) {
      const { feed, reply } = await fetchFeed(`/feeds/firehose.${type}`, type);
      // RSS's description is HTML that readers render: the text is escaped as HTML, then as XML. Atom's summary is type="text".
      if (type === "rss") assert.match(reply.text, /<description>Wasm &amp;amp; &amp;lt;friends&amp;gt;<\/description>/);
      else assert.match(reply.text, /<summary type="text">Wasm &amp; &lt;friends&gt;<\/summary>/);
      assert.equal(feed.title, "nasty: the firehose");
      assert.equal(feed.url, `${base}/`);
      assert.equal(feed.self, `${base}/feeds/firehose.${type}`);
      assert.deepEqual(feed.items.map((item) => item.title), ["<script>alert(1)</script> & odd", "Only rust", "Rust and the web"]);
      const item = feed.items[2]!;
      assert.equal(item.url, "https://rust-web.example/");
      assert.equal(item.description, "Wasm & <friends>");
      assert.equal(item.published?.toISOString(), "2020-02-03T04:05:06.000Z");
      assert.deepEqual(item.categories.map((category) => category.term), ["rust", "web"]);
      assert.deepEqual(item.authors.map((author) => author.name), ["alice"]);
      assert.match(item.id ?? "", new RegExp(`^${base}/b/\\d+$`));
      assert.equal(feed.items[0]!.url, "https://odd.example/?a=1&b=%3C2%3E");
    }
  });

  test("a tag, a tag combination and a person", async () => {
    const rust = await fetchFeed("/feeds/t/rust.atom", "atom");
    assert.deepEqual(rust.feed.items.map((item) => item.title), ["Only rust", "Rust and the web"]);
    assert.equal(rust.feed.url, `${base}/t/rust`);
    const both = await fetchFeed("/feeds/t/rust+web.rss", "rss");
    assert.deepEqual(both.feed.items.map((item) => item.title), ["Rust and the web"]);
    assert.equal(both.feed.title, "nasty: #rust + #web");
    const bob = await fetchFeed("/feeds/u/bob.rss", "rss");
    assert.deepEqual(bob.feed.items.map((item) => item.title), ["<script>alert(1)</script> & odd"], "bob's private bookmark stays out of his feed");
    const empty = await fetchFeed("/feeds/t/nothing-here.atom", "atom");
    assert.deepEqual(empty.feed.items, []);
    const limited = await fetchFeed("/feeds/firehose.rss?limit=1", "rss");
    assert.equal(limited.feed.items.length, 1);
  });

  test("unchanged feeds answer 304 to If-None-Match, and change when a bookmark is saved", async () => {
    const first = await request(base, "GET", "/feeds/t/rust.rss");
    const etag = first.headers.get("etag")!;
    assert.match(etag, /^W\/"rss-/);
    const again = await request(base, "GET", "/feeds/t/rust.rss", { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    const carol = await signUp(base, "carol");
    await createBookmark(base, carol, { title: "More rust", url: "https://more-rust.example/", tags: ["rust"] });
    const changed = await request(base, "GET", "/feeds/t/rust.rss", { headers: { "if-none-match": etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get("etag"), etag);
  });

  test("bad feed addresses are 404 or 400 with a message", async () => {
    assert.equal((await request(base, "GET", "/feeds/firehose.json")).status, 404);
    assert.equal((await request(base, "GET", "/feeds/everything.rss")).status, 404);
    const nobody = await request(base, "GET", "/feeds/u/nobody.atom");
    assert.equal(nobody.status, 404);
    assert.match(nobody.json.error, /no user named 'nobody'/);
    assert.equal((await request(base, "GET", `/feeds/t/${Array.from({ length: 9 }, (_, index) => `t${index}`).join("+")}.rss`)).status, 400);
    assert.equal((await request(base, "GET", "/feeds/t/%E0%A4%A.rss")).status, 400);
    assert.equal((await request(base, "GET", "/feeds/firehose.rss?limit=1000")).status, 400);
  });

  test("pages link their feeds with <link rel=alternate>", async () => {
    const links = async (path: string) => {
      const reply = await request(base, "GET", path);
      assert.equal(reply.status, 200, path);
      return [...reply.text.matchAll(/<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">/g)].map((match) => `${match[1]} ${match[2]}`);
    };
    assert.deepEqual(await links("/"), ["application/atom+xml /feeds/firehose.atom", "application/rss+xml /feeds/firehose.rss"]);
    assert.deepEqual(await links("/t/web+rust"), ["application/atom+xml /feeds/t/rust+web.atom", "application/rss+xml /feeds/t/rust+web.rss"]);
    assert.deepEqual(await links("/t/rust"), ["application/atom+xml /feeds/t/rust.atom", "application/rss+xml /feeds/t/rust.rss"]);
    assert.deepEqual(await links("/u/alice"), ["application/atom+xml /feeds/u/alice.atom", "application/rss+xml /feeds/u/alice.rss"]);
    for (const [path, type] of [["/feeds/t/rust+web.atom", "atom"], ["/feeds/u/alice.rss", "rss"]] as const) await fetchFeed(path, type);
  });
});
