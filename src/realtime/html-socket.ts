// The pages' live websocket `/live?topic=…`: admits a viewer to one topic they may see and subscribes it to that topic's HTML fragments.
import type { HttpRequest, TemplatedApp, WebSocket } from "uWebSockets.js";
import type { LoggedEvent } from "../events.ts";
import type { Store, User } from "../store/store.ts";
import { hashToken } from "../auth/tokens.ts";
import { SESSION_COOKIE, cookieValue, socketRoute } from "../http/router.ts";
import { handshakeSite, isSiteOrigin, type SiteConfig, type SiteOrigin } from "../http/site-origin.ts";
import { STATS_TOPIC, parseTagSetTopic, parseTopic, readMarksTopic, wireTopic } from "./topics.ts";
import { TAG_SETS_ACTIVE_MAX, type TagSets } from "./html-feed.ts";
import { socketClosed } from "../metrics.ts";

/** Close codes the page sees; none of them is in hx-ws's reconnect list, so a refused page stays quiet. */
export const LIVE_CLOSE = { badRequest: 4400, forbidden: 4403, notFound: 4404, busy: 4429 } as const;

/** Pages never send on this socket: anything longer than this closes it at once (uWS's own limit). */
const INCOMING_BYTES_MAX = 1024;

interface LiveData {
  topic: string | null;
  tagSet: string[] | null;
  /** The session of a logged-in viewer: revoking it (log-out) closes a private topic, or stops the read marks. */
  sessionId: number | null;
  /** Whose read marks (readMarksTopic) the socket follows: the viewer's, on any topic showing cards but their private one. */
  marksOf: string | null;
  refusal: { code: number; reason: string } | null;
}

/** A viewer known by their session cookie. */
export interface LiveViewer {
  user: User;
  sessionId: number;
}

export interface LiveSocketDeps {
  store: Store;
  tagSets: TagSets;
  wsMaxBackpressureBytes: number;
  /** Silence allowed before a ping goes out; a socket that does not answer it is dropped. */
  wsIdleTimeoutS: number;
  /** What "this site" is, for the cookie's Origin check. */
  site: SiteConfig;
}

/** Open live page sockets, their subscribers per topic (for /stats), the read marks followed, and the logged-in ones by session. */
export class LiveSockets {
  connections = 0;
  readonly subscribers = new Map<string, number>();
  /** Sockets following each person's read marks (not shown on /stats: who is watching is nobody's business). */
  readonly marksFollowers = new Map<string, number>();
  private readonly bySession = new Map<number, Set<WebSocket<LiveData>>>();

  opened(ws: WebSocket<LiveData>, data: LiveData): void {
    this.connections += 1;
    this.count(this.subscribers, data.topic!, 1);
    if (data.marksOf !== null) {
      ws.subscribe(wireTopic("html", readMarksTopic(data.marksOf)));
      this.count(this.marksFollowers, data.marksOf, 1);
    }
    if (data.sessionId === null) return;
    let sockets = this.bySession.get(data.sessionId);
    if (!sockets) this.bySession.set(data.sessionId, (sockets = new Set()));
    sockets.add(ws);
  }

  closed(ws: WebSocket<LiveData>, data: LiveData): void {
    this.connections -= 1;
    this.count(this.subscribers, data.topic!, -1);
    if (data.marksOf !== null) this.count(this.marksFollowers, data.marksOf, -1);
    if (data.sessionId === null) return;
    const sockets = this.bySession.get(data.sessionId);
    sockets?.delete(ws);
    if (sockets?.size === 0) this.bySession.delete(data.sessionId);
  }

  /**
   * Follows the log: a revoked session (log-out) stops receiving what was its own at once. A
   * socket on a private topic is closed; one on a public topic keeps it and loses the read marks.
   */
  afterApply(event: LoggedEvent): void {
    if (event.type !== "token.revoked") return;
    for (const ws of [...(this.bySession.get(event.payload.id) ?? [])]) {
      const data = ws.getUserData();
      if (data.marksOf === null) {
        ws.end(LIVE_CLOSE.forbidden, "your session ended; log in again");
        continue;
      }
      ws.unsubscribe(wireTopic("html", readMarksTopic(data.marksOf)));
      this.count(this.marksFollowers, data.marksOf, -1);
      data.marksOf = null;
      data.sessionId = null;
      this.bySession.get(event.payload.id)?.delete(ws);
    }
    if (this.bySession.get(event.payload.id)?.size === 0) this.bySession.delete(event.payload.id);
  }

  private count(counts: Map<string, number>, name: string, delta: 1 | -1): void {
    const next = (counts.get(name) ?? 0) + delta;
    if (next <= 0) counts.delete(name);
    else counts.set(name, next);
  }
}

/** The viewer of a session cookie, believed only when the socket's Origin is our own host (no cross-site hijacking). */
function cookieViewer(store: Store, cookie: string, origin: string, site: SiteOrigin): LiveViewer | null {
  const secret = cookie === "" ? null : cookieValue(cookie, SESSION_COOKIE);
  if (!secret) return null;
  if (!isSiteOrigin(origin, site)) return null;
  const token = store.tokensByHash.get(hashToken(secret));
  return token && token.kind === "session" ? { user: token.user, sessionId: token.id } : null;
}

function refuse(code: number, reason: string): LiveData {
  return { topic: null, tagSet: null, sessionId: null, marksOf: null, refusal: { code, reason: reason.slice(0, 120) } };
}

/** A public topic of cards: a logged-in viewer also follows their own read marks on it. */
function acceptCards(name: string, viewer: LiveViewer | null, tagSet: string[] | null = null): LiveData {
  return { topic: name, tagSet, sessionId: viewer?.sessionId ?? null, marksOf: viewer?.user.username ?? null, refusal: null };
}

/**
 * Decides whether this viewer may follow `name`: public topics for anyone, a private topic for
 * its owner only (its cards carry their read marks already, so it needs no marks topic).
 */
export function admit(deps: LiveSocketDeps, name: string | null, viewer: LiveViewer | null): LiveData {
  if (!name) return refuse(LIVE_CLOSE.badRequest, "missing ?topic=");
  if (name === STATS_TOPIC) return { topic: name, tagSet: null, sessionId: null, marksOf: null, refusal: null };
  const tagSet = parseTagSetTopic(name);
  if (tagSet) {
    if (!deps.tagSets.has(name) && deps.tagSets.size >= TAG_SETS_ACTIVE_MAX) return refuse(LIVE_CLOSE.busy, "too many different tag combinations are followed right now");
    return acceptCards(name, viewer, tagSet);
  }
  const parsed = parseTopic(name);
  if (!parsed) return refuse(LIVE_CLOSE.badRequest, `unknown topic ${name.slice(0, 60)}`);
  switch (parsed.kind) {
    case "firehose":
    case "tag":
    case "user":
      return acceptCards(name, viewer);
    case "private":
      if (!viewer || viewer.user.username !== parsed.username) return refuse(LIVE_CLOSE.forbidden, `only ${parsed.username}, logged in on this site, may follow their private bookmarks`);
      return { topic: name, tagSet: null, sessionId: viewer.sessionId, marksOf: null, refusal: null };
    case "bookmark": {
      const bookmark = deps.store.bookmarksById.get(parsed.id as never);
      if (!bookmark || !bookmark.public) return refuse(LIVE_CLOSE.notFound, `no public bookmark ${parsed.id}`);
      return acceptCards(name, viewer);
    }
  }
}

/**
 * Registers `/live`. Headers are read synchronously in `upgrade`; a refused topic still upgrades
 * and is closed at once with a 44xx code and a reason, which a browser (unlike an HTTP status)
 * can see. Slow readers are cut off at `wsMaxBackpressureBytes`; their page reconnects and
 * reloads its live part (static/app.js).
 */
export function registerLiveSocket(app: TemplatedApp, deps: LiveSocketDeps): LiveSockets {
  const live = new LiveSockets();
  socketRoute<LiveData>(app, "/live", {
    maxPayloadLength: INCOMING_BYTES_MAX,
    maxBackpressure: deps.wsMaxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: deps.wsIdleTimeoutS,
    sendPingsAutomatically: true,
    upgrade(req: HttpRequest) {
      const viewer = cookieViewer(deps.store, req.getHeader("cookie"), req.getHeader("origin"), handshakeSite(req, deps.site));
      const name = new URLSearchParams(req.getQuery() ?? "").get("topic");
      return { data: admit(deps, name, viewer), protocol: req.getHeader("sec-websocket-protocol") };
    },
    open(ws: WebSocket<LiveData>) {
      const data = ws.getUserData();
      if (data.refusal || !data.topic) {
        ws.end(data.refusal?.code ?? LIVE_CLOSE.badRequest, data.refusal?.reason ?? "refused");
        return;
      }
      ws.subscribe(wireTopic("html", data.topic));
      if (data.tagSet) deps.tagSets.join(data.tagSet);
      live.opened(ws, data);
    },
    message(ws: WebSocket<LiveData>) {
      ws.end(LIVE_CLOSE.badRequest, "this socket only sends; post forms over HTTP");
    },
    close(ws: WebSocket<LiveData>, code: number) {
      socketClosed("live", code);
      const data = ws.getUserData();
      if (data.refusal || !data.topic) return;
      if (data.tagSet) deps.tagSets.leave(data.tagSet);
      live.closed(ws, data);
    },
  });
  return live;
}
