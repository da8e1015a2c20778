// The background work of fetching: a metadata fetch after each save that asks for one, and the link checker's passes over saved links.
import type { Commands, LinkCheckRecord } from "../commands/commands.ts";
import type { MetadataWanted } from "../commands/schemas.ts";
import { HttpError } from "../errors.ts";
import { guarded } from "../guard.ts";
import { logger } from "../logger.ts";
import type { Bookmark, Store } from "../store/store.ts";
import { HostLimiter } from "./host-limiter.ts";
import { describeFailure, hostOf, isBrokenLink, type HealthOutcome, type PageFetcher } from "./page-fetcher.ts";

/**
 * Runs a metadata fetch for each bookmark saved without a title (or with `fetch_metadata`), in the
 * background: the save was answered already, with the URL as title. The outcome is recorded
 * through Commands.recordLinkCheck (a success fills the fields the person did not give; a failure
 * says why, for the owner, and when it found the link broken it counts as a link check).
 */
export class MetadataJobs {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly fetcher: PageFetcher, private readonly commands: Commands) {}

  start(bookmark: Bookmark, wanted: MetadataWanted): void {
    if (!this.fetcher.enabled) return;
    const { id, url } = bookmark;
    const job = this.run(bookmark.id, url, wanted).catch((error: unknown) => logger.error({ err: error, bookmark_id: id }, "a metadata fetch could not be recorded"));
    this.running.add(job);
    void job.finally(() => this.running.delete(job));
  }

  private async run(id: Bookmark["id"], url: string, wanted: MetadataWanted): Promise<void> {
    const outcome = await this.fetcher.metadata(url);
    // Stopping: nothing was learned about the page, so nothing is recorded.
    if (!outcome.ok && outcome.failure === "fetching is off") return;
    if (!outcome.ok) {
      const check = { status: outcome.status, final_url: outcome.finalUrl, error: describeFailure(outcome) };
      // A fetch that found the link broken is a link check too, recorded as the checker's would be
      // (no second request): the owner sees it now, not at the next pass. A healthy answer is not
      // recorded as one: the bookmark was just saved, so there is no earlier broken mark to clear.
      const health: LinkCheckRecord[] = isBrokenLink(outcome) ? [{ purpose: "health", ...check, broken: true }] : [];
      await this.commands.recordLinkCheck(id, url, [{ purpose: "metadata", ...check, broken: false }, ...health]);
      return;
    }
    const { title, description } = outcome.metadata;
    const fill = { title: wanted.title ? title : null, description: wanted.description ? description : null };
    await this.commands.recordLinkCheck(id, url, [{ purpose: "metadata", status: outcome.status, final_url: outcome.finalUrl, error: null, broken: false }], fill);
  }

  /** Drops the fetches still waiting and waits for those under way (each ends within its time limit). */
  async close(): Promise<void> {
    this.fetcher.close();
    await Promise.allSettled([...this.running]);
  }
}

/** Link checks at once in total (one per host); checks a pass keeps under way before it waits. */
const CHECKS_TOTAL_MAX = 4;
const PASS_PENDING_MAX = 64;
const CHECKS_WAITING_MAX = 1000;
/** Outcomes kept per pass so a URL saved by many is requested once (cleared when full). */
const PASS_OUTCOMES_MAX = 10_000;

export interface PassResult {
  checked: number;
  broken: number;
}

export interface LinkCheckerOptions {
  store: Store;
  commands: Commands;
  fetcher: PageFetcher;
  /** Seconds between passes; 0: no background passes (checkNow and runPass still work). */
  intervalS: number;
  /** Whether this node appends (cluster mode: the leader alone runs background passes); always, when absent. */
  appends?: () => boolean;
}

/**
 * Re-checks saved links politely: one request at a time per host, a few hosts at once, HEAD then
 * GET, the same address guard and bounds as every fetch. A pass walks every bookmark once, then
 * the next starts NASTY_LINK_CHECK_INTERVAL_S later. Each result is a `link.checked` event.
 */
export class LinkChecker {
  private readonly limiter = new HostLimiter(1, CHECKS_TOTAL_MAX, CHECKS_WAITING_MAX);
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<PassResult> | null = null;
  private passOutcomes = new Map<string, Promise<HealthOutcome | null>>();
  private stopped = false;
  passes = 0;

  constructor(private readonly options: LinkCheckerOptions) {}

  start(): void {
    if (this.options.intervalS > 0 && this.options.fetcher.enabled) this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(guarded("link check pass", async () => {
      try {
        if (this.options.appends?.() ?? true) await this.runPass();
      } finally {
        this.schedule();
      }
    }), this.options.intervalS * 1000);
    this.timer.unref();
  }

  /** A pass over every saved link now (or the one under way). */
  runPass(): Promise<PassResult> {
    this.refuseWhenOff();
    this.current ??= this.walk().finally(() => {
      this.current = null;
      this.passOutcomes = new Map();
      this.passes += 1;
    });
    return this.current;
  }

  private refuseWhenOff(): void {
    if (!this.options.fetcher.enabled) throw new HttpError(409, "link checks are off on this server (NASTY_FETCH=off)");
  }

  private async walk(): Promise<PassResult> {
    const result: PassResult = { checked: 0, broken: 0 };
    const pending = new Set<Promise<void>>();
    // A Map's iterator sees deletions and additions made while it walks.
    for (const bookmark of this.options.store.bookmarksById.values()) {
      if (this.stopped) break;
      const job = this.checkInPass(bookmark).then(
        (outcome) => {
          if (outcome === null) return;
          result.checked += 1;
          if (outcome.broken) result.broken += 1;
        },
        (error: unknown) => logger.warn({ err: error, bookmark_id: bookmark.id }, "a link check could not be recorded"),
      );
      pending.add(job);
      void job.finally(() => pending.delete(job));
      if (pending.size >= PASS_PENDING_MAX) await Promise.race(pending);
    }
    await Promise.allSettled([...pending]);
    return result;
  }

  private async checkInPass(bookmark: Bookmark): Promise<HealthOutcome | null> {
    let outcome = this.passOutcomes.get(bookmark.url);
    if (outcome === undefined) {
      if (this.passOutcomes.size >= PASS_OUTCOMES_MAX) this.passOutcomes.clear();
      outcome = this.request(bookmark.url);
      this.passOutcomes.set(bookmark.url, outcome);
    }
    const found = await outcome;
    return found === null ? null : this.record(bookmark, found);
  }

  /** One check when its host's turn comes; null when the checker stopped meanwhile (nothing is recorded). */
  private request(url: string): Promise<HealthOutcome | null> {
    return this.limiter.run(hostOf(url), () => (this.stopped ? Promise.resolve(null) : this.options.fetcher.health(url)));
  }

  private async record(bookmark: Bookmark, outcome: HealthOutcome): Promise<HealthOutcome> {
    await this.options.commands.recordLinkCheck(bookmark.id, bookmark.url, [{ purpose: "health", status: outcome.status, final_url: outcome.finalUrl, error: outcome.error, broken: outcome.broken }]);
    return outcome;
  }

  /** Checks one bookmark's link now (its owner's "re-check"), recorded like any check. */
  async checkNow(bookmark: Bookmark): Promise<HealthOutcome> {
    this.refuseWhenOff();
    const outcome = await this.request(bookmark.url);
    if (outcome === null) throw new HttpError(503, "the server is stopping; re-check after it is back");
    return this.record(bookmark, outcome);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.current?.catch(() => {});
  }
}
