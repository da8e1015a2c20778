// The search index's part of a snapshot: its section, the index read back from it, and the snapshot thread's job module.
import type { SnapshotSection } from "../log/snapshot-file.ts";
import type { Store } from "../store/store.ts";
import { SearchIndex } from "./index.ts";
import { WordTableError } from "./word-table.ts";

export const SEARCH_SECTION = "search";

/** What the snapshot thread runs (Snapshotter's `job`): it folds and writes the store and this index. */
export const SNAPSHOT_JOB = new URL("./snapshot-job.ts", import.meta.url).href;

/** The index as a snapshot section; none while it is still being built (the next start then rebuilds it). */
export function searchSections(index: SearchIndex): SnapshotSection[] {
  if (!index.buildProgress.ready) return [];
  return [{ name: SEARCH_SECTION, write: (out) => { for (const chunk of index.encode()) out(chunk); } }];
}

/** A section built from the store now (offline: `nasty compact` without a server, the bench), so the next start need not build it. */
export function freshSearchSections(store: Store): SnapshotSection[] {
  const index = new SearchIndex(store);
  index.buildNow();
  return searchSections(index);
}

/**
 * The index read from a snapshot's search section (checksum already verified), or null when there
 * is none or it cannot be read: `warn` says so, and the caller builds the index from the store.
 */
export function loadSearchSection(store: Store, sections: ReadonlyMap<string, Uint8Array>, warn: (line: string) => void): SearchIndex | null {
  const section = sections.get(SEARCH_SECTION);
  if (section === undefined) return null;
  try {
    return SearchIndex.load(store, section);
  } catch (error) {
    if (!(error instanceof WordTableError)) throw error;
    warn(`${error.message}; the search index is rebuilt from the store`);
    return null;
  }
}
