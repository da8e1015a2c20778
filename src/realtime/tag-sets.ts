// The multi-tag feeds (`/t/rust+web`) that live pages follow right now, with their subscriber counts.
import { tagSetTopic } from "./topics.ts";

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

  /** The tags of each active set all of whose tags are among `tags`. */
  matching(tags: readonly string[]): (readonly string[])[] {
    const sets: (readonly string[])[] = [];
    for (const entry of this.active.values()) if (entry.tags.every((tag) => tags.includes(tag))) sets.push(entry.tags);
    return sets;
  }
}
