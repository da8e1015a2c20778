// Text is valid Unicode everywhere: 422 naming the field at every entry point, and pages and feeds stay valid UTF-8 and well-formed XML when the log already holds bad text.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { XMLValidator } from "fast-xml-parser";
import { parseFeed } from "@rowanmanning/feed-parser";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { Client, subscribe, until, wsUrl } from "./support/realtime.ts";
import { PageClient } from "./support/pages.ts";
import { appendRawEvents } from "./support/raw-log.ts";
import type { Nasty } from "../src/main.ts";

/** A lone high surrogate: JSON's "\ud800" escape makes one; no UTF-8 can carry it. */
const LONE = "lone \ud800 surrogate";
const NONCHARACTER = "non \ufdd0 character";
const LONE_MESSAGE = /contains a lone UTF-16 surrogate \(U\+D800\)/;
const NONCHARACTER_MESSAGE = /contains the Unicode non-character U\+FDD0/;
/** Characters XML 1.0 cannot carry, and the non-characters: none may reach a page or a feed. */
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF\uFDD0-\uFDEF]/;

describe("text that is not valid Unicode is refused at every entry point", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bookmarkId: number;
  const clients: Client[] = [];

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bookmarkId = (await createBookmark(base, alice, { title: "A fine bookmark", url: "https://fine.example/" })).id;
  });
  after(async () => {
    for (const client of clients) await client.close();
    await nasty.close();
  });

  const errorsOf = (reply: { json: any }) => reply.json?.errors as Record<string, string[]> | undefined;

  test("the JSON API: each bookmark field, comments, sign-up, tokens", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ title: LONE }, "title", LONE_MESSAGE],
      [{ title: NONCHARACTER }, "title", NONCHARACTER_MESSAGE],
      [{ title: "astral \u{10FFFF} non-character" }, "title", /non-character U\+10FFFF/],
      [{ description: LONE }, "description", LONE_MESSAGE],
      [{ url: `https://fine.example/${LONE}` }, "url", LONE_MESSAGE],
      [{ tags: ["ok", LONE] }, "tags", LONE_MESSAGE],
      [{ tags: `ok, ${NONCHARACTER}` }, "tags", NONCHARACTER_MESSAGE],
      [{ title: "a \u0007 bell" }, "title", /control characters or line breaks \(found U\+0007\)/],
      [{ title: "two\nlines" }, "title", /found U\+000A/],
      [{ title: "C1 \u0085 control" }, "title", /found U\+0085/],
      [{ description: "a \u0000 NUL" }, "description", /control characters other than tab and line breaks \(found U\+0000\)/],
    ];
    for (const [fields, field, message] of cases) {
      const bookmark = { title: "Title", url: `https://case.example/${field}`, ...fields };
      const reply = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark } });
      assert.equal(reply.status, 422, `${JSON.stringify(fields)}: ${reply.text}`);
      assert.match(errorsOf(reply)?.[field]?.join(" ") ?? "", message, `${JSON.stringify(fields)} names ${field}`);
    }
    const fine = await request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "Tabs and breaks", url: "https://case.example/ok", description: "line one\r\nline\ttwo 🚀" } } });
    assert.equal(fine.status, 201, "a description keeps its line breaks and tabs (positive control)");
    assert.equal(fine.json.bookmark.data.description, "line one\r\nline\ttwo 🚀");

    const patch = await request(base, "PATCH", `/api/bookmarks/${bookmarkId}`, { token: alice, body: { bookmark: { title: LONE } } });
    assert.equal(patch.status, 422);
    assert.match(errorsOf(patch)?.title?.join(" ") ?? "", LONE_MESSAGE);
    const comment = await request(base, "POST", `/api/bookmarks/${bookmarkId}/comments`, { token: alice, body: { body: LONE } });
    assert.equal(comment.status, 422);
    assert.match(errorsOf(comment)?.body?.join(" ") ?? "", LONE_MESSAGE);
    const commentBell = await request(base, "POST", `/api/bookmarks/${bookmarkId}/comments`, { token: alice, body: { body: "ding \u0007" } });
    assert.equal(commentBell.status, 422);
    assert.match(errorsOf(commentBell)?.body?.join(" ") ?? "", /found U\+0007/);

    const signUpReply = await request(base, "POST", "/api/users", { body: { user: { username: "bob", password: `pass ${LONE}` } } });
    assert.equal(signUpReply.status, 422);
    assert.match(errorsOf(signUpReply)?.password?.join(" ") ?? "", LONE_MESSAGE);
    const username = await request(base, "POST", "/api/users", { body: { user: { username: `bob${NONCHARACTER}`, password: "correct horse" } } });
    assert.equal(username.status, 422);
    assert.match(errorsOf(username)?.username?.join(" ") ?? "", NONCHARACTER_MESSAGE);
    const tokenName = await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "correct horse", name: LONE } });
    assert.equal(tokenName.status, 422);
    assert.match(errorsOf(tokenName)?.name?.join(" ") ?? "", LONE_MESSAGE);
    assert.equal((await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "correct horse", name: "laptop" } })).status, 201, "positive control");
  });

  test("query strings: search, filters and feeds name the parameter", async () => {
    for (const [pathAndQuery, field] of [["/api/bookmarks?q=%EF%BF%BF", "q"], ["/api/bookmarks?tag=ok&tag=x%EF%B7%90", "tag"], ["/api/tags?q=%EF%BF%BE", "q"], ["/feeds/firehose.rss?limit=%EF%BF%BF", "limit"]] as const) {
      const reply = await request(base, "GET", pathAndQuery);
      assert.equal(reply.status, 422, `${pathAndQuery}: ${reply.text}`);
      assert.match(errorsOf(reply)?.[field]?.join(" ") ?? "", /non-character U\+FFF[EF]|non-character U\+FDD0/, pathAndQuery);
    }
    const page = await request(base, "GET", "/search?q=%EF%BF%BF");
    assert.equal(page.status, 422);
    assert.match(page.text, /q contains the Unicode non-character U\+FFFF/);
    assert.equal((await request(base, "GET", "/api/bookmarks?q=fine")).status, 200, "positive control");
  });

  test("linkding JSON and Pinboard's query and form parameters", async () => {
    const linkding = (method: string, pathname: string, body: unknown) => request(base, method, pathname, { body, headers: { authorization: `Token ${alice}` } });
    const created = await linkding("POST", "/api/bookmarks/", { url: "https://linkding.example/", title: LONE });
    assert.equal(created.status, 422, created.text);
    assert.match(created.json.title?.join(" ") ?? "", LONE_MESSAGE, "linkding's own field name");
    const tagged = await linkding("PATCH", `/api/bookmarks/${bookmarkId}/`, { tag_names: ["ok", NONCHARACTER] });
    assert.equal(tagged.status, 422);
    assert.match(tagged.json.tag_names?.join(" ") ?? "", NONCHARACTER_MESSAGE);
    const tag = await linkding("POST", "/api/tags/", { name: LONE });
    assert.equal(tag.status, 422);

    const viaQuery = await request(base, "GET", `/v1/posts/add?auth_token=alice:${alice}&url=https://pinboard.example/&description=x%EF%B7%90&format=json`);
    assert.equal(viaQuery.status, 422, viaQuery.text);
    assert.match(viaQuery.json.result_code, /^invalid fields: description contains the Unicode non-character U\+FDD0$/);
    const viaXml = await request(base, "GET", `/v1/posts/add?auth_token=alice:${alice}&url=https://pinboard.example/&description=x%EF%B7%90`);
    assert.equal(viaXml.status, 422);
    assert.match(viaXml.text, /<result code="invalid fields: description contains the Unicode non-character U\+FDD0" \/>/);
    const viaForm = await request(base, "POST", "/v1/posts/add", { raw: `auth_token=alice:${alice}&url=https://pinboard.example/&description=Fine&extended=x%EF%B7%90&format=json`, headers: { "content-type": "application/x-www-form-urlencoded" } });
    assert.equal(viaForm.status, 422, viaForm.text);
    assert.match(viaForm.json.result_code, /extended contains the Unicode non-character U\+FDD0/);
    const bell = await request(base, "GET", `/v1/posts/add?auth_token=alice:${alice}&url=https://pinboard.example/&description=a%07b&format=json`);
    assert.equal(bell.status, 422);
    assert.match(bell.json.result_code, /title may not contain control characters/);
    const fine = await request(base, "GET", `/v1/posts/add?auth_token=alice:${alice}&url=https://pinboard.example/&description=Fine&format=json`);
    assert.deepEqual([fine.status, fine.json], [200, { result_code: "done" }], "positive control");
  });

  test("page forms: a new bookmark, a comment, a token name, sign-up", async () => {
    const browser = new PageClient(base);
    await browser.signUp("carol");
    await browser.get("/bookmarks");
    const form = await browser.post("/bookmarks", { url: "https://form.example/", title: NONCHARACTER, description: "", tags: "" });
    assert.equal(form.status, 422);
    assert.match(form.text, /title contains the Unicode non-character U\+FDD0/);
    await browser.get(`/b/${bookmarkId}`);
    const comment = await browser.post(`/b/${bookmarkId}/comments`, { body: "ring \u0007 ring" });
    assert.equal(comment.status, 422);
    assert.match(comment.text, /body may not contain control characters other than tab and line breaks \(found U\+0007\)/);
    await browser.get("/settings");
    const token = await browser.post("/settings/tokens", { name: NONCHARACTER });
    assert.equal(token.status, 422);
    assert.match(token.text, /name contains the Unicode non-character U\+FDD0/);
    const stranger = new PageClient(base);
    await stranger.get("/signup");
    const signup = await stranger.post("/signup", { username: "dave", password: `pass ${NONCHARACTER}` });
    assert.equal(signup.status, 422);
    assert.match(signup.text, /password contains the Unicode non-character U\+FDD0/);
    await browser.get("/bookmarks");
    assert.equal((await browser.post("/bookmarks", { url: "https://form.example/", title: "Fine", description: "", tags: "" })).status, 303, "positive control");
  });

  test("websocket comments, raw /ws and Phoenix, get an error naming the body; the socket stays", async () => {
    const topicName = `bookmark:${bookmarkId}`;
    const raw = await Client.open(wsUrl(nasty, `/ws?token=${alice}`));
    clients.push(raw);
    await subscribe(raw, topicName);
    const refused = await raw.ask({ op: "comment", topic: topicName, body: LONE, ref: "bad" }, (frame) => frame.ref === "bad", "the refused comment");
    assert.equal(refused.op, "error");
    assert.match(refused.reason, /body contains a lone UTF-16 surrogate/);
    const badTopic = await raw.ask({ op: "subscribe", topic: `bookmarks:tag:${LONE}`, ref: "topic" }, (frame) => frame.ref === "topic", "the refused topic");
    assert.equal(badTopic.op, "error");
    assert.match(badTopic.reason, /topic contains a lone UTF-16 surrogate/);
    const accepted = await raw.ask({ op: "comment", topic: topicName, body: "fine words", ref: "good" }, (frame) => frame.ref === "good", "the accepted comment");
    assert.equal(accepted.op, "ok", "positive control on the same socket");

    const phoenix = await Client.open(wsUrl(nasty, `/socket/websocket?vsn=2.0.0&token=${alice}`));
    clients.push(phoenix);
    const joined = await phoenix.ask(["1", "1", topicName, "phx_join", {}], (frame) => frame[1] === "1", "the join");
    assert.equal(joined[4].status, "ok");
    const reply = await phoenix.ask(["1", "2", topicName, "new_comment", { body: NONCHARACTER }], (frame) => frame[1] === "2", "the refused comment");
    assert.equal(reply[3], "phx_reply");
    assert.equal(reply[4].status, "error");
    assert.match(reply[4].response.reason, /body contains the Unicode non-character U\+FDD0/);
    const fine = await phoenix.ask(["1", "3", topicName, "new_comment", { body: "fine too" }], (frame) => frame[1] === "3", "the accepted comment");
    assert.equal(fine[4].status, "ok");
    const comments = await request(base, "GET", `/api/bookmarks/${bookmarkId}/comments`);
    assert.deepEqual(comments.json.data.map((item: { body: string }) => item.body), ["fine too", "fine words"], "only the valid comments were stored");
  });

  test("an import keeps its entries and replaces what is not valid text with U+FFFD, reporting the line", async () => {
    const file = `<!DOCTYPE NETSCAPE-Bookmark-file-1>
<DL><p>
<DT><A HREF="https://import.example/a" TAGS="ok,x&#xFDD0;" PRIVATE="0">Bad &#xFFFF; title &#7; bell</A>
<DD>A description &#1; with a control
<DT><A HREF="https://import.example/b">Clean &rarr; entry</A>
</DL><p>
`;
    const reply = await request(base, "POST", "/api/import", { token: alice, raw: file, headers: { "content-type": "text/html" } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.imported, 2);
    assert.equal(reply.json.skipped, 0);
    assert.deepEqual(reply.json.problems.map((problem: { line: number }) => problem.line), [3]);
    assert.match(reply.json.problems[0].message, /^4 characters that are not valid text .* in the title and description and tags replaced with U\+FFFD; imported$/);
    const saved = (await request(base, "GET", `/api/bookmarks?url=${encodeURIComponent("https://import.example/a")}`, { token: alice })).json.data[0];
    assert.equal(saved.title, "Bad \uFFFD title \uFFFD bell");
    assert.equal(saved.description, "A description \uFFFD with a control");
    assert.deepEqual(saved.tags, ["ok", "x\uFFFD"]);
  });
});

/** The bytes of an answer, decoded strictly: a byte sequence that is not UTF-8 throws. */
async function strictText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string }> {
  const response = await fetch(url, { headers, redirect: "manual" });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  return { status: response.status, text, type: response.headers.get("content-type") ?? "" };
}

describe("a log that already holds text that is not valid Unicode still replays and renders", () => {
  let nasty: Nasty;
  let alice: string;
  const bookmarkId = 900_001 * 1024 + 1;
  const otherId = 900_002 * 1024 + 1;

  before(async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ NASTY_DATA_DIR: dataDir });
    alice = await signUp(first.url, "alice");
    const userId = first.store.userByName("alice")!.id;
    await first.close();
    appendRawEvents(dataDir, [
      ["bookmark.created", { id: bookmarkId, user_id: userId, url: "https://legacy.example/\ud800/page", title: "Legacy \ud800 lone \udfff, a \u0001 bell, \uffff and \ufdd0", description: "desc \udc00 with \u0000 NUL and \u000b", public: true, tags: ["x\ud800", "ok", "\ufffe"] }],
      ["bookmark.created", { id: otherId, user_id: userId, url: "https://legacy.example/other", title: "\u0008", description: "", public: true, tags: ["ok"] }],
      ["comment.posted", { id: 900_003 * 1024 + 1, bookmark_id: bookmarkId, user_id: userId, body: "comment \ud800 with \u001f" }],
    ]);
    nasty = await startTestServer({ NASTY_DATA_DIR: dataDir });
  });
  after(() => nasty.close());

  test("the store replayed the events as they are", () => {
    const bookmark = nasty.store.bookmarksById.get(bookmarkId as never);
    assert.equal(bookmark?.title, "Legacy \ud800 lone \udfff, a \u0001 bell, \uffff and \ufdd0");
    assert.deepEqual(bookmark?.tags, ["x\ud800", "ok", "\ufffe"]);
  });

  test("pages answer 200 with valid UTF-8 and no character XML cannot carry", async () => {
    await until(() => nasty.store.eventsApplied > 0, "replay");
    const paths = ["/", "/tags", "/u/alice", `/b/${bookmarkId}`, `/b/${otherId}`, "/t/ok", "/scramble", "/scramble/cards", "/discover", "/search?q=legacy"];
    for (const pagePath of paths) {
      let page = await strictText(nasty.url + pagePath);
      for (let attempt = 0; page.status === 503 && attempt < 100; attempt += 1) page = await strictText(nasty.url + pagePath);
      assert.equal(page.status, 200, `${pagePath}: ${page.text.slice(0, 300)}`);
      assert.doesNotMatch(page.text, XML_INVALID, pagePath);
    }
    const card = await strictText(`${nasty.url}/b/${bookmarkId}`);
    assert.match(card.text, /Legacy \uFFFD lone \uFFFD, a \uFFFD bell, \uFFFD and \uFFFD/, "what cannot be shown is shown as U+FFFD");
    assert.match(card.text, /href="\/t\/x%EF%BF%BD"/, "the tag's link is encoded, not a URIError");
    assert.match(card.text, /comment \uFFFD with \uFFFD/);
    const own = await strictText(`${nasty.url}/u/alice`, { authorization: `Bearer ${alice}` });
    assert.equal(own.status, 200);
  });

  test("RSS, Atom, Pinboard XML and the export are valid UTF-8 and well-formed XML", async () => {
    for (const feedPath of ["/feeds/firehose.rss", "/feeds/firehose.atom", "/feeds/t/ok.rss", "/feeds/u/alice.atom"]) {
      const feed = await strictText(nasty.url + feedPath);
      assert.equal(feed.status, 200, `${feedPath}: ${feed.text.slice(0, 300)}`);
      assert.equal(XMLValidator.validate(feed.text), true, `${feedPath} is well-formed XML`);
      assert.doesNotMatch(feed.text, XML_INVALID, feedPath);
      const parsed = parseFeed(feed.text);
      assert.ok(parsed.items.some((item) => item.title === "Legacy \uFFFD lone \uFFFD, a \uFFFD bell, \uFFFD and \uFFFD"), `${feedPath} carries the legacy item`);
    }
    for (const pinboardPath of [`/v1/posts/all?auth_token=alice:${alice}`, `/v1/tags/get?auth_token=alice:${alice}`, `/v1/posts/recent?auth_token=alice:${alice}`]) {
      const xml = await strictText(nasty.url + pinboardPath);
      assert.equal(xml.status, 200, pinboardPath);
      assert.equal(XMLValidator.validate(xml.text), true, `${pinboardPath} is well-formed XML`);
      assert.doesNotMatch(xml.text, XML_INVALID, pinboardPath);
    }
    const exported = await strictText(`${nasty.url}/api/export`, { authorization: `Bearer ${alice}` });
    assert.equal(exported.status, 200);
    assert.doesNotMatch(exported.text, XML_INVALID);
    for (const jsonPath of ["/api/bookmarks", `/api/bookmarks/${bookmarkId}`, `/api/bookmarks/${bookmarkId}/comments`, "/api/tags"]) {
      const json = await strictText(nasty.url + jsonPath);
      assert.equal(json.status, 200, jsonPath);
      assert.doesNotThrow(() => JSON.parse(json.text), jsonPath);
    }
  });

  test("a change to such a bookmark renders its live fragment and pushes it; the server keeps serving", async () => {
    const live = await Client.open(wsUrl(nasty, "/live?topic=bookmarks%3Afirehose"), { headers: { origin: nasty.url } });
    try {
      const reply = await request(nasty.url, "PATCH", `/api/bookmarks/${bookmarkId}`, { token: alice, body: { bookmark: { description: "fresh words" } } });
      assert.equal(reply.status, 200, reply.text);
      const fragment = await live.next((frame) => typeof frame.content === "string" && frame.content.includes("fresh words"), "the edited card");
      assert.doesNotMatch(fragment.content, XML_INVALID);
      assert.match(fragment.content, /Legacy \uFFFD lone/);
    } finally {
      await live.close();
    }
    assert.equal((await request(nasty.url, "GET", "/api/status")).status, 200);
  });
});
