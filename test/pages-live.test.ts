// The pages' live socket /live with a real websocket client: who may join what, and which hx-ws fragments each topic carries.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";
import { openLive } from "./support/realtime.ts";

describe("the live socket for pages", { timeout: 120_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let aliceCookie: string;
  const sockets: WebSocket[] = [];
  const live = async (topicName: string, headers: Record<string, string> = {}) => {
    const opened = await openLive(base, topicName, headers);
    sockets.push(opened.socket);
    return opened;
  };

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    const client = new PageClient(base);
    await client.signUp("alice");
    aliceCookie = client.cookieHeader();
    alice = (await request(base, "POST", "/api/tokens", { body: { username: "alice", password: "correct horse" } })).json.token;
    await signUp(base, "bob");
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    await nasty.close();
  });

  test("the firehose gets public bookmarks as cards for the top of #feed, never private ones", async () => {
    const firehose = await live("bookmarks:firehose");
    await createBookmark(base, alice, { title: "hidden <one>", url: "https://live.example/private", public: false });
    const shown = await createBookmark(base, alice, { title: "shown <one>", url: "https://live.example/public", tags: ["rust"] });
    const fragment = await firehose.next();
    assert.deepEqual(Object.keys(fragment).sort(), ["content", "swap", "target"]);
    assert.equal(fragment.target, "#feed");
    assert.equal(fragment.swap, "afterbegin");
    assert.match(fragment.content, new RegExp(`^<article class="card" id="b-${shown.id}" data-owner="alice">`));
    assert.match(fragment.content, /shown &lt;one&gt;/);
    assert.ok(!fragment.content.includes("hidden &lt;one&gt;"), fragment.content);
  });

  test("edits replace, turning private removes from public topics, deletion removes; the owner's private topic follows it all", async () => {
    const firehose = await live("bookmarks:firehose");
    const tag = await live("bookmarks:tag:go");
    const own = await live("bookmarks:user:alice:private", { cookie: aliceCookie, origin: base });
    const created = await createBookmark(base, alice, { title: "go thing", url: "https://live.example/go", tags: ["go"] });
    for (const socket of [firehose, tag, own]) assert.equal((await socket.next()).swap, "afterbegin");
    const discussion = await live(`bookmark:${created.id}`);

    await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { title: "go thing, renamed" } } });
    for (const socket of [firehose, tag, own, discussion]) {
      const fragment = await socket.next();
      assert.deepEqual([fragment.target, fragment.swap], [`#b-${created.id}`, "outerHTML"]);
      assert.match(fragment.content, /go thing, renamed/);
    }

    await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { tags: ["web"] } } });
    assert.deepEqual(await tag.next(), { content: "", target: `#b-${created.id}`, swap: "delete" }, "a removed tag removes it from that tag's feed");
    assert.equal((await firehose.next()).swap, "outerHTML");
    assert.match((await discussion.next()).content, /href="\/t\/web"/, "its own page shows the new tags");

    await request(base, "PATCH", `/api/bookmarks/${created.id}`, { token: alice, body: { bookmark: { public: false } } });
    assert.deepEqual(await firehose.next(), { content: "", target: `#b-${created.id}`, swap: "delete" });
    const gone = await discussion.next();
    assert.equal(gone.swap, "outerHTML");
    assert.match(gone.content, /deleted or made private/);
    assert.ok(!gone.content.includes("renamed"));
    assert.match((await own.next()).content, /href="\/t\/web"/, "the tag change");
    const privateCard = await own.next();
    assert.match(privateCard.content, /<span class="badge">private<\/span>/);

    // A comment on the now private bookmark reaches the owner's topic only; the firehose's next message is the next public event.
    await request(base, "POST", `/api/bookmarks/${created.id}/comments`, { token: alice, body: { body: "private note" } });
    const note = await own.next();
    assert.equal(note.target, `#comments-${created.id}`);
    assert.match(note.content, /private note/);
    await request(base, "DELETE", `/api/bookmarks/${created.id}`, { token: alice });
    assert.deepEqual(await own.next(), { content: "", target: `#b-${created.id}`, swap: "delete" });
    const marker = await createBookmark(base, alice, { title: "after all that", url: "https://live.example/marker" });
    const nextOnFirehose = await firehose.next();
    assert.match(nextOnFirehose.content, new RegExp(`id="b-${marker.id}"`), "nothing about the private bookmark reached the firehose");
    assert.ok(!nextOnFirehose.content.includes("private note"));
  });

  test("a discussion appends comments with the new count out of band; feeds get just the count", async () => {
    const created = await createBookmark(base, alice, { title: "talk about it", url: "https://live.example/talk", tags: ["talk"] });
    const discussion = await live(`bookmark:${created.id}`);
    const tagFeed = await live("bookmarks:tag:talk");
    const bob = (await request(base, "POST", "/api/tokens", { body: { username: "bob", password: "correct horse" } })).json.token;
    await request(base, "POST", `/api/bookmarks/${created.id}/comments`, { token: bob, body: { body: "<b>hi</b>" } });
    const comment = await discussion.next();
    assert.deepEqual([comment.target, comment.swap], [`#comments-${created.id}`, "beforeend"]);
    assert.match(comment.content, /^<li class="comment" id="c-\d+" data-owner="bob"><div class="comment-meta"><a class="who" href="\/u\/bob">bob<\/a>/);
    assert.match(comment.content, /&lt;b&gt;hi&lt;\/b&gt;/);
    assert.match(comment.content, new RegExp(`<a class="comment-count" id="cc-${created.id}" href="/b/${created.id}#discussion" hx-swap-oob="true">1 comment</a>$`));
    assert.deepEqual(await tagFeed.next(), { content: `<a class="comment-count" id="cc-${created.id}" href="/b/${created.id}#discussion">1 comment</a>`, target: `#cc-${created.id}`, swap: "outerHTML" });
  });

  test("a multi-tag feed gets only bookmarks carrying every one of its tags", async () => {
    const both = await live("bookmarks:tags:rust+web");
    await createBookmark(base, alice, { title: "rust only", url: "https://live.example/r", tags: ["rust"] });
    const match = await createBookmark(base, alice, { title: "rust and web", url: "https://live.example/rw", tags: ["web", "x", "rust"] });
    const fragment = await both.next();
    assert.match(fragment.content, new RegExp(`id="b-${match.id}"`));
    assert.equal(nasty.store.bookmarksById.get(match.id)?.title, "rust and web");
  });

  test("who may join: private topics only for their owner's session from our own origin; clear close codes otherwise", async () => {
    const refusals: [string, Record<string, string>, number, RegExp][] = [
      ["bookmarks:user:alice:private", {}, 4403, /only for alice, logged in on this site/],
      ["bookmarks:user:alice:private", { cookie: aliceCookie, origin: "https://evil.example" }, 4403, /only for alice/],
      ["bookmarks:user:alice:private", { cookie: aliceCookie }, 4403, /only for alice/],
      ["nonsense", {}, 4400, /unknown topic 'nonsense'/],
      ["", {}, 4400, /missing \?topic=/],
      ["bookmark:999999", {}, 4404, /no bookmark 999999/],
      ["bookmarks:tags:web+rust", {}, 4400, /unknown topic/],
    ];
    const privateOne = await createBookmark(base, alice, { title: "p", url: "https://live.example/p", public: false });
    refusals.push([`bookmark:${privateOne.id}`, {}, 4404, /no bookmark/]);
    for (const [topicName, headers, code, reason] of refusals) {
      const socket = await live(topicName, headers);
      const closed = await socket.closed;
      assert.equal(closed.code, code, `${topicName} ${JSON.stringify(headers)}`);
      assert.match(closed.reason, reason);
    }
    const bobClient = new PageClient(base);
    await bobClient.logIn("bob");
    const bobs = await live("bookmarks:user:alice:private", { cookie: bobClient.cookieHeader(), origin: base });
    assert.equal((await bobs.closed).code, 4403, "bob's session is not alice's");
  });

  test("logging out closes that session's private live socket at once", async () => {
    const client = new PageClient(base);
    await client.logIn("alice");
    const own = await live("bookmarks:user:alice:private", { cookie: client.cookieHeader(), origin: base });
    const other = await live("bookmarks:user:alice:private", { cookie: aliceCookie, origin: base });
    await client.get("/bookmarks");
    assert.equal((await client.post("/logout", {})).status, 303);
    const closed = await own.closed;
    assert.deepEqual(closed, { code: 4403, reason: "your session ended; log in again" });
    const created = await createBookmark(base, alice, { title: "still followed elsewhere", url: "https://live.example/elsewhere", public: false });
    assert.match((await other.next()).content, new RegExp(`id="b-${created.id}"`), "another session's socket stays");
  });

  test("the socket only sends: a message from the page closes it, and the server keeps serving", async () => {
    const socket = await live("bookmarks:firehose");
    socket.socket.send("hello");
    const closed = await socket.closed;
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /only sends/);
    const big = await live("bookmarks:firehose");
    big.socket.send("x".repeat(4096));
    assert.notEqual((await big.closed).code, 1000);
    assert.equal((await request(base, "GET", "/api/status")).status, 200);
    assert.equal((await request(base, "GET", "/api/status")).json.pages.live_sockets >= 0, true);
  });
});

test("a live page that stops reading is cut off at NASTY_WS_MAX_BACKPRESSURE while a reading one gets every fragment", { timeout: 120_000 }, async () => {
  const nasty = await startTestServer({ NASTY_WS_MAX_BACKPRESSURE: "65536" });
  const net = await import("node:net");
  const stalled = net.connect(nasty.port, "127.0.0.1");
  const connected = new Promise((resolve) => stalled.once("connect", resolve));
  try {
    const token = await signUp(nasty.url, "frank");
    const user = nasty.store.userByName("frank")!;
    const bookmark = await createBookmark(nasty.url, token, { title: "Big", url: "https://big.example/" });
    const reader = await openLive(nasty.url, "bookmarks:firehose");
    let received = 0;
    reader.socket.on("message", () => {
      received += 1;
    });
    await connected;
    stalled.write(
      "GET /live?topic=bookmarks%3Afirehose HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    stalled.pause();
    const liveSockets = async () => (await request(nasty.url, "GET", "/api/status")).json.pages.live_sockets as number;
    for (let attempt = 0; attempt < 100 && (await liveSockets()) !== 2; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await liveSockets(), 2, "both sockets are open");

    const description = "d".repeat(9_000);
    const UPDATES_MAX = 4_000;
    const BATCH = 50;
    let updates = 0;
    while ((await liveSockets()) === 2 && updates < UPDATES_MAX) {
      const batch = [];
      for (let index = 0; index < BATCH; index += 1) batch.push(nasty.commands.updateBookmark(user, bookmark.id, { description: `${updates + index} ${description}` }));
      await Promise.all(batch);
      updates += BATCH;
    }
    assert.equal(await liveSockets(), 1, `the stalled page was cut off within ${UPDATES_MAX} updates of 9 KB`);
    const marker = await createBookmark(nasty.url, token, { title: "marker", url: "https://big.example/marker" });
    for (;;) {
      const fragment = await reader.next();
      if (fragment.content.includes(`id="b-${marker.id}"`)) break;
    }
    assert.equal(received, updates + 1, "the reading page got every fragment");
    reader.socket.terminate();
  } finally {
    stalled.destroy();
    await nasty.close();
  }
});
