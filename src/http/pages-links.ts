// Pages for an owner's link checks: the "broken links" list and the re-check button on their cards.
import type { TemplatedApp } from "uWebSockets.js";
import type { LinkChecker } from "../fetch/link-jobs.ts";
import { topic } from "../realtime/topics.ts";
import { idParam } from "./params.ts";
import { formBody, route, type Context } from "./router.ts";
import type { Answer } from "./respond.ts";
import { checkSharedFormWrite, page, pageOptions, redirect, requireViewer, type PageContext } from "./page.ts";
import { feedData } from "./pages-bookmarks.ts";

export interface LinkPagesDeps {
  checker: LinkChecker;
}

/** GET /bookmarks/broken: the viewer's bookmarks whose link the checker last found dead. */
function brokenPage(pages: PageContext, context: Context): Answer {
  const viewer = requireViewer(context);
  const data = feedData(pages, context, {
    title: "Broken links", heading: "Broken links",
    intro: "Your bookmarks whose link did not answer at its last check (only you see this). Re-check one now from its card.",
    section: "mine", live: topic.privateOf(viewer.username), query: { viewer, user: viewer, broken: true },
    emptyText: "No broken links: every link answered at its last check.", own: true,
  });
  return page(pages, context, "@pages/feed", "Broken links", "mine", data, { live: topic.privateOf(viewer.username) });
}

/** POST /b/:id/check: the owner's "re-check link" (the card is shared markup: same-origin check, as for the read mark). */
async function recheckFromForm(pages: PageContext, context: Context, deps: LinkPagesDeps): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = formBody(context);
  checkSharedFormWrite(context, fields._csrf);
  const bookmark = pages.commands.ownBookmark(viewer, idParam(context.params[0]));
  await deps.checker.checkNow(bookmark);
  return redirect(pages.store.links.isBroken(bookmark.id) ? "/bookmarks/broken" : `/b/${bookmark.id}`);
}

export function registerLinkPages(app: TemplatedApp, pages: PageContext, deps: LinkPagesDeps): void {
  route(app, pages, "get", "/bookmarks/broken", (context) => brokenPage(pages, context), pageOptions(pages));
  route(app, pages, "post", "/b/:id/check", (context) => recheckFromForm(pages, context, deps), pageOptions(pages, { body: true }));
}
