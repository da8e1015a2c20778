// Search: the query syntax against a seeded store, privacy, paging, the live index against a rebuild, and GET /api/bookmarks?q=.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { BookmarkFields, BookmarkId, EventBody, LoggedEvent, UserId } from "../src/events.ts";
import { Store, type Bookmark, type User } from "../src/store/store.ts";
import { SearchIndex } from "../src/search/index.ts";
import { loadSearchSection } from "../src/search/snapshot-section.ts";
import { parseQuery } from "../src/search/query.ts";
import { urlHost, words } from "../src/search/tokens.ts";
import { mulberry32 } from "../src/simulator/random.ts";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

/** A store and an index fed the way main.ts feeds them: before, apply, after, per event. */
class Seeded {
  readonly store = new Store(1);
  readonly index: SearchIndex;
  /** More indexes fed the same events (one read back from a snapshot section). */
  readonly followers: SearchIndex[] = [];
  private seq = 0;

  constructor(options: { vocabularyTailWords?: number } = {}) {
    this.index = new SearchIndex(this.store, options);
    void this.index.build();
    assert.equal(this.index.buildProgress.ready, true, "a small store is indexed at once");
  }

  apply(body: EventBody): void {
    const event = { ...body, seq: ++this.seq, v: 1, ts: 1_700_000_000_000 + this.seq, node: 1 } as LoggedEvent;
    const indexes = [this.index, ...this.followers];
    const before = indexes.map((index) => index.beforeApply(event));
    this.store.apply(event);
    indexes.forEach((index, at) => index.afterApply(event, before[at]!));
  }

  user(username: string): User {
    const id = this.store.ids.next<UserId>();
    this.apply({ type: "user.registered", payload: { id, username, password_hash: "x" } });
    return this.store.usersById.get(id)!;
  }

  bookmark(user: User, fields: Partial<BookmarkFields> & { url: string }): Bookmark {
    const id = this.store.ids.next<BookmarkId>();
    this.apply({ type: "bookmark.created", payload: { id, user_id: user.id, title: "untitled", description: "", public: true, tags: [], ...fields } });
    return this.store.bookmarksById.get(id)!;
  }

  titles(query: string, viewer: User | null = null, limit = 100): string[] {
    return this.index.search({ query, viewer, limit }).items.map((bookmark) => bookmark.title);
  }
}

function seed(): { seeded: Seeded; alice: User; bob: User } {
  const seeded = new Seeded();
  const alice = seeded.user("alice");
  const bob = seeded.user("bob");
  seeded.bookmark(alice, { title: "The Rust Programming Language", url: "https://doc.rust-lang.org/book/", tags: ["rust", "books"], description: "The official book, known as the Book." });
  seeded.bookmark(bob, { title: "Programming Phoenix LiveView", url: "https://pragprog.com/titles/liveview/", tags: ["elixir", "phoenix"] });
  seeded.bookmark(alice, { title: "Crème brûlée recipe", url: "https://cooking.example.com/creme", tags: ["food"], description: "Burnt cream, a French dessert" });
  seeded.bookmark(bob, { title: "Secret rust plans", url: "https://bob.example.org/plans", tags: ["rust", "secret"], public: false });
  seeded.bookmark(alice, { title: "Rustacean station podcast", url: "https://rustacean-station.org/", tags: ["rust", "podcast"] });
  seeded.bookmark(bob, { title: "Node.js streams handbook", url: "https://github.com/substack/stream-handbook", tags: ["node", "machine-learning"], description: "How to write node programs with streams" });
  return { seeded, alice, bob };
}

describe("search query syntax (seeded store)", () => {
  const { seeded, alice, bob } = seed();

  test("words must all match, newest first; the last word matches as a prefix", () => {
    assert.deepEqual(seeded.titles("rust"), ["Rustacean station podcast", "The Rust Programming Language"]);
    assert.deepEqual(seeded.titles("rustac"), ["Rustacean station podcast"]);
    assert.deepEqual(seeded.titles("rustac "), [], "a finished word (trailing space) is exact");
    assert.deepEqual(seeded.titles("programming rust"), ["The Rust Programming Language"]);
    assert.deepEqual(seeded.titles("prog"), ["Node.js streams handbook", "Programming Phoenix LiveView", "The Rust Programming Language"], "prefix reaches the description (programs) and titles");
    assert.deepEqual(seeded.titles("programming pho"), ["Programming Phoenix LiveView"]);
    assert.deepEqual(seeded.titles("zebra"), []);
    assert.deepEqual(seeded.titles("#"), [], "nothing searchable (mid-typing) finds nothing, not everything");
    assert.deepEqual(seeded.titles("!!! "), []);
  });

  test("case and accents are folded", () => {
    assert.deepEqual(seeded.titles("CREME BRULEE"), ["Crème brûlée recipe"]);
    assert.deepEqual(seeded.titles("crème"), ["Crème brûlée recipe"]);
  });

  test("exact phrases match consecutive words within one field", () => {
    assert.deepEqual(seeded.titles('"rust programming"'), ["The Rust Programming Language"]);
    assert.deepEqual(seeded.titles('"programming rust"'), []);
    assert.deepEqual(seeded.titles('"burnt cream"'), ["Crème brûlée recipe"]);
    assert.deepEqual(seeded.titles("node.js"), ["Node.js streams handbook"], "a dotted word is a phrase of its parts");
    assert.deepEqual(seeded.titles('"machine learning"'), ["Node.js streams handbook"], "tags are searchable text too");
  });

  test("#tag and tag:, with exclusions -word and -#tag", () => {
    assert.deepEqual(seeded.titles("#rust"), ["Rustacean station podcast", "The Rust Programming Language"]);
    assert.deepEqual(seeded.titles("tag:podcast"), ["Rustacean station podcast"]);
    assert.deepEqual(seeded.titles("#rust -podcast"), ["The Rust Programming Language"]);
    assert.deepEqual(seeded.titles("#rust -#books"), ["Rustacean station podcast"]);
    assert.deepEqual(seeded.titles('programming -"phoenix liveview"'), ["The Rust Programming Language"]);
    assert.deepEqual(seeded.titles("-rust -food"), ["Node.js streams handbook", "Programming Phoenix LiveView"], "only exclusions: everything else");
    assert.deepEqual(seeded.titles("#nosuchtag"), []);
  });

  test("user: and site:", () => {
    assert.deepEqual(seeded.titles("user:bob"), ["Node.js streams handbook", "Programming Phoenix LiveView"]);
    assert.deepEqual(seeded.titles("user:nobody"), []);
    assert.deepEqual(seeded.titles("user:alice -user:alice"), []);
    assert.deepEqual(seeded.titles("site:example.com"), ["Crème brûlée recipe"]);
    assert.deepEqual(seeded.titles("site:rust-lang.org"), ["The Rust Programming Language"], "subdomains belong to their site");
    assert.deepEqual(seeded.titles("site:https://www.github.com/"), ["Node.js streams handbook"]);
    assert.deepEqual(seeded.titles("site:lang.org"), [], "a site is matched by whole host labels");
    assert.deepEqual(seeded.titles("-site:example.com #food"), []);
  });

  test("private bookmarks are found by their owner only", () => {
    assert.deepEqual(seeded.titles("secret"), []);
    assert.deepEqual(seeded.titles("#secret"), []);
    assert.deepEqual(seeded.titles("plans", alice), []);
    assert.deepEqual(seeded.titles("plans", bob), ["Secret rust plans"]);
    assert.deepEqual(seeded.titles("#rust", bob), ["Rustacean station podcast", "Secret rust plans", "The Rust Programming Language"]);
    assert.equal(seeded.titles("", null).includes("Secret rust plans"), false);
    assert.equal(seeded.titles("-food", alice).includes("Secret rust plans"), false);
  });

  test("pages follow the cursor without repeats", () => {
    const first = seeded.index.search({ query: "", viewer: null, limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.nextCursor);
    const seen = first.items.map((bookmark) => bookmark.title);
    let cursor: string | null = first.nextCursor;
    while (cursor) {
      const page = seeded.index.search({ query: "", viewer: null, limit: 2, beforeOrd: parseInt(cursor, 36) });
      seen.push(...page.items.map((bookmark) => bookmark.title));
      cursor = page.nextCursor;
    }
    assert.equal(seen.length, 5);
    assert.equal(new Set(seen).size, 5);
  });

  test("the parser names its terms", () => {
    assert.deepEqual(parseQuery('-"a b" #Web user:Bob site:www.x.org -#t zz'), [
      { kind: "phrase", words: ["a", "b"], prefix: false, negated: true },
      { kind: "tag", tag: "web", negated: false },
      { kind: "user", username: "bob", negated: false },
      { kind: "site", host: "x.org", negated: false },
      { kind: "tag", tag: "t", negated: true },
      { kind: "word", word: "zz", prefix: true, negated: false },
    ]);
    assert.deepEqual(parseQuery("   "), []);
    assert.deepEqual(parseQuery("-"), [], "a lone minus is no term");
  });
});

/** An independent, obvious matcher: scans every bookmark, no index. */
function bruteForce(store: Store, query: string, viewer: User | null): string[] {
  const terms = parseQuery(query);
  const text = (bookmark: Bookmark) => [bookmark.title, bookmark.description, bookmark.url.replace(/^https?:\/\//, "").replace(/[?#].*$/, ""), ...bookmark.tags].map(words);
  const matches = (bookmark: Bookmark): boolean =>
    terms.every((term) => {
      let hit: boolean;
      const fields = text(bookmark);
      switch (term.kind) {
        case "word": hit = fields.some((field) => field.some((word) => (term.prefix ? word.startsWith(term.word) : word === term.word))); break;
        case "phrase": hit = fields.some((field) => field.join(" ").includes(term.words.join(" ")) && field.some((_, start) => term.words.every((word, offset) => (term.prefix && offset === term.words.length - 1 ? field[start + offset]?.startsWith(word) : field[start + offset] === word)))); break;
        case "tag": hit = bookmark.tags.includes(term.tag); break;
        case "user": hit = bookmark.user.username === term.username; break;
        case "site": hit = urlHost(bookmark.url) === term.host || urlHost(bookmark.url).endsWith(`.${term.host}`); break;
      }
      return term.negated ? !hit : hit;
    });
  return [...store.bookmarksById.values()]
    .filter((bookmark) => (bookmark.public || bookmark.user === viewer) && matches(bookmark))
    .sort((a, b) => b.ord - a.ord)
    .map((bookmark) => String(bookmark.id));
}

function sectionOf(index: SearchIndex): Uint8Array {
  return Buffer.concat(index.encode());
}

test("seeded random edits: the live index answers like a rebuilt index and like a full scan", async () => {
  const seed = Number(process.env.SEARCH_SEED ?? Date.now() % 100_000);
  const next = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const vocabulary = ["rust", "rusty", "web", "webassembly", "node", "go", "gopher", "cat", "catalog", "data", "database", "créme", "zeta"];
  const phrase = () => Array.from({ length: 1 + Math.floor(next() * 4) }, () => pick(vocabulary)).join(" ");
  const seeded = new Seeded({ vocabularyTailWords: 8 });
  const users = [seeded.user("ann"), seeded.user("ben"), seeded.user("cy")];
  const queries = ["rust", "rus", "ca", "cat ", '"rust web"', '"web no"', "#rust -cat", "site:example.com", "-#web data", "user:ann go", "site:rust.dev gopher", "creme", "d", "1", "2"];
  const compare = (index: SearchIndex, label: string) => {
    for (const viewer of [null, ...users]) {
      for (const query of queries) {
        const expected = bruteForce(seeded.store, query, viewer);
        const found = index.search({ query, viewer, limit: 10_000 }).items.map((bookmark) => String(bookmark.id));
        assert.deepEqual(found, expected, `${label}, query ${JSON.stringify(query)}, viewer ${viewer?.username ?? "anonymous"}, SEARCH_SEED=${seed}`);
      }
    }
  };
  const live: BookmarkId[] = [];
  for (let step = 0; step < 600; step += 1) {
    const roll = next();
    if (roll < 0.6 || live.length === 0) {
      const host = pick(["a.example.com", "example.com", "b.org", "www.rust.dev"]);
      const bookmark = seeded.bookmark(pick(users), { title: phrase(), description: next() < 0.5 ? phrase() : "", url: `https://${host}/${pick(vocabulary)}/${step}`, public: next() < 0.7, tags: [...new Set([pick(vocabulary), pick(vocabulary)])].map((tag) => tag.replace("é", "e")) });
      live.push(bookmark.id);
    } else if (roll < 0.85) {
      seeded.apply({ type: "bookmark.updated", payload: { id: pick(live), title: phrase(), ...(next() < 0.5 ? { tags: [pick(vocabulary).replace("é", "e")] } : {}), ...(next() < 0.3 ? { public: next() < 0.5 } : {}) } });
    } else {
      const index = Math.floor(next() * live.length);
      seeded.apply({ type: "bookmark.deleted", payload: { id: live[index]! } });
      live.splice(index, 1);
    }
    if (step % 150 === 149) {
      compare(seeded.index, `live index at step ${step}`);
      for (const follower of seeded.followers) compare(follower, `index read from a section, then following, at step ${step}`);
    }
    // Read back from its section (as a start from a snapshot does) and fed the events after it; twice,
    // so the second reads a table that was frozen, changed, and written again.
    if (step === 200 || step === 400) seeded.followers.push(SearchIndex.load(seeded.store, sectionOf(step === 200 ? seeded.index : seeded.followers[0]!)));
  }
  for (const follower of seeded.followers) assert.equal(follower.wordCount, seeded.index.wordCount, `the index read from a section counts the same words (SEARCH_SEED=${seed})`);
  const rebuilt = new SearchIndex(seeded.store);
  await rebuilt.build();
  compare(rebuilt, "rebuilt index");
  assert.equal(seeded.index.wordCount, rebuilt.wordCount, `no stale words left behind (SEARCH_SEED=${seed})`);
});

test("the start-up build runs in slices, answers 503 until done, and follows events that commit meanwhile", async () => {
  const seeded = new Seeded();
  const ann = seeded.user("ann");
  const early: Bookmark[] = [];
  for (let index = 0; index < 12_000; index += 1) early.push(seeded.bookmark(ann, { title: `note ${index % 7 === 0 ? "seven" : "plain"}`, url: `https://n.example/${index}` }));
  const index = new SearchIndex(seeded.store);
  const building = index.build();
  assert.equal(index.buildProgress.ready, false);
  assert.throws(() => index.search({ query: "seven", viewer: null, limit: 10 }), (error: any) => error.status === 503 && /search is starting up: 5,000 of 12,000/.test(error.message));
  const follow = (body: EventBody) => {
    const event = { ...body, seq: seeded.store.lastSeq + 1, v: 1, ts: 1, node: 1 } as LoggedEvent;
    const before = index.beforeApply(event);
    seeded.apply(body);
    index.afterApply(event, before);
  };
  const fresh = seeded.store.ids.next<BookmarkId>();
  follow({ type: "bookmark.created", payload: { id: fresh, user_id: ann.id, title: "seven brand new", url: "https://n.example/new", description: "", public: true, tags: [] } });
  follow({ type: "bookmark.updated", payload: { id: early[11_000]!.id, title: "now seven" } });
  follow({ type: "bookmark.updated", payload: { id: early[7]!.id, title: "no longer" } });
  follow({ type: "bookmark.deleted", payload: { id: early[11_900]!.id } });
  follow({ type: "bookmark.deleted", payload: { id: early[14]!.id } });
  await building;
  assert.equal(index.buildProgress.ready, true);
  const found = index.search({ query: "seven", viewer: null, limit: 100_000 }).items.map((bookmark) => String(bookmark.id));
  assert.deepEqual(found, bruteForce(seeded.store, "seven", null));
  assert.equal(found[0], String(fresh));
  assert.ok(found.includes(String(early[11_000]!.id)));
  assert.equal(found.includes(String(early[7]!.id)), false);
  assert.equal(found.includes(String(early[14]!.id)), false);
  assert.equal(index.wordCount, seeded.index.wordCount);
});

describe("GET /api/bookmarks?q=", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Rust by Example", url: "https://doc.rust-lang.org/rust-by-example/", tags: ["rust"] });
    await createBookmark(base, bob, { title: "Rust secrets", url: "https://bob.example/secret", tags: ["rust"], public: false });
    for (let index = 0; index < 3; index += 1) await createBookmark(base, alice, { title: `Tokio tutorial part ${index}`, url: `https://tokio.rs/tutorial/${index}`, tags: ["rust", "async"] });
  });
  after(() => nasty.close());

  test("searches, newest first, with a cursor", async () => {
    const first = await request(base, "GET", "/api/bookmarks?q=tokio%20tut&limit=2");
    assert.equal(first.status, 200);
    assert.deepEqual(first.json.data.map((item: any) => item.title), ["Tokio tutorial part 2", "Tokio tutorial part 1"]);
    const second = await request(base, "GET", `/api/bookmarks?q=tokio%20tut&limit=2&cursor=${first.json.next_cursor}`);
    assert.deepEqual(second.json.data.map((item: any) => item.title), ["Tokio tutorial part 0"]);
    assert.equal(second.json.next_cursor, null);
  });

  test("combines with tag= and user=", async () => {
    const reply = await request(base, "GET", "/api/bookmarks?q=rust&tag=async&user=alice");
    assert.equal(reply.json.data.length, 3);
    const none = await request(base, "GET", "/api/bookmarks?q=example&tag=async");
    assert.deepEqual(none.json.data, []);
  });

  test("private bookmarks only for their owner", async () => {
    const anonymous = await request(base, "GET", "/api/bookmarks?q=secrets");
    assert.deepEqual(anonymous.json.data, []);
    const other = await request(base, "GET", "/api/bookmarks?q=secrets", { token: alice });
    assert.deepEqual(other.json.data, []);
    const owner = await request(base, "GET", "/api/bookmarks?q=secrets", { token: bob });
    assert.deepEqual(owner.json.data.map((item: any) => item.title), ["Rust secrets"]);
  });

  test("edits and deletes are followed live", async () => {
    const created = await createBookmark(base, alice, { title: "Zanzibar travel notes", url: "https://travel.example/zanzibar" });
    assert.equal((await request(base, "GET", "/api/bookmarks?q=zanzibar")).json.data.length, 1);
    await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { title: "Pemba travel notes", url: "https://travel.example/pemba" } } });
    assert.equal((await request(base, "GET", "/api/bookmarks?q=zanzibar")).json.data.length, 0);
    assert.equal((await request(base, "GET", "/api/bookmarks?q=pemba")).json.data.length, 1);
    await request(base, "DELETE", `/api/bookmarks/${created.id}`, { token: alice });
    assert.equal((await request(base, "GET", "/api/bookmarks?q=pemba")).json.data.length, 0);
  });

  test("bad input is a 400 naming the problem", async () => {
    const long = await request(base, "GET", `/api/bookmarks?q=${"a".repeat(501)}`);
    assert.equal(long.status, 400);
    assert.match(long.json.error, /q is too long/);
    const both = await request(base, "GET", "/api/bookmarks?q=rust&url=https://tokio.rs/");
    assert.equal(both.status, 400);
    assert.match(both.json.error, /q and url/);
  });
});

test("after a restart the index is rebuilt from the replayed store and answers as before", async () => {
  const overrides = { NASTY_DATA_DIR: tempDir() };
  const queries = ["/api/bookmarks?q=zebra", "/api/bookmarks?q=okapi", "/api/bookmarks?q=%23roads%20guid", "/api/bookmarks?q=zeb"];
  let before: unknown[];
  const first = await startTestServer(overrides);
  try {
    const token = await signUp(first.url, "restarter");
    const kept = await createBookmark(first.url, token, { title: "Zebra crossing guide", url: "https://roads.example/a", tags: ["roads"] });
    const edited = await createBookmark(first.url, token, { title: "Zebra facts", url: "https://animals.example/b" });
    const gone = await createBookmark(first.url, token, { title: "Zebra gone", url: "https://animals.example/c" });
    await request(first.url, "PATCH", `/api/bookmarks/${edited.id}`, { token, body: { bookmark: { title: "Okapi facts" } } });
    await request(first.url, "DELETE", `/api/bookmarks/${gone.id}`, { token });
    before = await Promise.all(queries.map(async (path) => (await request(first.url, "GET", path)).json));
    assert.deepEqual((before[0] as any).data.map((item: any) => item.id), [kept.id]);
    assert.deepEqual((before[1] as any).data.map((item: any) => item.id), [edited.id]);
  } finally {
    await first.close();
  }
  const second = await startTestServer(overrides);
  try {
    const afterwards = await Promise.all(queries.map(async (path) => (await request(second.url, "GET", path)).json));
    assert.deepEqual(afterwards, before);
  } finally {
    await second.close();
  }
});

test("a search section that does not read (another format, truncated, offsets that do not add up) is refused with a message, never a crash", () => {
  const { seeded } = seed();
  const whole = Buffer.concat(seeded.index.encode());
  const loaded = loadSearchSection(seeded.store, new Map([["search", whole]]), (line) => assert.fail(line));
  assert.ok(loaded !== null, "a whole section reads (positive control)");
  assert.deepEqual(loaded.search({ query: "rust", viewer: null, limit: 100 }).items.map((bookmark) => bookmark.id), seeded.index.search({ query: "rust", viewer: null, limit: 100 }).items.map((bookmark) => bookmark.id));
  const wrongMagic = Buffer.from(whole);
  wrongMagic.writeUInt32LE(0x12345678, 0);
  const newerVersion = Buffer.from(whole);
  newerVersion.writeUInt32LE(99, 4);
  const badOffsets = Buffer.from(whole);
  badOffsets.writeUInt32LE(badOffsets.readUInt32LE(12) + 1, 12);
  for (const [bytes, problem] of [
    [wrongMagic, /the search section is not a search index/],
    [newerVersion, /the search section is format version 99; this build reads version 1/],
    [whole.subarray(0, whole.length - 8), /the search section is truncated/],
    [whole.subarray(0, 12), /shorter than its header/],
    [badOffsets, /the search section has word or list offsets that do not match its contents/],
  ] as const) {
    const warnings: string[] = [];
    assert.equal(loadSearchSection(seeded.store, new Map([["search", bytes]]), (line) => warnings.push(line)), null);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, problem);
    assert.match(warnings[0]!, /; the search index is rebuilt from the store$/);
  }
});
