// CSRF tokens for forms: derived from the session secret (or, before log-in, a random cookie), checked on every page POST.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { HttpError } from "../errors.ts";
import { isSiteOrigin, type SiteOrigin } from "./site-origin.ts";

/** The cookie that seeds form tokens for visitors who are not logged in (log-in and sign-up forms). */
export const CSRF_COOKIE = "nasty_csrf";
/** The hidden form field carrying the token. */
export const CSRF_FIELD = "_csrf";

export function newCsrfSeed(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * The form token for a seed: an HMAC of it, so a page's HTML never reveals the session secret,
 * and an attacker's site, which cannot read the victim's cookies, cannot compute it. It needs no
 * server-side state, so forms in open tabs stay valid across restarts.
 */
export function csrfToken(seed: string): string {
  return createHmac("sha256", seed).update("nasty form token").digest("base64url");
}

/** Throws 403 unless `submitted` is the token of `seed`. */
export function checkCsrf(seed: string | null, submitted: string | undefined): void {
  const stale = new HttpError(403, "this form's security token is missing or out of date (did you log in or out in another tab?); reload the page and try again");
  if (!seed || !submitted) throw stale;
  const expected = Buffer.from(csrfToken(seed));
  const actual = Buffer.from(submitted);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw stale;
}

/**
 * A cross-site POST from a browser carries an Origin that is not ours (site-origin.ts says what
 * ours is): refuse it even before looking at the token. A missing Origin (old browsers, curl)
 * falls back to the token alone.
 */
export function checkOrigin(origin: string, site: SiteOrigin): void {
  if (origin === "") return;
  if (!isSiteOrigin(origin, site)) throw new HttpError(403, `cross-site form post from ${origin.slice(0, 80)} refused (this site is ${site.origin})`);
}
