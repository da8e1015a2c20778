// No request can take the server down: bad percent-escapes in paths, queries, forms and cookies are answered, and the process keeps serving.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { routeTable } from "../src/http/router.ts";
import { request } from "./support/server.ts";
import { HTTP_METHOD, samplePath, slots, startWithFixtures, type Fixtures } from "./support/routes.ts";
import { wsUrl } from "./support/realtime.ts";

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
