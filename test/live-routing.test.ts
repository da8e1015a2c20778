// The routing function as a pure function, against the published events of a seeded random history: every list topic a subscriber follows stays exactly the bookmarks it should show, and nothing personal or private reaches others.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { Store, type User } from "../src/store/store.ts";
import { SqliteLog } from "../src/log/sqlite.ts";
import { Commands } from "../src/commands/commands.ts";
import { HttpError } from "../src/errors.ts";
import type { LoggedEvent } from "../src/events.ts";
import { routesOf, type LiveEvent, type Route } from "../src/realtime/routing.ts";
import { liveEventOf, stateBefore } from "../src/realtime/snapshot.ts";
import { ADMIN_TOPIC, readMarksTopic, tagSetTopic, topic } from "../src/realtime/topics.ts";
import { mulberry32, pick } from "../src/simulator/random.ts";
import { tempDir, testConfig } from "./support/server.ts";

const TAGS = ["a", "b", "c", "d"];
const TAG_SETS = [["a", "b"], ["b", "c", "d"]];

/** What each list topic should hold now, from the store alone: the public bookmarks on it (and every bookmark of a person on their private topic). */
function listsOf(store: Store): Map<string, Set<number>> {
  const lists = new Map<string, Set<number>>();
  const add = (name: string, id: number) => (lists.get(name) ?? lists.set(name, new Set()).get(name)!).add(id);
  for (const bookmark of store.bookmarksById.values()) {
    add(topic.privateOf(bookmark.user.username), bookmark.id);
    if (!bookmark.public) continue;
    for (const name of [topic.firehose, topic.feed, topic.user(bookmark.user.username)]) add(name, bookmark.id);
    for (const tag of bookmark.tags) for (const name of [topic.tag(tag), topic.tagAlias(tag)]) add(name, bookmark.id);
    for (const tags of TAG_SETS) if (tags.every((tag) => bookmark.tags.includes(tag))) add(tagSetTopic(tags), bookmark.id);
  }
  return lists;
}

/** Follows the routes like a subscriber of every list topic: created adds (once), updated keeps, deleted removes. */
function follow(lists: Map<string, Set<number>>, route: Route, id: number, where: string): void {
  const list = lists.get(route.name) ?? lists.set(route.name, new Set()).get(route.name)!;
  switch (route.change) {
    case "created":
      assert.ok(!list.has(id), `${where}: ${id} created on ${route.name} where it already is`);
      list.add(id);
      return;
    case "updated":
    case "comment":
    case "comment-deleted":
    case "comment-count":
      assert.ok(list.has(id), `${where}: ${route.change} of ${id} on ${route.name} where it is not`);
      return;
    case "deleted":
      assert.ok(list.delete(id), `${where}: ${id} deleted from ${route.name} where it is not`);
      return;
  }
}

/** The privacy rules every route must keep, whatever the event. */
function checkPrivacy(store: Store, event: LiveEvent, routes: readonly Route[], where: string): void {
  if (event.kind === "quiet") return assert.deepEqual(routes, [], `${where}: a quiet event goes nowhere`);
  if (event.kind === "moderation") return assert.deepEqual(routes.map((route) => route.name), [ADMIN_TOPIC], `${where}: a moderation event goes to the admin page alone`);
  const owner = event.kind === "comment" ? event.bookmark.username : (event.after ?? event.before)!.username;
  const nowPublic = event.kind === "comment" ? event.bookmark.public : event.after?.public === true;
  for (const route of routes) {
    const ownersAlone = route.owner || route.name === topic.privateOf(owner) || route.name === readMarksTopic(owner);
    assert.equal(route.personal, ownersAlone, `${where}: ${route.name} personal exactly where only ${owner} listens`);
    if (!route.personal && route.change !== "deleted") assert.ok(nowPublic, `${where}: ${route.change} of a private bookmark on ${route.name}`);
    if (event.kind === "bookmark" && !event.shared) assert.ok(route.personal, `${where}: a change of personal state alone reached ${route.name}`);
    if (event.kind === "comment" && !event.posted) assert.ok(route.dialect === "modern" && route.change !== "comment", `${where}: a deleted comment goes out as ${route.change} on ${route.name} (${route.dialect})`);
  }
  const id = event.kind === "comment" ? event.bookmark.id : event.id;
  if (!store.visibleBookmark(id, null) && event.kind === "comment") assert.ok(routes.every((route) => route.personal), `${where}: a private discussion reached others`);
}

async function runSeed(seed: number, steps: number): Promise<{ routes: number; events: number }> {
  const random = mulberry32(seed);
  const file = path.join(tempDir(), "events.sqlite3");
  const store = new Store(1);
  const followed = new Map<string, Set<number>>();
  let routeCount = 0;
  let eventCount = 0;
  const onCommitted = (events: LoggedEvent[]) => {
    for (const event of events) {
      const before = stateBefore(store, event);
      store.apply(event);
      const live = liveEventOf(store, event, before);
      const routes = routesOf(live, TAG_SETS);
      assert.deepEqual(routesOf(live, TAG_SETS), routes, "a pure function: the same event routes the same");
      const where = `seed ${seed}, seq ${event.seq} (${event.type})`;
      checkPrivacy(store, live, routes, where);
      const id = live.kind === "comment" ? live.bookmark.id : live.kind === "bookmark" ? live.id : null;
      for (const route of routes) if (route.place === "list" || route.place === "private") follow(followed, route, id!, where);
      const expected = listsOf(store);
      for (const name of new Set([...expected.keys(), ...followed.keys()])) {
        assert.deepEqual([...(followed.get(name) ?? [])].sort(), [...(expected.get(name) ?? [])].sort(), `${where}: subscribers of ${name} see what it holds`);
      }
      routeCount += routes.length;
      eventCount += 1;
    }
  };
  const log = new SqliteLog({ file, nodeId: 1, onCommitted, queueEventsMax: 10_000 });
  const commands = new Commands(store, log, testConfig());
  const users: User[] = [];
  for (const name of ["ann", "ben"]) users.push((await commands.register({ username: name, password: "password1" }, "local")).user);
  for (let step = 0; step < steps; step += 1) {
    const user = pick(random, users);
    const existing = [...store.bookmarksById.values()];
    const tags = TAGS.filter(() => random() < 0.5);
    const roll = random();
    try {
      if (roll < 0.4 || existing.length === 0) await commands.createBookmark(user, { title: `t${step}`, url: `https://route.example/${step}`, tags, public: random() < 0.7 });
      else if (roll < 0.55) {
        const target = pick(random, existing);
        await commands.updateBookmark(target.user, target.id, random() < 0.3 ? { unread: random() < 0.5 } : { tags, public: random() < 0.6 });
      } else if (roll < 0.7) {
        const target = pick(random, existing);
        await commands.updateBookmark(target.user, target.id, { title: `edited ${step}` });
      } else if (roll < 0.82) {
        const target = pick(random, existing);
        await commands.deleteBookmark(target.user, target.id);
      } else if (roll < 0.88 && store.commentsById.size > 0) {
        const comment = pick(random, [...store.commentsById.values()]);
        await commands.deleteComment(comment.user, comment.id);
      } else {
        const target = pick(random, existing);
        await commands.postComment(target.public ? user : target.user, target.id, { body: `c${step}` });
      }
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
    }
  }
  await log.close();
  return { routes: routeCount, events: eventCount };
}

test("routes of a seeded random history keep every list topic exact and private things private", async () => {
  const seeds = process.env.LIVE_ROUTING_SEED ? [Number(process.env.LIVE_ROUTING_SEED)] : [1, 2, Date.now() % 100_000];
  for (const seed of seeds) {
    try {
      const { routes, events } = await runSeed(seed, 250);
      assert.ok(events > 200 && routes > events, `the history was routed: ${events} events, ${routes} routes`);
    } catch (error) {
      console.error(`live routing test failed with seed ${seed} (rerun with LIVE_ROUTING_SEED=${seed})`);
      throw error;
    }
  }
});

test("the subscriber model catches a wrong route (positive control)", () => {
  const lists = new Map([[topic.firehose, new Set([1])]]);
  const route: Route = { name: topic.firehose, owner: false, personal: false, dialect: "modern", change: "created", place: "list", formats: "all" };
  assert.throws(() => follow(lists, route, 1, "control"), /already is/);
  assert.throws(() => follow(lists, { ...route, change: "deleted" }, 2, "control"), /where it is not/);
});
