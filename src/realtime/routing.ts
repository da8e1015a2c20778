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
 * (ownerWireTopic), which only the bookmark's owner subscribes to.
 */
export interface Route {
  name: string;
  owner: boolean;
  dialect: Dialect;
  change: Change;
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
 */
export function bookmarkRoutes(before: Visibility | null, after: Visibility | null): Route[] {
  const state = after ?? before;
  if (!state) return [];
  const was = listedOn(before);
  const now = listedOn(after);
  const routes: Route[] = [];
  for (const [name, dialect] of was) if (!now.has(name)) routes.push({ name, owner: false, dialect, change: "deleted" });
  for (const [name, dialect] of now) routes.push({ name, owner: false, dialect, change: was.has(name) ? "updated" : "created" });
  const ownerChange: Change = before === null ? "created" : after === null ? "deleted" : "updated";
  routes.push({ name: topic.privateOf(state.username), owner: false, dialect: "modern", change: ownerChange });
  if (before !== null) {
    const discussion = topic.bookmark(state.id);
    routes.push({ name: discussion, owner: true, dialect: "modern", change: ownerChange });
    if (before.public) routes.push({ name: discussion, owner: false, dialect: "modern", change: after?.public ? "updated" : "deleted" });
    else if (after?.public) routes.push({ name: discussion, owner: false, dialect: "modern", change: "updated" });
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
