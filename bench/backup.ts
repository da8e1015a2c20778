// `npx tsx bench/backup.ts [EVENTS]`: how much a backup slows one writer appending to the log, against the same writer with no copy running.
// Not a step of run.ts yet: it prints its own table. The whole `nasty backup` (VACUUM INTO on a thread, then
// packing and syncing) is compared with a bare VACUUM INTO on a thread, the copy alone.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { EventBody } from "../src/events.ts";
import { SqliteLog } from "../src/log/sqlite.ts";
import { writeBackup } from "../src/log/backup.ts";

const EVENTS = Number(process.argv[2] ?? 200_000);
const FILL_BATCH_EVENTS = 1000;
/** The writer's quiet window before each copy: the baseline it is compared with. */
const BASELINE_MS = 2000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-bench-backup-"));
const out = fs.mkdtempSync(path.join(os.tmpdir(), "nasty-bench-backup-out-"));
const log = new SqliteLog({ file: path.join(dir, "events.sqlite3"), nodeId: 1, onCommitted: () => {}, queueEventsMax: 100_000 });
const body = {
  type: "bookmark.created",
  payload: { id: 1, user_id: 1, url: "https://example.com/some/path?x=1", title: "A title of moderate length for a bookmark", description: "d".repeat(150), public: true, tags: ["a", "b", "c"] },
} as unknown as EventBody;

function quantiles(values: number[]): { count: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 };
}

/** One writer appending one event at a time: latencies in the quiet window, then while `copy` runs. */
async function writerAround(copy: () => Promise<unknown>) {
  const latencies: number[] = [];
  let stopped = false;
  const writer = (async () => {
    while (!stopped) {
      const started = performance.now();
      await log.append([body]);
      latencies.push(performance.now() - started);
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
  const baselineCount = latencies.length;
  const started = performance.now();
  await copy();
  const copyMs = performance.now() - started;
  stopped = true;
  await writer;
  return { copyMs, baseline: quantiles(latencies.slice(0, baselineCount)), during: quantiles(latencies.slice(baselineCount)) };
}

function vacuumInto(target: string): Promise<void> {
  const source = `import { workerData, parentPort } from "node:worker_threads"; import Database from "better-sqlite3";
const db = new Database(workerData.source); db.prepare("VACUUM INTO ?").run(workerData.target); db.close(); parentPort.postMessage("done");`;
  const worker = new Worker(source, { eval: true, workerData: { source: path.join(dir, "events.sqlite3"), target } });
  return new Promise((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
}

try {
  for (let filled = 0; filled < EVENTS; filled += FILL_BATCH_EVENTS) await Promise.all(Array.from({ length: FILL_BATCH_EVENTS }, () => log.append([body])));
  console.log(`log: ${log.lastSeq} events, ${(log.stats().bytes / 1e6).toFixed(1)} MB`);
  const rows = [
    ["nasty backup (copied, packed and synced)", await writerAround(() => writeBackup({ dataDir: dir, holdCompaction: () => () => {} }, path.join(out, "bench.nasty")))],
    ["bare VACUUM INTO on a thread (synced)", await writerAround(() => vacuumInto(path.join(out, "vacuum.sqlite3")))],
  ] as const;
  const ms = (value: number) => value.toFixed(2);
  console.log("| copy | copy ms | appends quiet / during | p50 ms quiet / during | p99 ms quiet / during | max ms quiet / during |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [name, { copyMs, baseline, during }] of rows) {
    console.log(`| ${name} | ${copyMs.toFixed(0)} | ${baseline.count} / ${during.count} | ${ms(baseline.p50)} / ${ms(during.p50)} | ${ms(baseline.p99)} / ${ms(during.p99)} | ${ms(baseline.max)} / ${ms(during.max)} |`);
  }
} finally {
  await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(out, { recursive: true, force: true });
}
