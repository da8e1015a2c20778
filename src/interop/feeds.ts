// RSS 2.0 and Atom feeds of the firehose, of tags (and tag combinations) and of people: public bookmarks only.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { normalizeTags } from "../commands/schemas.ts";
import type { Bookmark, BookmarkQuery } from "../store/store.ts";
import { parseTagSetTopic, parseTopic } from "../realtime/topics.ts";
import { isoTime } from "../render/json.ts";
import { safeHref } from "../render/html.ts";
import { renderNotes } from "../render/markdown.ts";
import { route, type Context, type RouterDeps } from "../http/router.ts";
import type { Answer } from "../http/respond.ts";
import { intParam, userParam } from "../http/params.ts";
import { escapeXml } from "../render/escape.ts";
import { percentDecodeAll, uriComponent } from "../text.ts";

export const FEED_ITEMS_DEFAULT = 50;
export const FEED_ITEMS_MAX = 100;
/** As many tags as a tag page combines. */
export const FEED_TAGS_MAX = 8;

export const RSS_TYPE = "application/rss+xml; charset=utf-8";
export const ATOM_TYPE = "application/atom+xml; charset=utf-8";

export interface FeedsDeps extends RouterDeps {
}

type Format = "rss" | "atom";

/** What a feed is of: its title, the page it mirrors, its own path (without extension) and its query. */
interface FeedSpec {
  title: string;
  description: string;
  pagePath: string;
  feedPath: string;
  query: Omit<BookmarkQuery, "limit">;
}

/** "name.rss" → ["name", "rss"]; 404 for any other ending. */
function splitFile(file: string): [string, Format] {
  const match = /^(.+)\.(rss|atom)$/.exec(file);
  if (!match) throw new HttpError(404, `no feed '${file.slice(0, 60)}': feeds end in .rss or .atom`);
  return [match[1]!, match[2] as Format];
}

function tagSpec(raw: string): FeedSpec {
  const decoded = percentDecodeAll(raw.split("+"));
  if (decoded === null) throw new HttpError(400, "the tags in this address have percent-escapes that are not UTF-8");
  const tags = normalizeTags(decoded);
  if (tags.length === 0) throw new HttpError(404, "no tag given");
  if (tags.length > FEED_TAGS_MAX) throw new HttpError(400, `at most ${FEED_TAGS_MAX} tags can be combined, got ${tags.length}`);
  const path = tags.map(uriComponent).join("+");
  const label = tags.map((tag) => `#${tag}`).join(" + ");
  return { title: `nasty: ${label}`, description: `Public bookmarks tagged ${label}, newest first.`, pagePath: `/t/${path}`, feedPath: `/feeds/t/${path}`, query: { viewer: null, tags } };
}

/** RFC 822 dates, as RSS 2.0 wants them. */
function rfc822(ms: number): string {
  return new Date(ms).toUTCString().replace("GMT", "+0000");
}

/** A cheap validator of a feed's content: the items and their last changes (FNV-1a). */
function etagOf(format: Format, base: string, items: readonly Bookmark[]): string {
  let hash = 0x811c9dc5;
  const mix = (value: number) => {
    hash = Math.imul(hash ^ (value & 0xffffffff), 0x01000193) >>> 0;
    hash = Math.imul(hash ^ Math.floor(value / 0x100000000), 0x01000193) >>> 0;
  };
  for (const bookmark of items) {
    mix(bookmark.id);
    mix(bookmark.updatedAt);
  }
  for (let index = 0; index < base.length; index += 1) mix(base.charCodeAt(index));
  return `W/"${format}-${items.length}-${hash.toString(36)}"`;
}

/**
 * An item's full content as HTML, or "" when the bookmark has no notes (its description alone is
 * the item's plain-text description/summary already): the description as a paragraph, then the
 * notes through the pages' sanitizing renderer. Callers escape it into the XML as text, never
 * CDATA, so no `]]>` or markup in notes can end the element early.
 */
export function contentHtml(bookmark: Bookmark): string {
  const notes = renderNotes(bookmark.notes);
  if (notes === "") return "";
  return bookmark.description === "" ? notes : `<p>${escapeXml(bookmark.description)}</p>\n${notes}`;
}

/** An item's link: the saved URL as a URI (`https://example.com/a%20b`), though it is stored as the person typed it. */
function linkOf(bookmark: Bookmark): string {
  return safeHref(bookmark.url) ?? bookmark.url;
}

export function rssFeed(spec: FeedSpec, base: string, items: readonly Bookmark[]): string {
  const parts = [
    `<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n`,
    `<title>${escapeXml(spec.title)}</title>\n<link>${escapeXml(base + spec.pagePath)}</link>\n<description>${escapeXml(spec.description)}</description>\n`,
    `<atom:link href="${escapeXml(`${base}${spec.feedPath}.rss`)}" rel="self" type="application/rss+xml"/>\n<generator>nasty</generator>\n`,
  ];
  if (items[0]) parts.push(`<lastBuildDate>${rfc822(Math.max(...items.map((bookmark) => bookmark.updatedAt)))}</lastBuildDate>\n`);
  for (const bookmark of items) {
    const permalink = `${base}/b/${bookmark.id}`;
    const content = contentHtml(bookmark);
    parts.push(
      "<item>\n",
      `<title>${escapeXml(bookmark.title)}</title>\n<link>${escapeXml(linkOf(bookmark))}</link>\n`,
      bookmark.description === "" ? "" : `<description>${escapeXml(bookmark.description)}</description>\n`,
      content === "" ? "" : `<content:encoded>${escapeXml(content)}</content:encoded>\n`,
      `<guid isPermaLink="true">${escapeXml(permalink)}</guid>\n<comments>${escapeXml(permalink)}</comments>\n`,
      `<pubDate>${rfc822(bookmark.insertedAt)}</pubDate>\n<dc:creator>${escapeXml(bookmark.user.username)}</dc:creator>\n`,
      ...bookmark.tags.map((tag) => `<category domain="${escapeXml(`${base}/t/${uriComponent(tag)}`)}">${escapeXml(tag)}</category>\n`),
      "</item>\n",
    );
  }
  parts.push("</channel>\n</rss>\n");
  return parts.join("");
}

export function atomFeed(spec: FeedSpec, base: string, items: readonly Bookmark[]): string {
  const updated = items.length > 0 ? Math.max(...items.map((bookmark) => bookmark.updatedAt)) : 0;
  const parts = [
    `<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n`,
    `<title>${escapeXml(spec.title)}</title>\n<subtitle>${escapeXml(spec.description)}</subtitle>\n<id>${escapeXml(base + spec.feedPath)}</id>\n`,
    `<link rel="self" type="application/atom+xml" href="${escapeXml(`${base}${spec.feedPath}.atom`)}"/>\n`,
    `<link rel="alternate" type="text/html" href="${escapeXml(base + spec.pagePath)}"/>\n`,
    `<updated>${isoTime(updated)}</updated>\n<generator>nasty</generator>\n`,
  ];
  for (const bookmark of items) {
    const permalink = `${base}/b/${bookmark.id}`;
    const content = contentHtml(bookmark);
    parts.push(
      "<entry>\n",
      `<title type="text">${escapeXml(bookmark.title)}</title>\n<id>${escapeXml(permalink)}</id>\n`,
      `<link rel="alternate" href="${escapeXml(linkOf(bookmark))}"/>\n<link rel="replies" type="text/html" href="${escapeXml(permalink)}"/>\n`,
      `<published>${isoTime(bookmark.insertedAt)}</published>\n<updated>${isoTime(bookmark.updatedAt)}</updated>\n`,
      `<author><name>${escapeXml(bookmark.user.username)}</name><uri>${escapeXml(`${base}/u/${bookmark.user.username}`)}</uri></author>\n`,
      bookmark.description === "" ? "" : `<summary type="text">${escapeXml(bookmark.description)}</summary>\n`,
      content === "" ? "" : `<content type="html">${escapeXml(content)}</content>\n`,
      ...bookmark.tags.map((tag) => `<category term="${escapeXml(tag)}" scheme="${escapeXml(`${base}/t/`)}"/>\n`),
      "</entry>\n",
    );
  }
  parts.push("</feed>\n");
  return parts.join("");
}

function serveFeed(deps: FeedsDeps, context: Context, spec: FeedSpec, format: Format): Answer {
  const items = deps.store.bookmarks({ ...spec.query, limit: intParam(context, "limit", FEED_ITEMS_DEFAULT, 1, FEED_ITEMS_MAX) }).items;
  const base = context.site.origin;
  const etag = etagOf(format, base, items);
  const headers = { ETag: etag, "Cache-Control": "public, max-age=60" };
  if (context.headers["if-none-match"] === etag) return { status: 304, headers };
  const body = format === "rss" ? rssFeed(spec, base, items) : atomFeed(spec, base, items);
  return { status: 200, body, contentType: format === "rss" ? RSS_TYPE : ATOM_TYPE, headers };
}

/** /feeds/firehose.{rss,atom}, /feeds/t/rust+web.{rss,atom}, /feeds/u/NAME.{rss,atom}; `?limit=` up to 100. */
export function registerFeeds(app: TemplatedApp, deps: FeedsDeps): void {
  // Kept as bytes per address the client used: links in a feed are absolute (siteOrigin).
  const options = { auth: "none", cache: { vary: ["host", "x-forwarded-host", "x-forwarded-proto"] } } as const;
  route(app, deps, "get", "/feeds/:file", (context) => {
    const [name, format] = splitFile(context.params[0] ?? "");
    if (name !== "firehose") throw new HttpError(404, `no feed '${name.slice(0, 60)}'; try /feeds/firehose.rss`);
    return serveFeed(deps, context, { title: "nasty: the firehose", description: "Every public bookmark, newest first.", pagePath: "/", feedPath: "/feeds/firehose", query: { viewer: null } }, format);
  }, options);
  route(app, deps, "get", "/feeds/t/*", (context) => {
    const [raw, format] = splitFile(context.path.slice("/feeds/t/".length));
    return serveFeed(deps, context, tagSpec(raw), format);
  }, options);
  route(app, deps, "get", "/feeds/u/:file", (context) => {
    const [name, format] = splitFile(context.params[0] ?? "");
    const user = userParam(deps.store, name);
    const spec = { title: `nasty: ${user.username}`, description: `Public bookmarks of ${user.username}, newest first.`, pagePath: `/u/${user.username}`, feedPath: `/feeds/u/${user.username}`, query: { viewer: null, user } };
    return serveFeed(deps, context, spec, format);
  }, options);
}

