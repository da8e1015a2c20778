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

const TAG = /<(meta|link)\b([^>]*)>/gi;
const ATTRIBUTE = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
const TITLE = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i;
const CHARSET_META = /<meta\b[^>]*charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)/i;

function attributes(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of text.matchAll(ATTRIBUTE)) {
    const name = match[1]!.toLowerCase();
    if (!found.has(name)) found.set(name, decodeHTMLAttribute(match[2] ?? match[3] ?? match[4] ?? ""));
  }
  return found;
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
  for (const match of text.matchAll(TAG)) {
    const attrs = attributes(match[2]!);
    if (match[1]!.toLowerCase() === "link") {
      const rel = (attrs.get("rel") ?? "").toLowerCase().split(/\s+/);
      if (canonical === undefined && rel.includes("canonical")) canonical = attrs.get("href");
      continue;
    }
    const key = (attrs.get("property") ?? attrs.get("name") ?? "").toLowerCase().trim();
    const content = attrs.get("content");
    if (key !== "" && content !== undefined && !meta.has(key)) meta.set(key, content);
  }
  const titleTag = TITLE.exec(text)?.[1];
  return {
    title: line(meta.get("og:title"), TITLE_CHARS_MAX) ?? line(titleTag === undefined ? undefined : decodeHTML(titleTag), TITLE_CHARS_MAX) ?? line(meta.get("twitter:title"), TITLE_CHARS_MAX),
    description: line(meta.get("description"), DESCRIPTION_CHARS_MAX) ?? line(meta.get("og:description"), DESCRIPTION_CHARS_MAX) ?? line(meta.get("twitter:description"), DESCRIPTION_CHARS_MAX),
    site_name: line(meta.get("og:site_name"), SITE_NAME_CHARS_MAX),
    canonical_url: httpUrl(canonical, pageUrl) ?? httpUrl(meta.get("og:url"), pageUrl),
  };
}
