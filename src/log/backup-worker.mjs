// The backup copier thread: copies one live SQLite file with VACUUM INTO on its own connection, off the event loop.
// Plain JavaScript so it loads in a worker without a TypeScript loader; its use is described in backup.ts.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

if (parentPort === null) throw new Error("backup-worker must run as a worker thread");
const { source, target } = workerData;

try {
  const db = new Database(source, { fileMustExist: true });
  try {
    // The copy is a staging file, packed and synced afterwards: no fsync of its own to queue the log's commits behind.
    db.pragma("synchronous = OFF");
    db.prepare("VACUUM INTO ?").run(target);
  } finally {
    db.close();
  }
  const copy = new Database(target);
  let lastSeq = 0;
  try {
    // One self-contained file (no -wal beside it); the server turns WAL back on when it opens it.
    copy.pragma("journal_mode = DELETE");
    const hasEvents = copy.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'events'").pluck().get() === 1;
    if (hasEvents) lastSeq = copy.prepare("SELECT coalesce(max(seq), 0) FROM events").pluck().get();
  } finally {
    copy.close();
  }
  parentPort.postMessage({ ok: true, lastSeq });
} catch (error) {
  parentPort.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
}
