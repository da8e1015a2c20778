// Snapshots: start-up from a snapshot answers as from the log alone; damaged, truncated or foreign ones are refused; kill -9 while writing loses nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import Database from "better-sqlite3";
import { createBookmark, LogCapture, request, signUp, startServerProcess, startTestServer, tempDir } from "./support/server.ts";
import { snapshot } from "../src/store/check.ts";
import { listSnapshots } from "../src/log/snapshot-file.ts";
import type { Nasty } from "../src/main.ts";

const QUERIES = [
  "/api/bookmarks", "/api/bookmarks?limit=2", "/api/bookmarks?tag=rust", "/api/bookmarks?user=alice", "/api/bookmarks?user=bob",
  "/api/tags", "/api/tags?user=alice", "/api/bookmarks?url=https%3A%2F%2Fshared.example%2F", "/feeds/bookmarks.xml", "/u/alice", "/",
  // Search: words, a prefix, a phrase, an exclusion, operators, private words, and its page.
  "/api/bookmarks?q=rust", "/api/bookmarks?q=ru", "/api/bookmarks?q=%22rust%201%22", "/api/bookmarks?q=shared%20-web", "/api/bookmarks?q=secret",
  "/api/bookmarks?q=nice", "/api/bookmarks?q=gone", "/api/bookmarks?q=edited%20%23lang", "/api/bookmarks?q=site%3Ashared.example", "/search?q=rust",
];

async function answers(base: string, tokens: Record<string, string | undefined>, ids: number[]): Promise<unknown[]> {
  const result: unknown[] = [];
  for (const [who, token] of Object.entries(tokens)) {
    for (const pathname of [...QUERIES, ...ids.flatMap((id) => [`/api/bookmarks/${id}`, `/api/bookmarks/${id}/comments`])]) {
      const reply = await request(base, "GET", pathname, { token });
      // Pages carry per-request tokens (CSRF); the rest of them must be equal.
      result.push([who, pathname, reply.status, reply.json ?? reply.text.replace(/csrf[^"]*"[^"]*"/gi, "csrf")]);
    }
  }
  return result;
}

/** Some of everything: two users, public and private bookmarks, an edit, a delete, comments. */
async function someHistory(server: Nasty, round: number, tokens: { alice: string; bob: string }): Promise<number[]> {
  const ids: number[] = [];
  ids.push((await createBookmark(server.url, tokens.alice, { title: `Rust ${round}`, url: `https://rust.example/${round}`, tags: "rust,web" })).id);
  ids.push((await createBookmark(server.url, tokens.alice, { title: `Secret ${round}`, url: `https://shared.example/${round === 0 ? "" : round}`, tags: "rust", public: false })).id);
  ids.push((await createBookmark(server.url, tokens.bob, { title: `Shared ${round}`, url: `https://shared.example/${round === 0 ? "" : round}`, tags: "web" })).id);
  const gone = (await createBookmark(server.url, tokens.bob, { title: "Gone", url: `https://gone.example/${round}` })).id;
  await request(server.url, "PATCH", `/api/bookmarks/${ids[0]}`, { token: tokens.alice, body: { bookmark: { title: `Rust ${round} (edited)`, tags: ["rust", "lang"] } } });
  await request(server.url, "DELETE", `/api/bookmarks/${gone}`, { token: tokens.bob });
  await request(server.url, "POST", `/api/bookmarks/${ids[2]}/comments`, { token: tokens.alice, body: { body: `nice ${round}` } });
  await request(server.url, "POST", `/api/bookmarks/${ids[1]}/comments`, { token: tokens.alice, body: { body: "note to self" } });
  return ids;
}

function copyDir(from: string): string {
  const to = tempDir();
  for (const name of fs.readdirSync(from)) if (name !== "nasty.lock") fs.copyFileSync(path.join(from, name), path.join(to, name));
  return to;
}

test("a start from a snapshot (taken in the background) plus the log after it answers exactly as a start from the log alone", async () => {
  const dataDir = tempDir();
  const first = await startTestServer({ NASTY_DATA_DIR: dataDir });
  // Compaction held: the full log stays, so the same history can also start from the log alone.
  const release = first.snapshots.holdCompaction();
  const tokens = { alice: await signUp(first.url, "alice"), bob: await signUp(first.url, "bob") };
  const ids = await someHistory(first, 0, tokens);
  await first.snapshots.takeInBackground();
  const snapshotSeq = first.snapshots.status().last_seq;
  assert.equal(snapshotSeq, first.log.lastSeq, "the background snapshot stands for everything committed");
  ids.push(...(await someHistory(first, 1, tokens)));
  const viewers = { anonymous: undefined, ...tokens };
  const before = await answers(first.url, viewers, ids);
  const storeBefore = snapshot(first.store);
  await first.close();
  release();
  assert.ok(listSnapshots(dataDir).some((listing) => listing.seq === snapshotSeq), "the background snapshot is on disk");

  const fromSnapshot = copyDir(dataDir);
  for (const listing of listSnapshots(fromSnapshot)) if (listing.seq !== snapshotSeq) fs.rmSync(listing.file);
  const fromLog = copyDir(dataDir);
  for (const listing of listSnapshots(fromLog)) fs.rmSync(listing.file);

  for (const [how, dir, expectedSnapshotSeq] of [["snapshot + log tail", fromSnapshot, snapshotSeq], ["log alone", fromLog, 0], ["shutdown snapshot", dataDir, first.log.lastSeq]] as const) {
    const server = await startTestServer({ NASTY_DATA_DIR: dir });
    try {
      assert.equal(server.replayed.snapshotSeq, expectedSnapshotSeq, `${how}: started from the expected snapshot`);
      assert.equal(server.replayed.search, expectedSnapshotSeq === 0 ? "built" : "snapshot", `${how}: the search index was read from the snapshot when there was one`);
      await until(async () => (await request(server.url, "GET", "/readyz")).status === 200, `${how}: ready`);
      assert.equal(server.replayed.snapshotSeq + server.replayed.events, first.log.lastSeq, `${how}: every event is in`);
      assert.deepEqual(snapshot(server.store), storeBefore, `${how}: the store is the same`);
      assert.deepEqual(await answers(server.url, viewers, ids), before, `${how}: every answer is the same`);
      const next = await createBookmark(server.url, tokens.alice, { title: "After restart", url: "https://after.example" });
      assert.ok(!ids.includes(next.id), `${how}: ids keep counting`);
    } finally {
      await server.close();
    }
  }
});

/** A data directory with a valid older snapshot, a newer one and the log after the older one. */
async function twoSnapshots(): Promise<{ dataDir: string; older: number; newer: string; lastSeq: number; bookmarks: number }> {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const token = await signUp(server.url, "carol");
  await createBookmark(server.url, token, { title: "one", url: "https://one.example" });
  await server.snapshots.takeInBackground();
  const older = server.snapshots.status().last_seq;
  const release = server.snapshots.holdCompaction();
  await createBookmark(server.url, token, { title: "two", url: "https://two.example" });
  await server.close();
  release();
  const newest = listSnapshots(dataDir)[0]!;
  assert.ok(newest.seq > older);
  return { dataDir, older, newer: newest.file, lastSeq: server.log.lastSeq, bookmarks: server.store.bookmarksById.size };
}

async function startsFromOlder(dataDir: string, older: number, lastSeq: number, bookmarks: number, newer: string): Promise<void> {
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal(server.replayed.snapshotSeq, older, "the refused snapshot was passed over for the older one");
    assert.equal(server.log.lastSeq, lastSeq);
    assert.equal(server.store.bookmarksById.size, bookmarks, "nothing acknowledged is lost");
    assert.ok(fs.existsSync(`${newer}.refused`), "the refused file is set aside, not read again");
  } finally {
    await server.close();
  }
}

/** Flips one bit in the middle of a section of a snapshot file (found through its header). */
function corruptSection(file: string, name: string): void {
  const bytes = fs.readFileSync(file);
  const header = JSON.parse(bytes.toString("utf8", 0, bytes.indexOf(0x0a))) as { sections: { name: string; offset: number; bytes: number }[] };
  const section = header.sections.find((candidate) => candidate.name === name);
  assert.ok(section && section.bytes > 0, `the snapshot has a ${name} section`);
  const at = section.offset + Math.floor(section.bytes / 2);
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x20, at);
  fs.writeFileSync(file, bytes);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`not ${what} within 5 s`);
}

test("a corrupted snapshot is refused (checksum) and the server starts from the older one and the log", async () => {
  const { dataDir, older, newer, lastSeq, bookmarks } = await twoSnapshots();
  corruptSection(newer, "store");
  await startsFromOlder(dataDir, older, lastSeq, bookmarks, newer);
});

test("a corrupted search section: the snapshot's store is used, the index is rebuilt from it with a log line, and search answers the same", async () => {
  const dataDir = tempDir();
  const first = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const tokens = { alice: await signUp(first.url, "alice"), bob: await signUp(first.url, "bob") };
  const ids = await someHistory(first, 0, tokens);
  const viewers = { anonymous: undefined, ...tokens };
  const before = await answers(first.url, viewers, ids);
  await first.close();
  const [newest] = listSnapshots(dataDir);
  assert.ok(newest && newest.seq === first.log.lastSeq, "the shutdown snapshot stands for everything");
  corruptSection(newest.file, "search");
  const log = new LogCapture();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir, NASTY_LOG_FORMAT: "json" }, { logDestination: log.destination });
  try {
    assert.equal(server.replayed.snapshotSeq, newest.seq, "the snapshot's store was used");
    assert.equal(server.replayed.search, "built", "the index was rebuilt from the store");
    assert.ok(
      log.records.some((record) => /its search section is damaged \(its checksum does not match its contents\); it is not used, and what it holds is rebuilt from the store/.test(record.msg)),
      "a log line says the search section was damaged and is rebuilt",
    );
    await until(async () => (await request(server.url, "GET", "/readyz")).status === 200, "ready");
    assert.deepEqual(await answers(server.url, viewers, ids), before, "every answer is the same");
  } finally {
    await server.close();
  }
  // The next snapshot carries a whole index again.
  const again = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.equal(again.replayed.search, "snapshot");
  } finally {
    await again.close();
  }
});

test("a truncated snapshot is refused and the server starts from what remains valid", async () => {
  const { dataDir, older, newer, lastSeq, bookmarks } = await twoSnapshots();
  fs.truncateSync(newer, fs.statSync(newer).size - 7);
  await startsFromOlder(dataDir, older, lastSeq, bookmarks, newer);
});

test("a snapshot from another data directory is refused as foreign", async () => {
  const { dataDir, older, newer, lastSeq, bookmarks } = await twoSnapshots();
  const other = await twoSnapshots();
  // The same history in another directory gives a snapshot of the same seq: whole and checksummed, but not ours.
  assert.equal(path.basename(other.newer), path.basename(newer));
  fs.copyFileSync(other.newer, newer);
  await startsFromOlder(dataDir, older, lastSeq, bookmarks, newer);
});

test("with the log compacted, a damaged only snapshot stops start-up with a message instead of losing data", async () => {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const token = await signUp(server.url, "dave");
  await createBookmark(server.url, token, { title: "kept", url: "https://kept.example" });
  await server.close();
  const [only] = listSnapshots(dataDir);
  assert.ok(only, "the shutdown snapshot exists");
  fs.truncateSync(only.file, 600);
  await assert.rejects(startTestServer({ NASTY_DATA_DIR: dataDir }), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.equal(error.name, "DataDirError");
    assert.match(error.message, /compacted into a snapshot\), and no valid snapshot was found \(.*truncated.*\)\. Starting would lose data: restore the data directory/);
    return true;
  });
});

test("kill -9 at several points while snapshots are being written loses no acknowledged write, and each restart works", async () => {
  const dataDir = tempDir();
  const acknowledged = new Map<number, string>();
  let token: string | null = null;
  // A snapshot every 7 events; each round is killed after a different number of acknowledged writes,
  // so the kills fall at different points of a snapshot being folded, written, renamed or compacted behind.
  // And only once this process has written a snapshot: the snapshot thread starts with the first one,
  // and on a loaded machine loading its modules can outlast a round's writes, which would kill it
  // while it starts each time instead of while it writes.
  for (const [round, killAfter] of [60, 150, 95, 210, 120].entries()) {
    const { child, url, output } = await startServerProcess(dataDir, { NASTY_SNAPSHOT_EVERY: "7" });
    const snapshotsWritten = () => output().match(/snapshot at seq \d+ written/g)?.length ?? 0;
    token ??= await signUp(url, "writer");
    let acknowledgedHere = 0;
    let stop = false;
    const writer = async (lane: number) => {
      for (let index = 0; !stop && index < 2000; index += 1) {
        const address = `https://crash.example/${round}/${lane}/${index}`;
        try {
          const reply = await request(url, "POST", "/api/bookmarks", { token: token!, body: { bookmark: { title: address, url: address } } });
          if (reply.status !== 201) continue;
          acknowledged.set(reply.json.bookmark.data.id, address);
          acknowledgedHere += 1;
          if (acknowledgedHere >= killAfter && snapshotsWritten() > 0 && !stop) {
            stop = true;
            child.kill("SIGKILL");
          }
        } catch {
          return; // the server is gone: this request was never acknowledged
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, (_, lane) => writer(lane)));
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    assert.ok(acknowledgedHere >= killAfter, `round ${round}: ${acknowledgedHere} writes acknowledged before the kill`);
    assert.ok(snapshotsWritten() > 0, `round ${round}: no snapshot written in ${acknowledgedHere} acknowledged writes`);
  }
  const restarted = await startTestServer({ NASTY_DATA_DIR: dataDir });
  try {
    assert.ok(restarted.replayed.snapshot !== null, "snapshots were written between the kills");
    assert.equal(restarted.replayed.search, "snapshot", "the search index was read from the snapshot, then followed the log tail");
    for (const [id, address] of acknowledged) assert.equal(restarted.store.bookmarksById.get(id as never)?.url, address, `acknowledged bookmark ${id} survived`);
    // Every acknowledged bookmark is found by search, by a phrase only its own address holds.
    for (const [id, address] of acknowledged) {
      const found = await request(restarted.url, "GET", `/api/bookmarks?q=${encodeURIComponent(`"${address.slice("https://".length)}"`)}`);
      assert.deepEqual(found.json.data.map((bookmark: { id: number }) => bookmark.id), [id], `acknowledged bookmark ${id} is found by search`);
    }
  } finally {
    await restarted.close();
  }
  assert.ok(!fs.readdirSync(dataDir).some((name) => name.endsWith(".tmp")), "no half-written snapshot is left behind");
});

/** The longest the event loop was held up while `work` ran. */
async function maxPauseMs(work: () => Promise<void>): Promise<number> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await work();
  delay.disable();
  return delay.max / 1e6;
}

test("writes go on during a background snapshot: the event loop is never held up beyond the bound", async () => {
  const server = await startTestServer({ NASTY_SNAPSHOT_EVERY: "1000000000" });
  try {
    const token = await signUp(server.url, "bulk");
    const user = server.store.userByName("bulk")!;
    for (let batch = 0; batch < 30; batch += 1) {
      await server.commands.createBookmarks(user, Array.from({ length: 1000 }, (_, index) => ({ url: `https://bulk.example/${batch}/${index}`, title: `bulk ${batch} ${index}`, tags: ["bulk", `b${batch}`] })));
    }
    let writes = 0;
    const writeUntil = async (done: () => boolean) => {
      while (!done()) {
        await createBookmark(server.url, token, { title: "during", url: `https://during.example/${writes}` });
        writes += 1;
      }
    };
    // The same writes for a while without a snapshot: how much this (shared, busy) machine holds the loop up anyway.
    const quietUntil = performance.now() + 1500;
    const baselineMs = await maxPauseMs(() => writeUntil(() => performance.now() > quietUntil));
    const writesBefore = writes;
    let done = false;
    const duringMs = await maxPauseMs(async () => {
      const taking = server.snapshots.takeInBackground().then(() => (done = true));
      await writeUntil(() => done);
      await taking;
    });
    assert.equal(server.snapshots.status().failures, 0);
    assert.ok(server.snapshots.status().last_seq > 30, "the snapshot was written");
    assert.ok(writes > writesBefore, "writes were acknowledged while the snapshot was written");
    // Folded and written on its own thread, the snapshot never holds this one up for long. On this
    // shared 2-core machine a thread's turn can wait a few hundred ms anyway (the baseline), so the
    // bound is generous: a behaviour check, not a speed test (the bench measures pauses).
    assert.ok(duringMs < baselineMs + 1000, `the event loop was held up ${duringMs.toFixed(1)} ms during the snapshot (${baselineMs.toFixed(1)} ms without)`);
  } finally {
    await server.close();
  }
});

test("a log whose rows do not follow the snapshot's seq stops start-up with a message", async () => {
  const dataDir = tempDir();
  const server = await startTestServer({ NASTY_DATA_DIR: dataDir });
  const token = await signUp(server.url, "erin");
  await server.snapshots.takeInBackground();
  const snapshotSeq = server.snapshots.status().last_seq;
  await createBookmark(server.url, token, { title: "after", url: "https://after.example/1" });
  await createBookmark(server.url, token, { title: "after", url: "https://after.example/2" });
  // Compaction held and the shutdown snapshot removed below: the older snapshot and the whole log stay.
  const release = server.snapshots.holdCompaction();
  await server.close();
  release();
  for (const listing of listSnapshots(dataDir)) if (listing.seq !== snapshotSeq) fs.rmSync(listing.file);
  const db = new Database(path.join(dataDir, "events.sqlite3"));
  db.prepare("DELETE FROM events WHERE seq = ?").run(snapshotSeq + 1);
  db.close();
  await assert.rejects(startTestServer({ NASTY_DATA_DIR: dataDir }), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.equal(error.name, "DataDirError");
    assert.match(error.message, new RegExp(`the log does not follow the snapshot: after seq ${snapshotSeq} it holds seq ${snapshotSeq + 2}\\. Restore the data directory from a backup\\.`));
    return true;
  });
});
