// Test support for browser suites: Debian's Chromium, headless, driven by playwright-core (never a downloaded browser).
import fs from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { Nasty } from "../../src/main.ts";
import { startTestServer } from "./server.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];

/**
 * Why a browser suite cannot run here, for `describe(…, { skip })`, or false when it can. Under
 * CI=true a missing Chromium is an error, never a skip; elsewhere the reason is printed.
 */
export function chromiumSkip(suite: string): string | false {
  if (fs.existsSync(CHROMIUM)) return false;
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is missing; CI must run the ${suite} (apt-get install chromium)`);
  const reason = `${CHROMIUM} is not installed (apt-get install chromium)`;
  console.log(`# ${suite} skipped: ${reason}`);
  return reason;
}

/**
 * Longest wait for something to show on a page (a live change, a form's answer, the live socket
 * opening): a bound, not a speed check; each wait ends as soon as it shows. 2-10 s were tight with
 * Chromium and the server sharing two cores with other suites at load 20 and more.
 */
export const PAGE_WAIT_MS_MAX = 30_000;

/**
 * Longest wait for a page to be live again once its socket may reconnect: hx-ws retries after a
 * backoff doubling from 0.5 s up to 60 s, so a page kept away for long waits up to a minute more.
 */
export const RECONNECT_WAIT_MS_MAX = 60_000 + PAGE_WAIT_MS_MAX;

/** A hang guard for a browser suite (describe's timeout): never reached unless something hangs. */
export const BROWSER_SUITE_MS_MAX = 600_000;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/**
 * Collects into `problems` what must never happen on our pages: a Content-Security-Policy
 * violation, an uncaught error, a dialog (an injected alert()); each prefixed with `label`.
 */
export function watchForProblems(page: Page, label: string, problems: string[]): void {
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`${label}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${label}: ${error.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`${label}: a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
}

/** Logs in through the log-in form and waits to be sent on. */
export async function logInThroughForm(page: Page, base: string, username: string, password = "correct horse"): Promise<void> {
  await page.goto(`${base}/login`);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('main button[type="submit"]');
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/**
 * What a browser suite holds: a real server, Chromium, the contexts it opened (closed at the
 * end) and the problems its pages showed (watchForProblems). `start` in `before`, `close` in `after`.
 */
export class ChromiumSuite {
  nasty!: Nasty;
  browser!: Browser;
  readonly contexts: BrowserContext[] = [];
  readonly problems: string[] = [];

  get base(): string {
    return this.nasty.url;
  }

  async start(overrides: Record<string, string> = {}): Promise<void> {
    this.nasty = await startTestServer(overrides);
    this.browser = await launchChromium();
  }

  /** A page in a context of its own (its own cookies), watched under `label`. */
  async page(label: string): Promise<Page> {
    const context = await this.browser.newContext({ viewport: { width: 1100, height: 900 } });
    this.contexts.push(context);
    const page = await context.newPage();
    watchForProblems(page, label, this.problems);
    return page;
  }

  /** A page on `pathname`, ready once its live socket is open and subscribed. */
  async live(pathname: string): Promise<Page> {
    const page = await this.page(pathname);
    await page.goto(this.base + pathname);
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: PAGE_WAIT_MS_MAX });
    return page;
  }

  async close(): Promise<void> {
    for (const context of this.contexts) await context.close();
    await this.browser?.close();
    await this.nasty?.close();
  }
}
