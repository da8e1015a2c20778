// The raw `/ws` protocol: incoming JSON frames parsed into a closed union, and the server's answer frames.
import { define, validate, type, optional, type Struct } from "superstruct";
import type { Ref } from "./wire.ts";
import { textProblem } from "../text.ts";
import { SINCE_PROBLEM, parseSince } from "./admission.ts";

export const RAW_OPS = ["subscribe", "unsubscribe", "ping", "comment"] as const;

export type RawFrame =
  | { op: "subscribe"; topic: string; since: number | null; ref: Ref }
  | { op: "unsubscribe"; topic: string; ref: Ref }
  | { op: "ping"; ref: Ref }
  | { op: "comment"; topic: string; body: unknown; ref: Ref };

export type Parsed<T> = { ok: true; frame: T } | { ok: false; reason: string; ref: Ref };

export const TOPIC_CHARS_MAX = 200;
const REF_CHARS_MAX = 64;

/** A frame field whose check returns true or the message for the user. */
function field<T>(name: string, check: (value: unknown) => true | string): Struct<T, null> {
  return define<T>(name, (value) => check(value));
}

const TopicField = field<string>("topic", (value) =>
  typeof value === "string" && value.length >= 1 && value.length <= TOPIC_CHARS_MAX ? (textProblem(value, "line") ?? true) : `must be a topic name (a string of 1 to ${TOPIC_CHARS_MAX} characters)`,
);
const RefField = field<string | number | null>("ref", (value) =>
  value === undefined || value === null || typeof value === "number" || (typeof value === "string" && value.length <= REF_CHARS_MAX) ? true : `must be a string of at most ${REF_CHARS_MAX} characters or a number`,
);

const WithTopic = type({ topic: TopicField, ref: optional(RefField) });
const RefOnly = type({ ref: optional(RefField) });

/** The ref of a frame that may be broken, so even an error answer can be correlated. */
function refOf(value: Record<string, unknown>): Ref {
  const ref = value.ref;
  return typeof ref === "number" || (typeof ref === "string" && ref.length <= REF_CHARS_MAX) ? ref : null;
}

/** Parses one text frame; every way it can be wrong gets a reason naming the problem. */
export function parseRawFrame(text: string): Parsed<RawFrame> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${(error as Error).message}`, ref: null };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'a frame must be a JSON object like {"op":"subscribe","topic":"bookmarks:firehose"}', ref: null };
  }
  const object = value as Record<string, unknown>;
  const ref = refOf(object);
  const op = object.op;
  if (typeof op !== "string" || !(RAW_OPS as readonly string[]).includes(op)) {
    const shown = typeof op === "string" ? `unknown op '${op.slice(0, 40)}'` : "missing op";
    return { ok: false, reason: `${shown}; ops are ${RAW_OPS.join(", ")}`, ref };
  }
  const name = op as RawFrame["op"];
  const [error] = name === "ping" ? validate(object, RefOnly) : validate(object, WithTopic);
  if (error) {
    const failure = error.failures()[0]!;
    return { ok: false, reason: `${name}: ${String(failure.path[0] ?? "frame")} ${failure.message}`, ref };
  }
  switch (name) {
    case "subscribe": {
      const since = parseSince(object.since);
      if (since === "bad") return { ok: false, reason: `subscribe: ${SINCE_PROBLEM}`, ref };
      return { ok: true, frame: { op: name, topic: object.topic as string, since, ref } };
    }
    case "unsubscribe":
      return { ok: true, frame: { op: name, topic: object.topic as string, ref } };
    case "ping":
      return { ok: true, frame: { op: name, ref } };
    case "comment":
      return { ok: true, frame: { op: name, topic: object.topic as string, body: object.body, ref } };
  }
}

/** `{"op":"ok",…}`: op first, so a client can tell answers from pushes by their first bytes. */
export function okFrame(forOp: string, ref: Ref, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ op: "ok", for: forOp, ...(ref === null ? {} : { ref }), ...extra });
}

export function errorFrame(reason: string, ref: Ref, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ op: "error", reason, ...(ref === null ? {} : { ref }), ...extra });
}
