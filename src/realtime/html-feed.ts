// The htmx pages' live feed: per committed event, renders each fragment once and publishes it on the `html|` topics as hx-ws messages.
import type { LoggedEvent } from "../events.ts";
import type { Bookmark, Store } from "../store/store.ts";
import { commentView, renderComment, renderCommentCount, renderGone, renderReadMark, type CardCache } from "../render/html.ts";
import { changesShared } from "./routing.ts";
import { readMarksTopic, tagSetTopic, topic, wireTopic } from "./topics.ts";
import { pushed } from "../metrics.ts";

/** Where fragments go: uWS topics (numSubscribers lets us skip rendering for nobody). */
export interface HtmlPublisher {
  subscribers(topicName: string): number;
  publish(topicName: string, message: string): void;
}

export function uwsPublisher(app: { numSubscribers(topic: string): number; publish(topic: string, message: string, isBinary?: boolean): boolean }): HtmlPublisher {
  return {
    subscribers: (name) => app.numSubscribers(wireTopic("html", name)),
    publish: (name, message) => {
      app.publish(wireTopic("html", name), message, false);
      pushed("live");
    },
  };
}

/** Bound on distinct multi-tag feeds (`/t/rust+web`) followed at once; the live socket refuses more. */
export const TAG_SETS_ACTIVE_MAX = 1000;

/**
 * Multi-tag feeds that someone follows right now, with their subscriber counts. Single tags need
 * no entry: they are ordinary tag topics. Each event checks only the sets that are active.
 */
export class TagSets {
  private readonly active = new Map<string, { tags: readonly string[]; subscribers: number }>();

  get size(): number {
    return this.active.size;
  }

  has(name: string): boolean {
    return this.active.has(name);
  }

  join(tags: readonly string[]): void {
    const name = tagSetTopic(tags);
    const entry = this.active.get(name);
    if (entry) entry.subscribers += 1;
    else this.active.set(name, { tags, subscribers: 1 });
  }

  leave(tags: readonly string[]): void {
    const name = tagSetTopic(tags);
    const entry = this.active.get(name);
    if (!entry) return;
    entry.subscribers -= 1;
    if (entry.subscribers <= 0) this.active.delete(name);
  }

  /** Names of the active sets all of whose tags are among `tags`. */
  matching(tags: readonly string[]): string[] {
    const names: string[] = [];
    for (const [name, entry] of this.active) if (entry.tags.every((tag) => tags.includes(tag))) names.push(name);
    return names;
  }
}

/** What a bookmark looked like for topic routing; taken before an update or delete is applied. */
interface Visibility {
  public: boolean;
  tags: readonly string[];
  username: string;
}

/** The hx-ws message: `content` swapped into `target` with `swap`. */
function message(content: string, target: string, swap: string): string {
  return JSON.stringify({ content, target, swap });
}

/** The feed list on every live page: new cards go on top. */
export const FEED_TARGET = "#feed";

/**
 * Topics and what they carry (all HTML, all public except the private topic):
 * - firehose, `bookmarks:tag:<t>`, tag sets and `bookmarks:user:<name>`: public bookmarks only —
 *   inserted when they appear there (created, made public, tag added), replaced when edited,
 *   deleted when they leave (deleted, made private, tag removed); comment counts.
 * - `bookmark:<id>`: the discussion of a public bookmark (comments appended) and its card; when it
 *   is deleted or made private, one last "gone" fragment and nothing after.
 * - `bookmarks:user:<name>:private`: every bookmark of its owner, private or not, with the
 *   discussions of the private ones, its cards with their read marks. Only the owner's session
 *   may join it.
 * - `bookmarks:user:<name>:marks` (readMarksTopic): the read mark of each of its owner's public
 *   bookmarks as it is shown or changes, sent after the card; every other live page of theirs
 *   follows it. A change of the read-later flag alone reaches only the owner's two topics.
 * Nothing here depends on who watches, and nothing personal goes where others listen; owner-only
 * controls are hidden by CSS for everyone else.
 */
export class HtmlFeed {
  constructor(
    private readonly store: Store,
    private readonly out: HtmlPublisher,
    private readonly tagSets: TagSets,
    private readonly cards: CardCache,
    /** Topic names some live page follows (LiveSockets' count): others are skipped before asking uWS. */
    private readonly watched: { has(name: string): boolean; readonly size: number },
    /** People some live page follows the read marks of (LiveSockets' count). */
    private readonly marksFollowed: { has(username: string): boolean },
  ) {}

  beforeApply(event: LoggedEvent): Visibility | null {
    if (event.type !== "bookmark.updated" && event.type !== "bookmark.deleted") return null;
    const bookmark = this.store.bookmarksById.get(event.payload.id);
    return bookmark ? this.visibility(bookmark) : null;
  }

  afterApply(event: LoggedEvent, before: unknown): void {
    if (this.watched.size === 0) return;
    switch (event.type) {
      case "bookmark.created":
        this.created(this.store.bookmarksById.get(event.payload.id));
        return;
      case "bookmark.updated":
        this.updated(this.store.bookmarksById.get(event.payload.id), before as Visibility | null, changesShared(event.payload));
        return;
      case "bookmark.deleted":
        this.deleted(event.payload.id, before as Visibility | null);
        return;
      case "comment.posted":
        this.commented(event.payload.bookmark_id, event.payload.id);
        return;
      case "user.registered":
      case "user.password_changed":
      case "token.created":
      case "token.revoked":
        return;
      default: {
        const unexpected: never = event;
        throw new Error(`unknown event ${JSON.stringify(unexpected)}`);
      }
    }
  }

  private visibility(bookmark: Bookmark): Visibility {
    return { public: bookmark.public, tags: [...bookmark.tags], username: bookmark.user.username };
  }

  /** The public topics a bookmark in this state belongs to (none when private). */
  private publicTopics(state: Visibility): string[] {
    if (!state.public) return [];
    return [topic.firehose, topic.user(state.username), ...state.tags.map(topic.tag), ...this.tagSets.matching(state.tags)];
  }

  /** Publishes to the topics that have subscribers; `render` runs at most once, and only then. */
  private send(sends: readonly (readonly [string, () => string])[]): void {
    const cache = new Map<() => string, string>();
    for (const [name, build] of sends) {
      if (!this.watched.has(name) || this.out.subscribers(name) === 0) continue;
      let text = cache.get(build);
      if (text === undefined) {
        text = build();
        cache.set(build, text);
      }
      this.out.publish(name, text);
    }
  }

  /** The card everyone shares (`owner` false), or its owner's, with their read mark. */
  private cardOf(bookmark: Bookmark, owner: boolean): () => string {
    return () => this.cards.html(bookmark, owner ? bookmark.user : null);
  }

  /**
   * The owner's read mark of a public bookmark, on their marks topic, for their live pages of
   * public topics: the shared card that just went out there has an empty one. Sent after the
   * cards, so a page gets it after the card it fills.
   */
  private sendMark(bookmark: Bookmark): void {
    const name = readMarksTopic(bookmark.user.username);
    if (!bookmark.public || !this.marksFollowed.has(bookmark.user.username) || this.out.subscribers(name) === 0) return;
    this.out.publish(name, message(renderReadMark(bookmark.id, bookmark.unread), `#rm-${bookmark.id}`, "outerHTML"));
  }

  private created(bookmark: Bookmark | undefined): void {
    if (!bookmark) return;
    const shared = this.cardOf(bookmark, false);
    const own = this.cardOf(bookmark, true);
    const insert = () => message(shared(), FEED_TARGET, "afterbegin");
    const state = this.visibility(bookmark);
    this.send([[topic.privateOf(state.username), () => message(own(), FEED_TARGET, "afterbegin")], ...this.publicTopics(state).map((name) => [name, insert] as const)]);
    this.sendMark(bookmark);
  }

  /** `shared`: the change shows others something (changesShared); a read-later toggle alone does not. */
  private updated(bookmark: Bookmark | undefined, before: Visibility | null, shared: boolean): void {
    if (!bookmark || !before) return;
    const card = this.cardOf(bookmark, false);
    const own = this.cardOf(bookmark, true);
    const replace = () => message(card(), `#b-${bookmark.id}`, "outerHTML");
    const insert = () => message(card(), FEED_TARGET, "afterbegin");
    const remove = () => message("", `#b-${bookmark.id}`, "delete");
    const gone = () => message(renderGone(bookmark.id), `#b-${bookmark.id}`, "outerHTML");
    const after = this.visibility(bookmark);
    const sends: (readonly [string, () => string])[] = [[topic.privateOf(after.username), () => message(own(), `#b-${bookmark.id}`, "outerHTML")]];
    if (shared) {
      const was = new Set(this.publicTopics(before));
      const now = this.publicTopics(after);
      for (const name of was) if (!now.includes(name)) sends.push([name, remove]);
      for (const name of now) sends.push([name, was.has(name) ? replace : insert]);
      if (after.public) sends.push([topic.bookmark(bookmark.id), replace]);
      else if (before.public) sends.push([topic.bookmark(bookmark.id), gone]);
    }
    this.send(sends);
    this.sendMark(bookmark);
  }

  private deleted(id: number, before: Visibility | null): void {
    if (!before) return;
    const remove = () => message("", `#b-${id}`, "delete");
    const sends: (readonly [string, () => string])[] = [[topic.privateOf(before.username), remove], ...this.publicTopics(before).map((name) => [name, remove] as const)];
    if (before.public) sends.push([topic.bookmark(id), () => message(renderGone(id), `#b-${id}`, "outerHTML")]);
    this.send(sends);
  }

  private commented(bookmarkId: number, commentId: number): void {
    const bookmark = this.store.bookmarksById.get(bookmarkId as Bookmark["id"]);
    const comment = bookmark?.comments?.findLast((candidate) => candidate.id === commentId);
    if (!bookmark || !comment) return;
    const count = bookmark.comments?.length ?? 0;
    const discussion = () => message(renderComment(commentView(comment)) + renderCommentCount(bookmark.id, count, true), `#comments-${bookmark.id}`, "beforeend");
    const counted = () => message(renderCommentCount(bookmark.id, count, false), `#cc-${bookmark.id}`, "outerHTML");
    const state = this.visibility(bookmark);
    if (!state.public) {
      this.send([[topic.privateOf(state.username), discussion]]);
      return;
    }
    this.send([[topic.bookmark(bookmark.id), discussion], [topic.privateOf(state.username), counted], ...this.publicTopics(state).map((name) => [name, counted] as const)]);
  }
}
