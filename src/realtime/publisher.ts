// Publishes each committed event to the JSON websocket topics: routed once, serialised once per payload and format, fanned out by uWS.
import type { LoggedEvent, TokenId } from "../events.ts";
import type { Bookmark, Store, User } from "../store/store.ts";
import { bookmarkJson, commentJson, isoTime } from "../render/json.ts";
import { bookmarkRoutes, changesShared, commentRoutes, type Change, type Dialect, type Route, type Visibility } from "./routing.ts";
import { ownerWireTopic, phoenixWireTopic, wireTopic } from "./topics.ts";
import { SOCKET_WIRES, pushFrame, type JoinRefJson } from "./wire.ts";
import { pushed } from "../metrics.ts";

/** The part of uWS the publisher needs (the app itself in production). */
export interface TopicOut {
  numSubscribers(topic: string): number;
  publish(topic: string, message: string, isBinary?: boolean): boolean;
}

/**
 * Topic names somebody has joined, on any wire or channel (the hub's own count, kept at join,
 * leave and close). A name it lacks has no subscriber anywhere, so nothing is routed or framed
 * for it; a name it has is still checked with uWS (numSubscribers) per wire.
 */
export interface JoinedTopics {
  has(name: string): boolean;
  readonly size: number;
}

/** The join_ref classes of a Phoenix v2 base topic that have subscribers (the socket hub's count). */
export interface JoinRefClassesOf {
  of(baseTopic: string): Iterable<JoinRefJson>;
}

export const EVENT_NAMES: Record<Dialect, Record<Change | "comment", string>> = {
  modern: { created: "bookmark_created", updated: "bookmark_updated", deleted: "bookmark_deleted", comment: "comment_posted" },
  legacy: { created: "bookmark:created", updated: "bookmark:updated", deleted: "bookmark:deleted", comment: "bookmark:chat" },
};

function visibility(bookmark: Bookmark): Visibility {
  return { id: bookmark.id, public: bookmark.public, tags: [...bookmark.tags], username: bookmark.user.username };
}

/**
 * Follows the log's commit hook (so nothing is published before it is durable). Per event it
 * asks routing.ts where it goes, skips topics nobody has joined (numSubscribers), and builds each
 * payload at most once: a deleted bookmark's payload is only its id, so a bookmark made private
 * leaves public topics without showing what it became.
 */
export class Publisher {
  constructor(
    private readonly store: Store,
    private readonly out: TopicOut,
    private readonly phoenixClasses: JoinRefClassesOf,
    private readonly joined: JoinedTopics,
    /** Told when a token is revoked, so the sockets it opened close. */
    private readonly onTokenRevoked: (id: TokenId) => void,
  ) {}

  beforeApply(event: LoggedEvent): Visibility | null {
    if (event.type !== "bookmark.updated" && event.type !== "bookmark.deleted") return null;
    const bookmark = this.store.bookmarksById.get(event.payload.id);
    return bookmark ? visibility(bookmark) : null;
  }

  afterApply(event: LoggedEvent, before: unknown): void {
    switch (event.type) {
      case "bookmark.created":
      case "bookmark.updated": {
        const bookmark = this.store.bookmarksById.get(event.payload.id);
        if (!bookmark || (event.type === "bookmark.updated" && before === null)) return;
        this.bookmarkChanged(event.ts, event.type === "bookmark.created" ? null : (before as Visibility), bookmark, changesShared(event.payload));
        return;
      }
      case "bookmark.deleted":
        if (before !== null) this.bookmarkChanged(event.ts, before as Visibility, null, true);
        return;
      case "comment.posted":
        this.commented(event.payload.bookmark_id, event.payload.id);
        return;
      case "token.revoked":
        this.onTokenRevoked(event.payload.id);
        return;
      case "user.registered":
      case "user.password_changed":
      case "token.created":
        return;
      default: {
        const unexpected: never = event;
        throw new Error(`unknown event ${JSON.stringify(unexpected)}`);
      }
    }
  }

  /** `shared`: the change shows others something (changesShared); if not, only the owner hears of it. */
  private bookmarkChanged(ts: number, before: Visibility | null, bookmark: Bookmark | null, shared: boolean): void {
    if (this.joined.size === 0) return;
    const after = bookmark ? visibility(bookmark) : null;
    const id = after?.id ?? before?.id;
    if (id === undefined) return;
    const payloads = new Map<string, string>();
    const payloadOf = (route: Route): string => {
      const key = `${route.dialect} ${route.change === "deleted" ? "deleted" : "shown"} ${route.personal}`;
      let text = payloads.get(key);
      if (text === undefined) {
        const shown = route.change === "deleted" ? null : bookmark;
        text = JSON.stringify(bookmarkPayload(route.dialect, shown, id, ts, route.personal ? shown?.user ?? null : null));
        payloads.set(key, text);
      }
      return text;
    };
    for (const route of bookmarkRoutes(before, after, shared)) {
      this.publish(route.name, route.owner, EVENT_NAMES[route.dialect][route.change], () => payloadOf(route));
    }
  }

  private commented(bookmarkId: number, commentId: number): void {
    const bookmark = this.store.bookmarksById.get(bookmarkId as Bookmark["id"]);
    const comment = bookmark?.comments?.findLast((candidate) => candidate.id === commentId);
    if (!bookmark || !comment || this.joined.size === 0) return;
    const payloads: Partial<Record<Dialect, string>> = {};
    const payloadOf = (dialect: Dialect): string =>
      (payloads[dialect] ??= JSON.stringify(
        dialect === "modern"
          ? commentJson(comment)
          : { bookmark_id: bookmark.id, bookmark_title: bookmark.title, user: comment.user.username, content: comment.body, timestamp: isoTime(comment.insertedAt) },
      ));
    for (const route of commentRoutes(visibility(bookmark))) {
      this.publish(route.name, route.owner, EVENT_NAMES[route.dialect].comment, () => payloadOf(route.dialect));
    }
  }

  /**
   * Publishes on each wire format's uWS topic that has subscribers; the payload is built only if
   * one does. Phoenix v2 subscribers are split by join_ref: one frame per class, with its join_ref
   * (a reader closed at its backpressure bound inside publish may empty a class mid-loop; a Map's
   * iteration skips what is deleted meanwhile).
   */
  private publish(name: string, owner: boolean, event: string, payload: () => string): void {
    if (!this.joined.has(name)) return;
    for (const wire of SOCKET_WIRES) {
      const uwsTopic = owner ? ownerWireTopic(wire, name) : wireTopic(wire, name);
      if (wire === "phx") {
        for (const joinRef of this.phoenixClasses.of(uwsTopic)) {
          const classTopic = phoenixWireTopic(name, joinRef, owner);
          if (this.out.numSubscribers(classTopic) === 0) continue;
          this.out.publish(classTopic, pushFrame(wire, name, event, payload(), joinRef), false);
          pushed("json");
        }
        continue;
      }
      if (this.out.numSubscribers(uwsTopic) === 0) continue;
      this.out.publish(uwsTopic, pushFrame(wire, name, event, payload()), false);
      pushed("json");
    }
  }
}

/**
 * A bookmark event's payload: the original app's fields plus `user` (modern), or the finished
 * app's (legacy); a deletion carries only the id. `viewer` is who receives it: the owner on their
 * own routes (with `unread`), nobody in particular (null) everywhere else.
 */
function bookmarkPayload(dialect: Dialect, bookmark: Bookmark | null, id: number, ts: number, viewer: User | null): object {
  if (dialect === "modern") return bookmark ? bookmarkJson(bookmark, viewer) : { id };
  if (!bookmark) return { id, timestamp: isoTime(ts) };
  return { id, title: bookmark.title, description: bookmark.description, url: bookmark.url, tags: bookmark.tags, timestamp: isoTime(ts) };
}
