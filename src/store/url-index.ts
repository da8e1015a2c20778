// UrlIndex: everyone's bookmarks of each URL (by its duplicate key, urlKey), as hash chains of ords in typed arrays.
import { assert } from "../assert.ts";
import { urlKey } from "./url-key.ts";

const INITIAL_BUCKETS = 1024;

/**
 * Every stored bookmark is in here once, by ord: `hashOf[ord]` is the hash of its URL's key
 * (kept, and written to snapshots, so neither a rehash nor a snapshot load computes a key again),
 * `buckets[hash & mask]` the first ord of that bucket and `next[ord]` the one after it (0 ends a
 * chain). Nothing here is a JS object per bookmark. Reads compare the URL keys of a bucket's ords,
 * so a hash collision costs a comparison and never a wrong answer; the hash is seeded per data
 * (kept in snapshots) so that nobody can choose URLs that all land in one bucket.
 *
 * URLs are indexed by urlKey, so `https://example.com` finds `https://www.example.com/#top` too.
 */
export class UrlIndex {
  private buckets = new Int32Array(INITIAL_BUCKETS);
  private hashOf = new Int32Array(INITIAL_BUCKETS);
  private next = new Int32Array(INITIAL_BUCKETS);
  private items = 0;

  /**
   * `urlOf` gives an indexed ord's URL; `hash` (of a URL's key) must return integers in
   * 0..2^30 - 1 (tests pass one that collides).
   */
  constructor(
    private readonly urlOf: (ord: number) => string,
    readonly hash: (key: string) => number,
  ) {}

  /** How many ords (not URLs) are indexed. */
  get size(): number {
    return this.items;
  }

  /** The stored hash of an indexed ord's URL key (for snapshots). */
  hashAt(ord: number): number {
    return this.hashOf[ord]!;
  }

  add(ord: number, url: string): void {
    this.addHashed(ord, this.hash(urlKey(url)));
  }

  /** Adds an ord whose key hash is known (a snapshot load). */
  addHashed(ord: number, hash: number): void {
    if (ord >= this.hashOf.length) this.growOrds(ord + 1);
    if (this.items >= this.buckets.length) this.rehash(this.buckets.length * 2);
    this.hashOf[ord] = hash;
    const bucket = hash & (this.buckets.length - 1);
    this.next[ord] = this.buckets[bucket]!;
    this.buckets[bucket] = ord;
    this.items += 1;
  }

  remove(ord: number): void {
    const bucket = this.hashOf[ord]! & (this.buckets.length - 1);
    let previous = 0;
    let at = this.buckets[bucket]!;
    while (at !== 0 && at !== ord) {
      previous = at;
      at = this.next[at]!;
    }
    assert(at === ord, () => `ord ${ord} is not in the url index`);
    if (previous === 0) this.buckets[bucket] = this.next[ord]!;
    else this.next[previous] = this.next[ord]!;
    this.next[ord] = 0;
    this.hashOf[ord] = 0;
    this.items -= 1;
  }

  /** The ords whose URL has this URL's key, oldest first; an empty array when there are none. */
  get(url: string): number[] {
    const key = urlKey(url);
    const hash = this.hash(key);
    const found: number[] = [];
    for (let at = this.buckets[hash & (this.buckets.length - 1)]!; at !== 0; at = this.next[at]!) {
      if (this.hashOf[at] !== hash) continue;
      const other = this.urlOf(at);
      if (other === url || urlKey(other) === key) found.push(at);
    }
    return found.length > 1 ? found.sort((a, b) => a - b) : found;
  }

  /** Each key with its ords, oldest first (for audits; keys in no particular order). */
  *[Symbol.iterator](): IterableIterator<[string, number[]]> {
    const byKey = new Map<string, number[]>();
    for (let bucket = 0; bucket < this.buckets.length; bucket += 1) {
      for (let at = this.buckets[bucket]!; at !== 0; at = this.next[at]!) {
        const key = urlKey(this.urlOf(at));
        const list = byKey.get(key);
        if (list) list.push(at);
        else byKey.set(key, [at]);
      }
    }
    for (const [key, ords] of byKey) yield [key, ords.sort((a, b) => a - b)];
  }

  /** Sizes the index for ords below `ordLimit` and `items` entries at once (a snapshot load). */
  reserve(ordLimit: number, items: number): void {
    if (ordLimit > this.hashOf.length) this.growOrds(ordLimit);
    let buckets = this.buckets.length;
    while (buckets < items) buckets *= 2;
    if (buckets !== this.buckets.length) this.rehash(buckets);
  }

  private growOrds(needed: number): void {
    const capacity = Math.max(needed, this.hashOf.length * 2);
    const hashOf = new Int32Array(capacity);
    hashOf.set(this.hashOf);
    this.hashOf = hashOf;
    const next = new Int32Array(capacity);
    next.set(this.next);
    this.next = next;
  }

  private rehash(bucketCount: number): void {
    const old = this.buckets;
    this.buckets = new Int32Array(bucketCount);
    const mask = bucketCount - 1;
    for (let bucket = 0; bucket < old.length; bucket += 1) {
      for (let at = old[bucket]!; at !== 0; ) {
        const following = this.next[at]!;
        const target = this.hashOf[at]! & mask;
        this.next[at] = this.buckets[target]!;
        this.buckets[target] = at;
        at = following;
      }
    }
  }
}

/**
 * FNV-1a over the UTF-16 code units from a seeded start, mixed at the end (MurmurHash3's
 * finalizer), cut to 30 bits.
 */
export function seededUrlHash(seed: number): (url: string) => number {
  return (url) => {
    let hash = seed ^ url.length;
    for (let index = 0; index < url.length; index += 1) hash = Math.imul(hash ^ url.charCodeAt(index), 0x01000193);
    hash ^= hash >>> 15;
    hash = Math.imul(hash, 0x85ebca6b);
    return (hash ^ (hash >>> 13)) & 0x3fffffff;
  };
}
