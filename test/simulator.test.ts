// The traffic simulator against real servers: deterministic under a seed, on the command path, resumable, stoppable.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import WebSocket from "ws";
import { request, startTestServer, tempDir } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
import { Simulator, type SimulatorOptions } from "../src/simulator/simulator.ts";
import { bundledCorpus } from "../src/simulator/corpus.ts";
import { editFor, SIMULATED_USERNAMES, TrafficPlan } from "../src/simulator/traffic.ts";
import { LIMITS } from "../src/commands/schemas.ts";
import { renderNotes } from "../src/render/markdown.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const servers: Nasty[] = [];
after(async () => {
  for (const server of servers) await server.close();
});

async function server(overrides: Record<string, string> = {}): Promise<Nasty> {
  const nasty = await startTestServer(overrides);
  servers.push(nasty);
  return nasty;
}

/** Runs a bounded simulation to the end and returns its stats. */
async function simulate(nasty: Nasty, options: Partial<SimulatorOptions>) {
  const simulator = new Simulator({ commands: nasty.commands, store: nasty.store, rate: 2000, seed: 1, users: 4, ...options });
  await simulator.start();
  await simulator.finished();
  return simulator.stats();
}

/** The bookmark.created events of the log, in order, as a user typed them. */
function createdInLog(nasty: Nasty) {
  const users = new Map<number, string>();
  const created = [];
  for (const event of nasty.log.readAfter(0, 1_000_000)) {
    if (event.type === "user.registered") users.set(event.payload.id, event.payload.username);
    if (event.type === "bookmark.created") {
      const { user_id, title, url, description, tags } = event.payload;
      created.push({ user: users.get(user_id), title, url, description, notes: event.payload.notes ?? "", public: event.payload.public, tags });
    }
  }
  return created;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null> | T | null): Promise<T> {
  for (let attempt = 0; attempt < 1000; attempt += 1) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("traffic simulator", () => {
  test("the same seed gives the same first bookmarks on two fresh servers; another seed does not", async () => {
    const steps = 120;
    const [first, second, other] = await Promise.all([server(), server(), server()]);
    const stats = await Promise.all([simulate(first, { seed: 42, stepsMax: steps }), simulate(second, { seed: 42, stepsMax: steps }), simulate(other, { seed: 43, stepsMax: steps })]);
    for (const each of stats) assert.equal(each.created, steps, JSON.stringify(each));
    const [a, b, c] = [createdInLog(first), createdInLog(second), createdInLog(other)];
    assert.equal(a.length, steps);
    assert.deepEqual(b, a);
    assert.notDeepEqual(c, a);
    const corpusUrls = new Set(bundledCorpus().map((entry) => new URL(entry.url).href));
    assert.ok(a.every((bookmark) => corpusUrls.has(bookmark.url)), "the first bookmarks come from the corpus");
    assert.ok(a.every((bookmark) => bookmark.user?.startsWith("sim-")));
    assert.ok(new Set(a.map((bookmark) => bookmark.user)).size > 1, "several simulated users take part");
    const noted = a.filter((bookmark) => bookmark.notes !== "").length;
    assert.ok(noted > 0 && noted < steps, `some bookmarks have notes, most not: ${noted} of ${steps}`);
  });

  test("its bookmarks are in the store and the API, with comments, edits and deletes among them", async () => {
    const nasty = await server();
    const stats = await simulate(nasty, { seed: 5, stepsMax: 400 });
    assert.equal(stats.created, 400);
    assert.equal(stats.failed, 0, JSON.stringify(stats));
    assert.ok(stats.commented > 0 && stats.edited > 0 && stats.deleted > 0, JSON.stringify(stats));
    assert.equal(nasty.store.bookmarksById.size, stats.created - stats.deleted);
    assert.equal(nasty.store.commentCount > 0, true);
    const reply = await request(nasty.url, "GET", "/api/bookmarks?limit=100");
    const newestPublic = nasty.store.publicBookmarks.newest(100).map((bookmark) => bookmark.id);
    assert.deepEqual(reply.json.data.map((bookmark: { id: number }) => bookmark.id), newestPublic);
    const privateOnes = [...nasty.store.bookmarksById.values()].filter((bookmark) => !bookmark.public);
    assert.ok(privateOnes.length > 0, "some simulated bookmarks are private");
    const anonymous = await request(nasty.url, "GET", `/api/bookmarks/${privateOnes[0]!.id}`);
    assert.equal(anonymous.status, 404, "private simulated bookmarks stay private");
    const noted = [...nasty.store.publicBookmarks.newest(1000)].find((bookmark) => bookmark.notes !== "");
    assert.ok(noted, "some public simulated bookmarks have notes");
    const page = await request(nasty.url, "GET", `/b/${noted.id}`);
    assert.equal(page.status, 200);
    assert.ok(page.text.includes(`<div class="card-notes">${renderNotes(noted.notes)}</div>`), "its page shows them rendered");
    const notesEdits = nasty.log.readAfter(0, 1_000_000).filter((event) => event.type === "bookmark.updated" && event.payload.notes !== undefined);
    assert.ok(notesEdits.length > 0, "some edits change notes");
  });

  test("its public bookmarks arrive on the firehose topic, each once, as the store has them", { timeout: 60_000 }, async () => {
    const nasty = await server();
    const socket = new WebSocket(`${nasty.url.replace("http:", "ws:")}/ws?topics=bookmarks:firehose`);
    const pushes: { event: string; payload: { id: number; title: string; url: string; user: string; tags: string[] } }[] = [];
    let wake = () => {};
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data));
      if (frame.op === "ok" || frame.event === "bookmark_created") pushes.push(frame);
      wake();
    });
    const until = async (done: () => boolean) => {
      while (!done()) await new Promise<void>((resolve) => (wake = resolve));
    };
    await until(() => pushes.length > 0);
    pushes.length = 0;

    const stats = await simulate(nasty, { seed: 11, stepsMax: 80 });
    const publicCreated = createdInLog(nasty).filter((bookmark) => bookmark.public);
    assert.ok(publicCreated.length > 0 && publicCreated.length < stats.created, "public and private ones were made");
    await until(() => pushes.length >= publicCreated.length);
    socket.close();
    assert.deepEqual(
      pushes.map(({ payload }) => [payload.url, payload.user, payload.title, payload.tags]),
      publicCreated.map((bookmark) => [bookmark.url, bookmark.user, bookmark.title, bookmark.tags]),
    );
    const deleted = new Set(nasty.log.readAfter(0, 1_000_000).flatMap((event) => (event.type === "bookmark.deleted" ? [event.payload.id as number] : [])));
    for (const { payload } of pushes) assert.ok(nasty.store.bookmarksById.has(payload.id as never) !== deleted.has(payload.id), `bookmark ${payload.id} is in the store unless it was deleted`);
  });

  test("after the corpus it varies the links: distinct URLs per user, remixed titles", () => {
    const corpus = bundledCorpus();
    assert.equal(corpus.length, 1000);
    assert.equal(new Set(corpus.map((entry) => entry.url)).size, 1000);
    const plan = new TrafficPlan(corpus, 9, 12);
    const seen = new Set<string>();
    for (let index = 0; index < 3000; index += 1) {
      const draft = plan.draft(index);
      const key = `${draft.user} ${draft.url}`;
      assert.ok(!seen.has(key), `step ${index} repeats ${key}`);
      seen.add(key);
    }
    const corpusTitles = new Set(corpus.map((entry) => entry.title));
    const remixed = [1000, 1001, 1002, 1003, 1004].map((index) => plan.draft(index));
    assert.ok(remixed.some((draft) => !corpusTitles.has(draft.title)));
    assert.ok(remixed.every((draft) => !corpus.some((entry) => entry.url === draft.url)));
  });

  test("simulated users sometimes write short Markdown notes, the same for the same seed", () => {
    const corpus = bundledCorpus();
    const drafts = (seed: number) => Array.from({ length: 1200 }, (_, index) => new TrafficPlan(corpus, seed, 12).draft(index));
    const notes = drafts(21).map((draft) => draft.notes);
    assert.deepEqual(drafts(21).map((draft) => draft.notes), notes, "deterministic from the seed");
    assert.notDeepEqual(drafts(22).map((draft) => draft.notes), notes);
    const written = notes.filter((text) => text !== "");
    assert.ok(written.length > 120 && written.length < 600, `about a quarter have notes: ${written.length} of ${notes.length}`);
    assert.ok(notes.slice(1000).some((text) => text !== ""), "remixed rounds have notes too");
    for (const text of written) assert.ok(text.length <= 600 && text.length <= LIMITS.notesCharsMax, `short notes: ${text.length} characters`);
    const rendered = written.map(renderNotes);
    for (const markup of ["<strong>", "<em>", "<ul>", "<ol>", "<blockquote>", "<code>", "<h6>", '<a href="https://']) {
      assert.ok(rendered.some((html) => html.includes(markup)), `some notes render to ${markup}`);
    }
    const target = { id: 1, title: "A title", tags: ["rust"] };
    const edits = Array.from({ length: 200 }, (_, variant) => editFor(target, variant));
    assert.ok(edits.some((edit) => typeof edit.notes === "string" && edit.notes !== ""), "edits rewrite notes");
    assert.ok(edits.some((edit) => edit.notes === ""), "and clear them");
    assert.deepEqual(Array.from({ length: 200 }, (_, variant) => editFor(target, variant)), edits);
  });

  test("an invalid corpus entry is refused like any API call (422) and nothing is stored", async () => {
    const nasty = await server();
    const corpus = [
      { title: "Looks harmless", url: "javascript:alert(1)", tags: ["x"] },
      { title: "x".repeat(501), url: "https://example.org/long-title", tags: [] },
      { title: "Too many tags", url: "https://example.org/tags", tags: Array.from({ length: 40 }, (_, index) => `t${index}`) },
    ];
    const stats = await simulate(nasty, { corpus, stepsMax: 3 });
    assert.equal(stats.created, 0);
    assert.equal(stats.refused, 3);
    assert.deepEqual(stats.statuses, { 422: 3 });
    assert.equal(nasty.store.bookmarksById.size, 0);
    assert.equal(createdInLog(nasty).length, 0);
  });

  test("NASTY_SIMULATE runs it inside the server; close stops it; a restart reuses the simulated users", async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ NASTY_DATA_DIR: dataDir, NASTY_SIMULATE: "500", NASTY_SIMULATE_SEED: "3" });
    const running = await waitFor("simulated bookmarks", async () => {
      const status = (await request(first.url, "GET", "/api/status")).json;
      return status.simulator?.created >= 30 ? status : null;
    });
    assert.equal(running.simulator.seed, 3);
    assert.equal(running.simulator.failed, 0);
    await first.close();
    const eventsBefore = first.store.eventsApplied;
    const usersBefore = first.store.usersById.size;
    assert.equal(usersBefore, 12);

    const second = await server({ NASTY_DATA_DIR: dataDir, NASTY_SIMULATE: "500", NASTY_SIMULATE_SEED: "3" });
    assert.equal(second.store.eventsApplied, eventsBefore, "every event the simulator wrote before close was replayed");
    const resumed = await waitFor("more simulated bookmarks", async () => {
      const status = (await request(second.url, "GET", "/api/status")).json;
      return status.simulator?.created >= 10 ? status : null;
    });
    assert.equal(resumed.users, usersBefore, "no new users: the simulated ones were reused");
    assert.equal(resumed.simulator.failed, 0);
    assert.ok(resumed.simulator.step > 30, "it continues past the steps of the first run");
    assert.deepEqual(
      [...second.store.usersById.values()].map((user) => user.username).sort(),
      [...SIMULATED_USERNAMES.slice(0, 12)].sort(),
    );
  });

  test("npm start -- --simulate refuses a bad value with a clear message", () => {
    const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts", "--simulate", "lots"], { cwd: ROOT, encoding: "utf8", env: { ...process.env, PORT: "0", NASTY_DATA_DIR: tempDir() } });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--simulate needs a whole number/);
  });
});
