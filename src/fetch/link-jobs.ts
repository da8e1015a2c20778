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
/** Checks of one host a walk keeps under way; that host's others wait for the next walk of the pass, so other hosts are not held up behind it. */
const PASS_HOST_PENDING_MAX = 4;
const CHECKS_WAITING_MAX = 1000;
/** Outcomes kept per pass so a URL saved by many is requested once (cleared when full). */
const PASS_OUTCOMES_MAX = 10_000;
/** The pause between two checks of one host (from one's end to the next one's start). */
export const HOST_GAP_MS = 1000;
/** The first background pass comes a tenth of the interval after start, at most this: start-up is not slowed, and a server restarted often still checks. */
const START_DELAY_MS_MAX = 30_000;
/** Background passes come at least this far apart (the interval, when shorter), however the links' due times spread. */
const PASS_SPACING_MS_MAX = 60_000;
/** The longest a Node timer waits (a longer delay would fire at once); a wake with nothing due sleeps again. */
const TIMER_MS_MAX = 2 ** 31 - 1;

export interface PassResult {
  checked: number;
  broken: number;
}

export interface LinkCheckerOptions {
  store: Store;
  commands: Commands;
  fetcher: PageFetcher;
  /** Seconds between two checks of a link; 0: no background passes (checkNow and runPass still work). */
  intervalS: number;
  /** Whether this node appends (cluster mode: the leader alone runs background passes); always, when absent. */
  appends?: () => boolean;
  /** The pause between two checks of one host; HOST_GAP_MS when absent. */
  hostGapMs?: number;
}

/**
 * Re-checks saved links politely: one request at a time per host with HOST_GAP_MS between two,
 * a few hosts at once, HEAD then GET, the same address guard and bounds as every fetch. Each
 * result is a `link.checked` event.
 *
 * The schedule is the store's, not this process's: a link is due NASTY_LINK_CHECK_INTERVAL_S
 * after its last health check (or after it was saved with this URL), a time kept with the
 * bookmark and rebuilt on replay. So a restart loses nothing: shortly after start (a tenth of the
 * interval, START_DELAY_MS_MAX at most) a pass checks the links that fell due, and the next comes
 * when the oldest link falls due (at least the smaller of the interval and PASS_SPACING_MS_MAX
 * later). In cluster mode only the leader runs passes; a follower looks again each spacing, so a
 * new leader takes over within it.
 */
export class LinkChecker {
  private readonly limiter: HostLimiter;
  private timer: NodeJS.Timeout | null = null;
  /** The pass under way; `all` when it checks every link (runPass), not only the due ones. */
  private current: { all: boolean; done: Promise<PassResult> } | null = null;
  private passOutcomes = new Map<string, Promise<HealthOutcome | null>>();
  private stopped = false;
  passes = 0;

  constructor(private readonly options: LinkCheckerOptions) {
    this.limiter = new HostLimiter(1, CHECKS_TOTAL_MAX, CHECKS_WAITING_MAX, options.hostGapMs ?? HOST_GAP_MS);
  }

  private get intervalMs(): number {
    return this.options.intervalS * 1000;
  }

  start(): void {
    if (this.options.intervalS > 0 && this.options.fetcher.enabled) this.schedule(Math.min(this.intervalMs / 10, START_DELAY_MS_MAX));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(guarded("link check pass", async () => {
      let next = Math.min(this.intervalMs, PASS_SPACING_MS_MAX);
      try {
        if (this.options.appends?.() ?? true) {
          await (this.current?.done ?? this.begin(false));
          next = Math.max(next, this.nextDueAt() - Date.now());
        }
      } finally {
        this.schedule(Math.min(next, TIMER_MS_MAX));
      }
    }), delayMs);
    this.timer.unref();
  }

  /** When the link checked longest ago falls due (a full interval from now when there are none). */
  private nextDueAt(): number {
    const store = this.options.store;
    let oldest = Date.now();
    for (const ord of store.liveOrds()) oldest = Math.min(oldest, store.linkCheckedAt(ord));
    return oldest + this.intervalMs;
  }

  /** A pass over every saved link now (after the pass under way, unless that one checks every link too). */
  runPass(): Promise<PassResult> {
    this.refuseWhenOff();
    if (this.current?.all) return this.current.done;
    return this.begin(true, this.current?.done);
  }

  private begin(all: boolean, after?: Promise<PassResult>): Promise<PassResult> {
    const done: Promise<PassResult> = (after ?? Promise.resolve()).catch(() => {}).then(() => this.pass(all)).finally(() => {
      if (this.current?.done === done) this.current = null;
      this.passOutcomes = new Map();
      this.passes += 1;
    });
    this.current = { all, done };
    return done;
  }

  private refuseWhenOff(): void {
    if (!this.options.fetcher.enabled) throw new HttpError(409, "link checks are off on this server (NASTY_FETCH=off)");
  }

  /**
   * Checks every link (all) or those due when the pass starts, walking the bookmarks again while
   * a walk left some for a busy host; a link checked in this pass is not due any more.
   */
  private async pass(all: boolean): Promise<PassResult> {
    const store = this.options.store;
    const startedAt = Date.now();
    // Check times are whole seconds: one checked in this pass is at or after this.
    const startedSecond = Math.floor(startedAt / 1000) * 1000;
    const due = (ord: number) => store.linkCheckedAt(ord) + this.intervalMs <= startedAt;
    const notInThisPass = (ord: number) => store.linkCheckedAt(ord) < startedSecond;
    const result: PassResult = { checked: 0, broken: 0 };
    let wanted = all ? () => true : due;
    while ((await this.walk(wanted, result)) && !this.stopped) wanted = all ? notInThisPass : due;
    return result;
  }

  /** One walk over the bookmarks, checking the wanted ones; true when it left some for a host that had enough under way. */
  private async walk(wanted: (ord: number) => boolean, result: PassResult): Promise<boolean> {
    const store = this.options.store;
    const pending = new Set<Promise<void>>();
    const hostPending = new Map<string, number>();
    let leftSome = false;
    // liveOrds reads the counter as it goes: bookmarks saved meanwhile are seen, deleted ones skipped.
    for (const ord of store.liveOrds()) {
      if (this.stopped) break;
      if (!wanted(ord)) continue;
      const bookmark = store.bookmarkAt(ord);
      const host = hostOf(bookmark.url);
      const underWay = hostPending.get(host) ?? 0;
      if (underWay >= PASS_HOST_PENDING_MAX) {
        leftSome = true;
        continue;
      }
      hostPending.set(host, underWay + 1);
      const job = this.checkInPass(bookmark).then(
        (outcome) => {
          if (outcome === null) return;
          result.checked += 1;
          if (outcome.broken) result.broken += 1;
        },
        (error: unknown) => logger.warn({ err: error, bookmark_id: bookmark.id }, "a link check could not be recorded"),
      );
      pending.add(job);
      void job.finally(() => {
        pending.delete(job);
        const left = (hostPending.get(host) ?? 1) - 1;
        if (left === 0) hostPending.delete(host);
        else hostPending.set(host, left);
      });
      if (pending.size >= PASS_PENDING_MAX) await Promise.race(pending);
    }
    await Promise.allSettled([...pending]);
    return leftSome;
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
    await this.current?.done.catch(() => {});
  }
}
