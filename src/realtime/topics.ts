// Topic names: every topic is built and parsed here, never by string concatenation elsewhere.
import { normalizeTags } from "../commands/schemas.ts";
import { percentDecodeAll, textProblem, uriComponent } from "../text.ts";
import type { JoinRefJson, Wire } from "./wire.ts";

export type Topic =
  | { kind: "firehose" }
  | { kind: "tag"; tag: string }
  | { kind: "user"; username: string }
  | { kind: "private"; username: string }
  | { kind: "bookmark"; id: number };

export const topic = {
  firehose: "bookmarks:firehose",
  tag: (tag: string) => `bookmarks:tag:${tag}`,
  user: (username: string) => `bookmarks:user:${username}`,
  privateOf: (username: string) => `bookmarks:user:${username}:private`,
  bookmark: (id: number) => `bookmark:${id}`,
  /** The finished original app's names, aliases of the firehose and of a tag topic (its own events and payloads). */
  feed: "bookmark:feed",
  tagAlias: (tag: string) => `tag:${tag}`,
  /** The name of a parsed topic (round trip of parseTopic). */
  name(parsed: Topic): string {
    switch (parsed.kind) {
      case "firehose": return topic.firehose;
      case "tag": return topic.tag(parsed.tag);
      case "user": return topic.user(parsed.username);
      case "private": return topic.privateOf(parsed.username);
      case "bookmark": return topic.bookmark(parsed.id);
    }
  },
};

/**
 * The uWS topic a wire format is published on: each event is serialised once per wire format
 * and topic, so raw JSON, Phoenix and htmx subscribers each get bytes made for them.
 */
export function wireTopic(wire: Wire, name: string): string {
  return `${wire}|${name}`;
}

/**
 * The owner's own channel of a topic: a bookmark's discussion goes here while the bookmark is
 * private, so sockets that joined while it was public never hear of it again.
 */
export function ownerWireTopic(wire: Wire, name: string): string {
  return `${wire}|${name}|owner`;
}

/**
 * The uWS topic of Phoenix v2 subscribers of `name` (its owner channel when `owner`) that joined
 * with one join_ref: each push is framed once per join_ref class, carrying that join_ref. The
 * join_ref's JSON text comes before the name and delimits itself, so no tag containing `|` can
 * make two classes share a topic.
 */
export function phoenixWireTopic(name: string, joinRef: JoinRefJson, owner: boolean): string {
  return `phx${owner ? "|owner" : ""}|${joinRef}|${name}`;
}

/** Parses a public topic name; null when it is not one of ours. */
export function parseTopic(name: string): Topic | null {
  if (name === topic.firehose) return { kind: "firehose" };
  let match = /^bookmarks:tag:(.{1,64})$/.exec(name);
  if (match) {
    const [tag] = normalizeTags([match[1]!]);
    return tag !== undefined && tag === match[1] && textProblem(tag, "line") === null ? { kind: "tag", tag } : null;
  }
  match = /^bookmarks:user:([a-z0-9_-]{3,32})(:private)?$/.exec(name);
  if (match) return match[2] ? { kind: "private", username: match[1]! } : { kind: "user", username: match[1]! };
  match = /^bookmark:(\d{1,16})$/.exec(name);
  if (match) return { kind: "bookmark", id: Number(match[1]) };
  return null;
}

/** The original app's alias topics: `bookmark:feed` (the firehose) and `tag:<tag>`; null otherwise. */
export type AliasTopic = { kind: "feed" } | { kind: "tagAlias"; tag: string };
export function parseAliasTopic(name: string): AliasTopic | null {
  if (name === topic.feed) return { kind: "feed" };
  const match = /^tag:(.{1,64})$/.exec(name);
  if (!match) return null;
  const [tag] = normalizeTags([match[1]!]);
  return tag !== undefined && tag === match[1] && textProblem(tag, "line") === null ? { kind: "tagAlias", tag } : null;
}

/**
 * Pages only: one person's read marks (the "to read" badge and its toggle on their own cards).
 * Every live page of a logged-in viewer follows their own, next to the topic it shows, so cards
 * shared with everyone can stay free of personal state. Nobody can ask for it by name.
 */
export function readMarksTopic(username: string): string {
  return `bookmarks:user:${username}:marks`;
}

/** Pages' live statistics (`/stats`): one panel re-rendered each second while someone watches. */
export const STATS_TOPIC = "stats";

/** Pages only: the /admin page's live panel, admitted only for admins (admission.ts). */
export const ADMIN_TOPIC = "admin";

/**
 * Pages only: the AND of several tags (`/t/rust+web`) as one topic, tags sorted and URI-encoded
 * so a tag containing `+` stays unambiguous. A single tag is simply its tag topic.
 */
export function tagSetTopic(tags: readonly string[]): string {
  if (tags.length === 1) return topic.tag(tags[0]!);
  return `bookmarks:tags:${[...tags].sort().map(uriComponent).join("+")}`;
}

/** The tags of a tag-set topic (two or more, sorted, normalized); null when it is not one. */
export function parseTagSetTopic(name: string): string[] | null {
  const match = /^bookmarks:tags:(.{3,600})$/.exec(name);
  if (!match) return null;
  const tags = percentDecodeAll(match[1]!.split("+"));
  if (tags === null) return null;
  const normal = normalizeTags(tags);
  if (normal.length < 2 || normal.length !== tags.length || normal.some((tag) => textProblem(tag, "line") !== null) || tagSetTopic(normal) !== name) return null;
  return normal;
}
