// Bulk edit, tag care, the bookmarklet, the share target, keyboard shortcuts and pause in Chromium against a real server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, logInThroughForm, PAGE_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";

/** A page that describes itself only in Open Graph tags: what the add form fills in from GET /api/bookmarks/check. */
const DESCRIBED_PAGE = `<!doctype html><html><head><title>Described page</title>
<meta property="og:title" content="The page's own title">
<meta property="og:description" content="Told by its og:description.">
</head><body><p>nothing selected here</p></body></html>`;

describe("capture and care in Chromium", { skip: chromiumSkip("capture browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let base: string;
  let browser: Browser;
  let alice: string;
  /** A page elsewhere on the web (loopback): what the bookmarklet runs on and what `o` opens. */
  let elsewhere: http.Server;
  let elsewhereUrl: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    contexts.push(context);
    return context.newPage();
  }

  async function aliceAt(pathname: string): Promise<Page> {
    const page = await newPage();
    watchForProblems(page, pathname, problems);
    await logInThroughForm(page, base, "alice");
    await page.goto(base + pathname);
    return page;
  }

  async function live(page: Page): Promise<void> {
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
  }

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    elsewhere = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      if (req.url?.startsWith("/described")) res.end(DESCRIBED_PAGE);
      else res.end(`<!doctype html><title>Somewhere &amp; else</title><p id="quote">A sentence worth keeping.</p><p>path ${req.url}</p>`);
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nasty?.close();
    await new Promise((resolve) => elsewhere?.close(resolve));
  });

  test("bulk edit from my bookmarks: tick, act, see every list follow live; a private one reaches the firehose only when made public", async () => {
    const made = [];
    for (let index = 0; index < 3; index += 1) made.push(await createBookmark(base, alice, { title: `Bulk ${index}`, url: `https://bulk.example/${index}`, public: false }));
    const mine = await aliceAt("/bookmarks");
    await live(mine);
    const firehose = await newPage();
    watchForProblems(firehose, "/ (stranger)", problems);
    await firehose.goto(base + "/");
    await live(firehose);
    assert.equal(await firehose.locator(`#b-${made[0].id}, #b-${made[1].id}`).count(), 0);

    await mine.click("#bulk button[type=submit]");
    await mine.locator("#bulk .alert", { hasText: "tick at least one bookmark first" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });

    await mine.check(`#b-${made[0].id} .bulk-pick`);
    await mine.check(`#b-${made[1].id} .bulk-pick`);
    await mine.selectOption("#bulk select[name=action]", "add_tags");
    await mine.fill("#bulk input[name=tags]", "picked, Two Words");
    await mine.click("#bulk button[type=submit]");
    await mine.locator("#bulk .notice", { hasText: "Done: 2 bookmarks changed." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    for (const bookmark of made.slice(0, 2)) await mine.locator(`#b-${bookmark.id} .tags a`, { hasText: "#two-words" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await mine.locator(`#b-${made[2].id} .tags`).count(), 0, "the one not ticked is untouched");

    await mine.check(`#b-${made[0].id} .bulk-pick`);
    await mine.check(`#b-${made[1].id} .bulk-pick`);
    await mine.selectOption("#bulk select[name=action]", "make_public");
    await mine.fill("#bulk input[name=tags]", "");
    const headBefore = nasty.log.lastSeq;
    await mine.click("#bulk button[type=submit]");
    for (const bookmark of made.slice(0, 2)) await firehose.locator(`#feed #b-${bookmark.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const seqs = await firehose.locator(`#b-${made[0].id}, #b-${made[1].id}`).evaluateAll((cards) => cards.map((card) => Number(card.getAttribute("data-seq"))));
    assert.ok(seqs.every((seq) => seq > headBefore && seq <= nasty.log.lastSeq), `pushed after their commit: ${seqs} after ${headBefore}`);
    assert.equal(await firehose.locator(`#b-${made[2].id}`).count(), 0, "the private one not ticked stays off the firehose");

    await mine.check(`#b-${made[0].id} .bulk-pick`);
    await mine.selectOption("#bulk select[name=action]", "make_private");
    await mine.click("#bulk button[type=submit]");
    await firehose.locator(`#b-${made[0].id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator(`#b-${made[1].id}`).count(), 1);

    await mine.click("#bulk-all");
    assert.equal(await mine.locator("main .card .bulk-pick:not(:checked)").count(), 0, "tick all shown");
    await mine.click("#bulk-all");
    assert.equal(await mine.locator("main .card .bulk-pick:checked").count(), 0, "and untick them all again");
    await mine.check(`#b-${made[1].id} .bulk-pick`);
    await mine.check(`#b-${made[2].id} .bulk-pick`);
    await mine.selectOption("#bulk select[name=action]", "delete");
    let bulkPosts = 0;
    mine.on("request", (sent) => {
      if (sent.method() === "POST" && sent.url().endsWith("/bookmarks/bulk")) bulkPosts += 1;
    });
    const dialog = mine.locator("dialog#confirm");
    // Deleting asks first; cancel (the button, then Escape) sends nothing.
    await mine.click("#bulk button[type=submit]");
    await dialog.waitFor({ state: "visible", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await mine.locator("#confirm-text").textContent(), "Delete these 2 bookmarks? They are erased for good, with their discussions; this cannot be undone.");
    assert.equal(await mine.locator("#confirm-yes").textContent(), "delete 2 bookmarks");
    await dialog.locator("button", { hasText: "cancel" }).click();
    await dialog.waitFor({ state: "hidden", timeout: PAGE_WAIT_MS_MAX });
    await mine.click("#bulk button[type=submit]");
    await dialog.waitFor({ state: "visible", timeout: PAGE_WAIT_MS_MAX });
    await mine.keyboard.press("j");
    assert.equal(await mine.locator(".card.selected").count(), 0, "shortcuts wait while the dialog asks");
    await mine.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(bulkPosts, 0, "cancelled: nothing was sent");
    for (const bookmark of made) assert.equal((await request(base, "GET", `/api/bookmarks/${bookmark.id}`, { token: alice })).status, 200, "cancelled: nothing was deleted");
    assert.equal(await mine.locator("main .card .bulk-pick:checked").count(), 2, "the selection stays, to try again");

    await mine.click("#bulk button[type=submit]");
    await dialog.waitFor({ state: "visible", timeout: PAGE_WAIT_MS_MAX });
    await mine.click("#confirm-yes");
    for (const bookmark of made.slice(1)) await mine.locator(`#b-${bookmark.id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    await mine.locator("#bulk .notice", { hasText: "Deleted 2 bookmarks." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(bulkPosts, 1);
    await firehose.locator(`#b-${made[1].id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    assert.equal((await request(base, "GET", `/api/bookmarks/${made[2].id}`, { token: alice })).status, 404);
    assert.equal(await mine.locator(`#b-${made[0].id}`).count(), 1);
    assert.equal(await mine.locator('#bulk input[name="confirm"]').inputValue(), "", "the next delete asks again");
  });

  test("tag care on /tags: rename, merge and delete a tag of mine, with a clear refusal", async () => {
    await createBookmark(base, alice, { title: "Tagged 1", url: "https://tagged.example/1", tags: ["js", "web"] });
    await createBookmark(base, alice, { title: "Tagged 2", url: "https://tagged.example/2", tags: ["javascript"], public: false });
    const tags = await aliceAt("/tags");
    const row = (tag: string) => tags.locator(`#my-tags tr[data-tag="${tag}"]`);
    assert.equal(await row("javascript").locator("td").nth(1).textContent(), "1", "private tags are listed for their owner");
    await row("js").locator("input[name=name]").fill("a,b");
    await row("js").locator("button", { hasText: "rename" }).click();
    await tags.locator("#my-tags .alert", { hasText: "must be one tag (no commas)" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });

    await row("js").locator("input[name=name]").fill("javascript");
    await row("js").locator("button", { hasText: "rename" }).click();
    await tags.locator("#my-tags .notice", { hasText: "Renamed “js” to “javascript” on 1 bookmark." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await row("js").count(), 0);
    assert.equal(await row("javascript").locator("td").nth(1).textContent(), "2", "merged");

    const dialog = tags.locator("dialog#confirm");
    await row("web").locator("button", { hasText: "delete" }).click();
    await dialog.waitFor({ state: "visible", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await tags.locator("#confirm-text").textContent(), "Delete the tag “web”? It comes off your bookmark; the bookmarks stay.");
    await dialog.locator("button", { hasText: "cancel" }).click();
    await dialog.waitFor({ state: "hidden", timeout: PAGE_WAIT_MS_MAX });
    assert.deepEqual((await request(base, "GET", "/api/bookmarks?user=alice&tag=web", { token: alice })).json.data.map((bookmark: any) => bookmark.title), ["Tagged 1"], "cancelled: the tag stays");
    assert.equal(await row("web").count(), 1);
    await row("web").locator("button", { hasText: "delete" }).click();
    await dialog.waitFor({ state: "visible", timeout: PAGE_WAIT_MS_MAX });
    await tags.click("#confirm-yes");
    await tags.locator("#my-tags .notice", { hasText: "Removed “web” on 1 bookmark." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await row("web").count(), 0);
    const titles = (await request(base, "GET", "/api/bookmarks?user=alice&tag=javascript", { token: alice })).json.data.map((bookmark: any) => bookmark.title).sort();
    assert.deepEqual(titles, ["Tagged 1", "Tagged 2"]);
  });

  test("the bookmarklet on the settings page opens the add form filled in from the page it runs on", async () => {
    const settings = await aliceAt("/settings");
    const href = await settings.locator("a.bookmarklet").getAttribute("href");
    assert.ok(href?.startsWith("javascript:"), String(href));
    assert.doesNotMatch(href!, /nasty_|token|session/i, "no secret in it");
    await settings.click("a.bookmarklet");
    assert.equal(await settings.locator("a.bookmarklet").textContent(), "drag me to your bookmarks bar", "clicked here, it says how to use it");
    assert.equal(new URL(settings.url()).pathname, "/settings");
    await settings.goto(`${elsewhereUrl}/article?id=7`);
    await settings.evaluate(() => {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("quote")!);
      getSelection()!.removeAllRanges();
      getSelection()!.addRange(range);
    });
    await settings.evaluate(href!.slice("javascript:".length));
    await settings.waitForURL((url) => url.origin === base && url.pathname === "/bookmarks");
    assert.equal(await settings.inputValue("#new-bookmark input[name=url]"), `${elsewhereUrl}/article?id=7`);
    assert.equal(await settings.inputValue("#new-bookmark input[name=title]"), "Somewhere & else");
    assert.equal(await settings.inputValue("#new-bookmark textarea[name=description]"), "A sentence worth keeping.");
    await settings.click("#new-bookmark button[type=submit]");
    await settings.locator("#new-bookmark .notice", { hasText: "Saved “Somewhere & else”." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
  });

  test("the add form fills an empty title and description from GET /api/bookmarks/check (never over what was typed) and says when the link is saved already; without JavaScript the server fetches them", async () => {
    // Fetching on, loopback allowed: the page the bookmarklet runs on is this suite's own site.
    const fetching = await startTestServer({ NASTY_FETCH: "on", NASTY_FETCH_ALLOW_PRIVATE: "true", NASTY_LINK_CHECK_INTERVAL_S: "0" });
    try {
      const fetchingBase = fetching.url;
      const token = await signUp(fetchingBase, "alice");
      const described = `${elsewhereUrl}/described`;
      const page = await newPage();
      watchForProblems(page, "the add form, filled from the check", problems);
      await logInThroughForm(page, fetchingBase, "alice");
      await page.goto(`${fetchingBase}/settings`);
      const href = await page.locator("a.bookmarklet").getAttribute("href");
      await page.goto(described);
      await page.evaluate(href!.slice("javascript:".length));
      await page.waitForURL((url) => url.origin === fetchingBase && url.pathname === "/bookmarks");
      const description = page.locator("#new-bookmark textarea[name=description]");
      await page.waitForFunction(() => (document.querySelector("#new-bookmark textarea[name=description]") as HTMLTextAreaElement).value !== "", undefined, { timeout: PAGE_WAIT_MS_MAX });
      assert.equal(await description.inputValue(), "Told by its og:description.", "the empty description, from the page's og:description");
      assert.equal(await page.inputValue("#new-bookmark input[name=title]"), "Described page", "the title the bookmarklet brought stays");
      assert.equal(await page.locator("#new-bookmark .already").count(), 0, "not saved yet");
      await page.click("#new-bookmark button[type=submit]");
      await page.locator("#new-bookmark .notice", { hasText: "Saved “Described page”." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
      const saved = (await request(fetchingBase, "GET", `/api/bookmarks?user=alice&url=${encodeURIComponent(described)}`, { token })).json.data[0];
      assert.equal(saved.description, "Told by its og:description.");

      // A URL given in the form (typed or pasted): both empty fields are filled, and the bookmark saved already is pointed out.
      await page.fill("#new-bookmark input[name=url]", described);
      await page.locator("#new-bookmark input[name=url]").press("Tab");
      const already = page.locator("#new-bookmark .already");
      await already.waitFor({ timeout: PAGE_WAIT_MS_MAX });
      assert.equal(await already.textContent(), "You already saved this link as “Described page”: change it there.");
      assert.equal(await already.locator("a").getAttribute("href"), `/b/${saved.id}/edit`);
      assert.equal(await page.inputValue("#new-bookmark input[name=title]"), "The page's own title");
      assert.equal(await description.inputValue(), "Told by its og:description.");

      // What was typed while the server was asked stays: the answer fills only the fields still empty and untouched.
      let release = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      await page.route((url) => url.pathname === "/api/bookmarks/check", async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${fetchingBase}/bookmarks?url=${encodeURIComponent(`${described}?typed=1`)}`);
      await page.locator('#new-bookmark[aria-busy="true"]').waitFor({ state: "attached", timeout: PAGE_WAIT_MS_MAX });
      await page.fill("#new-bookmark input[name=title]", "My own words");
      release();
      await page.locator("#new-bookmark:not([aria-busy])").waitFor({ state: "attached", timeout: PAGE_WAIT_MS_MAX });
      assert.equal(await page.inputValue("#new-bookmark input[name=title]"), "My own words");
      assert.equal(await description.inputValue(), "Told by its og:description.", "the field left alone was filled");
      await page.unroute((url) => url.pathname === "/api/bookmarks/check");

      // Without JavaScript the form is saved as it is: no title, and the server fetches one.
      const context = await browser.newContext({ javaScriptEnabled: false });
      contexts.push(context);
      const plain = await context.newPage();
      watchForProblems(plain, "the add form without JavaScript", problems);
      await logInThroughForm(plain, fetchingBase, "alice");
      await plain.goto(`${fetchingBase}/bookmarks?url=${encodeURIComponent(`${described}?plain=1`)}`);
      assert.equal(await plain.inputValue("#new-bookmark input[name=title]"), "");
      await plain.click("#new-bookmark button[type=submit]");
      await plain.waitForURL(`${fetchingBase}/bookmarks`);
      const deadline = Date.now() + PAGE_WAIT_MS_MAX;
      let fetched: any;
      do {
        fetched = (await request(fetchingBase, "GET", `/api/bookmarks?user=alice&url=${encodeURIComponent(`${described}?plain=1`)}`, { token })).json.data[0];
        if (fetched?.title === "The page's own title") break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } while (Date.now() < deadline);
      assert.deepEqual([fetched?.title, fetched?.description], ["The page's own title", "Told by its og:description."]);
    } finally {
      await fetching.close();
    }
  });

  test("a badge keeps a URL in its own case, and a title with bidi controls cannot reorder the text around it", async () => {
    const looped = await createBookmark(base, alice, { title: "Looped", url: "https://loop.example/Self" });
    const why = "redirect loop: https://loop.example/Self redirects back to itself";
    await nasty.commands.recordLinkCheck(looped.id, looped.url, [{ purpose: "health", status: 302, final_url: looped.url, error: why, broken: true }]);
    // U+202E (right-to-left override) in a fetched title would reverse everything after it on the line.
    const tricky = await createBookmark(base, alice, { title: "abc\u202Edef", url: "https://bidi.example/x" });
    const page = await aliceAt("/bookmarks");
    assert.equal(await page.locator(`#b-${looped.id} .broken-link`).innerText(), `BROKEN LINK: ${why}`, "the label is in capitals, the reason as it was written");
    const [titleRight, domainLeft] = await page.locator(`#t-${tricky.id}`).evaluate((heading) => [heading.querySelector("a")!.getBoundingClientRect().right, heading.querySelector(".domain")!.getBoundingClientRect().left]);
    assert.ok(domainLeft! >= titleRight! - 0.5, `the domain stays after the title (title ends at ${titleRight}, domain starts at ${domainLeft})`);
  });

  test("the manifest's share target opens the add form filled in (a link shared as text too)", async () => {
    const page = await aliceAt("/");
    const manifestHref = await page.locator('link[rel="manifest"]').getAttribute("href");
    const manifest = await (await fetch(base + manifestHref)).json();
    assert.deepEqual(manifest.share_target, { action: "/bookmarks", method: "GET", params: { title: "title", text: "text", url: "url" } });
    const shared = new URL(manifest.share_target.action, base);
    shared.searchParams.set("title", "Phone find");
    shared.searchParams.set("text", "Look at this https://shared.example/thing?x=1 soon");
    await page.goto(shared.href);
    assert.equal(await page.inputValue("#new-bookmark input[name=url]"), "https://shared.example/thing?x=1");
    assert.equal(await page.inputValue("#new-bookmark input[name=title]"), "Phone find");
    assert.equal(await page.inputValue("#new-bookmark textarea[name=description]"), "Look at this  soon");
    const both = new URL("/bookmarks", base);
    both.searchParams.set("url", "https://shared.example/two");
    both.searchParams.set("text", "https://shared.example/two");
    await page.goto(both.href);
    assert.equal(await page.inputValue("#new-bookmark input[name=url]"), "https://shared.example/two");
    assert.equal(await page.inputValue("#new-bookmark textarea[name=description]"), "", "the URL again as text is not a description");
  });

  test("shortcuts stay quiet in a textarea and in contenteditable, and work from a ticked box (a box is not typing)", async () => {
    const first = await createBookmark(base, alice, { title: "Box 1", url: `${elsewhereUrl}/box-1` });
    const second = await createBookmark(base, alice, { title: "Box 2", url: `${elsewhereUrl}/box-2` });
    const page = await aliceAt("/bookmarks");
    const selected = () => page.evaluate(() => [...document.querySelectorAll(".card.selected")].map((card) => card.id));
    const dialogOpen = () => page.locator("#shortcuts").evaluate((dialog) => (dialog as HTMLDialogElement).open);

    await page.locator("#new-bookmark textarea[name=notes]").click();
    await page.keyboard.type("j/n?k", { delay: 10 });
    assert.equal(await page.inputValue("#new-bookmark textarea[name=notes]"), "j/n?k");
    await page.evaluate(() => {
      const editable = document.createElement("div");
      editable.contentEditable = "true";
      editable.innerHTML = "<p><b id=inside>x</b></p>";
      document.querySelector("main")!.prepend(editable);
    });
    await page.locator("#inside").click();
    await page.keyboard.type("j?n/", { delay: 10 });
    assert.match((await page.locator("#inside").textContent())!, /j\?n\//, "typed into the editable element");
    assert.deepEqual([await selected(), await dialogOpen(), new URL(page.url()).pathname], [[], false, "/bookmarks"]);

    await page.locator(`#b-${second.id} .bulk-pick`).check();
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type), "checkbox");
    await page.keyboard.press("j");
    await page.keyboard.press("j");
    assert.deepEqual(await selected(), [`b-${first.id}`], "j moves from a ticked box");
    assert.equal(await page.locator(`#b-${second.id} .bulk-pick`).isChecked(), true);
  });

  test("keyboard shortcuts: ? j k o e n /, never while typing or with a modifier", async () => {
    const first = await createBookmark(base, alice, { title: "Keys 1", url: `${elsewhereUrl}/keys-1` });
    const second = await createBookmark(base, alice, { title: "Keys 2", url: `${elsewhereUrl}/keys-2` });
    const page = await aliceAt("/bookmarks");
    const selected = () => page.evaluate(() => [...document.querySelectorAll(".card.selected")].map((card) => card.id));

    await page.keyboard.press("?");
    assert.equal(await page.locator("#shortcuts").evaluate((dialog) => (dialog as HTMLDialogElement).open), true);
    await page.keyboard.press("j");
    assert.deepEqual(await selected(), [], "other keys wait while the list is open");
    await page.keyboard.press("Escape");
    assert.equal(await page.locator("#shortcuts").evaluate((dialog) => (dialog as HTMLDialogElement).open), false);

    await page.keyboard.press("Control+j");
    assert.deepEqual(await selected(), [], "a modifier leaves it to the browser");
    await page.keyboard.press("j");
    assert.deepEqual(await selected(), [`b-${second.id}`], "newest first");
    await page.keyboard.press("j");
    assert.deepEqual(await selected(), [`b-${first.id}`]);
    await page.keyboard.press("k");
    assert.deepEqual(await selected(), [`b-${second.id}`]);
    assert.equal(await page.evaluate(() => document.activeElement?.id), `b-${second.id}`, "focus follows the selection");

    await page.keyboard.press("e");
    await page.waitForURL(`${base}/b/${second.id}/edit`);
    await page.goto(`${base}/bookmarks`);
    await page.keyboard.press("j");
    await page.keyboard.press("o");
    await page.waitForURL(`${elsewhereUrl}/keys-2`);

    await page.goto(`${base}/`);
    await page.keyboard.press("n");
    await page.waitForURL(`${base}/bookmarks#new-bookmark`);
    await page.waitForFunction(() => (document.activeElement as HTMLInputElement | null)?.name === "url", undefined, { timeout: PAGE_WAIT_MS_MAX });
    await page.keyboard.type("jk?/n", { delay: 10 });
    assert.equal(await page.inputValue("#new-bookmark input[name=url]"), "jk?/n", "typing in a field types");
    assert.deepEqual(await selected(), []);
    assert.equal(new URL(page.url()).pathname, "/bookmarks");

    await page.locator("h1").click();
    await page.keyboard.press("/");
    await page.waitForURL(`${base}/search`);
    await page.locator("h1").click();
    await page.keyboard.press("/");
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type), "search");
    await page.keyboard.type("keys?jn", { delay: 10 });
    assert.equal(await page.inputValue('main input[type="search"]'), "keys?jn");
    assert.equal(await page.locator("#shortcuts").evaluate((dialog) => (dialog as HTMLDialogElement).open), false);
    assert.equal(new URL(page.url()).pathname, "/search", "typing in the search box triggers no shortcut");
  });

  test("on one bookmark's page, e and o act on its bookmark without selecting it first", async () => {
    const only = await createBookmark(base, alice, { title: "Only one", url: `${elsewhereUrl}/only-one` });
    const page = await aliceAt(`/b/${only.id}`);
    assert.equal(await page.locator("main .card[id]").count(), 1);
    assert.equal(await page.locator(".card.selected").count(), 0, "nothing selected");
    await page.keyboard.press("e");
    await page.waitForURL(`${base}/b/${only.id}/edit`);
    await page.goto(`${base}/b/${only.id}`);
    await page.keyboard.press("o");
    await page.waitForURL(`${elsewhereUrl}/only-one`);
  });

  test("pause holds live items until resumed, then shows them in order; the scramble stops dealing while paused", async () => {
    const firehose = await newPage();
    watchForProblems(firehose, "/ (pause)", problems);
    await firehose.goto(base + "/");
    await live(firehose);
    const pause = firehose.locator("#pause");
    assert.equal(await pause.textContent(), "pause");
    await pause.click();
    assert.equal(await pause.getAttribute("aria-pressed"), "true");
    const held = [];
    for (let index = 0; index < 3; index += 1) held.push(await createBookmark(base, alice, { title: `Held ${index}`, url: `https://held.example/${index}` }));
    await firehose.locator("#pause", { hasText: "resume (3 waiting)" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator(held.map((bookmark) => `#b-${bookmark.id}`).join(", ")).count(), 0, "nothing shown while paused");
    await pause.click();
    for (const bookmark of held) await firehose.locator(`#feed #b-${bookmark.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const order = await firehose.locator("#feed > .card").evaluateAll((cards) => cards.slice(0, 3).map((card) => card.id));
    assert.deepEqual(order, held.map((bookmark) => `b-${bookmark.id}`).reverse(), "in order, newest on top");
    assert.equal(await pause.textContent(), "pause");
    const after = await createBookmark(base, alice, { title: "After resume", url: "https://held.example/after" });
    await firehose.locator(`#feed #b-${after.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });

    const scramble = await newPage();
    watchForProblems(scramble, "/scramble", problems);
    let deals = 0;
    scramble.on("request", (sent) => {
      if (sent.url().endsWith("/scramble/cards")) deals += 1;
    });
    await scramble.goto(base + "/scramble");
    await scramble.evaluate(() => {
      (window as unknown as { ticks: number }).ticks = 0;
      document.addEventListener("htmx:before:request", (event) => {
        const source = (event as CustomEvent).detail?.ctx?.sourceElement;
        if (source?.id === "scramble") (window as unknown as { ticks: number }).ticks += 1;
      });
    });
    await scramble.locator("#pause").click();
    await scramble.waitForFunction(() => (window as unknown as { ticks: number }).ticks >= 1, undefined, { timeout: PAGE_WAIT_MS_MAX });
    assert.equal(deals, 0, "the 5-second deal was held");
    await scramble.locator("#pause").click();
    await scramble.waitForResponse((response) => response.url().endsWith("/scramble/cards"), { timeout: PAGE_WAIT_MS_MAX });
    assert.ok(deals >= 1, "resuming deals at once");
  });

  test("no page error or Content-Security-Policy violation meanwhile", () => {
    assert.deepEqual(problems, []);
  });
});
