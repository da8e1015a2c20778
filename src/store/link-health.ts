// What the fetcher and the link checker found out about bookmarks' URLs: only what is not fine (a broken link, a failed title fetch), keyed by bookmark id.
import type { BookmarkId, LinkCheckPurpose, LoggedEvent } from "../events.ts";

export interface LinkCheck {
  status: number | null;
  finalUrl: string | null;
  error: string | null;
  /** When it was checked (the event's time, ms since 1970). */
  at: number;
}

/** One bookmark's troubles: its last health check if that found it broken, its last metadata fetch if that failed. */
export interface LinkTrouble {
  broken: LinkCheck | null;
  fetchFailed: LinkCheck | null;
}

type CheckedPayload = Extract<LoggedEvent, { type: "link.checked" }>["payload"];

/**
 * The fold of `link.checked` events. A healthy check or a successful fetch removes what an
 * earlier one recorded, so the map holds only bookmarks with a trouble (most have none). The
 * store calls `forget` when a bookmark is deleted: its checks go with it.
 */
export class LinkHealth {
  private readonly troubles = new Map<BookmarkId, LinkTrouble>();
  /** The last payload applied that changed what its owner is shown (live delivery pushes only those). */
  lastChange: CheckedPayload | null = null;

  get size(): number {
    return this.troubles.size;
  }

  apply(payload: CheckedPayload, at: number): void {
    const check: LinkCheck = { status: payload.status, finalUrl: payload.final_url, error: payload.error, at };
    const trouble = this.troubles.get(payload.id) ?? { broken: null, fetchFailed: null };
    const changed = this.set(payload.id, payload.purpose, trouble, payload.purpose === "health" ? payload.broken : payload.error !== null, check);
    if (changed) this.lastChange = payload;
  }

  private set(id: BookmarkId, purpose: LinkCheckPurpose, trouble: LinkTrouble, bad: boolean, check: LinkCheck): boolean {
    const wasBad = (purpose === "health" ? trouble.broken : trouble.fetchFailed) !== null;
    if (purpose === "health") trouble.broken = bad ? check : null;
    else trouble.fetchFailed = bad ? check : null;
    if (trouble.broken === null && trouble.fetchFailed === null) this.troubles.delete(id);
    else this.troubles.set(id, trouble);
    return wasBad !== bad;
  }

  /** Restores one bookmark's troubles from a snapshot. */
  restore(id: BookmarkId, trouble: LinkTrouble): void {
    if (trouble.broken !== null || trouble.fetchFailed !== null) this.troubles.set(id, trouble);
  }

  forget(id: BookmarkId): void {
    this.troubles.delete(id);
  }

  get(id: BookmarkId): LinkTrouble | undefined {
    return this.troubles.get(id);
  }

  isBroken(id: BookmarkId): boolean {
    return this.troubles.get(id)?.broken != null;
  }

  entries(): IterableIterator<[BookmarkId, LinkTrouble]> {
    return this.troubles.entries();
  }
}
