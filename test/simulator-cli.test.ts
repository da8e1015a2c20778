// `npm run simulate` as an external load generator, run as a child process against a real test server.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { signUp, startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
import { START_MS_MAX } from "./support/child-server.ts";

const ROOT = path.resolve(import.meta.dirname, "..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process's event loop (the server under test lives in it). */
function simulateCli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/simulator/cli.ts", ...args], { cwd: ROOT, timeout: START_MS_MAX }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe("npm run simulate (external load generator)", () => {
  let nasty: Nasty;
  before(async () => {
    nasty = await startTestServer();
  });
  after(() => nasty.close());

  test("signs up sim- users, sends a bounded run and reports statuses that match what the server stored", async () => {
    const run = await simulateCli(["--url", nasty.url, "--rate", "100", "--seconds", "1", "--users", "3", "--seed", "4", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.users.length, 3);
    assert.ok(summary.users.every((name: string) => /^sim-[a-z]+-[0-9a-f]{6}$/.test(name)), summary.users.join(","));
    assert.ok(summary.created > 0);
    assert.equal(summary.failed, 0, summary.last_error);
    assert.equal(summary.requests, Object.values(summary.statuses as Record<string, number>).reduce((sum, count) => sum + count, 0));
    assert.equal(summary.statuses["201"], summary.created + summary.commented);
    const theirs = [...nasty.store.bookmarksById.values()].filter((bookmark) => summary.users.includes(bookmark.user.username));
    assert.equal(theirs.length, summary.created - summary.deleted);
    const ids = new Set(summary.users.map((name: string) => nasty.store.userByName(name)!.id));
    const commentsLogged = nasty.log.readAfter(0, 1_000_000).filter((event) => event.type === "comment.posted" && ids.has(event.payload.user_id));
    assert.equal(commentsLogged.length, summary.commented);
    // Seed 4 with 3 users plans notes on steps 1, 2, 4, 5, 7…: a run of 100 steps a second sends some over HTTP.
    const notesLogged = nasty.log.readAfter(0, 1_000_000).filter((event) => event.type === "bookmark.created" && ids.has(event.payload.user_id) && (event.payload.notes ?? "") !== "");
    assert.ok(summary.created < 3 || notesLogged.length > 0, `notes were sent with the bookmarks (${summary.created} created)`);
  });

  test("with --token it acts as that user only", async () => {
    const token = await signUp(nasty.url, "loadtester");
    const run = await simulateCli(["--url", nasty.url, "--rate", "40", "--seconds", "1", "--token", token, "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout);
    assert.deepEqual(summary.users, ["loadtester"]);
    const user = nasty.store.userByName("loadtester")!;
    assert.equal(user.bookmarks.length, summary.created - summary.deleted);
  });

  test("refuses a non-http(s) URL, a missing URL and a token the server does not know, each with a clear message", async () => {
    const ftp = await simulateCli(["--url", "ftp://127.0.0.1/", "--seconds", "1"]);
    assert.equal(ftp.code, 2);
    assert.match(ftp.stderr, /--url must be an http:\/\/ or https:\/\/ URL, got ftp:/);
    const missing = await simulateCli(["--rate", "5"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--url is required/);
    const badRate = await simulateCli(["--url", nasty.url, "--rate", "0"]);
    assert.equal(badRate.code, 2);
    assert.match(badRate.stderr, /--rate must be from 1 to 100000/);
    const stranger = await simulateCli(["--url", nasty.url, "--token", "nasty_not_a_real_token", "--seconds", "1"]);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /token 1 was refused \(401/);
  });
});
