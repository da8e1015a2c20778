// The admin overview: recent sign-ups, bookmarks and comments with their moderation state, as JSON (API) and as the /admin page's live panel.
import type { Role, SignupMode } from "../events.ts";
import { commentShown, type Store, type User } from "../store/store.ts";
import { bookmarkJson, commentJson, isoTime, type BookmarkJson, type CommentJson } from "./json.ts";
import { render, utcText } from "./html.ts";

/** Rows of each list of the overview. */
export const ADMIN_ROWS_MAX = 50;

export interface AdminUserJson {
  id: number;
  username: string;
  role: Role;
  suspended: boolean;
  bookmarks: number;
  inserted_at: string;
}

export interface AdminOverview {
  signup: SignupMode;
  users: AdminUserJson[];
  /** Public bookmarks as everyone sees them (an admin's view of others' private ones is only the delete route). */
  bookmarks: BookmarkJson[];
  comments: CommentJson[];
}

export function adminUserJson(user: User): AdminUserJson {
  return { id: user.id, username: user.username, role: user.role, suspended: user.suspended, bookmarks: user.bookmarks.length, inserted_at: isoTime(user.insertedAt) };
}

/** The newest users first (the store keeps them in sign-up order). */
function recentUsers(store: Store, limit: number): User[] {
  const users = [...store.usersById.values()];
  return users.slice(Math.max(0, users.length - limit)).reverse();
}

/**
 * What the admin page and GET /api/admin show: the newest sign-ups (suspended ones too, so they
 * can be reinstated), the newest public bookmarks and comments as everyone sees them.
 */
export function adminOverview(store: Store, signup: SignupMode, limit = ADMIN_ROWS_MAX): AdminOverview {
  return {
    signup,
    users: recentUsers(store, limit).map(adminUserJson),
    bookmarks: store.bookmarks({ viewer: null, limit }).items.map((bookmark) => bookmarkJson(bookmark, null)),
    comments: store.latestComments(limit * 2).filter((comment) => commentShown(null, comment) && store.visibleBookmark(comment.bookmarkId, null) !== undefined).slice(0, limit).map(commentJson),
  };
}

/**
 * The live panel of /admin: the same for every admin (rendered once per event), so it carries no
 * CSRF token. Its buttons submit forms outside the panel (`form="…"`), which the page renders per
 * viewer with their token.
 */
export function renderAdminPanel(overview: AdminOverview): string {
  const at = (iso: string) => ({ iso, text: utcText(Date.parse(iso)) });
  return render("@partials/admin-panel", {
    ...overview,
    users: overview.users.map((user) => ({ ...user, at: at(user.inserted_at) })),
    bookmarks: overview.bookmarks.map((bookmark) => ({ ...bookmark, at: at(bookmark.inserted_at) })),
    comments: overview.comments.map((comment) => ({ ...comment, at: at(comment.inserted_at) })),
  });
}
