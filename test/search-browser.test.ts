// In Chromium: search as you type, "read later" toggled from a live list, and the settings page's import with progress.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, logInThroughForm, PAGE_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";

describe("search, read later and import in Chromium", { skip: chromiumSkip("search browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let base: string;
  let browser: Browser;
  let alice: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, "search pages", problems);
    return page;
  }

  const logIn = (page: Page, username: string) => logInThroughForm(page, base, username);

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    const bob = await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Tokio tutorial", url: "https://tokio.rs/tokio/tutorial", tags: ["rust"] });
    await createBookmark(base, alice, { title: "Hypermedia systems", url: "https://hypermedia.systems/", tags: ["htmx"] });
    await createBookmark(base, bob, { title: "Tokio private notes", url: "https://bob.example/tokio", public: false });
    browser = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nasty?.close();
    assert.deepEqual(problems, [], "no CSP violations or page errors");
  });

  test("results follow the search box as you type, without a reload", async () => {
    const page = await newPage();
    await page.goto(`${base}/search`);
    const marker = await page.evaluate(() => ((window as unknown as { marker: number }).marker = Math.random()));
    await page.locator('input[name="q"]').pressSequentially("tok", { delay: 30 });
    await page.locator("#search-results .card", { hasText: "Tokio tutorial" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await page.locator("#search-results .card").count(), 1, "someone else's private bookmark is not found");
    await page.locator('input[name="q"]').fill("hyper");
    await page.locator("#search-results .card", { hasText: "Hypermedia systems" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await page.locator("#search-results .card", { hasText: "Tokio tutorial" }).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    await page.locator('input[name="q"]').fill("#nothing-like-this");
    await page.locator("#search-results .search-empty").waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), marker, "the page was never reloaded");
  });

  test("read later from the live list: the card updates, and the reading list has it", async () => {
    const page = await newPage();
    await logIn(page, "alice");
    await page.goto(`${base}/u/alice`);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const card = page.locator("#feed .card", { hasText: "Hypermedia systems" });
    await card.locator("button.toggle-unread").click();
    await card.locator(".badge.to-read").waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await card.locator("button.toggle-unread").textContent(), "mark read");
    const stored = await request(base, "GET", "/api/bookmarks?user=alice&unread=true", { token: alice });
    assert.deepEqual(stored.json.data.map((item: { title: string }) => item.title), ["Hypermedia systems"]);
    await page.goto(`${base}/u/alice/unread`);
    const listed = page.locator("#feed .card", { hasText: "Hypermedia systems" });
    await listed.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await listed.locator("button.toggle-unread").click();
    await listed.locator("button.toggle-unread", { hasText: "read later" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await listed.locator(".badge.to-read").count(), 0);
  });

  test("the settings page imports a file with progress and lists the skipped lines", async () => {
    const page = await newPage();
    await logIn(page, "alice");
    await page.goto(`${base}/settings`);
    await page.click('a[href="/settings/import"]');
    const file = path.join(tempDir(), "bookmarks.html");
    const rows = Array.from({ length: 300 }, (_, index) => `<DT><A HREF="https://upload.example/${index}" ADD_DATE="${1_500_000_000 + index}">Uploaded ${index}</A>\n`);
    rows.splice(1, 0, `<DT><A HREF="javascript:void(0)">A bookmarklet</A>\n`);
    fs.writeFileSync(file, `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Uploads</H3>\n<DL><p>\n${rows.join("")}</DL><p>\n</DL><p>\n`);
    await page.setInputFiles("#import-file", file);
    await page.click("#import-submit");
    await page.locator("#import-status", { hasText: "Imported 300 of 301 bookmarks: 0 already saved, 1 skipped." }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await page.locator("#import-progress").getAttribute("value"), "100");
    assert.deepEqual(await page.locator("#import-problems li").allTextContents(), ["line 6: 'javascript:void(0)' is not an http(s) URL; skipped"]);
    const tagged = await request(base, "GET", "/api/bookmarks?user=alice&tag=uploads&limit=1", { token: alice });
    assert.deepEqual([tagged.json.data[0].title, tagged.json.data[0].public], ["Uploaded 299", false], "the public box is unticked by default: a browser export comes in private");
    assert.equal((await request(base, "GET", "/api/bookmarks?user=alice&tag=uploads&limit=1")).json.data.length, 0, "nobody else sees it");

    const chosen = path.join(tempDir(), "public.html");
    fs.writeFileSync(chosen, `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Shared</H3>\n<DL><p>\n<DT><A HREF="https://shared-upload.example/">Shared upload</A>\n</DL><p>\n</DL><p>\n`);
    assert.equal(await page.locator("#import-public").isChecked(), false);
    await page.check("#import-public");
    await page.setInputFiles("#import-file", chosen);
    await page.click("#import-submit");
    await page.locator("#import-status", { hasText: "Imported 1 of 1 bookmarks" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const shared = await request(base, "GET", "/api/bookmarks?user=alice&tag=shared&limit=1");
    assert.deepEqual(shared.json.data.map((item: { title: string; public: boolean }) => [item.title, item.public]), [["Shared upload", true]], "ticked, the import is public");
  });
});
