// BookmarkColumns: every bookmark's fields in typed arrays indexed by its ord, its text in a StringArena, its tags in a pool.
import { assert } from "../assert.ts";
import { StringArena } from "./arena.ts";

export const FLAG_PUBLIC = 1;
export const FLAG_UNREAD = 2;
export const FLAG_LIVE = 4;
/**
 * The text record is UTF-16LE, not UTF-8: a text holds a lone surrogate (a log from before text was
 * checked), which UTF-8 cannot carry; kept as it is so replay stays exact.
 */
export const FLAG_UTF16 = 8;
/**
 * A record's notes are at most 10,000 characters, counted as code points (schemas.ts): at most
 * 40,000 bytes of UTF-8 (four a code point) or of UTF-16LE (two units of two bytes), so two bytes
 * hold their length.
 */
export const NOTES_BYTES_MAX = 0xffff;
/** A lone surrogate: in u mode a well-formed pair is one code point, not a surrogate. */
const LONE_SURROGATE = /\p{Cs}/u;

const INITIAL_CAPACITY = 1024;

/**
 * One row per ord (ord 0 is never used; a deleted bookmark's row keeps FLAG_LIVE clear). The
 * collector sees a handful of typed arrays whatever the number of bookmarks: about 60 bytes per
 * bookmark off the V8 heap plus its text, instead of an object, an array and three strings on it.
 * A bookmark's text is one arena record: URL, title, description and notes back to back at
 * (chunk, offset) with their byte lengths here. Notes are rare, so their length is the one
 * two-byte column: an empty note costs those two bytes and nothing in the arena. Its tags are `tagCount` tag numbers at `tagStart`
 * in `tagPool` (append-only; replaced lists are counted dead and the pool is compacted when half
 * of it is).
 */
export class BookmarkColumns {
  capacity = INITIAL_CAPACITY;
  id = new Float64Array(INITIAL_CAPACITY);
  user = new Int32Array(INITIAL_CAPACITY);
  insertedAt = new Float64Array(INITIAL_CAPACITY);
  updatedAt = new Float64Array(INITIAL_CAPACITY);
  flags = new Uint8Array(INITIAL_CAPACITY);
  chunk = new Uint16Array(INITIAL_CAPACITY);
  offset = new Uint32Array(INITIAL_CAPACITY);
  urlLength = new Uint32Array(INITIAL_CAPACITY);
  titleLength = new Uint32Array(INITIAL_CAPACITY);
  descriptionLength = new Uint32Array(INITIAL_CAPACITY);
  notesLength = new Uint16Array(INITIAL_CAPACITY);
  tagStart = new Uint32Array(INITIAL_CAPACITY);
  tagCount = new Uint16Array(INITIAL_CAPACITY);
  /**
   * When the link's health was last checked, or when this URL was saved if never since (seconds
   * since 1970: four bytes, and the checker needs no finer): the link checker's schedule, kept
   * with the bookmark so it survives a restart (link.checked events, snapshots).
   */
  linkCheckedAtS = new Uint32Array(INITIAL_CAPACITY);
  tagPool = new Uint32Array(INITIAL_CAPACITY);
  tagPoolUsed = 0;
  tagPoolDead = 0;
  readonly arena = new StringArena();
  /** Scratch for arena appends: [offset, url bytes, title bytes, description bytes, notes bytes]. */
  private readonly lengths: number[] = [0, 0, 0, 0, 0];

  /** Makes room for ords below `needed`. */
  ensure(needed: number): void {
    if (needed <= this.capacity) return;
    let capacity = this.capacity;
    while (capacity < needed) capacity *= 2;
    const grow = <T extends Float64Array | Int32Array | Uint8Array | Uint16Array | Uint32Array>(old: T): T => {
      const next = new (old.constructor as new (length: number) => T)(capacity);
      next.set(old);
      return next;
    };
    this.id = grow(this.id);
    this.user = grow(this.user);
    this.insertedAt = grow(this.insertedAt);
    this.updatedAt = grow(this.updatedAt);
    this.flags = grow(this.flags);
    this.chunk = grow(this.chunk);
    this.offset = grow(this.offset);
    this.urlLength = grow(this.urlLength);
    this.titleLength = grow(this.titleLength);
    this.descriptionLength = grow(this.descriptionLength);
    this.notesLength = grow(this.notesLength);
    this.tagStart = grow(this.tagStart);
    this.tagCount = grow(this.tagCount);
    this.linkCheckedAtS = grow(this.linkCheckedAtS);
    this.capacity = capacity;
  }

  isLive(ord: number): boolean {
    return ord > 0 && ord < this.capacity && (this.flags[ord]! & FLAG_LIVE) !== 0;
  }

  /** Bytes of the ord's text record. */
  recordBytes(ord: number): number {
    return this.urlLength[ord]! + this.titleLength[ord]! + this.descriptionLength[ord]! + this.notesLength[ord]!;
  }

  /** Writes a new text record for `ord` (the old one, if any, is counted dead by the caller). */
  setText(ord: number, url: string, title: string, description: string, notes: string): void {
    const lengths = this.lengths;
    const utf16 = LONE_SURROGATE.test(url) || LONE_SURROGATE.test(title) || LONE_SURROGATE.test(description) || LONE_SURROGATE.test(notes);
    this.flags[ord] = utf16 ? this.flags[ord]! | FLAG_UTF16 : this.flags[ord]! & ~FLAG_UTF16;
    this.chunk[ord] = this.arena.append([url, title, description, notes], lengths, utf16 ? "utf16le" : "utf8");
    assert(lengths[4]! <= NOTES_BYTES_MAX, () => `notes of ${lengths[4]} bytes at ord ${ord}`);
    this.offset[ord] = lengths[0]!;
    this.urlLength[ord] = lengths[1]!;
    this.titleLength[ord] = lengths[2]!;
    this.descriptionLength[ord] = lengths[3]!;
    this.notesLength[ord] = lengths[4]!;
  }

  /** The encoding of the ord's text record. */
  encoding(ord: number): "utf8" | "utf16le" {
    return (this.flags[ord]! & FLAG_UTF16) === 0 ? "utf8" : "utf16le";
  }

  url(ord: number): string {
    return this.arena.text(this.chunk[ord]!, this.offset[ord]!, this.urlLength[ord]!, this.encoding(ord));
  }

  title(ord: number): string {
    return this.arena.text(this.chunk[ord]!, this.offset[ord]! + this.urlLength[ord]!, this.titleLength[ord]!, this.encoding(ord));
  }

  description(ord: number): string {
    const start = this.offset[ord]! + this.urlLength[ord]! + this.titleLength[ord]!;
    return this.arena.text(this.chunk[ord]!, start, this.descriptionLength[ord]!, this.encoding(ord));
  }

  notes(ord: number): string {
    const start = this.offset[ord]! + this.urlLength[ord]! + this.titleLength[ord]! + this.descriptionLength[ord]!;
    return this.arena.text(this.chunk[ord]!, start, this.notesLength[ord]!, this.encoding(ord));
  }

  /** Stores the ord's tag numbers (the old list, if any, is counted dead by the caller). */
  setTags(ord: number, tags: ArrayLike<number>): void {
    if (this.tagPoolUsed + tags.length > this.tagPool.length) this.growPool(tags.length);
    this.tagStart[ord] = this.tagPoolUsed;
    this.tagCount[ord] = tags.length;
    for (let index = 0; index < tags.length; index += 1) this.tagPool[this.tagPoolUsed++] = tags[index]!;
  }

  tagNumbers(ord: number): Uint32Array {
    const start = this.tagStart[ord]!;
    return this.tagPool.subarray(start, start + this.tagCount[ord]!);
  }

  hasTag(ord: number, tag: number): boolean {
    const start = this.tagStart[ord]!;
    const end = start + this.tagCount[ord]!;
    for (let index = start; index < end; index += 1) if (this.tagPool[index] === tag) return true;
    return false;
  }

  /** Takes a snapshot's tag numbers as the pool (rows' tagStart already point into it). */
  adoptTagPool(tags: Uint32Array<ArrayBuffer>): void {
    this.tagPool = tags.length > 0 ? tags : new Uint32Array(INITIAL_CAPACITY);
    this.tagPoolUsed = tags.length;
    this.tagPoolDead = 0;
  }

  /** Counts a replaced or deleted row's tags and text as dead. */
  release(ord: number): void {
    this.tagPoolDead += this.tagCount[ord]!;
    this.arena.deadBytes += this.recordBytes(ord);
  }

  private growPool(extra: number): void {
    if (this.tagPoolDead * 2 > this.tagPoolUsed && this.tagPoolDead >= extra) {
      this.compactPool();
      if (this.tagPoolUsed + extra <= this.tagPool.length) return;
    }
    const next = new Uint32Array(Math.max(this.tagPool.length * 2, this.tagPoolUsed + extra));
    next.set(this.tagPool.subarray(0, this.tagPoolUsed));
    this.tagPool = next;
  }

  /** Rewrites the pool with the live rows' lists only, in ord order. */
  private compactPool(): void {
    const next = new Uint32Array(this.tagPool.length);
    let used = 0;
    for (let ord = 1; ord < this.capacity; ord += 1) {
      if ((this.flags[ord]! & FLAG_LIVE) === 0) continue;
      const start = this.tagStart[ord]!;
      const count = this.tagCount[ord]!;
      next.set(this.tagPool.subarray(start, start + count), used);
      this.tagStart[ord] = used;
      used += count;
    }
    this.tagPool = next;
    this.tagPoolUsed = used;
    this.tagPoolDead = 0;
  }
}
