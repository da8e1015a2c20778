// urlKey: when two URLs are the same bookmark. Every duplicate check, the URL index and "also saved by" go through it.

/**
 * Query parameters that only say where a click came from: dropped from the key. `utm_*` is matched
 * as a prefix; all names ignore case.
 */
const TRACKING_PARAMETERS: ReadonlySet<string> = new Set(["fbclid", "gclid", "mc_cid", "mc_eid"]);

function isTracking(pair: string): boolean {
  const equals = pair.indexOf("=");
  const name = (equals < 0 ? pair : pair.slice(0, equals)).toLowerCase();
  return name.startsWith("utm_") || TRACKING_PARAMETERS.has(name);
}

function nameOf(pair: string): string {
  const equals = pair.indexOf("=");
  return equals < 0 ? pair : pair.slice(0, equals);
}

/** A tracking parameter anywhere in a query string. */
const TRACKING_IN_QUERY = /[?&](?:utm_[^&]*|fbclid|gclid|mc_cid|mc_eid)(?:[=&]|$)/i;

/** Whether the pairs of `search` are already sorted by name, with no empty pair: then queryKey keeps it as it is. */
function sortedPairs(search: string): boolean {
  let previous = "";
  for (let start = 1; start <= search.length; ) {
    let end = search.indexOf("&", start);
    if (end < 0) end = search.length;
    if (end === start) return false;
    let equals = search.indexOf("=", start);
    if (equals < 0 || equals > end) equals = end;
    const name = search.slice(start, equals);
    if (name < previous) return false;
    previous = name;
    start = end + 1;
  }
  return true;
}

/** `?b=2&a=1&utm_source=x` → `?a=1&b=2`: tracking parameters dropped, the rest sorted by name (stably), as written. */
function queryKey(search: string): string {
  if (search.length <= 1) return "";
  if (!TRACKING_IN_QUERY.test(search) && sortedPairs(search)) return search;
  const kept = search.slice(1).split("&").filter((pair) => pair !== "" && !isTracking(pair));
  if (kept.length === 0) return "";
  if (kept.length > 1) kept.sort((a, b) => {
    const nameA = nameOf(a);
    const nameB = nameOf(b);
    return nameA < nameB ? -1 : nameA > nameB ? 1 : 0;
  });
  return `?${kept.join("&")}`;
}

function withoutWww(host: string): string {
  return host.startsWith("www.") ? host.slice(4) : host;
}

/**
 * The key by the WHATWG URL parser, which lower-cases scheme and host (IDNA included), drops the
 * default port, writes an empty path as `/`, resolves dot segments and percent-encodes what must be.
 * Then: a leading `www.` is dropped, the fragment too, and the query goes through queryKey. Text
 * that is not a URL (never stored: every stored URL was checked) is its own key.
 */
export function urlKeyByParser(url: string): string {
  const trimmed = url.trim();
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    return trimmed;
  }
  const userInfo = parsed.username !== "" || parsed.password !== "" ? `${parsed.username}${parsed.password === "" ? "" : `:${parsed.password}`}@` : "";
  const port = parsed.port === "" ? "" : `:${parsed.port}`;
  return `${parsed.protocol}//${userInfo}${withoutWww(parsed.hostname)}${port}${parsed.pathname}${queryKey(parsed.search)}`;
}

/**
 * A lower-case DNS name whose last label starts with a letter (so no IPv4 form, which the parser
 * rewrites): the parser leaves it as written, unless a label is punycode (`xn--`, checked apart).
 */
const HOST = String.raw`(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*`;
/** Path characters the parser never encodes (no space, quote, angle bracket, backslash, `^`, `|`…). */
const PATH = String.raw`\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*`;
/** Query characters the parser never encodes in an http(s) URL. */
const QUERY = String.raw`\?[A-Za-z0-9\-._~!$%&()*+,/:;=?@[\\\]^\`{|}]*`;

/**
 * URLs the parser would leave exactly as written: lower-case http(s), HOST, no port, no user, a
 * path and query of characters the parser never encodes. Anything else takes the parser's path.
 */
const PLAIN_URL = new RegExp(String.raw`^(https?):\/\/(${HOST})(${PATH})?(${QUERY})?(#.*)?$`);
/** The commonest URL, already its own key: a plain URL with a path, no query, no fragment, no leading `www.`. */
const OWN_KEY = new RegExp(String.raw`^https?:\/\/(?!www\.)${HOST}${PATH}$`);
/** Path pieces the parser changes: dot segments, written plainly or percent-encoded. */
const DOT_SEGMENT = /\/\.|%2e/i;

/** OWN_KEY without a dot segment or a punycode label: urlKey gives it back as it is, one test, nothing allocated. */
function ownKey(url: string): boolean {
  return OWN_KEY.test(url) && !url.includes("/.") && !url.includes("xn--") && (!url.includes("%") || !DOT_SEGMENT.test(url));
}

/**
 * The one duplicate key of a URL: scheme and host lower-cased, the default port dropped, a
 * leading `www.` ignored, the fragment dropped, tracking parameters (utm_*, fbclid, gclid,
 * mc_cid, mc_eid) dropped, the other query parameters sorted by name, an empty path equal to `/`.
 * `https://www.Example.com:443?utm_source=x&b=2&a=1#top` and `https://example.com/?a=1&b=2` have
 * one key. Bookmarks store the URL as the person gave it; logs written before keep the parser's
 * form (`https://example.com/`), which has the same key, so old and new match.
 *
 * Replay computes this once per bookmark, so the common case (a URL the parser would not change)
 * is read with one regular expression instead of a parse, about five times quicker; it gives the
 * same key as urlKeyByParser (test/url-key.test.ts holds them equal on generated URLs).
 */
export function urlKey(url: string): string {
  if (ownKey(url)) return url;
  const plain = PLAIN_URL.exec(url);
  if (plain === null) return urlKeyByParser(url);
  const [, scheme, host, path = "/", search = "", fragment] = plain;
  if (DOT_SEGMENT.test(path) || host!.includes("xn--")) return urlKeyByParser(url);
  const query = queryKey(search);
  // Already its own key (with a sorted query): the same string back.
  if (fragment === undefined && query === search && plain[3] !== undefined && !host!.startsWith("www.")) return url;
  return `${scheme}://${withoutWww(host!)}${path}${query}`;
}
