// linkding's REST API under /api/…/ (trailing slash: uWS keeps those apart from our /api routes), with its field names.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import { LIMITS, validUrl } from "../commands/schemas.ts";
import type { Bookmark, BookmarkList, User } from "../store/store.ts";
import { isoTime } from "../render/json.ts";
import { BOOKMARK_BODY_BYTES_MAX, jsonBody, route, type Context, type RouteOptions, type RouterDeps } from "../http/router.ts";
import { errorAnswer, type Answer } from "../http/respond.ts";
import { idParam } from "../http/params.ts";
import type { PageFetcher } from "../fetch/page-fetcher.ts";
import type { SearchIndex } from "../search/index.ts";
import { QUERY_CHARS_MAX } from "../search/query.ts";
import { charsOver, textProblem } from "../text.ts";

export interface LinkdingDeps extends RouterDeps {
  commands: Commands;
  search: SearchIndex;
  /** Fills check/'s metadata as linkding does (fetched now; all null when fetching is off or fails). */
  fetcher: PageFetcher;
}

const LIMIT_DEFAULT = 100;
const LIMIT_MAX = 1000;

/** linkding field → ours (for inputs and for naming fields in errors). */
const FIELD_NAMES: Record<string, string> = { url: "url", title: "title", description: "description", notes: "notes", shared: "public", unread: "unread", tag_names: "tags" };
const OUR_FIELD_NAMES = Object.fromEntries(Object.entries(FIELD_NAMES).map(([theirs, ours]) => [ours, theirs]));

export function linkdingBookmark(bookmark: Bookmark): Record<string, unknown> {
  return {
    id: bookmark.id,
    url: bookmark.url,
    title: bookmark.title,
    description: bookmark.description,
    notes: bookmark.notes,
    web_archive_snapshot_url: "",
    favicon_url: null,
    preview_image_url: null,
    is_archived: false,
    unread: bookmark.unread,
    shared: bookmark.public,
    tag_names: bookmark.tags,
    date_added: isoTime(bookmark.insertedAt),
    date_modified: isoTime(bookmark.updatedAt),
    website_title: null,
    website_description: null,
  };
}

/** Tags have no ids of their own here: a stable 31-bit hash of the name stands in (FNV-1a). */
export function tagId(name: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < name.length; index += 1) hash = Math.imul(hash ^ name.charCodeAt(index), 0x01000193) >>> 0;
  return (hash & 0x7fffffff) || 1;
}

/** The user's tags as linkding lists them, with the date each was first used. */
function tagsOf(user: User): { id: number; name: string; date_added: string }[] {
  const first = new Map<string, number>();
  for (const bookmark of user.bookmarks.values()) {
    for (const tag of bookmark.tags) first.set(tag, Math.min(first.get(tag) ?? Infinity, bookmark.insertedAt));
  }
  return [...first].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([name, at]) => ({ id: tagId(name), name, date_added: isoTime(at) }));
}

/** linkding's input fields mapped onto ours (`notes` kept as our notes); archiving refused. */
function ourFields(body: Record<string, unknown>): Record<string, unknown> {
  if (body.is_archived === true) throw new HttpError(400, "Nasty has no archive: is_archived cannot be true", { is_archived: ["Nasty has no archive."] });
  const fields: Record<string, unknown> = {};
  for (const [theirs, ours] of Object.entries(FIELD_NAMES)) if (body[theirs] !== undefined) fields[ours] = body[theirs];
  return fields;
}

/** The text fields linkding clients send (tag names included), checked for valid Unicode before anything else. */
const TEXT_FIELDS = [...Object.keys(FIELD_NAMES), "name"];

/**
 * Text that is not valid Unicode is refused with 422 under linkding's field name; every other field
 * error is DRF's 400 (linkdingError), which linkding's clients read.
 */
function checkText(body: Record<string, unknown>): void {
  for (const name of TEXT_FIELDS) {
    const value = body[name];
    const texts = typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
    for (const text of texts) {
      const problem = textProblem(text, "any");
      if (problem !== null) throw new HttpError(422, `${name} ${problem}`, { [name]: [problem] });
    }
  }
}

function bodyObject(context: Context): Record<string, unknown> {
  const body = jsonBody(context);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "expected a JSON object", { non_field_errors: ["Invalid data. Expected a dictionary."] });
  checkText(body as Record<string, unknown>);
  return body as Record<string, unknown>;
}

/** DRF's answers: field errors at the top level under linkding's names, `detail` for the rest. */
function linkdingError(error: unknown, context: Context): Answer {
  if (!(error instanceof HttpError)) return errorAnswer(error, context.requestId);
  const fieldErrors = error.extra.errors as Record<string, string[]> | undefined;
  if (error.status === 422 && fieldErrors) {
    const named = Object.fromEntries(Object.entries(fieldErrors).map(([field, messages]) => [OUR_FIELD_NAMES[field] ?? field, messages]));
    return { status: 400, json: named };
  }
  const { errors: _unused, ...extra } = error.extra;
  return { status: error.status, json: { detail: error.message, ...extra }, headers: error.headers };
}

function pageParams(context: Context): { limit: number; offset: number } {
  const read = (name: string, fallback: number, max: number) => {
    const raw = context.query.get(name);
    if (raw === null || raw === "") return fallback;
    if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, `${name} must be a whole number, got '${raw.slice(0, 20)}'`);
    return Math.min(Number(raw), max);
  };
  return { limit: Math.max(1, read("limit", LIMIT_DEFAULT, LIMIT_MAX)), offset: read("offset", 0, Number.MAX_SAFE_INTEGER) };
}

/** `{count, next, previous, results}` with absolute next/previous links, as DRF's limit-offset pagination. */
/** A list to page through: how long it is and one window of it (so a long list is never copied whole). */
interface Listing<T> {
  count: number;
  window(offset: number, limit: number): T[];
}

function listing<T>(all: readonly T[]): Listing<T> {
  return { count: all.length, window: (offset, limit) => all.slice(offset, offset + limit) };
}

function paginated<T>(deps: LinkdingDeps, context: Context, all: Listing<T>, toJson: (item: T) => unknown): Answer {
  const { limit, offset } = pageParams(context);
  const link = (at: number) => {
    const query = new URLSearchParams(context.query);
    query.set("limit", String(limit));
    query.set("offset", String(at));
    return `${context.site.origin}${context.path}?${query}`;
  };
  return {
    status: 200,
    json: {
      count: all.count,
      next: offset + limit < all.count ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: all.window(offset, limit).map(toJson),
    },
  };
}

/** linkding's `unread=yes|no|off` (absent: off): true, false or undefined; anything else is a 400. */
function unreadFilter(context: Context): boolean | undefined {
  const raw = (context.query.get("unread") ?? "").toLowerCase();
  if (raw === "" || raw === "off") return undefined;
  if (raw === "yes" || raw === "no") return raw === "yes";
  throw new HttpError(400, `unread must be yes, no or off, got '${raw.slice(0, 20)}'`, { unread: ["Select a valid choice."] });
}

/** The caller's own bookmarks only (linkding has no one else's): so is `unread=`, their reading list. */
function listBookmarks(deps: LinkdingDeps, context: Context, archived: boolean): Answer {
  const viewer = context.viewer!;
  const query = (context.query.get("q") ?? "").trim();
  if (query.length > QUERY_CHARS_MAX) throw new HttpError(400, `q is too long (at most ${QUERY_CHARS_MAX} characters)`);
  const unread = unreadFilter(context);
  let all: Listing<Bookmark>;
  if (archived) all = listing([]);
  else if (query === "" && unread === undefined) all = newestFirst(viewer.bookmarks);
  else if (query === "") all = listing(deps.store.bookmarks({ viewer, user: viewer, unread, limit: viewer.bookmarks.length + 1 }).items);
  else all = listing(deps.search.search({ query, viewer, user: viewer, unread, limit: viewer.bookmarks.length + 1 }).items);
  return paginated(deps, context, all, linkdingBookmark);
}

/** An oldest-first list read newest first, by index. */
function newestFirst(list: BookmarkList): Listing<Bookmark> {
  return { count: list.length, window: (offset, limit) => list.newest(limit, offset) };
}

function ownBookmark(deps: LinkdingDeps, context: Context): Bookmark {
  return deps.commands.ownBookmark(context.viewer!, idParam(context.params[0]));
}

/** POST /api/bookmarks/: a URL the user already saved is updated instead, as linkding does. */
async function createBookmark(deps: LinkdingDeps, context: Context): Promise<Answer> {
  const viewer = context.viewer!;
  const body = bodyObject(context);
  const fields: Record<string, unknown> = { public: false, ...ourFields(body) };
  const url = typeof fields.url === "string" ? validUrl(fields.url) : null;
  const existing = url === null ? undefined : deps.store.savedBy(viewer, url);
  if (existing) {
    const { url: _same, ...changes } = fields;
    if (typeof changes.title === "string" && changes.title.trim() === "") delete changes.title;
    const updated = await deps.commands.updateBookmark(viewer, existing.id, changes);
    return { status: 201, json: linkdingBookmark(updated) };
  }
  const bookmark = await deps.commands.createBookmark(viewer, fields);
  return { status: 201, json: linkdingBookmark(bookmark) };
}

async function updateBookmark(deps: LinkdingDeps, context: Context, full: boolean): Promise<Answer> {
  const bookmark = ownBookmark(deps, context);
  const body = bodyObject(context);
  if (full && body.url === undefined) throw new HttpError(400, "url is required", { url: ["This field is required."] });
  const updated = await deps.commands.updateBookmark(context.viewer!, bookmark.id, ourFields(body));
  return { status: 200, json: linkdingBookmark(updated) };
}

async function checkUrl(deps: LinkdingDeps, context: Context): Promise<Answer> {
  const raw = context.query.get("url") ?? "";
  if (raw === "") throw new HttpError(400, "url is required", { url: ["This field is required."] });
  const url = validUrl(raw);
  const bookmark = url === null ? undefined : deps.store.savedBy(context.viewer!, url);
  const fetched = url === null ? null : await deps.fetcher.metadata(url);
  const metadata = fetched?.ok ? fetched.metadata : null;
  return {
    status: 200,
    json: {
      bookmark: bookmark ? linkdingBookmark(bookmark) : null,
      metadata: { url: url ?? raw, title: metadata?.title ?? null, description: metadata?.description ?? null, preview_image: null },
      auto_tags: [],
    },
  };
}

function findTag(context: Context): { id: number; name: string; date_added: string } {
  const id = idParam(context.params[0], "tag");
  const tag = tagsOf(context.viewer!).find((candidate) => candidate.id === id);
  if (!tag) throw new HttpError(404, "Not found.");
  return tag;
}

/** Tags exist here only on bookmarks: creating one answers its would-be record and stores nothing. */
function createTag(context: Context): Answer {
  const body = bodyObject(context);
  const name = typeof body.name === "string" ? body.name.trim().toLowerCase().replace(/\s+/g, "-") : "";
  if (name === "" || charsOver(name, LIMITS.tagCharsMax) || name.includes(",") || textProblem(name, "line") !== null) throw new HttpError(400, "name must be a tag of 1–64 characters without commas", { name: ["Enter a valid tag name."] });
  const existing = tagsOf(context.viewer!).find((tag) => tag.name === name);
  return { status: 201, json: existing ?? { id: tagId(name), name, date_added: isoTime(Date.now()) } };
}

/** Renames (or merges, onto a tag in use) one of the viewer's tags with the native command: linkding's tag record comes back under its new name. */
async function renameTag(deps: LinkdingDeps, context: Context): Promise<Answer> {
  const tag = findTag(context);
  const body = bodyObject(context);
  const { name } = await deps.commands.renameTag(context.viewer!, tag.name, { name: body.name });
  const renamed = tagsOf(context.viewer!).find((candidate) => candidate.name === name);
  return { status: 200, json: renamed ?? { id: tagId(name ?? ""), name, date_added: tag.date_added } };
}

const PROFILE = {
  theme: "auto",
  bookmark_date_display: "relative",
  bookmark_link_target: "_blank",
  web_archive_integration: "disabled",
  tag_search: "lax",
  enable_sharing: true,
  enable_public_sharing: true,
  enable_favicons: false,
  display_url: false,
  permanent_notes: false,
  search_preferences: { sort: "added_desc", shared: "off", unread: "off" },
};

export function registerLinkding(app: TemplatedApp, deps: LinkdingDeps): void {
  const read: RouteOptions = { auth: "required", onError: linkdingError };
  const write: RouteOptions = { ...read, body: true };
  const bookmarkWrite: RouteOptions = { ...write, bodyBytesMax: BOOKMARK_BODY_BYTES_MAX };
  route(app, deps, "get", "/api/bookmarks/", (context) => listBookmarks(deps, context, false), read);
  route(app, deps, "get", "/api/bookmarks/archived/", (context) => listBookmarks(deps, context, true), read);
  route(app, deps, "post", "/api/bookmarks/", (context) => createBookmark(deps, context), bookmarkWrite);
  route(app, deps, "get", "/api/bookmarks/check/", (context) => checkUrl(deps, context), read);
  route(app, deps, "get", "/api/bookmarks/:id/", (context) => ({ status: 200, json: linkdingBookmark(ownBookmark(deps, context)) }), read);
  route(app, deps, "put", "/api/bookmarks/:id/", (context) => updateBookmark(deps, context, true), bookmarkWrite);
  route(app, deps, "patch", "/api/bookmarks/:id/", (context) => updateBookmark(deps, context, false), bookmarkWrite);
  route(app, deps, "del", "/api/bookmarks/:id/", async (context) => {
    await deps.commands.deleteBookmark(context.viewer!, ownBookmark(deps, context).id);
    return { status: 204 };
  }, read);
  route(app, deps, "post", "/api/bookmarks/:id/archive/", (context) => {
    ownBookmark(deps, context);
    throw new HttpError(400, "Nasty has no archive; bookmarks cannot be archived");
  }, read);
  // Nothing is ever archived, so unarchiving always succeeds at once.
  route(app, deps, "post", "/api/bookmarks/:id/unarchive/", (context) => {
    ownBookmark(deps, context);
    return { status: 204 };
  }, read);
  route(app, deps, "get", "/api/tags/", (context) => paginated(deps, context, listing(tagsOf(context.viewer!)), (tag) => tag), read);
  route(app, deps, "get", "/api/tags/:id/", (context) => ({ status: 200, json: findTag(context) }), read);
  route(app, deps, "post", "/api/tags/", (context) => createTag(context), write);
  route(app, deps, "put", "/api/tags/:id/", (context) => renameTag(deps, context), write);
  route(app, deps, "patch", "/api/tags/:id/", (context) => renameTag(deps, context), write);
  route(app, deps, "del", "/api/tags/:id/", async (context) => {
    await deps.commands.deleteTag(context.viewer!, findTag(context).name);
    return { status: 204 };
  }, read);
  route(app, deps, "get", "/api/user/profile/", () => ({ status: 200, json: PROFILE }), read);
}
