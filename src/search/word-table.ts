// Word → posting list: a frozen, sorted table in typed arrays (read from a snapshot as raw bytes) under a Map of the words changed since.
import { assert } from "../assert.ts";
import type { Postings } from "./postings.ts";
import { Vocabulary } from "./vocabulary.ts";

/** The search section could not be read (another format, or bytes that do not add up): the index is rebuilt instead. */
export class WordTableError extends Error {
  override name = "WordTableError";
}

/**
 * The section's bytes, every field little-endian and 8-byte aligned (typed-array views straight
 * over the bytes, nothing parsed per word):
 *   Uint32 × 8   header: MAGIC, VERSION, word count N, text UTF-16 units T, posting slots P, text bytes B, 0, 0
 *   Uint32 × (N+1), padded to 8 bytes   word starts in the text (UTF-16 units); word i is text[start[i], start[i+1])
 *   Uint32 × (N+1), padded to 8 bytes   list starts in the slots; list i is slots[start[i], start[i+1])
 *   Int32 × P, padded to 8 bytes        the slots: each list as [count, ord, ord, …] (ords ascending), the
 *                                       shape postings.ts reads as an Int32Array, so a list is a subarray
 *   B bytes                             the words in sorted order, joined, UTF-8
 * Words are sorted by JS string order, so a prefix lookup is a binary search and a scan.
 * MAGIC read back through a Uint32Array also checks the byte order.
 */
const MAGIC = 0x4e534958; // "NSIX"
const VERSION = 1;
const HEADER_WORDS = 8;

/** Words sorted (JS string order), their texts and their lists, as loaded. */
interface Frozen {
  text: string;
  wordStarts: Uint32Array;
  listStarts: Uint32Array;
  slots: Int32Array;
}

const EMPTY: Frozen = { text: "", wordStarts: new Uint32Array(1), listStarts: new Uint32Array(1), slots: new Int32Array(0) };

function aligned(bytes: number): number {
  return (bytes + 7) & ~7;
}

/**
 * A bookmark word's posting list, found in the words changed since the table was frozen, or else
 * in the frozen table. A list taken from the frozen table and changed is stored among the changed
 * ones (postings.ts grows a full Int32Array by copying it; it may shrink one in place, in which
 * case the changed entry is that same view). A word whose list became empty is kept as null in the
 * changed ones until the next freeze, so the frozen entry stays hidden.
 */
export class WordTable {
  private frozen: Frozen = EMPTY;
  private readonly changed = new Map<string, Postings | null>();
  /** Words with a list (frozen ones not emptied since, plus new ones). */
  private count = 0;
  /** Sorted changed words for prefix lookups, built at the first one. */
  private changedVocabulary: Vocabulary | null = null;

  constructor(private readonly vocabularyTailWords?: number) {}

  get size(): number {
    return this.count;
  }

  get(word: string): Postings | undefined {
    const changed = this.changed.get(word);
    if (changed !== undefined) return changed ?? undefined;
    const index = this.frozenIndex(word);
    return index < 0 ? undefined : this.frozenList(index);
  }

  /** Stores `word`'s list (undefined: it has none any more); `previous` is what get(word) answered before. */
  set(word: string, list: Postings | undefined, previous: Postings | undefined): void {
    const had = previous !== undefined;
    if (list === undefined) {
      if (!had) return;
      this.count -= 1;
      if (this.frozenIndex(word) >= 0) this.changed.set(word, null);
      else this.changed.delete(word);
      return;
    }
    if (!had) this.count += 1;
    // Changed words are found by prefix through the vocabulary, frozen ones not changed by the frozen
    // table. Added after the set: adding may merge the vocabulary, which keeps only existing words.
    const known = this.changed.get(word) != null;
    this.changed.set(word, list);
    if (!known) this.changedVocabulary?.add(word);
  }

  /** Every word with a list starting with `prefix`. */
  withPrefix(prefix: string): string[] {
    const found = new Set<string>();
    const { text, wordStarts } = this.frozen;
    for (let index = this.frozenLowerBound(prefix); index < wordStarts.length - 1; index += 1) {
      const word = text.slice(wordStarts[index]!, wordStarts[index + 1]!);
      if (!word.startsWith(prefix)) break;
      if (!this.changed.has(word)) found.add(word);
    }
    if (this.changedVocabulary === null) {
      this.changedVocabulary = new Vocabulary((word) => this.changed.get(word) != null, this.vocabularyTailWords);
      this.changedVocabulary.reset([...this.changed.keys()].filter((word) => this.changed.get(word) !== null));
    }
    for (const word of this.changedVocabulary.withPrefix(prefix)) found.add(word);
    return [...found];
  }

  /** The section bytes of every word and list (see the layout above), as chunks to write in order. */
  encode(): Uint8Array[] {
    const words = this.sortedWords();
    const wordStarts = new Uint32Array(words.length + 1);
    const listStarts = new Uint32Array(words.length + 1);
    let units = 0;
    let slotCount = 0;
    const lists: Postings[] = [];
    for (let index = 0; index < words.length; index += 1) {
      const list = this.get(words[index]!)!;
      lists.push(list);
      units += words[index]!.length;
      slotCount += 1 + countOf(list);
      wordStarts[index + 1] = units;
      listStarts[index + 1] = slotCount;
    }
    const slots = new Int32Array(slotCount);
    let at = 0;
    for (const list of lists) at = copyList(list, slots, at);
    const text = Buffer.from(words.join(""), "utf8");
    const header = new Uint32Array([MAGIC, VERSION, words.length, units, slotCount, text.length, 0, 0]);
    return [header, wordStarts, listStarts, slots, text].flatMap((part) => {
      const bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      const padding = aligned(bytes.length) - bytes.length;
      return padding === 0 ? [bytes] : [bytes, new Uint8Array(padding)];
    });
  }

  /**
   * A table over a section's bytes (copied once into memory of its own, so the rest of the file
   * it came in is not kept alive). Throws WordTableError when they do not add up.
   */
  static decode(section: Uint8Array, vocabularyTailWords?: number): WordTable {
    const bytes = new Uint8Array(section.length);
    bytes.set(section);
    const fail = (problem: string): never => {
      throw new WordTableError(`the search section ${problem}`);
    };
    if (bytes.length < HEADER_WORDS * 4) fail(`is ${bytes.length} bytes, shorter than its header`);
    const [magic, version, wordCount, units, slotCount, textBytes] = new Uint32Array(bytes.buffer, 0, HEADER_WORDS);
    if (magic !== MAGIC) fail("is not a search index (or was written on a machine of the other byte order)");
    if (version !== VERSION) fail(`is format version ${version}; this build reads version ${VERSION}`);
    let offset = HEADER_WORDS * 4;
    const take = (length: number, size: number) => {
      const start = offset;
      offset += aligned(length * size);
      if (offset > bytes.length) fail(`is truncated (${bytes.length} bytes, its header needs at least ${offset})`);
      return start;
    };
    const wordStarts = new Uint32Array(bytes.buffer, take(wordCount! + 1, 4), wordCount! + 1);
    const listStarts = new Uint32Array(bytes.buffer, take(wordCount! + 1, 4), wordCount! + 1);
    const slots = new Int32Array(bytes.buffer, take(slotCount!, 4), slotCount!);
    const textStart = take(textBytes!, 1);
    if (offset !== bytes.length) fail(`is ${bytes.length} bytes, its header says ${offset}`);
    const text = Buffer.from(bytes.buffer, textStart, textBytes!).toString("utf8");
    if (text.length !== units || wordStarts[wordCount!] !== units || listStarts[wordCount!] !== slotCount) fail("has word or list offsets that do not match its contents");
    const table = new WordTable(vocabularyTailWords);
    table.frozen = { text, wordStarts, listStarts, slots };
    table.count = wordCount!;
    return table;
  }

  private frozenList(index: number): Int32Array {
    return this.frozen.slots.subarray(this.frozen.listStarts[index]!, this.frozen.listStarts[index + 1]!);
  }

  private frozenWord(index: number): string {
    return this.frozen.text.slice(this.frozen.wordStarts[index]!, this.frozen.wordStarts[index + 1]!);
  }

  /** Frozen word `index` compared with `word` in JS string order (negative: it sorts first), read in place. */
  private compareFrozen(index: number, word: string): number {
    const { text, wordStarts } = this.frozen;
    const start = wordStarts[index]!;
    const length = wordStarts[index + 1]! - start;
    const shared = Math.min(length, word.length);
    for (let at = 0; at < shared; at += 1) {
      const difference = text.charCodeAt(start + at) - word.charCodeAt(at);
      if (difference !== 0) return difference;
    }
    return length - word.length;
  }

  /** The first frozen word's index not below `word`. */
  private frozenLowerBound(word: string): number {
    let low = 0;
    let high = this.frozen.wordStarts.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compareFrozen(middle, word) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** `word`'s frozen index, or -1. */
  private frozenIndex(word: string): number {
    const index = this.frozenLowerBound(word);
    return index < this.frozen.wordStarts.length - 1 && this.compareFrozen(index, word) === 0 ? index : -1;
  }

  /** Every word with a list, sorted: the frozen ones not emptied, merged with the changed ones. */
  private sortedWords(): string[] {
    const added = [...this.changed.keys()].filter((word) => this.changed.get(word) !== null && this.frozenIndex(word) < 0).sort();
    const words: string[] = [];
    const frozenCount = this.frozen.wordStarts.length - 1;
    let next = 0;
    for (let index = 0; index < frozenCount; index += 1) {
      const word = this.frozenWord(index);
      while (next < added.length && added[next]! < word) words.push(added[next++]!);
      if (this.changed.get(word) !== null) words.push(word);
    }
    while (next < added.length) words.push(added[next++]!);
    assert(words.length === this.count, () => `search index holds ${this.count} words but ${words.length} were written`);
    return words;
  }
}

function countOf(list: Postings): number {
  if (typeof list === "number") return 1;
  if (Array.isArray(list)) return list.length;
  return list[0]!;
}

/** Writes `list` as [count, ords…] at `at`; returns the next free slot. */
function copyList(list: Postings, slots: Int32Array, at: number): number {
  const count = countOf(list);
  slots[at] = count;
  if (typeof list === "number") slots[at + 1] = list;
  else if (Array.isArray(list)) slots.set(list, at + 1);
  else slots.set(list.subarray(1, count + 1), at + 1);
  return at + 1 + count;
}
