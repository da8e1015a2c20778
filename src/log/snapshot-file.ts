// Snapshot files: the store at one seq, written atomically with a checksum and read back only when whole and ours.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Store } from "../store/store.ts";
import { StoreBodyReader, writeStoreBody } from "../store/snapshot-format.ts";

/**
 * Every snapshot is one file in the data directory named `snapshot-<seq, 16 digits>.nasty`
 * (SNAPSHOT_FILE_PATTERN); one being written is `<that name>.tmp` until it is complete, fsynced
 * and renamed. A file is SNAPSHOT_HEADER_BYTES of JSON header (padded with spaces, ending in a
 * newline), then the body: the store's lines (snapshot-format.ts), each ending in a newline,
 * and its raw frames (a line `#<n>`, then n bytes).
 */
export const SNAPSHOT_FILE_PATTERN = /^snapshot-(\d{16})\.nasty$/;
const TMP_SUFFIX = ".tmp";
const SNAPSHOT_HEADER_BYTES = 512;
const FORMAT = "nasty-snapshot";
const FORMAT_VERSION = 2;
/** Lines are gathered into writes of about this many bytes. */
const WRITE_CHUNK_BYTES = 1 << 20;

export interface SnapshotHeader {
  format: typeof FORMAT;
  version: number;
  /** The store is the fold of the log's events up to and including this seq. */
  seq: number;
  /** The log's data_dir_id: a snapshot from another data directory is refused. */
  data_dir_id: string;
  created_at: number;
  body_bytes: number;
  sha256: string;
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

/**
 * Writes `store` as the snapshot of its lastSeq: to a .tmp file, fsynced, renamed into place,
 * directory fsynced. A crash at any point leaves either no new snapshot (a .tmp file that the next
 * start removes) or a complete one. Synchronous: run it where the store does not change meanwhile
 * (the snapshot thread's own store, or at shutdown).
 */
export function writeSnapshotFile(dataDir: string, store: Store, dataDirId: string): WrittenSnapshot {
  const started = performance.now();
  const seq = store.lastSeq;
  const file = path.join(dataDir, snapshotFileName(seq));
  const tmp = file + TMP_SUFFIX;
  const fd = fs.openSync(tmp, "w");
  try {
    const hash = createHash("sha256");
    let bodyBytes = 0;
    let pending: string[] = [];
    let pendingLength = 0;
    const flush = () => {
      if (pending.length === 0) return;
      writeBytes(Buffer.from(pending.join(""), "utf8"));
      pending = [];
      pendingLength = 0;
    };
    const writeBytes = (chunk: Uint8Array) => {
      fs.writeSync(fd, chunk, 0, chunk.length, SNAPSHOT_HEADER_BYTES + bodyBytes);
      hash.update(chunk);
      bodyBytes += chunk.length;
    };
    writeStoreBody(store, {
      line(line) {
        pending.push(line, "\n");
        pendingLength += line.length + 1;
        if (pendingLength >= WRITE_CHUNK_BYTES) flush();
      },
      bytes(bytes) {
        flush();
        writeBytes(bytes);
      },
    });
    flush();
    const header: SnapshotHeader = { format: FORMAT, version: FORMAT_VERSION, seq, data_dir_id: dataDirId, created_at: Date.now(), body_bytes: bodyBytes, sha256: hash.digest("hex") };
    const headerText = JSON.stringify(header);
    const headerBuffer = Buffer.alloc(SNAPSHOT_HEADER_BYTES, " ");
    headerBuffer.write(headerText, 0, "utf8");
    headerBuffer[SNAPSHOT_HEADER_BYTES - 1] = 0x0a;
    fs.writeSync(fd, headerBuffer, 0, SNAPSHOT_HEADER_BYTES, 0);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    fsyncDirectory(dataDir);
    return { file, seq, bytes: SNAPSHOT_HEADER_BYTES + bodyBytes, ms: performance.now() - started };
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

/** Reads and checks a snapshot's header (not yet its body). */
function readHeader(file: string, data: Buffer): SnapshotHeader {
  const name = path.basename(file);
  if (data.length < SNAPSHOT_HEADER_BYTES) throw new SnapshotError(`${name} is truncated (${data.length} bytes, shorter than its header)`);
  let header: SnapshotHeader;
  try {
    header = JSON.parse(data.toString("utf8", 0, SNAPSHOT_HEADER_BYTES)) as SnapshotHeader;
  } catch {
    throw new SnapshotError(`${name} has a damaged header (not a Nasty snapshot, or overwritten)`);
  }
  if (header.format !== FORMAT) throw new SnapshotError(`${name} is not a Nasty snapshot`);
  if (header.version !== FORMAT_VERSION) throw new SnapshotError(`${name} is snapshot format version ${header.version}; this build reads version ${FORMAT_VERSION}`);
  const match = SNAPSHOT_FILE_PATTERN.exec(name);
  if (match && Number(match[1]) !== header.seq) throw new SnapshotError(`${name} says it stands for seq ${header.seq}, not the seq in its name`);
  if (data.length !== SNAPSHOT_HEADER_BYTES + header.body_bytes) {
    throw new SnapshotError(`${name} is ${data.length < SNAPSHOT_HEADER_BYTES + header.body_bytes ? "truncated" : "longer than written"} (${data.length} bytes, its header says ${SNAPSHOT_HEADER_BYTES + header.body_bytes})`);
  }
  return header;
}

/** Bytes hashed per call: a hash takes at most 2 GiB at once, and a 10M-bookmark snapshot is larger. */
const HASH_CHUNK_BYTES = 1 << 30;

/** SHA-256 of `data` in hex, fed in chunks so a body of any length hashes. */
function sha256Of(data: Buffer): string {
  const hash = createHash("sha256");
  for (let start = 0; start < data.length; start += HASH_CHUNK_BYTES) hash.update(data.subarray(start, start + HASH_CHUNK_BYTES));
  return hash.digest("hex");
}

/**
 * Loads a snapshot into a new store after checking it whole: header, data directory identity,
 * length and SHA-256 of the body. Throws SnapshotError naming the problem; nothing half-read is
 * returned.
 */
export function loadSnapshotFile(file: string, dataDirId: string, nodeId: number): { store: Store; header: SnapshotHeader } {
  const name = path.basename(file);
  const data = readWhole(file);
  const header = readHeader(file, data);
  if (header.data_dir_id !== dataDirId) throw new SnapshotError(`${name} belongs to another data directory (id ${header.data_dir_id}, this one is ${dataDirId})`);
  const body = data.subarray(SNAPSHOT_HEADER_BYTES);
  if (sha256Of(body) !== header.sha256) throw new SnapshotError(`${name} is damaged (its checksum does not match its contents)`);
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
  if (store.lastSeq !== header.seq) throw new SnapshotError(`${name} holds the store at seq ${store.lastSeq}, not ${header.seq} as its header says`);
  return { store, header };
}

/** The file's bytes (fs.readFileSync stops at 2 GiB; a snapshot of ten million bookmarks is larger). */
function readWhole(file: string): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    const data = Buffer.allocUnsafe(fs.fstatSync(fd).size);
    for (let at = 0; at < data.length; ) {
      const read = fs.readSync(fd, data, at, Math.min(data.length - at, 1 << 30), at);
      if (read === 0) return data.subarray(0, at);
      at += read;
    }
    return data;
  } finally {
    fs.closeSync(fd);
  }
}
