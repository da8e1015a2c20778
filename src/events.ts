// The events of Nasty's log: every change is one of these, and the store is their fold.

declare const brand: unique symbol;
export type Branded<T, B extends string> = T & { readonly [brand]: B };
export type UserId = Branded<number, "UserId">;
export type BookmarkId = Branded<number, "BookmarkId">;
export type CommentId = Branded<number, "CommentId">;
export type TokenId = Branded<number, "TokenId">;
export type InviteId = Branded<number, "InviteId">;

export type TokenKind = "api" | "session";

/** Admins moderate (delete anything, suspend, switch sign-up, invite); members do not. */
export type Role = "admin" | "member";

/** Who may sign up: anyone, nobody (accounts come from the CLI), or whoever holds an invitation. */
export type SignupMode = "open" | "closed" | "invite";
export const SIGNUP_MODES: readonly SignupMode[] = ["open", "closed", "invite"];

export interface BookmarkFields {
  url: string;
  title: string;
  description: string;
  public: boolean;
  tags: string[];
  /** "To read" (Pinboard's toread, linkding's unread). Absent means false (and in older events). */
  unread?: boolean;
  /** The owner's Markdown notes (linkding's `notes`), up to 10,000 characters. Absent means "" (and in older events). */
  notes?: string;
}

/**
 * A bookmark's own date (ms since 1970) when it is not the event's time: an import's ADD_DATE,
 * Pinboard's `dt`. It is the date shown and exported; it does not move the bookmark in the
 * newest-first lists, which follow log order (see Bookmark.ord in the store).
 */
export interface BookmarkDate {
  inserted_at?: number;
}

export type LinkCheckPurpose = "metadata" | "health";

export type EventBody =
  | { type: "user.registered"; payload: { id: UserId; username: string; password_hash: string } }
  | { type: "user.password_changed"; payload: { id: UserId; password_hash: string } }
  /** v2: `expires_at` (ms since 1970; null: until revoked). Sessions expire SESSION_TTL_MS after creation. */
  | { type: "token.created"; payload: { id: TokenId; user_id: UserId; hash: string; kind: TokenKind; name: string; expires_at: number | null } }
  | { type: "token.revoked"; payload: { id: TokenId } }
  | { type: "bookmark.created"; payload: { id: BookmarkId; user_id: UserId } & BookmarkFields & BookmarkDate }
  | { type: "bookmark.updated"; payload: { id: BookmarkId } & Partial<BookmarkFields> }
  | { type: "bookmark.deleted"; payload: { id: BookmarkId } }
  /**
   * A fetch of a bookmark's URL and how it went (src/fetch/): `purpose` "metadata" after a save
   * without a title, "health" from the link checker. `status` is the HTTP status (null when no
   * answer came), `final_url` where redirects ended, `error` why it failed (null: it did not),
   * `broken` whether the link is dead for its owner. The time is the event's own.
   */
  | { type: "link.checked"; payload: { id: BookmarkId; purpose: LinkCheckPurpose; status: number | null; final_url: string | null; error: string | null; broken: boolean } }
  | { type: "comment.posted"; payload: { id: CommentId; bookmark_id: BookmarkId; user_id: UserId; body: string } }
  /** A comment taken down by its author (or, later, a moderator); it names its bookmark, where the store keeps it. */
  | { type: "comment.deleted"; payload: { id: CommentId; bookmark_id: BookmarkId } }
  /**
   * Account erasure: the user, their tokens, their bookmarks and every comment they wrote go. The
   * command deletes their bookmarks and comments and revokes their tokens in events of their own first, so
   * every part following the log sees those; this event takes whatever is left.
   */
  | { type: "user.deleted"; payload: { id: UserId } }
  /** Moderation: an admin (or the CLI) makes someone an admin or a member again. */
  | { type: "user.role_changed"; payload: { id: UserId; role: Role } }
  /** Moderation: a suspended user cannot log in, their tokens stop working, and what they wrote is hidden from everyone else. */
  | { type: "user.suspended"; payload: { id: UserId } }
  | { type: "user.unsuspended"; payload: { id: UserId } }
  /** Moderation: sign-up switched at run time (NASTY_SIGNUP is only the value before the first such event). */
  | { type: "signup.changed"; payload: { mode: SignupMode } }
  /** An invitation: the hash of its secret (the link holds the secret); `created_by` null when the CLI made it. */
  | { type: "invite.created"; payload: { id: InviteId; hash: string; created_by: UserId | null } }
  /** An invitation spent by a sign-up (appended with that user.registered): single use. */
  | { type: "invite.used"; payload: { id: InviteId; user_id: UserId } };

export type EventType = EventBody["type"];

/**
 * The schema version of each event type that this build writes. Replay accepts every older
 * version (upgraded in event-upgrade.ts) and refuses a newer one. Raise a type's number only with
 * an upgrade from the one before.
 */
export const EVENT_VERSIONS: { readonly [T in EventType]: number } = {
  "user.registered": 1,
  "user.password_changed": 1,
  "user.deleted": 1,
  "token.created": 2,
  "token.revoked": 1,
  "bookmark.created": 1,
  "bookmark.updated": 1,
  "bookmark.deleted": 1,
  "comment.posted": 1,
  "comment.deleted": 1,
  "user.role_changed": 1,
  "user.suspended": 1,
  "user.unsuspended": 1,
  "signup.changed": 1,
  "invite.created": 1,
  "invite.used": 1,
  "link.checked": 1,
};

/** A session token (kind "session") lasts this long after it was created; API tokens until revoked. */
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

/** An event as the log holds it: sequence number (per node), version, time (ms), node id. */
export type LoggedEvent = EventBody & { seq: number; v: number; ts: number; node: number };

/**
 * Ids are unique across nodes: a per-node counter times 1024 plus the node id (0..1023).
 * They stay exact JavaScript integers up to 8.7e12 ids per node.
 */
export const NODE_ID_SPAN = 1024;

export class IdAllocator {
  private counter = 0;
  constructor(private readonly nodeId: number) {}

  /** Called for every id seen on replay so new ids never collide with old ones. */
  observe(id: number): void {
    if (id % NODE_ID_SPAN === this.nodeId) this.counter = Math.max(this.counter, Math.floor(id / NODE_ID_SPAN));
  }

  /** The per-node counter, kept in snapshots: ids of erased things are never handed out again. */
  get last(): number {
    return this.counter;
  }

  restore(counter: number): void {
    this.counter = Math.max(this.counter, counter);
  }

  next<T extends number>(): T {
    this.counter += 1;
    return (this.counter * NODE_ID_SPAN + this.nodeId) as T;
  }
}
