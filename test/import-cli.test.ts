// `npm run nasty -- import`: a file imported into the data directory's log, progress and problems printed, also through a running server.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { START_MS_MAX } from "./support/child-server.ts";
import { request, startTestServer, tempDir } from "./support/server.ts";
import { runCli } from "./support/cli.ts";

function cli(dataDir: string, ...args: string[]) {
  return spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { env: { ...process.env, NASTY_DATA_DIR: dataDir }, encoding: "utf8", timeout: START_MS_MAX });
}

test("import FILE --user NAME saves the file's bookmarks (private unless --public), prints progress and each skipped line, and skips duplicates next time", async () => {
  const dataDir = tempDir();
  const added = cli(dataDir, "user", "add", "alice");
  assert.equal(added.status, 0);
  const token = /^token: (\S+)$/m.exec(added.stdout)?.[1];
  assert.equal(typeof token, "string", added.stdout);
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

  const chosen = path.join(tempDir(), "public.html");
  fs.writeFileSync(chosen, `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><A HREF="https://public.example/">Chosen public</A>\n<DT><A HREF="https://marked.example/" PRIVATE="1">Marked private</A>\n</DL><p>\n`);
  const chosenRun = cli(dataDir, "import", chosen, "--user", "alice", "--public");
  assert.equal(chosenRun.status, 0, chosenRun.stderr);
  assert.match(chosenRun.stdout, /imported 2 of 2 bookmarks for alice/);

  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    const own = await request(server.url, "GET", "/api/bookmarks?user=alice&limit=4", { token });
    assert.deepEqual(own.json.data.map((item: any) => [item.title, item.tags, item.public]), [["Marked private", [], false], ["Chosen public", [], true], ["Entry 0", ["cli", "work"], false], ["Entry 1", ["cli", "work"], false]], "a newest-first file is saved from its end; without --public a file with no PRIVATE marks is private");
    const anonymous = await request(server.url, "GET", "/api/bookmarks?user=alice&limit=100");
    assert.deepEqual(anonymous.json.data.map((item: any) => item.title), ["Chosen public"], "only what --public made public is seen by others");
    const later = path.join(tempDir(), "later.html");
    fs.writeFileSync(later, `<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><A HREF="https://later.example/">Imported while running</A>\n</DL><p>\n`);
    const live = await runCli(dataDir, ["import", later, "--user", "alice", "--public"]);
    assert.equal(live.status, 0, live.stderr);
    assert.match(live.stdout, /imported 1 of 1 bookmarks for alice/);
    const seen = await request(server.url, "GET", "/api/bookmarks?user=alice&limit=1");
    assert.deepEqual(seen.json.data.map((item: any) => item.title), ["Imported while running"], "the running server imported it and answers with it at once");
  } finally {
    await server.close();
  }
});
