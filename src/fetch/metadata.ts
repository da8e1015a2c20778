// What a fetched HTML page says about itself: title, description, site name and canonical URL, decoded and cleaned into plain text (never HTML).
import { decodeHTML, decodeHTMLAttribute } from "entities";
import { repairText, truncate } from "../text.ts";

export interface PageMetadata {
  title: string | null;
  description: string | null;
  site_name: string | null;
  canonical_url: string | null;
}

/** Lengths kept of what a page says (the bookmark's own limits, commands/schemas.ts LIMITS). */
const TITLE_CHARS_MAX = 500;
const DESCRIPTION_CHARS_MAX = 10_000;
const SITE_NAME_CHARS_MAX = 200;
const URL_CHARS_MAX = 2048;
/** Only the start of a page is searched: the head comes first, and a regex over 2 MiB costs. */
const SCANNED_CHARS_MAX = 512 * 1024;

const TAG_START = /<(meta|link|title)\b/gi;
const TITLE_END = /<\/title\s*>/gi;
const ATTRIBUTE = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
const CHARSET_META = /<meta\b[^>]*charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)/i;

function attributes(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of text.matchAll(ATTRIBUTE)) {
    const name = match[1]!.toLowerCase();
    if (!found.has(name)) found.set(name, decodeHTMLAttribute(match[2] ?? match[3] ?? match[4] ?? ""));
  }
  return found;
}

/**
 * The index of the '>' that closes a tag whose attributes start at `from`, or -1 when the text
 * ends first. As in a browser, a quote right after '=' opens a value that a '>' does not end.
 */
function tagEnd(text: string, from: number): number {
  let quote = "";
  let valueNext = false;
  for (let index = from; index < text.length; index += 1) {
    const char = text[index]!;
    if (quote !== "") {
      if (char === quote) quote = "";
    } else if (char === ">") {
      return index;
    } else if (valueNext && (char === '"' || char === "'")) {
      quote = char;
      valueNext = false;
    } else if (char === "=") {
      valueNext = true;
    } else if (!/\s/.test(char)) {
      valueNext = false;
    }
  }
  return -1;
}

interface HeadTag {
  name: "meta" | "link" | "title";
  /** The attribute text; for <title>, the text up to </title>. */
  text: string;
}

/**
 * The <meta>, <link> and <title> tags, in one pass: the search resumes after each tag (after
 * </title> for a title, whose content holds no tags), and a tag or title still open at the end
 * of the text ends it, so no input costs more than one walk over the text.
 */
function* headTags(text: string): Generator<HeadTag> {
  const start = new RegExp(TAG_START.source, "gi");
  for (let match = start.exec(text); match !== null; match = start.exec(text)) {
    const name = match[1]!.toLowerCase() as HeadTag["name"];
    const from = match.index + match[0].length;
    const end = tagEnd(text, from);
    if (end === -1) return;
    if (name !== "title") {
      yield { name, text: text.slice(from, end) };
      start.lastIndex = end + 1;
      continue;
    }
    const close = new RegExp(TITLE_END.source, "gi");
    close.lastIndex = end + 1;
    const closing = close.exec(text);
    if (closing === null) return;
    yield { name, text: text.slice(end + 1, closing.index) };
    start.lastIndex = close.lastIndex;
  }
}

/** One line of plain text: whitespace collapsed, what a stored line cannot hold replaced, cut to `max`. */
function line(text: string | undefined, max: number): string | null {
  if (text === undefined) return null;
  const cleaned = repairText(text.replace(/\s+/g, " ").trim(), "line").text;
  return cleaned === "" ? null : truncate(cleaned, max);
}

/** An absolute http(s) URL, resolved against the page's own address; else null. */
function httpUrl(raw: string | undefined, base: string): string | null {
  if (raw === undefined || raw.trim() === "") return null;
  try {
    const url = new URL(raw.trim(), base);
    return (url.protocol === "http:" || url.protocol === "https:") && url.href.length <= URL_CHARS_MAX ? url.href : null;
  } catch {
    return null;
  }
}

/** The body as text: the charset of the Content-Type header, else of a meta tag, else UTF-8. */
export function decodeBody(body: Buffer, contentType: string): string {
  const declared = /charset\s*=\s*["']?([A-Za-z0-9_.:-]+)/i.exec(contentType)?.[1] ?? CHARSET_META.exec(body.subarray(0, 2048).toString("latin1"))?.[1] ?? "utf-8";
  try {
    return new TextDecoder(declared).decode(body.subarray(0, SCANNED_CHARS_MAX * 4));
  } catch {
    return new TextDecoder("utf-8").decode(body.subarray(0, SCANNED_CHARS_MAX * 4));
  }
}

/**
 * Reads a page's metadata: Open Graph first for the title (og:title, then <title>), the meta
 * description first for the description (then og:description), og:site_name, and the canonical
 * link (then og:url) resolved against `pageUrl`. Entities are decoded; the result is plain text,
 * which every renderer escapes like any other stored text.
 */
export function extractMetadata(html: string, pageUrl: string): PageMetadata {
  const text = html.length > SCANNED_CHARS_MAX ? html.slice(0, SCANNED_CHARS_MAX) : html;
  const meta = new Map<string, string>();
  let canonical: string | undefined;
  let titleTag: string | undefined;
  for (const tag of headTags(text)) {
    if (tag.name === "title") {
      titleTag ??= tag.text;
      continue;
    }
    const attrs = attributes(tag.text);
    if (tag.name === "link") {
      const rel = (attrs.get("rel") ?? "").toLowerCase().split(/\s+/);
      if (canonical === undefined && rel.includes("canonical")) canonical = attrs.get("href");
      continue;
    }
    const key = (attrs.get("property") ?? attrs.get("name") ?? "").toLowerCase().trim();
    const content = attrs.get("content");
    if (key !== "" && content !== undefined && !meta.has(key)) meta.set(key, content);
  }
  return {
    title: line(meta.get("og:title"), TITLE_CHARS_MAX) ?? line(titleTag === undefined ? undefined : decodeHTML(titleTag), TITLE_CHARS_MAX) ?? line(meta.get("twitter:title"), TITLE_CHARS_MAX),
    description: line(meta.get("description"), DESCRIPTION_CHARS_MAX) ?? line(meta.get("og:description"), DESCRIPTION_CHARS_MAX) ?? line(meta.get("twitter:description"), DESCRIPTION_CHARS_MAX),
    site_name: line(meta.get("og:site_name"), SITE_NAME_CHARS_MAX),
    canonical_url: httpUrl(canonical, pageUrl) ?? httpUrl(meta.get("og:url"), pageUrl),
  };
}
