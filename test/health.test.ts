// /healthz, /readyz (through a real slow replay and a real failed commit), and /metrics parsed as Prometheus text with its counters following traffic.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import type net from "node:net";
import Database from "better-sqlite3";
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import { startNasty, type Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer, testConfig, type Reply } from "./support/server.ts";
import { appendRawEvents } from "./support/raw-log.ts";
import { freePort } from "./support/nginx.ts";
import WebSocket from "ws";
import { Client, sleep, stalledWebsocket, subscribe, until, wsUrl } from "./support/realtime.ts";

const TOKEN = "metrics-token-for-tests-0123456789";
/** Bookmarks in the slow log: enough that replaying them takes many of the server's 50 ms slices. */
const BIG_LOG_BOOKMARKS = 200_000;
/** Bound on waiting for a server to become ready (not a speed assertion). */
const READY_WAIT_MS = 120_000;

/** Polls /readyz until it answers 200; returns every 503 reason seen on the way. */
async function waitReady(base: string): Promise<string[]> {
  const reasons: string[] = [];
  for (let waited = 0; waited < READY_WAIT_MS; waited += 25) {
    const reply = await request(base, "GET", "/readyz");
    if (reply.status === 200) return reasons;
    assert.equal(reply.status, 503, reply.text);
    reasons.push(reply.text);
    await sleep(25);
  }
  throw new Error(`not ready within ${READY_WAIT_MS} ms: ${reasons.at(-1)}`);
}

describe("/healthz and /readyz", () => {
  let nasty: Nasty;
  before(async () => {
    nasty = await startTestServer();
  });
  after(() => nasty.close());

  test("/healthz answers GET and HEAD with 200; other methods 405", async () => {
    const get = await request(nasty.url, "GET", "/healthz");
    assert.equal(get.status, 200);
    assert.equal(get.text, "ok\n");
    const head = await fetch(`${nasty.url}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const post = await request(nasty.url, "POST", "/healthz");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
  });

  test("/readyz: 200 while the log commits; 503 naming the failed commit while it cannot; 200 again once one commits", async () => {
    await waitReady(nasty.url);
    assert.equal((await request(nasty.url, "GET", "/readyz")).text, "ready\n");
    const token = await signUp(nasty.url, "writer");
    // Another connection holds the write lock: the writer's commit times out (busy), for real.
    const locker = new Database(path.join(nasty.config.dataDir, "events.sqlite3"));
    let failed: Reply;
    let notReady: Reply;
    try {
      locker.exec("BEGIN IMMEDIATE");
      failed = await request(nasty.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://example.com/locked", title: "locked" } } });
      notReady = await request(nasty.url, "GET", "/readyz");
    } finally {
      locker.exec("ROLLBACK");
      locker.close();
    }
    assert.equal(failed.status, 503, failed.text);
    assert.equal(notReady.status, 503);
    assert.match(notReady.text, /^not ready: the event log's last commit failed \(.*(busy|locked).*\)\n$/);
    assert.equal(notReady.headers.get("retry-after"), "5");
    await createBookmark(nasty.url, token, { url: "https://example.com/unlocked", title: "unlocked" });
    assert.equal((await request(nasty.url, "GET", "/readyz")).status, 200);
  });
});

describe("/readyz through a slow start", () => {
  test("503 with the replay's progress while a big log replays (everything else 503 too, /healthz 200), then 200", { timeout: READY_WAIT_MS * 2 }, async () => {
    // A real log of BIG_LOG_BOOKMARKS bookmarks: one server writes a user, the rest goes straight into its SQLite file.
    const first = await startTestServer();
    const token = await signUp(first.url, "bulk");
    await createBookmark(first.url, token, { url: "https://example.com/0", title: "seed" });
    const userId = first.store.userByName("bulk")!.id;
    const dataDir = first.config.dataDir;
    const logEvents = first.log.stats().events + BIG_LOG_BOOKMARKS;
    await first.close();
    const events: [string, object][] = [];
    for (let index = 1; index <= BIG_LOG_BOOKMARKS; index += 1) {
      events.push(["bookmark.created", { id: (1000 + index) * 1024 + 1, user_id: userId, url: `https://example.com/${index}`, title: `bookmark ${index}`, description: "", public: true, tags: ["bulk"] }]);
    }
    appendRawEvents(dataDir, events);

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server: { started: Nasty | null } = { started: null };
    const starting = startNasty(testConfig({ PORT: String(port), NASTY_DATA_DIR: dataDir }), { quiet: true }).then((nasty) => (server.started = nasty));
    try {
      const during: Reply[] = [];
      const health: Reply[] = [];
      const other: Reply[] = [];
      while (server.started === null) {
        const [ready, healthz, api] = await Promise.all([request(base, "GET", "/readyz"), request(base, "GET", "/healthz"), request(base, "GET", "/api/bookmarks")]).catch(() => [null, null, null]);
        if (server.started !== null) break;
        if (ready && healthz && api) {
          during.push(ready);
          health.push(healthz);
          other.push(api);
        }
        await sleep(10);
      }
      assert.ok(during.length > 0, "/readyz answered while the log replayed");
      for (const reply of during) {
        assert.equal(reply.status, 503);
        assert.match(reply.text, new RegExp(`^not ready: replaying the event log \\(\\d+ of ${logEvents} events\\)\\n$`));
      }
      assert.ok(health.every((reply) => reply.status === 200 && reply.text === "ok\n"), "the process answers /healthz throughout");
      assert.ok(other.every((reply) => reply.status === 503 && /^starting: replaying the event log/.test((reply.json as { error: string }).error)), "nothing sees a half-replayed store; the API says so in JSON");
      const progress = during.map((reply) => Number(/\((\d+) of/.exec(reply.text)![1]));
      assert.ok(progress.at(-1)! > 0, `the progress moves: ${progress.join(", ")}`);
      await starting;
      const afterReplay = await waitReady(base);
      for (const reason of afterReplay) assert.match(reason, /^not ready: the search index is building \(\d+ of \d+ bookmarks\)\n$/);
      assert.equal((await request(base, "GET", "/api/bookmarks?limit=1")).status, 200);
      assert.equal(server.started!.store.bookmarksById.size, BIG_LOG_BOOKMARKS + 1);
    } finally {
      await starting;
      await server.started?.close();
    }
  });
});

/** The families of a scrape, by name. */
async function scrape(base: string): Promise<Map<string, Family>> {
  const reply = await request(base, "GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheusTextFormat(reply.text).map((family) => [family.name, family]));
}

/** The value of the sample of `name` whose labels include `labels` (0 when there is none yet). */
function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  assert.ok(family, `${name} is exported`);
  const sample = family.metrics.find((metric) => Object.entries(labels).every(([key, wanted]) => metric.labels?.[key] === wanted));
  return sample?.value === undefined ? 0 : Number(sample.value);
}

describe("/metrics", () => {
  let nasty: Nasty;
  let off: Nasty;
  before(async () => {
    nasty = await startTestServer({ NASTY_METRICS_TOKEN: TOKEN });
    off = await startTestServer();
  });
  after(async () => {
    await nasty.close();
    await off.close();
  });

  test("is 404 without NASTY_METRICS_TOKEN; with it, 401 without the right Bearer token", async () => {
    assert.equal((await request(off.url, "GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
    const none = await request(nasty.url, "GET", "/metrics");
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
    assert.equal((await request(nasty.url, "GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}x` } })).status, 401);
    assert.equal((await request(nasty.url, "GET", "/metrics", { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` } })).status, 401);
    assert.equal((await request(nasty.url, "GET", "/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  });

  test("counters follow traffic: requests by route pattern and status, events, commits, sockets, pushes, drops; default metrics are there", async () => {
    const token = await signUp(nasty.url, "metered");
    const raw = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(raw, "bookmarks:firehose");
    // The page socket sends HTML fragments, not JSON: a plain client counting them.
    const live = new WebSocket(wsUrl(nasty, "/live?topic=bookmarks:firehose"));
    let liveMessages = 0;
    live.on("message", () => (liveMessages += 1));
    await new Promise((resolve, reject) => live.once("open", resolve).once("error", reject));
    const beforeTraffic = await scrape(nasty.url);
    assert.equal(value(beforeTraffic, "nasty_websocket_connections", { endpoint: "json" }), 1);
    assert.equal(value(beforeTraffic, "nasty_websocket_connections", { endpoint: "live" }), 1);
    assert.ok(value(beforeTraffic, "nasty_websocket_subscriptions") >= 1);

    const created: { id: number }[] = [];
    for (let index = 0; index < 3; index += 1) created.push(await createBookmark(nasty.url, token, { url: `https://example.com/m${index}`, title: `m${index}`, public: true }));
    assert.equal((await request(nasty.url, "GET", `/api/bookmarks/${created[0]!.id}`, { token })).status, 200);
    assert.equal((await request(nasty.url, "GET", "/api/bookmarks/999999999", { token })).status, 404);
    await raw.next((frame) => frame.payload?.id === created[2]!.id, "the last push");
    await until(() => liveMessages >= 3, "the live page's pushes");
    const stalled: net.Socket = await stalledWebsocket(nasty.port, "/ws");
    let connected = await scrape(nasty.url);
    for (let attempt = 0; attempt < 100 && value(connected, "nasty_websocket_connections", { endpoint: "json" }) !== 2; attempt += 1) connected = (await sleep(20), await scrape(nasty.url));
    assert.equal(value(connected, "nasty_websocket_connections", { endpoint: "json" }), 2, "the stalled socket is open");
    stalled.destroy(); // gone without a close frame: 1006
    let afterTraffic = await scrape(nasty.url);
    for (let attempt = 0; attempt < 100 && value(afterTraffic, "nasty_websocket_connections", { endpoint: "json" }) !== 1; attempt += 1) afterTraffic = (await sleep(20), await scrape(nasty.url));
    const moved = (name: string, labels: Record<string, string> = {}) => value(afterTraffic, name, labels) - value(beforeTraffic, name, labels);
    assert.equal(moved("nasty_http_requests_total", { method: "post", route: "/api/bookmarks", status: "201" }), 3);
    assert.equal(moved("nasty_http_requests_total", { method: "get", route: "/api/bookmarks/:id", status: "200" }), 1);
    assert.equal(moved("nasty_http_requests_total", { method: "get", route: "/api/bookmarks/:id", status: "404" }), 1);
    const routes = afterTraffic.get("nasty_http_requests_total")!.metrics.map((metric) => metric.labels?.route ?? "");
    assert.ok(!routes.some((route) => /\d{4,}/.test(route)), `route patterns, never raw paths: ${routes.join(" ")}`);
    assert.equal(moved("nasty_events_appended_total"), 3);
    assert.equal(afterTraffic.get("nasty_http_request_duration_seconds")?.type, "HISTOGRAM");
    const batches = afterTraffic.get("nasty_log_commit_batch_events")!.metrics[0]!;
    const commits = afterTraffic.get("nasty_log_commit_seconds")!.metrics[0]!;
    assert.ok(Number(batches.count) >= 3 && Number(commits.count) === Number(batches.count), `commit batches ${batches.count}, timed ${commits.count}`);
    assert.ok(Number(batches.sum) >= Number(batches.count), "each batch holds at least one event");
    assert.ok(moved("nasty_websocket_pushes_total", { endpoint: "json" }) >= 3, "a push per bookmark to the raw socket's topic");
    assert.ok(moved("nasty_websocket_pushes_total", { endpoint: "live" }) >= 3, "and to the live page's");
    assert.equal(moved("nasty_websocket_dropped_total", { endpoint: "json" }), 1, "the vanished socket");
    assert.equal(value(afterTraffic, "nasty_websocket_connections", { endpoint: "json" }), 1);
    assert.equal(afterTraffic.get("nasty_replay_events")?.type, "GAUGE");
    assert.equal(afterTraffic.get("nasty_replay_seconds")?.type, "GAUGE");
    assert.ok(value(afterTraffic, "nodejs_heap_size_used_bytes") > 0, "heap");
    assert.equal(afterTraffic.get("nodejs_eventloop_lag_seconds")?.type, "GAUGE", "event-loop delay");
    assert.equal(value(afterTraffic, "nasty_flush_lag_events"), 0, "no Postgres flush here");
    assert.equal(value(afterTraffic, "nasty_flush_lag_seconds"), 0);
    await raw.close();
    live.close();
  });
});
