// Fuzz inputs: seeded generators of hostile text, path segments, query strings, JSON, forms and bookmark files.
import { below, chance, pick, type Random } from "../../src/simulator/random.ts";

/** Text that has broken parsers, escapers and renderers somewhere: each is a reason it is here. */
export const NASTY_STRINGS: readonly string[] = [
  "", " ", "x", "alice", "..", ".", "/", "\\", "%", "%%", "%zz", "%E0", "%ED%A0%80", "%C0%AF", "%00", "%FF%FE",
  "\u0000", "\u0001\u001f\u007f", "\t\r\n", "\r\n\r\nHTTP/1.1 200 OK", "\ud800", "\udfff", "x\ud800", "\udc00\ud800", "\ufffe", "\uffff", "\u{1fffe}", "\u{10ffff}",
  "\ufeff", "\u200b\u200d", "\u202e\u202d", "e\u0301\u0301\u0301", "😀", "👩‍👩‍👧‍👦", "ﷺ", "𝕳", "İı", "ß", "\u00a0", "\u2028\u2029",
  "<script>alert(1)</script>", "\"'><img src=x onerror=alert(1)>", "]]><![CDATA[", "&amp;&#0;&#xD800;&#99999999;&rarr;&#150;", "<!--", "{{ it.x }}", "<%= x %>",
  "${x}", "`", "'; DROP TABLE events; --", "NaN", "Infinity", "-0", "1e309", "0x10", "99999999999999999999999", "-1", "0", "4294967296", "9007199254740993",
  "true", "null", "[]", "{}", "__proto__", "constructor", "prototype", "toString", "hasOwnProperty",
  "https://example.com", "https://www.example.com/?utm_source=x#top", "http://[::1]:99999/", "javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd",
  "http://%zz/", "https://example.com/\ud800", "http://a b.example/", "//example.com", "https:", "mailto:a@b", "ftp://x", "HTTPS://EXAMPLE.COM:443/",
  "bookmarks:firehose", "bookmarks:tag:x", "bookmarks:user:alice:private", "bookmark:1", "tag:x", "stats", "phoenix",
];

export function nastyString(random: Random): string {
  return pick(random, NASTY_STRINGS);
}

/** A code point from a range chosen to reach the edges: ASCII, controls, BMP, surrogates, non-characters, astral. */
function codeUnit(random: Random): string {
  switch (below(random, 8)) {
    case 0: return String.fromCharCode(0x20 + below(random, 95));
    case 1: return String.fromCharCode(below(random, 0x20));
    case 2: return String.fromCharCode(0xd800 + below(random, 0x800));
    case 3: return pick(random, ["\ufffe", "\uffff", "\ufdd0", "\ufdef", "\u{1ffff}", "\u{10fffe}"]);
    case 4: return String.fromCodePoint(0x10000 + below(random, 0x100000));
    case 5: return String.fromCharCode(0x80 + below(random, 0x780));
    default: return "abcdefghijklmnopqrstuvwxyz0123456789-_."[below(random, 39)]!;
  }
}

/** A string of 0 to `lengthMax` characters: usually plain, sometimes any UTF-16 code unit. */
export function text(random: Random, lengthMax = 40): string {
  if (chance(random, 0.25)) return nastyString(random);
  const length = below(random, lengthMax + 1);
  const plain = chance(random, 0.5);
  let result = "";
  for (let index = 0; index < length; index += 1) result += plain ? "abcdefghijklmnopqrstuvwxyz0123456789 -"[below(random, 38)]! : codeUnit(random);
  return result;
}

/** Lengths near the limits the server declares (titles, tags, bodies), and far beyond. */
export function longText(random: Random): string {
  const length = pick(random, [100, 255, 256, 1000, 1001, 2000, 4096, 10_000, 20_001, 70_000]);
  return (chance(random, 0.5) ? "a" : pick(random, ["é", "😀", "\ud800", "<", "&"])).repeat(length).slice(0, length);
}

function percentByte(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
}

/** encodeURIComponent that never throws: a lone surrogate goes as U+FFFD (what UTF-8 encoders send). */
export function escapeAll(value: string): string {
  return escapeSome(() => 1, value, /[^A-Za-z0-9._~-]/);
}

/** Each character's percent-escaped UTF-8, made once: long values repeat a few characters many times. */
const escapedCharacters = new Map<string, string>();
const ESCAPED_CHARACTERS_MAX = 100_000;

function escapedCharacter(character: string): string {
  let escaped = escapedCharacters.get(character);
  if (escaped === undefined) {
    escaped = [...Buffer.from(character, "utf8")].map(percentByte).join("");
    if (escapedCharacters.size < ESCAPED_CHARACTERS_MAX) escapedCharacters.set(character, escaped);
  }
  return escaped;
}

/** Percent-encodes UTF-8 bytes, each character escaped or not at random (as clients disagree). */
function escapeSome(random: Random, value: string, always: RegExp): string {
  // A long value is escaped whole, byte by byte, in one pass: per-character choices there cost more than they find.
  if (value.length > 512) return Buffer.from(value, "utf8").toString("hex").toUpperCase().replace(/../g, "%$&");
  const parts: string[] = [];
  for (const character of value) parts.push(always.test(character) || chance(random, 0.3) ? escapedCharacter(character) : character);
  return parts.join("");
}

/** Escapes no valid UTF-8 decoder accepts: truncated, overlong, surrogates, stray continuation bytes, not hex. */
const BAD_ESCAPES = ["%", "%2", "%zz", "%E0", "%E0%A4", "%C0%80", "%C1%BF", "%ED%A0%80", "%ED%BF%BF", "%F4%90%80%80", "%F8%88%80%80%80", "%80", "%BF", "%FE", "%FF", "%%30", "%u0041", "%2e%2e", "%2F", "%5C", "%00", "%0d%0a"];

/** One segment as sent on the request line: may be raw non-ASCII, escaped, or broken. */
export function pathSegment(random: Random, value: string): string {
  switch (below(random, 6)) {
    case 0: return pick(random, BAD_ESCAPES) + (chance(random, 0.5) ? escapeSome(random, value, /[^A-Za-z0-9._~-]/) : "");
    case 1: return pick(random, ["..", ".", "", "%2e%2e", "..%2f..%2f..", "...."]);
    case 2: return value.replace(/[\u0000-\u0020\u007f?#]/g, "_"); // raw bytes on the request line (UTF-8)
    default: return escapeSome(random, value, /[^A-Za-z0-9._~!$&'()*+,;=:@-]/);
  }
}

/** A value that stands where an id goes: real, huge, negative, fractional, words. */
export function idLike(random: Random, known: readonly number[]): string {
  if (known.length > 0 && chance(random, 0.55)) return String(pick(random, known));
  return pick(random, ["0", "-1", "1.5", "1e3", "0x1f", "007", "99999999999999999999999999", "9007199254740993", "4294967297", "NaN", "abc", "", " 1", "1 ", "1/2", String(below(random, 100_000))]);
}

/** Names the routes read from queries, forms and JSON: a random value on a known name reaches the code behind it. */
export const FIELD_NAMES = [
  "q", "user", "tag", "tags", "page", "per_page", "limit", "offset", "n", "cursor", "before", "after", "url", "title", "description", "extended", "shared", "toread",
  "replace", "dt", "count", "results", "start", "fromdt", "todt", "meta", "format", "auth_token", "old", "new", "tag_names", "unread", "public", "private", "folders",
  "_csrf", "next", "topic", "topics", "token", "vsn", "prefix", "archived", "sort", "id", "body", "username", "password", "name", "bookmark", "user_id", "is_archived",
  "notes", "hash", "check", "all", "since", "until", "older", "newer", "ids", "tag_set", "callback", "jsonp", "utf8", "fields",
] as const;

export function fieldName(random: Random): string {
  return chance(random, 0.85) ? pick(random, FIELD_NAMES) : text(random, 12);
}

/** A value for `name`: plausible most of the time so the code behind the name is reached, hostile otherwise. */
export function fieldValue(random: Random, name: string, ids: readonly number[]): string {
  if (chance(random, 0.35)) return chance(random, 0.15) ? longText(random) : text(random);
  switch (name) {
    case "url": return pick(random, ["https://example.com", "https://fuzz.example/" + below(random, 1000), "http://www.example.com/?utm_source=x&b=2&a=1#f", "ftp://nope", "https://例え.jp/パス"]);
    case "page": case "limit": case "offset": case "n": case "count": case "results": case "start": case "per_page": case "id":
      return idLike(random, ids);
    case "format": return pick(random, ["json", "xml", "rss", "atom", "html", ""]);
    case "shared": case "toread": case "public": case "unread": case "private": case "folders": case "replace": case "archived": case "is_archived":
      return pick(random, ["yes", "no", "true", "false", "1", "0", "on", "", "maybe"]);
    case "dt": case "fromdt": case "todt": case "before": case "after": case "since":
      return pick(random, ["2024-01-01T00:00:00Z", "2024-13-45", "0", "-271821-04-20T00:00:00Z", "9999-12-31T23:59:59Z", new Date(below(random, 2 ** 31) * 1000).toISOString()]);
    case "tags": case "tag": case "tag_names": case "old": case "new":
      return Array.from({ length: 1 + below(random, 4) }, () => pick(random, ["fuzz", "x", "tag", "🏷", "a b", "UPPER", "x\ud800", ""])).join(pick(random, [" ", ",", "+"]));
    case "topic": case "topics": return pick(random, ["bookmarks:firehose", "bookmarks:tag:fuzz", "bookmarks:user:alice", "bookmarks:user:alice:private", `bookmark:${idLike(random, ids)}`, "stats", "tags:a+b", "tag:x"]);
    default: return text(random);
  }
}

/** A query string: known names with random values, repeats, bare keys, broken escapes; sometimes empty. */
export function queryString(random: Random, ids: readonly number[], fixed: Record<string, string> = {}): string {
  const parts: string[] = Object.entries(fixed).map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  const count = chance(random, 0.3) ? 0 : 1 + below(random, chance(random, 0.05) ? 300 : 5);
  for (let index = 0; index < count; index += 1) {
    const name = fieldName(random);
    const value = fieldValue(random, name, ids);
    switch (below(random, 8)) {
      case 0: parts.push(escapeSome(random, name, /[^A-Za-z0-9_-]/)); break;
      case 1: parts.push(`${escapeSome(random, name, /[^A-Za-z0-9_-]/)}=${pick(random, BAD_ESCAPES)}${escapeSome(random, value, /[^A-Za-z0-9_-]/)}`); break;
      case 2: parts.push(`=${escapeSome(random, value, /[^A-Za-z0-9_-]/)}`); break;
      default: parts.push(`${escapeSome(random, name, /[^A-Za-z0-9_-]/)}=${escapeSome(random, value, /[^A-Za-z0-9._~-]/)}`);
    }
  }
  return parts.join(chance(random, 0.05) ? ";" : "&");
}

/** A random JSON value, `depth` levels at most, keys mostly the routes' own names. */
export function jsonValue(random: Random, depth: number, ids: readonly number[]): unknown {
  const kind = depth <= 0 ? below(random, 6) : below(random, 9);
  switch (kind) {
    case 0: return pick(random, [null, true, false]);
    case 1: return pick(random, [0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, Number(idLike(random, ids)) || 7]);
    case 2: case 3: return text(random);
    case 4: return chance(random, 0.1) ? longText(random) : fieldValue(random, pick(random, FIELD_NAMES), ids);
    case 5: return pick(random, ["", "https://example.com", "x\ud800y", "\ufffe", "\u0000"]);
    case 6: return Array.from({ length: below(random, 5) }, () => jsonValue(random, depth - 1, ids));
    default: {
      const object: Record<string, unknown> = {};
      const count = below(random, 6);
      for (let index = 0; index < count; index += 1) {
        const name = fieldName(random);
        object[name] = chance(random, 0.6) ? fieldValue(random, name, ids) : jsonValue(random, depth - 1, ids);
      }
      return object;
    }
  }
}

/** A plain value of the right type for each field: what a working client sends. */
function validBookmark(random: Random): Record<string, unknown> {
  const words = () => Array.from({ length: 1 + below(random, 4) }, () => pick(random, ["fuzz", "news", "rust", "web", "é", "日本", "x"])).join(" ");
  return {
    url: `https://valid.example/${below(random, 1e9)}${chance(random, 0.3) ? "?utm_source=x&b=1" : ""}`, title: words(), description: chance(random, 0.5) ? words() : "",
    tags: Array.from({ length: below(random, 4) }, () => pick(random, ["fuzz", "news", "rust", "web", "x"])), public: chance(random, 0.7), unread: chance(random, 0.3),
    notes: chance(random, 0.3) ? `# ${words()}\n\n- ${words()}` : "",
  };
}

/** A body a working client would send to `pattern` (so the command runs and writes), by route. */
function validDocument(random: Random, pattern: string): unknown {
  const bookmark = validBookmark(random);
  if (pattern.endsWith("/comments")) return { body: String(bookmark.title) };
  if (pattern === "/api/bookmarks" || pattern === "/api/bookmarks/:id") return { bookmark };
  if (pattern.startsWith("/api/bookmarks/")) return { url: bookmark.url, title: bookmark.title, description: bookmark.description, notes: bookmark.notes, tag_names: bookmark.tags, unread: bookmark.unread, shared: bookmark.public, is_archived: chance(random, 0.2) };
  if (pattern === "/api/tags/") return { name: pick(random, ["fuzz", "new-tag", "日本"]) };
  if (pattern === "/api/users") return { user: { username: `fz${below(random, 1e9)}`, password: "correct horse battery" } };
  if (pattern === "/api/tokens") return { username: pick(random, ["alice", "bob"]), password: "correct horse battery", name: "fuzz" };
  return { bookmark };
}

/** A JSON body close to what a route expects (so validation is passed and the command runs), or anything at all. */
export function jsonDocument(random: Random, ids: readonly number[], pattern = ""): unknown {
  if (chance(random, 0.4)) return validDocument(random, pattern);
  const bookmark = (): Record<string, unknown> => {
    const fields: Record<string, unknown> = { url: fieldValue(random, "url", ids), title: chance(random, 0.8) ? text(random) : jsonValue(random, 1, ids) };
    for (const name of ["description", "tags", "public", "unread", "tag_names", "shared", "is_archived", "notes"]) {
      if (chance(random, 0.4)) fields[name] = chance(random, 0.6) ? (name === "tags" || name === "tag_names" ? Array.from({ length: below(random, 5) }, () => text(random, 20)) : fieldValue(random, name, ids)) : jsonValue(random, 2, ids);
    }
    return fields;
  };
  switch (below(random, 8)) {
    case 0: return { bookmark: bookmark() };
    case 1: return bookmark();
    case 2: return { user: { username: pick(random, ["fuzz" + below(random, 1_000_000), text(random, 40)]), password: chance(random, 0.7) ? "correct horse battery" : jsonValue(random, 1, ids) } };
    case 3: return { username: pick(random, ["alice", "bob", text(random, 20)]), password: pick(random, ["correct horse", "wrong", text(random)]), name: text(random) };
    case 4: return { body: chance(random, 0.8) ? text(random, 200) : jsonValue(random, 2, ids) };
    case 5: return { name: text(random, 60) };
    default: return jsonValue(random, 4, ids);
  }
}

/** Deeply nested JSON (arrays, objects or both), up to the body limit and past it. */
export function deepJson(random: Random): string {
  const depth = pick(random, [100, 1000, 10_000, 30_000, 40_000]);
  switch (below(random, 3)) {
    case 0: return "[".repeat(depth) + "]".repeat(depth);
    case 1: return '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
    default: return '{"bookmark":{"tags":' + "[".repeat(depth) + '"x"' + "]".repeat(depth) + ',"url":"https://deep.example","title":"deep"}}';
  }
}

/** A JSON text cut anywhere, or with a byte that is not UTF-8 in the middle. */
export function brokenJson(random: Random, document: string): Buffer {
  const bytes = Buffer.from(document, "utf8");
  if (chance(random, 0.5)) return bytes.subarray(0, below(random, bytes.length + 1));
  const at = below(random, bytes.length + 1);
  return Buffer.concat([bytes.subarray(0, at), Buffer.from([pick(random, [0x80, 0xc0, 0xed, 0xff, 0x00, 0xfe])]), bytes.subarray(at)]);
}

/** A url-encoded form: the route's field names (and `_csrf` when given) with hostile values. */
export function formText(random: Random, ids: readonly number[], csrf: string | null): string {
  const fields: string[] = [];
  if (csrf !== null) fields.push(`_csrf=${encodeURIComponent(csrf)}`);
  fields.push(queryString(random, ids));
  return fields.filter((field) => field !== "").join("&");
}

/** A Netscape bookmark file as browsers, Pinboard and hand-editors write it (and break it). */
export function netscapeFile(random: Random, entriesMax: number): string {
  const lines = ["<!DOCTYPE NETSCAPE-Bookmark-file-1>", '<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">', "<TITLE>Bookmarks</TITLE>", "<H1>Bookmarks</H1>", "<DL><p>"];
  let open = 1;
  const count = below(random, entriesMax + 1);
  for (let index = 0; index < count; index += 1) {
    switch (below(random, 10)) {
      case 0:
        lines.push(`<DT><H3 ADD_DATE="${below(random, 2 ** 31)}">${text(random, 30)}</H3>`, "<DL><p>");
        open += 1;
        break;
      case 1:
        if (open > 1) {
          lines.push("</DL><p>");
          open -= 1;
        }
        break;
      case 2:
        lines.push(pick(random, ["<DT><A>", "<DT><A HREF=>x</A>", '<DT><A HREF="https://unclosed.example>', "<DD>", "</A></A></DL></DL>", "<DT><A HREF='single.example' TAGS=a,b>s</A>", "\u0000\ud800", "<!-- <A HREF=\"https://comment.example\"> -->"]));
        break;
      default: {
        const attributes = [`HREF="${pick(random, ["https://import.example/" + below(random, 10_000), fieldValue(random, "url", []), text(random, 30)]).replace(/"/g, "&quot;")}"`];
        if (chance(random, 0.7)) attributes.push(`ADD_DATE="${pick(random, [String(below(random, 2 ** 31)), "-5", "99999999999999", "1e400", "", "yesterday"])}"`);
        if (chance(random, 0.5)) attributes.push(`PRIVATE="${pick(random, ["0", "1", "yes", ""])}"`);
        if (chance(random, 0.3)) attributes.push(`TOREAD="${pick(random, ["0", "1"])}"`);
        if (chance(random, 0.5)) attributes.push(`TAGS="${Array.from({ length: below(random, 6) }, () => text(random, 15).replace(/"/g, "")).join(",")}"`);
        const title = chance(random, 0.3) ? pick(random, ["&rarr; &hearts; &Omega; &#150; &#x1F600; &#xD800; &#0; &#1114112; &bogus; &amp", "A &amp;&amp; B"]) : text(random, 60);
        lines.push(`<DT><A ${attributes.join(" ")}>${title}</A>`);
        if (chance(random, 0.3)) lines.push(`<DD>${chance(random, 0.1) ? longText(random) : text(random, 200)}`);
      }
    }
  }
  while (open-- > 0) lines.push("</DL><p>");
  return lines.join(chance(random, 0.2) ? "\r\n" : "\n");
}

/** Pinboard's JSON export (posts/all?format=json), which an import may be handed by mistake. */
export function pinboardJson(random: Random): string {
  return JSON.stringify(Array.from({ length: below(random, 5) }, () => ({
    href: fieldValue(random, "url", []), description: text(random), extended: text(random), meta: "x", hash: "y",
    time: fieldValue(random, "dt", []), shared: pick(random, ["yes", "no"]), toread: pick(random, ["yes", "no"]), tags: fieldValue(random, "tags", []),
  })));
}
