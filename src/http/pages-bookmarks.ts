// Pages for bookmarks: the live feeds (firehose, tags, people, your own), one bookmark with its discussion, forms, scramble, discover, tags.
import type { TemplatedApp } from "uWebSockets.js";
import { HttpError, type FieldErrors } from "../errors.ts";
import { normalizeTags, validUrl } from "../commands/schemas.ts";
import { commentShown, listed, type Bookmark, type BookmarkQuery, type User } from "../store/store.ts";
import type { CommentId } from "../events.ts";
import { tagSetTopic, topic } from "../realtime/topics.ts";
import { cardView, commentView, render, tagCloud } from "../render/html.ts";
import { booleanParam, cursorParam, idParam, userParam } from "./params.ts";
import { BOOKMARK_BODY_BYTES_MAX, formBody, route, type Context } from "./router.ts";
import { percentDecodeAll } from "../text.ts";
import type { Answer } from "./respond.ts";
import { fieldErrors } from "./pages-auth.ts";
import { bulkBar, myTags } from "./pages-care.ts";
import { checkSharedFormWrite, formToken, fromHtmx, htmlAnswer, page, pageOptions, readForm, redirect, requireViewer, type PageContext } from "./page.ts";

export const FEED_PAGE_SIZE = 50;
export const RANDOM_PICKS = 50;
export const COMMENTS_SHOWN_MAX = 100;
export const TAGS_IN_CLOUD_MAX = 500;
export const TAGS_PER_FEED_MAX = 8;
const ALSO_SAVED_SHOWN_MAX = 20;

export interface FeedSpec {
  title: string;
  heading: string;
  intro: string;
  section: string;
  live: string;
  query: Omit<BookmarkQuery, "limit" | "beforeOrd">;
  emptyText: string;
  /** The viewer's own list: it gets the bulk bar. */
  own?: boolean;
}

/** The list part of a feed page: one page of cards, newest first, with links to older pages. */
export function feedData(pages: PageContext, context: Context, spec: FeedSpec): object {
  const beforeOrd = cursorParam(context);
  const result = pages.store.bookmarks({ ...spec.query, beforeOrd, limit: FEED_PAGE_SIZE });
  return {
    heading: spec.heading,
    intro: spec.intro,
    cards: result.items.map((bookmark) => pages.cards.html(bookmark, context.viewer)),
    // Only the newest page takes live insertions; older pages still follow edits and deletions.
    feedId: beforeOrd === undefined ? "feed" : "feed-older",
    older: result.nextCursor ? `${context.path}?cursor=${result.nextCursor}` : null,
    newest: beforeOrd === undefined ? null : context.path,
    emptyText: spec.emptyText,
    bulk: spec.own ? bulkBar(context) : null,
  };
}

function feedPage(pages: PageContext, context: Context, spec: FeedSpec): Answer {
  return page(pages, context, "@pages/feed", spec.title, spec.section, feedData(pages, context, spec), { live: spec.live });
}

/**
 * Tags of `/t/rust+web`, read from the raw path: `+` separates tags, and a tag that contains a
 * plus is written `%2B`. 404 when there is no tag, 400 past TAGS_PER_FEED_MAX.
 */
function tagsFromPath(path: string): string[] {
  const decoded = percentDecodeAll(path.slice("/t/".length).split("+"));
  if (decoded === null) throw new HttpError(400, "the tags in this address have percent-escapes that are not UTF-8");
  const tags = normalizeTags(decoded);
  if (tags.length === 0) throw new HttpError(404, "no tag given; try /tags");
  if (tags.length > TAGS_PER_FEED_MAX) throw new HttpError(400, `at most ${TAGS_PER_FEED_MAX} tags can be combined, got ${tags.length}`);
  return tags;
}

/** A bookmark form's values as the form shows them again. */
interface FormValues {
  url?: string;
  title?: string;
  description?: string;
  /** Absent from a form that has no notes field: the bookmark's notes are left as they are. */
  notes?: string;
  tags?: string;
  public?: boolean;
}

interface BookmarkForm {
  formId: string;
  action: string;
  submit: string;
  cancel: string | null;
  htmx: boolean;
  csrf: string;
  values: FormValues;
  errors: FieldErrors;
  message: string | null;
  saved: string | null;
  /** The viewer's own bookmark of the URL in the form, when they saved it already (the form links to its edit page). */
  already?: { id: number; title: string } | null;
}

function newBookmarkForm(context: Context, values: FormValues = { public: true }, failure: HttpError | null = null, saved: string | null = null): BookmarkForm {
  return { formId: "new-bookmark", action: "/bookmarks", submit: "Save bookmark", cancel: null, htmx: true, csrf: formToken(context), values, errors: failure ? fieldErrors(failure) : {}, message: failure?.message ?? null, saved };
}

/** The viewer's own bookmark of `raw` (in any of its forms, as duplicates are found), for the add form to point at. */
function alreadySaved(pages: PageContext, viewer: User | null, raw: string | undefined): BookmarkForm["already"] {
  if (viewer === null || raw === undefined) return null;
  const url = validUrl(raw);
  const bookmark = url === null ? undefined : pages.store.savedBy(viewer, url);
  return bookmark ? { id: bookmark.id, title: bookmark.title } : null;
}

/** Form fields → the command's input: the `public` checkbox is present only when ticked. */
function bookmarkInput(fields: Record<string, string>): FormValues {
  return { url: fields.url ?? "", title: fields.title ?? "", description: fields.description ?? "", notes: fields.notes, tags: fields.tags ?? "", public: fields.public === "on" || fields.public === "true" };
}

function valuesOf(bookmark: Bookmark): FormValues {
  return { url: bookmark.url, title: bookmark.title, description: bookmark.description, notes: bookmark.notes, tags: bookmark.tags.join(", "), public: bookmark.public };
}

/** A URL inside shared text ("Look at this https://…"): phones often share a link as text alone. */
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"]+/i;

/**
 * The add form's values from its address: `url`, `title`, `description` and `tags` (the
 * bookmarklet, the extension), and `text` from the web app manifest's share target. Shared text
 * that carries the only URL gives it up; what is left of the text becomes the description.
 */
export function prefillOf(query: URLSearchParams): FormValues {
  let url = query.get("url") ?? "";
  let text = query.get("text") ?? "";
  const found = url === "" ? URL_IN_TEXT.exec(text) : null;
  if (found) {
    url = found[0];
    text = text.slice(0, found.index) + text.slice(found.index + found[0].length);
  }
  text = text.trim() === url ? "" : text.trim();
  const description = [query.get("description") ?? "", text].filter((part) => part !== "").join("\n\n");
  return { url, title: query.get("title") ?? "", description, tags: query.get("tags") ?? "", public: true };
}

function minePage(pages: PageContext, context: Context, form: BookmarkForm, status = 200): Answer {
  const viewer = requireViewer(context);
  const data = feedData(pages, context, {
    title: "My bookmarks", heading: "My bookmarks", intro: "", section: "mine", live: topic.privateOf(viewer.username),
    query: { viewer, user: viewer }, emptyText: "You have not saved anything yet.", own: true,
  });
  return page(pages, context, "@pages/mine", "My bookmarks", "mine", { ...data, form }, { status, live: topic.privateOf(viewer.username) });
}

async function createFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const values = bookmarkInput(readForm(context));
  try {
    const bookmark = await pages.commands.createBookmark(viewer, values);
    if (!fromHtmx(context)) return redirect("/bookmarks");
    return htmlAnswer(200, render("@partials/bookmark-form", newBookmarkForm(context, { public: values.public }, null, bookmark.title)));
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    const form = { ...newBookmarkForm(context, values, error), already: error.status === 409 ? alreadySaved(pages, viewer, values.url) : null };
    if (fromHtmx(context)) return htmlAnswer(error.status, render("@partials/bookmark-form", form), error.headers);
    return minePage(pages, context, form, error.status);
  }
}

function editPage(pages: PageContext, context: Context, bookmark: Bookmark, values: FormValues, failure: HttpError | null = null): Answer {
  const form: BookmarkForm = {
    formId: "edit-bookmark", action: `/b/${bookmark.id}/edit`, submit: "Save changes", cancel: `/b/${bookmark.id}`, htmx: false,
    csrf: formToken(context), values, errors: failure ? fieldErrors(failure) : {}, message: failure?.message ?? null, saved: null,
  };
  return page(pages, context, "@pages/edit", `Edit ${bookmark.title}`, "mine", { form, id: bookmark.id }, { status: failure?.status ?? 200 });
}

async function editFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const bookmark = pages.commands.ownBookmark(viewer, idParam(context.params[0]));
  const values = bookmarkInput(readForm(context));
  try {
    await pages.commands.updateBookmark(viewer, bookmark.id, values);
    return redirect(`/b/${bookmark.id}`);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return editPage(pages, context, bookmark, values, error);
  }
}

function visibleBookmark(pages: PageContext, context: Context): Bookmark {
  const id = idParam(context.params[0]);
  const bookmark = pages.store.visibleBookmark(id, context.viewer);
  if (!bookmark) throw new HttpError(404, `no bookmark ${id}`);
  return bookmark;
}

/** The topic a bookmark's page follows: its own discussion when public, its owner's private topic when not. */
function bookmarkTopic(bookmark: Bookmark): string {
  return bookmark.public ? topic.bookmark(bookmark.id) : topic.privateOf(bookmark.user.username);
}

function bookmarkPage(pages: PageContext, context: Context, bookmark: Bookmark, commentFailure: { error: HttpError; body: string } | null = null): Answer {
  const all = (bookmark.comments ?? []).filter((comment) => commentShown(context.viewer, comment));
  const shown = all.slice(Math.max(0, all.length - COMMENTS_SHOWN_MAX));
  const savedAlsoBy = pages.store.bookmarksOfUrl(bookmark.url)
    .filter((other) => other.id !== bookmark.id && listed(other))
    .slice(0, ALSO_SAVED_SHOWN_MAX)
    .map((other) => ({ id: other.id, user: other.user.username }));
  const data = {
    id: bookmark.id,
    cardHtml: pages.cards.html(bookmark, context.viewer),
    comments: shown.map(commentView),
    olderComments: all.length - shown.length,
    savedAlsoBy,
    commentError: commentFailure?.error.message ?? null,
    commentBody: commentFailure?.body ?? "",
  };
  return page(pages, context, "@pages/bookmark", bookmark.title, "", data, { status: commentFailure?.error.status ?? 200, live: bookmarkTopic(bookmark), headers: commentFailure?.error.headers });
}

function commentForm(context: Context, id: number, failure: HttpError | null, body: string): string {
  return render("@partials/comment-form", { id, csrf: formToken(context), message: failure?.message ?? null, body });
}

async function commentFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  const bookmark = visibleBookmark(pages, context);
  const fields = readForm(context);
  const body = fields.body ?? "";
  try {
    await pages.commands.postComment(viewer, bookmark.id, { body });
    if (fromHtmx(context)) return htmlAnswer(200, commentForm(context, bookmark.id, null, ""));
    return redirect(`/b/${bookmark.id}#discussion`);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    if (fromHtmx(context)) return htmlAnswer(error.status, commentForm(context, bookmark.id, error, body), error.headers);
    return bookmarkPage(pages, context, bookmark, { error, body });
  }
}

/**
 * POST /comments/:id/delete, from the delete button of a comment, which only its author is shown
 * (comments are rendered once for every watcher, so the button carries no form token:
 * checkSharedFormWrite). The live push takes the comment off every open page, this one included.
 */
async function deleteCommentFromForm(pages: PageContext, context: Context): Promise<Answer> {
  const viewer = requireViewer(context);
  checkSharedFormWrite(context, formBody(context)._csrf);
  const id = idParam(context.params[0], "comment");
  const bookmarkId = pages.store.commentsById.get(id as CommentId)?.bookmarkId;
  await pages.commands.deleteComment(viewer, id);
  if (fromHtmx(context)) return { status: 204 };
  return redirect(`/b/${bookmarkId}#discussion`);
}

function randomPicks(pages: PageContext): Bookmark[] {
  return pages.store.randomPublic(RANDOM_PICKS);
}

/**
 * `?broken=true` on your own list (/bookmarks, /u/<you>): the broken links page is that list, so
 * it sends you there (as the API's broken=true filters). Others' pages show no link checks and
 * ignore it; a value that is not a boolean is a 400 as in the API.
 */
function brokenListWanted(context: Context, own: boolean): boolean {
  return own && booleanParam(context, "broken") === true;
}

function userFeed(pages: PageContext, context: Context, user: User): Answer {
  const own = context.viewer === user;
  if (brokenListWanted(context, own)) return redirect("/bookmarks/broken");
  return feedPage(pages, context, {
    title: user.username,
    heading: `${user.username}'s bookmarks`,
    intro: own ? "Your page, private bookmarks included (only you see those)." : `Everything ${user.username} saved publicly, live.`,
    section: own ? "mine" : "",
    live: own ? topic.privateOf(user.username) : topic.user(user.username),
    query: { viewer: own ? user : null, user },
    emptyText: "No bookmarks yet.",
    own,
  });
}

export function registerBookmarkPages(app: TemplatedApp, pages: PageContext): void {
  const options = pageOptions(pages);
  const cached = pageOptions(pages, { cache: true });
  const withBody = pageOptions(pages, { body: true });
  const withBookmark = pageOptions(pages, { body: true, bodyBytesMax: BOOKMARK_BODY_BYTES_MAX });

  route(app, pages, "get", "/", (context) => feedPage(pages, context, {
    title: "Firehose", heading: "Firehose", intro: "Every public bookmark, live, the moment it is saved.", section: "firehose",
    live: topic.firehose, query: { viewer: null }, emptyText: "Nothing saved yet. Be the first!",
  }), cached);

  route(app, pages, "get", "/t/*", (context) => {
    const tags = tagsFromPath(context.path);
    const label = tags.map((tag) => `#${tag}`).join(" + ");
    return feedPage(pages, context, {
      title: label, heading: label, intro: tags.length > 1 ? "Public bookmarks carrying all of these tags, live." : "Public bookmarks with this tag, live.",
      section: "tags", live: tagSetTopic(tags), query: { viewer: null, tags }, emptyText: "No public bookmarks with this tag yet.",
    });
  }, cached);

  route(app, pages, "get", "/u/:name", (context) => userFeed(pages, context, userParam(pages.store, context.params[0] ?? "")), cached);

  route(app, pages, "get", "/bookmarks", (context) => {
    if (brokenListWanted(context, context.viewer !== null)) return redirect("/bookmarks/broken");
    const values = prefillOf(context.query);
    return minePage(pages, context, { ...newBookmarkForm(context, values), already: alreadySaved(pages, context.viewer, values.url) });
  }, options);
  route(app, pages, "post", "/bookmarks", (context) => createFromForm(pages, context), withBookmark);

  route(app, pages, "get", "/b/:id", (context) => bookmarkPage(pages, context, visibleBookmark(pages, context)), cached);
  route(app, pages, "post", "/b/:id/comments", (context) => commentFromForm(pages, context), withBody);
  route(app, pages, "post", "/comments/:id/delete", (context) => deleteCommentFromForm(pages, context), withBody);
  route(app, pages, "get", "/b/:id/edit", (context) => {
    const bookmark = pages.commands.ownBookmark(requireViewer(context), idParam(context.params[0]));
    return editPage(pages, context, bookmark, valuesOf(bookmark));
  }, options);
  route(app, pages, "post", "/b/:id/edit", (context) => editFromForm(pages, context), withBookmark);
  route(app, pages, "post", "/b/:id/delete", async (context) => {
    const viewer = requireViewer(context);
    readForm(context);
    await pages.commands.deleteBookmark(viewer, idParam(context.params[0]));
    return redirect("/bookmarks");
  }, withBody);

  const scrambled = (context: Context) => ({ cards: randomPicks(pages).map((bookmark) => pages.cards.html(bookmark, context.viewer)) });
  route(app, pages, "get", "/scramble", (context) => page(pages, context, "@pages/scramble", "Scramble", "scramble", scrambled(context)), options);
  route(app, pages, "get", "/scramble/cards", (context) => htmlAnswer(200, render("@partials/scramble-cards", scrambled(context))), options);
  route(app, pages, "get", "/discover", (context) => page(pages, context, "@pages/discover", "Discover", "discover", { cards: randomPicks(pages).map((bookmark) => cardView(pages.store, bookmark)) }), options);

  route(app, pages, "get", "/tags", (context) => {
    const counts = pages.store.publicTagCounts();
    const mine = context.viewer ? myTags(pages, context, context.viewer) : null;
    return page(pages, context, "@pages/tags", "Tags", "tags", { tags: tagCloud(counts.slice(0, TAGS_IN_CLOUD_MAX)), total: counts.length, mine });
  }, cached);
}
