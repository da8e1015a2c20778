// The live half of /stats: committed events counted per second, and the panel re-rendered and published once a second while anyone watches.
import { guarded } from "../guard.ts";
import type { LoggedEvent } from "../events.ts";
import type { Store } from "../store/store.ts";
import { renderStatsPanel, type StatsSources } from "../render/stats.ts";
import { STATS_TOPIC } from "./topics.ts";

/** Seconds of history in the chart. */
export const RATE_WINDOW_S = 300;

/** Where the panel goes: the html wire's stats topic (numSubscribers lets the ticker skip rendering for nobody). */
export interface HtmlPublisher {
  subscribers(topicName: string): number;
  publish(topicName: string, message: string): void;
}

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
