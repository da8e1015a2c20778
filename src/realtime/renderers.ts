// The two renderers of live delivery: JSON payloads (raw /ws and Phoenix frames) and HTML fragments (/live), from a route and the bookmark as it is now.
import { commentShown, listed, type Bookmark, type Comment, type Store, type User } from "../store/store.ts";
import { bookmarkJson, commentJson, isoTime } from "../render/json.ts";
import { commentView, renderComment, renderCommentCount, renderGone, renderReadMark, type CardCache } from "../render/html.ts";
import { bookmarkIdOf, type Change, type Dialect, type LiveEvent, type Route } from "./routing.ts";
import { bookmarkById, commentById } from "./snapshot.ts";

/**
 * What a route shows, looked up when it is rendered (live, or replayed on resume): the bookmark
 * and comment as they are now. Null when the route must not be delivered any more: the bookmark
 * or comment is gone, or a route for others is about a bookmark that is now private. A deletion
 * shows nothing but its id, so it is always delivered.
 */
export interface Subject {
  id: number;
  bookmark: Bookmark | null;
  comment: Comment | null;
}

export function subjectOf(store: Store, route: Route, event: LiveEvent): Subject | null {
  const id = bookmarkIdOf(event);
  if (id === null) return null;
  if (route.change === "deleted") return { id, bookmark: null, comment: null };
  const bookmark = bookmarkById(store, id);
  if (!bookmark || (!route.personal && !listed(bookmark))) return null;
  // A deleted comment is told by its id alone (it is gone); its bookmark gives the new count.
  if (event.kind !== "comment" || !event.posted) return { id, bookmark, comment: null };
  const comment = commentById(bookmark, event.commentId);
  return comment && (route.personal ? commentShown(bookmark.user, comment) : commentShown(null, comment)) ? { id, bookmark, comment } : null;
}

export const EVENT_NAMES: Record<Dialect, Record<Exclude<Change, "comment-count" | "comment-deleted">, string>> = {
  modern: { created: "bookmark_created", updated: "bookmark_updated", deleted: "bookmark_deleted", comment: "comment_posted" },
  legacy: { created: "bookmark:created", updated: "bookmark:updated", deleted: "bookmark:deleted", comment: "bookmark:chat" },
};

/** Routes sharing a key get the same JSON payload for one event (the topic and seq are framed around it). */
export function jsonKey(route: Route): string {
  return `json ${route.dialect} ${route.change === "deleted" ? "gone" : route.change} ${route.personal}`;
}

/** The event name a JSON push of this route carries. */
export function jsonEventName(route: Route): string {
  if (route.change === "comment-count") return "comment_count";
  // Only modern topics carry deletions of comments (routing.ts).
  if (route.change === "comment-deleted") return "comment_deleted";
  return EVENT_NAMES[route.dialect][route.change];
}

/** A JSON push's payload (serialised once per key); null for routes only pages follow. */
export function jsonPayload(route: Route, event: LiveEvent, subject: Subject): string | null {
  if (route.formats === "html" || route.change === "comment-count") return null;
  if (route.change === "comment-deleted" && event.kind === "comment") return JSON.stringify({ id: event.commentId, bookmark_id: subject.id });
  if (subject.comment && subject.bookmark) {
    const { bookmark, comment } = subject;
    const payload = route.dialect === "modern"
      ? commentJson(comment)
      : { bookmark_id: bookmark.id, bookmark_title: bookmark.title, user: comment.user.username, content: comment.body, timestamp: isoTime(comment.insertedAt) };
    return JSON.stringify(payload);
  }
  const viewer = route.personal ? subject.bookmark?.user ?? null : null;
  return JSON.stringify(bookmarkPayload(route.dialect, subject.bookmark, subject.id, event.ts, viewer));
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

/** The feed list on every live page: new cards go on top. */
export const FEED_TARGET = "#feed";

/** Routes sharing a key get the same fragment for one event. */
export function htmlKey(route: Route): string {
  return `html ${route.place} ${route.change} ${route.personal}`;
}

/**
 * The hx-ws message: `content` swapped into `target` with `swap`, and the event's `seq`, also on
 * the swapped element (`data-seq`) so a page can tell how far it has seen.
 */
export function htmlMessage(content: string, target: string, swap: string, seq: number): string {
  const marked = content.replace(/^(\s*<[a-zA-Z][a-zA-Z0-9-]*)/, `$1 data-seq="${seq}"`);
  return JSON.stringify({ content: marked, target, swap, seq });
}

/**
 * The fragment of a route (null for routes only JSON clients follow). Lists get the card everyone
 * shares; the owner's private topic and owner channel get their own card, with its read mark.
 * A bookmark's discussion page turns into a "gone" note when it is deleted or made private.
 */
export function htmlFragment(route: Route, event: LiveEvent, subject: Subject, cards: CardCache): string | null {
  // The admin panel is rendered whole by LiveDelivery (and never replayed).
  if (route.formats === "json" || route.place === "admin") return null;
  const { id, bookmark, comment } = subject;
  const card = `#b-${id}`;
  if (route.change === "deleted") return route.place === "discussion" ? htmlMessage(renderGone(id), card, "outerHTML", event.seq) : htmlMessage("", card, "delete", event.seq);
  if (!bookmark) return null;
  if (route.place === "marks") return htmlMessage(renderReadMark(id, bookmark.unread), `#rm-${id}`, "outerHTML", event.seq);
  const count = bookmark.comments?.length ?? 0;
  if (route.change === "comment-count") return htmlMessage(renderCommentCount(id, count, false), `#cc-${id}`, "outerHTML", event.seq);
  // The comment leaves the discussion (a delete swap runs whatever the content), the count is swapped out of band.
  if (route.change === "comment-deleted" && event.kind === "comment") return htmlMessage(renderCommentCount(id, count, true), `#c-${event.commentId}`, "delete", event.seq);
  if (route.change === "comment") {
    return comment ? htmlMessage(renderComment(commentView(comment)) + renderCommentCount(id, count, true), `#comments-${id}`, "beforeend", event.seq) : null;
  }
  const html = cards.html(bookmark, route.personal ? bookmark.user : null);
  return route.change === "created" ? htmlMessage(html, FEED_TARGET, "afterbegin", event.seq) : htmlMessage(html, card, "outerHTML", event.seq);
}
