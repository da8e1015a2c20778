// What every page shares: chrome, security headers, CSRF, HTML errors.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import type { Config } from "../config.ts";
import { isAdmin, type User } from "../store/store.ts";
import { CSRF_COOKIE, CSRF_FIELD, checkCsrf, checkOrigin, csrfToken, newCsrfSeed } from "../auth/csrf.ts";
import { csrfSeedCookie } from "../auth/sessions.ts";
import { render, type CardCache } from "../render/html.ts";
import type { StatsSources } from "../render/stats.ts";
import { formParams, type Context, type RouteOptions, type RouterDeps } from "./router.ts";
import { SESSION_COOKIE, cookieValue } from "../auth/cookies.ts";
import type { Answer } from "./respond.ts";
import type { Assets } from "./pages-static.ts";
import { feedLinks } from "./feed-links.ts";
import { uriComponent } from "../text.ts";

export interface PagesDeps extends RouterDeps {
  commands: Commands;
  /** Rendered cards, shared with the live feed. */
  cards: CardCache;
  config: Pick<Config, "trustProxy" | "publicUrl" | "signup">;
  stats: StatsSources;
  /** The seq of the last event applied: a page follows its live topic from there (`/live?since=`), so nothing falls between render and connect. */
  liveHead: () => number;
  /** Page routes of other parts (search, reading list, import), registered before the catch-all. */
  extraPages?: (app: TemplatedApp, pages: PageContext) => void;
}

export interface PageContext extends PagesDeps {
  assets: Assets;
}

export const HTML_TYPE = "text/html; charset=utf-8";

/**
 * No inline script, no inline style, no eval: scripts and styles come from our own origin only
 * (htmx runs without eval as long as pages use no hx-on or js: values). `connect-src 'self'`
 * covers fetch and the same-origin live websocket.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE_HEADERS = { "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store", "X-Frame-Options": "DENY" };

/**
 * Every page route: the session cookie counts as a log-in, and errors answer as HTML pages.
 * `cache`: for visitors who are not logged in the page depends only on its URL and the store (no
 * forms, no random picks), so it is rendered once per event and its bytes served until the next.
 */
export function pageOptions(pages: PageContext, extra: Pick<RouteOptions, "body" | "bodyBytesMax" | "cache"> = {}): RouteOptions {
  return { auth: "optional", cookie: true, remoteAddress: true, speaks: "html", onError: (error, context) => errorPage(pages, error, context), ...extra };
}

export function htmlAnswer(status: number, body: string, headers: Record<string, string> = {}): Answer {
  return { status, body, contentType: HTML_TYPE, headers: { ...PAGE_HEADERS, ...headers } };
}

export function redirect(location: string, headers: Record<string, string> = {}): Answer {
  return { status: 303, body: "", contentType: HTML_TYPE, headers: { ...PAGE_HEADERS, Location: location, ...headers } };
}

/** The seed of this request's form tokens: the session secret when logged in by cookie, else the pre-log-in cookie. */
function csrfSeed(context: Context): string | null {
  if (context.via === "cookie") return cookieValue(context.headers.cookie, SESSION_COOKIE);
  return context.headers.cookie === "" ? null : cookieValue(context.headers.cookie, CSRF_COOKIE);
}

export function secureCookies(context: Context): boolean {
  return context.site.secure;
}

export interface PageOptions {
  status?: number;
  /** The topic the page follows live over /live. */
  live?: string | null;
  /** The page shows forms to a visitor who is not logged in: make sure they have a CSRF seed cookie. */
  anonymousForms?: boolean;
  headers?: Record<string, string>;
}

/** Renders `template` inside the layout with the chrome every page shares. */
export function page(pages: PageContext, context: Context | null, template: string, title: string, section: string, data: object, options: PageOptions = {}): Answer {
  const headers: Record<string, string> = { ...options.headers };
  let seed = context ? csrfSeed(context) : null;
  if (seed === null && context && options.anonymousForms) {
    seed = newCsrfSeed();
    headers["Set-Cookie"] = csrfSeedCookie(seed, secureCookies(context));
  }
  const body = render(template, {
    ...data,
    title,
    section,
    viewer: context?.viewer?.username ?? null,
    admin: isAdmin(context?.viewer ?? null),
    csrf: seed === null ? "" : csrfToken(seed),
    live: options.live ?? null,
    liveUrl: options.live ? `/live?topic=${uriComponent(options.live)}&since=${pages.liveHead()}` : null,
    feeds: feedLinks(options.live),
    assets: pages.assets,
  });
  return htmlAnswer(options.status ?? 200, body, headers);
}

/** The CSRF token for forms rendered outside a full page (htmx partial answers). */
export function formToken(context: Context): string {
  const seed = csrfSeed(context);
  return seed === null ? "" : csrfToken(seed);
}

/** Reads a page form: same-origin, with a valid CSRF token; returns its fields. */
export function readForm(context: Context): Record<string, string> {
  return Object.fromEntries(readFormParams(context));
}

/** readForm, keeping repeated fields (the ticked checkboxes of a list). */
export function readFormParams(context: Context): URLSearchParams {
  checkOrigin(context.headers.origin, context.site);
  const fields = formParams(context);
  checkCsrf(csrfSeed(context), fields.get(CSRF_FIELD) ?? undefined);
  return fields;
}

/** The CSRF seed of a logged-in page visitor: their session secret (forms before log-in have their own). */
export function sessionSeed(context: Context): string | null {
  return context.via === "cookie" ? cookieValue(context.headers.cookie, SESSION_COOKIE) : null;
}

/**
 * A write from a page whose markup is shared by every viewer (cards are rendered once per event)
 * cannot carry a per-viewer form token. It must come from our own origin: browsers send Origin
 * on every POST, and the session cookie is SameSite=Lax, so another site can neither send it
 * with a POST nor forge the Origin. A request with a valid `_csrf` passes too (non-browser use).
 */
export function checkSharedFormWrite(context: Context, submittedToken: string | undefined): void {
  if (submittedToken) {
    checkOrigin(context.headers.origin, context.site);
    checkCsrf(sessionSeed(context), submittedToken);
    return;
  }
  if (context.headers.origin === "") throw new HttpError(403, "this form must be sent by a browser from this site (no Origin header)");
  checkOrigin(context.headers.origin, context.site);
}

export function requireViewer(context: Context): User {
  if (!context.viewer) throw new HttpError(401, "log in to see this page");
  return context.viewer;
}

/** True when htmx sent the request (it swaps the answer into the page instead of navigating). */
export function fromHtmx(context: Context): boolean {
  return context.headers["hx-request"] === "true";
}

/** A local path to go to after logging in; anything else (other sites, `//host`) becomes `/bookmarks`. */
export function localPath(raw: string | null | undefined, fallback = "/bookmarks"): string {
  return raw && /^\/(?![/\\])[\x21-\x7e]*$/.test(raw) ? raw : fallback;
}

const ERROR_HEADINGS: Record<number, string> = { 400: "Bad request", 401: "Log in first", 403: "Not allowed", 404: "Not found", 409: "Already there", 413: "Too large", 415: "Not a form", 422: "Please check the form", 429: "Slow down", 503: "Try again shortly" };

/** Any error on a page becomes an HTML page naming the problem; a GET that needs a log-in goes to the log-in page. */
export function errorPage(pages: PageContext, error: unknown, context: Context | null): Answer {
  if (!(error instanceof HttpError)) {
    // The guard has logged it with its stack under the request id, which the page names.
    const message = `internal error; it has been logged as ${context?.requestId ?? "?"}`;
    return page(pages, context, "@pages/error", "Error", "", { heading: "Something went wrong", message }, { status: 500 });
  }
  if (error.status === 401 && context?.method === "get" && !context.viewer) {
    const next = context.path + (context.rawQuery !== "" ? `?${context.rawQuery}` : "");
    return redirect(`/login?next=${uriComponent(next)}`);
  }
  const heading = ERROR_HEADINGS[error.status] ?? "Error";
  return page(pages, context, "@pages/error", heading, "", { heading, message: error.message }, { status: error.status, headers: error.headers });
}
