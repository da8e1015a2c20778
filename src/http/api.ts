// The JSON API under /api: the original app's shapes, token auth, cursor pagination.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import type { Config } from "../config.ts";
import { clientAddress } from "../auth/password-attempts.ts";
import { normalizeTags, validUrl } from "../commands/schemas.ts";
import type { Bookmark, User } from "../store/store.ts";
import { bookmarkJson, commentJson, userJson } from "../render/json.ts";
import { BOOKMARK_BODY_BYTES_MAX, jsonBody, jsonObjectBody, route, type Context, type RouterDeps } from "./router.ts";
import { booleanParam, cursorParam, idParam, intParam, tagsParam, userParam } from "./params.ts";
import type { Answer } from "./respond.ts";
import type { SearchIndex } from "../search/index.ts";
import { QUERY_CHARS_MAX } from "../search/query.ts";
import { registerOpenApi } from "./openapi.ts";
import { registerAdminApi } from "./api-admin.ts";
import type { PageFetcher } from "../fetch/page-fetcher.ts";
import type { LinkChecker } from "../fetch/link-jobs.ts";
import { describeFailure } from "../fetch/page-fetcher.ts";

export interface ApiDeps extends RouterDeps {
  commands: Commands;
  config: Pick<Config, "trustProxy" | "publicUrl">;
  /** Extra members of GET /api/status (log, flush, websockets), gathered by main. */
  status: () => Record<string, unknown>;
  search: SearchIndex;
  fetcher: PageFetcher;
  checker: LinkChecker;
}

const PAGE_LIMIT_DEFAULT = 50;
const PAGE_LIMIT_MAX = 100;
const COMMENTS_SHOWN_MAX = 100;

function object(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * Whose bookmarks `unread=` filters: the viewer's own, always, since the read-later flag is its
 * owner's alone. Without a log-in it is a 401; with `user=` naming someone else, a 400 that says
 * so (an empty list would read as "nothing to read", ignoring the filter as "all of these are");
 * without `user=`, the viewer's own bookmarks.
 */
export function readingListOwner(viewer: User | null, named: User | undefined): User {
  if (!viewer) throw new HttpError(401, "unread= filters your own bookmarks: send 'Authorization: Bearer <token>' (another person's reading list is theirs alone)");
  if (named && named !== viewer) throw new HttpError(400, `unread= filters only your own bookmarks; ${named.username}'s reading list is theirs alone (leave out user= or send user=${viewer.username})`);
  return viewer;
}

/** Whose bookmarks `broken=` filters: the viewer's own, as for unread= (link checks are the owner's alone). */
export function brokenListOwner(viewer: User | null, named: User | undefined): User {
  if (!viewer) throw new HttpError(401, "broken= filters your own bookmarks: send 'Authorization: Bearer <token>' (link checks are shown to their owner alone)");
  if (named && named !== viewer) throw new HttpError(400, `broken= filters only your own bookmarks; ${named.username}'s link checks are theirs alone (leave out user= or send user=${viewer.username})`);
  return viewer;
}

function listBookmarks(deps: ApiDeps, context: Context): Answer {
  const userName = context.query.get("user");
  const rawUrl = context.query.get("url");
  let url: string | undefined;
  if (rawUrl !== null) {
    const normal = validUrl(rawUrl);
    if (normal === null) throw new HttpError(400, "url must be a valid URL");
    url = normal;
  }
  const unread = booleanParam(context, "unread");
  const broken = booleanParam(context, "broken");
  const named = userName ? userParam(deps.store, userName) : undefined;
  const owner = unread === undefined ? named : readingListOwner(context.viewer, named);
  const filters = {
    viewer: context.viewer,
    tags: tagsParam(context),
    user: broken === undefined ? owner : brokenListOwner(context.viewer, owner),
    unread,
    broken,
    beforeOrd: cursorParam(context),
    limit: intParam(context, "limit", PAGE_LIMIT_DEFAULT, 1, PAGE_LIMIT_MAX),
  };
  const query = context.query.get("q") ?? "";
  if (query.length > QUERY_CHARS_MAX) throw new HttpError(400, `q is too long (at most ${QUERY_CHARS_MAX} characters)`);
  if (query.trim() !== "" && url !== undefined) throw new HttpError(400, "q and url cannot be combined; search for site:host instead");
  if (query.trim() !== "" && broken !== undefined) throw new HttpError(400, "q and broken cannot be combined; list your broken links with broken=true alone");
  const page = query.trim() !== "" ? deps.search.search({ ...filters, query }) : deps.store.bookmarks({ ...filters, url });
  return { status: 200, json: { data: page.items.map((bookmark) => bookmarkJson(bookmark, context.viewer, deps.store.links)), next_cursor: page.nextCursor } };
}

async function createBookmark(deps: ApiDeps, context: Context): Promise<Answer> {
  const body = object(jsonBody(context));
  const fields = body ? object(body.bookmark) : null;
  if (!fields) throw new HttpError(400, "Invalid parameters. Expected 'bookmark' object in request body");
  const bookmark = await deps.commands.createBookmark(context.viewer!, fields);
  return { status: 201, json: { bookmark: { data: bookmarkJson(bookmark, context.viewer, deps.store.links), message: "Bookmark created successfully" } }, headers: { Location: `${context.site.origin}/api/bookmarks/${bookmark.id}` } };
}

async function updateBookmark(deps: ApiDeps, context: Context): Promise<Answer> {
  const body = object(jsonBody(context));
  const fields = body && object(body.bookmark) ? object(body.bookmark) : body;
  if (!fields) throw new HttpError(400, "Invalid parameters. Expected 'bookmark' object in request body");
  const bookmark = await deps.commands.updateBookmark(context.viewer!, idParam(context.params[0]), fields);
  return { status: 200, json: { bookmark: { data: bookmarkJson(bookmark, context.viewer, deps.store.links), message: "Bookmark updated successfully" } } };
}

function visible(deps: ApiDeps, context: Context): Bookmark {
  const id = idParam(context.params[0]);
  const bookmark = deps.store.visibleBookmark(id, context.viewer);
  if (!bookmark) throw new HttpError(404, `no bookmark ${id}`);
  return bookmark;
}

function listComments(deps: ApiDeps, context: Context): Answer {
  const bookmark = visible(deps, context);
  const limit = intParam(context, "limit", COMMENTS_SHOWN_MAX, 1, COMMENTS_SHOWN_MAX);
  return { status: 200, json: { data: deps.store.recentComments(bookmark, limit, context.viewer).map(commentJson), total: bookmark.comments?.length ?? 0 } };
}

async function postComment(deps: ApiDeps, context: Context): Promise<Answer> {
  const body = object(jsonBody(context));
  const fields = body && object(body.comment) ? object(body.comment) : body;
  if (!fields) throw new HttpError(400, "Invalid parameters. Expected a 'comment' object with a 'body'");
  const comment = await deps.commands.postComment(context.viewer!, idParam(context.params[0]), fields);
  return { status: 201, json: { comment: { data: commentJson(comment), message: "Comment posted successfully" } } };
}

async function bulkEdit(deps: ApiDeps, context: Context): Promise<Answer> {
  const body = object(jsonBody(context));
  if (!body) throw new HttpError(400, "Invalid parameters. Expected an object with 'ids', 'action' and (for add_tags, remove_tags) 'tags'");
  const result = await deps.commands.bulkEdit(context.viewer!, body);
  return { status: 200, json: { data: result } };
}

async function renameTag(deps: ApiDeps, context: Context): Promise<Answer> {
  const body = object(jsonBody(context));
  if (!body) throw new HttpError(400, "Invalid parameters. Expected an object with the tag's new 'name'");
  const result = await deps.commands.renameTag(context.viewer!, context.params[0] ?? "", body);
  return { status: 200, json: { data: result } };
}

function listTags(deps: ApiDeps, context: Context): Answer {
  const userName = context.query.get("user");
  const prefix = (context.query.get("q") ?? "").trim().toLowerCase();
  const limit = intParam(context, "limit", 100, 1, 1000);
  const counts = userName ? deps.store.userTagCounts(userParam(deps.store, userName), context.viewer) : deps.store.publicTagCounts();
  const data = (prefix ? counts.filter((entry) => entry.tag.startsWith(prefix)) : counts).slice(0, limit);
  return { status: 200, json: { data } };
}

/**
 * GET /api/bookmarks/check?url=: what the page says about itself (fetched now, within the fetch
 * bounds) and the viewer's own bookmark of that URL if they saved it (or of the URL it redirected
 * to, or of the page's canonical URL), so a bookmarklet or the
 * extension can prefill its form. A fetch that fails answers 200 with `metadata: null` and why.
 */
async function checkUrl(deps: ApiDeps, context: Context): Promise<Answer> {
  const raw = context.query.get("url");
  if (raw === null || raw.trim() === "") throw new HttpError(400, "url is required: /api/bookmarks/check?url=https://…");
  const url = validUrl(raw);
  if (url === null) throw new HttpError(400, "url must be an absolute http(s) URL");
  const outcome = await deps.fetcher.metadata(url);
  // The address given, else where it led (redirects), else the address the page names as its own.
  const saved = deps.store.savedBy(context.viewer!, url) ?? deps.store.savedBy(context.viewer!, outcome.finalUrl) ??
    (outcome.ok && outcome.metadata.canonical_url !== null ? deps.store.savedBy(context.viewer!, outcome.metadata.canonical_url) : undefined);
  return {
    status: 200,
    json: {
      url,
      saved: saved ? bookmarkJson(saved, context.viewer, deps.store.links) : null,
      metadata: outcome.ok ? outcome.metadata : null,
      fetch: { status: outcome.status, final_url: outcome.finalUrl, error: outcome.ok ? null : describeFailure(outcome) },
    },
  };
}

/** POST /api/bookmarks/:id/check: the owner's "re-check now", recorded like the checker's own. */
async function recheck(deps: ApiDeps, context: Context): Promise<Answer> {
  const bookmark = deps.commands.ownBookmark(context.viewer!, idParam(context.params[0]));
  await deps.checker.checkNow(bookmark);
  const current = deps.store.visibleBookmark(bookmark.id, context.viewer);
  if (!current) throw new HttpError(404, `bookmark ${bookmark.id} was deleted while its link was checked`);
  return { status: 200, json: { data: bookmarkJson(current, context.viewer, deps.store.links) } };
}

function randomBookmarks(deps: ApiDeps, context: Context, count: number): Answer {
  return { status: 200, json: { data: deps.store.randomPublic(count).map((bookmark) => bookmarkJson(bookmark, context.viewer)) } };
}

export function registerApi(app: TemplatedApp, deps: ApiDeps): void {
  const startedAtMs = Date.now();
  const read = { auth: "optional" } as const;
  const cachedRead = { auth: "optional", cache: true } as const;
  const write = { auth: "required", body: true } as const;
  const bookmarkWrite = { ...write, bodyBytesMax: BOOKMARK_BODY_BYTES_MAX } as const;

  route(app, deps, "post", "/api/users", async (context) => {
    const body = object(jsonBody(context));
    const fields = body && object(body.user) ? object(body.user) : null;
    if (!fields) throw new HttpError(400, "Invalid parameters. Expected 'user' object with 'username' and 'password'");
    const { user, secret } = await deps.commands.register(fields, clientAddress(context, deps.config.trustProxy));
    return { status: 201, json: { user: { username: user.username }, token: secret } };
  }, { auth: "none", body: true, remoteAddress: true });

  route(app, deps, "post", "/api/tokens", async (context) => {
    const body = object(jsonBody(context));
    if (!body) throw new HttpError(400, "Invalid parameters. Expected an object with 'username' and 'password'");
    const user = await deps.commands.authenticate(body, clientAddress(context, deps.config.trustProxy));
    const { secret } = await deps.commands.issueToken(user, "api", { name: typeof body.name === "string" ? body.name : "api" });
    return { status: 201, json: { token: secret } };
  }, { auth: "none", body: true, remoteAddress: true });

  route(app, deps, "get", "/api/me", (context) => ({
    status: 200,
    json: { user: { ...userJson(context.viewer!), role: context.viewer!.role }, token: { name: context.token!.name, kind: context.token!.kind } },
  }), { auth: "required" });
  route(app, deps, "post", "/api/me/password", async (context) => {
    await deps.commands.changePassword(context.viewer!, context.token!, jsonObjectBody(context, "'current_password' and 'new_password'"));
    return { status: 204 };
  }, write);
  route(app, deps, "del", "/api/me", async (context) => {
    await deps.commands.deleteOwnAccount(context.viewer!, jsonObjectBody(context, "your 'password'"));
    return { status: 204 };
  }, write);

  route(app, deps, "get", "/api/bookmarks", (context) => listBookmarks(deps, context), cachedRead);
  route(app, deps, "post", "/api/bookmarks", (context) => createBookmark(deps, context), bookmarkWrite);
  route(app, deps, "post", "/api/bookmarks/bulk", (context) => bulkEdit(deps, context), write);
  // The session cookie counts too: the add form's script asks it (a GET that changes nothing; no CORS, so only this site reads the answer).
  route(app, deps, "get", "/api/bookmarks/check", (context) => checkUrl(deps, context), { auth: "required", cookie: true });
  route(app, deps, "get", "/api/bookmarks/random", (context) => randomBookmarks(deps, context, intParam(context, "n", 20, 1, 100)), read);
  route(app, deps, "get", "/api/scramble", (context) => randomBookmarks(deps, context, 20), read);
  route(app, deps, "get", "/api/bookmarks/:id", (context) => ({ status: 200, json: { data: bookmarkJson(visible(deps, context), context.viewer, deps.store.links) } }), cachedRead);
  route(app, deps, "post", "/api/bookmarks/:id/check", (context) => recheck(deps, context), { auth: "required" });
  route(app, deps, "patch", "/api/bookmarks/:id", (context) => updateBookmark(deps, context), bookmarkWrite);
  route(app, deps, "del", "/api/bookmarks/:id", async (context) => {
    await deps.commands.deleteBookmark(context.viewer!, idParam(context.params[0]));
    return { status: 204 };
  }, { auth: "required" });
  route(app, deps, "get", "/api/bookmarks/:id/comments", (context) => listComments(deps, context), cachedRead);
  route(app, deps, "post", "/api/bookmarks/:id/comments", (context) => postComment(deps, context), write);
  route(app, deps, "del", "/api/comments/:id", async (context) => {
    await deps.commands.deleteComment(context.viewer!, idParam(context.params[0], "comment"));
    return { status: 204 };
  }, { auth: "required" });
  route(app, deps, "get", "/api/tags", (context) => listTags(deps, context), cachedRead);
  route(app, deps, "patch", "/api/tags/:name", (context) => renameTag(deps, context), write);
  route(app, deps, "del", "/api/tags/:name", async (context) => {
    await deps.commands.deleteTag(context.viewer!, context.params[0] ?? "");
    return { status: 204 };
  }, { auth: "required" });

  route(app, deps, "get", "/api/status", () => ({
    status: 200,
    json: {
      uptime_s: Math.round((Date.now() - startedAtMs) / 1000),
      users: deps.store.usersById.size,
      bookmarks: deps.store.bookmarksById.size,
      public_bookmarks: deps.store.publicBookmarks.length,
      comments: deps.store.commentCount,
      events: { applied: deps.store.eventsApplied, last_seq: deps.store.lastSeq },
      ...deps.status(),
    },
  }), { auth: "none" });

  registerAdminApi(app, deps);
  registerOpenApi(app, deps);

  route(app, deps, "any", "/api/*", (context) => {
    throw new HttpError(404, `no API route ${context.method.toUpperCase()} ${context.path}`);
  }, { auth: "none" });
}
