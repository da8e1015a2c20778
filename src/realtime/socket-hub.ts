// What the raw and Phoenix sockets share: who a socket is, which topics it may join, its subscriptions, comments, limits and counts.
import type { HttpRequest, WebSocket } from "uWebSockets.js";
import { assert } from "../assert.ts";
import { newRequestId } from "../guard.ts";
import { logger } from "../logger.ts";
import { HttpError } from "../errors.ts";
import type { TokenId } from "../events.ts";
import type { Commands } from "../commands/commands.ts";
import type { RateLimiter } from "../auth/rate-limit.ts";
import type { Store, User } from "../store/store.ts";
import type { Config } from "../config.ts";
import { admit, chosenProtocol, replayBytesMax, handshakeHeaders, readHandshakeViewer } from "./admission.ts";
import type { Follow, LiveDelivery } from "./live.ts";
import type { SiteConfig } from "../auth/site-origin.ts";
import { commentJson, type CommentJson } from "../render/json.ts";
import { ownerWireTopic, parseTopic, phoenixWireTopic, wireTopic } from "./topics.ts";
import { NULL_JOIN_REF, joinRefJson, type JoinRefJson, type Ref, type SocketWire } from "./wire.ts";

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

/** Distinct join_refs one Phoenix v2 topic frames its pushes for; later ones share the `null` class. */
export const JOIN_REF_CLASSES_PER_TOPIC_MAX = 32;
/** A join_ref longer than this (as text) shares the `null` class. */
export const JOIN_REF_CHARS_MAX = 64;

export interface Joined {
  /** The uWS topic of the socket's wire format (and owner channel) for this name; nobody subscribes to it on the v2 wire. */
  baseTopic: string;
  /** The topic the socket is subscribed to: `baseTopic`, or on the v2 wire its join_ref class's topic. */
  uwsTopic: string;
  owner: boolean;
  /** Phoenix's join_ref of this topic (null on the raw protocol). */
  joinRef: Ref;
  /** The v2 wire's join_ref class the socket is counted in; null on other wires. */
  joinRefClass: JoinRefJson | null;
}

/**
 * Phoenix v2 subscribers per uWS base topic, counted by join_ref class, so the publisher frames a
 * push once per class with subscribers, each carrying its join_ref (Phoenix's client drops a push
 * whose join_ref is not its channel's current one, and accepts `null`). Its client numbers refs
 * from a small counter, so a topic sees few distinct join_refs; still they are client-chosen, so
 * a topic keeps at most JOIN_REF_CLASSES_PER_TOPIC_MAX classes of its own, and a join beyond
 * that, a join_ref over JOIN_REF_CHARS_MAX or none at all lands in the shared `null` class
 * (where it stays until it leaves, even if other classes empty meanwhile).
 */
export class JoinRefClasses {
  private readonly byTopic = new Map<string, Map<JoinRefJson, number>>();

  /** Counts one subscriber of `baseTopic` in; returns the class it belongs to. */
  add(baseTopic: string, joinRef: Ref): JoinRefJson {
    let classes = this.byTopic.get(baseTopic);
    if (!classes) this.byTopic.set(baseTopic, (classes = new Map()));
    let joinRefClass = joinRefJson(joinRef);
    const ownClasses = classes.size - (classes.has(NULL_JOIN_REF) ? 1 : 0);
    const tooLong = joinRef !== null && String(joinRef).length > JOIN_REF_CHARS_MAX;
    if (tooLong || (!classes.has(joinRefClass) && ownClasses >= JOIN_REF_CLASSES_PER_TOPIC_MAX)) joinRefClass = NULL_JOIN_REF;
    classes.set(joinRefClass, (classes.get(joinRefClass) ?? 0) + 1);
    return joinRefClass;
  }

  remove(baseTopic: string, joinRefClass: JoinRefJson): void {
    const classes = this.byTopic.get(baseTopic);
    const count = classes?.get(joinRefClass);
    assert(classes !== undefined && count !== undefined && count > 0, `join_ref class ${joinRefClass} of ${baseTopic} removed more often than added`);
    if (count > 1) classes.set(joinRefClass, count - 1);
    else if (classes.delete(joinRefClass) && classes.size === 0) this.byTopic.delete(baseTopic);
  }

  /** The classes of `baseTopic` that have subscribers (none when nobody joined it). */
  of(baseTopic: string): Iterable<JoinRefJson> {
    return this.byTopic.get(baseTopic)?.keys() ?? [];
  }

  /** Classes with subscribers across every topic. */
  get size(): number {
    let total = 0;
    for (const classes of this.byTopic.values()) total += classes.size;
    return total;
  }
}

export interface SocketData {
  wire: SocketWire;
  viewer: User | null;
  tokenId: TokenId | null;
  /** Why a session cookie sent with the handshake was not believed; told when a topic is refused. */
  cookieNote: string;
  /** `?topics=a,b` of the raw protocol, joined on open. */
  initialTopics: string[];
  /** `?since=SEQ` of the raw protocol: the initial topics are caught up from there. */
  initialSince: number | null;
  joined: Map<string, Joined>;
  open: boolean;
  errorWindowStartMs: number;
  errorCount: number;
}

export type Outcome = { ok: true } | { ok: false; reason: string };

/** An operating error's message; anything else is a bug, logged, and the client told only that it failed. */
export function reasonOf(error: unknown): string {
  if (error instanceof HttpError) return error.message;
  const requestId = newRequestId();
  logger.error({ request_id: requestId, err: error }, "unexpected error answering a websocket frame");
  return `internal error; it has been logged as ${requestId}`;
}

/**
 * Saves a comment a socket sent, for its viewer (signed in with `tokenId`); resolves once it is
 * durable and applied on this node. Cluster mode passes one that forwards it to the leader from a
 * follower (http/forward.ts); without it, Commands runs it here.
 */
export type SocketCommentWriter = (viewer: User, tokenId: TokenId, bookmarkId: number, input: unknown, wanted: () => boolean) => Promise<CommentJson>;

export interface HubDeps {
  store: Store;
  commands: Commands;
  postComment?: SocketCommentWriter;
  limiter: RateLimiter;
  live: LiveDelivery;
  config: Pick<Config, "wsMaxBackpressureBytes"> & SiteConfig;
}

export type Refusal = { refused: true; status: number; message: string };

/**
 * Open sockets of both protocols: their subscriptions (each a uWS topic of the socket's wire
 * format), the sockets each token opened (closed when it is revoked), and joins per topic for
 * /api/status. Every send checks that the socket is still open: a comment's ack comes after an
 * await, when the client may have gone.
 */
export class SocketHub {
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private readonly byToken = new Map<TokenId, Set<WebSocket<SocketData>>>();
  private readonly joinCounts = new Map<string, number>();
  /** Phoenix v2 subscribers by topic and join_ref, for the publisher. */
  readonly joinRefClasses = new JoinRefClasses();

  constructor(private readonly deps: HubDeps) {}

  /** Joins per topic name across wire formats and channels: the publisher's first check (JoinedTopics). */
  get joins(): ReadonlyMap<string, number> {
    return this.joinCounts;
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** What a handshake opens: a socket of `wire` for its viewer; throws HttpError naming the problem to refuse it. */
  upgrade(req: HttpRequest, wire: SocketWire, initialTopics: string[], initialSince: number | null): { data: SocketData; protocol: string } {
    const headers = handshakeHeaders(req, this.deps.config);
    const who = readHandshakeViewer(this.deps.store, headers);
    if ("refused" in who) throw new HttpError(Number.parseInt(who.status, 10), who.message);
    const data: SocketData = {
      wire, viewer: who.viewer, tokenId: who.tokenId, cookieNote: who.cookieNote, initialTopics, initialSince, joined: new Map(), open: false, errorWindowStartMs: 0, errorCount: 0,
    };
    return { data, protocol: chosenProtocol(headers.protocols) };
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
    for (const [name, joined] of data.joined) {
      this.releaseClass(joined);
      this.countJoin(name, -1);
    }
    data.joined.clear();
  }

  /** Joins `name` (again: keeps the subscription, takes the new join_ref, moving to its class on the v2 wire). */
  join(ws: WebSocket<SocketData>, name: string, joinRef: Ref): Outcome {
    const data = ws.getUserData();
    const existing = data.joined.get(name);
    if (existing) {
      existing.joinRef = joinRef;
      if (existing.joinRefClass !== null) this.moveClass(ws, name, existing);
      return { ok: true };
    }
    if (data.joined.size >= SUBSCRIPTIONS_PER_SOCKET_MAX) return { ok: false, reason: `at most ${SUBSCRIPTIONS_PER_SOCKET_MAX} topics per connection; leave one before joining ${name.slice(0, 80)}` };
    const admitted = admit(this.deps.store, data.wire === "json" ? "ws" : "phoenix", name, data.viewer, this.deps.live.tagSets, data.cookieNote);
    if (!admitted.ok) return { ok: false, reason: admitted.reason };
    const baseTopic = admitted.owner ? ownerWireTopic(data.wire, name) : wireTopic(data.wire, name);
    const joined: Joined = { baseTopic, uwsTopic: baseTopic, owner: admitted.owner, joinRef, joinRefClass: null };
    if (data.wire === "phx") this.takeClass(name, joined);
    ws.subscribe(joined.uwsTopic);
    data.joined.set(name, joined);
    this.countJoin(name, 1);
    return { ok: true };
  }

  /**
   * Sends what `names` (just joined) missed after `since`, then nothing more: the live pushes
   * follow. Call right after the join's answer, in the same tick.
   */
  catchUp(ws: WebSocket<SocketData>, names: readonly string[], since: number): void {
    const data = ws.getUserData();
    const follows: Follow[] = [];
    for (const name of names) {
      const joined = data.joined.get(name);
      if (joined) follows.push({ name, owner: joined.owner, wire: data.wire, joinRef: joinRefJson(joined.joinRef), tagSet: null });
    }
    if (!data.open) return;
    // One cork for the whole replay: one write for the lot, not one per frame.
    ws.cork(() => this.deps.live.catchUp(follows, since, replayBytesMax(this.deps.config), (text) => ws.send(text, false)));
  }

  leave(ws: WebSocket<SocketData>, name: string): Outcome {
    const data = ws.getUserData();
    const joined = data.joined.get(name);
    if (!joined) return { ok: false, reason: `not subscribed to ${name.slice(0, 80)}` };
    ws.unsubscribe(joined.uwsTopic);
    this.releaseClass(joined);
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
    if (this.deps.postComment) return this.deps.postComment(data.viewer, data.tokenId, parsed.id, input, () => data.open);
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

  /** Open connections, topics, Phoenix v2 join_ref classes with subscribers, and the busiest topics by joins (across formats). */
  status(busiest = 10): { connections: number; topics: number; joinRefClasses: number; busiest: { topic: string; subscribers: number }[] } {
    const top = [...this.joins].sort((a, b) => b[1] - a[1]).slice(0, busiest);
    return { connections: this.sockets.size, topics: this.joinCounts.size, joinRefClasses: this.joinRefClasses.size, busiest: top.map(([topic, subscribers]) => ({ topic, subscribers })) };
  }

  /** Counts a v2 join in its join_ref class and points it at that class's uWS topic. */
  private takeClass(name: string, joined: Joined): void {
    joined.joinRefClass = this.joinRefClasses.add(joined.baseTopic, joined.joinRef);
    joined.uwsTopic = phoenixWireTopic(name, joined.joinRefClass, joined.owner);
  }

  private releaseClass(joined: Joined): void {
    if (joined.joinRefClass !== null) this.joinRefClasses.remove(joined.baseTopic, joined.joinRefClass);
    joined.joinRefClass = null;
  }

  /** A v2 rejoin: leaves the old join_ref's class first (freeing its place), then takes the new join_ref's. */
  private moveClass(ws: WebSocket<SocketData>, name: string, joined: Joined): void {
    const before = joined.uwsTopic;
    this.releaseClass(joined);
    this.takeClass(name, joined);
    if (joined.uwsTopic === before) return;
    ws.unsubscribe(before);
    ws.subscribe(joined.uwsTopic);
  }

  private countJoin(name: string, delta: 1 | -1): void {
    this.deps.live.joined.add(name, delta);
    const next = (this.joinCounts.get(name) ?? 0) + delta;
    if (next <= 0) this.joinCounts.delete(name);
    else this.joinCounts.set(name, next);
  }
}
