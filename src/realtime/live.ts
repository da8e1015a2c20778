// Live delivery, one part: per committed event one typed snapshot, routed once, rendered once per topic and format, published, and kept in the history that resuming clients replay.
import type { LoggedEvent, TokenId } from "../events.ts";
import type { Store } from "../store/store.ts";
import type { CardCache } from "../render/html.ts";
import { LiveHistory, ReplayCache, routesOn, type HistoryEntry } from "./history.ts";
import { htmlFragment, htmlKey, htmlMessage, jsonEventName, jsonKey, jsonPayload, subjectOf, type Subject } from "./renderers.ts";
import { bookmarkIdOf, routesOf, type BookmarkState, type LiveEvent, type Route } from "./routing.ts";
import { liveEventOf, stateBefore } from "./snapshot.ts";
import { TagSets } from "./tag-sets.ts";
import { pushed } from "../metrics.ts";
import { ADMIN_TOPIC, ownerWireTopic, phoenixWireTopic, wireTopic } from "./topics.ts";
import { NULL_JOIN_REF, pushFrame, resyncFrame, type JoinRefJson, type Wire } from "./wire.ts";

/** The part of uWS live delivery publishes through (the app itself in production). */
export interface TopicOut {
  numSubscribers(topic: string): number;
  publish(topic: string, message: string, isBinary?: boolean): boolean;
}

/** The join_ref classes of a Phoenix v2 base topic that have subscribers (the socket hub's count). */
export interface JoinRefClassesOf {
  of(baseTopic: string): Iterable<JoinRefJson>;
}

/** The uWS topics of one name on each wire, plain and owner channel (Phoenix v2's base topics are split by join_ref class). */
interface WireTopics {
  readonly plain: Readonly<Record<Wire, string>>;
  readonly owner: Readonly<Record<Wire, string>>;
}

/**
 * Topic names somebody follows, on any endpoint, wire or channel, counted at join, leave and
 * close, with their uWS topic names (made once per name followed, not per event). A name it lacks
 * has no subscriber anywhere, so nothing is rendered for it; a name it has is still checked with
 * uWS (numSubscribers) per wire.
 */
export class TopicCounts {
  private readonly counts = new Map<string, { count: number; topics: WireTopics }>();

  get size(): number {
    return this.counts.size;
  }

  /** The uWS topics of a name somebody follows; undefined when nobody does. */
  topicsOf(name: string): WireTopics | undefined {
    return this.counts.get(name)?.topics;
  }

  add(name: string, delta: 1 | -1): void {
    const entry = this.counts.get(name);
    const next = (entry?.count ?? 0) + delta;
    if (next <= 0) this.counts.delete(name);
    else if (entry) entry.count = next;
    else this.counts.set(name, { count: next, topics: wireTopicsOf(name) });
  }
}

function wireTopicsOf(name: string): WireTopics {
  const plain = {} as Record<Wire, string>;
  const owner = {} as Record<Wire, string>;
  for (const wire of WIRES) {
    plain[wire] = wireTopic(wire, name);
    owner[wire] = ownerWireTopic(wire, name);
  }
  return { plain, owner };
}

const WIRES: readonly Wire[] = ["json", "phx", "phx1", "html"];
const ONLY_NULL_JOIN_REF: readonly JoinRefJson[] = [NULL_JOIN_REF];
/** Replay plans kept between two commits, at most (clients resuming from as many places at once). */
const REPLAY_PLANS_MAX = 64;

/** The admin panel's routes show the store as it is now, about no one bookmark. */
const ADMIN_SUBJECT: Subject = { id: 0, bookmark: null, comment: null };

/** Whether a route is for this wire's renderer: HTML fragments, or JSON frames. */
function carries(route: Route, wire: Wire): boolean {
  return route.formats === "all" || (route.formats === "html") === (wire === "html");
}

/** Follows with the same key are replayed the same frames: topic, wire, channel, tag set, and the join_ref that Phoenix v2 frames carry. */
function followKey(follow: Follow): string {
  return `${follow.wire} ${follow.owner ? "owner" : "-"} ${follow.tagSet === null ? "-" : "tags"} ${follow.wire === "phx" ? follow.joinRef : "-"} ${follow.name}`;
}

/**
 * One subscription being caught up: `name` on its owner channel or not, in a wire format; Phoenix
 * v2 frames carry the join_ref; a tag-set topic (pages) is routed with its own tags.
 */
export interface Follow {
  name: string;
  owner: boolean;
  wire: Wire;
  joinRef: JoinRefJson;
  tagSet: readonly string[] | null;
}

/** The html wire's resync: a data-only hx-ws message (no content), which the page's script turns into a reload of its live part. */
export const HTML_RESYNC = JSON.stringify({ resync: true });

export interface LiveDeliveryDeps {
  store: Store;
  out: TopicOut;
  cards: CardCache;
  /** Events the history holds (NASTY_LIVE_HISTORY). */
  historyEventsMax: number;
  /** The log's head when the process started: the history holds nothing before it. */
  headSeq: number;
  /** The admin page's live panel as it is now (render/admin.ts), re-rendered whole for each change it lists. */
  adminPanel: () => string;
}

/** Where the admin panel's fragment goes on /admin. */
export const ADMIN_PANEL_TARGET = "#admin-live";

/**
 * Follows the log's commit hook, so nothing is published before it is durable. Per event: the
 * snapshot (`stateBefore` before the store applies it, `liveEventOf` after), its routes
 * (routing.ts, the one rule), and for each route with subscribers one rendering per format,
 * published on uWS topics. The same routes and renderers replay the history to a client that
 * resumes, so privacy holds the same way for both: a route is rendered from the bookmark as it
 * is now, and skipped when that may no longer be shown (renderers.ts, subjectOf).
 */
export class LiveDelivery {
  readonly history: LiveHistory;
  readonly replayCache = new ReplayCache();
  /** Replay plans (replayPlan) by `since` and follow keys, made since the commit of `plansHead`. */
  private readonly plans = new Map<string, readonly Buffer[]>();
  private plansHead = -1;
  readonly joined = new TopicCounts();
  readonly tagSets = new TagSets();
  /** Told when a token is revoked, so the sockets it opened close (set by the socket endpoints). */
  readonly tokenRevokedListeners: ((id: TokenId) => void)[] = [];
  private phoenixClasses: JoinRefClassesOf = { of: () => [] };

  constructor(private readonly deps: LiveDeliveryDeps) {
    this.history = new LiveHistory(deps.historyEventsMax, deps.headSeq);
  }

  /** The Phoenix v2 join_ref classes, counted by the socket hub. */
  usePhoenixClasses(classes: JoinRefClassesOf): void {
    this.phoenixClasses = classes;
  }

  beforeApply(event: LoggedEvent): BookmarkState | null {
    return stateBefore(this.deps.store, event);
  }

  afterApply(event: LoggedEvent, before: BookmarkState | null): void {
    const live = liveEventOf(this.deps.store, event, before);
    this.history.push(live);
    const bookmarkId = bookmarkIdOf(live);
    if (bookmarkId !== null) this.replayCache.drop(bookmarkId);
    // An erased account's bookmarks and comments go without an event of their own.
    if (event.type === "user.deleted") this.replayCache.clear();
    if (event.type === "token.revoked") for (const listener of this.tokenRevokedListeners) listener(event.payload.id);
    if (event.type === "user.suspended") this.closeSocketsOf(event.payload.id);
    if (this.joined.size > 0 && live.kind !== "quiet") this.publish(live);
  }

  /** The whole admin panel as an hx-ws message (pages only; only admins are admitted to its topic). */
  private adminFragment(seq: number): string {
    return htmlMessage(this.deps.adminPanel(), ADMIN_PANEL_TARGET, "outerHTML", seq);
  }

  /** A suspended user's tokens are refused from now on: the sockets they opened close as if each were revoked. */
  private closeSocketsOf(userId: number): void {
    for (const token of this.deps.store.tokensById.values()) {
      if (token.user.id !== userId) continue;
      for (const listener of this.tokenRevokedListeners) listener(token.id);
    }
  }

  /** Status for /api/status: what the history holds. */
  status(): { history_events: number; history_events_max: number; held_after_seq: number; head_seq: number; replay_cache_bytes: number } {
    return { history_events: this.history.size, history_events_max: this.history.eventsMax, held_after_seq: this.history.heldAfter, head_seq: this.history.head, replay_cache_bytes: this.replayCache.size.bytes };
  }

  /**
   * Publishes one event on each wire's uWS topic that has subscribers; each payload or fragment
   * is rendered at most once per key. Phoenix v2 subscribers are split by join_ref: one frame per
   * class (a reader closed at its backpressure bound inside publish may empty a class mid-loop; a
   * Map's iteration skips what is deleted meanwhile).
   */
  private publish(event: LiveEvent): void {
    const rendered = new Map<string, string | null>();
    routes: for (const route of routesOf(event, this.tagSetsOf(event))) {
      const topics = this.joined.topicsOf(route.name);
      if (!topics) continue;
      const bases = route.owner ? topics.owner : topics.plain;
      let subject: Subject | null | undefined;
      for (const wire of WIRES) {
        if (!carries(route, wire)) continue;
        const base = bases[wire];
        const classes = wire === "phx" ? [...this.phoenixClasses.of(base)] : ONLY_NULL_JOIN_REF;
        for (const joinRef of classes) {
          const uwsTopic = wire === "phx" ? phoenixWireTopic(route.name, joinRef, route.owner) : base;
          if (this.deps.out.numSubscribers(uwsTopic) === 0) continue;
          subject ??= route.place === "admin" ? ADMIN_SUBJECT : subjectOf(this.deps.store, route, event);
          if (subject === null) continue routes;
          const frame = this.frame(event, route, subject, wire, joinRef, rendered);
          if (frame === null) continue;
          this.deps.out.publish(uwsTopic, frame, false);
          pushed(wire === "html" ? "live" : "json");
        }
      }
    }
  }

  /** The tag sets followed now that this event may be on (before or after it). */
  private tagSetsOf(event: LiveEvent): (readonly string[])[] {
    if (this.tagSets.size === 0 || event.kind === "quiet" || event.kind === "moderation") return [];
    if (event.kind === "comment") return this.tagSets.matching(event.bookmark.tags);
    const sets = new Set([...this.tagSets.matching(event.before?.tags ?? []), ...this.tagSets.matching(event.after?.tags ?? [])]);
    return [...sets];
  }

  /** One route's frame in one wire format; `rendered` holds each payload or fragment of this event by key. */
  private frame(event: LiveEvent, route: Route, subject: Subject, wire: Wire, joinRef: JoinRefJson, rendered: Map<string, string | null>): string | null {
    if (route.place === "admin") return this.adminFragment(event.seq);
    if (wire === "html") {
      const key = htmlKey(route);
      let text = rendered.get(key);
      if (text === undefined) rendered.set(key, (text = htmlFragment(route, event, subject, this.deps.cards)));
      return text;
    }
    const key = jsonKey(route);
    let payload = rendered.get(key);
    if (payload === undefined) rendered.set(key, (payload = jsonPayload(route, event, subject)));
    if (payload === null) return null;
    return pushFrame(wire, route.name, jsonEventName(route), payload, event.seq, joinRef);
  }

  /**
   * Catches subscriptions up after `since` (the last seq their client saw), in seq order across
   * them: each missed event the client may see now, as the live push would have framed it. Runs
   * synchronously right after the subscriptions joined their uWS topics, so no commit can fall
   * between the replay and the live pushes: no gap and no duplicate. When the history no longer
   * holds everything after `since`, or the replay would go over `bytesMax` (the socket's
   * backpressure budget), each subscription gets one resync instead of (or after) what was sent.
   */
  catchUp(follows: readonly Follow[], since: number, bytesMax: number, send: (frame: string | Buffer) => void): { replayed: number; resynced: boolean } {
    if (follows.length === 0 || since === this.history.head) return { replayed: 0, resynced: false };
    if (!this.history.complete(since)) return this.resync(follows, send, 0);
    // The admin panel is pushed whole, never replayed: a resuming admin page reloads it instead.
    if (follows.some((follow) => follow.name === ADMIN_TOPIC)) return this.resync(follows, send, 0);
    const frames = this.replayPlan(follows, since);
    let bytes = 0;
    for (let index = 0; index < frames.length; index += 1) {
      const frame = frames[index]!;
      bytes += frame.byteLength;
      if (bytes > bytesMax) return this.resync(follows, send, index);
      send(frame);
    }
    return { replayed: frames.length, resynced: false };
  }

  /**
   * Every frame `follows` are replayed after `since`, in order: made once and shared by every
   * socket that resumes from the same place before the next commit (a storm of reconnects mostly
   * does), since a commit may change what any of them shows.
   */
  private replayPlan(follows: readonly Follow[], since: number): readonly Buffer[] {
    const keys = follows.map(followKey);
    if (this.plansHead !== this.history.head || this.plans.size >= REPLAY_PLANS_MAX) {
      this.plans.clear();
      this.plansHead = this.history.head;
    }
    const planKey = `${since}\n${keys.join("\n")}`;
    const planned = this.plans.get(planKey);
    if (planned) return planned;
    const frames: Buffer[] = [];
    for (let index = this.history.firstAfter(since); index < this.history.size; index += 1) {
      const entry = this.history.at(index);
      const bookmarkId = bookmarkIdOf(entry.event);
      if (bookmarkId === null) continue;
      for (let which = 0; which < follows.length; which += 1) frames.push(...this.replayFrames(entry, bookmarkId, follows[which]!, keys[which]!));
    }
    this.plans.set(planKey, frames);
    return frames;
  }

  private resync(follows: readonly Follow[], send: (frame: string) => void, replayed: number): { replayed: number; resynced: true } {
    let pageTold = false;
    for (const follow of follows) {
      if (follow.wire !== "html") send(resyncFrame(follow.wire, follow.name, follow.joinRef));
      else if (!pageTold) send(HTML_RESYNC);
      pageTold ||= follow.wire === "html";
    }
    return { replayed, resynced: true };
  }

  private routesFor(entry: HistoryEntry, follow: Follow): readonly Route[] {
    if (follow.tagSet === null) return routesOn(entry, follow.name);
    return routesOf(entry.event, [follow.tagSet]).filter((route) => route.name === follow.name);
  }

  /**
   * The frames `follow` is replayed of one held event, as UTF-8 bytes: made at the first replay
   * that needs them (each payload or fragment rendered once per key, as the live push does) and
   * then shared by every socket with the same follow key (ReplayCache).
   */
  private replayFrames(entry: HistoryEntry, bookmarkId: number, follow: Follow, key: string): readonly Buffer[] {
    const cached = entry.replay?.frames.get(key);
    if (cached) return cached;
    const rendering = this.replayCache.of(entry, bookmarkId);
    const frames: Buffer[] = [];
    let bytes = key.length;
    for (const route of this.routesFor(entry, follow)) {
      if (route.owner !== follow.owner || !carries(route, follow.wire)) continue;
      const event = entry.event;
      const payloadKey = follow.wire === "html" ? htmlKey(route) : jsonKey(route);
      let text = rendering.payloads.get(payloadKey);
      if (text === undefined) {
        const subject = subjectOf(this.deps.store, route, event);
        text = subject === null ? null : follow.wire === "html" ? htmlFragment(route, event, subject, this.deps.cards) : jsonPayload(route, event, subject);
        rendering.payloads.set(payloadKey, text);
        bytes += payloadKey.length + (text?.length ?? 0);
      }
      if (text === null) continue;
      const frame = Buffer.from(follow.wire === "html" ? text : pushFrame(follow.wire, route.name, jsonEventName(route), text, event.seq, follow.joinRef), "utf8");
      frames.push(frame);
      bytes += frame.byteLength;
    }
    rendering.frames.set(key, frames);
    this.replayCache.grew(rendering, bytes);
    return frames;
  }
}
