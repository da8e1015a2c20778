// The in-memory store: the fold of the event log, indexed by id, tag, user and URL; answers every read.
import { assert } from "../assert.ts";
import { IdAllocator, type BookmarkId, type CommentId, type LoggedEvent, type Role, type TokenId, type TokenKind, type UserId } from "../events.ts";
import { OrderedList } from "./ordered-list.ts";
import { UrlIndex } from "./url-index.ts";

export interface User {
  readonly id: UserId;
  readonly username: string;
  passwordHash: string;
  /** "admin" for the first account of a fresh server (user.registered's `role`); "member" otherwise. */
  role: Role;
  readonly insertedAt: number;
  readonly bookmarks: OrderedList<Bookmark>;
  /** When one of their bookmarks was last created, changed or deleted (Pinboard's posts/update). */
  bookmarksChangedAt: number;
}

export interface Bookmark {
  readonly id: BookmarkId;
  /**
   * Position in creation order; the key of every newest-first list and of cursors. This is log
   * order, not date order: an imported bookmark keeps its own `insertedAt` (ADD_DATE) but is
   * listed where it arrived, so replay stays a plain fold and cursors stay stable.
   */
  readonly ord: number;
  readonly user: User;
  url: string;
  title: string;
  description: string;
  public: boolean;
  tags: string[];
  /** "To read" (Pinboard's toread, linkding's unread). */
  unread: boolean;
  readonly insertedAt: number;
  updatedAt: number;
  /** Oldest first; null until the first comment (most bookmarks have none). */
  comments: Comment[] | null;
}

export interface Comment {
  readonly id: CommentId;
  readonly bookmark: Bookmark;
  readonly user: User;
  readonly body: string;
  readonly insertedAt: number;
}

export interface Token {
  readonly id: TokenId;
  readonly user: User;
  readonly hash: string;
  readonly kind: TokenKind;
  readonly name: string;
  readonly createdAt: number;
  /** When it stops being accepted (ms since 1970), or null: until revoked. */
  readonly expiresAt: number | null;
}

interface TagEntry {
  readonly name: string;
  readonly all: OrderedList<Bookmark>;
  publicCount: number;
}

export interface StoreCounters {
  nextOrd: number;
  lastId: number;
  eventsApplied: number;
  lastSeq: number;
  commentCount: number;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface BookmarkQuery {
  viewer: User | null;
  tags?: readonly string[];
  user?: User;
  /** Bookmarks of this URL by its duplicate key (urlKey), as savedBy finds them. */
  url?: string;
  /** Only bookmarks marked (true) or not marked (false) "to read". */
  unread?: boolean;
  /** Opaque cursor from a previous page's nextCursor. */
  beforeOrd?: number;
  limit: number;
}

export interface TagCount {
  tag: string;
  count: number;
}

export function canSee(viewer: User | null, bookmark: Bookmark): boolean {
  return bookmark.public || viewer === bookmark.user;
}

export function encodeCursor(ord: number): string {
  return ord.toString(36);
}

/** Returns the ord a cursor stands for, or null when it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
  if (!/^[0-9a-z]{1,11}$/.test(cursor)) return null;
  const ord = parseInt(cursor, 36);
  return Number.isSafeInteger(ord) ? ord : null;
}

export class Store {
  readonly ids: IdAllocator;
  readonly usersById = new Map<UserId, User>();
  readonly usersByName = new Map<string, User>();
  readonly tokensByHash = new Map<string, Token>();
  readonly tokensById = new Map<TokenId, Token>();
  readonly bookmarksById = new Map<BookmarkId, Bookmark>();
  readonly publicBookmarks = new OrderedList<Bookmark>();
  readonly tags = new Map<string, TagEntry>();
  readonly byUrl = new UrlIndex<Bookmark>();
  /** Every comment by id (DELETE /api/comments/:id finds one without its bookmark). */
  readonly commentsById = new Map<CommentId, Comment>();
  commentCount = 0;
  eventsApplied = 0;
  lastSeq = 0;
  /** Tokens that expire, in creation order (so nearly in expiry order); revoked ones stay until reached. */
  private expiring: Token[] = [];
  private expiringHead = 0;
  private nextOrd = 1;
  private sortedTagCounts: TagCount[] | null = null;

  constructor(nodeId: number) {
    this.ids = new IdAllocator(nodeId);
  }

  /**
   * Folds one committed event into the store. Deterministic and total: the same events in the
   * same order always give the same store. An update, delete or comment whose bookmark is gone
   * (a delete committed first in the same batch), or anything new of an erased account, changes
   * nothing, live and on replay alike.
   */
  apply(event: LoggedEvent): void {
    if (event.seq <= this.lastSeq) assert(false, `event seq ${event.seq} applied after ${this.lastSeq}`);
    this.lastSeq = event.seq;
    this.eventsApplied += 1;
    if (this.expiringHead < this.expiring.length) this.expireTokens(event.ts);
    // The common case first: a switch over strings compares them in order.
    if (event.type === "bookmark.created") {
      this.createBookmark(event.payload, event.ts);
      return;
    }
    switch (event.type) {
      case "user.registered": {
        const { id, username, password_hash, role = "member" } = event.payload;
        assert(!this.usersById.has(id) && !this.usersByName.has(username), () => `user ${username} registered twice`);
        const user: User = { id, username, passwordHash: password_hash, role, insertedAt: event.ts, bookmarks: new OrderedList(), bookmarksChangedAt: event.ts };
        this.usersById.set(id, user);
        this.usersByName.set(username, user);
        this.ids.observe(id);
        return;
      }
      case "user.password_changed": {
        const user = this.usersById.get(event.payload.id);
        if (user) user.passwordHash = event.payload.password_hash;
        return;
      }
      case "token.created": {
        const { id, user_id, hash, kind, name, expires_at } = event.payload;
        this.ids.observe(id);
        const user = this.usersById.get(user_id);
        // The account was erased while this was in flight: nothing to add.
        if (user === undefined) return;
        this.addToken({ id, user, hash, kind, name, createdAt: event.ts, expiresAt: expires_at });
        return;
      }
      case "token.revoked": {
        const token = this.tokensById.get(event.payload.id);
        if (token) this.removeToken(token);
        return;
      }
      case "user.deleted":
        this.deleteUser(event.payload.id, event.ts);
        return;
      case "bookmark.updated":
        this.updateBookmark(event.payload, event.ts);
        return;
      case "bookmark.deleted":
        this.deleteBookmark(event.payload.id, event.ts);
        return;
      case "comment.posted": {
        const { id, bookmark_id, user_id, body } = event.payload;
        this.ids.observe(id);
        const bookmark = this.bookmarksById.get(bookmark_id);
        const user = this.usersById.get(user_id);
        if (!bookmark || !user) return;
        this.addComment({ id, bookmark, user, body, insertedAt: event.ts });
        return;
      }
      case "comment.deleted":
        this.deleteComment(event.payload.id, event.payload.bookmark_id);
        return;
      default: {
        const unexpected: never = event;
        assert(false, `unknown event ${JSON.stringify(unexpected)}`);
      }
    }
  }

  // ---- snapshots (snapshot-format.ts): the state written out and read back without the log ----

  /** The counters a fold keeps beside its maps. */
  counters(): StoreCounters {
    return { nextOrd: this.nextOrd, lastId: this.ids.last, eventsApplied: this.eventsApplied, lastSeq: this.lastSeq, commentCount: this.commentCount };
  }

  restoreCounters(counters: StoreCounters): void {
    this.nextOrd = counters.nextOrd;
    this.ids.restore(counters.lastId);
    this.eventsApplied = counters.eventsApplied;
    this.lastSeq = counters.lastSeq;
    this.commentCount = counters.commentCount;
  }

  restoreUser(user: Omit<User, "bookmarks">): User {
    // The same shape (field order) as a registered user's, so reads stay monomorphic.
    const restored: User = { id: user.id, username: user.username, passwordHash: user.passwordHash, role: user.role, insertedAt: user.insertedAt, bookmarks: new OrderedList(), bookmarksChangedAt: user.bookmarksChangedAt };
    assert(!this.usersById.has(user.id) && !this.usersByName.has(user.username), () => `snapshot holds user ${user.username} twice`);
    this.usersById.set(user.id, restored);
    this.usersByName.set(user.username, restored);
    return restored;
  }

  /** A bookmark as a snapshot holds it, restored in ord order (so every list only appends). */
  restoreBookmark(bookmark: Omit<Bookmark, "tags" | "comments">, tags: readonly string[]): Bookmark {
    const restored: Bookmark = {
      id: bookmark.id, ord: bookmark.ord, user: bookmark.user, url: bookmark.url, title: bookmark.title, description: bookmark.description,
      public: bookmark.public, tags: [], unread: bookmark.unread, insertedAt: bookmark.insertedAt, updatedAt: bookmark.updatedAt, comments: null,
    };
    assert(!this.bookmarksById.has(bookmark.id), () => `snapshot holds bookmark ${bookmark.id} twice`);
    this.bookmarksById.set(restored.id, restored);
    restored.user.bookmarks.insert(restored);
    this.byUrl.add(restored);
    this.indexTagsAndVisibility(restored, tags, restored.public);
    return restored;
  }

  /** Adds a comment at the end of its bookmark's discussion (also from a snapshot, oldest first). */
  addComment(comment: Comment): void {
    (comment.bookmark.comments ??= []).push(comment);
    this.commentsById.set(comment.id, comment);
    this.commentCount += 1;
  }

  /** Takes one comment out of its bookmark's discussion; one that is gone already (with its bookmark or author) changes nothing. */
  private deleteComment(id: CommentId, bookmarkId: BookmarkId): void {
    const comment = this.commentsById.get(id);
    if (comment === undefined || comment.bookmark.id !== bookmarkId) return;
    const comments = comment.bookmark.comments!;
    comments.splice(comments.lastIndexOf(comment), 1);
    if (comments.length === 0) comment.bookmark.comments = null;
    this.commentsById.delete(id);
    this.commentCount -= 1;
  }

  /** Adds a token (also from a snapshot, in creation order). */
  addToken(token: Token): void {
    this.tokensByHash.set(token.hash, token);
    this.tokensById.set(token.id, token);
    if (token.expiresAt !== null) this.expiring.push(token);
  }

  private removeToken(token: Token): void {
    this.tokensById.delete(token.id);
    this.tokensByHash.delete(token.hash);
  }

  /**
   * Drops the tokens expired at `now` (an event's time, so replay drops them at the same event).
   * Reads check the expiry themselves (activeToken): this only frees them and erases them from
   * the next snapshot.
   */
  private expireTokens(now: number): void {
    while (this.expiringHead < this.expiring.length) {
      const token = this.expiring[this.expiringHead]!;
      if (token.expiresAt! > now) break;
      this.expiringHead += 1;
      if (this.tokensById.get(token.id) === token) this.removeToken(token);
    }
    if (this.expiringHead > 1024 && this.expiringHead * 2 > this.expiring.length) {
      this.expiring = this.expiring.slice(this.expiringHead);
      this.expiringHead = 0;
    }
  }

  /**
   * Account erasure: the user's remaining tokens and bookmarks (the command deleted and revoked
   * them in events before this one; anything committed in between goes here), every comment they
   * wrote, and the user.
   */
  private deleteUser(id: UserId, ts: number): void {
    const user = this.usersById.get(id);
    if (!user) return;
    for (const token of [...this.tokensById.values()]) if (token.user === user) this.removeToken(token);
    for (const bookmark of [...user.bookmarks.items]) this.deleteBookmark(bookmark.id, ts);
    for (const bookmark of this.bookmarksById.values()) {
      if (bookmark.comments === null || !bookmark.comments.some((comment) => comment.user === user)) continue;
      const kept = bookmark.comments.filter((comment) => comment.user !== user);
      for (const comment of bookmark.comments) if (comment.user === user) this.commentsById.delete(comment.id);
      this.commentCount -= bookmark.comments.length - kept.length;
      bookmark.comments = kept.length > 0 ? kept : null;
    }
    this.usersById.delete(id);
    this.usersByName.delete(user.username);
  }

  private createBookmark(payload: Extract<LoggedEvent, { type: "bookmark.created" }>["payload"], ts: number): void {
    const user = this.usersById.get(payload.user_id);
    if (user === undefined) {
      // The account was erased (user.deleted) while this was in flight: the bookmark never exists.
      this.ids.observe(payload.id);
      return;
    }
    const bookmark: Bookmark = {
      id: payload.id,
      ord: this.nextOrd++,
      user,
      url: payload.url,
      title: payload.title,
      description: payload.description,
      public: payload.public,
      tags: [],
      unread: payload.unread === true,
      insertedAt: payload.inserted_at ?? ts,
      updatedAt: ts,
      comments: null,
    };
    // One hash lookup instead of has() then set(): a second bookmark with the same id would not grow the map.
    const bookmarksBefore = this.bookmarksById.size;
    this.bookmarksById.set(bookmark.id, bookmark);
    if (this.bookmarksById.size === bookmarksBefore) assert(false, `bookmark ${payload.id} created twice`);
    this.ids.observe(payload.id);
    user.bookmarks.insert(bookmark);
    user.bookmarksChangedAt = ts;
    this.byUrl.add(bookmark);
    this.indexTagsAndVisibility(bookmark, payload.tags, payload.public);
  }

  private updateBookmark(payload: Extract<LoggedEvent, { type: "bookmark.updated" }>["payload"], ts: number): void {
    const bookmark = this.bookmarksById.get(payload.id);
    if (!bookmark) return;
    this.unindexTagsAndVisibility(bookmark);
    if (payload.url !== undefined && payload.url !== bookmark.url) {
      this.byUrl.remove(bookmark);
      bookmark.url = payload.url;
      this.byUrl.add(bookmark);
    }
    if (payload.title !== undefined) bookmark.title = payload.title;
    if (payload.description !== undefined) bookmark.description = payload.description;
    if (payload.unread !== undefined) bookmark.unread = payload.unread;
    bookmark.updatedAt = ts;
    bookmark.user.bookmarksChangedAt = ts;
    this.indexTagsAndVisibility(bookmark, payload.tags ?? bookmark.tags, payload.public ?? bookmark.public);
  }

  private deleteBookmark(id: BookmarkId, ts: number): void {
    const bookmark = this.bookmarksById.get(id);
    if (!bookmark) return;
    bookmark.user.bookmarksChangedAt = ts;
    this.unindexTagsAndVisibility(bookmark);
    this.byUrl.remove(bookmark);
    bookmark.user.bookmarks.remove(bookmark);
    this.bookmarksById.delete(id);
    for (const comment of bookmark.comments ?? []) this.commentsById.delete(comment.id);
    this.commentCount -= bookmark.comments?.length ?? 0;
  }

  private indexTagsAndVisibility(bookmark: Bookmark, tags: readonly string[], isPublic: boolean): void {
    bookmark.public = isPublic;
    // An exact-size copy whose names are then swapped for the tag entry's own string, so every
    // bookmark with a tag shares one copy of its name.
    const names = tags.slice();
    for (let index = 0; index < names.length; index += 1) {
      const name = names[index]!;
      let entry = this.tags.get(name);
      if (entry === undefined) {
        entry = { name, all: new OrderedList(), publicCount: 0 };
        this.tags.set(name, entry);
      }
      entry.all.insert(bookmark);
      if (isPublic) entry.publicCount += 1;
      names[index] = entry.name;
    }
    bookmark.tags = names;
    if (isPublic) this.publicBookmarks.insert(bookmark);
    this.sortedTagCounts = null;
  }

  private unindexTagsAndVisibility(bookmark: Bookmark): void {
    for (const name of bookmark.tags) {
      const entry = this.tags.get(name);
      assert(entry !== undefined, () => `tag ${name} of bookmark ${bookmark.id} not indexed`);
      entry.all.remove(bookmark);
      if (bookmark.public) entry.publicCount -= 1;
      if (entry.all.length === 0) this.tags.delete(name);
    }
    if (bookmark.public) this.publicBookmarks.remove(bookmark);
    this.sortedTagCounts = null;
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The token with this hash if it is still valid at `now` (not revoked, not expired). */
  activeToken(hash: string, now: number = Date.now()): Token | undefined {
    const token = this.tokensByHash.get(hash);
    return token !== undefined && (token.expiresAt === null || token.expiresAt > now) ? token : undefined;
  }

  userByName(name: string): User | undefined {
    return this.usersByName.get(name.toLowerCase());
  }

  /** The bookmark if `viewer` may see it; someone else's private bookmark is as good as absent. */
  visibleBookmark(id: number, viewer: User | null): Bookmark | undefined {
    const bookmark = this.bookmarksById.get(id as BookmarkId);
    return bookmark && canSee(viewer, bookmark) ? bookmark : undefined;
  }

  /**
   * The user's bookmark of this URL (by its duplicate key, urlKey: `https://www.example.com/#top`
   * finds `https://example.com`), if they saved it; `except` is passed over (a bookmark whose URL
   * is being changed is no duplicate of itself). The oldest when a log from before keys holds several.
   */
  savedBy(user: User, url: string, except?: Bookmark): Bookmark | undefined {
    return this.byUrl.get(url)?.find((bookmark) => bookmark.user === user && bookmark !== except);
  }

  /**
   * Newest-first bookmarks matching every given filter that the viewer may see. Walks the
   * shortest candidate list (URL, user, rarest tag, or all public) and filters the rest.
   */
  bookmarks(query: BookmarkQuery): Page<Bookmark> {
    const { viewer, tags = [], user, unread } = query;
    // With a URL, the candidates are exactly the bookmarks of that URL's key.
    const candidates = this.candidateList(query);
    if (!candidates) return { items: [], nextCursor: null };
    const keep = (bookmark: Bookmark): boolean =>
      canSee(viewer, bookmark) &&
      (user === undefined || bookmark.user === user) &&
      (unread === undefined || bookmark.unread === unread) &&
      tags.every((tag) => bookmark.tags.includes(tag));
    const { items, more } = candidates.page(query.beforeOrd ?? Number.MAX_SAFE_INTEGER, query.limit, keep);
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeCursor(last.ord) : null };
  }

  private candidateList(query: BookmarkQuery): { page: OrderedList<Bookmark>["page"] } | null {
    if (query.url !== undefined) {
      const list = this.byUrl.get(query.url);
      if (!list) return null;
      const ordered = new OrderedList<Bookmark>();
      for (const bookmark of list) ordered.insert(bookmark);
      return ordered;
    }
    let shortest: OrderedList<Bookmark> | null = query.user ? query.user.bookmarks : null;
    for (const tag of query.tags ?? []) {
      const entry = this.tags.get(tag);
      if (!entry) return null;
      if (!shortest || entry.all.length < shortest.length) shortest = entry.all;
    }
    return shortest ?? this.publicBookmarks;
  }

  /** Up to `count` distinct public bookmarks picked at random. */
  randomPublic(count: number, random: () => number = Math.random): Bookmark[] {
    const items = this.publicBookmarks.items;
    if (count >= items.length) return shuffle([...items], random);
    const picked = new Set<number>();
    while (picked.size < count) picked.add(Math.floor(random() * items.length));
    return [...picked].map((index) => items[index]!);
  }

  /** Public tag counts, most used first (ties by name); cached until a tag changes. */
  publicTagCounts(): TagCount[] {
    this.sortedTagCounts ??= [...this.tags.values()]
      .filter((entry) => entry.publicCount > 0)
      .map((entry) => ({ tag: entry.name, count: entry.publicCount }))
      .sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : 1));
    return this.sortedTagCounts;
  }

  /** One user's tag counts as the viewer may see them. */
  userTagCounts(user: User, viewer: User | null): TagCount[] {
    const counts = new Map<string, number>();
    for (const bookmark of user.bookmarks.items) {
      if (!canSee(viewer, bookmark)) continue;
      for (const tag of bookmark.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
    return [...counts].map(([tag, count]) => ({ tag, count })).sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : 1));
  }

  /** How many other people saved the same URL, counting only what the viewer may see. */
  othersSaved(bookmark: Bookmark, viewer: User | null): number {
    let count = 0;
    for (const other of this.byUrl.get(bookmark.url) ?? []) if (other !== bookmark && canSee(viewer, other)) count += 1;
    return count;
  }

  /** Newest first, at most `limit` (the discussion shows the last 100). */
  recentComments(bookmark: Bookmark, limit: number): Comment[] {
    const comments = bookmark.comments ?? [];
    return comments.slice(Math.max(0, comments.length - limit)).reverse();
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}
