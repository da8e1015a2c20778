// Page security against a real server: CSP, CSRF, cookie flags, escaping, privacy, HTML errors for bad forms, log-in rate limits.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Nasty } from "../src/main.ts";
import { safeHref } from "../src/render/html.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { PageClient, csrfOf } from "./support/pages.ts";

const XSS = `<script>alert(1)</script><img src=x onerror=alert(2)>"'`;
/** Notes are Markdown rendered to HTML: raw HTML stays text, a javascript: link stays text, a link title is dropped. */
const XSS_NOTES = `${XSS}\n\n[x](javascript:alert(3)) [y](https://ok.example/ "t onclick=alert(4)")`;

describe("page security", { timeout: 60_000 }, () => {
  let nasty: Nasty;
  let base: string;
  let owner: string;
  let hiddenId: number;
  let xssId: number;
  const SECRET = "zz-private-marker";

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    owner = await signUp(base, "owner");
    await signUp(base, "other");
    const hidden = await createBookmark(base, owner, { title: `${SECRET} title`, url: "https://private.example/x", tags: ["secret-tag", "shared"], description: SECRET, notes: `${SECRET} *notes*`, public: false });
    hiddenId = hidden.id;
    await request(base, "POST", `/api/bookmarks/${hidden.id}/comments`, { token: owner, body: { body: `${SECRET} comment` } });
    const turned = await createBookmark(base, owner, { title: `${SECRET} later private`, url: "https://turned.example/", tags: ["shared"] });
    await request(base, "PATCH", `/api/bookmarks/${turned.id}`, { token: owner, body: { bookmark: { public: false } } });
    const xss = await createBookmark(base, owner, { title: XSS, url: "https://xss.example/?q=<b>&x=\"y\"", tags: ["shared", "<b>tag"], description: XSS, notes: XSS_NOTES });
    xssId = xss.id;
    await request(base, "POST", `/api/bookmarks/${xss.id}/comments`, { token: owner, body: { body: XSS } });
  });
  after(() => nasty.close());

  const pagePaths = () => ["/", "/t/shared", "/t/secret-tag", "/t/shared+secret-tag", "/u/owner", `/b/${xssId}`, "/tags", "/discover", "/scramble", "/scramble/cards", "/stats", "/login", "/signup"];

  test("every page sends a Content-Security-Policy without unsafe-inline or eval, and has no inline script, handler or style", async () => {
    for (const path of pagePaths()) {
      const reply = await new PageClient(base).get(path);
      assert.equal(reply.status, 200, path);
      const policy = reply.headers.get("content-security-policy") ?? "";
      assert.match(policy, /script-src 'self'(;|$)/, path);
      assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/, path);
      assert.match(policy, /frame-ancestors 'none'/);
      assert.doesNotMatch(reply.text, /<script(?![^>]*\ssrc=)[^>]*>/i, `${path} has an inline script`);
      assert.doesNotMatch(reply.text, /<[^>]+\son[a-z]+=/i, `${path} has an inline event handler`);
      assert.doesNotMatch(reply.text, /<[^>]+\sstyle=/i, `${path} has an inline style`);
      assert.doesNotMatch(reply.text, /\bhx-on|js:/, `${path} needs htmx's eval`);
    }
  });

  test("titles, descriptions, tags, URLs and comments are escaped; only http(s) URLs become links, with rel nofollow noopener ugc", async () => {
    for (const path of ["/", `/b/${xssId}`, "/u/owner", "/discover", "/scramble/cards"]) {
      const { text } = await new PageClient(base).get(path);
      assert.ok(!text.includes("<script>alert(1)") && !text.includes("<img src=x"), `${path} let markup through`);
      assert.ok(text.includes("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;"), `${path} shows the title as text`);
      assert.ok(!text.includes("<b>tag"), path);
      if (path === "/discover") continue; // a list of titles, no cards
      assert.ok(text.includes(`<div class="card-notes"><p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"'</p>\n<p>[x](javascript:alert(3)) <a href="https://ok.example/" rel="nofollow noopener ugc">y</a></p></div>`), `${path} shows the notes as Markdown, their raw HTML as text`);
    }
    const detail = (await new PageClient(base).get(`/b/${xssId}`)).text;
    assert.match(detail, /<a href="https:\/\/xss\.example\/\?q=%3Cb%3E&amp;x=%22y%22" rel="nofollow noopener ugc" dir="auto">/);
    assert.match(detail, /<p class="comment-body">&lt;script&gt;/);
    assert.equal(safeHref("javascript:alert(1)"), null);
    assert.equal(safeHref("data:text/html,<script>alert(1)</script>"), null);
    assert.equal(safeHref(" https://ok.example/"), null, "no leading space games");
    assert.equal(safeHref("HTTPS://ok.example/a"), "https://ok.example/a");
  });

  test("private bookmarks never render for anyone but their owner", async () => {
    const otherClient = new PageClient(base);
    await otherClient.logIn("other");
    for (const client of [new PageClient(base), otherClient]) {
      for (const path of [...pagePaths(), `/b/${hiddenId}`, `/b/${hiddenId}/edit`, "/bookmarks"]) {
        const reply = await client.get(path);
        assert.ok(!reply.text.includes(SECRET) && !reply.text.includes('href="/t/secret-tag"'), `${path} leaked to ${client === otherClient ? "another user" : "a visitor"}`);
      }
      const hidden = await client.get(`/b/${hiddenId}`);
      assert.equal(hidden.status, 404);
    }
    const ownerClient = new PageClient(base);
    await ownerClient.logIn("owner");
    const mine = await ownerClient.get("/u/owner");
    assert.ok(mine.text.includes(`${SECRET} title`) && mine.text.includes(`${SECRET} later private`) && mine.text.includes('href="/t/secret-tag"'), "the owner sees their private ones");
    const own = await ownerClient.get(`/b/${hiddenId}`);
    assert.equal(own.status, 200);
    assert.ok(own.text.includes(`${SECRET} comment`));
    assert.ok(own.text.includes(`<div class="card-notes"><p>${SECRET} <em>notes</em></p></div>`), "the owner sees their private notes");
    assert.match(own.text, /topic=bookmarks%3Auser%3Aowner%3Aprivate&amp;since=\d+"/, "a private bookmark's page follows the owner's private topic");
    const firehose = await ownerClient.get("/");
    assert.ok(!firehose.text.includes(SECRET), "the firehose is public bookmarks only, even for their owner");
  });

  test("forms without a valid CSRF token, or posted from another site, are refused and change nothing", async () => {
    const client = new PageClient(base);
    await client.logIn("owner");
    await client.get("/bookmarks");
    const before = nasty.store.bookmarksById.size;
    for (const csrf of [null, "", "forged-token", csrfOf(await (async () => (await new PageClient(base).get("/login")).text)())]) {
      const reply = await client.post("/bookmarks", { url: "https://csrf.example/", title: "csrf" }, { csrf });
      assert.equal(reply.status, 403, `csrf ${csrf}`);
      assert.match(reply.headers.get("content-type")!, /^text\/html/);
      assert.match(reply.text, /security token is missing or out of date/);
    }
    const crossSite = await client.post("/bookmarks", { url: "https://csrf.example/", title: "csrf" }, { headers: { origin: "https://evil.example" } });
    assert.equal(crossSite.status, 403);
    assert.match(crossSite.text, /cross-site form post from https:\/\/evil\.example refused/);
    assert.equal(nasty.store.bookmarksById.size, before);
    const login = await new PageClient(base).post("/login", { username: "owner", password: "correct horse" }, { csrf: null });
    assert.equal(login.status, 403, "log-in needs its token too (no log-in CSRF)");
  });

  test("the session cookie is HttpOnly and SameSite=Lax; Secure only behind a trusted https proxy", async () => {
    const plain = await new PageClient(base).logIn("owner");
    assert.equal(plain.status, 303);
    const cookie = plain.setCookies.find((line) => line.startsWith("nasty_session="))!;
    assert.match(cookie, /^nasty_session=session_[\w-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);

    const behindProxy = await new PageClient(base).logIn("owner");
    assert.doesNotMatch(behindProxy.setCookies.join(), /Secure/, "X-Forwarded-Proto is ignored unless the proxy is trusted");
    const proxied = await startTestServer({ NASTY_TRUST_PROXY: "true" });
    try {
      await signUp(proxied.url, "proxied");
      const client = new PageClient(proxied.url);
      await client.get("/login", { "x-forwarded-proto": "https" });
      const reply = await client.post("/login", { username: "proxied", password: "correct horse" }, { headers: { "x-forwarded-proto": "https" } });
      assert.match(reply.setCookies.find((line) => line.startsWith("nasty_session="))!, /; HttpOnly; SameSite=Lax; Secure$/);
    } finally {
      await proxied.close();
    }
  });

  test("bad form input answers an HTML page that names the problem and shows the form again", async () => {
    const client = new PageClient(base);
    await client.logIn("owner");
    await client.get("/bookmarks");
    const reply = await client.post("/bookmarks", { url: "javascript:alert(1)", title: "kept title", tags: "a,b" });
    assert.equal(reply.status, 422);
    assert.match(reply.headers.get("content-type")!, /^text\/html/);
    assert.match(reply.text, /url must be a valid URL/);
    assert.match(reply.text, /<span class="field-error">must be a valid URL<\/span>/);
    assert.match(reply.text, /name="title" maxlength="500" placeholder="[^"]*" value="kept title"/);
    assert.match(reply.text, /<html lang="en">/, "a whole page without JavaScript");

    const signup = new PageClient(base);
    await signup.get("/signup");
    const short = await signup.post("/signup", { username: "Ab", password: "short" });
    assert.equal(short.status, 422);
    assert.match(short.text, /username must be 3–32 characters/);
    assert.match(short.text, /password is too short/);
    const taken = await signup.post("/signup", { username: "owner", password: "long enough" });
    assert.equal(taken.status, 409);
    assert.match(taken.text, /username owner is already taken/);

    const json = await client.post("/bookmarks", {}, { headers: { "content-type": "application/json" } });
    assert.equal(json.status, 415);
    assert.match(json.text, /expected a form body/);
    const missing = await new PageClient(base).get("/no/such/page");
    assert.equal(missing.status, 404);
    assert.match(missing.text, /no page at \/no\/such\/page/);
  });

  test("after log-in only a local path is followed: no open redirect", async () => {
    for (const [next, expected] of [["/t/shared", "/t/shared"], ["//evil.example/x", "/bookmarks"], ["https://evil.example/", "/bookmarks"], ["/\\evil.example", "/bookmarks"]] as const) {
      const client = new PageClient(base);
      await client.get(`/login?next=${encodeURIComponent(next)}`);
      const reply = await client.post("/login", { username: "owner", password: "correct horse", next });
      assert.equal(reply.status, 303);
      assert.equal(reply.location, expected, next);
    }
    const closed = await startTestServer({ NASTY_SIGNUP: "closed" });
    try {
      const client = new PageClient(closed.url);
      await client.get("/signup");
      const reply = await client.post("/signup", { username: "newcomer", password: "long enough" });
      assert.equal(reply.status, 403);
      assert.match(reply.text, /sign-up is closed on this server/);
      assert.equal(closed.store.usersById.size, 0);
    } finally {
      await closed.close();
    }
  });

  test("log-in attempts are rate-limited per username and per address, answered as HTML", async () => {
    const limited = await startTestServer({ NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: "30" });
    try {
      await limited.commands.register({ username: "other", password: "correct horse" }, "local");
      const client = new PageClient(limited.url);
      await client.get("/login");
      let last = await client.post("/login", { username: "other", password: "wrong password" });
      assert.equal(last.status, 401);
      assert.match(last.text, /wrong username or password/);
      for (let attempt = 2; attempt <= 11; attempt += 1) last = await client.post("/login", { username: "other", password: "wrong password" });
      assert.equal(last.status, 429);
      assert.match(last.text, /too many failed log-ins for other/);
      assert.match(last.headers.get("retry-after") ?? "", /^\d+$/);
      const right = await client.post("/login", { username: "other", password: "correct horse" });
      assert.equal(right.status, 429, "even the right password waits");

      for (let attempt = 13; attempt <= 30; attempt += 1) await client.post("/login", { username: `nobody${attempt}`, password: "x" });
      const fromAddress = await client.post("/login", { username: "someone-else", password: "x" });
      assert.equal(fromAddress.status, 429);
      assert.match(fromAddress.text, /too many log-in attempts from your address/);
    } finally {
      await limited.close();
    }
  });

  test("htmx is served from its package, and our assets by content hash, with year-long cache headers", async () => {
    const { text } = await new PageClient(base).get("/");
    const sources = [...text.matchAll(/<script src="([^"]+)"><\/script>/g)].map((match) => match[1]!);
    assert.deepEqual(sources.map((source) => source.replace(/\?v=[\w-]+$/, "?v=…")), ["/static/htmx-4.0.1/htmx.min.js", "/static/htmx-4.0.1/hx-ws.min.js", "/static/app.js?v=…"]);
    for (const source of sources) {
      const reply = await request(base, "GET", source);
      assert.equal(reply.status, 200, source);
      assert.equal(reply.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.match(reply.headers.get("content-type")!, /^text\/javascript/);
    }
    assert.match((await request(base, "GET", "/static/htmx-4.0.1/htmx.min.js")).text, /4\.0\.1/);
    assert.equal((await request(base, "GET", "/static/../package.json")).status, 404);
  });
});
