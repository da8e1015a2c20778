// Pinboard API v1 under /v1/: its methods, parameters, result codes, XML (default) and format=json.
import { createHash } from "node:crypto";
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Commands } from "../commands/commands.ts";
import { normalizeTags, validUrl, parseDate } from "../commands/schemas.ts";
import { listed, type Bookmark, type Token, type User } from "../store/store.ts";
import { hashToken, tokenFromAuthorization } from "../auth/tokens.ts";
import { clientAddress } from "../auth/password-attempts.ts";
import { BOOKMARK_BODY_BYTES_MAX, route, type Context, type RouterDeps } from "../http/router.ts";
import type { Answer } from "../http/respond.ts";
import { words } from "../search/tokens.ts";
import { escapeXml } from "../render/escape.ts";
import { parseParams } from "../text.ts";

export interface PinboardDeps extends RouterDeps {
  commands: Commands;
}

const RECENT_DEFAULT = 15;
const RECENT_MAX = 100;
const FILTER_TAGS_MAX = 3;
const SUGGESTIONS_MAX = 10;

type Format = "xml" | "json";

/** A method's answer before it is written as XML or JSON. */
type Reply =
  | { kind: "code"; code: string }
  | { kind: "result"; result: string }
  | { kind: "update"; time: number }
  | { kind: "posts"; user: string; date: number | null; tag: string; posts: Bookmark[]; bare: boolean }
  | { kind: "dates"; user: string; tag: string; dates: Map<string, number> }
  | { kind: "tags"; counts: { tag: string; count: number }[] }
  | { kind: "suggest"; popular: string[]; recommended: string[] };

/** Pinboard's times: UTC to the second, "2010-12-11T19:48:02Z". */
function pinboardTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

function postJson(bookmark: Bookmark): Record<string, string> {
  return {
    href: bookmark.url,
    description: bookmark.title,
    extended: bookmark.description,
    meta: md5(`${bookmark.updatedAt}:${bookmark.title}:${bookmark.description}:${bookmark.tags.join(" ")}:${bookmark.public}:${bookmark.unread}`),
    hash: md5(bookmark.url),
    time: pinboardTime(bookmark.insertedAt),
    shared: bookmark.public ? "yes" : "no",
    toread: bookmark.unread ? "yes" : "no",
    tags: bookmark.tags.join(" "),
  };
}

function xmlAttributes(values: Record<string, string>): string {
  return Object.entries(values).map(([name, value]) => `${name}="${escapeXml(value)}"`).join(" ");
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" ?>\n';

function toXml(reply: Reply): string {
  switch (reply.kind) {
    case "code": return `${XML_HEAD}<result code="${escapeXml(reply.code)}" />\n`;
    case "result": return `${XML_HEAD}<result>${escapeXml(reply.result)}</result>\n`;
    case "update": return `${XML_HEAD}<update time="${pinboardTime(reply.time)}" />\n`;
    case "posts": {
      const head: Record<string, string> = reply.bare ? { user: reply.user } : { dt: reply.date === null ? "" : pinboardTime(reply.date), tag: reply.tag, user: reply.user };
      return `${XML_HEAD}<posts ${xmlAttributes(head)}>\n${reply.posts.map((post) => `  <post ${xmlAttributes(postJson(post))} />\n`).join("")}</posts>\n`;
    }
    case "dates":
      return `${XML_HEAD}<dates ${xmlAttributes({ user: reply.user, tag: reply.tag })}>\n${[...reply.dates].map(([date, count]) => `  <date count="${count}" date="${date}" />\n`).join("")}</dates>\n`;
    case "tags":
      return `${XML_HEAD}<tags>\n${reply.counts.map(({ tag, count }) => `  <tag count="${count}" tag="${escapeXml(tag)}" />\n`).join("")}</tags>\n`;
    case "suggest":
      return `${XML_HEAD}<suggested>\n${reply.popular.map((tag) => `  <popular>${escapeXml(tag)}</popular>\n`).join("")}${reply.recommended.map((tag) => `  <recommended>${escapeXml(tag)}</recommended>\n`).join("")}</suggested>\n`;
  }
}

/** Pinboard's JSON: counts are strings, posts/all is a bare array, result codes under result_code. */
function toJson(reply: Reply): unknown {
  switch (reply.kind) {
    case "code": return { result_code: reply.code };
    case "result": return { result: reply.result };
    case "update": return { update_time: pinboardTime(reply.time) };
    case "posts":
      if (reply.bare) return reply.posts.map(postJson);
      return { date: reply.date === null ? "" : pinboardTime(reply.date), user: reply.user, posts: reply.posts.map(postJson) };
    case "dates": return { user: reply.user, tag: reply.tag, dates: Object.fromEntries([...reply.dates].map(([date, count]) => [date, String(count)])) };
    case "tags": return Object.fromEntries(reply.counts.map(({ tag, count }) => [tag, String(count)]));
    case "suggest": return [{ popular: reply.popular }, { recommended: reply.recommended }];
  }
}

function answer(format: Format, reply: Reply, status = 200): Answer {
  if (format === "json") return { status, json: toJson(reply) };
  return { status, body: toXml(reply), contentType: "text/xml; charset=utf-8" };
}

/** The parameters of a call: the query string, and a form body for clients that POST. */
function parameters(context: Context): URLSearchParams {
  const params = new URLSearchParams(context.query);
  if (context.body && context.body.byteLength > 0 && context.headers["content-type"].toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    for (const [name, value] of parseParams(context.body.toString("utf8"), "form field")) params.set(name, value);
  }
  return params;
}

function yesNo(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const raw = (params.get(name) ?? "").trim().toLowerCase();
  if (raw === "") return fallback;
  if (raw === "yes" || raw === "1" || raw === "true") return true;
  if (raw === "no" || raw === "0" || raw === "false") return false;
  throw new HttpError(400, `${name} must be yes or no, got '${raw.slice(0, 20)}'`);
}

function count(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, `${name} must be a whole number, got '${raw.slice(0, 20)}'`);
  return Math.min(Number(raw), max);
}

/** Pinboard tags: separated by spaces (commas tolerated). */
function tagParam(params: URLSearchParams, name = "tags"): string[] {
  return normalizeTags((params.get(name) ?? "").split(/[\s,]+/));
}

function filterTags(params: URLSearchParams): string[] {
  const tags = tagParam(params, "tag");
  if (tags.length > FILTER_TAGS_MAX) throw new HttpError(400, `at most ${FILTER_TAGS_MAX} tags can filter, got ${tags.length}`);
  return tags;
}

function dateParam(params: URLSearchParams, name: string): number | null {
  const raw = params.get(name);
  if (raw === null || raw === "") return null;
  const ms = parseDate(raw);
  if (ms === null) throw new HttpError(400, `${name} must be a UTC date or time like 2010-12-11T19:48:02Z, got '${raw.slice(0, 40)}'`);
  return ms;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The user's bookmarks carrying every tag, newest first (the first `limit` of them). */
function postsOf(user: User, tags: readonly string[], limit = Number.MAX_SAFE_INTEGER): Bookmark[] {
  const found: Bookmark[] = [];
  for (const bookmark of user.bookmarks.newestFirst()) {
    if (found.length >= limit) break;
    if (tags.every((tag) => bookmark.tags.includes(tag))) found.push(bookmark);
  }
  return found;
}

/**
 * Who is calling: `auth_token=user:TOKEN` (the user part must name the token's owner), HTTP
 * Basic with the username and password, or our usual Bearer/Token header. 401 otherwise.
 */
async function caller(deps: PinboardDeps, context: Context, params: URLSearchParams): Promise<{ user: User; token: Token | null; secret: string | null }> {
  const authToken = params.get("auth_token");
  if (authToken !== null) {
    const colon = authToken.indexOf(":");
    const secret = colon < 0 ? authToken : authToken.slice(colon + 1);
    const token = deps.store.activeToken(hashToken(secret));
    if (!token || (colon >= 0 && authToken.slice(0, colon).toLowerCase() !== token.user.username)) throw new HttpError(401, "invalid auth_token; send auth_token=username:TOKEN");
    return { user: token.user, token, secret };
  }
  const authorization = context.headers.authorization;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new HttpError(401, "malformed Basic credentials; send username:password");
    const user = await deps.commands.authenticate({ username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }, clientAddress(context, deps.config.trustProxy));
    return { user, token: null, secret: null };
  }
  if (authorization !== "") {
    const secret = tokenFromAuthorization(authorization);
    const token = secret ? deps.store.activeToken(hashToken(secret)) : undefined;
    if (!token || !secret) throw new HttpError(401, "invalid or revoked token");
    return { user: token.user, token, secret };
  }
  throw new HttpError(401, "authentication required: auth_token=username:TOKEN or HTTP Basic");
}

async function addPost(deps: PinboardDeps, user: User, params: URLSearchParams): Promise<Reply> {
  const rawUrl = params.get("url") ?? "";
  if (rawUrl.trim() === "") return { kind: "code", code: "missing url" };
  const url = validUrl(rawUrl);
  if (url === null) return { kind: "code", code: "invalid url" };
  // Without a title (Pinboard's `description`), Nasty fetches the page's own and shows the URL meanwhile.
  const title = params.get("description") ?? "";
  const fields: Record<string, unknown> = {
    ...(title.trim() === "" ? {} : { title }),
    description: params.get("extended") ?? "",
    tags: tagParam(params),
    public: yesNo(params, "shared", true),
    unread: yesNo(params, "toread", false),
  };
  const existing = deps.store.savedBy(user, url);
  try {
    if (existing) {
      if (!yesNo(params, "replace", true)) return { kind: "code", code: "item already exists" };
      await deps.commands.updateBookmark(user, existing.id, fields);
    } else {
      const date = dateParam(params, "dt");
      await deps.commands.createBookmark(user, { ...fields, url, ...(date === null ? {} : { inserted_at: date }) });
    }
  } catch (error) {
    if (error instanceof HttpError && error.status === 409) return { kind: "code", code: "item already exists" };
    // Anything else, a 422 naming the field included, is answered by call() with its own status.
    throw error;
  }
  return { kind: "code", code: "done" };
}

async function deletePost(deps: PinboardDeps, user: User, params: URLSearchParams): Promise<Reply> {
  const url = validUrl(params.get("url") ?? "");
  if (url === null) return { kind: "code", code: params.get("url") ? "item not found" : "missing url" };
  const existing = deps.store.savedBy(user, url);
  if (!existing) return { kind: "code", code: "item not found" };
  await deps.commands.deleteBookmark(user, existing.id);
  return { kind: "code", code: "done" };
}

function getPosts(deps: PinboardDeps, user: User, params: URLSearchParams): Reply {
  const tags = filterTags(params);
  const tag = tags.join(" ");
  const rawUrl = params.get("url");
  if (rawUrl) {
    const url = validUrl(rawUrl);
    const bookmark = url === null ? undefined : deps.store.savedBy(user, url);
    const posts = bookmark && tags.every((name) => bookmark.tags.includes(name)) ? [bookmark] : [];
    return { kind: "posts", user: user.username, date: posts[0]?.insertedAt ?? null, tag, posts, bare: false };
  }
  const all = postsOf(user, tags);
  const given = dateParam(params, "dt");
  const wanted = given !== null ? day(given) : all[0] ? day(all[0].insertedAt) : null;
  const posts = wanted === null ? [] : all.filter((bookmark) => day(bookmark.insertedAt) === wanted);
  return { kind: "posts", user: user.username, date: wanted === null ? null : Date.parse(`${wanted}T00:00:00Z`), tag, posts, bare: false };
}

function recentPosts(user: User, params: URLSearchParams): Reply {
  const tags = filterTags(params);
  const posts = postsOf(user, tags, count(params, "count", RECENT_DEFAULT, RECENT_MAX));
  return { kind: "posts", user: user.username, date: posts[0]?.insertedAt ?? null, tag: tags.join(" "), posts, bare: false };
}

function allPosts(user: User, params: URLSearchParams): Reply {
  const from = dateParam(params, "fromdt");
  const to = dateParam(params, "todt");
  const start = count(params, "start", 0, Number.MAX_SAFE_INTEGER);
  const results = count(params, "results", Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const posts = postsOf(user, filterTags(params))
    .filter((bookmark) => (from === null || bookmark.insertedAt >= from) && (to === null || bookmark.insertedAt <= to))
    .slice(start, start + results);
  return { kind: "posts", user: user.username, date: null, tag: "", posts, bare: true };
}

function postDates(user: User, params: URLSearchParams): Reply {
  const tags = filterTags(params);
  const dates = new Map<string, number>();
  for (const bookmark of postsOf(user, tags)) {
    const key = day(bookmark.insertedAt);
    dates.set(key, (dates.get(key) ?? 0) + 1);
  }
  return { kind: "dates", user: user.username, tag: tags.join(" "), dates: new Map([...dates].sort((a, b) => (a[0] < b[0] ? 1 : -1))) };
}

/** Popular: tags others gave this URL publicly; recommended: the caller's own tags found in the URL's words. */
function suggest(deps: PinboardDeps, user: User, params: URLSearchParams): Reply {
  const url = validUrl(params.get("url") ?? "");
  if (url === null) return { kind: "suggest", popular: [], recommended: [] };
  const popularity = new Map<string, number>();
  for (const bookmark of deps.store.bookmarksOfUrl(url)) {
    if (!listed(bookmark) || bookmark.user === user) continue;
    for (const tag of bookmark.tags) popularity.set(tag, (popularity.get(tag) ?? 0) + 1);
  }
  const popular = [...popularity].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([tag]) => tag).slice(0, SUGGESTIONS_MAX);
  const urlWords = new Set(words(url));
  const recommended = deps.store.userTagCounts(user, user).map(({ tag }) => tag).filter((tag) => words(tag).some((word) => urlWords.has(word))).slice(0, SUGGESTIONS_MAX);
  return { kind: "suggest", popular, recommended };
}

/**
 * tags/rename and tags/delete: the native tag care commands (one append each). A tag none of the
 * caller's bookmarks carries is already as asked: Pinboard answers "done".
 */
async function retag(change: () => Promise<unknown>): Promise<Reply> {
  try {
    await change();
  } catch (error) {
    if (!(error instanceof HttpError && error.status === 404)) throw error;
  }
  return { kind: "result", result: "done" };
}

function renameTag(deps: PinboardDeps, user: User, params: URLSearchParams): Promise<Reply> | Reply {
  const from = params.get("old") ?? "";
  const to = params.get("new") ?? "";
  if (normalizeTags([from]).length === 0 || normalizeTags([to]).length === 0) return { kind: "result", result: "missing old or new tag" };
  if (normalizeTags([from])[0] === normalizeTags([to])[0]) return { kind: "result", result: "done" };
  return retag(() => deps.commands.renameTag(user, from, { name: to }));
}

function deleteTag(deps: PinboardDeps, user: User, params: URLSearchParams): Promise<Reply> | Reply {
  const tag = params.get("tag") ?? "";
  if (normalizeTags([tag]).length === 0) return { kind: "result", result: "missing tag" };
  return retag(() => deps.commands.deleteTag(user, tag));
}

async function apiToken(deps: PinboardDeps, user: User, secret: string | null): Promise<Reply> {
  if (secret !== null) return { kind: "result", result: secret };
  const issued = await deps.commands.issueToken(user, "api", { name: "pinboard" });
  return { kind: "result", result: issued.secret };
}

type Method = (deps: PinboardDeps, who: { user: User; secret: string | null }, params: URLSearchParams) => Reply | Promise<Reply>;

const METHODS: Record<string, Method> = {
  "posts/update": (_deps, { user }) => ({ kind: "update", time: user.bookmarksChangedAt }),
  "posts/add": (deps, { user }, params) => addPost(deps, user, params),
  "posts/delete": (deps, { user }, params) => deletePost(deps, user, params),
  "posts/get": (deps, { user }, params) => getPosts(deps, user, params),
  "posts/recent": (_deps, { user }, params) => recentPosts(user, params),
  "posts/all": (_deps, { user }, params) => allPosts(user, params),
  "posts/dates": (_deps, { user }, params) => postDates(user, params),
  "posts/suggest": (deps, { user }, params) => suggest(deps, user, params),
  "tags/get": (deps, { user }) => ({ kind: "tags", counts: deps.store.userTagCounts(user, user) }),
  "tags/delete": (deps, { user }, params) => deleteTag(deps, user, params),
  "tags/rename": (deps, { user }, params) => renameTag(deps, user, params),
  "user/api_token": (deps, { user, secret }) => apiToken(deps, user, secret),
};

/** The method names under /v1/ (for tests that walk every route). */
export const PINBOARD_METHOD_NAMES: readonly string[] = Object.keys(METHODS);

/** An operating error as Pinboard answers one: its message as the result code, with its status. */
function failure(format: Format, error: HttpError): Answer {
  const failed = answer(format, { kind: "code", code: error.message }, error.status);
  return { ...failed, headers: { ...failed.headers, ...error.headers } };
}

async function call(deps: PinboardDeps, context: Context): Promise<Answer> {
  let params: URLSearchParams;
  try {
    params = parameters(context);
  } catch (error) {
    // A parameter that is not valid Unicode (422): answered in the format asked for, read from the raw parameters.
    if (!(error instanceof HttpError)) throw error;
    const raw = `${context.rawQuery}&${context.body?.toString("utf8") ?? ""}`;
    return failure(/(?:^|&)format=json(?:&|$)/.test(raw) ? "json" : "xml", error);
  }
  const format: Format = params.get("format") === "json" ? "json" : "xml";
  try {
    const name = context.path.replace(/^\/v1\//, "").replace(/\/+$/, "");
    const method = METHODS[name];
    if (!method) throw new HttpError(404, `no Pinboard method '${name.slice(0, 60)}'; known: ${Object.keys(METHODS).join(", ")}`);
    const who = await caller(deps, context, params);
    if (who.token) {
      const waitSeconds = deps.limiter.take(`token:${who.token.id}`);
      if (waitSeconds > 0) throw new HttpError(429, `rate limit exceeded; retry in ${waitSeconds} s`, {}, { "Retry-After": String(waitSeconds) });
    }
    return answer(format, await method(deps, who, params));
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return failure(format, error);
  }
}

/** Every Pinboard v1 method, by GET (as documented) or POST with a form body. */
export function registerPinboard(app: TemplatedApp, deps: PinboardDeps): void {
  // HTTP Basic checks a password: the peer's address is read for the per-address limit.
  // Pinboard's API changes things with GET (posts/add, posts/delete): in cluster mode it all goes to the leader.
  route(app, deps, "get", "/v1/*", (context) => call(deps, context), { auth: "none", ownAuthorization: true, remoteAddress: true, writes: true });
  // A POST's form body may carry a whole bookmark (posts/add): the bookmark body limit, not 64 KiB. A GET's
  // query is bounded by uWS's request head limit (about 128 KiB), so long text goes by POST.
  route(app, deps, "post", "/v1/*", (context) => call(deps, context), { auth: "none", ownAuthorization: true, body: true, bodyBytesMax: BOOKMARK_BODY_BYTES_MAX, remoteAddress: true });
}
