// Which topics a committed change reaches, and as what: the privacy rules of live delivery, as pure functions.
import { topic } from "./topics.ts";

/** What a bookmark looked like for routing: taken before an update or delete is applied, and after. */
export interface Visibility {
  id: number;
  public: boolean;
  tags: readonly string[];
  username: string;
}

export type Change = "created" | "updated" | "deleted";

/** The original app's topics (`bookmark:feed`, `tag:<t>`) speak their own event names and payloads. */
export type Dialect = "modern" | "legacy";

/**
 * One delivery: `change` published on `name`. `owner` routes go on the topic's owner channel
 * (ownerWireTopic), which only the bookmark's owner subscribes to. `personal` routes reach the
 * owner alone (their private topic, their owner channel), so their payload may carry the owner's
 * personal state (the read-later flag); every other payload must not.
 */
export interface Route {
  name: string;
  owner: boolean;
  personal: boolean;
  dialect: Dialect;
  change: Change;
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

/** The public topics a bookmark in this state is listed on (none while private or gone). */
function listedOn(state: Visibility | null): Map<string, Dialect> {
  const names = new Map<string, Dialect>();
  if (!state?.public) return names;
  names.set(topic.firehose, "modern");
  names.set(topic.user(state.username), "modern");
  names.set(topic.feed, "legacy");
  for (const tag of state.tags) {
    names.set(topic.tag(tag), "modern");
    names.set(topic.tagAlias(tag), "legacy");
  }
  return names;
}

/**
 * The routes of a bookmark going from `before` to `after` (null: not there). The rule, per list
 * topic (firehose, tag, user and their aliases): a bookmark that enters the list is `created`
 * there, one that stays is `updated`, one that leaves it — deleted, made private, tag removed —
 * is `deleted`. So a subscriber's view of a list stays exactly the public bookmarks on it.
 * - The owner's private topic sees every change of every one of their bookmarks.
 * - `bookmark:<id>` (the discussion) hears of updates and deletion: its owner channel always, its
 *   public channel while the bookmark is public, plus one `deleted` when it stops being public.
 * - A change that is not `shared` (changesShared: only personal fields) goes to the owner's
 *   routes alone.
 */
export function bookmarkRoutes(before: Visibility | null, after: Visibility | null, shared = true): Route[] {
  const state = after ?? before;
  if (!state) return [];
  const reachesOthers = shared || before === null || after === null;
  const was = reachesOthers ? listedOn(before) : new Map<string, Dialect>();
  const now = reachesOthers ? listedOn(after) : new Map<string, Dialect>();
  const routes: Route[] = [];
  for (const [name, dialect] of was) if (!now.has(name)) routes.push({ name, owner: false, personal: false, dialect, change: "deleted" });
  for (const [name, dialect] of now) routes.push({ name, owner: false, personal: false, dialect, change: was.has(name) ? "updated" : "created" });
  const ownerChange: Change = before === null ? "created" : after === null ? "deleted" : "updated";
  routes.push({ name: topic.privateOf(state.username), owner: false, personal: true, dialect: "modern", change: ownerChange });
  if (before !== null) {
    const discussion = topic.bookmark(state.id);
    routes.push({ name: discussion, owner: true, personal: true, dialect: "modern", change: ownerChange });
    if (!reachesOthers) return routes;
    if (before.public) routes.push({ name: discussion, owner: false, personal: false, dialect: "modern", change: after?.public ? "updated" : "deleted" });
    else if (after?.public) routes.push({ name: discussion, owner: false, personal: false, dialect: "modern", change: "updated" });
  }
  return routes;
}

/** Where a comment goes: `bookmark:<id>`'s owner channel always; while public, its public channel and the original app's feed and tag aliases. */
export function commentRoutes(bookmark: Visibility): { name: string; owner: boolean; dialect: Dialect }[] {
  const discussion = topic.bookmark(bookmark.id);
  const routes = [{ name: discussion, owner: true, dialect: "modern" as Dialect }];
  if (!bookmark.public) return routes;
  routes.push({ name: discussion, owner: false, dialect: "modern" });
  routes.push({ name: topic.feed, owner: false, dialect: "legacy" });
  for (const tag of bookmark.tags) routes.push({ name: topic.tagAlias(tag), owner: false, dialect: "legacy" });
  return routes;
}
