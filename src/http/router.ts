// Routes on uWS: one table of every route, each request read synchronously into an Exchange and run behind the guard; HEAD, OPTIONS and 405 from the same table.
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocketBehavior } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { hashToken, tokenFromAuthorization } from "../auth/tokens.ts";
import { SESSION_COOKIE, cookieValue } from "../auth/cookies.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import { guard, guardSocketCallbacks } from "../guard.ts";
import { errorAnswer, type Answer } from "./respond.ts";
import { parseParams, percentDecode } from "../text.ts";
import { Exchange, type Context, type HeaderName, type RouteSpec } from "./exchange.ts";
import type { AnswerCache } from "./answer-cache.ts";
import type { SiteConfig } from "../auth/site-origin.ts";
import { clusterRoutingOf } from "./forward.ts";
import { LIMITS } from "../commands/schemas.ts";

export type { Context, HeaderName };

/** A request body's limit unless its route names its own (`bodyBytesMax`). */
export const BODY_BYTES_MAX = 64 * 1024;

/**
 * The most bytes one character of a bookmark's text can take on the wire: a code point outside
 * the BMP (an emoji) is 4 bytes of UTF-8, 12 percent-encoded in a form (%F0%9F%98%80) and 12 as a
 * JSON surrogate pair escaped (\ud83d\ude00); a textarea's line break (CR LF, one character once
 * stored) is 6 (%0D%0A).
 */
const ENCODED_CHAR_BYTES_MAX = 12;
/** Room besides the text: field names, quotes, separators, booleans, a date, a form's CSRF token. */
const BOOKMARK_BODY_OVERHEAD_BYTES = 16 * 1024;

/**
 * The body limit of the routes that save a whole bookmark (API, forms, linkding, Pinboard): the
 * largest valid bookmark (every text field at its limit in characters, schemas.ts LIMITS) at the
 * worst encoding, so a bookmark the schemas accept is never refused for its size (about 304 KiB).
 */
export const BOOKMARK_BODY_BYTES_MAX = ENCODED_CHAR_BYTES_MAX *
  (LIMITS.urlCharsMax + LIMITS.titleCharsMax + LIMITS.descriptionCharsMax + LIMITS.notesCharsMax + LIMITS.tagsPerBookmarkMax * LIMITS.tagCharsMax) +
  BOOKMARK_BODY_OVERHEAD_BYTES;

export type Handler = (context: Context) => Answer | Promise<Answer>;

export type Auth = "none" | "optional" | "required";

export interface RouteOptions {
  auth?: Auth;
  body?: boolean;
  /** With `body`: refuse a body past this many bytes with 413 (default BODY_BYTES_MAX). */
  bodyBytesMax?: number;
  /** Accept the session cookie as well as the Authorization header. */
  cookie?: boolean;
  /** Hand the body over as a stream of chunks (context.stream), refusing past this many bytes. */
  streamBytesMax?: number;
  /** The handler reads the Authorization header itself (Pinboard's HTTP Basic); the router leaves it alone. */
  ownAuthorization?: boolean;
  /**
   * For visitors who are not logged in, the answer is a pure function of the URL (and of the
   * request headers named in `vary`) and the store: a 200 is kept as bytes and served again until
   * the next event is applied (answer-cache.ts). It is rendered without the request's cookies and
   * If-None-Match, so nothing of one visitor's can be in it. Never for random picks, never for a
   * logged-in viewer (their answers are always rendered for them).
   */
  cache?: true | { vary: readonly HeaderName[] };
  /** Read the peer's address into context.remoteAddress (per-address limits); uWS only gives it before the first await. */
  remoteAddress?: boolean;
  /** What the route's answers are written in: JSON (the default) or HTML pages; an unexpected error answers 500 in it. */
  speaks?: "json" | "html";
  /** Turns an error into the answer (pages answer HTML); an unexpected error reaches it after the guard logged it. */
  onError?: (error: unknown, context: Context) => Answer;
  /** The route may change something, so in cluster mode a follower forwards it to the leader (default: every method but GET). */
  writes?: boolean;
  /** Cluster mode's own write (forwarded by a node with the cluster secret); refused 403 to anyone else. */
  clusterOnly?: boolean;
}

export interface RouterDeps {
  store: Store;
  limiter: RateLimiter;
  config: SiteConfig;
  /** Where routes with `cache` keep their answers to visitors; without it they render every time. */
  answers?: AnswerCache;
}


/** Resolves the viewer from headers, synchronously; a token that is sent but unknown is a 401, never ignored. */
function authenticate(deps: RouterDeps, headers: Record<HeaderName, string>, options: RouteOptions): Pick<Context, "viewer" | "token" | "via"> {
  const authorization = options.ownAuthorization ? "" : headers.authorization;
  if (authorization !== "") {
    const secret = tokenFromAuthorization(authorization);
    if (!secret) throw new HttpError(401, "malformed Authorization header; send 'Authorization: Bearer <token>'");
    const token = deps.store.activeToken(hashToken(secret));
    if (!token) throw new HttpError(401, "invalid or revoked token");
    return { viewer: token.user, token, via: "header" };
  }
  if (options.cookie && headers.cookie !== "") {
    const secret = cookieValue(headers.cookie, SESSION_COOKIE);
    const token = secret ? deps.store.activeToken(hashToken(secret)) : undefined;
    if (token && token.kind === "session") return { viewer: token.user, token, via: "cookie" };
  }
  if (options.auth === "required") throw new HttpError(401, "authentication required: send 'Authorization: Bearer <token>' (get one with POST /api/tokens)");
  return { viewer: null, token: null, via: null };
}

export type Method = "get" | "post" | "patch" | "put" | "del" | "any";

/** One registered route: what the method tests walk (HEAD, OPTIONS, 405, bad escapes on every route). */
export interface RouteEntry {
  method: Method;
  pattern: string;
  /** What its answers (and errors) are written in; "websocket" for a socket endpoint's handshake. */
  speaks: "json" | "html" | "websocket";
}

interface PatternRoutes {
  entries: RouteEntry[];
  /** How the pattern's first route answers errors: a 405 speaks the route's language. */
  spec: RouteSpec;
}

interface RouteTable {
  entries: RouteEntry[];
  byPattern: Map<string, PatternRoutes>;
}

const routeTables = new WeakMap<TemplatedApp, RouteTable>();

/** Every route registered on `app` through `route` and `socketRoute`, in registration order. */
export function routeTable(app: TemplatedApp): readonly RouteEntry[] {
  return routeTables.get(app)?.entries ?? [];
}

const METHOD_NAMES: Record<Exclude<Method, "any">, string[]> = { get: ["GET", "HEAD"], post: ["POST"], patch: ["PATCH"], put: ["PUT"], del: ["DELETE"] };

/** The Allow header of a pattern: the methods its routes take, and OPTIONS. */
function allowed(routes: PatternRoutes): string {
  const names = new Set<string>();
  for (const entry of routes.entries) if (entry.method !== "any") for (const name of METHOD_NAMES[entry.method]) names.add(name);
  names.add("OPTIONS");
  return [...names].join(", ");
}

/**
 * Adds `entry` to the table. The first route of a pattern also registers, for that pattern,
 * OPTIONS (204 with Allow) and every other method (405 with Allow, or 426 for a GET of a socket
 * endpoint without Upgrade); uWS tries routes of the request's own method before `any` ones, so
 * these never shadow a route. A pattern of an `any` route takes every method itself.
 */
function record(app: TemplatedApp, entry: RouteEntry, spec: RouteSpec): void {
  let table = routeTables.get(app);
  if (!table) routeTables.set(app, (table = { entries: [], byPattern: new Map() }));
  table.entries.push(entry);
  if (entry.method === "any") return;
  const known = table.byPattern.get(entry.pattern);
  if (known) {
    known.entries.push(entry);
    return;
  }
  const routes: PatternRoutes = { entries: [entry], spec };
  table.byPattern.set(entry.pattern, routes);
  app.options(entry.pattern, (res, req) => serveMethod(res, req, routes, () => ({ status: 204, headers: { Allow: allowed(routes) } })));
  app.any(entry.pattern, (res, req) => serveMethod(res, req, routes, (exchange) => {
    const allow = allowed(routes);
    if (exchange.method === "get" && routes.entries.some((known) => known.speaks === "websocket")) {
      throw new HttpError(426, `${exchange.path.slice(0, 100)} is a websocket endpoint: connect with a websocket client (Upgrade: websocket)`, {}, { Upgrade: "websocket", Allow: allow });
    }
    throw new HttpError(405, `${exchange.head ? "HEAD" : exchange.method.toUpperCase()} is not allowed on ${exchange.path.slice(0, 100)}; allowed: ${allow}`, {}, { Allow: allow });
  }));
}

/** OPTIONS and 405 answers: behind the guard like any route, without authentication. */
function serveMethod(res: HttpResponse, req: HttpRequest, routes: PatternRoutes, answer: (exchange: Exchange) => Answer): void {
  const exchange = new Exchange(res, req, routes.spec);
  res.onAborted(() => exchange.abort());
  guard(exchange, () => {
    exchange.checkRequest();
    exchange.answer(answer(exchange));
  });
}

/**
 * Registers `handler` for `method` (a GET also answers HEAD, without the body). Headers, URL and
 * parameters are read synchronously into an Exchange (uWS invalidates `req` when this returns),
 * `onAborted` is set before anything async, and everything after runs behind the guard: an
 * operating error (HttpError) answers as the route answers errors, anything else is logged with
 * the request id and answers 500.
 */
export function route(app: TemplatedApp, deps: RouterDeps, method: Method, pattern: string, handler: Handler, options: RouteOptions = {}): void {
  const writes = options.writes ?? (method !== "get" && method !== "any");
  const spec: RouteSpec = {
    pattern,
    paramNames: pattern.match(/(?<=\/:)[^/]+/g) ?? [],
    speaks: options.speaks ?? "json",
    toAnswer: options.onError ?? ((error, context) => errorAnswer(error, context.requestId)),
    // A write may be forwarded to the cluster's leader, which is told the client's address (forward.ts).
    remoteAddress: options.remoteAddress === true || writes,
    siteConfig: deps.config,
  };
  record(app, { method, pattern, speaks: spec.speaks }, spec);
  const write = { body: options.body === true || options.streamBytesMax !== undefined, bodyBytesMax: options.streamBytesMax ?? options.bodyBytesMax ?? BODY_BYTES_MAX, stream: options.streamBytesMax !== undefined, clusterOnly: options.clusterOnly === true };
  const serve = (res: HttpResponse, req: HttpRequest) => {
    const exchange = new Exchange(res, req, spec);
    res.onAborted(() => exchange.abort());
    const cluster = writes ? clusterRoutingOf(app) : undefined;
    if (cluster) guard(exchange, () => cluster.serve(exchange, write, () => run(deps, exchange, handler, options)));
    else guard(exchange, () => run(deps, exchange, handler, options));
  };
  app[method](pattern, serve);
  if (method === "get") app.head(pattern, serve);
}

/** One request, after it was read: checks, authentication, the body, the (cached) handler, the answer. */
function run(deps: RouterDeps, exchange: Exchange, handler: Handler, options: RouteOptions): void | Promise<void> {
  exchange.checkRequest();
  const who = authenticate(deps, exchange.headers, options);
  exchange.viewer = who.viewer;
  exchange.token = who.token;
  exchange.via = who.via;
  if (exchange.token) {
    const waitSeconds = deps.limiter.take(`token:${exchange.token.id}`);
    if (waitSeconds > 0) throw new HttpError(429, `rate limit exceeded for this token; retry in ${waitSeconds} s`, {}, { "Retry-After": String(waitSeconds) });
  }
  if (options.streamBytesMax !== undefined) exchange.openStream(options.streamBytesMax);
  if (options.body) {
    return exchange.receiveBody(options.bodyBytesMax ?? BODY_BYTES_MAX).then(async (body) => {
      exchange.body = body;
      exchange.answer(await handler(exchange));
    });
  }
  const result = options.cache && exchange.viewer === null && deps.answers ? visitorAnswer(deps.answers, exchange, options.cache, handler) : handler(exchange);
  if (result instanceof Promise) return result.then((answer) => exchange.answer(answer));
  exchange.answer(result);
}

/** A websocket endpoint: `upgrade` reads the handshake synchronously and says what to open, or throws HttpError to refuse it. */
export interface SocketRoute<UserData> extends Omit<WebSocketBehavior<UserData>, "upgrade"> {
  upgrade(req: HttpRequest, context: Context): { data: UserData; protocol: string };
}

/**
 * Registers a websocket endpoint: its handshake runs behind the guard like a request (request id,
 * header checks, a refusal answered as JSON), its callbacks each behind the socket guard (a
 * failure closes that socket with 1011), and its pattern joins the route table.
 */
export function socketRoute<UserData>(app: TemplatedApp, siteConfig: SiteConfig, pattern: string, behavior: SocketRoute<UserData>): void {
  const spec: RouteSpec = { pattern, paramNames: [], speaks: "json", toAnswer: (error, context) => errorAnswer(error, context.requestId), remoteAddress: false, siteConfig };
  record(app, { method: "get", pattern, speaks: "websocket" }, spec);
  const { upgrade, ...callbacks } = behavior;
  app.ws<UserData>(pattern, {
    ...guardSocketCallbacks<UserData>(pattern, callbacks),
    upgrade: (res, req, socketContext) => {
      const exchange = new Exchange(res, req, spec);
      res.onAborted(() => exchange.abort());
      guard(exchange, () => {
        exchange.checkRequest();
        const key = req.getHeader("sec-websocket-key");
        const extensions = req.getHeader("sec-websocket-extensions");
        const { data, protocol } = upgrade(req, exchange);
        exchange.upgrade(data, key, protocol, extensions, socketContext);
      });
    },
  });
}

/**
 * A cacheable route's answer to a visitor who is not logged in: the kept bytes, or the handler's
 * answer rendered with the cookies and If-None-Match left out, then kept. A kept answer with an
 * ETag that matches the request's If-None-Match becomes the 304 the handler would have given.
 */
function visitorAnswer(cache: AnswerCache, context: Context, option: true | { vary: readonly HeaderName[] }, handler: Handler): Answer | Promise<Answer> {
  let key = `${context.method} ${context.path}?${context.rawQuery}`;
  if (option !== true) for (const name of option.vary) key += `\n${context.headers[name]}`;
  const ifNoneMatch = context.headers["if-none-match"];
  let answer: Answer | undefined = cache.get(key);
  if (answer === undefined) {
    context.headers.cookie = "";
    context.headers["if-none-match"] = "";
    const result = handler(context);
    if (result instanceof Promise) return result;
    answer = cache.set(key, result) ?? result;
  }
  const etag = answer.status === 200 ? answer.headers?.ETag : undefined;
  return etag !== undefined && etag === ifNoneMatch ? { status: 304, headers: answer.headers } : answer;
}

/** A JSON body that must be an object: 400 naming `expected` when it is anything else (an array, a string, …). */
export function jsonObjectBody(context: Context, expected: string): Record<string, unknown> {
  const body = jsonBody(context);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, `Invalid parameters. Expected an object with ${expected}`);
  return body as Record<string, unknown>;
}

/** Parses a JSON request body; 415 when it is not JSON, 400 when it does not parse. */
export function jsonBody(context: Context): unknown {
  const type = context.headers["content-type"].toLowerCase();
  if (!/^application\/([a-z.+-]*\+)?json\b/.test(type)) {
    throw new HttpError(415, `expected a JSON body with 'Content-Type: application/json', got ${type === "" ? "no Content-Type" : `'${type}'`}`);
  }
  const text = context.body?.toString("utf8") ?? "";
  if (text.trim() === "") throw new HttpError(400, "the request body is empty; expected a JSON object");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `malformed JSON in request body: ${(error as Error).message}`);
  }
}

/** Parses an HTML form body (urlencoded); a repeated field keeps its last value; 415 when it is not a form, 422 for a field that is not valid Unicode. */
export function formBody(context: Context): Record<string, string> {
  return Object.fromEntries(formParams(context));
}

/** A form body with its repeated fields (ticked checkboxes of one name) kept. */
export function formParams(context: Context): URLSearchParams {
  const type = context.headers["content-type"].toLowerCase();
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    throw new HttpError(415, `expected a form body with 'Content-Type: application/x-www-form-urlencoded', got ${type === "" ? "no Content-Type" : `'${type}'`}`);
  }
  return parseParams(context.body?.toString("utf8") ?? "", "form field");
}
