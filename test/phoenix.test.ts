// Phoenix Channels compatibility at /socket/websocket: Phoenix's own JavaScript client (v2) and the original app's v1 object clients.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Socket, type Channel, type Push } from "phoenix";
import { createBookmark, othersView, request, signUp, startTestServer } from "./support/server.ts";
import { Client, WAIT_MS_MAX, until, wsUrl } from "./support/realtime.ts";
import type { Nasty } from "../src/main.ts";
import { FRAME_BYTES_MAX, JOIN_REF_CLASSES_PER_TOPIC_MAX } from "../src/realtime/socket-hub.ts";
import { phoenixWireTopic } from "../src/realtime/topics.ts";
import { joinRefJson } from "../src/realtime/wire.ts";

/** What a push was answered with: "ok", "error" or "timeout", and the response. */
function answer(push: Push): Promise<{ status: string; response: any }> {
  return new Promise((resolve) => {
    push.receive("ok", (response) => resolve({ status: "ok", response }));
    push.receive("error", (response) => resolve({ status: "error", response }));
    push.receive("timeout", () => resolve({ status: "timeout", response: null }));
  });
}

/** The next `event` pushed on `channel` (bounded). */
/** A push's payload without its `seq`, which must be there: the event's position in the log. */
function seqless(payload: any): any {
  assert.ok(Number.isSafeInteger(payload?.seq) && payload.seq > 0, `push without a seq: ${JSON.stringify(payload)}`);
  const { seq: _seq, ...rest } = payload;
  return rest;
}

function nextPush(channel: Channel, event: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} on ${channel.topic}`)), WAIT_MS_MAX);
    const ref = channel.on(event, (payload) => {
      clearTimeout(timer);
      channel.off(event, ref);
      resolve(seqless(payload));
    });
  });
}

describe("Phoenix Channels", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  const sockets: Socket[] = [];
  const clients: Client[] = [];
  /** Phoenix's own client, as a browser would use it, with `ws` as its WebSocket; never reconnects behind a test's back. */
  const phoenix = (options: Record<string, unknown> = {}) => {
    const socket = new Socket(wsUrl(nasty, "/socket"), { transport: WebSocket, reconnectAfterMs: () => 60_000, rejoinAfterMs: () => 60_000, timeout: WAIT_MS_MAX, ...options } as never);
    socket.connect();
    sockets.push(socket);
    return socket;
  };
  /** A raw `ws` client speaking v2 arrays. */
  const openV2 = async () => {
    const client = await Client.open(wsUrl(nasty, "/socket/websocket?vsn=2.0.0"));
    clients.push(client);
    return client;
  };
  /** Joins `topic` with `joinRef` as join_ref and ref; fails unless the reply is ok. */
  const joinV2 = async (client: Client, topic: string, joinRef: string | number) => {
    const reply = await client.ask([joinRef, joinRef, topic, "phx_join", {}], (frame) => frame[1] === joinRef && frame[3] === "phx_reply", `the join of ${topic} as ${joinRef}`);
    assert.deepEqual(reply, [joinRef, joinRef, topic, "phx_reply", { status: "ok", response: {} }]);
  };
  /** Everything pushed before this returns has arrived (a heartbeat is answered in order). */
  const barrierV2 = async (client: Client) => {
    const ref = `beat-${client.frames.length}`;
    await client.ask([null, ref, "phoenix", "heartbeat", {}], (frame) => frame[1] === ref, "the barrier heartbeat");
  };
  const pushesV2 = (client: Client) => client.frames.filter((frame) => frame[3] !== "phx_reply").map((frame) => [...frame.slice(0, 4), seqless(frame[4])]);
  const classSubscribers = (topic: string, joinRef: string | number | null) => nasty.app.numSubscribers(phoenixWireTopic(topic, joinRefJson(joinRef), false));
  const joinRefClasses = async () => (await request(base, "GET", "/api/status")).json.realtime.joinRefClasses as number;
  const v1 = async () => {
    const client = await Client.open(wsUrl(nasty, "/socket/websocket"));
    clients.push(client);
    return client;
  };

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
  });
  after(async () => {
    // A refused join leaves a rejoin timer behind (Phoenix's client retries); leaving clears it.
    for (const socket of sockets) {
      for (const channel of (socket as unknown as { channels: Channel[] }).channels) channel.leave();
      socket.disconnect();
    }
    for (const client of clients) await client.close();
    await nasty.close();
  });

  test("Phoenix's client joins bookmarks:firehose and receives bookmark_created unchanged", async () => {
    const socket = phoenix();
    const firehose = socket.channel("bookmarks:firehose", {});
    assert.deepEqual(await answer(firehose.join()), { status: "ok", response: {} });
    const pushed = nextPush(firehose, "bookmark_created");
    const made = othersView(await createBookmark(base, alice, { title: "Hello Phoenix", url: "https://phoenix.example/", tags: ["elixir"] }));
    assert.deepEqual(await pushed, made, "the payload is the API's bookmark as others see it");

    const heartbeat = await new Promise<number>((resolve) => socket.ping(resolve));
    assert.ok(heartbeat >= 0, "the heartbeat on topic phoenix is answered");
    const refused = await answer(socket.channel("bookmarks:user:nobody", {}).join());
    assert.deepEqual(refused, { status: "error", response: { reason: "no user named 'nobody'" } });
    const unknown = await answer(socket.channel("rooms:lobby", {}).join());
    assert.equal(unknown.status, "error");
    assert.match(unknown.response.reason, /unknown topic 'rooms:lobby'/);
    assert.equal((await answer(firehose.leave())).status, "ok");
    const status = await request(base, "GET", "/api/status");
    assert.ok(status.json.realtime.connections >= 1);
  });

  test("new_comment from one Phoenix client is durable, answered, and pushed to another watching the bookmark", async () => {
    const bob = await signUp(base, "bob");
    const target = await createBookmark(base, bob, { title: "Talk about it", url: "https://talk.example/" });
    const topic = `bookmark:${target.id}`;
    const speaker = phoenix({ params: { token: alice } });
    const listener = phoenix({ authToken: bob });
    const anonymous = phoenix();
    const speakerChannel = speaker.channel(topic, {});
    const listenerChannel = listener.channel(topic, {});
    const anonymousChannel = anonymous.channel(topic, {});
    for (const channel of [speakerChannel, listenerChannel, anonymousChannel]) assert.equal((await answer(channel.join())).status, "ok");

    const heard = nextPush(listenerChannel, "comment_posted");
    const sent = await answer(speakerChannel.push("new_comment", { body: "Nice link" }));
    assert.equal(sent.status, "ok");
    assert.deepEqual({ ...sent.response.comment, id: 0, inserted_at: "" }, { id: 0, bookmark_id: target.id, user: "alice", body: "Nice link", inserted_at: "" });
    assert.deepEqual(await heard, sent.response.comment);
    const stored = await request(base, "GET", `/api/bookmarks/${target.id}/comments`);
    assert.equal(stored.json.data[0].id, sent.response.comment.id);

    const refused = await answer(anonymousChannel.push("new_comment", { body: "who am I" }));
    assert.equal(refused.status, "error");
    assert.match(refused.response.reason, /needs a token or session/);
    const blank = await answer(speakerChannel.push("new_comment", {}));
    assert.match(blank.response.reason, /body can't be blank/);
    const unknownEvent = await answer(speakerChannel.push("shout", {}));
    assert.match(unknownEvent.response.reason, /unknown event 'shout'/);

    const own = phoenix({ params: { token: bob } });
    assert.equal((await answer(own.channel("bookmarks:user:bob:private", {}).join())).status, "ok");
    const notTheirs = await answer(speaker.channel("bookmarks:user:bob:private", {}).join());
    assert.match(notTheirs.response.reason, /only for bob/);
  });

  test("v2 pushes carry each subscriber's own join_ref; leave, rejoin and close keep the join_ref classes right", async () => {
    const topic = "bookmarks:firehose";
    const classesBefore = await joinRefClasses();
    const seven = await openV2();
    const twelve = await openV2();
    const alsoSeven = await openV2();
    const mover = await openV2();
    const numeric = await openV2();
    const quoted = await openV2();
    await joinV2(seven, topic, "7");
    await joinV2(twelve, topic, "12");
    await joinV2(alsoSeven, topic, "7");
    await joinV2(mover, topic, "3");
    await joinV2(numeric, topic, 5);
    await joinV2(quoted, topic, 'a"b\\c|d');
    await joinV2(mover, topic, "20");
    assert.deepEqual([classSubscribers(topic, "7"), classSubscribers(topic, "12"), classSubscribers(topic, "3"), classSubscribers(topic, "20")], [2, 1, 0, 1]);
    assert.equal(await joinRefClasses(), classesBefore + 5, "classes 7, 12, 20, 5 and the quoted one; 3 is gone with the rejoin");

    const socket = phoenix();
    const first = socket.channel(topic, {});
    assert.equal((await answer(first.join())).status, "ok");
    assert.equal((await answer(first.leave())).status, "ok");
    const again = socket.channel(topic, {});
    assert.equal((await answer(again.join())).status, "ok");
    const heard = nextPush(again, "bookmark_created");

    const made = othersView(await createBookmark(base, alice, { title: "Refs", url: "https://refs.example/" }));
    const expected: [Client, string | number][] = [[seven, "7"], [twelve, "12"], [alsoSeven, "7"], [mover, "20"], [numeric, 5], [quoted, 'a"b\\c|d']];
    for (const [client, joinRef] of expected) {
      await barrierV2(client);
      assert.deepEqual(pushesV2(client), [[joinRef, null, topic, "bookmark_created", made]], `the push to join_ref ${joinRef}`);
    }
    assert.deepEqual(await heard, made, "Phoenix's client, rejoined with a new join_ref, still receives bookmark_created");
    assert.equal((await answer(again.leave())).status, "ok");

    const left = await twelve.ask(["12", "leave-12", topic, "phx_leave", {}], (frame) => frame[1] === "leave-12", "the leave reply");
    assert.equal(left[4].status, "ok");
    assert.equal(classSubscribers(topic, "12"), 0);
    await alsoSeven.close();
    await until(() => classSubscribers(topic, "7") === 1, "the closed socket to leave class 7");
    await seven.close();
    await until(() => classSubscribers(topic, "7") === 0, "class 7 to empty");
    assert.equal(await joinRefClasses(), classesBefore + 3, "12 and 7 are gone; 20, 5 and the quoted one remain");

    const next = othersView(await createBookmark(base, alice, { title: "Refs again", url: "https://refs-again.example/" }));
    await barrierV2(twelve);
    await barrierV2(mover);
    assert.equal(pushesV2(twelve).length, 1, "nothing after the leave");
    assert.deepEqual(pushesV2(mover).at(-1), ["20", null, topic, "bookmark_created", next]);
  });

  test(`a topic frames at most ${JOIN_REF_CLASSES_PER_TOPIC_MAX} join_refs of its own; later joins share null until a class frees`, async () => {
    const topic = "bookmarks:tag:many-refs";
    const joined: Client[] = [];
    for (let index = 1; index <= JOIN_REF_CLASSES_PER_TOPIC_MAX + 1; index += 1) {
      const client = await openV2();
      await joinV2(client, topic, `r${index}`);
      joined.push(client);
    }
    assert.equal(classSubscribers(topic, null), 1, "the one over the bound shares the null class");
    const made = othersView(await createBookmark(base, alice, { title: "Many", url: "https://many.example/", tags: ["many-refs"] }));
    for (const [index, client] of joined.entries()) {
      await barrierV2(client);
      const joinRef = index < JOIN_REF_CLASSES_PER_TOPIC_MAX ? `r${index + 1}` : null;
      assert.deepEqual(pushesV2(client), [[joinRef, null, topic, "bookmark_created", made]]);
    }
    await joined[0]!.close();
    await until(() => classSubscribers(topic, "r1") === 0, "class r1 to empty");
    const late = await openV2();
    await joinV2(late, topic, "late");
    assert.equal(classSubscribers(topic, "late"), 1, "a freed place is taken by the next new join_ref");
  });

  test("the original app's v1 clients: objects without vsn, its bookmark:feed and tag:<tag> channels and events", async () => {
    const client = await v1();
    const join = async (topic: string, ref: string) => client.ask({ topic, event: "phx_join", payload: {}, ref }, (frame) => frame.ref === ref, `the join of ${topic}`);
    assert.deepEqual(await join("bookmarks:firehose", "1"), { topic: "bookmarks:firehose", event: "phx_reply", payload: { status: "ok", response: {} }, ref: "1" });
    assert.equal((await join("bookmark:feed", "2")).payload.status, "ok");
    assert.equal((await join("tag:python", "3")).payload.status, "ok");
    const beat = await client.ask({ topic: "phoenix", event: "heartbeat", payload: {}, ref: 4 }, (frame) => frame.ref === 4, "the heartbeat reply");
    assert.deepEqual(beat.payload, { status: "ok", response: {} });

    const made = await createBookmark(base, alice, { title: "Snake", url: "https://python.example/", tags: ["python"], description: "about snakes" });
    await request(base, "POST", `/api/bookmarks/${made.id}/comments`, { token: alice, body: { body: "hiss" } });
    await request(base, "DELETE", `/api/bookmarks/${made.id}`, { token: alice });
    await client.ask({ topic: "phoenix", event: "heartbeat", payload: {}, ref: 5 }, (frame) => frame.ref === 5, "the barrier heartbeat");
    const pushes = client.frames.filter((frame) => frame.event !== "phx_reply").map((frame) => ({ ...frame, payload: seqless(frame.payload) }));
    assert.deepEqual(pushes.map((frame) => `${frame.topic} ${frame.event}`), [
      "bookmarks:firehose bookmark_created", "bookmark:feed bookmark:created", "tag:python bookmark:created",
      "bookmark:feed bookmark:chat", "tag:python bookmark:chat",
      "bookmarks:firehose bookmark_deleted", "bookmark:feed bookmark:deleted", "tag:python bookmark:deleted",
    ]);
    assert.ok(pushes.every((frame) => frame.ref === null));
    const created = pushes[1];
    assert.deepEqual({ ...created.payload, timestamp: "" }, { id: made.id, title: "Snake", description: "about snakes", url: "https://python.example/", tags: ["python"], timestamp: "" });
    const chat = pushes[3];
    assert.deepEqual({ ...chat.payload, timestamp: "" }, { bookmark_id: made.id, bookmark_title: "Snake", user: "alice", content: "hiss", timestamp: "" });
    assert.deepEqual(Object.keys(pushes[6].payload).sort(), ["id", "timestamp"]);
  });

  test("bad frames get answers naming the problem; the socket keeps working", async () => {
    const client = await v1();
    const reason = async (frame: string, ref: string | null = null) => {
      const from = client.frames.length;
      client.socket.send(frame);
      const reply = await client.next((candidate) => (ref === null ? candidate.event === "phx_error" : candidate.ref === ref), `the answer to ${frame.slice(0, 60)}`, from);
      return ref === null ? reply.payload.reason : reply.payload.response.reason;
    };
    assert.match(await reason("{oops"), /invalid JSON/);
    assert.match(await reason("[1,2,3]"), /a v2 frame is \[join_ref, ref, topic, event, payload\], got an array of 3/);
    assert.match(await reason("42"), /a frame must be/);
    assert.match(await reason("x".repeat(FRAME_BYTES_MAX + 1)), /over the limit of 16384 bytes/);
    assert.match(await reason('{"topic":"bookmarks:firehose","event":"phx_join","payload":[],"ref":"p"}', "p"), /payload must be a JSON object/);
    assert.match(await reason('{"topic":"bookmarks:firehose","event":"new_comment","payload":{},"ref":"u"}', "u"), /^unmatched topic$/);
    assert.match(await reason('{"topic":"bookmarks:firehose","event":"phx_leave","payload":{},"ref":"l"}', "l"), /not subscribed to bookmarks:firehose/);
    assert.match(await reason('{"topic":"bookmarks:user:alice:private","event":"phx_join","payload":{},"ref":"f"}', "f"), /only for alice/);
    const beat = await client.ask({ topic: "phoenix", event: "heartbeat", payload: {}, ref: "alive" }, (frame) => frame.ref === "alive", "a heartbeat after the errors");
    assert.equal(beat.payload.status, "ok");
    assert.equal(client.closed, null);

    const v2 = await Client.open(wsUrl(nasty, "/socket/websocket?vsn=2.0.0"));
    clients.push(v2);
    const replied = await v2.ask(["9", "9", "bookmarks:firehose", "phx_join", {}], (frame) => frame[1] === "9", "the v2 join reply");
    assert.deepEqual(replied, ["9", "9", "bookmarks:firehose", "phx_reply", { status: "ok", response: {} }]);
    v2.send("not json");
    const error = await v2.next((frame) => frame[3] === "phx_error", "the v2 frame error");
    assert.deepEqual(error.slice(0, 3), [null, null, "phoenix"]);
  });
});
