// HTML rendering: eta templates in views/ (everything escaped), view models built from the store, pure functions.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Eta } from "eta";
import type { Bookmark, Comment, Store, TagCount, User } from "../store/store.ts";
import type { LinkCheck, LinkTrouble } from "../store/link-health.ts";
import { uriComponent } from "../text.ts";
import { isoTime } from "./json.ts";
import { escapeValue } from "./escape.ts";
import { renderNotes } from "./markdown.ts";

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../views");

/**
 * The one template engine. `autoEscape` makes `<%= %>` escape & < > " ' everywhere (escape.ts, which
 * also keeps characters no UTF-8 or XML can carry out of the page); the few raw `<%~ %>` outputs only
 * ever carry HTML these functions rendered themselves. Every view is
 * compiled once at start-up under its name (`@pages/feed`, `@partials/card`): rendering by name
 * skips eta's per-call path resolution, which cost more than the rendering itself.
 */
const eta = new Eta({ autoEscape: true, escapeFunction: escapeValue, cache: true, autoTrim: [false, "nl"] });

function loadViews(dir: string, prefix: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) loadViews(file, `${prefix}${entry.name}/`);
    else if (entry.name.endsWith(".eta")) eta.loadTemplate(`@${prefix}${entry.name.slice(0, -".eta".length)}`, fs.readFileSync(file, "utf8"));
  }
}
loadViews(VIEWS_DIR, "");

/** An href for a stored URL: only absolute http(s) URLs become links, anything else null. */
export function safeHref(raw: string): string | null {
  if (!/^https?:\/\//i.test(raw)) return null;
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function domainOf(raw: string): string {
  try {
    return new URL(raw).hostname.replace(/^www\./, "");
  } catch {
    return "";
  }
}

/** The readable fallback for a <time> element; static/app.js turns it into "3 min ago". */
export function utcText(ms: number): string {
  const iso = isoTime(ms);
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** Path of a tag feed: `/t/rust+web`; each tag URI-encoded so `+` inside a tag stays a tag (never throwing on stored text). */
export function tagPath(tags: readonly string[]): string {
  return `/t/${tags.map(uriComponent).join("+")}`;
}

export interface CardView {
  id: number;
  title: string;
  href: string | null;
  domain: string;
  description: string;
  tags: { name: string; path: string }[];
  user: string;
  isPublic: boolean;
  insertedAt: string;
  insertedAtText: string;
  /** Other people who saved the same URL publicly: the same number for every viewer. */
  others: number;
  comments: number;
}

/**
 * What a bookmark card shows. It carries nothing viewer-specific, so one rendering serves every
 * subscriber of a topic; owner-only controls are hidden by CSS unless `body[data-viewer]` matches.
 * Nor anything personal: the read-later flag is not in it at all (hidden is not private), only
 * an empty read mark that the owner's own rendering fills (see CardCache.html and readMark).
 */
export function cardView(store: Store, bookmark: Bookmark): CardView {
  return {
    id: bookmark.id,
    title: bookmark.title,
    href: safeHref(bookmark.url),
    domain: domainOf(bookmark.url),
    description: bookmark.description,
    tags: bookmark.tags.map((name) => ({ name, path: tagPath([name]) })),
    user: bookmark.user.username,
    isPublic: bookmark.public,
    insertedAt: isoTime(bookmark.insertedAt),
    insertedAtText: utcText(bookmark.insertedAt),
    others: store.othersSaved(bookmark, null),
    comments: bookmark.comments?.length ?? 0,
  };
}

export interface CommentView {
  id: number;
  user: string;
  body: string;
  insertedAt: string;
  insertedAtText: string;
}

export function commentView(comment: Comment): CommentView {
  return { id: comment.id, user: comment.user.username, body: comment.body, insertedAt: isoTime(comment.insertedAt), insertedAtText: utcText(comment.insertedAt) };
}

export interface TagCloudEntry extends TagCount {
  path: string;
  /** 1..6, by the logarithm of the count relative to the largest. */
  weight: number;
}

export function tagCloud(counts: readonly TagCount[]): TagCloudEntry[] {
  const largest = Math.max(1, ...counts.map((entry) => entry.count));
  return counts.map((entry) => ({
    ...entry,
    path: tagPath([entry.tag]),
    weight: 1 + Math.round((5 * Math.log1p(entry.count)) / Math.log1p(largest)),
  }));
}

export function render(template: string, data: object): string {
  return eta.render(template, data);
}

/**
 * A card: its view and its notes already rendered (renderNotes; "" shows none). The notes are
 * apart from CardView because they cost ten times the rest of the card to render: CardCache
 * renders them once per change, and lists that show no notes (/discover) never do.
 */
export function renderCard(view: CardView, notesHtml: string): string {
  return eta.render("@partials/card", { ...view, notesHtml });
}

/**
 * A card's read mark (`#rm-<id>`, inside its owner-only controls): for the owner, the "to read"
 * badge and the button that toggles it; `null` renders the empty mark every shared card has.
 * Only answers to the owner carry a filled one: their pages, their private topic, their marks
 * topic (readMarksTopic) and the toggle's own answer.
 */
export function renderReadMark(id: number, unread: boolean | null): string {
  return eta.render("@partials/read-mark", { id, unread });
}

/** What the link checker or the title fetch found wrong with an owner's bookmark, with a re-check button; "" when nothing. */
export function renderLinkTrouble(id: number, trouble: LinkTrouble | undefined): string {
  if (trouble === undefined) return "";
  const shown = (check: LinkCheck | null) => (check === null ? null : { why: check.error ?? (check.status === null ? "no answer" : `HTTP ${check.status}`), at: new Date(check.at).toISOString() });
  return eta.render("@partials/link-trouble", { id, broken: shown(trouble.broken), fetchFailed: shown(trouble.fetchFailed) });
}

/** A failed title fetch matters only while the URL stands in for the title: once its owner gives one, the card no longer says it. */
function troubleShown(bookmark: Bookmark, trouble: LinkTrouble | undefined): LinkTrouble | undefined {
  if (trouble === undefined || trouble.fetchFailed === null || bookmark.title === bookmark.url) return trouble;
  return trouble.broken === null ? undefined : { broken: trouble.broken, fetchFailed: null };
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((tag, index) => tag === b[index]);
}

/** Cards kept rendered; the oldest goes first past this bound (a card is about 1 KiB). */
export const CARDS_CACHED_MAX = 20_000;

interface CachedCard {
  title: string;
  url: string;
  description: string;
  notes: string;
  tags: readonly string[];
  public: boolean;
  comments: number;
  others: number;
  html: string;
}

/**
 * Rendered cards by bookmark, reused by every page and every live fragment until something the
 * card shows changes (its fields, its comment count, how many others saved its URL): a busy
 * feed page joins 50 strings instead of rendering 50 templates. Bounded by CARDS_CACHED_MAX.
 */
export class CardCache {
  private readonly cards = new Map<Bookmark["id"], CachedCard>();

  constructor(private readonly store: Store) {}

  /**
   * The card as `viewer` sees it: the shared card, or for the bookmark's owner the same card with
   * their read mark filled in (a string replace of the one empty mark, no second template).
   */
  html(bookmark: Bookmark, viewer: User | null): string {
    const shared = this.shared(bookmark);
    if (viewer !== bookmark.user) return shared;
    const mark = renderReadMark(bookmark.id, bookmark.unread) + renderLinkTrouble(bookmark.id, troubleShown(bookmark, this.store.links.get(bookmark.id)));
    return shared.replace(renderReadMark(bookmark.id, null), () => mark);
  }

  private shared(bookmark: Bookmark): string {
    const comments = bookmark.comments?.length ?? 0;
    const others = this.store.othersSaved(bookmark, null);
    const cached = this.cards.get(bookmark.id);
    if (
      cached && cached.title === bookmark.title && cached.url === bookmark.url && cached.description === bookmark.description && cached.notes === bookmark.notes &&
      sameTags(cached.tags, bookmark.tags) && cached.public === bookmark.public && cached.comments === comments && cached.others === others
    ) {
      return cached.html;
    }
    const html = renderCard(cardView(this.store, bookmark), renderNotes(bookmark.notes));
    if (!cached && this.cards.size >= CARDS_CACHED_MAX) this.cards.delete(this.cards.keys().next().value!);
    this.cards.set(bookmark.id, { title: bookmark.title, url: bookmark.url, description: bookmark.description, notes: bookmark.notes, tags: [...bookmark.tags], public: bookmark.public, comments, others, html });
    return html;
  }
}

export function renderComment(view: CommentView): string {
  return eta.render("@partials/comment", view);
}

/** The comment-count link of a card, swapped on its own (or out of band, `oob`) when a comment arrives. */
export function renderCommentCount(id: number, count: number, oob: boolean): string {
  return eta.render("@partials/comment-count", { id, comments: count, oob });
}

/** What replaces a bookmark on its own page once it is deleted or made private. */
export function renderGone(id: number): string {
  return eta.render("@partials/gone", { id });
}
