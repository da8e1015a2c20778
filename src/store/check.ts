// Store self-checks: a canonical snapshot (to compare live and replayed stores) and an index audit.
import { assert } from "../assert.ts";
import type { Bookmark, Store } from "./store.ts";
import { urlKey } from "./url-key.ts";

const ids = (bookmarks: readonly Bookmark[]) => bookmarks.map((bookmark) => bookmark.id);

/** Everything a read can observe, in a canonical plain form: equal snapshots answer every query alike. */
export function snapshot(store: Store): unknown {
  const bookmarks = [...store.bookmarksById.values()].sort((a, b) => a.ord - b.ord);
  return {
    users: [...store.usersById.values()].map((user) => [user.id, user.username, user.passwordHash, user.role, user.insertedAt, user.bookmarksChangedAt, ids(user.bookmarks.items)]),
    tokens: [...store.tokensById.values()].map((token) => [token.id, token.user.id, token.hash, token.kind, token.name, token.createdAt, token.expiresAt]),
    bookmarks: bookmarks.map((b) => [b.id, b.ord, b.user.id, b.url, b.title, b.description, b.public, b.unread, b.tags, b.insertedAt, b.updatedAt, (b.comments ?? []).map((c) => [c.id, c.user.id, c.body, c.insertedAt])]),
    publicBookmarks: ids(store.publicBookmarks.items),
    tags: [...store.tags.values()].map((entry) => [entry.name, entry.publicCount, ids(entry.all.items)]).sort(),
    byUrl: [...store.byUrl].map(([key, list]) => [key, ids(list).sort()]).sort(),
    commentCount: store.commentCount,
    lastSeq: store.lastSeq,
  };
}

/** Recomputes every index from the bookmarks themselves and asserts the incremental ones agree. */
export function checkIndexes(store: Store): void {
  const all = [...store.bookmarksById.values()].sort((a, b) => a.ord - b.ord);
  const same = (actual: readonly Bookmark[], expected: readonly Bookmark[], what: string) =>
    assert(actual.length === expected.length && actual.every((bookmark, index) => bookmark === expected[index]), `${what} index differs from a rebuild`);
  same(store.publicBookmarks.items, all.filter((b) => b.public), "public");
  for (const user of store.usersById.values()) same(user.bookmarks.items, all.filter((b) => b.user === user), `user ${user.username}`);
  const tagNames = new Set(all.flatMap((b) => b.tags));
  assert(tagNames.size === store.tags.size, `tag index has ${store.tags.size} tags, bookmarks carry ${tagNames.size}`);
  for (const name of tagNames) {
    const entry = store.tags.get(name);
    assert(entry !== undefined, `tag ${name} missing from the index`);
    const tagged = all.filter((b) => b.tags.includes(name));
    same(entry.all.items, tagged, `tag ${name}`);
    assert(entry.publicCount === tagged.filter((b) => b.public).length, `public count of tag ${name}`);
  }
  let urlEntries = 0;
  for (const [key, list] of store.byUrl) {
    urlEntries += list.length;
    assert(list.every((b) => urlKey(b.url) === key && store.bookmarksById.get(b.id) === b), `url index of ${key}`);
  }
  assert(urlEntries === all.length && store.byUrl.size === all.length, "url index size");
  assert(store.commentCount === all.reduce((sum, b) => sum + (b.comments?.length ?? 0), 0), "comment count");
  assert(store.commentsById.size === store.commentCount, "comment index size");
  for (const b of all) for (const comment of b.comments ?? []) assert(store.commentsById.get(comment.id) === comment && comment.bookmark === b, `comment ${comment.id} by id`);
  for (const token of store.tokensById.values()) assert(store.tokensByHash.get(token.hash) === token, `token ${token.id} by hash`);
  assert(store.tokensByHash.size === store.tokensById.size, "token maps agree");
}
