// Bookmark notes (issue 17 item 5): a durable Markdown field through the API, search, live frames, restarts, old snapshots, export and import, linkding.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { createBookmark, othersView, request, signUp, startServerProcess, startTestServer, tempDir } from "./support/server.ts";
import { Client, subscribe, wsUrl } from "./support/realtime.ts";
import { PageClient } from "./support/pages.ts";
import { LIMITS } from "../src/commands/schemas.ts";
import { BOOKMARK_BODY_BYTES_MAX } from "../src/http/router.ts";
import { snapshot } from "../src/store/check.ts";
import { listSnapshots } from "../src/log/snapshot-file.ts";
import type { Nasty } from "../src/main.ts";

/** Markdown as people write it: a heading, an indented code block, markup characters, line breaks and text in several scripts. */
const NOTES = "# Why I kept this\n\nSee *zephyrine* & <b>bold</b> [docs](https://docs.example/a?b=1&c=2).\n\n    indented code\n\n- crème brûlée ☕\n- 日本語";

/** Text of `count` characters outside the BMP (two UTF-16 units, four bytes of UTF-8 each): the widest a character gets. */
const wide = (count: number, codePoint = 0x1f600) => String.fromCodePoint(codePoint).repeat(count);

const search = (base: string, query: string, token?: string) => request(base, "GET", `/api/bookmarks?q=${encodeURIComponent(query)}`, { token }).then((reply) => {
  assert.equal(reply.status, 200, reply.text);
  return (reply.json.data as { id: number }[]).map((bookmark) => bookmark.id);
});

/** One server for the suites below (the restart tests start their own). */
let nasty: Nasty;
let base = "";
let [alice, bob] = ["", ""];
before(async () => {
  nasty = await startTestServer();
  base = nasty.url;
  [alice = "", bob = ""] = await Promise.all(["alice", "bob"].map((name) => signUp(base, name)));
});
after(() => nasty.close());

describe("notes through the JSON API", () => {
  test("created with notes and without: answered as written, empty by default, seen by whoever sees the bookmark", async () => {
    const plain = await createBookmark(base, alice, { title: "Plain", url: "https://plain.example" });
    assert.equal(plain.notes, "", "no notes: an empty string, always present");
    const noted = await createBookmark(base, alice, { title: "Noted", url: "https://noted.example", notes: `\n\n${NOTES}  \n\n` });
    assert.equal(noted.notes, NOTES, "blank lines before and whitespace after are dropped, the rest kept exactly");
    assert.equal((await request(base, "GET", `/api/bookmarks/${noted.id}`, { token: alice })).json.data.notes, NOTES);
    assert.deepEqual((await request(base, "GET", `/api/bookmarks/${noted.id}`, { token: bob })).json.data, othersView(noted), "others see a public bookmark's notes, like its description");
    const indented = await createBookmark(base, alice, { title: "Code first", url: "https://code.example", notes: "    first line is code\nsecond" });
    assert.equal(indented.notes, "    first line is code\nsecond", "leading indentation means code in Markdown: kept");
    const hidden = await createBookmark(base, alice, { title: "Hidden", url: "https://hidden.example", notes: "private zanzibarite", public: false });
    assert.equal((await request(base, "GET", `/api/bookmarks/${hidden.id}`, { token: bob })).status, 404);
    assert.equal(nasty.store.bookmarksById.get(noted.id)!.notes, NOTES);
  });

  test("PATCH changes notes alone, clears them with \"\" or null, and leaves them when not named", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Edited", url: "https://edited.example", description: "kept", notes: "first" });
    const patch = async (body: unknown) => {
      const reply = await request(base, "PATCH", `/api/bookmarks/${bookmark.id}`, { token: alice, body });
      assert.equal(reply.status, 200, reply.text);
      return reply.json.bookmark.data;
    };
    assert.deepEqual([(await patch({ notes: "second\r\nline\rthird" })).notes, nasty.store.bookmarksById.get(bookmark.id)!.description], ["second\nline\nthird", "kept"], "line breaks are stored as LF");
    assert.equal((await patch({ bookmark: { title: "Edited again" } })).notes, "second\nline\nthird", "a change that does not name notes keeps them");
    assert.equal((await patch({ notes: "" })).notes, "");
    assert.equal((await patch({ notes: "back" })).notes, "back");
    assert.equal((await patch({ notes: null })).notes, "");
    assert.equal((await request(base, "PATCH", `/api/bookmarks/${bookmark.id}`, { token: bob, body: { notes: "not yours" } })).status, 403);
  });

  test("over 10,000 characters, not text, or control characters: 422 naming notes, nothing saved", async () => {
    const exactly = await createBookmark(base, alice, { title: "Long", url: "https://long.example", notes: "n".repeat(10_000) });
    assert.equal(exactly.notes.length, 10_000, "10,000 characters are allowed");
    const multiByte = await createBookmark(base, alice, { title: "Wide", url: "https://wide.example", notes: "☕".repeat(10_000) });
    assert.equal(multiByte.notes, "☕".repeat(10_000), "30,000 bytes of UTF-8 fit");
    const emoji = await createBookmark(base, alice, { title: "Emoji", url: "https://emoji-notes.example", notes: wide(10_000) });
    assert.equal(emoji.notes, wide(10_000), "10,000 emoji are 10,000 characters (20,000 UTF-16 units)");
    const before = nasty.log.lastSeq;
    const refused = async (path: string, method: string, body: unknown, message: RegExp) => {
      const reply = await request(base, method, path, { token: alice, body });
      assert.equal(reply.status, 422, reply.text);
      assert.deepEqual(Object.keys(reply.json.errors), ["notes"]);
      assert.match(reply.json.errors.notes[0], message);
    };
    await refused("/api/bookmarks", "POST", { bookmark: { title: "Too long", url: "https://too-long.example", notes: "n".repeat(10_001) } }, /is too long \(at most 10,000 characters\)/);
    await refused(`/api/bookmarks/${exactly.id}`, "PATCH", { notes: "n".repeat(10_001) }, /is too long/);
    await refused(`/api/bookmarks/${emoji.id}`, "PATCH", { notes: wide(10_001) }, /is too long \(at most 10,000 characters\)/);
    await refused(`/api/bookmarks/${emoji.id}`, "PATCH", { notes: `${wide(9_999)}nn` }, /is too long/);
    await refused(`/api/bookmarks/${exactly.id}`, "PATCH", { notes: 42 }, /must be a string/);
    await refused(`/api/bookmarks/${exactly.id}`, "PATCH", { notes: "bell \u0007" }, /control characters other than tab and line breaks \(found U\+0007\)/);
    await refused(`/api/bookmarks/${exactly.id}`, "PATCH", { notes: "half \ud800" }, /lone UTF-16 surrogate/);
    assert.equal(nasty.log.lastSeq, before, "nothing was appended");
    assert.equal(nasty.store.bookmarksById.get(exactly.id)!.notes.length, 10_000);
  });

  test("notes words are searched, follow edits, and a private bookmark's notes are found by its owner alone", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Search me", url: "https://search-notes.example", notes: "about quokkaland and *marsupials*" });
    assert.deepEqual(await search(base, "quokkaland"), [bookmark.id]);
    assert.deepEqual(await search(base, "\"quokkaland and marsupials\""), [bookmark.id], "a phrase inside the notes");
    assert.deepEqual(await search(base, "quokkal"), [bookmark.id], "the last word as a prefix");
    await request(base, "PATCH", `/api/bookmarks/${bookmark.id}`, { token: alice, body: { notes: "now about wombatorium" } });
    assert.deepEqual(await search(base, "quokkaland"), [], "the old notes' words are gone from the index");
    assert.deepEqual(await search(base, "wombatorium"), [bookmark.id]);
    const hidden = await createBookmark(base, alice, { title: "Private", url: "https://private-notes.example", notes: "xylocarpous", public: false });
    assert.deepEqual(await search(base, "xylocarpous", alice), [hidden.id]);
    assert.deepEqual(await search(base, "xylocarpous", bob), []);
    assert.deepEqual(await search(base, "xylocarpous"), []);
  });

  test("live: a notes change reaches /ws and Phoenix JSON frames with `notes`; the original app's fixed payloads stay as they were", async () => {
    const raw = await Client.open(wsUrl(nasty, "/ws"));
    const legacy = await Client.open(wsUrl(nasty, "/socket/websocket?vsn=2.0.0"));
    try {
      await subscribe(raw, "bookmarks:firehose");
      await legacy.ask(["1", "1", "bookmark:feed", "phx_join", {}], (frame) => Array.isArray(frame) && frame[1] === "1", "the join reply");
      await legacy.ask(["2", "2", "bookmarks:firehose", "phx_join", {}], (frame) => Array.isArray(frame) && frame[1] === "2", "the join reply");
      const bookmark = await createBookmark(base, alice, { title: "Live notes", url: "https://live-notes.example", notes: "first" });
      const created = await raw.next((frame) => frame.event === "bookmark_created" && frame.payload.id === bookmark.id, "bookmark_created");
      assert.equal(created.payload.notes, "first");
      await request(base, "PATCH", `/api/bookmarks/${bookmark.id}`, { token: alice, body: { notes: "second" } });
      const updated = await raw.next((frame) => frame.event === "bookmark_updated" && frame.payload.id === bookmark.id && frame.payload.notes === "second", "bookmark_updated with the new notes");
      assert.equal(updated.payload.title, "Live notes");
      const phoenixCreated = await legacy.next((frame) => Array.isArray(frame) && frame[2] === "bookmarks:firehose" && frame[3] === "bookmark_created" && frame[4].id === bookmark.id, "Phoenix bookmark_created");
      assert.equal(phoenixCreated[4].notes, "first", "the tutorial's bookmark_created payload gains a key");
      const feed = await legacy.next((frame) => Array.isArray(frame) && frame[2] === "bookmark:feed" && frame[3] === "bookmark:updated" && frame[4].id === bookmark.id, "bookmark:updated on bookmark:feed");
      assert.deepEqual(Object.keys(feed[4]).filter((key) => key !== "seq").sort(), ["description", "id", "tags", "timestamp", "title", "url"], "the finished app's payload is unchanged");
    } finally {
      await raw.close();
      await legacy.close();
    }
  });
});

describe("notes in the add and edit forms", () => {
  test("the add form saves notes, the edit form shows them as text and changes them, a form without the field leaves them", async () => {
    const client = new PageClient(base);
    await client.signUp("former");
    const mine = await client.get("/bookmarks");
    assert.match(mine.text, /<textarea name="notes" rows="5" maxlength="10000" placeholder="Markdown"><\/textarea>/);
    const created = await client.post("/bookmarks", { url: "https://form-notes.example/", title: "From the form", notes: "<script>alert(1)</script>\r\n\r\n**bold**", public: "on" });
    assert.equal(created.status, 303);
    const [bookmark] = (await request(base, "GET", "/api/bookmarks?user=former")).json.data as { id: number; notes: string }[];
    assert.equal(bookmark!.notes, "<script>alert(1)</script>\n\n**bold**", "saved through the same command (line breaks as LF)");
    const edit = await client.get(`/b/${bookmark!.id}/edit`);
    assert.match(edit.text, /<textarea name="notes"[^>]*>&lt;script&gt;alert\(1\)&lt;\/script&gt;\n\n\*\*bold\*\*<\/textarea>/, "shown escaped, as the text it is");
    assert.equal((await client.post(`/b/${bookmark!.id}/edit`, { url: "https://form-notes.example/", title: "Renamed", tags: "", description: "", notes: "edited *notes*", public: "on" })).status, 303);
    assert.equal(nasty.store.bookmarksById.get(bookmark!.id as never)!.notes, "edited *notes*");
    assert.equal((await client.post(`/b/${bookmark!.id}/edit`, { url: "https://form-notes.example/", title: "Renamed again", tags: "", description: "", public: "on" })).status, 303);
    assert.equal(nasty.store.bookmarksById.get(bookmark!.id as never)!.notes, "edited *notes*", "a form posted without the notes field leaves them");
    const tooLong = await client.post(`/b/${bookmark!.id}/edit`, { url: "https://form-notes.example/", title: "x", notes: "n".repeat(10_001), public: "on" });
    assert.equal(tooLong.status, 422);
    assert.match(tooLong.text, /aria-invalid="true">n{10001}<\/textarea>/, "the form comes back with what was typed, marked invalid");
    assert.match(tooLong.text, /is too long \(at most 10,000 characters\)/);
  });
});

describe("notes in linkding's API", () => {
  const call = (method: string, path: string, body?: unknown) => request(base, method, path, { headers: { authorization: `Token ${bob}` }, body });

  test("create, PATCH, PUT and read keep notes; posting a saved URL again updates them; too long is linkding's 400 under notes", async () => {
    const created = await call("POST", "/api/bookmarks/", { url: "https://linkding.example", title: "Linked", notes: NOTES, tag_names: ["a"] });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.notes, NOTES);
    assert.equal((await call("GET", `/api/bookmarks/${created.json.id}/`)).json.notes, NOTES);
    assert.equal((await request(base, "GET", `/api/bookmarks/${created.json.id}`, { token: bob })).json.data.notes, NOTES, "the same notes in Nasty's own API");
    assert.equal((await call("PATCH", `/api/bookmarks/${created.json.id}/`, { notes: "patched" })).json.notes, "patched");
    const put = await call("PUT", `/api/bookmarks/${created.json.id}/`, { url: "https://linkding.example", title: "Put", notes: "put" });
    assert.deepEqual([put.status, put.json.title, put.json.notes], [200, "Put", "put"]);
    const again = await call("POST", "/api/bookmarks/", { url: "https://linkding.example", notes: "posted again" });
    assert.deepEqual([again.json.id, again.json.notes], [created.json.id, "posted again"]);
    const listed = await call("GET", "/api/bookmarks/?q=again");
    assert.deepEqual(listed.json.results.map((item: { notes: string }) => item.notes), ["posted again"], "linkding's search finds notes too");
    const tooLong = await call("PATCH", `/api/bookmarks/${created.json.id}/`, { notes: "n".repeat(10_001) });
    assert.equal(tooLong.status, 400);
    assert.match(tooLong.json.notes[0], /too long/);
    assert.equal(nasty.store.bookmarksById.get(created.json.id)!.notes, "posted again");
  });
});

/** The largest bookmark the schemas accept, every text field at its limit in emoji; `key` keeps each URL apart. */
function largestBookmark(key: string) {
  const prefix = `https://largest-${key}.example/`;
  return {
    url: prefix + wide(LIMITS.urlCharsMax - prefix.length),
    title: wide(LIMITS.titleCharsMax, 0x1f680),
    description: wide(LIMITS.descriptionCharsMax, 0x1f4da),
    notes: wide(LIMITS.notesCharsMax),
    tags: Array.from({ length: LIMITS.tagsPerBookmarkMax }, (_, index) => wide(LIMITS.tagCharsMax, 0x1f300 + index)),
  };
}

/** JSON as a client that escapes everything but ASCII writes it: an emoji is a \uXXXX\uXXXX surrogate pair, 12 bytes. */
const escapedJson = (value: unknown) => JSON.stringify(value).replace(/[\u0080-\uffff]/g, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`);

describe("the largest bookmark fits every route that saves one; one byte over the limit is 413 naming it", () => {
  const fields = ["url", "title", "description", "notes", "tags"] as const;
  const readBack = async (id: number) => (await request(base, "GET", `/api/bookmarks/${id}`, { token: alice })).json.data as Record<string, unknown>;
  const sameText = (saved: Record<string, unknown>, sent: Record<string, unknown>) => {
    for (const field of fields) assert.deepEqual(saved[field], sent[field], field);
  };

  test("the JSON API: escaped and raw, POST and PATCH, read back exactly", async () => {
    const escaped = largestBookmark("escaped");
    const body = escapedJson({ bookmark: escaped });
    assert.ok(body.length > 290_000 && body.length <= BOOKMARK_BODY_BYTES_MAX, `${body.length} bytes: far over 64 KiB, within the limit`);
    const created = await request(base, "POST", "/api/bookmarks", { token: alice, raw: body, headers: { "content-type": "application/json" } });
    assert.equal(created.status, 201, created.text.slice(0, 300));
    sameText(await readBack(created.json.bookmark.data.id), escaped);
    const raw = largestBookmark("raw");
    const createdRaw = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: raw } });
    assert.equal(createdRaw.status, 201, createdRaw.text.slice(0, 300));
    sameText(await readBack(createdRaw.json.bookmark.data.id), raw);
    const changed = { ...largestBookmark("patched"), notes: wide(LIMITS.notesCharsMax, 0x1f98a) };
    const patched = await request(base, "PATCH", `/api/bookmarks/${createdRaw.json.bookmark.data.id}`, { token: alice, raw: escapedJson({ bookmark: changed }), headers: { "content-type": "application/json" } });
    assert.equal(patched.status, 200, patched.text.slice(0, 300));
    sameText(await readBack(createdRaw.json.bookmark.data.id), changed);
  });

  test("the add and edit forms (percent-encoded, 12 bytes an emoji) save it and read back exactly", async () => {
    const client = new PageClient(base);
    await client.signUp("largest-former");
    const asForm = (bookmark: ReturnType<typeof largestBookmark>) => ({ ...bookmark, tags: bookmark.tags.join(", "), public: "on" });
    const added = largestBookmark("form");
    await client.get("/bookmarks");
    assert.ok(new URLSearchParams(asForm(added)).toString().length > 290_000);
    assert.equal((await client.post("/bookmarks", asForm(added))).status, 303);
    const [saved] = (await request(base, "GET", "/api/bookmarks?user=largest-former")).json.data as Record<string, unknown>[];
    sameText(saved!, added);
    const edited = { ...largestBookmark("form-edited"), notes: wide(LIMITS.notesCharsMax, 0x1f98a) };
    await client.get(`/b/${saved!.id}/edit`);
    const reply = await client.post(`/b/${saved!.id}/edit`, asForm(edited));
    assert.equal(reply.status, 303, reply.text.slice(0, 300));
    sameText((await request(base, "GET", `/api/bookmarks/${saved!.id}`)).json.data, edited);
  });

  test("linkding's create and Pinboard's posts/add by POST take it too", async () => {
    const linked = largestBookmark("linkding");
    const created = await request(base, "POST", "/api/bookmarks/", { headers: { authorization: `Token ${bob}`, "content-type": "application/json" }, raw: escapedJson({ url: linked.url, title: linked.title, description: linked.description, notes: linked.notes, tag_names: linked.tags }) });
    assert.equal(created.status, 201, created.text.slice(0, 300));
    assert.deepEqual([created.json.url, created.json.title, created.json.description, created.json.notes, created.json.tag_names], [linked.url, linked.title, linked.description, linked.notes, linked.tags]);
    const pinned = largestBookmark("pinboard");
    const form = new URLSearchParams({ auth_token: `bob:${bob}`, url: pinned.url, description: pinned.title, extended: pinned.description, tags: pinned.tags.join(" "), format: "json" });
    const added = await request(base, "POST", "/v1/posts/add", { raw: form.toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(added.status, 200, added.text.slice(0, 300));
    const saved = ((await request(base, "GET", "/api/bookmarks?user=bob", { token: bob })).json.data as Record<string, unknown>[]).find((bookmark) => bookmark.url === pinned.url);
    assert.deepEqual([saved?.url, saved?.description, saved?.tags], [pinned.url, pinned.description, pinned.tags]);
  });

  test("one byte over a bookmark route's limit is 413 naming it, in JSON and on the form's page; other routes keep 64 KiB", async () => {
    const [head, tail] = ['{"bookmark":{"url":"https://over.example","notes":"', '"}}'];
    const over = (bytes: number) => head + "n".repeat(bytes - head.length - tail.length) + tail;
    assert.equal(over(BOOKMARK_BODY_BYTES_MAX + 1).length, BOOKMARK_BODY_BYTES_MAX + 1);
    const refused = await request(base, "POST", "/api/bookmarks", { token: alice, raw: over(BOOKMARK_BODY_BYTES_MAX + 1), headers: { "content-type": "application/json" } });
    assert.equal(refused.status, 413);
    assert.match(refused.json.error, new RegExp(`over the limit of ${BOOKMARK_BODY_BYTES_MAX} bytes`));
    const atLimit = await request(base, "POST", "/api/bookmarks", { token: alice, raw: over(BOOKMARK_BODY_BYTES_MAX), headers: { "content-type": "application/json" } });
    assert.equal(atLimit.status, 422, "at the limit the body is read (and its too long notes named)");
    const client = new PageClient(base);
    await client.signUp("over-former");
    await client.get("/bookmarks");
    const page = await client.post("/bookmarks", { url: "https://over.example", notes: "n".repeat(BOOKMARK_BODY_BYTES_MAX) });
    assert.equal(page.status, 413);
    assert.match(page.text, new RegExp(`over the limit of ${BOOKMARK_BODY_BYTES_MAX} bytes`));
    const comment = await request(base, "POST", "/api/bookmarks/1/comments", { token: alice, raw: `{"body":"${"c".repeat(64 * 1024)}"}`, headers: { "content-type": "application/json" } });
    assert.equal(comment.status, 413);
    assert.match(comment.json.error, /over the limit of 65536 bytes/);
  });
});

describe("notes in Netscape files", () => {
  test("the export writes notes as linkding does, and importing it back gives the same notes", async () => {
    const source = await signUp(base, "exporter");
    const target = await signUp(base, "importer");
    const noted = await createBookmark(base, source, { title: "With notes", url: "https://with-notes.example", description: "a <description> & more", notes: NOTES });
    const onlyNotes = await createBookmark(base, source, { title: "Notes only", url: "https://notes-only.example", notes: "just *notes*" });
    const none = await createBookmark(base, source, { title: "Nothing", url: "https://nothing.example" });
    const exported = await request(base, "GET", "/api/export", { token: source });
    assert.equal(exported.status, 200);
    assert.ok(exported.text.includes("<DD>a &lt;description&gt; &amp; more[linkding-notes]# Why I kept this\n\nSee *zephyrine* &amp; &lt;b&gt;bold&lt;/b&gt;"), exported.text);
    assert.ok(exported.text.includes("<DD>[linkding-notes]just *notes*[/linkding-notes]\n"));
    assert.ok(!/nothing\.example[^\n]*\n<DD>/.test(exported.text), "no <DD> without description or notes");
    const imported = await request(base, "POST", "/api/import", { token: target, raw: exported.text, headers: { "content-type": "text/html" } });
    assert.equal(imported.status, 200, imported.text);
    assert.equal(imported.json.imported, 3);
    const mine = (await request(base, "GET", "/api/bookmarks?user=importer", { token: target })).json.data as { url: string; description: string; notes: string }[];
    const byUrl = new Map(mine.map((bookmark) => [bookmark.url, bookmark]));
    for (const original of [noted, onlyNotes, none]) {
      assert.deepEqual([byUrl.get(original.url)?.description, byUrl.get(original.url)?.notes], [original.description, original.notes], original.url);
    }
  });

  test("a linkding export's notes are read; notes over the limit are cut to it", async () => {
    const reader = await signUp(base, "reader");
    const file = [
      "<!DOCTYPE NETSCAPE-Bookmark-file-1>",
      "<DL><p>",
      '<DT><A HREF="https://ld.example/1" ADD_DATE="1700000000" PRIVATE="0" TOREAD="0" TAGS="x">From linkding</A>',
      "<DD>Example description[linkding-notes]Example notes &amp; more\nsecond line[/linkding-notes]",
      '<DT><A HREF="https://ld.example/2" ADD_DATE="1700000001">Long notes</A>',
      `<DD>[linkding-notes]${"n".repeat(12_000)}[/linkding-notes]`,
      '<DT><A HREF="https://ld.example/3" ADD_DATE="1700000002">Unclosed</A>',
      "<DD>desc[linkding-notes]runs to the end",
      "</DL><p>",
    ].join("\n");
    const reply = await request(base, "POST", "/api/import", { token: reader, raw: file, headers: { "content-type": "text/html" } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.imported, 3);
    const byUrl = new Map(((await request(base, "GET", "/api/bookmarks?user=reader", { token: reader })).json.data as { url: string; description: string; notes: string }[]).map((b) => [b.url, b]));
    assert.deepEqual([byUrl.get("https://ld.example/1")!.description, byUrl.get("https://ld.example/1")!.notes], ["Example description", "Example notes & more\nsecond line"]);
    assert.equal(byUrl.get("https://ld.example/2")!.notes.length, 10_000);
    assert.deepEqual([byUrl.get("https://ld.example/3")!.description, byUrl.get("https://ld.example/3")!.notes], ["desc", "runs to the end"]);
  });
});

test("notes survive a crash (log replay) and a clean restart (snapshot, search index from it)", async () => {
  const dataDir = tempDir();
  const first = await startServerProcess(dataDir);
  let ids: number[];
  try {
    const alice = await signUp(first.url, "alice");
    const noted = await createBookmark(first.url, alice, { title: "Kept", url: "https://kept.example", notes: `${NOTES}\n\nquasarpedia` });
    const cleared = await createBookmark(first.url, alice, { title: "Cleared", url: "https://cleared.example", notes: "to be cleared" });
    await request(first.url, "PATCH", `/api/bookmarks/${cleared.id}`, { token: alice, body: { notes: "" } });
    const edited = await createBookmark(first.url, alice, { title: "Edited", url: "https://edited.example", public: false });
    await request(first.url, "PATCH", `/api/bookmarks/${edited.id}`, { token: alice, body: { notes: "added later: heliotropic" } });
    ids = [noted.id, cleared.id, edited.id];
  } finally {
    const exited = once(first.child, "exit");
    first.child.kill("SIGKILL");
    await exited;
  }
  const replayed = await startTestServer({ NASTY_DATA_DIR: dataDir });
  let before: unknown;
  try {
    assert.equal(replayed.replayed.snapshot, null, "killed: no snapshot, the log is replayed");
    assert.deepEqual(ids.map((id) => replayed.store.bookmarksById.get(id as never)?.notes), [`${NOTES}\n\nquasarpedia`, "", "added later: heliotropic"]);
    assert.deepEqual(await search(replayed.url, "quasarpedia"), [ids[0]]);
    before = snapshot(replayed.store);
  } finally {
    await replayed.close();
  }
  const restored = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.ok(restored.replayed.snapshot !== null, "a clean shutdown left a snapshot");
    assert.equal(restored.replayed.events, 0);
    assert.equal(restored.replayed.search, "snapshot", "the search index came from the snapshot");
    assert.deepEqual(snapshot(restored.store), before, "the store read from the snapshot equals the replayed one");
    assert.deepEqual(await search(restored.url, "quasarpedia"), [ids[0]], "notes words are in the snapshot's search section");
    assert.equal(restored.store.columns.arena.deadBytes, 0, "the snapshot wrote live text only");
  } finally {
    await restored.close();
  }
});

test("a data directory written before notes existed (snapshot format 3) starts with empty notes, then takes notes and keeps them", async () => {
  const fixture = new URL("./fixtures/before-notes/", import.meta.url);
  const dataDir = tempDir();
  for (const name of fs.readdirSync(fixture)) fs.copyFileSync(new URL(name, fixture), path.join(dataDir, name));
  const header = (file: string) => JSON.parse(fs.readFileSync(file, "utf8").slice(0, 4096)) as { version: number };
  assert.equal(header(listSnapshots(dataDir)[0]!.file).version, 3, "the fixture is a format 3 snapshot, as the build before notes wrote it");
  const old = await startTestServer({ NASTY_DATA_DIR: dataDir });
  let id: number;
  try {
    assert.match(old.replayed.snapshot ?? "", /snapshot-0000000000000005\.nasty$/, "started from the old snapshot, not refused");
    const bookmarks = [...old.store.bookmarksById.values()];
    assert.deepEqual(bookmarks.map((bookmark) => [bookmark.title, bookmark.description, bookmark.notes, bookmark.tags]), [
      ["Before notes", "written by a build without notes", "", ["old", "format"]],
      ["Café ünïcode", "second", "", ["old"]],
    ]);
    assert.deepEqual(await search(old.url, "without"), [bookmarks[0]!.id], "the old search section still answers");
    id = bookmarks[1]!.id;
    await old.commands.updateBookmark(bookmarks[1]!.user, id, { notes: "now with *notes*: ornithopter" });
  } finally {
    await old.close();
  }
  const newest = listSnapshots(dataDir)[0]!.file;
  assert.equal(header(newest).version, 4, "the shutdown snapshot is written in the new format");
  const again = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal(again.replayed.snapshot, newest);
    assert.equal(again.store.bookmarksById.get(id as never)!.notes, "now with *notes*: ornithopter");
    assert.equal(again.store.bookmarksById.get(id as never)!.title, "Café ünïcode");
    const token = (await request(again.url, "POST", "/api/tokens", { body: { username: "olduser", password: "correct horse" } })).json.token as string;
    assert.deepEqual(await search(again.url, "ornithopter", token), [id]);
  } finally {
    await again.close();
  }
});
