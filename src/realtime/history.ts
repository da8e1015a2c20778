// The live history: one shared, bounded ring of the last committed events (their before/after), and a bounded cache of what replaying them rendered.
import { assert } from "../assert.ts";
import { routesOf, type LiveEvent, type Route } from "./routing.ts";

/** Bytes of rendered replay text kept at most (payloads and fragments, counted as UTF-16 length). */
export const REPLAY_RENDERED_BYTES_MAX = 32 * 1024 * 1024;

export interface HistoryEntry {
  readonly event: LiveEvent;
  /** Its routes without tag sets, by topic name; computed at the first replay that needs them. */
  routesByName: Map<string, Route[]> | null;
  /** What replaying it rendered (ReplayCache), null until a replay needs it or after a later event about its bookmark. */
  replay: ReplayRendering | null;
}

/**
 * One held event's replay renderings: payloads and fragments by key (as the live push keys
 * them), and the finished frames by follow key (topic, wire, channel, join_ref), encoded as UTF-8
 * once, so every socket resuming past this event is sent the same bytes without any work per socket.
 */
export interface ReplayRendering {
  readonly payloads: Map<string, string | null>;
  readonly frames: Map<string, readonly Buffer[]>;
  bytes: number;
}

/** A held event's routes on `name`, tag sets left out (routed once, at the first replay that asks). */
export function routesOn(entry: HistoryEntry, name: string): readonly Route[] {
  entry.routesByName ??= byName(routesOf(entry.event));
  return entry.routesByName.get(name) ?? NO_ROUTES;
}

/**
 * The last `eventsMax` committed events, every type, in `seq` order, as their typed snapshots:
 * nothing per subscriber, nothing rendered ahead. A client resuming after `since` is complete
 * when every event after `since` is still here (`since >= heldAfter`); otherwise it resyncs.
 * Before the first event of this process, `heldAfter` is the log's head at start-up: the ring
 * does not survive a restart, so anyone further behind resyncs.
 */
export class LiveHistory {
  private readonly ring: (HistoryEntry | undefined)[];
  private start = 0;
  private count = 0;
  /** Every event with a larger seq is held (or not committed yet). */
  heldAfter: number;
  /** The seq of the newest event committed (the log's head). */
  head: number;

  constructor(readonly eventsMax: number, headAtStart: number) {
    assert(Number.isInteger(eventsMax) && eventsMax >= 0, `history of ${eventsMax} events`);
    this.ring = new Array(eventsMax);
    this.heldAfter = headAtStart;
    this.head = headAtStart;
  }

  get size(): number {
    return this.count;
  }

  push(event: LiveEvent): void {
    assert(event.seq > this.head, `event ${event.seq} committed after ${this.head}`);
    this.head = event.seq;
    if (this.eventsMax === 0) {
      this.heldAfter = event.seq;
      return;
    }
    if (this.count === this.eventsMax) {
      this.heldAfter = this.ring[this.start]!.event.seq;
      this.start = (this.start + 1) % this.eventsMax;
      this.count -= 1;
    }
    this.ring[(this.start + this.count) % this.eventsMax] = { event, routesByName: null, replay: null };
    this.count += 1;
  }

  /** Whether everything after `since` can be replayed: it is held, and `since` is not ahead of the log. */
  complete(since: number): boolean {
    return since >= this.heldAfter && since <= this.head;
  }

  /** The held event at `index` (0 is the oldest), for a walk from `firstAfter`. */
  at(index: number): HistoryEntry {
    return this.ring[(this.start + index) % this.eventsMax]!;
  }

  /** The position of the first held event after `since` (binary search: seqs grow). */
  firstAfter(since: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.ring[(this.start + middle) % this.eventsMax]!.event.seq <= since) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

const NO_ROUTES: readonly Route[] = [];

function byName(routes: readonly Route[]): Map<string, Route[]> {
  const names = new Map<string, Route[]>();
  for (const route of routes) {
    const list = names.get(route.name);
    if (list) list.push(route);
    else names.set(route.name, [route]);
  }
  return names;
}

/**
 * What replays rendered, so a storm of resuming clients renders and encodes each event once per
 * key, not once per client: kept on the history entries, and listed here by bookmark, so any later
 * event about a bookmark drops its renderings and a replay never serves what it looked like before
 * (or at all, once deleted or made private); an erased account drops them all. Bounded by
 * REPLAY_RENDERED_BYTES_MAX (payloads counted as UTF-16 length, frames as bytes): the oldest
 * groups go first.
 */
export class ReplayCache {
  private readonly groups = new Map<number, HistoryEntry[]>();
  private bytes = 0;

  constructor(private readonly bytesMax = REPLAY_RENDERED_BYTES_MAX) {}

  get size(): { groups: number; bytes: number } {
    return { groups: this.groups.size, bytes: this.bytes };
  }

  /** The entry's renderings, started (and listed under `bookmarkId`) at the first replay that needs them. */
  of(entry: HistoryEntry, bookmarkId: number): ReplayRendering {
    if (entry.replay) return entry.replay;
    const rendering: ReplayRendering = { payloads: new Map(), frames: new Map(), bytes: 0 };
    entry.replay = rendering;
    const group = this.groups.get(bookmarkId);
    if (group) group.push(entry);
    else this.groups.set(bookmarkId, [entry]);
    return rendering;
  }

  /** Counts what was just kept in `rendering`, dropping the oldest groups while over the bound. */
  grew(rendering: ReplayRendering, bytes: number): void {
    rendering.bytes += bytes;
    this.bytes += bytes;
    while (this.bytes > this.bytesMax && this.groups.size > 0) this.drop(this.groups.keys().next().value!);
  }

  drop(bookmarkId: number): void {
    const group = this.groups.get(bookmarkId);
    if (!group) return;
    for (const entry of group) {
      this.bytes -= entry.replay?.bytes ?? 0;
      entry.replay = null;
    }
    this.groups.delete(bookmarkId);
  }

  clear(): void {
    for (const bookmarkId of [...this.groups.keys()]) this.drop(bookmarkId);
  }
}
