// Micro-benchmarks (tinybench): validation, store apply, feed query, fragment render, notes render, event encode/decode, metrics hooks.
import { Bench } from "tinybench";
import { CreateBookmark, parseInput } from "../src/commands/schemas.ts";
import type { BookmarkFields, BookmarkId, LoggedEvent, UserId } from "../src/events.ts";
import { cardView, renderCard } from "../src/render/html.ts";
import { renderNotes } from "../src/render/markdown.ts";
import { Store } from "../src/store/store.ts";
import { corpus } from "./corpus.ts";
import { enableMetrics, requestAnswered, requestStarted } from "../src/metrics.ts";

/** A spread of route patterns and statuses, as a server's label sets would be. */
const METRIC_ROUTES = ["/api/bookmarks", "/api/bookmarks/:id", "/feeds/:file", "/t/*", "/u/:name", "/*"];
const METRIC_STATUSES = [200, 201, 304, 404];
const METRIC_REQUEST = { getMethod: () => "get" };

export interface MicroResult {
  name: string;
  opsPerSecond: number;
  meanNs: number;
  p99Ns: number;
  samples: number;
}

const NODE_ID = 1;
const USERS = 100;
/** Bookmarks in the store the feed query and render read from. */
const FEED_STORE_BOOKMARKS = 10_000;
/** The apply bench starts a fresh store after this many, so its memory stays bounded. */
const APPLY_STORE_BOOKMARKS_MAX = 200_000;
const POOL = 1000;
/** Notes as people write them: a heading, emphasis, links (one bare), a list, code and a quote. */
const NOTES = [
  "## Why I saved this",
  "",
  "The *benchmarks* section is the **useful** part: see https://example.com/results and [the docs](https://docs.example.com/guide).",
  "",
  "- caches what it rendered",
  "- one `render` per change, not per reader",
  "- bounded memory",
  "",
  "> Measure, then decide.",
].join("\n");

type Created = Extract<LoggedEvent, { type: "bookmark.created" }>;

/** Builds events for a store the way the log would hand them over: users first, then bookmarks. */
class EventSource {
  private seq = 0;
  private bookmarkId = 0;
  private readonly next = corpus(7);
  readonly pool: BookmarkFields[] = Array.from({ length: POOL }, (_, index) => this.next(index));

  users(store: Store): void {
    for (let index = 1; index <= USERS; index += 1) {
      store.apply({ type: "user.registered", payload: { id: (index * 1024 + NODE_ID) as UserId, username: `user${index}`, password_hash: "x" }, seq: ++this.seq, v: 1, ts: Date.now(), node: NODE_ID });
    }
  }

  bookmark(): Created {
    this.bookmarkId += 1;
    const fields = this.pool[this.bookmarkId % POOL]!;
    return {
      type: "bookmark.created",
      payload: { ...fields, url: `${fields.url}/${this.bookmarkId}`, id: ((USERS + this.bookmarkId) * 1024 + NODE_ID) as BookmarkId, user_id: ((this.bookmarkId % USERS) + 1) * 1024 + NODE_ID as UserId },
      seq: ++this.seq,
      v: 1,
      ts: Date.now(),
      node: NODE_ID,
    };
  }

  store(bookmarks: number): Store {
    const store = new Store(NODE_ID);
    this.users(store);
    for (let index = 0; index < bookmarks; index += 1) store.apply(this.bookmark());
    return store;
  }
}

export async function runMicro(timeMs: number): Promise<MicroResult[]> {
  enableMetrics(); // this process serves no requests: only the hooks' own cost is measured
  const source = new EventSource();
  const feedStore = source.store(FEED_STORE_BOOKMARKS);
  const feedBookmarks = feedStore.bookmarks({ viewer: null, limit: 50 }).items;
  let applyStore = source.store(0);
  let applied = 0;
  const rawInputs = source.pool.map((fields, index) => ({ ...fields, tags: index % 2 === 0 ? fields.tags : fields.tags.join(", "), extra: "ignored" }));
  const encodedEvents = Array.from({ length: POOL }, () => source.bookmark());
  const storedPayloads = encodedEvents.map((event) => JSON.stringify(event.payload));
  let turn = 0;
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs / 2) });
  bench
    .add("validation: parseInput(CreateBookmark)", () => {
      parseInput(CreateBookmark, rawInputs[turn++ % POOL]);
    })
    .add("store apply: bookmark.created", () => {
      if (applied === APPLY_STORE_BOOKMARKS_MAX) {
        applyStore = source.store(0);
        applied = 0;
      }
      applyStore.apply(source.bookmark());
      applied += 1;
    })
    .add(`feed query: bookmarks({limit:50}) of ${FEED_STORE_BOOKMARKS.toLocaleString("en")}`, () => {
      feedStore.bookmarks({ viewer: null, limit: 50 });
    })
    .add("fragment render: HTML card (cardView + renderCard)", () => {
      renderCard(cardView(feedStore, feedBookmarks[turn++ % feedBookmarks.length]!), "");
    })
    .add(`notes render: renderNotes of ${NOTES.length}-character Markdown notes (markdown-it + sanitize-html, once per change by CardCache)`, () => {
      renderNotes(NOTES);
    })
    .add("event encode: JSON.stringify(payload)", () => {
      JSON.stringify(encodedEvents[turn++ % POOL]!.payload);
    })
    .add("event decode: JSON.parse(payload)", () => {
      const payload = storedPayloads[turn++ % POOL]!;
      return { seq: turn, type: "bookmark.created", v: 1, ts: 0, node: NODE_ID, payload: JSON.parse(payload) };
    })
    .add("metrics hooks: one request timed and counted by route and status (NASTY_METRICS_TOKEN set)", () => {
      requestAnswered(requestStarted(METRIC_ROUTES[turn % METRIC_ROUTES.length]!, METRIC_REQUEST)!, METRIC_STATUSES[turn++ % METRIC_STATUSES.length]!);
    });
  await bench.run();
  return bench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== "completed") throw new Error(`micro-benchmark "${task.name}" did not complete (${result.state}${"error" in result ? `: ${String(result.error)}` : ""})`);
    return { name: task.name, opsPerSecond: 1000 / result.latency.mean, meanNs: result.latency.mean * 1e6, p99Ns: result.latency.p99 * 1e6, samples: result.latency.samplesCount };
  });
}
