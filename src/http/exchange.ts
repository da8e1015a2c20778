// One HTTP request as it is answered: what a handler reads (Context), its request id and logger, writing the answer once, and turning a failure into one.
import type { HttpRequest, HttpResponse, us_socket_context_t } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { Token, User } from "../store/store.ts";
import { newRequestId, type Guarded } from "../guard.ts";
import { accessLog, logger, type Logger } from "../logger.ts";
import { clientAddress } from "../auth/password-attempts.ts";
import { parseParams, percentDecode, truncate } from "../text.ts";
import { COMMON_HEADERS, JSON_TYPE, statusLine, type Answer } from "./respond.ts";
import { BodyStream } from "./body-stream.ts";
import { siteOrigin, type SiteConfig, type SiteOrigin } from "../auth/site-origin.ts";
import { requestAnswered, requestStarted, type RequestTiming } from "../metrics.ts";

/** The headers any handler may read; uWS only lets us read them before the handler returns. */
const HEADER_NAMES = ["authorization", "content-type", "content-length", "cookie", "origin", "host", "accept", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "hx-request", "if-none-match", "user-agent", "x-nasty-request-id", "x-nasty-cluster-secret", "x-nasty-retry", "x-nasty-client-address"] as const;
export type HeaderName = (typeof HEADER_NAMES)[number];
const HEADER_NAME_SET: ReadonlySet<string> = new Set(HEADER_NAMES);

/** Bytes no header may hold (RFC 9110 field values): control characters other than horizontal tab. */
const FORBIDDEN_HEADER_BYTE = /[\x00-\x08\x0A-\x1F\x7F]/;

export interface Context {
  /** Lower-case as uWS gives it; a HEAD request is handled as "get" (only its answer goes without a body). */
  method: string;
  path: string;
  /** The parsed query string; reading it throws 400/422 when a parameter's escapes are not UTF-8 or not valid Unicode. */
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
  /** Cluster mode: the client's address the forwarding node vouched for (clientIp), or null. */
  vouchedClient: string | null;
  /** This request's id, sent back as X-Request-Id and on every log line it causes. */
  requestId: string;
  /** A logger whose every line carries the request id (made on first use). */
  log: Logger;
  /** Where the visitor reached this site (NASTY_PUBLIC_URL, or the request's headers): for Origin checks, cookies and links. */
  site: SiteOrigin;
}

/** What an exchange needs of its route. */
export interface RouteSpec {
  pattern: string;
  paramNames: readonly string[];
  speaks: "json" | "html";
  /** Turns an error (operating or not) into the route's answer. */
  toAnswer: (error: unknown, context: Context) => Answer;
  /** Read the peer's address (also read whenever the access log is on). */
  remoteAddress: boolean;
  /** NASTY_PUBLIC_URL and NASTY_TRUST_PROXY, for `site`. */
  siteConfig: SiteConfig;
}

/** The last answer when even the route's error answer failed: 500 in the route's language. */
function bareInternalError(speaks: RouteSpec["speaks"], requestId: string): Answer {
  const message = `internal error; it has been logged as ${requestId}`;
  if (speaks === "json") return { status: 500, json: { error: message, request_id: requestId } };
  return { status: 500, body: `<!doctype html><title>Error</title><h1>Something went wrong</h1><p>${message}</p>`, contentType: "text/html; charset=utf-8" };
}

/**
 * A request and its response. Everything is read from `req` in the constructor (uWS invalidates
 * it when the handler returns); the answer is written once, corked (it may come after an await),
 * never after the client went away, and never twice: a failure after the status line went out
 * closes the connection instead, since a second status line would corrupt the stream.
 */
export class Exchange implements Context, Guarded {
  readonly requestId = newRequestId();
  readonly method: string;
  readonly head: boolean;
  readonly path: string;
  readonly rawQuery: string;
  readonly params: string[] = [];
  readonly headers: Record<HeaderName, string> = {
    authorization: "", "content-type": "", "content-length": "", cookie: "", origin: "", host: "", accept: "",
    "x-forwarded-for": "", "x-forwarded-host": "", "x-forwarded-proto": "", "hx-request": "", "if-none-match": "", "user-agent": "",
    "x-nasty-request-id": "", "x-nasty-cluster-secret": "", "x-nasty-retry": "", "x-nasty-client-address": "",
  };
  readonly remoteAddress: string;
  /** Cluster mode: the original client's address a node of this cluster forwarded the request for (set only once its secret matched). */
  vouchedClient: string | null = null;
  viewer: User | null = null;
  token: Token | null = null;
  via: Context["via"] = null;
  body: Buffer | null = null;
  stream?: BodyStream;
  /** Sees (and may change) the answer before it is written, also when the client went away (cluster mode keeps forwarded writes' answers). */
  onAnswer: ((answer: Answer) => Answer) | null = null;
  /** The first header holding a forbidden byte, by name ("" when none). */
  readonly badHeader: string = "";
  private aborted = false;
  /** "none" → nothing written yet; "started" → the status line is out; "done" → ended. */
  private written: "none" | "started" | "done" = "none";
  private parsedQuery: URLSearchParams | null = null;
  private child: Logger | null = null;
  private readonly startedMs: number;
  private readSite: SiteOrigin | null = null;
  /** Set when metrics are on (metrics.ts). */
  private readonly timing: RequestTiming | null;

  constructor(
    private readonly res: HttpResponse,
    req: HttpRequest,
    private readonly route: RouteSpec,
  ) {
    this.startedMs = accessLog === null ? 0 : performance.now();
    const method = req.getMethod();
    this.head = method === "head";
    this.method = this.head ? "get" : method;
    this.path = req.getUrl();
    this.timing = requestStarted(route.pattern, req);
    this.rawQuery = req.getQuery() ?? "";
    let badHeader = "";
    req.forEach((name, value) => {
      if (HEADER_NAME_SET.has(name) && this.headers[name as HeaderName] === "") this.headers[name as HeaderName] = value;
      if (badHeader === "" && (FORBIDDEN_HEADER_BYTE.test(value) || FORBIDDEN_HEADER_BYTE.test(name))) badHeader = name;
    });
    this.badHeader = badHeader;
    for (let index = 0; index < route.paramNames.length; index += 1) this.params.push(req.getParameter(index) ?? "");
    this.remoteAddress = route.remoteAddress || accessLog !== null ? Buffer.from(res.getRemoteAddressAsText()).toString() : "";
  }

  get log(): Logger {
    return (this.child ??= logger.child({ request_id: this.requestId }));
  }

  get site(): SiteOrigin {
    return (this.readSite ??= siteOrigin(this.headers, this.route.siteConfig));
  }

  /** Throws 400 naming a parameter whose escapes are not UTF-8, 422 for one that is not valid Unicode (text.ts parseParams). */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= parseParams(this.rawQuery, "query parameter"));
  }

  /** Checks what was read before the handler runs: header bytes, then the path parameters' escapes (decoded in place). */
  checkRequest(): void {
    if (this.badHeader !== "") throw new BadHeaderError(this.badHeader);
    for (let index = 0; index < this.params.length; index += 1) {
      const decoded = percentDecode(this.params[index]!);
      if (decoded === null) throw new HttpError(400, `the address part :${this.route.paramNames[index]} ('${truncate(this.params[index]!, 60)}') has percent-escapes that are not UTF-8`);
      this.params[index] = decoded;
    }
  }

  /**
   * Collects the body, copying each chunk (uWS reuses its buffers), refusing past `bytesMax`
   * with 413 as soon as the declared or received size says so.
   */
  receiveBody(bytesMax: number): Promise<Buffer> {
    // Asked again (a forwarded retry starts reading before an await), the same body.
    this.bodyRead ??= this.readBody(bytesMax);
    return this.bodyRead;
  }

  private bodyRead: Promise<Buffer> | null = null;

  private readBody(bytesMax: number): Promise<Buffer> {
    const declaredLength = this.headers["content-length"];
    return new Promise((resolve, reject) => {
      if (declaredLength !== "" && Number(declaredLength) > bytesMax) {
        reject(new HttpError(413, `request body of ${declaredLength} bytes is over the limit of ${bytesMax} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      this.res.onData((chunk, isLast) => {
        if (done) return;
        size += chunk.byteLength;
        if (size > bytesMax) {
          done = true;
          reject(new HttpError(413, `request body is over the limit of ${bytesMax} bytes`));
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

  /** Hands the body over as it arrives (context.stream), refusing past `bytesMax`. */
  openStream(bytesMax: number): void {
    this.stream = new BodyStream(this.res, bytesMax, this.headers["content-length"]);
  }

  /** Answers a websocket handshake with 101 (carrying X-Request-Id) and opens the socket with `data`. */
  upgrade<UserData>(data: UserData, key: string, protocol: string, extensions: string, socketContext: us_socket_context_t): void {
    if (!this.open) return;
    this.written = "started";
    this.res.cork(() => {
      this.res.writeStatus("101 Switching Protocols").writeHeader("X-Request-Id", this.requestId);
      this.res.upgrade(data, key, protocol, extensions, socketContext);
    });
    this.written = "done";
    if (accessLog !== null) this.logAccess(101, 0);
  }

  /** The client went away (uWS onAborted): nothing may touch the response any more. */
  abort(): void {
    this.aborted = true;
    this.stream?.abort();
    if (accessLog !== null && this.written !== "done") this.logAccess(null, 0);
  }

  /** True until the answer went out or the client went away. */
  get open(): boolean {
    return !this.aborted && this.written === "none";
  }

  /** Writes `answer` unless the client went away or it was already answered. */
  answer(answer: Answer): void {
    const final = this.onAnswer === null ? answer : this.onAnswer(answer);
    this.onAnswer = null;
    if (!this.open) return;
    this.res.cork(() => this.write(final));
  }

  fail(error: unknown): void {
    if (!(error instanceof HttpError)) this.log.error({ err: error, route: `${this.method.toUpperCase()} ${this.route.pattern}`, path: this.path }, "unexpected error; answered 500");
    else if (logger.isLevelEnabled("debug")) this.log.debug({ status: error.status, error: error.message, path: this.path }, "answered an operating error");
    if (this.written === "done" || (this.aborted && this.onAnswer === null)) return;
    if (this.written === "started") {
      this.abandon();
      return;
    }
    let answer: Answer;
    try {
      answer = this.route.toAnswer(error, this);
    } catch (second) {
      this.log.error({ err: second }, "the route's error answer failed; answered a bare 500");
      answer = bareInternalError(this.route.speaks, this.requestId);
    }
    this.answer(error instanceof BadHeaderError ? { ...answer, close: true } : answer);
  }

  abandon(): void {
    if (this.aborted || this.written === "done") return;
    this.written = "done";
    this.res.close();
  }

  private write(answer: Answer): void {
    this.written = "started";
    const res = this.res;
    res.writeStatus(statusLine(answer.status));
    res.writeHeader("X-Request-Id", this.requestId);
    for (const name in COMMON_HEADERS) res.writeHeader(name, COMMON_HEADERS[name]!);
    if (answer.headers) for (const name in answer.headers) res.writeHeader(name, answer.headers[name]!);
    let bytes = 0;
    if (answer.status === 204 || answer.status === 304) {
      res.endWithoutBody();
    } else {
      const raw = answer.body ?? JSON.stringify(answer.json ?? null);
      // uWS writes a lone surrogate as bytes that are not UTF-8; escaping (render/escape.ts) already keeps them out, this is the backstop.
      const body = typeof raw === "string" && !raw.isWellFormed() ? raw.toWellFormed() : raw;
      res.writeHeader("Content-Type", answer.contentType ?? JSON_TYPE);
      if (this.head || accessLog !== null) bytes = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
      // HEAD: GET's headers and length, no body. (This uWS marks a response with a reported length as unfinished, so the length is a header.)
      if (this.head && answer.close !== true) res.writeHeader("Content-Length", String(bytes)).endWithoutBody();
      else res.end(body, answer.close === true);
    }
    this.written = "done";
    if (this.timing !== null) requestAnswered(this.timing, answer.status);
    if (accessLog !== null) this.logAccess(answer.status, bytes);
  }

  /** One access record: method, path (never the query, which may hold a token), status (null: the client went away), bytes, duration, client. */
  private logAccess(status: number | null, bytes: number): void {
    logger.info({
      request_id: this.requestId, method: this.head ? "HEAD" : this.method.toUpperCase(), path: this.path, status, bytes,
      duration_ms: Math.round((performance.now() - this.startedMs) * 10) / 10, client: clientAddress(this, accessLog!.trustProxy),
    }, "access");
  }
}

/** A header holding a forbidden byte: 400, and the connection is closed (what follows on it cannot be trusted). */
export class BadHeaderError extends HttpError {
  constructor(header: string) {
    super(400, `the request header '${truncate(header.replace(/[\x00-\x1F\x7F]/g, "?"), 60)}' holds a control character (only tab is allowed in a header)`);
  }
}
