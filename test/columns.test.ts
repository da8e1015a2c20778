// The column store's parts against plain references: the id table against a Map, ord lists against sorted arrays, the arena's text round trip.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IdTable } from "../src/store/id-table.ts";
import { OrdList } from "../src/store/ordered-list.ts";
import { ARENA_CHUNK_BYTES, StringArena } from "../src/store/arena.ts";
import { mulberry32 } from "../src/simulator/random.ts";
import { Store } from "../src/store/store.ts";
import { checkIndexes, snapshot } from "../src/store/check.ts";
import { loadSnapshotFile, writeSnapshotFile } from "../src/log/snapshot-file.ts";
import type { LoggedEvent } from "../src/events.ts";
import { tempDir } from "./support/server.ts";

test("IdTable answers like a Map through adds and deletes past several resizes (ids sharing their low bits, as node ids make them)", () => {
  const random = mulberry32(7);
  const table = new IdTable();
  const reference = new Map<number, number>();
  for (let step = 0; step < 20_000; step += 1) {
    const id = (1 + Math.floor(random() * 5000)) * 1024 + 1;
    if (random() < 0.35) {
      assert.equal(table.delete(id), reference.delete(id), `delete ${id}`);
    } else {
      const added = !reference.has(id);
      assert.equal(table.add(id, step + 1), added, `add ${id}`);
      if (added) reference.set(id, step + 1);
    }
    if (step % 997 === 0) for (const [key, value] of reference) assert.equal(table.get(key), value);
  }
  assert.equal(table.size, reference.size);
  for (let id = 1; id <= 5001 * 1024 + 1; id += 1024) assert.equal(table.get(id), reference.get(id) ?? 0);
  assert.equal(table.get(2 ** 52 + 1), 0);
});

test("OrdList keeps ords ascending through inserts in the middle and removes, and pages newest first from a cursor", () => {
  const random = mulberry32(11);
  const list = new OrdList();
  let reference: number[] = [];
  for (let step = 0; step < 3000; step += 1) {
    const ord = 1 + Math.floor(random() * 2000);
    if (reference.includes(ord)) {
      list.remove(ord);
      reference = reference.filter((other) => other !== ord);
    } else {
      list.insert(ord);
      reference = [...reference, ord].sort((a, b) => a - b);
    }
  }
  assert.deepEqual([...list.view()], reference);
  const even = (ord: number) => ord % 2 === 0;
  const expected = reference.filter((ord) => ord < 1500 && even(ord)).reverse();
  assert.deepEqual(list.page(1500, 10, even), { ords: expected.slice(0, 10), more: expected.length > 10 });
  assert.throws(() => list.remove(5000), /not present/);
  assert.throws(() => list.insert(reference[3]!), /inserted twice/);
});

test("StringArena gives back every text as written: empty, non-ASCII, across chunks, and a record larger than a chunk", () => {
  const arena = new StringArena();
  const texts = ["", "https://example.com/ü", "日本語のタイトル 🚀", "x".repeat(1000)];
  const big = "é".repeat(ARENA_CHUNK_BYTES / 2 + 10);
  const written: { chunk: number; offset: number; lengths: number[]; texts: string[] }[] = [];
  for (let round = 0; round < 40_000; round += 1) {
    const record = round === 20_000 ? [big, "", "after"] : [texts[round % 4]!, texts[(round + 1) % 4]!, texts[(round + 2) % 4]!];
    const out: number[] = [];
    const chunk = arena.append(record, out);
    written.push({ chunk, offset: out[0]!, lengths: out.slice(1), texts: record });
  }
  assert.ok(arena.chunks.length > 2, "several chunks");
  for (const { chunk, offset, lengths, texts: record } of written) {
    let at = offset;
    record.forEach((text, index) => {
      assert.equal(arena.text(chunk, at, lengths[index]!), text);
      at += lengths[index]!;
    });
  }
});

test("text with a lone surrogate (a log from before text was checked) is kept as it is, live and through a snapshot", () => {
  const store = new Store(1);
  const ts = Date.UTC(2024, 0, 1);
  const userId = 1024 + 1;
  store.apply({ seq: 1, ts, node: 1, type: "user.registered", v: 1, payload: { id: userId, username: "ann", password_hash: "x" } } as LoggedEvent);
  const odd = { id: 2 * 1024 + 1, user_id: userId, url: "https://legacy.example/\ud800", title: "lone \udfff", description: "ünïcode 🚀", public: true, tags: ["x\ud800"] };
  const plain = { id: 3 * 1024 + 1, user_id: userId, url: "https://plain.example/", title: "plain", description: "", public: false, tags: ["ok"] };
  store.apply({ seq: 2, ts, node: 1, type: "bookmark.created", v: 1, payload: odd } as LoggedEvent);
  store.apply({ seq: 3, ts, node: 1, type: "bookmark.created", v: 1, payload: plain } as LoggedEvent);
  store.apply({ seq: 4, ts, node: 1, type: "bookmark.updated", v: 1, payload: { id: plain.id, title: "now \ud800 odd too" } } as LoggedEvent);
  const read = store.bookmarksById.get(odd.id as never)!;
  assert.deepEqual([read.url, read.title, read.description, read.tags], [odd.url, odd.title, odd.description, odd.tags]);
  assert.equal(store.bookmarksById.get(plain.id as never)!.title, "now \ud800 odd too");
  const dir = tempDir();
  const loaded = loadSnapshotFile(writeSnapshotFile(dir, store, "columns-test").file, "columns-test", 1).store;
  checkIndexes(loaded);
  assert.deepEqual(snapshot(loaded), snapshot(store));
});
