// The pages in a real browser (Debian Chromium, headless, via playwright-core) against a real server: live feeds, forms, discussion, privacy, screenshots.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, logInThroughForm, PAGE_WAIT_MS_MAX, RECONNECT_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";
import { pngText, pngWithText } from "./support/png.ts";

const ARTIFACTS = path.resolve(import.meta.dirname, "../test-artifacts");

describe("the pages in Chromium", { skip: chromiumSkip("pages browser suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let base: string;
  let browser: Browser;
  let alice: string;
  const contexts: BrowserContext[] = [];
  /** Content-Security-Policy violations and page errors seen anywhere: none are allowed. */
  const problems: string[] = [];

  async function openPage(pathname: string, options: { reducedMotion?: "reduce" | "no-preference"; viewport?: { width: number; height: number }; colorScheme?: "light" | "dark" } = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1100, height: 800 }, reducedMotion: options.reducedMotion, colorScheme: options.colorScheme });
    contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, pathname, problems);
    await page.goto(base + pathname);
    return page;
  }

  /** A live page is ready once its socket is open and subscribed. */
  async function openLive(pathname: string, options: Parameters<typeof openPage>[1] = {}): Promise<Page> {
    const page = await openPage(pathname, options);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    return page;
  }

  async function signUpInPage(page: Page, username: string): Promise<void> {
    await page.goto(`${base}/signup`);
    await page.fill('input[name="username"]', username);
    await page.fill('input[name="password"]', "correct horse");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${base}/bookmarks`);
  }

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    nasty = await startTestServer();
    base = nasty.url;
    alice = await signUp(base, "alice");
    await signUp(base, "bob");
    await createBookmark(base, alice, { title: "Hypermedia systems", url: "https://hypermedia.systems/", tags: ["htmx", "web"], description: "A book about building web apps with htmx and hypermedia." });
    browser = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nasty?.close();
  });

  test("the firehose shows a bookmark created through the API without a reload; a tag page ignores other tags", async () => {
    const firehose = await openLive("/");
    const rustPage = await openLive("/t/rust");
    const goOne = await createBookmark(base, alice, { title: "A Go article", url: "https://go.example/a", tags: ["go"] });
    const rustOne = await createBookmark(base, alice, { title: "A Rust article", url: "https://rust.example/a", tags: ["rust"] });
    await firehose.locator(`#feed #b-${rustOne.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await firehose.locator(`#feed #b-${goOne.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator("#feed .card").first().getAttribute("id"), `b-${rustOne.id}`, "new ones go on top");
    assert.equal(await firehose.locator(`#b-${rustOne.id} .card-title a`).getAttribute("rel"), "nofollow noopener ugc");
    assert.match((await firehose.locator(`#b-${rustOne.id} time`).textContent()) ?? "", /^just now$/, "times are shown relative");
    // Events are published in order: once the rust one is on the tag page, the go one would be too had it been sent there.
    await rustPage.locator(`#feed #b-${rustOne.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await rustPage.locator(`#b-${goOne.id}`).count(), 0);
    assert.equal(await firehose.locator("#live-status .live-text").textContent(), "live");
  });

  test("sign up, add a bookmark through the form, see it on /u/<name>; edit and delete it and the live pages follow", async () => {
    const author = await openPage("/");
    await signUpInPage(author, "carol-b");
    const publicPage = await openLive("/u/carol-b");
    const firehose = await openLive("/");
    await author.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });

    await author.fill('#new-bookmark input[name="url"]', "https://carol.example/first");
    await author.fill('#new-bookmark input[name="title"]', "Carol's first bookmark");
    await author.fill('#new-bookmark input[name="tags"]', "cooking, Recipes");
    await author.click('#new-bookmark button[type="submit"]');
    await author.locator("#new-bookmark .notice").waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await author.inputValue('#new-bookmark input[name="url"]'), "", "a fresh form after saving");
    const card = publicPage.locator("#feed .card", { hasText: "Carol's first bookmark" });
    await card.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const id = (await card.getAttribute("id"))!.slice(2);
    assert.deepEqual(await card.locator(".tags a").allTextContents(), ["#cooking", "#recipes"]);
    await author.locator(`#feed #b-${id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await publicPage.locator(`#b-${id} .owner-only`).isVisible(), false, "others do not see the edit link");
    assert.equal(await publicPage.locator(`#b-${id} a:visible, #b-${id} button:visible`).filter({ hasText: /^(edit|read later|mark read)$/ }).count(), 0, "nor any other owner control");
    assert.equal(await author.locator(`#b-${id} .owner-only a`).first().isVisible(), true, "the owner sees them");
    await firehose.locator(`#b-${id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });

    await author.locator(`#b-${id} .owner-only a`).click();
    await author.waitForURL(`${base}/b/${id}/edit`);
    await author.fill('#edit-bookmark input[name="title"]', "Carol's renamed bookmark");
    await author.click('#edit-bookmark button[type="submit"]');
    await author.waitForURL(`${base}/b/${id}`);
    await publicPage.locator(`#b-${id}`, { hasText: "Carol's renamed bookmark" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await firehose.locator(`#b-${id}`, { hasText: "Carol's renamed bookmark" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });

    await author.goto(`${base}/b/${id}/edit`);
    await author.click(".danger button");
    await author.waitForURL(`${base}/bookmarks`);
    await publicPage.locator(`#b-${id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    await firehose.locator(`#b-${id}`).waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await publicPage.locator("#feed .card").count(), 0);
    assert.equal(await publicPage.locator(".empty-note").isVisible(), true);
  });

  test("two pages on the same bookmark: a comment posted in one appears in the other", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Let's discuss this", url: "https://discuss.example/", tags: ["talk"], description: "Comments appear live." });
    const bobPage = await openPage("/login");
    await logInThroughForm(bobPage, base, "bob");
    await bobPage.goto(`${base}/b/${bookmark.id}`);
    await bobPage.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const readerPage = await openLive(`/b/${bookmark.id}`);

    await bobPage.fill("#comment-body", "Hello from bob <b>not bold</b>");
    await bobPage.click("#comment-form button");
    const arrived = readerPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "Hello from bob" });
    await arrived.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await arrived.locator(".comment-body").textContent(), "Hello from bob <b>not bold</b>");
    assert.equal(await arrived.locator(".who").textContent(), "bob");
    await readerPage.locator(`#cc-${bookmark.id}`, { hasText: "1 comment" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await bobPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "Hello from bob" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await bobPage.inputValue("#comment-body"), "", "the box is empty again");
    await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: alice, body: { body: "alice answers" } });
    await bobPage.locator(`#comments-${bookmark.id} .comment:last-child`, { hasText: "alice answers" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await readerPage.screenshot({ path: path.join(ARTIFACTS, "bookmark.png"), fullPage: true });
  });

  test("a comment's delete button shows to its author alone; clicking it takes the comment off every open page", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Said too much", url: "https://regret.example/" });
    const bobPage = await openPage("/login");
    await logInThroughForm(bobPage, base, "bob");
    await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: alice, body: { body: "alice stays" } });
    await bobPage.goto(`${base}/b/${bookmark.id}`);
    await bobPage.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    await bobPage.fill("#comment-body", "bob regrets this");
    await bobPage.click("#comment-form button");
    const mine = bobPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "bob regrets this" });
    await mine.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const readerPage = await openLive(`/b/${bookmark.id}`);
    const theirs = readerPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "bob regrets this" });
    assert.equal(await theirs.count(), 1);
    assert.equal(await theirs.locator(".delete-comment").isVisible(), false, "a visitor sees no delete button");
    assert.equal(await bobPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "alice stays" }).locator(".delete-comment").isVisible(), false, "nor does bob on alice's comment");
    assert.equal(await mine.locator(".delete-comment").isVisible(), true, "bob sees his own");

    await mine.locator(".delete-comment").click();
    await mine.waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    await theirs.waitFor({ state: "detached", timeout: PAGE_WAIT_MS_MAX });
    await readerPage.locator(`#cc-${bookmark.id}`, { hasText: "1 comment" }).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await readerPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "alice stays" }).count(), 1);
    await bobPage.reload();
    assert.equal(await bobPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "bob regrets this" }).count(), 0, "gone on reload too");
  });

  test("a page whose socket dropped reconnects and catches up with what it missed", async () => {
    const firehose = await openLive("/");
    // Away until the bookmark is saved: hx-ws retries after about 0.5 s, which a loaded machine may take
    // to look at the page at all; its new sockets are refused (1013, retried) meanwhile, so it surely misses it.
    let away = true;
    await firehose.routeWebSocket(/\/live\?/, (route) => {
      if (away) route.close({ code: 1013, reason: "away for a while" });
      else route.connectToServer();
    });
    await firehose.evaluate(() => (document.getElementById("main") as unknown as { _htmx: { ws: { connection: { socket: WebSocket } } } })._htmx.ws.connection.socket.close());
    await firehose.locator('#live-status[data-state="reconnecting"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const missed = await createBookmark(base, alice, { title: "Saved while the page was away", url: "https://missed.example/" });
    away = false;
    await firehose.locator('#live-status[data-state="live"]').waitFor({ timeout: RECONNECT_WAIT_MS_MAX });
    await firehose.locator(`#feed #b-${missed.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const later = await createBookmark(base, alice, { title: "Saved after the reconnect", url: "https://after.example/" });
    await firehose.locator(`#feed #b-${later.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator(`#b-${missed.id}`).count(), 1, "shown once");
  });

  test("a hostile title renders as text, live and on reload", async () => {
    const firehose = await openLive("/");
    const title = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;
    const created = await createBookmark(base, alice, { title, url: "https://xss.example/", description: title, tags: ["x"] });
    const card = firehose.locator(`#b-${created.id}`);
    await card.waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await card.locator(".card-title a").textContent(), title);
    assert.equal(await card.locator("img").count(), 0);
    assert.equal(await firehose.evaluate(() => (window as unknown as { __xss?: number }).__xss ?? null), null);
    await firehose.reload();
    assert.equal(await firehose.locator(`#b-${created.id} .card-title a`).textContent(), title);
    assert.equal(await firehose.evaluate(() => (window as unknown as { __xss?: number }).__xss ?? null), null);
  });

  test("a private bookmark does not appear for another user, live or on their pages", async () => {
    const bobPage = await openPage("/login");
    await logInThroughForm(bobPage, base, "bob");
    await bobPage.goto(`${base}/u/alice`);
    await bobPage.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const hidden = await createBookmark(base, alice, { title: "alice's secret plan", url: "https://secret.example/", public: false });
    const marker = await createBookmark(base, alice, { title: "alice's public note", url: "https://public.example/note" });
    await bobPage.locator(`#b-${marker.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await bobPage.getByText("secret plan").count(), 0);
    await bobPage.reload();
    assert.equal(await bobPage.getByText("secret plan").count(), 0);
    const direct = await bobPage.goto(`${base}/b/${hidden.id}`);
    assert.equal(direct?.status(), 404);
  });

  test("scramble deals the cards at random places and angles, and keeps still for reduced motion", async () => {
    for (let index = 0; index < 6; index += 1) await createBookmark(base, alice, { title: `scramble card ${index}`, url: `https://scramble.example/${index}`, tags: ["fun"] });
    const moving = await openPage("/scramble");
    await moving.locator("#scramble.scattered").waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const places = await moving.locator("#scramble .card").evaluateAll((cards) => cards.map((card) => `${(card as HTMLElement).style.getPropertyValue("--x")},${(card as HTMLElement).style.getPropertyValue("--y")}`));
    assert.ok(places.length >= 6 && new Set(places).size === places.length, `distinct places: ${places.join(" ")}`);
    assert.equal(await moving.locator("#scramble .card").first().evaluate((card) => getComputedStyle(card).animationName), "deal");
    const still = await openPage("/scramble", { reducedMotion: "reduce" });
    await still.locator("#scramble.scattered").waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await still.locator("#scramble .card").first().evaluate((card) => getComputedStyle(card).animationName), "none");
    await moving.screenshot({ path: path.join(ARTIFACTS, "scramble.png") });
  });

  test("screenshots of /, /b/<id> and /stats (light, and dark on a phone), with no CSP violation anywhere", async () => {
    const home = await openLive("/");
    await home.screenshot({ path: path.join(ARTIFACTS, "firehose.png"), fullPage: true });
    const phone = await openLive("/", { viewport: { width: 390, height: 844 }, colorScheme: "dark" });
    await phone.screenshot({ path: path.join(ARTIFACTS, "firehose-phone-dark.png"), fullPage: true });
    const stats = await openLive("/stats");
    await createBookmark(base, alice, { title: "one more for the chart", url: "https://chart.example/" });
    await stats.locator("#stats-panel .tile-value").first().waitFor();
    await stats.screenshot({ path: path.join(ARTIFACTS, "stats.png"), fullPage: true });
    for (const name of ["firehose.png", "firehose-phone-dark.png", "stats.png", "bookmark.png"]) assert.ok(fs.statSync(path.join(ARTIFACTS, name)).size > 5000, name);
    const tags = await openPage("/tags");
    await tags.locator(".cloud a").first().waitFor();
    const discover = await openPage("/discover");
    await discover.click("#reshuffle");
    await discover.locator("#discover-list li").first().waitFor();
    assert.deepEqual(problems, []);
  });
});

/**
 * The README's picture (docs/firehose.png): a fixed scene — these bookmarks, these dates, the page's
 * clock stopped at SCENE_NOW_MS, one bookmark arriving live — photographed on every run into
 * test-artifacts/. What the picture shows is fingerprinted (the visible elements, their classes and
 * text, nothing that changes between runs) and the fingerprint is kept inside docs/firehose.png;
 * pixels are never compared (fonts and Chromium versions move them). When the page shows something
 * else, this test fails until `NASTY_UPDATE_SCREENSHOT=1 node --import tsx --test test/browser.test.ts`
 * writes a new picture.
 */
const SCENE_NOW_MS = Date.UTC(2025, 5, 2, 14, 0, 0);
const SCENE_KEYWORD = "nasty-scene";
const README_PICTURE = path.resolve(import.meta.dirname, "../docs/firehose.png");
const SCENE: { user: string; minutesAgo: number; bookmark: Record<string, unknown>; comments?: [string, string][] }[] = [
  { user: "ada", minutesAgo: 185, bookmark: { title: "The Rust Programming Language", url: "https://doc.rust-lang.org/book/", tags: ["rust", "programming", "books"], description: "The book, free to read online." } },
  { user: "grace", minutesAgo: 52, bookmark: { title: "Hypermedia Systems", url: "https://hypermedia.systems/", tags: ["htmx", "web", "books"], description: "Building web applications with hypermedia: htmx, REST as it was meant." }, comments: [["ada", "Chapter 5 changed how I write forms."], ["linus", "The part on websockets is short but good."]] },
  { user: "linus", minutesAgo: 35, bookmark: { title: "Write-Ahead Logging", url: "https://www.sqlite.org/wal.html", tags: ["sqlite", "databases"], description: "How SQLite's WAL mode lets readers and a writer work at once." } },
  { user: "margaret", minutesAgo: 21, bookmark: { title: "Apollo 11 guidance computer source code", url: "https://github.com/chrislgarry/Apollo-11", tags: ["space", "history", "code"] }, comments: [["grace", "Read the comments in the landing code!"]] },
  { user: "ada", minutesAgo: 12, bookmark: { title: "Hypermedia Systems (the book)", url: "https://hypermedia.systems", tags: ["htmx", "to-read"] } },
  { user: "grace", minutesAgo: 6, bookmark: { title: "Phoenix Channels", url: "https://hexdocs.pm/phoenix/channels.html", tags: ["elixir", "websockets"], description: "Topics, joins and pushes over one websocket." } },
];
const SCENE_LIVE = { user: "linus", bookmark: { title: "uWebSockets.js", url: "https://github.com/uNetworking/uWebSockets.js", tags: ["websockets", "node"], description: "Fast HTTP and websockets for Node." } };

/**
 * What a picture can show: visible elements with their classes, and their text. A string, since
 * tsx would wrap a named function in a helper the page does not have.
 */
const VISIBLE_FINGERPRINT = `(() => {
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = (node.textContent || "").replace(/\\s+/g, " ").trim();
      return text === "" ? "" : JSON.stringify(text);
    }
    if (!(node instanceof HTMLElement) || node.tagName === "SCRIPT") return "";
    const style = getComputedStyle(node);
    if (style.display === "none" || style.visibility === "hidden") return "";
    const classes = [...node.classList].sort().map((name) => "." + name).join("");
    return "<" + node.tagName.toLowerCase() + classes + ">" + [...node.childNodes].map(walk).join("") + "</>";
  };
  return walk(document.body);
})()`;

function sceneDate(minutesAgo: number): string {
  return new Date(SCENE_NOW_MS - minutesAgo * 60_000).toISOString();
}

describe("the README's screenshot of the live firehose", { skip: chromiumSkip("README screenshot"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let browser: Browser;

  before(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    nasty = await startTestServer();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await nasty?.close();
  });

  test("a fixed scene with one bookmark arriving live; docs/firehose.png shows what the page shows", async () => {
    const base = nasty.url;
    const tokens = new Map<string, string>();
    for (const name of ["ada", "grace", "linus", "margaret"]) tokens.set(name, await signUp(base, name));
    for (const entry of SCENE) {
      const saved = await createBookmark(base, tokens.get(entry.user)!, { ...entry.bookmark, inserted_at: sceneDate(entry.minutesAgo) });
      for (const [who, body] of entry.comments ?? []) assert.equal((await request(base, "POST", `/api/bookmarks/${saved.id}/comments`, { token: tokens.get(who)!, body: { body } })).status, 201);
    }
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: "en-US", timezoneId: "UTC", reducedMotion: "reduce", colorScheme: "light" });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      watchForProblems(page, "/", problems);
      await page.clock.setFixedTime(SCENE_NOW_MS);
      await page.goto(`${base}/`);
      await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
      const live = await createBookmark(base, tokens.get(SCENE_LIVE.user)!, { ...SCENE_LIVE.bookmark, inserted_at: sceneDate(0.3) });
      await page.locator(`#feed .card:first-child#b-${live.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
      await page.locator(`#b-${live.id} time`).filter({ hasText: "just now" }).waitFor();

      const titles = await page.locator("#feed .card .card-title a").allTextContents();
      assert.deepEqual(titles, [SCENE_LIVE, ...[...SCENE].reverse()].map((entry) => entry.bookmark.title), "the scene, newest first, the live one on top");
      assert.equal(await page.locator("#live-status .live-text").textContent(), "live");
      const fingerprint = await page.evaluate<string>(VISIBLE_FINGERPRINT);
      const digest = createHash("sha256").update(fingerprint).digest("hex");
      const picture = pngWithText(await page.screenshot(), SCENE_KEYWORD, digest);
      fs.writeFileSync(path.join(ARTIFACTS, "readme-firehose.png"), picture);
      fs.writeFileSync(path.join(ARTIFACTS, "readme-firehose.txt"), `${fingerprint}\n`);
      if (process.env.NASTY_UPDATE_SCREENSHOT === "1") fs.writeFileSync(README_PICTURE, picture);
      const kept = pngText(fs.readFileSync(README_PICTURE), SCENE_KEYWORD);
      assert.deepEqual({ width: kept.width, height: kept.height }, { width: 1100, height: 760 });
      assert.equal(kept.text, digest, "docs/firehose.png no longer shows what the firehose shows (see test-artifacts/readme-firehose.png and .txt); update it with NASTY_UPDATE_SCREENSHOT=1 node --import tsx --test test/browser.test.ts and commit it");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
