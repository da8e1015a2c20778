// Phoenix Channels wire protocol: v2 arrays `[join_ref, ref, topic, event, payload]` and v1 objects `{topic,event,payload,ref}`, parsed and encoded.
import type { Ref } from "./wire.ts";
import { textProblem } from "../text.ts";

export type PhoenixWire = "phx" | "phx1";

export interface PhoenixFrame {
  joinRef: Ref;
  ref: Ref;
  topic: string;
  event: string;
  payload: Record<string, unknown>;
}

export type PhoenixParsed = { ok: true; frame: PhoenixFrame } | { ok: false; reason: string; ref: Ref; topic: string | null };

/** The topic Phoenix clients send heartbeats on, and where frame errors with no topic of their own are reported. */
export const PHOENIX_TOPIC = "phoenix";
const NAME_CHARS_MAX = 200;
const REF_CHARS_MAX = 64;

function asRef(value: unknown): Ref | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.length <= REF_CHARS_MAX) return value;
  return undefined;
}

function asName(value: unknown): string | null {
  return typeof value === "string" && value.length >= 1 && value.length <= NAME_CHARS_MAX ? value : null;
}

/**
 * Parses one text frame in either form (a v1 client may talk to a v2 socket and the reverse;
 * answers use the socket's own form). The payload must be an object; a missing one is `{}`.
 */
export function parsePhoenixFrame(text: string): PhoenixParsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `invalid JSON: ${(error as Error).message}`, ref: null, topic: null };
  }
  let parts: unknown[];
  if (Array.isArray(value)) {
    if (value.length !== 5) return { ok: false, reason: `a v2 frame is [join_ref, ref, topic, event, payload], got an array of ${value.length}`, ref: null, topic: null };
    parts = value;
  } else if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>;
    parts = [object.join_ref, object.ref, object.topic, object.event, object.payload];
  } else {
    return { ok: false, reason: "a frame must be [join_ref, ref, topic, event, payload] or {topic, event, payload, ref}", ref: null, topic: null };
  }
  const [rawJoinRef, rawRef, rawTopic, rawEvent, rawPayload] = parts;
  const joinRef = asRef(rawJoinRef);
  const ref = asRef(rawRef);
  const topic = asName(rawTopic);
  const event = asName(rawEvent);
  const fail = (reason: string): PhoenixParsed => ({ ok: false, reason, ref: ref ?? null, topic });
  if (joinRef === undefined || ref === undefined) return fail(`join_ref and ref must be strings of at most ${REF_CHARS_MAX} characters, numbers or null`);
  if (topic === null) return fail(`topic must be a string of 1 to ${NAME_CHARS_MAX} characters`);
  if (event === null) return fail(`event must be a string of 1 to ${NAME_CHARS_MAX} characters`);
  const topicProblem = textProblem(topic, "line");
  if (topicProblem !== null) return { ok: false, reason: `topic ${topicProblem}`, ref, topic: null };
  const eventProblem = textProblem(event, "line");
  if (eventProblem !== null) return fail(`event ${eventProblem}`);
  const payload = rawPayload ?? {};
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return fail("payload must be a JSON object");
  return { ok: true, frame: { joinRef, ref, topic, event, payload: payload as Record<string, unknown> } };
}

/** A message in the socket's form: `[join_ref, ref, topic, event, payload]`, or v1's `{topic, event, payload, ref}` (v1 has no join_ref). */
export function phoenixFrame(wire: PhoenixWire, joinRef: Ref, ref: Ref, topic: string, event: string, payload: unknown): string {
  if (wire === "phx") return JSON.stringify([joinRef, ref, topic, event, payload]);
  return JSON.stringify({ topic, event, payload, ref });
}

/** `phx_reply` with `{"status":"ok"|"error","response":…}`, answering the frame with `ref`. */
export function phoenixReply(wire: PhoenixWire, joinRef: Ref, ref: Ref, topic: string, status: "ok" | "error", response: Record<string, unknown>): string {
  return phoenixFrame(wire, joinRef, ref, topic, "phx_reply", { status, response });
}
