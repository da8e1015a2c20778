// The htmx pages against a real server, without a browser: feeds, forms, pagination, settings, sessions across a restart.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startNasty, type Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer, testConfig } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";

/** Titles of the cards in a page, in order. */
function cardTitles(html: string): string[] {
  return [...html.matchAll(/<h3 class="card-title"[^>]*>(?:<a [^>]*>|<span dir="auto">)([^<]*)</g)].map((match) => match[1]!);
}

describe("pages", { timeout: 60_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Rust and the web", url: "https://rust.example/web", tags: ["rust", "web"] });
    await createBookmark(base, alice, { title: "Only rust", url: "https://rust.example/only", tags: ["rust"] });
    await createBookmark(base, bob, { title: "Bob's web page", url: "https://bob.example/", tags: ["web"], description: "bob describes it" });
    await createBookmark(base, bob, { title: "Rust and the web, again", url: "https://rust.example/web", tags: ["rust", "web", "c++"] });
  });
  after(() => nasty.close());

  test("the firehose lists public bookmarks newest first, with domain, tags, owner, time and counts", async () => {
    const reply = await new PageClient(base).get("/");
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("content-type")!, /^text\/html/);
    assert.deepEqual(cardTitles(reply.text), ["Rust and the web, again", "Bob&#39;s web page", "Only rust", "Rust and the web"]);
    assert.match(reply.text, /<span class="domain">rust\.example<\/span>/);
    assert.match(reply.text, /<a href="\/t\/c%2B%2B">#c\+\+<\/a>/);
    assert.match(reply.text, /<a class="who" href="\/u\/bob">bob<\/a> <time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">/);
    assert.match(reply.text, /saved by 1 other/);
    assert.match(reply.text, /hx-ws:connect="\/live\?topic=bookmarks%3Afirehose&amp;since=\d+"/);
  });

  test("tag pages: one tag, several tags (AND), and a tag containing a plus", async () => {
    const client = new PageClient(base);
    assert.deepEqual(cardTitles((await client.get("/t/rust")).text), ["Rust and the web, again", "Only rust", "Rust and the web"]);
    const both = await client.get("/t/web+rust");
    assert.deepEqual(cardTitles(both.text), ["Rust and the web, again", "Rust and the web"]);
    assert.match(both.text, /hx-ws:connect="\/live\?topic=bookmarks%3Atags%3Arust%2Bweb&amp;since=\d+"/);
    assert.deepEqual(cardTitles((await client.get("/t/c%2B%2B")).text), ["Rust and the web, again"]);
    assert.deepEqual(cardTitles((await client.get("/t/nothing-here")).text), []);
    const none = await client.get("/t/");
    assert.equal(none.status, 404);
    assert.match(none.text, /no tag given/);
  });

  test("a person's page, the tag cloud, discover, scramble and stats", async () => {
    const client = new PageClient(base);
    const bobs = await client.get("/u/bob");
    assert.deepEqual(cardTitles(bobs.text), ["Rust and the web, again", "Bob&#39;s web page"]);
    assert.match(bobs.text, /topic=bookmarks%3Auser%3Abob&amp;since=\d+"/);
    assert.equal((await client.get("/u/nobody")).status, 404);
    const tags = await client.get("/tags");
    assert.match(tags.text, /<a class="w6" href="\/t\/web">web<\/a> <span class="count">3<\/span>/);
    assert.match(tags.text, /<a class="w\d" href="\/t\/c%2B%2B">c\+\+<\/a> <span class="count">1<\/span>/);
    const discover = await client.get("/discover");
    assert.equal((discover.text.match(/<li><a href="https:/g) ?? []).length, 4);
    const scramble = await client.get("/scramble");
    assert.equal(cardTitles(scramble.text).length, 4);
    assert.match(scramble.text, /hx-trigger="every 5s"/);
    const cards = await client.get("/scramble/cards");
    assert.deepEqual(cardTitles(cards.text).sort(), ["Bob&#39;s web page", "Only rust", "Rust and the web", "Rust and the web, again"]);
    assert.doesNotMatch(cards.text, /<html/);
    const stats = await client.get("/stats");
    assert.match(stats.text, /<svg class="chart"/);
    assert.match(stats.text, /<span class="tile-value">4<\/span><span class="tile-label">bookmarks<\/span>/);
    assert.match(stats.text, /topic=stats&amp;since=\d+"/);
  });

  test("every list paginates newest first with an 'older' link, and nothing repeats", async () => {
    const server = await startTestServer();
    try {
      const token = await signUp(server.url, "carol");
      for (let index = 0; index < 57; index += 1) await createBookmark(server.url, token, { title: `item ${index}`, url: `https://items.example/${index}`, tags: ["many"] });
      for (const path of ["/", "/t/many", "/u/carol"]) {
        const client = new PageClient(server.url);
        const first = await client.get(path);
        const firstTitles = cardTitles(first.text);
        assert.equal(firstTitles.length, 50, path);
        assert.equal(firstTitles[0], "item 56");
        const older = /<a class="older" rel="next" href="([^"]+)">/.exec(first.text)?.[1];
        assert.ok(older, `${path} has an older link`);
        const second = await client.get(older.replaceAll("&amp;", "&"));
        assert.deepEqual(cardTitles(second.text), ["item 6", "item 5", "item 4", "item 3", "item 2", "item 1", "item 0"]);
        assert.doesNotMatch(second.text, /rel="next"/);
        assert.match(second.text, /id="feed-older"/, "older pages take no live insertions");
      }
      const bad = await new PageClient(server.url).get("/?cursor=%3Cscript%3E");
      assert.equal(bad.status, 400);
      assert.match(bad.text, /cursor &#39;&lt;script&gt;&#39; is not one this server handed out/);
    } finally {
      await server.close();
    }
  });

  test("sign up, add through the form, see it on your page, edit it, delete it", async () => {
    const client = new PageClient(base);
    await client.signUp("dora");
    const mine = await client.get("/bookmarks");
    assert.equal(mine.status, 200);
    assert.match(mine.text, /<form class="bookmark-form stack" id="new-bookmark" method="post" action="\/bookmarks"/);
    assert.match(mine.text, /topic=bookmarks%3Auser%3Adora%3Aprivate&amp;since=\d+"/);

    const created = await client.post("/bookmarks", { url: "https://dora.example/one", title: "Dora's first", tags: "maps, travel", description: "a map", public: "on" });
    assert.equal(created.status, 303);
    assert.equal(created.location, "/bookmarks");
    const page = await client.get("/u/dora");
    assert.deepEqual(cardTitles(page.text), ["Dora&#39;s first"]);
    assert.match(page.text, /#maps<\/a><\/li><li><a href="\/t\/travel">#travel/);
    const id = Number(/id="b-(\d+)"/.exec(page.text)![1]);

    const edit = await client.get(`/b/${id}/edit`);
    assert.match(edit.text, /value="maps, travel"/);
    const saved = await client.post(`/b/${id}/edit`, { url: "https://dora.example/one", title: "Dora's first, renamed", tags: "maps", description: "" });
    assert.equal(saved.status, 303);
    assert.equal(saved.location, `/b/${id}`);
    const detail = await client.get(`/b/${id}`);
    assert.deepEqual(cardTitles(detail.text), ["Dora&#39;s first, renamed"]);
    assert.match(detail.text, /<span class="badge">private<\/span>/, "an unticked box made it private");
    assert.equal((await new PageClient(base).get(`/b/${id}`)).status, 404, "and others no longer see it");

    const deleted = await client.post(`/b/${id}/delete`, {}, { csrf: /name="_csrf" value="([^"]*)"/.exec(detail.text)![1]! });
    assert.equal(deleted.status, 303);
    assert.deepEqual(cardTitles((await client.get("/u/dora")).text), []);
  });

  test("the new-bookmark form over htmx answers with a fresh form, or the same form with the problems", async () => {
    const client = new PageClient(base);
    await client.signUp("erin");
    await client.get("/bookmarks");
    const saved = await client.post("/bookmarks", { url: "https://erin.example/", title: "Erin's", public: "on" }, { headers: { "HX-Request": "true" } });
    assert.equal(saved.status, 200);
    assert.match(saved.text, /^<form class="bookmark-form stack" id="new-bookmark"/);
    assert.match(saved.text, /Saved “<bdi>Erin&#39;s<\/bdi>”/);
    assert.match(saved.text, /name="url" required maxlength="2048" placeholder="https:\/\/…" value=""/);

    const refused = await client.post("/bookmarks", { url: "https://erin.example/", title: "again", public: "on" }, { headers: { "HX-Request": "true" } });
    assert.equal(refused.status, 409);
    assert.match(refused.text, /you already saved this URL as bookmark \d+/);
    assert.match(refused.text, /value="again"/);
    const edit = /You already saved this link as <a href="\/b\/(\d+)\/edit">“<bdi>Erin&#39;s<\/bdi>”<\/a>/;
    assert.match(refused.text, edit, "the refusal links to the bookmark to edit");
    const mine = await client.get("/bookmarks?url=https%3A%2F%2Fx.example%2F&title=Prefilled");
    assert.match(mine.text, /value="https:\/\/x\.example\/"/);
    assert.match(mine.text, /value="Prefilled"/);
    assert.doesNotMatch(mine.text, /already saved this link/, "a URL you have not saved: no notice");
    // The bookmarklet or a share opens the form on a page you saved (in another of its forms): it says so before you save.
    const again = await client.get(`/bookmarks?url=${encodeURIComponent("https://www.Erin.example/?utm_source=feed")}&title=Again`);
    assert.match(again.text, edit);
    assert.equal(again.text.match(edit)![1], refused.text.match(edit)![1]);
    assert.doesNotMatch((await new PageClient(base).get(`/bookmarks?url=${encodeURIComponent("https://erin.example/")}`)).text, /already saved/, "nobody else is told");
  });

  test("the discussion: comments through the form, shown oldest first, and only logged-in people get the box", async () => {
    const anonymous = await new PageClient(base).get("/b/1025");
    assert.equal(anonymous.status, 404);
    const [first] = (await request(base, "GET", "/api/bookmarks?user=bob&limit=1")).json.data;
    const client = new PageClient(base);
    const page = await client.get(`/b/${first.id}`);
    assert.match(page.text, /Log in<\/a> to join the discussion/);
    assert.match(page.text, new RegExp(`topic=bookmark%3A${first.id}&amp;since=\\d+"`));
    assert.match(page.text, /Also saved by <a href="\/b\/\d+">alice<\/a>/);

    await client.logIn("alice");
    await client.get(`/b/${first.id}`);
    assert.equal((await client.post(`/b/${first.id}/comments`, { body: "first!" })).status, 303);
    const answer = await client.post(`/b/${first.id}/comments`, { body: "second" }, { headers: { "HX-Request": "true" } });
    assert.equal(answer.status, 200);
    assert.match(answer.text, /^<form class="comment-form"/);
    const after = await client.get(`/b/${first.id}`);
    const bodies = [...after.text.matchAll(/<p class="comment-body">([^<]*)<\/p>/g)].map((match) => match[1]);
    assert.deepEqual(bodies, ["first!", "second"]);
    assert.match(after.text, /2 comments/);
    const empty = await client.post(`/b/${first.id}/comments`, { body: "   " });
    assert.equal(empty.status, 422);
    assert.match(empty.text, /body can&#39;t be blank/);
  });

  test("settings: a new API token is shown once, works, is listed, and can be revoked", async () => {
    const client = new PageClient(base);
    await client.signUp("fred");
    const settings = await client.get("/settings");
    assert.match(settings.text, /No API tokens/, "the sign-up token is not left behind");
    const created = await client.post("/settings/tokens", { name: "laptop script" });
    assert.equal(created.status, 200);
    const secret = /<code class="secret" id="new-token">([^<]+)<\/code>/.exec(created.text)?.[1];
    assert.ok(secret);
    assert.equal((await request(base, "GET", "/api/me", { token: secret })).json.user.username, "fred");
    const listed = await client.get("/settings");
    assert.ok(!listed.text.includes(secret), "never shown again");
    assert.match(listed.text, /<td>laptop script<\/td>/);
    const tokenId = /action="\/settings\/tokens\/(\d+)\/revoke"/.exec(listed.text)![1];
    assert.equal((await client.post(`/settings/tokens/${tokenId}/revoke`, {})).status, 303);
    assert.equal((await request(base, "GET", "/api/me", { token: secret })).status, 401);
    assert.equal((await new PageClient(base).get("/settings")).location, "/login?next=%2Fsettings");
  });

  test("log out ends the session: the cookie no longer logs in", async () => {
    const client = new PageClient(base);
    await client.signUp("gina");
    const session = client.cookies.get("nasty_session")!;
    assert.equal((await client.get("/bookmarks")).status, 200);
    const out = await client.post("/logout", {});
    assert.equal(out.status, 303);
    assert.match(out.setCookies.join("\n"), /nasty_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax/);
    const replay = new PageClient(base);
    replay.cookies.set("nasty_session", session);
    assert.equal((await replay.get("/bookmarks")).status, 303, "the old cookie is refused");
  });

  test("pages kept rendered follow every change a card shows: title, comments, others saving the URL", async () => {
    const ivan = await signUp(base, "ivan");
    const jack = await signUp(base, "jack");
    const client = new PageClient(base);
    const own = await createBookmark(base, ivan, { title: "cached card", url: "https://cache.example/", tags: ["cache"] });
    const first = await client.get("/t/cache");
    assert.equal((await client.get("/t/cache")).text, first.text, "the same page until something happens");
    assert.match(first.text, new RegExp(`id="cc-${own.id}" href="/b/${own.id}#discussion">discuss<`));
    await request(base, "POST", `/api/bookmarks/${own.id}/comments`, { token: jack, body: { body: "hi" } });
    assert.match((await client.get("/t/cache")).text, new RegExp(`id="cc-${own.id}" href="/b/${own.id}#discussion">1 comment<`));
    const again = await createBookmark(base, jack, { title: "jack saves it too", url: "https://cache.example/" });
    assert.match((await client.get(`/b/${own.id}`)).text, /saved by 1 other/);
    await request(base, "PATCH", `/api/bookmarks/${own.id}`, { token: ivan, body: { bookmark: { title: "cached card, renamed" } } });
    assert.deepEqual(cardTitles((await client.get("/t/cache")).text), ["cached card, renamed"]);
    const loggedIn = new PageClient(base);
    await loggedIn.logIn("ivan");
    assert.match((await loggedIn.get("/t/cache")).text, /data-viewer="ivan"/, "a logged-in viewer never gets a visitor's page");
    await request(base, "DELETE", `/api/bookmarks/${own.id}`, { token: ivan });
    await request(base, "DELETE", `/api/bookmarks/${again.id}`, { token: jack });
    assert.deepEqual(cardTitles((await client.get("/t/cache")).text), []);
  });
});

test("a session cookie survives a server restart", async () => {
  const config = testConfig();
  let nasty = await startNasty(config, { quiet: true });
  const client = new PageClient(nasty.url);
  await client.signUp("hana");
  await nasty.close();
  nasty = await startNasty(config, { quiet: true });
  try {
    const again = new PageClient(nasty.url);
    again.cookies.set("nasty_session", client.cookies.get("nasty_session")!);
    const mine = await again.get("/bookmarks");
    assert.equal(mine.status, 200);
    assert.match(mine.text, /data-viewer="hana"/);
  } finally {
    await nasty.close();
  }
});
