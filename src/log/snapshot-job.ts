// The snapshot thread's work: the last snapshot plus the log up to a seq, folded into a store of its own and written out.
import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { upgradeEvent } from "../event-upgrade.ts";
import { Store } from "../store/store.ts";
import { loadSnapshotFile, writeSnapshotFile } from "./snapshot-file.ts";

interface Job {
  dataDir: string;
  logFile: string;
  /** The snapshot to start from, or null: the log from its first event. */
  fromFile: string | null;
  toSeq: number;
  dataDirId: string;
  nodeId: number;
}

/** Log rows read per statement. */
const ROWS_PER_READ = 4096;

function run(job: Job): ReturnType<typeof writeSnapshotFile> {
  const store = job.fromFile === null ? new Store(job.nodeId) : loadSnapshotFile(job.fromFile, job.dataDirId, job.nodeId).store;
  const db = new Database(job.logFile, { readonly: true });
  try {
    const read = db.prepare("SELECT seq, type, v, ts, node, payload FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?").raw();
    for (;;) {
      const rows = read.all(store.lastSeq, job.toSeq, ROWS_PER_READ) as [number, string, number, number, number, string][];
      if (rows.length === 0) break;
      for (const [seq, type, v, ts, node, payload] of rows) {
        if (seq !== store.lastSeq + 1) throw new Error(`the log does not follow seq ${store.lastSeq}: it holds seq ${seq} next`);
        store.apply(upgradeEvent({ seq, type, v, ts, node, payload: JSON.parse(payload) }));
      }
    }
  } finally {
    db.close();
  }
  if (store.lastSeq !== job.toSeq) throw new Error(`the log ends at seq ${store.lastSeq}, before ${job.toSeq}`);
  return writeSnapshotFile(job.dataDir, store, job.dataDirId);
}

// One job per message, one at a time (the Snapshotter sends the next only after this one answered).
parentPort!.on("message", (job: Job) => {
  try {
    parentPort!.postMessage({ ok: true, written: run(job) });
  } catch (error) {
    parentPort!.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
