// Bounded concurrency for outbound fetches: at most N at once per host and M in total, with a bounded wait queue and an optional pause between one host's fetches.
import { HttpError } from "../errors.ts";
import { guarded } from "../guard.ts";

interface Waiter {
  host: string;
  start: () => void;
}

/** Hosts remembered as resting before the expired ones are swept out (a bound on the map, not on hosts). */
const RESTING_SWEEP_AT = 1000;

/**
 * `run(host, work)` starts `work` when fewer than `perHost` fetches of that host and fewer than
 * `total` fetches overall are running, and at least `gapMs` have passed since that host's last
 * fetch ended; otherwise it waits its turn (first come, first served among the hosts that have
 * room). More than `waitingMax` waiting is refused at once (503), so a burst cannot pile up
 * without bound. While one host rests, the others go on.
 */
export class HostLimiter {
  private readonly running = new Map<string, number>();
  private runningTotal = 0;
  private readonly waiting: Waiter[] = [];
  /** Host → when (ms since 1970) it may be fetched again; only with a gap. */
  private readonly resting = new Map<string, number>();
  private wake: NodeJS.Timeout | null = null;
  private wakeAt = 0;

  constructor(private readonly perHost: number, private readonly total: number, private readonly waitingMax: number, private readonly gapMs = 0) {}

  get busy(): { running: number; waiting: number } {
    return { running: this.runningTotal, waiting: this.waiting.length };
  }

  private hasRoom(host: string, now: number): boolean {
    return this.runningTotal < this.total && (this.running.get(host) ?? 0) < this.perHost && (this.resting.get(host) ?? 0) <= now;
  }

  private take(host: string): void {
    this.runningTotal += 1;
    this.running.set(host, (this.running.get(host) ?? 0) + 1);
  }

  private release(host: string): void {
    this.runningTotal -= 1;
    const left = (this.running.get(host) ?? 1) - 1;
    if (left === 0) this.running.delete(host);
    else this.running.set(host, left);
    if (this.gapMs > 0) this.rest(host);
    this.startWaiters();
  }

  private rest(host: string): void {
    const now = Date.now();
    if (this.resting.size >= RESTING_SWEEP_AT) for (const [name, until] of this.resting) if (until <= now) this.resting.delete(name);
    this.resting.set(host, now + this.gapMs);
  }

  /** Starts every waiter that has room now; when some wait only for their host's rest, wakes up when the first rest ends. */
  private startWaiters(): void {
    const now = Date.now();
    let restEnd = Infinity;
    for (let index = 0; index < this.waiting.length && this.runningTotal < this.total; ) {
      const waiter = this.waiting[index]!;
      if (!this.hasRoom(waiter.host, now)) {
        const until = this.resting.get(waiter.host) ?? 0;
        if (until > now && (this.running.get(waiter.host) ?? 0) < this.perHost) restEnd = Math.min(restEnd, until);
        index += 1;
        continue;
      }
      // The slot is taken for the waiter here, so nobody arriving meanwhile takes it first.
      this.waiting.splice(index, 1);
      this.take(waiter.host);
      waiter.start();
    }
    if (restEnd !== Infinity) this.wakeWhenRested(restEnd);
  }

  private wakeWhenRested(at: number): void {
    if (this.wake !== null && this.wakeAt <= at) return;
    if (this.wake !== null) clearTimeout(this.wake);
    this.wakeAt = at;
    this.wake = setTimeout(guarded("host limiter rest over", () => {
      this.wake = null;
      this.startWaiters();
    }), Math.max(0, at - Date.now()));
    this.wake.unref();
  }

  async run<T>(host: string, work: () => Promise<T>): Promise<T> {
    if (this.hasRoom(host, Date.now())) this.take(host);
    else {
      if (this.waiting.length >= this.waitingMax) throw new HttpError(503, `too many fetches waiting (${this.waitingMax}); try again shortly`);
      await new Promise<void>((resolve) => {
        this.waiting.push({ host, start: resolve });
        // Waiting only for the host's rest: nothing else may come along to start it.
        const until = this.resting.get(host) ?? 0;
        if (until > Date.now()) this.wakeWhenRested(until);
      });
    }
    try {
      return await work();
    } finally {
      this.release(host);
    }
  }
}
