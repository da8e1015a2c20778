// Guards postgres.js 3.4.9 against writing to a closed connection (run by `npm install` as postinstall; lives in src/log beside the Postgres code it protects, as the agreed top level has no scripts folder).
//
// Its connection batches small writes behind a setImmediate. Two defects, reported upstream
// (porsager/postgres#1154, #1208; fixes #1168, #1176, #1209 unreleased) and met by cluster mode
// whenever Postgres restarts or a connection is cut:
// - A statement sent on a transaction's connection after it closed (the next statement of a
//   sql.begin callback, or the ROLLBACK postgres.js sends itself when the callback fails) is
//   written to a null socket from the immediate: a TypeError no caller can catch, which ends
//   the process.
// - Closing clears the pending immediate without forgetting it, so the connection never
//   schedules a write again: its reconnects hang until connect_timeout, about ten times over,
//   before the stale bytes happen to be flushed. A node then stays cut off from its log.
// The guard (as upstream's #1176 plus the second fix): a pending write whose socket went away is
// dropped (what it carried belongs to a session that is gone; a transaction on that connection has
// already failed with CONNECTION_CLOSED), and closing forgets the pending write.
// Idempotent; leaves a file alone (saying so) when it no longer has the code it guards.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const MARK = "/* nasty: closed-connection guard (src/log/postgres-patch.mjs) */";
const EDITS = [
  ["  function nextWrite(fn) {\n", `  function nextWrite(fn) {\n    ${MARK}\n    if (!socket) return chunk = nextWriteTimer = null, true\n`],
  ["    clearImmediate(nextWriteTimer)\n    if (socket) {\n", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {\n"],
  ["    clearImmediate(nextWriteTimer)\n    socket.removeListener('data', data)\n", "    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener('data', data)\n"],
];

for (const dir of ["src", "cjs/src", "cf/src"]) {
  const file = new URL(`../../node_modules/postgres/${dir}/connection.js`, import.meta.url);
  if (!existsSync(file)) continue;
  let text = readFileSync(file, "utf8");
  if (text.includes("/* nasty: closed-connection guard")) continue; // patched already (also by an earlier path of this file)
  const missing = EDITS.filter(([from]) => text.split(from).length !== 2);
  if (missing.length > 0) {
    console.warn(`postgres-patch: postgres/${dir}/connection.js is not the code this guards (a newer postgres.js?); left as it is`);
    continue;
  }
  for (const [from, to] of EDITS) text = text.replace(from, to);
  writeFileSync(file, text);
}
