// Who may follow what, for every live endpoint (/ws, /socket/websocket, /live): the handshake's viewer, the one admission rule, the one set of socket limits.
import type { HttpRequest, WebSocketBehavior } from "uWebSockets.js";
import type { TokenId } from "../events.ts";
import { isAdmin, type Store, type User } from "../store/store.ts";
import type { Config } from "../config.ts";
import { hashToken, tokenFromAuthorization } from "../auth/tokens.ts";
import { SESSION_COOKIE, cookieValue } from "../auth/cookies.ts";
import { handshakeSite, isSiteOrigin, type SiteConfig, type SiteOrigin } from "../auth/site-origin.ts";
import { ADMIN_TOPIC, STATS_TOPIC, parseAliasTopic, parseTagSetTopic, parseTopic } from "./topics.ts";
import { TAG_SETS_ACTIVE_MAX } from "./tag-sets.ts";

/** The three live endpoints: raw JSON, Phoenix Channels, and the pages' HTML fragments. */
export type Endpoint = "ws" | "phoenix" | "live";

/** The Phoenix client's way to send a token without putting it in the URL (`authToken` option). */
export const PHOENIX_TOKEN_PROTOCOL = "base64url.bearer.phx.";

/**
 * Whether a handshake's Origin is this site (site-origin.ts: NASTY_PUBLIC_URL's origin when set,
 * else the Host, or a trusted proxy's forwarded host); no Origin is no browser's, so it is not.
 */
export function isThisSite(origin: string, site: SiteOrigin): boolean {
  return origin !== "" && isSiteOrigin(origin, site);
}

/** The viewer of a handshake: who they are, the token or session that says so, and why a cookie sent was not believed. */
export interface HandshakeViewer {
  viewer: User | null;
  tokenId: TokenId | null;
  /** Set when the viewer came from a session (cookie or session token): logging out ends what it opened. */
  viaSession: boolean;
  cookieNote: string;
}

export type HandshakeRefusal = { refused: true; status: string; message: string };

export interface HandshakeHeaders {
  query: URLSearchParams;
  authorization: string;
  protocols: readonly string[];
  cookie: string;
  origin: string;
  site: SiteOrigin;
}

/** Reads what the viewer reader needs from `req`, synchronously (uWS forbids reading it later). */
export function handshakeHeaders(req: HttpRequest, config: SiteConfig): HandshakeHeaders {
  return {
    query: new URLSearchParams(req.getQuery() ?? ""),
    authorization: req.getHeader("authorization"),
    protocols: req.getHeader("sec-websocket-protocol").split(",").map((protocol) => protocol.trim()).filter((protocol) => protocol !== ""),
    cookie: req.getHeader("cookie"),
    origin: req.getHeader("origin"),
    site: handshakeSite(req, config),
  };
}

const NOBODY: HandshakeViewer = { viewer: null, tokenId: null, viaSession: false, cookieNote: "" };

/**
 * The viewer of a websocket handshake, for every endpoint: a token in `?token=`, `Authorization`
 * or Phoenix's token subprotocol, else a session cookie, believed only when the handshake's
 * Origin is this site (isThisSite: a browser always sends Origin, so another site's page cannot
 * ride the cookie, and a handshake without one is no browser's). A token that is sent but
 * unknown refuses the handshake with 401.
 */
export function readHandshakeViewer(store: Store, headers: HandshakeHeaders): HandshakeViewer | HandshakeRefusal {
  const bearer = headers.protocols.find((protocol) => protocol.startsWith(PHOENIX_TOKEN_PROTOCOL));
  let secret = headers.query.get("token") ?? tokenFromAuthorization(headers.authorization);
  if (!secret && bearer) secret = Buffer.from(bearer.slice(PHOENIX_TOKEN_PROTOCOL.length), "base64url").toString("utf8");
  if (secret) {
    const token = store.activeToken(hashToken(secret));
    if (!token) return { refused: true, status: "401 Unauthorized", message: "invalid or revoked token" };
    return { viewer: token.user, tokenId: token.id, viaSession: token.kind === "session", cookieNote: "" };
  }
  const cookieSecret = headers.cookie === "" ? null : cookieValue(headers.cookie, SESSION_COOKIE);
  if (!cookieSecret) return NOBODY;
  if (!isThisSite(headers.origin, headers.site)) {
    const origin = headers.origin === "" ? "no Origin header" : `Origin '${headers.origin.slice(0, 80)}' is not this site`;
    return { ...NOBODY, cookieNote: ` (the session cookie was ignored: ${origin})` };
  }
  const token = store.activeToken(hashToken(cookieSecret));
  if (!token || token.kind !== "session") return { ...NOBODY, cookieNote: " (the session cookie is expired or unknown; log in again)" };
  return { viewer: token.user, tokenId: token.id, viaSession: true, cookieNote: "" };
}

/** The subprotocol to answer with: the first one offered that is not a token (browsers fail a handshake that ignores theirs). */
export function chosenProtocol(protocols: readonly string[]): string {
  return protocols.find((protocol) => !protocol.startsWith(PHOENIX_TOKEN_PROTOCOL)) ?? "";
}

export const TOPIC_LIST =
  "bookmarks:firehose, bookmarks:tag:<tag>, bookmarks:user:<name>, bookmarks:user:<name>:private, bookmark:<id>, and the original app's bookmark:feed and tag:<tag>";

const PAGE_TOPIC_LIST = "bookmarks:firehose, bookmarks:tag:<tag>, bookmarks:tags:<a>+<b>, bookmarks:user:<name>, bookmarks:user:<name>:private, bookmark:<id>, stats";

/** Why a topic was refused: a bad name, not this viewer's, nothing there, or too many tag sets followed already. */
export type Refused = "bad" | "forbidden" | "missing" | "busy";

/**
 * The admission of a topic: refused with a reason, or admitted on the owner channel (`owner`:
 * the owner of a bookmark follows its discussion there) or the public one; `tagSet` for a
 * multi-tag feed (pages only).
 */
export type Admission = { ok: true; owner: boolean; tagSet: string[] | null } | { ok: false; refused: Refused; reason: string };

const ADMITTED: Admission = { ok: true, owner: false, tagSet: null };

function refuse(refused: Refused, reason: string): Admission {
  return { ok: false, refused, reason };
}

/**
 * Whether `viewer` may follow `name` on `endpoint`, the one rule for all three: public topics
 * for anyone (a person's topic only if they exist), a private topic for its owner, a bookmark's
 * discussion for whoever may see the bookmark. The original app's aliases are JSON-only; the
 * stats panel and multi-tag feeds are pages-only (at most TAG_SETS_ACTIVE_MAX different ones).
 */
export function admit(store: Store, endpoint: Endpoint, name: string, viewer: User | null, tagSets: { has(name: string): boolean; readonly size: number }, cookieNote = ""): Admission {
  const shown = name.slice(0, 80);
  const pages = endpoint === "live";
  const unknown = () => refuse("bad", `unknown topic '${shown}'; topics are ${pages ? PAGE_TOPIC_LIST : TOPIC_LIST} (tags lower-case, spaces as '-')`);
  if (name === STATS_TOPIC) return pages ? ADMITTED : unknown();
  if (name === ADMIN_TOPIC) {
    if (!pages) return unknown();
    return isAdmin(viewer) ? ADMITTED : refuse("forbidden", `${ADMIN_TOPIC} is only for this site's admins${cookieNote}`);
  }
  const tagSet = parseTagSetTopic(name);
  if (tagSet) {
    if (!pages) return unknown();
    if (!tagSets.has(name) && tagSets.size >= TAG_SETS_ACTIVE_MAX) return refuse("busy", "too many different tag combinations are followed right now");
    return { ok: true, owner: false, tagSet };
  }
  const parsed = parseTopic(name) ?? (pages ? null : parseAliasTopic(name));
  if (!parsed) return unknown();
  switch (parsed.kind) {
    case "firehose":
    case "tag":
    case "feed":
    case "tagAlias":
      return ADMITTED;
    case "user":
      return store.userByName(parsed.username) ? ADMITTED : refuse("missing", `no user named '${parsed.username}'`);
    case "private":
      if (viewer?.username === parsed.username) return ADMITTED;
      return refuse("forbidden", `${shown} is only for ${parsed.username}, logged in on this site: connect with their token (?token=) or session${cookieNote}`);
    case "bookmark": {
      const bookmark = store.visibleBookmark(parsed.id, viewer);
      if (!bookmark) return refuse("missing", `no bookmark ${parsed.id}${cookieNote}`);
      return { ok: true, owner: bookmark.user === viewer, tagSet: null };
    }
  }
}

/**
 * uWS settings of every live endpoint, set here only. A reader that falls
 * `wsMaxBackpressureBytes` behind is closed (uWS would otherwise silently skip it on publish); a
 * silent connection is pinged and dropped when it does not answer within `wsIdleTimeoutS`
 * (protocol pings: clients that never send Phoenix heartbeats stay connected while alive).
 * `incomingBytesMax` is the frame size at which uWS closes the connection without buffering more.
 */
export function socketLimits(config: Pick<Config, "wsMaxBackpressureBytes" | "wsIdleTimeoutS">, incomingBytesMax: number) {
  return {
    maxPayloadLength: incomingBytesMax,
    maxBackpressure: config.wsMaxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: config.wsIdleTimeoutS,
    sendPingsAutomatically: true,
  };
}
export type SocketLimits = ReturnType<typeof socketLimits>;

/**
 * The part of its backpressure budget a resuming socket may fill with history before it is told
 * to resync instead: three quarters, leaving room for the live pushes that follow the replay
 * while the client reads it (1,000 firehose pushes fit the default 1 MiB).
 */
export function replayBytesMax(config: Pick<Config, "wsMaxBackpressureBytes">): number {
  return Math.floor((config.wsMaxBackpressureBytes * 3) / 4);
}

/** What `since` may be: the seq of an event (a whole number), as a client sends it in a URL or frame. */
export const SINCE_PROBLEM = "since must be the seq of the last event you saw (a whole number)";

/** `since` from a frame or query: a whole number, absent (null), or wrong ("bad"). */
export function parseSince(value: unknown): number | null | "bad" {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : "bad";
  if (typeof value === "string" && /^\d{1,15}$/.test(value)) return Number(value);
  return "bad";
}

/** A websocket endpoint as the live part describes it: `upgrade` reads the handshake synchronously and says what to open, or throws HttpError to refuse it. */
export interface SocketEndpoint<UserData> extends Omit<WebSocketBehavior<UserData>, "upgrade"> {
  upgrade(req: HttpRequest): { data: UserData; protocol: string };
}

/** Registers an endpoint on the server (main.ts hands in http/router.ts's socketRoute: the guard, the route table). */
export type RegisterSocket = <UserData>(pattern: string, endpoint: SocketEndpoint<UserData>) => void;
