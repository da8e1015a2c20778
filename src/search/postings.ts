// Posting lists: the ascending bookmark ords of one search word, stored as compactly as their size allows.
import { assert } from "../assert.ts";

/**
 * Most words occur once or a few times, a few occur in every other bookmark, so a list takes
 * the smallest shape that holds it:
 *   - a number: exactly one ord (no allocation at all);
 *   - a number[]: up to SMALL_MAX ords;
 *   - an Int32Array: more, with element 0 holding the count and spare capacity after it (a list
 *     read from a snapshot is an Int32Array of any length, exactly full).
 * Every function takes a list and returns the (possibly re-shaped) list; the caller stores it.
 */
export type Postings = number | number[] | Int32Array;

const SMALL_MAX = 16;

export function postingsCount(list: Postings): number {
  if (typeof list === "number") return 1;
  if (Array.isArray(list)) return list.length;
  return list[0]!;
}

/** The `index`-th smallest ord. */
export function postingAt(list: Postings, index: number): number {
  if (typeof list === "number") return list;
  if (Array.isArray(list)) return list[index]!;
  return list[index + 1]!;
}

/** Index of the first ord >= `ord` (the count when there is none). */
export function postingsLowerBound(list: Postings, ord: number): number {
  let low = 0;
  let high = postingsCount(list);
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (postingAt(list, middle) < ord) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function postingsHas(list: Postings, ord: number): boolean {
  const index = postingsLowerBound(list, ord);
  return index < postingsCount(list) && postingAt(list, index) === ord;
}

function toTyped(items: ArrayLike<number>, count: number, capacity: number): Int32Array {
  const typed = new Int32Array(capacity + 1);
  typed[0] = count;
  for (let index = 0; index < count; index += 1) typed[index + 1] = items[index]!;
  return typed;
}

/** Adds `ord` (no-op when present). Appending a new largest ord — the common case — is O(1) amortized. */
export function postingsAdd(list: Postings | undefined, ord: number): Postings {
  assert(ord > 0 && ord <= 0x7fffffff, `ord ${ord} out of the posting range`);
  if (list === undefined) return ord;
  if (typeof list === "number") return list === ord ? list : list < ord ? [list, ord] : [ord, list];
  const count = postingsCount(list);
  const last = postingAt(list, count - 1);
  if (last === ord) return list;
  const index = last < ord ? count : postingsLowerBound(list, ord);
  if (index < count && postingAt(list, index) === ord) return list;
  if (Array.isArray(list)) {
    if (index === count) list.push(ord);
    else list.splice(index, 0, ord);
    return list.length > SMALL_MAX ? toTyped(list, list.length, list.length * 2) : list;
  }
  let typed = list;
  if (count + 1 >= typed.length) typed = toTyped(typed.subarray(1), count, Math.ceil(count * 1.5) + 1);
  typed.copyWithin(index + 2, index + 1, count + 1);
  typed[index + 1] = ord;
  typed[0] = count + 1;
  return typed;
}

/** Removes `ord`; undefined once the list is empty. Large lists shrink when mostly empty. */
export function postingsRemove(list: Postings, ord: number): Postings | undefined {
  const index = postingsLowerBound(list, ord);
  const count = postingsCount(list);
  if (index >= count || postingAt(list, index) !== ord) return list;
  // A list read from a snapshot is an Int32Array whatever its length (word-table.ts): it may hold one ord.
  if (count === 1) return undefined;
  if (typeof list === "number") return undefined;
  if (Array.isArray(list)) {
    list.splice(index, 1);
    return list.length === 1 ? list[0]! : list;
  }
  list.copyWithin(index + 1, index + 2, count + 1);
  list[0] = count - 1;
  if (count - 1 === 1) return list[1]!;
  if (count - 1 <= SMALL_MAX) return Array.from(list.subarray(1, count));
  if (count * 4 < list.length) return toTyped(list.subarray(1), count - 1, count * 2);
  return list;
}
