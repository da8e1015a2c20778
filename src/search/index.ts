// The full-text search index: word → ords, kept in step with the store by following committed events.
import { assert } from "../assert.ts";
import { HttpError } from "../errors.ts";
import type { LoggedEvent } from "../events.ts";
import { encodeCursor, type Bookmark, type BookmarkList, type Page, type Store, type User } from "../store/store.ts";
import { postingAt, postingsAdd, postingsCount, postingsHas, postingsLowerBound, postingsRemove, type Postings } from "./postings.ts";
import { parseQuery, type Term } from "./query.ts";
import { Vocabulary } from "./vocabulary.ts";
import { distinctWords, eachBookmarkWord, fieldWords, urlHost, words } from "./tokens.ts";
import { guarded } from "../guard.ts";

export interface SearchRequest {
  query: string | Term[];
  viewer: User | null;
  /** Extra filters of the JSON API (tag=, user=), ANDed with the query. */
  tags?: readonly string[];
  user?: User;
  /** Only bookmarks marked (true) or not marked (false) "to read". */
  unread?: boolean;
  beforeOrd?: number;
  limit: number;
}

/** Bookmarks indexed per event-loop turn by the start-up build. */
const BUILD_SLICE_BOOKMARKS = 5000;

/** A bookmark and its words as they were before an event changed them. */
interface Indexed {
  bookmark: Bookmark;
  words: Set<string>;
}

/** Candidates, newest first, with a cheap size estimate to pick the smallest. */
interface Source {
  size: number;
  /** Visits the ords below `beforeOrd`, descending, until `visit` returns false (a plain loop: no generator per candidate). */
  walk(beforeOrd: number, visit: (ord: number) => boolean): void;
}

/**
 * Posting lists hold ords (a bookmark's position in creation order), so every list is already
 * newest-last and a page is a walk down from the cursor. A query walks its rarest term's list
 * and checks each candidate against every other term: exact words by binary search in their
 * lists, phrases, prefixes, sites and exclusions against the bookmark's own text. Deleted and
 * edited bookmarks leave no stale entries: the words a bookmark had are read before each event
 * applies (beforeApply) and diffed with the words it has after.
 */
export class SearchIndex {
  private readonly postings = new Map<string, Postings>();
  /** 1 at the ords of the bookmarks indexed (0 for deleted ones and those the build has not reached). */
  private indexed = new Uint8Array(1024);
  /** Every indexed word in order, for prefix lookups; sorted when the first prefix query comes. */
  private readonly vocabulary: Vocabulary;
  private vocabularySorted = false;
  private building: { indexed: number; total: number; stopped: boolean } | null = null;
  private ready = false;

  constructor(
    private readonly store: Store,
    options: { vocabularyTailWords?: number } = {},
  ) {
    this.vocabulary = new Vocabulary((word) => this.postings.has(word), options.vocabularyTailWords);
  }

  /**
   * Indexes the bookmarks already in the store (after replay), BUILD_SLICE_BOOKMARKS at a time,
   * yielding to the event loop between slices so a big store does not hold up start-up; a store
   * of one slice or less is indexed before this returns. Events that commit meanwhile are
   * followed as usual: a bookmark created meanwhile is indexed by its event and again by the
   * build, which changes nothing the second time; an edit or delete of one the build has not
   * reached yet is skipped (the build reads its current text or never sees it). Until the build
   * is done, search answers 503.
   */
  async build(): Promise<void> {
    assert(this.building === null, "search index built twice");
    this.building = { indexed: 0, total: this.store.bookmarksById.size, stopped: false };
    const progress = this.building;
    let slice = 0;
    for (const bookmark of this.store.bookmarksById.values()) {
      if (progress.stopped) return;
      if (!this.isIndexed(bookmark.ord)) this.add(bookmark);
      progress.indexed += 1;
      slice += 1;
      if (slice === BUILD_SLICE_BOOKMARKS) {
        slice = 0;
        await new Promise<void>((resolve) => setImmediate(guarded("search index build", resolve)));
      }
    }
    this.ready = true;
  }

  /** Stops a build in progress (the server is closing). */
  stop(): void {
    if (this.building) this.building.stopped = true;
  }

  /** How far the start-up build got (for the status page and the 503). */
  get buildProgress(): { indexed: number; total: number; ready: boolean } {
    return { indexed: this.building?.indexed ?? 0, total: this.building?.total ?? 0, ready: this.ready };
  }

  get wordCount(): number {
    return this.postings.size;
  }

  // ---- following the log (an Observer in main.ts) ----------------------------------------------

  beforeApply(event: LoggedEvent): Indexed | Indexed[] | null {
    if (event.type === "user.deleted") {
      const user = this.store.usersById.get(event.payload.id);
      return user ? [...user.bookmarks.values()].map((bookmark) => ({ bookmark, words: distinctWords(bookmark) })) : null;
    }
    if (event.type !== "bookmark.updated" && event.type !== "bookmark.deleted") return null;
    const bookmark = this.store.bookmarksById.get(event.payload.id);
    return bookmark ? { bookmark, words: distinctWords(bookmark) } : null;
  }

  afterApply(event: LoggedEvent, before: Indexed | Indexed[] | null): void {
    if (event.type === "user.deleted") {
      for (const gone of (before as Indexed[] | null) ?? []) this.remove(gone);
      return;
    }
    const indexed = before as Indexed | null;
    switch (event.type) {
      case "bookmark.created": {
        const bookmark = this.store.bookmarksById.get(event.payload.id);
        // Absent when its account was erased while it was in flight (Store.apply).
        if (bookmark !== undefined) this.add(bookmark);
        return;
      }
      case "bookmark.updated":
        if (indexed) this.update(indexed);
        return;
      case "bookmark.deleted":
        if (indexed) this.remove(indexed);
        return;
      default:
        return;
    }
  }

  /** A new bookmark has the largest ord yet, so a repeated word is seen at the end of its list. */
  private add(bookmark: Bookmark): void {
    if (bookmark.ord >= this.indexed.length) {
      const grown = new Uint8Array(Math.max(bookmark.ord + 1, this.indexed.length * 2));
      grown.set(this.indexed);
      this.indexed = grown;
    }
    this.indexed[bookmark.ord] = 1;
    eachBookmarkWord(bookmark, (word) => this.addWord(word, bookmark.ord));
  }

  /** The bookmark as the store has it now; its old words came from beforeApply. */
  private update({ bookmark, words: before }: Indexed): void {
    if (!this.isIndexed(bookmark.ord)) return;
    const after = distinctWords(this.store.bookmarkAt(bookmark.ord));
    for (const word of before) if (!after.has(word)) this.removeWord(word, bookmark.ord);
    for (const word of after) if (!before.has(word)) this.addWord(word, bookmark.ord);
  }

  private remove({ bookmark, words: before }: Indexed): void {
    if (!this.isIndexed(bookmark.ord)) return;
    this.indexed[bookmark.ord] = 0;
    for (const word of before) this.removeWord(word, bookmark.ord);
  }

  private isIndexed(ord: number): boolean {
    return ord < this.indexed.length && this.indexed[ord] === 1;
  }

  private addWord(word: string, ord: number): void {
    const list = this.postings.get(word);
    const updated = postingsAdd(list, ord);
    if (updated === list) return;
    this.postings.set(word, updated);
    if (list === undefined && this.vocabularySorted) this.vocabulary.add(word);
  }

  private removeWord(word: string, ord: number): void {
    const list = this.postings.get(word);
    if (list === undefined) return;
    const updated = postingsRemove(list, ord);
    if (updated === list) return;
    if (updated !== undefined) {
      this.postings.set(word, updated);
      return;
    }
    this.postings.delete(word);
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** Newest first, only what the viewer may see, `limit` at a time with an ord cursor. */
  search(request: SearchRequest): Page<Bookmark> {
    if (!this.ready) {
      const { indexed, total } = this.buildProgress;
      throw new HttpError(503, `search is starting up: ${indexed.toLocaleString("en")} of ${total.toLocaleString("en")} bookmarks indexed; try again in a few seconds`, {}, { "Retry-After": "2" });
    }
    const terms = typeof request.query === "string" ? parseQuery(request.query) : [...request.query];
    for (const tag of request.tags ?? []) terms.push({ kind: "tag", tag, negated: false });
    if (request.user) terms.push({ kind: "user", username: request.user.username, negated: false });
    // "#" or "!!!" (someone mid-typing): nothing searchable yet, so nothing rather than everything.
    const nothingSearchable = typeof request.query === "string" && request.query.trim() !== "" && terms.length === 0;
    if (nothingSearchable || contradicts(terms)) return { items: [], nextCursor: null };
    const driver = this.smallestSource(terms, request.viewer);
    if (!driver) return { items: [], nextCursor: null };
    const { source } = driver;
    // The walked list is exactly the set its term stands for (unless it is a phrase or site
    // list, a superset), so that term need not be checked again.
    const exact = driver.term !== null && (driver.term.kind !== "phrase" && driver.term.kind !== "site");
    const checks = terms.filter((term) => !(exact && term === driver.term)).map((term) => this.check(term));
    if (request.unread !== undefined) checks.push((bookmark) => bookmark.unread === request.unread);
    const items: Bookmark[] = [];
    let more = false;
    source.walk(request.beforeOrd ?? Number.MAX_SAFE_INTEGER, (ord) => {
      if (!this.isIndexed(ord) || !this.store.visibleAt(ord, request.viewer)) return true;
      const bookmark = this.store.bookmarkAt(ord);
      for (const check of checks) if (!check(bookmark)) return true;
      if (items.length === request.limit) {
        more = true;
        return false;
      }
      items.push(bookmark);
      return true;
    });
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeCursor(last.ord) : null };
  }

  /** The smallest candidate list among the positive terms; null when one of them matches nothing. */
  private smallestSource(terms: readonly Term[], viewer: User | null): { source: Source; term: Term | null } | null {
    let best: { source: Source; term: Term | null } = { source: viewer ? this.everything() : orderedSource(this.store.publicBookmarks), term: null };
    for (const term of terms) {
      if (term.negated) continue;
      const source = this.source(term);
      if (!source || source.size === 0) return null;
      if (source.size < best.source.size) best = { source, term };
    }
    return best;
  }

  private source(term: Term): Source | null {
    switch (term.kind) {
      case "word":
        return term.prefix ? this.prefixSource(term.word) : this.wordSource(term.word);
      case "phrase": {
        const exact = term.prefix ? term.words.slice(0, -1) : term.words;
        return rarest(exact.map((word) => this.wordSource(word)));
      }
      case "tag": {
        const list = this.store.tagged(term.tag);
        return list ? orderedSource(list) : null;
      }
      case "user": {
        const user = this.store.userByName(term.username);
        return user ? orderedSource(user.bookmarks) : null;
      }
      case "site":
        return rarest(words(term.host).map((word) => this.wordSource(word)));
    }
  }

  private wordSource(word: string): Source | null {
    const list = this.postings.get(word);
    return list === undefined ? null : postingsSource(list);
  }

  private prefixSource(prefix: string): Source | null {
    if (!this.vocabularySorted) {
      this.vocabulary.reset(this.postings.keys());
      this.vocabularySorted = true;
    }
    const lists = this.vocabulary.withPrefix(prefix).map((word) => this.postings.get(word)!);
    if (lists.length === 0) return null;
    if (lists.length === 1) return postingsSource(lists[0]!);
    return unionSource(lists);
  }

  private everything(): Source {
    const indexed = this.indexed;
    return {
      size: this.store.bookmarksById.size,
      walk(beforeOrd, visit) {
        for (let ord = Math.min(beforeOrd, indexed.length) - 1; ord > 0; ord -= 1) if (indexed[ord] === 1 && !visit(ord)) return;
      },
    };
  }

  /** A predicate for one term (negations included), evaluated against each candidate. */
  private check(term: Term): (bookmark: Bookmark) => boolean {
    const positive = this.positiveCheck(term);
    return term.negated ? (bookmark) => !positive(bookmark) : positive;
  }

  private positiveCheck(term: Term): (bookmark: Bookmark) => boolean {
    switch (term.kind) {
      case "word": {
        if (term.prefix) return (bookmark) => fieldWords(bookmark).some((field) => field.some((word) => word.startsWith(term.word)));
        const list = this.postings.get(term.word);
        return (bookmark) => list !== undefined && postingsHas(list, bookmark.ord);
      }
      case "phrase": {
        // Every exact word must be indexed for the bookmark before its text is worth reading.
        const lists = (term.prefix ? term.words.slice(0, -1) : term.words).map((word) => this.postings.get(word));
        return (bookmark) =>
          lists.every((list) => list !== undefined && postingsHas(list, bookmark.ord)) &&
          fieldWords(bookmark).some((field) => containsRun(field, term.words, term.prefix));
      }
      case "tag":
        return (bookmark) => bookmark.tags.includes(term.tag);
      case "user":
        return (bookmark) => bookmark.user.username === term.username;
      case "site":
        return (bookmark) => {
          const host = urlHost(bookmark.url);
          return host === term.host || host.endsWith(`.${term.host}`);
        };
    }
  }
}

/** `rust -rust`: a term and its own negation can match nothing (and would walk a whole list to learn it). */
function contradicts(terms: readonly Term[]): boolean {
  const identity = (term: Term) => JSON.stringify({ ...term, negated: false });
  const excluded = new Set(terms.filter((term) => term.negated).map(identity));
  return excluded.size > 0 && terms.some((term) => !term.negated && excluded.has(identity(term)));
}

/** True when `run` appears as consecutive words of `field` (its last word as a prefix if asked). */
function containsRun(field: readonly string[], run: readonly string[], prefix: boolean): boolean {
  const lastIndex = run.length - 1;
  for (let start = 0; start + run.length <= field.length; start += 1) {
    let index = 0;
    while (index < lastIndex && field[start + index] === run[index]) index += 1;
    if (index < lastIndex) continue;
    const word = field[start + lastIndex]!;
    if (prefix ? word.startsWith(run[lastIndex]!) : word === run[lastIndex]) return true;
  }
  return false;
}

function rarest(sources: (Source | null)[]): Source | null {
  let best: Source | null = null;
  for (const source of sources) {
    if (!source) return null;
    if (!best || source.size < best.size) best = source;
  }
  return best;
}

function postingsSource(list: Postings): Source {
  return {
    size: postingsCount(list),
    walk(beforeOrd, visit) {
      for (let index = postingsLowerBound(list, beforeOrd) - 1; index >= 0; index -= 1) if (!visit(postingAt(list, index))) return;
    },
  };
}

function orderedSource(list: BookmarkList): Source {
  return {
    size: list.length,
    walk(beforeOrd, visit) {
      const ords = list.ords;
      for (let index = ords.lowerBound(beforeOrd) - 1; index >= 0; index -= 1) if (!visit(ords.at(index))) return;
    },
  };
}

/** Several posting lists merged newest first without repeats (a binary max-heap of list heads). */
function unionSource(lists: readonly Postings[]): Source {
  let size = 0;
  for (const list of lists) size += postingsCount(list);
  return {
    size,
    walk(beforeOrd, visit) {
      const heads: { list: Postings; index: number }[] = [];
      for (const list of lists) {
        const index = postingsLowerBound(list, beforeOrd) - 1;
        if (index >= 0) heads.push({ list, index });
      }
      const value = (head: { list: Postings; index: number }) => postingAt(head.list, head.index);
      const heap = new MaxHeap(heads, (a, b) => value(a) - value(b));
      let previous = -1;
      while (heap.size > 0) {
        const head = heap.top();
        const ord = value(head);
        if (ord !== previous && !visit(ord)) return;
        previous = ord;
        head.index -= 1;
        if (head.index >= 0) heap.replaceTop(head);
        else heap.pop();
      }
    },
  };
}

class MaxHeap<T> {
  constructor(private readonly items: T[], private readonly compare: (a: T, b: T) => number) {
    for (let index = (items.length >>> 1) - 1; index >= 0; index -= 1) this.down(index);
  }

  get size(): number {
    return this.items.length;
  }

  top(): T {
    return this.items[0]!;
  }

  /** The top item changed (its key went down): restore the heap. */
  replaceTop(item: T): void {
    this.items[0] = item;
    this.down(0);
  }

  pop(): void {
    const last = this.items.pop()!;
    if (this.items.length > 0) this.replaceTop(last);
  }

  private down(start: number): void {
    const items = this.items;
    let index = start;
    for (;;) {
      const left = index * 2 + 1;
      const right = left + 1;
      let largest = index;
      if (left < items.length && this.compare(items[left]!, items[largest]!) > 0) largest = left;
      if (right < items.length && this.compare(items[right]!, items[largest]!) > 0) largest = right;
      if (largest === index) return;
      [items[index], items[largest]] = [items[largest]!, items[index]!];
      index = largest;
    }
  }
}
