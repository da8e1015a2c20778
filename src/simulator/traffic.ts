// The simulated community's plan: who saves what, who comments and edits, as a pure function of seed and step.
import type { CorpusEntry } from "./corpus.ts";
import { below, chance, deriveSeed, mulberry32, pick, shuffled, type Random } from "./random.ts";

/**
 * Simulated people. The `sim-` prefix keeps them apart from real accounts; a server that already
 * has them (an earlier run) reuses them. The list does not depend on the seed, so runs with
 * different seeds share the same people.
 */
export const SIMULATED_USERNAMES = [
  "sim-ada", "sim-grace", "sim-linus", "sim-margaret", "sim-dennis", "sim-barbara", "sim-ken", "sim-radia",
  "sim-alan", "sim-frances", "sim-edsger", "sim-hedy", "sim-donald", "sim-katherine", "sim-guido", "sim-sophie",
  "sim-rob", "sim-mary", "sim-leslie", "sim-joan", "sim-niklaus", "sim-annie", "sim-tim", "sim-lynn",
] as const;
export const SIMULATED_USERS_MAX = SIMULATED_USERNAMES.length;

/** What one simulated user saves: the same fields a person types into the API. */
export interface BookmarkDraft {
  /** Index into the simulated users. */
  user: number;
  title: string;
  url: string;
  description: string;
  /** Markdown, "" for none. */
  notes: string;
  public: boolean;
  tags: string[];
}

/** The bookmark an action aims at, as the executor sees it. */
export interface Target {
  id: number;
  title: string;
  tags: readonly string[];
}

export interface BookmarkChanges {
  title?: string;
  description?: string;
  notes?: string;
  tags?: string[];
}

/**
 * One thing a simulated user does. Comments, edits and deletes aim at a bookmark chosen when they
 * run (from what exists by then) with `pick`, a number in [0, 1) drawn when they were planned;
 * `variant` seeds the text. So the plan itself never depends on timing.
 */
export type Action =
  | { kind: "create"; index: number; draft: BookmarkDraft }
  | { kind: "comment"; user: number; pick: number; variant: number }
  | { kind: "edit"; user: number; pick: number; variant: number }
  | { kind: "delete"; user: number; pick: number };

export type ActionKind = Action["kind"];

/** Per bookmark saved: how often the extras happen. */
const COMMENT_PROBABILITY = 0.6;
const SECOND_COMMENT_PROBABILITY = 0.25;
const EDIT_PROBABILITY = 0.08;
const DELETE_PROBABILITY = 0.04;
const PRIVATE_PROBABILITY = 0.08;
const DESCRIPTION_PROBABILITY = 0.35;
const NOTES_PROBABILITY = 0.25;
/** Of the edits that touch notes, how many clear them. */
const NOTES_CLEARED_PROBABILITY = 0.25;

const STREAM_DRAFT = 1;
const STREAM_STEP = 2;
const STREAM_ORDER = 3;
/** Notes draw from their own stream, so adding them changed none of the other fields a seed gives. */
const STREAM_NOTES = 4;

const TITLE_REMIXES = [
  "Re-reading: {title}", "{title} (via a friend)", "Still great: {title}", "Worth your time: {title}", "TIL: {title}",
  "{title} (discussion)", "Rediscovered: {title}", "Classic: {title}", "{title} — bookmarked for the weekend",
  "Ask: what do you make of {title}?", "{title} [revisited]", "Old but gold: {title}",
];

const DESCRIPTIONS = [
  "Found this again while cleaning up my tabs.", "A friend sent me this; saving it for later.",
  "Required reading for the team.", "Good background before the meeting on Thursday.",
  "The clearest explanation I know.", "Came up in a discussion about {tag} yesterday.",
  "I keep coming back to this one.", "Better than most books on {tag}.", "Long, but worth it.",
  "Shared in the {tag} reading group.",
];

const EXTRA_TAGS = ["to-read", "favorites", "classic", "reference", "weekend", "til", "later", "inspiration", "deep-dive", "teaching"];

const COMMENTS = [
  "This is a great read.", "I remember when this first came out.", "Does anyone have a mirror of this?",
  "Saving {title} for later, thanks!", "The part about {tag} is the best bit.", "Fantastic find.",
  "I disagree with the conclusion, but the argument is well made.", "Anyone know of a follow-up to this?",
  "Shared this with my whole team.", "This changed how I think about {tag}.", "Still holds up.",
  "Wow, I had never seen this before.", "Great discussion here, thanks everyone.", "+1, one of my favourites.",
  "Is there a video version of {title}?", "Reading this on the train right now.", "The comments here are better than the article.",
  "Bookmarked. Again.", "Can someone explain the second half?", "Perfect timing, I was just looking for this.",
  "This deserves more attention.", "My professor assigned this years ago and I finally get it.",
  "A classic for anyone into {tag}.", "Sending this to everyone who asks me about {tag}.",
];

const NOTE_REASONS = [
  "came up in the {tag} reading group", "a friend recommended it", "for the design review next week",
  "I keep losing this link", "the best intro to {tag} I know", "to compare with how we do it today",
];

const NOTE_POINTS = [
  "the intro is the best part", "skip to the examples", "read it twice", "the diagrams alone are worth it",
  "good counterarguments at the end", "short, but dense", "still true today", "check the footnotes",
];

interface NoteValues {
  title: string;
  tag: string;
  /** The bookmark's own link, for notes that cite it; absent when editing (the target's URL is not known). */
  url?: string;
}

/** Short Markdown as people jot it: emphasis, lists, a quote, code, a heading. Each shape is one block. */
const NOTE_SHAPES: readonly ((random: Random) => string)[] = [
  (random) => `**Why:** ${pick(random, NOTE_REASONS)}.`,
  (random) => `- ${pick(random, NOTE_POINTS)}\n- ${pick(random, NOTE_POINTS)}`,
  (random) => `> ${pick(random, NOTE_POINTS)}`,
  (random) => `TL;DR: *${pick(random, NOTE_POINTS)}*.`,
  (random) => `1. skim it\n2. ${pick(random, NOTE_POINTS)}\n3. share it with the \`{tag}\` folks`,
  (random) => `#### Takeaway\n${pick(random, NOTE_POINTS)}`,
];

/** A URL a Markdown link can hold between angle brackets. */
const LINKABLE_URL = /^https?:\/\/[^\s<>]+$/;

/** A block citing the bookmark's own link, its title (without Markdown's markup characters) as the text. */
function sourceShape(values: NoteValues): string {
  return `Source: [${values.title.slice(0, 80).replace(/[[\]\\`*_{}]/g, "")}](<${values.url}>)`;
}

/** One or two blocks of notes, filled in: a few hundred characters at most, far below the notes limit. */
export function notesFor(random: Random, values: NoteValues): string {
  const shapes = values.url !== undefined && LINKABLE_URL.test(values.url) ? [...NOTE_SHAPES, () => sourceShape(values)] : NOTE_SHAPES;
  const count = 1 + below(random, 2);
  return Array.from({ length: count }, () => fill(pick(random, shapes)(random), values)).join("\n\n");
}

function fill(template: string, values: { title: string; tag: string }): string {
  return template.replaceAll("{title}", values.title).replaceAll("{tag}", values.tag);
}

/** A URL made distinct for round `round` (≥ 1) the way shared links differ: a query, a fragment or a path. */
export function varyUrl(url: string, round: number, random: Random): string {
  const variant = below(random, 4);
  const hashAt = url.indexOf("#");
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const join = base.includes("?") ? "&" : "?";
  switch (variant) {
    case 0: return `${base}${join}utm_source=nasty&utm_campaign=r${round}`;
    case 1: return `${base}${join}share=${round}`;
    case 2: return `${base}#comment-${round}`;
    default: return `${base}${join}page=${round + 1}`;
  }
}

/** The traffic of one seed: step n always plans the same actions, whatever happened before. */
export class TrafficPlan {
  private readonly order: readonly number[];

  constructor(
    private readonly corpus: readonly CorpusEntry[],
    private readonly seed: number,
    private readonly users: number,
  ) {
    if (corpus.length === 0) throw new RangeError("the simulator needs a corpus of at least one link");
    if (!Number.isInteger(users) || users < 1 || users > SIMULATED_USERS_MAX) throw new RangeError(`simulated users must be 1..${SIMULATED_USERS_MAX}, got ${users}`);
    this.order = shuffled(mulberry32(deriveSeed(seed, STREAM_ORDER, 0)), corpus.map((_, index) => index));
  }

  /** The `index`-th bookmark: the corpus once in a seeded order, then remixed rounds of it. */
  draft(index: number): BookmarkDraft {
    const random = mulberry32(deriveSeed(this.seed, STREAM_DRAFT, index));
    const round = Math.floor(index / this.corpus.length);
    const entry = this.corpus[this.order[index % this.corpus.length]!]!;
    const user = below(random, this.users);
    const isPublic = !chance(random, PRIVATE_PROBABILITY);
    const description = chance(random, DESCRIPTION_PROBABILITY) ? fill(pick(random, DESCRIPTIONS), { title: entry.title, tag: entry.tags[0] ?? "this" }) : "";
    const remix = random();
    const extraTag = pick(random, EXTRA_TAGS);
    const dropLast = chance(random, 0.3);
    const url = round === 0 ? entry.url : varyUrl(entry.url, round, random);
    if (round === 0) return { user, title: entry.title, url, description, notes: this.notes(index, entry, url), public: isPublic, tags: [...entry.tags] };
    const title = fill(TITLE_REMIXES[Math.floor(remix * TITLE_REMIXES.length)]!, { title: entry.title.replace(/ - Wikipedia$/, ""), tag: "" });
    const kept = dropLast && entry.tags.length > 1 ? entry.tags.slice(0, -1) : entry.tags;
    return { user, title, url, description, notes: this.notes(index, entry, url), public: isPublic, tags: [...kept, extraTag] };
  }

  /** The `index`-th bookmark's notes: "" for most, short Markdown for about a quarter. */
  private notes(index: number, entry: CorpusEntry, url: string): string {
    const random = mulberry32(deriveSeed(this.seed, STREAM_NOTES, index));
    return chance(random, NOTES_PROBABILITY) ? notesFor(random, { title: entry.title, tag: entry.tags[0] ?? "this", url }) : "";
  }

  /** Step `step`: one bookmark saved and, now and then, comments, an edit or a delete. */
  step(step: number): Action[] {
    const random = mulberry32(deriveSeed(this.seed, STREAM_STEP, step));
    const actions: Action[] = [{ kind: "create", index: step, draft: this.draft(step) }];
    const draws = {
      comment: random(), secondComment: random(), edit: random(), delete: random(),
      users: [below(random, this.users), below(random, this.users), below(random, this.users), below(random, this.users)],
      picks: [random(), random(), random(), random()],
      variants: [deriveSeed(this.seed, STREAM_STEP + 10, step), deriveSeed(this.seed, STREAM_STEP + 11, step), deriveSeed(this.seed, STREAM_STEP + 12, step)],
    };
    if (draws.comment < COMMENT_PROBABILITY) actions.push({ kind: "comment", user: draws.users[0]!, pick: draws.picks[0]!, variant: draws.variants[0]! });
    if (draws.secondComment < SECOND_COMMENT_PROBABILITY) actions.push({ kind: "comment", user: draws.users[1]!, pick: draws.picks[1]!, variant: draws.variants[1]! });
    if (draws.edit < EDIT_PROBABILITY) actions.push({ kind: "edit", user: draws.users[2]!, pick: draws.picks[2]!, variant: draws.variants[2]! });
    if (draws.delete < DELETE_PROBABILITY) actions.push({ kind: "delete", user: draws.users[3]!, pick: draws.picks[3]! });
    return actions;
  }
}

/** The comment a simulated user writes on `target`. */
export function commentFor(target: Target, variant: number): string {
  const random = mulberry32(variant);
  return fill(pick(random, COMMENTS), { title: target.title.slice(0, 200), tag: pick(random, target.tags.length > 0 ? target.tags : ["this"]) });
}

/** How a simulated user edits their own bookmark: a new tag, a retitle, a new description, or new (or no) notes. */
export function editFor(target: Target, variant: number): BookmarkChanges {
  const random = mulberry32(variant);
  switch (below(random, 4)) {
    case 0: return { tags: [...target.tags.filter((tag) => !EXTRA_TAGS.includes(tag)), pick(random, EXTRA_TAGS)] };
    case 1: return { title: target.title.startsWith("Updated: ") ? target.title.slice("Updated: ".length) : `Updated: ${target.title}`.slice(0, 500) };
    case 2: return { description: fill(pick(random, DESCRIPTIONS), { title: target.title, tag: target.tags[0] ?? "this" }) };
    default: return { notes: chance(random, NOTES_CLEARED_PROBABILITY) ? "" : notesFor(random, { title: target.title, tag: target.tags[0] ?? "this" }) };
  }
}

/** The element of `items` that `pick` (in [0, 1)) lands on. */
export function choose<T>(items: readonly T[], pick: number): T | undefined {
  return items.length === 0 ? undefined : items[Math.min(items.length - 1, Math.floor(pick * items.length))];
}
