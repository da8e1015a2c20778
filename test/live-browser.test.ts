// A page in Chromium that loses its live socket for a few seconds: it resumes from the last seq it saw and shows what it missed, without a reload.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, PAGE_WAIT_MS_MAX, RECONNECT_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";

describe("a live page resuming in Chromium", { skip: chromiumSkip("live resume browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let base: string;
  let browser: Browser;
  let alice: string;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  /** A live page, ready once its socket is open and subscribed. */
  async function openLive(pathname: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, pathname, problems);
    await page.goto(base + pathname);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    return page;
  }

  before(async () => {
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    await createBookmark(base, alice, { title: "Already there", url: "https://away.example/there" });
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nasty?.close();
  });

  test("a page that loses its socket for a few seconds shows what was created meanwhile, in order, without a reload", async () => {
    const firehose = await openLive("/");
    // Marks on the page and on its live part: a reload of either (a resync) would drop them.
    await firehose.evaluate(() => {
      (window as unknown as { __kept: boolean }).__kept = true;
      (document.getElementById("live-body") as unknown as { __kept: boolean }).__kept = true;
    });
    let away = true;
    await firehose.routeWebSocket(/\/live\?/, (route) => {
      if (away) route.close({ code: 1013, reason: "away for a while" });
      else route.connectToServer();
    });
    await firehose.evaluate(() => (document.getElementById("main") as unknown as { _htmx: { ws: { connection: { socket: WebSocket } } } })._htmx.ws.connection.socket.close());
    await firehose.locator('#live-status[data-state="reconnecting"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const missed = [];
    for (const [index, isPublic] of [true, false, true, true].entries()) {
      missed.push({ ...(await createBookmark(base, alice, { title: `Away ${index}`, url: `https://away.example/${index}`, public: isPublic })), isPublic });
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    const gone = missed[2]!;
    assert.equal((await request(base, "DELETE", `/api/bookmarks/${gone.id}`, { token: alice })).status, 204);
    away = false;
    const shown = missed.filter((bookmark) => bookmark.isPublic && bookmark !== gone);
    await firehose.locator('#live-status[data-state="live"]').waitFor({ timeout: RECONNECT_WAIT_MS_MAX });
    for (const bookmark of shown) await firehose.locator(`#feed #b-${bookmark.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    // The deletion is the last event replayed, after the cards above: "live" comes with the socket, before the replay.
    await firehose.locator(`#b-${gone.id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    const order = await firehose.locator("#feed > .card").evaluateAll((cards) => cards.slice(0, 2).map((card) => card.id));
    assert.deepEqual(order, shown.map((bookmark) => `b-${bookmark.id}`).reverse(), "newest first, as live pushes put them");
    assert.equal(await firehose.locator(`#b-${gone.id}`).count(), 0, "the deletion was replayed too");
    assert.equal(await firehose.locator(`#b-${missed[1]!.id}`).count(), 0, "the private one never reaches the firehose");
    assert.deepEqual(await firehose.evaluate(() => [(window as unknown as { __kept?: boolean }).__kept ?? false, (document.getElementById("live-body") as unknown as { __kept?: boolean }).__kept ?? false]), [true, true], "no reload, not even of the live part");
    assert.equal(await firehose.locator("#live-status .live-text").textContent(), "live", "the page says nothing: it missed nothing");
  });

  test("no page error or Content-Security-Policy violation meanwhile", () => {
    assert.deepEqual(problems, []);
  });
});
