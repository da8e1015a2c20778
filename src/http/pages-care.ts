// Pages for looking after your own bookmarks: the bulk bar on your lists (POST /bookmarks/bulk) and tag care on /tags (rename, merge, delete).
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { BulkResult } from "../commands/commands.ts";
import type { User } from "../store/store.ts";
import { render, tagPath } from "../render/html.ts";
import { route, type Context } from "./router.ts";
import type { Answer } from "./respond.ts";
import { formToken, fromHtmx, htmlAnswer, localPath, pageOptions, readFormParams, redirect, requireViewer, type PageContext } from "./page.ts";

/** What the bulk bar shows: the form, and after an attempt what became of it. */
export interface BulkBar {
  csrf: string;
  /** Where the form goes back to without htmx: the list it is on. */
  back: string;
  action: string;
  tags: string;
  message: string | null;
  failed: boolean;
}

/** The bulk bar of one of the viewer's own lists (the page at `context.path`). */
export function bulkBar(context: Context, state: Partial<BulkBar> = {}): BulkBar {
  return { csrf: formToken(context), back: context.path, action: "add_tags", tags: "", message: null, failed: false, ...state };
}

/** Ids as the form sends them; anything that is not digits is passed on as it is, for the command to name. */
function formIds(values: readonly string[]): unknown[] {
  return values.map((value) => (/^\d{1,15}$/.test(value) ? Number(value) : value));
}

function doneMessage(result: BulkResult): string {
  const changed = result.changed.length;
  const named = result.ids.length;
  const unchanged = named - changed;
  return `Done: ${changed} bookmark${changed === 1 ? "" : "s"} changed` + (unchanged > 0 ? `, ${unchanged} already as asked.` : ".");
}

async function bulkFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = readFormParams(context);
  const ids = fields.getAll("ids");
  const state = { back: localPath(fields.get("back")), action: fields.get("action") ?? "", tags: fields.get("tags") ?? "" };
  try {
    if (ids.length === 0) throw new HttpError(422, "tick at least one bookmark first");
    const result = await pages.commands.bulkEdit(viewer, { ids: formIds(ids), action: state.action, tags: state.tags });
    if (!fromHtmx(context)) return redirect(state.back);
    return htmlAnswer(200, render("@partials/bulk-bar", bulkBar(context, { ...state, tags: "", message: doneMessage(result) })));
  } catch (error) {
    if (!(error instanceof HttpError) || !fromHtmx(context)) throw error;
    return htmlAnswer(error.status, render("@partials/bulk-bar", bulkBar(context, { ...state, message: error.message, failed: true })), error.headers);
  }
}

/** The owner's part of /tags: each of their tags (private ones included) with its rename and delete forms. */
export interface MyTags {
  csrf: string;
  tags: { tag: string; count: number; path: string }[];
  message: string | null;
  failed: boolean;
}

export function myTags(pages: PageContext, context: Context, viewer: User, message: string | null = null, failed = false): MyTags {
  const tags = pages.store.userTagCounts(viewer, viewer).map(({ tag, count }) => ({ tag, count, path: tagPath([tag]) }));
  return { csrf: formToken(context), tags, message, failed };
}

/** POST /tags/rename (`tag`, `name`) and /tags/delete (`tag`): the tag care commands, answered with the owner's tag list again. */
async function tagCareFromForm(pages: PageContext, context: Context, kind: "rename" | "delete"): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = readFormParams(context);
  const tag = fields.get("tag") ?? "";
  try {
    const result = kind === "rename" ? await pages.commands.renameTag(viewer, tag, { name: fields.get("name") ?? "" }) : await pages.commands.deleteTag(viewer, tag);
    if (!fromHtmx(context)) return redirect("/tags#my-tags");
    const on = `on ${result.bookmarks} bookmark${result.bookmarks === 1 ? "" : "s"}`;
    const message = result.name === null ? `Removed “${result.tag}” ${on}.` : `Renamed “${result.tag}” to “${result.name}” ${on}.`;
    return htmlAnswer(200, render("@partials/my-tags", myTags(pages, context, viewer, message)));
  } catch (error) {
    if (!(error instanceof HttpError) || !fromHtmx(context)) throw error;
    return htmlAnswer(error.status, render("@partials/my-tags", myTags(pages, context, viewer, error.message, true)), error.headers);
  }
}

/** Characters of selected text the bookmarklet carries over as the description. */
const BOOKMARKLET_SELECTION_CHARS_MAX = 4000;

/**
 * The bookmarklet: a `javascript:` link that opens this site's add form (GET /bookmarks) with the
 * current page's address, title and selected text. It holds no token: the form is saved with
 * the session of whoever is logged in (or asks them to log in first).
 */
export function bookmarkletHref(origin: string): string {
  const form = JSON.stringify(`${origin}/bookmarks?url=`);
  const code =
    `(function(){var s=String(window.getSelection?window.getSelection():"").trim().slice(0,${BOOKMARKLET_SELECTION_CHARS_MAX});` +
    `location.href=${form}+encodeURIComponent(location.href)+"&title="+encodeURIComponent(document.title)+"&description="+encodeURIComponent(s);})()`;
  return `javascript:${code}`;
}

export function registerCarePages(app: TemplatedApp, pages: PageContext): void {
  const withBody = pageOptions(pages, { body: true });
  route(app, pages, "post", "/bookmarks/bulk", (context) => bulkFromForm(pages, context), withBody);
  route(app, pages, "post", "/tags/rename", (context) => tagCareFromForm(pages, context, "rename"), withBody);
  route(app, pages, "post", "/tags/delete", (context) => tagCareFromForm(pages, context, "delete"), withBody);
}
