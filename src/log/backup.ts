// Backup and restore: every state file of a data directory in one checksummed file, copied while writes go on.
import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { LOCK_FILE, dataDirHeld, lockDataDir } from "./lock.ts";
import { SNAPSHOT_FILE_PATTERN } from "./snapshot-file.ts";

/**
 * The backup file format, version 1 (docs: README "Backup and restore"):
 *
 *   NASTY-BACKUP 1\n
 *   {"format":1,"created_at":"…","last_seq":N,"files":[{"name":"events.sqlite3","bytes":B,"sha256":"…"},…]}\n
 *   the bytes of each file, in the manifest's order, nothing between them
 *   SHA256 <64 hex digits of everything above>\n
 *
 * Names are paths relative to the data directory, `/`-separated. `last_seq` is the log's last
 * sequence number in the copy: every write acknowledged before the backup began is at or below it.
 */
export const BACKUP_MAGIC = "NASTY-BACKUP 1\n";
export const BACKUP_FORMAT = 1;
const MANIFEST_BYTES_MAX = 1024 * 1024;
const TRAILER_PREFIX = "SHA256 ";
const TRAILER_BYTES = TRAILER_PREFIX.length + 64 + 1;
const FILES_MAX = 10_000;
/** How deep the data directory's folders are walked for state files. */
const FOLDER_DEPTH_MAX = 4;
/** Read and write size when streaming files in and out of a backup. */
const CHUNK_BYTES = 1024 * 1024;
/** Bytes of a backup written between two syncs. */
const SYNC_BYTES = 4 * 1024 * 1024;
const LOG_FILE = "events.sqlite3";
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

/** An operating error of backup or restore (a bad file, an occupied directory): the CLI prints it. */
export class BackupError extends Error {
  override name = "BackupError";
}

export interface BackupFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  created_at: string;
  last_seq: number;
  files: BackupFile[];
}

/** Files that are not state: the lock, the CLI socket, SQLite's side files, temporaries (dot names, `.tmp`). */
export function isStateFile(name: string): boolean {
  const base = path.posix.basename(name);
  if (base === LOCK_FILE || base === "nasty.lock" || base === "nasty.sock") return false;
  if (base.startsWith(".") || base.endsWith(".tmp") || /\.tmp[-.]/.test(base)) return false;
  return !/-(wal|shm|journal)$/.test(base);
}

/** SQLite files are copied with VACUUM INTO (copySqlite); everything else byte for byte. */
function isSqlite(name: string): boolean {
  return name.endsWith(".sqlite3");
}

/** The state files under `dataDir`, relative and sorted: other files (snapshots) first, then SQLite files, the log last. */
function listStateFiles(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string, prefix: string, depth: number) => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const name = prefix + entry.name;
      if (entry.isDirectory()) {
        if (!entry.name.startsWith(".") && depth < FOLDER_DEPTH_MAX) walk(path.join(folder, entry.name), `${name}/`, depth + 1);
      } else if (entry.isFile() && isStateFile(name)) {
        found.push(name);
      }
    }
  };
  walk(dataDir, "", 0);
  // The log last: whatever else is copied (a snapshot at some seq) is then at or behind the log's copy.
  const rank = (name: string) => (name === LOG_FILE ? 2 : isSqlite(name) ? 1 : 0);
  return found.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Copies a live SQLite file on a thread of its own with VACUUM INTO: one statement, so one read
 * transaction and a consistent copy, and in WAL mode a reader never blocks the writer (commits go
 * on into the WAL meanwhile); the event loop is never blocked either. The online backup API
 * (better-sqlite3's `db.backup()`) takes no writer lock either, but stepped a few pages at a time
 * it restarts whenever another connection commits (under steady writes it never finishes), and in
 * one step it also syncs its full-size copy; VACUUM INTO's copy is written without a sync (it is a
 * staging file, synced once packed). Resolves with the copy's last seq (0 without an events table).
 */
function copySqlite(source: string, target: string): Promise<number> {
  const worker = new Worker(new URL("./backup-worker.mjs", import.meta.url), { workerData: { source, target } });
  return new Promise<number>((resolve, reject) => {
    worker.once("message", (reply: { ok: true; lastSeq: number } | { ok: false; message: string }) => {
      if (reply.ok) resolve(reply.lastSeq);
      else reject(new BackupError(`copying ${path.basename(source)} failed: ${reply.message}`));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new BackupError(`the backup thread exited with code ${code} before it finished`)));
  });
}

async function hashFile(file: string): Promise<BackupFile & { path: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { name: "", path: file, bytes, sha256: hash.digest("hex") };
}

function fsyncFolder(folder: string): void {
  const fd = fs.openSync(folder, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
}

export interface BackupSource {
  dataDir: string;
  /** Keeps the snapshot files and the log from being compacted until the release is called (Snapshotter.holdCompaction). */
  holdCompaction(): () => void;
}

export interface BackupResult {
  file: string;
  lastSeq: number;
  files: BackupFile[];
  bytes: number;
}

/**
 * Writes a backup of `source` to `target`: the state files are copied into a staging folder
 * beside the target (snapshot files first, then the log with VACUUM INTO, compaction held
 * off meanwhile), then packed into a temporary file, fsynced and moved into place. Without
 * `force` an existing target is refused, and never replaced (link, not rename, so a file that
 * appears meanwhile is not replaced either).
 */
export async function writeBackup(source: BackupSource, target: string, options: { force?: boolean } = {}): Promise<BackupResult> {
  return asBackupError(() => backupTo(source, target, options));
}

/** A file system error (no permission, a full disk) as a BackupError carrying Node's message, which names the path. */
async function asBackupError<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof BackupError) && typeof code === "string" && code.startsWith("E")) throw new BackupError((error as Error).message);
    throw error;
  }
}

async function backupTo(source: BackupSource, target: string, options: { force?: boolean }): Promise<BackupResult> {
  const dataDir = path.resolve(source.dataDir);
  const file = path.resolve(target);
  if (!fs.existsSync(dataDir)) throw new BackupError(`there is no data directory ${dataDir} to back up`);
  if (file === dataDir || file.startsWith(dataDir + path.sep)) throw new BackupError(`${file} is inside the data directory ${dataDir}; write the backup somewhere else`);
  if (!options.force && fs.existsSync(file)) throw new BackupError(`${file} already exists; choose another name or add --force to replace it`);
  const folder = path.dirname(file);
  if (!fs.existsSync(folder)) throw new BackupError(`the folder ${folder} does not exist`);
  const staging = fs.mkdtempSync(path.join(folder, `.${path.basename(file)}.staging-`));
  try {
    const { names, lastSeq } = await copyStateFiles(source, dataDir, staging);
    const files: (BackupFile & { path: string })[] = [];
    for (const name of names) files.push({ ...(await hashFile(path.join(staging, name))), name });
    const manifest: BackupManifest = { format: BACKUP_FORMAT, created_at: new Date().toISOString(), last_seq: lastSeq, files: files.map(({ name, bytes, sha256 }) => ({ name, bytes, sha256 })) };
    const bytes = await packBackup(manifest, files, file, options.force ?? false);
    return { file, lastSeq, files: manifest.files, bytes };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** The seq the files stand for: the log's last, or a newer snapshot's when the log was compacted behind it (then it is empty). */
export function stateSeq(lastSeq: number, files: readonly BackupFile[]): number {
  const snapshotSeqs = files.map((file) => Number(SNAPSHOT_FILE_PATTERN.exec(path.posix.basename(file.name))?.[1] ?? 0));
  return Math.max(lastSeq, ...snapshotSeqs);
}

async function copyStateFiles(source: BackupSource, dataDir: string, staging: string): Promise<{ names: string[]; lastSeq: number }> {
  const release = source.holdCompaction();
  try {
    const names: string[] = [];
    let lastSeq = 0;
    for (const name of listStateFiles(dataDir)) {
      const from = path.join(dataDir, name);
      const to = path.join(staging, name);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (isSqlite(name)) {
        const seq = await copySqlite(from, to);
        if (name === LOG_FILE) lastSeq = seq;
      } else {
        try {
          await fs.promises.copyFile(from, to);
        } catch (error) {
          // A snapshot replaced by a newer one between listing and copying: the newer one is listed next time.
          if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw error;
        }
      }
      names.push(name);
    }
    return { names, lastSeq };
  } finally {
    release();
  }
}

/**
 * Writes the backup file with asynchronous writes and syncs (the thread pool's, not the event
 * loop's), syncing every SYNC_BYTES so the disk never holds a long burst that stalls the log's
 * own fsyncs behind it.
 */
async function packBackup(manifest: BackupManifest, files: readonly { path: string }[], file: string, force: boolean): Promise<number> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  const total = createHash("sha256");
  const handle = await fs.promises.open(temporary, "wx", 0o600);
  let bytes = 0;
  let unsynced = 0;
  let closed = false;
  try {
    const write = async (chunk: Buffer, hashed = true) => {
      if (hashed) total.update(chunk);
      await handle.write(chunk);
      bytes += chunk.length;
      unsynced += chunk.length;
      if (unsynced >= SYNC_BYTES) {
        await handle.datasync();
        unsynced = 0;
      }
    };
    await write(Buffer.from(BACKUP_MAGIC));
    await write(Buffer.from(`${JSON.stringify(manifest)}\n`));
    for (const { path: staged } of files) {
      for await (const chunk of fs.createReadStream(staged, { highWaterMark: CHUNK_BYTES })) await write(chunk as Buffer);
    }
    await write(Buffer.from(`${TRAILER_PREFIX}${total.digest("hex")}\n`), false);
    await handle.sync();
    await handle.close();
    closed = true;
    if (force) await fs.promises.rename(temporary, file);
    else {
      try {
        await fs.promises.link(temporary, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new BackupError(`${file} already exists; choose another name or add --force to replace it`);
        throw error;
      }
      await fs.promises.unlink(temporary);
    }
    fsyncFolder(path.dirname(file));
    return bytes;
  } catch (error) {
    if (!closed) await handle.close().catch(() => {});
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}

/** Reads and checks the magic line and the manifest; returns the manifest and where the files begin. */
function readManifest(fd: number, file: string, size: number): { manifest: BackupManifest; bodyStart: number } {
  const head = Buffer.alloc(Math.min(size, BACKUP_MAGIC.length + MANIFEST_BYTES_MAX));
  fs.readSync(fd, head, 0, head.length, 0);
  if (head.subarray(0, BACKUP_MAGIC.length).toString("latin1") !== BACKUP_MAGIC) throw new BackupError(`${file} is not a Nasty backup (it does not begin with "${BACKUP_MAGIC.trim()}")`);
  const end = head.indexOf(0x0a, BACKUP_MAGIC.length);
  if (end < 0) throw new BackupError(`${file} is damaged: its manifest line is missing or longer than ${MANIFEST_BYTES_MAX} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(head.subarray(BACKUP_MAGIC.length, end).toString("utf8"));
  } catch {
    throw new BackupError(`${file} is damaged: its manifest is not JSON`);
  }
  const problem = manifestProblem(parsed);
  if (problem) throw new BackupError(`${file} is damaged: its manifest ${problem}`);
  return { manifest: parsed as BackupManifest, bodyStart: end + 1 };
}

function manifestProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "is not an object";
  const manifest = value as Record<string, unknown>;
  if (manifest.format !== BACKUP_FORMAT) return `has format ${JSON.stringify(manifest.format)}, this version reads format ${BACKUP_FORMAT}`;
  if (!Number.isSafeInteger(manifest.last_seq) || (manifest.last_seq as number) < 0) return "has no valid last_seq";
  if (!Array.isArray(manifest.files) || manifest.files.length > FILES_MAX) return `has no list of files (at most ${FILES_MAX})`;
  const seen = new Set<string>();
  for (const entry of manifest.files as unknown[]) {
    const { name, bytes, sha256 } = (entry ?? {}) as Record<string, unknown>;
    if (typeof name !== "string" || !NAME_PATTERN.test(name) || !isStateFile(name)) return `lists a file with a name that is not allowed: ${JSON.stringify(name)}`;
    if (seen.has(name)) return `lists ${name} twice`;
    seen.add(name);
    if (!Number.isSafeInteger(bytes) || (bytes as number) < 0) return `lists ${name} without a valid size`;
    if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) return `lists ${name} without a valid sha256`;
  }
  return null;
}

/**
 * Streams the files of a backup into `staging`, checking each file's and the whole file's
 * checksum; throws BackupError naming the first problem (the caller removes `staging`).
 */
async function unpackBackup(file: string, staging: string): Promise<BackupManifest> {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size < BACKUP_MAGIC.length + 3 + TRAILER_BYTES) throw new BackupError(`${file} is not a Nasty backup (only ${size} bytes)`);
    const { manifest, bodyStart } = readManifest(fd, file, size);
    const listed = manifest.files.reduce((sum, entry) => sum + entry.bytes, 0);
    const held = size - bodyStart - TRAILER_BYTES;
    if (listed !== held) throw new BackupError(`${file} is damaged: its manifest lists ${listed} bytes of files, it holds ${held} (truncated or appended to)`);
    const trailer = Buffer.alloc(TRAILER_BYTES);
    fs.readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    const trailerText = trailer.toString("latin1");
    if (!trailerText.startsWith(TRAILER_PREFIX) || !/^[0-9a-f]{64}\n$/.test(trailerText.slice(TRAILER_PREFIX.length))) throw new BackupError(`${file} is damaged: its last line is not "${TRAILER_PREFIX}<checksum>"`);
    const total = createHash("sha256");
    const head = Buffer.alloc(bodyStart);
    fs.readSync(fd, head, 0, bodyStart, 0);
    total.update(head);
    let position = bodyStart;
    const buffer = Buffer.alloc(CHUNK_BYTES);
    const damaged: string[] = [];
    for (const entry of manifest.files) {
      const to = path.join(staging, entry.name);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      const out = fs.openSync(to, "wx", 0o600);
      const hash = createHash("sha256");
      try {
        for (let left = entry.bytes; left > 0; ) {
          const read = fs.readSync(fd, buffer, 0, Math.min(left, CHUNK_BYTES), position);
          if (read <= 0) throw new BackupError(`${file} is damaged: it ends inside ${entry.name}`);
          const chunk = buffer.subarray(0, read);
          hash.update(chunk);
          total.update(chunk);
          fs.writeSync(out, chunk);
          position += read;
          left -= read;
        }
        fs.fsyncSync(out);
      } finally {
        fs.closeSync(out);
      }
      if (hash.digest("hex") !== entry.sha256) damaged.push(entry.name);
    }
    const expected = trailerText.slice(TRAILER_PREFIX.length, -1);
    const computed = total.digest("hex");
    if (damaged.length > 0) throw new BackupError(`${file} is damaged: the checksum of ${damaged.join(", ")} does not match its manifest`);
    if (computed !== expected) throw new BackupError(`${file} is damaged: its checksum does not match (the file says ${expected}, its bytes give ${computed})`);
    return manifest;
  } finally {
    fs.closeSync(fd);
  }
}

/** The restored log opens, passes SQLite's quick check and ends at the manifest's last seq. */
function checkRestoredLog(file: string, staging: string, manifest: BackupManifest): void {
  const log = path.join(staging, LOG_FILE);
  if (!fs.existsSync(log)) {
    if (manifest.last_seq !== 0) throw new BackupError(`${file} is damaged: it has no events.sqlite3 but a last_seq of ${manifest.last_seq}`);
    return;
  }
  let db: Database.Database | null = null;
  try {
    db = new Database(log, { fileMustExist: true });
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") throw new BackupError(`${file} is damaged: SQLite's check of events.sqlite3 says ${String(check)}`);
    const lastSeq = db.prepare("SELECT coalesce(max(seq), 0) FROM events").pluck().get() as number;
    if (lastSeq !== manifest.last_seq) throw new BackupError(`${file} is damaged: its log ends at seq ${lastSeq}, its manifest says ${manifest.last_seq}`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`${file} is damaged: events.sqlite3 cannot be read (${error instanceof Error ? error.message : String(error)})`);
  } finally {
    db?.close();
  }
}

/** Why `dataDir` cannot be restored into, or null when it is absent or empty. */
function occupied(dataDir: string): string | null {
  if (dataDirHeld(dataDir)) return `${dataDir} is in use by a running Nasty server; stop it, and restore into an empty data directory`;
  let entries: string[];
  try {
    entries = fs.readdirSync(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    return `${dataDir} cannot be read (${errorCode(error)})`;
  }
  if (entries.length === 0) return null;
  const shown = entries.sort().slice(0, 5).join(", ");
  return `${dataDir} is not empty (${shown}${entries.length > 5 ? ", …" : ""}); restore only fills an empty data directory`;
}

/**
 * Fills the empty (or absent) `dataDir` from the backup `file`: everything is unpacked and
 * checked in a staging folder inside it, then moved into place; on any problem the staging
 * folder (and the directory, if restore made it) is removed and nothing else was written.
 */
export function restoreBackup(file: string, dataDir: string): Promise<{ lastSeq: number; files: BackupFile[] }> {
  return asBackupError(() => restoreInto(file, dataDir));
}

async function restoreInto(file: string, dataDir: string): Promise<{ lastSeq: number; files: BackupFile[] }> {
  const source = path.resolve(file);
  const target = path.resolve(dataDir);
  try {
    if (!fs.statSync(source).isFile()) throw new BackupError(`${source} is not a file`);
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw new BackupError(`cannot read ${source}: ${errorCode(error)}`);
  }
  const refusal = occupied(target);
  if (refusal) throw new BackupError(refusal);
  const created = !fs.existsSync(target);
  if (created) fs.mkdirSync(target, { recursive: true, mode: 0o700 });
  const release = lockDataDir(target);
  const staging = fs.mkdtempSync(path.join(target, ".restore-"));
  let restored = false;
  try {
    const manifest = await unpackBackup(source, staging);
    checkRestoredLog(source, staging, manifest);
    for (const entry of manifest.files) {
      const to = path.join(target, entry.name);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.renameSync(path.join(staging, entry.name), to);
    }
    fsyncFolder(target);
    restored = true;
    return { lastSeq: manifest.last_seq, files: manifest.files };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    release();
    // The directory was empty and locked by this restore: a failed one leaves it empty again (or absent).
    if (!restored) {
      for (const entry of fs.readdirSync(target)) fs.rmSync(path.join(target, entry), { recursive: true, force: true });
      if (created) fs.rmdirSync(target);
    }
  }
}
