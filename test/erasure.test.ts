// Deleted means erased: after a snapshot (or `nasty compact`), what was deleted is in no file of the data directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { startTestServer, tempDir } from "./support/server.ts";
import { START_MS_MAX } from "./support/child-server.ts";
import { eraseSome, findInFiles, KEPT, MARKERS } from "./support/erasure.ts";

/** The CLI without blocking this process's event loop (a server under test lives in it and answers the CLI's socket). */
function cliAsync(dataDir: string, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir }, encoding: "utf8", timeout: START_MS_MAX }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir }, encoding: "utf8", timeout: START_MS_MAX });
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

test("nasty compact erases at once, inside the running server (over its socket) as on a directory no server holds", async () => {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    await eraseSome(server);
    assert.equal(findInFiles(dataDir, MARKERS).length, MARKERS.length, "until compaction the log has every marker");
    const compacted = await cliAsync(dataDir, "compact");
    assert.equal(compacted.status, 0, compacted.stderr);
    assert.match(compacted.stdout, /snapshot snapshot-\d{16}\.nasty at seq \d+; log rows \d+ -> 0, compacted through seq \d+/);
    assert.deepEqual(findInFiles(dataDir, MARKERS), []);
    assert.ok(findInFiles(dataDir, [KEPT]).length > 0);
  } finally {
    await server.close();
  }

  const offlineDir = tempDir();
  const second = await startTestServer({ NASTY_DATA_DIR: offlineDir });
  // Held off, as a backup would: the shutdown snapshot is written but nothing is dropped behind it.
  const release = second.snapshots.holdCompaction();
  try {
    await eraseSome(second);
  } finally {
    await second.close();
    release();
  }
  assert.equal(findInFiles(offlineDir, MARKERS).length, MARKERS.length, "compaction was held: the log still has every marker");
  const offline = cli(offlineDir, "compact");
  assert.equal(offline.status, 0, offline.stderr);
  assert.match(offline.stdout, /snapshot snapshot-\d{16}\.nasty at seq \d+; log rows \d+ -> 0, compacted through seq \d+/);
  assert.deepEqual(findInFiles(offlineDir, MARKERS), []);
  assert.ok(findInFiles(offlineDir, [KEPT]).length > 0);
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
