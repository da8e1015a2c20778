// The site's origin: NASTY_PUBLIC_URL and NASTY_TRUST_PROXY decide Origin checks, Secure cookies and absolute links.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../src/config.ts";
import { isSiteOrigin, siteOrigin, type SiteHeaders } from "../src/auth/site-origin.ts";
import type { Nasty } from "../src/main.ts";
import { request, signUp, startTestServer } from "./support/server.ts";
import { PageClient } from "./support/pages.ts";

const PUBLIC = "https://links.example.org";

function headers(host: string, forwardedHost = "", forwardedProto = ""): SiteHeaders {
  return { host, "x-forwarded-host": forwardedHost, "x-forwarded-proto": forwardedProto };
}

test("NASTY_PUBLIC_URL takes an absolute http(s) origin and refuses anything else, naming the problem", () => {
  assert.equal(loadConfig({}).publicUrl, "");
  assert.equal(loadConfig({ NASTY_PUBLIC_URL: "https://Links.Example.org/" }).publicUrl, PUBLIC);
  assert.equal(loadConfig({ NASTY_PUBLIC_URL: "http://127.0.0.1:8080" }).publicUrl, "http://127.0.0.1:8080");
  const cases: [string, RegExp][] = [
    ["links.example.org", /is not an absolute URL/],
    ["ftp://links.example.org", /must start with https:\/\/ or http:\/\//],
    ["https://links.example.org/nasty", /must not have a path, query or fragment/],
    ["https://links.example.org/?a=1", /must not have a path, query or fragment/],
    ["https://links.example.org/?", /must not have a path, query or fragment/],
    ["https://links.example.org#top", /must not have a path, query or fragment/],
    ["https://me:secret@links.example.org", /must not hold a user name or password/],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => loadConfig({ NASTY_PUBLIC_URL: value }), (error: unknown) => error instanceof ConfigError && message.test(error.message) && error.message.includes("NASTY_PUBLIC_URL"), value);
  }
});

test("NASTY_METRICS_TOKEN is empty (off) or 16 to 256 visible characters", () => {
  assert.equal(loadConfig({}).metricsToken, "");
  assert.equal(loadConfig({ NASTY_METRICS_TOKEN: "a".repeat(16) }).metricsToken, "a".repeat(16));
  for (const bad of ["short", "has a space in it ok", "x".repeat(257)]) {
    assert.throws(() => loadConfig({ NASTY_METRICS_TOKEN: bad }), /NASTY_METRICS_TOKEN=.* is not 16 to 256 visible ASCII characters/);
  }
});

test("the site's origin: the public URL whatever the headers say; else Host; forwarded headers only when the proxy is trusted", () => {
  const forged = headers("127.0.0.1:4000", "evil.example", "https");
  assert.deepEqual(siteOrigin(forged, { publicUrl: PUBLIC, trustProxy: true }), { origin: PUBLIC, host: "links.example.org", secure: true, exact: true });
  assert.deepEqual(siteOrigin(forged, { publicUrl: "", trustProxy: false }), { origin: "http://127.0.0.1:4000", host: "127.0.0.1:4000", secure: false, exact: false });
  assert.deepEqual(siteOrigin(forged, { publicUrl: "", trustProxy: true }), { origin: "https://evil.example", host: "evil.example", secure: true, exact: false });
  assert.equal(siteOrigin(headers("Example.ORG:80"), { publicUrl: "", trustProxy: false }).origin, "http://example.org", "as URL writes it");
  assert.equal(siteOrigin(headers("a.example", "b.example, c.example", "https, http"), { publicUrl: "", trustProxy: true }).origin, "https://b.example", "the first entry: what the visitor asked for");
  assert.equal(siteOrigin(headers("<script>"), { publicUrl: "", trustProxy: false }).origin, "http://script", "a forged Host cannot put markup into links");
  assert.equal(siteOrigin(headers(""), { publicUrl: "", trustProxy: false }).origin, "http://localhost");
});

test("an Origin matches the public URL whole (scheme and port), or else the request's host", () => {
  const publicSite = siteOrigin(headers("127.0.0.1:4000"), { publicUrl: PUBLIC, trustProxy: false });
  assert.equal(isSiteOrigin(PUBLIC, publicSite), true);
  assert.equal(isSiteOrigin("http://links.example.org", publicSite), false, "the scheme counts");
  assert.equal(isSiteOrigin("https://links.example.org:8443", publicSite), false, "the port counts");
  assert.equal(isSiteOrigin("http://127.0.0.1:4000", publicSite), false, "the upstream address is not the site");
  assert.equal(isSiteOrigin("null", publicSite), false);
  const hostSite = siteOrigin(headers("127.0.0.1:4000"), { publicUrl: "", trustProxy: false });
  assert.equal(isSiteOrigin("http://127.0.0.1:4000", hostSite), true);
  assert.equal(isSiteOrigin("https://evil.example", hostSite), false);
});

describe("a server with NASTY_PUBLIC_URL behind a proxy that rewrites Host", () => {
  let nasty: Nasty;
  let token: string;
  before(async () => {
    nasty = await startTestServer({ NASTY_PUBLIC_URL: PUBLIC });
    token = await signUp(nasty.url, "alice");
  });
  after(() => nasty.close());

  test("a form post from the public origin logs in, with a Secure cookie; the upstream's own origin is cross-site", async () => {
    const client = new PageClient(nasty.url);
    await client.get("/login");
    const refused = await client.post("/login", { username: "alice", password: "correct horse" }, { headers: { origin: nasty.url } });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /cross-site form post from http:\/\/127\.0\.0\.1:\d+ refused \(this site is https:\/\/links\.example\.org\)/);
    const reply = await client.post("/login", { username: "alice", password: "correct horse" }, { headers: { origin: PUBLIC } });
    assert.equal(reply.status, 303, reply.text.slice(0, 300));
    assert.match(reply.setCookies.find((line) => line.startsWith("nasty_session="))!, /; HttpOnly; SameSite=Lax; Secure$/);
  });

  test("feeds, the API's Location and linkding's next link are built on the public URL, not on Host", async () => {
    const created = await request(nasty.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://example.com/a", title: "a", public: true } } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get("location"), `${PUBLIC}/api/bookmarks/${created.json.bookmark.data.id}`);
    await request(nasty.url, "POST", "/api/bookmarks", { token, body: { bookmark: { url: "https://example.com/b", title: "b", public: true } } });
    const rss = await request(nasty.url, "GET", "/feeds/firehose.rss", { headers: { host: "upstream.internal:4000" } });
    assert.match(rss.text, /<atom:link href="https:\/\/links\.example\.org\/feeds\/firehose\.rss"/);
    assert.doesNotMatch(rss.text, /upstream\.internal|127\.0\.0\.1/);
    const page = await request(nasty.url, "GET", "/api/bookmarks/?limit=1", { headers: { authorization: `Token ${token}` } });
    assert.equal(page.status, 200, page.text);
    assert.equal(page.json.next, `${PUBLIC}/api/bookmarks/?limit=1&offset=1`);
  });
});

describe("a server without NASTY_PUBLIC_URL", () => {
  let direct: Nasty;
  let trusting: Nasty;
  before(async () => {
    direct = await startTestServer();
    trusting = await startTestServer({ NASTY_TRUST_PROXY: "true" });
  });
  after(async () => {
    await direct.close();
    await trusting.close();
  });

  test("feed links follow Host; X-Forwarded-Host and -Proto only when the proxy is trusted", async () => {
    const forwarded = { "x-forwarded-host": "links.example.org", "x-forwarded-proto": "https" };
    const ignored = await request(direct.url, "GET", "/feeds/firehose.atom", { headers: forwarded });
    assert.match(ignored.text, new RegExp(`<link rel="self" type="application/atom\\+xml" href="${direct.url}/feeds/firehose\\.atom"`));
    const used = await request(trusting.url, "GET", "/feeds/firehose.atom", { headers: forwarded });
    assert.match(used.text, /<link rel="self" type="application\/atom\+xml" href="https:\/\/links\.example\.org\/feeds\/firehose\.atom"/);
  });

  test("a trusted proxy's forwarded host is the site a form must come from", async () => {
    await signUp(trusting.url, "bob");
    const client = new PageClient(trusting.url);
    const forwarded = { "x-forwarded-host": "links.example.org", "x-forwarded-proto": "https" };
    await client.get("/login", forwarded);
    const refused = await client.post("/login", { username: "bob", password: "correct horse" }, { headers: { ...forwarded, origin: trusting.url } });
    assert.equal(refused.status, 403);
    const reply = await client.post("/login", { username: "bob", password: "correct horse" }, { headers: { ...forwarded, origin: "https://links.example.org" } });
    assert.equal(reply.status, 303, reply.text.slice(0, 300));
  });
});
