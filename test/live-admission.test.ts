// Who may follow which topic, one table run against all three live endpoints (/ws, /socket/websocket, /live) on a real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { createBookmark, signUp, startTestServer } from "./support/server.ts";
import { Client, wsUrl } from "./support/realtime.ts";
import { PageClient } from "./support/pages.ts";
import { ownerWireTopic, wireTopic } from "../src/realtime/topics.ts";
import type { Nasty } from "../src/main.ts";

type Endpoint = "ws" | "phoenix" | "live";
type Verdict = "admitted" | "owner" | "refused";

/** How a viewer connects: a token in the URL, or a session cookie with an Origin (or none). */
interface Viewer {
  token?: () => string;
  headers?: () => Record<string, string>;
}

describe("live admission: one rule for every endpoint", () => {
  let nasty: Nasty;
  let alice: string;
  let aliceCookie: string;
  let publicId: number;
  let privateId: number;

  before(async () => {
    nasty = await startTestServer();
    alice = await signUp(nasty.url, "alice");
    await signUp(nasty.url, "bob");
    const page = new PageClient(nasty.url);
    await page.logIn("alice");
    aliceCookie = page.cookieHeader();
    publicId = (await createBookmark(nasty.url, alice, { title: "open", url: "https://admit.example/open" })).id;
    privateId = (await createBookmark(nasty.url, alice, { title: "closed", url: "https://admit.example/closed", public: false })).id;
  });

  after(async () => {
    await nasty.close();
  });

  const viewers: Record<string, Viewer> = {
    nobody: {},
    "alice by token": { token: () => alice },
    "alice's cookie from this site": { headers: () => ({ cookie: aliceCookie, origin: nasty.url }) },
    "alice's cookie from another site": { headers: () => ({ cookie: aliceCookie, origin: "https://evil.example" }) },
    "alice's cookie without Origin": { headers: () => ({ cookie: aliceCookie }) },
  };

  /** [viewer, topic, /ws, /socket/websocket, /live]; topics given as functions of the bookmarks made in `before`. */
  const TABLE: [string, () => string, Verdict, Verdict, Verdict][] = [
    ["nobody", () => "bookmarks:firehose", "admitted", "admitted", "admitted"],
    ["nobody", () => "bookmarks:tag:rust", "admitted", "admitted", "admitted"],
    ["nobody", () => "bookmarks:user:alice", "admitted", "admitted", "admitted"],
    ["nobody", () => "bookmarks:user:nobody-here", "refused", "refused", "refused"],
    ["nobody", () => "bookmarks:user:alice:private", "refused", "refused", "refused"],
    ["nobody", () => `bookmark:${publicId}`, "admitted", "admitted", "admitted"],
    ["nobody", () => `bookmark:${privateId}`, "refused", "refused", "refused"],
    ["nobody", () => "bookmark:999999", "refused", "refused", "refused"],
    ["nobody", () => "bookmark:feed", "admitted", "admitted", "refused"],
    ["nobody", () => "tag:rust", "admitted", "admitted", "refused"],
    ["nobody", () => "bookmarks:tags:rust+web", "refused", "refused", "admitted"],
    ["nobody", () => "stats", "refused", "refused", "admitted"],
    ["nobody", () => "nonsense", "refused", "refused", "refused"],
    ["alice by token", () => "bookmarks:user:alice:private", "admitted", "admitted", "admitted"],
    ["alice by token", () => `bookmark:${privateId}`, "owner", "owner", "owner"],
    ["alice by token", () => `bookmark:${publicId}`, "owner", "owner", "owner"],
    ["alice's cookie from this site", () => "bookmarks:user:alice:private", "admitted", "admitted", "admitted"],
    ["alice's cookie from this site", () => `bookmark:${privateId}`, "owner", "owner", "owner"],
    ["alice's cookie from another site", () => "bookmarks:user:alice:private", "refused", "refused", "refused"],
    ["alice's cookie from another site", () => `bookmark:${privateId}`, "refused", "refused", "refused"],
    ["alice's cookie without Origin", () => "bookmarks:user:alice:private", "refused", "refused", "refused"],
    ["alice's cookie without Origin", () => "bookmarks:firehose", "admitted", "admitted", "admitted"],
  ];

  function url(path: string, viewer: Viewer): string {
    const token = viewer.token ? `${path.includes("?") ? "&" : "?"}token=${viewer.token()}` : "";
    return wsUrl(nasty, path + token);
  }

  /** The uWS topics a join of `name` lands on for `wire`: the public channel and the owner's (Phoenix v2 joins subscribe to their join_ref class). */
  function subscribers(wire: "json" | "phx1" | "html", name: string): [number, number] {
    return [nasty.app.numSubscribers(wireTopic(wire, name)), nasty.app.numSubscribers(ownerWireTopic(wire, name))];
  }

  /** Whether the join ended on the public channel, the owner channel, or was refused: read from uWS's own subscriber counts. */
  function verdictOf(before: [number, number], after: [number, number], refused: boolean): Verdict {
    if (refused) {
      assert.deepEqual(after, before, "a refused join subscribes to nothing");
      return "refused";
    }
    if (after[1] === before[1] + 1 && after[0] === before[0]) return "owner";
    assert.deepEqual(after, [before[0] + 1, before[1]], "an admitted join subscribes to the public channel");
    return "admitted";
  }

  const JOIN: Record<Endpoint, (viewer: Viewer, name: string) => Promise<Verdict>> = {
    async ws(viewer, name) {
      const client = await Client.open(url("/ws", viewer), { headers: viewer.headers?.() });
      const before = subscribers("json", name);
      const answer = await client.ask({ op: "subscribe", topic: name, ref: "j" }, (frame) => frame.ref === "j", `the answer to ${name}`);
      const verdict = verdictOf(before, subscribers("json", name), answer.op !== "ok");
      await client.close();
      return verdict;
    },
    async phoenix(viewer, name) {
      const client = await Client.open(url("/socket/websocket", viewer), { headers: viewer.headers?.() });
      const before = subscribers("phx1", name);
      const reply = await client.ask({ topic: name, event: "phx_join", payload: {}, ref: "j" }, (frame) => frame.ref === "j", `the reply to ${name}`);
      const verdict = verdictOf(before, subscribers("phx1", name), reply.payload.status !== "ok");
      await client.close();
      return verdict;
    },
    async live(viewer, name) {
      const before = subscribers("html", name);
      const socket = new WebSocket(url(`/live?topic=${encodeURIComponent(name)}`, viewer), { headers: viewer.headers?.() });
      const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
      await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
      // uWS runs `open` (subscribe, or end with 44xx) before the client hears of the handshake.
      const after = subscribers("html", name);
      const refused = after[0] === before[0] && after[1] === before[1];
      if (refused) assert.ok((await closed) >= 4400, "a refused page socket is closed with a 44xx code");
      const verdict = verdictOf(before, after, refused);
      socket.close();
      await closed;
      return verdict;
    },
  };

  for (const [endpointIndex, endpoint] of (["ws", "phoenix", "live"] as const).entries()) {
    test(`${endpoint}: every row of the admission table`, async () => {
      const seen: string[] = [];
      const wanted: string[] = [];
      for (const row of TABLE) {
        const [viewerName, topicOf] = row;
        const name = topicOf();
        seen.push(`${viewerName} → ${name}: ${await JOIN[endpoint](viewers[viewerName]!, name)}`);
        wanted.push(`${viewerName} → ${name}: ${row[2 + endpointIndex]}`);
      }
      assert.deepEqual(seen, wanted);
    });
  }
});
