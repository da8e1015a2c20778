// docs/openapi.yaml: valid OpenAPI 3.1, the same routes as the server's route table, served as JSON, and a checker that refuses what it does not describe.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import { routeTable } from "../src/http/router.ts";
import { loadOpenApi } from "../src/http/openapi.ts";
import { isNativeApiPath, OpenApiChecker } from "./support/openapi.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

/** A uWS pattern as an OpenAPI path template: `/api/bookmarks/:id` → `/api/bookmarks/{id}`. */
function template(pattern: string): string {
  return pattern.replace(/:([a-z_]+)/gi, "{$1}");
}

const METHOD_NAMES = { get: "GET", post: "POST", patch: "PATCH", put: "PUT", del: "DELETE" } as const;

describe("OpenAPI description", () => {
  let nasty: Nasty;
  let base: string;
  const checker = new OpenApiChecker();

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
  });
  after(() => nasty.close());

  test("docs/openapi.yaml is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(loadOpenApi());
    assert.equal(validator.version, "3.1");
    assert.deepEqual(result.errors ?? [], [], "schema errors of the description itself");
    assert.equal(result.valid, true);
  });

  test("every native /api route of the route table is described, and every described operation is routed", () => {
    const routed = routeTable(nasty.app)
      .filter((entry) => isNativeApiPath(entry.pattern) && !entry.pattern.includes("*"))
      .map((entry) => {
        assert.notEqual(entry.method, "any", `${entry.pattern}: an 'any' route cannot be described per method`);
        return `${METHOD_NAMES[entry.method as keyof typeof METHOD_NAMES]} ${template(entry.pattern)}`;
      });
    assert.ok(routed.length >= 10, `the route table has the API's routes (${routed.length})`);
    const described = checker.operations().map((operation) => `${operation.method} ${operation.template}`);
    assert.deepEqual([...new Set(routed)].sort(), [...routed].sort(), "no route registered twice");
    assert.deepEqual(described.filter((operation) => !routed.includes(operation)), [], "described but not routed");
    assert.deepEqual(routed.filter((operation) => !described.includes(operation)), [], "routed but not described in docs/openapi.yaml");
    const catchAll = routeTable(nasty.app).some((entry) => entry.method === "any" && entry.pattern === "/api/*");
    assert.equal(catchAll, true, "the /api/* catch-all exists");
    assert.ok(checker.spec["x-nasty-unknown-route"], "and the description says what it answers");
  });

  test("GET /api/openapi.json serves the description as JSON, parsed from the YAML", async () => {
    const reply = await request(base, "GET", "/api/openapi.json");
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(reply.json, loadOpenApi());
    assert.equal(reply.json.openapi, "3.1.0");
  });

  test("the checker accepts real answers and names the route, status and schema error of one that does not match", async () => {
    const alice = await signUp(base, "alice");
    const bookmark = await createBookmark(base, alice, { title: "Example", url: "https://example.com" });
    const good = { method: "GET", path: `/api/bookmarks/${bookmark.id}`, status: 200, contentType: "application/json; charset=utf-8", text: JSON.stringify({ data: bookmark }) };
    assert.equal(checker.check(good), null, "a real answer passes (positive control)");

    const { comment_count: _dropped, ...short } = bookmark;
    const missing = checker.check({ ...good, text: JSON.stringify({ data: short }) });
    assert.match(missing ?? "", /^GET \/api\/bookmarks\/\{id\} → 200: .*\/data must have required property 'comment_count'/);
    const extra = checker.check({ ...good, text: JSON.stringify({ data: { ...bookmark, secret: 1 } }) });
    assert.match(extra ?? "", /must NOT have additional properties.*secret/);
    assert.match(checker.check({ ...good, status: 418 }) ?? "", /GET \/api\/bookmarks\/\{id\} → 418: undocumented status 418/);
    assert.match(checker.check({ ...good, method: "HEAD", text: "" }) ?? "", /HEAD \/api\/bookmarks\/\d+ → 200: undocumented route/, "no API route answers HEAD");
    assert.match(checker.check({ ...good, contentType: "text/html" }) ?? "", /content type 'text\/html' is not documented/);
    assert.match(checker.check({ ...good, method: "PUT", status: 200 }) ?? "", /PUT \/api\/bookmarks\/\d+ → 200: undocumented route/);
    assert.match(checker.check({ ...good, path: "/api/nothing-here", status: 200 }) ?? "", /undocumented route/);
    assert.equal(checker.check({ ...good, path: "/api/nothing-here", status: 404, text: JSON.stringify({ error: "no API route GET /api/nothing-here" }) }), null, "the catch-all 404 is described");
    assert.match(checker.check({ method: "DELETE", path: `/api/bookmarks/${bookmark.id}`, status: 204, contentType: "", text: "surprise" }) ?? "", /without a body/);
    assert.match(checker.check({ ...good, method: "POST", path: "/api/bookmarks", status: 409, text: JSON.stringify({ error: "dup", id: "3" }) }) ?? "", /409.*\/id must be integer/);
  });

  test("an answer from the wire that the description does not cover is named (an empty description covers nothing)", async () => {
    const empty = new OpenApiChecker({ ...loadOpenApi(), paths: {} });
    const answer = await fetch(`${base}/api/status`);
    const problem = empty.check({ method: "GET", path: "/api/status", status: answer.status, contentType: answer.headers.get("content-type") ?? "", text: await answer.text() });
    assert.match(problem ?? "", /^GET \/api\/status → 200: undocumented route/);
    const answered = await request(base, "GET", "/api/status");
    assert.equal(checker.check({ method: "GET", path: "/api/status", status: answered.status, contentType: answered.headers.get("content-type") ?? "", text: answered.text }), null, "the full description covers it");
    // HEAD answers as GET without a body (the route table's HEAD, test/methods.test.ts); the description has no HEAD operations.
    const head = await fetch(`${base}/api/tags`, { method: "HEAD" });
    assert.deepEqual({ status: head.status, text: await head.text() }, { status: 200, text: "" });
  });
});
