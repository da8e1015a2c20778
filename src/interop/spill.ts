// A temporary file of batches: an import's parsed entries wait here, so memory holds one batch whatever the file's size.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Batches are written one after another as JSON and read back by index, in any order (a
 * newest-first file is saved from its end). Synchronous I/O on purpose: a batch is a few hundred
 * KiB, written or read in well under a millisecond, and the caller needs it in order anyway.
 * `dispose` removes the file; it is safe to call more than once.
 */
export class SpillFile<T> {
  private readonly dir: string;
  private fd: number | null;
  private readonly batches: { offset: number; length: number }[] = [];
  private size = 0;

  constructor(prefix = "nasty-spill-") {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.fd = fs.openSync(path.join(this.dir, "batches.json"), "w+", 0o600);
  }

  get batchCount(): number {
    return this.batches.length;
  }

  push(batch: readonly T[]): void {
    const bytes = Buffer.from(JSON.stringify(batch));
    fs.writeSync(this.openFd(), bytes, 0, bytes.length, this.size);
    this.batches.push({ offset: this.size, length: bytes.length });
    this.size += bytes.length;
  }

  read(index: number): T[] {
    const batch = this.batches[index];
    if (!batch) throw new RangeError(`no batch ${index} of ${this.batches.length}`);
    const bytes = Buffer.alloc(batch.length);
    fs.readSync(this.openFd(), bytes, 0, batch.length, batch.offset);
    return JSON.parse(bytes.toString("utf8")) as T[];
  }

  dispose(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private openFd(): number {
    if (this.fd === null) throw new Error("spill file used after dispose");
    return this.fd;
  }
}
