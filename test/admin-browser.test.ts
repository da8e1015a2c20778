// The /admin page in Chromium: its live panel shows a new bookmark without a reload, and its buttons (outside forms, `form=`) suspend a user and delete a bookmark.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, BrowserContext } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, signUp, startTestServer } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, logInThroughForm, PAGE_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";

describe("the admin page in Chromium", { skip: chromiumSkip("admin browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let browser: Browser;
  let context: BrowserContext;
  const problems: string[] = [];

  before(async () => {
    nasty = await startTestServer();
    await signUp(nasty.url, "root");
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await nasty?.close();
  });

  test("the panel follows new bookmarks live; suspend and delete buttons act and the panel shows it", async () => {
    const page = await context.newPage();
    watchForProblems(page, "/admin", problems);
    await logInThroughForm(page, nasty.url, "root");
    await page.goto(`${nasty.url}/admin`);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const alice = await signUp(nasty.url, "alice");
    await page.locator("#admin-live a[href='/u/alice']").first().waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const spam = await createBookmark(nasty.url, alice, { title: "Buy spam now", url: "https://spam.example/browser" });
    const row = page.locator(`#ab-${spam.id}`);
    await row.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await page.locator(`#au-${nasty.store.userByName("alice")!.id} button:has-text("suspend")`).click();
    await page.locator("p.notice", { hasText: "alice is suspended" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(nasty.store.userByName("alice")?.suspended, true);
    assert.equal(await page.locator(`#ab-${spam.id}`).count(), 0, "a suspended user's bookmark leaves the panel");
    await page.locator(`#au-${nasty.store.userByName("alice")!.id} button:has-text("unsuspend")`).click();
    await page.locator("p.notice", { hasText: "alice is no longer suspended" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await page.locator(`#ab-${spam.id} button:has-text("delete")`).click();
    await page.locator("p.notice", { hasText: `bookmark ${spam.id} is deleted` }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(nasty.store.bookmarksById.has(spam.id), false);
    assert.deepEqual(problems, [], "no console errors, CSP violations or failed requests");
  });
});
