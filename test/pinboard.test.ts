// Pinboard API v1 under /v1/: every method with the request shapes Pinboard documents, in XML and JSON, with bad and missing auth.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" });

describe("Pinboard API v1", () => {
  let nasty: Nasty;
  let base: string;
  let token: string;
  let auth: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    token = await signUp(base, "pinner", "pinner password");
    auth = `auth_token=pinner:${encodeURIComponent(token)}`;
  });
  after(() => nasty.close());

  const get = (method: string, query: string, options: { headers?: Record<string, string> } = {}) => request(base, "GET", `/v1/${method}?${query}`, options);
  const json = async (method: string, query = "") => {
    const reply = await get(method, `${auth}&format=json${query ? `&${query}` : ""}`);
    assert.equal(reply.status, 200, `${method}: ${reply.text}`);
    return reply.json;
  };
  const parsed = async (method: string, query = "") => {
    const reply = await get(method, `${auth}${query ? `&${query}` : ""}`);
    assert.equal(reply.status, 200, `${method}: ${reply.text}`);
    assert.match(reply.headers.get("content-type")!, /^text\/xml/);
    assert.equal(XMLValidator.validate(reply.text), true, reply.text);
    return xml.parse(reply.text);
  };
  const add = (fields: Record<string, string>, format = "json") => get("posts/add", `${auth}&format=${format}&${new URLSearchParams(fields)}`);

  test("posts/add (description = title, extended, space-separated tags, dt, shared, toread), replace and its result codes", async () => {
    let reply = await add({ url: "https://pinboard.in/api", description: "Pinboard API", extended: "The v1 docs", tags: "api bookmarks", dt: "2012-03-04T05:06:07Z", shared: "no", toread: "yes" });
    assert.deepEqual(reply.json, { result_code: "done" });
    const stored = (await request(base, "GET", "/api/bookmarks?user=pinner", { token })).json.data[0];
    assert.deepEqual([stored.title, stored.description, stored.tags, stored.public, stored.unread, stored.inserted_at], ["Pinboard API", "The v1 docs", ["api", "bookmarks"], false, true, "2012-03-04T05:06:07.000Z"]);

    reply = await add({ url: "https://pinboard.in/api", description: "Again", replace: "no" });
    assert.deepEqual(reply.json, { result_code: "item already exists" });
    reply = await add({ url: "https://pinboard.in/api", description: "Pinboard API v1", tags: "api", shared: "yes" });
    assert.deepEqual(reply.json, { result_code: "done" }, "replace defaults to yes");
    const replaced = (await request(base, "GET", "/api/bookmarks?user=pinner", { token })).json.data;
    assert.equal(replaced.length, 1);
    assert.deepEqual([replaced[0].title, replaced[0].tags, replaced[0].public, replaced[0].unread], ["Pinboard API v1", ["api"], true, false]);

    assert.deepEqual((await add({ description: "no url" })).json, { result_code: "missing url" });
    assert.deepEqual((await add({ url: "https://x.example/" })).json, { result_code: "done" }, "a title is optional: the URL stands in (fetching is off here)");
    const untitled = (await request(base, "GET", `/api/bookmarks?user=pinner&url=${encodeURIComponent("https://x.example/")}`, { token })).json.data[0];
    assert.equal(untitled.title, "https://x.example/");
    assert.equal((await request(base, "DELETE", `/api/bookmarks/${untitled.id}`, { token })).status, 204);
    assert.deepEqual((await add({ url: "javascript:alert(1)", description: "x" })).json, { result_code: "invalid url" });
    const tooLong = await add({ url: "https://long.example/", description: "x".repeat(501) });
    assert.match(tooLong.json.result_code, /title is too long/);
    const inXml = await add({ url: "https://xml.example/", description: "XML one", tags: "xml" }, "xml");
    assert.equal(inXml.text.trim(), '<?xml version="1.0" encoding="UTF-8" ?>\n<result code="done" />');
    assert.equal((await add({ url: "https://x.example/", description: "x", shared: "perhaps" })).status, 400);
  });

  test("posts/get, posts/recent, posts/all, posts/dates, posts/update in JSON and XML", async () => {
    await add({ url: "https://old.example/", description: "Old one", tags: "old api", dt: "2011-01-01T10:00:00Z" });
    const got = await json("posts/get", "url=https://old.example/");
    assert.equal(got.user, "pinner");
    assert.equal(got.posts.length, 1);
    const post = got.posts[0];
    assert.deepEqual({ ...post, hash: post.hash.length, meta: post.meta.length }, { href: "https://old.example/", description: "Old one", extended: "", meta: 32, hash: 32, time: "2011-01-01T10:00:00Z", shared: "yes", toread: "no", tags: "old api" });
    assert.deepEqual((await json("posts/get", "dt=2011-01-01")).posts.map((item: any) => item.href), ["https://old.example/"]);
    assert.equal((await json("posts/get", "dt=2011-01-01")).date, "2011-01-01T00:00:00Z");
    assert.deepEqual((await json("posts/get", "dt=1999-01-01")).posts, []);

    const recent = await json("posts/recent", "count=2");
    assert.deepEqual(recent.posts.map((item: any) => item.description), ["Old one", "XML one"]);
    assert.deepEqual((await json("posts/recent", "tag=api")).posts.map((item: any) => item.description), ["Old one", "Pinboard API v1"]);
    const recentXml = await parsed("posts/recent", "tag=api&count=1");
    assert.equal(recentXml.posts.user, "pinner");
    assert.equal(recentXml.posts.tag, "api");
    assert.equal(recentXml.posts.post.href, "https://old.example/");
    assert.equal(recentXml.posts.post.tags, "old api");

    const all = await json("posts/all");
    assert.ok(Array.isArray(all), "posts/all in JSON is a bare array");
    assert.deepEqual(all.map((item: any) => item.description), ["Old one", "XML one", "Pinboard API v1"]);
    assert.deepEqual((await json("posts/all", "start=1&results=1")).map((item: any) => item.description), ["XML one"]);
    assert.deepEqual((await json("posts/all", "fromdt=2011-01-01T00:00:00Z&todt=2011-12-31T00:00:00Z")).map((item: any) => item.description), ["Old one"]);
    const allXml = await parsed("posts/all", "tag=xml");
    assert.equal(allXml.posts.post.description, "XML one");

    const dates = await json("posts/dates", "tag=old");
    assert.deepEqual(dates, { user: "pinner", tag: "old", dates: { "2011-01-01": "1" } });
    const datesXml = await parsed("posts/dates", "tag=old");
    assert.deepEqual(datesXml.dates.date, { count: "1", date: "2011-01-01" });

    const update = await json("posts/update");
    assert.match(update.update_time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.match((await parsed("posts/update")).update.time, /Z$/);
  });

  test("posts/suggest, tags/get, tags/rename, tags/delete, posts/delete", async () => {
    const other = await signUp(base, "other");
    await request(base, "POST", "/api/bookmarks", { token: other, body: { bookmark: { title: "Same", url: "https://old.example/", tags: ["history", "web"] } } });
    const suggested = await json("posts/suggest", "url=https://old.example/");
    assert.deepEqual(suggested, [{ popular: ["history", "web"] }, { recommended: ["old"] }]);
    const suggestedXml = await parsed("posts/suggest", "url=https://old.example/");
    assert.deepEqual(suggestedXml.suggested.popular, ["history", "web"]);

    assert.deepEqual(await json("tags/get"), { api: "2", old: "1", xml: "1" });
    const tagsXml = await parsed("tags/get");
    assert.deepEqual(tagsXml.tags.tag.map((tag: any) => [tag.tag, tag.count]), [["api", "2"], ["old", "1"], ["xml", "1"]]);

    assert.deepEqual(await json("tags/rename", "old=api&new=apis"), { result: "done" });
    assert.deepEqual(await json("tags/get"), { apis: "2", old: "1", xml: "1" });
    const renamedXml = await get("tags/rename", `${auth}&old=old&new=apis`);
    assert.equal(renamedXml.text.trim(), '<?xml version="1.0" encoding="UTF-8" ?>\n<result>done</result>');
    assert.deepEqual(await json("tags/get"), { apis: "2", xml: "1" }, "renaming onto a tag the bookmark has merges them");
    assert.deepEqual(await json("tags/delete", "tag=xml"), { result: "done" });
    assert.deepEqual(await json("tags/get"), { apis: "2" });

    assert.deepEqual(await json("posts/delete", "url=https://xml.example/"), { result_code: "done" });
    assert.deepEqual(await json("posts/delete", "url=https://xml.example/"), { result_code: "item not found" });
    assert.equal((await json("posts/all")).length, 2);
    const deletedXml = await get("posts/delete", `${auth}&url=https://nowhere.example/`);
    assert.equal(deletedXml.text.trim(), '<?xml version="1.0" encoding="UTF-8" ?>\n<result code="item not found" />');
  });

  test("user/api_token, HTTP Basic, POST with a form body, bad and missing auth", async () => {
    assert.deepEqual(await json("user/api_token"), { result: token });
    const basic = `Basic ${Buffer.from("pinner:pinner password").toString("base64")}`;
    const viaBasic = await get("user/api_token", "format=json", { headers: { authorization: basic } });
    assert.equal(viaBasic.status, 200);
    const issued = viaBasic.json.result as string;
    assert.notEqual(issued, token, "a Basic caller gets a new token (only hashes are stored)");
    assert.equal((await get("posts/update", `auth_token=pinner:${encodeURIComponent(issued)}&format=json`)).status, 200);
    assert.equal((await get("posts/recent", "format=json", { headers: { authorization: basic } })).status, 200);

    const form = await request(base, "POST", "/v1/posts/add", { raw: new URLSearchParams({ auth_token: `pinner:${token}`, url: "https://posted.example/", description: "Posted", format: "json" }).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.deepEqual(form.json, { result_code: "done" });

    const missing = await get("posts/recent", "format=json");
    assert.equal(missing.status, 401);
    assert.match(missing.json.result_code, /authentication required/);
    const missingXml = await get("posts/recent", "");
    assert.equal(missingXml.status, 401);
    assert.match(missingXml.text, /<result code="authentication required/);
    assert.equal((await get("posts/recent", `auth_token=pinner:nasty_wrong&format=json`)).status, 401);
    assert.equal((await get("posts/recent", `auth_token=other:${encodeURIComponent(token)}&format=json`)).status, 401, "the user part must name the token's owner");
    const wrongPassword = await get("posts/recent", "format=json", { headers: { authorization: `Basic ${Buffer.from("pinner:nope").toString("base64")}` } });
    assert.equal(wrongPassword.status, 401);
    assert.match(wrongPassword.json.result_code, /wrong username or password/);
    assert.equal((await get("posts/nonsense", `${auth}&format=json`)).status, 404);
  });
});
