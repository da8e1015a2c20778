// Per-key request budgets over fixed one-minute windows, with the seconds to wait when one runs out.
export class RateLimiter {
  private readonly windows = new Map<string, { startMs: number; count: number }>();
  private static readonly WINDOW_MS = 60_000;
  /** Bound on remembered keys; older windows are dropped first when it is reached. */
  private static readonly KEYS_MAX = 100_000;

  constructor(private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  /** Counts one request for `key`; returns 0 if allowed, else the seconds until the window resets. */
  take(key: string): number {
    if (this.perMinute === 0) return 0;
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || now - window.startMs >= RateLimiter.WINDOW_MS) {
      if (!window && this.windows.size >= RateLimiter.KEYS_MAX) this.prune(now);
      window = { startMs: now, count: 0 };
      this.windows.set(key, window);
    }
    window.count += 1;
    if (window.count <= this.perMinute) return 0;
    return Math.max(1, Math.ceil((window.startMs + RateLimiter.WINDOW_MS - now) / 1000));
  }

  /** Seconds until `key` may try again without counting a request (0: it may now). */
  retryAfter(key: string): number {
    if (this.perMinute === 0) return 0;
    const window = this.windows.get(key);
    const now = this.now();
    if (!window || now - window.startMs >= RateLimiter.WINDOW_MS || window.count < this.perMinute) return 0;
    return Math.max(1, Math.ceil((window.startMs + RateLimiter.WINDOW_MS - now) / 1000));
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (now - window.startMs >= RateLimiter.WINDOW_MS) this.windows.delete(key);
    if (this.windows.size >= RateLimiter.KEYS_MAX) this.windows.clear();
  }
}
