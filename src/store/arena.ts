// StringArena: UTF-8 text off the V8 heap in append-only Buffers, addressed by (chunk, offset).
/** New text goes into chunks of this size (a record larger than one gets a chunk of its own). */
export const ARENA_CHUNK_BYTES = 16 << 20;

/**
 * Bookmarks' text lives here instead of in JS strings, so the collector neither copies nor scans
 * it. A record (a bookmark's URL, title, description and notes back to back) is appended whole and never
 * changed; replacing or deleting one only counts its bytes as dead, and the next snapshot writes
 * the live records alone, so a restart compacts the arena.
 */
/** Node's Buffer has utf8Write (what Buffer#write calls after checking its arguments). */
interface Utf8Writable {
  utf8Write(text: string, offset: number): number;
}

export class StringArena {
  readonly chunks: Buffer[] = [];
  private offset = ARENA_CHUNK_BYTES;
  /** Bytes of records no longer referenced. */
  deadBytes = 0;
  /** Bytes of records written. */
  usedBytes = 0;

  /**
   * Appends the texts back to back; returns the chunk and writes the start offset and each text's
   * byte length into `out` ([offset, length0, length1, ...]).
   */
  append(texts: readonly string[], out: number[], encoding: "utf8" | "utf16le" = "utf8"): number {
    let bound = 0;
    for (const text of texts) bound += text.length * 3;
    if (this.chunks.length === 0 || this.offset + bound > this.chunks[this.chunks.length - 1]!.length) {
      this.chunks.push(Buffer.allocUnsafe(Math.max(ARENA_CHUNK_BYTES, bound)));
      this.offset = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1]!;
    out[0] = this.offset;
    for (let index = 0; index < texts.length; index += 1) {
      const text = texts[index]!;
      // utf8Write: Buffer#write without its argument checks (the bound above leaves room).
      const bytes = text.length === 0 ? 0 : encoding === "utf8" ? (chunk as unknown as Utf8Writable).utf8Write(text, this.offset) : chunk.write(text, this.offset, "utf16le");
      out[index + 1] = bytes;
      this.offset += bytes;
      this.usedBytes += bytes;
    }
    return this.chunks.length - 1;
  }

  /** Adds a chunk read from a snapshot (full: nothing more is appended to it); returns its number. */
  adopt(bytes: Buffer): number {
    this.chunks.push(bytes);
    this.offset = ARENA_CHUNK_BYTES;
    this.usedBytes += bytes.length;
    return this.chunks.length - 1;
  }

  text(chunk: number, offset: number, length: number, encoding: "utf8" | "utf16le" = "utf8"): string {
    return length === 0 ? "" : this.chunks[chunk]!.toString(encoding, offset, offset + length);
  }

  /** Copies bytes out (to a snapshot). */
  bytes(chunk: number, offset: number, length: number): Buffer {
    return this.chunks[chunk]!.subarray(offset, offset + length);
  }
}
