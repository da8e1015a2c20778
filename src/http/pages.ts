// The htmx web app's routes: every page and the static assets they link to (the live half is wired in main.ts).
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import { route } from "./router.ts";
import { registerStatic } from "./pages-static.ts";
import { registerAuthPages } from "./pages-auth.ts";
import { registerBookmarkPages } from "./pages-bookmarks.ts";
import { registerStatsPage } from "./pages-stats.ts";
import { registerAdminPages } from "./pages-admin.ts";
import { registerCarePages } from "./pages-care.ts";
import { pageOptions, type PageContext, type PagesDeps } from "./page.ts";

/** Registers every page route and the static assets they link to. */
export function registerPages(app: TemplatedApp, deps: PagesDeps): void {
  const pages: PageContext = { ...deps, assets: registerStatic(app, deps) };
  registerAuthPages(app, pages);
  registerBookmarkPages(app, pages);
  registerStatsPage(app, pages);
  registerAdminPages(app, pages);
  registerCarePages(app, pages);
  deps.extraPages?.(app, pages);
  route(app, deps, "any", "/*", (context) => {
    throw new HttpError(404, `no page at ${context.path.slice(0, 100)}`);
  }, pageOptions(pages));
}
