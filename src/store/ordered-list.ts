// OrdList: a growable sorted Int32Array of ords (creation order), read newest first with an ord cursor.
import { assert } from "../assert.ts";

const INITIAL_CAPACITY = 4;

/**
 * Ords ascending in one typed array: the collector sees a single object per list however long it
 * is (a JS array of a million bookmarks was a million references to trace). The common insert is
 * an append (a new bookmark has the largest ord yet); an insert in the middle (a bookmark made
 * public again) and a remove shift the tail with copyWithin.
 */
export class OrdList {
  private ords = new Int32Array(INITIAL_CAPACITY);
  private count = 0;

  get length(): number {
    return this.count;
  }

  /** The ord at `index` (0 = oldest). */
  at(index: number): number {
    return this.ords[index]!;
  }

  /** The ords oldest first, as a view that is valid until the list next changes. */
  view(): Int32Array {
    return this.ords.subarray(0, this.count);
  }

  /** Index of the first ord >= `ord` (binary search). */
  lowerBound(ord: number): number {
    const ords = this.ords;
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (ords[middle]! < ord) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  has(ord: number): boolean {
    const index = this.lowerBound(ord);
    return index < this.count && this.ords[index] === ord;
  }

  insert(ord: number): void {
    if (this.count === this.ords.length) this.grow(this.count + 1);
    if (this.count === 0 || this.ords[this.count - 1]! < ord) {
      this.ords[this.count++] = ord;
      return;
    }
    const index = this.lowerBound(ord);
    assert(this.ords[index] !== ord, () => `ord ${ord} inserted twice`);
    this.ords.copyWithin(index + 1, index, this.count);
    this.ords[index] = ord;
    this.count += 1;
  }

  remove(ord: number): void {
    const index = this.lowerBound(ord);
    assert(index < this.count && this.ords[index] === ord, () => `ord ${ord} removed but not present`);
    this.ords.copyWithin(index, index + 1, this.count);
    this.count -= 1;
    if (this.count > INITIAL_CAPACITY && this.count * 4 < this.ords.length) this.ords = this.ords.slice(0, this.count * 2);
  }

  /** Makes room for `capacity` ords at least (a snapshot load sizes each list once). */
  grow(capacity: number): void {
    if (capacity <= this.ords.length) return;
    const next = new Int32Array(Math.max(capacity, this.ords.length + (this.ords.length >> 1) + INITIAL_CAPACITY));
    next.set(this.ords.subarray(0, this.count));
    this.ords = next;
  }

  /**
   * Newest first: up to `limit` ords below `beforeOrd` that pass `keep`, and whether another
   * matching one follows (so the caller knows to hand out a next cursor).
   */
  page(beforeOrd: number, limit: number, keep: (ord: number) => boolean): { ords: number[]; more: boolean } {
    const found: number[] = [];
    for (let index = this.lowerBound(beforeOrd) - 1; index >= 0; index -= 1) {
      const ord = this.ords[index]!;
      if (!keep(ord)) continue;
      if (found.length === limit) return { ords: found, more: true };
      found.push(ord);
    }
    return { ords: found, more: false };
  }
}
