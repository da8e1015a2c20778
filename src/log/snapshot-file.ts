// Snapshot files: the store at one seq, written atomically with a checksum and read back only when whole and ours.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { assert } from "../assert.ts";
import { Store } from "../store/store.ts";
import { StoreBodyReader, writeStoreBody } from "../store/snapshot-format.ts";

/**
 * Every snapshot is one file in the data directory named `snapshot-<seq, 16 digits>.nasty`
 * (SNAPSHOT_FILE_PATTERN); one being written is `<that name>.tmp` until it is complete, fsynced
 * and renamed. A file is SNAPSHOT_HEADER_BYTES of JSON header (padded with spaces, ending in a
 * newline), then its sections one after another, each starting at a multiple of 8 bytes (zeros
 * pad the gaps) so typed arrays can view them in place:
 *   store   the store's body (snapshot-format.ts): lines, each ending in a newline, and raw
 *           frames (a line `#<n>`, then n bytes); required
 *   others  given by the writer (the search index, src/search/word-table.ts); optional
 * The header lists each section's name, offset, length and SHA-256. A damaged store section
 * refuses the whole snapshot; a damaged optional section is reported and left out (what it held
 * is rebuilt from the store). Version 2 files (a 512-byte header, one store body, one checksum)
 * and version 3 files (this layout, a store body from before notes) are still read.
 */
export const SNAPSHOT_FILE_PATTERN = /^snapshot-(\d{16})\.nasty$/;
const TMP_SUFFIX = ".tmp";
const SNAPSHOT_HEADER_BYTES = 4096;
const VERSION_2_HEADER_BYTES = 512;
const FORMAT = "nasty-snapshot";
/** 4: the store body may hold notes (snapshot-format.ts's columns version 2). */
const FORMAT_VERSION = 4;
/** Versions with this header layout that this build still reads (3: from before notes). */
const HEADER_VERSIONS_READ = [3, FORMAT_VERSION];
const STORE_SECTION = "store";
/** Lines are gathered into writes of about this many bytes. */
const WRITE_CHUNK_BYTES = 1 << 20;

export interface SectionHeader {
  name: string;
  /** From the file's start; a multiple of 8. */
  offset: number;
  bytes: number;
  sha256: string;
}

export interface SnapshotHeader {
  format: typeof FORMAT;
  version: number;
  /** The state is the fold of the log's events up to and including this seq. */
  seq: number;
  /** The log's data_dir_id: a snapshot from another data directory is refused. */
  data_dir_id: string;
  created_at: number;
  sections: SectionHeader[];
}

/** Version 2's header: one store body, one checksum. */
interface Version2Header {
  format: typeof FORMAT;
  version: 2;
  seq: number;
  data_dir_id: string;
  body_bytes: number;
  sha256: string;
}

/** A section besides the store's, written by a part above the log (it hands over its bytes in order). */
export interface SnapshotSection {
  name: string;
  write(out: (chunk: Uint8Array) => void): void;
}

/** A snapshot that must not be used: damaged, truncated, foreign or not for this log. */
export class SnapshotError extends Error {
  override name = "SnapshotError";
}

export function snapshotFileName(seq: number): string {
  return `snapshot-${String(seq).padStart(16, "0")}.nasty`;
}

export interface SnapshotListing {
  file: string;
  seq: number;
}

/** The data directory's snapshot files, newest (highest seq) first. */
export function listSnapshots(dataDir: string): SnapshotListing[] {
  const found: SnapshotListing[] = [];
  for (const name of fs.readdirSync(dataDir)) {
    const match = SNAPSHOT_FILE_PATTERN.exec(name);
    if (match) found.push({ file: path.join(dataDir, name), seq: Number(match[1]) });
  }
  return found.sort((a, b) => b.seq - a.seq);
}

/** Removes snapshot files a crash left half-written. */
export function removeUnfinishedSnapshots(dataDir: string): void {
  for (const name of fs.readdirSync(dataDir)) {
    if (name.startsWith("snapshot-") && name.endsWith(TMP_SUFFIX)) fs.rmSync(path.join(dataDir, name), { force: true });
  }
}

export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface WrittenSnapshot {
  file: string;
  seq: number;
  bytes: number;
  ms: number;
}

function aligned(bytes: number): number {
  return (bytes + 7) & ~7;
}

/** The store's section: its lines gathered into chunks of about WRITE_CHUNK_BYTES, its frames as they come. */
function storeSection(store: Store): SnapshotSection {
  return {
    name: STORE_SECTION,
    write(out) {
      let pending: string[] = [];
      let pendingLength = 0;
      const flush = () => {
        if (pending.length === 0) return;
        out(Buffer.from(pending.join(""), "utf8"));
        pending = [];
        pendingLength = 0;
      };
      writeStoreBody(store, {
        line(line) {
          pending.push(line, "\n");
          pendingLength += line.length + 1;
          if (pendingLength >= WRITE_CHUNK_BYTES) flush();
        },
        bytes(bytes) {
          flush();
          out(bytes);
        },
      });
      flush();
    },
  };
}

/**
 * Writes `store` (and the `others` sections, standing for the same seq) as the snapshot of its
 * lastSeq: to a .tmp file, fsynced, renamed into place, directory fsynced. A crash at any point
 * leaves either no new snapshot (a .tmp file that the next start removes) or a complete one.
 * Synchronous: run it where the state does not change meanwhile (the snapshot thread's own
 * state, or at shutdown).
 */
export function writeSnapshotFile(dataDir: string, store: Store, dataDirId: string, others: readonly SnapshotSection[] = []): WrittenSnapshot {
  const started = performance.now();
  const seq = store.lastSeq;
  const file = path.join(dataDir, snapshotFileName(seq));
  const tmp = file + TMP_SUFFIX;
  const fd = fs.openSync(tmp, "w");
  try {
    let end = SNAPSHOT_HEADER_BYTES;
    const sections: SectionHeader[] = [];
    for (const section of [storeSection(store), ...others]) {
      const hash = createHash("sha256");
      const offset = end;
      section.write((chunk) => {
        fs.writeSync(fd, chunk, 0, chunk.length, end);
        hash.update(chunk);
        end += chunk.length;
      });
      sections.push({ name: section.name, offset, bytes: end - offset, sha256: hash.digest("hex") });
      const padding = aligned(end) - end;
      if (padding > 0) fs.writeSync(fd, Buffer.alloc(padding), 0, padding, end);
      end += padding;
    }
    const header: SnapshotHeader = { format: FORMAT, version: FORMAT_VERSION, seq, data_dir_id: dataDirId, created_at: Date.now(), sections };
    const headerText = JSON.stringify(header);
    assert(Buffer.byteLength(headerText) < SNAPSHOT_HEADER_BYTES, "snapshot header too long");
    const headerBuffer = Buffer.alloc(SNAPSHOT_HEADER_BYTES, " ");
    headerBuffer.write(headerText, 0, "utf8");
    headerBuffer[SNAPSHOT_HEADER_BYTES - 1] = 0x0a;
    fs.writeSync(fd, headerBuffer, 0, SNAPSHOT_HEADER_BYTES, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    fsyncDirectory(dataDir);
    return { file, seq, bytes: end, ms: performance.now() - started };
  } catch (error) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** Reads and checks a snapshot's header (not yet its sections); a version 1 header is given as one store section. */
function readHeader(file: string, data: Buffer): SnapshotHeader {
  const name = path.basename(file);
  if (data.length < VERSION_2_HEADER_BYTES) throw new SnapshotError(`${name} is truncated (${data.length} bytes, shorter than its header)`);
  let header: SnapshotHeader | Version2Header;
  try {
    const text = data.toString("utf8", 0, Math.min(SNAPSHOT_HEADER_BYTES, data.length));
    header = JSON.parse(text.slice(0, text.indexOf("\n") + 1 || undefined)) as SnapshotHeader | Version2Header;
  } catch {
    throw new SnapshotError(`${name} has a damaged header (not a Nasty snapshot, or overwritten, or truncated)`);
  }
  if (header.format !== FORMAT) throw new SnapshotError(`${name} is not a Nasty snapshot`);
  if (header.version === 2) {
    const v2 = header as Version2Header;
    header = { ...v2, version: 2, created_at: 0, sections: [{ name: STORE_SECTION, offset: VERSION_2_HEADER_BYTES, bytes: v2.body_bytes, sha256: v2.sha256 }] };
  } else if (!HEADER_VERSIONS_READ.includes(header.version)) {
    throw new SnapshotError(`${name} is snapshot format version ${header.version}; this build reads versions 2 to ${FORMAT_VERSION}`);
  } else if (data.length < SNAPSHOT_HEADER_BYTES) {
    throw new SnapshotError(`${name} is truncated (${data.length} bytes, shorter than its header)`);
  }
  return checkedHeader(file, data, header as SnapshotHeader);
}

/** Checks a header (read by readHeader) against the file's name and length. */
function checkedHeader(file: string, data: Buffer, header: SnapshotHeader): SnapshotHeader {
  const name = path.basename(file);
  const match = SNAPSHOT_FILE_PATTERN.exec(name);
  if (match && Number(match[1]) !== header.seq) throw new SnapshotError(`${name} says it stands for seq ${header.seq}, not the seq in its name`);
  const last = header.sections[header.sections.length - 1];
  const expected = last === undefined ? SNAPSHOT_HEADER_BYTES : header.version === 2 ? last.offset + last.bytes : aligned(last.offset + last.bytes);
  if (data.length !== expected) throw new SnapshotError(`${name} is ${data.length < expected ? "truncated" : "longer than written"} (${data.length} bytes, its header says ${expected})`);
  if (header.sections[0]?.name !== STORE_SECTION) throw new SnapshotError(`${name} has no store section`);
  return header;
}

export interface LoadedSnapshot {
  store: Store;
  header: SnapshotHeader;
  /** The other sections whose checksum matched, by name (views into the file's bytes). */
  sections: Map<string, Uint8Array>;
  /** Why each other section that was left out is not used. */
  damaged: string[];
}

/**
 * Loads a snapshot into a new store after checking it: header, data directory identity, length,
 * and the SHA-256 of each section. A problem with the header or the store section throws
 * SnapshotError naming it (nothing half-read is returned); another section that does not match
 * its checksum is left out and named in `damaged`. The checksums are computed on a thread of
 * their own (checksum-worker.mjs) over the file's bytes in shared memory while this thread reads
 * the store section, which is used only once its checksum matched.
 */
export async function loadSnapshotFile(file: string, dataDirId: string, nodeId: number): Promise<LoadedSnapshot> {
  const name = path.basename(file);
  const data = readShared(file);
  const header = readHeader(file, data);
  if (header.data_dir_id !== dataDirId) throw new SnapshotError(`${name} belongs to another data directory (id ${header.data_dir_id}, this one is ${dataDirId})`);
  const checksums = sectionChecksums(data, header.sections);
  // Read meanwhile; an error here counts only if the checksum matched (else the damage is the reason).
  let store: Store | SnapshotError;
  try {
    store = readStoreSection(name, data.subarray(header.sections[0]!.offset, header.sections[0]!.offset + header.sections[0]!.bytes), nodeId);
  } catch (error) {
    if (!(error instanceof SnapshotError)) throw error;
    store = error;
  }
  const sums = await checksums;
  const sections = new Map<string, Uint8Array>();
  const damaged: string[] = [];
  header.sections.forEach((section, index) => {
    if (sums[index] === section.sha256) sections.set(section.name, data.subarray(section.offset, section.offset + section.bytes));
    else if (section.name === STORE_SECTION) throw new SnapshotError(`${name} is damaged (its checksum does not match its contents)`);
    else damaged.push(`${name}: its ${section.name} section is damaged (its checksum does not match its contents)`);
  });
  if (store instanceof SnapshotError) throw store;
  if (store.lastSeq !== header.seq) throw new SnapshotError(`${name} holds the store at seq ${store.lastSeq}, not ${header.seq} as its header says`);
  sections.delete(STORE_SECTION);
  return { store, header, sections, damaged };
}

/** The whole file in shared memory (a Buffer over a SharedArrayBuffer), so another thread reads the same bytes without a copy. */
function readShared(file: string): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const data = Buffer.from(new SharedArrayBuffer(size));
    for (let at = 0; at < size; ) {
      // One read stops at 2 GiB; a snapshot of ten million bookmarks is larger.
      const read = fs.readSync(fd, data, at, Math.min(size - at, 1 << 30), at);
      if (read === 0) break;
      at += read;
    }
    return data;
  } finally {
    fs.closeSync(fd);
  }
}

/** The SHA-256 (hex) of each section, computed on a short-lived thread of its own. */
function sectionChecksums(data: Buffer, sections: readonly SectionHeader[]): Promise<string[]> {
  const worker = new Worker(new URL("./checksum-worker.mjs", import.meta.url));
  return new Promise<string[]>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the checksum thread exited with code ${code}`)));
    worker.postMessage({ buffer: data.buffer, ranges: sections.map((section) => [data.byteOffset + section.offset, section.bytes]) });
  }).finally(() => void worker.terminate());
}

function readStoreSection(name: string, body: Buffer, nodeId: number): Store {
  const store = new Store(nodeId);
  const reader = new StoreBodyReader(store);
  try {
    for (let start = 0; start < body.length; ) {
      const end = body.indexOf(0x0a, start);
      if (end < 0) throw new Error("the last line has no end");
      if (body[start] === 0x23) {
        const length = Number(body.toString("latin1", start + 1, end));
        if (!Number.isSafeInteger(length) || length < 0 || end + 1 + length > body.length) throw new Error(`a frame of ${length} bytes does not fit`);
        reader.frame(body.subarray(end + 1, end + 1 + length));
        start = end + 1 + length;
        continue;
      }
      reader.line(body.toString("utf8", start, end));
      start = end + 1;
    }
    reader.finish();
  } catch (error) {
    throw new SnapshotError(`${name} could not be read (${error instanceof Error ? error.message : String(error)})`);
  }
  return store;
}
