// The /stats page route; its panel is rendered by render/stats.ts and re-published each second by the live part's ticker.
import type { TemplatedApp } from "uWebSockets.js";
import { STATS_TOPIC } from "../realtime/topics.ts";
import { statsView } from "../render/stats.ts";
import { route } from "./router.ts";
import { page, pageOptions, type PageContext } from "./page.ts";

export function registerStatsPage(app: TemplatedApp, pages: PageContext): void {
  route(app, pages, "get", "/stats", (context) => page(pages, context, "@pages/stats", "Stats", "stats", { stats: statsView(pages.store, pages.stats, Date.now()) }, { live: STATS_TOPIC }), pageOptions(pages));
}
