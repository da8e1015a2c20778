// Deleted means erased: after a snapshot (or `nasty compact`), what was deleted is in no file of the data directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startTestServer, tempDir } from "./support/server.ts";
import { eraseSome, findInFiles, KEPT, MARKERS } from "./support/erasure.ts";

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir }, encoding: "utf8", timeout: 60_000 });
}

test("after delete and the next snapshot, the deleted bookmark, comment and account are in no file of the data directory", async () => {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    await eraseSome(server);
    assert.deepEqual(MARKERS.filter((marker) => findInFiles(dataDir, [marker]).length === 0), [], "before the snapshot, every marker is still in the log");
    await server.snapshots.takeInBackground();
    assert.deepEqual(findInFiles(dataDir, MARKERS), [], "after it, none is in any file (log, WAL, snapshot)");
    assert.ok(findInFiles(dataDir, [KEPT]).length > 0, "what stays is still on disk (the search above can find things)");
    assert.equal(server.log.stats().compactedThrough, server.snapshots.status().last_seq);
  } finally {
    await server.close();
  }
  assert.deepEqual(findInFiles(dataDir, MARKERS), []);
  const again = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.deepEqual([...again.store.usersById.values()].map((user) => user.username).sort(), ["alice", "bob"]);
    assert.equal(again.store.commentCount, 0);
  } finally {
    await again.close();
  }
});

test("nasty compact erases at once; while a server holds the data directory it refuses, saying so", async () => {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  // Held off, as a backup would: the shutdown snapshot is written but nothing is dropped behind it.
  const release = server.snapshots.holdCompaction();
  try {
    await eraseSome(server);
    const refused = cli(dataDir, "compact");
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /in use by a running Nasty server .*stop it first/);
  } finally {
    await server.close();
    release();
  }
  assert.equal(findInFiles(dataDir, MARKERS).length, MARKERS.length, "compaction was held: the log still has every marker");
  const compacted = cli(dataDir, "compact");
  assert.equal(compacted.status, 0, compacted.stderr);
  assert.match(compacted.stdout, /snapshot snapshot-\d{16}\.nasty at seq \d+; log rows \d+ -> 0, compacted through seq \d+/);
  assert.deepEqual(findInFiles(dataDir, MARKERS), []);
  assert.ok(findInFiles(dataDir, [KEPT]).length > 0);
});

test("nasty user delete erases an account through the log", async () => {
  const dataDir = tempDir();
  assert.equal(cli(dataDir, "user", "add", "zqxgonezqx", "--password", "correct horse").status, 0);
  const deleted = cli(dataDir, "user", "delete", "zqxgonezqx");
  assert.equal(deleted.status, 0, deleted.stderr);
  assert.match(deleted.stdout, /deleted user zqxgonezqx/);
  assert.equal(cli(dataDir, "user", "delete", "zqxgonezqx").status, 2, "a second time there is no such user");
  assert.ok(findInFiles(dataDir, ["zqxgonezqx"]).length > 0, "until compaction the log holds the name");
  assert.equal(cli(dataDir, "compact").status, 0);
  assert.deepEqual(findInFiles(dataDir, ["zqxgonezqx"]), []);
});
