// The in-memory store: the fold of the event log, in columns by ord, indexed by id, tag, user and URL; answers every read.
import { assert } from "../assert.ts";
import { IdAllocator, type BookmarkId, type CommentId, type InviteId, type LoggedEvent, type Role, type SignupMode, type TokenId, type TokenKind, type UserId } from "../events.ts";
import { BookmarkColumns, FLAG_LIVE, FLAG_PUBLIC, FLAG_UNREAD, FLAG_UTF16 } from "./columns.ts";
import { IdTable } from "./id-table.ts";
import { OrdList } from "./ordered-list.ts";
import { seededUrlHash, UrlIndex } from "./url-index.ts";
import { LinkHealth } from "./link-health.ts";

export interface User {
  readonly id: UserId;
  readonly username: string;
  passwordHash: string;
  readonly insertedAt: number;
  readonly bookmarks: BookmarkList;
  /** When one of their bookmarks was last created, changed or deleted (Pinboard's posts/update). */
  bookmarksChangedAt: number;
  /** The user's row number in the store's columns (an internal handle, not an id). */
  readonly slot: number;
  /** Set by `user.role_changed`: the first account of a server is made its admin at sign-up. */
  role: Role;
  /** Suspended: cannot log in, tokens refused, bookmarks and comments hidden from everyone else. */
  suspended: boolean;
}

/** An unused invitation: the hash of its secret, who made it (null: the CLI), when. */
export interface Invite {
  readonly id: InviteId;
  readonly hash: string;
  readonly createdBy: UserId | null;
  readonly createdAt: number;
}

/**
 * A bookmark as it was when read: a plain object built on demand from the store's columns, never
 * changed afterwards (read it again for a later state). Two reads of the same bookmark are two
 * objects: compare bookmarks by id, never by identity.
 */
export interface Bookmark {
  readonly id: BookmarkId;
  /**
   * Position in creation order; the key of every newest-first list and of cursors. This is log
   * order, not date order: an imported bookmark keeps its own `insertedAt` (ADD_DATE) but is
   * listed where it arrived, so replay stays a plain fold and cursors stay stable.
   */
  readonly ord: number;
  readonly user: User;
  readonly url: string;
  readonly title: string;
  readonly description: string;
  /** The owner's Markdown notes, as written ("" when none); rendered by src/render/markdown.ts. */
  readonly notes: string;
  readonly public: boolean;
  readonly tags: readonly string[];
  /** "To read" (Pinboard's toread, linkding's unread). */
  readonly unread: boolean;
  readonly insertedAt: number;
  readonly updatedAt: number;
  /** Oldest first; null until the first comment (most bookmarks have none). */
  readonly comments: readonly Comment[] | null;
}

export interface Comment {
  readonly id: CommentId;
  readonly bookmarkId: BookmarkId;
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

export interface StoreCounters {
  nextOrd: number;
  lastId: number;
  eventsApplied: number;
  lastSeq: number;
  commentCount: number;
  /** The URL index's hash seed (hashes are kept in snapshots, so a restored store keeps its seed). */
  urlSeed: number;
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
  /** Only bookmarks whose link the checker found broken (true) or not (false); see LinkHealth. */
  broken?: boolean;
  /** Opaque cursor from a previous page's nextCursor. */
  beforeOrd?: number;
  limit: number;
}

export interface TagCount {
  tag: string;
  count: number;
}

/** Whether everyone may see a bookmark: public, and its owner not suspended. The public lists hold exactly these. */
export function listed(bookmark: Bookmark): boolean {
  return bookmark.public && !bookmark.user.suspended;
}

export function canSee(viewer: User | null, bookmark: Bookmark): boolean {
  return viewer === bookmark.user || listed(bookmark);
}

/** Whether `viewer` may read a comment: a suspended author's comments are hidden from everyone but them. */
export function commentShown(viewer: User | null, comment: Comment): boolean {
  return !comment.user.suspended || viewer === comment.user;
}

export function isAdmin(user: User | null): boolean {
  return user !== null && user.role === "admin" && !user.suspended;
}

/** Comments the store keeps in its latest list (the admin page shows the newest of them). */
export const LATEST_COMMENTS_MAX = 200;

export function encodeCursor(ord: number): string {
  return ord.toString(36);
}

/** Returns the ord a cursor stands for, or null when it is not one of ours. */
export function decodeCursor(cursor: string): number | null {
  if (!/^[0-9a-z]{1,11}$/.test(cursor)) return null;
  const ord = parseInt(cursor, 36);
  return Number.isSafeInteger(ord) ? ord : null;
}

/** Bookmark rows read from a snapshot, one entry per row in each column (Store.restoreRows). */
export interface RestoredRows {
  count: number;
  ord: Int32Array;
  id: Float64Array;
  user: Int32Array;
  users: readonly User[];
  insertedAt: Float64Array;
  updatedAt: Float64Array;
  flags: Uint8Array;
  urlLength: Uint32Array;
  titleLength: Uint32Array;
  descriptionLength: Uint32Array;
  notesLength: Uint16Array;
  urlHash: Int32Array;
  tagCount: Uint16Array;
  /** Zeros in a snapshot from before link check times: the save time stands in. */
  linkCheckedAtS: Uint32Array;
  tags: Uint32Array<ArrayBuffer>;
  chunk: number;
  textBytes: number;
}

/** A newest-first list of bookmarks (a user's, a tag's, every public one), held as ords. */
export class BookmarkList {
  constructor(
    private readonly store: Store,
    readonly ords: OrdList,
  ) {}

  get length(): number {
    return this.ords.length;
  }

  /** Up to `limit` newest first, after passing over the `offset` newest. */
  newest(limit: number, offset = 0): Bookmark[] {
    const found: Bookmark[] = [];
    for (let index = this.ords.length - 1 - offset; index >= 0 && found.length < limit; index -= 1) found.push(this.store.bookmarkAt(this.ords.at(index)));
    return found;
  }

  /** Oldest first (each bookmark read as the walk reaches it). */
  *values(): IterableIterator<Bookmark> {
    for (let index = 0; index < this.ords.length; index += 1) yield this.store.bookmarkAt(this.ords.at(index));
  }

  /** Newest first (each bookmark read as the walk reaches it). */
  *newestFirst(): IterableIterator<Bookmark> {
    for (let index = this.ords.length - 1; index >= 0; index -= 1) yield this.store.bookmarkAt(this.ords.at(index));
  }
}

/** Bookmarks by id, as a read-only map (each get reads the bookmark anew). */
export class BookmarkTable {
  constructor(private readonly store: Store) {}

  get size(): number {
    return this.store.bookmarkCount;
  }

  get(id: BookmarkId): Bookmark | undefined {
    const ord = this.store.ordOf(id);
    return ord === 0 ? undefined : this.store.bookmarkAt(ord);
  }

  has(id: BookmarkId): boolean {
    return this.store.ordOf(id) !== 0;
  }

  /** Every bookmark in ord (creation) order. */
  *values(): IterableIterator<Bookmark> {
    for (const ord of this.store.liveOrds()) yield this.store.bookmarkAt(ord);
  }
}

export class Store {
  readonly ids: IdAllocator;
  readonly usersById = new Map<UserId, User>();
  readonly usersByName = new Map<string, User>();
  readonly tokensByHash = new Map<string, Token>();
  readonly tokensById = new Map<TokenId, Token>();
  readonly bookmarksById = new BookmarkTable(this);
  /** Columns by ord (for snapshot-format.ts; reads go through bookmarkAt). */
  readonly columns = new BookmarkColumns();
  readonly publicBookmarks = new BookmarkList(this, new OrdList());
  /** Every comment by id (DELETE /api/comments/:id finds one without its bookmark). */
  readonly commentsById = new Map<CommentId, Comment>();
  /** Unused invitations by the hash of their secret. */
  readonly invitesByHash = new Map<string, Invite>();
  /** Sign-up as last switched (`signup.changed`); null: never switched, NASTY_SIGNUP decides. */
  signupMode: SignupMode | null = null;
  /** Link checks that found trouble, apart from the bookmarks themselves (link.checked events). */
  readonly links = new LinkHealth();
  commentCount = 0;
  eventsApplied = 0;
  lastSeq = 0;
  private readonly ordsById = new IdTable();
  private urlSeed: number;
  private byUrl: UrlIndex;
  /** Users by slot (holes for erased ones, reused). */
  private readonly usersBySlot: (User | undefined)[] = [];
  private readonly freeUserSlots: number[] = [];
  /** Tags interned: number → name ("" for a freed number), name → number, and per number its list and public count. */
  private readonly tagNames: string[] = [];
  private readonly tagNumbers = new Map<string, number>();
  private readonly tagLists: (BookmarkList | null)[] = [];
  private readonly tagPublic: number[] = [];
  private readonly freeTags: number[] = [];
  /** Comments by their bookmark's ord (few bookmarks have any). */
  private readonly commentsByOrd = new Map<number, Comment[]>();
  /** Tokens that expire, in creation order (so nearly in expiry order); revoked ones stay until reached. */
  private expiring: Token[] = [];
  private expiringHead = 0;
  private nextOrd = 1;
  private sortedTagCounts: TagCount[] | null = null;
  /** The newest comments posted (oldest first, at most twice LATEST_COMMENTS_MAX), for the admin page; gone ones are skipped when read (latestComments). */
  private latest: Comment[] = [];

  constructor(nodeId: number, urlSeed: number = (Math.random() * 0x1_0000_0000) | 0) {
    this.ids = new IdAllocator(nodeId);
    this.urlSeed = urlSeed;
    this.byUrl = new UrlIndex((ord) => this.columns.url(ord), seededUrlHash(urlSeed));
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
        const { id, username, password_hash } = event.payload;
        assert(!this.usersById.has(id) && !this.usersByName.has(username), () => `user ${username} registered twice`);
        // A member until `user.role_changed` (the first account's sign-up appends one making it the admin).
        this.addUser({ id, username, passwordHash: password_hash, insertedAt: event.ts, bookmarksChangedAt: event.ts, role: "member", suspended: false });
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
        this.deleteBookmark(this.ordsById.get(event.payload.id), event.ts);
        return;
      case "link.checked": {
        const ord = this.ordsById.get(event.payload.id);
        if (ord === 0) return;
        this.links.apply(event.payload, event.ts);
        if (event.payload.purpose === "health") this.columns.linkCheckedAtS[ord] = secondsOf(event.ts);
        return;
      }
      case "comment.posted": {
        const { id, bookmark_id, user_id, body } = event.payload;
        this.ids.observe(id);
        const ord = this.ordsById.get(bookmark_id);
        const user = this.usersById.get(user_id);
        if (ord === 0 || !user) return;
        this.addComment(ord, { id, bookmarkId: bookmark_id, user, body, insertedAt: event.ts });
        return;
      }
      case "comment.deleted":
        this.deleteComment(event.payload.id, event.payload.bookmark_id);
        return;
      case "user.role_changed": {
        const user = this.usersById.get(event.payload.id);
        if (user) user.role = event.payload.role;
        return;
      }
      case "user.suspended":
      case "user.unsuspended": {
        const user = this.usersById.get(event.payload.id);
        if (user) this.setSuspended(user, event.type === "user.suspended");
        return;
      }
      case "signup.changed":
        this.signupMode = event.payload.mode;
        return;
      case "invite.created": {
        const { id, hash, created_by } = event.payload;
        this.ids.observe(id);
        this.invitesByHash.set(hash, { id, hash, createdBy: created_by, createdAt: event.ts });
        return;
      }
      case "invite.used":
        for (const invite of this.invitesByHash.values()) {
          if (invite.id !== event.payload.id) continue;
          this.invitesByHash.delete(invite.hash);
          return;
        }
        return;
      default: {
        const unexpected: never = event;
        assert(false, `unknown event ${JSON.stringify(unexpected)}`);
      }
    }
  }

  // ---- snapshots (snapshot-format.ts): the state written out and read back without the log ----

  /** The counters a fold keeps beside its columns. */
  counters(): StoreCounters {
    return { nextOrd: this.nextOrd, lastId: this.ids.last, eventsApplied: this.eventsApplied, lastSeq: this.lastSeq, commentCount: this.commentCount, urlSeed: this.urlSeed };
  }

  /** Sets the counters (and the URL seed, so do this before any bookmark is restored). */
  restoreCounters(counters: StoreCounters): void {
    assert(this.bookmarkCount === 0, "counters are restored before the bookmarks");
    this.nextOrd = counters.nextOrd;
    this.ids.restore(counters.lastId);
    this.eventsApplied = counters.eventsApplied;
    this.lastSeq = counters.lastSeq;
    // commentCount is counted again as the comments are added (snapshot-format.ts checks it).
    this.urlSeed = counters.urlSeed;
    this.byUrl = new UrlIndex((ord) => this.columns.url(ord), seededUrlHash(counters.urlSeed));
  }

  /** Adds a user (registered, or from a snapshot). */
  addUser(user: Omit<User, "bookmarks" | "slot">): User {
    assert(!this.usersById.has(user.id) && !this.usersByName.has(user.username), () => `user ${user.username} added twice`);
    const slot = this.freeUserSlots.pop() ?? this.usersBySlot.length;
    // One shape (field order) for every user, so reads stay monomorphic.
    const added: User = {
      id: user.id, username: user.username, passwordHash: user.passwordHash, insertedAt: user.insertedAt, bookmarks: new BookmarkList(this, new OrdList()), bookmarksChangedAt: user.bookmarksChangedAt, slot,
      role: user.role, suspended: user.suspended,
    };
    this.usersBySlot[slot] = added;
    this.usersById.set(user.id, added);
    this.usersByName.set(user.username, added);
    return added;
  }

  /**
   * The bookmarks' rows as a snapshot holds them (snapshot-format.ts), in ascending ord, into an
   * empty store: their text is already arena chunk `chunk`, back to back in row order; `user`
   * indexes `users`; `tags` holds every row's tag numbers (this store's, interned) in row order;
   * the URL keys' hashes are known. Every list is sized once and only appended to.
   */
  restoreRows(rows: RestoredRows): void {
    // Locals, not property reads in the loop (the rows object is built from a dynamic record).
    const { count, ord: ords, users, id: ids, user: userIndexes, flags: rowFlags, urlLength: urlLengths, titleLength: titleLengths, descriptionLength: descriptionLengths, notesLength: notesLengths, tagCount: tagCounts, tags, urlHash, insertedAt, updatedAt, linkCheckedAtS, chunk } = rows;
    assert(this.bookmarkCount === 0, "bookmark rows are restored into an empty store");
    const columns = this.columns;
    columns.ensure((count > 0 ? ords[count - 1]! : 0) + 1);
    this.ordsById.reserve(count);
    this.byUrl.reserve((count > 0 ? ords[count - 1]! : 0) + 1, count);
    const userCounts = new Int32Array(users.length);
    const perTag = new Int32Array(this.tagNames.length);
    let publicCount = 0;
    let lastOrd = 0;
    let offset = 0;
    let tagAt = 0;
    for (let row = 0; row < count; row += 1) {
      const ord = ords[row]!;
      const id = ids[row]!;
      if (ord <= lastOrd || ord >= this.nextOrd) throw new Error(`bookmark ${id} has ord ${ord}, out of order or beyond the counter ${this.nextOrd}`);
      lastOrd = ord;
      const user = users[userIndexes[row]!];
      if (user === undefined) throw new Error(`bookmark ${id} names unknown user ${userIndexes[row]}`);
      if (!this.ordsById.add(id, ord)) throw new Error(`bookmark ${id} is there twice`);
      const flags = (rowFlags[row]! & (FLAG_PUBLIC | FLAG_UNREAD | FLAG_UTF16)) | FLAG_LIVE;
      columns.id[ord] = id;
      columns.user[ord] = user.slot;
      columns.insertedAt[ord] = insertedAt[row]!;
      columns.updatedAt[ord] = updatedAt[row]!;
      columns.linkCheckedAtS[ord] = linkCheckedAtS[row] || secondsOf(insertedAt[row]!);
      columns.flags[ord] = flags;
      columns.chunk[ord] = chunk;
      columns.offset[ord] = offset;
      const urlLength = (columns.urlLength[ord] = urlLengths[row]!);
      const titleLength = (columns.titleLength[ord] = titleLengths[row]!);
      const descriptionLength = (columns.descriptionLength[ord] = descriptionLengths[row]!);
      const notesLength = (columns.notesLength[ord] = notesLengths[row]!);
      offset += urlLength + titleLength + descriptionLength + notesLength;
      const tagCount = tagCounts[row]!;
      columns.tagStart[ord] = tagAt;
      columns.tagCount[ord] = tagCount;
      for (let index = tagAt; index < tagAt + tagCount; index += 1) perTag[tags[index]!]! += 1;
      tagAt += tagCount;
      userCounts[userIndexes[row]!]! += 1;
      if ((flags & FLAG_PUBLIC) !== 0) publicCount += 1;
      this.byUrl.addHashed(ord, urlHash[row]!);
    }
    if (offset !== rows.textBytes) throw new Error(`text lengths add up to ${offset} bytes, not ${rows.textBytes}`);
    if (tagAt !== tags.length) throw new Error(`tag counts add up to ${tagAt}, not ${tags.length}`);
    columns.adoptTagPool(tags);
    users.forEach((user, index) => user.bookmarks.ords.grow(userCounts[index]!));
    for (let tag = 0; tag < perTag.length; tag += 1) this.tagLists[tag]?.ords.grow(perTag[tag]!);
    this.publicBookmarks.ords.grow(publicCount);
    for (let row = 0; row < count; row += 1) {
      const ord = ords[row]!;
      users[userIndexes[row]!]!.bookmarks.ords.insert(ord);
      this.indexTagsAndVisibility(ord);
    }
  }

  /** The interned tag numbers in use, with their names (for snapshots). */
  *tagTable(): IterableIterator<[number, string]> {
    for (let tag = 0; tag < this.tagNames.length; tag += 1) if (this.tagLists[tag] !== null) yield [tag, this.tagNames[tag]!];
  }

  /** Interns a tag name (a snapshot's tag table); returns its number. */
  internTag(name: string): number {
    let tag = this.tagNumbers.get(name);
    if (tag === undefined) {
      tag = this.freeTags.pop() ?? this.tagNames.length;
      this.tagNames[tag] = name;
      this.tagLists[tag] = new BookmarkList(this, new OrdList());
      this.tagPublic[tag] = 0;
      this.tagNumbers.set(name, tag);
    }
    return tag;
  }

  /** The stored hash of a live bookmark's URL key (for snapshots). */
  urlHashAt(ord: number): number {
    return this.byUrl.hashAt(ord);
  }

  /** Adds a comment (posted, or from a snapshot: by bookmark in ord order, oldest first, then restoreLatestOrder). */
  addComment(ord: number, comment: Comment): void {
    const list = this.commentsByOrd.get(ord);
    if (list) list.push(comment);
    else this.commentsByOrd.set(ord, [comment]);
    this.commentsById.set(comment.id, comment);
    this.commentCount += 1;
    this.latest.push(comment);
    if (this.latest.length > LATEST_COMMENTS_MAX * 2) this.latest = this.latest.slice(-LATEST_COMMENTS_MAX);
  }

  /** After a snapshot is read: its comments came by bookmark, the latest are by time. */
  restoreLatestOrder(): void {
    this.latest.sort((a, b) => a.insertedAt - b.insertedAt || a.id - b.id);
    this.latest = this.latest.slice(-LATEST_COMMENTS_MAX);
  }

  /** The newest comments still there (their bookmark, author and they themselves not deleted), newest first. */
  latestComments(limit: number): Comment[] {
    const shown: Comment[] = [];
    for (let index = this.latest.length - 1; index >= 0 && shown.length < limit; index -= 1) {
      const comment = this.latest[index]!;
      const ord = this.ordsById.get(comment.bookmarkId);
      if (ord !== 0 && this.usersById.get(comment.user.id) === comment.user && this.commentsByOrd.get(ord)?.includes(comment)) shown.push(comment);
    }
    return shown;
  }

  /** Adds an invitation read from a snapshot. */
  restoreInvite(invite: Invite): void {
    this.ids.observe(invite.id);
    this.invitesByHash.set(invite.hash, invite);
  }

  /**
   * Suspends or reinstates a user: their bookmarks leave (or rejoin) every public list and tag
   * count, since those hold only listed bookmarks (public, owner not suspended). Each bookmark is
   * unindexed under the old flag and indexed again under the new one.
   */
  private setSuspended(user: User, suspended: boolean): void {
    if (user.suspended === suspended) return;
    const ords = [...user.bookmarks.ords.view()];
    for (const ord of ords) this.unindexTagsAndVisibility(ord);
    user.suspended = suspended;
    for (const ord of ords) this.indexTagsAndVisibility(ord);
  }

  /** Every comment, by bookmark in ord order, oldest first. */
  *allComments(): IterableIterator<Comment> {
    const ords = [...this.commentsByOrd.keys()].sort((a, b) => a - b);
    for (const ord of ords) yield* this.commentsByOrd.get(ord)!;
  }

  /** Takes one comment out of its bookmark's discussion; one that is gone already (with its bookmark or author) changes nothing. */
  private deleteComment(id: CommentId, bookmarkId: BookmarkId): void {
    const comment = this.commentsById.get(id);
    if (comment === undefined || comment.bookmarkId !== bookmarkId) return;
    const ord = this.ordsById.get(bookmarkId);
    const comments = this.commentsByOrd.get(ord)!;
    comments.splice(comments.lastIndexOf(comment), 1);
    if (comments.length === 0) this.commentsByOrd.delete(ord);
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
    for (const ord of [...user.bookmarks.ords.view()]) this.deleteBookmark(ord, ts);
    for (const [ord, comments] of [...this.commentsByOrd]) {
      if (!comments.some((comment) => comment.user === user)) continue;
      const kept = comments.filter((comment) => comment.user !== user);
      for (const comment of comments) if (comment.user === user) this.commentsById.delete(comment.id);
      this.commentCount -= comments.length - kept.length;
      if (kept.length > 0) this.commentsByOrd.set(ord, kept);
      else this.commentsByOrd.delete(ord);
    }
    this.usersById.delete(id);
    this.usersByName.delete(user.username);
    this.usersBySlot[user.slot] = undefined;
    this.freeUserSlots.push(user.slot);
  }

  private createBookmark(payload: Extract<LoggedEvent, { type: "bookmark.created" }>["payload"], ts: number): void {
    const user = this.usersById.get(payload.user_id);
    this.ids.observe(payload.id);
    // The account was erased (user.deleted) while this was in flight: the bookmark never exists.
    if (user === undefined) return;
    const ord = this.nextOrd;
    if (!this.ordsById.add(payload.id, ord)) assert(false, `bookmark ${payload.id} created twice`);
    this.nextOrd += 1;
    const columns = this.columns;
    columns.ensure(ord + 1);
    columns.id[ord] = payload.id;
    columns.user[ord] = user.slot;
    columns.insertedAt[ord] = payload.inserted_at ?? ts;
    columns.updatedAt[ord] = ts;
    // Never checked: the checker counts from the save (an imported bookmark's old date would make every import due at once).
    columns.linkCheckedAtS[ord] = secondsOf(ts);
    columns.flags[ord] = FLAG_LIVE | (payload.public ? FLAG_PUBLIC : 0) | (payload.unread === true ? FLAG_UNREAD : 0);
    columns.setText(ord, payload.url, payload.title, payload.description, payload.notes ?? "");
    columns.setTags(ord, this.internTags(payload.tags));
    user.bookmarks.ords.insert(ord);
    user.bookmarksChangedAt = ts;
    this.byUrl.add(ord, payload.url);
    this.indexTagsAndVisibility(ord);
  }

  private updateBookmark(payload: Extract<LoggedEvent, { type: "bookmark.updated" }>["payload"], ts: number): void {
    const ord = this.ordsById.get(payload.id);
    if (ord === 0) return;
    const columns = this.columns;
    const oldTags = columns.tagNumbers(ord).slice();
    this.unindexTagsAndVisibility(ord);
    const url = columns.url(ord);
    const title = columns.title(ord);
    const description = columns.description(ord);
    const notes = columns.notes(ord);
    const urlChanged = payload.url !== undefined && payload.url !== url;
    if (urlChanged) this.byUrl.remove(ord);
    const textChanged = (payload.title !== undefined && payload.title !== title) || (payload.description !== undefined && payload.description !== description) || (payload.notes !== undefined && payload.notes !== notes);
    if (urlChanged || textChanged) {
      columns.arena.deadBytes += columns.recordBytes(ord);
      columns.setText(ord, payload.url ?? url, payload.title ?? title, payload.description ?? description, payload.notes ?? notes);
    }
    if (urlChanged) {
      this.byUrl.add(ord, payload.url!);
      // What the checker and the title fetch found was about the old address.
      this.links.forget(payload.id);
      columns.linkCheckedAtS[ord] = secondsOf(ts);
    }
    if (payload.tags !== undefined) {
      const tags = this.internTags(payload.tags);
      columns.tagPoolDead += columns.tagCount[ord]!;
      columns.setTags(ord, tags);
    }
    let flags = columns.flags[ord]!;
    if (payload.unread !== undefined) flags = payload.unread ? flags | FLAG_UNREAD : flags & ~FLAG_UNREAD;
    if (payload.public !== undefined) flags = payload.public ? flags | FLAG_PUBLIC : flags & ~FLAG_PUBLIC;
    columns.flags[ord] = flags;
    columns.updatedAt[ord] = ts;
    this.userAt(ord).bookmarksChangedAt = ts;
    this.indexTagsAndVisibility(ord);
    this.freeUnusedTags(oldTags);
  }

  private deleteBookmark(ord: number, ts: number): void {
    if (ord === 0) return;
    const columns = this.columns;
    const user = this.userAt(ord);
    user.bookmarksChangedAt = ts;
    this.unindexTagsAndVisibility(ord);
    this.freeUnusedTags(columns.tagNumbers(ord));
    this.byUrl.remove(ord);
    user.bookmarks.ords.remove(ord);
    this.links.forget(columns.id[ord] as BookmarkId);
    this.ordsById.delete(columns.id[ord]!);
    for (const comment of this.commentsByOrd.get(ord) ?? []) this.commentsById.delete(comment.id);
    this.commentCount -= this.commentsByOrd.get(ord)?.length ?? 0;
    this.commentsByOrd.delete(ord);
    columns.release(ord);
    columns.flags[ord] = 0;
    columns.id[ord] = 0;
  }

  /** Tag names to numbers, in the given order (new names interned). */
  private internTags(names: readonly string[]): number[] {
    const tags = new Array<number>(names.length);
    for (let index = 0; index < names.length; index += 1) tags[index] = this.internTag(names[index]!);
    return tags;
  }

  /** Public and its owner not suspended: on the public lists and in the public tag counts. */
  private listedAt(ord: number): boolean {
    return (this.columns.flags[ord]! & FLAG_PUBLIC) !== 0 && !this.userAt(ord).suspended;
  }

  private indexTagsAndVisibility(ord: number): void {
    const columns = this.columns;
    const isPublic = this.listedAt(ord);
    const end = columns.tagStart[ord]! + columns.tagCount[ord]!;
    for (let index = columns.tagStart[ord]!; index < end; index += 1) {
      const tag = columns.tagPool[index]!;
      this.tagLists[tag]!.ords.insert(ord);
      if (isPublic) this.tagPublic[tag]! += 1;
    }
    if (isPublic) this.publicBookmarks.ords.insert(ord);
    this.sortedTagCounts = null;
  }

  private unindexTagsAndVisibility(ord: number): void {
    const isPublic = this.listedAt(ord);
    for (const tag of this.columns.tagNumbers(ord)) {
      this.tagLists[tag]!.ords.remove(ord);
      if (isPublic) this.tagPublic[tag]! -= 1;
    }
    if (isPublic) this.publicBookmarks.ords.remove(ord);
    this.sortedTagCounts = null;
  }

  /** Frees the numbers of these tags that no bookmark carries any more (their names are forgotten). */
  private freeUnusedTags(tags: ArrayLike<number>): void {
    for (let index = 0; index < tags.length; index += 1) {
      const tag = tags[index]!;
      const list = this.tagLists[tag];
      if (list === null || list === undefined || list.length > 0) continue;
      this.tagNumbers.delete(this.tagNames[tag]!);
      this.tagNames[tag] = "";
      this.tagLists[tag] = null;
      this.freeTags.push(tag);
    }
  }

  // ---- reads -------------------------------------------------------------------------------

  get bookmarkCount(): number {
    return this.ordsById.size;
  }

  /** The ord of a live bookmark's id, or 0. */
  ordOf(id: number): number {
    return this.ordsById.get(id);
  }

  /** The live ords, ascending. */
  *liveOrds(): IterableIterator<number> {
    for (let ord = 1; ord < this.nextOrd; ord += 1) if (this.columns.isLive(ord)) yield ord;
  }

  isLive(ord: number): boolean {
    return this.columns.isLive(ord);
  }

  /** When the live bookmark at `ord` had its link last checked, or was saved with this URL if not since (ms since 1970, to the second). */
  linkCheckedAt(ord: number): number {
    return this.columns.linkCheckedAtS[ord]! * 1000;
  }

  /** The live bookmark at `ord`, read now (callers check isLive or take the ord from a list). */
  bookmarkAt(ord: number): Bookmark {
    const columns = this.columns;
    const flags = columns.flags[ord]!;
    assert((flags & FLAG_LIVE) !== 0, () => `no bookmark at ord ${ord}`);
    const chunk = columns.arena.chunks[columns.chunk[ord]!]!;
    const start = columns.offset[ord]!;
    const titleStart = start + columns.urlLength[ord]!;
    const descriptionStart = titleStart + columns.titleLength[ord]!;
    const notesStart = descriptionStart + columns.descriptionLength[ord]!;
    const end = notesStart + columns.notesLength[ord]!;
    const encoding = (flags & FLAG_UTF16) === 0 ? "utf8" : "utf16le";
    const tagStart = columns.tagStart[ord]!;
    const tags = new Array<string>(columns.tagCount[ord]!);
    for (let index = 0; index < tags.length; index += 1) tags[index] = this.tagNames[columns.tagPool[tagStart + index]!]!;
    return {
      id: columns.id[ord]! as BookmarkId,
      ord,
      user: this.userAt(ord),
      url: start === titleStart ? "" : chunk.toString(encoding, start, titleStart),
      title: titleStart === descriptionStart ? "" : chunk.toString(encoding, titleStart, descriptionStart),
      description: descriptionStart === notesStart ? "" : chunk.toString(encoding, descriptionStart, notesStart),
      notes: notesStart === end ? "" : chunk.toString(encoding, notesStart, end),
      public: (flags & FLAG_PUBLIC) !== 0,
      tags,
      unread: (flags & FLAG_UNREAD) !== 0,
      insertedAt: columns.insertedAt[ord]!,
      updatedAt: columns.updatedAt[ord]!,
      comments: this.commentsByOrd.get(ord) ?? null,
    };
  }

  /** The bookmarks with these ords, in that order. */
  bookmarksAt(ords: readonly number[]): Bookmark[] {
    return ords.map((ord) => this.bookmarkAt(ord));
  }

  private userAt(ord: number): User {
    return this.usersBySlot[this.columns.user[ord]!]!;
  }

  /** Whether `viewer` may see the bookmark at `ord` (listed: public and its owner not suspended; or theirs). */
  visibleAt(ord: number, viewer: User | null): boolean {
    return this.listedAt(ord) || (viewer !== null && this.columns.user[ord] === viewer.slot);
  }

  /** The token with this hash if it is still valid at `now` (not revoked, not expired, its user not suspended). */
  activeToken(hash: string, now: number = Date.now()): Token | undefined {
    const token = this.tokensByHash.get(hash);
    return token !== undefined && (token.expiresAt === null || token.expiresAt > now) && !token.user.suspended ? token : undefined;
  }

  userByName(name: string): User | undefined {
    return this.usersByName.get(name.toLowerCase());
  }

  /** The bookmark if `viewer` may see it; someone else's private bookmark is as good as absent. */
  visibleBookmark(id: number, viewer: User | null): Bookmark | undefined {
    const ord = this.ordsById.get(id);
    return ord !== 0 && this.visibleAt(ord, viewer) ? this.bookmarkAt(ord) : undefined;
  }

  /** Everyone's bookmarks of this URL (by its duplicate key, urlKey), oldest first. */
  bookmarksOfUrl(url: string): Bookmark[] {
    return this.bookmarksAt(this.byUrl.get(url));
  }

  /** The URL index's keys with their bookmarks' ords, oldest first (for audits). */
  urlIndexEntries(): IterableIterator<[string, number[]]> {
    return this.byUrl[Symbol.iterator]();
  }

  get urlIndexSize(): number {
    return this.byUrl.size;
  }

  /**
   * The user's bookmark of this URL (by its duplicate key, urlKey: `https://www.example.com/#top`
   * finds `https://example.com`), if they saved it; `except` is passed over (a bookmark whose URL
   * is being changed is no duplicate of itself). The oldest when a log from before keys holds several.
   */
  savedBy(user: User, url: string, except?: Bookmark): Bookmark | undefined {
    const ord = this.byUrl.get(url).find((candidate) => this.columns.user[candidate] === user.slot && candidate !== except?.ord);
    return ord === undefined ? undefined : this.bookmarkAt(ord);
  }

  /** The list of a tag's bookmarks, undefined when no bookmark has the tag. */
  tagged(name: string): BookmarkList | undefined {
    const tag = this.tagNumbers.get(name);
    return tag === undefined ? undefined : this.tagLists[tag]!;
  }

  /** Every tag in use (any bookmark, public or not). */
  tagNamesInUse(): string[] {
    return [...this.tagNumbers.keys()];
  }

  /** How many public bookmarks carry the tag. */
  publicCountOf(name: string): number {
    const tag = this.tagNumbers.get(name);
    return tag === undefined ? 0 : this.tagPublic[tag]!;
  }

  /**
   * Newest-first bookmarks matching every given filter that the viewer may see. Walks the
   * shortest candidate list (URL, user, rarest tag, or all public) and filters the rest.
   */
  bookmarks(query: BookmarkQuery): Page<Bookmark> {
    const { viewer, tags = [], user, unread, broken } = query;
    const tagNumbers: number[] = [];
    for (const name of tags) {
      const tag = this.tagNumbers.get(name);
      if (tag === undefined) return { items: [], nextCursor: null };
      tagNumbers.push(tag);
    }
    const columns = this.columns;
    const keep = (ord: number): boolean =>
      this.visibleAt(ord, viewer) &&
      (user === undefined || columns.user[ord] === user.slot) &&
      (unread === undefined || ((columns.flags[ord]! & FLAG_UNREAD) !== 0) === unread) &&
      (broken === undefined || this.links.isBroken(columns.id[ord] as BookmarkId) === broken) &&
      tagNumbers.every((tag) => columns.hasTag(ord, tag));
    const beforeOrd = query.beforeOrd ?? Number.MAX_SAFE_INTEGER;
    let page: { ords: number[]; more: boolean };
    if (query.url !== undefined) {
      // The candidates are exactly the bookmarks of that URL's key.
      const candidates = new OrdList();
      for (const ord of this.byUrl.get(query.url)) candidates.insert(ord);
      page = candidates.page(beforeOrd, query.limit, keep);
    } else {
      let shortest: OrdList | null = user ? user.bookmarks.ords : null;
      for (const tag of tagNumbers) {
        const list = this.tagLists[tag]!.ords;
        if (!shortest || list.length < shortest.length) shortest = list;
      }
      page = (shortest ?? this.publicBookmarks.ords).page(beforeOrd, query.limit, keep);
    }
    const last = page.ords[page.ords.length - 1];
    return { items: this.bookmarksAt(page.ords), nextCursor: page.more && last !== undefined ? encodeCursor(last) : null };
  }

  /** Up to `count` distinct public bookmarks picked at random. */
  randomPublic(count: number, random: () => number = Math.random): Bookmark[] {
    const ords = this.publicBookmarks.ords;
    if (count >= ords.length) return this.bookmarksAt(shuffle([...ords.view()], random));
    const picked = new Set<number>();
    while (picked.size < count) picked.add(Math.floor(random() * ords.length));
    return [...picked].map((index) => this.bookmarkAt(ords.at(index)));
  }

  /** Public tag counts, most used first (ties by name); cached until a tag changes. */
  publicTagCounts(): TagCount[] {
    if (this.sortedTagCounts === null) {
      const counts: TagCount[] = [];
      for (const [name, tag] of this.tagNumbers) if (this.tagPublic[tag]! > 0) counts.push({ tag: name, count: this.tagPublic[tag]! });
      this.sortedTagCounts = counts.sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : 1));
    }
    return this.sortedTagCounts;
  }

  /** One user's tag counts as the viewer may see them. */
  userTagCounts(user: User, viewer: User | null): TagCount[] {
    const counts = new Map<number, number>();
    for (const ord of user.bookmarks.ords.view()) {
      if (!this.visibleAt(ord, viewer)) continue;
      for (const tag of this.columns.tagNumbers(ord)) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    }
    return [...counts].map(([tag, count]) => ({ tag: this.tagNames[tag]!, count })).sort((a, b) => b.count - a.count || (a.tag < b.tag ? -1 : 1));
  }

  /** How many other people saved the same URL, counting only what the viewer may see. */
  othersSaved(bookmark: Bookmark, viewer: User | null): number {
    let count = 0;
    for (const ord of this.byUrl.get(bookmark.url)) if (ord !== bookmark.ord && this.visibleAt(ord, viewer)) count += 1;
    return count;
  }

  /** Newest first, at most `limit` (the discussion shows the last 100), only those `viewer` may read (commentShown). */
  recentComments(bookmark: Bookmark, limit: number, viewer: User | null): Comment[] {
    const comments = (this.commentsByOrd.get(bookmark.ord) ?? []).filter((comment) => commentShown(viewer, comment));
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

/** A time in ms as whole seconds (rounded down, so a link falls due a little early, never late). */
function secondsOf(ms: number): number {
  return Math.floor(ms / 1000);
}
