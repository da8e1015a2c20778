// One server per data directory: an exclusive SQLite lock that the operating system drops when the process dies.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export const LOCK_FILE = "nasty.lock.sqlite3";

const heldHere = new Set<string>();

export class DataDirLockedError extends Error {
  override name = "DataDirLockedError";
}

/**
 * Takes the lock on `dataDir` or throws DataDirLockedError at once; returns the release.
 *
 * The lock is SQLite's exclusive lock on `nasty.lock.sqlite3` (a POSIX record lock underneath),
 * held from the first write for as long as the connection stays open (`locking_mode=EXCLUSIVE`).
 * Taking it is one atomic step in the kernel, and the kernel drops it when the process ends,
 * however it ends (`kill -9` included): no pid file whose pid may be reused, no stale lock to
 * clean up. A second server on the same directory gets SQLITE_BUSY (busy timeout 0) and refuses.
 * The write that takes the lock records the holder's pid and start (for a person reading the file).
 */
export function lockDataDir(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  if (heldHere.has(file)) throw new DataDirLockedError(`${dataDir} is already in use by this process`);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = DELETE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since TEXT NOT NULL)");
    db.prepare("INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)").run(process.pid, new Date().toISOString());
    db.exec("COMMIT");
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code?.startsWith("SQLITE_BUSY")) {
      throw new DataDirLockedError(`${dataDir} is in use by a running Nasty server (it holds the lock on ${LOCK_FILE}); stop it first, or use its HTTP API`);
    }
    throw error;
  }
  heldHere.add(file);
  return () => {
    heldHere.delete(file);
    if (db.open) db.close();
  };
}

/** Whether another process holds `dataDir`'s lock: takes it and lets go at once when nobody does. */
export function dataDirHeld(dataDir: string): boolean {
  if (!fs.existsSync(path.join(dataDir, LOCK_FILE))) return false;
  try {
    lockDataDir(dataDir)();
    return false;
  } catch (error) {
    if (error instanceof DataDirLockedError) return true;
    throw error;
  }
}
