// Search bench: query latency (p50/p99) over 1,000,000 synthetic bookmarks, and heap per bookmark with the index.
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { pathToFileURL } from "node:url";
import type { BookmarkId, LoggedEvent, UserId } from "../src/events.ts";
import { Store } from "../src/store/store.ts";
import { SearchIndex } from "../src/search/index.ts";
import { mulberry32 } from "../src/simulator/random.ts";

export interface SearchBenchOptions {
  quick?: boolean;
}

export interface SearchBenchResult {
  bookmarks: number;
  queries: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  build_index_ms: number;
  index_words: number;
  /** Heap of the store alone and of store plus index, per bookmark (bytes), when gc could be forced. */
  store_heap_bytes_per_bookmark: number | null;
  total_heap_bytes_per_bookmark: number | null;
  by_kind: Record<string, { p50_ms: number; p99_ms: number }>;
  /** The index as a snapshot's search section: written, its size, read back (what a start does instead of the build). */
  section_encode_ms: number;
  section_bytes: number;
  section_load_ms: number;
  /** The same queries on the index read back (each answer checked equal to the built index's). */
  loaded_p50_ms: number;
  loaded_p99_ms: number;
}

const FULL_BOOKMARKS = 1_000_000;
const QUICK_BOOKMARKS = 20_000;
const FULL_QUERIES = 3000;
const QUICK_QUERIES = 300;
const PAGE_LIMIT = 50;

/** A corpus with a natural shape: a Zipf-like vocabulary, a few thousand sites, a few hundred tags. */
class Corpus {
  /** Seeded: the same corpus and queries every run. */
  readonly next = mulberry32(42);
  readonly vocabulary: string[];
  readonly sites: string[];
  readonly tags: string[];

  constructor() {
    const syllables = ["ka", "lo", "mi", "ra", "te", "sun", "ver", "po", "an", "dre", "qui", "no", "bel", "tor", "ux", "ze", "fa", "gri", "hal", "om"];
    const word = () => Array.from({ length: 2 + Math.floor(this.next() * 3) }, () => syllables[Math.floor(this.next() * syllables.length)]).join("");
    this.vocabulary = [...new Set(Array.from({ length: 30_000 }, word))];
    this.sites = Array.from({ length: 3000 }, () => `${word()}.${["com", "org", "io", "dev", "net"][Math.floor(this.next() * 5)]}`);
    this.tags = [...new Set(Array.from({ length: 600 }, word))];
  }

  /** Zipf-ish: low ranks are far more common. */
  word(): string {
    const rank = Math.floor(this.vocabulary.length ** this.next()) - 1;
    return this.vocabulary[rank]!;
  }

  sentence(min: number, max: number): string {
    return Array.from({ length: min + Math.floor(this.next() * (max - min + 1)) }, () => this.word()).join(" ");
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

function forceGc(): (() => void) | null {
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    return () => {
      gc();
      gc();
    };
  } catch {
    return null;
  }
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

function fill(store: Store, corpus: Corpus, count: number): void {
  let seq = 0;
  const apply = (event: Omit<LoggedEvent, "seq" | "v" | "ts" | "node">) => store.apply({ ...event, seq: ++seq, v: 1, ts: 1_700_000_000_000 + seq, node: 1 } as LoggedEvent);
  const users: UserId[] = [];
  for (let index = 0; index < 1000; index += 1) {
    const id = store.ids.next<UserId>();
    users.push(id);
    apply({ type: "user.registered", payload: { id, username: `user${index}`, password_hash: "x" } });
  }
  for (let index = 0; index < count; index += 1) {
    const id = store.ids.next<BookmarkId>();
    const tagCount = 1 + Math.floor(corpus.next() * 3);
    apply({
      type: "bookmark.created",
      payload: {
        id,
        user_id: corpus.pick(users),
        title: corpus.sentence(3, 9),
        description: corpus.next() < 0.5 ? "" : corpus.sentence(5, 25),
        // join() makes a flat string, as JSON.parse does on a real server (a template literal would
        // leave a rope of several string objects and inflate the store's heap).
        url: ["https://", corpus.pick(corpus.sites), "/", corpus.word(), "/", corpus.word(), "-", index].join(""),
        public: corpus.next() < 0.9,
        tags: [...new Set(Array.from({ length: tagCount }, () => corpus.pick(corpus.tags)))],
      },
    });
  }
}

/** Query shapes people type, built from the corpus so most of them find something. */
function queries(corpus: Corpus, count: number): { kind: string; query: string }[] {
  const kinds: [string, () => string][] = [
    ["word", () => `${corpus.word()} `],
    ["two words", () => `${corpus.word()} ${corpus.word()} `],
    ["prefix", () => corpus.word().slice(0, 3)],
    ["phrase", () => `"${corpus.word()} ${corpus.word()}"`],
    ["#tag word", () => `#${corpus.pick(corpus.tags)} ${corpus.word()} `],
    ["word -word", () => `${corpus.word()} -${corpus.word()}`],
    ["site:", () => `site:${corpus.pick(corpus.sites)}`],
    ["user: word", () => `user:user${Math.floor(corpus.next() * 1000)} ${corpus.word()}`],
  ];
  return Array.from({ length: count }, (_, index) => {
    const [kind, make] = kinds[index % kinds.length]!;
    return { kind, query: make() };
  });
}

export async function runSearchBench(options: SearchBenchOptions = {}): Promise<SearchBenchResult> {
  const bookmarks = options.quick ? QUICK_BOOKMARKS : FULL_BOOKMARKS;
  const gc = forceGc();
  gc?.();
  const heapStart = process.memoryUsage().heapUsed;
  const corpus = new Corpus();
  const store = new Store(1);
  fill(store, corpus, bookmarks);
  gc?.();
  const heapStore = process.memoryUsage().heapUsed;
  const buildStart = performance.now();
  const index = new SearchIndex(store);
  await index.build();
  // The first prefix query sorts the vocabulary; do it here, as a warm server already has.
  index.search({ query: "a", viewer: null, limit: 1 });
  const buildMs = performance.now() - buildStart;
  gc?.();
  const heapTotal = process.memoryUsage().heapUsed;

  const workload = queries(corpus, options.quick ? QUICK_QUERIES : FULL_QUERIES);
  const byKind = new Map<string, number[]>();
  const all: number[] = [];
  for (const { kind, query } of workload) {
    const start = performance.now();
    index.search({ query, viewer: null, limit: PAGE_LIMIT });
    const elapsed = performance.now() - start;
    all.push(elapsed);
    const list = byKind.get(kind) ?? [];
    list.push(elapsed);
    byKind.set(kind, list);
  }
  all.sort((a, b) => a - b);
  const round = (value: number) => Math.round(value * 1000) / 1000;
  const section = readBack(store, index, workload);
  return {
    bookmarks,
    queries: all.length,
    p50_ms: round(percentile(all, 0.5)),
    p99_ms: round(percentile(all, 0.99)),
    max_ms: round(all[all.length - 1] ?? 0),
    build_index_ms: Math.round(buildMs),
    index_words: index.wordCount,
    store_heap_bytes_per_bookmark: gc ? Math.round((heapStore - heapStart) / bookmarks) : null,
    total_heap_bytes_per_bookmark: gc ? Math.round((heapTotal - heapStart) / bookmarks) : null,
    by_kind: Object.fromEntries(
      [...byKind].map(([kind, times]) => {
        times.sort((a, b) => a - b);
        return [kind, { p50_ms: round(percentile(times, 0.5)), p99_ms: round(percentile(times, 0.99)) }];
      }),
    ),
    section_encode_ms: Math.round(section.encodeMs),
    section_bytes: section.bytes,
    section_load_ms: round(section.loadMs),
    loaded_p50_ms: round(percentile(section.times, 0.5)),
    loaded_p99_ms: round(percentile(section.times, 0.99)),
  };
}

/** Writes the index as a section, reads it back, and runs the workload on it (answers checked equal to the built index's). */
function readBack(store: Store, built: SearchIndex, workload: { query: string }[]): { encodeMs: number; bytes: number; loadMs: number; times: number[] } {
  const encodeStart = performance.now();
  const chunks = built.encode();
  const encodeMs = performance.now() - encodeStart;
  const bytes = Buffer.concat(chunks);
  const loadStart = performance.now();
  const loaded = SearchIndex.load(store, bytes);
  const loadMs = performance.now() - loadStart;
  const ids = (index: SearchIndex, query: string) => index.search({ query, viewer: null, limit: PAGE_LIMIT }).items.map((bookmark) => bookmark.id).join();
  const times: number[] = [];
  for (const { query } of workload) {
    const start = performance.now();
    const answer = ids(loaded, query);
    times.push(performance.now() - start);
    if (answer !== ids(built, query)) throw new Error(`the index read back from its section answers ${JSON.stringify(query)} differently from the built one`);
  }
  times.sort((a, b) => a - b);
  return { encodeMs, bytes: bytes.length, loadMs, times };
}

function printTable(result: SearchBenchResult): void {
  console.log(`search over ${result.bookmarks.toLocaleString("en")} bookmarks, ${result.queries} queries of ${PAGE_LIMIT} results`);
  console.log(`index build ${result.build_index_ms} ms, ${result.index_words.toLocaleString("en")} words; heap/bookmark: store ${result.store_heap_bytes_per_bookmark ?? "?"} B, store+index ${result.total_heap_bytes_per_bookmark ?? "?"} B (target ≤ 1024 B)`);
  console.log("| query | p50 ms | p99 ms |");
  console.log("| --- | ---: | ---: |");
  for (const [kind, times] of Object.entries(result.by_kind)) console.log(`| ${kind} | ${times.p50_ms.toFixed(3)} | ${times.p99_ms.toFixed(3)} |`);
  console.log(`| **all** | ${result.p50_ms.toFixed(3)} | ${result.p99_ms.toFixed(3)} |`);
  console.log(`| **all, index read back from its section** | ${result.loaded_p50_ms.toFixed(3)} | ${result.loaded_p99_ms.toFixed(3)} |`);
  console.log(`search section: written in ${result.section_encode_ms} ms, ${(result.section_bytes / 1048576).toFixed(1)} MiB, read back in ${result.section_load_ms} ms (the build took ${result.build_index_ms} ms)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  printTable(await runSearchBench({ quick: process.argv.includes("--quick") }));
}
