// Event schema versions on replay: the one place where an older event is upgraded to today's shape.
import { EVENT_VERSIONS, SESSION_TTL_MS, type EventType, type LoggedEvent } from "./events.ts";

/** An event as a log row holds it, before its type and version are checked. */
export interface StoredEvent {
  seq: number;
  type: string;
  v: number;
  ts: number;
  node: number;
  payload: unknown;
}

/** The log holds an event this build cannot read: start-up stops with this message, nothing is changed. */
export class EventVersionError extends Error {
  override name = "EventVersionError";
}

/**
 * One upgrade per (type, version it upgrades from): it returns the payload of the next version.
 * An event is upgraded step by step until it reaches EVENT_VERSIONS[type].
 */
const UPGRADES: { [T in EventType]?: Record<number, (payload: any, event: StoredEvent) => unknown> } = {
  "token.created": {
    // v1 had no expiry: a session lasted until log-out. v2 gives it SESSION_TTL_MS from its creation.
    1: (payload: { kind: string }, event) => ({ ...payload, expires_at: payload.kind === "session" ? event.ts + SESSION_TTL_MS : null }),
  },
};

const isKnownType = (type: string): type is EventType => Object.hasOwn(EVENT_VERSIONS, type);

/**
 * Checks an event read from the log against this build's versions and returns it in today's
 * shape. The current version (nearly every event) comes back as it is; an older one is upgraded;
 * an unknown type or a newer version throws EventVersionError naming the event and what to do.
 */
export function upgradeEvent(event: StoredEvent): LoggedEvent {
  const { type, v } = event;
  if (!isKnownType(type)) {
    throw new EventVersionError(
      `event seq ${event.seq} has type "${type}" (version ${v}), which this build of Nasty does not know. ` +
        "It was probably written by a newer Nasty: run that version (or newer) on this data directory. Nothing was changed.",
    );
  }
  const current = EVENT_VERSIONS[type];
  if (v === current) return event as LoggedEvent;
  if (!Number.isInteger(v) || v < 1 || v > current) {
    throw new EventVersionError(
      `event seq ${event.seq} (${type}) has schema version ${v}; this build of Nasty reads ${type} up to version ${current}. ` +
        (v > current ? "It was written by a newer Nasty: run that version (or newer) on this data directory. " : "The log row is damaged: restore the data directory from a backup. ") +
        "Nothing was changed.",
    );
  }
  let payload = event.payload;
  for (let version = v; version < current; version += 1) {
    const upgrade = UPGRADES[type]?.[version];
    if (upgrade === undefined) throw new EventVersionError(`event seq ${event.seq} (${type}) is version ${version} and this build has no upgrade from it to ${version + 1}; this is a bug in Nasty, please report it. Nothing was changed.`);
    payload = upgrade(payload, event);
  }
  return { ...event, v: current, payload } as LoggedEvent;
}
