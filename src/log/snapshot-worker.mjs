// The snapshot thread's entry: loads the TypeScript job (snapshot-job.ts) through tsx, as the server itself runs.
import { register } from "tsx/esm/api";

register();
await import("./snapshot-job.ts");
