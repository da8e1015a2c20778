// Child process of test/postgres.test.ts: a transaction statement sent after its connection closed must not end the process (src/log/postgres-patch.mjs).
import postgres from "postgres";

const url = process.argv[2];
let connectionClosed = () => {};
const sql = postgres(url, { max: 1, onnotice: () => {}, onclose: () => connectionClosed() });
const admin = postgres(url, { max: 1, onnotice: () => {} });
const timeout = setTimeout(() => {
  console.log("timed out");
  process.exit(2);
}, 20_000);
try {
  await sql.begin(async (tx) => {
    const [row] = await tx`SELECT pg_backend_pid() AS pid`;
    const closed = new Promise((resolve) => (connectionClosed = resolve));
    await admin`SELECT pg_terminate_backend(${row.pid})`;
    await closed;
    // postgres.js 3.4.9 wrote this to a null socket from a setImmediate: an uncatchable TypeError.
    await tx`SELECT 2`;
  });
  console.log("the transaction committed on a closed connection");
} catch (error) {
  console.log(`begin rejected: ${error.code}`);
}
// Give a deferred write the time to run (and crash, unguarded).
await new Promise((resolve) => setTimeout(resolve, 300));
clearTimeout(timeout);
console.log("alive");
process.exit(0);
