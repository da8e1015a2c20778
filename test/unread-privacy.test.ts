// The read-later flag is its owner's alone: on every surface (JSON, pages, pushes, fragments, feeds, exports, Pinboard, linkding) others never see it; the owner does.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";
import { Client, openLive, subscribe, wsUrl, type Fragment, type Live } from "./support/realtime.ts";
import { chromiumSkip, launchChromium, logInThroughForm, watchForProblems } from "./support/chromium.ts";

/** What gives a card's read-later state away in HTML: the badge, the toggle, its hidden field. */
const READ_MARK_FILLED = /to-read|toggle-unread|mark read|read later|name="unread"/;

/** A JSON text that mentions the flag at all, under either of its names. */
const FLAG_IN_JSON = /"(unread|toread)"/;

describe("the read-later flag is its owner's alone", { timeout: 60_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;
  let later: any;
  let plain: any;
  let bobs: any;
  const alicePages = () => {
    const client = new PageClient(base);
    return client.logIn("alice").then(() => client);
  };

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    later = await createBookmark(base, alice, { title: "Later reading", url: "https://later.example/", tags: ["reading"], unread: true });
    plain = await createBookmark(base, alice, { title: "Plain reading", url: "https://plain.example/", tags: ["reading"] });
    bobs = await createBookmark(base, bob, { title: "Bob reading", url: "https://bob.example/", tags: ["reading"], unread: true });
  });
  after(() => nasty.close());

  test("JSON answers carry unread to the owner only, for each of their own bookmarks", async () => {
    const paths = ["/api/bookmarks", "/api/bookmarks?user=alice", "/api/bookmarks?tag=reading", "/api/bookmarks?q=reading", `/api/bookmarks?url=${encodeURIComponent("https://later.example/")}`, "/api/bookmarks/random?n=100", "/api/scramble"];
    for (const path of paths) {
      const anonymous = await request(base, "GET", path);
      assert.equal(anonymous.status, 200, path);
      assert.ok(anonymous.json.data.some((item: any) => item.id === later.id), `${path}: the bookmark is listed (positive control)`);
      assert.doesNotMatch(anonymous.text, FLAG_IN_JSON, `anonymous ${path}`);
      const asBob = await request(base, "GET", path, { token: bob });
      for (const item of asBob.json.data) assert.equal("unread" in item, item.user === "bob", `bob's ${path}: unread only on his own (${item.title})`);
      const asAlice = await request(base, "GET", path, { token: alice });
      const own = asAlice.json.data.find((item: any) => item.id === later.id);
      assert.equal(own.unread, true, `alice's ${path}`);
    }
    assert.doesNotMatch((await request(base, "GET", `/api/bookmarks/${later.id}`)).text, FLAG_IN_JSON);
    assert.doesNotMatch((await request(base, "GET", `/api/bookmarks/${later.id}`, { token: bob })).text, FLAG_IN_JSON);
    assert.equal((await request(base, "GET", `/api/bookmarks/${later.id}`, { token: alice })).json.data.unread, true);
    assert.equal((await request(base, "GET", `/api/bookmarks/${plain.id}`, { token: alice })).json.data.unread, false, "false is shown to the owner too");
  });

  test("unread= filters only the viewer's own bookmarks: 401 without a log-in, 400 for someone else's list", async () => {
    for (const path of ["/api/bookmarks?user=alice&unread=true", "/api/bookmarks?user=alice&unread=false", "/api/bookmarks?unread=true", "/api/bookmarks?q=reading&unread=true"]) {
      const anonymous = await request(base, "GET", path);
      assert.equal(anonymous.status, 401, path);
      assert.match(anonymous.json.error, /unread= filters your own bookmarks/);
      assert.doesNotMatch(anonymous.text, /Later reading/);
    }
    for (const path of ["/api/bookmarks?user=alice&unread=true", "/api/bookmarks?user=alice&unread=no", "/api/bookmarks?user=alice&q=reading&unread=1"]) {
      const asBob = await request(base, "GET", path, { token: bob });
      assert.equal(asBob.status, 400, path);
      assert.match(asBob.json.error, /unread= filters only your own bookmarks; alice's reading list is theirs alone/);
    }
    const titles = async (path: string, token: string) => (await request(base, "GET", path, { token })).json.data.map((item: any) => item.title);
    assert.deepEqual(await titles("/api/bookmarks?unread=true", bob), ["Bob reading"], "without user=, bob's own reading list");
    assert.deepEqual(await titles("/api/bookmarks?tag=reading&unread=false", bob), [], "and not alice's read ones either");
    assert.deepEqual(await titles("/api/bookmarks?q=reading&unread=true", bob), ["Bob reading"]);
    assert.deepEqual(await titles("/api/bookmarks?user=bob&unread=true", bob), ["Bob reading"]);
    assert.deepEqual(await titles("/api/bookmarks?user=alice&unread=true", alice), ["Later reading"], "the owner's own filter works (positive control)");
    assert.deepEqual(await titles("/api/bookmarks?unread=false", alice), ["Plain reading"]);
  });

  test("cards on pages: no read mark for others, the owner's filled in", async () => {
    const anonymous = new PageClient(base);
    const bobPages = new PageClient(base);
    await bobPages.logIn("bob");
    const owner = await alicePages();
    const paths = ["/", "/u/alice", "/t/reading", `/b/${later.id}`, "/search?q=reading", "/scramble"];
    for (const path of paths) {
      for (const [who, client] of [["anonymous", anonymous], ["bob", bobPages]] as const) {
        const reply = await client.get(path);
        assert.equal(reply.status, 200, `${who} ${path}`);
        const card = cardOf(reply.text, later.id);
        assert.match(card, new RegExp(`<span class="read-mark" id="rm-${later.id}"></span>`), `${who} ${path}: the card is there with an empty read mark`);
        assert.doesNotMatch(card, READ_MARK_FILLED, `${who} ${path}`);
      }
      const bobsCard = cardOf((await bobPages.get(path)).text, bobs.id);
      if (path !== "/u/alice" && path !== `/b/${later.id}`) assert.match(bobsCard, /<span class="badge to-read">to read<\/span>/, `bob's own card on ${path} carries his mark`);
      const ownCard = cardOf((await owner.get(path)).text, later.id);
      assert.match(ownCard, /<span class="badge to-read">to read<\/span> <form [^>]*><input type="hidden" name="unread" value="false"><button class="link toggle-unread" type="submit">mark read<\/button>/, `alice's ${path}`);
    }
    assert.equal((await bobPages.get("/u/alice/unread")).status, 404);
    assert.match(cardOf((await owner.get("/u/alice/unread")).text, later.id), /mark read/);
  });

  test("feeds, exports of another user, Pinboard and linkding never show another person's flag", async () => {
    for (const path of ["/feeds/firehose.rss", "/feeds/firehose.atom", "/feeds/u/alice.rss", "/feeds/t/reading.atom"]) {
      const feed = await request(base, "GET", path);
      assert.match(feed.text, /Later reading/, path);
      assert.doesNotMatch(feed.text, /unread|toread|to read/i, path);
    }
    for (const token of [undefined, bob]) {
      const exported = await request(base, "GET", "/api/export?user=alice", { token });
      assert.match(exported.text, /HREF="https:\/\/later.example\/"[^>]* TOREAD="0"/);
      assert.doesNotMatch(exported.text, /TOREAD="1"/);
    }
    assert.match((await request(base, "GET", "/api/export", { token: alice })).text, /HREF="https:\/\/later.example\/"[^>]* TOREAD="1"/, "the owner's own export keeps it");

    const pinboard = (token: string, user: string, method: string, query = "") => request(base, "GET", `/v1/${method}?auth_token=${user}:${encodeURIComponent(token)}${query}`);
    const bobsPosts = await pinboard(bob, "bob", "posts/all", "&format=json");
    assert.deepEqual(bobsPosts.json.map((post: any) => [post.description, post.toread]), [["Bob reading", "yes"]], "Pinboard lists the caller's own posts only");
    const xml = await pinboard(bob, "bob", "posts/get", `&url=${encodeURIComponent("https://later.example/")}`);
    assert.equal(XMLValidator.validate(xml.text), true);
    assert.deepEqual(new XMLParser({ ignoreAttributes: false }).parse(xml.text).posts.post, undefined, "alice's URL is not bob's post");
    const alicesPosts = await pinboard(alice, "alice", "posts/all", "&format=json");
    assert.deepEqual(alicesPosts.json.map((post: any) => [post.description, post.toread]), [["Plain reading", "no"], ["Later reading", "yes"]]);

    const linkding = (token: string, path: string) => request(base, "GET", path, { headers: { authorization: `Token ${token}` } });
    assert.deepEqual((await linkding(bob, "/api/bookmarks/")).json.results.map((item: any) => [item.title, item.unread]), [["Bob reading", true]]);
    assert.deepEqual((await linkding(bob, "/api/bookmarks/?unread=yes")).json.results.map((item: any) => item.title), ["Bob reading"]);
    assert.equal((await linkding(bob, `/api/bookmarks/${later.id}/`)).status, 403);
    assert.equal((await linkding(bob, `/api/bookmarks/check/?url=${encodeURIComponent("https://later.example/")}`)).json.bookmark, null);
    assert.deepEqual((await linkding(alice, "/api/bookmarks/?unread=yes")).json.results.map((item: any) => item.title), ["Later reading"]);
    assert.deepEqual((await linkding(alice, "/api/bookmarks/?unread=no&q=reading")).json.results.map((item: any) => item.title), ["Plain reading"]);
    assert.equal((await linkding(alice, "/api/bookmarks/?unread=maybe")).status, 400);
  });
});

/** The `<article>` of bookmark `id` in a page ("" when it is not there, which the callers' matches then catch). */
function cardOf(html: string, id: number): string {
  const start = html.indexOf(`<article class="card" id="b-${id}"`);
  return start < 0 ? "" : html.slice(start, html.indexOf("</article>", start));
}

/** A JSON websocket of one wire format, joined to some topics, that can wait for everything sent before. */
interface Watcher {
  label: string;
  /** Pushes received (not answers), as topic, event and payload. */
  pushes(): { topic: string; event: string; payload: any }[];
  text(): string;
  barrier(): Promise<void>;
}

type JsonWire = "raw" | "v2" | "v1";

async function watcher(nasty: Nasty, wire: JsonWire, token: string | null, topics: string[], label: string): Promise<{ watcher: Watcher; client: Client }> {
  const auth = token ? `token=${encodeURIComponent(token)}` : "";
  const path = wire === "raw" ? `/ws?${auth}` : `/socket/websocket?${wire === "v2" ? "vsn=2.0.0&" : ""}${auth}`;
  const client = await Client.open(wsUrl(nasty, path));
  let refs = 0;
  for (const name of topics) {
    const ref = `join-${(refs += 1)}`;
    if (wire === "raw") {
      await subscribe(client, name);
      continue;
    }
    const frame = wire === "v2" ? [ref, ref, name, "phx_join", {}] : { topic: name, event: "phx_join", payload: {}, ref };
    const reply = await client.ask(frame, (candidate) => (wire === "v2" ? candidate[1] : candidate.ref) === ref, `the join of ${name}`);
    assert.equal(wire === "v2" ? reply[4].status : reply.payload.status, "ok", `${label} joins ${name}`);
  }
  const pushes = () => {
    if (wire === "raw") return client.frames.filter((frame) => frame.op === undefined).map(({ topic, event, payload }) => ({ topic, event, payload }));
    if (wire === "v2") return client.frames.filter((frame) => frame[3] !== "phx_reply").map((frame) => ({ topic: frame[2], event: frame[3], payload: frame[4] }));
    return client.frames.filter((frame) => frame.event !== "phx_reply").map(({ topic, event, payload }) => ({ topic, event, payload }));
  };
  const barrier = async () => {
    if (wire === "raw") return client.barrier();
    const ref = `beat-${(refs += 1)}`;
    const frame = wire === "v2" ? [null, ref, "phoenix", "heartbeat", {}] : { topic: "phoenix", event: "heartbeat", payload: {}, ref };
    await client.ask(frame, (candidate) => (wire === "v2" ? candidate[1] : candidate.ref) === ref, "the barrier heartbeat");
  };
  return { client, watcher: { label, pushes, text: () => JSON.stringify(pushes()), barrier } };
}

describe("pushed payloads and fragments: the flag goes to the owner's channels only", { timeout: 60_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;
  let aliceCookie: string;
  let bobCookie: string;
  const clients: Client[] = [];
  const lives: Live[] = [];

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    const alicePage = new PageClient(base);
    await alicePage.logIn("alice");
    aliceCookie = alicePage.cookieHeader();
    const bobPage = new PageClient(base);
    await bobPage.logIn("bob");
    bobCookie = bobPage.cookieHeader();
  });
  after(async () => {
    for (const client of clients) await client.close();
    for (const live of lives) live.socket.terminate();
    await nasty.close();
  });

  test("raw /ws, Phoenix v2 and v1, and the original app's aliases: others get no unread and no word of a toggle", async () => {
    const watched = await createBookmark(base, alice, { title: "Watched", url: "https://watched.example/", tags: ["reading"], unread: true });
    const publicTopics = ["bookmarks:firehose", "bookmarks:user:alice", "bookmarks:tag:reading", "bookmark:feed", "tag:reading", `bookmark:${watched.id}`];
    const others: Watcher[] = [];
    for (const wire of ["raw", "v2", "v1"] as const) {
      for (const [who, token] of [["anonymous", null], ["bob", bob]] as const) {
        const opened = await watcher(nasty, wire, token, publicTopics, `${who} on ${wire}`);
        clients.push(opened.client);
        others.push(opened.watcher);
      }
    }
    const ownerSocket = await watcher(nasty, "raw", alice, ["bookmarks:user:alice:private", `bookmark:${watched.id}`], "alice");
    clients.push(ownerSocket.client);
    const owner = ownerSocket.watcher;

    const fresh = await createBookmark(base, alice, { title: "Fresh", url: "https://fresh.example/", tags: ["reading"], unread: true });
    const patch = (id: number, bookmark: object) => request(base, "PATCH", `/api/bookmarks/${id}`, { token: alice, body: { bookmark } });
    assert.equal((await patch(watched.id, { unread: false })).status, 200, "a toggle alone");
    assert.equal((await patch(fresh.id, { unread: false })).status, 200, "another toggle alone");
    assert.equal((await patch(watched.id, { title: "Watched, renamed" })).status, 200, "a change everyone sees");
    for (const socket of [...others, owner]) await socket.barrier();

    for (const socket of others) {
      assert.doesNotMatch(socket.text(), FLAG_IN_JSON, socket.label);
      const seen = socket.pushes().map(({ topic, event, payload }) => `${topic} ${event} ${payload.id}`);
      assert.deepEqual(seen, [
        `bookmarks:firehose bookmark_created ${fresh.id}`, `bookmarks:user:alice bookmark_created ${fresh.id}`, `bookmark:feed bookmark:created ${fresh.id}`,
        `bookmarks:tag:reading bookmark_created ${fresh.id}`, `tag:reading bookmark:created ${fresh.id}`,
        `bookmarks:firehose bookmark_updated ${watched.id}`, `bookmarks:user:alice bookmark_updated ${watched.id}`, `bookmark:feed bookmark:updated ${watched.id}`,
        `bookmarks:tag:reading bookmark_updated ${watched.id}`, `tag:reading bookmark:updated ${watched.id}`, `bookmark:${watched.id} bookmark_updated ${watched.id}`,
      ], `${socket.label}: the creation and the rename, nothing of the two toggles`);
      assert.equal(socket.pushes()[0]!.payload.title, "Fresh");
    }
    const ownPushes = owner.pushes().map(({ topic, event, payload }) => [topic, event, payload.id, payload.unread]);
    assert.deepEqual(ownPushes, [
      ["bookmarks:user:alice:private", "bookmark_created", fresh.id, true],
      ["bookmarks:user:alice:private", "bookmark_updated", watched.id, false], [`bookmark:${watched.id}`, "bookmark_updated", watched.id, false],
      ["bookmarks:user:alice:private", "bookmark_updated", fresh.id, false],
      ["bookmarks:user:alice:private", "bookmark_updated", watched.id, false], [`bookmark:${watched.id}`, "bookmark_updated", watched.id, false],
    ], "the owner hears every change, toggles included, with the flag");
  });

  test("/live: shared cards carry an empty read mark; the owner's pages get theirs filled, on their marks or private topic", async () => {
    const live = async (name: string, headers: Record<string, string> = {}) => {
      const opened = await openLive(base, name, headers);
      lives.push(opened);
      return opened;
    };
    const target = await createBookmark(base, alice, { title: "On a page", url: "https://page.example/", tags: ["reading"] });
    const others = [
      await live("bookmarks:firehose"), await live("bookmarks:firehose", { cookie: bobCookie, origin: base }),
      await live(`bookmark:${target.id}`), await live(`bookmark:${target.id}`, { cookie: bobCookie, origin: base }),
    ];
    const ownFirehose = await live("bookmarks:firehose", { cookie: aliceCookie, origin: base });
    const ownPrivate = await live("bookmarks:user:alice:private", { cookie: aliceCookie, origin: base });
    const withoutCookie = await live("bookmarks:firehose", { cookie: aliceCookie });

    const fresh = await createBookmark(base, alice, { title: "Fresh on a page", url: "https://fresh-page.example/", unread: true });
    for (const socket of [others[0]!, others[1]!, withoutCookie]) {
      const card = await socket.next();
      assert.match(card.content, new RegExp(`id="b-${fresh.id}"[^]*<span class="read-mark" id="rm-${fresh.id}"></span>`));
      assert.doesNotMatch(card.content, READ_MARK_FILLED);
    }
    const shared = await ownFirehose.next();
    assert.doesNotMatch(shared.content, READ_MARK_FILLED, "the firehose card is the one everyone gets");
    assertMark(await ownFirehose.next(), fresh.id, true);
    const privateCard = await ownPrivate.next();
    assert.match(privateCard.content, /<span class="badge to-read">to read<\/span>/, "the private topic's card is the owner's");

    assert.equal((await request(base, "PATCH", `/api/bookmarks/${target.id}`, { token: alice, body: { bookmark: { unread: true } } })).status, 200);
    assertMark(await ownFirehose.next(), target.id, true);
    const replaced = await ownPrivate.next();
    assert.deepEqual([replaced.target, replaced.swap], [`#b-${target.id}`, "outerHTML"]);
    assert.match(replaced.content, /mark read/);

    const marker = await createBookmark(base, alice, { title: "Marker", url: "https://marker.example/" });
    for (const socket of [others[0]!, others[1]!, withoutCookie]) {
      const next = await socket.next();
      assert.match(next.content, new RegExp(`id="b-${marker.id}"`), "the toggle sent the firehose nothing: its next fragment is the marker");
    }
    assert.equal((await request(base, "POST", `/api/bookmarks/${target.id}/comments`, { token: bob, body: { body: "a comment" } })).status, 201);
    for (const socket of [others[2]!, others[3]!]) {
      const next = await socket.next();
      assert.equal(next.target, `#comments-${target.id}`, "the discussion heard nothing of the toggle: its next fragment is the comment");
      assert.doesNotMatch(next.content, READ_MARK_FILLED);
    }

    assert.match((await ownFirehose.next()).content, new RegExp(`id="b-${marker.id}"`));
    assertMark(await ownFirehose.next(), marker.id, false);
    assert.equal((await ownFirehose.next()).target, `#cc-${target.id}`, "the comment count");

    // Logging out of one session stops its sockets' read marks; the page stays live, another session keeps its marks.
    const ending = new PageClient(base);
    await ending.logIn("alice");
    const endingFirehose = await live("bookmarks:firehose", { cookie: ending.cookieHeader(), origin: base });
    await ending.get("/bookmarks");
    assert.equal((await ending.post("/logout", {})).status, 303);
    assert.equal((await request(base, "PATCH", `/api/bookmarks/${target.id}`, { token: alice, body: { bookmark: { unread: false } } })).status, 200);
    assertMark(await ownFirehose.next(), target.id, false);
    const after = await createBookmark(base, alice, { title: "After the log-out", url: "https://after.example/", unread: true });
    const card = await endingFirehose.next();
    assert.match(card.content, new RegExp(`id="b-${after.id}"`), "the logged-out page got no mark for the toggle, and is still live");
    assert.doesNotMatch(card.content, READ_MARK_FILLED);
    assert.match((await ownFirehose.next()).content, new RegExp(`id="b-${after.id}"`));
    assertMark(await ownFirehose.next(), after.id, true);
    const marker2 = await createBookmark(base, alice, { title: "Marker two", url: "https://marker-two.example/" });
    assert.match((await endingFirehose.next()).content, new RegExp(`id="b-${marker2.id}"`), "and no mark for the new card either");
  });
});

function assertMark(fragment: Fragment, id: number, unread: boolean): void {
  assert.deepEqual([fragment.target, fragment.swap], [`#rm-${id}`, "outerHTML"]);
  assert.match(fragment.content, new RegExp(`^<span class="read-mark" id="rm-${id}">${unread ? '<span class="badge to-read">to read</span> ' : ""}<form `));
  assert.match(fragment.content, unread ? /mark read/ : /read later/);
}

describe("in Chromium, others never see the badge; its owner does, live too", { skip: chromiumSkip("read-later privacy browser suite"), timeout: 120_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let browser: Browser;
  let alice: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  async function newPage(who: string | null): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, who ?? "anonymous", problems);
    if (who) await logInThroughForm(page, base, who);
    return page;
  }

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Saved for later", url: "https://saved.example/", unread: true });
    browser = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nasty?.close();
    assert.deepEqual(problems, [], "no CSP violations or page errors");
  });

  test("the to-read badge shows for alice only, on loaded pages and on cards that arrive live", async () => {
    const pages = { alice: await newPage("alice"), bob: await newPage("bob"), anonymous: await newPage(null) };
    for (const page of Object.values(pages)) {
      await page.goto(`${base}/`);
      await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
      await page.locator("#feed .card", { hasText: "Saved for later" }).waitFor({ timeout: 5000 });
    }
    await pages.alice.locator("#feed .card", { hasText: "Saved for later" }).locator(".badge.to-read").waitFor({ state: "visible", timeout: 5000 });
    for (const page of [pages.bob, pages.anonymous]) assert.equal(await page.locator(".badge.to-read, .toggle-unread").count(), 0);

    await createBookmark(base, alice, { title: "Arrived live", url: "https://arrived.example/", unread: true });
    for (const page of Object.values(pages)) await page.locator("#feed .card", { hasText: "Arrived live" }).waitFor({ timeout: 5000 });
    await pages.alice.locator("#feed .card", { hasText: "Arrived live" }).locator(".badge.to-read").waitFor({ state: "visible", timeout: 5000 });
    for (const page of [pages.bob, pages.anonymous]) {
      assert.equal(await page.locator(".badge.to-read, .toggle-unread").count(), 0);
      assert.equal(await page.locator("#feed .card", { hasText: "Arrived live" }).locator(".read-mark").innerHTML(), "", "an empty mark");
    }

    const card = pages.alice.locator("#feed .card", { hasText: "Arrived live" });
    await card.locator("button.toggle-unread").click();
    await card.locator("button.toggle-unread", { hasText: "read later" }).waitFor({ timeout: 5000 });
    assert.equal(await card.locator(".badge.to-read").count(), 0, "marked read from the firehose page");
  });
});
