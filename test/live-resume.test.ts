// Resuming live streams on /ws, /socket/websocket and /live: after a drop, exactly the missed events the viewer may see, in order, then live ones; or one resync.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { Client, fragmentOf, until, wsUrl, type Fragment } from "./support/realtime.ts";
import type { Nasty } from "../src/main.ts";

const TOPIC = "bookmarks:tag:resume";
/** Bookmarks the concurrent writer creates at most while a client resumes. */
const WRITER_CREATES_MAX = 60;

/** One push as the test compares them: what happened to which bookmark, at which seq. */
type Push = [kind: string, id: number, seq: number];

/** A subscriber of TOPIC on one endpoint, its pushes normalized to Push. */
interface Subscriber {
  pushes(): Push[];
  resyncs(): number;
  close(): Promise<void>;
}

type Endpoint = "ws" | "phoenix" | "live";
type Connect = (nasty: Nasty, since: number | null) => Promise<Subscriber>;

const KIND_OF_EVENT: Record<string, string> = { bookmark_created: "created", bookmark_updated: "updated", bookmark_deleted: "deleted", comment_posted: "comment" };

async function rawSubscriber(nasty: Nasty, since: number | null): Promise<Subscriber> {
  const client = await Client.open(wsUrl(nasty, `/ws?topics=${TOPIC}${since === null ? "" : `&since=${since}`}`));
  await client.next((frame) => frame.op === "ok" && frame.for === "subscribe", "the subscription");
  return {
    pushes: () => client.frames.filter((frame) => frame.op === undefined).map((frame) => [KIND_OF_EVENT[frame.event] ?? frame.event, frame.payload.id, frame.seq]),
    resyncs: () => client.frames.filter((frame) => frame.op === "resync" && frame.topic === TOPIC).length,
    close: () => client.close(),
  };
}

async function phoenixSubscriber(nasty: Nasty, since: number | null): Promise<Subscriber> {
  const client = await Client.open(wsUrl(nasty, "/socket/websocket?vsn=2.0.0"));
  const reply = await client.ask(["1", "1", TOPIC, "phx_join", since === null ? {} : { since }], (frame) => frame[1] === "1", "the join");
  assert.equal(reply[4].status, "ok");
  const pushes = () => client.frames.filter((frame) => frame[3] !== "phx_reply");
  return {
    pushes: () => pushes().filter((frame) => frame[3] !== "resync").map((frame) => [KIND_OF_EVENT[frame[3]] ?? frame[3], frame[4].id, frame[4].seq]),
    resyncs: () => pushes().filter((frame) => frame[3] === "resync" && frame[2] === TOPIC).length,
    close: () => client.close(),
  };
}

/** A fragment as a Push: inserted (created), replaced (updated), removed (deleted), or a comment count. */
function fragmentPush(fragment: Fragment, seq: number): Push {
  if (fragment.swap === "afterbegin") return ["created", Number(/id="b-(\d+)"/.exec(fragment.content)?.[1]), seq];
  const [, kind, id] = /^#(b|cc)-(\d+)$/.exec(fragment.target) ?? [];
  if (kind === "cc") return ["count", Number(id), seq];
  return [fragment.swap === "delete" ? "deleted" : "updated", Number(id), seq];
}

async function liveSubscriber(nasty: Nasty, since: number | null): Promise<Subscriber> {
  const socket = new WebSocket(wsUrl(nasty, `/live?topic=${encodeURIComponent(TOPIC)}${since === null ? "" : `&since=${since}`}`));
  const seqs: number[] = [];
  const fragments: Fragment[] = [];
  socket.on("message", (data) => fragments.push(fragmentOf(JSON.parse(String(data)), seqs)));
  const closed = new Promise((resolve) => socket.on("close", resolve));
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  return {
    pushes: () => fragments.filter((fragment) => fragment.swap !== "resync").map((fragment, index) => fragmentPush(fragment, seqs[index]!)),
    resyncs: () => fragments.filter((fragment) => fragment.swap === "resync").length,
    close: async () => {
      socket.close();
      await closed;
    },
  };
}

const ENDPOINTS: Record<Endpoint, Connect> = { ws: rawSubscriber, phoenix: phoenixSubscriber, live: liveSubscriber };

describe("resuming live streams", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
  });

  after(async () => {
    await nasty.close();
  });

  const patch = (token: string, id: number, bookmark: Record<string, unknown>) => request(base, "PATCH", `/api/bookmarks/${id}`, { token, body: { bookmark } });

  /** Creates public bookmarks on TOPIC until told to stop (bounded); resolves with how many. */
  function concurrentWriter(label: string): { stop: () => Promise<number> } {
    let running = true;
    const done = (async () => {
      let created = 0;
      while (running && created < WRITER_CREATES_MAX) {
        await createBookmark(base, bob, { title: `${label} writer ${created}`, url: `https://writer.example/${label}/${created}`, tags: ["resume"] });
        created += 1;
      }
      return created;
    })();
    return { stop: async () => ((running = false), await done) };
  }

  /** What a client that resumed after `since` should have: the witness's pushes after it, minus what is no longer public (a deletion always stays). */
  function visibleAfter(witness: Push[], since: number): Push[] {
    return witness.filter(([kind, id, seq]) => seq > since && (kind === "deleted" || nasty.store.visibleBookmark(id, null) !== undefined));
  }

  for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) {
    test(`${endpoint}: a client that drops and resumes with since gets exactly the visible events it missed, in order, then live ones, while a writer runs`, async () => {
      const connect = ENDPOINTS[endpoint];
      const witness = await connect(nasty, null);
      const client = await connect(nasty, null);
      const early = await createBookmark(base, alice, { title: `${endpoint} early`, url: `https://resume.example/${endpoint}/early`, tags: ["resume"] });
      const doomed = await createBookmark(base, alice, { title: `${endpoint} doomed`, url: `https://resume.example/${endpoint}/doomed`, tags: ["resume"] });
      await until(() => client.pushes().some(([, id]) => id === doomed.id), "the client seeing the bookmarks made before the drop");
      const since = Math.max(...client.pushes().map(([, , seq]) => seq));
      await client.close();

      // Missed: public ones on the topic, private ones, ones on other topics, a deletion, one made private, an edit and a comment.
      const shown = await createBookmark(base, alice, { title: `${endpoint} shown`, url: `https://resume.example/${endpoint}/shown`, tags: ["resume"] });
      const secret = await createBookmark(base, alice, { title: `${endpoint} secret`, url: `https://resume.example/${endpoint}/secret`, tags: ["resume"], public: false });
      await createBookmark(base, bob, { title: `${endpoint} elsewhere`, url: `https://resume.example/${endpoint}/elsewhere`, tags: ["other"] });
      const hidden = await createBookmark(base, alice, { title: `${endpoint} hidden later`, url: `https://resume.example/${endpoint}/hidden`, tags: ["resume"] });
      assert.equal((await patch(alice, early.id, { title: `${endpoint} early, edited` })).status, 200);
      assert.equal((await request(base, "POST", `/api/bookmarks/${shown.id}/comments`, { token: bob, body: { body: "seen while away" } })).status, 201);
      assert.equal((await patch(alice, hidden.id, { public: false })).status, 200);
      assert.equal((await request(base, "DELETE", `/api/bookmarks/${doomed.id}`, { token: alice })).status, 204);

      const writer = concurrentWriter(endpoint);
      const resumed = await connect(nasty, since);
      const written = await writer.stop();
      assert.ok(written > 0, "the writer ran while the client resumed");
      const last = await createBookmark(base, alice, { title: `${endpoint} last`, url: `https://resume.example/${endpoint}/last`, tags: ["resume"] });
      for (const subscriber of [witness, resumed]) await until(() => subscriber.pushes().some(([, id]) => id === last.id), "the last bookmark's push");

      const expected = visibleAfter(witness.pushes(), since);
      const got = resumed.pushes();
      assert.deepEqual(got, expected);
      assert.equal(resumed.resyncs(), 0);
      assert.ok(!got.some(([, id]) => id === secret.id), "a private bookmark is never replayed to others");
      assert.ok(got.some(([kind, id]) => kind === "deleted" && id === hidden.id), "one made private since leaves the topic");
      assert.ok(!got.some(([kind, id]) => kind !== "deleted" && id === hidden.id), "and its earlier pushes are not replayed");
      assert.ok(got.some(([kind, id]) => kind === "deleted" && id === doomed.id), "a deletion is replayed");
      assert.ok(got.some(([kind, id]) => kind === "created" && id === shown.id), "the missed public bookmark is replayed");
      for (let index = 1; index < got.length; index += 1) assert.ok(got[index]![2] > got[index - 1]![2], "strictly in seq order: no duplicate");
      for (const subscriber of [witness, resumed]) await subscriber.close();
    });
  }

  test("a raw subscribe frame resumes too; since that is not a seq is refused with a reason", async () => {
    const client = await Client.open(wsUrl(nasty, "/ws"));
    const head = (await request(base, "GET", "/api/status")).json.live.head_seq as number;
    const made = await createBookmark(base, alice, { title: "frame resume", url: "https://resume.example/frame", tags: ["resume"] });
    const ok = await client.ask({ op: "subscribe", topic: TOPIC, since: head, ref: "s" }, (frame) => frame.ref === "s", "the subscribe answer");
    assert.equal(ok.op, "ok");
    const replayed = await client.next((frame) => frame.event === "bookmark_created", "the replayed push");
    assert.deepEqual([replayed.payload.id, replayed.seq > head], [made.id, true]);
    const bad = await client.ask({ op: "subscribe", topic: "bookmarks:firehose", since: "yesterday", ref: "b" }, (frame) => frame.ref === "b", "the refusal");
    assert.deepEqual([bad.op, bad.reason], ["error", "subscribe: since must be the seq of the last event you saw (a whole number)"]);
    await client.close();
    const refused = await new Promise<number>((resolve) => new WebSocket(wsUrl(nasty, "/ws?since=-1")).on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0)).on("error", () => {}));
    assert.equal(refused, 400);
  });
});

describe("resuming from before the history", () => {
  let nasty: Nasty;
  let base: string;
  let alice: string;
  const HISTORY = 5;

  before(async () => {
    nasty = await startTestServer({ NASTY_LIVE_HISTORY: String(HISTORY) });
    base = nasty.url;
    alice = await signUp(base, "alice");
  });

  after(async () => {
    await nasty.close();
  });

  for (const endpoint of Object.keys(ENDPOINTS) as Endpoint[]) {
    test(`${endpoint}: since older than the history gets one resync, then the live pushes`, async () => {
      const since = (await request(base, "GET", "/api/status")).json.live.head_seq as number;
      for (let index = 0; index <= HISTORY; index += 1) await createBookmark(base, alice, { title: `${endpoint} ${index}`, url: `https://old.example/${endpoint}/${index}`, tags: ["resume"] });
      const resumed = await ENDPOINTS[endpoint](nasty, since);
      const live = await createBookmark(base, alice, { title: `${endpoint} live`, url: `https://old.example/${endpoint}/live`, tags: ["resume"] });
      await until(() => resumed.pushes().some(([, id]) => id === live.id), "the live push after the resync");
      assert.equal(resumed.resyncs(), 1);
      assert.deepEqual(resumed.pushes().map(([kind, id]) => [kind, id]), [["created", live.id]], "nothing replayed, only what came after");
      const current = await ENDPOINTS[endpoint](nasty, (await request(base, "GET", "/api/status")).json.live.head_seq as number);
      const next = await createBookmark(base, alice, { title: `${endpoint} next`, url: `https://old.example/${endpoint}/next`, tags: ["resume"] });
      await until(() => current.pushes().some(([, id]) => id === next.id), "the push to a client that is up to date");
      assert.equal(current.resyncs(), 0, "a since within the history is no resync (positive control)");
      await resumed.close();
      await current.close();
    });
  }
});
