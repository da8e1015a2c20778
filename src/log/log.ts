// The EventLog interface: durable, ordered, append-only; implemented by the SQLite log.
import type { EventBody, LoggedEvent } from "../events.ts";

export interface LogStats {
  events: number;
  lastSeq: number;
  bytes: number;
  /** Rows up to this seq were dropped behind a snapshot. */
  compactedThrough: number;
}

export interface EventLog {
  /**
   * Appends events as one unit. The promise resolves only after the transaction holding them
   * committed with fsync and `onCommitted` ran for them; it rejects with HttpError(503) if the
   * commit failed, in which case nothing of them is stored or applied.
   */
  append(bodies: readonly EventBody[]): Promise<LoggedEvent[]>;
  /** Visits every stored event after `afterSeq` (default 0) in sequence order, synchronously. Returns how many. */
  replay(visit: (event: LoggedEvent) => void, afterSeq?: number): number;
  /** Up to `limit` events with seq > `afterSeq`, in order (for the Postgres flush). */
  readAfter(afterSeq: number, limit: number): LoggedEvent[];
  readonly lastSeq: number;
  /** Rows up to this seq were dropped behind a snapshot (0: none). */
  readonly compactedThrough: number;
  stats(): LogStats;
  close(): Promise<void>;
}
