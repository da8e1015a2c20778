// Pages for looking after your own bookmarks: the bulk bar on your lists (POST /bookmarks/bulk) and tag care on /tags (rename, merge, delete); deleting asks first.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError } from "../errors.ts";
import type { BulkResult } from "../commands/commands.ts";
import type { User } from "../store/store.ts";
import { render, tagPath } from "../render/html.ts";
import { route, type Context } from "./router.ts";
import type { Answer } from "./respond.ts";
import { formToken, fromHtmx, htmlAnswer, localPath, page, pageOptions, readFormParams, redirect, requireViewer, type PageContext } from "./page.ts";

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

/** `?deleted=N` on a list: where a bulk delete without htmx comes back to, so the bar can say what it did. */
const DELETED_PARAM = "deleted";

/** The bulk bar of one of the viewer's own lists (the page at `context.path`). */
export function bulkBar(context: Context, state: Partial<BulkBar> = {}): BulkBar {
  const deleted = context.query.get(DELETED_PARAM);
  const message = deleted !== null && /^\d{1,4}$/.test(deleted) ? deletedMessage(Number(deleted)) : null;
  return { csrf: formToken(context), back: context.path, action: "add_tags", tags: "", message, failed: false, ...state };
}

/** Deleting asks first: a form sends `confirm=yes` once the person said so (app.js's dialog, or the confirmation page without JavaScript). */
function confirmed(fields: URLSearchParams): boolean {
  return fields.get("confirm") === "yes";
}

/** What htmx gets when a delete came without its confirmation: app.js always asks, so the page is an old one. */
const UNCONFIRMED = "deleting asks first, and this page did not: reload it and try again";

/** Titles listed on a confirmation page; the rest are counted. */
const CONFIRM_TITLES_SHOWN_MAX = 20;

/** The confirmation page of a destructive form without JavaScript: what it will do, and the same form again with `confirm=yes`. */
interface Confirmation {
  /** The header's section the page belongs to. */
  section: string;
  heading: string;
  question: string;
  items: string[];
  more: number;
  action: string;
  fields: [string, string][];
  submit: string;
  cancel: string;
}

function confirmPage(pages: PageContext, context: Context, confirmation: Confirmation): Answer {
  return page(pages, context, "@pages/confirm", confirmation.heading, confirmation.section, confirmation);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function deletedMessage(count: number): string {
  return `Deleted ${plural(count, "bookmark")}.`;
}

/** A list's address with `?deleted=N`, keeping its own query. */
function withDeleted(back: string, count: number): string {
  const url = new URL(back, "http://local");
  url.searchParams.set(DELETED_PARAM, String(count));
  return url.pathname + url.search;
}

/** Ids as the form sends them; anything that is not digits is passed on as it is, for the command to name. */
function formIds(values: readonly string[]): unknown[] {
  return values.map((value) => (/^\d{1,15}$/.test(value) ? Number(value) : value));
}

function doneMessage(result: BulkResult): string {
  const changed = result.changed.length;
  if (result.action === "delete") return deletedMessage(changed);
  const unchanged = result.ids.length - changed;
  return `Done: ${plural(changed, "bookmark")} changed` + (unchanged > 0 ? `, ${unchanged} already as asked.` : ".");
}

/** The bulk delete's confirmation page, once the selection passed every check the delete itself makes. */
function confirmBulkDelete(pages: PageContext, context: Context, viewer: User, ids: string[], back: string): Answer {
  const { bookmarks } = pages.commands.bulkSelection(viewer, { ids: formIds(ids), action: "delete" });
  return confirmPage(pages, context, {
    section: "mine",
    heading: `Delete ${plural(bookmarks.length, "bookmark")}?`,
    question: `${bookmarks.length === 1 ? "This bookmark is" : `These ${bookmarks.length} bookmarks are`} erased for good, with their discussions; this cannot be undone.`,
    items: bookmarks.slice(0, CONFIRM_TITLES_SHOWN_MAX).map((bookmark) => bookmark.title),
    more: Math.max(0, bookmarks.length - CONFIRM_TITLES_SHOWN_MAX),
    action: "/bookmarks/bulk",
    fields: [["back", back], ["action", "delete"], ...bookmarks.map((bookmark): [string, string] => ["ids", String(bookmark.id)])],
    submit: `Delete ${plural(bookmarks.length, "bookmark")}`,
    cancel: back,
  });
}

async function bulkFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = readFormParams(context);
  const ids = fields.getAll("ids");
  const state = { back: localPath(fields.get("back")), action: fields.get("action") ?? "", tags: fields.get("tags") ?? "" };
  try {
    if (ids.length === 0) throw new HttpError(422, "tick at least one bookmark first");
    if (state.action === "delete" && !confirmed(fields)) {
      if (fromHtmx(context)) throw new HttpError(422, UNCONFIRMED);
      return confirmBulkDelete(pages, context, viewer, ids, state.back);
    }
    const result = await pages.commands.bulkEdit(viewer, { ids: formIds(ids), action: state.action, tags: state.tags });
    if (!fromHtmx(context)) return redirect(result.action === "delete" ? withDeleted(state.back, result.changed.length) : state.back);
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

/** A tag delete's confirmation page, for a tag the viewer uses. */
function confirmTagDelete(pages: PageContext, context: Context, viewer: User, raw: string): Answer {
  const tag = pages.commands.ownTag(viewer, raw);
  const count = pages.store.userTagCounts(viewer, viewer).find((entry) => entry.tag === tag)?.count ?? 0;
  return confirmPage(pages, context, {
    section: "tags",
    heading: `Delete the tag “${tag}”?`,
    question: `It comes off ${count === 1 ? "your bookmark" : `your ${count} bookmarks`}; the bookmarks stay.`,
    items: [],
    more: 0,
    action: "/tags/delete",
    fields: [["tag", tag]],
    submit: `Delete “${tag}”`,
    cancel: "/tags#my-tags",
  });
}

/** POST /tags/rename (`tag`, `name`) and /tags/delete (`tag`, `confirm=yes`, else it asks): the tag care commands, answered with the owner's tag list again. */
async function tagCareFromForm(pages: PageContext, context: Context, kind: "rename" | "delete"): Promise<Answer> {
  const viewer = requireViewer(context);
  const fields = readFormParams(context);
  const tag = fields.get("tag") ?? "";
  try {
    if (kind === "delete" && !confirmed(fields)) {
      if (fromHtmx(context)) throw new HttpError(422, UNCONFIRMED);
      return confirmTagDelete(pages, context, viewer, tag);
    }
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
