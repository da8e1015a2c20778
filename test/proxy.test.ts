// Nasty behind a real nginx running docs/deploy/nginx.conf (TLS with a throwaway self-signed certificate, loopback ports): log-in, live pages, websockets, links, client addresses.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { Nasty } from "../src/main.ts";
import { signUp, startTestServer } from "./support/server.ts";
import { BROWSER_SUITE_MS_MAX, chromiumSkip, launchChromium, logInThroughForm, PAGE_WAIT_MS_MAX, watchForProblems } from "./support/chromium.ts";
import { nginxPorts, nginxSkip, startNginx, viaNginx, type Nginx } from "./support/nginx.ts";
import { Client, subscribe } from "./support/realtime.ts";
import { csrfOf } from "./support/pages.ts";

/** Port pairs tried: each free when picked, but another process may bind one before nginx does. */
const PORT_ATTEMPTS_MAX = 3;

/** Nasty with NASTY_PUBLIC_URL naming nginx's https origin, and nginx in front of it. */
async function proxied(overrides: Record<string, string>, publicUrl: boolean): Promise<{ nasty: Nasty; nginx: Nginx }> {
  for (let attempt = 1; ; attempt += 1) {
    const ports = await nginxPorts();
    const nasty = await startTestServer({ ...(publicUrl ? { NASTY_PUBLIC_URL: `https://127.0.0.1:${ports.https}` } : {}), ...overrides });
    try {
      return { nasty, nginx: await startNginx(Number(new URL(nasty.url).port), ports) };
    } catch (error) {
      await nasty.close();
      if (attempt >= PORT_ATTEMPTS_MAX || !/Address already in use/.test(String(error))) throw error;
    }
  }
}

async function createThroughProxy(nginx: Nginx, token: string, bookmark: Record<string, unknown>): Promise<{ id: number; location: string }> {
  const reply = await viaNginx(nginx, "POST", "/api/bookmarks", { headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ bookmark }) });
  assert.equal(reply.status, 201, reply.text);
  return { id: JSON.parse(reply.text).bookmark.data.id, location: String(reply.headers.location) };
}

describe("behind nginx with docs/deploy/nginx.conf", { skip: nginxSkip("proxy suite") || chromiumSkip("proxy suite"), timeout: BROWSER_SUITE_MS_MAX }, () => {
  let nasty: Nasty;
  let nginx: Nginx;
  let alice: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  before(async () => {
    ({ nasty, nginx } = await proxied({ NASTY_TRUST_PROXY: "true" }, true));
    alice = await signUp(nasty.url, "alice");
    browser = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await nginx?.stop();
    await nasty?.close();
  });

  /** A fresh browser (trusting the throwaway certificate) logged in as alice through nginx's log-in form. */
  async function loggedIn(label: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, label, problems);
    await logInThroughForm(page, nginx.httpsUrl, "alice");
    return { context, page };
  }

  test("Chromium logs in through the proxy's form post (Host rewritten to the upstream) and gets a Secure cookie", async () => {
    const { context, page } = await loggedIn("login");
    assert.ok(page.url().startsWith(`${nginx.httpsUrl}/`), page.url());
    const session = (await context.cookies()).find((cookie) => cookie.name === "nasty_session");
    assert.ok(session, "logged in");
    assert.equal(session.secure, true);
    assert.equal(session.httpOnly, true);
    assert.deepEqual(problems, []);
  });

  test("a logged-in live page (its cookie on /live, Origin checked against NASTY_PUBLIC_URL) updates through the websocket upgrade", async () => {
    const { context, page } = await loggedIn("live");
    await page.goto(`${nginx.httpsUrl}/bookmarks`);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const secret = await createThroughProxy(nginx, alice, { url: "https://example.com/private-through-nginx", title: "Private, through nginx", public: false });
    await page.locator(`#feed #b-${secret.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const firehose = await context.newPage();
    await firehose.goto(`${nginx.httpsUrl}/`);
    await firehose.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    const shared = await createThroughProxy(nginx, alice, { url: "https://example.com/public-through-nginx", title: "Public, through nginx", public: true });
    await firehose.locator(`#feed #b-${shared.id}`).waitFor({ timeout: PAGE_WAIT_MS_MAX });
    assert.equal(await firehose.locator(`#b-${secret.id}`).count(), 0, "the private one stays private");
    assert.deepEqual(problems, []);
  });

  test("/ws and Phoenix's /socket/websocket upgrade through nginx and get pushes", async () => {
    const wss = nginx.httpsUrl.replace(/^https/, "wss");
    const raw = await Client.open(`${wss}/ws`, { ca: nginx.certificate });
    const phoenix = await Client.open(`${wss}/socket/websocket?vsn=2.0.0`, { ca: nginx.certificate });
    try {
      await subscribe(raw, "bookmarks:firehose");
      const joined = await phoenix.ask(["1", "1", "bookmarks:firehose", "phx_join", {}], (frame) => frame[1] === "1", "the Phoenix join");
      assert.equal(joined[4].status, "ok");
      const created = await createThroughProxy(nginx, alice, { url: "https://example.com/socket-through-nginx", title: "Sockets, through nginx", public: true });
      await raw.next((frame) => frame.topic === "bookmarks:firehose" && frame.payload?.id === created.id, "the raw push");
      await phoenix.next((frame) => frame[2] === "bookmarks:firehose" && frame[4]?.id === created.id, "the Phoenix push");
    } finally {
      await raw.close();
      await phoenix.close();
    }
  });

  test("feed and API links name NASTY_PUBLIC_URL, not the upstream Host; plain http is sent to https", async () => {
    const created = await createThroughProxy(nginx, alice, { url: "https://example.com/linked", title: "Linked", public: true });
    assert.equal(created.location, `${nginx.httpsUrl}/api/bookmarks/${created.id}`);
    const rss = await viaNginx(nginx, "GET", "/feeds/firehose.rss");
    assert.equal(rss.status, 200);
    assert.ok(rss.text.includes(`<atom:link href="${nginx.httpsUrl}/feeds/firehose.rss"`), rss.text.slice(0, 600));
    assert.doesNotMatch(rss.text, new RegExp(`127\\.0\\.0\\.1:${new URL(nasty.url).port}|//nasty/`), "neither the upstream's address nor its upstream name");
    const plain = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${nginx.httpUrl}/feeds/firehose.rss`, resolve).on("error", reject));
    plain.resume();
    assert.equal(plain.statusCode, 301);
    assert.equal(plain.headers.location, "https://127.0.0.1/feeds/firehose.rss");
  });
});

describe("the log-in form through nginx without NASTY_PUBLIC_URL", { skip: nginxSkip("proxy suite"), timeout: 180_000 }, () => {
  /** The log-in form's GET then POST through nginx, as a browser on the site sends it (Origin: the https site). */
  async function logIn(nginx: Nginx): Promise<number> {
    const form = await viaNginx(nginx, "GET", "/login");
    const cookie = ([] as string[]).concat(form.headers["set-cookie"] ?? []).map((line) => line.split(";")[0]).join("; ");
    const body = new URLSearchParams({ username: "carol", password: "correct horse", _csrf: csrfOf(form.text) }).toString();
    const reply = await viaNginx(nginx, "POST", "/login", { headers: { cookie, origin: nginx.httpsUrl, "content-type": "application/x-www-form-urlencoded" }, body });
    return reply.status;
  }

  test("is refused as cross-site (nginx rewrites Host to its upstream), and works once NASTY_PUBLIC_URL names the site", async () => {
    for (const publicUrl of [false, true]) {
      const { nasty, nginx } = await proxied({}, publicUrl);
      try {
        await signUp(nasty.url, "carol");
        assert.equal(await logIn(nginx), publicUrl ? 303 : 403, publicUrl ? "with NASTY_PUBLIC_URL" : "without");
      } finally {
        await nginx.stop();
        await nasty.close();
      }
    }
  });
});

describe("client addresses through nginx", { skip: nginxSkip("proxy suite"), timeout: 180_000 }, () => {
  const LIMIT = 3;
  /** A wrong log-in through nginx, from the loopback address `from` (nginx's own connection to Nasty comes from 127.0.0.1). */
  const attempt = (nginx: Nginx, from: string, headers: Record<string, string> = {}) =>
    viaNginx(nginx, "POST", "/api/tokens", { localAddress: from, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ username: "someone", password: "wrong password" }) });

  async function exhaust(nginx: Nginx, from: string): Promise<void> {
    for (let index = 1; index <= LIMIT; index += 1) assert.equal((await attempt(nginx, from)).status, 401, `attempt ${index} from ${from}`);
    const refused = await attempt(nginx, from);
    assert.equal(refused.status, 429, refused.text);
  }

  test("with NASTY_TRUST_PROXY the rate limit sees each client's address (the last X-Forwarded-For entry nginx adds)", async () => {
    const { nasty, nginx } = await proxied({ NASTY_TRUST_PROXY: "true", NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: String(LIMIT) }, true);
    try {
      await exhaust(nginx, "127.0.0.2");
      const forged = await attempt(nginx, "127.0.0.2", { "x-forwarded-for": "203.0.113.7" });
      assert.equal(forged.status, 429, "an entry the client wrote itself comes before nginx's and is not believed");
      assert.equal((await attempt(nginx, "127.0.0.3")).status, 401, "another client still gets its own budget");
    } finally {
      await nginx.stop();
      await nasty.close();
    }
  });

  test("without it every client is nginx's address: one shared budget", async () => {
    const { nasty, nginx } = await proxied({ NASTY_PASSWORD_ATTEMPTS_PER_ADDRESS: String(LIMIT) }, true);
    try {
      await exhaust(nginx, "127.0.0.2");
      const other = await attempt(nginx, "127.0.0.3");
      assert.equal(other.status, 429, "127.0.0.3 is refused too: Nasty sees only nginx (127.0.0.1)");
    } finally {
      await nginx.stop();
      await nasty.close();
    }
  });
});
