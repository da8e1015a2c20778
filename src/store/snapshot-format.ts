// The store as a snapshot's body: lines of JSON records, written from a store and read back into an empty one.
import { assert } from "../assert.ts";
import type { BookmarkId, CommentId, Role, TokenId, TokenKind, UserId } from "../events.ts";
import type { Bookmark, Store, StoreCounters, User } from "./store.ts";

/**
 * The body is a run of lines, each one JSON array: a section letter, then up to
 * RECORDS_PER_LINE_MAX records of that section. Sections come in this order, each record an array
 * (fewer bytes to write and parse than objects):
 *   c  counters (one record, StoreCounters)
 *   u  users      [id, username, password_hash, inserted_at, bookmarks_changed_at, role]   (role absent in older snapshots: "member")
 *   t  tokens     [id, user_id, hash, kind, name, created_at, expires_at]   (creation order)
 *   b  bookmarks  [id, ord, user_id, url, title, description, public, unread, tags, inserted_at, updated_at]   (ord order)
 *   m  comments   [id, bookmark_id, user_id, body, inserted_at]   (by bookmark in ord order, oldest first)
 * Reading it into an empty store gives the store that wrote it: src/store/check.ts's snapshot()
 * of both is equal (test/snapshots.test.ts).
 */
export const RECORDS_PER_LINE_MAX = 512;

type UserRecord = [id: UserId, username: string, passwordHash: string, insertedAt: number, bookmarksChangedAt: number, role?: Role];
type TokenRecord = [id: TokenId, userId: UserId, hash: string, kind: TokenKind, name: string, createdAt: number, expiresAt: number | null];
type BookmarkRecord = [id: BookmarkId, ord: number, userId: UserId, url: string, title: string, description: string, isPublic: 0 | 1, unread: 0 | 1, tags: string[], insertedAt: number, updatedAt: number];
type CommentRecord = [id: CommentId, bookmarkId: BookmarkId, userId: UserId, body: string, insertedAt: number];

/** Hands `write` the body's lines (each without its newline), in order. */
export function writeStoreLines(store: Store, write: (line: string) => void): void {
  write(JSON.stringify(["c", store.counters()]));
  const section = <T>(letter: string, items: Iterable<T>, record: (item: T) => unknown) => {
    let records: unknown[] = [letter];
    for (const item of items) {
      records.push(record(item));
      if (records.length > RECORDS_PER_LINE_MAX) {
        write(JSON.stringify(records));
        records = [letter];
      }
    }
    if (records.length > 1) write(JSON.stringify(records));
  };
  section("u", store.usersById.values(), (user): UserRecord => [user.id, user.username, user.passwordHash, user.insertedAt, user.bookmarksChangedAt, user.role]);
  section("t", store.tokensById.values(), (token): TokenRecord => [token.id, token.user.id, token.hash, token.kind, token.name, token.createdAt, token.expiresAt]);
  // bookmarksById keeps insertion order, which is ord order: a bookmark's ord is given at creation.
  section("b", store.bookmarksById.values(), (b): BookmarkRecord => [b.id, b.ord, b.user.id, b.url, b.title, b.description, b.public ? 1 : 0, b.unread ? 1 : 0, b.tags, b.insertedAt, b.updatedAt]);
  section("m", commentsInOrder(store), (c): CommentRecord => [c.id, c.bookmark.id, c.user.id, c.body, c.insertedAt]);
}

function* commentsInOrder(store: Store): Generator<NonNullable<Bookmark["comments"]>[number]> {
  for (const bookmark of store.bookmarksById.values()) if (bookmark.comments !== null) yield* bookmark.comments;
}

/** Reads a body's lines (as written by writeStoreLines) into an empty store. */
export class StoreLineReader {
  private counters: StoreCounters | null = null;
  private lastOrd = 0;

  constructor(private readonly store: Store) {
    assert(store.eventsApplied === 0 && store.usersById.size === 0, "a snapshot is read into an empty store");
  }

  line(text: string): void {
    const records = JSON.parse(text) as unknown[];
    const letter = records[0];
    if (letter === "c") {
      this.counters = records[1] as StoreCounters;
      return;
    }
    const read = Object.hasOwn(this.readers, letter as string) ? this.readers[letter as "u"] as (record: unknown) => void : undefined;
    if (read === undefined) throw new Error(`snapshot line of unknown section ${JSON.stringify(letter)}`);
    for (let index = 1; index < records.length; index += 1) read(records[index]);
  }

  /** One record reader per section letter. */
  private readonly readers = {
    u: (record: UserRecord) => this.user(record),
    t: (record: TokenRecord) => this.token(record),
    b: (record: BookmarkRecord) => this.bookmark(record),
    m: (record: CommentRecord) => this.comment(record),
  };

  /** Ends reading: the counters go in last, as the fold had them. */
  finish(): void {
    if (this.counters === null) throw new Error("snapshot has no counters line");
    this.store.restoreCounters(this.counters);
    assert(this.store.bookmarksById.size === 0 || this.lastOrd < this.counters.nextOrd, "snapshot bookmark ord beyond its counter");
  }

  private userOf(id: UserId): User {
    const user = this.store.usersById.get(id);
    if (user === undefined) throw new Error(`snapshot record names unknown user ${id}`);
    return user;
  }

  private user([id, username, passwordHash, insertedAt, bookmarksChangedAt, role = "member"]: UserRecord): void {
    this.store.restoreUser({ id, username, passwordHash, role, insertedAt, bookmarksChangedAt });
  }

  private token([id, userId, hash, kind, name, createdAt, expiresAt]: TokenRecord): void {
    this.store.addToken({ id, user: this.userOf(userId), hash, kind, name, createdAt, expiresAt });
  }

  private bookmark([id, ord, userId, url, title, description, isPublic, unread, tags, insertedAt, updatedAt]: BookmarkRecord): void {
    if (ord <= this.lastOrd) throw new Error(`snapshot bookmark ${id} out of ord order`);
    this.lastOrd = ord;
    this.store.restoreBookmark({ id, ord, user: this.userOf(userId), url, title, description, public: isPublic === 1, unread: unread === 1, insertedAt, updatedAt }, tags);
  }

  private comment([id, bookmarkId, userId, body, insertedAt]: CommentRecord): void {
    const bookmark = this.store.bookmarksById.get(bookmarkId);
    if (bookmark === undefined) throw new Error(`snapshot comment ${id} on unknown bookmark ${bookmarkId}`);
    this.store.addComment({ id, bookmark, user: this.userOf(userId), body, insertedAt });
  }
}
