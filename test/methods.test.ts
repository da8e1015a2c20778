// HEAD, OPTIONS and 405 on every route of the route table, and HEAD on a pipelined keep-alive connection.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { routeTable, type RouteEntry } from "../src/http/router.ts";
import { request } from "./support/server.ts";
import { HTTP_METHOD, samplePath, startWithFixtures, type Fixtures } from "./support/routes.ts";

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * Sends `requests` at once on one keep-alive connection and reads their answers in order, as a
 * pipelining client does: a HEAD answer has headers only (whatever its Content-Length says), any
 * other answer exactly Content-Length bytes. Bytes left over or missing fail the read.
 */
function pipelined(port: number, requests: { method: string; path: string; headers?: Record<string, string> }[]): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let buffer = Buffer.alloc(0);
    const responses: RawResponse[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out after ${responses.length} of ${requests.length} answers; unread: ${JSON.stringify(buffer.toString("latin1").slice(0, 200))}`));
    }, 10_000);
    const parse = () => {
      while (responses.length < requests.length) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const [statusLine, ...lines] = buffer.subarray(0, end).toString("latin1").split("\r\n");
        const headers = new Map<string, string>();
        for (const line of lines) {
          const colon = line.indexOf(":");
          const name = line.slice(0, colon).toLowerCase();
          headers.set(name, headers.has(name) ? `${headers.get(name)}, ${line.slice(colon + 1).trim()}` : line.slice(colon + 1).trim());
        }
        const isHead = requests[responses.length]!.method === "HEAD";
        const length = isHead ? 0 : Number(headers.get("content-length") ?? "0");
        if (buffer.length < end + 4 + length) return;
        responses.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? "")?.[1] ?? "0"), headers, body: buffer.subarray(end + 4, end + 4 + length) });
        buffer = buffer.subarray(end + 4 + length);
      }
      clearTimeout(timer);
      socket.destroy();
      if (buffer.length > 0) reject(new Error(`bytes after the last answer: ${JSON.stringify(buffer.toString("latin1").slice(0, 200))}`));
      else resolve(responses);
    };
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      parse();
    });
    socket.on("error", reject);
    socket.write(requests.map(({ method, path, headers = {} }) => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`).join(""));
  });
}

async function headRequest(url: string, token: string): Promise<{ status: number; headers: Headers; text: string; json: null }> {
  const response = await fetch(url, { method: "HEAD", headers: { authorization: `Bearer ${token}` }, redirect: "manual" });
  return { status: response.status, headers: response.headers, text: await response.text(), json: null };
}

/** Headers that differ between two answers by nature: the date, the request id, and a fresh CSRF seed's value. */
const VARYING = new Set(["date", "x-request-id"]);
function comparable(headers: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...headers].filter(([name]) => !VARYING.has(name)).map(([name, value]) => [name, name === "set-cookie" ? value.replace(/=[^;]*/, "=…") : value]));
}

/** Does a uWS pattern match `path`? (`:name` one segment, a trailing `*` the rest.) */
function matches(pattern: string, path: string): boolean {
  const want = pattern.split("/");
  const have = path.split("?")[0]!.split("/");
  for (let index = 0; index < want.length; index += 1) {
    if (want[index] === "*") return true;
    if (index >= have.length) return false;
    if (want[index]!.startsWith(":") ? have[index] === "" : want[index] !== have[index]) return false;
  }
  return want.length === have.length;
}

describe("HEAD, OPTIONS and 405 from the route table", { timeout: 180_000 }, () => {
  let fixtures: Fixtures;
  let table: readonly RouteEntry[];

  before(async () => {
    fixtures = await startWithFixtures();
    table = routeTable(fixtures.nasty.app);
  });
  after(() => fixtures.nasty.close());

  const patterns = () => [...new Set(table.filter((entry) => entry.method !== "any").map((entry) => entry.pattern))];
  const allowOf = (pattern: string) => {
    const methods = new Set(table.filter((entry) => entry.pattern === pattern && entry.method !== "any").flatMap((entry) => (entry.method === "get" ? ["GET", "HEAD"] : [HTTP_METHOD[entry.method]])));
    methods.add("OPTIONS");
    return methods;
  };

  test("HEAD answers every GET route as GET does (status, headers, Content-Length) without a body, pipelined on one connection", async () => {
    const gets = table.filter((entry) => entry.method === "get" || entry.method === "any");
    assert.ok(gets.length >= 30, `${gets.length} GET routes`);
    for (const entry of gets) {
      const path = samplePath(entry.pattern, fixtures);
      for (const headers of [{}, { authorization: `Bearer ${fixtures.token}` }] as Record<string, string>[]) {
        // Pages with a clock (/stats) may change between two requests; the pair is asked again, a bounded few times.
        let pair: RawResponse[] = [];
        for (let attempt = 0; attempt < 3; attempt += 1) {
          pair = await pipelined(fixtures.nasty.port, [{ method: "HEAD", path, headers }, { method: "GET", path, headers }, { method: "HEAD", path, headers }]);
          if (pair[1]!.body.length === Number(pair[0]!.headers.get("content-length"))) break;
        }
        const [head, get, again] = pair as [RawResponse, RawResponse, RawResponse];
        const where = `HEAD ${path} (${entry.pattern}) ${Object.keys(headers).join("")}`;
        assert.equal(head.status, get.status, where);
        assert.deepEqual(comparable(head.headers), comparable(get.headers), where);
        assert.equal(Number(head.headers.get("content-length")), get.body.length, `${where}: Content-Length is GET's body length`);
        assert.equal(again.status, get.status, `${where}: the answer after the HEAD was read as its own answer`);
        assert.match(head.headers.get("x-request-id") ?? "", /.-./, where);
      }
    }
  });

  test("a pipelined keep-alive client reads the answer after a HEAD correctly (HEAD of a page, then JSON, then a 404 page)", async () => {
    const [head, status, missing] = await pipelined(fixtures.nasty.port, [{ method: "HEAD", path: "/" }, { method: "GET", path: "/api/status" }, { method: "GET", path: "/no-such-page" }]) as [RawResponse, RawResponse, RawResponse];
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers.get("content-length")) > 1000, "HEAD / reports the page's length");
    assert.equal(status.status, 200);
    assert.equal(JSON.parse(status.body.toString()).users, 1);
    assert.equal(missing.status, 404);
    assert.match(missing.body.toString(), /<html/);
  });

  test("OPTIONS on every route answers 204 with Allow listing its methods", async () => {
    for (const pattern of patterns()) {
      const path = samplePath(pattern, fixtures);
      const reply = await request(fixtures.nasty.url, "OPTIONS", path);
      assert.equal(reply.status, 204, `OPTIONS ${path}`);
      assert.deepEqual(new Set(reply.headers.get("allow")!.split(", ")), allowOf(pattern), `OPTIONS ${path}`);
      assert.equal(reply.text, "");
    }
  });

  test("a method a known path does not take answers 405 with Allow, in the route's language; GET of a socket endpoint without Upgrade is 426", async () => {
    let checked = 0;
    for (const pattern of patterns()) {
      const path = samplePath(pattern, fixtures);
      const allow = allowOf(pattern);
      const speaks = table.find((entry) => entry.pattern === pattern)!.speaks;
      for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]) {
        if (allow.has(method) && speaks !== "websocket") continue;
        // Another pattern that takes this method on the same path answers it (uWS tries routes of the method first).
        if (table.some((entry) => entry.pattern !== pattern && HTTP_METHOD[entry.method] === method && entry.method !== "any" && matches(entry.pattern, path))) continue;
        // HEAD goes around the OpenAPI check (the description has no HEAD operations); the answer is checked here.
        const reply = method === "HEAD" ? await headRequest(fixtures.nasty.url + path, fixtures.token) : await request(fixtures.nasty.url, method, path, { token: fixtures.token });
        const where = `${method} ${path} (${pattern})`;
        if (speaks === "websocket" && (method === "GET" || method === "HEAD")) {
          assert.equal(reply.status, 426, where);
          assert.equal(reply.headers.get("upgrade"), "websocket", where);
          continue;
        }
        checked += 1;
        assert.equal(reply.status, 405, `${where}: ${reply.text.slice(0, 200)}`);
        assert.deepEqual(new Set(reply.headers.get("allow")!.split(", ")), allow, where);
        if (method === "HEAD") assert.equal(reply.text, "", where);
        else if (speaks === "html") assert.match(reply.headers.get("content-type") ?? "", /^text\/html/, where);
        else assert.match(JSON.stringify(reply.json), /not allowed/, where);
      }
    }
    assert.ok(checked >= 100, `only ${checked} method/path pairs answered 405`);
  });

  test("unknown paths stay 404 for every method, and HEAD of one has no body", async () => {
    for (const path of ["/no-such-page", "/api/no-such-route"]) {
      for (const method of ["GET", "POST", "DELETE"]) assert.equal((await request(fixtures.nasty.url, method, path)).status, 404, `${method} ${path}`);
      const [head] = await pipelined(fixtures.nasty.port, [{ method: "HEAD", path }]);
      assert.equal(head!.status, 404);
    }
  });
});
