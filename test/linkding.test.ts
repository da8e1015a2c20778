// linkding's REST API (trailing-slash paths under /api/): the request shapes its docs, browser extension and apps use, with bad and missing auth.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

describe("linkding API", () => {
  let nasty: Nasty;
  let base: string;
  let token: string;
  let other: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    token = await signUp(base, "linker");
    other = await signUp(base, "other");
  });
  after(() => nasty.close());

  /** linkding clients send `Authorization: Token <token>`. */
  const call = (method: string, path: string, body?: unknown, who = token) => request(base, method, path, { headers: { authorization: `Token ${who}` }, body });

  test("POST /api/bookmarks/ with linkding's fields, then GET it back; the same URL again updates it", async () => {
    const created = await call("POST", "/api/bookmarks/", { url: "https://example.com", title: "Example title", description: "Example description", notes: "Example notes", is_archived: false, unread: true, shared: false, tag_names: ["tag1", "tag2"] });
    assert.equal(created.status, 201, created.text);
    const bookmark = created.json;
    assert.deepEqual(Object.keys(bookmark).sort(), ["date_added", "date_modified", "description", "favicon_url", "id", "is_archived", "notes", "preview_image_url", "shared", "tag_names", "title", "unread", "url", "web_archive_snapshot_url", "website_description", "website_title"]);
    assert.deepEqual([bookmark.url, bookmark.title, bookmark.description, bookmark.unread, bookmark.shared, bookmark.tag_names], ["https://example.com", "Example title", "Example description", true, false, ["tag1", "tag2"]]);
    const fetched = await call("GET", `/api/bookmarks/${bookmark.id}/`);
    assert.deepEqual(fetched.json, bookmark);

    const again = await call("POST", "/api/bookmarks/", { url: "https://example.com", title: "Better title", tag_names: ["tag1"], shared: true });
    assert.equal(again.status, 201);
    assert.equal(again.json.id, bookmark.id, "an existing URL is updated, not duplicated");
    assert.deepEqual([again.json.title, again.json.tag_names, again.json.shared], ["Better title", ["tag1"], true]);

    const untitled = await call("POST", "/api/bookmarks/", { url: "https://untitled.example/page" });
    assert.equal(untitled.status, 201);
    assert.equal(untitled.json.title, "https://untitled.example/page", "a bookmark without a title is titled by its URL");
    assert.equal(untitled.json.shared, false, "linkding bookmarks are not shared unless asked");
  });

  test("GET /api/bookmarks/ with q, limit and offset; archived is empty; our own /api/bookmarks is untouched", async () => {
    for (let index = 0; index < 3; index += 1) await call("POST", "/api/bookmarks/", { url: `https://page.example/${index}`, title: `Paged ${index}`, tag_names: ["paged"] });
    const first = await call("GET", "/api/bookmarks/?limit=2");
    assert.equal(first.status, 200);
    assert.equal(first.json.count, 5);
    assert.deepEqual(first.json.results.map((item: any) => item.title), ["Paged 2", "Paged 1"]);
    assert.equal(first.json.previous, null);
    assert.equal(first.json.next, `${base}/api/bookmarks/?limit=2&offset=2`);
    const second = await request(base, "GET", new URL(first.json.next).pathname + new URL(first.json.next).search, { headers: { authorization: `Token ${token}` } });
    assert.deepEqual(second.json.results.map((item: any) => item.title), ["Paged 0", "https://untitled.example/page"]);
    assert.equal(second.json.previous, `${base}/api/bookmarks/?limit=2&offset=0`);
    const searched = await call("GET", "/api/bookmarks/?q=%23paged%20paged%201");
    assert.deepEqual(searched.json.results.map((item: any) => item.title), ["Paged 1"]);
    assert.deepEqual((await call("GET", "/api/bookmarks/archived/")).json, { count: 0, next: null, previous: null, results: [] });
    assert.deepEqual((await call("GET", "/api/bookmarks/", undefined, other)).json.results, [], "each user lists only their own");
    const ours = await request(base, "GET", "/api/bookmarks?user=linker", { token });
    assert.ok(Array.isArray(ours.json.data), "the trailing-slash-free /api/bookmarks keeps Nasty's shape");
  });

  test("PUT, PATCH and DELETE /api/bookmarks/<id>/, archive refused, unarchive a no-op", async () => {
    const created = (await call("POST", "/api/bookmarks/", { url: "https://edit.example/", title: "To edit", tag_names: ["a"] })).json;
    const patched = await call("PATCH", `/api/bookmarks/${created.id}/`, { unread: true, tag_names: ["b", "c"] });
    assert.equal(patched.status, 200);
    assert.deepEqual([patched.json.title, patched.json.unread, patched.json.tag_names], ["To edit", true, ["b", "c"]]);
    const put = await call("PUT", `/api/bookmarks/${created.id}/`, { url: "https://edited.example/", title: "Edited", shared: true });
    assert.equal(put.status, 200);
    assert.deepEqual([put.json.url, put.json.title, put.json.shared], ["https://edited.example/", "Edited", true]);
    const noUrl = await call("PUT", `/api/bookmarks/${created.id}/`, { title: "x" });
    assert.equal(noUrl.status, 400);
    assert.deepEqual(noUrl.json.url, ["This field is required."]);
    const invalid = await call("PATCH", `/api/bookmarks/${created.id}/`, { url: "not a url", tag_names: 7 });
    assert.equal(invalid.status, 400);
    assert.deepEqual(Object.keys(invalid.json).sort(), ["tag_names", "url"], "field errors under linkding's names");
    assert.equal((await call("POST", `/api/bookmarks/${created.id}/archive/`)).status, 400);
    assert.equal((await call("POST", `/api/bookmarks/${created.id}/unarchive/`)).status, 204);
    assert.equal((await call("PATCH", `/api/bookmarks/${created.id}/`, { title: "x" }, other)).status, 403);
    assert.equal((await call("DELETE", `/api/bookmarks/${created.id}/`)).status, 204);
    const gone = await call("GET", `/api/bookmarks/${created.id}/`);
    assert.equal(gone.status, 404);
    assert.ok(typeof gone.json.detail === "string");
  });

  test("GET /api/bookmarks/check/?url= and the tag endpoints", async () => {
    const known = await call("GET", `/api/bookmarks/check/?url=${encodeURIComponent("https://example.com")}`);
    assert.equal(known.status, 200);
    assert.equal(known.json.bookmark.title, "Better title");
    assert.deepEqual(known.json.metadata, { url: "https://example.com", title: null, description: null, preview_image: null });
    assert.deepEqual(known.json.auto_tags, []);
    const unknown = await call("GET", "/api/bookmarks/check/?url=https://never.example/");
    assert.equal(unknown.json.bookmark, null);
    assert.equal((await call("GET", "/api/bookmarks/check/")).status, 400);

    const tags = await call("GET", "/api/tags/");
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json.results.map((tag: any) => tag.name), ["paged", "tag1"]);
    const tag = tags.json.results[0];
    assert.equal(typeof tag.id, "number");
    assert.match(tag.date_added, /^\d{4}-/);
    assert.deepEqual((await call("GET", `/api/tags/${tag.id}/`)).json, tag);
    assert.equal((await call("GET", "/api/tags/12345/")).status, 404);
    const made = await call("POST", "/api/tags/", { name: "Fresh Tag" });
    assert.equal(made.status, 201);
    assert.equal(made.json.name, "fresh-tag");
    assert.equal((await call("POST", "/api/tags/", { name: "" })).status, 400);
    const profile = await call("GET", "/api/user/profile/");
    assert.equal(profile.status, 200);
    assert.equal(profile.json.search_preferences.sort, "added_desc");
  });

  test("missing and bad tokens are 401 with a detail", async () => {
    const missing = await request(base, "GET", "/api/bookmarks/");
    assert.equal(missing.status, 401);
    assert.match(missing.json.detail, /authentication required/);
    const bad = await request(base, "GET", "/api/tags/", { headers: { authorization: "Token nasty_not-a-token" } });
    assert.equal(bad.status, 401);
    assert.match(bad.json.detail, /invalid or revoked token/);
    assert.equal((await request(base, "POST", "/api/bookmarks/", { body: { url: "https://x.example/" } })).status, 401);
    const malformed = await request(base, "POST", "/api/bookmarks/", { headers: { authorization: `Token ${token}`, "content-type": "application/json" }, raw: "{" });
    assert.equal(malformed.status, 400);
  });
});
