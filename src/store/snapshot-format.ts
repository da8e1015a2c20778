// The store as a snapshot's body: lines of JSON for the small sections, the bookmarks' columns as raw bytes.
import { assert } from "../assert.ts";
import type { BookmarkId, CommentId, InviteId, Role, SignupMode, TokenId, TokenKind, UserId } from "../events.ts";
import type { RestoredRows, Store, StoreCounters, User } from "./store.ts";
import type { LinkCheck } from "./link-health.ts";

/**
 * The body is a run of lines, each one JSON array (a section letter, then up to
 * RECORDS_PER_LINE_MAX records), except raw frames: a line `#<n>` followed by exactly n bytes
 * (and no newline). Sections come in this order:
 *   c  counters (one record, StoreCounters)
 *   s  settings   [signup_mode | null]   (one record; absent in snapshots from before moderation)
 *   u  users      [id, username, password_hash, inserted_at, bookmarks_changed_at, role, suspended]   (role and suspended absent before moderation: member, not suspended)
 *   i  invites    [id, hash, created_by, created_at]   (unused ones)
 *   t  tokens     [id, user_id, hash, kind, name, created_at, expires_at]   (creation order)
 *   g  tags       names of the tags in use; a bookmark's tag number is an index into them
 *   b  bookmarks  one record [count, tag_entries, text_bytes, columns_version], then one frame
 *                 per column (BOOKMARK_COLUMNS, each `count` values in ord order, native byte
 *                 order), a frame of `tag_entries` tag numbers and a frame of `text_bytes` of
 *                 text: each bookmark's URL, title, description and notes back to back, in ord
 *                 order. Columns version 1 (no fourth element: snapshots from before notes) has
 *                 no notesLength column and no notes in the text; they read as empty notes.
 *                 Versions 1 and 2 have no linkCheckedAtS column: the save time stands in.
 *   m  comments   [id, bookmark_id, user_id, body, inserted_at]   (by bookmark in ord order, oldest first)
 *   h  link troubles [bookmark_id, broken check | null, failed fetch check | null], a check being
 *      [status, final_url, error, at]   (only bookmarks with one; store/link-health.ts)
 * A bookmark's user is an index into the u section's order. Only live bookmarks, their text and
 * tags are written, so deleted ones leave nothing behind and the arena comes back compacted.
 * Reading it into an empty store gives the store that wrote it: src/store/check.ts's snapshot()
 * of both is equal (test/snapshots.test.ts).
 */
export const RECORDS_PER_LINE_MAX = 512;
/** Text is handed to the writer in pieces of about this size. */
const TEXT_PIECE_BYTES = 1 << 20;

const BOOKMARK_COLUMNS = [
  ["ord", Int32Array],
  ["id", Float64Array],
  ["user", Int32Array],
  ["insertedAt", Float64Array],
  ["updatedAt", Float64Array],
  ["flags", Uint8Array],
  ["urlLength", Uint32Array],
  ["titleLength", Uint32Array],
  ["descriptionLength", Uint32Array],
  ["notesLength", Uint16Array],
  ["urlHash", Int32Array],
  ["tagCount", Uint16Array],
  ["linkCheckedAtS", Uint32Array],
] as const;
type ColumnName = (typeof BOOKMARK_COLUMNS)[number][0];
/** The b section's columns version this build writes (see the format above). */
const COLUMNS_VERSION = 3;
/** The columns of each version this build reads. */
const COLUMNS_OF_VERSION: Record<number, readonly (typeof BOOKMARK_COLUMNS)[number][]> = {
  1: BOOKMARK_COLUMNS.filter(([name]) => name !== "notesLength" && name !== "linkCheckedAtS"),
  2: BOOKMARK_COLUMNS.filter(([name]) => name !== "linkCheckedAtS"),
  3: BOOKMARK_COLUMNS,
};
type Column = Int32Array | Float64Array | Uint8Array | Uint32Array | Uint16Array;
type RestoredColumns = Pick<RestoredRows, ColumnName>;

type UserRecord = [id: UserId, username: string, passwordHash: string, insertedAt: number, bookmarksChangedAt: number, role?: Role, suspended?: 0 | 1];
type SettingsRecord = [signupMode: SignupMode | null];
type InviteRecord = [id: InviteId, hash: string, createdBy: UserId | null, createdAt: number];
type TokenRecord = [id: TokenId, userId: UserId, hash: string, kind: TokenKind, name: string, createdAt: number, expiresAt: number | null];
type CommentRecord = [id: CommentId, bookmarkId: BookmarkId, userId: UserId, body: string, insertedAt: number];
type CheckRecord = [status: number | null, finalUrl: string | null, error: string | null, at: number];
type TroubleRecord = [bookmarkId: BookmarkId, broken: CheckRecord | null, fetchFailed: CheckRecord | null];

const checkRecord = (check: LinkCheck | null): CheckRecord | null => (check === null ? null : [check.status, check.finalUrl, check.error, check.at]);
const checkOf = (record: CheckRecord | null): LinkCheck | null => (record === null ? null : { status: record[0], finalUrl: record[1], error: record[2], at: record[3] });

export interface BodyWriter {
  /** A line (without its newline). */
  line(text: string): void;
  /** Raw bytes of the frame announced last (a frame may come in several pieces). */
  bytes(bytes: Uint8Array): void;
}

/** Hands `write` the body's lines and frames, in order. */
export function writeStoreBody(store: Store, write: BodyWriter): void {
  write.line(JSON.stringify(["c", store.counters()]));
  const section = <T>(letter: string, items: Iterable<T>, record: (item: T) => unknown) => {
    let records: unknown[] = [letter];
    for (const item of items) {
      records.push(record(item));
      if (records.length > RECORDS_PER_LINE_MAX) {
        write.line(JSON.stringify(records));
        records = [letter];
      }
    }
    if (records.length > 1) write.line(JSON.stringify(records));
  };
  section("s", [store.signupMode], (mode): SettingsRecord => [mode]);
  const userIndex = new Map<number, number>();
  section("u", store.usersById.values(), (user): UserRecord => {
    userIndex.set(user.slot, userIndex.size);
    return [user.id, user.username, user.passwordHash, user.insertedAt, user.bookmarksChangedAt, user.role, user.suspended ? 1 : 0];
  });
  section("i", store.invitesByHash.values(), (invite): InviteRecord => [invite.id, invite.hash, invite.createdBy, invite.createdAt]);
  section("t", store.tokensById.values(), (token): TokenRecord => [token.id, token.user.id, token.hash, token.kind, token.name, token.createdAt, token.expiresAt]);
  const tagIndex = new Map<number, number>();
  section("g", store.tagTable(), ([tag, name]) => {
    tagIndex.set(tag, tagIndex.size);
    return name;
  });
  writeBookmarkColumns(store, write, userIndex, tagIndex);
  section("m", store.allComments(), (c): CommentRecord => [c.id, c.bookmarkId, c.user.id, c.body, c.insertedAt]);
  section("h", store.links.entries(), ([id, trouble]): TroubleRecord => [id, checkRecord(trouble.broken), checkRecord(trouble.fetchFailed)]);
}

function writeBookmarkColumns(store: Store, write: BodyWriter, userIndex: ReadonlyMap<number, number>, tagIndex: ReadonlyMap<number, number>): void {
  const source = store.columns;
  const count = store.bookmarkCount;
  const out = Object.fromEntries(BOOKMARK_COLUMNS.map(([name, Type]) => [name, new Type(count)])) as Record<ColumnName, Column>;
  let tagEntries = 0;
  let textBytes = 0;
  let row = 0;
  for (const ord of store.liveOrds()) {
    out.ord[row] = ord;
    out.id[row] = source.id[ord]!;
    out.user[row] = userIndex.get(source.user[ord]!)!;
    out.insertedAt[row] = source.insertedAt[ord]!;
    out.updatedAt[row] = source.updatedAt[ord]!;
    out.flags[row] = source.flags[ord]!;
    out.urlLength[row] = source.urlLength[ord]!;
    out.titleLength[row] = source.titleLength[ord]!;
    out.descriptionLength[row] = source.descriptionLength[ord]!;
    out.notesLength[row] = source.notesLength[ord]!;
    out.urlHash[row] = store.urlHashAt(ord);
    out.tagCount[row] = source.tagCount[ord]!;
    out.linkCheckedAtS[row] = source.linkCheckedAtS[ord]!;
    tagEntries += source.tagCount[ord]!;
    textBytes += source.recordBytes(ord);
    row += 1;
  }
  assert(row === count, "live bookmarks counted alike");
  write.line(JSON.stringify(["b", count, tagEntries, textBytes, COLUMNS_VERSION]));
  const frame = (column: Column) => {
    write.line(`#${column.byteLength}`);
    write.bytes(new Uint8Array(column.buffer, column.byteOffset, column.byteLength));
  };
  for (const [name] of BOOKMARK_COLUMNS) frame(out[name]);
  const tags = new Uint32Array(tagEntries);
  let at = 0;
  for (let index = 0; index < count; index += 1) for (const tag of source.tagNumbers(out.ord[index]!)) tags[at++] = tagIndex.get(tag)!;
  frame(tags);
  write.line(`#${textBytes}`);
  const piece = Buffer.allocUnsafe(TEXT_PIECE_BYTES);
  let used = 0;
  for (let index = 0; index < count; index += 1) {
    const ord = out.ord[index]!;
    const record = source.arena.bytes(source.chunk[ord]!, source.offset[ord]!, source.recordBytes(ord));
    if (used + record.length > piece.length) {
      write.bytes(piece.subarray(0, used));
      used = 0;
    }
    if (record.length > piece.length) write.bytes(record);
    else used += record.copy(piece, used);
  }
  if (used > 0) write.bytes(piece.subarray(0, used));
}

/** The b section's record while its frames come in, and the frames read so far. */
interface BookmarkSection {
  count: number;
  tagEntries: number;
  textBytes: number;
  columns: readonly (typeof BOOKMARK_COLUMNS)[number][];
  frames: Uint8Array[];
}

/** Reads a body's lines and frames (as written by writeStoreBody) into an empty store. */
export class StoreBodyReader {
  private counters: StoreCounters | null = null;
  private readonly users: User[] = [];
  private readonly tags: number[] = [];
  private bookmarks: BookmarkSection | null = null;
  private bookmarksDone = false;

  constructor(private readonly store: Store) {
    assert(store.eventsApplied === 0 && store.usersById.size === 0, "a snapshot is read into an empty store");
  }

  line(text: string): void {
    const records = JSON.parse(text) as unknown[];
    const letter = records[0];
    if (letter === "c") {
      if (this.counters !== null) throw new Error("snapshot has two counters lines");
      this.counters = records[1] as StoreCounters;
      this.store.restoreCounters(this.counters);
      return;
    }
    if (this.counters === null) throw new Error("snapshot does not start with its counters");
    if (letter === "b") {
      if (this.bookmarks !== null || this.bookmarksDone) throw new Error("snapshot has two bookmark sections");
      const [, count, tagEntries, textBytes, version = 1] = records as [string, number, number, number, number?];
      const columns = COLUMNS_OF_VERSION[version];
      if (columns === undefined) throw new Error(`snapshot bookmark columns are version ${JSON.stringify(version)}; this build reads versions 1 to ${COLUMNS_VERSION}`);
      this.bookmarks = { count, tagEntries, textBytes, columns, frames: [] };
      return;
    }
    if (this.bookmarks !== null) throw new Error(`snapshot section ${JSON.stringify(letter)} inside the bookmark frames`);
    const read = Object.hasOwn(this.readers, letter as string) ? this.readers[letter as "u"] as (record: unknown) => void : undefined;
    if (read === undefined) throw new Error(`snapshot line of unknown section ${JSON.stringify(letter)}`);
    for (let index = 1; index < records.length; index += 1) read(records[index]);
  }

  /** A frame's bytes (only valid during this call: copied out). */
  frame(bytes: Uint8Array): void {
    const section = this.bookmarks;
    if (section === null) throw new Error("snapshot frame outside the bookmark section");
    section.frames.push(bytes);
    if (section.frames.length === section.columns.length + 2) {
      this.restoreBookmarks(section);
      this.bookmarks = null;
      this.bookmarksDone = true;
    }
  }

  /** One record reader per section letter. */
  private readonly readers = {
    s: ([mode]: SettingsRecord) => (this.store.signupMode = mode),
    u: (record: UserRecord) => this.user(record),
    i: ([id, hash, createdBy, createdAt]: InviteRecord) => this.store.restoreInvite({ id, hash, createdBy, createdAt }),
    t: (record: TokenRecord) => this.token(record),
    g: (name: string) => this.tags.push(this.store.internTag(name)),
    m: (record: CommentRecord) => this.comment(record),
    h: (record: TroubleRecord) => this.trouble(record),
  };

  /** Ends reading: checks the counters the sections must agree with. */
  finish(): void {
    if (this.counters === null) throw new Error("snapshot has no counters line");
    if (this.bookmarks !== null) throw new Error("snapshot ends inside its bookmark frames");
    const comments = this.store.commentCount;
    if (comments !== this.counters.commentCount) throw new Error(`snapshot holds ${comments} comments, its counters say ${this.counters.commentCount}`);
    this.store.restoreLatestOrder();
  }

  private restoreBookmarks(section: BookmarkSection): void {
    const { count, frames } = section;
    const columns = {} as Record<ColumnName, Column>;
    // A column the section's version lacks reads as zeros (notesLength before notes: empty notes).
    for (const [name, Type] of BOOKMARK_COLUMNS) columns[name] = new Type(count);
    section.columns.forEach(([name, Type], index) => {
      columns[name] = copyColumn(frames[index]!, Type, count, name);
    });
    const tags = copyColumn(frames[section.columns.length]!, Uint32Array, section.tagEntries, "tags") as Uint32Array<ArrayBuffer>;
    for (let index = 0; index < tags.length; index += 1) {
      const tag = this.tags[tags[index]!];
      if (tag === undefined) throw new Error(`snapshot names unknown tag ${tags[index]}`);
      tags[index] = tag;
    }
    const text = frames[section.columns.length + 1]!;
    if (text.length !== section.textBytes) throw new Error(`snapshot text is ${text.length} bytes, its section says ${section.textBytes}`);
    const chunk = this.store.columns.arena.adopt(Buffer.from(text));
    this.store.restoreRows({ ...(columns as RestoredColumns), count, users: this.users, tags, chunk, textBytes: text.length });
  }

  private userOf(id: UserId): User {
    const user = this.store.usersById.get(id);
    if (user === undefined) throw new Error(`snapshot record names unknown user ${id}`);
    return user;
  }

  private user([id, username, passwordHash, insertedAt, bookmarksChangedAt, role = "member", suspended = 0]: UserRecord): void {
    this.users.push(this.store.addUser({ id, username, passwordHash, insertedAt, bookmarksChangedAt, role, suspended: suspended === 1 }));
  }

  private token([id, userId, hash, kind, name, createdAt, expiresAt]: TokenRecord): void {
    this.store.addToken({ id, user: this.userOf(userId), hash, kind, name, createdAt, expiresAt });
  }

  private trouble([bookmarkId, broken, fetchFailed]: TroubleRecord): void {
    if (!this.store.bookmarksById.has(bookmarkId)) throw new Error(`snapshot link check of unknown bookmark ${bookmarkId}`);
    this.store.links.restore(bookmarkId, { broken: checkOf(broken), fetchFailed: checkOf(fetchFailed) });
  }

  private comment([id, bookmarkId, userId, body, insertedAt]: CommentRecord): void {
    const ord = this.store.ordOf(bookmarkId);
    if (ord === 0) throw new Error(`snapshot comment ${id} on unknown bookmark ${bookmarkId}`);
    this.store.addComment(ord, { id, bookmarkId, user: this.userOf(userId), body, insertedAt });
  }
}

/** A frame's bytes as a typed array of its own (aligned), checked for the expected length. */
function copyColumn(bytes: Uint8Array, Type: { new (length: number): Column; BYTES_PER_ELEMENT: number }, count: number, name: string): Column {
  if (bytes.length !== count * Type.BYTES_PER_ELEMENT) throw new Error(`snapshot column ${name} is ${bytes.length} bytes, not ${count * Type.BYTES_PER_ELEMENT}`);
  const column = new Type(count);
  new Uint8Array(column.buffer).set(bytes);
  return column;
}
