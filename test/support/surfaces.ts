// The read surfaces the privacy tests walk: every answer that could carry a bookmark, its tags, its comments or its owner.

/** What the surfaces are asked about: one person, their bookmarks (ids and URLs) and the tags on them. */
export interface Subject {
  username: string;
  bookmarkIds: readonly number[];
  urls: readonly string[];
  tags: readonly string[];
}

/** The JSON API's reads: lists (by user, tag, URL), random picks, tag counts, each bookmark and its comments. */
export function apiSurfaces(subject: Subject): string[] {
  return [
    "/api/bookmarks", `/api/bookmarks?user=${subject.username}`,
    ...subject.tags.map((tag) => `/api/bookmarks?tag=${tag}`),
    ...subject.urls.map((url) => `/api/bookmarks?url=${encodeURIComponent(url)}`),
    "/api/bookmarks/random?n=100", "/api/scramble", "/api/tags", `/api/tags?user=${subject.username}`,
    ...subject.bookmarkIds.flatMap((id) => [`/api/bookmarks/${id}`, `/api/bookmarks/${id}/comments`]),
  ];
}

/** The pages and feeds: firehose, tag, person and bookmark pages, tag cloud, random picks, RSS and Atom. */
export function pageSurfaces(subject: Subject): string[] {
  return [
    "/", "/tags", "/scramble", "/discover", `/u/${subject.username}`, "/feeds/firehose.rss", "/feeds/firehose.atom", `/feeds/u/${subject.username}.atom`,
    ...subject.tags.flatMap((tag) => [`/t/${tag}`, `/feeds/t/${tag}.rss`]),
    ...subject.bookmarkIds.map((id) => `/b/${id}`),
  ];
}

/** Searches for each of `words`, as JSON and as the search page. */
export function searchSurfaces(words: readonly string[]): string[] {
  return words.flatMap((word) => [`/api/bookmarks?q=${encodeURIComponent(word)}`, `/search?q=${encodeURIComponent(word)}`]);
}
