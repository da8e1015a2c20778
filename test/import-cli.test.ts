// `npm run nasty -- import`: a file imported into the data directory's log, progress and problems printed, refused while a server runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { request, startTestServer, tempDir } from "./support/server.ts";

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir }, encoding: "utf8", timeout: 60_000 });
}

test("import FILE --user NAME saves the file's bookmarks, prints progress and each skipped line, and skips duplicates next time", async () => {
  const dataDir = tempDir();
  assert.equal(cli(dataDir, "user", "add", "alice").status, 0);
  const count = 12_000;
  const lines = Array.from({ length: count }, (_, index) => `<DT><A HREF="https://cli.example/${index}" ADD_DATE="${1_600_000_000 - index}" TAGS="cli">Entry ${index}</A>\n`);
  lines.splice(3, 0, `<DT><A HREF="ftp://old.example/file">An FTP link</A>\n`);
  const file = path.join(tempDir(), "bookmarks.html");
  fs.writeFileSync(file, `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Work</H3>\n<DL><p>\n${lines.join("")}</DL><p>\n</DL><p>\n`);

  const first = cli(dataDir, "import", file, "--user", "alice");
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /^reading: \d+% of the file, 10,000 bookmarks so far$/m);
  assert.match(first.stderr, /^saving: 12,000 bookmarks checked and saved$/m);
  assert.match(first.stdout, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:8: 'ftp://old.example/file' is not an http\\(s\\) URL; skipped$`, "m"));
  assert.match(first.stdout, /imported 12000 of 12001 bookmarks for alice: 0 already saved, 1 skipped/);

  const again = cli(dataDir, "import", file, "--user", "alice", "--no-folders");
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /imported 0 of 12001 bookmarks for alice: 12000 already saved, 1 skipped/);

  assert.match(cli(dataDir, "import", file).stderr, /import needs --user NAME/);
  assert.match(cli(dataDir, "import", file, "--user", "nobody").stderr, /no user named nobody/);
  assert.match(cli(dataDir, "import", path.join(dataDir, "missing.html"), "--user", "alice").stderr, /cannot read .*ENOENT/);

  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    const listed = await request(server.url, "GET", "/api/bookmarks?user=alice&limit=2");
    assert.deepEqual(listed.json.data.map((item: any) => [item.title, item.tags]), [["Entry 0", ["cli", "work"]], ["Entry 1", ["cli", "work"]]], "a newest-first file is saved from its end");
    const busy = cli(dataDir, "import", file, "--user", "alice");
    assert.equal(busy.status, 2);
    assert.match(busy.stderr, /in use by a running Nasty server/);
  } finally {
    await server.close();
  }
});
