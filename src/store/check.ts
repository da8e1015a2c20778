// Store self-checks: a canonical snapshot (to compare live and replayed stores) and an index audit.
import { assert } from "../assert.ts";
import { listed, type Bookmark, type BookmarkList, type Store } from "./store.ts";
import { urlKey } from "./url-key.ts";

const ids = (store: Store, ords: Iterable<number>) => [...ords].map((ord) => store.bookmarkAt(ord).id);
const listIds = (list: BookmarkList) => [...list.values()].map((bookmark) => bookmark.id);

/** Everything a read can observe, in a canonical plain form: equal snapshots answer every query alike. */
export function snapshot(store: Store): unknown {
  const bookmarks = [...store.bookmarksById.values()];
  return {
    users: [...store.usersById.values()].map((user) => [user.id, user.username, user.passwordHash, user.insertedAt, user.bookmarksChangedAt, user.role, user.suspended, listIds(user.bookmarks)]),
    invites: [...store.invitesByHash.values()].map((invite) => [invite.id, invite.hash, invite.createdBy, invite.createdAt]),
    signupMode: store.signupMode,
    tokens: [...store.tokensById.values()].map((token) => [token.id, token.user.id, token.hash, token.kind, token.name, token.createdAt, token.expiresAt]),
    bookmarks: bookmarks.map((b) => [b.id, b.ord, b.user.id, b.url, b.title, b.description, b.notes, b.public, b.unread, b.tags, b.insertedAt, b.updatedAt, store.linkCheckedAt(b.ord), (b.comments ?? []).map((c) => [c.id, c.user.id, c.body, c.insertedAt])]),
    publicBookmarks: listIds(store.publicBookmarks),
    tags: store.tagNamesInUse().map((name) => [name, store.publicCountOf(name), listIds(store.tagged(name)!)]).sort(),
    byUrl: [...store.urlIndexEntries()].map(([key, ords]) => [key, ids(store, ords).sort()]).sort(),
    commentCount: store.commentCount,
    links: [...store.links.entries()].sort(([a], [b]) => a - b),
    lastSeq: store.lastSeq,
  };
}

/** Recomputes every index from the bookmarks themselves and asserts the incremental ones agree. */
export function checkIndexes(store: Store): void {
  const all = [...store.bookmarksById.values()];
  const same = (actual: BookmarkList, expected: readonly Bookmark[], what: string) => {
    const listed = listIds(actual);
    assert(listed.length === expected.length && listed.every((id, index) => id === expected[index]!.id), `${what} index differs from a rebuild`);
  };
  same(store.publicBookmarks, all.filter(listed), "public");
  for (const user of store.usersById.values()) same(user.bookmarks, all.filter((b) => b.user === user), `user ${user.username}`);
  const tagNames = new Set(all.flatMap((b) => b.tags));
  const inUse = store.tagNamesInUse();
  assert(tagNames.size === inUse.length, `tag index has ${inUse.length} tags, bookmarks carry ${tagNames.size}`);
  for (const name of tagNames) {
    const list = store.tagged(name);
    assert(list !== undefined, `tag ${name} missing from the index`);
    const tagged = all.filter((b) => b.tags.includes(name));
    same(list, tagged, `tag ${name}`);
    assert(store.publicCountOf(name) === tagged.filter(listed).length, `public count of tag ${name}`);
  }
  let urlEntries = 0;
  for (const [key, ords] of store.urlIndexEntries()) {
    urlEntries += ords.length;
    assert(ords.every((ord) => store.isLive(ord) && urlKey(store.bookmarkAt(ord).url) === key), `url index of ${key}`);
  }
  assert(urlEntries === all.length && store.urlIndexSize === all.length, "url index size");
  for (const bookmark of all) assert(store.bookmarksById.get(bookmark.id)?.ord === bookmark.ord, `bookmark ${bookmark.id} by id`);
  assert(store.commentCount === all.reduce((sum, b) => sum + (b.comments?.length ?? 0), 0), "comment count");
  assert(store.commentsById.size === store.commentCount, "comment index size");
  for (const b of all) for (const comment of b.comments ?? []) assert(store.commentsById.get(comment.id) === comment && comment.bookmarkId === b.id, `comment ${comment.id} by id`);
  for (const token of store.tokensById.values()) assert(store.tokensByHash.get(token.hash) === token, `token ${token.id} by hash`);
  assert(store.tokensByHash.size === store.tokensById.size, "token maps agree");
}
