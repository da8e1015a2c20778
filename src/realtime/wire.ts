// The wire formats of pushed events: raw JSON objects, Phoenix v2 arrays and Phoenix v1 objects, one encoder each.
import type { Wire } from "./topics.ts";

/** The formats a JSON websocket speaks (htmx fragments are the pages' own). */
export type SocketWire = Extract<Wire, "json" | "phx" | "phx1">;
export const SOCKET_WIRES: readonly SocketWire[] = ["json", "phx", "phx1"];

/** A client's correlation id, echoed in the answer (Phoenix refs are strings; the original's clients send numbers too). */
export type Ref = string | number | null;

/**
 * One pushed event as `wire` encodes it; `payloadJson` is serialised once per event and shared by
 * every topic and format. Phoenix pushes carry `null` as join_ref, like Phoenix's own broadcasts:
 * the frame is made once per topic, not per subscriber, and Phoenix's client accepts it on any join.
 */
export function pushFrame(wire: SocketWire, topicName: string, event: string, payloadJson: string): string {
  const name = JSON.stringify(topicName);
  switch (wire) {
    case "json":
      return `{"topic":${name},"event":"${event}","payload":${payloadJson}}`;
    case "phx":
      return `[null,null,${name},"${event}",${payloadJson}]`;
    case "phx1":
      return `{"topic":${name},"event":"${event}","payload":${payloadJson},"ref":null}`;
  }
}
