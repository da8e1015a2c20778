// Answers to visitors who are not logged in, kept as encoded UTF-8 bytes until the next committed event.
import { assert } from "../assert.ts";
import type { Answer } from "./respond.ts";

/** A cached answer: always a 200, its body encoded once, its headers exactly as the handler gave them. */
export interface CachedAnswer extends Answer {
  status: 200;
  body: Buffer;
}

/** What a key's entry weighs besides its body: the key, the headers, the Map's own slots (a rough, fixed estimate). */
const ENTRY_OVERHEAD_BYTES = 256;

/**
 * Render once, serve the bytes many times. An entry is valid while the store's event counter
 * (`version()`, bumped by every applied event) is the one it was made under: the first look-up
 * after any committed event drops every entry at once. Coarser than it could be (an event on one
 * tag also clears the others' pages), but exact without a rule per page about which events touch
 * it, and cheap: a page costs one render per event that precedes a read of it.
 *
 * Bounded by `bytesMax` (bodies, keys and an overhead per entry), least recently used first out.
 * Only answers that are the same for every visitor who is not logged in may be put here; the
 * router keeps that promise (see `route`'s `cache` option), this class refuses what cannot be one:
 * anything but a 200, and any answer that sets a cookie.
 */
export class AnswerCache {
  private readonly entries = new Map<string, CachedAnswer & { weight: number }>();
  private bytes = 0;
  private madeAt = -1;
  private hits = 0;
  private misses = 0;

  constructor(
    readonly bytesMax: number,
    private readonly version: () => number,
  ) {}

  /** The entry for `key` if it is still valid; marks it recently used. */
  get(key: string): CachedAnswer | undefined {
    this.forgetIfChanged();
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Keeps `answer` under `key` and returns the kept entry; null when it may not be kept or does not fit. */
  set(key: string, answer: Answer): CachedAnswer | null {
    if (answer.status !== 200 || this.bytesMax === 0) return null;
    assert(!answer.headers || !Object.keys(answer.headers).some((name) => name.toLowerCase() === "set-cookie"), `an answer that sets a cookie was offered to the answer cache (${key})`);
    this.forgetIfChanged();
    const body = answer.body ?? JSON.stringify(answer.json ?? null);
    const encoded = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const weight = encoded.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES;
    if (weight > this.bytesMax) return null;
    const entry = { status: 200 as const, body: encoded, contentType: answer.contentType, headers: answer.headers, weight };
    this.remove(key);
    while (this.bytes + weight > this.bytesMax) this.remove(this.entries.keys().next().value!);
    this.entries.set(key, entry);
    this.bytes += weight;
    return entry;
  }

  stats(): { entries: number; bytes: number; bytes_max: number; hits: number; misses: number } {
    return { entries: this.entries.size, bytes: this.bytes, bytes_max: this.bytesMax, hits: this.hits, misses: this.misses };
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.bytes -= entry.weight;
  }

  private forgetIfChanged(): void {
    const now = this.version();
    if (now === this.madeAt) return;
    this.entries.clear();
    this.bytes = 0;
    this.madeAt = now;
  }
}
