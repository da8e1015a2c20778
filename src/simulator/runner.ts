// Runs a traffic plan at a steady rate with a bounded number of actions in flight, counting what came back.
import { HttpError } from "../errors.ts";
import { choose, commentFor, editFor, type Action, type ActionKind, type BookmarkChanges, type BookmarkDraft, type Target, type TrafficPlan } from "./traffic.ts";
import { guarded } from "../guard.ts";

/**
 * Where actions go: the command path inside the server, or another server's HTTP API. Each call
 * resolves to the status the API answers (201, 204, 409, 422, …); transport failures reject.
 */
export interface Driver {
  create(user: number, draft: BookmarkDraft): Promise<number>;
  comment(user: number, target: Target, body: string): Promise<number>;
  edit(user: number, target: Target, changes: BookmarkChanges): Promise<number>;
  delete(user: number, target: Target): Promise<number>;
  /** Recent public bookmarks, oldest first: where comments land. */
  recentPublic(): readonly Target[];
  /** A simulated user's own recent bookmarks, oldest first: what they edit or delete. */
  ownRecent(user: number): readonly Target[];
}

export interface RunnerOptions {
  /** Plan steps (one bookmark each, plus extras) per second. */
  rate: number;
  /** Actions awaiting an answer at most; a step waits while the limit is reached. */
  inFlightMax: number;
  /** First step to run (a restarted simulator continues past what it already saved). */
  startStep?: number;
  /** Stop issuing after this many steps. */
  stepsMax?: number;
  /** Stop issuing after this long. */
  durationMs?: number;
  /** Where to report unexpected errors (the first few only). */
  say?: (line: string) => void;
}

export interface RunnerStats {
  running: boolean;
  rate: number;
  step: number;
  in_flight: number;
  created: number;
  commented: number;
  edited: number;
  deleted: number;
  /** Answered 4xx: the command path said no (invalid, duplicate, gone, rate-limited). */
  refused: number;
  /** Answered 5xx or no answer at all. */
  failed: number;
  /** Steps dropped because the target could not keep up for a whole second. */
  skipped: number;
  statuses: Record<string, number>;
  last_error: string | null;
}

const SUCCEEDED: Record<ActionKind, "created" | "commented" | "edited" | "deleted"> = { create: "created", comment: "commented", edit: "edited", delete: "deleted" };
const ERRORS_REPORTED_MAX = 5;
const TICK_MS_MAX = 250;
const TICK_MS_BLOCKED = 2;
/** A step carries up to this many actions (create, two comments, edit, delete). */
export const ACTIONS_PER_STEP_MAX = 5;

export class Runner {
  private readonly counts = { created: 0, commented: 0, edited: 0, deleted: 0, refused: 0, failed: 0, skipped: 0 };
  private readonly statuses = new Map<string, number>();
  private lastError: string | null = null;
  private errorsReported = 0;
  private nextStep: number;
  private stepsIssued = 0;
  private inFlight = 0;
  /** Bookmarks with a delete in flight: a person deletes a bookmark once, so no second delete aims at them. */
  private readonly deleting = new Set<number>();
  private startedAtMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private halted = false;
  private finishedResolve!: () => void;
  /** Resolves once issuing has stopped (limit reached or stop()) and every action has settled. */
  readonly finished: Promise<void>;

  constructor(
    private readonly plan: TrafficPlan,
    private readonly driver: Driver,
    private readonly options: RunnerOptions,
  ) {
    if (!(options.rate > 0)) throw new RangeError(`rate must be positive, got ${options.rate}`);
    if (!Number.isInteger(options.inFlightMax) || options.inFlightMax < ACTIONS_PER_STEP_MAX) throw new RangeError(`inFlightMax must be a whole number ≥ ${ACTIONS_PER_STEP_MAX}`);
    this.nextStep = options.startStep ?? 0;
    this.finished = new Promise((resolve) => (this.finishedResolve = resolve));
  }

  start(): void {
    if (this.running || this.halted) return;
    this.running = true;
    this.startedAtMs = performance.now();
    this.tick();
  }

  /** Stops issuing and waits for every action in flight to settle. */
  async stop(): Promise<void> {
    this.halt();
    await this.finished;
  }

  /** The stats of a runner that has not started yet. */
  static idleStats(rate: number): RunnerStats {
    return { running: false, rate, step: 0, in_flight: 0, created: 0, commented: 0, edited: 0, deleted: 0, refused: 0, failed: 0, skipped: 0, statuses: {}, last_error: null };
  }

  stats(): RunnerStats {
    return {
      running: this.running,
      rate: this.options.rate,
      step: this.nextStep,
      in_flight: this.inFlight,
      ...this.counts,
      statuses: Object.fromEntries([...this.statuses].sort()),
      last_error: this.lastError,
    };
  }

  private halt(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = false;
    this.halted = true;
    if (this.inFlight === 0) this.finishedResolve();
  }

  private limitReached(elapsedMs: number): boolean {
    const { stepsMax, durationMs } = this.options;
    return (stepsMax !== undefined && this.stepsIssued >= stepsMax) || (durationMs !== undefined && elapsedMs >= durationMs);
  }

  /**
   * Issues the steps due by now (one at start, then `rate` per second), never more than the
   * in-flight bound allows. A backlog longer than a second is dropped and counted as skipped, so
   * a slow target sees a steady load instead of a burst when it recovers.
   */
  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    const elapsedMs = performance.now() - this.startedAtMs;
    const backlogMax = Math.max(1, Math.ceil(this.options.rate));
    let due = Math.floor((elapsedMs * this.options.rate) / 1000) + 1 - this.stepsIssued - this.counts.skipped;
    if (due > backlogMax) {
      this.counts.skipped += due - backlogMax;
      due = backlogMax;
    }
    while (due > 0 && this.inFlight + ACTIONS_PER_STEP_MAX <= this.options.inFlightMax && !this.limitReached(elapsedMs)) {
      this.issue(this.plan.step(this.nextStep));
      this.nextStep += 1;
      this.stepsIssued += 1;
      due -= 1;
    }
    if (this.limitReached(elapsedMs)) {
      this.halt();
      return;
    }
    const untilNextMs = ((this.stepsIssued + this.counts.skipped) * 1000) / this.options.rate - elapsedMs;
    const delayMs = due > 0 ? TICK_MS_BLOCKED : Math.min(TICK_MS_MAX, Math.max(1, untilNextMs));
    this.timer = setTimeout(guarded("simulator tick", () => this.tick()), delayMs);
  }

  /** Starts every action of a step in order, so creates reach the command path in plan order. */
  private issue(actions: readonly Action[]): void {
    for (const action of actions) {
      let pending: Promise<number> | null;
      try {
        pending = this.perform(action);
      } catch (error) {
        pending = Promise.reject(error);
      }
      if (pending === null) continue;
      this.inFlight += 1;
      pending.then(
        (status) => this.settle(action.kind, status),
        (error: unknown) => this.settle(action.kind, error),
      );
    }
  }

  /** Null when the action has nothing to aim at yet (no public bookmark, none of the user's own). */
  private perform(action: Action): Promise<number> | null {
    switch (action.kind) {
      case "create":
        return this.driver.create(action.draft.user, action.draft);
      case "comment": {
        const target = choose(this.driver.recentPublic(), action.pick);
        return target ? this.driver.comment(action.user, target, commentFor(target, action.variant)) : null;
      }
      case "edit": {
        const target = choose(this.driver.ownRecent(action.user), action.pick);
        return target ? this.driver.edit(action.user, target, editFor(target, action.variant)) : null;
      }
      case "delete": {
        const target = choose(this.driver.ownRecent(action.user).filter((bookmark) => !this.deleting.has(bookmark.id)), action.pick);
        if (!target) return null;
        this.deleting.add(target.id);
        return this.driver.delete(action.user, target).finally(() => this.deleting.delete(target.id));
      }
    }
  }

  private settle(kind: ActionKind, outcome: unknown): void {
    this.inFlight -= 1;
    const status = typeof outcome === "number" ? outcome : outcome instanceof HttpError ? outcome.status : null;
    const key = status === null ? "error" : String(status);
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    if (status !== null && status >= 200 && status < 300) this.counts[SUCCEEDED[kind]] += 1;
    else if (status !== null && status >= 400 && status < 500) this.counts.refused += 1;
    else this.fail(kind, outcome);
    if (this.inFlight === 0 && this.halted) this.finishedResolve();
  }

  private fail(kind: ActionKind, outcome: unknown): void {
    this.counts.failed += 1;
    this.lastError = `${kind}: ${outcome instanceof Error ? outcome.message : `status ${String(outcome)}`}`;
    if (this.errorsReported < ERRORS_REPORTED_MAX) {
      this.errorsReported += 1;
      this.options.say?.(`${this.lastError}${this.errorsReported === ERRORS_REPORTED_MAX ? " (further errors are only counted)" : ""}`);
    }
  }
}
