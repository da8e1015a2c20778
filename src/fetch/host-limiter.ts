// Bounded concurrency for outbound fetches: at most N at once per host and M in total, with a bounded wait queue.
import { HttpError } from "../errors.ts";

interface Waiter {
  host: string;
  start: () => void;
}

/**
 * `run(host, work)` starts `work` when fewer than `perHost` fetches of that host and fewer than
 * `total` fetches overall are running; otherwise it waits its turn (first come, first served
 * among the hosts that have room). More than `waitingMax` waiting is refused at once (503), so a
 * burst cannot pile up without bound.
 */
export class HostLimiter {
  private readonly running = new Map<string, number>();
  private runningTotal = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly perHost: number, private readonly total: number, private readonly waitingMax: number) {}

  get busy(): { running: number; waiting: number } {
    return { running: this.runningTotal, waiting: this.waiting.length };
  }

  private hasRoom(host: string): boolean {
    return this.runningTotal < this.total && (this.running.get(host) ?? 0) < this.perHost;
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
    const next = this.waiting.findIndex((waiter) => this.hasRoom(waiter.host));
    if (next < 0) return;
    // The slot is taken for the waiter here, so nobody arriving meanwhile takes it first.
    const waiter = this.waiting.splice(next, 1)[0]!;
    this.take(waiter.host);
    waiter.start();
  }

  async run<T>(host: string, work: () => Promise<T>): Promise<T> {
    if (this.hasRoom(host)) this.take(host);
    else {
      if (this.waiting.length >= this.waitingMax) throw new HttpError(503, `too many fetches waiting (${this.waitingMax}); try again shortly`);
      await new Promise<void>((resolve) => this.waiting.push({ host, start: resolve }));
    }
    try {
      return await work();
    } finally {
      this.release(host);
    }
  }
}
