// The /stats panel: events per second (an inline SVG chart), websockets, busiest topics, log size and flush lag, as a view and its HTML.
import type { Store } from "../store/store.ts";
import { render } from "./html.ts";

const CHART_WIDTH = 600;
const CHART_HEIGHT = 160;
const TOPICS_SHOWN_MAX = 10;
const FACTS_PER_GROUP_MAX = 14;

/** What the stats page reads; `status` is GET /api/status's parts (log, flush, realtime, …). */
export interface StatsSources {
  rate: { series(nowSecond: number): number[] };
  /** The live pages' sockets: how many, and subscribers per topic they follow (the stats topic left out). */
  live: { readonly connections: number; topics(): ReadonlyMap<string, number> };
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
export function busiestTopics(live: StatsSources["live"], realtime: unknown): { topic: string; subscribers: number }[] {
  const counts = new Map<string, number>(live.topics());
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
