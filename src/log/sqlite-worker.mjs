// The SQLite writer thread: runs each group-committed batch as one fsynced transaction off the event loop.
// Plain JavaScript so it loads in a worker without a TypeScript loader; its messages are typed in sqlite.ts.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";

if (parentPort === null) throw new Error("sqlite-worker must run as a worker thread");
const port = parentPort;
const { file, busyTimeoutMs, versions } = workerData;

const db = new Database(file);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma(`busy_timeout = ${Number(busyTimeoutMs)}`);
// Rows dropped by compaction are overwritten with zeros, not left in free pages (deleted means erased).
db.pragma("secure_delete = ON");
const insert = db.prepare("INSERT INTO events (seq, type, v, ts, node, payload) VALUES (?, ?, ?, ?, ?, ?)");
/** A BatchMessage of sqlite.ts: event i is line i of `types` and of `payloads`, with seq firstSeq + i and its type's version. */
const writeBatch = db.transaction((batch) => {
  const types = batch.types.split("\n");
  const payloads = batch.payloads.split("\n");
  if (types.length !== batch.count || payloads.length !== batch.count) throw new Error(`batch of ${batch.count} events arrived with ${types.length} types and ${payloads.length} payloads`);
  for (let index = 0; index < batch.count; index += 1) insert.run(batch.firstSeq + index, types[index], versions[types[index]], batch.ts, batch.node, payloads[index]);
});

const compactStep = db.transaction((throughSeq, rows) => {
  db.prepare("INSERT INTO meta (key, value) VALUES ('compacted_through', ?) ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))").run(String(throughSeq));
  return db.prepare("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? ORDER BY seq LIMIT ?)").run(throughSeq, rows).changes;
});

/**
 * This thread's guard for its timers (a worker cannot load src/guard.ts): a failure is written to
 * the process's error output with its stack, and the thread goes on serving the log.
 */
function guarded(name, fn) {
  return () => {
    try {
      fn();
    } catch (error) {
      console.error(`[sqlite writer] ${name} failed: ${error instanceof Error ? error.stack : String(error)}`);
    }
  };
}

/**
 * A CompactMessage of sqlite.ts: deletes rows up to `compact`, `rowsPerStep` per transaction, one
 * step per event-loop turn so the batches that arrive meanwhile commit between steps. The first
 * step records compacted_through with its deletion. At the end the WAL is checkpointed and
 * truncated (retried while a reader holds it), so no old frame keeps a dropped row.
 */
function compact(message, deletedBefore = 0, attempt = 0) {
  let rows = deletedBefore;
  try {
    if (attempt === 0) {
      const deleted = compactStep(message.compact, message.rowsPerStep);
      rows += deleted;
      if (deleted === message.rowsPerStep) {
        setImmediate(guarded("compaction step", () => compact(message, rows)));
        return;
      }
    }
    const [result] = db.pragma("wal_checkpoint(TRUNCATE)");
    if (result.busy !== 0 && attempt < 50) {
      setTimeout(guarded("WAL truncation retry", () => compact(message, rows, attempt + 1)), 20);
      return;
    }
    port.postMessage({ compacted: message.compact, error: null, rows, walTruncated: result.busy === 0 });
  } catch (error) {
    port.postMessage({ compacted: message.compact, error: error instanceof Error ? error.message : String(error), rows, walTruncated: false });
  }
}

/** Set when a batch fails: the batches already sent after it are refused (no gap in seq) until "resume". */
let refusing = false;

port.on("message", (message) => {
  if (message === "close") {
    db.close();
    port.close();
    return;
  }
  if (message === "resume") {
    refusing = false;
    return;
  }
  if (typeof message.compact === "number") {
    compact(message);
    return;
  }
  if (refusing) {
    port.postMessage({ id: message.id, ok: false, message: "an earlier batch failed to commit" });
    return;
  }
  try {
    writeBatch.immediate(message);
    port.postMessage({ id: message.id, ok: true });
  } catch (error) {
    refusing = true;
    port.postMessage({ id: message.id, ok: false, message: error instanceof Error ? error.message : String(error) });
  }
});
