// Bulk edits and tag care as pure plans: bookmarks and what to do with them in, the events out (no store, no log).
import { HttpError, invalid } from "../errors.ts";
import type { EventBody } from "../events.ts";
import type { Bookmark } from "../store/store.ts";
import { LIMITS, type BulkAction } from "./schemas.ts";

/** Bookmarks one tag rename, merge or deletion may change: one append, one transaction. */
export const TAG_EDIT_BOOKMARKS_MAX = 10_000;

/** The tag actions need tags; the others take none (a tag sent with them is a mistake worth naming). */
export function checkBulkTags(action: BulkAction, tags: readonly string[]): void {
  const tagAction = action === "add_tags" || action === "remove_tags";
  if (tagAction && tags.length === 0) throw invalid({ tags: [`can't be blank for ${action}`] });
  if (!tagAction && tags.length > 0) throw invalid({ tags: [`apply only to add_tags and remove_tags, not ${action}`] });
}

function tagsEvent(bookmark: Bookmark, tags: string[]): EventBody | null {
  const same = tags.length === bookmark.tags.length && tags.every((tag, index) => tag === bookmark.tags[index]);
  if (same) return null;
  if (tags.length > LIMITS.tagsPerBookmarkMax) {
    throw invalid({ tags: [`would give bookmark ${bookmark.id} ${tags.length} tags (at most ${LIMITS.tagsPerBookmarkMax})`] });
  }
  return { type: "bookmark.updated", payload: { id: bookmark.id, tags } };
}

/** The event of one bookmark under a bulk action, or null when it already is as asked. */
function bulkEvent(bookmark: Bookmark, action: BulkAction, tags: readonly string[]): EventBody | null {
  switch (action) {
    case "add_tags":
      return tagsEvent(bookmark, [...new Set([...bookmark.tags, ...tags])]);
    case "remove_tags":
      return tagsEvent(bookmark, bookmark.tags.filter((tag) => !tags.includes(tag)));
    case "make_public":
      return bookmark.public ? null : { type: "bookmark.updated", payload: { id: bookmark.id, public: true } };
    case "make_private":
      return bookmark.public ? { type: "bookmark.updated", payload: { id: bookmark.id, public: false } } : null;
    case "mark_read":
      return bookmark.unread ? { type: "bookmark.updated", payload: { id: bookmark.id, unread: false } } : null;
    case "mark_unread":
      return bookmark.unread ? null : { type: "bookmark.updated", payload: { id: bookmark.id, unread: true } };
    case "delete":
      return { type: "bookmark.deleted", payload: { id: bookmark.id } };
  }
}

/**
 * The events of a bulk edit, in the order the bookmarks were named; bookmarks already as asked
 * get none. Throws (422) before returning anything if one of them cannot take the change.
 */
export function bulkEvents(bookmarks: readonly Bookmark[], action: BulkAction, tags: readonly string[]): EventBody[] {
  const bodies: EventBody[] = [];
  for (const bookmark of bookmarks) {
    const body = bulkEvent(bookmark, action, tags);
    if (body) bodies.push(body);
  }
  return bodies;
}

/**
 * The events that rename tag `from` to `to` (a merge when a bookmark has both: it keeps one) or,
 * with `to` null, take it off, on every bookmark given that carries it, newest first.
 */
export function retagEvents(bookmarks: readonly Bookmark[], from: string, to: string | null): EventBody[] {
  const tagged = bookmarks.filter((bookmark) => bookmark.tags.includes(from));
  if (tagged.length > TAG_EDIT_BOOKMARKS_MAX) {
    throw new HttpError(413, `the tag "${from}" is on ${tagged.length.toLocaleString("en")} of your bookmarks; at most ${TAG_EDIT_BOOKMARKS_MAX.toLocaleString("en")} can change in one go (remove it from some with a bulk edit first)`);
  }
  return tagged.map((bookmark) => ({
    type: "bookmark.updated",
    payload: { id: bookmark.id, tags: [...new Set(bookmark.tags.flatMap((tag) => (tag === from ? (to === null ? [] : [to]) : [tag])))] },
  }));
}
