// The nasty CLI: creates users through the command path, and refuses to share a data directory with a server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request, startTestServer, tempDir } from "./support/server.ts";

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir, NASTY_SIGNUP: "closed" }, encoding: "utf8", timeout: 30_000 });
}

test("user add creates a user whose token works on the server, even with sign-up closed", async () => {
  const dataDir = tempDir();
  const created = cli(dataDir, "user", "add", "Alice");
  assert.equal(created.status, 0, created.stderr);
  assert.match(created.stdout, /created user alice/);
  assert.match(created.stdout, /password: \S{8,}/);
  const token = /token: (\S+)/.exec(created.stdout)![1]!;
  const again = cli(dataDir, "user", "add", "alice", "--password", "whatever1");
  assert.equal(again.status, 2);
  assert.match(again.stderr, /username has already been taken/);
  const bad = cli(dataDir, "user", "add", "no spaces allowed");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /username must be 3–32 characters/);
  assert.equal(cli(dataDir, "frobnicate").status, 2);

  const server = await startTestServer({ NASTY_DATA_DIR: dataDir, NASTY_SIGNUP: "closed" });
  try {
    const me = await request(server.url, "GET", "/api/me", { token });
    assert.equal(me.status, 200);
    assert.equal(me.json.user.username, "alice");
    const busy = cli(dataDir, "token", "add", "alice");
    assert.equal(busy.status, 2);
    assert.match(busy.stderr, /in use/);
  } finally {
    await server.close();
  }
  const second = cli(dataDir, "token", "add", "alice");
  assert.equal(second.status, 0, second.stderr);
  assert.notEqual(/token: (\S+)/.exec(second.stdout)![1], token);
});
