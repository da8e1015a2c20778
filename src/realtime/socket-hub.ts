// What the raw and Phoenix sockets share: who a socket is, which topics it may join, its subscriptions, comments, limits and counts.
import type { HttpRequest, HttpResponse, WebSocket } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { TokenId } from "../events.ts";
import type { Commands } from "../commands/commands.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import type { Store, User } from "../store/store.ts";
import { hashToken, tokenFromAuthorization } from "../auth/tokens.ts";
import { SESSION_COOKIE, cookieValue } from "../http/router.ts";
import { commentJson, type CommentJson } from "../render/json.ts";
import { ownerWireTopic, parseAliasTopic, parseTopic, wireTopic } from "./topics.ts";
import type { Ref, SocketWire } from "./wire.ts";

/** Topics one connection may follow at once. */
export const SUBSCRIPTIONS_PER_SOCKET_MAX = 100;
/** Frames larger than this get an error frame and are not parsed. */
export const FRAME_BYTES_MAX = 16 * 1024;
/** Frames larger than this are abuse: uWS closes the connection (1009) without buffering more. */
export const FRAME_BYTES_CLOSE = 64 * 1024;
/** Bad frames one connection may send per minute before it is closed (1008): the only close for bad input. */
export const ERROR_FRAMES_PER_MINUTE_MAX = 120;
const MINUTE_MS = 60_000;

/** Close codes: 1001 going away, 1008 policy (abuse), 4401 the socket's token was revoked. */
export const CLOSE = { shutdown: 1001, abuse: 1008, revoked: 4401 } as const;

/** The Phoenix client's way to send a token without putting it in the URL (`authToken` option). */
const PHOENIX_TOKEN_PROTOCOL = "base64url.bearer.phx.";

export interface Joined {
  uwsTopic: string;
  /** Phoenix's join_ref of this topic (null on the raw protocol). */
  joinRef: Ref;
}

export interface SocketData {
  wire: SocketWire;
  viewer: User | null;
  tokenId: TokenId | null;
  /** Why a session cookie sent with the handshake was not believed; told when a topic is refused. */
  cookieNote: string;
  /** `?topics=a,b` of the raw protocol, joined on open. */
  initialTopics: string[];
  joined: Map<string, Joined>;
  open: boolean;
  errorWindowStartMs: number;
  errorCount: number;
}

/**
 * uWS settings both endpoints share. A reader that falls `maxBackpressureBytes` behind is closed
 * (uWS would otherwise silently skip it on publish); a silent connection is pinged and dropped
 * when it does not answer within `idleTimeoutS` (protocol pings: clients that never send
 * Phoenix heartbeats stay connected while their socket is alive).
 */
export function socketBehavior(maxBackpressureBytes: number, idleTimeoutS: number) {
  return {
    maxPayloadLength: FRAME_BYTES_CLOSE,
    maxBackpressure: maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: idleTimeoutS,
    sendPingsAutomatically: true,
  };
}
export type SocketBehavior = ReturnType<typeof socketBehavior>;

export type Outcome = { ok: true } | { ok: false; reason: string };

export const TOPIC_LIST =
  "bookmarks:firehose, bookmarks:tag:<tag>, bookmarks:user:<name>, bookmarks:user:<name>:private, bookmark:<id>, and the original app's bookmark:feed and tag:<tag>";

/** An operating error's message; anything else is a bug, logged, and the client told only that it failed. */
export function reasonOf(error: unknown): string {
  if (error instanceof HttpError) return error.message;
  console.error("[realtime] unexpected error:", error);
  return "internal error; try again";
}

/** Whether `viewer` may follow `name`, and on which channel: the owner follows a bookmark's discussion on its owner channel. */
export function admitTopic(store: Store, name: string, viewer: User | null, cookieNote = ""): { ok: true; owner: boolean } | { ok: false; reason: string } {
  const shown = name.slice(0, 80);
  const parsed = parseTopic(name) ?? parseAliasTopic(name);
  if (!parsed) return { ok: false, reason: `unknown topic '${shown}'; topics are ${TOPIC_LIST} (tags lower-case, spaces as '-')` };
  switch (parsed.kind) {
    case "firehose":
    case "tag":
    case "feed":
    case "tagAlias":
      return { ok: true, owner: false };
    case "user":
      return store.userByName(parsed.username) ? { ok: true, owner: false } : { ok: false, reason: `no user named '${parsed.username}'` };
    case "private":
      if (viewer?.username === parsed.username) return { ok: true, owner: false };
      return { ok: false, reason: `${shown} is only for ${parsed.username}: connect with their token (?token=) or session${cookieNote}` };
    case "bookmark": {
      const bookmark = store.visibleBookmark(parsed.id, viewer);
      if (!bookmark) return { ok: false, reason: `no bookmark ${parsed.id}${cookieNote}` };
      return { ok: true, owner: bookmark.user === viewer };
    }
  }
}

export interface HubDeps {
  store: Store;
  commands: Commands;
  limiter: RateLimiter;
}

export type Refusal = { refused: true; status: string; message: string };

/**
 * The viewer of a websocket handshake, read synchronously in `upgrade`: a token in `?token=`,
 * `Authorization` or Phoenix's token subprotocol, else a session cookie, believed only when the
 * handshake's Origin is this host (a browser always sends Origin, so another site's page cannot
 * ride the cookie). A token that is sent but unknown refuses the handshake with 401.
 */
function handshakeViewer(store: Store, req: HttpRequest, protocols: string[]): Pick<SocketData, "viewer" | "tokenId" | "cookieNote"> | Refusal {
  const query = new URLSearchParams(req.getQuery() ?? "");
  const bearer = protocols.find((protocol) => protocol.startsWith(PHOENIX_TOKEN_PROTOCOL));
  let secret = query.get("token") ?? tokenFromAuthorization(req.getHeader("authorization"));
  if (!secret && bearer) secret = Buffer.from(bearer.slice(PHOENIX_TOKEN_PROTOCOL.length), "base64url").toString("utf8");
  if (secret) {
    const token = store.tokensByHash.get(hashToken(secret));
    if (!token) return { refused: true, status: "401 Unauthorized", message: "invalid or revoked token" };
    return { viewer: token.user, tokenId: token.id, cookieNote: "" };
  }
  const cookieSecret = cookieValue(req.getHeader("cookie"), SESSION_COOKIE);
  if (!cookieSecret) return { viewer: null, tokenId: null, cookieNote: "" };
  const origin = req.getHeader("origin");
  let originHost: string | null = null;
  try {
    originHost = origin === "" ? null : new URL(origin).host;
  } catch {
    originHost = "";
  }
  if (originHost !== null && originHost !== req.getHeader("host")) {
    return { viewer: null, tokenId: null, cookieNote: ` (the session cookie was ignored: Origin '${origin.slice(0, 80)}' is not this site)` };
  }
  const token = store.tokensByHash.get(hashToken(cookieSecret));
  if (!token || token.kind !== "session") return { viewer: null, tokenId: null, cookieNote: " (the session cookie is expired or unknown; log in again)" };
  return { viewer: token.user, tokenId: token.id, cookieNote: "" };
}

/** The subprotocol to answer with: the first one offered that is not a token (browsers fail a handshake that ignores theirs). */
function chosenProtocol(protocols: string[]): string {
  return protocols.find((protocol) => !protocol.startsWith(PHOENIX_TOKEN_PROTOCOL)) ?? "";
}

/**
 * Open sockets of both protocols: their subscriptions (each a uWS topic of the socket's wire
 * format), the sockets each token opened (closed when it is revoked), and joins per topic for
 * /api/status. Every send checks that the socket is still open: a comment's ack comes after an
 * await, when the client may have gone.
 */
export class SocketHub {
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private readonly byToken = new Map<TokenId, Set<WebSocket<SocketData>>>();
  private readonly joins = new Map<string, number>();

  constructor(private readonly deps: HubDeps) {}

  get connections(): number {
    return this.sockets.size;
  }

  /** Upgrades a handshake to a socket of `wire`, or answers it with an HTTP error naming the problem. */
  upgrade(res: HttpResponse, req: HttpRequest, context: unknown, wire: SocketWire, initialTopics: string[]): void {
    const key = req.getHeader("sec-websocket-key");
    const extensions = req.getHeader("sec-websocket-extensions");
    const protocols = req.getHeader("sec-websocket-protocol").split(",").map((protocol) => protocol.trim()).filter((protocol) => protocol !== "");
    const who = handshakeViewer(this.deps.store, req, protocols);
    if ("refused" in who) {
      res.writeStatus(who.status).writeHeader("content-type", "application/json").end(JSON.stringify({ error: who.message }));
      return;
    }
    const data: SocketData = { wire, ...who, initialTopics, joined: new Map(), open: false, errorWindowStartMs: 0, errorCount: 0 };
    res.upgrade(data, key, chosenProtocol(protocols), extensions, context as never);
  }

  opened(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.open = true;
    this.sockets.add(ws);
    if (data.tokenId !== null) {
      let set = this.byToken.get(data.tokenId);
      if (!set) this.byToken.set(data.tokenId, (set = new Set()));
      set.add(ws);
    }
  }

  closed(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.open = false;
    this.sockets.delete(ws);
    if (data.tokenId !== null) {
      const set = this.byToken.get(data.tokenId);
      set?.delete(ws);
      if (set?.size === 0) this.byToken.delete(data.tokenId);
    }
    for (const name of data.joined.keys()) this.countJoin(name, -1);
    data.joined.clear();
  }

  /** Joins `name` (again: keeps the subscription, takes the new join_ref). */
  join(ws: WebSocket<SocketData>, name: string, joinRef: Ref): Outcome {
    const data = ws.getUserData();
    const existing = data.joined.get(name);
    if (existing) {
      existing.joinRef = joinRef;
      return { ok: true };
    }
    if (data.joined.size >= SUBSCRIPTIONS_PER_SOCKET_MAX) return { ok: false, reason: `at most ${SUBSCRIPTIONS_PER_SOCKET_MAX} topics per connection; leave one before joining ${name.slice(0, 80)}` };
    const admitted = admitTopic(this.deps.store, name, data.viewer, data.cookieNote);
    if (!admitted.ok) return admitted;
    const uwsTopic = admitted.owner ? ownerWireTopic(data.wire, name) : wireTopic(data.wire, name);
    ws.subscribe(uwsTopic);
    data.joined.set(name, { uwsTopic, joinRef });
    this.countJoin(name, 1);
    return { ok: true };
  }

  leave(ws: WebSocket<SocketData>, name: string): Outcome {
    const data = ws.getUserData();
    const joined = data.joined.get(name);
    if (!joined) return { ok: false, reason: `not subscribed to ${name.slice(0, 80)}` };
    ws.unsubscribe(joined.uwsTopic);
    data.joined.delete(name);
    this.countJoin(name, -1);
    return { ok: true };
  }

  /**
   * Posts a comment from a socket joined to `bookmark:<id>`, through the command path; resolves
   * once it is durable (it has then been published to the topic). Rejects with HttpError.
   */
  async comment(ws: WebSocket<SocketData>, name: string, input: unknown): Promise<CommentJson> {
    const data = ws.getUserData();
    const parsed = parseTopic(name);
    if (parsed?.kind !== "bookmark") throw new HttpError(400, `comments go to a bookmark:<id> topic, not '${name.slice(0, 80)}'`);
    if (!data.viewer || data.tokenId === null) throw new HttpError(401, `commenting needs a token or session: connect with ?token=<token>${data.cookieNote}`);
    if (!data.joined.has(name)) throw new HttpError(400, `join ${name} before commenting on it`);
    const waitSeconds = this.deps.limiter.take(`token:${data.tokenId}`);
    if (waitSeconds > 0) throw new HttpError(429, `rate limit exceeded for this token; retry in ${waitSeconds} s`);
    return commentJson(await this.deps.commands.postComment(data.viewer, parsed.id, input));
  }

  /** Sends `text` if the socket is still open (corked: this may run after an await). */
  send(ws: WebSocket<SocketData>, text: string): void {
    if (!ws.getUserData().open) return;
    ws.cork(() => ws.send(text, false));
  }

  /** Counts one bad frame; true (and the socket is closed) when the connection is over its budget. */
  abusive(ws: WebSocket<SocketData>): boolean {
    const data = ws.getUserData();
    const now = Date.now();
    if (now - data.errorWindowStartMs >= MINUTE_MS) {
      data.errorWindowStartMs = now;
      data.errorCount = 0;
    }
    data.errorCount += 1;
    if (data.errorCount <= ERROR_FRAMES_PER_MINUTE_MAX) return false;
    ws.end(CLOSE.abuse, `more than ${ERROR_FRAMES_PER_MINUTE_MAX} bad frames in a minute`);
    return true;
  }

  /** Closes every socket the revoked token opened: what it was allowed to see, it may no longer. */
  tokenRevoked(id: TokenId): void {
    for (const ws of [...(this.byToken.get(id) ?? [])]) ws.end(CLOSE.revoked, "token revoked");
  }

  closeAll(): void {
    for (const ws of [...this.sockets]) ws.end(CLOSE.shutdown, "server shutting down");
  }

  /** Open connections and the busiest topics by joins (across formats). */
  status(busiest = 10): { connections: number; topics: number; busiest: { topic: string; subscribers: number }[] } {
    const top = [...this.joins].sort((a, b) => b[1] - a[1]).slice(0, busiest);
    return { connections: this.sockets.size, topics: this.joins.size, busiest: top.map(([topic, subscribers]) => ({ topic, subscribers })) };
  }

  private countJoin(name: string, delta: 1 | -1): void {
    const next = (this.joins.get(name) ?? 0) + delta;
    if (next <= 0) this.joins.delete(name);
    else this.joins.set(name, next);
  }
}
