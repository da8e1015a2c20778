// Backup and restore: a backup taken while a writer hammers the server holds every acknowledged write, restores into an empty directory, and answers like the original did at its last seq; damaged backups are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { createBookmark, request, signUp, startTestServer, tempDir } from "./support/server.ts";
import { runCli } from "./support/cli.ts";
import { writeBackup } from "../src/log/backup.ts";

/** Bookmarks the writer creates at most, per loop: the hammer stops earlier when told. */
const HAMMER_WRITES_MAX = 4000;
const HAMMER_LOOPS = 3;

interface Hammer {
  acknowledged: number[];
  stop(): Promise<void>;
}

/** Loops posting bookmarks for the given users until stopped; `acknowledged` grows as each 201 arrives. */
function hammer(url: string, tokens: string[]): Hammer {
  const acknowledged: number[] = [];
  let stopped = false;
  const loops = Array.from({ length: HAMMER_LOOPS }, async (_, loop) => {
    for (let index = 0; index < HAMMER_WRITES_MAX && !stopped; index += 1) {
      const token = tokens[(loop + index) % tokens.length]!;
      const bookmark = await createBookmark(url, token, { url: `https://hammer.example/${loop}/${index}`, title: `Hammer ${loop}.${index}`, tags: ["hammer", `loop${loop}`], public: index % 3 !== 0 });
      acknowledged.push(bookmark.id);
    }
  });
  return {
    acknowledged,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 600 && !condition(); round += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

async function allPages(url: string, query: string, token?: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 200; page += 1) {
    const reply = await request(url, "GET", `/api/bookmarks?limit=100&${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { token });
    assert.equal(reply.status, 200, reply.text);
    items.push(...reply.json.data);
    cursor = reply.json.next_cursor;
    if (!cursor) return items;
  }
  assert.fail(`more than 200 pages for ${query}`);
}

/** What anonymous, alice and bob are answered on the surfaces a restore must keep. */
async function answers(url: string, tokens: Record<string, string>, bookmarkIds: number[]): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {};
  for (const [who, token] of [["anonymous", undefined], ["alice", tokens.alice], ["bob", tokens.bob]] as const) {
    seen[`${who} firehose`] = await allPages(url, "", token);
    seen[`${who} alice's`] = await allPages(url, "user=alice", token);
    seen[`${who} bob's`] = await allPages(url, "user=bob", token);
    seen[`${who} tags`] = (await request(url, "GET", "/api/tags?limit=1000", { token })).json;
    seen[`${who} me`] = (await request(url, "GET", "/api/me", { token })).json;
    for (const id of bookmarkIds) {
      const one = await request(url, "GET", `/api/bookmarks/${id}`, { token });
      const comments = await request(url, "GET", `/api/bookmarks/${id}/comments`, { token });
      seen[`${who} bookmark ${id}`] = [one.status, one.json, comments.status, comments.json];
    }
  }
  return seen;
}

test("a backup under concurrent writes holds every acknowledged write, and its restore answers like the original at its last seq", async () => {
  const originalDir = tempDir();
  const workDir = tempDir("nasty-backup-work-");
  const original = await startTestServer({ NASTY_DATA_DIR: originalDir });
  const tokens: Record<string, string> = {};
  const snapshotBytes = Buffer.from(Array.from({ length: 3000 }, (_, index) => (index * 7) % 256));
  let lastSeq = 0;
  let acknowledgedBefore: number[] = [];
  let wholeLogDir = "";
  const marked: number[] = [];
  try {
    tokens.alice = await signUp(original.url, "alice", "alice password");
    tokens.bob = await signUp(original.url, "bob", "bob password");
    const shared = await createBookmark(original.url, tokens.alice, { url: "https://shared.example/", title: "Shared", tags: ["both"], public: true });
    const secret = await createBookmark(original.url, tokens.alice, { url: "https://secret.example/", title: "Alice's secret", public: false, unread: true });
    const bobs = await createBookmark(original.url, tokens.bob, { url: "https://bob.example/", title: "Bob's", tags: ["bob"], public: true });
    marked.push(shared.id, secret.id, bobs.id);
    assert.equal((await request(original.url, "POST", `/api/bookmarks/${shared.id}/comments`, { token: tokens.bob, body: { comment: { body: "from bob" } } })).status, 201);
    assert.equal((await request(original.url, "PATCH", `/api/bookmarks/${bobs.id}`, { token: tokens.bob, body: { bookmark: { title: "Bob's, edited" } } })).status, 200);
    // A state file beside the log, like a snapshot: a backup carries every state file of the directory.
    fs.mkdirSync(path.join(originalDir, "snapshots"));
    fs.writeFileSync(path.join(originalDir, "snapshots", "state-1.bin"), snapshotBytes);

    const writer = hammer(original.url, [tokens.alice, tokens.bob]);
    wholeLogDir = tempDir();
    await waitFor(() => writer.acknowledged.length >= 60, "the writer's first acknowledgements");
    acknowledgedBefore = [...writer.acknowledged];
    const backup = await runCli(originalDir, ["backup", "during.nasty"], { cwd: workDir });
    const acknowledgedDuring = writer.acknowledged.length - acknowledgedBefore.length;
    await waitFor(() => writer.acknowledged.length >= acknowledgedBefore.length + acknowledgedDuring + 20, "writes after the backup");
    await writer.stop();
    assert.equal(backup.status, 0, backup.stderr);
    const written = /^backup written to (.+): 2 files, \d+ bytes, up to seq (\d+)$/m.exec(backup.stdout);
    assert.ok(written, backup.stdout);
    assert.equal(written[1], path.join(workDir, "during.nasty"));
    lastSeq = Number(written[2]);
    assert.ok(lastSeq < original.store.lastSeq, "the writer went on during and after the backup");
    // The original's whole log as it is now (a clean shutdown snapshots and compacts it), copied through SQLite's online backup.
    const reader = new Database(path.join(originalDir, "events.sqlite3"), { readonly: true });
    try {
      await reader.backup(path.join(wholeLogDir, "events.sqlite3"));
    } finally {
      reader.close();
    }
  } finally {
    await original.close();
  }

  const manifest = JSON.parse(fs.readFileSync(path.join(workDir, "during.nasty"), "latin1").split("\n", 2)[1]!);
  assert.deepEqual(manifest.files.map((file: { name: string }) => file.name), ["snapshots/state-1.bin", "events.sqlite3"], "snapshot files are copied first, the log last");
  assert.equal(manifest.last_seq, lastSeq);
  const restoredDir = path.join(tempDir(), "restored");
  const restored = await runCli(restoredDir, ["restore", path.join(workDir, "during.nasty")]);
  assert.equal(restored.status, 0, restored.stderr);
  assert.equal(restored.stdout, `restored 2 files into ${restoredDir}, up to seq ${lastSeq}\n`);
  assert.deepEqual(fs.readFileSync(path.join(restoredDir, "snapshots", "state-1.bin")), snapshotBytes);

  // The original as it was at the backup's last seq: its log with every later event removed.
  const expectedDir = wholeLogDir;
  const db = new Database(path.join(expectedDir, "events.sqlite3"));
  const removed = db.prepare("DELETE FROM events WHERE seq > ?").run(lastSeq).changes;
  db.close();
  assert.ok(removed > 0);

  const fromBackup = await startTestServer({ NASTY_DATA_DIR: restoredDir });
  const atLastSeq = await startTestServer({ NASTY_DATA_DIR: expectedDir });
  try {
    assert.equal(fromBackup.store.lastSeq, lastSeq);
    for (const id of acknowledgedBefore) {
      const owner: string = (await request(fromBackup.url, "GET", `/api/bookmarks/${id}`, { token: tokens.alice })).status === 200 ? "alice" : "bob";
      assert.equal((await request(fromBackup.url, "GET", `/api/bookmarks/${id}`, { token: tokens[owner] })).status, 200, `bookmark ${id}, acknowledged before the backup began, is in it`);
    }
    const sample = [...marked, ...acknowledgedBefore.slice(0, 5), ...acknowledgedBefore.slice(-5)];
    assert.deepEqual(await answers(fromBackup.url, tokens, sample), await answers(atLastSeq.url, tokens, sample));
    assert.equal((await request(fromBackup.url, "POST", "/api/tokens", { body: { username: "bob", password: "bob password" } })).status, 201, "passwords are restored");
  } finally {
    await fromBackup.close();
    await atLastSeq.close();
  }
});

test("restore refuses a damaged, truncated or foreign file and an occupied directory, leaving nothing behind", async () => {
  const dataDir = tempDir();
  const workDir = tempDir("nasty-backup-work-");
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  let holds = 0;
  let released = 0;
  try {
    await signUp(server.url, "alice");
    const file = path.join(workDir, "good.nasty");
    // In this process: the hold on compaction is taken for the copy and given back.
    const result = await writeBackup({ dataDir, holdCompaction: () => ((holds += 1), () => (released += 1)) }, file);
    assert.equal(result.lastSeq, server.store.lastSeq);
    assert.deepEqual([holds, released], [1, 1]);
    await assert.rejects(writeBackup({ dataDir, holdCompaction: () => () => {} }, path.join(dataDir, "inside.nasty")), /inside the data directory/);
  } finally {
    await server.close();
  }
  const good = fs.readFileSync(path.join(workDir, "good.nasty"));
  const variants: [string, Buffer, RegExp][] = [
    ["flipped.nasty", Buffer.from(good.map((byte, index) => (index === good.length - 200 ? byte ^ 0x01 : byte))), /is damaged: the checksum of events\.sqlite3 does not match its manifest/],
    ["truncated.nasty", good.subarray(0, good.length - 1000), /is damaged: its manifest lists \d+ bytes of files, it holds \d+ \(truncated or appended to\)/],
    ["trailer.nasty", Buffer.concat([good.subarray(0, good.length - 10), Buffer.from("0123456789")]), /is damaged: its last line is not "SHA256 <checksum>"|its checksum does not match/],
    ["foreign.nasty", Buffer.from("PK\u0003\u0004 this is some zip file, not a backup, long enough to be checked ".repeat(4)), /is not a Nasty backup \(it does not begin with "NASTY-BACKUP 1"\)/],
    ["manifest.nasty", Buffer.concat([Buffer.from('NASTY-BACKUP 1\n{"format":1,"created_at":"x","last_seq":0,"files":[{"name":"../escape","bytes":0,"sha256":"' + "0".repeat(64) + '"}]}\n'), Buffer.from(`SHA256 ${"0".repeat(64)}\n`)]), /lists a file with a name that is not allowed: "\.\.\/escape"/],
  ];
  for (const [name, bytes, problem] of variants) {
    fs.writeFileSync(path.join(workDir, name), bytes);
    const target = path.join(tempDir(), "fresh");
    const run = await runCli(target, ["restore", path.join(workDir, name)]);
    assert.equal(run.status, 2, `${name}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, problem, name);
    assert.equal(fs.existsSync(target), false, `${name}: nothing is left behind`);
  }

  const emptyTarget = tempDir();
  const damaged = await runCli(emptyTarget, ["restore", path.join(workDir, "flipped.nasty")]);
  assert.equal(damaged.status, 2);
  assert.deepEqual(fs.readdirSync(emptyTarget), [], "an empty directory stays empty");
  const occupied = await runCli(dataDir, ["restore", path.join(workDir, "good.nasty")]);
  assert.equal(occupied.status, 2);
  assert.match(occupied.stderr, /is not empty \(events\.sqlite3.*\); restore only fills an empty data directory/);
  const missing = await runCli(emptyTarget, ["restore", path.join(workDir, "absent.nasty")]);
  assert.match(missing.stderr, /cannot read .*absent\.nasty: ENOENT/);
  const restored = await runCli(emptyTarget, ["restore", path.join(workDir, "good.nasty")]);
  assert.equal(restored.status, 0, restored.stderr);
});

test("a backup of a compacted data folder says the seq its snapshot stands for, not the empty log's 0, and so does its restore", async () => {
  const dataDir = tempDir();
  const workDir = tempDir();
  assert.equal((await runCli(dataDir, ["user", "add", "alice", "--password", "correct horse"])).status, 0);
  const compacted = await runCli(dataDir, ["compact"]);
  const seq = Number(/^snapshot \S+ at seq (\d+); log rows \d+ -> 0,/m.exec(compacted.stdout)?.[1]);
  assert.ok(seq > 0, compacted.stdout);
  const backup = await runCli(dataDir, ["backup", "compacted.nasty"], { cwd: workDir });
  assert.equal(backup.status, 0, backup.stderr);
  assert.match(backup.stdout, new RegExp(`^backup written to .+: 2 files, \\d+ bytes, up to seq ${seq}$`, "m"));
  const restoredDir = path.join(tempDir(), "restored");
  const restored = await runCli(restoredDir, ["restore", path.join(workDir, "compacted.nasty")]);
  assert.equal(restored.status, 0, restored.stderr);
  assert.equal(restored.stdout, `restored 2 files into ${restoredDir}, up to seq ${seq}\n`);
});
