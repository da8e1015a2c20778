// Test support for erasure: a history whose deleted parts carry marker strings, and a byte search of every file in a data directory.
import fs from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";
import type { Nasty } from "../../src/main.ts";
import { createBookmark, request, signUp } from "./server.ts";

/** Strings that appear only in what is deleted (a bookmark, a comment, an account and its bookmark and comment, a comment its author deleted, a deleted bookmark's notes). */
export const MARKERS = ["zqxBOOKMARKzqx", "zqxCOMMENTzqx", "zqxaccountzqx", "zqxACCOUNTBOOKMARKzqx", "zqxACCOUNTCOMMENTzqx", "zqxOWNCOMMENTzqx", "zqxNOTESzqx"];
/** Appears in what stays: the positive control, so a search that finds nothing proves something. */
export const KEPT = "zqxKEPTzqx";

/**
 * Bob saves a bookmark, gives it notes and deletes it; Bob comments on Alice's bookmark, which she then deletes; an
 * account saves a bookmark and comments on Alice's kept one, then the account is erased; Bob
 * comments on Alice's kept bookmark and deletes his comment (DELETE /api/comments/:id).
 */
export async function eraseSome(server: Nasty): Promise<void> {
  const alice = await signUp(server.url, "alice");
  const bob = await signUp(server.url, "bob");
  const kept = await createBookmark(server.url, alice, { title: KEPT, url: "https://kept.example" });
  const doomed = await createBookmark(server.url, bob, { title: MARKERS[0], url: "https://doomed.example", description: MARKERS[0] });
  // Notes changed once, so the marker is in an update event as well as the bookmark's text.
  assert.equal((await request(server.url, "PATCH", `/api/bookmarks/${doomed.id}`, { token: bob, body: { notes: `# ${MARKERS[6]}\n\nthe deleted bookmark's notes` } })).status, 200);
  const discussed = await createBookmark(server.url, alice, { title: "discussed", url: "https://discussed.example" });
  assert.equal((await request(server.url, "POST", `/api/bookmarks/${discussed.id}/comments`, { token: bob, body: { body: MARKERS[1] } })).status, 201);
  const account = await signUp(server.url, MARKERS[2]!);
  await createBookmark(server.url, account, { title: MARKERS[3], url: `https://${MARKERS[3]}.example` });
  assert.equal((await request(server.url, "POST", `/api/bookmarks/${kept.id}/comments`, { token: account, body: { body: MARKERS[4] } })).status, 201);
  assert.equal((await request(server.url, "DELETE", `/api/bookmarks/${doomed.id}`, { token: bob })).status, 204);
  assert.equal((await request(server.url, "DELETE", `/api/bookmarks/${discussed.id}`, { token: alice })).status, 204);
  const own = await request(server.url, "POST", `/api/bookmarks/${kept.id}/comments`, { token: bob, body: { body: MARKERS[5] } });
  assert.equal((await request(server.url, "DELETE", `/api/comments/${own.json.comment.data.id}`, { token: bob })).status, 204);
  await server.commands.deleteAccount(server.store.userByName(MARKERS[2]!)!);
  assert.equal(server.store.userByName(MARKERS[2]!), undefined);
}

/** Which of `needles` occur, as UTF-8 bytes, in which file under `dir` (every file: log, WAL, snapshots). */
export function findInFiles(dir: string, needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    if (!fs.statSync(file).isFile()) continue;
    const bytes = fs.readFileSync(file);
    for (const needle of needles) if (bytes.includes(Buffer.from(needle, "utf8"))) found.push(`${needle} in ${name}`);
  }
  return found;
}
