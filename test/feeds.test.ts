// Feeds: RSS 2.0 and Atom of the firehose, tags, tag combinations and people, read back by a real feed parser.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseFeed } from "@rowanmanning/feed-parser";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { renderNotes } from "../src/render/markdown.ts";
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
      const { feed } = await fetchFeed(`/feeds/firehose.${type}`, type);
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

describe("feeds carry notes", () => {
  let nasty: Nasty;
  let base: string;
  let alice = "";
  let bob = "";
  const NOTES = "# Why\n\nRead *section 2* first, then [the docs](https://docs.example/a?b=1&c=2).\n\n- crème brûlée ☕\n- 日本語";
  const HOSTILE = "<script>alert(1)</script>\n\n]]> <![CDATA[ x ]]>\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) & <b>bold</b> &amp; &lt;i&gt;";
  const SECRET = "zanzibarite-secret-note";
  const FEEDS = ["/feeds/firehose", "/feeds/t/noted", "/feeds/u/alice", "/feeds/u/bob"].flatMap((path) => [`${path}.rss`, `${path}.atom`]);

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    await createBookmark(base, alice, { title: "With notes", url: "https://with-notes.example/", tags: ["noted"], description: "Short & plain", notes: NOTES });
    await createBookmark(base, alice, { title: "Notes only", url: "https://notes-only.example/", tags: ["noted"], notes: "just *this*" });
    await createBookmark(base, alice, { title: "No notes", url: "https://no-notes.example/", tags: ["noted"], description: "described" });
    await createBookmark(base, bob, { title: "Hostile", url: "https://hostile.example/", tags: ["noted"], notes: HOSTILE });
    await createBookmark(base, bob, { title: "Bob's private", url: "https://private.example/", tags: ["noted"], notes: `${SECRET} one`, public: false });
  });
  after(() => nasty.close());

  /**
   * Each entry's content exactly as XML gives it (entities decoded once), by title. Read with
   * fast-xml-parser itself: @rowanmanning/feed-parser decodes entities a second time after its XML
   * parser did, so its `content` would turn the `&lt;script&gt;` text of the HTML into a tag.
   */
  async function contents(path: string): Promise<Map<string, string | undefined>> {
    const reply = await request(base, "GET", path);
    assert.equal(reply.status, 200, `${path}: ${reply.text}`);
    assert.equal(XMLValidator.validate(reply.text), true, `${path} is well-formed XML`);
    const type = path.endsWith(".rss") ? "rss" : "atom";
    assert.equal(parseFeed(reply.text).meta.type, type, `${path} parses as a feed`);
    const xml = new XMLParser({ ignoreAttributes: true, parseTagValue: false, trimValues: false, isArray: (name) => name === "item" || name === "entry" }).parse(reply.text);
    const entries: Record<string, unknown>[] = type === "rss" ? xml.rss.channel.item ?? [] : xml.feed.entry ?? [];
    const field = type === "rss" ? "content:encoded" : "content";
    return new Map(entries.map((entry) => [String(entry.title), entry[field] === undefined ? undefined : String(entry[field])]));
  }

  test("an entry's notes are its content, rendered by the pages' Markdown renderer after its description", async () => {
    for (const type of ["rss", "atom"] as const) {
      const byTitle = await contents(`/feeds/t/noted.${type}`);
      assert.equal(byTitle.get("With notes"), `<p>Short &amp; plain</p>\n${renderNotes(NOTES)}`, type);
      assert.match(byTitle.get("With notes")!, /<h4>Why<\/h4>/, "the Markdown was rendered");
      assert.match(byTitle.get("With notes")!, /<a href="https:\/\/docs\.example\/a\?b=1&amp;c=2" rel="nofollow noopener ugc">the docs<\/a>/);
      assert.equal(byTitle.get("Notes only"), "<p>just <em>this</em></p>", "no description: the notes alone");
      assert.equal(byTitle.has("No notes"), true);
      assert.equal(byTitle.get("No notes"), undefined, "no notes: no content element, the description stays the summary");
      const feed = parseFeed((await request(base, "GET", `/feeds/t/noted.${type}`)).text);
      assert.equal(feed.items.find((item) => item.title === "With notes")?.description, "Short & plain", "the description is still the plain-text description");
    }
  });

  test("hostile notes give a valid feed with nothing unescaped: no script, no raw HTML, no CDATA end", async () => {
    for (const type of ["rss", "atom"] as const) {
      const path = `/feeds/u/bob.${type}`;
      const raw = (await request(base, "GET", path)).text;
      for (const markup of ["<script", "<img", "<b>", "]]>", "<![CDATA["]) assert.equal(raw.includes(markup), false, `${path} holds ${markup} unescaped`);
      const content = (await contents(path)).get("Hostile");
      assert.equal(content, renderNotes(HOSTILE), type);
      for (const markup of ["<script", "<img", "<b>", "]]>", "href=\"javascript"]) assert.equal(content!.includes(markup), false, `${type} content holds ${markup} as markup`);
      assert.match(content!, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/, "the script is text a reader shows");
      assert.match(content!, /\]\]&gt;/, "the CDATA end is text a reader shows");
    }
  });

  test("private stays private: a private bookmark's notes are in no feed, and leave them when it turns private", async () => {
    const turning = await createBookmark(base, bob, { title: "Soon private", url: "https://soon-private.example/", tags: ["noted"], notes: `${SECRET} two` });
    const seen = async () => {
      const found: string[] = [];
      for (const path of FEEDS) {
        const reply = await request(base, "GET", path);
        assert.equal(reply.status, 200, path);
        if (reply.text.includes(SECRET)) found.push(path);
      }
      return found;
    };
    assert.deepEqual(await seen(), FEEDS.filter((path) => !path.includes("alice")), "positive control: a public bookmark's notes are in every feed that shows it");
    const patched = await request(base, "PATCH", `/api/bookmarks/${turning.id}`, { token: bob, body: { bookmark: { public: false } } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(await seen(), [], "neither the private bookmark's notes nor the one made private appear");
  });

  test("changing notes changes the feed", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Edited notes", url: "https://edited-notes.example/", tags: ["edited"], notes: "first *draft*" });
    const first = await request(base, "GET", "/feeds/t/edited.atom");
    assert.equal((await contents("/feeds/t/edited.atom")).get("Edited notes"), "<p>first <em>draft</em></p>");
    const patched = await request(base, "PATCH", `/api/bookmarks/${bookmark.id}`, { token: alice, body: { notes: "second **take**" } });
    assert.equal(patched.status, 200, patched.text);
    const changed = await request(base, "GET", "/feeds/t/edited.atom", { headers: { "if-none-match": first.headers.get("etag")! } });
    assert.equal(changed.status, 200, "the old ETag no longer matches");
    assert.equal((await contents("/feeds/t/edited.atom")).get("Edited notes"), "<p>second <strong>take</strong></p>");
  });
});
