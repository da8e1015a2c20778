// Bulk edit and tag care through the native API, Pinboard and linkding: validated as a whole, one append each, live on every topic only once durable, replayed exactly.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { EventBody } from "../src/events.ts";
import type { Nasty } from "../src/main.ts";
import { snapshot } from "../src/store/check.ts";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { Client, subscribe, wsUrl } from "./support/realtime.ts";
import { PageClient, csrfOf } from "./support/pages.ts";

/** Counts the log's appends (calling through to the real one), so a test can see how many commits a command made. */
function watchAppends(nasty: Nasty): EventBody[][] {
  const appends: EventBody[][] = [];
  const append = nasty.log.append.bind(nasty.log);
  nasty.log.append = (bodies) => {
    appends.push([...bodies]);
    return append(bodies);
  };
  return appends;
}

describe("bulk edit and tag care", () => {
  const dataDir = tempDir();
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;
  let appends: EventBody[][];
  const ids: number[] = [];
  let bobsPublic: number;
  let bobsPrivate: number;

  const titlesTagged = async (tag: string): Promise<string[]> =>
    (await request(base, "GET", `/api/bookmarks?user=alice&tag=${tag}&limit=100`, { token: alice })).json.data.map((bookmark: any) => bookmark.title).sort();
  const aliceState = async () => (await request(base, "GET", "/api/bookmarks?user=alice&limit=100", { token: alice })).json.data;

  before(async () => {
    nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
    for (let index = 0; index < 4; index += 1) {
      ids.push((await createBookmark(base, alice, { title: `A${index}`, url: `https://a.example/${index}`, tags: index < 2 ? ["rust", "web"] : ["go"], public: index % 2 === 0 })).id);
    }
    bobsPublic = (await createBookmark(base, bob, { title: "B public", url: "https://b.example/1", tags: ["rust"] })).id;
    bobsPrivate = (await createBookmark(base, bob, { title: "B private", url: "https://b.example/2", public: false })).id;
    appends = watchAppends(nasty);
  });

  after(async () => {
    await nasty?.close();
  });

  test("a refused bulk edit names its problem and changes nothing", async () => {
    const before = await aliceState();
    const seq = nasty.log.lastSeq;
    const cases: [unknown, number, RegExp][] = [
      [{ ids: [ids[0], bobsPublic], action: "make_private" }, 403, new RegExp(`bookmark ${bobsPublic} belongs to bob`)],
      [{ ids: [ids[0], bobsPrivate], action: "delete" }, 404, new RegExp(`no bookmark ${bobsPrivate}`)],
      [{ ids: [ids[0], 987654321], action: "mark_read" }, 404, /no bookmark 987654321/],
      [{ ids: [ids[0], ids[1], ids[0]], action: "delete" }, 422, new RegExp(`ids must not repeat an id \\(${ids[0]} appears twice\\)`)],
      [{ ids: Array.from({ length: 1001 }, (_, index) => index + 1), action: "delete" }, 422, /ids must be at most 1,000 ids \(got 1,001\)/],
      [{ ids: [], action: "delete" }, 422, /ids must be a non-empty list/],
      [{ ids: ["1"], action: "delete" }, 422, /ids must each be a positive integer/],
      [{ ids: [ids[0]], action: "explode" }, 422, /action must be one of add_tags, remove_tags/],
      [{ ids: [ids[0]], action: "add_tags" }, 422, /tags can't be blank for add_tags/],
      [{ ids: [ids[0]], action: "add_tags", tags: ["x".repeat(65)] }, 422, /tags must each be at most 64 characters/],
      [{ ids: [ids[0]], action: "add_tags", tags: ["a,b"] }, 422, /tags must each be one tag without commas \("a,b" has one/],
      [{ ids: [ids[0]], action: "make_public", tags: ["rust"] }, 422, /tags apply only to add_tags and remove_tags/],
      [{ ids: [ids[0], ids[2]], action: "add_tags", tags: Array.from({ length: 31 }, (_, index) => `t${index}`) }, 422, new RegExp(`would give bookmark ${ids[0]} 33 tags \\(at most 32\\)`)],
      [[ids[0]], 400, /Expected an object with 'ids'/],
    ];
    for (const [body, status, message] of cases) {
      const reply = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body });
      assert.equal(reply.status, status, `${JSON.stringify(body).slice(0, 80)}: ${reply.text}`);
      assert.match(reply.json.error, message);
    }
    assert.equal((await request(base, "POST", "/api/bookmarks/bulk", { body: { ids: [ids[0]], action: "delete" } })).status, 401);
    assert.equal((await request(base, "POST", "/api/bookmarks/bulk", { token: alice, raw: "{", headers: { "content-type": "application/json" } })).status, 400);
    assert.deepEqual(appends, [], "nothing was appended");
    assert.equal(nasty.log.lastSeq, seq);
    assert.deepEqual(await aliceState(), before, "nothing changed");
  });

  test("each bulk action is one append of the changed bookmarks' events; already-as-asked ones are left alone", async () => {
    appends.length = 0;
    const add = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[0], ids[2]], action: "add_tags", tags: "Web, Later" } });
    assert.equal(add.status, 200, add.text);
    assert.deepEqual(add.json.data, { action: "add_tags", ids: [ids[0], ids[2]], changed: [ids[0], ids[2]] });
    assert.deepEqual(await titlesTagged("later"), ["A0", "A2"]);
    assert.deepEqual((await request(base, "GET", `/api/bookmarks/${ids[0]}`, { token: alice })).json.data.tags, ["rust", "web", "later"], "a tag it had already is not doubled");

    const remove = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[1], ids[2]], action: "remove_tags", tags: ["go", "nothing"] } });
    assert.deepEqual(remove.json.data.changed, [ids[2]], "A1 had neither tag");
    assert.deepEqual(await titlesTagged("go"), ["A3"]);

    const unread = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids, action: "mark_unread", tags: [] } });
    assert.deepEqual(unread.json.data.changed, ids);
    assert.equal((await request(base, "GET", "/api/bookmarks?unread=true", { token: alice })).json.data.length, 4);
    const read = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[0], ids[1]], action: "mark_read" } });
    assert.deepEqual(read.json.data.changed, [ids[0], ids[1]]);
    assert.deepEqual((await request(base, "GET", "/api/bookmarks?unread=true", { token: alice })).json.data.map((bookmark: any) => bookmark.id).sort(), [ids[2], ids[3]].sort());

    assert.deepEqual(appends.map((bodies) => bodies.length), [2, 1, 4, 2], "one append per bulk edit, one event per changed bookmark");
    const nothing = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[0]], action: "mark_read" } });
    assert.deepEqual(nothing.json.data.changed, []);
    assert.equal(appends.length, 4, "nothing to change, nothing appended");
  });

  test("make public / make private reach the firehose only once committed; delete erases; replay after a restart is exact", async () => {
    const firehose = await Client.open(wsUrl(nasty, "/ws"));
    const headAtArrival: number[] = [];
    firehose.socket.on("message", () => headAtArrival.push(nasty.log.lastSeq));
    await subscribe(firehose, "bookmarks:firehose");
    const stranger = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(stranger, "bookmarks:user:alice");

    appends.length = 0;
    // ids[1] and ids[3] are private: made public, they are created on the firehose; ids[0] is public already.
    const published = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[0], ids[1], ids[3]], action: "make_public" } });
    assert.deepEqual(published.json.data.changed, [ids[1], ids[3]]);
    await firehose.barrier();
    assert.deepEqual(firehose.events("bookmarks:firehose"), [["bookmark_created", ids[1]], ["bookmark_created", ids[3]]]);
    const pushes = firehose.pushes();
    for (const push of pushes) assert.ok(typeof push.seq === "number" && push.seq <= nasty.log.lastSeq);
    assert.ok(headAtArrival.length >= 2 && headAtArrival.every((head, index) => index === 0 || head >= (pushes[0]?.seq ?? Infinity)), "every push arrived after its event was committed");

    const hidden = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[1], ids[2]], action: "make_private" } });
    assert.deepEqual(hidden.json.data.changed, [ids[1], ids[2]]);
    await firehose.barrier();
    await stranger.barrier();
    assert.deepEqual(firehose.events("bookmarks:firehose").slice(2), [["bookmark_deleted", ids[1]], ["bookmark_deleted", ids[2]]], "made private, they leave the firehose");
    assert.deepEqual(stranger.events("bookmarks:user:alice").slice(-2), [["bookmark_deleted", ids[1]], ["bookmark_deleted", ids[2]]]);
    const anonymous = await request(base, "GET", "/api/bookmarks?user=alice");
    assert.deepEqual(anonymous.json.data.map((bookmark: any) => bookmark.id).sort(), [ids[0], ids[3]].sort(), "others see only the public ones");

    const gone = await request(base, "POST", "/api/bookmarks/bulk", { token: alice, body: { ids: [ids[3]], action: "delete" } });
    assert.deepEqual(gone.json.data.changed, [ids[3]]);
    await firehose.barrier();
    assert.deepEqual(firehose.events("bookmarks:firehose").at(-1), ["bookmark_deleted", ids[3]]);
    assert.equal((await request(base, "GET", `/api/bookmarks/${ids[3]}`, { token: alice })).status, 404);
    assert.deepEqual(appends.map((bodies) => bodies.map((body) => body.type)), [["bookmark.updated", "bookmark.updated"], ["bookmark.updated", "bookmark.updated"], ["bookmark.deleted"]]);
    await firehose.close();
    await stranger.close();

    const live = snapshot(nasty.store);
    await nasty.close();
    nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
    base = nasty.url;
    assert.deepEqual(snapshot(nasty.store), live, "the store after replay is the store before the restart");
    appends = watchAppends(nasty);
  });

  test("tag care: rename, merge, delete through the native API, one append each, owner's bookmarks only", async () => {
    await createBookmark(base, alice, { title: "A4", url: "https://a.example/4", tags: ["golang", "web"], public: true });
    const seq = nasty.log.lastSeq;
    const refusals: [string, string, unknown, number, RegExp][] = [
      ["PATCH", "/api/tags/nothing", { name: "x" }, 404, /none of your bookmarks is tagged "nothing"/],
      ["PATCH", "/api/tags/web", { name: "" }, 422, /name can't be blank/],
      ["PATCH", "/api/tags/web", { name: "a, b" }, 422, /name must be one tag \(no commas\)/],
      ["PATCH", "/api/tags/web", { name: "x".repeat(65) }, 422, /name must be at most 64 characters/],
      ["PATCH", "/api/tags/web", { name: " WEB " }, 422, /already called "web"/],
      ["PATCH", "/api/tags/web", { name: 7 }, 422, /name must be a string/],
      ["PATCH", "/api/tags/web", [], 400, /Expected an object/],
      ["DELETE", "/api/tags/nothing", undefined, 404, /none of your bookmarks is tagged/],
      ["DELETE", "/api/tags/%FF", undefined, 400, /not UTF-8/],
    ];
    for (const [method, path, body, status, message] of refusals) {
      const reply = await request(base, method, path, { token: alice, body });
      assert.equal(reply.status, status, `${method} ${path}: ${reply.text}`);
      assert.match(reply.json.error, message);
    }
    assert.equal((await request(base, "PATCH", "/api/tags/web", { body: { name: "www" } })).status, 401);
    assert.equal(nasty.log.lastSeq, seq, "nothing was appended");

    const watcher = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(watcher, "bookmarks:tag:web");
    await subscribe(watcher, "bookmarks:tag:the-web");
    const a4 = (await request(base, "GET", "/api/bookmarks?user=alice&tag=golang", { token: alice })).json.data[0].id;
    const renamed = await request(base, "PATCH", "/api/tags/Web", { token: alice, body: { name: "The Web" } });
    assert.equal(renamed.status, 200, renamed.text);
    await watcher.barrier();
    assert.deepEqual(watcher.events("bookmarks:tag:web").map(([event, id]) => [event, id]).sort(), [["bookmark_deleted", ids[0]], ["bookmark_deleted", a4]].sort(), "the public ones leave the old tag's topic, live");
    assert.deepEqual(watcher.events("bookmarks:tag:the-web").sort(), [["bookmark_created", ids[0]], ["bookmark_created", a4]].sort(), "and arrive on the new one; the private ones on neither");
    await watcher.close();
    assert.deepEqual(renamed.json.data, { tag: "web", name: "the-web", bookmarks: 4 });
    assert.deepEqual(await titlesTagged("the-web"), ["A0", "A1", "A2", "A4"]);
    assert.deepEqual(await titlesTagged("web"), []);
    assert.deepEqual((await request(base, "GET", `/api/bookmarks/${bobsPublic}`)).json.data.tags, ["rust"], "bob's tags are his own");

    const merged = await request(base, "PATCH", "/api/tags/golang", { token: alice, body: { name: "rust" } });
    assert.deepEqual(merged.json.data, { tag: "golang", name: "rust", bookmarks: 1 });
    assert.deepEqual(await titlesTagged("rust"), ["A0", "A1", "A4"]);
    const a0 = (await request(base, "GET", `/api/bookmarks/${ids[0]}`, { token: alice })).json.data;
    assert.deepEqual(a0.tags, ["rust", "the-web", "later"]);

    await request(base, "PATCH", `/api/bookmarks/${ids[1]}`, { token: alice, body: { tags: ["rust", "the-web", "later"] } });
    const mergedOnto = await request(base, "PATCH", "/api/tags/the-web", { token: alice, body: { name: "later" } });
    assert.equal(mergedOnto.json.data.bookmarks, 4);
    assert.deepEqual((await request(base, "GET", `/api/bookmarks/${ids[1]}`, { token: alice })).json.data.tags, ["rust", "later"], "a bookmark carrying both keeps one");

    const deleted = await request(base, "DELETE", "/api/tags/rust", { token: alice });
    assert.equal(deleted.status, 204);
    assert.deepEqual(await titlesTagged("rust"), []);
    assert.equal((await request(base, "GET", "/api/bookmarks?user=alice&limit=100", { token: alice })).json.data.length, 4, "the bookmarks stay");
    assert.deepEqual((await request(base, "GET", "/api/bookmarks?tag=rust")).json.data.map((bookmark: any) => bookmark.id), [bobsPublic]);
    assert.deepEqual(appends.slice(-5).map((bodies) => bodies.length), [4, 1, 1, 4, 3], "one append per tag change (and one for the PATCH between)");
  });

  test("a tag named in a path or a tag form is normalized like every tag (trimmed, lower-cased): PATCH/DELETE /api/tags/:name and /tags's forms", async () => {
    const carol = await signUp(base, "carol");
    await createBookmark(base, carol, { title: "C1", url: "https://c.example/1", tags: ["Shared", "Other Tag"] });
    const carolsTags = async () => (await request(base, "GET", "/api/bookmarks?user=carol", { token: carol })).json.data[0].tags;
    assert.deepEqual(await carolsTags(), ["shared", "other-tag"], "stored lower-cased, spaces as hyphens");
    const renamed = await request(base, "PATCH", "/api/tags/Shared", { token: carol, body: { name: "Common" } });
    assert.equal(renamed.status, 200, renamed.text);
    assert.deepEqual(renamed.json.data, { tag: "shared", name: "common", bookmarks: 1 });
    assert.equal((await request(base, "DELETE", "/api/tags/%20COMMON%20", { token: carol })).status, 204);
    assert.deepEqual(await carolsTags(), ["other-tag"]);
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("carol")).status, 303);
    await browser.get("/tags");
    assert.equal((await browser.post("/tags/rename", { tag: " Other Tag ", name: "Kept" })).status, 303);
    assert.deepEqual(await carolsTags(), ["kept"]);
    await browser.get("/tags");
    assert.equal((await browser.post("/tags/delete", { tag: "KEPT", confirm: "yes" })).status, 303);
    assert.deepEqual(await carolsTags(), []);
  });

  test("Pinboard's tags/rename and tags/delete and linkding's tag endpoints are the same commands", async () => {
    await createBookmark(base, alice, { title: "P1", url: "https://p.example/1", tags: ["pin", "board"] });
    await createBookmark(base, alice, { title: "P2", url: "https://p.example/2", tags: ["pin"] });
    const pinboard = (method: string, query: string) => request(base, "GET", `/v1/${method}?auth_token=alice:${alice}&format=json&${query}`);
    appends.length = 0;
    assert.deepEqual((await pinboard("tags/rename", "old=pin&new=pinned")).json, { result: "done" });
    assert.deepEqual(await titlesTagged("pinned"), ["P1", "P2"]);
    assert.deepEqual((await pinboard("tags/rename", "old=absent&new=x")).json, { result: "done" }, "a tag nobody of yours carries is already renamed");
    const badName = await pinboard("tags/rename", `old=pinned&new=${"y".repeat(65)}`);
    assert.equal(badName.status, 422);
    assert.deepEqual((await pinboard("tags/delete", "tag=board")).json, { result: "done" });
    assert.deepEqual(await titlesTagged("board"), []);
    assert.deepEqual(appends.map((bodies) => bodies.length), [2, 1]);

    const tags = (await request(base, "GET", "/api/tags/", { headers: { authorization: `Token ${alice}` } })).json.results;
    const pinned = tags.find((tag: any) => tag.name === "pinned");
    const renamed = await request(base, "PATCH", `/api/tags/${pinned.id}/`, { headers: { authorization: `Token ${alice}` }, body: { name: "kept" } });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.json.name, "kept");
    assert.deepEqual(await titlesTagged("kept"), ["P1", "P2"]);
    const badRename = await request(base, "PATCH", `/api/tags/${renamed.json.id}/`, { headers: { authorization: `Token ${alice}` }, body: { name: "" } });
    assert.equal(badRename.status, 400);
    assert.deepEqual(badRename.json, { name: ["can't be blank"] });
    const removed = await request(base, "DELETE", `/api/tags/${renamed.json.id}/`, { headers: { authorization: `Token ${alice}` } });
    assert.equal(removed.status, 204);
    assert.deepEqual(await titlesTagged("kept"), []);
    assert.equal((await request(base, "DELETE", `/api/tags/${renamed.json.id}/`, { headers: { authorization: `Token ${alice}` } })).status, 404);
    assert.deepEqual(appends.map((bodies) => bodies.length), [2, 1, 2, 2]);
  });

  test("every list of yours has the bulk bar: your page, /bookmarks, the reading list and the broken links page", async () => {
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("alice")).status, 303);
    for (const path of ["/bookmarks", "/u/alice", "/u/alice/unread", "/bookmarks/broken"]) {
      const list = await browser.get(path);
      assert.equal(list.status, 200, path);
      assert.match(list.text, /<form class="bulk-bar" id="bulk"/, `${path} has the bulk bar`);
    }
    for (const path of ["/", "/u/bob", "/t/rust"]) assert.doesNotMatch((await browser.get(path)).text, /id="bulk"/, `${path} is not a list of yours`);
  });

  test("without JavaScript: the bulk form and the tag forms post, go back to the list, and refuse with an error page", async () => {
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("alice")).status, 303);
    const list = await browser.get("/u/alice");
    assert.match(list.text, /<form class="bulk-bar" id="bulk"/, "your own page has the bulk bar");
    assert.match(list.text, /<input class="bulk-pick" type="checkbox" name="ids" value="\d+" form="bulk"/);
    assert.doesNotMatch((await new PageClient(base).get("/u/alice")).text, /id="bulk"/, "nobody else's view of it has");
    const mine = (await request(base, "GET", "/api/bookmarks?user=alice&limit=100", { token: alice })).json.data;
    const post = (path: string, fields: [string, string][]) => fetch(base + path, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: browser.cookieHeader(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([...fields, ["_csrf", csrfOf(list.text)]]).toString(),
    });
    const done = await post("/bookmarks/bulk", [["ids", String(mine[0].id)], ["ids", String(mine[1].id)], ["action", "add_tags"], ["tags", "nojs"], ["back", "/u/alice"]]);
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), "/u/alice");
    assert.deepEqual(await titlesTagged("nojs"), [mine[0].title, mine[1].title].sort());
    const refused = await post("/bookmarks/bulk", [["ids", String(mine[0].id)], ["ids", String(bobsPublic)], ["action", "delete"], ["back", "//evil.example/"]]);
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /belongs to bob; only its owner may change it/);
    assert.equal((await request(base, "GET", `/api/bookmarks/${mine[0].id}`, { token: alice })).status, 200, "nothing was deleted");
    const offsite = await post("/bookmarks/bulk", [["ids", String(mine[0].id)], ["action", "mark_unread"], ["back", "//evil.example/"]]);
    assert.equal(offsite.headers.get("location"), "/bookmarks", "back only to a local path");
    const forged = await fetch(base + "/bookmarks/bulk", { method: "POST", redirect: "manual", headers: { cookie: browser.cookieHeader(), "content-type": "application/x-www-form-urlencoded" }, body: `ids=${mine[0].id}&action=delete` });
    assert.equal(forged.status, 403, "no CSRF token, no change");

    const renamed = await post("/tags/rename", [["tag", "nojs"], ["name", "no-script"]]);
    assert.equal(renamed.status, 303);
    assert.equal(renamed.headers.get("location"), "/tags#my-tags");
    assert.deepEqual(await titlesTagged("no-script"), [mine[0].title, mine[1].title].sort());
    const tagsPage = await browser.get("/tags");
    assert.match(tagsPage.text, /<tr data-tag="no-script">/);
    const missing = await post("/tags/delete", [["tag", "never-used"]]);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /none of your bookmarks is tagged &quot;never-used&quot;/);

    // Deleting a tag asks first: a page naming what happens, whose form sends the same again with confirm=yes.
    const asked = await post("/tags/delete", [["tag", "no-script"]]);
    assert.equal(asked.status, 200);
    const question = await asked.text();
    assert.match(question, /<h1 id="confirm-heading">Delete the tag “no-script”\?<\/h1>/);
    assert.match(question, /It comes off your 2 bookmarks; the bookmarks stay\./);
    assert.match(question, /<form method="post" action="\/tags\/delete">[^]*<input type="hidden" name="tag" value="no-script">[^]*<input type="hidden" name="confirm" value="yes">/);
    assert.match(question, /<a href="\/tags#my-tags">cancel<\/a>/);
    assert.deepEqual(await titlesTagged("no-script"), [mine[0].title, mine[1].title].sort(), "asking deleted nothing");
    const unconfirmedHtmx = await fetch(base + "/tags/delete", {
      method: "POST",
      headers: { cookie: browser.cookieHeader(), "content-type": "application/x-www-form-urlencoded", "hx-request": "true", origin: base },
      body: new URLSearchParams([["tag", "no-script"], ["confirm", ""], ["_csrf", csrfOf(list.text)]]).toString(),
    });
    assert.equal(unconfirmedHtmx.status, 422);
    assert.match(await unconfirmedHtmx.text(), /deleting asks first/);
    assert.deepEqual(await titlesTagged("no-script"), [mine[0].title, mine[1].title].sort(), "nor did htmx without the confirmation");
    assert.equal((await post("/tags/delete", [["tag", "no-script"], ["confirm", "yes"]])).status, 303);
    assert.deepEqual(await titlesTagged("no-script"), []);
  });

  test("without JavaScript: a bulk delete asks on a page first, deletes only once confirmed, and the list says how many went", async () => {
    const browser = new PageClient(base);
    assert.equal((await browser.logIn("alice")).status, 303);
    const gone = [];
    for (let index = 0; index < 2; index += 1) gone.push(await createBookmark(base, alice, { title: `Going <${index}>`, url: `https://going.example/${index}` }));
    const kept = await createBookmark(base, alice, { title: "Kept", url: "https://going.example/kept" });
    const list = await browser.get("/bookmarks");
    const post = (fields: [string, string][]) => fetch(base + "/bookmarks/bulk", {
      method: "POST",
      redirect: "manual",
      headers: { cookie: browser.cookieHeader(), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([...fields, ["_csrf", csrfOf(list.text)]]).toString(),
    });
    const picked: [string, string][] = gone.map((bookmark) => ["ids", String(bookmark.id)]);
    const seq = nasty.log.lastSeq;

    const asked = await post([...picked, ["action", "delete"], ["tags", ""], ["back", "/bookmarks"], ["confirm", ""]]);
    assert.equal(asked.status, 200);
    const question = await asked.text();
    assert.match(question, /<h1 id="confirm-heading">Delete 2 bookmarks\?<\/h1>/);
    assert.match(question, /<li><bdi>Going &lt;0&gt;<\/bdi><\/li><li><bdi>Going &lt;1&gt;<\/bdi><\/li>/, "the titles, escaped");
    for (const bookmark of gone) assert.match(question, new RegExp(`<input type="hidden" name="ids" value="${bookmark.id}">`));
    assert.doesNotMatch(question, new RegExp(`value="${kept.id}"`));
    assert.match(question, /<button class="danger" type="submit">Delete 2 bookmarks<\/button> <a href="\/bookmarks">cancel<\/a>/);
    assert.equal(nasty.log.lastSeq, seq, "asking appended nothing");
    for (const bookmark of gone) assert.equal((await request(base, "GET", `/api/bookmarks/${bookmark.id}`, { token: alice })).status, 200);

    const notYours = await post([["ids", String(gone[0]!.id)], ["ids", String(bobsPublic)], ["action", "delete"], ["back", "/bookmarks"]]);
    assert.equal(notYours.status, 403, "a selection the delete would refuse is refused before asking");
    assert.match(await notYours.text(), /belongs to bob/);

    // The page's own form, as a browser would send it.
    const fields = [...question.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((match): [string, string] => [match[1]!, match[2]!]).filter(([name]) => name !== "_csrf");
    const done = await post(fields);
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), "/bookmarks?deleted=2");
    for (const bookmark of gone) assert.equal((await request(base, "GET", `/api/bookmarks/${bookmark.id}`, { token: alice })).status, 404);
    assert.equal((await request(base, "GET", `/api/bookmarks/${kept.id}`, { token: alice })).status, 200);
    const after = await browser.get("/bookmarks?deleted=2");
    assert.match(after.text, /<p class="notice" role="status">Deleted 2 bookmarks\.<\/p>/);
    assert.doesNotMatch((await browser.get("/bookmarks")).text, /Deleted \d+ bookmark/, "said once, not on every visit");
  });
});
