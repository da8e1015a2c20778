// The pages in a real browser (Debian Chromium, headless, via playwright-core) against a real server: live feeds, forms, discussion, privacy, screenshots.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { createBookmark, request, signUp, startTestServer } from "./support/server.ts";
import { chromiumSkip, launchChromium, logInThroughForm, watchForProblems } from "./support/chromium.ts";

const ARTIFACTS = path.resolve(import.meta.dirname, "../test-artifacts");
/** How long a live change may take to show: the waits below end as soon as it shows. */
const LIVE_WAIT_MS = 2000;

describe("the pages in Chromium", { skip: chromiumSkip("pages browser suite"), timeout: 120_000 }, () => {
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
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
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
    await firehose.locator(`#feed #b-${rustOne.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    await firehose.locator(`#feed #b-${goOne.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await firehose.locator("#feed .card").first().getAttribute("id"), `b-${rustOne.id}`, "new ones go on top");
    assert.equal(await firehose.locator(`#b-${rustOne.id} .card-title a`).getAttribute("rel"), "nofollow noopener ugc");
    assert.match((await firehose.locator(`#b-${rustOne.id} time`).textContent()) ?? "", /^just now$/, "times are shown relative");
    // Events are published in order: once the rust one is on the tag page, the go one would be too had it been sent there.
    await rustPage.locator(`#feed #b-${rustOne.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await rustPage.locator(`#b-${goOne.id}`).count(), 0);
    assert.equal(await firehose.locator("#live-status .live-text").textContent(), "live");
  });

  test("sign up, add a bookmark through the form, see it on /u/<name>; edit and delete it and the live pages follow", async () => {
    const author = await openPage("/");
    await signUpInPage(author, "carol-b");
    const publicPage = await openLive("/u/carol-b");
    const firehose = await openLive("/");
    await author.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });

    await author.fill('#new-bookmark input[name="url"]', "https://carol.example/first");
    await author.fill('#new-bookmark input[name="title"]', "Carol's first bookmark");
    await author.fill('#new-bookmark input[name="tags"]', "cooking, Recipes");
    await author.click('#new-bookmark button[type="submit"]');
    await author.locator("#new-bookmark .notice").waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await author.inputValue('#new-bookmark input[name="url"]'), "", "a fresh form after saving");
    const card = publicPage.locator("#feed .card", { hasText: "Carol's first bookmark" });
    await card.waitFor({ timeout: LIVE_WAIT_MS });
    const id = (await card.getAttribute("id"))!.slice(2);
    assert.deepEqual(await card.locator(".tags a").allTextContents(), ["#cooking", "#recipes"]);
    await author.locator(`#feed #b-${id}`).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await publicPage.locator(`#b-${id} .owner-only`).isVisible(), false, "others do not see the edit link");
    assert.equal(await publicPage.locator(`#b-${id} a:visible, #b-${id} button:visible`).filter({ hasText: /^(edit|read later|mark read)$/ }).count(), 0, "nor any other owner control");
    assert.equal(await author.locator(`#b-${id} .owner-only a`).first().isVisible(), true, "the owner sees them");
    await firehose.locator(`#b-${id}`).waitFor({ timeout: LIVE_WAIT_MS });

    await author.locator(`#b-${id} .owner-only a`).click();
    await author.waitForURL(`${base}/b/${id}/edit`);
    await author.fill('#edit-bookmark input[name="title"]', "Carol's renamed bookmark");
    await author.click('#edit-bookmark button[type="submit"]');
    await author.waitForURL(`${base}/b/${id}`);
    await publicPage.locator(`#b-${id}`, { hasText: "Carol's renamed bookmark" }).waitFor({ timeout: LIVE_WAIT_MS });
    await firehose.locator(`#b-${id}`, { hasText: "Carol's renamed bookmark" }).waitFor({ timeout: LIVE_WAIT_MS });

    await author.goto(`${base}/b/${id}/edit`);
    await author.click(".danger button");
    await author.waitForURL(`${base}/bookmarks`);
    await publicPage.locator(`#b-${id}`).waitFor({ state: "detached", timeout: LIVE_WAIT_MS });
    await firehose.locator(`#b-${id}`).waitFor({ state: "detached", timeout: LIVE_WAIT_MS });
    assert.equal(await publicPage.locator("#feed .card").count(), 0);
    assert.equal(await publicPage.locator(".empty-note").isVisible(), true);
  });

  test("two pages on the same bookmark: a comment posted in one appears in the other", async () => {
    const bookmark = await createBookmark(base, alice, { title: "Let's discuss this", url: "https://discuss.example/", tags: ["talk"], description: "Comments appear live." });
    const bobPage = await openPage("/login");
    await logInThroughForm(bobPage, base, "bob");
    await bobPage.goto(`${base}/b/${bookmark.id}`);
    await bobPage.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
    const readerPage = await openLive(`/b/${bookmark.id}`);

    await bobPage.fill("#comment-body", "Hello from bob <b>not bold</b>");
    await bobPage.click("#comment-form button");
    const arrived = readerPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "Hello from bob" });
    await arrived.waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await arrived.locator(".comment-body").textContent(), "Hello from bob <b>not bold</b>");
    assert.equal(await arrived.locator(".who").textContent(), "bob");
    await readerPage.locator(`#cc-${bookmark.id}`, { hasText: "1 comment" }).waitFor({ timeout: LIVE_WAIT_MS });
    await bobPage.locator(`#comments-${bookmark.id} .comment`, { hasText: "Hello from bob" }).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await bobPage.inputValue("#comment-body"), "", "the box is empty again");
    await request(base, "POST", `/api/bookmarks/${bookmark.id}/comments`, { token: alice, body: { body: "alice answers" } });
    await bobPage.locator(`#comments-${bookmark.id} .comment:last-child`, { hasText: "alice answers" }).waitFor({ timeout: LIVE_WAIT_MS });
    await readerPage.screenshot({ path: path.join(ARTIFACTS, "bookmark.png"), fullPage: true });
  });

  test("a page whose socket dropped reconnects and catches up with what it missed", async () => {
    const firehose = await openLive("/");
    await firehose.evaluate(() => (document.getElementById("main") as unknown as { _htmx: { ws: { connection: { socket: WebSocket } } } })._htmx.ws.connection.socket.close());
    await firehose.locator('#live-status[data-state="reconnecting"]').waitFor({ timeout: LIVE_WAIT_MS });
    const missed = await createBookmark(base, alice, { title: "Saved while the page was away", url: "https://missed.example/" });
    await firehose.locator('#live-status[data-state="live"]').waitFor({ timeout: 5000 });
    await firehose.locator(`#feed #b-${missed.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    const later = await createBookmark(base, alice, { title: "Saved after the reconnect", url: "https://after.example/" });
    await firehose.locator(`#feed #b-${later.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await firehose.locator(`#b-${missed.id}`).count(), 1, "shown once");
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
    await firehose.locator('#live-status[data-state="reconnecting"]').waitFor({ timeout: LIVE_WAIT_MS });
    const missed = [];
    for (const [index, isPublic] of [true, false, true, true].entries()) {
      missed.push({ ...(await createBookmark(base, alice, { title: `Away ${index}`, url: `https://away.example/${index}`, public: isPublic })), isPublic });
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    const gone = missed[2]!;
    assert.equal((await request(base, "DELETE", `/api/bookmarks/${gone.id}`, { token: alice })).status, 204);
    away = false;
    const shown = missed.filter((bookmark) => bookmark.isPublic && bookmark !== gone);
    for (const bookmark of shown) await firehose.locator(`#feed #b-${bookmark.id}`).waitFor({ timeout: 20_000 });
    await firehose.locator('#live-status[data-state="live"]').waitFor({ timeout: LIVE_WAIT_MS });
    const order = await firehose.locator("#feed > .card").evaluateAll((cards) => cards.slice(0, 2).map((card) => card.id));
    assert.deepEqual(order, shown.map((bookmark) => `b-${bookmark.id}`).reverse(), "newest first, as live pushes put them");
    assert.equal(await firehose.locator(`#b-${gone.id}`).count(), 0, "the deletion was replayed too");
    assert.equal(await firehose.locator(`#b-${missed[1]!.id}`).count(), 0, "the private one never reaches the firehose");
    assert.deepEqual(await firehose.evaluate(() => [(window as unknown as { __kept?: boolean }).__kept ?? false, (document.getElementById("live-body") as unknown as { __kept?: boolean }).__kept ?? false]), [true, true], "no reload, not even of the live part");
    assert.equal(await firehose.locator("#live-status .live-text").textContent(), "live", "the page says nothing: it missed nothing");
  });

  test("a hostile title renders as text, live and on reload", async () => {
    const firehose = await openLive("/");
    const title = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;
    const created = await createBookmark(base, alice, { title, url: "https://xss.example/", description: title, tags: ["x"] });
    const card = firehose.locator(`#b-${created.id}`);
    await card.waitFor({ timeout: LIVE_WAIT_MS });
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
    await bobPage.locator('#live-status[data-state="live"]').waitFor({ timeout: 10_000 });
    const hidden = await createBookmark(base, alice, { title: "alice's secret plan", url: "https://secret.example/", public: false });
    const marker = await createBookmark(base, alice, { title: "alice's public note", url: "https://public.example/note" });
    await bobPage.locator(`#b-${marker.id}`).waitFor({ timeout: LIVE_WAIT_MS });
    assert.equal(await bobPage.getByText("secret plan").count(), 0);
    await bobPage.reload();
    assert.equal(await bobPage.getByText("secret plan").count(), 0);
    const direct = await bobPage.goto(`${base}/b/${hidden.id}`);
    assert.equal(direct?.status(), 404);
  });

  test("scramble deals the cards at random places and angles, and keeps still for reduced motion", async () => {
    for (let index = 0; index < 6; index += 1) await createBookmark(base, alice, { title: `scramble card ${index}`, url: `https://scramble.example/${index}`, tags: ["fun"] });
    const moving = await openPage("/scramble");
    await moving.locator("#scramble.scattered").waitFor({ timeout: 5000 });
    const places = await moving.locator("#scramble .card").evaluateAll((cards) => cards.map((card) => `${(card as HTMLElement).style.getPropertyValue("--x")},${(card as HTMLElement).style.getPropertyValue("--y")}`));
    assert.ok(places.length >= 6 && new Set(places).size === places.length, `distinct places: ${places.join(" ")}`);
    assert.equal(await moving.locator("#scramble .card").first().evaluate((card) => getComputedStyle(card).animationName), "deal");
    const still = await openPage("/scramble", { reducedMotion: "reduce" });
    await still.locator("#scramble.scattered").waitFor({ timeout: 5000 });
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
