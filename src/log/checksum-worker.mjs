// The checksum thread: the SHA-256 of byte ranges of a snapshot held in shared memory, so the thread that loads it is not held up hashing.
import { parentPort } from "node:worker_threads";
import { createHash } from "node:crypto";

parentPort.once("message", ({ buffer, ranges }) => {
  parentPort.postMessage(ranges.map(([offset, length]) => createHash("sha256").update(new Uint8Array(buffer, offset, length)).digest("hex")));
});
