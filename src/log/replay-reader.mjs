// The replay reader thread: reads the log in chunks ahead of the replaying main thread, in seq order.
// Plain JavaScript so it loads in a worker without a TypeScript loader; its protocol is described in sqlite.ts.
import { workerData } from "node:worker_threads";
import Database from "better-sqlite3";

const { file, afterSeq: startAfterSeq, chunkSql, chunkEvents, chunksAheadMax, signal, port } = workerData;
/** Indexes into `signal` (an Int32Array over shared memory), as in sqlite.ts. */
const PRODUCED = 0;
const CONSUMED = 1;
const FINISHED = 2;
const counters = new Int32Array(signal);

function post(message) {
  port.postMessage(message);
  Atomics.add(counters, PRODUCED, 1);
  Atomics.notify(counters, PRODUCED);
}

// Whatever ends this thread (done, an error, being terminated), the main thread stops waiting for it.
process.on("exit", () => {
  Atomics.store(counters, FINISHED, 1);
  Atomics.notify(counters, PRODUCED);
});

try {
  const db = new Database(file, { readonly: true });
  const chunk = db.prepare(chunkSql).raw();
  let afterSeq = startAfterSeq;
  for (let produced = 0; ; produced += 1) {
    // Stay at most chunksAheadMax chunks ahead: memory stays bounded however long the log is.
    for (;;) {
      const consumed = Atomics.load(counters, CONSUMED);
      if (produced - consumed < chunksAheadMax) break;
      Atomics.wait(counters, CONSUMED, consumed);
    }
    const [text, lastSeq] = chunk.get(afterSeq, Number.MAX_SAFE_INTEGER, chunkEvents);
    if (text === null) break;
    post(text);
    afterSeq = lastSeq;
  }
  db.close();
  post(null);
} catch (error) {
  post({ error: error instanceof Error ? error.message : String(error) });
}
port.close();
