// No request can take the server down: bad percent-escapes in paths, queries, forms and cookies are answered, and the process keeps serving.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import WebSocket from "ws";
import { route, routeTable } from "../src/http/router.ts";
import { guarded } from "../src/guard.ts";
import { RateLimiter } from "../src/auth/rate-limit.ts";
import { LogCapture, request } from "./support/server.ts";
import { HTTP_METHOD, samplePath, slots, startWithFixtures, type Fixtures } from "./support/routes.ts";
import { Client, until, wsUrl } from "./support/realtime.ts";

async function stillServing(base: string, after: string): Promise<void> {
  const reply = await request(base, "GET", "/api/status");
  assert.equal(reply.status, 200, `the server stopped answering after ${after}`);
}

/** Opens a websocket with these headers; resolves with how the handshake ended. */
function handshake(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.once("open", () => {
      socket.close();
      resolve("open");
    });
    socket.once("unexpected-response", (_request, response) => resolve(`answered ${response.statusCode}`));
    socket.once("error", (error) => resolve(`error ${error.message}`));
  });
}

describe("bad percent-escapes and cookies", { timeout: 120_000 }, () => {
  let fixtures: Fixtures;
  let base: string;

  before(async () => {
    fixtures = await startWithFixtures();
    base = fixtures.nasty.url;
  });
  after(() => fixtures.nasty.close());

  test("every parameter of every route: %E0 is a 400 naming the address part, in the route's language; a wildcard answers below 500", async () => {
    const table = routeTable(fixtures.nasty.app);
    assert.ok(table.length > 40, `the route table lists ${table.length} routes`);
    let parameters = 0;
    for (const entry of table) {
      for (const index of slots(entry.pattern)) {
        const path = samplePath(entry.pattern, fixtures, { index, with: "%E0" });
        const method = HTTP_METHOD[entry.method];
        const reply = await request(base, method, path, { token: fixtures.token });
        const where = `${method} ${path} (${entry.pattern})`;
        if (entry.pattern.split("/")[index] === "*") {
          assert.ok(reply.status >= 400 && reply.status < 500, `${where} answered ${reply.status}`);
        } else {
          parameters += 1;
          assert.equal(reply.status, 400, `${where} answered ${reply.status}: ${reply.text.slice(0, 200)}`);
          const name = entry.pattern.split("/")[index]!;
          if (entry.speaks === "json") assert.match(JSON.stringify(reply.json), new RegExp(`${name}.*not UTF-8`), where);
          else {
            assert.match(reply.headers.get("content-type") ?? "", /^text\/html/, where);
            assert.match(reply.text, new RegExp(`${name}.*not UTF-8`), where);
          }
        }
        await stillServing(base, where);
      }
    }
    assert.ok(parameters >= 15, `only ${parameters} parameters were tried`);
  });

  test("GET /api/bookmarks/%E0 (the crash of the issue) is a 400, and a lone % stays a character", async () => {
    const bad = await request(base, "GET", "/api/bookmarks/%E0");
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /:id/);
    const literal = await request(base, "GET", "/u/100%");
    assert.equal(literal.status, 404, "a % without two hex digits is a character, as browsers send it");
    await stillServing(base, "GET /api/bookmarks/%E0");
  });

  test("a query parameter or form field whose escapes are not UTF-8 is a 400 naming it", async () => {
    const api = await request(base, "GET", "/api/bookmarks?tag=%E0%80");
    assert.equal(api.status, 400);
    assert.match(api.json.error, /query parameter 'tag'/);
    const search = await request(base, "GET", "/search?q=%FF");
    assert.equal(search.status, 400);
    assert.match(search.text, /query parameter &#39;q&#39;|query parameter 'q'/);
    const form = await request(base, "POST", "/login", { raw: "username=%C3&password=x", headers: { "content-type": "application/x-www-form-urlencoded", origin: base } });
    assert.equal(form.status, 400, form.text.slice(0, 300));
    assert.match(form.text, /form field/);
    const pinboard = await request(base, "GET", `/v1/posts/recent?format=json&auth_token=${fixtures.username}:x&tag=%E0`);
    assert.equal(pinboard.status, 400);
    assert.match(pinboard.json.result_code, /query parameter 'tag'/);
    await stillServing(base, "bad query strings");
  });

  test("Cookie: nasty_csrf=% on /login and nasty_session=% on pages are ignored, not a crash", async () => {
    for (const cookie of ["nasty_csrf=%", "nasty_session=%", "nasty_session=%E0; nasty_csrf=%zz%"]) {
      const page = await request(base, "GET", "/login", { headers: { cookie } });
      assert.equal(page.status, 200, cookie);
      const post = await request(base, "POST", "/login", { raw: "username=a&password=b&_csrf=x", headers: { cookie, origin: base, "content-type": "application/x-www-form-urlencoded" } });
      assert.equal(post.status, 403, `${cookie}: a form without a valid CSRF seed is refused (${post.text.slice(0, 200)})`);
      const home = await request(base, "GET", "/", { headers: { cookie } });
      assert.equal(home.status, 200, cookie);
      assert.doesNotMatch(home.text, /log out/i, "an undecodable session cookie logs nobody in");
      await stillServing(base, `Cookie: ${cookie}`);
    }
  });

  test("Cookie: nasty_session=% on a websocket upgrade of /ws, /socket/websocket and /live connects anonymously", async () => {
    for (const path of ["/ws", "/socket/websocket", "/live?topic=bookmarks:firehose"]) {
      const outcome = await handshake(wsUrl(fixtures.nasty, path), { cookie: "nasty_session=%", origin: base });
      assert.equal(outcome, "open", path);
      await stillServing(base, `nasty_session=% on ${path}`);
    }
  });
});

/** Sends `payload` on a raw connection; resolves with what came back and whether the server closed it (or "open" after `boundMs`). */
function rawExchange(port: number, payload: Buffer, boundMs: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, boundMs);
    socket.on("data", (chunk) => (text += chunk.toString("latin1")));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on("error", () => {});
    socket.write(payload);
  });
}

/** Replaces `object[name]` with a function that throws, for one test: a fault injected into a real part. */
function inject<T extends object>(object: T, name: keyof T & string): () => void {
  Object.defineProperty(object, name, { configurable: true, writable: true, value: () => { throw new Error(`injected fault in ${name}`); } });
  return () => void delete (object as Record<string, unknown>)[name];
}

describe("the guard", { timeout: 120_000 }, () => {
  let fixtures: Fixtures;
  let base: string;
  const log = new LogCapture();

  before(async () => {
    fixtures = await startWithFixtures({ NASTY_LOG_FORMAT: "json" }, { logDestination: log.destination });
    base = fixtures.nasty.url;
  });
  after(() => fixtures.nasty.close());

  test("every answer carries its own short X-Request-Id: routes, errors, 404s, OPTIONS, 405 and the websocket handshake", async () => {
    const ids = new Set<string>();
    for (const [method, path] of [["GET", "/api/status"], ["GET", "/"], ["GET", "/api/nothing"], ["GET", "/nothing"], ["OPTIONS", "/api/status"], ["POST", "/api/status"], ["GET", `/b/${fixtures.bookmarkId}`], ["GET", "/api/bookmarks/%E0"]] as const) {
      const reply = await request(base, method, path);
      const id = reply.headers.get("x-request-id") ?? "";
      assert.match(id, /^[A-Za-z0-9_-]{4}-[0-9a-z]+$/, `${method} ${path}`);
      ids.add(id);
    }
    assert.equal(ids.size, 8, "each request has its own id");
    const handshakeId = await new Promise<string>((resolve, reject) => {
      const socket = new WebSocket(wsUrl(fixtures.nasty, "/ws"));
      socket.once("upgrade", (response) => resolve(String(response.headers["x-request-id"] ?? "")));
      socket.once("open", () => socket.close());
      socket.once("error", reject);
    });
    assert.match(handshakeId, /^[A-Za-z0-9_-]{4}-[0-9a-z]+$/, "the 101 carries X-Request-Id");
  });

  test("an unexpected exception in an API route is a JSON 500 with the request id, logged with its stack; the process keeps serving", async () => {
    const restore = inject(fixtures.nasty.store, "visibleBookmark");
    let reply;
    try {
      reply = await request(base, "GET", `/api/bookmarks/${fixtures.bookmarkId}/comments?fresh=1`);
      reply = await request(base, "GET", `/api/bookmarks/${fixtures.bookmarkId}?fresh=2`);
    } finally {
      restore();
    }
    assert.equal(reply.status, 500);
    const id = reply.headers.get("x-request-id")!;
    assert.equal(reply.json.request_id, id);
    assert.match(reply.json.error, new RegExp(`internal error.*${id}`));
    const records = log.of(id);
    assert.equal(records.length, 1, JSON.stringify(log.records.slice(-3)));
    assert.equal(records[0]!.level, "error");
    assert.match(records[0]!.err.stack, /injected fault in visibleBookmark[\s\S]*at /);
    await stillServing(base, "an exception in an API route");
    assert.equal((await request(base, "GET", `/api/bookmarks/${fixtures.bookmarkId}?fresh=3`)).status, 200);
  });

  test("an unexpected exception in a page is an HTML 500 page naming the request id", async () => {
    const restore = inject(fixtures.nasty.store, "visibleBookmark");
    let reply;
    try {
      reply = await request(base, "GET", `/b/${fixtures.bookmarkId}?fresh=1`, { headers: { cookie: "x=1" } });
    } finally {
      restore();
    }
    assert.equal(reply.status, 500);
    assert.match(reply.headers.get("content-type") ?? "", /^text\/html/);
    const id = reply.headers.get("x-request-id")!;
    assert.ok(reply.text.includes(id), "the page shows the request id");
    assert.equal(log.of(id).length, 1);
    await stillServing(base, "an exception in a page");
  });

  test("an answer that fails after its status line went out closes that connection instead of writing twice", async () => {
    const routes = routeTable(fixtures.nasty.app).length;
    route(fixtures.nasty.app, { store: fixtures.nasty.store, limiter: new RateLimiter(0), config: fixtures.nasty.config }, "get", "/guard-test/half-written", () => ({ status: 200, body: "x", headers: { "X-Broken": 5 as unknown as string } }));
    assert.equal(routeTable(fixtures.nasty.app).length, routes + 1);
    const outcome = await fetch(`${base}/guard-test/half-written`).then((response) => `answered ${response.status}`, (error: Error) => `failed: ${error.message}`);
    assert.match(outcome, /^failed/, "the connection was closed, not answered twice");
    assert.ok(log.records.some((record) => record.level === "error" && /half-written/.test(record.path ?? "")), "the failure is logged");
    await stillServing(base, "a half-written answer");
  });

  test("an unexpected exception in a /ws or /socket/websocket callback closes that socket with 1011; others and the process go on", async () => {
    const bystander = await Client.open(wsUrl(fixtures.nasty, "/ws"));
    const restore = inject(fixtures.nasty.store, "visibleBookmark");
    try {
      const raw = await Client.open(wsUrl(fixtures.nasty, "/ws"));
      raw.send({ op: "subscribe", topic: `bookmark:${fixtures.bookmarkId}`, ref: 1 });
      await until(() => raw.closed !== null, "the /ws socket to close");
      assert.equal(raw.closed!.code, 1011);
      const phoenix = await Client.open(wsUrl(fixtures.nasty, "/socket/websocket?vsn=2.0.0"));
      phoenix.send(["1", "1", `bookmark:${fixtures.bookmarkId}`, "phx_join", {}]);
      await until(() => phoenix.closed !== null, "the Phoenix socket to close");
      assert.equal(phoenix.closed!.code, 1011);
    } finally {
      restore();
    }
    assert.ok(log.records.some((record) => record.socket === "/ws" && record.callback === "message" && /injected/.test(record.err?.message ?? "")));
    assert.ok(log.records.some((record) => record.socket === "/socket/websocket" && record.callback === "message"));
    bystander.send({ op: "ping", ref: 7 });
    await until(() => bystander.frames.some((frame) => frame.ref === 7), "the bystander's ping answer");
    assert.equal(bystander.closed, null);
    bystander.socket.close();
    await stillServing(base, "exceptions in websocket callbacks");
  });

  test("an unexpected exception in a /live handshake answers 500 with the request id; the process goes on", async () => {
    const restore = inject(fixtures.nasty.store, "visibleBookmark");
    let outcome;
    try {
      outcome = await handshake(wsUrl(fixtures.nasty, `/live?topic=bookmark:${fixtures.bookmarkId}`), {});
    } finally {
      restore();
    }
    assert.equal(outcome, "answered 500");
    assert.ok(log.records.some((record) => record.level === "error" && record.path === "/live"));
    await stillServing(base, "an exception in a /live handshake");
  });

  test("a timer behind the guard logs its failure and keeps running", async () => {
    let calls = 0;
    const timer = setInterval(guarded("test ticker", () => {
      calls += 1;
      throw new Error("injected timer fault");
    }), 5);
    try {
      await until(() => calls >= 3, "three ticks");
    } finally {
      clearInterval(timer);
    }
    const failures = log.records.filter((record) => record.timer === "test ticker");
    assert.ok(failures.length >= 3, `${failures.length} failures logged`);
    assert.match(failures[0]!.err.stack, /injected timer fault/);
  });

  test("a header holding a control character (DEL) is answered 400 naming it, with Connection: close, at once: routes, pages and socket handshakes", async () => {
    const handshakeHeaders = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    for (const [path, extra, speaks] of [["/api/status", "", "json"], ["/login", "", "html"], ["/ws", handshakeHeaders, "json"], ["/live?topic=bookmarks:firehose", handshakeHeaders, "json"]] as const) {
      const payload = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}X-Bad: a\x7fb\r\n\r\n`, "latin1");
      // Bounded well below uWS's 10 s idle timeout: the close must come with the answer.
      const { text, closed } = await rawExchange(fixtures.nasty.port, payload, 3000);
      assert.match(text, /^HTTP\/1\.1 400 /, path);
      assert.match(text, /\r\nConnection: close\r\n/i, path);
      assert.match(text, /x-bad/, `${path}: the answer names the header`);
      assert.match(text, speaks === "html" ? /text\/html/ : /application\/json/, path);
      assert.ok(closed, `${path}: the server closed the connection`);
    }
    await stillServing(base, "a header with a control character");
  });

  test("a NUL in a header: uWS's own parser holds the request and drops the connection (it never reaches a route); the process keeps serving", async () => {
    const payload = Buffer.from("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n", "latin1");
    const { text, closed } = await rawExchange(fixtures.nasty.port, payload, 15_000);
    assert.equal(text, "", "nothing is answered to it");
    assert.ok(closed, "uWS closes the connection (its idle timeout is 10 s)");
    await stillServing(base, "a NUL in a header");
  });

  test("every timer the server starts goes through the guard", () => {
    const clients = new Set(["src/cli.ts", "src/simulator/cli.ts", "src/simulator/firehose.ts"]);
    const bare: string[] = [];
    for (const file of fs.readdirSync("src", { recursive: true, encoding: "utf8" })) {
      const relative = path.join("src", file);
      if (!/\.(ts|mjs)$/.test(file) || clients.has(relative)) continue;
      const text = fs.readFileSync(relative, "utf8");
      for (const match of text.matchAll(/\bset(?:Timeout|Interval|Immediate)\((?!guarded\()/g)) bare.push(`${relative}:${text.slice(0, match.index).split("\n").length}`);
    }
    assert.deepEqual(bare, [], "timers outside the guard");
  });
});
