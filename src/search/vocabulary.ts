// The sorted vocabulary for prefix lookups: a sorted base plus a small unsorted tail, merged now and then.

/** New words wait in the tail until there are this many, then merge into the base in one pass. */
const TAIL_WORDS_MAX = 4096;

/**
 * Keeping one big sorted array exact would cost a memmove per new word; instead new words go
 * to a short tail scanned linearly, and the tail is sorted and merged into the base when full
 * (amortized O(base / TAIL_WORDS_MAX) per word). Removed words are not taken out at once: a
 * lookup asks `exists`, and a merge drops the words that no longer exist.
 */
export class Vocabulary {
  private base: string[] = [];
  private tail: string[] = [];

  constructor(
    private readonly exists: (word: string) => boolean,
    private readonly tailWordsMax = TAIL_WORDS_MAX,
  ) {}

  /** Starts over from every word there is (after a bulk build). */
  reset(words: Iterable<string>): void {
    this.base = [...words].sort();
    this.tail = [];
  }

  add(word: string): void {
    this.tail.push(word);
    if (this.tail.length >= this.tailWordsMax) this.merge();
  }

  /** Every existing word starting with `prefix`. */
  withPrefix(prefix: string): string[] {
    const found: string[] = [];
    for (let index = lowerBound(this.base, prefix); index < this.base.length && this.base[index]!.startsWith(prefix); index += 1) {
      if (this.exists(this.base[index]!)) found.push(this.base[index]!);
    }
    const fromBase = found.length;
    for (const word of this.tail) if (word.startsWith(prefix) && this.exists(word)) found.push(word);
    // A word removed and added again is in both until the next merge.
    return found.length > fromBase && fromBase > 0 ? [...new Set(found)] : found;
  }

  private merge(): void {
    const tail = this.tail.sort();
    const merged: string[] = [];
    let left = 0;
    let right = 0;
    while (left < this.base.length || right < tail.length) {
      const takeBase = right >= tail.length || (left < this.base.length && this.base[left]! <= tail[right]!);
      const word = takeBase ? this.base[left++]! : tail[right++]!;
      if (merged[merged.length - 1] !== word && this.exists(word)) merged.push(word);
    }
    this.base = merged;
    this.tail = [];
  }
}

function lowerBound(sorted: readonly string[], value: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < value) low = middle + 1;
    else high = middle;
  }
  return low;
}
