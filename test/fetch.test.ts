// Titles fetched for you and link checks, through a running server: a local site on loopback serves the pages, nothing reaches the internet.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startNasty, type Nasty } from "../src/main.ts";
import { HOST_GAP_MS } from "../src/fetch/link-jobs.ts";
import { createBookmark, request, signUp, startTestServer, tempDir, testConfig } from "./support/server.ts";
import { Client, openLive, subscribe, until, wsUrl } from "./support/realtime.ts";
import { PageClient } from "./support/pages.ts";
import { runCli, startServerProcess } from "./support/cli.ts";

interface Site {
  base: string;
  hits: string[];
  /** When each hit arrived (ms since 1970), in the order of `hits`. */
  hitTimes: number[];
  /** The status /flaky answers. */
  flaky: number;
  /** Most requests in flight at once. */
  concurrentMax: number;
  close(): void;
}

const HOSTILE_TITLE = "&lt;script&gt;alert(1)&lt;/script&gt; <b>bold</b> &amp; more";

/** A site on 127.0.0.1 with the pages a fetcher meets; it counts every request. */
function startSite(): Promise<Site> {
  let inFlight = 0;
  const site: Site = { base: "", hits: [], hitTimes: [], flaky: 200, concurrentMax: 0, close: () => {} };
  const server = http.createServer((req, response) => {
    site.hits.push(`${req.method} ${req.url}`);
    site.hitTimes.push(Date.now());
    inFlight += 1;
    site.concurrentMax = Math.max(site.concurrentMax, inFlight);
    response.on("close", () => (inFlight -= 1));
    const html = (body: string, status = 200) => response.writeHead(status, { "content-type": "text/html; charset=utf-8" }).end(body);
    const path = (req.url ?? "/").split("?")[0]!;
    // /status/<code>: that status, as a site blocking bots (403), rate-limiting (429) or failing (5xx) answers.
    if (path.startsWith("/status/")) return html("<title>status</title>", Number(path.slice("/status/".length)));
    switch (path) {
      case "/article":
        return html('<html><head><title>Plain title</title><meta property="og:title" content="An article &amp; its title"><meta name="description" content="What it is about"><meta property="og:site_name" content="Loop Site"><link rel="canonical" href="/article?ref=canonical"></head></html>');
      case "/hostile":
        return html(`<title>${HOSTILE_TITLE}</title>`);
      case "/only-title":
        return html("<title>Only a title</title><meta name=description content='Fetched description'>");
      case "/moved":
        return response.writeHead(301, { location: "/article" }).end();
      case "/binary":
        return response.writeHead(200, { "content-type": "application/octet-stream" }).end(Buffer.alloc(64));
      case "/loop":
        return response.writeHead(302, { location: "/loop" }).end();
      case "/flaky":
      case "/flaky-too":
        // A little slow, so two checks of one host would overlap if they ran at once.
        return void setTimeout(() => html("<title>flaky</title>", site.flaky), 50);
      default:
        return html("<title>Not found</title>", 404);
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      site.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      site.close = () => {
        server.closeAllConnections();
        server.close();
      };
      resolve(site);
    }),
  );
}

/** A loopback port nothing listens on (bound, then closed): a connection there is refused. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = http.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function bookmarkOf(base: string, token: string, id: number): Promise<any> {
  return (await request(base, "GET", `/api/bookmarks/${id}`, { token })).json.data;
}

/** Longest wait for a fetch or a checker pass to land (a bound, not a speed check: the machine may be loaded). */
const LAND_WAIT_MS_MAX = 60_000;

/** Polls the bookmark (as `token` sees it) until `condition` holds. */
async function waitFor(base: string, token: string, id: number, condition: (bookmark: any) => boolean, what: string): Promise<any> {
  let last: any = null;
  const deadline = Date.now() + LAND_WAIT_MS_MAX;
  while (Date.now() < deadline) {
    last = await bookmarkOf(base, token, id);
    if (condition(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
}

const PRIVATE_ALLOWED = { NASTY_FETCH: "on", NASTY_FETCH_ALLOW_PRIVATE: "true", NASTY_LINK_CHECK_INTERVAL_S: "0" };

describe("titles fetched for you (NASTY_FETCH_ALLOW_PRIVATE=true: the loopback site is an intranet)", { timeout: 120_000 }, () => {
  let site: Site;
  let nasty: Nasty;
  let base: string;
  let alice: string;
  let bob: string;

  before(async () => {
    site = await startSite();
    nasty = await startTestServer(PRIVATE_ALLOWED);
    base = nasty.url;
    alice = await signUp(base, "alice");
    bob = await signUp(base, "bob");
  });
  after(async () => {
    await nasty.close();
    site.close();
  });

  test("saved without a title: answered at once with the URL as title; the page's title and description land live", async () => {
    const watcher = await Client.open(wsUrl(nasty, "/ws"));
    await subscribe(watcher, "bookmarks:firehose");
    const url = `${site.base}/article`;
    const saved = await createBookmark(base, alice, { url, tags: ["reading"] });
    assert.equal(saved.title, url, "the URL stands in until the fetch lands");
    const updated = await watcher.next((frame) => frame.event === "bookmark_updated" && frame.payload.id === saved.id, "the live update with the fetched title");
    assert.equal(updated.payload.title, "An article & its title");
    assert.equal(updated.payload.description, "What it is about");
    const stored = await bookmarkOf(base, alice, saved.id);
    assert.deepEqual([stored.title, stored.description, stored.tags, stored.link], ["An article & its title", "What it is about", ["reading"], undefined]);
    assert.ok(site.hits.includes("GET /article"));
    await watcher.close();
  });

  test("only the fields not given are filled: a given title stays, a missing description is fetched (fetch_metadata)", async () => {
    const saved = await createBookmark(base, alice, { url: `${site.base}/only-title`, title: "My own title", fetch_metadata: true });
    const filled = await waitFor(base, alice, saved.id, (bookmark) => bookmark.description !== "", "the fetched description");
    assert.deepEqual([filled.title, filled.description], ["My own title", "Fetched description"]);
    const untouched = await createBookmark(base, alice, { url: `${site.base}/article?given`, title: "Given", description: "Given too" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(site.hits.includes("GET /article?given"), false, "a bookmark with a title asks for no fetch");
    assert.deepEqual([(await bookmarkOf(base, alice, untouched.id)).title], ["Given"]);
  });

  test("a fetched title is plain text: decoded once and escaped on every page", async () => {
    const saved = await createBookmark(base, alice, { url: `${site.base}/hostile` });
    const landed = await waitFor(base, alice, saved.id, (bookmark) => bookmark.title !== saved.url, "the hostile title");
    assert.equal(landed.title, "<script>alert(1)</script> <b>bold</b> & more");
    const html = await (await fetch(`${base}/b/${saved.id}`)).text();
    assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp; more"), "escaped in the page");
    assert.equal(html.includes("<script>alert(1)"), false);
    assert.equal(html.includes("<b>bold"), false);
  });

  test("a redirect is followed; failures (404, not HTML, a loop) leave the bookmark as saved and tell its owner alone why; a dead link is marked broken at once", async () => {
    const moved = await createBookmark(base, alice, { url: `${site.base}/moved` });
    assert.equal((await waitFor(base, alice, moved.id, (bookmark) => bookmark.title !== moved.url, "the title behind the redirect")).title, "An article & its title");
    const owner = new PageClient(base);
    assert.equal((await owner.logIn("alice")).status, 303);
    const cases: [string, RegExp, boolean][] = [["/gone", /^HTTP 404$/, true], ["/binary", /^not HTML/, false], ["/loop", /^redirect loop/, true], ["/status/403", /^HTTP 403$/, false]];
    for (const [path, why, broken] of cases) {
      const hits = site.hits.length;
      const saved = await createBookmark(base, alice, { url: `${site.base}${path}`, public: true });
      const failed = await waitFor(base, alice, saved.id, (bookmark) => bookmark.link?.fetch_failed != null, `the failure of ${path}`);
      assert.match(failed.link.fetch_failed.error, why, path);
      assert.equal(failed.title, saved.url, "the bookmark stays as saved");
      // The save's own fetch counts as a link check: a dead link shows as broken now, not at the next pass.
      assert.equal(failed.link.broken, broken, `${path}: broken at once when the fetch found the link dead`);
      assert.equal(broken ? failed.link.last_check?.error : failed.link.last_check, broken ? failed.link.fetch_failed.error : null, path);
      const brokenIds = (await request(base, "GET", "/api/bookmarks?broken=true&limit=100", { token: alice })).json.data.map((bookmark: any) => bookmark.id);
      assert.equal(brokenIds.includes(saved.id), broken, `${path} in broken=true`);
      assert.equal((await owner.get("/bookmarks/broken")).text.includes(`id="b-${saved.id}"`), broken, `${path} on the broken links page`);
      assert.equal(site.hits.slice(hits).filter((hit) => hit.endsWith(path)).length, 1, `${path}: one request, no second one for the check`);
      assert.equal((await bookmarkOf(base, bob, saved.id)).link, undefined, "only the owner sees it");
      const anonymous = await request(base, "GET", `/api/bookmarks/${saved.id}`);
      assert.equal(anonymous.json.data.link, undefined);
    }
  });

  test("'title not fetched' shows on the owner's card while the URL stands in for the title, and goes once they give one", async () => {
    const saved = await createBookmark(base, alice, { url: `${site.base}/gone?titled-later` });
    await waitFor(base, alice, saved.id, (bookmark) => bookmark.link?.fetch_failed != null, "the failed fetch");
    const owner = new PageClient(base);
    assert.equal((await owner.logIn("alice")).status, 303);
    const badge = /title not fetched: <bdi class="badge-detail">HTTP 404</;
    assert.match((await owner.get(`/b/${saved.id}`)).text, badge, "the owner sees why the URL is the title");
    await request(base, "PATCH", `/api/bookmarks/${saved.id}`, { token: alice, body: { bookmark: { title: "Named by hand" } } });
    assert.doesNotMatch((await owner.get(`/b/${saved.id}`)).text, badge, "a title given since: nothing is missing any more");
    assert.equal((await bookmarkOf(base, alice, saved.id)).link.fetch_failed.error, "HTTP 404", "the API still answers what the fetch found");
  });

  test("a broken link fixed by changing the bookmark's URL is no longer broken: the checks were of the old address", async () => {
    const saved = await createBookmark(base, alice, { url: `${site.base}/gone?fixed-later`, title: "To fix" });
    const checked = await request(base, "POST", `/api/bookmarks/${saved.id}/check`, { token: alice });
    assert.equal(checked.json.data.link.broken, true);
    const brokenIds = async () => (await request(base, "GET", "/api/bookmarks?broken=true&limit=100", { token: alice })).json.data.map((bookmark: any) => bookmark.id);
    assert.ok((await brokenIds()).includes(saved.id), "listed as broken first (positive control)");
    const fixed = await request(base, "PATCH", `/api/bookmarks/${saved.id}`, { token: alice, body: { bookmark: { url: `${site.base}/article?fixed` } } });
    assert.equal(fixed.status, 200);
    assert.equal(fixed.json.bookmark.data.link, undefined, "nothing known about the new address yet");
    assert.equal((await brokenIds()).includes(saved.id), false);
    const owner = new PageClient(base);
    await owner.logIn("alice");
    assert.doesNotMatch((await owner.get(`/b/${saved.id}`)).text, /broken link:/);
  });

  test("an edit in flight wins over a fetch that lands meanwhile: the owner's title stays, a check of the old URL is dropped", async () => {
    // The store shows a change only once it commits; a fetch result that comes in between the
    // edit's append and its commit must not read the store as if the edit were not there.
    const owner = nasty.store.userByName("alice")!;
    const placeholder = `${site.base}/article?raced`;
    const titled = await createBookmark(base, alice, { url: placeholder, title: placeholder });
    const fetchedOk = { purpose: "metadata" as const, status: 200, final_url: placeholder, error: null, broken: false };
    const edit = nasty.commands.updateBookmark(owner, titled.id, { title: "Named by its owner" });
    const fetched = nasty.commands.recordLinkCheck(titled.id, placeholder, [fetchedOk], { title: "Fetched title", description: "Fetched description" });
    await Promise.all([edit, fetched]);
    const afterTitleRace = await bookmarkOf(base, alice, titled.id);
    assert.deepEqual([afterTitleRace.title, afterTitleRace.description], ["Named by its owner", "Fetched description"], "the edit stands; the field it did not touch is filled");

    const oldUrl = `${site.base}/gone?raced`;
    const moving = await createBookmark(base, alice, { url: oldUrl, title: "Moving" });
    const move = nasty.commands.updateBookmark(owner, moving.id, { url: `${site.base}/article?moved-here` });
    const stale = nasty.commands.recordLinkCheck(moving.id, oldUrl, [{ purpose: "health", status: 404, final_url: oldUrl, error: "HTTP 404", broken: true }]);
    await Promise.all([move, stale]);
    assert.equal(nasty.store.links.isBroken(moving.id), false, "no stale broken mark on the new URL");
    assert.equal((await bookmarkOf(base, alice, moving.id)).link, undefined);
    const recorded = nasty.log.readAfter(0, 100_000).filter((event) => event.type === "link.checked" && event.payload.id === moving.id);
    assert.deepEqual(recorded, [], "the check of the old URL is not recorded");
    // Positive control: the same check with nothing in flight is recorded.
    await nasty.commands.recordLinkCheck(moving.id, `${site.base}/article?moved-here`, [{ purpose: "health", status: 404, final_url: oldUrl, error: "HTTP 404", broken: true }]);
    assert.equal(nasty.store.links.isBroken(moving.id), true);
  });

  test("GET /api/bookmarks/check answers the page's metadata and whether you saved it", async () => {
    const url = `${site.base}/article`;
    const forAlice = await request(base, "GET", `/api/bookmarks/check?url=${encodeURIComponent(url)}`, { token: alice });
    assert.equal(forAlice.status, 200);
    assert.deepEqual(forAlice.json.metadata, { title: "An article & its title", description: "What it is about", site_name: "Loop Site", canonical_url: `${site.base}/article?ref=canonical` });
    assert.equal(typeof forAlice.json.saved?.id, "number");
    const forBob = await request(base, "GET", `/api/bookmarks/check?url=${encodeURIComponent(url)}`, { token: bob });
    assert.equal(forBob.json.saved, null);
    const failed = await request(base, "GET", `/api/bookmarks/check?url=${encodeURIComponent(`${site.base}/gone`)}`, { token: bob });
    assert.deepEqual([failed.status, failed.json.metadata, failed.json.fetch.status, failed.json.fetch.error], [200, null, 404, "HTTP 404"]);
    const checkFor = async (token: string, target: string) => (await request(base, "GET", `/api/bookmarks/check?url=${encodeURIComponent(target)}`, { token })).json;
    const [nell, otto] = [await signUp(base, "nell"), await signUp(base, "otto")];
    const nells = await createBookmark(base, nell, { url, title: "Saved where /moved leads" });
    const viaRedirect = await checkFor(nell, `${site.base}/moved`);
    assert.deepEqual([viaRedirect.fetch.final_url, viaRedirect.saved?.id], [url, nells.id], "found by the URL the redirect led to");
    const ottos = await createBookmark(base, otto, { url: `${site.base}/article?ref=canonical`, title: "Saved by its canonical URL" });
    assert.equal((await checkFor(otto, `${site.base}/article?utm_source=feed`)).saved?.id, ottos.id, "found by the page's canonical URL");
    assert.equal((await checkFor(otto, `${site.base}/only-title`)).saved, null, "a page that is neither is not yours");
    assert.equal((await request(base, "GET", `/api/bookmarks/check?url=${encodeURIComponent(url)}`)).status, 401);
    assert.equal((await request(base, "GET", "/api/bookmarks/check?url=javascript:alert(1)", { token: bob })).status, 400);
    assert.equal((await request(base, "GET", "/api/bookmarks/check", { token: bob })).status, 400);
  });

  test("Pinboard's posts/add and linkding's POST /api/bookmarks/ without a title get the page's", async () => {
    const pinboard = await fetch(`${base}/v1/posts/add?auth_token=alice:${encodeURIComponent(alice)}&format=json&url=${encodeURIComponent(`${site.base}/article?pinboard`)}`);
    assert.deepEqual(await pinboard.json(), { result_code: "done" });
    const linkding = await fetch(`${base}/api/bookmarks/`, {
      method: "POST", headers: { authorization: `Token ${alice}`, "content-type": "application/json" }, body: JSON.stringify({ url: `${site.base}/article?linkding` }),
    });
    assert.equal(linkding.status, 201);
    const checked = await fetch(`${base}/api/bookmarks/check/?url=${encodeURIComponent(`${site.base}/article`)}`, { headers: { authorization: `Token ${alice}` } });
    const checkedJson = await checked.json();
    assert.deepEqual([checked.status, checkedJson.metadata.title, checkedJson.metadata.description], [200, "An article & its title", "What it is about"], "linkding's check/ prefills from the page");
    for (const suffix of ["pinboard", "linkding"]) {
      const url = `${site.base}/article?${suffix}`;
      const id = (await request(base, "GET", `/api/bookmarks?url=${encodeURIComponent(url)}`, { token: alice })).json.data[0].id;
      assert.equal((await waitFor(base, alice, id, (bookmark) => bookmark.title !== url, `the ${suffix} title`)).title, "An article & its title");
    }
  });

  test("the add form without a title saves, and the title arrives", async () => {
    const browser = new PageClient(base);
    await browser.signUp("carol");
    await browser.get("/bookmarks");
    const url = `${site.base}/article?form`;
    const saved = await browser.post("/bookmarks", { url, title: "", description: "", tags: "" }, { headers: { origin: base } });
    assert.equal(saved.status, 303, saved.text.slice(0, 300));
    const carol = nasty.store.userByName("carol")!;
    await until(() => [...carol.bookmarks.values()].some((bookmark) => bookmark.url === url && bookmark.title === "An article & its title"), "the form bookmark's fetched title");
  });
});

describe("without NASTY_FETCH_ALLOW_PRIVATE: the loopback site is never requested", { timeout: 60_000 }, () => {
  let site: Site;
  let nasty: Nasty;
  let alice: string;

  before(async () => {
    site = await startSite();
    nasty = await startTestServer({ NASTY_FETCH: "on", NASTY_LINK_CHECK_INTERVAL_S: "0" });
    alice = await signUp(nasty.url, "alice");
  });
  after(async () => {
    await nasty.close();
    site.close();
  });

  test("a save, a check, a re-check and a redirect through a name: refused, recorded for the owner, and no request arrives", async () => {
    const saved = await createBookmark(nasty.url, alice, { url: `${site.base}/article` });
    const failed = await waitFor(nasty.url, alice, saved.id, (bookmark) => bookmark.link?.fetch_failed != null, "the refusal");
    assert.match(failed.link.fetch_failed.error, /^refused address: 127\.0\.0\.1 is loopback/);
    assert.equal(failed.title, saved.url);
    const byName = await createBookmark(nasty.url, alice, { url: `http://localhost:${new URL(site.base).port}/article` });
    const refusedByName = await waitFor(nasty.url, alice, byName.id, (bookmark) => bookmark.link?.fetch_failed != null, "the refusal after DNS");
    assert.match(refusedByName.link.fetch_failed.error, /^refused address: localhost resolves to/);
    const check = await request(nasty.url, "GET", `/api/bookmarks/check?url=${encodeURIComponent(`${site.base}/article`)}`, { token: alice });
    assert.deepEqual([check.json.metadata, check.json.fetch.error?.startsWith("refused address")], [null, true]);
    const recheck = await request(nasty.url, "POST", `/api/bookmarks/${saved.id}/check`, { token: alice });
    assert.equal(recheck.status, 200);
    assert.equal(recheck.json.data.link?.broken ?? false, false, "a refused address says nothing about the link");
    assert.deepEqual(site.hits, [], "no request reached the loopback site");
  });
});

describe("NASTY_FETCH=off", { timeout: 60_000 }, () => {
  test("saves without a title keep the URL, nothing is fetched, checks answer 409", async () => {
    const site = await startSite();
    const nasty = await startTestServer({ NASTY_FETCH: "off", NASTY_FETCH_ALLOW_PRIVATE: "true" });
    try {
      const token = await signUp(nasty.url, "alice");
      const saved = await createBookmark(nasty.url, token, { url: `${site.base}/article` });
      const check = await request(nasty.url, "GET", `/api/bookmarks/check?url=${encodeURIComponent(`${site.base}/article`)}`, { token });
      assert.deepEqual([check.status, check.json.metadata], [200, null]);
      assert.match(check.json.fetch.error, /^fetching is off: NASTY_FETCH=off/);
      assert.equal((await request(nasty.url, "POST", `/api/bookmarks/${saved.id}/check`, { token })).status, 409);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal((await bookmarkOf(nasty.url, token, saved.id)).title, saved.url);
      assert.deepEqual(site.hits, []);
    } finally {
      await nasty.close();
      site.close();
    }
  });
});

describe("link health", { timeout: 180_000 }, () => {
  let site: Site;

  before(async () => {
    site = await startSite();
  });
  after(() => site.close());

  test("the checker marks a link broken when its server starts answering 404, and healthy again after; politely, one request per host at a time", async () => {
    const nasty = await startTestServer({ ...PRIVATE_ALLOWED, NASTY_LINK_CHECK_INTERVAL_S: "1" });
    try {
      const token = await signUp(nasty.url, "dora");
      const flaky = await createBookmark(nasty.url, token, { url: `${site.base}/flaky`, title: "Flaky" });
      const other = await createBookmark(nasty.url, token, { url: `${site.base}/flaky-too`, title: "Flaky too" });
      const brokenIds = async (value: string) => (await request(nasty.url, "GET", `/api/bookmarks?broken=${value}`, { token })).json.data.map((bookmark: any) => bookmark.id);
      const passes = () => request(nasty.url, "GET", "/api/status").then((reply) => reply.json.links.passes as number);
      const afterPasses = async (count: number) => {
        const start = await passes();
        const deadline = Date.now() + LAND_WAIT_MS_MAX;
        while ((await passes()) < start + count) {
          if (Date.now() > deadline) throw new Error("the checker made no pass");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      // The first pass may come before the links fall due (a second after their save).
      await afterPasses(2);
      assert.deepEqual(await brokenIds("true"), []);
      assert.ok(site.hits.includes("HEAD /flaky"), "HEAD first");
      site.flaky = 404;
      await afterPasses(2);
      assert.deepEqual((await brokenIds("true")).sort(), [flaky.id, other.id].sort());
      const shown = await bookmarkOf(nasty.url, token, flaky.id);
      assert.deepEqual([shown.link.broken, shown.link.last_check.status, shown.link.last_check.error], [true, 404, "HTTP 404"]);
      assert.ok(site.hits.includes("GET /flaky"), "GET after a failed HEAD");
      site.flaky = 200;
      await afterPasses(2);
      assert.deepEqual(await brokenIds("true"), []);
      assert.deepEqual((await brokenIds("false")).sort(), [flaky.id, other.id].sort());
      assert.equal((await bookmarkOf(nasty.url, token, flaky.id)).link, undefined);
      assert.equal(site.concurrentMax, 1, "one request at a time to the host");
    } finally {
      await nasty.close();
    }
  });

  test("the schedule survives restarts: a server restarted more often than the interval still checks the links that fell due", async () => {
    const dataDir = tempDir();
    const settings = { ...PRIVATE_ALLOWED, NASTY_LINK_CHECK_INTERVAL_S: "3", NASTY_DATA_DIR: dataDir };
    const url = `${site.base}/status/404?restarts`;
    const requested = () => site.hits.some((hit) => hit.endsWith(" /status/404?restarts"));
    let nasty = await startNasty(testConfig(settings), { quiet: true });
    const token = await signUp(nasty.url, "kim");
    const dead = await createBookmark(nasty.url, token, { url, title: "Dead" });
    // Each server lives 1.5 s, half the interval: a schedule kept by the process alone never fires.
    const LIFE_MS = 1500;
    const RESTARTS_MAX = 20;
    try {
      for (let restart = 0; restart < RESTARTS_MAX && !requested(); restart += 1) {
        await new Promise((resolve) => setTimeout(resolve, LIFE_MS));
        if (requested()) break;
        await nasty.close();
        nasty = await startNasty(testConfig(settings), { quiet: true });
      }
      assert.ok(requested(), `the link was checked while each server lived ${LIFE_MS} ms of a 3 s interval`);
      const marked = await waitFor(nasty.url, token, dead.id, (bookmark) => bookmark.link?.broken === true, "the dead link marked broken");
      assert.equal(marked.link.last_check.status, 404);
    } finally {
      await nasty.close();
    }
  });

  test("politeness: two links of one host are requested at least HOST_GAP_MS apart, while another host goes on meanwhile", async () => {
    const other = await startSite();
    const nasty = await startTestServer({ ...PRIVATE_ALLOWED, NASTY_LINK_CHECK_INTERVAL_S: "1" });
    try {
      const token = await signUp(nasty.url, "lee");
      const urls = [`${site.base}/status/200?gap-a`, `${site.base}/status/200?gap-b`, `${other.base}/status/200?gap-c`, `${other.base}/status/200?gap-d`];
      for (const url of urls) await createBookmark(nasty.url, token, { url, title: "Gap" });
      const firstHit = (target: Site, suffix: string) => target.hitTimes[target.hits.findIndex((hit) => hit.endsWith(`?${suffix}`))];
      const deadline = Date.now() + LAND_WAIT_MS_MAX;
      while ([firstHit(site, "gap-a"), firstHit(site, "gap-b"), firstHit(other, "gap-c"), firstHit(other, "gap-d")].includes(undefined)) {
        if (Date.now() > deadline) throw new Error(`not every link was checked: ${JSON.stringify([site.hits, other.hits])}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const [a, b, c, d] = [firstHit(site, "gap-a")!, firstHit(site, "gap-b")!, firstHit(other, "gap-c")!, firstHit(other, "gap-d")!];
      assert.ok(Math.abs(b - a) >= HOST_GAP_MS, `one host's checks ${Math.abs(b - a)} ms apart`);
      assert.ok(Math.abs(d - c) >= HOST_GAP_MS, `the other host's checks ${Math.abs(d - c)} ms apart`);
      assert.ok(Math.min(c, d) < Math.max(a, b) && Math.min(a, b) < Math.max(c, d), "the two hosts were checked in the same stretch, not one after the other");
    } finally {
      await nasty.close();
      other.close();
    }
  });

  test("broken means gone (404, 410), failing (5xx) or no answer; 401, 403, 429 and other 4xx are checked, recorded with their status, and not broken", async () => {
    const nasty = await startTestServer(PRIVATE_ALLOWED);
    try {
      const token = await signUp(nasty.url, "ivy");
      const noAnswer = `http://127.0.0.1:${await closedPort()}/`;
      const cases: [string, boolean, number | null][] = [
        [`${site.base}/status/404`, true, 404], [`${site.base}/status/410`, true, 410], [`${site.base}/status/500`, true, 500], [`${site.base}/status/503`, true, 503], [noAnswer, true, null],
        [`${site.base}/status/401`, false, 401], [`${site.base}/status/403`, false, 403], [`${site.base}/status/429`, false, 429], [`${site.base}/status/400`, false, 400],
      ];
      for (const [url, broken, status] of cases) {
        const saved = await createBookmark(nasty.url, token, { url, title: `checked ${url}` });
        const checked = await request(nasty.url, "POST", `/api/bookmarks/${saved.id}/check`, { token });
        assert.equal(checked.status, 200);
        assert.equal(checked.json.data.link?.broken ?? false, broken, url);
        const recorded = nasty.log.readAfter(0, 100_000).filter((event) => event.type === "link.checked" && event.payload.id === saved.id).at(-1);
        assert.equal(recorded?.type, "link.checked", `the check of ${url} is in the log`);
        if (recorded?.type !== "link.checked") continue;
        assert.deepEqual([recorded.payload.purpose, recorded.payload.status, recorded.payload.broken], ["health", status, broken], url);
      }
      const brokenCount = (await request(nasty.url, "GET", "/api/bookmarks?broken=true&limit=100", { token })).json.data.length;
      assert.equal(brokenCount, 5);
    } finally {
      await nasty.close();
    }
  });

  test("re-check now (API and the card's button), broken=true for the owner alone, replayed after a restart, erased with the bookmark", async () => {
    const dataDir = tempDir();
    let nasty = await startNasty(testConfig({ ...PRIVATE_ALLOWED, NASTY_DATA_DIR: dataDir }), { quiet: true });
    site.flaky = 404;
    const token = await signUp(nasty.url, "erin");
    const other = await signUp(nasty.url, "frank");
    const flaky = await createBookmark(nasty.url, token, { url: `${site.base}/flaky`, title: "Flaky" });
    const checked = await request(nasty.url, "POST", `/api/bookmarks/${flaky.id}/check`, { token });
    assert.deepEqual([checked.status, checked.json.data.link.broken, checked.json.data.link.last_check.status], [200, true, 404]);
    assert.equal((await request(nasty.url, "POST", `/api/bookmarks/${flaky.id}/check`, { token: other })).status, 403);
    assert.equal((await request(nasty.url, "GET", "/api/bookmarks?broken=true&user=erin", { token: other })).status, 400);
    assert.equal((await request(nasty.url, "GET", "/api/bookmarks?broken=true")).status, 401);

    const browser = new PageClient(nasty.url);
    await browser.signUp("gina");
    await browser.get("/bookmarks");
    await browser.post("/bookmarks", { url: `${site.base}/flaky`, title: "Gina's flaky", description: "", tags: "" }, { headers: { origin: nasty.url } });
    const gina = nasty.store.userByName("gina")!;
    const ginas = gina.bookmarks.newest(1)[0]!;
    const live = await openLive(nasty.url, "bookmarks:user:gina:private", { cookie: browser.cookieHeader(), origin: nasty.url });
    const raw = await Client.open(wsUrl(nasty, `/ws?token=${encodeURIComponent(token)}&topics=bookmarks:user:erin:private`));
    const recheck = await browser.post(`/b/${ginas.id}/check`, {}, { csrf: null, headers: { origin: nasty.url } });
    assert.deepEqual([recheck.status, recheck.location], [303, "/bookmarks/broken"]);
    const card = await live.next();
    assert.match(card.content, new RegExp(`id="b-${ginas.id}"[\\s\\S]*broken link: <bdi class="badge-detail">HTTP 404</bdi>`), "the owner's open pages show the badge live");
    live.socket.close();
    await request(nasty.url, "POST", `/api/bookmarks/${flaky.id}/check`, { token });
    await raw.barrier();
    assert.equal(raw.pushes().filter((frame) => frame.payload?.id === flaky.id).length, 0, "a check that changes nothing pushes nothing");
    site.flaky = 200;
    await request(nasty.url, "POST", `/api/bookmarks/${flaky.id}/check`, { token });
    const back = await raw.next((frame) => frame.event === "bookmark_updated" && frame.payload.id === flaky.id, "the owner's update when the link is back");
    assert.equal(back.topic, "bookmarks:user:erin:private");
    await raw.close();
    site.flaky = 404;
    await request(nasty.url, "POST", `/api/bookmarks/${flaky.id}/check`, { token });
    const page = await browser.get("/bookmarks/broken");
    assert.equal(page.status, 200);
    assert.ok(page.text.includes("Gina&#39;s flaky") || page.text.includes("Gina's flaky"), "listed on the broken links page");
    assert.match(page.text, /broken link: <bdi class="badge-detail">HTTP 404<\/bdi>/);
    assert.ok(page.text.includes(`action="/b/${ginas.id}/check"`), "with its re-check button");
    const publicView = await (await fetch(`${nasty.url}/u/gina`)).text();
    assert.equal(publicView.includes("broken link"), false, "others do not see it");
    for (const path of ["/bookmarks?broken=true", "/u/gina?broken=true"]) {
      const filtered = await browser.get(path);
      assert.deepEqual([filtered.status, filtered.location], [303, "/bookmarks/broken"], `${path}: your own list's broken links are the broken links page`);
    }
    assert.equal((await browser.get("/u/gina?broken=maybe")).status, 400);
    assert.equal((await browser.get("/bookmarks?broken=false")).status, 200);
    const othersPage = await fetch(`${nasty.url}/u/gina?broken=true`, { redirect: "manual" });
    assert.equal(othersPage.status, 200, "others' pages show no link checks and ignore the filter");
    const notBoolean = await request(nasty.url, "GET", "/api/bookmarks?broken=maybe", { token });
    assert.equal(notBoolean.status, 400);
    assert.match(notBoolean.json.error, /^broken must be true or false/);

    await nasty.close();
    nasty = await startNasty(testConfig({ ...PRIVATE_ALLOWED, NASTY_DATA_DIR: dataDir }), { quiet: true });
    try {
      const replayed = await bookmarkOf(nasty.url, token, flaky.id);
      assert.deepEqual([replayed.link.broken, replayed.link.last_check.status], [true, 404], "replayed after a restart");
      await request(nasty.url, "DELETE", `/api/bookmarks/${flaky.id}`, { token });
      assert.equal(nasty.store.links.get(flaky.id), undefined, "erased with the bookmark");
      assert.equal(nasty.store.links.isBroken(ginas.id), true);
    } finally {
      await nasty.close();
    }
  });

  test("npm run nasty -- links check runs a pass at once, without a server and inside a running one", async () => {
    const dataDir = tempDir();
    const nasty = await startNasty(testConfig({ ...PRIVATE_ALLOWED, NASTY_DATA_DIR: dataDir }), { quiet: true });
    const token = await signUp(nasty.url, "hana");
    const flaky = await createBookmark(nasty.url, token, { url: `${site.base}/flaky`, title: "Flaky" });
    await nasty.close();
    const env = { NASTY_FETCH: "on", NASTY_FETCH_ALLOW_PRIVATE: "true" };
    site.flaky = 404;
    const offline = await runCli(dataDir, ["links", "check"], { env });
    assert.equal(offline.status, 0, offline.stderr);
    assert.match(offline.stdout, /checked 1 link: 1 broken/);
    const off = await runCli(dataDir, ["links", "check"], { env: { NASTY_FETCH: "off" } });
    assert.equal(off.status, 2);
    assert.match(off.stderr, /fetching is off/);
    const server = await startServerProcess(dataDir, { ...env, NASTY_LINK_CHECK_INTERVAL_S: "0" });
    try {
      const before = await request(server.url, "GET", `/api/bookmarks/${flaky.id}`, { token });
      assert.equal(before.json.data.link?.broken, true, "the offline pass was recorded in the log");
      site.flaky = 200;
      const online = await runCli(dataDir, ["links", "check"], { env });
      assert.equal(online.status, 0, online.stderr);
      assert.match(online.stdout, /checked 1 link: 0 broken/);
      const afterwards = await request(server.url, "GET", `/api/bookmarks/${flaky.id}`, { token });
      assert.equal(afterwards.json.data.link, undefined);
    } finally {
      await server.stop();
    }
  });
});
