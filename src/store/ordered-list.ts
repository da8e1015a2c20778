// OrderedList: items kept in ascending `ord` (creation order), read newest first with an ord cursor.
import { assert } from "../assert.ts";

export interface Ordered {
  /** Positive and unique within a list. */
  readonly ord: number;
}

export class OrderedList<T extends Ordered> {
  readonly items: T[] = [];
  /**
   * The last item's ord (0 when empty), kept here so the common insert, newer than everything,
   * compares with a number in this list instead of reading the last item from elsewhere in the heap.
   */
  private lastOrd = 0;

  get length(): number {
    return this.items.length;
  }

  /** Index of the first item with ord >= `ord` (binary search). */
  private lowerBound(ord: number): number {
    let low = 0;
    let high = this.items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.items[middle]!.ord < ord) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  insert(item: T): void {
    if (this.lastOrd < item.ord) {
      this.items.push(item);
      this.lastOrd = item.ord;
      return;
    }
    const index = this.lowerBound(item.ord);
    assert(this.items[index]?.ord !== item.ord, () => `ord ${item.ord} inserted twice`);
    this.items.splice(index, 0, item);
  }

  remove(item: T): void {
    const index = this.lowerBound(item.ord);
    assert(this.items[index] === item, () => `ord ${item.ord} removed but not present`);
    this.items.splice(index, 1);
    this.lastOrd = this.items[this.items.length - 1]?.ord ?? 0;
  }

  /**
   * Newest first: up to `limit` items with ord < `beforeOrd` that pass `keep`, and whether
   * another matching item follows (so the caller knows to hand out a next cursor).
   */
  page(beforeOrd: number, limit: number, keep: (item: T) => boolean): { items: T[]; more: boolean } {
    const found: T[] = [];
    for (let index = this.lowerBound(beforeOrd) - 1; index >= 0; index -= 1) {
      const item = this.items[index]!;
      if (!keep(item)) continue;
      if (found.length === limit) return { items: found, more: true };
      found.push(item);
    }
    return { items: found, more: false };
  }
}
