// The snapshot thread's work: the last snapshot (store and search index) plus the log up to a seq, folded into a state of its own and written out.
import { parentPort } from "node:worker_threads";
import Database from "better-sqlite3";
import { upgradeEvent } from "../event-upgrade.ts";
import { Store } from "../store/store.ts";
import { loadSnapshotFile, writeSnapshotFile } from "../log/snapshot-file.ts";
import { SearchIndex } from "./index.ts";
import { loadSearchSection, searchSections } from "./snapshot-section.ts";

/**
 * This module sits in search/ (above log/, which runs it through Snapshotter's `job`) because the
 * state it folds is the store and the search index that follows it.
 */
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

/** The state the job starts from: the snapshot's store and index (the index built from the store when the snapshot has none that reads). */
async function startingState(job: Job): Promise<{ store: Store; search: SearchIndex }> {
  if (job.fromFile === null) {
    const store = new Store(job.nodeId);
    const search = new SearchIndex(store);
    search.buildNow();
    return { store, search };
  }
  const loaded = await loadSnapshotFile(job.fromFile, job.dataDirId, job.nodeId);
  const quiet = () => {};
  let search = loadSearchSection(loaded.store, loaded.sections, quiet);
  if (search === null) {
    search = new SearchIndex(loaded.store);
    search.buildNow();
  }
  return { store: loaded.store, search };
}

async function run(job: Job): Promise<ReturnType<typeof writeSnapshotFile>> {
  const { store, search } = await startingState(job);
  const db = new Database(job.logFile, { readonly: true });
  try {
    const read = db.prepare("SELECT seq, type, v, ts, node, payload FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?").raw();
    for (;;) {
      const rows = read.all(store.lastSeq, job.toSeq, ROWS_PER_READ) as [number, string, number, number, number, string][];
      if (rows.length === 0) break;
      for (const [seq, type, v, ts, node, payload] of rows) {
        if (seq !== store.lastSeq + 1) throw new Error(`the log does not follow seq ${store.lastSeq}: it holds seq ${seq} next`);
        const event = upgradeEvent({ seq, type, v, ts, node, payload: JSON.parse(payload) });
        const before = search.beforeApply(event);
        store.apply(event);
        search.afterApply(event, before);
      }
    }
  } finally {
    db.close();
  }
  if (store.lastSeq !== job.toSeq) throw new Error(`the log ends at seq ${store.lastSeq}, before ${job.toSeq}`);
  return writeSnapshotFile(job.dataDir, store, job.dataDirId, searchSections(search));
}

// One job per message, one at a time (the Snapshotter sends the next only after this one answered).
parentPort!.on("message", async (job: Job) => {
  try {
    parentPort!.postMessage({ ok: true, written: await run(job) });
  } catch (error) {
    parentPort!.postMessage({ ok: false, error: error instanceof Error ? error.message : String(error) });
  }
});
