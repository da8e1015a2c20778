// The typed before/after snapshot of each committed event, as live delivery routes it; the one place live delivery looks bookmarks up by id.
import type { LoggedEvent } from "../events.ts";
import { listed, type Bookmark, type Comment, type Store } from "../store/store.ts";
import { changesShared, type BookmarkState, type LiveEvent } from "./routing.ts";

/** A bookmark by id, whoever may see it (callers apply the privacy rules). */
export function bookmarkById(store: Store, id: number): Bookmark | undefined {
  return store.bookmarksById.get(id as Bookmark["id"]);
}

/** One comment of a bookmark by id (comments are few per bookmark; the newest is the likeliest). */
export function commentById(bookmark: Bookmark, commentId: number): Comment | undefined {
  return bookmark.comments?.findLast((candidate) => candidate.id === commentId);
}

export function bookmarkState(bookmark: Bookmark): BookmarkState {
  return { id: bookmark.id, public: listed(bookmark), tags: [...bookmark.tags], username: bookmark.user.username };
}

/** Taken before the store applies `event`: what an updated or deleted bookmark looked like, or the bookmark of a comment about to be deleted. */
export function stateBefore(store: Store, event: LoggedEvent): BookmarkState | null {
  if (event.type === "comment.deleted") {
    const comment = store.commentsById.get(event.payload.id);
    const bookmark = comment !== undefined && comment.bookmarkId === event.payload.bookmark_id ? bookmarkById(store, comment.bookmarkId) : undefined;
    return bookmark ? bookmarkState(bookmark) : null;
  }
  if (event.type !== "bookmark.updated" && event.type !== "bookmark.deleted") return null;
  const bookmark = bookmarkById(store, event.payload.id);
  return bookmark ? bookmarkState(bookmark) : null;
}

/** Taken after the store applied `event`, with what `stateBefore` saw. */
export function liveEventOf(store: Store, event: LoggedEvent, before: BookmarkState | null): LiveEvent {
  const quiet: LiveEvent = { kind: "quiet", seq: event.seq, ts: event.ts };
  switch (event.type) {
    case "bookmark.created": {
      const bookmark = bookmarkById(store, event.payload.id);
      return bookmark ? { kind: "bookmark", seq: event.seq, ts: event.ts, id: bookmark.id, before: null, after: bookmarkState(bookmark), shared: true } : quiet;
    }
    case "bookmark.updated": {
      const bookmark = bookmarkById(store, event.payload.id);
      if (!bookmark || before === null) return quiet;
      return { kind: "bookmark", seq: event.seq, ts: event.ts, id: bookmark.id, before, after: bookmarkState(bookmark), shared: changesShared(event.payload) };
    }
    case "bookmark.deleted":
      return before === null ? quiet : { kind: "bookmark", seq: event.seq, ts: event.ts, id: before.id, before, after: null, shared: true };
    case "comment.posted": {
      const bookmark = bookmarkById(store, event.payload.bookmark_id);
      return bookmark ? { kind: "comment", seq: event.seq, ts: event.ts, bookmark: bookmarkState(bookmark), commentId: event.payload.id, posted: true } : quiet;
    }
    case "comment.deleted":
      return before === null ? quiet : { kind: "comment", seq: event.seq, ts: event.ts, bookmark: before, commentId: event.payload.id, posted: false };
    // The admin page lists users and the sign-up mode. An erased or suspended account's bookmarks
    // leave every answer at once; other pages already open drop them at their next load.
    case "user.registered":
    case "user.deleted":
    case "user.suspended":
    case "user.unsuspended":
    case "user.role_changed":
    case "signup.changed":
      return { kind: "moderation", seq: event.seq, ts: event.ts };
    case "user.password_changed":
    case "token.created":
    case "link.checked": {
      // A link that broke or came back (or a title fetch that failed) changes its owner's card: theirs alone.
      const bookmark = bookmarkById(store, event.payload.id);
      if (!bookmark || store.links.lastChange !== event.payload) return quiet;
      const state = bookmarkState(bookmark);
      return { kind: "bookmark", seq: event.seq, ts: event.ts, id: bookmark.id, before: state, after: state, shared: false };
    }
    case "token.revoked":
    case "invite.created":
    case "invite.used":
      return quiet;
    default: {
      const unexpected: never = event;
      throw new Error(`unknown event ${JSON.stringify(unexpected)}`);
    }
  }
}
