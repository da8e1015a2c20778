// Importing a Netscape bookmark file for one user: read as it arrives, check each entry, save in batches.
import { HttpError } from "../errors.ts";
import { BATCH_BOOKMARKS_MAX, type Commands } from "../commands/commands.ts";
import { LIMITS, validUrl, tagList } from "../commands/schemas.ts";
import type { User } from "../store/store.ts";
import { charsOver, repairText, truncateChars, type TextShape } from "../text.ts";
import { NetscapeReader, type NetscapeEntry } from "./netscape.ts";
import { SpillFile } from "./spill.ts";

/** Entries in one import: far beyond any real file, a bound on the spill file for the CLI (HTTP has its byte limit). */
export const IMPORT_ENTRIES_MAX = 2_000_000;
/** Problems reported one by one; beyond this they are only counted. */
export const PROBLEMS_REPORTED_MAX = 1000;
const PROGRESS_EVERY_ENTRIES = 5000;
const DATE_MS_MIN = Date.UTC(1990, 0, 1);

export interface ImportOptions {
  /** Folder names become tags (default true). */
  foldersAsTags?: boolean;
  /**
   * Entries without their own PRIVATE attribute are public (default false: an import is private
   * unless the person chooses, and browsers' exports have no PRIVATE at all).
   */
  public?: boolean;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportProgress {
  phase: "reading" | "saving";
  bytes: number;
  entries: number;
  /** Entries handled by the saving phase so far, of `entries`. */
  saved: number;
}

export interface ImportProblem {
  line: number;
  message: string;
}

export interface ImportReport {
  entries: number;
  imported: number;
  /** Already saved by this user (or twice in the file): skipped, not an error. */
  duplicates: number;
  /** Entries that could not be used (listed in `problems`). */
  skipped: number;
  problems: ImportProblem[];
  problems_total: number;
}

interface Candidate {
  line: number;
  input: { title: string; url: string; description: string; notes?: string; tags: string[]; public: boolean; unread?: boolean; inserted_at?: number };
  /** Characters that could not be kept as they were (replaced with U+FFFD), reported but not fatal. */
  repaired?: ImportProblem;
}

/** Text of an entry made fit for its field (text.ts repairText), counting what was replaced. */
class Repairs {
  private readonly fields: string[] = [];
  private replaced = 0;

  text(field: string, text: string, shape: TextShape): string {
    const repaired = repairText(text, shape);
    if (repaired.replaced > 0) {
      this.replaced += repaired.replaced;
      if (!this.fields.includes(field)) this.fields.push(field);
    }
    return repaired.text;
  }

  problem(line: number): ImportProblem | undefined {
    if (this.replaced === 0) return undefined;
    const what = this.replaced === 1 ? "1 character that is" : `${this.replaced} characters that are`;
    return { line, message: `${what} not valid text (a lone surrogate, a non-character or a control character) in the ${this.fields.join(" and ")} replaced with U+FFFD; imported` };
  }
}

/** Tags as a bookmark can carry them: no commas or control characters, at most 64 characters each. */
function cleanTags(names: readonly string[], repairs: Repairs): string[] {
  const cleaned = names.map((name) => truncateChars(repairs.text("tags", name.replace(/[\u0000-\u001f\u007f,]+/g, " "), "line").trim(), LIMITS.tagCharsMax));
  return tagList(cleaned).map((tag) => truncateChars(tag, LIMITS.tagCharsMax)).slice(0, LIMITS.tagsPerBookmarkMax);
}

/**
 * What an entry becomes, or why it cannot be used. Over-long titles, descriptions and notes are cut to
 * the limits, surplus tags dropped, an impossible date ignored, characters that are not valid text
 * replaced (and reported): only a missing or unusable URL or a missing title loses an entry. The
 * entry's own PRIVATE attribute decides whether it is public; without one, `publicByDefault` does.
 */
export function candidateOf(entry: NetscapeEntry, foldersAsTags: boolean, publicByDefault = false): Candidate | ImportProblem {
  const problem = (message: string): ImportProblem => ({ line: entry.line, message });
  const repairs = new Repairs();
  const href = repairs.text("URL", entry.href, "any");
  if (href === "") return problem("no URL (the <A> has no HREF); skipped");
  const url = validUrl(href);
  if (url === null) return problem(`'${href.slice(0, 80)}' is not an http(s) URL; skipped`);
  if (charsOver(url, LIMITS.urlCharsMax)) return problem(`the URL is longer than ${LIMITS.urlCharsMax} characters; skipped`);
  const title = truncateChars(repairs.text("title", entry.title, "line"), LIMITS.titleCharsMax);
  if (title.trim() === "") return problem(`no title for ${url.slice(0, 80)}; skipped`);
  const input: Candidate["input"] = {
    title,
    url,
    description: truncateChars(repairs.text("description", entry.description, "lines"), LIMITS.descriptionCharsMax),
    tags: cleanTags(foldersAsTags ? [...entry.tags, ...entry.folders] : entry.tags, repairs),
    public: entry.private === null ? publicByDefault : !entry.private,
  };
  if (entry.toRead) input.unread = true;
  if (entry.notes !== "") input.notes = truncateChars(repairs.text("notes", entry.notes, "lines"), LIMITS.notesCharsMax);
  const date = entry.addDateMs;
  if (date !== null && date >= DATE_MS_MIN && date <= Date.now() + 86_400_000) input.inserted_at = date;
  const repaired = repairs.problem(entry.line);
  return repaired ? { line: entry.line, input, repaired } : { line: entry.line, input };
}

/**
 * Files list newest first (Pinboard, linkding, ours) or roughly oldest first (browsers, by
 * folder). Lists here follow arrival order, so a newest-first file is saved from its end: the
 * newest bookmark arrives last and shows first, and an export imported again keeps its order.
 * This counts, over consecutive dated entries, which way the dates mostly go.
 */
class DateDirection {
  private descending = 0;
  private ascending = 0;
  private previous: number | undefined;

  see(date: number | undefined): void {
    if (date === undefined) return;
    if (this.previous !== undefined && date < this.previous) this.descending += 1;
    if (this.previous !== undefined && date > this.previous) this.ascending += 1;
    this.previous = date;
  }

  get newestFirst(): boolean {
    return this.descending > this.ascending;
  }
}

/**
 * One import. `write` bytes as they arrive: the reader holds only the tag or text in progress,
 * usable entries gather into a batch of BATCH_BOOKMARKS_MAX, and each full batch goes to a
 * temporary spill file. `finish` then saves the batches in order (or from the end, for a
 * newest-first file) through Commands.createBookmarks — one append and one commit per batch —
 * and reports what happened. Memory holds about one batch, whatever the size of the file.
 * `dispose` removes the spill file (finish does it too); call it when an upload breaks off.
 */
export class BookmarkImport {
  private readonly decoder = new TextDecoder("utf-8");
  private readonly reader: NetscapeReader;
  private batch: Candidate[] = [];
  private spill: SpillFile<Candidate> | null = null;
  private readonly direction = new DateDirection();
  private readonly problems: ImportProblem[] = [];
  private problemCount = 0;
  private skipped = 0;
  private entries = 0;
  private bytes = 0;
  private finished = false;

  constructor(
    private readonly commands: Commands,
    private readonly user: User,
    private readonly options: ImportOptions = {},
  ) {
    this.reader = new NetscapeReader(
      (entry) => this.take(entry),
      (line, message) => this.problem({ line, message }),
    );
  }

  write(chunk: Uint8Array): void {
    this.bytes += chunk.byteLength;
    this.reader.write(this.decoder.decode(chunk, { stream: true }));
  }

  private take(entry: NetscapeEntry): void {
    this.entries += 1;
    if (this.entries > IMPORT_ENTRIES_MAX) throw new HttpError(413, `the file has over ${IMPORT_ENTRIES_MAX.toLocaleString("en")} bookmarks; split it`);
    const candidate = candidateOf(entry, this.options.foldersAsTags ?? true, this.options.public ?? false);
    if ("input" in candidate) {
      if (candidate.repaired) this.problem(candidate.repaired);
      this.direction.see(candidate.input.inserted_at);
      this.batch.push({ line: candidate.line, input: candidate.input });
      if (this.batch.length === BATCH_BOOKMARKS_MAX) {
        (this.spill ??= new SpillFile("nasty-import-")).push(this.batch);
        this.batch = [];
      }
    } else {
      this.skipped += 1;
      this.problem(candidate);
    }
    if (this.entries % PROGRESS_EVERY_ENTRIES === 0) this.options.onProgress?.({ phase: "reading", bytes: this.bytes, entries: this.entries, saved: 0 });
  }

  private problem(problem: ImportProblem): void {
    this.problemCount += 1;
    if (this.problems.length < PROBLEMS_REPORTED_MAX) this.problems.push(problem);
  }

  async finish(): Promise<ImportReport> {
    if (this.finished) throw new Error("import finished twice");
    this.finished = true;
    this.reader.write(this.decoder.decode());
    this.reader.end();
    if (!this.reader.sawBookmarkMarkup && this.entries === 0) {
      throw new HttpError(422, "this is not a Netscape bookmark file (no <!DOCTYPE NETSCAPE-Bookmark-file-1>, <DL> or <A HREF>); export one from your browser, Pinboard or linkding");
    }
    const report: ImportReport = { entries: this.entries, imported: 0, duplicates: 0, skipped: 0, problems: [], problems_total: 0 };
    try {
      await this.save(report);
    } finally {
      this.dispose();
    }
    report.skipped = this.skipped;
    report.problems = [...this.problems].sort((a, b) => a.line - b.line);
    report.problems_total = this.problemCount;
    return report;
  }

  /** Removes the spill file; the import cannot go on after this. */
  dispose(): void {
    this.spill?.dispose();
    this.spill = null;
    this.batch = [];
  }

  /** The batches in saving order: spilled ones then the last, or all reversed for a newest-first file. */
  private *batches(): Generator<Candidate[]> {
    const spilled = this.spill?.batchCount ?? 0;
    if (!this.direction.newestFirst) {
      for (let index = 0; index < spilled; index += 1) yield this.spill!.read(index);
      if (this.batch.length > 0) yield this.batch;
      return;
    }
    if (this.batch.length > 0) yield [...this.batch].reverse();
    for (let index = spilled - 1; index >= 0; index -= 1) yield this.spill!.read(index).reverse();
  }

  private async save(report: ImportReport): Promise<void> {
    let saved = 0;
    for (const batch of this.batches()) {
      const outcomes = await this.commands.createBookmarks(this.user, batch.map((candidate) => candidate.input));
      outcomes.forEach((outcome, index) => {
        if (outcome.kind === "created") report.imported += 1;
        else if (outcome.kind === "duplicate") report.duplicates += 1;
        else {
          this.skipped += 1;
          this.problem({ line: batch[index]!.line, message: `${outcome.error.message}; skipped` });
        }
      });
      saved += batch.length;
      this.options.onProgress?.({ phase: "saving", bytes: this.bytes, entries: this.entries, saved });
    }
  }
}
