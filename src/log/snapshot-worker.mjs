// The snapshot thread's entry: loads the TypeScript job it is given (src/search/snapshot-job.ts) through tsx, as the server itself runs.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.job);
