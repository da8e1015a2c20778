// Routes on uWS: reads each request synchronously, authenticates, reads bounded bodies, answers once.
import type { HttpRequest, HttpResponse, TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Store, Token, User } from "../store/store.ts";
import { hashToken, tokenFromAuthorization } from "../auth/tokens.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import { errorAnswer, writeAnswer, type Answer, type ResponseState } from "./respond.ts";
import { BodyStream } from "./body-stream.ts";
import type { AnswerCache } from "./answer-cache.ts";
import { parseParams, percentDecode, truncate } from "../text.ts";
import { requestStarted } from "../metrics.ts";
import { siteOrigin, type SiteConfig, type SiteOrigin } from "./site-origin.ts";

export const BODY_BYTES_MAX = 64 * 1024;
export const SESSION_COOKIE = "nasty_session";

/** The headers any handler may read; uWS only lets us read them before the handler returns. */
const HEADER_NAMES = ["authorization", "content-type", "content-length", "cookie", "origin", "host", "accept", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "hx-request", "if-none-match", "user-agent"] as const;
export type HeaderName = (typeof HEADER_NAMES)[number];
const HEADER_NAME_SET: ReadonlySet<string> = new Set(HEADER_NAMES);

export interface Context {
  method: string;
  path: string;
  /** The parsed query string; reading it throws 422 when a parameter is not valid Unicode. */
  query: URLSearchParams;
  /** The query string as sent (without "?"), e.g. for cache keys. */
  rawQuery: string;
  params: string[];
  /** Each of HEADER_NAMES, "" when absent; a repeated header keeps its first non-empty value. */
  headers: Record<HeaderName, string>;
  viewer: User | null;
  token: Token | null;
  /** How the viewer proved who they are: a token header, a session cookie, or nothing. */
  via: "header" | "cookie" | null;
  /** The raw body (routes with `body`), copied out of uWS's buffers. */
  body: Buffer | null;
  /** The body as it arrives (routes with `streamBytesMax`), for uploads too big to buffer. */
  stream?: BodyStream;
  /** The peer's address, read only for routes with `remoteAddress` ("" elsewhere). */
  remoteAddress: string;
  /** Where the visitor reached this site (NASTY_PUBLIC_URL, or the request's headers): for Origin checks, cookies and links. */
  site: SiteOrigin;
}

export type Handler = (context: Context) => Answer | Promise<Answer>;

export type Auth = "none" | "optional" | "required";

export interface RouteOptions {
  auth?: Auth;
  body?: boolean;
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
  /** Turns an error into the answer (pages answer HTML). */
  onError?: (error: unknown, context: Context | null) => Answer;
}

export interface RouterDeps {
  store: Store;
  limiter: RateLimiter;
  config: SiteConfig;
  /** Where routes with `cache` keep their answers to visitors; without it they render every time. */
  answers?: AnswerCache;
}

/** The value of cookie `name`, percent-decoded; a value that does not decode is ignored like an absent one. */
export function cookieValue(cookieHeader: string, name: string): string | null {
  for (const part of cookieHeader.split(";")) {
    const index = part.indexOf("=");
    if (index > 0 && part.slice(0, index).trim() === name) return percentDecode(part.slice(index + 1).trim());
  }
  return null;
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

/** A request's context; the query string is parsed only when a handler asks for it. */
class RequestContext implements Context {
  viewer: User | null = null;
  token: Token | null = null;
  via: Context["via"] = null;
  body: Buffer | null = null;
  stream?: BodyStream;
  private parsedQuery: URLSearchParams | null = null;
  private readSite: SiteOrigin | null = null;

  constructor(
    readonly method: string,
    readonly path: string,
    readonly rawQuery: string,
    readonly params: string[],
    readonly headers: Record<HeaderName, string>,
    readonly remoteAddress: string,
    private readonly siteConfig: SiteConfig,
  ) {}

  get site(): SiteOrigin {
    return (this.readSite ??= siteOrigin(this.headers, this.siteConfig));
  }

  /** Throws 400 naming a parameter whose escapes are not UTF-8, 422 for one that is not valid Unicode (text.ts parseParams). */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= parseParams(this.rawQuery, "query parameter"));
  }
}

/**
 * Reads what a handler may need from `req` while it is valid: the headers in one pass over those
 * sent (one native call, where asking for each name by itself is twelve), the URL, the query
 * string, parameters, and the peer address when the route asks for it.
 */
function readContext(res: HttpResponse, req: HttpRequest, paramNames: readonly string[], withAddress: boolean, siteConfig: SiteConfig): RequestContext {
  const headers: Record<HeaderName, string> = {
    authorization: "", "content-type": "", "content-length": "", cookie: "", origin: "", host: "", accept: "",
    "x-forwarded-for": "", "x-forwarded-host": "", "x-forwarded-proto": "", "hx-request": "", "if-none-match": "", "user-agent": "",
  };
  req.forEach((name, value) => {
    if (HEADER_NAME_SET.has(name) && headers[name as HeaderName] === "") headers[name as HeaderName] = value;
  });
  const params: string[] = [];
  for (let index = 0; index < paramNames.length; index += 1) params.push(req.getParameter(index) ?? "");
  const address = withAddress ? Buffer.from(res.getRemoteAddressAsText()).toString() : "";
  return new RequestContext(req.getMethod(), req.getUrl(), req.getQuery() ?? "", params, headers, address, siteConfig);
}

/** Percent-decodes the path parameters in place; 400 naming the first whose escapes are not UTF-8. */
function decodeParams(params: string[], names: readonly string[]): void {
  for (let index = 0; index < params.length; index += 1) {
    const decoded = percentDecode(params[index]!);
    if (decoded === null) throw new HttpError(400, `the address part :${names[index]} ('${truncate(params[index]!, 60)}') has percent-escapes that are not UTF-8`);
    params[index] = decoded;
  }
}

/**
 * Collects the body, copying each chunk (uWS reuses its buffers), refusing past BODY_BYTES_MAX
 * with 413 as soon as the declared or received size says so.
 */
function readBody(res: HttpResponse, declaredLength: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== "" && Number(declaredLength) > BODY_BYTES_MAX) {
      reject(new HttpError(413, `request body of ${declaredLength} bytes is over the limit of ${BODY_BYTES_MAX} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > BODY_BYTES_MAX) {
        done = true;
        reject(new HttpError(413, `request body is over the limit of ${BODY_BYTES_MAX} bytes`));
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      }
    });
  });
}

export type Method = "get" | "post" | "patch" | "put" | "del" | "any";

/** One registered route: what the method tests walk (HEAD, OPTIONS, 405, bad escapes on every route). */
export interface RouteEntry {
  method: Method;
  pattern: string;
  /** What its answers (and errors) are written in. */
  speaks: "json" | "html";
}

const routeTables = new WeakMap<TemplatedApp, RouteEntry[]>();

/** Every route registered on `app` through `route`, in registration order. */
export function routeTable(app: TemplatedApp): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/**
 * Registers `handler`. Header, URL and auth are read synchronously (uWS invalidates `req` after
 * the handler returns); `onAborted` is set before anything async; late writes are corked.
 */
export function route(app: TemplatedApp, deps: RouterDeps, method: Method, pattern: string, handler: Handler, options: RouteOptions = {}): void {
  let table = routeTables.get(app);
  if (!table) routeTables.set(app, (table = []));
  table.push({ method, pattern, speaks: options.speaks ?? "json" });
  const paramNames = pattern.match(/(?<=\/:)[^/]+/g) ?? [];
  const toAnswer = options.onError ?? ((error: unknown, context: Context | null) => errorAnswer(error, `${context?.method ?? method} ${context?.path ?? pattern}`));
  app[method](pattern, (res, req) => {
    const state: ResponseState = { aborted: false, answered: false, timing: requestStarted(pattern, () => req.getMethod()) };
    let stream: BodyStream | undefined;
    res.onAborted(() => {
      state.aborted = true;
      stream?.abort();
    });
    const base = readContext(res, req, paramNames, options.remoteAddress === true, deps.config);
    let context: Context | null = null;
    try {
      decodeParams(base.params, paramNames);
      const who = authenticate(deps, base.headers, options);
      base.viewer = who.viewer;
      base.token = who.token;
      base.via = who.via;
      context = base;
      if (context.token) {
        const waitSeconds = deps.limiter.take(`token:${context.token.id}`);
        if (waitSeconds > 0) throw new HttpError(429, `rate limit exceeded for this token; retry in ${waitSeconds} s`, {}, { "Retry-After": String(waitSeconds) });
      }
    } catch (error) {
      writeAnswer(res, state, toAnswer(error, context));
      return;
    }
    const ready = context;
    if (options.streamBytesMax !== undefined) ready.stream = stream = new BodyStream(res, options.streamBytesMax, ready.headers["content-length"]);
    const late = (answer: Answer) => {
      if (!state.aborted && !state.answered) res.cork(() => writeAnswer(res, state, answer));
    };
    if (options.body) {
      readBody(res, ready.headers["content-length"])
        .then((body) => {
          ready.body = body;
          return handler(ready);
        })
        .then(late, (error) => late(toAnswer(error, ready)));
      return;
    }
    let result: Answer | Promise<Answer>;
    try {
      result = options.cache && ready.viewer === null && deps.answers ? visitorAnswer(deps.answers, ready, options.cache, handler) : handler(ready);
    } catch (error) {
      writeAnswer(res, state, toAnswer(error, ready));
      return;
    }
    if (result instanceof Promise) result.then(late, (error) => late(toAnswer(error, ready)));
    else writeAnswer(res, state, result);
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
  const type = context.headers["content-type"].toLowerCase();
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    throw new HttpError(415, `expected a form body with 'Content-Type: application/x-www-form-urlencoded', got ${type === "" ? "no Content-Type" : `'${type}'`}`);
  }
  return Object.fromEntries(parseParams(context.body?.toString("utf8") ?? "", "form field"));
}
