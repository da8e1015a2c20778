// The /stats page: events per second (an inline SVG chart), websockets, busiest topics, log size and flush lag — live, re-rendered once a second for all watchers.
import type { TemplatedApp } from "uWebSockets.js";
import type { LoggedEvent } from "../events.ts";
import type { Store } from "../store/store.ts";
import { STATS_TOPIC } from "../realtime/topics.ts";
import type { HtmlPublisher } from "../realtime/html-feed.ts";
import type { LiveSockets } from "../realtime/html-socket.ts";
import { render } from "../render/html.ts";
import { route } from "./router.ts";
import { page, pageOptions, type PageContext } from "./pages.ts";
import { guarded } from "../guard.ts";

/** Seconds of history in the chart. */
export const RATE_WINDOW_S = 300;
const CHART_WIDTH = 600;
const CHART_HEIGHT = 160;
const TOPICS_SHOWN_MAX = 10;
const FACTS_PER_GROUP_MAX = 14;

/** Counts committed events per second over the last RATE_WINDOW_S seconds, in a fixed ring. */
export class EventRate {
  private readonly counts = new Uint32Array(RATE_WINDOW_S);
  private readonly seconds = new Float64Array(RATE_WINDOW_S).fill(-1);

  afterApply(event: LoggedEvent): void {
    this.add(Math.floor(event.ts / 1000), 1);
  }

  add(second: number, count: number): void {
    const slot = second % RATE_WINDOW_S;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot] = this.counts[slot]! + count;
  }

  /** Events in each of the RATE_WINDOW_S seconds before `nowSecond`, oldest first (the running second is not complete). */
  series(nowSecond: number): number[] {
    const values: number[] = [];
    for (let second = nowSecond - RATE_WINDOW_S; second < nowSecond; second += 1) {
      const slot = second % RATE_WINDOW_S;
      values.push(this.seconds[slot] === second ? this.counts[slot]! : 0);
    }
    return values;
  }
}

/** What the stats page reads; `status` is GET /api/status's parts (log, flush, realtime, …). */
export interface StatsSources {
  rate: EventRate;
  live: LiveSockets;
  status: () => Record<string, unknown>;
}

interface Fact {
  label: string;
  value: string;
}

function niceCeiling(value: number): number {
  if (value <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 6, 8, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

/** The chart's geometry: a polyline and a filled area, y scaled from 0 to a round `top`. */
export function chartOf(series: readonly number[]): { points: string; area: string; top: number; now: number; peak: number; minutes: number; width: number; height: number } {
  const peak = Math.max(0, ...series);
  const top = niceCeiling(peak);
  const step = CHART_WIDTH / Math.max(1, series.length - 1);
  const y = (value: number) => (CHART_HEIGHT - (value / top) * (CHART_HEIGHT - 1)).toFixed(1);
  const points = series.map((value, index) => `${(index * step).toFixed(1)},${y(value)}`).join(" ");
  return {
    points,
    area: `M0,${CHART_HEIGHT} L${points.replaceAll(" ", " L")} L${CHART_WIDTH},${CHART_HEIGHT} Z`,
    top,
    now: series[series.length - 1] ?? 0,
    peak,
    minutes: Math.round(series.length / 60),
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
  };
}

export function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

function valueText(key: string, value: unknown): string {
  if (typeof value === "number") {
    if (/bytes$/i.test(key)) return bytesText(value);
    if (/_ms$/i.test(key)) return `${Math.round(value).toLocaleString("en")} ms`;
    return value.toLocaleString("en");
  }
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value).slice(0, 80);
  return String(value).slice(0, 80);
}

/** A status part of unknown shape (other parts own it) as label/value pairs, one level deep. */
export function factsOf(part: unknown): Fact[] {
  if (typeof part !== "object" || part === null) return part === undefined ? [] : [{ label: "value", value: valueText("", part) }];
  return Object.entries(part as Record<string, unknown>)
    .filter(([, value]) => !Array.isArray(value))
    .slice(0, FACTS_PER_GROUP_MAX)
    .map(([key, value]) => ({ label: key.replaceAll("_", " ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase(), value: valueText(key, value) }));
}

/**
 * Subscribers per topic: the live pages' own (HTML) counts plus the busiest topics the realtime
 * part reports for its raw and Phoenix sockets (`status.realtime.busiest`), summed by name.
 */
export function busiestTopics(live: LiveSockets, realtime: unknown): { topic: string; subscribers: number }[] {
  const counts = new Map<string, number>(live.subscribers);
  counts.delete(STATS_TOPIC);
  const reported = typeof realtime === "object" && realtime !== null ? (realtime as { busiest?: unknown }).busiest : undefined;
  if (Array.isArray(reported)) {
    for (const row of reported as { topic?: unknown; subscribers?: unknown }[]) {
      if (typeof row.topic === "string" && typeof row.subscribers === "number") counts.set(row.topic, (counts.get(row.topic) ?? 0) + row.subscribers);
    }
  }
  return [...counts]
    .map(([name, subscribers]) => ({ topic: name, subscribers }))
    .filter((row) => row.subscribers > 0)
    .sort((a, b) => b.subscribers - a.subscribers || (a.topic < b.topic ? -1 : 1))
    .slice(0, TOPICS_SHOWN_MAX);
}

function numberAt(part: unknown, key: string): number | null {
  const value = typeof part === "object" && part !== null ? (part as Record<string, unknown>)[key] : undefined;
  return typeof value === "number" ? value : null;
}

export function statsView(store: Store, sources: StatsSources, nowMs: number): object {
  const status = sources.status();
  const chart = chartOf(sources.rate.series(Math.floor(nowMs / 1000)));
  const logBytes = numberAt(status.log, "bytes");
  const flushOn = status.flush !== undefined && (status.flush as { enabled?: unknown }).enabled !== false;
  const flushLag = numberAt(status.flush, "lag_events");
  const flushLagMs = numberAt(status.flush, "lag_ms");
  const tiles: Fact[] = [
    { label: "events/s now", value: chart.now.toLocaleString("en") },
    { label: "open websockets", value: (sources.live.connections + (numberAt(status.realtime, "connections") ?? 0)).toLocaleString("en") },
    { label: "bookmarks", value: store.bookmarksById.size.toLocaleString("en") },
    { label: "users", value: store.usersById.size.toLocaleString("en") },
    { label: "comments", value: store.commentCount.toLocaleString("en") },
    { label: "event log", value: logBytes === null ? "—" : bytesText(logBytes) },
    { label: "Postgres flush lag", value: !flushOn ? "off" : flushLag === null ? "—" : `${flushLag.toLocaleString("en")} events${flushLagMs ? ` · ${flushLagMs.toLocaleString("en")} ms` : ""}` },
  ];
  const groups = [
    { heading: "Event log", facts: factsOf(status.log) },
    { heading: "Postgres flush", facts: flushOn ? factsOf(status.flush) : [{ label: "state", value: "off (no DATABASE_URL)" }] },
    { heading: "Websockets", facts: [{ label: "live pages (/live)", value: String(sources.live.connections) }, ...factsOf(status.realtime).map((fact) => ({ ...fact, label: `raw and Phoenix ${fact.label}` }))] },
  ];
  return { tiles, chart, topics: busiestTopics(sources.live, status.realtime), groups };
}

export function renderStatsPanel(store: Store, sources: StatsSources, nowMs: number): string {
  return render("@partials/stats-panel", statsView(store, sources, nowMs));
}

export function registerStatsPage(app: TemplatedApp, pages: PageContext): void {
  route(app, pages, "get", "/stats", (context) => page(pages, context, "@pages/stats", "Stats", "stats", { stats: statsView(pages.store, pages.stats, Date.now()) }, { live: STATS_TOPIC }), pageOptions(pages));
}

export const STATS_INTERVAL_MS = 1000;

/** Every second, while anyone watches /stats, renders the panel once and publishes it. Returns the stop function. */
export function startStatsTicker(store: Store, sources: StatsSources, out: HtmlPublisher): () => void {
  const timer = setInterval(guarded("stats ticker", () => {
    if (out.subscribers(STATS_TOPIC) === 0) return;
    out.publish(STATS_TOPIC, JSON.stringify({ content: renderStatsPanel(store, sources, Date.now()), target: "#stats-panel", swap: "outerHTML" }));
  }), STATS_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
