// Pages for finding and keeping: live search, the reading list (/u/<name>/unread) with its toggle, import and export.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Bookmark, User } from "../store/store.ts";
import type { SearchIndex } from "../search/index.ts";
import { QUERY_CHARS_MAX } from "../search/query.ts";
import { topic } from "../realtime/topics.ts";
import { checkCsrf, checkOrigin, csrfToken } from "../auth/csrf.ts";
import { render, renderReadMark } from "../render/html.ts";
import { bulkBar } from "./pages-care.ts";
import { formBody, route, type Context } from "./router.ts";
import type { Answer } from "./respond.ts";
import { cursorParam, idParam, userParam } from "./params.ts";
import { checkSharedFormWrite, fromHtmx, htmlAnswer, localPath, page, pageOptions, redirect, requireViewer, sessionSeed, type PageContext } from "./page.ts";
import { STATIC_DIR } from "./pages-static.ts";

export const SEARCH_PAGE_SIZE = 50;
const READING_LIST_PAGE_SIZE = 50;

export interface DiscoveryDeps {
  search: SearchIndex;
}

/** For the import upload (cookie login): same origin, and the page's form token in `?_csrf=`. */
export function checkUploadWrite(context: Context): void {
  checkOrigin(context.headers.origin, context.site);
  checkCsrf(sessionSeed(context), context.query.get("_csrf") ?? undefined);
}

interface ResultsView {
  q: string;
  cards: string[];
  older: string | null;
  error: string | null;
  total: string | null;
}

function searchResults(pages: PageContext, deps: DiscoveryDeps, context: Context): ResultsView {
  const q = context.query.get("q") ?? "";
  const view: ResultsView = { q, cards: [], older: null, error: null, total: null };
  if (q.trim() === "") return view;
  if (q.length > QUERY_CHARS_MAX) throw new HttpError(400, `the search is too long (at most ${QUERY_CHARS_MAX} characters)`);
  try {
    const result = deps.search.search({ query: q, viewer: context.viewer, beforeOrd: cursorParam(context), limit: SEARCH_PAGE_SIZE });
    view.cards = result.items.map((bookmark) => pages.cards.html(bookmark, context.viewer));
    view.older = result.nextCursor ? `/search?${new URLSearchParams({ q, cursor: result.nextCursor })}` : null;
  } catch (error) {
    if (!(error instanceof HttpError) || error.status !== 503) throw error;
    view.error = error.message;
  }
  return view;
}

function searchPage(pages: PageContext, deps: DiscoveryDeps, context: Context): Answer {
  const results = searchResults(pages, deps, context);
  if (fromHtmx(context)) return htmlAnswer(200, render("@partials/search-results", results));
  return page(pages, context, "@pages/search", results.q === "" ? "Search" : `Search: ${results.q}`, "search", results);
}

/** The reading list is its owner's alone: someone else's is as good as absent. */
function readingList(pages: PageContext, context: Context, owner: User): Answer {
  const viewer = requireViewer(context);
  if (viewer !== owner) throw new HttpError(404, `only ${owner.username} sees their reading list`);
  const beforeOrd = cursorParam(context);
  const result = pages.store.bookmarks({ viewer, user: owner, unread: true, beforeOrd, limit: READING_LIST_PAGE_SIZE });
  const data = {
    heading: "To read",
    intro: "Bookmarks you marked “read later”. Mark them read from the list when you are done.",
    cards: result.items.map((bookmark) => pages.cards.html(bookmark, viewer)),
    feedId: beforeOrd === undefined ? "feed" : "feed-older",
    older: result.nextCursor ? `${context.path}?cursor=${result.nextCursor}` : null,
    newest: beforeOrd === undefined ? null : context.path,
    emptyText: "Nothing to read. Mark a bookmark “read later” from any list.",
    bulk: bulkBar(context),
  };
  // Live: edits (marking read) replace cards here as they commit.
  return page(pages, context, "@pages/feed", "To read", "mine", data, { live: topic.privateOf(owner.username) });
}

/**
 * POST /b/:id/unread (`unread=true|false`): from the read mark on a card, which only its owner
 * is shown. htmx swaps the answer, the new read mark, in place, on any page (live or not).
 */
async function toggleUnread(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = formBody(context);
  checkSharedFormWrite(context, fields._csrf);
  const unread = fields.unread === "true";
  const bookmark: Bookmark = await pages.commands.updateBookmark(viewer, idParam(context.params[0]), { unread });
  if (fromHtmx(context)) return htmlAnswer(200, renderReadMark(bookmark.id, bookmark.unread));
  return redirect(localPath(fields.next, `/b/${bookmark.id}`));
}

function importPage(pages: PageContext, context: Context, importScript: string): Answer {
  const viewer = requireViewer(context);
  const seed = sessionSeed(context);
  return page(pages, context, "@pages/import", "Import and export", "settings", {
    uploadToken: seed === null ? "" : csrfToken(seed),
    count: viewer.bookmarks.length,
    importScript,
  });
}

export function registerDiscoveryPages(app: TemplatedApp, pages: PageContext, deps: DiscoveryDeps): void {
  const options = pageOptions(pages);
  route(app, pages, "get", "/search", (context) => searchPage(pages, deps, context), options);
  route(app, pages, "get", "/u/:name/unread", (context) => readingList(pages, context, userParam(pages.store, context.params[0] ?? "")), options);
  route(app, pages, "post", "/b/:id/unread", (context) => toggleUnread(pages, context), pageOptions(pages, { body: true }));
  // The upload script, served here under a content-hash version like the other static files.
  const script = fs.readFileSync(path.join(STATIC_DIR, "import.js"));
  const importScript = `/static/import.js?v=${createHash("sha256").update(script).digest("base64url").slice(0, 10)}`;
  route(app, pages, "get", "/static/import.js", () => ({ status: 200, body: script, contentType: "text/javascript; charset=utf-8", headers: { "Cache-Control": "public, max-age=31536000, immutable" } }), { auth: "none" });
  route(app, pages, "get", "/settings/import", (context) => importPage(pages, context, importScript), options);
}
