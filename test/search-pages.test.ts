// The search page, the reading list and its toggle, and the import page, over HTTP as a browser without JavaScript sees them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { PageClient, csrfOf } from "./support/pages.ts";
import type { Nasty } from "../src/main.ts";

describe("search, reading list and import pages", () => {
  let nasty: Nasty;
  let base: string;
  let alice: PageClient;
  let aliceToken: string;
  let bobToken: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = new PageClient(base);
    await alice.signUp("alice");
    aliceToken = (await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "correct horse" } })).json.token;
    bobToken = await signUp(base, "bob");
    await createBookmark(base, aliceToken, { title: "Tokio tutorial", url: "https://tokio.rs/tokio/tutorial", tags: ["rust", "async"] });
    await createBookmark(base, bobToken, { title: "Tokio secrets", url: "https://bob.example/tokio", public: false });
  });
  after(() => nasty.close());

  test("GET /search renders results in the page, and only the results for htmx; private ones stay hidden", async () => {
    const anonymous = new PageClient(base);
    const full = await anonymous.get("/search?q=toki");
    assert.equal(full.status, 200);
    assert.match(full.text, /<input type="search" name="q" value="toki"/);
    assert.match(full.text, /Tokio tutorial/);
    assert.doesNotMatch(full.text, /Tokio secrets/);
    assert.match(full.text, /<a href="\/search"( aria-current="page")?>search<\/a>/, "the nav links the search page");
    const partial = await anonymous.get("/search?q=toki", { "hx-request": "true" });
    assert.match(partial.text, /^<section id="search-results"/);
    assert.doesNotMatch(partial.text, /<html/);
    const none = await anonymous.get("/search?q=zzzz", { "hx-request": "true" });
    assert.match(none.text, /No bookmarks match <q>zzzz<\/q>/);
    const empty = await anonymous.get("/search");
    assert.equal(empty.status, 200);
    assert.doesNotMatch(empty.text, /class="card/);
    const bob = new PageClient(base);
    await bob.logIn("bob");
    assert.match((await bob.get("/search?q=secrets")).text, /Tokio secrets/, "the owner finds their private bookmark");
    const tooLong = await anonymous.get(`/search?q=${"a".repeat(501)}`);
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.text, /too long/);
  });

  test("read later: the owner's toggle needs a same-origin POST, the reading list is theirs alone", async () => {
    const id = (await createBookmark(base, aliceToken, { title: "Long read", url: "https://long.example/read" })).id;
    const mine = await alice.get("/u/alice");
    assert.match(mine.text, new RegExp(`action="/b/${id}/unread"[^>]*><input type="hidden" name="unread" value="true"><button class="link toggle-unread" type="submit">read later</button>`));
    const crossSite = await alice.post(`/b/${id}/unread`, { unread: "true" }, { csrf: null, headers: { origin: "https://evil.example" } });
    assert.equal(crossSite.status, 403);
    const noOrigin = await alice.post(`/b/${id}/unread`, { unread: "true" }, { csrf: null });
    assert.equal(noOrigin.status, 403);
    const marked = await alice.post(`/b/${id}/unread`, { unread: "true", next: "/u/alice/unread" }, { csrf: null, headers: { origin: base } });
    assert.equal(marked.status, 303);
    assert.equal(marked.location, "/u/alice/unread");
    const list = await alice.get("/u/alice/unread");
    assert.equal(list.status, 200);
    assert.match(list.text, /Long read/);
    assert.doesNotMatch(list.text, /Tokio tutorial/);
    assert.match(list.text, /<span class="badge to-read">to read<\/span>/);
    assert.match(list.text, /<button class="link toggle-unread" type="submit">mark read<\/button>/);
    const htmx = await alice.post(`/b/${id}/unread`, { unread: "false" }, { csrf: null, headers: { origin: base, "hx-request": "true" } });
    assert.equal(htmx.status, 200);
    assert.match(htmx.text, new RegExp(`^<span class="read-mark" id="rm-${id}"><form [^>]*hx-target="#rm-${id}" hx-swap="outerHTML"><input type="hidden" name="unread" value="true"><button class="link toggle-unread" type="submit">read later</button></form></span>`), "htmx swaps in the new read mark");
    assert.doesNotMatch((await alice.get("/u/alice/unread")).text, /Long read/);

    const bob = new PageClient(base);
    await bob.logIn("bob");
    assert.equal((await bob.get("/u/alice/unread")).status, 404);
    assert.equal((await bob.post(`/b/${id}/unread`, { unread: "true" }, { csrf: null, headers: { origin: base } })).status, 403, "only the owner may mark it");
    const anonymous = await new PageClient(base).get("/u/alice/unread");
    assert.equal(anonymous.status, 303);
    assert.match(anonymous.location ?? "", /^\/login\?next=/);
  });

  test("the import page uploads with its form token; export and the reading list are linked from settings", async () => {
    const settings = await alice.get("/settings");
    assert.match(settings.text, /href="\/settings\/import"/);
    assert.match(settings.text, /href="\/api\/export"/);
    const importPage = await alice.get("/settings/import");
    assert.equal(importPage.status, 200);
    const token = /data-token="([^"]+)"/.exec(importPage.text)![1]!;
    const script = /<script src="(\/static\/import\.js\?v=[^"]+)"/.exec(importPage.text)![1]!;
    const served = await request(base, "GET", script);
    assert.equal(served.status, 200);
    assert.match(served.headers.get("content-type")!, /javascript/);
    const file = `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><A HREF="https://imported.example/" ADD_DATE="1500000000">Imported</A>\n</DL>\n`;
    const upload = (query: string, headers: Record<string, string>) =>
      fetch(`${base}/api/import${query}`, { method: "POST", body: file, headers: { cookie: alice.cookieHeader(), "content-type": "text/html", ...headers } });
    assert.equal((await upload("", { origin: base })).status, 403, "a cookie upload needs the page's token");
    assert.equal((await upload(`?_csrf=${token}`, { origin: "https://evil.example" })).status, 403);
    const done = await upload(`?_csrf=${encodeURIComponent(token)}`, { origin: base });
    assert.equal(done.status, 200);
    assert.equal(((await done.json()) as { imported: number }).imported, 1);
    const exported = await fetch(`${base}/api/export`, { headers: { cookie: alice.cookieHeader() } });
    assert.match(await exported.text(), /HREF="https:\/\/imported\.example\/"/);
    assert.equal(token, csrfOf(importPage.text), "the upload token is the page's form token");
  });
});
