// JSON shapes of bookmarks, comments and users: the original app's field names, shared by API and topics.
import type { Bookmark, Comment, User } from "../store/store.ts";
import type { LinkCheck, LinkHealth } from "../store/link-health.ts";

export interface BookmarkJson {
  id: number;
  title: string;
  description: string;
  /** The owner's Markdown notes as written ("" when none): shown to whoever may see the bookmark, like its description. */
  notes: string;
  url: string;
  public: boolean;
  tags: readonly string[];
  /** The read-later flag: present only in answers to the bookmark's owner. */
  unread?: boolean;
  user: string;
  inserted_at: string;
  updated_at: string;
  comment_count: number;
  /** What the link checker or the title fetch found wrong: present only for the owner, and only when something is. */
  link?: LinkJson;
}

export interface LinkCheckJson {
  status: number | null;
  final_url: string | null;
  error: string | null;
  checked_at: string;
}

export interface LinkJson {
  broken: boolean;
  last_check: LinkCheckJson | null;
  fetch_failed: LinkCheckJson | null;
}

export function linkCheckJson(check: LinkCheck | null): LinkCheckJson | null {
  return check === null ? null : { status: check.status, final_url: check.finalUrl, error: check.error, checked_at: isoTime(check.at) };
}

/** ISO prefixes ("2026-11-24T16:52:02") of recent seconds: toISOString is slow on hot paths. */
const isoSeconds = new Map<number, string>();
const ISO_SECONDS_MAX = 4096;

export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  let prefix = isoSeconds.get(second);
  if (prefix === undefined) {
    if (isoSeconds.size >= ISO_SECONDS_MAX) isoSeconds.clear();
    prefix = new Date(second * 1000).toISOString().slice(0, 19);
    isoSeconds.set(second, prefix);
  }
  const millis = ms - second * 1000;
  return `${prefix}.${millis < 10 ? "00" : millis < 100 ? "0" : ""}${millis}Z`;
}

/**
 * A bookmark as `viewer` may see it (null: someone not logged in, or a topic shared by many).
 * The read-later flag is its owner's alone: `unread` is there only when the viewer is the owner.
 */
export function bookmarkJson(bookmark: Bookmark, viewer: User | null, links?: LinkHealth): BookmarkJson {
  const json: BookmarkJson = {
    id: bookmark.id,
    title: bookmark.title,
    description: bookmark.description,
    notes: bookmark.notes,
    url: bookmark.url,
    public: bookmark.public,
    tags: bookmark.tags,
    user: bookmark.user.username,
    inserted_at: isoTime(bookmark.insertedAt),
    updated_at: isoTime(bookmark.updatedAt),
    comment_count: bookmark.comments?.length ?? 0,
  };
  if (viewer === bookmark.user) {
    json.unread = bookmark.unread;
    const trouble = links?.get(bookmark.id);
    if (trouble) json.link = { broken: trouble.broken !== null, last_check: linkCheckJson(trouble.broken), fetch_failed: linkCheckJson(trouble.fetchFailed) };
  }
  return json;
}

export interface CommentJson {
  id: number;
  bookmark_id: number;
  user: string;
  body: string;
  inserted_at: string;
}

export function commentJson(comment: Comment): CommentJson {
  return { id: comment.id, bookmark_id: comment.bookmarkId, user: comment.user.username, body: comment.body, inserted_at: isoTime(comment.insertedAt) };
}

export function userJson(user: User): { username: string; inserted_at: string } {
  return { username: user.username, inserted_at: isoTime(user.insertedAt) };
}
