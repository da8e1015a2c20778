// UrlIndex: everyone's bookmarks of each URL (by its duplicate key, urlKey), oldest first, keyed by a hash of that key computed here.
import { assert } from "../assert.ts";
import { urlKey } from "./url-key.ts";

export interface HasUrl {
  readonly url: string;
}

/**
 * Every stored bookmark is added here once, so at start-up this index costs a map insert per
 * bookmark. A Map keyed by the URL strings themselves was the slowest step of replay: V8 compares
 * each colliding key by fetching that key's string from the heap, a cache miss apiece. Keyed by a
 * number the same map is about twice as fast. A slot holds one item (the common case, with no array
 * around it) or an array of every item whose URL hashes there, oldest first; reads filter by the URL
 * key itself, so a hash collision costs a comparison and never a wrong answer. The hash is seeded per
 * process so that nobody can choose URLs that all land in one slot.
 *
 * URLs are indexed by urlKey, so `https://example.com` finds `https://www.example.com/#top` too.
 * Keys are not kept (they would cost as much memory as the URLs): each is computed when an item is
 * added or removed, and on reads for the items of the slot whose URL is not the very string asked for.
 */
export class UrlIndex<T extends HasUrl> {
  private readonly slots = new Map<number, T | T[]>();
  private items = 0;

  /** `hash` (of a URL's key) must return integers in 0..2^30 - 1 (V8 keeps those unboxed); tests pass one that collides. */
  constructor(private readonly hash: (url: string) => number = seededUrlHash((Math.random() * 0x1_0000_0000) | 0)) {}

  /** How many items (not URLs) are indexed. */
  get size(): number {
    return this.items;
  }

  add(item: T): void {
    const hash = this.hash(urlKey(item.url));
    const slot = this.slots.get(hash);
    if (slot === undefined) this.slots.set(hash, item);
    else if (Array.isArray(slot)) slot.push(item);
    else this.slots.set(hash, [slot, item]);
    this.items += 1;
  }

  /** `item.url` must still be the URL it was added with. */
  remove(item: T): void {
    const hash = this.hash(urlKey(item.url));
    const slot = this.slots.get(hash);
    if (slot === item) {
      this.slots.delete(hash);
    } else {
      assert(Array.isArray(slot), () => `url ${item.url} is not indexed`);
      const index = slot.indexOf(item);
      assert(index >= 0, () => `an item of url ${item.url} is missing from its slot`);
      slot.splice(index, 1);
      if (slot.length === 1) this.slots.set(hash, slot[0]!);
    }
    this.items -= 1;
  }

  /** The items whose URL has this URL's key, oldest first, in a new array; undefined when there are none. */
  get(url: string): T[] | undefined {
    const key = urlKey(url);
    const slot = this.slots.get(this.hash(key));
    if (slot === undefined) return undefined;
    const same = (item: T) => item.url === url || urlKey(item.url) === key;
    if (!Array.isArray(slot)) return same(slot) ? [slot] : undefined;
    const found = slot.filter(same);
    return found.length > 0 ? found : undefined;
  }

  /** Each key with its items, oldest first (for audits and snapshots; keys in no particular order). */
  *[Symbol.iterator](): IterableIterator<[string, T[]]> {
    for (const slot of this.slots.values()) {
      if (!Array.isArray(slot)) {
        yield [urlKey(slot.url), [slot]];
        continue;
      }
      const byKey = new Map<string, T[]>();
      for (const item of slot) {
        const key = urlKey(item.url);
        const list = byKey.get(key);
        if (list) list.push(item);
        else byKey.set(key, [item]);
      }
      yield* byKey;
    }
  }
}

/**
 * FNV-1a over the UTF-16 code units from a seeded start, mixed at the end (MurmurHash3's
 * finalizer), cut to 30 bits so every key is a small integer V8 stores without a box.
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
