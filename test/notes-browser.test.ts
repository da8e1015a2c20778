// Markdown notes in Chromium: hostile notes shown on a live-arrived card and on the bookmark's page run nothing, links carry rel, edits arrive live.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { NOTES_LINK_REL } from "../src/render/markdown.ts";
import { createBookmark, request, signUp } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, ChromiumSuite, logInThroughForm, PAGE_WAIT_MS_MAX } from "./support/chromium.ts";

/** Every way these notes could run script or fetch a third party, each setting window.__pwned if it ran. */
const HOSTILE_NOTES = [
  "Read **this** and *that* first:",
  "",
  "- one point",
  "- another point",
  "",
  "<script>window.__pwned = 'script'</script>",
  "<img src=x onerror=\"window.__pwned = 'img'\">",
  "<a href=\"javascript:window.__pwned='raw link'\">raw link</a>",
  "[markdown link](javascript:window.__pwned='markdown link')",
  "[spaced link](  JaVaScRiPt:window.__pwned='spaced')",
  "[entity link](jav&#x09;ascript:window.__pwned='entity')",
  "<javascript:window.__pwned='autolink'>",
  "<svg onload=\"window.__pwned = 'svg'\"></svg>",
  "![a pixel](https://tracker.example/pixel.gif)",
  "[a safe link](https://example.com/safe) and https://example.com/bare",
].join("\n");

describe("Markdown notes in Chromium", { skip: chromiumSkip("notes browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  const suite = new ChromiumSuite();
  let base: string;
  let alice: string;
  /** Requests that left the server under test: an <img> in notes would show here. */
  const elsewhere: string[] = [];

  async function openPage(label: string): Promise<Page> {
    const page = await suite.page(label);
    page.on("request", (sent) => {
      if (!sent.url().startsWith(base)) elsewhere.push(`${label}: ${sent.url()}`);
    });
    return page;
  }

  async function openLive(pathname: string): Promise<Page> {
    const page = await openPage(pathname);
    await page.goto(base + pathname);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    return page;
  }

  async function pwned(page: Page): Promise<unknown> {
    return page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned ?? null);
  }

  /** The notes of a card show as Markdown, run nothing, and link only to http(s) with the rel. */
  async function assertSafeNotes(page: Page, card: Locator): Promise<void> {
    const notes = card.locator(".card-notes");
    assert.equal(await notes.locator("strong").textContent(), "this");
    assert.equal(await notes.locator("em").textContent(), "that");
    assert.deepEqual(await notes.locator("ul > li").allTextContents(), ["one point", "another point"]);
    assert.equal(await notes.locator("script, img, svg, iframe, [onerror], [onload], [style]").count(), 0, "no element that runs or fetches");
    const text = (await notes.textContent()) ?? "";
    assert.match(text, /<script>window.__pwned = 'script'<\/script>/, "raw HTML is shown as text");
    assert.match(text, /\[markdown link\]\(javascript:/, "a javascript: link is shown as text");
    const links = await notes.locator("a").evaluateAll((anchors) => anchors.map((anchor) => ({ href: anchor.getAttribute("href"), rel: anchor.getAttribute("rel"), target: anchor.getAttribute("target"), text: anchor.textContent })));
    assert.deepEqual(links, [
      { href: "https://tracker.example/pixel.gif", rel: NOTES_LINK_REL, target: null, text: "a pixel" },
      { href: "https://example.com/safe", rel: NOTES_LINK_REL, target: null, text: "a safe link" },
      { href: "https://example.com/bare", rel: NOTES_LINK_REL, target: null, text: "https://example.com/bare" },
    ]);
    assert.equal(await pwned(page), null, "no script in the notes ran");
  }

  before(async () => {
    await suite.start();
    base = suite.base;
    alice = await signUp(base, "alice");
  });

  after(() => suite.close());

  test("hostile notes saved through the API arrive live on a card and show on the bookmark's page: Markdown rendered, nothing run", async () => {
    const firehose = await openLive("/");
    const saved = await createBookmark(base, alice, { title: "Notes under attack", url: "https://notes.example/attack", notes: HOSTILE_NOTES, public: true });
    assert.equal(saved.notes, HOSTILE_NOTES, "the API keeps the notes as written");
    const card = firehose.locator(`#feed #b-${saved.id}`);
    await card.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await assertSafeNotes(firehose, card);

    const own = await openLive(`/b/${saved.id}`);
    await assertSafeNotes(own, own.locator(`#b-${saved.id}`));
    assert.equal(await own.locator(`#b-${saved.id} .card-notes`).evaluate((element) => getComputedStyle(element).maxHeight), "none", "the bookmark's page shows the notes whole");
    await own.locator(`#b-${saved.id} .card-notes a`, { hasText: "a safe link" }).hover();
    assert.equal(await pwned(own), null);
  });

  test("a bookmark without notes shows no notes block; private notes stay with their private bookmark", async () => {
    const firehose = await openLive("/");
    const bare = await createBookmark(base, alice, { title: "No notes here", url: "https://notes.example/none", public: true });
    await firehose.locator(`#feed #b-${bare.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator(`#b-${bare.id} .card-notes`).count(), 0);

    const hidden = await createBookmark(base, alice, { title: "Private with notes", url: "https://notes.example/private", notes: "a *secret* plan", public: false });
    const stranger = await request(base, "GET", `/b/${hidden.id}`);
    assert.equal(stranger.status, 404);
    assert.doesNotMatch(stranger.text + (await request(base, "GET", "/")).text, /secret/);
    const mine = await openPage("alice's /bookmarks");
    await logInThroughForm(mine, base, "alice");
    await mine.goto(`${base}/bookmarks`);
    assert.equal(await mine.locator(`#b-${hidden.id} .card-notes em`).textContent(), "secret", "the owner sees their private notes");
    assert.equal(await firehose.locator(`#b-${hidden.id}`).count(), 0);
  });

  test("notes edited in the edit form update the card live on other pages", async () => {
    const saved = await createBookmark(base, alice, { title: "Notes to edit", url: "https://notes.example/edit", notes: "first *draft*", public: true });
    const firehose = await openLive("/");
    const reader = await openLive(`/b/${saved.id}`);
    assert.equal(await firehose.locator(`#b-${saved.id} .card-notes em`).textContent(), "draft");

    const author = await openPage("alice editing");
    await logInThroughForm(author, base, "alice");
    await author.goto(`${base}/b/${saved.id}/edit`);
    assert.equal(await author.inputValue('#edit-bookmark textarea[name="notes"]'), "first *draft*", "the form holds the notes as written");
    await author.fill('#edit-bookmark textarea[name="notes"]', "now **final**\n\n1. step one\n2. step two\n\n<img src=x onerror=\"window.__pwned = 'edited'\">");
    await author.click('#edit-bookmark button[type="submit"]');
    await author.waitForURL(`${base}/b/${saved.id}`);
    for (const page of [firehose, reader, author]) {
      const notes = page.locator(`#b-${saved.id} .card-notes`);
      await notes.locator("strong", { hasText: "final" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
      assert.deepEqual(await notes.locator("ol > li").allTextContents(), ["step one", "step two"]);
      assert.equal(await notes.locator("em").count(), 0, "the old notes are gone");
      assert.equal(await notes.locator("img").count(), 0);
      assert.equal(await pwned(page), null);
    }

    await author.goto(`${base}/b/${saved.id}/edit`);
    await author.fill('#edit-bookmark textarea[name="notes"]', "");
    await author.click('#edit-bookmark button[type="submit"]');
    await author.waitForURL(`${base}/b/${saved.id}`);
    for (const page of [firehose, reader]) await page.locator(`#b-${saved.id} .card-notes`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await reader.locator(`#b-${saved.id}`, { hasText: "Notes to edit" }).count(), 1, "emptied notes render nothing, the card stays");
  });

  test("no dialog, page error, Content-Security-Policy violation or request to another host meanwhile", () => {
    assert.deepEqual(suite.problems, []);
    assert.deepEqual(elsewhere, []);
  });
});
