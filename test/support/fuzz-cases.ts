// Fuzz cases: one seeded case per index — a request to a route of the table, raw malformed HTTP, or a websocket session.
import type { RouteEntry } from "../../src/http/router.ts";
import { below, chance, pick, type Random } from "../../src/simulator/random.ts";
import type { SocketPlan } from "./fuzz-client.ts";
import {
  brokenJson, deepJson, escapeAll, formText, idLike, jsonDocument, jsonValue, longText, netscapeFile, pathSegment, pinboardJson, queryString, text,
} from "./fuzz-input.ts";

/** A user of the fuzzed server: an API token and a logged-in session (its CSRF form token beside it). */
export interface FuzzUser {
  username: string;
  password: string;
  token: string;
  session: string;
  csrf: string;
}

/** What the cases may refer to: real users, ids and tags, so authenticated routes run their handlers. */
export interface World {
  port: number;
  users: FuzzUser[];
  bookmarkIds: number[];
  tagIds: number[];
  tags: string[];
  pinboardMethods: readonly string[];
  staticFiles: string[];
}

/**
 * `strict`: a well-formed request, which must get a whole response (a close without one fails).
 * Otherwise the request is malformed on purpose and the server may answer or close.
 */
export interface HttpCase {
  type: "http";
  target: string;
  kind: string;
  head: boolean;
  strict: boolean;
  parts: Buffer[];
}

export interface SocketCase {
  type: "ws";
  target: string;
  kind: string;
  plan: SocketPlan;
}

export type FuzzCase = HttpCase | SocketCase;

const CRLF = "\r\n";
const METHOD_NAMES = { get: "GET", post: "POST", patch: "PATCH", put: "PUT", del: "DELETE" } as const;
const ANY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;

interface Auth {
  kind: string;
  headers: string[];
  csrf: string | null;
  user: FuzzUser | null;
}

function cookieHeader(random: Random, pairs: string[]): string {
  const extra = chance(random, 0.3) ? [pick(random, ["a=b", "nasty_session=%", "nasty_csrf=%E0", "nasty_session=", "=x", "x", "nasty_session=\"quoted\"", `junk=${"j".repeat(3000)}`])] : [];
  const all = chance(random, 0.5) ? [...pairs, ...extra] : [...extra, ...pairs];
  return `Cookie: ${all.join(chance(random, 0.1) ? ";" : "; ")}`;
}

/** Who the request claims to be: nobody, a real token or session, or something broken. */
function auth(random: Random, world: World, entry: RouteEntry): Auth {
  const user = pick(random, world.users);
  // Most requests carry what the route takes (pages a session, the rest a token), so handlers run.
  const fitting = chance(random, 0.6) ? (entry.speaks === "html" ? 4 : 2) : below(random, 9);
  switch (fitting) {
    case 0: case 1: return { kind: "anonymous", headers: [], csrf: null, user: null };
    case 2: case 3: return { kind: "token", headers: [`Authorization: Bearer ${user.token}`], csrf: null, user };
    case 4: case 5: return { kind: "session", headers: [cookieHeader(random, [`nasty_session=${user.session}`])], csrf: user.csrf, user };
    case 6: return { kind: "basic", headers: [`Authorization: Basic ${Buffer.from(`${user.username}:${pick(random, [user.password, "wrong", user.token, text(random)])}`).toString("base64")}`], csrf: null, user };
    case 7: return { kind: "bad-token", headers: [`Authorization: ${pick(random, ["Bearer nope", "Bearer", "Bearer  ", "Token x", "Basic ###", "Basic " + "QQ".repeat(500), "bearer " + user.token.toUpperCase()])}`], csrf: null, user: null };
    default: return { kind: "bad-cookie", headers: [cookieHeader(random, [pick(random, ["nasty_session=%", "nasty_session=%E0%A4", "nasty_csrf=%", `nasty_session=${user.session}; nasty_session=other`, "nasty_session=" + "s".repeat(5000)])])], csrf: pick(random, [null, "x", user.csrf]), user: null };
  }
}

/** Headers beside auth: content negotiation, htmx, proxies, origins, caches, sometimes repeated. */
function extraHeaders(random: Random, world: World): string[] {
  const host = `127.0.0.1:${world.port}`;
  const headers: string[] = [];
  if (chance(random, 0.4)) headers.push(`Accept: ${pick(random, ["text/html", "application/json", "*/*", "application/rss+xml", "", "text/html;q=0.1, application/json"])}`);
  if (chance(random, 0.2)) headers.push(`HX-Request: ${pick(random, ["true", "false", ""])}`);
  if (chance(random, 0.4)) headers.push(`Origin: ${pick(random, [`http://${host}`, "https://evil.example", "null", "", "http://%zz", `http://${host}.evil.example`])}`);
  if (chance(random, 0.1)) headers.push(`X-Forwarded-For: ${pick(random, ["1.2.3.4", "::1, 10.0.0.1", "garbage", "", "1.2.3.4".repeat(200)])}`);
  if (chance(random, 0.1)) headers.push(`X-Forwarded-Proto: ${pick(random, ["https", "http", "gopher"])}`);
  if (chance(random, 0.1)) headers.push(`If-None-Match: ${pick(random, ['"x"', "*", 'W/"1"', text(random)].map((value) => value.replace(/[\u0000-\u001f\u007f]/g, "")))}`);
  if (chance(random, 0.1)) headers.push(`User-Agent: ${pick(random, ["curl/8", "Mozilla/5.0", "x".repeat(2000)])}`);
  if (chance(random, 0.05)) headers.push("Accept: text/html", "Accept: application/json");
  return headers;
}

/** A path for `pattern`: its literals, with parameters and wildcards filled with real or hostile values. */
function pathFor(random: Random, pattern: string, world: World): { path: string; kind: string } {
  let kind = "path";
  const segments = pattern.split("/").map((segment, index) => {
    if (segment.startsWith(":")) {
      if (chance(random, 0.7)) {
        const name = segment.slice(1);
        if (name === "name") return pick(random, [...world.users.map((user) => user.username), "nobody"]);
        if (name === "file") return pick(random, ["firehose.rss", "firehose.atom", `${pick(random, world.users).username}.rss`, `${pick(random, world.users).username}.atom`, "x.json"]);
        return escapeAll(idLike(random, pattern.includes("tags") ? world.tagIds : world.bookmarkIds));
      }
      kind = "path-mutated";
      return pathSegment(random, text(random));
    }
    if (segment === "*") {
      kind = chance(random, 0.3) ? "path-mutated" : kind;
      return kind === "path-mutated" ? [pathSegment(random, text(random)), pathSegment(random, text(random))].join("/") : wildcardSample(random, pattern, world);
    }
    if (index > 0 && chance(random, 0.03)) {
      kind = "path-mutated";
      return pick(random, [segment.toUpperCase(), `${segment}%00`, `${segment}/`, `/${segment}`, escapeAll(segment).replace(/[a-z]/, (letter) => `%${letter.charCodeAt(0).toString(16)}`)]);
    }
    return segment;
  });
  let path = segments.join("/");
  if (chance(random, 0.05)) {
    kind = "path-mutated";
    path = pick(random, [`${path}/`, `${path}//`, `/.${path}`, `${path}/..`, `/..${path}`, `${path}/${"a".repeat(pick(random, [200, 2000, 3000]))}`, `//${path}`]);
  }
  return { path: path.startsWith("/") ? path : `/${path}`, kind };
}

function wildcardSample(random: Random, pattern: string, world: World): string {
  switch (pattern) {
    case "/t/*": return [pick(random, world.tags), pick(random, world.tags)].slice(0, 1 + below(random, 2)).map(encodeURIComponent).join(pick(random, ["+", "/", ","]));
    case "/feeds/t/*": return `${escapeAll(pick(random, world.tags))}.${pick(random, ["rss", "atom", "xml", ""])}`;
    case "/static/*": return pick(random, [...world.staticFiles, "../package.json", "..%2fpackage.json", "app.js", "nope.css", "%2e%2e/%2e%2e/etc/passwd"]);
    case "/v1/*": return pick(random, [...world.pinboardMethods, "posts", "posts/", "nope", "posts/add/extra"]);
    default: return escapeAll(text(random, 20));
  }
}

function methodFor(random: Random, entry: RouteEntry): { method: string; kind: string; strict: boolean } {
  const own = entry.method === "any" ? pick(random, ANY_METHODS) : METHOD_NAMES[entry.method];
  switch (below(random, 20)) {
    case 0: return { method: "HEAD", kind: "head", strict: true };
    case 1: return { method: "OPTIONS", kind: "options", strict: true };
    case 2: return { method: pick(random, ANY_METHODS.filter((method) => method !== own)), kind: "other-method", strict: true };
    case 3: return { method: pick(random, ["get", "FOO", "CONNECT", "TRACE", "PROPFIND", "G\u00c9T"]), kind: "odd-method", strict: false };
    default: return { method: own, kind: "", strict: true };
  }
}

interface Body {
  kind: string;
  type: string | null;
  bytes: Buffer;
}

/** A body for this route: what it takes (JSON, a form, a bookmark file), broken, deep, huge, or the wrong type. */
function bodyFor(random: Random, entry: RouteEntry, auth: Auth, world: World): Body {
  const ids = world.bookmarkIds;
  const takesFile = entry.pattern === "/api/import";
  const takesForm = entry.speaks === "html" || entry.pattern.startsWith("/v1/");
  const wrongKind = chance(random, 0.15);
  const choice = wrongKind ? below(random, 3) : takesFile ? 2 : takesForm ? 1 : 0;
  switch (choice) {
    case 1: {
      const csrf = chance(random, 0.85) ? auth.csrf : pick(random, ["", "x", null]);
      const fixed = entry.pattern.startsWith("/v1/") && auth.user ? `auth_token=${auth.user.username}:${auth.user.token}&` : "";
      return { kind: "form", type: pick(random, ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=UTF-8", "multipart/form-data; boundary=x"]), bytes: Buffer.from(fixed + formText(random, ids, csrf)) };
    }
    case 2: {
      const kind = chance(random, 0.03) ? "netscape-big" : pick(random, ["netscape", "netscape", "netscape", "pinboard-json", "empty"]);
      const file = kind === "pinboard-json" ? pinboardJson(random) : kind === "empty" ? "" : netscapeFile(random, kind === "netscape-big" ? 1000 : 20);
      return { kind: `import-${kind}`, type: pick(random, ["text/html", "text/html; charset=utf-8", "application/octet-stream", "", "application/json", "text/plain"]), bytes: Buffer.from(file) };
    }
    default: {
      const type = chance(random, 0.9) ? "application/json" : pick(random, ["text/plain", "", "application/vnd.api+json", "application/json; charset=latin1", "application/jsonx"]);
      switch (below(random, 12)) {
        case 0: return { kind: "json-deep", type, bytes: Buffer.from(deepJson(random)) };
        case 1: return { kind: "json-broken", type, bytes: brokenJson(random, JSON.stringify(jsonDocument(random, ids, entry.pattern))) };
        case 2: return { kind: "json-huge", type, bytes: Buffer.from(JSON.stringify({ bookmark: { url: "https://huge.example", title: longText(random), description: "d".repeat(pick(random, [60_000, 65_536, 70_000, 200_000])) } })) };
        case 3: return { kind: "json-scalar", type, bytes: Buffer.from(JSON.stringify(jsonValue(random, 0, ids))) };
        case 4: return { kind: "json-empty", type, bytes: Buffer.alloc(0) };
        default: return { kind: "json", type, bytes: Buffer.from(JSON.stringify(jsonDocument(random, ids, entry.pattern))) };
      }
    }
  }
}

/** The body on the wire: with Content-Length, or chunked in random pieces (sent as separate writes). */
function framing(random: Random, body: Buffer): { headers: string[]; parts: Buffer[]; kind: string } {
  if (chance(random, 0.8)) return { headers: [`Content-Length: ${body.length}`], parts: [body], kind: "" };
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length && parts.length < 64) {
    const size = Math.min(body.length - at, 1 + below(random, Math.max(1, body.length >> 2)));
    parts.push(Buffer.concat([Buffer.from(`${size.toString(16)}${CRLF}`), body.subarray(at, at + size), Buffer.from(CRLF)]));
    at += size;
  }
  if (at < body.length) parts.push(Buffer.concat([Buffer.from(`${(body.length - at).toString(16)}${CRLF}`), body.subarray(at), Buffer.from(CRLF)]));
  parts.push(Buffer.from(`0${CRLF}${CRLF}`));
  return { headers: ["Transfer-Encoding: chunked"], parts, kind: "chunked" };
}

/** A request to one route of the table. */
function routeCase(random: Random, entry: RouteEntry, world: World): HttpCase {
  const { method, kind: methodKind, strict } = methodFor(random, entry);
  const { path, kind: pathKind } = pathFor(random, entry.pattern, world);
  const who = auth(random, world, entry);
  const fixed: Record<string, string> = {};
  if (entry.pattern === "/api/import" && who.kind === "session" && who.csrf) fixed._csrf = who.csrf;
  if (entry.pattern === "/v1/*" && who.user && who.kind === "token") fixed.auth_token = `${who.user.username}:${who.user.token}`;
  const query = chance(random, 0.6) || Object.keys(fixed).length > 0 ? queryString(random, world.bookmarkIds, fixed) : "";
  const headers = [`Host: 127.0.0.1:${world.port}`, ...who.headers, ...extraHeaders(random, world)];
  if (chance(random, 0.3)) headers.push("Connection: close");
  const sendsBody = (method !== "GET" && method !== "HEAD" && method !== "OPTIONS") || chance(random, 0.03);
  let parts: Buffer[] = [];
  const kinds = [methodKind, pathKind === "path" ? "" : pathKind, who.kind];
  if (sendsBody && chance(random, 0.95)) {
    const body = bodyFor(random, entry, who, world);
    const framed = framing(random, body.bytes);
    if (body.type !== null && body.type !== "") headers.push(`Content-Type: ${body.type}`);
    headers.push(...framed.headers);
    parts = framed.parts;
    kinds.push(body.kind, framed.kind);
  } else if (sendsBody) {
    headers.push("Content-Length: 0");
  }
  const target = query === "" ? path : `${path}?${query}`;
  const head = Buffer.from(`${method} ${target} HTTP/1.1${CRLF}${headers.join(CRLF)}${CRLF}${CRLF}`, "utf8");
  const longHead = head.length > 4000;
  // With `Connection: close`, an answer given before the body is read (401, 404, 413) is followed by
  // uWS's close while body bytes still arrive (a big body, or chunks written one by one): the
  // kernel resets the connection and the client may never read the answer. HTTP allows answering
  // early and closing (RFC 9112 9.6); uWS does no lingering close.
  const closesEarly = headers.includes("Connection: close") && (parts.length > 1 || parts.reduce((sum, part) => sum + part.length, 0) > 64 * 1024);
  return {
    type: "http",
    target: entry.pattern,
    kind: kinds.filter((part) => part !== "").join("+"),
    head: method === "HEAD",
    // A head past uWS's 4 KiB header limit, or a GET carrying a body, may be refused by closing.
    strict: strict && !longHead && !closesEarly && !(sendsBody && (method === "GET" || method === "HEAD" || method === "OPTIONS")),
    parts: parts.length > 0 && parts[0]!.length < 256 && chance(random, 0.5) ? [Buffer.concat([head, parts[0]!]), ...parts.slice(1)] : [head, ...parts],
  };
}

/** Bytes no well-behaved client sends: the server answers them with a 4xx or closes, and lives. */
function malformedCase(random: Random, world: World): HttpCase {
  const host = `Host: 127.0.0.1:${world.port}`;
  const user = pick(random, world.users);
  const garbage = Buffer.from(Array.from({ length: below(random, 300) }, () => below(random, 256)));
  const forbidden = pick(random, ["\u0000", "\u0001", "\u007f", "\u00ff", "\u000b", "\r", "\u001f"]);
  const variants: [string, () => Buffer][] = [
    ["random-bytes", () => Buffer.concat([garbage, Buffer.from(CRLF + CRLF)])],
    ["http10", () => Buffer.from(`GET /api/status HTTP/1.0${CRLF}${CRLF}`)],
    ["http09", () => Buffer.from(`GET /${CRLF}${CRLF}`)],
    ["bad-version", () => Buffer.from(`GET / HTTP/${pick(random, ["9.9", "1.", "x", "1.1.1", ""])}${CRLF}${host}${CRLF}${CRLF}`)],
    ["no-host", () => Buffer.from(`GET /api/status HTTP/1.1${CRLF}${CRLF}`)],
    ["space-in-target", () => Buffer.from(`GET /a b HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`)],
    ["header-no-colon", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}NoColonHere${CRLF}${CRLF}`)],
    ["header-space-colon", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}Cookie : nasty_session=${user.session}${CRLF}${CRLF}`)],
    ["obs-fold", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}Cookie: a=b${CRLF} nasty_session=x${CRLF}${CRLF}`)],
    ["bare-lf", () => Buffer.from(`GET /api/status HTTP/1.1\n${host}\n\n`)],
    ["forbidden-byte-value", () => Buffer.from(`GET /${pick(random, ["", "login", "api/me", "api/bookmarks/1"])} HTTP/1.1${CRLF}${host}${CRLF}${pick(random, ["Cookie", "Authorization", "Accept", "X-Thing", "Origin"])}: a${forbidden}b${CRLF}${CRLF}`, "latin1")],
    ["forbidden-byte-name", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}X${forbidden}Y: a${CRLF}${CRLF}`, "latin1")],
    ["bad-content-length", () => Buffer.from(`POST /api/bookmarks HTTP/1.1${CRLF}${host}${CRLF}Authorization: Bearer ${user.token}${CRLF}Content-Type: application/json${CRLF}Content-Length: ${pick(random, ["-1", "abc", "1e3", "99999999999999999999", "", "2, 2"])}${CRLF}${CRLF}{}`)],
    ["two-content-lengths", () => Buffer.from(`POST /api/bookmarks HTTP/1.1${CRLF}${host}${CRLF}Authorization: Bearer ${user.token}${CRLF}Content-Type: application/json${CRLF}Content-Length: 2${CRLF}Content-Length: 3${CRLF}${CRLF}{}x`)],
    ["length-and-chunked", () => Buffer.from(`POST /api/bookmarks HTTP/1.1${CRLF}${host}${CRLF}Authorization: Bearer ${user.token}${CRLF}Content-Type: application/json${CRLF}Content-Length: 5${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}2${CRLF}{}${CRLF}0${CRLF}${CRLF}`)],
    ["bad-chunk", () => Buffer.from(`POST /api/bookmarks HTTP/1.1${CRLF}${host}${CRLF}Authorization: Bearer ${user.token}${CRLF}Content-Type: application/json${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}${pick(random, ["zz", "-1", "ffffffffffffffff", "2;ext=1", "1 "])}${CRLF}{}${CRLF}0${CRLF}${CRLF}`)],
    ["huge-header", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}X-Big: ${"b".repeat(pick(random, [4000, 8000, 70_000]))}${CRLF}${CRLF}`)],
    ["many-headers", () => Buffer.from(`GET / HTTP/1.1${CRLF}${host}${CRLF}${Array.from({ length: pick(random, [60, 100, 500]) }, (_, index) => `X-H${index}: v`).join(CRLF)}${CRLF}${CRLF}`)],
    ["huge-target", () => Buffer.from(`GET /${"p".repeat(pick(random, [5000, 70_000]))} HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`)],
    ["raw-utf8-target", () => Buffer.from(`GET /t/${text(random, 10).replace(/[\s\u0000-\u001f]/g, "_")} HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`, "utf8")],
    ["raw-latin1-target", () => Buffer.from(`GET /u/\u00e9\u00ff\u0080 HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`, "latin1")],
    ["pipelined", () => Buffer.from(`GET /api/status HTTP/1.1${CRLF}${host}${CRLF}${CRLF}HEAD / HTTP/1.1${CRLF}${host}${CRLF}${CRLF}GET /nope%zz HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`)],
    ["absolute-target", () => Buffer.from(`GET http://127.0.0.1:${world.port}/api/status HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`)],
    ["star-target", () => Buffer.from(`OPTIONS * HTTP/1.1${CRLF}${host}${CRLF}${CRLF}`)],
    ["upgrade-not-ws", () => Buffer.from(`GET /ws HTTP/1.1${CRLF}${host}${CRLF}Upgrade: websocket${CRLF}Connection: Upgrade${CRLF}${CRLF}`)],
    ["upgrade-bad-key", () => Buffer.from(`GET /${pick(random, ["ws", "live?topic=bookmarks:firehose", "socket/websocket"])} HTTP/1.1${CRLF}${host}${CRLF}Upgrade: websocket${CRLF}Connection: Upgrade${CRLF}Sec-WebSocket-Version: ${pick(random, ["13", "8", "x"])}${CRLF}Sec-WebSocket-Key: ${pick(random, ["", "short", "x".repeat(300)])}${CRLF}${CRLF}`)],
  ];
  const [kind, build] = pick(random, variants);
  return { type: "http", target: "malformed", kind, head: false, strict: false, parts: [build()] };
}

const WS_ENDPOINTS = ["/ws", "/socket/websocket", "/live"] as const;

/** A topic name, real or hostile. */
function topicName(random: Random, world: World): string {
  const user = pick(random, world.users).username;
  return pick(random, ["bookmarks:firehose", `bookmarks:tag:${pick(random, world.tags)}`, `bookmarks:user:${user}`, `bookmarks:user:${user}:private`, `bookmark:${idLike(random, world.bookmarkIds)}`, "bookmark:feed", `tag:${pick(random, world.tags)}`, "stats", `tags:${pick(random, world.tags)}+${pick(random, world.tags)}`, text(random, 30), "x".repeat(300)]);
}

/** One frame for `endpoint`: mostly its own protocol with hostile fields, sometimes garbage, binary or oversized. */
function socketFrame(random: Random, endpoint: (typeof WS_ENDPOINTS)[number], wire: "v1" | "v2", world: World): { data: string | Buffer; binary: boolean; kind: string } {
  switch (below(random, 12)) {
    case 0: return { data: Buffer.from(Array.from({ length: below(random, 200) }, () => below(random, 256))), binary: true, kind: "binary" };
    case 1: return { data: Buffer.from([0xed, 0xa0, 0x80, 0xff, 0xc0]), binary: false, kind: "invalid-utf8" };
    case 2: return { data: chance(random, 0.1) ? deepJson(random).slice(0, 20_000) : pick(random, ["", "{", "null", "[]", "1", '"x"', "[1,2,3,4,5]", "{}"]), binary: false, kind: "garbage" };
    case 3: return { data: JSON.stringify({ op: "ping", pad: "p".repeat(pick(random, [16 * 1024, 70_000])) }), binary: false, kind: "oversized" };
    default: break;
  }
  const topic = topicName(random, world);
  const ref = pick(random, [String(below(random, 1000)), below(random, 1000), null, "r".repeat(100), { x: 1 }]);
  const comment = { body: chance(random, 0.8) ? text(random, 200) : jsonValue(random, 2, world.bookmarkIds) };
  if (endpoint === "/ws") {
    const op = pick(random, ["subscribe", "subscribe", "unsubscribe", "ping", "comment", "comment", "nope", 5]);
    return { data: JSON.stringify({ op, topic: chance(random, 0.9) ? topic : jsonValue(random, 1, []), ref, ...(op === "comment" ? comment : {}) }), binary: false, kind: `ws-${op}` };
  }
  if (endpoint === "/socket/websocket") {
    const event = pick(random, ["phx_join", "phx_join", "phx_leave", "heartbeat", "new_comment", "new_comment", "nope"]);
    const payload = event === "new_comment" ? comment : chance(random, 0.8) ? {} : jsonValue(random, 2, []);
    const joinRef = pick(random, ["1", "2", null, 3]);
    const frame = wire === "v2" ? [joinRef, ref, topic, event, payload] : { topic, event, payload, ref };
    return { data: JSON.stringify(frame), binary: false, kind: `phx-${event}` };
  }
  // htmx's hx-ws sends a form's values with its request headers (dist/ext/hx-ws.js); /live takes none and closes.
  return { data: JSON.stringify({ comment: text(random), headers: { "HX-Request": "true", "HX-Trigger": text(random, 10), "HX-Current-URL": `http://127.0.0.1:${world.port}/` } }), binary: false, kind: "hx-ws" };
}

/** A websocket session: a handshake (with or without a viewer), a few frames, then a probe that must be answered (or a close). */
function socketCase(random: Random, world: World, index: number): SocketCase {
  const endpoint = pick(random, WS_ENDPOINTS);
  const user = pick(random, world.users);
  const wire = chance(random, 0.5) ? "v2" : "v1";
  const query: string[] = [];
  const headers: Record<string, string> = {};
  const protocols: string[] = [];
  const authKind = pick(random, ["anonymous", "query-token", "header-token", "subprotocol-token", "session", "session-foreign", "bad-token", "bad-cookie"]);
  switch (authKind) {
    case "query-token": query.push(`token=${user.token}`); break;
    case "header-token": headers.authorization = `Bearer ${user.token}`; break;
    case "subprotocol-token": protocols.push("phoenix", `base64url.bearer.phx.${Buffer.from(user.token).toString("base64url")}`); break;
    case "session": headers.cookie = `nasty_session=${user.session}`; headers.origin = `http://127.0.0.1:${world.port}`; break;
    case "session-foreign": headers.cookie = `nasty_session=${user.session}`; headers.origin = "https://evil.example"; break;
    case "bad-token": query.push(pick(random, ["token=nope", "token=%", "token=%E0", "token="])); break;
    case "bad-cookie": headers.cookie = pick(random, ["nasty_session=%", "nasty_session=%E0%A4", "nasty_session="]); break;
  }
  if (endpoint === "/socket/websocket") query.push(`vsn=${wire === "v2" ? "2.0.0" : pick(random, ["1.0.0", "", "x", "%zz"])}`);
  if (endpoint === "/live") query.push(`topic=${escapeAll(topicName(random, world)).replace(/%3A/g, ":")}`);
  if (endpoint === "/ws" && chance(random, 0.3)) query.push(`topics=${Array.from({ length: 1 + below(random, 4) }, () => escapeAll(topicName(random, world))).join(",")}`);
  if (chance(random, 0.1)) query.push(pick(random, ["%", "x=%E0", "a=%ED%A0%80"]));
  const frames = Array.from({ length: endpoint === "/live" ? 1 : below(random, 6) }, () => socketFrame(random, endpoint, wire, world));
  const marker = `fuzz-probe-${index}`;
  const probe = endpoint === "/ws" ? JSON.stringify({ op: "ping", ref: marker })
    : endpoint === "/socket/websocket" ? JSON.stringify(wire === "v2" ? [null, marker, "phoenix", "heartbeat", {}] : { topic: "phoenix", event: "heartbeat", payload: {}, ref: marker })
    : null;
  return {
    type: "ws",
    target: endpoint,
    kind: [authKind, ...new Set(frames.map((frame) => frame.kind))].join("+"),
    plan: { url: `ws://127.0.0.1:${world.port}${endpoint}${query.length > 0 ? `?${query.join("&")}` : ""}`, headers, protocols, frames, probe, probeMarker: marker, timeoutMs: 0 },
  };
}

/** Case `index` of a run: a route request (most), raw malformed HTTP, or a websocket session. */
export function generateCase(random: Random, routes: readonly RouteEntry[], world: World, index: number): FuzzCase {
  const roll = random();
  if (roll < 0.12) return malformedCase(random, world);
  if (roll < 0.25) return socketCase(random, world, index);
  // Half the requests go to routes that write, where handlers do the most with what they are sent.
  const writes = routes.filter((entry) => entry.method !== "get");
  return routeCase(random, chance(random, 0.5) && writes.length > 0 ? pick(random, writes) : pick(random, routes), world);
}

/** A case as a reader can replay it by hand: the bytes sent (cut), or the socket plan. */
export function describeCase(fuzzCase: FuzzCase): string {
  if (fuzzCase.type === "ws") {
    const frames = fuzzCase.plan.frames.map((frame) => (typeof frame.data === "string" ? JSON.stringify(frame.data.slice(0, 300)) : `<${frame.binary ? "binary" : "text"} ${frame.data.toString("hex").slice(0, 120)}>`));
    return `websocket ${fuzzCase.plan.url}\n  headers ${JSON.stringify(fuzzCase.plan.headers)} protocols ${JSON.stringify(fuzzCase.plan.protocols)}\n  frames ${frames.join("\n         ")}\n  probe ${fuzzCase.plan.probe ?? "(none)"}`;
  }
  const bytes = Buffer.concat(fuzzCase.parts);
  const shown = JSON.stringify(bytes.subarray(0, 1500).toString("latin1"));
  return `${fuzzCase.strict ? "well-formed" : "malformed"} request, ${bytes.length} bytes in ${fuzzCase.parts.length} write(s):\n  ${shown}${bytes.length > 1500 ? " …" : ""}`;
}
