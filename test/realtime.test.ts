// Live topics over the raw /ws protocol, against a real server: routing, privacy, discussions and every bad-input row.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import Database from "better-sqlite3";
import { createBookmark, othersView, request, signUp, startTestServer } from "./support/server.ts";
import { Client, floodUpdates, sleep, stalledWebsocket, subscribe, until, wsUrl } from "./support/realtime.ts";
import type { Nasty } from "../src/main.ts";
import { FRAME_BYTES_CLOSE, FRAME_BYTES_MAX, SUBSCRIPTIONS_PER_SOCKET_MAX, ERROR_FRAMES_PER_MINUTE_MAX } from "../src/realtime/socket-hub.ts";

/** A public topic's bookmark payload: the API's fields without the owner's read-later flag (`unread`). */
const BOOKMARK_KEYS = ["comment_count", "description", "id", "inserted_at", "notes", "public", "tags", "title", "updated_at", "url", "user"];

describe("raw websocket topics", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;
  const clients: Client[] = [];
  const open = async (query = "", options = {}) => {
    const client = await Client.open(wsUrl(nasty, `/ws${query}`), options);
    clients.push(client);
    return client;
  };
  const patch = (token: string, id: number, bookmark: Record<string, unknown>) => request(base, "PATCH", `/api/bookmarks/${id}`, { token, body: { bookmark } });

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
  });
  after(async () => {
    for (const client of clients) await client.close();
    await nasty.close();
  });

  test("firehose, tag and user topics get exactly the public changes on them, aliases in the original app's shapes", async () => {
    const firehose = await open("?topics=bookmarks:firehose");
    const rust = await open("?topics=bookmarks:tag:rust");
    const bobs = await open("?topics=bookmarks:user:bob");
    const legacy = await open("?topics=bookmark:feed,tag:rust");
    for (const client of [firehose, rust, bobs]) assert.equal(client.frames[0].op, "ok", JSON.stringify(client.frames[0]));
    assert.equal(legacy.frames.filter((frame) => frame.op === "ok").length, 2);

    const one = await createBookmark(base, alice, { title: "Rust and web", url: "https://one.example/", tags: ["rust", "web"] });
    const two = await createBookmark(base, bob, { title: "Go", url: "https://two.example/", tags: ["go"] });
    const hidden = await createBookmark(base, bob, { title: "Hidden", url: "https://hidden.example/", tags: ["rust"], public: false });
    assert.equal((await patch(alice, one.id, { tags: ["web"] })).status, 200, "one leaves #rust");
    assert.equal((await patch(bob, two.id, { tags: ["go", "rust"] })).status, 200, "two joins #rust");
    assert.equal((await patch(bob, two.id, { public: false })).status, 200, "two turns private");
    assert.equal((await patch(bob, hidden.id, { public: true })).status, 200, "hidden turns public");
    assert.equal((await request(base, "DELETE", `/api/bookmarks/${hidden.id}`, { token: bob })).status, 204);
    for (const client of [firehose, rust, bobs, legacy]) await client.barrier();

    assert.deepEqual(firehose.events("bookmarks:firehose"), [
      ["bookmark_created", one.id], ["bookmark_created", two.id], ["bookmark_updated", one.id], ["bookmark_updated", two.id],
      ["bookmark_deleted", two.id], ["bookmark_created", hidden.id], ["bookmark_deleted", hidden.id],
    ]);
    assert.deepEqual(rust.events("bookmarks:tag:rust"), [
      ["bookmark_created", one.id], ["bookmark_deleted", one.id], ["bookmark_created", two.id], ["bookmark_deleted", two.id],
      ["bookmark_created", hidden.id], ["bookmark_deleted", hidden.id],
    ]);
    assert.deepEqual(bobs.events("bookmarks:user:bob"), [
      ["bookmark_created", two.id], ["bookmark_updated", two.id], ["bookmark_deleted", two.id], ["bookmark_created", hidden.id], ["bookmark_deleted", hidden.id],
    ]);
    assert.equal(firehose.pushes().length + rust.pushes().length + bobs.pushes().length, 7 + 6 + 5, "no push on any other topic");

    const created = firehose.pushes()[0];
    assert.deepEqual(Object.keys(created.payload).sort(), BOOKMARK_KEYS);
    assert.deepEqual({ ...created.payload, inserted_at: null, updated_at: null }, { ...othersView(one), inserted_at: null, updated_at: null }, "the API's shape, as others see it");
    const turnedPrivate = firehose.pushes()[4];
    assert.deepEqual(turnedPrivate.payload, { id: two.id }, "a bookmark leaving a public topic shows nothing of what it became");

    assert.deepEqual(legacy.events("bookmark:feed").map(([event]) => event), ["bookmark:created", "bookmark:created", "bookmark:updated", "bookmark:updated", "bookmark:deleted", "bookmark:created", "bookmark:deleted"]);
    assert.deepEqual(legacy.events("tag:rust").map(([event]) => event), ["bookmark:created", "bookmark:deleted", "bookmark:created", "bookmark:deleted", "bookmark:created", "bookmark:deleted"]);
    const [legacyCreated] = legacy.pushes();
    assert.deepEqual(Object.keys(legacyCreated.payload).sort(), ["description", "id", "tags", "timestamp", "title", "url"]);
    assert.match(legacyCreated.payload.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(legacy.pushes().find((frame) => frame.event === "bookmark:deleted").payload).sort(), ["id", "timestamp"]);
  });

  test("a private bookmark reaches only its owner's private topic, and its discussion only its owner", async () => {
    const carol = await signUp(base, "carol");
    const owner = await open(`?token=${carol}&topics=bookmarks:user:carol:private`);
    const others = await Promise.all(["bookmarks:firehose", "bookmarks:user:carol", "bookmarks:tag:secret-tag", "bookmark:feed", "tag:secret-tag"].map((name) => open(`?token=${alice}&topics=${name}`)));
    const anonymous = await open();
    const refusedAlice = await (await open(`?token=${alice}`)).ask({ op: "subscribe", topic: "bookmarks:user:carol:private" }, (frame) => frame.op, "refusal");
    assert.equal(refusedAlice.op, "error");
    assert.match(refusedAlice.reason, /only for carol/);
    assert.equal((await anonymous.ask({ op: "subscribe", topic: "bookmarks:user:carol:private" }, (frame) => frame.op, "refusal")).op, "error");

    const SECRET = "zz-private-marker";
    const hidden = await createBookmark(base, carol, { title: SECRET, url: "https://secret.example/", tags: ["secret-tag"], public: false });
    const refusedDiscussion = await anonymous.ask({ op: "subscribe", topic: `bookmark:${hidden.id}` }, (frame) => frame.op, "refusal");
    assert.deepEqual([refusedDiscussion.op, refusedDiscussion.reason], ["error", `no bookmark ${hidden.id}`]);
    await subscribe(owner, `bookmark:${hidden.id}`);
    assert.equal((await request(base, "POST", `/api/bookmarks/${hidden.id}/comments`, { token: carol, body: { body: `${SECRET} said` } })).status, 201);

    // A public bookmark someone watches, then made private: they hear it is gone, and nothing after.
    const shared = await createBookmark(base, carol, { title: "Shared for now", url: "https://shared.example/", tags: ["secret-tag"] });
    const watcher = await open(`?topics=bookmark:${shared.id}`);
    await subscribe(owner, `bookmark:${shared.id}`);
    assert.equal((await request(base, "POST", `/api/bookmarks/${shared.id}/comments`, { token: alice, body: { body: "public remark" } })).status, 201);
    assert.equal((await patch(carol, shared.id, { public: false, title: `${SECRET} now` })).status, 200);
    assert.equal((await request(base, "POST", `/api/bookmarks/${shared.id}/comments`, { token: carol, body: { body: `${SECRET} after` } })).status, 201);

    for (const client of [owner, anonymous, watcher, ...others]) await client.barrier();
    for (const client of [anonymous, watcher, ...others]) {
      assert.ok(!JSON.stringify(client.frames).includes(SECRET), `leaked to a non-owner: ${JSON.stringify(client.frames)}`);
    }
    assert.deepEqual(watcher.events(`bookmark:${shared.id}`), [["comment_posted", watcher.pushes()[0].payload.id], ["bookmark_deleted", shared.id]]);
    assert.deepEqual(owner.events("bookmarks:user:carol:private"), [["bookmark_created", hidden.id], ["bookmark_created", shared.id], ["bookmark_updated", shared.id]]);
    const ownerComments = owner.pushes().filter((frame) => frame.event === "comment_posted").map((frame) => frame.payload.body);
    assert.deepEqual(ownerComments, [`${SECRET} said`, "public remark", `${SECRET} after`]);
  });

  test("a comment sent on one socket is durable, acknowledged, and reaches everyone watching that bookmark", async () => {
    const target = await createBookmark(base, bob, { title: "Discuss me", url: "https://discuss.example/", tags: ["talk"] });
    const topic = `bookmark:${target.id}`;
    const speaker = await open(`?token=${alice}&topics=${topic}`);
    const listener = await open(`?topics=${topic}`);
    const unrelated = await open("?topics=bookmarks:firehose");
    const ack = await speaker.ask({ op: "comment", topic, body: "  first!  ", ref: 7 }, (frame) => frame.ref === 7, "the comment's ack");
    assert.equal(ack.op, "ok");
    assert.deepEqual({ ...ack.comment, inserted_at: null }, { id: ack.comment.id, bookmark_id: target.id, user: "alice", body: "first!", inserted_at: null });
    const heard = await listener.next((frame) => frame.event === "comment_posted", "the comment push");
    assert.ok(Number.isSafeInteger(heard.seq) && heard.seq > 0, "every push carries its seq");
    assert.deepEqual(heard, { topic, event: "comment_posted", payload: ack.comment, seq: heard.seq });
    const stored = await request(base, "GET", `/api/bookmarks/${target.id}/comments`);
    assert.equal(stored.json.data[0].body, "first!", "it is in the store (and so in the log)");
    await unrelated.barrier();
    assert.equal(unrelated.pushes().length, 0, "comments stay on their bookmark's topic");

    const refused = async (client: Client, frame: Record<string, unknown>, reason: RegExp) => {
      const answer = await client.ask({ ...frame, ref: "r" }, (reply) => reply.ref === "r", `the answer to ${JSON.stringify(frame)}`);
      assert.equal(answer.op, "error", JSON.stringify(answer));
      assert.match(answer.reason, reason);
    };
    await refused(listener, { op: "comment", topic, body: "anonymous" }, /needs a token or session/);
    await refused(speaker, { op: "comment", topic: "bookmark:999999", body: "elsewhere" }, /join bookmark:999999 before commenting/);
    await refused(speaker, { op: "comment", topic: "bookmarks:firehose", body: "x" }, /comments go to a bookmark:<id> topic/);
    await refused(speaker, { op: "comment", topic, body: "   " }, /body can't be blank/);
    await refused(speaker, { op: "comment", topic, body: "x".repeat(1001) }, /body is too long/);
    await refused(speaker, { op: "comment", topic }, /body can't be blank/);
  });

  test("bad frames get error frames naming the problem, and the connection and server stay up", async () => {
    const client = await open(`?token=${alice}`);
    const errorFor = async (frame: string | Buffer, reason: RegExp) => {
      const from = client.frames.length;
      client.socket.send(frame);
      const answer = await client.next((reply) => reply.op === "error", `an error for ${String(frame).slice(0, 60)}`, from);
      assert.match(answer.reason, reason);
    };
    await errorFor("x".repeat(FRAME_BYTES_MAX + 1), new RegExp(`over the limit of ${FRAME_BYTES_MAX} bytes`));
    await errorFor("{not json", /invalid JSON/);
    await errorFor("[1,2]", /must be a JSON object/);
    await errorFor('{"op":"dance"}', /unknown op 'dance'; ops are subscribe, unsubscribe, ping, comment/);
    await errorFor('{"topic":"bookmarks:firehose"}', /missing op/);
    await errorFor('{"op":"subscribe"}', /subscribe: topic must be a topic name/);
    await errorFor('{"op":"subscribe","topic":42}', /topic must be a topic name/);
    await errorFor('{"op":"subscribe","topic":"bookmarks:everything"}', /unknown topic 'bookmarks:everything'; topics are/);
    await errorFor('{"op":"subscribe","topic":"bookmarks:tag:Rust"}', /unknown topic.*tags lower-case/);
    await errorFor('{"op":"subscribe","topic":"bookmarks:user:nobody"}', /no user named 'nobody'/);
    await errorFor('{"op":"subscribe","topic":"bookmarks:user:bob:private"}', /only for bob/);
    await errorFor('{"op":"unsubscribe","topic":"bookmarks:firehose"}', /not subscribed to bookmarks:firehose/);
    await errorFor(Buffer.from([1, 2, 3]), /binary frames are not understood/);

    for (let index = 0; index < SUBSCRIPTIONS_PER_SOCKET_MAX; index += 1) client.send({ op: "subscribe", topic: `bookmarks:tag:t${index}` });
    await client.barrier();
    assert.equal(client.frames.filter((frame) => frame.op === "ok" && frame.for === "subscribe").length, SUBSCRIPTIONS_PER_SOCKET_MAX);
    await errorFor('{"op":"subscribe","topic":"bookmarks:tag:one-too-many"}', new RegExp(`at most ${SUBSCRIPTIONS_PER_SOCKET_MAX} topics per connection`));
    assert.equal((await client.ask({ op: "subscribe", topic: "bookmarks:tag:t0", ref: "again" }, (frame) => frame.ref === "again", "re-subscribe")).op, "ok", "joining again is harmless");
    assert.equal((await client.ask({ op: "unsubscribe", topic: "bookmarks:tag:t0", ref: "u" }, (frame) => frame.ref === "u", "unsubscribe")).op, "ok");
    assert.equal((await client.ask({ op: "subscribe", topic: "bookmarks:tag:one-more", ref: "m" }, (frame) => frame.ref === "m", "subscribe")).op, "ok", "room again after leaving one");

    await client.barrier();
    assert.equal(client.closed, null, "still connected after every bad frame");
    const status = await request(base, "GET", "/api/status");
    assert.equal(status.status, 200);
    assert.ok(status.json.realtime.connections >= 1);
    assert.ok(status.json.realtime.busiest.length > 0);
  });

  test("abuse closes: a frame over the hard limit (dropped at once) and a flood of bad frames (1008)", async () => {
    const huge = await open();
    huge.socket.send("x".repeat(FRAME_BYTES_CLOSE + 1));
    await until(() => huge.closed !== null, "the oversized frame's close");
    assert.ok([1006, 1009].includes(huge.closed!.code), `uWS drops the connection at once (${huge.closed!.code})`);

    const flood = await open();
    for (let index = 0; index <= ERROR_FRAMES_PER_MINUTE_MAX; index += 1) flood.send("nonsense");
    await until(() => flood.closed !== null, "the flood's close");
    assert.equal(flood.closed!.code, 1008);
    assert.match(flood.closed!.reason, /bad frames/);
    assert.equal(flood.frames.length, ERROR_FRAMES_PER_MINUTE_MAX, "every bad frame before the limit was answered");
    const fine = await open("?topics=bookmarks:firehose");
    await fine.barrier();
    assert.equal(fine.closed, null, "others are not affected");
  });

  test("handshakes: a bad token is refused with 401; a session cookie counts only from this site's Origin", async () => {
    await assert.rejects(Client.open(wsUrl(nasty, "/ws?token=nasty_wrong")), /handshake answered 401/);
    await assert.rejects(Client.open(wsUrl(nasty, "/ws"), { headers: { authorization: "Bearer nasty_wrong" } }), /handshake answered 401/);
    const dave = await signUp(base, "dave");
    const session = await nasty.commands.issueToken(nasty.store.userByName("dave")!, "session");
    const cookie = `nasty_session=${session.secret}`;
    const host = new URL(base).host;

    const foreign = await open("", { headers: { cookie, origin: "https://evil.example" } });
    const refused = await foreign.ask({ op: "subscribe", topic: "bookmarks:user:dave:private" }, (frame) => frame.op, "refusal");
    assert.equal(refused.op, "error");
    assert.match(refused.reason, /only for dave.*session cookie was ignored: Origin 'https:\/\/evil.example' is not this site/);
    const comment = await foreign.ask({ op: "comment", topic: "bookmark:1", body: "x", ref: 1 }, (frame) => frame.ref === 1, "comment refusal");
    assert.match(comment.reason, /needs a token or session.*session cookie was ignored/);

    const own = await open("", { headers: { cookie, origin: `http://${host}` } });
    await subscribe(own, "bookmarks:user:dave:private");
    const viaToken = await open(`?token=${dave}&topics=bookmarks:user:dave:private`);
    assert.equal(viaToken.frames[0].op, "ok");
  });

  test("revoking a token closes the sockets it opened", async () => {
    const erin = await signUp(base, "erin");
    const user = nasty.store.userByName("erin")!;
    const extra = await nasty.commands.issueToken(user, "api");
    const doomed = await open(`?token=${extra.secret}&topics=bookmarks:user:erin:private`);
    const kept = await open(`?token=${erin}&topics=bookmarks:user:erin:private`);
    await nasty.commands.revokeToken(user, extra.token.id);
    await until(() => doomed.closed !== null, "the revoked token's socket to close");
    assert.deepEqual(doomed.closed, { code: 4401, reason: "token revoked" });
    await kept.barrier();
    assert.equal(kept.closed, null);
  });

  test("nothing is published before it is durable: no push while the commit is held, then exactly one", async () => {
    const watcher = await open("?topics=bookmarks:firehose");
    const discussion = await createBookmark(base, alice, { title: "Held", url: "https://held.example/" });
    const speaker = await open(`?token=${bob}&topics=bookmark:${discussion.id}`);
    await watcher.barrier();
    const pushesBefore = watcher.pushes().length;
    const locker = new Database(path.join(nasty.config.dataDir, "events.sqlite3"));
    let released = false;
    let answeredWhileHeld = false;
    try {
      locker.exec("BEGIN IMMEDIATE");
      const post = request(base, "POST", "/api/bookmarks", { token: alice, body: { bookmark: { title: "Waits for the lock", url: "https://lock.example/" } } }).then((reply) => {
        answeredWhileHeld ||= !released;
        return reply;
      });
      const acks = speaker.frames.length;
      speaker.send({ op: "comment", topic: `bookmark:${discussion.id}`, body: "held too", ref: "held" });
      await sleep(300);
      assert.equal(watcher.pushes().length, pushesBefore, "no push while the write cannot commit");
      assert.equal(speaker.frames.length, acks, "no websocket ack while the comment cannot commit");
      assert.equal(answeredWhileHeld, false);
      released = true;
      locker.exec("ROLLBACK");
      const reply = await post;
      assert.equal(reply.status, 201);
      const pushed = await watcher.next((frame) => frame.payload?.id === reply.json.bookmark.data.id, "the push after the commit");
      assert.equal(pushed.event, "bookmark_created");
      assert.equal((await speaker.next((frame) => frame.ref === "held", "the comment's ack")).op, "ok");
    } finally {
      if (!released) locker.exec("ROLLBACK");
      locker.close();
    }
  });
});

describe("slow consumers", () => {
  test("a socket that stops reading is cut off at NASTY_WS_MAX_BACKPRESSURE while a reading one gets every event", async () => {
    const nasty = await startTestServer({ NASTY_WS_MAX_BACKPRESSURE: "65536" });
    let stalled: net.Socket | null = null;
    try {
      const token = await signUp(nasty.url, "frank");
      const bookmark = await createBookmark(nasty.url, token, { title: "Big", url: "https://big.example/" });
      const reader = await Client.open(wsUrl(nasty, "/ws?topics=bookmarks:firehose"));
      stalled = await stalledWebsocket(nasty.port, "/ws?topics=bookmarks:firehose");
      const connections = async () => (await request(nasty.url, "GET", "/api/status")).json.realtime.connections as number;
      for (let attempt = 0; attempt < 100 && (await connections()) !== 2; attempt += 1) await sleep(20);
      assert.equal(await connections(), 2, "both sockets are open");

      const updates = await floodUpdates(nasty, "frank", bookmark.id, async () => (await connections()) === 2);
      assert.equal(await connections(), 1, `the stalled socket was cut off within ${updates} updates of 9 KB`);
      await reader.barrier();
      const received = reader.events("bookmarks:firehose").filter(([event]) => event === "bookmark_updated").length;
      assert.equal(received, updates, "the reading socket got every update");
      assert.equal(reader.closed, null);
      await reader.close();
      let stalledBytes = 0;
      let ended = false;
      stalled.on("data", (chunk) => (stalledBytes += chunk.length)).once("close", () => (ended = true));
      stalled.resume();
      await until(() => ended, "the stalled socket's end once it reads again");
      assert.ok(stalledBytes < updates * 9_000, `the stalled socket was closed without the rest (${stalledBytes} bytes of ${updates} updates)`);
    } finally {
      stalled?.destroy();
      await nasty.close();
    }
  });
});

describe("idle connections", () => {
  test("a silent socket that answers pings stays (no heartbeat needed); one that does not is dropped", async () => {
    const nasty = await startTestServer({ NASTY_WS_IDLE_TIMEOUT_S: "8" });
    try {
      const token = await signUp(nasty.url, "gina");
      // The original app's Python clients: Phoenix v1 objects, no vsn, never a heartbeat; their library answers pings.
      const quiet = await Client.open(wsUrl(nasty, "/socket/websocket"));
      const joined = await quiet.ask({ topic: "bookmarks:firehose", event: "phx_join", payload: {}, ref: "1" }, (frame) => frame.ref === "1", "the join reply");
      assert.equal(joined.payload.status, "ok");
      const dead = await Client.open(wsUrl(nasty, "/ws?topics=bookmarks:firehose"), { autoPong: false });
      await until(() => dead.closed !== null, "the socket that never answers pings to be dropped", 30_000);
      assert.ok(dead.pings >= 1, "it was pinged first");
      assert.equal(quiet.closed, null, "the one that answers pings is still connected");
      assert.ok(quiet.pings >= 1);
      const made = await createBookmark(nasty.url, token, { title: "Still listening", url: "https://quiet.example/" });
      const push = await quiet.next((frame) => frame.event === "bookmark_created", "a push after the idle period");
      assert.deepEqual([push.topic, push.payload.id, push.ref], ["bookmarks:firehose", made.id, null]);
      await quiet.close();
    } finally {
      await nasty.close();
    }
  });
});
