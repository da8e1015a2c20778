// Which topics a committed change reaches, on which channel and as what: the privacy rules of live delivery, as one pure function.
import { ADMIN_TOPIC, readMarksTopic, tagSetTopic, topic } from "./topics.ts";

/** A bookmark as routing sees it, taken before an update or delete is applied, and after. */
export interface BookmarkState {
  id: number;
  public: boolean;
  tags: readonly string[];
  username: string;
}

/**
 * One committed event as live delivery sees it: the typed before/after snapshot of what it
 * changed, and its `seq` (its position in the log, carried by every push and used to resume).
 * `shared` is false for an update that touches only the owner's personal state (changesShared).
 */
export type LiveEvent =
  | { kind: "bookmark"; seq: number; ts: number; id: number; before: BookmarkState | null; after: BookmarkState | null; shared: boolean }
  /** A comment posted, or (`posted` false) deleted. */
  | { kind: "comment"; seq: number; ts: number; bookmark: BookmarkState; commentId: number; posted: boolean }
  /** A change of users or sign-up (registered, suspended, role, deleted, sign-up mode, invitations): only the admin page hears of it. */
  | { kind: "moderation"; seq: number; ts: number }
  | { kind: "quiet"; seq: number; ts: number };

export type Change = "created" | "updated" | "deleted" | "comment" | "comment-deleted" | "comment-count";

/** The original app's topics (`bookmark:feed`, `tag:<t>`) speak their own event names and payloads. */
export type Dialect = "modern" | "legacy";

/**
 * What a topic shows, which decides how a page renders a route: a `list` of public cards
 * (firehose, tag, tag set, user, and the aliases), the owner's `private` list, a bookmark's
 * `discussion`, or the owner's read `marks`.
 */
export type Place = "list" | "private" | "discussion" | "marks" | "admin";

/** Which renderers a route is for: JSON frames, HTML fragments, or both. */
export type Formats = "all" | "json" | "html";

/**
 * One delivery: `change` published on `name`. `owner` routes go on the topic's owner channel,
 * which only the bookmark's owner subscribes to. `personal` routes reach the owner alone (their
 * private topic, their owner channel, their read marks), so what they carry may show the owner's
 * personal state (the read-later flag); every other route's must not.
 */
export interface Route {
  name: string;
  owner: boolean;
  personal: boolean;
  dialect: Dialect;
  change: Change;
  place: Place;
  formats: Formats;
}

/** Fields of a bookmark that are its owner's alone: nobody else sees them, or that they changed. */
const PERSONAL_FIELDS: ReadonlySet<string> = new Set(["unread"]);

/**
 * Whether an update changes anything other people can see. One that only touches personal
 * fields (marking it read later) is routed to its owner alone: a public `bookmark_updated` with
 * nothing new in it would tell everyone that the owner's reading list changed.
 */
export function changesShared(payload: object): boolean {
  for (const field of Object.keys(payload)) if (field !== "id" && !PERSONAL_FIELDS.has(field)) return true;
  return false;
}

interface Listing {
  dialect: Dialect;
  formats: Formats;
}

const MODERN: Listing = { dialect: "modern", formats: "all" };
const LEGACY: Listing = { dialect: "legacy", formats: "json" };
const PAGES_ONLY: Listing = { dialect: "modern", formats: "html" };

/** The public list topics a bookmark in this state is on (none while private or gone); `tagSets` are the multi-tag feeds to consider. */
function listedOn(state: BookmarkState | null, tagSets: readonly (readonly string[])[]): Map<string, Listing> {
  const names = new Map<string, Listing>();
  if (!state?.public) return names;
  names.set(topic.firehose, MODERN);
  names.set(topic.user(state.username), MODERN);
  names.set(topic.feed, LEGACY);
  for (const tag of state.tags) {
    names.set(topic.tag(tag), MODERN);
    names.set(topic.tagAlias(tag), LEGACY);
  }
  for (const tags of tagSets) if (tags.length > 1 && tags.every((tag) => state.tags.includes(tag))) names.set(tagSetTopic(tags), PAGES_ONLY);
  return names;
}

function route(name: string, listing: Listing, change: Change, place: Place, owner = false, personal = false): Route {
  return { name, owner, personal, dialect: listing.dialect, change, place, formats: listing.formats };
}

/**
 * The routes of a bookmark going from `before` to `after` (null: not there). Per list topic
 * (firehose, tag, tag set, user and the aliases): a bookmark that enters the list is `created`
 * there, one that stays is `updated`, one that leaves it — deleted, made private, tag removed —
 * is `deleted`. So a subscriber's view of a list stays exactly the public bookmarks on it.
 * - The owner's private topic sees every change of every one of their bookmarks.
 * - `bookmark:<id>` (the discussion) hears of updates and deletion: its owner channel always, its
 *   public channel while the bookmark is public, plus one `deleted` when it stops being public.
 * - The owner's read marks (pages only) follow each public state of it.
 * - A change that is not `shared` (only personal fields) goes to the owner's routes alone.
 */
function bookmarkRoutes(before: BookmarkState | null, after: BookmarkState | null, shared: boolean, tagSets: readonly (readonly string[])[]): Route[] {
  const state = after ?? before;
  if (!state) return [];
  const reachesOthers = shared || before === null || after === null;
  const was = reachesOthers ? listedOn(before, tagSets) : new Map<string, Listing>();
  const now = reachesOthers ? listedOn(after, tagSets) : new Map<string, Listing>();
  const routes: Route[] = [];
  for (const [name, listing] of was) if (!now.has(name)) routes.push(route(name, listing, "deleted", "list"));
  for (const [name, listing] of now) routes.push(route(name, listing, was.has(name) ? "updated" : "created", "list"));
  const ownerChange: Change = before === null ? "created" : after === null ? "deleted" : "updated";
  routes.push(route(topic.privateOf(state.username), MODERN, ownerChange, "private", false, true));
  if (before !== null) {
    const discussion = topic.bookmark(state.id);
    routes.push(route(discussion, MODERN, ownerChange, "discussion", true, true));
    if (reachesOthers && before.public) routes.push(route(discussion, MODERN, after?.public ? "updated" : "deleted", "discussion"));
    else if (reachesOthers && after?.public) routes.push(route(discussion, MODERN, "updated", "discussion"));
  }
  if (after?.public) routes.push(route(readMarksTopic(after.username), PAGES_ONLY, ownerChange, "marks", false, true));
  if (reachesOthers && (before?.public || after?.public)) routes.push(after?.public ? ADMIN_ROUTE : ADMIN_REMOVED);
  return routes;
}

/** The admin page's panel, re-rendered whole (live.ts) for any change it lists: public bookmarks and comments, users, sign-up. */
const ADMIN_ROUTE: Route = route(ADMIN_TOPIC, PAGES_ONLY, "updated", "admin");
const ADMIN_REMOVED: Route = route(ADMIN_TOPIC, PAGES_ONLY, "deleted", "admin");

/**
 * Where a comment goes: `bookmark:<id>`'s owner channel always. While the bookmark is public:
 * its public channel, the original app's feed and tag aliases, and the new count on every list
 * and the owner's private topic (pages); while private, the owner's private topic (pages). A
 * deleted comment goes the same ways as `comment-deleted` (lists: the new count), except to the
 * original app's aliases, whose protocol has no word for it.
 */
function commentRoutes(bookmark: BookmarkState, posted: boolean, tagSets: readonly (readonly string[])[]): Route[] {
  const discussion = topic.bookmark(bookmark.id);
  const mine = topic.privateOf(bookmark.username);
  const change: Change = posted ? "comment" : "comment-deleted";
  const routes = [route(discussion, MODERN, change, "discussion", true, true)];
  if (!bookmark.public) {
    routes.push(route(mine, PAGES_ONLY, change, "private", false, true));
    return routes;
  }
  routes.push(route(discussion, MODERN, change, "discussion"));
  routes.push(route(mine, PAGES_ONLY, "comment-count", "private", false, true));
  routes.push(ADMIN_ROUTE);
  for (const [name, listing] of listedOn(bookmark, tagSets)) {
    if (listing.dialect !== "legacy") routes.push(route(name, PAGES_ONLY, "comment-count", "list"));
    else if (posted) routes.push(route(name, LEGACY, "comment", "list"));
  }
  return routes;
}

/**
 * Every route of one committed event: the one rule for live pushes and for the history replayed
 * on resume. `tagSets` are the multi-tag feeds (`/t/rust+web`) to route to, each a list of tags;
 * the event decides which of them it is on.
 */
export function routesOf(event: LiveEvent, tagSets: readonly (readonly string[])[] = []): Route[] {
  switch (event.kind) {
    case "bookmark":
      return bookmarkRoutes(event.before, event.after, event.shared, tagSets);
    case "comment":
      return commentRoutes(event.bookmark, event.posted, tagSets);
    case "moderation":
      return [ADMIN_ROUTE];
    case "quiet":
      return [];
  }
}

/** The id of the bookmark an event is about; null when it is about none. */
export function bookmarkIdOf(event: LiveEvent): number | null {
  switch (event.kind) {
    case "bookmark":
      return event.id;
    case "comment":
      return event.bookmark.id;
    case "moderation":
    case "quiet":
      return null;
  }
}
