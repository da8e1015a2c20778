// The Chrome extension in a real browser: Debian Chromium loads extension/ unpacked (new headless mode) and the
// tests drive its options page, its popup (opened by its keyboard shortcut) and its context-menu handler against a
// real Nasty server, watching saved bookmarks arrive through the API and on the firehose.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { chromium, type BrowserContext, type Page, type Worker } from "playwright-core";
import WebSocket from "ws";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";

/** The extension API inside `worker.evaluate` callbacks, which run in the extension's service worker. */
declare const chrome: any;

const CHROMIUM = "/usr/bin/chromium";
const EXTENSION_DIR = path.resolve(import.meta.dirname, "../extension");
/** The house flags, with the new headless mode spelled out: the old one cannot run extensions. */
const CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
/** The manifest's `_execute_action` shortcut, Alt+Shift+S, as a raw key event (modifiers: Alt 1 + Shift 8). */
const SHORTCUT_KEY = { modifiers: 9, windowsVirtualKeyCode: 83, nativeVirtualKeyCode: 83, code: "KeyS", key: "S" };
/** Notes typed in the popup: Markdown with an indented code line, which must not be trimmed away. */
const POPUP_NOTES = "    let x = &s;\nBorrowing *before* lifetimes: see [the book](https://doc.rust-lang.org/book/).";
/** Bounds on the waits for something the browser does by itself (each poll is 50 ms). */
const POLLS_MAX = 200;

const missing = !fs.existsSync(CHROMIUM);
if (missing && process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must run the browser suite (apt-get install chromium)`);
if (missing) console.log(`# extension browser suite skipped: ${CHROMIUM} is not installed (apt-get install chromium)`);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns something other than undefined; fails naming `what` after POLLS_MAX tries. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (let attempt = 0; attempt < POLLS_MAX; attempt += 1) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Pages the extension bookmarks: a described article with links, served from their own loopback origin. */
function startPageServer(): Promise<{ url: string; close: () => void }> {
  const pages: Record<string, string> = {
    "/article": `<!doctype html><html><head><title>Ownership in Rust, explained</title>
      <meta name="description" content="A walk through borrowing and lifetimes.">
      </head><body><h1>Ownership</h1>
      <p>See <a id="linked" href="/linked">the  borrow <b>checker</b> guide</a> and <a id="bare" href="/bare">x</a>.</p></body></html>`,
    "/linked": "<!doctype html><title>Borrow checker</title><p>linked</p>",
    "/plain": `<!doctype html><title>Plain page</title><meta property="og:title" content="Plain page, as shared"><p>nothing to describe</p>`,
    "/race": "<!doctype html><title>Race page</title><p>saved twice at once</p>",
    // Describes itself to a fetch (the server's check) and then takes it out of the page: the tab has no title nor description to read.
    "/app": `<!doctype html><html><head><meta property="og:title" content="An app that renders itself">
      <meta name="description" content="Told to crawlers, then taken out of the page.">
      <script>for (const meta of document.querySelectorAll("meta")) meta.remove();</script></head><body><p>rendered by script</p></body></html>`,
  };
  const server = http.createServer((req, res) => {
    const body = pages[new URL(req.url ?? "/", "http://localhost").pathname];
    res.writeHead(body ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(body ?? "not found");
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }));
  });
}

/** A loopback port nothing listens on: listen, note it, close. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A raw `/ws` subscriber of the firehose, subscribed once the server said so; `next` waits for a push matching `match`. */
async function subscribeFirehose(base: string): Promise<{ next: (match: (message: any) => boolean) => Promise<any>; close: () => void }> {
  const socket = new WebSocket(`${base.replace(/^http/, "ws")}/ws`);
  const received: any[] = [];
  const waiters: { match: (message: any) => boolean; resolve: (message: any) => void }[] = [];
  socket.on("message", (data) => {
    const message = JSON.parse(String(data));
    received.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  const next = (match: (message: any) => boolean): Promise<any> => {
    const seen = received.find(match);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ op: "subscribe", topic: "bookmarks:firehose", ref: "firehose" }));
  const answer = await next((message) => message.ref === "firehose");
  assert.equal(answer.op, "ok", `subscribing to the firehose: ${JSON.stringify(answer)}`);
  return { next, close: () => socket.close() };
}

describe("the Chrome extension in Chromium", { skip: missing ? `${CHROMIUM} is not installed` : false, timeout: 120_000 }, () => {
  let nasty: Nasty;
  let pages: { url: string; close: () => void };
  let context: BrowserContext;
  let worker: Worker;
  let extensionId: string;
  let devtoolsPort: string;
  let aliceToken: string;
  let tab: Page;

  before(async () => {
    // Fetching on and loopback allowed, so GET /api/bookmarks/check reads the pages served here (every bookmark saved below has a title: nothing else is fetched).
    nasty = await startTestServer({ NASTY_FETCH: "on", NASTY_FETCH_ALLOW_PRIVATE: "true", NASTY_LINK_CHECK_INTERVAL_S: "0" });
    pages = await startPageServer();
    aliceToken = await signUp(nasty.url, "alice");
    const bobToken = await signUp(nasty.url, "bob");
    // Public tags for suggestions: rust twice, ruby once, python once.
    await createBookmark(nasty.url, bobToken, { title: "The Rust book", url: "https://doc.rust-lang.org/book/", tags: "rust, books" });
    await createBookmark(nasty.url, bobToken, { title: "Rustlings", url: "https://rustlings.cool/", tags: "rust" });
    await createBookmark(nasty.url, bobToken, { title: "Ruby", url: "https://www.ruby-lang.org/", tags: "ruby, python" });
    const userDataDir = tempDir("nasty-chromium-");
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      // headless: false keeps Playwright from adding its own old-headless flags; --headless=new is in the args.
      headless: false,
      ignoreDefaultArgs: ["--disable-extensions"],
      args: [...CHROMIUM_FLAGS, `--disable-extensions-except=${EXTENSION_DIR}`, `--load-extension=${EXTENSION_DIR}`, "--remote-debugging-port=0"],
    });
    worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker"));
    extensionId = new URL(worker.url()).host;
    devtoolsPort = await eventually("DevToolsActivePort", () => {
      const file = path.join(userDataDir, "DevToolsActivePort");
      return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n")[0] : undefined;
    });
    tab = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    pages?.close();
    await nasty?.close();
  });

  /**
   * Grants the extension access to `origin` the way a person does on chrome://extensions (Site
   * access → Add a site). Headless Chromium cannot show chrome.permissions.request's prompt; once
   * the site is granted, the extension's own request resolves true without one.
   */
  async function allowSite(origin: string): Promise<void> {
    const page = await context.newPage();
    await page.goto("chrome://extensions/");
    const error = await page.evaluate(
      ([id, pattern]) => new Promise<string>((resolve) => chrome.developerPrivate.addHostPermission(id, pattern, () => resolve(chrome.runtime.lastError?.message ?? ""))),
      [extensionId, `${origin}/*`] as const,
    );
    await page.close();
    assert.equal(error, "");
  }

  async function grantedOrigins(): Promise<string[]> {
    return worker.evaluate(async () => (await chrome.permissions.getAll()).origins ?? []);
  }

  async function openOptions(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`chrome-extension://${extensionId}/options.html`);
    await page.waitForFunction(() => (document.getElementById("server") as HTMLInputElement).value !== "");
    return page;
  }

  /** Fills the options page and presses Save; answers the status line. */
  async function configure(serverUrl: string, token: string): Promise<string> {
    const page = await openOptions();
    await page.fill("#server", serverUrl);
    await page.fill("#token", token);
    await page.click("#save");
    const status = await statusText(page);
    await page.close();
    return status;
  }

  /** The status line once it settles (not empty, not an "…ing" progress message). */
  async function statusText(page: Page): Promise<string> {
    await page.waitForFunction(() => {
      const text = document.getElementById("status")?.textContent ?? "";
      return text !== "" && !text.endsWith("…");
    });
    return (await page.textContent("#status")) ?? "";
  }

  /**
   * Opens the real popup with the extension's keyboard shortcut on `page` (so Chrome grants it
   * activeTab on that tab), and reaches it through a second CDP connection: Playwright does not
   * attach to popups that open after it connected, but sees one that is already open.
   */
  async function openPopup(page: Page): Promise<{ popup: Page; release: () => Promise<void> }> {
    await page.bringToFront();
    const session = await context.newCDPSession(page);
    for (const type of ["rawKeyDown", "keyUp"]) await session.send("Input.dispatchKeyEvent", { type: type as "rawKeyDown" | "keyUp", ...SHORTCUT_KEY });
    await session.detach();
    await eventually("the popup to open", async () => ((await openPopups()) > 0 ? true : undefined));
    const viewer = await chromium.connectOverCDP(`http://127.0.0.1:${devtoolsPort}`);
    const popup = viewer.contexts()[0]!.pages().find((candidate) => candidate.url() === `chrome-extension://${extensionId}/popup.html`);
    assert.ok(popup, "the popup is among the browser's pages");
    // Ready once it knows the tab and whether the URL is saved already (or why it cannot know).
    await popup.waitForSelector('#form:not([aria-busy="true"])', { state: "attached" });
    // Closing it makes sure the next shortcut press opens a popup rather than closing this one.
    const release = async () => {
      if (!popup.isClosed()) await popup.evaluate(() => window.close()).catch(() => {});
      await viewer.close();
      await eventually("the popup to close", async () => ((await openPopups()) === 0 ? true : undefined));
    };
    return { popup, release };
  }

  async function openPopups(): Promise<number> {
    return (await worker.evaluate(() => chrome.runtime.getContexts({ contextTypes: [chrome.runtime.ContextType.POPUP] }))).length;
  }

  async function aliceBookmarkOf(url: string): Promise<any> {
    const reply = await request(nasty.url, "GET", `/api/bookmarks?user=alice&url=${encodeURIComponent(url)}`, { token: aliceToken });
    assert.equal(reply.status, 200);
    return reply.json.data[0];
  }

  test("the options page starts at http://localhost:4000 and Test connection says whose token it is", async () => {
    const page = await openOptions();
    assert.equal(await page.inputValue("#server"), "http://localhost:4000");
    assert.equal(await page.textContent("#shortcut"), "Alt+Shift+S");
    await allowSite(nasty.url);
    await page.fill("#server", `${nasty.url}/`);
    await page.fill("#token", aliceToken);
    await page.click("#test");
    assert.equal(await statusText(page), `Connected to ${nasty.url}: this token belongs to alice.`);
    await page.click("#save");
    assert.equal(await statusText(page), "Saved.");
    assert.equal(await page.inputValue("#server"), nasty.url, "the trailing slash is dropped");
    const stored = await worker.evaluate(() => chrome.storage.local.get(["serverUrl", "token"]));
    assert.deepEqual(stored, { serverUrl: nasty.url, token: aliceToken });
    assert.deepEqual(await grantedOrigins(), [`${nasty.url}/*`], "host access to the configured server only");
    await page.close();
  });

  test("the popup, opened by the shortcut, pre-fills the tab, suggests the server's tags, saves with Ctrl+Enter; the bookmark reaches the API and the firehose", async () => {
    const firehose = await subscribeFirehose(nasty.url);
    const pageUrl = `${pages.url}/article`;
    await tab.goto(pageUrl);
    const { popup, release } = await openPopup(tab);
    try {
      assert.equal(await popup.inputValue("#title"), "Ownership in Rust, explained");
      assert.equal(await popup.inputValue("#url"), pageUrl);
      assert.equal(await popup.inputValue("#description"), "A walk through borrowing and lifetimes.", "from the page's meta description (activeTab)");
      assert.equal(await popup.textContent("#who"), "as alice");
      assert.equal(await popup.isChecked("#public"), true);

      await popup.locator("#tags").pressSequentially("ru");
      await popup.waitForSelector("#suggestions li");
      assert.deepEqual(await popup.locator("#suggestions li").evaluateAll((items) => items.map((item) => (item as HTMLElement).dataset.tag)), ["rust", "ruby"], "the server's tags starting with 'ru', most used first");
      assert.equal(await popup.locator("#suggestions li").first().textContent(), "rust2");
      await popup.keyboard.press("ArrowDown");
      await popup.keyboard.press("Enter");
      assert.equal(await popup.inputValue("#tags"), "rust, ");
      await popup.locator("#tags").pressSequentially("py");
      await popup.waitForFunction(() => document.querySelector("#suggestions li")?.getAttribute("data-tag") === "python");
      await popup.locator("#suggestions li").first().dispatchEvent("mousedown");
      assert.equal(await popup.inputValue("#tags"), "rust, python, ");
      await popup.locator("#tags").pressSequentially("ownership");
      assert.equal(await popup.inputValue("#notes"), "", "notes start empty: they are the person's own, not the page's");
      await popup.fill("#notes", POPUP_NOTES);

      await popup.keyboard.press("Control+Enter");
      assert.equal(await statusText(popup), "Bookmark saved!");
      const closed = popup.waitForEvent("close");
      const saved = await aliceBookmarkOf(pageUrl);
      assert.equal(saved.title, "Ownership in Rust, explained");
      assert.equal(saved.description, "A walk through borrowing and lifetimes.");
      assert.deepEqual(saved.tags, ["rust", "python", "ownership"]);
      assert.equal(saved.public, true);
      assert.equal(saved.notes, POPUP_NOTES, "the notes were sent as written, indentation and Markdown kept");
      const pushed = await firehose.next((message) => message.topic === "bookmarks:firehose" && message.payload?.url === pageUrl);
      assert.equal(pushed.event, "bookmark_created");
      assert.equal(pushed.payload.id, saved.id);
      assert.equal(pushed.payload.title, "Ownership in Rust, explained");
      assert.deepEqual(pushed.payload.tags, ["rust", "python", "ownership"]);
      assert.equal(pushed.payload.notes, POPUP_NOTES);
      await closed;
    } finally {
      firehose.close();
      await release();
    }
  });

  test("on a page you saved already the popup says so, and Update changes your bookmark", async () => {
    const pageUrl = `${pages.url}/article`;
    const before = await aliceBookmarkOf(pageUrl);
    const { popup, release } = await openPopup(tab);
    try {
      await popup.waitForSelector("#notice:not([hidden])");
      assert.match((await popup.textContent("#notice")) ?? "", /^You already saved this page on .+\. Saving updates your bookmark\.$/);
      assert.equal(await popup.textContent("#save"), "Update");
      assert.equal(await popup.inputValue("#tags"), "rust, python, ownership, ");
      assert.equal(await popup.inputValue("#notes"), POPUP_NOTES, "the saved notes, to edit");
      await popup.fill("#description", "Borrowing, lifetimes, and why.");
      await popup.fill("#notes", "Reread **chapter 4**.");
      await popup.fill("#tags", "rust, ownership");
      await popup.uncheck("#public");
      assert.equal(await popup.textContent("#public-label"), "Private (only you)");
      await popup.click("#save");
      assert.equal(await statusText(popup), "Bookmark updated!");
    } finally {
      await release();
    }
    const after = await aliceBookmarkOf(pageUrl);
    assert.equal(after.id, before.id, "the same bookmark, updated in place");
    assert.equal(after.description, "Borrowing, lifetimes, and why.");
    assert.equal(after.notes, "Reread **chapter 4**.");
    assert.deepEqual(after.tags, ["rust", "ownership"]);
    assert.equal(after.public, false);
    const anonymous = await request(nasty.url, "GET", `/api/bookmarks/${before.id}`);
    assert.equal(anonymous.status, 404, "now private: nobody else sees it");
  });

  test("the same page under another form of its URL (tracking parameters, a fragment) is recognized as saved", async () => {
    const saved = await aliceBookmarkOf(`${pages.url}/article`);
    await tab.goto(`${pages.url}/article?utm_source=newsletter&fbclid=abc#comments`);
    const { popup, release } = await openPopup(tab);
    try {
      await popup.waitForSelector("#notice:not([hidden])");
      assert.match((await popup.textContent("#notice")) ?? "", /^You already saved this page on /);
      assert.equal(await popup.textContent("#save"), "Update");
      assert.equal(await popup.inputValue("#url"), saved.url, "the popup shows the bookmark as it was saved");
    } finally {
      await release();
    }
    assert.equal((await aliceBookmarkOf(`${pages.url}/article#elsewhere`)).id, saved.id);
  });

  test("what the tab lacks (a title, a description) the popup fills from the server's look at the page (GET /api/bookmarks/check)", async () => {
    const pageUrl = `${pages.url}/app`;
    await tab.goto(pageUrl);
    assert.equal(await tab.evaluate(() => document.querySelectorAll("meta").length), 0, "the page took its description out");
    const { popup, release } = await openPopup(tab);
    try {
      assert.equal(await popup.inputValue("#url"), pageUrl);
      assert.equal(await popup.inputValue("#title"), "An app that renders itself", "the tab's title was its address");
      assert.equal(await popup.inputValue("#description"), "Told to crawlers, then taken out of the page.");
      assert.equal(await popup.isHidden("#notice"), true, "not saved yet");
      assert.equal(await popup.textContent("#save"), "Save");
    } finally {
      await release();
    }
    // A tab with a title of its own keeps it, though the server reads the page's og:title first.
    const plainUrl = `${pages.url}/plain`;
    const check = await request(nasty.url, "GET", `/api/bookmarks/check?url=${encodeURIComponent(plainUrl)}`, { token: aliceToken });
    assert.equal(check.json.metadata?.title, "Plain page, as shared", "the server's title differs from the tab's");
    await tab.goto(plainUrl);
    const again = await openPopup(tab);
    try {
      assert.equal(await again.popup.inputValue("#title"), "Plain page");
    } finally {
      await again.release();
    }
  });

  test("a field the server refuses shows the server's own message", async () => {
    await tab.goto(`${pages.url}/plain`);
    const { popup, release } = await openPopup(tab);
    try {
      await popup.fill("#url", "javascript:alert(1)");
      await popup.click("#save");
      const direct = await request(nasty.url, "POST", "/api/bookmarks", { token: aliceToken, body: { bookmark: { title: "Plain page", url: "javascript:alert(1)", description: "", tags: "", public: true } } });
      assert.equal(direct.status, 422);
      const expected = Object.entries(direct.json.errors as Record<string, string[]>).flatMap(([field, messages]) => messages.map((message) => `${field} ${message}`)).join("; ");
      assert.equal(await statusText(popup), expected);
      assert.equal(await popup.isEnabled("#save"), true, "the person can fix it and try again");
    } finally {
      await release();
    }
  });

  test("saved elsewhere while the popup was open: the 409 turns Save into Update, keeping what was typed", async () => {
    const pageUrl = `${pages.url}/race`;
    await tab.goto(pageUrl);
    const { popup, release } = await openPopup(tab);
    let other: any;
    try {
      assert.equal(await popup.textContent("#save"), "Save");
      other = await createBookmark(nasty.url, aliceToken, { title: "Saved from elsewhere", url: pageUrl });
      await popup.fill("#description", "typed in the popup");
      await popup.fill("#notes", "- noted in the popup");
      await popup.fill("#tags", "race");
      await popup.click("#save");
      assert.equal(await statusText(popup), `you already saved this URL as bookmark ${other.id} (${pageUrl})`);
      await popup.waitForSelector("#notice:not([hidden])");
      assert.equal(await popup.textContent("#save"), "Update");
      assert.equal(await popup.inputValue("#description"), "typed in the popup");
      assert.equal(await popup.inputValue("#notes"), "- noted in the popup");
      await popup.click("#save");
      assert.equal(await statusText(popup), "Bookmark updated!");
    } finally {
      await release();
    }
    const after = await aliceBookmarkOf(pageUrl);
    assert.equal(after.id, other.id);
    assert.equal(after.title, "Race page");
    assert.equal(after.description, "typed in the popup");
    assert.equal(after.notes, "- noted in the popup");
    assert.deepEqual(after.tags, ["race"]);
  });

  test("the context-menu item saves a link, titled by its text when the page can be read", async () => {
    // A fresh tab: the popup tests granted activeTab on the first one.
    const page = await context.newPage();
    await page.goto(`${pages.url}/article`);
    // The newest tab is this one (tab ids only grow); without access to the page its URL is not visible to query by.
    const tabInfo = await worker.evaluate(async () => (await chrome.tabs.query({})).reduce((newest: any, candidate: any) => (candidate.id > newest.id ? candidate : newest)));
    // The item exists: updating an unknown id fails.
    await worker.evaluate(() => chrome.contextMenus.update("nasty-save-link", { title: "Save link to Nasty" }));
    // Headless Chromium cannot open a native context menu; the test dispatches the menu's onClicked
    // event to the worker's own listener with the data a click on the link carries.
    const click = (linkUrl: string) =>
      worker.evaluate(([info, clicked]) => chrome.contextMenus.onClicked.dispatch(info, clicked), [{ menuItemId: "nasty-save-link", linkUrl, pageUrl: `${pages.url}/article`, frameId: 0, editable: false }, tabInfo] as const);

    /** The tab's badge and tooltip once they differ from `previous`: the worker sets them after the server answered. */
    const reportAfter = (previous: string[]) =>
      eventually("the toolbar button's report", async () => {
        const shown: string[] = await worker.evaluate((tabId) => Promise.all([chrome.action.getBadgeText({ tabId }), chrome.action.getTitle({ tabId })]), tabInfo.id!);
        return shown[0] === previous[0] && shown[1] === previous[1] ? undefined : shown;
      });

    // Without access to the page the title falls back to the URL.
    await click(`${pages.url}/bare`);
    const bare = await eventually("the bare link to be saved", () => aliceBookmarkOf(`${pages.url}/bare`));
    assert.equal(bare.title, `${pages.url}/bare`);
    assert.equal(bare.public, true);
    const bareReport = await reportAfter(["", "Save to Nasty"]);
    assert.deepEqual(bareReport, ["✓", `Nasty Bookmarker: saved “${pages.url}/bare”`]);

    // A real click on the menu grants activeTab on the tab; so does the extension's shortcut, which a
    // test can press: open and close the popup, and the link's text can be read.
    await (await openPopup(page)).release();
    await click(`${pages.url}/linked`);
    const linked = await eventually("the linked page to be saved", () => aliceBookmarkOf(`${pages.url}/linked`));
    assert.equal(linked.title, "the borrow checker guide");
    assert.deepEqual(await reportAfter(bareReport), ["✓", "Nasty Bookmarker: saved “the borrow checker guide”"]);

    // Saving it again: the badge carries the server's 409 message.
    await click(`${pages.url}/linked`);
    assert.deepEqual(await reportAfter(["✓", "Nasty Bookmarker: saved “the borrow checker guide”"]), ["!", `Nasty Bookmarker: you already saved this URL as bookmark ${linked.id} (${pages.url}/linked)`]);
    await page.close();
  });

  test("a wrong token: Test connection and the popup show the server's 401 message", async () => {
    assert.equal(await configure(nasty.url, "not-a-real-token"), "Saved.");
    const page = await openOptions();
    await page.click("#test");
    assert.equal(await statusText(page), "invalid or revoked token");
    await page.close();
    await tab.goto(`${pages.url}/plain`);
    const { popup, release } = await openPopup(tab);
    try {
      assert.equal(await statusText(popup), "invalid or revoked token");
      assert.equal(await popup.textContent("#setup-text"), "Check the API token in the options.");
      await popup.click("#save");
      await popup.waitForFunction(() => document.getElementById("status")?.textContent === "invalid or revoked token" && !(document.getElementById("save") as HTMLButtonElement).disabled);
    } finally {
      await release();
    }
    assert.equal(await aliceBookmarkOf(`${pages.url}/plain`), undefined);
  });

  test("a server that is down: the connection error, and access moves to the new server only", async () => {
    const downUrl = `http://127.0.0.1:${await closedPort()}`;
    await allowSite(downUrl);
    assert.equal(await configure(downUrl, aliceToken), "Saved.");
    assert.deepEqual(await grantedOrigins(), [`${downUrl}/*`], "the old server's access was given back");
    const page = await openOptions();
    await page.click("#test");
    assert.equal(await statusText(page), `cannot reach the server at ${downUrl}`);
    await page.close();
    const { popup, release } = await openPopup(tab);
    try {
      assert.equal(await statusText(popup), `cannot reach the server at ${downUrl}`);
      await popup.click("#save");
      await popup.waitForFunction(() => !(document.getElementById("save") as HTMLButtonElement).disabled);
      assert.equal(await popup.textContent("#status"), `cannot reach the server at ${downUrl}`);
    } finally {
      await release();
    }
  });

  test("without access to the configured server the popup sends the person to the options", async () => {
    const otherUrl = `http://127.0.0.1:${await closedPort()}`;
    await worker.evaluate((serverUrl) => chrome.storage.local.set({ serverUrl }), otherUrl);
    const { popup, release } = await openPopup(tab);
    try {
      assert.equal(await popup.textContent("#setup-text"), `Nasty Bookmarker may not talk to ${otherUrl} yet: allow it in the options.`);
      assert.equal(await popup.isDisabled("#save"), true);
    } finally {
      await release();
    }
  });

  test("opened as a page with ?tab=<id>, the popup fills in that tab rather than itself", async () => {
    // `tab` is the first tab (the smallest id); the shortcut above granted activeTab on it, so its URL can be read.
    const tabId = await worker.evaluate(async () => Math.min(...(await chrome.tabs.query({})).map((candidate: any) => candidate.id)));
    const page = await context.newPage();
    await page.goto(`chrome-extension://${extensionId}/popup.html?tab=${tabId}`);
    await page.waitForFunction(() => (document.getElementById("url") as HTMLInputElement).value !== "");
    assert.equal(await page.inputValue("#url"), tab.url());
    assert.equal(await page.inputValue("#title"), "Plain page");
    await page.close();
  });
});
