// One Postgres flush batch: the net relational change of a run of events, written in one transaction.
import type { JSONValue, TransactionSql } from "postgres";
import { assert } from "../assert.ts";
import type { BookmarkFields, LoggedEvent } from "../events.ts";

/** Timestamps travel as ISO strings: exact to the millisecond, parsed by Postgres as timestamptz. */
type Iso = string;

interface UserRow { id: number; username: string; password_hash: string; inserted_at: Iso }
interface PasswordRow { id: number; password_hash: string }
interface TokenRow { id: number; user_id: number; hash: string; kind: string; name: string; inserted_at: Iso; expires_at: Iso | null }
interface BookmarkRow { id: number; user_id: number; url: string; title: string; description: string; notes: string; public: boolean; unread: boolean; inserted_at: Iso; updated_at: Iso }
/** Fields an update changed; absent ones stay as they are. */
type BookmarkPatch = { id: number; updated_at: Iso } & Partial<Omit<BookmarkFields, "tags">>;
interface TagPairRow { bookmark_id: number; name: string; position: number }
interface CommentRow { id: number; bookmark_id: number; user_id: number; body: string; inserted_at: Iso }
/** A user's moderation state as a run of events left it (only the fields it changed). */
interface ModerationRow { id: number; role?: string; suspended?: boolean }
interface InviteRow { id: number; hash: string; created_by: number | null; inserted_at: Iso }

/** What a run of events changes in the relational tables, net: each row once, in its final state. */
export interface RelationalChanges {
  users: UserRow[];
  passwords: PasswordRow[];
  tokens: TokenRow[];
  revokedTokens: number[];
  /** Bookmarks created in this run and still there at its end. */
  bookmarks: BookmarkRow[];
  /** Bookmarks from earlier runs that this run updated (a no-op for ones already gone). */
  bookmarkPatches: BookmarkPatch[];
  /** Bookmarks whose tag list this run set, with their final list. */
  tagListIds: number[];
  tagPairs: TagPairRow[];
  comments: CommentRow[];
  /** Comments from earlier runs that this run deleted, with the bookmark the event named (a no-op for ones already gone, or not on it). */
  deletedComments: { id: number; bookmark_id: number }[];
  deletedBookmarks: number[];
  /** Accounts erased: their rows go, and with them (ON DELETE CASCADE) their tokens, bookmarks and comments. */
  deletedUsers: number[];
  /** Role and suspension changes of users, net. */
  moderation: ModerationRow[];
  /** The sign-up mode as last switched in this run (null: not switched), and when. */
  signup: { value: string; updated_at: Iso } | null;
  invites: InviteRow[];
  /** Invitations of earlier runs spent in this one. */
  usedInvites: number[];
}

const iso = (ms: number): Iso => new Date(ms).toISOString();

/** The changed fields of an update, without `id`, `tags` and absent ones. */
function changedFields(payload: Extract<LoggedEvent, { type: "bookmark.updated" }>["payload"]): Partial<Omit<BookmarkFields, "tags">> {
  const fields: Partial<Omit<BookmarkFields, "tags">> = {};
  if (payload.url !== undefined) fields.url = payload.url;
  if (payload.title !== undefined) fields.title = payload.title;
  if (payload.description !== undefined) fields.description = payload.description;
  if (payload.notes !== undefined) fields.notes = payload.notes;
  if (payload.public !== undefined) fields.public = payload.public;
  if (payload.unread !== undefined) fields.unread = payload.unread;
  return fields;
}

/**
 * Folds events (in seq order) into their net relational change, so a batch of thousands of events
 * becomes a dozen statements. Written in the order of `writeChanges`, the result is the same as
 * applying the events one by one, with the store's rules: an update or comment whose bookmark is
 * gone changes nothing, a delete takes the bookmark's tags and comments with it.
 */
export function foldEvents(events: readonly LoggedEvent[]): RelationalChanges {
  const users = new Map<number, UserRow>();
  const passwords = new Map<number, string>();
  const tokens = new Map<number, TokenRow>();
  const revoked = new Set<number>();
  const created = new Map<number, BookmarkRow>();
  const patches = new Map<number, BookmarkPatch>();
  const tagLists = new Map<number, readonly string[]>();
  const deleted = new Set<number>();
  const comments = new Map<number, CommentRow>();
  const deletedComments: { id: number; bookmark_id: number }[] = [];
  const deletedUsers = new Set<number>();
  const moderation = new Map<number, ModerationRow>();
  const moderate = (id: number, change: Omit<ModerationRow, "id">) => moderation.set(id, { ...moderation.get(id), ...change, id });
  let signup: RelationalChanges["signup"] = null;
  const invites = new Map<number, InviteRow>();
  const usedInvites = new Set<number>();
  for (const event of events) {
    const at = iso(event.ts);
    switch (event.type) {
      case "user.registered": {
        const { id, username, password_hash } = event.payload;
        users.set(id, { id, username, password_hash, inserted_at: at });
        break;
      }
      case "user.password_changed": {
        const user = users.get(event.payload.id);
        if (user) user.password_hash = event.payload.password_hash;
        else passwords.set(event.payload.id, event.payload.password_hash);
        break;
      }
      case "token.created": {
        const { id, user_id, hash, kind, name, expires_at } = event.payload;
        tokens.set(id, { id, user_id, hash, kind, name, inserted_at: at, expires_at: expires_at === null ? null : iso(expires_at) });
        break;
      }
      case "token.revoked":
        if (!tokens.delete(event.payload.id)) revoked.add(event.payload.id);
        break;
      case "bookmark.created": {
        const { id, user_id, url, title, description, tags } = event.payload;
        // An imported bookmark carries its own date (inserted_at), as in the store.
        const insertedAt = event.payload.inserted_at === undefined ? at : iso(event.payload.inserted_at);
        created.set(id, { id, user_id, url, title, description, notes: event.payload.notes ?? "", public: event.payload.public, unread: event.payload.unread === true, inserted_at: insertedAt, updated_at: at });
        tagLists.set(id, tags);
        break;
      }
      case "bookmark.updated": {
        const { id, tags } = event.payload;
        if (deleted.has(id)) break;
        const fields = changedFields(event.payload);
        const row = created.get(id);
        if (row) Object.assign(row, fields, { updated_at: at });
        else patches.set(id, { ...patches.get(id), ...fields, id, updated_at: at });
        if (tags !== undefined) tagLists.set(id, tags);
        break;
      }
      case "bookmark.deleted": {
        const { id } = event.payload;
        created.delete(id);
        patches.delete(id);
        tagLists.delete(id);
        deleted.add(id);
        break;
      }
      case "comment.posted": {
        const { id, bookmark_id, user_id, body } = event.payload;
        comments.set(id, { id, bookmark_id, user_id, body, inserted_at: at });
        break;
      }
      case "comment.deleted": {
        // As in the store: a deletion naming another bookmark than the comment's changes nothing.
        const { id, bookmark_id } = event.payload;
        const posted = comments.get(id);
        if (posted === undefined) deletedComments.push({ id, bookmark_id });
        else if (posted.bookmark_id === bookmark_id) comments.delete(id);
        break;
      }
      // Link checks live in the events table alone (erased with the log behind a snapshot).
      case "link.checked":
        break;
      case "user.deleted": {
        const { id } = event.payload;
        users.delete(id);
        passwords.delete(id);
        moderation.delete(id);
        deletedUsers.add(id);
        for (const [tokenId, token] of tokens) if (token.user_id === id) tokens.delete(tokenId);
        for (const [bookmarkId, row] of created) {
          if (row.user_id !== id) continue;
          created.delete(bookmarkId);
          tagLists.delete(bookmarkId);
        }
        break;
      }
      case "user.role_changed":
        moderate(event.payload.id, { role: event.payload.role });
        break;
      case "user.suspended":
      case "user.unsuspended":
        moderate(event.payload.id, { suspended: event.type === "user.suspended" });
        break;
      case "signup.changed":
        signup = { value: event.payload.mode, updated_at: at };
        break;
      case "invite.created": {
        const { id, hash, created_by } = event.payload;
        invites.set(id, { id, hash, created_by, inserted_at: at });
        break;
      }
      case "invite.used":
        if (!invites.delete(event.payload.id)) usedInvites.add(event.payload.id);
        break;
      default: {
        const unexpected: never = event;
        assert(false, `flush met an unknown event ${JSON.stringify(unexpected)}`);
      }
    }
  }
  return {
    users: [...users.values()],
    passwords: [...passwords].map(([id, password_hash]) => ({ id, password_hash })),
    tokens: [...tokens.values()],
    revokedTokens: [...revoked],
    bookmarks: [...created.values()],
    bookmarkPatches: [...patches.values()],
    tagListIds: [...tagLists.keys()],
    tagPairs: [...tagLists].flatMap(([bookmark_id, names]) => names.map((name, position) => ({ bookmark_id, name, position }))),
    comments: [...comments.values()].filter((comment) => !deleted.has(comment.bookmark_id) && !deletedUsers.has(comment.user_id)),
    deletedComments,
    deletedBookmarks: [...deleted],
    deletedUsers: [...deletedUsers],
    moderation: [...moderation.values()],
    signup,
    invites: [...invites.values()],
    usedInvites: [...usedInvites],
  };
}

type Tx = TransactionSql;

const json = (tx: Tx, rows: readonly (object | string)[]) => tx.json(postgresText(rows) as unknown as JSONValue);

/** In JSON.stringify's output, an escaped NUL or surrogate: it escapes only lone surrogates, never pairs. */
const POSTGRES_UNFIT = /\\u(?:0000|d[89a-f])/i;

/**
 * Postgres text and jsonb hold neither NUL nor a lone surrogate, which a log written before the
 * input checks (text.ts) may: rather than stall the flush for ever, such characters go to
 * Postgres as U+FFFD (the local log keeps them as they were). A false alarm (a literal
 * backslash-u in some text) only costs the slower path, which changes nothing then.
 */
function postgresText<T>(rows: T): T {
  const text = JSON.stringify(rows);
  if (!POSTGRES_UNFIT.test(text)) return rows;
  return JSON.parse(text, (_key, value: unknown) => (typeof value === "string" ? value.toWellFormed().replaceAll("\u0000", "\uFFFD") : value)) as T;
}

/**
 * Writes the net change in dependency order: users and tokens, new bookmarks, updates, tag pairs,
 * comments, then deletes of comments, bookmarks and users (cascading to their tag pairs and comments), and finally the tags no
 * bookmark carries any more. Empty parts send nothing.
 */
export async function writeChanges(tx: Tx, changes: RelationalChanges): Promise<void> {
  if (changes.users.length > 0) {
    await tx`INSERT INTO users (id, username, password_hash, inserted_at)
      SELECT id, username, password_hash, inserted_at
      FROM jsonb_to_recordset(${json(tx, changes.users)}) AS x(id bigint, username text, password_hash text, inserted_at timestamptz)
      ON CONFLICT (id) DO NOTHING`;
  }
  if (changes.passwords.length > 0) {
    await tx`UPDATE users SET password_hash = x.password_hash
      FROM jsonb_to_recordset(${json(tx, changes.passwords)}) AS x(id bigint, password_hash text)
      WHERE users.id = x.id`;
  }
  if (changes.moderation.length > 0) {
    await tx`UPDATE users SET role = coalesce(x.role, users.role), suspended = coalesce(x.suspended, users.suspended)
      FROM jsonb_to_recordset(${json(tx, changes.moderation)}) AS x(id bigint, role text, suspended boolean)
      WHERE users.id = x.id`;
  }
  if (changes.signup !== null) {
    await tx`INSERT INTO settings (name, value, updated_at) VALUES ('signup', ${changes.signup.value}, ${changes.signup.updated_at})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;
  }
  if (changes.invites.length > 0) {
    await tx`INSERT INTO invites (id, hash, created_by, inserted_at)
      SELECT x.id, x.hash, x.created_by, x.inserted_at
      FROM jsonb_to_recordset(${json(tx, changes.invites)}) AS x(id bigint, hash text, created_by bigint, inserted_at timestamptz)
      WHERE x.created_by IS NULL OR EXISTS (SELECT 1 FROM users WHERE users.id = x.created_by)
      ON CONFLICT (id) DO NOTHING`;
  }
  if (changes.usedInvites.length > 0) {
    await tx`DELETE FROM invites WHERE id = ANY(${changes.usedInvites}::bigint[])`;
  }
  if (changes.tokens.length > 0) {
    await tx`INSERT INTO tokens (id, user_id, hash, kind, name, inserted_at, expires_at)
      SELECT id, user_id, hash, kind, name, inserted_at, expires_at
      FROM jsonb_to_recordset(${json(tx, changes.tokens)}) AS x(id bigint, user_id bigint, hash text, kind text, name text, inserted_at timestamptz, expires_at timestamptz)
      ON CONFLICT (id) DO NOTHING`;
  }
  if (changes.revokedTokens.length > 0) {
    await tx`DELETE FROM tokens WHERE id = ANY(${changes.revokedTokens}::bigint[])`;
  }
  if (changes.bookmarks.length > 0) {
    await tx`INSERT INTO bookmarks (id, user_id, url, title, description, notes, public, unread, inserted_at, updated_at)
      SELECT id, user_id, url, title, description, notes, public, unread, inserted_at, updated_at
      FROM jsonb_to_recordset(${json(tx, changes.bookmarks)})
        AS x(id bigint, user_id bigint, url text, title text, description text, notes text, public boolean, unread boolean, inserted_at timestamptz, updated_at timestamptz)
      ON CONFLICT (id) DO NOTHING`;
  }
  if (changes.bookmarkPatches.length > 0) {
    await tx`UPDATE bookmarks SET
        url = coalesce(x.url, bookmarks.url),
        title = coalesce(x.title, bookmarks.title),
        description = coalesce(x.description, bookmarks.description),
        notes = coalesce(x.notes, bookmarks.notes),
        public = coalesce(x.public, bookmarks.public),
        unread = coalesce(x.unread, bookmarks.unread),
        updated_at = x.updated_at
      FROM jsonb_to_recordset(${json(tx, changes.bookmarkPatches)})
        AS x(id bigint, url text, title text, description text, notes text, public boolean, unread boolean, updated_at timestamptz)
      WHERE bookmarks.id = x.id`;
  }
  const retagged = [...changes.tagListIds, ...changes.deletedBookmarks];
  let untaggedTagIds: string[] = [];
  if (retagged.length > 0) {
    const removed = await tx<{ tag_id: string }[]>`DELETE FROM bookmark_tags WHERE bookmark_id = ANY(${retagged}::bigint[]) RETURNING tag_id`;
    untaggedTagIds = [...new Set(removed.map((row) => row.tag_id))];
  }
  if (changes.deletedUsers.length > 0) {
    const removed = await tx<{ tag_id: string }[]>`DELETE FROM bookmark_tags
      WHERE bookmark_id IN (SELECT id FROM bookmarks WHERE user_id = ANY(${changes.deletedUsers}::bigint[])) RETURNING tag_id`;
    untaggedTagIds = [...new Set([...untaggedTagIds, ...removed.map((row) => row.tag_id)])];
  }
  if (changes.tagPairs.length > 0) {
    const pairs = json(tx, changes.tagPairs);
    // Only for bookmarks that exist: an update that lost the race with a delete adds no tag.
    await tx`INSERT INTO tags (name)
      SELECT DISTINCT x.name FROM jsonb_to_recordset(${pairs}) AS x(bookmark_id bigint, name text)
      WHERE EXISTS (SELECT 1 FROM bookmarks WHERE bookmarks.id = x.bookmark_id)
      ORDER BY x.name
      ON CONFLICT (name) DO NOTHING`;
    await tx`INSERT INTO bookmark_tags (bookmark_id, tag_id, position)
      SELECT x.bookmark_id, tags.id, x.position
      FROM jsonb_to_recordset(${pairs}) AS x(bookmark_id bigint, name text, position smallint)
      JOIN tags ON tags.name = x.name
      JOIN bookmarks ON bookmarks.id = x.bookmark_id`;
  }
  if (changes.comments.length > 0) {
    await tx`INSERT INTO comments (id, bookmark_id, user_id, body, inserted_at)
      SELECT x.id, x.bookmark_id, x.user_id, x.body, x.inserted_at
      FROM jsonb_to_recordset(${json(tx, changes.comments)}) AS x(id bigint, bookmark_id bigint, user_id bigint, body text, inserted_at timestamptz)
      WHERE EXISTS (SELECT 1 FROM bookmarks WHERE bookmarks.id = x.bookmark_id)
        AND EXISTS (SELECT 1 FROM users WHERE users.id = x.user_id)
      ON CONFLICT (id) DO NOTHING`;
  }
  if (changes.deletedComments.length > 0) {
    await tx`DELETE FROM comments USING jsonb_to_recordset(${json(tx, changes.deletedComments)}) AS x(id bigint, bookmark_id bigint)
      WHERE comments.id = x.id AND comments.bookmark_id = x.bookmark_id`;
  }
  if (changes.deletedBookmarks.length > 0) {
    await tx`DELETE FROM bookmarks WHERE id = ANY(${changes.deletedBookmarks}::bigint[])`;
  }
  if (changes.deletedUsers.length > 0) {
    await tx`DELETE FROM users WHERE id = ANY(${changes.deletedUsers}::bigint[])`;
  }
  if (untaggedTagIds.length > 0) {
    await tx`DELETE FROM tags WHERE id = ANY(${untaggedTagIds}::bigint[])
      AND NOT EXISTS (SELECT 1 FROM bookmark_tags WHERE bookmark_tags.tag_id = tags.id)`;
  }
}

/**
 * Flushes one ordered run of this node's events in one transaction: the events (a (node, seq)
 * already there is skipped), the relational change of only the events that were new, and the
 * node's flush position. Re-flushing any range, after a crash or with the position lost, is
 * therefore a no-op for what is already there. Returns how many events were new.
 */
export async function flushBatch(tx: Tx, nodeId: number, events: readonly LoggedEvent[]): Promise<number> {
  const last = events[events.length - 1];
  assert(last !== undefined, "a flush batch has events");
  const rows = events.map((event) => {
    assert(event.node === nodeId, `event ${event.seq} of node ${event.node} in node ${nodeId}'s log`);
    return { node: event.node, seq: event.seq, type: event.type, v: event.v, ts: iso(event.ts), payload: event.payload };
  });
  const inserted = await tx<{ seq: string }[]>`INSERT INTO events (node, seq, type, v, ts, payload)
    SELECT node, seq, type, v, ts, payload
    FROM jsonb_to_recordset(${json(tx, rows)}) AS x(node integer, seq bigint, type text, v integer, ts timestamptz, payload jsonb)
    ON CONFLICT (node, seq) DO NOTHING
    RETURNING seq`;
  const fresh = new Set(inserted.map((row) => Number(row.seq)));
  if (fresh.size > 0) await writeChanges(tx, foldEvents(fresh.size === events.length ? events : events.filter((event) => fresh.has(event.seq))));
  await tx`INSERT INTO flush_positions (node, seq) VALUES (${nodeId}, ${last.seq})
    ON CONFLICT (node) DO UPDATE SET seq = greatest(flush_positions.seq, excluded.seq), flushed_at = now()`;
  return fresh.size;
}
