// Test support for browser suites: Debian's Chromium, headless, driven by playwright-core (never a downloaded browser).
import fs from "node:fs";
import { chromium, type Browser } from "playwright-core";

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

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}
