// The checksum thread: the SHA-256 of byte ranges of a snapshot held in shared memory, so the thread that loads it is not held up hashing.
import { parentPort } from "node:worker_threads";
import { createHash } from "node:crypto";

/** Bytes hashed per call: a hash takes at most 2 GiB at once, and a 10M-bookmark store section is larger. */
const HASH_CHUNK_BYTES = 1 << 30;

function sha256Of(buffer, offset, length) {
  const hash = createHash("sha256");
  for (let start = 0; start < length; start += HASH_CHUNK_BYTES) hash.update(new Uint8Array(buffer, offset + start, Math.min(HASH_CHUNK_BYTES, length - start)));
  return hash.digest("hex");
}

parentPort.once("message", ({ buffer, ranges }) => {
  parentPort.postMessage(ranges.map(([offset, length]) => sha256Of(buffer, offset, length)));
});
